//! End-to-end tests of the MCP: the real `smxd` binary with generated
//! configurations in temporary directories, supervising its stub
//! components. Every test bounds its waits and kills whatever it started.
//!
//! Privileges: run as any user; the user-switching tests only assert when
//! run as root.

use nix::sys::signal::{kill, Signal};
use nix::unistd::{Pid, Uid, User};
use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const EXE: &str = env!("CARGO_BIN_EXE_smxd");
static COUNTER: AtomicUsize = AtomicUsize::new(0);

struct Mcp {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    dir: PathBuf,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("free port: {e}"))
}

impl Mcp {
    fn start(body: &str) -> Mcp {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("smx-mcp-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
        let conf = dir.join("smx.conf");
        // The mailertable must exist (README §3.9.3), even empty.
        std::fs::write(dir.join("mt"), "").unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(&conf, format!("queue_directory = \"q\";\n{body}\n"))
            .unwrap_or_else(|e| panic!("{e}"));
        let mut child = Command::new(EXE)
            .arg("-f")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn smxd: {e}"));
        let lines = Arc::new(Mutex::new(Vec::new()));
        if let Some(err) = child.stderr.take() {
            let l = lines.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(err).lines().map_while(Result::ok) {
                    eprintln!("| {line}");
                    l.lock().unwrap_or_else(|p| p.into_inner()).push(line);
                }
            });
        }
        Mcp { child, lines, dir }
    }

    fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Waits for `n` lines matching `pred` (10 s), returns them.
    fn wait_n(&self, n: usize, pred: impl Fn(&str) -> bool) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let m: Vec<String> = self.lines().into_iter().filter(|l| pred(l)).collect();
            if m.len() >= n {
                return m;
            }
            if Instant::now() > deadline {
                panic!(
                    "timed out waiting for {n} lines; log:\n{}",
                    self.lines().join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn wait(&self, pred: impl Fn(&str) -> bool) -> String {
        self.wait_n(1, pred).remove(0)
    }

    fn wait_contains(&self, s: &str) -> String {
        self.wait(|l| l.contains(s))
    }

    /// pids of `mcp: started NAME pid=N` lines, in order.
    fn started(&self, name: &str) -> Vec<i32> {
        let prefix = format!("mcp: started {name} pid=");
        self.lines()
            .iter()
            .filter_map(|l| l.strip_prefix(&prefix))
            .filter_map(|r| r.split_whitespace().next()?.parse().ok())
            .collect()
    }

    fn wait_started(&self, name: &str, n: usize) -> Vec<i32> {
        let prefix = format!("mcp: started {name} pid=");
        self.wait_n(n, |l| l.starts_with(&prefix));
        self.started(name)
    }

    fn signal(&self, sig: Signal) {
        let pid = i32::try_from(self.child.id()).unwrap_or(0);
        let _ = kill(Pid::from_raw(pid), sig);
    }

    fn wait_exit(&mut self, within: Duration) -> ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Ok(Some(s)) = self.child.try_wait() {
                return s;
            }
            if Instant::now() > deadline {
                panic!("smxd did not exit; log:\n{}", self.lines().join("\n"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Every pid the log mentions.
    fn all_pids(&self) -> HashSet<i32> {
        self.lines()
            .iter()
            .flat_map(|l| {
                l.split("pid=")
                    .skip(1)
                    .filter_map(|r| {
                        r.chars()
                            .take_while(char::is_ascii_digit)
                            .collect::<String>()
                            .parse()
                            .ok()
                    })
                    .collect::<Vec<i32>>()
            })
            .collect()
    }
}

impl Drop for Mcp {
    fn drop(&mut self) {
        // Let the MCP stop and reap its children first (a SIGKILLed MCP
        // leaves them to init, which may not reap them in a container).
        self.signal(Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline && matches!(self.child.try_wait(), Ok(None)) {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        for p in self.all_pids() {
            if p > 1 {
                let _ = kill(Pid::from_raw(p), Signal::SIGKILL);
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn alive(pid: i32) -> bool {
    // A zombie still answers kill(0); look at its state too.
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let zombie = stat
        .rsplit_once(')')
        .is_some_and(|(_, r)| r.trim_start().starts_with('Z'));
    kill(Pid::from_raw(pid), None).is_ok() && !zombie
}

#[test]
fn starts_components_and_stops_them_in_reverse_order_on_sigterm() {
    let mut m = Mcp::start("lmtpl { }");
    m.wait_contains("qmgr: listening for SMTP servers");
    for c in ["smar", "smtpc", "lmtpl"] {
        m.wait_contains(&format!("{c}: ready"));
    }
    let order: Vec<String> = m
        .lines()
        .into_iter()
        .filter(|l| l.starts_with("mcp: started "))
        .filter_map(|l| l.split_whitespace().nth(2).map(str::to_string))
        .collect();
    assert_eq!(order, ["qmgr", "smar", "smtpc", "lmtpl"]);
    let pids: Vec<i32> = ["qmgr", "smar", "smtpc", "lmtpl"]
        .iter()
        .flat_map(|c| m.started(c))
        .collect();
    m.signal(Signal::SIGTERM);
    let st = m.wait_exit(Duration::from_secs(20));
    assert_eq!(st.code(), Some(0), "{}", m.lines().join("\n"));
    let stops: Vec<String> = m
        .lines()
        .into_iter()
        .filter(|l| l.starts_with("mcp: stopping "))
        .filter_map(|l| l.split_whitespace().nth(2).map(str::to_string))
        .collect();
    assert_eq!(stops, ["lmtpl", "smtpc", "smar", "qmgr"]);
    for p in pids {
        assert!(!alive(p), "pid {p} still alive");
    }
}

#[test]
fn sigkill_restarts_with_back_off_and_restarts_dependencies() {
    let m = Mcp::start("qmgr { restart_dependencies = { smar }; }");
    let q = m.wait_started("qmgr", 1)[0];
    let s = m.wait_started("smar", 1)[0];
    m.wait_contains("smar: ready");
    let _ = kill(Pid::from_raw(q), Signal::SIGKILL);
    m.wait_contains(&format!(
        "qmgr pid={q} killed by signal 9; restarting in 1s"
    ));
    m.wait_contains(&format!("stopping smar pid={s} to restart it with qmgr"));
    let q2 = m.wait_started("qmgr", 2)[1];
    let s2 = m.wait_started("smar", 2)[1];
    assert_ne!(q, q2);
    assert_ne!(s, s2);
    assert!(alive(q2) && alive(s2));
    assert!(!alive(q) && !alive(s));
}

#[test]
fn ex_config_exit_is_not_restarted() {
    let m = Mcp::start(
        "bad { start_action = wait; path = \"/bin/sh\"; arguments = \"sh -c 'exit 78'\"; }",
    );
    m.wait_contains("exited with status 78 (EX_CONFIG); not restarting");
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(m.started("bad").len(), 1, "{}", m.lines().join("\n"));
}

#[test]
fn sighup_is_forwarded() {
    let m = Mcp::start("");
    m.wait_contains("qmgr: listening for SMTP servers");
    m.wait_contains("smar: ready");
    m.wait_contains("smtpc: ready");
    m.signal(Signal::SIGHUP);
    m.wait_contains("qmgr: SIGHUP");
    m.wait_contains("smar: SIGHUP");
    m.wait_contains("smtpc: SIGHUP");
}

#[test]
fn pass_hands_a_working_listening_socket() {
    let port = free_port();
    let port2 = free_port();
    let m = Mcp::start(&format!(
        "fdtest {{ start_action = pass; pass_fd_socket = \"fd/fdtest\";
           listen_socket {{ type = inet; address = 127.0.0.1; port = {port}; }}
           path = \"{EXE}\"; arguments = \"fdtest fd/fdtest\"; }}
         smtps {{ listen_socket {{ address = 127.0.0.1; port = {port2}; }} }}"
    ));
    m.wait_contains(&format!("passed inet 127.0.0.1:{port} to fdtest pid="));
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut got = String::new();
    while Instant::now() < deadline {
        if let Ok(mut c) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            let _ = c.set_read_timeout(Some(Duration::from_secs(5)));
            let _ = c.read_to_string(&mut got);
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(got, "hello\n");
    // The default smtps: `smtps -f CONF`, pass over smtps/smtpsfd (0600).
    m.wait_contains("smtps: accepting connections");
    let md = std::fs::metadata(m.dir.join("q/smtps/smtpsfd")).unwrap_or_else(|e| panic!("{e}"));
    assert!(md.file_type().is_socket());
    assert_eq!(md.permissions().mode() & 0o777, 0o600);
}

#[test]
fn pass_id_gives_distinct_ids() {
    let m = Mcp::start("smtpc { pass_id = \"-i\"; min_processes = 3; max_processes = 3; }");
    let lines = m.wait_n(3, |l| l.starts_with("smtpc: ready"));
    let ids: HashSet<String> = lines
        .iter()
        .filter_map(|l| l.split(" id=").nth(1))
        .filter_map(|r| r.split(')').next())
        .map(str::to_string)
        .collect();
    assert_eq!(ids, ["0", "1", "2"].iter().map(|s| s.to_string()).collect());
    assert_eq!(m.started("smtpc").len(), 3);
}

#[test]
fn unix_listen_socket_with_umask_and_nostartaccept() {
    let m = Mcp::start(
        "echo { start_action = nostartaccept; max_processes = 2;
           listen_socket { type = unix; path = \"sock/echo\"; umask = 027; }
           path = \"/bin/sh\"; arguments = \"sh -c 'echo hi'\"; }",
    );
    m.wait_contains("echo: waiting for connections on unix sock/echo");
    let path = m.dir.join("q/sock/echo");
    let md = std::fs::metadata(&path).unwrap_or_else(|e| panic!("{e}"));
    assert!(md.file_type().is_socket());
    assert_eq!(md.permissions().mode() & 0o777, 0o750);
    assert!(
        m.started("echo").is_empty(),
        "nostartaccept started at boot"
    );
    for _ in 0..2 {
        let mut c =
            std::os::unix::net::UnixStream::connect(&path).unwrap_or_else(|e| panic!("{e}"));
        let _ = c.set_read_timeout(Some(Duration::from_secs(5)));
        let mut got = String::new();
        let _ = c.read_to_string(&mut got);
        assert_eq!(got, "hi\n");
    }
    m.wait_n(2, |l| {
        l.starts_with("mcp: echo pid=") && l.contains("exited with status 0")
    });
}

#[test]
fn components_run_as_their_user_when_root() {
    if !Uid::effective().is_root() {
        return;
    }
    let Ok(Some(nobody)) = User::from_name("nobody") else {
        return;
    };
    // smar binds SMAR_socket: as nobody it needs a directory it may
    // write (an installation makes qmsmar/ group-writable for it).
    let sockdir = std::env::temp_dir().join(format!("smx-mcp-smar-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&sockdir);
    std::fs::create_dir_all(&sockdir).unwrap_or_else(|e| panic!("{e}"));
    nix::unistd::chown(&sockdir, Some(nobody.uid), Some(nobody.gid))
        .unwrap_or_else(|e| panic!("{e}"));
    let m = Mcp::start(&format!(
        "SMAR_socket = \"{}/smarsock\";\nsmar {{ user = nobody; }}",
        sockdir.display()
    ));
    m.wait_contains("smar: ready");
    let _ = std::fs::remove_dir_all(&sockdir);
    let q = m.started("smar")[0];
    let status = std::fs::read_to_string(format!("/proc/{q}/status")).unwrap_or_default();
    let uid_line = status.lines().find(|l| l.starts_with("Uid:")).unwrap_or("");
    let uids: Vec<&str> = uid_line.split_whitespace().skip(1).collect();
    let want = nobody.uid.to_string();
    assert_eq!(uids, [want.as_str(); 4], "{status}");
    let groups = status
        .lines()
        .find(|l| l.starts_with("Groups:"))
        .unwrap_or("");
    assert_eq!(groups.trim(), "Groups:", "supplementary groups kept");
}

#[test]
fn unknown_user_is_refused_as_root_and_config_errors_exit_78() {
    if Uid::effective().is_root() {
        let mut m = Mcp::start("qmgr { user = no-such-user-smx; }");
        let st = m.wait_exit(Duration::from_secs(10));
        assert_eq!(st.code(), Some(78));
        m.wait_contains("refusing to run it as root");
        assert!(m.started("qmgr").is_empty());
    }
    let mut m = Mcp::start("qmgr { start_action = sometimes; }");
    let st = m.wait_exit(Duration::from_secs(10));
    assert_eq!(st.code(), Some(78));
    m.wait_contains("configuration errors; not starting");
}

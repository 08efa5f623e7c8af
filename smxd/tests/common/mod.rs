//! Shared by the fault tests (`crash.rs`, `diskfull.rs`): the real `smxd`
//! started as the MCP with a temporary configuration, its log lines, a
//! small SMTP client that tells apart "got 250", "got a 4xx/5xx" and "the
//! connection broke" (and whether end-of-data had been sent when it
//! broke), and a look at the queue on disk after the daemon stopped
//! (IBDB replayed through the queue module, every content file read).
//!
//! Cleanup never depends on the test passing: dropping [`Smx`] stops the
//! MCP with SIGTERM, then SIGKILLs it and every component it reported
//! starting that is still running with our configuration file.
#![allow(dead_code)]

pub mod dns;
pub mod dovecot;
pub mod ledger;

use std::collections::{BTreeMap, HashSet};
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use smxd::queue::{ibdb, Cdb, QueueId};

/// A directory under the temp dir, removed on drop.
pub struct TestDir(pub PathBuf);

impl TestDir {
    pub fn new(tag: &str) -> TestDir {
        let n = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let dir = std::env::temp_dir().join(format!("smxd-{tag}-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        TestDir(dir)
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The MCP and what it logged.
pub struct Smx {
    pub dir: PathBuf,
    pub port: u16,
    conf: PathBuf,
    child: Option<Child>,
    log: Arc<Mutex<String>>,
}

impl Smx {
    /// Writes `smx.conf` (queue in `dir/queue`, SMTP on a free port, plus
    /// `extra` configuration text) and the mailertable, then starts smxd
    /// and waits until the SMTP server accepts connections.
    pub fn start(dir: &Path, extra: &str) -> Smx {
        Smx::start_with_mt(dir, "localhost lmtp:\nexample.test lmtp:\n", extra)
    }

    /// [`Smx::start`] with the mailertable `mt`.
    pub fn start_with_mt(dir: &Path, mt: &str, extra: &str) -> Smx {
        Smx::start_with(dir, mt, extra, "")
    }

    /// [`Smx::start`] with the mailertable `mt` and more options for the
    /// `smtps { }` section.
    pub fn start_with(dir: &Path, mt: &str, extra: &str, smtps: &str) -> Smx {
        let port = free_port();
        std::fs::write(dir.join("mt"), mt).unwrap();
        let conf = dir.join("smx.conf");
        std::fs::write(
            &conf,
            format!(
                "queue_directory = queue;\nhostname = mx.example.test;\n{extra}\n\
                 smtps {{ {smtps} listen_socket {{ type = inet; address = 127.0.0.1; port = {port}; }} }}\n"
            ),
        )
        .unwrap();
        let mut smx = Smx {
            dir: dir.to_path_buf(),
            port,
            conf,
            child: None,
            log: Arc::new(Mutex::new(String::new())),
        };
        smx.spawn();
        smx
    }

    /// Starts smxd (again, after [`Smx::stop`]) on the same configuration
    /// and queue; its log lines are appended to the same log.
    pub fn spawn(&mut self) {
        let before = self.count("accepting connections");
        let mut child = Command::new(env!("CARGO_BIN_EXE_smxd"))
            .arg("-f")
            .arg(&self.conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let err = child.stderr.take().unwrap();
        let sink = self.log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                sink.lock().unwrap().push_str(&format!("{line}\n"));
            }
        });
        self.child = Some(child);
        self.wait_for("accepting connections", before + 1, Duration::from_secs(30));
    }

    pub fn queue_dir(&self) -> PathBuf {
        self.dir.join("queue")
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    pub fn count(&self, text: &str) -> usize {
        self.log().matches(text).count()
    }

    /// Waits until `text` has been logged at least `n` times.
    pub fn wait_for(&self, text: &str, n: usize, limit: Duration) {
        let deadline = Instant::now() + limit;
        while self.count(text) < n {
            assert!(
                Instant::now() < deadline,
                "`{text}` not logged {n} times within {limit:?}:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Pids from `mcp: started NAME pid=N`, oldest first.
    pub fn started(&self, name: &str) -> Vec<i32> {
        let prefix = format!("mcp: started {name} pid=");
        self.log()
            .lines()
            .filter_map(|l| l.strip_prefix(&prefix))
            .filter_map(|rest| rest.split_whitespace().next()?.parse().ok())
            .collect()
    }

    /// Whether `pid` runs with our configuration file (so a recycled pid
    /// of somebody else's process is never signalled).
    fn is_ours(&self, pid: i32) -> bool {
        let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
            return false;
        };
        let conf = self.conf.to_string_lossy();
        cmdline.split(|b| *b == 0).any(|arg| arg == conf.as_bytes())
    }

    /// Sends `sig` to the MCP.
    pub fn signal_mcp(&self, sig: Signal) {
        if let Some(c) = &self.child {
            let _ = kill(Pid::from_raw(c.id() as i32), sig);
        }
    }

    /// The configuration file.
    pub fn conf_file(&self) -> &Path {
        &self.conf
    }

    /// SIGKILLs `pid` if it is one of our components.
    pub fn sigkill(&self, pid: i32) -> bool {
        self.is_ours(pid) && kill(Pid::from_raw(pid), Signal::SIGKILL).is_ok()
    }

    /// Stops the MCP with SIGTERM (it stops its components), SIGKILL after
    /// `limit`; returns whether it ended by itself.
    pub fn stop(&mut self) -> bool {
        let Some(mut c) = self.child.take() else {
            return true;
        };
        let _ = kill(Pid::from_raw(c.id() as i32), Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(20);
        let clean = loop {
            if let Ok(Some(_)) = c.try_wait() {
                break true;
            }
            if Instant::now() > deadline {
                let _ = c.kill();
                let _ = c.wait();
                break false;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        // Anything the MCP started that outlived it.
        let names: HashSet<String> = self
            .log()
            .lines()
            .filter_map(|l| l.strip_prefix("mcp: started "))
            .filter_map(|r| r.split_whitespace().next().map(str::to_string))
            .collect();
        for name in names {
            for pid in self.started(&name) {
                self.sigkill(pid);
            }
        }
        clean
    }
}

impl Drop for Smx {
    fn drop(&mut self) {
        self.stop();
    }
}

/// How one attempt to hand over a message ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// `250` after end-of-data, with the queue id.
    Queued(String),
    /// A 4xx/5xx reply; `after_eod` when it answered the end of data.
    Refused {
        code: u16,
        text: String,
        after_eod: bool,
    },
    /// The connection broke or went silent; `after_eod` when the final
    /// `.` had been sent, so the commit may or may not have happened.
    Broken { after_eod: bool },
}

/// One SMTP session, blocking.
pub struct Session {
    r: BufReader<TcpStream>,
    w: TcpStream,
}

/// The connection broke (or a reply did not come within the timeout).
#[derive(Debug)]
pub struct Broke;

impl Session {
    /// Connects, reads the greeting (must be 220) and says EHLO.
    pub fn open(port: u16, timeout: Duration) -> Result<Session, Broke> {
        let s = TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), timeout)
            .map_err(|_| Broke)?;
        s.set_read_timeout(Some(timeout)).map_err(|_| Broke)?;
        s.set_write_timeout(Some(timeout)).map_err(|_| Broke)?;
        let w = s.try_clone().map_err(|_| Broke)?;
        let mut session = Session {
            r: BufReader::new(s),
            w,
        };
        let (code, _) = session.reply()?;
        if code != 220 {
            return Err(Broke);
        }
        let (code, _) = session.command("EHLO client.example\r\n")?;
        if code != 250 {
            return Err(Broke);
        }
        Ok(session)
    }

    /// Reads one (possibly multi-line) reply.
    pub fn reply(&mut self) -> Result<(u16, String), Broke> {
        let mut all = String::new();
        loop {
            let mut line = String::new();
            if self.r.read_line(&mut line).map_err(|_| Broke)? == 0 {
                return Err(Broke);
            }
            all.push_str(&line);
            let b = line.as_bytes();
            if b.len() < 4 || b[3] != b'-' {
                let code = line.get(..3).and_then(|c| c.parse().ok()).ok_or(Broke)?;
                return Ok((code, all));
            }
        }
    }

    pub fn command(&mut self, cmd: &str) -> Result<(u16, String), Broke> {
        self.w.write_all(cmd.as_bytes()).map_err(|_| Broke)?;
        self.reply()
    }

    /// One transaction: MAIL, RCPT, DATA, `content` (lines ending in CRLF,
    /// no line starting with a dot), end of data.
    pub fn send(&mut self, from: &str, to: &str, content: &str) -> Outcome {
        let before = |code: u16, text: String| Outcome::Refused {
            code,
            text,
            after_eod: false,
        };
        let steps = [
            (format!("MAIL FROM:<{from}>\r\n"), 250),
            (format!("RCPT TO:<{to}>\r\n"), 250),
            ("DATA\r\n".to_string(), 354),
        ];
        for (cmd, want) in steps {
            match self.command(&cmd) {
                Ok((code, _)) if code == want => {}
                Ok((code, text)) => {
                    // Leave the session clean for the caller (it may drop it).
                    let _ = self.command("RSET\r\n");
                    return before(code, text);
                }
                Err(Broke) => return Outcome::Broken { after_eod: false },
            }
        }
        if self.w.write_all(content.as_bytes()).is_err() {
            return Outcome::Broken { after_eod: false };
        }
        // From here on the server may have everything it needs to commit.
        let _ = self.w.write_all(b".\r\n");
        match self.reply() {
            Ok((250, text)) => match text.split("queued as ").nth(1) {
                Some(id) => Outcome::Queued(id.trim().to_string()),
                None => Outcome::Refused {
                    code: 250,
                    text,
                    after_eod: true,
                },
            },
            Ok((code, text)) => Outcome::Refused {
                code,
                text,
                after_eod: true,
            },
            Err(Broke) => Outcome::Broken { after_eod: true },
        }
    }

    pub fn quit(mut self) {
        let _ = self.command("QUIT\r\n");
    }
}

/// A test next hop's DATA: the lines up to the final `.` line (not
/// un-stuffed); `None` when the client closed first.
pub fn read_data(r: &mut impl BufRead) -> std::io::Result<Option<String>> {
    let mut data = String::new();
    loop {
        let mut l = String::new();
        if r.read_line(&mut l)? == 0 {
            return Ok(None);
        }
        if l == ".\r\n" {
            return Ok(Some(data));
        }
        data.push_str(&l);
    }
}

/// A message whose header and body carry `marker`, about `size` bytes.
pub fn message(marker: &str, size: usize) -> String {
    let mut m = format!(
        "From: <sender@example.org>\r\nTo: <alice@localhost>\r\nSubject: {marker}\r\n\
         X-Marker: {marker}\r\n\r\nmarker {marker}\r\n"
    );
    let line = format!("{}\r\n", "x".repeat(76));
    while m.len() + line.len() <= size {
        m.push_str(&line);
    }
    m
}

/// What is in the queue, read after the daemon stopped.
#[derive(Debug, Default)]
pub struct QueueContents {
    /// Marker -> queue ids of committed transactions whose content file
    /// carries it.
    pub by_marker: BTreeMap<String, Vec<String>>,
    /// Open transactions in IBDB.
    pub transactions: usize,
    /// Committed transactions without a content file.
    pub missing_content: Vec<String>,
    /// Committed transactions whose content has no marker.
    pub unmarked: Vec<String>,
    /// Content files no committed transaction refers to (the next QMGR
    /// start removes them; they are not "in the queue").
    pub orphans: usize,
}

impl QueueContents {
    /// The queue id holds `marker`.
    pub fn holds(&self, marker: &str, id: &str) -> bool {
        self.by_marker
            .get(marker)
            .is_some_and(|ids| ids.iter().any(|i| i == id))
    }

    pub fn copies(&self, marker: &str) -> usize {
        self.by_marker.get(marker).map_or(0, Vec::len)
    }
}

fn marker_of(content: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(content);
    text.lines()
        .find_map(|l| l.strip_prefix("X-Marker: "))
        .map(|m| m.trim().to_string())
}

/// Replays IBDB (as the QMGR does at start: a torn tail is cut), reads
/// DEFEDB, and reads the content file of every queued transaction (open in
/// IBDB or deferred; one that is in both counts once, as recovery does).
pub fn read_queue(queue_dir: &Path) -> QueueContents {
    let mut recovered = ibdb::recover(&queue_dir.join("ibdb")).unwrap();
    if queue_dir.join("defedb").is_dir() {
        let defedb = queue_dir.join("defedb");
        let deferred = smxd::queue::Defedb::read(&defedb, &defedb).unwrap();
        let ids: HashSet<QueueId> = deferred.entries.iter().map(|d| d.ta.id).collect();
        recovered.transactions.retain(|t| !ids.contains(&t.id));
        recovered
            .transactions
            .extend(deferred.entries.into_iter().map(|d| d.ta));
    }
    let cdb = Cdb::new(queue_dir);
    let stored: HashSet<QueueId> = cdb.list().unwrap().into_iter().collect();
    let mut out = QueueContents {
        transactions: recovered.transactions.len(),
        ..QueueContents::default()
    };
    let committed: HashSet<QueueId> = recovered.transactions.iter().map(|t| t.id).collect();
    out.orphans = stored.difference(&committed).count();
    for ta in &recovered.transactions {
        let id = ta.id.to_string();
        match std::fs::read(cdb.path(ta.id)) {
            Ok(content) => match marker_of(&content) {
                Some(m) => out.by_marker.entry(m).or_default().push(id),
                None => out.unmarked.push(id),
            },
            Err(_) => out.missing_content.push(id),
        }
    }
    out
}

/// A small xorshift generator: the seed is printed so a run can be
/// repeated (`SMX_TEST_SEED`).
pub struct Rng(u64);

impl Rng {
    pub fn from_env() -> Rng {
        let seed = std::env::var("SMX_TEST_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos() as u64
            });
        eprintln!("random seed {seed} (set SMX_TEST_SEED to repeat)");
        Rng(seed | 1)
    }

    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// Uniform-ish in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
}

/// A Berkeley DB access map `access.db` in `dir` allowing 127.0.0.1 to
/// relay, plus `extra` entries.
pub fn access_map(dir: &Path, extra: &[(&str, &str)]) {
    use smx_maps::db::{Db, DbType, OpenOptions};
    let db = Db::open(&dir.join("access.db"), &OpenOptions::create(DbType::Hash)).unwrap();
    db.put(b"cltaddr:127.0.0.1", b"RELAY", true).unwrap();
    for (k, v) in extra {
        db.put(k.as_bytes(), v.as_bytes(), true).unwrap();
    }
    db.close().unwrap();
}

/// The open-relay matrix (issue 6): recipients that must never be relayed from an unauthorised client.
pub const RELAY_MATRIX: &[&str] = &[
    "bob@far.example",
    "BOB@FAR.EXAMPLE",
    "bob@far.example.",
    "bob@Far.Example.",
    "bob%far.example@localhost",
    "bob%far.example@example.test",
    "bob%far.example@LOCALHOST.",
    "@localhost:bob@far.example",
    "@example.test,@localhost:bob@far.example",
    "bob@far.example@localhost",
    "\"bob@far.example\"@localhost",
    "\"bob@far.example\"@example.test",
    "bob!far.example@localhost",
    "far.example!bob@localhost",
    "bob@[192.0.2.1]",
    "bob@[127.0.0.1]",
    "bob@far.example%localhost",
    "bob@localhost@far.example",
];

/// The ones of [`RELAY_MATRIX`] that are plainly remote (accepted from a relay
/// client; a trailing dot is refused as bad syntax from anyone).
pub const RELAY_REMOTE: &[&str] = &[
    "bob@far.example",
    "BOB@FAR.EXAMPLE",
    "@localhost:bob@far.example",
    "bob@[192.0.2.1]",
];

/// Writes the `qmgr_conf.db` map (README §3.8.1) of `dir`.
pub fn qmgr_conf(dir: &TestDir, entries: &[(&str, &str)]) {
    use smx_maps::db::{Db, DbType, OpenOptions};
    let db = Db::open(
        &dir.0.join("qmgr_conf.db"),
        &OpenOptions::create(DbType::Hash),
    )
    .unwrap();
    for (k, v) in entries {
        db.put(k.as_bytes(), v.as_bytes(), true).unwrap();
    }
    db.close().unwrap();
}

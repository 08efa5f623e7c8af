//! lmtpl, the local LMTP delivery agent (RFC 2033; README §3.11):
//!
//! - dialogues over an in-memory pipe against [`smxd::lmtpl::serve`], with
//!   assertions on the replies and on the files that reached the Maildirs:
//!   one reply per accepted recipient after the data, dot-unstuffing, the
//!   last line, path-escape local parts, RSET, sequence errors, limits, a
//!   full file system (a small tmpfs; needs root);
//! - the real `smxd lmtpl` binary driven by swaks over its Unix socket:
//!   Maildir files with `Return-Path:`, `Delivered-To:`, LF line ends,
//!   two messages in two files, the local user map re-opened on SIGHUP,
//!   exit 0 on SIGTERM, exit 78 without an `lmtpl { }` section.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::TestDir;
use smx_maps::{Map, MapError};
use smxd::lmtpl::maildir::Maildirs;
use smxd::lmtpl::users::LocalUsers;
use smxd::lmtpl::{serve, Agent};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, DuplexStream};

const LIMIT: Duration = Duration::from_secs(20);

// --- in-memory dialogues ------------------------------------------------

/// A local user map of fixed keys.
struct Users(Vec<&'static str>);

impl Map for Users {
    fn get(&self, key: &str) -> Result<Option<String>, MapError> {
        Ok(self.0.contains(&key).then(|| "local:".to_string()))
    }
}

fn agent(base: &Path, users: Option<Vec<&'static str>>) -> Arc<Agent> {
    let map = users.map(|u| Arc::new(Users(u)) as Arc<dyn Map>);
    Arc::new(Agent {
        hostname: "lmtp.example.test".to_string(),
        io_timeout: Duration::from_secs(30),
        users: LocalUsers::new(map, "+", true),
        maildirs: Maildirs::new("mail/${user}/Maildir", base),
    })
}

/// The client end of a session.
struct Client {
    r: tokio::io::BufReader<tokio::io::ReadHalf<DuplexStream>>,
    w: tokio::io::WriteHalf<DuplexStream>,
}

impl Client {
    /// Starts a session and reads the greeting.
    async fn start(agent: Arc<Agent>) -> Client {
        let (client, server) = tokio::io::duplex(1 << 16);
        tokio::spawn(serve(server, agent));
        let (r, w) = tokio::io::split(client);
        let mut c = Client {
            r: tokio::io::BufReader::new(r),
            w,
        };
        let g = c.reply().await;
        assert!(g.starts_with("220 2.0.0 lmtp.example.test LMTP"), "{g}");
        c
    }

    async fn send(&mut self, raw: &str) {
        self.w.write_all(raw.as_bytes()).await.unwrap();
    }

    /// One reply, all its lines joined with `\n`.
    async fn reply(&mut self) -> String {
        let mut all = String::new();
        loop {
            let mut line = String::new();
            let n = tokio::time::timeout(LIMIT, self.r.read_line(&mut line))
                .await
                .expect("no reply within the limit")
                .unwrap();
            assert!(n > 0, "connection closed; so far: {all}");
            assert!(line.ends_with("\r\n"), "{line:?}");
            all.push_str(line.trim_end());
            if line.as_bytes().get(3) == Some(&b' ') {
                return all;
            }
            all.push('\n');
        }
    }

    /// Sends a command and checks that the reply starts with `expect`.
    async fn cmd(&mut self, line: &str, expect: &str) -> String {
        self.send(&format!("{line}\r\n")).await;
        let r = self.reply().await;
        assert!(r.starts_with(expect), "{line} -> {r}, expected {expect}");
        r
    }

    async fn lhlo(&mut self) {
        let r = self.cmd("LHLO client.example.test", "250-").await;
        for kw in ["PIPELINING", "ENHANCEDSTATUSCODES", "8BITMIME", "SMTPUTF8"] {
            assert!(
                r.lines()
                    .any(|l| l == format!("250-{kw}") || l == format!("250 {kw}")),
                "{r}"
            );
        }
    }

    /// True when the server closed the connection.
    async fn closed(&mut self) -> bool {
        let mut rest = Vec::new();
        tokio::time::timeout(LIMIT, self.r.read_to_end(&mut rest))
            .await
            .expect("not closed within the limit")
            .is_ok()
            && rest.is_empty()
    }
}

/// The files in `user`'s Maildir/new, sorted.
fn new_files(base: &Path, user: &str) -> Vec<PathBuf> {
    let dir = base.join("mail").join(user).join("Maildir/new");
    let mut v: Vec<PathBuf> = match std::fs::read_dir(&dir) {
        Ok(d) => d.map(|e| e.unwrap().path()).collect(),
        Err(_) => Vec::new(),
    };
    v.sort();
    v
}

fn read(p: &Path) -> String {
    String::from_utf8(std::fs::read(p).unwrap()).unwrap()
}

#[tokio::test]
async fn one_reply_per_accepted_recipient_after_the_dot() {
    let dir = TestDir::new("lmtpl-three");
    let mut c = Client::start(agent(&dir.0, Some(vec!["alice", "bob"]))).await;
    c.lhlo().await;
    c.cmd("MAIL FROM:<sender@example.org>", "250 2.1.0").await;
    c.cmd("RCPT TO:<alice@localhost>", "250 2.1.5").await;
    c.cmd("RCPT TO:<nobody@localhost>", "550 5.1.1").await;
    c.cmd("RCPT TO:<Bob+lists@localhost>", "250 2.1.5").await;
    c.cmd("DATA", "354").await;
    c.send("Subject: three\r\n\r\nhello\r\n.\r\n").await;
    let first = c.reply().await;
    let second = c.reply().await;
    assert_eq!(first, "250 2.0.0 <alice@localhost> delivered to Maildir");
    assert_eq!(
        second,
        "250 2.0.0 <Bob+lists@localhost> delivered to Maildir"
    );
    // No third reply is pending: the next one answers NOOP.
    c.cmd("NOOP", "250 2.0.0").await;
    c.cmd("QUIT", "221 2.0.0").await;
    assert!(c.closed().await);

    let a = new_files(&dir.0, "alice");
    assert_eq!(a.len(), 1);
    assert_eq!(
        read(&a[0]),
        "Return-Path: <sender@example.org>\nDelivered-To: alice@localhost\nSubject: three\n\nhello\n"
    );
    let b = new_files(&dir.0, "bob");
    assert_eq!(b.len(), 1);
    assert!(read(&b[0])
        .starts_with("Return-Path: <sender@example.org>\nDelivered-To: Bob+lists@localhost\n"));
    assert!(!dir.0.join("mail/nobody").exists());
    let name = a[0].file_name().unwrap().to_string_lossy().into_owned();
    let size = std::fs::metadata(&a[0]).unwrap().len();
    assert!(name.ends_with(&format!(",S={size}")), "{name}");
}

#[tokio::test]
async fn pipelined_transaction_gets_replies_in_order() {
    let dir = TestDir::new("lmtpl-pipe");
    let mut c = Client::start(agent(&dir.0, Some(vec!["alice"]))).await;
    c.send(
        "LHLO c\r\nMAIL FROM:<>\r\nRCPT TO:<alice>\r\nRCPT TO:<zed>\r\nDATA\r\n\
         x: y\r\n\r\nbody\r\n.\r\nQUIT\r\n",
    )
    .await;
    let replies = [
        "250-lmtp.example.test",
        "250 2.1.0",
        "250 2.1.5",
        "550 5.1.1",
        "354",
        "250 2.0.0 <alice>",
        "221 2.0.0",
    ];
    for want in replies {
        let r = c.reply().await;
        assert!(r.starts_with(want), "{r} expected {want}");
    }
    assert!(c.closed().await);
    let a = new_files(&dir.0, "alice");
    assert_eq!(a.len(), 1);
    assert!(read(&a[0]).starts_with("Return-Path: <>\nDelivered-To: alice\nx: y\n"));
}

#[tokio::test]
async fn dot_unstuffing_line_ends_and_the_last_line() {
    let dir = TestDir::new("lmtpl-dots");
    let mut c = Client::start(agent(&dir.0, None)).await;
    c.lhlo().await;
    c.cmd("MAIL FROM:<s@example.org>", "250").await;
    c.cmd("RCPT TO:<alice@localhost>", "250").await;
    c.cmd("DATA", "354").await;
    // `..line` is a stuffed `.line`; `\n.\n` (bare LFs) does not end the
    // data; the last line has no line end of its own: the CRLF before the
    // dot is the terminator's (RFC 5321 §4.1.1.4).
    c.send("Subject: dots\r\n\r\n..line\r\n...\r\nbare\n.\nstill data\r\nno newline\r\n.\r\n")
        .await;
    assert!(c.reply().await.starts_with("250 2.0.0"));
    c.cmd("MAIL FROM:<s@example.org>", "250").await;
    c.cmd("RCPT TO:<alice@localhost>", "250").await;
    c.cmd("DATA", "354").await;
    // An empty message.
    c.send(".\r\n").await;
    assert!(c.reply().await.starts_with("250 2.0.0"));
    let files = new_files(&dir.0, "alice");
    assert_eq!(files.len(), 2);
    let contents: Vec<String> = files.iter().map(|f| read(f)).collect();
    let body = "Subject: dots\n\n.line\n..\nbare\n.\nstill data\nno newline\n";
    assert!(contents.iter().any(|c| c.ends_with(body)), "{contents:?}");
    assert!(contents
        .iter()
        .any(|c| c == "Return-Path: <s@example.org>\nDelivered-To: alice@localhost\n"));
    assert!(contents.iter().all(|c| !c.contains('\r')));
}

#[tokio::test]
async fn local_parts_that_could_escape_the_mail_directory_are_refused() {
    let dir = TestDir::new("lmtpl-escape");
    let mut c = Client::start(agent(&dir.0, None)).await;
    c.lhlo().await;
    c.cmd("MAIL FROM:<s@example.org>", "250").await;
    for bad in [
        "<\"../../etc\"@localhost>",
        "<\"..\"@localhost>",
        "<.hidden@localhost>",
        "<\"a/b\"@localhost>",
        "<a/b@localhost>",
        "<\"/root\"@localhost>",
        "<\"a\u{1}b\"@localhost>",
        "<\"a b\"@localhost>",
        "<a..b@localhost>",
        "<+detail@localhost>",
    ] {
        c.cmd(&format!("RCPT TO:{bad}"), "550 5.1.3").await;
    }
    c.cmd("RCPT TO:<ok.user@localhost>", "250 2.1.5").await;
    c.cmd("DATA", "354").await;
    c.send("x\r\n.\r\n").await;
    c.reply().await;
    // Only the one good mailbox exists, and nothing was written outside.
    let mut made: Vec<String> = std::fs::read_dir(dir.0.join("mail"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    made.sort();
    assert_eq!(made, ["ok.user"]);
    let top: Vec<_> = std::fs::read_dir(&dir.0).unwrap().collect();
    assert_eq!(top.len(), 1);
}

#[tokio::test]
async fn rset_and_sequence_errors() {
    let dir = TestDir::new("lmtpl-rset");
    let mut c = Client::start(agent(&dir.0, None)).await;
    c.cmd("MAIL FROM:<s@example.org>", "503 5.5.1").await;
    c.cmd("EHLO client", "500 5.5.1").await;
    c.cmd("HELO client", "500 5.5.1").await;
    c.lhlo().await;
    c.cmd("RCPT TO:<alice>", "503 5.5.1").await;
    c.cmd("DATA", "503 5.5.1").await;
    c.cmd("MAIL FROM:<s@example.org>", "250").await;
    c.cmd("MAIL FROM:<s@example.org>", "503 5.5.1").await;
    c.cmd("DATA", "503 5.5.1").await; // no recipient yet
    c.cmd("RCPT TO:<alice>", "250").await;
    c.cmd("RSET", "250 2.0.0").await;
    c.cmd("DATA", "503 5.5.1").await;
    c.cmd("MAIL FROM:<s@example.org>", "250").await;
    c.cmd("RCPT TO:<alice> NOTIFY=NEVER", "555 5.5.4").await;
    c.cmd("RCPT TO:alice", "501 5.1.3").await;
    c.cmd("RCPT TO:<jörg@localhost>", "553 5.6.7").await;
    c.cmd("BDAT 10 LAST", "500 5.5.1").await;
    c.cmd("VRFY alice", "252 2.5.0").await;
    c.cmd("HELP", "214-2.0.0").await;
    c.cmd("RSET", "250").await;
    c.cmd("MAIL FROM:<s@example.org> SMTPUTF8", "250").await;
    c.cmd("RCPT TO:<jörg@localhost>", "250").await;
    c.cmd("QUIT", "221").await;
    assert!(new_files(&dir.0, "alice").is_empty());
}

#[tokio::test]
async fn limits() {
    let dir = TestDir::new("lmtpl-limits");
    let mut c = Client::start(agent(&dir.0, None)).await;
    c.lhlo().await;
    c.cmd(&format!("NOOP {}", "x".repeat(600)), "500 5.5.2")
        .await;
    c.cmd(&format!("RCPT TO:<{}@x>", "a".repeat(1200)), "500 5.5.2")
        .await;
    c.cmd("NOOP bare\rline", "500 5.5.2").await;
    c.cmd("MAIL FROM:<s@example.org> SIZE=999999999999", "552 5.3.4")
        .await;
    c.cmd("MAIL FROM:<s@example.org>", "250").await;
    let mut batch = String::new();
    for i in 0..smxd::lmtpl::session::MAX_RECIPIENTS {
        batch.push_str(&format!("RCPT TO:<u{}@localhost>\r\n", i % 3));
    }
    c.send(&batch).await;
    for _ in 0..smxd::lmtpl::session::MAX_RECIPIENTS {
        assert!(c.reply().await.starts_with("250 2.1.5"));
    }
    c.cmd("RCPT TO:<one.more@localhost>", "452 4.5.3").await;
    c.cmd("RSET", "250").await;
    // Too many bad commands close the session.
    for _ in 0..smxd::lmtpl::session::MAX_ERRORS - 4 {
        c.cmd("FOO", "500 5.5.1").await;
    }
    let r = c.reply().await;
    assert!(r.starts_with("421 4.7.0"), "{r}");
    assert!(c.closed().await);
}

#[tokio::test]
async fn a_failed_write_defers_only_that_recipient_and_loops_are_refused() {
    let dir = TestDir::new("lmtpl-fail");
    // bob's user directory is a file: his Maildir cannot be created.
    std::fs::create_dir_all(dir.0.join("mail")).unwrap();
    std::fs::write(dir.0.join("mail/bob"), "not a directory").unwrap();
    let mut c = Client::start(agent(&dir.0, None)).await;
    c.lhlo().await;
    c.cmd("MAIL FROM:<s@example.org>", "250").await;
    c.cmd("RCPT TO:<bob@localhost>", "250").await;
    c.cmd("RCPT TO:<alice@localhost>", "250").await;
    c.cmd("RCPT TO:<carol@localhost>", "250").await;
    c.cmd("DATA", "354").await;
    c.send("Delivered-To: carol@localhost\r\n\r\nlooping\r\n.\r\n")
        .await;
    assert!(c.reply().await.starts_with("451 4.3.0 <bob@localhost>"));
    assert!(c.reply().await.starts_with("250 2.0.0 <alice@localhost>"));
    assert!(c.reply().await.starts_with("550 5.4.6 <carol@localhost>"));
    assert_eq!(new_files(&dir.0, "alice").len(), 1);
    assert!(new_files(&dir.0, "carol").is_empty());
}

#[tokio::test]
async fn an_idle_client_gets_421_after_io_timeout() {
    let dir = TestDir::new("lmtpl-idle");
    let mut a = agent(&dir.0, None);
    Arc::get_mut(&mut a).unwrap().io_timeout = Duration::from_millis(200);
    let mut c = Client::start(a).await;
    c.lhlo().await;
    // Say nothing more: the server gives up, says so, and closes.
    let r = c.reply().await;
    assert!(r.starts_with("421 4.4.2 lmtp.example.test"), "{r}");
    assert!(c.closed().await);
}

/// A tmpfs mounted on a directory, unmounted on drop.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Result<Tmpfs, String> {
        std::fs::create_dir_all(dir).unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .output()
            .map_err(|e| format!("mount: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "mount -t tmpfs failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(Tmpfs(dir.to_path_buf()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let ok = Command::new("umount")
            .arg(&self.0)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            let _ = Command::new("umount").arg("-l").arg(&self.0).status();
        }
    }
}

#[tokio::test]
async fn a_full_file_system_answers_452_and_delivers_once_there_is_room() {
    let dir = TestDir::new("lmtpl-full");
    let _mount = match Tmpfs::mount(&dir.0.join("mail"), "256k") {
        Ok(m) => m,
        Err(e) if std::env::var_os("CI").is_none() => {
            eprintln!("SKIP: {e} (this test needs root to mount a small tmpfs)");
            return;
        }
        Err(e) => panic!("{e}: this test needs root to mount a small tmpfs (CI runs it as root)"),
    };
    let mut c = Client::start(agent(&dir.0, None)).await;
    c.lhlo().await;
    // Create alice's Maildir, then fill the file system.
    c.cmd("MAIL FROM:<s@example.org>", "250").await;
    c.cmd("RCPT TO:<alice@localhost>", "250").await;
    c.cmd("DATA", "354").await;
    c.send("first\r\n.\r\n").await;
    assert!(c.reply().await.starts_with("250 2.0.0"));
    let filler = dir.0.join("mail/filler");
    let _ = std::fs::write(&filler, vec![b'x'; 1 << 20]);
    c.cmd("MAIL FROM:<s@example.org>", "250").await;
    c.cmd("RCPT TO:<alice@localhost>", "250").await;
    c.cmd("DATA", "354").await;
    c.send(&format!("{}\r\n.\r\n", "y".repeat(64 * 1024))).await;
    let r = c.reply().await;
    assert!(r.starts_with("452 4.2.2 <alice@localhost>"), "{r}");
    assert_eq!(new_files(&dir.0, "alice").len(), 1);
    let tmp: Vec<_> = std::fs::read_dir(dir.0.join("mail/alice/Maildir/tmp"))
        .unwrap()
        .collect();
    assert!(tmp.is_empty(), "a partial file was left in tmp/");
    std::fs::remove_file(&filler).unwrap();
    c.cmd("MAIL FROM:<s@example.org>", "250").await;
    c.cmd("RCPT TO:<alice@localhost>", "250").await;
    c.cmd("DATA", "354").await;
    c.send(&format!("{}\r\n.\r\n", "y".repeat(64 * 1024))).await;
    assert!(c.reply().await.starts_with("250 2.0.0"));
    assert_eq!(new_files(&dir.0, "alice").len(), 2);
    c.cmd("QUIT", "221").await;
}

// --- the real binary and a real LMTP client -----------------------------

/// `smxd lmtpl -f smx.conf` and its log.
struct Lmtpl {
    child: Option<Child>,
    log: Arc<Mutex<String>>,
}

impl Lmtpl {
    fn start(conf: &Path) -> Lmtpl {
        let mut child = Command::new(env!("CARGO_BIN_EXE_smxd"))
            .arg("lmtpl")
            .arg("-f")
            .arg(conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let err = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                sink.lock().unwrap().push_str(&format!("{line}\n"));
            }
        });
        let l = Lmtpl {
            child: Some(child),
            log,
        };
        l.wait_for("lmtpl: ready", 1);
        l
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    fn wait_for(&self, text: &str, n: usize) {
        let deadline = Instant::now() + LIMIT;
        while self.log().matches(text).count() < n {
            assert!(
                Instant::now() < deadline,
                "`{text}` not logged {n} times:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn signal(&self, sig: nix::sys::signal::Signal) {
        let pid = self.child.as_ref().unwrap().id();
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), sig).unwrap();
    }

    /// Waits for the exit; SIGKILLs after the limit.
    fn wait_exit(&mut self) -> std::process::ExitStatus {
        let mut c = self.child.take().unwrap();
        let deadline = Instant::now() + LIMIT;
        loop {
            if let Some(st) = c.try_wait().unwrap() {
                return st;
            }
            if Instant::now() > deadline {
                let _ = c.kill();
                let _ = c.wait();
                panic!("lmtpl did not exit:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Lmtpl {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn swaks_installed() -> bool {
    let ok = Command::new("swaks")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "swaks is not installed (apt-get install swaks)"
        );
        eprintln!("SKIP: swaks is not installed");
    }
    ok
}

/// One LMTP transaction with swaks; returns (success, transcript).
fn swaks(socket: &Path, to: &str, body: &str) -> (bool, String) {
    let out = Command::new("swaks")
        .args(["--protocol", "LMTP", "--socket"])
        .arg(socket)
        .args(["--from", "sender@example.org", "--to", to])
        .args(["--header", "Subject: lmtpl test", "--body", body])
        .args(["--timeout", "20"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn swaks_delivers_through_the_real_binary() {
    if !swaks_installed() {
        return;
    }
    let dir = TestDir::new("lmtpl-swaks");
    std::fs::write(dir.0.join("localusers"), "alice local:\n").unwrap();
    let conf = dir.0.join("smx.conf");
    std::fs::write(
        &conf,
        "queue_directory = queue;\nhostname = mx.example.test;\n\
         smar {\n  map users { type = texthash; file = \"localusers\"; }\n\
           local_user_map { name = users; flags = { implicitly_match_detail }; }\n}\n\
         lmtpl {\n  LMTP_socket = \"lmtp/lmtpsock\";\n  io_timeout = 30s;\n}\n",
    )
    .unwrap();
    let mut l = Lmtpl::start(&conf);
    let queue = dir.0.join("queue");
    let socket = queue.join("lmtp/lmtpsock");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&socket).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o660);

    let (ok, t) = swaks(&socket, "alice@localhost", "first message");
    assert!(ok, "{t}\n{}", l.log());
    assert!(t.contains("220 2.0.0 mx.example.test LMTP"), "{t}");
    assert!(t.contains("250 2.0.0 <alice@localhost> delivered"), "{t}");
    let (ok, t) = swaks(&socket, "alice+tag@localhost", "second message");
    assert!(ok, "{t}\n{}", l.log());
    let (ok, t) = swaks(&socket, "carol@localhost", "for carol");
    assert!(!ok);
    assert!(
        t.contains("550 5.1.1 <carol@localhost>: user unknown"),
        "{t}"
    );

    let new = queue.join("mail/alice/Maildir/new");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&new)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert_eq!(files.len(), 2, "two messages, two files");
    let texts: Vec<String> = files.iter().map(|f| read(f)).collect();
    for (rcpt, body) in [
        ("alice@localhost", "first message"),
        ("alice+tag@localhost", "second message"),
    ] {
        // Names order by time only roughly (M<usecs> is not zero-padded).
        let head = format!("Return-Path: <sender@example.org>\nDelivered-To: {rcpt}\n");
        let text = texts
            .iter()
            .find(|t| t.starts_with(&head))
            .unwrap_or_else(|| panic!("no file starts with {head:?}: {texts:?}"));
        assert!(text.contains("\nSubject: lmtpl test\n"), "{text}");
        assert!(text.contains(&format!("\n\n{body}\n")), "{text}");
        assert!(!text.contains('\r'), "CRLF left in {text:?}");
    }
    for f in &files {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        let logged = format!("lmtpl: alice: delivered to mail/alice/Maildir/new/{name} (size=");
        assert!(l.log().contains(&logged), "{logged}\n{}", l.log());
    }

    // SIGHUP re-opens the local user map.
    std::fs::write(dir.0.join("localusers"), "alice local:\ncarol local:\n").unwrap();
    l.signal(nix::sys::signal::Signal::SIGHUP);
    l.wait_for("lmtpl: SIGHUP", 1);
    let (ok, t) = swaks(&socket, "carol@localhost", "for carol");
    assert!(ok, "{t}\n{}", l.log());
    assert_eq!(
        std::fs::read_dir(queue.join("mail/carol/Maildir/new"))
            .unwrap()
            .count(),
        1
    );

    l.signal(nix::sys::signal::Signal::SIGTERM);
    assert_eq!(l.wait_exit().code(), Some(0), "{}", l.log());
}

#[test]
fn without_an_lmtpl_section_it_exits_78() {
    let dir = TestDir::new("lmtpl-nosection");
    let conf = dir.0.join("smx.conf");
    std::fs::write(&conf, "queue_directory = queue;\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_smxd"))
        .arg("lmtpl")
        .arg("-f")
        .arg(&conf)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(78));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("lmtpl: no lmtpl { } section"), "{err}");
}

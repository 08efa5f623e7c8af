//! The abuse suite (issue 9): hostile clients against the real `smxd`
//! started as the MCP (`common::Smx`), over raw TCP sockets. One test per
//! abuse class; each prints one figure line of the same shape,
//!
//! `abuse CLASS: key=value ... restarts=0 legit=250 rss_kb=BEFORE->AFTER`,
//!
//! and asserts it. After every attack the SMTP server must still be the
//! process the MCP started first (no restart in the MCP log nor in
//! `mcp.status`) and must still queue a legitimate message (`250`).
//! `rss_kb` is the smtps process's VmRSS before and after the attack.
//!
//! What smxd is expected to do is what its documentation says (the
//! `smtps` module, README §3.10 items 5–16):
//! - smuggling (CVE-2023-51764/51765/51766, the smtpsmug list): only
//!   `CRLF.CRLF` ends DATA; content with a bare CR or LF is refused with
//!   `550 5.6.0` after the real end; anything else is kept as text of the
//!   one message. No smuggled message ever becomes a transaction;
//! - STARTTLS (RFC 3207, CVE-2011-0411): plaintext pipelined after
//!   STARTTLS is discarded;
//! - early talkers: `554 5.5.0` and close;
//! - `max_bad_commands_*`, `max_nop_commands_*`: N answered, then
//!   `421 4.7.0` and close;
//! - over-long command lines: `500 5.5.2`, discarded up to their end;
//! - `max_recipients_per_transaction`: `452 4.5.3` beyond it;
//! - `max_message_size`: `552 5.3.4`; `max_hops`: `554 5.4.6`;
//! - `io_timeout`: `421 4.4.2` and close, also for a client that dribbles
//!   a command line (or a DATA line) slower than one line per `io_timeout`;
//! - `max_threads`: sessions beyond it get `421 4.3.2`;
//! - out of file descriptors: connections wait in the listen queue, the
//!   accept loop pauses and logs at most once a second.
//!
//! `a_restart_is_seen` checks that the restart check can fail.
//! Every wait is bounded ([`BOUND`]); the daemons are stopped on drop.
//! Run: `cargo test -p smxd --test abuse -- --nocapture`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{message, read_queue, Outcome, Session, Smx, TestDir};
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Every single wait is bounded by this.
const BOUND: Duration = Duration::from_secs(20);

/// No per-client connection limits: every attack comes from 127.0.0.1
/// (README §3.8.1; the defaults would refuse the 101st connection a
/// minute, which is not what these tests are about).
const NO_CONN_LIMITS: &str =
    "qmgr { smtps { max_connection_rate = 100000000; max_connections = 100000; } }";

// ---------------------------------------------------------------------
// The daemon, the checks after an attack, the figure line.
// ---------------------------------------------------------------------

/// smxd under attack.
struct Target {
    smx: Smx,
    _dir: TestDir,
    /// The smtps process the MCP started.
    pid: i32,
    rss_before: u64,
}

impl Target {
    /// smxd with `smtps` options for the `smtps { }` section.
    fn start(tag: &str, smtps: &str) -> Target {
        let dir = TestDir::new(&format!("abuse-{tag}"));
        Target::start_in(dir, smtps)
    }

    fn start_in(dir: TestDir, smtps: &str) -> Target {
        let smx = Smx::start_with(
            &dir.0,
            "localhost lmtp:\nexample.test lmtp:\n",
            NO_CONN_LIMITS,
            smtps,
        );
        let pids = smx.started("smtps");
        assert_eq!(pids.len(), 1, "{}", smx.log());
        let pid = pids[0];
        let mut t = Target {
            smx,
            _dir: dir,
            pid,
            rss_before: 0,
        };
        // One message first, so that the RSS baseline includes a served
        // session.
        assert_eq!(t.legit("warmup"), 250);
        t.rss_before = rss_kb(pid);
        t
    }

    fn port(&self) -> u16 {
        self.smx.port
    }

    /// A normal message from a well-behaved client: the code of the
    /// reply to its end of data (0 when the session broke).
    fn legit(&self, marker: &str) -> u16 {
        let Ok(mut s) = Session::open(self.port(), BOUND) else {
            return 0;
        };
        let code = match s.send(
            "sender@example.org",
            "alice@localhost",
            &message(marker, 600),
        ) {
            Outcome::Queued(_) => 250,
            Outcome::Refused { code, .. } => code,
            Outcome::Broken { .. } => 0,
        };
        s.quit();
        code
    }

    /// smtps restarts: pids the MCP logged beyond the first, exits it
    /// logged, and the `restarts` of `mcp.status`.
    fn restarts(&self) -> u64 {
        let log = self.smx.log();
        let logged = (self.smx.started("smtps").len() as u64).saturating_sub(1);
        let exits = log
            .lines()
            .filter(|l| l.contains("smtps pid=") && (l.contains("exited") || l.contains("killed")))
            .count() as u64;
        // mcp.status must list our smtps, same pid, no restart.
        let status = std::fs::read(self.smx.queue_dir().join("mcp.status"))
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .and_then(|v| {
                let p = v.as_array()?.iter().find(|p| p["name"] == "smtps")?;
                Some((p["pid"].as_i64()?, p["restarts"].as_u64()?))
            });
        let status = match status {
            Some((pid, restarts)) if pid == i64::from(self.pid) => restarts,
            _ => 1,
        };
        let alive = u64::from(!std::path::Path::new(&format!("/proc/{}", self.pid)).exists());
        logged + exits + status + alive
    }

    /// The checks after the attack and the figure line: prints it, asserts
    /// no restart and a served legitimate client, returns the line.
    fn finish(&self, class: &str, fields: &str) -> String {
        let legit = self.legit(&format!("legit-{class}"));
        let restarts = self.restarts();
        let line = format!(
            "abuse {class}: {fields} restarts={restarts} legit={legit} rss_kb={}->{}",
            self.rss_before,
            rss_kb(self.pid)
        );
        println!("{line}");
        assert_eq!(restarts, 0, "{line}\n{}", self.smx.log());
        assert_eq!(legit, 250, "{line}\n{}", self.smx.log());
        line
    }
}

/// VmRSS of `pid` in kB (0 if it is gone).
fn rss_kb(pid: i32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

// ---------------------------------------------------------------------
// A raw client.
// ---------------------------------------------------------------------

/// One reply: code and full text (all lines).
type Reply = (u16, String);

struct Raw {
    r: BufReader<TcpStream>,
    w: TcpStream,
}

impl Raw {
    /// Connects; reads nothing.
    fn connect(port: u16) -> Raw {
        let s = TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), BOUND).unwrap();
        s.set_read_timeout(Some(BOUND)).unwrap();
        s.set_write_timeout(Some(BOUND)).unwrap();
        Raw {
            w: s.try_clone().unwrap(),
            r: BufReader::new(s),
        }
    }

    /// Connects, reads the 220 greeting, says EHLO.
    fn open(port: u16) -> Raw {
        let mut c = Raw::connect(port);
        let g = c.reply().expect("greeting");
        assert_eq!(g.0, 220, "{g:?}");
        let e = c.cmd("EHLO client.example\r\n").expect("EHLO reply");
        assert_eq!(e.0, 250, "{e:?}");
        c
    }

    /// The next reply; `None` on end of stream, error or timeout.
    fn reply(&mut self) -> Option<Reply> {
        let mut all = String::new();
        loop {
            let mut line = Vec::new();
            match self.r.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => return None,
                Ok(_) => {}
            }
            let line = String::from_utf8_lossy(&line).into_owned();
            all.push_str(&line);
            let b = line.as_bytes();
            if b.len() < 4 || b[3] != b'-' {
                let code = line.get(..3).and_then(|c| c.parse().ok())?;
                return Some((code, all));
            }
        }
    }

    fn send(&mut self, bytes: &[u8]) -> bool {
        self.w.write_all(bytes).is_ok()
    }

    fn cmd(&mut self, line: &str) -> Option<Reply> {
        if !self.send(line.as_bytes()) {
            return None;
        }
        self.reply()
    }

    /// Every reply until the server closes (or [`BOUND`] of silence).
    fn drain(&mut self) -> Vec<Reply> {
        let mut out = Vec::new();
        while let Some(r) = self.reply() {
            out.push(r);
        }
        out
    }

    /// Writes `bytes` from another thread (the server may stop reading),
    /// so that replies can be read meanwhile.
    fn send_behind(&self, bytes: Vec<u8>) -> std::thread::JoinHandle<()> {
        let mut w = self.w.try_clone().unwrap();
        std::thread::spawn(move || {
            let _ = w.write_all(&bytes);
        })
    }
}

/// A human label for a reply.
fn label(r: Option<&Reply>) -> String {
    match r {
        None => "closed".to_string(),
        Some((code, text)) => {
            let enh = text.get(4..9).unwrap_or("").trim();
            format!("{code} {enh}")
        }
    }
}

// ---------------------------------------------------------------------
// SMTP smuggling.
// ---------------------------------------------------------------------

/// End-of-data look-alikes: the smtpsmug list (lflf, crcr, crlf, lfcr,
/// lfcrlf, crlflf, crcrlf, crlfcr, nullbefore, nullafter), the further
/// strings of the SEC Consult write-up and smtp_smuggling_checker, and
/// the ones of `tests/dialogues/smuggle_*`.
const SMUGGLE: &[(&str, &[u8])] = &[
    ("lflf", b"\n.\n"),
    ("crcr", b"\r.\r"),
    ("crlf", b"\r.\n"),
    ("lfcr", b"\n.\r"),
    ("lfcrlf", b"\n.\r\n"),
    ("crlflf", b"\r\n.\n"),
    ("crcrlf", b"\r.\r\n"),
    ("crlfcr", b"\r\n.\r"),
    ("nullbefore", b"\r\n\x00.\r\n"),
    ("nullafter", b"\r\n.\x00\r\n"),
    ("null_crlfcr", b"\r\n\x00.\r"),
    ("null_crlflf", b"\r\n\x00.\n"),
    ("crlf_dot", b"\r\n."),
    ("lflf_dot_crlf", b"\n\n.\r\n"),
    ("lflf_dot_lflf", b"\n\n.\n\n"),
    ("crlf_dot_cr_crlf", b"\r\n.\r\r\n"),
    ("crlf_dot_lf_crlf", b"\r\n.\n\r\n"),
    ("crlf_space_dot_crlf", b"\r\n .\r\n"),
    ("crlf_dot_space_crlf", b"\r\n. \r\n"),
    ("crlf_tab_dot_crlf", b"\r\n\t.\r\n"),
    ("crlf_dotdot_lf", b"\r\n..\n"),
    ("cr_lf_dot_lf", b"\r\n\r.\n"),
];

/// Whether `bytes` has a CR or LF that is not part of a CRLF (what the
/// server rejects, per `smtps::data`).
fn bare_newline(bytes: &[u8]) -> bool {
    let mut prev_cr = false;
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'\n' && !prev_cr {
            return true;
        }
        if prev_cr && b != b'\n' {
            return true;
        }
        prev_cr = b == b'\r';
        if prev_cr && i + 1 == bytes.len() {
            return true;
        }
    }
    false
}

/// The smuggled second message: MAIL/RCPT/DATA and its content, ended by
/// the one real `CRLF.CRLF`.
fn smuggled(i: usize) -> String {
    format!(
        "MAIL FROM:<smuggler@example.org>\r\nRCPT TO:<alice@localhost>\r\nDATA\r\n\
         From: <smuggler@example.org>\r\nX-Marker: smuggled-{i}\r\nSubject: smuggled\r\n\r\n\
         smuggled {i}\r\n.\r\n"
    )
}

/// What the server answered to the first message and whether anything
/// came after that reply but the `221` (a second transaction would).
fn smuggle_one(port: u16, i: usize, end: &[u8]) -> (Option<Reply>, usize) {
    let mut c = Raw::open(port);
    for (cmd, want) in [
        ("MAIL FROM:<sender@example.org>\r\n", 250),
        ("RCPT TO:<alice@localhost>\r\n", 250),
        ("DATA\r\n", 354),
    ] {
        let r = c.cmd(cmd);
        assert_eq!(r.as_ref().map(|r| r.0), Some(want), "{cmd}: {r:?}");
    }
    let mut body = format!(
        "From: <sender@example.org>\r\nX-Marker: first-{i}\r\nSubject: first\r\n\r\nfirst {i}"
    )
    .into_bytes();
    body.extend_from_slice(end);
    body.extend_from_slice(smuggled(i).as_bytes());
    body.extend_from_slice(b"QUIT\r\n");
    c.send(&body);
    let replies = c.drain();
    let first = replies.first().cloned();
    let extra = replies.iter().skip(1).filter(|r| r.0 != 221).count();
    (first, extra)
}

/// BDAT (RFC 3030): a chunk is never scanned for an end of data; one with
/// a whole smuggled transaction in it is one message, one with a bare LF
/// is refused like DATA.
fn smuggle_bdat(port: u16, i: usize, end: &[u8]) -> (Option<Reply>, usize) {
    let mut c = Raw::open(port);
    c.cmd("MAIL FROM:<sender@example.org>\r\n").unwrap();
    c.cmd("RCPT TO:<alice@localhost>\r\n").unwrap();
    let mut chunk = format!(
        "From: <sender@example.org>\r\nX-Marker: first-{i}\r\nSubject: first\r\n\r\nfirst {i}"
    )
    .into_bytes();
    chunk.extend_from_slice(end);
    chunk.extend_from_slice(smuggled(i).as_bytes());
    let mut wire = format!("BDAT {} LAST\r\n", chunk.len()).into_bytes();
    wire.extend_from_slice(&chunk);
    wire.extend_from_slice(b"QUIT\r\n");
    c.send(&wire);
    let replies = c.drain();
    let first = replies.first().cloned();
    let extra = replies.iter().skip(1).filter(|r| r.0 != 221).count();
    (first, extra)
}

#[test]
fn smuggling() {
    let mut t = Target::start("smuggle", "");
    let mut rows = Vec::new();
    for (i, (name, end)) in SMUGGLE.iter().enumerate() {
        let (first, extra) = smuggle_one(t.port(), i, end);
        rows.push((format!("data:{name}"), i, bare_newline(end), first, extra));
    }
    let bdat: &[(&str, &[u8])] = &[("crlf_dot_crlf", b"\r\n.\r\n"), ("lflf", b"\n.\n")];
    for (k, (name, end)) in bdat.iter().enumerate() {
        let i = SMUGGLE.len() + k;
        let (first, extra) = smuggle_bdat(t.port(), i, end);
        rows.push((format!("bdat:{name}"), i, bare_newline(end), first, extra));
    }
    // Control: a real end of data followed by a pipelined second message
    // (RFC 2920) is two messages; this proves the check below can see one.
    let control = SMUGGLE.len() + bdat.len();
    let (ctl_first, ctl_extra) = smuggle_one(t.port(), control, b"\r\n.\r\n");
    assert_eq!(ctl_first.as_ref().map(|r| r.0), Some(250), "{ctl_first:?}");

    let mut failures = Vec::new();
    let (mut rejected, mut kept, mut closed) = (0, 0, 0);
    for (name, _, bare, first, extra) in &rows {
        let what = label(first.as_ref());
        println!("abuse smuggling variant {name}: {what} extra_replies={extra}");
        match first.as_ref().map(|r| r.0) {
            Some(550) => rejected += 1,
            Some(250) => kept += 1,
            _ => closed += 1,
        }
        // The documented answer: 550 5.6.0 for a bare CR/LF, else one
        // message with the smuggling attempt as its text.
        let want = if *bare { "550 5.6.0" } else { "250 2.0.0" };
        if what != want || *extra != 0 {
            failures.push(format!("{name}: {what} (want {want}), extra={extra}"));
        }
    }
    t.smx.wait_for(": from=<smuggler@example.org>,", 1, BOUND);
    let logged = t.smx.count(": from=<smuggler@example.org>,");
    // The QMGR logs every commit; only the control's second message may
    // come from the smuggler.
    let smuggled = logged.saturating_sub(1);
    t.finish(
        "smuggling",
        &format!(
            "variants={} smuggled={smuggled} rejected_550={rejected} kept_as_data={kept} \
             closed={closed} control_pipelined={}",
            rows.len(),
            usize::from(ctl_extra == 4),
        ),
    );
    assert!(failures.is_empty(), "{failures:#?}");
    assert_eq!(logged, 1, "{}", t.smx.log());
    // And on disk: no smuggled message is a transaction of its own.
    t.smx.stop();
    let q = read_queue(&t.smx.queue_dir());
    for (name, i, ..) in &rows {
        assert_eq!(q.copies(&format!("smuggled-{i}")), 0, "{name}: {q:?}");
    }
    assert_eq!(q.copies(&format!("smuggled-{control}")), 1, "{q:?}");
    for (name, i, bare, ..) in &rows {
        let want = usize::from(!bare);
        assert_eq!(q.copies(&format!("first-{i}")), want, "{name}: {q:?}");
    }
}

// ---------------------------------------------------------------------
// STARTTLS command injection.
// ---------------------------------------------------------------------

/// A self-signed certificate for `localhost` in `dir` (`server.pem`,
/// `server.key`); returns the certificate in DER for the client's roots.
fn self_signed(dir: &std::path::Path) -> rustls::pki_types::CertificateDer<'static> {
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    std::fs::write(dir.join("server.pem"), ck.cert.pem()).unwrap();
    std::fs::write(dir.join("server.key"), ck.key_pair.serialize_pem()).unwrap();
    ck.cert.der().clone()
}

fn tls_client(cert: rustls::pki_types::CertificateDer<'static>) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert).unwrap();
    Arc::new(
        rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth(),
    )
}

/// How one injection attempt ended.
#[derive(Debug, PartialEq, Eq)]
enum Injection {
    /// The first reply over TLS answered our EHLO: nothing was injected.
    Discarded,
    /// Something else came first: an injected command was executed.
    Executed(String),
    /// The handshake failed (plaintext arrived after the `220`); nothing
    /// was executed either.
    HandshakeFailed,
}

/// Sends `STARTTLS\r\n` + `inject` in one write (or `inject` in a second
/// write when `later`), then does the handshake and checks what the
/// server says first inside TLS.
fn inject(port: u16, config: &Arc<rustls::ClientConfig>, inject: &str, later: bool) -> Injection {
    let mut c = Raw::open(port);
    if later {
        c.send(b"STARTTLS\r\n");
        c.send(inject.as_bytes());
    } else {
        c.send(format!("STARTTLS\r\n{inject}").as_bytes());
    }
    let r = c.reply().expect("STARTTLS reply");
    assert_eq!(r.0, 220, "{r:?}");
    // Nothing after the 220 in plaintext; a TLS alert (record type 21)
    // when the injected bytes reached the handshake.
    match c.r.buffer().first() {
        None => {}
        Some(21) => return Injection::HandshakeFailed,
        Some(_) => return Injection::Executed(String::from_utf8_lossy(c.r.buffer()).into()),
    }
    let tcp = c.r.into_inner();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let conn = rustls::ClientConnection::new(config.clone(), name).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    if tls.write_all(b"EHLO client.example\r\n").is_err() {
        return Injection::HandshakeFailed;
    }
    let mut r = BufReader::new(tls);
    let mut first = String::new();
    if r.read_line(&mut first).unwrap_or(0) == 0 {
        return Injection::HandshakeFailed;
    }
    if !first.starts_with("250-") {
        return Injection::Executed(first);
    }
    // Finish the EHLO reply; then the state must be fresh (RFC 3207
    // §4.2): no MAIL went through.
    loop {
        let mut l = String::new();
        if r.read_line(&mut l).unwrap_or(0) == 0 || l.starts_with("250 ") {
            break;
        }
    }
    r.get_mut()
        .write_all(b"RCPT TO:<alice@localhost>\r\n")
        .unwrap();
    let mut rcpt = String::new();
    r.read_line(&mut rcpt).unwrap();
    if !rcpt.starts_with("503") {
        return Injection::Executed(rcpt);
    }
    // And a message over TLS still goes through.
    for (cmd, want) in [
        ("MAIL FROM:<sender@example.org>\r\n", "250"),
        ("RCPT TO:<alice@localhost>\r\n", "250"),
        ("DATA\r\n", "354"),
        ("Subject: over TLS\r\n\r\nhello\r\n.\r\n", "250"),
    ] {
        r.get_mut().write_all(cmd.as_bytes()).unwrap();
        let mut l = String::new();
        r.read_line(&mut l).unwrap();
        assert!(l.starts_with(want), "{cmd:?}: {l}");
    }
    Injection::Discarded
}

#[test]
fn starttls_injection() {
    let dir = TestDir::new("abuse-starttls");
    let cert = self_signed(&dir.0);
    let t = Target::start_in(
        dir,
        "tls { cert_file = server.pem; key_file = server.key; }",
    );
    let config = tls_client(cert);
    let variants: &[(&str, &str, bool)] = &[
        ("rset", "RSET\r\n", false),
        ("mail", "MAIL FROM:<evil@example.org>\r\n", false),
        ("noop", "NOOP\r\n", false),
        (
            "transaction",
            "EHLO evil.example\r\nMAIL FROM:<evil@example.org>\r\nRCPT TO:<alice@localhost>\r\n",
            false,
        ),
        ("second_write", "RSET\r\n", true),
    ];
    let (mut discarded, mut executed, mut failed) = (0, 0, 0);
    let mut bad = Vec::new();
    for (name, text, later) in variants {
        let got = inject(t.port(), &config, text, *later);
        println!("abuse starttls_injection variant {name}: {got:?}");
        match got {
            Injection::Discarded => discarded += 1,
            Injection::HandshakeFailed => failed += 1,
            Injection::Executed(s) => {
                executed += 1;
                bad.push(format!("{name}: {s}"));
            }
        }
    }
    t.finish(
        "starttls_injection",
        &format!(
            "variants={} executed={executed} discarded={discarded} handshake_failed={failed}",
            variants.len()
        ),
    );
    assert!(bad.is_empty(), "{bad:?}");
    assert_eq!(t.smx.count(": from=<evil@example.org>,"), 0);
}

// ---------------------------------------------------------------------
// Early talkers.
// ---------------------------------------------------------------------

/// smxd looks for early input once, without waiting, just before the
/// greeting (`smtps::session`): what a client sent before that moment is
/// refused. Input that is still in flight then is not seen, so under load
/// an early talker may now and then be greeted and served like a
/// pipelining client; the figure line says how many were.
#[test]
fn early_talkers() {
    let t = Target::start("early", "");
    let talks: &[&str] = &[
        "EHLO early.example\r\n",
        "HELO early.example\r\nMAIL FROM:<early@example.org>\r\nRCPT TO:<alice@localhost>\r\n\
         DATA\r\nSubject: early\r\n\r\nearly\r\n.\r\n",
        "\r\n",
        "GET / HTTP/1.1\r\nHost: mx.example.test\r\n\r\n",
    ];
    const ROUNDS: usize = 25;
    let (mut refused, mut greeted, mut other) = (0, 0, 0);
    for _ in 0..ROUNDS {
        for talk in talks {
            let mut c = Raw::connect(t.port());
            c.send(talk.as_bytes());
            match c.reply() {
                Some((554, text)) if text.starts_with("554 5.5.0") => {
                    // Closed right after, nothing more said.
                    if c.drain().is_empty() {
                        refused += 1;
                    } else {
                        other += 1;
                    }
                }
                Some((220, _)) => {
                    greeted += 1;
                    c.send(b"QUIT\r\n");
                    c.drain();
                }
                _ => other += 1,
            }
        }
    }
    let total = ROUNDS * talks.len();
    let queued = t.smx.count(": from=<early@example.org>,");
    t.finish(
        "early_talkers",
        &format!(
            "connections={total} refused_554={refused} greeted={greeted} other={other} \
             queued_from_early={queued}"
        ),
    );
    assert_eq!(other, 0);
    assert_eq!(refused + greeted, total);
    // The check is there (without it none would be refused; alone on the
    // machine all are).
    assert!(refused * 2 > total, "{refused} of {total} refused");
    assert!(queued <= greeted);
}

// ---------------------------------------------------------------------
// Floods of invalid commands.
// ---------------------------------------------------------------------

/// Sends `n` copies of `line` after EHLO (and `prefix`), reads every
/// reply until the server closes; returns the replies to the flood.
fn flood(port: u16, prefix: &str, line: &[u8], n: usize) -> Vec<Reply> {
    let mut c = Raw::open(port);
    for cmd in prefix.split_inclusive("\r\n") {
        let r = c.cmd(cmd).unwrap();
        assert!(r.0 < 400, "{cmd}: {r:?}");
    }
    let mut all = Vec::with_capacity(line.len() * n);
    for _ in 0..n {
        all.extend_from_slice(line);
    }
    let writer = c.send_behind(all);
    let replies = c.drain();
    writer.join().unwrap();
    replies
}

#[test]
fn invalid_commands() {
    const N: usize = 10_000;
    let t = Target::start("invalid", "");
    let tx = "MAIL FROM:<sender@example.org>\r\nRCPT TO:<alice@localhost>\r\n";
    // (name, before the flood, the flooded line, its reply, the limit)
    let kinds: &[(&str, &str, &[u8], &str, usize)] = &[
        ("unknown", "", b"XYZZY\r\n", "500 5.5.1", 20),
        ("bare_lf", "", b"NOOP\n", "500 5.5.2", 20),
        ("syntax", "", b"MAIL FROM:<no domain\r\n", "501 5.1.7", 20),
        (
            "sequence",
            "",
            b"RCPT TO:<alice@localhost>\r\n",
            "503 5.5.1",
            20,
        ),
        ("unknown_in_tx", tx, b"XYZZY\r\n", "500 5.5.1", 10),
        ("noop", "", b"NOOP\r\n", "250 2.0.0", 20),
        // The first RSET counts in the transaction and ends it; 20 more
        // count between transactions.
        ("rset_in_tx", tx, b"RSET\r\n", "250 2.0.0", 21),
        (
            "bad_rcpt",
            "MAIL FROM:<sender@example.org>\r\n",
            b"RCPT TO:<x@far.example>\r\n",
            "550 5.7.1",
            10,
        ),
        // max_transactions (default 1000): MAIL and RSET, 1,000 times
        // each, then the next MAIL gets 421.
        (
            "mail_rset",
            "",
            b"MAIL FROM:<sender@example.org>\r\nRSET\r\n",
            "250",
            2000,
        ),
    ];
    let mut answered = Vec::new();
    let mut failures = Vec::new();
    for (name, prefix, line, want, limit) in kinds {
        let replies = flood(t.port(), prefix, line, N);
        let ok = replies
            .iter()
            .take_while(|r| label(Some(r)).starts_with(want))
            .count();
        let last = label(replies.last());
        println!(
            "abuse invalid_commands variant {name}: sent={N} answered={ok} then {last} replies={}",
            replies.len()
        );
        answered.push(format!("{name}:{ok}"));
        if ok != *limit || replies.len() != limit + 1 || last != "421 4.7.0" {
            failures.push(format!(
                "{name}: {ok} x {want} then {last} ({} replies)",
                replies.len()
            ));
        }
    }
    t.finish(
        "invalid_commands",
        &format!(
            "floods={} sent_each={N} answered={} closed_421={}",
            kinds.len(),
            answered.join(","),
            kinds.len() - failures.len()
        ),
    );
    assert!(failures.is_empty(), "{failures:#?}");
    // Nothing of the floods is kept.
    assert!(rss_kb(t.pid) < t.rss_before + 16 * 1024);
}

// ---------------------------------------------------------------------
// 1 MB command lines.
// ---------------------------------------------------------------------

const MB: usize = 1 << 20;

#[test]
fn long_lines() {
    let t = Target::start("lines", "io_timeout = 3s;");
    let huge = "x".repeat(MB);
    let mut rows = Vec::new();
    // Ended by CRLF, then a NOOP: one 500 5.5.2, then 250.
    for (name, line) in [
        ("noop_crlf", format!("NOOP {huge}\r\n")),
        ("mail_crlf", format!("MAIL FROM:<{huge}@example.org>\r\n")),
        ("verb_crlf", format!("{huge}\r\n")),
        ("bare_lf", format!("NOOP {huge}\n")),
        ("bare_cr_inside", format!("NOOP {huge}\r{huge}\r\n")),
    ] {
        let mut c = Raw::open(t.port());
        let w = c.send_behind(line.into_bytes());
        let first = c.reply();
        w.join().unwrap();
        let next = c.cmd("NOOP\r\n");
        println!(
            "abuse long_lines variant {name}: {} then NOOP {}",
            label(first.as_ref()),
            label(next.as_ref())
        );
        rows.push((name, label(first.as_ref()), label(next.as_ref())));
    }
    // Ten of them in one pipelined write: ten 500s, no more.
    let mut ten = Vec::new();
    for _ in 0..10 {
        ten.extend_from_slice(format!("NOOP {huge}\r\n").as_bytes());
    }
    ten.extend_from_slice(b"QUIT\r\n");
    let mut c = Raw::open(t.port());
    let w = c.send_behind(ten);
    let replies = c.drain();
    w.join().unwrap();
    let ten_500 = replies
        .iter()
        .filter(|r| r.1.starts_with("500 5.5.2"))
        .count();
    // Without CRLF: 4 connections of 4 MB each, held open; the server
    // must not keep what it discards (RSS measured while they wait), and
    // io_timeout ends them with 421 4.4.2.
    let pending: Vec<Raw> = (0..4)
        .map(|_| {
            let c = Raw::open(t.port());
            let w = c.send_behind(format!("NOOP {}", "y".repeat(4 * MB)).into_bytes());
            w.join().unwrap();
            c
        })
        .collect();
    let rss_pending = rss_kb(t.pid);
    let mut timeouts = 0;
    for mut c in pending {
        let r = c.drain();
        if r.len() == 1 && r[0].1.starts_with("421 4.4.2") {
            timeouts += 1;
        }
    }
    let ok = rows
        .iter()
        .filter(|(_, a, b)| a == "500 5.5.2" && b == "250 2.0.0")
        .count();
    t.finish(
        "long_lines",
        &format!(
            "lines_1mb={} answered_500_then_250={ok}/{} pipelined_10x1mb_500={ten_500}/10 \
             unterminated_4x4mb_421={timeouts}/4 rss_kb_while_pending={rss_pending}",
            rows.len() + 10,
            rows.len(),
        ),
    );
    assert_eq!(ok, rows.len(), "{rows:?}");
    assert_eq!(ten_500, 10, "{replies:?}");
    assert_eq!(timeouts, 4);
    // 16 MB were sent and are waiting for their end: none of it is kept.
    assert!(
        rss_pending < t.rss_before + 8 * 1024,
        "{rss_pending} kB while 16 MB pending (before: {} kB)",
        t.rss_before
    );
}

// ---------------------------------------------------------------------
// 10,000 recipients.
// ---------------------------------------------------------------------

#[test]
fn many_recipients() {
    const N: usize = 10_000;
    let t = Target::start("rcpts", "");
    let mut c = Raw::open(t.port());
    let mut wire = String::from("MAIL FROM:<sender@example.org>\r\n");
    for i in 0..N {
        wire.push_str(&format!("RCPT TO:<r{i}@localhost>\r\n"));
    }
    wire.push_str("DATA\r\n");
    wire.push_str(&message("rcpts", 1000));
    wire.push_str(".\r\nQUIT\r\n");
    let w = c.send_behind(wire.into_bytes());
    let replies = c.drain();
    w.join().unwrap();
    let labels: Vec<String> = replies.iter().map(|r| label(Some(r))).collect();
    let count = |l: &str| labels.iter().filter(|x| *x == l).count();
    let accepted = count("250 2.1.5");
    let refused = count("452 4.5.3");
    let end = labels
        .iter()
        .rev()
        .nth(1)
        .map(|l| l.replace(' ', "_"))
        .unwrap_or_default();
    // The QMGR's commit line of the message (the others have nrcpt=1).
    let nrcpt = t
        .smx
        .log()
        .lines()
        .filter(|l| l.contains(": from=<sender@example.org>,"))
        .filter_map(|l| l.rsplit("nrcpt=").next()?.trim().parse::<u64>().ok())
        .max()
        .unwrap_or(0);
    t.finish(
        "many_recipients",
        &format!("sent={N} accepted={accepted} refused_452={refused} data={end} nrcpt={nrcpt}"),
    );
    // max_recipients_per_transaction (default 1000): 452 4.5.3 beyond it,
    // and the message goes to the accepted ones.
    assert_eq!(accepted, 1000, "{labels:?}");
    assert_eq!(refused, N - 1000);
    assert_eq!(end, "250_2.0.0", "{labels:?}");
    assert_eq!(nrcpt, 1000, "{}", t.smx.log());
}

// ---------------------------------------------------------------------
// Header bombs and oversized messages.
// ---------------------------------------------------------------------

/// One transaction with `content` (CRLF lines, no leading dots) and
/// `mail` after `MAIL FROM:<sender@example.org>`; the reply that decided
/// it (to MAIL or to the end of data).
fn transaction(port: u16, mail: &str, content: &[u8]) -> String {
    let mut c = Raw::open(port);
    let m = c.cmd(&format!("MAIL FROM:<sender@example.org>{mail}\r\n"));
    if m.as_ref().map(|r| r.0) != Some(250) {
        return label(m.as_ref());
    }
    assert_eq!(c.cmd("RCPT TO:<alice@localhost>\r\n").unwrap().0, 250);
    assert_eq!(c.cmd("DATA\r\n").unwrap().0, 354);
    let mut wire = content.to_vec();
    wire.extend_from_slice(b".\r\n");
    let w = c.send_behind(wire);
    let r = c.reply();
    w.join().unwrap();
    let next = c.cmd("NOOP\r\n");
    assert_eq!(
        label(next.as_ref()),
        "250 2.0.0",
        "session goes on after {r:?}"
    );
    label(r.as_ref())
}

#[test]
fn header_bombs() {
    let t = Target::start("headers", "max_message_size = 2MB;");
    let head = "From: <sender@example.org>\r\nTo: <alice@localhost>\r\nSubject: bomb\r\n";
    let mut many = String::from(head);
    for i in 0..100_000 {
        many.push_str(&format!("X-Bomb-{i}: b\r\n"));
    }
    many.push_str("\r\nbody\r\n");
    let mut folded = format!("{head}X-Folded: start\r\n");
    for _ in 0..100_000 {
        folded.push_str(" f\r\n");
    }
    folded.push_str("\r\nbody\r\n");
    let long = format!("{head}X-Long: {}\r\n\r\nbody\r\n", "L".repeat(MB));
    let mut hops = String::new();
    for i in 0..60 {
        hops.push_str(&format!(
            "Received: from h{i}.example by h{i}.example; Sat, 1 Jan 2000 00:00:00 +0000\r\n"
        ));
    }
    hops.push_str(head);
    hops.push_str("\r\nloop\r\n");
    let big = message("big", 3 * MB);
    // (name, MAIL parameters, content, the documented answer)
    let cases: Vec<(&str, &str, String, &str)> = vec![
        ("100k_header_lines", "", many, "250 2.0.0"),
        ("100k_folded_lines", "", folded, "250 2.0.0"),
        ("1mb_header_line", "", long, "250 2.0.0"),
        ("60_received", "", hops, "554 5.4.6"),
        ("3mb_message", "", big.clone(), "552 5.3.4"),
        ("size_param", " SIZE=3145728", big, "552 5.3.4"),
    ];
    let mut rows = Vec::new();
    for (name, mail, content, want) in &cases {
        let got = transaction(t.port(), mail, content.as_bytes());
        println!("abuse header_bombs variant {name}: {got} (want {want})");
        rows.push((name, got, want));
    }
    // BDAT beyond max_message_size.
    let mut c = Raw::open(t.port());
    c.cmd("MAIL FROM:<sender@example.org>\r\n").unwrap();
    c.cmd("RCPT TO:<alice@localhost>\r\n").unwrap();
    let chunk = message("bdat", 3 * MB);
    let mut wire = format!("BDAT {} LAST\r\n", chunk.len()).into_bytes();
    wire.extend_from_slice(chunk.as_bytes());
    let w = c.send_behind(wire);
    let bdat = label(c.reply().as_ref());
    w.join().unwrap();
    println!("abuse header_bombs variant 3mb_bdat: {bdat} (want 552 5.3.4)");
    let ok = rows.iter().filter(|(_, g, w)| g == *w).count() + usize::from(bdat == "552 5.3.4");
    let summary: Vec<String> = rows
        .iter()
        .map(|(n, g, _)| format!("{n}={}", g.split(' ').next().unwrap_or("")))
        .collect();
    t.finish(
        "header_bombs",
        &format!(
            "cases={} as_documented={ok} {} 3mb_bdat={}",
            rows.len() + 1,
            summary.join(" "),
            bdat.split(' ').next().unwrap_or("")
        ),
    );
    for (name, got, want) in &rows {
        assert_eq!(got, *want, "{name}");
    }
    assert_eq!(bdat, "552 5.3.4");
}

// ---------------------------------------------------------------------
// Slow-loris.
// ---------------------------------------------------------------------

/// How a slow client behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slow {
    /// Connects and never reads nor writes.
    Silent,
    /// Says EHLO, then nothing.
    AfterEhlo,
    /// Sends half a command line, then nothing.
    Partial,
    /// Sends a command line one byte every [`DRIBBLE`], never its end.
    Dribble,
    /// Goes silent inside DATA.
    InData,
    /// Dribbles a DATA line one byte every [`DRIBBLE`].
    DribbleData,
}

const DRIBBLE: Duration = Duration::from_millis(500);

#[test]
fn slow_loris() {
    const EACH: usize = 50;
    let io_timeout = 4;
    let t = Target::start(
        "loris",
        &format!("io_timeout = {io_timeout}s; max_threads = 1000;"),
    );
    let kinds = [
        Slow::Silent,
        Slow::AfterEhlo,
        Slow::Partial,
        Slow::Dribble,
        Slow::InData,
        Slow::DribbleData,
    ];
    let mut conns: Vec<(Slow, Raw)> = Vec::new();
    for kind in kinds {
        for _ in 0..EACH {
            let c = match kind {
                Slow::Silent => Raw::connect(t.port()),
                Slow::AfterEhlo | Slow::Dribble => Raw::open(t.port()),
                Slow::Partial => {
                    let mut c = Raw::open(t.port());
                    c.send(b"MAIL FROM:<slow@exa");
                    c
                }
                Slow::InData | Slow::DribbleData => {
                    let mut c = Raw::open(t.port());
                    c.cmd("MAIL FROM:<slow@example.org>\r\n").unwrap();
                    c.cmd("RCPT TO:<alice@localhost>\r\n").unwrap();
                    assert_eq!(c.cmd("DATA\r\n").unwrap().0, 354);
                    c.send(b"Subject: slow\r\n");
                    c
                }
            };
            conns.push((kind, c));
        }
    }
    let opened = Instant::now();
    // The dribblers: one byte each every DRIBBLE until the server closes
    // (a write fails) or the bound passes.
    let writers: Vec<TcpStream> = conns
        .iter()
        .filter(|(k, _)| matches!(k, Slow::Dribble | Slow::DribbleData))
        .map(|(_, c)| c.w.try_clone().unwrap())
        .collect();
    // Long enough for every io_timeout to pass three times over.
    let deadline = opened + Duration::from_secs(3 * io_timeout + 2);
    let dribbler = std::thread::spawn(move || {
        let mut open = writers;
        while !open.is_empty() && Instant::now() < deadline {
            open.retain_mut(|w| w.write_all(b"z").is_ok());
            std::thread::sleep(DRIBBLE);
        }
        open.len()
    });
    // A legitimate client while they are all open.
    let during = t.legit("legit-during-loris");
    let rss_during = rss_kb(t.pid);
    // Watch every connection until the server closes it or the deadline
    // passes; what it said last must be the timeout.
    let mut watched: Vec<(Slow, Raw, Vec<u8>, bool)> = conns
        .into_iter()
        .map(|(k, c)| {
            c.r.get_ref().set_nonblocking(true).unwrap();
            let seen = c.r.buffer().to_vec();
            (k, c, seen, false)
        })
        .collect();
    while Instant::now() < deadline && watched.iter().any(|w| !w.3) {
        for (_, c, got, eof) in watched.iter_mut().filter(|w| !w.3) {
            let mut buf = [0u8; 4096];
            match c.r.get_mut().read(&mut buf) {
                Ok(0) => *eof = true,
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(_) => *eof = true,
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut timed_out = std::collections::BTreeMap::<String, usize>::new();
    let mut other = Vec::new();
    for (kind, _, got, eof) in &watched {
        let text = String::from_utf8_lossy(got);
        let last = text.lines().last().unwrap_or("");
        if *eof && last.starts_with("421 4.4.2") {
            *timed_out.entry(format!("{kind:?}")).or_default() += 1;
        } else {
            other.push(format!("{kind:?}: {text:?} closed={eof}"));
        }
    }
    let still_open = dribbler.join().unwrap();
    let total: usize = timed_out.values().sum();
    let per_kind: Vec<String> = timed_out.iter().map(|(k, n)| format!("{k}:{n}")).collect();
    t.finish(
        "slow_loris",
        &format!(
            "connections={} io_timeout={io_timeout}s closed_421={total} ({}) left_open={} \
             legit_during={during} rss_kb_during={rss_during}",
            kinds.len() * EACH,
            per_kind.join(","),
            other.len(),
        ),
    );
    assert_eq!(during, 250);
    assert!(
        other.is_empty(),
        "{} not closed by io_timeout: {:#?}",
        other.len(),
        &other[..other.len().min(5)]
    );
    assert_eq!(total, kinds.len() * EACH);
    // The dribblers' writes fail once the server has closed them.
    assert_eq!(still_open, 0);
    assert_eq!(t.smx.count(": from=<slow@example.org>,"), 0);
}

// ---------------------------------------------------------------------
// 2,000 concurrent connections.
// ---------------------------------------------------------------------

/// Raises this process's RLIMIT_NOFILE soft limit to the hard limit (the
/// MCP and smtps inherit it); false (a loud failure in CI) when even the
/// hard limit is below `need`.
fn enough_fds(need: u64) -> bool {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
    if soft < hard {
        setrlimit(Resource::RLIMIT_NOFILE, hard, hard).unwrap();
    }
    if hard < need {
        assert!(
            std::env::var_os("CI").is_none(),
            "RLIMIT_NOFILE hard limit {hard} < {need}"
        );
        eprintln!("SKIP: RLIMIT_NOFILE hard limit {hard} < {need}");
        return false;
    }
    true
}

/// Opens `n` connections and reads what each says first: `(held, refused)`
/// where held is greeted with 220 or still waiting, refused got 421.
fn open_many(port: u16, n: usize) -> (Vec<Raw>, usize, usize, usize) {
    let conns: Vec<Raw> = (0..n).map(|_| Raw::connect(port)).collect();
    let (mut greeted, mut waiting, mut refused) = (0, 0, 0);
    let mut held = Vec::new();
    for mut c in conns {
        c.r.get_ref()
            .set_read_timeout(Some(Duration::from_secs(2)))
            .unwrap();
        match c.reply() {
            Some((220, _)) => {
                greeted += 1;
                held.push(c);
            }
            Some((421, _)) => refused += 1,
            Some(other) => panic!("unexpected first reply {other:?}"),
            None => {
                waiting += 1;
                held.push(c);
            }
        }
    }
    (held, greeted, waiting, refused)
}

#[test]
fn concurrent_connections() {
    const N: usize = 2000;
    if !enough_fds(3 * N as u64 + 1000) {
        return;
    }
    let t = Target::start("concurrent", "max_threads = 2500;");
    let (held, greeted, waiting, refused) = open_many(t.port(), N);
    // A legitimate client while all of them are open.
    let during = t.legit("legit-during-2000");
    let rss_open = rss_kb(t.pid);
    // Every held session still answers.
    let mut answering = 0;
    for mut c in held {
        if c.cmd("NOOP\r\n").map(|r| r.0) == Some(250) {
            answering += 1;
        }
    }
    t.finish(
        "concurrent_connections",
        &format!(
            "connections={N} max_threads=2500 held={} (greeted={greeted} waiting={waiting}) \
             refused_421={refused} answering_noop={answering} legit_during={during} \
             rss_kb_open={rss_open}",
            greeted + waiting
        ),
    );
    assert_eq!(greeted + waiting + refused, N);
    assert_eq!(greeted, N);
    assert_eq!(answering, N);
    assert_eq!(during, 250);
}

/// Beyond `max_threads` (default 256) sessions are refused with
/// `421 4.3.2`; once the held ones leave, the server serves again.
#[test]
fn connections_beyond_max_threads() {
    const N: usize = 2000;
    if !enough_fds(3 * N as u64 + 1000) {
        return;
    }
    let t = Target::start("max-threads", "");
    let (held, greeted, waiting, refused) = open_many(t.port(), N);
    // The limit is full: a legitimate client is refused like the rest.
    let during = {
        let mut c = Raw::connect(t.port());
        label(c.reply().as_ref())
    };
    let rss_open = rss_kb(t.pid);
    drop(held);
    // The sessions end as the server reads their end of stream; wait
    // (bounded) until a slot is free again.
    let deadline = Instant::now() + BOUND;
    while t.legit("legit-after-max-threads") != 250 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    t.finish(
        "connections_beyond_max_threads",
        &format!(
            "connections={N} max_threads=256 held={} (greeted={greeted} waiting={waiting}) \
             refused_421={refused} legit_during={} rss_kb_open={rss_open}",
            greeted + waiting,
            during.replace(' ', "_")
        ),
    );
    assert_eq!(greeted + waiting + refused, N);
    assert_eq!(greeted, 256);
    assert_eq!(refused, N - 256);
    assert_eq!(during, "421 4.3.2");
}

// ---------------------------------------------------------------------
// smtps out of file descriptors.
// ---------------------------------------------------------------------

/// Reads, without blocking, whatever each connection says within
/// `window`: the bytes per connection.
fn first_words(conns: &mut [Raw], window: Duration) -> Vec<Vec<u8>> {
    let mut got = vec![Vec::new(); conns.len()];
    for c in conns.iter() {
        c.r.get_ref().set_nonblocking(true).unwrap();
    }
    let until = Instant::now() + window;
    while Instant::now() < until {
        for (c, g) in conns.iter_mut().zip(got.iter_mut()) {
            let mut buf = [0u8; 512];
            if let Ok(n) = c.r.get_mut().read(&mut buf) {
                g.extend_from_slice(&buf[..n]);
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    got
}

/// smtps limited to a few file descriptors (`prlimit`): connections
/// beyond wait in the listen queue, the accept loop neither spins nor
/// floods the log, and once the clients leave the server serves again.
#[test]
fn out_of_descriptors() {
    const N: usize = 100;
    let t = Target::start("fds", "max_threads = 1000;");
    let used = std::fs::read_dir(format!("/proc/{}/fd", t.pid))
        .unwrap()
        .count();
    let limit = used + 20;
    let ok = std::process::Command::new("prlimit")
        .arg(format!("--pid={}", t.pid))
        .arg(format!("--nofile={limit}:{limit}"))
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "prlimit (util-linux) failed"
        );
        eprintln!("SKIP: prlimit (util-linux) is not usable");
        return;
    }
    let started = Instant::now();
    let mut conns: Vec<Raw> = (0..N).map(|_| Raw::connect(t.port())).collect();
    let words = first_words(&mut conns, Duration::from_secs(2));
    let greeted = words.iter().filter(|w| w.starts_with(b"220 ")).count();
    let waiting = words.iter().filter(|w| w.is_empty()).count();
    drop(conns);
    let deadline = Instant::now() + BOUND;
    let mut served = t.legit("legit-after-fds");
    while served != 250 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
        served = t.legit("legit-after-fds");
    }
    let secs = started.elapsed().as_secs() + 1;
    let logged = t.smx.count("smtps: accept:");
    t.finish(
        "out_of_descriptors",
        &format!(
            "connections={N} nofile={limit} greeted={greeted} waiting={waiting} \
             accept_errors_logged={logged} in_secs={secs}"
        ),
    );
    assert_eq!(greeted + waiting, N, "{words:?}");
    assert!(waiting > 0, "the limit was not reached");
    // At most one line a second (a spinning accept loop logs ~10^5 a second).
    assert!(
        logged as u64 <= secs + 1,
        "{logged} accept lines in {secs} s"
    );
}

/// The "no restart" check of every test is not vacuous: a killed smtps
/// is seen in the MCP log and in `mcp.status`.
#[test]
fn a_restart_is_seen() {
    let t = Target::start("restart-seen", "");
    assert_eq!(t.restarts(), 0);
    assert!(t.smx.sigkill(t.pid));
    t.smx
        .wait_for("accepting connections", 2, Duration::from_secs(30));
    assert!(t.restarts() >= 2, "{}", t.smx.log());
}

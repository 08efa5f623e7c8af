//! Runs the SMTP dialogue transcripts of `tests/dialogues/*.txt` against
//! `smtps::serve` over an in-memory pipe, with an in-memory backend.
//!
//! Transcript lines:
//! - `# text`: comment; `# conf: ...` the body of the `smtps { }` section;
//!   `# peer: name` the client's name (`blocked.example` is refused);
//!   `# budget: N` the octets of content the backend lets sessions hold
//!   (`smtps::budget`; none by default).
//! - `C: text`: a command line, CRLF appended. Consecutive `C:`/`C-RAW:`
//!   lines are sent in one write (pipelining).
//! - `C-RAW: bytes`: raw bytes, nothing appended; escapes `\r \n \t \\ \xNN`.
//! - `C-EARLY: bytes`: raw bytes written before the server starts.
//! - `C-CLOSE`: the client closes its side.
//! - `S: text`: the next reply line, exactly; a trailing `*` matches any rest.
//! - `S-CLOSE`: the server closes the connection (nothing more is sent).
//! - `E: ...`: checks on the backend after the session, run in order:
//!   `messages = N`, `mails = N`, `message N contains|lacks|ends TEXT`,
//!   `envelope N has TEXT` (in the envelope's `Debug` form),
//!   `logged TEXT` / `not-logged TEXT`: some line / no line the session
//!   logged (at any level up to 10) contains TEXT.
//!
//! Both kinds of text accept `{{c*N}}` for `c` repeated N times.
//!
//! The backend accepts any sender but `@spammer.example` (550 5.7.1) and
//! `@tempfail.example` (451 4.7.1); recipients `<Postmaster>` and
//! `@local.example`, except `unknown@` (550 5.1.1) and `busy@` (452 4.2.2);
//! others get `550 5.7.1`. `deliver` fails with 451 4.3.0 for `dbfail@`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use smxd::smtps::address::{ForwardPath, MailParams, RcptParams, ReversePath};
use smxd::smtps::budget::ContentBudget;
use smxd::smtps::{serve, Backend, Envelope, Peer, Reply, SessionInfo, Verdict};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

const HOST: &str = "mx.test.example";

#[derive(Default)]
struct TestBackend {
    mails: Mutex<usize>,
    messages: Mutex<Vec<(Envelope, Vec<u8>)>>,
    logged: Mutex<Vec<String>>,
    budget: Option<Arc<ContentBudget>>,
}

fn local_of(p: &ForwardPath) -> Option<(&str, &str)> {
    match p {
        ForwardPath::Postmaster => None,
        ForwardPath::Mailbox(m) => Some((m.local_part.as_str(), m.domain.as_str())),
    }
}

impl Backend for TestBackend {
    fn logs(&self, level: u64) -> bool {
        level <= 10
    }
    fn log(&self, _level: u64, line: &str) {
        self.logged.lock().unwrap().push(line.to_string());
    }
    fn content_budget(&self) -> Option<Arc<ContentBudget>> {
        self.budget.clone()
    }
    async fn connect(&self, peer: &Peer) -> Verdict {
        if peer.name.as_deref() == Some("blocked.example") {
            return Verdict::Reject(Reply::new(554, "5.7.1", "Access denied"));
        }
        Verdict::Accept
    }
    async fn mail(&self, _: &SessionInfo, from: &ReversePath, _: &MailParams) -> Verdict {
        let domain = from.0.as_ref().map(|m| m.domain.to_ascii_lowercase());
        match domain.as_deref() {
            Some("spammer.example") => Verdict::Reject(Reply::new(550, "5.7.1", "Sender rejected")),
            Some("tempfail.example") => {
                Verdict::Reject(Reply::new(451, "4.7.1", "Try again later"))
            }
            _ => {
                *self.mails.lock().unwrap() += 1;
                Verdict::Accept
            }
        }
    }
    async fn rcpt(&self, _: &SessionInfo, to: &ForwardPath, _: &RcptParams) -> Verdict {
        match local_of(to) {
            None => Verdict::Accept,
            Some((l, d))
                if d.eq_ignore_ascii_case("local.example") || d == "lokal.bücher.example" =>
            {
                match l {
                    "unknown" => Verdict::Reject(Reply::new(550, "5.1.1", "User unknown")),
                    "busy" => Verdict::Reject(Reply::new(452, "4.2.2", "Mailbox full")),
                    _ => Verdict::Accept,
                }
            }
            Some(_) => Verdict::Reject(Reply::new(550, "5.7.1", "Relaying denied")),
        }
    }
    async fn deliver(&self, envelope: &Envelope, content: Vec<u8>) -> Result<String, Reply> {
        if envelope
            .recipients
            .iter()
            .any(|r| local_of(&r.path).is_some_and(|(l, _)| l == "dbfail"))
        {
            return Err(Reply::new(451, "4.3.0", "Queue write failed"));
        }
        let mut m = self.messages.lock().unwrap();
        m.push((envelope.clone(), content));
        Ok(format!("Q{}", m.len()))
    }
}

/// `{{c*N}}` repetition, then (raw only) backslash escapes.
fn expand(text: &str, raw: bool) -> Vec<u8> {
    let mut s = String::new();
    let mut rest = text;
    while let Some(i) = rest.find("{{") {
        s.push_str(&rest[..i]);
        let end = rest[i..].find("}}").map(|e| e + i).expect("unclosed {{");
        let (c, n) = rest[i + 2..end].split_once('*').expect("{{c*N}}");
        s.push_str(&c.repeat(n.parse().expect("count")));
        rest = &rest[end + 2..];
    }
    s.push_str(rest);
    if !raw {
        return s.into_bytes();
    }
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 1 < b.len() {
            match b[i + 1] {
                b'r' => out.push(b'\r'),
                b'n' => out.push(b'\n'),
                b't' => out.push(b'\t'),
                b'\\' => out.push(b'\\'),
                b'x' => {
                    let h = std::str::from_utf8(&b[i + 2..i + 4]).unwrap();
                    out.push(u8::from_str_radix(h, 16).unwrap());
                    i += 2;
                }
                c => panic!("bad escape \\{}", c as char),
            }
            i += 2;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

fn conf_of(body: &str) -> smx_grammar::config::SmtpsConf {
    let text = format!("smtps {{ {body} }}\n");
    let checked = smx_grammar::check_str("dialogue.conf", &text);
    let errors: Vec<_> = checked.errors().map(|d| format!("{d:?}")).collect();
    assert!(errors.is_empty(), "conf `{body}`: {errors:?}");
    let conf = checked.config.expect("config");
    conf.global
        .smtps
        .into_iter()
        .next()
        .expect("smtps section")
        .conf
}

async fn run_one(path: &Path) -> Result<(), String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let mut conf_body = String::new();
    let mut peer = Peer::default();
    let mut budget = None;
    for line in text.lines() {
        if let Some(n) = line.strip_prefix("# budget:") {
            budget = Some(ContentBudget::new(n.trim().parse().unwrap()));
        }
        if let Some(c) = line.strip_prefix("# conf:") {
            conf_body.push_str(c);
            conf_body.push(' ');
        } else if let Some(p) = line.strip_prefix("# peer:") {
            peer.name = Some(p.trim().to_string());
        }
    }
    let conf = Arc::new(conf_of(&conf_body));
    let backend = Arc::new(TestBackend {
        budget: budget.clone(),
        ..TestBackend::default()
    });
    let (client, server) = tokio::io::duplex(1 << 20);
    let (rd, mut wr) = tokio::io::split(client);
    let mut rd = BufReader::new(rd);
    for line in text.lines() {
        if let Some(e) = line.strip_prefix("C-EARLY: ") {
            wr.write_all(&expand(e, true)).await.unwrap();
        }
    }
    let server_task = {
        let (conf, backend) = (conf.clone(), backend.clone());
        tokio::spawn(async move { serve(server, peer, &conf, HOST, &*backend).await })
    };
    let mut pending: Vec<u8> = Vec::new();
    let mut lineno = 0;
    let mut checks = Vec::new();
    for line in text.lines() {
        lineno += 1;
        let at = |m: String| format!("line {lineno}: {m}");
        if line.starts_with('#') || line.trim().is_empty() || line.starts_with("C-EARLY: ") {
            continue;
        }
        if line == "C:" {
            pending.extend_from_slice(b"\r\n");
        } else if let Some(c) = line.strip_prefix("C: ") {
            pending.extend(expand(c, false));
            pending.extend_from_slice(b"\r\n");
        } else if let Some(c) = line.strip_prefix("C-RAW: ") {
            pending.extend(expand(c, true));
        } else if line == "C-CLOSE" {
            let _ = wr.write_all(&std::mem::take(&mut pending)).await;
            let _ = wr.shutdown().await;
        } else if let Some(want) = line.strip_prefix("S: ") {
            if !pending.is_empty() {
                let _ = wr.write_all(&std::mem::take(&mut pending)).await;
            }
            let mut got = String::new();
            match tokio::time::timeout(Duration::from_secs(10), rd.read_line(&mut got)).await {
                Err(_) => return Err(at(format!("timeout waiting for `{want}`"))),
                Ok(Err(e)) => return Err(at(format!("read error {e} waiting for `{want}`"))),
                Ok(Ok(0)) => return Err(at(format!("server closed, wanted `{want}`"))),
                Ok(Ok(_)) => {}
            }
            let got = got
                .strip_suffix("\r\n")
                .ok_or_else(|| at(format!("reply `{got}` without CRLF")))?;
            let ok = match want.strip_suffix('*') {
                Some(prefix) => got.starts_with(prefix),
                None => got == want,
            };
            if !ok {
                return Err(at(format!("wanted `{want}`, got `{got}`")));
            }
        } else if line == "S-CLOSE" {
            if !pending.is_empty() {
                let _ = wr.write_all(&std::mem::take(&mut pending)).await;
            }
            let mut rest = Vec::new();
            match tokio::time::timeout(Duration::from_secs(10), rd.read_to_end(&mut rest)).await {
                Err(_) => return Err(at("server did not close".into())),
                Ok(_) if !rest.is_empty() => {
                    return Err(at(format!(
                        "more replies before close: {:?}",
                        String::from_utf8_lossy(&rest)
                    )))
                }
                Ok(_) => {}
            }
        } else if let Some(e) = line.strip_prefix("E: ") {
            checks.push((lineno, e.to_string()));
        } else {
            return Err(at(format!("unknown transcript line `{line}`")));
        }
    }
    if !pending.is_empty() {
        let _ = wr.write_all(&pending).await;
    }
    drop(wr);
    drop(rd);
    tokio::time::timeout(Duration::from_secs(10), server_task)
        .await
        .map_err(|_| "server did not finish".to_string())?
        .map_err(|e| format!("server panicked: {e}"))?;
    for (lineno, check) in checks {
        check_backend(&backend, &check).map_err(|m| format!("line {lineno}: `{check}`: {m}"))?;
    }
    // Every message gave its share of the budget back.
    if let Some(b) = budget {
        if b.used() != 0 {
            return Err(format!(
                "{} octets of the content budget still held",
                b.used()
            ));
        }
    }
    Ok(())
}

fn check_backend(b: &TestBackend, check: &str) -> Result<(), String> {
    for (word, want) in [("logged ", true), ("not-logged ", false)] {
        if let Some(text) = check.strip_prefix(word) {
            let logged = b.logged.lock().unwrap();
            return (logged.iter().any(|l| l.contains(text)) == want)
                .then_some(())
                .ok_or_else(|| format!("logged: {logged:#?}"));
        }
    }
    let msgs = b.messages.lock().unwrap();
    let words: Vec<&str> = check.splitn(4, ' ').collect();
    match words.as_slice() {
        ["messages", "=", n] => {
            let n: usize = n.parse().unwrap();
            (msgs.len() == n)
                .then_some(())
                .ok_or(format!("{} messages stored", msgs.len()))
        }
        ["mails", "=", n] => {
            let got = *b.mails.lock().unwrap();
            (got == n.parse::<usize>().unwrap())
                .then_some(())
                .ok_or(format!("{got} MAILs accepted"))
        }
        [what @ ("message" | "envelope"), n, op, arg] => {
            let i: usize = n.parse().unwrap();
            let (env, content) = msgs.get(i - 1).ok_or("no such message")?;
            let arg = expand(arg, true);
            let hay: Vec<u8> = if *what == "envelope" {
                format!("{env:?}").into_bytes()
            } else {
                content.clone()
            };
            let has = hay.windows(arg.len().max(1)).any(|w| w == arg.as_slice());
            let ok = match *op {
                "contains" | "has" => has,
                "lacks" => !has,
                "ends" => hay.ends_with(&arg),
                _ => return Err("unknown check".into()),
            };
            ok.then_some(())
                .ok_or_else(|| format!("stored: {:?}", String::from_utf8_lossy(&hay)))
        }
        _ => Err("unknown check".into()),
    }
}

fn transcripts() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/dialogues");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dialogues() {
    let files = transcripts();
    assert!(files.len() >= 60, "only {} transcripts", files.len());
    let only = std::env::var("DIALOGUE").ok();
    let mut tasks = Vec::new();
    for f in files {
        if only
            .as_deref()
            .is_some_and(|o| !f.to_string_lossy().contains(o))
        {
            continue;
        }
        tasks.push(tokio::spawn(async move {
            let r = run_one(&f).await;
            (f, r)
        }));
    }
    let mut failures = Vec::new();
    for t in tasks {
        let (f, r) = t.await.unwrap();
        if let Err(e) = r {
            failures.push(format!("{}: {e}", f.file_name().unwrap().to_string_lossy()));
        }
    }
    assert!(
        failures.is_empty(),
        "{} failing:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

//! Delivery end to end (issue 5), through the real binaries started by
//! the MCP: swaks → smtps → qmgr → smar → smtpc → next hop.
//!
//! - relay to Postfix's smtp-sink (mailertable `port^esmtp:[127.0.0.1]`,
//!   relaying allowed by a `cltaddr:` access-map entry) and local delivery
//!   through lmtpl into a Maildir, in one message;
//! - retry: a next hop that answers 451 to the first attempts gets the
//!   message later (retry delays of a second);
//! - bounce: a next hop that answers 550 makes an RFC 3464 bounce that
//!   reaches the (local) sender's Maildir and that mail-parser reads back;
//! - aliases: a nested alias and an `owner-` list.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::dns::{Answer, DnsServer, RecordType};
use common::{free_port, read_data, Smx, TestDir};
use mail_parser::MimeHeaders;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Waits until `f` gives something, or fails with `what` and the log.
fn wait_until<T>(smx: &Smx, what: &str, limit: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: not within {limit:?}\n{}",
            smx.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The files in a Maildir's `new/`, read.
fn maildir(dir: &Path) -> Vec<String> {
    let Ok(rd) = std::fs::read_dir(dir.join("new")) else {
        return Vec::new();
    };
    let mut v: Vec<(PathBuf, String)> = rd
        .flatten()
        .map(|e| {
            (
                e.path(),
                std::fs::read_to_string(e.path()).unwrap_or_default(),
            )
        })
        .collect();
    v.sort();
    v.into_iter().map(|(_, t)| t).collect()
}

fn swaks(port: u16, from: &str, to: &str, body: &str) -> (bool, String) {
    let out = Command::new("swaks")
        .args(["--server", &format!("127.0.0.1:{port}")])
        .args(["--from", from, "--to", to])
        .args(["--helo", "client.example", "--body", body])
        .args(["--timeout", "20"])
        .stdin(Stdio::null())
        .output()
        .expect("swaks is installed (apt-get install swaks)");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    (out.status.success(), text)
}

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Postfix's smtp-sink on a free port, appending every message to `dump`.
struct SmtpSink {
    child: std::process::Child,
    port: u16,
    dump: PathBuf,
}

impl SmtpSink {
    fn start(dir: &Path) -> SmtpSink {
        use std::os::unix::fs::PermissionsExt;
        let sub = dir.join("sink");
        std::fs::create_dir_all(&sub).unwrap();
        std::fs::set_permissions(&sub, std::fs::Permissions::from_mode(0o777)).unwrap();
        let dump = sub.join("dump");
        let port = free_port();
        let mut cmd = Command::new("/usr/sbin/smtp-sink");
        if is_root() {
            cmd.args(["-u", "nobody"]);
        }
        let child = cmd
            .arg("-D")
            .arg(&dump)
            .arg(format!("127.0.0.1:{port}"))
            .arg("10")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("smtp-sink is installed (apt-get install postfix)");
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "smtp-sink does not listen");
            std::thread::sleep(Duration::from_millis(50));
        }
        SmtpSink { child, port, dump }
    }

    fn text(&self) -> String {
        std::fs::read_to_string(&self.dump).unwrap_or_default()
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A scripted next hop: RCPT is answered by `rcpt(address, attempt)`
/// (attempt counts the RCPTs for that address so far, from 1); accepted
/// messages are recorded as (recipients, data).
struct Scripted {
    port: u16,
    got: Arc<Mutex<Vec<Received>>>,
}

/// A message a scripted next hop accepted: recipients, data.
type Received = (Vec<String>, String);

impl Scripted {
    fn start(rcpt: fn(&str, usize) -> &'static str) -> Scripted {
        Scripted::start_on(TcpListener::bind("127.0.0.1:0").unwrap(), rcpt)
    }

    fn start_on(l: TcpListener, rcpt: fn(&str, usize) -> &'static str) -> Scripted {
        let port = l.local_addr().unwrap().port();
        let got = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::new(Mutex::new(std::collections::HashMap::<String, usize>::new()));
        let g = got.clone();
        std::thread::spawn(move || {
            for s in l.incoming().flatten() {
                let g = g.clone();
                let seen = seen.clone();
                std::thread::spawn(move || {
                    let _ = serve(s, rcpt, &g, &seen);
                });
            }
        });
        Scripted { port, got }
    }

    fn messages(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }
}

type Seen = Mutex<std::collections::HashMap<String, usize>>;

fn serve(
    s: TcpStream,
    rcpt: fn(&str, usize) -> &'static str,
    got: &Mutex<Vec<Received>>,
    seen: &Seen,
) -> std::io::Result<()> {
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut w = s.try_clone()?;
    let mut r = BufReader::new(s);
    w.write_all(b"220 scripted.test ESMTP\r\n")?;
    let mut rcpts = Vec::new();
    loop {
        let mut line = String::new();
        if r.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let upper = line.to_ascii_uppercase();
        if upper.starts_with("EHLO") {
            w.write_all(b"250-scripted.test\r\n250 ENHANCEDSTATUSCODES\r\n")?;
        } else if upper.starts_with("MAIL") {
            rcpts.clear();
            w.write_all(b"250 2.1.0 ok\r\n")?;
        } else if upper.starts_with("RCPT") {
            let addr = line
                .split('<')
                .nth(1)
                .and_then(|x| x.split('>').next())
                .unwrap_or("")
                .to_string();
            let n = {
                let mut m = seen.lock().unwrap();
                let n = m.entry(addr.clone()).or_insert(0);
                *n += 1;
                *n
            };
            let reply = rcpt(&addr, n);
            if reply.starts_with('2') {
                rcpts.push(addr);
            }
            w.write_all(format!("{reply}\r\n").as_bytes())?;
        } else if upper.starts_with("DATA") {
            if rcpts.is_empty() {
                w.write_all(b"554 5.5.1 no valid recipients\r\n")?;
                continue;
            }
            w.write_all(b"354 go\r\n")?;
            let Some(data) = read_data(&mut r)? else {
                return Ok(());
            };
            got.lock().unwrap().push((rcpts.clone(), data));
            w.write_all(b"250 2.0.0 queued\r\n")?;
        } else if upper.starts_with("QUIT") {
            w.write_all(b"221 2.0.0 bye\r\n")?;
            return Ok(());
        } else {
            w.write_all(b"250 2.0.0 ok\r\n")?;
        }
    }
}

/// smxd with `extra`, relaying (access map) to `domain` on 127.0.0.1:`port`;
/// the senders' domain example.org is routable, localhost and our host
/// name are local.
fn start_relaying(dir: &Path, extra: &str, domain: &str, port: u16) -> Smx {
    let mt = format!(
        "example.org 9^esmtp:[127.0.0.1]\nlocalhost lmtp:\nmx.example.test lmtp:\n\
         {domain} {port}^esmtp:[127.0.0.1]\n"
    );
    Smx::start_with(dir, &mt, extra, "flags = { access };")
}

fn base_conf(dir: &Path) -> String {
    base_conf_with(dir, "")
}

/// [`base_conf`] with more options for `smar { }`.
fn base_conf_with(dir: &Path, smar: &str) -> String {
    std::fs::write(
        dir.join("users"),
        "alice local:\nbob local:\npostmaster local:\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("aliases"),
        "team: <carol@remote.test> <staff@localhost>\nstaff: bob\n\
         list: <alice@localhost> <bob@localhost>\nowner-list: alice\n\
         mixed: <user@mxtest.test> <user@bad.test>\n",
    )
    .unwrap();
    common::access_map(
        dir,
        &[(
            "mxbadip:127.0.0.5",
            "error:551 5.7.1 Bad IP address in MX/A list",
        )],
    );
    "qmgr { retry_min_delay = 1s; retry_max_delay = 2s; }
     smar { SMAR_EXTRA
       map users { type = texthash; file = \"users\"; }
       local_user_map { name = users; flags = { implicitly_match_detail }; }
       map al { type = texthash; file = \"aliases\"; }
       aliases { name = al; flags = { localpart }; }
       access_map { file = \"access.db\"; }
     }
     lmtpl { }"
        .replace("SMAR_EXTRA", smar)
}

#[test]
fn relays_to_smtp_sink_and_delivers_locally_into_maildir() {
    let dir = TestDir::new("deliver");
    let sink = SmtpSink::start(&dir.0);
    let extra = base_conf(&dir.0);
    let smx = start_relaying(&dir.0, &extra, "sink.test", sink.port);
    let (ok, out) = swaks(
        smx.port,
        "sender@example.org",
        "bob@sink.test,alice@localhost",
        "hello through smx",
    );
    assert!(ok, "{out}\n{}", smx.log());
    let text = wait_until(
        &smx,
        "smtp-sink got the message",
        Duration::from_secs(30),
        || Some(sink.text()).filter(|t| t.contains("hello through smx")),
    );
    assert!(text.contains("X-Rcpt-Args: <bob@sink.test>"), "{text}");
    assert!(text.contains("Received: from client.example"), "{text}");
    let alice = smx.queue_dir().join("mail/alice/Maildir");
    let mails = wait_until(&smx, "alice's Maildir", Duration::from_secs(30), || {
        Some(maildir(&alice)).filter(|m| !m.is_empty())
    });
    assert!(mails[0].contains("hello through smx"), "{}", mails[0]);
    assert!(
        mails[0].starts_with("Return-Path: <sender@example.org>"),
        "{}",
        mails[0]
    );
    smx.wait_for("status=sent", 2, Duration::from_secs(10));
    let log = smx.log();
    assert!(log.contains("to=<bob@sink.test>, relay="), "{log}");
    // Both recipients final: the content file and the envelope are gone.
    smx.wait_for(": removed", 1, Duration::from_secs(10));
}

#[test]
fn a_next_hop_answering_451_gets_the_message_on_a_later_try() {
    let dir = TestDir::new("retry");
    let next = Scripted::start(|_, n| {
        if n <= 2 {
            "451 4.3.0 try again later"
        } else {
            "250 2.1.5 ok"
        }
    });
    let extra = base_conf(&dir.0);
    let smx = start_relaying(&dir.0, &extra, "flaky.test", next.port);
    let (ok, out) = swaks(
        smx.port,
        "sender@example.org",
        "user@flaky.test",
        "retried body",
    );
    assert!(ok, "{out}\n{}", smx.log());
    let got = wait_until(&smx, "the third attempt", Duration::from_secs(40), || {
        Some(next.messages()).filter(|m| !m.is_empty())
    });
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].0, ["user@flaky.test"]);
    assert!(got[0].1.contains("retried body"));
    // The next hop has the message before smtpc has its 250 and the QMGR
    // has logged it.
    smx.wait_for("status=sent", 1, Duration::from_secs(20));
    let log = smx.log();
    assert_eq!(log.matches("tries=").count(), 3, "{log}");
    assert!(
        log.contains("tries=1, status=deferred (451 4.3.0 try again later)"),
        "{log}"
    );
    assert!(log.contains("tries=3, status=sent"), "{log}");
}

#[test]
fn a_550_makes_an_rfc3464_bounce_that_reaches_the_sender() {
    let dir = TestDir::new("bounce");
    let next = Scripted::start(|a, _| {
        if a.starts_with("nobody") {
            "550 5.1.1 no such user here"
        } else {
            "250 2.1.5 ok"
        }
    });
    let extra = base_conf(&dir.0);
    let smx = start_relaying(&dir.0, &extra, "remote.test", next.port);
    let (ok, out) = swaks(
        smx.port,
        "alice@localhost",
        "nobody@remote.test,somebody@remote.test",
        "this will partly bounce",
    );
    assert!(ok, "{out}\n{}", smx.log());
    let alice = smx.queue_dir().join("mail/alice/Maildir");
    let mails = wait_until(
        &smx,
        "the bounce in alice's Maildir",
        Duration::from_secs(30),
        || Some(maildir(&alice)).filter(|m| !m.is_empty()),
    );
    let dsn = &mails[0];
    assert!(dsn.starts_with("Return-Path: <>"), "{dsn}");
    let msg = mail_parser::MessageParser::default()
        .parse(dsn.as_bytes())
        .unwrap();
    let ct = msg.content_type().unwrap();
    assert_eq!(ct.ctype(), "multipart");
    assert_eq!(ct.subtype(), Some("report"));
    assert_eq!(ct.attribute("report-type"), Some("delivery-status"));
    let status = msg
        .parts
        .iter()
        .find(|p| {
            p.content_type()
                .is_some_and(|c| c.subtype() == Some("delivery-status"))
        })
        .expect("a message/delivery-status part");
    let body = String::from_utf8_lossy(status.contents()).into_owned();
    assert!(
        body.contains("Final-Recipient: rfc822; nobody@remote.test"),
        "{body}"
    );
    assert!(body.contains("Remote-MTA: dns; [127.0.0.1]\n"), "{body}");
    assert!(body.contains("Action: failed"), "{body}");
    assert!(body.contains("Status: 5.1.1"), "{body}");
    assert!(body.contains("550 5.1.1 no such user here"), "{body}");
    assert!(!body.contains("somebody@remote.test"), "{body}");
    // The other recipient was delivered once.
    let got = next.messages();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].0, ["somebody@remote.test"]);
}

#[test]
fn aliases_expand_nested_and_owner_lists_set_the_sender() {
    let dir = TestDir::new("aliases");
    let next = Scripted::start(|_, _| "250 2.1.5 ok");
    let extra = base_conf(&dir.0);
    let smx = start_relaying(&dir.0, &extra, "remote.test", next.port);
    let (ok, out) = swaks(
        smx.port,
        "sender@example.org",
        "team@localhost",
        "to the team",
    );
    assert!(ok, "{out}\n{}", smx.log());
    let bob = smx.queue_dir().join("mail/bob/Maildir");
    let mails = wait_until(
        &smx,
        "bob's copy (team -> staff -> bob)",
        Duration::from_secs(30),
        || Some(maildir(&bob)).filter(|m| !m.is_empty()),
    );
    assert!(mails[0].contains("to the team"));
    let got = wait_until(&smx, "carol's copy", Duration::from_secs(30), || {
        Some(next.messages()).filter(|m| !m.is_empty())
    });
    assert_eq!(got[0].0, ["carol@remote.test"]);
    let (ok, out) = swaks(
        smx.port,
        "sender@example.org",
        "list@localhost",
        "to the list",
    );
    assert!(ok, "{out}\n{}", smx.log());
    let alice = smx.queue_dir().join("mail/alice/Maildir");
    let mails = wait_until(&smx, "alice's list copy", Duration::from_secs(30), || {
        Some(maildir(&alice)).filter(|m| !m.is_empty())
    });
    // owner-list exists: list mail goes out with it as envelope sender,
    // so bounces go to the list owner rather than the poster (§3.9.2).
    assert!(
        mails[0].starts_with("Return-Path: <owner-list@localhost>"),
        "{}",
        mails[0]
    );
    // Logged once lmtpl has answered, which is after the Maildir write.
    smx.wait_for("orig_to=<team@localhost>", 1, Duration::from_secs(20));
}

fn mx_zone(name: &str, t: RecordType) -> Answer {
    match (name, t) {
        ("mxtest.test.", RecordType::MX) => Answer::Mx(vec![
            (20, "backup.mxtest.test."),
            (10, "primary.mxtest.test."),
        ]),
        ("primary.mxtest.test.", RecordType::A) => Answer::A(vec![[127, 0, 0, 2].into()]),
        ("backup.mxtest.test.", RecordType::A) => Answer::A(vec![[127, 0, 0, 3].into()]),
        ("up.test.", RecordType::MX) => {
            Answer::Mx(vec![(20, "backup.mxtest.test."), (10, "primary.up.test.")])
        }
        ("primary.up.test.", RecordType::A) => Answer::A(vec![[127, 0, 0, 4].into()]),
        ("bad.test.", RecordType::MX) => Answer::Mx(vec![(10, "loop.bad.test.")]),
        ("loop.bad.test.", RecordType::A) => Answer::A(vec![[127, 0, 0, 5].into()]),
        (_, RecordType::A | RecordType::MX) => Answer::NxDomain,
        _ => Answer::A(vec![]),
    }
}

/// MX routing through the real binaries with a test DNS zone: for
/// mxtest.test the primary MX (preference 10) is down, so the backup (20)
/// gets the mail; for up.test, whose primary is up, the primary gets it.
/// MX hosts are on port 25 (127.0.0.2 to .4), which needs root.
#[test]
fn mx_routing_in_preference_order_fails_over_to_the_second_mx() {
    if !is_root() {
        assert!(
            std::env::var_os("CI").is_none(),
            "this test binds port 25 and must run as root in CI"
        );
        eprintln!("SKIP: mx_routing needs root to bind port 25");
        return;
    }
    let dir = TestDir::new("mx");
    let dns = DnsServer::start(mx_zone);
    let backup = Scripted::start_on(TcpListener::bind("127.0.0.3:25").unwrap(), |_, _| {
        "250 2.1.5 ok"
    });
    let extra = base_conf_with(
        &dir.0,
        &format!("nameserver = {}; DNS_timeout = 2s;", dns.addr),
    );
    let smx = Smx::start_with(
        &dir.0,
        "example.org 9^esmtp:[127.0.0.1]\nlocalhost lmtp:\n",
        &extra,
        "flags = { access };",
    );
    let (ok, out) = swaks(
        smx.port,
        "sender@example.org",
        "user@mxtest.test",
        "via the backup MX",
    );
    assert!(ok, "{out}\n{}", smx.log());
    let got = wait_until(
        &smx,
        "the backup MX got it",
        Duration::from_secs(30),
        || Some(backup.messages()).filter(|m| !m.is_empty()),
    );
    assert_eq!(got[0].0, ["user@mxtest.test"]);
    // Logged once the backup's 250 is back, which is after it has the data.
    smx.wait_for(
        "relay=backup.mxtest.test[127.0.0.3]:25",
        1,
        Duration::from_secs(20),
    );
    let log = smx.log();
    assert!(
        log.contains("127.0.0.2:25"),
        "the primary was tried first:\n{log}"
    );
    // A domain whose primary is up: preference order sends it there.
    let primary = Scripted::start_on(TcpListener::bind("127.0.0.4:25").unwrap(), |_, _| {
        "250 2.1.5 ok"
    });
    let (ok, out) = swaks(
        smx.port,
        "sender@example.org",
        "other@up.test",
        "via the primary",
    );
    assert!(ok, "{out}\n{}", smx.log());
    let got = wait_until(
        &smx,
        "the primary MX got it",
        Duration::from_secs(30),
        || Some(primary.messages()).filter(|m| !m.is_empty()),
    );
    assert_eq!(got[0].0, ["other@up.test"]);
    assert_eq!(backup.messages().len(), 1);

    // An MX pointing at an address the access map lists as mxbadip: is
    // not used; in an alias expansion only that member bounces.
    let (ok, out) = swaks(smx.port, "alice@localhost", "mixed@localhost", "mixed list");
    assert!(ok, "{out}\n{}", smx.log());
    let alice = smx.queue_dir().join("mail/alice/Maildir");
    let bounce = wait_until(
        &smx,
        "the bounce for user@bad.test",
        Duration::from_secs(30),
        || {
            maildir(&alice)
                .into_iter()
                .find(|m| m.contains("user@bad.test"))
        },
    );
    assert!(
        bounce.contains("551 5.7.1 Bad IP address in MX/A list"),
        "{bounce}"
    );
    let got = wait_until(&smx, "the good member", Duration::from_secs(30), || {
        Some(backup.messages()).filter(|m| m.len() == 2)
    });
    assert_eq!(got[1].0, ["user@mxtest.test"]);
}

/// Delivery to a real external LDA: mailertable `lmtp:` with smtpc's
/// `LMTP_socket` pointing at Dovecot's LMTP server.
#[test]
fn lmtp_delivery_to_dovecot() {
    let dir = TestDir::new("dovecot");
    let dovecot_dir = dir.0.join("dovecot");
    std::fs::create_dir_all(&dovecot_dir).unwrap();
    let Some(dovecot) = common::dovecot::Dovecot::start(&dovecot_dir) else {
        return;
    };
    let extra = format!(
        "smtpc {{ LMTP_socket = \"{}\"; }}",
        dovecot.socket().display()
    );
    let smx = Smx::start_with_mt(
        &dir.0,
        "example.org 9^esmtp:[127.0.0.1]\nlocalhost lmtp:\n",
        &extra,
    );
    let (ok, out) = swaks(
        smx.port,
        "sender@example.org",
        "dave@localhost,erin@localhost",
        "for dovecot",
    );
    assert!(ok, "{out}\n{}", smx.log());
    for user in ["dave", "erin"] {
        let mails = wait_until(
            &smx,
            &format!("{user}'s Dovecot Maildir"),
            Duration::from_secs(30),
            || Some(maildir(&dovecot.maildir(user))).filter(|m| !m.is_empty()),
        );
        assert_eq!(mails.len(), 1);
        assert!(mails[0].contains("for dovecot"), "{}", mails[0]);
    }
    smx.wait_for("status=sent", 2, Duration::from_secs(10));
}

/// Starts smxd on a copy of the shipped `etc/` in `dir` (another port,
/// then `edit` applied to smx.conf), its log in `dir/log`; returns the
/// port and the guard that stops it.
fn quick_start(dir: &Path, edit: impl Fn(String) -> String) -> (u16, Stop) {
    let etc = dir.join("etc");
    std::fs::create_dir_all(&etc).unwrap();
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("../etc");
    let port = free_port();
    for e in std::fs::read_dir(&shipped).unwrap().flatten() {
        let mut text = std::fs::read_to_string(e.path()).unwrap();
        text = text.replace("port = 2525;", &format!("port = {port};"));
        if e.file_name() == "smx.conf" {
            text = edit(text);
        }
        std::fs::write(etc.join(e.file_name()), text).unwrap();
    }
    let child = Command::new(env!("CARGO_BIN_EXE_smxd"))
        .arg("-f")
        .arg(etc.join("smx.conf"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("log")).unwrap())
        .spawn()
        .unwrap();
    let stop = Stop(child);
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "smxd does not listen on {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
    (port, stop)
}

/// The quick start of the README: the shipped `etc/` (with another port)
/// delivers `swaks --to alice@localhost` into alice's Maildir under `var/`.
#[test]
fn the_quick_start_configuration_delivers_to_alices_maildir() {
    let dir = TestDir::new("quickstart");
    let (port, _stop) = quick_start(&dir.0, |t| t);
    let (ok, out) = swaks(
        port,
        "someone@example.org",
        "alice@localhost",
        "quick start",
    );
    let alice = dir.0.join("var/mail/alice/Maildir");
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut mails = maildir(&alice);
    while mails.is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
        mails = maildir(&alice);
    }
    assert!(ok, "{out}");
    assert_eq!(mails.len(), 1, "nothing in {}", alice.display());
    assert!(mails[0].contains("quick start"), "{}", mails[0]);
    // As the README says: unknown local users and relaying are refused.
    let (ok, out) = swaks(port, "someone@example.org", "bob@localhost", "no such user");
    assert!(!ok && out.contains("550 5.1.1"), "{out}");
    let (ok, out) = swaks(port, "someone@example.org", "someone@example.com", "relay");
    assert!(!ok && out.contains("550 5.7.1"), "{out}");
}

/// The quick start installed as root with every component but lmtpl
/// under an unprivileged user (README §3.7 items 4 and 5): the MCP gives
/// the queue directory it creates to the QMGR's user, lmtpl gives its
/// socket to the SMTP client's group, and mail reaches alice's Maildir.
/// Needs root (as CI runs) and the user `nobody`.
#[test]
fn the_quick_start_runs_as_nobody_when_started_as_root() {
    let Some((var, _dir, _stop)) = quick_start_as(
        "quickstart-root",
        &[
            ("qmgr", "nobody"),
            ("smar", "nobody"),
            ("smtps", "nobody"),
            ("smtpc", "nobody"),
        ],
        None,
    ) else {
        return;
    };
    let nobody = user("nobody");
    let lmtp = std::fs::metadata(var.join("lmtpsock")).unwrap();
    assert_eq!((lmtp.uid(), lmtp.gid()), (0, nobody.gid.as_raw()));
}

/// The same with each component under a user of its own, all four in one
/// group (`group = nogroup`): the MCP makes the socket directories of the
/// queue it creates as README "Directories, Files, and Permissions" lays
/// them out (the QMGR's user, the group of the component at the other
/// end, setgid), the CDB directories are group-writable (0771) whatever
/// the umask, and IBDB stays the QMGR's alone. Needs root and the users
/// daemon, bin, nobody and sys of Debian's base system.
#[test]
fn the_quick_start_runs_as_four_users_of_one_group_when_started_as_root() {
    let Some((var, _dir, _stop)) = quick_start_as(
        "quickstart-users",
        &[
            ("qmgr", "daemon"),
            ("smar", "bin"),
            ("smtps", "nobody"),
            ("smtpc", "sys"),
        ],
        Some("nogroup"),
    ) else {
        return;
    };
    let (daemon, nogroup) = (user("daemon").uid.as_raw(), user("nobody").gid.as_raw());
    let meta = |p: &str| std::fs::metadata(var.join(p)).unwrap();
    for d in ["qmsmar", "qmsmtps", "qmsmtpc"] {
        let m = meta(d);
        assert_eq!(
            (m.uid(), m.gid(), m.mode() & 0o7777),
            (daemon, nogroup, 0o2770),
            "{d}"
        );
    }
    for d in ["0", "A", "F"] {
        assert_eq!(meta(d).mode() & 0o7777, 0o771, "{d}");
    }
    assert_eq!(
        (meta("ibdb").uid(), meta("ibdb").mode() & 0o777),
        (daemon, 0o700)
    );
}

fn user(name: &str) -> nix::unistd::User {
    nix::unistd::User::from_name(name)
        .unwrap()
        .unwrap_or_else(|| panic!("no user {name}"))
}

/// Runs the quick start as root with each `(section, user)` (and `group`
/// for all of them, if given), sends alice a message and checks that it
/// arrives, that the queue directory belongs to the QMGR's user and that
/// each component runs as its user; returns the queue directory, and the
/// test directory and smxd, to keep while the caller looks. Without root:
/// fails when `CI` is set, else skips (None).
fn quick_start_as(
    tag: &str,
    users: &[(&str, &str)],
    group: Option<&str>,
) -> Option<(PathBuf, TestDir, Stop)> {
    if !nix::unistd::Uid::effective().is_root() {
        assert!(std::env::var_os("CI").is_none(), "needs root");
        eprintln!("SKIPPED: needs root");
        return None;
    }
    let dir = TestDir::new(tag);
    let (port, stop) = quick_start(&dir.0, |t| {
        let mut t = t;
        for (section, name) in users {
            let section = format!("{section} {{");
            assert!(t.contains(&section), "{section} not in etc/smx.conf");
            let group = group.map_or(String::new(), |g| format!(" group = {g};"));
            t = t.replacen(
                &section,
                &format!("{section}\n    user = {name};{group}"),
                1,
            );
        }
        t
    });
    let var = dir.0.join("var");
    let (ok, out) = swaks(port, "someone@example.org", "alice@localhost", "as users");
    let log = || std::fs::read_to_string(dir.0.join("log")).unwrap_or_default();
    assert!(ok, "{out}\n{}", log());
    let alice = var.join("mail/alice/Maildir");
    let deadline = Instant::now() + Duration::from_secs(30);
    while maildir(&alice).is_empty() {
        assert!(Instant::now() < deadline, "nothing for alice:\n{}", log());
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(maildir(&alice)[0].contains("as users"));
    let qmgr = users
        .iter()
        .find(|(s, _)| *s == "qmgr")
        .map(|(_, u)| user(u));
    let qmgr = qmgr.expect("a qmgr user");
    assert_eq!(std::fs::metadata(&var).unwrap().uid(), qmgr.uid.as_raw());
    let log = log();
    assert!(
        log.contains(&format!("created for the qmgr's user {}", qmgr.name)),
        "{log}"
    );
    for (c, name) in users {
        let pid = log
            .lines()
            .find_map(|l| l.strip_prefix(&format!("mcp: started {c} pid=")))
            .unwrap_or_else(|| panic!("{c} not started:\n{log}"));
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        let uid = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
        let want = user(name).uid.to_string();
        assert!(
            uid.split_whitespace().nth(1) == Some(want.as_str()),
            "{c}: {uid}"
        );
    }
    Some((var, dir, stop))
}

/// Stops smxd (SIGTERM: the MCP stops its components) however the test ends.
struct Stop(std::process::Child);

impl Drop for Stop {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(i32::try_from(self.0.id()).unwrap_or(0)),
            nix::sys::signal::Signal::SIGTERM,
        );
        let _ = self.0.wait();
    }
}

/// A delay notice after `queue_delay_timeout`; the failures of a message
/// that still has recipients to try wait (`merge_delay_max`) and go out
/// in one report with the recipients that expired after
/// `queue_return_timeout`.
#[test]
fn delay_notice_then_one_merged_bounce_on_expiry() {
    let dir = TestDir::new("expiry");
    let next = Scripted::start(|a, _| {
        if a.starts_with("nobody") {
            "550 5.1.1 no such user here"
        } else {
            "451 4.2.0 mailbox busy"
        }
    });
    let extra = base_conf(&dir.0).replace(
        "qmgr { retry_min_delay = 1s; retry_max_delay = 2s; }",
        "qmgr { retry_min_delay = 1s; retry_max_delay = 1s;
                queue_delay_timeout = 2s; queue_return_timeout = 5s;
                DSN_handling { merge_delay_max = 1h; } }",
    );
    let smx = start_relaying(&dir.0, &extra, "remote.test", next.port);
    let (ok, out) = swaks(
        smx.port,
        "alice@localhost",
        "nobody@remote.test,later@remote.test",
        "slow and failing",
    );
    assert!(ok, "{out}\n{}", smx.log());
    let alice = smx.queue_dir().join("mail/alice/Maildir");
    let mails = wait_until(
        &smx,
        "a delay notice and a bounce",
        Duration::from_secs(40),
        || Some(maildir(&alice)).filter(|m| m.len() >= 2),
    );
    let delay = mails
        .iter()
        .find(|m| m.contains("Action: delayed"))
        .unwrap_or_else(|| panic!("no delay notice in {mails:?}"));
    assert!(delay.contains("later@remote.test"), "{delay}");
    assert!(delay.contains("Will-Retry-Until:"), "{delay}");
    assert!(
        !delay.contains("Final-Recipient: rfc822; nobody@"),
        "{delay}"
    );
    let bounce = mails
        .iter()
        .find(|m| m.contains("Action: failed"))
        .unwrap_or_else(|| panic!("no bounce in {mails:?}"));
    // One report for both: the early 550 waited for the expiry.
    assert!(
        bounce.contains("Final-Recipient: rfc822; nobody@remote.test"),
        "{bounce}"
    );
    assert!(
        bounce.contains("Final-Recipient: rfc822; later@remote.test"),
        "{bounce}"
    );
    assert!(bounce.contains("delivery time expired"), "{bounce}");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(maildir(&alice).len(), 2, "one delay notice, one bounce");
}

/// A bounce that cannot be delivered (its recipient, the original sender,
/// is refused) goes to postmaster; never to the null sender.
#[test]
fn a_failed_bounce_goes_to_postmaster() {
    let dir = TestDir::new("double");
    let next = Scripted::start(|_, _| "550 5.1.1 nobody here");
    let extra = base_conf(&dir.0);
    let smx = start_relaying(&dir.0, &extra, "reject.test", next.port);
    let (ok, out) = swaks(smx.port, "x@reject.test", "y@reject.test", "double bounce");
    assert!(ok, "{out}\n{}", smx.log());
    let pm = smx.queue_dir().join("mail/postmaster/Maildir");
    let mails = wait_until(
        &smx,
        "the double bounce at postmaster",
        Duration::from_secs(30),
        || Some(maildir(&pm)).filter(|m| !m.is_empty()),
    );
    assert!(mails[0].starts_with("Return-Path: <>"), "{}", mails[0]);
    assert!(mails[0].contains("x@reject.test"), "{}", mails[0]);
    let log = smx.log();
    assert!(log.contains("bounce of"), "{log}");
}

//! The SMTP/LMTP client (`smxd::smtpc`, README §3.11) against scripted
//! in-process servers that record what they receive (TCP on 127.0.0.1:0
//! and Unix sockets in a temp directory), against Postfix's `smtp-sink`,
//! and against Dovecot's LMTP server.
//!
//! The scripted servers enforce what they test: the pipelining server
//! holds its MAIL and RCPT replies until it has read DATA (a client that
//! waits for each reply would never get one), the lock-step server notes
//! any command that arrives before the previous reply was sent.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use smxd::proto::{Delivery, DeliveryRcpt, DeliveryResult, NextHop, SmtpReply};
use smxd::smtpc::{Client, ClientConf};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};

/// Every test is bounded by this.
const TEST_BOUND: Duration = Duration::from_secs(60);

// ---------------------------------------------------------------------
// A scripted server.
// ---------------------------------------------------------------------

type RcptRule = Arc<dyn Fn(&str) -> String + Send + Sync>;

#[derive(Clone)]
struct Script {
    greeting: String,
    /// EHLO keywords offered.
    ehlo: Vec<String>,
    /// Replaces the EHLO reply (e.g. a 5xx to force HELO).
    ehlo_reply: Option<String>,
    /// Hold MAIL/RCPT replies until DATA arrives (proves pipelining).
    hold_until_data: bool,
    /// Reply to `RCPT TO:<addr>` given the address.
    rcpt: RcptRule,
    /// SMTP: the reply after the dot.
    data_reply: String,
    /// LMTP: the replies after the dot, one per accepted recipient.
    lmtp_replies: Vec<String>,
    /// Never answer the end of data.
    hang_after_data: bool,
}

impl Default for Script {
    fn default() -> Self {
        Script {
            greeting: "220 sink.test ESMTP".into(),
            ehlo: vec!["PIPELINING".into(), "8BITMIME".into()],
            ehlo_reply: None,
            hold_until_data: false,
            rcpt: Arc::new(|_| "250 2.1.5 ok".to_string()),
            data_reply: "250 2.0.0 queued as X".into(),
            lmtp_replies: Vec::new(),
            hang_after_data: false,
        }
    }
}

impl Script {
    fn offering(ext: &[&str]) -> Script {
        Script {
            ehlo: ext.iter().map(|s| s.to_string()).collect(),
            ..Script::default()
        }
    }
}

/// What a server saw.
#[derive(Default)]
struct Seen {
    accepts: AtomicUsize,
    /// Command lines, in order, over all connections.
    commands: Mutex<Vec<String>>,
    /// Each message exactly as it came after 354, final `.CRLF` excluded.
    messages: Mutex<Vec<Vec<u8>>>,
    /// A command arrived while the previous reply was still unsent.
    sent_ahead: AtomicBool,
}

impl Seen {
    fn commands(&self) -> Vec<String> {
        self.commands.lock().unwrap().clone()
    }
    fn verbs(&self) -> Vec<String> {
        self.commands()
            .iter()
            .map(|c| c.split([' ', ':']).next().unwrap().to_ascii_uppercase())
            .collect()
    }
    fn messages(&self) -> Vec<Vec<u8>> {
        self.messages.lock().unwrap().clone()
    }
}

async fn handle<S: AsyncRead + AsyncWrite + Unpin>(s: S, script: Arc<Script>, seen: Arc<Seen>) {
    let mut s = BufReader::new(s);
    let mut held = String::new();
    let mut accepted = 0usize;
    if s.get_mut()
        .write_all(format!("{}\r\n", script.greeting).as_bytes())
        .await
        .is_err()
        || !script.greeting.starts_with('2')
    {
        // A refusing server still reads the client's QUIT.
        let mut line = String::new();
        let _ = s.read_line(&mut line).await;
        if !line.is_empty() {
            seen.commands
                .lock()
                .unwrap()
                .push(line.trim_end().to_string());
            let _ = s.get_mut().write_all(b"221 bye\r\n").await;
        }
        return;
    }
    loop {
        let mut line = String::new();
        match s.read_line(&mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        if !script.hold_until_data && !s.buffer().is_empty() {
            seen.sent_ahead.store(true, Ordering::SeqCst);
        }
        let cmd = line.trim_end().to_string();
        seen.commands.lock().unwrap().push(cmd.clone());
        let upper = cmd.to_ascii_uppercase();
        let mut reply = String::new();
        if upper.starts_with("EHLO") || upper.starts_with("LHLO") {
            if let Some(r) = &script.ehlo_reply {
                reply = format!("{r}\r\n");
            } else {
                reply.push_str("250");
                reply.push(if script.ehlo.is_empty() { ' ' } else { '-' });
                reply.push_str("sink.test\r\n");
                for (i, e) in script.ehlo.iter().enumerate() {
                    let sep = if i + 1 == script.ehlo.len() { ' ' } else { '-' };
                    reply.push_str(&format!("250{sep}{e}\r\n"));
                }
            }
        } else if upper.starts_with("HELO") {
            reply = "250 sink.test\r\n".into();
        } else if upper.starts_with("MAIL") {
            accepted = 0;
            reply = "250 2.1.0 ok\r\n".into();
        } else if upper.starts_with("RCPT") {
            let addr = cmd
                .split_once('<')
                .and_then(|(_, r)| r.split_once('>'))
                .map(|(a, _)| a.to_string())
                .unwrap_or_default();
            let r = (script.rcpt)(&addr);
            if r.starts_with('2') {
                accepted += 1;
            }
            reply = format!("{r}\r\n");
        } else if upper == "DATA" {
            if accepted == 0 {
                held.push_str("554 5.5.1 no valid recipients\r\n");
                let _ = s
                    .get_mut()
                    .write_all(std::mem::take(&mut held).as_bytes())
                    .await;
                continue;
            }
            held.push_str("354 go ahead\r\n");
            if s.get_mut()
                .write_all(std::mem::take(&mut held).as_bytes())
                .await
                .is_err()
            {
                return;
            }
            let mut msg = Vec::new();
            loop {
                let mut l = Vec::new();
                match s.read_until(b'\n', &mut l).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
                if l == b".\r\n" {
                    break;
                }
                msg.extend_from_slice(&l);
            }
            seen.messages.lock().unwrap().push(msg);
            if script.hang_after_data {
                let mut rest = Vec::new();
                let _ = s.read_to_end(&mut rest).await;
                return;
            }
            if script.lmtp_replies.is_empty() {
                reply = format!("{}\r\n", script.data_reply);
            } else {
                for i in 0..accepted {
                    let r = &script.lmtp_replies[i % script.lmtp_replies.len()];
                    reply.push_str(&format!("{r}\r\n"));
                }
            }
            accepted = 0;
        } else if upper == "RSET" {
            accepted = 0;
            reply = "250 2.0.0 ok\r\n".into();
        } else if upper == "QUIT" {
            let _ = s.get_mut().write_all(b"221 2.0.0 bye\r\n").await;
            return;
        } else {
            reply = "500 5.5.1 what?\r\n".into();
        }
        if script.hold_until_data && (upper.starts_with("MAIL") || upper.starts_with("RCPT")) {
            held.push_str(&reply);
            continue;
        }
        if s.get_mut().write_all(reply.as_bytes()).await.is_err() {
            return;
        }
    }
}

async fn tcp_server(script: Script) -> (SocketAddr, Arc<Seen>) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let seen = Arc::new(Seen::default());
    let (script, s2) = (Arc::new(script), seen.clone());
    tokio::spawn(async move {
        while let Ok((c, _)) = l.accept().await {
            s2.accepts.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(handle(c, script.clone(), s2.clone()));
        }
    });
    (addr, seen)
}

fn unix_server(script: Script, path: &Path) -> Arc<Seen> {
    let l = tokio::net::UnixListener::bind(path).unwrap();
    let seen = Arc::new(Seen::default());
    let (script, s2) = (Arc::new(script), seen.clone());
    tokio::spawn(async move {
        while let Ok((c, _)) = l.accept().await {
            s2.accepts.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(handle(c, script.clone(), s2.clone()));
        }
    });
    seen
}

// ---------------------------------------------------------------------
// Client side helpers.
// ---------------------------------------------------------------------

struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let n = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let d = std::env::temp_dir().join(format!("smtpc-{tag}-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        TempDir(d)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn conf(dir: &Path) -> ClientConf {
    ClientConf {
        helo_name: "client.test".into(),
        io_timeout: Duration::from_secs(20),
        connect_timeout: Duration::from_secs(10),
        smtp_max_rcpts: 100,
        lmtp_max_rcpts: 50,
        cache_entries: 64,
        cache_idle: Duration::from_secs(3600),
        queue_dir: dir.to_path_buf(),
    }
}

const BODY: &[u8] = b"Received: from a by b\r\nSubject: test\r\n\r\nhello\r\n";

fn delivery(dir: &Path, body: &[u8], rcpts: &[&str], next: NextHop) -> Delivery {
    std::fs::write(dir.join("msg"), body).unwrap();
    Delivery {
        id: "S0000000000000001".into(),
        content: "msg".into(),
        sender: "alice@client.test".into(),
        mail_params: String::new(),
        recipients: rcpts
            .iter()
            .enumerate()
            .map(|(i, a)| DeliveryRcpt {
                index: 10 + i as u32,
                address: a.to_string(),
                params: String::new(),
            })
            .collect(),
        next,
    }
}

fn smtp_to(addrs: &[SocketAddr]) -> NextHop {
    NextHop::Hosts {
        lmtp: false,
        addrs: addrs.to_vec(),
        names: addrs.iter().map(|_| "mx.test".to_string()).collect(),
    }
}

async fn deliver(client: &Client, d: &Delivery) -> DeliveryResult {
    tokio::time::timeout(TEST_BOUND, client.deliver(d))
        .await
        .expect("delivery did not finish")
}

fn codes(r: &DeliveryResult) -> Vec<(u32, u16)> {
    r.results.iter().map(|(i, rep)| (*i, rep.code)).collect()
}

/// A port on which nothing listens.
fn refused_addr() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

// ---------------------------------------------------------------------
// Scripted tests.
// ---------------------------------------------------------------------

#[tokio::test]
async fn pipelining_sends_mail_rcpts_and_data_without_waiting() {
    let dir = TempDir::new("pipe");
    let (addr, seen) = tcp_server(Script {
        hold_until_data: true,
        ..Script::offering(&["PIPELINING", "ENHANCEDSTATUSCODES"])
    })
    .await;
    let client = Client::new(conf(&dir.0));
    let d = delivery(&dir.0, BODY, &["a@x.test", "b@x.test"], smtp_to(&[addr]));
    let r = deliver(&client, &d).await;
    assert_eq!(codes(&r), [(10, 250), (11, 250)]);
    assert_eq!(r.relay, format!("mx.test[127.0.0.1]:{}", addr.port()));
    assert_eq!(
        seen.commands(),
        [
            "EHLO client.test",
            "MAIL FROM:<alice@client.test>",
            "RCPT TO:<a@x.test>",
            "RCPT TO:<b@x.test>",
            "DATA"
        ]
    );
    assert_eq!(seen.messages(), [BODY.to_vec()]);
}

#[tokio::test]
async fn without_pipelining_each_command_waits_for_its_reply() {
    let dir = TempDir::new("lockstep");
    let (addr, seen) = tcp_server(Script::offering(&["8BITMIME"])).await;
    let client = Client::new(conf(&dir.0));
    let d = delivery(&dir.0, BODY, &["a@x.test", "b@x.test"], smtp_to(&[addr]));
    let r = deliver(&client, &d).await;
    assert_eq!(codes(&r), [(10, 250), (11, 250)]);
    assert_eq!(seen.verbs(), ["EHLO", "MAIL", "RCPT", "RCPT", "DATA"]);
    assert!(!seen.sent_ahead.load(Ordering::SeqCst));
}

#[tokio::test]
async fn a_recipient_refused_at_rcpt_keeps_its_reply() {
    let dir = TempDir::new("rcpt550");
    for pipelining in [true, false] {
        let ext: &[&str] = if pipelining { &["PIPELINING"] } else { &[] };
        let (addr, seen) = tcp_server(Script {
            rcpt: Arc::new(|a| {
                if a.starts_with("bad") {
                    "550 5.1.1 no such user".to_string()
                } else {
                    "250 2.1.5 ok".to_string()
                }
            }),
            ..Script::offering(ext)
        })
        .await;
        let client = Client::new(conf(&dir.0));
        let d = delivery(
            &dir.0,
            BODY,
            &["good@x.test", "bad@x.test", "good2@x.test"],
            smtp_to(&[addr]),
        );
        let r = deliver(&client, &d).await;
        assert_eq!(codes(&r), [(10, 250), (11, 550), (12, 250)], "{pipelining}");
        assert_eq!(r.results[1].1, SmtpReply::new(550, "5.1.1", "no such user"));
        assert_eq!(seen.messages().len(), 1);
    }
}

#[tokio::test]
async fn a_451_after_data_defers_every_accepted_recipient() {
    let dir = TempDir::new("data451");
    let (addr, _seen) = tcp_server(Script {
        rcpt: Arc::new(|a| {
            if a.starts_with("bad") {
                "550 5.1.1 no".to_string()
            } else {
                "250 ok".to_string()
            }
        }),
        data_reply: "451 4.3.0 try again later".into(),
        ..Script::default()
    })
    .await;
    let client = Client::new(conf(&dir.0));
    let d = delivery(
        &dir.0,
        BODY,
        &["a@x.test", "bad@x.test", "c@x.test"],
        smtp_to(&[addr]),
    );
    let r = deliver(&client, &d).await;
    assert_eq!(codes(&r), [(10, 451), (11, 550), (12, 451)]);
    assert_eq!(r.results[0].1.status, "4.3.0");
}

#[tokio::test]
async fn a_421_greeting_moves_on_to_the_next_address() {
    let dir = TempDir::new("greet421");
    let (busy, busy_seen) = tcp_server(Script {
        greeting: "421 4.3.2 busy".into(),
        ..Script::default()
    })
    .await;
    let (ok, ok_seen) = tcp_server(Script::default()).await;
    let client = Client::new(conf(&dir.0));
    let d = delivery(&dir.0, BODY, &["a@x.test"], smtp_to(&[busy, ok]));
    let r = deliver(&client, &d).await;
    assert_eq!(codes(&r), [(10, 250)]);
    assert_eq!(r.relay, format!("mx.test[127.0.0.1]:{}", ok.port()));
    assert_eq!(busy_seen.accepts.load(Ordering::SeqCst), 1);
    assert!(busy_seen.messages().is_empty());
    assert_eq!(ok_seen.messages().len(), 1);

    // Only refusing servers: the last failure, temporary since one was.
    let (perm, _) = tcp_server(Script {
        greeting: "554 5.7.1 go away".into(),
        ..Script::default()
    })
    .await;
    let r = deliver(
        &client,
        &delivery(&dir.0, BODY, &["a@x.test"], smtp_to(&[busy, perm])),
    )
    .await;
    assert_eq!(r.results[0].1, SmtpReply::new(454, "4.7.1", "go away"));
    let r = deliver(
        &client,
        &delivery(&dir.0, BODY, &["a@x.test"], smtp_to(&[perm])),
    )
    .await;
    assert_eq!(r.results[0].1.code, 554);
}

#[tokio::test]
async fn a_refused_connection_moves_on_and_none_reachable_is_451() {
    let dir = TempDir::new("refused");
    let dead = refused_addr();
    let (ok, ok_seen) = tcp_server(Script::default()).await;
    let client = Client::new(conf(&dir.0));
    let r = deliver(
        &client,
        &delivery(&dir.0, BODY, &["a@x.test"], smtp_to(&[dead, ok])),
    )
    .await;
    assert_eq!(codes(&r), [(10, 250)]);
    assert_eq!(ok_seen.messages().len(), 1);

    let r = deliver(
        &client,
        &delivery(&dir.0, BODY, &["a@x.test", "b@x.test"], smtp_to(&[dead])),
    )
    .await;
    assert_eq!(codes(&r), [(10, 451), (11, 451)]);
    assert_eq!(r.results[0].1.status, "4.4.1");
    assert!(r.results[0].1.text.starts_with("no reachable host"));
    assert_eq!(r.relay, "");
}

#[tokio::test]
async fn dots_are_doubled_and_bare_lf_becomes_crlf() {
    let dir = TempDir::new("dots");
    let (addr, seen) = tcp_server(Script::default()).await;
    let client = Client::new(conf(&dir.0));
    let body = b"Received: x\r\n\r\n.leading dot\r\nbare\nlf\r\n..two\r\n.\r\nno final newline";
    let r = deliver(
        &client,
        &delivery(&dir.0, body, &["a@x.test"], smtp_to(&[addr])),
    )
    .await;
    assert_eq!(codes(&r), [(10, 250)]);
    assert_eq!(
        seen.messages(),
        [b"Received: x\r\n\r\n..leading dot\r\nbare\r\nlf\r\n...two\r\n..\r\nno final newline\r\n"
            .to_vec()]
    );
}

#[tokio::test]
async fn dsn_and_body_parameters_only_when_offered() {
    let dir = TempDir::new("dsn");
    let client = Client::new(conf(&dir.0));
    let mut d = delivery(
        &dir.0,
        BODY,
        &["a@x.test"],
        NextHop::LmtpUnix {
            path: String::new(),
        },
    );
    d.mail_params = "BODY=8BITMIME RET=HDRS ENVID=q1".into();
    d.recipients[0].params = "NOTIFY=FAILURE,DELAY ORCPT=rfc822;a@x.test".into();

    let (with, with_seen) = tcp_server(Script::offering(&[
        "PIPELINING",
        "DSN",
        "8BITMIME",
        "SIZE 100000",
    ]))
    .await;
    d.next = smtp_to(&[with]);
    assert_eq!(codes(&deliver(&client, &d).await), [(10, 250)]);
    let cmds = with_seen.commands();
    assert_eq!(
        cmds[1],
        format!(
            "MAIL FROM:<alice@client.test> SIZE={} BODY=8BITMIME RET=HDRS ENVID=q1",
            BODY.len()
        )
    );
    assert_eq!(
        cmds[2],
        "RCPT TO:<a@x.test> NOTIFY=FAILURE,DELAY ORCPT=rfc822;a@x.test"
    );

    let (without, without_seen) = tcp_server(Script::offering(&["PIPELINING"])).await;
    d.next = smtp_to(&[without]);
    assert_eq!(codes(&deliver(&client, &d).await), [(10, 250)]);
    let cmds = without_seen.commands();
    assert_eq!(cmds[1], "MAIL FROM:<alice@client.test>");
    assert_eq!(cmds[2], "RCPT TO:<a@x.test>");

    // SMTPUTF8 needed but not offered: 550 5.6.7, nothing sent.
    d.mail_params = "SMTPUTF8".into();
    let r = deliver(&client, &d).await;
    assert_eq!(r.results[0].1.code, 550);
    assert_eq!(r.results[0].1.status, "5.6.7");
    assert_eq!(
        without_seen.verbs().iter().filter(|v| *v == "MAIL").count(),
        1
    );

    // A message larger than the announced SIZE limit: 552 5.3.4.
    let (small, small_seen) = tcp_server(Script::offering(&["SIZE 10"])).await;
    d.mail_params = String::new();
    d.next = smtp_to(&[small]);
    let r = deliver(&client, &d).await;
    assert_eq!(r.results[0].1.code, 552);
    assert_eq!(small_seen.verbs(), ["EHLO"]);
}

#[tokio::test]
async fn ehlo_refused_falls_back_to_helo() {
    let dir = TempDir::new("helo");
    let (addr, seen) = tcp_server(Script {
        ehlo_reply: Some("502 5.5.2 EHLO not supported".into()),
        ..Script::default()
    })
    .await;
    let client = Client::new(conf(&dir.0));
    let mut d = delivery(&dir.0, BODY, &["a@x.test"], smtp_to(&[addr]));
    d.mail_params = "BODY=8BITMIME".into();
    let r = deliver(&client, &d).await;
    assert_eq!(codes(&r), [(10, 250)]);
    assert_eq!(
        seen.commands()[..3],
        [
            "EHLO client.test",
            "HELO client.test",
            "MAIL FROM:<alice@client.test>"
        ]
    );
}

#[tokio::test]
async fn lmtp_gives_one_reply_per_recipient() {
    let dir = TempDir::new("lmtp");
    let sock = dir.0.join("lmtp.sock");
    let seen = unix_server(
        Script {
            lmtp_replies: vec![
                "250 2.0.0 delivered".into(),
                "452 4.2.2 mailbox full".into(),
                "550 5.1.1 unknown".into(),
            ],
            ..Script::offering(&["PIPELINING", "ENHANCEDSTATUSCODES"])
        },
        &sock,
    );
    let client = Client::new(conf(&dir.0));
    // Relative to the queue directory, as SMTPC's LMTP_socket is.
    let d = delivery(
        &dir.0,
        BODY,
        &["a@x.test", "b@x.test", "c@x.test"],
        NextHop::LmtpUnix {
            path: "lmtp.sock".into(),
        },
    );
    let r = deliver(&client, &d).await;
    assert_eq!(codes(&r), [(10, 250), (11, 452), (12, 550)]);
    assert_eq!(r.results[1].1, SmtpReply::new(452, "4.2.2", "mailbox full"));
    assert_eq!(r.relay, "lmtp.sock");
    assert_eq!(seen.commands()[0], "LHLO client.test");
}

#[tokio::test]
async fn recipients_are_split_into_transactions_on_one_connection() {
    let dir = TempDir::new("split");
    let (addr, seen) = tcp_server(Script::default()).await;
    let client = Client::new(ClientConf {
        smtp_max_rcpts: 2,
        ..conf(&dir.0)
    });
    let d = delivery(
        &dir.0,
        BODY,
        &["a@x.test", "b@x.test", "c@x.test", "d@x.test", "e@x.test"],
        smtp_to(&[addr]),
    );
    let r = deliver(&client, &d).await;
    assert_eq!(r.results.len(), 5);
    assert!(r.results.iter().all(|(_, rep)| rep.code == 250));
    assert_eq!(seen.accepts.load(Ordering::SeqCst), 1);
    let verbs = seen.verbs();
    assert_eq!(verbs.iter().filter(|v| *v == "MAIL").count(), 3);
    assert_eq!(verbs.iter().filter(|v| *v == "RSET").count(), 0);
    assert_eq!(seen.messages().len(), 3);
}

#[tokio::test]
async fn a_second_delivery_reuses_the_connection() {
    let dir = TempDir::new("reuse");
    let (addr, seen) = tcp_server(Script::default()).await;
    let client = Client::new(conf(&dir.0));
    let d = delivery(&dir.0, BODY, &["a@x.test"], smtp_to(&[addr]));
    assert_eq!(codes(&deliver(&client, &d).await), [(10, 250)]);
    assert_eq!(client.idle_connections(), 1);
    assert_eq!(codes(&deliver(&client, &d).await), [(10, 250)]);
    assert_eq!(seen.accepts.load(Ordering::SeqCst), 1);
    assert_eq!(
        seen.verbs(),
        ["EHLO", "MAIL", "RCPT", "DATA", "RSET", "MAIL", "RCPT", "DATA"]
    );
    tokio::time::timeout(TEST_BOUND, client.shutdown())
        .await
        .unwrap();
    assert_eq!(seen.verbs().last().unwrap(), "QUIT");
    assert_eq!(client.idle_connections(), 0);
}

#[tokio::test]
async fn a_silent_server_after_data_is_a_temporary_failure() {
    let dir = TempDir::new("timeout");
    let (addr, seen) = tcp_server(Script {
        hang_after_data: true,
        ..Script::default()
    })
    .await;
    let client = Client::new(ClientConf {
        io_timeout: Duration::from_millis(500),
        ..conf(&dir.0)
    });
    let d = delivery(&dir.0, BODY, &["a@x.test", "b@x.test"], smtp_to(&[addr]));
    let r = deliver(&client, &d).await;
    assert_eq!(codes(&r), [(10, 451), (11, 451)]);
    assert_eq!(r.results[0].1.status, "4.4.2");
    assert_eq!(seen.messages().len(), 1);
    // A dead session is not kept.
    assert_eq!(client.idle_connections(), 0);
}

// ---------------------------------------------------------------------
// Real peers.
// ---------------------------------------------------------------------

/// A child process killed on drop.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Polls (bounded) until `f` gives something.
async fn wait_for<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = tokio::time::Instant::now() + TEST_BOUND;
    loop {
        if let Some(t) = f() {
            return t;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "waited too long for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn postfix_smtp_sink_receives_the_message() {
    const SINK: &str = "/usr/sbin/smtp-sink";
    if common::dovecot::missing(SINK) {
        return;
    }
    let dir = TempDir::new("sink");
    common::dovecot::open_up(&dir.0);
    let dump = dir.0.join("dump");
    let port = refused_addr().port();
    let mut cmd = std::process::Command::new(SINK);
    if nix::unistd::geteuid().is_root() {
        cmd.args(["-u", &common::dovecot::daemon_user().0]);
    }
    cmd.arg("-D")
        .arg(&dump)
        .arg(format!("127.0.0.1:{port}"))
        .arg("10")
        .env_remove("LD_LIBRARY_PATH")
        .stdout(std::process::Stdio::null());
    let _sink = Child(cmd.spawn().unwrap());
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    wait_for("smtp-sink to listen", || {
        std::net::TcpStream::connect(addr).ok()
    })
    .await;

    let client = Client::new(conf(&dir.0));
    let body = b"Received: from a by b\r\nSubject: dots\r\n\r\n.leading\r\n.\r\n..two\r\nend\r\n";
    let mut d = delivery(
        &dir.0,
        body,
        &["rcpt@sink.test", "other@sink.test"],
        smtp_to(&[addr]),
    );
    d.mail_params = "BODY=8BITMIME".into();
    let r = deliver(&client, &d).await;
    assert_eq!(codes(&r), [(10, 250), (11, 250)], "{r:?}");
    client.shutdown().await;

    // smtp-sink writes the envelope as X- headers, then the message with
    // the dot-stuffing undone and LF line ends.
    let text = wait_for("the dump", || {
        std::fs::read_to_string(&dump)
            .ok()
            .filter(|t| t.contains("\nend\n"))
    })
    .await;
    assert!(
        text.contains("X-Mail-Args: <alice@client.test> BODY=8BITMIME"),
        "{text}"
    );
    assert!(text.contains("X-Rcpt-Args: <rcpt@sink.test>"), "{text}");
    assert!(text.contains("X-Rcpt-Args: <other@sink.test>"), "{text}");
    assert!(
        text.contains("Subject: dots\n\n.leading\n.\n..two\nend\n"),
        "{text}"
    );
}

#[tokio::test]
async fn dovecot_lmtp_delivers_to_maildir() {
    let dir = TempDir::new("dovecot");
    let Some(dovecot) = common::dovecot::Dovecot::start(&dir.0) else {
        return;
    };
    let client = Client::new(conf(&dir.0));
    let body = b"Received: from a by b\r\nSubject: lmtp\r\n\r\n.leading dot\r\nbye\r\n";
    let d = delivery(
        &dir.0,
        body,
        &["bob@x.test", "carol@x.test"],
        NextHop::LmtpUnix {
            path: "lmtp.sock".into(),
        },
    );
    let r = deliver(&client, &d).await;
    assert_eq!(codes(&r), [(10, 250), (11, 250)], "{r:?}");
    client.shutdown().await;
    for user in ["bob", "carol"] {
        let new = dovecot.maildir(user).join("new");
        let files: Vec<_> = std::fs::read_dir(&new).unwrap().flatten().collect();
        assert_eq!(files.len(), 1, "{user}");
        let text = std::fs::read_to_string(files[0].path()).unwrap();
        assert!(
            text.contains("Subject: lmtp\n\n.leading dot\nbye\n"),
            "{text}"
        );
    }
}

// ---------------------------------------------------------------------
// The process: `smxd smtpc -f smx.conf` serving a stand-in QMGR.
// ---------------------------------------------------------------------

/// Starts `smxd smtpc` on a configuration in `dir` (queue in `dir/queue`)
/// and accepts its connection on `SMTPC_socket`.
async fn start_smtpc(dir: &Path) -> (Child, tokio::net::UnixStream) {
    let queue = dir.join("queue");
    std::fs::create_dir_all(queue.join("qmsmtpc")).unwrap();
    std::fs::write(
        dir.join("smx.conf"),
        "queue_directory = queue;\nhostname = client.test;\n",
    )
    .unwrap();
    let sock = queue.join("qmsmtpc/smtpcsock");
    let _ = std::fs::remove_file(&sock);
    let listener = tokio::net::UnixListener::bind(&sock).unwrap();
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("smtpc.log"))
        .unwrap();
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_smxd"))
        .args(["smtpc", "-i", "7", "-f"])
        .arg(dir.join("smx.conf"))
        .stderr(log)
        .spawn()
        .unwrap();
    let child = Child(child);
    let (stream, _) = tokio::time::timeout(TEST_BOUND, listener.accept())
        .await
        .expect("smtpc did not connect")
        .unwrap();
    (child, stream)
}

/// The QMGR's side of one request: a frame out, its answer back.
async fn ask(qmgr: &mut tokio::net::UnixStream, seq: u64, d: &Delivery) -> DeliveryResult {
    smxd::ipc::write_frame(qmgr, seq, d).await.unwrap();
    let answer = tokio::time::timeout(TEST_BOUND, smxd::ipc::read_frame::<DeliveryResult, _>(qmgr))
        .await
        .expect("no answer from smtpc")
        .unwrap()
        .unwrap();
    assert_eq!(answer.seq, seq);
    answer.msg
}

async fn wait_exit(child: &mut Child) -> i32 {
    wait_for("smtpc to exit", || child.0.try_wait().unwrap())
        .await
        .code()
        .unwrap_or(-1)
}

#[tokio::test]
async fn the_process_serves_the_qmgr_and_exits_75_when_it_goes_away() {
    let dir = TempDir::new("proc");
    let (addr, seen) = tcp_server(Script::default()).await;
    let (mut child, mut qmgr) = start_smtpc(&dir.0).await;
    // The content path is relative to the queue directory.
    let d = delivery(&dir.0.join("queue"), BODY, &["a@x.test"], smtp_to(&[addr]));
    let r = ask(&mut qmgr, 1, &d).await;
    assert_eq!(codes(&r), [(10, 250)]);
    assert_eq!(seen.messages(), [BODY.to_vec()]);
    drop(qmgr);
    assert_eq!(wait_exit(&mut child).await, 75);
    let log = std::fs::read_to_string(dir.0.join("smtpc.log")).unwrap();
    assert!(
        log.contains(&format!("smtpc: ready (pid={} id=7)", child.0.id())),
        "{log}"
    );
    assert!(
        log.contains("smtpc: S0000000000000001: to=<a@x.test>, relay=mx.test[127.0.0.1]:"),
        "{log}"
    );
}

#[tokio::test]
async fn sigterm_says_quit_to_idle_connections_and_exits_0() {
    let dir = TempDir::new("term");
    let (addr, seen) = tcp_server(Script::default()).await;
    let (mut child, mut qmgr) = start_smtpc(&dir.0).await;
    let d = delivery(&dir.0.join("queue"), BODY, &["a@x.test"], smtp_to(&[addr]));
    let r = ask(&mut qmgr, 1, &d).await;
    assert_eq!(codes(&r), [(10, 250)]);
    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.0.id()).unwrap());
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    assert_eq!(wait_exit(&mut child).await, 0);
    assert_eq!(seen.verbs().last().unwrap(), "QUIT");
}

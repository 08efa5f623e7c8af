//! The anti-spam and relay policy through the real binary (README §3.9.2
//! item 4, §3.9.3, §3.9.4, §3.12.2; issue 6 "Shown by"):
//!
//! - the open-relay matrix: an unauthorised client (127.0.0.2) tries
//!   percent hacks, source routes, `x@y@z`, quoted local parts with `@`,
//!   domain literals, upper-case and trailing-dot variants, with a normal,
//!   the null and a forged local sender — nothing is accepted; the remote
//!   recipients are accepted from the relay-listed client 127.0.0.1;
//! - DNSBL: a listed client is refused at the greeting with the access
//!   map's text (test DNS zone);
//! - greylisting: the first RCPT gets 421, a retry after `grey_wait` is
//!   accepted; a client whitelisted by `cltaddr:` is never greylisted.
//!
//! Greylisting with a fake clock is tested in `smar::greylist`'s unit
//! tests; the DNS answers come from `common::dns`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::dns::{Answer, DnsServer, RecordType};
use common::{Smx, TestDir};
use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, TcpStream};
use std::time::Duration;

fn zone(name: &str, t: RecordType) -> Answer {
    match (name, t) {
        ("3.0.0.127.bl.test.", RecordType::A) => Answer::A(vec![Ipv4Addr::new(127, 0, 0, 2)]),
        ("3.0.0.127.bl2.test.", RecordType::A) => Answer::A(vec![Ipv4Addr::new(127, 0, 0, 9)]),
        _ => Answer::NxDomain,
    }
}

/// An SMTP client connecting from `from` (any 127/8 address).
struct Client {
    r: BufReader<TcpStream>,
    w: TcpStream,
}

impl Client {
    fn open(from: Ipv4Addr, port: u16) -> (Client, (u16, String)) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let s = rt.block_on(async {
            let sock = tokio::net::TcpSocket::new_v4().unwrap();
            sock.bind((from, 0).into()).unwrap();
            let s = sock
                .connect((Ipv4Addr::LOCALHOST, port).into())
                .await
                .unwrap();
            s.into_std().unwrap()
        });
        s.set_nonblocking(false).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let mut c = Client {
            r: BufReader::new(s.try_clone().unwrap()),
            w: s,
        };
        let greeting = c.reply();
        (c, greeting)
    }

    fn reply(&mut self) -> (u16, String) {
        let mut all = String::new();
        loop {
            let mut line = String::new();
            if self.r.read_line(&mut line).unwrap_or(0) == 0 {
                return (0, all);
            }
            all.push_str(&line);
            if line.as_bytes().get(3) != Some(&b'-') {
                return (line[..3].parse().unwrap_or(0), all);
            }
        }
    }

    fn cmd(&mut self, c: &str) -> (u16, String) {
        self.w.write_all(format!("{c}\r\n").as_bytes()).unwrap();
        self.reply()
    }
}

const MT: &str = "localhost lmtp:\nexample.test lmtp:\nfar.example esmtp:[192.0.2.1]\n";

fn start(dir: &TestDir, dns: &DnsServer, entries: &[(&str, &str)], smar: &str, flags: &str) -> Smx {
    common::access_map(&dir.0, entries);
    std::fs::write(dir.0.join("users"), "alice local:\n").unwrap();
    let extra = format!(
        "smar {{ nameserver = 127.0.0.1:{}; DNS_timeout = 2s; \
         map users {{ type = texthash; file = \"users\"; }} \
         local_user_map {{ name = users; }} {smar} }}",
        dns.addr.port()
    );
    Smx::start_with(&dir.0, MT, &extra, &format!("flags = {{ access{flags} }};"))
}

/// Recipients that must never be relayed from an unauthorised client.
const MATRIX: &[&str] = &[
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

/// The ones of [`MATRIX`] that are plainly remote (accepted from a relay
/// client; a trailing dot is refused as bad syntax from anyone).
const REMOTE: &[&str] = &[
    "bob@far.example",
    "BOB@FAR.EXAMPLE",
    "@localhost:bob@far.example",
    "bob@[192.0.2.1]",
];

#[test]
fn open_relay_matrix_refuses_everything_from_an_unauthorised_client() {
    let dir = TestDir::new("policy-relay");
    let dns = DnsServer::start(zone);
    let mut smx = start(&dir, &dns, &[], "", "");
    let senders = ["carol@far.example", "", "alice@localhost"];
    let (mut tried, mut relayed) = (0, 0);
    for sender in senders {
        let (mut c, g) = Client::open(Ipv4Addr::new(127, 0, 0, 2), smx.port);
        assert_eq!(g.0, 220, "{g:?}");
        assert_eq!(c.cmd("EHLO client.test").0, 250);
        for rcpt in MATRIX {
            let (code, text) = c.cmd(&format!("MAIL FROM:<{sender}>"));
            assert_eq!(code, 250, "MAIL <{sender}>: {text}");
            tried += 1;
            let (code, text) = c.cmd(&format!("RCPT TO:<{rcpt}>"));
            if code == 250 {
                relayed += 1;
                eprintln!("RELAYED: <{sender}> -> <{rcpt}>: {text}");
            } else {
                assert!((500..600).contains(&code), "<{rcpt}>: {text}");
            }
            assert_eq!(c.cmd("RSET").0, 250);
        }
        c.cmd("QUIT");
    }
    eprintln!("open-relay matrix: tried {tried}, relayed {relayed}");
    assert_eq!(relayed, 0);
    // The relay-listed client may send to the remote ones.
    let (mut c, _) = Client::open(Ipv4Addr::LOCALHOST, smx.port);
    c.cmd("EHLO client.test");
    for rcpt in REMOTE {
        assert_eq!(c.cmd("MAIL FROM:<carol@far.example>").0, 250);
        let (code, text) = c.cmd(&format!("RCPT TO:<{rcpt}>"));
        assert_eq!(code, 250, "<{rcpt}> from 127.0.0.1: {text}");
        c.cmd("RSET");
    }
    c.cmd("QUIT");
    assert!(smx.stop());
}

#[test]
fn dnsbl_listed_client_is_refused_with_the_first_configured_list() {
    let dir = TestDir::new("policy-dnsbl");
    let dns = DnsServer::start(zone);
    let mut smx = start(
        &dir,
        &dns,
        &[
            ("bltwo:127.0.0.9", "error:550 5.7.1 listed at bl2"),
            (
                "blone:127.0.0.2",
                "error:554 5.7.1 listed at bl as spam source",
            ),
        ],
        "dnsbl { domain = bl.test; tag = blone; } dnsbl { domain = bl2.test; tag = bltwo; }",
        "",
    );
    let (_c, g) = Client::open(Ipv4Addr::new(127, 0, 0, 3), smx.port);
    assert_eq!(g.0, 554, "{g:?}");
    assert!(g.1.contains("listed at bl as spam source"), "{g:?}");
    // Not listed: greeted.
    let (mut c, g) = Client::open(Ipv4Addr::new(127, 0, 0, 4), smx.port);
    assert_eq!(g.0, 220, "{g:?}");
    c.cmd("QUIT");
    assert!(smx.stop());
}

#[test]
fn greylisting_refuses_the_first_attempt_and_accepts_the_retry() {
    let dir = TestDir::new("policy-grey");
    let dns = DnsServer::start(zone);
    let mut smx = start(
        &dir,
        &dns,
        &[("cltaddr:127.0.0.6", "ok")],
        "greylisting { grey_wait = 0s; }",
        ", greylisting",
    );
    let rcpt = |from: Ipv4Addr| {
        let (mut c, _) = Client::open(from, smx.port);
        c.cmd("EHLO client.test");
        assert_eq!(c.cmd("MAIL FROM:<carol@far.example>").0, 250);
        let r = c.cmd("RCPT TO:<alice@localhost>");
        c.cmd("QUIT");
        r
    };
    let first = rcpt(Ipv4Addr::new(127, 0, 0, 5));
    assert_eq!(first.0, 421, "{first:?}");
    assert!(first.1.contains("greylisted"), "{first:?}");
    let again = rcpt(Ipv4Addr::new(127, 0, 0, 5));
    assert_eq!(again.0, 250, "{again:?}");
    // Whitelisted by the access map: never greylisted.
    let white = rcpt(Ipv4Addr::new(127, 0, 0, 6));
    assert_eq!(white.0, 250, "{white:?}");
    assert!(smx.stop());
}

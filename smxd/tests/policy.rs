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
//! - the access-map examples of §3.9.3 / §3.10.2 in process against
//!   `smxd::smar::Smar` (module `in_process`): `cltresolve:` ok / no /
//!   tempptr / tempa and `cltname:` (PTR answers from the test DNS; the
//!   resolver answers reverse lookups of 127/8 itself, RFC 6761, so these
//!   use 192.0.2/24 clients), `from:`, `mxbadip:`, `to:`, `cltaddr:`,
//!   `quick:`, `error:` with custom codes, `delay_checks`, `discard` per
//!   stage, `protectedrcpt:` with `allow_by` and `match_type`, and a map
//!   that fails (451 4.3.0); a few of them through the binary as well.
//!
//! Greylisting with a fake clock is tested in `smar::greylist`'s unit
//! tests; the DNS answers come from `common::dns`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::dns::{Answer, DnsServer, RecordType};
use common::{Smx, TestDir};
use common::{RELAY_MATRIX as MATRIX, RELAY_REMOTE as REMOTE};
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

#[test]
fn open_relay_matrix_refuses_everything_from_an_unauthorised_client() {
    let dir = TestDir::new("policy-relay");
    let dns = DnsServer::start(zone);
    let mut smx = start(&dir, &dns, &[], "", "");
    let senders = ["carol@far.example", "", "alice@localhost"];
    let (mut tried, mut relayed, mut denied) = (0, 0, 0);
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
                // SMAR's refusals (the others are syntax errors of the
                // SMTP server).
                if code == 550 {
                    denied += 1;
                }
            }
            assert_eq!(c.cmd("RSET").0, 250);
        }
        c.cmd("QUIT");
    }
    eprintln!("open-relay matrix: tried {tried}, relayed {relayed}");
    assert_eq!(relayed, 0);
    // Every refusal by policy is logged, with the client and the sender.
    let log = smx.log();
    let refused = log
        .lines()
        .filter(|l| l.contains("from 127.0.0.2: RCPT refused: 5"))
        .count();
    assert_eq!(refused, denied, "{log}");
    assert!(denied > tried / 2, "{denied} of {tried}");
    assert!(log.contains("from=<carol@far.example>"), "{log}");
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

#[test]
fn access_map_examples_through_the_binary() {
    let dir = TestDir::new("policy-examples");
    let dns = DnsServer::start(zone);
    let mut smx = start(
        &dir,
        &dns,
        &[
            ("cltaddr:127.0.0.8", "error:451 4.7.1 not now"),
            (
                "cltaddr:127.0.0.9",
                "quick:error:551 5.7.1 No mail from spammers",
            ),
            ("from:carol@far.example", "error:452 4.3.1 come back later"),
            ("to:alice@localhost", "discard"),
        ],
        "",
        ", delay_checks",
    );
    // delay_checks: the connect rejection is given at RCPT.
    let (mut c, g) = Client::open(Ipv4Addr::new(127, 0, 0, 8), smx.port);
    assert_eq!(g.0, 220, "{g:?}");
    c.cmd("EHLO client.test");
    assert_eq!(c.cmd("MAIL FROM:<dave@far.example>").0, 250);
    let r = c.cmd("RCPT TO:<alice@localhost>");
    assert_eq!(r.0, 451, "{r:?}");
    assert!(r.1.contains("4.7.1 not now"), "{r:?}");
    c.cmd("QUIT");
    // quick: is immediate.
    let (_c, g) = Client::open(Ipv4Addr::new(127, 0, 0, 9), smx.port);
    assert_eq!(g.0, 551, "{g:?}");
    assert!(g.1.contains("No mail from spammers"), "{g:?}");
    // A custom code for a sender, delayed to RCPT.
    let (mut c, _) = Client::open(Ipv4Addr::new(127, 0, 0, 10), smx.port);
    c.cmd("EHLO client.test");
    assert_eq!(c.cmd("MAIL FROM:<carol@far.example>").0, 250);
    let r = c.cmd("RCPT TO:<alice@localhost>");
    assert_eq!(r.0, 452, "{r:?}");
    assert!(r.1.contains("4.3.1 come back later"), "{r:?}");
    c.cmd("QUIT");
    // A discarded recipient is accepted.
    let (mut c, _) = Client::open(Ipv4Addr::new(127, 0, 0, 10), smx.port);
    c.cmd("EHLO client.test");
    assert_eq!(c.cmd("MAIL FROM:<dave@far.example>").0, 250);
    let r = c.cmd("RCPT TO:<alice@localhost>");
    assert_eq!(r.0, 250, "{r:?}");
    c.cmd("QUIT");
    assert!(smx.stop());
}

/// Connection control (README §3.8 item 17, §3.8.1): `icm:` and `icr:`
/// of the `qmgr_conf` map per client address, 421 4.7.0 beyond.
#[test]
fn connection_control_icm_and_icr_per_client_address() {
    let dir = TestDir::new("policy-conn");
    let dns = DnsServer::start(zone);
    common::qmgr_conf(&dir, &[("icm:127.0.0.11", "1"), ("icr:127.0.0.12", "2")]);
    let extra = format!(
        "smar {{ nameserver = 127.0.0.1:{}; }} \
         qmgr {{ conf = qmgr_conf.db; smtps {{ max_connections = 5; max_connection_rate = 50; }} }}",
        dns.addr.port()
    );
    let mut smx = Smx::start_with(&dir.0, MT, &extra, "");
    let one = Ipv4Addr::new(127, 0, 0, 11);
    // icm: one open session from 127.0.0.11; others are not affected.
    let (mut c1, g) = Client::open(one, smx.port);
    assert_eq!(g.0, 220, "{g:?}");
    // The end of a refused session does not count as the end of the
    // open one (it once did: each refused try freed a slot, so a client
    // could hold as many sessions as it liked).
    for _ in 0..5 {
        let (mut c, g) = Client::open(one, smx.port);
        assert_eq!(g.0, 421, "{g:?}");
        assert!(g.1.contains("4.7.0"), "{g:?}");
        assert_eq!(c.reply().0, 0, "closed after 421");
    }
    let (mut other, g) = Client::open(Ipv4Addr::new(127, 0, 0, 13), smx.port);
    assert_eq!(g.0, 220, "{g:?}");
    other.cmd("QUIT");
    // Once the first ends, the next is greeted (the end reaches SMAR
    // asynchronously: try for a bounded time).
    c1.cmd("QUIT");
    assert_eq!(c1.reply().0, 0, "closed");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (mut c, g) = Client::open(one, smx.port);
        if g.0 == 220 {
            c.cmd("QUIT");
            break;
        }
        assert_eq!(g.0, 421, "{g:?}");
        assert!(std::time::Instant::now() < deadline, "never greeted again");
        std::thread::sleep(Duration::from_millis(50));
    }
    // icr: two connections per 60 s from 127.0.0.12, closed or not.
    let two = Ipv4Addr::new(127, 0, 0, 12);
    for _ in 0..2 {
        let (mut c, g) = Client::open(two, smx.port);
        assert_eq!(g.0, 220, "{g:?}");
        c.cmd("QUIT");
    }
    let (_c, g) = Client::open(two, smx.port);
    assert_eq!(g.0, 421, "{g:?}");
    assert!(g.1.contains("4.7.0") && g.1.contains("rate"), "{g:?}");
    assert!(smx.stop());
}

/// A crashed SMTP server does not leave its sessions counted: SMAR
/// releases them when the server's connection to it closes, so a client
/// at its `icm:` limit is greeted again once the MCP has restarted smtps.
#[test]
fn a_crashed_smtp_server_leaves_no_session_counted() {
    let dir = TestDir::new("policy-conn-crash");
    let dns = DnsServer::start(zone);
    common::qmgr_conf(&dir, &[("icm:127.0.0.11", "1")]);
    let extra = format!(
        "smar {{ nameserver = 127.0.0.1:{}; }} qmgr {{ conf = qmgr_conf.db; }}",
        dns.addr.port()
    );
    let mut smx = Smx::start_with(&dir.0, MT, &extra, "");
    let one = Ipv4Addr::new(127, 0, 0, 11);
    let (mut c1, g) = Client::open(one, smx.port);
    assert_eq!(g.0, 220, "{g:?}");
    let (_c, g) = Client::open(one, smx.port);
    assert_eq!(g.0, 421, "{g:?}");
    let smtps = *smx.started("smtps").last().unwrap();
    assert!(smx.sigkill(smtps));
    assert_eq!(c1.reply().0, 0, "the session died with smtps");
    smx.wait_for("mcp: started smtps", 2, Duration::from_secs(30));
    smx.wait_for(
        "their connection counts are released",
        1,
        Duration::from_secs(30),
    );
    let (mut c, g) = Client::open(one, smx.port);
    assert_eq!(
        g.0,
        220,
        "still counted after the crash: {g:?}\n{}",
        smx.log()
    );
    c.cmd("QUIT");
    assert!(smx.stop());
}

// ---------------------------------------------------------------------
// The access-map examples of README §3.9.3 and §3.10.2, in process
// against `smxd::smar::Smar` (the requests SMTPS sends).
// ---------------------------------------------------------------------

mod in_process {
    use super::common::dns::{Answer, DnsServer, RecordType};
    use smx_grammar::config::smtps::MatchType;
    use smx_maps::socket::SocketMap;
    use smx_maps::texthash::TextHash;
    use smx_maps::Map;
    use smxd::proto::{
        Checked, Discard, RcptPolicy, SessionPolicy, SmarAnswer, SmarRequest, SmtpReply,
    };
    use smxd::smar::aliases::{AliasFlags, Aliases};
    use smxd::smar::dns::Dns;
    use smxd::smar::mailertable::Mailertable;
    use smxd::smar::policy::{Protected, ServerPolicy};
    use smxd::smar::tables::{LocalUsers, Tables};
    use smxd::smar::Smar;
    use std::net::{IpAddr, Ipv4Addr, SocketAddrV4};
    use std::sync::Arc;
    use std::time::Duration;

    /// PTR and A records for the client-name checks; MX/A for the senders.
    fn zone(name: &str, t: RecordType) -> Answer {
        let ip = |a, b, c, d| vec![Ipv4Addr::new(a, b, c, d)];
        match (name, t) {
            // 192.0.2.1: spammer.domain, forward matches.
            ("1.2.0.192.in-addr.arpa.", RecordType::PTR) => Answer::Ptr(vec!["spammer.domain."]),
            ("spammer.domain.", RecordType::A) => Answer::A(ip(192, 0, 2, 1)),
            // 192.0.2.2: PTR fails temporarily.
            ("2.2.0.192.in-addr.arpa.", _) => Answer::ServFail,
            // 192.0.2.3: PTR ok, A fails temporarily.
            ("3.2.0.192.in-addr.arpa.", RecordType::PTR) => Answer::Ptr(vec!["flaky.test."]),
            ("flaky.test.", _) => Answer::ServFail,
            // 192.0.2.4: PTR names a host whose A is elsewhere.
            ("4.2.0.192.in-addr.arpa.", RecordType::PTR) => Answer::Ptr(vec!["liar.test."]),
            ("liar.test.", RecordType::A) => Answer::A(ip(198, 51, 100, 1)),
            // 192.0.2.5: good.test, forward matches.
            ("5.2.0.192.in-addr.arpa.", RecordType::PTR) => Answer::Ptr(vec!["good.test."]),
            ("good.test.", RecordType::A) => Answer::A(ip(192, 0, 2, 5)),
            // A sender domain whose MX is 127.0.0.1.
            ("badmx.test.", RecordType::MX) => Answer::Mx(vec![(10, "mx.badmx.test.")]),
            ("mx.badmx.test.", RecordType::A) => Answer::A(ip(127, 0, 0, 1)),
            _ => Answer::NxDomain,
        }
    }

    const MT: &str = "local.dom lmtp:\nprimary.domain esmtp:[192.0.2.9]\n\
                      spammer.domain esmtp:[192.0.2.9]\nsub.spammer.domain esmtp:[192.0.2.9]\n\
                      far.test esmtp:[192.0.2.9]\n";

    const ALIASES: &str = "list1: <user1-1@l1-1.dom> <user2-1@l1-1.dom> <list2@local.dom>\n\
                           list2: <user1-2@l2-1.dom> <user2-2@l2-2.dom>\n\
                           list3: <user1-3@l3-1.dom> <user2-3@l3-2.dom>\n";

    const USERS: &str = "u x\nroot x\nabuse x\none x\nall x\nmoderator3 x\n";

    struct T {
        rt: tokio::runtime::Runtime,
        smar: Smar,
        _dns: DnsServer,
    }

    fn map(text: &str) -> Arc<dyn Map> {
        Arc::new(TextHash::parse("access", text, false).unwrap())
    }

    fn with(access: Option<Arc<dyn Map>>, sp: ServerPolicy) -> T {
        let dns = DnsServer::start(zone);
        let aliases = Aliases::new(
            Arc::new(TextHash::parse("aliases", ALIASES, true).unwrap()),
            AliasFlags {
                localpart: true,
                ..AliasFlags::default()
            },
            '+',
        );
        let tables = Tables {
            mailertable: Mailertable::parse(MT).unwrap(),
            aliases: Some(aliases),
            local_users: Some(LocalUsers::new(
                Arc::new(TextHash::parse("users", USERS, false).unwrap()),
                false,
                '+',
            )),
            access,
            hostname: "local.dom".into(),
            delimiter: '+',
            lmtp_socket: "lmtpsock".into(),
            servers: [(String::new(), sp)].into_iter().collect(),
            ..Tables::default()
        };
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let d = Dns::new(&[dns.addr], Duration::from_secs(2));
        T {
            rt,
            smar: Smar::new(tables, d, "smar"),
            _dns: dns,
        }
    }

    fn start(access: &str, sp: ServerPolicy) -> T {
        with(Some(map(access)), sp)
    }

    fn access() -> ServerPolicy {
        ServerPolicy {
            access: true,
            ..ServerPolicy::default()
        }
    }

    fn delayed() -> ServerPolicy {
        ServerPolicy {
            delay_checks: true,
            ..access()
        }
    }

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    impl T {
        fn connect(&self, client: &str) -> (Option<SmtpReply>, SessionPolicy) {
            let req = SmarRequest::Connect {
                server: None,
                client: ip(client),
            };
            match self.rt.block_on(self.smar.handle(req)) {
                SmarAnswer::Connect { reply, session } => (reply, session),
                a => panic!("{a:?}"),
            }
        }

        fn mail(&self, client: &str, sender: &str, session: &SessionPolicy) -> Checked {
            let req = SmarRequest::Mail {
                server: None,
                client: ip(client),
                sender: sender.into(),
                session: session.clone(),
            };
            match self.rt.block_on(self.smar.handle(req)) {
                SmarAnswer::Checked(c) => c,
                a => panic!("{a:?}"),
            }
        }

        fn rcpt(&self, client: &str, sender: &str, rcpt: &str, s: &SessionPolicy) -> Checked {
            self.rcpt_after(client, sender, rcpt, s, None)
        }

        fn rcpt_after(
            &self,
            client: &str,
            sender: &str,
            rcpt: &str,
            s: &SessionPolicy,
            mail_delayed: Option<SmtpReply>,
        ) -> Checked {
            let q = RcptPolicy {
                client: ip(client),
                address: rcpt.into(),
                sender: sender.into(),
                session: s.clone(),
                mail_delayed,
                ..RcptPolicy::default()
            };
            match self
                .rt
                .block_on(self.smar.handle(SmarRequest::RcptPolicy(Box::new(q))))
            {
                SmarAnswer::Checked(c) => c,
                a => panic!("{a:?}"),
            }
        }

        /// Connect, MAIL and RCPT in a row: the first refusal, else the
        /// RCPT answer.
        fn dialogue(&self, client: &str, sender: &str, rcpt: &str) -> Checked {
            let (refused, s) = self.connect(client);
            if let Some(r) = refused {
                return Checked::accept(r);
            }
            let m = self.mail(client, sender, &s);
            if !m.reply.is_success() {
                return m;
            }
            self.rcpt_after(client, sender, rcpt, &s, m.delayed)
        }
    }

    fn code(c: &Checked) -> (u16, String) {
        (c.reply.code, c.reply.to_string())
    }

    #[test]
    fn cltresolve_keys_ok_no_tempptr_tempa() {
        let t = start(
            "cltresolve:tempptr error:451 4.7.1 reverse lookup failed\n\
             cltresolve:tempa error:451 4.7.2 forward lookup failed\n\
             cltresolve:no error:550 5.7.25 no matching host name\n\
             cltresolve:ok ok\n",
            access(),
        );
        let (r, _) = t.connect("192.0.2.2");
        let r = r.expect("tempptr refuses");
        assert_eq!((r.code, r.status.as_str()), (451, "4.7.1"), "{r}");
        assert!(r.to_string().contains("reverse lookup failed"), "{r}");
        let (r, _) = t.connect("192.0.2.3");
        let r = r.expect("tempa refuses");
        assert_eq!((r.code, r.status.as_str()), (451, "4.7.2"), "{r}");
        // PTR but the A records do not hold the client; no PTR at all.
        for no in ["192.0.2.4", "192.0.2.6"] {
            let (r, s) = t.connect(no);
            let r = r.expect("no refuses");
            assert_eq!((r.code, r.status.as_str()), (550, "5.7.25"), "{no}: {r}");
            assert_eq!(s.client_name, None);
        }
        let (r, s) = t.connect("192.0.2.5");
        assert_eq!(r, None);
        assert!(s.ok);
        assert_eq!(s.client_name.as_deref(), Some("good.test"));
    }

    #[test]
    fn cltname_quick_error_is_immediate_even_with_delay_checks() {
        let t = start(
            "cltname:spammer.domain quick:error:551 5.7.1 No mail from spammers\n\
             cltname:good.test error:550 5.7.1 not you either\n",
            delayed(),
        );
        let (r, _) = t.connect("192.0.2.1");
        let r = r.expect("quick: refuses at once");
        assert_eq!(r.code, 551);
        assert!(r.to_string().contains("No mail from spammers"), "{r}");
        // Without quick: the rejection waits for RCPT.
        let (r, s) = t.connect("192.0.2.5");
        assert_eq!(r, None);
        assert_eq!(s.delayed.as_ref().map(|d| d.code), Some(550));
        let c = t.rcpt("192.0.2.5", "a@far.test", "u@local.dom", &s);
        assert_eq!(code(&c).0, 550, "{c:?}");
        // A name that does not resolve forward is no name: nothing matches.
        let t = start("cltname:liar.test reject\n", access());
        assert_eq!(t.connect("192.0.2.4").0, None);
    }

    #[test]
    fn from_and_mxbadip_entries_with_custom_error_codes() {
        let t = start(
            "mxbadip:127.0.0.1 error:551 5.7.1 Bad IP address 127.0.0.1 in MX/A list\n\
             from:@spammer.domain error:551 5.7.1 No spammers\n\
             from:@.spammer.domain error:552 5.7.9 No spammers in subdomains either\n\
             from:later@far.test error:452 4.3.1 come back later\n",
            access(),
        );
        let s = SessionPolicy::default();
        let c = t.mail("192.0.2.6", "x@spammer.domain", &s);
        assert_eq!(code(&c).0, 551, "{c:?}");
        assert!(code(&c).1.contains("No spammers"), "{c:?}");
        let c = t.mail("192.0.2.6", "x@sub.spammer.domain", &s);
        assert_eq!((c.reply.code, c.reply.status.as_str()), (552, "5.7.9"));
        let c = t.mail("192.0.2.6", "later@far.test", &s);
        assert_eq!((c.reply.code, c.reply.status.as_str()), (452, "4.3.1"));
        assert!(code(&c).1.contains("come back later"), "{c:?}");
        let c = t.mail("192.0.2.6", "x@badmx.test", &s);
        assert_eq!(code(&c).0, 551, "{c:?}");
        assert!(code(&c).1.contains("in MX/A list"), "{c:?}");
        assert!(t.mail("192.0.2.6", "x@far.test", &s).reply.is_success());
    }

    #[test]
    fn to_entries_root_abuse_and_relay_by_domain() {
        let t = start(
            "to:root error:551 5.7.1 No mail to root\n\
             to:abuse quick:ok\n\
             to:@primary.domain relay\n\
             cltaddr:10 error:551 5.7.1 No direct mail from 10.x.y.z\n",
            delayed(),
        );
        let s = SessionPolicy::default();
        let c = t.rcpt("192.0.2.6", "a@far.test", "root@local.dom", &s);
        assert_eq!(code(&c).0, 551, "{c:?}");
        assert!(code(&c).1.contains("No mail to root"));
        let c = t.rcpt("192.0.2.6", "a@far.test", "x@primary.domain", &s);
        assert!(c.reply.is_success(), "{c:?}");
        let c = t.rcpt("192.0.2.6", "a@far.test", "x@far.test", &s);
        assert_eq!(code(&c).0, 550, "{c:?}");
        // delay_checks: 10/8 is refused at RCPT, except for abuse (quick:ok).
        let c = t.dialogue("10.1.2.3", "a@far.test", "list2@local.dom");
        assert_eq!(code(&c).0, 551, "{c:?}");
        assert!(code(&c).1.contains("No direct mail from 10"), "{c:?}");
        let c = t.dialogue("10.1.2.3", "a@far.test", "abuse@local.dom");
        assert!(c.reply.is_success(), "{c:?}");
    }

    /// What each request did to the connection counts, as `server.rs`
    /// keeps them to release the sessions of an SMTP server that dies:
    /// counted only when let in, uncounted at the end, IPv4 only.
    #[test]
    fn handle_counted_reports_what_was_counted() {
        use smxd::smar::Counted;
        let t = start("cltaddr:10.1 REJECT\n", access());
        let count = |req| t.rt.block_on(t.smar.handle_counted(req)).1;
        let connect = |c: &str| SmarRequest::Connect {
            server: None,
            client: ip(c),
        };
        let v4 = |s: &str| s.parse::<std::net::Ipv4Addr>().unwrap();
        assert_eq!(count(connect("10.9.9.9")), Counted::Opened(v4("10.9.9.9")));
        assert_eq!(count(connect("10.1.2.3")), Counted::Nothing, "refused");
        assert_eq!(count(connect("2001:db8::1")), Counted::Nothing, "IPv6");
        let end = SmarRequest::Disconnect {
            client: ip("10.9.9.9"),
        };
        assert_eq!(count(end), Counted::Closed(v4("10.9.9.9")));
        let mail = SmarRequest::Mail {
            server: None,
            client: ip("10.9.9.9"),
            sender: "a@far.test".into(),
            session: SessionPolicy::default(),
        };
        assert_eq!(count(mail), Counted::Nothing);
    }

    #[test]
    fn cltaddr_relay_and_quick_relay() {
        let t = start(
            "cltaddr:10 relay\n\
             cltaddr:127.0.0.1 quick:relay\n\
             to:root error:551 5.7.1 No mail to root\n\
             from:@spammer.domain error:551 5.7.1 No spammers\n",
            access(),
        );
        // relay: may relay, but from: and to: still apply.
        let c = t.dialogue("10.9.9.9", "a@far.test", "x@far.test");
        assert!(c.reply.is_success(), "{c:?}");
        let c = t.dialogue("10.9.9.9", "a@far.test", "root@local.dom");
        assert_eq!(code(&c).0, 551, "{c:?}");
        let c = t.dialogue("10.9.9.9", "x@spammer.domain", "x@far.test");
        assert_eq!(code(&c).0, 551, "{c:?}");
        // quick:relay overrides every other access-map check.
        let c = t.dialogue("127.0.0.1", "x@spammer.domain", "root@local.dom");
        assert!(c.reply.is_success(), "{c:?}");
        let c = t.dialogue("127.0.0.1", "x@spammer.domain", "x@far.test");
        assert!(c.reply.is_success(), "{c:?}");
    }

    #[test]
    fn quick_ok_at_connect_skips_mail_checks_but_not_relaying() {
        let t = start(
            "cltaddr:192.0.2.7 quick:ok\n\
             from:@spammer.domain error:551 5.7.1 No spammers\n\
             to:root error:551 5.7.1 No mail to root\n",
            access(),
        );
        let c = t.dialogue("192.0.2.7", "x@spammer.domain", "u@local.dom");
        assert!(c.reply.is_success(), "{c:?}");
        // quick:ok does not allow relaying, and to: applies when relaying
        // is not allowed by other means.
        let c = t.dialogue("192.0.2.7", "a@far.test", "x@far.test");
        assert_eq!(code(&c).0, 550, "{c:?}");
        let c = t.dialogue("192.0.2.7", "a@far.test", "root@local.dom");
        assert_eq!(code(&c).0, 551, "{c:?}");
    }

    #[test]
    fn delay_checks_moves_connect_and_mail_rejections_to_rcpt() {
        let entries = "cltaddr:192.0.2.8 error:554 5.7.1 go away\n\
                       from:x@far.test error:553 5.7.1 not this sender\n\
                       to:postmaster@local.dom quick:ok\n\
                       to:abuse@local.dom quick:relay\n";
        // Without delay_checks: refused at connect and at MAIL.
        let t = start(entries, access());
        assert_eq!(t.connect("192.0.2.8").0.map(|r| r.code), Some(554));
        let c = t.mail("192.0.2.6", "x@far.test", &SessionPolicy::default());
        assert_eq!(code(&c).0, 553, "{c:?}");
        // With: MAIL is accepted and RCPT gives the rejection.
        let t = start(entries, delayed());
        let (r, s) = t.connect("192.0.2.8");
        assert_eq!(r, None);
        assert_eq!(s.delayed.as_ref().map(|d| d.code), Some(554));
        let m = t.mail("192.0.2.6", "x@far.test", &SessionPolicy::default());
        assert!(m.reply.is_success(), "{m:?}");
        assert_eq!(m.delayed.as_ref().map(|d| d.code), Some(553));
        let c = t.dialogue("192.0.2.8", "a@far.test", "u@local.dom");
        assert_eq!(code(&c).0, 554, "{c:?}");
        let c = t.dialogue("192.0.2.6", "x@far.test", "u@local.dom");
        assert_eq!(code(&c).0, 553, "{c:?}");
        // ... unless to: says quick:ok or quick:relay.
        for rcpt in ["postmaster@local.dom", "abuse@local.dom"] {
            let c = t.dialogue("192.0.2.8", "x@far.test", rcpt);
            assert!(c.reply.is_success(), "{rcpt}: {c:?}");
        }
    }

    #[test]
    fn discard_per_stage() {
        let t = start(
            "cltaddr:192.0.2.10 discard\n\
             from:drop@far.test discard\n\
             to:one@local.dom discard\n\
             to:all@local.dom quick:discard\n",
            access(),
        );
        // Session: every transaction of the session.
        let (r, s) = t.connect("192.0.2.10");
        assert_eq!(r, None);
        assert!(s.discard);
        for _ in 0..2 {
            let m = t.mail("192.0.2.10", "a@far.test", &s);
            assert!(m.reply.is_success());
            assert_eq!(m.discard, Discard::Transaction);
        }
        // MAIL: that transaction.
        let s = SessionPolicy::default();
        let m = t.mail("192.0.2.6", "drop@far.test", &s);
        assert!(m.reply.is_success());
        assert_eq!(m.discard, Discard::Transaction);
        assert_eq!(t.mail("192.0.2.6", "a@far.test", &s).discard, Discard::No);
        // RCPT: that recipient; quick:discard the whole transaction.
        let c = t.rcpt("192.0.2.6", "a@far.test", "one@local.dom", &s);
        assert!(c.reply.is_success());
        assert_eq!(c.discard, Discard::Recipient);
        let c = t.rcpt("192.0.2.6", "a@far.test", "all@local.dom", &s);
        assert!(c.reply.is_success());
        assert_eq!(c.discard, Discard::Transaction);
        let c = t.rcpt("192.0.2.6", "a@far.test", "u@local.dom", &s);
        assert_eq!(c.discard, Discard::No);
    }

    const PROTECTED: &str = "protectedrcpt:list1@local.dom list:<list1@local.dom>\n\
         protectedrcpt:list3 from:<moderator3@local.dom> cltaddr:1.2.3.4 cltaddr:10\n";

    fn protected(by_sender: bool, by_client_ip: bool, match_type: MatchType) -> ServerPolicy {
        ServerPolicy {
            protected: Some(Protected {
                by_sender,
                by_client_ip,
                match_type,
            }),
            ..access()
        }
    }

    #[test]
    fn protected_recipients_the_readme_example() {
        let t = start(PROTECTED, protected(true, true, MatchType::GenericLookup));
        let s = SessionPolicy::default();
        let ok = |client, sender, rcpt| t.rcpt(client, sender, rcpt, &s).reply.is_success();
        // list1: the members of list1 only, not those of list2 (one level).
        assert!(ok("192.0.2.6", "user1-1@l1-1.dom", "list1@local.dom"));
        assert!(ok("192.0.2.6", "USER2-1@l1-1.dom", "list1@local.dom"));
        assert!(!ok("192.0.2.6", "user1-2@l2-1.dom", "list1@local.dom"));
        assert!(!ok("192.0.2.6", "", "list1@local.dom"));
        let c = t.rcpt("192.0.2.6", "a@far.test", "list1@local.dom", &s);
        assert_eq!((c.reply.code, c.reply.status.as_str()), (550, "5.7.1"));
        // list3 (local part alone): the moderator, 1.2.3.4 or net 10.
        assert!(ok("192.0.2.6", "moderator3@local.dom", "list3@local.dom"));
        assert!(ok("1.2.3.4", "a@far.test", "list3@local.dom"));
        assert!(ok("10.7.7.7", "a@far.test", "list3@local.dom"));
        assert!(!ok("192.0.2.6", "a@far.test", "list3@local.dom"));
        // Not protected.
        assert!(ok("192.0.2.6", "a@far.test", "list2@local.dom"));
    }

    #[test]
    fn protected_recipients_allow_by_and_match_type() {
        let s = SessionPolicy::default();
        // exact: cltaddr:10 is not the net 10.
        let t = start(PROTECTED, protected(true, true, MatchType::Exact));
        let ok = |client, sender, rcpt| t.rcpt(client, sender, rcpt, &s).reply.is_success();
        assert!(ok("1.2.3.4", "a@far.test", "list3@local.dom"));
        assert!(!ok("10.7.7.7", "a@far.test", "list3@local.dom"));
        assert!(!ok("192.0.2.6", "user1-1+x@l1-1.dom", "list1@local.dom"));
        // implicitly_match_detail: user+detail matches the member.
        let t = start(
            PROTECTED,
            protected(true, true, MatchType::ImplicitlyMatchDetail),
        );
        let ok = |client, sender, rcpt| t.rcpt(client, sender, rcpt, &s).reply.is_success();
        assert!(ok("192.0.2.6", "user1-1+x@l1-1.dom", "list1@local.dom"));
        // allow_by = sender only: cltaddr: restrictions do not count.
        let t = start(PROTECTED, protected(true, false, MatchType::GenericLookup));
        let ok = |client, sender, rcpt| t.rcpt(client, sender, rcpt, &s).reply.is_success();
        assert!(!ok("1.2.3.4", "a@far.test", "list3@local.dom"));
        assert!(ok("192.0.2.6", "moderator3@local.dom", "list3@local.dom"));
        // allow_by = client_ip only: from: and list: do not count.
        let t = start(PROTECTED, protected(false, true, MatchType::GenericLookup));
        let ok = |client, sender, rcpt| t.rcpt(client, sender, rcpt, &s).reply.is_success();
        assert!(ok("1.2.3.4", "a@far.test", "list3@local.dom"));
        assert!(!ok("192.0.2.6", "moderator3@local.dom", "list3@local.dom"));
        assert!(!ok("192.0.2.6", "user1-1@l1-1.dom", "list1@local.dom"));
    }

    #[test]
    fn a_map_that_fails_is_a_temporary_451_at_every_stage() {
        // A socket map whose server is not there.
        let port = super::common::free_port();
        let dead: Arc<dyn Map> = Arc::new(SocketMap::inet(
            SocketAddrV4::new(Ipv4Addr::LOCALHOST, port),
            "access",
            Duration::from_secs(2),
        ));
        let t = with(Some(dead), access());
        let (r, _) = t.connect("192.0.2.6");
        let r = r.expect("connect tempfails");
        assert_eq!((r.code, r.status.as_str()), (451, "4.3.0"), "{r}");
        let c = t.mail("192.0.2.6", "a@far.test", &SessionPolicy::default());
        assert_eq!(code(&c).0, 451, "{c:?}");
        let c = t.rcpt(
            "192.0.2.6",
            "a@far.test",
            "u@local.dom",
            &SessionPolicy::default(),
        );
        assert_eq!(code(&c).0, 451, "{c:?}");
        // A broken entry likewise: never a 5xx, never an open relay.
        let t = start("to:x@far.test bogus\n", access());
        let c = t.rcpt(
            "192.0.2.6",
            "a@far.test",
            "x@far.test",
            &SessionPolicy::default(),
        );
        assert_eq!(code(&c).0, 451, "{c:?}");
    }
}

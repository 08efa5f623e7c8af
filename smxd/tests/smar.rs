//! SMAR, the address resolver (README §3.9, §3.12; RFC 5321 §5.1):
//!
//! - MX routing against a small DNS server (`common::dns`: a UDP socket on
//!   127.0.0.1 answering from the zone below, messages decoded and encoded
//!   with hickory-proto): preference order with equal preferences
//!   shuffled, A fallback, null MX, SERVFAIL and timeouts → 4xx, NXDOMAIN
//!   and no records → 5xx, mailertable host names resolved by MX/A;
//! - the process end to end: `smxd smar -f smx.conf` started for real,
//!   asked `Rcpt` and `Route` over its socket with `ipc::Client`, SIGHUP
//!   reloads the maps, SIGTERM exits 0, a missing configured mailertable
//!   exits 78 naming the file.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::dns::{Answer, DnsServer, RecordType};
use smxd::ipc::Client;
use smxd::proto::{NextHop, SmarAnswer, SmarRequest, SmtpReply};
use smxd::smar::dns::Dns;
use smxd::smar::mailertable::Mailertable;
use smxd::smar::tables::Tables;
use smxd::smar::Smar;
use std::io::{BufRead, BufReader};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------
// The test zone (served by `common::dns`).
// ---------------------------------------------------------------------

fn zone(name: &str, t: RecordType) -> Answer {
    let ip = |s: &str| s.parse::<Ipv4Addr>().unwrap();
    match (name, t) {
        ("pref.test.", RecordType::MX) => Answer::Mx(vec![
            (20, "mx2.pref.test."),
            (10, "mx1a.pref.test."),
            (10, "mx1b.pref.test."),
            (30, "nowhere.pref.test."),
        ]),
        ("mx1a.pref.test.", RecordType::A) => Answer::A(vec![ip("10.0.0.1")]),
        ("mx1b.pref.test.", RecordType::A) => Answer::A(vec![ip("10.0.0.2")]),
        ("mx2.pref.test.", RecordType::A) => Answer::A(vec![ip("10.0.0.3"), ip("10.0.0.4")]),
        ("nowhere.pref.test.", _) => Answer::NxDomain,
        ("afallback.test.", RecordType::A) => Answer::A(vec![ip("10.0.1.1")]),
        ("afallback.test.", _) => Answer::A(vec![]),
        ("nullmx.test.", RecordType::MX) => Answer::Mx(vec![(0, ".")]),
        ("servfail.test.", _) => Answer::ServFail,
        ("timeout.test.", _) => Answer::Silence,
        ("nodata.test.", _) => Answer::A(vec![]),
        ("gw.test.", RecordType::A) => Answer::A(vec![ip("10.0.2.1")]),
        ("gw.test.", _) => Answer::A(vec![]),
        ("mxdown.test.", RecordType::MX) => Answer::Mx(vec![(10, "sf.mxdown.test.")]),
        ("sf.mxdown.test.", _) => Answer::ServFail,
        _ => Answer::NxDomain,
    }
}

// ---------------------------------------------------------------------
// MX routing in process.
// ---------------------------------------------------------------------

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn smar(dns: &DnsServer, mt: &str) -> Smar {
    let tables = Tables {
        mailertable: Mailertable::parse(mt).unwrap(),
        hostname: "mx.example.test".into(),
        delimiter: '+',
        lmtp_socket: "lmtpsock".into(),
        ..Tables::default()
    };
    Smar::new(
        tables,
        Dns::new(&[dns.addr], Duration::from_millis(500)),
        "smar-test",
    )
}

fn route(rt: &tokio::runtime::Runtime, s: &Smar, address: &str) -> SmarAnswer {
    rt.block_on(s.handle(SmarRequest::Route {
        address: address.into(),
    }))
}

fn hosts(a: &SmarAnswer) -> (Vec<String>, Vec<String>) {
    let SmarAnswer::Routed(r) = a else {
        panic!("not routed: {a:?}");
    };
    assert_eq!(r.len(), 1, "{r:?}");
    match &r[0].next {
        NextHop::Hosts { addrs, names, .. } => {
            (addrs.iter().map(|a| a.to_string()).collect(), names.clone())
        }
        other => panic!("{other:?}"),
    }
}

fn failed(a: &SmarAnswer) -> &SmtpReply {
    match a {
        SmarAnswer::Failed(r) => r,
        other => panic!("not failed: {other:?}"),
    }
}

#[test]
fn mx_records_in_preference_order_equal_ones_shuffled() {
    let dns = DnsServer::start(zone);
    let rt = runtime();
    let s = smar(&dns, "");
    let mut first = std::collections::HashSet::new();
    for _ in 0..40 {
        let (addrs, names) = hosts(&route(&rt, &s, "user@pref.test"));
        assert_eq!(addrs.len(), 4, "{addrs:?}");
        // Preference 10 (two hosts, either order), then 20 with both of
        // its addresses; the MX host that does not exist is skipped.
        let mut top: Vec<&str> = addrs[..2].iter().map(String::as_str).collect();
        first.insert(top[0].to_string());
        top.sort();
        assert_eq!(top, ["10.0.0.1:25", "10.0.0.2:25"]);
        assert_eq!(addrs[2..], ["10.0.0.3:25", "10.0.0.4:25"]);
        assert_eq!(names[2..], ["mx2.pref.test", "mx2.pref.test"]);
        if first.len() == 2 {
            break;
        }
    }
    assert_eq!(first.len(), 2, "equal preferences never shuffled");
}

#[test]
fn a_record_fallback_null_mx_and_permanent_failures() {
    let dns = DnsServer::start(zone);
    let rt = runtime();
    let s = smar(&dns, "");
    let (addrs, names) = hosts(&route(&rt, &s, "user@afallback.test"));
    assert_eq!(addrs, ["10.0.1.1:25"]);
    assert_eq!(names, ["afallback.test"]);
    let r = route(&rt, &s, "user@nx.test");
    assert_eq!(
        (failed(&r).code, failed(&r).status.as_str()),
        (550, "5.1.2")
    );
    let r = route(&rt, &s, "user@nodata.test");
    assert_eq!(
        (failed(&r).code, failed(&r).status.as_str()),
        (550, "5.1.2")
    );
    let r = route(&rt, &s, "user@nullmx.test");
    assert_eq!(
        (failed(&r).code, failed(&r).status.as_str()),
        (556, "5.1.10")
    );
}

#[test]
fn servfail_and_timeout_are_temporary() {
    let dns = DnsServer::start(zone);
    let rt = runtime();
    let s = smar(&dns, "");
    for a in [
        "user@servfail.test",
        "user@timeout.test",
        "user@mxdown.test",
    ] {
        let r = route(&rt, &s, a);
        let r = failed(&r);
        assert_eq!((r.code, r.status.as_str()), (451, "4.4.3"), "{a}: {r}");
    }
}

#[test]
fn mailertable_routes_override_mx_and_host_names_are_resolved() {
    let dns = DnsServer::start(zone);
    let rt = runtime();
    let s = smar(
        &dns,
        "pref.test esmtp:[192.0.2.9]\nrelay.example 2525^esmtp:gw.test\n\
         viamx.example esmtp:pref.test\nbroken.example esmtp:nx.test\n\
         lmtp.example 2001^lmtp:[127.0.0.1]\nlocalhost lmtp:\n",
    );
    let (addrs, _) = hosts(&route(&rt, &s, "user@pref.test"));
    assert_eq!(addrs, ["192.0.2.9:25"]);
    let (addrs, names) = hosts(&route(&rt, &s, "user@relay.example"));
    assert_eq!(addrs, ["10.0.2.1:2525"]);
    assert_eq!(names, ["gw.test"]);
    // A host name in the mailertable is subject to MX lookups.
    let (addrs, _) = hosts(&route(&rt, &s, "user@viamx.example"));
    assert_eq!(addrs.len(), 4);
    // A mailertable host that does not resolve: the postmaster's problem,
    // try again later.
    let r = route(&rt, &s, "user@broken.example");
    assert_eq!(failed(&r).code, 451);
    let SmarAnswer::Routed(r) = route(&rt, &s, "user@lmtp.example") else {
        panic!()
    };
    assert_eq!(r[0].next.key(), "lmtp:127.0.0.1:2001");
    let SmarAnswer::Routed(r) = route(&rt, &s, "user@localhost") else {
        panic!()
    };
    assert_eq!(
        r[0].next,
        NextHop::LmtpUnix {
            path: "lmtpsock".into()
        }
    );
    // A domain literal needs no DNS.
    let (addrs, _) = hosts(&route(&rt, &s, "user@[192.0.2.1]"));
    assert_eq!(addrs, ["192.0.2.1:25"]);
}

// ---------------------------------------------------------------------
// The process.
// ---------------------------------------------------------------------

struct Proc {
    child: Child,
    log: Arc<Mutex<Vec<String>>>,
    dir: PathBuf,
}

impl Proc {
    fn start(dir: &Path) -> Proc {
        let mut child = Command::new(env!("CARGO_BIN_EXE_smxd"))
            .arg("smar")
            .arg("-f")
            .arg(dir.join("smx.conf"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let err = child.stderr.take().unwrap();
        let l = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                eprintln!("| {line}");
                l.lock().unwrap().push(line);
            }
        });
        Proc {
            child,
            log,
            dir: dir.to_path_buf(),
        }
    }

    fn wait_for(&self, text: &str, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let count = self
                .log
                .lock()
                .unwrap()
                .iter()
                .filter(|l| l.contains(text))
                .count();
            if count >= n {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "`{text}` not logged {n} times: {:?}",
                self.log.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn signal(&self, sig: nix::sys::signal::Signal) {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.child.id() as i32), sig).unwrap();
    }

    fn wait_exit(&mut self) -> std::process::ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                return st;
            }
            assert!(Instant::now() < deadline, "smar did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn temp_dir(tag: &str) -> PathBuf {
    let n = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let d = std::env::temp_dir().join(format!("smx-smar-{tag}-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn rcpt(address: &str, client: Option<&str>) -> SmarRequest {
    SmarRequest::Rcpt {
        client: client.map(|c| c.parse().unwrap()),
        address: address.into(),
        access: true,
        lmtp_not_local: false,
    }
}

#[test]
fn the_process_answers_rcpt_and_route_and_reloads_on_sighup() {
    let dns = DnsServer::start(zone);
    let dir = temp_dir("proc");
    std::fs::write(
        dir.join("mt"),
        "localhost lmtp:\nexample.test lmtp:\nfar.example esmtp:[192.0.2.5]\n",
    )
    .unwrap();
    std::fs::write(dir.join("users"), "alice ok\nbob ok\n").unwrap();
    std::fs::write(
        dir.join("aliases"),
        "team: <alice@example.test> <carol@far.example>\nowner-team: alice\n\
         postmaster: alice\nghost: <nobody@example.test>\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("smx.conf"),
        format!(
            "queue_directory = q;\nhostname = example.test;\n\
             smar {{\n\
               map users {{ type = texthash; file = users; }}\n\
               map al {{ type = texthash; file = aliases; }}\n\
               aliases {{ name = al; }}\n\
               local_user_map {{ name = users; flags = implicitly_match_detail; }}\n\
               nameserver = {};\n\
               DNS_timeout = 1s;\n\
             }}\n",
            dns.addr
        ),
    )
    .unwrap();
    let mut p = Proc::start(&dir);
    p.wait_for("smar: ready", 1);
    let rt = runtime();
    let sock = dir.join("q/qmsmar/smarsock");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(dir.join("q/qmsmar"))
            .unwrap()
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o770);
    let client: Client<SmarRequest, SmarAnswer> = rt.block_on(async {
        let s = tokio::net::UnixStream::connect(&sock).await.unwrap();
        Client::new(s)
    });
    let ask = |req: SmarRequest| {
        rt.block_on(async {
            tokio::time::timeout(Duration::from_secs(20), client.call(req))
                .await
                .expect("SMAR answers in time")
                .unwrap()
        })
    };
    let code = |req: SmarRequest| match ask(req) {
        SmarAnswer::Rcpt(r) => (r.code, r.status),
        other => panic!("{other:?}"),
    };
    assert_eq!(
        code(rcpt("alice@example.test", None)),
        (250, "2.1.5".into())
    );
    assert_eq!(
        code(rcpt("alice+list@example.test", None)),
        (250, "2.1.5".into())
    );
    assert_eq!(code(rcpt("team@example.test", None)), (250, "2.1.5".into()));
    assert_eq!(
        code(rcpt("mallory@example.test", None)),
        (550, "5.1.1".into())
    );
    assert_eq!(
        code(rcpt("ghost@example.test", None)),
        (550, "5.1.1".into())
    );
    assert_eq!(
        code(rcpt("someone@far.example", Some("192.0.2.1"))),
        (550, "5.7.1".into())
    );
    assert_eq!(code(rcpt("Postmaster", None)), (250, "2.1.5".into()));

    let SmarAnswer::Routed(r) = ask(SmarRequest::Route {
        address: "team@example.test".into(),
    }) else {
        panic!()
    };
    assert_eq!(r.len(), 2, "{r:?}");
    assert_eq!(r[0].address, "alice@example.test");
    assert_eq!(
        r[0].next,
        NextHop::LmtpUnix {
            path: "lmtpsock".into()
        }
    );
    assert_eq!(r[1].address, "carol@far.example");
    assert_eq!(r[1].next.key(), "smtp:192.0.2.5:25");
    assert!(r
        .iter()
        .all(|x| x.sender.as_deref() == Some("owner-team@example.test")));
    // MX routing through the configured nameserver (address:port).
    let (addrs, _) = hosts(&ask(SmarRequest::Route {
        address: "user@pref.test".into(),
    }));
    assert_eq!(addrs.len(), 4, "{addrs:?}");
    match ask(SmarRequest::Route {
        address: "user@servfail.test".into(),
    }) {
        SmarAnswer::Failed(r) => assert_eq!(r.code, 451),
        other => panic!("{other:?}"),
    }

    // SIGHUP reloads the maps: a new user exists.
    std::fs::write(dir.join("users"), "alice ok\nbob ok\nmallory ok\n").unwrap();
    p.signal(nix::sys::signal::Signal::SIGHUP);
    p.wait_for("smar: SIGHUP", 1);
    assert_eq!(
        code(rcpt("mallory@example.test", None)),
        (250, "2.1.5".into())
    );

    p.signal(nix::sys::signal::Signal::SIGTERM);
    assert_eq!(p.wait_exit().code(), Some(0));
}

#[test]
fn a_missing_configured_mailertable_exits_78_naming_it() {
    let dir = temp_dir("nomt");
    std::fs::write(
        dir.join("smx.conf"),
        "queue_directory = q;\nsmar { mailertable { file = routes; } }\n",
    )
    .unwrap();
    let mut p = Proc::start(&dir);
    assert_eq!(p.wait_exit().code(), Some(78));
    p.wait_for("routes", 1);
}

#[test]
fn a_missing_default_mailertable_is_a_warning() {
    let dir = temp_dir("defmt");
    std::fs::write(dir.join("smx.conf"), "queue_directory = q;\n").unwrap();
    let p = Proc::start(&dir);
    p.wait_for("mailertable", 1);
    p.wait_for("smar: ready", 1);
    p.signal(nix::sys::signal::Signal::SIGTERM);
}

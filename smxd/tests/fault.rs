//! The fault suite (TESTING.md layer 4; DESIGN.md "Recovery"; README §3.7
//! restarts, §3.8 retries and bounces, §3.9 DNS, §1.1.1 IBDB): smxd under
//! a load of a few hundred messages, each with a unique marker, while one
//! thing goes wrong:
//!
//! - `kill -9` of each component (qmgr, smtps, smar, smtpc, lmtpl) while
//!   mail flows; the MCP restarts it (its `restarts` in `mcp.status`).
//!   Half the messages are relayed to a recording next hop, half delivered
//!   by lmtpl into a Maildir, so every component is in the path; and of
//!   the QMGR while every message is being deferred (DEFEDB under the
//!   kills). No kill may make up a bounce;
//! - DNS down: the nameserver does not answer, for a next hop the
//!   mailertable names by host name and (as root: port 25) for a domain
//!   known only by its MX: every message deferred with a 4xx, no bounce;
//!   delivered once DNS answers;
//! - the next hop refusing connections, slow (within smtpc's timeout),
//!   answering 4xx (delivered when it accepts again), answering 5xx
//!   (bounced to the local sender: counted as bounced, not lost);
//! - the next hop answering 4xx or 5xx after the end of data, or closing
//!   the connection there without a reply (deferred: it took nothing);
//! - the LMTP agent down (a stale socket nobody listens on): deferred;
//!   delivered once it is back;
//! - a torn IBDB tail: the last log file cut in the middle of its last
//!   record while smxd is stopped (all messages acknowledged, then
//!   deferred by a next hop answering 4xx). The QMGR logs the cut, the
//!   complete records are recovered, and the message of the cut record
//!   (acknowledged, and in DEFEDB since its deferral) is still delivered,
//!   once;
//! - SIGHUP to the MCP, several times, under load, each waited for until
//!   SMAR reloaded; one switches the mailertable to another next hop.
//!
//! Each test prints one line from [`common::ledger::Ledger`] (sent,
//! acknowledged with 250, delivered, bounced, duplicates, lost) and fails
//! if anything acknowledged was lost. Every wait is bounded; no timing is
//! asserted. The disk-full case is in `diskfull.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::dns::{Answer, DnsServer, RecordType};
use common::ledger::{
    mailbox, merge, wait_arrived, Behaviour, Counts, Fate, Ledger, Load, NextHop, Progress,
};
use common::{free_port, Rng, Smx, TestDir};
use nix::sys::signal::Signal;
use smxd::queue::ibdb::record::{decode, Decoded, Record, MAGIC};
use std::collections::HashSet;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Bound of one test's load.
const LOAD_LIMIT: Duration = Duration::from_secs(40);
/// Bound of the wait for deliveries after the load.
const ARRIVAL_LIMIT: Duration = Duration::from_secs(40);

/// Options per section, on top of the suite's base configuration.
#[derive(Default)]
struct Opts {
    qmgr: &'static str,
    smar: String,
    /// Default `io_timeout = 10s;`.
    smtpc: &'static str,
    lmtpl: &'static str,
    /// Mailertable right-hand side for remote.test; default the next hop
    /// on 127.0.0.1.
    remote: Option<String>,
}

/// smxd relaying remote.test to 127.0.0.1:`hop_port` and delivering
/// localhost through lmtpl; 127.0.0.1 may relay (access map); retries
/// after 1 to 2 seconds; the QMGR restarts the SMTP server with it.
fn start(dir: &Path, hop_port: u16, o: &Opts) -> Smx {
    common::access_map(dir, &[]);
    let remote = o
        .remote
        .clone()
        .unwrap_or_else(|| format!("{hop_port}^esmtp:[127.0.0.1]"));
    let mt = format!(
        "example.org 9^esmtp:[127.0.0.1]\nlocalhost lmtp:\nmx.example.test lmtp:\n\
         remote.test {remote}\n"
    );
    let extra = format!(
        "qmgr {{ restart_dependencies = {{ smtps }}; retry_min_delay = 1s; retry_max_delay = 2s; {} }}
         smar {{ access_map {{ file = \"access.db\"; }} {} }}
         smtpc {{ {} }}
         lmtpl {{ {} }}",
        o.qmgr,
        o.smar,
        if o.smtpc.is_empty() {
            "io_timeout = 10s;"
        } else {
            o.smtpc
        },
        o.lmtpl
    );
    Smx::start_with(dir, &mt, &extra, "flags = { access };")
}

/// Even markers go to the next hop, odd ones to bob's Maildir.
fn mixed(i: usize) -> String {
    if i % 2 == 0 {
        format!("u{i}@remote.test")
    } else {
        "bob@localhost".to_string()
    }
}

fn remote(i: usize) -> String {
    format!("u{i}@remote.test")
}

fn local(_: usize) -> String {
    "bob@localhost".to_string()
}

fn bob(smx: &Smx) -> PathBuf {
    smx.queue_dir().join("mail/bob/Maildir")
}

fn alice(smx: &Smx) -> PathBuf {
    smx.queue_dir().join("mail/alice/Maildir")
}

/// Everything delivered: the next hop's markers and bob's Maildir.
fn delivered(smx: &Smx, hop: &NextHop) -> Counts {
    let mut d = hop.received();
    merge(&mut d, &mailbox(&bob(smx)).delivered);
    d
}

/// Delivered or bounced to alice, for [`wait_arrived`].
fn arrived(smx: &Smx, hop: &NextHop) -> Counts {
    let mut d = delivered(smx, hop);
    merge(&mut d, &mailbox(&alice(smx)).bounced);
    d
}

/// Runs `load` to the end (bounded by its deadline).
fn run_load(smx: &Smx, load: &Load) -> Vec<Fate> {
    let p = Progress::new(load.messages);
    load.run(smx.port, &p);
    p.fates()
}

/// The final figures, after the daemon stopped; checks them.
fn settle(name: &str, smx: &mut Smx, hop: &NextHop, fates: &[Fate]) -> Ledger {
    wait_arrived(smx, fates, ARRIVAL_LIMIT, || arrived(smx, hop));
    let clean = smx.stop();
    let l = Ledger::tally(
        name,
        fates,
        &delivered(smx, hop),
        &mailbox(&alice(smx)).bounced,
    );
    l.check(&smx.log());
    assert!(clean, "the MCP did not stop on SIGTERM\n{}", smx.log());
    l
}

/// The restarts of `name` that `mcp.status` counts.
fn mcp_restarts(smx: &Smx, name: &str) -> u32 {
    let text = std::fs::read_to_string(smx.queue_dir().join("mcp.status")).unwrap_or_default();
    let list: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap_or_default();
    list.iter()
        .filter(|v| v["name"] == name)
        .filter_map(|v| v["restarts"].as_u64())
        .map(|n| n as u32)
        .sum()
}

/// `kill -9` of `target` `kills` times, each after a random number of
/// further `250`s (so while mail flows); waits for the MCP's restart
/// before the next. Returns the pids killed.
fn killer(smx: &Smx, target: &str, kills: usize, p: &Progress, deadline: Instant) -> Vec<i32> {
    let mut rng = Rng::from_env();
    let mut done = Vec::new();
    for _ in 0..kills {
        if !p.wait_more(rng.range(20, 80) as usize, deadline) {
            break;
        }
        let before = smx.started(target);
        let Some(&pid) = before.last() else {
            panic!("no {target} started:\n{}", smx.log());
        };
        assert!(smx.sigkill(pid), "cannot kill {target} pid={pid}");
        done.push(pid);
        let left = deadline.saturating_duration_since(Instant::now());
        smx.wait_for(
            &format!("mcp: started {target} pid="),
            before.len() + 1,
            left,
        );
    }
    done
}

/// Messages of a load with kills: enough that the load is still running
/// when the last kill comes, even where acceptance goes on at a few
/// hundred a second while the killed component waits out the MCP's
/// restart delay (1 s, then 2 s).
const KILL_LOAD: usize = 600;

fn kill9(target: &str) {
    const MESSAGES: usize = KILL_LOAD;
    const KILLS: usize = 2;
    let dir = TestDir::new(&format!("fault-kill-{target}"));
    let hop = NextHop::start(Behaviour::Accept);
    let mut smx = start(&dir.0, hop.port, &Opts::default());
    let load = Load::new(MESSAGES, 4, mixed, LOAD_LIMIT);
    let p = Progress::new(MESSAGES);
    let killed = std::thread::scope(|s| {
        s.spawn(|| load.run(smx.port, &p));
        killer(&smx, target, KILLS, &p, load.deadline)
    });
    assert_eq!(
        killed.len(),
        KILLS,
        "not every kill happened\n{}",
        smx.log()
    );
    let fates = p.fates();
    wait_arrived(&smx, &fates, ARRIVAL_LIMIT, || arrived(&smx, &hop));
    let restarts = mcp_restarts(&smx, target);
    assert!(
        restarts >= KILLS as u32,
        "mcp.status counts {restarts} restarts of {target}\n{}",
        smx.log()
    );
    for pid in &killed {
        assert!(
            smx.log()
                .contains(&format!("{target} pid={pid} killed by signal")),
            "the MCP did not see pid {pid} die\n{}",
            smx.log()
        );
    }
    let l = settle(&format!("kill9-{target}"), &mut smx, &hop, &fates);
    // The next hop and the Maildir accept everything: any bounce is one
    // the kill made up.
    assert_eq!((l.bounced, bounces(&smx)), (0, 0), "bounces\n{}", smx.log());
}

/// `kill -9` of the QMGR while every message is being deferred (the next
/// hop answers 4xx): DEFEDB is written and read under the kills; then the
/// next hop accepts and everything is delivered.
#[test]
fn kill9_qmgr_while_deferring() {
    const MESSAGES: usize = KILL_LOAD;
    const KILLS: usize = 3;
    let dir = TestDir::new("fault-kill-defer");
    let hop = NextHop::start(Behaviour::Tempfail);
    let mut smx = start(&dir.0, hop.port, &Opts::default());
    let load = Load::new(MESSAGES, 4, remote, LOAD_LIMIT);
    let p = Progress::new(MESSAGES);
    let killed = std::thread::scope(|s| {
        s.spawn(|| load.run(smx.port, &p));
        killer(&smx, "qmgr", KILLS, &p, load.deadline)
    });
    assert_eq!(
        killed.len(),
        KILLS,
        "not every kill happened\n{}",
        smx.log()
    );
    let fates = p.fates();
    wait_deferred(&smx, &fates);
    assert_eq!(bounces(&smx), 0, "{}", smx.log());
    hop.set(Behaviour::Accept);
    let l = settle("kill9-qmgr-deferring", &mut smx, &hop, &fates);
    assert_eq!(l.bounced, 0);
}

#[test]
fn kill9_qmgr_under_load() {
    kill9("qmgr");
}

#[test]
fn kill9_smtps_under_load() {
    kill9("smtps");
}

#[test]
fn kill9_smar_under_load() {
    kill9("smar");
}

#[test]
fn kill9_smtpc_under_load() {
    kill9("smtpc");
}

#[test]
fn kill9_lmtpl_under_load() {
    kill9("lmtpl");
}

/// Queue ids the QMGR logged as deferred with a 4xx reply.
fn deferred_4xx(smx: &Smx) -> HashSet<String> {
    smx.log()
        .lines()
        .filter(|l| l.contains("status=deferred (4"))
        .filter_map(|l| l.strip_prefix("qmgr: ")?.split(':').next())
        .map(str::to_string)
        .collect()
}

fn bounces(smx: &Smx) -> usize {
    smx.count("status=bounced")
}

/// Waits until every acknowledged message was deferred with a 4xx.
fn wait_deferred(smx: &Smx, fates: &[Fate]) {
    let ids: HashSet<String> = fates.iter().filter_map(|f| f.queued.clone()).collect();
    let deadline = Instant::now() + ARRIVAL_LIMIT;
    loop {
        let missing = ids.difference(&deferred_4xx(smx)).count();
        if missing == 0 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{missing} of {} acknowledged messages not deferred within {ARRIVAL_LIMIT:?}\n{}",
            ids.len(),
            smx.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

static DNS_UP: AtomicBool = AtomicBool::new(false);

/// Once [`DNS_UP`]: relay.remote.test is 127.0.0.1 (no MX), mxonly.test
/// has the MX mx1.mxonly.test at 127.0.0.20. Before that the nameserver
/// does not answer at all.
fn dns_zone(name: &str, t: RecordType) -> Answer {
    if !DNS_UP.load(Ordering::SeqCst) {
        return Answer::Silence;
    }
    match (name, t) {
        ("relay.remote.test.", RecordType::A) => Answer::A(vec![[127, 0, 0, 1].into()]),
        ("mxonly.test.", RecordType::MX) => Answer::Mx(vec![(10, "mx1.mxonly.test.")]),
        ("mx1.mxonly.test.", RecordType::A) => Answer::A(vec![[127, 0, 0, 20].into()]),
        (_, RecordType::MX) => Answer::Mx(vec![]),
        _ => Answer::NxDomain,
    }
}

/// Even markers to remote.test (a mailertable host name), odd ones to
/// mxonly.test (no mailertable entry: its MX, port 25).
fn dns_mixed(i: usize) -> String {
    if i % 2 == 0 {
        format!("u{i}@remote.test")
    } else {
        format!("u{i}@mxonly.test")
    }
}

/// DNS down: mail for a mailertable host name and (as root, for port 25)
/// for a domain known only by its MX is acknowledged, deferred with a
/// 4xx, never bounced; once the nameserver answers it is delivered.
#[test]
fn dns_down_defers_without_bouncing_then_delivers() {
    const MESSAGES: usize = 100;
    let dir = TestDir::new("fault-dns");
    let dns = DnsServer::start(dns_zone);
    let hop = NextHop::start(Behaviour::Accept);
    let mx = if nix::unistd::geteuid().is_root() {
        Some(NextHop::start_on(
            TcpListener::bind("127.0.0.20:25").unwrap(),
            Behaviour::Accept,
        ))
    } else {
        assert!(
            std::env::var_os("CI").is_none(),
            "the MX half of this test binds port 25 and must run as root in CI"
        );
        eprintln!("SKIP: the MX half of dns_down needs root to bind port 25");
        None
    };
    let o = Opts {
        smar: format!("nameserver = {}; DNS_timeout = 1s;", dns.addr),
        remote: Some(format!("{}^esmtp:relay.remote.test", hop.port)),
        ..Opts::default()
    };
    let mut smx = start(&dir.0, hop.port, &o);
    let rcpt = if mx.is_some() { dns_mixed } else { remote };
    let fates = run_load(&smx, &Load::new(MESSAGES, 4, rcpt, LOAD_LIMIT));
    wait_deferred(&smx, &fates);
    assert_eq!(bounces(&smx), 0, "{}", smx.log());
    assert!(hop.received().is_empty());
    DNS_UP.store(true, Ordering::SeqCst);
    let both = || {
        let mut d = arrived(&smx, &hop);
        if let Some(mx) = &mx {
            merge(&mut d, &mx.received());
        }
        d
    };
    wait_arrived(&smx, &fates, ARRIVAL_LIMIT, both);
    let clean = smx.stop();
    let mut got = delivered(&smx, &hop);
    if let Some(mx) = &mx {
        assert!(!mx.received().is_empty(), "nothing via the MX");
        merge(&mut got, &mx.received());
    }
    let l = Ledger::tally("dns-down", &fates, &got, &mailbox(&alice(&smx)).bounced);
    l.check(&smx.log());
    assert!(clean, "the MCP did not stop on SIGTERM\n{}", smx.log());
    assert_eq!((l.bounced, l.duplicates), (0, 0));
    assert!(smx.log().contains("4.4.3"), "{}", smx.log());
}

#[test]
fn next_hop_refusing_connections_defers_then_delivers() {
    const MESSAGES: usize = 200;
    let dir = TestDir::new("fault-refuse");
    let port = free_port();
    let mut smx = start(&dir.0, port, &Opts::default());
    let fates = run_load(&smx, &Load::new(MESSAGES, 4, remote, LOAD_LIMIT));
    wait_deferred(&smx, &fates);
    assert_eq!(bounces(&smx), 0, "{}", smx.log());
    let hop = NextHop::start_on(
        TcpListener::bind(("127.0.0.1", port)).unwrap(),
        Behaviour::Accept,
    );
    let l = settle("nexthop-refusing", &mut smx, &hop, &fates);
    assert_eq!((l.bounced, l.duplicates), (0, 0));
}

#[test]
fn slow_next_hop_within_the_timeout_gets_everything_once() {
    const MESSAGES: usize = 60;
    let dir = TestDir::new("fault-slow");
    let hop = NextHop::start(Behaviour::Slow(Duration::from_millis(400)));
    let o = Opts {
        smtpc: "io_timeout = 2s;",
        ..Opts::default()
    };
    let mut smx = start(&dir.0, hop.port, &o);
    let fates = run_load(&smx, &Load::new(MESSAGES, 4, remote, LOAD_LIMIT));
    let l = settle("nexthop-slow", &mut smx, &hop, &fates);
    assert_eq!((l.delivered, l.bounced, l.duplicates), (MESSAGES, 0, 0));
}

/// A next hop that fails temporarily with `b` (at RCPT, at the end of
/// data, or by closing the connection there): every message deferred,
/// none bounced, then all delivered once, when it accepts. `after_data`:
/// it refuses after the data, so it must have received nothing.
fn next_hop_deferring(name: &str, b: Behaviour, messages: usize, after_data: bool) {
    let dir = TestDir::new(&format!("fault-{name}"));
    let hop = NextHop::start(b);
    let mut smx = start(&dir.0, hop.port, &Opts::default());
    let fates = run_load(&smx, &Load::new(messages, 4, remote, LOAD_LIMIT));
    wait_deferred(&smx, &fates);
    assert!(hop.tempfails() >= messages);
    if after_data {
        assert!(hop.received().is_empty());
    }
    assert_eq!(bounces(&smx), 0, "{}", smx.log());
    hop.set(Behaviour::Accept);
    let l = settle(name, &mut smx, &hop, &fates);
    assert_eq!((l.bounced, l.duplicates), (0, 0));
}

/// A next hop that fails permanently with `b`: every message bounced to
/// its sender, none delivered. Returns the next hop for more checks.
fn next_hop_bouncing(name: &str, b: Behaviour, messages: usize) -> NextHop {
    let dir = TestDir::new(&format!("fault-{name}"));
    let hop = NextHop::start(b);
    let mut smx = start(&dir.0, hop.port, &Opts::default());
    let fates = run_load(&smx, &Load::new(messages, 4, remote, LOAD_LIMIT));
    let l = settle(name, &mut smx, &hop, &fates);
    assert_eq!((l.delivered, l.bounced), (0, messages));
    hop
}

#[test]
fn next_hop_answering_4xx_defers_then_delivers() {
    next_hop_deferring("nexthop-4xx", Behaviour::Tempfail, 200, false);
}

#[test]
fn next_hop_answering_5xx_bounces_everything_to_the_sender() {
    let hop = next_hop_bouncing("nexthop-5xx", Behaviour::Permfail, 200);
    assert!(hop.permfails() >= 200);
}

#[test]
fn next_hop_answering_4xx_after_data_defers_then_delivers() {
    next_hop_deferring("nexthop-4xx-data", Behaviour::TempfailData, 100, true);
}

#[test]
fn next_hop_dropping_the_connection_after_data_defers_then_delivers() {
    next_hop_deferring("nexthop-drop-data", Behaviour::DropAfterData, 100, true);
}

#[test]
fn next_hop_answering_5xx_after_data_bounces_to_the_sender() {
    next_hop_bouncing("nexthop-5xx-data", Behaviour::PermfailData, 100);
}

#[test]
fn lmtp_agent_down_defers_then_delivers() {
    const MESSAGES: usize = 200;
    let dir = TestDir::new("fault-lmtp");
    let hop = NextHop::start(Behaviour::Accept);
    // smtpc talks LMTP to `lmtp.route`; lmtpl listens on `lmtp.agent`.
    // Down: a stale socket at `lmtp.route` (the agent died, its socket
    // file stayed). Up: `lmtp.route` links to the agent's socket.
    let o = Opts {
        smtpc: "io_timeout = 10s; LMTP_socket = \"lmtp.route\";",
        lmtpl: "LMTP_socket = \"lmtp.agent\";",
        ..Opts::default()
    };
    let mut smx = start(&dir.0, hop.port, &o);
    let route = smx.queue_dir().join("lmtp.route");
    drop(std::os::unix::net::UnixListener::bind(&route).unwrap());
    let fates = run_load(&smx, &Load::new(MESSAGES, 4, local, LOAD_LIMIT));
    wait_deferred(&smx, &fates);
    assert_eq!(bounces(&smx), 0, "{}", smx.log());
    assert!(mailbox(&bob(&smx)).delivered.is_empty());
    std::fs::remove_file(&route).unwrap();
    std::os::unix::fs::symlink("lmtp.agent", &route).unwrap();
    let l = settle("lmtp-down", &mut smx, &hop, &fates);
    assert_eq!((l.bounced, l.duplicates), (0, 0));
}

/// SIGHUP to the MCP under load, each after a few more `250`s, each
/// waited for until SMAR logged its reload; after the second the
/// mailertable routes remote.test to another next hop, so the reload is
/// seen to take effect while mail flows.
#[test]
fn sighup_under_load_loses_nothing() {
    const MESSAGES: usize = 300;
    const HUPS: usize = 5;
    const RELOADED: &str = "maps and mailertable reloaded";
    let dir = TestDir::new("fault-hup");
    let hop = NextHop::start(Behaviour::Accept);
    let hop2 = NextHop::start(Behaviour::Accept);
    let mut smx = start(&dir.0, hop.port, &Opts::default());
    let load = Load::new(MESSAGES, 4, mixed, LOAD_LIMIT);
    let p = Progress::new(MESSAGES);
    let hups = std::thread::scope(|s| {
        s.spawn(|| load.run(smx.port, &p));
        let mut hups = 0;
        while hups < HUPS && p.wait_more(40, load.deadline) {
            if hups == 2 {
                let mt = std::fs::read_to_string(dir.0.join("mt")).unwrap();
                let mt = mt.replace(
                    &format!("remote.test {}^", hop.port),
                    &format!("remote.test {}^", hop2.port),
                );
                std::fs::write(dir.0.join("mt"), mt).unwrap();
            }
            let before = smx.count(RELOADED);
            smx.signal_mcp(Signal::SIGHUP);
            smx.wait_for(RELOADED, before + 1, Duration::from_secs(10));
            hups += 1;
        }
        hups
    });
    assert_eq!(hups, HUPS, "not every SIGHUP was sent\n{}", smx.log());
    let fates = p.fates();
    wait_arrived(&smx, &fates, ARRIVAL_LIMIT, || {
        let mut d = arrived(&smx, &hop);
        merge(&mut d, &hop2.received());
        d
    });
    let clean = smx.stop();
    let mut got = delivered(&smx, &hop);
    merge(&mut got, &hop2.received());
    let l = Ledger::tally("sighup", &fates, &got, &mailbox(&alice(&smx)).bounced);
    l.check(&smx.log());
    assert!(clean, "the MCP did not stop on SIGTERM\n{}", smx.log());
    assert_eq!(l.bounced, 0);
    assert!(
        !hop2.received().is_empty(),
        "the reloaded mailertable was not used\n{}",
        smx.log()
    );
}

/// The IBDB files, oldest first.
fn ibdb_files(queue: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(queue.join("ibdb"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    v.sort();
    v
}

/// The records of an IBDB file: (offset, length, record).
fn ibdb_records(data: &[u8]) -> Vec<(usize, usize, Record)> {
    let mut out = Vec::new();
    let mut at = MAGIC.len();
    while let Decoded::Record(rec, n) = decode(&data[at..]) {
        out.push((at, n, rec));
        at += n;
    }
    out
}

#[test]
fn a_torn_ibdb_tail_is_cut_and_the_complete_records_are_recovered() {
    const MESSAGES: usize = 100;
    let dir = TestDir::new("fault-ibdb");
    let hop = NextHop::start(Behaviour::Tempfail);
    let mut smx = start(&dir.0, hop.port, &Opts::default());
    let fates = run_load(&smx, &Load::new(MESSAGES, 4, remote, LOAD_LIMIT));
    wait_deferred(&smx, &fates);
    assert!(smx.stop(), "the MCP did not stop on SIGTERM");
    // The last record of the last file, cut in half: a write that a
    // crash interrupted.
    let last = ibdb_files(&smx.queue_dir()).pop().unwrap();
    let data = std::fs::read(&last).unwrap();
    let (at, len, rec) = ibdb_records(&data).pop().expect("a record in IBDB");
    assert_eq!(at + len, data.len(), "IBDB ends in a complete record");
    std::fs::write(&last, &data[..at + len / 2]).unwrap();
    let id = rec.id().to_string();
    let acked = fates
        .iter()
        .position(|f| f.queued.as_deref() == Some(id.as_str()));
    let kind = match &rec {
        Record::TaOpen(_) => "TaOpen",
        Record::RcptDone { .. } => "RcptDone",
        Record::TaDone { .. } => "TaDone",
    };
    println!(
        "torn IBDB tail: {kind} of {id} ({}) cut after {} of {len} bytes",
        acked.map_or("never acknowledged".to_string(), |i| format!(
            "marker m{i}, acknowledged and deferred, so also in DEFEDB"
        )),
        len / 2
    );
    hop.set(Behaviour::Accept);
    smx.spawn();
    smx.wait_for("torn tail of", 1, Duration::from_secs(10));
    let l = settle("ibdb-torn-tail", &mut smx, &hop, &fates);
    assert_eq!((l.delivered, l.bounced, l.duplicates), (MESSAGES, 0, 0));
}

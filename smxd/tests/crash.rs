//! Crash test (TESTING.md layer 4, DESIGN.md "Recovery"): while 2,000
//! messages arrive over several concurrent SMTP sessions, the QMGR and the
//! SMTP server are killed with SIGKILL several times at random moments and
//! the MCP restarts them. Afterwards, with the daemon stopped, the queue
//! (IBDB replayed through the queue module, every content file read) must
//! hold every message that got `250` (0 lost), hold a message more than
//! once only if a session broke after its end-of-data (the commit may have
//! happened without the client hearing of it, so the client sent it
//! again), and hold nothing whose end-of-data was never sent.
//!
//! The load generator is our own client (`common::ledger::Load`), not
//! smtp-source: smtp-source cannot put a unique marker into each message,
//! and the check needs one (`X-Marker: m<N>`) to tell which message is
//! which. It retries like a
//! real MTA: a message whose session broke or got a 4xx is sent again,
//! with the same marker, on a new connection.
//!
//! The QMGR is configured with `restart_dependencies = { smtps }` as in
//! the seed's smx.conf, so the SMTP server is restarted with it.
//!
//! The second test runs the same load through delivery (issue 5): lmtpl
//! delivers to a Maildir, and the SMTP client is killed too. Afterwards
//! every message that got `250` must have reached the Maildir at least
//! once; copies beyond the first (a kill between the delivery and the
//! QMGR logging it) are counted and reported, and nothing reaches the
//! Maildir whose end-of-data was never sent. It prints the fault suite's
//! ledger line (`fault crash-deliver: ...`).
//!
//! No timing is asserted; the whole test is bounded (`DEADLINE`) and the
//! processes are always stopped (see `common::Smx`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::ledger::{mailbox, marker, wait_arrived, Counts, Ledger, Load, Progress};
use common::{read_queue, Rng, Smx, TestDir};
use std::time::{Duration, Instant};

const MESSAGES: usize = 2000;
const SESSIONS: usize = 8;
const KILLS: usize = 6;
const DEADLINE: Duration = Duration::from_secs(120);

fn alice(_: usize) -> String {
    "alice@localhost".to_string()
}

/// Kills QMGR and SMTP server alternately, each time after a random number
/// of further `250`s (so always while mail is flowing), and waits for the
/// MCP to have restarted them before the next kill. Returns the kills.
fn killer(smx: &Smx, targets: &[&str], p: &Progress, deadline: Instant) -> Vec<String> {
    let mut rng = Rng::from_env();
    let mut kills = Vec::new();
    let mut qmgr_up = smx.count("qmgr: listening for SMTP servers");
    let mut smtps_up = smx.count("accepting connections");
    for k in 0..KILLS {
        let target = targets[k % targets.len()];
        // Spread the kills over the load: at most KILLS * 250 < MESSAGES.
        if !p.wait_more(rng.range(30, 250) as usize, deadline) {
            return kills;
        }
        std::thread::sleep(Duration::from_micros(rng.range(0, 20_000)));
        let Some(&pid) = smx.started(target).last() else {
            panic!("no {target} started:\n{}", smx.log());
        };
        assert!(smx.sigkill(pid), "cannot kill {target} pid={pid}");
        kills.push(format!("{target} pid={pid} after {} acks", p.acked()));
        let left = deadline.saturating_duration_since(Instant::now());
        if target == "smtpc" {
            // The MCP restarts it; it connects to the QMGR again.
            let up = smx.count("qmgr: SMTP client connected");
            smx.wait_for("qmgr: SMTP client connected", up + 1, left);
            continue;
        }
        // Killing the QMGR restarts the SMTP server too (dependency).
        if target == "qmgr" {
            qmgr_up += 1;
            smx.wait_for("qmgr: listening for SMTP servers", qmgr_up, left);
        }
        smtps_up += 1;
        smx.wait_for("accepting connections", smtps_up, left);
    }
    kills
}

#[test]
fn kill_9_of_qmgr_and_smtps_under_load_loses_no_acknowledged_message() {
    run(false);
}

#[test]
fn kill_9_during_delivery_every_acknowledged_message_reaches_the_maildir() {
    run(true);
}

fn run(deliver: bool) {
    let start = Instant::now();
    let deadline = start + DEADLINE;
    let dir = TestDir::new(if deliver { "crash-deliver" } else { "crash" });
    // Without lmtpl the QMGR cannot deliver: everything stays queued
    // (deferred). With it, everything is delivered.
    let (conf, targets): (&str, &[&str]) = if deliver {
        (
            "qmgr { restart_dependencies = { smtps }; retry_min_delay = 1s; retry_max_delay = 2s; }
             lmtpl { }",
            &["qmgr", "smtps", "smtpc"],
        )
    } else {
        (
            "qmgr { restart_dependencies = { smtps }; }",
            &["qmgr", "smtps"],
        )
    };
    let mut smx = Smx::start(&dir.0, conf);
    let port = smx.port;
    let load = Load {
        sender: "sender@example.org".to_string(),
        ..Load::new(MESSAGES, SESSIONS, alice, DEADLINE)
    };
    let p = Progress::new(MESSAGES);
    let kills = std::thread::scope(|s| {
        s.spawn(|| load.run(port, &p));
        killer(&smx, targets, &p, deadline)
    });
    let load_time = start.elapsed();
    let maildir = dir.0.join("queue/mail/alice/Maildir");
    let fates = p.fates();
    if deliver {
        // Wait (bounded) until every acknowledged message was delivered.
        let left = deadline.saturating_duration_since(Instant::now());
        wait_arrived(&smx, &fates, left, || mailbox(&maildir).delivered);
    }
    let clean = smx.stop();
    let log = smx.log();
    let mut ledger = None;
    let q = if deliver {
        let got = mailbox(&maildir).delivered;
        ledger = Some(Ledger::tally("crash-deliver", &fates, &got, &Counts::new()));
        // The sink is the Maildir: its copies stand for the queue's.
        let mut q = common::QueueContents::default();
        for (m, n) in got {
            let i: Option<usize> = m.strip_prefix('m').and_then(|n| n.parse().ok());
            let id = i
                .and_then(|i| fates.get(i)?.queued.clone())
                .unwrap_or_default();
            q.by_marker.insert(m, vec![id; n]);
        }
        q
    } else {
        read_queue(&dir.0.join("queue"))
    };

    let acks = fates.iter().filter(|f| f.queued.is_some()).count();
    let unfinished: Vec<String> = (0..MESSAGES)
        .filter(|&i| fates[i].queued.is_none() && fates[i].rejected.is_none())
        .map(marker)
        .collect();
    let rejected: Vec<String> = (0..MESSAGES)
        .filter_map(|i| Some(format!("{}: {}", marker(i), fates[i].rejected.as_ref()?)))
        .collect();
    // (a) every 250 is in the queue, under the id the 250 named.
    let lost: Vec<String> = (0..MESSAGES)
        .filter_map(|i| {
            let id = fates[i].queued.as_ref()?;
            (!q.holds(&marker(i), id)).then(|| format!("{} ({id})", marker(i)))
        })
        .collect();
    // (b) more than one copy only after a break following end-of-data.
    let mut duplicates = 0;
    let mut bad_copies = Vec::new();
    // (c) nothing queued whose end-of-data was never sent, or that is not
    // one of ours at all.
    let mut never_sent = Vec::new();
    for (m, ids) in &q.by_marker {
        let Some(i) = m.strip_prefix('m').and_then(|n| n.parse::<usize>().ok()) else {
            never_sent.push(m.clone());
            continue;
        };
        let Some(f) = fates.get(i) else {
            never_sent.push(m.clone());
            continue;
        };
        if !f.eod_sent {
            never_sent.push(m.clone());
        }
        duplicates += ids.len().saturating_sub(1);
        let allowed = usize::from(f.queued.is_some()) + f.broke_after_eod as usize;
        // Delivery is at least once: a kill between the delivery and its
        // record makes a second delivery, which is counted, not an error.
        if !deliver && ids.len() > allowed {
            bad_copies.push(format!("{m}: {ids:?} for {f:?}"));
        }
    }
    let queued: usize = q.by_marker.values().map(Vec::len).sum();
    let ambiguous: u32 = fates.iter().map(|f| f.broke_after_eod).sum();
    let tempfails: u32 = fates.iter().map(|f| f.tempfail_after_eod).sum();
    let retried = fates.iter().filter(|f| f.attempts > 1).count();
    let place = if deliver { "delivered" } else { "queued" };
    println!(
        "sent {MESSAGES}, acknowledged with 250 {acks}, {place} {queued}, duplicates {duplicates}, lost {}",
        lost.len()
    );
    println!(
        "kills {}: {kills:?}; load took {load_time:?}; retried messages {retried}; \
         breaks after end-of-data {ambiguous}; 4xx after end-of-data {tempfails}; \
         IBDB transactions {}, without content {}, orphan content files {}; MCP stopped cleanly: {clean}",
        kills.len(),
        q.transactions,
        q.missing_content.len(),
        q.orphans
    );
    if let Some(l) = &ledger {
        l.check(&log);
    }
    let why = || format!("\nlog:\n{log}");
    assert_eq!(kills.len(), KILLS, "not every kill happened{}", why());
    assert!(
        unfinished.is_empty(),
        "not finished in time: {} markers, e.g. {:?}{}",
        unfinished.len(),
        &unfinished[..unfinished.len().min(10)],
        why()
    );
    assert!(rejected.is_empty(), "5xx: {rejected:?}{}", why());
    assert!(lost.is_empty(), "LOST after 250: {lost:?}{}", why());
    assert!(
        bad_copies.is_empty(),
        "unexplained copies: {bad_copies:?}{}",
        why()
    );
    assert!(
        never_sent.is_empty(),
        "queued but never sent to the end: {never_sent:?}{}",
        why()
    );
    assert!(
        q.unmarked.is_empty(),
        "transactions without a marker: {:?}",
        q.unmarked
    );
    assert!(clean, "the MCP did not stop on SIGTERM{}", why());
}

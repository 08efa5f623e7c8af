//! The accounting of the fault tests (TESTING.md layer 4, DESIGN.md
//! "Recovery": every message that got a `250` is delivered at least once,
//! nothing that did not get one is delivered).
//!
//! - [`Load`]: N client threads sending M messages, each with a unique
//!   marker (`X-Marker: m<N>`; smtp-source cannot put one in), retrying
//!   like an MTA: a session that broke or a 4xx sends the same marker again
//!   on a new connection. What happened to each marker is its [`Fate`].
//! - The receiving end: [`NextHop`], a recording SMTP next hop whose
//!   behaviour the test switches (accept, slow, 4xx, 5xx), and
//!   [`mailbox`], the markers in a Maildir, telling deliveries from bounces
//!   (RFC 3464 reports with `Action: failed` to the null sender).
//! - [`Ledger`]: one line per test, always the same shape,
//!   `fault NAME: sent=.. acked=.. delivered=.. bounced=.. duplicates=..
//!   lost=..`, where lost counts markers acknowledged with `250` that
//!   reached neither a mailbox, the next hop, nor the sender as a bounce.

use super::{message, read_data, Outcome, Session, Smx};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Time for one SMTP reply from smxd.
pub const IO_TIMEOUT: Duration = Duration::from_secs(30);

/// Marker -> copies seen.
pub type Counts = BTreeMap<String, usize>;

/// What happened to one marker, over all its attempts.
#[derive(Debug, Default, Clone)]
pub struct Fate {
    pub attempts: u32,
    /// The queue id of the `250`.
    pub queued: Option<String>,
    /// The final `.` was sent at least once.
    pub eod_sent: bool,
    /// Broke after the final `.` without a reply, or got the 451 of a
    /// QMGR that did not answer the commit: ambiguous.
    pub broke_after_eod: u32,
    /// A 4xx answered the end of data.
    pub tempfail_after_eod: u32,
    /// A 5xx from smxd (never expected in the fault tests).
    pub rejected: Option<String>,
}

pub fn marker(i: usize) -> String {
    format!("m{i}")
}

/// The index of a marker made by [`marker`].
pub fn index(marker: &str) -> Option<usize> {
    marker.strip_prefix('m')?.parse().ok()
}

/// The load: `messages` markers over `sessions` concurrent SMTP sessions.
pub struct Load {
    pub messages: usize,
    pub sessions: usize,
    /// Approximate message size in bytes.
    pub size: usize,
    /// Envelope sender (bounces go there).
    pub sender: String,
    /// The recipient of marker `i`.
    pub rcpt: fn(usize) -> String,
    /// No attempt starts after this.
    pub deadline: Instant,
}

/// Shared state of a running [`Load`]: watch `acked` from another thread.
pub struct Progress {
    next: AtomicUsize,
    acked: AtomicUsize,
    done: AtomicBool,
    fates: Mutex<Vec<Fate>>,
}

impl Progress {
    pub fn new(messages: usize) -> Progress {
        Progress {
            next: AtomicUsize::new(0),
            acked: AtomicUsize::new(0),
            done: AtomicBool::new(false),
            fates: Mutex::new(vec![Fate::default(); messages]),
        }
    }

    /// Markers acknowledged with `250` so far.
    pub fn acked(&self) -> usize {
        self.acked.load(Ordering::SeqCst)
    }

    /// Every client thread has finished.
    pub fn done(&self) -> bool {
        self.done.load(Ordering::SeqCst)
    }

    pub fn fates(&self) -> Vec<Fate> {
        self.fates.lock().unwrap().clone()
    }

    /// Waits (bounded by `deadline`) until `n` more markers than now are
    /// acknowledged; false if the load ended or time ran out first.
    pub fn wait_more(&self, n: usize, deadline: Instant) -> bool {
        let want = self.acked() + n;
        while self.acked() < want {
            if self.done() || Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        true
    }
}

impl Load {
    /// `messages` markers over `sessions` sessions from `alice@localhost`
    /// (so that bounces reach a local Maildir), 1,200 bytes each.
    pub fn new(
        messages: usize,
        sessions: usize,
        rcpt: fn(usize) -> String,
        limit: Duration,
    ) -> Load {
        Load {
            messages,
            sessions,
            size: 1200,
            sender: "alice@localhost".to_string(),
            rcpt,
            deadline: Instant::now() + limit,
        }
    }

    /// Sends everything (blocking) and marks `p` done.
    pub fn run(&self, port: u16, p: &Progress) {
        std::thread::scope(|s| {
            for _ in 0..self.sessions {
                s.spawn(|| self.client(port, p));
            }
        });
        p.done.store(true, Ordering::SeqCst);
    }

    /// One client thread: takes the next marker until all are taken, and
    /// sends it until it is queued, permanently refused, or time is up.
    fn client(&self, port: u16, p: &Progress) {
        let mut session: Option<Session> = None;
        loop {
            let i = p.next.fetch_add(1, Ordering::SeqCst);
            if i >= self.messages {
                break;
            }
            let m = marker(i);
            let content = message(&m, self.size);
            let rcpt = (self.rcpt)(i);
            loop {
                if Instant::now() > self.deadline {
                    return;
                }
                let s = match session.as_mut() {
                    Some(s) => s,
                    None => match Session::open(port, IO_TIMEOUT) {
                        Ok(s) => session.insert(s),
                        Err(_) => {
                            // The SMTP server is being restarted.
                            std::thread::sleep(Duration::from_millis(100));
                            continue;
                        }
                    },
                };
                let outcome = s.send(&self.sender, &rcpt, &content);
                let mut f = p.fates.lock().unwrap();
                let fate = &mut f[i];
                fate.attempts += 1;
                match outcome {
                    Outcome::Queued(id) => {
                        fate.eod_sent = true;
                        fate.queued = Some(id);
                        p.acked.fetch_add(1, Ordering::SeqCst);
                        break;
                    }
                    Outcome::Refused {
                        code,
                        after_eod,
                        text,
                    } if (400..500).contains(&code) => {
                        fate.eod_sent |= after_eod;
                        // The SMTP server's 451 when the QMGR did not answer
                        // the commit: it may have logged it before it went
                        // away, so this is as ambiguous as a break.
                        if after_eod && text.contains("queue manager unavailable") {
                            fate.broke_after_eod += 1;
                        } else {
                            fate.tempfail_after_eod += u32::from(after_eod);
                        }
                        drop(f);
                        // Again later on a new connection, like an MTA.
                        if let Some(s) = session.take() {
                            s.quit();
                        }
                        std::thread::sleep(Duration::from_millis(100));
                    }
                    Outcome::Refused {
                        code,
                        text,
                        after_eod,
                    } => {
                        fate.eod_sent |= after_eod;
                        fate.rejected = Some(format!("{code} {}", text.trim()));
                        break;
                    }
                    Outcome::Broken { after_eod } => {
                        fate.eod_sent |= after_eod;
                        fate.broke_after_eod += u32::from(after_eod);
                        drop(f);
                        session = None;
                        std::thread::sleep(Duration::from_millis(50));
                    }
                }
            }
        }
        if let Some(s) = session {
            s.quit();
        }
    }
}

/// The first `X-Marker:` in a message (the original's, in a bounce).
pub fn marker_in(text: &str) -> Option<String> {
    text.lines()
        .find_map(|l| l.strip_prefix("X-Marker: "))
        .map(|m| m.trim().to_string())
}

/// What a Maildir holds, by marker.
#[derive(Debug, Default, Clone)]
pub struct Mailbox {
    /// Ordinary deliveries.
    pub delivered: Counts,
    /// Bounces (RFC 3464, `Action: failed`), by the original's marker.
    pub bounced: Counts,
    /// Other reports to the null sender (delay notices).
    pub notices: usize,
}

/// Reads the Maildir `dir` (its `new/`).
pub fn mailbox(dir: &Path) -> Mailbox {
    let mut out = Mailbox::default();
    let Ok(rd) = std::fs::read_dir(dir.join("new")) else {
        return out;
    };
    for e in rd.flatten() {
        let text = std::fs::read_to_string(e.path()).unwrap_or_default();
        let report = text.starts_with("Return-Path: <>");
        if report && !text.contains("Action: failed") {
            out.notices += 1;
            continue;
        }
        let Some(m) = marker_in(&text) else {
            continue;
        };
        let into = if report {
            &mut out.bounced
        } else {
            &mut out.delivered
        };
        *into.entry(m).or_insert(0) += 1;
    }
    out
}

/// Adds `b` into `a`.
pub fn merge(a: &mut Counts, b: &Counts) {
    for (m, n) in b {
        *a.entry(m.clone()).or_insert(0) += n;
    }
}

/// How the [`NextHop`] answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// `250` to everything.
    Accept,
    /// Accepts, but every reply (the greeting too) comes after this delay.
    Slow(Duration),
    /// `451 4.3.0` to every RCPT.
    Tempfail,
    /// `550 5.1.1` to every RCPT.
    Permfail,
    /// `451 4.3.0` after the end of data.
    TempfailData,
    /// `554 5.6.0` after the end of data.
    PermfailData,
    /// Closes the connection after the end of data, without a reply: the
    /// client cannot know whether the message was taken (it was not).
    DropAfterData,
}

struct HopState {
    behaviour: Mutex<Behaviour>,
    got: Mutex<Counts>,
    tempfails: AtomicUsize,
    permfails: AtomicUsize,
    stop: AtomicBool,
}

/// A recording SMTP next hop on 127.0.0.1: counts the markers of the
/// messages it accepted; stops listening on drop.
pub struct NextHop {
    pub port: u16,
    state: Arc<HopState>,
}

impl NextHop {
    pub fn start(b: Behaviour) -> NextHop {
        NextHop::start_on(TcpListener::bind("127.0.0.1:0").unwrap(), b)
    }

    /// On a listener bound by the caller (a port chosen earlier).
    pub fn start_on(l: TcpListener, b: Behaviour) -> NextHop {
        let port = l.local_addr().unwrap().port();
        l.set_nonblocking(true).unwrap();
        let state = Arc::new(HopState {
            behaviour: Mutex::new(b),
            got: Mutex::new(Counts::new()),
            tempfails: AtomicUsize::new(0),
            permfails: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
        });
        let st = state.clone();
        std::thread::spawn(move || {
            while !st.stop.load(Ordering::SeqCst) {
                match l.accept() {
                    Ok((s, _)) => {
                        let st = st.clone();
                        std::thread::spawn(move || {
                            let _ = serve(s, &st);
                        });
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        NextHop { port, state }
    }

    pub fn set(&self, b: Behaviour) {
        *self.state.behaviour.lock().unwrap() = b;
    }

    /// Markers of the messages accepted so far.
    pub fn received(&self) -> Counts {
        self.state.got.lock().unwrap().clone()
    }

    /// `451` replies given so far.
    pub fn tempfails(&self) -> usize {
        self.state.tempfails.load(Ordering::SeqCst)
    }

    /// `550` replies given so far.
    pub fn permfails(&self) -> usize {
        self.state.permfails.load(Ordering::SeqCst)
    }
}

impl Drop for NextHop {
    fn drop(&mut self) {
        self.state.stop.store(true, Ordering::SeqCst);
    }
}

fn serve(s: TcpStream, st: &HopState) -> std::io::Result<()> {
    s.set_nonblocking(false)?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut w = s.try_clone()?;
    let mut r = BufReader::new(s);
    let say = |w: &mut TcpStream, text: &str| {
        // Copied out first: the lock must not be held while sleeping.
        let b = *st.behaviour.lock().unwrap();
        if let Behaviour::Slow(d) = b {
            std::thread::sleep(d);
        }
        w.write_all(text.as_bytes())
    };
    say(&mut w, "220 nexthop.test ESMTP\r\n")?;
    let mut rcpts = 0;
    loop {
        let mut line = String::new();
        if r.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let upper = line.to_ascii_uppercase();
        if upper.starts_with("EHLO") {
            say(&mut w, "250-nexthop.test\r\n250 ENHANCEDSTATUSCODES\r\n")?;
        } else if upper.starts_with("MAIL") {
            rcpts = 0;
            say(&mut w, "250 2.1.0 ok\r\n")?;
        } else if upper.starts_with("RCPT") {
            let b = *st.behaviour.lock().unwrap();
            match b {
                Behaviour::Tempfail => {
                    st.tempfails.fetch_add(1, Ordering::SeqCst);
                    say(&mut w, "451 4.3.0 try again later\r\n")?;
                }
                Behaviour::Permfail => {
                    st.permfails.fetch_add(1, Ordering::SeqCst);
                    say(&mut w, "550 5.1.1 no such user here\r\n")?;
                }
                _ => {
                    rcpts += 1;
                    say(&mut w, "250 2.1.5 ok\r\n")?;
                }
            }
        } else if upper.starts_with("DATA") {
            if rcpts == 0 {
                say(&mut w, "554 5.5.1 no valid recipients\r\n")?;
                continue;
            }
            say(&mut w, "354 go ahead\r\n")?;
            let Some(data) = read_data(&mut r)? else {
                return Ok(());
            };
            let b = *st.behaviour.lock().unwrap();
            match b {
                Behaviour::TempfailData => {
                    st.tempfails.fetch_add(1, Ordering::SeqCst);
                    say(&mut w, "451 4.3.0 cannot store it now\r\n")?;
                    continue;
                }
                Behaviour::PermfailData => {
                    st.permfails.fetch_add(1, Ordering::SeqCst);
                    say(&mut w, "554 5.6.0 content refused\r\n")?;
                    continue;
                }
                Behaviour::DropAfterData => {
                    st.tempfails.fetch_add(1, Ordering::SeqCst);
                    return Ok(());
                }
                _ => {}
            }
            say(&mut w, "250 2.0.0 queued\r\n")?;
            // Counted once the 250 is written: what smtpc could hear of.
            let m = marker_in(&data).unwrap_or_else(|| "(no marker)".to_string());
            *st.got.lock().unwrap().entry(m).or_insert(0) += 1;
        } else if upper.starts_with("QUIT") {
            say(&mut w, "221 2.0.0 bye\r\n")?;
            return Ok(());
        } else {
            say(&mut w, "250 2.0.0 ok\r\n")?;
        }
    }
}

/// The figures of one fault test.
#[derive(Debug, Default)]
pub struct Ledger {
    pub name: String,
    /// Markers the load sent.
    pub sent: usize,
    /// Markers acknowledged with `250`.
    pub acked: usize,
    /// Markers that reached a mailbox or the next hop.
    pub delivered: usize,
    /// Markers not delivered but bounced to the sender.
    pub bounced: usize,
    /// Copies beyond the first (delivery is at least once).
    pub duplicates: usize,
    /// Acknowledged markers neither delivered nor bounced.
    pub lost: Vec<String>,
    /// Delivered or bounced markers whose end of data was never sent, or
    /// that are not ours: must never happen.
    pub phantoms: Vec<String>,
    /// Markers neither acknowledged nor refused when the load ended.
    pub unfinished: Vec<String>,
    /// Markers refused by smxd with a 5xx.
    pub rejected: Vec<String>,
    /// Sessions that broke after the final `.` without a reply: the
    /// client sent the marker again, so a duplicate may follow that smxd
    /// could not avoid (RFC 1047).
    pub broke_after_eod: u32,
    /// Duplicates of markers with such a break.
    pub resent_duplicates: usize,
}

impl Ledger {
    /// Tallies the fates of the load against what arrived.
    pub fn tally(name: &str, fates: &[Fate], delivered: &Counts, bounced: &Counts) -> Ledger {
        let mut l = Ledger {
            name: name.to_string(),
            sent: fates.len(),
            acked: fates.iter().filter(|f| f.queued.is_some()).count(),
            ..Ledger::default()
        };
        for (i, f) in fates.iter().enumerate() {
            let m = marker(i);
            let d = delivered.get(&m).copied().unwrap_or(0);
            let b = bounced.get(&m).copied().unwrap_or(0);
            if d > 0 {
                l.delivered += 1;
            } else if b > 0 {
                l.bounced += 1;
            }
            let extra = (d + b).saturating_sub(1);
            l.duplicates += extra;
            l.broke_after_eod += f.broke_after_eod;
            l.resent_duplicates += extra.min(f.broke_after_eod as usize);
            if f.queued.is_some() && d + b == 0 {
                l.lost.push(m.clone());
            }
            if (d + b) > 0 && !f.eod_sent {
                l.phantoms.push(m.clone());
            }
            if f.queued.is_none() && f.rejected.is_none() {
                l.unfinished.push(m.clone());
            }
            if let Some(r) = &f.rejected {
                l.rejected.push(format!("{m}: {r}"));
            }
        }
        for m in delivered.keys().chain(bounced.keys()) {
            if !index(m).is_some_and(|i| i < fates.len()) {
                l.phantoms.push(m.clone());
            }
        }
        l
    }

    /// The one line the test prints.
    pub fn line(&self) -> String {
        format!(
            "fault {}: sent={} acked={} delivered={} bounced={} duplicates={} lost={}",
            self.name,
            self.sent,
            self.acked,
            self.delivered,
            self.bounced,
            self.duplicates,
            self.lost.len()
        )
    }

    /// Prints the line; asserts nothing acknowledged was lost, nothing
    /// was delivered that was not sent, every marker was acknowledged
    /// and none refused with a 5xx. `log` is shown on failure.
    pub fn check(&self, log: &str) {
        println!("{}", self.line());
        if self.duplicates > 0 || self.broke_after_eod > 0 {
            println!(
                "  ({}: {} sessions broke after end of data and sent again; \
                 {} of the duplicates are of such markers)",
                self.name, self.broke_after_eod, self.resent_duplicates
            );
        }
        let few = |v: &[String]| v[..v.len().min(10)].to_vec();
        assert!(
            self.lost.is_empty(),
            "LOST after 250: {} markers, e.g. {:?}\nlog:\n{log}",
            self.lost.len(),
            few(&self.lost)
        );
        assert!(
            self.phantoms.is_empty(),
            "delivered but never sent to the end: {:?}\nlog:\n{log}",
            few(&self.phantoms)
        );
        assert!(
            self.unfinished.is_empty(),
            "not acknowledged in time: {} markers, e.g. {:?}\nlog:\n{log}",
            self.unfinished.len(),
            few(&self.unfinished)
        );
        assert!(
            self.rejected.is_empty(),
            "refused with 5xx: {:?}\nlog:\n{log}",
            few(&self.rejected)
        );
    }
}

/// Waits (bounded by `limit`) until every acknowledged marker of `fates`
/// is in what `arrived` returns; returns its last answer.
pub fn wait_arrived(
    smx: &Smx,
    fates: &[Fate],
    limit: Duration,
    mut arrived: impl FnMut() -> Counts,
) -> Counts {
    let deadline = Instant::now() + limit;
    loop {
        let got = arrived();
        let missing = fates
            .iter()
            .enumerate()
            .filter(|(i, f)| f.queued.is_some() && !got.contains_key(&marker(*i)))
            .count();
        if missing == 0 || Instant::now() > deadline {
            if missing > 0 {
                eprintln!(
                    "{missing} acknowledged markers not arrived within {limit:?}; log tail:\n{}",
                    tail(&smx.log(), 40)
                );
            }
            return got;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The last `n` lines of `text`.
pub fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

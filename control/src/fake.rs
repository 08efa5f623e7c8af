//! An in-memory [`ControlBackend`] for tests, benchmarks and demos of the
//! control tools (smxctl, smx-tui) without a running smxd. It keeps a
//! vector of [`QueueEntry`] behind a mutex, applies the actions the way the
//! QMGR does (hold/release change the state, delete/bounce remove the
//! entry, flush makes deferred entries active) and publishes the matching
//! [`Event`]s.

use crate::server::ControlBackend;
use crate::types::{
    Component, Counters, Event, EventKind, QueueDetail, QueueEntry, QueueSizes, RcptEntry,
    RcptStatus, State, Stats, Status,
};
use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use tokio::sync::broadcast;

/// The fake queue.
#[derive(Debug)]
pub struct FakeBackend {
    entries: Mutex<Vec<QueueEntry>>,
    events: broadcast::Sender<Event>,
    /// How often `reload` was called.
    pub reloads: AtomicUsize,
    /// How often `stop` was called.
    pub stops: AtomicUsize,
}

const DOMAINS: [&str; 5] = [
    "example.com",
    "example.org",
    "mail.example.net",
    "slow.example",
    "down.example",
];

/// `n` generated entries: ids `Q00000001`…, recipients spread over five
/// domains, ages spread over two days, every 7th held, every 10th
/// incoming, every 3rd active, the rest deferred with a reason.
pub fn entries(n: usize) -> Vec<QueueEntry> {
    (0..n)
        .map(|i| {
            let domain = DOMAINS[i % DOMAINS.len()];
            let state = if i % 7 == 6 {
                State::Held
            } else if i % 10 == 9 {
                State::Incoming
            } else if i % 3 == 2 {
                State::Active
            } else {
                State::Deferred
            };
            let reply = (state == State::Deferred)
                .then(|| format!("451 4.4.1 connection to {domain} timed out"));
            QueueEntry {
                id: format!("Q{:08}", i + 1),
                state,
                age_secs: (i as u64 * 97) % 172_800,
                size: 1000 + (i as u64 % 50) * 512,
                sender: if i % 11 == 10 {
                    String::new()
                } else {
                    format!("sender{}@origin.example", i % 13)
                },
                recipients: vec![RcptEntry {
                    address: format!("user{}@{domain}", i % 17),
                    status: if state == State::Deferred {
                        RcptStatus::Deferred
                    } else {
                        RcptStatus::Pending
                    },
                    last_reply: reply.clone(),
                }],
                tries: if state == State::Deferred {
                    1 + (i % 4) as u32
                } else {
                    0
                },
                next_try: (state == State::Deferred).then_some(1_900_000_000 + i as u64),
                reason: reply,
                relay: (state == State::Deferred).then(|| format!("mx.{domain}")),
            }
        })
        .collect()
}

impl FakeBackend {
    /// A backend holding `entries`.
    pub fn new(entries: Vec<QueueEntry>) -> FakeBackend {
        let (events, _) = broadcast::channel(1024);
        FakeBackend {
            entries: Mutex::new(entries),
            events,
            reloads: AtomicUsize::new(0),
            stops: AtomicUsize::new(0),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Vec<QueueEntry>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds an entry and publishes `received`.
    pub fn push(&self, e: QueueEntry) {
        let id = e.id.clone();
        self.lock().push(e);
        self.emit(EventKind::Received, &id);
    }

    /// A copy of the current entries.
    pub fn snapshot(&self) -> Vec<QueueEntry> {
        self.lock().clone()
    }

    fn emit(&self, kind: EventKind, id: &str) {
        let _ = self.events.send(Event {
            event: kind,
            id: id.to_owned(),
            recipient: None,
            reason: None,
            missed: None,
        });
    }

    /// Applies `f` to the entries with these ids; `f` returns whether it
    /// changed the entry; returns the count and publishes `kind` for each.
    fn update(
        &self,
        ids: &[String],
        kind: EventKind,
        f: impl Fn(&mut QueueEntry) -> bool,
    ) -> usize {
        let want: HashSet<&str> = ids.iter().map(String::as_str).collect();
        let mut done = Vec::new();
        for e in self.lock().iter_mut() {
            if want.contains(e.id.as_str()) && f(e) {
                done.push(e.id.clone());
            }
        }
        for id in &done {
            self.emit(kind, id);
        }
        done.len()
    }

    fn remove(&self, ids: &[String], kind: EventKind) -> usize {
        let want: HashSet<&str> = ids.iter().map(String::as_str).collect();
        let mut gone = Vec::new();
        self.lock().retain(|e| {
            let hit = want.contains(e.id.as_str());
            if hit {
                gone.push(e.id.clone());
            }
            !hit
        });
        for id in &gone {
            self.emit(kind, id);
        }
        gone.len()
    }
}

impl ControlBackend for FakeBackend {
    fn list(&self) -> std::sync::Arc<Vec<QueueEntry>> {
        std::sync::Arc::new(self.snapshot())
    }

    fn show(&self, id: &str) -> Option<QueueDetail> {
        let e = self.lock().iter().find(|e| e.id == id).cloned()?;
        let headers = format!(
            "From: <{}>\r\nTo: <{}>\r\nSubject: test {}\r\nMessage-ID: <{}@origin.example>\r\n",
            e.sender,
            e.recipients.first().map_or("", |r| r.address.as_str()),
            e.id,
            e.id
        );
        Some(QueueDetail { entry: e, headers })
    }

    fn flush(&self, ids: &[String]) -> usize {
        self.update(ids, EventKind::Received, |e| {
            if matches!(e.state, State::Deferred | State::Incoming) {
                e.state = State::Active;
                e.next_try = None;
                true
            } else {
                false
            }
        })
    }

    fn hold(&self, ids: &[String]) -> usize {
        self.update(ids, EventKind::Held, |e| {
            let change = e.state != State::Held;
            e.state = State::Held;
            change
        })
    }

    fn release(&self, ids: &[String]) -> usize {
        self.update(ids, EventKind::Released, |e| {
            let change = e.state == State::Held;
            if change {
                e.state = State::Deferred;
            }
            change
        })
    }

    fn delete(&self, ids: &[String]) -> usize {
        self.remove(ids, EventKind::Deleted)
    }

    fn bounce(&self, ids: &[String]) -> usize {
        self.remove(ids, EventKind::Bounced)
    }

    fn stats(&self) -> Stats {
        let entries = self.lock();
        Stats {
            counters: Counters {
                received: entries.len() as u64,
                ..Counters::default()
            },
            queue: QueueSizes::count(entries.iter()),
            ..Stats::default()
        }
    }

    fn status(&self) -> Status {
        Status {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            components: vec![Component {
                name: "qmgr".to_owned(),
                pid: Some(std::process::id()),
                uptime_secs: 0,
                restarts: 0,
                version: env!("CARGO_PKG_VERSION").to_owned(),
            }],
        }
    }

    fn reload(&self) {
        self.reloads.fetch_add(1, Ordering::SeqCst);
    }

    fn stop(&self) {
        self.stops.fetch_add(1, Ordering::SeqCst);
    }

    fn events(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }
}

//! The QMGR scheduler (README §3.8; DESIGN.md "Scheduling"): what to try,
//! when, and how much at once.
//!
//! - A newly committed transaction is tried at once ([`Scheduler::submit`]).
//! - The active queue (AQ) holds the recipients being tried; it is bounded
//!   by `AQ_max_entries` (a semaphore of recipient slots). While it is
//!   full, new transactions wait in IQDB, and when IQDB is full the SMTP
//!   servers answer `452 4.3.1`: mail waits at the client, never lost.
//! - After an attempt that left recipients deferred, the transaction goes
//!   to DEFEDB with its next try `retry_min_delay * 2^(tries-1)`, at most
//!   `retry_max_delay`; a timer wakes it ([`Scheduler::run_timers`]).
//! - Outgoing connections per destination start at `initial_connections`
//!   and grow by one with every successful delivery up to
//!   `max_connections` (slow start, §3.8 item 16); a failed one shrinks
//!   the window back to `initial_connections`.
//!
//! One attempt of one transaction is in [`super::attempt`]; notices to the
//! sender in [`super::bounce`].

use super::attempt;
use super::bounce::Bouncer;
use super::peers::{SmarLink, SmtpcPool};
use crate::queue::{Deferred, Queue, QueueId, Transaction};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Notify, Semaphore};

/// The scheduler's settings, from `qmgr { }`.
#[derive(Debug, Clone)]
pub struct SchedConf {
    /// `AQ_max_entries`: recipients being tried at once.
    pub aq_max_entries: usize,
    /// `retry_min_delay`.
    pub retry_min: Duration,
    /// `retry_max_delay`.
    pub retry_max: Duration,
    /// `queue_delay_timeout`: a delay notice after this long.
    pub delay_timeout: Duration,
    /// `queue_return_timeout`: bounce after this long.
    pub return_timeout: Duration,
    /// `smtpc { initial_connections }`.
    pub initial_connections: usize,
    /// `smtpc { max_connections }`.
    pub max_connections: usize,
    /// `wait_for_client`: how long to wait for an SMTPC process.
    pub wait_for_client: Duration,
    /// `wait_for_server`: how long to wait for SMAR.
    pub wait_for_server: Duration,
    /// `DSN_handling { merge_delay_max }`: how long failures of a message
    /// that still has recipients to try wait to share one bounce.
    pub merge_delay_max: Duration,
    /// `OCC_max_entries`: unreachable next hops remembered at most.
    pub occ_max_entries: usize,
}

impl SchedConf {
    /// From the typed configuration.
    pub fn from_config(q: &smx_grammar::config::QmgrConf) -> SchedConf {
        let count = |v: u64| usize::try_from(v).unwrap_or(usize::MAX).max(1);
        SchedConf {
            aq_max_entries: count(q.aq_max_entries),
            retry_min: q.retry_min_delay,
            retry_max: q.retry_max_delay.max(q.retry_min_delay),
            delay_timeout: q.queue_delay_timeout,
            return_timeout: q.queue_return_timeout,
            initial_connections: count(q.smtpc.initial_connections),
            max_connections: count(q.smtpc.max_connections).max(count(q.smtpc.initial_connections)),
            wait_for_client: q.wait_for_client,
            wait_for_server: q.wait_for_server,
            merge_delay_max: q.dsn.merge_delay_max,
            occ_max_entries: count(q.occ_max_entries),
        }
    }

    /// The wait before try number `tries + 1` (after `tries` attempts).
    pub fn backoff(&self, tries: u32) -> Duration {
        let shift = tries.saturating_sub(1).min(30);
        self.retry_min
            .checked_mul(1u32 << shift)
            .unwrap_or(self.retry_max)
            .min(self.retry_max)
    }
}

/// Per-IP overrides of the connection limits: the `qmgr_conf` map
/// (README §3.8.1), `oci:` and `ocm:` keyed by address or net (A.B.C.D,
/// A.B.C, A.B, A, then the empty default key).
#[derive(Clone, Default)]
pub struct QmgrConfMap(pub Option<Arc<dyn smx_maps::Map>>);

impl QmgrConfMap {
    /// The value of `tag` for `ip`, if the map has one that is a number.
    pub fn limit(&self, tag: &str, ip: std::net::Ipv4Addr) -> Option<usize> {
        self.value(tag, ip)?
            .trim()
            .parse::<usize>()
            .ok()
            .filter(|n| *n > 0)
    }

    /// The value of `tag` for `ip` as a number of seconds (0 allowed).
    pub fn seconds(&self, tag: &str, ip: std::net::Ipv4Addr) -> Option<Duration> {
        let secs = self.value(tag, ip)?.trim().parse::<u64>().ok()?;
        Some(Duration::from_secs(secs))
    }

    /// The entry of `tag` for `ip` (A.B.C.D, A.B.C, A.B, A, then the
    /// default key).
    fn value(&self, tag: &str, ip: std::net::Ipv4Addr) -> Option<String> {
        let map = self.0.as_ref()?;
        let mut keys = smx_maps::lookup::ipv4_keys(ip);
        keys.push(String::new());
        let found =
            smx_maps::lookup::probe(map.as_ref(), tag, keys.iter().map(String::as_str)).ok()?;
        found.value().map(str::to_string)
    }
}

/// Slow start for one destination, between its `initial` and `max`
/// connections (decided when the destination is first seen).
pub struct Dest {
    permits: Semaphore,
    window: Mutex<usize>,
    initial: usize,
    max: usize,
}

impl Dest {
    fn new(initial: usize, max: usize) -> Dest {
        Dest {
            permits: Semaphore::new(initial),
            window: Mutex::new(initial),
            initial,
            max: max.max(initial),
        }
    }

    /// Waits for a connection slot.
    pub async fn acquire(&self) -> Option<tokio::sync::SemaphorePermit<'_>> {
        self.permits.acquire().await.ok()
    }

    /// A delivery went well: open the window by one, up to `max`.
    pub fn success(&self) {
        let mut w = self.window.lock().unwrap_or_else(|e| e.into_inner());
        if *w < self.max {
            *w += 1;
            self.permits.add_permits(1);
        }
    }

    /// A delivery failed temporarily: close the window back to `initial`
    /// (the permits of connections in flight are forgotten as they end).
    pub fn failure(&self) {
        let mut w = self.window.lock().unwrap_or_else(|e| e.into_inner());
        let excess = w.saturating_sub(self.initial);
        let taken = self.permits.forget_permits(excess);
        *w -= taken;
    }

    /// The current window.
    pub fn window(&self) -> usize {
        *self.window.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Where a transaction is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Where {
    /// Waiting for room in the active queue.
    Waiting,
    /// Being tried.
    Active,
    /// In DEFEDB, waiting for its next try.
    Deferred,
    /// In DEFEDB, held by the postmaster: not tried until released.
    Held,
}

/// What the postmaster asked for a transaction that was being tried;
/// carried out when the attempt ends.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Want {
    /// Hold it.
    pub hold: bool,
    /// Delete it.
    pub delete: bool,
    /// Return it to its sender.
    pub bounce: bool,
}

/// One transaction in the queue, as the scheduler knows it.
#[derive(Debug, Clone)]
pub struct Booked {
    /// Its latest state (envelope, statuses, tries, last replies).
    pub job: Deferred,
    /// Where it is.
    pub at: Where,
    /// Pending requests.
    pub want: Want,
}

/// Every queued transaction, and the deferred ones by next try.
#[derive(Default)]
pub struct Book {
    /// `(next try, id)` of the `Deferred` ones.
    pub due: BTreeMap<(u64, QueueId), ()>,
    /// Everything in the queue.
    pub entries: HashMap<QueueId, Booked>,
}

/// The scheduler.
pub struct Scheduler {
    /// The queue.
    pub queue: Arc<Queue>,
    /// SMAR.
    pub smar: SmarLink,
    /// The SMTPC processes.
    pub smtpc: Arc<SmtpcPool>,
    /// Settings.
    pub conf: SchedConf,
    /// DSNs.
    pub bouncer: Bouncer,
    /// Per-IP connection limits (replaced on SIGHUP).
    qmgr_conf: std::sync::RwLock<QmgrConfMap>,
    /// `who` in log lines.
    pub who: &'static str,
    aq: Semaphore,
    dests: Mutex<HashMap<String, Arc<Dest>>>,
    /// Next hops nobody could connect to lately.
    pub unreachable: super::occ::Unreachable,
    book: Mutex<Book>,
    wake: Notify,
    /// Events for control-socket subscribers.
    pub events: tokio::sync::broadcast::Sender<smx_control::Event>,
    /// Counters for `stats`.
    pub counters: Counters,
    /// The largest queue id seen (recovered or committed).
    max_id: std::sync::atomic::AtomicU64,
}

/// Counters since the QMGR started.
#[derive(Debug, Default)]
pub struct Counters {
    /// Transactions committed.
    pub received: std::sync::atomic::AtomicU64,
    /// Recipients delivered.
    pub delivered: std::sync::atomic::AtomicU64,
    /// Recipient attempts deferred.
    pub deferred: std::sync::atomic::AtomicU64,
    /// Recipients bounced.
    pub bounced: std::sync::atomic::AtomicU64,
}

impl Scheduler {
    /// A scheduler over `queue`.
    pub fn new(
        queue: Arc<Queue>,
        smar: SmarLink,
        smtpc: Arc<SmtpcPool>,
        conf: SchedConf,
        bouncer: Bouncer,
        qmgr_conf: QmgrConfMap,
        who: &'static str,
    ) -> Arc<Scheduler> {
        Arc::new(Scheduler {
            aq: Semaphore::new(conf.aq_max_entries),
            unreachable: super::occ::Unreachable::new(conf.occ_max_entries),
            queue,
            smar,
            smtpc,
            conf,
            bouncer,
            qmgr_conf: std::sync::RwLock::new(qmgr_conf),
            who,
            dests: Mutex::new(HashMap::new()),
            book: Mutex::new(Book::default()),
            wake: Notify::new(),
            events: tokio::sync::broadcast::channel(4096).0,
            counters: Counters::default(),
            max_id: std::sync::atomic::AtomicU64::new(0),
        })
    }

    /// Notes a queue id in use (for [`Scheduler::max_id`]).
    pub fn saw_id(&self, id: QueueId) {
        self.max_id
            .fetch_max(id.as_u64(), std::sync::atomic::Ordering::AcqRel);
    }

    /// The largest queue id recovered or committed, if any.
    pub fn max_id(&self) -> Option<QueueId> {
        let v = self.max_id.load(std::sync::atomic::Ordering::Acquire);
        (v > 0).then(|| QueueId::from_u64(v))
    }

    /// The book, locked.
    pub fn book(&self) -> std::sync::MutexGuard<'_, Book> {
        self.book.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Tells subscribers.
    pub fn event(
        &self,
        event: smx_control::EventKind,
        id: QueueId,
        rcpt: Option<&str>,
        reason: Option<String>,
    ) {
        let _ = self.events.send(smx_control::Event {
            event,
            id: id.to_string(),
            recipient: rcpt.map(str::to_string),
            reason,
            missed: None,
        });
    }

    /// Wakes the timer loop (after a change of due times).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Tries a newly committed (or recovered from IBDB) transaction now.
    pub fn submit(self: &Arc<Self>, ta: Transaction) {
        let job = Deferred {
            ta,
            tries: 0,
            next_try: 0,
            last_reply: BTreeMap::new(),
            done: BTreeMap::new(),
            delay_notified: false,
            relay: String::new(),
            held: false,
            unreported: Vec::new(),
            unreported_since: 0,
        };
        self.spawn(job, false);
    }

    /// Queues a DEFEDB entry for its next try (or keeps it held).
    pub fn schedule(&self, d: Deferred) {
        let mut b = self.book();
        let id = d.ta.id;
        let at = if d.held {
            Where::Held
        } else {
            b.due.insert((d.next_try, id), ());
            Where::Deferred
        };
        b.entries.insert(
            id,
            Booked {
                job: d,
                at,
                want: Want::default(),
            },
        );
        drop(b);
        self.wake.notify_one();
    }

    /// Nothing more is to be done for `id`: forgets it.
    pub fn finished(&self, id: QueueId) {
        self.book().entries.remove(&id);
    }

    /// What the postmaster asked for `id` while it was being tried.
    pub fn wants(&self, id: QueueId) -> Want {
        self.book()
            .entries
            .get(&id)
            .map(|b| b.want)
            .unwrap_or_default()
    }

    /// Number of deferred transactions waiting for a timer.
    pub fn deferred_count(&self) -> usize {
        self.book().due.len()
    }

    /// Makes every deferred transaction due now (a queue flush).
    pub fn flush(&self) {
        let mut b = self.book();
        let entries: Vec<(u64, QueueId)> = b.due.keys().copied().collect();
        b.due.clear();
        for (_, id) in entries {
            b.due.insert((0, id), ());
        }
        drop(b);
        self.wake.notify_one();
    }

    fn set_at(&self, id: QueueId, at: Where, job: Option<&Deferred>) {
        let mut b = self.book();
        match b.entries.get_mut(&id) {
            Some(e) => e.at = at,
            None => {
                if let Some(job) = job {
                    b.entries.insert(
                        id,
                        Booked {
                            job: job.clone(),
                            at,
                            want: Want::default(),
                        },
                    );
                }
            }
        }
    }

    fn spawn(self: &Arc<Self>, job: Deferred, from_defedb: bool) {
        let me = self.clone();
        self.set_at(job.ta.id, Where::Waiting, Some(&job));
        tokio::spawn(async move {
            let n = job
                .ta
                .recipients
                .iter()
                .filter(|r| !r.status.is_final())
                .count()
                .clamp(1, me.conf.aq_max_entries);
            let Ok(permit) = me
                .aq
                .acquire_many(u32::try_from(n).unwrap_or(u32::MAX))
                .await
            else {
                return;
            };
            me.set_at(job.ta.id, Where::Active, None);
            attempt::run(&me, job, from_defedb).await;
            drop(permit);
        });
    }

    /// Wakes deferred transactions when their time comes; runs forever.
    pub async fn run_timers(self: Arc<Self>) {
        loop {
            let now = crate::queue::id::now_micros();
            let (due, next) = {
                let mut b = self.book();
                let mut due = Vec::new();
                while let Some((&(at, id), _)) = b.due.iter().next() {
                    if at > now {
                        break;
                    }
                    b.due.remove(&(at, id));
                    if let Some(e) = b.entries.get(&id).filter(|e| e.at == Where::Deferred) {
                        due.push(e.job.clone());
                    }
                }
                (due, b.due.keys().next().map(|&(at, _)| at))
            };
            for d in due {
                self.spawn(d, true);
            }
            let sleep = next.map_or(Duration::from_secs(3600), |at| {
                Duration::from_micros(at.saturating_sub(now))
            });
            tokio::select! {
                _ = tokio::time::sleep(sleep) => {}
                _ = self.wake.notified() => {}
            }
        }
    }

    /// How long `next` stays suspended after nobody could connect to it:
    /// `octo` of `qmgr_conf` for its first IPv4 address, else
    /// `retry_min_delay` (see [`super::occ`]).
    pub fn octo(&self, next: &crate::proto::NextHop) -> Duration {
        use crate::proto::NextHop;
        let v4 = match next {
            NextHop::Hosts { addrs, .. } => addrs.first().and_then(|a| match a.ip() {
                std::net::IpAddr::V4(v4) => Some(v4),
                std::net::IpAddr::V6(_) => None,
            }),
            _ => None,
        };
        let limits = self.qmgr_conf.read().unwrap_or_else(|e| e.into_inner());
        v4.and_then(|ip| limits.seconds("octo", ip))
            .unwrap_or(self.conf.retry_min)
    }

    /// The slow-start state of a next hop, kept per destination IP address
    /// (its first address; §3.8.1), with that address's limits: `oci` and
    /// `ocm` of `qmgr_conf`, else `initial_connections` and
    /// `max_connections`.
    ///
    /// The map is read only when a destination is first seen, not per
    /// delivery.
    pub fn dest(&self, next: &crate::proto::NextHop) -> Arc<Dest> {
        use crate::proto::NextHop;
        let ip = match next {
            NextHop::Hosts { addrs, .. } => addrs.first().map(|a| a.ip()),
            _ => None,
        };
        let key = ip.map_or_else(|| next.key(), |ip| ip.to_string());
        let mut d = self.dests.lock().unwrap_or_else(|e| e.into_inner());
        d.entry(key)
            .or_insert_with(|| {
                let v4 = match ip {
                    Some(std::net::IpAddr::V4(v4)) => Some(v4),
                    _ => None,
                };
                let limits = self.qmgr_conf.read().unwrap_or_else(|e| e.into_inner());
                let initial = v4
                    .and_then(|ip| limits.limit("oci", ip))
                    .unwrap_or(self.conf.initial_connections);
                let max = v4
                    .and_then(|ip| limits.limit("ocm", ip))
                    .unwrap_or(self.conf.max_connections);
                Arc::new(Dest::new(initial, max))
            })
            .clone()
    }

    /// Replaces the `qmgr_conf` map (SIGHUP); destinations seen from now
    /// on get its limits (those in flight keep theirs until they end).
    pub fn set_qmgr_conf(&self, map: QmgrConfMap) {
        *self.qmgr_conf.write().unwrap_or_else(|e| e.into_inner()) = map;
        self.dests.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn qmgr_conf_limits_by_address_net_then_default() {
        let map = smx_maps::texthash::TextHash::parse(
            "qmgr_conf",
            "oci:127.0.0.1 5\nocm:127.0.0.1 10\noci:10 10\noci: 1\nocm:10 x\n",
            false,
        )
        .unwrap();
        let m = QmgrConfMap(Some(Arc::new(map)));
        let ip = |s: &str| s.parse::<std::net::Ipv4Addr>().unwrap();
        assert_eq!(m.limit("oci", ip("127.0.0.1")), Some(5));
        assert_eq!(m.limit("ocm", ip("127.0.0.1")), Some(10));
        assert_eq!(m.limit("oci", ip("10.1.2.3")), Some(10));
        assert_eq!(m.limit("oci", ip("192.0.2.1")), Some(1));
        assert_eq!(m.limit("ocm", ip("10.1.2.3")), None, "not a number");
        assert_eq!(QmgrConfMap::default().limit("oci", ip("10.1.2.3")), None);
    }

    fn conf() -> SchedConf {
        SchedConf {
            aq_max_entries: 10,
            retry_min: Duration::from_secs(300),
            retry_max: Duration::from_secs(4000),
            delay_timeout: Duration::from_secs(4 * 3600),
            return_timeout: Duration::from_secs(5 * 86400),
            initial_connections: 2,
            max_connections: 4,
            wait_for_client: Duration::from_secs(4),
            wait_for_server: Duration::from_secs(4),
            merge_delay_max: Duration::from_secs(300),
            occ_max_entries: 1024,
        }
    }

    #[test]
    fn backoff_doubles_between_min_and_max() {
        let c = conf();
        let secs: Vec<u64> = (1..=6).map(|t| c.backoff(t).as_secs()).collect();
        assert_eq!(secs, [300, 600, 1200, 2400, 4000, 4000]);
        assert_eq!(c.backoff(0).as_secs(), 300);
        assert_eq!(c.backoff(1000).as_secs(), 4000);
    }

    #[tokio::test]
    async fn slow_start_opens_to_max_and_closes_to_initial() {
        let d = Dest::new(2, 4);
        assert_eq!(d.window(), 2);
        for _ in 0..5 {
            d.success();
        }
        assert_eq!(d.window(), 4);
        let held: Vec<_> = [d.acquire().await, d.acquire().await, d.acquire().await]
            .into_iter()
            .flatten()
            .collect();
        assert_eq!(held.len(), 3);
        d.failure();
        // One permit was free and is forgotten; the window shrinks by it.
        assert_eq!(d.window(), 3);
        drop(held);
        d.failure();
        assert_eq!(d.window(), 2);
        assert_eq!(d.permits.available_permits(), 2);
    }
}

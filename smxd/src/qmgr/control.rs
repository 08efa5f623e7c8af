//! The QMGR's side of the control socket (README §3.8 `control_socket`,
//! §4.6; `smx-control(5)`): the queue as the scheduler books it, and the
//! postmaster's actions on it. The protocol itself (JSON Lines, filters,
//! paging, dry runs, subscriptions) is the `smx-control` crate's
//! dispatcher; this module is its [`ControlBackend`].
//!
//! - hold: a deferred message is held at once (the DEFEDB entry records
//!   it, so it stays held after a restart); one being tried is held when
//!   its attempt ends, if anything is left to do.
//! - release: a held message is due at once.
//! - delete: a deferred or held message is removed (DEFEDB entry, then
//!   content file) without a notice; one being tried, after its attempt.
//! - bounce: like delete, but the recipients still to do are returned to
//!   the sender in one DSN ("returned by the postmaster", 5.0.0).
//! - flush: deferred messages are due at once.
//! - reload and stop: SIGHUP / SIGTERM to the MCP, which forwards them.

use super::sched::{Booked, Scheduler, Where};
use crate::component;
use crate::proto::SmtpReply;
use crate::queue::{QueueId, RcptStatus};
use smx_control::{
    ControlBackend, Counters, Event, EventKind, QueueDetail, QueueEntry, QueueSizes, RcptEntry,
    Stats, Status,
};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::broadcast;

/// How long one listing of the queue is reused: the pages of one
/// `smxctl queue list` (and a monitor refreshing every second) share one
/// snapshot instead of each building their own. Actions forget it, so a
/// listing after an action shows its effect.
const LIST_REUSE: std::time::Duration = std::time::Duration::from_secs(1);

/// The control backend of one QMGR.
pub struct QmgrControl {
    sched: Arc<Scheduler>,
    started: Instant,
    runtime: tokio::runtime::Handle,
    /// The last listing and when it was made.
    listing: Listing,
}

type Listing = std::sync::Mutex<Option<(Instant, Arc<Vec<QueueEntry>>)>>;

/// Forgets the cached listing when an action returns.
struct Changed<'a>(&'a Listing);

impl Drop for Changed<'_> {
    fn drop(&mut self) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
}

impl QmgrControl {
    /// A backend over `sched`; actions run on the current runtime.
    pub fn new(sched: Arc<Scheduler>) -> QmgrControl {
        QmgrControl {
            sched,
            started: Instant::now(),
            runtime: tokio::runtime::Handle::current(),
            listing: std::sync::Mutex::new(None),
        }
    }

    fn ids(ids: &[String]) -> Vec<QueueId> {
        ids.iter().filter_map(|i| i.parse().ok()).collect()
    }
}

/// A booked transaction as the control protocol lists it.
pub fn entry(id: QueueId, b: &Booked, now_micros: u64) -> QueueEntry {
    let job = &b.job;
    let state = match b.at {
        Where::Waiting => smx_control::State::Incoming,
        Where::Active => smx_control::State::Active,
        Where::Deferred => smx_control::State::Deferred,
        Where::Held => smx_control::State::Held,
    };
    let recipients = job
        .ta
        .recipients
        .iter()
        .enumerate()
        .map(|(i, r)| RcptEntry {
            address: r.address.clone(),
            status: match r.status {
                RcptStatus::Pending => smx_control::RcptStatus::Pending,
                RcptStatus::Deferred => smx_control::RcptStatus::Deferred,
                RcptStatus::Delivered => smx_control::RcptStatus::Delivered,
                RcptStatus::Bounced => smx_control::RcptStatus::Failed,
            },
            last_reply: u32::try_from(i)
                .ok()
                .and_then(|i| job.last_reply.get(&i))
                .map(ToString::to_string),
        })
        .collect();
    let reason = job
        .ta
        .recipients
        .iter()
        .enumerate()
        .filter(|(_, r)| r.status == RcptStatus::Deferred)
        .find_map(|(i, _)| job.last_reply.get(&u32::try_from(i).ok()?))
        .map(ToString::to_string);
    QueueEntry {
        id: id.to_string(),
        state,
        age_secs: now_micros.saturating_sub(job.ta.received_at) / 1_000_000,
        size: job.ta.size,
        sender: job.ta.sender.clone(),
        recipients,
        tries: job.tries,
        next_try: (b.at == Where::Deferred).then_some(job.next_try / 1_000_000),
        reason,
        relay: (!job.relay.is_empty()).then(|| job.relay.clone()),
    }
}

/// Removes a deferred or held transaction (no notice).
pub async fn delete_one(s: &Arc<Scheduler>, id: QueueId) -> bool {
    let taken = take(s, id);
    if taken.is_none() {
        return false;
    }
    match s.queue.deferred_done(id).await {
        Ok(()) => {
            component::log(s.who, format!("{id}: deleted by the postmaster"));
            s.event(EventKind::Deleted, id, None, None);
            true
        }
        Err(e) => {
            component::log(s.who, format!("{id}: cannot delete: {e}"));
            false
        }
    }
}

/// Returns a deferred or held transaction to its sender, then removes it.
pub async fn bounce_one(s: &Arc<Scheduler>, id: QueueId) -> bool {
    let Some(mut job) = take(s, id) else {
        return false;
    };
    let reply = SmtpReply::new(550, "5.0.0", "returned to sender by the postmaster");
    let mut failed = Vec::new();
    for (i, r) in job.ta.recipients.iter_mut().enumerate() {
        if !r.status.is_final() {
            r.status = RcptStatus::Bounced;
            let i = u32::try_from(i).unwrap_or(u32::MAX);
            failed.push((i, r.address.clone(), reply.clone(), String::new()));
            s.event(
                EventKind::Bounced,
                id,
                Some(&r.address),
                Some(reply.to_string()),
            );
            component::log(
                s.who,
                format!("{id}: to=<{}>, status=bounced ({reply})", r.address),
            );
        }
    }
    // Failures still waiting to be merged go into the same report.
    let mut all = std::mem::take(&mut job.unreported);
    all.extend(failed);
    if !s.bouncer.failed(s, &job, &all).await {
        // Not queued: keep the message, with the failures still to report.
        job.unreported = all;
        job.unreported_since = 0;
        job.next_try = 0;
        job.held = false;
        s.schedule(job);
        return false;
    }
    match s.queue.deferred_done(id).await {
        Ok(()) => true,
        Err(e) => {
            component::log(s.who, format!("{id}: cannot remove after bouncing: {e}"));
            false
        }
    }
}

/// Takes a deferred or held entry out of the schedule.
fn take(s: &Scheduler, id: QueueId) -> Option<crate::queue::Deferred> {
    let mut b = s.book();
    let e = b.entries.get(&id)?;
    if !matches!(e.at, Where::Deferred | Where::Held) {
        return None;
    }
    let next = e.job.next_try;
    let e = b.entries.remove(&id)?;
    b.due.remove(&(next, id));
    Some(e.job)
}

/// Sets `held` on a deferred entry and saves it.
async fn set_held(s: &Arc<Scheduler>, id: QueueId, held: bool) -> bool {
    let job = {
        let mut b = s.book();
        let Some(e) = b.entries.get_mut(&id) else {
            return false;
        };
        let ok = matches!((held, e.at), (true, Where::Deferred) | (false, Where::Held));
        if !ok {
            return false;
        }
        let next = e.job.next_try;
        e.job.held = held;
        if held {
            e.at = Where::Held;
            b.due.remove(&(next, id));
        } else {
            // Released: due now.
            e.job.next_try = 0;
            e.at = Where::Deferred;
            b.due.insert((0, id), ());
        }
        b.entries.get(&id).map(|e| e.job.clone())
    };
    let Some(job) = job else { return false };
    if let Err(e) = s.queue.defer_again(&job).await {
        component::log(s.who, format!("{id}: cannot save the hold state: {e}"));
    }
    s.wake();
    let (what, kind) = if held {
        ("held", EventKind::Held)
    } else {
        ("released", EventKind::Released)
    };
    component::log(s.who, format!("{id}: {what} by the postmaster"));
    s.event(kind, id, None, None);
    true
}

impl QmgrControl {
    /// Runs `f` for each id on the runtime and waits for the count.
    fn each<F, Fut>(&self, ids: &[String], f: F) -> usize
    where
        F: Fn(Arc<Scheduler>, QueueId) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = bool> + Send + 'static,
    {
        let ids = Self::ids(ids);
        let s = self.sched.clone();
        let task = self.runtime.spawn(async move {
            let mut n = 0;
            for id in ids {
                n += usize::from(f(s.clone(), id).await);
            }
            n
        });
        // The dispatcher calls from a runtime thread: wait without
        // blocking the runtime.
        tokio::task::block_in_place(|| self.runtime.block_on(task)).unwrap_or(0)
    }

    /// Marks a transaction being tried, for its attempt's end.
    fn want(&self, id: QueueId, f: impl FnOnce(&mut super::sched::Want)) -> bool {
        let mut b = self.sched.book();
        match b.entries.get_mut(&id) {
            Some(e) if matches!(e.at, Where::Waiting | Where::Active) => {
                f(&mut e.want);
                true
            }
            _ => false,
        }
    }
}

impl ControlBackend for QmgrControl {
    /// In queue-id order (ids are fixed-width hex, so that is also the
    /// order of their text); a snapshot at most `LIST_REUSE` old.
    fn list(&self) -> Arc<Vec<QueueEntry>> {
        let mut cached = self.listing.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((at, v)) = cached.as_ref() {
            if at.elapsed() < LIST_REUSE {
                return v.clone();
            }
        }
        let now = crate::queue::id::now_micros();
        let v = {
            let b = self.sched.book();
            let mut ids: Vec<QueueId> = b.entries.keys().copied().collect();
            ids.sort_unstable();
            ids.iter()
                .filter_map(|id| Some(entry(*id, b.entries.get(id)?, now)))
                .collect::<Vec<_>>()
        };
        let v = Arc::new(v);
        *cached = Some((Instant::now(), v.clone()));
        v
    }

    fn show(&self, id: &str) -> Option<QueueDetail> {
        let qid: QueueId = id.parse().ok()?;
        let now = crate::queue::id::now_micros();
        let entry = {
            let b = self.sched.book();
            entry(qid, b.entries.get(&qid)?, now)
        };
        let content = std::fs::read(self.sched.queue.cdb().path(qid)).unwrap_or_default();
        let end = content
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .map_or(content.len(), |p| p + 2);
        let headers = String::from_utf8_lossy(content.get(..end).unwrap_or(&[])).into_owned();
        Some(QueueDetail { entry, headers })
    }

    fn flush(&self, ids: &[String]) -> usize {
        let _changed = Changed(&self.listing);
        // Try now means try: hosts suspended as unreachable are tried
        // again too (as Postfix's `postqueue -f` does).
        self.sched.unreachable.forget_all();
        let mut b = self.sched.book();
        let mut n = 0;
        for id in Self::ids(ids) {
            let Some(e) = b.entries.get_mut(&id) else {
                continue;
            };
            if e.at != Where::Deferred {
                continue;
            }
            let next = e.job.next_try;
            e.job.next_try = 0;
            b.due.remove(&(next, id));
            b.due.insert((0, id), ());
            n += 1;
        }
        drop(b);
        self.sched.wake();
        n
    }

    fn hold(&self, ids: &[String]) -> usize {
        let _changed = Changed(&self.listing);
        let mut later = 0;
        let now: Vec<String> = Self::ids(ids)
            .into_iter()
            .filter(|id| {
                let pending = self.want(*id, |w| w.hold = true);
                later += usize::from(pending);
                !pending
            })
            .map(|id| id.to_string())
            .collect();
        later + self.each(&now, |s, id| async move { set_held(&s, id, true).await })
    }

    fn release(&self, ids: &[String]) -> usize {
        let _changed = Changed(&self.listing);
        let mut cancelled = 0;
        for id in Self::ids(ids) {
            cancelled += usize::from(self.want(id, |w| w.hold = false));
        }
        cancelled + self.each(ids, |s, id| async move { set_held(&s, id, false).await })
    }

    fn delete(&self, ids: &[String]) -> usize {
        let _changed = Changed(&self.listing);
        let mut later = 0;
        let now: Vec<String> = Self::ids(ids)
            .into_iter()
            .filter(|id| {
                let pending = self.want(*id, |w| w.delete = true);
                later += usize::from(pending);
                !pending
            })
            .map(|id| id.to_string())
            .collect();
        later + self.each(&now, |s, id| async move { delete_one(&s, id).await })
    }

    fn bounce(&self, ids: &[String]) -> usize {
        let _changed = Changed(&self.listing);
        let mut later = 0;
        let now: Vec<String> = Self::ids(ids)
            .into_iter()
            .filter(|id| {
                let pending = self.want(*id, |w| w.bounce = true);
                later += usize::from(pending);
                !pending
            })
            .map(|id| id.to_string())
            .collect();
        later + self.each(&now, |s, id| async move { bounce_one(&s, id).await })
    }

    fn stats(&self) -> Stats {
        let c = &self.sched.counters;
        let uptime = self.started.elapsed().as_secs_f64().max(1.0);
        let received = c.received.load(Ordering::Relaxed);
        let delivered = c.delivered.load(Ordering::Relaxed);
        Stats {
            counters: Counters {
                received,
                delivered,
                deferred: c.deferred.load(Ordering::Relaxed),
                bounced: c.bounced.load(Ordering::Relaxed),
                ..Counters::default()
            },
            queue: QueueSizes::count(self.list().iter()),
            rates: smx_control::Rates {
                received_per_sec: received as f64 / uptime,
                delivered_per_sec: delivered as f64 / uptime,
            },
            uptime_secs: self.started.elapsed().as_secs(),
        }
    }

    /// Every process the MCP runs, from the status file it keeps in the
    /// queue directory (`mcp.status`); without it (the QMGR run alone),
    /// the QMGR itself.
    fn status(&self) -> Status {
        use crate::mcp::supervise::{ProcessStatus, STATUS_FILE};
        let version = env!("CARGO_PKG_VERSION").to_string();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let listed: Vec<ProcessStatus> = std::fs::read(STATUS_FILE)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        let mut components: Vec<smx_control::Component> = listed
            .into_iter()
            .map(|p| smx_control::Component {
                name: p.name,
                pid: p.pid.and_then(|p| u32::try_from(p).ok()),
                uptime_secs: if p.pid.is_some() {
                    now.saturating_sub(p.started)
                } else {
                    0
                },
                restarts: p.restarts,
                version: version.clone(),
            })
            .collect();
        if components.is_empty() {
            components.push(smx_control::Component {
                name: "qmgr".to_string(),
                pid: Some(std::process::id()),
                uptime_secs: self.started.elapsed().as_secs(),
                restarts: 0,
                version: version.clone(),
            });
        }
        Status {
            version,
            components,
        }
    }

    fn reload(&self) {
        signal_mcp(nix::sys::signal::Signal::SIGHUP);
    }

    fn stop(&self) {
        signal_mcp(nix::sys::signal::Signal::SIGTERM);
    }

    fn events(&self) -> broadcast::Receiver<Event> {
        self.sched.events.subscribe()
    }
}

/// SIGHUP/SIGTERM to the MCP (our parent), which forwards it to every
/// component; without an MCP (run alone), to ourselves.
fn signal_mcp(sig: nix::sys::signal::Signal) {
    let parent = nix::unistd::getppid();
    let target = if parent.as_raw() > 1 {
        parent
    } else {
        nix::unistd::getpid()
    };
    let _ = nix::sys::signal::kill(target, sig);
}

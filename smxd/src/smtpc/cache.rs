//! The per-process cache of idle outgoing connections (the QMGR's
//! connection cache, OCC in README §3.8 item 10, counts connections per
//! destination; this is where an smtpc process keeps the idle ones): after
//! a successful transaction a connection waits here, keyed by
//! [`crate::proto::NextHop::key`], for the next delivery to the same
//! destination. The cache is bounded (the oldest entry is evicted) and
//! entries expire after an idle time.
//!
//! The cache does no I/O: what it evicts or expires it hands back, and the
//! caller says QUIT on it.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

struct Entry<C> {
    key: String,
    relay: String,
    conn: C,
    since: Instant,
}

/// Idle connections of type `C`.
pub struct ConnCache<C> {
    entries: Mutex<VecDeque<Entry<C>>>,
    max: usize,
    idle: Duration,
}

impl<C> ConnCache<C> {
    /// At most `max` entries, each kept at most `idle`.
    pub fn new(max: usize, idle: Duration) -> ConnCache<C> {
        ConnCache {
            entries: Mutex::new(VecDeque::new()),
            max,
            idle,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Entry<C>>> {
        // A panic while holding the lock leaves a consistent deque (each
        // operation is a single push or remove), so poison is ignored.
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The most recently parked connection for `key` with its relay name,
    /// if one has not expired; plus every expired entry, to be closed.
    pub fn take(&self, key: &str) -> (Option<(C, String)>, Vec<C>) {
        let now = Instant::now();
        let mut entries = self.lock();
        let expired = Self::remove_expired(&mut entries, now, self.idle);
        let found = entries
            .iter()
            .rposition(|e| e.key == key)
            .and_then(|i| entries.remove(i))
            .map(|e| (e.conn, e.relay));
        (found, expired)
    }

    /// Parks `conn`; returns what had to make room (and expired entries).
    pub fn put(&self, key: String, relay: String, conn: C) -> Vec<C> {
        let now = Instant::now();
        let mut entries = self.lock();
        let mut out = Self::remove_expired(&mut entries, now, self.idle);
        if self.max == 0 {
            out.push(conn);
            return out;
        }
        while entries.len() >= self.max {
            if let Some(e) = entries.pop_front() {
                out.push(e.conn);
            }
        }
        entries.push_back(Entry {
            key,
            relay,
            conn,
            since: now,
        });
        out
    }

    /// Removes and returns the expired entries.
    pub fn expired(&self) -> Vec<C> {
        let mut entries = self.lock();
        Self::remove_expired(&mut entries, Instant::now(), self.idle)
    }

    /// Removes and returns everything (at shutdown).
    pub fn drain(&self) -> Vec<C> {
        self.lock().drain(..).map(|e| e.conn).collect()
    }

    /// Entries parked now.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Nothing parked.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn remove_expired(entries: &mut VecDeque<Entry<C>>, now: Instant, idle: Duration) -> Vec<C> {
        let mut out = Vec::new();
        // Entries are in the order they were parked: the expired ones lead.
        while entries
            .front()
            .is_some_and(|e| now.duration_since(e.since) >= idle)
        {
            if let Some(e) = entries.pop_front() {
                out.push(e.conn);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn take_finds_by_key_and_put_evicts_the_oldest() {
        let c = ConnCache::new(2, Duration::from_secs(3600));
        assert!(c.put("a".into(), "ra".into(), 1).is_empty());
        assert!(c.put("b".into(), "rb".into(), 2).is_empty());
        assert_eq!(c.put("a".into(), "ra".into(), 3), vec![1]);
        let (got, expired) = c.take("a");
        assert_eq!(got, Some((3, "ra".to_string())));
        assert!(expired.is_empty());
        assert_eq!(c.take("a").0, None);
        assert_eq!(c.drain(), vec![2]);
        assert!(c.is_empty());
    }

    #[test]
    fn expired_entries_are_handed_back() {
        let c = ConnCache::new(4, Duration::ZERO);
        c.put("a".into(), String::new(), 1);
        let (got, expired) = c.take("a");
        assert_eq!(got, None);
        assert_eq!(expired, vec![1]);
        let c = ConnCache::new(0, Duration::from_secs(1));
        assert_eq!(c.put("a".into(), String::new(), 7), vec![7]);
    }
}

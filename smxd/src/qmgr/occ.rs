//! Unreachable destinations: the part of the QMGR's outgoing connection
//! cache (OCC, README §3.8 item 10, and `octo` of the `qmgr_conf` map,
//! §3.8.1) that remembers next hops nobody could connect to.
//!
//! When an SMTP client reached none of the addresses of a next hop, the
//! hop is suspended for `octo` seconds (looked up for the hop's first IPv4
//! address as `oci:`/`ocm:` are; default `retry_min_delay`; `0` turns it
//! off for that address). Recipients for a suspended hop are deferred
//! without a connection attempt, with the last error, as Postfix's qmgr
//! does with a dead destination ("delivery temporarily suspended"); so a
//! host that is down costs one refused connect per `octo`, not one per
//! message. The first delivery after that time tries again, and a
//! successful connection ends the suspension at once. `smxctl queue
//! flush` forgets every suspension (Postfix's `postqueue -f` does the
//! same). At most `OCC_max_entries` hops are remembered; past that, no new
//! one is suspended until an old suspension ends.

use crate::proto::SmtpReply;
use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

#[derive(Debug)]
struct Down {
    until: Instant,
    reply: SmtpReply,
}

/// The suspended next hops, by [`crate::proto::NextHop::key`].
#[derive(Debug)]
pub struct Unreachable {
    down: Mutex<HashMap<String, Down>>,
    max: usize,
}

impl Unreachable {
    /// Remembers at most `max` hops.
    pub fn new(max: usize) -> Unreachable {
        Unreachable {
            down: Mutex::new(HashMap::new()),
            max,
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Down>> {
        self.down.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The reply for recipients of `key` if it is suspended at `now`.
    pub fn suspended(&self, key: &str, now: Instant) -> Option<SmtpReply> {
        let mut down = self.lock();
        let d = down.get(key)?;
        if d.until <= now {
            down.remove(key);
            return None;
        }
        Some(SmtpReply::new(
            d.reply.code,
            &d.reply.status,
            format!("delivery temporarily suspended: {}", d.reply.text),
        ))
    }

    /// Suspends `key` for `how_long` from `now` after `reply`; whether it
    /// was not suspended before (for one log line per suspension).
    pub fn suspend(&self, key: &str, reply: &SmtpReply, how_long: Duration, now: Instant) -> bool {
        if how_long.is_zero() {
            return false;
        }
        let mut down = self.lock();
        if !down.contains_key(key) && down.len() >= self.max {
            down.retain(|_, d| d.until > now);
            if down.len() >= self.max {
                return false;
            }
        }
        let d = Down {
            until: now + how_long,
            reply: reply.clone(),
        };
        down.insert(key.to_string(), d).is_none()
    }

    /// A connection to `key` worked: it is not suspended.
    pub fn reached(&self, key: &str) {
        self.lock().remove(key);
    }

    /// Forgets every suspension; how many there were.
    pub fn forget_all(&self) -> usize {
        let mut down = self.lock();
        let n = down.len();
        down.clear();
        n
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::expect_used)]
    use super::*;

    fn refused() -> SmtpReply {
        SmtpReply::new(
            451,
            "4.4.1",
            "no reachable host (127.0.0.1:9: Connection refused)",
        )
    }

    #[test]
    fn suspended_until_the_time_is_over() {
        let u = Unreachable::new(10);
        let t = Instant::now();
        assert!(u.suspended("smtp:127.0.0.1:9", t).is_none());
        assert!(u.suspend("smtp:127.0.0.1:9", &refused(), Duration::from_secs(300), t));
        assert!(!u.suspend("smtp:127.0.0.1:9", &refused(), Duration::from_secs(300), t));
        let r = u
            .suspended("smtp:127.0.0.1:9", t + Duration::from_secs(299))
            .expect("suspended");
        assert_eq!((r.code, r.status.as_str()), (451, "4.4.1"));
        assert_eq!(
            r.text,
            "delivery temporarily suspended: no reachable host (127.0.0.1:9: Connection refused)"
        );
        assert!(u.suspended("smtp:127.0.0.2:25", t).is_none());
        assert!(u
            .suspended("smtp:127.0.0.1:9", t + Duration::from_secs(300))
            .is_none());
    }

    #[test]
    fn a_connection_or_a_flush_ends_it_and_zero_means_never() {
        let u = Unreachable::new(10);
        let t = Instant::now();
        u.suspend("a", &refused(), Duration::from_secs(60), t);
        u.reached("a");
        assert!(u.suspended("a", t).is_none());
        u.suspend("a", &refused(), Duration::from_secs(60), t);
        u.suspend("b", &refused(), Duration::from_secs(60), t);
        assert_eq!(u.forget_all(), 2);
        assert!(u.suspended("b", t).is_none());
        assert!(!u.suspend("c", &refused(), Duration::ZERO, t));
        assert!(u.suspended("c", t).is_none());
    }

    #[test]
    fn bounded_by_occ_max_entries() {
        let u = Unreachable::new(2);
        let t = Instant::now();
        assert!(u.suspend("a", &refused(), Duration::from_secs(10), t));
        assert!(u.suspend("b", &refused(), Duration::from_secs(60), t));
        assert!(
            !u.suspend("c", &refused(), Duration::from_secs(60), t),
            "full"
        );
        assert!(u.suspended("c", t).is_none());
        // Once a's suspension is over, its place is free.
        let later = t + Duration::from_secs(11);
        assert!(u.suspend("c", &refused(), Duration::from_secs(60), later));
        assert!(u.suspended("c", later).is_some());
        assert!(u.suspended("b", later).is_some());
    }
}

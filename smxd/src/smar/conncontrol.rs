//! Incoming connection control (README §3.8 item 17, §3.8.1): per client
//! IPv4 address, at most `max_connection_rate` connections per 60 s and
//! `max_connections` open sessions (`qmgr { smtps { } }`), overridden per
//! address or net by `icr:` and `icm:` of the `qmgr_conf` map (looked up
//! A.B.C.D, A.B.C, A.B, A, then the empty key). As the README says, the
//! limits apply to single addresses, never aggregated for a net.
//!
//! SMAR counts for every SMTP server process: SMTPS asks at connect and
//! tells when the session ended. A session beyond a limit is refused with
//! `421 4.7.0` and is not counted, and SMTPS tells no end for a session
//! SMAR refused. The sessions of an SMTP server that dies are released
//! when its connection to SMAR closes (`server.rs`).

use crate::proto::SmtpReply;
use std::collections::{HashMap, VecDeque};
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The rate window.
pub const WINDOW: Duration = Duration::from_secs(60);

/// The limits: defaults and the `qmgr_conf` map.
#[derive(Clone, Default)]
pub struct Limits {
    /// `max_connection_rate` (connections per 60 s); 0: unlimited.
    pub rate: u64,
    /// `max_connections`; 0: unlimited.
    pub open: u64,
    /// The `qmgr_conf` map, if configured.
    pub map: Option<Arc<dyn smx_maps::Map>>,
}

impl std::fmt::Debug for Limits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limits")
            .field("rate", &self.rate)
            .field("open", &self.open)
            .field("map", &self.map.is_some())
            .finish()
    }
}

impl Limits {
    /// The value of `tag` (`icr`, `icm`) for `ip` in the map, else `default`.
    fn of(&self, tag: &str, ip: Ipv4Addr, default: u64) -> u64 {
        let Some(map) = &self.map else {
            return default;
        };
        let mut keys = smx_maps::lookup::ipv4_keys(ip);
        keys.push(String::new());
        smx_maps::lookup::probe(map.as_ref(), tag, keys.iter().map(String::as_str))
            .ok()
            .and_then(|l| l.value().and_then(|v| v.trim().parse::<u64>().ok()))
            .unwrap_or(default)
    }
}

#[derive(Debug, Default)]
struct Host {
    open: u64,
    recent: VecDeque<Instant>,
}

/// The counts per client address.
#[derive(Debug, Default)]
pub struct Counter(Mutex<HashMap<Ipv4Addr, Host>>);

impl Counter {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Ipv4Addr, Host>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A session from `ip` starts at `now`: `Some(reply)` refuses it.
    pub fn connect(&self, limits: &Limits, ip: Ipv4Addr, now: Instant) -> Option<SmtpReply> {
        let rate = limits.of("icr", ip, limits.rate);
        let open = limits.of("icm", ip, limits.open);
        let mut m = self.lock();
        let h = m.entry(ip).or_default();
        while h
            .recent
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= WINDOW)
        {
            h.recent.pop_front();
        }
        if open > 0 && h.open >= open {
            return Some(SmtpReply::new(
                421,
                "4.7.0",
                format!("{ip}: too many open connections; try again later"),
            ));
        }
        if rate > 0 && h.recent.len() as u64 >= rate {
            return Some(SmtpReply::new(
                421,
                "4.7.0",
                format!("{ip}: connection rate limit exceeded; try again later"),
            ));
        }
        h.open += 1;
        h.recent.push_back(now);
        None
    }

    /// A counted session from `ip` ended.
    pub fn disconnect(&self, ip: Ipv4Addr) {
        let mut m = self.lock();
        if let Some(h) = m.get_mut(&ip) {
            h.open = h.open.saturating_sub(1);
            if h.open == 0 && h.recent.is_empty() {
                m.remove(&ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use smx_maps::texthash::TextHash;

    #[test]
    fn open_and_rate_limits_with_map_overrides() {
        let map = TextHash::parse("qmgr_conf", "icm:10 1\nicr:127.0.0.1 3\n", false).unwrap();
        let l = Limits {
            rate: 100,
            open: 2,
            map: Some(Arc::new(map)),
        };
        let c = Counter::default();
        let t = Instant::now();
        let a = Ipv4Addr::new(192, 0, 2, 1);
        assert!(c.connect(&l, a, t).is_none());
        assert!(c.connect(&l, a, t).is_none());
        assert_eq!(c.connect(&l, a, t).map(|r| r.code), Some(421));
        c.disconnect(a);
        assert!(c.connect(&l, a, t).is_none());
        // icm:10 -> one per host of the net, not for the net.
        assert!(c.connect(&l, Ipv4Addr::new(10, 0, 0, 1), t).is_none());
        assert!(c.connect(&l, Ipv4Addr::new(10, 0, 0, 2), t).is_none());
        assert!(c.connect(&l, Ipv4Addr::new(10, 0, 0, 1), t).is_some());
        // icr:127.0.0.1 3 per 60 s, whatever closes.
        let lo = Ipv4Addr::LOCALHOST;
        for _ in 0..3 {
            assert!(c.connect(&l, lo, t).is_none());
            c.disconnect(lo);
        }
        let r = c.connect(&l, lo, t).unwrap();
        assert_eq!((r.code, r.status.as_str()), (421, "4.7.0"));
        assert!(c.connect(&l, lo, t + WINDOW).is_none());
    }
}

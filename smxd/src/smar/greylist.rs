//! Greylisting by client IP address (README §3.9.4, §3.9.2 item 6).
//!
//! The key is the client's IPv4 address with `netmask` applied, written
//! dotted (`192.0.2.0` with `0xFFFFFF00`). An address is *unknown* (no
//! entry, or an expired one), *greylisted* (first seen at `first`) or
//! *whitelisted* (last mail at `last`):
//!
//! - unknown → greylisted now; the RCPT is refused;
//! - greylisted, seen again before `grey_wait` → still refused;
//! - greylisted, seen again between `grey_wait` and `grey_expire` →
//!   whitelisted, accepted; after `grey_expire` it starts over;
//! - whitelisted → accepted, `last` updated (so regular senders stay
//!   white); when no mail came for `white_timeout` the entry is stale and
//!   the client starts over as unknown. `white_expire` is when a
//!   whitelisted entry may be removed from the database; an entry older
//!   than either is treated as unknown (decision: the seed names both, the
//!   smaller one wins).
//!
//! Storage: the main database (`main_DB_name`, Berkeley DB hash) maps
//! the key to `G first` or `W last` (Unix seconds); the secondary one
//! (`secondary_DB_name`, btree) is the index by expiry time: key
//! `EXPIRY(20 digits) KEY`, value `KEY`. When the main database holds more
//! than `expire_limit` entries, expired ones are removed in expiry order
//! (if none has expired the limit is exceeded, as the seed says).
//!
//! Time comes from a [`Clock`], so tests run on a fake one.

use smx_grammar::config::smar::GreylistingConf;
use smx_maps::db::{Db, DbType, OpenOptions};
use smx_maps::MapError;
use std::net::Ipv4Addr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Where the time comes from (Unix seconds).
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Now.
    fn now(&self) -> u64;
}

/// The system clock.
#[derive(Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    }
}

/// A clock that moves only when told (tests).
#[derive(Debug, Default)]
pub struct ManualClock(AtomicU64);

impl ManualClock {
    /// A clock at `t`.
    pub fn new(t: u64) -> Arc<ManualClock> {
        Arc::new(ManualClock(AtomicU64::new(t)))
    }

    /// Moves it forward by `secs`.
    pub fn advance(&self, secs: u64) {
        self.0.fetch_add(secs, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// The timeouts and limits, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// `grey_wait`.
    pub grey_wait: u64,
    /// `grey_expire`.
    pub grey_expire: u64,
    /// `white_expire`.
    pub white_expire: u64,
    /// `white_timeout`.
    pub white_timeout: u64,
    /// `expire_limit`.
    pub expire_limit: u64,
    /// `netmask`.
    pub netmask: u32,
}

impl Settings {
    /// From `smar { greylisting { } }`.
    pub fn from_conf(c: &GreylistingConf) -> Settings {
        Settings {
            grey_wait: c.grey_wait.as_secs(),
            grey_expire: c.grey_expire.as_secs(),
            white_expire: c.white_expire.as_secs(),
            white_timeout: c.white_timeout.as_secs(),
            expire_limit: c.expire_limit,
            netmask: u32::try_from(c.netmask).unwrap_or(u32::MAX),
        }
    }
}

/// What greylisting says about a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Whitelisted: accept.
    Pass,
    /// Greylisted: refuse for now; it may confirm after this many seconds.
    Grey {
        /// Seconds until `grey_wait` has passed.
        wait: u64,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Entry {
    Grey { first: u64 },
    White { last: u64 },
}

impl Entry {
    fn parse(v: &[u8]) -> Option<Entry> {
        let s = std::str::from_utf8(v).ok()?;
        let (kind, t) = s.split_once(' ')?;
        let t = t.parse().ok()?;
        match kind {
            "G" => Some(Entry::Grey { first: t }),
            "W" => Some(Entry::White { last: t }),
            _ => None,
        }
    }

    fn text(&self) -> String {
        match self {
            Entry::Grey { first } => format!("G {first}"),
            Entry::White { last } => format!("W {last}"),
        }
    }

    fn expiry(&self, s: &Settings) -> u64 {
        match *self {
            Entry::Grey { first } => first.saturating_add(s.grey_expire),
            Entry::White { last } => last.saturating_add(s.white_expire.min(s.white_timeout)),
        }
    }
}

struct Dbs {
    main: Db,
    by_expiry: Db,
    count: u64,
}

/// The greylisting databases.
pub struct Greylist {
    dbs: Mutex<Dbs>,
    settings: Settings,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for Greylist {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Greylist")
            .field("settings", &self.settings)
            .finish()
    }
}

fn index_key(expiry: u64, key: &str) -> String {
    format!("{expiry:020}{key}")
}

impl Greylist {
    /// Opens (creates) the databases `main` and `secondary`.
    pub fn open(
        main: &Path,
        secondary: &Path,
        settings: Settings,
        clock: Arc<dyn Clock>,
    ) -> Result<Greylist, MapError> {
        let opts = |t| OpenOptions {
            truncate: false,
            ..OpenOptions::create(t)
        };
        let main = Db::open(main, &opts(DbType::Hash))?;
        let by_expiry = Db::open(secondary, &opts(DbType::Btree))?;
        let mut count = 0;
        for item in main.iter()? {
            item?;
            count += 1;
        }
        Ok(Greylist {
            dbs: Mutex::new(Dbs {
                main,
                by_expiry,
                count,
            }),
            settings,
            clock,
        })
    }

    /// The database key of `ip`.
    pub fn key(&self, ip: Ipv4Addr) -> String {
        Ipv4Addr::from(u32::from(ip) & self.settings.netmask).to_string()
    }

    /// Entries in the main database.
    pub fn len(&self) -> u64 {
        self.lock().count
    }

    /// Whether the main database is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Dbs> {
        match self.dbs.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// Checks (and records) a client that names a valid recipient.
    pub fn check(&self, ip: Ipv4Addr) -> Result<Verdict, MapError> {
        let s = &self.settings;
        let now = self.clock.now();
        let key = self.key(ip);
        let mut dbs = self.lock();
        let old = dbs.main.get(key.as_bytes())?.and_then(|v| Entry::parse(&v));
        let (new, verdict) = match old {
            Some(Entry::Grey { first }) if now.saturating_sub(first) <= s.grey_expire => {
                let age = now.saturating_sub(first);
                if age < s.grey_wait {
                    (
                        Entry::Grey { first },
                        Verdict::Grey {
                            wait: s.grey_wait - age,
                        },
                    )
                } else {
                    (Entry::White { last: now }, Verdict::Pass)
                }
            }
            Some(Entry::White { last })
                if now.saturating_sub(last) <= s.white_timeout.min(s.white_expire) =>
            {
                (Entry::White { last: now }, Verdict::Pass)
            }
            _ => (
                Entry::Grey { first: now },
                Verdict::Grey { wait: s.grey_wait },
            ),
        };
        if old != Some(new) {
            if let Some(o) = old {
                dbs.by_expiry
                    .delete(index_key(o.expiry(s), &key).as_bytes())?;
            } else {
                dbs.count += 1;
            }
            dbs.main.put(key.as_bytes(), new.text().as_bytes(), true)?;
            dbs.by_expiry.put(
                index_key(new.expiry(s), &key).as_bytes(),
                key.as_bytes(),
                true,
            )?;
        }
        if dbs.count > s.expire_limit {
            Self::expire(&mut dbs, s, now)?;
        }
        Ok(verdict)
    }

    /// Removes expired entries, oldest expiry first.
    fn expire(dbs: &mut Dbs, s: &Settings, now: u64) -> Result<(), MapError> {
        let mut gone = Vec::new();
        for item in dbs.by_expiry.iter()? {
            let (k, v) = item?;
            let expiry = std::str::from_utf8(k.get(..20).unwrap_or_default())
                .ok()
                .and_then(|e| e.parse::<u64>().ok())
                .unwrap_or(0);
            if expiry >= now {
                break;
            }
            gone.push((k, v));
        }
        for (k, v) in gone {
            dbs.by_expiry.delete(&k)?;
            let current = dbs.main.get(&v)?.and_then(|e| Entry::parse(&e));
            if current.is_some_and(|e| e.expiry(s) < now) && dbs.main.delete(&v)? {
                dbs.count = dbs.count.saturating_sub(1);
            }
        }
        Ok(())
    }

    /// Writes both databases to disk.
    pub fn sync(&self) -> Result<(), MapError> {
        let dbs = self.lock();
        dbs.main.sync()?;
        dbs.by_expiry.sync()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn settings() -> Settings {
        Settings {
            grey_wait: 600,
            grey_expire: 86_400,
            white_expire: 36 * 86_400,
            white_timeout: 30 * 86_400,
            expire_limit: 100_000,
            netmask: 0xFFFF_FF00,
        }
    }

    fn open(tag: &str, s: Settings, clock: Arc<ManualClock>) -> (Greylist, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!("smx-grey-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let g = Greylist::open(&dir.join("g.db"), &dir.join("g2.db"), s, clock).unwrap();
        (g, dir)
    }

    #[test]
    fn unknown_grey_white_and_stale() {
        let clock = ManualClock::new(1_000_000);
        let (g, dir) = open("states", settings(), clock.clone());
        let ip: Ipv4Addr = "192.0.2.7".parse().unwrap();
        assert_eq!(g.check(ip).unwrap(), Verdict::Grey { wait: 600 });
        clock.advance(60);
        assert_eq!(g.check(ip).unwrap(), Verdict::Grey { wait: 540 });
        // The netmask puts the farm's other host under the same key.
        clock.advance(540);
        assert_eq!(
            g.check("192.0.2.99".parse().unwrap()).unwrap(),
            Verdict::Pass
        );
        assert_eq!(g.check(ip).unwrap(), Verdict::Pass);
        assert_eq!(g.len(), 1);
        // Regular mail keeps it white ...
        clock.advance(29 * 86_400);
        assert_eq!(g.check(ip).unwrap(), Verdict::Pass);
        // ... silence beyond white_timeout makes it start over.
        clock.advance(31 * 86_400);
        assert_eq!(g.check(ip).unwrap(), Verdict::Grey { wait: 600 });
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_grey_entry_not_confirmed_in_time_starts_over() {
        let clock = ManualClock::new(5_000);
        let (g, dir) = open("expire", settings(), clock.clone());
        let ip: Ipv4Addr = "198.51.100.1".parse().unwrap();
        assert!(matches!(g.check(ip).unwrap(), Verdict::Grey { .. }));
        clock.advance(86_401);
        assert_eq!(g.check(ip).unwrap(), Verdict::Grey { wait: 600 });
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn expired_entries_go_when_the_limit_is_passed_and_state_survives_reopen() {
        let clock = ManualClock::new(10_000);
        let s = Settings {
            expire_limit: 2,
            netmask: u32::MAX,
            ..settings()
        };
        let (g, dir) = open("limit", s, clock.clone());
        g.check("10.0.0.1".parse().unwrap()).unwrap();
        g.check("10.0.0.2".parse().unwrap()).unwrap();
        // Nothing expired yet: the limit may be exceeded.
        g.check("10.0.0.3".parse().unwrap()).unwrap();
        assert_eq!(g.len(), 3);
        clock.advance(86_401);
        g.check("10.0.0.4".parse().unwrap()).unwrap();
        assert_eq!(g.len(), 1);
        g.sync().unwrap();
        drop(g);
        let g = Greylist::open(&dir.join("g.db"), &dir.join("g2.db"), s, clock.clone()).unwrap();
        assert_eq!(g.len(), 1);
        clock.advance(600);
        assert_eq!(g.check("10.0.0.4".parse().unwrap()).unwrap(), Verdict::Pass);
        std::fs::remove_dir_all(dir).unwrap();
    }
}

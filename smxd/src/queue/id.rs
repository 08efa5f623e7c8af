//! Queue ids: the name of a message in every log line, in CDB (its content
//! file name) and in IBDB.
//!
//! A [`QueueId`] is 64 bits, written as 16 uppercase hex digits:
//!
//! ```text
//!   | 52 bits: microseconds since 1970 | 8 bits: SMTP server id | 4 bits: process index |
//! ```
//!
//! Guarantee: ids made by one [`IdGenerator`] are strictly increasing
//! (`time = max(now, last + 1)`), so two generators with different
//! (server id, process index) pairs never collide, and ids sort by arrival
//! to the microsecond (ties between servers broken by server id). 52 bits
//! of microseconds last until the year 2112.
//!
//! Limit: uniqueness across restarts rests on the clock. If the clock steps
//! back, or a generator ran ahead of the clock (more than a million ids a
//! second) and the process restarts before the clock caught up, a new
//! generator may repeat an id. Two guards catch that: a generator can be
//! started after the largest id the QMGR recovered
//! ([`IdGenerator::resume_after`]), `Cdb::store` refuses an existing
//! content file, and the QMGR refuses at commit an id it still holds, with
//! a temporary error, so the client retries under a new id.

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Bits of the timestamp part.
const TIME_BITS: u32 = 52;
/// Largest timestamp value.
const TIME_MAX: u64 = (1 << TIME_BITS) - 1;

/// The id of one message (one SMTP transaction) in the queue.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct QueueId(u64);

impl QueueId {
    /// Builds an id from its parts; `micros` is cut to 52 bits and
    /// `process` to 4.
    pub fn from_parts(micros: u64, server: u8, process: u8) -> QueueId {
        QueueId(((micros & TIME_MAX) << 12) | (u64::from(server) << 4) | u64::from(process & 0xF))
    }

    /// The id as a number; its order is the order of ids.
    pub fn as_u64(self) -> u64 {
        self.0
    }

    /// The id from a number.
    pub fn from_u64(v: u64) -> QueueId {
        QueueId(v)
    }

    /// Microseconds since the epoch when the id was made (or later, if the
    /// generator ran ahead of the clock).
    pub fn micros(self) -> u64 {
        self.0 >> 12
    }

    /// The SMTP server id.
    pub fn server(self) -> u8 {
        ((self.0 >> 4) & 0xFF) as u8
    }

    /// The process index within the server.
    pub fn process(self) -> u8 {
        (self.0 & 0xF) as u8
    }

    /// The CDB subdirectory (`0`..`F`) of this id: bits 16..20 of the
    /// timestamp, which move on every 65.536 ms. Over time content files
    /// spread evenly over the 16 directories; at any moment the messages
    /// arriving share one, so that a group commit of IBDB, which must make
    /// the names of its messages' content files durable first, fsyncs one
    /// directory (rarely two) instead of one per message (with `CDB_sync =
    /// file`; with `filesystem` one syncfs covers every directory).
    pub fn cdb_dir(self) -> char {
        let nibble = ((self.micros() >> 16) & 0xF) as u32;
        char::from_digit(nibble, 16).map_or('0', |c| c.to_ascii_uppercase())
    }
}

impl fmt::Display for QueueId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016X}", self.0)
    }
}

impl fmt::Debug for QueueId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "QueueId({self})")
    }
}

/// A string that is not 16 hex digits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a queue id (16 uppercase hex digits): {0:?}")]
pub struct BadQueueId(pub String);

impl FromStr for QueueId {
    type Err = BadQueueId;

    /// Only the canonical form is accepted (16 digits, uppercase), so a
    /// file name parses back to exactly the id that wrote it.
    fn from_str(s: &str) -> Result<QueueId, BadQueueId> {
        let ok = s.len() == 16
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b));
        if !ok {
            return Err(BadQueueId(s.to_string()));
        }
        u64::from_str_radix(s, 16)
            .map(QueueId)
            .map_err(|_| BadQueueId(s.to_string()))
    }
}

impl serde::Serialize for QueueId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for QueueId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<QueueId, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Makes strictly increasing ids for one (SMTP server id, process index).
/// Shared by all sessions of a process (`&self`, lock-free).
#[derive(Debug)]
pub struct IdGenerator {
    server: u8,
    process: u8,
    /// Timestamp part of the last id made.
    last: AtomicU64,
}

impl IdGenerator {
    /// A generator for SMTP server `server`, process `process` (0..=15;
    /// larger values are cut to 4 bits).
    pub fn new(server: u8, process: u8) -> IdGenerator {
        IdGenerator {
            server,
            process: process & 0xF,
            last: AtomicU64::new(0),
        }
    }

    /// A generator whose ids are all larger than `floor` (e.g. the largest
    /// id recovered from IBDB), whatever the clock says.
    pub fn resume_after(server: u8, process: u8, floor: QueueId) -> IdGenerator {
        let g = IdGenerator::new(server, process);
        g.last.store(floor.micros(), Ordering::Relaxed);
        g
    }

    /// The next id.
    pub fn next_id(&self) -> QueueId {
        let now = now_micros();
        let mut last = self.last.load(Ordering::Relaxed);
        loop {
            let t = now.max(last.saturating_add(1)) & TIME_MAX;
            match self
                .last
                .compare_exchange_weak(last, t, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => return QueueId::from_parts(t, self.server, self.process),
                Err(seen) => last = seen,
            }
        }
    }
}

/// Microseconds since the epoch; 0 if the clock is before 1970.
pub fn now_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn display_parse_roundtrip() {
        let id = QueueId::from_parts(0x6B1D2, 0x12, 3);
        assert_eq!(id.to_string(), "000000006B1D2123");
        assert_eq!("000000006B1D2123".parse::<QueueId>(), Ok(id));
        assert_eq!(id.server(), 0x12);
        assert_eq!(id.process(), 3);
        assert_eq!(id.cdb_dir(), '6');
        // Ids of the same 65 ms share a directory; the next slice moves on.
        assert_eq!(QueueId::from_parts(0x6FFFF, 0x12, 3).cdb_dir(), '6');
        assert_eq!(QueueId::from_parts(0x70000, 0x12, 3).cdb_dir(), '7');
        for bad in [
            "",
            "000000006b1d2123",
            "000000006B1D212",
            "000000006B1D21234",
            "G00000006B1D2123",
            "+00000006B1D212",
        ] {
            assert!(bad.parse::<QueueId>().is_err(), "{bad}");
        }
    }

    #[test]
    fn strictly_increasing_and_resumable() {
        let g = IdGenerator::new(1, 2);
        let mut prev = g.next_id();
        for _ in 0..10_000 {
            let id = g.next_id();
            assert!(id > prev);
            prev = id;
        }
        let far = QueueId::from_parts(now_micros() + 10_000_000, 1, 2);
        let g2 = IdGenerator::resume_after(1, 2, far);
        assert!(g2.next_id() > far);
    }
}

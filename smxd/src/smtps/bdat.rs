//! BDAT (RFC 3030 CHUNKING), without I/O: the message is the concatenation
//! of the chunks, exact byte counts, no dot processing.
//!
//! Rules the session follows (see `session.rs`):
//! - every BDAT command consumes its `n` octets, even when it is refused
//!   (no transaction, DATA mixed in, an earlier chunk failed): otherwise the
//!   chunk would be read as commands;
//! - a BDAT whose size cannot be read closes the session (`421`), for the
//!   same reason;
//! - the size limit is counted per chunk: the chunk that goes over it gets
//!   `552 5.3.4` and ends the transaction (RFC 3030 §2: the client must then
//!   send no more chunks; any it pipelined get `503 5.5.1`);
//! - DATA after a BDAT in the same transaction gets `503 5.5.1`;
//! - at `LAST`, the content must consist of CRLF-terminated lines like DATA
//!   content (BINARYMIME is not offered), so a bare CR or LF is rejected
//!   with the same `550 5.6.0` as in DATA: smx never stores text that a
//!   later DATA hop could split differently.

use super::budget::{ContentBudget, Held};
use std::sync::Arc;

/// The chunks of one transaction.
#[derive(Debug, Default)]
pub struct Chunks {
    message: Vec<u8>,
    size: u64,
    too_big: bool,
    over_budget: bool,
    held: Held,
}

impl Chunks {
    /// No chunk yet; the content is held against `budget` (`budget.rs`).
    pub fn new(budget: Option<Arc<ContentBudget>>) -> Chunks {
        Chunks {
            held: Held::new(budget),
            ..Chunks::default()
        }
    }

    /// Appends part of a chunk; stops storing beyond `limit` (0: none) or
    /// when the budget has no room.
    pub fn push(&mut self, bytes: &[u8], limit: u64) {
        self.size += bytes.len() as u64;
        if limit > 0 && self.size > limit {
            self.too_big = true;
        }
        if self.too_big || self.over_budget {
            return;
        }
        if !self.held.append(&mut self.message, bytes) {
            self.over_budget = true;
        }
    }

    /// True once the limit was exceeded.
    pub fn too_big(&self) -> bool {
        self.too_big
    }

    /// True once the budget had no room (`452 4.3.1`).
    pub fn over_budget(&self) -> bool {
        self.over_budget
    }

    /// Total octets received.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The message and its share of the budget.
    pub fn into_held(self) -> (Vec<u8>, Held) {
        (self.message, self.held)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_counts_all_chunks() {
        let mut c = Chunks::default();
        c.push(b"1234", 6);
        assert!(!c.too_big());
        c.push(b"567", 6);
        assert!(c.too_big());
        assert_eq!(c.size(), 7);
    }
}

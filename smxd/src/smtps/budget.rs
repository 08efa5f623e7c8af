//! How much message content one SMTP server process holds in memory at
//! once. A session keeps the message it receives in memory until the
//! backend has stored it (`backend.rs`); `max_message_size` bounds one
//! message, and this budget bounds them all together, so that many
//! clients sending large messages at once (slowly, within `io_timeout`)
//! cannot make the process use `max_threads` × `max_message_size` of
//! memory.
//!
//! A message that would take the process over its budget is not kept: the
//! session reads it to its end as usual and answers `452 4.3.1` (RFC 3463:
//! mail system full), and the client tries again later, as it would after
//! a full disk. Nothing that was acknowledged is affected.
//!
//! The budget is [`budget_for`]`(max_message_size)`: four messages of the
//! largest size, and at least [`MIN_BUDGET`]. Content is reserved in
//! steps of [`STEP`] octets, so a message costs one atomic operation per
//! 64 KiB, not one per line.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// The smallest budget.
pub const MIN_BUDGET: u64 = 256 << 20;
/// Content is reserved this much at a time.
pub const STEP: u64 = 64 << 10;

/// The budget of a server with this `max_message_size` (0: no limit).
pub fn budget_for(max_message_size: u64) -> u64 {
    max_message_size.saturating_mul(4).max(MIN_BUDGET)
}

/// The octets of content the sessions of a process may hold together.
#[derive(Debug)]
pub struct ContentBudget {
    limit: u64,
    used: AtomicU64,
}

impl ContentBudget {
    /// A budget of `limit` octets.
    pub fn new(limit: u64) -> Arc<ContentBudget> {
        Arc::new(ContentBudget {
            limit,
            used: AtomicU64::new(0),
        })
    }

    /// Octets held now.
    pub fn used(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }

    fn take(&self, n: u64) -> bool {
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |u| {
                u.checked_add(n).filter(|&t| t <= self.limit)
            })
            .is_ok()
    }

    fn give(&self, n: u64) {
        self.used.fetch_sub(n, Ordering::AcqRel);
    }
}

/// What one message holds of the budget; given back when dropped.
#[derive(Debug, Default)]
pub struct Held {
    budget: Option<Arc<ContentBudget>>,
    reserved: u64,
    used: u64,
}

impl Held {
    /// Nothing held yet of `budget` (`None`: no budget, everything fits).
    pub fn new(budget: Option<Arc<ContentBudget>>) -> Held {
        Held {
            budget,
            reserved: 0,
            used: 0,
        }
    }

    /// Makes room for `n` more octets; false when the budget has none.
    pub fn grow(&mut self, n: u64) -> bool {
        let Some(b) = &self.budget else {
            return true;
        };
        let want = self.used.saturating_add(n);
        if want > self.reserved {
            let more = (want - self.reserved).max(STEP);
            if !b.take(more) {
                return false;
            }
            self.reserved += more;
        }
        self.used = want;
        true
    }

    /// Appends `bytes` to `buf` if the budget has room for them; if not,
    /// empties `buf` and gives back all it held (the message will be
    /// refused), and returns false.
    pub fn append(&mut self, buf: &mut Vec<u8>, bytes: &[u8]) -> bool {
        if self.grow(bytes.len() as u64) {
            buf.extend_from_slice(bytes);
            return true;
        }
        *buf = Vec::new();
        *self = Held::default();
        false
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        if let Some(b) = &self.budget {
            b.give(self.reserved);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_share_the_budget_and_give_it_back() {
        let b = ContentBudget::new(3 * STEP);
        let mut one = Held::new(Some(b.clone()));
        assert!(one.grow(10));
        assert_eq!(b.used(), STEP, "reserved a step at a time");
        assert!(one.grow(STEP));
        assert_eq!(b.used(), 2 * STEP);
        let mut two = Held::new(Some(b.clone()));
        assert!(!two.grow(2 * STEP), "over the budget");
        assert_eq!(b.used(), 2 * STEP, "a refused reservation takes nothing");
        assert!(two.grow(STEP));
        assert_eq!(b.used(), 3 * STEP);
        drop(one);
        assert_eq!(b.used(), STEP);
        drop(two);
        assert_eq!(b.used(), 0);
        let mut free = Held::new(None);
        assert!(free.grow(u64::MAX));
    }

    #[test]
    fn the_budget_holds_four_of_the_largest_messages() {
        assert_eq!(budget_for(0), MIN_BUDGET);
        assert_eq!(budget_for(10 << 20), MIN_BUDGET);
        assert_eq!(budget_for(100 << 20), 400 << 20);
    }
}

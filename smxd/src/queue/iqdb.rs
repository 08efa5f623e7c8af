//! IQDB, the incoming queue (README §1.1.1, §3.8 item 7): the envelopes of
//! committed transactions the QMGR holds in memory until they move to the
//! active queue (AQ) or to DEFEDB.
//!
//! Its size is counted in recipients and bounded by `max_cache_entries`;
//! a transaction that does not fit is refused, and the SMTP server turns
//! that into a temporary failure (`452 4.3.1`), never a loss. Recovery may
//! fill it beyond the bound ([`Iqdb::insert_recovered`]): mail already
//! accepted is never dropped; new mail waits until it drains.

use std::collections::BTreeMap;

use crate::queue::ibdb::{RcptStatus, Transaction};
use crate::queue::id::QueueId;

/// Why a transaction was not taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IqdbError {
    /// Not enough room for its recipients.
    #[error("incoming queue full ({used} of {max} recipients)")]
    Full {
        /// Recipients held.
        used: usize,
        /// The bound.
        max: usize,
    },
    /// A transaction with this id is already queued.
    #[error("queue id {0} is already in the incoming queue")]
    Duplicate(QueueId),
}

/// The incoming queue, ordered by queue id (that is, by arrival).
#[derive(Debug)]
pub struct Iqdb {
    max: usize,
    used: usize,
    tas: BTreeMap<QueueId, Transaction>,
}

impl Iqdb {
    /// An empty queue for at most `max_recipients` recipients.
    pub fn new(max_recipients: usize) -> Iqdb {
        Iqdb {
            max: max_recipients,
            used: 0,
            tas: BTreeMap::new(),
        }
    }

    /// Whether `n` more recipients would fit (for an early check at RCPT).
    pub fn has_room(&self, n: usize) -> Result<(), IqdbError> {
        if self.used.saturating_add(n) > self.max {
            return Err(IqdbError::Full {
                used: self.used,
                max: self.max,
            });
        }
        Ok(())
    }

    /// Adds a new transaction if it fits and its id is new.
    pub fn insert(&mut self, ta: Transaction) -> Result<(), IqdbError> {
        if self.tas.contains_key(&ta.id) {
            return Err(IqdbError::Duplicate(ta.id));
        }
        self.has_room(ta.recipients.len())?;
        self.used += ta.recipients.len();
        self.tas.insert(ta.id, ta);
        Ok(())
    }

    /// Adds a recovered transaction, whatever the bound.
    pub fn insert_recovered(&mut self, ta: Transaction) {
        self.used += ta.recipients.len();
        if let Some(old) = self.tas.insert(ta.id, ta) {
            self.used -= old.recipients.len();
        }
    }

    /// Removes a transaction (done, or moved on).
    pub fn remove(&mut self, id: QueueId) -> Option<Transaction> {
        let ta = self.tas.remove(&id)?;
        self.used -= ta.recipients.len();
        Some(ta)
    }

    /// Records a recipient's new status.
    pub fn set_status(&mut self, id: QueueId, index: usize, status: RcptStatus) -> bool {
        match self
            .tas
            .get_mut(&id)
            .and_then(|ta| ta.recipients.get_mut(index))
        {
            Some(r) => {
                r.status = status;
                true
            }
            None => false,
        }
    }

    /// The transaction `id`.
    pub fn get(&self, id: QueueId) -> Option<&Transaction> {
        self.tas.get(&id)
    }

    /// Whether `id` is queued.
    pub fn contains(&self, id: QueueId) -> bool {
        self.tas.contains_key(&id)
    }

    /// Transactions in arrival order.
    pub fn iter(&self) -> impl Iterator<Item = &Transaction> {
        self.tas.values()
    }

    /// Number of transactions.
    pub fn len(&self) -> usize {
        self.tas.len()
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.tas.is_empty()
    }

    /// Recipients held (what the bound counts).
    pub fn recipients(&self) -> usize {
        self.used
    }
}

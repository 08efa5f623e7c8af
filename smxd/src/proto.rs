//! The messages between the SMTP servers and the queue manager, carried by
//! [`crate::ipc`] frames over `SMTPS_socket` (README §3.4 item 5).
//!
//! The SMTP server asks before it takes a transaction ([`SmtpsRequest::Room`])
//! and, once the content file is on disk, asks the QMGR to commit the
//! envelope ([`SmtpsRequest::Commit`]); it answers `250` only when the QMGR
//! says [`QmgrAnswer::Committed`], which the QMGR says only when the IBDB
//! record holding the transaction is on disk.

use crate::queue::ibdb::record::Transaction;
use serde::{Deserialize, Serialize};

/// What an SMTP server asks the QMGR.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SmtpsRequest {
    /// Is there room (disk space, IQDB) for a transaction with this many
    /// recipients?
    Room {
        /// Recipients so far (0 at MAIL).
        recipients: usize,
    },
    /// Commit this transaction; its content file is already fsynced.
    Commit(Transaction),
}

/// What the QMGR answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum QmgrAnswer {
    /// Yes (to `Room`).
    Ok,
    /// The transaction is on disk.
    Committed,
    /// No: the SMTP reply to give (always temporary from the QMGR).
    Refused {
        /// Reply code, e.g. 452.
        code: u16,
        /// Enhanced status code, e.g. `4.3.1`.
        status: String,
        /// Text.
        text: String,
    },
}

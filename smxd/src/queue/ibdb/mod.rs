//! IBDB, the incoming queue backup database (README §1.1.1, §3.8 item 6):
//! the QMGR's append-only log of envelopes, in `ibdb/` under the queue
//! directory (mode 0700, files 0600, owner smxq, §2.4.1).
//!
//! - [`record`]: [`Record`] (`TaOpen`, `RcptDone`, `TaDone`) and the
//!   framing (length, CRC-32, JSON) of files `ibdb/NNNNNNNN`.
//! - [`writer`]: [`IbdbWriter`], group commit, rotation and cleanup.
//! - [`recover`](mod@recover): replay at start, cutting a torn tail.

pub mod record;
pub mod recover;
pub mod writer;

pub use record::{RcptStatus, Recipient, Record, Transaction};
pub use recover::{recover, Recovered, RecoveredFile};
pub use writer::{Content, Durable, IbdbConf, IbdbError, IbdbStats, IbdbWriter, LAZY_DELAY};

//! The receive side of the queue (README §1.1.1, §2.4.1, §3.8 items 6, 7,
//! 9, 11; DESIGN.md "Storage"): what must be on disk before an SMTP server
//! may answer `250`, and how the QMGR gets it back after a crash.
//!
//! - [`id`]: [`QueueId`], unique, never reused, sorted by arrival.
//! - [`cdb`]: content files `CDB_base_directory/X/ID` (dirs 0771, files
//!   0640), written and fsynced by the SMTP server (user smxs) before it
//!   asks for the commit.
//! - [`ibdb`]: the envelope log `ibdb/NNNNNNNN` (dir 0700, files 0600) with
//!   group commit; the QMGR's.
//! - [`iqdb`]: the in-memory incoming queue, bounded in recipients.
//! - [`disk`]: free-space watcher with hysteresis.
//!
//! [`Queue`] ties them together for the QMGR, which runs as the queue user
//! (smxq): it owns `ibdb/` and may remove files from the CDB directories
//! (group smxq, mode 0771) but not read their content. `Queue::open` runs
//! recovery: it replays IBDB (cutting a torn tail), rebuilds IQDB from the
//! open transactions and removes content files no committed transaction
//! refers to. That sweep assumes no SMTP server is writing a content file
//! for this QMGR meanwhile: the MCP starts the QMGR before the SMTP
//! servers, and an SMTP server whose QMGR went away aborts its open
//! transactions (it could not commit them anyway).
//!
//! [`Queue::commit`] returns only when the `TaOpen` record is on disk; the
//! caller answers `250` after that and not before.

pub mod cdb;
pub mod defedb;
pub mod disk;
pub mod ibdb;
pub mod id;
pub mod iqdb;

use std::collections::HashSet;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use smx_grammar::config::GlobalConf;

pub use cdb::{Cdb, CdbSync};
pub use defedb::{Defedb, Deferred};
pub use disk::{DiskLow, DiskProbe, DiskWatch, StatvfsProbe};
pub use ibdb::{
    recover, Content, Durable, IbdbConf, IbdbError, IbdbWriter, RcptStatus, Recipient, Record,
    Recovered, Transaction,
};
pub use id::{IdGenerator, QueueId};
pub use iqdb::{Iqdb, IqdbError};

/// The next item on `rx` that comes before `deadline` (when the deadline
/// has passed, one that is already waiting); `None` if none does. The
/// writer threads of IBDB and DEFEDB gather their batches with it.
pub(crate) fn recv_by<T>(
    rx: &std::sync::mpsc::Receiver<T>,
    deadline: std::time::Instant,
) -> Option<T> {
    let wait = deadline.saturating_duration_since(std::time::Instant::now());
    if wait.is_zero() {
        rx.try_recv().ok()
    } else {
        rx.recv_timeout(wait).ok()
    }
}

/// Settings of the queue, taken from `qmgr { }` and `CDB_base_directory`.
#[derive(Clone)]
pub struct QueueConf {
    /// Group commit.
    pub ibdb: IbdbConf,
    /// IQDB bound, in recipients (`IQDB { max_cache_entries }`).
    pub iqdb_max_entries: usize,
    /// Refuse mail below this many free bytes.
    pub min_disk_space: u64,
    /// Accept again above this many free bytes.
    pub ok_disk_space: u64,
    /// CDB base; relative to the queue directory, empty for the queue
    /// directory itself (README §3.4 item 2).
    pub cdb_base_directory: PathBuf,
    /// How the QMGR's own content files (bounces) are made durable.
    pub cdb_sync: CdbSync,
    /// DEFEDB directory, relative to the queue directory.
    pub defedb_directory: PathBuf,
    /// DEFEDB log directory, relative to the queue directory.
    pub defedb_log_directory: PathBuf,
    /// Free-space probe; `None` for `statvfs` on the queue and CDB dirs.
    pub disk_probe: Option<Arc<dyn DiskProbe>>,
}

impl fmt::Debug for QueueConf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QueueConf")
            .field("ibdb", &self.ibdb)
            .field("iqdb_max_entries", &self.iqdb_max_entries)
            .field("min_disk_space", &self.min_disk_space)
            .field("ok_disk_space", &self.ok_disk_space)
            .field("cdb_base_directory", &self.cdb_base_directory)
            .field("cdb_sync", &self.cdb_sync)
            .field("defedb_directory", &self.defedb_directory)
            .field("defedb_log_directory", &self.defedb_log_directory)
            .field("disk_probe", &self.disk_probe.as_ref().map(|_| "custom"))
            .finish()
    }
}

impl Default for QueueConf {
    /// The defaults of `smx.conf` (see `smx_grammar::config::qmgr`).
    fn default() -> QueueConf {
        QueueConf {
            ibdb: IbdbConf {
                max_commit_delay: Duration::ZERO,
                max_open_tas: 100,
                size: 64 << 20,
                lazy_delay: ibdb::LAZY_DELAY,
            },
            iqdb_max_entries: 8192,
            min_disk_space: 100 << 20,
            ok_disk_space: 200 << 20,
            cdb_base_directory: PathBuf::new(),
            cdb_sync: CdbSync::Filesystem,
            defedb_directory: PathBuf::from("defedb"),
            defedb_log_directory: PathBuf::from("defedb"),
            disk_probe: None,
        }
    }
}

impl QueueConf {
    /// From the typed configuration (`qmgr { }`, `CDB_base_directory`,
    /// `CDB_sync`).
    pub fn from_config(g: &GlobalConf) -> QueueConf {
        let qmgr = &g.qmgr;
        let count = |v: u64| usize::try_from(v).unwrap_or(usize::MAX);
        QueueConf {
            ibdb: IbdbConf {
                max_commit_delay: qmgr.ibdb.max_commit_delay,
                max_open_tas: count(qmgr.ibdb.max_open_tas),
                size: qmgr.ibdb.size,
                lazy_delay: ibdb::LAZY_DELAY,
            },
            iqdb_max_entries: count(qmgr.iqdb.max_cache_entries),
            min_disk_space: qmgr.min_disk_space,
            ok_disk_space: qmgr.ok_disk_space,
            cdb_base_directory: PathBuf::from(&g.cdb_base_directory),
            cdb_sync: g.cdb_sync,
            defedb_directory: PathBuf::from(&qmgr.defedb.base_directory),
            defedb_log_directory: PathBuf::from(&qmgr.defedb.log_directory),
            disk_probe: None,
        }
    }
}

/// Why a transaction was not committed. All are temporary: the client
/// keeps the message and tries again.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommitError {
    /// Free disk space is low (§3.8 item 9).
    #[error(transparent)]
    DiskLow(#[from] DiskLow),
    /// IQDB has no room for the recipients.
    #[error("incoming queue full")]
    QueueFull,
    /// The id is already in the queue (a clock stepped back).
    #[error("queue id {0} is already in use")]
    Duplicate(QueueId),
    /// IBDB could not be written; the QMGR must restart.
    #[error(transparent)]
    Ibdb(IbdbError),
    /// The content could not be made durable (see [`IbdbError::Dir`]).
    #[error("content directory: {0}")]
    Content(String),
}

impl CommitError {
    /// The SMTP reply code and enhanced status code (RFC 3463) the SMTP
    /// server answers with; the text comes from its reply table.
    pub fn smtp_status(&self) -> (u16, &'static str) {
        match self {
            CommitError::DiskLow(_) | CommitError::QueueFull => (452, "4.3.1"),
            CommitError::Duplicate(_) | CommitError::Ibdb(_) | CommitError::Content(_) => {
                (451, "4.3.0")
            }
        }
    }
}

impl From<IqdbError> for CommitError {
    fn from(e: IqdbError) -> CommitError {
        match e {
            IqdbError::Full { .. } => CommitError::QueueFull,
            IqdbError::Duplicate(id) => CommitError::Duplicate(id),
        }
    }
}

impl From<IbdbError> for CommitError {
    fn from(e: IbdbError) -> CommitError {
        match e {
            IbdbError::Duplicate(id) => CommitError::Duplicate(id),
            IbdbError::Dir(why) => CommitError::Content(why),
            e => CommitError::Ibdb(e),
        }
    }
}

/// The queue as the QMGR sees it.
#[derive(Debug)]
pub struct Queue {
    cdb: Cdb,
    ibdb: IbdbWriter,
    iqdb: Mutex<Iqdb>,
    disk: DiskWatch,
    defedb: Defedb,
}

impl Queue {
    /// Opens the queue in `queue_dir` (IBDB in `queue_dir/ibdb`), recovers,
    /// and starts the IBDB writer.
    pub fn open(queue_dir: &Path, conf: &QueueConf) -> io::Result<(Queue, Recovered)> {
        let cdb = Cdb::new(queue_dir.join(&conf.cdb_base_directory)).with_sync(conf.cdb_sync);
        cdb.create_dirs()?;
        cdb.relocate()?;
        let ibdb_dir = queue_dir.join("ibdb");
        let mut recovered = ibdb::recover(&ibdb_dir)?;
        let defedb_log = queue_dir.join(&conf.defedb_log_directory);
        let (defedb, deferred) =
            Defedb::open(&queue_dir.join(&conf.defedb_directory), &defedb_log)?;
        // A crash between writing a DEFEDB entry and logging `TaDone` in
        // IBDB leaves the transaction in both: the DEFEDB entry is the
        // newer state. The IBDB copy is closed once the writer runs.
        let in_defedb: HashSet<QueueId> = deferred.entries.iter().map(|d| d.ta.id).collect();
        let doubled: Vec<QueueId> = recovered
            .transactions
            .iter()
            .map(|t| t.id)
            .filter(|id| in_defedb.contains(id))
            .collect();
        recovered.deferred = deferred.entries;
        recovered.deferred_corrupt = deferred.corrupt;
        let open: HashSet<QueueId> = recovered
            .transactions
            .iter()
            .map(|t| t.id)
            .chain(in_defedb.iter().copied())
            .collect();
        let stored = cdb.list()?;
        for id in &stored {
            if !open.contains(id) {
                cdb.remove(*id)?;
                recovered.orphans_removed.push(*id);
            }
        }
        let stored: HashSet<QueueId> = stored.into_iter().collect();
        recovered.missing_content = open
            .iter()
            .copied()
            .filter(|id| !stored.contains(id))
            .collect();
        recovered.missing_content.sort();
        let mut iqdb = Iqdb::new(conf.iqdb_max_entries);
        for ta in &recovered.transactions {
            iqdb.insert_recovered(ta.clone());
        }
        let ibdb = IbdbWriter::start(&ibdb_dir, conf.ibdb, &recovered)?;
        // The IBDB copies of doubled transactions are closed by
        // `finish_recovery`, once a runtime is there to wait for the write.
        recovered
            .transactions
            .retain(|t| !in_defedb.contains(&t.id));
        for id in &doubled {
            iqdb.remove(*id);
        }
        recovered.doubled = doubled;
        let probe = conf.disk_probe.clone().unwrap_or_else(|| {
            Arc::new(StatvfsProbe {
                dirs: vec![
                    queue_dir.to_path_buf(),
                    cdb.base().to_path_buf(),
                    defedb_log,
                ],
            })
        });
        let disk = DiskWatch::new(probe, conf.min_disk_space, conf.ok_disk_space);
        Ok((
            Queue {
                cdb,
                ibdb,
                iqdb: Mutex::new(iqdb),
                disk,
                defedb,
            },
            recovered,
        ))
    }

    /// Whether a transaction with `recipients` recipients would be taken now
    /// (disk space, room in IQDB): for the SMTP server to ask at MAIL/RCPT.
    pub fn check_accept(&self, recipients: usize) -> Result<(), CommitError> {
        self.disk.check()?;
        self.iqdb().has_room(recipients)?;
        Ok(())
    }

    /// Commits `ta`, whose content file [`Queue::cdb`] wrote: returns once
    /// its content and its `TaOpen` record are on disk. On error nothing
    /// was committed.
    pub async fn commit(&self, ta: Transaction) -> Result<(), CommitError> {
        self.commit_content(ta, self.cdb.sync() == CdbSync::File)
            .await
    }

    /// Commits `ta`, whose content file is written, and fsynced if
    /// `synced` (the SMTP server's `CDB_sync`, which says so in its
    /// request): returns once its content and its `TaOpen` record are on
    /// disk. On error nothing was committed.
    ///
    /// If the future is dropped after sending, the record may still be
    /// written; the transaction then stays queued, as recovery would find.
    pub async fn commit_content(&self, ta: Transaction, synced: bool) -> Result<(), CommitError> {
        self.disk.check()?;
        let id = ta.id;
        self.iqdb().insert(ta.clone())?;
        // The content file and its name must be on disk before the record
        // that makes the transaction count: the IBDB writer makes them
        // durable first, once for all the commits of its batch.
        let path = self.cdb.path(id);
        let dir = path.parent().unwrap_or(self.cdb.base()).to_path_buf();
        let appended = self
            .ibdb
            .append_after_sync(vec![Record::TaOpen(ta)], Content { dir, synced })
            .await;
        // Space was used: the next check probes afresh.
        self.disk.forget();
        match appended {
            Ok(_) => Ok(()),
            Err(e) => {
                self.iqdb().remove(id);
                Err(e.into())
            }
        }
    }

    /// Logs a recipient's new status (delivery side).
    pub async fn rcpt_done(
        &self,
        id: QueueId,
        index: u32,
        status: RcptStatus,
    ) -> Result<(), CommitError> {
        self.ibdb
            .append(vec![Record::RcptDone { id, index, status }])
            .await?;
        self.iqdb().set_status(id, index as usize, status);
        Ok(())
    }

    /// Logs that nothing more is to be done for `id`, then drops it from
    /// IQDB and removes its content file (an orphan if we crash between).
    pub async fn ta_done(&self, id: QueueId) -> Result<(), CommitError> {
        self.ibdb.append(vec![Record::TaDone { id }]).await?;
        self.iqdb().remove(id);
        // The record is durable; a content file left behind is an orphan
        // the next recovery removes, so failing here would help nobody.
        let _ = self.cdb.remove(id);
        Ok(())
    }

    /// Logs the final status of the recipients just tried and that nothing
    /// more is to be done for `id`, in one write (one fsync), then drops it
    /// from IQDB and removes its content file.
    pub async fn ta_done_with(
        &self,
        id: QueueId,
        finals: &[(u32, RcptStatus)],
    ) -> Result<(), CommitError> {
        let mut records: Vec<Record> = finals
            .iter()
            .map(|&(index, status)| Record::RcptDone { id, index, status })
            .collect();
        records.push(Record::TaDone { id });
        // Not urgent: a lost completion record means a second delivery,
        // never a lost message. The content goes only once it is on disk.
        self.ibdb.append_lazy(records).await?;
        self.iqdb().remove(id);
        let _ = self.cdb.remove(id);
        Ok(())
    }

    /// The incoming queue.
    pub fn iqdb(&self) -> MutexGuard<'_, Iqdb> {
        self.iqdb.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The content database.
    pub fn cdb(&self) -> &Cdb {
        &self.cdb
    }

    /// The IBDB writer (counters).
    pub fn ibdb(&self) -> &IbdbWriter {
        &self.ibdb
    }

    /// Closes in IBDB the transactions recovery found in DEFEDB too (see
    /// [`Recovered::doubled`]).
    pub async fn finish_recovery(&self, recovered: &Recovered) -> Result<(), CommitError> {
        if recovered.doubled.is_empty() {
            return Ok(());
        }
        let records = recovered
            .doubled
            .iter()
            .map(|&id| Record::TaDone { id })
            .collect();
        self.ibdb.append(records).await?;
        Ok(())
    }

    /// The deferred envelope database.
    pub fn defedb(&self) -> &Defedb {
        &self.defedb
    }

    /// Moves `d` (whose transaction is in IBDB) to DEFEDB: the entry is
    /// written first, then `TaDone` is logged, so a crash in between
    /// leaves it in both (recovery keeps the DEFEDB entry), which is why
    /// `TaDone` may wait for the next urgent fsync. The content file stays.
    pub async fn defer_from_ibdb(&self, d: &Deferred) -> Result<(), CommitError> {
        self.defedb
            .put_async(d)
            .await
            .map_err(|e| CommitError::Content(format!("DEFEDB: {e}")))?;
        self.ibdb
            .append_lazy(vec![Record::TaDone { id: d.ta.id }])
            .await?;
        self.iqdb().remove(d.ta.id);
        Ok(())
    }

    /// Updates a DEFEDB entry after another attempt.
    pub async fn defer_again(&self, d: &Deferred) -> Result<(), CommitError> {
        self.defedb
            .put_async(d)
            .await
            .map_err(|e| CommitError::Content(format!("DEFEDB: {e}")))
    }

    /// Nothing more is to be done for a deferred transaction: removes its
    /// DEFEDB entry, then its content file.
    pub async fn deferred_done(&self, id: QueueId) -> Result<(), CommitError> {
        self.defedb
            .remove_async(id)
            .await
            .map_err(|e| CommitError::Content(format!("DEFEDB: {e}")))?;
        let _ = self.cdb.remove(id);
        Ok(())
    }

    /// The disk-space watcher.
    pub fn disk(&self) -> &DiskWatch {
        &self.disk
    }
}

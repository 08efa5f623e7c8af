//! The IBDB writer: group commit (README §3.8 item 6).
//!
//! One thread owns the current IBDB file. Callers send it records with a
//! oneshot for the answer; it collects every request that arrives within
//! `max_commit_delay` of the first one of a batch (or until `max_open_TAs`
//! requests are pending), appends them all, calls `fdatasync` once, and
//! only then answers each waiter. With the default delay of 0 a batch is
//! whatever queued up while the previous fsync ran: no added latency when
//! idle, large batches under load. The SMTP server answers `250` after that
//! answer, so a `250` always means "on disk".
//!
//! Content first: a new transaction's record may reach the disk only
//! after its content file and the file's name in its directory. Each
//! batch does that once for all its new transactions, before it writes
//! their records. A request names its content directory and says whether
//! the writer of the file fsynced it ([`Content`]; `CDB_sync`, see
//! [`crate::queue::cdb`]):
//! - not fsynced (`CDB_sync = filesystem`): the writer calls syncfs(2)
//!   once per filesystem holding such a directory, which writes every
//!   dirty file and directory there and flushes the disk's cache. One
//!   flush then covers the content of the whole batch, where fsync per
//!   file costs one flush per message. syncfs reports write errors of any
//!   file of that filesystem not yet reported elsewhere (Linux 5.8 and
//!   later): the batch's new transactions there are then refused (451),
//!   as with a failed fsync.
//! - fsynced (`CDB_sync = file`): the writer fsyncs each content
//!   directory once (unless a syncfs of its filesystem covers it).
//!
//! The request says it, not the writer's setting, so an SMTP server
//! restarted with another `CDB_sync` than the QMGR's never leaves a file
//! unsynced.
//!
//! Completion records (a transaction done, [`IbdbWriter::append_lazy`]) are
//! not urgent: losing one in a crash means a delivery is made again, not
//! a message lost. A batch that holds only such records waits up to
//! `lazy_delay` ([`LAZY_DELAY`]) for an urgent request (a new transaction) and shares its
//! fsync, so under a steady load deliveries add no fsync of their own and
//! never make a new transaction wait behind theirs. The caller removes the
//! content file only after the answer, when the record is on disk.
//!
//! Why a thread and not a tokio task: fsync blocks for milliseconds, and a
//! blocking call on a runtime worker would stall every session scheduled
//! there. Requests go over a `std::sync::mpsc` channel (sending never
//! blocks, so async callers may use it) and answers over
//! `tokio::sync::oneshot` (awaitable).
//!
//! After a failed write or fsync the writer refuses everything that
//! follows: what the kernel kept of the file is unknown (a later fsync may
//! "succeed" without the lost pages), so the only safe way on is a restart
//! and recovery from what really is on disk.
//!
//! Rotation: after a batch that leaves the file at `size` bytes or more, the
//! next batch goes to a new file. Cleanup: the oldest files are removed
//! while no open transaction was opened in them. Only the oldest: a later
//! file may hold `RcptDone` records of a transaction opened earlier, which
//! must stay as long as that transaction's `TaOpen` does.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use super::record::{Record, MAGIC};
use super::recover::{file_name, Recovered};
use crate::queue::id::QueueId;

/// How long a batch of completion records alone waits for an urgent
/// request to share its fsync with (the default of [`IbdbConf::lazy_delay`]).
pub const LAZY_DELAY: Duration = Duration::from_millis(20);

/// Group commit settings (`qmgr { IBDB { ... } }`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IbdbConf {
    /// How long the first request of a batch waits for others.
    pub max_commit_delay: Duration,
    /// Requests that force a commit at once.
    pub max_open_tas: usize,
    /// Size at which the writer moves to a new file.
    pub size: u64,
    /// How long completion records alone wait for company ([`LAZY_DELAY`]).
    pub lazy_delay: Duration,
}

/// The content of a new transaction, to make durable before its record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Content {
    /// The directory of the content file.
    pub dir: PathBuf,
    /// Whether the file is fsynced already (`CDB_sync = file`); if not,
    /// a syncfs of its filesystem makes it durable.
    pub synced: bool,
}

/// Why an append was not made durable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IbdbError {
    /// Writing or fsyncing failed; nothing more is accepted until restart.
    #[error("IBDB write failed: {0}")]
    Io(String),
    /// The transaction id is already open (an id was reused).
    #[error("queue id {0} is already in the queue")]
    Duplicate(QueueId),
    /// The writer thread is gone.
    #[error("IBDB writer stopped")]
    Stopped,
    /// The content to make durable first could not be (a content
    /// directory's open or fsync, or the syncfs of its filesystem,
    /// failed); nothing was written (IBDB itself is fine).
    #[error("content directory: {0}")]
    Dir(String),
}

/// Proof that an append is on disk: the number of the fsync that made it
/// so (fsyncs are numbered from 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Durable {
    /// The fsync that covered the records.
    pub fsync: u64,
}

/// Counters, readable while the writer runs.
#[derive(Debug, Default)]
pub struct IbdbStats {
    /// fdatasync calls on IBDB files that carried records.
    pub fsyncs: AtomicU64,
    /// Calls that made content durable: syncfs of a filesystem, or fsync
    /// of a directory.
    pub content_syncs: AtomicU64,
    /// Records written.
    pub records: AtomicU64,
    /// Requests answered Ok.
    pub committed: AtomicU64,
    /// Files started after the first.
    pub rotations: AtomicU64,
    /// Files removed by cleanup.
    pub files_removed: AtomicU64,
}

struct Request {
    records: Vec<Record>,
    /// The content of a new transaction, made durable (see the module
    /// header) before the records are written.
    content: Option<Content>,
    /// A completion record: may wait up to `lazy_delay` for company.
    lazy: bool,
    reply: oneshot::Sender<Result<Durable, IbdbError>>,
}

/// Handle to the writer thread; cheap to share behind an `Arc`. The thread
/// ends once every handle is dropped and the pending batch is written.
#[derive(Debug)]
pub struct IbdbWriter {
    tx: mpsc::Sender<Request>,
    stats: Arc<IbdbStats>,
}

impl IbdbWriter {
    /// Starts the writer in `dir` after `recovered` (from
    /// [`super::recover()`] on the same directory). It writes to a new file,
    /// never to one recovery read.
    pub fn start(dir: &Path, conf: IbdbConf, recovered: &Recovered) -> io::Result<IbdbWriter> {
        let mut files: BTreeMap<u64, usize> = recovered.files.iter().map(|f| (f.seq, 0)).collect();
        for seq in recovered.opened_in.values() {
            *files.entry(*seq).or_default() += 1;
        }
        let next = files.keys().next_back().map_or(1, |s| s + 1);
        let stats = Arc::new(IbdbStats::default());
        let mut state = State {
            dir: dir.to_path_buf(),
            conf,
            file: create_file(dir, next)?,
            seq: next,
            len: MAGIC.len() as u64,
            files,
            open: recovered.opened_in.clone(),
            stats: stats.clone(),
            failed: None,
        };
        state.files.insert(next, 0);
        state.cleanup()?;
        let (tx, rx) = mpsc::channel();
        std::thread::Builder::new()
            .name("ibdb-writer".into())
            .spawn(move || state.run(rx))?;
        Ok(IbdbWriter { tx, stats })
    }

    /// Appends `records` and returns once they are on disk.
    pub async fn append(&self, records: Vec<Record>) -> Result<Durable, IbdbError> {
        self.send(records, None, false).await
    }

    /// Appends completion `records` and returns once they are on disk,
    /// which may be up to `lazy_delay` later than [`Self::append`]: they
    /// share the fsync of the next urgent request.
    pub async fn append_lazy(&self, records: Vec<Record>) -> Result<Durable, IbdbError> {
        self.send(records, None, true).await
    }

    /// Makes `content` durable, then appends `records`; returns once both
    /// are on disk. The writer does that once per batch for each directory
    /// or filesystem, so the commits of many sessions share it (no extra
    /// thread hand-off).
    pub async fn append_after_sync(
        &self,
        records: Vec<Record>,
        content: Content,
    ) -> Result<Durable, IbdbError> {
        self.send(records, Some(content), false).await
    }

    async fn send(
        &self,
        records: Vec<Record>,
        content: Option<Content>,
        lazy: bool,
    ) -> Result<Durable, IbdbError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Request {
                records,
                content,
                lazy,
                reply,
            })
            .map_err(|_| IbdbError::Stopped)?;
        rx.await.map_err(|_| IbdbError::Stopped)?
    }

    /// The counters.
    pub fn stats(&self) -> &IbdbStats {
        &self.stats
    }

    /// Number of fsyncs so far.
    pub fn fsyncs(&self) -> u64 {
        self.stats.fsyncs.load(Ordering::Acquire)
    }
}

struct State {
    dir: PathBuf,
    conf: IbdbConf,
    file: File,
    seq: u64,
    len: u64,
    /// Every file present, with the number of open transactions opened in it.
    files: BTreeMap<u64, usize>,
    /// Open transactions and the file of their `TaOpen`.
    open: HashMap<QueueId, u64>,
    stats: Arc<IbdbStats>,
    failed: Option<String>,
}

impl State {
    fn run(mut self, rx: mpsc::Receiver<Request>) {
        let max = self.conf.max_open_tas.max(1);
        while let Ok(first) = rx.recv() {
            let mut urgent = !first.lazy;
            let mut deadline = Instant::now()
                + if urgent {
                    self.conf.max_commit_delay
                } else {
                    self.conf.lazy_delay
                };
            let mut batch = vec![first];
            while batch.len() < max {
                match crate::queue::recv_by(&rx, deadline) {
                    Some(r) => {
                        if !urgent && !r.lazy {
                            // An urgent request ends the lazy wait.
                            urgent = true;
                            deadline = deadline.min(Instant::now() + self.conf.max_commit_delay);
                        }
                        batch.push(r);
                    }
                    None => break,
                }
            }
            self.commit(batch);
        }
    }

    fn commit(&mut self, batch: Vec<Request>) {
        if let Some(why) = &self.failed {
            for r in batch {
                let _ = r.reply.send(Err(IbdbError::Io(why.clone())));
            }
            return;
        }
        let failed = self.sync_content(&batch);
        let batch: Vec<Request> = batch
            .into_iter()
            .filter_map(|req| {
                let failed = req
                    .content
                    .as_ref()
                    .and_then(|c| failed.get(&c.dir).cloned());
                match failed {
                    Some(why) => {
                        let _ = req.reply.send(Err(IbdbError::Dir(why)));
                        None
                    }
                    None => Some(req),
                }
            })
            .collect();
        // Refuse ids that are open already (or twice in this batch).
        let mut opening = HashSet::new();
        let mut buf = Vec::new();
        let mut accepted = Vec::with_capacity(batch.len());
        for req in batch {
            let dup = req.records.iter().find_map(|r| match r {
                Record::TaOpen(ta) if self.open.contains_key(&ta.id) || !opening.insert(ta.id) => {
                    Some(ta.id)
                }
                _ => None,
            });
            if let Some(id) = dup {
                let _ = req.reply.send(Err(IbdbError::Duplicate(id)));
                continue;
            }
            let start = buf.len();
            let enc: Result<(), _> = req.records.iter().try_for_each(|r| r.encode(&mut buf));
            if let Err(e) = enc {
                buf.truncate(start);
                let _ = req.reply.send(Err(IbdbError::Io(format!("encoding: {e}"))));
                continue;
            }
            accepted.push(req);
        }
        if accepted.is_empty() {
            return;
        }
        let result = self
            .file
            .write_all(&buf)
            .and_then(|()| self.file.sync_data());
        if let Err(e) = result {
            let why = format!("{}: {e}", self.dir.join(file_name(self.seq)).display());
            self.failed = Some(why.clone());
            for r in accepted {
                let _ = r.reply.send(Err(IbdbError::Io(why.clone())));
            }
            return;
        }
        self.len += buf.len() as u64;
        let fsync = self.stats.fsyncs.fetch_add(1, Ordering::AcqRel) + 1;
        let n: usize = accepted.iter().map(|r| r.records.len()).sum();
        self.stats.records.fetch_add(n as u64, Ordering::Relaxed);
        for rec in accepted.iter().flat_map(|r| &r.records) {
            self.track(rec);
        }
        // Rotation and cleanup before the answers, so that a caller sees
        // their effect; they cost something only once per file. The
        // records are durable whatever happens here, but a failure stops
        // the writer.
        if let Err(e) = self.after_batch() {
            self.failed = Some(format!("{}: {e}", self.dir.display()));
        }
        for req in accepted {
            self.stats.committed.fetch_add(1, Ordering::Relaxed);
            let _ = req.reply.send(Ok(Durable { fsync }));
        }
    }

    /// Makes the content of the batch's new transactions durable (see
    /// the module header), each filesystem or directory once; returns the
    /// directories that failed, with why.
    fn sync_content(&self, batch: &[Request]) -> HashMap<PathBuf, String> {
        // Per directory: whether some file in it is not fsynced yet.
        let mut dirs: BTreeMap<&Path, bool> = BTreeMap::new();
        for c in batch.iter().filter_map(|r| r.content.as_ref()) {
            *dirs.entry(&c.dir).or_default() |= !c.synced;
        }
        let mut opened = Vec::with_capacity(dirs.len());
        let mut failed = HashMap::new();
        for (dir, unsynced) in dirs {
            use std::os::unix::fs::MetadataExt;
            match File::open(dir).and_then(|f| Ok((f.metadata()?.dev(), f))) {
                Ok((dev, f)) => opened.push((dir, unsynced, dev, f)),
                Err(e) => {
                    failed.insert(dir.to_path_buf(), format!("{}: {e}", dir.display()));
                }
            }
        }
        // syncfs once per filesystem that holds an unsynced file; its
        // result (None for success) stands for every directory there.
        let mut synced: HashMap<u64, Option<String>> = HashMap::new();
        for (_, unsynced, dev, f) in &opened {
            if *unsynced && !synced.contains_key(dev) {
                self.stats.content_syncs.fetch_add(1, Ordering::Relaxed);
                synced.insert(*dev, syncfs(f).err().map(|e| format!("syncfs: {e}")));
            }
        }
        for (dir, _, dev, f) in opened {
            let why = match synced.get(&dev) {
                Some(why) => why.clone(),
                None => {
                    self.stats.content_syncs.fetch_add(1, Ordering::Relaxed);
                    f.sync_all().err().map(|e| e.to_string())
                }
            };
            if let Some(why) = why {
                failed.insert(dir.to_path_buf(), format!("{}: {why}", dir.display()));
            }
        }
        failed
    }

    fn track(&mut self, rec: &Record) {
        match rec {
            Record::TaOpen(ta) => {
                self.open.insert(ta.id, self.seq);
                *self.files.entry(self.seq).or_default() += 1;
            }
            Record::TaDone { id } => {
                if let Some(seq) = self.open.remove(id) {
                    if let Some(n) = self.files.get_mut(&seq) {
                        *n = n.saturating_sub(1);
                    }
                }
            }
            Record::RcptDone { .. } => {}
        }
    }

    fn after_batch(&mut self) -> io::Result<()> {
        if self.len >= self.conf.size {
            let next = self.seq + 1;
            self.file = create_file(&self.dir, next)?;
            self.seq = next;
            self.len = MAGIC.len() as u64;
            self.files.insert(next, 0);
            self.stats.rotations.fetch_add(1, Ordering::Relaxed);
        }
        self.cleanup()
    }

    /// Removes the oldest files while nothing open was opened in them.
    fn cleanup(&mut self) -> io::Result<()> {
        let mut removed = false;
        while let Some((&seq, &n)) = self.files.iter().next() {
            if seq == self.seq || n > 0 {
                break;
            }
            match fs::remove_file(self.dir.join(file_name(seq))) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
            self.files.remove(&seq);
            self.stats.files_removed.fetch_add(1, Ordering::Relaxed);
            removed = true;
        }
        if removed {
            File::open(&self.dir)?.sync_all()?;
        }
        Ok(())
    }
}

/// syncfs(2) on the filesystem holding `f`.
fn syncfs(f: &File) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    nix::unistd::syncfs(f.as_raw_fd()).map_err(io::Error::from)
}

/// Creates IBDB file `seq` with its magic, durable with its directory entry.
fn create_file(dir: &Path, seq: u64) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = OpenOptions::new()
        .append(true)
        .create_new(true)
        .mode(0o600)
        .open(dir.join(file_name(seq)))?;
    f.write_all(MAGIC)?;
    f.sync_all()?;
    File::open(dir)?.sync_all()?;
    Ok(f)
}

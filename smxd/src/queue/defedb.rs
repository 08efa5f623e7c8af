//! DEFEDB, the deferred envelope database (README §1.1.1, §3.8 item 4;
//! DESIGN.md "Storage"): the envelopes of messages whose delivery failed
//! temporarily for at least one recipient, with the time of the next try.
//!
//! Decision: an append-only log with group commit, the shape of the seed's
//! own choice (a transactional Berkeley DB whose `log_directory` takes the
//! writes), without a B-tree beside it: the QMGR reads DEFEDB only at
//! start, so the log alone is the database.
//!
//! - The log is one file, `log_directory/log.<16 hex digits>`. It starts
//!   with the magic `SMXDEFE1` and a snapshot: one `put` record per entry,
//!   ended by `snapshot_end`. Then come the updates since: `put` (a new or
//!   replaced entry, whole) and `del`. Records are framed as IBDB's
//!   (length, CRC-32, JSON).
//! - Updates go to the log's writer thread, which appends every update
//!   that is waiting, runs one fdatasync, and then answers them all (group
//!   commit): deferring a burst of messages costs a few fsyncs, not two per
//!   message as a file per entry did. The QMGR awaits the answer
//!   ([`Defedb::put_async`]) without holding a thread of its own.
//! - When the log holds more than twice the bytes of its live entries plus
//!   16 MiB, it is compacted: a new file gets the snapshot (the live
//!   records copied), is fsynced and its name made durable, and only then
//!   is the old file removed. Every open compacts too.
//! - Recovery reads the newest file whose snapshot is complete (a crash
//!   during a compaction leaves the previous file, which holds everything)
//!   and applies its records up to the first that is torn or corrupt. The
//!   bytes from there on are copied to `base_directory/corrupt/` and
//!   reported, never silently dropped.
//! - Entries of earlier smx versions, one JSON file per entry in
//!   `base_directory` (`<queue id>`), are taken into the log at open and
//!   removed; one that does not parse is moved to `corrupt/`.
//!
//! The figures are in `docs/PERFORMANCE.md` ("DEFEDB").

use crate::proto::SmtpReply;
use crate::queue::ibdb::record::{crc32, frame, Transaction, FRAME_HEADER, MAX_PAYLOAD};
use crate::queue::id::QueueId;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::oneshot;

/// Magic at the start of every DEFEDB log file (`1`: the format version).
pub const MAGIC: &[u8; 8] = b"SMXDEFE1";
/// Log files are `log.` and 16 hex digits (their number, counting up).
const LOG_PREFIX: &str = "log.";
/// Garbage the log may hold beyond the size of its live entries before it
/// is compacted (it is compacted when larger than twice them plus this).
const COMPACT_SLACK: u64 = 16 << 20;
/// Updates the writer thread takes into one fdatasync at most.
const MAX_BATCH: usize = 4096;
/// Under load (the last fdatasync covered more than one update), how long
/// the writer thread waits for more updates before the next one: deferrals
/// are never in the path of an SMTP reply, so a little latency buys fewer
/// fdatasyncs.
const GATHER: Duration = Duration::from_millis(2);
/// Snapshots are written in pieces of this size.
const WRITE_CHUNK: usize = 1 << 20;

/// One deferred transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deferred {
    /// The envelope; recipient statuses say which are still to do.
    pub ta: Transaction,
    /// Delivery attempts so far.
    pub tries: u32,
    /// When to try next, microseconds since the epoch.
    pub next_try: u64,
    /// The last reply per recipient index (for the bounce or delay
    /// notice, and for `smxctl queue show`).
    #[serde(default)]
    pub last_reply: BTreeMap<u32, SmtpReply>,
    /// Addresses an alias already delivered to, per recipient index: a
    /// retry does not send to them again.
    #[serde(default)]
    pub done: BTreeMap<u32, Vec<String>>,
    /// A delay notice was sent.
    #[serde(default)]
    pub delay_notified: bool,
    /// The last relay tried, for logs.
    #[serde(default)]
    pub relay: String,
    /// Held by the postmaster (`smxctl queue hold`): not tried until
    /// released, also after a restart.
    #[serde(default)]
    pub held: bool,
    /// Failed recipients not yet reported to the sender, kept to be
    /// merged into one bounce (`DSN_handling { merge_delay_max }`):
    /// `(index, address, reply, relay)`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unreported: Vec<(u32, String, SmtpReply, String)>,
    /// When the first of `unreported` failed, microseconds since the epoch.
    #[serde(default)]
    pub unreported_since: u64,
}

/// What [`Defedb::open`] or [`Defedb::read`] found.
#[derive(Debug, Default)]
pub struct Loaded {
    /// The entries, by id.
    pub entries: Vec<Deferred>,
    /// What could not be read: old-format entries that did not parse
    /// (moved to `corrupt/`), and log bytes after a torn or corrupt record
    /// (copied to `corrupt/`). [`Defedb::read`] names the files as they
    /// are, moving nothing.
    pub corrupt: Vec<PathBuf>,
}

/// A record of the log, as written.
#[derive(Serialize)]
#[serde(rename_all = "snake_case")]
enum RecordRef<'a> {
    Put(&'a Deferred),
    Del { id: QueueId },
    SnapshotEnd,
}

/// A record of the log, as read.
#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum Record {
    Put(Box<Deferred>),
    Del { id: QueueId },
    SnapshotEnd,
}

/// Appends the framed record to `out`.
fn encode(rec: &RecordRef<'_>, out: &mut Vec<u8>) -> io::Result<()> {
    let start = out.len();
    out.extend_from_slice(&[0; FRAME_HEADER]);
    serde_json::to_writer(&mut *out, rec).map_err(io::Error::other)?;
    let payload = &out[start + FRAME_HEADER..];
    let too_large = || io::Error::other("DEFEDB entry larger than 64 MiB");
    if payload.len() > MAX_PAYLOAD {
        return Err(too_large());
    }
    let len = u32::try_from(payload.len()).map_err(|_| too_large())?;
    let crc = crc32(payload);
    out[start..start + 4].copy_from_slice(&len.to_le_bytes());
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
    Ok(())
}

/// The deferred envelope database: a handle to share between threads.
#[derive(Debug, Clone)]
pub struct Defedb {
    inner: Arc<Inner>,
    /// To the writer thread (which ends when the last handle is dropped).
    jobs: mpsc::Sender<Job>,
}

/// One update for the writer thread, and where its outcome goes.
struct Job {
    id: QueueId,
    /// The encoded record.
    rec: Vec<u8>,
    /// A put (else a removal).
    put: bool,
    done: oneshot::Sender<io::Result<()>>,
}

#[derive(Debug)]
struct Inner {
    log_dir: PathBuf,
    state: Mutex<State>,
    slack: u64,
    /// fdatasyncs of the log run by updates (for tests and benchmarks).
    syncs: AtomicU64,
    /// Tests: the next fdatasync fails.
    #[cfg(test)]
    fail_sync: std::sync::atomic::AtomicBool,
    /// Tests: each fdatasync takes this much longer (milliseconds).
    #[cfg(test)]
    slow_sync: AtomicU64,
}

#[derive(Debug)]
struct State {
    /// The current log file, and its number.
    file: Arc<File>,
    seq: u64,
    /// Its length: where the next record goes.
    len: u64,
    /// Where each entry's latest record is in it: offset, frame length.
    live: HashMap<QueueId, (u64, u32)>,
    /// The sum of those frame lengths.
    live_bytes: u64,
    /// A write or an fdatasync failed: the file may end in a partial record
    /// or have lost written pages, so the next update starts a new file.
    damaged: bool,
}

fn log_path(dir: &Path, seq: u64) -> PathBuf {
    dir.join(format!("{LOG_PREFIX}{seq:016X}"))
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

fn create_dir(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

/// The log files in `dir` by number, newest first.
fn log_files(dir: &Path) -> io::Result<Vec<(u64, PathBuf)>> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(hex) = name.to_str().and_then(|n| n.strip_prefix(LOG_PREFIX)) else {
            continue;
        };
        if hex.len() == 16 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            if let Ok(seq) = u64::from_str_radix(hex, 16) {
                out.push((seq, entry.path()));
            }
        }
    }
    out.sort_by_key(|(seq, _)| std::cmp::Reverse(*seq));
    Ok(out)
}

/// What the log of one file says.
struct Replayed {
    entries: HashMap<QueueId, Deferred>,
    /// The snapshot ended (`snapshot_end` was read).
    complete: bool,
    /// Where the records stopped being readable, and why.
    bad_at: Option<(usize, &'static str)>,
}

fn replay_file(data: &[u8]) -> Replayed {
    let mut out = Replayed {
        entries: HashMap::new(),
        complete: false,
        bad_at: None,
    };
    let mut at = MAGIC.len();
    loop {
        let rest = data.get(at..).unwrap_or_default();
        match frame(rest) {
            Ok(None) => break,
            Err(why) => {
                out.bad_at = Some((at, why));
                break;
            }
            Ok(Some((payload, took))) => {
                match serde_json::from_slice::<Record>(payload) {
                    Ok(Record::Put(d)) => {
                        out.entries.insert(d.ta.id, *d);
                    }
                    Ok(Record::Del { id }) => {
                        out.entries.remove(&id);
                    }
                    Ok(Record::SnapshotEnd) => out.complete = true,
                    Err(_) => {
                        out.bad_at = Some((at, "record does not parse"));
                        break;
                    }
                }
                at += took;
            }
        }
    }
    out
}

/// Everything found on disk at open.
struct Found {
    entries: HashMap<QueueId, Deferred>,
    corrupt: Vec<PathBuf>,
    /// Every log file there (all are replaced by the new one).
    logs: Vec<PathBuf>,
    next_seq: u64,
    /// Old-format entry files taken in (removed once the log has them).
    legacy: Vec<PathBuf>,
}

/// Reads DEFEDB. With `repair`, torn temp files of the old format are
/// removed, and what cannot be read is moved or copied to `corrupt/`.
fn find(base: &Path, log_dir: &Path, repair: bool) -> io::Result<Found> {
    let logs = log_files(log_dir)?;
    let mut found = Found {
        entries: HashMap::new(),
        corrupt: Vec::new(),
        logs: logs.iter().map(|(_, p)| p.clone()).collect(),
        next_seq: logs.first().map_or(1, |(seq, _)| seq + 1),
        legacy: Vec::new(),
    };
    // The newest file with a complete snapshot; newer ones are compactions
    // a crash interrupted. With none complete (a damaged snapshot), the
    // newest file, for what it holds.
    let mut chosen: Option<(u64, PathBuf, Vec<u8>, Replayed)> = None;
    for (seq, path) in &logs {
        let data = fs::read(path)?;
        if !data.starts_with(MAGIC) {
            if data.len() < MAGIC.len() && MAGIC.starts_with(&data) {
                continue; // created, nothing written yet
            }
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: not a DEFEDB log (bad magic)", path.display()),
            ));
        }
        let replayed = replay_file(&data);
        let complete = replayed.complete;
        if chosen.is_none() || complete {
            chosen = Some((*seq, path.clone(), data, replayed));
        }
        if complete {
            break;
        }
    }
    if let Some((seq, path, data, replayed)) = chosen {
        if let Some((at, _why)) = replayed.bad_at {
            if repair {
                let dir = base.join("corrupt");
                create_dir(&dir)?;
                let to = dir.join(format!("{LOG_PREFIX}{seq:016X}.from-{at}"));
                fs::write(&to, data.get(at..).unwrap_or_default())?;
                found.corrupt.push(to);
            } else {
                found.corrupt.push(path);
            }
        }
        found.entries = replayed.entries;
    }
    read_legacy(base, repair, &mut found)?;
    Ok(found)
}

/// Takes in the entries of the old format (one JSON file per entry).
fn read_legacy(base: &Path, repair: bool, found: &mut Found) -> io::Result<()> {
    for entry in fs::read_dir(base)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let path = entry.path();
        if name.starts_with('.') && name.ends_with(".tmp") {
            if repair {
                fs::remove_file(&path)?;
            }
            continue;
        }
        if name.parse::<QueueId>().is_err() || !entry.file_type()?.is_file() {
            continue;
        }
        match fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice::<Deferred>(&b).ok())
        {
            Some(d) => {
                // The log is newer: an entry in both was taken in by an
                // open that crashed before removing the file.
                found.entries.entry(d.ta.id).or_insert(d);
                found.legacy.push(path);
            }
            None if repair => {
                let corrupt = base.join("corrupt");
                create_dir(&corrupt)?;
                let to = corrupt.join(name);
                fs::rename(&path, &to)?;
                found.corrupt.push(to);
            }
            None => found.corrupt.push(path),
        }
    }
    Ok(())
}

fn sorted(entries: HashMap<QueueId, Deferred>) -> Vec<Deferred> {
    let mut v: Vec<Deferred> = entries.into_values().collect();
    v.sort_by_key(|d| d.ta.id);
    v
}

fn create_log(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
}

impl Defedb {
    /// Opens DEFEDB: entries of the old format in `base` (created, mode
    /// 0700), the log in `log_dir` (likewise; may be the same directory).
    /// Reads every entry, writes them to a new log file and removes the
    /// old files.
    pub fn open(base: &Path, log_dir: &Path) -> io::Result<(Defedb, Loaded)> {
        Defedb::open_with_slack(base, log_dir, COMPACT_SLACK)
    }

    fn open_with_slack(base: &Path, log_dir: &Path, slack: u64) -> io::Result<(Defedb, Loaded)> {
        create_dir(base)?;
        create_dir(log_dir)?;
        let found = find(base, log_dir, true)?;
        let seq = found.next_seq;
        let path = log_path(log_dir, seq);
        let entries = sorted(found.entries);
        let mut buf = Vec::with_capacity(MAGIC.len() + entries.len() * 1024);
        buf.extend_from_slice(MAGIC);
        let mut live = HashMap::with_capacity(entries.len());
        let mut live_bytes = 0u64;
        for d in &entries {
            let at = buf.len();
            encode(&RecordRef::Put(d), &mut buf)?;
            let len = (buf.len() - at) as u32;
            live.insert(d.ta.id, (at as u64, len));
            live_bytes += u64::from(len);
        }
        encode(&RecordRef::SnapshotEnd, &mut buf)?;
        let file = create_log(&path)?;
        file.write_all_at(&buf, 0)?;
        file.sync_data()?;
        sync_dir(log_dir)?;
        // The new log has everything: the old files can go. Their removal
        // must be durable before any update, or an old-format file could
        // bring back an entry removed later.
        for old in found.logs.iter().chain(&found.legacy) {
            fs::remove_file(old)?;
        }
        sync_dir(log_dir)?;
        if base != log_dir {
            sync_dir(base)?;
        }
        let (jobs, queued) = mpsc::channel();
        let db = Defedb {
            inner: Arc::new(Inner {
                log_dir: log_dir.to_path_buf(),
                state: Mutex::new(State {
                    file: Arc::new(file),
                    seq,
                    len: buf.len() as u64,
                    live,
                    live_bytes,
                    damaged: false,
                }),
                slack,
                syncs: AtomicU64::new(0),
                #[cfg(test)]
                fail_sync: Default::default(),
                #[cfg(test)]
                slow_sync: AtomicU64::new(0),
            }),
            jobs,
        };
        let inner = db.inner.clone();
        std::thread::Builder::new()
            .name("defedb-writer".into())
            .spawn(move || inner.write_jobs(&queued))?;
        Ok((
            db,
            Loaded {
                entries,
                corrupt: found.corrupt,
            },
        ))
    }

    /// Reads DEFEDB without changing anything (for tools and tests; the
    /// QMGR uses [`Defedb::open`]).
    pub fn read(base: &Path, log_dir: &Path) -> io::Result<Loaded> {
        let found = find(base, log_dir, false)?;
        Ok(Loaded {
            entries: sorted(found.entries),
            corrupt: found.corrupt,
        })
    }

    /// Writes (or replaces) the entry durably: when this returns `Ok`, the
    /// entry survives a crash. Waits on the calling thread; the QMGR uses
    /// [`Defedb::put_async`].
    pub fn put(&self, d: &Deferred) -> io::Result<()> {
        self.submit_put(d)?
            .blocking_recv()
            .unwrap_or_else(|_| Err(gone()))
    }

    /// [`Defedb::put`] for async callers: the writer thread does the work.
    pub async fn put_async(&self, d: &Deferred) -> io::Result<()> {
        self.submit_put(d)?.await.unwrap_or_else(|_| Err(gone()))
    }

    /// Removes the entry durably (absent is fine).
    pub fn remove(&self, id: QueueId) -> io::Result<()> {
        match self.submit_remove(id)? {
            Some(rx) => rx.blocking_recv().unwrap_or_else(|_| Err(gone())),
            None => Ok(()),
        }
    }

    /// [`Defedb::remove`] for async callers.
    pub async fn remove_async(&self, id: QueueId) -> io::Result<()> {
        match self.submit_remove(id)? {
            Some(rx) => rx.await.unwrap_or_else(|_| Err(gone())),
            None => Ok(()),
        }
    }

    /// Whether an entry exists for `id`.
    pub fn contains(&self, id: QueueId) -> bool {
        self.inner.lock().live.contains_key(&id)
    }

    /// How many fdatasyncs of the log updates have run so far.
    pub fn syncs(&self) -> u64 {
        self.inner.syncs.load(Ordering::Relaxed)
    }

    fn submit_put(&self, d: &Deferred) -> io::Result<oneshot::Receiver<io::Result<()>>> {
        let mut rec = Vec::with_capacity(1024);
        encode(&RecordRef::Put(d), &mut rec)?;
        self.submit(d.ta.id, rec, true)
    }

    /// `None` when there is no entry to remove.
    fn submit_remove(&self, id: QueueId) -> io::Result<Option<oneshot::Receiver<io::Result<()>>>> {
        if !self.contains(id) {
            return Ok(None);
        }
        let mut rec = Vec::with_capacity(64);
        encode(&RecordRef::Del { id }, &mut rec)?;
        self.submit(id, rec, false).map(Some)
    }

    fn submit(
        &self,
        id: QueueId,
        rec: Vec<u8>,
        put: bool,
    ) -> io::Result<oneshot::Receiver<io::Result<()>>> {
        let (done, rx) = oneshot::channel();
        self.jobs
            .send(Job { id, rec, put, done })
            .map_err(|_| gone())?;
        Ok(rx)
    }
}

/// The writer thread has ended (it never does while a handle exists,
/// unless it panicked).
fn gone() -> io::Error {
    io::Error::other("DEFEDB: the log writer has stopped")
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The writer thread: takes every update that is waiting (up to
    /// [`MAX_BATCH`]; under load, those that come within [`GATHER`] too),
    /// appends them, runs one fdatasync for all, answers them, and starts
    /// over; ends when every [`Defedb`] is gone.
    fn write_jobs(&self, queued: &mpsc::Receiver<Job>) {
        let mut batch = Vec::new();
        let mut last = 0;
        while let Ok(first) = queued.recv() {
            batch.push(first);
            let gather = if last > 1 { GATHER } else { Duration::ZERO };
            let deadline = std::time::Instant::now() + gather;
            while batch.len() < MAX_BATCH {
                match crate::queue::recv_by(queued, deadline) {
                    Some(job) => batch.push(job),
                    None => break,
                }
            }
            last = batch.len();
            let mut written = Vec::with_capacity(batch.len());
            for job in batch.drain(..) {
                match self.append(job.id, &job.rec, job.put) {
                    Ok(()) => written.push(job.done),
                    Err(e) => {
                        let _ = job.done.send(Err(e));
                    }
                }
            }
            if written.is_empty() {
                continue;
            }
            let result = self.sync();
            for done in written {
                let r = match &result {
                    Ok(()) => Ok(()),
                    Err(e) => Err(io::Error::new(e.kind(), format!("fdatasync: {e}"))),
                };
                let _ = done.send(r);
            }
        }
    }

    /// Appends `rec` (a put of `id` if `put`, else its removal) to the log,
    /// compacting before if the file is damaged and after if it is due.
    fn append(&self, id: QueueId, rec: &[u8], put: bool) -> io::Result<()> {
        let mut st = self.lock();
        if st.damaged {
            self.compact(&mut st)?;
        }
        let at = st.len;
        if let Err(e) = st.file.write_all_at(rec, at) {
            // Cut a partial record, or start a new file next time.
            if st.file.set_len(at).is_err() {
                st.damaged = true;
            }
            return Err(e);
        }
        let len = rec.len() as u32;
        st.len += u64::from(len);
        let old = if put {
            st.live.insert(id, (at, len))
        } else {
            st.live.remove(&id)
        };
        if let Some((_, old_len)) = old {
            st.live_bytes -= u64::from(old_len);
        }
        if put {
            st.live_bytes += u64::from(len);
        }
        if st.len > 2 * st.live_bytes + self.slack {
            // The record is written; a failed compaction leaves the old
            // file in use and is tried again at the next update.
            let _ = self.compact(&mut st);
        }
        Ok(())
    }

    /// One fdatasync of the log, covering every record appended before.
    fn sync(&self) -> io::Result<()> {
        let file = self.lock().file.clone();
        self.syncs.fetch_add(1, Ordering::Relaxed);
        let result = self.sync_data(&file);
        if result.is_err() {
            // Written pages may be lost: rewrite them into a new file.
            self.lock().damaged = true;
        }
        result
    }

    #[cfg(not(test))]
    fn sync_data(&self, file: &File) -> io::Result<()> {
        file.sync_data()
    }

    #[cfg(test)]
    fn sync_data(&self, file: &File) -> io::Result<()> {
        let slow = self.slow_sync.load(Ordering::SeqCst);
        if slow > 0 {
            std::thread::sleep(Duration::from_millis(slow));
        }
        if self.fail_sync.swap(false, Ordering::SeqCst) {
            return Err(io::Error::other("EIO (test)"));
        }
        file.sync_data()
    }

    /// Writes the live records to a new log file, makes it durable, and
    /// removes the old one.
    fn compact(&self, st: &mut State) -> io::Result<()> {
        let seq = st.seq + 1;
        let path = log_path(&self.log_dir, seq);
        match self.write_snapshot(st, &path) {
            Ok((file, live, len)) => {
                let old = log_path(&self.log_dir, st.seq);
                st.file = Arc::new(file);
                st.seq = seq;
                st.len = len;
                st.live = live;
                st.damaged = false;
                // If the removal is lost, recovery still takes the newer
                // file.
                let _ = fs::remove_file(old);
                Ok(())
            }
            Err(e) => {
                let _ = fs::remove_file(&path);
                Err(e)
            }
        }
    }

    #[allow(clippy::type_complexity)]
    fn write_snapshot(
        &self,
        st: &State,
        path: &Path,
    ) -> io::Result<(File, HashMap<QueueId, (u64, u32)>, u64)> {
        let file = create_log(path)?;
        let mut order: Vec<(u64, u32, QueueId)> = st
            .live
            .iter()
            .map(|(id, &(at, len))| (at, len, *id))
            .collect();
        order.sort_unstable();
        let mut live = HashMap::with_capacity(order.len());
        let mut buf = Vec::with_capacity(WRITE_CHUNK + 4096);
        buf.extend_from_slice(MAGIC);
        let mut written = 0u64;
        let mut rec = Vec::new();
        for (at, len, id) in order {
            rec.resize(len as usize, 0);
            st.file.read_exact_at(&mut rec, at)?;
            if !matches!(frame(&rec), Ok(Some((_, took))) if took == rec.len()) {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("DEFEDB: the record of {id} does not read back"),
                ));
            }
            live.insert(id, (written + buf.len() as u64, len));
            buf.extend_from_slice(&rec);
            if buf.len() >= WRITE_CHUNK {
                file.write_all_at(&buf, written)?;
                written += buf.len() as u64;
                buf.clear();
            }
        }
        encode(&RecordRef::SnapshotEnd, &mut buf)?;
        file.write_all_at(&buf, written)?;
        written += buf.len() as u64;
        file.sync_data()?;
        sync_dir(&self.log_dir)?;
        Ok((file, live, written))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::queue::ibdb::record::{RcptStatus, Recipient};

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("smx-defedb-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        d
    }

    fn entry(id: u64) -> Deferred {
        let mut r = Recipient::new("b@example.org");
        r.status = RcptStatus::Deferred;
        Deferred {
            ta: Transaction {
                id: QueueId::from_u64(id),
                sender: "a@example.com".into(),
                sender_params: String::new(),
                recipients: vec![r, Recipient::new("c@example.org")],
                size: 10,
                received_at: 1,
            },
            tries: 1,
            next_try: 42,
            last_reply: BTreeMap::from([(0, SmtpReply::new(451, "4.3.0", "later"))]),
            done: BTreeMap::new(),
            delay_notified: false,
            relay: "mx[192.0.2.1]:25".into(),
            held: false,
            unreported: Vec::new(),
            unreported_since: 0,
        }
    }

    fn logs(d: &Path) -> Vec<PathBuf> {
        log_files(d).unwrap().into_iter().map(|(_, p)| p).collect()
    }

    #[test]
    fn put_replace_remove_and_reopen() {
        let d = dir("a");
        let (db, loaded) = Defedb::open(&d, &d).unwrap();
        assert!(loaded.entries.is_empty());
        db.put(&entry(7)).unwrap();
        db.put(&entry(3)).unwrap();
        let mut e = entry(7);
        e.tries = 2;
        db.put(&e).unwrap();
        assert!(db.contains(QueueId::from_u64(3)));
        drop(db);
        assert_eq!(Defedb::read(&d, &d).unwrap().entries.len(), 2);
        let (db, loaded) = Defedb::open(&d, &d).unwrap();
        assert_eq!(loaded.entries.len(), 2);
        assert_eq!(loaded.entries[0].ta.id, QueueId::from_u64(3));
        assert_eq!(loaded.entries[1], e);
        db.remove(QueueId::from_u64(3)).unwrap();
        db.remove(QueueId::from_u64(3)).unwrap();
        assert!(!db.contains(QueueId::from_u64(3)));
        let (_, loaded) = Defedb::open(&d, &d).unwrap();
        assert_eq!(loaded.entries, vec![e]);
        assert_eq!(logs(&d).len(), 1, "each open leaves one log file");
        fs::remove_dir_all(&d).unwrap();
    }

    /// The log may live in a directory of its own (`log_directory`).
    #[test]
    fn the_log_in_another_directory() {
        let base = dir("base");
        let log = dir("log");
        let (db, _) = Defedb::open(&base, &log).unwrap();
        db.put(&entry(1)).unwrap();
        assert_eq!(logs(&log).len(), 1);
        assert!(logs(&base).is_empty());
        let (_, loaded) = Defedb::open(&base, &log).unwrap();
        assert_eq!(loaded.entries, vec![entry(1)]);
        fs::remove_dir_all(&base).unwrap();
        fs::remove_dir_all(&log).unwrap();
    }

    /// Entries of the old format (one file each) are taken into the log;
    /// torn temp files are dropped, and entries that do not parse are
    /// kept aside.
    #[test]
    fn old_format_entries_are_taken_in() {
        let d = dir("b");
        fs::create_dir_all(&d).unwrap();
        let id = |n| QueueId::from_u64(n).to_string();
        fs::write(d.join(id(1)), serde_json::to_vec(&entry(1)).unwrap()).unwrap();
        fs::write(d.join(format!(".{}.tmp", id(1))), b"{\"ta\":").unwrap();
        fs::write(d.join(id(2)), b"garbage").unwrap();
        assert_eq!(Defedb::read(&d, &d).unwrap().corrupt, vec![d.join(id(2))]);
        let (_, loaded) = Defedb::open(&d, &d).unwrap();
        assert_eq!(loaded.entries, vec![entry(1)]);
        assert_eq!(loaded.corrupt, vec![d.join("corrupt").join(id(2))]);
        assert!(!d.join(id(1)).exists() && !d.join(format!(".{}.tmp", id(1))).exists());
        let (_, loaded) = Defedb::open(&d, &d).unwrap();
        assert_eq!(loaded.entries, vec![entry(1)], "now from the log");
        assert!(loaded.corrupt.is_empty());
        fs::remove_dir_all(&d).unwrap();
    }

    /// A torn record at the end of the log (power loss during a write):
    /// everything before it is recovered, its bytes are kept aside.
    #[test]
    fn a_torn_tail_is_cut_and_kept_aside() {
        let d = dir("c");
        let (db, _) = Defedb::open(&d, &d).unwrap();
        for n in 1..=3 {
            db.put(&entry(n)).unwrap();
        }
        drop(db);
        let log = logs(&d).remove(0);
        let mut rec = Vec::new();
        encode(&RecordRef::Put(&entry(4)), &mut rec).unwrap();
        let mut data = fs::read(&log).unwrap();
        data.extend_from_slice(&rec[..rec.len() / 2]);
        fs::write(&log, &data).unwrap();
        let (_, loaded) = Defedb::open(&d, &d).unwrap();
        assert_eq!(loaded.entries.len(), 3);
        assert_eq!(loaded.corrupt.len(), 1);
        assert_eq!(fs::read(&loaded.corrupt[0]).unwrap(), &rec[..rec.len() / 2]);
        fs::remove_dir_all(&d).unwrap();
    }

    /// A crash during a compaction leaves a newer file whose snapshot is
    /// not complete: the older file, which holds everything, is used.
    #[test]
    fn an_interrupted_compaction_is_ignored() {
        let d = dir("e");
        let (db, _) = Defedb::open(&d, &d).unwrap();
        db.put(&entry(1)).unwrap();
        db.put(&entry(2)).unwrap();
        db.remove(QueueId::from_u64(1)).unwrap();
        let seq = db.inner.lock().seq;
        drop(db);
        let mut partial = MAGIC.to_vec();
        encode(&RecordRef::Put(&entry(1)), &mut partial).unwrap();
        fs::write(log_path(&d, seq + 1), &partial).unwrap();
        fs::write(log_path(&d, seq + 2), &MAGIC[..3]).unwrap();
        let (_, loaded) = Defedb::open(&d, &d).unwrap();
        assert_eq!(loaded.entries, vec![entry(2)]);
        assert!(loaded.corrupt.is_empty());
        assert_eq!(logs(&d).len(), 1);
        fs::remove_dir_all(&d).unwrap();
    }

    /// Under a stream of updates the log is compacted and stays small,
    /// and what it holds is still right.
    #[test]
    fn the_log_is_compacted() {
        let d = dir("f");
        let (db, _) = Defedb::open_with_slack(&d, &d, 4096).unwrap();
        let first = db.inner.lock().seq;
        for round in 0..50u32 {
            for n in 1..=10 {
                let mut e = entry(n);
                e.tries = round;
                db.put(&e).unwrap();
            }
            db.remove(QueueId::from_u64(1)).unwrap();
        }
        let st = db.inner.lock();
        assert!(st.seq > first, "compacted");
        assert!(st.len < 2 * st.live_bytes + 4096 + 2048);
        drop(st);
        assert_eq!(logs(&d).len(), 1);
        drop(db);
        let loaded = Defedb::read(&d, &d).unwrap();
        assert_eq!(loaded.entries.len(), 9);
        assert!(loaded.entries.iter().all(|e| e.tries == 49));
        fs::remove_dir_all(&d).unwrap();
    }

    /// Updates from many threads at once all land.
    #[test]
    fn concurrent_updates_all_land() {
        let d = dir("g");
        let (db, _) = Defedb::open_with_slack(&d, &d, 8192).unwrap();
        let threads: Vec<_> = (0..16u64)
            .map(|t| {
                let db = db.clone();
                std::thread::spawn(move || {
                    for n in 0..8 {
                        db.put(&entry(1 + t * 8 + n)).unwrap();
                    }
                    db.remove(QueueId::from_u64(1 + t * 8)).unwrap();
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let (_, loaded) = Defedb::open(&d, &d).unwrap();
        assert_eq!(loaded.entries.len(), 16 * 7);
        fs::remove_dir_all(&d).unwrap();
    }

    /// A failed fdatasync is the error of the updates it was for, not of
    /// those after it; the next update starts a new log file, which still
    /// holds every entry.
    #[test]
    fn a_failed_sync_fails_only_its_own_callers() {
        let d = dir("h");
        let (db, _) = Defedb::open(&d, &d).unwrap();
        db.put(&entry(1)).unwrap();
        let before = logs(&d);
        db.inner.fail_sync.store(true, Ordering::SeqCst);
        assert!(db.put(&entry(2)).is_err());
        db.put(&entry(3)).unwrap();
        assert_ne!(logs(&d), before, "a new log file after the failure");
        drop(db);
        let (_, loaded) = Defedb::open(&d, &d).unwrap();
        let ids: Vec<u64> = loaded.entries.iter().map(|e| e.ta.id.as_u64()).collect();
        assert_eq!(ids, [1, 2, 3]);
        fs::remove_dir_all(&d).unwrap();
    }

    /// Updates that arrive while an fdatasync runs share the next one: 16
    /// threads released together (each fdatasync taking 50 ms more here)
    /// are covered by fewer than 16.
    #[test]
    fn concurrent_callers_share_fsyncs() {
        let d = dir("i");
        let (db, _) = Defedb::open(&d, &d).unwrap();
        db.inner.slow_sync.store(50, Ordering::SeqCst);
        let gate = Arc::new(std::sync::Barrier::new(16));
        let threads: Vec<_> = (0..16u64)
            .map(|t| {
                let (db, gate) = (db.clone(), gate.clone());
                std::thread::spawn(move || {
                    gate.wait();
                    db.put(&entry(1 + t)).unwrap();
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert!(db.syncs() < 16, "{} fdatasyncs", db.syncs());
        fs::remove_dir_all(&d).unwrap();
    }

    /// The async calls do what the blocking ones do.
    #[tokio::test]
    async fn async_updates() {
        let d = dir("j");
        let (db, _) = Defedb::open(&d, &d).unwrap();
        db.put_async(&entry(1)).await.unwrap();
        db.put_async(&entry(2)).await.unwrap();
        db.remove_async(QueueId::from_u64(1)).await.unwrap();
        db.remove_async(QueueId::from_u64(7)).await.unwrap();
        assert!(db.contains(QueueId::from_u64(2)) && !db.contains(QueueId::from_u64(1)));
        drop(db);
        let (_, loaded) = Defedb::open(&d, &d).unwrap();
        assert_eq!(loaded.entries.len(), 1);
        fs::remove_dir_all(&d).unwrap();
    }
}

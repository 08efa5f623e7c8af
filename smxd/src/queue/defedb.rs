//! DEFEDB, the deferred envelope database (README §1.1.1, §3.8 item 4;
//! DESIGN.md "Storage"): the envelopes of messages whose delivery failed
//! temporarily for at least one recipient, with the time of the next try.
//!
//! Decision: one file per deferred transaction, `defedb/<ID>`, holding the
//! envelope as JSON (the same [`Transaction`] as IBDB, recipient statuses
//! included) plus the retry state. An update writes `defedb/.<ID>.tmp`,
//! fsyncs it, renames it over `defedb/<ID>` and fsyncs the directory, so a
//! crash leaves either the old or the new entry, never a torn one; stale
//! `.tmp` files are removed at open. The seed's choice, a transactional
//! Berkeley DB environment, buys nothing here: entries are written only
//! after a delivery attempt (not on the accept path), each entry is
//! independent, and the rename protocol gives the same atomicity with one
//! file fsync and one directory fsync per update. The figures are in
//! `docs/PERFORMANCE.md` ("DEFEDB").
//!
//! An entry that does not parse (a disk error) is moved to
//! `defedb/corrupt/` and reported at open, never silently dropped.

use crate::proto::SmtpReply;
use crate::queue::ibdb::record::Transaction;
use crate::queue::id::QueueId;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};

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

/// What [`Defedb::open`] found.
#[derive(Debug, Default)]
pub struct Loaded {
    /// The entries, by id.
    pub entries: Vec<Deferred>,
    /// Entries that did not parse, moved to `corrupt/`.
    pub corrupt: Vec<PathBuf>,
}

/// The deferred envelope database in one directory.
#[derive(Debug, Clone)]
pub struct Defedb {
    dir: PathBuf,
    dir_sync: Arc<DirSync>,
}

/// The fsync of the DEFEDB directory, shared by concurrent updates (a
/// group commit): an update needs a directory fsync that *started* after
/// its rename or unlink. If one is running, it waits for it to end; then
/// either a later fsync (run by another update meanwhile) already covers
/// it, or it runs one itself, which covers every update that waited with
/// it. Under load many entries share one directory fsync instead of one
/// each; alone, an update pays one, as before.
#[derive(Debug)]
struct DirSync {
    dir: PathBuf,
    state: Mutex<SyncState>,
    ended: Condvar,
}

#[derive(Debug, Default)]
struct SyncState {
    /// Number of the last fsync started (from 1).
    started: u64,
    /// Number of the last fsync ended.
    ended: u64,
    /// An fsync is running.
    running: bool,
    /// Number and error of the last fsync that failed.
    failed: Option<(u64, String)>,
}

impl DirSync {
    fn new(dir: &Path) -> DirSync {
        DirSync {
            dir: dir.to_path_buf(),
            state: Mutex::new(SyncState::default()),
            ended: Condvar::new(),
        }
    }

    /// Returns once a directory fsync that started after the call has
    /// ended; its error (or that of any later one) is the caller's.
    fn sync(&self) -> io::Result<()> {
        let poisoned = |_| io::Error::other("DEFEDB directory sync: lock poisoned");
        let mut st = self.state.lock().map_err(poisoned)?;
        let need = st.started + 1;
        while st.running && st.ended < need {
            st = self.ended.wait(st).map_err(poisoned)?;
        }
        if st.ended < need {
            st.started += 1;
            st.running = true;
            let mine = st.started;
            drop(st);
            let result = File::open(&self.dir).and_then(|f| f.sync_all());
            st = self.state.lock().map_err(poisoned)?;
            st.running = false;
            st.ended = mine;
            if let Err(e) = &result {
                st.failed = Some((mine, e.to_string()));
            }
            self.ended.notify_all();
        }
        match &st.failed {
            Some((n, e)) if *n >= need => Err(io::Error::other(e.clone())),
            _ => Ok(()),
        }
    }
}

impl Defedb {
    /// Opens (creating, mode 0700) `dir` and reads every entry.
    pub fn open(dir: &Path) -> io::Result<(Defedb, Loaded)> {
        use std::os::unix::fs::DirBuilderExt;
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
        let db = Defedb {
            dir: dir.to_path_buf(),
            dir_sync: Arc::new(DirSync::new(dir)),
        };
        let mut loaded = Loaded::default();
        for entry in fs::read_dir(dir)? {
            let entry = entry?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            let path = entry.path();
            if name.starts_with('.') && name.ends_with(".tmp") {
                fs::remove_file(&path)?;
                continue;
            }
            if name.parse::<QueueId>().is_err() || !entry.file_type()?.is_file() {
                continue;
            }
            match fs::read(&path)
                .ok()
                .and_then(|b| serde_json::from_slice::<Deferred>(&b).ok())
            {
                Some(d) => loaded.entries.push(d),
                None => {
                    let corrupt = dir.join("corrupt");
                    fs::create_dir_all(&corrupt)?;
                    let to = corrupt.join(name);
                    fs::rename(&path, &to)?;
                    loaded.corrupt.push(to);
                }
            }
        }
        loaded.entries.sort_by_key(|d| d.ta.id);
        Ok((db, loaded))
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, id: QueueId) -> PathBuf {
        self.dir.join(id.to_string())
    }

    /// Writes (or replaces) the entry durably: when this returns `Ok`, the
    /// entry survives a crash.
    pub fn put(&self, d: &Deferred) -> io::Result<()> {
        let id = d.ta.id;
        let tmp = self.dir.join(format!(".{id}.tmp"));
        let body = serde_json::to_vec(d).map_err(io::Error::other)?;
        {
            let mut f = OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&tmp)?;
            f.write_all(&body)?;
            f.sync_all()?;
        }
        fs::rename(&tmp, self.path(id))?;
        self.sync_dir()
    }

    /// Removes the entry durably (absent is fine).
    pub fn remove(&self, id: QueueId) -> io::Result<()> {
        match fs::remove_file(self.path(id)) {
            Ok(()) => self.sync_dir(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Whether an entry exists for `id`.
    pub fn contains(&self, id: QueueId) -> bool {
        self.path(id).is_file()
    }

    fn sync_dir(&self) -> io::Result<()> {
        self.dir_sync.sync()
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

    #[test]
    fn put_replace_remove_and_reopen() {
        let d = dir("a");
        let (db, loaded) = Defedb::open(&d).unwrap();
        assert!(loaded.entries.is_empty());
        db.put(&entry(7)).unwrap();
        db.put(&entry(3)).unwrap();
        let mut e = entry(7);
        e.tries = 2;
        db.put(&e).unwrap();
        let (db, loaded) = Defedb::open(&d).unwrap();
        assert_eq!(loaded.entries.len(), 2);
        assert_eq!(loaded.entries[0].ta.id, QueueId::from_u64(3));
        assert_eq!(loaded.entries[1], e);
        db.remove(QueueId::from_u64(3)).unwrap();
        db.remove(QueueId::from_u64(3)).unwrap();
        let (_, loaded) = Defedb::open(&d).unwrap();
        assert_eq!(loaded.entries.len(), 1);
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn torn_temp_files_are_dropped_and_corrupt_entries_kept_aside() {
        let d = dir("b");
        let (db, _) = Defedb::open(&d).unwrap();
        db.put(&entry(1)).unwrap();
        // A crash during an update of entry 1: the old entry stays.
        fs::write(
            d.join(format!(".{}.tmp", QueueId::from_u64(1))),
            b"{\"ta\":",
        )
        .unwrap();
        fs::write(d.join(QueueId::from_u64(2).to_string()), b"garbage").unwrap();
        let (_, loaded) = Defedb::open(&d).unwrap();
        assert_eq!(loaded.entries, vec![entry(1)]);
        assert_eq!(loaded.corrupt.len(), 1);
        assert!(d
            .join("corrupt")
            .join(QueueId::from_u64(2).to_string())
            .is_file());
        assert_eq!(fs::read_dir(&d).unwrap().count(), 2, "entry + corrupt/");
        fs::remove_dir_all(&d).unwrap();
    }

    /// Updates from many threads at once share directory fsyncs and all
    /// land.
    #[test]
    fn concurrent_updates_all_land() {
        let d = dir("c");
        let (db, _) = Defedb::open(&d).unwrap();
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
        let (_, loaded) = Defedb::open(&d).unwrap();
        assert_eq!(loaded.entries.len(), 16 * 7);
        fs::remove_dir_all(&d).unwrap();
    }

    /// A failed directory fsync is the error of the updates that needed
    /// it, not of those after it.
    #[test]
    fn a_failed_directory_sync_fails_only_its_own_callers() {
        let d = dir("d");
        let sync = DirSync::new(&d);
        assert!(sync.sync().is_err(), "no directory yet");
        fs::create_dir_all(&d).unwrap();
        sync.sync().unwrap();
        fs::remove_dir_all(&d).unwrap();
    }
}

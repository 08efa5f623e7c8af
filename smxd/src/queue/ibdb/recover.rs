//! Reading IBDB back at start: replay every file in order, keep what is
//! intact, cut away a torn tail.
//!
//! A crash can leave the last file with a partial record (the write that
//! was in flight when the process died; its waiters never got an answer,
//! so no `250` depended on it). Recovery stops reading a file at the first
//! record that is short or fails its CRC, truncates the file there (and
//! fsyncs it), and goes on with the next file, so everything before the
//! damage is recovered. A file shorter than the magic (killed while being
//! created) is removed. A file with a foreign magic is an error: it is not
//! ours to cut.

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, DirBuilder, OpenOptions};
use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use super::record::{decode, Decoded, Record, Transaction, MAGIC};
use crate::queue::id::QueueId;

/// Mode of the IBDB directory (§2.4.1: only the QMGR user).
pub const IBDB_DIR_MODE: u32 = 0o700;

/// What recovery found in one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoveredFile {
    /// Sequence number (the file name).
    pub seq: u64,
    /// Bytes kept.
    pub len: u64,
    /// Bytes cut off the tail (0 if the file was intact).
    pub cut: u64,
    /// Why the tail was cut.
    pub reason: Option<&'static str>,
}

/// The state IBDB describes: what the QMGR rebuilds its queues from.
#[derive(Debug, Clone, Default)]
pub struct Recovered {
    /// Transactions not yet done, in commit order, recipient statuses
    /// applied.
    pub transactions: Vec<Transaction>,
    /// Largest queue id in any record (for `IdGenerator::resume_after`).
    pub max_id: Option<QueueId>,
    /// The files read, in order.
    pub files: Vec<RecoveredFile>,
    /// Content files removed because no open transaction refers to them
    /// (filled by `Queue::open`).
    pub orphans_removed: Vec<QueueId>,
    /// Open transactions whose content file is missing (filled by
    /// `Queue::open`; kept, for the delivery side to bounce).
    pub missing_content: Vec<QueueId>,
    /// Deferred transactions read from DEFEDB (filled by `Queue::open`).
    pub deferred: Vec<crate::queue::defedb::Deferred>,
    /// DEFEDB entries that did not parse, moved aside (filled by
    /// `Queue::open`).
    pub deferred_corrupt: Vec<PathBuf>,
    /// Transactions found both open in IBDB and in DEFEDB (a crash between
    /// the two writes); the DEFEDB entry wins (filled by `Queue::open`).
    pub doubled: Vec<QueueId>,
    /// For the writer: the file each open transaction was opened in.
    pub(crate) opened_in: HashMap<QueueId, u64>,
}

impl Recovered {
    /// Total bytes cut off torn tails.
    pub fn truncated_bytes(&self) -> u64 {
        self.files.iter().map(|f| f.cut).sum()
    }
}

/// The name of IBDB file `seq`.
pub fn file_name(seq: u64) -> String {
    format!("{seq:08}")
}

/// IBDB files in `dir`, sorted by sequence number.
pub fn list_files(dir: &Path) -> io::Result<Vec<(u64, PathBuf)>> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.len() >= 8 && name.bytes().all(|b| b.is_ascii_digit()) {
            if let Ok(seq) = name.parse::<u64>() {
                files.push((seq, entry.path()));
            }
        }
    }
    files.sort();
    Ok(files)
}

/// Reads (and repairs) the IBDB in `dir`, making the directory if it is
/// missing.
pub fn recover(dir: &Path) -> io::Result<Recovered> {
    DirBuilder::new()
        .recursive(true)
        .mode(IBDB_DIR_MODE)
        .create(dir)?;
    let mut out = Recovered::default();
    // Open transactions by commit order: (file, index in file) is that order.
    let mut open: BTreeMap<(u64, usize), Transaction> = BTreeMap::new();
    let mut key_of: HashMap<QueueId, (u64, usize)> = HashMap::new();
    let mut changed_dir = false;
    for (seq, path) in list_files(dir)? {
        let data = fs::read(&path)?;
        if data.len() < MAGIC.len() && MAGIC.starts_with(&data) {
            fs::remove_file(&path)?;
            changed_dir = true;
            continue;
        }
        if !data.starts_with(MAGIC) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: not an IBDB file (bad magic)", path.display()),
            ));
        }
        let mut at = MAGIC.len();
        let mut n = 0usize;
        let mut reason = None;
        loop {
            match decode(&data[at..]) {
                Decoded::End => break,
                Decoded::Bad(why) => {
                    reason = Some(why);
                    break;
                }
                Decoded::Record(rec, used) => {
                    at += used;
                    n += 1;
                    out.max_id = out.max_id.max(Some(rec.id()));
                    apply(rec, (seq, n), &mut open, &mut key_of);
                }
            }
        }
        let cut = (data.len() - at) as u64;
        if cut > 0 {
            let f = OpenOptions::new().write(true).open(&path)?;
            f.set_len(at as u64)?;
            f.sync_all()?;
        }
        out.files.push(RecoveredFile {
            seq,
            len: at as u64,
            cut,
            reason,
        });
    }
    if changed_dir {
        fs::File::open(dir)?.sync_all()?;
    }
    out.opened_in = open.iter().map(|(k, ta)| (ta.id, k.0)).collect();
    out.transactions = open.into_values().collect();
    Ok(out)
}

fn apply(
    rec: Record,
    key: (u64, usize),
    open: &mut BTreeMap<(u64, usize), Transaction>,
    key_of: &mut HashMap<QueueId, (u64, usize)>,
) {
    match rec {
        Record::TaOpen(ta) => {
            // The writer refuses an id that is still open; should one turn
            // up anyway, the first commit wins.
            if let std::collections::hash_map::Entry::Vacant(e) = key_of.entry(ta.id) {
                e.insert(key);
                open.insert(key, ta);
            }
        }
        Record::RcptDone { id, index, status } => {
            let ta = key_of.get(&id).and_then(|k| open.get_mut(k));
            if let Some(r) = ta.and_then(|ta| ta.recipients.get_mut(index as usize)) {
                r.status = status;
            }
        }
        Record::TaDone { id } => {
            if let Some(k) = key_of.remove(&id) {
                open.remove(&k);
            }
        }
    }
}

//! CDB, the content database (README §1.1.1, §2.4.1): one file per
//! message, `BASE/X/ID`, where `X` is the hex digit [`QueueId::cdb_dir`]
//! spreads ids over (`0`..`F`) and `ID` the 16-digit queue id.
//!
//! The SMTP server writes the file once the message is complete
//! ([`Cdb::store`]) and then asks the QMGR to commit the transaction. The
//! file is durable before the commit record is, in one of two ways
//! (`CDB_sync`, [`CdbSync`]): `file`, the SMTP server fsyncs it and the
//! QMGR's IBDB writer fsyncs its directory once per batch; `filesystem`
//! (the default), the SMTP server only writes it and the IBDB writer makes
//! the whole batch's content durable with one syncfs(2) per filesystem
//! (see [`crate::queue::ibdb::writer`]). The QMGR removes the file once
//! every recipient is final, and at recovery removes every content file
//! that no committed transaction refers to.
//!
//! Decision: the file is written under its final name, not under a
//! temporary name renamed at the end. A content file means nothing until
//! IBDB holds a committed transaction for it, so a half-written file after
//! a crash is simply an orphan that recovery removes; a rename would cost
//! one more directory update per message for no added safety. The file is
//! created with `O_EXCL`, so an id that was somehow reused (see
//! [`crate::queue::id`]) fails instead of overwriting a queued message.
//!
//! Permissions (§2.4.1): directories 0771 (owner smxs, group smxq, so the
//! QMGR can remove files), files 0640 (group smxc, so the SMTP client can
//! read them). Ownership is set by the installer; the modes here are what
//! this code asks for (the umask may clear more). A content file gets the
//! group of the process that writes it, or `CDB_gid` (§3.10) when that is
//! set ([`Cdb::with_gid`]; [`may_give_to`] tells at start whether the
//! SMTP server may).

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

pub use smx_grammar::config::CdbSync;

use super::id::QueueId;

/// Mode of the 16 CDB directories (§2.4.1).
pub const CDB_DIR_MODE: u32 = 0o771;
/// Mode of a content file (§2.4.1).
pub const CDB_FILE_MODE: u32 = 0o640;
/// The subdirectories of CDB.
pub const CDB_DIRS: [&str; 16] = [
    "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "A", "B", "C", "D", "E", "F",
];

/// The content database under one base directory.
#[derive(Debug, Clone)]
pub struct Cdb {
    base: PathBuf,
    sync: CdbSync,
    gid: Option<u32>,
}

impl Cdb {
    /// CDB under `base` (the directories are made on first write), each
    /// content file fsynced by [`Cdb::store`] (`CDB_sync = file`).
    pub fn new(base: impl Into<PathBuf>) -> Cdb {
        Cdb {
            base: base.into(),
            sync: CdbSync::File,
            gid: None,
        }
    }

    /// The same CDB with each new content file given to group `gid`
    /// (`CDB_gid`); `None` leaves it with the writer's group.
    pub fn with_gid(self, gid: Option<u32>) -> Cdb {
        Cdb { gid, ..self }
    }

    /// The same CDB with `CDB_sync = sync`. With
    /// [`CdbSync::Filesystem`], [`Cdb::store`] leaves the file to the
    /// syncfs of the IBDB writer at the commit, whose request must say so
    /// (`synced` false; [`crate::queue::Queue::commit_content`]).
    pub fn with_sync(self, sync: CdbSync) -> Cdb {
        Cdb { sync, ..self }
    }

    /// Its `CDB_sync`.
    pub fn sync(&self) -> CdbSync {
        self.sync
    }

    /// The base directory.
    pub fn base(&self) -> &Path {
        &self.base
    }

    /// The path of the content file of `id`.
    pub fn path(&self, id: QueueId) -> PathBuf {
        self.base
            .join(id.cdb_dir().to_string())
            .join(id.to_string())
    }

    /// Makes the 16 subdirectories (and the base) if they are missing,
    /// mode [`CDB_DIR_MODE`] whatever the umask (the group writes there:
    /// an SMTP server running as another user of the QMGR's group).
    /// Existing ones are left as they are.
    pub fn create_dirs(&self) -> io::Result<()> {
        use std::os::unix::fs::PermissionsExt;
        for d in CDB_DIRS {
            let dir = self.base.join(d);
            if dir.exists() {
                continue;
            }
            DirBuilder::new()
                .recursive(true)
                .mode(CDB_DIR_MODE)
                .create(&dir)?;
            fs::set_permissions(&dir, fs::Permissions::from_mode(CDB_DIR_MODE))?;
        }
        Ok(())
    }

    /// Writes a whole message as the content file of `id`, and with
    /// `CDB_sync = file` fsyncs it, all in one blocking task: one hand-off
    /// to the blocking pool per message instead of one per create, write
    /// and fsync. Returns the size. Never the directory: the QMGR's commit
    /// has the IBDB writer make that durable, once per batch (see
    /// [`crate::queue::IbdbWriter::append_after_sync`]), and with
    /// `CDB_sync = filesystem` the file too.
    pub async fn store(&self, id: QueueId, content: Vec<u8>) -> io::Result<u64> {
        let dir = self.base.join(id.cdb_dir().to_string());
        let fsync = self.sync == CdbSync::File;
        let gid = self.gid;
        tokio::task::spawn_blocking(move || {
            use std::io::Write as _;
            let mut file = create_new(&dir, id)?;
            if let Some(gid) = gid {
                give_to(&file, gid)?;
            }
            file.write_all(&content)?;
            if fsync {
                file.sync_all()?;
            }
            Ok(content.len() as u64)
        })
        .await
        .map_err(io::Error::other)?
    }

    /// Opens the content file of `id` for reading.
    pub fn open(&self, id: QueueId) -> io::Result<File> {
        File::open(self.path(id))
    }

    /// Removes the content file of `id`; a missing file is not an error
    /// (recovery may run twice over the same crash).
    pub fn remove(&self, id: QueueId) -> io::Result<()> {
        match fs::remove_file(self.path(id)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// Moves content files that sit in another directory than their id
    /// says (written by a version of smx that spread them differently)
    /// to theirs, durably; returns how many were moved. Recovery runs it
    /// before [`Cdb::list`].
    pub fn relocate(&self) -> io::Result<usize> {
        let mut moved = 0;
        let mut touched = std::collections::BTreeSet::new();
        for (d, id) in self.stored()? {
            let want = id.cdb_dir().to_string();
            if want != d {
                fs::rename(self.base.join(d).join(id.to_string()), self.path(id))?;
                touched.insert(want);
                touched.insert(d.to_string());
                moved += 1;
            }
        }
        for d in touched {
            File::open(self.base.join(d))?.sync_all()?;
        }
        Ok(moved)
    }

    /// Every content file, sorted by id. Names that are not queue ids (or
    /// sit in the wrong directory) are skipped, never touched.
    pub fn list(&self) -> io::Result<Vec<QueueId>> {
        let mut ids: Vec<QueueId> = self
            .stored()?
            .into_iter()
            .filter(|(d, id)| id.cdb_dir().to_string() == *d)
            .map(|(_, id)| id)
            .collect();
        ids.sort();
        Ok(ids)
    }

    /// Every file named by a queue id in the 16 directories, with the
    /// directory it is in.
    fn stored(&self) -> io::Result<Vec<(&'static str, QueueId)>> {
        let mut found = Vec::new();
        for d in CDB_DIRS {
            let entries = match fs::read_dir(self.base.join(d)) {
                Ok(e) => e,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            for entry in entries {
                let name = entry?.file_name();
                if let Some(id) = name.to_str().and_then(|n| n.parse::<QueueId>().ok()) {
                    found.push((d, id));
                }
            }
        }
        Ok(found)
    }
}

/// Gives `file` to group `gid` (`CDB_gid`).
fn give_to(file: &File, gid: u32) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    nix::unistd::fchown(
        file.as_raw_fd(),
        None,
        Some(nix::unistd::Gid::from_raw(gid)),
    )
    .map_err(|e| {
        io::Error::new(
            io::Error::from(e).kind(),
            format!("CDB_gid {gid}: chown: {e}"),
        )
    })
}

/// Whether a process with effective ids `euid`/`egid` and supplementary
/// `groups` may give its files to group `gid` (chown(2): root may, others
/// only to a group they are in). The SMTP server checks `CDB_gid` with
/// this at start, so that a wrong one stops it at once (EX_CONFIG) rather
/// than refuse every message.
pub fn may_give_to(gid: u32, euid: u32, egid: u32, groups: &[u32]) -> bool {
    euid == 0 || egid == gid || groups.contains(&gid)
}

/// Creates `dir/ID` (mode 0640, `O_EXCL`: an id in use is never
/// overwritten), making `dir` when it is missing.
fn create_new(dir: &Path, id: QueueId) -> io::Result<File> {
    let path = dir.join(id.to_string());
    let mut opts = OpenOptions::new();
    opts.write(true).create_new(true).mode(CDB_FILE_MODE);
    match opts.open(&path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            DirBuilder::new()
                .recursive(true)
                .mode(CDB_DIR_MODE)
                .create(dir)?;
            opts.open(&path)
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::may_give_to;

    #[test]
    fn who_may_give_content_files_to_a_group() {
        // root: any group
        assert!(may_give_to(4242, 0, 0, &[]));
        // its own group, or one it is in
        assert!(may_give_to(4242, 1000, 4242, &[]));
        assert!(may_give_to(4242, 1000, 1000, &[27, 4242]));
        // any other: no (the SMTP server then refuses to start)
        assert!(!may_give_to(4242, 1000, 1000, &[27]));
        assert!(!may_give_to(4242, 65534, 65534, &[]));
    }
}

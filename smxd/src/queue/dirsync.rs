//! Group fsync of the content directories (README §1.1.1, DESIGN.md
//! "Storage").
//!
//! A new content file survives a crash only once both the file and the
//! directory entry naming it are on disk. The SMTP server fsyncs the file;
//! the directory is fsynced here, by the QMGR, just before the commit that
//! makes the transaction count. Concurrent commits share the fsync of a
//! directory: a caller takes a ticket, and any fsync of that directory that
//! *starts* after the ticket was taken covers it (its file was created
//! before). Under load that is one directory fsync per batch instead of
//! one per message.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

#[derive(Default)]
struct State {
    /// Last ticket handed out.
    issued: u64,
    /// Every ticket up to this one is covered by a finished fsync.
    synced: u64,
}

/// One entry per directory: the ticket counters and the lock that lets one
/// fsync run at a time.
#[derive(Default)]
struct Dir {
    state: Mutex<State>,
    running: tokio::sync::Mutex<()>,
}

/// Coalesces fsyncs of directories.
#[derive(Default)]
pub struct DirSync {
    dirs: Mutex<HashMap<PathBuf, std::sync::Arc<Dir>>>,
    #[cfg(test)]
    pub(crate) fsyncs: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for DirSync {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DirSync")
    }
}

impl DirSync {
    /// Returns once an fsync of `dir` that started after this call is done.
    pub async fn sync(&self, dir: &Path) -> io::Result<()> {
        let entry = {
            let mut m = self.dirs.lock().map_err(|_| io::Error::other("poisoned"))?;
            m.entry(dir.to_path_buf()).or_default().clone()
        };
        let ticket = {
            let mut s = entry
                .state
                .lock()
                .map_err(|_| io::Error::other("poisoned"))?;
            s.issued += 1;
            s.issued
        };
        let _running = entry.running.lock().await;
        let target = {
            let s = entry
                .state
                .lock()
                .map_err(|_| io::Error::other("poisoned"))?;
            if s.synced >= ticket {
                return Ok(());
            }
            s.issued
        };
        let d = dir.to_path_buf();
        tokio::task::spawn_blocking(move || std::fs::File::open(d)?.sync_all())
            .await
            .map_err(io::Error::other)??;
        #[cfg(test)]
        self.fsyncs
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut s = entry
            .state
            .lock()
            .map_err(|_| io::Error::other("poisoned"))?;
        s.synced = s.synced.max(target);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use std::sync::atomic::Ordering;
    use std::sync::Arc;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_syncs_share_fsyncs() {
        let dir = std::env::temp_dir().join(format!("smx-dirsync-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let ds = Arc::new(DirSync::default());
        let mut tasks = Vec::new();
        for _ in 0..200 {
            let (ds, dir) = (ds.clone(), dir.clone());
            tasks.push(tokio::spawn(async move { ds.sync(&dir).await }));
        }
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        let n = ds.fsyncs.load(Ordering::Relaxed);
        assert!((1..200).contains(&n), "{n} fsyncs for 200 syncs");
        // A sync after all of them still fsyncs (its ticket is new).
        ds.sync(&dir).await.unwrap();
        assert_eq!(ds.fsyncs.load(Ordering::Relaxed), n + 1);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

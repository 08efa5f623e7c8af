//! Maildir delivery (D. J. Bernstein, <https://cr.yp.to/proto/maildir.html>):
//! a message is written to `tmp/UNIQUE`, fsynced, hard-linked to
//! `new/UNIQUE,S=SIZE`, and only after `new` itself is fsynced is the
//! delivery reported as done. A reader never sees a partial file, and a
//! crash before the answer loses nothing the client was told it had.
//!
//! The unique name is `SECS.M<usecs>P<pid>Q<counter>.HOST` (the modern form
//! of the specification: time, process, per-process delivery counter, host
//! with `/` and `:` written as `\057` and `\072`); `,S=` is the file size,
//! which Dovecot and Courier read to skip a stat(2).
//!
//! Directories are created with mode 0700 when missing (`tmp`, `new`, `cur`
//! and any missing parent); files with mode 0600.

use std::fs::{DirBuilder, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Why a delivery failed; every case is temporary for the client.
#[derive(Debug, thiserror::Error)]
#[error("{step} {}: {source}", path.display())]
pub struct DeliveryError {
    /// What was being done (`create directory`, `write`, `fsync`, ...).
    pub step: &'static str,
    /// The file or directory.
    pub path: PathBuf,
    /// The system's error.
    #[source]
    pub source: io::Error,
}

impl DeliveryError {
    /// True when the file system or the user's quota is full (ENOSPC,
    /// EDQUOT): `452 4.2.2` rather than `451 4.3.0`.
    pub fn is_out_of_space(&self) -> bool {
        let code = self.source.raw_os_error();
        code == Some(nix::errno::Errno::ENOSPC as i32)
            || code == Some(nix::errno::Errno::EDQUOT as i32)
    }
}

/// A message delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    /// The file in `new/`.
    pub path: PathBuf,
    /// Its size in octets.
    pub size: u64,
}

/// Where the Maildirs are: `template` with `${user}` replaced, relative to
/// `base` (the queue directory) unless absolute.
#[derive(Debug)]
pub struct Maildirs {
    template: String,
    base: PathBuf,
    host: String,
    counter: AtomicU64,
}

impl Maildirs {
    /// Maildirs at `template` (e.g. `mail/${user}/Maildir`) under `base`.
    pub fn new(template: &str, base: &Path) -> Self {
        let host = nix::unistd::gethostname()
            .ok()
            .and_then(|h| h.into_string().ok())
            .unwrap_or_else(|| "localhost".to_string());
        Maildirs {
            template: template.to_string(),
            base: base.to_path_buf(),
            host: host.replace('/', "\\057").replace(':', "\\072"),
            counter: AtomicU64::new(0),
        }
    }

    /// The Maildir of `user`; `user` must already be checked to be a
    /// single safe path component (`users.rs`).
    pub fn maildir_of(&self, user: &str) -> PathBuf {
        self.base.join(self.template.replace("${user}", user))
    }

    /// `path` relative to the base directory when it is below it (for logs).
    pub fn display_path<'a>(&self, path: &'a Path) -> std::borrow::Cow<'a, str> {
        path.strip_prefix(&self.base)
            .unwrap_or(path)
            .to_string_lossy()
    }

    fn unique(&self) -> String {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        format!(
            "{}.M{}P{}Q{}.{}",
            now.as_secs(),
            now.subsec_micros(),
            std::process::id(),
            n,
            self.host
        )
    }

    /// Writes `parts` (concatenated) as one new message into the Maildir of
    /// `user`. Blocking: call it from a blocking task.
    pub fn deliver(&self, user: &str, parts: &[&[u8]]) -> Result<Delivered, DeliveryError> {
        let maildir = self.maildir_of(user);
        ensure_maildir(&maildir)?;
        let unique = self.unique();
        let tmp = maildir.join("tmp").join(&unique);
        let size = write_synced(&tmp, parts).inspect_err(|_| {
            let _ = std::fs::remove_file(&tmp);
        })?;
        let new_dir = maildir.join("new");
        let new = new_dir.join(format!("{unique},S={size}"));
        let linked = std::fs::hard_link(&tmp, &new).or_else(|e| {
            if e.kind() == io::ErrorKind::AlreadyExists {
                Err(e)
            } else {
                // File systems without hard links: rename is atomic too.
                std::fs::rename(&tmp, &new)
            }
        });
        if let Err(source) = linked {
            let _ = std::fs::remove_file(&tmp);
            return Err(DeliveryError {
                step: "link",
                path: new,
                source,
            });
        }
        let _ = std::fs::remove_file(&tmp);
        if let Err(source) = sync_dir(&new_dir) {
            // Not known to be on disk: take it back, so that the client's
            // retry does not deliver a second copy.
            let _ = std::fs::remove_file(&new);
            return Err(DeliveryError {
                step: "fsync",
                path: new_dir,
                source,
            });
        }
        Ok(Delivered { path: new, size })
    }
}

/// Creates `tmp`, `new` and `cur` (mode 0700) when missing; when anything
/// was created, fsyncs the Maildir and its parent so the new directories
/// survive a crash.
fn ensure_maildir(maildir: &Path) -> Result<(), DeliveryError> {
    let mut created = false;
    for sub in ["tmp", "new", "cur"] {
        let d = maildir.join(sub);
        if d.is_dir() {
            continue;
        }
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&d)
            .map_err(|source| DeliveryError {
                step: "create directory",
                path: d.clone(),
                source,
            })?;
        created = true;
    }
    if created {
        for d in [Some(maildir), maildir.parent()].into_iter().flatten() {
            sync_dir(d).map_err(|source| DeliveryError {
                step: "fsync",
                path: d.to_path_buf(),
                source,
            })?;
        }
    }
    Ok(())
}

/// Writes a new file (it must not exist) and fsyncs it; returns its size.
fn write_synced(path: &Path, parts: &[&[u8]]) -> Result<u64, DeliveryError> {
    let err = |step, source| DeliveryError {
        step,
        path: path.to_path_buf(),
        source,
    };
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| err("create", e))?;
    let mut size = 0u64;
    for p in parts {
        f.write_all(p).map_err(|e| err("write", e))?;
        size += p.len() as u64;
    }
    f.sync_all().map_err(|e| err("fsync", e))?;
    Ok(size)
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn delivers_into_new_with_size_and_unique_names() {
        let base = std::env::temp_dir().join(format!("smx-lmtpl-maildir-{}", std::process::id()));
        let m = Maildirs::new("mail/${user}/Maildir", &base);
        let a = m
            .deliver("alice", &[b"Return-Path: <>\n", b"hi\n"])
            .unwrap();
        let b = m.deliver("alice", &[b"x\n"]).unwrap();
        assert_ne!(a.path, b.path);
        assert_eq!(a.size, 19);
        assert_eq!(std::fs::read(&a.path).unwrap(), b"Return-Path: <>\nhi\n");
        let name = a.path.file_name().unwrap().to_string_lossy().into_owned();
        assert!(name.ends_with(",S=19"), "{name}");
        assert!(!name.contains('/') && name.matches(':').count() == 0);
        assert_eq!(
            m.display_path(&a.path),
            format!("mail/alice/Maildir/new/{name}")
        );
        let md = base.join("mail/alice/Maildir");
        assert_eq!(std::fs::read_dir(md.join("tmp")).unwrap().count(), 0);
        assert!(md.join("cur").is_dir());
        let mode = std::fs::metadata(md.join("new"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700);
        let mode = std::fs::metadata(&a.path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        std::fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn out_of_space_is_enospc_or_edquot() {
        let e = |errno: nix::errno::Errno| DeliveryError {
            step: "write",
            path: PathBuf::from("x"),
            source: io::Error::from_raw_os_error(errno as i32),
        };
        assert!(e(nix::errno::Errno::ENOSPC).is_out_of_space());
        assert!(e(nix::errno::Errno::EDQUOT).is_out_of_space());
        assert!(!e(nix::errno::Errno::EIO).is_out_of_space());
    }

    #[test]
    fn a_maildir_that_cannot_be_created_is_an_error_not_a_loss() {
        let base = std::env::temp_dir().join(format!("smx-lmtpl-blocked-{}", std::process::id()));
        std::fs::create_dir_all(&base).unwrap();
        // a file where the user's directory should be
        std::fs::write(base.join("bob"), b"").unwrap();
        let m = Maildirs::new("${user}/Maildir", &base);
        let e = m.deliver("bob", &[b"x\n"]).unwrap_err();
        assert_eq!(e.step, "create directory");
        assert!(!e.is_out_of_space());
        std::fs::remove_dir_all(&base).unwrap();
    }
}

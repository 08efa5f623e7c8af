//! Disk full (TESTING.md layer 4, README §3.8 items 9 and 11): a queue on
//! a small filesystem answers `452 4.3.1`, loses nothing that got `250`,
//! and accepts again once space returns.
//!
//! The queue directory is a size-limited tmpfs (`mount -t tmpfs -o size=..`,
//! needs root; unmounted at the end). Space is taken by a filler file the
//! test writes into that filesystem and given back by shrinking and then
//! removing it.
//!
//! - `low_space_...`: `min_disk_space`/`ok_disk_space` set relative to the
//!   filesystem's free space; the filler leaves a little more than
//!   `min_disk_space`, and the messages themselves push the queue below it.
//!   Then `452`, still `452` between min and ok (hysteresis), `250` again
//!   above ok. Where no tmpfs can be mounted this test runs on the normal
//!   temp filesystem with thresholds relative to its measured free space
//!   and wider margins (other processes change free space too); it never
//!   skips.
//! - `a_really_full_...`: no thresholds (`min_disk_space = 0`, `ok_disk_space = 1` KB): the
//!   filesystem really runs out while content files are written. Every
//!   answer is then a 4xx, nothing answered 250 is lost, and after the
//!   filler is removed mail is accepted again. This one needs the mount:
//!   without it, it fails when `CI` is set and is skipped otherwise.
//!
//! After the daemon stopped, the queue is read back (IBDB replay and every
//! content file) and every `250` must be there, under its queue id. Then
//! smxd starts again, now with lmtpl delivering into a Maildir outside the
//! small filesystem; every marker that got a 4xx is sent again (a 4xx
//! means "later"), and every marker must reach the Maildir: the test
//! prints the fault suite's ledger line (`common::ledger`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::ledger::{self, mailbox, wait_arrived, Counts, Fate, Ledger};
use common::{message, read_queue, Outcome, Session, Smx, TestDir};
use smxd::queue::{DiskProbe, StatvfsProbe};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const KB: u64 = 1024;
const MB: u64 = 1024 * KB;
const IO_TIMEOUT: Duration = Duration::from_secs(30);
/// Without lmtpl the first tries fail; the retries after the restart with
/// lmtpl must come soon.
const RETRY: &str = "retry_min_delay = 1s; retry_max_delay = 2s;";

/// A tmpfs mounted on a directory, unmounted on drop.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: u64) -> Result<Tmpfs, String> {
        std::fs::create_dir_all(dir).unwrap();
        let out = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={}k", size / KB),
                "tmpfs",
            ])
            .arg(dir)
            .output()
            .map_err(|e| format!("mount: {e}"))?;
        if out.status.success() {
            Ok(Tmpfs(dir.to_path_buf()))
        } else {
            Err(format!(
                "mount -t tmpfs failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let ok = Command::new("umount")
            .arg(&self.0)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            let _ = Command::new("umount").arg("-l").arg(&self.0).status();
        }
    }
}

fn free(dir: &Path) -> u64 {
    StatvfsProbe {
        dirs: vec![dir.to_path_buf()],
    }
    .free_bytes()
    .unwrap()
}

/// Space taken on purpose: a file of real (not sparse) blocks.
struct Filler {
    path: PathBuf,
    len: u64,
}

impl Filler {
    /// An empty filler in `dir`.
    fn new(dir: &Path) -> Filler {
        Filler {
            path: dir.join("filler"),
            len: 0,
        }
    }

    /// Grows or shrinks the filler so that about `target` bytes stay free.
    fn leave_free(&mut self, target: u64) {
        let now = free(&self.path.with_file_name(""));
        if now > target {
            let mut f = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)
                .unwrap();
            let chunk = vec![0u8; 64 * KB as usize];
            let mut left = now - target;
            while left > 0 {
                let n = left.min(chunk.len() as u64);
                // The filesystem may end up fuller than asked: fine.
                if f.write_all(&chunk[..n as usize]).is_err() {
                    break;
                }
                self.len += n;
                left -= n;
            }
            let _ = f.sync_all();
        } else {
            let give = (target - now).min(self.len);
            self.len -= give;
            let f = File::options().write(true).open(&self.path).unwrap();
            f.set_len(self.len).unwrap();
            f.sync_all().unwrap();
        }
    }

    fn remove(&mut self) {
        std::fs::remove_file(&self.path).unwrap();
        self.len = 0;
    }
}

/// What happened to the markers of one test: each is sent once.
#[derive(Default)]
struct Tally {
    queued: Vec<(String, String)>,
    refused: Vec<(String, u16, String)>,
    next: usize,
}

impl Tally {
    fn send(&mut self, port: u16, size: usize) -> Outcome {
        let m = ledger::marker(self.next);
        self.next += 1;
        self.send_marker(port, m, size)
    }

    /// Sends `m` once.
    fn send_marker(&mut self, port: u16, m: String, size: usize) -> Outcome {
        let mut s = Session::open(port, IO_TIMEOUT).expect("SMTP session");
        let out = s.send("sender@example.org", "alice@localhost", &message(&m, size));
        match &out {
            Outcome::Queued(id) => self.queued.push((m, id.clone())),
            Outcome::Refused { code, text, .. } => {
                self.refused.push((m, *code, text.trim().to_string()))
            }
            Outcome::Broken { .. } => panic!("{m}: the session broke"),
        }
        s.quit();
        out
    }

    /// Every 250 is in the queue under its id; nothing refused is.
    fn check_queue(&self, queue: &Path, what: &str) {
        let q = read_queue(queue);
        let lost: Vec<_> = self
            .queued
            .iter()
            .filter(|(m, id)| !q.holds(m, id))
            .collect();
        let refused_but_queued: Vec<_> = self
            .refused
            .iter()
            .filter(|(m, _, _)| q.copies(m) > 0)
            .collect();
        let queued: usize = q.by_marker.values().map(Vec::len).sum();
        println!(
            "{what}: sent {}, acknowledged with 250 {}, refused {}, queued {queued}, lost {}; \
             orphan content files {}, transactions without content {}",
            self.next,
            self.queued.len(),
            self.refused.len(),
            lost.len(),
            q.orphans,
            q.missing_content.len()
        );
        assert!(lost.is_empty(), "LOST after 250: {lost:?}");
        assert!(
            refused_but_queued.is_empty(),
            "refused but queued: {refused_but_queued:?}"
        );
        assert_eq!(queued, self.queued.len(), "{:?}", q.by_marker);
        assert!(q.missing_content.is_empty() && q.unmarked.is_empty());
    }
}

impl Tally {
    /// After [`Tally::check_queue`]: smxd again with lmtpl delivering into
    /// `maildirs` (outside the small filesystem), every refused marker
    /// sent again, and every marker delivered; prints the ledger line.
    fn deliver_after(&mut self, smx: &mut Smx, maildirs: &Path, size: usize, name: &str) {
        let conf = smx.conf_file().to_path_buf();
        let mut text = std::fs::read_to_string(&conf).unwrap();
        text.push_str(&format!(
            "lmtpl {{ maildir = \"{}/${{user}}/Maildir\"; }}\n",
            maildirs.display()
        ));
        std::fs::write(&conf, text).unwrap();
        smx.spawn();
        let mut again: Vec<String> = self.refused.iter().map(|(m, _, _)| m.clone()).collect();
        again.dedup();
        for m in again {
            let o = self.send_marker(smx.port, m, size);
            assert!(
                matches!(o, Outcome::Queued(_)),
                "sent again after space returned: {o:?}\n{}",
                smx.log()
            );
        }
        let mut fates = vec![Fate::default(); self.next];
        for (m, id) in &self.queued {
            let f = &mut fates[ledger::index(m).unwrap()];
            f.queued = Some(id.clone());
            f.eod_sent = true;
        }
        let alice = maildirs.join("alice/Maildir");
        let limit = Duration::from_secs(40);
        wait_arrived(smx, &fates, limit, || mailbox(&alice).delivered);
        assert!(smx.stop(), "the MCP did not stop on SIGTERM");
        let l = Ledger::tally(name, &fates, &mailbox(&alice).delivered, &Counts::new());
        l.check(&smx.log());
        assert_eq!(l.duplicates, 0);
    }
}

fn is_452(o: &Outcome) -> bool {
    matches!(o, Outcome::Refused { code: 452, text, .. } if text.contains("4.3.1"))
}

#[test]
fn low_space_answers_452_loses_nothing_and_accepts_again_when_space_returns() {
    let dir = TestDir::new("disklow");
    let queue = dir.0.join("queue");
    // Declared after `dir`, dropped (unmounted) before it is removed.
    let (mount, unit) = match Tmpfs::mount(&queue, 8 * MB) {
        Ok(m) => (Some(m), MB),
        Err(e) => {
            eprintln!("NOTE: {e}; using the normal temp filesystem with thresholds relative to its free space");
            std::fs::create_dir_all(&queue).unwrap();
            (None, 64 * MB)
        }
    };
    let size = (unit / 8).min(512 * KB) as usize;
    let f0 = free(&queue);
    assert!(f0 > 7 * unit, "only {f0} bytes free");
    let (min, ok) = (f0 - 6 * unit, f0 - 4 * unit);
    let mut smx = Smx::start(
        &dir.0,
        &format!(
            "qmgr {{ min_disk_space = {}; ok_disk_space = {}; {RETRY} }}",
            min / KB,
            ok / KB
        ),
    );
    let port = smx.port;
    let mut t = Tally::default();

    // Plenty of room.
    for _ in 0..5 {
        let o = t.send(port, size);
        assert!(matches!(o, Outcome::Queued(_)), "{o:?}\n{}", smx.log());
    }

    // A little more than min_disk_space left: the messages push it under.
    let mut filler = Filler::new(&queue);
    filler.leave_free(min + unit / 2);
    let mut first_452 = None;
    for n in 0..(4 * unit as usize / size + 20) {
        let o = t.send(port, size);
        if is_452(&o) {
            first_452 = Some((n, o));
            break;
        }
        assert!(matches!(o, Outcome::Queued(_)), "{o:?}\n{}", smx.log());
    }
    let (accepted_before, o) = first_452.unwrap_or_else(|| panic!("no 452:\n{}", smx.log()));
    println!(
        "452 after {accepted_before} more messages of {size} bytes: {o:?} (free {} bytes, min {min})",
        free(&queue)
    );
    for _ in 0..3 {
        let o = t.send(port, size);
        assert!(is_452(&o), "{o:?}");
    }

    // Between min and ok: still refused (hysteresis).
    filler.leave_free((min + ok) / 2);
    let o = t.send(port, size);
    assert!(
        is_452(&o),
        "between min and ok: {o:?} (free {})",
        free(&queue)
    );

    // Space is back.
    filler.remove();
    assert!(free(&queue) > ok);
    for _ in 0..3 {
        let o = t.send(port, size);
        assert!(matches!(o, Outcome::Queued(_)), "{o:?}\n{}", smx.log());
    }

    assert!(smx.stop(), "the MCP did not stop on SIGTERM");
    t.check_queue(
        &queue,
        if mount.is_some() {
            "tmpfs 8MB"
        } else {
            "temp fs"
        },
    );
    t.deliver_after(&mut smx, &dir.0.join("mail"), size, "disk-low-452");
    drop(smx);
    drop(mount);
}

#[test]
fn a_really_full_filesystem_answers_4xx_loses_nothing_and_recovers() {
    let dir = TestDir::new("diskfull");
    let queue = dir.0.join("queue");
    let mount = match Tmpfs::mount(&queue, 4 * MB) {
        Ok(m) => m,
        Err(e) => {
            assert!(
                std::env::var_os("CI").is_none(),
                "{e}: this test needs root to mount a small tmpfs (CI runs it as root)"
            );
            eprintln!("SKIPPED: {e}; run as root to mount a small tmpfs");
            return;
        }
    };
    let mut smx = Smx::start(
        &dir.0,
        &format!("qmgr {{ min_disk_space = 0; ok_disk_space = 1; {RETRY} }}"),
    );
    let port = smx.port;
    let mut t = Tally::default();
    let size = (128 * KB) as usize;
    for _ in 0..3 {
        let o = t.send(port, size);
        assert!(matches!(o, Outcome::Queued(_)), "{o:?}\n{}", smx.log());
    }
    // Room for a few messages, then none.
    let mut filler = Filler::new(&queue);
    filler.leave_free(600 * KB);
    let mut refused = None;
    for _ in 0..40 {
        match t.send(port, size) {
            Outcome::Queued(_) => {}
            o @ Outcome::Refused { code, .. } if (400..500).contains(&code) => {
                refused = Some(o);
                break;
            }
            o => panic!("{o:?}\n{}", smx.log()),
        }
    }
    let o = refused.unwrap_or_else(|| panic!("the full filesystem never refused:\n{}", smx.log()));
    println!("refused when full: {o:?} (free {} bytes)", free(&queue));
    for _ in 0..3 {
        let o = t.send(port, size);
        assert!(
            matches!(
                o,
                Outcome::Refused {
                    code: 400..=499,
                    ..
                }
            ),
            "{o:?}"
        );
    }

    filler.remove();
    for _ in 0..3 {
        let o = t.send(port, size);
        assert!(
            matches!(o, Outcome::Queued(_)),
            "not accepting after space returned: {o:?}\n{}",
            smx.log()
        );
    }
    assert!(smx.stop(), "the MCP did not stop on SIGTERM");
    t.check_queue(&queue, "tmpfs 4MB, no thresholds");
    t.deliver_after(&mut smx, &dir.0.join("mail"), size, "disk-full");
    drop(smx);
    drop(mount);
}

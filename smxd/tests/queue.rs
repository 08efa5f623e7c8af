//! Tests of the receive side of the queue (`smxd::queue`): queue ids, CDB,
//! IBDB group commit and recovery, IQDB and disk-space limits, and a crash
//! test that kills a committing child process with SIGKILL.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::HashSet;
use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use smxd::queue::cdb::CDB_DIRS;
use smxd::queue::ibdb::record::MAGIC;
use smxd::queue::ibdb::LAZY_DELAY;
use smxd::queue::id::now_micros;
use smxd::queue::{
    recover, Cdb, CdbSync, CommitError, Content, DiskProbe, IbdbConf, IbdbWriter, IdGenerator,
    Queue, QueueConf, QueueId, RcptStatus, Recipient, Record, Transaction,
};

/// A directory removed at the end of the test.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        static N: AtomicU64 = AtomicU64::new(0);
        let p = std::env::temp_dir().join(format!(
            "smx-queue-{name}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&p);
        fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

struct FakeProbe(AtomicU64);

impl DiskProbe for FakeProbe {
    fn free_bytes(&self) -> std::io::Result<u64> {
        Ok(self.0.load(Ordering::SeqCst))
    }
}

fn plenty() -> Arc<dyn DiskProbe> {
    Arc::new(FakeProbe(AtomicU64::new(u64::MAX)))
}

fn conf(delay_us: u64, max_open: usize, size: u64) -> QueueConf {
    QueueConf {
        ibdb: IbdbConf {
            max_commit_delay: Duration::from_micros(delay_us),
            max_open_tas: max_open,
            size,
            lazy_delay: LAZY_DELAY,
        },
        disk_probe: Some(plenty()),
        ..QueueConf::default()
    }
}

fn ta(id: QueueId, nrcpt: usize) -> Transaction {
    Transaction {
        id,
        sender: "sender@example.org".into(),
        sender_params: "RET=HDRS ENVID=x".into(),
        recipients: (0..nrcpt)
            .map(|i| Recipient {
                params: "NOTIFY=FAILURE".into(),
                ..Recipient::new(format!("r{i}@example.com"))
            })
            .collect(),
        size: 123,
        received_at: now_micros(),
    }
}

fn ibdb_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<_> = fs::read_dir(dir.join("ibdb"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

// ---------------------------------------------------------------- ids

#[test]
fn ids_unique_and_monotonic_under_concurrency() {
    let generators: Vec<Arc<IdGenerator>> =
        (0..3u8).map(|p| Arc::new(IdGenerator::new(7, p))).collect();
    let handles: Vec<_> = (0..8)
        .map(|t| {
            let g = generators[t % 3].clone();
            std::thread::spawn(move || (0..20_000).map(|_| g.next_id()).collect::<Vec<_>>())
        })
        .collect();
    let mut all = HashSet::new();
    for h in handles {
        let ids = h.join().unwrap();
        assert!(
            ids.windows(2).all(|w| w[0] < w[1]),
            "ids of one thread increase"
        );
        for id in ids {
            assert_eq!(id.to_string().parse::<QueueId>().unwrap(), id);
            assert!(all.insert(id), "duplicate {id}");
        }
    }
    assert_eq!(all.len(), 8 * 20_000);
}

#[test]
fn ids_unique_after_restart() {
    let g = IdGenerator::new(1, 0);
    let before: Vec<_> = (0..5_000).map(|_| g.next_id()).collect();
    let last = *before.last().unwrap();
    // With the last id as floor: no wait needed, even if the old generator
    // ran ahead of the clock.
    let resumed = IdGenerator::resume_after(1, 0, last);
    assert!(resumed.next_id() > last);
    // Without it: once the clock has passed the last id (the documented
    // limit), a fresh generator continues above it.
    while now_micros() <= last.micros() {
        std::thread::sleep(Duration::from_millis(1));
    }
    let fresh = IdGenerator::new(1, 0);
    assert!(fresh.next_id() > last);
}

// ---------------------------------------------------------------- CDB

#[tokio::test]
async fn cdb_write_list_open_remove() {
    use std::io::Read;
    use std::os::unix::fs::PermissionsExt;
    let dir = TempDir::new("cdb");
    let cdb = Cdb::new(dir.path().join("cdb"));
    let g = IdGenerator::new(0, 0);
    let mut ids = Vec::new();
    for i in 0..40 {
        let id = g.next_id();
        let content = format!("Subject: hi\r\n\r\nbody {i}\r\n").into_bytes();
        let size = cdb.store(id, content).await.unwrap();
        assert_eq!(size, fs::metadata(cdb.path(id)).unwrap().len());
        assert_eq!(
            fs::metadata(cdb.path(id)).unwrap().permissions().mode() & 0o7777 & !0o022,
            0o640 & !0o022
        );
        ids.push(id);
    }
    assert_eq!(cdb.list().unwrap(), ids);
    // Messages of the same moment share a directory (one directory fsync
    // per group commit); 40 ids come within one or two 65 ms slices.
    let dirs: HashSet<char> = ids.iter().map(|id| id.cdb_dir()).collect();
    assert!(dirs.len() <= 2, "{dirs:?}");
    let mut s = String::new();
    cdb.open(ids[3]).unwrap().read_to_string(&mut s).unwrap();
    assert_eq!(s, "Subject: hi\r\n\r\nbody 3\r\n");
    // An id reused by accident never overwrites a queued message.
    assert!(cdb.store(ids[3], b"x".to_vec()).await.is_err());
    cdb.remove(ids[3]).unwrap();
    cdb.remove(ids[3]).unwrap();
    assert!(!cdb.list().unwrap().contains(&ids[3]));
    // Foreign names are ignored.
    // (in a directory that exists: directories are made as ids need them)
    fs::write(
        cdb.base().join(ids[0].cdb_dir().to_string()).join("README"),
        "x",
    )
    .unwrap();
    assert_eq!(cdb.list().unwrap().len(), 39);
    // A file another version left in another directory is moved to the
    // directory of its id, and listed again.
    let stray = ids[5];
    let other = if stray.cdb_dir() == '0' { "1" } else { "0" };
    fs::create_dir_all(cdb.base().join(other)).unwrap();
    fs::rename(
        cdb.path(stray),
        cdb.base().join(other).join(stray.to_string()),
    )
    .unwrap();
    assert_eq!(cdb.list().unwrap().len(), 38, "not where its id says");
    assert_eq!(cdb.relocate().unwrap(), 1);
    assert!(cdb.path(stray).is_file());
    assert_eq!(cdb.list().unwrap().len(), 39);
    assert_eq!(cdb.relocate().unwrap(), 0);
}

// ---------------------------------------------------------------- group commit

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_commit_shares_fsyncs() {
    let dir = TempDir::new("group");
    let ibdb = dir.path().join("ibdb");
    let rec = recover(&ibdb).unwrap();
    let writer = Arc::new(
        IbdbWriter::start(
            &ibdb,
            IbdbConf {
                max_commit_delay: Duration::from_millis(5),
                max_open_tas: 100,
                size: 64 << 20,
                lazy_delay: LAZY_DELAY,
            },
            &rec,
        )
        .unwrap(),
    );
    let g = Arc::new(IdGenerator::new(0, 0));
    let tasks: Vec<_> = (0..1000)
        .map(|_| {
            let (w, g) = (writer.clone(), g.clone());
            tokio::spawn(async move {
                let id = g.next_id();
                let durable = w.append(vec![Record::TaOpen(ta(id, 2))]).await.unwrap();
                // Answered only after the fsync that covers it happened.
                assert!(durable.fsync >= 1 && w.fsyncs() >= durable.fsync);
                (id, durable.fsync)
            })
        })
        .collect();
    let mut ids = Vec::new();
    let mut batches = HashSet::new();
    for t in tasks {
        let (id, fsync) = t.await.unwrap();
        ids.push(id);
        batches.insert(fsync);
    }
    let fsyncs = writer.fsyncs();
    eprintln!("1000 commits, {fsyncs} fsyncs");
    assert!(fsyncs < 100, "1000 commits took {fsyncs} fsyncs");
    assert_eq!(batches.len() as u64, fsyncs);
    assert_eq!(writer.stats().committed.load(Ordering::Relaxed), 1000);
    drop(writer);
    let rec = recover(&ibdb).unwrap();
    let got: HashSet<_> = rec.transactions.iter().map(|t| t.id).collect();
    assert_eq!(got, ids.into_iter().collect::<HashSet<_>>());
}

/// The ids of the open transactions recovery finds in `ibdb`.
fn recovered_ids(ibdb: &Path) -> HashSet<QueueId> {
    recover(ibdb)
        .unwrap()
        .transactions
        .iter()
        .map(|t| t.id)
        .collect()
}

/// An IBDB writer in `ibdb` whose batches wait for 16 requests (one per
/// CDB directory), for up to 30 s.
fn sixteen_per_batch(ibdb: &Path) -> Arc<IbdbWriter> {
    let rec = recover(ibdb).unwrap();
    let conf = IbdbConf {
        max_commit_delay: Duration::from_secs(30),
        max_open_tas: CDB_DIRS.len(),
        size: 64 << 20,
        lazy_delay: LAZY_DELAY,
    };
    Arc::new(IbdbWriter::start(ibdb, conf, &rec).unwrap())
}

/// Commits a new transaction for each of the 16 `contents` at once, one
/// batch of [`sixteen_per_batch`]; returns their ids and the content syncs
/// the batch made.
async fn one_batch(
    w: &Arc<IbdbWriter>,
    g: &IdGenerator,
    contents: Vec<Content>,
) -> (Vec<QueueId>, u64) {
    let (fsyncs, syncs) = (w.fsyncs(), w.stats().content_syncs.load(Ordering::Relaxed));
    let commits: Vec<_> = contents
        .into_iter()
        .map(|content| {
            let (w, id) = (w.clone(), g.next_id());
            let commit = tokio::spawn(async move {
                w.append_after_sync(vec![Record::TaOpen(ta(id, 1))], content)
                    .await
            });
            (id, commit)
        })
        .collect();
    let mut ids = Vec::new();
    for (id, c) in commits {
        c.await.unwrap().unwrap();
        ids.push(id);
    }
    assert_eq!(w.fsyncs() - fsyncs, 1, "one batch");
    (ids, w.stats().content_syncs.load(Ordering::Relaxed) - syncs)
}

/// A batch makes its content durable once: files not fsynced yet
/// (`CDB_sync = filesystem`) with one syncfs of their filesystem, however
/// many directories they are in (and fsynced ones there with them);
/// fsynced files alone (`CDB_sync = file`) with one fsync per directory.
#[tokio::test]
async fn content_made_durable_once_per_filesystem_or_directory() {
    let dir = TempDir::new("syncfs");
    let ibdb = dir.path().join("ibdb");
    let cdb = Cdb::new(dir.path().join("cdb"));
    cdb.create_dirs().unwrap();
    let w = sixteen_per_batch(&ibdb);
    let g = IdGenerator::new(0, 0);
    let mut ids = HashSet::new();
    // (bit i: the file of the commit to directory i is fsynced, syncs expected)
    for (synced, syncs) in [(0u16, 1), (0xFFFF, 16), (0xFF7F, 1)] {
        let contents = CDB_DIRS
            .iter()
            .enumerate()
            .map(|(i, d)| Content {
                dir: cdb.base().join(d),
                synced: synced & (1 << i) != 0,
            })
            .collect();
        let (committed, made) = one_batch(&w, &g, contents).await;
        assert_eq!(made, syncs);
        ids.extend(committed);
    }
    drop(w);
    let got = recovered_ids(&ibdb);
    assert_eq!(got, ids);
}

/// Content directories moved to another disk by symbolic links (README
/// §3.4 item 2, CDB_base_directory) are synced there too: one syncfs per
/// filesystem. Half of the 16 directories live on /dev/shm (a tmpfs, a
/// filesystem of its own; needed when `CI` is set, skipped otherwise).
#[tokio::test]
async fn content_on_two_filesystems_gets_a_syncfs_each() {
    use std::os::unix::fs::MetadataExt;
    let dir = TempDir::new("syncfs2");
    let shm = Path::new("/dev/shm");
    let other_fs =
        fs::metadata(shm).map(|m| m.dev()).ok() != fs::metadata(dir.path()).map(|m| m.dev()).ok();
    if !shm.is_dir() || !other_fs {
        assert!(
            std::env::var_os("CI").is_none(),
            "/dev/shm is not a filesystem of its own"
        );
        eprintln!("skipped: /dev/shm is not a filesystem of its own");
        return;
    }
    let far = TempDir(shm.join(format!("smx-queue-syncfs2-{}", std::process::id())));
    let base = dir.path().join("cdb");
    fs::create_dir_all(&base).unwrap();
    for (i, d) in CDB_DIRS.iter().enumerate() {
        if i % 2 == 0 {
            fs::create_dir_all(base.join(d)).unwrap();
        } else {
            fs::create_dir_all(far.path().join(d)).unwrap();
            std::os::unix::fs::symlink(far.path().join(d), base.join(d)).unwrap();
        }
    }
    let w = sixteen_per_batch(&dir.path().join("ibdb"));
    let contents = CDB_DIRS
        .iter()
        .map(|d| Content {
            dir: base.join(d),
            synced: false,
        })
        .collect();
    let (_, made) = one_batch(&w, &IdGenerator::new(0, 0), contents).await;
    assert_eq!(made, 2);
}

/// The content directory is fsynced by the IBDB writer before the records
/// that need it, once per batch; a directory that cannot be fsynced fails
/// only the requests that need it (a temporary error, not a broken log).
#[tokio::test]
async fn directory_sync_before_the_record_and_its_failure() {
    let dir = TempDir::new("dirsync");
    let ibdb = dir.path().join("ibdb");
    let content = dir.path().join("content");
    std::fs::create_dir_all(&content).unwrap();
    let rec = recover(&ibdb).unwrap();
    let w = IbdbWriter::start(
        &ibdb,
        IbdbConf {
            max_commit_delay: Duration::ZERO,
            max_open_tas: 100,
            size: 64 << 20,
            lazy_delay: LAZY_DELAY,
        },
        &rec,
    )
    .unwrap();
    let g = IdGenerator::new(0, 0);
    let ok = g.next_id();
    let synced = |dir: &std::path::Path, synced| Content {
        dir: dir.to_path_buf(),
        synced,
    };
    w.append_after_sync(vec![Record::TaOpen(ta(ok, 1))], synced(&content, true))
        .await
        .unwrap();
    for unsynced in [true, false] {
        let bad = g.next_id();
        let missing = dir.path().join("missing");
        let e = w
            .append_after_sync(vec![Record::TaOpen(ta(bad, 1))], synced(&missing, unsynced))
            .await
            .unwrap_err();
        assert!(matches!(e, smxd::queue::IbdbError::Dir(_)), "{e:?}");
    }
    // The log still takes records.
    let after = g.next_id();
    w.append(vec![Record::TaOpen(ta(after, 1))]).await.unwrap();
    drop(w);
    let got = recovered_ids(&ibdb);
    assert_eq!(got, [ok, after].into_iter().collect::<HashSet<_>>());
}

/// Completion records are not urgent: alone they are written after the
/// lazy delay; a new transaction arriving meanwhile takes them along in its
/// fsync instead of waiting behind one of their own.
#[tokio::test]
async fn completion_records_share_the_fsync_of_the_next_transaction() {
    let dir = TempDir::new("lazy");
    let ibdb = dir.path().join("ibdb");
    let start = |lazy_delay: Duration| {
        let rec = recover(&ibdb).unwrap();
        let conf = IbdbConf {
            max_commit_delay: Duration::ZERO,
            max_open_tas: 100,
            size: 64 << 20,
            lazy_delay,
        };
        Arc::new(IbdbWriter::start(&ibdb, conf, &rec).unwrap())
    };
    let g = IdGenerator::new(0, 0);
    let (a, b, c) = (g.next_id(), g.next_id(), g.next_id());
    // A delay no test run reaches: the completion waits for company.
    let w = start(Duration::from_secs(3600));
    w.append(vec![Record::TaOpen(ta(a, 1))]).await.unwrap();
    w.append(vec![Record::TaOpen(ta(b, 1))]).await.unwrap();
    assert_eq!(w.fsyncs(), 2);
    let lazy = {
        let w = w.clone();
        tokio::spawn(async move { w.append_lazy(vec![Record::TaDone { id: a }]).await })
    };
    // Whenever the transaction comes, it brings the completion along.
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(
        !lazy.is_finished(),
        "a completion alone was fsynced at once"
    );
    let open_c = w.append(vec![Record::TaOpen(ta(c, 1))]).await.unwrap();
    let done_a = lazy.await.unwrap().unwrap();
    assert_eq!(done_a.fsync, open_c.fsync);
    assert_eq!(w.fsyncs(), 3);
    drop(w);
    // Alone, with the default delay, it is written all the same.
    let w = start(LAZY_DELAY);
    w.append_lazy(vec![Record::TaDone { id: b }]).await.unwrap();
    assert_eq!(w.fsyncs(), 1);
    drop(w);
    let open: Vec<_> = recover(&ibdb)
        .unwrap()
        .transactions
        .iter()
        .map(|t| t.id)
        .collect();
    assert_eq!(open, vec![c]);
}

#[tokio::test]
async fn zero_delay_still_commits() {
    let dir = TempDir::new("zero");
    let (q, _) = Queue::open(dir.path(), &conf(0, 1, 1 << 20)).unwrap();
    let g = IdGenerator::new(0, 0);
    for _ in 0..10 {
        q.commit(ta(g.next_id(), 1)).await.unwrap();
    }
    assert_eq!(q.ibdb().fsyncs(), 10);
}

// ---------------------------------------------------------------- recovery

#[tokio::test]
async fn recovery_after_truncation_at_every_offset_of_last_record() {
    let dir = TempDir::new("trunc");
    let g = IdGenerator::new(0, 0);
    let tas: Vec<_> = (0..5).map(|i| ta(g.next_id(), i + 1)).collect();
    {
        let (q, _) = Queue::open(dir.path(), &conf(0, 1, 1 << 20)).unwrap();
        for t in &tas {
            q.commit(t.clone()).await.unwrap();
        }
        q.rcpt_done(tas[1].id, 1, RcptStatus::Delivered)
            .await
            .unwrap();
        q.commit(ta(g.next_id(), 3)).await.unwrap(); // the last record, to be torn
    }
    let files = ibdb_files(dir.path());
    assert_eq!(files.len(), 1);
    let full = fs::read(&files[0]).unwrap();
    let rec = recover(&dir.path().join("ibdb")).unwrap();
    let last = rec.transactions.last().unwrap().clone();
    let mut enc = Vec::new();
    Record::TaOpen(last).encode(&mut enc).unwrap();
    let last_start = full.len() - enc.len();
    assert_eq!(&full[last_start..], &enc[..]);

    for cut in last_start..full.len() {
        let d = TempDir::new("cut");
        fs::create_dir_all(d.path().join("ibdb")).unwrap();
        let f = d.path().join("ibdb").join(files[0].file_name().unwrap());
        fs::write(&f, &full[..cut]).unwrap();
        let rec = recover(&d.path().join("ibdb")).unwrap();
        assert_eq!(rec.transactions, {
            let mut want = tas.clone();
            want[1].recipients[1].status = RcptStatus::Delivered;
            want
        });
        assert_eq!(
            rec.truncated_bytes(),
            (cut - last_start) as u64,
            "cut at {cut}"
        );
        assert_eq!(
            fs::metadata(&f).unwrap().len(),
            last_start as u64,
            "tail cut away"
        );
        // Recovery is idempotent.
        assert_eq!(
            recover(&d.path().join("ibdb")).unwrap().truncated_bytes(),
            0
        );
    }
    // A flipped byte inside the last record: the same.
    for at in [
        last_start + 2,
        last_start + 6,
        last_start + 9,
        full.len() - 1,
    ] {
        let d = TempDir::new("flip");
        fs::create_dir_all(d.path().join("ibdb")).unwrap();
        let mut bad = full.clone();
        bad[at] ^= 0x41;
        fs::write(
            d.path().join("ibdb").join(files[0].file_name().unwrap()),
            &bad,
        )
        .unwrap();
        let rec = recover(&d.path().join("ibdb")).unwrap();
        assert_eq!(rec.transactions.len(), 5, "flip at {at}");
    }
    // Torn inside the magic of a newly created file: that file is dropped.
    fs::write(dir.path().join("ibdb").join("99999999"), &MAGIC[..3]).unwrap();
    let rec = recover(&dir.path().join("ibdb")).unwrap();
    assert_eq!(rec.transactions.len(), 6);
    assert_eq!(ibdb_files(dir.path()).len(), 1);
}

#[tokio::test]
async fn recovery_continues_writing_after_a_torn_tail() {
    let dir = TempDir::new("cont");
    let g = IdGenerator::new(0, 0);
    let a = ta(g.next_id(), 1);
    {
        let (q, _) = Queue::open(dir.path(), &conf(0, 1, 1 << 20)).unwrap();
        q.commit(a.clone()).await.unwrap();
    }
    let f = ibdb_files(dir.path()).pop().unwrap();
    let mut data = fs::read(&f).unwrap();
    data.extend_from_slice(&[0x20, 0, 0, 0, 1, 2]); // a torn frame
    fs::write(&f, &data).unwrap();
    let b = ta(g.next_id(), 2);
    {
        let (q, rec) = Queue::open(dir.path(), &conf(0, 1, 1 << 20)).unwrap();
        assert_eq!(rec.transactions, vec![a.clone()]);
        assert_eq!(rec.truncated_bytes(), 6);
        assert_eq!(rec.max_id, Some(a.id));
        assert_eq!(q.iqdb().len(), 1);
        q.commit(b.clone()).await.unwrap();
    }
    let (_, rec) = Queue::open(dir.path(), &conf(0, 1, 1 << 20)).unwrap();
    assert_eq!(rec.transactions, vec![a, b]);
}

#[tokio::test]
async fn orphan_content_files_removed() {
    let dir = TempDir::new("orphan");
    let g = IdGenerator::new(0, 0);
    let (kept, orphan, missing) = (g.next_id(), g.next_id(), g.next_id());
    {
        let (q, _) = Queue::open(dir.path(), &conf(0, 1, 1 << 20)).unwrap();
        for id in [kept, orphan] {
            q.cdb().store(id, b"x\r\n".to_vec()).await.unwrap();
        }
        q.commit(ta(kept, 1)).await.unwrap();
        q.commit(ta(missing, 1)).await.unwrap();
    }
    let (q, rec) = Queue::open(dir.path(), &conf(0, 1, 1 << 20)).unwrap();
    assert_eq!(rec.orphans_removed, vec![orphan]);
    assert_eq!(rec.missing_content, vec![missing]);
    assert_eq!(q.cdb().list().unwrap(), vec![kept]);
}

#[tokio::test]
async fn rotation_and_cleanup() {
    let dir = TempDir::new("rotate");
    let g = IdGenerator::new(0, 0);
    let (q, _) = Queue::open(dir.path(), &conf(0, 1, 600)).unwrap();
    let mut ids = Vec::new();
    for _ in 0..20 {
        let t = ta(g.next_id(), 2);
        ids.push(t.id);
        q.commit(t).await.unwrap();
    }
    let rotations = q.ibdb().stats().rotations.load(Ordering::Relaxed);
    assert!(rotations >= 5, "rotations: {rotations}");
    let n_files = ibdb_files(dir.path()).len();
    assert_eq!(n_files as u64, rotations + 1);
    // The oldest transaction still open pins its file and all later ones.
    for id in &ids[1..] {
        q.ta_done(*id).await.unwrap();
    }
    assert!(
        ibdb_files(dir.path()).len() >= n_files,
        "nothing removed while the first is open"
    );
    q.ta_done(ids[0]).await.unwrap();
    assert_eq!(
        ibdb_files(dir.path()).len(),
        1,
        "all done: only the current file is left"
    );
    assert!(q.ibdb().stats().files_removed.load(Ordering::Relaxed) >= n_files as u64);
    assert!(q.iqdb().is_empty());
    drop(q);
    let (q, rec) = Queue::open(dir.path(), &conf(0, 1, 600)).unwrap();
    assert!(rec.transactions.is_empty());
    assert_eq!(ibdb_files(dir.path()).len(), 1);
    drop(q);
}

#[tokio::test]
async fn rcpt_status_in_a_later_file_survives_cleanup() {
    let dir = TempDir::new("later");
    let g = IdGenerator::new(0, 0);
    let first = ta(g.next_id(), 2);
    {
        let (q, _) = Queue::open(dir.path(), &conf(0, 1, 300)).unwrap();
        q.commit(first.clone()).await.unwrap();
        let other = ta(g.next_id(), 1);
        q.commit(other.clone()).await.unwrap();
        q.rcpt_done(first.id, 0, RcptStatus::Delivered)
            .await
            .unwrap();
        q.ta_done(other.id).await.unwrap();
        for _ in 0..5 {
            let t = ta(g.next_id(), 1);
            q.commit(t.clone()).await.unwrap();
            q.ta_done(t.id).await.unwrap();
        }
    }
    let (_, rec) = Queue::open(dir.path(), &conf(0, 1, 300)).unwrap();
    assert_eq!(rec.transactions.len(), 1);
    assert_eq!(
        rec.transactions[0].recipients[0].status,
        RcptStatus::Delivered
    );
    assert_eq!(
        rec.transactions[0].recipients[1].status,
        RcptStatus::Pending
    );
}

// ---------------------------------------------------------------- limits

#[tokio::test]
async fn disk_space_hysteresis() {
    let dir = TempDir::new("disk");
    let probe = Arc::new(FakeProbe(AtomicU64::new(150)));
    let c = QueueConf {
        min_disk_space: 100,
        ok_disk_space: 200,
        disk_probe: Some(probe.clone()),
        ..conf(0, 1, 1 << 20)
    };
    let (q, _) = Queue::open(dir.path(), &c).unwrap();
    let g = IdGenerator::new(0, 0);
    let steps = [
        (150, true),
        (99, false),
        (150, false),
        (200, false),
        (201, true),
        (150, true),
        (100, true),
        (99, false),
    ];
    for (free, accept) in steps {
        probe.0.store(free, Ordering::SeqCst);
        let r = q.commit(ta(g.next_id(), 1)).await;
        assert_eq!(r.is_ok(), accept, "free {free}: {r:?}");
        if let Err(e) = r {
            assert!(matches!(e, CommitError::DiskLow(_)));
            assert_eq!(e.smtp_status(), (452, "4.3.1"));
            assert!(q.check_accept(1).is_err());
        }
    }
    assert_eq!(q.iqdb().len(), 4, "refused ones are not queued");
}

#[tokio::test]
async fn iqdb_full_and_duplicates_are_temporary() {
    let dir = TempDir::new("iqdb");
    let g = IdGenerator::new(0, 0);
    let c = QueueConf {
        iqdb_max_entries: 3,
        ..conf(0, 1, 1 << 20)
    };
    let (q, _) = Queue::open(dir.path(), &c).unwrap();
    let a = ta(g.next_id(), 2);
    q.commit(a.clone()).await.unwrap();
    let b = ta(g.next_id(), 2);
    let e = q.commit(b.clone()).await.unwrap_err();
    assert_eq!(e, CommitError::QueueFull);
    assert_eq!(e.smtp_status(), (452, "4.3.1"));
    assert!(q.check_accept(2).is_err() && q.check_accept(1).is_ok());
    let e = q.commit(a.clone()).await.unwrap_err();
    assert_eq!(e, CommitError::Duplicate(a.id));
    assert_eq!(e.smtp_status(), (451, "4.3.0"));
    q.ta_done(a.id).await.unwrap();
    q.commit(b.clone()).await.unwrap();
    drop(q);
    let (q, rec) = Queue::open(dir.path(), &c).unwrap();
    assert_eq!(rec.transactions, vec![b]);
    assert_eq!(q.iqdb().recipients(), 2);
}

// ---------------------------------------------------------------- crash test

const CHILD_ENV: &str = "SMX_QUEUE_CRASH_CHILD_DIR";

/// The child side of `crash_kill9_loses_no_committed_message`: does nothing
/// unless started by it.
#[test]
fn crash_child_entry() {
    let Some(dir) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let (q, rec) = Queue::open(Path::new(&dir), &conf(1000, 8, 4096)).unwrap();
        let q = Arc::new(q);
        let g = Arc::new(match rec.max_id {
            Some(m) => IdGenerator::resume_after(0, 1, m),
            None => IdGenerator::new(0, 1),
        });
        let workers: Vec<_> = (0..8)
            .map(|w| {
                let (q, g) = (q.clone(), g.clone());
                tokio::spawn(async move {
                    for n in 0u64.. {
                        let id = g.next_id();
                        let content = format!("message {id}\r\n").into_bytes();
                        q.cdb().store(id, content).await.unwrap();
                        q.commit(ta(id, 1 + (n % 3) as usize)).await.unwrap();
                        println!("C {id}");
                        if (n + w) % 3 == 0 {
                            // Killed between this line and "D", the
                            // transaction may or may not be done.
                            println!("T {id}");
                            q.ta_done(id).await.unwrap();
                            println!("D {id}");
                        }
                    }
                })
            })
            .collect();
        // Never outlive a parent that failed to kill us.
        let _ = tokio::time::timeout(Duration::from_secs(60), futures_join(workers)).await;
    });
}

async fn futures_join(handles: Vec<tokio::task::JoinHandle<()>>) {
    for h in handles {
        let _ = h.await;
    }
}

#[test]
fn crash_kill9_loses_no_committed_message() {
    let dir = TempDir::new("crash");
    let exe = std::env::current_exe().unwrap();
    let mut seed = now_micros() | 1;
    let mut committed: Vec<QueueId> = Vec::new();
    let mut done: HashSet<QueueId> = HashSet::new();
    let mut finishing: HashSet<QueueId> = HashSet::new();
    for round in 0..6 {
        let mut child = Command::new(&exe)
            .args([
                "crash_child_entry",
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let reader = {
            let lines = lines.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    lines.lock().unwrap().push(line);
                }
            })
        };
        // Wait for the first commit of this round, then a random while.
        while lines.lock().unwrap().iter().all(|l| !l.starts_with("C ")) {
            assert!(
                child.try_wait().unwrap().is_none(),
                "child died on its own in round {round}"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        std::thread::sleep(Duration::from_millis(seed % 400));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        reader.join().unwrap();
        for line in lines.lock().unwrap().iter() {
            let (kind, id) = line.split_at(line.len().min(2));
            let Ok(id) = id.parse::<QueueId>() else {
                continue;
            };
            match kind {
                "C " => committed.push(id),
                "T " => {
                    finishing.insert(id);
                }
                "D " => {
                    done.insert(id);
                }
                _ => {}
            }
        }
    }
    let (q, rec) = Queue::open(dir.path(), &conf(1000, 8, 4096)).unwrap();
    let recovered: Vec<QueueId> = rec.transactions.iter().map(|t| t.id).collect();
    let unique: HashSet<QueueId> = recovered.iter().copied().collect();
    assert_eq!(
        unique.len(),
        recovered.len(),
        "each transaction recovered once"
    );
    let mut lost = 0;
    for id in &committed {
        if done.contains(id) {
            assert!(!unique.contains(id), "{id} was done but came back");
        } else if !unique.contains(id) && !finishing.contains(id) {
            lost += 1;
            eprintln!("lost {id}");
        }
    }
    assert_eq!(lost, 0, "messages that got their commit were lost");
    assert!(
        rec.missing_content.is_empty(),
        "content kept for every open transaction"
    );
    let mut cdb = q.cdb().list().unwrap();
    cdb.sort();
    let mut want = recovered.clone();
    want.sort();
    assert_eq!(cdb, want, "no orphan content files");
    assert!(
        committed.len() > 6,
        "the child committed something ({} commits)",
        committed.len()
    );
    eprintln!(
        "crash test: {} commits, {} done, {} recovered, {} orphans removed, {} bytes of torn tail cut",
        committed.len(),
        done.len(),
        recovered.len(),
        rec.orphans_removed.len(),
        rec.truncated_bytes()
    );
}

// ---------------------------------------------------------------- config

#[test]
fn conf_from_smx_conf() {
    let checked = smx_grammar::check_str("smx.conf", "");
    let global = checked.config.unwrap().global;
    let c = QueueConf::from_config(&global);
    let d = QueueConf::default();
    assert_eq!(
        c.ibdb, d.ibdb,
        "QueueConf::default follows the grammar's defaults"
    );
    assert_eq!(
        (c.iqdb_max_entries, c.min_disk_space, c.ok_disk_space),
        (d.iqdb_max_entries, d.min_disk_space, d.ok_disk_space)
    );
    assert_eq!(c.cdb_sync, d.cdb_sync);
    assert_eq!(c.cdb_sync, CdbSync::Filesystem);

    let text = "CDB_sync = file; qmgr { IBDB { max_commit_delay = 2000; size = 1MB; max_open_TAs = 7; } IQDB { max_cache_entries = 50; } min_disk_space = 10; ok_disk_space = 20; }";
    let checked = smx_grammar::check_str("smx.conf", text);
    assert!(checked.is_ok(), "{:?}", checked.diagnostics);
    let global = checked.config.unwrap().global;
    let c = QueueConf::from_config(&global);
    assert_eq!(c.cdb_sync, CdbSync::File);
    assert_eq!(
        c.ibdb,
        IbdbConf {
            max_commit_delay: Duration::from_micros(2000),
            max_open_tas: 7,
            size: 1 << 20,
            lazy_delay: LAZY_DELAY,
        }
    );
    assert_eq!(
        (c.iqdb_max_entries, c.min_disk_space, c.ok_disk_space),
        (50, 10 << 10, 20 << 10)
    );
}

//! DEFEDB (an append-only log with group commit): what a deferral, an
//! update after a retry, a removal and a restart cost, alone and with 32
//! deferrals at once (a burst of mail to a host that is down). Figures and the argument for this store
//! over a transactional Berkeley DB are in docs/PERFORMANCE.md ("DEFEDB").
//!
//! Run: `cargo bench -p smxd --bench defedb` (temp files under
//! `$SMX_BENCH_DIR`, default /var/tmp, so fsync costs what it costs on a
//! real disk).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use smxd::proto::SmtpReply;
use smxd::queue::{Defedb, Deferred, QueueId, RcptStatus, Recipient, Transaction};
use std::collections::BTreeMap;
use std::path::PathBuf;

fn dir(tag: &str) -> PathBuf {
    let base = std::env::var("SMX_BENCH_DIR").unwrap_or_else(|_| "/var/tmp".to_string());
    let d = PathBuf::from(base).join(format!("smx-defedb-bench-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn entry(id: u64) -> Deferred {
    let mut r = Recipient::new("someone@example.org");
    r.status = RcptStatus::Deferred;
    Deferred {
        ta: Transaction {
            id: QueueId::from_u64(id),
            sender: "sender@example.com".into(),
            sender_params: "BODY=8BITMIME".into(),
            recipients: vec![r, Recipient::new("other@example.org")],
            size: 4000,
            received_at: 1,
        },
        tries: 1,
        next_try: 300_000_000,
        last_reply: BTreeMap::from([(0, SmtpReply::new(451, "4.3.0", "try again later"))]),
        done: BTreeMap::new(),
        delay_notified: false,
        relay: "mx.example.org[192.0.2.1]:25".into(),
        held: false,
        unreported: Vec::new(),
        unreported_since: 0,
    }
}

fn bench(c: &mut Criterion) {
    let d = dir("ops");
    let (db, _) = Defedb::open(&d, &d).unwrap();
    let mut n = 1u64;
    c.bench_function("defedb put (new entry, durable)", |b| {
        b.iter(|| {
            n += 1;
            db.put(&entry(n)).unwrap();
        })
    });
    c.bench_function("defedb put (replace after a retry)", |b| {
        let e = entry(1);
        db.put(&e).unwrap();
        b.iter(|| db.put(&e).unwrap())
    });
    c.bench_function("defedb remove (durable)", |b| {
        b.iter_batched(
            || {
                n += 1;
                db.put(&entry(n)).unwrap();
                n
            },
            |id| db.remove(QueueId::from_u64(id)).unwrap(),
            BatchSize::PerIteration,
        )
    });
    // 32 threads deferring at once share fdatasyncs (the log's writer
    // thread takes every update waiting into one, see `queue::defedb`):
    // time per entry, and fdatasyncs per entry, printed after.
    let before = (n, db.syncs());
    let mut g = c.benchmark_group("defedb concurrent");
    g.sample_size(10);
    g.bench_function("put from 32 threads (group commit), per entry", |b| {
        b.iter_custom(|iters| {
            let per_thread = iters.div_ceil(32).max(1);
            let base = n + 1;
            n += 32 * per_thread;
            let start = std::time::Instant::now();
            std::thread::scope(|s| {
                for t in 0..32u64 {
                    let db = db.clone();
                    s.spawn(move || {
                        for k in 0..per_thread {
                            db.put(&entry(base + t * per_thread + k)).unwrap();
                        }
                    });
                }
            });
            start
                .elapsed()
                .mul_f64(iters as f64 / (32 * per_thread) as f64)
        })
    });
    g.finish();
    let (puts, syncs) = (n - before.0, db.syncs() - before.1);
    eprintln!(
        "defedb: {puts} puts, {syncs} fdatasyncs ({:.3} per put)",
        syncs as f64 / puts.max(1) as f64
    );
    let _ = std::fs::remove_dir_all(&d);

    // A restart with 10,000 deferred messages.
    let d = dir("open");
    let (db, _) = Defedb::open(&d, &d).unwrap();
    for i in 0..10_000 {
        db.put(&entry(i + 1)).unwrap();
    }
    let mut g = c.benchmark_group("defedb open");
    g.sample_size(10);
    g.bench_function("open with 10,000 entries", |b| {
        b.iter(|| {
            let (_, loaded) = Defedb::open(&d, &d).unwrap();
            assert_eq!(loaded.entries.len(), 10_000);
        })
    });
    g.finish();
    let _ = std::fs::remove_dir_all(&d);
}

criterion_group!(benches, bench);
criterion_main!(benches);

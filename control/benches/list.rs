//! Benchmark of issue 7: `queue.list` over 100,000 queued entries through
//! the dispatcher over a real Unix socket (one page of 100 entries, a
//! filtered page, and a dry-run count by domain).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use criterion::{criterion_group, criterion_main, Criterion};
use smx_control::fake::{entries, FakeBackend};
use smx_control::{Action, Client, ControlBackend, Filter, Op, Selector};
use std::sync::Arc;

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ctl.sock");
    let backend: Arc<dyn ControlBackend> = Arc::new(FakeBackend::new(entries(100_000)));
    let listener = rt
        .block_on(async { tokio::net::UnixListener::bind(&path) })
        .unwrap();
    rt.spawn(smx_control::serve_listener(listener, backend));
    let mut client = rt.block_on(Client::connect(&path)).unwrap();
    let mut g = c.benchmark_group("queue.list 100k");
    g.sample_size(20);
    g.bench_function("page of 100", |b| {
        b.iter(|| {
            rt.block_on(client.call(Op::List {
                filter: Filter::default(),
                offset: 50_000,
                limit: Some(100),
            }))
            .unwrap()
        })
    });
    g.bench_function("domain glob, page of 100", |b| {
        b.iter(|| {
            rt.block_on(client.call(Op::List {
                filter: Filter {
                    domain: Some("*.example".into()),
                    reason: Some("timed out".into()),
                    ..Filter::default()
                },
                offset: 0,
                limit: Some(100),
            }))
            .unwrap()
        })
    });
    g.bench_function("delete dry run by domain", |b| {
        b.iter(|| {
            rt.block_on(client.call(Op::Delete(Action {
                selector: Selector::Filter(Filter {
                    domain: Some("down.example".into()),
                    ..Filter::default()
                }),
                dry_run: true,
            })))
            .unwrap()
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

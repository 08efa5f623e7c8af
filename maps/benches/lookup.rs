//! Random lookups in a 1,000,000-entry hash map (the access map of
//! `bench/maps.sh`): exact `DbMap::get` of existing keys, of missing keys,
//! and a full §3.12.1 address lookup (`to:user+x@dept.example.org`).
//! Goal: at least 500,000 exact lookups per second on one core.
//!
//!   cargo bench -p smx-maps --bench lookup

// `criterion_group!` defines an undocumented public function.
#![allow(missing_docs)]

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use smx_maps::db::{Db, DbType, OpenOptions};
use smx_maps::dbmap::DbMap;
use smx_maps::lookup::{self, AddressOptions};
use std::path::Path;

const ENTRIES: u64 = 1_000_000;

fn key(i: u64) -> String {
    match i % 4 {
        0 => format!("to:user{i}@dept{}.example.org", i % 997),
        1 => format!("from:@spam{i}.example.net"),
        2 => format!(
            "cltaddr:10.{}.{}.{}",
            (i >> 16) & 255,
            (i >> 8) & 255,
            i & 255
        ),
        _ => format!("to:list{i}@lists.example.org"),
    }
}

fn build(path: &Path) {
    let mut o = OpenOptions::create(DbType::Hash);
    o.expected_entries = Some(ENTRIES as u32);
    o.cache_size = Some(256 << 20);
    let db = Db::open(path, &o).unwrap_or_else(|e| panic!("{e}"));
    for i in 0..ENTRIES {
        db.put(key(i).as_bytes(), b"relay", true)
            .unwrap_or_else(|e| panic!("{e}"));
    }
    db.close().unwrap_or_else(|e| panic!("{e}"));
}

/// xorshift: a cheap, reproducible stream of indices.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn bench(c: &mut Criterion) {
    let dir = std::env::temp_dir().join(format!("smx-maps-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let path = dir.join("access.db");
    build(&path);
    let map = DbMap::open(&path, DbType::Hash).unwrap_or_else(|e| panic!("{e}"));
    let keys: Vec<String> = {
        let mut r = Rng(88172645463325252);
        (0..100_000).map(|_| key(r.next() % ENTRIES)).collect()
    };

    let mut g = c.benchmark_group("hash_1M");
    g.throughput(Throughput::Elements(keys.len() as u64));
    g.sample_size(20);
    g.bench_function("get_existing_100k", |b| {
        b.iter(|| {
            for k in &keys {
                let v = smx_maps::Map::get(&map, k).unwrap_or(None);
                assert!(v.is_some());
            }
        })
    });
    let missing: Vec<String> = keys.iter().map(|k| format!("{k}.missing")).collect();
    g.bench_function("get_missing_100k", |b| {
        b.iter(|| {
            for k in &missing {
                let v = smx_maps::Map::get(&map, k).unwrap_or(None);
                assert!(v.is_none());
            }
        })
    });
    g.finish();

    let mut g = c.benchmark_group("address_order");
    g.throughput(Throughput::Elements(1));
    let opts = AddressOptions::default();
    g.bench_function("to_user_detail_subdomain", |b| {
        b.iter_batched(
            || (),
            |_| lookup::lookup(&map, "user7+x@a.dept7.example.org", Some("to"), &opts),
            BatchSize::SmallInput,
        )
    });
    g.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, bench);
criterion_main!(benches);

//! Tests of the Berkeley DB wrapper `smx_maps::db` and of `DbMap`
//! (README §3.9: hash and btree maps): writes, lookups, iteration, reopen,
//! refusal of foreign files, and lookups shared by threads.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use smx_maps::db::{Db, DbType, OpenOptions};
use smx_maps::dbmap::DbMap;
use smx_maps::{Map, MapError};

/// A scratch directory removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "smx-maps-db-{}-{}-{name}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    fn path(&self, file: &str) -> PathBuf {
        self.0.join(file)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const BOTH: [DbType; 2] = [DbType::Hash, DbType::Btree];

fn name(db_type: DbType) -> &'static str {
    match db_type {
        DbType::Hash => "hash",
        DbType::Btree => "btree",
    }
}

fn all_entries(db: &Db) -> BTreeMap<Vec<u8>, Vec<u8>> {
    db.iter().unwrap().map(|entry| entry.unwrap()).collect()
}

#[test]
fn put_get_overwrite_delete() {
    for db_type in BOTH {
        let dir = Scratch::new(name(db_type));
        let path = dir.path("map.db");
        let db = Db::open(&path, &OpenOptions::create(db_type)).unwrap();
        assert_eq!(db.path(), path.as_path());

        assert_eq!(db.get(b"postmaster").unwrap(), None);
        assert!(db.put(b"postmaster", b"root", true).unwrap());
        assert_eq!(db.get(b"postmaster").unwrap(), Some(b"root".to_vec()));

        // DB_NOOVERWRITE: refused, old value kept.
        assert!(!db.put(b"postmaster", b"other", false).unwrap());
        assert_eq!(db.get(b"postmaster").unwrap(), Some(b"root".to_vec()));
        // Overwrite.
        assert!(db.put(b"postmaster", b"admin", true).unwrap());
        assert_eq!(db.get(b"postmaster").unwrap(), Some(b"admin".to_vec()));
        // A new key with overwrite=false is stored.
        assert!(db.put(b"abuse", b"root", false).unwrap());

        // Empty values, binary bytes and NUL-terminated keys are data like
        // any other.
        assert!(db.put(b"empty", b"", true).unwrap());
        assert_eq!(db.get(b"empty").unwrap(), Some(Vec::new()));
        assert!(db.put(b"bin\0", b"\xff\x00\x01", true).unwrap());
        assert_eq!(db.get(b"bin\0").unwrap(), Some(b"\xff\x00\x01".to_vec()));
        assert_eq!(db.get(b"bin").unwrap(), None);

        assert!(db.delete(b"abuse").unwrap());
        assert!(!db.delete(b"abuse").unwrap());
        assert_eq!(db.get(b"abuse").unwrap(), None);

        db.sync().unwrap();
        db.close().unwrap();
    }
}

#[test]
fn large_values_round_trip() {
    for db_type in BOTH {
        let dir = Scratch::new(name(db_type));
        let path = dir.path("map.db");
        let db = Db::open(&path, &OpenOptions::create(db_type)).unwrap();
        // Bigger than a page: stored on overflow pages.
        let big: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        db.put(b"big", &big, true).unwrap();
        assert_eq!(db.get(b"big").unwrap(), Some(big.clone()));
        let entries = all_entries(&db);
        assert_eq!(entries.get(b"big".as_slice()), Some(&big));
    }
}

#[test]
fn iterate_all_entries() {
    for db_type in BOTH {
        let dir = Scratch::new(name(db_type));
        let db = Db::open(&dir.path("map.db"), &OpenOptions::create(db_type)).unwrap();
        let mut expected = BTreeMap::new();
        for i in 0..500u32 {
            let key = format!("key{i:04}").into_bytes();
            let value = format!("value {i}").into_bytes();
            db.put(&key, &value, true).unwrap();
            expected.insert(key, value);
        }
        let listed: Vec<(Vec<u8>, Vec<u8>)> = db.iter().unwrap().map(|e| e.unwrap()).collect();
        assert_eq!(listed.len(), expected.len());
        if db_type == DbType::Btree {
            // A btree iterates in key order.
            let keys: Vec<&Vec<u8>> = listed.iter().map(|(k, _)| k).collect();
            let sorted: Vec<&Vec<u8>> = expected.keys().collect();
            assert_eq!(keys, sorted);
        }
        let listed: BTreeMap<_, _> = listed.into_iter().collect();
        assert_eq!(listed, expected);
    }
}

#[test]
fn empty_database_iterates_nothing() {
    for db_type in BOTH {
        let dir = Scratch::new(name(db_type));
        let db = Db::open(&dir.path("map.db"), &OpenOptions::create(db_type)).unwrap();
        assert_eq!(db.iter().unwrap().count(), 0);
    }
}

#[test]
fn delete_while_iterating() {
    for db_type in BOTH {
        let dir = Scratch::new(name(db_type));
        let db = Db::open(&dir.path("map.db"), &OpenOptions::create(db_type)).unwrap();
        for i in 0..50u32 {
            db.put(format!("k{i}").as_bytes(), b"v", true).unwrap();
        }
        // The wrapper holds its lock per step, not per iteration: a thread
        // may write between steps without deadlocking.
        let mut iter = db.iter().unwrap();
        let (first, _) = iter.next().unwrap().unwrap();
        assert!(db.delete(&first).unwrap());
        drop(iter);
        assert_eq!(db.get(&first).unwrap(), None);
        assert_eq!(db.iter().unwrap().count(), 49);
    }
}

#[test]
fn close_and_reopen_keeps_data() {
    for db_type in BOTH {
        let dir = Scratch::new(name(db_type));
        let path = dir.path("map.db");
        {
            let db = Db::open(&path, &OpenOptions::create(db_type)).unwrap();
            db.put(b"a", b"1", true).unwrap();
            db.put(b"b", b"2", true).unwrap();
            db.close().unwrap();
        }
        {
            // Drop closes (and flushes) too.
            let db = Db::open(&path, &OpenOptions::read(db_type)).unwrap();
            assert_eq!(db.get(b"a").unwrap(), Some(b"1".to_vec()));
            assert_eq!(db.get(b"b").unwrap(), Some(b"2".to_vec()));
            assert_eq!(db.iter().unwrap().count(), 2);
            // Read-only: writes fail with an error naming the operation.
            match db.put(b"c", b"3", true) {
                Err(MapError::Db {
                    path: p, message, ..
                }) => {
                    assert_eq!(p, path);
                    assert!(message.starts_with("put: "), "{message}");
                }
                other => panic!("put on a read-only db: {other:?}"),
            }
        }
        {
            // Written through a handle that is only dropped.
            let options = OpenOptions {
                truncate: false,
                create: false,
                ..OpenOptions::create(db_type)
            };
            let db = Db::open(&path, &options).unwrap();
            db.put(b"c", b"3", true).unwrap();
        }
        let db = Db::open(&path, &OpenOptions::read(db_type)).unwrap();
        assert_eq!(db.get(b"c").unwrap(), Some(b"3".to_vec()));
        drop(db);

        // create() truncates.
        let db = Db::open(&path, &OpenOptions::create(db_type)).unwrap();
        assert_eq!(db.iter().unwrap().count(), 0);
        db.close().unwrap();
    }
}

#[test]
fn cache_size_and_expected_entries_are_accepted() {
    for db_type in BOTH {
        let dir = Scratch::new(name(db_type));
        let path = dir.path("map.db");
        let options = OpenOptions {
            cache_size: Some(4 * 1024 * 1024),
            expected_entries: Some(10_000),
            ..OpenOptions::create(db_type)
        };
        let db = Db::open(&path, &options).unwrap();
        for i in 0..2_000u32 {
            db.put(format!("user{i}@example.org").as_bytes(), b"OK", true)
                .unwrap();
        }
        db.close().unwrap();
        let options = OpenOptions {
            cache_size: Some(1024 * 1024),
            ..OpenOptions::read(db_type)
        };
        let db = Db::open(&path, &options).unwrap();
        assert_eq!(
            db.get(b"user1999@example.org").unwrap(),
            Some(b"OK".to_vec())
        );
    }
}

#[test]
fn created_file_has_requested_mode() {
    use std::os::unix::fs::PermissionsExt;
    let dir = Scratch::new("mode");
    let path = dir.path("map.db");
    let options = OpenOptions {
        mode: 0o600,
        ..OpenOptions::create(DbType::Hash)
    };
    Db::open(&path, &options).unwrap().close().unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
}

fn assert_db_error(result: Result<Db, MapError>, path: &Path) -> String {
    match result {
        Err(MapError::Db {
            path: p,
            message,
            code,
        }) => {
            assert_eq!(p, path);
            assert!(message.starts_with("open: "), "{message}");
            assert_ne!(code, 0);
            message
        }
        Err(other) => panic!("expected MapError::Db, got {other:?}"),
        Ok(_) => panic!("{} opened", path.display()),
    }
}

#[test]
fn missing_file_is_an_error() {
    let dir = Scratch::new("missing");
    let path = dir.path("nothing.db");
    for db_type in BOTH {
        let message = assert_db_error(Db::open(&path, &OpenOptions::read(db_type)), &path);
        assert!(message.contains("No such file"), "{message}");
        assert!(DbMap::open(&path, db_type).is_err());
    }
    assert!(!path.exists());
}

#[test]
fn text_file_is_an_error() {
    let dir = Scratch::new("text");
    let path = dir.path("aliases");
    let text = "postmaster: root\n".repeat(1000);
    std::fs::write(&path, &text).unwrap();
    for db_type in BOTH {
        assert_db_error(Db::open(&path, &OpenOptions::read(db_type)), &path);
        assert!(DbMap::open(&path, db_type).is_err());
    }
    // Left as it was.
    assert_eq!(std::fs::read_to_string(&path).unwrap(), text);

    // Short and empty files too.
    std::fs::write(&path, "x").unwrap();
    assert_db_error(Db::open(&path, &OpenOptions::read(DbType::Hash)), &path);
}

#[test]
fn wrong_access_method_is_an_error() {
    let dir = Scratch::new("wrong");
    for (written, read) in [(DbType::Btree, DbType::Hash), (DbType::Hash, DbType::Btree)] {
        let path = dir.path(name(written));
        let db = Db::open(&path, &OpenOptions::create(written)).unwrap();
        db.put(b"k", b"v", true).unwrap();
        db.close().unwrap();
        assert_db_error(Db::open(&path, &OpenOptions::read(read)), &path);
        assert!(Db::open(&path, &OpenOptions::read(written)).is_ok());
    }
}

#[test]
fn path_with_nul_is_an_error() {
    let path = PathBuf::from("map\0.db");
    assert!(matches!(
        Db::open(&path, &OpenOptions::create(DbType::Hash)),
        Err(MapError::Db { .. })
    ));
}

#[test]
fn concurrent_gets_from_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Db>();
    assert_send_sync::<DbMap>();

    for db_type in BOTH {
        let dir = Scratch::new(name(db_type));
        let path = dir.path("map.db");
        let db = Db::open(&path, &OpenOptions::create(db_type)).unwrap();
        for i in 0..1_000u32 {
            db.put(
                format!("key{i}").as_bytes(),
                format!("value{i}").as_bytes(),
                true,
            )
            .unwrap();
        }
        db.close().unwrap();

        let db = Arc::new(Db::open(&path, &OpenOptions::read(db_type)).unwrap());
        let threads: Vec<_> = (0..8u32)
            .map(|t| {
                let db = Arc::clone(&db);
                std::thread::spawn(move || {
                    for round in 0..5u32 {
                        for i in 0..1_000u32 {
                            let i = (i + t * 97 + round) % 1_000;
                            let got = db.get(format!("key{i}").as_bytes()).unwrap();
                            assert_eq!(got, Some(format!("value{i}").into_bytes()));
                        }
                        assert_eq!(db.get(b"absent").unwrap(), None);
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
    }
}

#[test]
fn concurrent_readers_and_a_writer() {
    let dir = Scratch::new("rw");
    let db = Arc::new(Db::open(&dir.path("map.db"), &OpenOptions::create(DbType::Hash)).unwrap());
    db.put(b"fixed", b"value", true).unwrap();
    let writer = {
        let db = Arc::clone(&db);
        std::thread::spawn(move || {
            for i in 0..2_000u32 {
                db.put(format!("w{i}").as_bytes(), b"x", true).unwrap();
            }
        })
    };
    let readers: Vec<_> = (0..3)
        .map(|_| {
            let db = Arc::clone(&db);
            std::thread::spawn(move || {
                for _ in 0..2_000 {
                    assert_eq!(db.get(b"fixed").unwrap(), Some(b"value".to_vec()));
                }
                // An iteration concurrent with the writer ends cleanly.
                for entry in db.iter().unwrap() {
                    entry.unwrap();
                }
            })
        })
        .collect();
    writer.join().unwrap();
    for reader in readers {
        reader.join().unwrap();
    }
    assert_eq!(db.iter().unwrap().count(), 2_001);
}

#[test]
fn dbmap_reads_keys_with_and_without_nul() {
    for db_type in BOTH {
        for nul in [false, true] {
            let dir = Scratch::new(name(db_type));
            let path = dir.path("map.db");
            let db = Db::open(&path, &OpenOptions::create(db_type)).unwrap();
            // sendmail makemap style, or Postfix postmap style (NUL-terminated).
            let z = |s: &str| {
                let mut v = s.as_bytes().to_vec();
                if nul {
                    v.push(0);
                }
                v
            };
            db.put(&z("example.com"), &z("OK"), true).unwrap();
            db.put(&z("example.net"), &z("REJECT"), true).unwrap();
            // Not UTF-8 (Latin-1).
            let mut latin = b"J\xf6rg".to_vec();
            if nul {
                latin.push(0);
            }
            db.put(&z("latin"), &latin, true).unwrap();
            db.close().unwrap();

            let map = DbMap::open(&path, db_type).unwrap();
            assert_eq!(map.get("example.com").unwrap().as_deref(), Some("OK"));
            assert_eq!(map.get("example.net").unwrap().as_deref(), Some("REJECT"));
            assert_eq!(map.get("latin").unwrap().as_deref(), Some("J\u{fffd}rg"));
            assert_eq!(map.get("example.org").unwrap(), None);
            // Exact lookups: no folding in the map itself.
            assert_eq!(map.get("EXAMPLE.COM").unwrap(), None);
            assert_eq!(map.db().iter().unwrap().count(), 3);
        }
    }
}

/// The style of a map is learnt from its first record; an empty map tries
/// both forms (it may be rebuilt by either tool while it is open elsewhere).
#[test]
fn dbmap_of_an_empty_map_finds_nothing_either_way() {
    let dir = Scratch::new("empty");
    let path = dir.path("map.db");
    Db::open(&path, &OpenOptions::create(DbType::Hash))
        .unwrap()
        .close()
        .unwrap();
    let map = DbMap::open(&path, DbType::Hash).unwrap();
    assert_eq!(map.get("anything").unwrap(), None);
}

//! Compatibility of smx hash/btree map files (README §3.9) with the real
//! tools: Postfix's `postmap`, sendmail 8's `makemap` and Berkeley DB's
//! `db5.3_dump`.
//!
//! - A map built by `postmap` (keys and values NUL-terminated) and one built
//!   by `makemap` (no NUL) both read through `DbMap`.
//! - A file written through `Db` is listed by `db5.3_dump -p` and by
//!   `makemap -u`, and, written with NUL-terminated keys and values, is
//!   answered by `postmap -q` and listed by `postmap -s`.
//!
//! Setup for CI (Debian 12; `.ci/run`):
//!
//! ```sh
//! apt-get update
//! apt-get install -y db5.3-util
//! echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
//! DEBIAN_FRONTEND=noninteractive apt-get install -y postfix
//! # makemap's shared libraries (usually present already):
//! apt-get install -y libdb5.3 libldap-2.5-0 libsasl2-2 libgnutls30
//! # sendmail-bin conflicts with postfix: unpack it into a scratch folder.
//! export SMX_MAKEMAP=$(sh maps/tests/get-makemap.sh "$SCRATCH/sendmail")
//! CI=1 cargo test -p smx-maps --test compat
//! ```
//!
//! Tools are looked up on `PATH` (and in `/usr/sbin`, `/sbin`, which are
//! often not on a user's `PATH`); `makemap` is `$SMX_MAKEMAP` when set. A
//! missing tool skips the test with a message, and fails it when `CI` is
//! set: CI installs every tool, so a skip there means the work is not done.
//!
//! The tools run without any system configuration: `postmap -c DIR` with an
//! empty `main.cf`, `makemap -C EMPTY.cf` with an empty `sendmail.cf`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use smx_maps::db::{Db, DbType, OpenOptions};
use smx_maps::dbmap::DbMap;
use smx_maps::Map;

/// How long any one tool may run.
const TOOL_TIMEOUT: Duration = Duration::from_secs(60);

/// A scratch directory removed on drop, with empty configurations for the
/// tools.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "smx-maps-compat-{}-{}-{name}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("postfix")).unwrap();
        std::fs::write(dir.join("postfix/main.cf"), "").unwrap();
        std::fs::write(dir.join("empty.cf"), "").unwrap();
        Scratch(dir)
    }

    fn path(&self, file: &str) -> PathBuf {
        self.0.join(file)
    }

    /// `postmap -c DIR`: Postfix reads `DIR/main.cf` instead of
    /// /etc/postfix/main.cf, which need not exist.
    fn postfix_config(&self) -> PathBuf {
        self.0.join("postfix")
    }

    /// `makemap -C FILE`: without it makemap fails (exit 66) when
    /// /etc/mail/sendmail.cf does not exist.
    fn sendmail_config(&self) -> PathBuf {
        self.0.join("empty.cf")
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn in_ci() -> bool {
    std::env::var_os("CI").is_some()
}

/// Skip (or, in CI, fail) a test whose tool is missing.
fn missing(tool: &str, hint: &str) -> Option<PathBuf> {
    let message = format!("{tool} not found ({hint})");
    if in_ci() {
        panic!("{message}; CI must install it");
    }
    eprintln!("SKIPPED: {message}");
    None
}

fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin"].iter().map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

fn postmap() -> Option<PathBuf> {
    find_on_path("postmap").or_else(|| missing("postmap", "apt-get install postfix"))
}

fn db_dump() -> Option<PathBuf> {
    find_on_path("db5.3_dump").or_else(|| missing("db5.3_dump", "apt-get install db5.3-util"))
}

fn makemap() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("SMX_MAKEMAP") {
        let path = PathBuf::from(path);
        if path.is_file() {
            return Some(path);
        }
        return missing(
            &format!("makemap at SMX_MAKEMAP={}", path.display()),
            "sh maps/tests/get-makemap.sh DIR",
        );
    }
    find_on_path("makemap").or_else(|| {
        missing(
            "makemap",
            "set SMX_MAKEMAP=$(sh maps/tests/get-makemap.sh DIR)",
        )
    })
}

struct Output {
    status: std::process::ExitStatus,
    stdout: String,
    stderr: String,
}

/// Run a tool with `stdin`, within [`TOOL_TIMEOUT`], from `dir`.
fn run(program: &Path, args: &[&std::ffi::OsStr], stdin: &[u8], dir: &Path) -> Output {
    let mut child = Command::new(program)
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{}: {e}", program.display()));
    let mut input = child.stdin.take().unwrap();
    let stdin = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(&stdin);
    });
    let mut out = child.stdout.take().unwrap();
    let stdout = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = out.read_to_end(&mut buf);
        buf
    });
    let mut err = child.stderr.take().unwrap();
    let stderr = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = err.read_to_end(&mut buf);
        buf
    });
    let deadline = Instant::now() + TOOL_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{} {args:?} ran longer than {TOOL_TIMEOUT:?}",
                program.display()
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    writer.join().unwrap();
    Output {
        status,
        stdout: String::from_utf8_lossy(&stdout.join().unwrap()).into_owned(),
        stderr: String::from_utf8_lossy(&stderr.join().unwrap()).into_owned(),
    }
}

/// Run a tool that must succeed.
fn run_ok(program: &Path, args: &[&std::ffi::OsStr], stdin: &[u8], dir: &Path) -> String {
    let output = run(program, args, stdin, dir);
    assert!(
        output.status.success(),
        "{} {args:?}: {}\nstdout: {}\nstderr: {}",
        program.display(),
        output.status,
        output.stdout,
        output.stderr
    );
    output.stdout
}

fn os(s: &str) -> &std::ffi::OsStr {
    std::ffi::OsStr::new(s)
}

const BOTH: [DbType; 2] = [DbType::Hash, DbType::Btree];

fn type_name(db_type: DbType) -> &'static str {
    match db_type {
        DbType::Hash => "hash",
        DbType::Btree => "btree",
    }
}

/// A small access map source, the same for both tools (whitespace between
/// key and value; both tools fold keys to lower case by default).
const SOURCE: &str = "\
example.com OK
Spammer.Example REJECT
192.0.2 RELAY
user@example.org ERROR:550 5.7.1 go away
";

/// What a reader must find for [`SOURCE`] (keys folded).
const EXPECTED: [(&str, &str); 4] = [
    ("example.com", "OK"),
    ("spammer.example", "REJECT"),
    ("192.0.2", "RELAY"),
    ("user@example.org", "ERROR:550 5.7.1 go away"),
];

fn entries(db: &Db) -> BTreeSet<(Vec<u8>, Vec<u8>)> {
    db.iter().unwrap().map(|e| e.unwrap()).collect()
}

#[test]
fn postmap_map_reads_through_dbmap() {
    let Some(postmap) = postmap() else { return };
    for db_type in BOTH {
        let dir = Scratch::new(type_name(db_type));
        let source = dir.path("access");
        std::fs::write(&source, SOURCE).unwrap();
        let map_arg = format!("{}:{}", type_name(db_type), source.display());
        let config = dir.postfix_config();
        run_ok(
            &postmap,
            &[os("-c"), config.as_os_str(), os(&map_arg)],
            b"",
            &dir.0,
        );

        let file = dir.path("access.db");
        let map = DbMap::open(&file, db_type).unwrap();
        for (key, value) in EXPECTED {
            assert_eq!(map.get(key).unwrap().as_deref(), Some(value), "{key}");
        }
        assert_eq!(map.get("example.net").unwrap(), None);

        // Postfix's convention, seen raw: key and value end in NUL.
        let db = map.db();
        assert_eq!(db.get(b"example.com").unwrap(), None);
        assert_eq!(db.get(b"example.com\0").unwrap(), Some(b"OK\0".to_vec()));
        assert_eq!(entries(db).len(), EXPECTED.len());
        for (key, value) in entries(db) {
            assert_eq!(key.last(), Some(&0), "{key:?}");
            assert_eq!(value.last(), Some(&0), "{value:?}");
        }

        // The other access method is refused, not misread.
        let other = match db_type {
            DbType::Hash => DbType::Btree,
            DbType::Btree => DbType::Hash,
        };
        assert!(DbMap::open(&file, other).is_err());
    }
}

#[test]
fn makemap_map_reads_through_dbmap() {
    let Some(makemap) = makemap() else { return };
    for db_type in BOTH {
        let dir = Scratch::new(type_name(db_type));
        let file = dir.path("access.db");
        let config = dir.sendmail_config();
        // makemap appends ".db" itself when the name lacks it.
        run_ok(
            &makemap,
            &[
                os("-C"),
                config.as_os_str(),
                os(type_name(db_type)),
                dir.path("access").as_os_str(),
            ],
            SOURCE.as_bytes(),
            &dir.0,
        );

        let map = DbMap::open(&file, db_type).unwrap();
        for (key, value) in EXPECTED {
            assert_eq!(map.get(key).unwrap().as_deref(), Some(value), "{key}");
        }
        assert_eq!(map.get("example.net").unwrap(), None);

        // sendmail's convention, seen raw: no NUL anywhere.
        let db = map.db();
        assert_eq!(db.get(b"example.com").unwrap(), Some(b"OK".to_vec()));
        let expected: BTreeSet<(Vec<u8>, Vec<u8>)> = EXPECTED
            .iter()
            .map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec()))
            .collect();
        assert_eq!(entries(db), expected);
    }
}

/// Write [`EXPECTED`] through `Db`, with or without the Postfix NUL.
fn write_expected(file: &Path, db_type: DbType, with_nul: bool) {
    let db = Db::open(file, &OpenOptions::create(db_type)).unwrap();
    for (key, value) in EXPECTED {
        let mut key = key.as_bytes().to_vec();
        let mut value = value.as_bytes().to_vec();
        if with_nul {
            key.push(0);
            value.push(0);
        }
        assert!(db.put(&key, &value, false).unwrap());
    }
    db.close().unwrap();
}

/// The key/value pairs of `db5.3_dump -p` output.
fn parse_db_dump(dump: &str) -> BTreeSet<(String, String)> {
    let data: Vec<&str> = dump
        .lines()
        .skip_while(|line| *line != "HEADER=END")
        .skip(1)
        .take_while(|line| *line != "DATA=END")
        .collect();
    assert_eq!(data.len() % 2, 0, "odd number of data lines: {dump}");
    data.chunks(2)
        .map(|pair| {
            let key = pair[0].strip_prefix(' ').unwrap_or(pair[0]);
            let value = pair[1].strip_prefix(' ').unwrap_or(pair[1]);
            (key.to_string(), value.to_string())
        })
        .collect()
}

fn expected_strings(suffix: &str) -> BTreeSet<(String, String)> {
    EXPECTED
        .iter()
        .map(|(k, v)| (format!("{k}{suffix}"), format!("{v}{suffix}")))
        .collect()
}

#[test]
fn db_file_is_listed_by_db_dump() {
    let Some(db_dump) = db_dump() else { return };
    for db_type in BOTH {
        let dir = Scratch::new(type_name(db_type));
        let file = dir.path("access.db");
        write_expected(&file, db_type, false);
        let dump = run_ok(&db_dump, &[os("-p"), file.as_os_str()], b"", &dir.0);
        assert!(
            dump.contains(&format!("type={}", type_name(db_type))),
            "{dump}"
        );
        assert_eq!(parse_db_dump(&dump), expected_strings(""));

        // With the Postfix NUL, db_dump shows it as "\00".
        write_expected(&file, db_type, true);
        let dump = run_ok(&db_dump, &[os("-p"), file.as_os_str()], b"", &dir.0);
        assert_eq!(parse_db_dump(&dump), expected_strings("\\00"));
    }
}

#[test]
fn db_file_is_dumped_by_makemap() {
    let Some(makemap) = makemap() else { return };
    for db_type in BOTH {
        let dir = Scratch::new(type_name(db_type));
        let file = dir.path("access.db");
        write_expected(&file, db_type, false);
        let config = dir.sendmail_config();
        let dump = run_ok(
            &makemap,
            &[
                os("-C"),
                config.as_os_str(),
                os("-u"),
                os(type_name(db_type)),
                file.as_os_str(),
            ],
            b"",
            &dir.0,
        );
        // makemap -u prints "key<TAB>value" lines.
        let listed: BTreeSet<(String, String)> = dump
            .lines()
            .map(|line| {
                let (key, value) = line
                    .split_once('\t')
                    .unwrap_or_else(|| panic!("no tab in {line:?}"));
                (key.to_string(), value.to_string())
            })
            .collect();
        assert_eq!(listed, expected_strings(""));
    }
}

#[test]
fn db_file_with_nul_keys_is_read_by_postmap() {
    let Some(postmap) = postmap() else { return };
    for db_type in BOTH {
        let dir = Scratch::new(type_name(db_type));
        let base = dir.path("access");
        write_expected(&dir.path("access.db"), db_type, true);
        let map_arg = format!("{}:{}", type_name(db_type), base.display());
        let config = dir.postfix_config();
        for (key, value) in EXPECTED {
            let answer = run_ok(
                &postmap,
                &[
                    os("-c"),
                    config.as_os_str(),
                    os("-q"),
                    os(key),
                    os(&map_arg),
                ],
                b"",
                &dir.0,
            );
            assert_eq!(answer.trim_end_matches('\n'), value, "{key}");
        }
        // A key that is not there: exit status 1, no output.
        let absent = run(
            &postmap,
            &[
                os("-c"),
                config.as_os_str(),
                os("-q"),
                os("example.net"),
                os(&map_arg),
            ],
            b"",
            &dir.0,
        );
        assert_eq!(absent.status.code(), Some(1), "{}", absent.stderr);
        assert_eq!(absent.stdout, "");

        // postmap -s lists every entry as "key<TAB>value", NULs stripped.
        let listing = run_ok(
            &postmap,
            &[os("-c"), config.as_os_str(), os("-s"), os(&map_arg)],
            b"",
            &dir.0,
        );
        let listed: BTreeSet<(String, String)> = listing
            .lines()
            .filter_map(|line| line.split_once('\t'))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(listed, expected_strings(""));
    }
}

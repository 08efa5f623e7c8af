//! createmap end to end: the real binary builds, checks, queries, looks up
//! and dumps maps; bad lines are reported with their numbers and leave the
//! old map in place; the map file is replaced atomically.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        let n = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let p = std::env::temp_dir().join(format!("createmap-{tag}-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn createmap(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_createmap"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        let mut input = child.stdin.take().unwrap();
        if let Some(s) = stdin {
            input.write_all(s.as_bytes()).unwrap();
        }
    }
    child.wait_with_output().unwrap()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

const ACCESS: &str = "\
# access map of README §3.9.3
cltresolve:tempptr error:451 4.7.1 reverse lookup failed
mxbadip:127.0.0.1 error:551 5.7.1 Bad IP address 127.0.0.1 in MX/A list
from:@spammer.domain error:551 5.7.1 No spammers
from:@.spammer.domain error:551 5.7.1 No spammers in subdomains either
to:root error:551 5.7.1 No mail to root
to:abuse quick:ok
cltaddr:10 error:551 5.7.1 No direct mail from 10.x.y.z
cltname:spammer.domain quick:error:551 5.7.1 No mail from spammers
To:@Primary.Domain relay
cltaddr:127.0.0.1 quick:relay
";

#[test]
fn builds_queries_and_dumps_an_access_map() {
    let dir = TempDir::new("access");
    let map = dir.path("access");
    let src = dir.path("access.txt");
    std::fs::write(&src, ACCESS).unwrap();
    let o = createmap(&["-k", "access", s(&map), s(&src)], None);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("10 entries"), "{}", stderr(&o));
    assert!(dir.path("access.db").exists());

    // Keys are folded: `To:@Primary.Domain` is found as written in lower case.
    let o = createmap(&["-q", "to:@primary.domain", s(&map)], None);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(stdout(&o), "relay\n");
    // -q folds the key it is given too.
    let o = createmap(&["-q", "TO:@PRIMARY.DOMAIN", s(&map)], None);
    assert_eq!(stdout(&o), "relay\n");
    // Values keep their case.
    let o = createmap(&["-q", "to:abuse", s(&map)], None);
    assert_eq!(stdout(&o), "quick:ok\n");
    let o = createmap(&["-q", "to:nobody", s(&map)], None);
    assert_eq!(o.status.code(), Some(1));

    let o = createmap(&["-u", s(&map)], None);
    assert!(o.status.success());
    let mut lines: Vec<String> = stdout(&o).lines().map(String::from).collect();
    lines.sort();
    assert_eq!(lines.len(), 10);
    assert!(
        lines.contains(&"cltaddr:127.0.0.1\tquick:relay".to_string()),
        "{lines:?}"
    );
    assert!(lines.contains(&"to:@primary.domain\trelay".to_string()));
}

#[test]
fn reads_stdin_and_keeps_case_with_f() {
    let dir = TempDir::new("stdin");
    let map = dir.path("plain.db");
    let o = createmap(&["-f", s(&map)], Some("Key Value\nother x\n"));
    assert!(o.status.success(), "{}", stderr(&o));
    // `.db` is not doubled.
    assert!(map.exists());
    assert_eq!(
        stdout(&createmap(&["-f", "-q", "Key", s(&map)], None)),
        "Value\n"
    );
    assert_eq!(
        createmap(&["-q", "Key", s(&map)], None).status.code(),
        Some(1)
    );
}

#[test]
fn lookup_prints_every_key_tried() {
    let dir = TempDir::new("lookup");
    let map = dir.path("access");
    let o = createmap(
        &["-k", "access", s(&map)],
        Some("to:@.example.org relay\ncltaddr:10.1 ok\n"),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let o = createmap(
        &[
            "-k",
            "access",
            "--lookup",
            "to:user+x@a.example.org",
            s(&map),
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    let out = stdout(&o);
    let tried: Vec<&str> = out.lines().filter(|l| !l.starts_with("found")).collect();
    assert_eq!(tried[0], "  to:user+x@a.example.org");
    assert_eq!(tried[1], "  to:user++@a.example.org");
    assert_eq!(tried[2], "  to:user+*@a.example.org");
    assert_eq!(tried[3], "  to:user*@a.example.org");
    // Step 1e (`user@domain`) does not match an address with +detail
    // unless implicitly_match_detail is set, so it is not tried.
    assert_eq!(tried[4], "  to:@a.example.org");
    assert_eq!(tried[5], "  to:user+x@.example.org");
    assert!(out.contains("* to:@.example.org"), "{out}");
    assert!(out.contains("found: to:@.example.org\trelay"), "{out}");

    let o = createmap(&["--lookup", "cltaddr:10.1.2.3", s(&map)], None);
    let out = stdout(&o);
    assert!(
        out.starts_with("  cltaddr:10.1.2.3\n  cltaddr:10.1.2\n* cltaddr:10.1\n"),
        "{out}"
    );

    let o = createmap(&["--lookup", "cltaddr:192.168.1.1", s(&map)], None);
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).ends_with("not found\n"));
}

#[test]
fn mailertable_lookup_ends_with_the_default_entry() {
    let dir = TempDir::new("mt");
    let map = dir.path("mt");
    let src = "localhost lmtp:\nSPAM.FILTER.DOMAIN 2525^esmtp:[127.0.0.1]\n. esmtp:SMART.HOST\n";
    let o = createmap(&["-k", "mailertable", s(&map)], Some(src));
    assert!(o.status.success(), "{}", stderr(&o));
    let o = createmap(
        &["-k", "mailertable", "--lookup", "a.b.example", s(&map)],
        None,
    );
    assert_eq!(
        stdout(&o),
        "  a.b.example\n  .b.example\n  .example\n* .\nfound: .\tesmtp:SMART.HOST\n"
    );
}

/// Thirty-odd bad lines: every one is reported with its line number, the
/// exit code is 65 and no map is written.
#[test]
fn check_reports_every_bad_line() {
    let bad = [
        ("access", "frm:user@example.org ok"),
        ("access", "from:user@example.org"),
        ("access", "to:abuse okay"),
        ("access", "from:@spammer.domain relay"),
        ("access", "to:x error:550"),
        ("access", "to:x error:550 4.7.1 class mismatch"),
        ("access", "to:x error:250 2.0.0 not an error"),
        ("access", "to:x error:5x0 5.7.1 bad code"),
        ("access", "to:x quick:"),
        ("access", "to:x quick:maybe"),
        ("access", "cltaddr:10.300 ok"),
        ("access", "cltaddr:1.2.3.4.5 ok"),
        ("access", "mxbadip:example.org ok"),
        ("access", "cltresolve:maybe ok"),
        ("access", "protectedrcpt:list1 sender:<x@y>"),
        ("access", "protectedrcpt:list1 cltaddr:999.1"),
        ("access", "dnsbltld:notanip error:550 5.7.1 listed"),
        ("access", " to:leading whitespace ok"),
        ("aliases", "list: <a@b>, <c@d>"),
        ("aliases", "list: <a@b"),
        ("aliases", "list: user@example.org other@example.org"),
        ("aliases", "nocolon value"),
        ("mailertable", "example.org smtp:[10.1.2.3]"),
        ("mailertable", "example.org esmtp:[10.1.2.300]"),
        ("mailertable", "example.org 99999^esmtp:[10.1.2.3]"),
        ("mailertable", "example.org lmtp:[10.1.2.3]"),
        ("mailertable", "exa_mple.org esmtp:host"),
        ("mailertable", "example.org esmtp:"),
        ("qmgr_conf", "oci:127.0.0.1 many"),
        ("qmgr_conf", "xyz:127.0.0.1 5"),
        ("qmgr_conf", "ocm:300.0.0.1 5"),
        ("qmgr_conf", "icr:10 -5"),
        ("plain", "keywithoutvalue"),
    ];
    assert!(bad.len() >= 30);
    let dir = TempDir::new("check");
    for kind in ["access", "aliases", "mailertable", "qmgr_conf", "plain"] {
        let lines: Vec<&str> = bad
            .iter()
            .filter(|(k, _)| *k == kind)
            .map(|(_, l)| *l)
            .collect();
        // A good line between every two bad ones: line numbers must be exact.
        // Good keys differ, so that they are not duplicates of each other.
        let good = |i: usize| match kind {
            "access" => format!("to:ok{i}@example.org ok"),
            "aliases" => format!("good{i}: <a@example.org>"),
            "mailertable" => format!("good{i}.example esmtp:[10.0.0.1]"),
            "qmgr_conf" => format!("oci:10.{i} 5"),
            _ => format!("good{i} value"),
        };
        let mut src = String::new();
        for (i, l) in lines.iter().enumerate() {
            src.push_str(&good(i));
            src.push('\n');
            src.push_str(l);
            src.push('\n');
        }
        let map = dir.path(kind);
        let o = createmap(&["--check", "-k", kind, s(&map)], Some(&src));
        assert_eq!(o.status.code(), Some(65), "{kind}: {}", stderr(&o));
        let err = stderr(&o);
        for (i, l) in lines.iter().enumerate() {
            let n = 2 * i + 2;
            assert!(
                err.contains(&format!("stdin:{n}: ")),
                "{kind}: line {n} ({l}) not reported:\n{err}"
            );
        }
        for (i, _) in lines.iter().enumerate() {
            let n = 2 * i + 1;
            assert!(
                !err.contains(&format!("stdin:{n}: ")),
                "{kind}: good line {n} reported:\n{err}"
            );
        }
        assert!(!dir.path(&format!("{kind}.db")).exists());
    }
}

#[test]
fn duplicates_are_errors_unless_r() {
    let dir = TempDir::new("dup");
    let map = dir.path("m");
    let o = createmap(&[s(&map)], Some("a 1\nb 2\nA 3\n"));
    assert_eq!(o.status.code(), Some(65));
    assert!(
        stderr(&o).contains("stdin:3: duplicate key \"a\""),
        "{}",
        stderr(&o)
    );
    let o = createmap(&["-r", s(&map)], Some("a 1\nb 2\nA 3\n"));
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&createmap(&["-q", "a", s(&map)], None)), "3\n");
}

#[test]
fn empty_values_need_e() {
    let dir = TempDir::new("empty");
    let map = dir.path("m");
    let o = createmap(&[s(&map)], Some("lonely\n"));
    assert_eq!(o.status.code(), Some(65));
    let o = createmap(&["-e", s(&map)], Some("lonely\n"));
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&createmap(&["-q", "lonely", s(&map)], None)), "\n");
}

#[test]
fn append_keeps_old_entries() {
    let dir = TempDir::new("append");
    let map = dir.path("m");
    assert!(createmap(&[s(&map)], Some("a 1\n")).status.success());
    let o = createmap(&["-o", s(&map)], Some("b 2\n"));
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&createmap(&["-q", "a", s(&map)], None)), "1\n");
    assert_eq!(stdout(&createmap(&["-q", "b", s(&map)], None)), "2\n");
    let o = createmap(&["-o", s(&map)], Some("a 9\n"));
    assert_eq!(o.status.code(), Some(65));
    assert!(createmap(&["-o", "-r", s(&map)], Some("a 9\n"))
        .status
        .success());
    assert_eq!(stdout(&createmap(&["-q", "a", s(&map)], None)), "9\n");
}

/// A failed build leaves the old map untouched and no temporary file; a
/// reader that opened the old map keeps reading it while a new one is
/// renamed into place.
#[test]
fn replacement_is_atomic() {
    let dir = TempDir::new("atomic");
    let map = dir.path("m");
    assert!(createmap(&[s(&map)], Some("a old\n")).status.success());
    let reader =
        smx_maps::dbmap::DbMap::open(&dir.path("m.db"), smx_maps::db::DbType::Hash).unwrap();

    let o = createmap(&[s(&map)], Some("a new\nbad\n"));
    assert_eq!(o.status.code(), Some(65));
    assert_eq!(stdout(&createmap(&["-q", "a", s(&map)], None)), "old\n");
    let leftovers: Vec<_> = std::fs::read_dir(&dir.0)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    assert!(createmap(&[s(&map)], Some("a new\n")).status.success());
    assert_eq!(stdout(&createmap(&["-q", "a", s(&map)], None)), "new\n");
    use smx_maps::Map;
    assert_eq!(reader.get("a").unwrap().as_deref(), Some("old"));
}

#[test]
fn nul_terminated_keys_with_n_are_read_either_way() {
    let dir = TempDir::new("nul");
    let map = dir.path("m");
    assert!(createmap(&["-N", s(&map)], Some("key value\n"))
        .status
        .success());
    assert_eq!(stdout(&createmap(&["-q", "key", s(&map)], None)), "value\n");
    let raw = smx_maps::db::Db::open(
        &dir.path("m.db"),
        &smx_maps::db::OpenOptions::read(smx_maps::db::DbType::Hash),
    )
    .unwrap();
    assert_eq!(raw.get(b"key\0").unwrap().as_deref(), Some(&b"value\0"[..]));
    assert_eq!(raw.get(b"key").unwrap(), None);
}

#[test]
fn btree_maps() {
    let dir = TempDir::new("btree");
    let map = dir.path("m");
    assert!(createmap(&["-t", "btree", s(&map)], Some("b 2\na 1\n"))
        .status
        .success());
    let o = createmap(&["-t", "btree", "-u", s(&map)], None);
    // A btree dumps in key order.
    assert_eq!(stdout(&o), "a\t1\nb\t2\n");
}

#[test]
fn usage_and_input_errors() {
    assert_eq!(createmap(&[], None).status.code(), Some(64));
    assert_eq!(createmap(&["-t", "dbm", "x"], None).status.code(), Some(64));
    let o = createmap(&["m", "/nonexistent/source"], None);
    assert_eq!(o.status.code(), Some(66));
    assert!(stderr(&o).contains("cannot read /nonexistent/source"));
    let o = createmap(&["-q", "x", "/nonexistent/map"], None);
    assert_eq!(o.status.code(), Some(66));
    let dir = TempDir::new("usage");
    let src = dir.path("latin1.txt");
    std::fs::write(&src, b"ok 1\n\xffbad 2\n").unwrap();
    let o = createmap(&[s(&dir.path("m")), s(&src)], None);
    assert_eq!(o.status.code(), Some(65));
    assert!(
        stderr(&o).contains("latin1.txt:2: not UTF-8"),
        "{}",
        stderr(&o)
    );
}

/// The map sources shipped with the quick start check clean.
#[test]
fn quick_start_map_sources_check_clean() {
    let etc = Path::new(env!("CARGO_MANIFEST_DIR")).join("../etc");
    for (kind, file) in [
        ("mailertable", "mt"),
        ("aliases", "aliases"),
        ("plain", "localusers"),
    ] {
        let src = etc.join(file);
        let o = createmap(&["--check", "-k", kind, "unused", s(&src)], None);
        assert_eq!(o.status.code(), Some(0), "{file}: {}", stderr(&o));
    }
}

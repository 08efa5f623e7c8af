//! createmap against the real tools: maps it builds are read by sendmail's
//! `makemap -u` and `praliases` (by default, no NUL) and by Postfix's
//! `postmap -q` (with `-N`), and listed by `db5.3_dump`; maps built by
//! `postmap` and `makemap` are answered by `createmap -q` and `--lookup`.
//!
//! Tools: `postmap` and `db5.3_dump` on PATH (or /usr/sbin); `makemap` from
//! `$SMX_MAKEMAP` (see maps/tests/get-makemap.sh), `praliases` next to it.
//! A missing tool fails the test when `CI` is set, and skips it otherwise.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn tool(name: &str) -> Option<PathBuf> {
    if name == "makemap" || name == "praliases" {
        let makemap = PathBuf::from(std::env::var_os("SMX_MAKEMAP")?);
        let p = if name == "makemap" {
            makemap
        } else {
            makemap.with_file_name("praliases")
        };
        return p.exists().then_some(p);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")])
        .map(|d| d.join(name))
        .find(|p| p.exists())
}

/// The tool, or `None` after saying why the test is skipped (a failure in CI).
fn need(name: &str) -> Option<PathBuf> {
    match tool(name) {
        Some(p) => Some(p),
        None if std::env::var_os("CI").is_some() => {
            panic!("{name} is missing; CI installs it (see .ci/run)")
        }
        None => {
            eprintln!("SKIPPED: {name} not found (install postfix/db5.3-util, set SMX_MAKEMAP)");
            None
        }
    }
}

struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Scratch {
        let n = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let d =
            std::env::temp_dir().join(format!("createmap-compat-{tag}-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("empty.cf"), "").unwrap();
        std::fs::write(d.join("main.cf"), "").unwrap();
        Scratch(d)
    }
    fn p(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd.stdin(Stdio::null()).output().unwrap();
    out
}

fn text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn createmap(dir: &Path, args: &[&str], source: &str) -> Output {
    let src = dir.join("source.txt");
    std::fs::write(&src, source).unwrap();
    let mut all: Vec<&str> = args.to_vec();
    let s = src.to_str().unwrap().to_string();
    all.push(&s);
    let o = run(Command::new(env!("CARGO_BIN_EXE_createmap")).args(&all));
    assert!(
        o.status.success(),
        "createmap {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

const ALIASES: &str =
    "root: postmaster\nmylist: <user1@my.dom> <user2@my.dom>\nowner-mylist: someuser\n";

#[test]
fn makemap_and_praliases_read_createmap_maps() {
    let (Some(makemap), Some(praliases)) = (need("makemap"), need("praliases")) else {
        return;
    };
    let d = Scratch::new("sendmail");
    let map = d.p("aliases");
    createmap(&d.0, &["-k", "aliases", map.to_str().unwrap()], ALIASES);
    let o = run(Command::new(&makemap)
        .args(["-C", "empty.cf", "-u", "hash", "aliases.db"])
        .current_dir(&d.0));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mut lines: Vec<String> = text(&o).lines().map(String::from).collect();
    lines.sort();
    assert_eq!(
        lines,
        [
            "mylist\t<user1@my.dom> <user2@my.dom>",
            "owner-mylist\tsomeuser",
            "root\tpostmaster"
        ]
    );
    for nul in [false, true] {
        let name = if nul { "aliases-nul" } else { "aliases" };
        if nul {
            createmap(
                &d.0,
                &["-N", "-k", "aliases", d.p(name).to_str().unwrap()],
                ALIASES,
            );
        }
        let o = run(Command::new(&praliases)
            .args(["-C", "empty.cf", "-f", name])
            .current_dir(&d.0));
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let out = text(&o);
        assert!(out.contains("root:postmaster"), "{name}: {out}");
        assert!(
            out.contains("mylist:<user1@my.dom> <user2@my.dom>"),
            "{name}: {out}"
        );
    }
}

#[test]
fn postmap_reads_createmap_maps_built_with_n() {
    let Some(postmap) = need("postmap") else {
        return;
    };
    let d = Scratch::new("postmap");
    let map = d.p("access");
    createmap(
        &d.0,
        &["-N", "-k", "access", map.to_str().unwrap()],
        "to:@primary.domain relay\nCltAddr:10 OK\n",
    );
    let q = |key: &str| {
        run(Command::new(&postmap)
            .args(["-c", d.0.to_str().unwrap(), "-q", key])
            .arg(format!("hash:{}", map.display())))
    };
    let o = q("to:@primary.domain");
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(text(&o), "relay\n");
    // Keys were folded, values kept.
    assert_eq!(text(&q("cltaddr:10")), "OK\n");
    assert_eq!(q("to:nobody").status.code(), Some(1));
}

#[test]
fn db_dump_lists_createmap_maps() {
    let Some(dump) = need("db5.3_dump") else {
        return;
    };
    let d = Scratch::new("dump");
    for (kind, t) in [("hash", "hash"), ("btree", "btree")] {
        let map = d.p(kind);
        createmap(
            &d.0,
            &["-t", t, map.to_str().unwrap()],
            "alpha one\nbeta two\n",
        );
        let o = run(Command::new(&dump)
            .arg("-p")
            .arg(d.p(&format!("{kind}.db"))));
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let out = text(&o);
        assert!(out.contains(&format!("type={t}")), "{out}");
        for l in [" alpha", " one", " beta", " two"] {
            assert!(out.lines().any(|x| x == l), "{l} missing in {out}");
        }
    }
}

#[test]
fn createmap_reads_postmap_and_makemap_maps() {
    let (Some(postmap), Some(makemap)) = (need("postmap"), need("makemap")) else {
        return;
    };
    let d = Scratch::new("read");
    let src = "to:@primary.domain relay\ncltaddr:10 ok\n";
    std::fs::write(d.p("pf"), src).unwrap();
    let o = run(Command::new(&postmap)
        .args(["-c", d.0.to_str().unwrap()])
        .arg(format!("hash:{}", d.p("pf").display())));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = run(Command::new("sh")
        .arg("-c")
        .arg(format!("'{}' -C empty.cf hash sm < pf", makemap.display()))
        .current_dir(&d.0));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for map in ["pf", "sm"] {
        let m = d.p(map);
        let o = run(Command::new(env!("CARGO_BIN_EXE_createmap")).args([
            "-q",
            "to:@primary.domain",
            m.to_str().unwrap(),
        ]));
        assert_eq!(text(&o), "relay\n", "{map}");
        let o = run(Command::new(env!("CARGO_BIN_EXE_createmap")).args([
            "-k",
            "access",
            "--lookup",
            "cltaddr:10.1.2.3",
            m.to_str().unwrap(),
        ]));
        assert!(
            text(&o).contains("found: cltaddr:10\tok"),
            "{map}: {}",
            text(&o)
        );
    }
}

//! The checks of the fuzz targets `sendmail_mc`, `main_cf` and `master_cf`
//! (the cargo-fuzz project `fuzz/` at the top of the repository), shared
//! with the test that replays their corpora under stable `cargo test`
//! (`tests/fuzz_corpus.rs`). Not for production use.
//!
//! An input is a bundle of files: the first one is the main file
//! (sendmail.mc, main.cf, master.cf); a line `%%% NAME` starts another file
//! (sendmail.cf, access, aliases, transport, ...), written with it into a
//! private scratch directory that the conversion reads and that is removed
//! afterwards. A conversion must not panic, and what it produces must hold:
//! the smx.conf passes the checker (seed 002 §3.2) and every map source
//! reads back without a bad line as its kind (§3.9.3).

use crate::postfix::{self, mastercf};
use crate::sendmail::{self, m4};
use crate::site::Site;
use crate::Migration;
use smx_maps::kind::MapKind;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// The host name the conversions are given.
const HOST: &str = "mx.fuzz.example";

/// `sendmail_mc`: sendmail.mc (and the files of the bundle: sendmail.cf,
/// access, mailertable, virtusertable, aliases, local-host-names) converted.
pub fn sendmail_mc(bytes: &[u8]) {
    let files = bundle(bytes, "sendmail.mc");
    let mut last = 0;
    for call in m4::calls(&files[0].1) {
        assert!(
            call.line >= last,
            "m4 call on line {} after {last}",
            call.line
        );
        assert!(!call.name.is_empty(), "m4 call without a name");
        last = call.line;
    }
    with_scratch(&files, |dir| {
        let cf = dir.join("sendmail.cf");
        let input = sendmail::Input {
            mc: dir.join("sendmail.mc"),
            cf: cf.exists().then_some(cf),
            etc: None,
            cf_dir: None,
        };
        if let Ok(m) = sendmail::convert(&input, HOST) {
            check_migration(&m);
        }
    });
}

/// `main_cf`: main.cf (with master.cf and the tables of the bundle)
/// converted.
pub fn main_cf(bytes: &[u8]) {
    let files = bundle(bytes, "main.cf");
    let (main, _bad) = postfix::maincf::MainCf::parse(&files[0].1, HOST);
    for p in &main.params {
        let _ = main.get(&p.name);
    }
    with_scratch(&files, |dir| {
        let master = files
            .iter()
            .find(|(n, _)| n == "master.cf")
            .map(|(_, t)| t.as_str());
        let m = postfix::convert_text(dir, &files[0].1, master, HOST);
        check_migration(&m);
    });
}

/// `master_cf`: master.cf read; every service's fields come from its text.
pub fn master_cf(bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    let mut last = 0;
    for s in mastercf::parse(&text) {
        assert!(s.line > last, "service on line {} after {last}", s.line);
        last = s.line;
        let fields: Vec<&str> = s.text.split_whitespace().collect();
        assert_eq!(fields.first().copied().unwrap_or(""), s.name);
        assert_eq!(fields.get(1).copied().unwrap_or(""), s.kind);
        assert_eq!(fields.get(7).copied().unwrap_or(""), s.command);
        for (n, v) in &s.overrides {
            let o = format!("{n}={v}");
            assert!(s.text.contains(&o), "override {o} is not in {:?}", s.text);
        }
        let _ = mastercf::port_of(&s.name);
    }
}

/// What a conversion produced must be usable: smx.conf passes the checker
/// and the map sources read back without errors.
fn check_migration(m: &Migration) {
    if let Err(e) = crate::output::conf_text(&m.site, "# fuzz\n") {
        panic!("the converted smx.conf does not pass the checker: {e}");
    }
    for (entries, kind, colon) in [
        (&m.site.access, MapKind::Access, false),
        (&m.site.aliases, MapKind::Aliases, true),
        (&m.site.mailertable, MapKind::Mailertable, false),
    ] {
        let text = Site::map_text(entries, colon);
        let opts = createmap::BuildOptions {
            kind,
            ..createmap::BuildOptions::default()
        };
        let errors = createmap::check(&text, &opts);
        assert!(
            errors.is_empty(),
            "the converted {kind} map has bad lines: {errors:?}\n{text}"
        );
    }
    let _ = m.report.human();
}

/// Splits a bundle into (file name, text); the first file is `main`. A
/// `%%% NAME` line whose name is not a plain file name is kept as text.
fn bundle(bytes: &[u8], main: &str) -> Vec<(String, String)> {
    let text = String::from_utf8_lossy(bytes);
    let mut files = vec![(main.to_string(), String::new())];
    for line in text.split_inclusive('\n') {
        let name = line
            .strip_prefix("%%% ")
            .map(str::trim)
            .filter(|n| is_file_name(n) && *n != main);
        match (name, files.last_mut()) {
            (Some(n), _) => files.push((n.to_string(), String::new())),
            (None, Some((_, t))) => t.push_str(line),
            (None, None) => {}
        }
    }
    files
}

fn is_file_name(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= 40
        && !n.starts_with('.')
        && n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

/// Writes `files` into a fresh private directory, runs `f` on it, removes
/// it.
fn with_scratch(files: &[(String, String)], f: impl FnOnce(&Path)) {
    static N: AtomicU64 = AtomicU64::new(0);
    let dir: PathBuf = std::env::temp_dir().join(format!(
        "smx-migrate-fuzz-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    if let Err(e) = std::fs::create_dir(&dir) {
        panic!("scratch directory {}: {e}", dir.display());
    }
    for (name, text) in files {
        if let Err(e) = std::fs::write(dir.join(name), text) {
            panic!("scratch file {name}: {e}");
        }
    }
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&dir)));
    let _ = std::fs::remove_dir_all(&dir);
    if let Err(p) = r {
        std::panic::resume_unwind(p);
    }
}

//! Replays the corpora and the regression inputs of the fuzz targets
//! `smtp_command` and `smtp_session` (`fuzz/corpus/<target>/` and
//! `fuzz/regressions/<target>/` at the top of the repository) through the
//! checks the targets call (`smxd::fuzz`), so that plain `cargo test` covers
//! them without cargo-fuzz.

use std::path::{Path, PathBuf};

fn files(dir: &Path) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<_> = rd
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .filter(|p| {
            // libFuzzer's temporary files and notes are not inputs.
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| !n.starts_with('.') && !n.ends_with(".md"))
        })
        .collect();
    out.sort();
    out
}

fn replay(target: &str, check: fn(&[u8]), min: usize) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let (mut n, mut failed) = (0, Vec::new());
    for dir in ["corpus", "regressions"] {
        for path in files(&root.join(dir).join(target)) {
            let bytes = match std::fs::read(&path) {
                Ok(b) => b,
                Err(e) => panic!("{}: {e}", path.display()),
            };
            if std::panic::catch_unwind(|| check(&bytes)).is_err() {
                failed.push(path.display().to_string());
            }
            n += 1;
        }
    }
    assert!(
        failed.is_empty(),
        "fuzz check {target} failed on {failed:#?}"
    );
    assert!(n >= min, "replayed only {n} {target} files");
}

#[test]
fn replay_smtp_command() {
    replay("smtp_command", smxd::fuzz::smtp_command, 10);
}

#[test]
fn replay_smtp_session() {
    replay("smtp_session", smxd::fuzz::smtp_session, 10);
}

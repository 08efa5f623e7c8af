//! The replay of a fuzz target's inputs under plain `cargo test`, shared by
//! the `tests/fuzz_corpus.rs` of every crate that has fuzz checks (each
//! includes this file with `#[path]`): every file of
//! `fuzz/corpus/<target>/` and `fuzz/regressions/<target>/` goes through
//! the check function the target calls, so CI covers them without
//! cargo-fuzz.

use std::path::{Path, PathBuf};

/// The inputs in `dir`, sorted; libFuzzer's temporary files and notes are
/// not inputs.
fn files(dir: &Path) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<_> = rd
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| !n.starts_with('.') && !n.ends_with(".md"))
        })
        .collect();
    out.sort();
    out
}

/// Runs `check` on every corpus and regression input of `target` (at least
/// `min` of them); fails naming every input whose check panicked.
pub fn replay(target: &str, check: fn(&[u8]), min: usize) {
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

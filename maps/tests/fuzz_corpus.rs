//! Replays the corpus and the regression inputs of the fuzz target
//! `map_source` (`fuzz/corpus/map_source/` and `fuzz/regressions/map_source/`
//! at the top of the repository) through the check the target calls
//! (`smx_maps::fuzz::map_source`), so that plain `cargo test` covers them
//! without cargo-fuzz.

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

#[test]
fn replay_map_source() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let (mut n, mut failed) = (0, Vec::new());
    for dir in ["corpus/map_source", "regressions/map_source"] {
        for path in files(&root.join(dir)) {
            let bytes = match std::fs::read(&path) {
                Ok(b) => b,
                Err(e) => panic!("{}: {e}", path.display()),
            };
            if std::panic::catch_unwind(|| smx_maps::fuzz::map_source(&bytes)).is_err() {
                failed.push(path.display().to_string());
            }
            n += 1;
        }
    }
    assert!(failed.is_empty(), "fuzz check failed on {failed:#?}");
    assert!(n >= 10, "replayed only {n} corpus files");
}

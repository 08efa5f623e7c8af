//! Replays the corpus of the `smx_conf` fuzz target (`fuzz/corpus/smx_conf/`
//! at the top of the repository) and the inputs that once failed
//! (`fuzz/regressions/smx_conf/`) through the target's check, so that plain
//! `cargo test` covers them without cargo-fuzz.

use std::path::Path;

fn files(dir: &Path) -> Vec<std::path::PathBuf> {
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
fn replay_fuzz_corpus() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let mut n = 0;
    for dir in ["corpus/smx_conf", "regressions/smx_conf"] {
        for path in files(&root.join(dir)) {
            let bytes = match std::fs::read(&path) {
                Ok(b) => b,
                Err(e) => panic!("{}: {e}", path.display()),
            };
            let r = std::panic::catch_unwind(|| smx_grammar::fuzz_check(&bytes));
            assert!(r.is_ok(), "fuzz check failed on {}", path.display());
            n += 1;
        }
    }
    assert!(n >= 20, "replayed only {n} corpus files");
}

//! The page smx-tui(8) lists every key of the in-program help and passes
//! `mandoc -Tlint` (mandoc is required under CI).

#![allow(clippy::unwrap_used, missing_docs)]

use std::process::Command;

const PAGE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../man/smx-tui.8");

#[test]
fn every_help_key_is_documented() {
    let text = std::fs::read_to_string(PAGE).unwrap();
    // The keys of the `.It Ic a , b , c` lines of the KEYS section.
    let documented: Vec<String> = text
        .lines()
        .filter_map(|l| l.strip_prefix(".It Ic "))
        .flat_map(|l| l.split(" , ").map(|k| k.trim().replace("\\&", "")))
        .collect();
    for (keys, _) in smx_tui::ui::HELP {
        for k in keys.split([' ', ',', '/']).filter(|k| k.len() == 1) {
            assert!(
                documented.iter().any(|d| d == k),
                "key {k} is not in smx-tui(8): {documented:?}"
            );
        }
    }
}

#[test]
fn page_passes_mandoc_lint() {
    match Command::new("mandoc")
        .args(["-Tlint", "-W", "warning", PAGE])
        .output()
    {
        Ok(o) => assert!(
            o.status.success(),
            "mandoc -Tlint:\n{}",
            String::from_utf8_lossy(&o.stdout)
        ),
        Err(e) if std::env::var_os("CI").is_some() => panic!("mandoc is required in CI: {e}"),
        Err(e) => eprintln!("SKIP: mandoc cannot run: {e}"),
    }
}

//! The protocol page smx-control(5) documents every operation the
//! dispatcher knows and passes `mandoc -Tlint` (mandoc is required under CI).

#![allow(clippy::unwrap_used, missing_docs)]

use std::process::Command;

const PAGE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../man/smx-control.5");

#[test]
fn every_op_is_documented() {
    let text = std::fs::read_to_string(PAGE).unwrap();
    for op in smx_control::server::OPS {
        let name = if op.contains('.') {
            op.to_owned()
        } else {
            format!("queue.{op}")
        };
        let documented = text.contains(&format!("\"op\":\"{op}\""))
            || text.contains(&name)
            || text.contains(&format!("Cm {op}"));
        assert!(documented, "{op} is not in smx-control(5)");
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

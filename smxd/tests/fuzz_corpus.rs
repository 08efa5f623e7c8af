//! Replays the corpus and the regression inputs of the fuzz targets
//! `smtp_command` and `smtp_session` (`fuzz/corpus/<target>/` and
//! `fuzz/regressions/<target>/` at the top of the repository) through the
//! check the target calls, so that plain `cargo test` covers them without
//! cargo-fuzz (`fuzz/replay.rs`).

#[path = "../../fuzz/replay.rs"]
mod replay;
use replay::replay;

#[test]
fn replay_smtp_command() {
    replay("smtp_command", smxd::fuzz::smtp_command, 10);
}

#[test]
fn replay_smtp_session() {
    replay("smtp_session", smxd::fuzz::smtp_session, 10);
}

//! Replays the corpus and the regression inputs of the fuzz target
//! `control` (`fuzz/corpus/<target>/` and `fuzz/regressions/<target>/` at
//! the top of the repository) through the check the target calls, so that
//! plain `cargo test` covers them without cargo-fuzz (`fuzz/replay.rs`).

#[path = "../../fuzz/replay.rs"]
mod replay;
use replay::replay;

#[test]
fn replay_control() {
    replay("control", smx_control::fuzz::control, 5);
}

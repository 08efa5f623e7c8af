//! Replays the corpus and the regression inputs of the fuzz targets
//! `sendmail_mc`, `main_cf` and `master_cf` (`fuzz/corpus/<target>/` and
//! `fuzz/regressions/<target>/` at the top of the repository) through the
//! check the target calls, so that plain `cargo test` covers them without
//! cargo-fuzz (`fuzz/replay.rs`).

#[path = "../../fuzz/replay.rs"]
mod replay;
use replay::replay;

#[test]
fn replay_sendmail_mc() {
    replay("sendmail_mc", smx_migrate::fuzz::sendmail_mc, 3);
}

#[test]
fn replay_main_cf() {
    replay("main_cf", smx_migrate::fuzz::main_cf, 3);
}

#[test]
fn replay_master_cf() {
    replay("master_cf", smx_migrate::fuzz::master_cf, 2);
}

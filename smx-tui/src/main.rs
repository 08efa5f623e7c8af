//! smx-tui entry point.
fn main() {}

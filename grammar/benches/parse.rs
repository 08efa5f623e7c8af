//! Parser benchmark: a placeholder until a criterion benchmark is written.
fn main() {}

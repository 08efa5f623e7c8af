//! smxd entry point (being written).
fn main() {}

//! smar: the address resolver (being written, issue 5).

pub mod maps;

/// Runs the component until SIGTERM; returns the exit code.
pub fn main(config: &std::path::Path) -> i32 {
    let _ = config;
    crate::component::not_implemented("smar", None)
}

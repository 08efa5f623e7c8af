//! smtpc: being written (issue 5).

/// Runs the component until SIGTERM; returns the exit code.
pub fn main(config: &std::path::Path, id: Option<&str>) -> i32 {
    let _ = config;
    crate::component::not_implemented("smtpc", id)
}

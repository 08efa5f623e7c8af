//! Errors of map lookups and map files.

use std::path::PathBuf;

/// Why a lookup or a map operation failed.
#[derive(Debug, thiserror::Error)]
pub enum MapError {
    /// A temporary failure: try again later (SMTP 4xx, `451 4.3.0`).
    #[error("temporary map failure: {0}")]
    Temp(String),
    /// A permanent failure of the map itself (misconfiguration).
    #[error("map failure: {0}")]
    Perm(String),
    /// Berkeley DB reported an error.
    #[error("{path}: {message}")]
    Db {
        /// The database file.
        path: PathBuf,
        /// db_strerror() of the error code, with the operation.
        message: String,
        /// The Berkeley DB (or errno) error code.
        code: i32,
    },
    /// An I/O error on a map file or socket.
    #[error("{path}: {source}")]
    Io {
        /// The file or socket.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

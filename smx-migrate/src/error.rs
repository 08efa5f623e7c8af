//! Errors of smx-migrate, with the sysexits(3) code each one exits with.

use std::path::PathBuf;

/// Why a migration could not be done.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    /// An input file cannot be read (EX_NOINPUT).
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The output exists and --force was not given (EX_CANTCREAT).
    #[error("{0} exists and is not empty; use --force to overwrite it")]
    OutputExists(PathBuf),
    /// The output would be written into an input directory (EX_USAGE).
    #[error("output {out} is inside the input directory {input}; choose another --out")]
    OutputInInput {
        /// The output directory.
        out: PathBuf,
        /// The input directory.
        input: PathBuf,
    },
    /// Writing the output failed (EX_CANTCREAT).
    #[error("cannot write {path}: {why}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The cause.
        why: String,
    },
    /// The generated smx.conf does not pass the checker (EX_SOFTWARE).
    #[error("generated smx.conf does not pass the checker: {0}")]
    BadConf(String),
}

impl MigrateError {
    /// The sysexits(3) code.
    pub fn exit_code(&self) -> i32 {
        match self {
            MigrateError::Read { .. } => 66,
            MigrateError::OutputExists(_) | MigrateError::Write { .. } => 73,
            MigrateError::OutputInInput { .. } => 64,
            MigrateError::BadConf(_) => 70,
        }
    }
}

/// Reads a file, mapping the error.
pub fn read(path: &std::path::Path) -> Result<String, MigrateError> {
    std::fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .map_err(|source| MigrateError::Read {
            path: path.to_path_buf(),
            source,
        })
}

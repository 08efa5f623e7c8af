//! `smx-migrate sendmail`: a sendmail 8 site (sendmail.mc read without m4,
//! the maps it names, seed 001) converted to smx.conf and smx maps.

use crate::error::MigrateError;
use crate::Migration;
use std::path::PathBuf;

/// What to read.
#[derive(Debug, Clone)]
pub struct Input {
    /// sendmail.mc.
    pub mc: PathBuf,
    /// sendmail.cf.
    pub cf: Option<PathBuf>,
    /// Directory of the maps.
    pub etc: Option<PathBuf>,
    /// The sendmail-cf tree.
    pub cf_dir: Option<PathBuf>,
}

/// Converts a sendmail site.
pub fn convert(input: &Input, hostname: &str) -> Result<Migration, MigrateError> {
    let _ = hostname;
    let text = crate::error::read(&input.mc)?;
    let _ = text;
    Ok(Migration::default())
}

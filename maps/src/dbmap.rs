//! `hash` and `btree` maps (README §3.9): a read-only Berkeley DB file
//! behind the [`Map`] trait.
//!
//! Files written by sendmail 8's `makemap` store keys and values as they
//! are; files written by Postfix's `postmap` append a NUL to both. A
//! [`DbMap`] reads either, and drops one trailing NUL from values.
//!
//! Like Postfix's dict_db, it learns the style of the file instead of
//! trying both forms of every key: the first record decides (a key ending
//! in NUL means Postfix style) and later lookups use only that form. Only
//! an empty map, whose style is unknown, tries both. A map that mixes both
//! styles is not supported: rebuild it with one tool.
//!
//! The cache is sized to the file (up to 256 MB), so that random lookups in
//! a large map are served from memory after the first touch.

use std::path::Path;

use crate::db::{Db, DbType, OpenOptions};
use crate::{Map, MapError};

/// A Berkeley DB hash or btree file opened read-only for lookups.
#[derive(Debug)]
pub struct DbMap {
    db: Db,
    style: KeyStyle,
}

/// How keys are stored in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyStyle {
    /// sendmail's makemap, createmap without -N: the key bytes.
    Plain,
    /// Postfix's postmap, createmap -N: the key bytes and a NUL.
    Nul,
    /// Empty map: try both.
    Unknown,
}

impl DbMap {
    /// Open the map file at `path`, which must be of access method
    /// `db_type`.
    pub fn open(path: &Path, db_type: DbType) -> Result<DbMap, MapError> {
        let mut opts = OpenOptions::read(db_type);
        let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        opts.cache_size = Some(size.clamp(1 << 20, 256 << 20));
        let db = Db::open(path, &opts)?;
        let style = match db.iter()?.next() {
            Some(Ok((key, _))) if key.last() == Some(&0) => KeyStyle::Nul,
            Some(Ok(_)) => KeyStyle::Plain,
            Some(Err(e)) => return Err(e),
            None => KeyStyle::Unknown,
        };
        Ok(DbMap { db, style })
    }

    /// The underlying database, for dumps and diagnostics.
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// The raw value bytes for `key`, stored with or without a trailing NUL.
    fn get_bytes(&self, key: &[u8]) -> Result<Option<Vec<u8>>, MapError> {
        if self.style != KeyStyle::Nul {
            if let Some(value) = self.db.get(key)? {
                return Ok(Some(value));
            }
            if self.style == KeyStyle::Plain {
                return Ok(None);
            }
        }
        let mut with_nul = Vec::with_capacity(key.len() + 1);
        with_nul.extend_from_slice(key);
        with_nul.push(0);
        self.db.get(&with_nul)
    }
}

impl Map for DbMap {
    fn get(&self, key: &str) -> Result<Option<String>, MapError> {
        Ok(self.get_bytes(key.as_bytes())?.map(|mut value| {
            if value.last() == Some(&0) {
                value.pop();
            }
            // Map files come from anywhere (a Latin-1 aliases file, a
            // foreign tool): a bad byte must not make the entry vanish.
            match String::from_utf8(value) {
                Ok(text) => text,
                Err(err) => String::from_utf8_lossy(err.as_bytes()).into_owned(),
            }
        }))
    }
}

//! `hash` and `btree` maps (README §3.9): a read-only Berkeley DB file
//! behind the [`Map`] trait.
//!
//! Files written by sendmail 8's `makemap` store keys and values as they
//! are; files written by Postfix's `postmap` append a NUL to both. A
//! [`DbMap`] reads either: it looks the key up as given, then with a NUL
//! appended, and drops one trailing NUL from the value.

use std::path::Path;

use crate::db::{Db, DbType, OpenOptions};
use crate::{Map, MapError};

/// A Berkeley DB hash or btree file opened read-only for lookups.
#[derive(Debug)]
pub struct DbMap {
    db: Db,
}

impl DbMap {
    /// Open the map file at `path`, which must be of access method
    /// `db_type`.
    pub fn open(path: &Path, db_type: DbType) -> Result<DbMap, MapError> {
        Ok(DbMap {
            db: Db::open(path, &OpenOptions::read(db_type))?,
        })
    }

    /// The underlying database, for dumps and diagnostics.
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// The raw value bytes for `key`, stored with or without a trailing NUL.
    fn get_bytes(&self, key: &[u8]) -> Result<Option<Vec<u8>>, MapError> {
        if let Some(value) = self.db.get(key)? {
            return Ok(Some(value));
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

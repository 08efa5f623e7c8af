//! A text file read into memory at open, as Postfix's `texthash:` and the
//! sendmail X mailertable given as a plain file (README §3.9.2 item 9a: "a
//! plain text file is read during startup and placed in an internal hash
//! table").
//!
//! Format:
//!
//! - one entry per line: `key value` (key, then whitespace, then the value
//!   up to the end of the line, trimmed), or `name: value` for aliases-style
//!   files (`colon_separated`; spaces around the colon are allowed, as in
//!   `un_alias : local:`);
//! - a line that starts with whitespace continues the previous entry (joined
//!   with one space), as in aliases files and Postfix tables;
//! - blank lines and lines whose first non-blank character is `#` are
//!   ignored; `#` elsewhere is part of the value;
//! - keys are lower-cased, as createmap does by default.
//!
//! Errors name the file and line (`file:line: message`) and are
//! [`MapError::Perm`]: a line without a value, an empty key, a
//! continuation line with no entry before it, a line that is not UTF-8, and
//! a key given twice (which of two values a postmaster meant is not for the
//! MTA to guess).

use std::collections::HashMap;
use std::path::Path;

use crate::{Map, MapError};

/// A `key value` text file held in a hash table.
#[derive(Debug, Clone, Default)]
pub struct TextHash {
    entries: HashMap<String, String>,
}

impl TextHash {
    /// Read the file at `path`; `colon_separated` for `name: value` lines.
    pub fn open(path: impl AsRef<Path>, colon_separated: bool) -> Result<Self, MapError> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| MapError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse_bytes(&path.display().to_string(), &bytes, colon_separated)
    }

    /// Parse `text`; `name` is used in error messages in place of a file
    /// name.
    pub fn parse(name: &str, text: &str, colon_separated: bool) -> Result<Self, MapError> {
        Self::parse_bytes(name, text.as_bytes(), colon_separated)
    }

    fn parse_bytes(name: &str, bytes: &[u8], colon_separated: bool) -> Result<Self, MapError> {
        let err = |line: usize, msg: String| MapError::Perm(format!("{name}:{line}: {msg}"));
        let mut map = TextHash::default();
        let mut first_line: HashMap<String, usize> = HashMap::new();
        // The logical line being gathered: its first line number and text.
        let mut pending: Option<(usize, String)> = None;
        let mut finish = |pending: Option<(usize, String)>| -> Result<(), MapError> {
            let Some((line, text)) = pending else {
                return Ok(());
            };
            let (key, value) = split_entry(&text, colon_separated).map_err(|m| err(line, m))?;
            let key = key.to_lowercase();
            if let Some(first) = first_line.get(&key) {
                return Err(err(
                    line,
                    format!("duplicate key {key:?} (first on line {first})"),
                ));
            }
            first_line.insert(key.clone(), line);
            map.entries.insert(key, value.to_string());
            Ok(())
        };
        let mut lines = bytes.split(|&b| b == b'\n').peekable();
        let mut number = 0;
        while let Some(raw) = lines.next() {
            number += 1;
            if raw.is_empty() && lines.peek().is_none() {
                break; // the newline at the end of the file
            }
            let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
            let line = std::str::from_utf8(raw)
                .map_err(|_| err(number, "line is not valid UTF-8".into()))?;
            let trimmed = line.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            if line.starts_with([' ', '\t']) {
                match pending.as_mut() {
                    Some((_, text)) => {
                        text.push(' ');
                        text.push_str(trimmed);
                    }
                    None => return Err(err(
                        number,
                        "continuation line (starts with white space) without an entry before it"
                            .into(),
                    )),
                }
                continue;
            }
            finish(pending.take())?;
            pending = Some((number, trimmed.to_string()));
        }
        finish(pending.take())?;
        Ok(map)
    }

    /// How many entries the file had.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the file had no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entries, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

/// Split one logical line into key and value.
fn split_entry(text: &str, colon_separated: bool) -> Result<(&str, &str), String> {
    let (key, value) = if colon_separated {
        let (k, v) = text
            .split_once(':')
            .ok_or_else(|| "expected \"name: value\"".to_string())?;
        (k.trim(), v.trim())
    } else {
        match text.split_once(char::is_whitespace) {
            Some((k, v)) => (k, v.trim()),
            None => (text, ""),
        }
    };
    if key.is_empty() {
        return Err("empty key".into());
    }
    if value.is_empty() {
        return Err(format!("no value for key {key:?}"));
    }
    Ok((key, value))
}

impl Map for TextHash {
    fn get(&self, key: &str) -> Result<Option<String>, MapError> {
        Ok(self.entries.get(key).cloned())
    }
}

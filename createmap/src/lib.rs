//! createmap: compiles text maps into Berkeley DB files, checks them, looks
//! keys up with the lookup orders of sendmail X (README §3.12.1) and dumps
//! them. The sendmail X README names the tool (§4.3.2: "aliases.db, which
//! can be created using createmap"); its options follow sendmail's makemap
//! (`-N -f -r -e -o -u`) and Postfix's postmap (`-q`).
//!
//! Decisions recorded here:
//! - Keys are lower-cased unless `-f`; values never are.
//! - Without `-N` keys and values are stored without a trailing NUL, as
//!   sendmail's makemap does; with `-N` with one, as Postfix's postmap does.
//!   smx reads both.
//! - A duplicate key is an error unless `-r` (later lines win).
//! - The map is built in a temporary file in the same directory, fsynced,
//!   and renamed over `MAP.db`, then the directory is fsynced: a running
//!   SMAR sees the old map or the new one, never half of one. With `-o`
//!   the old entries are copied into the new file first.
//! - A source with any bad line is not compiled: every error is reported
//!   with its line number and nothing is replaced (exit 65).

use smx_maps::db::{Db, DbType, OpenOptions};
use smx_maps::kind::MapKind;
use smx_maps::lookup::{self, AddressOptions};
use smx_maps::source::{self, Convention};
use smx_maps::{Map, MapError};
use std::fmt;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// What to build and how.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    /// hash or btree.
    pub db_type: DbType,
    /// How right-hand sides are validated.
    pub kind: MapKind,
    /// Which text convention the source follows.
    pub convention: Convention,
    /// Store a trailing NUL with keys and values (`-N`, Postfix style).
    pub nul: bool,
    /// Keep the case of keys (`-f`).
    pub keep_case: bool,
    /// Let later duplicates replace earlier ones (`-r`).
    pub replace: bool,
    /// Allow empty values (`-e`).
    pub allow_empty: bool,
    /// Add to the existing map instead of starting empty (`-o`).
    pub append: bool,
}

impl Default for BuildOptions {
    fn default() -> Self {
        BuildOptions {
            db_type: DbType::Hash,
            kind: MapKind::Plain,
            convention: Convention::Sendmail,
            nul: false,
            keep_case: false,
            replace: false,
            allow_empty: false,
            append: false,
        }
    }
}

/// One bad line of a source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

/// Why createmap could not do its work.
#[derive(Debug, thiserror::Error)]
pub enum CreatemapError {
    /// The source has bad lines (EX_DATAERR).
    #[error("{} bad line{} in the source", .0.len(), if .0.len() == 1 { "" } else { "s" })]
    BadSource(Vec<LineError>),
    /// The source or the map cannot be read (EX_NOINPUT).
    #[error("{0}")]
    NoInput(String),
    /// The map cannot be created (EX_CANTCREAT).
    #[error("{0}")]
    CantCreate(String),
    /// A map operation failed (EX_IOERR).
    #[error(transparent)]
    Map(#[from] MapError),
}

/// The outcome of a build.
#[derive(Debug, Clone)]
pub struct Summary {
    /// The file written.
    pub path: PathBuf,
    /// Entries stored from the source.
    pub entries: u64,
    /// Entries kept from the old map (`-o`).
    pub kept: u64,
    /// Duplicates replaced (`-r`).
    pub replaced: u64,
    /// Time taken.
    pub elapsed: Duration,
}

/// `MAP` → `MAP.db` (unless it already ends in `.db`).
pub fn db_path(map: &Path) -> PathBuf {
    if map.extension().is_some_and(|e| e == "db") {
        map.to_path_buf()
    } else {
        let mut s = map.as_os_str().to_owned();
        s.push(".db");
        PathBuf::from(s)
    }
}

/// Decodes a source as UTF-8, reporting the line of the first bad byte.
pub fn source_text(bytes: Vec<u8>) -> Result<String, CreatemapError> {
    String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let line = e.as_bytes()[..at].iter().filter(|b| **b == b'\n').count() + 1;
        CreatemapError::BadSource(vec![LineError {
            line,
            message: "not UTF-8 text".to_string(),
        }])
    })
}

/// Checks a source: every bad line, in order.
pub fn check(text: &str, opts: &BuildOptions) -> Vec<LineError> {
    let mut errors = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for_each_entry(text, opts, &mut errors, |line, key, _value, errors| {
        if !opts.replace && !seen.insert(key.to_string()) {
            errors.push(duplicate(line, key));
        }
    });
    errors
}

fn duplicate(line: usize, key: &str) -> LineError {
    LineError {
        line,
        message: format!("duplicate key \"{key}\"; use -r to let later lines replace earlier ones"),
    }
}

/// Runs `f` on every valid entry (key already folded), collecting bad lines.
fn for_each_entry(
    text: &str,
    opts: &BuildOptions,
    errors: &mut Vec<LineError>,
    mut f: impl FnMut(usize, &str, &str, &mut Vec<LineError>),
) {
    let sep = opts.kind.separator();
    let mut folded = String::new();
    for item in source::entries(text, opts.convention, sep) {
        match item {
            Err(e) => errors.push(LineError {
                line: e.line,
                message: e.message,
            }),
            Ok(entry) => {
                if entry.value.is_empty() && !opts.allow_empty {
                    errors.push(LineError {
                        line: entry.line,
                        message: format!(
                            "key \"{}\" has no value; use -e to allow empty values",
                            entry.key
                        ),
                    });
                    continue;
                }
                if let Err(m) = opts.kind.validate(&entry.key, &entry.value) {
                    errors.push(LineError {
                        line: entry.line,
                        message: m,
                    });
                    continue;
                }
                let key: &str = if opts.keep_case {
                    &entry.key
                } else {
                    folded.clear();
                    if entry.key.is_ascii() {
                        folded.push_str(&entry.key);
                        folded.make_ascii_lowercase();
                    } else {
                        folded.extend(entry.key.chars().flat_map(char::to_lowercase));
                    }
                    &folded
                };
                f(entry.line, key, &entry.value, errors);
            }
        }
    }
}

/// Builds `map` from `text`, replacing the file atomically. `progress` is
/// called every 100,000 source lines with the line number.
pub fn build(
    map: &Path,
    text: &str,
    opts: &BuildOptions,
    mut progress: impl FnMut(usize) + Send,
) -> Result<Summary, CreatemapError> {
    let start = Instant::now();
    let path = db_path(map);
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "map.db".to_string());
    let tmp = dir.join(format!(".{file_name}.{}.tmp", std::process::id()));
    let _ = std::fs::remove_file(&tmp);

    let lines = text.bytes().filter(|b| *b == b'\n').count() + 1;
    let mut create = OpenOptions::create(opts.db_type);
    create.single_thread = true;
    // Size the hash table and the cache for the input: fewer splits and no
    // cache thrashing are most of the speed of a large build.
    create.expected_entries = u32::try_from(lines).ok();
    create.cache_size = Some((text.len() as u64 * 3).clamp(8 << 20, 1 << 30));
    let db = Db::open(&tmp, &create)
        .map_err(|e| CreatemapError::CantCreate(format!("cannot create {}: {e}", tmp.display())))?;
    let guard = TempGuard(&tmp);

    let mut kept = 0;
    if opts.append && path.exists() {
        let old = Db::open(&path, &OpenOptions::read(opts.db_type))
            .map_err(|e| CreatemapError::NoInput(format!("cannot read {}: {e}", path.display())))?;
        for item in old.iter()? {
            let (k, v) = item?;
            db.put(&k, &v, true)?;
            kept += 1;
        }
    }

    // Two stages on two threads: reading and checking the source, and
    // inserting into Berkeley DB, which is most of the work. Entries travel
    // in batches; errors of both stages are merged by line number.
    let (tx, rx) = std::sync::mpsc::sync_channel::<Batch>(8);
    let mut errors = Vec::new();
    let mut entries = 0u64;
    let mut replaced = 0u64;
    let mut db_error = None;
    let mut insert_errors = Vec::new();
    std::thread::scope(|scope| {
        let reader = scope.spawn(|| {
            let mut errors = Vec::new();
            let mut batch = Batch::default();
            let mut next_progress = 100_000;
            for_each_entry(text, opts, &mut errors, |line, key, value, _| {
                if line >= next_progress {
                    progress(line);
                    next_progress += 100_000;
                }
                batch.push(line, key, value, opts.nul);
                if batch.rows.len() >= 4096 {
                    let full = std::mem::take(&mut batch);
                    // The inserter only stops early after a database
                    // error, which is reported from its side.
                    let _ = tx.send(full);
                }
            });
            let _ = tx.send(batch);
            drop(tx);
            errors
        });
        'batches: for batch in rx.iter() {
            for (line, key, value) in batch.iter() {
                match db.put(key, value, opts.replace) {
                    Ok(true) => entries += 1,
                    Ok(false) if opts.replace => replaced += 1,
                    Ok(false) => {
                        let shown = String::from_utf8_lossy(key.strip_suffix(&[0]).unwrap_or(key));
                        insert_errors.push(if opts.append {
                            // `-o` without `-r`: a key of the old map may not be redefined.
                            LineError {
                                line,
                                message: format!(
                                    "key \"{shown}\" is already in the map; use -r to replace it"
                                ),
                            }
                        } else {
                            duplicate(line, &shown)
                        });
                    }
                    Err(e) => {
                        db_error = Some(e);
                        break 'batches;
                    }
                }
            }
        }
        drop(rx);
        errors = reader.join().unwrap_or_default();
    });
    errors.extend(insert_errors);
    errors.sort_by_key(|e| e.line);
    if let Some(e) = db_error {
        return Err(e.into());
    }
    if !errors.is_empty() {
        return Err(CreatemapError::BadSource(errors));
    }
    db.sync()?;
    db.close()?;
    File::open(&tmp)
        .and_then(|f| f.sync_all())
        .map_err(|e| CreatemapError::CantCreate(format!("{}: {e}", tmp.display())))?;
    std::fs::rename(&tmp, &path).map_err(|e| {
        CreatemapError::CantCreate(format!(
            "cannot rename {} to {}: {e}",
            tmp.display(),
            path.display()
        ))
    })?;
    std::mem::forget(guard);
    // The rename is durable only once the directory is on disk.
    if let Ok(d) = File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(Summary {
        path,
        entries,
        kept,
        replaced,
        elapsed: start.elapsed(),
    })
}

/// Entries on their way from the reader to the inserter: one byte arena and
/// the (line, key end, value end) of each entry in it.
#[derive(Default)]
struct Batch {
    data: Vec<u8>,
    rows: Vec<(usize, usize, usize)>,
}

impl Batch {
    fn push(&mut self, line: usize, key: &str, value: &str, nul: bool) {
        self.data.extend_from_slice(key.as_bytes());
        if nul {
            self.data.push(0);
        }
        let key_end = self.data.len();
        self.data.extend_from_slice(value.as_bytes());
        if nul {
            self.data.push(0);
        }
        self.rows.push((line, key_end, self.data.len()));
    }

    fn iter(&self) -> impl Iterator<Item = (usize, &[u8], &[u8])> {
        let mut start = 0;
        self.rows.iter().map(move |&(line, key_end, end)| {
            let key = &self.data[start..key_end];
            let value = &self.data[key_end..end];
            start = end;
            (line, key, value)
        })
    }
}

/// Removes the temporary file unless the build succeeded.
struct TempGuard<'a>(&'a Path);

impl Drop for TempGuard<'_> {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(self.0);
    }
}

/// Opens an existing map for reading.
pub fn open(map: &Path, db_type: DbType) -> Result<smx_maps::dbmap::DbMap, CreatemapError> {
    let path = db_path(map);
    smx_maps::dbmap::DbMap::open(&path, db_type)
        .map_err(|e| CreatemapError::NoInput(format!("cannot read {}: {e}", path.display())))
}

/// Exact lookup of `key` (folded unless `keep_case`).
pub fn query(map: &dyn Map, key: &str, keep_case: bool) -> Result<Option<String>, MapError> {
    if keep_case {
        map.get(key)
    } else {
        map.get(&key.to_lowercase())
    }
}

/// Writes every entry as `key<TAB>value`, without trailing NULs.
pub fn dump(db: &Db, out: &mut dyn Write) -> Result<u64, CreatemapError> {
    let mut n = 0;
    for item in db.iter()? {
        let (k, v) = item?;
        let k = strip_nul(&k);
        let v = strip_nul(&v);
        let io = |e: std::io::Error| CreatemapError::CantCreate(format!("output: {e}"));
        out.write_all(k).map_err(io)?;
        out.write_all(b"\t").map_err(io)?;
        out.write_all(v).map_err(io)?;
        out.write_all(b"\n").map_err(io)?;
        n += 1;
    }
    Ok(n)
}

fn strip_nul(b: &[u8]) -> &[u8] {
    b.strip_suffix(&[0]).unwrap_or(b)
}

/// How `--lookup` walks the keys of an item.
#[derive(Debug, Clone)]
pub struct LookupOptions {
    /// Address options (delimiter, detail matching, local-part fallback).
    pub address: AddressOptions,
    /// Try the `.` default entry after the domains (mailertable).
    pub with_default: bool,
}

impl LookupOptions {
    /// The natural options for a map kind.
    pub fn for_kind(kind: MapKind) -> Self {
        LookupOptions {
            address: AddressOptions {
                delimiter: '+',
                implicitly_match_detail: false,
                localpart_fallback: matches!(kind, MapKind::Aliases),
                domain_match: true,
            },
            with_default: matches!(kind, MapKind::Mailertable),
        }
    }
}

/// `--lookup [TAG:]ITEM`: the full lookup order; returns the trace.
pub fn lookup_item(
    map: &dyn Map,
    item: &str,
    opts: &LookupOptions,
) -> Result<lookup::Lookup, MapError> {
    let (tag, rest) = split_tag(item);
    lookup::lookup_with_default(map, rest, tag, &opts.address, opts.with_default)
}

/// `to:user@x` → (Some("to"), "user@x"); an IPv6-free heuristic: a tag is
/// a leading word of letters, digits, `-` or `_` followed by `:`.
pub fn split_tag(item: &str) -> (Option<&str>, &str) {
    match item.split_once(':') {
        Some((t, rest))
            if !t.is_empty()
                && t.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
                && !t.chars().all(|c| c.is_ascii_digit()) =>
        {
            (Some(t), rest)
        }
        _ => (None, item),
    }
}

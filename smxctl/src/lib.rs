//! smxctl: the offline administration commands of smx.
//!
//! - [`check`] (`smxctl check`) reads `smx.conf`, validates it with
//!   `smx-grammar` and prints every [`Diagnostic`] as text for people, as
//!   JSON Lines, or as GitHub Actions annotations ([`ReportFormat`]).
//! - [`show`] (`smxctl conf show`) prints the effective configuration in
//!   canonical smx.conf syntax, like Postfix's `postconf`: every option
//!   ([`ShowMode::All`], `-d`, also the default) or only those written in the
//!   file ([`ShowMode::Explicit`], `-n`), optionally narrowed to
//!   `SECTION[.OPTION]` filters. The text it prints parses back to the same
//!   configuration.
//!
//! Both commands write to caller-supplied writers so the tests can run them
//! in memory; `main.rs` owns argument parsing and exit codes. The queue
//! commands (status, stats, queue list/show/flush/…, reload, stop) talk to
//! the QMGR control socket: [`remote`] runs them, [`mod@format`] prints them.
//!
//! Decisions recorded here:
//! - `check` writes its findings to standard output in every format: they
//!   are the product of the command (`smxctl check | less` works). Only the
//!   fatal "cannot read" message goes to standard error.
//! - `conf show` writes the configuration to standard output and findings to
//!   standard error; it refuses to print a configuration that has errors,
//!   because the printed text would not be what the daemons run.
//! - A configuration with errors is a finding (exit 1) for both commands; a
//!   file that cannot be read at all is [`CtlError::Unreadable`] (exit 66).

pub mod format;
pub mod remote;

use smx_grammar::diag::render;
use smx_grammar::{Checked, Diagnostic, LoadError, Severity};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

pub use smx_grammar::ShowMode;

/// The configuration file read when `-f` is not given.
pub const DEFAULT_CONFIG: &str = "/etc/smx/smx.conf";

/// How `smxctl check` prints its findings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportFormat {
    /// rustc-like text with the source line and a caret, then a summary line.
    Human,
    /// One JSON object per finding and line (JSON Lines); nothing else.
    Json,
    /// GitHub Actions workflow commands (`::error file=…,line=…`); nothing else.
    Github,
}

impl From<ReportFormat> for smx_grammar::Format {
    fn from(f: ReportFormat) -> Self {
        match f {
            ReportFormat::Human => smx_grammar::Format::Human,
            ReportFormat::Json => smx_grammar::Format::Json,
            ReportFormat::Github => smx_grammar::Format::Github,
        }
    }
}

/// Why a command could not do its work (as opposed to reporting findings).
///
/// `Display` and `Error` are written by hand; the queue commands have their
/// own [`remote::RemoteError`].
#[derive(Debug)]
pub enum CtlError {
    /// The configuration file cannot be read or is not UTF-8 text (EX_NOINPUT).
    Unreadable {
        /// The file as given.
        path: String,
        /// Why, in words.
        reason: String,
    },
    /// The configuration has errors; they were printed (findings, exit 1).
    InvalidConfig {
        /// The file as given.
        path: String,
        /// How many errors.
        errors: usize,
    },
    /// A `conf show` filter that selects nothing (exit 1, like a finding).
    NoSuchFilter(String),
    /// Writing the output failed (EX_IOERR).
    Output(io::Error),
}

impl std::fmt::Display for CtlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CtlError::Unreadable { path, reason } => write!(f, "cannot read {path}: {reason}"),
            CtlError::InvalidConfig { path, errors } => write!(
                f,
                "{path}: {}; configuration not shown",
                plural(*errors, "error")
            ),
            CtlError::NoSuchFilter(filter) => write!(f, "no such section or option: {filter}"),
            CtlError::Output(e) => write!(f, "cannot write output: {e}"),
        }
    }
}

impl std::error::Error for CtlError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            CtlError::Output(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for CtlError {
    fn from(e: io::Error) -> Self {
        CtlError::Output(e)
    }
}

/// What `smxctl check` found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Summary {
    /// Number of errors.
    pub errors: usize,
    /// Number of warnings.
    pub warnings: usize,
}

impl Summary {
    /// Counts the findings of `diags`.
    pub fn of(diags: &[Diagnostic]) -> Self {
        let errors = diags
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .count();
        Summary {
            errors,
            warnings: diags.len() - errors,
        }
    }

    /// True when the check fails: any error, or with `strict` any warning.
    pub fn fails(&self, strict: bool) -> bool {
        self.errors > 0 || (strict && self.warnings > 0)
    }

    /// `2 errors, 1 warning`, or `OK` when there is nothing.
    pub fn describe(&self) -> String {
        match (self.errors, self.warnings) {
            (0, 0) => "OK".to_string(),
            (e, 0) => plural(e, "error"),
            (0, w) => plural(w, "warning"),
            (e, w) => format!("{}, {}", plural(e, "error"), plural(w, "warning")),
        }
    }
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("{n} {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// Reads and checks `path`, mapping read failures to [`CtlError::Unreadable`].
pub fn load(path: &Path) -> Result<Checked, CtlError> {
    smx_grammar::check_file(path).map_err(|e| match e {
        LoadError::Io { path, source } => CtlError::Unreadable {
            path,
            reason: io_reason(&source),
        },
        LoadError::NotUtf8 { path, offset } => CtlError::Unreadable {
            path,
            reason: format!("not UTF-8 text (invalid byte at offset {offset})"),
        },
    })
}

/// The error text without Rust's ` (os error N)` suffix, which means nothing
/// to a postmaster.
fn io_reason(e: &io::Error) -> String {
    let text = e.to_string();
    match text.find(" (os error ") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

/// `smxctl check`: prints every finding of `file` to `out` in `format` and
/// returns the counts; the caller decides the exit status with
/// [`Summary::fails`].
pub fn check(file: &Path, format: ReportFormat, out: &mut dyn Write) -> Result<Summary, CtlError> {
    let checked = load(file)?;
    let summary = Summary::of(&checked.diagnostics);
    for d in &checked.diagnostics {
        out.write_all(render(d, &checked.source, format.into()).as_bytes())?;
    }
    if format == ReportFormat::Human {
        writeln!(out, "{}: {}", checked.source.name, summary.describe())?;
    }
    out.flush()?;
    Ok(summary)
}

/// What `smxctl conf show` prints.
#[derive(Debug, Clone)]
pub struct ShowRequest {
    /// The configuration file.
    pub file: PathBuf,
    /// Every option (`-d`, the default) or only those written (`-n`).
    pub mode: ShowMode,
    /// `SECTION[.OPTION]` selections; empty means everything.
    pub filters: Vec<String>,
}

/// `smxctl conf show`: writes the configuration to `out`; warnings go to
/// `diag_out`. With errors, they go to `diag_out` and nothing is shown.
pub fn show(
    req: &ShowRequest,
    out: &mut dyn Write,
    diag_out: &mut dyn Write,
) -> Result<(), CtlError> {
    let checked = load(&req.file)?;
    for d in &checked.diagnostics {
        diag_out.write_all(render(d, &checked.source, smx_grammar::Format::Human).as_bytes())?;
    }
    let summary = Summary::of(&checked.diagnostics);
    if !checked.is_ok() {
        diag_out.flush()?;
        return Err(CtlError::InvalidConfig {
            path: checked.source.name.clone(),
            // A syntax error leaves no configuration; count at least one.
            errors: summary.errors.max(1),
        });
    }
    // A filter is valid when it selects something among all options; with
    // `-n` it may still print nothing, which only means "not set here".
    for f in &req.filters {
        let everything = checked.show(ShowMode::All, std::slice::from_ref(f));
        if everything.map_or(true, |s| s.is_empty()) {
            return Err(CtlError::NoSuchFilter(f.clone()));
        }
    }
    let text = checked.show(req.mode, &req.filters).unwrap_or_default();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_wording() {
        let s = |errors, warnings| Summary { errors, warnings }.describe();
        assert_eq!(s(0, 0), "OK");
        assert_eq!(s(1, 0), "1 error");
        assert_eq!(s(0, 2), "2 warnings");
        assert_eq!(s(2, 1), "2 errors, 1 warning");
    }

    #[test]
    fn strict_fails_on_warnings_only() {
        let w = Summary {
            errors: 0,
            warnings: 1,
        };
        assert!(!w.fails(false));
        assert!(w.fails(true));
        assert!(!Summary::default().fails(true));
    }

    #[test]
    fn missing_file_is_unreadable() {
        let mut out = Vec::new();
        let err = check(
            Path::new("this/file/does/not/exist.conf"),
            ReportFormat::Human,
            &mut out,
        );
        match err {
            Err(CtlError::Unreadable { path, reason }) => {
                assert_eq!(path, "this/file/does/not/exist.conf");
                assert!(!reason.contains("os error"), "{reason}");
            }
            other => panic!("expected Unreadable, got {other:?}"),
        }
        assert!(out.is_empty());
    }
}

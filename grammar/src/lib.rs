//! smx-grammar: the `smx.conf` language of smx (sendmail X README §3).
//!
//! - [`parse`]: the pest grammar (`smx.pest`) and a syntax tree with spans
//!   ([`ast`]);
//! - [`schema`]: every section and option with type, unit, default and doc,
//!   produced by the typed structs of [`config`];
//! - [`check_str`] / [`check_file`]: parse, build the typed [`Config`] and
//!   run the cross-checks of [`cross`], collecting [`Diagnostic`]s with
//!   file:line:col, a caret and a hint.
//!
//! ```
//! let checked = smx_grammar::check_str("smx.conf", "qmgr { retry_min_delay = 10m; }");
//! assert!(checked.is_clean());
//! let conf = checked.config.expect("built");
//! assert_eq!(conf.global.qmgr.retry_min_delay.as_secs(), 600);
//! ```

pub mod ast;
pub mod config;
pub mod cross;
pub mod diag;
pub mod manpage;
pub mod parse;
pub mod schema;
pub mod value;

pub use ast::{LineCol, Source, Span};
pub use config::build::{Ctx, ShowMode};
pub use config::Config;
pub use diag::{Diagnostic, Format, Severity};

use std::path::Path;

/// The outcome of reading one configuration file.
#[derive(Debug)]
pub struct Checked {
    /// The text that was read.
    pub source: Source,
    /// The typed configuration; `None` after a syntax error.
    pub config: Option<Config>,
    /// Findings, in file order.
    pub diagnostics: Vec<Diagnostic>,
    /// Where each written option and section is (paths as in `conf show`).
    pub ctx: Ctx,
}

impl Checked {
    /// True when there is no error (warnings allowed).
    pub fn is_ok(&self) -> bool {
        self.config.is_some()
            && !self
                .diagnostics
                .iter()
                .any(|d| d.severity == Severity::Error)
    }

    /// True when there is no finding at all.
    pub fn is_clean(&self) -> bool {
        self.config.is_some() && self.diagnostics.is_empty()
    }

    /// The errors.
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Error)
    }

    /// The effective configuration in canonical syntax (`smxctl conf show`).
    pub fn show(&self, mode: ShowMode, filters: &[String]) -> Option<String> {
        self.config
            .as_ref()
            .map(|c| c.show(&self.ctx, mode, filters))
    }
}

/// Parses and checks a configuration text; `name` is used in diagnostics.
pub fn check_str(name: &str, text: &str) -> Checked {
    check_source(Source::new(name, text))
}

/// Parses and checks a [`Source`].
pub fn check_source(source: Source) -> Checked {
    let mut ctx = Ctx::default();
    match parse::parse(source) {
        Err((source, d)) => Checked {
            source,
            config: None,
            diagnostics: vec![d],
            ctx,
        },
        Ok(doc) => {
            let conf = config::build(&doc, &mut ctx);
            cross::check(&conf, &mut ctx);
            let mut diagnostics = std::mem::take(&mut ctx.diags);
            diagnostics.sort_by_key(|d| d.span.map(|s| s.start));
            Checked {
                source: doc.source,
                config: Some(conf),
                diagnostics,
                ctx,
            }
        }
    }
}

/// Errors reading a configuration file (before it can be parsed).
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file cannot be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not UTF-8.
    #[error("{path}: not UTF-8 text (byte {offset})")]
    NotUtf8 {
        /// The file.
        path: String,
        /// Offset of the first bad byte.
        offset: usize,
    },
}

/// Reads and checks a configuration file.
pub fn check_file(path: &Path) -> Result<Checked, LoadError> {
    let name = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|source| LoadError::Io {
        path: name.clone(),
        source,
    })?;
    let text = String::from_utf8(bytes).map_err(|e| LoadError::NotUtf8 {
        path: name.clone(),
        offset: e.utf8_error().valid_up_to(),
    })?;
    Ok(check_str(&name, &text))
}

/// The check of the fuzz target (the `smx_conf` target of `fuzz/`), shared with the test that
/// replays its corpus: reads `bytes` (lossy UTF-8) and, when a configuration
/// was built, writes it with `show` in both modes and reads that back. The
/// output of `show` must never have a syntax error; when the input had no
/// error, it must read back without error to the same configuration.
/// Panics on a violation.
#[doc(hidden)]
pub fn fuzz_check(bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    let checked = check_str("fuzz.conf", &text);
    let Some(conf) = &checked.config else {
        return;
    };
    for mode in [ShowMode::All, ShowMode::Explicit] {
        let shown = conf.show(&checked.ctx, mode, &[]);
        let again = check_str("shown.conf", &shown);
        let errors: Vec<String> = again.errors().map(|d| format!("{d:?}")).collect();
        assert!(
            again.config.is_some(),
            "show({mode:?}) wrote a syntax error: {errors:?}\n--- input\n{text}\n--- shown\n{shown}"
        );
        if checked.is_ok() {
            assert!(
                errors.is_empty(),
                "show({mode:?}) of a valid file is not valid: {errors:?}\n--- input\n{text}\n--- shown\n{shown}"
            );
            assert!(
                again.config.as_ref() == Some(conf),
                "show({mode:?}) reads back to another configuration\n--- input\n{text}\n--- shown\n{shown}"
            );
        }
    }
}

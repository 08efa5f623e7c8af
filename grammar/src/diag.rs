//! Diagnostics: severity, stable code, file:line:col, the source line with a
//! caret, and a hint; rendered for people, as JSON, or as GitHub annotations.
//!
//! Codes are stable: scripts and CI rules may match on them. The table of
//! codes is [`codes`]; `man/smxctl.8` lists it.

use crate::ast::{LineCol, Source, Span};
use serde::Serialize;
use std::fmt::Write as _;

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Likely a mistake, but the configuration can run.
    Warning,
    /// The configuration cannot be used as written.
    Error,
}

impl Severity {
    /// `error` or `warning`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// Stable code, e.g. `E011`.
    pub code: &'static str,
    /// What is wrong, in the user's words.
    pub message: String,
    /// Where; `None` for findings about the file as a whole.
    pub span: Option<Span>,
    /// How to fix it, when there is something useful to say.
    pub hint: Option<String>,
}

impl Diagnostic {
    /// An error at `span`.
    pub fn error(code: &'static str, span: Span, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            code,
            message: message.into(),
            span: Some(span),
            hint: None,
        }
    }

    /// A warning at `span`.
    pub fn warning(code: &'static str, span: Span, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(code, span, message)
        }
    }

    /// Adds a hint.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Line and column in `source`, if the finding has a place.
    pub fn line_col(&self, source: &Source) -> Option<LineCol> {
        self.span.map(|s| source.line_col(s.start))
    }
}

/// The stable diagnostic codes.
pub mod codes {
    /// Syntax error: the file does not follow the grammar of README §3.2.
    pub const SYNTAX: &str = "E001";
    /// A quoted string is not closed on its line.
    pub const UNTERMINATED_STRING: &str = "E002";
    /// A backslash escape in a quoted string is not a C escape.
    pub const BAD_ESCAPE: &str = "E003";
    /// The file cannot be read, or is not UTF-8.
    pub const UNREADABLE: &str = "E004";
    /// Unknown section.
    pub const UNKNOWN_SECTION: &str = "E010";
    /// Unknown option.
    pub const UNKNOWN_OPTION: &str = "E011";
    /// A section that needs a name has none (`map { }`).
    pub const MISSING_SECTION_NAME: &str = "E012";
    /// A section that takes no name has one (`qmgr main { }`).
    pub const UNEXPECTED_SECTION_NAME: &str = "E013";
    /// A section written as an option (`log = x;`).
    pub const SECTION_AS_OPTION: &str = "E014";
    /// An option written as a section (`port { }`).
    pub const OPTION_AS_SECTION: &str = "E015";
    /// A value of the wrong type (text where a number is needed, ...).
    pub const WRONG_TYPE: &str = "E020";
    /// A unit that the option does not take.
    pub const BAD_UNIT: &str = "E021";
    /// A value out of range.
    pub const OUT_OF_RANGE: &str = "E022";
    /// A value not among the allowed keywords.
    pub const BAD_KEYWORD: &str = "E023";
    /// A flag not among the allowed flags.
    pub const BAD_FLAG: &str = "E024";
    /// A list where one value is expected.
    pub const LIST_NOT_ALLOWED: &str = "E025";
    /// Not an IPv4 address.
    pub const BAD_ADDRESS: &str = "E026";
    /// An option given twice in one section.
    pub const DUPLICATE_OPTION: &str = "E030";
    /// A section given twice where only one is allowed, or two with one name.
    pub const DUPLICATE_SECTION: &str = "E031";
    /// A required option is missing.
    pub const MISSING_OPTION: &str = "E040";
    /// An MCP-started section that is not a known component lacks `path`
    /// or `arguments` (README §3.7).
    pub const SERVICE_NEEDS_PROGRAM: &str = "E041";
    /// `listen_socket` is missing for a start_action other than `wait`.
    pub const MISSING_LISTEN_SOCKET: &str = "E042";
    /// A reference to a map that is not declared.
    pub const UNDECLARED_MAP: &str = "E043";
    /// `restart_dependencies` names a section that does not exist.
    pub const UNKNOWN_DEPENDENCY: &str = "E044";
    /// `ok_disk_space` is not above `min_disk_space`.
    pub const DISK_SPACE_ORDER: &str = "E045";
    /// `hash_table_entries` is not above `max_cache_entries`.
    pub const HASH_TABLE_SIZE: &str = "E046";
    /// Two SMTP servers with the same `id`.
    pub const DUPLICATE_SMTPS_ID: &str = "E047";
    /// A map option that does not belong to the map's type.
    pub const MAP_OPTION_FOR_TYPE: &str = "E048";
    /// A map declaration that lacks what its type needs.
    pub const MAP_INCOMPLETE: &str = "E049";
    /// A `listen_socket` that lacks what its type needs.
    pub const SOCKET_INCOMPLETE: &str = "E050";
    /// `min_processes` above `max_processes`.
    pub const PROCESS_COUNT_ORDER: &str = "E051";
    /// `retry_min_delay` above `retry_max_delay`.
    pub const RETRY_ORDER: &str = "E052";
    /// Both `file` and `name` given where exactly one is allowed.
    pub const FILE_AND_NAME: &str = "E053";
    /// A sequence map that contains itself.
    pub const MAP_CYCLE: &str = "E054";
    /// `protected_recipients` without an `allow_by` flag.
    pub const ALLOW_BY_MISSING: &str = "E055";
    /// More than four nameservers (README §3.9.2 item 10).
    pub const TOO_MANY_NAMESERVERS: &str = "E056";
    /// `AQ_max_entries` not larger than the recipients of one transaction.
    pub const AQ_TOO_SMALL: &str = "E057";
    /// Two listeners on the same address and port.
    pub const DUPLICATE_LISTENER: &str = "E058";
    /// A netmask wider than 32 bits (only the low 32 bits are used).
    pub const WIDE_NETMASK: &str = "W001";
    /// `queue_delay_timeout` not below `queue_return_timeout`: no delay DSNs.
    pub const NO_DELAY_DSN: &str = "W002";
    /// A feature that needs the `access` flag of smtps, which is not set.
    pub const NEEDS_ACCESS_FLAG: &str = "W003";
    /// smtps `greylisting` flag without a `greylisting` section in smar.
    pub const GREYLISTING_NOT_CONFIGURED: &str = "W004";
    /// TLS certificate without key, or key without certificate.
    pub const TLS_INCOMPLETE: &str = "W005";
    /// `max_processes = 0`: the MCP starts no process for the section.
    pub const MIN_PROCESSES_ZERO: &str = "W006";
    /// A value that works but is almost certainly not what was meant.
    pub const SUSPICIOUS_VALUE: &str = "W007";
    /// An option written in the place an older layout used (the seed's
    /// `qmgr { max_errors_per_DSN }`): accepted and moved.
    pub const LEGACY_PLACE: &str = "W008";
    /// qmgr, smar, smtps and smtpc run as different users that do not
    /// share one `group`.
    pub const NO_SHARED_GROUP: &str = "W009";

    /// Every code with a one-line description, for `smxctl(8)`.
    pub const ALL: &[(&str, &str)] = &[
        (SYNTAX, "syntax error"),
        (UNTERMINATED_STRING, "unterminated quoted string"),
        (BAD_ESCAPE, "unknown escape in a quoted string"),
        (UNREADABLE, "file cannot be read or is not UTF-8"),
        (UNKNOWN_SECTION, "unknown section"),
        (UNKNOWN_OPTION, "unknown option"),
        (MISSING_SECTION_NAME, "section needs a name"),
        (UNEXPECTED_SECTION_NAME, "section takes no name"),
        (SECTION_AS_OPTION, "section written as an option"),
        (OPTION_AS_SECTION, "option written as a section"),
        (WRONG_TYPE, "value of the wrong type"),
        (BAD_UNIT, "unit not allowed for this option"),
        (OUT_OF_RANGE, "value out of range"),
        (BAD_KEYWORD, "value not among the allowed keywords"),
        (BAD_FLAG, "flag not among the allowed flags"),
        (LIST_NOT_ALLOWED, "list given where one value is expected"),
        (BAD_ADDRESS, "not an IPv4 address"),
        (DUPLICATE_OPTION, "option given twice"),
        (DUPLICATE_SECTION, "section given twice"),
        (MISSING_OPTION, "required option missing"),
        (
            SERVICE_NEEDS_PROGRAM,
            "MCP section needs path and arguments",
        ),
        (
            MISSING_LISTEN_SOCKET,
            "listen_socket needed for this start_action",
        ),
        (UNDECLARED_MAP, "map not declared"),
        (
            UNKNOWN_DEPENDENCY,
            "restart_dependencies names an unknown section",
        ),
        (
            DISK_SPACE_ORDER,
            "ok_disk_space must be above min_disk_space",
        ),
        (
            HASH_TABLE_SIZE,
            "hash_table_entries must be above max_cache_entries",
        ),
        (DUPLICATE_SMTPS_ID, "two SMTP servers share an id"),
        (
            MAP_OPTION_FOR_TYPE,
            "map option does not belong to the map type",
        ),
        (MAP_INCOMPLETE, "map declaration incomplete for its type"),
        (SOCKET_INCOMPLETE, "listen_socket incomplete for its type"),
        (PROCESS_COUNT_ORDER, "min_processes above max_processes"),
        (RETRY_ORDER, "retry_min_delay above retry_max_delay"),
        (FILE_AND_NAME, "both file and name given"),
        (MAP_CYCLE, "sequence map contains itself"),
        (ALLOW_BY_MISSING, "protected_recipients needs allow_by"),
        (TOO_MANY_NAMESERVERS, "more than four nameservers"),
        (AQ_TOO_SMALL, "AQ_max_entries too small for one transaction"),
        (DUPLICATE_LISTENER, "two listeners on one address and port"),
        (WIDE_NETMASK, "netmask wider than 32 bits"),
        (NO_DELAY_DSN, "delay DSNs are turned off"),
        (NEEDS_ACCESS_FLAG, "feature needs the smtps access flag"),
        (
            GREYLISTING_NOT_CONFIGURED,
            "greylisting flag without smar greylisting",
        ),
        (TLS_INCOMPLETE, "TLS certificate and key must come together"),
        (
            MIN_PROCESSES_ZERO,
            "component configured to start no process",
        ),
        (SUSPICIOUS_VALUE, "value is almost certainly a mistake"),
        (LEGACY_PLACE, "option in an older place; accepted"),
        (
            NO_SHARED_GROUP,
            "components run as different users without one group",
        ),
    ];
}

/// Output formats of `smxctl check`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// rustc-like, with the source line and a caret.
    Human,
    /// One JSON object per line.
    Json,
    /// `::error file=..,line=..,col=..::message` for GitHub Actions.
    Github,
}

/// One diagnostic as a JSON object (`smxctl check --format json`).
#[derive(Serialize)]
struct JsonDiag<'a> {
    severity: Severity,
    code: &'a str,
    file: &'a str,
    line: Option<usize>,
    col: Option<usize>,
    message: &'a str,
    hint: Option<&'a str>,
}

/// Renders one diagnostic.
pub fn render(diag: &Diagnostic, source: &Source, format: Format) -> String {
    let lc = diag.line_col(source);
    match format {
        Format::Human => render_human(diag, source, lc),
        Format::Json => {
            let j = JsonDiag {
                severity: diag.severity,
                code: diag.code,
                file: &source.name,
                line: lc.map(|l| l.line),
                col: lc.map(|l| l.col),
                message: &diag.message,
                hint: diag.hint.as_deref(),
            };
            let mut s = serde_json::to_string(&j).unwrap_or_default();
            s.push('\n');
            s
        }
        Format::Github => {
            let mut s = format!(
                "::{} file={}",
                diag.severity.as_str(),
                gh_prop(&source.name)
            );
            if let Some(lc) = lc {
                let _ = write!(s, ",line={},col={}", lc.line, lc.col);
            }
            let _ = write!(s, ",title={}::{}", diag.code, gh_data(&diag.message));
            if let Some(h) = &diag.hint {
                let _ = write!(s, "%0Ahint: {}", gh_data(h));
            }
            s.push('\n');
            s
        }
    }
}

fn render_human(diag: &Diagnostic, source: &Source, lc: Option<LineCol>) -> String {
    let mut s = String::new();
    match lc {
        Some(lc) => {
            let _ = writeln!(
                s,
                "{}:{}:{}: {}[{}]: {}",
                source.name,
                lc.line,
                lc.col,
                diag.severity.as_str(),
                diag.code,
                diag.message
            );
            let line = source.line_text(lc.line);
            let width = lc.line.to_string().len();
            let _ = writeln!(s, "{:width$} |", "");
            let _ = writeln!(s, "{} | {}", lc.line, line.replace('\t', " "));
            let span_len = diag.span.map_or(1, |sp| {
                let text = source.slice(sp);
                text.lines().next().map_or(1, |l| l.chars().count().max(1))
            });
            let room = line.chars().count().saturating_sub(lc.col - 1).max(1);
            let _ = writeln!(
                s,
                "{:width$} | {}{}",
                "",
                " ".repeat(lc.col - 1),
                "^".repeat(span_len.min(room))
            );
        }
        None => {
            let _ = writeln!(
                s,
                "{}: {}[{}]: {}",
                source.name,
                diag.severity.as_str(),
                diag.code,
                diag.message
            );
        }
    }
    if let Some(h) = &diag.hint {
        let _ = writeln!(s, "  = hint: {h}");
    }
    s
}

fn gh_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

fn gh_prop(s: &str) -> String {
    gh_data(s).replace(':', "%3A").replace(',', "%2C")
}

/// Edit distance, for "did you mean": insertions, deletions, substitutions
/// and transpositions of two adjacent characters (`qmrg` is one edit from
/// `qmgr`) each count one.
pub fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.to_ascii_lowercase().chars().collect();
    let b: Vec<char> = b.to_ascii_lowercase().chars().collect();
    let mut prev2: Vec<usize> = vec![0; b.len() + 1];
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        cur[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            cur[j] = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                cur[j] = cur[j].min(prev2[j - 2] + 1);
            }
        }
        std::mem::swap(&mut prev2, &mut prev);
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// The closest candidate within a small edit distance, for "did you mean".
pub fn suggest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (word.len() / 3).clamp(1, 3);
    candidates
        .into_iter()
        .map(|c| (distance(word, c), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

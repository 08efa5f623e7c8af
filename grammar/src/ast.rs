//! The syntax tree of an smx.conf file (README §3.2), with source spans.
//!
//! The tree keeps what was written, not what it means: option values are the
//! raw words and strings of the file. The schema (`crate::schema`) decides how
//! a value is read; `crate::config` builds typed structs from a checked tree.

use std::fmt;

/// A byte range in a [`Source`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    /// Offset of the first byte.
    pub start: usize,
    /// Offset one past the last byte.
    pub end: usize,
}

impl Span {
    /// A span from `start` to `end`.
    pub fn new(start: usize, end: usize) -> Self {
        Span { start, end }
    }
}

/// The text of one configuration file and its name, with a line index.
#[derive(Debug, Clone)]
pub struct Source {
    /// The name shown in diagnostics (normally the path as given).
    pub name: String,
    /// The whole text.
    pub text: String,
    line_starts: Vec<usize>,
}

/// A 1-based line and column (columns count characters, not bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct LineCol {
    /// Line, from 1.
    pub line: usize,
    /// Column, from 1.
    pub col: usize,
}

impl Source {
    /// Wraps a text; `name` is what diagnostics call the file.
    pub fn new(name: impl Into<String>, text: impl Into<String>) -> Self {
        let text = text.into();
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Source {
            name: name.into(),
            text,
            line_starts,
        }
    }

    /// Line and column of a byte offset.
    pub fn line_col(&self, offset: usize) -> LineCol {
        let offset = offset.min(self.text.len());
        let line = match self.line_starts.binary_search(&offset) {
            Ok(i) => i,
            Err(i) => i - 1,
        };
        let start = self.line_starts[line];
        let col = self
            .text
            .get(start..offset)
            .map_or(1, |s| s.chars().count() + 1);
        LineCol {
            line: line + 1,
            col,
        }
    }

    /// The text of line `line` (1-based), without its line end.
    pub fn line_text(&self, line: usize) -> &str {
        let Some(&start) = self.line_starts.get(line.saturating_sub(1)) else {
            return "";
        };
        let end = self
            .line_starts
            .get(line)
            .map_or(self.text.len(), |&e| e.saturating_sub(1));
        self.text
            .get(start..end.max(start))
            .unwrap_or("")
            .trim_end_matches('\r')
    }

    /// The text covered by a span.
    pub fn slice(&self, span: Span) -> &str {
        self.text.get(span.start..span.end).unwrap_or("")
    }
}

/// A name as written, with its span. Comparisons ignore ASCII case (§3.2:
/// "Keywords and options are not case sensitive").
#[derive(Debug, Clone)]
pub struct Ident {
    /// The name exactly as written.
    pub text: String,
    /// Where it was written.
    pub span: Span,
}

impl Ident {
    /// True when this names `other`, ignoring ASCII case.
    pub fn is(&self, other: &str) -> bool {
        self.text.eq_ignore_ascii_case(other)
    }
}

impl fmt::Display for Ident {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// One piece of a value: a bare word or a (decoded) quoted string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    /// A bare word such as `25`, `5m3s`, `/usr/libexec/smtps`.
    Word(String),
    /// A quoted string, escapes decoded.
    Quoted(String),
}

/// A value: one or more words and strings up to `;`, `,` or `}`.
#[derive(Debug, Clone)]
pub struct Value {
    /// The pieces in order.
    pub parts: Vec<Part>,
    /// Where the value was written.
    pub span: Span,
}

impl Value {
    /// The value as one string: adjacent quoted strings are concatenated
    /// (ANSI C style, §3.3), words are joined by one space (`1h 5m 12s`).
    pub fn text(&self) -> String {
        let mut out = String::new();
        let mut prev_quoted = None;
        for part in &self.parts {
            match part {
                Part::Quoted(s) => {
                    if prev_quoted == Some(false) {
                        out.push(' ');
                    }
                    out.push_str(s);
                    prev_quoted = Some(true);
                }
                Part::Word(w) => {
                    if prev_quoted.is_some() {
                        out.push(' ');
                    }
                    out.push_str(w);
                    prev_quoted = Some(false);
                }
            }
        }
        out
    }

    /// True when the value was written (entirely) as quoted strings.
    pub fn is_quoted(&self) -> bool {
        self.parts.iter().all(|p| matches!(p, Part::Quoted(_)))
    }
}

/// The right-hand side of an option.
#[derive(Debug, Clone)]
pub enum Rhs {
    /// `name = value;`
    Single(Value),
    /// `name = { a, b };`
    List {
        /// The items.
        items: Vec<Value>,
        /// From `{` to `}`.
        span: Span,
    },
}

impl Rhs {
    /// Where the right-hand side was written.
    pub fn span(&self) -> Span {
        match self {
            Rhs::Single(v) => v.span,
            Rhs::List { span, .. } => *span,
        }
    }
}

/// `name = rhs`
#[derive(Debug, Clone)]
pub struct OptionNode {
    /// The option name.
    pub name: Ident,
    /// Its value or values.
    pub rhs: Rhs,
    /// The whole option.
    pub span: Span,
}

/// `keyword [name] { entries }`
#[derive(Debug, Clone)]
pub struct SectionNode {
    /// The section keyword (`qmgr`, `map`, `smtps`, ...).
    pub keyword: Ident,
    /// The optional name (`map lusers`, `smtps MTA`).
    pub name: Option<Ident>,
    /// The entries inside the braces.
    pub entries: Vec<Entry>,
    /// The whole section.
    pub span: Span,
}

impl SectionNode {
    /// `keyword` or `keyword name`, as written.
    pub fn title(&self) -> String {
        match &self.name {
            Some(n) => format!("{} {}", self.keyword.text, n.text),
            None => self.keyword.text.clone(),
        }
    }
}

/// One entry of a file or section.
#[derive(Debug, Clone)]
pub enum Entry {
    /// An option.
    Option(OptionNode),
    /// A section.
    Section(SectionNode),
}

/// A parsed file: its source and its top-level entries.
#[derive(Debug, Clone)]
pub struct Document {
    /// The text the tree was read from.
    pub source: Source,
    /// Top-level entries (global options and sections).
    pub entries: Vec<Entry>,
}

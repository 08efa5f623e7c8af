//! Reading text map sources: one `key value` entry per line (sendmail X
//! README §3.9.3: "an entry consists of a LHS and a RHS ... separated by one
//! or more whitespace characters"; aliases are written `name: value`).
//!
//! [`entries`] streams the entries of a source text without copying: keys and
//! values borrow from the input unless a Postfix continuation line or an
//! escaped quoted key forces a new string. It scans bytes with `str::find`
//! (memchr) and never runs a regular expression, so a million-line access map
//! goes through in a fraction of a second.
//!
//! Two conventions, chosen by the caller ([`Convention`]):
//!
//! - **sendmail** (makemap): a line that starts with whitespace is an error,
//!   keys are taken literally (a `"` is an ordinary character).
//! - **Postfix** (postmap): a line that starts with whitespace continues the
//!   previous entry (joined with one space) and a key may be double-quoted,
//!   `"key with spaces" value`, with `\"` and `\\` escapes.
//!
//! Common to both: lines whose first non-blank character is `#` and blank
//! lines are skipped (also between an entry and its continuation lines, as
//! postmap does; a whitespace-indented `#` line is a comment in both
//! conventions, a leniency over makemap that loses nothing), CRLF endings are
//! accepted, trailing whitespace is dropped, and a key without a value yields
//! an empty value: both makemap and postmap accept it, so the map kinds
//! ([`crate::kind`]) decide whether an empty right-hand side is an error.
//!
//! After an error the iterator goes on with the next line, so a tool can list
//! every bad line of a file in one run.

use std::borrow::Cow;
use std::fmt;

/// Whose rules apply to continuation lines and quoting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Convention {
    /// sendmail 8 makemap: no continuation lines, no quoting.
    #[default]
    Sendmail,
    /// Postfix postmap: indented lines continue an entry; keys may be quoted.
    Postfix,
}

/// How the key is separated from the value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Separator {
    /// `key value`: the key ends at the first space or tab.
    #[default]
    Whitespace,
    /// aliases style `name: value`; also `name : value` and `name:value`.
    Colon,
}

/// One entry of a map source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceEntry<'a> {
    /// 1-based line number of the line that holds the key.
    pub line: usize,
    /// The key (LHS), unquoted.
    pub key: Cow<'a, str>,
    /// The value (RHS), trimmed; may be empty.
    pub value: Cow<'a, str>,
}

/// A line that cannot be read as an entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong, in the postmaster's words.
    pub message: String,
}

impl fmt::Display for SourceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for SourceError {}

/// The entries of `text`, in order, with one error per bad line.
pub fn entries<'a>(
    text: &'a str,
    conv: Convention,
    sep: Separator,
) -> impl Iterator<Item = Result<SourceEntry<'a>, SourceError>> + 'a {
    Entries {
        lines: Lines {
            rest: text,
            line: 0,
        },
        conv,
        sep,
        peeked: None,
    }
}

/// Physical lines without their `\n` / `\r\n`, numbered from 1.
struct Lines<'a> {
    rest: &'a str,
    line: usize,
}

impl<'a> Iterator for Lines<'a> {
    type Item = (usize, &'a str);

    fn next(&mut self) -> Option<(usize, &'a str)> {
        if self.rest.is_empty() {
            return None;
        }
        let (line, rest) = match self.rest.find('\n') {
            Some(i) => (&self.rest[..i], &self.rest[i + 1..]),
            None => (self.rest, ""),
        };
        self.rest = rest;
        self.line += 1;
        Some((self.line, line.strip_suffix('\r').unwrap_or(line)))
    }
}

/// What one physical line is.
enum LineKind<'a> {
    /// Blank or comment: skipped.
    Skip,
    /// Starts with whitespace and has text: the trimmed text.
    Indented(&'a str),
    /// Starts an entry: the line without trailing whitespace.
    Entry(&'a str),
}

fn classify(line: &str) -> LineKind<'_> {
    let text = line.trim();
    if text.is_empty() || text.starts_with('#') {
        LineKind::Skip
    } else if line.starts_with([' ', '\t']) {
        LineKind::Indented(text)
    } else {
        LineKind::Entry(text)
    }
}

struct Entries<'a> {
    lines: Lines<'a>,
    conv: Convention,
    sep: Separator,
    /// An entry line read while looking for continuation lines.
    peeked: Option<(usize, &'a str)>,
}

impl<'a> Iterator for Entries<'a> {
    type Item = Result<SourceEntry<'a>, SourceError>;

    fn next(&mut self) -> Option<Self::Item> {
        let (line, first) = match self.peeked.take() {
            Some(entry) => entry,
            None => loop {
                let (n, raw) = self.lines.next()?;
                match classify(raw) {
                    LineKind::Skip => continue,
                    LineKind::Entry(text) => break (n, text),
                    LineKind::Indented(_) => {
                        let message = match self.conv {
                            Convention::Sendmail => "line starts with whitespace; \
                                 continuation lines are a Postfix convention"
                                .to_string(),
                            Convention::Postfix => "continuation line (starts with \
                                 whitespace) without an entry before it"
                                .to_string(),
                        };
                        return Some(Err(SourceError { line: n, message }));
                    }
                }
            },
        };
        if self.conv == Convention::Sendmail {
            return Some(split(first, self.conv, self.sep, line));
        }
        // Postfix: gather the indented lines that follow.
        let mut joined: Option<String> = None;
        for (n, raw) in self.lines.by_ref() {
            match classify(raw) {
                LineKind::Skip => {}
                LineKind::Indented(text) => {
                    let buf = joined.get_or_insert_with(|| first.to_string());
                    buf.push(' ');
                    buf.push_str(text);
                }
                LineKind::Entry(text) => {
                    self.peeked = Some((n, text));
                    break;
                }
            }
        }
        Some(match joined {
            None => split(first, self.conv, self.sep, line),
            Some(logical) => split(&logical, self.conv, self.sep, line).map(|e| SourceEntry {
                line: e.line,
                key: Cow::Owned(e.key.into_owned()),
                value: Cow::Owned(e.value.into_owned()),
            }),
        })
    }
}

/// Splits one logical line (no leading whitespace, no trailing whitespace)
/// into key and value.
fn split<'b>(
    text: &'b str,
    conv: Convention,
    sep: Separator,
    line: usize,
) -> Result<SourceEntry<'b>, SourceError> {
    let err = |message: String| SourceError { line, message };
    let (key, rest) = if conv == Convention::Postfix && text.starts_with('"') {
        let (key, rest) = quoted_key(text).map_err(err)?;
        match sep {
            Separator::Whitespace => (key, rest),
            Separator::Colon => {
                let rest = rest.trim_start();
                match rest.strip_prefix(':') {
                    Some(value) => (key, value),
                    None => return Err(err(missing_colon(&key))),
                }
            }
        }
    } else {
        let end = text.find([' ', '\t']).unwrap_or(text.len());
        let (token, rest) = text.split_at(end);
        match sep {
            Separator::Whitespace => (Cow::Borrowed(token), rest),
            Separator::Colon => match token.find(':') {
                // `name:` or `name:value` (value glued to the colon).
                Some(i) => (Cow::Borrowed(&token[..i]), &text[i + 1..]),
                // `name : value`
                None => match rest.trim_start().strip_prefix(':') {
                    Some(value) => (Cow::Borrowed(token), value),
                    None => return Err(err(missing_colon(token))),
                },
            },
        }
    };
    if key.is_empty() {
        return Err(err("empty key before ':'".to_string()));
    }
    Ok(SourceEntry {
        line,
        key,
        value: Cow::Borrowed(rest.trim()),
    })
}

fn missing_colon(key: &str) -> String {
    format!("missing ':' after \"{key}\"; aliases entries are written \"name: value\"")
}

/// A Postfix-style quoted key at the start of `text`: the key and the text
/// after the closing quote (which must be followed by whitespace, a colon or
/// the end of the line).
fn quoted_key(text: &str) -> Result<(Cow<'_, str>, &str), String> {
    let body = &text[1..];
    let bytes = body.as_bytes();
    let mut i = 0;
    let mut escaped = false;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if i + 1 < bytes.len() => {
                escaped = true;
                i += 2;
                continue;
            }
            b'"' => {
                let raw = &body[..i];
                let rest = &body[i + 1..];
                if let Some(c) = rest.chars().next() {
                    if !c.is_whitespace() && c != ':' {
                        return Err(format!(
                            "text directly after the closing quote of the key \"{raw}\"; \
                             put a space between key and value"
                        ));
                    }
                }
                if raw.is_empty() {
                    return Err("empty quoted key \"\"".to_string());
                }
                let key = if escaped {
                    Cow::Owned(unescape(raw))
                } else {
                    Cow::Borrowed(raw)
                };
                return Ok((key, rest));
            }
            _ => i += 1,
        }
    }
    Err("unterminated quoted key: a '\"' opens the key but none closes it".to_string())
}

/// Undoes backslash escapes: `\x` is `x` (`\"`, `\\`).
fn unescape(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(next) = chars.next() {
                out.push(next);
            }
        } else {
            out.push(c);
        }
    }
    out
}

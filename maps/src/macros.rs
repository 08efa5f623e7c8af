//! Macro replacement in the right-hand side of map entries (sendmail X
//! README §3.12.3, aliases flag `replace_macros`).
//!
//! Macros have the form `${name}`: `user`, `detail`, `domain`, `tag`,
//! `delimiter`, `subdomain`, `extension`. `extension` is the delimiter and
//! the detail together when the address has a detail (even an empty one:
//! `user+@d` gives `+`), otherwise empty; `subdomain` is the part of the
//! input domain before a matched `.domain` pattern. A macro without a value
//! (no detail, no subdomain) expands to the empty string; an unknown
//! `${name}` and an unterminated `${` are left as they are, so a typo shows
//! up in the result instead of silently vanishing.
//!
//! The seed's example: `alias*@.domain  user${extension}@${subdomain}.domain`
//! maps `alias@host.domain` to `user@host.domain` and
//! `alias+detail@host2.domain` to `user+detail@host2.domain`.

use crate::lookup::Candidate;

/// The values the macros of §3.12.3 expand to.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MacroContext {
    /// `${user}`: the user part of the address.
    pub user: String,
    /// `${detail}`: the detail, without the delimiter.
    pub detail: Option<String>,
    /// `${domain}`: the domain of the address.
    pub domain: String,
    /// `${tag}`: the map tag of the lookup, without its colon.
    pub tag: String,
    /// `${delimiter}`: the address delimiter.
    pub delimiter: char,
    /// `${subdomain}`: the part of the domain before a `.domain` pattern.
    pub subdomain: Option<String>,
}

impl MacroContext {
    /// The context of a matched candidate, looked up under `tag` (given with
    /// or without its colon).
    pub fn from_candidate(candidate: &Candidate, tag: Option<&str>) -> Self {
        MacroContext {
            user: candidate.user.clone(),
            detail: candidate.detail.clone(),
            domain: candidate.domain.clone(),
            tag: tag
                .map(|t| t.strip_suffix(':').unwrap_or(t).to_string())
                .unwrap_or_default(),
            delimiter: candidate.delimiter,
            subdomain: candidate.subdomain.clone(),
        }
    }

    /// The value of macro `name`, `None` for an unknown macro.
    pub fn value(&self, name: &str) -> Option<String> {
        let v = match name {
            "user" => self.user.clone(),
            "detail" => self.detail.clone().unwrap_or_default(),
            "domain" => self.domain.clone(),
            "tag" => self.tag.clone(),
            "delimiter" => self.delimiter.to_string(),
            "subdomain" => self.subdomain.clone().unwrap_or_default(),
            "extension" => match &self.detail {
                Some(d) => format!("{}{d}", self.delimiter),
                None => String::new(),
            },
            _ => return None,
        };
        Some(v)
    }
}

/// Replace the macros `${name}` in `rhs` by their values in `ctx`.
pub fn expand(rhs: &str, ctx: &MacroContext) -> String {
    substitute(rhs, |name| ctx.value(name))
}

/// Replaces every `${name}` in `text` by `value(name)`; a macro without a
/// value, and an unterminated `${`, are left as written.
pub fn substitute(text: &str, value: impl Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match after.find('}') {
            Some(end) => {
                let name = &after[..end];
                match value(name) {
                    Some(v) => out.push_str(&v),
                    None => out.push_str(&rest[start..start + 2 + end + 1]),
                }
                rest = &after[end + 1..];
            }
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

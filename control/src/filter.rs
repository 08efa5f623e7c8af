//! Queue entry selection for the control protocol (smx-control(5), issue 7):
//! [`glob`] matching (`*`, `?`, `[a-z]`, `[!x]`, case-insensitive, as
//! shells and Postfix `qshape` users expect) and [`Filter::matches`], shared
//! by the dispatcher, the QMGR and the tests.

use crate::types::{Filter, QueueEntry, RcptStatus};

/// Whether `text` matches the shell-style `pattern`, ignoring ASCII case.
///
/// `*` matches any run (also empty), `?` one character, `[abc]`, `[a-z]`
/// and `[!a-z]` a class; `\` escapes the next character. An unclosed `[`
/// is a literal. Iterative with single backtracking, so linear-ish and
/// never recursive on hostile patterns.
pub fn glob(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().map(|c| c.to_ascii_lowercase()).collect();
    let t: Vec<char> = text.chars().map(|c| c.to_ascii_lowercase()).collect();
    let (mut pi, mut ti) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        let step = match p.get(pi) {
            Some('*') => {
                star = Some((pi, ti));
                pi += 1;
                continue;
            }
            Some('?') => Some(1),
            Some('[') => match class(&p[pi..], t[ti]) {
                Some((true, len)) => Some(len),
                Some((false, _)) => None,
                None => (t[ti] == '[').then_some(1),
            },
            Some('\\') if pi + 1 < p.len() => (p[pi + 1] == t[ti]).then_some(2),
            Some(&c) => (c == t[ti]).then_some(1),
            None => None,
        };
        match step {
            Some(n) => {
                pi += n;
                ti += 1;
            }
            None => match star {
                Some((sp, st)) => {
                    pi = sp + 1;
                    ti = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// Matches `c` against the class starting at `p[0] == '['`; returns
/// (matched, pattern length) or `None` when the class is not closed.
fn class(p: &[char], c: char) -> Option<(bool, usize)> {
    let mut i = 1;
    let negate = matches!(p.get(i), Some('!') | Some('^'));
    if negate {
        i += 1;
    }
    let mut hit = false;
    let mut first = true;
    loop {
        let lo = *p.get(i)?;
        if lo == ']' && !first {
            return Some((hit != negate, i + 1));
        }
        first = false;
        if p.get(i + 1) == Some(&'-') && p.get(i + 2).is_some_and(|&h| h != ']') {
            let hi = p[i + 2];
            hit |= lo <= c && c <= hi;
            i += 3;
        } else {
            hit |= lo == c;
            i += 1;
        }
    }
}

/// The domain part of an address (after the last `@`), or "" if none.
pub fn domain_of(address: &str) -> &str {
    address.rsplit_once('@').map_or("", |(_, d)| d)
}

impl Filter {
    /// Whether the filter selects nothing in particular (matches all).
    pub fn is_empty(&self) -> bool {
        *self == Filter::default()
    }

    /// Whether `e` satisfies every condition given.
    ///
    /// `sender` matches the envelope sender (`<>` or the empty pattern
    /// matches the null sender); `recipient` and `domain` match when any
    /// recipient does; `reason` is a case-insensitive substring of the
    /// entry's delay reason or of any recipient's last reply.
    pub fn matches(&self, e: &QueueEntry) -> bool {
        if self.state.is_some_and(|s| s != e.state) {
            return false;
        }
        if self.min_age.is_some_and(|a| e.age_secs < a) {
            return false;
        }
        if self.max_age.is_some_and(|a| e.age_secs > a) {
            return false;
        }
        if let Some(p) = &self.sender {
            let ok = if e.sender.is_empty() {
                p.is_empty() || p == "<>" || glob(p, "")
            } else {
                glob(p.trim_start_matches('<').trim_end_matches('>'), &e.sender)
            };
            if !ok {
                return false;
            }
        }
        if let Some(p) = &self.recipient {
            if !e.recipients.iter().any(|r| glob(p, &r.address)) {
                return false;
            }
        }
        if let Some(p) = &self.domain {
            if !e.recipients.iter().any(|r| glob(p, domain_of(&r.address))) {
                return false;
            }
        }
        if let Some(s) = &self.reason {
            let needle = s.to_lowercase();
            let hit = |t: &str| t.to_lowercase().contains(&needle);
            let in_reason = e.reason.as_deref().is_some_and(hit);
            let in_reply = || {
                e.recipients
                    .iter()
                    .filter(|r| r.status != RcptStatus::Delivered)
                    .any(|r| r.last_reply.as_deref().is_some_and(hit))
            };
            if !in_reason && !in_reply() {
                return false;
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::glob;

    #[test]
    fn globs() {
        assert!(glob("*", ""));
        assert!(glob("*.example", "mx.EXAMPLE"));
        assert!(!glob("*.example", "example"));
        assert!(glob("a?c", "abc"));
        assert!(!glob("a?c", "ac"));
        assert!(glob("user[0-9]@*", "user7@x.org"));
        assert!(!glob("user[!0-9]@*", "user7@x.org"));
        assert!(glob("*@*.org", "a@b.c.org"));
        assert!(glob("a*b*c", "aXXbYYbZc"));
        assert!(!glob("a*b*c", "aXXbYYbZ"));
        assert!(glob("[", "["));
        assert!(glob(r"a\*", "a*"));
        assert!(!glob(r"a\*", "ab"));
        assert!(glob("[]x]", "]"));
    }
}

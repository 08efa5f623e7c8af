//! The argument of `RCPT TO:` in LMTP (RFC 2033 §4.1 keeps RFC 5321's
//! syntax): `<local@domain>` or, for local delivery, `<local>` alone.
//!
//! Decisions: the domain is not checked (whoever routed the mail here
//! decided it is local), source routes `<@a,@b:x@y>` are dropped (RFC 5321
//! Appendix C), a quoted local part is unquoted before it names a user,
//! and any RCPT parameter is refused with `555 5.5.4` because lmtpl offers
//! no extension that defines one (no DSN). Whether the local part may name
//! a mailbox is decided by `users.rs`, so that every path-escape attempt
//! gets the same `550 5.1.3`, quoted or not.

use super::reply;
use crate::smtps::Reply;

/// A recipient as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    /// The address between the angle brackets, source route removed (used
    /// for `Delivered-To:` and in replies).
    pub address: String,
    /// The local part, unquoted.
    pub local_part: String,
}

/// Parses what follows `RCPT TO:`; `smtputf8` is whether MAIL carried
/// SMTPUTF8 (RFC 6531 §3.4: non-ASCII addresses need it).
pub fn parse(arg: &str, smtputf8: bool) -> Result<Recipient, Reply> {
    let arg = arg.trim_start_matches(' ');
    let inner_start = arg.strip_prefix('<').ok_or_else(reply::bad_recipient)?;
    let end = closing_bracket(inner_start).ok_or_else(reply::bad_recipient)?;
    let inner = &inner_start[..end];
    let rest = &inner_start[end + 1..];
    if !rest.is_empty() && !rest.starts_with(' ') {
        return Err(reply::bad_recipient());
    }
    if let Some(p) = rest.split(' ').find(|p| !p.is_empty()) {
        let name = p.split('=').next().unwrap_or(p);
        return Err(Reply::param_unknown(name));
    }
    let address = if inner.starts_with('@') {
        inner
            .split_once(':')
            .map(|(_, a)| a)
            .ok_or_else(reply::bad_recipient)?
    } else {
        inner
    };
    let local = match last_at(address) {
        Some(i) => &address[..i],
        None => address,
    };
    // Control characters in the local part are refused by `users.rs`
    // (550 5.1.3); in the domain they are a syntax error.
    if local.is_empty() || address[local.len()..].chars().any(char::is_control) {
        return Err(reply::bad_recipient());
    }
    if !smtputf8 && !address.is_ascii() {
        return Err(Reply::needs_smtputf8());
    }
    Ok(Recipient {
        address: address.to_string(),
        local_part: unquote(local),
    })
}

/// Index of the `>` that closes the path, skipping quoted strings.
fn closing_bracket(s: &str) -> Option<usize> {
    let mut quoted = false;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '>' if !quoted => return Some(i),
            _ => {}
        }
    }
    None
}

/// Index of the last `@` outside a quoted string.
fn last_at(s: &str) -> Option<usize> {
    let mut quoted = false;
    let mut escaped = false;
    let mut at = None;
    for (i, c) in s.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '@' if !quoted => at = Some(i),
            _ => {}
        }
    }
    at
}

/// `"a b"` → `a b`, `"a\"b"` → `a"b`; a dot-string is returned as is.
fn unquote(local: &str) -> String {
    let Some(inner) = local.strip_prefix('"').and_then(|l| l.strip_suffix('"')) else {
        return local.to_string();
    };
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.extend(chars.next()),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn ok(arg: &str) -> (String, String) {
        let r = parse(arg, true).unwrap();
        (r.address, r.local_part)
    }

    fn code(arg: &str) -> (u16, String) {
        let r = parse(arg, false).unwrap_err();
        (r.code, r.status)
    }

    #[test]
    fn good() {
        assert_eq!(
            ok("<alice@localhost>"),
            ("alice@localhost".into(), "alice".into())
        );
        assert_eq!(ok(" <alice>"), ("alice".into(), "alice".into()));
        assert_eq!(ok("<@a,@b:x@y>"), ("x@y".into(), "x".into()));
        assert_eq!(ok("<\"a>@b\"@c>"), ("\"a>@b\"@c".into(), "a>@b".into()));
        assert_eq!(
            ok("<\"../etc\"@x>"),
            ("\"../etc\"@x".into(), "../etc".into())
        );
        assert_eq!(ok("<jörg@x>").1, "jörg");
    }

    #[test]
    fn bad() {
        assert_eq!(code("alice@x"), (501, "5.1.3".into()));
        assert_eq!(code("<alice@x"), (501, "5.1.3".into()));
        assert_eq!(code("<>"), (501, "5.1.3".into()));
        assert_eq!(code("<@x>"), (501, "5.1.3".into()));
        assert_eq!(code("<@a:>"), (501, "5.1.3".into()));
        assert_eq!(code("<a@x>junk"), (501, "5.1.3".into()));
        assert_eq!(code("<a@x> NOTIFY=NEVER"), (555, "5.5.4".into()));
        assert_eq!(code("<jörg@x>"), (553, "5.6.7".into()));
        assert_eq!(code("<a@x\u{1}y>"), (501, "5.1.3".into()));
    }
}

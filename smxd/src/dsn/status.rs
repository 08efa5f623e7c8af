//! The machine-readable part (RFC 3464 §2.2–2.3): message/delivery-status,
//! or message/global-delivery-status for an SMTPUTF8 original (RFC 6533
//! §6.1), where addresses and texts may stay in UTF-8.
//!
//! Field order follows the RFC 3464 §2.1 grammar: per-message fields
//! (Original-Envelope-Id, Reporting-MTA, Arrival-Date, then our
//! extension fields), then one block per recipient, blocks separated by
//! an empty line.

use super::fold::{ascii_only, field, one_line};
use super::xtext::{utf8_addr_encode, xtext_encode};
use super::{DsnInput, DsnRcpt, Kind};
use crate::smtps::received::rfc5322_date;

/// The body of the status part, CRLF lines.
pub fn render(input: &DsnInput, global: bool) -> String {
    let text = |s: &str| {
        if global {
            one_line(s)
        } else {
            ascii_only(&one_line(s))
        }
    };
    let mut out = String::new();
    if let Some(envid) = input.envid {
        out.push_str(&field("Original-Envelope-Id", &generic(envid, global)));
    }
    out.push_str(&field(
        "Reporting-MTA",
        &format!("dns; {}", text(input.reporting_mta)),
    ));
    out.push_str(&field("X-Smx-Queue-ID", &text(input.queue_id)));
    let (t, a) = address(input.sender, global);
    out.push_str(&field("X-Smx-Sender", &format!("{t}; {a}")));
    out.push_str(&field("Arrival-Date", &rfc5322_date(input.arrival)));
    for r in input.recipients {
        out.push_str("\r\n");
        out.push_str(&recipient(r, global));
    }
    out
}

fn recipient(r: &DsnRcpt, global: bool) -> String {
    let text = |s: &str| {
        if global {
            one_line(s)
        } else {
            ascii_only(&one_line(s))
        }
    };
    let mut out = String::new();
    if let Some((kind, addr)) = &r.original {
        let value = if kind.eq_ignore_ascii_case("rfc822") || kind.eq_ignore_ascii_case("utf-8") {
            let (t, a) = address(addr, global);
            format!("{t};{a}")
        } else {
            format!("{};{}", text(kind), generic(addr, global))
        };
        out.push_str(&field("Original-Recipient", &value));
    }
    let (t, a) = address(&r.final_recipient, global);
    out.push_str(&field("Final-Recipient", &format!("{t}; {a}")));
    out.push_str(&field("Action", action(r.action)));
    out.push_str(&field("Status", &status(r)));
    if let Some(mta) = &r.remote_mta {
        out.push_str(&field("Remote-MTA", &format!("dns; {}", text(mta))));
    }
    if let Some(d) = &r.diagnostic {
        out.push_str(&field("Diagnostic-Code", &diagnostic(&text(d))));
    }
    if let Some(t) = r.last_attempt {
        out.push_str(&field("Last-Attempt-Date", &rfc5322_date(t)));
    }
    if let Some(t) = r.will_retry_until {
        out.push_str(&field("Will-Retry-Until", &rfc5322_date(t)));
    }
    out
}

/// RFC 3464 §2.3.3 action values.
pub fn action(kind: Kind) -> &'static str {
    match kind {
        Kind::Failure => "failed",
        Kind::Delay => "delayed",
        Kind::Success => "delivered",
    }
}

/// The status code, or the generic one of its class (RFC 3463 §3.1) when
/// the caller has none.
pub fn status(r: &DsnRcpt) -> String {
    let s = ascii_only(&one_line(r.status.trim()));
    if !s.is_empty() && !s.contains(' ') {
        return s;
    }
    match r.action {
        Kind::Failure => "5.0.0",
        Kind::Delay => "4.0.0",
        Kind::Success => "2.0.0",
    }
    .to_string()
}

/// `smtp; ` before an SMTP reply (RFC 3464 §2.3.6); a text that already
/// names its diagnostic type (`x-unix; ...`) keeps it, and one that is no
/// SMTP reply (a local error) is typed `x-smx`.
fn diagnostic(d: &str) -> String {
    let d = d.trim();
    if let Some((t, _)) = d.split_once(';') {
        let typed = t.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
            && t.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
        if typed {
            return d.to_string();
        }
    }
    let b = d.as_bytes();
    let smtp = b.len() >= 3
        && b[..3].iter().all(u8::is_ascii_digit)
        && matches!(b.get(3), None | Some(b' ' | b'-'));
    if smtp {
        format!("smtp; {d}")
    } else {
        format!("x-smx; {d}")
    }
}

/// An address with its type: `rfc822` for ASCII, `utf-8` otherwise, in
/// utf-8-addr-xtext form in a non-global report (RFC 6533 §3).
fn address(a: &str, global: bool) -> (&'static str, String) {
    let a = one_line(a);
    if a.is_ascii() {
        ("rfc822", a)
    } else if global {
        ("utf-8", a)
    } else {
        ("utf-8", utf8_addr_encode(&a))
    }
}

/// A decoded ENVID / ORCPT value: as is when it is plain text, xtext
/// otherwise (RFC 3461 §4 keeps the encoding for exactly that case).
fn generic(v: &str, global: bool) -> String {
    let plain = v
        .chars()
        .all(|c| !c.is_control() && (global || c.is_ascii()) && c != '+');
    if plain {
        v.to_string()
    } else {
        xtext_encode(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diagnostic_types() {
        assert_eq!(diagnostic("550 5.1.1 no"), "smtp; 550 5.1.1 no");
        assert_eq!(diagnostic("451-try later"), "smtp; 451-try later");
        assert_eq!(diagnostic("x-unix; disk full"), "x-unix; disk full");
        assert_eq!(diagnostic("mail loops back"), "x-smx; mail loops back");
        assert_eq!(diagnostic("a: b; c"), "x-smx; a: b; c");
        assert_eq!(diagnostic(""), "x-smx; ");
    }

    #[test]
    fn addresses() {
        assert_eq!(address("a@b", false), ("rfc822", "a@b".into()));
        assert_eq!(address("jörg@b", false), ("utf-8", "j\\x{F6}rg@b".into()));
        assert_eq!(address("jörg@b", true), ("utf-8", "jörg@b".into()));
        assert_eq!(generic("QQ314159", false), "QQ314159");
        assert_eq!(generic("a+b", false), "a+2Bb");
        assert_eq!(generic("ü", true), "ü");
    }
}

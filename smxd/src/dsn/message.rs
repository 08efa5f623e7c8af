//! Assembles the DSN message: the RFC 5322 header (From MAILER-DAEMON,
//! `Auto-Submitted: auto-replied` per RFC 3834 §5 so no autoresponder
//! answers it), and the RFC 6522 multipart/report with its three parts.
//!
//! An original that needs UTF-8 in addresses or header (an SMTPUTF8
//! message) gets a global report, RFC 6533 §6: message/global-delivery-
//! status and message/global or message/global-headers. We tell by the
//! content, since that is what the parts must be able to carry.

use super::fold::{field, one_line};
use super::original::{crlf, header_section, Cte};
use super::{human, status, DsnInput, Kind, Ret};
use crate::smtps::received::rfc5322_date;
use std::time::UNIX_EPOCH;

/// One body part: its MIME header fields and its content.
struct Part {
    description: &'static str,
    content_type: String,
    cte: Cte,
    body: Vec<u8>,
}

/// The whole DSN message: CRLF lines, ending in CRLF. Never fails: odd
/// input (no header/body separator, non-UTF-8 or empty original, odd
/// addresses) gives a well-formed report.
pub fn build(input: &DsnInput) -> Vec<u8> {
    let kind = overall(input);
    let original = crlf(input.original);
    let global = needs_global(input, &original);

    let human_text = human::render(input, kind, global);
    let human_cte = Cte::of(human_text.as_bytes());
    let status_text = status::render(input, global);
    let status_cte = Cte::of(status_text.as_bytes());
    let headers_only = input.header_only || input.ret == Ret::Hdrs;
    let third_body = if headers_only {
        header_section(&original).to_vec()
    } else {
        original
    };
    let third_type = match (headers_only, global) {
        (true, false) => "text/rfc822-headers",
        (true, true) => "message/global-headers",
        (false, false) => "message/rfc822",
        (false, true) => "message/global",
    };
    let third_description = match (kind, headers_only) {
        (Kind::Delay, true) => "Delayed Message Headers",
        (Kind::Delay, false) => "Delayed Message",
        (_, true) => "Undelivered Message Headers",
        (_, false) => "Undelivered Message",
    };
    let parts = [
        Part {
            description: "Notification",
            content_type: format!(
                "text/plain; charset={}",
                if human_cte == Cte::SevenBit {
                    "us-ascii"
                } else {
                    "utf-8"
                }
            ),
            cte: human_cte,
            body: human_text.into_bytes(),
        },
        Part {
            description: "Delivery report",
            content_type: if global {
                "message/global-delivery-status".into()
            } else {
                "message/delivery-status".into()
            },
            cte: status_cte,
            body: status_text.into_bytes(),
        },
        Part {
            description: third_description,
            content_type: third_type.into(),
            cte: Cte::of(&third_body),
            body: third_body,
        },
    ];

    let bodies: Vec<&[u8]> = parts.iter().map(|p| p.body.as_slice()).collect();
    let boundary = boundary(input, &bodies);
    let report_type = if global {
        "global-delivery-status"
    } else {
        "delivery-status"
    };
    let host = if input.reporting_mta.is_empty() {
        "localhost"
    } else {
        input.reporting_mta
    };
    let host = one_line(host);
    let secs = input
        .now
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);

    let mut out = String::new();
    out.push_str(&field(
        "From",
        &format!("MAILER-DAEMON@{host} (Mail Delivery System)"),
    ));
    out.push_str(&field("To", &format!("<{}>", one_line(input.sender))));
    out.push_str(&field("Subject", subject(kind)));
    out.push_str(&field("Date", &rfc5322_date(input.now)));
    out.push_str(&field(
        "Message-ID",
        &format!(
            "<{}.{secs}@{}>",
            msgid_atom(input.queue_id),
            msgid_atom(&host)
        ),
    ));
    out.push_str(&field("Auto-Submitted", "auto-replied"));
    out.push_str(&field("MIME-Version", "1.0"));
    out.push_str(&format!(
        "Content-Type: multipart/report; report-type={report_type};\r\n\tboundary=\"{boundary}\"\r\n"
    ));
    let top_cte = parts.iter().map(|p| p.cte).max().unwrap_or(Cte::SevenBit);
    if top_cte != Cte::SevenBit {
        out.push_str(&field("Content-Transfer-Encoding", top_cte.as_str()));
    }
    out.push_str("\r\nThis is a MIME-encapsulated message.\r\n");

    let mut msg = out.into_bytes();
    for p in &parts {
        msg.extend_from_slice(format!("\r\n--{boundary}\r\n").as_bytes());
        msg.extend_from_slice(field("Content-Description", p.description).as_bytes());
        msg.extend_from_slice(field("Content-Type", &p.content_type).as_bytes());
        if p.cte != Cte::SevenBit {
            msg.extend_from_slice(field("Content-Transfer-Encoding", p.cte.as_str()).as_bytes());
        }
        msg.extend_from_slice(b"\r\n");
        // Bodies end in CRLF (or are empty); the CRLF before the next
        // delimiter belongs to the delimiter (RFC 2046 §5.1.1), so the
        // body, the returned original in particular, stays exact.
        msg.extend_from_slice(&p.body);
    }
    msg.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    msg
}

/// Whether the DSN carries 8-bit octets, i.e. must be sent with
/// `BODY=8BITMIME` (or SMTPUTF8 when it is a global report).
pub fn is_8bit(dsn: &[u8]) -> bool {
    dsn.iter().any(|&b| b >= 0x80)
}

/// The MAIL FROM parameters (ESMTP form, for `Transaction.sender_params`)
/// the DSN `dsn` built from `input` must travel with: `BODY=8BITMIME` or
/// `BODY=BINARYMIME` as its octets need (RFC 6152, RFC 3030), and
/// `SMTPUTF8` for a global report (RFC 6533 §4). Empty for plain 7-bit.
pub fn sender_params(input: &DsnInput, dsn: &[u8]) -> String {
    let mut p = Vec::new();
    match Cte::of(dsn) {
        Cte::SevenBit => {}
        Cte::EightBit => p.push("BODY=8BITMIME"),
        Cte::Binary => p.push("BODY=BINARYMIME"),
    }
    if needs_global(input, input.original) {
        p.push("SMTPUTF8");
    }
    p.join(" ")
}

/// A failure anywhere makes it a bounce; else a delay makes it a warning.
fn overall(input: &DsnInput) -> Kind {
    let has = |k| input.recipients.iter().any(|r| r.action == k);
    if has(Kind::Failure) || input.recipients.is_empty() {
        Kind::Failure
    } else if has(Kind::Delay) {
        Kind::Delay
    } else {
        Kind::Success
    }
}

fn subject(kind: Kind) -> &'static str {
    match kind {
        Kind::Failure => "Undelivered Mail Returned to Sender",
        Kind::Delay => "Delayed Mail (still being retried)",
        Kind::Success => "Successful Mail Delivery Report",
    }
}

fn needs_global(input: &DsnInput, original: &[u8]) -> bool {
    let utf8_addr = std::iter::once(input.sender)
        .chain(input.recipients.iter().map(|r| r.final_recipient.as_str()))
        .chain(
            input
                .recipients
                .iter()
                .filter_map(|r| r.original.as_ref().map(|o| o.1.as_str())),
        )
        .any(|a| !a.is_ascii());
    let head = header_section(original);
    utf8_addr || (!head.is_ascii() && std::str::from_utf8(head).is_ok())
}

/// Message-ID parts: dot-atom text only (RFC 5322 §3.6.4).
fn msgid_atom(s: &str) -> String {
    let a: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect();
    let a = a.trim_matches('.').replace("..", ".");
    if a.is_empty() {
        "dsn".into()
    } else {
        a
    }
}

/// `queueid.seconds/host` in boundary characters (RFC 2046 §5.1.1, at
/// most 70), with `.N` added until it occurs in none of the bodies.
fn boundary(input: &DsnInput, bodies: &[&[u8]]) -> String {
    let secs = input
        .now
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let raw = format!("{}.{secs}/{}", input.queue_id, input.reporting_mta);
    let mut base: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "'()+_,-./:=?".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    base.truncate(60);
    let mut candidate = base.clone();
    let mut n = 0u64;
    while bodies.iter().any(|b| contains(b, candidate.as_bytes())) {
        n += 1;
        candidate = format!("{base}.{n}");
    }
    candidate
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || hay.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn input<'a>(original: &'a [u8], rcpts: &'a [super::super::DsnRcpt]) -> DsnInput<'a> {
        DsnInput {
            reporting_mta: "mx.example.org",
            queue_id: "ABC123",
            sender: "s@example.net",
            envid: None,
            arrival: UNIX_EPOCH + Duration::from_secs(1_700_000_000),
            recipients: rcpts,
            original,
            ret: Ret::Hdrs,
            header_only: false,
            now: UNIX_EPOCH + Duration::from_secs(1_700_000_100),
        }
    }

    #[test]
    fn boundary_avoids_the_content() {
        let first = boundary(&input(b"", &[]), &[b"x"]);
        assert_eq!(first, "ABC123.1700000100/mx.example.org");
        let body = format!("--{first}\r\n--{first}.1\r\n");
        let b = boundary(&input(b"", &[]), &[body.as_bytes()]);
        assert_eq!(b, format!("{first}.2"));
    }

    #[test]
    fn boundary_and_msgid_survive_odd_names() {
        let mut i = input(b"", &[]);
        i.queue_id = "a b\"c;\u{e9}";
        i.reporting_mta = "";
        let b = boundary(&i, &[]);
        assert!(b
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "'()+_,-./:=?".contains(c)));
        assert_eq!(msgid_atom("..."), "dsn");
        assert_eq!(msgid_atom("a b@c"), "a-b-c");
    }

    #[test]
    fn empty_report_is_well_formed() {
        let m = build(&input(b"", &[]));
        assert!(m.ends_with(b"--\r\n"));
        assert!(!is_8bit(&m));
    }
}

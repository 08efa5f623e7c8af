//! The message as it is stored in a Maildir: the delivery headers
//! `Return-Path:` (RFC 5321 §4.4) and `Delivered-To:` prepended, and the
//! line ends of the wire form (CRLF, RFC 5321 §2.3.8) turned into the
//! local form of Maildir files (LF, as qmail, Postfix and Dovecot write
//! them).
//!
//! Decision: a bare CR or LF inside the content is kept as it came. The
//! SMTP server of smx already refuses such messages (`smtps/data.rs`); here
//! the message ends its journey in a file and is never relayed, so there
//! is nothing to smuggle, and refusing would only bounce mail that the
//! queue already accepted.

/// The content with every CRLF turned into LF; a non-empty content that
/// does not end with a line end gets one, so the file ends with LF.
pub fn to_local_form(wire: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(wire.len() + 1);
    let mut i = 0;
    while i < wire.len() {
        if wire[i] == b'\r' && wire.get(i + 1) == Some(&b'\n') {
            out.push(b'\n');
            i += 2;
        } else {
            out.push(wire[i]);
            i += 1;
        }
    }
    if out.last().is_some_and(|&b| b != b'\n') {
        out.push(b'\n');
    }
    out
}

/// The headers prepended to each delivered copy: `sender` in its path form
/// (`<a@b>` or `<>`), `rcpt` the recipient as given to RCPT, without the
/// angle brackets.
pub fn delivery_headers(sender: &str, rcpt: &str) -> Vec<u8> {
    format!("Return-Path: {sender}\nDelivered-To: {rcpt}\n").into_bytes()
}

/// True when the header section of `message` (local form, LF line ends)
/// already has `Delivered-To: rcpt`: the message came back to a mailbox
/// it was delivered to, a forwarding loop (Postfix local(8) and qmail
/// make the same check).
pub fn already_delivered_to(message: &[u8], rcpt: &str) -> bool {
    for line in message.split(|&b| b == b'\n') {
        if line.is_empty() {
            break;
        }
        let Some(value) = strip_field(line, b"delivered-to:") else {
            continue;
        };
        let value = String::from_utf8_lossy(value);
        if value.trim().eq_ignore_ascii_case(rcpt) {
            return true;
        }
    }
    false
}

/// The value of a header line `name: value` (case-insensitive name).
fn strip_field<'a>(line: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    let head = line.get(..name.len())?;
    head.eq_ignore_ascii_case(name).then(|| &line[name.len()..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crlf_becomes_lf_and_the_last_line_is_ended() {
        assert_eq!(to_local_form(b"a\r\nb\r\n"), b"a\nb\n");
        assert_eq!(to_local_form(b"a\r\nb"), b"a\nb\n");
        assert_eq!(to_local_form(b""), b"");
        // bare CR and LF are kept
        assert_eq!(to_local_form(b"a\rb\nc\r\n"), b"a\rb\nc\n");
        assert_eq!(to_local_form(b"a\r\r\n"), b"a\r\n");
    }

    #[test]
    fn loop_detection_looks_at_the_header_only() {
        let m = b"Subject: x\nDelivered-To: Alice@localhost\n\nbody\n";
        assert!(already_delivered_to(m, "alice@localhost"));
        assert!(!already_delivered_to(m, "bob@localhost"));
        let body_only = b"Subject: x\n\nDelivered-To: bob@localhost\n";
        assert!(!already_delivered_to(body_only, "bob@localhost"));
    }

    #[test]
    fn headers() {
        assert_eq!(
            delivery_headers("<>", "alice@localhost"),
            b"Return-Path: <>\nDelivered-To: alice@localhost\n"
        );
    }
}

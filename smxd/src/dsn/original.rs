//! The returned original (RFC 3464 §2, third part of the report): its
//! header section for `RET=HDRS` (text/rfc822-headers, RFC 6522 §4), or
//! the whole message for `RET=FULL` (message/rfc822), with the
//! Content-Transfer-Encoding its octets need (RFC 2045 §6.1, RFC 6152).
//!
//! The content file is supposed to hold CRLF lines; whatever it holds,
//! lone CR or LF become CRLF and the text ends in CRLF, so the MIME
//! boundary that follows is always on a line of its own.

/// The 7bit / 8bit / binary classes of RFC 2045 §2.7–2.9.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Cte {
    /// Short lines of ASCII.
    SevenBit,
    /// Short lines, some octets above 127.
    EightBit,
    /// NUL octets or lines over 998 octets.
    Binary,
}

impl Cte {
    /// The Content-Transfer-Encoding value.
    pub fn as_str(self) -> &'static str {
        match self {
            Cte::SevenBit => "7bit",
            Cte::EightBit => "8bit",
            Cte::Binary => "binary",
        }
    }

    /// What a CRLF-normalised text needs.
    pub fn of(text: &[u8]) -> Cte {
        let mut cte = Cte::SevenBit;
        for line in text.split(|&b| b == b'\n') {
            if line.len() > 999 || line.contains(&0) {
                return Cte::Binary;
            }
            if line.iter().any(|&b| b >= 0x80) {
                cte = Cte::EightBit;
            }
        }
        cte
    }
}

/// Every line ending as CRLF, and a final CRLF unless empty.
pub fn crlf(original: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(original.len() + 2);
    let mut i = 0;
    while i < original.len() {
        match original[i] {
            b'\r' => {
                out.extend_from_slice(b"\r\n");
                if original.get(i + 1) == Some(&b'\n') {
                    i += 1;
                }
            }
            b'\n' => out.extend_from_slice(b"\r\n"),
            b => out.push(b),
        }
        i += 1;
    }
    if !out.is_empty() && !out.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// The header section of a CRLF-normalised message, each line with its
/// CRLF, without the empty line that ends it. Without an empty line the
/// header ends before the first line that is neither a field
/// (`name:`, RFC 5322 §2.2) nor a continuation of one, so a message
/// with no separator still yields what looks like its header.
pub fn header_section(msg: &[u8]) -> &[u8] {
    let mut end = 0;
    let mut in_field = false;
    for line in msg.split_inclusive(|&b| b == b'\n') {
        let body = line.strip_suffix(b"\r\n").unwrap_or(line);
        let continuation = in_field && matches!(body.first(), Some(b' ' | b'\t'));
        if !(continuation || is_field_start(body)) {
            break;
        }
        in_field = true;
        end += line.len();
    }
    &msg[..end]
}

/// `name:` with a name of printable ASCII other than `:` (RFC 5322 §3.6.8).
fn is_field_start(line: &[u8]) -> bool {
    match line.iter().position(|&b| b == b':') {
        Some(0) | None => false,
        Some(n) => line[..n].iter().all(|&b| (33..=126).contains(&b)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_ends_at_the_empty_line() {
        let m = b"Received: x\r\n\tby y\r\nSubject: hi\r\n\r\nbody: no\r\n";
        assert_eq!(
            header_section(m),
            b"Received: x\r\n\tby y\r\nSubject: hi\r\n"
        );
    }

    #[test]
    fn header_without_separator() {
        assert_eq!(
            header_section(b"Subject: a\r\nFrom: b\r\n"),
            b"Subject: a\r\nFrom: b\r\n"
        );
        assert_eq!(
            header_section(b"Subject: a\r\nhello world\r\n"),
            b"Subject: a\r\n"
        );
        assert_eq!(header_section(b"just text\r\n"), b"");
        assert_eq!(header_section(b""), b"");
        assert_eq!(header_section(b" leading continuation\r\n"), b"");
        assert_eq!(
            header_section(b"Subject: no crlf at end"),
            b"Subject: no crlf at end"
        );
    }

    #[test]
    fn line_ends_become_crlf() {
        assert_eq!(crlf(b"a\nb\rc\r\nd"), b"a\r\nb\r\nc\r\nd\r\n");
        assert_eq!(crlf(b""), b"");
        assert_eq!(crlf(b"\r\n"), b"\r\n");
    }

    #[test]
    fn transfer_encodings() {
        assert_eq!(Cte::of(b"plain\r\n"), Cte::SevenBit);
        assert_eq!(Cte::of("caf\u{e9}\r\n".as_bytes()), Cte::EightBit);
        assert_eq!(Cte::of(b"\xff\xfe\r\n"), Cte::EightBit);
        assert_eq!(Cte::of(b"nul\0\r\n"), Cte::Binary);
        assert_eq!(Cte::of(&[b'x'; 1200]), Cte::Binary);
        assert!(Cte::Binary > Cte::EightBit && Cte::EightBit > Cte::SevenBit);
    }
}

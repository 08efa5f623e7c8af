//! xtext (RFC 3461 §4) and utf-8-addr-xtext (RFC 6533 §3): the encodings
//! that carry ENVID and ORCPT values through ESMTP and into DSN fields.

/// Decodes xtext: `+XX` (two hex digits) is the octet XX, every other
/// character stands for itself. A `+` not followed by two hex digits is
/// kept literally (lenient, RFC 3461 §4 leaves that case undefined). The
/// octets are read as UTF-8 (SMTPUTF8 senders may put UTF-8 there); a
/// non-UTF-8 result is repaired with U+FFFD rather than rejected.
pub fn xtext_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'+' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Encodes as xtext: octets outside `!`..`~`, and `+` and `=`, become
/// `+XX` with upper-case hex digits (RFC 3461 §4); non-ASCII characters
/// are encoded octet by octet of their UTF-8 form.
pub fn xtext_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for &c in s.as_bytes() {
        if (b'!'..=b'~').contains(&c) && c != b'+' && c != b'=' {
            out.push(char::from(c));
        } else {
            out.push_str(&format!("+{c:02X}"));
        }
    }
    out
}

/// Decodes utf-8-addr-xtext / utf-8-addr-unitext (RFC 6533 §3): like
/// xtext, plus `\x{HEX}` standing for one Unicode scalar value. Invalid
/// escapes are kept literally.
pub fn utf8_addr_decode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(pos) = rest.find("\\x{") {
        out.push_str(&xtext_decode(&rest[..pos]));
        let after = &rest[pos + 3..];
        let decoded = after.find('}').and_then(|end| {
            let hexpart = &after[..end];
            let ok =
                (1..=6).contains(&hexpart.len()) && hexpart.bytes().all(|c| c.is_ascii_hexdigit());
            let cp = if ok {
                u32::from_str_radix(hexpart, 16).ok()
            } else {
                None
            };
            cp.and_then(char::from_u32).map(|c| (c, end))
        });
        match decoded {
            Some((c, end)) => {
                out.push(c);
                rest = &after[end + 1..];
            }
            None => {
                out.push_str("\\x{");
                rest = after;
            }
        }
    }
    out.push_str(&xtext_decode(rest));
    out
}

/// Encodes as utf-8-addr-xtext (RFC 6533 §3): the form an address of
/// type `utf-8` takes in a non-global (7-bit) delivery-status part.
/// Printable ASCII except `+`, `=` and `\` stands for itself; everything
/// else becomes `\x{HEX}`.
pub fn utf8_addr_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if ('!'..='~').contains(&c) && !matches!(c, '+' | '=' | '\\') {
            out.push(c);
        } else {
            out.push_str(&format!("\\x{{{:X}}}", u32::from(c)));
        }
    }
    out
}

fn hex(c: u8) -> Option<u8> {
    char::from(c)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3461_examples() {
        // RFC 3461 §4.2: "ORCPT=rfc822;Bob+2Bsmith@example.com" style.
        assert_eq!(xtext_decode("a+2Bb@c"), "a+b@c");
        assert_eq!(xtext_decode("Bob+20Smith"), "Bob Smith");
        assert_eq!(xtext_decode("QQ314159"), "QQ314159");
        assert_eq!(xtext_decode("x+3Dy"), "x=y");
        assert_eq!(xtext_decode("lower+2bcase"), "lower+case");
        assert_eq!(xtext_encode("a+b@c"), "a+2Bb@c");
        assert_eq!(xtext_encode("x=y z"), "x+3Dy+20z");
        assert_eq!(xtext_encode("plain@example.com"), "plain@example.com");
    }

    #[test]
    fn xtext_odd_input() {
        assert_eq!(xtext_decode(""), "");
        assert_eq!(xtext_decode("+"), "+");
        assert_eq!(xtext_decode("a+"), "a+");
        assert_eq!(xtext_decode("a+4"), "a+4");
        assert_eq!(xtext_decode("a+ZZb"), "a+ZZb");
        assert_eq!(xtext_decode("+FF"), "\u{FFFD}");
        assert_eq!(xtext_decode("+C3+A9"), "é");
    }

    #[test]
    fn xtext_round_trips() {
        for s in ["", "a b", "+=+=", "ü@例え.jp", "\u{0}\u{7f}~!"] {
            assert_eq!(xtext_decode(&xtext_encode(s)), s, "{s:?}");
        }
    }

    #[test]
    fn utf8_addr_xtext() {
        assert_eq!(utf8_addr_encode("jörg@example.de"), "j\\x{F6}rg@example.de");
        assert_eq!(utf8_addr_encode("a+b"), "a\\x{2B}b");
        assert_eq!(utf8_addr_decode("j\\x{F6}rg@example.de"), "jörg@example.de");
        assert_eq!(utf8_addr_decode("\\x{1F600}"), "😀");
        assert_eq!(utf8_addr_decode("bad\\x{D800}"), "bad\\x{D800}");
        assert_eq!(utf8_addr_decode("open\\x{12"), "open\\x{12");
        assert_eq!(utf8_addr_decode("a+2Bb"), "a+b");
        for s in ["jörg@例え.jp", "a\\b+c=d"] {
            assert_eq!(utf8_addr_decode(&utf8_addr_encode(s)), s);
        }
    }
}

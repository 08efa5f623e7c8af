//! Line discipline for the generated DSN parts: control characters out,
//! soft wrap at 78 columns at spaces, and a hard limit well under the
//! 998 octets of RFC 5322 §2.1.1. Status fields fold with leading
//! whitespace as RFC 3464 §2.1 allows (RFC 5322 §2.2.3 folding), so an
//! unfolded field reads as the original text.

/// Soft line width (RFC 5322 §2.1.1 "SHOULD be no more than 78").
pub const SOFT: usize = 78;
/// Hard line length we never exceed, leaving room under 998.
pub const HARD: usize = 900;

/// One line of text: CR, LF, TAB and other control characters become
/// spaces, so a multi-line server reply cannot break the part's syntax.
pub fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// Replaces non-ASCII characters with `?`, for the 7-bit parts of a
/// non-global DSN.
pub fn ascii_only(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_ascii() { c } else { '?' })
        .collect()
}

/// Wraps `text` (one line, see [`one_line`]) after `first`, breaking at
/// spaces before column [`SOFT`] where possible; each continuation line
/// starts with `cont`, which stands in for the space it broke at. A
/// word longer than [`HARD`] is cut (at a character boundary). Returns
/// the lines without line ends.
pub fn wrap(first: &str, text: &str, cont: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut cur = first.to_string();
    let mut at_start = true;
    for word in text.split(' ') {
        if at_start {
            cur.push_str(word);
            at_start = false;
        } else if !word.is_empty() && cur.len() + 1 + word.len() > SOFT && cur.trim() != "" {
            lines.push(std::mem::replace(&mut cur, format!("{cont}{word}")));
        } else {
            cur.push(' ');
            cur.push_str(word);
        }
        while cur.len() > HARD {
            let cut = floor_char_boundary(&cur, HARD);
            let rest = cur.split_off(cut);
            lines.push(std::mem::replace(&mut cur, format!("{cont}{rest}")));
        }
    }
    lines.push(cur);
    lines
}

/// A header-style field `Name: value` folded per RFC 5322 §2.2.3, with
/// its CRLF.
pub fn field(name: &str, value: &str) -> String {
    let mut out = String::new();
    for line in wrap(&format!("{name}: "), &one_line(value), " ") {
        out.push_str(line.trim_end());
        out.push_str("\r\n");
    }
    out
}

/// The largest character boundary at or below `i`.
fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_fields_stay_on_one_line() {
        assert_eq!(field("Status", "5.1.1"), "Status: 5.1.1\r\n");
        assert_eq!(field("X", ""), "X:\r\n");
    }

    #[test]
    fn long_text_folds_at_spaces() {
        let text = "550 5.1.1 ".to_string() + &"word ".repeat(40);
        let f = field("Diagnostic-Code", &format!("smtp; {text}"));
        let lines: Vec<&str> = f.split("\r\n").filter(|l| !l.is_empty()).collect();
        assert!(lines.len() > 1);
        assert!(lines.iter().all(|l| l.len() <= SOFT));
        assert!(lines[1..].iter().all(|l| l.starts_with(' ')));
        // Unfolding gives the text back (RFC 5322 §2.2.3).
        let unfolded = f.trim_end().replace("\r\n", "");
        assert_eq!(
            unfolded,
            format!("Diagnostic-Code: smtp; {}", text.trim_end())
        );
    }

    #[test]
    fn a_huge_word_is_cut_under_the_limit() {
        let f = field("Diagnostic-Code", &"é".repeat(3000));
        for l in f.split("\r\n") {
            assert!(l.len() <= HARD + 1, "{}", l.len());
        }
        assert!(f.ends_with("\r\n"));
        assert!(f.matches("\r\n").count() > 3);
    }

    #[test]
    fn control_characters_become_spaces() {
        assert_eq!(one_line("550-a\r\n550 b\t\0"), "550-a  550 b  ");
        assert_eq!(ascii_only("jörg"), "j?rg");
        let lines = wrap("", "  a  b ", "    ");
        assert_eq!(lines, vec!["  a  b ".to_string()]);
    }
}

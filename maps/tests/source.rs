//! Reading text map sources in the sendmail and Postfix conventions
//! (sendmail X README §3.9.3: "LHS and RHS ... separated by one or more
//! whitespace characters"; aliases `name: value`).

#![allow(clippy::unwrap_used)]

use std::borrow::Cow;

use smx_maps::source::{entries, Convention, Separator, SourceEntry, SourceError};

/// `(line, key, value)` of every entry, or the errors as `line N: message`.
fn read(
    text: &str,
    conv: Convention,
    sep: Separator,
) -> Vec<Result<(usize, String, String), String>> {
    entries(text, conv, sep)
        .map(|r| {
            r.map(|e| (e.line, e.key.into_owned(), e.value.into_owned()))
                .map_err(|e| e.to_string())
        })
        .collect()
}

fn ok(line: usize, key: &str, value: &str) -> Result<(usize, String, String), String> {
    Ok((line, key.to_string(), value.to_string()))
}

#[test]
fn sendmail_key_value_comments_blank_lines() {
    let text = "# access map\n\
                \n\
                to:@primary.domain relay\n\
                cltaddr:10\t\terror:551 5.7.1 No direct mail from 10.x.y.z   \n\
                \t\n\
                \x20  # an indented comment is still a comment\n\
                to:abuse quick:ok\n";
    assert_eq!(
        read(text, Convention::Sendmail, Separator::Whitespace),
        vec![
            ok(3, "to:@primary.domain", "relay"),
            ok(
                4,
                "cltaddr:10",
                "error:551 5.7.1 No direct mail from 10.x.y.z"
            ),
            ok(7, "to:abuse", "quick:ok"),
        ]
    );
}

#[test]
fn key_without_value_has_empty_value() {
    assert_eq!(
        read(
            "lonely\nlonely2   \n",
            Convention::Sendmail,
            Separator::Whitespace
        ),
        vec![ok(1, "lonely", ""), ok(2, "lonely2", "")]
    );
    assert_eq!(
        read("lonely\n", Convention::Postfix, Separator::Whitespace),
        vec![ok(1, "lonely", "")]
    );
}

#[test]
fn sendmail_rejects_leading_whitespace_with_line_number() {
    let text = "a b\n  c d\nx y\n\tz w\n";
    assert_eq!(
        read(text, Convention::Sendmail, Separator::Whitespace),
        vec![
            ok(1, "a", "b"),
            Err(
                "line 2: line starts with whitespace; continuation lines are a Postfix convention"
                    .to_string()
            ),
            ok(3, "x", "y"),
            Err(
                "line 4: line starts with whitespace; continuation lines are a Postfix convention"
                    .to_string()
            ),
        ]
    );
}

#[test]
fn postfix_continuation_lines_join_with_one_space() {
    let text = "list  <a@x.dom>\n\
                \t<b@x.dom>\n\
                \n\
                # comment between continuation lines\n\
                \x20   <c@x.dom>   \n\
                next value\n\
                bare\n\
                \x20 value-on-next-line\n";
    assert_eq!(
        read(text, Convention::Postfix, Separator::Whitespace),
        vec![
            ok(1, "list", "<a@x.dom> <b@x.dom> <c@x.dom>"),
            ok(6, "next", "value"),
            ok(7, "bare", "value-on-next-line"),
        ]
    );
}

#[test]
fn postfix_continuation_without_entry_is_an_error() {
    let text = "\n  orphan text\nk v\n";
    assert_eq!(
        read(text, Convention::Postfix, Separator::Whitespace),
        vec![
            Err(
                "line 2: continuation line (starts with whitespace) without an entry before it"
                    .to_string()
            ),
            ok(3, "k", "v"),
        ]
    );
}

#[test]
fn postfix_quoted_keys() {
    let text = "\"key with spaces\" value one\n\
                \"say \\\"hi\\\"\" greeting\n\
                \"plain\"\tv\n";
    let got: Vec<_> = entries(text, Convention::Postfix, Separator::Whitespace).collect();
    assert_eq!(got.len(), 3);
    let first = got[0].as_ref().unwrap();
    assert_eq!(first.key, "key with spaces");
    assert_eq!(first.value, "value one");
    assert!(
        matches!(first.key, Cow::Borrowed(_)),
        "no escapes: borrowed"
    );
    let second = got[1].as_ref().unwrap();
    assert_eq!(second.key, "say \"hi\"");
    assert_eq!(second.value, "greeting");
    assert_eq!(got[2].as_ref().unwrap().key, "plain");
}

#[test]
fn postfix_quoted_key_errors() {
    assert_eq!(
        read(
            "\"open key value\n",
            Convention::Postfix,
            Separator::Whitespace
        ),
        vec![Err(
            "line 1: unterminated quoted key: a '\"' opens the key but none closes it".to_string()
        )]
    );
    let got = read("\"key\"value\n", Convention::Postfix, Separator::Whitespace);
    assert!(
        got[0]
            .as_ref()
            .unwrap_err()
            .contains("directly after the closing quote"),
        "{got:?}"
    );
}

#[test]
fn sendmail_takes_quotes_literally() {
    assert_eq!(
        read("\"a b\" c\n", Convention::Sendmail, Separator::Whitespace),
        vec![ok(1, "\"a", "b\" c")]
    );
}

#[test]
fn crlf_line_endings() {
    let text = "to:root error:551 5.7.1 No mail to root\r\n\r\n# c\r\ncltaddr:10 relay\r\n";
    assert_eq!(
        read(text, Convention::Sendmail, Separator::Whitespace),
        vec![
            ok(1, "to:root", "error:551 5.7.1 No mail to root"),
            ok(4, "cltaddr:10", "relay"),
        ]
    );
    let text = "list <a@x.dom>\r\n  <b@x.dom>\r\n";
    assert_eq!(
        read(text, Convention::Postfix, Separator::Whitespace),
        vec![ok(1, "list", "<a@x.dom> <b@x.dom>")]
    );
}

#[test]
fn no_trailing_newline() {
    assert_eq!(
        read("a b", Convention::Sendmail, Separator::Whitespace),
        vec![ok(1, "a", "b")]
    );
}

#[test]
fn colon_separator_forms() {
    // §3.9.3, §4.3.2 and seed 000 write all of these.
    let text = "myalias: localuser\n\
                mylist: <user1@my.dom> <user2@my.dom>\n\
                un_alias      :      local:\n\
                user++: local:\n\
                glued:<a@b.dom>\n\
                vuser1@virt1.tld: user1\n\
                empty:\n";
    assert_eq!(
        read(text, Convention::Sendmail, Separator::Colon),
        vec![
            ok(1, "myalias", "localuser"),
            ok(2, "mylist", "<user1@my.dom> <user2@my.dom>"),
            ok(3, "un_alias", "local:"),
            ok(4, "user++", "local:"),
            ok(5, "glued", "<a@b.dom>"),
            ok(6, "vuser1@virt1.tld", "user1"),
            ok(7, "empty", ""),
        ]
    );
}

#[test]
fn colon_separator_errors() {
    assert_eq!(
        read(
            "myalias localuser\n",
            Convention::Sendmail,
            Separator::Colon
        ),
        vec![Err(
            "line 1: missing ':' after \"myalias\"; aliases entries are written \
                  \"name: value\""
                .to_string()
        )]
    );
    assert_eq!(
        read(": value\n", Convention::Sendmail, Separator::Colon),
        vec![Err("line 1: empty key before ':'".to_string())]
    );
}

#[test]
fn colon_separator_postfix_continuation_and_quotes() {
    let text = "staff: <a@x.dom>\n    <b@x.dom>\n\"odd name\": <c@x.dom>\n";
    assert_eq!(
        read(text, Convention::Postfix, Separator::Colon),
        vec![
            ok(1, "staff", "<a@x.dom> <b@x.dom>"),
            ok(3, "odd name", "<c@x.dom>"),
        ]
    );
}

#[test]
fn entries_borrow_from_the_input() {
    let text = "to:abuse quick:ok\n";
    let entry: SourceEntry<'_> = entries(text, Convention::Sendmail, Separator::Whitespace)
        .next()
        .unwrap()
        .unwrap();
    assert!(matches!(entry.key, Cow::Borrowed(_)));
    assert!(matches!(entry.value, Cow::Borrowed(_)));
}

#[test]
fn error_display() {
    let e = SourceError {
        line: 12,
        message: "bad".to_string(),
    };
    assert_eq!(e.to_string(), "line 12: bad");
}

/// A million-line access map streams through quickly. The bound is loose
/// for debug builds; in release mode this takes a few tens of milliseconds.
#[test]
fn million_lines_stream() {
    let mut text = String::with_capacity(40_000_000);
    for i in 0..1_000_000u32 {
        let (a, b, c) = (i >> 16, (i >> 8) & 255, i & 255);
        text.push_str(&format!(
            "cltaddr:10.{a}.{b}.{c}\terror:550 5.7.1 listed here\n"
        ));
    }
    let start = std::time::Instant::now();
    let mut n = 0usize;
    let mut bytes = 0usize;
    for e in entries(&text, Convention::Sendmail, Separator::Whitespace) {
        let e = e.unwrap();
        n += 1;
        bytes += e.key.len() + e.value.len();
    }
    let elapsed = start.elapsed();
    assert_eq!(n, 1_000_000);
    assert!(bytes > 0);
    let limit = if cfg!(debug_assertions) { 20 } else { 1 };
    assert!(
        elapsed < std::time::Duration::from_secs(limit),
        "took {elapsed:?}"
    );
}

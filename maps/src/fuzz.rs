//! The check of the fuzz target `map_source` (the cargo-fuzz project
//! `fuzz/` at the top of the repository), shared with the test that replays
//! its corpus under stable `cargo test` (`tests/fuzz_corpus.rs`).
//!
//! The input is read as a text map source (sendmail X README §3.9.3) in
//! both conventions and with both separators ([`crate::source`]), every
//! entry goes through the right-hand-side parser of every map kind
//! ([`crate::kind`]: access, aliases, mailertable, qmgr_conf, passwords,
//! plain), the lookup key generators of §3.12.1 and the macro expansion of
//! §3.12.3, and the text is also read by [`crate::texthash`]. Panics when
//! an invariant breaks; not for production use.

use crate::kind::{self, MapKind};
use crate::lookup::{self, AddressOptions};
use crate::macros;
use crate::source::{self, Convention, Separator, SourceEntry};
use crate::texthash::TextHash;

/// Runs every reader of map sources on `bytes` (lossy UTF-8).
pub fn map_source(bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    for conv in [Convention::Sendmail, Convention::Postfix] {
        for sep in [Separator::Whitespace, Separator::Colon] {
            let entries = read(&text, conv, sep);
            round_trip(&entries, conv, sep);
        }
    }
    for kind in MapKind::ALL {
        for conv in [Convention::Sendmail, Convention::Postfix] {
            for e in source::entries(&text, conv, kind.separator()).flatten() {
                let _ = kind.validate(&e.key, &e.value);
                by_kind(kind, &e);
            }
        }
    }
    for colon in [false, true] {
        if let Ok(map) = TextHash::parse("fuzz", &text, colon) {
            for (k, _) in map.iter() {
                assert_eq!(k, k.to_lowercase(), "texthash key {k:?} is not folded");
            }
        }
    }
}

/// The entries of `text`; checks line numbers, keys and values.
fn read<'a>(text: &'a str, conv: Convention, sep: Separator) -> Vec<SourceEntry<'a>> {
    let mut last = 0;
    let mut out = Vec::new();
    for item in source::entries(text, conv, sep) {
        let line = match item {
            Ok(e) => {
                assert!(!e.key.is_empty(), "empty key on line {}", e.line);
                assert_eq!(
                    e.value.trim(),
                    e.value,
                    "value not trimmed on line {}",
                    e.line
                );
                assert!(!e.key.contains('\n') && !e.value.contains('\n'));
                let line = e.line;
                out.push(e);
                line
            }
            Err(e) => e.line,
        };
        assert!(
            line > last,
            "line {line} after line {last} ({conv:?}, {sep:?})"
        );
        last = line;
    }
    out
}

/// Writes `entries` back as a source in the same convention and reads it
/// again: the same keys and values must come out.
fn round_trip(entries: &[SourceEntry<'_>], conv: Convention, sep: Separator) {
    let mut written = String::new();
    for e in entries {
        if conv == Convention::Postfix && needs_quotes(&e.key, sep) {
            written.push('"');
            for c in e.key.chars() {
                if c == '"' || c == '\\' {
                    written.push('\\');
                }
                written.push(c);
            }
            written.push('"');
        } else {
            written.push_str(&e.key);
        }
        match sep {
            Separator::Whitespace => written.push(' '),
            Separator::Colon => written.push_str(": "),
        }
        written.push_str(&e.value);
        written.push('\n');
    }
    let again: Vec<(String, String)> = source::entries(&written, conv, sep)
        .map(|r| match r {
            Ok(e) => (e.key.into_owned(), e.value.into_owned()),
            Err(err) => panic!("re-reading written entries ({conv:?}, {sep:?}): {err}\n{written}"),
        })
        .collect();
    let before: Vec<(String, String)> = entries
        .iter()
        .map(|e| (e.key.to_string(), e.value.to_string()))
        .collect();
    assert_eq!(
        before, again,
        "entries change when written back ({conv:?}, {sep:?})"
    );
}

/// Whether a Postfix key must be written quoted to read back the same.
fn needs_quotes(key: &str, sep: Separator) -> bool {
    key.starts_with('"')
        || key.starts_with('#')
        || key.contains(char::is_whitespace)
        || (sep == Separator::Colon && key.contains(':'))
}

/// The parsers of one kind, called directly, with what they promise.
fn by_kind(kind: MapKind, e: &SourceEntry<'_>) {
    match kind {
        MapKind::Access => {
            if let Ok(k) = kind::parse_access_key(&e.key) {
                let name = k.tag.name();
                let again = format!("{name}{}", k.pattern);
                match kind::parse_access_key(&again) {
                    Ok(k2) => assert_eq!(k, k2, "access key {:?} written as {again:?}", e.key),
                    Err(m) => panic!("access key {:?} written as {again:?}: {m}", e.key),
                }
                let _ = kind::parse_access_rhs(&name, &e.value);
            }
            let _ = kind::parse_restrictions(&e.value);
            let _ = kind::encode_dn(&e.value);
        }
        MapKind::Aliases => {
            let _ = kind::parse_alias_rhs(&e.value);
        }
        MapKind::Mailertable => {
            let _ = kind::parse_mailertable_rhs(&e.value);
            let _ = lookup::domain_keys(&e.key, true);
        }
        MapKind::QmgrConf => {
            let _ = kind::parse_qmgr_conf(&e.key, &e.value);
        }
        MapKind::Passwords => {
            let _ = kind::passwords::validate(&e.key, &e.value);
            let _ = kind::passwords::scheme(&e.value);
        }
        MapKind::Plain => {
            for opts in [
                AddressOptions::default(),
                AddressOptions {
                    delimiter: '-',
                    implicitly_match_detail: true,
                    localpart_fallback: true,
                    domain_match: false,
                },
            ] {
                for c in lookup::address_keys(&e.key, &opts) {
                    let ctx = macros::MacroContext::from_candidate(&c, Some("to"));
                    let _ = macros::expand(&e.value, &ctx);
                }
                let _ = lookup::classify(&e.key, &opts);
            }
            let expanded = macros::substitute(&e.value, |_| None);
            assert_eq!(
                expanded, e.value,
                "substitution without values changed the text"
            );
        }
    }
}

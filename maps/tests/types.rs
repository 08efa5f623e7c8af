//! The map types of sendmail X README §3.9.1 other than Berkeley DB and
//! socket: `sequence` (order, temporary failures), `passwd`, and the
//! in-memory text map (`texthash`, §3.9.2 item 9a) with its line-numbered
//! errors.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test that cannot set up should panic

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use smx_maps::passwd::Passwd;
use smx_maps::sequence::Sequence;
use smx_maps::texthash::TextHash;
use smx_maps::{Map, MapError};

/// A map with fixed entries that counts the lookups it answers.
#[derive(Default)]
struct Fixed {
    entries: HashMap<String, String>,
    temp_on: Option<&'static str>,
    perm_on: Option<&'static str>,
    asked: AtomicUsize,
}

impl Fixed {
    fn new(pairs: &[(&str, &str)]) -> Arc<Self> {
        Arc::new(Fixed {
            entries: pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Fixed::default()
        })
    }

    fn failing(temp_on: Option<&'static str>, perm_on: Option<&'static str>) -> Arc<Self> {
        Arc::new(Fixed {
            temp_on,
            perm_on,
            ..Fixed::default()
        })
    }

    fn asked(&self) -> usize {
        self.asked.load(Ordering::SeqCst)
    }
}

impl Map for Fixed {
    fn get(&self, key: &str) -> Result<Option<String>, MapError> {
        self.asked.fetch_add(1, Ordering::SeqCst);
        if self.temp_on == Some(key) {
            return Err(MapError::Temp(format!("down for {key}")));
        }
        if self.perm_on == Some(key) {
            return Err(MapError::Perm(format!("broken for {key}")));
        }
        Ok(self.entries.get(key).cloned())
    }
}

// ---------------------------------------------------------------- sequence

#[test]
fn sequence_first_map_with_a_value_wins() {
    let a = Fixed::new(&[("both", "from-a"), ("only-a", "a")]);
    let b = Fixed::new(&[("both", "from-b"), ("only-b", "b")]);
    let seq = Sequence::new(vec![a.clone(), b.clone()]);
    let cases = [
        ("both", Some("from-a")),
        ("only-a", Some("a")),
        ("only-b", Some("b")),
        ("neither", None),
    ];
    for (key, want) in cases {
        assert_eq!(seq.get(key).unwrap().as_deref(), want, "{key}");
    }
    // b was asked only for the keys a did not have.
    assert_eq!(a.asked(), 4);
    assert_eq!(b.asked(), 2);
    assert_eq!(seq.len(), 2);
}

#[test]
fn sequence_temporary_failure_is_not_skipped() {
    let down = Fixed::failing(Some("user"), None);
    let fallback = Fixed::new(&[("user", "would-be-wrong")]);
    let seq = Sequence::new(vec![down, fallback.clone()]);
    match seq.get("user") {
        Err(MapError::Temp(m)) => assert!(m.contains("down for user")),
        other => panic!("expected Temp, got {other:?}"),
    }
    assert_eq!(fallback.asked(), 0, "the next map must not be asked");

    // A failure of a later map matters only when it is asked.
    let first = Fixed::new(&[("user", "ok")]);
    let later = Fixed::failing(Some("user"), Some("other"));
    let seq = Sequence::new(vec![first, later.clone()]);
    assert_eq!(seq.get("user").unwrap().as_deref(), Some("ok"));
    assert_eq!(later.asked(), 0);
    assert!(matches!(seq.get("other"), Err(MapError::Perm(_))));
}

#[test]
fn empty_and_nested_sequences() {
    let empty = Sequence::new(Vec::new());
    assert!(empty.is_empty());
    assert_eq!(empty.get("x").unwrap(), None);
    let inner = Arc::new(Sequence::new(vec![Fixed::new(&[("k", "inner")])]));
    let outer = Sequence::new(vec![Fixed::new(&[]), inner]);
    assert_eq!(outer.get("k").unwrap().as_deref(), Some("inner"));
}

#[test]
fn seed_sequence_password_then_hash() {
    // map seq2 { type = sequence; maps = { password, otherusers }; }
    let otherusers = TextHash::parse("otherusers", "guest local:\nroot shadowed\n", false).unwrap();
    let seq = Sequence::new(vec![Arc::new(Passwd::new()), Arc::new(otherusers)]);
    assert_eq!(seq.get("guest").unwrap().as_deref(), Some("local:"));
    let root = seq.get("root").unwrap().unwrap();
    assert_ne!(root, "shadowed", "passwd comes first");
}

// ---------------------------------------------------------------- passwd

#[test]
fn passwd_map() {
    let pw = Passwd::new();
    let home = pw.get("root").unwrap().expect("root exists");
    assert!(home.starts_with('/'), "home directory {home:?}");
    let cases = [
        "smx-no-such-user-7f3a9c",
        "",
        "root@localhost",
        "root*",
        "ro\0ot",
    ];
    for key in cases {
        assert_eq!(pw.get(key).unwrap(), None, "{key:?}");
    }
}

// ---------------------------------------------------------------- texthash

#[test]
fn texthash_key_value() {
    let text = "# mailertable\n\
                \n\
                localhost lmtp:\n\
                MY.DOMAIN\tesmtp:[10.1.2.3]\n\
                   # an indented comment\n\
                .TLD esmtp:GATE.WAY   \r\n\
                access:x error:550 5.7.1 no # not a comment\n\
                long first\n\
                \tsecond\n\
                . esmtp:SMART.HOST";
    let m = TextHash::parse("mt", text, false).unwrap();
    let cases = [
        ("localhost", Some("lmtp:")),
        ("my.domain", Some("esmtp:[10.1.2.3]")),
        ("MY.DOMAIN", None), // keys are folded; callers fold too
        (".tld", Some("esmtp:GATE.WAY")),
        ("access:x", Some("error:550 5.7.1 no # not a comment")),
        ("long", Some("first second")),
        (".", Some("esmtp:SMART.HOST")),
        ("#", None),
    ];
    for (key, want) in cases {
        assert_eq!(m.get(key).unwrap().as_deref(), want, "{key}");
    }
    assert_eq!(m.len(), 6);
}

#[test]
fn texthash_aliases_style() {
    let text = "myalias: localuser\n\
                mylist: <user1@my.dom> <user2@my.dom>\n\
                \x20 <localuser@local.host>\n\
                owner-mylist: someuser\n\
                un_alias      :      local:\n\
                user++: local:\n\
                vuser1@virt1.tld: user1\n";
    let m = TextHash::parse("aliases", text, true).unwrap();
    let cases = [
        ("myalias", "localuser"),
        (
            "mylist",
            "<user1@my.dom> <user2@my.dom> <localuser@local.host>",
        ),
        ("owner-mylist", "someuser"),
        ("un_alias", "local:"),
        ("user++", "local:"),
        ("vuser1@virt1.tld", "user1"),
    ];
    for (key, want) in cases {
        assert_eq!(m.get(key).unwrap().as_deref(), Some(want), "{key}");
    }
    let empty = TextHash::parse("aliases", "# nothing\n\n", true).unwrap();
    assert!(empty.is_empty());
}

#[test]
fn texthash_errors_name_file_and_line() {
    let cases: &[(&str, bool, &str)] = &[
        ("a b\nlonely\n", false, "mt:2: no value for key \"lonely\""),
        (
            "a b\n# c\nA c\n",
            false,
            "mt:3: duplicate key \"a\" (first on line 1)",
        ),
        ("  indented first\n", false, "mt:1: continuation line"),
        (
            "x: y\nno colon here\n",
            true,
            "mt:2: expected \"name: value\"",
        ),
        ("x: y\n: z\n", true, "mt:2: empty key"),
        ("x:\n", true, "mt:1: no value for key \"x\""),
        (
            "ok: 1\nOK: 2\n",
            true,
            "mt:2: duplicate key \"ok\" (first on line 1)",
        ),
    ];
    for (text, colon, want) in cases {
        match TextHash::parse("mt", text, *colon) {
            Err(MapError::Perm(m)) => assert!(m.starts_with(want), "{m:?} vs {want:?}"),
            other => panic!("{text:?}: expected Perm({want}), got {other:?}"),
        }
    }
}

#[test]
fn texthash_open_file() {
    let dir = std::env::temp_dir().join(format!("smx-maps-types-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let good = dir.join("mt");
    std::fs::write(&good, "localhost lmtp:\n").unwrap();
    let m = TextHash::open(&good, false).unwrap();
    assert_eq!(m.get("localhost").unwrap().as_deref(), Some("lmtp:"));

    let bad = dir.join("bad");
    std::fs::write(&bad, b"a b\nk \xff\xfe\n").unwrap();
    match TextHash::open(&bad, false) {
        Err(MapError::Perm(m)) => {
            assert!(m.ends_with("bad:2: line is not valid UTF-8"), "{m}")
        }
        other => panic!("expected Perm, got {other:?}"),
    }

    match TextHash::open(dir.join("missing"), false) {
        Err(MapError::Io { path, .. }) => assert!(path.ends_with("missing")),
        other => panic!("expected Io, got {other:?}"),
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

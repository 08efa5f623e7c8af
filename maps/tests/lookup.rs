//! The lookup orders of sendmail X README §3.12.1 and the RHS macros of
//! §3.12.3, checked against every example of the seed text (§3.9.3 access
//! and mailertable, §3.10.2 protected recipients, §4.3.2 local addresses).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test that cannot set up should panic

use std::collections::HashMap;
use std::net::Ipv4Addr;

use smx_maps::lookup::{
    address_keys, classify, domain_keys, first_match, ipv4_keys, lookup, lookup_with_default,
    probe, AddressOptions, ItemClass,
};
use smx_maps::macros::{expand, MacroContext};
use smx_maps::{Map, MapError};

/// An in-memory map built from `key value` lines, keys lower-cased as
/// createmap writes them.
struct TestMap(HashMap<String, String>);

impl TestMap {
    fn new(text: &str) -> Self {
        let entries = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(|l| {
                let (k, v) = l.split_once(char::is_whitespace).unwrap_or((l, ""));
                (k.to_lowercase(), v.trim().to_string())
            })
            .collect();
        TestMap(entries)
    }
}

impl Map for TestMap {
    fn get(&self, key: &str) -> Result<Option<String>, MapError> {
        Ok(self.0.get(key).cloned())
    }
}

/// A map that fails temporarily for one key.
struct FailsOn(&'static str);

impl Map for FailsOn {
    fn get(&self, key: &str) -> Result<Option<String>, MapError> {
        if key == self.0 {
            Err(MapError::Temp("server down".into()))
        } else {
            Ok(None)
        }
    }
}

fn opts() -> AddressOptions {
    AddressOptions::default()
}

fn keys(addr: &str, o: &AddressOptions) -> Vec<String> {
    address_keys(addr, o).into_iter().map(|c| c.key).collect()
}

fn value(map: &dyn Map, item: &str, tag: Option<&str>, o: &AddressOptions) -> Option<String> {
    match lookup(map, item, tag, o) {
        Ok(l) => l.value().map(str::to_string),
        Err(e) => panic!("lookup of {item}: {e}"),
    }
}

// ---------------------------------------------------------------- domains

#[test]
fn domain_order_of_the_seed() {
    assert_eq!(
        domain_keys("sub2.sub1.tld", false),
        ["sub2.sub1.tld", ".sub1.tld", ".tld"]
    );
    assert_eq!(
        domain_keys("sub2.sub1.tld", true),
        ["sub2.sub1.tld", ".sub1.tld", ".tld", "."]
    );
}

#[test]
fn domain_keys_edge_cases() {
    let cases: &[(&str, bool, &[&str])] = &[
        (
            "Sub2.Sub1.TLD.",
            false,
            &["sub2.sub1.tld", ".sub1.tld", ".tld"],
        ),
        ("localhost", false, &["localhost"]),
        ("localhost", true, &["localhost", "."]),
        ("a.b.c.d", false, &["a.b.c.d", ".b.c.d", ".c.d", ".d"]),
        ("[10.1.2.3]", true, &["[10.1.2.3]", "."]),
        ("", true, &["."]),
        ("", false, &[]),
    ];
    for (input, with_default, want) in cases {
        assert_eq!(domain_keys(input, *with_default), *want, "input {input:?}");
    }
}

#[test]
fn no_implicit_parent_domain_match() {
    // "sub2.sub1.tld" does neither match the entry "sub1.tld" nor "tld".
    let map = TestMap::new("sub1.tld x\ntld y");
    assert_eq!(value(&map, "sub2.sub1.tld", None, &opts()), None);
    let map = TestMap::new(".sub1.tld x\n.tld y");
    assert_eq!(
        value(&map, "sub2.sub1.tld", None, &opts()).as_deref(),
        Some("x")
    );
    assert_eq!(value(&map, "sub1.tld", None, &opts()).as_deref(), Some("y"));
}

#[test]
fn mailertable_example() {
    let mt = TestMap::new(
        "localhost lmtp:
         SPAM.FILTER.DOMAIN 2525^esmtp:[127.0.0.1]
         LMTPHOST.MY.DOMAIN 525^lmtp:[10.11.12.13]
         MY.DOMAIN esmtp:[10.1.2.3]
         ANOTHER.DOMAIN esmtp:MTA.SERVER
         .TLD esmtp:GATE.WAY
         . esmtp:SMART.HOST",
    );
    let cases = [
        ("localhost", "lmtp:"),
        ("spam.filter.domain", "2525^esmtp:[127.0.0.1]"),
        ("LMTPHOST.my.domain", "525^lmtp:[10.11.12.13]"),
        ("my.domain", "esmtp:[10.1.2.3]"),
        ("my.domain.", "esmtp:[10.1.2.3]"),
        // No implicit subdomain match: host.my.domain falls to the default.
        ("host.my.domain", "esmtp:SMART.HOST"),
        ("another.domain", "esmtp:MTA.SERVER"),
        ("x.tld", "esmtp:GATE.WAY"),
        ("a.b.tld", "esmtp:GATE.WAY"),
        // ".tld" matches subdomains only.
        ("tld", "esmtp:SMART.HOST"),
        ("example.org", "esmtp:SMART.HOST"),
    ];
    for (domain, want) in cases {
        let l = lookup_with_default(&mt, domain, None, &opts(), true).unwrap();
        assert_eq!(l.value(), Some(want), "domain {domain}");
    }
    // Without the default entry, nothing is found for an unknown domain.
    assert_eq!(value(&mt, "example.org", None, &opts()), None);
}

// ---------------------------------------------------------------- IPv4

#[test]
fn ipv4_order_of_the_seed() {
    assert_eq!(
        ipv4_keys(Ipv4Addr::new(10, 1, 2, 3)),
        ["10.1.2.3", "10.1.2", "10.1", "10"]
    );
}

#[test]
fn access_cltaddr_examples() {
    let access = TestMap::new(
        "cltaddr:10 error:551 5.7.1 No direct mail from 10.x.y.z
         cltaddr:127.0.0.1 quick:relay
         cltaddr:192.168.1 relay",
    );
    let cases = [
        (
            "10.20.30.40",
            Some("error:551 5.7.1 No direct mail from 10.x.y.z"),
        ),
        ("127.0.0.1", Some("quick:relay")),
        ("127.0.0.2", None),
        ("192.168.1.77", Some("relay")),
        ("192.168.10.1", None),
        // "1" is not a prefix of "10": components, not characters.
        ("1.2.3.4", None),
    ];
    for (ip, want) in cases {
        assert_eq!(
            value(&access, ip, Some("cltaddr"), &opts()).as_deref(),
            want,
            "ip {ip}"
        );
    }
    let l = lookup(&access, "10.20.30.40", Some("cltaddr:"), &opts()).unwrap();
    assert_eq!(
        l.tried,
        [
            "cltaddr:10.20.30.40",
            "cltaddr:10.20.30",
            "cltaddr:10.20",
            "cltaddr:10"
        ]
    );
}

#[test]
fn dnsbl_results_and_mxbadip() {
    let access = TestMap::new(
        "dnsbltld:127.0.0.1  error:550 5.7.1 listed at dnsbl.tld as open relay
         dnsbltld:127.0.0.2  error:550 5.7.1 listed at dnsbl.tld as spam source
         dnsbltld:temp       error:451 4.7.1 temporary lookup failure at dnsbl.tld
         mxbadip:127.0.0.1 error:551 5.7.1 Bad IP address 127.0.0.1 in MX/A list",
    );
    assert_eq!(
        value(&access, "127.0.0.2", Some("dnsbltld"), &opts()).as_deref(),
        Some("error:550 5.7.1 listed at dnsbl.tld as spam source")
    );
    let m = first_match(&access, "dnsbltld", ["temp"]).unwrap().unwrap();
    assert_eq!(
        m.value,
        "error:451 4.7.1 temporary lookup failure at dnsbl.tld"
    );
    assert_eq!(m.tried, ["dnsbltld:temp"]);
    assert!(first_match(&access, "dnsbltld", ["perm"])
        .unwrap()
        .is_none());
    assert_eq!(
        value(&access, "127.0.0.1", Some("mxbadip"), &opts()).as_deref(),
        Some("error:551 5.7.1 Bad IP address 127.0.0.1 in MX/A list")
    );
}

// ---------------------------------------------------------------- addresses

#[test]
fn address_steps_table() {
    let dflt = opts();
    let implicit = AddressOptions {
        implicitly_match_detail: true,
        ..opts()
    };
    let dash = AddressOptions {
        delimiter: '-',
        ..opts()
    };
    let fallback = AddressOptions {
        localpart_fallback: true,
        ..opts()
    };
    let fallback_implicit = AddressOptions {
        localpart_fallback: true,
        implicitly_match_detail: true,
        ..opts()
    };
    let no_domain = AddressOptions {
        domain_match: false,
        ..opts()
    };
    let cases: &[(&str, &AddressOptions, &[&str])] = &[
        (
            "user+detail@sub2.sub1.tld",
            &dflt,
            &[
                "user+detail@sub2.sub1.tld",
                "user++@sub2.sub1.tld",
                "user+*@sub2.sub1.tld",
                "user*@sub2.sub1.tld",
                "@sub2.sub1.tld",
                "user+detail@.sub1.tld",
                "user++@.sub1.tld",
                "user+*@.sub1.tld",
                "user*@.sub1.tld",
                "@.sub1.tld",
                "user+detail@.tld",
                "user++@.tld",
                "user+*@.tld",
                "user*@.tld",
                "@.tld",
            ],
        ),
        (
            "user@a.b",
            &dflt,
            &[
                "user*@a.b",
                "user@a.b",
                "@a.b",
                "user*@.b",
                "user@.b",
                "@.b",
            ],
        ),
        // Empty detail: 1a verbatim, no 1b, 1c, 1d; 1e not without the flag.
        ("user+@d", &dflt, &["user+@d", "user+*@d", "user*@d", "@d"]),
        (
            "user+@d",
            &implicit,
            &["user+@d", "user+*@d", "user*@d", "user@d", "@d"],
        ),
        (
            "user+detail@d",
            &implicit,
            &[
                "user+detail@d",
                "user++@d",
                "user+*@d",
                "user*@d",
                "user@d",
                "@d",
            ],
        ),
        // The second character of "++" and "+*" does not follow the delimiter.
        (
            "user-detail@d",
            &dash,
            &["user-detail@d", "user-+@d", "user-*@d", "user*@d", "@d"],
        ),
        // With delimiter "-", "+" is an ordinary character.
        (
            "user+detail@d",
            &dash,
            &["user+detail*@d", "user+detail@d", "@d"],
        ),
        (
            "user+detail@d",
            &fallback,
            &[
                "user+detail@d",
                "user++@d",
                "user+*@d",
                "user*@d",
                "@d",
                "user+detail",
                "user++",
                "user+*",
                "user*",
            ],
        ),
        (
            "user+detail@d",
            &fallback_implicit,
            &[
                "user+detail@d",
                "user++@d",
                "user+*@d",
                "user*@d",
                "user@d",
                "@d",
                "user+detail",
                "user++",
                "user+*",
                "user*",
                "user",
            ],
        ),
        (
            "user@d",
            &fallback,
            &["user*@d", "user@d", "@d", "user*", "user"],
        ),
        ("user@d", &no_domain, &["user*@d", "user@d"]),
        // A local part alone gives the local-part steps, with or without
        // the fallback flag.
        ("user+x", &dflt, &["user+x", "user++", "user+*", "user*"]),
        ("user", &dflt, &["user*", "user"]),
        // Angle brackets, case, trailing dot.
        (
            "<User+Detail@Example.COM.>",
            &dflt,
            &[
                "user+detail@example.com",
                "user++@example.com",
                "user+*@example.com",
                "user*@example.com",
                "@example.com",
                "user+detail@.com",
                "user++@.com",
                "user+*@.com",
                "user*@.com",
                "@.com",
            ],
        ),
        // The first delimiter splits: detail "a+b".
        (
            "u+a+b@d",
            &dflt,
            &["u+a+b@d", "u++@d", "u+*@d", "u*@d", "@d"],
        ),
        // Only the domain steps for an empty local part.
        (
            "@spammer.domain",
            &fallback,
            &["@spammer.domain", "@.domain"],
        ),
    ];
    for (addr, o, want) in cases {
        assert_eq!(keys(addr, o), *want, "address {addr:?} with {o:?}");
    }
}

#[test]
fn candidates_carry_the_parts_of_the_address() {
    let c = address_keys("<Alias+Detail@Host2.Domain>", &opts());
    let exact = &c[0];
    assert_eq!(exact.key, "alias+detail@host2.domain");
    assert_eq!(exact.user, "Alias");
    assert_eq!(exact.detail.as_deref(), Some("Detail"));
    assert_eq!(exact.domain, "Host2.Domain");
    assert_eq!(exact.subdomain, None);
    assert_eq!(exact.delimiter, '+');
    let parent = c.iter().find(|c| c.key == "alias*@.domain").unwrap();
    assert_eq!(parent.subdomain.as_deref(), Some("Host2"));
    let none = &address_keys("alias@host.domain", &opts())[0];
    assert_eq!(none.detail, None);
}

#[test]
fn star_matches_only_a_detail_or_nothing() {
    // "user1@subdomain" does not match the LHS "user*@subdomain".
    let map = TestMap::new("user*@subdomain yes");
    let cases = [
        ("user1@subdomain", None),
        ("user@subdomain", Some("yes")),
        ("user+x@subdomain", Some("yes")),
        ("user+@subdomain", Some("yes")),
        ("user@other", None),
    ];
    for (addr, want) in cases {
        assert_eq!(value(&map, addr, None, &opts()).as_deref(), want, "{addr}");
    }
}

#[test]
fn detail_patterns() {
    let plus_plus = TestMap::new("user++@d any-non-empty");
    let plus_star = TestMap::new("user+*@d any-detail");
    let plain = TestMap::new("user@d plain");
    let verbatim = TestMap::new("user+x@d verbatim");
    let implicit = AddressOptions {
        implicitly_match_detail: true,
        ..opts()
    };
    let cases: &[(&TestMap, &str, &AddressOptions, Option<&str>)] = &[
        (&plus_plus, "user+x@d", &opts(), Some("any-non-empty")),
        (&plus_plus, "user+@d", &opts(), None),
        (&plus_plus, "user@d", &opts(), None),
        (&plus_star, "user+x@d", &opts(), Some("any-detail")),
        (&plus_star, "user+@d", &opts(), Some("any-detail")),
        (&plus_star, "user@d", &opts(), None),
        (&plain, "user@d", &opts(), Some("plain")),
        (&plain, "user+x@d", &opts(), None),
        (&plain, "user+@d", &opts(), None),
        (&plain, "user+x@d", &implicit, Some("plain")),
        (&plain, "user+@d", &implicit, Some("plain")),
        (&verbatim, "user+x@d", &opts(), Some("verbatim")),
        (&verbatim, "USER+X@D", &opts(), Some("verbatim")),
        (&verbatim, "user+y@d", &opts(), None),
    ];
    for (map, addr, o, want) in cases {
        assert_eq!(value(*map, addr, None, o).as_deref(), *want, "{addr} {o:?}");
    }
}

#[test]
fn delimiter_dash() {
    let dash = AddressOptions {
        delimiter: '-',
        ..opts()
    };
    let map = TestMap::new("owner-+@d owners\nbob-*@d bob");
    assert_eq!(
        value(&map, "owner-list@d", None, &dash).as_deref(),
        Some("owners")
    );
    assert_eq!(value(&map, "bob-@d", None, &dash).as_deref(), Some("bob"));
    // "owner--@d" would be the wrong reading of the seed.
    assert!(!keys("owner-list@d", &dash).contains(&"owner--@d".to_string()));
    // With "+" as delimiter, "owner-list" is a user without detail.
    assert_eq!(value(&map, "owner-list@d", None, &opts()), None);
}

#[test]
fn most_specific_domain_wins_in_order() {
    // For each domain form, every local-part pattern comes before "@form".
    let map = TestMap::new("@a.b domain\nuser*@.b user-in-parent");
    assert_eq!(
        value(&map, "user@a.b", None, &opts()).as_deref(),
        Some("domain")
    );
    assert_eq!(
        value(&map, "user@x.b", None, &opts()).as_deref(),
        Some("user-in-parent")
    );
}

// ---------------------------------------------------------------- access map

fn access_map() -> TestMap {
    TestMap::new(
        "cltresolve:tempptr error:451 4.7.1 reverse lookup failed
         from:@spammer.domain error:551 5.7.1 No spammers
         from:@.spammer.domain error:551 5.7.1 No spammers in subdomains either
         to:root error:551 5.7.1 No mail to root
         to:abuse quick:ok
         cltname:spammer.domain quick:error:551 5.7.1 No mail from spammers
         to:@primary.domain relay
         to:user1@my.domain relay
         to:user2@my.domain relay",
    )
}

fn access_opts() -> AddressOptions {
    AddressOptions {
        localpart_fallback: true,
        ..opts()
    }
}

#[test]
fn access_examples() {
    let access = access_map();
    let o = access_opts();
    let cases: &[(&str, &str, Option<&str>)] = &[
        (
            "from",
            "x@spammer.domain",
            Some("error:551 5.7.1 No spammers"),
        ),
        (
            "from",
            "<x@a.spammer.domain>",
            Some("error:551 5.7.1 No spammers in subdomains either"),
        ),
        (
            "from",
            "x@b.a.spammer.domain",
            Some("error:551 5.7.1 No spammers in subdomains either"),
        ),
        ("from", "x@notspammer.domain", None),
        ("from", "x@spammer.domain.org", None),
        (
            "to",
            "root@any.domain",
            Some("error:551 5.7.1 No mail to root"),
        ),
        ("to", "root", Some("error:551 5.7.1 No mail to root")),
        ("to", "abuse@local.dom", Some("quick:ok")),
        // "to:root" has no +detail pattern.
        ("to", "root+x@any.domain", None),
        ("to", "anyone@primary.domain", Some("relay")),
        ("to", "anyone@sub.primary.domain", None),
        ("to", "user1@my.domain", Some("relay")),
        ("to", "user3@my.domain", None),
        (
            "cltname",
            "spammer.domain",
            Some("quick:error:551 5.7.1 No mail from spammers"),
        ),
        ("cltname", "mx.spammer.domain", None),
        (
            "cltresolve",
            "tempptr",
            Some("error:451 4.7.1 reverse lookup failed"),
        ),
        ("cltresolve", "ok", None),
    ];
    for (tag, item, want) in cases {
        assert_eq!(
            value(&access, item, Some(tag), &o).as_deref(),
            *want,
            "{tag}:{item}"
        );
    }
}

#[test]
fn at_dot_domain_matches_strict_subdomains_only() {
    let only_dot = TestMap::new("from:@.spammer.domain sub");
    let only_exact = TestMap::new("from:@spammer.domain exact");
    let o = opts();
    assert_eq!(value(&only_dot, "x@spammer.domain", Some("from"), &o), None);
    assert_eq!(
        value(&only_dot, "x@a.spammer.domain", Some("from"), &o).as_deref(),
        Some("sub")
    );
    assert_eq!(
        value(&only_exact, "x@spammer.domain", Some("from"), &o).as_deref(),
        Some("exact")
    );
    assert_eq!(
        value(&only_exact, "x@a.spammer.domain", Some("from"), &o),
        None
    );
}

#[test]
fn tried_keys_are_reported_in_order() {
    let access = access_map();
    let l = lookup(&access, "x@a.spammer.domain", Some("from:"), &opts()).unwrap();
    assert_eq!(
        l.tried,
        [
            "from:x*@a.spammer.domain",
            "from:x@a.spammer.domain",
            "from:@a.spammer.domain",
            "from:x*@.spammer.domain",
            "from:x@.spammer.domain",
            "from:@.spammer.domain",
        ]
    );
    let found = l.found.unwrap();
    assert_eq!(found.key, "@.spammer.domain");
    assert_eq!(found.candidate.unwrap().subdomain.as_deref(), Some("a"));

    let l = lookup(&access, "nobody@example.org", Some("to"), &access_opts()).unwrap();
    assert!(l.found.is_none());
    assert_eq!(
        l.tried,
        [
            "to:nobody*@example.org",
            "to:nobody@example.org",
            "to:@example.org",
            "to:nobody*@.org",
            "to:nobody@.org",
            "to:@.org",
            "to:nobody*",
            "to:nobody",
        ]
    );

    let m = first_match(&access, "to", ["x", "abuse", "root"])
        .unwrap()
        .unwrap();
    assert_eq!(m.key, "abuse");
    assert_eq!(m.value, "quick:ok");
    assert_eq!(m.tried, ["to:x", "to:abuse"]);
    let l = probe(&access, "", ["to:abuse"]).unwrap();
    assert_eq!(l.value(), Some("quick:ok"));
}

#[test]
fn temporary_failure_stops_the_lookup() {
    let map = FailsOn("to:@example.org");
    match lookup(&map, "u@example.org", Some("to"), &opts()) {
        Err(MapError::Temp(m)) => assert!(m.contains("server down")),
        other => panic!("expected a temporary failure, got {other:?}"),
    }
}

#[test]
fn protected_recipients_generic_lookup() {
    let access = TestMap::new(
        "protectedrcpt:list1@local.dom list:<list1@local.dom>
         protectedrcpt:list3 from:<moderator3@local.dom> cltaddr:1.2.3.4 cltaddr:10",
    );
    let o = access_opts();
    assert_eq!(
        value(&access, "<list1@local.dom>", Some("protectedrcpt"), &o).as_deref(),
        Some("list:<list1@local.dom>")
    );
    assert_eq!(
        value(&access, "<list3@local.dom>", Some("protectedrcpt"), &o).as_deref(),
        Some("from:<moderator3@local.dom> cltaddr:1.2.3.4 cltaddr:10")
    );
    // "cltaddr:10" in a restriction is matched with the IPv4 order.
    let restriction = TestMap::new("10 yes");
    assert_eq!(
        value(&restriction, "10.9.8.7", None, &o).as_deref(),
        Some("yes")
    );
}

// ---------------------------------------------------------------- aliases

#[test]
fn local_addresses_in_aliases() {
    // §4.3.2: local parts with "local:" entries.
    let aliases = TestMap::new(
        "postmaster <user@host.domain>
         abuse user+abuse
         user++ local:
         user local:",
    );
    let localpart = AddressOptions {
        localpart_fallback: true,
        domain_match: false,
        ..opts()
    };
    let implicit = AddressOptions {
        implicitly_match_detail: true,
        ..localpart
    };
    let cases: &[(&str, &AddressOptions, Option<&str>)] = &[
        ("postmaster", &localpart, Some("<user@host.domain>")),
        ("abuse", &localpart, Some("user+abuse")),
        ("user", &localpart, Some("local:")),
        ("user+folder", &localpart, Some("local:")),
        ("user+folder@local.host", &localpart, Some("local:")),
        // Empty detail: "user++" needs a non-empty detail, "user" needs the
        // implicit match.
        ("user+", &localpart, None),
        ("user+", &implicit, Some("local:")),
        ("abuse+x", &localpart, None),
        ("abuse+x", &implicit, Some("user+abuse")),
        ("other", &localpart, None),
    ];
    for (item, o, want) in cases {
        assert_eq!(value(&aliases, item, None, o).as_deref(), *want, "{item}");
    }
}

#[test]
fn aliases_local_domains() {
    let aliases = TestMap::new(
        "myalias@first.dom user1
         another@second.dom user2",
    );
    let o = AddressOptions {
        domain_match: false,
        ..opts()
    };
    assert_eq!(value(&aliases, "<myalias@second.dom>", None, &o), None);
    assert_eq!(value(&aliases, "<another@first.dom>", None, &o), None);
    assert_eq!(
        value(&aliases, "<myalias@first.dom>", None, &o).as_deref(),
        Some("user1")
    );
    assert_eq!(
        value(&aliases, "<another@second.dom>", None, &o).as_deref(),
        Some("user2")
    );
}

// ---------------------------------------------------------------- classify

#[test]
fn classification() {
    let lp = access_opts();
    let cases: &[(&str, &AddressOptions, ItemClass)] = &[
        ("10.1.2.3", &opts(), ItemClass::Ipv4),
        ("u@d", &opts(), ItemClass::Address),
        ("<u@d>", &opts(), ItemClass::Address),
        ("@d", &opts(), ItemClass::Address),
        ("<>", &opts(), ItemClass::Verbatim),
        ("mail.example.com", &opts(), ItemClass::Domain),
        ("mail.example.com", &lp, ItemClass::Domain),
        ("localhost", &opts(), ItemClass::Domain),
        ("root", &lp, ItemClass::LocalPart),
        ("user+x", &opts(), ItemClass::LocalPart),
        ("user+x", &lp, ItemClass::LocalPart),
        ("[10.1.2.3]", &opts(), ItemClass::Domain),
        ("10.1.2", &opts(), ItemClass::Domain),
    ];
    for (item, o, want) in cases {
        assert_eq!(classify(item, o), *want, "{item} {o:?}");
    }
    let map = TestMap::new("<> null-sender");
    assert_eq!(
        value(&map, "<>", Some(""), &opts()).as_deref(),
        Some("null-sender")
    );
}

// ---------------------------------------------------------------- macros

#[test]
fn seed_macro_example() {
    // alias*@.domain     user${extension}@${subdomain}.domain
    let aliases = TestMap::new("alias*@.domain user${extension}@${subdomain}.domain");
    let cases = [
        ("alias@host.domain", "user@host.domain"),
        ("alias+detail@host2.domain", "user+detail@host2.domain"),
        ("<alias+@a.b.domain>", "user+@a.b.domain"),
    ];
    for (input, want) in cases {
        let l = lookup(&aliases, input, None, &opts()).unwrap();
        let found = l.found.unwrap_or_else(|| panic!("{input} not found"));
        let ctx = MacroContext::from_candidate(&found.candidate.unwrap(), None);
        assert_eq!(expand(&found.value, &ctx), want, "{input}");
    }
    // The pattern "@.domain" does not match "domain" itself.
    assert_eq!(value(&aliases, "alias@domain", None, &opts()), None);
}

#[test]
fn macro_table() {
    let cand = address_keys(
        "Bob-Sales@Mail.Example.Org",
        &AddressOptions {
            delimiter: '-',
            ..opts()
        },
    );
    let parent = cand.iter().find(|c| c.key == "bob*@.example.org").unwrap();
    let ctx = MacroContext::from_candidate(parent, Some("to:"));
    let plain = MacroContext::from_candidate(&address_keys("bob@d", &opts())[0], None);
    let cases: &[(&str, &MacroContext, &str)] = &[
        ("${user}", &ctx, "Bob"),
        ("${detail}", &ctx, "Sales"),
        ("${domain}", &ctx, "Mail.Example.Org"),
        ("${tag}", &ctx, "to"),
        ("${delimiter}", &ctx, "-"),
        ("${subdomain}", &ctx, "Mail"),
        ("${extension}", &ctx, "-Sales"),
        (
            "<${user}${extension}@${domain}>",
            &ctx,
            "<Bob-Sales@Mail.Example.Org>",
        ),
        ("${extension}", &plain, ""),
        ("${detail}", &plain, ""),
        ("${subdomain}", &plain, ""),
        ("${tag}", &plain, ""),
        // Unknown and unterminated macros stay as written.
        ("${nosuch}x", &ctx, "${nosuch}x"),
        ("a${user", &ctx, "a${user"),
        ("$user {user} $", &ctx, "$user {user} $"),
        ("${}", &ctx, "${}"),
        ("${user}${user}", &plain, "bobbob"),
        ("", &ctx, ""),
    ];
    for (rhs, c, want) in cases {
        assert_eq!(expand(rhs, c), *want, "{rhs}");
    }
}

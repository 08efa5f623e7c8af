//! Map kinds: every map example of the seeds (sendmail X README §3.8.1,
//! §3.9.2 item 4, §3.9.3, §3.10 item 21, §3.10.2, §3.12.3, §4.3; the
//! sendmail X slides of seed 000) validates, and bad lines are reported in
//! the postmaster's words. Good and bad lines sit side by side per kind.

#![allow(clippy::unwrap_used)]

use std::net::Ipv4Addr;

use smx_maps::kind::{
    encode_dn, parse_access_key, parse_access_rhs, parse_alias_rhs, parse_mailertable_rhs,
    parse_qmgr_conf, parse_restrictions, AccessAction, AccessRhs, AccessTag, AliasTarget, Host,
    MapKind, QmgrConfEntry, QmgrConfKey, Restriction, Route,
};
use smx_maps::source::{entries, Convention};

/// Reads `line` as a one-line map source of `kind` and validates it.
fn check(kind: MapKind, line: &str) -> Result<(), String> {
    let mut all = entries(line, Convention::Sendmail, kind.separator());
    let entry = all
        .next()
        .ok_or_else(|| "no entry".to_string())?
        .map_err(|e| e.to_string())?;
    assert!(all.next().is_none(), "one line, one entry: {line}");
    kind.validate(&entry.key, &entry.value)
}

// ---------------------------------------------------------------- access

/// §3.9.3 examples, §3.9.2 item 4 (dnsbl), §3.9.4 greylisting whitelist,
/// §3.10 item 21 (joined where the seed breaks lines after `CN=`), §3.10.2,
/// §4.3.3 gateway; then seed 000.
const GOOD_ACCESS: &[&str] = &[
    "cltresolve:tempptr error:451 4.7.1 reverse lookup failed",
    "mxbadip:127.0.0.1 error:551 5.7.1 Bad IP address 127.0.0.1 in MX/A list",
    "mxbadip:192.168.255.255 error:551 5.7.1 Bad IP address 192.168.255.255 in MX/A list",
    "from:@spammer.domain error:551 5.7.1 No spammers",
    "from:@.spammer.domain error:551 5.7.1 No spammers in subdomains either",
    "to:root error:551 5.7.1 No mail to root",
    "to:abuse quick:ok",
    "cltaddr:10 error:551 5.7.1 No direct mail from 10.x.y.z",
    "cltname:spammer.domain quick:error:551 5.7.1 No mail from spammers",
    "to:@primary.domain relay",
    "cltaddr:10 relay",
    "cltaddr:127.0.0.1 quick:relay",
    "dnsbltld:127.0.0.1  error:550 5.7.1 listed at dnsbl.tld as open relay",
    "dnsbltld:127.0.0.2  error:550 5.7.1 listed at dnsbl.tld as spam source",
    "dnsbltld:127.0.0.9  error:451 4.7.1 listed at dnsbl.tld as suspicious",
    "dnsbltld:temp       error:451 4.7.1 temporary lookup failure at dnsbl.tld",
    "cltaddr:12.107.209.244 ok",
    "cltaddr:64.12.137 ok",
    "certissuer:/C=US/ST=California/O=endmail.org/OU=private/CN=Darth+20Mail+20+28Cert+29/emailAddress=darth+2Bcert@endmail.org relay",
    "certissuer:/C=US/ST=California/O=endmail.org/OU=private/CN=Darth+20Mail+20+28Cert+29/emailAddress=darth+2Bcert@endmail.org cont",
    "CertSubject:/C=US/ST=California/O=endmail.org/OU=private/CN=DeathStar/emailAddress=deathstar@endmail.org relay",
    "protectedrcpt:list1@local.dom list:<list1@local.dom>",
    "protectedrcpt:list3 from:<moderator3@local.dom> cltaddr:1.2.3.4 cltaddr:10",
    "to:user1@my.domain relay",
    "to:user2@my.domain relay",
    "to:postmaster@my.domain relay",
    "cltaddr:10.12 relay",
    // seed 000
    "to:@math.universite.fr relay",
    "to:@physique.universite.fr relay",
    "cltaddr:10 quick:relay",
    "mail-abuse:127.0.0.1 error:550 5.7.1 listed at mail-abuse.org as open relay",
    "mail-abuse:127.0.0.2 error:550 5.7.1 listed at mail-abuse.org as spam source",
    "mail-abuse:127.0.0.9 error:451 4.7.1 listed at mail-abuse.org as suspicious",
    "mail-abuse:temp error:451 4.7.1 temporary lookup failure at mail-abuse.org",
    "cltaddr:10      OK",
    // Seed 000 writes these with the tag misspelled "protectrcpt:" (see
    // BAD_ACCESS); with the tag of §3.10.2 they are good.
    "protectedrcpt:mes_amis      list:<mes_amis@domain>",
    "protectedrcpt:mes_eleves    from:<moi@domain>",
    "protectedrcpt:tous_labo     cltaddr:10",
    // Beyond the seeds: other RHS and LHS forms of §3.9.3 and §3.12.1.
    "from:user+*@example.com discard",
    "to:user++@.example.com reject",
    "cltresolve:no cont",
    "cltname:.dialup.example.net error:550 5.7.1 no dialups",
    "dnsbltld:perm error:451 4.7.1 blacklist broken",
    "to:x@[10.1.2.3] ok",
];

const BAD_ACCESS: &[(&str, &str)] = &[
    ("frm:foo@bar.com ok", "unknown access tag \"frm:\"; did you mean \"from:\"?"),
    (
        "protectrcpt:mes_amis list:<mes_amis@domain>",
        "unknown access tag \"protectrcpt:\"; did you mean \"protectedrcpt:\"?",
    ),
    ("cltadr:1.2.3.4 ok", "did you mean \"cltaddr:\"?"),
    ("root error:550 5.7.1 no", "access key \"root\" has no tag"),
    ("dnsbl.tld:127.0.0.x error:550 5.7.1 x", "a DNSBL tag followed by an IPv4 address"),
    ("cltaddr:10.0.0.0/8 relay", "CIDR notation is not used in smx maps; write a net as its leading octets, here \"10\""),
    ("cltaddr:10.256 ok", "octet 256 is out of range (0-255)"),
    ("cltaddr:10. ok", "drop the trailing dot"),
    ("cltaddr:1.2.3.4.5 ok", "has more than four octets"),
    ("cltaddr:010.1 ok", "leading zero"),
    ("cltaddr:::1 ok", "only IPv4 addresses are supported"),
    ("from:<spammer@x.dom> reject", "without angle brackets"),
    ("from:@ reject", "missing domain after '@'"),
    ("from:user@bad_domain.com reject", "'_' is not allowed"),
    ("to: relay", "nothing after the tag \"to:\""),
    (
        "from:@x.dom relay",
        "\"relay\" is only allowed for to:, cltaddr:, cltname:, certissuer: and certsubject:, not for from:",
    ),
    ("dnsbltld:127.0.0.2 relay", "not for dnsbltld:"),
    ("cltname:10.1.2.3 ok", "use cltaddr:10.1.2.3"),
    ("cltresolve:maybe reject", "unknown cltresolve: result \"maybe\""),
    (
        "to:x@y.dom error:550",
        "\"error:\" needs a reply code and an enhanced status code, e.g. error:550 5.7.1 text",
    ),
    (
        "to:x@y.dom error:550 No spammers",
        "after the reply code 550 found \"No\"",
    ),
    (
        "to:x@y.dom error:550 4.7.1 no",
        "reply code 550 does not match enhanced status 4.7.1 (class 4)",
    ),
    ("to:x@y.dom error:250 2.0.0 fine", "reply code 250 is not an error"),
    ("to:x@y.dom error:55 5.7.1 x", "\"55\" is not a reply code"),
    ("to:x@y.dom error:570 5.7.1 x", "the second digit must be 0 to 5"),
    ("to:x@y.dom error:5.7.1:550 Go away", "sendmail 8's order"),
    ("to:x@y.dom error:\"550 Go away\"", "quoted sendmail 8 form"),
    ("to:x@y.dom error:550 5.7 x", "\"5.7\" is not an enhanced status code"),
    ("to:x@y.dom error:450 3.7.1 x", "the class must be 4 or 5"),
    ("to:x@y.dom error:550 5.7.1234 x", "subject and detail are 1 to 3 digits"),
    ("to:x@y.dom rejct", "did you mean \"reject\"?"),
    ("to:x@y.dom ok please", "unexpected text \"please\" after \"ok\""),
    ("to:x@y.dom quick:quick:ok", "\"quick:\" is given twice"),
    ("to:x@y.dom quick:", "\"quick:\" must be followed by"),
    ("to:x@y.dom", "missing right-hand side"),
    ("to:x@y.dom skip", "SKIP is written \"cont\""),
    ("to:x@y.dom 550", "a bare reply code \"550\" needs error:"),
    ("certissuer:/CN=Darth+Mail relay", "a literal '+' is written +2B"),
    ("certsubject:/CN=(x) relay", "write '(' as +28"),
    (
        "protectedrcpt:list1 frm:<a@b.dom>",
        "unknown restriction \"frm:<a@b.dom>\"; did you mean \"from:\"?",
    ),
    ("protectedrcpt:list1", "needs at least one restriction"),
    ("protectedrcpt:list1 from:<a@b.dom", "unbalanced angle brackets"),
    ("protectedrcpt:list1 cltaddr:10.0.0.0/8", "CIDR notation"),
    ("protectedrcpt:list1 relay", "unknown restriction \"relay\""),
    ("protectedrcpt:list1 list:<>", "list: needs an alias"),
];

#[test]
fn access_examples_validate() {
    for line in GOOD_ACCESS {
        assert_eq!(check(MapKind::Access, line), Ok(()), "{line}");
    }
}

#[test]
fn access_bad_lines() {
    for (line, want) in BAD_ACCESS {
        match check(MapKind::Access, line) {
            Ok(()) => panic!("accepted: {line}"),
            Err(got) => assert!(got.contains(want), "{line}\n  got:  {got}\n  want: {want}"),
        }
    }
}

#[test]
fn access_typed_forms() {
    assert_eq!(
        parse_access_rhs("cltname:", "quick:error:551 5.7.1 No mail from spammers"),
        Ok(AccessRhs {
            quick: true,
            action: AccessAction::Error {
                code: 551,
                status: "5.7.1".into(),
                text: "No mail from spammers".into(),
            },
        })
    );
    assert_eq!(
        parse_access_rhs("TO", "Quick:OK"),
        Ok(AccessRhs {
            quick: true,
            action: AccessAction::Ok
        })
    );
    assert_eq!(
        parse_access_rhs("to:", "reject").map(|r| r.action),
        Ok(AccessAction::Reject)
    );
    assert_eq!(
        parse_access_rhs("dnsbltld", "discard").map(|r| r.action),
        Ok(AccessAction::Discard)
    );
    assert!(parse_access_rhs("dnsbltld", "relay").is_err());
    assert!(parse_access_rhs("protectedrcpt:", "ok").is_err());
    assert_eq!(
        parse_access_rhs("from:", "error:450 4.2.0").map(|r| r.action),
        Ok(AccessAction::Error {
            code: 450,
            status: "4.2.0".into(),
            text: String::new(),
        })
    );

    let key = parse_access_key("CertSubject:/CN=DeathStar").unwrap();
    assert_eq!(key.tag, AccessTag::CertSubject);
    assert_eq!(key.pattern, "/CN=DeathStar");
    assert_eq!(
        parse_access_key("mail-abuse:temp").unwrap().tag,
        AccessTag::Dnsbl("mail-abuse".into())
    );
    assert_eq!(AccessTag::MxBadIp.name(), "mxbadip:");

    assert_eq!(
        parse_restrictions("from:<moderator3@local.dom> cltaddr:1.2.3.4 cltaddr:10 list:<l@x.dom> from:bare@x.dom from:<>"),
        Ok(vec![
            Restriction::From("moderator3@local.dom".into()),
            Restriction::CltAddr("1.2.3.4".into()),
            Restriction::CltAddr("10".into()),
            Restriction::List("l@x.dom".into()),
            Restriction::From("bare@x.dom".into()),
            Restriction::From(String::new()),
        ])
    );
}

#[test]
fn encode_dn_of_the_seed() {
    // §3.10 item 21, joined where the seed breaks the line after "CN=".
    assert_eq!(
        encode_dn(
            "/C=US/ST=California/O=endmail.org/OU=private/CN=Darth Mail (Cert)/emailAddress=darth+cert@endmail.org"
        ),
        "/C=US/ST=California/O=endmail.org/OU=private/CN=Darth+20Mail+20+28Cert+29/emailAddress=darth+2Bcert@endmail.org"
    );
    assert_eq!(encode_dn("<a>\"\t\u{7f}é"), "+3Ca+3E+22+09+7F+C3+A9");
    // What encode_dn writes is what a certissuer: key must hold.
    let key = format!("certissuer:{}", encode_dn("/CN=x <y> (z) \"q\" +"));
    assert_eq!(MapKind::Access.validate(&key, "relay"), Ok(()));
}

// ---------------------------------------------------------------- aliases

/// §3.9.2 item 3 (local_domains), §3.9.3, §3.10.2, §4.3.2 (the seed's
/// `$<$...$>$` is LaTeX for angle brackets), seed 000.
const GOOD_ALIASES: &[&str] = &[
    "vuser1@virt1.tld: user1",
    "vuser2@virt1.tld: user2",
    "vuser3@virt2.tld: user3",
    "myalias: localuser",
    "mylist: <user1@my.dom> <user2@my.dom> <localuser@local.host>",
    "owner-mylist: someuser",
    "myalias@first.dom: user1",
    "another@second.dom: user2",
    "list1: <user1-1@l1-1.dom> <user2-1@l1-1.dom> <list2@local.dom>",
    "list2: <user1-2@l2-1.dom> <user2-2@l2-2.dom>",
    "list3: <user1-3@l3-1.dom> <user2-3@l3-2.dom>",
    "postmaster: <user@host.domain>",
    "abuse: user+abuse",
    "user++: local:",
    "user: local:",
    // seed 000
    "un_alias      :      local:",
    "mes_amis : <jean@domain> <claudio@domain> <pierre@domain>",
    "mes_eleves : <marc@domain> <jean@domain>",
    "tous_labo : <jean@domain> <claudio@domain> <pierre@domain> <fabrice@domain>",
    // §3.12.3, which writes the entry without the colon (see below).
    "alias*@.domain:     user${extension}@${subdomain}.domain",
    // Beyond the seeds.
    "user+*: local:",
    "fwd: <${user}+${detail}@elsewhere.example>",
    "lit: <root@[10.1.2.3]>",
];

const BAD_ALIASES: &[(&str, &str)] = &[
    (
        "list: <a@b.dom>, <c@d.dom>",
        "addresses are separated by spaces, not commas",
    ),
    ("list: a@b.dom, c@d.dom", "not commas"),
    (
        "list: a@b.dom c@d.dom",
        "in a list every address needs angle brackets and a domain",
    ),
    ("list: <user>", "<user> has no domain"),
    (
        "prog: |/usr/bin/vacation",
        "delivery to programs (|command)",
    ),
    ("prog: \"|/usr/bin/vacation x\"", "delivery to programs"),
    ("file: /var/log/mail", "delivery to files (/path)"),
    (
        "inc: :include:/etc/mail/list",
        "delivery to :include: lists",
    ),
    ("x:", "missing right-hand side"),
    ("x: <a@b.dom> local:", "local: must stand alone"),
    ("x: <>", "empty address <> in an alias list"),
    ("x: <a@b.dom> <>", "empty address <>"),
    (
        "alias*@.domain: user${usr}@x.dom",
        "unknown macro ${usr}; did you mean ${user}?",
    ),
    ("x: user${user@x.dom", "unterminated macro"),
    ("<x>: y", "write it without angle brackets"),
    ("x: user@", "missing domain after '@'"),
    ("x: user@bad..dom", "empty label"),
    (
        "x: <a b@c.dom>",
        "in a list every address needs angle brackets",
    ),
    ("x@bad_dom: y", "'_' is not allowed"),
    ("myalias localuser", "missing ':' after \"myalias\""),
];

#[test]
fn aliases_examples_validate() {
    for line in GOOD_ALIASES {
        assert_eq!(check(MapKind::Aliases, line), Ok(()), "{line}");
    }
    // §3.12.3 as printed, without the colon: the kind accepts key and value.
    assert_eq!(
        MapKind::Aliases.validate("alias*@.domain", "user${extension}@${subdomain}.domain"),
        Ok(())
    );
}

#[test]
fn aliases_bad_lines() {
    for (line, want) in BAD_ALIASES {
        match check(MapKind::Aliases, line) {
            Ok(()) => panic!("accepted: {line}"),
            Err(got) => assert!(got.contains(want), "{line}\n  got:  {got}\n  want: {want}"),
        }
    }
}

#[test]
fn aliases_typed_forms() {
    assert_eq!(
        parse_alias_rhs("<user1@my.dom> <user2@my.dom>"),
        Ok(vec![
            AliasTarget::Address("user1@my.dom".into()),
            AliasTarget::Address("user2@my.dom".into()),
        ])
    );
    assert_eq!(
        parse_alias_rhs("localuser"),
        Ok(vec![AliasTarget::Local("localuser".into())])
    );
    assert_eq!(
        parse_alias_rhs("LOCAL:"),
        Ok(vec![AliasTarget::LocalDelivery])
    );
    assert_eq!(
        parse_alias_rhs("user${extension}@${subdomain}.domain"),
        Ok(vec![AliasTarget::Address(
            "user${extension}@${subdomain}.domain".into()
        )])
    );
}

// ------------------------------------------------------------ mailertable

/// §3.9.3, §3.9.3 (local_domains example), §4.3.1, seed 000.
const GOOD_MAILERTABLE: &[&str] = &[
    "localhost lmtp:",
    "SPAM.FILTER.DOMAIN 2525^esmtp:[127.0.0.1]",
    "LMTPHOST.MY.DOMAIN 525^lmtp:[10.11.12.13]",
    "MY.DOMAIN esmtp:[10.1.2.3]",
    "ANOTHER.DOMAIN esmtp:MTA.SERVER",
    ".TLD esmtp:GATE.WAY",
    ". esmtp:SMART.HOST",
    "first.dom lmtp:",
    "second.dom lmtp:",
    "MY.DOM lmtp:",
    "HOST.MY.DOM lmtp:",
    // seed 000
    "math.universite.fr          lmtp:",
    "math.universite.fr          2001^lmtp:[127.0.0.1]",
    "math.universite.fr          esmtp:[10.1.0.1]",
    "physique.universite.fr     esmtp:[10.2.0.1]",
    "ccr.universite.fr          2001^lmtp:[10.1.0.1]",
    "math.universite.fr        2001^lmtp:[10.2.0.1]",
    "physique.universite.fr    2001^lmtp:[10.3.0.1]",
    // Beyond the seeds: the grammar's optional parts.
    "example.com 2525^[127.0.0.1]",
    "example.com mx1.example.com mx2.example.com [10.0.0.1]",
    "example.com ESMTP:mx.example.com",
    "example.com esmtp: mx.example.com",
];

const BAD_MAILERTABLE: &[(&str, &str)] = &[
    (
        "example.com smtp:[10.1.2.3]",
        "unknown mailer \"smtp:\"; use esmtp:",
    ),
    (
        "example.com relay:mx.example.com",
        "use esmtp: (sendmail 8's relay: mailer)",
    ),
    ("example.com local:user", "for local delivery use lmtp:"),
    (
        "example.com error:5.1.1:550 no",
        "smx mailertables have no error: entries",
    ),
    (
        "example.com uucp:host",
        "smx knows the mailers esmtp: and lmtp:",
    ),
    ("example.com lmtp:[127.0.0.1]", "LMTP over TCP needs a port"),
    ("example.com 2001^lmtp:", "2001^lmtp: needs a host"),
    (
        "example.com 70000^esmtp:[10.1.2.3]",
        "port 70000 is out of range (1-65535)",
    ),
    ("example.com 0^esmtp:x.dom", "port 0 is out of range"),
    ("example.com x^esmtp:h.dom", "must be a port number"),
    (
        "example.com esmtp:[10.1.2.300]",
        "octet 300 is out of range (0-255)",
    ),
    (
        "example.com esmtp:[mx.example.com]",
        "brackets hold an IPv4 address",
    ),
    (
        "example.com esmtp:10.1.2.3",
        "put an IPv4 address in brackets: [10.1.2.3]",
    ),
    (
        "example.com esmtp:[10.1.2.3]:2525",
        "the port goes in front: 2525^esmtp:[10.1.2.3]",
    ),
    (
        "example.com esmtp:mx.example.com:2525",
        "the port goes in front",
    ),
    ("example.com esmtp:[10.1.2.3", "'[' without a closing ']'"),
    ("example.com esmtp:", "esmtp: needs at least one host"),
    (
        "example.com esmtp:mx1.dom,mx2.dom",
        "separated by spaces, not commas",
    ),
    ("example.com", "missing right-hand side"),
    ("bad_domain.com esmtp:x.dom", "'_' is not allowed"),
    ("example.com. esmtp:x.dom", "drop the trailing dot"),
    (
        "-bad.example.com esmtp:x.dom",
        "starts or ends with a hyphen",
    ),
    ("[10.1.2.3] esmtp:x.dom", "not address literals"),
];

#[test]
fn mailertable_examples_validate() {
    for line in GOOD_MAILERTABLE {
        assert_eq!(check(MapKind::Mailertable, line), Ok(()), "{line}");
    }
}

#[test]
fn mailertable_bad_lines() {
    for (line, want) in BAD_MAILERTABLE {
        match check(MapKind::Mailertable, line) {
            Ok(()) => panic!("accepted: {line}"),
            Err(got) => assert!(got.contains(want), "{line}\n  got:  {got}\n  want: {want}"),
        }
    }
}

#[test]
fn mailertable_typed_forms() {
    assert_eq!(parse_mailertable_rhs("lmtp:"), Ok(Route::LmtpLocal));
    assert_eq!(
        parse_mailertable_rhs("2001^lmtp:[127.0.0.1]"),
        Ok(Route::Lmtp {
            port: 2001,
            hosts: vec![Host::Ip(Ipv4Addr::new(127, 0, 0, 1))],
        })
    );
    assert_eq!(
        parse_mailertable_rhs("2525^esmtp:[127.0.0.1] backup.example"),
        Ok(Route::Esmtp {
            port: Some(2525),
            hosts: vec![
                Host::Ip(Ipv4Addr::new(127, 0, 0, 1)),
                Host::Name("backup.example".into()),
            ],
        })
    );
    assert_eq!(
        parse_mailertable_rhs("esmtp:SMART.HOST"),
        Ok(Route::Esmtp {
            port: None,
            hosts: vec![Host::Name("SMART.HOST".into())],
        })
    );
}

// -------------------------------------------------------------- qmgr_conf

/// §3.8.1.
const GOOD_QMGR_CONF: &[&str] = &[
    "oci:127.0.0.1      5",
    "ocm:127.0.0.1     10",
    "oci:10            10",
    "ocm:10            50",
    "oci:               1",
    "ocm:               4",
    // Beyond the seed: the other keys.
    "octo: 300",
    "octo: 5m",
    "icr:10.1 100",
    "icm: 20",
    "ICM:192.168.1.7 0",
];

const BAD_QMGR_CONF: &[(&str, &str)] = &[
    ("oci:10 many", "\"many\" is not a non-negative integer"),
    ("oci:10 -1", "\"-1\" is not a non-negative integer"),
    ("ocx:10 5", "unknown qmgr_conf key \"ocx:\"; did you mean"),
    ("octo:10 5", "octo: takes no IP address"),
    ("octo: 5x", "octo: \"5x\" is not a time"),
    ("octo: 1h30", "is not a time"),
    ("oci:10.1.0.0/17 5", "CIDR notation is not used in smx maps; write a net as its leading octets, e.g. \"10.1\" for 10.1.0.0/16"),
    ("icm:10", "missing value for icm:"),
    (
        "oci 5",
        "qmgr_conf key \"oci\" has no tag; did you mean \"oci:\"?",
    ),
    ("icr:999.1 5", "octet 999 is out of range"),
];

#[test]
fn qmgr_conf_examples_validate() {
    for line in GOOD_QMGR_CONF {
        assert_eq!(check(MapKind::QmgrConf, line), Ok(()), "{line}");
    }
}

#[test]
fn qmgr_conf_bad_lines() {
    for (line, want) in BAD_QMGR_CONF {
        match check(MapKind::QmgrConf, line) {
            Ok(()) => panic!("accepted: {line}"),
            Err(got) => assert!(got.contains(want), "{line}\n  got:  {got}\n  want: {want}"),
        }
    }
}

#[test]
fn qmgr_conf_typed_forms() {
    assert_eq!(
        parse_qmgr_conf("oci:127.0.0.1", "5"),
        Ok(QmgrConfEntry {
            key: QmgrConfKey::Oci,
            net: Some("127.0.0.1".into()),
            value: 5,
        })
    );
    assert_eq!(
        parse_qmgr_conf("ocm:", "4"),
        Ok(QmgrConfEntry {
            key: QmgrConfKey::Ocm,
            net: None,
            value: 4,
        })
    );
    assert_eq!(parse_qmgr_conf("octo:", "1h30m").map(|e| e.value), Ok(5400));
    assert_eq!(parse_qmgr_conf("octo:", "2d").map(|e| e.value), Ok(172_800));
}

// ------------------------------------------------------------------ kinds

#[test]
fn kind_names_and_separators() {
    for kind in MapKind::ALL {
        assert_eq!(MapKind::from_name(kind.name()), Some(kind));
    }
    assert_eq!(MapKind::from_name("MT"), Some(MapKind::Mailertable));
    assert_eq!(MapKind::from_name("virtual"), None);
    assert_eq!(
        MapKind::Aliases.separator(),
        smx_maps::source::Separator::Colon
    );
    assert_eq!(
        MapKind::Access.separator(),
        smx_maps::source::Separator::Whitespace
    );
    assert_eq!(MapKind::Plain.validate("anything", ""), Ok(()));
    assert_eq!(MapKind::Plain.validate("x", "<<< whatever >>>"), Ok(()));
}

#[test]
fn bad_line_count() {
    let bad = BAD_ACCESS.len() + BAD_ALIASES.len() + BAD_MAILERTABLE.len() + BAD_QMGR_CONF.len();
    assert!(bad >= 35, "{bad}");
}

//! Postfix conversions: the shipped main.cf/master.cf defaults and the
//! fixture sites (a university gateway, a null client) convert, pass the
//! smx.conf checker that `smxctl check` runs, account for every directive,
//! and verify without an open relay.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use smx_migrate::output::{self, OutputOptions};
use smx_migrate::postfix;
use smx_migrate::report::Outcome;
use std::path::{Path, PathBuf};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("smx-migrate-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn checked(m: &smx_migrate::Migration) -> String {
    let text = output::conf_text(&m.site, "test").unwrap();
    let c = smx_grammar::check_str("smx.conf", &text);
    assert!(c.is_ok(), "{text}");
    text
}

/// Non-comment, non-blank lines that start a directive (continuations
/// excluded), as Postfix reads them.
fn directive_lines(text: &str) -> usize {
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .filter(|l| !l.starts_with([' ', '\t']))
        .count()
}

#[test]
fn shipped_defaults_convert_and_account_for_every_directive() {
    let main = std::fs::read_to_string("/usr/share/postfix/main.cf.dist");
    let master = std::fs::read_to_string("/usr/share/postfix/master.cf.dist");
    let (Ok(main), Ok(master)) = (main, master) else {
        assert!(std::env::var_os("CI").is_none(), "postfix is not installed");
        println!("SKIP: postfix's main.cf.dist is not installed");
        return;
    };
    let dir = scratch("defaults-in");
    std::fs::create_dir_all(&dir).unwrap();
    let m = postfix::convert_text(&dir, &main, Some(&master), "mx.example.org");
    checked(&m);
    let main_items = m.report.from_file("main.cf").count();
    let master_services = m
        .report
        .from_file("master.cf")
        .filter(|i| !i.directive.starts_with("-o "))
        .count();
    assert_eq!(main_items, directive_lines(&main));
    assert_eq!(master_services, directive_lines(&master));
    let c = m.report.counts();
    assert_eq!(c.total, c.converted + c.approximated + c.not_convertible);
    // The default alias_maps source is not in the directory: reported.
    assert!(m.site.smtps.iter().any(|s| s.port == 25));
    let v = smx_migrate::verify::verify(&m);
    assert!(!v.open_relay(), "{}", v.human());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn university_gateway() {
    let m = postfix::convert(&fixture("postfix-gateway"), "unused.example").unwrap();
    let text = checked(&m);
    assert!(text.contains("hostname = \"mx1.uni.example\""));
    assert!(text.contains("smtps MSA"));
    assert!(text.contains("port = 587"));
    assert!(text.contains("max_message_size = 51200KB"));
    assert!(text.contains("dnsbl { domain = \"zen.spamhaus.org\"; tag = rbl1; }"));
    // `zone=PATTERN`: the answer addresses SMAR looks up as `tag:A.B.C.D`.
    assert!(text.contains("dnsbl { domain = \"dnsbl.example.org\"; tag = rbl3; }"));
    let rbl: Vec<&str> = m
        .site
        .access
        .iter()
        .filter(|e| e.key.starts_with("rbl3:"))
        .map(|e| e.key.as_str())
        .collect();
    assert_eq!(
        rbl,
        ["rbl3:127.0.0.2", "rbl3:127.0.0.10", "rbl3:127.0.0.11"]
    );
    assert!(text.contains("cert_file = \"/etc/ssl/certs/mx1.pem\""));
    let route = |k: &str| {
        m.site
            .mailertable
            .iter()
            .find(|e| e.key == k)
            .map(|e| e.value.clone())
    };
    assert_eq!(
        route("cs.uni.example").as_deref(),
        Some("esmtp:[10.20.1.25]")
    );
    assert_eq!(
        route("physics.uni.example").as_deref(),
        Some("2525^esmtp:[10.20.2.25]")
    );
    assert_eq!(
        route("lists.uni.example").as_deref(),
        Some("24^lmtp:[10.20.3.4]")
    );
    assert_eq!(route("mx1.uni.example").as_deref(), Some("lmtp:"));
    let access = |k: &str| {
        m.site
            .access
            .iter()
            .find(|e| e.key == k)
            .map(|e| e.value.clone())
    };
    assert_eq!(access("cltaddr:10.20").as_deref(), Some("relay"));
    assert_eq!(access("to:@.uni.example").as_deref(), Some("relay"));
    assert_eq!(
        access("cltaddr:203.0.113").as_deref(),
        Some("error:554 5.7.1 Go away")
    );
    assert_eq!(
        access("from:@spammer.example").as_deref(),
        Some("error:554 5.7.1 Access denied")
    );
    let alias = |k: &str| {
        m.site
            .aliases
            .iter()
            .find(|e| e.key == k)
            .map(|e| e.value.clone())
    };
    assert_eq!(
        alias("info@uni.example").as_deref(),
        Some("<office@cs.uni.example> <dean@uni.example>")
    );
    // /26 expands to the 64 host keys of its last octet.
    assert_eq!(
        m.site
            .access
            .iter()
            .filter(|e| e.key.starts_with("cltaddr:192.0.2."))
            .count(),
        64
    );
    // Every directive accounted for, with these outcomes.
    let c = m.report.counts();
    assert_eq!(
        (c.total, c.converted, c.approximated, c.not_convertible),
        (59, 38, 15, 6)
    );
    let nc: Vec<&str> = m
        .report
        .items
        .iter()
        .filter(|i| matches!(i.outcome, Outcome::NotConvertible { .. }))
        .map(|i| i.directive.as_str())
        .collect();
    assert!(nc.iter().any(|d| d.starts_with("header_checks")));
    assert!(nc.iter().any(|d| d.starts_with("smtpd_milters")));
    assert!(nc.iter().any(|d| d.starts_with("archive:")));
    assert!(nc.iter().any(|d| d.contains("majordomo")));
    assert!(nc.iter().any(|d| d.starts_with("old.uni.example")));
    let v = smx_migrate::verify::verify(&m);
    assert!(v.differences.is_empty(), "{}", v.human());
    assert!(v.relay_samples > 100);
}

#[test]
fn null_client() {
    let m = postfix::convert(&fixture("postfix-nullclient"), "unused").unwrap();
    let text = checked(&m);
    assert!(text.contains("address = 127.0.0.1"), "{text}");
    assert_eq!(m.site.mailertable.len(), 1);
    assert_eq!(m.site.mailertable[0].key, ".");
    assert_eq!(m.site.mailertable[0].value, "esmtp:[192.0.2.10]");
    let c = m.report.counts();
    assert_eq!(c.total, 6);
    let v = smx_migrate::verify::verify(&m);
    assert!(v.differences.is_empty(), "{}", v.human());
}

#[test]
fn writes_maps_refuses_overwrite_and_input_dir() {
    let m = postfix::convert(&fixture("postfix-gateway"), "unused").unwrap();
    let out = scratch("gw-out");
    let opts = OutputOptions {
        out: out.clone(),
        force: false,
        dry_run: true,
        inputs: m.inputs.clone(),
    };
    let mut report = m.report.clone();
    output::write_site(&m.site, "t", &mut report, &opts).unwrap();
    assert!(!out.exists(), "dry run wrote something");
    let opts = OutputOptions {
        dry_run: false,
        ..opts
    };
    output::write_site(&m.site, "t", &mut report, &opts).unwrap();
    for f in [
        "smx.conf",
        "mt",
        "access",
        "access.db",
        "aliases",
        "aliases.db",
        "report.txt",
        "report.json",
    ] {
        assert!(out.join(f).exists(), "{f} missing");
    }
    let conf = smx_grammar::check_file(&out.join("smx.conf")).unwrap();
    assert!(conf.is_ok());
    // The compiled access map answers like the source.
    let db = createmap::open(&out.join("access"), smx_maps::db::DbType::Hash).unwrap();
    assert_eq!(
        createmap::query(&db, "cltaddr:10.20", false)
            .unwrap()
            .as_deref(),
        Some("relay")
    );
    let again = output::write_site(&m.site, "t", &mut report, &opts).unwrap_err();
    assert_eq!(again.exit_code(), 73);
    let forced = OutputOptions {
        force: true,
        ..opts.clone()
    };
    output::write_site(&m.site, "t", &mut report, &forced).unwrap();
    let inside = OutputOptions {
        out: fixture("postfix-gateway").join("out"),
        ..forced
    };
    let e = output::write_site(&m.site, "t", &mut report, &inside).unwrap_err();
    assert_eq!(e.exit_code(), 64);
    assert!(!fixture("postfix-gateway").join("out").exists());
    std::fs::remove_dir_all(&out).unwrap();
}

//! sendmail conversions: the departmental relay fixture, and Debian's
//! sendmail.mc and every .mc of the sendmail-cf package (tree in
//! SMX_SENDMAIL_CF, see get-sendmail-cf.sh): each converts, passes the
//! smx.conf checker of `smxctl check`, and the report accounts for every
//! m4 call read.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use smx_migrate::report::Outcome;
use smx_migrate::sendmail::{self, m4, Input};
use std::path::{Path, PathBuf};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn check(m: &smx_migrate::Migration) {
    let text = smx_migrate::output::conf_text(&m.site, "t").unwrap();
    assert!(smx_grammar::check_str("smx.conf", &text).is_ok(), "{text}");
}

#[test]
fn departmental_relay() {
    let dir = fixture("sendmail-dept");
    let input = Input {
        mc: dir.join("sendmail.mc"),
        cf: None,
        etc: None,
        cf_dir: None,
    };
    let m = sendmail::convert(&input, "relay.chem.example").unwrap();
    check(&m);
    let mc = std::fs::read_to_string(dir.join("sendmail.mc")).unwrap();
    assert_eq!(
        m.report.from_file("sendmail.mc").count(),
        m4::calls(&mc).len()
    );
    let get = |l: &[smx_migrate::site::Entry], k: &str| {
        l.iter().find(|e| e.key == k).map(|e| e.value.clone())
    };
    assert_eq!(
        get(&m.site.mailertable, ".").as_deref(),
        Some("esmtp:[192.0.2.10]")
    );
    assert_eq!(
        get(&m.site.mailertable, "chem.example").as_deref(),
        Some("lmtp:")
    );
    assert_eq!(
        get(&m.site.mailertable, "lab.chem.example").as_deref(),
        Some("esmtp:[10.5.0.7]")
    );
    assert_eq!(
        get(&m.site.access, "cltaddr:10.5").as_deref(),
        Some("relay")
    );
    assert_eq!(
        get(&m.site.access, "from:@spammer.example").as_deref(),
        Some("error:550 5.7.1 No spam here")
    );
    assert_eq!(
        get(&m.site.aliases, "@events.chem.example").as_deref(),
        Some("<${user}@lists.chem.example>")
    );
    assert_eq!(
        get(&m.site.aliases, "staff").as_deref(),
        Some("<alice@${domain}> <bob@${domain}>")
    );
    let c = m.report.counts();
    assert_eq!(c.total, c.converted + c.approximated + c.not_convertible);
    assert_eq!(
        (c.total, c.not_convertible),
        (34, 5),
        "{}",
        m.report.human()
    );
    let v = smx_migrate::verify::verify(&m);
    assert!(!v.open_relay(), "{}", v.human());
}

#[test]
fn every_shipped_mc() {
    let Some(tree) = std::env::var_os("SMX_SENDMAIL_CF") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "SMX_SENDMAIL_CF is not set (tests/get-sendmail-cf.sh)"
        );
        println!("SKIP: SMX_SENDMAIL_CF is not set");
        return;
    };
    let tree = PathBuf::from(tree);
    let mut mcs: Vec<PathBuf> = Vec::new();
    for sub in ["cf", "debian"] {
        for e in std::fs::read_dir(tree.join(sub)).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "mc") {
                mcs.push(p);
            }
        }
    }
    assert!(mcs.len() >= 30, "{} .mc files", mcs.len());
    for mc in &mcs {
        let input = Input {
            mc: mc.clone(),
            cf: None,
            etc: Some(std::env::temp_dir().join("smx-migrate-no-maps")),
            cf_dir: Some(tree.clone()),
        };
        let m = sendmail::convert(&input, "mx.example.org").unwrap();
        check(&m);
        let text = String::from_utf8_lossy(&std::fs::read(mc).unwrap()).into_owned();
        let name = mc.file_name().unwrap().to_string_lossy().into_owned();
        assert_eq!(
            m.report.from_file(&name).count(),
            m4::calls(&text).len(),
            "{name}"
        );
        let c = m.report.counts();
        assert_eq!(c.total, c.converted + c.approximated + c.not_convertible);
        assert!(!smx_migrate::verify::verify(&m).open_relay(), "{name}");
    }
}

fn cf_site() -> smx_migrate::Migration {
    let dir = fixture("sendmail-cfsite");
    let input = Input {
        mc: dir.join("sendmail.mc"),
        cf: Some(dir.join("sendmail.cf")),
        etc: None,
        cf_dir: None,
    };
    sendmail::convert(&input, "mx.campus.example").unwrap()
}

fn value(l: &[smx_migrate::site::Entry], k: &str) -> Option<String> {
    l.iter().find(|e| e.key == k).map(|e| e.value.clone())
}

fn item<'a>(
    m: &'a smx_migrate::Migration,
    file: &str,
    line: usize,
) -> &'a smx_migrate::report::Item {
    m.report
        .items
        .iter()
        .find(|i| i.file == file && i.line == line)
        .unwrap_or_else(|| panic!("no report item {file}:{line}\n{}", m.report.human()))
}

#[test]
fn relay_entire_domain_relays_to_and_for_the_domain_of_the_host() {
    let m = cf_site();
    check(&m);
    for k in [
        "to:@campus.example",
        "to:@.campus.example",
        "cltname:campus.example",
        "cltname:.campus.example",
    ] {
        assert_eq!(value(&m.site.access, k).as_deref(), Some("relay"), "{k}");
    }
    let i = item(&m, "sendmail.mc", 7);
    assert!(matches!(i.outcome, Outcome::Approximated { .. }), "{i:?}");
    assert!(m.policy.rcpt_accepted("u@dept.campus.example"));
    assert!(!m.policy.rcpt_accepted("u@other.example"));
    let v = smx_migrate::verify::verify(&m);
    assert!(!v.open_relay(), "{}", v.human());
}

#[test]
fn relay_entire_domain_refuses_a_top_level_domain() {
    let dir = fixture("sendmail-cfsite");
    let input = Input {
        mc: dir.join("sendmail.mc"),
        cf: None,
        etc: None,
        cf_dir: None,
    };
    let m = sendmail::convert(&input, "mx.example").unwrap();
    assert!(value(&m.site.access, "to:@.example").is_none());
    assert!(matches!(
        item(&m, "sendmail.mc", 7).outcome,
        Outcome::NotConvertible { .. }
    ));
}

#[test]
fn greet_pause_is_approximated_by_the_early_talker_check() {
    let m = cf_site();
    match &item(&m, "sendmail.mc", 8).outcome {
        Outcome::Approximated { how, .. } => {
            assert!(how.contains("700 ms"), "{how}");
            assert!(how.contains("554 5.5.0"), "{how}");
        }
        o => panic!("{o:?}"),
    }
}

#[test]
fn the_cf_overrides_the_mc() {
    let m = cf_site();
    check(&m);
    // DS replaces SMART_HOST.
    assert_eq!(
        value(&m.site.mailertable, ".").as_deref(),
        Some("esmtp:[192.0.2.20]")
    );
    let ds = item(&m, "sendmail.cf", 5);
    match &ds.outcome {
        Outcome::Approximated { how, .. } => assert!(how.contains("sendmail.mc:4"), "{how}"),
        o => panic!("{o:?}"),
    }
    // Fw: the class file read from the map directory.
    assert_eq!(
        value(&m.site.mailertable, "campus.example").as_deref(),
        Some("lmtp:")
    );
    // Kaccess: the access map is read although the .mc has no access_db.
    assert_eq!(
        value(&m.site.access, "cltaddr:10.1").as_deref(),
        Some("relay")
    );
    // Options: the .cf values win.
    let conf = smx_migrate::output::conf_text(&m.site, "t").unwrap();
    let size = smx_migrate::common::size_kb(30_000_000);
    assert!(
        conf.contains(&format!("max_message_size = {size};")),
        "{conf}"
    );
    assert!(
        !conf.contains(&smx_migrate::common::size_kb(10_000_000)),
        "{conf}"
    );
    assert!(
        conf.contains("max_recipients_per_transaction = 50;"),
        "{conf}"
    );
    assert!(conf.contains("max_hops = 40;"), "{conf}");
    let ret = smx_migrate::common::seconds("3d", 'm').unwrap();
    let warn = smx_migrate::common::seconds("2h", 'm').unwrap();
    assert!(
        conf.contains(&format!("queue_return_timeout = {ret};")),
        "{conf}"
    );
    assert!(
        conf.contains(&format!("queue_delay_timeout = {warn};")),
        "{conf}"
    );
    // DaemonPortOptions: the servers of the .cf, not those of the .mc.
    let ports: Vec<(Option<&str>, u16)> = m
        .site
        .smtps
        .iter()
        .map(|s| (s.name.as_deref(), s.port))
        .collect();
    assert_eq!(ports, vec![(Some("MTA"), 25), (Some("MSA"), 587)]);
    // Every .cf line read is in the report; empty DM/DR/DH and rules are not.
    let lines: Vec<usize> = m.report.from_file("sendmail.cf").map(|i| i.line).collect();
    assert_eq!(lines, vec![3, 4, 5, 9, 10, 11, 12, 13, 14, 15, 16, 17]);
    let c = m.report.counts();
    assert_eq!(c.total, c.converted + c.approximated + c.not_convertible);
}

#[test]
fn dnsbl_entries_are_the_keys_smar_looks_up() {
    use smx_maps::Map as _;
    let m = cf_site();
    let out = tempdir("dnsbl");
    let mut report = m.report.clone();
    smx_migrate::output::write_site(
        &m.site,
        "t",
        &mut report,
        &smx_migrate::output::OutputOptions {
            out: out.clone(),
            force: true,
            dry_run: false,
            inputs: vec![],
        },
    )
    .unwrap();
    let conf = std::fs::read_to_string(out.join("smx.conf")).unwrap();
    let checked = smx_grammar::check_str("smx.conf", &conf);
    let config = checked.config.unwrap();
    let lists = &config.global.smar.dnsbl;
    assert_eq!(lists.len(), 1, "{conf}");
    // SMAR (smar/dnsbl.rs) looks up `tag:W.X.Y.Z` for each answer, the
    // tag lower-cased.
    let tag = lists[0].conf.tag.clone().unwrap().to_ascii_lowercase();
    assert_eq!(lists[0].conf.domain.as_deref(), Some("bl.example.net"));
    let map =
        smx_maps::dbmap::DbMap::open(&out.join("access.db"), smx_maps::db::DbType::Hash).unwrap();
    for answer in ["127.0.0.2", "127.0.0.11"] {
        let l = smx_maps::lookup::probe(&map, &format!("{tag}:"), [answer]).unwrap();
        let v = l
            .value()
            .unwrap_or_else(|| panic!("{tag}:{answer} not in access.db"));
        let rhs = smx_maps::kind::parse_access_rhs(&format!("{tag}:"), v).unwrap();
        assert!(
            matches!(
                rhs.action,
                smx_maps::kind::AccessAction::Error { code: 550, .. }
            ),
            "{v}"
        );
    }
    // enhdnsbl with return values: only those; `t`: temporary failures too.
    assert!(map.get(&format!("{tag}:127.0.0.1")).unwrap().is_none());
    assert!(map.get(&format!("{tag}:127.0.0.3")).unwrap().is_none());
    let l = smx_maps::lookup::probe(&map, &format!("{tag}:"), ["temp"]).unwrap();
    let rhs = smx_maps::kind::parse_access_rhs(&format!("{tag}:"), l.value().unwrap()).unwrap();
    assert!(matches!(
        rhs.action,
        smx_maps::kind::AccessAction::Error { code: 451, .. }
    ));
    std::fs::remove_dir_all(&out).unwrap();
}

fn tempdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("smx-migrate-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

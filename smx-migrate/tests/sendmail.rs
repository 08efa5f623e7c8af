//! sendmail conversions: the departmental relay fixture, and Debian's
//! sendmail.mc and every .mc of the sendmail-cf package (tree in
//! SMX_SENDMAIL_CF, see get-sendmail-cf.sh): each converts, passes the
//! smx.conf checker of `smxctl check`, and the report accounts for every
//! m4 call read.
#![allow(clippy::unwrap_used, clippy::expect_used)]

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

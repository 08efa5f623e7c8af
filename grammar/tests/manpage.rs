//! smx.conf(5) is generated from the schema: the committed page is current,
//! it documents exactly the options of the schema, its examples are clean
//! configurations, and mandoc finds nothing to complain about.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use smx_grammar::config::build::Section;
use smx_grammar::config::common::ServiceConf;
use smx_grammar::manpage::{
    smx_conf_5, GLOBAL_HEADING, PROGRAMS_HEADING, PROGRAM_KEYWORD, SECTIONS_HEADING,
};
use smx_grammar::schema::{SectionSpec, ALIASES};
use smx_grammar::Config;
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;

const REGENERATE: &str = "cargo run -q -p smx-grammar --example gen-man > man/smx.conf.5";

fn committed_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../man/smx.conf.5")
}

#[test]
fn committed_page_is_current() {
    let path = committed_path();
    let committed = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read man/smx.conf.5 ({e}); generate it from the workspace root with:\n  {REGENERATE}"
        )
    });
    let generated = smx_conf_5();
    if committed != generated {
        let first = committed
            .lines()
            .zip(generated.lines())
            .position(|(a, b)| a != b)
            .map_or_else(
                || "the files differ in length".to_string(),
                |i| format!("first difference at line {}", i + 1),
            );
        panic!(
            "man/smx.conf.5 is out of date with the schema ({first}); regenerate it \
             from the workspace root with:\n  {REGENERATE}"
        );
    }
}

/// Every (heading, option) pair the schema defines, headings written as the
/// page writes them. Built here independently of the generator.
fn schema_options() -> BTreeSet<(String, String)> {
    fn seg(spec: &SectionSpec) -> String {
        use smx_grammar::schema::Naming;
        match spec.naming {
            Naming::None => spec.keyword.to_string(),
            Naming::Optional => format!("{} [NAME]", spec.keyword),
            Naming::Required => format!("{} NAME", spec.keyword),
        }
    }
    fn walk(spec: &SectionSpec, path: &mut Vec<String>, out: &mut BTreeSet<(String, String)>) {
        let heading = {
            let mut h = path.join(" { ");
            h.push_str(&" }".repeat(path.len().saturating_sub(1)));
            h
        };
        for o in spec.options() {
            out.insert((heading.clone(), o.name.to_string()));
        }
        for s in spec.sections() {
            path.push(seg(s.spec));
            walk(s.spec, path, out);
            path.pop();
        }
    }
    let mut out = BTreeSet::new();
    let top = Config::spec();
    for o in top.options() {
        out.insert((GLOBAL_HEADING.to_string(), o.name.to_string()));
    }
    for s in top.sections() {
        walk(s.spec, &mut vec![seg(s.spec)], &mut out);
    }
    walk(
        ServiceConf::spec(),
        &mut vec![PROGRAM_KEYWORD.to_string()],
        &mut out,
    );
    assert!(out.len() > 100, "the schema walk found too few options");
    out
}

/// Reads a macro argument back: unquotes and undoes the escapes we use.
fn unroff(s: &str) -> String {
    s.trim()
        .trim_matches('"')
        .replace("\\(dq", "\"")
        .replace("\\e", "\\")
}

/// Every (heading, option) pair the page documents: `.TP` followed by
/// `.B name`, under the option chapters, keyed by the `.SS` above it.
fn page_options(page: &str) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    let mut chapter = String::new();
    let mut sub: Option<String> = None;
    let lines: Vec<&str> = page.lines().collect();
    for (i, l) in lines.iter().enumerate() {
        if let Some(h) = l.strip_prefix(".SH ") {
            chapter = unroff(h);
            sub = None;
        } else if let Some(h) = l.strip_prefix(".SS ") {
            sub = Some(unroff(h));
        } else if *l == ".TP" {
            let in_options =
                [GLOBAL_HEADING, SECTIONS_HEADING, PROGRAMS_HEADING].contains(&chapter.as_str());
            if !in_options {
                continue;
            }
            let next = lines.get(i + 1).copied().unwrap_or_default();
            let name = next
                .strip_prefix(".B ")
                .unwrap_or_else(|| panic!("line {}: `.TP` not followed by `.B name`", i + 2));
            let heading = sub.clone().unwrap_or_else(|| chapter.clone());
            out.insert((heading, unroff(name)));
        }
    }
    out
}

#[test]
fn page_documents_exactly_the_schema() {
    let page = smx_conf_5();
    let schema = schema_options();
    let documented = page_options(&page);
    let missing: Vec<_> = schema.difference(&documented).collect();
    let extra: Vec<_> = documented.difference(&schema).collect();
    assert!(
        missing.is_empty(),
        "options of the schema missing from smx.conf(5), as (section, option): {missing:#?}"
    );
    assert!(
        extra.is_empty(),
        "options in smx.conf(5) that the schema does not have, as (section, option): {extra:#?}"
    );
}

#[test]
fn page_mentions_special_sections_and_aliases() {
    let page = smx_conf_5();
    for needle in [
        ".SS \"smar { map NAME }\"",
        ".SS \"smar { dnsbl }\"",
        ".SS \"smtps [NAME]\"",
        ".SS PROGRAM",
        "start_action, path and arguments",
        "relative to the",
        ".SH EXAMPLES",
        ".BR smxctl (8),",
        ".BR smxd (8),",
        ".BR createmap (8),",
    ] {
        assert!(page.contains(needle), "smx.conf(5) lacks `{needle}`");
    }
    for (keyword, written, canonical) in ALIASES {
        assert!(
            page.contains(&format!(".B {written}\n")) && page.contains(canonical),
            "alias {written} of {keyword} is not documented"
        );
        let sec = Config::spec()
            .section(keyword)
            .unwrap_or_else(|| panic!("alias section {keyword} is not in the schema"));
        assert!(
            sec.spec.names().any(|n| n.eq_ignore_ascii_case(canonical)),
            "alias {written} names {canonical}, which {keyword} does not have"
        );
    }
}

#[test]
fn examples_are_clean_configurations() {
    let page = smx_conf_5();
    let examples = page.split(".SH EXAMPLES").nth(1).expect("EXAMPLES section");
    let examples = examples.split(".SH ").next().unwrap_or_default();
    let mut found = 0;
    for block in examples.split(".EX\n").skip(1) {
        let body = block.split(".EE\n").next().unwrap_or_default();
        let text: String = body
            .lines()
            .map(|l| {
                let l = l.strip_prefix("\\&").unwrap_or(l);
                format!("{}\n", l.replace("\\e", "\\"))
            })
            .collect();
        let checked = smx_grammar::check_str("example", &text);
        assert!(
            checked.is_clean(),
            "an example of smx.conf(5) is not clean: {:#?}\n{text}",
            checked.diagnostics
        );
        found += 1;
    }
    assert!(found >= 1, "no example found");
}

#[test]
fn mandoc_lint_is_clean() {
    let path = committed_path();
    let out = match Command::new("mandoc")
        .args(["-Tlint", "-W", "warning"])
        .arg(&path)
        .output()
    {
        Ok(out) => out,
        Err(e) => {
            if std::env::var_os("CI").is_some() {
                panic!("mandoc is needed in CI to lint man/smx.conf.5: {e}");
            }
            eprintln!("skipped: mandoc not found ({e}); install it to lint man/smx.conf.5");
            return;
        }
    };
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && report.trim().is_empty(),
        "mandoc -Tlint -W warning man/smx.conf.5 reports:\n{report}"
    );
}

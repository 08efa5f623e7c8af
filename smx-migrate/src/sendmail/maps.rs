//! The sendmail 8 maps (seed 001, cf/README): access (`Connect:`, `From:`,
//! `To:`, `Spam:` tags; OK RELAY REJECT DISCARD SKIP ERROR:D.S.N:code text),
//! mailertable, virtusertable (to smx aliases, `%1 %2 %3` to `${user}
//! ${detail} ${extension}`), aliases and local-host-names, read from the
//! map directory by file name and converted line by line.

use crate::common::{alias_target, alias_target_advice, ipv4_net_keys, split_list, table_lines};
use crate::policy::{domain_probe, old_domain_lookup, Check, MapName};
use crate::Migration;
use std::path::Path;

fn text(dir: &Path, name: &str) -> Option<String> {
    std::fs::read(dir.join(name))
        .ok()
        .map(|b| String::from_utf8_lossy(&b).into_owned())
}

/// Reads every map the features name.
pub fn read_all(m: &mut Migration, dir: &Path, features: &[String]) {
    let has = |f: &str| features.iter().any(|x| x == f);
    if has("use_cw_file") {
        if let Some(t) = text(dir, "local-host-names") {
            for l in table_lines(&t, false) {
                let o = super::local_domain(m, &l.key, &format!("local-host-names:{}", l.line));
                m.report.add("local-host-names", l.line, &l.key, o);
            }
        }
    }
    if has("access_db") {
        if let Some(t) = text(dir, "access") {
            access(m, &t);
        }
    }
    if has("mailertable") {
        if let Some(t) = text(dir, "mailertable") {
            mailertable(m, &t);
        }
    }
    if has("virtusertable") {
        if let Some(t) = text(dir, "virtusertable") {
            virtusertable(m, &t);
        }
    }
    if let Some(t) = text(dir, "aliases") {
        aliases(m, &t);
    }
}

fn action(v: &str, tag: &str) -> Result<String, String> {
    let v = v.trim();
    let up = v.to_ascii_uppercase();
    match up.as_str() {
        "OK" => Ok("ok".into()),
        "RELAY" if tag == "to" || tag == "cltaddr" || tag == "cltname" => Ok("relay".into()),
        "RELAY" => Ok("ok".into()),
        "REJECT" => Ok("error:550 5.7.1 Access denied".into()),
        "DISCARD" => Ok("discard".into()),
        "SKIP" => Ok("cont".into()),
        _ => {
            let rest = v
                .get(6..)
                .filter(|_| up.starts_with("ERROR:"))
                .ok_or_else(|| format!("action {v} has no smx equivalent"))?;
            let (dsn, rest) = match rest.split_once(':') {
                Some((d, r)) if d.contains('.') => (Some(d.to_string()), r),
                _ => (None, rest),
            };
            let (code, text) = rest.trim().split_once(' ').unwrap_or((rest.trim(), ""));
            // `get`: the code may start with a multi-byte character.
            let dsn = dsn.unwrap_or_else(|| format!("{}.7.1", code.get(..1).unwrap_or("")));
            Ok(format!("error:{code} {dsn} {}", text.trim())
                .trim_end()
                .to_string())
        }
    }
}

fn access(m: &mut Migration, t: &str) {
    for l in table_lines(t, false) {
        let o = format!("access:{}", l.line);
        let d = format!("{} {}", l.key, l.value);
        let (tag, pat) = match l.key.split_once(':') {
            Some((t, p)) if !t.contains('.') && !t.contains('@') => {
                (t.to_ascii_lowercase(), p.to_string())
            }
            _ => (String::new(), l.key.clone()),
        };
        let is_ip = pat.chars().all(|c| c.is_ascii_digit() || c == '.');
        let smx_tag = match (tag.as_str(), is_ip) {
            ("connect", true) | ("", true) => "cltaddr",
            ("connect", false) => "cltname",
            ("from", _) => "from",
            ("to", _) => "to",
            ("", false) if l.value.eq_ignore_ascii_case("RELAY") => "to",
            ("", false) => "from",
            ("spam", _) => {
                m.report.not_convertible(
                    "access",
                    l.line,
                    &d,
                    "smx has no spam-friend/hater checks",
                    "nothing until smx has them",
                );
                continue;
            }
            _ => {
                m.report.not_convertible(
                    "access",
                    l.line,
                    &d,
                    format!("tag {tag}: has no smx equivalent"),
                    "check the entry by hand",
                );
                continue;
            }
        };
        let rhs = match action(&l.value, smx_tag) {
            Ok(r) => r,
            Err(e) => {
                m.report
                    .not_convertible("access", l.line, &d, e, "convert the entry by hand");
                continue;
            }
        };
        let keys: Vec<String> = match smx_tag {
            "cltaddr" => match ipv4_net_keys(&pat) {
                Ok(k) => k,
                Err(e) => {
                    m.report
                        .not_convertible("access", l.line, &d, e, "IPv4 only");
                    continue;
                }
            },
            "cltname" => vec![pat.to_lowercase(), format!(".{}", pat.to_lowercase())],
            _ if pat.contains('@') && !pat.ends_with('@') => vec![pat.to_lowercase()],
            _ if pat.ends_with('@') => {
                m.report.not_convertible(
                    "access",
                    l.line,
                    &d,
                    "smx cannot match user@ in every domain",
                    "list the addresses with their domains",
                );
                continue;
            }
            _ => vec![
                format!("@{}", pat.to_lowercase()),
                format!("@.{}", pat.to_lowercase()),
            ],
        };
        let mut err = None;
        for k in &keys {
            if let Err(e) = m.site.add_access(&format!("{smx_tag}:{k}"), &rhs, &o) {
                err = Some(e);
            }
            m.checks.push(Check {
                map: MapName::Access,
                tag: Some(smx_tag.into()),
                item: probe(smx_tag, k),
                expected: Some(rhs.clone()),
                origin: o.clone(),
            });
        }
        if rhs == "relay" {
            if smx_tag == "to" {
                m.policy.domains.push((pat.to_lowercase(), true));
            } else if smx_tag == "cltaddr" {
                let mut p: Vec<&str> = pat.split('.').collect();
                let len = (p.len() * 8) as u32;
                while p.len() < 4 {
                    p.push("0");
                }
                if let Ok(ip) = p.join(".").parse() {
                    m.policy.networks.push((ip, len));
                }
            }
        }
        match err {
            Some(e) => m
                .report
                .not_convertible("access", l.line, &d, e, "convert by hand"),
            None => m.report.converted(
                "access",
                l.line,
                &d,
                keys.iter()
                    .map(|k| format!("{smx_tag}:{k} {rhs}"))
                    .collect::<Vec<_>>()
                    .join(", "),
            ),
        }
    }
}

fn probe(tag: &str, k: &str) -> String {
    match tag {
        "cltaddr" => {
            let mut p: Vec<&str> = k.split('.').collect();
            while p.len() < 4 {
                p.push("9");
            }
            p.join(".")
        }
        "cltname" => domain_probe(k),
        _ => match k.strip_prefix("@.") {
            Some(d) => format!("x@sub.{d}"),
            None => match k.strip_prefix('@') {
                Some(d) => format!("x@{d}"),
                None => k.to_string(),
            },
        },
    }
}

fn mailertable(m: &mut Migration, t: &str) {
    let mut old = Vec::new();
    let mut probes = Vec::new();
    for l in table_lines(t, false) {
        let o = format!("mailertable:{}", l.line);
        let d = format!("{} {}", l.key, l.value);
        let (mailer, host) = l.value.split_once(':').unwrap_or((l.value.as_str(), ""));
        let route = match mailer {
            "esmtp" | "smtp" | "relay" | "smtp8" | "dsmtp" => {
                let h = host.trim_matches(|c| c == '[' || c == ']');
                if h.parse::<std::net::Ipv4Addr>().is_ok() {
                    format!("esmtp:[{h}]")
                } else {
                    format!("esmtp:{h}")
                }
            }
            "local" | "lmtp" => "lmtp:".to_string(),
            "error" => {
                m.report.not_convertible(
                    "mailertable",
                    l.line,
                    &d,
                    "smx mailertables have no error: entries",
                    "refuse the domain with a to:@domain error: access entry",
                );
                continue;
            }
            x => {
                m.report.not_convertible(
                    "mailertable",
                    l.line,
                    &d,
                    format!("mailer {x} has no smx equivalent"),
                    "route to an SMTP or LMTP host",
                );
                continue;
            }
        };
        match m.site.add_route(&l.key, &route, &o) {
            Ok(()) => {
                old.push((l.key.to_lowercase(), Some(route.clone())));
                probes.push((
                    if l.key == "." {
                        "example.net".into()
                    } else {
                        domain_probe(&l.key)
                    },
                    o,
                ));
                m.report.converted(
                    "mailertable",
                    l.line,
                    &d,
                    format!("mailertable: {} {route}", l.key),
                );
            }
            Err(e) => m
                .report
                .not_convertible("mailertable", l.line, &d, e, "convert by hand"),
        }
    }
    for (item, o) in probes {
        let expected = old_domain_lookup(&old, &item, ".").cloned().flatten();
        m.checks.push(Check {
            map: MapName::Mailertable,
            tag: None,
            item,
            expected,
            origin: o,
        });
    }
}

fn virtusertable(m: &mut Migration, t: &str) {
    for l in table_lines(t, false) {
        let d = format!("{} {}", l.key, l.value);
        let o = format!("virtusertable:{}", l.line);
        if l.value.to_ascii_lowercase().starts_with("error:") {
            m.report.not_convertible(
                "virtusertable",
                l.line,
                &d,
                "smx aliases have no error: targets",
                "refuse the address with a to: error: access entry",
            );
            continue;
        }
        let v = l
            .value
            .replace("%1", "${user}")
            .replace("%2", "${detail}")
            .replace("%3", "${extension}");
        let rhs = match alias_target(&v) {
            Some(r) => r,
            None => {
                let (w, t) = alias_target_advice(&v);
                m.report.not_convertible("virtusertable", l.line, &d, w, t);
                continue;
            }
        };
        m.site.alias_flags.insert("all_domains".into());
        if rhs.contains("${") {
            m.site.alias_flags.insert("replace_macros".into());
        }
        if let Some((_, dom)) = l.key.split_once('@') {
            m.policy.domains.push((dom.to_lowercase(), false));
            let _ = m.site.add_access(&format!("to:@{dom}"), "relay", &o);
        }
        match m.site.add_alias(&l.key, &rhs, &o) {
            Ok(()) => m.report.converted(
                "virtusertable",
                l.line,
                &d,
                format!("aliases: {}: {rhs}", l.key),
            ),
            Err(e) => m
                .report
                .not_convertible("virtusertable", l.line, &d, e, "convert by hand"),
        }
    }
}

fn aliases(m: &mut Migration, t: &str) {
    m.site.alias_flags.insert("localpart".into());
    for l in table_lines(t, true) {
        let d = format!("{}: {}", l.key, l.value);
        let o = format!("aliases:{}", l.line);
        let mut targets = Vec::new();
        let mut bad = None;
        for x in split_list(&l.value) {
            match alias_target(&x) {
                Some(a) => targets.push(a),
                None => {
                    bad = Some(alias_target_advice(&x));
                    break;
                }
            }
        }
        if let Some((w, t)) = bad {
            m.report.not_convertible("aliases", l.line, &d, w, t);
            continue;
        }
        if targets.len() > 1 {
            for t in targets.iter_mut() {
                if !t.starts_with('<') {
                    *t = format!("<{t}@${{domain}}>");
                    m.site.alias_flags.insert("replace_macros".into());
                }
            }
        }
        let rhs = targets.join(" ");
        match m.site.add_alias(&l.key, &rhs, &o) {
            Ok(()) => {
                m.report
                    .converted("aliases", l.line, &d, format!("aliases: {}: {rhs}", l.key))
            }
            Err(e) => m
                .report
                .not_convertible("aliases", l.line, &d, e, "convert by hand"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by fuzzing (fuzz/regressions/sendmail_mc/error_code_not_ascii):
    /// an ERROR: action whose code starts with a multi-byte character was
    /// sliced inside it.
    #[test]
    fn error_code_not_ascii() {
        let r = action("ERROR:\u{e9}p :550", "to");
        assert!(matches!(&r, Ok(v) if v.starts_with("error:")), "{r:?}");
        assert_eq!(
            action("ERROR:550 go away", "to").as_deref(),
            Ok("error:550 5.7.1 go away")
        );
    }
}

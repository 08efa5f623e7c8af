//! Postfix lookup tables named by main.cf (`type:name`, postconf(5)): their
//! sources are read (from the configuration directory, by file name) (indexed types: hash, btree, lmdb, cdb, dbm, texthash,
//! and cidr for networks) and each line converted: transport(5) to the
//! mailertable, aliases(5) and virtual(5) to smx aliases (README §3.9.3,
//! §3.12.3).

use super::Migration;
use crate::common::{alias_target, alias_target_advice, split_list, table_lines, TableLine};
use crate::policy::{domain_probe, old_domain_lookup, Check, MapName};
use crate::report::{Outcome, Report};
use std::path::Path;

const INDEXED: &[&str] = &[
    "hash", "btree", "lmdb", "cdb", "dbm", "sdbm", "texthash", "cidr",
];

/// Reads the source of one table; returns the name the report uses for
/// the file and its lines. `proxy:` is unwrapped.
pub fn read(dir: &Path, spec: &str) -> Result<(String, Vec<TableLine>), String> {
    let spec = spec.strip_prefix("proxy:").unwrap_or(spec);
    let (kind, name) = spec
        .split_once(':')
        .ok_or_else(|| format!("{spec}: not a type:name table"))?;
    if !INDEXED.contains(&kind) {
        return Err(format!(
            "{spec}: {kind} tables are not converted (only indexed files)"
        ));
    }
    let path = Path::new(name);
    let file_name = path
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    // Sources are read from the configuration directory only (by file
    // name), so a conversion never depends on the machine it runs on.
    let chosen = dir.join(&file_name);
    let text = std::fs::read(&chosen)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .map_err(|e| {
            format!("{spec}: source {file_name} not found in the configuration directory ({e}); copy it there and run again")
        })?;
    let colon = file_name == "aliases" || name.ends_with("aliases");
    Ok((file_name, table_lines(&text, colon)))
}

/// Reports one table line.
pub fn report(r: &mut Report, file: &str, l: &TableLine, res: Result<(), String>, to: &str) {
    let d = format!("{} {}", l.key, l.value);
    match res {
        Ok(()) => r.converted(file, l.line, &d, to),
        Err(e) => r.not_convertible(file, l.line, &d, e, "convert the entry by hand"),
    }
}

/// A transport(5) next hop (`smtp:[host]:port`, `relay:host`,
/// `lmtp:unix:/path`, `lmtp:inet:host:port`, `local:`) as a mailertable
/// RHS, with a note when the meaning differs.
pub fn nexthop_to_route(
    value: &str,
    default_transport: &str,
) -> Result<(String, Option<String>), String> {
    let value = value.trim();
    let (transport, hop) = match value.split_once(':') {
        Some((t, h)) if !t.starts_with('[') => (t, h),
        _ => (default_transport, value),
    };
    match transport {
        "smtp" | "relay" | "" => {
            if hop.is_empty() {
                return Err(
                    "empty next hop (use MX records) has no mailertable form; leave the domain out"
                        .into(),
                );
            }
            let (host, port) = split_host_port(hop);
            let mut note = None;
            let host_s = if let Some(inner) =
                host.strip_prefix('[').and_then(|h| h.strip_suffix(']'))
            {
                if inner.parse::<std::net::Ipv4Addr>().is_ok() {
                    format!("[{inner}]")
                } else {
                    note = Some(format!("[{inner}] (no MX lookup) became {inner}: smx looks up MX records for host names"));
                    inner.to_string()
                }
            } else {
                host.to_string()
            };
            let route = match port {
                Some(p) => format!("{p}^esmtp:{host_s}"),
                None => format!("esmtp:{host_s}"),
            };
            Ok((route, note))
        }
        "lmtp" => {
            if hop.is_empty() || hop.starts_with("unix:") {
                Ok((
                    "lmtp:".into(),
                    hop.strip_prefix("unix:").map(|p| {
                        format!("LMTP socket {p}: smx uses smtpc's LMTP_socket; point it there")
                    }),
                ))
            } else {
                let hop = hop.strip_prefix("inet:").unwrap_or(hop);
                let (host, port) = split_host_port(hop);
                let host = host.trim_matches(|c| c == '[' || c == ']');
                let port = port.unwrap_or(24);
                if host.parse::<std::net::Ipv4Addr>().is_ok() {
                    Ok((format!("{port}^lmtp:[{host}]"), None))
                } else {
                    Ok((format!("{port}^lmtp:{host}"), None))
                }
            }
        }
        "local" | "virtual" => Ok((
            "lmtp:".into(),
            Some(format!("{transport}(8) delivery became LMTP to lmtpl")),
        )),
        "error" | "retry" | "discard" => Err(format!(
            "{transport}: transports have no mailertable form in smx"
        )),
        t => Err(format!(
            "transport {t} (a master.cf service) has no smx equivalent"
        )),
    }
}

fn split_host_port(hop: &str) -> (&str, Option<u16>) {
    if let Some(end) = hop.find(']') {
        let (h, rest) = hop.split_at(end + 1);
        return (h, rest.strip_prefix(':').and_then(|p| p.parse().ok()));
    }
    match hop.rsplit_once(':') {
        Some((h, p)) if p.parse::<u16>().is_ok() => (h, p.parse().ok()),
        _ => (hop, None),
    }
}

fn each_table(
    m: &mut Migration,
    dir: &Path,
    value: &str,
    origin: &str,
    mut f: impl FnMut(&mut Migration, &str, &TableLine),
) -> Vec<String> {
    let mut notes = Vec::new();
    for spec in super::maincf::list(value) {
        match read(dir, &spec) {
            Ok((file, lines)) => {
                for l in &lines {
                    f(m, &file, l);
                }
            }
            Err(e) => notes.push(e),
        }
    }
    let _ = origin;
    notes
}

fn outcome(value: &str, to: &str, notes: Vec<String>) -> Outcome {
    if value.trim().is_empty() {
        return Outcome::Converted {
            to: "nothing (empty)".into(),
        };
    }
    if notes.is_empty() {
        Outcome::Converted { to: to.into() }
    } else {
        Outcome::Approximated {
            to: to.into(),
            how: notes.join("; "),
        }
    }
}

/// transport_maps → mailertable.
pub fn transport(m: &mut Migration, dir: &Path, value: &str, origin: &str) -> Outcome {
    let mut old: Vec<(String, Option<String>)> = Vec::new();
    let mut probes = Vec::new();
    let notes = each_table(m, dir, value, origin, |m, file, l| {
        let o = format!("{file}:{}", l.line);
        let d = format!("{} {}", l.key, l.value);
        let key = if l.key == "*" { "." } else { l.key.as_str() };
        if l.key.contains('@') {
            m.report.not_convertible(
                file,
                l.line,
                &d,
                "smx routes by domain only",
                "route the domain, or alias the address",
            );
            return;
        }
        match nexthop_to_route(&l.value, "smtp") {
            Ok((route, note)) => match m.site.add_route(key, &route, &o) {
                Ok(()) => {
                    old.push((l.key.to_lowercase(), Some(route.clone())));
                    probes.push((
                        if key == "." {
                            "example.net".to_string()
                        } else {
                            domain_probe(key)
                        },
                        o,
                    ));
                    match note {
                        None => m.report.converted(
                            file,
                            l.line,
                            &d,
                            format!("mailertable: {key} {route}"),
                        ),
                        Some(n) => m.report.approx(
                            file,
                            l.line,
                            &d,
                            format!("mailertable: {key} {route}"),
                            n,
                        ),
                    }
                }
                Err(e) => m.report.not_convertible(
                    file,
                    l.line,
                    &d,
                    e,
                    "write the mailertable entry by hand",
                ),
            },
            Err(e) => {
                m.report
                    .not_convertible(file, l.line, &d, e, "write the mailertable entry by hand")
            }
        }
    });
    for (item, o) in probes {
        let expected = old_domain_lookup(&old, &item, "*").cloned().flatten();
        m.checks.push(Check {
            map: MapName::Mailertable,
            tag: None,
            item,
            expected,
            origin: o,
        });
    }
    outcome(value, "mailertable", notes)
}

fn alias_rhs(value: &str) -> Result<String, (String, String)> {
    let mut targets = Vec::new();
    for t in split_list(value) {
        match alias_target(&t) {
            Some(a) => targets.push(a),
            None => return Err(alias_target_advice(&t)),
        }
    }
    if targets.is_empty() {
        return Err(("empty alias".into(), "remove the entry".into()));
    }
    if targets.len() > 1 {
        // A list needs qualified addresses in brackets.
        for t in targets.iter_mut() {
            if !t.starts_with('<') {
                *t = format!("<{t}@${{domain}}>");
            }
        }
    }
    Ok(targets.join(" "))
}

/// alias_maps → aliases (local parts).
pub fn aliases(m: &mut Migration, dir: &Path, value: &str, origin: &str) -> Outcome {
    m.site.alias_flags.insert("localpart".into());
    let notes = each_table(m, dir, value, origin, |m, file, l| {
        let o = format!("{file}:{}", l.line);
        let d = format!("{}: {}", l.key, l.value);
        match alias_rhs(&l.value) {
            Ok(rhs) => {
                if rhs.contains("${") {
                    m.site.alias_flags.insert("replace_macros".into());
                }
                match m.site.add_alias(&l.key, &rhs, &o) {
                    Ok(()) => {
                        m.report
                            .converted(file, l.line, &d, format!("aliases: {}: {rhs}", l.key));
                        m.checks.push(Check {
                            map: MapName::Aliases,
                            tag: None,
                            item: l.key.to_lowercase(),
                            expected: Some(rhs),
                            origin: o,
                        });
                    }
                    Err(e) => {
                        m.report
                            .not_convertible(file, l.line, &d, e, "convert the alias by hand")
                    }
                }
            }
            Err((why, todo)) => m.report.not_convertible(file, l.line, &d, why, todo),
        }
    });
    outcome(value, "aliases (flag localpart)", notes)
}

/// virtual_alias_maps → aliases with full addresses (flag all_domains).
pub fn virtual_aliases(m: &mut Migration, dir: &Path, value: &str, origin: &str) -> Outcome {
    let mut old: Vec<(String, String)> = Vec::new();
    let notes = each_table(m, dir, value, origin, |m, file, l| {
        let o = format!("{file}:{}", l.line);
        let d = format!("{} {}", l.key, l.value);
        if !l.key.contains('@') {
            // A virtual alias domain line ("example.com anything").
            m.report.converted(
                file,
                l.line,
                &d,
                "virtual alias domain (see virtual_alias_domains)",
            );
            return;
        }
        let rhs = if l.value.starts_with('@') && l.key.starts_with('@') {
            Ok(format!("${{user}}{}", l.value))
        } else {
            alias_rhs(&l.value)
        };
        match rhs {
            Ok(rhs) => {
                m.site.alias_flags.insert("all_domains".into());
                if rhs.contains("${") {
                    m.site.alias_flags.insert("replace_macros".into());
                }
                match m.site.add_alias(&l.key, &rhs, &o) {
                    Ok(()) => {
                        m.report
                            .converted(file, l.line, &d, format!("aliases: {}: {rhs}", l.key));
                        old.push((l.key.to_lowercase(), rhs));
                    }
                    Err(e) => {
                        m.report
                            .not_convertible(file, l.line, &d, e, "convert the entry by hand")
                    }
                }
            }
            Err((why, todo)) => m.report.not_convertible(file, l.line, &d, why, todo),
        }
    });
    for (key, rhs) in &old {
        let item = if key.starts_with('@') {
            format!("anyone{key}")
        } else {
            key.clone()
        };
        // virtual(5): user@domain, then @domain.
        let expected = old
            .iter()
            .find(|(k, _)| *k == item)
            .or_else(|| {
                item.split_once('@')
                    .and_then(|(_, d)| old.iter().find(|(k, _)| *k == format!("@{d}")))
            })
            .map(|(_, v)| v.clone())
            .or(Some(rhs.clone()));
        m.checks.push(Check {
            map: MapName::Aliases,
            tag: None,
            item,
            expected,
            origin: String::new(),
        });
    }
    outcome(value, "aliases (flags all_domains)", notes)
}

/// virtual_alias_domains → the domains are accepted (to:@domain relay);
/// their addresses are rewritten by the aliases.
pub fn virtual_domains(
    m: &mut Migration,
    dir: &Path,
    value: &str,
    vmaps: &str,
    origin: &str,
) -> Outcome {
    let mut domains = Vec::new();
    let mut notes = Vec::new();
    for item in super::maincf::list(value) {
        if item.contains(':') {
            match read(dir, &item) {
                Ok((_, lines)) => {
                    for l in lines {
                        if !l.key.contains('@') {
                            domains.push(l.key.to_lowercase());
                        } else if let Some((_, d)) = l.key.split_once('@') {
                            if value.trim() == vmaps.trim() && !d.is_empty() {
                                // Postfix's default: the domains of the
                                // virtual alias table's domain lines only.
                            }
                        }
                    }
                }
                Err(e) => notes.push(e),
            }
        } else {
            domains.push(item.to_lowercase());
        }
    }
    domains.sort();
    domains.dedup();
    for d in &domains {
        match m.site.add_access(&format!("to:@{d}"), "relay", origin) {
            Ok(()) => m.policy.domains.push((d.clone(), false)),
            Err(e) => notes.push(e),
        }
    }
    if !domains.is_empty() {
        m.site.alias_flags.insert("all_domains".into());
    }
    let to = format!(
        "access: to:@DOMAIN relay for {}; aliases flag all_domains",
        domains.join(", ")
    );
    if value.trim().is_empty() {
        Outcome::Converted {
            to: "nothing (empty)".into(),
        }
    } else if notes.is_empty() {
        Outcome::Approximated {
            to,
            how: "a virtual alias domain is accepted like a relay domain; an address without an alias is \
                  relayed by MX instead of being rejected (user unknown)"
                .into(),
        }
    } else {
        Outcome::Approximated {
            to,
            how: notes.join("; "),
        }
    }
}

//! `smtpd_{client,helo,sender,recipient,relay}_restrictions` (postconf(5),
//! access(5)) converted to smx's access map (README §3.9.3): the tables of
//! `check_client_access`, `check_sender_access` and `check_recipient_access`
//! become `cltaddr:`/`cltname:`, `from:` and `to:` entries;
//! `permit_mynetworks` is the `cltaddr:` relay entries of mynetworks;
//! `reject_unauth_destination` is smx's default; `reject_rbl_client` becomes
//! a `dnsbl` section with its access entries.

use super::{approx, converted, nc, tables, Cx, Migration};
use crate::common::ipv4_net_keys;
use crate::report::Outcome;

/// The restriction lists, in the order Postfix evaluates them.
const LISTS: [&str; 5] = [
    "smtpd_client_restrictions",
    "smtpd_helo_restrictions",
    "smtpd_sender_restrictions",
    "smtpd_relay_restrictions",
    "smtpd_recipient_restrictions",
];

/// Postfix access(5) action → smx access RHS.
pub fn action(value: &str, tag: &str) -> Result<(String, Option<String>), String> {
    let v = value.trim();
    let (word, rest) = match v.split_once(char::is_whitespace) {
        Some((w, r)) => (w, r.trim()),
        None => (v, ""),
    };
    let upper = word.to_ascii_uppercase();
    let text = |d: &str| {
        if rest.is_empty() {
            d.to_string()
        } else {
            rest.to_string()
        }
    };
    match upper.as_str() {
        "OK" | "PERMIT" => Ok(("ok".into(), None)),
        "RELAY" if tag == "to" => Ok(("relay".into(), None)),
        "RELAY" => Ok((
            "ok".into(),
            Some("RELAY is only meaningful for recipients; became ok".into()),
        )),
        "REJECT" => Ok((format!("error:554 5.7.1 {}", text("Access denied")), None)),
        "DEFER" | "DEFER_IF_REJECT" | "DEFER_IF_PERMIT" => Ok((
            format!("error:450 4.7.1 {}", text("Try again later")),
            (upper != "DEFER").then(|| format!("{upper} became an unconditional 450")),
        )),
        "DISCARD" => Ok(("discard".into(), None)),
        "DUNNO" => Ok(("cont".into(), None)),
        _ => {
            if word.len() == 3
                && word.chars().all(|c| c.is_ascii_digit())
                && (word.starts_with('4') || word.starts_with('5'))
            {
                let (status, text) = match rest.split_once(char::is_whitespace) {
                    Some((s, t)) if s.split('.').count() == 3 && s.starts_with(&word[..1]) => {
                        (s.to_string(), t.trim().to_string())
                    }
                    _ => (format!("{}.7.1", &word[..1]), rest.to_string()),
                };
                Ok((
                    format!("error:{word} {status} {text}")
                        .trim_end()
                        .to_string(),
                    None,
                ))
            } else {
                Err(format!("action {word} has no smx access-map equivalent"))
            }
        }
    }
}

fn is_ip_key(k: &str) -> bool {
    let bare = k.split('/').next().unwrap_or(k);
    !bare.is_empty() && bare.chars().all(|c| c.is_ascii_digit() || c == '.')
}

/// Converts the lines of an access table for `tag` (cltaddr/from/to).
fn access_table(
    m: &mut Migration,
    dir: &std::path::Path,
    spec: &str,
    tag: &str,
) -> Result<(), String> {
    let (file, lines) = tables::read(dir, spec)?;
    for l in lines {
        let o = format!("{file}:{}", l.line);
        let d = format!("{} {}", l.key, l.value);
        let t = if tag == "client" {
            if is_ip_key(&l.key) {
                "cltaddr"
            } else {
                "cltname"
            }
        } else {
            tag
        };
        let (rhs, note) = match action(&l.value, t) {
            Ok(x) => x,
            Err(e) => {
                m.report.not_convertible(
                    &file,
                    l.line,
                    &d,
                    e,
                    "use a policy milter for this check",
                );
                continue;
            }
        };
        let keys: Vec<String> = match t {
            "cltaddr" => match ipv4_net_keys(&l.key) {
                Ok(k) => k,
                Err(e) => {
                    m.report
                        .not_convertible(&file, l.line, &d, e, "list IPv4 networks only");
                    continue;
                }
            },
            "cltname" => {
                let k = l.key.trim_start_matches('.').to_lowercase();
                vec![k.clone(), format!(".{k}")]
            }
            _ => {
                let k = l.key.to_lowercase();
                if let Some(user) = k.strip_suffix('@') {
                    m.report.not_convertible(
                        &file,
                        l.line,
                        &d,
                        format!("smx cannot match {user}@ in every domain"),
                        "list the addresses with their domains",
                    );
                    continue;
                }
                if k.contains('@') {
                    vec![k]
                } else {
                    let k = k.trim_start_matches('.').to_string();
                    vec![format!("@{k}"), format!("@.{k}")]
                }
            }
        };
        let mut errors = Vec::new();
        for k in &keys {
            if let Err(e) = m.site.add_access(&format!("{t}:{k}"), &rhs, &o) {
                errors.push(e);
            }
        }
        let to = format!(
            "access: {}",
            keys.iter()
                .map(|k| format!("{t}:{k} {rhs}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        if !errors.is_empty() {
            m.report.not_convertible(
                &file,
                l.line,
                &d,
                errors.join("; "),
                "convert the entry by hand",
            );
        } else if let Some(n) = note {
            m.report.approx(&file, l.line, &d, to, n);
        } else {
            m.report.approx(&file, l.line, &d, to, "smx consults the access map per protocol stage, not in the order of the restriction list");
        }
        if t == "to" && rhs == "relay" {
            for k in keys {
                match k.strip_prefix("@.") {
                    Some(dom) => m.policy.domains.push((dom.to_string(), true)),
                    None => match k.strip_prefix('@') {
                        Some(dom) => m.policy.domains.push((dom.to_string(), false)),
                        None => m.policy.addresses.push(k),
                    },
                }
            }
        }
    }
    Ok(())
}

/// Converts all restriction lists; records each list's outcome in `cx`.
pub fn convert(cx: &mut Cx<'_>, m: &mut Migration) {
    let mut rbl = 0;
    let mut checks_destination = false;
    let mut any_list = false;
    for list in LISTS {
        let value = cx.main.get(list);
        let items = super::maincf::list(&value);
        if items.is_empty() {
            if cx.main.is_set(list) {
                cx.set(list, converted("nothing (empty)"));
            }
            continue;
        }
        any_list = true;
        let mut done = Vec::new();
        let mut approxd = Vec::new();
        let mut missing = Vec::new();
        let mut i = 0;
        while i < items.len() {
            let it = items[i].as_str();
            let arg = items.get(i + 1).cloned();
            i += 1;
            match it {
                "permit_mynetworks" => done.push("permit_mynetworks: cltaddr: relay entries".to_string()),
                "reject_unauth_destination" => {
                    checks_destination = true;
                    done.push("reject_unauth_destination: smx refuses relaying unless allowed".into());
                }
                "defer_unauth_destination" => {
                    checks_destination = true;
                    approxd.push("defer_unauth_destination: smx refuses with 550, not 450".to_string());
                }
                "permit_sasl_authenticated" => approxd.push("permit_sasl_authenticated: authenticated clients relay in smx when AUTH is configured".into()),
                "reject_unlisted_recipient" | "reject_unverified_recipient" => done.push(format!("{it}: smx checks local users (local_user_map, aliases)")),
                "permit_tls_clientcerts" | "permit_tls_all_clientcerts" => approxd.push(format!("{it}: use certissuer:/certsubject: relay entries and the tls flag allow_relaying_if_verified")),
                "reject_non_fqdn_helo_hostname" | "reject_invalid_helo_hostname" | "reject_invalid_hostname" | "reject_non_fqdn_hostname" => {
                    approxd.push(format!("{it}: smtps flag strict_ehlo_checks is the closest"))
                }
                "permit" => done.push("permit: the end of the checks".into()),
                "reject_rbl_client" | "reject_rhsbl_client" | "reject_rhsbl_sender" | "reject_rhsbl_helo" | "reject_rhsbl_reverse_client" => {
                    i += 1;
                    let Some(zone_spec) = arg else { continue };
                    if it != "reject_rbl_client" {
                        missing.push(format!("{it} {zone_spec}: smx has DNS blacklists for client addresses only"));
                        continue;
                    }
                    rbl += 1;
                    let (zone, answer) = match zone_spec.split_once('=') {
                        Some((z, a)) => (z.to_string(), Some(a.to_string())),
                        None => (zone_spec.clone(), None),
                    };
                    let tag = format!("rbl{rbl}");
                    let origin = cx.origin(list);
                    let answers: Vec<String> = match &answer {
                        Some(a) => match rbl_answers(a) {
                            Some(v) => v,
                            None => {
                                missing.push(format!("reject_rbl_client {zone_spec}: answer pattern {a} not understood; add `TAG:A.B.C.D` access entries by hand"));
                                continue;
                            }
                        },
                        None => (2..=11).map(|n| format!("127.0.0.{n}")).collect(),
                    };
                    let mut ok = true;
                    for a in &answers {
                        let rhs = format!("error:554 5.7.1 Service unavailable; client listed by {zone}");
                        if m.site.add_access(&format!("{tag}:{a}"), &rhs, &origin).is_err() {
                            ok = false;
                        }
                    }
                    if ok {
                        m.site.dnsbl.push((zone.clone(), tag.clone()));
                        if answer.is_none() {
                            approxd.push(format!("reject_rbl_client {zone}: dnsbl tag {tag}, answers 127.0.0.2-127.0.0.11 rejected"));
                        } else {
                            done.push(format!("reject_rbl_client {zone_spec}: dnsbl tag {tag}"));
                        }
                    } else {
                        missing.push(format!("reject_rbl_client {zone_spec}: could not write its access entries"));
                    }
                }
                "check_client_access" | "check_sender_access" | "check_recipient_access" | "check_helo_access" | "check_reverse_client_hostname_access" | "check_client_a_access" | "check_sender_mx_access" | "check_sender_ns_access" | "check_recipient_mx_access" | "check_policy_service" => {
                    i += 1;
                    let Some(spec) = arg else { continue };
                    let tag = match it {
                        "check_client_access" => Some("client"),
                        "check_sender_access" => Some("from"),
                        "check_recipient_access" => Some("to"),
                        _ => None,
                    };
                    match tag {
                        Some(t) => match access_table(m, &cx.dir, &spec, t) {
                            Ok(()) => approxd.push(format!("{it} {spec}: access map entries")),
                            Err(e) => missing.push(e),
                        },
                        None if it == "check_policy_service" => missing.push(format!("{it} {spec}: use smtps policy_milter with a milter that asks the policy service")),
                        None => missing.push(format!("{it} {spec}: no smx access-map tag for this check")),
                    }
                }
                "reject" | "defer" => missing.push(format!("{it}: an unconditional refusal at this stage has no smx form")),
                "warn_if_reject" | "reject_unknown_client_hostname" | "reject_unknown_reverse_client_hostname" | "reject_unknown_sender_domain" | "reject_unknown_recipient_domain" | "reject_non_fqdn_sender" | "reject_non_fqdn_recipient" | "reject_unknown_helo_hostname" | "reject_unauth_pipelining" | "reject_sender_login_mismatch" | "reject_multi_recipient_bounce" | "reject_plaintext_session" => {
                    missing.push(format!("{it}: no smx equivalent; cltresolve: access entries cover unknown client names"))
                }
                other => missing.push(format!("{other}: not known to smx-migrate")),
            }
        }
        let to = done
            .iter()
            .chain(approxd.iter())
            .cloned()
            .collect::<Vec<_>>()
            .join("; ");
        let o: Outcome = if approxd.is_empty() && missing.is_empty() {
            converted(to)
        } else if done.is_empty() && approxd.is_empty() {
            nc(
                missing.join("; "),
                "use a policy milter (smtps policy_milter) for these checks",
            )
        } else {
            let mut how = approxd.clone();
            how.extend(missing.iter().map(|x| format!("NOT CONVERTED: {x}")));
            approx(to, how.join("; "))
        };
        cx.set(list, o);
    }
    m.policy.checks_destination = checks_destination || !any_list;
}

/// The answer addresses of a `reject_rbl_client zone=PATTERN` (postconf(5):
/// each octet a number, `[n..m]` or `[n;m;...]`), as the `A.B.C.D` keys
/// SMAR looks up under the list's tag; `None` for a pattern that is not
/// understood or stands for more than 256 addresses.
pub fn rbl_answers(pattern: &str) -> Option<Vec<String>> {
    let mut octets: Vec<&str> = Vec::new();
    let (mut start, mut depth) = (0, 0usize);
    for (i, ch) in pattern.char_indices() {
        match ch {
            '[' => depth += 1,
            ']' => depth = depth.checked_sub(1)?,
            '.' if depth == 0 => {
                octets.push(&pattern[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    octets.push(&pattern[start..]);
    if octets.len() != 4 {
        return None;
    }
    let mut out = vec![String::new()];
    for (i, o) in octets.iter().enumerate() {
        let mut values: Vec<u8> = Vec::new();
        let inner = o.strip_prefix('[').and_then(|x| x.strip_suffix(']'));
        for part in inner.unwrap_or(o).split(';') {
            match part.split_once("..") {
                Some((a, b)) if inner.is_some() => {
                    let (a, b) = (a.trim().parse::<u8>().ok()?, b.trim().parse::<u8>().ok()?);
                    if a > b {
                        return None;
                    }
                    values.extend(a..=b);
                }
                _ => values.push(part.trim().parse::<u8>().ok()?),
            }
        }
        if inner.is_none() && values.len() != 1 {
            return None;
        }
        let dot = if i == 0 { "" } else { "." };
        out = out
            .iter()
            .flat_map(|p| values.iter().map(move |v| format!("{p}{dot}{v}")))
            .collect();
        if out.len() > 256 {
            return None;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::rbl_answers;

    #[test]
    fn rbl_answer_patterns_expand_to_addresses() {
        assert_eq!(rbl_answers("127.0.0.2").unwrap(), vec!["127.0.0.2"]);
        assert_eq!(
            rbl_answers("127.0.0.[2..4]").unwrap(),
            vec!["127.0.0.2", "127.0.0.3", "127.0.0.4"]
        );
        assert_eq!(
            rbl_answers("127.0.0.[2;10..11]").unwrap(),
            vec!["127.0.0.2", "127.0.0.10", "127.0.0.11"]
        );
        assert_eq!(rbl_answers("127.0.[0..1].[0..255]"), None);
        assert_eq!(rbl_answers("127.0.0"), None);
        assert_eq!(rbl_answers("127.0.0.x"), None);
    }
}

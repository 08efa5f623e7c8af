//! The aliases map (sendmail X README §3.9.3 "Aliases", §4.3.2): `name: rhs`.
//!
//! The RHS is one or more RFC 2821 addresses in angle brackets separated by
//! spaces (`<user1@my.dom> <user2@my.dom>`), or a single unqualified local
//! name (`localuser`, `user+abuse`) to which the SMAR appends its host name,
//! or `local:` (the key is a valid local address, §4.3.2). `owner-` entries
//! are ordinary aliases. Macros `${user}`, `${detail}`, `${domain}`,
//! `${tag}`, `${delimiter}`, `${subdomain}` and `${extension}` may appear in
//! the RHS (§3.12.3).
//!
//! Keys are local parts or addresses with the lookup patterns of §3.12.1
//! (`user++`, `user+*`, `alias*@.domain`, `vuser1@virt1.tld`, `@domain`).
//!
//! Decisions where the README is silent: a single address with an `@` may
//! also stand without brackets, as the macro example of §3.12.3 writes it
//! (`user${extension}@${subdomain}.domain`); in a list every address needs
//! its brackets and a domain. sendmail 8 forms that smx does not deliver to
//! (`|program`, `/file`, `:include:`) are errors that say so.

use super::{address_pattern, domain_pattern, local_part, suggest};

/// One target of an alias.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AliasTarget {
    /// A fully qualified address, without angle brackets.
    Address(String),
    /// An unqualified local name; the SMAR appends the host name (or the
    /// original domain with `preserve_domain`).
    Local(String),
    /// `local:`: deliver locally; the key is a valid local address.
    LocalDelivery,
}

const MACROS: [&str; 7] = [
    "user",
    "detail",
    "domain",
    "tag",
    "delimiter",
    "subdomain",
    "extension",
];

/// Checks one aliases entry.
pub(crate) fn validate(key: &str, value: &str) -> Result<(), String> {
    alias_key(key)?;
    parse_alias_rhs(value).map(|_| ())
}

fn alias_key(key: &str) -> Result<(), String> {
    if key.starts_with('<') || key.ends_with('>') {
        return Err(format!(
            "alias name \"{key}\": write it without angle brackets"
        ));
    }
    address_pattern(key).map_err(|why| format!("alias name \"{key}\": {why}"))
}

/// Parses the RHS of an aliases entry.
pub fn parse_alias_rhs(value: &str) -> Result<Vec<AliasTarget>, String> {
    let value = value.trim();
    if value.is_empty() {
        return Err("missing right-hand side; expected <address> ..., \
                    a local user name or local:"
            .to_string());
    }
    if value.eq_ignore_ascii_case("local:") {
        return Ok(vec![AliasTarget::LocalDelivery]);
    }
    if value.contains(',') {
        return Err(
            "addresses are separated by spaces, not commas: write <a@x.dom> <b@y.dom>".to_string(),
        );
    }
    sendmail8_target(value)?;
    let items: Vec<&str> = value.split_whitespace().collect();
    if let [single] = items.as_slice() {
        if !single.starts_with('<') && !single.ends_with('>') {
            check_macros(single)?;
            return if single.contains('@') {
                bare_address(single)?;
                Ok(vec![AliasTarget::Address((*single).to_string())])
            } else {
                local_part(single)?;
                Ok(vec![AliasTarget::Local((*single).to_string())])
            };
        }
    }
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        if item.eq_ignore_ascii_case("local:") {
            return Err("local: must stand alone as the whole right-hand side".to_string());
        }
        sendmail8_target(item)?;
        let Some(inner) = item.strip_prefix('<').and_then(|s| s.strip_suffix('>')) else {
            let bare = item.trim_matches(['<', '>']);
            let example = if bare.contains('@') {
                format!("<{bare}>")
            } else {
                format!("<{bare}@host.domain>")
            };
            return Err(format!(
                "\"{item}\": in a list every address needs angle brackets and a domain, \
                 e.g. {example}"
            ));
        };
        if inner.is_empty() {
            return Err("empty address <> in an alias list".to_string());
        }
        check_macros(inner)?;
        if !inner.contains('@') {
            return Err(format!(
                "<{inner}> has no domain; write <{inner}@host.domain>, or the name \
                 alone without brackets as the only target"
            ));
        }
        bare_address(inner)?;
        out.push(AliasTarget::Address(inner.to_string()));
    }
    Ok(out)
}

/// sendmail 8 aliases(5) targets smx does not have.
fn sendmail8_target(item: &str) -> Result<(), String> {
    let what = if item.starts_with('|') || item.starts_with("\"|") {
        "delivery to programs (|command)"
    } else if item.starts_with('/') {
        "delivery to files (/path)"
    } else if item.to_ascii_lowercase().starts_with(":include:") {
        "delivery to :include: lists"
    } else {
        return Ok(());
    };
    Err(format!(
        "{what}: a sendmail 8 aliases feature that smx does not have; \
         deliver through an LMTP delivery agent (mailertable lmtp:) instead"
    ))
}

/// `local@domain` with macros already checked.
fn bare_address(addr: &str) -> Result<(), String> {
    let Some((local, domain)) = addr.rsplit_once('@') else {
        return Err(format!("\"{addr}\" has no domain"));
    };
    if local.is_empty() {
        return Err(format!("\"{addr}\" has an empty local part"));
    }
    local_part(local)?;
    if domain.is_empty() {
        return Err(format!("{addr}: missing domain after '@'"));
    }
    // Macros stand for host name labels here (`${subdomain}.domain`).
    let domain = replace_macros(domain);
    domain_pattern(&domain).map_err(|why| format!("\"{addr}\": {why}"))
}

/// Every `${name}` in `s` names a known macro (§3.12.3).
fn check_macros(s: &str) -> Result<(), String> {
    let mut rest = s;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            return Err(format!(
                "unterminated macro in \"{s}\": \"${{\" without \"}}\""
            ));
        };
        let name = &after[..end];
        if !MACROS.contains(&name) {
            let hint = suggest(name, &MACROS)
                .map(|m| format!("did you mean ${{{m}}}? "))
                .unwrap_or_default();
            return Err(format!(
                "unknown macro ${{{name}}}; {hint}macros are ${{user}}, ${{detail}}, \
                 ${{domain}}, ${{tag}}, ${{delimiter}}, ${{subdomain}} and ${{extension}}"
            ));
        }
        rest = &after[end + 1..];
    }
    Ok(())
}

fn replace_macros(s: &str) -> String {
    // Every macro stands for some text; `m` keeps the address grammar valid.
    crate::macros::substitute(s, |_| Some("m".to_string()))
}

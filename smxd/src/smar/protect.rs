//! Protected recipients (README §3.10 item 19, §3.10.2).
//!
//! A recipient with a `protectedrcpt:` access-map entry (looked up with
//! the order of §3.12.1, local part alone included: `protectedrcpt:list3`
//! protects `list3@` every domain) accepts mail only when one of the
//! entry's restrictions matches (sequential OR):
//!
//! - `from:<sender>` (needs `allow_by = sender`): the envelope sender;
//! - `cltaddr:A.B.C.D` (needs `allow_by = client_ip`): the client address;
//! - `list:<alias>` (needs `allow_by = sender`): the sender is one of the
//!   addresses the alias expands to, one level only (not recursively).
//!
//! A restriction whose `allow_by` flag is not set never matches. With
//! `match_type = exact` (default) the restriction must equal the item
//! (addresses case-insensitively); with `generic_lookup` the restriction
//! is a pattern matched as a map key would be (§3.12.1: `@domain`,
//! `user+*@domain`, a net `10`); `implicitly_match_detail` in addition
//! lets `user@domain` match `user+detail@domain`.

use super::aliases::Aliases;
use super::policy::Protected;
use super::rcpt::Temporary;
use smx_grammar::config::smtps::MatchType;
use smx_maps::kind::{parse_alias_rhs, parse_restrictions, AliasTarget, Restriction};
use smx_maps::lookup::{self, AddressOptions};
use smx_maps::Map;
use std::net::IpAddr;

/// What a protected-recipient check needs.
#[derive(Debug, Clone, Copy)]
pub struct Query<'a> {
    /// The recipient.
    pub rcpt: &'a str,
    /// The envelope sender (empty for `<>`).
    pub sender: &'a str,
    /// The client.
    pub client: Option<IpAddr>,
    /// `address_delimiter`.
    pub delimiter: char,
    /// Qualifies unqualified alias members.
    pub hostname: &'a str,
}

fn temp(e: impl std::fmt::Display) -> Temporary {
    Temporary(e.to_string())
}

fn address_matches(p: &Protected, pattern: &str, item: &str, delimiter: char) -> bool {
    let pattern = pattern.trim_start_matches('<').trim_end_matches('>');
    match p.match_type {
        MatchType::Exact => pattern.eq_ignore_ascii_case(item),
        t => {
            let opts = AddressOptions {
                delimiter,
                implicitly_match_detail: t == MatchType::ImplicitlyMatchDetail,
                localpart_fallback: true,
                domain_match: true,
            };
            let want = pattern.to_lowercase();
            lookup::address_keys(item, &opts)
                .iter()
                .any(|c| c.key == want)
        }
    }
}

fn ip_matches(p: &Protected, pattern: &str, client: Option<IpAddr>) -> bool {
    let Some(IpAddr::V4(ip)) = client else {
        return false;
    };
    match p.match_type {
        MatchType::Exact => pattern == ip.to_string(),
        _ => lookup::ipv4_keys(ip).iter().any(|k| k == pattern),
    }
}

/// `Ok(true)` when `q.rcpt` is not protected or a restriction allows the
/// mail; `Ok(false)` when it must be refused.
pub fn allowed(
    map: &dyn Map,
    aliases: Option<&Aliases>,
    p: &Protected,
    q: &Query<'_>,
) -> Result<bool, Temporary> {
    let opts = AddressOptions {
        delimiter: q.delimiter,
        localpart_fallback: true,
        ..AddressOptions::default()
    };
    let l = lookup::lookup(map, q.rcpt, Some("protectedrcpt"), &opts).map_err(temp)?;
    let Some(found) = l.found else {
        return Ok(true);
    };
    let restrictions = parse_restrictions(&found.value)
        .map_err(|why| Temporary(format!("protectedrcpt:{}: {why}", found.key)))?;
    for r in &restrictions {
        let ok = match r {
            Restriction::From(s) if p.by_sender => address_matches(p, s, q.sender, q.delimiter),
            Restriction::CltAddr(net) if p.by_client_ip => ip_matches(p, net, q.client),
            Restriction::List(alias) if p.by_sender => {
                list_member(aliases, p, alias, q).map_err(temp)?
            }
            _ => false,
        };
        if ok {
            return Ok(true);
        }
    }
    Ok(false)
}

fn list_member(
    aliases: Option<&Aliases>,
    p: &Protected,
    alias: &str,
    q: &Query<'_>,
) -> Result<bool, String> {
    let Some(a) = aliases else {
        return Ok(false);
    };
    let alias = alias.trim_start_matches('<').trim_end_matches('>');
    let Some(found) = a.lookup(alias, true).map_err(|e| e.to_string())? else {
        return Ok(false);
    };
    let members = parse_alias_rhs(&found.value).map_err(|e| format!("alias {alias}: {e}"))?;
    Ok(members.iter().any(|m| match m {
        AliasTarget::Address(a) => address_matches(p, a, q.sender, q.delimiter),
        AliasTarget::Local(n) => {
            address_matches(p, &format!("{n}@{}", q.hostname), q.sender, q.delimiter)
        }
        AliasTarget::LocalDelivery => false,
    }))
}

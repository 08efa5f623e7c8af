//! Map kinds: what a key and a right-hand side (RHS) must look like in each
//! map of sendmail X, and their typed forms for the SMAR and the QMGR.
//!
//! - [`access`]: the access map of README §3.9.3 (tags, `quick:`, `relay`,
//!   `error:`), the DNSBL entries of §3.9.2 item 4, the DN encoding of §3.10
//!   item 21 ([`encode_dn`]) and the `protectedrcpt:` restrictions of §3.10.2.
//! - [`aliases`]: `name: <addr> <addr>`, unqualified names and `local:`
//!   (§3.9.3, §4.3.2), with the RHS macros of §3.12.3.
//! - [`mailertable`]: the LHS/RHS grammar of §3.9.3 (`esmtp:`, `lmtp:`,
//!   `port^`).
//! - [`qmgr_conf`]: the `oci:`/`ocm:`/`octo:`/`icr:`/`icm:` entries of §3.8.1.
//! - [`passwords`]: user name → password hash for SMTP AUTH (§3.10 item 1).
//! - plain: any key, any value.
//!
//! Error messages are meant for a postmaster reading `createmap` or
//! `smxctl check` output: they name the problem in the map's own words and,
//! where a sendmail 8 or Postfix habit is the likely cause, say what smx
//! expects instead.
//!
//! Decisions where the README is silent:
//!
//! - Tags and RHS keywords (`relay`, `ok`, `quick:`, `error:`, `local:`,
//!   `esmtp:`) are case-insensitive: the seeds write `CertSubject:` and
//!   `cltaddr:10 OK`.
//! - IPv4 nets are written as their leading octets (`10`, `10.1`), never in
//!   CIDR notation, and octets have no leading zeros (they would read as
//!   octal to some tools).
//! - Host names are letters, digits and hyphens in dot-separated labels
//!   (RFC 1123), without a trailing dot.

use crate::source::Separator;

pub mod access;
pub mod aliases;
pub mod mailertable;
pub mod passwords;
pub mod qmgr_conf;

pub use access::{
    encode_dn, parse_access_key, parse_access_rhs, parse_restrictions, AccessAction, AccessKey,
    AccessRhs, AccessTag, Restriction,
};
pub use aliases::{parse_alias_rhs, AliasTarget};
pub use mailertable::{parse_mailertable_rhs, Host, Route};
pub use qmgr_conf::{parse_qmgr_conf, QmgrConfEntry, QmgrConfKey};

/// The kinds of maps whose entries smx knows how to check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MapKind {
    /// The access map (§3.9.3).
    Access,
    /// The aliases map (§3.9.3, §4.3.2).
    Aliases,
    /// The mailertable (§3.9.3).
    Mailertable,
    /// The QMGR's qmgr_conf map (§3.8.1).
    QmgrConf,
    /// The SMTP AUTH password map (§3.10 item 1): user → password hash.
    Passwords,
    /// Any other map (local_user_map, socket map data): no checks.
    Plain,
}

impl MapKind {
    /// Every kind, in the order tools list them.
    pub const ALL: [MapKind; 6] = [
        MapKind::Access,
        MapKind::Aliases,
        MapKind::Mailertable,
        MapKind::QmgrConf,
        MapKind::Passwords,
        MapKind::Plain,
    ];

    /// How keys and values are separated in this kind's text source.
    pub fn separator(self) -> Separator {
        match self {
            MapKind::Aliases => Separator::Colon,
            _ => Separator::Whitespace,
        }
    }

    /// The name tools use for the kind (`createmap -k NAME`).
    pub fn name(self) -> &'static str {
        match self {
            MapKind::Access => "access",
            MapKind::Aliases => "aliases",
            MapKind::Mailertable => "mailertable",
            MapKind::QmgrConf => "qmgr_conf",
            MapKind::Passwords => "passwords",
            MapKind::Plain => "plain",
        }
    }

    /// The kind named `s`, case-insensitively; also accepts `mt` (the
    /// mailertable's default file name), `alias` and `qmgr-conf`.
    pub fn from_name(s: &str) -> Option<Self> {
        let kind = match s.to_ascii_lowercase().as_str() {
            "access" => MapKind::Access,
            "aliases" | "alias" => MapKind::Aliases,
            "mailertable" | "mt" => MapKind::Mailertable,
            "qmgr_conf" | "qmgr-conf" => MapKind::QmgrConf,
            "passwords" | "auth" => MapKind::Passwords,
            "plain" => MapKind::Plain,
            _ => return None,
        };
        Some(kind)
    }

    /// Checks one entry: `Err` holds a message for the postmaster.
    pub fn validate(self, key: &str, value: &str) -> Result<(), String> {
        match self {
            MapKind::Access => access::validate(key, value),
            MapKind::Aliases => aliases::validate(key, value),
            MapKind::Mailertable => mailertable::validate(key, value),
            MapKind::QmgrConf => parse_qmgr_conf(key, value).map(|_| ()),
            MapKind::Passwords => passwords::validate(key, value),
            MapKind::Plain => Ok(()),
        }
    }
}

impl std::fmt::Display for MapKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A full IPv4 address `A.B.C.D`.
pub(crate) fn ipv4(s: &str) -> Result<std::net::Ipv4Addr, String> {
    let octets = ipv4_octets(s)?;
    match octets.as_slice() {
        [a, b, c, d] => Ok(std::net::Ipv4Addr::new(*a, *b, *c, *d)),
        _ => Err(format!(
            "\"{s}\" is not a full IPv4 address (four octets A.B.C.D)"
        )),
    }
}

/// An IPv4 address or net written as its 1 to 4 leading octets (§3.12.1).
pub(crate) fn ipv4_net(s: &str) -> Result<(), String> {
    ipv4_octets(s).map(|_| ())
}

fn ipv4_octets(s: &str) -> Result<Vec<u8>, String> {
    if s.is_empty() {
        return Err("missing IPv4 address or net".to_string());
    }
    if let Some((addr, bits)) = s.split_once('/') {
        let example = match bits.parse::<usize>() {
            Ok(b @ (8 | 16 | 24 | 32)) if addr.split('.').count() == 4 => {
                let net: Vec<&str> = addr.split('.').take(b / 8).collect();
                format!("here \"{}\"", net.join("."))
            }
            _ => "e.g. \"10.1\" for 10.1.0.0/16".to_string(),
        };
        return Err(format!(
            "CIDR notation is not used in smx maps; write a net as its leading \
             octets, {example}"
        ));
    }
    if s.contains(':') {
        return Err(format!("{s}: only IPv4 addresses are supported"));
    }
    if let Some(net) = s.strip_suffix('.') {
        return Err(format!("drop the trailing dot; a net is written \"{net}\""));
    }
    let mut octets = Vec::with_capacity(4);
    for part in s.split('.') {
        if octets.len() == 4 {
            return Err(format!("\"{s}\" has more than four octets"));
        }
        octets.push(octet(part)?);
    }
    Ok(octets)
}

fn octet(part: &str) -> Result<u8, String> {
    if part.is_empty() {
        return Err("empty octet (two dots in a row?)".to_string());
    }
    if !part.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("\"{part}\" is not a number"));
    }
    if part.len() > 1 && part.starts_with('0') {
        return Err(format!("octet \"{part}\" has a leading zero"));
    }
    part.parse::<u8>()
        .map_err(|_| format!("octet {part} is out of range (0-255)"))
}

/// Whether `s` reads as a dotted-decimal IPv4 address or net.
pub(crate) fn looks_like_ipv4(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit() || b == b'.')
}

/// A host name: dot-separated labels of letters, digits and hyphens.
pub(crate) fn hostname(s: &str) -> Result<(), String> {
    if s.is_empty() {
        return Err("empty host name".to_string());
    }
    if looks_like_ipv4(s) {
        return Err(format!("\"{s}\" is an IPv4 address, not a host name"));
    }
    if let Some(short) = s.strip_suffix('.') {
        return Err(format!(
            "host name \"{s}\": drop the trailing dot (\"{short}\")"
        ));
    }
    if s.len() > 253 {
        return Err(format!("host name \"{s}\" is longer than 253 characters"));
    }
    for label in s.split('.') {
        if label.is_empty() {
            return Err(format!("host name \"{s}\" has an empty label (\"..\")"));
        }
        if label.len() > 63 {
            return Err(format!(
                "host name \"{s}\": label \"{label}\" is longer than 63 characters"
            ));
        }
        if let Some(c) = label
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '-'))
        {
            return Err(format!(
                "host name \"{s}\": '{c}' is not allowed (letters, digits, hyphens and dots only)"
            ));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(format!(
                "host name \"{s}\": label \"{label}\" starts or ends with a hyphen"
            ));
        }
    }
    Ok(())
}

/// A domain pattern: a host name, optionally with a leading dot (matches
/// subdomains, §3.12.1), or an address literal `[A.B.C.D]`.
pub(crate) fn domain_pattern(s: &str) -> Result<(), String> {
    if let Some(inner) = s.strip_prefix('[') {
        let Some(inner) = inner.strip_suffix(']') else {
            return Err(format!("\"{s}\": '[' without a closing ']'"));
        };
        return ipv4(inner).map(|_| ());
    }
    hostname(s.strip_prefix('.').unwrap_or(s))
}

/// Characters of an unquoted local part (RFC 5321 atext and the dot); they
/// include the `+` and `*` of the lookup patterns of §3.12.1 and the `$`,
/// `{`, `}` of macros.
fn local_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c)
}

/// A local part: atext and dots, or a quoted string.
pub(crate) fn local_part(s: &str) -> Result<(), String> {
    if s.len() >= 2 && s.starts_with('"') && s.ends_with('"') {
        return Ok(());
    }
    match s.chars().find(|c| !local_char(*c)) {
        None => Ok(()),
        Some(c) => Err(format!("'{c}' is not allowed in the local part \"{s}\"")),
    }
}

/// An address or partial address as written in LHS patterns: `local@domain`,
/// `local`, `@domain`, `@.domain`, `local@.domain`.
pub(crate) fn address_pattern(s: &str) -> Result<(), String> {
    if s.is_empty() {
        return Err("missing address".to_string());
    }
    if s.starts_with('<') || s.ends_with('>') {
        return Err("write the address without angle brackets".to_string());
    }
    match s.rsplit_once('@') {
        None => local_part(s),
        Some((local, domain)) => {
            if !local.is_empty() {
                local_part(local)?;
            }
            if domain.is_empty() {
                return Err("missing domain after '@'".to_string());
            }
            domain_pattern(domain)
        }
    }
}

/// The candidate closest to `word` if it is a plausible misspelling.
pub(crate) fn suggest<'c>(word: &str, candidates: &[&'c str]) -> Option<&'c str> {
    let word = word.to_ascii_lowercase();
    let limit = if word.len() <= 3 { 1 } else { 2 };
    candidates
        .iter()
        .map(|c| (edit_distance(&word, c), *c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Levenshtein distance (short ASCII words).
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = Vec::with_capacity(b.len() + 1);
        cur.push(i + 1);
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            let best = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
            cur.push(best);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// `s` starts with `prefix`, ASCII case-insensitively: the rest.
pub(crate) fn strip_prefix_ci<'s>(s: &'s str, prefix: &str) -> Option<&'s str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

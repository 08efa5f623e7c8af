//! The lookup orders of sendmail X README §3.12.1.
//!
//! A map answers for one exact key ([`crate::Map::get`]); this module turns
//! an item (a domain, an IPv4 address, an address `user+detail@domain`) into
//! the ordered list of keys to try, and tries them:
//!
//! - [`domain_keys`]: `sub2.sub1.tld`, `.sub1.tld`, `.tld`, and `.` only for
//!   maps that ask for a default entry (mailertable). There is no implicit
//!   parent match: `sub2.sub1.tld` matches neither `sub1.tld` nor `tld`.
//! - [`ipv4_keys`]: `A.B.C.D`, `A.B.C`, `A.B`, `A` (no trailing dots).
//! - [`address_keys`]: for every domain form of [`domain_keys`] (without
//!   `.`), steps 1a–1f, then, when the map asks for it
//!   ([`AddressOptions::localpart_fallback`]), the local-part steps 2a–2e.
//!   Each key comes as a [`Candidate`] carrying what the RHS macros of §3.12.3
//!   ([`crate::macros`]) need.
//! - [`first_match`] / [`probe`]: try keys under a tag (`from:`, `to:`,
//!   `cltaddr:`...) and report every key tried; [`lookup`] classifies an
//!   item and does the whole thing (used by `createmap --lookup` and SMAR).
//!
//! Decisions where the seed leaves room:
//!
//! - The delimiter (`address_delimiter`, default `+`) separates user and
//!   detail; the *second* character of the `++` and `+*` patterns is always a
//!   literal `+` / `*` (§3.12.1 1b: "the second `+` character is a fixed
//!   metacharacter, it does not depend on address_delimiter"). With delimiter
//!   `-` the keys for `user-detail@d` are `user-detail@d`, `user-+@d`,
//!   `user-*@d`, `user*@d`, ...
//! - The local part is split at the *first* delimiter: `a+b+c` is user `a`,
//!   detail `b+c`.
//! - Keys are lower-cased (maps are compiled with folded keys by default);
//!   the fields of a [`Candidate`] keep the case of the input, so a macro
//!   such as `${detail}` copies what the sender wrote.
//! - A trailing dot of a domain is ignored. A domain literal (`[10.1.2.3]`)
//!   is only looked up verbatim: it has no parent domains.
//! - `@.domain` matches strict subdomains only: `x@a.spammer.domain` matches
//!   `@.spammer.domain`, `x@spammer.domain` does not (it needs
//!   `@spammer.domain`); this is the domain order applied to step 1f.
//! - Step 1e (`user@sub`) and step 2e (`user`) are only tried for an address
//!   with a `+detail` (even an empty one) when `implicitly_match_detail` is
//!   set — "this does not match if +detail exists" is implemented by not
//!   asking the map.
//! - An address with an empty local part (`@domain`) is looked up with step
//!   1f only; the empty address `<>` is looked up verbatim as `<>`.
//! - A key that was already tried is not asked again (only possible with odd
//!   input such as `a..b`).

use std::net::Ipv4Addr;

use crate::{Map, MapError};

/// How addresses are split and which optional steps of §3.12.1 a map wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddressOptions {
    /// `address_delimiter` (§3.9.2 item 2), default `+`.
    pub delimiter: char,
    /// Let `user@domain` (1e) and `user` (2e) match an address that has a
    /// `+detail` (aliases and local_user_map flag, §3.9.2 items 3b, 7b).
    pub implicitly_match_detail: bool,
    /// Step 2 of §3.12.1: after every domain form, try the local part alone
    /// (aliases with local parts, the access map's `to:root`).
    pub localpart_fallback: bool,
    /// Step 1f: try `@domain` (and `@.domain`) patterns.
    pub domain_match: bool,
}

impl Default for AddressOptions {
    /// Delimiter `+`, no implicit detail match, no local-part fallback,
    /// `@domain` patterns tried.
    fn default() -> Self {
        AddressOptions {
            delimiter: '+',
            implicitly_match_detail: false,
            localpart_fallback: false,
            domain_match: true,
        }
    }
}

/// One key of an address lookup and the parts of the address it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// The key to look up (lower-cased, without tag).
    pub key: String,
    /// The user part of the address (before the delimiter).
    pub user: String,
    /// The detail (after the delimiter); `Some("")` for `user+@domain`.
    pub detail: Option<String>,
    /// The domain of the input address (empty for a bare local part).
    pub domain: String,
    /// For a `.domain` pattern, the part of the input domain before it:
    /// `host` for the pattern `@.domain` and the input `host.domain`.
    /// `None` for an exact domain and for local-part keys.
    pub subdomain: Option<String>,
    /// The delimiter the address was split with.
    pub delimiter: char,
}

/// A matching key: the key without tag, its value, and every full key
/// (with tag) tried up to and including the match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Match {
    /// The key that matched, without tag.
    pub key: String,
    /// Its value in the map.
    pub value: String,
    /// Every key tried, in order, with tag; the last one matched.
    pub tried: Vec<String>,
}

/// What a lookup found, if anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// The key that matched, without tag.
    pub key: String,
    /// Its value in the map.
    pub value: String,
    /// For an address lookup, the candidate that matched (for the macros of
    /// §3.12.3); `None` for domains and IPv4 addresses.
    pub candidate: Option<Candidate>,
}

/// The outcome of a lookup: the match, if any, and every key tried.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Lookup {
    /// The first key that had a value.
    pub found: Option<Found>,
    /// Every full key asked (with tag), in order; when something was found
    /// the last one is the match.
    pub tried: Vec<String>,
}

impl Lookup {
    /// The value found, if any.
    pub fn value(&self) -> Option<&str> {
        self.found.as_ref().map(|f| f.value.as_str())
    }
}

/// How [`lookup`] understood an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemClass {
    /// An IPv4 address: [`ipv4_keys`].
    Ipv4,
    /// Contains `@`: [`address_keys`].
    Address,
    /// A host or domain name: [`domain_keys`].
    Domain,
    /// A local part (`user`, `user+detail`): the local-part steps 2a–2e.
    LocalPart,
    /// Looked up as given (the empty address `<>`).
    Verbatim,
}

/// The keys for a domain name, most specific first (§3.12.1).
///
/// `sub2.sub1.tld` gives `sub2.sub1.tld`, `.sub1.tld`, `.tld`, and `.` when
/// `with_default` (mailertable's default entry). Lower-cased; a trailing dot
/// of the input is ignored; a domain literal `[...]` gives only itself.
pub fn domain_keys(domain: &str, with_default: bool) -> Vec<String> {
    let domain = normalize_domain(domain);
    let mut keys = Vec::new();
    if !domain.is_empty() {
        keys.push(domain.clone());
        if !domain.starts_with('[') {
            for (i, _) in domain.match_indices('.').filter(|(i, _)| *i > 0) {
                keys.push(domain[i..].to_string());
            }
        }
    }
    if with_default {
        keys.push(".".to_string());
    }
    keys
}

/// The keys for an IPv4 address: `A.B.C.D`, `A.B.C`, `A.B`, `A` (§3.12.1).
pub fn ipv4_keys(ip: Ipv4Addr) -> Vec<String> {
    let o = ip.octets();
    vec![
        format!("{}.{}.{}.{}", o[0], o[1], o[2], o[3]),
        format!("{}.{}.{}", o[0], o[1], o[2]),
        format!("{}.{}", o[0], o[1]),
        format!("{}", o[0]),
    ]
}

/// The keys for an address `<user+detail@domain>` in the order of §3.12.1.
///
/// Angle brackets are stripped. For each form of the domain ([`domain_keys`]
/// without `.`): 1a `user+detail@sub` (if `+detail` exists), 1b `user++@sub`
/// (if the detail is not empty), 1c `user+*@sub` (if `+detail` exists),
/// 1d `user*@sub`, 1e `user@sub` (with a `+detail` only when
/// `implicitly_match_detail`), 1f `@sub` (when `domain_match`). Then, when
/// `localpart_fallback`, 2a–2e: the same without `@sub`. An input without
/// `@` is a bare local part and yields only steps 2a–2e.
pub fn address_keys(addr: &str, opts: &AddressOptions) -> Vec<Candidate> {
    let addr = strip_brackets(addr);
    let (local, domain) = match addr.rfind('@') {
        Some(at) => (&addr[..at], Some(strip_trailing_dot(&addr[at + 1..]))),
        None => (addr, None),
    };
    let (user, detail) = match local.find(opts.delimiter) {
        Some(i) => (&local[..i], Some(&local[i + opts.delimiter.len_utf8()..])),
        None => (local, None),
    };
    let base = Candidate {
        key: String::new(),
        user: user.to_string(),
        detail: detail.map(str::to_string),
        domain: domain.unwrap_or("").to_string(),
        subdomain: None,
        delimiter: opts.delimiter,
    };
    let locals = local_patterns(user, detail, opts);
    let mut out = Vec::new();
    if let Some(domain) = domain.filter(|d| !d.is_empty()) {
        for form in domain_keys(domain, false) {
            let subdomain = subdomain_of(domain, &form);
            let mut push = |key: String| {
                out.push(Candidate {
                    key,
                    subdomain: subdomain.clone(),
                    ..base.clone()
                })
            };
            if !local.is_empty() {
                for l in &locals {
                    push(format!("{l}@{form}"));
                }
            }
            if opts.domain_match {
                push(format!("@{form}"));
            }
        }
        if !opts.localpart_fallback || local.is_empty() {
            return out;
        }
    }
    if !local.is_empty() {
        for l in locals {
            out.push(Candidate {
                key: l,
                ..base.clone()
            });
        }
    }
    out
}

/// Steps a–e of §3.12.1 for one local part, lower-cased.
fn local_patterns(user: &str, detail: Option<&str>, opts: &AddressOptions) -> Vec<String> {
    let user = user.to_lowercase();
    let d = opts.delimiter.to_lowercase().collect::<String>();
    let mut keys = Vec::with_capacity(5);
    if let Some(detail) = detail {
        keys.push(format!("{user}{d}{}", detail.to_lowercase()));
        if !detail.is_empty() {
            // The second `+` is a fixed metacharacter (§3.12.1 1b).
            keys.push(format!("{user}{d}+"));
        }
        keys.push(format!("{user}{d}*"));
    }
    keys.push(format!("{user}*"));
    if detail.is_none() || opts.implicitly_match_detail {
        keys.push(user);
    }
    keys
}

/// The part of `domain` before the pattern `form` when `form` is a
/// `.parent` pattern: `host` for `host.domain` and `.domain`.
fn subdomain_of(domain: &str, form: &str) -> Option<String> {
    if !form.starts_with('.') {
        return None;
    }
    let cut = domain.len().checked_sub(form.len())?;
    domain.get(..cut).map(str::to_string)
}

fn strip_brackets(s: &str) -> &str {
    let s = s.trim();
    match s.strip_prefix('<').and_then(|s| s.strip_suffix('>')) {
        Some(inner) => inner.trim(),
        None => s,
    }
}

fn strip_trailing_dot(d: &str) -> &str {
    d.strip_suffix('.').unwrap_or(d)
}

fn normalize_domain(d: &str) -> String {
    strip_trailing_dot(d.trim()).to_lowercase()
}

/// The full key for `key` under `tag`: `tag:key`. A tag may be given with
/// or without its colon (`from` or `from:`); an empty tag adds nothing.
pub fn tagged(tag: &str, key: &str) -> String {
    if tag.is_empty() {
        key.to_string()
    } else if tag.ends_with(':') {
        format!("{tag}{key}")
    } else {
        format!("{tag}:{key}")
    }
}

/// Try `keys` under `tag` in order; the first key with a value wins.
///
/// Returns `Ok(None)` when no key matched; use [`probe`] to also learn
/// which keys were tried then. A map error stops the lookup: a temporary
/// failure must become a 4xx, not a "not found".
pub fn first_match<'a>(
    map: &dyn Map,
    tag: &str,
    keys: impl IntoIterator<Item = &'a str>,
) -> Result<Option<Match>, MapError> {
    let lookup = probe(map, tag, keys)?;
    Ok(lookup.found.map(|f| Match {
        key: f.key,
        value: f.value,
        tried: lookup.tried,
    }))
}

/// Like [`first_match`], but always reports the keys tried.
pub fn probe<'a>(
    map: &dyn Map,
    tag: &str,
    keys: impl IntoIterator<Item = &'a str>,
) -> Result<Lookup, MapError> {
    let mut lookup = Lookup::default();
    for key in keys {
        let full = tagged(tag, key);
        if lookup.tried.contains(&full) {
            continue;
        }
        let value = map.get(&full)?;
        lookup.tried.push(full);
        if let Some(value) = value {
            lookup.found = Some(Found {
                key: key.to_string(),
                value,
                candidate: None,
            });
            break;
        }
    }
    Ok(lookup)
}

/// Try the candidates of [`address_keys`] under `tag`; the match carries its
/// candidate for macro expansion.
pub fn probe_candidates(
    map: &dyn Map,
    tag: &str,
    candidates: &[Candidate],
) -> Result<Lookup, MapError> {
    let mut lookup = probe(map, tag, candidates.iter().map(|c| c.key.as_str()))?;
    if let Some(found) = lookup.found.as_mut() {
        found.candidate = candidates.iter().find(|c| c.key == found.key).cloned();
    }
    Ok(lookup)
}

/// How [`lookup`] classifies an item.
///
/// 1. Angle brackets are stripped; the empty address `<>` is
///    [`ItemClass::Verbatim`].
/// 2. An IPv4 address in dotted-quad form is [`ItemClass::Ipv4`].
/// 3. An item with `@` is an [`ItemClass::Address`].
/// 4. A domain literal `[...]` is a [`ItemClass::Domain`] (looked up
///    verbatim, see [`domain_keys`]).
/// 5. Any other item without `@` is a [`ItemClass::Domain`] when it is shaped like
///    a host name (only letters, digits, `-`, `_`, `.`) and either contains
///    a dot or the options do not ask for local-part lookups
///    (`localpart_fallback` off). Otherwise it is a
///    [`ItemClass::LocalPart`]: so with local-part lookups on, `root` and
///    `user+detail` are local parts and `mail.example.com` is a domain.
pub fn classify(item: &str, opts: &AddressOptions) -> ItemClass {
    let item = strip_brackets(item);
    if item.is_empty() {
        return ItemClass::Verbatim;
    }
    if item.parse::<Ipv4Addr>().is_ok() {
        return ItemClass::Ipv4;
    }
    if item.contains('@') {
        return ItemClass::Address;
    }
    if item.starts_with('[') && item.ends_with(']') {
        return ItemClass::Domain;
    }
    let hostname_shaped = item
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if hostname_shaped && (item.contains('.') || !opts.localpart_fallback) {
        ItemClass::Domain
    } else {
        ItemClass::LocalPart
    }
}

/// Look `item` up in `map` under `tag` with the order [`classify`] picks.
///
/// Domains are looked up without the default entry `.`; use
/// [`lookup_with_default`] for mailertable.
pub fn lookup(
    map: &dyn Map,
    item: &str,
    tag: Option<&str>,
    opts: &AddressOptions,
) -> Result<Lookup, MapError> {
    lookup_with_default(map, item, tag, opts, false)
}

/// [`lookup`], and for a domain also the default entry `.` when
/// `with_default` (mailertable, §3.9.3).
pub fn lookup_with_default(
    map: &dyn Map,
    item: &str,
    tag: Option<&str>,
    opts: &AddressOptions,
    with_default: bool,
) -> Result<Lookup, MapError> {
    let tag = tag.unwrap_or("");
    let bare = strip_brackets(item);
    match classify(item, opts) {
        ItemClass::Verbatim => probe(map, tag, ["<>"]),
        ItemClass::Ipv4 => {
            let keys = bare.parse::<Ipv4Addr>().map(ipv4_keys).unwrap_or_default();
            probe(map, tag, keys.iter().map(String::as_str))
        }
        ItemClass::Domain => {
            let keys = domain_keys(bare, with_default);
            probe(map, tag, keys.iter().map(String::as_str))
        }
        ItemClass::Address | ItemClass::LocalPart => {
            probe_candidates(map, tag, &address_keys(bare, opts))
        }
    }
}

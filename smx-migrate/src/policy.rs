//! What the old system would do, kept by the readers for `smx-migrate
//! verify`: the relaying policy (who may relay, to which domains) and, for
//! every converted map entry, the item to look up and the answer the old
//! system's lookup order gives (seed 001 access/mailertable/virtusertable
//! semantics; seed 003 postconf(5), transport(5), virtual(5), access(5)).

use std::net::Ipv4Addr;

/// The old system's relaying policy.
#[derive(Debug, Clone, Default)]
pub struct OldPolicy {
    /// Client networks that may relay (address, prefix length).
    pub networks: Vec<(Ipv4Addr, u32)>,
    /// Domains mail is accepted for; `true` means subdomains too.
    pub domains: Vec<(String, bool)>,
    /// Whether the old policy checks the destination at all (Postfix
    /// without reject_unauth_destination in any list is an open relay).
    pub checks_destination: bool,
    /// Exact recipient addresses the old system relays to.
    pub addresses: Vec<String>,
}

impl OldPolicy {
    /// Whether `ip` is in a relaying network.
    pub fn client_relays(&self, ip: Ipv4Addr) -> bool {
        self.networks.iter().any(|(net, len)| {
            let mask = if *len == 0 { 0 } else { u32::MAX << (32 - len) };
            u32::from(ip) & mask == u32::from(*net) & mask
        })
    }

    /// Whether mail for `rcpt` is accepted from a client that may not relay.
    pub fn rcpt_accepted(&self, rcpt: &str) -> bool {
        if !self.checks_destination {
            return true;
        }
        let rcpt = rcpt.to_lowercase();
        if self.addresses.contains(&rcpt) {
            return true;
        }
        let domain = rcpt.rsplit_once('@').map(|(_, d)| d).unwrap_or("");
        self.domains
            .iter()
            .any(|(d, sub)| domain == d || (*sub && domain.ends_with(&format!(".{d}"))))
    }

    /// Whether the old system relays `rcpt` for `ip`.
    pub fn relays(&self, ip: Ipv4Addr, rcpt: &str) -> bool {
        self.client_relays(ip) || self.rcpt_accepted(rcpt)
    }
}

/// Which smx map a check looks in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapName {
    /// The mailertable (domain lookups with the default `.`).
    Mailertable,
    /// The aliases (address lookups).
    Aliases,
    /// The access map (with a tag).
    Access,
}

/// One converted entry, as the old system would answer for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// The smx map.
    pub map: MapName,
    /// The access tag (`cltaddr`, `to`, ...), for the access map.
    pub tag: Option<String>,
    /// What is looked up (a domain, an address, an IP address).
    pub item: String,
    /// The old answer, in smx's RHS syntax (`None`: no match).
    pub expected: Option<String>,
    /// `file:line` of the source entry.
    pub origin: String,
}

/// A probe item for a domain key: `.x.y` → `sub.x.y`.
pub fn domain_probe(key: &str) -> String {
    match key.strip_prefix('.') {
        Some(rest) => format!("sub.{rest}"),
        None => key.to_string(),
    }
}

/// Domain lookup in the old tables: exact, then `.parent` forms, then the
/// default (`*` for Postfix transport, `.` for sendmail mailertable).
pub fn old_domain_lookup<'a>(
    entries: &'a [(String, Option<String>)],
    domain: &str,
    default_key: &str,
) -> Option<&'a Option<String>> {
    let d = domain.to_lowercase();
    let find = |k: &str| entries.iter().find(|(key, _)| key == k).map(|(_, v)| v);
    if let Some(v) = find(&d) {
        return Some(v);
    }
    let mut rest = d.as_str();
    while let Some((_, parent)) = rest.split_once('.') {
        if let Some(v) = find(&format!(".{parent}")) {
            return Some(v);
        }
        rest = parent;
    }
    find(default_key)
}

//! `smx-migrate verify`: every converted map entry is looked up through the
//! old system's semantics (recorded by the readers as [`Check`]s) and
//! through smx's lookup orders (sendmail X README §3.12.1, with smx-maps'
//! own `lookup`), and the relaying decisions of both systems are compared
//! for sample client addresses and recipients (README §3.12.2 "RCPT":
//! local domain by `lmtp:` mailertable entry, `cltaddr:` relay, `to:`
//! relay). A recipient smx would relay for a client the old system refused
//! is an open relay introduced by the migration: an error (exit 1).

use crate::policy::{Check, MapName};
use crate::site::{Entry, Site};
use crate::Migration;
use serde::Serialize;
use smx_maps::lookup::{self, AddressOptions};
use smx_maps::{Map, MapError};
use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::Ipv4Addr;

struct Mem(HashMap<String, String>);

impl Map for Mem {
    fn get(&self, key: &str) -> Result<Option<String>, MapError> {
        Ok(self.0.get(key).cloned())
    }
}

fn mem(entries: &[Entry]) -> Mem {
    Mem(entries
        .iter()
        .map(|e| (e.key.clone(), e.value.clone()))
        .collect())
}

/// One difference.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Difference {
    /// `map`, `relay` or `open_relay`.
    pub what: String,
    /// What was looked up.
    pub item: String,
    /// The old system's answer.
    pub old: String,
    /// smx's answer.
    pub smx: String,
    /// Where the entry came from.
    pub origin: String,
}

/// The verification result.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Verification {
    /// Map lookups compared.
    pub lookups: usize,
    /// (client, recipient) pairs compared.
    pub relay_samples: usize,
    /// Every difference.
    pub differences: Vec<Difference>,
}

impl Verification {
    /// Whether the migration introduces an open relay.
    pub fn open_relay(&self) -> bool {
        self.differences.iter().any(|d| d.what == "open_relay")
    }

    /// 1 with an open relay, else 0.
    pub fn exit_code(&self) -> i32 {
        i32::from(self.open_relay())
    }

    /// For people.
    pub fn human(&self) -> String {
        let mut o = String::new();
        for d in &self.differences {
            let _ = writeln!(
                o,
                "{}: {}: old: {}; smx: {}{}",
                if d.what == "open_relay" {
                    "ERROR open relay"
                } else {
                    d.what.as_str()
                },
                d.item,
                d.old,
                d.smx,
                if d.origin.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", d.origin)
                }
            );
        }
        let _ = writeln!(
            o,
            "{} lookups and {} relay samples compared, {} differences{}",
            self.lookups,
            self.relay_samples,
            self.differences.len(),
            if self.open_relay() {
                "; the migration introduces an OPEN RELAY"
            } else {
                ""
            }
        );
        o
    }

    /// As JSON.
    pub fn json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    }
}

fn smx_lookup(site: &Site, c: &Check) -> Option<String> {
    let opts = AddressOptions::default();
    let r = match c.map {
        MapName::Mailertable => {
            lookup::lookup_with_default(&mem(&site.mailertable), &c.item, None, &opts, true)
        }
        MapName::Aliases => {
            let opts = AddressOptions {
                localpart_fallback: true,
                ..opts
            };
            lookup::lookup(&mem(&site.aliases), &c.item, None, &opts)
        }
        MapName::Access => lookup::lookup(&mem(&site.access), &c.item, c.tag.as_deref(), &opts),
    };
    r.ok().and_then(|l| l.value().map(str::to_string))
}

fn access_relay(site: &Site, tag: &str, item: &str) -> bool {
    let map = mem(&site.access);
    let l = match item.parse::<Ipv4Addr>() {
        Ok(ip) => {
            let keys = lookup::ipv4_keys(ip);
            lookup::probe(&map, tag, keys.iter().map(String::as_str))
        }
        Err(_) => lookup::lookup(&map, item, Some(tag), &AddressOptions::default()),
    };
    l.ok()
        .and_then(|l| l.value().map(|v| v == "relay"))
        .unwrap_or(false)
}

/// Whether smx relays `rcpt` for `ip` (README §3.12.2).
pub fn smx_relays(site: &Site, ip: Ipv4Addr, rcpt: &str) -> bool {
    let domain = rcpt.rsplit_once('@').map(|(_, d)| d).unwrap_or("");
    let mt = mem(&site.mailertable);
    let local = lookup::lookup_with_default(&mt, domain, None, &AddressOptions::default(), true)
        .ok()
        .and_then(|l| l.value().map(|v| v.contains("lmtp:")))
        .unwrap_or(false);
    local
        || (!site.access.is_empty()
            && (access_relay(site, "cltaddr", &ip.to_string()) || access_relay(site, "to", rcpt)))
}

/// Runs all comparisons.
pub fn verify(m: &Migration) -> Verification {
    let mut v = Verification::default();
    for c in &m.checks {
        v.lookups += 1;
        let got = smx_lookup(&m.site, c);
        if got != c.expected {
            v.differences.push(Difference {
                what: "map".into(),
                item: format!(
                    "{}{}",
                    c.tag
                        .as_deref()
                        .map(|t| format!("{t}:"))
                        .unwrap_or_default(),
                    c.item
                ),
                old: c.expected.clone().unwrap_or_else(|| "(no match)".into()),
                smx: got.unwrap_or_else(|| "(no match)".into()),
                origin: c.origin.clone(),
            });
        }
    }
    // Sample clients: inside and just outside every relaying network, the
    // loopback address and documentation addresses.
    let mut ips: Vec<Ipv4Addr> = vec![
        Ipv4Addr::LOCALHOST,
        Ipv4Addr::new(192, 0, 2, 1),
        Ipv4Addr::new(198, 51, 100, 7),
        Ipv4Addr::new(203, 0, 113, 200),
    ];
    for (net, len) in &m.policy.networks {
        let base = u32::from(*net);
        let size = if *len >= 32 { 1 } else { 1u64 << (32 - len) };
        ips.push(Ipv4Addr::from(base.wrapping_add(1)));
        ips.push(Ipv4Addr::from(
            base.wrapping_add(size.min(u64::from(u32::MAX)) as u32),
        ));
        ips.push(Ipv4Addr::from(base.wrapping_sub(1)));
    }
    for e in &m.site.access {
        if let Some(net) = e.key.strip_prefix("cltaddr:") {
            let mut parts: Vec<&str> = net.split('.').collect();
            while parts.len() < 4 {
                parts.push("1");
            }
            if let Ok(ip) = parts.join(".").parse() {
                ips.push(ip);
            }
        }
    }
    ips.sort();
    ips.dedup();
    let mut rcpts = vec![
        "user@example.net".to_string(),
        "user@example.com.evil.test".to_string(),
    ];
    let mut domains: Vec<String> = m.policy.domains.iter().map(|(d, _)| d.clone()).collect();
    for e in m.site.mailertable.iter().chain(m.site.access.iter()) {
        let k = e.key.strip_prefix("to:@").unwrap_or(&e.key);
        if k != "." && !k.contains(':') {
            domains.push(k.trim_start_matches('.').to_string());
        }
    }
    domains.sort();
    domains.dedup();
    for d in &domains {
        rcpts.push(format!("user@{d}"));
        rcpts.push(format!("user@sub.{d}"));
        rcpts.push(format!("user@{d}.evil.test"));
    }
    rcpts.extend(m.policy.addresses.iter().cloned());
    for ip in &ips {
        for r in &rcpts {
            v.relay_samples += 1;
            let old = m.policy.relays(*ip, r);
            let new = smx_relays(&m.site, *ip, r);
            if old != new {
                v.differences.push(Difference {
                    what: if new {
                        "open_relay".into()
                    } else {
                        "relay".into()
                    },
                    item: format!("client {ip} rcpt {r}"),
                    old: if old { "relays" } else { "refuses" }.into(),
                    smx: if new { "relays" } else { "refuses" }.into(),
                    origin: String::new(),
                });
            }
        }
    }
    v
}

//! Routing one recipient for the QMGR (README §3.9.3 "Mailertable", §3.12.1;
//! RFC 5321 §5.1; RFC 7505): aliases first ([`super::aliases`]), then for
//! each resulting address the mailertable, then DNS.
//!
//! - A domain literal `user@[192.0.2.1]` goes to that address, port 25.
//! - `lmtp:` → [`NextHop::LmtpUnix`] on smtpc's `LMTP_socket`.
//! - `port^lmtp:hosts` → [`NextHop::Hosts`] with `lmtp`; `[port^][esmtp:]
//!   hosts` → [`NextHop::Hosts`] (port 25 by default). A host in brackets is
//!   used as is; a host name is subject to MX lookups (its MX hosts' A
//!   records, else its own A records). A mailertable host that does not
//!   resolve is a temporary failure (`451 4.4.3`): it is the postmaster's
//!   configuration, not the sender's mistake.
//! - No mailertable entry: the domain's MX records in preference order,
//!   equal preferences in random order, each host's A records; without MX
//!   records the domain's A records. A temporary DNS failure is
//!   `451 4.4.3`; NXDOMAIN, or neither MX nor A records, is `550 5.1.2`; a
//!   null MX (`MX 0 .`) is `556 5.1.10`.
//!
//! An address without a domain (`postmaster`) is qualified with the host
//! name first. When aliases give several addresses, a temporary failure of
//! any one fails the whole request temporarily (the QMGR tries again later,
//! none was delivered); addresses that fail permanently while others route
//! are logged and left out, and if all fail the first permanent failure is
//! the answer.

use super::aliases::{self, ExpandError};
use super::dns::{Dns, DnsError};
use super::tables::Tables;
use crate::proto::{NextHop, Resolved, SmarAnswer, SmtpReply};
use smx_maps::kind::{Host, Route};
use std::hash::{BuildHasher, Hasher};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// What the tables say about one address, before DNS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// The next hop is known.
    Ready(NextHop),
    /// Resolve these mailertable hosts.
    Hosts {
        /// LMTP instead of ESMTP.
        lmtp: bool,
        /// The port.
        port: u16,
        /// The hosts, in order.
        hosts: Vec<Host>,
    },
    /// Look up the MX records of this domain.
    Mx(String),
}

/// One address with its plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    /// The final address.
    pub address: String,
    /// The envelope sender of its list, if any.
    pub sender: Option<String>,
    /// How to find its next hop.
    pub plan: Plan,
}

/// The SMTP port.
const SMTP_PORT: u16 = 25;

fn dns_temp(text: impl Into<String>) -> SmtpReply {
    SmtpReply::new(451, "4.4.3", text)
}

/// A domain literal `[192.0.2.1]` or `[IPv6:2001:db8::1]`.
pub fn literal(domain: &str) -> Option<IpAddr> {
    let inner = domain.strip_prefix('[')?.strip_suffix(']')?;
    match inner.get(..5) {
        Some(p) if p.eq_ignore_ascii_case("ipv6:") => inner[5..].parse().ok(),
        _ => inner.parse::<Ipv4Addr>().ok().map(IpAddr::V4),
    }
}

impl Tables {
    /// `postmaster` → `postmaster@hostname`.
    pub fn qualify(&self, address: &str) -> String {
        if address.contains('@') {
            address.to_string()
        } else {
            format!("{address}@{}", self.hostname)
        }
    }

    /// Aliases and mailertable for `address` (no DNS).
    pub fn plan(&self, address: &str) -> Result<Vec<Planned>, SmtpReply> {
        let address = self.qualify(address);
        let expanded = match &self.aliases {
            None => vec![(address.clone(), None)],
            Some(a) => match a.expand(&address, &self.mailertable, &self.hostname) {
                Ok(v) => v.into_iter().map(|e| (e.address, e.sender)).collect(),
                Err(ExpandError::TooDeep(a)) => {
                    return Err(SmtpReply::new(
                        554,
                        "5.4.6",
                        format!("<{a}>: alias loop or aliases nested too deeply"),
                    ))
                }
                Err(e) => {
                    return Err(SmtpReply::new(
                        451,
                        "4.3.0",
                        format!("temporary lookup failure: {e}"),
                    ))
                }
            },
        };
        let mut out = Vec::with_capacity(expanded.len());
        for (address, sender) in expanded {
            let (_, domain) = aliases::split(&address);
            let plan = if let Some(ip) = literal(domain) {
                Plan::Ready(NextHop::Hosts {
                    lmtp: false,
                    addrs: vec![SocketAddr::new(ip, SMTP_PORT)],
                    names: vec![String::new()],
                })
            } else {
                match self.mailertable.route(domain) {
                    Err(e) => {
                        return Err(SmtpReply::new(
                            451,
                            "4.3.0",
                            format!("temporary lookup failure: {e}"),
                        ))
                    }
                    Ok(None) => Plan::Mx(domain.to_ascii_lowercase()),
                    Ok(Some(Route::LmtpLocal)) => Plan::Ready(NextHop::LmtpUnix {
                        path: self.lmtp_socket.clone(),
                    }),
                    Ok(Some(Route::Lmtp { port, hosts })) => Plan::Hosts {
                        lmtp: true,
                        port,
                        hosts,
                    },
                    Ok(Some(Route::Esmtp { port, hosts })) => Plan::Hosts {
                        lmtp: false,
                        port: port.unwrap_or(SMTP_PORT),
                        hosts,
                    },
                }
            };
            out.push(Planned {
                address,
                sender,
                plan,
            });
        }
        Ok(out)
    }
}

/// A random number for shuffling MX hosts of equal preference.
fn random() -> u64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64),
    );
    h.finish()
}

/// MX records in preference order, equal preferences shuffled.
pub fn order_mx(mut mx: Vec<(u16, String)>) -> Vec<(u16, String)> {
    // Sort by (preference, random key): a shuffle within each preference.
    let mut keyed: Vec<(u16, u64, String)> = mx.drain(..).map(|(p, h)| (p, random(), h)).collect();
    keyed.sort_by_key(|(p, r, _)| (*p, *r));
    keyed.into_iter().map(|(p, _, h)| (p, h)).collect()
}

/// Addresses of one destination: (address, host name) pairs.
type Targets = Vec<(Ipv4Addr, String)>;

/// Says whether an address found by MX/A lookups may be used: `None`, or
/// the refusal of its `mxbadip:` access-map entry (README §3.9.3, e.g.
/// `mxbadip:127.0.0.1 error:551 5.7.1 Bad IP address in MX/A list`).
pub type BadIp<'a> = &'a (dyn Fn(Ipv4Addr) -> Option<SmtpReply> + Sync);

/// The targets of a domain by MX, else A (RFC 5321 §5.1), without the
/// addresses `bad` refuses; if it refuses all of them, its reply.
async fn by_mx(dns: &Dns, domain: &str, bad: BadIp<'_>) -> Result<Targets, SmtpReply> {
    let all = by_mx_unchecked(dns, domain).await?;
    let mut refused = None;
    let ok: Targets = all
        .into_iter()
        .filter(|(ip, _)| match bad(*ip) {
            Some(r) => {
                refused = Some(r);
                false
            }
            None => true,
        })
        .collect();
    match (ok.is_empty(), refused) {
        (true, Some(r)) => Err(r),
        _ => Ok(ok),
    }
}

async fn by_mx_unchecked(dns: &Dns, domain: &str) -> Result<Targets, SmtpReply> {
    let mx = match dns.mx(domain).await {
        Ok(mx) => mx,
        Err(DnsError::NoData(_)) => {
            return match dns.a(domain).await {
                Ok(a) => Ok(a.into_iter().map(|ip| (ip, domain.to_string())).collect()),
                Err(e) if e.is_temporary() => Err(dns_temp(e.to_string())),
                Err(_) => Err(SmtpReply::new(
                    550,
                    "5.1.2",
                    format!("{domain}: no MX or A records"),
                )),
            };
        }
        Err(e @ DnsError::NoDomain(_)) => {
            return Err(SmtpReply::new(550, "5.1.2", e.to_string()));
        }
        Err(e) => return Err(dns_temp(e.to_string())),
    };
    // RFC 7505: a single MX of `.` says the domain accepts no mail.
    if mx.len() == 1 && mx[0].1 == "." {
        return Err(SmtpReply::new(
            556,
            "5.1.10",
            format!("{domain}: domain does not accept mail (null MX)"),
        ));
    }
    let mut out = Vec::new();
    let mut temporary = None;
    for (_, host) in order_mx(mx) {
        if host == "." {
            continue;
        }
        match dns.a(&host).await {
            Ok(a) => out.extend(a.into_iter().map(|ip| (ip, host.clone()))),
            Err(e) if e.is_temporary() => temporary = temporary.or(Some(e.to_string())),
            Err(_) => {}
        }
    }
    if !out.is_empty() {
        return Ok(out);
    }
    match temporary {
        Some(t) => Err(dns_temp(t)),
        None => Err(SmtpReply::new(
            550,
            "5.1.2",
            format!("{domain}: no address for any MX host"),
        )),
    }
}

fn hosts(lmtp: bool, port: u16, t: Targets) -> NextHop {
    let (addrs, names) = t
        .into_iter()
        .map(|(ip, name)| (SocketAddr::new(IpAddr::V4(ip), port), name))
        .unzip();
    NextHop::Hosts { lmtp, addrs, names }
}

/// The next hop of one plan; `bad` checks addresses found in the DNS
/// (not bracketed mailertable addresses, which the postmaster chose).
pub async fn resolve_plan(dns: &Dns, plan: &Plan, bad: BadIp<'_>) -> Result<NextHop, SmtpReply> {
    match plan {
        Plan::Ready(n) => Ok(n.clone()),
        Plan::Mx(domain) => by_mx(dns, domain, bad)
            .await
            .map(|t| hosts(false, SMTP_PORT, t)),
        Plan::Hosts {
            lmtp,
            port,
            hosts: list,
        } => {
            let mut out = Vec::new();
            let mut why = None;
            for h in list {
                match h {
                    Host::Ip(ip) => out.push((*ip, String::new())),
                    Host::Name(n) => match by_mx(dns, &n.to_ascii_lowercase(), bad).await {
                        Ok(t) => out.extend(t),
                        Err(r) => why = why.or(Some(r.text)),
                    },
                }
            }
            if out.is_empty() {
                Err(dns_temp(format!(
                    "mailertable host does not resolve: {}",
                    why.unwrap_or_default()
                )))
            } else {
                Ok(hosts(*lmtp, *port, out))
            }
        }
    }
}

/// Resolves every planned address; `log` receives the addresses left out.
pub async fn resolve(
    dns: &Dns,
    planned: Vec<Planned>,
    bad: BadIp<'_>,
    log: &(dyn Fn(String) + Sync),
) -> SmarAnswer {
    let mut routed = Vec::new();
    let mut permanent = Vec::new();
    for p in planned {
        match resolve_plan(dns, &p.plan, bad).await {
            Ok(next) => routed.push(Resolved {
                address: p.address,
                sender: p.sender,
                next,
            }),
            Err(r) if r.is_temporary() => return SmarAnswer::Failed(r),
            Err(r) => permanent.push((p.address, r)),
        }
    }
    if routed.is_empty() {
        if let Some((_, r)) = permanent.into_iter().next() {
            return SmarAnswer::Failed(r);
        }
        return SmarAnswer::Failed(SmtpReply::new(550, "5.1.3", "no recipients"));
    }
    // Members of an alias that cannot be routed are bounced by the QMGR
    // (the others are delivered).
    for (address, reply) in permanent {
        log(format!(
            "<{address}>: member of an alias expansion refused: {reply}"
        ));
        routed.push(Resolved {
            address,
            sender: None,
            next: NextHop::Refused { reply },
        });
    }
    SmarAnswer::Routed(routed)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::smar::aliases::{AliasFlags, Aliases};
    use crate::smar::mailertable::Mailertable;
    use smx_maps::texthash::TextHash;
    use std::sync::Arc;

    fn tables() -> Tables {
        let a = TextHash::parse(
            "aliases",
            "list: <a@my.domain> <b@[192.0.2.7]> <local@localhost>\nowner-list: boss\n\
             postmaster: root\nroot: local:\n",
            true,
        )
        .unwrap();
        Tables {
            mailertable: Mailertable::parse(
                "localhost lmtp:\nlmtp.example 2001^lmtp:[10.11.12.13]\n\
                 my.domain esmtp:[10.1.2.3]\nspam.filter 2525^esmtp:[127.0.0.1] [127.0.0.2]\n\
                 mx.example esmtp:MTA.SERVER\n",
            )
            .unwrap(),
            aliases: Some(Aliases::new(
                Arc::new(a),
                AliasFlags {
                    localpart: true,
                    ..AliasFlags::default()
                },
                '+',
            )),
            hostname: "localhost".into(),
            delimiter: '+',
            lmtp_socket: "lmtpsock".into(),
            ..Tables::default()
        }
    }

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn mailertable_forms_become_next_hops() {
        let t = tables();
        let one = |a: &str| {
            let mut p = t.plan(a).unwrap();
            assert_eq!(p.len(), 1, "{p:?}");
            p.remove(0).plan
        };
        assert_eq!(
            one("x@localhost"),
            Plan::Ready(NextHop::LmtpUnix {
                path: "lmtpsock".into()
            })
        );
        assert_eq!(
            one("x@lmtp.example"),
            Plan::Hosts {
                lmtp: true,
                port: 2001,
                hosts: vec![Host::Ip("10.11.12.13".parse().unwrap())]
            }
        );
        assert_eq!(
            one("x@my.domain"),
            Plan::Hosts {
                lmtp: false,
                port: 25,
                hosts: vec![Host::Ip("10.1.2.3".parse().unwrap())]
            }
        );
        assert_eq!(
            one("x@mx.example"),
            Plan::Hosts {
                lmtp: false,
                port: 25,
                hosts: vec![Host::Name("MTA.SERVER".into())]
            }
        );
        assert_eq!(
            one("x@Elsewhere.Example"),
            Plan::Mx("elsewhere.example".into())
        );
        assert_eq!(
            one("x@[192.0.2.1]"),
            Plan::Ready(NextHop::Hosts {
                lmtp: false,
                addrs: vec![sa("192.0.2.1:25")],
                names: vec![String::new()]
            })
        );
        assert_eq!(literal("[IPv6:2001:db8::1]"), "2001:db8::1".parse().ok());
        assert_eq!(literal("[nonsense]"), None);
    }

    #[test]
    fn bracketed_hosts_resolve_without_dns() {
        let t = tables();
        let dns = Dns::new(
            &["127.0.0.1:9".parse().unwrap()],
            std::time::Duration::from_secs(1),
        );
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let p = t.plan("x@spam.filter").unwrap();
        let next = rt
            .block_on(resolve_plan(&dns, &p[0].plan, &|_| None))
            .unwrap();
        assert_eq!(
            next,
            NextHop::Hosts {
                lmtp: false,
                addrs: vec![sa("127.0.0.1:2525"), sa("127.0.0.2:2525")],
                names: vec![String::new(), String::new()]
            }
        );
        let p = t.plan("list@localhost").unwrap();
        let SmarAnswer::Routed(r) = rt.block_on(resolve(&dns, p, &|_| None, &|_| {})) else {
            panic!("not routed");
        };
        assert_eq!(r.len(), 3);
        assert_eq!(r[0].address, "a@my.domain");
        assert_eq!(r[1].next.key(), "smtp:192.0.2.7:25");
        assert_eq!(r[2].next.key(), "unix:lmtpsock");
        assert!(r
            .iter()
            .all(|x| x.sender.as_deref() == Some("owner-list@localhost")));
    }

    #[test]
    fn postmaster_is_qualified_then_aliased() {
        let t = tables();
        let p = t.plan("postmaster").unwrap();
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].address, "root@localhost");
    }

    #[test]
    fn equal_preferences_are_shuffled_order_kept() {
        let mx = vec![
            (20, "c".to_string()),
            (10, "a".to_string()),
            (10, "b".to_string()),
            (30, "d".to_string()),
        ];
        let mut seen_b_first = false;
        let mut seen_a_first = false;
        for _ in 0..200 {
            let o = order_mx(mx.clone());
            let prefs: Vec<u16> = o.iter().map(|(p, _)| *p).collect();
            assert_eq!(prefs, [10, 10, 20, 30]);
            assert_eq!(o[2].1, "c");
            match o[0].1.as_str() {
                "a" => seen_a_first = true,
                _ => seen_b_first = true,
            }
        }
        assert!(seen_a_first && seen_b_first);
    }
}

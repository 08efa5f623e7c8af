//! DNS based blacklists (README §3.9.2 item 4; RFC 5782).
//!
//! The client A.B.C.D is looked up as `D.C.B.A.domain` (A record) in every
//! configured list at once; the answers are then looked up in the access
//! map in the order the lists are configured, and the first entry that is
//! not `cont` is the result: `tag:W.X.Y.Z` for an answer W.X.Y.Z (each
//! answer of a list in the order received), `tag:temp` when the query
//! failed temporarily, `tag:perm` when it failed permanently. NXDOMAIN and
//! an empty answer mean "not listed" (RFC 5782 §2.1); `perm` is what a
//! query name that cannot be formed (a bad `domain`) gives.

use super::dns::{Dns, DnsError};
use super::policy::{self, Outcome};
use super::rcpt::Temporary;
use smx_grammar::config::SmarConf;
use smx_maps::Map;
use std::future::Future;
use std::net::Ipv4Addr;
use std::pin::Pin;
use std::task::Poll;

/// One blacklist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dnsbl {
    /// Its zone.
    pub domain: String,
    /// Its tag in the access map (lower case, no colon).
    pub tag: String,
}

/// The blacklists of `smar { dnsbl { } }`, in order (entries without
/// `domain` or `tag` are left out; `smxctl check` reports them).
pub fn from_conf(smar: &SmarConf) -> Vec<Dnsbl> {
    smar.dnsbl
        .iter()
        .filter_map(|i| {
            Some(Dnsbl {
                domain: i.conf.domain.clone()?.trim_end_matches('.').to_string(),
                tag: i.conf.tag.clone()?.to_ascii_lowercase(),
            })
        })
        .collect()
}

/// What one list answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// Not listed.
    Clean,
    /// Listed with these A records.
    Listed(Vec<Ipv4Addr>),
    /// The query failed temporarily.
    Temp,
    /// The query failed permanently.
    Perm,
}

/// The query name of `ip` in `domain`.
pub fn query_name(ip: Ipv4Addr, domain: &str) -> String {
    let o = ip.octets();
    format!("{}.{}.{}.{}.{domain}", o[3], o[2], o[1], o[0])
}

async fn one(dns: &Dns, ip: Ipv4Addr, list: &Dnsbl) -> Answer {
    let name = query_name(ip, &list.domain);
    if hickory_resolver::Name::from_utf8(&name).is_err() {
        return Answer::Perm;
    }
    match dns.a(&name).await {
        Ok(v) => Answer::Listed(v),
        Err(DnsError::NoDomain(_) | DnsError::NoData(_)) => Answer::Clean,
        Err(DnsError::Temporary(_)) => Answer::Temp,
    }
}

type Query<'a> = Pin<Box<dyn Future<Output = Answer> + Send + 'a>>;

/// Asks every list at once; the answers in the order of `lists`.
pub async fn query(dns: &Dns, ip: Ipv4Addr, lists: &[Dnsbl]) -> Vec<Answer> {
    let mut pending: Vec<Option<Query<'_>>> = lists
        .iter()
        .map(|l| Some(Box::pin(one(dns, ip, l)) as Query<'_>))
        .collect();
    let mut done: Vec<Option<Answer>> = vec![None; lists.len()];
    std::future::poll_fn(|cx| {
        for (slot, out) in pending.iter_mut().zip(done.iter_mut()) {
            if let Some(f) = slot {
                if let Poll::Ready(a) = f.as_mut().poll(cx) {
                    *out = Some(a);
                    *slot = None;
                }
            }
        }
        if pending.iter().all(Option::is_none) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await;
    done.into_iter()
        .map(|a| a.unwrap_or(Answer::Temp))
        .collect()
}

/// Looks the answers up in the access map, lists in order; the first
/// entry that is not `cont` decides.
pub fn check(map: &dyn Map, lists: &[Dnsbl], answers: &[Answer]) -> Result<Outcome, Temporary> {
    for (list, answer) in lists.iter().zip(answers) {
        let keys: Vec<String> = match answer {
            Answer::Clean => continue,
            Answer::Listed(v) => v.iter().map(Ipv4Addr::to_string).collect(),
            Answer::Temp => vec!["temp".to_string()],
            Answer::Perm => vec!["perm".to_string()],
        };
        let o = policy::check_keys(map, &format!("{}:", list.tag), &keys)?;
        if o != Outcome::None {
            return Ok(o);
        }
    }
    Ok(Outcome::None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_name_reverses_the_octets() {
        assert_eq!(
            query_name(Ipv4Addr::new(192, 0, 2, 5), "dnsbl.tld"),
            "5.2.0.192.dnsbl.tld"
        );
    }
}

//! The anti-spam checks of the SMTP dialogue in the order of README
//! §3.12.2 ("Connect", "MAIL", "RCPT"), with the access-map semantics of
//! §3.9.3 (`quick:`, `discard` per stage §3.9.3.1, `delay_checks`).
//!
//! Connect (server flag `access`): `cltaddr:`; then, while nothing
//! decided, the DNSBL queries and the client name resolution run at once
//! (PTR, then the A records of each name; `cltresolve:` `ok` when one
//! holds the client address, `no`, `tempptr`, `tempa`), then
//! `cltresolve:`, `cltname:` and the DNSBL answers (§3.9.2 item 4).
//!
//! MAIL (flag `access`; not for `<>`, not after a session `quick:relay` or
//! `quick:ok`): the sender's domain must be routable (local, in the
//! mailertable, or with MX/A records), a local sender must exist, then
//! `from:`, then `mxbadip:` for the addresses found.
//!
//! RCPT: a rejection delayed from connect or MAIL is given unless `to:`
//! says `quick:ok`/`quick:relay`; relaying is allowed to local domains
//! (`lmtp:` unless `lmtp_does_not_imply_relaying`), by a session `relay`,
//! a verified client certificate (`allow_relaying_if_verified`, or
//! `check_access_map_for_relaying` with `certissuer:`/`certsubject:`), an
//! authenticated client (with a mechanism listed in `trusted_mechs`;
//! none when the list is empty) or a `to:` `relay` entry — nothing else; a local
//! recipient must exist; then `protectedrcpt:`; then `to:` (unless the
//! session is `quick:relay`, or `quick:ok` and relaying is allowed by
//! other means); then greylisting unless the session is `ok`/`relay` or
//! the client relays by certificate or AUTH (§3.9.4).
//!
//! Rejections: a `quick:` rejection is immediate; any other waits for RCPT
//! when the server has `delay_checks`. A failed lookup is `451 4.3.0`.
//! Access-map lookups are Berkeley DB reads (the access map is always a
//! hash file) and are done in place.

use super::dns::{Dns, DnsError};
use super::dnsbl;
use super::greylist::{self, Greylist};
use super::policy::{self, Outcome, ServerPolicy};
use super::protect;
use super::rcpt::Temporary;
use super::route::{resolve_plan, Plan};
use super::tables::Tables;
use crate::proto::{Checked, Discard, NextHop, RcptPolicy, SessionPolicy, SmtpReply};
use smx_maps::kind::{parse_access_rhs, AccessAction};
use smx_maps::Map;
use std::net::{IpAddr, Ipv4Addr};

fn temp(e: impl std::fmt::Display) -> Temporary {
    Temporary(e.to_string())
}

/// The result of the client name resolution: (`cltresolve:` key, name).
pub async fn resolve_client(dns: &Dns, ip: Ipv4Addr) -> (&'static str, Option<String>) {
    let names = match dns.ptr(ip).await {
        Ok(n) => n,
        Err(DnsError::Temporary(_)) => return ("tempptr", None),
        Err(_) => return ("no", None),
    };
    let mut temp_a = false;
    for name in names {
        match dns.a(&name).await {
            Ok(addrs) if addrs.contains(&ip) => return ("ok", Some(name)),
            Ok(_) => {}
            Err(e) => temp_a |= e.is_temporary(),
        }
    }
    (if temp_a { "tempa" } else { "no" }, None)
}

/// Connect: `Ok((Some(reply), _))` refuses the session.
pub async fn connect(
    tables: &Tables,
    dns: &Dns,
    sp: &ServerPolicy,
    client: Option<IpAddr>,
) -> Result<(Option<SmtpReply>, SessionPolicy), Temporary> {
    let mut s = SessionPolicy::default();
    let (true, Some(map), Some(IpAddr::V4(ip))) = (sp.access, tables.access.as_deref(), client)
    else {
        return Ok((None, s));
    };
    let mut o = policy::check_ip(map, "cltaddr:", ip)?;
    if o == Outcome::None {
        let (answers, (resolved, name)) = tokio::join!(
            dnsbl::query(dns, ip, &tables.dnsbl),
            resolve_client(dns, ip)
        );
        s.client_name = name.clone();
        o = policy::check_keys(map, "cltresolve:", &[resolved.to_string()])?;
        if o == Outcome::None {
            if let Some(n) = &name {
                o = policy::check_domain(map, "cltname:", n)?;
            }
        }
        if o == Outcome::None {
            o = dnsbl::check(map, &tables.dnsbl, &answers)?;
        }
    }
    let refuse = match o {
        Outcome::None => None,
        Outcome::Relay { quick } => {
            s.relay = true;
            s.quick_relay = quick;
            None
        }
        Outcome::Ok { quick } => {
            s.ok = true;
            s.quick_ok = quick;
            None
        }
        Outcome::Discard { .. } => {
            s.discard = true;
            None
        }
        Outcome::Reject { quick, reply } => {
            if quick || !sp.delay_checks {
                Some(reply)
            } else {
                s.delayed = Some(reply);
                None
            }
        }
    };
    Ok((refuse, s))
}

fn refuse(sp: &ServerPolicy, quick: bool, reply: SmtpReply) -> Checked {
    if quick || !sp.delay_checks {
        Checked {
            reply,
            ..Checked::accept(SmtpReply::new(250, "2.1.0", ""))
        }
    } else {
        Checked {
            delayed: Some(reply),
            ..Checked::accept(SmtpReply::new(250, "2.1.0", "sender ok"))
        }
    }
}

/// MAIL.
pub async fn mail(
    tables: &Tables,
    dns: &Dns,
    sp: &ServerPolicy,
    sender: &str,
    session: &SessionPolicy,
) -> Result<Checked, Temporary> {
    let ok = Checked::accept(SmtpReply::new(250, "2.1.0", "sender ok"));
    if session.discard {
        return Ok(Checked {
            discard: Discard::Transaction,
            ..ok
        });
    }
    let map = tables.access.as_deref();
    if !sp.access || sender.is_empty() || session.quick_relay || session.quick_ok {
        return Ok(ok);
    }
    let (local_part, domain) = super::aliases::split(sender);
    if domain.is_empty() || local_part.is_empty() {
        return Ok(ok);
    }
    // 1. routable.
    let local = tables.mailertable.is_local(domain).map_err(temp)?;
    let mut addrs: Vec<Ipv4Addr> = Vec::new();
    if !local {
        let listed = tables.mailertable.route(domain).map_err(temp)?.is_some();
        let literal = domain.starts_with('[');
        if !listed && !literal {
            match resolve_plan(dns, &Plan::Mx(domain.to_ascii_lowercase()), &|_| None).await {
                Ok(NextHop::Hosts { addrs: a, .. }) => {
                    addrs = a
                        .iter()
                        .filter_map(|a| match a.ip() {
                            IpAddr::V4(v) => Some(v),
                            IpAddr::V6(_) => None,
                        })
                        .collect();
                }
                Ok(_) => {}
                Err(r) if r.is_temporary() => {
                    return Ok(refuse(
                        sp,
                        false,
                        SmtpReply::new(
                            451,
                            "4.1.8",
                            format!("<{sender}>: cannot resolve the sender's domain now"),
                        ),
                    ))
                }
                Err(_) => {
                    return Ok(refuse(
                        sp,
                        false,
                        SmtpReply::new(
                            553,
                            "5.1.8",
                            format!("<{sender}>: the sender's domain cannot be routed"),
                        ),
                    ))
                }
            }
        }
    }
    // 2. a local sender must exist.
    if local && tables.local_user_check(sender)?.is_some() {
        return Ok(refuse(
            sp,
            false,
            SmtpReply::new(553, "5.1.8", format!("<{sender}>: no such local sender")),
        ));
    }
    // 3. from:
    if let Some(map) = map {
        match policy::check_address(map, "from:", sender, tables.delimiter)? {
            Outcome::None => {}
            Outcome::Ok { .. } | Outcome::Relay { .. } => return Ok(ok),
            Outcome::Discard { .. } => {
                return Ok(Checked {
                    discard: Discard::Transaction,
                    ..ok
                })
            }
            Outcome::Reject { quick, reply } => return Ok(refuse(sp, quick, reply)),
        }
        // 4. mxbadip:
        for ip in addrs {
            if let Outcome::Reject { quick, reply } = policy::check_ip(map, "mxbadip:", ip)? {
                return Ok(refuse(sp, quick, reply));
            }
        }
    }
    Ok(ok)
}

/// Whether a verified client certificate may relay by the access map
/// (`certissuer:` relay, or `cont` then `certsubject:` relay).
fn cert_relay(map: &dyn Map, q: &RcptPolicy) -> Result<bool, Temporary> {
    let Some(issuer) = &q.cert_issuer else {
        return Ok(false);
    };
    let action = |tag: &str, dn: &str| -> Result<Option<AccessAction>, Temporary> {
        Ok(match map.get(&format!("{tag}{dn}")).map_err(temp)? {
            None => None,
            Some(v) => parse_access_rhs(tag, &v).ok().map(|r| r.action),
        })
    };
    match action("certissuer:", issuer)? {
        Some(AccessAction::Relay) => Ok(true),
        Some(AccessAction::Cont) => match &q.cert_subject {
            Some(s) => Ok(action("certsubject:", s)? == Some(AccessAction::Relay)),
            None => Ok(false),
        },
        _ => Ok(false),
    }
}

/// RCPT. `grey` is the greylisting database when SMAR has one.
pub fn rcpt(
    tables: &Tables,
    grey: Option<&Greylist>,
    sp: &ServerPolicy,
    q: &RcptPolicy,
) -> Result<Checked, Temporary> {
    let address = q.address.as_str();
    let s = &q.session;
    let ok = Checked::accept(SmtpReply::new(
        250,
        "2.1.5",
        format!("<{address}>: recipient ok"),
    ));
    let no = |reply: SmtpReply| Checked {
        reply,
        ..ok.clone()
    };
    if address.eq_ignore_ascii_case("postmaster") {
        return Ok(ok);
    }
    let map = if sp.access {
        tables.access.as_deref()
    } else {
        None
    };
    let to = match map {
        Some(m) if !s.quick_relay => policy::check_address(m, "to:", address, tables.delimiter)?,
        _ => Outcome::None,
    };
    let to_quick = matches!(
        to,
        Outcome::Ok { quick: true } | Outcome::Relay { quick: true }
    );
    if !to_quick {
        if let Some(r) = s.delayed.clone().or_else(|| q.mail_delayed.clone()) {
            return Ok(no(r));
        }
    }
    // Relaying.
    let (local_part, domain) = super::aliases::split(address);
    let local = tables.mailertable.is_local(domain).map_err(temp)?;
    let auth_relay = q.auth_mechanism.as_deref().is_some_and(|m| sp.trusts(m));
    let cert_relay = q.tls_verified
        && (sp.relay_if_verified
            || (sp.relay_by_cert_map && map.map(|m| cert_relay(m, q)).transpose()? == Some(true)));
    let other_relay = s.relay || auth_relay || cert_relay;
    let permitted =
        (local && !sp.lmtp_not_local) || other_relay || matches!(to, Outcome::Relay { .. });
    if !permitted {
        return Ok(no(SmtpReply::new(
            550,
            "5.7.1",
            format!("<{address}>: relaying denied"),
        )));
    }
    if local && !local_part.eq_ignore_ascii_case("postmaster") {
        if let Some(refusal) = tables.local_user_check(address)? {
            return Ok(no(refusal));
        }
    }
    // protectedrcpt:
    if let (Some(p), Some(m)) = (&sp.protected, map) {
        let pq = protect::Query {
            rcpt: address,
            sender: &q.sender,
            client: q.client,
            delimiter: tables.delimiter,
            hostname: &tables.hostname,
        };
        if !protect::allowed(m, tables.aliases.as_ref(), p, &pq)? {
            return Ok(no(SmtpReply::new(
                550,
                "5.7.1",
                format!("<{address}>: you may not send mail to this recipient"),
            )));
        }
    }
    // to:
    let mut discard = Discard::No;
    let skip_to = s.quick_relay || (s.quick_ok && other_relay);
    if !skip_to {
        match to {
            Outcome::Reject { reply, .. } => return Ok(no(reply)),
            Outcome::Discard { quick } => {
                discard = if quick {
                    Discard::Transaction
                } else {
                    Discard::Recipient
                }
            }
            _ => {}
        }
    }
    // Greylisting.
    let exempt = s.ok || s.relay || auth_relay || cert_relay;
    if let (true, false, Some(g), Some(IpAddr::V4(ip))) = (sp.greylisting, exempt, grey, q.client) {
        if let greylist::Verdict::Grey { wait } = g.check(ip).map_err(temp)? {
            let reply = SmtpReply::new(
                421,
                "4.7.0",
                format!("{ip} is greylisted; try again in {wait} seconds"),
            );
            if sp.grey_until_data {
                return Ok(Checked {
                    at_data: Some(reply),
                    discard,
                    ..ok
                });
            }
            return Ok(no(reply));
        }
    }
    Ok(Checked { discard, ..ok })
}

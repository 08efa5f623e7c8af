//! The RCPT check SMAR answers for the SMTP servers (README §3.12.2
//! "RCPT", §3.9.3 access map, §4.3.1, §4.3.2; RFC 5321 §4.5.1).
//!
//! Relaying — a recipient is a permitted destination when
//! 1. its domain's mailertable entry is `lmtp:` or `port^lmtp:hosts` (a
//!    local domain), unless the server has `lmtp_does_not_imply_relaying`;
//! 2. or (server flag `access`) the access map says `relay` for the client
//!    address (`cltaddr:`, looked up A.B.C.D, A.B.C, A.B, A);
//! 3. or (server flag `access`) the access map says `relay` for the
//!    recipient (`to:`, with the lookup order of §3.12.1).
//!
//! Otherwise `550 5.7.1 <addr>: relaying denied`. `RCPT TO:<Postmaster>`
//! is always accepted, and so is `postmaster@` a local domain.
//!
//! Local users — for a recipient of a local domain, after alias expansion
//! every resulting address of a local domain must be a `local:` alias
//! entry or be found in `local_user_map` (`user+detail` matches `user`
//! with that map's `implicitly_match_detail`); otherwise
//! `550 5.1.1 <addr>: user unknown`, so that no bounce ever goes to a
//! forged sender. Addresses of other domains an alias points to are not
//! checked here (they are routed at delivery).
//!
//! A map that fails answers `451 4.3.0`, never 5xx. An alias loop answers
//! `554 5.4.6`.

use super::aliases::{self, ExpandError, Expanded};
use super::tables::Tables;
use crate::proto::SmtpReply;
use smx_maps::kind::{parse_access_rhs, AccessAction};
use smx_maps::lookup::{self, AddressOptions};
use smx_maps::Map;
use std::net::IpAddr;

/// What one RCPT check needs from the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RcptQuery<'a> {
    /// The client's address.
    pub client: Option<IpAddr>,
    /// The recipient, no angle brackets.
    pub address: &'a str,
    /// The server has the `access` flag.
    pub access: bool,
    /// The server has `lmtp_does_not_imply_relaying`.
    pub lmtp_not_local: bool,
}

/// A failed lookup: answered `451 4.3.0`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Temporary(pub String);

fn temp(e: impl std::fmt::Display) -> Temporary {
    Temporary(e.to_string())
}

fn is_relay(value: &str, tag: &str) -> bool {
    parse_access_rhs(tag, value).is_ok_and(|r| r.action == AccessAction::Relay)
}

/// `451 4.3.0`.
pub fn tempfail() -> SmtpReply {
    SmtpReply::new(451, "4.3.0", "temporary lookup failure; try again later")
}

impl Tables {
    fn access_map(&self, q: &RcptQuery<'_>) -> Option<&dyn Map> {
        if q.access {
            self.access.as_deref()
        } else {
            None
        }
    }

    /// Whether the client may relay (`cltaddr:` relay entry).
    pub fn client_may_relay(&self, q: &RcptQuery<'_>) -> Result<bool, Temporary> {
        let (Some(map), Some(IpAddr::V4(ip))) = (self.access_map(q), q.client) else {
            return Ok(false);
        };
        let keys = lookup::ipv4_keys(ip);
        let l = lookup::probe(map, "cltaddr", keys.iter().map(String::as_str)).map_err(temp)?;
        Ok(l.value().is_some_and(|v| is_relay(v, "cltaddr:")))
    }

    /// Whether the recipient may be relayed to (`to:` relay entry).
    fn rcpt_may_relay(&self, q: &RcptQuery<'_>) -> Result<bool, Temporary> {
        let Some(map) = self.access_map(q) else {
            return Ok(false);
        };
        let opts = AddressOptions {
            delimiter: self.delimiter,
            ..AddressOptions::default()
        };
        let l = lookup::lookup(map, q.address, Some("to"), &opts).map_err(temp)?;
        Ok(l.value().is_some_and(|v| is_relay(v, "to:")))
    }

    /// Whether every local address `address` stands for exists; `Ok(None)`
    /// when it does, else the refusal.
    pub(crate) fn local_user_check(&self, address: &str) -> Result<Option<SmtpReply>, Temporary> {
        if self.aliases.is_none() && self.local_users.is_none() {
            return Ok(None);
        }
        let expanded = match &self.aliases {
            Some(a) => match a.expand(address, &self.mailertable, &self.hostname) {
                Ok(e) => e,
                Err(ExpandError::TooDeep(a)) => {
                    return Ok(Some(SmtpReply::new(
                        554,
                        "5.4.6",
                        format!("<{a}>: alias loop or aliases nested too deeply"),
                    )))
                }
                Err(ExpandError::BadEntry { key, why }) => {
                    return Err(Temporary(format!("alias {key}: {why}")))
                }
                Err(e) => return Err(temp(e)),
            },
            None => vec![Expanded {
                address: address.to_string(),
                sender: None,
                local_entry: false,
                aliased: false,
            }],
        };
        for e in &expanded {
            if e.local_entry {
                continue;
            }
            let (_, domain) = aliases::split(&e.address);
            if !self.mailertable.is_local(domain).map_err(temp)? {
                continue;
            }
            let known = match &self.local_users {
                Some(u) => u.exists(&e.address).map_err(temp)?,
                None => false,
            };
            if !known {
                return Ok(Some(SmtpReply::new(
                    550,
                    "5.1.1",
                    format!("<{address}>: user unknown"),
                )));
            }
        }
        Ok(None)
    }

    /// Decides on one recipient.
    pub fn rcpt(&self, q: &RcptQuery<'_>) -> SmtpReply {
        match self.rcpt_inner(q) {
            Ok(r) => r,
            Err(Temporary(_)) => tempfail(),
        }
    }

    /// [`Tables::rcpt`], with the reason of a temporary failure.
    pub fn rcpt_inner(&self, q: &RcptQuery<'_>) -> Result<SmtpReply, Temporary> {
        let address = q.address;
        let ok = || SmtpReply::new(250, "2.1.5", format!("<{address}>: recipient ok"));
        // RFC 5321 §4.5.1: `RCPT TO:<Postmaster>` is always accepted.
        if address.eq_ignore_ascii_case("postmaster") {
            return Ok(ok());
        }
        let (local_part, domain) = aliases::split(address);
        let local = self.mailertable.is_local(domain).map_err(temp)?;
        let permitted =
            (local && !q.lmtp_not_local) || self.client_may_relay(q)? || self.rcpt_may_relay(q)?;
        if !permitted {
            return Ok(SmtpReply::new(
                550,
                "5.7.1",
                format!("<{address}>: relaying denied"),
            ));
        }
        if local && !local_part.eq_ignore_ascii_case("postmaster") {
            if let Some(refusal) = self.local_user_check(address)? {
                return Ok(refusal);
            }
        }
        Ok(ok())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::smar::aliases::{AliasFlags, Aliases};
    use crate::smar::mailertable::Mailertable;
    use crate::smar::tables::LocalUsers;
    use smx_maps::texthash::TextHash;
    use smx_maps::MapError;
    use std::collections::HashMap;
    use std::sync::Arc;

    struct Mem(HashMap<String, String>);
    impl Map for Mem {
        fn get(&self, key: &str) -> Result<Option<String>, MapError> {
            Ok(self.0.get(key).cloned())
        }
    }

    struct Down;
    impl Map for Down {
        fn get(&self, _: &str) -> Result<Option<String>, MapError> {
            Err(MapError::Temp("socketmap down".into()))
        }
    }

    fn tables(access: &[(&str, &str)]) -> Tables {
        Tables {
            mailertable: Mailertable::parse(
                "localhost lmtp:\nlmtphost.example 2001^lmtp:[127.0.0.1]\n.example.org esmtp:[10.1.2.3]\n",
            )
            .unwrap(),
            access: Some(Arc::new(Mem(
                access.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            ))),
            hostname: "localhost".into(),
            delimiter: '+',
            ..Tables::default()
        }
    }

    fn q(address: &str) -> RcptQuery<'_> {
        RcptQuery {
            client: None,
            address,
            access: true,
            lmtp_not_local: false,
        }
    }

    fn code(t: &Tables, q: &RcptQuery<'_>) -> (u16, String) {
        let r = t.rcpt(q);
        (r.code, r.status)
    }

    fn with_users(mut t: Tables, users: &str, aliases: &str, imd: bool) -> Tables {
        let u = TextHash::parse("users", users, false).unwrap();
        t.local_users = Some(LocalUsers::new(Arc::new(u), imd, '+'));
        let a = TextHash::parse("aliases", aliases, true).unwrap();
        t.aliases = Some(Aliases::new(
            Arc::new(a),
            AliasFlags {
                localpart: true,
                ..AliasFlags::default()
            },
            '+',
        ));
        t
    }

    #[test]
    fn local_domains_are_accepted_others_denied() {
        let t = tables(&[]);
        let ok = (250, "2.1.5".to_string());
        let denied = (550, "5.7.1".to_string());
        assert_eq!(code(&t, &q("alice@localhost")), ok);
        assert_eq!(code(&t, &q("alice@LOCALHOST")), ok);
        assert_eq!(code(&t, &q("bob@lmtphost.example")), ok);
        // esmtp: routes are not local: relaying needs permission.
        assert_eq!(code(&t, &q("x@a.example.org")), denied);
        assert_eq!(code(&t, &q("x@elsewhere.example")), denied);
        assert_eq!(code(&t, &q("Postmaster")), ok);
        assert_eq!(code(&t, &q("root")), denied);
        assert_eq!(
            t.rcpt(&q("x@elsewhere.example")).text,
            "<x@elsewhere.example>: relaying denied"
        );
    }

    #[test]
    fn access_map_relay_for_recipients_and_clients() {
        let t = tables(&[
            ("to:@primary.example", "relay"),
            ("to:user@other.example", "ok"),
            ("cltaddr:10", "relay"),
            ("cltaddr:127.0.0.1", "quick:relay"),
            ("cltaddr:192.168", "ok"),
        ]);
        assert_eq!(t.rcpt(&q("x@primary.example")).code, 250);
        // `ok` is not `relay`.
        assert_eq!(t.rcpt(&q("user@other.example")).code, 550);
        let from = |ip: &str| RcptQuery {
            client: Some(ip.parse().unwrap()),
            ..q("x@anywhere.example")
        };
        assert_eq!(t.rcpt(&from("10.1.2.3")).code, 250);
        assert_eq!(t.rcpt(&from("127.0.0.1")).code, 250);
        assert_eq!(t.rcpt(&from("192.168.1.1")).code, 550);
        assert_eq!(t.rcpt(&from("172.16.0.1")).code, 550);
        // Without the server's `access` flag the map is not consulted.
        let no_access = RcptQuery {
            access: false,
            ..from("10.1.2.3")
        };
        assert_eq!(t.rcpt(&no_access).code, 550);
    }

    #[test]
    fn lmtp_does_not_imply_relaying() {
        let t = tables(&[("cltaddr:10", "relay")]);
        let mut query = q("alice@localhost");
        query.lmtp_not_local = true;
        assert_eq!(t.rcpt(&query).code, 550);
        query.client = Some("10.0.0.1".parse().unwrap());
        assert_eq!(t.rcpt(&query).code, 250);
    }

    #[test]
    fn failing_map_is_temporary() {
        let mut t = tables(&[]);
        t.access = Some(Arc::new(Down));
        assert_eq!(code(&t, &q("x@far.example")), (451, "4.3.0".into()));
        // A local domain needs no access lookup ...
        assert_eq!(t.rcpt(&q("alice@localhost")).code, 250);
        // ... unless lmtp does not imply relaying.
        let from = RcptQuery {
            client: Some("10.0.0.1".parse().unwrap()),
            lmtp_not_local: true,
            ..q("alice@localhost")
        };
        assert_eq!(t.rcpt(&from).code, 451);
        let mut t = tables(&[]);
        t.local_users = Some(LocalUsers::new(Arc::new(Down), false, '+'));
        assert_eq!(t.rcpt(&q("alice@localhost")).code, 451);
        let mut t = tables(&[]);
        t.mailertable = Mailertable::Map(Arc::new(Down));
        assert_eq!(t.rcpt(&q("alice@localhost")).code, 451);
    }

    #[test]
    fn local_users_must_exist_with_and_without_detail() {
        let t = with_users(tables(&[]), "alice x\ncarol+* x\n", "", false);
        assert_eq!(t.rcpt(&q("alice@localhost")).code, 250);
        assert_eq!(t.rcpt(&q("ALICE@localhost")).code, 250);
        let r = t.rcpt(&q("mallory@localhost"));
        assert_eq!((r.code, r.status.as_str()), (550, "5.1.1"));
        assert_eq!(r.text, "<mallory@localhost>: user unknown");
        // `user+detail` does not match `user` without the flag ...
        assert_eq!(t.rcpt(&q("alice+news@localhost")).code, 550);
        // ... but `user+*` matches any detail.
        assert_eq!(t.rcpt(&q("carol+x@localhost")).code, 250);
        let t = with_users(tables(&[]), "alice x\n", "", true);
        assert_eq!(t.rcpt(&q("alice+news@localhost")).code, 250);
        // Postmaster of a local domain needs no entry (RFC 5321 §4.5.1).
        assert_eq!(t.rcpt(&q("postmaster@localhost")).code, 250);
        // Relayed (non-local) recipients are not checked here.
        let t = with_users(tables(&[("to:@primary.example", "relay")]), "", "", false);
        assert_eq!(t.rcpt(&q("anyone@primary.example")).code, 250);
    }

    #[test]
    fn aliases_count_as_users_when_their_targets_exist() {
        let t = with_users(
            tables(&[]),
            "alice x\n",
            "team: <alice@localhost> <x@far.example>\nbroken: <ghost@localhost>\n\
             abuse: local:\nloop1: loop2\nloop2: loop1\n",
            false,
        );
        assert_eq!(t.rcpt(&q("team@localhost")).code, 250);
        assert_eq!(t.rcpt(&q("abuse@localhost")).code, 250);
        assert_eq!(t.rcpt(&q("broken@localhost")).code, 550);
        let r = t.rcpt(&q("loop1@localhost"));
        assert_eq!((r.code, r.status.as_str()), (554, "5.4.6"));
    }

    #[test]
    fn aliases_alone_validate_local_parts() {
        let mut t = tables(&[]);
        let a = TextHash::parse("aliases", "user: local:\nuser++: local:\n", true).unwrap();
        t.aliases = Some(Aliases::new(
            Arc::new(a),
            AliasFlags {
                localpart: true,
                ..AliasFlags::default()
            },
            '+',
        ));
        assert_eq!(t.rcpt(&q("user@localhost")).code, 250);
        assert_eq!(t.rcpt(&q("user+x@localhost")).code, 250);
        assert_eq!(t.rcpt(&q("other@localhost")).code, 550);
    }
}

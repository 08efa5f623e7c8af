//! Recipient policy of the SMTP server until the address resolver (SMAR)
//! takes it over: safe and minimal, never an open relay (issue 4 item 3,
//! README §3.9.3, §4.3.1).
//!
//! A recipient is accepted when
//! 1. its domain's mailertable entry is `lmtp:` or `port^lmtp:hosts`
//!    (a local domain), unless the server has `lmtp_does_not_imply_relaying`;
//! 2. or the access map (used when smtps has the `access` flag) says
//!    `relay` for the client address (`cltaddr:`, looked up A.B.C.D, A.B.C,
//!    A.B, A);
//! 3. or the access map says `relay` for the recipient (`to:`, with the
//!    lookup order of §3.12.1).
//!
//! `RCPT TO:<Postmaster>` is always accepted (RFC 5321 §4.5.1).
//! Everything else gets `550 5.7.1 relaying denied`. A map that cannot be
//! read answers `451 4.3.0` (try again), never 5xx.

use smx_maps::kind::{parse_access_rhs, parse_mailertable_rhs, AccessAction, MapKind, Route};
use smx_maps::lookup::{self, AddressOptions};
use smx_maps::source::{self, Convention};
use smx_maps::{Map, MapError};
use std::collections::HashMap;
use std::net::IpAddr;

/// The mailertable read into memory (README §3.9.2 item 9a: a text file
/// read at start).
#[derive(Debug, Default)]
pub struct Mailertable {
    routes: HashMap<String, Route>,
}

impl Mailertable {
    /// Reads a text mailertable; bad lines are reported with their numbers.
    pub fn parse(text: &str) -> Result<Mailertable, Vec<String>> {
        let mut routes = HashMap::new();
        let mut errors = Vec::new();
        for item in source::entries(text, Convention::Sendmail, MapKind::Mailertable.separator()) {
            match item {
                Err(e) => errors.push(e.to_string()),
                Ok(e) => match parse_mailertable_rhs(&e.value) {
                    Ok(r) => {
                        routes.insert(e.key.to_ascii_lowercase(), r);
                    }
                    Err(m) => errors.push(format!("line {}: {m}", e.line)),
                },
            }
        }
        if errors.is_empty() {
            Ok(Mailertable { routes })
        } else {
            Err(errors)
        }
    }

    /// The route of a domain, with the lookup order of §3.12.1 and the
    /// default entry `.`.
    pub fn route(&self, domain: &str) -> Option<&Route> {
        lookup::domain_keys(domain, true)
            .iter()
            .find_map(|k| self.routes.get(k))
    }

    /// True when mail for `domain` is delivered locally over LMTP.
    pub fn is_local(&self, domain: &str) -> bool {
        matches!(
            self.route(domain),
            Some(Route::LmtpLocal | Route::Lmtp { .. })
        )
    }
}

/// Why a recipient was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Not local and no relay permission: 550 5.7.1.
    RelayDenied,
    /// A map lookup failed: 451 4.3.0.
    Temporary(String),
}

/// The decision inputs of one SMTP server.
pub struct Policy {
    /// The mailertable.
    pub mailertable: Mailertable,
    /// The access map, when the server has the `access` flag.
    pub access: Option<Box<dyn Map>>,
    /// `lmtp_does_not_imply_relaying`.
    pub lmtp_not_local: bool,
    /// Address options (`address_delimiter`).
    pub address: AddressOptions,
}

fn is_relay(value: &str, tag: &str) -> bool {
    parse_access_rhs(tag, value).is_ok_and(|r| r.action == AccessAction::Relay)
}

fn temp(e: MapError) -> Refusal {
    Refusal::Temporary(e.to_string())
}

impl Policy {
    /// Whether the client may relay for the whole session (`cltaddr:`).
    pub fn client_may_relay(&self, client: Option<IpAddr>) -> Result<bool, Refusal> {
        let (Some(map), Some(IpAddr::V4(ip))) = (&self.access, client) else {
            return Ok(false);
        };
        let keys = lookup::ipv4_keys(ip);
        let l = lookup::probe(map.as_ref(), "cltaddr", keys.iter().map(String::as_str))
            .map_err(temp)?;
        Ok(l.value().is_some_and(|v| is_relay(v, "cltaddr:")))
    }

    /// Decides on one recipient (`local@domain`, no angle brackets).
    pub fn recipient(&self, address: &str, session_relay: bool) -> Result<(), Refusal> {
        let domain = address.rsplit_once('@').map_or("", |(_, d)| d);
        // RFC 5321 §4.5.1: `RCPT TO:<Postmaster>` is always accepted.
        if address.eq_ignore_ascii_case("postmaster") {
            return Ok(());
        }
        if !self.lmtp_not_local && !domain.is_empty() && self.mailertable.is_local(domain) {
            return Ok(());
        }
        if session_relay {
            return Ok(());
        }
        if let Some(map) = &self.access {
            let l =
                lookup::lookup(map.as_ref(), address, Some("to"), &self.address).map_err(temp)?;
            if l.value().is_some_and(|v| is_relay(v, "to:")) {
                return Ok(());
            }
        }
        Err(Refusal::RelayDenied)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    struct Mem(HashMap<String, String>);
    impl Map for Mem {
        fn get(&self, key: &str) -> Result<Option<String>, MapError> {
            Ok(self.0.get(key).cloned())
        }
    }

    fn policy(access: &[(&str, &str)]) -> Policy {
        Policy {
            mailertable: Mailertable::parse(
                "localhost lmtp:\nlmtphost.example 2001^lmtp:[127.0.0.1]\n.example.org esmtp:[10.1.2.3]\n",
            )
            .unwrap(),
            access: Some(Box::new(Mem(
                access.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            ))),
            lmtp_not_local: false,
            address: AddressOptions::default(),
        }
    }

    #[test]
    fn local_domains_are_accepted_others_denied() {
        let p = policy(&[]);
        assert_eq!(p.recipient("alice@localhost", false), Ok(()));
        assert_eq!(p.recipient("alice@LOCALHOST", false), Ok(()));
        assert_eq!(p.recipient("bob@lmtphost.example", false), Ok(()));
        // esmtp: routes are not local: relaying needs permission.
        assert_eq!(
            p.recipient("x@a.example.org", false),
            Err(Refusal::RelayDenied)
        );
        assert_eq!(
            p.recipient("x@elsewhere.example", false),
            Err(Refusal::RelayDenied)
        );
        assert_eq!(p.recipient("Postmaster", false), Ok(()));
        assert_eq!(p.recipient("root", false), Err(Refusal::RelayDenied));
    }

    #[test]
    fn access_map_relay_for_recipients_and_clients() {
        let p = policy(&[
            ("to:@primary.example", "relay"),
            ("to:user@other.example", "ok"),
            ("cltaddr:10", "relay"),
            ("cltaddr:127.0.0.1", "quick:relay"),
            ("cltaddr:192.168", "ok"),
        ]);
        assert_eq!(p.recipient("x@primary.example", false), Ok(()));
        // `ok` is not `relay`.
        assert_eq!(
            p.recipient("user@other.example", false),
            Err(Refusal::RelayDenied)
        );
        assert!(p
            .client_may_relay(Some("10.1.2.3".parse().unwrap()))
            .unwrap());
        assert!(p
            .client_may_relay(Some("127.0.0.1".parse().unwrap()))
            .unwrap());
        assert!(!p
            .client_may_relay(Some("192.168.1.1".parse().unwrap()))
            .unwrap());
        assert!(!p
            .client_may_relay(Some("172.16.0.1".parse().unwrap()))
            .unwrap());
        assert_eq!(p.recipient("x@anywhere.example", true), Ok(()));
    }

    #[test]
    fn lmtp_does_not_imply_relaying() {
        let mut p = policy(&[]);
        p.lmtp_not_local = true;
        assert_eq!(
            p.recipient("alice@localhost", false),
            Err(Refusal::RelayDenied)
        );
    }

    #[test]
    fn failing_map_is_temporary() {
        struct Down;
        impl Map for Down {
            fn get(&self, _: &str) -> Result<Option<String>, MapError> {
                Err(MapError::Temp("socketmap down".into()))
            }
        }
        let mut p = policy(&[]);
        p.access = Some(Box::new(Down));
        assert!(matches!(
            p.recipient("x@far.example", false),
            Err(Refusal::Temporary(_))
        ));
        assert!(matches!(
            p.client_may_relay(Some("10.0.0.1".parse().unwrap())),
            Err(Refusal::Temporary(_))
        ));
    }

    #[test]
    fn bad_mailertable_lines_are_reported() {
        let e = Mailertable::parse("ok.example lmtp:\nbad.example smtp:[1.2.3.4]\n").unwrap_err();
        assert_eq!(e.len(), 1);
        assert!(e[0].starts_with("line 2:"), "{e:?}");
    }
}

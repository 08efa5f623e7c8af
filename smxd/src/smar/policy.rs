//! What SMAR needs to apply the anti-spam checks of one SMTP server
//! (README §3.9.3 access map, §3.10 item 3 flags, item 19 protected
//! recipients, item 21 TLS flags, item 1 `trusted_mechs`; §3.12.2 order)
//! and the access-map lookup shared by every stage.
//!
//! SMAR reads the `smtps` sections of smx.conf itself (at start and on
//! SIGHUP) and finds a server's flags by its section name, which SMTPS
//! sends with every request; SMTPS does not have to forward them.
//!
//! An access-map entry gives an [`Outcome`]: `cont` and "not found" are
//! [`Outcome::None`] (go on with the next check of the stage, §3.12.2:
//! "done sequentially until one of them returns something else than
//! cont"). An entry whose right-hand side does not parse is a temporary
//! failure (`451 4.3.0`): a broken map must never turn into a 5xx, nor
//! silently into an open relay. A map that fails is likewise temporary.

use super::rcpt::Temporary;
use crate::proto::SmtpReply;
use smx_grammar::config::smtps::MatchType;
use smx_grammar::config::SmtpsConf;
use smx_maps::kind::{parse_access_rhs, AccessAction};
use smx_maps::lookup::{self, AddressOptions, Lookup};
use smx_maps::{Map, MapError};
use std::collections::HashMap;

/// `protected_recipients { }` of a server (README §3.10 item 19).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Protected {
    /// `allow_by = sender`: `from:` and `list:` restrictions count.
    pub by_sender: bool,
    /// `allow_by = client_ip`: `cltaddr:` restrictions count.
    pub by_client_ip: bool,
    /// How items are matched.
    pub match_type: MatchType,
}

/// The policy flags of one SMTP server.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ServerPolicy {
    /// `access`: use the access map.
    pub access: bool,
    /// `lmtp_does_not_imply_relaying`.
    pub lmtp_not_local: bool,
    /// `delay_checks`: rejections of connect and MAIL wait for RCPT.
    pub delay_checks: bool,
    /// `greylisting`.
    pub greylisting: bool,
    /// `delay_greylisting_error_until_DATA`.
    pub grey_until_data: bool,
    /// `protected_recipients { }`.
    pub protected: Option<Protected>,
    /// `tls { flags = allow_relaying_if_verified; }`.
    pub relay_if_verified: bool,
    /// `tls { flags = check_access_map_for_relaying; }`.
    pub relay_by_cert_map: bool,
    /// `auth { trusted_mechs }` (upper case); empty: none (§3.10: relaying
    /// is allowed for the mechanisms listed, and only those).
    pub trusted_mechs: Vec<String>,
}

impl ServerPolicy {
    /// The flags of `conf`.
    pub fn from_conf(conf: &SmtpsConf) -> ServerPolicy {
        let f = &conf.flags;
        let tls = conf.tls.as_ref().map(|t| &t.flags);
        ServerPolicy {
            access: f.has("access"),
            lmtp_not_local: f.has("lmtp_does_not_imply_relaying"),
            delay_checks: f.has("delay_checks"),
            greylisting: f.has("greylisting"),
            grey_until_data: f.has("delay_greylisting_error_until_DATA"),
            protected: conf.protected_recipients.as_ref().map(|p| Protected {
                by_sender: p.allow_by.has("sender"),
                by_client_ip: p.allow_by.has("client_ip"),
                match_type: p.match_type,
            }),
            relay_if_verified: tls.is_some_and(|t| t.has("allow_relaying_if_verified")),
            relay_by_cert_map: tls.is_some_and(|t| t.has("check_access_map_for_relaying")),
            trusted_mechs: conf
                .auth
                .as_ref()
                .map(|a| {
                    a.trusted_mechs
                        .iter()
                        .map(|m| m.to_ascii_uppercase())
                        .collect()
                })
                .unwrap_or_default(),
        }
    }

    /// Whether an authentication with `mechanism` allows relaying.
    pub fn trusts(&self, mechanism: &str) -> bool {
        self.trusted_mechs
            .iter()
            .any(|m| m.eq_ignore_ascii_case(mechanism))
    }
}

/// The servers of a configuration by lower-cased section name (`""` for
/// the unnamed one).
pub fn servers(conf: &smx_grammar::Config) -> HashMap<String, ServerPolicy> {
    conf.global
        .smtps
        .iter()
        .map(|s| {
            (
                s.name.as_deref().unwrap_or("").to_ascii_lowercase(),
                ServerPolicy::from_conf(&s.conf),
            )
        })
        .collect()
}

/// The key of `server` in [`servers`].
pub fn server_key(server: Option<&str>) -> String {
    server.unwrap_or("").to_ascii_lowercase()
}

/// What one access-map check said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing found, or `cont`: the next check decides.
    None,
    /// `relay`.
    Relay {
        /// With `quick:`.
        quick: bool,
    },
    /// `ok`.
    Ok {
        /// With `quick:`.
        quick: bool,
    },
    /// `discard`.
    Discard {
        /// With `quick:`.
        quick: bool,
    },
    /// `reject` or `error:`.
    Reject {
        /// With `quick:`.
        quick: bool,
        /// The reply.
        reply: SmtpReply,
    },
}

impl Outcome {
    /// A rejection's reply.
    pub fn rejection(&self) -> Option<&SmtpReply> {
        match self {
            Outcome::Reject { reply, .. } => Some(reply),
            _ => None,
        }
    }
}

fn temp(e: MapError) -> Temporary {
    Temporary(e.to_string())
}

/// The outcome of `value`, the right-hand side of an entry with `tag`.
pub fn outcome(tag: &str, key: &str, value: &str) -> Result<Outcome, Temporary> {
    let rhs = parse_access_rhs(tag, value)
        .map_err(|why| Temporary(format!("access map entry {tag}{key}: {why}")))?;
    let quick = rhs.quick;
    Ok(match rhs.action {
        AccessAction::Relay => Outcome::Relay { quick },
        AccessAction::Ok => Outcome::Ok { quick },
        AccessAction::Discard => Outcome::Discard { quick },
        AccessAction::Cont => Outcome::None,
        AccessAction::Reject => Outcome::Reject {
            quick,
            reply: SmtpReply::new(550, "5.7.0", "Rejected."),
        },
        AccessAction::Error { code, status, text } => Outcome::Reject {
            quick,
            reply: SmtpReply::new(code, &status, text),
        },
    })
}

fn of_lookup(tag: &str, l: Lookup) -> Result<Outcome, Temporary> {
    match l.found {
        None => Ok(Outcome::None),
        Some(f) => outcome(tag, &f.key, &f.value),
    }
}

/// Looks `keys` up under `tag` (`cltaddr:` ...), first match wins.
pub fn check_keys(map: &dyn Map, tag: &str, keys: &[String]) -> Result<Outcome, Temporary> {
    let l = lookup::probe(map, tag, keys.iter().map(String::as_str)).map_err(temp)?;
    of_lookup(tag, l)
}

/// Looks an IPv4 address up under `tag` (A.B.C.D, A.B.C, A.B, A).
pub fn check_ip(map: &dyn Map, tag: &str, ip: std::net::Ipv4Addr) -> Result<Outcome, Temporary> {
    check_keys(map, tag, &lookup::ipv4_keys(ip))
}

/// Looks a host name up under `tag` (`host.dom`, `.dom`, ...).
pub fn check_domain(map: &dyn Map, tag: &str, name: &str) -> Result<Outcome, Temporary> {
    check_keys(map, tag, &lookup::domain_keys(name, false))
}

/// Looks an address up under `tag` with the order of §3.12.1 (local-part
/// fallback on: `to:root`, `to:abuse`).
pub fn check_address(
    map: &dyn Map,
    tag: &str,
    address: &str,
    delimiter: char,
) -> Result<Outcome, Temporary> {
    let opts = AddressOptions {
        delimiter,
        localpart_fallback: true,
        ..AddressOptions::default()
    };
    let item = if address.is_empty() { "<>" } else { address };
    let l = lookup::lookup(map, item, Some(tag), &opts).map_err(temp)?;
    of_lookup(tag, l)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn right_hand_sides_become_outcomes() {
        assert_eq!(
            outcome("cltaddr:", "10", "quick:relay").unwrap(),
            Outcome::Relay { quick: true }
        );
        assert_eq!(outcome("to:", "x", "cont").unwrap(), Outcome::None);
        assert_eq!(
            outcome("from:", "x", "reject").unwrap(),
            Outcome::Reject {
                quick: false,
                reply: SmtpReply::new(550, "5.7.0", "Rejected.")
            }
        );
        assert_eq!(
            outcome("from:", "x", "error:451 4.7.1 later")
                .unwrap()
                .rejection()
                .map(|r| r.code),
            Some(451)
        );
        // A broken entry is temporary, never a 5xx or an accept.
        assert!(outcome("from:", "x", "relay").is_err());
        assert!(outcome("to:", "x", "bogus").is_err());
    }
}

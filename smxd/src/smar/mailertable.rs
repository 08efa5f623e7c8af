//! The mailertable of SMAR (README §3.9.2 item 9, §3.9.3 "Mailertable",
//! §3.12.1 lookup order): either a text file read into memory at start and
//! on SIGHUP (`mailertable { file = mt; }`, the default) or a declared map
//! (`mailertable { name = NAME; }`).
//!
//! A domain `sub2.sub1.tld` is looked up as `sub2.sub1.tld`, `.sub1.tld`,
//! `.tld` and finally the default entry `.`. The right-hand sides are the
//! forms of `smx_maps::kind::parse_mailertable_rhs`: `lmtp:` (local, over
//! smtpc's `LMTP_socket`), `port^lmtp:hosts`, `[port^][esmtp:]hosts`.
//!
//! A domain is *local* when its route is `lmtp:` or `port^lmtp:hosts`
//! (README §4.3.1): relaying to it is allowed (unless the SMTP server has
//! `lmtp_does_not_imply_relaying`) and its users must exist.

use smx_maps::kind::{parse_mailertable_rhs, MapKind, Route};
use smx_maps::lookup;
use smx_maps::source::{self, Convention};
use smx_maps::{Map, MapError};
use std::collections::HashMap;
use std::sync::Arc;

/// Why the mailertable could not answer.
#[derive(Debug, thiserror::Error)]
pub enum MtError {
    /// The map failed (temporarily or not): the caller answers 4xx.
    #[error("mailertable: {0}")]
    Map(#[from] MapError),
    /// An entry of a mailertable map has a bad right-hand side.
    #[error("mailertable entry {key}: {why}")]
    BadEntry {
        /// The key that matched.
        key: String,
        /// What is wrong with its value.
        why: String,
    },
}

/// The mailertable.
#[derive(Clone)]
pub enum Mailertable {
    /// A text file read into memory (keys lower-cased).
    Text(HashMap<String, Route>),
    /// A declared map, looked up on every request.
    Map(Arc<dyn Map>),
}

impl std::fmt::Debug for Mailertable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Mailertable::Text(m) => write!(f, "Mailertable::Text({} entries)", m.len()),
            Mailertable::Map(_) => f.write_str("Mailertable::Map"),
        }
    }
}

impl Default for Mailertable {
    fn default() -> Self {
        Mailertable::Text(HashMap::new())
    }
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
            Ok(Mailertable::Text(routes))
        } else {
            Err(errors)
        }
    }

    /// The route of `domain` with the lookup order of §3.12.1 and the
    /// default entry `.`; `None` when nothing matches (route by MX).
    pub fn route(&self, domain: &str) -> Result<Option<Route>, MtError> {
        let keys = lookup::domain_keys(domain, true);
        match self {
            Mailertable::Text(routes) => Ok(keys.iter().find_map(|k| routes.get(k)).cloned()),
            Mailertable::Map(map) => {
                let Some(m) =
                    lookup::first_match(map.as_ref(), "", keys.iter().map(String::as_str))?
                else {
                    return Ok(None);
                };
                parse_mailertable_rhs(&m.value)
                    .map(Some)
                    .map_err(|why| MtError::BadEntry { key: m.key, why })
            }
        }
    }

    /// True when mail for `domain` is delivered over LMTP (a local domain).
    pub fn is_local(&self, domain: &str) -> Result<bool, MtError> {
        if domain.is_empty() {
            return Ok(false);
        }
        Ok(matches!(
            self.route(domain)?,
            Some(Route::LmtpLocal | Route::Lmtp { .. })
        ))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use smx_maps::kind::Host;
    use smx_maps::texthash::TextHash;

    const SEED: &str = "localhost lmtp:\n\
        SPAM.FILTER.DOMAIN 2525^esmtp:[127.0.0.1]\n\
        LMTPHOST.MY.DOMAIN 525^lmtp:[10.11.12.13]\n\
        MY.DOMAIN esmtp:[10.1.2.3]\n\
        ANOTHER.DOMAIN esmtp:MTA.SERVER\n\
        .TLD esmtp:GATE.WAY\n\
        multi.example esmtp:[10.0.0.1] backup.example\n\
        . esmtp:SMART.HOST\n";

    fn check(mt: &Mailertable) {
        let r = |d: &str| mt.route(d).unwrap();
        assert_eq!(r("localhost"), Some(Route::LmtpLocal));
        assert_eq!(
            r("spam.filter.domain"),
            Some(Route::Esmtp {
                port: Some(2525),
                hosts: vec![Host::Ip("127.0.0.1".parse().unwrap())]
            })
        );
        assert_eq!(
            r("LMTPhost.my.domain"),
            Some(Route::Lmtp {
                port: 525,
                hosts: vec![Host::Ip("10.11.12.13".parse().unwrap())]
            })
        );
        assert_eq!(
            r("my.domain"),
            Some(Route::Esmtp {
                port: None,
                hosts: vec![Host::Ip("10.1.2.3".parse().unwrap())]
            })
        );
        assert_eq!(
            r("another.domain"),
            Some(Route::Esmtp {
                port: None,
                hosts: vec![Host::Name("MTA.SERVER".into())]
            })
        );
        // `.tld` matches subdomains, not `tld` itself (which gets `.`).
        assert_eq!(
            r("a.b.tld"),
            Some(Route::Esmtp {
                port: None,
                hosts: vec![Host::Name("GATE.WAY".into())]
            })
        );
        assert_eq!(
            r("tld"),
            Some(Route::Esmtp {
                port: None,
                hosts: vec![Host::Name("SMART.HOST".into())]
            })
        );
        // `my.domain` does not match `sub.my.domain`: the default entry does.
        assert_eq!(
            r("sub.my.domain"),
            Some(Route::Esmtp {
                port: None,
                hosts: vec![Host::Name("SMART.HOST".into())]
            })
        );
        assert_eq!(
            r("multi.example"),
            Some(Route::Esmtp {
                port: None,
                hosts: vec![
                    Host::Ip("10.0.0.1".parse().unwrap()),
                    Host::Name("backup.example".into())
                ]
            })
        );
        assert!(mt.is_local("localhost").unwrap());
        assert!(mt.is_local("lmtphost.my.domain").unwrap());
        assert!(!mt.is_local("my.domain").unwrap());
        assert!(!mt.is_local("").unwrap());
    }

    #[test]
    fn every_rhs_form_of_the_seed_from_a_text_file() {
        check(&Mailertable::parse(SEED).unwrap());
    }

    #[test]
    fn every_rhs_form_of_the_seed_from_a_map() {
        let lower = SEED
            .lines()
            .map(|l| {
                let (k, v) = l.split_once(' ').unwrap();
                format!("{} {v}\n", k.to_ascii_lowercase())
            })
            .collect::<String>();
        let map = TextHash::parse("mt", &lower, false).unwrap();
        check(&Mailertable::Map(Arc::new(map)));
    }

    #[test]
    fn no_entry_and_no_default_means_mx_routing() {
        let mt = Mailertable::parse("localhost lmtp:\n").unwrap();
        assert_eq!(mt.route("example.com").unwrap(), None);
        assert!(!mt.is_local("example.com").unwrap());
    }

    #[test]
    fn bad_lines_are_reported_and_bad_map_entries_fail() {
        let e = Mailertable::parse("ok.example lmtp:\nbad.example smtp:[1.2.3.4]\n").unwrap_err();
        assert_eq!(e.len(), 1);
        assert!(e[0].starts_with("line 2:"), "{e:?}");
        let map = TextHash::parse("mt", "bad.example smtp:[1.2.3.4]\n", false).unwrap();
        let mt = Mailertable::Map(Arc::new(map));
        assert!(matches!(
            mt.route("bad.example"),
            Err(MtError::BadEntry { .. })
        ));
    }
}

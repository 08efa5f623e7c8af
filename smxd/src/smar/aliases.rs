//! Alias expansion (README §3.9.2 item 3, §3.9.3 "Aliases", §3.12.1
//! lookup order, §3.12.3 macros, §4.3.2 `local:` entries).
//!
//! Which keys are asked depends on the flags of `aliases { flags = ...; }`:
//!
//! - `localpart` (the default): for an address of a local domain (its
//!   mailertable route is LMTP), the local part alone, with the local-part
//!   steps 2a–2e of §3.12.1 (`user+detail`, `user++`, `user+*`, `user*`,
//!   `user`);
//! - `local_domains`: for an address of a local domain, the full address
//!   with the steps 1a–1f (`vuser1@virt1.tld`, `@domain`, `.domain`);
//! - `all_domains`: the full address, for every domain;
//! - `implicitly_match_detail`: `user@domain` / `user` also match
//!   `user+detail`;
//! - `replace_macros`: `${user}`, `${detail}`, `${domain}`, `${tag}`,
//!   `${delimiter}`, `${subdomain}`, `${extension}` in the RHS are replaced
//!   (§3.12.3);
//! - `preserve_domain`: an unqualified RHS (`localuser`) gets the domain of
//!   the address being expanded instead of the host name.
//!
//! Several flags may be combined; `localpart` with `local_domains` tries
//! the full address first, then the local part.
//!
//! Expansion is recursive up to [`MAX_DEPTH`] levels ("Aliases can be
//! nested (currently up to 5 levels)"); one more is [`ExpandError::TooDeep`]
//! (554 5.4.6), which is also how a loop `a: b`, `b: a` ends. An alias that
//! names itself (`alice: alice`) is final, as in sendmail 8. A `local:`
//! entry makes the address itself final and marks it a valid local
//! address. When `owner-LIST` exists for an alias `LIST`, the members of
//! LIST get the envelope sender `owner-LIST@domain` (the original domain
//! preserved); an inner list with its own owner overrides the outer one.
//! Duplicate results (compared case-insensitively) are dropped, the first
//! one kept.

use super::mailertable::{Mailertable, MtError};
use smx_grammar::config::smar::AliasesConf;
use smx_maps::kind::{parse_alias_rhs, AliasTarget};
use smx_maps::lookup::{self, AddressOptions, Candidate, Found};
use smx_maps::macros::{self, MacroContext};
use smx_maps::{Map, MapError};
use std::collections::HashSet;
use std::sync::Arc;

/// How many levels of aliases are expanded.
pub const MAX_DEPTH: usize = 5;

/// Why an address could not be expanded.
#[derive(Debug, thiserror::Error)]
pub enum ExpandError {
    /// More than [`MAX_DEPTH`] levels, or a loop.
    #[error("{0}: alias loop or aliases nested too deeply")]
    TooDeep(String),
    /// The aliases map failed.
    #[error("aliases: {0}")]
    Map(#[from] MapError),
    /// The mailertable failed (needed to know which domains are local).
    #[error(transparent)]
    Mailertable(#[from] MtError),
    /// An alias entry has a bad right-hand side.
    #[error("alias {key}: {why}")]
    BadEntry {
        /// The key that matched.
        key: String,
        /// What is wrong.
        why: String,
    },
}

/// The flags of `aliases { flags = ...; }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AliasFlags {
    /// `localpart`.
    pub localpart: bool,
    /// `local_domains`.
    pub local_domains: bool,
    /// `all_domains`.
    pub all_domains: bool,
    /// `implicitly_match_detail`.
    pub implicitly_match_detail: bool,
    /// `replace_macros`.
    pub replace_macros: bool,
    /// `preserve_domain`.
    pub preserve_domain: bool,
}

impl AliasFlags {
    /// The flags of the configuration.
    pub fn from_conf(c: &AliasesConf) -> AliasFlags {
        let f = &c.flags;
        AliasFlags {
            localpart: f.has("localpart"),
            local_domains: f.has("local_domains"),
            all_domains: f.has("all_domains"),
            implicitly_match_detail: f.has("implicitly_match_detail"),
            replace_macros: f.has("replace_macros"),
            preserve_domain: f.has("preserve_domain"),
        }
    }
}

/// One result of an expansion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expanded {
    /// The final address.
    pub address: String,
    /// `owner-LIST@domain` when it came from a list with an owner.
    pub sender: Option<String>,
    /// It came from a `local:` entry: a valid local address.
    pub local_entry: bool,
    /// It is the result of at least one alias (not the input itself).
    pub aliased: bool,
}

/// The aliases map and how to look it up.
#[derive(Clone)]
pub struct Aliases {
    map: Arc<dyn Map>,
    flags: AliasFlags,
    delimiter: char,
}

impl std::fmt::Debug for Aliases {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Aliases")
            .field("flags", &self.flags)
            .field("delimiter", &self.delimiter)
            .finish()
    }
}

/// `local@domain` split at the last `@`; the domain is empty for a bare
/// local part.
pub fn split(addr: &str) -> (&str, &str) {
    addr.rsplit_once('@').unwrap_or((addr, ""))
}

impl Aliases {
    /// The aliases in `map`.
    pub fn new(map: Arc<dyn Map>, flags: AliasFlags, delimiter: char) -> Aliases {
        Aliases {
            map,
            flags,
            delimiter,
        }
    }

    /// The keys to ask for `addr`, whose domain is local or not.
    fn candidates(&self, addr: &str, local: bool) -> Vec<Candidate> {
        let full = self.flags.all_domains || (self.flags.local_domains && local);
        let localpart = self.flags.localpart && local;
        let opts = AddressOptions {
            delimiter: self.delimiter,
            implicitly_match_detail: self.flags.implicitly_match_detail,
            localpart_fallback: localpart,
            domain_match: true,
        };
        if full {
            lookup::address_keys(addr, &opts)
        } else if localpart {
            let (lp, domain) = split(addr);
            if lp.is_empty() {
                return Vec::new();
            }
            let mut c = lookup::address_keys(lp, &opts);
            for c in &mut c {
                c.domain = domain.to_string();
            }
            c
        } else {
            Vec::new()
        }
    }

    /// The alias entry for `addr`, if any.
    pub fn lookup(&self, addr: &str, local: bool) -> Result<Option<Found>, MapError> {
        let c = self.candidates(addr, local);
        if c.is_empty() {
            return Ok(None);
        }
        Ok(lookup::probe_candidates(self.map.as_ref(), "", &c)?.found)
    }

    /// Expands `addr` (qualified, no angle brackets); `hostname` qualifies
    /// unqualified right-hand sides.
    pub fn expand(
        &self,
        addr: &str,
        mt: &Mailertable,
        hostname: &str,
    ) -> Result<Vec<Expanded>, ExpandError> {
        let mut out = Vec::new();
        self.walk(addr, 0, None, mt, hostname, &mut out)?;
        let mut seen = HashSet::new();
        out.retain(|e| seen.insert(e.address.to_lowercase()));
        Ok(out)
    }

    fn walk(
        &self,
        addr: &str,
        depth: usize,
        sender: Option<String>,
        mt: &Mailertable,
        hostname: &str,
        out: &mut Vec<Expanded>,
    ) -> Result<(), ExpandError> {
        let (lp, domain) = split(addr);
        let local = domain.is_empty() || mt.is_local(domain)?;
        let final_ = |local_entry| Expanded {
            address: addr.to_string(),
            sender: sender.clone(),
            local_entry,
            aliased: depth > 0,
        };
        let Some(found) = self.lookup(addr, local)? else {
            out.push(final_(false));
            return Ok(());
        };
        let rhs = match (&found.candidate, self.flags.replace_macros) {
            (Some(c), true) => macros::expand(&found.value, &MacroContext::from_candidate(c, None)),
            _ => found.value.clone(),
        };
        let targets = parse_alias_rhs(&rhs).map_err(|why| ExpandError::BadEntry {
            key: found.key.clone(),
            why,
        })?;
        if targets == [AliasTarget::LocalDelivery] {
            out.push(final_(true));
            return Ok(());
        }
        if depth >= MAX_DEPTH {
            return Err(ExpandError::TooDeep(addr.to_string()));
        }
        let owner = format!("owner-{lp}");
        let sender = if lp.to_ascii_lowercase().starts_with("owner-") {
            sender
        } else {
            let owner_addr = if domain.is_empty() {
                format!("{owner}@{hostname}")
            } else {
                format!("{owner}@{domain}")
            };
            match self.lookup(&owner_addr, local)? {
                Some(_) => Some(owner_addr),
                None => sender,
            }
        };
        let qualify_domain = if self.flags.preserve_domain && !domain.is_empty() {
            domain
        } else {
            hostname
        };
        for t in targets {
            let next = match t {
                AliasTarget::Address(a) => a,
                AliasTarget::Local(name) => format!("{name}@{qualify_domain}"),
                AliasTarget::LocalDelivery => continue,
            };
            if next.eq_ignore_ascii_case(addr) {
                out.push(Expanded {
                    address: next,
                    sender: sender.clone(),
                    local_entry: false,
                    aliased: true,
                });
            } else {
                self.walk(&next, depth + 1, sender.clone(), mt, hostname, out)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use smx_maps::texthash::TextHash;

    const MT: &str = "localhost lmtp:\nfirst.dom lmtp:\nsecond.dom lmtp:\n\
                      host.local lmtp:\nremote.example esmtp:[10.0.0.1]\n";

    fn aliases(text: &str, flags: AliasFlags) -> (Aliases, Mailertable) {
        let map = TextHash::parse("aliases", text, true).unwrap();
        (
            Aliases::new(Arc::new(map), flags, '+'),
            Mailertable::parse(MT).unwrap(),
        )
    }

    fn lp() -> AliasFlags {
        AliasFlags {
            localpart: true,
            ..AliasFlags::default()
        }
    }

    fn addrs(r: &[Expanded]) -> Vec<&str> {
        r.iter().map(|e| e.address.as_str()).collect()
    }

    #[test]
    fn seed_example_unqualified_list_and_owner() {
        let (a, mt) = aliases(
            "myalias: localuser\n\
             mylist: <user1@my.dom> <user2@my.dom> <localuser@local.host>\n\
             owner-mylist: someuser\n",
            lp(),
        );
        let r = a.expand("myalias@localhost", &mt, "host.local").unwrap();
        assert_eq!(addrs(&r), ["localuser@host.local"]);
        assert_eq!(r[0].sender, None);
        assert!(r[0].aliased);
        let r = a.expand("mylist@localhost", &mt, "host.local").unwrap();
        assert_eq!(
            addrs(&r),
            ["user1@my.dom", "user2@my.dom", "localuser@local.host"]
        );
        // The original domain is kept in the owner address.
        assert!(r
            .iter()
            .all(|e| e.sender.as_deref() == Some("owner-mylist@localhost")));
        // Not a local domain: localpart aliases are not looked up.
        let r = a
            .expand("myalias@remote.example", &mt, "host.local")
            .unwrap();
        assert_eq!(addrs(&r), ["myalias@remote.example"]);
        assert!(!r[0].aliased);
    }

    #[test]
    fn nesting_up_to_five_levels_and_loops() {
        let five = "a1: a2\na2: a3\na3: a4\na4: a5\na5: <final@remote.example>\n";
        let (a, mt) = aliases(five, lp());
        let r = a.expand("a1@localhost", &mt, "localhost").unwrap();
        assert_eq!(addrs(&r), ["final@remote.example"]);
        let six = "a0: a1\n".to_string() + five;
        let (a, mt) = aliases(&six, lp());
        assert!(matches!(
            a.expand("a0@localhost", &mt, "localhost"),
            Err(ExpandError::TooDeep(_))
        ));
        let (a, mt) = aliases("x: y\ny: x\n", lp());
        assert!(matches!(
            a.expand("x@localhost", &mt, "localhost"),
            Err(ExpandError::TooDeep(_))
        ));
        // Naming oneself is final (sendmail 8's `user: user`).
        let (a, mt) = aliases("alice: alice\n", lp());
        let r = a.expand("alice@localhost", &mt, "localhost").unwrap();
        assert_eq!(addrs(&r), ["alice@localhost"]);
    }

    #[test]
    fn local_entries_duplicates_and_inner_owners() {
        let (a, mt) = aliases(
            "user: local:\nuser++: local:\nteam: <user@localhost> <sub@localhost> <USER@localhost>\n\
             sub: <x@remote.example> <user@localhost>\nowner-sub: user\n",
            lp(),
        );
        let r = a.expand("user@localhost", &mt, "localhost").unwrap();
        assert_eq!(addrs(&r), ["user@localhost"]);
        assert!(r[0].local_entry && !r[0].aliased);
        let r = a.expand("user+tag@localhost", &mt, "localhost").unwrap();
        assert_eq!(addrs(&r), ["user+tag@localhost"]);
        assert!(r[0].local_entry);
        let r = a.expand("team@localhost", &mt, "localhost").unwrap();
        assert_eq!(addrs(&r), ["user@localhost", "x@remote.example"]);
        assert_eq!(r[0].sender, None);
        assert_eq!(r[1].sender.as_deref(), Some("owner-sub@localhost"));
    }

    #[test]
    fn local_domains_flag_seed_example() {
        let flags = AliasFlags {
            local_domains: true,
            ..AliasFlags::default()
        };
        let (a, mt) = aliases(
            "myalias@first.dom: user1\nanother@second.dom: user2\nvuser@remote.example: nobody\n",
            flags,
        );
        let x = |s: &str| addrs(&a.expand(s, &mt, "host.local").unwrap()).join(" ");
        assert_eq!(x("myalias@first.dom"), "user1@host.local");
        assert_eq!(x("another@second.dom"), "user2@host.local");
        assert_eq!(x("myalias@second.dom"), "myalias@second.dom");
        assert_eq!(x("another@first.dom"), "another@first.dom");
        // Not a local domain: not looked up with local_domains ...
        assert_eq!(x("vuser@remote.example"), "vuser@remote.example");
        // ... nor are local parts alone.
        assert_eq!(x("user1@first.dom"), "user1@first.dom");
    }

    #[test]
    fn all_domains_and_preserve_domain() {
        let flags = AliasFlags {
            all_domains: true,
            preserve_domain: true,
            ..AliasFlags::default()
        };
        let (a, mt) = aliases("vuser@remote.example: real\n@second.dom: catchall\n", flags);
        let x = |s: &str| addrs(&a.expand(s, &mt, "host.local").unwrap()).join(" ");
        assert_eq!(x("vuser@remote.example"), "real@remote.example");
        assert_eq!(x("anyone@second.dom"), "catchall@second.dom");
    }

    #[test]
    fn implicitly_match_detail() {
        let (a, mt) = aliases("bob: <bob@remote.example>\n", lp());
        let x = |a: &Aliases, s: &str| addrs(&a.expand(s, &mt, "localhost").unwrap()).join(" ");
        assert_eq!(x(&a, "bob+news@localhost"), "bob+news@localhost");
        let flags = AliasFlags {
            implicitly_match_detail: true,
            ..lp()
        };
        let (b, _) = aliases("bob: <bob@remote.example>\n", flags);
        assert_eq!(x(&b, "bob+news@localhost"), "bob@remote.example");
    }

    #[test]
    fn replace_macros_seed_example() {
        let flags = AliasFlags {
            all_domains: true,
            replace_macros: true,
            ..AliasFlags::default()
        };
        let (a, mt) = aliases(
            "alias*@.domain: user${extension}@${subdomain}.domain\n\
             fwd: <${user}-${detail}@remote.example>\n",
            flags,
        );
        let x = |s: &str| addrs(&a.expand(s, &mt, "localhost").unwrap()).join(" ");
        assert_eq!(x("alias@host.domain"), "user@host.domain");
        assert_eq!(x("alias+detail@host2.domain"), "user+detail@host2.domain");
        // Without the flag the RHS is taken literally (and fails the grammar
        // of a domain only if it must).
        let flags = AliasFlags {
            localpart: true,
            replace_macros: true,
            ..AliasFlags::default()
        };
        let (b, _) = aliases("fwd+*: <${user}-${detail}@remote.example>\n", flags);
        let r = b.expand("fwd+x@localhost", &mt, "localhost").unwrap();
        assert_eq!(addrs(&r), ["fwd-x@remote.example"]);
    }

    #[test]
    fn a_failing_map_is_an_error() {
        struct Down;
        impl Map for Down {
            fn get(&self, _: &str) -> Result<Option<String>, MapError> {
                Err(MapError::Temp("down".into()))
            }
        }
        let a = Aliases::new(Arc::new(Down), lp(), '+');
        let mt = Mailertable::parse(MT).unwrap();
        assert!(matches!(
            a.expand("x@localhost", &mt, "localhost"),
            Err(ExpandError::Map(MapError::Temp(_)))
        ));
    }
}

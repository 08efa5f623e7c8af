//! Who may receive mail here, and which Maildir is theirs.
//!
//! A recipient's local part names a user: the part before the address
//! delimiter (`smar { address_delimiter }`, `+` by default; README §3.9.2),
//! lower-cased. Valid users are the keys of the local user map
//! (`smar { local_user_map { name = ...; } }`, README §3.9.2 item 7, looked
//! up with lower-cased keys as the map writers store them); with the flag
//! `implicitly_match_detail` an entry `user` also accepts `user+detail`.
//! Without a local user map every safe local part is accepted.
//!
//! Safety: the user becomes a path component of the Maildir, so a local
//! part with `/`, `..`, a leading `.`, NUL, whitespace or another control
//! character is refused before any lookup (`550 5.1.3`): no address can
//! name a directory outside the mail directory.

use crate::smar::maps::{Maps, OpenError};
use smx_grammar::config::SmarConf;
use smx_maps::{Map, MapError};
use std::path::Path;
use std::sync::{Arc, RwLock};

/// Why a recipient is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The local part could name a path outside the mail directory, or is
    /// empty: `550 5.1.3`.
    #[error("local part not allowed as a mailbox name")]
    Unsafe,
    /// Not in the local user map: `550 5.1.1`.
    #[error("no such user")]
    Unknown,
    /// The map could not answer now: `451 4.3.0`.
    #[error("local user map: {0}")]
    Temporary(String),
}

/// Why the local user map cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum UsersError {
    /// `local_user_map { }` without `name`.
    #[error("local_user_map has no name")]
    NoName,
    /// The named map could not be opened.
    #[error(transparent)]
    Open(#[from] OpenError),
}

/// The valid local users.
pub struct LocalUsers {
    delimiter: Option<char>,
    implicit_detail: bool,
    map: RwLock<Option<Arc<dyn Map>>>,
}

impl std::fmt::Debug for LocalUsers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalUsers")
            .field("delimiter", &self.delimiter)
            .field("implicit_detail", &self.implicit_detail)
            .finish_non_exhaustive()
    }
}

impl LocalUsers {
    /// Users of `map` (`None`: everyone), with `delimiter` separating
    /// `+detail` (empty: no detail) and the `implicitly_match_detail` flag.
    pub fn new(map: Option<Arc<dyn Map>>, delimiter: &str, implicit_detail: bool) -> Self {
        LocalUsers {
            delimiter: delimiter.chars().next(),
            implicit_detail,
            map: RwLock::new(map),
        }
    }

    /// The users of the configuration: the map named by `local_user_map`,
    /// opened relative to `conf_dir` (the configuration's directory).
    pub fn from_config(smar: &SmarConf, conf_dir: &Path) -> Result<Self, UsersError> {
        let implicit = smar
            .local_user_map
            .as_ref()
            .is_some_and(|l| l.flags.has("implicitly_match_detail"));
        Ok(LocalUsers::new(
            open_map(smar, conf_dir)?,
            &smar.address_delimiter,
            implicit,
        ))
    }

    /// Opens the local user map again (SIGHUP); on failure the old map
    /// stays in use.
    pub fn reopen(&self, smar: &SmarConf, conf_dir: &Path) -> Result<(), UsersError> {
        let map = open_map(smar, conf_dir)?;
        match self.map.write() {
            Ok(mut m) => *m = map,
            Err(poisoned) => *poisoned.into_inner() = map,
        }
        Ok(())
    }

    fn current(&self) -> Option<Arc<dyn Map>> {
        match self.map.read() {
            Ok(m) => m.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// The user whose Maildir receives mail for `local_part` (unquoted).
    /// May block on the map (Berkeley DB, socketmap): call it from a
    /// blocking task.
    pub fn resolve(&self, local_part: &str) -> Result<String, Refusal> {
        if !is_safe(local_part) {
            return Err(Refusal::Unsafe);
        }
        let key = local_part.to_lowercase();
        let (user, has_detail) = match self.delimiter.and_then(|d| key.split_once(d)) {
            Some((u, _)) => (u.to_string(), true),
            None => (key.clone(), false),
        };
        if !is_safe(&user) {
            return Err(Refusal::Unsafe);
        }
        let Some(map) = self.current() else {
            return Ok(user);
        };
        let found = |k: &str| match map.get(k) {
            Ok(v) => Ok(v.is_some()),
            Err(MapError::Temp(e)) => Err(Refusal::Temporary(e)),
            // A broken map is the administrator's to fix; never bounce for it.
            Err(e) => Err(Refusal::Temporary(e.to_string())),
        };
        if found(&key)? || (self.implicit_detail && has_detail && found(&user)?) {
            Ok(user)
        } else {
            Err(Refusal::Unknown)
        }
    }
}

fn open_map(smar: &SmarConf, conf_dir: &Path) -> Result<Option<Arc<dyn Map>>, UsersError> {
    let Some(lum) = &smar.local_user_map else {
        return Ok(None);
    };
    let name = lum.name.as_deref().ok_or(UsersError::NoName)?;
    let maps = Maps::open(smar, conf_dir)?;
    maps.get(name)
        .map(Some)
        .ok_or_else(|| UsersError::Open(OpenError::Undeclared(name.to_string())))
}

/// True when `s` can be used as one path component inside the mail
/// directory: not empty, no `/`, no `..`, no leading `.`, no NUL,
/// whitespace or control character.
pub fn is_safe(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with('.')
        && !s.contains("..")
        && !s
            .chars()
            .any(|c| c == '/' || c.is_control() || c.is_whitespace())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::collections::HashMap;

    struct Table(HashMap<&'static str, &'static str>);
    impl Map for Table {
        fn get(&self, key: &str) -> Result<Option<String>, MapError> {
            if key == "down" {
                return Err(MapError::Temp("socketmap down".into()));
            }
            Ok(self.0.get(key).map(|v| v.to_string()))
        }
    }

    fn users(implicit: bool) -> LocalUsers {
        let t = Table(HashMap::from([("alice", "ok"), ("bob+lists", "ok")]));
        LocalUsers::new(Some(Arc::new(t)), "+", implicit)
    }

    #[test]
    fn lookup_order_and_detail() {
        let u = users(false);
        assert_eq!(u.resolve("Alice").unwrap(), "alice");
        assert_eq!(u.resolve("alice+x"), Err(Refusal::Unknown));
        assert_eq!(u.resolve("bob+lists").unwrap(), "bob");
        assert_eq!(u.resolve("bob"), Err(Refusal::Unknown));
        assert_eq!(u.resolve("carol"), Err(Refusal::Unknown));
        let u = users(true);
        assert_eq!(u.resolve("ALICE+Foo").unwrap(), "alice");
        assert!(matches!(u.resolve("down"), Err(Refusal::Temporary(_))));
    }

    #[test]
    fn without_a_map_every_safe_local_part_is_a_user() {
        let u = LocalUsers::new(None, "+", false);
        assert_eq!(u.resolve("Zed+tag").unwrap(), "zed");
        let u = LocalUsers::new(None, "", false);
        assert_eq!(u.resolve("zed+tag").unwrap(), "zed+tag");
    }

    #[test]
    fn unsafe_local_parts() {
        let u = LocalUsers::new(None, "+", false);
        for bad in [
            "", ".", "..", "../etc", "a/b", "/root", ".hidden", "a..b", "a\0b", "a\nb", "a b",
            "a\u{7f}", "+detail", "a\tb",
        ] {
            assert_eq!(u.resolve(bad), Err(Refusal::Unsafe), "{bad:?}");
        }
        for good in ["a.b", "a-b_c", "o'brien", "jörg"] {
            assert!(u.resolve(good).is_ok(), "{good:?}");
        }
    }
}

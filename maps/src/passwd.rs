//! The `passwd` map type (sendmail X README §3.9.1, `map password { type =
//! passwd; }`): the system's user database (getpwnam(3), so NSS sources
//! such as LDAP count) as a map of valid local users, typically the
//! `local_user_map` (§3.9.2 item 7) or one map of a sequence.
//!
//! The key is a user name; the value is the user's home directory. Only the
//! existence of the user matters to `local_user_map`; the home directory is
//! what a local delivery agent needs next. User names are matched as given
//! (getpwnam is case-sensitive, and lookups lower-case their keys, so upper
//! case user names are not found). Keys that cannot be user names — empty,
//! or containing `@`, `*` or NUL, as the address patterns of §3.12.1 do —
//! are answered "not found" without asking the system. A failure of the
//! user database itself (an NSS source that is down) is
//! [`MapError::Temp`].

use nix::unistd::User;

use crate::{Map, MapError};

/// The system user database as a map: user name → home directory.
#[derive(Debug, Clone, Copy, Default)]
pub struct Passwd;

impl Passwd {
    /// The map; it holds no state.
    pub fn new() -> Self {
        Passwd
    }
}

impl Map for Passwd {
    fn may_block(&self) -> bool {
        true
    }

    fn get(&self, key: &str) -> Result<Option<String>, MapError> {
        if key.is_empty() || key.contains(['@', '*', '\0']) {
            return Ok(None);
        }
        match User::from_name(key) {
            Ok(Some(user)) => Ok(Some(user.dir.to_string_lossy().into_owned())),
            Ok(None) => Ok(None),
            Err(errno) => Err(MapError::Temp(format!("passwd lookup of {key:?}: {errno}"))),
        }
    }
}

//! smx-maps: the maps of smx (sendmail X README §3.8.1, §3.9, §3.12).
//!
//! - [`db`]: a safe wrapper over Berkeley DB (hash and btree) from
//!   `libdb-sys`; all `unsafe` code of the crate lives there.
//! - [`source`]: reading text map sources (`key value` lines) in the
//!   sendmail convention and the Postfix convention ([`source::Convention`]).
//! - [`kind`]: right-hand-side validation per map kind: access, aliases,
//!   mailertable, qmgr_conf (and plain, which takes anything).
//! - [`lookup`]: the lookup orders of §3.12.1 (domains, IPv4 addresses,
//!   addresses with `+detail`) and [`macros`], the RHS macros of §3.12.3.
//! - Map types behind the [`Map`] trait: [`dbmap`] (hash, btree),
//!   [`sequence`], [`socket`] (the sendmail socketmap protocol), [`passwd`],
//!   [`texthash`] (a text file read into memory).
//!
//! Keys: writers lower-case keys unless told not to (`createmap -f`);
//! readers accept keys stored with and without a trailing NUL, as sendmail
//! (no NUL) and Postfix (NUL) write them.

pub mod db;
pub mod dbmap;
pub mod error;
#[doc(hidden)]
pub mod fuzz;
pub mod kind;
pub mod lookup;
pub mod macros;
pub mod passwd;
pub mod sequence;
pub mod socket;
pub mod source;
pub mod texthash;

pub use error::MapError;

/// A map: exact lookups of one key.
///
/// Callers apply the lookup orders of [`lookup`] on top; a map itself only
/// answers for the key it is given. Implementations fold nothing: the caller
/// lower-cases keys when the map was compiled with folded keys (the default).
pub trait Map: Send + Sync {
    /// The value stored for `key`, `Ok(None)` when there is none.
    ///
    /// A temporary failure (a socketmap server that is down, a timeout) is
    /// [`MapError::Temp`]: callers answer 4xx, never 5xx.
    fn get(&self, key: &str) -> Result<Option<String>, MapError>;

    /// Whether a lookup may wait on something outside this process (a
    /// socketmap server, the name service): callers on an async runtime
    /// run such lookups off it. In-memory maps and local Berkeley DB files
    /// answer at once.
    fn may_block(&self) -> bool {
        false
    }
}

//! smx-migrate: move a sendmail 8 or a Postfix site onto smx (issue 8).
//! Reads the old configuration without running it (no m4, no postconf),
//! writes an smx.conf that passes the checker of `smxctl check`, the map
//! sources and compiled maps (sendmail X README §3.9, §4), and a report of
//! every directive read; `verify` compares the old and new lookups and
//! relaying policies.

pub mod common;
pub mod error;
#[doc(hidden)]
pub mod fuzz;
pub mod output;
pub mod policy;
pub mod postfix;
pub mod report;
pub mod site;

pub use error::MigrateError;
pub use postfix::Migration;
pub mod sendmail;
pub mod verify;

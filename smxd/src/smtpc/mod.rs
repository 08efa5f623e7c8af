//! smtpc: the SMTP and LMTP client of smx (README §3.11). It connects to
//! the QMGR on `SMTPC_socket` and serves the QMGR's delivery requests on
//! that connection: one message, one next hop, some recipients; it answers
//! one reply per recipient.
//!
//! - [`reply`]: reading server replies (RFC 5321 §4.2).
//! - [`extensions`]: EHLO keywords used (PIPELINING, SIZE, 8BITMIME,
//!   SMTPUTF8, DSN).
//! - [`params`]: the MAIL/RCPT parameters passed on.
//! - [`data`]: dot-stuffing and CRLF line ends for DATA.
//! - [`session`]: one ESMTP/LMTP session over any async stream.
//! - [`cache`]: idle connections kept for the next delivery.
//! - [`deliver`]: one QMGR request carried out ([`deliver::Client`]).
//! - [`run`]: the process: QMGR connection, signals.
//!
//! Privilege: runs unprivileged (`smtpc { user = smxc; }`): it reads
//! content files, connects to the network and to local LMTP sockets, and
//! talks to the QMGR only.

pub mod cache;
pub mod data;
pub mod deliver;
pub mod extensions;
pub mod params;
pub mod reply;
pub mod run;
pub mod session;

pub use deliver::{Client, ClientConf};
pub use run::main;

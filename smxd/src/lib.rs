//! smxd: the daemons of smx, one binary whose subcommands are the
//! components of sendmail X (README §1.1, DESIGN.md "smxd: processes").
//!
//! - [`ipc`]: length-prefixed, versioned, multiplexed frames between the
//!   components.
//! - [`mcp`]: the supervisor (README §3.7): starts the components, owns the
//!   listening sockets, restarts what crashes, forwards signals.
//! - [`smtps`]: the SMTP server (README §3.10): protocol parser, session
//!   state machine over any `AsyncRead + AsyncWrite`, smuggling-proof DATA
//!   and BDAT.
//! - [`queue`]: the receive side of the queue (README §1.1.1, §7.1): queue
//!   ids, content files (CDB), the envelope log with group commit (IBDB),
//!   recovery.
//!
//! Each component runs as its own process with the least privilege it
//! needs; see each module's header.

pub mod ipc;
pub mod mcp;
pub mod queue;
pub mod smtps;

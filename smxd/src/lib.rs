//! smxd: the daemons of smx, one binary whose subcommands are the
//! components of sendmail X (README §1.1, DESIGN.md "smxd: processes").
//!
//! - [`ipc`]: length-prefixed, versioned, multiplexed frames between the
//!   components.
//! - [`mcp`]: the supervisor (README §3.7): starts the components, owns the
//!   listening sockets, restarts what crashes, forwards signals.
//! - [`qmgr`]: the queue manager (README §3.8), receive side; [`proto`]:
//!   what the SMTP servers and the QMGR say to each other.
//! - [`smtps`]: the SMTP server (README §3.10): protocol parser, session
//!   state machine over any `AsyncRead + AsyncWrite`, smuggling-proof DATA
//!   and BDAT.
//! - [`queue`]: the receive side of the queue (README §1.1.1, §7.1): queue
//!   ids, content files (CDB), the envelope log with group commit (IBDB),
//!   recovery.
//!
//! Each component runs as its own process with the least privilege it
//! needs; see each module's header.

pub mod component;
pub mod dsn;
#[doc(hidden)]
pub mod fuzz;
pub mod inbound;
pub mod ipc;
pub mod lmtpl;
pub mod logging;
pub mod mcp;
pub mod proto;
pub mod qmgr;
pub mod queue;
pub mod smar;
pub mod smtpc;
pub mod smtps;

//! smx-control: the control protocol of the smx queue manager (seed 002
//! §3.8 `control_socket`, §4.6.3; documented in smx-control(5)).
//!
//! JSON Lines over a Unix stream socket: one [`Request`] per line with a
//! client-chosen id, one [`Response`] per request, and [`Event`] lines for
//! subscribers. This crate holds everything but the queue itself:
//!
//! - [`types`]: the requests, responses, events and result types;
//! - [`filter`]: [`glob`] and [`Filter::matches`], the selection semantics;
//! - [`shape()`]: the qshape table (domains × age buckets) from entries;
//! - [`framing`]: line framing with the 64 KiB request limit;
//! - [`locate`]: the socket path from smx.conf, resolved as smxd does;
//! - [`server`]: [`ControlBackend`] (implemented by the QMGR) and the
//!   dispatcher [`serve`];
//! - [`client`]: the async [`Client`] used by smxctl and smx-tui;
//! - [`fake`]: an in-memory backend for tests, benchmarks and demos.

pub mod client;
pub mod fake;
pub mod filter;
pub mod framing;
#[doc(hidden)]
pub mod fuzz;
pub mod locate;
pub mod server;
pub mod shape;
pub mod types;

pub use client::{Client, ClientError};
pub use filter::{domain_of, glob};
pub use framing::MAX_REQUEST;
pub use locate::{socket_from_config, LocateError};
pub use server::{serve, serve_listener, ControlBackend};
pub use shape::shape;
pub use types::*;

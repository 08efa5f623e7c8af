//! The SMTP server (README §3.10): one [`serve`] call runs one SMTP session
//! over any `AsyncRead + AsyncWrite` (TCP, or an in-memory pipe in tests),
//! upgraded to TLS by STARTTLS (RFC 3207) when [`Security`] allows. It speaks RFC 5321 with PIPELINING (RFC 2920), 8BITMIME
//! (RFC 6152, when the `8bitmime` flag is set), SIZE (RFC 1870),
//! ENHANCEDSTATUSCODES (RFC 2034/3463), DSN (RFC 3461), SMTPUTF8
//! (RFC 6531) and CHUNKING (RFC 3030), and applies the limits of §3.10.
//!
//! Privilege: none. smtps is started by the MCP with its listening socket
//! passed in, runs as an unprivileged user, and touches no file itself:
//! policy and storage go through the [`backend::Backend`] it is given,
//! which the integrator implements over the address resolver (SMAR) and the
//! queue manager (QMGR, which owns the queue and commits the envelope).
//!
//! Decisions (each argued in the file named):
//! - Only `CRLF.CRLF` ends DATA; a bare CR or LF anywhere in DATA or BDAT
//!   content rejects the whole message with `550 5.6.0` after the real end
//!   (`data.rs`), so no smuggling pattern (CVE-2023-51764/51765/51766) can
//!   start a second transaction. Command lines too end only at CRLF
//!   (`conn.rs`).
//! - `soft_bounce` turns 550–554 into 450–454, never syntax errors
//!   (`reply.rs`).
//! - A §3.10 limit of N lets N commands through; the next one gets
//!   `421 4.7.0` and the connection closes (`session.rs`).
//! - Early talkers get `554 5.5.0` and are disconnected (`session.rs`).
//! - `io_timeout` cannot be stretched by a client that dribbles: a command
//!   line must be complete, and DATA must bring a line end, within each
//!   `io_timeout` (`conn.rs`).
//! - `max_hops` counts the header's `Received:` fields plus the one smx
//!   adds (`message.rs`).
//!
//! Layout, one concern per file, no I/O outside `conn.rs`:
//! - `reply.rs`: every reply, with its enhanced code; `soft_bounce`.
//! - `command.rs`: one command line → [`command::Command`]; line limits.
//! - `address.rs`: paths and MAIL/RCPT parameters.
//! - `data.rs`: DATA framing (smuggling-proof; bare CR/LF decision there).
//! - `bdat.rs`: CHUNKING rules.
//! - `budget.rs`: the content all sessions of a process may hold in memory
//!   together (`452 4.3.1` beyond it).
//! - `received.rs`: the `Received:` header.
//! - `stream.rs`, `tls.rs`: plaintext-or-TLS stream, certificates, what a
//!   handshake established; `auth.rs`: STARTTLS (RFC 3207) and AUTH
//!   (RFC 4954) in the session; `sasl.rs`: PLAIN (RFC 4616) and LOGIN.
//! - `conn.rs`: buffered reads, timeouts, pipelined reply flushing.
//! - `events.rs`: what is logged about a session (refusals; `connect` and
//!   `disconnect` lines with the commands given).
//! - `session.rs`: the state machine and the limits; `hello.rs`,
//!   `mail.rs`, `rcpt.rs`, `message.rs`: the commands.

pub mod address;
mod auth;
pub mod backend;
pub mod bdat;
pub mod budget;
pub mod command;
pub mod conn;
pub mod data;
pub mod events;
mod hello;
mod mail;
mod message;
mod rcpt;
pub mod received;
pub mod reply;
pub mod sasl;
mod session;
pub mod stream;
pub mod tls;

pub use backend::{AuthInfo, Backend, Envelope, Peer, Recipient, SessionInfo, TlsInfo, Verdict};
pub use reply::Reply;

use smx_grammar::config::SmtpsConf;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncWrite};

/// What STARTTLS and AUTH need beyond the configuration section: the
/// loaded certificates and the password map. The default offers neither.
#[derive(Clone, Default)]
pub struct Security {
    /// STARTTLS is offered when set.
    pub tls: Option<Arc<tls::ServerTls>>,
    /// User name (lower case) → password hash (`smx_maps::kind::passwords`);
    /// AUTH is offered over TLS when set.
    pub passwords: Option<Arc<dyn smx_maps::Map>>,
}

/// Runs one SMTP session on `stream` until QUIT, a closing error, a
/// timeout or the client's disconnect. `hostname` is used in the greeting
/// and in `Received:`.
pub async fn serve<S, B>(stream: S, peer: Peer, conf: &SmtpsConf, hostname: &str, backend: &B)
where
    S: AsyncRead + AsyncWrite + Unpin,
    B: Backend,
{
    serve_secure(stream, peer, conf, hostname, backend, &Security::default()).await
}

/// [`serve`] with STARTTLS and AUTH as `security` allows.
pub async fn serve_secure<S, B>(
    stream: S,
    peer: Peer,
    conf: &SmtpsConf,
    hostname: &str,
    backend: &B,
    security: &Security,
) where
    S: AsyncRead + AsyncWrite + Unpin,
    B: Backend,
{
    session::Session::new(stream, peer, conf, hostname, backend, security)
        .run()
        .await
}

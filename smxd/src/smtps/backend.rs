//! What the SMTP session asks of the rest of smx: policy (connect, MAIL,
//! RCPT) and storage (`deliver`). The integrator implements [`Backend`]
//! over the address resolver (access map, relaying) and the queue manager
//! (content database + IBDB); tests implement it in memory.
//!
//! `deliver` receives the whole message in a buffer, bounded by
//! `max_message_size` plus the `Received:` header: simple, and enough for
//! the limits smx ships with. Streaming into the CDB file while reading is
//! a later refinement that only changes this trait.

use super::address::{ForwardPath, MailParams, RcptParams, ReversePath};
use super::reply::Reply;
use std::future::Future;
use std::net::SocketAddr;

/// The client at the other end.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Peer {
    /// Its address (none for in-memory or Unix-socket sessions).
    pub addr: Option<SocketAddr>,
    /// Its name from reverse DNS, if looked up.
    pub name: Option<String>,
}

/// What a policy hook decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Go on (the session sends its own success reply).
    Accept,
    /// Refuse with this reply; a `421` also closes the session.
    Reject(Reply),
}

/// What the session knows when it asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    /// The client.
    pub peer: Peer,
    /// The EHLO/HELO argument.
    pub helo: Option<String>,
    /// True after EHLO.
    pub esmtp: bool,
    /// After STARTTLS: what the TLS layer established.
    pub tls: Option<TlsInfo>,
    /// After a successful AUTH: the authenticated user and mechanism.
    pub auth: Option<AuthInfo>,
}

/// The TLS state of a session (README §3.10 item 21, §3.11).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TlsInfo {
    /// Protocol version, e.g. `TLSv1.3`.
    pub version: String,
    /// Cipher suite name.
    pub cipher: String,
    /// The client presented a certificate that verified against the CAs.
    pub verified: bool,
    /// Issuer DN of the client certificate, encoded as §3.10 item 21 says.
    pub cert_issuer: Option<String>,
    /// Subject DN of the client certificate, encoded likewise.
    pub cert_subject: Option<String>,
}

/// An authenticated client (RFC 4954).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AuthInfo {
    /// The user name.
    pub user: String,
    /// The SASL mechanism, e.g. `PLAIN`.
    pub mechanism: String,
}

/// One accepted recipient with its DSN parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    /// The address.
    pub path: ForwardPath,
    /// NOTIFY, ORCPT.
    pub params: RcptParams,
}

/// The envelope of one message, as handed to [`Backend::deliver`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// The client.
    pub client: Peer,
    /// Its EHLO/HELO argument.
    pub helo: String,
    /// `SMTP`, `ESMTP` or `UTF8SMTP` (RFC 3848, RFC 6531), as in Received:.
    pub protocol: &'static str,
    /// MAIL FROM.
    pub sender: ReversePath,
    /// SIZE, BODY, SMTPUTF8, RET, ENVID, AUTH.
    pub mail: MailParams,
    /// The accepted recipients, in order.
    pub recipients: Vec<Recipient>,
}

/// Policy and storage for the SMTP server.
pub trait Backend: Send + Sync {
    /// A client connected; `Reject` replaces the greeting and ends the
    /// session.
    fn connect(&self, peer: &Peer) -> impl Future<Output = Verdict> + Send;
    /// The session with `peer` ended (after `connect`, whatever it said).
    fn disconnect(&self, _peer: &Peer) -> impl Future<Output = ()> + Send {
        async {}
    }
    /// Whether a line at `level` (README §3.5 `log_level`) would be
    /// logged; the session formats none that would not. The default logs
    /// nothing.
    fn logs(&self, _level: u64) -> bool {
        false
    }
    /// Logs one line about the session at `level` (see `events.rs`).
    fn log(&self, _level: u64, _line: &str) {}
    /// The budget of message content the sessions may hold in memory
    /// together (`budget.rs`); the default sets none.
    fn content_budget(&self) -> Option<std::sync::Arc<super::budget::ContentBudget>> {
        None
    }
    /// MAIL FROM, after its syntax and the size were checked.
    fn mail(
        &self,
        s: &SessionInfo,
        from: &ReversePath,
        p: &MailParams,
    ) -> impl Future<Output = Verdict> + Send;
    /// RCPT TO, after its syntax and the recipient limits were checked. A
    /// `Reject` counts as an invalid address (§3.10 items 8 and 12).
    fn rcpt(
        &self,
        s: &SessionInfo,
        to: &ForwardPath,
        p: &RcptParams,
    ) -> impl Future<Output = Verdict> + Send;
    /// Stores one accepted message durably (`content` starts with the
    /// server's `Received:` header and ends in CRLF; it is given, not lent,
    /// so that storing it needs no copy) and returns its queue id; only
    /// after it returns `Ok` does the session answer `250`.
    fn deliver(
        &self,
        envelope: &Envelope,
        content: Vec<u8>,
    ) -> impl Future<Output = Result<String, Reply>> + Send;
}

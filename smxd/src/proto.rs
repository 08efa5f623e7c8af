//! The messages between the SMTP servers and the queue manager, carried by
//! [`crate::ipc`] frames over `SMTPS_socket` (README §3.4 item 5).
//!
//! The SMTP server asks before it takes a transaction ([`SmtpsRequest::Room`])
//! and, once the content file is written, asks the QMGR to commit the
//! envelope ([`SmtpsRequest::Commit`]); it answers `250` only when the QMGR
//! says [`QmgrAnswer::Committed`], which the QMGR says only when the
//! content and the IBDB record holding the transaction are on disk.

use crate::queue::ibdb::record::Transaction;
use serde::{Deserialize, Serialize};

/// What an SMTP server asks the QMGR.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SmtpsRequest {
    /// Is there room (disk space, IQDB) for a transaction with this many
    /// recipients?
    Room {
        /// Recipients so far (0 at MAIL).
        recipients: usize,
    },
    /// Commit this transaction; its content file is written.
    Commit {
        /// The envelope.
        ta: Transaction,
        /// Whether the content file is fsynced already (`CDB_sync =
        /// file`); if not, the QMGR makes it durable before the envelope.
        synced: bool,
    },
    /// The largest queue id the QMGR knows (recovered or committed), so a
    /// (re)started SMTP server makes only larger ids, whatever its clock
    /// says (answered with [`QmgrAnswer::MaxId`]).
    MaxId,
}

/// What the QMGR answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum QmgrAnswer {
    /// Yes (to `Room`).
    Ok,
    /// The transaction is on disk.
    Committed,
    /// To `MaxId`: the largest queue id known, if any.
    MaxId(Option<crate::queue::QueueId>),
    /// No: the SMTP reply to give (always temporary from the QMGR).
    Refused {
        /// Reply code, e.g. 452.
        code: u16,
        /// Enhanced status code, e.g. `4.3.1`.
        status: String,
        /// Text.
        text: String,
    },
}

// ---------------------------------------------------------------------
// Delivery side (issue 5): SMAR and SMTPC.
//
// SMAR listens on `SMAR_socket`; SMTPS and the QMGR are its clients
// ([`SmarRequest`] / [`SmarAnswer`]). The QMGR listens on `SMTPC_socket`;
// each SMTPC process connects to it and then *serves* the QMGR's
// [`Delivery`] requests on that connection, answering [`DeliveryResult`]
// (README §2.4.1: the QMGR owns `qmsmtpc/`).
// ---------------------------------------------------------------------

/// An SMTP reply to pass on: code, enhanced status code, text (one line).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SmtpReply {
    /// Reply code (250, 451, 550 ...).
    pub code: u16,
    /// Enhanced status code (RFC 3463), e.g. `5.1.1`.
    pub status: String,
    /// Text without the code.
    pub text: String,
}

impl SmtpReply {
    /// A reply.
    pub fn new(code: u16, status: &str, text: impl Into<String>) -> SmtpReply {
        SmtpReply {
            code,
            status: status.to_string(),
            text: text.into(),
        }
    }

    /// 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.code)
    }

    /// 4xx.
    pub fn is_temporary(&self) -> bool {
        (400..500).contains(&self.code)
    }

    /// 5xx.
    pub fn is_permanent(&self) -> bool {
        self.code >= 500
    }
}

impl std::fmt::Display for SmtpReply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {} {}", self.code, self.status, self.text)
    }
}

/// What SMTPS and the QMGR ask SMAR.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SmarRequest {
    /// SMTPS at RCPT: may `address` be accepted from `client`? (relaying
    /// rules, local users, aliases).
    Rcpt {
        /// The client's IP address, if the session is over TCP.
        client: Option<std::net::IpAddr>,
        /// The recipient as given in RCPT TO (no angle brackets).
        address: String,
        /// The SMTP server has the `access` flag: consult the access map
        /// (`cltaddr:`, `to:` relay entries).
        #[serde(default)]
        access: bool,
        /// The SMTP server has `lmtp_does_not_imply_relaying`: an `lmtp:`
        /// domain is not local for relaying (README §3.10 item 3e).
        #[serde(default)]
        lmtp_not_local: bool,
    },
    /// SMTPS when a client connects (README §3.12.2 "Connect"): the
    /// The session of a client that `Connect` accepted ended (README
    /// §3.8 item 17: SMAR counts the open sessions per client address).
    /// Answered with [`SmarAnswer::Connect`] and no reply.
    Disconnect {
        /// The client's IP address.
        client: Option<std::net::IpAddr>,
    },
    /// `cltaddr:`, `cltresolve:`, `cltname:` and DNSBL checks of the
    /// server named `server` (its `smtps` section's name; `None` for the
    /// unnamed one). Answered with [`SmarAnswer::Connect`].
    Connect {
        /// The server's section name.
        server: Option<String>,
        /// The client's IP address.
        client: Option<std::net::IpAddr>,
    },
    /// SMTPS at MAIL (README §3.12.2 "MAIL"): sender routable, local
    /// sender valid, `from:`, `mxbadip:`. Answered with
    /// [`SmarAnswer::Checked`].
    Mail {
        /// The server's section name.
        server: Option<String>,
        /// The client's IP address.
        client: Option<std::net::IpAddr>,
        /// The sender, no angle brackets (empty for `<>`).
        sender: String,
        /// What the connect stage decided.
        session: SessionPolicy,
    },
    /// SMTPS at RCPT with the whole policy (README §3.12.2 "RCPT"):
    /// relaying (local domains, `to:`, session relay, verified client
    /// certificates, authenticated clients), `protectedrcpt:`, `to:`,
    /// greylisting. Answered with [`SmarAnswer::Checked`].
    RcptPolicy(Box<RcptPolicy>),
    /// QMGR before a delivery attempt: where does `address` go? Aliases
    /// are expanded, the mailertable consulted, MX records looked up.
    Route {
        /// The recipient as stored in the envelope.
        address: String,
    },
}

/// The session-level outcome of the connect checks, kept by SMTPS for
/// the session and sent back with every MAIL and RCPT request (README
/// §3.9.3: `quick:`, `relay`, `ok`, `discard`; §3.10 item 3b
/// `delay_checks`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SessionPolicy {
    /// The client may relay (`cltaddr:`/`cltname:` `relay`).
    pub relay: bool,
    /// ... with `quick:relay`: no other access check applies.
    pub quick_relay: bool,
    /// A session check said `ok` (no greylisting).
    pub ok: bool,
    /// ... with `quick:ok`: no other access check unless needed to relay.
    pub quick_ok: bool,
    /// `discard` at connect: every transaction of the session is dropped.
    pub discard: bool,
    /// A rejection delayed to RCPT (`delay_checks`), given to every RCPT.
    pub delayed: Option<SmtpReply>,
    /// The client's host name when reverse and forward lookups agree.
    pub client_name: Option<String>,
}

/// What a RCPT policy check needs (see [`SmarRequest::RcptPolicy`]).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RcptPolicy {
    /// The server's section name.
    pub server: Option<String>,
    /// The client's IP address.
    pub client: Option<std::net::IpAddr>,
    /// The recipient, no angle brackets (`postmaster` for `<Postmaster>`).
    pub address: String,
    /// The envelope sender of the transaction (empty for `<>`).
    pub sender: String,
    /// The connect stage's outcome.
    pub session: SessionPolicy,
    /// A rejection of MAIL delayed to RCPT (`delay_checks`).
    pub mail_delayed: Option<SmtpReply>,
    /// The client presented a certificate that verified.
    pub tls_verified: bool,
    /// Its issuer DN, encoded (README §3.10 item 21).
    pub cert_issuer: Option<String>,
    /// Its subject DN, encoded.
    pub cert_subject: Option<String>,
    /// The SASL mechanism the client authenticated with, if it did.
    pub auth_mechanism: Option<String>,
}

/// What `discard` applies to (README §3.9.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Discard {
    /// Nothing is discarded.
    #[default]
    No,
    /// This recipient is accepted and dropped.
    Recipient,
    /// The whole transaction is accepted and dropped.
    Transaction,
}

/// SMAR's answer to a MAIL or RCPT policy check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checked {
    /// The reply: 2xx accepts; 4xx/5xx is what SMTPS answers.
    pub reply: SmtpReply,
    /// On 2xx: what is silently dropped.
    pub discard: Discard,
    /// At MAIL with `delay_checks`: a rejection to give at each RCPT
    /// instead (the MAIL itself is accepted).
    pub delayed: Option<SmtpReply>,
    /// At RCPT with `delay_greylisting_error_until_DATA`: the greylisting
    /// error to give at DATA (the RCPT itself is accepted).
    pub at_data: Option<SmtpReply>,
}

impl Checked {
    /// Accepted, nothing dropped or delayed.
    pub fn accept(reply: SmtpReply) -> Checked {
        Checked {
            reply,
            discard: Discard::No,
            delayed: None,
            at_data: None,
        }
    }
}

/// What SMAR answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SmarAnswer {
    /// To `Connect`: `None` accepts the session (its state in `session`);
    /// a reply refuses it (a `421`/`554` greeting).
    Connect {
        /// The refusal, if any.
        reply: Option<SmtpReply>,
        /// The session state to send with MAIL and RCPT.
        session: SessionPolicy,
    },
    /// To `Mail` and `RcptPolicy`.
    Checked(Checked),
    /// To `Rcpt`: 250 accepts; 4xx/5xx is the reply SMTPS gives.
    Rcpt(SmtpReply),
    /// To `Route`: the final recipients (one, or several after alias
    /// expansion), each with where it goes.
    Routed(Vec<Resolved>),
    /// To `Route`: the address cannot be routed now (4xx: try later, e.g.
    /// a DNS timeout) or at all (5xx: bounce, e.g. `error:` mailertable
    /// entry, no such domain).
    Failed(SmtpReply),
}

/// One final recipient after alias expansion and routing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resolved {
    /// The address to give in RCPT TO.
    pub address: String,
    /// When an `owner-LIST` alias exists for the list this recipient came
    /// from, the envelope sender to use instead of the original (§3.9.2).
    pub sender: Option<String>,
    /// Where to deliver.
    pub next: NextHop,
}

/// Where a recipient is delivered.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum NextHop {
    /// LMTP over a Unix socket (`lmtp:` with no host: smtpc's
    /// `LMTP_socket`), path relative to the queue directory or absolute.
    LmtpUnix {
        /// Socket path.
        path: String,
    },
    /// SMTP (or LMTP with `lmtp`) to these addresses, tried in order (MX
    /// preference order, then the addresses of each host); the next one
    /// on connect failure or a 4xx greeting.
    Hosts {
        /// Speak LMTP instead of ESMTP (`port^lmtp:[addr]`).
        lmtp: bool,
        /// Addresses with ports, in the order to try.
        addrs: Vec<std::net::SocketAddr>,
        /// The host names, for logs (`relay=mx1.example[192.0.2.1]:25`);
        /// parallel to `addrs`, may be empty strings.
        names: Vec<String>,
    },
    /// Not deliverable: one address of an alias expansion that failed
    /// permanently while the others route (the QMGR records the reply and
    /// bounces that address, without a delivery attempt).
    Refused {
        /// The reply to record (5xx).
        reply: SmtpReply,
    },
}

impl NextHop {
    /// A short key for per-destination limits and the connection cache:
    /// the socket path, or the first address.
    pub fn key(&self) -> String {
        match self {
            NextHop::LmtpUnix { path } => format!("unix:{path}"),
            NextHop::Refused { .. } => "refused".to_string(),
            NextHop::Hosts { addrs, lmtp, .. } => format!(
                "{}:{}",
                if *lmtp { "lmtp" } else { "smtp" },
                addrs
                    .iter()
                    .map(|a| a.to_string())
                    .collect::<Vec<_>>()
                    .join(",")
            ),
        }
    }
}

/// One delivery the QMGR hands to an SMTPC process: one message, one
/// next hop, some recipients.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    /// Queue id (for logs).
    pub id: String,
    /// The content file, relative to the queue directory (CRLF lines,
    /// not dot-stuffed, starting with our `Received:` header).
    pub content: String,
    /// Envelope sender (empty for `<>`).
    pub sender: String,
    /// MAIL FROM parameters in ESMTP form (`BODY=8BITMIME SMTPUTF8
    /// RET=HDRS ENVID=xyz`); SMTPC passes on those the server supports.
    pub mail_params: String,
    /// The recipients.
    pub recipients: Vec<DeliveryRcpt>,
    /// Where to.
    pub next: NextHop,
}

/// One recipient of a [`Delivery`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryRcpt {
    /// Opaque to SMTPC; comes back in the result.
    pub index: u32,
    /// RCPT TO address.
    pub address: String,
    /// RCPT TO parameters in ESMTP form (`NOTIFY=FAILURE,DELAY
    /// ORCPT=rfc822;a@b`).
    pub params: String,
}

/// What SMTPC answers for a [`Delivery`]: one reply per recipient (2xx
/// sent, 4xx deferred, 5xx bounced). A failure of the whole transaction
/// (no host reachable, 4xx after DATA ...) is that reply for every
/// recipient.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryResult {
    /// The server that answered, for logs: `name[addr]:port` or the
    /// socket path; empty if none was reached.
    pub relay: String,
    /// `(index, reply)` for every recipient of the request.
    pub results: Vec<(u32, SmtpReply)>,
}

//! One delivery request of the QMGR, carried out: find a connection to the
//! next hop (an idle one from the cache, checked with RSET, or a new one),
//! send the message in as many transactions as the per-transaction
//! recipient limit needs (README §3.8 item 16), answer one reply per
//! recipient, and park the connection for the next delivery. STARTTLS is
//! used whenever an SMTP server offers it (see `Client::secure`).
//!
//! Next hops (`crate::proto::NextHop`):
//! - `LmtpUnix`: LMTP over a Unix socket (README §3.11 item 2, mailertable
//!   `lmtp:`), relative to the queue directory.
//! - `Hosts`: the addresses in order (MX preference, RFC 5321 §5.1): a
//!   connect failure or timeout, or a greeting or hello that is not 2xx,
//!   moves on to the next address (logged). If none works every recipient
//!   gets the last failure, made temporary if any attempt failed
//!   temporarily; `451 4.4.1` if no server answered at all.
//!
//! Log lines carry the queue id: `smtpc: ID: to=<rcpt>, relay=..., 250 ...`.

use super::cache::ConnCache;
use super::params::MailParams;
use super::session::{Message, Outcome, Protocol, Recipient, Session};
use crate::component;
use crate::proto::{Delivery, DeliveryResult, NextHop, SmtpReply};
use crate::smtps::tls::ClientTls;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};

const WHO: &str = "smtpc";

/// Any connection the client can speak over.
pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> Stream for T {}

/// A session over a TCP or Unix connection.
pub type Conn = Session<Box<dyn Stream>>;

/// What the client needs from the configuration.
#[derive(Debug, Clone)]
pub struct ClientConf {
    /// Our name in EHLO/LHLO (`hostname`, else the system's).
    pub helo_name: String,
    /// Bound on every read and write (`smtpc { io_timeout }`).
    pub io_timeout: Duration,
    /// Bound on a TCP or Unix connect.
    pub connect_timeout: Duration,
    /// `qmgr { smtpc { smtp_max_rcpts_per_transaction } }`.
    pub smtp_max_rcpts: usize,
    /// `qmgr { smtpc { lmtp_max_rcpts_per_transaction } }`.
    pub lmtp_max_rcpts: usize,
    /// Idle connections kept at most.
    pub cache_entries: usize,
    /// How long an idle connection is kept.
    pub cache_idle: Duration,
    /// Content files and relative LMTP socket paths resolve against this.
    pub queue_dir: PathBuf,
}

impl ClientConf {
    /// The client configuration from smx.conf.
    pub fn from_config(conf: &smx_grammar::Config, queue_dir: PathBuf) -> ClientConf {
        let g = &conf.global;
        let helo_name = crate::component::hostname(conf);
        let io_timeout = g.smtpc.io_timeout.max(Duration::from_secs(1));
        let limit = |n: u64| usize::try_from(n).unwrap_or(usize::MAX).max(1);
        ClientConf {
            helo_name,
            io_timeout,
            // Like Postfix's smtp_connect_timeout: a dead address should
            // not hold up the next one for the whole I/O timeout.
            connect_timeout: io_timeout.min(Duration::from_secs(30)),
            smtp_max_rcpts: limit(g.qmgr.smtpc.smtp_max_rcpts_per_transaction),
            lmtp_max_rcpts: limit(g.qmgr.smtpc.lmtp_max_rcpts_per_transaction),
            // The outgoing connection cache (README §3.8 `OCC_max_entries`).
            cache_entries: limit(g.qmgr.occ_max_entries),
            cache_idle: Duration::from_secs(10),
            queue_dir,
        }
    }
}

/// The delivery agent of one smtpc process.
pub struct Client {
    conf: ClientConf,
    cache: ConnCache<Conn>,
    /// STARTTLS when the server offers it (SMTP over TCP only).
    tls: Option<Arc<ClientTls>>,
}

impl Client {
    /// A client with an empty connection cache that uses STARTTLS
    /// whenever offered, without verifying certificates (no CAs).
    pub fn new(conf: ClientConf) -> Client {
        let cache = ConnCache::new(conf.cache_entries, conf.cache_idle);
        // Without files nothing is read from disk, so this cannot fail.
        let tls = ClientTls::load(None, std::path::Path::new(""))
            .ok()
            .map(Arc::new);
        Client { conf, cache, tls }
    }

    /// The same client with `smtpc { tls { } }` loaded (CAs to verify
    /// servers, a client certificate), or with STARTTLS off (`None`).
    pub fn with_tls(mut self, tls: Option<Arc<ClientTls>>) -> Client {
        self.tls = tls;
        self
    }

    /// Idle connections parked now.
    pub fn idle_connections(&self) -> usize {
        self.cache.len()
    }

    /// Says QUIT to connections idle too long (call now and then).
    pub async fn sweep(&self) {
        close_all(self.cache.expired()).await;
    }

    /// Says QUIT to every parked connection.
    pub async fn shutdown(&self) {
        close_all(self.cache.drain()).await;
    }

    /// Carries out one delivery; never fails as a whole.
    pub async fn deliver(&self, d: &Delivery) -> DeliveryResult {
        let key = d.next.key();
        let protocol = match &d.next {
            NextHop::LmtpUnix { .. } | NextHop::Hosts { lmtp: true, .. } => Protocol::Lmtp,
            NextHop::Hosts { lmtp: false, .. } => Protocol::Smtp,
            // The QMGR never sends these; answer with the reply anyway.
            NextHop::Refused { reply } => {
                return DeliveryResult {
                    relay: String::new(),
                    results: d
                        .recipients
                        .iter()
                        .map(|r| (r.index, reply.clone()))
                        .collect(),
                };
            }
        };
        let (mut conn, relay) = match self.cached(&key).await {
            Some(c) => c,
            None => match self.connect(d, protocol).await {
                Ok(c) => c,
                Err((relay, reply)) => {
                    let result = DeliveryResult {
                        relay,
                        results: d
                            .recipients
                            .iter()
                            .map(|r| (r.index, reply.clone()))
                            .collect(),
                    };
                    log_result(d, &result);
                    return result;
                }
            },
        };
        let params = MailParams::parse(&d.mail_params);
        if params.eight_bit() && !conn.ext.eightbitmime {
            component::log(
                WHO,
                format!(
                    "{}: 8-bit message to {relay}, which does not offer 8BITMIME; sent anyway",
                    d.id
                ),
            );
        }
        let content = self.conf.queue_dir.join(&d.content);
        let msg = Message {
            sender: &d.sender,
            params: &params,
            content: &content,
        };
        let max = match protocol {
            Protocol::Smtp => self.conf.smtp_max_rcpts,
            Protocol::Lmtp => self.conf.lmtp_max_rcpts,
        };
        let mut results = Vec::with_capacity(d.recipients.len());
        let mut dead: Option<SmtpReply> = None;
        for chunk in d.recipients.chunks(max.max(1)) {
            if let Some(reply) = &dead {
                // The connection died in an earlier transaction: the rest
                // wait for the next attempt.
                results.extend(chunk.iter().map(|r| (r.index, reply.clone())));
                continue;
            }
            let rcpts: Vec<Recipient<'_>> = chunk
                .iter()
                .map(|r| Recipient {
                    address: &r.address,
                    params: &r.params,
                })
                .collect();
            let Outcome { replies, error } = conn.transaction(msg, &rcpts).await;
            results.extend(chunk.iter().map(|r| r.index).zip(replies));
            if let Some(e) = error {
                component::log(WHO, format!("{}: {relay}: {e}", d.id));
                dead = Some(e.reply());
            }
        }
        let result = DeliveryResult {
            relay: relay.clone(),
            results,
        };
        log_result(d, &result);
        if conn.is_usable() && dead.is_none() {
            close_in_background(self.cache.put(key, relay, conn));
        }
        result
    }

    /// An idle connection for `key` that still answers RSET.
    async fn cached(&self, key: &str) -> Option<(Conn, String)> {
        loop {
            let (found, expired) = self.cache.take(key);
            close_in_background(expired);
            let (mut conn, relay) = found?;
            if conn.rset().await.is_ok() {
                return Some((conn, relay));
            }
            // Closed by the server while idle: try the next one, or connect.
        }
    }

    async fn connect(
        &self,
        d: &Delivery,
        protocol: Protocol,
    ) -> Result<(Conn, String), (String, SmtpReply)> {
        match &d.next {
            NextHop::LmtpUnix { path } => self.connect_unix(&d.id, path).await,
            NextHop::Hosts { addrs, names, .. } => {
                self.connect_hosts(&d.id, addrs, names, protocol).await
            }
            NextHop::Refused { reply } => Err((String::new(), reply.clone())),
        }
    }

    async fn connect_unix(
        &self,
        id: &str,
        path: &str,
    ) -> Result<(Conn, String), (String, SmtpReply)> {
        let full = self.conf.queue_dir.join(path);
        let relay = path.to_string();
        let stream = match tokio::time::timeout(
            self.conf.connect_timeout,
            tokio::net::UnixStream::connect(&full),
        )
        .await
        {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => {
                component::log(WHO, format!("{id}: connect to {path}: {e}"));
                let r = SmtpReply::new(451, "4.4.1", format!("cannot connect to {path}: {e}"));
                return Err((relay, r));
            }
            Err(_) => {
                component::log(WHO, format!("{id}: connect to {path}: timeout"));
                let r = SmtpReply::new(451, "4.4.1", format!("timeout connecting to {path}"));
                return Err((relay, r));
            }
        };
        let boxed: Box<dyn Stream> = Box::new(stream);
        match Session::open(
            boxed,
            &self.conf.helo_name,
            Protocol::Lmtp,
            self.conf.io_timeout,
        )
        .await
        {
            Ok(s) => Ok((s, relay)),
            Err(e) => {
                component::log(WHO, format!("{id}: {path}: {e}"));
                Err((relay, e.reply()))
            }
        }
    }

    async fn connect_hosts(
        &self,
        id: &str,
        addrs: &[SocketAddr],
        names: &[String],
        protocol: Protocol,
    ) -> Result<(Conn, String), (String, SmtpReply)> {
        let mut last: Option<(String, SmtpReply)> = None;
        let mut temporary = false;
        let mut last_connect_error = String::new();
        for (i, addr) in addrs.iter().enumerate() {
            let name = names.get(i).map(String::as_str).unwrap_or_default();
            let relay = format!("{name}[{}]:{}", addr.ip(), addr.port());
            let next = if i + 1 < addrs.len() {
                "trying next"
            } else {
                "no more addresses"
            };
            let stream = match tokio::time::timeout(
                self.conf.connect_timeout,
                tokio::net::TcpStream::connect(addr),
            )
            .await
            {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    component::log(WHO, format!("{id}: connect to {addr}: {e}; {next}"));
                    last_connect_error = format!("{addr}: {e}");
                    temporary = true;
                    continue;
                }
                Err(_) => {
                    component::log(WHO, format!("{id}: connect to {addr}: timeout; {next}"));
                    last_connect_error = format!("{addr}: connect timeout");
                    temporary = true;
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            let boxed: Box<dyn Stream> = Box::new(stream);
            let opened =
                Session::open(boxed, &self.conf.helo_name, protocol, self.conf.io_timeout).await;
            let opened = match (opened, &self.tls) {
                (Ok(s), Some(tls)) if s.ext.starttls && protocol == Protocol::Smtp => {
                    let host = if name.is_empty() {
                        addr.ip().to_string()
                    } else {
                        name.to_string()
                    };
                    self.secure(id, &relay, s, tls, &host, *addr, protocol)
                        .await
                }
                (o, _) => o,
            };
            match opened {
                Ok(s) => return Ok((s, relay)),
                Err(e) => {
                    component::log(WHO, format!("{id}: {relay}: {e}; {next}"));
                    let reply = e.reply();
                    temporary |= reply.is_temporary() || !e.is_refusal();
                    last = Some((relay, reply));
                }
            }
        }
        Err(match last {
            Some((relay, reply)) if temporary && reply.is_permanent() => {
                (relay, make_temporary(&reply))
            }
            Some(last) => last,
            None => {
                let text = if last_connect_error.is_empty() {
                    "no reachable host: no address to try".to_string()
                } else {
                    format!("no reachable host ({last_connect_error})")
                };
                (String::new(), SmtpReply::new(451, "4.4.1", text))
            }
        })
    }
}

impl Client {
    /// STARTTLS on a fresh session (opportunistic, like Postfix's
    /// `smtp_tls_security_level = may`): the outcome is logged; when TLS
    /// fails the connection is unusable, so the client connects again and
    /// goes on in plaintext without trying STARTTLS (as Postfix does).
    #[allow(clippy::too_many_arguments)]
    async fn secure(
        &self,
        id: &str,
        relay: &str,
        s: Conn,
        tls: &ClientTls,
        host: &str,
        addr: SocketAddr,
        protocol: Protocol,
    ) -> Result<Conn, super::session::SessionError> {
        let e = match s.starttls(tls, host).await {
            Ok(s) => {
                if let Some(t) = &s.tls {
                    let verify = if t.verified { "OK" } else { "NONE" };
                    component::log(
                        WHO,
                        format!(
                            "{id}: {relay}: TLS established: {} cipher={} verify={verify}",
                            t.version, t.cipher
                        ),
                    );
                }
                return Ok(s);
            }
            Err(e) => e,
        };
        component::log(
            WHO,
            format!("{id}: {relay}: TLS failed: {e}; continuing in plaintext"),
        );
        let stream = match tokio::time::timeout(
            self.conf.connect_timeout,
            tokio::net::TcpStream::connect(addr),
        )
        .await
        {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => return Err(e.into()),
            Err(_) => {
                return Err(super::session::SessionError::Timeout(
                    self.conf.connect_timeout,
                ))
            }
        };
        let _ = stream.set_nodelay(true);
        let boxed: Box<dyn Stream> = Box::new(stream);
        Session::open(boxed, &self.conf.helo_name, protocol, self.conf.io_timeout).await
    }
}

/// `5yz X.a.b text` → `4yz 4.a.b text`.
fn make_temporary(r: &SmtpReply) -> SmtpReply {
    let status = match r.status.split_once('.') {
        Some((_, rest)) => format!("4.{rest}"),
        None => "4.0.0".to_string(),
    };
    SmtpReply {
        code: r.code - 100,
        status,
        text: r.text.clone(),
    }
}

fn log_result(d: &Delivery, result: &DeliveryResult) {
    let relay = if result.relay.is_empty() {
        "none"
    } else {
        &result.relay
    };
    for (index, reply) in &result.results {
        let to = d
            .recipients
            .iter()
            .find(|r| r.index == *index)
            .map_or("", |r| r.address.as_str());
        component::log(WHO, format!("{}: to=<{to}>, relay={relay}, {reply}", d.id));
    }
}

async fn close_all(conns: Vec<Conn>) {
    for c in conns {
        c.quit().await;
    }
}

fn close_in_background(conns: Vec<Conn>) {
    if !conns.is_empty() {
        tokio::spawn(close_all(conns));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permanent_failures_become_temporary() {
        let r = make_temporary(&SmtpReply::new(554, "5.3.0", "no"));
        assert_eq!(r, SmtpReply::new(454, "4.3.0", "no"));
    }
}

//! One client connection speaking ESMTP (RFC 5321) or LMTP (RFC 2033)
//! over any `AsyncRead + AsyncWrite`, so the same code runs on TCP, on a
//! Unix socket and on an in-memory pipe.
//!
//! - [`Session::open`] reads the greeting and says EHLO (LHLO for LMTP),
//!   falling back to HELO when EHLO gets a 5xx (§4.1.4); a 4xx/5xx greeting
//!   or hello is [`SessionError::Refused`], so the caller tries the next
//!   address.
//! - [`Session::transaction`] sends one message to some recipients: MAIL,
//!   RCPT, DATA pipelined in one write when PIPELINING is offered
//!   (RFC 2920 §3.1), else one command at a time; then the content,
//!   dot-stuffed ([`super::data`]). SMTP gives one reply after the dot for
//!   every recipient accepted at RCPT; LMTP one per accepted recipient, in
//!   order (RFC 2033 §4.2). Recipients refused at RCPT keep that reply.
//! - Every read and write is bounded by the I/O timeout; a timeout, a lost
//!   connection or a malformed reply makes the recipients still open
//!   temporary failures (`451 4.4.2`, `451 4.5.0`) and the session
//!   unusable.
//!
//! - [`Session::starttls`] (RFC 3207): STARTTLS, the handshake, and EHLO
//!   again over TLS (§4.2: the client forgets what it learnt before). A
//!   server that sends anything after its `220` before the handshake is
//!   not trusted with it (the mirror image of CVE-2011-0411): the session
//!   fails. Any failure leaves the connection unusable; the caller decides
//!   to reconnect in plaintext.
//!
//! The session does no logging: it has no queue id; the caller logs.

use super::data::DotStuffer;
use super::extensions::Extensions;
use super::params::{rcpt_params, MailParams};
use super::reply::{read_reply, Reply, ReplyError};
use crate::proto::SmtpReply;
use crate::smtps::tls::ClientTls;
use crate::smtps::TlsInfo;
use std::path::Path;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};

/// ESMTP or LMTP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// RFC 5321.
    Smtp,
    /// RFC 2033.
    Lmtp,
}

/// Why a session failed. Every kind but [`SessionError::Refused`] leaves
/// the connection unusable.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The server did not answer (or take our data) in time.
    #[error("timeout after {0:?}")]
    Timeout(Duration),
    /// Reading a reply failed, or the reply is malformed.
    #[error("{0}")]
    Reply(#[from] ReplyError),
    /// Writing failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The content file could not be read in the middle of DATA.
    #[error("reading the message: {0}")]
    Content(std::io::Error),
    /// The server refused the connection: greeting or hello not 2xx.
    #[error("{0}")]
    Refused(SmtpReply),
}

impl SessionError {
    /// The reply this failure gives to the recipients still open.
    pub fn reply(&self) -> SmtpReply {
        match self {
            SessionError::Timeout(_) => {
                SmtpReply::new(451, "4.4.2", "timeout while talking to the server")
            }
            SessionError::Reply(ReplyError::Malformed(m)) => SmtpReply::new(
                451,
                "4.5.0",
                format!("malformed reply from the server: {m}"),
            ),
            SessionError::Reply(ReplyError::Closed) => {
                SmtpReply::new(451, "4.4.2", "connection closed by the server")
            }
            SessionError::Reply(ReplyError::Io(e)) | SessionError::Io(e) => {
                SmtpReply::new(451, "4.4.2", format!("lost connection: {e}"))
            }
            SessionError::Content(e) => {
                SmtpReply::new(451, "4.3.0", format!("cannot read the message: {e}"))
            }
            SessionError::Refused(r) => r.clone(),
        }
    }

    /// Is this a refusal (the connection itself still works)?
    pub fn is_refusal(&self) -> bool {
        matches!(self, SessionError::Refused(_))
    }
}

/// One message to send.
#[derive(Debug, Clone, Copy)]
pub struct Message<'a> {
    /// Envelope sender; empty for `<>`.
    pub sender: &'a str,
    /// What the envelope asks of MAIL FROM.
    pub params: &'a MailParams,
    /// The content file (CRLF lines, not dot-stuffed).
    pub content: &'a Path,
}

/// One recipient: address and RCPT parameters in ESMTP form.
#[derive(Debug, Clone, Copy)]
pub struct Recipient<'a> {
    /// RCPT TO address.
    pub address: &'a str,
    /// `NOTIFY=... ORCPT=...`.
    pub params: &'a str,
}

/// What became of a transaction: one reply per recipient, in the order
/// given, and the failure that ended the session, if one did.
#[derive(Debug)]
pub struct Outcome {
    /// Per recipient.
    pub replies: Vec<SmtpReply>,
    /// The session is unusable when this is set.
    pub error: Option<SessionError>,
}

/// Bytes read from the content file at a time.
const CHUNK: usize = 64 * 1024;

/// A client session.
pub struct Session<S> {
    io: BufReader<S>,
    timeout: Duration,
    /// What the server offered (nothing after HELO).
    pub ext: Extensions,
    /// The protocol spoken.
    pub protocol: Protocol,
    /// A transaction is open (MAIL accepted, not ended by the dot): RSET
    /// before the next one.
    open_transaction: bool,
    /// The dialogue lost its footing: do not use the session again.
    broken: bool,
    /// Our name in EHLO (said again after STARTTLS).
    helo_name: String,
    /// What STARTTLS established, once it did.
    pub tls: Option<TlsInfo>,
}

fn clean(s: &str) -> bool {
    !s.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0)
}

impl<S: AsyncRead + AsyncWrite + Unpin> Session<S> {
    /// Reads the greeting and says hello as `helo_name`.
    pub async fn open(
        stream: S,
        helo_name: &str,
        protocol: Protocol,
        timeout: Duration,
    ) -> Result<Session<S>, SessionError> {
        let mut s = Session {
            io: BufReader::new(stream),
            timeout,
            ext: Extensions::default(),
            protocol,
            open_transaction: false,
            broken: false,
            helo_name: helo_name.to_string(),
            tls: None,
        };
        let greeting = s.reply().await?;
        if !greeting.is_success() {
            s.quit_quietly().await;
            return Err(SessionError::Refused(greeting.to_smtp()));
        }
        let verb = match protocol {
            Protocol::Smtp => "EHLO",
            Protocol::Lmtp => "LHLO",
        };
        let hello = s.command(&format!("{verb} {helo_name}\r\n")).await?;
        if hello.is_success() {
            s.ext = Extensions::parse(&hello.lines);
            return Ok(s);
        }
        if protocol == Protocol::Smtp && hello.code >= 500 {
            let helo = s.command(&format!("HELO {helo_name}\r\n")).await?;
            if helo.is_success() {
                return Ok(s);
            }
            s.quit_quietly().await;
            return Err(SessionError::Refused(helo.to_smtp()));
        }
        s.quit_quietly().await;
        Err(SessionError::Refused(hello.to_smtp()))
    }

    /// Builds the session around a stream and sends EHLO (after STARTTLS).
    async fn ehlo_again(mut self) -> Result<Session<S>, SessionError> {
        let hello = self
            .command(&format!("EHLO {}\r\n", self.helo_name))
            .await?;
        if hello.is_success() {
            self.ext = Extensions::parse(&hello.lines);
            return Ok(self);
        }
        self.quit_quietly().await;
        Err(SessionError::Refused(hello.to_smtp()))
    }

    /// True while the session can carry another transaction.
    pub fn is_usable(&self) -> bool {
        !self.broken
    }

    async fn send(&mut self, bytes: &[u8]) -> Result<(), SessionError> {
        let w = self.io.get_mut();
        let fut = async {
            w.write_all(bytes).await?;
            w.flush().await
        };
        match tokio::time::timeout(self.timeout, fut).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => {
                self.broken = true;
                Err(e.into())
            }
            Err(_) => {
                self.broken = true;
                Err(SessionError::Timeout(self.timeout))
            }
        }
    }

    async fn reply(&mut self) -> Result<Reply, SessionError> {
        match tokio::time::timeout(self.timeout, read_reply(&mut self.io)).await {
            Ok(Ok(r)) => Ok(r),
            Ok(Err(e)) => {
                self.broken = true;
                Err(e.into())
            }
            Err(_) => {
                self.broken = true;
                Err(SessionError::Timeout(self.timeout))
            }
        }
    }

    async fn command(&mut self, line: &str) -> Result<Reply, SessionError> {
        self.send(line.as_bytes()).await?;
        self.reply().await
    }

    /// RSET: checks that an idle connection still works (and ends an open
    /// transaction). Not 2xx is a refusal.
    pub async fn rset(&mut self) -> Result<(), SessionError> {
        let r = self.command("RSET\r\n").await?;
        if r.is_success() {
            self.open_transaction = false;
            Ok(())
        } else {
            self.broken = true;
            Err(SessionError::Refused(r.to_smtp()))
        }
    }

    /// QUIT, waiting for the reply (bounded by the timeout); errors do not
    /// matter any more.
    pub async fn quit(mut self) {
        if !self.broken {
            let _ = self.command("QUIT\r\n").await;
        }
    }

    async fn quit_quietly(&mut self) {
        let _ = self.command("QUIT\r\n").await;
        self.broken = true;
    }

    /// Sends `msg` to `rcpts`. Never fails as a whole: each recipient gets
    /// a reply; [`Outcome::error`] says whether the session died.
    pub async fn transaction(&mut self, msg: Message<'_>, rcpts: &[Recipient<'_>]) -> Outcome {
        let mut slots: Vec<Option<SmtpReply>> = vec![None; rcpts.len()];
        let error = self.run(msg, rcpts, &mut slots).await.err();
        let fallback = error.as_ref().map_or_else(
            || SmtpReply::new(451, "4.5.0", "no reply for this recipient"),
            SessionError::reply,
        );
        Outcome {
            replies: slots
                .into_iter()
                .map(|s| s.unwrap_or_else(|| fallback.clone()))
                .collect(),
            error,
        }
    }

    async fn run(
        &mut self,
        msg: Message<'_>,
        rcpts: &[Recipient<'_>],
        slots: &mut [Option<SmtpReply>],
    ) -> Result<(), SessionError> {
        let fill = |slots: &mut [Option<SmtpReply>], r: &SmtpReply| {
            for s in slots.iter_mut().filter(|s| s.is_none()) {
                *s = Some(r.clone());
            }
        };
        // Checks that need no dialogue.
        if msg.params.smtputf8 && !self.ext.smtputf8 {
            let r = SmtpReply::new(
                550,
                "5.6.7",
                "the message needs SMTPUTF8, which the server does not offer",
            );
            fill(slots, &r);
            return Ok(());
        }
        if !clean(msg.sender) {
            fill(slots, &SmtpReply::new(550, "5.1.7", "bad sender address"));
            return Ok(());
        }
        for (slot, r) in slots.iter_mut().zip(rcpts) {
            if !clean(r.address) || !clean(r.params) {
                *slot = Some(SmtpReply::new(550, "5.1.3", "bad recipient address"));
            }
        }
        let file = match tokio::fs::File::open(msg.content).await {
            Ok(f) => f,
            Err(e) => {
                let r = SmtpReply::new(451, "4.3.0", format!("cannot read the message: {e}"));
                fill(slots, &r);
                return Ok(());
            }
        };
        let size = match file.metadata().await {
            Ok(m) => m.len(),
            Err(e) => {
                let r = SmtpReply::new(451, "4.3.0", format!("cannot read the message: {e}"));
                fill(slots, &r);
                return Ok(());
            }
        };
        if let Some(limit) = self.ext.size.filter(|&l| l > 0 && size > l) {
            let r = SmtpReply::new(
                552,
                "5.3.4",
                format!("message size {size} exceeds the server's limit of {limit}"),
            );
            fill(slots, &r);
            return Ok(());
        }
        let live: Vec<usize> = (0..rcpts.len()).filter(|&i| slots[i].is_none()).collect();
        if live.is_empty() {
            return Ok(());
        }
        if self.open_transaction {
            self.rset().await?;
        }

        let mail = format!(
            "MAIL FROM:<{}>{}\r\n",
            msg.sender,
            msg.params.render(&self.ext, size)
        );
        let rcpt_lines: Vec<String> = live
            .iter()
            .map(|&i| {
                format!(
                    "RCPT TO:<{}>{}\r\n",
                    rcpts[i].address,
                    rcpt_params(rcpts[i].params, &self.ext)
                )
            })
            .collect();

        let mut accepted = Vec::new();
        let data_reply = if self.ext.pipelining {
            // RFC 2920 §3.1: MAIL, every RCPT and DATA in one write; the
            // replies come back in order.
            let mut batch = mail;
            for l in &rcpt_lines {
                batch.push_str(l);
            }
            batch.push_str("DATA\r\n");
            self.send(batch.as_bytes()).await?;
            let mail_reply = self.reply().await?;
            for &i in &live {
                let r = self.reply().await?;
                if mail_reply.is_success() {
                    if r.is_success() {
                        accepted.push(i);
                    } else {
                        slots[i] = Some(r.to_smtp());
                    }
                }
            }
            let data = self.reply().await?;
            if !mail_reply.is_success() {
                fill(slots, &mail_reply.to_smtp());
                if data.is_intermediate() {
                    // The server wants a message despite the failures:
                    // give it an empty one, its reply does not matter.
                    self.abandon_data().await?;
                }
                return Ok(());
            }
            self.open_transaction = true;
            data
        } else {
            let mail_reply = self.command(&mail).await?;
            if !mail_reply.is_success() {
                fill(slots, &mail_reply.to_smtp());
                return Ok(());
            }
            self.open_transaction = true;
            for (&i, line) in live.iter().zip(&rcpt_lines) {
                let r = self.command(line).await?;
                if r.is_success() {
                    accepted.push(i);
                } else {
                    slots[i] = Some(r.to_smtp());
                }
            }
            if accepted.is_empty() {
                return Ok(());
            }
            self.command("DATA\r\n").await?
        };

        if !data_reply.is_intermediate() {
            let r = if data_reply.is_success() {
                SmtpReply::new(451, "4.5.0", "unexpected 2xx reply to DATA")
            } else {
                data_reply.to_smtp()
            };
            for &i in &accepted {
                slots[i] = Some(r.clone());
            }
            return Ok(());
        }
        if accepted.is_empty() {
            self.abandon_data().await?;
            return Ok(());
        }
        self.send_content(file).await?;
        self.open_transaction = false;
        match self.protocol {
            Protocol::Smtp => {
                let r = self.reply().await?.to_smtp();
                for &i in &accepted {
                    slots[i] = Some(r.clone());
                }
            }
            Protocol::Lmtp => {
                for &i in &accepted {
                    slots[i] = Some(self.reply().await?.to_smtp());
                }
            }
        }
        Ok(())
    }

    /// After a 354 with no recipient accepted: an empty message. Over LMTP
    /// the number of replies that follow is unclear, so the session is not
    /// used again.
    async fn abandon_data(&mut self) -> Result<(), SessionError> {
        self.send(b".\r\n").await?;
        self.open_transaction = false;
        match self.protocol {
            Protocol::Smtp => {
                self.reply().await?;
            }
            Protocol::Lmtp => self.broken = true,
        }
        Ok(())
    }

    async fn send_content(&mut self, mut file: tokio::fs::File) -> Result<(), SessionError> {
        let mut stuffer = DotStuffer::new();
        let mut buf = vec![0u8; CHUNK];
        let mut out = Vec::with_capacity(CHUNK + CHUNK / 8);
        loop {
            let n = match file.read(&mut buf).await {
                Ok(n) => n,
                Err(e) => {
                    // Never send the dot for a message we could not read
                    // whole: drop the connection instead.
                    self.broken = true;
                    return Err(SessionError::Content(e));
                }
            };
            if n == 0 {
                break;
            }
            out.clear();
            stuffer.encode(&buf[..n], &mut out);
            self.send(&out).await?;
        }
        out.clear();
        stuffer.finish(&mut out);
        self.send(&out).await
    }
}

/// Why STARTTLS did not give a TLS session.
#[derive(Debug, thiserror::Error)]
pub enum TlsFailure {
    /// STARTTLS was refused, or its dialogue failed.
    #[error("STARTTLS: {0}")]
    Session(#[from] SessionError),
    /// The server spoke before the handshake.
    #[error("the server sent data after its 220 reply to STARTTLS")]
    Injected,
    /// The handshake failed.
    #[error("handshake: {0}")]
    Handshake(std::io::Error),
    /// The handshake timed out.
    #[error("handshake timeout")]
    Timeout,
}

impl Session<Box<dyn super::deliver::Stream>> {
    /// STARTTLS, the handshake with `host` (the name sent in SNI and
    /// checked against the certificate when CAs are configured), and EHLO
    /// again. On `Err` the connection is unusable.
    pub async fn starttls(
        mut self,
        tls: &ClientTls,
        host: &str,
    ) -> Result<Session<Box<dyn super::deliver::Stream>>, TlsFailure> {
        let r = self.command("STARTTLS\r\n").await?;
        if r.code != 220 {
            self.quit_quietly().await;
            return Err(SessionError::Refused(r.to_smtp()).into());
        }
        if !self.io.buffer().is_empty() {
            return Err(TlsFailure::Injected);
        }
        // A host that is no valid name (cannot happen for DNS names and IP
        // addresses) is sent as 127.0.0.1: the certificate is not checked
        // against it for opportunistic TLS anyway.
        let name = rustls::pki_types::ServerName::try_from(host.to_string()).unwrap_or(
            rustls::pki_types::ServerName::IpAddress(std::net::Ipv4Addr::LOCALHOST.into()),
        );
        let Session {
            io,
            timeout,
            protocol,
            helo_name,
            ..
        } = self;
        let stream = io.into_inner();
        let tls_stream =
            match tokio::time::timeout(timeout, tls.connector.connect(name, stream)).await {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => return Err(TlsFailure::Handshake(e)),
                Err(_) => return Err(TlsFailure::Timeout),
            };
        let info = tls.info(tls_stream.get_ref().1, host);
        let boxed: Box<dyn super::deliver::Stream> = Box::new(tls_stream);
        let s = Session {
            io: BufReader::new(boxed),
            timeout,
            ext: Extensions::default(),
            protocol,
            open_transaction: false,
            broken: false,
            helo_name,
            tls: Some(info),
        };
        Ok(s.ehlo_again().await?)
    }
}

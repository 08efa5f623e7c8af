//! The SMTP session: state, the command loop, the simple commands (RSET,
//! NOOP, VRFY, HELP, QUIT) and the §3.10 limits. EHLO/HELO, MAIL, RCPT,
//! DATA/BDAT and STARTTLS/AUTH live in their own files as `impl Session`
//! blocks.
//!
//! Limits (README §3.10 items 7–14, 20), all counted here:
//! - `max_bad_commands_per_session` / `_per_transaction`: unknown and
//!   unimplemented verbs, over-long lines, bare CR/LF in a command line,
//!   syntax errors (500–504, 555) and commands out of sequence. The first
//!   N are answered normally; the (N+1)-th gets `421 4.7.0` and the
//!   connection is closed.
//! - `max_invalid_addresses_per_session` / `_per_transaction`: RCPTs
//!   refused with a 5xx (bad syntax or refused by the backend); same
//!   N-then-421 rule.
//! - `max_nop_commands_between_transactions` / `_in_transaction`: NOOP,
//!   RSET, VRFY and HELP; "between" is reset by a delivered message.
//! - `max_recipients_per_transaction` / `_per_session`: further RCPTs get
//!   `452 4.5.3` (RFC 5321 §4.5.3.1.10), the session goes on.
//! - `max_transactions`: the MAIL that would start one more gets
//!   `421 4.7.0` and the connection is closed.
//! - `io_timeout`: every read and write; `421 4.4.2` and close.
//!
//! Early talker: a client that sends anything before the greeting gets
//! `554 5.5.0` and the connection is closed (RFC 5321 §4.3.1 makes the
//! client wait for the greeting; talking first is the mark of spamware and
//! of pipelining attacks).

use super::address::{MailParams, ReversePath};
use super::backend::{Backend, Peer, Recipient, SessionInfo, Verdict};
use super::bdat::Chunks;
use super::command::{self, Command, ParseError, READ_LINE_MAX};
use super::conn::{Conn, IoStop, Line};
use super::events::{self, End, SessionLog, REJECT_LEVEL, SESSION_LEVEL};
use super::reply::Reply;
use super::stream::MaybeTls;
use super::Security;
use smx_grammar::config::SmtpsConf;
use tokio::io::{AsyncRead, AsyncWrite};

/// Whether the loop goes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Flow {
    Go,
    Close,
}

/// The open mail transaction (after MAIL was accepted).
pub(super) struct Transaction {
    pub(super) sender: ReversePath,
    pub(super) mail: MailParams,
    pub(super) recipients: Vec<Recipient>,
    /// Some RCPT was tried (to tell 554 "no valid recipients" from 503).
    pub(super) rcpt_tried: bool,
    /// BDAT chunks so far; `Some` once BDAT started (DATA is then refused).
    pub(super) chunks: Option<Chunks>,
}

/// The §3.10 counters.
#[derive(Debug, Default)]
pub(super) struct Counters {
    pub(super) bad_session: u64,
    pub(super) bad_tx: u64,
    pub(super) invalid_session: u64,
    pub(super) invalid_tx: u64,
    pub(super) nop_between: u64,
    pub(super) nop_tx: u64,
    pub(super) rcpt_session: u64,
    pub(super) transactions: u64,
    pub(super) auth_failures: u64,
}

/// One SMTP session.
pub(super) struct Session<'a, S, B> {
    pub(super) conn: Conn<MaybeTls<S>>,
    pub(super) conf: &'a SmtpsConf,
    pub(super) hostname: &'a str,
    pub(super) backend: &'a B,
    pub(super) security: &'a Security,
    pub(super) info: SessionInfo,
    pub(super) tx: Option<Transaction>,
    pub(super) counts: Counters,
    /// What is logged about the session (`events.rs`).
    pub(super) log: SessionLog,
}

impl<'a, S: AsyncRead + AsyncWrite + Unpin, B: Backend> Session<'a, S, B> {
    pub(super) fn new(
        stream: S,
        peer: Peer,
        conf: &'a SmtpsConf,
        hostname: &'a str,
        backend: &'a B,
        security: &'a Security,
    ) -> Self {
        Session {
            conn: Conn::new(MaybeTls::Plain(stream), conf.io_timeout),
            conf,
            hostname,
            backend,
            security,
            info: SessionInfo {
                peer,
                helo: None,
                esmtp: false,
                tls: None,
                auth: None,
            },
            tx: None,
            counts: Counters::default(),
            log: SessionLog::default(),
        }
    }

    /// Runs the session to its end.
    pub(super) async fn run(mut self) {
        let backend = self.backend;
        if backend.logs(SESSION_LEVEL) {
            let line = format!("connect from {}", events::peer(&self.info.peer));
            backend.log(SESSION_LEVEL, &line);
        }
        self.serve().await;
        if backend.logs(SESSION_LEVEL) {
            backend.log(SESSION_LEVEL, &self.log.disconnect_line(&self.info));
        }
        backend.disconnect(&self.info.peer).await;
    }

    async fn serve(&mut self) {
        if let Verdict::Reject(r) = self.backend.connect(&self.info.peer).await {
            // The backend logs its own refusals.
            self.send(r);
            return self.conn.close().await;
        }
        if self.conn.has_early_input().await {
            self.reject_session(Reply::early_talker(self.hostname));
            return self.conn.close().await;
        }
        self.send(Reply::greeting(self.hostname));
        loop {
            let flow = match self.conn.read_line(READ_LINE_MAX).await {
                Ok(Line::Text(t)) => self.command(&t).await,
                Ok(Line::TooLong) => self.bad_command(Reply::line_too_long()),
                Ok(Line::BareNewline) => self.bad_command(Reply::bad_line()),
                Err(e) => self.stopped(e),
            };
            if flow == Flow::Close {
                return self.conn.close().await;
            }
        }
    }

    /// Refuses the session instead of the greeting, and logs it.
    fn reject_session(&mut self, r: Reply) {
        if self.backend.logs(REJECT_LEVEL) {
            let line = events::reject_line("CONNECT", &self.info, None, None, &r);
            self.backend.log(REJECT_LEVEL, &line);
        }
        self.send(r);
    }

    /// One command line: handled, tallied, and its refusal logged.
    async fn command(&mut self, line: &[u8]) -> Flow {
        self.log.begin(line);
        let flow = self.dispatch(line).await;
        if let Some((verb, r)) = self.log.finish() {
            if self.backend.logs(REJECT_LEVEL) {
                let sender =
                    matches!(verb, "RCPT" | "DATA" | "BDAT").then_some(self.log.sender.as_str());
                let line = events::reject_line(verb, &self.info, sender, Some(line), &r);
                self.backend.log(REJECT_LEVEL, &line);
            }
        }
        flow
    }

    async fn dispatch(&mut self, line: &[u8]) -> Flow {
        let cmd = match command::parse(line) {
            Ok(c) => c,
            Err(ParseError::Unknown) => return self.bad_command(Reply::unknown_command()),
            Err(ParseError::TooLong) => return self.bad_command(Reply::line_too_long()),
            Err(ParseError::Syntax(r)) => return self.bad_command(r),
            Err(ParseError::BdatSyntax) => return self.send(Reply::bdat_syntax(self.hostname)),
        };
        match cmd {
            Command::Ehlo(d) => self.hello(d, true),
            Command::Helo(d) => self.hello(d, false),
            Command::Mail(a) => self.mail(&a).await,
            Command::Rcpt(a) => self.rcpt(&a).await,
            Command::Data => self.data().await,
            Command::Bdat { size, last } => self.bdat(size, last).await,
            Command::Rset => self.nop(|s| {
                s.tx = None;
                Reply::ok()
            }),
            Command::Noop => self.nop(|_| Reply::ok()),
            Command::Vrfy => self.nop(|_| Reply::vrfy()),
            Command::Help => self.nop(|_| Reply::help()),
            Command::Quit => self.send(Reply::bye(self.hostname)),
            Command::StartTls => self.starttls().await,
            Command::Auth(a) => self.auth(&a).await,
            Command::NotImplemented => self.bad_command(Reply::not_implemented()),
        }
    }

    /// Queues a reply (after `soft_bounce`); a 421 or 221 ends the session.
    pub(super) fn send(&mut self, mut r: Reply) -> Flow {
        if self.conf.flags.has("soft_bounce") {
            r.soften();
        }
        self.conn.push(&r);
        self.log.replied(&r);
        if r.closes() {
            Flow::Close
        } else {
            Flow::Go
        }
    }

    /// Answers with the backend's refusal `r` through `f`; the backend
    /// logs its own refusals, so the session logs only what `f` turned it
    /// into (a `421` for a §3.10 limit).
    pub(super) fn backend_refused(
        &mut self,
        r: Reply,
        f: impl FnOnce(&mut Self, Reply) -> Flow,
    ) -> Flow {
        let theirs = r.clone();
        let flow = f(self, r);
        self.log.hush_if(&theirs);
        flow
    }

    /// The stream stopped: a timeout is answered, a close is not.
    pub(super) fn stopped(&mut self, e: IoStop) -> Flow {
        if e == IoStop::Timeout {
            self.log.end = Some(End::Timeout);
            if self.backend.logs(REJECT_LEVEL) {
                let line = format!(
                    "timeout after {} from {}",
                    self.log.after(),
                    events::peer(&self.info.peer)
                );
                self.backend.log(REJECT_LEVEL, &line);
            }
            self.send(Reply::timeout(self.hostname));
            self.log.hush();
        } else {
            self.log.end = Some(End::Lost);
        }
        Flow::Close
    }

    /// A refusal: syntax and sequence errors count as bad commands.
    pub(super) fn refuse(&mut self, r: Reply) -> Flow {
        if r.is_syntax_error() {
            self.bad_command(r)
        } else {
            self.send(r)
        }
    }

    pub(super) fn bad_command(&mut self, r: Reply) -> Flow {
        self.counts.bad_session += 1;
        if self.counts.bad_session > self.conf.max_bad_commands_per_session {
            return self.send(Reply::too_many(self.hostname, "bad commands"));
        }
        if self.tx.is_some() {
            self.counts.bad_tx += 1;
            if self.counts.bad_tx > self.conf.max_bad_commands_per_transaction {
                return self.send(Reply::too_many(
                    self.hostname,
                    "bad commands in transaction",
                ));
            }
        }
        self.send(r)
    }

    pub(super) fn invalid_address(&mut self, r: Reply) -> Flow {
        self.counts.invalid_session += 1;
        self.counts.invalid_tx += 1;
        if self.counts.invalid_session > self.conf.max_invalid_addresses_per_session {
            return self.send(Reply::too_many(self.hostname, "invalid addresses"));
        }
        if self.counts.invalid_tx > self.conf.max_invalid_addresses_per_transaction {
            return self.send(Reply::too_many(
                self.hostname,
                "invalid addresses in transaction",
            ));
        }
        self.refuse(r)
    }

    /// NOOP, RSET, VRFY, HELP: counted, then answered by `f`.
    fn nop(&mut self, f: impl FnOnce(&mut Self) -> Reply) -> Flow {
        if self.tx.is_some() {
            self.counts.nop_tx += 1;
            if self.counts.nop_tx > self.conf.max_nop_commands_in_transaction {
                return self.send(Reply::too_many(
                    self.hostname,
                    "NOOP/RSET/VRFY/HELP commands",
                ));
            }
        } else {
            self.counts.nop_between += 1;
            if self.counts.nop_between > self.conf.max_nop_commands_between_transactions {
                return self.send(Reply::too_many(
                    self.hostname,
                    "NOOP/RSET/VRFY/HELP commands",
                ));
            }
        }
        let r = f(self);
        self.send(r)
    }
}

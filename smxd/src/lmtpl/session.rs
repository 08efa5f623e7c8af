//! One LMTP session (RFC 2033) over any `AsyncRead + AsyncWrite`: greeting,
//! LHLO, MAIL, RCPT (several), DATA, RSET, NOOP, VRFY, HELP, QUIT.
//!
//! The framing is the SMTP server's: command lines end only at CRLF
//! (`smtps/conn.rs`), only CRLF.CRLF ends DATA and leading dots are
//! unstuffed (`smtps/data.rs`), replies are held back while pipelined
//! input is pending (RFC 2920).
//!
//! After the data, one reply per recipient accepted at RCPT, in RCPT order
//! (RFC 2033 §4.2), each sent only once that recipient's copy is fsynced
//! in its Maildir. A recipient refused at RCPT gets no reply after DATA.
//!
//! Limits: command lines as in RFC 5321 §4.5.3.1.4 (`500 5.5.2`),
//! [`MAX_RECIPIENTS`] per transaction (`452 4.5.3`, RFC 5321 §4.5.3.1.8
//! asks for at least 100), [`MAX_MESSAGE_SIZE`] octets of content (`552
//! 5.3.4` for each recipient), [`MAX_ERRORS`] bad commands (`421 4.7.0`,
//! the session closes), and `io_timeout` for every read and write (`421
//! 4.4.2`).

use super::message::{already_delivered_to, delivery_headers, to_local_form};
use super::rcpt::{self, Recipient};
use super::users::Refusal;
use super::{reply, Agent, WHO};
use crate::component;
use crate::smtps::address::{parse_mail, ParamContext};
use crate::smtps::command::{COMMAND_LINE_MAX, MAIL_LINE_MAX, RCPT_LINE_MAX, READ_LINE_MAX};
use crate::smtps::conn::{Conn, IoStop, Line};
use crate::smtps::data::DataReader;
use crate::smtps::Reply;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncWrite};

/// Recipients accepted in one transaction.
pub const MAX_RECIPIENTS: usize = 1000;
/// Largest message content accepted, in octets (it is held in memory).
pub const MAX_MESSAGE_SIZE: u64 = 256 * 1024 * 1024;
/// Rejected commands before the session is closed.
pub const MAX_ERRORS: u32 = 20;

/// A recipient accepted at RCPT.
#[derive(Debug, Clone)]
struct Accepted {
    /// As given, for `Delivered-To:` and the replies.
    address: String,
    /// Whose Maildir.
    user: String,
}

/// MAIL was accepted.
#[derive(Debug)]
struct Transaction {
    /// `<a@b>` or `<>`, for `Return-Path:`.
    sender: String,
    smtputf8: bool,
    rcpts: Vec<Accepted>,
}

enum Next {
    Continue,
    Close,
}

/// The session state.
pub struct Session<S> {
    conn: Conn<S>,
    agent: Arc<Agent>,
    greeted: bool,
    transaction: Option<Transaction>,
    errors: u32,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Session<S> {
    /// A session on `stream`.
    pub fn new(stream: S, agent: Arc<Agent>) -> Self {
        let timeout = agent.io_timeout;
        Session {
            conn: Conn::new(stream, timeout),
            agent,
            greeted: false,
            transaction: None,
            errors: 0,
        }
    }

    /// Runs the session until QUIT, a timeout, too many errors or the
    /// client's disconnect.
    pub async fn run(mut self) {
        self.conn.push(&reply::greeting(&self.agent.hostname));
        loop {
            let line = match self.conn.read_line(READ_LINE_MAX).await {
                Ok(l) => l,
                Err(IoStop::Timeout) => {
                    self.conn.push(&Reply::timeout(&self.agent.hostname));
                    self.conn.close().await;
                    return;
                }
                Err(IoStop::Closed) => return,
            };
            let next = match line {
                Line::Text(l) => self.command(&l).await,
                Line::TooLong => self.error(Reply::line_too_long()),
                Line::BareNewline => self.error(Reply::bad_line()),
            };
            if let Next::Close = next {
                self.conn.close().await;
                return;
            }
        }
    }

    /// Answers a rejected command; closes after [`MAX_ERRORS`].
    fn error(&mut self, r: Reply) -> Next {
        self.conn.push(&r);
        self.errors += 1;
        if self.errors >= MAX_ERRORS {
            self.conn
                .push(&Reply::too_many(&self.agent.hostname, "errors"));
            return Next::Close;
        }
        Next::Continue
    }

    async fn command(&mut self, line: &[u8]) -> Next {
        let Ok(text) = std::str::from_utf8(line) else {
            return self.error(Reply::bad_line());
        };
        let (verb, arg) = text.split_once(' ').unwrap_or((text, ""));
        let verb = verb.to_ascii_uppercase();
        let limit = match verb.as_str() {
            "MAIL" => MAIL_LINE_MAX,
            "RCPT" => RCPT_LINE_MAX,
            _ => COMMAND_LINE_MAX,
        };
        if line.len() + 2 > limit {
            return self.error(Reply::line_too_long());
        }
        match verb.as_str() {
            "LHLO" => self.lhlo(arg),
            "HELO" | "EHLO" => self.error(reply::use_lhlo()),
            "MAIL" => self.mail(arg),
            "RCPT" => self.rcpt(arg).await,
            "DATA" if arg.trim().is_empty() => self.data().await,
            "RSET" if arg.trim().is_empty() => {
                self.transaction = None;
                self.conn.push(&Reply::ok());
                Next::Continue
            }
            "NOOP" => {
                self.conn.push(&Reply::ok());
                Next::Continue
            }
            "VRFY" => {
                self.conn.push(&Reply::vrfy());
                Next::Continue
            }
            "HELP" => {
                self.conn.push(&reply::help());
                Next::Continue
            }
            "QUIT" if arg.trim().is_empty() => {
                self.conn.push(&Reply::bye(&self.agent.hostname));
                Next::Close
            }
            "DATA" | "RSET" | "QUIT" => {
                self.error(Reply::syntax(&format!("{verb} takes no argument")))
            }
            _ => self.error(Reply::unknown_command()),
        }
    }

    /// LHLO (RFC 2033 §4.1): like EHLO, it resets the transaction.
    fn lhlo(&mut self, arg: &str) -> Next {
        if arg.trim().is_empty() {
            return self.error(Reply::syntax("LHLO hostname"));
        }
        self.greeted = true;
        self.transaction = None;
        self.conn.push(&reply::lhlo(&self.agent.hostname));
        Next::Continue
    }

    fn mail(&mut self, arg: &str) -> Next {
        if !self.greeted {
            return self.error(Reply::bad_sequence("send LHLO first"));
        }
        if self.transaction.is_some() {
            return self.error(Reply::bad_sequence("nested MAIL command"));
        }
        let Some(arg) = strip_ci(arg, "FROM:") else {
            return self.error(Reply::syntax("MAIL FROM:<address>"));
        };
        let ctx = ParamContext {
            esmtp: true,
            eightbitmime: true,
            max_size: MAX_MESSAGE_SIZE,
        };
        match parse_mail(arg, &ctx) {
            Ok((path, params)) => {
                self.transaction = Some(Transaction {
                    sender: path.to_string(),
                    smtputf8: params.smtputf8,
                    rcpts: Vec::new(),
                });
                self.conn.push(&Reply::sender_ok());
                Next::Continue
            }
            Err(r) => self.error(r),
        }
    }

    async fn rcpt(&mut self, arg: &str) -> Next {
        let Some(t) = &self.transaction else {
            return self.error(Reply::bad_sequence("need MAIL before RCPT"));
        };
        let Some(arg) = strip_ci(arg, "TO:") else {
            return self.error(Reply::syntax("RCPT TO:<address>"));
        };
        if t.rcpts.len() >= MAX_RECIPIENTS {
            self.conn.push(&Reply::too_many_recipients());
            return Next::Continue;
        }
        let Recipient {
            address,
            local_part,
        } = match rcpt::parse(arg, t.smtputf8) {
            Ok(r) => r,
            Err(r) => return self.error(r),
        };
        let agent = self.agent.clone();
        let resolved = tokio::task::spawn_blocking(move || agent.users.resolve(&local_part))
            .await
            .unwrap_or_else(|e| Err(Refusal::Temporary(e.to_string())));
        let r = match resolved {
            Ok(user) => {
                if let Some(t) = &mut self.transaction {
                    t.rcpts.push(Accepted { address, user });
                }
                Reply::recipient_ok()
            }
            Err(refusal) => {
                component::log(
                    WHO,
                    format!("<{}>: refused: {refusal}", reply::shown(&address)),
                );
                match refusal {
                    Refusal::Unsafe => reply::unsafe_mailbox(&address),
                    Refusal::Unknown => reply::unknown_user(&address),
                    Refusal::Temporary(_) => reply::lookup_failed(&address),
                }
            }
        };
        self.conn.push(&r);
        Next::Continue
    }

    async fn data(&mut self) -> Next {
        let Some(t) = &self.transaction else {
            return self.error(Reply::bad_sequence("need MAIL before DATA"));
        };
        if t.rcpts.is_empty() {
            return self.error(reply::no_valid_recipients());
        }
        self.conn.push(&Reply::start_data());
        let mut reader = DataReader::new(MAX_MESSAGE_SIZE);
        match self.conn.read_until(|b| reader.feed(b)).await {
            Ok(()) => {}
            Err(IoStop::Timeout) => {
                self.conn.push(&Reply::timeout(&self.agent.hostname));
                return Next::Close;
            }
            Err(IoStop::Closed) => return Next::Close,
        }
        let content = reader.finish();
        let Some(t) = self.transaction.take() else {
            return Next::Continue;
        };
        if content.too_big {
            component::log(
                WHO,
                format!(
                    "from={}: message of {} octets refused: larger than {MAX_MESSAGE_SIZE}",
                    t.sender, content.size
                ),
            );
            for _ in &t.rcpts {
                self.conn.push(&Reply::size_exceeded());
            }
            return Next::Continue;
        }
        let agent = self.agent.clone();
        let replies =
            tokio::task::spawn_blocking(move || deliver_all(&agent, &t, &content.message)).await;
        match replies {
            Ok(replies) => {
                for r in &replies {
                    self.conn.push(r);
                }
            }
            Err(e) => {
                // The blocking task panicked: nothing is known to be on disk.
                component::log(WHO, format!("delivery task failed: {e}"));
                self.conn.push(&Reply::local_error());
            }
        }
        Next::Continue
    }
}

/// Delivers the message to every recipient of `t`; one reply each, in order.
fn deliver_all(agent: &Agent, t: &Transaction, wire: &[u8]) -> Vec<Reply> {
    let body = to_local_form(wire);
    t.rcpts
        .iter()
        .map(|r| {
            if already_delivered_to(&body, &r.address) {
                component::log(
                    WHO,
                    format!(
                        "{}: <{}> refused: mail forwarding loop",
                        r.user,
                        reply::shown(&r.address)
                    ),
                );
                return reply::forwarding_loop(&r.address);
            }
            let headers = delivery_headers(&t.sender, &r.address);
            match agent.maildirs.deliver(&r.user, &[&headers, &body]) {
                Ok(d) => {
                    component::log(
                        WHO,
                        format!(
                            "{}: delivered to {} (size={})",
                            r.user,
                            agent.maildirs.display_path(&d.path),
                            d.size
                        ),
                    );
                    reply::delivered(&r.address)
                }
                Err(e) => {
                    let reply = if e.is_out_of_space() {
                        reply::mailbox_full(&r.address)
                    } else {
                        reply::delivery_failed(&r.address)
                    };
                    component::log(
                        WHO,
                        format!(
                            "{}: delivery of <{}> deferred: {e} ({} {})",
                            r.user,
                            reply::shown(&r.address),
                            reply.code,
                            reply.status
                        ),
                    );
                    reply
                }
            }
        })
        .collect()
}

/// Strips a case-insensitive prefix such as `FROM:`.
fn strip_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

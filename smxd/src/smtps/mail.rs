//! MAIL FROM (RFC 5321 §4.1.1.2): opens a transaction. The AUTH= parameter
//! (RFC 4954 §5) is kept only from an authenticated client.

use super::address::{parse_mail, ParamContext};
use super::backend::{Backend, Verdict};
use super::reply::Reply;
use super::session::{Flow, Session, Transaction};
use tokio::io::{AsyncRead, AsyncWrite};

impl<S: AsyncRead + AsyncWrite + Unpin, B: Backend> Session<'_, S, B> {
    pub(super) fn params(&self) -> ParamContext {
        ParamContext {
            esmtp: self.info.esmtp,
            eightbitmime: self.conf.flags.has("8bitmime"),
            max_size: self.conf.max_message_size,
        }
    }

    pub(super) async fn mail(&mut self, arg: &str) -> Flow {
        if self.info.helo.is_none() {
            return self.bad_command(Reply::bad_sequence("send HELO/EHLO first"));
        }
        if self.tx.is_some() {
            return self.bad_command(Reply::bad_sequence("nested MAIL command"));
        }
        if self.counts.transactions >= self.conf.max_transactions {
            return self.send(Reply::too_many(self.hostname, "transactions"));
        }
        let (sender, mut mail) = match parse_mail(arg, &self.params()) {
            Ok(v) => v,
            Err(r) => return self.refuse(r),
        };
        if self.info.auth.is_none() {
            // RFC 4954 §5: AUTH= from a client that did not authenticate
            // is not passed on.
            mail.auth = None;
        }
        if let Verdict::Reject(r) = self.backend.mail(&self.info, &sender, &mail).await {
            return self.backend_refused(r, |s, r| s.send(r));
        }
        self.counts.transactions += 1;
        self.counts.bad_tx = 0;
        self.counts.invalid_tx = 0;
        self.counts.nop_tx = 0;
        self.log.sender = sender
            .0
            .as_ref()
            .map_or_else(String::new, |m| m.to_string());
        self.tx = Some(Transaction {
            sender,
            mail,
            recipients: Vec::new(),
            rcpt_tried: false,
            chunks: None,
        });
        self.send(Reply::sender_ok())
    }
}

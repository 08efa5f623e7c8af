//! DATA and BDAT in the session: reading the content (see `data.rs` and
//! `bdat.rs` for the framing rules), the checks made once it is complete
//! (bare CR/LF, size, `max_hops`), the `Received:` header, and handing the
//! message to the backend. Both end the transaction, whatever the outcome.
//!
//! `max_hops`: the `Received:` fields of the header, plus the one this
//! server adds, must not exceed `max_hops`; otherwise `554 5.4.6`.

use super::backend::{Backend, Envelope};
use super::bdat::Chunks;
use super::budget::Held;
use super::data::{count_received, has_bare_newline, DataReader};
use super::received::received;
use super::reply::Reply;
use super::session::{Flow, Session, Transaction};
use std::time::SystemTime;
use tokio::io::{AsyncRead, AsyncWrite};

impl<S: AsyncRead + AsyncWrite + Unpin, B: Backend> Session<'_, S, B> {
    /// Why DATA/BDAT cannot start now, if so.
    fn transfer_refusal(&self, bdat: bool) -> Option<Reply> {
        match &self.tx {
            None => Some(Reply::bad_sequence("need MAIL command")),
            Some(tx) if !bdat && tx.chunks.is_some() => {
                Some(Reply::bad_sequence("DATA after BDAT"))
            }
            Some(tx) if tx.recipients.is_empty() && tx.rcpt_tried => {
                Some(Reply::no_valid_recipients())
            }
            Some(tx) if tx.recipients.is_empty() => Some(Reply::bad_sequence("need RCPT command")),
            Some(_) => None,
        }
    }

    pub(super) async fn data(&mut self) -> Flow {
        if let Some(r) = self.transfer_refusal(false) {
            return self.refuse(r);
        }
        self.send(Reply::start_data());
        let mut reader =
            DataReader::with_budget(self.conf.max_message_size, self.backend.content_budget());
        if let Err(e) = self.conn.read_until(|b| reader.feed(b)).await {
            return self.stopped(e);
        }
        let (content, held) = reader.finish_held();
        let Some(tx) = self.tx.take() else {
            return self.send(Reply::local_error());
        };
        if content.bare_newline {
            return self.send(Reply::bare_newline_in_data());
        }
        if content.too_big {
            return self.send(Reply::size_exceeded());
        }
        if content.over_budget {
            return self.send(Reply::no_room_for_message());
        }
        self.accept_message(tx, content.message, held).await
    }

    pub(super) async fn bdat(&mut self, size: u64, last: bool) -> Flow {
        if let Some(r) = self.transfer_refusal(true) {
            // The chunk is consumed all the same: it must never be read as
            // commands.
            if let Err(e) = self.conn.read_exact(size, |_| {}).await {
                return self.stopped(e);
            }
            return self.refuse(r);
        }
        let limit = self.conf.max_message_size;
        let mut chunks = self
            .tx
            .as_mut()
            .and_then(|tx| tx.chunks.take())
            .unwrap_or_else(|| Chunks::new(self.backend.content_budget()));
        if let Err(e) = self.conn.read_exact(size, |b| chunks.push(b, limit)).await {
            return self.stopped(e);
        }
        if chunks.too_big() {
            self.tx = None;
            return self.send(Reply::size_exceeded());
        }
        if chunks.over_budget() {
            self.tx = None;
            return self.send(Reply::no_room_for_message());
        }
        if !last {
            if let Some(tx) = self.tx.as_mut() {
                tx.chunks = Some(chunks);
            }
            return self.send(Reply::chunk_ok(size));
        }
        let Some(tx) = self.tx.take() else {
            return self.send(Reply::local_error());
        };
        let (mut message, held) = chunks.into_held();
        if has_bare_newline(&message) {
            return self.send(Reply::bare_newline_in_data());
        }
        // A final line without CRLF is terminated here (RFC 3030 lets the
        // last chunk end anywhere), so the stored content always ends in
        // CRLF, as `Backend::deliver` promises.
        if !message.is_empty() && !message.ends_with(b"\r\n") {
            message.extend_from_slice(b"\r\n");
        }
        self.accept_message(tx, message, held).await
    }

    /// `held`: the message's share of the content budget, given back when
    /// the backend has stored it (or refused it).
    async fn accept_message(&mut self, tx: Transaction, message: Vec<u8>, mut held: Held) -> Flow {
        if count_received(&message) + 1 > self.conf.max_hops {
            return self.send(Reply::too_many_hops());
        }
        let protocol = protocol_name(
            tx.mail.smtputf8,
            self.info.esmtp,
            self.info.tls.is_some(),
            self.info.auth.is_some(),
        );
        let helo = self.info.helo.clone().unwrap_or_default();
        let for_rcpt = match tx.recipients.as_slice() {
            [one] => Some(one.path.to_string()),
            _ => None,
        };
        let header = received(
            &self.info.peer,
            &helo,
            self.hostname,
            protocol,
            self.info.tls.as_ref(),
            for_rcpt.as_deref(),
            SystemTime::now(),
        );
        if !held.grow(header.len() as u64) {
            return self.send(Reply::no_room_for_message());
        }
        // The header goes in front in the same buffer: no second copy of
        // the message.
        let mut content = message;
        content.splice(0..0, header.bytes());
        let envelope = Envelope {
            client: self.info.peer.clone(),
            helo,
            protocol,
            sender: tx.sender,
            mail: tx.mail,
            recipients: tx.recipients,
        };
        match self.backend.deliver(&envelope, content).await {
            Ok(id) => {
                self.counts.nop_between = 0;
                self.send(Reply::queued(&id))
            }
            Err(r) => self.send(r),
        }
    }
}

/// The `with` protocol of RFC 3848 / RFC 6531: `ESMTP` plus `S` for TLS
/// and `A` for AUTH, `UTF8SMTP` likewise; plain `SMTP` after HELO.
pub(super) fn protocol_name(utf8: bool, esmtp: bool, tls: bool, auth: bool) -> &'static str {
    match (utf8, esmtp, tls, auth) {
        (true, _, false, false) => "UTF8SMTP",
        (true, _, true, false) => "UTF8SMTPS",
        (true, _, false, true) => "UTF8SMTPA",
        (true, _, true, true) => "UTF8SMTPSA",
        (false, false, _, _) => "SMTP",
        (false, true, false, false) => "ESMTP",
        (false, true, true, false) => "ESMTPS",
        (false, true, false, true) => "ESMTPA",
        (false, true, true, true) => "ESMTPSA",
    }
}

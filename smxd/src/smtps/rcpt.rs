//! RCPT TO (RFC 5321 §4.1.1.3): adds a recipient with its DSN parameters
//! (RFC 3461) to the open transaction.

use super::address::parse_rcpt;
use super::backend::{Backend, Recipient, Verdict};
use super::reply::Reply;
use super::session::{Flow, Session};
use tokio::io::{AsyncRead, AsyncWrite};

impl<S: AsyncRead + AsyncWrite + Unpin, B: Backend> Session<'_, S, B> {
    pub(super) async fn rcpt(&mut self, arg: &str) -> Flow {
        let ctx = self.params();
        let Some(tx) = self.tx.as_mut() else {
            return self.bad_command(Reply::bad_sequence("need MAIL command"));
        };
        if tx.chunks.is_some() {
            return self.bad_command(Reply::bad_sequence("RCPT after BDAT"));
        }
        tx.rcpt_tried = true;
        let smtputf8 = tx.mail.smtputf8;
        let full = tx.recipients.len() as u64 >= self.conf.max_recipients_per_transaction
            || self.counts.rcpt_session >= self.conf.max_recipients_per_session;
        let (path, params) = match parse_rcpt(arg, &ctx, smtputf8) {
            Ok(v) => v,
            Err(r) if r.code == 555 || r.code == 501 && r.status == "5.5.4" => {
                return self.bad_command(r)
            }
            Err(r) => return self.invalid_address(r),
        };
        if full {
            return self.send(Reply::too_many_recipients());
        }
        match self.backend.rcpt(&self.info, &path, &params).await {
            Verdict::Reject(r) if r.code >= 500 => {
                self.backend_refused(r, |s, r| s.invalid_address(r))
            }
            Verdict::Reject(r) => self.backend_refused(r, |s, r| s.send(r)),
            Verdict::Accept => {
                self.counts.rcpt_session += 1;
                if let Some(tx) = self.tx.as_mut() {
                    tx.recipients.push(Recipient { path, params });
                }
                self.send(Reply::recipient_ok())
            }
        }
    }
}

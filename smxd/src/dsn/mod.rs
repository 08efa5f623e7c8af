//! dsn: delivery status notifications, RFC 3464 (message/delivery-status)
//! in an RFC 6522 multipart/report, for the QMGR to send to the envelope
//! sender when recipients fail (bounces) or wait too long (delay
//! notices). Follows the seed's §3.8 item 5 `DSN_handling`
//! (`max_errors_per_DSN` via [`chunks`], `header_only` via
//! [`DsnInput::header_only`]) and DESIGN.md "Scheduling"; RFC 3461 for the
//! envelope parameters ([`params`]), RFC 3463 for status codes, RFC 3834
//! for `Auto-Submitted`, RFC 6533 for reports on SMTPUTF8 mail.
//!
//! A pure library: no I/O, no privileges, no logging. The QMGR decides
//! who gets a DSN ([`RcptDsn::wants`]), merges recipients per sender
//! (`merge_delay_max`), builds the message with [`build`] and injects it
//! with the null sender.
//!
//! Modules: [`params`] (ESMTP parameters), `xtext` (RFC 3461 §4 / RFC
//! 6533 §3 encodings), `fold` (line lengths), `human` (text part),
//! `status` (delivery-status part), `original` (returned content),
//! `message` (assembly and MIME boundary).

mod fold;
mod human;
mod message;
mod original;
pub mod params;
mod status;
mod xtext;

pub use message::{build, is_8bit, sender_params};
pub use params::{parse_mail, parse_rcpt, MailDsn, Notify, RcptDsn, Ret};
pub use xtext::{utf8_addr_decode, utf8_addr_encode, xtext_decode, xtext_encode};

use std::time::SystemTime;

/// What a DSN reports for a recipient (RFC 3461 §4.1 NOTIFY values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Action `failed`: a bounce.
    Failure,
    /// Action `delayed`: a warning, delivery continues.
    Delay,
    /// Action `delivered` (optional reports).
    Success,
}

/// One recipient line of a DSN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DsnRcpt {
    /// ORCPT (type, decoded address), from [`RcptDsn::orcpt`].
    pub original: Option<(String, String)>,
    /// The address as in RCPT TO.
    pub final_recipient: String,
    /// Failed, delayed or delivered.
    pub action: Kind,
    /// RFC 3463 code, `5.1.1`; empty means the generic `X.0.0` of the
    /// action's class.
    pub status: String,
    /// The server that answered: `mx.example.com` or `[192.0.2.1]`.
    pub remote_mta: Option<String>,
    /// The reply, `550 5.1.1 user unknown`; gets `smtp; ` in front (a
    /// text that is no SMTP reply gets `x-smx; `, one with its own
    /// `type; ` keeps it).
    pub diagnostic: Option<String>,
    /// When we last tried.
    pub last_attempt: Option<SystemTime>,
    /// For delay notices: when we give up.
    pub will_retry_until: Option<SystemTime>,
}

/// Everything [`build`] needs for one DSN.
#[derive(Debug, Clone)]
pub struct DsnInput<'a> {
    /// Our hostname (Reporting-MTA, From, Message-ID).
    pub reporting_mta: &'a str,
    /// The original's queue id (human part, `X-Smx-Queue-ID`, Message-ID).
    pub queue_id: &'a str,
    /// The original envelope sender: the DSN goes there.
    pub sender: &'a str,
    /// ENVID, decoded (Original-Envelope-Id).
    pub envid: Option<&'a str>,
    /// When the original arrived.
    pub arrival: SystemTime,
    /// The recipients to report, at most `max_errors_per_DSN` (see [`chunks`]).
    pub recipients: &'a [DsnRcpt],
    /// The original content file (CRLF lines, our Received: first).
    pub original: &'a [u8],
    /// How much of the original to return.
    pub ret: Ret,
    /// `DSN_handling { flags = header_only }`: headers only, whatever RET says.
    pub header_only: bool,
    /// The time of the report (Date, Message-ID, delay computations).
    pub now: SystemTime,
}

/// Splits the recipients of one DSN into groups of at most
/// `max_per_dsn` (seed `max_errors_per_DSN`), one DSN each; 0 means no
/// limit. Filtering (who wants which kind) is the caller's.
pub fn chunks(rcpts: &[DsnRcpt], max_per_dsn: usize) -> Vec<&[DsnRcpt]> {
    if rcpts.is_empty() {
        return Vec::new();
    }
    let n = if max_per_dsn == 0 {
        rcpts.len()
    } else {
        max_per_dsn
    };
    rcpts.chunks(n).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rcpt(n: usize) -> DsnRcpt {
        DsnRcpt {
            original: None,
            final_recipient: format!("r{n}@example.com"),
            action: Kind::Failure,
            status: "5.1.1".into(),
            remote_mta: None,
            diagnostic: None,
            last_attempt: None,
            will_retry_until: None,
        }
    }

    #[test]
    fn chunks_respect_the_maximum() {
        let rs: Vec<DsnRcpt> = (0..35).map(rcpt).collect();
        let c = chunks(&rs, 16);
        assert_eq!(
            c.iter().map(|c| c.len()).collect::<Vec<_>>(),
            vec![16, 16, 3]
        );
        assert_eq!(c[2][0].final_recipient, "r32@example.com");
        assert_eq!(chunks(&rs, 35).len(), 1);
        assert_eq!(chunks(&rs, 0).len(), 1);
        assert_eq!(chunks(&rs, 1).len(), 35);
        assert!(chunks(&[], 16).is_empty());
    }
}

//! Notices to the sender (README §3.8 item 5; RFC 3461, RFC 3464): the
//! QMGR makes a bounce for recipients that failed permanently (or whose
//! time in the queue ran out) and a delay notice once a message has waited
//! `queue_delay_timeout`, and queues them like any other message (sender
//! `<>`, content file in CDB, committed in IBDB before it counts).
//!
//! - A DSN covers one original message (RFC 3464). Failures of a message
//!   that still has recipients to try wait up to `merge_delay_max` (kept
//!   in its DEFEDB entry) so that later failures share the report; once
//!   nothing is left to try, or the delay is over, one DSN goes out with
//!   at most `max_errors_per_DSN` recipients (more make several DSNs).
//! - Recipients whose NOTIFY excludes the notice (NOTIFY=NEVER, or no
//!   FAILURE / DELAY) are left out; RET=FULL returns the whole message,
//!   else (and with the `header_only` flag) only its header.
//! - Never to the null sender: a bounce that fails is sent to
//!   `postmaster` instead (once: a failed notice to postmaster is logged
//!   and dropped).

use super::sched::Scheduler;
use crate::component;
use crate::dsn::{self, DsnInput, DsnRcpt, Kind};
use crate::proto::SmtpReply;
use crate::queue::id::{now_micros, IdGenerator};
use crate::queue::{Deferred, RcptStatus, Recipient, Transaction};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The queue-id server number of notices made by the QMGR (SMTP servers
/// use their own ids, 0..254).
pub const QMGR_SERVER_ID: u8 = 255;

/// Makes and queues notices.
pub struct Bouncer {
    /// Our host name (Reporting-MTA, From: MAILER-DAEMON@...).
    pub hostname: String,
    /// `DSN_handling { max_errors_per_DSN }`.
    pub max_per_dsn: usize,
    /// `DSN_handling { flags = { header_only } }`.
    pub header_only: bool,
    ids: IdGenerator,
}

fn time(micros: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_micros(micros)
}

impl Bouncer {
    /// A bouncer whose ids start after `floor` (the largest id recovered).
    pub fn new(
        hostname: String,
        max_per_dsn: usize,
        header_only: bool,
        floor: Option<crate::queue::QueueId>,
    ) -> Bouncer {
        let ids = match floor {
            Some(f) => IdGenerator::resume_after(QMGR_SERVER_ID, 0, f),
            None => IdGenerator::new(QMGR_SERVER_ID, 0),
        };
        Bouncer {
            hostname,
            max_per_dsn: max_per_dsn.max(1),
            header_only,
            ids,
        }
    }

    /// Recipients of `job` failed for good: `(index, address, reply,
    /// relay)`. False when the bounce could not be queued (disk or IQDB
    /// full): the caller keeps the failures and tries again later.
    pub async fn failed(
        &self,
        s: &Arc<Scheduler>,
        job: &Deferred,
        failed: &[(u32, String, SmtpReply, String)],
    ) -> bool {
        let rcpts: Vec<DsnRcpt> = failed
            .iter()
            .filter(|(i, ..)| wants(job, *i, Kind::Failure))
            .map(|(i, address, reply, relay)| DsnRcpt {
                original: orcpt(job, *i),
                final_recipient: address.clone(),
                action: Kind::Failure,
                status: reply.status.clone(),
                remote_mta: remote_mta(relay),
                diagnostic: Some(reply.to_string()),
                last_attempt: Some(SystemTime::now()),
                will_retry_until: None,
            })
            .collect();
        self.send(s, job, &rcpts, Kind::Failure).await
    }

    /// `job` has waited `queue_delay_timeout`: tell the sender which
    /// recipients are still being tried.
    pub async fn delayed(&self, s: &Arc<Scheduler>, job: &Deferred) {
        let until = time(job.ta.received_at) + s.conf.return_timeout;
        let rcpts: Vec<DsnRcpt> = job
            .ta
            .recipients
            .iter()
            .enumerate()
            .filter(|(_, r)| r.status == RcptStatus::Deferred)
            .filter_map(|(i, r)| Some((u32::try_from(i).ok()?, r)))
            .filter(|(i, _)| wants(job, *i, Kind::Delay))
            .map(|(i, r)| {
                let last = job.last_reply.get(&i);
                DsnRcpt {
                    original: orcpt(job, i),
                    final_recipient: r.address.clone(),
                    action: Kind::Delay,
                    status: last.map_or_else(|| "4.0.0".to_string(), |l| l.status.clone()),
                    remote_mta: remote_mta(&job.relay),
                    diagnostic: last.map(ToString::to_string),
                    last_attempt: Some(SystemTime::now()),
                    will_retry_until: Some(until),
                }
            })
            .collect();
        if !self.send(s, job, &rcpts, Kind::Delay).await {
            component::log(
                s.who,
                format!("{}: the delay notice is not sent", job.ta.id),
            );
        }
    }

    /// Makes and queues the notices; true when there was nothing to send
    /// or every notice is queued (a retry after a partial failure may
    /// repeat the notices that were queued).
    async fn send(
        &self,
        s: &Arc<Scheduler>,
        job: &Deferred,
        rcpts: &[DsnRcpt],
        kind: Kind,
    ) -> bool {
        if rcpts.is_empty() {
            return true;
        }
        let id = job.ta.id;
        let to = if !job.ta.sender.is_empty() {
            job.ta.sender.clone()
        } else if job.ta.recipients.iter().all(|r| is_postmaster(&r.address)) {
            // A notice to postmaster failed: nobody is left to tell.
            component::log(
                s.who,
                format!("{id}: undeliverable notice to postmaster; dropped"),
            );
            return true;
        } else if kind == Kind::Failure {
            // A failed notice (sender <>) goes to postmaster.
            "postmaster".to_string()
        } else {
            return true;
        };
        // A missing content file (lost from the queue) gives a notice
        // without the original.
        let original = tokio::fs::read(s.queue.cdb().path(id))
            .await
            .unwrap_or_default();
        let mail = dsn::parse_mail(&job.ta.sender_params);
        let ret = mail.ret.unwrap_or(dsn::Ret::Hdrs);
        let qid = id.to_string();
        let mut all = true;
        for chunk in dsn::chunks(rcpts, self.max_per_dsn) {
            let input = DsnInput {
                reporting_mta: &self.hostname,
                queue_id: &qid,
                sender: &to,
                envid: mail.envid.as_deref(),
                arrival: time(job.ta.received_at),
                recipients: chunk,
                original: &original,
                ret,
                header_only: self.header_only,
                now: SystemTime::now(),
            };
            let message = dsn::build(&input);
            let params = dsn::sender_params(&input, &message);
            all &= self.queue_notice(s, &qid, &to, message, params, kind).await;
        }
        all
    }

    /// Stores and commits one notice, then schedules it.
    async fn queue_notice(
        &self,
        s: &Arc<Scheduler>,
        about: &str,
        to: &str,
        message: Vec<u8>,
        sender_params: String,
        kind: Kind,
    ) -> bool {
        let id = self.ids.next_id();
        let what = match kind {
            Kind::Failure => "bounce",
            Kind::Delay => "delay notice",
            Kind::Success => "success notice",
        };
        let size = match s.queue.cdb().store(id, message).await {
            Ok(n) => n,
            Err(e) => {
                let _ = s.queue.cdb().remove(id);
                component::log(s.who, format!("{about}: cannot store the {what}: {e}"));
                return false;
            }
        };
        let ta = Transaction {
            id,
            sender: String::new(),
            sender_params,
            recipients: vec![Recipient::new(to)],
            size,
            received_at: now_micros(),
        };
        match s.queue.commit(ta.clone()).await {
            Ok(()) => {
                component::log(
                    s.who,
                    format!("{id}: from=<>, size={size}, nrcpt=1 ({what} of {about} to <{to}>)"),
                );
                s.submit(ta);
                true
            }
            Err(e) => {
                let _ = s.queue.cdb().remove(id);
                component::log(
                    s.who,
                    format!("{about}: cannot queue the {what}: {e}; will try again"),
                );
                false
            }
        }
    }
}

/// The Remote-MTA of a relay as logged (`name[addr]:port`, `[addr]:port`
/// or a socket path): the host name, else the bracketed address; none for
/// a local socket.
fn remote_mta(relay: &str) -> Option<String> {
    if relay.is_empty() || relay.starts_with('/') || !relay.contains('[') {
        return None;
    }
    let (name, rest) = relay.split_once('[')?;
    if !name.is_empty() {
        return Some(name.to_string());
    }
    let addr = rest.split(']').next()?;
    Some(format!("[{addr}]"))
}

fn is_postmaster(address: &str) -> bool {
    let local = address.split('@').next().unwrap_or(address);
    local.eq_ignore_ascii_case("postmaster")
}

fn wants(job: &Deferred, index: u32, kind: Kind) -> bool {
    let params = job
        .ta
        .recipients
        .get(index as usize)
        .map(|r| r.params.as_str())
        .unwrap_or("");
    dsn::parse_rcpt(params).wants(kind)
}

fn orcpt(job: &Deferred, index: u32) -> Option<(String, String)> {
    let params = job.ta.recipients.get(index as usize)?.params.as_str();
    dsn::parse_rcpt(params).orcpt
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_mta_is_the_host_without_port() {
        assert_eq!(
            remote_mta("mx.example[192.0.2.1]:25").as_deref(),
            Some("mx.example")
        );
        assert_eq!(
            remote_mta("[192.0.2.1]:2525").as_deref(),
            Some("[192.0.2.1]")
        );
        assert_eq!(remote_mta("lmtpsock"), None);
        assert_eq!(remote_mta(""), None);
    }
}

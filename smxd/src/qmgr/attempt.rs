//! One delivery attempt of one transaction (README §3.8, §3.9; DESIGN.md
//! "Scheduling"):
//!
//! 1. every recipient still to do is routed by SMAR (aliases expanded, so
//!    one recipient may become several addresses: "slots");
//! 2. slots are grouped by next hop and envelope sender, and each group
//!    goes to an SMTPC process as one [`Delivery`], within the
//!    destination's slow-start window;
//! 3. each recipient's outcome is the worst of its slots: deferred if any
//!    slot is, else bounced if any slot is, else sent. Slots an alias
//!    already delivered are remembered (`Deferred::done`) and skipped at
//!    the next try;
//! 4. the outcome is made durable: all final → `RcptDone` + `TaDone` in
//!    IBDB (or the DEFEDB entry removed) and the content file removed;
//!    some deferred → DEFEDB with the next try; bounces and delay notices
//!    go to the sender ([`super::bounce`]).
//!
//! Log lines, one per slot, in the form postmasters grep for:
//! `ID: to=<rcpt>, orig_to=<alias>, relay=host[addr]:25, delay=1.2, tries=1,
//! status=sent (250 2.0.0 Ok)`.

use super::sched::Scheduler;
use crate::component;
use crate::proto::{Delivery, DeliveryRcpt, NextHop, Resolved, SmarAnswer, SmarRequest, SmtpReply};
use crate::queue::id::now_micros;
use crate::queue::{Deferred, RcptStatus};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

/// One address to deliver to in this attempt.
#[derive(Debug, Clone)]
struct Slot {
    /// Index of the envelope recipient it came from.
    index: u32,
    /// The address (after alias expansion).
    address: String,
    /// RCPT parameters to pass on.
    params: String,
}

/// What happened to a recipient in this attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Sent,
    Deferred,
    Bounced,
}

fn outcome(r: &SmtpReply) -> Outcome {
    if r.is_success() {
        Outcome::Sent
    } else if r.is_permanent() {
        Outcome::Bounced
    } else {
        Outcome::Deferred
    }
}

/// Runs one attempt of `job`; `from_defedb` says where its state lives.
pub async fn run(s: &Arc<Scheduler>, mut job: Deferred, from_defedb: bool) {
    let id = job.ta.id;
    job.tries += 1;
    let content = s.queue.cdb().path(id);
    let pending: Vec<u32> = job
        .ta
        .recipients
        .iter()
        .enumerate()
        .filter(|(_, r)| !r.status.is_final())
        .filter_map(|(i, _)| u32::try_from(i).ok())
        .collect();

    // 1. Route.
    let mut slots: Vec<Slot> = Vec::new();
    let mut groups: HashMap<(NextHop, String), Vec<usize>> = HashMap::new();
    let mut replies: HashMap<u32, Vec<(String, SmtpReply, String)>> = HashMap::new();
    let missing = !content.is_file();
    for &i in &pending {
        let Some(rcpt) = job.ta.recipients.get(i as usize) else {
            continue;
        };
        if missing {
            replies.entry(i).or_default().push((
                rcpt.address.clone(),
                SmtpReply::new(550, "5.3.0", "message content lost from the queue"),
                String::new(),
            ));
            continue;
        }
        let answer = s
            .smar
            .call(
                SmarRequest::Route {
                    address: rcpt.address.clone(),
                },
                s.conf.wait_for_server,
            )
            .await;
        let routed: Vec<Resolved> = match answer {
            Some(SmarAnswer::Routed(v)) if !v.is_empty() => v,
            Some(SmarAnswer::Routed(_)) => {
                let r = SmtpReply::new(550, "5.1.1", "alias expands to no address");
                replies
                    .entry(i)
                    .or_default()
                    .push((rcpt.address.clone(), r, String::new()));
                continue;
            }
            Some(SmarAnswer::Failed(r)) | Some(SmarAnswer::Rcpt(r)) if !r.is_success() => {
                replies
                    .entry(i)
                    .or_default()
                    .push((rcpt.address.clone(), r, String::new()));
                continue;
            }
            _ => {
                let r = SmtpReply::new(451, "4.3.0", "address resolver unavailable");
                replies
                    .entry(i)
                    .or_default()
                    .push((rcpt.address.clone(), r, String::new()));
                continue;
            }
        };
        let done = job.done.get(&i).cloned().unwrap_or_default();
        if routed.iter().all(|r| done.contains(&r.address)) {
            // Every address of this alias got its final answer before.
            replies.entry(i).or_default().push((
                rcpt.address.clone(),
                SmtpReply::new(250, "2.0.0", "already delivered to every address"),
                String::new(),
            ));
            continue;
        }
        for r in routed {
            if done.contains(&r.address) {
                continue;
            }
            if let NextHop::Refused { reply } = &r.next {
                replies.entry(i).or_default().push((
                    r.address.clone(),
                    reply.clone(),
                    String::new(),
                ));
                continue;
            }
            let sender = r.sender.clone().unwrap_or_else(|| job.ta.sender.clone());
            groups
                .entry((r.next.clone(), sender))
                .or_default()
                .push(slots.len());
            slots.push(Slot {
                index: i,
                address: r.address,
                params: rcpt.params.clone(),
            });
        }
    }

    // 2. Deliver, every group concurrently.
    let content_path = content.to_string_lossy().into_owned();
    let mut tasks = tokio::task::JoinSet::new();
    for ((next, sender), members) in groups {
        let delivery = Delivery {
            id: id.to_string(),
            content: content_path.clone(),
            sender,
            mail_params: job.ta.sender_params.clone(),
            recipients: members
                .iter()
                .filter_map(|&k| {
                    let slot = slots.get(k)?;
                    Some(DeliveryRcpt {
                        index: u32::try_from(k).ok()?,
                        address: slot.address.clone(),
                        params: slot.params.clone(),
                    })
                })
                .collect(),
            next,
        };
        tasks.spawn(deliver_one(s.clone(), delivery));
    }
    while let Some(joined) = tasks.join_next().await {
        let Ok((delivery, relay, results)) = joined else {
            continue;
        };
        for rcpt in &delivery.recipients {
            let reply = results
                .get(&rcpt.index)
                .cloned()
                .unwrap_or_else(|| SmtpReply::new(451, "4.3.0", "no result from the SMTP client"));
            if let Some(slot) = slots.get(rcpt.index as usize) {
                replies.entry(slot.index).or_default().push((
                    slot.address.clone(),
                    reply,
                    relay.clone(),
                ));
            }
        }
    }

    // 3. Outcomes, logged per slot.
    let now = now_micros();
    let delay = now.saturating_sub(job.ta.received_at) as f64 / 1e6;
    let mut bounced: Vec<(u32, String, SmtpReply, String)> = Vec::new();
    let mut deferred_any = false;
    for &i in &pending {
        let list = replies.entry(i).or_insert_with(|| {
            vec![(
                job.ta
                    .recipients
                    .get(i as usize)
                    .map(|r| r.address.clone())
                    .unwrap_or_default(),
                SmtpReply::new(451, "4.3.0", "delivery attempt failed internally"),
                String::new(),
            )]
        });
        let list = &*list;
        let orig = job
            .ta
            .recipients
            .get(i as usize)
            .map(|r| r.address.clone())
            .unwrap_or_default();
        for (address, reply, relay) in list {
            let o = outcome(reply);
            let status = match o {
                Outcome::Sent => "sent",
                Outcome::Deferred => "deferred",
                Outcome::Bounced => "bounced",
            };
            let orig_to = if *address != orig {
                format!(", orig_to=<{orig}>")
            } else {
                String::new()
            };
            let relay = if relay.is_empty() { "none" } else { relay };
            component::log(
                s.who,
                format!(
                    "{id}: to=<{address}>{orig_to}, relay={relay}, delay={delay:.2}, tries={}, status={status} ({reply})",
                    job.tries
                ),
            );
            let (kind, counter) = match o {
                Outcome::Sent => (smx_control::EventKind::Delivered, &s.counters.delivered),
                Outcome::Deferred => (smx_control::EventKind::Deferred, &s.counters.deferred),
                Outcome::Bounced => (smx_control::EventKind::Bounced, &s.counters.bounced),
            };
            counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            s.event(kind, id, Some(address), Some(reply.to_string()));
            match o {
                Outcome::Sent => job.done.entry(i).or_default().push(address.clone()),
                Outcome::Bounced => {
                    job.done.entry(i).or_default().push(address.clone());
                    bounced.push((i, address.clone(), reply.clone(), relay.to_string()));
                }
                Outcome::Deferred => {}
            }
            if relay != "none" {
                job.relay = relay.to_string();
            }
        }
        let has = |want: Outcome| list.iter().any(|(_, r, _)| outcome(r) == want);
        let worst = if has(Outcome::Deferred) {
            Outcome::Deferred
        } else if has(Outcome::Bounced) {
            Outcome::Bounced
        } else {
            Outcome::Sent
        };
        if let Some(r) = job.ta.recipients.get_mut(i as usize) {
            r.status = match worst {
                Outcome::Sent => RcptStatus::Delivered,
                Outcome::Bounced => RcptStatus::Bounced,
                Outcome::Deferred => {
                    deferred_any = true;
                    RcptStatus::Deferred
                }
            };
        }
        if let Some((_, reply, _)) = list.iter().rev().find(|(_, r, _)| !r.is_success()) {
            job.last_reply.insert(i, reply.clone());
        }
    }

    // 4. Expiry and notices, then durability.
    let age = std::time::Duration::from_micros(now.saturating_sub(job.ta.received_at));
    if deferred_any && age >= s.conf.return_timeout {
        for (i, r) in job.ta.recipients.iter_mut().enumerate() {
            if r.status == RcptStatus::Deferred {
                r.status = RcptStatus::Bounced;
                let i = u32::try_from(i).unwrap_or(u32::MAX);
                let last = job
                    .last_reply
                    .get(&i)
                    .cloned()
                    .unwrap_or_else(|| SmtpReply::new(451, "4.4.7", "delivery time expired"));
                let text = format!("delivery time expired; last error: {last}");
                component::log(
                    s.who,
                    format!("{id}: to=<{}>, delay={delay:.2}, tries={}, status=expired, returned to sender ({last})", r.address, job.tries),
                );
                bounced.push((
                    i,
                    r.address.clone(),
                    SmtpReply::new(last.code, &last.status, text),
                    job.relay.clone(),
                ));
            }
        }
        deferred_any = false;
    }
    // Bounces: failures of a message that still has recipients to try
    // wait up to merge_delay_max for more, so the sender gets one report.
    if !bounced.is_empty() && job.unreported.is_empty() {
        job.unreported_since = now;
    }
    job.unreported.append(&mut bounced);
    let merge = u64::try_from(s.conf.merge_delay_max.as_micros()).unwrap_or(u64::MAX);
    let report_due = job.unreported_since.saturating_add(merge);
    // A bounce that cannot be queued now (disk or IQDB full) keeps the
    // message in the queue until it can.
    let mut notice_pending = false;
    if !job.unreported.is_empty() && (!deferred_any || now >= report_due) {
        let failed = std::mem::take(&mut job.unreported);
        if !s.bouncer.failed(s, &job, &failed).await {
            job.unreported = failed;
            notice_pending = true;
        }
    }
    if deferred_any
        && !job.delay_notified
        && s.conf.delay_timeout < s.conf.return_timeout
        && age >= s.conf.delay_timeout
    {
        job.delay_notified = true;
        s.bouncer.delayed(s, &job).await;
    }
    if deferred_any || notice_pending {
        job.next_try = now.saturating_add(
            u64::try_from(s.conf.backoff(job.tries).as_micros()).unwrap_or(u64::MAX),
        );
        if notice_pending {
            job.next_try =
                now.saturating_add(u64::try_from(s.conf.retry_min.as_micros()).unwrap_or(u64::MAX));
        } else if !job.unreported.is_empty() {
            // Try again (and report) when the merge delay is over.
            job.next_try = job.next_try.min(report_due);
        }
        let want = s.wants(id);
        if want.hold && !job.held {
            job.held = true;
            component::log(s.who, format!("{id}: held"));
            s.event(smx_control::EventKind::Held, id, None, None);
        }
        let saved = if from_defedb {
            s.queue.defer_again(&job).await
        } else {
            s.queue.defer_from_ibdb(&job).await
        };
        if let Err(e) = saved {
            // Not saved: the old state (IBDB or DEFEDB) is still on disk
            // and will be retried after a restart; retry from memory
            // meanwhile.
            component::log(s.who, format!("{id}: cannot save the deferred state: {e}"));
        }
        s.schedule(job);
        // Asked for while the attempt ran.
        if want.delete {
            super::control::delete_one(s, id).await;
        } else if want.bounce {
            super::control::bounce_one(s, id).await;
        }
    } else {
        let finals: Vec<(u32, RcptStatus)> = pending
            .iter()
            .filter_map(|&i| Some((i, job.ta.recipients.get(i as usize)?.status)))
            .collect();
        let done = if from_defedb {
            s.queue.deferred_done(id).await
        } else {
            s.queue.ta_done_with(id, &finals).await
        };
        match done {
            Ok(()) => component::log(s.who, format!("{id}: removed")),
            Err(e) => component::log(s.who, format!("{id}: cannot log completion: {e}")),
        }
        s.finished(id);
    }
}

/// Suspends a next hop none of whose addresses the SMTP client could
/// connect to (no relay reached, every reply temporary), or ends its
/// suspension when a server was reached (see [`super::occ`]).
fn note_reachability(
    s: &Scheduler,
    next: &NextHop,
    key: &str,
    relay: &str,
    replies: &HashMap<u32, SmtpReply>,
) {
    if !relay.is_empty() {
        s.unreachable.reached(key);
        return;
    }
    if !matches!(next, NextHop::Hosts { .. }) || !replies.values().all(SmtpReply::is_temporary) {
        return;
    }
    let Some(reply) = replies.values().next() else {
        return;
    };
    let how_long = s.octo(next);
    if s.unreachable.suspend(key, reply, how_long, Instant::now()) {
        component::log(
            s.who,
            format!(
                "{key}: no address reachable, deliveries suspended for {} s ({reply})",
                how_long.as_secs()
            ),
        );
    }
}

/// Hands one delivery to an SMTPC process within the destination's
/// window; every failure to do so is a temporary failure of all its
/// recipients.
async fn deliver_one(
    s: Arc<Scheduler>,
    d: Delivery,
) -> (Delivery, String, HashMap<u32, SmtpReply>) {
    let all = |r: SmtpReply, d: &Delivery| -> HashMap<u32, SmtpReply> {
        d.recipients.iter().map(|x| (x.index, r.clone())).collect()
    };
    let key = d.next.key();
    if let Some(r) = s.unreachable.suspended(&key, Instant::now()) {
        let r = all(r, &d);
        return (d, String::new(), r);
    }
    let dest = s.dest(&d.next);
    let Some(_permit) = dest.acquire().await else {
        let r = all(SmtpReply::new(451, "4.3.0", "scheduler stopping"), &d);
        return (d, String::new(), r);
    };
    let Some(client) = s.smtpc.get(s.conf.wait_for_client).await else {
        let r = all(
            SmtpReply::new(451, "4.3.0", "no SMTP client process available"),
            &d,
        );
        return (d, String::new(), r);
    };
    match client.call(d.clone()).await {
        Ok(result) => {
            let map: HashMap<u32, SmtpReply> = result.results.into_iter().collect();
            note_reachability(&s, &d.next, &key, &result.relay, &map);
            if map.values().any(SmtpReply::is_success) {
                dest.success();
            } else if map.values().all(SmtpReply::is_temporary) {
                dest.failure();
            }
            (d, result.relay, map)
        }
        Err(e) => {
            let r = all(
                SmtpReply::new(451, "4.3.0", format!("SMTP client failed: {e}")),
                &d,
            );
            (d, String::new(), r)
        }
    }
}

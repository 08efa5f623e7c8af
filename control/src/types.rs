//! The messages of the control protocol (seed 002 §3.8 `control_socket`,
//! §4.6.3 the query/control program; smx-control(5)): requests, responses,
//! subscription events and the result types, all serde JSON.
//!
//! One request is one JSON object on one line:
//! `{"id":7,"op":"queue.list","filter":{"domain":"*.example"},"limit":50}`.
//! The answer is `{"id":7,"ok":true,"result":…}` or
//! `{"id":7,"ok":false,"error":{"code":"bad_request","message":"…"}}`.
//! Subscribers additionally receive [`Event`] lines, which carry an
//! `"event"` key and no `"ok"` key.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One request line: a client-chosen id echoed in the response, and the
/// operation with its arguments (flattened, tagged by `"op"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Request {
    /// Echoed in the [`Response`].
    pub id: u64,
    /// What to do.
    #[serde(flatten)]
    pub op: Op,
}

/// The operations, tagged by the `"op"` key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op")]
pub enum Op {
    /// The components of smx: pid, uptime, restarts, version ([`Status`]).
    #[serde(rename = "status")]
    Status,
    /// Counters, queue sizes and rates ([`Stats`]).
    #[serde(rename = "stats")]
    Stats,
    /// Entries matching `filter`, `offset`/`limit` paged ([`ListResult`]).
    #[serde(rename = "queue.list")]
    List {
        /// Which entries; empty selects all.
        #[serde(default)]
        filter: Filter,
        /// Entries to skip (in id order).
        #[serde(default)]
        offset: usize,
        /// Entries to return at most ([`DEFAULT_LIMIT`] when absent).
        #[serde(default)]
        limit: Option<usize>,
    },
    /// One entry with its headers ([`QueueDetail`]).
    #[serde(rename = "queue.show")]
    Show {
        /// The queue id (`queue_id`, since `id` is the request's).
        queue_id: String,
    },
    /// Schedule the selected entries for delivery now ([`ActionResult`]).
    #[serde(rename = "queue.flush", alias = "flush")]
    Flush(Action),
    /// Stop scheduling the selected entries ([`ActionResult`]).
    #[serde(rename = "queue.hold", alias = "hold")]
    Hold(Action),
    /// Schedule held entries again ([`ActionResult`]).
    #[serde(rename = "queue.release", alias = "release")]
    Release(Action),
    /// Remove the selected entries without a DSN ([`ActionResult`]).
    #[serde(rename = "queue.delete", alias = "delete")]
    Delete(Action),
    /// Fail the selected entries and send DSNs ([`ActionResult`]).
    #[serde(rename = "queue.bounce", alias = "bounce")]
    Bounce(Action),
    /// Recipients per destination domain and age bucket, like qshape ([`Shape`]).
    #[serde(rename = "queue.shape")]
    Shape {
        /// Upper bounds of the age buckets in seconds, ascending
        /// ([`DEFAULT_BUCKETS`] when absent); one overflow bucket follows.
        #[serde(default)]
        buckets: Option<Vec<u64>>,
    },
    /// Re-read the configuration.
    #[serde(rename = "reload")]
    Reload,
    /// Stop smx.
    #[serde(rename = "stop")]
    Stop,
    /// Receive [`Event`] lines on this connection from now on.
    #[serde(rename = "subscribe")]
    Subscribe,
}

/// Entries returned by `queue.list` without a `limit`.
pub const DEFAULT_LIMIT: usize = 1000;

/// qshape's default age buckets (5, 10, 20 … 1280 minutes) in seconds.
pub const DEFAULT_BUCKETS: [u64; 9] = [300, 600, 1200, 2400, 4800, 9600, 19200, 38400, 76800];

/// The arguments of flush, hold, release, delete and bounce.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Action {
    /// Which entries.
    pub selector: Selector,
    /// Only count the matching entries; change nothing.
    #[serde(default)]
    pub dry_run: bool,
}

/// Which entries an action applies to: a list of queue ids
/// (`{"ids":["…"]}`) or a filter (`{"filter":{…}}`, `{}` is all).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Selector {
    /// These queue ids (unknown ids are not counted).
    Ids(Vec<String>),
    /// Every entry the filter matches.
    Filter(Filter),
}

/// The state of a queue entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Received, in the incoming queue (IQDB), not yet scheduled.
    Incoming,
    /// In the active queue, being delivered.
    Active,
    /// Deferred (DEFEDB), waiting for its next try.
    Deferred,
    /// Held by the administrator: not scheduled until released.
    Held,
}

impl State {
    /// The protocol name (`"deferred"`).
    pub fn as_str(self) -> &'static str {
        match self {
            State::Incoming => "incoming",
            State::Active => "active",
            State::Deferred => "deferred",
            State::Held => "held",
        }
    }

    /// Parses a protocol name.
    pub fn parse(s: &str) -> Option<State> {
        match s {
            "incoming" => Some(State::Incoming),
            "active" => Some(State::Active),
            "deferred" => Some(State::Deferred),
            "held" => Some(State::Held),
            _ => None,
        }
    }
}

/// Selects queue entries; every field given must match (AND). Globs use
/// `*` (any run), `?` (one character) and `[…]` classes, case-insensitive.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Filter {
    /// The entry's state.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<State>,
    /// Glob on the envelope sender (`<>` is the empty sender).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sender: Option<String>,
    /// Glob on any recipient address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recipient: Option<String>,
    /// Glob on the domain of any recipient.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    /// Only entries at least this old (seconds).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_age: Option<u64>,
    /// Only entries at most this old (seconds).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_age: Option<u64>,
    /// Case-insensitive substring of the delay reason or a last reply.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The delivery status of one recipient.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RcptStatus {
    /// Not tried yet.
    Pending,
    /// Temporarily failed; will be retried.
    Deferred,
    /// Delivered.
    Delivered,
    /// Permanently failed (bounced).
    Failed,
}

/// One recipient of a queue entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RcptEntry {
    /// The address (without angle brackets).
    pub address: String,
    /// Its status.
    pub status: RcptStatus,
    /// The last SMTP reply for it, if any (`451 4.3.0 try later`).
    #[serde(default)]
    pub last_reply: Option<String>,
}

/// One message (transaction) in the queue, as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueEntry {
    /// The queue (transaction) id.
    pub id: String,
    /// Its state.
    pub state: State,
    /// Seconds since it was received.
    pub age_secs: u64,
    /// Message size in bytes.
    pub size: u64,
    /// Envelope sender, empty for the null sender.
    pub sender: String,
    /// Envelope recipients with their status.
    pub recipients: Vec<RcptEntry>,
    /// Delivery attempts so far.
    #[serde(default)]
    pub tries: u32,
    /// Unix time of the next try, if scheduled.
    #[serde(default)]
    pub next_try: Option<u64>,
    /// Why it is delayed, if it is.
    #[serde(default)]
    pub reason: Option<String>,
    /// The relay (next hop) of the last try, if any.
    #[serde(default)]
    pub relay: Option<String>,
}

/// `queue.show`: an entry and its message headers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueDetail {
    /// The entry.
    #[serde(flatten)]
    pub entry: QueueEntry,
    /// The header section of the message as stored (CRLF or LF lines).
    #[serde(default)]
    pub headers: String,
}

/// `queue.list` result: one page of the matching entries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListResult {
    /// How many entries match the filter (all pages).
    pub total: usize,
    /// The offset of the first entry returned.
    pub offset: usize,
    /// The entries of this page, in id order.
    pub entries: Vec<QueueEntry>,
}

/// Result of flush, hold, release, delete and bounce.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionResult {
    /// How many entries the selector matched.
    pub matched: usize,
    /// How many entries were changed (0 for a dry run).
    pub affected: usize,
    /// Whether this was a dry run.
    pub dry_run: bool,
}

/// Counters since the QMGR started.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Counters {
    /// Messages received.
    pub received: u64,
    /// Recipients delivered.
    pub delivered: u64,
    /// Recipient deferrals.
    pub deferred: u64,
    /// Recipients bounced.
    pub bounced: u64,
    /// Rejected transactions or recipients.
    pub rejected: u64,
    /// Rejections by reason (`"relay denied"` → 3).
    #[serde(default)]
    pub rejected_by_reason: BTreeMap<String, u64>,
}

/// Queue sizes by state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueSizes {
    /// Incoming entries.
    pub incoming: u64,
    /// Active entries.
    pub active: u64,
    /// Deferred entries.
    pub deferred: u64,
    /// Held entries.
    pub held: u64,
}

impl QueueSizes {
    /// Counts `entries` by state.
    pub fn count<'a>(entries: impl IntoIterator<Item = &'a QueueEntry>) -> QueueSizes {
        let mut s = QueueSizes::default();
        for e in entries {
            match e.state {
                State::Incoming => s.incoming += 1,
                State::Active => s.active += 1,
                State::Deferred => s.deferred += 1,
                State::Held => s.held += 1,
            }
        }
        s
    }

    /// All entries.
    pub fn total(&self) -> u64 {
        self.incoming + self.active + self.deferred + self.held
    }
}

/// Rates over the last minute.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Rates {
    /// Messages received per second.
    pub received_per_sec: f64,
    /// Recipients delivered per second.
    pub delivered_per_sec: f64,
}

/// `stats` result.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    /// Counters.
    pub counters: Counters,
    /// Queue sizes by state.
    pub queue: QueueSizes,
    /// Rates.
    pub rates: Rates,
    /// Seconds since the QMGR started.
    pub uptime_secs: u64,
}

/// One smx component (process) as the MCP sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Component {
    /// Its name (`qmgr`, `smtps MTA`, …).
    pub name: String,
    /// Its process id when running.
    pub pid: Option<u32>,
    /// Seconds since it was (re)started.
    pub uptime_secs: u64,
    /// How often the MCP restarted it.
    pub restarts: u32,
    /// Its version.
    pub version: String,
}

/// `status` result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    /// smx version.
    pub version: String,
    /// The components.
    pub components: Vec<Component>,
}

/// One destination domain row of a [`Shape`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShapeRow {
    /// The recipient domain (`TOTAL` for the first row).
    pub domain: String,
    /// Recipients in all buckets.
    pub total: u64,
    /// Recipients per age bucket (`buckets.len() + 1` values).
    pub counts: Vec<u64>,
}

/// `queue.shape` result: undelivered recipients per domain and age.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shape {
    /// Upper bounds of the buckets in seconds; the last count is older.
    pub buckets: Vec<u64>,
    /// `TOTAL` first, then domains by descending total.
    pub rows: Vec<ShapeRow>,
}

/// What happened to a message, for subscribers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A message was received (queued).
    Received,
    /// A recipient (or the message) was delivered.
    Delivered,
    /// A delivery was deferred.
    Deferred,
    /// A recipient bounced.
    Bounced,
    /// The message was held.
    Held,
    /// The message was released.
    Released,
    /// The message was deleted.
    Deleted,
    /// This subscriber was too slow; `missed` events were dropped.
    Lagged,
}

/// One event line sent to subscribers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// What happened.
    pub event: EventKind,
    /// The queue id (empty for `lagged`).
    #[serde(default)]
    pub id: String,
    /// The recipient concerned, if one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipient: Option<String>,
    /// The reply or reason, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Events dropped (only for `lagged`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub missed: Option<u64>,
}

/// The error object of a failed request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorObject {
    /// Machine-readable code: `parse`, `too_large`, `bad_request`,
    /// `unknown_op`, `not_found`, `internal`.
    pub code: String,
    /// Human-readable explanation.
    pub message: String,
}

/// One response line.
///
/// The result is kept as raw JSON text: the server writes a result
/// serialized once, and a client decodes it straight into the type it
/// expects (a listing of 10,000 entries never becomes a `Value` tree).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Response {
    /// The request's id (0 when the request had none that could be read).
    pub id: u64,
    /// Whether the request succeeded.
    pub ok: bool,
    /// The result when `ok`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Box<serde_json::value::RawValue>>,
    /// The error when not `ok`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorObject>,
}

impl Response {
    /// A success.
    pub fn ok(id: u64, result: Box<serde_json::value::RawValue>) -> Response {
        Response {
            id,
            ok: true,
            result: Some(result),
            error: None,
        }
    }

    /// A success whose result is `v`, serialized once.
    pub fn ok_json<T: Serialize>(id: u64, v: &T) -> Response {
        match serde_json::value::to_raw_value(v) {
            Ok(raw) => Response::ok(id, raw),
            Err(e) => Response::err(id, "internal", e.to_string()),
        }
    }

    /// A failure.
    pub fn err(id: u64, code: &str, message: impl Into<String>) -> Response {
        Response {
            id,
            ok: false,
            result: None,
            error: Some(ErrorObject {
                code: code.to_owned(),
                message: message.into(),
            }),
        }
    }
}

//! The server side of the control socket (seed 002 §3.8 `control_socket`,
//! smx-control(5)): [`ControlBackend`], which the QMGR implements, and the
//! dispatcher [`serve`], which reads request lines, resolves selectors with
//! [`Filter::matches`], pages lists, answers malformed requests with error
//! objects and streams events to subscribers.
//!
//! Each connection has a reader task that frames and parses lines and a
//! writer loop that answers them in order and, once subscribed, interleaves
//! [`Event`] lines from the backend's broadcast channel. Requests run on
//! tokio's blocking pool: a list of 100,000 entries is copied and scanned
//! there, not on the workers that serve the rest of the QMGR.

use crate::framing::{read_line, write_json, Line, MAX_REQUEST};
use crate::shape::shape;
use crate::types::{
    Action, ActionResult, Event, EventKind, Filter, ListResult, Op, QueueDetail, QueueEntry,
    Request, Response, Selector, Stats, Status, DEFAULT_BUCKETS, DEFAULT_LIMIT,
};
use serde_json::Value;
use std::collections::HashSet;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncWrite, BufReader};
use tokio::net::UnixListener;
use tokio::sync::{broadcast, mpsc};

/// What the QMGR provides to the dispatcher. Methods run on the
/// connection's task: keep them short (take a lock, copy, release).
pub trait ControlBackend: Send + Sync {
    /// Every queue entry (the dispatcher filters, sorts and pages).
    ///
    /// Shared, so that a backend may hand the same snapshot to the pages
    /// of one listing (it may be up to a second old) without copying it.
    fn list(&self) -> Arc<Vec<QueueEntry>>;
    /// One entry with its headers, `None` if there is no such id.
    fn show(&self, id: &str) -> Option<QueueDetail>;
    /// Schedules these entries now; returns how many were affected.
    fn flush(&self, ids: &[String]) -> usize;
    /// Holds these entries; returns how many were affected.
    fn hold(&self, ids: &[String]) -> usize;
    /// Releases these held entries; returns how many were affected.
    fn release(&self, ids: &[String]) -> usize;
    /// Deletes these entries (no DSN); returns how many were affected.
    fn delete(&self, ids: &[String]) -> usize;
    /// Bounces these entries (DSN to the sender); returns how many.
    fn bounce(&self, ids: &[String]) -> usize;
    /// Counters, queue sizes and rates.
    fn stats(&self) -> Stats;
    /// The components.
    fn status(&self) -> Status;
    /// Re-reads the configuration.
    fn reload(&self);
    /// Stops smx (after the response is written).
    fn stop(&self);
    /// A receiver of the events from now on.
    fn events(&self) -> broadcast::Receiver<Event>;
}

/// One parsed input line, handed from the reader task to the writer loop.
enum Input {
    Request(Request),
    Bad(Response),
}

/// Accepts connections on `listener` forever, serving each on its own task.
pub async fn serve_listener(listener: UnixListener, backend: Arc<dyn ControlBackend>) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let backend = Arc::clone(&backend);
                tokio::spawn(async move {
                    let _ = serve(stream, backend).await;
                });
            }
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(100)).await,
        }
    }
}

/// Serves one connection until the peer closes it or a write fails.
pub async fn serve<S>(stream: S, backend: Arc<dyn ControlBackend>) -> std::io::Result<()>
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let (rd, mut wr) = tokio::io::split(stream);
    let (tx, mut rx) = mpsc::channel::<Input>(16);
    let reader = tokio::spawn(async move {
        let mut rd = BufReader::new(rd);
        loop {
            let input = match read_line(&mut rd, MAX_REQUEST).await {
                Ok(Line::Line(bytes)) if bytes.iter().all(u8::is_ascii_whitespace) => continue,
                Ok(Line::Line(bytes)) => parse(&bytes),
                Ok(Line::TooLong) => Input::Bad(Response::err(
                    0,
                    "too_large",
                    format!("request line longer than {MAX_REQUEST} bytes"),
                )),
                Ok(Line::Eof) | Err(_) => break,
            };
            if tx.send(input).await.is_err() {
                break;
            }
        }
    });
    let mut events: Option<broadcast::Receiver<Event>> = None;
    let result = loop {
        let input = match &mut events {
            None => rx.recv().await,
            Some(ev) => tokio::select! {
                input = rx.recv() => input,
                event = ev.recv() => {
                    let line = match event {
                        Ok(e) => e,
                        Err(broadcast::error::RecvError::Lagged(n)) => Event {
                            event: EventKind::Lagged,
                            id: String::new(),
                            recipient: None,
                            reason: None,
                            missed: Some(n),
                        },
                        Err(broadcast::error::RecvError::Closed) => {
                            events = None;
                            continue;
                        }
                    };
                    if let Err(e) = write_json(&mut wr, &line).await {
                        break Err(e);
                    }
                    continue;
                }
            },
        };
        let Some(input) = input else { break Ok(()) };
        let (resp, after) = match input {
            Input::Bad(r) => (r, After::Nothing),
            // Listing and selecting copy and scan the whole queue: keep
            // that off the async workers that also serve the QMGR.
            Input::Request(req) => {
                let rid = req.id;
                let b = Arc::clone(&backend);
                match tokio::task::spawn_blocking(move || dispatch(req, b.as_ref())).await {
                    Ok(r) => r,
                    Err(e) => (
                        Response::err(rid, "internal", e.to_string()),
                        After::Nothing,
                    ),
                }
            }
        };
        if let Err(e) = write_json(&mut wr, &resp).await {
            break Err(e);
        }
        match after {
            After::Nothing => {}
            After::Subscribe => {
                if events.is_none() {
                    events = Some(backend.events());
                }
            }
            After::Stop => backend.stop(),
        }
    };
    reader.abort();
    result
}

/// Every op name the dispatcher knows, aliases included.
pub const OPS: [&str; 18] = [
    "status",
    "stats",
    "queue.list",
    "queue.show",
    "queue.flush",
    "queue.hold",
    "queue.release",
    "queue.delete",
    "queue.bounce",
    "queue.shape",
    "reload",
    "stop",
    "subscribe",
    "flush",
    "hold",
    "release",
    "delete",
    "bounce",
];

/// Parses one request line into a request or an error response.
fn parse(bytes: &[u8]) -> Input {
    let value: Value = match serde_json::from_slice(bytes) {
        Ok(v) => v,
        Err(e) => return Input::Bad(Response::err(0, "parse", format!("not JSON: {e}"))),
    };
    let Some(obj) = value.as_object() else {
        return Input::Bad(Response::err(
            0,
            "bad_request",
            "a request is a JSON object",
        ));
    };
    let id = obj.get("id").and_then(Value::as_u64);
    let Some(id) = id else {
        return Input::Bad(Response::err(
            0,
            "bad_request",
            "missing or invalid \"id\" (an unsigned integer)",
        ));
    };
    let op = match obj.get("op") {
        Some(Value::String(op)) => op.clone(),
        _ => {
            return Input::Bad(Response::err(
                id,
                "bad_request",
                "missing \"op\" (a string)",
            ))
        }
    };
    match serde_json::from_value::<Request>(value) {
        Ok(req) => Input::Request(req),
        Err(_) if !OPS.contains(&op.as_str()) => Input::Bad(Response::err(
            id,
            "unknown_op",
            format!("unknown op \"{op}\""),
        )),
        Err(e) => Input::Bad(Response::err(id, "bad_request", format!("{op}: {e}"))),
    }
}

/// What the connection does after writing a response.
enum After {
    Nothing,
    Subscribe,
    Stop,
}

fn json<T: serde::Serialize>(id: u64, v: &T) -> Response {
    Response::ok_json(id, v)
}

/// Answers one request.
fn dispatch(req: Request, b: &dyn ControlBackend) -> (Response, After) {
    let id = req.id;
    let resp = match req.op {
        Op::Status => json(id, &b.status()),
        Op::Stats => json(id, &b.stats()),
        Op::List {
            filter,
            offset,
            limit,
        } => json(
            id,
            &list(b, &filter, offset, limit.unwrap_or(DEFAULT_LIMIT)),
        ),
        Op::Show { queue_id: qid } => match b.show(&qid) {
            Some(d) => json(id, &d),
            None => Response::err(id, "not_found", format!("{qid}: no such queue entry")),
        },
        Op::Flush(a) => json(id, &act(b, &a, |b, ids| b.flush(ids))),
        Op::Hold(a) => json(id, &act(b, &a, |b, ids| b.hold(ids))),
        Op::Release(a) => json(id, &act(b, &a, |b, ids| b.release(ids))),
        Op::Delete(a) => json(id, &act(b, &a, |b, ids| b.delete(ids))),
        Op::Bounce(a) => json(id, &act(b, &a, |b, ids| b.bounce(ids))),
        Op::Shape { buckets } => {
            let bounds = buckets.unwrap_or_else(|| DEFAULT_BUCKETS.to_vec());
            json(id, &shape(b.list().iter(), &bounds))
        }
        Op::Reload => {
            b.reload();
            Response::ok_json(id, &serde_json::json!({}))
        }
        Op::Stop => return (Response::ok_json(id, &serde_json::json!({})), After::Stop),
        Op::Subscribe => {
            return (
                Response::ok_json(id, &serde_json::json!({"subscribed": true})),
                After::Subscribe,
            )
        }
    };
    (resp, After::Nothing)
}

/// The page `offset..offset+limit` of the entries matching `filter`, in id order.
pub fn list(b: &dyn ControlBackend, filter: &Filter, offset: usize, limit: usize) -> ListResult {
    let snapshot = b.list();
    let mut all: Vec<&QueueEntry> = snapshot
        .iter()
        .filter(|e| filter.is_empty() || filter.matches(e))
        .collect();
    let total = all.len();
    if !all.windows(2).all(|w| w[0].id <= w[1].id) {
        all.sort_unstable_by(|a, b| a.id.cmp(&b.id));
    }
    // Only the page is copied.
    let entries = all.into_iter().skip(offset).take(limit).cloned().collect();
    ListResult {
        total,
        offset,
        entries,
    }
}

/// The ids a selector designates among the current entries.
fn resolve(b: &dyn ControlBackend, sel: &Selector) -> Vec<String> {
    match sel {
        Selector::Ids(ids) => {
            let want: HashSet<&str> = ids.iter().map(String::as_str).collect();
            let mut found: Vec<String> = b
                .list()
                .iter()
                .filter(|e| want.contains(e.id.as_str()))
                .map(|e| e.id.clone())
                .collect();
            found.sort_unstable();
            found
        }
        Selector::Filter(f) => {
            let mut found: Vec<String> = b
                .list()
                .iter()
                .filter(|e| f.matches(e))
                .map(|e| e.id.clone())
                .collect();
            found.sort_unstable();
            found
        }
    }
}

/// Resolves the selector and, unless a dry run, applies `op` to the ids.
fn act(
    b: &dyn ControlBackend,
    a: &Action,
    op: impl Fn(&dyn ControlBackend, &[String]) -> usize,
) -> ActionResult {
    let ids = resolve(b, &a.selector);
    let affected = if a.dry_run || ids.is_empty() {
        0
    } else {
        op(b, &ids)
    };
    ActionResult {
        matched: ids.len(),
        affected,
        dry_run: a.dry_run,
    }
}

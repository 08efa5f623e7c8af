//! Tests of the control protocol dispatcher (smx-control(5)) over a real
//! Unix socket with the in-memory backend holding 100,000 entries: list
//! with filters and paging, dry-run counts, actions, show, shape, status,
//! stats, reload/stop, malformed and oversized request lines (connection
//! stays usable), subscribe, and the client's connection errors.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use serde_json::{json, Value};
use smx_control::fake::{entries, FakeBackend};
use smx_control::{
    Action, ActionResult, Client, ClientError, ControlBackend, EventKind, Filter, ListResult, Op,
    QueueDetail, Selector, Shape, State, Stats, Status, MAX_REQUEST,
};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;

const N: usize = 100_000;
const WAIT: Duration = Duration::from_secs(30);

struct Server {
    _dir: tempfile::TempDir,
    path: PathBuf,
    backend: Arc<FakeBackend>,
}

async fn server(n: usize) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ctl.sock");
    let backend = Arc::new(FakeBackend::new(entries(n)));
    let listener = tokio::net::UnixListener::bind(&path).unwrap();
    let b: Arc<dyn ControlBackend> = backend.clone();
    tokio::spawn(smx_control::serve_listener(listener, b));
    Server {
        _dir: dir,
        path,
        backend,
    }
}

async fn client(s: &Server) -> Client {
    Client::connect(&s.path).await.unwrap()
}

fn count(backend: &FakeBackend, f: &Filter) -> usize {
    backend.snapshot().iter().filter(|e| f.matches(e)).count()
}

#[tokio::test]
async fn list_filters_and_pages() {
    let s = server(N).await;
    let mut c = client(&s).await;
    let all: ListResult = c
        .call_as(Op::List {
            filter: Filter::default(),
            offset: 0,
            limit: None,
        })
        .await
        .unwrap();
    assert_eq!(all.total, N);
    assert_eq!(all.entries.len(), smx_control::DEFAULT_LIMIT);
    assert_eq!(all.entries[0].id, "Q00000001");

    // Paging walks the id order without gaps or repeats.
    let page: ListResult = c
        .call_as(Op::List {
            filter: Filter::default(),
            offset: 99_990,
            limit: Some(50),
        })
        .await
        .unwrap();
    assert_eq!(page.entries.len(), 10);
    assert_eq!(page.entries[0].id, "Q00099991");
    assert_eq!(page.entries[9].id, "Q00100000");

    let filters = [
        Filter {
            state: Some(State::Held),
            ..Filter::default()
        },
        Filter {
            domain: Some("*.EXAMPLE".into()),
            ..Filter::default()
        },
        Filter {
            domain: Some("example.[co]*".into()),
            state: Some(State::Deferred),
            ..Filter::default()
        },
        Filter {
            recipient: Some("user1?@*".into()),
            ..Filter::default()
        },
        Filter {
            sender: Some("<>".into()),
            ..Filter::default()
        },
        Filter {
            min_age: Some(3600),
            max_age: Some(7200),
            ..Filter::default()
        },
        Filter {
            reason: Some("TIMED OUT".into()),
            domain: Some("down.example".into()),
            ..Filter::default()
        },
    ];
    for f in filters {
        let want = count(&s.backend, &f);
        assert!(want > 0 && want < N, "{f:?} selects {want}");
        let got: ListResult = c
            .call_as(Op::List {
                filter: f.clone(),
                offset: 0,
                limit: Some(N),
            })
            .await
            .unwrap();
        assert_eq!(got.total, want, "{f:?}");
        assert_eq!(got.entries.len(), want);
        assert!(got.entries.iter().all(|e| f.matches(e)));
        assert!(got.entries.windows(2).all(|w| w[0].id < w[1].id));
    }
    // Specific filter semantics.
    let held: ListResult = c
        .call_as(Op::List {
            filter: Filter {
                state: Some(State::Held),
                ..Filter::default()
            },
            offset: 0,
            limit: Some(N),
        })
        .await
        .unwrap();
    assert_eq!(held.total, N / 7);
    let null: ListResult = c
        .call_as(Op::List {
            filter: Filter {
                sender: Some("<>".into()),
                ..Filter::default()
            },
            offset: 0,
            limit: Some(5),
        })
        .await
        .unwrap();
    assert!(null.entries.iter().all(|e| e.sender.is_empty()));
}

#[tokio::test]
async fn dry_run_counts_then_actions() {
    let s = server(N).await;
    let mut c = client(&s).await;
    let f = Filter {
        domain: Some("down.example".into()),
        ..Filter::default()
    };
    let want = count(&s.backend, &f);
    let dry: ActionResult = c
        .call_as(Op::Delete(Action {
            selector: Selector::Filter(f.clone()),
            dry_run: true,
        }))
        .await
        .unwrap();
    assert_eq!((dry.matched, dry.affected, dry.dry_run), (want, 0, true));
    assert_eq!(s.backend.snapshot().len(), N, "a dry run changes nothing");

    let done: ActionResult = c
        .call_as(Op::Delete(Action {
            selector: Selector::Filter(f.clone()),
            dry_run: false,
        }))
        .await
        .unwrap();
    assert_eq!((done.matched, done.affected), (want, want));
    assert_eq!(s.backend.snapshot().len(), N - want);
    assert_eq!(count(&s.backend, &f), 0);

    // Hold and release by ids; unknown ids are not counted.
    let ids = vec!["Q00000001".to_owned(), "Q00000002".into(), "nosuch".into()];
    let held: ActionResult = c
        .call_as(Op::Hold(Action {
            selector: Selector::Ids(ids.clone()),
            dry_run: false,
        }))
        .await
        .unwrap();
    assert_eq!((held.matched, held.affected), (2, 2));
    let d: QueueDetail = c
        .call_as(Op::Show {
            queue_id: "Q00000002".into(),
        })
        .await
        .unwrap();
    assert_eq!(d.entry.state, State::Held);
    assert!(d.headers.contains("Subject: test Q00000002"));
    let rel: ActionResult = c
        .call_as(Op::Release(Action {
            selector: Selector::Ids(ids),
            dry_run: false,
        }))
        .await
        .unwrap();
    assert_eq!(rel.affected, 2);
    let flushed: ActionResult = c
        .call_as(Op::Flush(Action {
            selector: Selector::Filter(Filter {
                state: Some(State::Deferred),
                domain: Some("slow.example".into()),
                ..Filter::default()
            }),
            dry_run: false,
        }))
        .await
        .unwrap();
    assert!(flushed.affected > 0);
    assert_eq!(flushed.matched, flushed.affected);
    let bounced: ActionResult = c
        .call_as(Op::Bounce(Action {
            selector: Selector::Ids(vec!["Q00000003".into()]),
            dry_run: false,
        }))
        .await
        .unwrap();
    assert_eq!(bounced.affected, 1);
    let err = c
        .call(Op::Show {
            queue_id: "Q00000003".into(),
        })
        .await
        .unwrap_err();
    assert!(
        matches!(err, ClientError::Server { ref code, .. } if code == "not_found"),
        "{err}"
    );
}

#[tokio::test]
async fn shape_status_stats_reload_stop() {
    let s = server(1000).await;
    let mut c = client(&s).await;
    let shape: Shape = c.call_as(Op::Shape { buckets: None }).await.unwrap();
    assert_eq!(shape.rows[0].domain, "TOTAL");
    assert_eq!(shape.rows[0].total, 1000);
    assert_eq!(shape.rows.len(), 6);
    assert_eq!(shape.rows[0].counts.len(), shape.buckets.len() + 1);
    let sum: u64 = shape.rows[1..].iter().map(|r| r.total).sum();
    assert_eq!(sum, 1000);
    let custom: Shape = c
        .call_as(Op::Shape {
            buckets: Some(vec![3600]),
        })
        .await
        .unwrap();
    let young = s
        .backend
        .snapshot()
        .iter()
        .filter(|e| e.age_secs <= 3600)
        .count() as u64;
    assert_eq!(custom.rows[0].counts, vec![young, 1000 - young]);

    let st: Status = c.call_as(Op::Status).await.unwrap();
    assert_eq!(st.components[0].name, "qmgr");
    let stats: Stats = c.call_as(Op::Stats).await.unwrap();
    assert_eq!(stats.queue.total(), 1000);
    c.call(Op::Reload).await.unwrap();
    assert_eq!(s.backend.reloads.load(Ordering::SeqCst), 1);
    c.call(Op::Stop).await.unwrap();
    // The response is written before stop is called; another round trip
    // on the same connection orders us after it.
    c.call(Op::Status).await.unwrap();
    assert_eq!(s.backend.stops.load(Ordering::SeqCst), 1);
}

/// Sends raw lines and reads one JSON line back each.
async fn raw(s: &Server, lines: &[Vec<u8>]) -> Vec<Value> {
    let stream = UnixStream::connect(&s.path).await.unwrap();
    let (r, mut w) = stream.into_split();
    let mut r = BufReader::new(r);
    let mut out = Vec::new();
    for l in lines {
        w.write_all(l).await.unwrap();
        let mut line = String::new();
        tokio::time::timeout(WAIT, r.read_line(&mut line))
            .await
            .unwrap()
            .unwrap();
        out.push(serde_json::from_str(&line).unwrap());
    }
    out
}

#[tokio::test]
async fn malformed_requests_keep_the_connection() {
    let s = server(10).await;
    let mut huge = br#"{"id":9,"op":"queue.list","filter":{"reason":""#.to_vec();
    huge.extend(vec![b'x'; MAX_REQUEST + 10]);
    huge.extend(b"\"}}\n");
    let lines: Vec<Vec<u8>> = vec![
        b"this is not json\n".to_vec(),
        b"[1,2]\n".to_vec(),
        b"{\"op\":\"status\"}\n".to_vec(),
        b"{\"id\":4}\n".to_vec(),
        b"{\"id\":5,\"op\":\"queue.frobnicate\"}\n".to_vec(),
        b"{\"id\":6,\"op\":\"queue.list\",\"filter\":{\"colour\":\"red\"}}\n".to_vec(),
        b"{\"id\":7,\"op\":\"queue.show\"}\n".to_vec(),
        b"{\"id\":8,\"op\":\"queue.hold\",\"selector\":{\"filter\":{\"state\":\"lost\"}}}\n".to_vec(),
        huge,
        b"\n{\"id\":10,\"op\":\"hold\",\"selector\":{\"ids\":[\"Q00000001\"]},\"dry_run\":true}\r\n"
            .to_vec(),
    ];
    let got = raw(&s, &lines).await;
    let codes: Vec<(u64, &str)> = got
        .iter()
        .map(|v| {
            (
                v["id"].as_u64().unwrap(),
                v["error"]["code"].as_str().unwrap_or("-"),
            )
        })
        .collect();
    assert_eq!(
        codes,
        vec![
            (0, "parse"),
            (0, "bad_request"),
            (0, "bad_request"),
            (4, "bad_request"),
            (5, "unknown_op"),
            (6, "bad_request"),
            (7, "bad_request"),
            (8, "bad_request"),
            (0, "too_large"),
            (10, "-"),
        ]
    );
    assert!(got.iter().take(9).all(|v| v["ok"] == json!(false)));
    assert_eq!(
        got[9]["result"],
        json!({"matched": 1, "affected": 0, "dry_run": true})
    );
}

#[tokio::test]
async fn subscribe_streams_events() {
    let s = server(10).await;
    let mut sub = client(&s).await;
    sub.subscribe().await.unwrap();
    let mut c = client(&s).await;
    c.call(Op::Hold(Action {
        selector: Selector::Ids(vec!["Q00000004".into()]),
        dry_run: false,
    }))
    .await
    .unwrap();
    c.call(Op::Delete(Action {
        selector: Selector::Ids(vec!["Q00000005".into()]),
        dry_run: false,
    }))
    .await
    .unwrap();
    let e1 = tokio::time::timeout(WAIT, sub.next_event())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!((e1.event, e1.id.as_str()), (EventKind::Held, "Q00000004"));
    // A request on the subscribed connection still works; events that
    // arrive meanwhile are kept for next_event.
    let st: Stats = sub.call_as(Op::Stats).await.unwrap();
    assert_eq!(st.queue.total(), 9);
    let e2 = tokio::time::timeout(WAIT, sub.next_event())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(
        (e2.event, e2.id.as_str()),
        (EventKind::Deleted, "Q00000005")
    );
}

#[tokio::test]
async fn client_errors_are_classified() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nosuch.sock");
    let err = Client::connect(&missing).await.unwrap_err();
    assert!(matches!(err, ClientError::NoSocket(_)), "{err}");
    assert!(err.is_unavailable());
    assert!(err.to_string().contains("is smxd running"));

    // A socket file nobody listens on: smxd died.
    let stale = dir.path().join("stale.sock");
    drop(std::os::unix::net::UnixListener::bind(&stale).unwrap());
    let err = Client::connect(&stale).await.unwrap_err();
    assert!(matches!(err, ClientError::Refused(_)), "{err}");
    assert!(err.is_unavailable());
}

//! End-to-end tests of the smxctl queue commands (issue 7, smxctl(8)): the
//! real binary against an in-process control server (the smx-control
//! dispatcher over a Unix socket with the in-memory backend): `--json`
//! parsed back, the mailq layout, filters, a bulk delete by domain that
//! needs `--yes`, ids on standard input, the socket found from `-f
//! smx.conf`, and exit 69 when smxd is not running.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use serde_json::Value;
use smx_control::fake::{entries, FakeBackend};
use smx_control::{ControlBackend, Filter, QueueEntry, State};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;

const BIN: &str = env!("CARGO_BIN_EXE_smxctl");

struct Server {
    _rt: tokio::runtime::Runtime,
    dir: tempfile::TempDir,
    socket: PathBuf,
    backend: Arc<FakeBackend>,
}

/// A control server with `n` fake entries on `<tmp>/q/ctl.sock`.
fn server(n: usize) -> Server {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("q")).unwrap();
    let socket = dir.path().join("q/ctl.sock");
    let backend = Arc::new(FakeBackend::new(entries(n)));
    let listener = rt
        .block_on(async { tokio::net::UnixListener::bind(&socket) })
        .unwrap();
    let b: Arc<dyn ControlBackend> = backend.clone();
    rt.spawn(smx_control::serve_listener(listener, b));
    Server {
        _rt: rt,
        dir,
        socket,
        backend,
    }
}

fn smxctl(socket: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.arg("--socket").arg(socket).args(args);
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut pipe = child.stdin.take().unwrap();
    pipe.write_all(stdin.unwrap_or("").as_bytes()).unwrap();
    drop(pipe);
    child.wait_with_output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn count(b: &FakeBackend, f: &Filter) -> usize {
    b.snapshot().iter().filter(|e| f.matches(e)).count()
}

#[test]
fn list_json_parses_back_with_filters() {
    let s = server(25_000);
    let o = smxctl(&s.socket, &["--json", "queue", "list"], None);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let entries: Vec<QueueEntry> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(entries.len(), 25_000, "pages are joined");
    assert_eq!(entries, {
        let mut all = s.backend.snapshot();
        all.sort_by(|a, b| a.id.cmp(&b.id));
        all
    });

    let o = smxctl(
        &s.socket,
        &[
            "queue",
            "list",
            "--json",
            "--state",
            "deferred",
            "--domain",
            "*.example",
            "--older-than",
            "1h",
            "--reason",
            "timed out",
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let f = Filter {
        state: Some(State::Deferred),
        domain: Some("*.example".into()),
        min_age: Some(3600),
        reason: Some("timed out".into()),
        ..Filter::default()
    };
    let got: Vec<QueueEntry> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(!got.is_empty());
    assert_eq!(got.len(), count(&s.backend, &f));
    assert!(got.iter().all(|e| f.matches(e)));

    let o = smxctl(
        &s.socket,
        &["queue", "list", "--limit", "3", "--offset", "10"],
        None,
    );
    let text = stdout(&o);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    assert!(lines[0].starts_with("ID "));
    assert!(lines[1].starts_with("Q00000011 "));
}

#[test]
fn mailq_listing() {
    let s = server(4);
    let o = smxctl(&s.socket, &["queue", "list", "--mailq"], None);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(
        text.starts_with("-Queue ID-  --Size-- ----Arrival Time---- -Sender/Recipient-------\n")
    );
    assert!(
        text.contains("\nQ00000003*"),
        "active entries are starred: {text}"
    );
    assert!(text.trim_end().ends_with("Kbytes in 4 Requests."), "{text}");
    let empty = server(0);
    let o = smxctl(&empty.socket, &["queue", "list", "--mailq"], None);
    assert_eq!(stdout(&o), "Mail queue is empty\n");
}

#[test]
fn bulk_delete_by_domain_needs_yes() {
    let s = server(1000);
    let f = Filter {
        domain: Some("down.example".into()),
        ..Filter::default()
    };
    let n = count(&s.backend, &f);
    assert!(n > 0);
    let o = smxctl(
        &s.socket,
        &["queue", "delete", "--domain", "down.example"],
        None,
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains(&format!(
            "{n} messages would be deleted; nothing done without --yes"
        )),
        "{}",
        stderr(&o)
    );
    assert_eq!(count(&s.backend, &f), n, "nothing deleted without --yes");

    let o = smxctl(
        &s.socket,
        &["queue", "delete", "--domain", "down.example", "--dry-run"],
        None,
    );
    assert_eq!(stdout(&o), format!("{n} messages would be deleted\n"));

    let o = smxctl(
        &s.socket,
        &[
            "--json",
            "queue",
            "delete",
            "--domain",
            "down.example",
            "--yes",
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let r: Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(r["matched"].as_u64(), Some(n as u64));
    assert_eq!(r["affected"].as_u64(), Some(n as u64));
    assert!(stderr(&o).contains(&format!("{n} messages match")));
    assert_eq!(count(&s.backend, &f), 0);
    assert_eq!(s.backend.snapshot().len(), 1000 - n);

    // Neither ids nor a filter is a usage error.
    let o = smxctl(&s.socket, &["queue", "delete"], None);
    assert_eq!(o.status.code(), Some(64));
}

#[test]
fn ids_on_stdin_hold_release_show() {
    let s = server(10);
    let o = smxctl(
        &s.socket,
        &["queue", "hold", "-"],
        Some("Q00000001\nQ00000002 Q00000003\n"),
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o), "3 of 3 matching messages held\n");
    let held: Vec<String> = s
        .backend
        .snapshot()
        .into_iter()
        .filter(|e| e.state == State::Held)
        .map(|e| e.id)
        .collect();
    assert!(held.contains(&"Q00000002".to_owned()));
    let o = smxctl(&s.socket, &["queue", "show", "Q00000002"], None);
    let text = stdout(&o);
    assert!(text.contains("state:     held"), "{text}");
    assert!(text.contains("Subject: test Q00000002"), "{text}");
    let o = smxctl(&s.socket, &["queue", "release", "Q00000002"], None);
    assert_eq!(stdout(&o), "1 of 1 matching message released\n");
    let o = smxctl(&s.socket, &["queue", "show", "nosuch"], None);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("nosuch: no such queue entry"));
    // Flush by filter needs no --yes.
    let o = smxctl(&s.socket, &["queue", "flush", "--state", "deferred"], None);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).ends_with("flushed\n"));
}

#[test]
fn status_stats_shape_reload_stop() {
    let s = server(100);
    let o = smxctl(&s.socket, &["status"], None);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("\nqmgr "), "{}", stdout(&o));
    let o = smxctl(&s.socket, &["stats", "--json"], None);
    let v: Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(v["queue"]["held"].as_u64(), Some(14));
    let o = smxctl(&s.socket, &["queue", "shape", "--buckets", "10m,1h"], None);
    let text = stdout(&o);
    assert_eq!(
        text.lines()
            .next()
            .unwrap()
            .split_whitespace()
            .collect::<Vec<_>>(),
        ["T", "10", "60", "60+"]
    );
    assert!(text
        .lines()
        .nth(1)
        .unwrap()
        .trim_start()
        .starts_with("TOTAL    100"));
    assert_eq!(
        stdout(&smxctl(&s.socket, &["reload"], None)),
        "reload requested\n"
    );
    assert_eq!(
        stdout(&smxctl(&s.socket, &["stop"], None)),
        "stop requested\n"
    );
    assert_eq!(
        s.backend.reloads.load(std::sync::atomic::Ordering::SeqCst),
        1
    );
}

#[test]
fn socket_from_config_and_not_running() {
    let s = server(5);
    let conf = s.dir.path().join("smx.conf");
    std::fs::write(
        &conf,
        "queue_directory = q;\nqmgr { control_socket = ctl.sock; }\n",
    )
    .unwrap();
    let o = Command::new(BIN)
        .arg("-f")
        .arg(&conf)
        .args(["queue", "list", "--json"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o).lines().count(), 5);

    // No socket: smxd is not running.
    let o = smxctl(&s.dir.path().join("nosuch.sock"), &["status"], None);
    assert_eq!(o.status.code(), Some(69));
    assert!(stderr(&o).contains("is smxd running?"), "{}", stderr(&o));
    // A stale socket: connection refused.
    let stale = s.dir.path().join("stale.sock");
    drop(std::os::unix::net::UnixListener::bind(&stale).unwrap());
    let o = smxctl(&stale, &["queue", "list"], None);
    assert_eq!(o.status.code(), Some(69));
    assert!(stderr(&o).contains("smxd is not running"), "{}", stderr(&o));
    // A configuration that cannot be read.
    let o = Command::new(BIN)
        .arg("-f")
        .arg(s.dir.path().join("nosuch.conf"))
        .arg("status")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(66));
}

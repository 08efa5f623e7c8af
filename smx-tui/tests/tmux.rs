//! smx-tui in a real terminal (issue 7): the binary runs in a detached tmux
//! session against an in-process control server (the smx-control
//! dispatcher with the in-memory backend); keys go in with `send-keys`, the
//! screen comes back with `capture-pane`. Shown: the disconnected state
//! and the reconnect when the server appears, the queue, a message held
//! and released, a delete confirmed and taking effect, quitting.
//!
//! A second test runs smx-tui against a real smxd (the binary of this
//! build) with deferred mail: hold, release, delete.
//!
//! Needs tmux(1). Without it the test fails under CI and prints "SKIP"
//! otherwise.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use smx_control::fake::{entries, FakeBackend};
use smx_control::{ControlBackend, State};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_smx-tui");
const WAIT: Duration = Duration::from_secs(30);

/// A tmux server of our own (`-L`), killed on drop.
struct Tmux {
    name: String,
}

impl Tmux {
    fn cmd(&self, args: &[&str]) -> std::process::Output {
        Command::new("tmux")
            .args(["-L", &self.name, "-f", "/dev/null"])
            .args(args)
            .env("TERM", "xterm-256color")
            .output()
            .unwrap()
    }

    fn screen(&self) -> String {
        String::from_utf8_lossy(&self.cmd(&["capture-pane", "-p", "-t", "tui"]).stdout).into_owned()
    }

    fn keys(&self, keys: &str) {
        let o = self.cmd(&["send-keys", "-t", "tui", keys]);
        assert!(o.status.success(), "send-keys: {o:?}");
    }

    /// Polls until `cond` holds on the screen, failing with the last
    /// screen after [`WAIT`].
    fn wait(&self, what: &str, cond: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let s = self.screen();
            if cond(&s) {
                return s;
            }
            assert!(
                start.elapsed() < WAIT,
                "timed out waiting for {what}; screen:\n{s}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd(&["kill-server"]);
    }
}

fn wait_backend(what: &str, cond: impl Fn() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < WAIT, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn state_of(b: &FakeBackend, id: &str) -> Option<State> {
    b.snapshot()
        .into_iter()
        .find(|e| e.id == id)
        .map(|e| e.state)
}

/// The screen line of the message `id`.
fn row<'a>(screen: &'a str, id: &str) -> &'a str {
    screen.lines().find(|l| l.contains(id)).unwrap_or("")
}

#[test]
fn hold_release_delete_in_tmux() {
    if Command::new("tmux").arg("-V").output().is_err() {
        assert!(std::env::var_os("CI").is_none(), "tmux is not installed");
        eprintln!("SKIP: tmux is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("ctl.sock");
    let tmux = Tmux {
        name: format!("smx-tui-test-{}", std::process::id()),
    };
    let command = format!("{} --socket {} --interval 200", BIN, shell_quote(&socket));
    let o = tmux.cmd(&[
        "new-session",
        "-d",
        "-s",
        "tui",
        "-x",
        "150",
        "-y",
        "40",
        &command,
    ]);
    assert!(o.status.success(), "tmux new-session: {o:?}");

    // No server yet: the header says so and smx-tui keeps retrying.
    tmux.wait("the disconnected state", |s| {
        s.contains("[disconnected, retrying]")
    });

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let backend = Arc::new(FakeBackend::new(entries(30)));
    let listener = rt
        .block_on(async { tokio::net::UnixListener::bind(&socket) })
        .unwrap();
    let b: Arc<dyn ControlBackend> = backend.clone();
    rt.spawn(smx_control::serve_listener(listener, b));

    let s = tmux.wait("the queue", |s| {
        s.contains("[connected]") && s.contains("Q00000001")
    });
    assert!(s.contains("queue 30"), "{s}");
    assert!(row(&s, "Q00000001").contains("deferred"));

    // Hold the selected (first) message, then release it.
    tmux.keys("h");
    wait_backend("Q00000001 held", || {
        state_of(&backend, "Q00000001") == Some(State::Held)
    });
    tmux.wait("the held row", |s| row(s, "Q00000001").contains("held"));
    tmux.keys("r");
    wait_backend("Q00000001 released", || {
        state_of(&backend, "Q00000001") == Some(State::Deferred)
    });
    tmux.wait("the released row", |s| {
        row(s, "Q00000001").contains("deferred")
    });

    // Delete asks first; n cancels, y deletes.
    tmux.keys("d");
    tmux.wait("the confirmation", |s| {
        s.contains("delete 1 message? (y/n)")
    });
    tmux.keys("n");
    tmux.wait("the cancel", |s| s.contains("delete cancelled"));
    assert!(state_of(&backend, "Q00000001").is_some());
    tmux.keys("d");
    tmux.wait("the confirmation", |s| {
        s.contains("delete 1 message? (y/n)")
    });
    tmux.keys("y");
    wait_backend("Q00000001 deleted", || {
        state_of(&backend, "Q00000001").is_none()
    });
    let s = tmux.wait("the row gone", |s| {
        !s.contains("Q00000001") && s.contains("queue 29")
    });
    assert!(s.contains("delete: 1 of 1 message done"), "{s}");

    // q quits: the session ends with the program.
    tmux.keys("q");
    let start = Instant::now();
    while tmux.cmd(&["has-session", "-t", "tui"]).status.success() {
        assert!(start.elapsed() < WAIT, "smx-tui did not quit");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn shell_quote(p: &Path) -> String {
    format!("'{}'", p.display().to_string().replace('\'', "'\\''"))
}

/// The smxd binary of this build (`cargo test --workspace` builds it).
fn smxd() -> Option<std::path::PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let bin = exe.parent()?.parent()?.join("smxd");
    if bin.is_file() {
        return Some(bin);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{} is missing: run the tests with --workspace",
        bin.display()
    );
    eprintln!("SKIP: smxd is not built (cargo build -p smxd)");
    None
}

/// smxd started as the MCP, stopped (SIGTERM, then SIGKILL) on drop.
struct Smxd(std::process::Child);

impl Drop for Smxd {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let start = Instant::now();
        while start.elapsed() < WAIT {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Against a real smxd: its queue appears (mail to a local domain whose
/// LMTP server is not running stays deferred), a message is held and
/// released, a delete is confirmed and takes effect.
#[test]
fn against_a_running_smxd() {
    if Command::new("tmux").arg("-V").output().is_err() {
        assert!(std::env::var_os("CI").is_none(), "tmux is not installed");
        eprintln!("SKIP: tmux is not installed");
        return;
    }
    let Some(smxd) = smxd() else { return };
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    std::fs::write(dir.path().join("mt"), "localhost lmtp:\n").unwrap();
    let conf = dir.path().join("smx.conf");
    std::fs::write(
        &conf,
        format!(
            "queue_directory = q; hostname = localhost;
             qmgr {{ retry_min_delay = 1h; retry_max_delay = 2h; }}
             smtps {{ listen_socket {{ type = inet; address = 127.0.0.1; port = {port}; }} }}"
        ),
    )
    .unwrap();
    let _smxd = Smxd(
        Command::new(&smxd)
            .arg("-f")
            .arg(&conf)
            .stdin(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(start.elapsed() < WAIT, "smxd does not listen");
        std::thread::sleep(Duration::from_millis(50));
    }
    for to in ["alice@localhost", "bob@localhost"] {
        let o = Command::new("swaks")
            .args(["--server", &format!("127.0.0.1:{port}"), "--to", to])
            .output()
            .expect("swaks is installed");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
    }
    let tmux = Tmux {
        name: format!("smx-tui-smxd-{}", std::process::id()),
    };
    let command = format!("{} -f {} --interval 200", BIN, shell_quote(&conf));
    let o = tmux.cmd(&[
        "new-session",
        "-d",
        "-s",
        "tui",
        "-x",
        "160",
        "-y",
        "40",
        &command,
    ]);
    assert!(o.status.success(), "tmux new-session: {o:?}");
    let s = tmux.wait("both messages deferred", |s| {
        s.contains("[connected]")
            && s.contains("alice@localhost")
            && s.contains("bob@localhost")
            && s.matches("deferred").count() >= 2
    });
    assert!(s.contains("queue 2"), "{s}");
    // The first row: hold it, release it.
    let rows = |s: &str| -> Vec<String> {
        s.lines()
            .filter(|l| l.contains("@localhost"))
            .map(str::to_string)
            .collect()
    };
    tmux.keys("h");
    let s = tmux.wait("a held row", |s| s.contains("held 1"));
    assert_eq!(
        rows(&s).iter().filter(|r| r.contains(" held ")).count(),
        1,
        "{s}"
    );
    tmux.keys("r");
    tmux.wait("no held row", |s| {
        s.contains("held 0") && rows(s).iter().all(|r| r.contains("deferred"))
    });
    // Delete it, confirmed.
    tmux.keys("d");
    tmux.wait("the confirmation", |s| {
        s.contains("delete 1 message? (y/n)")
    });
    tmux.keys("y");
    tmux.wait("one message left", |s| s.contains("queue 1"));
    tmux.keys("q");
}

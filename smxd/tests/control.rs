//! The QMGR's control socket against a running smxd with queued mail
//! (issue 7; `smx-control(5)`): the next hop is down, so mail stays
//! deferred. Every request over raw JSON Lines: list with filters and
//! dry-run counts, show, hold (surviving a restart), release, flush,
//! delete, bounce (the DSN reaches the local sender), shape, stats,
//! status, subscribe, and malformed requests that leave the connection
//! usable.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Smx, TestDir};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// One control connection.
struct Ctl {
    r: BufReader<UnixStream>,
    w: UnixStream,
    next: u64,
}

impl Ctl {
    fn open(smx: &Smx) -> Ctl {
        let path = smx.queue_dir().join("qmgrctrl.sock");
        let deadline = Instant::now() + Duration::from_secs(20);
        let s = loop {
            match UnixStream::connect(&path) {
                Ok(s) => break s,
                Err(e) => {
                    assert!(Instant::now() < deadline, "{}: {e}", path.display());
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
        };
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        Ctl {
            w: s.try_clone().unwrap(),
            r: BufReader::new(s),
            next: 1,
        }
    }

    fn line(&mut self) -> Value {
        let mut l = String::new();
        self.r.read_line(&mut l).unwrap();
        serde_json::from_str(&l).unwrap_or_else(|e| panic!("{e}: {l}"))
    }

    /// Sends `req` (an id is added) and returns the response's result.
    fn call(&mut self, mut req: Value) -> Value {
        let id = self.next;
        self.next += 1;
        req["id"] = json!(id);
        self.w.write_all(format!("{req}\n").as_bytes()).unwrap();
        let resp = self.line();
        assert_eq!(resp["id"], json!(id), "{resp}");
        assert_eq!(resp["ok"], json!(true), "{req} -> {resp}");
        resp["result"].clone()
    }

    fn list(&mut self, filter: Value) -> Vec<Value> {
        let r = self.call(json!({"op": "queue.list", "filter": filter}));
        r["entries"].as_array().unwrap().clone()
    }
}

fn swaks(port: u16, from: &str, to: &str, body: &str) {
    let out = Command::new("swaks")
        .args(["--server", &format!("127.0.0.1:{port}")])
        .args(["--from", from, "--to", to, "--body", body])
        .stdin(Stdio::null())
        .output()
        .expect("swaks is installed");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

fn wait_until<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "{what}: not within 30s");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn maildir_texts(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir.join("new"))
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| std::fs::read_to_string(e.path()).ok())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn the_control_socket_lists_and_acts_on_deferred_mail() {
    let dir = TestDir::new("control");
    std::fs::write(dir.0.join("users"), "alice local:\n").unwrap();
    common::access_map(&dir.0, &[]);
    let conf = "qmgr { retry_min_delay = 1h; retry_max_delay = 2h; }
        smar { map users { type = texthash; file = \"users\"; }
               local_user_map { name = users; }
               access_map { file = \"access.db\"; } }
        lmtpl { }";
    // Port 9 refuses connections: every delivery is deferred.
    let mt = "example.org 9^esmtp:[127.0.0.1]\nlocalhost lmtp:\nmx.example.test lmtp:\ndown.test 9^esmtp:[127.0.0.1]\n\
              other.test 9^esmtp:[127.0.0.1]\n";
    let mut smx = Smx::start_with(&dir.0, mt, conf, "flags = { access };");
    for to in ["a@down.test", "b@down.test", "c@other.test"] {
        swaks(
            smx.port,
            "alice@localhost",
            to,
            "queued for the control test",
        );
    }
    let mut ctl = Ctl::open(&smx);
    let entries = wait_until("three deferred messages", || {
        Some(ctl.list(json!({"state": "deferred"}))).filter(|e| e.len() == 3)
    });
    let ids: Vec<String> = entries
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_string())
        .collect();
    let e0 = &entries[0];
    assert_eq!(e0["sender"], "alice@localhost");
    assert_eq!(e0["tries"], 1);
    assert_eq!(e0["recipients"][0]["status"], "deferred");
    assert!(e0["reason"].as_str().unwrap().starts_with('4'), "{e0}");

    // Filters and a dry run.
    assert_eq!(ctl.list(json!({"domain": "down.test"})).len(), 2);
    assert_eq!(ctl.list(json!({"recipient": "c@*"})).len(), 1);
    assert_eq!(ctl.list(json!({"sender": "nobody@*"})).len(), 0);
    let dry = ctl.call(json!({"op": "queue.delete",
        "selector": {"filter": {"domain": "down.test"}}, "dry_run": true}));
    assert_eq!(
        (dry["matched"].clone(), dry["affected"].clone()),
        (json!(2), json!(0))
    );
    assert_eq!(ctl.list(json!({})).len(), 3, "a dry run changes nothing");

    // show: envelope and headers.
    let shown = ctl.call(json!({"op": "queue.show", "queue_id": ids[0]}));
    assert!(
        shown["headers"]
            .as_str()
            .unwrap()
            .contains("Received: from"),
        "{shown}"
    );
    assert!(!shown["headers"]
        .as_str()
        .unwrap()
        .contains("queued for the control test"));

    // A malformed line gets an error object; the connection stays usable.
    ctl.w.write_all(b"{this is not json\n").unwrap();
    let bad = ctl.line();
    assert_eq!(bad["ok"], json!(false), "{bad}");
    assert!(bad["error"]["code"].is_string(), "{bad}");
    ctl.w
        .write_all(b"{\"id\": 99, \"op\": \"no.such.op\"}\n")
        .unwrap();
    let bad = ctl.line();
    assert_eq!(bad["ok"], json!(false), "{bad}");
    let st = ctl.call(json!({"op": "stats"}));
    assert!(st["counters"]["received"].as_u64().unwrap() >= 3, "{st}");
    assert_eq!(st["queue"]["deferred"], 3, "{st}");

    // hold survives a restart.
    let held = ctl.call(json!({"op": "queue.hold", "selector": {"ids": [ids[0]]}}));
    assert_eq!(held["affected"], 1);
    assert_eq!(ctl.list(json!({"state": "held"})).len(), 1);
    drop(ctl);
    assert!(smx.stop());
    smx.spawn();
    let mut ctl = Ctl::open(&smx);
    let held = wait_until("the held message after the restart", || {
        Some(ctl.list(json!({"state": "held"}))).filter(|e| e.len() == 1)
    });
    assert_eq!(held[0]["id"].as_str().unwrap(), ids[0]);

    // Events for subscribers.
    let mut sub = Ctl::open(&smx);
    sub.call(json!({"op": "subscribe"}));

    // release + flush: tried again at once (and deferred again).
    let r = ctl.call(json!({"op": "queue.release", "selector": {"ids": [ids[0]]}}));
    assert_eq!(r["affected"], 1);
    let ev = sub.line();
    assert_eq!(ev["event"], "released", "{ev}");
    assert_eq!(ev["id"].as_str().unwrap(), ids[0]);
    wait_until("the released message tried again", || {
        ctl.list(json!({})).into_iter().find(|e| {
            e["id"] == json!(ids[0]) && e["tries"] == json!(2) && e["state"] == "deferred"
        })
    });
    let f = ctl.call(json!({"op": "queue.flush", "selector": {"ids": [ids[1]]}}));
    assert_eq!(f["affected"], 1);
    wait_until("the flushed message tried again", || {
        ctl.list(json!({})).into_iter().find(|e| {
            e["id"] == json!(ids[1]) && e["tries"] == json!(2) && e["state"] == "deferred"
        })
    });

    // shape: one row per domain.
    let shape = ctl.call(json!({"op": "queue.shape"}));
    let rows = shape["rows"].as_array().unwrap();
    assert!(
        rows.iter()
            .any(|r| r["domain"] == "down.test" && r["total"] == 2),
        "{shape}"
    );

    // delete: gone, no notice. bounce: gone, the sender gets a DSN.
    let d = ctl.call(json!({"op": "queue.delete", "selector": {"ids": [ids[1]]}}));
    assert_eq!(d["affected"], 1);
    let b = ctl.call(json!({"op": "queue.bounce", "selector": {"ids": [ids[2]]}}));
    assert_eq!(b["affected"], 1);
    // (The bounce itself passes through the queue on its way to alice.)
    let left = wait_until("only the released message left", || {
        Some(ctl.list(json!({}))).filter(|l| l.len() == 1)
    });
    assert_eq!(left[0]["id"].as_str().unwrap(), ids[0]);
    let alice = smx.queue_dir().join("mail/alice/Maildir");
    let dsn = wait_until("the bounce in alice's Maildir", || {
        maildir_texts(&alice)
            .into_iter()
            .find(|m| m.contains("c@other.test"))
    });
    assert!(
        dsn.contains("returned to sender by the postmaster"),
        "{dsn}"
    );
    let log = smx.log();
    assert!(
        log.contains(&format!("{}: deleted by the postmaster", ids[1])),
        "{log}"
    );
    let status = ctl.call(json!({"op": "status"}));
    assert!(status["components"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["name"] == "qmgr"));
}

/// The smxctl binary of this build (built by `cargo test --workspace`).
fn smxctl() -> Option<std::path::PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let bin = exe.parent()?.parent()?.join("smxctl");
    if bin.is_file() {
        return Some(bin);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{} is missing: run the tests with --workspace",
        bin.display()
    );
    eprintln!("SKIP: smxctl is not built (cargo build -p smxctl)");
    None
}

#[test]
fn smxctl_lists_as_json_and_bulk_deletes_by_domain_with_yes() {
    let Some(smxctl) = smxctl() else {
        return;
    };
    let dir = TestDir::new("smxctl");
    common::access_map(&dir.0, &[]);
    let conf = "qmgr { retry_min_delay = 1h; retry_max_delay = 2h; }
        smar { access_map { file = \"access.db\"; } }";
    let mt = "example.org 9^esmtp:[127.0.0.1]\nlocalhost lmtp:\ndown.test 9^esmtp:[127.0.0.1]\nkeep.test 9^esmtp:[127.0.0.1]\n";
    let smx = Smx::start_with(&dir.0, mt, conf, "flags = { access };");
    for to in ["a@down.test", "b@down.test", "c@keep.test"] {
        swaks(smx.port, "someone@example.org", to, "for smxctl");
    }
    let conf_file = dir.0.join("smx.conf");
    let run = |args: &[&str]| {
        let out = Command::new(&smxctl)
            .arg("-f")
            .arg(&conf_file)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let listed = wait_until("three deferred messages in smxctl's JSON", || {
        let (code, out, _) = run(&["queue", "list", "--json", "--state", "deferred"]);
        let v: Vec<Value> = out
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        (code == Some(0) && v.len() == 3).then_some(v)
    });
    assert!(listed.iter().all(|e| e["sender"] == "someone@example.org"));
    // A bulk action by filter without --yes only says how many.
    let (code, out, err) = run(&["queue", "delete", "--domain", "down.test"]);
    assert_ne!(code, Some(0), "{out}{err}");
    assert!(format!("{out}{err}").contains('2'), "{out}{err}");
    let (_, out, _) = run(&["queue", "list", "--json"]);
    assert_eq!(
        out.lines().count(),
        3,
        "nothing deleted without --yes: {out}"
    );
    let (code, out, err) = run(&["queue", "delete", "--domain", "down.test", "--yes"]);
    assert_eq!(code, Some(0), "{out}{err}");
    let (_, out, _) = run(&["queue", "list", "--json"]);
    let left: Vec<Value> = out
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    assert_eq!(left.len(), 1, "{out}");
    assert_eq!(left[0]["recipients"][0]["address"], "c@keep.test");
    let (code, out, _) = run(&["queue", "list", "--mailq"]);
    assert_eq!(code, Some(0));
    assert!(out.contains("c@keep.test"), "{out}");
}

/// Starts smxd routing `down.test` to 127.0.0.1:`port`, where nothing
/// listens, with `qmgr_extra` in `qmgr { }`, and sends two messages
/// there, one after the other; returns once both are deferred.
fn two_messages_to_a_dead_host(dir: &TestDir, port: u16, qmgr_extra: &str) -> Smx {
    std::fs::write(dir.0.join("users"), "alice local:\n").unwrap();
    common::access_map(&dir.0, &[]);
    let conf = format!(
        "qmgr {{ retry_min_delay = 1h; retry_max_delay = 2h; {qmgr_extra} }}
        smar {{ map users {{ type = texthash; file = \"users\"; }}
               local_user_map {{ name = users; }}
               access_map {{ file = \"access.db\"; }} }}
        lmtpl {{ }}"
    );
    let mt =
        format!("localhost lmtp:\nmx.example.test lmtp:\ndown.test {port}^esmtp:[127.0.0.1]\n");
    let smx = Smx::start_with(&dir.0, &mt, &conf, "flags = { access };");
    for n in 1..=2 {
        swaks(smx.port, "alice@localhost", "a@down.test", "to a dead host");
        smx.wait_for("status=deferred", n, Duration::from_secs(30));
    }
    smx
}

/// The QMGR's outgoing connection cache (README §3.8 `OCC_max_entries`,
/// §3.8.1 `octo`): after no address of a next hop could be reached, mail
/// for it is deferred without a connection attempt (as Postfix's qmgr
/// does with a dead destination) for `octo` seconds, by default
/// `retry_min_delay`; a flush tries at once; `octo:` 0 turns it off.
#[test]
fn an_unreachable_next_hop_is_suspended_until_octo_or_a_flush() {
    let dir = TestDir::new("control-octo");
    let port = common::free_port();
    let smx = two_messages_to_a_dead_host(&dir, port, "");
    let connects = || smx.count(&format!("connect to 127.0.0.1:{port}:"));
    let log = smx.log();
    assert_eq!(
        connects(),
        1,
        "one connection attempt for two messages\n{log}"
    );
    assert!(
        log.contains(&format!(
            "smtp:127.0.0.1:{port}: no address reachable, deliveries suspended for 3600 s"
        )),
        "{log}"
    );
    let second = log
        .lines()
        .filter(|l| l.contains("status=deferred"))
        .nth(1)
        .unwrap();
    assert!(
        second.contains("relay=none")
            && second.contains("(451 4.4.1 delivery temporarily suspended: no reachable host"),
        "{second}"
    );
    // A flush is a request to try now: the suspension is forgotten.
    let mut ctl = Ctl::open(&smx);
    wait_until("both messages in DEFEDB", || {
        Some(ctl.list(json!({"state": "deferred"}))).filter(|e| e.len() == 2)
    });
    let f = ctl.call(json!({"op": "queue.flush", "selector": {"filter": {}}}));
    assert_eq!(f["affected"], 2, "{f}");
    wait_until("the flushed messages tried with a connection", || {
        (connects() >= 2).then_some(())
    });
    smx.wait_for("status=deferred", 4, Duration::from_secs(30));
    drop(ctl);
    drop(smx);

    // octo:127.0.0.1 0 in the qmgr_conf map: every message is tried.
    let dir = TestDir::new("control-octo0");
    common::qmgr_conf(&dir, &[("octo:127.0.0.1", "0")]);
    let smx = two_messages_to_a_dead_host(&dir, port, "conf = qmgr_conf.db;");
    let log = smx.log();
    assert_eq!(
        smx.count(&format!("connect to 127.0.0.1:{port}:")),
        2,
        "{log}"
    );
    assert!(!log.contains("suspended"), "{log}");
}

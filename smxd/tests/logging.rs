//! Logging through syslog (README §3.5): `smxd -S` sends each component's
//! lines as RFC 3164 datagrams with the facility, ident and options of its
//! section's `log { }`, filtered by its `log_level`. The test stands in for
//! the syslog daemon with a Unix datagram socket named by `SMX_LOG`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::net::UnixDatagram;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn smxd_dash_s_logs_through_syslog_with_each_sections_settings() {
    let dir = conf_dir(
        "smx-logging",
        "qmgr { log { facility = local3; ident = \"myqmgr\"; options = { pid }; } }
         smtpc { log_level = 0; }",
    );
    let sock = dir.join("log");
    let syslog = UnixDatagram::bind(&sock).unwrap();
    syslog
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut child = smxd_to_syslog(&dir, &sock);
    let mut lines = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline {
        if let Ok(n) = syslog.recv(&mut buf) {
            lines.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
        if lines
            .iter()
            .any(|l| l.contains("listening for SMTP servers"))
            && lines
                .iter()
                .any(|l| l.contains("mcp") && l.contains("started smtpc"))
        {
            break;
        }
    }
    // Go on reading while smxd stops, as a syslog daemon would.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let drain = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let _ = syslog.recv(&mut buf);
            }
        })
    };
    term(&child);
    let _ = child.wait();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let _ = drain.join();
    let all = lines.join("\n");
    // local3 = 19, notice = 5: <157>; ident and [pid] from log { }.
    let qmgr = lines
        .iter()
        .find(|l| l.contains("listening for SMTP servers"))
        .unwrap_or_else(|| panic!("no QMGR line in:\n{all}"));
    assert!(qmgr.starts_with("<157>"), "{qmgr}");
    assert!(qmgr.contains(" myqmgr["), "{qmgr}");
    // The MCP logs as smx-mcp with the default facility mail (2): <21>.
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("<21>") && l.contains("smx-mcp[")),
        "{all}"
    );
    // smtpc has log_level 0: none of its lines.
    assert!(!lines.iter().any(|l| l.contains("smx-smtpc")), "{all}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A fresh directory `TAG-PID` with an empty mailertable and an smx.conf
/// of `sections` plus an SMTP server that waits on a Unix socket.
fn conf_dir(tag: &str, sections: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("mt"), "").unwrap();
    std::fs::write(
        dir.join("smx.conf"),
        format!(
            "queue_directory = \"q\";
             {sections}
             smtps {{ listen_socket {{ type = unix; path = \"smtps.sock\"; }} start_action = nostartaccept; }}"
        ),
    )
    .unwrap();
    dir
}

/// `smxd -S` on `dir`'s smx.conf, logging to the syslog socket `sock`.
fn smxd_to_syslog(dir: &std::path::Path, sock: &std::path::Path) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_smxd"))
        .args(["-S", "-f"])
        .arg(dir.join("smx.conf"))
        .env("SMX_LOG", format!("syslog:{}", sock.display()))
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn term(child: &std::process::Child) {
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap()),
        nix::sys::signal::Signal::SIGTERM,
    );
}

/// A syslog daemon that stops reading (its socket queue full) must not
/// stall smxd: a line waits at most a moment, then goes to stderr, and
/// SIGTERM still stops everything. (It once hung the MCP in `send`.)
#[test]
fn a_stuck_syslog_daemon_does_not_stall_smxd() {
    use std::io::Read as _;
    let dir = conf_dir("smx-logging-stuck", "");
    let sock = dir.join("log");
    // Bound, never read, and its queue filled up before smxd starts.
    let _syslog = UnixDatagram::bind(&sock).unwrap();
    let filler = UnixDatagram::unbound().unwrap();
    filler.connect(&sock).unwrap();
    filler.set_nonblocking(true).unwrap();
    while filler.send(b"<13>filler").is_ok() {}
    let mut child = smxd_to_syslog(&dir, &sock);
    let mut stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut all = String::new();
        let _ = stderr.read_to_string(&mut all);
        all
    });
    // The MCP starts qmgr, smar and smtpc (smtps waits for a connection:
    // nostartaccept).
    let children = |pid: u32| {
        std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
            .map(|s| s.split_whitespace().count())
            .unwrap_or(0)
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while children(child.id()) < 3 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let started = children(child.id());
    term(&child);
    let deadline = Instant::now() + Duration::from_secs(60);
    let stopped = loop {
        if child.try_wait().unwrap().is_some() {
            break true;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break false;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let stderr = reader.join().unwrap();
    assert_eq!(
        started, 3,
        "components started with syslog stuck; stderr:\n{stderr}"
    );
    assert!(
        stopped,
        "smxd did not stop on SIGTERM with syslog stuck; stderr:\n{stderr}"
    );
    // The lines syslog did not take are on stderr.
    assert!(stderr.contains("started smtpc"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

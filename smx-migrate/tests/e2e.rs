//! End to end (issue 8): the university gateway (Postfix fixture) is
//! migrated, and smxd started on the result relays mail for the campus
//! domains and refuses the rest, tested with swaks from an address outside
//! `mynetworks`.
//!
//! The generated configuration is used as written except for what a test
//! cannot have: the queue goes to a temp dir, the SMTP server listens on a
//! free loopback port instead of 25 (the submission service is dropped),
//! the TLS certificate paths and DNS blacklists of the site are left out
//! (no certificates and no Internet here), and the loopback net is taken
//! out of the converted `mynetworks` so the test client is an outsider.
//!
//! The smxd binary is the one of this build (`cargo test --workspace`
//! builds it); under CI its absence is a failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn smxd() -> Option<PathBuf> {
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
    eprintln!("SKIP: smxd is not built");
    None
}

/// The generated smx.conf, made runnable here (see the header).
fn for_test(conf: &str, port: u16) -> String {
    let mut out = String::from("queue_directory = \"q\";\n");
    let mut skip = 0usize;
    let mut in_msa = false;
    for line in conf.lines() {
        let t = line.trim();
        if t.starts_with("smtps MSA") {
            in_msa = true;
        }
        if in_msa {
            if t == "}" && !line.starts_with(' ') {
                in_msa = false;
            }
            continue;
        }
        if skip > 0 {
            skip += t.matches('{').count();
            skip -= t.matches('}').count();
            continue;
        }
        if t.starts_with("tls {") || t.starts_with("auth {") {
            skip = t.matches('{').count() - t.matches('}').count();
            continue;
        }
        if t.starts_with("dnsbl ") {
            continue;
        }
        if t.starts_with("listen_socket") {
            out.push_str(&format!(
                "    listen_socket {{ type = inet; address = 127.0.0.1; port = {port}; }}\n"
            ));
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

fn swaks(port: u16, to: &str) -> (bool, String) {
    let out = Command::new("swaks")
        .args(["--server", "127.0.0.1", "--port", &port.to_string()])
        .args(["--from", "root@localhost", "--to", to, "--timeout", "20"])
        .stdin(Stdio::null())
        .output()
        .expect("swaks is installed");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

struct Smxd(std::process::Child);

impl Drop for Smxd {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(20) {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn smxd_on_a_migrated_gateway_relays_for_its_domains_only() {
    let Some(smxd) = smxd() else { return };
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/postfix-gateway");
    let out = std::env::temp_dir().join(format!("smx-migrate-e2e-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let st = Command::new(env!("CARGO_BIN_EXE_smx-migrate"))
        .arg("postfix")
        .arg("--config-dir")
        .arg(&fixture)
        .arg("--out")
        .arg(&out)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success());
    // The campus relays would be unreachable here; the mail only needs to
    // be accepted or refused.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let conf = std::fs::read_to_string(out.join("smx.conf")).unwrap();
    std::fs::write(out.join("smx.conf"), for_test(&conf, port)).unwrap();
    // 127.0.0.1 is in mynetworks (cltaddr:127 relay): a client outside it
    // is simulated by taking that entry out of the access map source and
    // compiling it again.
    let access = std::fs::read_to_string(out.join("access")).unwrap();
    let access: String = access
        .lines()
        .filter(|l| !l.starts_with("cltaddr:127"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(out.join("access.txt"), access).unwrap();
    let cm = std::env::current_exe()
        .unwrap()
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("createmap");
    if cm.is_file() {
        let st = Command::new(&cm)
            .args(["-k", "access"])
            .arg(out.join("access"))
            .arg(out.join("access.txt"))
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(st.success());
    } else {
        assert!(std::env::var_os("CI").is_none(), "createmap is not built");
        eprintln!("SKIP: createmap is not built");
        return;
    }
    let _smxd = Smxd(
        Command::new(&smxd)
            .arg("-f")
            .arg(out.join("smx.conf"))
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let t = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "smxd does not listen"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    for to in [
        "someone@cs.uni.example",
        "someone@physics.uni.example",
        "someone@uni.example",
    ] {
        let (ok, text) = swaks(port, to);
        assert!(ok, "{to} must be relayed:\n{text}");
    }
    for to in [
        "someone@example.com",
        "someone%uni.example@example.com",
        "someone@uni.example.evil.test",
    ] {
        let (ok, text) = swaks(port, to);
        assert!(
            !ok && text.contains("550 5.7.1"),
            "{to} must be refused:\n{text}"
        );
    }
    let _ = std::fs::remove_dir_all(&out);
}

//! Dovecot's LMTP server as a real local delivery agent for tests
//! (TESTING.md: dovecot-lmtpd): a private configuration in a temp
//! directory, an LMTP Unix socket there, Maildirs under `mail/USER/`.
//! Runs as `nobody` when the test is root (Dovecot refuses to keep root),
//! else as the current user.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const DOVECOT: &str = "/usr/sbin/dovecot";

/// A running Dovecot, stopped on drop.
pub struct Dovecot {
    child: std::process::Child,
    dir: PathBuf,
}

/// Whether `what` is missing: fails under CI, says SKIP otherwise.
pub fn missing(what: &str) -> bool {
    if Path::new(what).exists() {
        return false;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{what} is not installed (CI must install it)"
    );
    eprintln!("SKIP: {what} is not installed");
    true
}

/// The user and group a peer daemon runs as: ourselves, or nobody when
/// we are root (the daemons refuse to keep root).
pub fn daemon_user() -> (String, String) {
    if nix::unistd::geteuid().is_root() {
        return ("nobody".into(), "nogroup".into());
    }
    let user = nix::unistd::User::from_uid(nix::unistd::geteuid())
        .unwrap()
        .unwrap()
        .name;
    let group = nix::unistd::Group::from_gid(nix::unistd::getegid())
        .unwrap()
        .unwrap()
        .name;
    (user, group)
}

/// Makes `p` writable for the daemon user.
pub fn open_up(p: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o777)).unwrap();
}

impl Dovecot {
    /// Starts Dovecot with its files under `dir` (made world-writable so
    /// the daemon user can write); `None` when Dovecot is not installed
    /// outside CI.
    pub fn start(dir: &Path) -> Option<Dovecot> {
        if missing(DOVECOT) || missing("/usr/lib/dovecot/lmtp") {
            return None;
        }
        let d0 = dir.display().to_string();
        std::fs::create_dir_all(dir.join("run")).unwrap();
        std::fs::create_dir_all(dir.join("mail")).unwrap();
        open_up(dir);
        open_up(&dir.join("mail"));
        let (user, group) = daemon_user();
        let config = format!(
            "base_dir = {d0}/run\n\
             state_dir = {d0}/run\n\
             log_path = {d0}/dovecot.log\n\
             protocols = lmtp\n\
             listen = 127.0.0.1\n\
             ssl = no\n\
             default_internal_user = {user}\n\
             default_internal_group = {group}\n\
             default_login_user = {user}\n\
             mail_location = maildir:{d0}/mail/%n/Maildir\n\
             mail_uid = {user}\n\
             mail_gid = {group}\n\
             first_valid_uid = 0\n\
             userdb {{\n  driver = static\n  args = uid={user} gid={group} home={d0}/mail/%n allow_all_users=yes\n}}\n\
             passdb {{\n  driver = static\n  args = nopassword=y\n}}\n\
             service lmtp {{\n  unix_listener {d0}/lmtp.sock {{\n    mode = 0666\n  }}\n}}\n"
        );
        std::fs::write(dir.join("dovecot.conf"), config).unwrap();
        let child = std::process::Command::new(DOVECOT)
            .arg("-F")
            .arg("-c")
            .arg(dir.join("dovecot.conf"))
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let d = Dovecot {
            child,
            dir: dir.to_path_buf(),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::os::unix::net::UnixStream::connect(d.socket()).is_err() {
            assert!(
                Instant::now() < deadline,
                "dovecot's LMTP socket did not appear"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(d)
    }

    /// The LMTP socket.
    pub fn socket(&self) -> PathBuf {
        self.dir.join("lmtp.sock")
    }

    /// The Maildir of `user`.
    pub fn maildir(&self, user: &str) -> PathBuf {
        self.dir.join(format!("mail/{user}/Maildir"))
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

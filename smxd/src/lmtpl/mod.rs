//! lmtpl, the local delivery agent (the `lmtpl { }` section of seed 000,
//! README §3.11, DESIGN.md "Local delivery"): an LMTP server (RFC 2033) on
//! the Unix socket `LMTP_socket` that writes each message into the Maildir
//! of each recipient and answers per recipient only once the copy is on
//! disk (fsynced). SMTPC talks to it for mailertable entries `lmtp:`.
//!
//! Privilege: lmtpl runs as the user the MCP gives it (`lmtpl { user =
//! ...; }`) and needs write access to the directory of the Maildirs
//! (`maildir`, default `mail/${user}/Maildir` below the queue directory)
//! and to the socket's directory; it reads the local user map. It writes
//! every Maildir as that one user. Delivering into the home directories of
//! system users (root with a setuid per recipient, as sendmail's mail.local
//! does) is out of scope: for that, put a real LDA such as Dovecot's LMTP
//! server behind `lmtp:`.
//!
//! It talks to nobody: clients (SMTPC, or any LMTP client) connect to it.
//! SIGHUP re-opens the local user map; SIGTERM and SIGINT end it (exit 0).
//! Sessions cut off by the exit got no reply for their transaction, so
//! their client retries: delivery is at least once, never lost.
//!
//! Layout, one concern per file:
//! - `session.rs`: the LMTP state machine and its limits;
//! - `rcpt.rs`: the RCPT path; `users.rs`: who is a local user and which
//!   local parts may name a mailbox;
//! - `message.rs`: delivery headers, CRLF to LF, loop detection;
//! - `maildir.rs`: the Maildir protocol (tmp, fsync, link to new, fsync);
//! - `reply.rs`: the replies that the SMTP server's table lacks.

pub mod maildir;
pub mod message;
pub mod rcpt;
pub mod reply;
pub mod session;
pub mod users;

use crate::component::Sig;
use crate::component::{self, Loaded};
use maildir::Maildirs;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::UnixListener;
use users::LocalUsers;

const WHO: &str = "lmtpl";

/// Sessions served at once; further clients wait in the listen queue.
pub const MAX_SESSIONS: usize = 100;

/// What every session shares.
#[derive(Debug)]
pub struct Agent {
    /// Name in the greeting and the LHLO reply.
    pub hostname: String,
    /// Timeout of every read and write.
    pub io_timeout: Duration,
    /// The valid local users.
    pub users: LocalUsers,
    /// Where the Maildirs are.
    pub maildirs: Maildirs,
}

/// Runs one LMTP session on `stream`.
pub async fn serve<S: AsyncRead + AsyncWrite + Unpin>(stream: S, agent: Arc<Agent>) {
    session::Session::new(stream, agent).run().await;
}

/// Runs the component until SIGTERM; returns the exit code.
pub fn main(config: &Path) -> i32 {
    component::run_component(WHO, config, component::Workers::PerCpu, run)
}

async fn run(loaded: Loaded) -> i32 {
    let g = &loaded.conf.global;
    let Some(conf) = &g.lmtpl else {
        component::log(
            WHO,
            "no lmtpl { } section in the configuration: nothing to do",
        );
        return component::EX_CONFIG;
    };
    let users = match LocalUsers::from_config(&g.smar, &loaded.conf_dir) {
        Ok(u) => u,
        Err(e) => {
            component::log(WHO, format!("local user map: {e}"));
            return component::EX_CONFIG;
        }
    };
    let hostname = component::hostname(&loaded.conf);
    let agent = Arc::new(Agent {
        hostname,
        io_timeout: conf.io_timeout,
        users,
        maildirs: Maildirs::new(&conf.maildir, &loaded.queue_dir),
    });
    let listener = match bind(Path::new(&conf.lmtp_socket), smtpc_gid(&loaded.conf)) {
        Ok(l) => l,
        Err(e) => {
            component::log(WHO, format!("{}: {e}", conf.lmtp_socket));
            return component::EX_OSERR;
        }
    };
    let mut signals = match component::Signals::install(WHO) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_SESSIONS));
    let pid = std::process::id();
    component::log(
        WHO,
        format!(
            "ready (pid={pid}); LMTP on {}, Maildirs at {}",
            conf.lmtp_socket, conf.maildir
        ),
    );
    loop {
        tokio::select! {
            slot = slots.clone().acquire_owned() => {
                let Ok(slot) = slot else { break };
                tokio::select! {
                    r = listener.accept() => match r {
                        Ok((stream, _)) => {
                            let agent = agent.clone();
                            tokio::spawn(async move {
                                serve(stream, agent).await;
                                drop(slot);
                            });
                        }
                        Err(e) => component::log(WHO, format!("accept: {e}")),
                    },
                    sig = signals.next() => match sig {
                        Sig::Stop => break,
                        Sig::Reload => reopen(&loaded, &agent),
                    },
                }
            }
            sig = signals.next() => match sig {
                Sig::Stop => break,
                Sig::Reload => reopen(&loaded, &agent),
            },
        }
    }
    component::log(WHO, format!("stopping (pid={pid})"));
    0
}

/// SIGHUP: the local user map is opened again (a rebuilt map file, a
/// changed texthash); if that fails the old one stays.
fn reopen(loaded: &Loaded, agent: &Agent) {
    match agent
        .users
        .reopen(&loaded.conf.global.smar, &loaded.conf_dir)
    {
        Ok(()) => component::log(WHO, "SIGHUP: local user map re-opened"),
        Err(e) => component::log(
            WHO,
            format!("SIGHUP: local user map not re-opened: {e}; keeping the old one"),
        ),
    }
}

/// Binds `LMTP_socket` (relative to the queue directory, the working
/// directory), creating its directory and removing a stale socket left by
/// a crash; the socket gets mode 0660 and, when lmtpl runs as root and
/// `group` is given, that group, so that SMTPC may connect.
pub fn bind(path: &Path, group: Option<nix::unistd::Gid>) -> std::io::Result<UnixListener> {
    use std::os::unix::fs::PermissionsExt;
    let l = component::bind_unix(path, None)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))?;
    if let Some(g) = group.filter(|_| nix::unistd::Uid::effective().is_root()) {
        nix::unistd::chown(path, None, Some(g)).map_err(std::io::Error::from)?;
    }
    Ok(l)
}

/// The group the SMTP client runs as when started by root (its `group`,
/// else its `user`'s primary group), which must be able to connect to
/// `LMTP_socket`.
fn smtpc_gid(conf: &smx_grammar::Config) -> Option<nix::unistd::Gid> {
    let m = &conf.global.smtpc.mcp;
    crate::mcp::privilege::resolve("smtpc", m.user.as_deref(), m.group.as_deref(), true)
        .ok()
        .and_then(|(run_as, _)| run_as.gid)
}

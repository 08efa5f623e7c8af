//! The SMTP server process (`smxd smtps [-N NAME] -f smx.conf`): receives
//! its listening socket from the MCP over `pass_fd_socket` (README §3.7,
//! start_action `pass`), connects to the QMGR on `SMTPS_socket` and to the
//! address resolver on `SMAR_socket` (which decides on every recipient),
//! and serves each client with [`crate::smtps::serve`], at most
//! `max_threads` at once.
//!
//! Privilege: runs unprivileged (`smtps { user = smxs; }`); it never binds
//! port 25 itself, writes content files, and talks to the QMGR and SMAR
//! only. The only files it reads are its own: the STARTTLS certificates
//! and key (`smtps { tls { } }`, README §3.10 item 21) and, with
//! `smtps { auth { } }`, the password map `auth.db` (a hash map next to
//! smx.conf, built with `createmap -k passwords auth`; the seed leaves the
//! password store to Cyrus SASL, smx keeps it in a map of password
//! hashes). Either missing or unusable at start exits with 78
//! (EX_CONFIG) naming the file; on SIGHUP they are read again and kept as
//! they were if they fail.

use super::backend::QueueBackend;
use super::smar::SmarLink;
use crate::component::Sig;
use crate::component::{self, Loaded};
use crate::ipc::Client;
use crate::mcp::fdpass::{receive_listener, ReceivedListener};
use crate::proto::{QmgrAnswer, SmtpsRequest};
use crate::queue::cdb::Cdb;
use crate::queue::id::IdGenerator;
use crate::smtps::backend::Peer;
use crate::smtps::budget::{budget_for, ContentBudget};
use crate::smtps::tls::ServerTls;
use crate::smtps::Security;
use smx_grammar::config::SmtpsConf;
use smx_maps::db::DbType;
use smx_maps::dbmap::DbMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::UnixStream;
use tokio::sync::Semaphore;

/// How long to wait for SMAR at start.
const SMAR_WAIT: Duration = Duration::from_secs(10);

/// After a failed accept (out of file descriptors: EMFILE, ENFILE, or
/// out of memory) the pending connection stays in the listen queue and
/// the next accept fails at once; pausing keeps the loop from spinning
/// and flooding the log until descriptors are free again.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);
/// Failed accepts are logged at most this often (with a count).
const ACCEPT_LOG_EVERY: Duration = Duration::from_secs(1);

/// Runs the SMTP server `name` until SIGTERM; returns the exit code.
pub fn main(config: &Path, name: Option<&str>, process: Option<&str>) -> i32 {
    let who = match name {
        Some(n) => format!("smtps {n}"),
        None => "smtps".to_string(),
    };
    let process = process.and_then(|p| p.parse::<u8>().ok()).unwrap_or(0);
    component::run_component(&who.clone(), config, component::Workers::PerCpu, |loaded| {
        run(loaded, name, process, who)
    })
}

/// Whether the section named `section` is the one this server runs.
fn is_ours(name: Option<&str>, section: Option<&str>) -> bool {
    match (name, section) {
        (Some(n), Some(m)) => n.eq_ignore_ascii_case(m),
        (None, None) => true,
        _ => false,
    }
}

fn find<'a>(loaded: &'a Loaded, name: Option<&str>) -> Option<(usize, &'a SmtpsConf)> {
    loaded
        .conf
        .global
        .smtps
        .iter()
        .enumerate()
        .find(|(_, s)| is_ours(name, s.name.as_deref()))
        .map(|(i, s)| (i, &s.conf))
}

/// `CDB_gid` if this process may give its files to that group: `None`
/// (after logging why) if it may not, `Some(None)` when it is not set.
fn cdb_gid(gid: Option<u64>, who: &str) -> Option<Option<u32>> {
    let Some(gid) = gid else {
        return Some(None);
    };
    let (euid, egid) = (nix::unistd::geteuid(), nix::unistd::getegid());
    let groups: Vec<u32> = nix::unistd::getgroups()
        .unwrap_or_default()
        .into_iter()
        .map(|g| g.as_raw())
        .collect();
    match u32::try_from(gid) {
        Ok(gid) if crate::queue::cdb::may_give_to(gid, euid.as_raw(), egid.as_raw(), &groups) => {
            Some(Some(gid))
        }
        _ => {
            component::log(
                who,
                format!(
                    "CDB_gid {gid}: this SMTP server runs as uid {euid} gid {egid} and may not \
                     give its content files to that group; make it the server's `group` \
                     (smtps {{ group = ...; }}) or remove CDB_gid"
                ),
            );
            None
        }
    }
}

/// Reads this server's section again (SIGHUP).
fn reload(config: &Path, name: Option<&str>) -> Result<SmtpsConf, String> {
    let checked = smx_grammar::check_file(config).map_err(|e| e.to_string())?;
    if !checked.is_ok() {
        return Err(format!("{}: configuration errors", config.display()));
    }
    let conf = checked.config.ok_or("no configuration")?;
    conf.global
        .smtps
        .into_iter()
        .find(|s| is_ours(name, s.name.as_deref()))
        .map(|s| s.conf)
        .ok_or_else(|| "the smtps section is gone".to_string())
}

async fn connect_qmgr(path: &str, who: &str) -> Option<UnixStream> {
    // The QMGR may still be starting (it recovers the queue first).
    for attempt in 0..100 {
        match UnixStream::connect(path).await {
            Ok(s) => return Some(s),
            Err(e) if attempt == 99 => {
                component::log(who, format!("cannot reach the QMGR on {path}: {e}"));
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    None
}

/// The file name of the SMTP AUTH password map, next to smx.conf.
pub const PASSWORD_MAP: &str = "auth.db";

/// Loads the certificates and the password map the section asks for.
fn load_security(conf: &SmtpsConf, conf_dir: &Path) -> Result<Security, String> {
    let tls = match &conf.tls {
        Some(t) if t.cert_file.is_some() || t.key_file.is_some() => Some(Arc::new(
            ServerTls::load(t, conf_dir).map_err(|e| format!("STARTTLS: {e}"))?,
        )),
        _ => None,
    };
    let passwords: Option<Arc<dyn smx_maps::Map>> = match &conf.auth {
        Some(_) => {
            let path = conf_dir.join(PASSWORD_MAP);
            let map = DbMap::open(&path, DbType::Hash)
                .map_err(|e| format!("AUTH: password map {}: {e}", path.display()))?;
            Some(Arc::new(map))
        }
        None => None,
    };
    Ok(Security { tls, passwords })
}

fn hostname(loaded: &Loaded) -> String {
    component::hostname(&loaded.conf)
}

async fn run(loaded: Loaded, name: Option<&str>, process: u8, who: String) -> i32 {
    let Some((index, conf)) = find(&loaded, name) else {
        component::log(&who, "no such smtps section in the configuration");
        return component::EX_CONFIG;
    };
    let mut conf = Arc::new(conf.clone());
    let Some(cdb_gid) = cdb_gid(conf.cdb_gid, &who) else {
        return component::EX_CONFIG;
    };
    let mut security = match load_security(&conf, &loaded.conf_dir) {
        Ok(s) => Arc::new(s),
        Err(e) => {
            component::log(&who, e);
            return component::EX_CONFIG;
        }
    };
    let server_id = loaded.conf.smtps_ids().get(index).copied().unwrap_or(0);
    let fd_socket = conf
        .mcp
        .pass_fd_socket
        .clone()
        .unwrap_or_else(|| crate::mcp::plan::default_pass_fd_socket(name));
    let listener = match tokio::task::spawn_blocking({
        let p = fd_socket.clone();
        move || receive_listener(Path::new(&p))
    })
    .await
    {
        Ok(Ok(ReceivedListener::Tcp(l))) => l,
        Ok(Ok(ReceivedListener::Unix(_))) => {
            component::log(&who, "a unix listen_socket is not supported for SMTP yet");
            return component::EX_CONFIG;
        }
        Ok(Err(e)) => {
            component::log(&who, format!("no listening socket from the MCP: {e}"));
            return component::EX_TEMPFAIL;
        }
        Err(e) => {
            component::log(&who, format!("{e}"));
            return component::EX_OSERR;
        }
    };
    let listener = match listener
        .set_nonblocking(true)
        .and_then(|()| tokio::net::TcpListener::from_std(listener))
    {
        Ok(l) => l,
        Err(e) => {
            component::log(&who, format!("listening socket: {e}"));
            return component::EX_OSERR;
        }
    };
    let g = &loaded.conf.global;
    let Some(qmgr) = connect_qmgr(&g.smtps_socket, &who).await else {
        return component::EX_TEMPFAIL;
    };
    let qmgr: Client<SmtpsRequest, QmgrAnswer> = Client::new(qmgr);
    // Queue ids larger than any the QMGR knows, even if our clock went
    // back across a restart (README §3.8 item 11: never reused).
    let server = u8::try_from(server_id).unwrap_or(0);
    let ids = match qmgr.call(SmtpsRequest::MaxId).await {
        Ok(QmgrAnswer::MaxId(Some(floor))) => IdGenerator::resume_after(server, process, floor),
        _ => IdGenerator::new(server, process),
    };
    // SMAR is started before the SMTP servers; it may still be loading.
    let smar = SmarLink::connect(&g.smar_socket, &who, SMAR_WAIT).await;
    let cdb = Cdb::new(loaded.queue_dir.join(&g.cdb_base_directory))
        .with_sync(g.cdb_sync)
        .with_gid(cdb_gid);
    let backend = Arc::new(QueueBackend {
        smar,
        access: conf.flags.has("access"),
        lmtp_not_local: conf.flags.has("lmtp_does_not_imply_relaying"),
        qmgr,
        ids,
        cdb,
        who: who.clone(),
        room_yes: std::sync::Mutex::new(None),
        budget: ContentBudget::new(budget_for(conf.max_message_size)),
    });
    let host = Arc::new(hostname(&loaded));
    let slots = Arc::new(Semaphore::new(
        usize::try_from(conf.max_threads).unwrap_or(256).max(1),
    ));
    let mut signals = match component::Signals::install(&who) {
        Ok(s) => s,
        Err(code) => return code,
    };
    component::log(
        &who,
        format!("accepting connections (server id {server_id})"),
    );
    let mut accept_failures: u64 = 0;
    let mut accept_logged: Option<std::time::Instant> = None;
    loop {
        tokio::select! {
            r = listener.accept() => match r {
                Ok((stream, addr)) => {
                    let Ok(permit) = slots.clone().try_acquire_owned() else {
                        // Over max_threads: refuse politely rather than queue.
                        tokio::spawn(async move {
                            use tokio::io::AsyncWriteExt;
                            let mut s = stream;
                            let _ = s.write_all(b"421 4.3.2 Too many connections, try again later\r\n").await;
                        });
                        continue;
                    };
                    let (conf, backend, host) = (conf.clone(), backend.clone(), host.clone());
                    let security = security.clone();
                    tokio::spawn(async move {
                        let peer = Peer { addr: Some(addr), name: None };
                        crate::smtps::serve_secure(stream, peer, &conf, &host, backend.as_ref(), &security).await;
                        drop(permit);
                    });
                }
                Err(e) => {
                    accept_failures += 1;
                    let due = match accept_logged {
                        Some(t) => t.elapsed() >= ACCEPT_LOG_EVERY,
                        None => true,
                    };
                    if due {
                        component::log(
                            &who,
                            format!("accept: {e} ({accept_failures} failed accepts so far); pausing"),
                        );
                        accept_logged = Some(std::time::Instant::now());
                    }
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            },
            sig = signals.next() => {
                if sig == Sig::Stop {
                    break;
                }
                // New sessions use the reloaded section (limits, timeouts,
                // flags); the listening socket and ids stay as they are.
                match reload(&loaded.config_path, name) {
                    Ok(c) => {
                        match load_security(&c, &loaded.conf_dir) {
                            Ok(s) => security = Arc::new(s),
                            Err(e) => component::log(&who, format!("SIGHUP: {e}; keeping the old TLS/AUTH files")),
                        }
                        conf = Arc::new(c);
                        component::log(&who, "SIGHUP: configuration reloaded");
                    }
                    Err(e) => component::log(&who, format!("SIGHUP: {e}; keeping the old configuration")),
                }
            }
            _ = backend.qmgr.closed() => {
                // The QMGR went away (a crash; the MCP restarts it). Exit so
                // that the MCP restarts this server too, connected afresh;
                // sessions in progress answer 451 meanwhile.
                component::log(&who, "lost the connection to the QMGR; exiting to be restarted");
                return component::EX_TEMPFAIL;
            }
        }
    }
    component::log(&who, "stopping");
    0
}

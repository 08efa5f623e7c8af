//! The queue manager, receive side (README §1.1, §3.8, §7.1): owns the
//! envelope log (IBDB), the incoming queue (IQDB) and the content database
//! (CDB) through [`crate::queue::Queue`], and answers the SMTP servers on
//! `SMTPS_socket`.
//!
//! Privilege: runs as the QMGR user (`qmgr { user = smxq; }`); it needs
//! the queue directory and nothing else. It talks to the SMTP servers over
//! the Unix socket `SMTPS_socket` (relative to the queue directory, in a
//! directory of its own, mode 0770) and never to the network.
//!
//! On start it recovers: open transactions are rebuilt from IBDB, content
//! files without a committed transaction are removed, a torn IBDB tail is
//! cut off. Each commit is logged postmaster-style:
//! `ID: from=<sender>, size=N, nrcpt=N`.
//!
//! Delivery: SMTPC processes connect to `SMTPC_socket` and take
//! deliveries ([`peers`]); routes come from SMAR; [`sched`] decides what
//! to try when, [`attempt`] runs one try of one transaction, [`bounce`]
//! makes the notices to senders. Recovered transactions are tried at
//! once, deferred ones (DEFEDB) at their next try.

pub mod attempt;
pub mod bounce;
pub mod control;
pub mod occ;
pub mod peers;
pub mod sched;

use crate::component::Sig;
use crate::component::{self, Loaded};
use crate::ipc::{self, IpcError};
use crate::proto::{QmgrAnswer, SmtpsRequest};
use crate::queue::{ibdb, CommitError, Queue, QueueConf};
use peers::{SmarLink, SmtpcPool};
use sched::{SchedConf, Scheduler};
use std::path::Path;
use std::sync::Arc;
use tokio::net::{UnixListener, UnixStream};

const WHO: &str = "qmgr";

/// Runs the QMGR until SIGTERM; returns the exit code.
pub fn main(config: &Path) -> i32 {
    component::run_component(WHO, config, component::Workers::One, run)
}

async fn run(loaded: Loaded) -> i32 {
    let g = &loaded.conf.global;
    let qconf = QueueConf::from_config(g);
    let (queue, recovered) = match Queue::open(&loaded.queue_dir, &qconf) {
        Ok(q) => q,
        Err(e) => {
            let hint = component::denied_hint(&e);
            component::log(
                WHO,
                format!(
                    "cannot open the queue in {}: {e}{hint}",
                    loaded.queue_dir.display()
                ),
            );
            return component::EX_TEMPFAIL;
        }
    };
    component::log(
        WHO,
        format!(
            "queue {} open: {} transactions recovered, {} orphan content files removed",
            loaded.queue_dir.display(),
            recovered.transactions.len(),
            recovered.orphans_removed.len()
        ),
    );
    // A torn tail is a record whose write a crash interrupted: its
    // transaction was never acknowledged. Say so, with where and why.
    for f in recovered.files.iter().filter(|f| f.cut > 0) {
        component::log(
            WHO,
            format!(
                "recovery: IBDB file {}: torn tail of {} bytes cut ({})",
                ibdb::recover::file_name(f.seq),
                f.cut,
                f.reason.unwrap_or("unreadable record")
            ),
        );
    }
    if !recovered.deferred_corrupt.is_empty() || !recovered.missing_content.is_empty() {
        component::log(
            WHO,
            format!(
                "recovery: {} unreadable DEFEDB entries moved aside, {} transactions without content",
                recovered.deferred_corrupt.len(),
                recovered.missing_content.len()
            ),
        );
    }
    let queue = Arc::new(queue);
    if let Err(e) = queue.finish_recovery(&recovered).await {
        component::log(WHO, format!("cannot finish recovery: {e}"));
        return component::EX_TEMPFAIL;
    }
    let listener = match bind(&g.smtps_socket) {
        Ok(l) => l,
        Err(e) => {
            component::log(WHO, format!("{}: {e}", g.smtps_socket));
            return component::EX_OSERR;
        }
    };
    let smtpc_listener = match bind(&g.smtpc_socket) {
        Ok(l) => l,
        Err(e) => {
            component::log(WHO, format!("{}: {e}", g.smtpc_socket));
            return component::EX_OSERR;
        }
    };
    let hostname = component::hostname(&loaded.conf);
    let floor = recovered
        .max_id
        .into_iter()
        .chain(recovered.deferred.iter().map(|d| d.ta.id))
        .max();
    let bouncer = bounce::Bouncer::new(
        hostname,
        usize::try_from(g.qmgr.dsn.max_errors_per_dsn).unwrap_or(usize::MAX),
        g.qmgr.dsn.flags.has("header_only"),
        floor,
    );
    let qmgr_conf = match open_qmgr_conf(&loaded) {
        Ok(m) => m,
        Err(e) => {
            component::log(WHO, e);
            return component::EX_CONFIG;
        }
    };
    let pool = Arc::new(SmtpcPool::default());
    tokio::spawn(pool.clone().accept(smtpc_listener, WHO));
    let sched = Scheduler::new(
        queue.clone(),
        SmarLink::new(&g.smar_socket),
        pool,
        SchedConf::from_config(&g.qmgr),
        bouncer,
        qmgr_conf,
        WHO,
    );
    if let Some(f) = floor {
        sched.saw_id(f);
    }
    tokio::spawn(sched.clone().run_timers());
    // The control socket (smxctl, smx-tui): owner and mode 0660 decide
    // who may use it.
    match bind(&g.qmgr.control_socket) {
        Ok(l) => {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(
                &g.qmgr.control_socket,
                std::fs::Permissions::from_mode(0o660),
            );
            let backend: Arc<dyn smx_control::ControlBackend> =
                Arc::new(control::QmgrControl::new(sched.clone()));
            tokio::spawn(smx_control::serve_listener(l, backend));
        }
        Err(e) => {
            component::log(
                WHO,
                format!("control socket {}: {e}", g.qmgr.control_socket),
            );
            return component::EX_OSERR;
        }
    }
    for ta in recovered.transactions {
        sched.submit(ta);
    }
    for d in recovered.deferred {
        sched.schedule(d);
    }
    let mut signals = match component::Signals::install(WHO) {
        Ok(s) => s,
        Err(code) => return code,
    };
    component::log(
        WHO,
        format!("listening for SMTP servers on {}", g.smtps_socket),
    );
    loop {
        tokio::select! {
            r = listener.accept() => match r {
                Ok((stream, _)) => {
                    tokio::spawn(serve_smtps(stream, sched.clone()));
                }
                Err(e) => component::log(WHO, format!("accept: {e}")),
            },
            sig = signals.next() => match sig {
                Sig::Stop => break,
                Sig::Reload => match open_qmgr_conf(&loaded) {
                    Ok(m) => {
                        sched.set_qmgr_conf(m);
                        component::log(WHO, "SIGHUP: qmgr_conf map reloaded");
                    }
                    Err(e) => component::log(WHO, format!("SIGHUP: {e}; keeping the old map")),
                },
            },
        }
    }
    component::log(WHO, "stopping");
    0
}

/// Opens the `qmgr { conf }` map (README §3.8.1), if configured.
fn open_qmgr_conf(loaded: &Loaded) -> Result<sched::QmgrConfMap, String> {
    let Some(file) = &loaded.conf.global.qmgr.conf else {
        return Ok(sched::QmgrConfMap::default());
    };
    let path = loaded.conf_path(file);
    smx_maps::dbmap::DbMap::open(&path, smx_maps::db::DbType::Hash)
        .map(|m| sched::QmgrConfMap(Some(Arc::new(m))))
        .map_err(|e| format!("qmgr conf map {}: {e}", path.display()))
}

/// Binds one of the QMGR's sockets, its directory mode 0770 (README
/// §2.4.1: shared with the group of the component that connects).
fn bind(path: &str) -> std::io::Result<UnixListener> {
    component::bind_unix(Path::new(path), Some(0o770))
}

/// Serves one SMTP server connection: requests are handled concurrently
/// (commits of many sessions share one fsync), answers go back in any
/// order, matched by sequence number.
async fn serve_smtps(stream: UnixStream, sched: Arc<Scheduler>) {
    let served = ipc::serve(stream, move |req: SmtpsRequest| {
        let sched = sched.clone();
        async move { handle(&sched, req).await }
    })
    .await;
    match served {
        Ok(()) | Err(IpcError::Io(_)) => {}
        // A malformed frame closes this connection, never the QMGR.
        Err(e) => component::log(WHO, format!("SMTP server connection: {e}; closing it")),
    }
}

async fn handle(sched: &Arc<Scheduler>, req: SmtpsRequest) -> QmgrAnswer {
    let queue: &Queue = &sched.queue;
    match req {
        SmtpsRequest::MaxId => QmgrAnswer::MaxId(sched.max_id()),
        SmtpsRequest::Room { recipients } => match queue.check_accept(recipients) {
            Ok(()) => QmgrAnswer::Ok,
            Err(e) => refused(&e),
        },
        SmtpsRequest::Commit { ta, synced } => {
            let id = ta.id;
            let line = format!(
                "{id}: from=<{}>, size={}, nrcpt={}",
                ta.sender,
                ta.size,
                ta.recipients.len()
            );
            match queue.commit_content(ta.clone(), synced).await {
                Ok(()) => {
                    sched.saw_id(id);
                    component::log(WHO, line);
                    sched
                        .counters
                        .received
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    sched.event(smx_control::EventKind::Received, id, None, None);
                    sched.submit(ta);
                    QmgrAnswer::Committed
                }
                Err(e @ CommitError::Ibdb(_)) => {
                    // After a failed write or fsync the envelope log cannot be
                    // trusted any more: exit, and let the MCP restart the QMGR,
                    // which recovers from what is on disk. No one got a 250 for
                    // this transaction.
                    component::log(WHO, format!("{id}: not committed: {e}; restarting"));
                    std::process::exit(component::EX_TEMPFAIL);
                }
                Err(e) => {
                    component::log(WHO, format!("{id}: not committed: {e}"));
                    refused(&e)
                }
            }
        }
    }
}

fn refused(e: &CommitError) -> QmgrAnswer {
    let (code, status) = e.smtp_status();
    QmgrAnswer::Refused {
        code,
        status: status.to_string(),
        text: e.to_string(),
    }
}

//! The smtpc process (`smxd smtpc -f smx.conf [-i ID]`, README §3.11):
//! connects to the QMGR on `SMTPC_socket` (retrying until it answers) and
//! serves the QMGR's [`crate::proto::Delivery`] requests on that
//! connection with [`super::deliver::Client`], many at once. When the
//! connection to the QMGR ends the process exits 75 (EX_TEMPFAIL) so that
//! the MCP restarts it; SIGTERM says QUIT to the idle connections and exits
//! 0; SIGHUP is logged.

use super::deliver::{Client, ClientConf};
use crate::component::{self, Loaded};
use crate::ipc::{self, IpcError};
use crate::proto::Delivery;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::UnixStream;

const WHO: &str = "smtpc";

/// How long the parked connections get to say QUIT at shutdown.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Runs the component until SIGTERM; returns the exit code.
pub fn main(config: &Path, id: Option<&str>) -> i32 {
    let loaded = match component::load(WHO, config) {
        Ok(l) => l,
        Err(code) => return code,
    };
    match component::runtime(WHO) {
        Ok(rt) => rt.block_on(run(loaded, id)),
        Err(code) => code,
    }
}

/// Connects to the QMGR, retrying every 100 ms to 1 s; logs once while
/// waiting.
async fn connect_qmgr(path: &str) -> UnixStream {
    let mut delay = Duration::from_millis(100);
    let mut logged = false;
    loop {
        match UnixStream::connect(path).await {
            Ok(s) => return s,
            Err(e) => {
                if !logged {
                    component::log(WHO, format!("waiting for the QMGR on {path}: {e}"));
                    logged = true;
                }
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(1));
            }
        }
    }
}

/// Connects and serves until the QMGR connection ends.
async fn serve_qmgr(path: String, client: Arc<Client>) {
    let stream = connect_qmgr(&path).await;
    component::log(WHO, format!("connected to the QMGR on {path}"));
    let served = ipc::serve(stream, move |d: Delivery| {
        let client = client.clone();
        async move { client.deliver(&d).await }
    })
    .await;
    match served {
        Ok(()) | Err(IpcError::Io(_)) => {}
        Err(e) => component::log(WHO, format!("QMGR connection: {e}")),
    }
}

async fn run(loaded: Loaded, id: Option<&str>) -> i32 {
    use tokio::signal::unix::{signal, SignalKind};
    let pid = std::process::id();
    let id = id.map(|i| format!(" id={i}")).unwrap_or_default();
    let conf = ClientConf::from_config(&loaded.conf, loaded.queue_dir.clone());
    let client = Arc::new(Client::new(conf));
    let (Ok(mut term), Ok(mut int), Ok(mut hup)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::hangup()),
    ) else {
        component::log(WHO, "cannot install signal handlers");
        return component::EX_OSERR;
    };
    // Logged once the handlers are in place; the QMGR connection is made
    // in the background.
    component::log(WHO, format!("ready (pid={pid}{id})"));
    let qmgr = serve_qmgr(loaded.conf.global.smtpc_socket.clone(), client.clone());
    tokio::pin!(qmgr);
    let mut sweep = tokio::time::interval(Duration::from_secs(1));
    let code = loop {
        tokio::select! {
            () = &mut qmgr => {
                component::log(WHO, "lost the connection to the QMGR; exiting to be restarted");
                break component::EX_TEMPFAIL;
            }
            _ = sweep.tick() => {
                let c = client.clone();
                tokio::spawn(async move { c.sweep().await });
            }
            _ = term.recv() => {
                component::log(WHO, format!("SIGTERM (pid={pid}); exiting"));
                break 0;
            }
            _ = int.recv() => {
                component::log(WHO, format!("SIGINT (pid={pid}); exiting"));
                break 0;
            }
            _ = hup.recv() => component::log(WHO, format!("SIGHUP (pid={pid}): nothing to reload yet")),
        }
    };
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, client.shutdown()).await;
    code
}

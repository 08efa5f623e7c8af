//! The smtpc process (`smxd smtpc -f smx.conf [-i ID]`, README §3.11):
//! connects to the QMGR on `SMTPC_socket` (retrying until it answers) and
//! serves the QMGR's [`crate::proto::Delivery`] requests on that
//! connection with [`super::deliver::Client`], many at once. When the
//! connection to the QMGR ends the process exits 75 (EX_TEMPFAIL) so that
//! the MCP restarts it; SIGTERM says QUIT to the idle connections and exits
//! 0; SIGHUP is logged.

use super::deliver::{Client, ClientConf};
use crate::component::Sig;
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
    component::run_component(WHO, config, component::Workers::PerCpu, |loaded| {
        run(loaded, id)
    })
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
    let pid = std::process::id();
    let id = id.map(|i| format!(" id={i}")).unwrap_or_default();
    let conf = ClientConf::from_config(&loaded.conf, loaded.queue_dir.clone());
    // smtpc { tls { } }: CA certificates to verify servers, a client
    // certificate to present (README §3.11). Unusable files: exit 78.
    let tls = match &loaded.conf.global.smtpc.tls {
        Some(t) => match crate::smtps::tls::ClientTls::load(Some(t), &loaded.conf_dir) {
            Ok(tls) => Some(std::sync::Arc::new(tls)),
            Err(e) => {
                component::log(WHO, format!("STARTTLS: {e}"));
                return component::EX_CONFIG;
            }
        },
        None => None,
    };
    // Without `tls { }` the default client still encrypts when offered.
    let client = match tls {
        Some(t) => Client::new(conf).with_tls(Some(t)),
        None => Client::new(conf),
    };
    let client = Arc::new(client);
    let mut signals = match component::Signals::install(WHO) {
        Ok(s) => s,
        Err(code) => return code,
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
            sig = signals.next() => match sig {
                Sig::Stop => {
                    component::log(WHO, format!("stopping (pid={pid})"));
                    break 0;
                }
                Sig::Reload => component::log(WHO, format!("SIGHUP (pid={pid}): nothing to reload")),
            },
        }
    };
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, client.shutdown()).await;
    code
}

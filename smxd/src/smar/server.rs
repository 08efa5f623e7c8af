//! The SMAR process (README §3.9, §3.7 for the MCP's expectations): loads
//! the configuration and the tables, binds `SMAR_socket`, logs
//! `smar: ready (pid=N)`, and serves each client connection (SMTP servers,
//! QMGR) with [`crate::ipc::serve`]. SIGTERM/SIGINT exit 0; SIGHUP reloads
//! the tables (a line starting `SIGHUP`); a configuration or map file that
//! cannot be used at start exits 78 (EX_CONFIG) naming it.

use super::dns::Dns;
use super::tables::Tables;
use super::{Counted, Smar};
use crate::component::Sig;
use crate::component::{self, Loaded};
use crate::ipc::{self, IpcError};
use crate::proto::SmarRequest;
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use tokio::net::{UnixListener, UnixStream};

const WHO: &str = "smar";

/// Runs SMAR until SIGTERM; returns the exit code.
pub fn main(config: &Path) -> i32 {
    component::run_component(WHO, config, component::Workers::One, run)
}

fn load_tables(loaded: &Loaded) -> Result<Tables, String> {
    Tables::load(loaded, &mut |w| component::log(WHO, w)).map_err(|e| e.to_string())
}

/// Binds `SMAR_socket`, its directory mode 0770 (README §2.4.1).
pub fn bind(path: &str) -> std::io::Result<UnixListener> {
    component::bind_unix(Path::new(path), Some(0o770))
}

async fn run(loaded: Loaded) -> i32 {
    let tables = match load_tables(&loaded) {
        Ok(t) => t,
        Err(e) => {
            component::log(WHO, e);
            return component::EX_CONFIG;
        }
    };
    let g = &loaded.conf.global;
    let dns = Dns::new(&g.smar.nameserver, g.smar.dns_timeout);
    if let Some(p) = dns.problem() {
        component::log(WHO, format!("{p}; MX lookups will fail temporarily"));
    }
    let mut smar = Smar::new(tables, dns, WHO);
    if let Some(gc) = &g.smar.greylisting {
        let settings = super::greylist::Settings::from_conf(gc);
        let clock = Arc::new(super::greylist::SystemClock);
        match super::greylist::Greylist::open(
            Path::new(&gc.main_db_name),
            Path::new(&gc.secondary_db_name),
            settings,
            clock,
        ) {
            Ok(grey) => smar = smar.with_greylist(grey),
            Err(e) => {
                component::log(WHO, format!("greylisting databases: {e}"));
                return component::EX_CONFIG;
            }
        }
    }
    let smar = Arc::new(smar);
    let listener = match bind(&g.smar_socket) {
        Ok(l) => l,
        Err(e) => {
            component::log(WHO, format!("{}: {e}", g.smar_socket));
            return component::EX_OSERR;
        }
    };
    let mut signals = match component::Signals::install(WHO) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let pid = std::process::id();
    component::log(
        WHO,
        format!("ready (pid={pid}); listening on {}", g.smar_socket),
    );
    loop {
        tokio::select! {
            r = listener.accept() => match r {
                Ok((stream, _)) => {
                    tokio::spawn(serve(stream, smar.clone()));
                }
                Err(e) => component::log(WHO, format!("accept: {e}")),
            },
            sig = signals.next() => {
                if sig == Sig::Stop {
                    break;
                }
                let l = &loaded;
                match tokio::task::block_in_place(|| load_tables(l)) {
                    Ok(t) => {
                        smar.replace(t);
                        component::log(WHO, format!("SIGHUP (pid={pid}): maps and mailertable reloaded"));
                    }
                    Err(e) => component::log(
                        WHO,
                        format!("SIGHUP (pid={pid}): reload failed, keeping the old tables: {e}"),
                    ),
                }
            }
        }
    }
    component::log(WHO, format!("stopping (pid={pid})"));
    0
}

/// Serves one client connection; requests are answered concurrently.
///
/// It remembers the sessions counted by connection control over this
/// connection (a `Connect` let in, not yet ended by its `Disconnect`): if
/// the SMTP server at the other end dies, its sessions died with it, and
/// their counts are released when the connection closes. Otherwise a
/// crashed server would leave its clients counted as open for good, and a
/// client at its `max_connections` would be refused until SMAR restarts.
async fn serve(stream: UnixStream, smar: Arc<Smar>) {
    use std::net::Ipv4Addr;
    type Held = Arc<std::sync::Mutex<HashMap<Ipv4Addr, u64>>>;
    let held: Held = Arc::default();
    fn lock(h: &Held) -> std::sync::MutexGuard<'_, HashMap<Ipv4Addr, u64>> {
        h.lock().unwrap_or_else(|p| p.into_inner())
    }
    let (s, h) = (smar.clone(), held.clone());
    let served = ipc::serve(stream, move |req: SmarRequest| {
        let (smar, held) = (s.clone(), h.clone());
        async move {
            let (answer, counted) = smar.handle_counted(req).await;
            match counted {
                Counted::Nothing => {}
                Counted::Opened(ip) => *lock(&held).entry(ip).or_default() += 1,
                Counted::Closed(ip) => {
                    let mut m = lock(&held);
                    if let Some(n) = m.get_mut(&ip) {
                        *n = n.saturating_sub(1);
                        if *n == 0 {
                            m.remove(&ip);
                        }
                    }
                }
            }
            answer
        }
    })
    .await;
    match served {
        Ok(()) | Err(IpcError::Io(_)) => {}
        Err(e) => component::log(WHO, format!("client connection: {e}; closing it")),
    }
    let left = std::mem::take(&mut *lock(&held));
    let n = smar.release(&left);
    if n > 0 {
        component::log(
            WHO,
            format!("an SMTP server went away with {n} sessions open; their connection counts are released"),
        );
    }
}

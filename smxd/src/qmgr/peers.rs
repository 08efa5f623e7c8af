//! The QMGR's connections to the delivery components (README §2.4.1,
//! DESIGN.md "smxd: processes"):
//!
//! - SMTPC processes connect to the QMGR's `SMTPC_socket` (directory
//!   `qmsmtpc/`, mode 0770) and then answer [`Delivery`] requests on that
//!   connection; [`SmtpcPool`] hands them out round robin and forgets the
//!   ones that closed.
//! - SMAR listens on `SMAR_socket`; [`SmarLink`] connects to it on first use
//!   and again after the connection was lost.
//!
//! When no SMTPC or SMAR is there, callers wait up to `wait_for_client` /
//! `wait_for_server` and then treat the attempt as a temporary failure:
//! the mail stays queued and is retried.

use crate::ipc::Client;
use crate::proto::{Delivery, DeliveryResult, SmarAnswer, SmarRequest};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::Notify;

/// A connection to one SMTPC process.
pub type SmtpcClient = Arc<Client<Delivery, DeliveryResult>>;

/// The connected SMTPC processes.
#[derive(Default)]
pub struct SmtpcPool {
    clients: Mutex<Vec<SmtpcClient>>,
    next: AtomicUsize,
    arrived: Notify,
}

impl SmtpcPool {
    /// Accepts SMTPC connections on `listener` forever.
    pub async fn accept(self: Arc<Self>, listener: UnixListener, who: &'static str) {
        loop {
            match listener.accept().await {
                Ok((stream, _)) => {
                    let client = Arc::new(Client::new(stream));
                    let n = {
                        let mut v = self.lock();
                        v.retain(|c| !c.is_closed());
                        v.push(client);
                        v.len()
                    };
                    crate::component::log(who, format!("SMTP client connected ({n} now)"));
                    self.arrived.notify_waiters();
                }
                Err(e) => {
                    crate::component::log(who, format!("SMTPC socket accept: {e}"));
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<SmtpcClient>> {
        self.clients.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn pick(&self) -> Option<SmtpcClient> {
        let mut v = self.lock();
        v.retain(|c| !c.is_closed());
        if v.is_empty() {
            return None;
        }
        let i = self.next.fetch_add(1, Ordering::Relaxed) % v.len();
        v.get(i).cloned()
    }

    /// A live SMTPC connection, waiting up to `wait` for one to connect.
    pub async fn get(&self, wait: Duration) -> Option<SmtpcClient> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let arrived = self.arrived.notified();
            if let Some(c) = self.pick() {
                return Some(c);
            }
            if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                return self.pick();
            }
        }
    }

    /// Number of live connections.
    pub fn len(&self) -> usize {
        let mut v = self.lock();
        v.retain(|c| !c.is_closed());
        v.len()
    }

    /// No live connection.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The connection to SMAR, made on demand.
pub struct SmarLink {
    path: PathBuf,
    client: tokio::sync::Mutex<Option<Arc<Client<SmarRequest, SmarAnswer>>>>,
}

impl SmarLink {
    /// A link to the SMAR socket at `path` (not connected yet).
    pub fn new(path: impl Into<PathBuf>) -> SmarLink {
        SmarLink {
            path: path.into(),
            client: tokio::sync::Mutex::new(None),
        }
    }

    /// A live connection, (re)connecting for up to `wait`.
    async fn client(&self, wait: Duration) -> Option<Arc<Client<SmarRequest, SmarAnswer>>> {
        let mut slot = self.client.lock().await;
        if let Some(c) = slot.as_ref().filter(|c| !c.is_closed()) {
            return Some(c.clone());
        }
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Ok(stream) = UnixStream::connect(&self.path).await {
                let c = Arc::new(Client::new(stream));
                *slot = Some(c.clone());
                return Some(c);
            }
            if tokio::time::Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Asks SMAR; `None` if it cannot be reached or the connection fails.
    pub async fn call(&self, req: SmarRequest, wait: Duration) -> Option<SmarAnswer> {
        let c = self.client(wait).await?;
        c.call(req).await.ok()
    }
}

//! The SMTP server's connection to the address resolver (SMAR) on
//! `SMAR_socket` (README §3.4 item 3, §3.9): one multiplexed
//! [`crate::ipc::Client`] shared by every session of the process.
//!
//! At start the server waits for SMAR as for the QMGR (it may still be
//! starting). Later, when the connection is lost (SMAR restarted), the next
//! call connects again, once; if SMAR cannot be reached, or does not
//! answer within [`CALL_TIMEOUT`], the caller answers `451 4.3.0`: a
//! recipient is never accepted without SMAR's word.

use crate::ipc::Client;
use crate::proto::{SmarAnswer, SmarRequest};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::UnixStream;
use tokio::sync::Mutex;

/// How long one call may take.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(60);

type SmarClient = Client<SmarRequest, SmarAnswer>;

/// The connection to SMAR, re-established on demand.
pub struct SmarLink {
    path: String,
    who: String,
    client: Mutex<Option<Arc<SmarClient>>>,
}

impl SmarLink {
    /// Connects to `path`, trying for up to `wait`; without success the
    /// link starts unconnected (calls then try again).
    pub async fn connect(path: &str, who: &str, wait: Duration) -> SmarLink {
        let deadline = tokio::time::Instant::now() + wait;
        let mut client = None;
        loop {
            match UnixStream::connect(path).await {
                Ok(s) => {
                    client = Some(Arc::new(Client::new(s)));
                    break;
                }
                Err(e) if tokio::time::Instant::now() >= deadline => {
                    crate::component::log(
                        who,
                        format!(
                            "cannot reach SMAR on {path}: {e}; recipients get 451 until it answers"
                        ),
                    );
                    break;
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
        SmarLink {
            path: path.to_string(),
            who: who.to_string(),
            client: Mutex::new(client),
        }
    }

    async fn client(&self) -> Result<Arc<SmarClient>, String> {
        let mut guard = self.client.lock().await;
        if let Some(c) = guard.as_ref().filter(|c| !c.is_closed()) {
            return Ok(c.clone());
        }
        match UnixStream::connect(&self.path).await {
            Ok(s) => {
                let c = Arc::new(Client::new(s));
                *guard = Some(c.clone());
                crate::component::log(&self.who, format!("connected to SMAR on {}", self.path));
                Ok(c)
            }
            Err(e) => {
                *guard = None;
                Err(format!("SMAR on {}: {e}", self.path))
            }
        }
    }

    /// Asks SMAR.
    pub async fn call(&self, req: SmarRequest) -> Result<SmarAnswer, String> {
        let c = self.client().await?;
        match tokio::time::timeout(CALL_TIMEOUT, c.call(req)).await {
            Ok(Ok(a)) => Ok(a),
            Ok(Err(e)) => Err(format!("SMAR: {e}")),
            Err(_) => Err("SMAR did not answer in time".to_string()),
        }
    }
}

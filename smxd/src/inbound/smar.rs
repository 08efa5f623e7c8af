//! The SMTP server's connection to the address resolver (SMAR) on
//! `SMAR_socket` (README §3.4 item 3, §3.9): one multiplexed
//! [`crate::ipc::Client`] shared by every session of the process.
//!
//! At start the server waits for SMAR as for the QMGR (it may still be
//! starting). Later, when the connection is lost (SMAR restarted), the next
//! call connects again, once; if SMAR cannot be reached, or does not
//! answer within [`CALL_TIMEOUT`], the caller answers `451 4.3.0`: a
//! recipient is never accepted without SMAR's word.
//!
//! It also keeps the policy state of each session ([`Sessions`]), which
//! the backend sends back to SMAR at MAIL and RCPT.

use crate::ipc::Client;
use crate::proto::{SessionPolicy, SmarAnswer, SmarRequest, SmtpReply};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
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
    /// The policy state of the sessions of this process.
    pub sessions: Sessions,
}

/// What the policy checks decided for one SMTP session, kept between its
/// stages (README §3.12.2): the connect verdict, a delayed MAIL
/// rejection, what is discarded, a greylisting error held for DATA.
#[derive(Debug, Clone, Default)]
pub struct SessionState {
    /// The connect stage's outcome.
    pub policy: SessionPolicy,
    /// The sender of the current transaction.
    pub sender: String,
    /// A MAIL rejection delayed to RCPT (`delay_checks`).
    pub mail_delayed: Option<SmtpReply>,
    /// The current transaction is discarded.
    pub discard_tx: bool,
    /// Recipients of the current transaction that are discarded.
    pub discarded: Vec<String>,
    /// The greylisting error to give at DATA.
    pub at_data: Option<SmtpReply>,
    /// When the session started (to forget sessions that ended).
    pub started: Option<Instant>,
}

/// The session states of one process, keyed by the client's address and
/// port (unique while the connection is open). A state is removed when
/// its session ends ([`Sessions::end`]); should that be missed, it stays
/// until the same address and port connect again, or, when more than
/// [`MAX_SESSIONS`] are kept, until it is older than [`SESSION_MAX_AGE`].
#[derive(Debug, Default)]
pub struct Sessions(std::sync::Mutex<HashMap<SocketAddr, SessionState>>);

/// Sessions kept before old ones are forgotten.
pub const MAX_SESSIONS: usize = 50_000;
/// How old a forgotten session is at least.
pub const SESSION_MAX_AGE: Duration = Duration::from_secs(3600);

impl Sessions {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<SocketAddr, SessionState>> {
        match self.0.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// Starts the state of the session from `peer`.
    pub fn start(&self, peer: SocketAddr, policy: SessionPolicy) {
        let mut m = self.lock();
        if m.len() >= MAX_SESSIONS {
            m.retain(|_, s| s.started.is_some_and(|t| t.elapsed() < SESSION_MAX_AGE));
        }
        m.insert(
            peer,
            SessionState {
                policy,
                started: Some(Instant::now()),
                ..SessionState::default()
            },
        );
    }

    /// Forgets the state of `peer`'s session; whether there was one.
    pub fn end(&self, peer: SocketAddr) -> bool {
        self.lock().remove(&peer).is_some()
    }

    /// A copy of the state of `peer`'s session.
    pub fn get(&self, peer: Option<SocketAddr>) -> SessionState {
        peer.and_then(|p| self.lock().get(&p).cloned())
            .unwrap_or_default()
    }

    /// Changes the state of `peer`'s session.
    pub fn update(&self, peer: Option<SocketAddr>, f: impl FnOnce(&mut SessionState)) {
        if let Some(p) = peer {
            let mut m = self.lock();
            f(m.entry(p).or_default());
        }
    }
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
            sessions: Sessions::default(),
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

    /// Tells SMAR something that needs no answer (the end of a session).
    pub async fn notify(&self, req: SmarRequest) -> Result<(), String> {
        let c = self.client().await?;
        c.notify(req).await.map_err(|e| format!("SMAR: {e}"))
    }

    /// Asks SMAR; gives up after a while.
    pub async fn call(&self, req: SmarRequest) -> Result<SmarAnswer, String> {
        let c = self.client().await?;
        match tokio::time::timeout(CALL_TIMEOUT, c.call(req)).await {
            Ok(Ok(a)) => Ok(a),
            Ok(Err(e)) => Err(format!("SMAR: {e}")),
            Err(_) => Err("SMAR did not answer in time".to_string()),
        }
    }
}

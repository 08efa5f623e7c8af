//! The client side of the control socket (smx-control(5)), used by smxctl
//! and smx-tui: connect over a Unix stream socket, send [`Op`]s as request
//! lines with increasing ids, read the matching response, and follow the
//! event stream after `subscribe`.
//!
//! Connection failures are classified so the tools can say what is wrong:
//! no socket (smxd not running or wrong path), permission denied (socket
//! owner and mode), refused (a stale socket: smxd not running).

use crate::framing::{read_line, write_json, Line};
use crate::types::{Event, Op, Request, Response};
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::collections::VecDeque;
use std::io;
use std::path::{Path, PathBuf};
use tokio::io::BufReader;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::UnixStream;

/// Responses and events can be large (a page of 100,000 entries); this
/// bounds a single line the client accepts (256 MiB).
const MAX_RESPONSE: usize = 256 * 1024 * 1024;

/// Why a control request failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The socket does not exist.
    #[error("{}: no control socket (is smxd running? is this the right configuration?)", .0.display())]
    NoSocket(PathBuf),
    /// The socket exists but nobody listens on it.
    #[error("{}: connection refused (smxd is not running)", .0.display())]
    Refused(PathBuf),
    /// The socket's owner and mode do not let this user connect.
    #[error("{}: permission denied (the control socket is restricted by its owner and mode)", .0.display())]
    PermissionDenied(PathBuf),
    /// Another I/O error while connecting or talking.
    #[error("{path}: {source}", path = .0.display(), source = .1)]
    Io(PathBuf, #[source] io::Error),
    /// The server closed the connection.
    #[error("smxd closed the control connection")]
    Closed,
    /// The server sent something that is not protocol.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// The server answered with an error object.
    #[error("{message} ({code})")]
    Server {
        /// The error code (`not_found`, `bad_request`, …).
        code: String,
        /// The message.
        message: String,
    },
}

impl ClientError {
    /// Whether the error means smxd is not reachable (EX_UNAVAILABLE).
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            ClientError::NoSocket(_) | ClientError::Refused(_) | ClientError::Closed
        )
    }
}

/// A connection to the control socket.
#[derive(Debug)]
pub struct Client {
    path: PathBuf,
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
    next_id: u64,
    /// Events that arrived while waiting for a response.
    pending: VecDeque<Event>,
}

impl Client {
    /// Connects to the control socket at `path`.
    pub async fn connect(path: impl AsRef<Path>) -> Result<Client, ClientError> {
        let path = path.as_ref().to_path_buf();
        let stream = UnixStream::connect(&path)
            .await
            .map_err(|e| match e.kind() {
                io::ErrorKind::NotFound => ClientError::NoSocket(path.clone()),
                io::ErrorKind::ConnectionRefused => ClientError::Refused(path.clone()),
                io::ErrorKind::PermissionDenied => ClientError::PermissionDenied(path.clone()),
                _ => ClientError::Io(path.clone(), e),
            })?;
        let (r, w) = stream.into_split();
        Ok(Client {
            path,
            reader: BufReader::new(r),
            writer: w,
            next_id: 1,
            pending: VecDeque::new(),
        })
    }

    /// The socket path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Sends `op` and returns the result of its response.
    pub async fn call(&mut self, op: Op) -> Result<Value, ClientError> {
        self.call_as(op).await
    }

    /// Sends `op` and decodes the result as `T` (straight from the raw
    /// JSON of the response line).
    pub async fn call_as<T: DeserializeOwned>(&mut self, op: Op) -> Result<T, ClientError> {
        let id = self.next_id;
        self.next_id += 1;
        let req = Request { id, op };
        write_json(&mut self.writer, &req)
            .await
            .map_err(|e| self.io(e))?;
        loop {
            let bytes = self.read_line_bytes().await?;
            // An event line has an "event" field, a response does not.
            #[derive(serde::Deserialize)]
            struct Probe {
                event: Option<serde::de::IgnoredAny>,
            }
            let probe: Probe = serde_json::from_slice(&bytes)
                .map_err(|e| ClientError::Protocol(format!("not JSON: {e}")))?;
            if probe.event.is_some() {
                let ev = serde_json::from_slice(&bytes)
                    .map_err(|e| ClientError::Protocol(format!("bad event: {e}")))?;
                self.pending.push_back(ev);
                continue;
            }
            let resp: Response = serde_json::from_slice(&bytes)
                .map_err(|e| ClientError::Protocol(format!("bad response: {e}")))?;
            if resp.id != id && resp.id != 0 {
                continue;
            }
            if resp.ok {
                let raw = resp.result.as_deref().map_or("null", |r| r.get());
                return serde_json::from_str(raw)
                    .map_err(|e| ClientError::Protocol(format!("bad result: {e}")));
            }
            let err = resp.error.unwrap_or(crate::types::ErrorObject {
                code: "unknown".to_owned(),
                message: "request failed".to_owned(),
            });
            return Err(ClientError::Server {
                code: err.code,
                message: err.message,
            });
        }
    }

    /// Subscribes; then [`Client::next_event`] yields the events. Other
    /// requests may still be sent on the same connection.
    pub async fn subscribe(&mut self) -> Result<(), ClientError> {
        self.call(Op::Subscribe).await.map(|_| ())
    }

    /// The next event (after [`Client::subscribe`]); `Ok(None)` when the
    /// server closed the connection.
    pub async fn next_event(&mut self) -> Result<Option<Event>, ClientError> {
        if let Some(e) = self.pending.pop_front() {
            return Ok(Some(e));
        }
        loop {
            let value = match self.read_value().await {
                Ok(v) => v,
                Err(ClientError::Closed) => return Ok(None),
                Err(e) => return Err(e),
            };
            if value.get("event").is_some() {
                return serde_json::from_value(value)
                    .map(Some)
                    .map_err(|e| ClientError::Protocol(format!("bad event: {e}")));
            }
        }
    }

    async fn read_value(&mut self) -> Result<Value, ClientError> {
        let bytes = self.read_line_bytes().await?;
        serde_json::from_slice(&bytes).map_err(|e| ClientError::Protocol(format!("not JSON: {e}")))
    }

    async fn read_line_bytes(&mut self) -> Result<Vec<u8>, ClientError> {
        match read_line(&mut self.reader, MAX_RESPONSE).await {
            Ok(Line::Line(bytes)) => Ok(bytes),
            Ok(Line::TooLong) => Err(ClientError::Protocol("response line too long".into())),
            Ok(Line::Eof) => Err(ClientError::Closed),
            Err(e) => Err(self.io(e)),
        }
    }

    fn io(&self, e: io::Error) -> ClientError {
        match e.kind() {
            io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset => ClientError::Closed,
            _ => ClientError::Io(self.path.clone(), e),
        }
    }
}

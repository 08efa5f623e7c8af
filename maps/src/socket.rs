//! The `socket` map type (sendmail X README §3.9.1: `mapname`, `path` or
//! `address` + `port`): a client of the sendmail 8 socketmap protocol.
//!
//! Each lookup sends one netstring `LEN:mapname key,` and reads one netstring
//! back: `OK value`, `NOTFOUND`, `TEMP reason`, `TIMEOUT reason` or
//! `PERM reason` (the status ends at the first space).
//!
//! Failure handling, chosen so that a sick server costs a 4xx, never a wrong
//! answer or an unbounded wait:
//!
//! - The connection is opened at the first lookup and kept. When a kept
//!   connection turns out to be closed (the write fails, or the server hangs
//!   up before the first byte of the reply), the client reconnects once and
//!   asks again; a fresh connection is never retried.
//! - One deadline ([`DEFAULT_TIMEOUT`] unless told otherwise) covers connect,
//!   write and the whole reply, so a server that drips one byte at a time
//!   cannot hold SMAR longer than that. Expiry is [`MapError::Temp`].
//!   Connecting to a Unix socket has no timeout of its own (it does not
//!   block on a listening socket).
//! - The announced reply length is checked against a limit
//!   ([`DEFAULT_MAX_REPLY`] bytes) before anything is read, so a server
//!   cannot make the client allocate what it announces. A too long reply
//!   and a malformed netstring are [`MapError::Temp`] (as in sendmail 8) and
//!   close the connection, since the stream is out of step.
//! - `TEMP` and `TIMEOUT` replies are [`MapError::Temp`], `PERM` is
//!   [`MapError::Perm`]; those keep the connection.
//!
//! The protocol has one request in flight per connection, so a
//! [`SocketMap`] shared between threads serializes its lookups on a mutex;
//! declare several maps for the same server to ask it in parallel.

use std::io::{self, Read, Write};
use std::net::{SocketAddrV4, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::{Map, MapError};

/// The timeout of a lookup when none is configured.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// The largest reply accepted, in bytes (the netstring's payload).
pub const DEFAULT_MAX_REPLY: usize = 100_000;

/// Where the socketmap server listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// A Unix domain socket (`path`).
    Unix(PathBuf),
    /// An IPv4 TCP socket (`address` and `port`).
    Inet(SocketAddrV4),
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Endpoint::Unix(p) => write!(f, "unix:{}", p.display()),
            Endpoint::Inet(a) => write!(f, "inet:{a}"),
        }
    }
}

/// A socketmap client (`map NAME { type = socket; mapname = ...; }`).
pub struct SocketMap {
    endpoint: Endpoint,
    mapname: String,
    timeout: Duration,
    max_reply: usize,
    conn: Mutex<Option<Connection>>,
}

impl std::fmt::Debug for SocketMap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SocketMap")
            .field("endpoint", &self.endpoint)
            .field("mapname", &self.mapname)
            .field("timeout", &self.timeout)
            .field("max_reply", &self.max_reply)
            .finish()
    }
}

impl SocketMap {
    /// A client of the server on the Unix socket `path`, asking for map
    /// `mapname`; `timeout` bounds each lookup.
    pub fn unix(path: impl Into<PathBuf>, mapname: impl Into<String>, timeout: Duration) -> Self {
        Self::new(Endpoint::Unix(path.into()), mapname.into(), timeout)
    }

    /// A client of the server at `addr` (TCP), asking for map `mapname`;
    /// `timeout` bounds each lookup.
    pub fn inet(addr: SocketAddrV4, mapname: impl Into<String>, timeout: Duration) -> Self {
        Self::new(Endpoint::Inet(addr), mapname.into(), timeout)
    }

    fn new(endpoint: Endpoint, mapname: String, timeout: Duration) -> Self {
        SocketMap {
            endpoint,
            mapname,
            timeout,
            max_reply: DEFAULT_MAX_REPLY,
            conn: Mutex::new(None),
        }
    }

    /// Accept replies of at most `bytes` bytes instead of
    /// [`DEFAULT_MAX_REPLY`].
    pub fn with_max_reply(mut self, bytes: usize) -> Self {
        self.max_reply = bytes;
        self
    }

    /// The server's address.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// The map name sent in each request.
    pub fn mapname(&self) -> &str {
        &self.mapname
    }

    fn temp(&self, what: impl std::fmt::Display) -> MapError {
        MapError::Temp(format!(
            "socket map {} ({}): {what}",
            self.mapname, self.endpoint
        ))
    }

    fn connect(&self, deadline: Instant) -> Result<Connection, MapError> {
        let stream = match &self.endpoint {
            Endpoint::Unix(path) => UnixStream::connect(path).map(Stream::Unix),
            Endpoint::Inet(addr) => {
                let left = remaining(deadline).map_err(|e| self.temp(e))?;
                TcpStream::connect_timeout(&(*addr).into(), left).map(Stream::Tcp)
            }
        }
        .map_err(|e| self.temp(format_args!("connect: {e}")))?;
        Ok(Connection {
            stream,
            buf: Vec::new(),
        })
    }

    /// One request and its reply on `conn`.
    fn exchange(
        &self,
        conn: &mut Connection,
        key: &str,
        deadline: Instant,
    ) -> Result<Vec<u8>, Failure> {
        let payload = format!("{} {key}", self.mapname);
        let request = format!("{}:{payload},", payload.len());
        conn.write_all(request.as_bytes(), deadline)
            .map_err(|e| self.io_failure("write", e))?;
        conn.read_netstring(deadline, self.max_reply)
            .map_err(|e| match e {
                ReadError::Closed => Failure::Broken("connection closed by server".into()),
                ReadError::Io(e) => self.io_failure("read", e),
                ReadError::Protocol(m) => Failure::Error(self.temp(m)),
            })
    }

    fn io_failure(&self, op: &str, e: io::Error) -> Failure {
        match e.kind() {
            io::ErrorKind::BrokenPipe
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::NotConnected => Failure::Broken(format!("{op}: {e}")),
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {
                Failure::Error(self.temp(format_args!("{op}: timeout after {:?}", self.timeout)))
            }
            _ => Failure::Error(self.temp(format_args!("{op}: {e}"))),
        }
    }

    fn decode(&self, reply: &[u8]) -> Result<Option<String>, MapError> {
        let reply = std::str::from_utf8(reply).map_err(|_| self.temp("reply is not UTF-8"))?;
        let (status, rest) = reply.split_once(' ').unwrap_or((reply, ""));
        match status {
            "OK" => Ok(Some(rest.to_string())),
            "NOTFOUND" => Ok(None),
            "TEMP" | "TIMEOUT" => Err(self.temp(format_args!("{status} {rest}"))),
            "PERM" => Err(MapError::Perm(format!(
                "socket map {} ({}): PERM {rest}",
                self.mapname, self.endpoint
            ))),
            _ => Err(self.temp(format_args!("unknown reply status {status:?}"))),
        }
    }
}

impl Map for SocketMap {
    fn may_block(&self) -> bool {
        true
    }

    fn get(&self, key: &str) -> Result<Option<String>, MapError> {
        let deadline = Instant::now() + self.timeout;
        let mut guard = match self.conn.lock() {
            Ok(g) => g,
            Err(poisoned) => {
                // A lookup panicked mid-exchange: the stream is out of step.
                let mut g = poisoned.into_inner();
                *g = None;
                g
            }
        };
        let mut retried = false;
        loop {
            let reused = guard.is_some();
            let mut conn = match guard.take() {
                Some(c) => c,
                None => self.connect(deadline)?,
            };
            match self.exchange(&mut conn, key, deadline) {
                Ok(reply) => {
                    // Bytes after the reply mean the server is out of step.
                    if conn.buf.is_empty() {
                        *guard = Some(conn);
                    }
                    return self.decode(&reply);
                }
                Err(Failure::Broken(why)) => {
                    if reused && !retried {
                        retried = true;
                        continue;
                    }
                    return Err(self.temp(why));
                }
                Err(Failure::Error(e)) => return Err(e),
            }
        }
    }
}

/// Why an exchange failed.
enum Failure {
    /// The connection was closed under us: worth one reconnect if it was an
    /// old connection.
    Broken(String),
    /// Anything else; the connection is dropped.
    Error(MapError),
}

enum ReadError {
    /// End of file before the first byte of the reply.
    Closed,
    Io(io::Error),
    Protocol(String),
}

enum Stream {
    Unix(UnixStream),
    Tcp(TcpStream),
}

struct Connection {
    stream: Stream,
    /// Bytes read but not consumed yet.
    buf: Vec<u8>,
}

/// The time left until `deadline`, or a timeout error when none is left.
fn remaining(deadline: Instant) -> io::Result<Duration> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        Err(io::Error::new(io::ErrorKind::TimedOut, "timeout"))
    } else {
        Ok(left)
    }
}

/// Digits of the longest length accepted in a netstring header.
const MAX_LEN_DIGITS: usize = 10;

impl Connection {
    fn write_all(&mut self, mut data: &[u8], deadline: Instant) -> io::Result<()> {
        while !data.is_empty() {
            let left = Some(remaining(deadline)?);
            let n = match &mut self.stream {
                Stream::Unix(s) => {
                    s.set_write_timeout(left)?;
                    s.write(data)?
                }
                Stream::Tcp(s) => {
                    s.set_write_timeout(left)?;
                    s.write(data)?
                }
            };
            if n == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            data = &data[n..];
        }
        Ok(())
    }

    /// Read more bytes into `buf`; `Ok(0)` at end of file.
    fn fill(&mut self, deadline: Instant) -> io::Result<usize> {
        let left = Some(remaining(deadline)?);
        let mut chunk = [0u8; 4096];
        let n = match &mut self.stream {
            Stream::Unix(s) => {
                s.set_read_timeout(left)?;
                s.read(&mut chunk)?
            }
            Stream::Tcp(s) => {
                s.set_read_timeout(left)?;
                s.read(&mut chunk)?
            }
        };
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(n)
    }

    /// Read one netstring `LEN:payload,` of at most `max` payload bytes.
    fn read_netstring(&mut self, deadline: Instant, max: usize) -> Result<Vec<u8>, ReadError> {
        let mut got_any = !self.buf.is_empty();
        // The header: digits and a colon.
        let (header_len, len) = loop {
            let digits = self.buf.iter().take_while(|b| b.is_ascii_digit()).count();
            if digits > MAX_LEN_DIGITS {
                return Err(ReadError::Protocol("netstring length too long".into()));
            }
            if let Some(&b) = self.buf.get(digits) {
                if b != b':' || digits == 0 {
                    return Err(ReadError::Protocol(format!(
                        "malformed netstring: unexpected byte {:?} in the length",
                        char::from(b)
                    )));
                }
                let len = std::str::from_utf8(&self.buf[..digits])
                    .ok()
                    .and_then(|s| s.parse::<u64>().ok())
                    .ok_or_else(|| ReadError::Protocol("malformed netstring length".into()))?;
                if len > max as u64 {
                    return Err(ReadError::Protocol(format!(
                        "reply too long: {len} bytes announced, at most {max} accepted"
                    )));
                }
                // len <= max, which is a usize.
                break (digits + 1, len as usize);
            }
            match self.fill(deadline) {
                Ok(0) if !got_any => return Err(ReadError::Closed),
                Ok(0) => {
                    return Err(ReadError::Protocol(
                        "connection closed in the middle of a reply".into(),
                    ))
                }
                Ok(_) => got_any = true,
                Err(e) => {
                    // A reset before any reply byte is a closed connection.
                    if !got_any && e.kind() == io::ErrorKind::ConnectionReset {
                        return Err(ReadError::Closed);
                    }
                    return Err(ReadError::Io(e));
                }
            }
        };
        let total = header_len + len + 1;
        while self.buf.len() < total {
            match self.fill(deadline) {
                Ok(0) => {
                    return Err(ReadError::Protocol(
                        "connection closed in the middle of a reply".into(),
                    ))
                }
                Ok(_) => {}
                Err(e) => return Err(ReadError::Io(e)),
            }
        }
        if self.buf[total - 1] != b',' {
            return Err(ReadError::Protocol(
                "malformed netstring: missing trailing comma".into(),
            ));
        }
        let payload = self.buf[header_len..total - 1].to_vec();
        self.buf.drain(..total);
        Ok(payload)
    }
}

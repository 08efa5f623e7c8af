//! The session's side of the byte stream: buffered reads with
//! `io_timeout`, and replies held back while pipelined input is pending
//! (RFC 2920 §3.2: the server flushes only before it would block on a read).
//!
//! Command lines end only at CRLF. A line with a bare CR or a line ended
//! by a bare LF is returned as [`Line::BareNewline`] (the session answers
//! `500 5.5.2`), so that command and data framing agree on what a line is.
//!
//! `io_timeout` bounds every write, and every read in a way a slow client
//! cannot stretch (slow-loris): a command line must be complete within
//! `io_timeout` of its first octet being awaited, DATA must bring a line
//! end at least every `io_timeout`, and BDAT at least [`BDAT_PROGRESS`]
//! octets (a text line's worth, RFC 5321 §4.5.3.1.6) every `io_timeout`.
//! A client that dribbles one octet at a time is cut like a silent one
//! (`421 4.4.2`); a per-read timeout alone would let it hold its session,
//! and with `max_threads` of them the whole server, for ever.
//!
//! STARTTLS ([`Conn::start_tls`], RFC 3207 §4.2): the `220` is flushed,
//! then every octet the client sent after the STARTTLS line and that is
//! already buffered is thrown away before the handshake, so that no
//! plaintext command can be injected into the TLS session
//! (CVE-2011-0411).

use super::backend::TlsInfo;
use super::reply::Reply;
use super::stream::MaybeTls;
use super::tls::ServerTls;
use std::future::poll_fn;
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::time::Instant;

/// Room made in the input buffer for each read.
const READ_SIZE: usize = 16_384;

/// BDAT content a client must send per `io_timeout` (see the module
/// documentation).
pub const BDAT_PROGRESS: u64 = 1000;

/// Why reading or writing stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IoStop {
    /// `io_timeout` passed.
    Timeout,
    /// The peer closed, or an I/O error.
    Closed,
}

/// One command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    /// The line without its CRLF.
    Text(Vec<u8>),
    /// Longer than the reader keeps; discarded up to its LF.
    TooLong,
    /// Contained a bare CR, or ended in a bare LF.
    BareNewline,
}

/// Buffered connection.
pub struct Conn<S> {
    io: S,
    input: Vec<u8>,
    pos: usize,
    output: Vec<u8>,
    timeout: Duration,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Conn<S> {
    /// Wraps a stream.
    pub fn new(io: S, timeout: Duration) -> Self {
        Conn {
            io,
            input: Vec::new(),
            pos: 0,
            output: Vec::new(),
            timeout,
        }
    }

    /// Queues a reply; it is sent at the next flush.
    pub fn push(&mut self, r: &Reply) {
        r.write_to(&mut self.output);
    }

    /// Sends the queued replies.
    pub async fn flush(&mut self) -> Result<(), IoStop> {
        if self.output.is_empty() {
            return Ok(());
        }
        let out = std::mem::take(&mut self.output);
        let w = async {
            self.io.write_all(&out).await?;
            self.io.flush().await
        };
        match tokio::time::timeout(self.timeout, w).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(IoStop::Closed),
            Err(_) => Err(IoStop::Timeout),
        }
    }

    /// Flushes, then shuts the write side down (best effort).
    pub async fn close(&mut self) {
        let _ = self.flush().await;
        let _ = tokio::time::timeout(self.timeout, self.io.shutdown()).await;
    }

    fn buffered(&self) -> &[u8] {
        &self.input[self.pos..]
    }

    fn consume(&mut self, n: usize) {
        self.pos += n;
        if self.pos >= self.input.len() {
            self.input.clear();
            self.pos = 0;
        } else if self.pos > 65_536 {
            self.input.drain(..self.pos);
            self.pos = 0;
        }
    }

    /// The deadline of a read that starts now.
    fn deadline(&self) -> Instant {
        Instant::now() + self.timeout
    }

    /// Reads more input, giving up at `deadline`; flushes pending replies
    /// first (PIPELINING). Returns the octets read.
    async fn fill(&mut self, deadline: Instant) -> Result<&[u8], IoStop> {
        self.flush().await?;
        // Straight into the input buffer's spare room (no zeroed scratch
        // buffer, no copy); the room stays allocated between reads.
        let start = self.input.len();
        self.input.reserve(READ_SIZE);
        let read = self.io.read_buf(&mut self.input);
        match tokio::time::timeout_at(deadline, read).await {
            Ok(Ok(0)) | Ok(Err(_)) => Err(IoStop::Closed),
            Ok(Ok(_)) => Ok(&self.input[start..]),
            Err(_) => Err(IoStop::Timeout),
        }
    }

    /// True when the client has already sent something (checked once,
    /// without waiting: the early-talker test before the greeting).
    pub async fn has_early_input(&mut self) -> bool {
        let mut tmp = [0u8; 1024];
        let io = &mut self.io;
        let n = poll_fn(|cx| {
            let mut rb = ReadBuf::new(&mut tmp);
            match Pin::new(&mut *io).poll_read(cx, &mut rb) {
                Poll::Ready(Ok(())) => Poll::Ready(rb.filled().len()),
                Poll::Ready(Err(_)) | Poll::Pending => Poll::Ready(0),
            }
        })
        .await;
        self.input.extend_from_slice(&tmp[..n]);
        n > 0
    }

    /// Reads one command line of at most `max` octets (CRLF included);
    /// the whole line must arrive within `io_timeout`.
    pub async fn read_line(&mut self, max: usize) -> Result<Line, IoStop> {
        let deadline = self.deadline();
        let mut discarding = false;
        loop {
            let buf = self.buffered();
            if let Some(i) = buf.iter().position(|&b| b == b'\n') {
                let line = &buf[..i];
                let result = if discarding || i + 1 > max {
                    Line::TooLong
                } else if i == 0 || line[i - 1] != b'\r' || line[..i - 1].contains(&b'\r') {
                    Line::BareNewline
                } else {
                    Line::Text(line[..i - 1].to_vec())
                };
                self.consume(i + 1);
                return Ok(result);
            }
            if buf.len() >= max {
                discarding = true;
                let n = buf.len();
                self.consume(n);
            }
            self.fill(deadline).await?;
        }
    }

    /// Feeds input to `sink` until it reports the end (DATA); what follows
    /// the end stays buffered for the next command. Each `io_timeout` must
    /// bring a line end.
    pub async fn read_until(
        &mut self,
        mut sink: impl FnMut(&[u8]) -> Option<usize>,
    ) -> Result<(), IoStop> {
        let mut deadline = self.deadline();
        loop {
            if !self.buffered().is_empty() {
                let buf = self.buffered();
                let len = buf.len();
                if let Some(n) = sink(buf) {
                    self.consume(n);
                    return Ok(());
                }
                self.consume(len);
            }
            if self.fill(deadline).await?.contains(&b'\n') {
                deadline = self.deadline();
            }
        }
    }

    /// Passes exactly `n` octets to `sink` (BDAT). Each `io_timeout` must
    /// bring [`BDAT_PROGRESS`] octets (or the rest of the chunk).
    pub async fn read_exact(
        &mut self,
        mut n: u64,
        mut sink: impl FnMut(&[u8]),
    ) -> Result<(), IoStop> {
        let mut deadline = self.deadline();
        let mut progress = 0u64;
        loop {
            let buf = self.buffered();
            let take = usize::try_from(n).unwrap_or(usize::MAX).min(buf.len());
            if take > 0 {
                sink(&buf[..take]);
                self.consume(take);
                n -= take as u64;
            }
            if n == 0 {
                return Ok(());
            }
            progress += self.fill(deadline).await?.len() as u64;
            if progress >= BDAT_PROGRESS {
                progress = 0;
                deadline = self.deadline();
            }
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Conn<MaybeTls<S>> {
    /// Sends the pending replies (the `220`), discards pipelined
    /// plaintext, and runs the server side of the TLS handshake. On an
    /// error the stream is gone and the session must end.
    pub async fn start_tls(&mut self, tls: &ServerTls) -> Result<TlsInfo, IoStop> {
        self.flush().await?;
        self.input.clear();
        self.pos = 0;
        let Some(plain) = self.io.take_plain() else {
            return Err(IoStop::Closed);
        };
        match tokio::time::timeout(self.timeout, tls.acceptor.accept(plain)).await {
            Ok(Ok(s)) => {
                let info = tls.info(s.get_ref().1);
                self.io = MaybeTls::Server(Box::new(s));
                Ok(info)
            }
            Ok(Err(_)) => Err(IoStop::Closed),
            Err(_) => Err(IoStop::Timeout),
        }
    }

    /// True once TLS is established.
    pub fn is_tls(&self) -> bool {
        self.io.is_tls()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use tokio::io::DuplexStream;

    /// A peer that writes `chunks`, one every `gap`, counting what it wrote.
    fn dribble(
        mut peer: DuplexStream,
        chunks: Vec<Vec<u8>>,
        gap: Duration,
    ) -> (Arc<AtomicUsize>, tokio::task::JoinHandle<DuplexStream>) {
        let sent = Arc::new(AtomicUsize::new(0));
        let count = sent.clone();
        let task = tokio::spawn(async move {
            for c in chunks {
                if peer.write_all(&c).await.is_err() {
                    break;
                }
                count.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(gap).await;
            }
            peer
        });
        (sent, task)
    }

    fn bytes(n: usize, b: u8) -> Vec<Vec<u8>> {
        (0..n).map(|_| vec![b]).collect()
    }

    /// One octet every 20 ms, never a line end: cut at io_timeout, long
    /// before the dribbler is done (a per-read timeout never fires).
    #[tokio::test]
    async fn dribbled_command_line_times_out() {
        let (io, peer) = tokio::io::duplex(1024);
        let mut conn = Conn::new(io, Duration::from_millis(200));
        let (sent, task) = dribble(peer, bytes(100, b'x'), Duration::from_millis(20));
        assert_eq!(conn.read_line(512).await, Err(IoStop::Timeout));
        assert!(sent.load(Ordering::SeqCst) < 100);
        task.abort();
    }

    #[tokio::test]
    async fn dribbled_data_line_times_out() {
        let (io, peer) = tokio::io::duplex(1024);
        let mut conn = Conn::new(io, Duration::from_millis(200));
        let (sent, task) = dribble(peer, bytes(100, b'x'), Duration::from_millis(20));
        assert_eq!(conn.read_until(|_| None).await, Err(IoStop::Timeout));
        assert!(sent.load(Ordering::SeqCst) < 100);
        task.abort();
    }

    #[tokio::test]
    async fn dribbled_bdat_chunk_times_out() {
        let (io, peer) = tokio::io::duplex(1024);
        let mut conn = Conn::new(io, Duration::from_millis(200));
        let (sent, task) = dribble(peer, bytes(100, b'x'), Duration::from_millis(20));
        assert_eq!(conn.read_exact(5000, |_| {}).await, Err(IoStop::Timeout));
        assert!(sent.load(Ordering::SeqCst) < 100);
        task.abort();
    }

    /// DATA as a whole may take longer than io_timeout when every
    /// io_timeout brings lines.
    #[tokio::test]
    async fn slow_data_with_lines_goes_on() {
        let (io, peer) = tokio::io::duplex(1024);
        let mut conn = Conn::new(io, Duration::from_millis(300));
        let mut lines: Vec<Vec<u8>> = (0..10).map(|_| b"line\r\n".to_vec()).collect();
        lines.push(b".\r\n".to_vec());
        let (_, task) = dribble(peer, lines, Duration::from_millis(60));
        let mut all = Vec::new();
        let r = conn
            .read_until(|b| {
                all.extend_from_slice(b);
                all.ends_with(b"\r\n.\r\n").then_some(b.len())
            })
            .await;
        assert_eq!(r, Ok(()));
        assert_eq!(all.len(), 63);
        task.await.unwrap();
    }

    /// A command line arriving in pieces within io_timeout is one line.
    #[tokio::test]
    async fn line_in_pieces() {
        let (io, peer) = tokio::io::duplex(1024);
        let mut conn = Conn::new(io, Duration::from_secs(5));
        let chunks = vec![b"NO".to_vec(), b"OP\r".to_vec(), b"\n".to_vec()];
        let (_, task) = dribble(peer, chunks, Duration::from_millis(10));
        assert_eq!(conn.read_line(512).await, Ok(Line::Text(b"NOOP".to_vec())));
        task.await.unwrap();
    }
}

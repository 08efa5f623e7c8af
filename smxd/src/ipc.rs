//! Inter-component messages (DESIGN.md "smxd: processes"): components talk
//! over Unix stream sockets in the queue directory (`qmsmtps/`, `qmsmtpc/`,
//! `qmsmar/`, README §2.4.1), one multiplexed connection per peer.
//!
//! A frame is a 4-byte big-endian length and that many bytes of JSON: one
//! [`Envelope`] carrying a protocol version, a sequence number and the
//! message. Frames are bounded ([`MAX_FRAME`]); a frame that is too large,
//! not JSON, or of another version is an error for that connection only:
//! the caller closes it, the process goes on.
//!
//! [`Client`] multiplexes: many requests may be in flight on one connection,
//! each answered by the frame with the same sequence number, in any order.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Poll;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::{mpsc, oneshot, Notify};

/// The version of the message set; both ends must speak the same.
pub const VERSION: u16 = 1;

/// The largest frame accepted (1 MiB): envelopes are small; content never
/// travels over these sockets (it is in the CDB).
pub const MAX_FRAME: usize = 1 << 20;

/// What goes into one frame.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope<T> {
    /// [`VERSION`] of the sender.
    pub v: u16,
    /// Matches an answer to its request.
    pub seq: u64,
    /// The message.
    pub msg: T,
}

/// Why a frame could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum IpcError {
    /// The peer announced a frame larger than [`MAX_FRAME`].
    #[error("frame of {0} bytes is larger than the limit of {MAX_FRAME}")]
    TooLarge(usize),
    /// The frame is not a message of this protocol.
    #[error("malformed frame: {0}")]
    Malformed(String),
    /// The peer speaks another version.
    #[error("peer speaks protocol version {0}, this is version {VERSION}")]
    Version(u16),
    /// The connection failed.
    #[error("connection: {0}")]
    Io(#[from] std::io::Error),
    /// The connection was closed before the answer came.
    #[error("connection closed")]
    Closed,
}

/// Reads one frame; `Ok(None)` at a clean end of stream.
pub async fn read_frame<T: DeserializeOwned, R: AsyncRead + Unpin>(
    r: &mut R,
) -> Result<Option<Envelope<T>>, IpcError> {
    let mut len = [0u8; 4];
    match r.read_exact(&mut len).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    let len = u32::from_be_bytes(len) as usize;
    if len > MAX_FRAME {
        return Err(IpcError::TooLarge(len));
    }
    let mut buf = vec![0u8; len];
    r.read_exact(&mut buf).await?;
    match serde_json::from_slice::<Envelope<T>>(&buf) {
        Ok(env) if env.v == VERSION => Ok(Some(env)),
        Ok(env) => Err(IpcError::Version(env.v)),
        // Not a message of this version's set: a newer peer gets a clear
        // version error rather than a parse failure.
        Err(e) => {
            #[derive(Deserialize)]
            struct Head {
                v: u16,
            }
            match serde_json::from_slice::<Head>(&buf) {
                Ok(head) if head.v != VERSION => Err(IpcError::Version(head.v)),
                _ => Err(IpcError::Malformed(e.to_string())),
            }
        }
    }
}

/// Writes one frame and flushes it.
pub async fn write_frame<T: Serialize, W: AsyncWrite + Unpin>(
    w: &mut W,
    seq: u64,
    msg: &T,
) -> Result<(), IpcError> {
    let mut frame = Vec::new();
    encode_frame(&mut frame, seq, msg)?;
    w.write_all(&frame).await?;
    w.flush().await?;
    Ok(())
}

/// Appends one frame to `out`.
fn encode_frame<T: Serialize>(out: &mut Vec<u8>, seq: u64, msg: &T) -> Result<(), IpcError> {
    let start = out.len();
    out.extend_from_slice(&[0; 4]);
    serde_json::to_writer(
        &mut *out,
        &Envelope {
            v: VERSION,
            seq,
            msg,
        },
    )
    .map_err(|e| IpcError::Malformed(e.to_string()))?;
    let len = out.len() - start - 4;
    if len > MAX_FRAME {
        out.truncate(start);
        return Err(IpcError::TooLarge(len));
    }
    out[start..start + 4].copy_from_slice(&(len as u32).to_be_bytes());
    Ok(())
}

/// The sequence number of a request that wants no answer
/// ([`Client::notify`]); calls are numbered from 1.
const NO_ANSWER: u64 = 0;

/// Bytes of frames gathered into one write by [`write_queued`].
const WRITE_BATCH: usize = 256 * 1024;
/// How often [`write_queued`] yields at most to gather frames for a write.
const GATHER_YIELDS: usize = 4;

/// Writes the frames queued on `rx` until it closes or a write fails:
/// whatever is queued when the writer wakes goes out in one write, so that
/// under load many requests or answers cost one system call and one
/// wake-up of the peer, not one each.
async fn write_queued<T: Serialize, W: AsyncWrite + Unpin>(
    w: &mut W,
    rx: &mut mpsc::Receiver<(u64, T)>,
) -> Result<(), IpcError> {
    let mut buf = Vec::with_capacity(8192);
    while let Some((seq, msg)) = rx.recv().await {
        buf.clear();
        encode_frame(&mut buf, seq, &msg)?;
        // Before writing, let the tasks that are ready run (yield): what
        // they queue meanwhile goes out in the same write, and the peer
        // wakes once for all of it. Again while that brings more frames,
        // up to GATHER_YIELDS times; an idle connection pays one yield.
        let mut rounds = 0;
        loop {
            let before = buf.len();
            while buf.len() < WRITE_BATCH {
                match rx.try_recv() {
                    Ok((seq, msg)) => encode_frame(&mut buf, seq, &msg)?,
                    Err(_) => break,
                }
            }
            let settled = rounds > 0 && buf.len() == before;
            if settled || rounds == GATHER_YIELDS || buf.len() >= WRITE_BATCH {
                break;
            }
            tokio::task::yield_now().await;
            rounds += 1;
        }
        w.write_all(&buf).await?;
        w.flush().await?;
    }
    Ok(())
}

/// Buffer of the reading half: a wake-up reads every frame that has
/// arrived, not one length and one body per system call.
const READ_BUFFER: usize = 64 * 1024;

type Waiters<A> = Arc<Mutex<HashMap<u64, oneshot::Sender<A>>>>;

/// The requesting end of a multiplexed connection.
pub struct Client<Q, A> {
    next: AtomicU64,
    out: mpsc::Sender<(u64, Q)>,
    waiters: Waiters<A>,
    closed: Arc<Closed>,
    /// The reader task: it holds the read half, so it is stopped when the
    /// client goes away (the writer ends when `out` is dropped), and the
    /// peer sees the connection close.
    reader: tokio::task::AbortHandle,
}

impl<Q, A> Drop for Client<Q, A> {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

/// Set once either half of the connection has failed; wakes [`Client::closed`].
#[derive(Default)]
struct Closed {
    flag: AtomicBool,
    notify: Notify,
}

impl Closed {
    /// Marks the connection dead and fails every pending call.
    fn close<A>(&self, waiters: &Waiters<A>) {
        self.flag.store(true, Ordering::SeqCst);
        // Dropping the senders wakes every waiter with Closed.
        if let Ok(mut m) = waiters.lock() {
            m.clear();
        }
        self.notify.notify_waiters();
    }
}

impl<Q, A> Client<Q, A>
where
    Q: Serialize + Send + Sync + 'static,
    A: DeserializeOwned + Send + 'static,
{
    /// Starts the reader and writer tasks of a connection. When the
    /// connection fails, every pending and later request gets
    /// [`IpcError::Closed`].
    pub fn new<S>(stream: S) -> Self
    where
        S: AsyncRead + AsyncWrite + Send + 'static,
    {
        let (rd, mut wr) = tokio::io::split(stream);
        let mut rd = BufReader::with_capacity(READ_BUFFER, rd);
        let (out, mut rx) = mpsc::channel::<(u64, Q)>(1024);
        let waiters: Waiters<A> = Arc::new(Mutex::new(HashMap::new()));
        let closed = Arc::new(Closed::default());
        let (w, c) = (waiters.clone(), closed.clone());
        tokio::spawn(async move {
            let _ = write_queued(&mut wr, &mut rx).await;
            c.close(&w);
        });
        let (w, c) = (waiters.clone(), closed.clone());
        let reader = tokio::spawn(async move {
            while let Ok(Some(env)) = read_frame::<A, _>(&mut rd).await {
                let waiter = w.lock().ok().and_then(|mut m| m.remove(&env.seq));
                if let Some(tx) = waiter {
                    let _ = tx.send(env.msg);
                }
            }
            c.close(&w);
        })
        .abort_handle();
        Client {
            next: AtomicU64::new(1),
            out,
            waiters,
            closed,
            reader,
        }
    }

    /// True once the connection has failed; every call then fails.
    pub fn is_closed(&self) -> bool {
        self.closed.flag.load(Ordering::SeqCst)
    }

    /// Waits until the connection has failed.
    pub async fn closed(&self) {
        loop {
            let notified = self.closed.notify.notified();
            if self.is_closed() {
                return;
            }
            notified.await;
        }
    }

    /// Sends a request that wants no answer: the peer handles it and
    /// writes nothing back. Returns once it is queued for sending.
    pub async fn notify(&self, msg: Q) -> Result<(), IpcError> {
        if self.is_closed() {
            return Err(IpcError::Closed);
        }
        self.out
            .send((NO_ANSWER, msg))
            .await
            .map_err(|_| IpcError::Closed)
    }

    /// Sends a request and waits for its answer.
    pub async fn call(&self, msg: Q) -> Result<A, IpcError> {
        let seq = self.next.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.waiters
            .lock()
            .map_err(|_| IpcError::Closed)?
            .insert(seq, tx);
        // Checked after the waiter is in place: a close that happens from
        // here on clears it, one that happened before is seen here.
        if self.is_closed() {
            if let Ok(mut m) = self.waiters.lock() {
                m.remove(&seq);
            }
            return Err(IpcError::Closed);
        }
        if self.out.send((seq, msg)).await.is_err() {
            if let Ok(mut m) = self.waiters.lock() {
                m.remove(&seq);
            }
            return Err(IpcError::Closed);
        }
        rx.await.map_err(|_| IpcError::Closed)
    }
}

/// Serves the answering end of a multiplexed connection: each request is
/// handled concurrently by `handler` (so slow answers do not hold up fast
/// ones) and its answer written back with the request's sequence number,
/// unless it wants none ([`Client::notify`]).
/// Returns at the end of the stream or on an error, which is returned so
/// the caller can log it (a malformed frame closes the connection, never
/// the process).
pub async fn serve<Q, A, S, F, Fut>(stream: S, handler: F) -> Result<(), IpcError>
where
    Q: DeserializeOwned + Send + 'static,
    A: Serialize + Send + Sync + 'static,
    S: AsyncRead + AsyncWrite + Send + 'static,
    F: Fn(Q) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = A> + Send + 'static,
{
    let (rd, mut wr) = tokio::io::split(stream);
    let mut rd = BufReader::with_capacity(READ_BUFFER, rd);
    let (tx, mut rx) = mpsc::channel::<(u64, A)>(1024);
    let writer = tokio::spawn(async move {
        let _ = write_queued(&mut wr, &mut rx).await;
    });
    let handler = Arc::new(handler);
    let result = loop {
        match read_frame::<Q, _>(&mut rd).await {
            Ok(Some(env)) => {
                // Most answers are ready at once (a map lookup): the
                // handler is polled once here, which spares a task per
                // request; one that must wait (DNS, a database) goes on
                // in a task of its own, so it holds up no other request.
                let mut fut = Box::pin(handler(env.msg));
                // A handler that panics costs its own request only (no
                // answer, as when it ran in a task of its own), not the
                // connection.
                let first = std::future::poll_fn(|cx| {
                    Poll::Ready(std::panic::catch_unwind(std::panic::AssertUnwindSafe(
                        || fut.as_mut().poll(cx),
                    )))
                })
                .await;
                match first {
                    Err(_) => {}
                    Ok(Poll::Ready(answer)) => {
                        if env.seq != NO_ANSWER && tx.send((env.seq, answer)).await.is_err() {
                            break Err(IpcError::Closed);
                        }
                    }
                    Ok(Poll::Pending) => {
                        // Every such task holds a sender, so the writer (and
                        // this function) ends only after the last one,
                        // answered or not.
                        let tx = tx.clone();
                        tokio::spawn(async move {
                            let answer = fut.await;
                            if env.seq != NO_ANSWER {
                                let _ = tx.send((env.seq, answer)).await;
                            }
                        });
                    }
                }
            }
            Ok(None) => break Ok(()),
            Err(e) => break Err(e),
        }
    };
    drop(tx);
    let _ = writer.await;
    result
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    enum Ask {
        Double(u64),
    }

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    enum Answer {
        Is(u64),
    }

    /// A server that answers in reverse order of arrival, in batches.
    async fn serve<S: AsyncRead + AsyncWrite + Unpin>(mut s: S, batch: usize) {
        let mut pending = Vec::new();
        while let Ok(Some(env)) = read_frame::<Ask, _>(&mut s).await {
            pending.push(env);
            if pending.len() == batch {
                while let Some(e) = pending.pop() {
                    let Ask::Double(n) = e.msg;
                    write_frame(&mut s, e.seq, &Answer::Is(2 * n))
                        .await
                        .unwrap();
                }
            }
        }
    }

    #[tokio::test]
    async fn answers_are_matched_by_sequence_number() {
        let (a, b) = tokio::io::duplex(4096);
        tokio::spawn(serve(b, 10));
        let client = Arc::new(Client::<Ask, Answer>::new(a));
        let mut tasks = Vec::new();
        for n in 0..100u64 {
            let c = client.clone();
            tasks.push(tokio::spawn(
                async move { (n, c.call(Ask::Double(n)).await) },
            ));
        }
        for t in tasks {
            let (n, r) = t.await.unwrap();
            assert_eq!(r.unwrap(), Answer::Is(2 * n));
        }
    }

    /// Frames queued while the writer is busy leave in one write and are
    /// read back one by one, in order, through the buffered reader.
    #[tokio::test]
    async fn queued_frames_go_out_together_and_read_back_in_order() {
        let (tx, mut rx) = mpsc::channel::<(u64, Ask)>(100);
        for n in 0..50u64 {
            tx.send((n, Ask::Double(n))).await.unwrap();
        }
        drop(tx);
        let mut wire = Vec::new();
        write_queued(&mut wire, &mut rx).await.unwrap();
        let mut rd = BufReader::with_capacity(READ_BUFFER, &wire[..]);
        for n in 0..50u64 {
            let env = read_frame::<Ask, _>(&mut rd).await.unwrap().unwrap();
            assert_eq!((env.seq, env.msg), (n, Ask::Double(n)));
        }
        assert!(read_frame::<Ask, _>(&mut rd).await.unwrap().is_none());
    }

    /// A notification (sequence number 0) is handled and gets no answer:
    /// after the answers of the calls around it, the stream ends.
    #[tokio::test]
    async fn a_notification_is_handled_without_an_answer() {
        use tokio::io::AsyncWriteExt as _;
        let (mut a, b) = tokio::io::duplex(4096);
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        let server = tokio::spawn(super::serve(b, move |q: Ask| {
            let s = s.clone();
            async move {
                let Ask::Double(n) = q;
                s.lock().unwrap().push(n);
                Answer::Is(2 * n)
            }
        }));
        write_frame(&mut a, 5, &Ask::Double(3)).await.unwrap();
        write_frame(&mut a, NO_ANSWER, &Ask::Double(7))
            .await
            .unwrap();
        write_frame(&mut a, 6, &Ask::Double(4)).await.unwrap();
        a.shutdown().await.unwrap();
        let mut answers = Vec::new();
        while let Some(env) = read_frame::<Answer, _>(&mut a).await.unwrap() {
            answers.push((env.seq, env.msg));
        }
        answers.sort_by_key(|(seq, _)| *seq);
        assert_eq!(answers, [(5, Answer::Is(6)), (6, Answer::Is(8))]);
        server.await.unwrap().unwrap();
        let mut got = seen.lock().unwrap().clone();
        got.sort_unstable();
        assert_eq!(got, [3, 4, 7]);
    }

    /// A handler that panics (a bug) costs its own request, not the
    /// connection: the requests after it are still read and answered.
    #[tokio::test]
    async fn a_panicking_handler_costs_only_its_request() {
        let (mut a, b) = tokio::io::duplex(4096);
        let server = tokio::spawn(super::serve(b, |q: Ask| async move {
            let Ask::Double(n) = q;
            assert_ne!(n, 13, "unlucky");
            Answer::Is(2 * n)
        }));
        write_frame(&mut a, 1, &Ask::Double(13)).await.unwrap();
        write_frame(&mut a, 2, &Ask::Double(2)).await.unwrap();
        let env = read_frame::<Answer, _>(&mut a).await.unwrap().unwrap();
        assert_eq!((env.seq, env.msg), (2, Answer::Is(4)));
        drop(a);
        server.await.unwrap().unwrap();
    }

    /// A sink that counts the writes it gets.
    #[derive(Default)]
    struct CountingWriter {
        writes: Arc<std::sync::atomic::AtomicUsize>,
        bytes: Vec<u8>,
    }

    impl AsyncWrite for CountingWriter {
        fn poll_write(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
            buf: &[u8],
        ) -> Poll<std::io::Result<usize>> {
            self.writes.fetch_add(1, Ordering::SeqCst);
            self.bytes.extend_from_slice(buf);
            Poll::Ready(Ok(buf.len()))
        }
        fn poll_flush(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> Poll<std::io::Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn poll_shutdown(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> Poll<std::io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    /// The writer yields before it writes: frames that tasks ready at
    /// that moment queue go out in the same write (one system call, one
    /// wake-up of the peer), not in one write each.
    #[tokio::test(flavor = "current_thread")]
    async fn frames_queued_by_ready_tasks_share_a_write() {
        let (tx, mut rx) = mpsc::channel::<(u64, Ask)>(16);
        let sink = CountingWriter::default();
        let writes = sink.writes.clone();
        let writer = tokio::spawn(async move {
            let mut sink = sink;
            write_queued(&mut sink, &mut rx).await.unwrap();
            sink.bytes
        });
        tx.send((1, Ask::Double(1))).await.unwrap();
        for n in 2..=4u64 {
            let tx = tx.clone();
            tokio::spawn(async move { tx.send((n, Ask::Double(n))).await.unwrap() });
        }
        drop(tx);
        let bytes = writer.await.unwrap();
        assert_eq!(writes.load(Ordering::SeqCst), 1);
        let mut rd = &bytes[..];
        let mut seqs = Vec::new();
        while let Some(env) = read_frame::<Ask, _>(&mut rd).await.unwrap() {
            seqs.push(env.seq);
        }
        assert_eq!(seqs, [1, 2, 3, 4]);
    }

    /// Answers that are ready at once are given in the read loop; a
    /// handler that must wait goes on in a task of its own and holds up
    /// none of the requests after it.
    #[tokio::test]
    async fn a_waiting_handler_holds_up_no_other_request() {
        let (mut a, b) = tokio::io::duplex(4096);
        let release = Arc::new(Notify::new());
        let r = release.clone();
        let server = tokio::spawn(super::serve(b, move |q: Ask| {
            let r = r.clone();
            async move {
                let Ask::Double(n) = q;
                if n == 0 {
                    r.notified().await;
                }
                Answer::Is(2 * n)
            }
        }));
        write_frame(&mut a, 1, &Ask::Double(0)).await.unwrap();
        write_frame(&mut a, 2, &Ask::Double(2)).await.unwrap();
        write_frame(&mut a, 3, &Ask::Double(3)).await.unwrap();
        let mut first = Vec::new();
        for _ in 0..2 {
            let env = read_frame::<Answer, _>(&mut a).await.unwrap().unwrap();
            first.push((env.seq, env.msg));
        }
        first.sort_by_key(|(seq, _)| *seq);
        assert_eq!(first, [(2, Answer::Is(4)), (3, Answer::Is(6))]);
        release.notify_one();
        let env = read_frame::<Answer, _>(&mut a).await.unwrap().unwrap();
        assert_eq!((env.seq, env.msg), (1, Answer::Is(0)));
        drop(a);
        server.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn dropping_the_client_closes_the_connection() {
        let (a, mut b) = tokio::io::duplex(4096);
        let client = Client::<Ask, Answer>::new(a);
        drop(client);
        // The peer reads the end of the stream: both halves are gone.
        let r = tokio::time::timeout(
            std::time::Duration::from_secs(5),
            read_frame::<Ask, _>(&mut b),
        )
        .await
        .expect("the connection was not closed");
        assert!(matches!(r, Ok(None)));
    }

    #[tokio::test]
    async fn closed_connection_fails_pending_calls() {
        let (a, b) = tokio::io::duplex(4096);
        let client = Client::<Ask, Answer>::new(a);
        drop(b);
        assert!(matches!(
            client.call(Ask::Double(1)).await,
            Err(IpcError::Closed)
        ));
    }

    #[tokio::test]
    async fn oversized_malformed_and_foreign_frames_are_errors() {
        let (mut a, mut b) = tokio::io::duplex(1 << 16);
        a.write_all(&((MAX_FRAME as u32) + 1).to_be_bytes())
            .await
            .unwrap();
        assert!(matches!(
            read_frame::<Ask, _>(&mut b).await,
            Err(IpcError::TooLarge(_))
        ));

        let (mut a, mut b) = tokio::io::duplex(1 << 16);
        a.write_all(&3u32.to_be_bytes()).await.unwrap();
        a.write_all(b"{x]").await.unwrap();
        assert!(matches!(
            read_frame::<Ask, _>(&mut b).await,
            Err(IpcError::Malformed(_))
        ));

        let (mut a, mut b) = tokio::io::duplex(1 << 16);
        let body = br#"{"v":99,"seq":1,"msg":{"Double":2}}"#;
        a.write_all(&(body.len() as u32).to_be_bytes())
            .await
            .unwrap();
        a.write_all(body).await.unwrap();
        assert!(matches!(
            read_frame::<Ask, _>(&mut b).await,
            Err(IpcError::Version(99))
        ));

        let (a, mut b) = tokio::io::duplex(1 << 16);
        drop(a);
        assert!(read_frame::<Ask, _>(&mut b).await.unwrap().is_none());
    }
}

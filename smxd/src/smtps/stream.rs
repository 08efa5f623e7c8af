//! The byte stream under an SMTP session: plaintext until STARTTLS
//! (RFC 3207), TLS after it. [`MaybeTls`] lets `conn.rs` keep one stream
//! type for the whole session and swap the plaintext stream for its TLS
//! wrapping in place (`Conn::start_tls`); the SMTP client uses the same
//! type for its side of STARTTLS.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A stream that is plaintext or TLS (server or client side).
pub enum MaybeTls<S> {
    /// Before STARTTLS.
    Plain(S),
    /// After the server side of a TLS handshake.
    Server(Box<tokio_rustls::server::TlsStream<S>>),
    /// After the client side of a TLS handshake.
    Client(Box<tokio_rustls::client::TlsStream<S>>),
    /// During a handshake, or after a failed one: every I/O fails.
    Gone,
}

impl<S> MaybeTls<S> {
    /// Takes the plaintext stream out for a handshake; `None` if the
    /// stream is already TLS (or gone).
    pub fn take_plain(&mut self) -> Option<S> {
        match std::mem::replace(self, MaybeTls::Gone) {
            MaybeTls::Plain(s) => Some(s),
            other => {
                *self = other;
                None
            }
        }
    }

    /// True once TLS is established.
    pub fn is_tls(&self) -> bool {
        matches!(self, MaybeTls::Server(_) | MaybeTls::Client(_))
    }
}

fn gone() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "TLS handshake failed")
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for MaybeTls<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            MaybeTls::Plain(s) => Pin::new(s).poll_read(cx, buf),
            MaybeTls::Server(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
            MaybeTls::Client(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
            MaybeTls::Gone => Poll::Ready(Err(gone())),
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for MaybeTls<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            MaybeTls::Plain(s) => Pin::new(s).poll_write(cx, buf),
            MaybeTls::Server(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
            MaybeTls::Client(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
            MaybeTls::Gone => Poll::Ready(Err(gone())),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            MaybeTls::Plain(s) => Pin::new(s).poll_flush(cx),
            MaybeTls::Server(s) => Pin::new(s.as_mut()).poll_flush(cx),
            MaybeTls::Client(s) => Pin::new(s.as_mut()).poll_flush(cx),
            MaybeTls::Gone => Poll::Ready(Err(gone())),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            MaybeTls::Plain(s) => Pin::new(s).poll_shutdown(cx),
            MaybeTls::Server(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
            MaybeTls::Client(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
            MaybeTls::Gone => Poll::Ready(Ok(())),
        }
    }
}

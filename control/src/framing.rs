//! JSON Lines framing of the control protocol (smx-control(5)): one JSON
//! object per `\n`-terminated line, requests limited to [`MAX_REQUEST`]
//! bytes. An over-long line is consumed up to its newline and reported as
//! [`Line::TooLong`], so the connection stays usable.

use serde::Serialize;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWrite, AsyncWriteExt};

/// The largest request line accepted, newline excluded (64 KiB).
pub const MAX_REQUEST: usize = 64 * 1024;

/// What [`read_line`] read.
#[derive(Debug, PartialEq, Eq)]
pub enum Line {
    /// A line without its terminator (`\r\n` or `\n`).
    Line(Vec<u8>),
    /// A line longer than the limit; its bytes were discarded.
    TooLong,
    /// End of stream (a final unterminated line is returned first).
    Eof,
}

/// Reads one line of at most `limit` bytes from `r`.
pub async fn read_line<R: AsyncBufRead + Unpin>(r: &mut R, limit: usize) -> std::io::Result<Line> {
    let mut buf = Vec::new();
    let mut too_long = false;
    loop {
        let avail = r.fill_buf().await?;
        if avail.is_empty() {
            return Ok(if too_long {
                Line::TooLong
            } else if buf.is_empty() {
                Line::Eof
            } else {
                Line::Line(buf)
            });
        }
        let (chunk, used, done) = match avail.iter().position(|&b| b == b'\n') {
            Some(i) => (&avail[..i], i + 1, true),
            None => (avail, avail.len(), false),
        };
        if !too_long {
            if buf.len() + chunk.len() > limit {
                too_long = true;
                buf = Vec::new();
            } else {
                buf.extend_from_slice(chunk);
            }
        }
        r.consume(used);
        if done {
            if too_long {
                return Ok(Line::TooLong);
            }
            if buf.last() == Some(&b'\r') {
                buf.pop();
            }
            return Ok(Line::Line(buf));
        }
    }
}

/// Writes `value` as one JSON line and flushes.
pub async fn write_json<W: AsyncWrite + Unpin, T: Serialize>(
    w: &mut W,
    value: &T,
) -> std::io::Result<()> {
    let mut bytes = serde_json::to_vec(value).map_err(std::io::Error::other)?;
    bytes.push(b'\n');
    w.write_all(&bytes).await?;
    w.flush().await
}

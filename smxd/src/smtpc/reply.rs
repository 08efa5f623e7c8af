//! Reading a server's reply (RFC 5321 §4.2): one or more lines
//! `CODE-text` ... `CODE text`, all with the same three-digit code. The
//! enhanced status code (RFC 3463, announced by ENHANCEDSTATUSCODES) is
//! taken from the first line when present, otherwise derived from the
//! reply class (`2.0.0`, `4.0.0`, `5.0.0`), so every reply passed on to the
//! QMGR carries one.
//!
//! Replies come from the network: a line longer than [`MAX_LINE`], more
//! than [`MAX_LINES`] lines, a missing or inconsistent code, or a line that
//! is not text is [`ReplyError::Malformed`], which the caller treats as a
//! temporary failure of the connection.

use crate::proto::SmtpReply;
use tokio::io::{AsyncBufRead, AsyncBufReadExt};

/// Longest reply line accepted, CRLF included (RFC 5321 §4.5.3.1.5 says
/// 512; servers exceed it in practice).
pub const MAX_LINE: usize = 4096;
/// Most lines in one reply (a long EHLO answer has some 20).
pub const MAX_LINES: usize = 128;
/// Longest text kept in an [`SmtpReply`] handed to the QMGR.
const MAX_TEXT: usize = 512;

/// Why a reply could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReplyError {
    /// The reply breaks the syntax or the limits.
    #[error("malformed reply: {0}")]
    Malformed(String),
    /// The server closed the connection.
    #[error("connection closed by the server")]
    Closed,
    /// Reading failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// A complete reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The three-digit code.
    pub code: u16,
    /// The text of each line, without code and separator.
    pub lines: Vec<String>,
}

impl Reply {
    /// 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.code)
    }

    /// 3xx (354 after DATA).
    pub fn is_intermediate(&self) -> bool {
        (300..400).contains(&self.code)
    }

    /// 4xx.
    pub fn is_temporary(&self) -> bool {
        (400..500).contains(&self.code)
    }

    /// The reply for the QMGR: code, enhanced status code (given, or from
    /// the class) and the text of all lines joined, bounded.
    pub fn to_smtp(&self) -> SmtpReply {
        let class = self.code / 100;
        let mut status = None;
        let mut texts = Vec::with_capacity(self.lines.len());
        for (i, line) in self.lines.iter().enumerate() {
            let (st, text) = split_status(line, class);
            if i == 0 {
                status = st;
            }
            if !text.is_empty() {
                texts.push(text);
            }
        }
        let mut text = texts.join("; ");
        if text.len() > MAX_TEXT {
            let mut cut = MAX_TEXT;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            text.truncate(cut);
        }
        let status = status.unwrap_or_else(|| format!("{}.0.0", class.clamp(2, 5)));
        SmtpReply {
            code: self.code,
            status,
            text,
        }
    }
}

/// Splits `5.1.1 text` into the enhanced status code (only if its class
/// matches the reply's) and the text.
fn split_status(line: &str, class: u16) -> (Option<String>, &str) {
    let (first, rest) = line.split_once(' ').unwrap_or((line, ""));
    let parts: Vec<&str> = first.split('.').collect();
    let valid = parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()))
        && parts[0] == class.to_string();
    if valid {
        (Some(first.to_string()), rest.trim_start())
    } else {
        (None, line)
    }
}

/// Reads one line (up to LF), bounded by [`MAX_LINE`]; the line without
/// its CRLF (or bare LF).
async fn read_line<R: AsyncBufRead + Unpin>(r: &mut R) -> Result<String, ReplyError> {
    let mut line = Vec::new();
    loop {
        let buf = r.fill_buf().await?;
        if buf.is_empty() {
            return Err(ReplyError::Closed);
        }
        let (take, done) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (buf.len(), false),
        };
        line.extend_from_slice(&buf[..take]);
        r.consume(take);
        if line.len() > MAX_LINE {
            return Err(ReplyError::Malformed(format!(
                "reply line longer than {MAX_LINE} bytes"
            )));
        }
        if done {
            break;
        }
    }
    line.pop();
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    String::from_utf8(line).map_err(|_| ReplyError::Malformed("reply is not UTF-8".into()))
}

/// Reads one complete reply.
pub async fn read_reply<R: AsyncBufRead + Unpin>(r: &mut R) -> Result<Reply, ReplyError> {
    let mut code = None;
    let mut lines = Vec::new();
    loop {
        let line = read_line(r).await?;
        let (c, last, text) = parse_line(&line)?;
        match code {
            None => code = Some(c),
            Some(prev) if prev != c => {
                return Err(ReplyError::Malformed(format!(
                    "reply code changes from {prev} to {c} within a reply"
                )))
            }
            Some(_) => {}
        }
        lines.push(text.to_string());
        if last {
            break;
        }
        if lines.len() >= MAX_LINES {
            return Err(ReplyError::Malformed(format!(
                "reply longer than {MAX_LINES} lines"
            )));
        }
    }
    Ok(Reply {
        code: code.unwrap_or(0),
        lines,
    })
}

/// `250-text` → (250, false, "text"); `250 text` or `250` → (250, true, ..).
fn parse_line(line: &str) -> Result<(u16, bool, &str), ReplyError> {
    let bytes = line.as_bytes();
    let bad = || ReplyError::Malformed(format!("{:?}", truncate(line)));
    if bytes.len() < 3 || !bytes[..3].iter().all(u8::is_ascii_digit) {
        return Err(bad());
    }
    let code: u16 = line[..3].parse().map_err(|_| bad())?;
    if !(200..600).contains(&code) {
        return Err(bad());
    }
    if line.chars().any(|c| c.is_control() && c != '\t') {
        return Err(bad());
    }
    match bytes.get(3) {
        None => Ok((code, true, "")),
        Some(b' ') => Ok((code, true, &line[4..])),
        Some(b'-') => Ok((code, false, &line[4..])),
        Some(_) => Err(bad()),
    }
}

fn truncate(s: &str) -> &str {
    let mut end = s.len().min(80);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    async fn read(input: &str) -> Result<Reply, ReplyError> {
        let mut r = tokio::io::BufReader::new(input.as_bytes());
        read_reply(&mut r).await
    }

    #[tokio::test]
    async fn single_and_multi_line_replies() {
        let r = read("250 2.1.0 ok\r\n").await.unwrap();
        assert_eq!(r.to_smtp(), SmtpReply::new(250, "2.1.0", "ok"));
        let r = read("250-mx.example\r\n250-PIPELINING\r\n250 SIZE 100\r\n")
            .await
            .unwrap();
        assert_eq!(r.lines, ["mx.example", "PIPELINING", "SIZE 100"]);
        let r = read("550 no such user\r\n").await.unwrap();
        assert_eq!(r.to_smtp(), SmtpReply::new(550, "5.0.0", "no such user"));
        // A status of the wrong class is text, not a status.
        let r = read("451 5.1.1 odd\r\n").await.unwrap();
        assert_eq!(r.to_smtp().status, "4.0.0");
        let r = read("354\n").await.unwrap();
        assert!(r.is_intermediate());
    }

    #[tokio::test]
    async fn malformed_replies_are_errors() {
        for bad in [
            "25 ok\r\n",
            "abc ok\r\n",
            "250xok\r\n",
            "250-a\r\n251 b\r\n",
            "100 too low\r\n",
            "250 a\x00b\r\n",
        ] {
            assert!(
                matches!(read(bad).await, Err(ReplyError::Malformed(_))),
                "{bad:?}"
            );
        }
        assert!(matches!(read("250-a\r\n").await, Err(ReplyError::Closed)));
        let long = format!("250 {}\r\n", "x".repeat(MAX_LINE));
        assert!(matches!(read(&long).await, Err(ReplyError::Malformed(_))));
        let many = "250-x\r\n".repeat(MAX_LINES + 1);
        assert!(matches!(read(&many).await, Err(ReplyError::Malformed(_))));
    }
}

//! The DATA reader (RFC 5321 §4.1.1.4, §4.5.2): dot-unstuffing and the end
//! of data, without I/O. Bytes are fed as they arrive; [`DataReader::feed`]
//! says where the end of data was.
//!
//! # Smuggling (CVE-2023-51764, -51765, -51766)
//!
//! Only `<CR><LF>.<CR><LF>` ends the data (the first CRLF may be the one
//! that ended the `354`-provoking DATA line: an empty message is `.<CR><LF>`).
//! A bare LF never starts a new line and a bare CR never ends one, so none
//! of `\n.\n`, `\n.\r\n`, `\r.\r`, `\r\n.\n`, `\n.\r`, `\r\n.\r`, `\r.\n`,
//! `\r.\r\n` ... can end the data: the reader keeps reading, and what a
//! smuggler meant as a second message is just more text of the first.
//!
//! Decision: a bare CR or LF anywhere in the content makes the whole
//! message rejected with `550 5.6.0` *after* the real end of data (RFC 5321
//! §2.3.8: CR and LF occur only as CRLF). Rejecting rather than
//! normalising means smx never relays text that another server might split
//! differently; rejecting at the end rather than closing with 421 keeps the
//! session in step with the client (what follows the real end is a command
//! again) and never lets the rest of the stream be read as commands. A
//! client that ends its data with a bare `\n.\n` waits until `io_timeout`
//! and gets `421 4.4.2`: that is the price of never guessing.
//!
//! The size limit is counted while reading: beyond `max_message_size` the
//! content is no longer stored (memory stays bounded) but the reader goes on
//! to the end of data, then the session answers `552 5.3.4`.

use super::budget::{ContentBudget, Held};
use std::sync::Arc;

/// Room reserved for a message before it is read.
const INITIAL_ROOM: usize = 16_384;

/// Where the reader is in the current line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// At the start of a line (after CRLF, or at the start of data).
    LineStart,
    /// After a `.` at the start of a line.
    Dot,
    /// After `.` `CR` at the start of a line.
    DotCr,
    /// Inside a line.
    Text,
    /// After a CR inside a line.
    Cr,
    /// The end of data was seen.
    Done,
}

/// What the reader found once the data ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Content {
    /// The unstuffed message, up to the size limit.
    pub message: Vec<u8>,
    /// The unstuffed size (counted even beyond the limit).
    pub size: u64,
    /// A bare CR or LF was seen.
    pub bare_newline: bool,
    /// The size limit was exceeded.
    pub too_big: bool,
    /// The process's content budget had no room for the message
    /// (`budget.rs`); what was read is dropped.
    pub over_budget: bool,
}

/// Incremental DATA reader.
#[derive(Debug)]
pub struct DataReader {
    state: State,
    limit: u64,
    content: Content,
    held: Held,
}

impl DataReader {
    /// A reader that stores at most `limit` octets (0: no limit).
    pub fn new(limit: u64) -> Self {
        DataReader::with_budget(limit, None)
    }

    /// [`DataReader::new`], the content also held against `budget`.
    pub fn with_budget(limit: u64, budget: Option<Arc<ContentBudget>>) -> Self {
        DataReader {
            state: State::LineStart,
            limit,
            content: Content {
                // Most messages fit; larger ones grow from here.
                message: Vec::with_capacity(if limit == 0 {
                    INITIAL_ROOM
                } else {
                    INITIAL_ROOM.min(usize::try_from(limit).unwrap_or(INITIAL_ROOM))
                }),
                size: 0,
                bare_newline: false,
                too_big: false,
                over_budget: false,
            },
            held: Held::new(budget),
        }
    }

    fn emit(&mut self, bytes: &[u8]) {
        self.content.size += bytes.len() as u64;
        if self.limit > 0 && self.content.size > self.limit {
            self.content.too_big = true;
        }
        if self.content.too_big || self.content.over_budget {
            return;
        }
        if !self.held.append(&mut self.content.message, bytes) {
            self.content.over_budget = true;
        }
    }

    /// One byte inside a line (state `Text` or `Cr`).
    fn text(&mut self, b: u8) {
        match (self.state, b) {
            (State::Cr, b'\n') => {
                self.emit(b"\r\n");
                self.state = State::LineStart;
            }
            (State::Cr, _) => {
                // The pending CR was bare.
                self.content.bare_newline = true;
                self.emit(b"\r");
                self.state = State::Text;
                self.text(b);
            }
            (_, b'\r') => self.state = State::Cr,
            (_, b'\n') => {
                // A bare LF: kept as text, and the line goes on.
                self.content.bare_newline = true;
                self.emit(b"\n");
                self.state = State::Text;
            }
            (_, _) => {
                self.emit(&[b]);
                self.state = State::Text;
            }
        }
    }

    /// Feeds bytes; returns `Some(n)` when the end of data is within the
    /// first `n` bytes of `input` (the rest belongs to the next command),
    /// `None` when all of `input` was data.
    pub fn feed(&mut self, input: &[u8]) -> Option<usize> {
        let mut i = 0;
        while let Some(&b) = input.get(i) {
            match self.state {
                State::Done => return Some(i),
                State::Text => {
                    // The run of ordinary octets up to the next CR or LF
                    // goes in at once.
                    let rest = input.get(i..).unwrap_or_default();
                    let run = rest
                        .iter()
                        .position(|&c| c == b'\r' || c == b'\n')
                        .unwrap_or(rest.len());
                    if run > 0 {
                        self.emit(rest.get(..run).unwrap_or_default());
                        i += run;
                        continue;
                    }
                    self.text(b);
                }
                State::LineStart if b == b'.' => self.state = State::Dot,
                State::LineStart => {
                    self.state = State::Text;
                    self.text(b);
                }
                State::Dot if b == b'\r' => self.state = State::DotCr,
                State::Dot => {
                    // Dot-stuffed line: the leading dot is dropped.
                    self.state = State::Text;
                    self.text(b);
                }
                State::DotCr if b == b'\n' => {
                    self.state = State::Done;
                    return Some(i + 1);
                }
                State::DotCr => {
                    // `.` CR x: the CR was bare; the dot was a stuffing dot.
                    self.state = State::Cr;
                    self.text(b);
                }
                State::Cr => self.text(b),
            }
            i += 1;
        }
        (self.state == State::Done).then_some(input.len())
    }

    /// True once the end of data was seen.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// The content read.
    pub fn finish(self) -> Content {
        self.content
    }

    /// The content read, and its share of the budget (given back when
    /// dropped).
    pub fn finish_held(self) -> (Content, Held) {
        (self.content, self.held)
    }
}

/// True when `content` has a CR or LF that is not part of a CRLF (used for
/// BDAT, where no dot processing happens but the same rule applies).
pub fn has_bare_newline(content: &[u8]) -> bool {
    let mut prev_cr = false;
    for &b in content {
        match b {
            b'\n' if !prev_cr => return true,
            _ if prev_cr && b != b'\n' => return true,
            _ => {}
        }
        prev_cr = b == b'\r';
    }
    prev_cr
}

/// Number of `Received:` header fields in the header section of `message`
/// (up to the first empty line), for `max_hops`.
pub fn count_received(message: &[u8]) -> u64 {
    let mut n = 0;
    for line in message.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            break;
        }
        if line.len() >= 9 && line[..9].eq_ignore_ascii_case(b"received:") {
            n += 1;
        }
    }
    n
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn read_all(input: &[u8]) -> (Option<usize>, Content) {
        let mut r = DataReader::new(0);
        let end = r.feed(input);
        (end, r.finish())
    }

    #[test]
    fn ends_only_at_crlf_dot_crlf() {
        let (end, c) = read_all(b"Subject: x\r\n\r\nhello\r\n.\r\nQUIT\r\n");
        assert_eq!(end, Some(24));
        assert_eq!(c.message, b"Subject: x\r\n\r\nhello\r\n");
        assert!(!c.bare_newline);
        assert_eq!(read_all(b".\r\n").0, Some(3));
        for smuggle in [
            &b"a\n.\nMAIL"[..],
            b"a\n.\r\nMAIL",
            b"a\r.\r\nMAIL",
            b"a\r.\rMAIL",
            b"a\r\n.\nMAIL",
            b"a\n.\rMAIL",
            b"a\r\n.\rMAIL",
            b"a\r.\nMAIL",
            b"a\r\n.\r\r\nMAIL",
            b"a\r\r\n.\r\n",
        ] {
            let (end, c) = read_all(smuggle);
            if smuggle == b"a\r\r\n.\r\n" {
                // the CRLF.CRLF is real; the CR before it is bare
                assert_eq!(end, Some(smuggle.len()));
            } else {
                assert_eq!(end, None, "{smuggle:?}");
            }
            assert!(c.bare_newline, "{smuggle:?}");
        }
    }

    #[test]
    fn byte_at_a_time_and_unstuffing() {
        let input = b"..leading\r\n.x\r\n..\r\n.\r\n";
        let mut r = DataReader::new(0);
        let mut end = None;
        for (i, b) in input.iter().enumerate() {
            if r.feed(std::slice::from_ref(b)).is_some() {
                end = Some(i + 1);
                break;
            }
        }
        assert_eq!(end, Some(input.len()));
        assert_eq!(r.finish().message, b".leading\r\nx\r\n.\r\n");
    }

    #[test]
    fn limit() {
        let mut r = DataReader::new(5);
        assert!(r.feed(b"123456\r\n.\r\n").is_some());
        let c = r.finish();
        assert!(c.too_big);
        assert_eq!(c.size, 8);
        assert!(c.message.len() <= 5);
    }

    #[test]
    fn bare_and_hops() {
        assert!(!has_bare_newline(b"a\r\nb\r\n"));
        assert!(has_bare_newline(b"a\nb"));
        assert!(has_bare_newline(b"a\rb"));
        assert!(has_bare_newline(b"a\r"));
        assert_eq!(
            count_received(b"Received: a\r\nreceived: b\r\n c\r\nX: y\r\n\r\nReceived: body\r\n"),
            2
        );
    }

    /// Splitting the input anywhere gives the same result as one feed.
    #[test]
    fn split_anywhere_same_result() {
        let input: &[u8] = b"a\r\n..b\r\nc\rd\n.\r\ne\r\n.\r\nNEXT";
        let mut whole = DataReader::new(0);
        let end = whole.feed(input);
        let whole = whole.finish();
        for cut in 0..input.len() {
            let mut r = DataReader::new(0);
            let got = match r.feed(&input[..cut]) {
                Some(n) => Some(n),
                None => r.feed(&input[cut..]).map(|n| n + cut),
            };
            assert_eq!(got, end, "cut at {cut}");
            assert_eq!(r.finish(), whole, "cut at {cut}");
        }
    }

    /// Inputs made of `a`, `.`, CR and LF (every pattern the reader
    /// cares about), fed whole and byte by byte: the same end and the
    /// same content.
    #[test]
    fn whole_runs_and_single_bytes_agree() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..5_000 {
            let mut input = Vec::new();
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let len = (seed % 40) as usize;
            let mut bits = seed;
            for k in 0..len {
                if k % 30 == 0 {
                    bits = bits.rotate_left(17) ^ 0x9e37_79b9_7f4a_7c15;
                }
                input.push([b'a', b'.', b'\r', b'\n'][(bits >> (2 * (k % 30))) as usize & 3]);
            }
            let mut whole = DataReader::new(0);
            let end = whole.feed(&input);
            let mut single = DataReader::new(0);
            let mut single_end = None;
            for (i, b) in input.iter().enumerate() {
                if let Some(n) = single.feed(std::slice::from_ref(b)) {
                    single_end = Some(i + n);
                    break;
                }
            }
            assert_eq!(end, single_end, "{input:?}");
            assert_eq!(whole.finish(), single.finish(), "{input:?}");
        }
    }
}

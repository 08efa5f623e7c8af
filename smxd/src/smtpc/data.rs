//! The message on the wire after DATA (RFC 5321 §4.5.2, §2.3.8): the
//! content file is streamed through [`DotStuffer`], which doubles a `.` at
//! the start of a line and emits CRLF as the only line ending, then the
//! terminating `CRLF.CRLF`.
//!
//! Line endings: the content file should hold CRLF lines only (the SMTP
//! server normalizes what it accepts), but a bare LF or a bare CR found in
//! it is sent as CRLF, so no next hop can read a line boundary where we
//! did not see one (SMTP smuggling, CVE-2023-51764 and kin).

/// A streaming encoder; keeps its state across chunks, so a file may be
/// read in pieces of any size.
#[derive(Debug)]
pub struct DotStuffer {
    at_line_start: bool,
    pending_cr: bool,
}

impl Default for DotStuffer {
    fn default() -> Self {
        DotStuffer::new()
    }
}

impl DotStuffer {
    /// At the start of the message.
    pub fn new() -> DotStuffer {
        DotStuffer {
            at_line_start: true,
            pending_cr: false,
        }
    }

    fn end_line(&mut self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"\r\n");
        self.at_line_start = true;
    }

    /// Appends the encoding of `chunk` to `out`.
    pub fn encode(&mut self, chunk: &[u8], out: &mut Vec<u8>) {
        out.reserve(chunk.len() + chunk.len() / 64 + 4);
        for &b in chunk {
            if self.pending_cr {
                self.pending_cr = false;
                self.end_line(out);
                if b == b'\n' {
                    continue;
                }
            }
            match b {
                b'\r' => self.pending_cr = true,
                b'\n' => self.end_line(out),
                _ => {
                    if self.at_line_start && b == b'.' {
                        out.push(b'.');
                    }
                    self.at_line_start = false;
                    out.push(b);
                }
            }
        }
    }

    /// Appends the end of the message: a CRLF if the last line was not
    /// ended, then `.CRLF`.
    pub fn finish(mut self, out: &mut Vec<u8>) {
        if self.pending_cr {
            self.pending_cr = false;
            self.end_line(out);
        }
        if !self.at_line_start {
            self.end_line(out);
        }
        out.extend_from_slice(b".\r\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode_in_pieces(input: &[u8], piece: usize) -> Vec<u8> {
        let mut d = DotStuffer::new();
        let mut out = Vec::new();
        for c in input.chunks(piece.max(1)) {
            d.encode(c, &mut out);
        }
        d.finish(&mut out);
        out
    }

    #[test]
    fn dots_are_doubled_and_line_ends_are_crlf() {
        let cases: &[(&[u8], &[u8])] = &[
            (b"a\r\n.b\r\n", b"a\r\n..b\r\n.\r\n"),
            (b".\r\n", b"..\r\n.\r\n"),
            (b"a.b\r\n", b"a.b\r\n.\r\n"),
            (b"no end", b"no end\r\n.\r\n"),
            (b"", b".\r\n"),
            (b"a\n.\nb", b"a\r\n..\r\nb\r\n.\r\n"),
            (b"a\rb\r\n", b"a\r\nb\r\n.\r\n"),
            (b"a\r", b"a\r\n.\r\n"),
            (b"x\r\n.\r\n\r\n", b"x\r\n..\r\n\r\n.\r\n"),
            (b"x\n\r\n.\r.\n", b"x\r\n\r\n..\r\n..\r\n.\r\n"),
        ];
        for (input, want) in cases {
            for piece in [1, 2, 3, 1000] {
                assert_eq!(
                    encode_in_pieces(input, piece),
                    *want,
                    "{:?} in pieces of {piece}",
                    String::from_utf8_lossy(input)
                );
            }
        }
    }
}

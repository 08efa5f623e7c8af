//! Parser of one SMTP command line (RFC 5321 §4.1), from bytes, without
//! I/O. The line is given without its CRLF; the reader has already
//! rejected bare CR/LF (see `conn.rs`).
//!
//! Verbs are case-insensitive. Line limits (§4.5.3.1.4, counted with the
//! CRLF): 512 octets for every command, extended for MAIL by the
//! extensions smx offers (SIZE +26 RFC 1870, ENVID/RET +100 RFC 3461,
//! AUTH +500 RFC 4954, SMTPUTF8 +10 RFC 6531) and for RCPT by 500
//! (NOTIFY/ORCPT, RFC 3461 §4). AUTH lines (RFC 4954 §4 allows 12288
//! octets) may be as long as the longest line the reader keeps, enough for
//! PLAIN and LOGIN. Longer lines get `500 5.5.2`.

use super::reply::Reply;

/// RFC 5321 §4.5.3.1.4 command line limit, CRLF included.
pub const COMMAND_LINE_MAX: usize = 512;
/// MAIL line limit with the extensions' allowances.
pub const MAIL_LINE_MAX: usize = 512 + 26 + 100 + 500 + 10;
/// RCPT line limit with RFC 3461's allowance.
pub const RCPT_LINE_MAX: usize = 512 + 500;
/// The longest line the reader keeps; anything longer is discarded.
pub const READ_LINE_MAX: usize = MAIL_LINE_MAX;

/// One parsed command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// EHLO domain.
    Ehlo(String),
    /// HELO domain.
    Helo(String),
    /// MAIL FROM: with what follows the colon.
    Mail(String),
    /// RCPT TO: with what follows the colon.
    Rcpt(String),
    /// DATA.
    Data,
    /// BDAT size \[LAST\] (RFC 3030).
    Bdat {
        /// Octets of the chunk.
        size: u64,
        /// LAST was given.
        last: bool,
    },
    /// RSET.
    Rset,
    /// NOOP \[string\].
    Noop,
    /// QUIT.
    Quit,
    /// VRFY string.
    Vrfy,
    /// HELP \[string\].
    Help,
    /// STARTTLS (RFC 3207).
    StartTls,
    /// AUTH mechanism [initial-response] (RFC 4954), the argument as sent.
    Auth(String),
    /// A verb smx knows but does not offer (EXPN, TURN, ETRN, ...).
    NotImplemented,
}

/// Why a line is not a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// Unknown verb: `500 5.5.1`.
    Unknown,
    /// Line too long for its verb: `500 5.5.2`.
    TooLong,
    /// Bad arguments: the reply to send.
    Syntax(Reply),
    /// BDAT without a readable size: the session must close.
    BdatSyntax,
}

fn arg_of(line: &str) -> (&str, &str) {
    match line.split_once(' ') {
        Some((v, a)) => (v, a),
        None => (line, ""),
    }
}

/// Strips a case-insensitive prefix such as `FROM:`.
fn strip_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

/// Parses one line (without CRLF).
pub fn parse(line: &[u8]) -> Result<Command, ParseError> {
    let text = std::str::from_utf8(line).map_err(|_| ParseError::Syntax(Reply::bad_line()))?;
    let (verb, arg) = arg_of(text);
    let verb = verb.to_ascii_uppercase();
    let limit = match verb.as_str() {
        "MAIL" => MAIL_LINE_MAX,
        "RCPT" => RCPT_LINE_MAX,
        "AUTH" => READ_LINE_MAX,
        _ => COMMAND_LINE_MAX,
    };
    if line.len() + 2 > limit {
        return Err(ParseError::TooLong);
    }
    let no_arg = |c: Command| {
        if arg.trim().is_empty() {
            Ok(c)
        } else {
            Err(ParseError::Syntax(Reply::syntax(&format!(
                "{verb} takes no argument"
            ))))
        }
    };
    match verb.as_str() {
        "EHLO" | "HELO" => {
            let d = arg.trim();
            if d.is_empty() {
                return Err(ParseError::Syntax(Reply::syntax(&format!(
                    "{verb} hostname"
                ))));
            }
            Ok(if verb == "EHLO" {
                Command::Ehlo(d.to_string())
            } else {
                Command::Helo(d.to_string())
            })
        }
        "MAIL" => strip_ci(arg, "FROM:")
            .map(|a| Command::Mail(a.to_string()))
            .ok_or_else(|| ParseError::Syntax(Reply::syntax("MAIL FROM:<address>"))),
        "RCPT" => strip_ci(arg, "TO:")
            .map(|a| Command::Rcpt(a.to_string()))
            .ok_or_else(|| ParseError::Syntax(Reply::syntax("RCPT TO:<address>"))),
        "DATA" => no_arg(Command::Data),
        "RSET" => no_arg(Command::Rset),
        "QUIT" => no_arg(Command::Quit),
        "NOOP" => Ok(Command::Noop),
        "HELP" => Ok(Command::Help),
        "VRFY" => {
            if arg.trim().is_empty() {
                Err(ParseError::Syntax(Reply::syntax("VRFY address")))
            } else {
                Ok(Command::Vrfy)
            }
        }
        "BDAT" => bdat(arg),
        "STARTTLS" => no_arg(Command::StartTls),
        "AUTH" => {
            if arg.trim().is_empty() {
                Err(ParseError::Syntax(Reply::syntax("AUTH mechanism")))
            } else {
                Ok(Command::Auth(arg.trim().to_string()))
            }
        }
        "EXPN" | "TURN" | "ETRN" | "ATRN" | "SEND" | "SOML" | "SAML" => Ok(Command::NotImplemented),
        _ => Err(ParseError::Unknown),
    }
}

/// `BDAT chunk-size [SP end-marker]`, chunk-size = 1*DIGIT.
fn bdat(arg: &str) -> Result<Command, ParseError> {
    let mut it = arg.split(' ');
    let n = it.next().unwrap_or("");
    if n.is_empty() || n.len() > 19 || !n.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ParseError::BdatSyntax);
    }
    let size = n.parse::<u64>().map_err(|_| ParseError::BdatSyntax)?;
    match (it.next(), it.next()) {
        (None, _) => Ok(Command::Bdat { size, last: false }),
        (Some(l), None) if l.eq_ignore_ascii_case("LAST") => Ok(Command::Bdat { size, last: true }),
        _ => Err(ParseError::BdatSyntax),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        let cases: &[(&[u8], Result<Command, ParseError>)] = &[
            (b"ehlo x", Ok(Command::Ehlo("x".into()))),
            (b"HeLo x.example", Ok(Command::Helo("x.example".into()))),
            (
                b"EHLO",
                Err(ParseError::Syntax(Reply::syntax("EHLO hostname"))),
            ),
            (b"mail from:<a@b>", Ok(Command::Mail("<a@b>".into()))),
            (
                b"MAIL TO:<a@b>",
                Err(ParseError::Syntax(Reply::syntax("MAIL FROM:<address>"))),
            ),
            (b"RCPT To:<a@b>", Ok(Command::Rcpt("<a@b>".into()))),
            (b"DATA", Ok(Command::Data)),
            (
                b"DATA x",
                Err(ParseError::Syntax(Reply::syntax("DATA takes no argument"))),
            ),
            (b"NOOP hi", Ok(Command::Noop)),
            (
                b"BDAT 10",
                Ok(Command::Bdat {
                    size: 10,
                    last: false,
                }),
            ),
            (
                b"bdat 0 last",
                Ok(Command::Bdat {
                    size: 0,
                    last: true,
                }),
            ),
            (b"BDAT x", Err(ParseError::BdatSyntax)),
            (b"BDAT 1 FIRST", Err(ParseError::BdatSyntax)),
            (b"BDAT -1", Err(ParseError::BdatSyntax)),
            (b"EXPN x", Ok(Command::NotImplemented)),
            (b"starttls", Ok(Command::StartTls)),
            (
                b"AUTH PLAIN AGpvZQBz",
                Ok(Command::Auth("PLAIN AGpvZQBz".into())),
            ),
            (b"FOO", Err(ParseError::Unknown)),
            (b"", Err(ParseError::Unknown)),
        ];
        for (line, want) in cases {
            assert_eq!(&parse(line), want, "{}", String::from_utf8_lossy(line));
        }
    }

    #[test]
    fn limits() {
        let noop = format!("NOOP {}", "x".repeat(505));
        assert_eq!(parse(noop.as_bytes()), Ok(Command::Noop));
        let noop = format!("NOOP {}", "x".repeat(506));
        assert_eq!(parse(noop.as_bytes()), Err(ParseError::TooLong));
        let rcpt = format!("RCPT TO:<{}@b>", "x".repeat(600));
        assert_eq!(
            parse(rcpt.as_bytes()),
            Ok(Command::Rcpt(format!("<{}@b>", "x".repeat(600))))
        );
    }

    /// Cheap stand-in for a fuzz target: arbitrary bytes never panic the
    /// command or address parsers.
    #[test]
    fn arbitrary_input_never_panics() {
        use crate::smtps::address::{parse_mail, parse_rcpt, ParamContext};
        let ctx = ParamContext {
            esmtp: true,
            eightbitmime: true,
            max_size: 100,
        };
        let alphabet: &[u8] = b"<>@:.,\" =+-[]\x00\r\nMAILFROTCPSZEBDY0123456789";
        let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
        for _ in 0..20_000 {
            let len = (seed % 40) as usize;
            let mut line = b"MAIL FROM:".to_vec();
            for _ in 0..len {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let b = alphabet[(seed % alphabet.len() as u64) as usize];
                line.push(if seed & 0x3f == 0 { 0xc3 } else { b });
            }
            let _ = parse(&line);
            if let Ok(text) = std::str::from_utf8(&line[10..]) {
                let _ = parse_mail(text, &ctx);
                let _ = parse_rcpt(text, &ctx, seed & 1 == 0);
            }
        }
    }
}

//! Every reply the SMTP server sends, from one table ([`Reply`]'s
//! constructors), each with an RFC 3463 enhanced status code.
//!
//! Two exceptions, both by RFC: the lines of the EHLO reply carry no code
//! (RFC 2034 §3 exempts them, and a code would break clients that read the
//! keywords), and `354` carries none because RFC 3463 has classes only for
//! success (2), persistent (4) and permanent (5) outcomes.
//!
//! `soft_bounce` (README §3.10 item 3f) is applied by [`Reply::soften`]:
//! see there for which replies it changes.

/// One SMTP reply, possibly multi-line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The three-digit reply code (RFC 5321 §4.2).
    pub code: u16,
    /// The enhanced status code (RFC 3463), e.g. `2.1.0`; empty only for
    /// the EHLO reply and `354`.
    pub status: String,
    /// The text lines; at least one.
    pub lines: Vec<String>,
}

impl Reply {
    /// A one-line reply.
    pub fn new(code: u16, status: &str, text: impl Into<String>) -> Self {
        Reply {
            code,
            status: status.to_string(),
            lines: vec![text.into()],
        }
    }

    /// A multi-line reply; every line carries the same enhanced code.
    pub fn multi(code: u16, status: &str, lines: Vec<String>) -> Self {
        let lines = if lines.is_empty() {
            vec![String::new()]
        } else {
            lines
        };
        Reply {
            code,
            status: status.to_string(),
            lines,
        }
    }

    /// True for 4xx and 5xx.
    pub fn is_error(&self) -> bool {
        self.code >= 400
    }

    /// True for syntax and sequence errors (500–504, 555): they count as
    /// bad commands, and are not logged one by one.
    pub fn is_syntax_error(&self) -> bool {
        matches!(self.code, 500..=504 | 555)
    }

    /// True when the server closes the connection after this reply.
    pub fn closes(&self) -> bool {
        self.code == 421 || self.code == 221
    }

    /// `soft_bounce`: turns a permanent rejection of mail (550–554) into the
    /// matching temporary one (450–454, `5.x.y` into `4.x.y`), as Postfix's
    /// soft_bounce does, so that a misconfiguration never bounces mail.
    /// Syntax and sequence errors (500–504, 555) are left alone: the same
    /// malformed command would fail again on every retry, and a 4xx would
    /// only hide the client's bug.
    pub fn soften(&mut self) {
        if (550..=554).contains(&self.code) {
            self.code -= 100;
            if let Some(rest) = self.status.strip_prefix('5') {
                self.status = format!("4{rest}");
            }
        }
    }

    /// Appends the reply in wire form (`code SP|- [status SP] text CRLF`).
    pub fn write_to(&self, out: &mut Vec<u8>) {
        let last = self.lines.len().saturating_sub(1);
        for (i, line) in self.lines.iter().enumerate() {
            let sep = if i == last { ' ' } else { '-' };
            let text = if self.status.is_empty() {
                format!("{}{}{}\r\n", self.code, sep, line)
            } else if line.is_empty() {
                format!("{}{}{}\r\n", self.code, sep, self.status)
            } else {
                format!("{}{}{} {}\r\n", self.code, sep, self.status, line)
            };
            out.extend_from_slice(text.as_bytes());
        }
    }

    /// The reply in wire form.
    pub fn to_wire(&self) -> Vec<u8> {
        let mut v = Vec::new();
        self.write_to(&mut v);
        v
    }

    // --- the table -------------------------------------------------------
    /// `220 2.0.0`: go ahead with the TLS handshake (RFC 3207 §4).
    pub fn ready_tls() -> Self {
        Reply::new(220, "2.0.0", "Ready to start TLS")
    }

    /// `235 2.7.0` (RFC 4954 §6).
    pub fn auth_ok() -> Self {
        Reply::new(235, "2.7.0", "Authentication successful")
    }

    /// `334`: a SASL challenge, base64 (RFC 4954 §4); no enhanced code.
    pub fn challenge(b64: &str) -> Self {
        Reply::new(334, "", b64)
    }

    /// `535 5.7.8` (RFC 4954 §6).
    pub fn auth_failed() -> Self {
        Reply::new(535, "5.7.8", "Authentication credentials invalid")
    }

    /// `538 5.7.11`: the mechanism needs TLS (RFC 4954 §6).
    pub fn auth_needs_tls() -> Self {
        Reply::new(
            538,
            "5.7.11",
            "Encryption required for requested authentication mechanism",
        )
    }

    /// `454 4.7.0`: the password map failed temporarily (RFC 4954 §6).
    pub fn auth_temp() -> Self {
        Reply::new(454, "4.7.0", "Temporary authentication failure")
    }

    /// `501 5.0.0`: the client sent `*` (RFC 4954 §4).
    pub fn auth_cancelled() -> Self {
        Reply::new(501, "5.0.0", "Authentication cancelled")
    }

    /// `501 5.5.2`: a response that is not base64 (RFC 4954 §4).
    pub fn auth_bad_encoding() -> Self {
        Reply::new(501, "5.5.2", "Cannot decode response")
    }

    /// `504 5.5.4`: unknown or not offered mechanism (RFC 4954 §4).
    pub fn auth_unknown_mechanism() -> Self {
        Reply::new(504, "5.5.4", "Unrecognized authentication type")
    }

    /// `220` greeting.
    pub fn greeting(host: &str) -> Self {
        Reply::new(220, "2.0.0", format!("{host} ESMTP smx"))
    }
    /// EHLO reply: first line, then one keyword per line (no enhanced code,
    /// RFC 2034 §3).
    pub fn ehlo(host: &str, keywords: Vec<String>) -> Self {
        let mut lines = vec![host.to_string()];
        lines.extend(keywords);
        Reply::multi(250, "", lines)
    }
    /// HELO reply.
    pub fn helo(host: &str) -> Self {
        Reply::new(250, "2.0.0", host)
    }
    /// Generic success (NOOP, RSET).
    pub fn ok() -> Self {
        Reply::new(250, "2.0.0", "Ok")
    }
    /// MAIL accepted.
    pub fn sender_ok() -> Self {
        Reply::new(250, "2.1.0", "Sender ok")
    }
    /// RCPT accepted.
    pub fn recipient_ok() -> Self {
        Reply::new(250, "2.1.5", "Recipient ok")
    }
    /// DATA accepted: go ahead.
    pub fn start_data() -> Self {
        Reply::new(354, "", "End data with <CR><LF>.<CR><LF>")
    }
    /// Message stored (after the queue committed it).
    pub fn queued(id: &str) -> Self {
        Reply::new(250, "2.0.0", format!("Ok: queued as {id}"))
    }
    /// A BDAT chunk that is not the last one was received.
    pub fn chunk_ok(octets: u64) -> Self {
        Reply::new(250, "2.0.0", format!("{octets} octets received"))
    }
    /// QUIT.
    pub fn bye(host: &str) -> Self {
        Reply::new(221, "2.0.0", format!("{host} closing connection"))
    }
    /// VRFY is never answered with data (no address harvesting).
    pub fn vrfy() -> Self {
        Reply::new(
            252,
            "2.5.0",
            "Cannot VRFY user, but will accept message and attempt delivery",
        )
    }
    /// HELP.
    pub fn help() -> Self {
        Reply::multi(
            214,
            "2.0.0",
            vec![
                "Commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY HELP".to_string(),
                "See RFC 5321".to_string(),
            ],
        )
    }
    /// Unknown verb.
    pub fn unknown_command() -> Self {
        Reply::new(500, "5.5.1", "Error: command not recognized")
    }
    /// A verb smx knows but does not offer here (EXPN, TURN, ...).
    pub fn not_implemented() -> Self {
        Reply::new(502, "5.5.1", "Error: command not implemented")
    }
    /// Command line longer than RFC 5321 §4.5.3.1.4 allows.
    pub fn line_too_long() -> Self {
        Reply::new(500, "5.5.2", "Error: line too long")
    }
    /// A command line with a bare CR or LF, or not UTF-8.
    pub fn bad_line() -> Self {
        Reply::new(
            500,
            "5.5.2",
            "Error: command lines must end in <CR><LF> and contain no bare <CR> or <LF>",
        )
    }
    /// Syntax error in the arguments.
    pub fn syntax(text: &str) -> Self {
        Reply::new(501, "5.5.4", format!("Syntax: {text}"))
    }
    /// Bad MAIL FROM address.
    pub fn bad_sender() -> Self {
        Reply::new(501, "5.1.7", "Bad sender address syntax")
    }
    /// Bad RCPT TO address.
    pub fn bad_recipient() -> Self {
        Reply::new(501, "5.1.3", "Bad recipient address syntax")
    }
    /// Command out of sequence.
    pub fn bad_sequence(text: &str) -> Self {
        Reply::new(503, "5.5.1", format!("Error: {text}"))
    }
    /// Unknown or unsupported MAIL/RCPT parameter (RFC 5321 §4.1.1.11).
    pub fn param_unknown(name: &str) -> Self {
        Reply::new(555, "5.5.4", format!("Unsupported parameter: {name}"))
    }
    /// Parameter with a bad value.
    pub fn param_syntax(name: &str) -> Self {
        Reply::new(501, "5.5.4", format!("Bad parameter value: {name}"))
    }
    /// Non-ASCII address without SMTPUTF8 (RFC 6531 §3.5).
    pub fn needs_smtputf8() -> Self {
        Reply::new(553, "5.6.7", "Non-ASCII address requires SMTPUTF8")
    }
    /// Too large (SIZE parameter or actual size).
    pub fn size_exceeded() -> Self {
        Reply::new(552, "5.3.4", "Message size exceeds fixed limit")
    }
    /// The process holds as much message content as it may (`budget.rs`).
    pub fn no_room_for_message() -> Self {
        Reply::new(
            452,
            "4.3.1",
            "Insufficient system storage for the message now; try again later",
        )
    }
    /// `max_recipients_per_transaction` / `_per_session` reached.
    pub fn too_many_recipients() -> Self {
        Reply::new(452, "4.5.3", "Error: too many recipients")
    }
    /// `max_hops` exceeded (a probable mail loop).
    pub fn too_many_hops() -> Self {
        Reply::new(
            554,
            "5.4.6",
            "Error: too many hops (Received: headers), mail loop?",
        )
    }
    /// DATA or BDAT content with a bare CR or LF (see `data.rs`).
    pub fn bare_newline_in_data() -> Self {
        Reply::new(
            550,
            "5.6.0",
            "Message rejected: bare <CR> or <LF> in content; lines must end in <CR><LF> (RFC 5321 2.3.8)",
        )
    }
    /// DATA/BDAT when every RCPT was rejected (RFC 2920 §3.1).
    pub fn no_valid_recipients() -> Self {
        Reply::new(554, "5.5.1", "Error: no valid recipients")
    }
    /// `io_timeout`.
    pub fn timeout(host: &str) -> Self {
        Reply::new(421, "4.4.2", format!("{host} Error: timeout exceeded"))
    }
    /// A §3.10 limit closes the session.
    pub fn too_many(host: &str, what: &str) -> Self {
        Reply::new(421, "4.7.0", format!("{host} Error: too many {what}"))
    }
    /// The client talked before the greeting.
    pub fn early_talker(host: &str) -> Self {
        Reply::new(
            554,
            "5.5.0",
            format!("{host} Error: talked before the greeting; closing"),
        )
    }
    /// A BDAT whose size cannot be read: what follows cannot be told apart
    /// from commands, so the session ends.
    pub fn bdat_syntax(host: &str) -> Self {
        Reply::new(
            421,
            "4.5.4",
            format!("{host} Error: BDAT needs a size (BDAT <n> [LAST]); closing"),
        )
    }
    /// The backend failed in a way that is not the client's fault.
    pub fn local_error() -> Self {
        Reply::new(451, "4.3.0", "Error: local error, try again later")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_forms() {
        assert_eq!(Reply::ok().to_wire(), b"250 2.0.0 Ok\r\n");
        assert_eq!(
            Reply::help().to_wire(),
            b"214-2.0.0 Commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY HELP\r\n214 2.0.0 See RFC 5321\r\n".to_vec()
        );
        assert_eq!(
            Reply::ehlo("h", vec!["PIPELINING".into()]).to_wire(),
            b"250-h\r\n250 PIPELINING\r\n".to_vec()
        );
    }

    #[test]
    fn soften_only_rejections() {
        let mut r = Reply::new(550, "5.7.1", "no");
        r.soften();
        assert_eq!((r.code, r.status.as_str()), (450, "4.7.1"));
        let mut r = Reply::unknown_command();
        r.soften();
        assert_eq!(r.code, 500);
        let mut r = Reply::param_unknown("X");
        r.soften();
        assert_eq!(r.code, 555);
    }
}

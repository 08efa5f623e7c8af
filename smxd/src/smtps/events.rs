//! What the SMTP server logs about a session (DESIGN.md "Observability",
//! README §3.5 `log_level`), through [`super::Backend::log`], in the style
//! postmasters grep for:
//!
//! - at [`REJECT_LEVEL`] (logged in normal operation, `log_level` 9): every
//!   refusal the server decides itself — an early talker, a §3.10 limit
//!   (`421`, `452 4.5.3`), SIZE, `max_hops`, a bare CR or LF in DATA, a
//!   failed AUTH — and a message the backend could not store, with the
//!   reply, the client, the sender and the command (an AUTH line only with
//!   its mechanism, never the credentials); a timeout; a failed TLS
//!   handshake:
//!   `reject: DATA from [192.0.2.1]:4711: 550 5.6.0 Message rejected: ...;
//!   from=<a@example.org> helo=<client.example> command="DATA"`
//!
//!   The policy refusals of the backend's connect, MAIL and RCPT checks
//!   are logged by the backend (SMAR logs why), so they are not logged
//!   twice; a `421` that one of them earns under a §3.10 limit is.
//! - at [`SESSION_LEVEL`] (`log_level` 10 and up): `connect from` and, at
//!   the end, `disconnect from` with the TLS and AUTH outcome and the
//!   commands given, as `ok/total` where some were refused
//!   (`ehlo=1 mail=1 rcpt=1/2 data=1 quit=1 commands=5/6`), and how the
//!   session ended when the client did not say QUIT.
//!
//! Syntax errors (500–504, 555) are only counted: one line per typo of a
//! broken client would flood the log, and the `421` that a run of them
//! earns is logged.
//!
//! Nothing is formatted unless its level is logged, so a busy server pays
//! for the tallies only. Client text is logged printable-only
//! ([`printable`]) and shortened.

use super::backend::{Peer, SessionInfo};
use super::reply::Reply;
use std::fmt::Write as _;
use std::time::Instant;

/// Refusals, timeouts, failed TLS handshakes.
pub const REJECT_LEVEL: u64 = 9;
/// `connect from` and `disconnect from`.
pub const SESSION_LEVEL: u64 = 10;
/// The most octets of client text (a command, a HELO name) put in a line.
pub const TEXT_MAX: usize = 200;

/// The commands tallied, in the order the disconnect line gives them (in
/// lower case there, `ehlo=1`).
const COMMANDS: [&str; 14] = [
    "EHLO", "HELO", "STARTTLS", "AUTH", "MAIL", "RCPT", "DATA", "BDAT", "RSET", "NOOP", "VRFY",
    "HELP", "QUIT", "UNKNOWN",
];

/// The command `i` of [`COMMANDS`] as `reject:` and `after` name it
/// (`CONNECT` for none).
fn command_name(i: Option<usize>) -> &'static str {
    i.and_then(|i| COMMANDS.get(i))
        .copied()
        .unwrap_or("CONNECT")
}

/// How the session ended, when not by QUIT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// The client closed the connection (or it broke).
    Lost,
    /// `io_timeout` passed.
    Timeout,
}

/// The tallies of one session.
#[derive(Debug)]
pub(super) struct SessionLog {
    started: Instant,
    /// Per command of [`COMMANDS`]: (accepted, given).
    counts: [(u32, u32); COMMANDS.len()],
    /// The command being handled (an index into [`COMMANDS`]), if any.
    current: Option<usize>,
    /// The last verb handled.
    last: Option<usize>,
    /// The refusal sent for the current command, if any, and whether it
    /// is to be logged as a `reject:` line.
    refusal: Option<(Reply, bool)>,
    /// How the session ended, if not by QUIT.
    pub(super) end: Option<End>,
    /// The sender of the last transaction (for RCPT, DATA and BDAT
    /// refusals; DATA ends the transaction before it is logged).
    pub(super) sender: String,
}

impl Default for SessionLog {
    fn default() -> Self {
        SessionLog {
            started: Instant::now(),
            counts: [(0, 0); COMMANDS.len()],
            current: None,
            last: None,
            refusal: None,
            end: None,
            sender: String::new(),
        }
    }
}

/// The index in [`COMMANDS`] of the verb that starts `line`.
fn verb_index(line: &[u8]) -> usize {
    let word = line.split(|&b| b == b' ').next().unwrap_or_default();
    COMMANDS
        .iter()
        .position(|v| v.as_bytes().eq_ignore_ascii_case(word))
        .unwrap_or(COMMANDS.len() - 1)
}

impl SessionLog {
    /// A command line arrived.
    pub(super) fn begin(&mut self, line: &[u8]) {
        self.current = Some(verb_index(line));
        self.refusal = None;
    }

    /// The command is answered: tallies it; returns its verb (upper case)
    /// and the refusal to log, if one is due.
    pub(super) fn finish(&mut self) -> Option<(&'static str, Reply)> {
        let i = self.current.take()?;
        self.last = Some(i);
        let refusal = self.refusal.take();
        if let Some(c) = self.counts.get_mut(i) {
            c.1 += 1;
            if refusal.is_none() {
                c.0 += 1;
            }
        }
        let verb = command_name(Some(i));
        refusal
            .filter(|(r, log)| *log && !r.is_syntax_error())
            .map(|(r, _)| (verb, r))
    }

    /// A reply is sent: an error is remembered as the current command's
    /// refusal.
    pub(super) fn replied(&mut self, r: &Reply) {
        if r.is_error() {
            self.refusal = Some((r.clone(), true));
        }
    }

    /// The refusal just sent is logged otherwise (a timeout has its own
    /// line); it still counts as one.
    pub(super) fn hush(&mut self) {
        if let Some((_, log)) = &mut self.refusal {
            *log = false;
        }
    }

    /// [`SessionLog::hush`] if the refusal just sent is `r` (after
    /// `soft_bounce`, which only changes the code).
    pub(super) fn hush_if(&mut self, r: &Reply) {
        if let Some((sent, log)) = &mut self.refusal {
            if sent.lines == r.lines {
                *log = false;
            }
        }
    }

    /// The `disconnect from` line.
    pub(super) fn disconnect_line(&self, info: &SessionInfo) -> String {
        let mut s = format!("disconnect from {}", peer(&info.peer));
        if let Some(h) = &info.helo {
            let _ = write!(s, " helo=<{}>", printable(h.as_bytes()));
        }
        if let Some(t) = &info.tls {
            let _ = write!(
                s,
                " tls={}:{}{}",
                t.version,
                t.cipher,
                if t.verified { ":verified" } else { "" }
            );
        }
        if let Some(a) = &info.auth {
            let _ = write!(s, " auth={}:{}", a.mechanism, printable(a.user.as_bytes()));
        }
        let (mut ok, mut all) = (0, 0);
        for (v, (good, n)) in COMMANDS.iter().zip(self.counts) {
            if n == 0 {
                continue;
            }
            let v = v.to_ascii_lowercase();
            ok += good;
            all += n;
            if good == n {
                let _ = write!(s, " {v}={n}");
            } else {
                let _ = write!(s, " {v}={good}/{n}");
            }
        }
        if ok == all {
            let _ = write!(s, " commands={all}");
        } else {
            let _ = write!(s, " commands={ok}/{all}");
        }
        if let Some(end) = self.end {
            let how = match end {
                End::Lost => "lost",
                End::Timeout => "timeout",
            };
            let _ = write!(s, " {how} after {}", command_name(self.last));
        }
        let _ = write!(s, " duration={:.3}s", self.started.elapsed().as_secs_f64());
        s
    }

    /// The verb of the command being handled, or of the last one, for a
    /// timeout line.
    pub(super) fn after(&self) -> &'static str {
        command_name(self.current.or(self.last))
    }
}

/// The client as logged: `name[address]:port`, `[address]:port`, or for
/// a session without an address its name or `local`.
pub fn peer(p: &Peer) -> String {
    match (&p.name, p.addr) {
        (Some(n), Some(a)) => format!("{}[{}]:{}", printable(n.as_bytes()), a.ip(), a.port()),
        (None, Some(a)) => format!("[{}]:{}", a.ip(), a.port()),
        (Some(n), None) => printable(n.as_bytes()),
        (None, None) => "local".to_string(),
    }
}

/// Client text fit for a log line: printable ASCII kept, `"` and `\`
/// escaped, anything else as `\xNN`, cut at [`TEXT_MAX`] octets (`...`).
pub fn printable(text: &[u8]) -> String {
    let mut s = String::with_capacity(text.len().min(TEXT_MAX) + 3);
    for &b in text.iter().take(TEXT_MAX) {
        match b {
            b'"' | b'\\' => {
                s.push('\\');
                s.push(char::from(b));
            }
            0x20..=0x7e => s.push(char::from(b)),
            _ => {
                let _ = write!(s, "\\x{b:02x}");
            }
        }
    }
    if text.len() > TEXT_MAX {
        s.push_str("...");
    }
    s
}

/// The command as logged: an AUTH line keeps only its mechanism.
pub fn command(line: &[u8]) -> String {
    let mut words = line.splitn(3, |&b| b == b' ');
    let verb = words.next().unwrap_or_default();
    if verb.eq_ignore_ascii_case(b"AUTH") {
        let mech = words.next().unwrap_or_default();
        return format!("AUTH {}", printable(mech));
    }
    printable(line)
}

/// The `reject:` line.
pub fn reject_line(
    verb: &str,
    info: &SessionInfo,
    sender: Option<&str>,
    line: Option<&[u8]>,
    r: &Reply,
) -> String {
    let mut s = format!(
        "reject: {verb} from {}: {} {} {}",
        peer(&info.peer),
        r.code,
        r.status,
        printable(r.lines.join(" / ").as_bytes())
    );
    let mut extra = Vec::new();
    if let Some(from) = sender {
        extra.push(format!("from=<{}>", printable(from.as_bytes())));
    }
    if let Some(h) = &info.helo {
        extra.push(format!("helo=<{}>", printable(h.as_bytes())));
    }
    if let Some(l) = line {
        extra.push(format!("command=\"{}\"", command(l)));
    }
    if !extra.is_empty() {
        s.push_str("; ");
        s.push_str(&extra.join(" "));
    }
    s
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn info() -> SessionInfo {
        SessionInfo {
            peer: Peer {
                addr: Some("192.0.2.1:4711".parse().unwrap()),
                name: None,
            },
            helo: Some("client.example".to_string()),
            esmtp: true,
            tls: None,
            auth: None,
        }
    }

    #[test]
    fn client_text_is_logged_printable_and_short() {
        assert_eq!(printable(b"a\x1b[2Jb\"c\\"), "a\\x1b[2Jb\\\"c\\\\");
        let long = vec![b'x'; TEXT_MAX + 10];
        let p = printable(&long);
        assert!(p.ends_with("...") && p.len() == TEXT_MAX + 3);
    }

    #[test]
    fn auth_lines_are_logged_without_credentials() {
        assert_eq!(command(b"AUTH PLAIN AGFsaWNlAHNlY3JldA=="), "AUTH PLAIN");
        assert_eq!(command(b"auth login"), "AUTH login");
        assert_eq!(
            command(b"RCPT TO:<b@example.net>"),
            "RCPT TO:<b@example.net>"
        );
    }

    #[test]
    fn refusals_are_tallied_and_syntax_errors_not_reported() {
        let mut l = SessionLog::default();
        l.begin(b"EHLO x");
        l.replied(&Reply::new(250, "", "hi"));
        assert!(l.finish().is_none());
        l.begin(b"rcpt TO:<b@example.net>");
        l.replied(&Reply::new(550, "5.7.1", "relaying denied"));
        let (verb, r) = l.finish().unwrap();
        assert_eq!((verb, r.code), ("RCPT", 550));
        l.begin(b"XYZZY");
        l.replied(&Reply::new(500, "5.5.1", "unknown command"));
        assert!(l.finish().is_none(), "a syntax error is only counted");
        l.end = Some(End::Lost);
        let d = l.disconnect_line(&info());
        assert!(
            d.starts_with(
                "disconnect from [192.0.2.1]:4711 helo=<client.example> \
                 ehlo=1 rcpt=0/1 unknown=0/1 commands=1/3 lost after UNKNOWN duration="
            ),
            "{d}"
        );
    }

    #[test]
    fn the_reject_line_names_client_reply_sender_and_command() {
        let r = Reply::new(550, "5.7.1", "relaying denied");
        let line = reject_line(
            "RCPT",
            &info(),
            Some("a@example.org"),
            Some(b"RCPT TO:<b@example.net>"),
            &r,
        );
        assert_eq!(
            line,
            "reject: RCPT from [192.0.2.1]:4711: 550 5.7.1 relaying denied; \
             from=<a@example.org> helo=<client.example> command=\"RCPT TO:<b@example.net>\""
        );
    }
}

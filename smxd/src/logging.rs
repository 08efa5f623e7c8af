//! Logging (README §3.5; DESIGN.md "Observability"): one line per event,
//! to stderr in the foreground (the default, and what the quick start
//! shows), or to syslog when smxd is started with `-S`.
//!
//! - syslog: each component uses the `log { facility; ident; options }`
//!   of its own section (`ident` defaults to `smx-<component>`, the
//!   `pid` option adds `[pid]`) and sends RFC 3164 lines to the local
//!   syslog daemon over the Unix datagram socket `/dev/log`. If that
//!   socket is not there, lines go to stderr, so nothing is lost silently.
//!   A daemon that does not take a line within [`SYSLOG_SEND_TIMEOUT`]
//!   (its socket queue full: the daemon is stuck or slow) does not stall
//!   the component: that line and those of the next [`SYSLOG_BACKOFF`] go
//!   to stderr, then syslog is tried again.
//! - stderr: `who: message`, written with one write(2) so lines of the
//!   MCP and its children, which share stderr, do not interleave.
//! - `log_level` (larger logs more, 9 for normal operation): a line of
//!   level L is logged when L <= log_level. Errors are level 1, warnings
//!   4, normal events (deliveries, commits) 8, details 11, debugging 14.
//!
//! The target is chosen by the environment variable `SMX_LOG` (`syslog`,
//! `syslog:SOCKET` for another socket than `/dev/log`, or `stderr`), which
//! `smxd -S` sets for the MCP and so for every component it starts.

use smx_grammar::config::LogConf;
use std::io::Write as _;
use std::os::unix::net::UnixDatagram;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// How long a line may wait for room in the syslog daemon's socket.
pub const SYSLOG_SEND_TIMEOUT: Duration = Duration::from_millis(500);
/// How long lines go to stderr after syslog did not take one.
pub const SYSLOG_BACKOFF: Duration = Duration::from_secs(10);

/// Level of errors.
pub const ERROR: u64 = 1;
/// Level of warnings.
pub const WARNING: u64 = 4;
/// Level of normal events.
pub const NOTICE: u64 = 8;
/// Level of details.
pub const INFO: u64 = 11;
/// Level of debugging lines.
pub const DEBUG: u64 = 14;

/// Environment variable that selects the target.
pub const ENV: &str = "SMX_LOG";

/// Where lines go.
#[derive(Debug)]
enum Target {
    Stderr,
    Syslog {
        path: String,
        socket: Mutex<Sink>,
        facility: u8,
        ident: String,
        pid: bool,
    },
}

/// The connection to the syslog daemon.
#[derive(Debug, Default)]
struct Sink {
    socket: Option<UnixDatagram>,
    /// Lines go to stderr until then (the daemon did not take one).
    stderr_until: Option<Instant>,
}

#[derive(Debug)]
struct Logger {
    level: u64,
    target: Target,
}

static LOGGER: OnceLock<Logger> = OnceLock::new();

/// syslog(3) facility numbers (RFC 5424 §6.2.1).
fn facility_code(name: &str) -> u8 {
    match name {
        "kern" => 0,
        "user" => 1,
        "mail" => 2,
        "daemon" => 3,
        "auth" => 4,
        "syslog" => 5,
        "lpr" => 6,
        "news" => 7,
        "cron" => 9,
        "authpriv" => 10,
        "ftp" => 11,
        n => n
            .strip_prefix("local")
            .and_then(|d| d.parse::<u8>().ok())
            .filter(|d| *d <= 7)
            .map_or(2, |d| 16 + d),
    }
}

/// The syslog socket `SMX_LOG` asks for, if it asks for syslog.
pub fn syslog_requested() -> Option<String> {
    let v = std::env::var(ENV).ok()?;
    if v.eq_ignore_ascii_case("syslog") {
        Some("/dev/log".to_string())
    } else {
        v.strip_prefix("syslog:").map(str::to_string)
    }
}

/// Sets up logging for component `who` with its section's `log { }` (or
/// facility mail, ident `smx-WHO` and the pid without one) and
/// `log_level`. Only the first call counts; before it, lines go to stderr
/// at the default level.
pub fn init(who: &str, log: Option<&LogConf>, level: u64) {
    let target = if let Some(path) = syslog_requested() {
        let default_ident = || format!("smx-{}", who.split(' ').next().unwrap_or(who));
        Target::Syslog {
            socket: Mutex::new(Sink {
                socket: connect(&path),
                stderr_until: None,
            }),
            path,
            facility: log.map_or(2, |l| facility_code(&l.facility)),
            ident: log
                .and_then(|l| l.ident.clone())
                .unwrap_or_else(default_ident),
            pid: log.map_or(true, |l| l.options.has("pid")),
        }
    } else {
        Target::Stderr
    };
    let _ = LOGGER.set(Logger { level, target });
}

fn connect(path: &str) -> Option<UnixDatagram> {
    let s = UnixDatagram::unbound().ok()?;
    s.connect(path).ok()?;
    s.set_write_timeout(Some(SYSLOG_SEND_TIMEOUT)).ok()?;
    Some(s)
}

/// Severity (RFC 5424) of a log level.
fn severity(level: u64) -> u8 {
    match level {
        0..=1 => 3,  // err
        2..=4 => 4,  // warning
        5..=8 => 5,  // notice
        9..=11 => 6, // info
        _ => 7,      // debug
    }
}

/// Whether a line at `level` is logged (before [`init`]: up to 9).
pub fn enabled(level: u64) -> bool {
    LOGGER.get().map_or(level <= 9, |l| level <= l.level)
}

/// Logs `msg` for `who` at `level`.
pub fn log(who: &str, level: u64, msg: &str) {
    let Some(logger) = LOGGER.get() else {
        if level <= 9 {
            stderr(who, msg);
        }
        return;
    };
    if level > logger.level {
        return;
    }
    match &logger.target {
        Target::Stderr => stderr(who, msg),
        Target::Syslog {
            path,
            socket,
            facility,
            ident,
            pid,
        } => {
            let pri = u16::from(*facility) * 8 + u16::from(severity(level));
            let pid = if *pid {
                format!("[{}]", std::process::id())
            } else {
                String::new()
            };
            let line = format!("<{pri}>{} {ident}{pid}: {msg}", timestamp());
            let mut sink = socket.lock().unwrap_or_else(|e| e.into_inner());
            if sink.stderr_until.is_some_and(|t| Instant::now() < t) {
                stderr(who, msg);
                return;
            }
            if sink.socket.is_none() {
                sink.socket = connect(path);
            }
            let sent = sink
                .socket
                .as_ref()
                .is_some_and(|s| s.send(line.as_bytes()).is_ok());
            if !sent {
                // The syslog daemon went away or does not keep up:
                // reconnect later, and do not lose this line.
                sink.socket = None;
                sink.stderr_until = Some(Instant::now() + SYSLOG_BACKOFF);
                stderr(who, msg);
            } else {
                sink.stderr_until = None;
            }
        }
    }
}

fn stderr(who: &str, msg: &str) {
    let _ = std::io::stderr().write_all(format!("{who}: {msg}\n").as_bytes());
}

/// `Mmm dd hh:mm:ss` in UTC (RFC 3164 §4.1.2).
fn timestamp() -> String {
    let date = crate::smtps::received::rfc5322_date(std::time::SystemTime::now());
    // "Sat, 21 Nov 2026 08:30:55 +0000" -> "Nov 21 08:30:55"
    let parts: Vec<&str> = date.split_whitespace().collect();
    match parts.as_slice() {
        [_, day, mon, _, time, ..] => format!("{mon} {day:>2} {time}"),
        _ => date,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facilities_and_severities() {
        assert_eq!(facility_code("mail"), 2);
        assert_eq!(facility_code("local0"), 16);
        assert_eq!(facility_code("local7"), 23);
        assert_eq!(facility_code("local9"), 2);
        assert_eq!(severity(ERROR), 3);
        assert_eq!(severity(NOTICE), 5);
        assert_eq!(severity(DEBUG), 7);
        let t = timestamp();
        assert_eq!(t.len(), 15, "{t}");
    }
}

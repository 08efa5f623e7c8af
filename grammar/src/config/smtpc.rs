//! `smtpc { }`, the SMTP/LMTP client (README §3.11), and `lmtpl { }`, smx's
//! local LMTP delivery agent (the `lmtpl` section of seed 000): it listens
//! on `LMTP_socket` and delivers to Maildir.

use super::common::{LogConf, McpConf};
use super::smtps::TlsConf;
use crate::schema::Kind;

section! {
    /// The SMTP and LMTP client (README §3.11).
    pub struct SmtpcConf in "smtpc" (naming None, seed "§3.11") {
        /// Timeout for SMTP operations.
        io_timeout: std::time::Duration = opt("io_timeout", Kind::SECONDS, Some("5m")),
        /// Unix domain socket for LMTP delivery (mailertable RHS `lmtp:`).
        lmtp_socket: String = opt("LMTP_socket", Kind::QueuePath, Some("lmtpsock")),
        /// Amount of logging; larger logs more (9 for normal operation).
        log_level: u64 = opt("log_level", Kind::count(""), Some("9")),
        /// Logging through syslog.
        log: LogConf = sub(LogConf),
        /// STARTTLS towards servers that offer it.
        tls: Option<TlsConf> = opt_sub(TlsConf),
        /// Maximum time to wait for the QMGR to become available.
        wait_for_server: std::time::Duration = opt("wait_for_server", Kind::SECONDS, Some("4s")),
        /// MCP options.
        mcp: McpConf = flatten(McpConf, []),
    }
}

section! {
    /// The local LMTP delivery agent: answers LMTP on `LMTP_socket` and
    /// writes each message into the recipient's Maildir, fsynced before it
    /// answers.
    pub struct LmtplConf in "lmtpl" (naming None, seed "seed 000") {
        /// Unix domain socket to listen on; the same as smtpc's LMTP_socket.
        lmtp_socket: String = opt("LMTP_socket", Kind::QueuePath, Some("lmtpsock")),
        /// Maildir of a recipient; ${user} is its local part without +detail.
        maildir: String = opt("maildir", Kind::QueuePath, Some("mail/${user}/Maildir")),
        /// Timeout for LMTP operations.
        io_timeout: std::time::Duration = opt("io_timeout", Kind::SECONDS, Some("5m")),
        /// Amount of logging; larger logs more (9 for normal operation).
        log_level: u64 = opt("log_level", Kind::count(""), Some("9")),
        /// Logging through syslog.
        log: LogConf = sub(LogConf),
        /// MCP options.
        mcp: McpConf = flatten(McpConf, []),
    }
}

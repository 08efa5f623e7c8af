//! `qmgr { }`: the queue manager (README §3.8) and the global options of
//! §3.4. Defaults follow the seed where it gives them (§3.8.1: 10 initial
//! and 100 maximum connections per IP, 100 incoming connections and 100 per
//! minute per host); elsewhere they follow Postfix, which is what our users
//! know (retries between 300s and 4000s, return after 5 days).

use super::build::Flags;
use super::common::{LogConf, McpConf};
use crate::schema::Kind;

section! {
    /// The deferred envelope database (README §3.8 item 4).
    pub struct DefedbConf in "DEFEDB" (naming None, seed "§3.8") {
        /// Home directory of DEFEDB: unreadable records are kept in its corrupt/, entries of older smx versions are taken in from it.
        base_directory: String = opt("base_directory", Kind::QueuePath, Some("defedb")),
        /// Directory of the DEFEDB log (all of DEFEDB: an append-only log with group commit); on another disk than base_directory for speed.
        log_directory: String = opt("log_directory", Kind::QueuePath, Some("defedb")),
    }
}

/// Flags of `DSN_handling`.
pub const DSN_FLAGS: &[&str] = &["header_only", "MIME_Format"];

section! {
    /// How delivery status notifications are made (README §3.8 item 5).
    pub struct DsnConf in "DSN_handling" (naming None, seed "§3.8") {
        /// Maximum time to wait for merging several DSNs into one.
        merge_delay_max: std::time::Duration = opt("merge_delay_max", Kind::SECONDS, Some("5m")),
        /// header_only: only headers in every DSN; MIME_Format: structure DSNs with MIME.
        flags: Flags = opt("flags", Kind::Flags(DSN_FLAGS), None),
        /// Maximum number of failed recipients in one DSN.
        max_errors_per_dsn: u64 = opt("max_errors_per_DSN", Kind::count_from(1, "entries"), Some("100")),
    }
}

section! {
    /// The incoming queue backup database, the QMGR's envelope log (README
    /// §3.8 item 6). It lives in `ibdb/` under the queue directory.
    pub struct IbdbConf in "IBDB" (naming None, seed "§3.8") {
        /// Longest wait for more transactions before a commit; 0 commits as soon as the log is idle, and transactions arriving during an fsync share the next one.
        max_commit_delay: std::time::Duration = opt("max_commit_delay", Kind::MICROS, Some("0")),
        /// Maximum size of each IBDB file.
        size: u64 = opt("size", Kind::BYTES, Some("64MB")),
        /// Maximum number of open transactions before a commit is performed.
        max_open_tas: u64 = opt("max_open_TAs", Kind::count_from(1, "entries"), Some("100")),
    }
}

section! {
    /// The in-memory incoming queue (README §3.8 item 7).
    pub struct IqdbConf in "IQDB" (naming None, seed "§3.8") {
        /// Maximum number of entries in the IQDB cache; larger than all recipients of open transactions.
        max_cache_entries: u64 = opt("max_cache_entries", Kind::count_from(1, "entries"), Some("8192")),
        /// Size of the IQDB hash table; larger than max_cache_entries.
        hash_table_entries: u64 = opt("hash_table_entries", Kind::count_from(1, "entries"), Some("16384")),
    }
}

section! {
    /// Outgoing connection limits per destination IP (README §3.8 item 16).
    pub struct QmgrSmtpcConf in "smtpc" (naming None, seed "§3.8") {
        /// Initial number of outgoing connections to one host (slow start window).
        initial_connections: u64 = opt("initial_connections", Kind::count_from(1, "entries"), Some("10")),
        /// Maximum number of outgoing connections to one host.
        max_connections: u64 = opt("max_connections", Kind::count_from(1, "entries"), Some("100")),
        /// Maximum recipients per transaction sent over LMTP.
        lmtp_max_rcpts_per_transaction: u64 = opt("lmtp_max_rcpts_per_transaction", Kind::count_from(1, "entries"), Some("50")),
        /// Maximum recipients per transaction sent over (E)SMTP.
        smtp_max_rcpts_per_transaction: u64 = opt("smtp_max_rcpts_per_transaction", Kind::count_from(1, "entries"), Some("100")),
    }
}

section! {
    /// Incoming connection limits per client host (README §3.8 item 17).
    pub struct QmgrSmtpsConf in "smtps" (naming None, seed "§3.8") {
        /// Maximum incoming connection rate from one host.
        max_connection_rate: u64 = opt("max_connection_rate", Kind::count("connections/60s"), Some("100")),
        /// Maximum number of open incoming connections from one host.
        max_connections: u64 = opt("max_connections", Kind::count("entries"), Some("100")),
    }
}

section! {
    /// The queue manager (README §3.8): schedules deliveries, keeps the
    /// envelope databases, limits connections in and out.
    pub struct QmgrConf in "qmgr" (naming None, seed "§3.8") {
        /// Maximum number of entries in the active queue; larger than the recipients of one transaction.
        aq_max_entries: u64 = opt("AQ_max_entries", Kind::count_from(1, "entries"), Some("8192")),
        /// Configuration map of per-IP connection limits (oci: ocm: octo: icr: icm:), §3.8.1.
        conf: Option<String> = opt("conf", Kind::ConfPath, None),
        /// Control socket for smxctl and smx-tui (JSON Lines).
        control_socket: String = opt("control_socket", Kind::QueuePath, Some("qmgrctrl.sock")),
        /// Deferred envelope database.
        defedb: DefedbConf = sub(DefedbConf),
        /// Delivery status notifications.
        dsn: DsnConf = sub(DsnConf),
        /// Incoming queue backup database.
        ibdb: IbdbConf = sub(IbdbConf),
        /// Incoming queue.
        iqdb: IqdbConf = sub(IqdbConf),
        /// Amount of logging; larger logs more (9 for normal operation).
        log_level: u64 = opt("log_level", Kind::count(""), Some("9")),
        /// Logging through syslog.
        log: LogConf = sub(LogConf),
        /// Below this much free disk space SMTPS refuses mail with 452.
        min_disk_space: u64 = opt("min_disk_space", Kind::KILOBYTES, Some("100MB")),
        /// Size of the outgoing connection cache: idle connections kept per SMTP client process, and next hops remembered as unreachable (suspended for octo: seconds, default retry_min_delay).
        occ_max_entries: u64 = opt("OCC_max_entries", Kind::count_from(1, "entries"), Some("1024")),
        /// Free disk space at which normal operation resumes; above min_disk_space.
        ok_disk_space: u64 = opt("ok_disk_space", Kind::KILOBYTES, Some("200MB")),
        /// Maximum time in the queue before a message is returned to its sender.
        queue_return_timeout: std::time::Duration = opt("queue_return_timeout", Kind::SECONDS, Some("5d")),
        /// Send a delay warning after this long in the queue; above queue_return_timeout turns warnings off.
        queue_delay_timeout: std::time::Duration = opt("queue_delay_timeout", Kind::SECONDS, Some("4h")),
        /// Maximum time between delivery attempts.
        retry_max_delay: std::time::Duration = opt("retry_max_delay", Kind::SECONDS, Some("4000s")),
        /// Minimum time between delivery attempts.
        retry_min_delay: std::time::Duration = opt("retry_min_delay", Kind::SECONDS, Some("300s")),
        /// Outgoing connection limits.
        smtpc: QmgrSmtpcConf = sub(QmgrSmtpcConf),
        /// Incoming connection limits.
        smtps: QmgrSmtpsConf = sub(QmgrSmtpsConf),
        /// Maximum time to wait for a client (SMTPS, SMTPC) to become available.
        wait_for_client: std::time::Duration = opt("wait_for_client", Kind::SECONDS, Some("4s")),
        /// Maximum time to wait for a server (SMAR) to become available.
        wait_for_server: std::time::Duration = opt("wait_for_server", Kind::SECONDS, Some("4s")),
        /// MCP options.
        mcp: McpConf = flatten(McpConf, []),
    }
}

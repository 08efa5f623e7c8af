//! `smtps [NAME] { }`: the SMTP server (README §3.10), with AUTH, STARTTLS,
//! policy milter and protected recipients (§3.10.2). Several servers are
//! named sections (`smtps MTA { }`, `smtps MSA { }`, §3.10.1).
//!
//! Limits default to Postfix's where the seed gives none: 10 MB messages
//! (message_size_limit), 1000 recipients per transaction
//! (smtpd_recipient_limit), 20 bad commands (smtpd_hard_error_limit),
//! 50 hops (hopcount_limit), 300 s I/O timeout (smtpd_timeout).

use super::build::Flags;
use super::common::{LogConf, McpConf, SocketType, SOCKET_TYPES};
use crate::schema::Kind;

/// Flags of `auth`: Cyrus SASL security properties.
pub const AUTH_FLAGS: &[&str] = &[
    "noplaintext",
    "noactive",
    "nodictionary",
    "forward_secrecy",
    "noanonymous",
    "pass_credentials",
    "mutual_auth",
];

section! {
    /// SMTP AUTH (README §3.10 item 1).
    pub struct AuthConf in "auth" (naming None, seed "§3.10") {
        /// SASL security flags: noplaintext, noactive, nodictionary, forward_secrecy, noanonymous, pass_credentials, mutual_auth.
        flags: Flags = opt("flags", Kind::Flags(AUTH_FLAGS), None),
        /// SASL mechanisms after which an authenticated client may relay.
        trusted_mechs: Vec<String> = opt("trusted_mechs", Kind::NameList, None),
    }
}

/// Flags of smtps (README §3.10 item 3).
pub const SMTPS_FLAGS: &[&str] = &[
    "8bitmime",
    "delay_checks",
    "delay_greylisting_error_until_DATA",
    "greylisting",
    "lmtp_does_not_imply_relaying",
    "soft_bounce",
    "strict_ehlo_checks",
    "access",
];

section! {
    /// Where the policy milter listens (README §3.10 item 17).
    pub struct MilterSocket in "socket" (naming None, seed "§3.10") {
        /// Socket family: inet or unix.
        socket_type: SocketType = opt("type", Kind::Keyword(SOCKET_TYPES), Some("inet")),
        /// Port (inet).
        port: Option<u64> = opt("port", Kind::Count { min: 1, max: 65535, unit: "" }, None),
        /// IPv4 address (inet).
        address: Option<std::net::Ipv4Addr> = opt("address", Kind::Ipv4, None),
        /// Path of the Unix domain socket (unix).
        path: Option<String> = opt("path", Kind::QueuePath, None),
    }
}

/// Flags of `policy_milter`.
pub const MILTER_FLAGS: &[&str] = &["abort", "accept_but_reconnect"];

section! {
    /// The policy milter (README §3.10 item 17, chapter 5).
    pub struct PolicyMilterConf in "policy_milter" (naming None, seed "§3.10") {
        /// The milter's socket.
        socket: MilterSocket = sub(MilterSocket),
        /// Maximum time to wait for a reply from the milter.
        timeout: std::time::Duration = opt("timeout", Kind::SECONDS, Some("5m")),
        /// abort: 421 when the milter cannot be reached; accept_but_reconnect: go on, reconnect next session.
        flags: Flags = opt("flags", Kind::Flags(MILTER_FLAGS), None),
    }
}

/// Flags of `protected_recipients { allow_by }`.
pub const ALLOW_BY_FLAGS: &[&str] = &["sender", "client_ip"];

keyword_enum! {
    /// How `protectedrcpt:` restrictions are matched (README §3.10 item 19).
    pub enum MatchType / MATCH_TYPES {
        /// Exact matches only.
        Exact = "exact",
        /// The lookup order of §3.12.1.
        GenericLookup = "generic_lookup",
        /// §3.12.1, and user@host also matches user+detail@host.
        ImplicitlyMatchDetail = "implicitly_match_detail",
    }
}

section! {
    /// Protected recipients (README §3.10 item 19, §3.10.2): recipients
    /// with a `protectedrcpt:` access-map entry accept mail only from the
    /// senders or clients it lists.
    pub struct ProtectedRecipientsConf in "protected_recipients" (naming None, seed "§3.10.2") {
        /// What may allow mail: sender (from:, list:), client_ip (cltaddr:); at least one.
        allow_by: Flags = opt("allow_by", Kind::Flags(ALLOW_BY_FLAGS), None),
        /// exact, generic_lookup or implicitly_match_detail.
        match_type: MatchType = opt("match_type", Kind::Keyword(MATCH_TYPES), Some("exact")),
    }
}

/// Flags of `tls`.
pub const TLS_FLAGS: &[&str] = &[
    "allow_relaying_if_verified",
    "check_access_map_for_relaying",
];

section! {
    /// STARTTLS (README §3.10 item 21, §3.11 item 4, chapter 11).
    pub struct TlsConf in "tls" (naming None, seed "§3.10") {
        /// Certificate in PEM format.
        cert_file: Option<String> = opt("cert_file", Kind::ConfPath, None),
        /// Private key of the certificate in PEM format.
        key_file: Option<String> = opt("key_file", Kind::ConfPath, None),
        /// CA certificates in PEM format.
        cacert_file: Option<String> = opt("CAcert_file", Kind::ConfPath, None),
        /// Directory of CA certificates in PEM format.
        cacert_directory: Option<String> = opt("CAcert_directory", Kind::ConfPath, None),
        /// allow_relaying_if_verified, check_access_map_for_relaying (SMTP server only).
        flags: Flags = opt("flags", Kind::Flags(TLS_FLAGS), None),
    }
}

section! {
    /// An SMTP server (README §3.10). Without `listen_socket` it listens on
    /// port 25 of every local IPv4 address.
    pub struct SmtpsConf in "smtps" (naming Optional, seed "§3.10") {
        /// SMTP AUTH.
        auth: Option<AuthConf> = opt_sub(AuthConf),
        /// Numeric group id given to each content file the SMTP server writes (README §2.4.1: a group the SMTP client reads them with); unset leaves the server's own group. The server must be allowed to chown(2) to it: root, or running with that group (its `group` option); otherwise it refuses to start.
        cdb_gid: Option<u64> = opt("CDB_gid", Kind::count("gid"), None),
        /// 8bitmime, delay_checks, delay_greylisting_error_until_DATA, greylisting, lmtp_does_not_imply_relaying, soft_bounce, strict_ehlo_checks, access.
        flags: Flags = opt("flags", Kind::Flags(SMTPS_FLAGS), None),
        /// Unique identifier of this SMTP server; unset means its position among the smtps sections (0, 1, ...).
        id: Option<u64> = opt("id", Kind::Count { min: 0, max: 255, unit: "" }, None),
        /// Timeout for SMTP operations.
        io_timeout: std::time::Duration = opt("io_timeout", Kind::SECONDS, Some("5m")),
        /// Amount of logging; larger logs more (9 for normal operation: refusals the server decides itself; 10 also a connect and a disconnect line per session, with the commands given).
        log_level: u64 = opt("log_level", Kind::count(""), Some("9")),
        /// Logging through syslog.
        log: LogConf = sub(LogConf),
        /// Maximum number of threads (concurrent sessions) per process.
        max_threads: u64 = opt("max_threads", Kind::count_from(1, "threads"), Some("256")),
        /// Unknown commands per session before the connection is closed with 421.
        max_bad_commands_per_session: u64 = opt("max_bad_commands_per_session", Kind::count("commands"), Some("20")),
        /// Invalid RCPT addresses per session before the connection is closed with 421.
        max_invalid_addresses_per_session: u64 = opt("max_invalid_addresses_per_session", Kind::count("addresses"), Some("20")),
        /// NOOP, RSET and similar commands between two transactions before 421.
        max_nop_commands_between_transactions: u64 = opt("max_nop_commands_between_transactions", Kind::count("commands"), Some("20")),
        /// Unknown commands per transaction before the connection is closed with 421.
        max_bad_commands_per_transaction: u64 = opt("max_bad_commands_per_transaction", Kind::count("commands"), Some("10")),
        /// NOOP and similar commands in one transaction before 421.
        max_nop_commands_in_transaction: u64 = opt("max_nop_commands_in_transaction", Kind::count("commands"), Some("20")),
        /// Invalid RCPT addresses per transaction before the connection is closed with 421.
        max_invalid_addresses_per_transaction: u64 = opt("max_invalid_addresses_per_transaction", Kind::count("addresses"), Some("10")),
        /// Maximum recipients per session.
        max_recipients_per_session: u64 = opt("max_recipients_per_session", Kind::count_from(1, "recipients"), Some("10000")),
        /// Maximum recipients per transaction.
        max_recipients_per_transaction: u64 = opt("max_recipients_per_transaction", Kind::count_from(1, "recipients"), Some("1000")),
        /// Maximum number of Received: headers before mail is rejected as a loop (554 5.4.6).
        max_hops: u64 = opt("max_hops", Kind::count_from(1, "headers"), Some("50")),
        /// Maximum message size, announced with SIZE.
        max_message_size: u64 = opt("max_message_size", Kind::KILOBYTES, Some("10MB")),
        /// Maximum transactions per session.
        max_transactions: u64 = opt("max_transactions", Kind::count_from(1, "transactions"), Some("1000")),
        /// The policy milter.
        policy_milter: Option<PolicyMilterConf> = opt_sub(PolicyMilterConf),
        /// Number of processes to start.
        processes: u64 = opt("processes", Kind::count_from(1, "processes"), Some("1")),
        /// Protected recipients.
        protected_recipients: Option<ProtectedRecipientsConf> = opt_sub(ProtectedRecipientsConf),
        /// STARTTLS.
        tls: Option<TlsConf> = opt_sub(TlsConf),
        /// MCP options; an SMTP server is started with start_action pass.
        mcp: McpConf = flatten(McpConf, [("start_action", "pass")]),
    }
}

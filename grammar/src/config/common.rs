//! What every component section shares: the MCP options of README §3.7
//! (`start_action`, `listen_socket`, `user`, `path`, ...) and the `log`
//! section and `log_level` of §3.5.

use super::build::Flags;
use crate::schema::Kind;

keyword_enum! {
    /// How the MCP starts a component (README §3.7 item 1).
    pub enum StartAction / START_ACTIONS {
        /// Start the program; it opens what it needs itself.
        Wait = "wait",
        /// Bind `listen_socket`, pass the descriptor over `pass_fd_socket`.
        Pass = "pass",
        /// Bind `listen_socket`; start the program when a client connects.
        Accept = "accept",
        /// Like `accept`, but do not start the program before the first client.
        NoStartAccept = "nostartaccept",
    }
}

keyword_enum! {
    /// Socket families of `listen_socket` and `policy_milter { socket }`.
    pub enum SocketType / SOCKET_TYPES {
        /// TCP over IPv4.
        Inet = "inet",
        /// A Unix domain socket.
        Unix = "unix",
    }
}

keyword_enum! {
    /// How content files are made durable before their transactions are
    /// committed (`CDB_sync`, an smx addition).
    pub enum CdbSync / CDB_SYNCS {
        /// The QMGR syncs each filesystem holding CDB once for all the commits of a batch (syncfs(2)).
        Filesystem = "filesystem",
        /// The SMTP server fsyncs each content file, the QMGR its directory once per batch.
        File = "file",
    }
}

/// syslog(3) facilities accepted by `log { facility }`.
pub const FACILITIES: &[&str] = &[
    "auth", "authpriv", "cron", "daemon", "ftp", "kern", "lpr", "mail", "news", "syslog", "user",
    "uucp", "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7",
];

/// openlog(3) options accepted by `log { options }` (without `LOG_`).
pub const LOG_OPTIONS: &[&str] = &["pid", "ndelay", "odelay", "cons", "nowait", "perror"];

section! {
    /// Logging through syslog(3) (README §3.5). In the foreground, smx logs
    /// to stderr instead.
    pub struct LogConf in "log" (naming None, seed "§3.5") {
        /// syslog(3) facility.
        facility: String = opt("facility", Kind::Keyword(FACILITIES), Some("mail")),
        /// Identification string for openlog(3); unset means the component's name.
        ident: Option<String> = opt("ident", Kind::Text, None),
        /// openlog(3) options, without the leading LOG_.
        options: Flags = opt("options", Kind::Flags(LOG_OPTIONS), Some("pid")),
    }
}

section! {
    /// The socket on which the MCP listens for a component (README §3.7
    /// item 2). `type = inet` takes `address` and `port`; `type = unix`
    /// takes `path`, `umask`, `user` and `group`.
    pub struct ListenSocket in "listen_socket" (naming None, seed "§3.7") {
        /// Socket family: inet or unix.
        socket_type: SocketType = opt("type", Kind::Keyword(SOCKET_TYPES), Some("inet")),
        /// TCP port to listen on (inet).
        port: Option<u64> = opt("port", Kind::Count { min: 1, max: 65535, unit: "" }, None),
        /// IPv4 address to listen on (inet); unset means every local IPv4 address.
        address: Option<std::net::Ipv4Addr> = opt("address", Kind::Ipv4, None),
        /// Path of the Unix domain socket (unix).
        path: Option<String> = opt("path", Kind::QueuePath, None),
        /// umask applied when the Unix domain socket is created (unix).
        umask: Option<u64> = opt("umask", Kind::Umask, None),
        /// Owner of the Unix domain socket (unix).
        user: Option<String> = opt("user", Kind::Name, None),
        /// Group of the Unix domain socket (unix).
        group: Option<String> = opt("group", Kind::Name, None),
    }
}

section! {
    /// The options the MCP reads in every component section (README §3.7).
    /// For the known components (qmgr, smar, smtps, smtpc, lmtpl) `path`
    /// defaults to the smxd executable and `arguments` to
    /// `"<section> -f <config file>"`; any other section the MCP starts must
    /// give both.
    pub struct McpConf in "mcp" (naming None, seed "§3.7") {
        /// How the MCP starts the program: wait, pass, accept or nostartaccept.
        start_action: StartAction = opt("start_action", Kind::Keyword(START_ACTIONS), Some("wait")),
        /// The socket the MCP listens on for this program; needed unless start_action is wait.
        listen_socket: Option<ListenSocket> = opt_sub(ListenSocket),
        /// Unix domain socket over which the MCP passes the listening descriptor (start_action pass).
        pass_fd_socket: Option<String> = opt("pass_fd_socket", Kind::QueuePath, None),
        /// User to run the program as (privileges are dropped when smxd starts as root).
        user: Option<String> = opt("user", Kind::Name, None),
        /// Group to run the program as.
        group: Option<String> = opt("group", Kind::Name, None),
        /// Other sections to restart when this one is restarted or crashes.
        restart_dependencies: Vec<String> = opt("restart_dependencies", Kind::NameList, None),
        /// Program to execute; unset means smxd itself for the known components.
        path: Option<String> = opt("path", Kind::Text, None),
        /// argv of the program, starting with its name; unset means `<section> -f <config file>` for the known components.
        arguments: Option<String> = opt("arguments", Kind::Text, None),
        /// Option used to pass a unique numeric id to each process, inserted as the first argument.
        pass_id: Option<String> = opt("pass_id", Kind::Text, None),
        /// Number of processes to start.
        min_processes: u64 = opt("min_processes", Kind::count("processes"), Some("1")),
        /// Maximum number of processes.
        max_processes: u64 = opt("max_processes", Kind::count("processes"), Some("1")),
    }
}

section! {
    /// Any other program the MCP starts (README §3.7): a section whose
    /// keyword is not a known component, e.g. a local mailer.
    pub struct ServiceConf in "service" (naming None, seed "§3.7") {
        /// Amount of logging; larger logs more (9 for normal operation, 12 to 14 for tests).
        log_level: u64 = opt("log_level", Kind::count(""), Some("9")),
        /// Logging through syslog.
        log: LogConf = sub(LogConf),
        /// MCP options.
        mcp: McpConf = flatten(McpConf, []),
    }
}

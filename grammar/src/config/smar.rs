//! `smar { }`: the address resolver (README §3.9): map declarations
//! (§3.9.1), the access map, aliases, mailertable, local users, DNS
//! blacklists, greylisting (§3.9.4) and DNS settings.

use super::build::{Flags, Instance};
use super::common::{LogConf, McpConf};
use crate::schema::Kind;

keyword_enum! {
    /// Map types (README §3.9.1; `btree` and `texthash` are smx additions).
    pub enum MapType / MAP_TYPES {
        /// Berkeley DB hash file, as built by createmap, makemap or postmap.
        Hash = "hash",
        /// Berkeley DB btree file.
        Btree = "btree",
        /// Several maps tried in order; the first match wins.
        Sequence = "sequence",
        /// The sendmail socketmap protocol over a Unix or inet socket.
        Socket = "socket",
        /// The system's user database (getpwnam).
        Passwd = "passwd",
        /// A plain `key value` text file read into memory when SMAR starts
        /// or reloads, like Postfix's texthash: no compile step.
        Texthash = "texthash",
    }
}

section! {
    /// A map declaration, `map NAME { type = ...; }` (README §3.9.1).
    /// hash, btree and texthash take `file`; socket takes `mapname` and
    /// either `path` or `address` and `port`; sequence takes `maps`.
    pub struct MapConf in "map" (naming Required, seed "§3.9.1") {
        /// Map type: hash, btree, sequence, socket, passwd or texthash.
        map_type: Option<MapType> = opt("type", Kind::Keyword(MAP_TYPES), None),
        /// File name of the map, with its extension (hash, btree, texthash).
        file: Option<String> = opt("file", Kind::ConfPath, None),
        /// Name of the map in the socketmap protocol (socket).
        mapname: Option<String> = opt("mapname", Kind::Text, None),
        /// IPv4 address of the socketmap server (socket, inet).
        address: Option<std::net::Ipv4Addr> = opt("address", Kind::Ipv4, None),
        /// Path of the socketmap server's Unix domain socket (socket).
        path: Option<String> = opt("path", Kind::QueuePath, None),
        /// Port of the socketmap server (socket, inet).
        port: Option<u64> = opt("port", Kind::Count { min: 1, max: 65535, unit: "" }, None),
        /// Maps to try in order (sequence).
        maps: Vec<String> = opt("maps", Kind::NameList, None),
        /// Time to wait for a socketmap answer before the lookup fails temporarily (socket).
        timeout: Option<std::time::Duration> = opt("timeout", Kind::SECONDS, None),
    }
}

section! {
    /// The access map (README §3.9.3); used when smtps has the `access` flag.
    pub struct AccessMapConf in "access_map" (naming None, seed "§3.9.2") {
        /// File name of the access map, with its extension.
        file: String = opt("file", Kind::ConfPath, Some("access.db")),
    }
}

/// Flags of `aliases`.
pub const ALIAS_FLAGS: &[&str] = &[
    "localpart",
    "local_domains",
    "all_domains",
    "implicitly_match_detail",
    "replace_macros",
    "preserve_domain",
];

section! {
    /// Aliases (README §3.9.2 item 3, §3.9.3): give either `file` or `name`.
    pub struct AliasesConf in "aliases" (naming None, seed "§3.9.2") {
        /// File name of the aliases map, with its extension.
        file: String = opt("file", Kind::ConfPath, Some("aliases.db")),
        /// Name of a declared map to use instead of file.
        name: Option<String> = opt("name", Kind::Name, None),
        /// localpart, local_domains, all_domains, implicitly_match_detail, replace_macros, preserve_domain.
        flags: Flags = opt("flags", Kind::Flags(ALIAS_FLAGS), Some("localpart")),
    }
}

section! {
    /// A DNS based blacklist (README §3.9.2 item 4); may be repeated. The
    /// client A.B.C.D is looked up as D.C.B.A.domain, and an answer W.X.Y.Z
    /// is looked up in the access map as tag:W.X.Y.Z (tag:temp, tag:perm on
    /// failures).
    pub struct DnsblConf in "dnsbl" (naming None, seed "§3.9.2") {
        /// DNS zone of the blacklist (required).
        domain: Option<String> = opt("domain", Kind::Text, None),
        /// Tag of its entries in the access map (required).
        tag: Option<String> = opt("tag", Kind::Name, None),
    }
}

section! {
    /// Greylisting by client IP address (README §3.9.4); smtps needs the
    /// `greylisting` flag too.
    pub struct GreylistingConf in "greylisting" (naming None, seed "§3.9.4") {
        /// How long before a greylisted client can be confirmed.
        grey_wait: std::time::Duration = opt("grey_wait", Kind::SECONDS, Some("10m")),
        /// Greylisted entries that did not confirm within this time expire.
        grey_expire: std::time::Duration = opt("grey_expire", Kind::SECONDS, Some("1d")),
        /// Whitelisted entries expire after this time if necessary.
        white_expire: std::time::Duration = opt("white_expire", Kind::SECONDS, Some("36d")),
        /// Whitelisted entries must reconfirm after this time.
        white_timeout: std::time::Duration = opt("white_timeout", Kind::SECONDS, Some("36d")),
        /// Main database, with its .db extension.
        main_db_name: String = opt("main_DB_name", Kind::QueuePath, Some("greyl.db")),
        /// Secondary database (index by expiry), with its .db extension.
        secondary_db_name: String = opt("secondary_DB_name", Kind::QueuePath, Some("greyl2.db")),
        /// Try to expire entries when the database holds more than this many.
        expire_limit: u64 = opt("expire_limit", Kind::count_from(1, "entries"), Some("100000")),
        /// Netmask applied to the client address before lookup, e.g. 0xFFFFFF00 for server farms.
        netmask: u64 = opt("netmask", Kind::Netmask, Some("0xFFFFFFFF")),
    }
}

/// Flags of `local_user_map`.
pub const LOCAL_USER_FLAGS: &[&str] = &["implicitly_match_detail"];

section! {
    /// The map of valid local addresses (README §3.9.2 item 7).
    pub struct LocalUserMapConf in "local_user_map" (naming None, seed "§3.9.2") {
        /// Name of a declared map of valid local parts (required).
        name: Option<String> = opt("name", Kind::Name, None),
        /// implicitly_match_detail: user@host also matches user+detail@host.
        flags: Flags = opt("flags", Kind::Flags(LOCAL_USER_FLAGS), None),
    }
}

section! {
    /// The mailertable (README §3.9.2 item 9, §3.9.3): give either `file`
    /// (a text file read at start) or `name` (a declared map).
    pub struct MailertableConf in "mailertable" (naming None, seed "§3.9.2") {
        /// Text mailertable read when SMAR starts.
        file: String = opt("file", Kind::ConfPath, Some("mt")),
        /// Name of a declared map to use instead of file (can be reloaded).
        name: Option<String> = opt("name", Kind::Name, None),
    }
}

section! {
    /// The address resolver (README §3.9.2): routing, maps, access checks.
    pub struct SmarConf in "smar" (naming None, seed "§3.9") {
        /// Map declarations.
        maps: Vec<Instance<MapConf>> = many(MapConf),
        /// The access map.
        access_map: AccessMapConf = sub(AccessMapConf),
        /// Delimiter (one character) of address extensions in local parts.
        address_delimiter: String = opt("address_delimiter", Kind::Text, Some("+")),
        /// Aliases.
        aliases: AliasesConf = sub(AliasesConf),
        /// DNS based blacklists, queried concurrently, looked up in order.
        dnsbl: Vec<Instance<DnsblConf>> = many(DnsblConf),
        /// Timeout for DNS requests.
        dns_timeout: std::time::Duration = opt("DNS_timeout", Kind::SECONDS, Some("5s")),
        /// Greylisting.
        greylisting: Option<GreylistingConf> = opt_sub(GreylistingConf),
        /// Valid local addresses.
        local_user_map: Option<LocalUserMapConf> = opt_sub(LocalUserMapConf),
        /// Amount of logging; larger logs more (9 for normal operation).
        log_level: u64 = opt("log_level", Kind::count(""), Some("9")),
        /// Logging through syslog.
        log: LogConf = sub(LogConf),
        /// The mailertable.
        mailertable: MailertableConf = sub(MailertableConf),
        /// Up to four nameservers (IPv4; `address:port` for tests); unset means /etc/resolv.conf.
        nameserver: Vec<std::net::SocketAddrV4> = opt("nameserver", Kind::Ipv4List { max: 4 }, None),
        /// MCP options.
        mcp: McpConf = flatten(McpConf, []),
    }
}

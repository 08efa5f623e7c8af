//! Tests that invalid smx.conf inputs are refused (or warned about) with the
//! right stable diagnostic code, at the right 1-based line:col (columns count
//! characters), with a message in the user's words (it names the option or
//! section at fault) and, where there is one, a useful hint.

use smx_grammar::{check_str, Severity};

/// One invalid input and the diagnostic it must produce.
struct Case {
    /// What the case is about.
    what: &'static str,
    /// The configuration text.
    text: &'static str,
    /// Expected code.
    code: &'static str,
    /// Expected line and column of the diagnostic.
    line: usize,
    col: usize,
    /// Words the message must contain.
    message: &'static [&'static str],
    /// Words the hint must contain (empty: not checked).
    hint: &'static [&'static str],
    /// True when the diagnostic must be the first one of the file; false
    /// when the case checks a specific one among several.
    first: bool,
}

const fn case(
    what: &'static str,
    text: &'static str,
    code: &'static str,
    (line, col): (usize, usize),
    message: &'static [&'static str],
) -> Case {
    Case {
        what,
        text,
        code,
        line,
        col,
        message,
        hint: &[],
        first: true,
    }
}

impl Case {
    const fn hint(mut self, hint: &'static [&'static str]) -> Self {
        self.hint = hint;
        self
    }
    const fn not_first(mut self) -> Self {
        self.first = false;
        self
    }
}

const CASES: &[Case] = &[
    // ------------------------------------------------------------ syntax
    case(
        "missing `;` after a value, next option on the next line",
        "qmgr {\n  retry_min_delay = 10m\n  retry_max_delay = 4h;\n}\n",
        "E001",
        (2, 24),
        &["expected `;` after the value of `retry_min_delay`"],
    ),
    case(
        "missing `;` after a value, next option on the same line",
        "smtps { listen_socket { port = 25 type = inet; } }",
        "E001",
        (1, 34),
        &["expected `;` after the value of `port`"],
    ),
    case(
        "missing `;` after a value, tab indentation",
        "qmgr\n{\n\tlog_level = 9\n\twait_for_server = 4;\n}",
        "E001",
        (3, 15),
        &["expected `;` after the value of `log_level`"],
    ),
    case(
        "missing `}` at the end of the file",
        "qmgr {\n  log_level = 9;\n",
        "E001",
        (3, 1),
        &["expected `}` to close section `qmgr`", "end of the file"],
    ),
    case(
        "missing `}` of an outer section",
        "qmgr { smtpc { max_connections = 1; }\nsmar { }",
        "E001",
        (2, 9),
        &["section `qmgr`"],
    ),
    case(
        "stray `}`",
        "qmgr { }\n}\n",
        "E001",
        (2, 1),
        &["`}` with no section open"],
    ),
    case(
        "missing value after `=`",
        "qmgr { log_level = ; }",
        "E001",
        (1, 20),
        &["expected a value for `log_level`"],
    ),
    case(
        "missing value after `=` at the end of the file",
        "qmgr { log_level = ",
        "E001",
        (1, 20),
        &["expected a value for `log_level`", "end of the file"],
    ),
    case(
        "junk `;` between entries",
        "qmgr { log_level = 9; ; }",
        "E001",
        (1, 23),
        &["in section `qmgr`", "found `;`"],
    ),
    case(
        "junk `,` between entries",
        "qmgr { log_level = 9; ,}",
        "E001",
        (1, 23),
        &["in section `qmgr`", "found `,`"],
    ),
    case(
        "`=` without a name at the top level",
        "= 9;",
        "E001",
        (1, 1),
        &["at the top level", "found `=`"],
    ),
    case(
        "option without `=`",
        "qmgr { log_level 9; }",
        "E001",
        (1, 18),
        &["expected `=` between `log_level` and `9`"],
    )
    .hint(&["log_level = 9;"]),
    case(
        "`;` as a list separator",
        "smar { nameserver = { 127.0.0.1; 10.0.0.1 }; }",
        "E001",
        (1, 32),
        &["list of `nameserver`", "found `;`"],
    ),
    case(
        "two commas in a list",
        "smtps { flags = { access,, greylisting }; }",
        "E001",
        (1, 26),
        &["list of `flags`"],
    ),
    case(
        "forgotten comma in a list",
        "smtps { flags = { access greylisting }; }",
        "E001",
        (1, 19),
        &["`,` between `access` and `greylisting`", "`flags`"],
    ),
    case(
        "non-ASCII section name",
        "smtps é { }",
        "E001",
        (1, 7),
        &["after `smtps`", "`é`"],
    ),
    case(
        "unterminated string",
        "qmgr { log { ident = \"abc; } }\n",
        "E002",
        (1, 22),
        &["no closing `\"`"],
    ),
    case(
        "unterminated string on a later line",
        "qmgr {\n  log { ident = \"smX-qmgr; }\n}\n",
        "E002",
        (2, 17),
        &["no closing `\"`"],
    ),
    case(
        "unknown escape",
        "qmgr { log { ident = \"a\\qb\"; } }",
        "E003",
        (1, 24),
        &["`\\q`"],
    ),
    case(
        "unknown escape after a non-ASCII character (columns count characters)",
        "qmgr { log { ident = \"é\\q\"; } }",
        "E003",
        (1, 24),
        &["`\\q`"],
    ),
    // ------------------------------------------------------------ names
    case(
        "unknown section, transposed letters",
        "qmrg { }",
        "E010",
        (1, 1),
        &["unknown section `qmrg`"],
    )
    .hint(&["did you mean `qmgr`?"]),
    case(
        "unknown subsection",
        "qmgr {\n  IQBD { max_cache_entries = 10; }\n}",
        "E010",
        (2, 3),
        &["unknown section `IQBD` in section `qmgr`"],
    )
    .hint(&["IQDB"]),
    case(
        "unknown option with did-you-mean",
        "qmgr { retry_min_dealy = 10m; }",
        "E011",
        (1, 8),
        &["unknown option `retry_min_dealy` in section `qmgr`"],
    )
    .hint(&["did you mean `retry_min_delay`?"]),
    case(
        "option of another section",
        "smtps { retry_min_delay = 10m; }",
        "E011",
        (1, 9),
        &["unknown option `retry_min_delay` in section `smtps`"],
    )
    .hint(&["belongs in section `qmgr`"]),
    case(
        "map without a name",
        "smar { map { type = passwd; } }",
        "E012",
        (1, 8),
        &["section `map` needs a name"],
    ),
    case(
        "qmgr with a name",
        "qmgr x { }",
        "E013",
        (1, 6),
        &["section `qmgr` takes no name"],
    ),
    case(
        "log with a name",
        "smar { log main { } }",
        "E013",
        (1, 12),
        &["section `log` takes no name"],
    ),
    case(
        "section written as an option",
        "qmgr { log = x; }",
        "E014",
        (1, 8),
        &["`log` is a section"],
    ),
    case(
        "section whose body is a bare value",
        "qmgr { 42 }",
        "E014",
        (1, 8),
        &["`qmgr` is a section", "`42`"],
    ),
    case(
        "option written as a section",
        "qmgr { log_level { } }",
        "E015",
        (1, 8),
        &["`log_level` is an option"],
    )
    .hint(&["log_level = value;"]),
    // ------------------------------------------------------------ values
    case(
        "text for a number",
        "qmgr { AQ_max_entries = many; }",
        "E020",
        (1, 25),
        &["`AQ_max_entries`", "expected a number", "`many`"],
    ),
    case(
        "leading 0 is octal",
        "qmgr { log_level = 09; }",
        "E020",
        (1, 20),
        &["`log_level`", "octal"],
    ),
    case(
        "empty list for a time",
        "qmgr { retry_min_delay = {}; }",
        "E020",
        (1, 26),
        &["`retry_min_delay`", "empty list"],
    ),
    case(
        "bad octal umask",
        "smtps { listen_socket { type = unix; path = s; umask = 0888; } }",
        "E020",
        (1, 56),
        &["`umask`", "`0888`"],
    ),
    case(
        "bad time unit",
        "qmgr { retry_min_delay = 10x; }",
        "E021",
        (1, 26),
        &["`retry_min_delay`", "`x` is not a time unit"],
    ),
    case(
        "milliseconds are not a unit",
        "qmgr { IBDB { max_commit_delay = 10ms; } }",
        "E021",
        (1, 34),
        &["`max_commit_delay`", "`ms`"],
    ),
    case(
        "size unit M instead of MB",
        "smtps { max_message_size = 10M; }",
        "E021",
        (1, 28),
        &["`max_message_size`", "`M` is not a size unit"],
    )
    .hint(&["10MB"]),
    case(
        "port above 65535",
        "smtps { listen_socket { type = inet; port = 70000; } }",
        "E022",
        (1, 45),
        &["`port`", "70000", "1 to 65535"],
    ),
    case(
        "port 0",
        "qmgr { start_action = accept; listen_socket { type = inet; port = 0; } }",
        "E022",
        (1, 67),
        &["`port`", "out of range"],
    ),
    case(
        "address_delimiter of two characters",
        "smar { address_delimiter = \"++\"; }",
        "E022",
        (1, 8),
        &["`address_delimiter`", "one character", "`++`"],
    ),
    case(
        "negative number",
        "qmgr { log_level = -1; }",
        "E022",
        (1, 20),
        &["`log_level`", "negative"],
    ),
    case(
        "smtps id above 255",
        "smtps { id = 256; }",
        "E022",
        (1, 14),
        &["`id`", "256"],
    ),
    case(
        "umask above 0777",
        "smtps { listen_socket { type = unix; path = s; umask = 01000; } }",
        "E022",
        (1, 56),
        &["umask `01000`"],
    ),
    case(
        "bad start_action",
        "qmgr { start_action = start; }",
        "E023",
        (1, 23),
        &["`start_action`", "`start`", "wait, pass, accept, nostartaccept"],
    )
    .hint(&["`start_action` takes one of"]),
    case(
        "bad socket type",
        "smtps { listen_socket { type = tcp; port = 25; } }",
        "E023",
        (1, 32),
        &["`type`", "`tcp`", "inet, unix"],
    ),
    case(
        "bad log facility",
        "qmgr { log { facility = mial; } }",
        "E023",
        (1, 25),
        &["`facility`", "`mial`"],
    )
    .hint(&["did you mean `mail`?"]),
    case(
        "bad smtps flag",
        "smtps { flags = { 8bitmime, greylist }; }",
        "E024",
        (1, 29),
        &["`flags`", "`greylist` is not a flag"],
    ),
    case(
        "bad auth flag",
        "smtps { auth { flags = { plaintext }; } }",
        "E024",
        (1, 26),
        &["`flags`", "`plaintext`"],
    )
    .hint(&["did you mean `noplaintext`?"]),
    case(
        "list for a scalar",
        "qmgr { retry_min_delay = { 1m, 2m }; }",
        "E025",
        (1, 32),
        &["`retry_min_delay`", "not a list"],
    ),
    case(
        "bad IPv4 address",
        "smtps { listen_socket { address = 10.0.0.256; port = 25; } }",
        "E026",
        (1, 35),
        &["`address`", "`10.0.0.256` is not an IPv4 address"],
    ),
    case(
        "host name as nameserver",
        "smar { nameserver = { 127.0.0.1, localhost }; }",
        "E026",
        (1, 34),
        &["`nameserver`", "`localhost`"],
    ),
    // ------------------------------------------------------------ duplicates
    case(
        "duplicate option",
        "qmgr {\n  log_level = 9;\n  log_level = 10;\n}",
        "E030",
        (3, 3),
        &["option `log_level` is given twice in section `qmgr`"],
    ),
    case(
        "duplicate option, case-insensitive",
        "smtps { IO_timeout = 5m; io_timeout = 6m; }",
        "E030",
        (1, 26),
        &["`io_timeout` is given twice"],
    ),
    case(
        "duplicate section",
        "qmgr { }\nqmgr { }",
        "E031",
        (2, 1),
        &["section `qmgr` is given twice"],
    ),
    case(
        "duplicate map name",
        "smar {\n  map a { type = passwd; }\n  map a { type = passwd; }\n}",
        "E031",
        (3, 7),
        &["`map a`"],
    ),
    case(
        "duplicate smtps name",
        "smtps A { } smtps A { }",
        "E031",
        (1, 19),
        &["`smtps A`"],
    ),
    // ------------------------------------------------------------ cross-checks
    case(
        "map without type",
        "smar { map m { file = \"m.db\"; } }",
        "E040",
        (1, 8),
        &["map `m` needs a `type`"],
    ),
    case(
        "dnsbl without domain",
        "smar { dnsbl { tag = x; } }",
        "E040",
        (1, 8),
        &["`dnsbl` needs `domain`"],
    ),
    case(
        "local_user_map without name",
        "smar { local_user_map { flags = { implicitly_match_detail }; } }",
        "E040",
        (1, 8),
        &["`local_user_map` needs `name`"],
    ),
    case(
        "unknown MCP program without arguments",
        "mailer { start_action = wait; path = /usr/libexec/mail.local; }",
        "E041",
        (1, 1),
        &["section `mailer`", "needs `arguments`"],
    ),
    case(
        "unknown MCP program without start_action (one of several)",
        "mailer { path = /usr/libexec/mail.local; }",
        "E041",
        (1, 1),
        &["section `mailer`", "needs `start_action`"],
    ),
    case(
        "unknown MCP program with only a path: the `arguments` finding",
        "mailer { path = /usr/libexec/mail.local; }",
        "E041",
        (1, 1),
        &["section `mailer`", "needs `arguments`", "argv"],
    )
    .not_first(),
    case(
        "start_action pass without listen_socket",
        "qmgr { start_action = pass; }",
        "E042",
        (1, 8),
        &["`qmgr`", "`start_action = pass`", "no `listen_socket`"],
    ),
    case(
        "lmtpl start_action accept without listen_socket",
        "lmtpl {\n  start_action = accept;\n}",
        "E042",
        (2, 3),
        &["`lmtpl`", "`start_action = accept`"],
    ),
    case(
        "local_user_map names an undeclared map",
        "smar { local_user_map { name = users; } }",
        "E043",
        (1, 25),
        &["`local_user_map` names map `users`", "not declared"],
    ),
    case(
        "aliases names an undeclared map",
        "smar { aliases { name = amap; } }",
        "E043",
        (1, 18),
        &["`aliases` names map `amap`"],
    ),
    case(
        "sequence member not declared",
        "smar {\n  map a { type = passwd; }\n  map s { type = sequence; maps = { a, b }; }\n}",
        "E043",
        (3, 28),
        &["sequence map `s` names map `b`"],
    ),
    case(
        "restart_dependencies names an unknown section",
        "qmgr { restart_dependencies = { smtps, smtp }; }",
        "E044",
        (1, 8),
        &["`restart_dependencies` of `qmgr` names `smtp`"],
    )
    .hint(&["did you mean"]),
    case(
        "ok_disk_space not above min_disk_space",
        "qmgr { min_disk_space = 1GB; ok_disk_space = 1GB; }",
        "E045",
        (1, 30),
        &["`ok_disk_space` (1GB)", "`min_disk_space` (1GB)"],
    ),
    case(
        "hash_table_entries not above max_cache_entries",
        "qmgr { IQDB { max_cache_entries = 100; hash_table_entries = 100; } }",
        "E046",
        (1, 40),
        &["`hash_table_entries` (100)", "`max_cache_entries` (100)"],
    ),
    case(
        "two smtps with the same explicit id",
        "smtps A { id = 1; }\nsmtps B { id = 1; }",
        "E047",
        (2, 11),
        &["`smtps B` has id 1, like `smtps A`"],
    ),
    case(
        "map option not for its type",
        "smar { map m { type = hash; file = \"m.db\"; port = 25; } }",
        "E048",
        (1, 44),
        &["`port` does not apply to map `m` of type hash"],
    ),
    case(
        "socket map without mapname",
        "smar { map m { type = socket; path = /s.sock; } }",
        "E049",
        (1, 16),
        &["socket map `m` needs `mapname`"],
    ),
    case(
        "socket map with address but no port",
        "smar { map m { type = socket; mapname = x; address = 1.2.3.4; } }",
        "E049",
        (1, 16),
        &["socket map `m`", "`address` and `port`"],
    ),
    case(
        "hash map without file",
        "smar { map m { type = hash; } }",
        "E049",
        (1, 16),
        &["map `m` of type hash needs `file`"],
    ),
    case(
        "inet listen_socket without port",
        "qmgr { start_action = accept; listen_socket { type = inet; } }",
        "E050",
        (1, 31),
        &["inet `listen_socket` of `qmgr` needs a `port`"],
    ),
    case(
        "unix listen_socket without path",
        "smtps {\n  listen_socket { type = unix; }\n}",
        "E050",
        (2, 3),
        &["unix `listen_socket` of `smtps` needs a `path`"],
    ),
    case(
        "min_processes above max_processes",
        "smtpc { min_processes = 4; max_processes = 2; }",
        "E051",
        (1, 9),
        &["`min_processes` (4)", "`max_processes` (2)", "`smtpc`"],
    ),
    case(
        "retry_min_delay above retry_max_delay",
        "qmgr { retry_min_delay = 1h; retry_max_delay = 10m; }",
        "E052",
        (1, 8),
        &["`retry_min_delay`", "`retry_max_delay`"],
    ),
    case(
        "aliases with both file and name",
        "smar { map a { type = passwd; } aliases { file = a.db; name = a; } }",
        "E053",
        (1, 56),
        &["`aliases` takes either `file` or `name`"],
    ),
    case(
        "mailertable with both file and name",
        "smar { mailertable { file = routes; name = x; } map x { type = hash; file = x.db; } }",
        "E053",
        (1, 37),
        &["`mailertable`"],
    ),
    case(
        "sequence that contains itself",
        "smar { map s { type = sequence; maps = { s }; } }",
        "E054",
        (1, 33),
        &["sequence map `s` contains itself"],
    ),
    case(
        "sequence cycle through another sequence",
        "smar {\n  map a { type = sequence; maps = { b }; }\n  map b { type = sequence; maps = { a }; }\n}",
        "E054",
        (2, 28),
        &["sequence map `a` contains itself"],
    ),
    case(
        "protected_recipients without allow_by",
        "smtps { flags = access; protected_recipients { match_type = exact; } }",
        "E055",
        (1, 25),
        &["`protected_recipients` needs `allow_by`"],
    ),
    case(
        "five nameservers",
        "smar { nameserver = { 10.0.0.1, 10.0.0.2, 10.0.0.3, 10.0.0.4, 10.0.0.5 }; }",
        "E056",
        (1, 63),
        &["`nameserver`", "5 addresses", "at most 4"],
    ),
    case(
        "AQ_max_entries not above max_recipients_per_transaction",
        "qmgr { AQ_max_entries = 100; }\nsmtps { }",
        "E057",
        (1, 8),
        &["`AQ_max_entries` (100)", "`max_recipients_per_transaction` (1000)"],
    ),
    case(
        "AQ_max_entries equal to max_recipients_per_transaction",
        "smtps MSA {\n  max_recipients_per_transaction = 8192;\n}",
        "E057",
        (2, 3),
        &["`smtps MSA`"],
    ),
    case(
        "two smtps on the same port",
        "smtps A { listen_socket { port = 25; } }\nsmtps B { listen_socket { port = 25; } }",
        "E058",
        (2, 27),
        &["`smtps B` listens on *:25, as `smtps A` does"],
    ),
    case(
        "one smtps on all addresses, one on 127.0.0.1, same port",
        "smtps MTA { listen_socket { port = 25; } }\n\
         smtps { listen_socket { address = 127.0.0.1; port = 25; } }",
        "E058",
        (2, 46),
        &["listens on 127.0.0.1:25"],
    ),
    // ------------------------------------------------------------ warnings
    case(
        "netmask wider than 32 bits",
        "smar { greylisting { netmask = 0xFFFFFFFF00; } }",
        "W001",
        (1, 32),
        &["`netmask`", "0xFFFFFF00"],
    ),
    case(
        "queue_delay_timeout not below queue_return_timeout",
        "qmgr { queue_delay_timeout = 5d; queue_return_timeout = 5d; }",
        "W002",
        (1, 8),
        &["`queue_delay_timeout`", "`queue_return_timeout`"],
    ),
    case(
        "protected_recipients without the access flag",
        "smtps { protected_recipients { allow_by = { sender }; } }",
        "W003",
        (1, 9),
        &["`protected_recipients`", "`access` flag"],
    ),
    case(
        "greylisting flag without smar greylisting",
        "smtps { flags = { greylisting }; }",
        "W004",
        (1, 9),
        &["`greylisting` flag", "smar"],
    ),
    case(
        "tls certificate without key",
        "smtps { tls { cert_file = c.pem; } }",
        "W005",
        (1, 9),
        &["`cert_file`", "`key_file`"],
    ),
    case(
        "max_processes = 0",
        "smtpc { min_processes = 0; max_processes = 0; }",
        "W006",
        (1, 28),
        &["`max_processes = 0`", "`smtpc`"],
    ),
    case(
        "max_errors_per_DSN in its older place",
        "qmgr { max_errors_per_DSN = 5; }",
        "W008",
        (1, 8),
        &["`max_errors_per_DSN`", "DSN_handling"],
    ),
    case(
        "components as different users, no group",
        "qmgr { user = smxq; } smtps { user = smxs; }",
        "W009",
        (1, 8),
        &["qmgr as smxq, smtps as smxs", "without one `group`"],
    ),
    case(
        "components as different users, different groups",
        "qmgr { user = smxq; group = smx; } smtps { user = smxs; group = smxs; }",
        "W009",
        (1, 57),
        &["smtps as smxs:smxs", "reach each other"],
    ),
];

/// Different users in one group, or one user: no W009.
#[test]
fn components_sharing_a_group_or_a_user_are_clean() {
    for text in [
        "qmgr { user = smxq; group = smx; } smar { user = smxm; group = smx; } \
         smtps { user = smxs; group = smx; } smtpc { user = smxc; group = smx; }",
        "qmgr { user = smx; } smar { user = smx; } smtps { user = smx; } smtpc { user = smx; }",
        "qmgr { user = smxq; group = smx; } lmtpl { user = smxl; }",
    ] {
        let checked = check_str("t.conf", text);
        assert!(
            checked.diagnostics.is_empty(),
            "{text}: {:?}",
            checked.diagnostics
        );
    }
}

#[test]
fn invalid_inputs_are_reported_at_the_right_place() {
    assert!(CASES.len() >= 45, "{} cases", CASES.len());
    let mut failures = Vec::new();
    for c in CASES {
        let checked = check_str("t.conf", c.text);
        let listing: Vec<String> = checked
            .diagnostics
            .iter()
            .map(|d| {
                let lc = d.line_col(&checked.source);
                format!(
                    "{} {:?} {} (hint: {:?})",
                    d.code,
                    lc.map(|l| (l.line, l.col)),
                    d.message,
                    d.hint
                )
            })
            .collect();
        let found = if c.first {
            checked.diagnostics.first()
        } else {
            checked
                .diagnostics
                .iter()
                .find(|d| d.code == c.code && c.message.iter().all(|w| d.message.contains(w)))
        };
        let Some(d) = found else {
            failures.push(format!("{}: no diagnostic; got {listing:#?}", c.what));
            continue;
        };
        let lc = d.line_col(&checked.source).map(|l| (l.line, l.col));
        let mut wrong = Vec::new();
        if d.code != c.code {
            wrong.push(format!("code {} instead of {}", d.code, c.code));
        }
        if lc != Some((c.line, c.col)) {
            wrong.push(format!("at {lc:?} instead of {:?}", (c.line, c.col)));
        }
        for w in c.message {
            if !d.message.contains(w) {
                wrong.push(format!("message lacks {w:?}"));
            }
        }
        for w in c.hint {
            if !d.hint.as_deref().unwrap_or("").contains(w) {
                wrong.push(format!("hint lacks {w:?}"));
            }
        }
        let want = if c.code.starts_with('W') {
            Severity::Warning
        } else {
            Severity::Error
        };
        if d.severity != want {
            wrong.push(format!("severity {:?}", d.severity));
        }
        if c.code.starts_with('E') && checked.is_ok() {
            wrong.push("is_ok() despite an error".into());
        }
        if c.code.starts_with('W') && !checked.is_ok() {
            wrong.push("a warning case has an error".into());
        }
        if !wrong.is_empty() {
            failures.push(format!(
                "{}: {}; got {listing:#?}",
                c.what,
                wrong.join(", ")
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// A syntax error stops the parse: there is no typed configuration and
/// exactly one diagnostic.
#[test]
fn a_syntax_error_yields_one_diagnostic_and_no_config() {
    // A forgotten comma is found after the parse, when the list is read.
    let parse_errors = CASES.iter().filter(|c| {
        matches!(c.code, "E001" | "E002" | "E003") && !c.what.starts_with("forgotten comma")
    });
    for c in parse_errors {
        let checked = check_str("t.conf", c.text);
        assert!(checked.config.is_none(), "{}", c.what);
        assert_eq!(checked.diagnostics.len(), 1, "{}", c.what);
    }
}

/// A value that is written but unreadable is reported once, where it is
/// written, and not a second time as "missing".
#[test]
fn a_bad_value_is_not_also_reported_as_missing() {
    for (text, code) in [
        ("smar { map m { type = nosuch; } }", "E023"),
        ("smar { local_user_map { name = \"\"; } }", "E020"),
        ("smar { dnsbl { domain = x; tag = \"\"; } }", "E020"),
        (
            "qmgr { start_action = accept; listen_socket { type = inet; port = 0; } }",
            "E022",
        ),
        (
            "smtps { listen_socket { type = inet; port = 70000; } }",
            "E022",
        ),
    ] {
        let checked = check_str("t.conf", text);
        let got: Vec<&str> = checked.diagnostics.iter().map(|d| d.code).collect();
        assert_eq!(got, vec![code], "{text}");
    }
}

/// Every diagnostic of every case renders with its file:line:col and a caret.
#[test]
fn every_case_renders() {
    for c in CASES {
        let checked = check_str("t.conf", c.text);
        for d in &checked.diagnostics {
            let out = smx_grammar::diag::render(d, &checked.source, smx_grammar::Format::Human);
            assert!(out.starts_with("t.conf:"), "{}: {out}", c.what);
            assert!(out.contains(d.code), "{}: {out}", c.what);
            if d.span.is_some() {
                assert!(out.contains('^'), "{}: {out}", c.what);
            }
        }
    }
}

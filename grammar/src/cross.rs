//! Cross-checks: rules that involve more than one option, taken from the
//! seed's prose (README §3.7–§3.11). Each finding points at the option that
//! has to change.

use crate::ast::Span;
use crate::config::build::{Ctx, Instance};
use crate::config::common::{McpConf, SocketType, StartAction};
use crate::config::smar::{MapConf, MapType};
use crate::config::{Config, COMPONENTS};
use crate::diag::{codes, suggest, Diagnostic};
use std::collections::{HashMap, HashSet};

/// Runs every cross-check on a built configuration.
pub fn check(conf: &Config, ctx: &mut Ctx) {
    let g = &conf.global;
    mcp_sections(conf, ctx);
    maps(conf, ctx);
    // qmgr
    let q = &g.qmgr;
    if q.ok_disk_space <= q.min_disk_space {
        let at = pick(ctx, &["qmgr.ok_disk_space", "qmgr.min_disk_space", "qmgr"]);
        ctx.push(
            Diagnostic::error(
                codes::DISK_SPACE_ORDER,
                at,
                format!(
                    "`ok_disk_space` ({}) must be larger than `min_disk_space` ({})",
                    crate::value::format_size(q.ok_disk_space),
                    crate::value::format_size(q.min_disk_space)
                ),
            )
            .with_hint("normal operation resumes at ok_disk_space; raise it above min_disk_space"),
        );
    }
    if q.iqdb.hash_table_entries <= q.iqdb.max_cache_entries {
        let at = pick(
            ctx,
            &[
                "qmgr.iqdb.hash_table_entries",
                "qmgr.iqdb.max_cache_entries",
                "qmgr.iqdb",
                "qmgr",
            ],
        );
        ctx.push(
            Diagnostic::error(
                codes::HASH_TABLE_SIZE,
                at,
                format!(
                    "`hash_table_entries` ({}) must be larger than `max_cache_entries` ({})",
                    q.iqdb.hash_table_entries, q.iqdb.max_cache_entries
                ),
            )
            .with_hint(
                "README §3.8: the IQDB hash table must be larger than its cache; twice is usual",
            ),
        );
    }
    if q.retry_min_delay > q.retry_max_delay {
        let at = pick(
            ctx,
            &["qmgr.retry_min_delay", "qmgr.retry_max_delay", "qmgr"],
        );
        ctx.push(Diagnostic::error(
            codes::RETRY_ORDER,
            at,
            "`retry_min_delay` is larger than `retry_max_delay`",
        ));
    }
    if q.queue_delay_timeout >= q.queue_return_timeout {
        if let Some(at) = ctx.span("qmgr.queue_delay_timeout") {
            ctx.push(
                Diagnostic::warning(
                    codes::NO_DELAY_DSN,
                    at,
                    "`queue_delay_timeout` is not below `queue_return_timeout`: no delay warnings will be sent",
                )
                .with_hint("that is how delay DSNs are turned off; lower it to get warnings"),
            );
        }
    }
    for (i, s) in g.smtps.iter().enumerate() {
        let base = inst_path("smtps", s, i);
        if q.aq_max_entries <= s.conf.max_recipients_per_transaction {
            let at = pick(
                ctx,
                &[
                    "qmgr.aq_max_entries",
                    &format!("{base}.max_recipients_per_transaction"),
                    "qmgr",
                    &base,
                ],
            );
            ctx.push(
                Diagnostic::error(
                    codes::AQ_TOO_SMALL,
                    at,
                    format!(
                        "`AQ_max_entries` ({}) must be larger than `max_recipients_per_transaction` ({}) of `{}`",
                        q.aq_max_entries,
                        s.conf.max_recipients_per_transaction,
                        title("smtps", s)
                    ),
                )
                .with_hint("README §3.8: the active queue must hold the largest transaction"),
            );
        }
        smtps_checks(conf, s, &base, ctx);
    }
    // smtps ids
    let ids = conf.smtps_ids();
    let mut seen: HashMap<u64, usize> = HashMap::new();
    for (i, id) in ids.iter().enumerate() {
        if let Some(first) = seen.insert(*id, i) {
            let s = &g.smtps[i];
            let base = inst_path("smtps", s, i);
            let at = pick(ctx, &[&format!("{base}.id"), &base]);
            ctx.push(
                Diagnostic::error(
                    codes::DUPLICATE_SMTPS_ID,
                    at,
                    format!(
                        "`{}` has id {id}, like `{}`",
                        title("smtps", s),
                        title("smtps", &g.smtps[first])
                    ),
                )
                .with_hint("each SMTP server needs a unique id (README §3.10.1)"),
            );
        }
    }
    // smar
    let smar = &g.smar;
    if smar.address_delimiter.chars().count() != 1 {
        let at = pick(ctx, &["smar.address_delimiter", "smar"]);
        ctx.push(
            Diagnostic::error(
                codes::OUT_OF_RANGE,
                at,
                format!(
                    "`address_delimiter` must be one character, not `{}`",
                    smar.address_delimiter
                ),
            )
            .with_hint("the usual delimiters are + and -"),
        );
    }
    for (i, d) in smar.dnsbl.iter().enumerate() {
        let base = format!("smar.dnsbl[{i}]");
        for (opt, missing) in [
            ("domain", d.conf.domain.is_none()),
            ("tag", d.conf.tag.is_none()),
        ] {
            // A value written but unreadable is reported where it is.
            if missing && !ctx.is_explicit(&format!("{base}.{opt}")) {
                let at = pick(ctx, &[&base, "smar"]);
                ctx.push(
                    Diagnostic::error(codes::MISSING_OPTION, at, format!("`dnsbl` needs `{opt}`"))
                        .with_hint("write `dnsbl { domain = dnsbl.example; tag = example; }`"),
                );
            }
        }
    }
    // `conf show -d` prints the default `file` next to `name`; only a file
    // other than the default conflicts with `name`.
    let other_file = |spec: &crate::schema::SectionSpec, file: &str| {
        spec.option("file").and_then(|o| o.default) != Some(file)
    };
    use crate::config::build::Section;
    use crate::config::smar::{AliasesConf, MailertableConf};
    for (sec, name_set) in [
        (
            "aliases",
            ctx.is_explicit("smar.aliases.file")
                && ctx.is_explicit("smar.aliases.name")
                && other_file(AliasesConf::spec(), &smar.aliases.file),
        ),
        (
            "mailertable",
            ctx.is_explicit("smar.mailertable.file")
                && ctx.is_explicit("smar.mailertable.name")
                && other_file(MailertableConf::spec(), &smar.mailertable.file),
        ),
    ] {
        if name_set {
            let at = pick(ctx, &[&format!("smar.{sec}.name")]);
            ctx.push(
                Diagnostic::error(
                    codes::FILE_AND_NAME,
                    at,
                    format!("`{sec}` takes either `file` or `name`, not both"),
                )
                .with_hint("use `name` for a declared map, `file` for a file"),
            );
        }
    }
    if let Some(l) = &smar.local_user_map {
        if l.name.is_none() && !ctx.is_explicit("smar.local_user_map.name") {
            let at = pick(ctx, &["smar.local_user_map"]);
            ctx.push(
                Diagnostic::error(codes::MISSING_OPTION, at, "`local_user_map` needs `name`")
                    .with_hint("name a map declared with `map NAME { ... }` in smar"),
            );
        }
    }
}

fn title<T>(kw: &str, i: &Instance<T>) -> String {
    match &i.name {
        Some(n) => format!("{kw} {n}"),
        None => kw.to_string(),
    }
}

fn inst_path<T>(kw: &str, i: &Instance<T>, n: usize) -> String {
    match &i.name {
        Some(name) => format!("{kw}[{}]", name.to_ascii_lowercase()),
        None => format!("{kw}[{n}]"),
    }
}

/// The span of the first path that was written; the file start otherwise.
fn pick(ctx: &Ctx, paths: &[&str]) -> Span {
    paths.iter().find_map(|p| ctx.span(p)).unwrap_or_default()
}

fn smtps_checks(conf: &Config, s: &Instance<crate::config::SmtpsConf>, base: &str, ctx: &mut Ctx) {
    let c = &s.conf;
    let access = c.flags.has("access");
    if let Some(p) = &c.protected_recipients {
        if p.allow_by.0.is_empty() {
            let at = pick(ctx, &[&format!("{base}.protected_recipients"), base]);
            ctx.push(
                Diagnostic::error(
                    codes::ALLOW_BY_MISSING,
                    at,
                    "`protected_recipients` needs `allow_by` with `sender`, `client_ip` or both",
                )
                .with_hint("write `allow_by = { sender, client_ip };`"),
            );
        }
        if !access {
            let at = pick(ctx, &[&format!("{base}.protected_recipients"), base]);
            ctx.push(
                Diagnostic::warning(
                    codes::NEEDS_ACCESS_FLAG,
                    at,
                    "`protected_recipients` looks up the access map, but this server lacks the `access` flag",
                )
                .with_hint("add `access` to `flags` (README §3.10.2)"),
            );
        }
    }
    if c.flags.has("greylisting") && conf.global.smar.greylisting.is_none() {
        let at = pick(ctx, &[&format!("{base}.flags"), base]);
        ctx.push(
            Diagnostic::warning(
                codes::GREYLISTING_NOT_CONFIGURED,
                at,
                "the `greylisting` flag is set, but smar has no `greylisting` section",
            )
            .with_hint("add `smar { greylisting { grey_wait = 10m; } }` (README §3.9.4)"),
        );
    }
    if let Some(t) = &c.tls {
        if t.cert_file.is_some() != t.key_file.is_some() {
            let at = pick(ctx, &[&format!("{base}.tls"), base]);
            ctx.push(
                Diagnostic::warning(
                    codes::TLS_INCOMPLETE,
                    at,
                    "`tls` needs both `cert_file` and `key_file`; STARTTLS will not be offered",
                )
                .with_hint("give the certificate and its private key"),
            );
        }
    }
}

struct McpSection<'a> {
    title: String,
    path: String,
    mcp: &'a McpConf,
}

/// qmgr, smar, smtps and smtpc under different users reach each other's
/// sockets and files only through one group they all run with: the MCP
/// gives a component its `group` alone, no supplementary groups, so the
/// README's layout of one group per component (smxs, smxq, ...) cannot
/// work (smxd(8), Ownership).
fn shared_group(all: &[McpSection<'_>], ctx: &mut Ctx) {
    let users: Vec<&McpSection<'_>> = all
        .iter()
        .filter(|s| {
            let kw = s.title.split(' ').next().unwrap_or_default();
            ["qmgr", "smar", "smtps", "smtpc"].contains(&kw) && s.mcp.user.is_some()
        })
        .collect();
    let names: std::collections::BTreeSet<&str> =
        users.iter().filter_map(|s| s.mcp.user.as_deref()).collect();
    let Some(first) = users.first() else {
        return;
    };
    let odd = users
        .iter()
        .find(|s| s.mcp.group.is_none() || s.mcp.group != first.mcp.group);
    let (Some(odd), true) = (odd, names.len() > 1) else {
        return;
    };
    let at = pick(
        ctx,
        &[
            &format!("{}.group", odd.path),
            &format!("{}.user", odd.path),
            &odd.path,
        ],
    );
    let shown: Vec<String> = users
        .iter()
        .map(|s| {
            let user = s.mcp.user.as_deref().unwrap_or_default();
            match &s.mcp.group {
                Some(g) => format!("{} as {user}:{g}", s.title),
                None => format!("{} as {user}", s.title),
            }
        })
        .collect();
    ctx.push(
        Diagnostic::warning(
            codes::NO_SHARED_GROUP,
            at,
            format!(
                "components run as different users without one `group` ({}): they may not reach each other's sockets and files",
                shown.join(", ")
            ),
        )
        .with_hint(
            "give qmgr, smar, smtps and smtpc the same `group` (e.g. `group = smx;` in each); \
             the MCP keeps no supplementary groups (smxd(8), Ownership)",
        ),
    );
}

fn mcp_sections(conf: &Config, ctx: &mut Ctx) {
    let g = &conf.global;
    let mut all: Vec<McpSection<'_>> = vec![
        McpSection {
            title: "qmgr".into(),
            path: "qmgr".into(),
            mcp: &g.qmgr.mcp,
        },
        McpSection {
            title: "smar".into(),
            path: "smar".into(),
            mcp: &g.smar.mcp,
        },
        McpSection {
            title: "smtpc".into(),
            path: "smtpc".into(),
            mcp: &g.smtpc.mcp,
        },
    ];
    if let Some(l) = &g.lmtpl {
        all.push(McpSection {
            title: "lmtpl".into(),
            path: "lmtpl".into(),
            mcp: &l.mcp,
        });
    }
    for (i, s) in g.smtps.iter().enumerate() {
        all.push(McpSection {
            title: title("smtps", s),
            path: inst_path("smtps", s, i),
            mcp: &s.conf.mcp,
        });
    }
    for s in &conf.services {
        let kw = s.name.clone().unwrap_or_default();
        all.push(McpSection {
            title: kw.clone(),
            path: kw.to_ascii_lowercase(),
            mcp: &s.conf.mcp,
        });
    }
    shared_group(&all, ctx);
    let mut known: HashSet<String> = COMPONENTS.iter().map(|c| c.to_string()).collect();
    for s in &all {
        known.insert(s.title.to_ascii_lowercase());
        if let Some(first) = s.title.split(' ').next() {
            known.insert(first.to_ascii_lowercase());
        }
        if let Some(n) = s.title.split(' ').nth(1) {
            known.insert(n.to_ascii_lowercase());
        }
    }
    let mut listeners: HashMap<String, String> = HashMap::new();
    for s in &all {
        let m = s.mcp;
        let p = &s.path;
        let is_smtps = s.path.starts_with("smtps");
        if m.start_action != StartAction::Wait && m.listen_socket.is_none() && !is_smtps {
            let at = pick(ctx, &[&format!("{p}.start_action"), p]);
            ctx.push(
                Diagnostic::error(
                    codes::MISSING_LISTEN_SOCKET,
                    at,
                    format!(
                        "`{}` has `start_action = {}` but no `listen_socket`",
                        s.title,
                        m.start_action.as_str()
                    ),
                )
                .with_hint("add `listen_socket { type = inet; port = ...; }`, or use `start_action = wait`"),
            );
        }
        if let Some(ls) = &m.listen_socket {
            let lp = format!("{p}.listen_socket");
            match ls.socket_type {
                SocketType::Inet => {
                    if ls.port.is_none() && !ctx.is_explicit(&format!("{lp}.port")) {
                        let at = pick(ctx, &[&lp, p]);
                        ctx.push(
                            Diagnostic::error(
                                codes::SOCKET_INCOMPLETE,
                                at,
                                format!("the inet `listen_socket` of `{}` needs a `port`", s.title),
                            )
                            .with_hint(
                                "add `port = 25;` (and `address = ...;` to listen on one address)",
                            ),
                        );
                    }
                    if let Some(port) = ls.port {
                        let addr = ls.address.map_or("*".to_string(), |a| a.to_string());
                        let key = format!("{addr}:{port}");
                        let clash = listeners
                            .iter()
                            .find(|(k, _)| {
                                let (a, pt) = k.rsplit_once(':').unwrap_or(("", ""));
                                pt == port.to_string() && (a == addr || a == "*" || addr == "*")
                            })
                            .map(|(_, v)| v.clone());
                        if let Some(other) = clash {
                            let at = pick(ctx, &[&format!("{lp}.port"), &lp, p]);
                            ctx.push(
                                Diagnostic::error(
                                    codes::DUPLICATE_LISTENER,
                                    at,
                                    format!("`{}` listens on {key}, as `{other}` does", s.title),
                                )
                                .with_hint("give each listener its own port or address"),
                            );
                        } else {
                            listeners.insert(key, s.title.clone());
                        }
                    }
                }
                SocketType::Unix => {
                    if ls.path.is_none() && !ctx.is_explicit(&format!("{lp}.path")) {
                        let at = pick(ctx, &[&lp, p]);
                        ctx.push(
                            Diagnostic::error(
                                codes::SOCKET_INCOMPLETE,
                                at,
                                format!("the unix `listen_socket` of `{}` needs a `path`", s.title),
                            )
                            .with_hint("add `path = \"name.sock\";`"),
                        );
                    }
                }
            }
        }
        if m.min_processes > m.max_processes {
            let at = pick(
                ctx,
                &[
                    &format!("{p}.min_processes"),
                    &format!("{p}.max_processes"),
                    p,
                ],
            );
            ctx.push(Diagnostic::error(
                codes::PROCESS_COUNT_ORDER,
                at,
                format!(
                    "`min_processes` ({}) is above `max_processes` ({}) in `{}`",
                    m.min_processes, m.max_processes, s.title
                ),
            ));
        }
        if m.max_processes == 0 {
            let at = pick(ctx, &[&format!("{p}.max_processes"), p]);
            ctx.push(Diagnostic::warning(
                codes::MIN_PROCESSES_ZERO,
                at,
                format!(
                    "`max_processes = 0`: the MCP will start no `{}` process",
                    s.title
                ),
            ));
        }
        if let Some(dep_span) = ctx.span(&format!("{p}.restart_dependencies")) {
            for d in &m.restart_dependencies {
                if !known.contains(&d.to_ascii_lowercase()) {
                    let mut diag = Diagnostic::error(
                        codes::UNKNOWN_DEPENDENCY,
                        dep_span,
                        format!(
                            "`restart_dependencies` of `{}` names `{d}`, which is not a section",
                            s.title
                        ),
                    );
                    let cands: Vec<String> = known.iter().cloned().collect();
                    if let Some(g) = suggest(d, cands.iter().map(String::as_str)) {
                        diag = diag.with_hint(format!("did you mean `{g}`?"));
                    } else {
                        diag = diag.with_hint(format!(
                            "name sections of this file: {}",
                            COMPONENTS.join(", ")
                        ));
                    }
                    ctx.push(diag);
                }
            }
        }
    }
}

fn maps(conf: &Config, ctx: &mut Ctx) {
    let smar = &conf.global.smar;
    let declared: HashMap<String, &Instance<MapConf>> = smar
        .maps
        .iter()
        .filter_map(|m| m.name.as_ref().map(|n| (n.to_ascii_lowercase(), m)))
        .collect();
    let names: Vec<&str> = smar.maps.iter().filter_map(|m| m.name.as_deref()).collect();
    let refer = |ctx: &mut Ctx, path: &str, what: &str, name: &str| {
        if !declared.contains_key(&name.to_ascii_lowercase()) {
            let at = pick(ctx, &[path]);
            let mut d = Diagnostic::error(
                codes::UNDECLARED_MAP,
                at,
                format!("{what} names map `{name}`, which is not declared"),
            );
            d = match suggest(name, names.iter().copied()) {
                Some(g) => d.with_hint(format!("did you mean `{g}`?")),
                None => d.with_hint(format!(
                    "declare it in smar first: `map {name} {{ type = hash; file = \"{name}.db\"; }}`"
                )),
            };
            ctx.push(d);
        }
    };
    if let Some(n) = smar.local_user_map.as_ref().and_then(|l| l.name.as_ref()) {
        refer(ctx, "smar.local_user_map.name", "`local_user_map`", n);
    }
    if let Some(n) = &smar.aliases.name {
        refer(ctx, "smar.aliases.name", "`aliases`", n);
    }
    if let Some(n) = &smar.mailertable.name {
        refer(ctx, "smar.mailertable.name", "`mailertable`", n);
    }
    for m in &smar.maps {
        let Some(name) = &m.name else { continue };
        let base = format!("smar.map[{}]", name.to_ascii_lowercase());
        let c = &m.conf;
        let Some(t) = c.map_type else {
            if ctx.is_explicit(&format!("{base}.type")) {
                // Written but not a map type: already reported there.
                continue;
            }
            let at = pick(ctx, &[&base]);
            ctx.push(
                Diagnostic::error(
                    codes::MISSING_OPTION,
                    at,
                    format!("map `{name}` needs a `type`"),
                )
                .with_hint("one of: hash, btree, sequence, socket, passwd, texthash"),
            );
            continue;
        };
        let allowed: &[&str] = match t {
            MapType::Hash | MapType::Btree | MapType::Texthash => &["type", "file"],
            MapType::Socket => &["type", "mapname", "address", "path", "port", "timeout"],
            MapType::Sequence => &["type", "maps"],
            MapType::Passwd => &["type"],
        };
        for opt in [
            "file", "mapname", "address", "path", "port", "maps", "timeout",
        ] {
            let p = format!("{base}.{opt}");
            if let Some(at) = ctx.span(&p) {
                if !allowed.contains(&opt) {
                    ctx.push(
                        Diagnostic::error(
                            codes::MAP_OPTION_FOR_TYPE,
                            at,
                            format!(
                                "`{opt}` does not apply to map `{name}` of type {}",
                                t.as_str()
                            ),
                        )
                        .with_hint(format!(
                            "a {} map takes: {}",
                            t.as_str(),
                            allowed.join(", ")
                        )),
                    );
                }
            }
        }
        let at = pick(ctx, &[&format!("{base}.type"), &base]);
        let incomplete = |msg: String, hint: &str| {
            Diagnostic::error(codes::MAP_INCOMPLETE, at, msg).with_hint(hint.to_string())
        };
        match t {
            MapType::Hash | MapType::Btree | MapType::Texthash if c.file.is_none() => {
                ctx.push(incomplete(
                    format!("map `{name}` of type {} needs `file`", t.as_str()),
                    "add `file = \"name.db\";` (with the extension)",
                ))
            }
            MapType::Socket => {
                if c.mapname.is_none() {
                    ctx.push(incomplete(
                        format!("socket map `{name}` needs `mapname`"),
                        "add the name the socketmap server knows it by: `mapname = aliases;`",
                    ));
                }
                let unix = c.path.is_some();
                let inet = c.address.is_some() || c.port.is_some();
                if unix && inet {
                    ctx.push(incomplete(
                        format!("socket map `{name}` has both `path` and `address`/`port`"),
                        "give either a Unix socket `path`, or `address` and `port`",
                    ));
                } else if !(unix || c.address.is_some() && c.port.is_some()) {
                    ctx.push(incomplete(
                        format!("socket map `{name}` needs `path`, or `address` and `port`"),
                        "e.g. `path = /var/run/sockmap.sock;` or `address = 127.0.0.1; port = 2101;`",
                    ));
                }
            }
            MapType::Sequence => {
                if c.maps.is_empty() {
                    ctx.push(incomplete(
                        format!("sequence map `{name}` needs `maps`"),
                        "add `maps = { first, second };`",
                    ));
                }
                for member in &c.maps {
                    refer(
                        ctx,
                        &format!("{base}.maps"),
                        &format!("sequence map `{name}`"),
                        member,
                    );
                }
            }
            _ => {}
        }
    }
    // Cycles among sequences.
    for m in &smar.maps {
        let Some(name) = &m.name else { continue };
        let mut stack: Vec<String> = vec![name.to_ascii_lowercase()];
        let mut seen: HashSet<String> = HashSet::new();
        let mut cyclic = false;
        while let Some(cur) = stack.pop() {
            let Some(mm) = declared.get(&cur) else {
                continue;
            };
            for member in &mm.conf.maps {
                let lm = member.to_ascii_lowercase();
                if lm == name.to_ascii_lowercase() {
                    cyclic = true;
                }
                if seen.insert(lm.clone()) {
                    stack.push(lm);
                }
            }
        }
        if cyclic {
            let base = format!("smar.map[{}]", name.to_ascii_lowercase());
            let at = pick(ctx, &[&format!("{base}.maps"), &base]);
            ctx.push(
                Diagnostic::error(
                    codes::MAP_CYCLE,
                    at,
                    format!("sequence map `{name}` contains itself"),
                )
                .with_hint("a sequence may not name itself, directly or through another sequence"),
            );
        }
    }
}

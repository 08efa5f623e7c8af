//! `smx-migrate sendmail`: a sendmail 8 site (seed 001) converted to
//! smx.conf and smx maps (sendmail X README §3.9, §4): sendmail.mc read
//! without m4 ([`m4`]), OSTYPE/DOMAIN files read from a sendmail-cf tree
//! when one is given, `Cw` lines of sendmail.cf, and the maps the features
//! name (access, mailertable, virtusertable, aliases, local-host-names).

mod cf;
pub mod m4;
mod maps;

use crate::error::{read, MigrateError};
use crate::report::Outcome;
use crate::site::{Smtps, Tls};
use crate::Migration;
use std::path::{Path, PathBuf};

/// What to read.
#[derive(Debug, Clone)]
pub struct Input {
    /// sendmail.mc.
    pub mc: PathBuf,
    /// sendmail.cf.
    pub cf: Option<PathBuf>,
    /// Directory of the maps; default: that of the .mc.
    pub etc: Option<PathBuf>,
    /// The sendmail-cf tree (with ostype/ and domain/).
    pub cf_dir: Option<PathBuf>,
}

struct Cx<'a> {
    input: &'a Input,
    etc: PathBuf,
    features: Vec<String>,
    smtps: Vec<Smtps>,
    tls: Tls,
    client_tls: Tls,
    limits: Vec<(String, String)>,
    /// Settings the .mc gave, by the .mc name (`SMART_HOST`,
    /// `DAEMON_OPTIONS`, ...), with the line that set them: a .cf value
    /// overrides them and the report says so.
    mc_set: Vec<(String, String)>,
}

fn converted(to: impl Into<String>) -> Outcome {
    Outcome::Converted { to: to.into() }
}
fn approx(to: impl Into<String>, how: impl Into<String>) -> Outcome {
    Outcome::Approximated {
        to: to.into(),
        how: how.into(),
    }
}
fn nc(why: impl Into<String>, todo: impl Into<String>) -> Outcome {
    Outcome::NotConvertible {
        why: why.into(),
        todo: todo.into(),
    }
}

/// Converts a sendmail site.
pub fn convert(input: &Input, hostname: &str) -> Result<Migration, MigrateError> {
    let text = read(&input.mc)?;
    let mc_dir = input.mc.parent().map(Path::to_path_buf).unwrap_or_default();
    let etc = input.etc.clone().unwrap_or_else(|| mc_dir.clone());
    let mut m = Migration {
        inputs: vec![mc_dir, etc.clone()],
        ..Migration::default()
    };
    m.site.hostname = Some(hostname.to_string());
    m.site.passwd_users = true;
    m.policy.checks_destination = true;
    // sendmail lets the local host relay ($=w holds localhost).
    m.policy.networks.push((std::net::Ipv4Addr::LOCALHOST, 8));
    let _ = m
        .site
        .add_access("cltaddr:127", "relay", "built-in: localhost relays");
    for d in [hostname, "localhost"] {
        let _ = m.site.add_route(d, "lmtp:", "built-in: $=w");
        m.policy.domains.push((d.to_lowercase(), false));
    }
    let mut cx = Cx {
        input,
        etc,
        features: Vec::new(),
        smtps: Vec::new(),
        tls: Tls::default(),
        client_tls: Tls::default(),
        limits: Vec::new(),
        mc_set: Vec::new(),
    };
    let file = input
        .mc
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    cx.file(&mut m, &file, &text, 0);
    if let Some(cf) = &input.cf {
        let text = read(cf)?;
        let name = cf
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        cx.cf(&mut m, &name, &text);
    }
    if cx.smtps.is_empty() {
        cx.smtps.push(Smtps::new(Some("MTA"), 25));
    }
    for s in cx.smtps.iter_mut() {
        for (n, v) in &cx.limits {
            s.set(n, v.clone());
        }
        if cx.tls.cert_file.is_some() {
            s.tls = Some(cx.tls.clone());
        }
    }
    m.site.smtps = cx.smtps.clone();
    if cx.client_tls != Tls::default() {
        m.site.smtpc_tls = Some(cx.client_tls.clone());
    }
    maps::read_all(&mut m, &cx.etc, &cx.features);
    Ok(m)
}

/// `FEATURE(relay_entire_domain)`: sendmail relays to and for every host
/// of the domains of class {m}, which holds `$m`, the domain part of the
/// host name (`$j` without its first label): recipients `@m` and `@*.m`,
/// and clients whose host name is `m` or ends in `.m`. smx: `to:@m`,
/// `to:@.m`, `cltname:m`, `cltname:.m` relay entries (README §3.9.3).
fn relay_entire_domain(m: &mut Migration, origin: &str) -> Outcome {
    let host = m.site.hostname.clone().unwrap_or_default().to_lowercase();
    let Some((_, d)) = host.trim_end_matches('.').split_once('.') else {
        return nc(
            format!("the host name {host} has no domain part ($m is empty)"),
            "add `to:@.DOMAIN relay` and `cltname:.DOMAIN relay` entries to the access map",
        );
    };
    if !d.contains('.') {
        return nc(
            format!(
                "$m is the top-level domain {d}; relaying for all of it would be an open relay"
            ),
            "add `to:@.DOMAIN relay` and `cltname:.DOMAIN relay` entries for the site's own domain",
        );
    }
    let keys = [
        format!("to:@{d}"),
        format!("to:@.{d}"),
        format!("cltname:{d}"),
        format!("cltname:.{d}"),
    ];
    for k in &keys {
        if let Err(e) = m.site.add_access(k, "relay", origin) {
            return nc(e, "add the relay entries by hand");
        }
    }
    m.policy.domains.push((d.to_string(), true));
    approx(
        format!("access: {} relay", keys.join(" relay, ")),
        format!(
            "$m = {d} from the host name; a client name counts in smx only when its PTR and A records agree"
        ),
    )
}

fn local_domain(m: &mut Migration, d: &str, origin: &str) -> Outcome {
    match m.site.add_route(d, "lmtp:", origin) {
        Ok(()) => {
            m.policy.domains.push((d.to_lowercase(), false));
            converted(format!("mailertable: {d} lmtp:"))
        }
        Err(e) => nc(e, "add the local domain to the mailertable by hand"),
    }
}

impl Cx<'_> {
    fn file(&mut self, m: &mut Migration, file: &str, text: &str, depth: usize) {
        for call in m4::calls(text) {
            let directive = if call.args.is_empty() {
                call.name.clone()
            } else {
                format!("{}({})", call.name, call.args.join(", "))
            };
            let o = self.call(m, &call, depth);
            m.report.add(file, call.line, &directive, o);
        }
    }

    fn sub_file(&mut self, m: &mut Migration, dir: &str, name: &str, depth: usize) -> Outcome {
        let Some(cf_dir) = self.input.cf_dir.clone() else {
            return approx("not read", format!("{dir}/{name}.m4 is in the sendmail-cf tree; give --cf-dir to convert what it defines"));
        };
        if depth > 3 {
            return nc("nested too deeply", "check the file by hand");
        }
        let path = cf_dir.join(dir).join(format!("{name}.m4"));
        match std::fs::read_to_string(&path) {
            Ok(t) => {
                self.file(m, &format!("{dir}/{name}.m4"), &t, depth + 1);
                converted(format!(
                    "read {dir}/{name}.m4 (its directives are listed under that file)"
                ))
            }
            Err(e) => nc(
                format!("{dir}/{name}.m4: {e}"),
                "check the sendmail-cf tree",
            ),
        }
    }

    fn call(&mut self, m: &mut Migration, c: &m4::Call, depth: usize) -> Outcome {
        let a = |i: usize| c.args.get(i).map(|s| m4::unquote(s)).unwrap_or_default();
        match c.name.as_str() {
            "divert" | "VERSIONID" | "MAILER_DEFINITIONS" | "undefine" | "ifdef" | "dnl"
            | "LOCAL_CONFIG" | "LOCAL_RULESETS" | "HACK" | "SITECONFIG" => {
                converted("m4 framework; nothing to convert")
            }
            "include" => {
                let p = a(0);
                if p.ends_with("m4/cf.m4") || p.ends_with("/cf.m4") {
                    converted("the cf framework; nothing to convert")
                } else {
                    nc(
                        format!("{p}: an included file is not read"),
                        "convert the file's directives by hand",
                    )
                }
            }
            "OSTYPE" => self.sub_file(m, "ostype", &a(0), depth),
            "DOMAIN" => self.sub_file(m, "domain", &a(0), depth),
            "define" => {
                let origin = format!("sendmail.mc:{}", c.line);
                self.mc_set.push((a(0), origin.clone()));
                self.define(m, &a(0), &a(1), &origin)
            }
            "FEATURE" => self.feature(m, c),
            "DAEMON_OPTIONS" => {
                self.mc_set
                    .push(("DAEMON_OPTIONS".into(), format!("sendmail.mc:{}", c.line)));
                self.daemon(&a(0))
            }
            "MAILER" => match a(0).as_str() {
                "local" => converted("lmtpl (local delivery over LMTP)"),
                "smtp" => converted("smtpc"),
                "procmail" | "cyrus" | "cyrusv2" => approx(
                    "lmtp: mailertable entries",
                    "deliver through the agent's LMTP listener",
                ),
                x => nc(
                    format!("mailer {x} has no smx equivalent"),
                    "route its domains to an SMTP or LMTP host in the mailertable",
                ),
            },
            "MASQUERADE_AS"
            | "MASQUERADE_DOMAIN"
            | "MASQUERADE_DOMAIN_FILE"
            | "EXPOSED_USER"
            | "EXPOSED_USER_FILE"
            | "GENERICS_DOMAIN"
            | "GENERICS_DOMAIN_FILE" => nc(
                "smx does not rewrite sender addresses",
                "rewrite at the submission client",
            ),
            "LOCAL_DOMAIN" => {
                let d = a(0);
                local_domain(m, &d, &format!("sendmail.mc:{}", c.line))
            }
            "INPUT_MAIL_FILTER" | "MAIL_FILTER" => nc(
                "smx has no content milters",
                "use smtps policy_milter for policy checks; content milters are not supported yet",
            ),
            "RELAY_DOMAIN" => {
                let d = a(0);
                let origin = format!("sendmail.mc:{}", c.line);
                let ok = m
                    .site
                    .add_access(&format!("to:@{d}"), "relay", &origin)
                    .and(m.site.add_access(&format!("to:@.{d}"), "relay", &origin));
                m.policy.domains.push((d.to_lowercase(), true));
                match ok {
                    Ok(()) => converted(format!("access: to:@{d} relay, to:@.{d} relay")),
                    Err(e) => nc(e, "add the relay entries by hand"),
                }
            }
            "QUEUE_GROUP" => approx("one queue", "smx has a single queue; qmgr schedules it"),
            n if n.starts_with("Cw") => {
                let d = n.trim_start_matches("Cw").to_string();
                local_domain(m, &d, &format!("sendmail.mc:{}", c.line))
            }
            n => nc(
                format!("{n} is not converted by smx-migrate"),
                "check cf/README and smx.conf(5) by hand",
            ),
        }
    }

    fn define(&mut self, m: &mut Migration, name: &str, value: &str, origin: &str) -> Outcome {
        let secs = |v: &str| crate::common::seconds(v, 'm');
        match name {
            "SMART_HOST" | "MAIL_HUB" => {
                let v = value.trim();
                let (mailer, host) = match v.split_once(':') {
                    Some((mlr, h)) if !mlr.starts_with('[') => (mlr, h),
                    _ => ("smtp", v),
                };
                let route = match mailer {
                    "smtp" | "esmtp" | "relay" | "smtp8" | "dsmtp" => {
                        let inner = host.trim_matches(|ch| ch == '[' || ch == ']');
                        if inner.parse::<std::net::Ipv4Addr>().is_ok() {
                            format!("esmtp:[{inner}]")
                        } else {
                            format!("esmtp:{inner}")
                        }
                    }
                    x => {
                        return nc(
                            format!("mailer {x} for {name}"),
                            "write the mailertable `.` entry by hand",
                        )
                    }
                };
                if name == "MAIL_HUB" {
                    return approx("nothing", format!("MAIL_HUB forwards local mail; route the local domains with `{route}` instead of lmtp: if that is wanted"));
                }
                match m.site.add_route(".", &route, origin) {
                    Ok(()) => converted(format!("mailertable: . {route}")),
                    Err(e) => nc(e, "write the mailertable `.` entry by hand"),
                }
            }
            "confMAX_MESSAGE_SIZE" => match value.trim().parse::<u64>() {
                Ok(b) if b > 0 => {
                    let kb = crate::common::size_kb(b);
                    self.limits.push(("max_message_size".into(), kb.clone()));
                    converted(format!("smtps max_message_size = {kb}"))
                }
                _ => approx(
                    "max_message_size default (10MB)",
                    "0 means unlimited in sendmail",
                ),
            },
            "confMAX_RCPTS_PER_MESSAGE" => match value.trim().parse::<u64>() {
                Ok(n) if n > 0 => {
                    self.limits
                        .push(("max_recipients_per_transaction".into(), n.to_string()));
                    converted(format!("smtps max_recipients_per_transaction = {n}"))
                }
                _ => nc(
                    "not a positive number",
                    "set max_recipients_per_transaction",
                ),
            },
            "confMAX_HOP" => match value.trim().parse::<u64>() {
                Ok(n) if n > 0 => {
                    self.limits.push(("max_hops".into(), n.to_string()));
                    converted(format!("smtps max_hops = {n}"))
                }
                _ => nc("not a positive number", "set max_hops"),
            },
            "confTO_QUEUERETURN" | "confTO_QUEUERETURN_NORMAL" => match secs(value) {
                Some(s) => {
                    m.site.set_qmgr("queue_return_timeout", s.clone());
                    converted(format!("qmgr queue_return_timeout = {s}"))
                }
                None => nc("not a time", "set qmgr queue_return_timeout"),
            },
            "confTO_QUEUEWARN" | "confTO_QUEUEWARN_NORMAL" => match secs(value) {
                Some(s) => {
                    m.site.set_qmgr("queue_delay_timeout", s.clone());
                    converted(format!("qmgr queue_delay_timeout = {s}"))
                }
                None => nc("not a time", "set qmgr queue_delay_timeout"),
            },
            "confMIN_QUEUE_AGE" => match secs(value) {
                Some(s) => {
                    m.site.set_qmgr("retry_min_delay", s.clone());
                    approx(
                        format!("qmgr retry_min_delay = {s}"),
                        "smx backs off between retry_min_delay and retry_max_delay",
                    )
                }
                None => nc("not a time", "set qmgr retry_min_delay"),
            },
            n if n.starts_with("confTO_") && n.contains("QUEUE") => approx(
                "qmgr queue_return_timeout / queue_delay_timeout",
                "smx has one return and one warning timeout, not one per precedence",
            ),
            "confTO_COMMAND" | "confTO_DATABLOCK" | "confTO_DATAFINAL" | "confTO_RCPT"
            | "confTO_MAIL" => match secs(value) {
                Some(s) => {
                    self.limits.push(("io_timeout".into(), s.clone()));
                    approx(
                        format!("smtps io_timeout = {s}"),
                        "smx has one I/O timeout per server",
                    )
                }
                None => nc("not a time", "set smtps io_timeout"),
            },
            n if n.starts_with("confTO_") => approx(
                "smtpc io_timeout default (5m)",
                "smx has one I/O timeout for the client",
            ),
            "confSERVER_CERT" => {
                self.tls.cert_file = Some(value.to_string());
                converted("smtps tls cert_file")
            }
            "confSERVER_KEY" => {
                self.tls.key_file = Some(value.to_string());
                converted("smtps tls key_file")
            }
            "confCACERT" => {
                self.tls.cacert_file = Some(value.to_string());
                self.client_tls.cacert_file = Some(value.to_string());
                converted("tls CAcert_file")
            }
            "confCACERT_PATH" => {
                self.tls.cacert_directory = Some(value.to_string());
                self.client_tls.cacert_directory = Some(value.to_string());
                converted("tls CAcert_directory")
            }
            "confCLIENT_CERT" => {
                self.client_tls.cert_file = Some(value.to_string());
                converted("smtpc tls cert_file")
            }
            "confCLIENT_KEY" => {
                self.client_tls.key_file = Some(value.to_string());
                converted("smtpc tls key_file")
            }
            "ALIAS_FILE" => approx(
                "aliases",
                "the aliases file is read from --etc by its file name",
            ),
            "confCW_FILE" => approx("local-host-names", "read from --etc by its file name"),
            "confDOMAIN_NAME" => {
                m.site.hostname = Some(value.to_string());
                converted(format!("hostname = \"{value}\""))
            }
            "_USE_ETC_MAIL_"
            | "confHOST_STATUS_DIRECTORY"
            | "confDEF_USER_ID"
            | "confTRUSTED_USER"
            | "confTRUSTED_USERS"
            | "confPRIVACY_FLAGS"
            | "confFORWARD_PATH"
            | "STATUS_FILE"
            | "QUEUE_DIR"
            | "confLOG_LEVEL"
            | "PROCMAIL_MAILER_PATH"
            | "LOCAL_MAILER_PATH"
            | "confEBINDIR" => nc(
                "a setting of sendmail's own installation or behaviour; smx has no equivalent",
                "nothing to do",
            ),
            "confCONNECTION_RATE_THROTTLE" | "confMAX_DAEMON_CHILDREN" => approx(
                "qmgr smtps max_connection_rate / max_connections",
                "smx limits connections in the qmgr",
            ),
            "confDONT_BLAME_SENDMAIL" | "confSAFE_FILE_ENV" => {
                nc("file safety of sendmail", "nothing to do")
            }
            n => nc(
                format!("define {n} is not converted"),
                "check cf/README and smx.conf(5) by hand",
            ),
        }
    }

    fn feature(&mut self, m: &mut Migration, c: &m4::Call) -> Outcome {
        let name = c.args.first().map(|s| m4::unquote(s)).unwrap_or_default();
        let arg = |i: usize| c.args.get(i).map(|s| m4::unquote(s)).unwrap_or_default();
        self.features.push(name.clone());
        match name.as_str() {
            "access_db" => converted("access map (read from --etc)"),
            "mailertable" => converted("mailertable (read from --etc)"),
            "virtusertable" => converted("aliases with all_domains (read from --etc)"),
            "use_cw_file" => converted("local-host-names → lmtp: mailertable entries"),
            "local_lmtp" => converted("lmtp: local delivery (lmtpl)"),
            "delay_checks" => {
                for s in self.smtps.iter_mut() {
                    s.flags.insert("delay_checks".into());
                }
                self.limits_flag();
                converted("smtps flag delay_checks")
            }
            "relay_hosts_only" => approx(
                "mailertable local domains",
                "smx matches local domains exactly; subdomains need `.domain` entries",
            ),
            "relay_entire_domain" => relay_entire_domain(m, &format!("sendmail.mc:{}", c.line)),
            "dnsbl" | "enhdnsbl" => {
                let zone = {
                    let z = arg(1);
                    if z.is_empty() {
                        "blackholes.mail-abuse.org".to_string()
                    } else {
                        z
                    }
                };
                let tag = format!("dnsbl{}", m.site.dnsbl.len() + 1);
                let origin = format!("sendmail.mc:{}", c.line);
                // SMAR looks up `tag:A.B.C.D` for each answer (README
                // §3.9.2 item 4) and `tag:temp` for a temporary failure.
                let given: Vec<String> = if name == "enhdnsbl" {
                    (4..c.args.len())
                        .map(arg)
                        .filter(|a| !a.is_empty())
                        .collect()
                } else {
                    Vec::new()
                };
                let mut answers = Vec::new();
                let mut notes = Vec::new();
                for a in &given {
                    let a = a.trim_end_matches('.');
                    match a.split('.').count() {
                        4 => answers.push(a.to_string()),
                        3 => answers.extend((0..=255).map(|n| format!("{a}.{n}"))),
                        _ => notes.push(format!("return value {a} not converted")),
                    }
                }
                if given.is_empty() {
                    answers = (2..=11).map(|n| format!("127.0.0.{n}")).collect();
                    notes.push("answers 127.0.0.2-127.0.0.11 reject (sendmail: any answer)".into());
                }
                let mut keys: Vec<(String, String)> = answers
                    .iter()
                    .map(|a| {
                        (
                            format!("{tag}:{a}"),
                            format!("error:550 5.7.1 Rejected: listed by {zone}"),
                        )
                    })
                    .collect();
                if arg(3) == "t" {
                    keys.push((
                        format!("{tag}:temp"),
                        format!("error:451 4.7.1 Temporary lookup failure at {zone}"),
                    ));
                } else {
                    notes.push("a temporary DNS failure is not refused".into());
                }
                if !arg(2).is_empty() {
                    notes.push("the custom rejection message is not kept".into());
                }
                let mut ok = true;
                for (k, v) in &keys {
                    ok &= m.site.add_access(k, v, &origin).is_ok();
                }
                if ok {
                    m.site.dnsbl.push((zone.clone(), tag.clone()));
                    let to = format!("smar dnsbl {{ domain = {zone}; tag = {tag}; }}");
                    if notes.is_empty() {
                        converted(to)
                    } else {
                        approx(to, notes.join("; "))
                    }
                } else {
                    nc(
                        "could not write the access entries",
                        "add the dnsbl section by hand",
                    )
                }
            }
            "greet_pause" => {
                let ms = arg(1);
                let pause = if ms.is_empty() {
                    "the GreetPause: access entries".to_string()
                } else {
                    format!("{ms} ms")
                };
                approx(
                    "smtps early-talker check (always on)",
                    format!(
                        "smx does not pause before the greeting (no {pause}): it refuses a client that has sent \
                         anything before the greeting is due (554 5.5.0, connection closed), checked once \
                         without waiting after the connect checks; GreetPause: access entries are not used"
                    ),
                )
            }
            "conncontrol" | "ratecontrol" => approx(
                "qmgr smtps max_connections / max_connection_rate",
                "smx limits all clients together, not per ClientConn:/ClientRate: entry",
            ),
            "nullclient" => {
                let hub = arg(1);
                let origin = format!("sendmail.mc:{}", c.line);
                m.site.mailertable.retain(|e| !e.value.contains("lmtp:"));
                m.policy.domains.clear();
                match m.site.add_route(".", &format!("esmtp:{hub}"), &origin) {
                    Ok(()) => converted(format!("mailertable: . esmtp:{hub}; no local domains")),
                    Err(e) => nc(e, "write the mailertable `.` entry by hand"),
                }
            }
            "genericstable"
            | "masquerade_envelope"
            | "masquerade_entire_domain"
            | "allmasquerade"
            | "limited_masquerade" => nc(
                "smx does not rewrite sender addresses",
                "rewrite at the submission client",
            ),
            "no_default_msa" => converted("only the DAEMON_OPTIONS servers"),
            "always_add_domain" | "nocanonify" => converted("smx qualifies with its hostname"),
            "smrsh"
            | "mailertable_local"
            | "redirect"
            | "blocklist_recipients"
            | "blacklist_recipients" => nc(
                format!("FEATURE {name} has no smx equivalent"),
                "check the feature's purpose by hand",
            ),
            n => nc(
                format!("FEATURE {n} is not converted"),
                "check cf/README by hand",
            ),
        }
    }

    fn limits_flag(&mut self) {}

    fn daemon(&mut self, spec: &str) -> Outcome {
        let mut port = 25u16;
        let mut addr = None;
        let mut name = None;
        let mut notes = Vec::new();
        for kv in spec.split(',') {
            let Some((k, v)) = kv.split_once('=') else {
                continue;
            };
            let (k, v) = (k.trim(), v.trim());
            match k {
                "Port" | "P" => port = crate::postfix::mastercf::port_of(v).unwrap_or(25),
                "Addr" | "A" => match v.parse() {
                    Ok(a) => addr = Some(a),
                    Err(_) => notes.push(format!("address {v} is not IPv4")),
                },
                "Name" | "N" => name = Some(v.replace(|ch: char| !ch.is_ascii_alphanumeric() && ch != '_', "_")),
                "Family" | "F" if v != "inet" => return nc(format!("family {v}"), "smx listens on IPv4 only"),
                "M" | "Modifiers" => notes.push(format!("modifiers M={v}: smx has AUTH/TLS per smtps section (E, a: require AUTH not converted)")),
                _ => {}
            }
        }
        if let Some(other) = crate::site::listener_on(&self.smtps, addr, port) {
            return nc(
                format!(
                    "port {port} is served already (smtps {})",
                    other.name.clone().unwrap_or_default()
                ),
                "give the daemon its own port or address by hand",
            );
        }
        let mut s = Smtps::new(name.as_deref(), port);
        s.address = addr;
        if self.features.iter().any(|f| f == "delay_checks") {
            s.flags.insert("delay_checks".into());
        }
        // smx.conf section names are case-insensitive: `mSA` and `MSA`
        // are one name.
        let taken = |name: &Option<String>, all: &[Smtps]| {
            all.iter().any(|x| match (&x.name, name) {
                (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
                (a, b) => a == b,
            })
        };
        if taken(&s.name, &self.smtps) {
            let base = s.name.clone().unwrap_or_default();
            let mut i = self.smtps.len();
            while taken(&Some(format!("{base}_{i}")), &self.smtps) {
                i += 1;
            }
            s.name = Some(format!("{base}_{i}"));
        }
        self.smtps.push(s);
        if notes.is_empty() {
            converted(format!("smtps section on port {port}"))
        } else {
            approx(format!("smtps section on port {port}"), notes.join("; "))
        }
    }
}

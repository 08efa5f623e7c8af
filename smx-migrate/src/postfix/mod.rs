//! `smx-migrate postfix`: a Postfix site (main.cf, master.cf and the tables
//! they name, seed 003) converted to smx.conf and smx maps (sendmail X README
//! §3.9, §3.10, §4), with a report entry for every main.cf parameter, every
//! master.cf service and `-o` override, and every table line.

pub mod maincf;
pub mod mastercf;
mod restrictions;
mod tables;

use crate::error::{read, MigrateError};
use crate::policy::{Check, MapName, OldPolicy};
use crate::report::{Outcome, Report};
use crate::site::{Site, Smtps, Tls};
use maincf::MainCf;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A converted site with its report and what verify needs.
#[derive(Debug, Clone, Default)]
pub struct Migration {
    /// The smx configuration and maps.
    pub site: Site,
    /// Every directive read.
    pub report: Report,
    /// The old relaying policy.
    pub policy: OldPolicy,
    /// Map entries to compare.
    pub checks: Vec<Check>,
    /// The input directories.
    pub inputs: Vec<PathBuf>,
}

/// Parameters that only concern Postfix's own installation.
const INTERNAL: &[&str] = &[
    "compatibility_level",
    "command_directory",
    "daemon_directory",
    "data_directory",
    "queue_directory",
    "mail_owner",
    "setgid_group",
    "sendmail_path",
    "newaliases_path",
    "mailq_path",
    "html_directory",
    "manpage_directory",
    "sample_directory",
    "readme_directory",
    "debugger_command",
    "biff",
    "append_dot_mydomain",
    "inet_protocols",
    "shlib_directory",
    "meta_directory",
    "alias_database",
    "mailbox_size_limit",
    "recipient_delimiter",
    "smtpd_tls_session_cache_database",
    "smtp_tls_session_cache_database",
    "smtpd_tls_loglevel",
    "smtp_tls_loglevel",
    "unknown_local_recipient_reject_code",
    "smtpd_banner",
    "mail_name",
    "local_recipient_maps",
    "smtpd_sasl_type",
    "smtpd_sasl_path",
    "maillog_file",
];

/// What each not convertible parameter should become.
const UNSUPPORTED: &[(&str, &str, &str)] = &[
    ("header_checks", "smx has no header checks", "use a policy milter (smtps policy_milter) or filter in the delivery agent (Sieve)"),
    ("body_checks", "smx has no body checks", "use a policy milter or a content scanner behind LMTP"),
    ("mime_header_checks", "smx has no header checks", "use a policy milter"),
    ("nested_header_checks", "smx has no header checks", "use a policy milter"),
    ("content_filter", "smx has no after-queue content filter", "scan in the final delivery agent, or route the domains through the filter host with a mailertable entry"),
    ("smtpd_milters", "smx has no content milters (only the policy milter of smtps)", "move policy checks to smtps policy_milter; content milters are not supported yet"),
    ("non_smtpd_milters", "smx has no content milters", "sign or scan in the delivery agent"),
    ("milter_default_action", "smx has no content milters", "nothing until smx supports milters"),
    ("milter_protocol", "smx has no content milters", "nothing until smx supports milters"),
    ("smtpd_proxy_filter", "smx has no before-queue proxy filter", "use a policy milter"),
    ("virtual_mailbox_domains", "smx delivers virtual mailboxes through LMTP only", "route the domains with `lmtp:` mailertable entries and let the LMTP server own the mailboxes"),
    ("virtual_mailbox_maps", "smx has no virtual(8) delivery agent", "let an LMTP server (e.g. Dovecot) own the mailboxes"),
    ("home_mailbox", "lmtpl delivers to the maildir option of lmtpl", "set lmtpl maildir"),
    ("mailbox_command", "smx does not run a mailbox command", "deliver through an LMTP server that runs it"),
    ("mailbox_transport", "smx does not run a mailbox transport", "route local domains with a `port^lmtp:[host]` mailertable entry"),
    ("sender_canonical_maps", "smx does not rewrite addresses", "rewrite at the submission client"),
    ("recipient_canonical_maps", "smx does not rewrite addresses", "use aliases"),
    ("canonical_maps", "smx does not rewrite addresses", "use aliases for recipients"),
    ("smtp_generic_maps", "smx does not rewrite outgoing addresses", "rewrite at the submission client"),
    ("masquerade_domains", "smx does not masquerade addresses", "rewrite at the submission client"),
    ("relay_recipient_maps", "smx does not check relay recipients", "relay domains accept every local part; list valid ones on the next hop"),
    ("smtpd_sasl_security_options", "SMTP AUTH options are being added to smx", "set smtps auth flags by hand"),
];

/// Reads `dir/main.cf` and `dir/master.cf` and converts them.
pub fn convert(dir: &Path, myhostname: &str) -> Result<Migration, MigrateError> {
    let main_path = dir.join("main.cf");
    let main_text = read(&main_path)?;
    let master_path = dir.join("master.cf");
    let master_text = if master_path.exists() {
        Some(read(&master_path)?)
    } else {
        None
    };
    Ok(convert_text(
        dir,
        &main_text,
        master_text.as_deref(),
        myhostname,
    ))
}

/// The conversion of already read texts; tables are read relative to `dir`.
pub fn convert_text(
    dir: &Path,
    main_text: &str,
    master_text: Option<&str>,
    myhostname: &str,
) -> Migration {
    let (main, bad) = MainCf::parse(main_text, myhostname);
    let mut m = Migration {
        inputs: vec![dir.to_path_buf()],
        ..Migration::default()
    };
    for (line, text) in bad {
        m.report.not_convertible(
            "main.cf",
            line,
            &text,
            "not a `name = value` line",
            "fix the line in main.cf; Postfix ignores it too",
        );
    }
    let mut cx = Cx {
        dir: dir.to_path_buf(),
        main: &main,
        outcomes: BTreeMap::new(),
    };
    cx.site(&mut m);
    // Every parameter line: the last one of a name carries the outcome.
    for p in &main.params {
        let last = main.line_of(&p.name) == Some(p.line);
        let directive = format!("{} = {}", p.name, p.raw);
        if !last {
            let line = main.line_of(&p.name).unwrap_or(0);
            m.report.not_convertible(
                "main.cf",
                p.line,
                &directive,
                format!("superseded by main.cf:{line}"),
                "remove the earlier setting",
            );
            continue;
        }
        let outcome = cx
            .outcomes
            .remove(&p.name)
            .unwrap_or_else(|| unknown(&p.name));
        m.report.add("main.cf", p.line, &directive, outcome);
    }
    master(&mut m, &main, master_text);
    m.report.items.sort_by(|a, b| {
        (file_rank(&a.file), &a.file, a.line).cmp(&(file_rank(&b.file), &b.file, b.line))
    });
    m
}

fn file_rank(f: &str) -> u8 {
    match f {
        "main.cf" => 0,
        "master.cf" => 1,
        _ => 2,
    }
}

fn unknown(name: &str) -> Outcome {
    if INTERNAL.contains(&name) {
        return Outcome::NotConvertible {
            why: "a setting of Postfix's own installation; smx has no equivalent".into(),
            todo: "nothing to do".into(),
        };
    }
    if let Some((_, why, todo)) = UNSUPPORTED.iter().find(|(n, _, _)| *n == name) {
        return Outcome::NotConvertible {
            why: why.to_string(),
            todo: todo.to_string(),
        };
    }
    Outcome::NotConvertible {
        why: "smx-migrate does not know this parameter".into(),
        todo: "check postconf(5) and smx.conf(5) by hand".into(),
    }
}

/// Conversion state.
struct Cx<'a> {
    dir: PathBuf,
    main: &'a MainCf,
    outcomes: BTreeMap<String, Outcome>,
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

impl Cx<'_> {
    fn set(&mut self, name: &str, o: Outcome) {
        self.outcomes.insert(name.to_string(), o);
    }

    fn origin(&self, name: &str) -> String {
        format!("main.cf:{}", self.main.line_of(name).unwrap_or(0))
    }

    fn site(&mut self, m: &mut Migration) {
        let main = self.main;
        let host = main.get("myhostname");
        m.site.hostname = Some(host.clone());
        self.set("myhostname", converted(format!("hostname = \"{host}\"")));
        self.set(
            "mydomain",
            converted("used in the expansion of the other parameters"),
        );
        self.set(
            "myorigin",
            approx(
                format!("hostname = \"{host}\""),
                "smx qualifies unqualified addresses with its hostname; set myorigin \
                 on the submission clients if it differs",
            ),
        );
        self.set(
            "inet_interfaces",
            approx(
                "listen_socket address of the smtps sections",
                "see master.cf",
            ),
        );

        // Local domains: mydestination -> lmtp: mailertable entries.
        let dest = maincf::list(&main.get("mydestination"));
        let origin = self.origin("mydestination");
        let mut notes = Vec::new();
        for d in &dest {
            if d.contains(':') || d.starts_with('/') {
                notes.push(format!("{d}: tables in mydestination are not read"));
                continue;
            }
            match m.site.add_route(d, "lmtp:", &origin) {
                Ok(()) => {
                    m.policy.domains.push((d.to_lowercase(), false));
                    m.checks.push(Check {
                        map: MapName::Mailertable,
                        tag: None,
                        item: d.to_lowercase(),
                        expected: Some("lmtp:".into()),
                        origin: origin.clone(),
                    });
                }
                Err(e) => notes.push(e),
            }
        }
        let to = format!("mailertable: {} lmtp:", dest.join(", "));
        self.set(
            "mydestination",
            if notes.is_empty() {
                converted(to)
            } else {
                approx(to, notes.join("; "))
            },
        );
        m.site.passwd_users = true;

        // relay_domains -> to:@domain relay (+ subdomains, Postfix default
        // parent_domain_matches_subdomains includes relay_domains).
        let relay = maincf::list(&main.get("relay_domains"));
        let origin = self.origin("relay_domains");
        let mut notes = Vec::new();
        for d in &relay {
            if d.contains(':') || d.starts_with('/') {
                match tables::read(&self.dir, d) {
                    Ok((file, lines)) => {
                        for l in lines {
                            let o = format!("{file}:{}", l.line);
                            let r = relay_domain(m, &l.key, &o);
                            tables::report(&mut m.report, &file, &l, r, "to:@domain relay");
                        }
                    }
                    Err(e) => notes.push(e),
                }
                continue;
            }
            if let Err(e) = relay_domain(m, d, &origin) {
                notes.push(e);
            }
        }
        self.set(
            "relay_domains",
            if notes.is_empty() {
                converted("access: to:@DOMAIN relay and to:@.DOMAIN relay")
            } else {
                approx("access: to:@DOMAIN relay", notes.join("; "))
            },
        );

        // mynetworks -> cltaddr: relay.
        let nets = maincf::list(&main.get("mynetworks"));
        let origin = self.origin("mynetworks");
        let mut notes = Vec::new();
        let mut n = 0;
        for net in &nets {
            match crate::common::ipv4_net_keys(net) {
                Ok(keys) => {
                    if let Some(p) = parse_net(net) {
                        m.policy.networks.push(p);
                    }
                    for k in keys {
                        match m.site.add_access(&format!("cltaddr:{k}"), "relay", &origin) {
                            Ok(()) => n += 1,
                            Err(e) => notes.push(e),
                        }
                    }
                }
                Err(e) => notes.push(e),
            }
        }
        self.set(
            "mynetworks",
            if notes.is_empty() {
                converted(format!("access: {n} cltaddr: relay entries"))
            } else {
                approx(
                    format!("access: {n} cltaddr: relay entries"),
                    notes.join("; "),
                )
            },
        );
        self.set(
            "mynetworks_style",
            approx(
                "mynetworks as listed",
                "smx-migrate uses the mynetworks value (default 127.0.0.0/8)",
            ),
        );

        // relayhost -> mailertable "."
        let rh = main.get("relayhost");
        if !rh.trim().is_empty() {
            let origin = self.origin("relayhost");
            let o = match tables::nexthop_to_route(&rh, "smtp") {
                Ok((route, how)) => match m.site.add_route(".", &route, &origin) {
                    Ok(()) => {
                        m.checks.push(Check {
                            map: MapName::Mailertable,
                            tag: None,
                            item: "example.net".into(),
                            expected: Some(route.clone()),
                            origin,
                        });
                        match how {
                            None => converted(format!("mailertable: . {route}")),
                            Some(h) => approx(format!("mailertable: . {route}"), h),
                        }
                    }
                    Err(e) => nc(e, "write the mailertable `.` entry by hand"),
                },
                Err(e) => nc(e, "write the mailertable `.` entry by hand"),
            };
            self.set("relayhost", o);
        } else if main.is_set("relayhost") {
            self.set("relayhost", converted("no default route (MX lookups)"));
        }

        self.set(
            "transport_maps",
            tables::transport(
                m,
                &self.dir,
                &main.get("transport_maps"),
                &self.origin("transport_maps"),
            ),
        );
        self.set(
            "alias_maps",
            tables::aliases(
                m,
                &self.dir,
                &main.get("alias_maps"),
                &self.origin("alias_maps"),
            ),
        );
        let vmaps = main.get("virtual_alias_maps");
        self.set(
            "virtual_alias_maps",
            tables::virtual_aliases(m, &self.dir, &vmaps, &self.origin("virtual_alias_maps")),
        );
        self.set(
            "virtual_maps",
            approx(
                "see virtual_alias_maps",
                "virtual_maps is the old name of virtual_alias_maps",
            ),
        );
        let vdom = main.get("virtual_alias_domains");
        self.set(
            "virtual_alias_domains",
            tables::virtual_domains(
                m,
                &self.dir,
                &vdom,
                &vmaps,
                &self.origin("virtual_alias_domains"),
            ),
        );
        self.set(
            "alias_database",
            nc(
                "a setting of Postfix's own installation; smx has no equivalent",
                "nothing to do: the aliases are compiled into aliases.db",
            ),
        );

        restrictions::convert(self, m);
        self.limits(m);
        self.tls(m);
    }

    fn limits(&mut self, m: &mut Migration) {
        let main = self.main;
        let size = main.get("message_size_limit");
        let mut server = Smtps::new(None, 25);
        match size.trim().parse::<u64>() {
            Ok(0) => self.set(
                "message_size_limit",
                approx(
                    "max_message_size = 2GB",
                    "Postfix 0 means no limit; smx needs one",
                ),
            ),
            Ok(b) => {
                let kb = crate::common::size_kb(b);
                server.set("max_message_size", kb.clone());
                self.set(
                    "message_size_limit",
                    converted(format!("smtps max_message_size = {kb}")),
                );
            }
            Err(_) => self.set(
                "message_size_limit",
                nc("not a number", "set smtps max_message_size"),
            ),
        }
        match main.get("smtpd_recipient_limit").trim().parse::<u64>() {
            Ok(n) if n > 0 => {
                server.set("max_recipients_per_transaction", n.to_string());
                self.set(
                    "smtpd_recipient_limit",
                    converted(format!("smtps max_recipients_per_transaction = {n}")),
                );
            }
            _ => self.set(
                "smtpd_recipient_limit",
                nc(
                    "not a positive number",
                    "set smtps max_recipients_per_transaction",
                ),
            ),
        }
        m.site.smtps.push(server);
        for (name, opt, unit) in [
            ("maximal_queue_lifetime", "queue_return_timeout", 'd'),
            ("minimal_backoff_time", "retry_min_delay", 's'),
            ("maximal_backoff_time", "retry_max_delay", 's'),
        ] {
            let o = match crate::common::seconds(&main.get(name), unit) {
                Some(s) if s != "0s" => {
                    m.site.set_qmgr(opt, s.clone());
                    converted(format!("qmgr {opt} = {s}"))
                }
                _ => nc("not a time", format!("set qmgr {opt}")),
            };
            self.set(name, o);
        }
        // smx.conf refuses retry_min_delay > retry_max_delay (E052); an
        // option not set has smx's default (300s, 4000s).
        let secs = |opt: &str, default: u64| {
            m.site
                .qmgr
                .iter()
                .find(|(n, _)| n == opt)
                .map_or(Some(default), |(_, v)| {
                    v.trim_end_matches('s').parse::<u64>().ok()
                })
        };
        if let (Some(min), Some(max)) =
            (secs("retry_min_delay", 300), secs("retry_max_delay", 4000))
        {
            if min > max {
                m.site.set_qmgr("retry_min_delay", format!("{max}s"));
                self.set(
                    "minimal_backoff_time",
                    approx(
                        format!("qmgr retry_min_delay = {max}s"),
                        "larger than the maximal backoff time; cut to it",
                    ),
                );
            }
        }
        let o = match crate::common::seconds(&main.get("delay_warning_time"), 'h') {
            Some(s) if s == "0s" => approx(
                "qmgr queue_delay_timeout left at its default",
                "Postfix sends no delay warnings (0h); smx sends one after queue_delay_timeout (4h)",
            ),
            Some(s) => {
                m.site.set_qmgr("queue_delay_timeout", s.clone());
                converted(format!("qmgr queue_delay_timeout = {s}"))
            }
            None => nc("not a time", "set qmgr queue_delay_timeout"),
        };
        self.set("delay_warning_time", o);
        let o = match main.get("default_destination_concurrency_limit").trim().parse::<u64>() {
            Ok(n) if n > 0 => approx(
                format!("qmgr smtpc max_connections left at its default; the limit per destination is {n}"),
                "smx limits connections per destination with `ocm:` entries of the qmgr conf map; \
                 add `ocm:DOMAIN N` lines where a destination needs a limit",
            ),
            _ => nc("not a positive number", "set ocm: entries in the qmgr conf map"),
        };
        self.set("default_destination_concurrency_limit", o);
    }

    fn tls(&mut self, m: &mut Migration) {
        let main = self.main;
        let server = server_tls(main, &BTreeMap::new());
        let level = main.get("smtpd_tls_security_level");
        let use_tls = main.get("smtpd_use_tls") == "yes";
        if let Some(t) = &server {
            if let Some(s) = m.site.smtps.first_mut() {
                s.tls = Some(t.clone());
            }
        }
        for n in [
            "smtpd_tls_cert_file",
            "smtpd_tls_key_file",
            "smtpd_tls_CAfile",
            "smtpd_tls_CApath",
        ] {
            self.set(
                n,
                if server.is_some() {
                    converted("smtps tls { }")
                } else {
                    approx("no smtps tls", "no certificate: STARTTLS is not offered")
                },
            );
        }
        for n in ["smtpd_tls_security_level", "smtpd_use_tls"] {
            let o = if level == "encrypt" || main.get("smtpd_enforce_tls") == "yes" {
                approx(
                    "smtps tls { }",
                    "smx offers STARTTLS but does not require it yet",
                )
            } else if server.is_some() || level.is_empty() && !use_tls {
                converted("smtps tls { } when a certificate is set")
            } else {
                approx("no smtps tls", "no certificate file")
            };
            self.set(n, o);
        }
        let client = Tls {
            cert_file: non_empty(main.get("smtp_tls_cert_file")),
            key_file: non_empty(main.get("smtp_tls_key_file")),
            cacert_file: non_empty(main.get("smtp_tls_CAfile")),
            cacert_directory: non_empty(main.get("smtp_tls_CApath")),
        };
        if client != Tls::default() {
            m.site.smtpc_tls = Some(client);
        }
        for n in [
            "smtp_tls_cert_file",
            "smtp_tls_key_file",
            "smtp_tls_CAfile",
            "smtp_tls_CApath",
        ] {
            self.set(n, converted("smtpc tls { }"));
        }
        let lvl = main.get("smtp_tls_security_level");
        self.set(
            "smtp_tls_security_level",
            match lvl.as_str() {
                "" | "none" | "may" => converted("smtpc uses STARTTLS when offered (opportunistic)"),
                _ => approx("smtpc tls { }", format!("level {lvl}: smx's client uses STARTTLS opportunistically; verified TLS per destination is not available yet")),
            },
        );
        self.set(
            "smtp_use_tls",
            converted("smtpc uses STARTTLS when offered"),
        );
        let sasl = main.get("smtpd_sasl_auth_enable") == "yes";
        self.set(
            "smtpd_sasl_auth_enable",
            if sasl {
                approx(
                    "smtps auth { }",
                    "smx's AUTH backend is configured in the auth section; check the mechanisms",
                )
            } else {
                converted("no AUTH")
            },
        );
        if sasl {
            if let Some(s) = m.site.smtps.first_mut() {
                s.auth = true;
            }
        }
        for n in [
            "smtpd_tls_auth_only",
            "smtpd_tls_protocols",
            "smtpd_tls_mandatory_protocols",
            "smtp_tls_protocols",
            "smtpd_tls_ciphers",
            "smtp_tls_mandatory_protocols",
            "smtpd_tls_received_header",
            "tls_random_source",
        ] {
            self.set(
                n,
                approx(
                    "smx's TLS defaults",
                    "smx uses its TLS library's protocol and cipher defaults (TLS 1.2 and later)",
                ),
            );
        }
    }
}

fn non_empty(s: String) -> Option<String> {
    let s = s.trim().to_string();
    if s.is_empty() {
        None
    } else {
        Some(s)
    }
}

fn server_tls(main: &MainCf, o: &BTreeMap<String, String>) -> Option<Tls> {
    let cert = non_empty(main.get_with("smtpd_tls_cert_file", o))?;
    Some(Tls {
        cert_file: Some(cert),
        key_file: non_empty(main.get_with("smtpd_tls_key_file", o)),
        cacert_file: non_empty(main.get_with("smtpd_tls_CAfile", o)),
        cacert_directory: non_empty(main.get_with("smtpd_tls_CApath", o)),
    })
}

fn parse_net(net: &str) -> Option<(std::net::Ipv4Addr, u32)> {
    let (a, l) = net.split_once('/').unwrap_or((net, "32"));
    Some((
        a.trim_matches(|c| c == '[' || c == ']').parse().ok()?,
        l.parse().ok()?,
    ))
}

fn relay_domain(m: &mut Migration, d: &str, origin: &str) -> Result<(), String> {
    let d = d.trim().trim_start_matches('.').to_lowercase();
    m.site.add_access(&format!("to:@{d}"), "relay", origin)?;
    m.site.add_access(&format!("to:@.{d}"), "relay", origin)?;
    m.policy.domains.push((d.clone(), true));
    for item in [format!("postmaster@{d}"), format!("x@sub.{d}")] {
        m.checks.push(Check {
            map: MapName::Access,
            tag: Some("to".into()),
            item,
            expected: Some("relay".into()),
            origin: origin.to_string(),
        });
    }
    Ok(())
}

/// master.cf: smtpd services become smtps sections.
fn master(m: &mut Migration, main: &MainCf, text: Option<&str>) {
    let inet_if = main.get("inet_interfaces");
    let address = match inet_if.trim() {
        "loopback-only" | "localhost" | "127.0.0.1" => Some(std::net::Ipv4Addr::LOCALHOST),
        a => a.parse().ok(),
    };
    let Some(text) = text else {
        if let Some(s) = m.site.smtps.first_mut() {
            s.name = Some("MTA".into());
            s.address = address;
        }
        return;
    };
    let base = m.site.smtps.pop().unwrap_or_else(|| Smtps::new(None, 25));
    let internal = [
        ("pickup", "smtps and the local submission path"),
        ("cleanup", "smtps (queue file writing)"),
        ("qmgr", "qmgr"),
        ("tlsmgr", "smtps/smtpc TLS"),
        ("rewrite", "smar"),
        ("bounce", "qmgr (DSN)"),
        ("defer", "qmgr (DSN)"),
        ("trace", "qmgr (DSN)"),
        ("verify", "smar"),
        ("flush", "qmgr"),
        ("proxymap", "smar"),
        ("proxywrite", "smar"),
        ("showq", "smxctl"),
        ("error", "qmgr"),
        ("retry", "qmgr"),
        ("discard", "smar (discard)"),
        ("anvil", "qmgr smtps max_connection_rate"),
        ("scache", "smtpc connection cache"),
        ("postlog", "syslog"),
        ("smtp", "smtpc"),
        ("relay", "smtpc"),
        ("lmtp", "smtpc (LMTP)"),
        ("local", "lmtpl"),
        ("virtual", "lmtpl"),
    ];
    for svc in mastercf::parse(text) {
        let directive = svc.text.clone();
        if svc.kind == "inet" && svc.command == "smtpd" {
            let (addr_part, port_part) = match svc.name.rsplit_once(':') {
                Some((a, p)) => (Some(a), p),
                None => (None, svc.name.as_str()),
            };
            let Some(port) = mastercf::port_of(port_part) else {
                m.report.not_convertible(
                    "master.cf",
                    svc.line,
                    &directive,
                    format!("unknown service port {port_part}"),
                    "add an smtps section by hand",
                );
                continue;
            };
            let mut s = base.clone();
            s.name = Some(match port {
                25 => "MTA".to_string(),
                587 => "MSA".to_string(),
                465 => "SMTPS".to_string(),
                p => format!("port{p}"),
            });
            if m.site.smtps.iter().any(|x| x.name == s.name) {
                s.name = Some(format!(
                    "{}{}",
                    s.name.clone().unwrap_or_default(),
                    svc.line
                ));
            }
            s.port = port;
            s.address = addr_part.and_then(|a| a.parse().ok()).or(address);
            if let Some(other) = crate::site::listener_on(&m.site.smtps, s.address, port) {
                m.report.not_convertible(
                    "master.cf",
                    svc.line,
                    &directive,
                    format!(
                        "port {port} is served already (smtps {})",
                        other.name.clone().unwrap_or_default()
                    ),
                    "give the service its own port or address by hand",
                );
                continue;
            }
            let mut notes = Vec::new();
            if port == 465 {
                notes.push("port 465 is TLS-wrapped in Postfix; smx offers STARTTLS only, so clients must use STARTTLS");
            }
            if inet_if.trim() != "all" && address.is_none() && addr_part.is_none() {
                notes.push("inet_interfaces lists addresses smx cannot listen on (IPv6 or several); listening on all");
            }
            for (k, v) in &svc.overrides {
                let d = format!("-o {k}={v}");
                let o = override_outcome(main, &mut s, k, v, &svc.overrides);
                m.report.add("master.cf", svc.line, &d, o);
            }
            let to = format!(
                "smtps {} {{ port {port} }}",
                s.name.clone().unwrap_or_default()
            );
            if notes.is_empty() {
                m.report.converted("master.cf", svc.line, &directive, to);
            } else {
                m.report
                    .approx("master.cf", svc.line, &directive, to, notes.join("; "));
            }
            m.site.smtps.push(s);
        } else if let Some((_, to)) = internal.iter().find(|(n, _)| svc.command == *n) {
            m.report.converted(
                "master.cf",
                svc.line,
                &directive,
                format!("built into smx: {to}"),
            );
        } else if svc.command == "pipe" {
            m.report.not_convertible("master.cf", svc.line, &directive, "smx does not deliver to programs", "deliver through an LMTP server that runs the program, or route its domains to it with a mailertable entry");
        } else {
            m.report.not_convertible(
                "master.cf",
                svc.line,
                &directive,
                format!("no smx equivalent of the {} service", svc.command),
                "configure the service's job in smx by hand",
            );
        }
    }
    if m.site.smtps.is_empty() {
        m.site.smtps.push(base);
    }
}

fn override_outcome(
    main: &MainCf,
    s: &mut Smtps,
    k: &str,
    v: &str,
    all: &BTreeMap<String, String>,
) -> Outcome {
    match k {
        "syslog_name" => converted("smtps log ident (default)"),
        "smtpd_tls_security_level" | "smtpd_enforce_tls" | "smtpd_use_tls" => {
            if v == "none" {
                s.tls = None;
                converted("no tls for this server")
            } else {
                approx(
                    "smtps tls { }",
                    "smx offers STARTTLS but does not require it yet",
                )
            }
        }
        "smtpd_tls_wrappermode" => approx(
            "STARTTLS",
            "smx has no TLS-wrapped mode; clients must use STARTTLS",
        ),
        "smtpd_tls_cert_file" | "smtpd_tls_key_file" => {
            s.tls = server_tls(main, all);
            converted("smtps tls { } of this server")
        }
        "smtpd_sasl_auth_enable" => {
            s.auth = v == "yes";
            if s.auth {
                approx(
                    "smtps auth { }",
                    "check the SASL mechanisms of the auth section",
                )
            } else {
                converted("no AUTH")
            }
        }
        "smtpd_tls_auth_only" => approx(
            "smtps auth { }",
            "smx offers AUTH after STARTTLS by its own rules",
        ),
        "message_size_limit" => match v.parse::<u64>() {
            Ok(b) if b > 0 => {
                s.set("max_message_size", crate::common::size_kb(b));
                converted("max_message_size of this server")
            }
            _ => nc("not a positive size", "set max_message_size"),
        },
        "smtpd_recipient_limit" => match v.parse::<u64>() {
            Ok(n) if n > 0 => {
                s.set("max_recipients_per_transaction", n.to_string());
                converted("max_recipients_per_transaction of this server")
            }
            _ => nc(
                "not a positive number",
                "set max_recipients_per_transaction",
            ),
        },
        "smtpd_client_restrictions"
        | "smtpd_helo_restrictions"
        | "smtpd_sender_restrictions"
        | "smtpd_recipient_restrictions"
        | "smtpd_relay_restrictions" => {
            let expanded = main.expand(v, 0);
            if expanded.contains("permit_sasl_authenticated") && expanded.contains("reject") {
                approx("the access map shared by all smtps servers", "per-server restrictions: smx applies one access map to every server with the access flag; authenticated clients relay through AUTH")
            } else {
                approx(
                    "the access map shared by all smtps servers",
                    "per-server restrictions are not separate in smx",
                )
            }
        }
        "milter_macro_daemon_name" => nc(
            "smx has no content milters",
            "nothing until smx supports milters",
        ),
        "smtpd_milters" | "content_filter" | "receive_override_options" => nc(
            "smx has no content milters or filters",
            "filter in the delivery agent",
        ),
        _ => nc(
            format!("smx-migrate does not know -o {k}"),
            "set the smtps option by hand",
        ),
    }
}

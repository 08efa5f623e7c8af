//! Typed configuration: the structs every smx component reads, built from a
//! parsed smx.conf. Each struct is declared once with `section!`, which also
//! yields its part of the schema (see `crate::schema`).
//!
//! Paths (README §3.6): maps, certificates and other configuration files
//! that are not absolute are relative to the directory of the configuration
//! file; sockets and databases are relative to the queue directory. The
//! seed has the MCP start in the queue directory; smx makes that directory
//! an option, `queue_directory`, itself relative to the configuration file.

#[macro_use]
pub mod macros;
pub mod build;
pub mod common;
pub mod qmgr;
pub mod smar;
pub mod smtpc;
pub mod smtps;

use crate::ast::{Document, Entry, SectionNode, Span};
use crate::diag::{codes, suggest, Diagnostic};
use crate::schema::{Item, SectionSpec};
use build::{BodyIndex, Ctx, Instance, Section, ShowMode, Writer};
use common::ServiceConf;

pub use common::{CdbSync, ListenSocket, LogConf, McpConf, SocketType, StartAction};
pub use qmgr::QmgrConf;
pub use smar::{MapConf, MapType, SmarConf};
pub use smtpc::{LmtplConf, SmtpcConf};
pub use smtps::SmtpsConf;

/// The components smxd knows; the MCP has built-in defaults for them.
pub const COMPONENTS: &[&str] = &["qmgr", "smar", "smtps", "smtpc", "lmtpl"];

section! {
    /// The whole file: the global options of README §3.4 and one section
    /// per component.
    pub struct GlobalConf in "" (naming None, seed "§3.4") {
        /// Host name used by the components; unset means the system's fully qualified name.
        hostname: Option<String> = opt("hostname", Kind::Text, None),
        /// Base directory of the content database, empty or ending in `/`.
        cdb_base_directory: String = opt("CDB_base_directory", Kind::QueuePath, Some("")),
        /// How a message's content file is made durable before the 250 (an smx addition). filesystem: the SMTP server only writes the file, and the QMGR, before it writes a batch of transactions to IBDB, makes all their content files durable with one syncfs(2) per filesystem holding CDB; one disk flush then covers every message of the batch. file: the SMTP server fsyncs each content file, as Postfix does each queue file. Choose file when CDB shares its filesystem with other busy writers, whose dirty data a syncfs would have to write too; filesystem needs Linux 5.8 or later to learn of write errors.
        cdb_sync: CdbSync = opt("CDB_sync", Kind::Keyword(common::CDB_SYNCS), Some("filesystem")),
        /// Main queue directory; relative to the configuration file's directory.
        queue_directory: String = opt("queue_directory", Kind::ConfPath, Some("/var/spool/smx")),
        /// Socket of the address resolver, for SMTPS and QMGR.
        smar_socket: String = opt("SMAR_socket", Kind::QueuePath, Some("qmsmar/smarsock")),
        /// Socket between SMTPC and QMGR.
        smtpc_socket: String = opt("SMTPC_socket", Kind::QueuePath, Some("qmsmtpc/smtpcsock")),
        /// Socket between SMTPS and QMGR.
        smtps_socket: String = opt("SMTPS_socket", Kind::QueuePath, Some("qmsmtps/smtpssock")),
        /// The queue manager.
        qmgr: QmgrConf = sub(QmgrConf),
        /// The address resolver.
        smar: SmarConf = sub(SmarConf),
        /// SMTP servers.
        smtps: Vec<Instance<SmtpsConf>> = many(SmtpsConf),
        /// The SMTP and LMTP client.
        smtpc: SmtpcConf = sub(SmtpcConf),
        /// The local delivery agent.
        lmtpl: Option<LmtplConf> = opt_sub(LmtplConf),
    }
}

use crate::schema::Kind;

/// A whole smx configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Global options and the known components.
    pub global: GlobalConf,
    /// Other programs the MCP starts, in file order.
    pub services: Vec<Instance<ServiceConf>>,
}

impl Config {
    /// The top-level spec (global options and component sections).
    pub fn spec() -> &'static SectionSpec {
        GlobalConf::spec()
    }

    /// The effective `id` of each SMTP server: as written, else its position.
    pub fn smtps_ids(&self) -> Vec<u64> {
        self.global
            .smtps
            .iter()
            .enumerate()
            .map(|(i, s)| s.conf.id.unwrap_or(i as u64))
            .collect()
    }

    /// Writes the configuration in canonical smx.conf syntax.
    pub fn show(&self, ctx: &Ctx, mode: ShowMode, filters: &[String]) -> String {
        let mut w = Writer::new(mode, &ctx.spans, filters);
        self.global.write_body(&mut w, "", &[]);
        for (i, s) in self.services.iter().enumerate() {
            let keyword = s.name.clone().unwrap_or_default();
            let p = keyword.to_ascii_lowercase();
            let _ = i;
            w.section(&p, &keyword, true, |w| s.conf.write_body(w, &p, &[]));
        }
        w.finish()
    }
}

/// Builds the typed configuration of a parsed file. Unknown, misplaced and
/// ill-typed entries are reported in `ctx`; their defaults are used instead.
pub fn build(doc: &Document, ctx: &mut Ctx) -> Config {
    let mut entries = doc.entries.clone();
    legacy_moves(&mut entries, ctx);
    let idx = BodyIndex::new(GlobalConf::spec(), &entries, ctx, true);
    let global = GlobalConf::build_index(&idx, ctx, "", &[]);
    let mut services = Vec::new();
    for node in &idx.unknown_sections {
        if let Some(s) = service(node, ctx) {
            services.push(s);
        }
    }
    Config { global, services }
}

/// A top-level section that is not a known component: either a typo of one
/// ("did you mean"), or another program for the MCP to start (README §3.7),
/// which then needs `path` and `arguments`.
fn service(node: &SectionNode, ctx: &mut Ctx) -> Option<Instance<ServiceConf>> {
    let written = &node.keyword.text;
    let names: Vec<&str> = GlobalConf::spec()
        .names()
        .filter(|n| !n.is_empty())
        .collect();
    let has_program = node.entries.iter().any(|e| match e {
        Entry::Option(o) => {
            o.name.is("path") || o.name.is("arguments") || o.name.is("start_action")
        }
        Entry::Section(_) => false,
    });
    if !has_program {
        let d = Diagnostic::error(
            codes::UNKNOWN_SECTION,
            node.keyword.span,
            format!("unknown section `{written}`"),
        );
        let d = match suggest(written, names.iter().copied()) {
            Some(s) => d.with_hint(format!("did you mean `{s}`?")),
            None => match home_of(written) {
                Some(home) => d.with_hint(format!("`{written}` belongs in {home}")),
                None => d.with_hint(
                    "the known sections are qmgr, smar, smtps, smtpc and lmtpl; a section for \
                     another program the MCP starts needs start_action, path and arguments",
                ),
            },
        };
        ctx.push(d);
        return None;
    }
    if let Some(n) = &node.name {
        ctx.push(
            Diagnostic::error(
                codes::UNEXPECTED_SECTION_NAME,
                n.span,
                format!("section `{written}` takes no name"),
            )
            .with_hint("a program started by the MCP is named by its keyword alone"),
        );
    }
    let path = written.to_ascii_lowercase();
    ctx.spans.insert(path.clone(), node.keyword.span);
    let conf = ServiceConf::build(&node.entries, ctx, &path, &[]);
    for (opt, why) in [
        ("start_action", "how the MCP starts it"),
        ("path", "the program to run"),
        ("arguments", "its argv, starting with the program's name"),
    ] {
        if !ctx.is_explicit(&format!("{path}.{opt}")) {
            ctx.push(
                Diagnostic::error(
                    codes::SERVICE_NEEDS_PROGRAM,
                    node.keyword.span,
                    format!(
                        "section `{written}` is not a known component and needs `{opt}` ({why})"
                    ),
                )
                .with_hint(format!(
                    "add `{opt} = ...;`, or, if you meant a component, use one of: {}",
                    COMPONENTS.join(", ")
                )),
            );
        }
    }
    Some(Instance {
        name: Some(written.clone()),
        conf,
    })
}

/// Accepts options the seed's own examples write in an older place, moving
/// them where the option list of README §3.8 puts them, with a warning.
fn legacy_moves(entries: &mut [Entry], ctx: &mut Ctx) {
    const MOVES: &[(&str, &str, &str)] = &[("qmgr", "max_errors_per_DSN", "DSN_handling")];
    for e in entries.iter_mut() {
        let Entry::Section(sec) = e else { continue };
        for (kw, opt, to) in MOVES {
            if !sec.keyword.is(kw) {
                continue;
            }
            let mut moved = Vec::new();
            sec.entries.retain(|e| match e {
                Entry::Option(o) if o.name.is(opt) => {
                    moved.push(e.clone());
                    false
                }
                _ => true,
            });
            for m in moved {
                if let Entry::Option(o) = &m {
                    ctx.push(
                        Diagnostic::warning(
                            codes::LEGACY_PLACE,
                            o.name.span,
                            format!("`{opt}` belongs in `{kw} {{ {to} {{ }} }}`; accepted here"),
                        )
                        .with_hint(format!("move it into `{to} {{ {opt} = ...; }}`")),
                    );
                }
                let target = sec.entries.iter_mut().find_map(|e| match e {
                    Entry::Section(s) if s.keyword.is(to) => Some(s),
                    _ => None,
                });
                match target {
                    Some(t) => t.entries.push(m),
                    None => sec.entries.push(Entry::Section(SectionNode {
                        keyword: crate::ast::Ident {
                            text: (*to).to_string(),
                            span: Span::default(),
                        },
                        name: None,
                        entries: vec![m],
                        span: Span::default(),
                    })),
                }
            }
        }
    }
}

/// Where an option or section of this name lives, for hints such as
/// "`retry_min_delay` belongs in section `qmgr`".
pub fn home_of(name: &str) -> Option<String> {
    fn walk(spec: &SectionSpec, trail: &str, name: &str, depth: usize) -> Option<String> {
        if depth > 4 {
            return None;
        }
        for item in &spec.items {
            match item {
                Item::Option(o) if o.name.eq_ignore_ascii_case(name) => {
                    return Some(if trail.is_empty() {
                        "the top level".to_string()
                    } else {
                        format!("section `{trail}`")
                    });
                }
                Item::Section(s) => {
                    let t = if trail.is_empty() {
                        s.spec.keyword.to_string()
                    } else {
                        format!("{trail} {{ {} }}", s.spec.keyword)
                    };
                    if s.spec.keyword.eq_ignore_ascii_case(name) && !trail.is_empty() {
                        return Some(format!("section `{trail}`"));
                    }
                    if let Some(h) = walk(s.spec, &t, name, depth + 1) {
                        return Some(h);
                    }
                }
                _ => {}
            }
        }
        None
    }
    walk(GlobalConf::spec(), "", name, 0)
}

#[cfg(test)]
mod tests {
    /// Every section, including the optional and repeatable ones, built
    /// with nothing but what it requires: every default of the schema must
    /// read as its own type (a bad default trips a debug assertion).
    #[test]
    fn every_default_reads() {
        let text = "
            smar {
                map m { type = passwd; }
                dnsbl { domain = d.example; tag = d; }
                greylisting { }
                local_user_map { name = m; }
            }
            smtps {
                auth { } policy_milter { } tls { }
                protected_recipients { allow_by = sender; }
                listen_socket { port = 2525; }
            }
            lmtpl { }
            prog { start_action = wait; path = /bin/true; arguments = true; }
        ";
        let checked = crate::check_str("defaults.conf", text);
        assert!(
            checked.errors().next().is_none(),
            "{:?}",
            checked.diagnostics
        );
    }
}

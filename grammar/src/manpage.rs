//! Generates the `smx.conf(5)` manual page from the option schema.
//!
//! The schema (see [`crate::schema`]), produced by the typed configuration
//! structs of [`crate::config`], is the one source of truth for what the
//! page says about sections and options: every option of every section is
//! listed with its type ([`Kind::describe`]), its default and its doc line,
//! and the lists of configuration-relative and queue-relative paths are
//! derived from [`Kind::ConfPath`] and [`Kind::QueuePath`]. Only the prose
//! about the file's syntax, the example and a few sentences about special
//! sections are written here.
//!
//! The page is written in man(7) macros and is checked with
//! `mandoc -Tlint -W warning` by the tests. The committed copy,
//! `man/smx.conf.5`, is regenerated with
//!
//! ```text
//! cargo run -q -p smx-grammar --example gen-man > man/smx.conf.5
//! ```
//!
//! Layout conventions the tests rely on: options are documented only under
//! the `GLOBAL OPTIONS`, `SECTIONS` and `OTHER PROGRAMS` headings, each as
//! `.TP` followed by `.B name`; the `.SS` heading above them is the path of
//! the section as it is written in smx.conf (`qmgr { DSN_handling }`,
//! `smar { map NAME }`, `smtps [NAME]`), with `PROGRAM` standing for the
//! keyword of another program started by the MCP.

use crate::config::build::Section;
use crate::config::common::{McpConf, ServiceConf};
use crate::config::{Config, COMPONENTS};
use crate::schema::{Item, Kind, Multiplicity, Naming, OptionSpec, SectionSpec, ALIASES};

/// Date shown in the page footer. Kept fixed so that the output only
/// changes when the schema or this generator changes.
const DATE: &str = "2026-11-21";

/// The `.SH` heading of the global options.
pub const GLOBAL_HEADING: &str = "GLOBAL OPTIONS";
/// The `.SH` heading of the component sections.
pub const SECTIONS_HEADING: &str = "SECTIONS";
/// The `.SH` heading of other programs started by the MCP.
pub const PROGRAMS_HEADING: &str = "OTHER PROGRAMS";
/// The keyword used in headings for another program started by the MCP.
pub const PROGRAM_KEYWORD: &str = "PROGRAM";

/// The complete `smx.conf(5)` page in man(7) format.
pub fn smx_conf_5() -> String {
    let mut p = Page::default();
    let top = Config::spec();
    let service = ServiceConf::spec();

    p.line(&format!(
        ".TH SMX.CONF 5 {DATE} {} \"File Formats Manual\"",
        arg(&format!("smx {}", env!("CARGO_PKG_VERSION")))
    ));
    header(&mut p);
    syntax(&mut p);
    paths(&mut p, top, service);

    p.line(&format!(".SH {}", arg(GLOBAL_HEADING)));
    p.text(
        "These options stand outside any section. All of them have defaults and \
         should only be changed if necessary.",
    );
    for o in top.options() {
        option(&mut p, o);
    }

    p.line(&format!(".SH {SECTIONS_HEADING}"));
    p.text(&format!(
        "Each component of smx has its own section: {}. Each section below lists \
         its options with type and default, then its subsections. A section that \
         is not written takes its defaults, unless it is marked as optional.",
        list_words(COMPONENTS)
    ));
    p.line(".PP");
    let mcp: Vec<&str> = McpConf::spec().names().collect();
    p.text(&format!(
        "Every component section also takes the options the MCP reads (sendmail X \
         README \u{a7}3.7), listed with each section: {}. For the components, \
         `path` defaults to the smxd executable and `arguments` to \
         `\"<section> -f <config file>\"`, so a minimal file need not repeat them; \
         the default of `start_action` is given with each section.",
        list_words(&mcp)
    ));
    for s in top.sections() {
        section(&mut p, s.spec, s.multiplicity, &[segment(s.spec)], 0);
    }

    programs(&mut p, service);
    aliases(&mut p, top);
    examples(&mut p);
    see_also(&mut p);
    p.out
}

/// The output being built.
#[derive(Default)]
struct Page {
    out: String,
}

impl Page {
    /// A request or macro line, written as is.
    fn line(&mut self, l: &str) {
        self.out.push_str(l);
        self.out.push('\n');
    }

    /// Text, escaped, with `code` spans of the schema's docs set in bold,
    /// broken into input lines of at most 80 bytes (roff fills them).
    fn text(&mut self, t: &str) {
        let t = code_spans(&escape(t.trim()));
        let mut cur = String::new();
        for word in t.split(' ').filter(|w| !w.is_empty()) {
            if !cur.is_empty() && cur.len() + 1 + word.len() > 80 {
                // A line that ends in an abbreviation or an ellipsis would
                // be taken for the end of a sentence.
                if ["...", "e.g.", "i.e."].iter().any(|a| cur.ends_with(a)) {
                    cur.push_str("\\&");
                }
                self.line(&protect(&cur));
                cur.clear();
            }
            if !cur.is_empty() {
                cur.push(' ');
            }
            cur.push_str(word);
        }
        if !cur.is_empty() {
            self.line(&protect(&cur));
        }
    }

    /// Lines shown as they are (inside `.EX`/`.EE`).
    fn literal(&mut self, block: &str) {
        for l in block.lines() {
            let l = escape(l.trim_end());
            if l.is_empty() {
                self.line("\\&");
            } else {
                self.line(&protect(&l));
            }
        }
    }

    /// A definition-list entry whose tag is set in bold.
    fn tag(&mut self, tag: &str, body: &str) {
        self.line(".TP");
        self.line(&format!(".B {}", arg(tag)));
        self.text(body);
    }
}

/// Escapes text for roff: backslashes become `\e`, and characters outside
/// ASCII are written as roff escapes.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\e"),
            '\u{a7}' => out.push_str("\\(sc"),
            '\u{2014}' => out.push_str("\\(em"),
            '\u{2013}' => out.push_str("\\(en"),
            '\n' | '\t' => out.push(' '),
            c if c.is_ascii() && !c.is_ascii_control() => out.push(c),
            c if c.is_ascii_control() => {}
            c => out.push_str(&format!("\\[u{:04X}]", u32::from(c))),
        }
    }
    out
}

/// Sets `code` spans (Markdown backticks, as in the doc comments) in bold;
/// an unpaired backtick stays as it is.
fn code_spans(s: &str) -> String {
    let parts: Vec<&str> = s.split('`').collect();
    if parts.len() % 2 == 0 {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len() + 8 * parts.len());
    for (i, part) in parts.iter().enumerate() {
        if i % 2 == 1 {
            out.push_str("\\fB");
            out.push_str(part);
            out.push_str("\\fR");
        } else {
            out.push_str(part);
        }
    }
    out
}

/// Keeps a text line from being read as a request (leading `.` or `'`).
fn protect(l: &str) -> String {
    if l.starts_with('.') || l.starts_with('\'') {
        format!("\\&{l}")
    } else {
        l.to_string()
    }
}

/// One macro argument: escaped, quoted when it holds spaces or is empty.
fn arg(s: &str) -> String {
    let e = escape(s).replace('"', "\\(dq");
    if e.is_empty() || e.contains(' ') {
        format!("\"{e}\"")
    } else {
        e
    }
}

/// A doc string of the schema on one line.
fn joined(doc: &str) -> String {
    doc.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// `a, b, c and d`.
fn list_words(words: &[&str]) -> String {
    match words {
        [] => String::new(),
        [one] => (*one).to_string(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// How a section is written in a heading path: `map NAME`, `smtps [NAME]`.
fn segment(spec: &SectionSpec) -> String {
    match spec.naming {
        Naming::None => spec.keyword.to_string(),
        Naming::Optional => format!("{} [NAME]", spec.keyword),
        Naming::Required => format!("{} NAME", spec.keyword),
    }
}

/// `qmgr { DSN_handling }` from `["qmgr", "DSN_handling"]`.
fn heading(path: &[String]) -> String {
    let mut h = String::new();
    for (i, s) in path.iter().enumerate() {
        if i > 0 {
            h.push_str(" { ");
        }
        h.push_str(s);
    }
    for _ in 1..path.len() {
        h.push_str(" }");
    }
    h
}

fn header(p: &mut Page) {
    p.line(".SH NAME");
    p.line("smx.conf \\- configuration file of the smx mail transfer system");
    p.line(".SH SYNOPSIS");
    p.line(".B /etc/smx/smx.conf");
    p.line(".SH DESCRIPTION");
    p.text(
        "smx.conf configures smx, a mail transfer system after the design of \
         sendmail X. The MCP (the supervisor started as smxd) reads it and starts \
         the components it describes: the queue manager (qmgr), the address \
         resolver (smar), one or more SMTP servers (smtps), the SMTP and LMTP \
         client (smtpc), the local delivery agent (lmtpl), and any other program \
         given its own section. Each component reads the same file, named with the \
         option",
    );
    p.line(".BR \\-f .");
    p.line(".PP");
    p.text(
        "All options have built-in defaults, so a small file only sets what \
         differs. This page is generated from the same schema that smx uses to \
         read the file;",
    );
    p.line(".B smxctl check");
    p.text("validates a file and every map it refers to, and");
    p.line(".B smxctl conf show \\-d");
    p.text("prints every option with its effective value.");
}

fn syntax(p: &mut Page) {
    p.line(".SS Entries");
    p.text(
        "The file is a sequence of entries; an entry is an option or a section \
         (sendmail X README \u{a7}3.2):",
    );
    p.line(".PP");
    p.line(".RS 4");
    p.line(".EX");
    p.literal(
        "conf    ::= entries\n\
         entries ::= entry *\n\
         entry   ::= option | section\n\
         section ::= keyword [name] \"{\" entries \"}\" [\";\"]\n\
         option  ::= option-name \"=\" rhs\n\
         rhs     ::= value \";\" | \"{\" value-list \"}\" [\";\"]",
    );
    p.line(".EE");
    p.line(".RE");
    p.line(".PP");
    p.text("An option is written");
    p.line(".IR name \" = \" value ;");
    p.text("and a list of values");
    p.line(".IR name \" = { \" a \", \" b \" };\"");
    p.text(
        "with the values separated by commas; a trailing comma is allowed and the \
         semicolon after the closing brace may be left out. A set of flags may also \
         be written without the equal sign, as in the seed's own examples: \
         `allow_by { sender, client_ip }` reads like `allow_by = { sender, client_ip };`. \
         A list option given a single value without braces holds that one value.",
    );
    p.line(".PP");
    p.text("A section is written");
    p.line(".IR keyword \" [\" name \"] { \" entries \" } [;]\"");
    p.text(
        "and holds options and further sections. Some sections take a name \
         (`map lusers { ... }`), which tells apart several sections of the same \
         keyword. The semicolon that ends an option may be left out before the \
         closing brace of its section, as in `smtps { flags = greylisting }`.",
    );
    p.line(".PP");
    p.text(
        "Keywords and option names are not case sensitive: Log_Level and \
         log_level are the same option. Layout does not matter: indentation and \
         line breaks are ignored, except inside quoted strings. A # starts a \
         comment that runs to the end of the line (outside a quoted string).",
    );

    p.line(".SS Values");
    p.text(
        "The meaning of a value depends on the option; each option below gives its \
         type (sendmail X README \u{a7}3.3).",
    );
    p.tag(
        "strings",
        "A value is quoted with double quotes when it holds characters the grammar \
         treats specially (white space, braces, semicolon, comma, equal sign, \
         double quote, #). Inside quotes the C escapes \\n \\t \\r \\a \\b \\f \\v \
         \\\\ \\\" \\xHH and \\ooo (octal) are recognized; any other escape is an error. \
         Adjacent quoted strings are concatenated, as in C, so a long string can be \
         spread over several lines. A quoted string may not span a line break.",
    );
    p.tag(
        "words",
        "Values without special characters need no quotes: names such as wait or \
         smxq, numbers, times, sizes, IPv4 addresses and paths such as \
         /usr/libexec/smtps or smtps/smtpsfd.",
    );
    p.tag(
        "numbers",
        "Decimal (25), hexadecimal with the prefix 0x (0x19, digits 0-9, a-f, A-F) \
         or octal with a leading 0 (031). Numbers are not negative; many options \
         give a smallest or largest value.",
    );
    p.tag(
        "booleans",
        "0, false and off mean false; 1, true and on mean true (not case \
         sensitive).",
    );
    p.tag(
        "times",
        "A number followed by a unit: w (weeks), d (days), h (hours), m (minutes) \
         or s (seconds). Several may follow each other, as in 1h 5m 12s or 5m3s, \
         and are added up. A bare number is in the option's default unit, seconds \
         unless the type says otherwise.",
    );
    p.tag(
        "sizes",
        "A number followed by B (bytes), KB, MB or GB; the multiples are powers of \
         1024 (1KB is 1024 bytes). Several may follow each other (1MB 512KB). A bare \
         number is in the option's default unit, bytes unless the type says \
         otherwise.",
    );
    p.tag(
        "IPv4 addresses",
        "Dotted quads such as 127.0.0.1. Where the type says so, a netmask is \
         written as a number, usually in hexadecimal (0xFFFFFF00).",
    );
    p.tag(
        "keywords and flags",
        "An option of type \"one of\" takes one of the listed words; an option of \
         type \"flags\" takes a list of the listed words, or a single one without \
         braces.",
    );
}

/// Every option of `kind` below `spec`, as `section.subsection.option`.
fn paths_of(spec: &SectionSpec, prefix: &str, want: Kind, out: &mut Vec<String>) {
    for item in &spec.items {
        match item {
            Item::Option(o) if o.kind == want => out.push(if prefix.is_empty() {
                o.name.to_string()
            } else {
                format!("{prefix}.{}", o.name)
            }),
            Item::Option(_) => {}
            Item::Section(s) => {
                let p = if prefix.is_empty() {
                    s.spec.keyword.to_string()
                } else {
                    format!("{prefix}.{}", s.spec.keyword)
                };
                paths_of(s.spec, &p, want, out);
            }
        }
    }
}

/// The paths of `kind`, with those that every started program has (the MCP
/// options) folded into one `SECTION.` entry.
fn path_list(top: &SectionSpec, service: &SectionSpec, want: Kind) -> Vec<String> {
    let mut all = Vec::new();
    paths_of(top, "", want, &mut all);
    paths_of(service, PROGRAM_KEYWORD, want, &mut all);
    let started: Vec<&str> = COMPONENTS
        .iter()
        .copied()
        .chain(std::iter::once(PROGRAM_KEYWORD))
        .collect();
    let suffix = |p: &str| -> Option<(String, String)> {
        let (head, rest) = p.split_once('.')?;
        Some((head.to_string(), rest.to_string()))
    };
    let mut out = Vec::new();
    for p in &all {
        let folded = suffix(p).and_then(|(head, rest)| {
            if !started.contains(&head.as_str()) {
                return None;
            }
            let everywhere = started
                .iter()
                .all(|s| all.iter().any(|q| q == &format!("{s}.{rest}")));
            everywhere.then(|| format!("SECTION.{rest}"))
        });
        let entry = folded.unwrap_or_else(|| p.clone());
        if !out.contains(&entry) {
            out.push(entry);
        }
    }
    out
}

fn paths(p: &mut Page, top: &SectionSpec, service: &SectionSpec) {
    p.line(".SH PATHS");
    p.text(
        "File and directory names that do not begin with a slash are relative to \
         one of two directories (sendmail X README \u{a7}3.6):",
    );
    p.tag(
        "the configuration directory",
        "the directory of the configuration file given with -f (for /etc/smx/smx.conf, \
         /etc/smx): maps and other configuration files, such as aliases.db, the \
         qmgr_conf map and the STARTTLS certificates and keys. These options, written \
         as section.option, are:",
    );
    p.text(&format!(
        "{}.",
        path_list(top, service, Kind::ConfPath).join(", ")
    ));
    p.tag(
        "the main queue directory",
        "the directory named by queue_directory: sockets, and the databases that hold \
         envelopes (IBDB, DEFEDB, greylisting) and message contents (CDB). These \
         options are:",
    );
    p.text(&format!(
        "{}.",
        path_list(top, service, Kind::QueuePath).join(", ")
    ));
    p.line(".PP");
    p.text(
        "SECTION stands for each component section and for each other program started \
         by the MCP. The queue directory itself, queue_directory, is relative to the \
         configuration file's directory when it is not absolute. sendmail X starts \
         every component in the queue directory instead; smx makes that directory an \
         option and changes into it before it starts the components. \
         CDB_base_directory is either empty or ends in a slash; the CDB \
         subdirectories are appended to it.",
    );
}

fn option(p: &mut Page, o: &OptionSpec) {
    p.line(".TP");
    p.line(&format!(".B {}", arg(o.name)));
    let doc = joined(o.doc);
    if doc.is_empty() {
        p.text("(Not documented.)");
    } else {
        p.text(&doc);
    }
    p.line(".br");
    p.text(&format!("Type: {}.", o.kind.describe()));
    p.line(".br");
    match o.default {
        None => p.text("Default: not set."),
        Some(d) => {
            let shown = if d.is_empty() { "\"\"" } else { d };
            p.line(&format!(".RB \"Default: \" {} .", arg(shown)));
        }
    }
}

/// Extra sentences for sections that need more than their doc line.
fn extra(path: &str) -> Option<&'static str> {
    match path {
        "smar { map NAME }" => Some(
            "Each map is declared once under a name of its own and used by that name \
             elsewhere: in `aliases { name }`, `mailertable { name }` \
             and `local_user_map { name }`, and in the maps list of a sequence map. \
             Declare as many maps as needed.",
        ),
        "smar { dnsbl }" => Some(
            "The dnsbl section may be repeated, once for each blacklist; all of them \
             are queried concurrently and their answers are looked up in the order \
             the sections are written.",
        ),
        "smtps [NAME]" => Some(
            "Several SMTP servers with different configurations (sendmail X README \
             \u{a7}3.10.1), for example an MTA on port 25 and a submission server on \
             port 587, are written as named sections, `smtps MTA { ... }` and \
             `smtps MSA { ... }`; each has its own listen_socket and id. A single \
             server may be written without a name.",
        ),
        _ => None,
    }
}

/// One sentence on how often a section may appear and whether it is named.
fn presence(spec: &SectionSpec, m: Multiplicity) -> String {
    let named = match spec.naming {
        Naming::None => "",
        Naming::Optional => " It may be given a name.",
        Naming::Required => " It must be given a name.",
    };
    let how = match m {
        Multiplicity::One => "It appears at most once; when it is not written, its defaults apply.",
        Multiplicity::Optional => {
            "It is optional and appears at most once; it takes effect only when written."
        }
        Multiplicity::Many => "It may appear any number of times.",
    };
    format!("{how}{named}")
}

/// The seed reference of a section, when it is a README section.
fn seed_ref(spec: &SectionSpec) -> Option<String> {
    let doc = joined(spec.doc);
    let cited =
        doc.contains(&format!("{})", spec.seed)) || doc.contains(&format!("{} ", spec.seed));
    (spec.seed.starts_with('\u{a7}') && !cited)
        .then(|| format!("See sendmail X README {}.", spec.seed))
}

fn section(p: &mut Page, spec: &SectionSpec, m: Multiplicity, path: &[String], depth: usize) {
    let h = heading(path);
    p.line(&format!(".SS {}", arg(&h)));
    p.text(&joined(spec.doc));
    if let Some(x) = extra(&h) {
        p.text(x);
    }
    p.text(&presence(spec, m));
    if let Some(r) = seed_ref(spec) {
        p.text(&r);
    }
    let subs: Vec<String> = spec.sections().map(|s| segment(s.spec)).collect();
    if !subs.is_empty() {
        let words: Vec<&str> = subs.iter().map(String::as_str).collect();
        p.text(&format!(
            "Subsections, described below: {}.",
            list_words(&words)
        ));
    }
    for o in spec.options() {
        option(p, o);
    }
    if depth > 8 {
        return;
    }
    for s in spec.sections() {
        let mut sub = path.to_vec();
        sub.push(segment(s.spec));
        section(p, s.spec, s.multiplicity, &sub, depth + 1);
    }
}

fn programs(p: &mut Page, service: &SectionSpec) {
    p.line(&format!(".SH {}", arg(PROGRAMS_HEADING)));
    p.text(&format!(
        "A top-level section whose keyword is not one of {} declares another program \
         for the MCP to start (sendmail X README \u{a7}3.7), for \
         example a local mailer. Such a section takes no name, and it must give \
         start_action, path and arguments itself: the MCP has built-in defaults only \
         for its own components. smxctl check reports a section that lacks one of them, \
         and an unknown section without any of them is reported as a misspelled \
         keyword. Below, {PROGRAM_KEYWORD} stands for the keyword of such a section.",
        list_words(COMPONENTS)
    ));
    let root = PROGRAM_KEYWORD.to_string();
    p.line(&format!(".SS {}", arg(&root)));
    p.text(&joined(service.doc));
    if let Some(r) = seed_ref(service) {
        p.text(&r);
    }
    for o in service.options() {
        option(p, o);
    }
    for s in service.sections() {
        let sub = vec![root.clone(), segment(s.spec)];
        section(p, s.spec, s.multiplicity, &sub, 1);
    }
}

fn aliases(p: &mut Page, top: &SectionSpec) {
    p.line(".SH ALIASES");
    p.text(
        "These older or alternative spellings, some of them used by the seed's own \
         examples, are accepted in place of the canonical names:",
    );
    for (keyword, written, canonical) in ALIASES {
        let what = top
            .section(keyword)
            .map(|s| match s.spec.section(canonical) {
                Some(_) => "the section",
                None => "the option",
            })
            .unwrap_or("");
        p.line(".IP \\(bu 2");
        p.line(&format!(".B {}", arg(written)));
        p.text(&format!("in section {keyword} means {what}"));
        p.line(&format!(".BR {} .", arg(canonical)));
    }
    p.line(".PP");
    p.text(
        "In addition, max_errors_per_DSN written directly in the qmgr section, as \
         the seed's example does, is read as \
         `qmgr { DSN_handling { max_errors_per_DSN = ...; } }` with a warning.",
    );
}

/// The configuration shown in EXAMPLES; the tests check that it is clean.
const EXAMPLE: &str = r#"# /etc/smx/smx.conf: a gateway for example.org
hostname = "mail.example.org";
queue_directory = /var/spool/smx;

qmgr {
  user = smxq; group = smx;
  restart_dependencies = { smtps, smtpc, smar };
  queue_return_timeout = 5d;
  retry_min_delay = 5m;
  DSN_handling { max_errors_per_DSN = 50; }
  log { facility = mail; ident = "smx-qmgr"; }
}

smar {
  user = smxm; group = smx;
  nameserver = { 127.0.0.1 };
  DNS_timeout = 6s;
  map lusers { type = hash; file = "lusers.db"; }
  local_user_map { name = lusers; }
  aliases { file = "aliases.db"; flags = { localpart, local_domains }; }
  dnsbl { domain = "zen.spamhaus.org"; tag = zen; }
}

smtps MTA {
  listen_socket { type = inet; port = 25; }
  pass_fd_socket = smtps/mtafd;
  user = smxs; group = smx;
  flags = { 8bitmime, access };
  max_message_size = 20MB;
  IO_timeout = 5m 30s;
}

smtps MSA {
  listen_socket { type = inet; port = 587; }
  pass_fd_socket = smtps/msafd;
  user = smxs; group = smx;
  tls { cert_file = "tls/mail.crt"; key_file = "tls/mail.key"; }
}

smtpc { user = smxc; group = smx; IO_timeout = 6m; }

lmtpl { user = smxl; maildir = "/var/mail/${user}/Maildir"; }
"#;

fn examples(p: &mut Page) {
    p.line(".SH EXAMPLES");
    p.text(
        "A gateway with an MTA on port 25 and a submission server on port 587, \
         local users from a hash map, one DNS blacklist and local delivery into \
         Maildir; each component runs as a user of its own, all in the group smx \
         (see Ownership in smxd(8)):",
    );
    p.line(".PP");
    p.line(".RS 4");
    p.line(".EX");
    p.literal(EXAMPLE);
    p.line(".EE");
    p.line(".RE");
    p.line(".PP");
    p.text("A minimal file that only moves the queue and raises the log level of the resolver:");
    p.line(".PP");
    p.line(".RS 4");
    p.line(".EX");
    p.literal("queue_directory = /srv/smx;\nsmar { log_level = 12; }");
    p.line(".EE");
    p.line(".RE");
}

fn see_also(p: &mut Page) {
    p.line(".SH SEE ALSO");
    p.line(".BR createmap (8),");
    p.line(".BR smxctl (8),");
    p.line(".BR smxd (8),");
    p.line(".BR syslog (3)");
    p.line(".PP");
    p.text(
        "The sendmail X README, chapter 3 (run-time configuration), which this \
         format follows.",
    );
}

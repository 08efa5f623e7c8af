//! The converted site: what smx.conf (README §3.4, §3.9, §3.10, §3.11) and
//! the maps (§3.9.3: access map, aliases, mailertable) will hold, built up
//! by the Postfix and sendmail readers and rendered as smx.conf text.
//!
//! Map entries are checked with smx-maps' own validators when they are
//! added, so a map that is written always compiles; an entry that does not
//! validate is returned as an error for the report.

use smx_maps::kind::MapKind;
use smx_maps::source::{self, Convention, Separator};
use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::net::Ipv4Addr;

/// One map entry and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The key.
    pub key: String,
    /// The right-hand side.
    pub value: String,
    /// `file:line` of the directive it came from.
    pub origin: String,
}

/// STARTTLS files.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tls {
    /// Certificate (PEM).
    pub cert_file: Option<String>,
    /// Private key (PEM).
    pub key_file: Option<String>,
    /// CA certificates file.
    pub cacert_file: Option<String>,
    /// CA certificates directory.
    pub cacert_directory: Option<String>,
}

impl Tls {
    fn is_empty(&self) -> bool {
        self.cert_file.is_none()
            && self.key_file.is_none()
            && self.cacert_file.is_none()
            && self.cacert_directory.is_none()
    }
}

/// One SMTP server (`smtps NAME { }`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Smtps {
    /// Section name (MTA, MSA, ...).
    pub name: Option<String>,
    /// Listen address; unset means every local address.
    pub address: Option<Ipv4Addr>,
    /// Port.
    pub port: u16,
    /// Further options, `name = value` (value written as is).
    pub options: Vec<(String, String)>,
    /// Flags besides `8bitmime` and `access`.
    pub flags: BTreeSet<String>,
    /// STARTTLS.
    pub tls: Option<Tls>,
    /// SMTP AUTH offered.
    pub auth: bool,
}

impl Smtps {
    /// A server on `port`.
    pub fn new(name: Option<&str>, port: u16) -> Self {
        Smtps {
            name: name.map(str::to_string),
            port,
            ..Smtps::default()
        }
    }

    /// Sets an option, replacing an earlier value.
    pub fn set(&mut self, name: &str, value: impl Into<String>) {
        self.options.retain(|(n, _)| n != name);
        self.options.push((name.to_string(), value.into()));
    }
}

/// The server of `servers` that already listens on `address:port` (no
/// address: every address), if any; smx.conf allows one listener per
/// address and port (check E058).
pub fn listener_on(servers: &[Smtps], address: Option<Ipv4Addr>, port: u16) -> Option<&Smtps> {
    servers.iter().find(|x| {
        x.port == port && (x.address == address || x.address.is_none() || address.is_none())
    })
}

/// The converted site.
#[derive(Debug, Clone, Default)]
pub struct Site {
    /// `hostname`.
    pub hostname: Option<String>,
    /// SMTP servers.
    pub smtps: Vec<Smtps>,
    /// qmgr options, `name = value`.
    pub qmgr: Vec<(String, String)>,
    /// smtpc STARTTLS.
    pub smtpc_tls: Option<Tls>,
    /// DNS blacklists: (zone, tag).
    pub dnsbl: Vec<(String, String)>,
    /// Aliases flags.
    pub alias_flags: BTreeSet<String>,
    /// Check local users against the system's user database.
    pub passwd_users: bool,
    /// The access map.
    pub access: Vec<Entry>,
    /// The aliases.
    pub aliases: Vec<Entry>,
    /// The mailertable.
    pub mailertable: Vec<Entry>,
}

/// Map file names in the output directory.
pub const ACCESS_SOURCE: &str = "access";
/// Aliases source.
pub const ALIASES_SOURCE: &str = "aliases";
/// Mailertable (read as text by SMAR).
pub const MAILERTABLE: &str = "mt";

// Every value is written quoted, control characters escaped: a newline in
// a value read from an unclosed m4 quote must not leave the string open.
use smx_grammar::config::build::quoted as quote;

impl Site {
    /// Sets a qmgr option, replacing an earlier value.
    pub fn set_qmgr(&mut self, name: &str, value: impl Into<String>) {
        self.qmgr.retain(|(n, _)| n != name);
        self.qmgr.push((name.to_string(), value.into()));
    }

    fn add(
        list: &mut Vec<Entry>,
        kind: MapKind,
        key: &str,
        value: &str,
        origin: &str,
    ) -> Result<(), String> {
        let key = key.trim().to_lowercase();
        let value = value.trim().to_string();
        kind.validate(&key, &value)?;
        // The entry must read back as itself from the line `map_text`
        // writes (no newline in the value, no blank in the key).
        let line = match kind.separator() {
            Separator::Colon => format!("{key}: {value}\n"),
            Separator::Whitespace => format!("{key}\t{value}\n"),
        };
        let back: Vec<_> = source::entries(&line, Convention::Sendmail, kind.separator()).collect();
        if !matches!(back.as_slice(), [Ok(e)] if e.key == key && e.value == value) {
            return Err(format!(
                "{key:?} {value:?} does not fit on one line of a map source"
            ));
        }
        if let Some(old) = list.iter().find(|e| e.key == key) {
            if old.value == value {
                return Ok(());
            }
            return Err(format!(
                "key {key} already converted from {} with {}",
                old.origin, old.value
            ));
        }
        list.push(Entry {
            key,
            value,
            origin: origin.to_string(),
        });
        Ok(())
    }

    /// Adds an access map entry (checked as smx's access kind).
    pub fn add_access(&mut self, key: &str, value: &str, origin: &str) -> Result<(), String> {
        Self::add(&mut self.access, MapKind::Access, key, value, origin)
    }

    /// Adds an aliases entry.
    pub fn add_alias(&mut self, key: &str, value: &str, origin: &str) -> Result<(), String> {
        Self::add(&mut self.aliases, MapKind::Aliases, key, value, origin)
    }

    /// Adds a mailertable entry.
    pub fn add_route(&mut self, key: &str, value: &str, origin: &str) -> Result<(), String> {
        Self::add(
            &mut self.mailertable,
            MapKind::Mailertable,
            key,
            value,
            origin,
        )
    }

    /// Whether `domain` is a local domain (its mailertable entry is LMTP).
    pub fn is_local(&self, domain: &str) -> bool {
        let d = domain.to_lowercase();
        self.mailertable
            .iter()
            .any(|e| e.key == d && e.value.contains("lmtp:"))
    }

    /// The smx.conf text.
    pub fn render(&self, header: &str) -> String {
        let mut o = String::new();
        for l in header.lines() {
            let _ = writeln!(o, "# {l}");
        }
        let _ = writeln!(
            o,
            "# Check it with `smxctl check -f smx.conf`; see smx.conf(5).\n"
        );
        if let Some(h) = &self.hostname {
            let _ = writeln!(o, "hostname = {};\n", quote(h));
        }
        if !self.qmgr.is_empty() {
            let _ = writeln!(o, "qmgr {{");
            for (n, v) in &self.qmgr {
                let _ = writeln!(o, "    {n} = {v};");
            }
            let _ = writeln!(o, "}}\n");
        }
        let _ = writeln!(o, "smar {{");
        if self.passwd_users {
            let _ = writeln!(o, "    map localusers {{ type = passwd; }}");
            let _ = writeln!(o, "    local_user_map {{ name = localusers; }}");
        }
        if !self.access.is_empty() {
            let _ = writeln!(o, "    access_map {{ file = \"{ACCESS_SOURCE}.db\"; }}");
        }
        if !self.aliases.is_empty() {
            let flags: Vec<&str> = self.alias_flags.iter().map(String::as_str).collect();
            let flags = if flags.is_empty() {
                "localpart".to_string()
            } else {
                flags.join(", ")
            };
            let _ = writeln!(
                o,
                "    aliases {{ file = \"{ALIASES_SOURCE}.db\"; flags = {{ {flags} }}; }}"
            );
        }
        let _ = writeln!(o, "    mailertable {{ file = \"{MAILERTABLE}\"; }}");
        for (zone, tag) in &self.dnsbl {
            let _ = writeln!(o, "    dnsbl {{ domain = {}; tag = {tag}; }}", quote(zone));
        }
        let _ = writeln!(o, "}}\n");
        let access = !self.access.is_empty();
        for s in &self.smtps {
            match &s.name {
                Some(n) => {
                    let _ = writeln!(o, "smtps {n} {{");
                }
                None => {
                    let _ = writeln!(o, "smtps {{");
                }
            }
            let mut flags: BTreeSet<&str> = s.flags.iter().map(String::as_str).collect();
            flags.insert("8bitmime");
            if access {
                flags.insert("access");
            }
            let flags: Vec<&str> = flags.into_iter().collect();
            let _ = writeln!(o, "    flags = {{ {} }};", flags.join(", "));
            match s.address {
                Some(a) => {
                    let _ = writeln!(
                        o,
                        "    listen_socket {{ type = inet; address = {a}; port = {}; }}",
                        s.port
                    );
                }
                None => {
                    let _ = writeln!(o, "    listen_socket {{ type = inet; port = {}; }}", s.port);
                }
            }
            for (n, v) in &s.options {
                let _ = writeln!(o, "    {n} = {v};");
            }
            if let Some(t) = s.tls.as_ref().filter(|t| !t.is_empty()) {
                render_tls(&mut o, t);
            }
            if s.auth {
                let _ = writeln!(o, "    auth {{ }}");
            }
            let _ = writeln!(o, "}}\n");
        }
        let _ = writeln!(o, "smtpc {{");
        if let Some(t) = self.smtpc_tls.as_ref().filter(|t| !t.is_empty()) {
            render_tls(&mut o, t);
        }
        let _ = writeln!(o, "}}");
        if self.mailertable.iter().any(|e| e.value == "lmtp:") {
            let _ = writeln!(o, "\nlmtpl {{ }}");
        }
        o
    }

    /// The text of a map source (`key value` / `key: value` for aliases).
    pub fn map_text(entries: &[Entry], colon: bool) -> String {
        let mut o = String::new();
        for e in entries {
            let _ = writeln!(o, "# {}", e.origin);
            if colon {
                let _ = writeln!(o, "{}: {}", e.key, e.value);
            } else {
                let _ = writeln!(o, "{}\t{}", e.key, e.value);
            }
        }
        o
    }
}

fn render_tls(o: &mut String, t: &Tls) {
    let _ = writeln!(o, "    tls {{");
    for (n, v) in [
        ("cert_file", &t.cert_file),
        ("key_file", &t.key_file),
        ("CAcert_file", &t.cacert_file),
        ("CAcert_directory", &t.cacert_directory),
    ] {
        if let Some(v) = v {
            let _ = writeln!(o, "        {n} = {};", quote(v));
        }
    }
    let _ = writeln!(o, "    }}");
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// Found by fuzzing (fuzz/regressions/main_cf/same_port_twice,
    /// fuzz/regressions/sendmail_mc/same_port_twice): two services on one
    /// port made an smx.conf with two listeners on it (E058).
    /// Found by fuzzing (fuzz/regressions/sendmail_mc/newline_in_map_value):
    /// a value with a newline split the access map source.
    #[test]
    fn map_entries_fit_on_one_line() {
        let mut site = Site::default();
        assert!(site
            .add_access("to:a.example", "error:550 5.7.1 a\nR$* x", "t")
            .is_err());
        assert!(site.add_access("to:a b.example", "relay", "t").is_err());
        assert!(site.add_alias("x", "a,\nb", "t").is_err());
        assert!(site
            .add_access("to:a.example", "error:550 5.7.1 a\tb", "t")
            .is_ok());
        assert_eq!(site.access.len(), 1);
    }

    /// Found by fuzzing (fuzz/regressions/sendmail_mc/names_differ_in_case):
    /// DAEMON_OPTIONS names `mSA` and `MSA` became two sections of one name.
    #[test]
    fn daemon_names_are_case_insensitive() {
        let dir = std::env::temp_dir().join(format!("smx-migrate-names-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mc = dir.join("sendmail.mc");
        std::fs::write(
            &mc,
            "DAEMON_OPTIONS(`Port=586, Name=mSA')\nDAEMON_OPTIONS(`Port=587, Name=MSA')\n\
             DAEMON_OPTIONS(`Port=588, Name=MSA_2')\nDAEMON_OPTIONS(`Port=589, Name=msa')\n",
        )
        .unwrap();
        let input = crate::sendmail::Input {
            mc,
            cf: None,
            etc: None,
            cf_dir: None,
        };
        let m = crate::sendmail::convert(&input, "mx.example.org");
        std::fs::remove_dir_all(&dir).unwrap();
        let m = m.unwrap();
        assert_eq!(m.site.smtps.len(), 4);
        if let Err(e) = crate::output::conf_text(&m.site, "# test\n") {
            panic!("{e}");
        }
    }

    /// Found by fuzzing (fuzz/regressions/main_cf/backoff_min_over_max):
    /// minimal_backoff_time over maximal_backoff_time made an smx.conf the
    /// checker refuses (E052).
    #[test]
    fn backoff_min_over_max() {
        for main in [
            "minimal_backoff_time = 2h\nmaximal_backoff_time = 1h\n",
            "minimal_backoff_time = 5m\nmaximal_backoff_time = 72\n",
            "minimal_backoff_time = 5000s\nmaximal_backoff_time = 0\n",
        ] {
            let m = crate::postfix::convert_text(
                std::path::Path::new("."),
                main,
                None,
                "mx.example.org",
            );
            if let Err(e) = crate::output::conf_text(&m.site, "# test\n") {
                panic!("{main}: {e}");
            }
        }
    }

    #[test]
    fn one_listener_per_port() {
        let main = "myhostname = mx.example.org\n";
        let master = "smtp inet n - n - - smtpd\n25 inet n - n - - smtpd\n\
                      127.0.0.1:587 inet n - n - - smtpd\nsubmission inet n - n - - smtpd\n";
        let m = crate::postfix::convert_text(
            std::path::Path::new("."),
            main,
            Some(master),
            "mx.example.org",
        );
        assert_eq!(m.site.smtps.len(), 2, "{:?}", m.site.smtps);
        if let Err(e) = crate::output::conf_text(&m.site, "# test\n") {
            panic!("{e}");
        }
        assert_eq!(m.report.counts().not_convertible, 2);
    }

    /// Found by fuzzing (fuzz/regressions/sendmail_mc/value_with_newline):
    /// a value with a newline made an smx.conf string that does not close.
    #[test]
    fn quoted_values_with_control_characters_pass_the_checker() {
        let site = Site {
            hostname: Some("mx.example\nx\t\u{1}\"\\".to_string()),
            ..Site::default()
        };
        let text = site.render("# test\n");
        let checked = smx_grammar::check_str("smx.conf", &text);
        let errors: Vec<String> = checked.errors().map(|d| format!("{d:?}")).collect();
        assert!(errors.is_empty(), "{errors:?}\n{text}");
    }
}

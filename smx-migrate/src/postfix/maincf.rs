//! Postfix main.cf (postconf(5)): `name = value` lines, `#` comments,
//! continuation lines that start with white space, and parameter expansion
//! `$name`, `${name}`, `$(name)`, `${name?text}`, `${name:text}`, `$$`,
//! against the file's own values and Postfix's defaults for the parameters
//! smx-migrate reads (seed 003).

use std::cell::RefCell;
use std::collections::BTreeMap;

/// One parameter line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    /// Line of the name.
    pub line: usize,
    /// Name.
    pub name: String,
    /// Value as written (continuations joined with a space).
    pub raw: String,
}

/// Postfix's defaults (compatibility level 3.6 and later) for the
/// parameters smx-migrate reads; `myhostname` comes from the caller.
pub const DEFAULTS: &[(&str, &str)] = &[
    ("mydomain", "${myhostname_domain}"),
    ("myorigin", "$myhostname"),
    (
        "mydestination",
        "$myhostname, localhost.$mydomain, localhost",
    ),
    ("relay_domains", ""),
    ("mynetworks", "127.0.0.0/8"),
    ("relayhost", ""),
    ("transport_maps", ""),
    ("alias_maps", "hash:/etc/aliases"),
    ("virtual_alias_maps", "$virtual_maps"),
    ("virtual_maps", ""),
    ("virtual_alias_domains", "$virtual_alias_maps"),
    ("smtpd_client_restrictions", ""),
    ("smtpd_helo_restrictions", ""),
    ("smtpd_sender_restrictions", ""),
    ("smtpd_recipient_restrictions", ""),
    (
        "smtpd_relay_restrictions",
        "permit_mynetworks, permit_sasl_authenticated, defer_unauth_destination",
    ),
    ("message_size_limit", "10240000"),
    ("smtpd_recipient_limit", "1000"),
    ("default_destination_concurrency_limit", "20"),
    ("maximal_queue_lifetime", "5d"),
    ("minimal_backoff_time", "300s"),
    ("maximal_backoff_time", "4000s"),
    ("delay_warning_time", "0h"),
    ("smtpd_tls_security_level", ""),
    ("smtpd_use_tls", "no"),
    ("smtpd_tls_cert_file", ""),
    ("smtpd_tls_key_file", "$smtpd_tls_cert_file"),
    ("smtpd_tls_CAfile", ""),
    ("smtpd_tls_CApath", ""),
    ("smtp_tls_security_level", ""),
    ("smtp_tls_cert_file", ""),
    ("smtp_tls_key_file", "$smtp_tls_cert_file"),
    ("smtp_tls_CAfile", ""),
    ("smtp_tls_CApath", ""),
    ("smtpd_sasl_auth_enable", "no"),
    (
        "local_recipient_maps",
        "proxy:unix:passwd.byname $alias_maps",
    ),
    ("mail_name", "Postfix"),
    ("inet_interfaces", "all"),
];

/// The longest expanded value kept, in bytes; far beyond any real main.cf
/// value.
pub const MAX_EXPANSION: usize = 64 * 1024;

/// A parsed main.cf.
#[derive(Debug, Clone, Default)]
pub struct MainCf {
    /// Every parameter line, in order.
    pub params: Vec<Param>,
    values: BTreeMap<String, String>,
    /// Expanded values by name; `None` while a name is being expanded, so
    /// a name that refers to itself expands to nothing and every name is
    /// expanded once (`d = $d ${d:x} $d` would otherwise branch at every
    /// level).
    expanded: RefCell<BTreeMap<String, Option<String>>>,
}

impl MainCf {
    /// Parses main.cf text; `myhostname` is the default of `myhostname`.
    pub fn parse(text: &str, myhostname: &str) -> (MainCf, Vec<(usize, String)>) {
        let mut params: Vec<Param> = Vec::new();
        let mut bad = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let t = raw.trim();
            if t.is_empty() || t.starts_with('#') {
                continue;
            }
            if raw.starts_with([' ', '\t']) {
                if let Some(p) = params.last_mut() {
                    if !p.raw.is_empty() {
                        p.raw.push(' ');
                    }
                    p.raw.push_str(t);
                    continue;
                }
            }
            match t.split_once('=') {
                Some((n, v)) if !n.trim().is_empty() && !n.trim().contains(' ') => {
                    params.push(Param {
                        line: i + 1,
                        name: n.trim().to_string(),
                        raw: v.trim().to_string(),
                    })
                }
                _ => bad.push((i + 1, t.to_string())),
            }
        }
        let mut values: BTreeMap<String, String> = DEFAULTS
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        values.insert("myhostname".into(), myhostname.to_string());
        let dom = myhostname
            .split_once('.')
            .map(|(_, d)| d.to_string())
            .unwrap_or_else(|| "localdomain".to_string());
        values.insert("myhostname_domain".into(), dom);
        for p in &params {
            values.insert(p.name.clone(), p.raw.clone());
        }
        let main = MainCf {
            params,
            values,
            expanded: RefCell::default(),
        };
        (main, bad)
    }

    /// Whether the file sets `name`.
    pub fn is_set(&self, name: &str) -> bool {
        self.params.iter().any(|p| p.name == name)
    }

    /// The last line that sets `name`.
    pub fn line_of(&self, name: &str) -> Option<usize> {
        self.params
            .iter()
            .rev()
            .find(|p| p.name == name)
            .map(|p| p.line)
    }

    /// The raw value of `name` (file, else default).
    pub fn raw(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// The expanded value of `name`.
    pub fn get(&self, name: &str) -> String {
        self.expand(self.raw(name).unwrap_or(""), 0)
    }

    /// The expanded value with `overrides` (master.cf `-o`) taking
    /// precedence.
    pub fn get_with(&self, name: &str, overrides: &BTreeMap<String, String>) -> String {
        match overrides.get(name) {
            Some(v) => self.expand(v, 0),
            None => self.get(name),
        }
    }

    /// Expands `$name` forms in `text`. The result is cut after
    /// [`MAX_EXPANSION`] bytes: `a = $b $b`, `b = $c $c`, ... doubles at
    /// every level and would otherwise never end.
    pub fn expand(&self, text: &str, depth: usize) -> String {
        if depth > 20 {
            return text.to_string();
        }
        let chars: Vec<char> = text.chars().collect();
        let mut out = String::new();
        let mut i = 0;
        while i < chars.len() && out.len() <= MAX_EXPANSION {
            let c = chars[i];
            if c != '$' || i + 1 >= chars.len() {
                out.push(c);
                i += 1;
                continue;
            }
            let next = chars[i + 1];
            if next == '$' {
                out.push('$');
                i += 2;
            } else if next == '{' || next == '(' {
                let close = if next == '{' { '}' } else { ')' };
                let mut j = i + 2;
                let mut level = 1;
                while j < chars.len() {
                    if chars[j] == next {
                        level += 1;
                    } else if chars[j] == close {
                        level -= 1;
                        if level == 0 {
                            break;
                        }
                    }
                    j += 1;
                }
                let inner: String = chars[i + 2..j.min(chars.len())].iter().collect();
                out.push_str(&self.expand_inner(&inner, depth));
                i = j + 1;
            } else if next.is_ascii_alphanumeric() || next == '_' {
                let mut j = i + 1;
                while j < chars.len() && (chars[j].is_ascii_alphanumeric() || chars[j] == '_') {
                    j += 1;
                }
                let name: String = chars[i + 1..j].iter().collect();
                out.push_str(&self.value_of(&name, depth));
                i = j;
            } else {
                out.push(c);
                i += 1;
            }
        }
        out
    }

    fn value_of(&self, name: &str, depth: usize) -> String {
        let cached = self.expanded.borrow().get(name).cloned();
        if let Some(done) = cached {
            return done.unwrap_or_default();
        }
        let Some(v) = self.values.get(name) else {
            return String::new();
        };
        self.expanded.borrow_mut().insert(name.to_string(), None);
        let out = self.expand(v, depth + 1);
        self.expanded
            .borrow_mut()
            .insert(name.to_string(), Some(out.clone()));
        out
    }

    fn expand_inner(&self, inner: &str, depth: usize) -> String {
        if let Some((name, alt)) = inner.split_once('?') {
            if !self.value_of(name, depth).is_empty() {
                return self.expand(alt, depth + 1);
            }
            return String::new();
        }
        if let Some((name, alt)) = inner.split_once(':') {
            if self.value_of(name, depth).is_empty() {
                return self.expand(alt, depth + 1);
            }
            return String::new();
        }
        self.value_of(inner, depth)
    }
}

/// Splits a Postfix list value at commas and white space.
pub fn list(value: &str) -> Vec<String> {
    value
        .split([',', ' ', '\t'])
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expansion_forms() {
        let text = "mydomain = example.edu\nmyhostname = mx.$mydomain\n\
                    a = ${mydomain?yes}/${relayhost?x}\nb = ${relayhost:none}\n\
                    c = $(mydomain) $$x\nd = one,\n  two\n";
        let (m, bad) = MainCf::parse(text, "host.local");
        assert!(bad.is_empty());
        assert_eq!(m.get("myhostname"), "mx.example.edu");
        assert_eq!(m.get("a"), "yes/");
        assert_eq!(m.get("b"), "none");
        assert_eq!(m.get("c"), "example.edu $x");
        assert_eq!(m.get("d"), "one, two");
        assert_eq!(
            m.get("mydestination"),
            "mx.example.edu, localhost.example.edu, localhost"
        );
    }

    /// Found by fuzzing (fuzz/regressions/main_cf/expansion_bomb): each
    /// level repeats the next one eight times, 8^15 copies in all.
    #[test]
    fn expansion_is_bounded() {
        let names: Vec<char> = ('a'..='p').collect();
        let mut text = String::new();
        for w in names.windows(2) {
            let refs = vec![format!("${}", w[1]); 8].join(" ");
            text.push_str(&format!("{} = {refs}\n", w[0]));
        }
        text.push_str("p = x\n");
        let (m, _) = MainCf::parse(&text, "host.example.org");
        let a = m.get("a");
        assert!(
            a.len() > 1000 && a.len() <= 2 * MAX_EXPANSION,
            "{}",
            a.len()
        );
        assert!(a.starts_with("x x x"));
    }

    /// Found by fuzzing (fuzz/regressions/main_cf/self_reference): a value
    /// that names itself several times, in conditional forms too.
    #[test]
    fn self_reference_expands_once() {
        let text = "d = $d ${d:no} ${d?yes} $(d) $d $d $d $d\nx = [$d]\n";
        let (m, _) = MainCf::parse(text, "host.example.org");
        let x = m.get("x");
        assert!(x.starts_with('[') && x.ends_with(']'), "{x}");
    }

    #[test]
    fn default_mydomain_from_hostname() {
        let (m, _) = MainCf::parse("", "host.example.org");
        assert_eq!(m.get("mydomain"), "example.org");
        assert_eq!(m.get("virtual_alias_domains"), "");
    }
}

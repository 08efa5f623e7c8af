//! Postfix master.cf (master(5)): service lines of eight fields,
//! continuation lines that start with white space, and the `-o name=value`
//! overrides of the command. smx-migrate turns the `smtpd` services of type
//! `inet` (smtp, submission, smtps) into `smtps` sections (README §3.10.1).

use std::collections::BTreeMap;

/// One service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    /// Line of the service name.
    pub line: usize,
    /// `[address:]name` (port or service name).
    pub name: String,
    /// inet, unix, unix-dgram, fifo, pass.
    pub kind: String,
    /// The command (first word of the command field).
    pub command: String,
    /// `-o name=value` overrides.
    pub overrides: BTreeMap<String, String>,
    /// The whole line, continuations joined.
    pub text: String,
}

/// Parses master.cf.
pub fn parse(text: &str) -> Vec<Service> {
    let mut joined: Vec<(usize, String)> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let t = raw.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        if raw.starts_with([' ', '\t']) {
            if let Some(last) = joined.last_mut() {
                last.1.push(' ');
                last.1.push_str(t);
                continue;
            }
        }
        joined.push((i + 1, t.to_string()));
    }
    joined
        .into_iter()
        .map(|(line, text)| {
            let f: Vec<&str> = text.split_whitespace().collect();
            let mut overrides = BTreeMap::new();
            let mut k = 8;
            while k < f.len() {
                if f[k] == "-o" && k + 1 < f.len() {
                    if let Some((n, v)) = f[k + 1].split_once('=') {
                        overrides.insert(n.to_string(), v.to_string());
                    }
                    k += 2;
                } else if let Some(nv) = f[k].strip_prefix("-o") {
                    if let Some((n, v)) = nv.split_once('=') {
                        overrides.insert(n.to_string(), v.to_string());
                    }
                    k += 1;
                } else {
                    k += 1;
                }
            }
            Service {
                line,
                name: f.first().copied().unwrap_or("").to_string(),
                kind: f.get(1).copied().unwrap_or("").to_string(),
                command: f.get(7).copied().unwrap_or("").to_string(),
                overrides,
                text,
            }
        })
        .collect()
}

/// The port of a service name (`smtp`, `submission`, `smtps`, a number).
pub fn port_of(service: &str) -> Option<u16> {
    match service {
        "smtp" => Some(25),
        "submission" => Some(587),
        "smtps" | "submissions" => Some(465),
        // Port 0 is no port (smx.conf refuses it).
        p => p.parse().ok().filter(|&n| n != 0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by fuzzing (fuzz/regressions/sendmail_mc/port_zero): `Port=0`
    /// became `port = 0`, which smx.conf refuses.
    #[test]
    fn port_zero_is_no_port() {
        assert_eq!(port_of("0"), None);
        assert_eq!(port_of("00"), None);
        assert_eq!(port_of("2525"), Some(2525));
        assert_eq!(port_of("smtp"), Some(25));
        assert_eq!(port_of("65536"), None);
    }
}

//! The QMGR's qmgr_conf map (sendmail X README §3.8.1):
//!
//! ```text
//! oci:127.0.0.1      5     initial outgoing connections to an IP (slow start)
//! ocm:10            50     maximum outgoing connections to an IP/net
//! octo:             5m     outgoing connection cache timeout
//! icr:10.1         100     incoming connections per 60 s from an IP/net
//! icm:              20     concurrently open incoming sessions per IP/net
//! ```
//!
//! `oci:`, `ocm:`, `icr:` and `icm:` take an IPv4 address or net (its
//! leading octets) or nothing: the default entry. Values are non-negative
//! integers.
//!
//! Decisions where the README is silent: `octo:` takes no address (§3.8.1
//! lists only the other four as taking one; the connection cache timeout is
//! global), and its value is a time: a number of seconds or a number with a
//! unit `s`, `m`, `h`, `d`, units may be combined (`1h30m`), as in smx.conf.

use super::{ipv4_net, suggest};

/// The keys of qmgr_conf.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QmgrConfKey {
    /// `oci:` initial number of concurrent outgoing connections.
    Oci,
    /// `ocm:` maximum number of concurrent outgoing connections.
    Ocm,
    /// `octo:` outgoing connection cache timeout (seconds).
    Octo,
    /// `icr:` maximum incoming connection rate (per 60 s).
    Icr,
    /// `icm:` maximum number of concurrently open incoming sessions.
    Icm,
}

impl QmgrConfKey {
    /// The key as written in the map, with its colon.
    pub fn name(self) -> &'static str {
        match self {
            QmgrConfKey::Oci => "oci:",
            QmgrConfKey::Ocm => "ocm:",
            QmgrConfKey::Octo => "octo:",
            QmgrConfKey::Icr => "icr:",
            QmgrConfKey::Icm => "icm:",
        }
    }
}

/// A parsed qmgr_conf entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QmgrConfEntry {
    /// Which limit.
    pub key: QmgrConfKey,
    /// The IPv4 address or net; `None` for the default entry.
    pub net: Option<String>,
    /// The limit; seconds for `octo:`.
    pub value: u64,
}

const KEYS: [&str; 5] = ["oci:", "ocm:", "octo:", "icr:", "icm:"];

/// Parses and checks one qmgr_conf entry.
pub fn parse_qmgr_conf(key: &str, value: &str) -> Result<QmgrConfEntry, String> {
    let (name, net) = match key.split_once(':') {
        Some((name, net)) => (name, net),
        None => {
            let hint = suggest(&format!("{key}:"), &KEYS)
                .map(|s| format!("did you mean \"{s}\"? "))
                .unwrap_or_default();
            return Err(format!(
                "qmgr_conf key \"{key}\" has no tag; {hint}keys are oci:, ocm:, octo:, \
                 icr: and icm:, followed by an IPv4 address or net or nothing"
            ));
        }
    };
    let qkey = match name.to_ascii_lowercase().as_str() {
        "oci" => QmgrConfKey::Oci,
        "ocm" => QmgrConfKey::Ocm,
        "octo" => QmgrConfKey::Octo,
        "icr" => QmgrConfKey::Icr,
        "icm" => QmgrConfKey::Icm,
        _ => {
            let hint = suggest(&format!("{name}:"), &KEYS)
                .map(|s| format!("did you mean \"{s}\"? "))
                .unwrap_or_default();
            return Err(format!(
                "unknown qmgr_conf key \"{name}:\"; {hint}keys are oci:, ocm:, octo:, icr: and icm:"
            ));
        }
    };
    let net = if net.is_empty() {
        None
    } else if qkey == QmgrConfKey::Octo {
        return Err(format!(
            "octo: takes no IP address (the connection cache timeout is global); \
             write \"octo:\" alone, not \"{key}\""
        ));
    } else {
        ipv4_net(net).map_err(|why| format!("{}{net}: {why}", qkey.name()))?;
        Some(net.to_string())
    };
    let value = value.trim();
    if value.is_empty() {
        return Err(format!(
            "missing value for {}; expected {}",
            qkey.name(),
            expected(qkey)
        ));
    }
    let key_text = format!("{}{}", qkey.name(), net.as_deref().unwrap_or(""));
    let value = if qkey == QmgrConfKey::Octo {
        seconds(value)?
    } else {
        value.parse::<u64>().map_err(|_| {
            format!(
                "{key_text}: \"{value}\" is not a non-negative integer; expected {}",
                expected(qkey)
            )
        })?
    };
    Ok(QmgrConfEntry {
        key: qkey,
        net,
        value,
    })
}

fn expected(key: QmgrConfKey) -> &'static str {
    match key {
        QmgrConfKey::Oci | QmgrConfKey::Ocm => "a number of connections, e.g. 10",
        QmgrConfKey::Octo => "a time, e.g. 300 or 5m",
        QmgrConfKey::Icr => "a number of connections per minute, e.g. 60",
        QmgrConfKey::Icm => "a number of sessions, e.g. 20",
    }
}

/// `300`, `5m`, `1h30m`: seconds.
fn seconds(s: &str) -> Result<u64, String> {
    let bad = || {
        format!(
            "octo: \"{s}\" is not a time; write seconds (300) or a number with a unit \
             s, m, h or d (5m, 1h30m)"
        )
    };
    if s.bytes().all(|b| b.is_ascii_digit()) {
        return s.parse().map_err(|_| bad());
    }
    let mut total: u64 = 0;
    let mut digits = String::new();
    for c in s.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit = match c {
            's' | 'S' => 1,
            'm' | 'M' => 60,
            'h' | 'H' => 3600,
            'd' | 'D' => 86400,
            _ => return Err(bad()),
        };
        let n: u64 = digits.parse().map_err(|_| bad())?;
        digits.clear();
        total = n
            .checked_mul(unit)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(bad)?;
    }
    if !digits.is_empty() {
        return Err(bad());
    }
    Ok(total)
}

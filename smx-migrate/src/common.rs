//! Conversions shared by the Postfix and sendmail readers: IPv4 networks to
//! the octet-prefix keys of smx's access map (README §3.12.1: `A.B.C.D`,
//! `A.B.C`, `A.B`, `A`), times to seconds, sizes, and the reading of
//! `key value` / `key: value` table sources with their line numbers.

use std::net::Ipv4Addr;

/// The access-map keys for an IPv4 address or network (`a.b.c.d/len`,
/// `a.b.c.d`, or sendmail's prefix form `a.b.c`). A prefix that is not a
/// multiple of 8 is expanded into the networks of the next octet boundary
/// (exact, at most 128 keys). `0.0.0.0/0` is refused (it would relay for
/// everyone).
pub fn ipv4_net_keys(net: &str) -> Result<Vec<String>, String> {
    let net = net.trim();
    let (addr, len) = match net.split_once('/') {
        Some((a, l)) => (
            a,
            l.parse::<u32>()
                .map_err(|_| format!("{net}: bad prefix length"))?,
        ),
        None => {
            let parts = net.split('.').count();
            if parts < 4 {
                // sendmail prefix form: 10.1 means 10.1.0.0/16.
                let mut full: Vec<&str> = net.split('.').collect();
                while full.len() < 4 {
                    full.push("0");
                }
                let joined = full.join(".");
                joined
                    .parse::<Ipv4Addr>()
                    .map_err(|_| format!("{net}: not an IPv4 address or network"))?;
                return Ok(vec![net.to_string()]);
            }
            (net, 32)
        }
    };
    let ip: Ipv4Addr = addr
        .trim_matches(|c| c == '[' || c == ']')
        .parse()
        .map_err(|_| format!("{net}: not an IPv4 network (smx matches IPv4 clients only)"))?;
    if len == 0 || len > 32 {
        return Err(format!(
            "{net}: prefix length {len} cannot be expressed (0.0.0.0/0 would relay for everyone)"
        ));
    }
    let octets = len.div_ceil(8);
    let bits = u32::from(ip);
    let mask = if len == 32 {
        u32::MAX
    } else {
        !(u32::MAX >> len)
    };
    let base = bits & mask;
    let count = 1u32 << (octets * 8 - len);
    let step = 1u32 << (32 - octets * 8);
    let mut keys = Vec::new();
    for i in 0..count {
        let a = Ipv4Addr::from(base.wrapping_add(i.wrapping_mul(step))).octets();
        let key: Vec<String> = a[..octets as usize].iter().map(u8::to_string).collect();
        keys.push(key.join("."));
    }
    Ok(keys)
}

/// A Postfix or sendmail time (`300s`, `5d`, `1h`, `30m`, `2w`, or a bare
/// number in `default_unit`) in seconds, written `Ns`.
pub fn seconds(value: &str, default_unit: char) -> Option<String> {
    let v = value.trim();
    if v.is_empty() {
        return None;
    }
    let mut total: u64 = 0;
    let mut num = String::new();
    for c in v.chars() {
        if c.is_ascii_digit() {
            num.push(c);
        } else {
            let n: u64 = num.parse().ok()?;
            total = total.checked_add(n.checked_mul(unit(c)?)?)?;
            num.clear();
        }
    }
    if !num.is_empty() {
        let n: u64 = num.parse().ok()?;
        total = total.checked_add(n.checked_mul(unit(default_unit)?)?)?;
    }
    Some(format!("{total}s"))
}

fn unit(c: char) -> Option<u64> {
    Some(match c.to_ascii_lowercase() {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86400,
        'w' => 7 * 86400,
        _ => return None,
    })
}

/// A byte count as smx writes sizes (kilobytes rounded up, `NKB`).
pub fn size_kb(bytes: u64) -> String {
    format!("{}KB", bytes.div_ceil(1024).max(1))
}

/// One entry of a table source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableLine {
    /// Line of the key.
    pub line: usize,
    /// Key.
    pub key: String,
    /// Value (continuation lines joined with a space).
    pub value: String,
}

/// Reads `key value` lines (or `key: value` with `colon`), `#` comments,
/// continuation lines that start with white space (Postfix tables and
/// aliases(5) files both have them).
pub fn table_lines(text: &str, colon: bool) -> Vec<TableLine> {
    let mut out: Vec<TableLine> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        if raw.starts_with([' ', '\t']) {
            if let Some(last) = out.last_mut() {
                last.value.push(' ');
                last.value.push_str(trimmed);
                continue;
            }
        }
        let (key, value) = if colon {
            match trimmed.split_once(':') {
                Some((k, v)) => (k.trim(), v.trim()),
                None => (trimmed, ""),
            }
        } else {
            match trimmed.split_once(char::is_whitespace) {
                Some((k, v)) => (k, v.trim()),
                None => (trimmed, ""),
            }
        };
        out.push(TableLine {
            line: i + 1,
            key: key.to_string(),
            value: value.to_string(),
        });
    }
    out
}

/// Splits a list of addresses (`a, b c`) at commas and white space, keeping
/// quoted strings together.
pub fn split_list(value: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in value.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                cur.push(c);
            }
            ',' | ' ' | '\t' if !quoted => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            _ => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// An alias or virtual target as smx writes it: `<user@domain>`, or the
/// bare local name; `None` for program, file and include targets.
pub fn alias_target(t: &str) -> Option<String> {
    let t = t.trim().trim_matches(|c| c == '<' || c == '>');
    if t.starts_with('|') || t.starts_with('/') || t.starts_with(":include:") || t.starts_with('"')
    {
        return None;
    }
    if t.contains('@') {
        Some(format!("<{t}>"))
    } else {
        Some(t.to_string())
    }
}

/// What to do with a program, file or include alias target.
pub fn alias_target_advice(t: &str) -> (String, String) {
    let t = t.trim().trim_matches('"');
    if t.starts_with('|') {
        (
            "smx does not run programs from aliases".into(),
            "deliver to a mailbox served by an LMTP agent that runs the program \
             (e.g. a Sieve \"pipe\" rule in Dovecot LMTP), or route a domain to the \
             program's own LMTP/SMTP listener in the mailertable"
                .into(),
        )
    } else if t.starts_with('/') {
        (
            "smx does not deliver to files from aliases".into(),
            "make the file a Maildir of a local user and alias to that user \
             (lmtpl delivers to mail/USER/Maildir)"
                .into(),
        )
    } else {
        (
            "smx aliases have no :include: lists".into(),
            "paste the list members into the alias as <addr> <addr> ..., or keep \
             the list in a mailing-list manager and alias to it"
                .into(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by fuzzing (fuzz/regressions/sendmail_mc/time_overflow): a
    /// time too large for 64 bits overflowed instead of being refused.
    #[test]
    fn seconds_overflow_is_no_time() {
        assert_eq!(seconds("13368089053625086412d", 's'), None);
        assert_eq!(seconds("18446744073709551615s1s", 's'), None);
        assert_eq!(seconds("1h30m", 's').as_deref(), Some("5400s"));
        assert_eq!(seconds("5", 'd').as_deref(), Some("432000s"));
    }
}

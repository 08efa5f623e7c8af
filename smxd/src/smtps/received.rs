//! The `Received:` header field the server prepends (RFC 5321 §4.4,
//! RFC 5322 §3.6.7), with the protocol names of RFC 3848 / RFC 6531 and,
//! after STARTTLS, a comment with the TLS version, cipher and whether the
//! client certificate verified (`verify=OK|FAIL|NO`, as sendmail writes).

use super::backend::{Peer, TlsInfo};
use std::time::{SystemTime, UNIX_EPOCH};

/// Builds the header, folded, ending in CRLF. `for_rcpt` is given only
/// when the message has one recipient (as Postfix does, to avoid leaking
/// the other recipients' addresses).
pub fn received(
    peer: &Peer,
    helo: &str,
    hostname: &str,
    protocol: &str,
    tls: Option<&TlsInfo>,
    for_rcpt: Option<&str>,
    now: SystemTime,
) -> String {
    let client = match (&peer.name, &peer.addr) {
        (Some(n), Some(a)) => format!("{n} [{}]", a.ip()),
        (None, Some(a)) => format!("[{}]", a.ip()),
        (Some(n), None) => n.clone(),
        (None, None) => "unknown".to_string(),
    };
    let helo: String = helo.chars().filter(|c| !c.is_control()).take(255).collect();
    let mut h =
        format!("Received: from {helo} ({client})\r\n\tby {hostname} (smx) with {protocol}");
    if let Some(t) = tls {
        let verify = if t.verified {
            "OK"
        } else if t.cert_subject.is_some() {
            "FAIL"
        } else {
            "NO"
        };
        h.push_str(&format!(
            "\r\n\t(version={} cipher={} verify={verify})",
            t.version, t.cipher
        ));
    }
    if let Some(r) = for_rcpt {
        h.push_str(&format!("\r\n\tfor {r}"));
    }
    h.push_str(&format!("; {}\r\n", rfc5322_date(now)));
    h
}

/// `Sat, 21 Nov 2026 07:21:48 +0000` (UTC).
pub fn rfc5322_date(t: SystemTime) -> String {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let wd = DAYS[days.rem_euclid(7) as usize];
    let mon = MONTHS[((m - 1).clamp(0, 11)) as usize];
    format!(
        "{wd}, {d} {mon} {y} {:02}:{:02}:{:02} +0000",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn dates() {
        assert_eq!(rfc5322_date(UNIX_EPOCH), "Thu, 1 Jan 1970 00:00:00 +0000");
        let t = UNIX_EPOCH + Duration::from_secs(1_795_245_708);
        assert_eq!(rfc5322_date(t), "Sat, 21 Nov 2026 07:21:48 +0000");
        let t = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(rfc5322_date(t), "Tue, 29 Feb 2000 00:00:00 +0000");
    }
}

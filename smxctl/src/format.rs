//! Human output of the queue commands of smxctl (issue 7, smxctl(8)):
//! tables for `status`, `stats`, `queue list` and `queue shape` (like
//! Postfix `qshape`), the `mailq`-style listing (Postfix `mailq`/`postqueue
//! -p` layout) and the `queue show` detail. Pure functions over the
//! smx-control result types, so they are tested without a server.

use smx_control::{QueueDetail, QueueEntry, RcptStatus, Shape, State, Stats, Status};
use std::fmt::Write as _;

/// `90` → `1m30s`, `7200` → `2h`, `90000` → `1d1h`: two units at most.
pub fn duration(secs: u64) -> String {
    let units = [(86_400, "d"), (3600, "h"), (60, "m"), (1, "s")];
    let mut out = String::new();
    let mut rest = secs;
    let mut used = 0;
    for (size, name) in units {
        if rest >= size && used < 2 {
            let _ = write!(out, "{}{name}", rest / size);
            rest %= size;
            used += 1;
        } else if used > 0 {
            used = 2;
        }
    }
    if out.is_empty() {
        out.push_str("0s");
    }
    out
}

/// Parses `90`, `90s`, `15m`, `2h`, `3d`, `1w` into seconds.
pub fn parse_duration(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{s:?}: expected a number with an optional unit s, m, h, d or w"))?;
    let mult = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 604_800,
        _ => {
            return Err(format!(
                "{s:?}: unknown unit {unit:?} (use s, m, h, d or w)"
            ))
        }
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("{s:?}: too large"))
}

/// A Unix time as `Sat Nov 21 08:00:00` (UTC), the `mailq` arrival format.
pub fn mailq_time(unix: u64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = unix / 86_400;
    let rem = unix % 86_400;
    let (_, m, d) = civil(days as i64);
    format!(
        "{} {} {:2} {:02}:{:02}:{:02}",
        DAYS[(days % 7) as usize],
        MONTHS[(m - 1) as usize],
        d,
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to (year, month, day) (H. Hinnant's algorithm).
fn civil(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// The sender as shown: `<>` for the null sender.
pub fn sender(s: &str) -> &str {
    if s.is_empty() {
        "<>"
    } else {
        s
    }
}

fn ellipsis(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

/// The `queue list` table: one line per entry, a header line first.
pub fn list_table(entries: &[QueueEntry]) -> String {
    let mut out = format!(
        "{:<16} {:<8} {:>7} {:>8} {:<30} {:<30} REASON\n",
        "ID", "STATE", "AGE", "SIZE", "SENDER", "RECIPIENTS"
    );
    for e in entries {
        let rcpts = match e.recipients.len() {
            0 => String::new(),
            1 => e.recipients[0].address.clone(),
            n => format!("{} (+{})", e.recipients[0].address, n - 1),
        };
        let _ = writeln!(
            out,
            "{:<16} {:<8} {:>7} {:>8} {:<30} {:<30} {}",
            e.id,
            e.state.as_str(),
            duration(e.age_secs),
            e.size,
            ellipsis(sender(&e.sender), 30),
            ellipsis(&rcpts, 30),
            e.reason.as_deref().unwrap_or("")
        );
    }
    out
}

/// The Postfix `mailq` layout: `ID[*!] SIZE ARRIVAL SENDER`, the delay
/// reason in parentheses, the undelivered recipients, a blank line; then
/// `-- N Kbytes in M Requests.` (`Mail queue is empty` when empty). `*`
/// marks active entries, `!` held ones, as Postfix does.
pub fn mailq(entries: &[QueueEntry], now: u64) -> String {
    if entries.is_empty() {
        return "Mail queue is empty\n".to_owned();
    }
    let mut out = "-Queue ID-  --Size-- ----Arrival Time---- -Sender/Recipient-------\n".to_owned();
    let mut bytes = 0u64;
    for e in entries {
        bytes += e.size;
        let mark = match e.state {
            State::Active => '*',
            State::Held => '!',
            _ => ' ',
        };
        let _ = writeln!(
            out,
            "{:<12}{:>8} {:<20} {}",
            format!("{}{mark}", e.id).trim_end(),
            e.size,
            mailq_time(now.saturating_sub(e.age_secs)),
            sender(&e.sender)
        );
        let pad = " ".repeat(42);
        let mut last_reason: Option<&str> = None;
        for r in &e.recipients {
            if matches!(r.status, RcptStatus::Delivered | RcptStatus::Failed) {
                continue;
            }
            let reason = r.last_reply.as_deref().or(e.reason.as_deref());
            if let Some(why) = reason {
                if last_reason != Some(why) {
                    let _ = writeln!(out, "{pad}({why})");
                }
            }
            last_reason = reason;
            let _ = writeln!(out, "{pad}{}", r.address);
        }
        out.push('\n');
    }
    let _ = writeln!(
        out,
        "-- {} Kbytes in {} Request{}.",
        bytes.div_ceil(1024),
        entries.len(),
        if entries.len() == 1 { "" } else { "s" }
    );
    out
}

/// The `queue show` detail.
pub fn detail(d: &QueueDetail, now: u64) -> String {
    let e = &d.entry;
    let mut out = String::new();
    let _ = writeln!(out, "id:        {}", e.id);
    let _ = writeln!(out, "state:     {}", e.state.as_str());
    let _ = writeln!(
        out,
        "arrival:   {} ({} ago)",
        mailq_time(now.saturating_sub(e.age_secs)),
        duration(e.age_secs)
    );
    let _ = writeln!(out, "size:      {}", e.size);
    let _ = writeln!(out, "sender:    {}", sender(&e.sender));
    let _ = writeln!(out, "tries:     {}", e.tries);
    if let Some(t) = e.next_try {
        let _ = writeln!(
            out,
            "next try:  {} (in {})",
            mailq_time(t),
            duration(t.saturating_sub(now))
        );
    }
    if let Some(r) = &e.relay {
        let _ = writeln!(out, "relay:     {r}");
    }
    if let Some(r) = &e.reason {
        let _ = writeln!(out, "reason:    {r}");
    }
    out.push_str("recipients:\n");
    for r in &e.recipients {
        let status = match r.status {
            RcptStatus::Pending => "pending",
            RcptStatus::Deferred => "deferred",
            RcptStatus::Delivered => "delivered",
            RcptStatus::Failed => "failed",
        };
        let _ = write!(out, "  {:<9} {}", status, r.address);
        if let Some(reply) = &r.last_reply {
            let _ = write!(out, "  {reply}");
        }
        out.push('\n');
    }
    if !d.headers.is_empty() {
        out.push_str("headers:\n");
        for l in d.headers.lines() {
            let _ = writeln!(out, "  {}", l.trim_end_matches('\r'));
        }
    }
    out
}

/// The `queue shape` table, as Postfix `qshape` prints it: bucket bounds in
/// minutes, `TOTAL` first.
pub fn shape(s: &Shape) -> String {
    let width = s
        .rows
        .iter()
        .map(|r| r.domain.len())
        .max()
        .unwrap_or(5)
        .max(6);
    let mut out = format!("{:>width$} {:>6}", "", "T");
    for b in &s.buckets {
        let _ = write!(out, " {:>6}", b / 60);
    }
    if let Some(last) = s.buckets.last() {
        let _ = write!(out, " {:>6}", format!("{}+", last / 60));
    }
    out.push('\n');
    for r in &s.rows {
        let _ = write!(out, "{:>width$} {:>6}", r.domain, r.total);
        for c in &r.counts {
            let _ = write!(out, " {c:>6}");
        }
        out.push('\n');
    }
    out
}

/// The `status` table.
pub fn status(s: &Status) -> String {
    let mut out = format!("smx {}\n", s.version);
    let _ = writeln!(
        out,
        "{:<20} {:>8} {:>10} {:>8} VERSION",
        "COMPONENT", "PID", "UPTIME", "RESTARTS"
    );
    for c in &s.components {
        let _ = writeln!(
            out,
            "{:<20} {:>8} {:>10} {:>8} {}",
            c.name,
            c.pid.map_or_else(|| "-".to_owned(), |p| p.to_string()),
            duration(c.uptime_secs),
            c.restarts,
            c.version
        );
    }
    out
}

/// The `stats` listing.
pub fn stats(s: &Stats) -> String {
    let c = &s.counters;
    let q = &s.queue;
    let mut out = String::new();
    let _ = writeln!(out, "uptime            {}", duration(s.uptime_secs));
    let _ = writeln!(out, "received          {}", c.received);
    let _ = writeln!(out, "delivered         {}", c.delivered);
    let _ = writeln!(out, "deferred          {}", c.deferred);
    let _ = writeln!(out, "bounced           {}", c.bounced);
    let _ = writeln!(out, "rejected          {}", c.rejected);
    for (why, n) in &c.rejected_by_reason {
        let _ = writeln!(out, "  {n:>8}  {why}");
    }
    let _ = writeln!(
        out,
        "queue             {} (incoming {}, active {}, deferred {}, held {})",
        q.total(),
        q.incoming,
        q.active,
        q.deferred,
        q.held
    );
    let _ = writeln!(
        out,
        "rates             {:.1} received/s, {:.1} delivered/s",
        s.rates.received_per_sec, s.rates.delivered_per_sec
    );
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use smx_control::fake::entries;

    #[test]
    fn durations() {
        assert_eq!(duration(0), "0s");
        assert_eq!(duration(90), "1m30s");
        assert_eq!(duration(7200), "2h");
        assert_eq!(duration(90_061), "1d1h");
        assert_eq!(parse_duration("15m").unwrap(), 900);
        assert_eq!(parse_duration("2d").unwrap(), 172_800);
        assert_eq!(parse_duration("45").unwrap(), 45);
        assert!(parse_duration("3y").is_err());
        assert!(parse_duration("m").is_err());
    }

    #[test]
    fn mailq_layout() {
        assert_eq!(mailq_time(0), "Thu Jan  1 00:00:00");
        assert_eq!(mailq_time(1_700_000_000), "Tue Nov 14 22:13:20");
        let e = entries(3);
        let text = mailq(&e, 1_700_000_000);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "-Queue ID-  --Size-- ----Arrival Time---- -Sender/Recipient-------"
        );
        assert_eq!(
            lines[1],
            "Q00000001       1000 Tue Nov 14 22:13:20  sender0@origin.example"
        );
        assert_eq!(lines[1].find("Tue"), lines[0].find("----Arrival"));
        assert_eq!(lines[1].find("sender0"), lines[0].find("-Sender"));
        assert!(lines[2].trim_start().starts_with("(451 4.4.1"));
        assert_eq!(lines[3].trim_start(), "user0@example.com");
        assert!(text.contains("\nQ00000003*"), "{text}");
        assert!(text.ends_with("-- 5 Kbytes in 3 Requests.\n"), "{text}");
        assert_eq!(mailq(&[], 0), "Mail queue is empty\n");
    }

    #[test]
    fn shape_header_in_minutes() {
        let s = smx_control::shape(&entries(10), &[300, 600]);
        let text = shape(&s);
        let first = text.lines().next().unwrap();
        assert_eq!(
            first.split_whitespace().collect::<Vec<_>>(),
            ["T", "5", "10", "10+"]
        );
        assert!(text
            .lines()
            .nth(1)
            .unwrap()
            .trim_start()
            .starts_with("TOTAL     10"));
    }
}

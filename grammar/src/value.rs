//! Reading values (README §3.3): numbers in decimal, `0x` hex and `0` octal;
//! booleans `0/false/off`, `1/true/on`; times with units `w d h m s` and
//! sequences (`1h 5m 12s`, `5m3s`); sizes with `B KB MB GB`; IPv4 addresses.
//!
//! Decisions the seed leaves open: KB, MB and GB are powers of 1024 (as in
//! sendmail); units are case-insensitive except that `m` is always minutes;
//! a bare number takes the option's default unit (§3.3: s and B unless the
//! option says otherwise, e.g. `max_message_size` is in KB, IBDB
//! `max_commit_delay` in microseconds).

use std::net::Ipv4Addr;
use std::time::Duration;

/// Why a value could not be read; the caller adds the place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValueError {
    /// Diagnostic code (see [`crate::diag::codes`]).
    pub code: &'static str,
    /// What is wrong.
    pub message: String,
    /// How to write it instead.
    pub hint: Option<String>,
}

impl ValueError {
    pub(crate) fn new(code: &'static str, message: impl Into<String>) -> Self {
        ValueError {
            code,
            message: message.into(),
            hint: None,
        }
    }
    pub(crate) fn hint(mut self, h: impl Into<String>) -> Self {
        self.hint = Some(h.into());
        self
    }
}

use crate::diag::codes;

/// Reads an unsigned number: decimal, `0x` hex or `0` octal.
pub fn number(s: &str) -> Result<u64, ValueError> {
    let t = s.trim();
    let parsed = if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        u64::from_str_radix(h, 16)
    } else if t.len() > 1 && t.starts_with('0') {
        u64::from_str_radix(&t[1..], 8)
    } else {
        t.parse::<u64>()
    };
    parsed.map_err(|e| {
        use std::num::IntErrorKind;
        if matches!(e.kind(), IntErrorKind::PosOverflow) {
            ValueError::new(codes::OUT_OF_RANGE, format!("`{t}` is too large"))
        } else if t.starts_with('-') {
            ValueError::new(codes::OUT_OF_RANGE, format!("`{t}` is negative"))
                .hint("this option takes a number of 0 or more")
        } else if t.len() > 1 && t.starts_with('0') && t.chars().all(|c| c.is_ascii_digit()) {
            ValueError::new(
                codes::WRONG_TYPE,
                format!("`{t}` is not an octal number (a leading 0 means octal)"),
            )
            .hint("drop the leading 0 for a decimal number")
        } else {
            ValueError::new(codes::WRONG_TYPE, format!("expected a number, found `{t}`"))
                .hint("numbers are written 25, 0x19 (hex) or 031 (octal)")
        }
    })
}

/// Reads a boolean (§3.3: `0 false off`, `1 true on`, case-insensitive).
pub fn boolean(s: &str) -> Result<bool, ValueError> {
    match s.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "on" => Ok(true),
        "0" | "false" | "off" => Ok(false),
        other => {
            let mut e = ValueError::new(
                codes::WRONG_TYPE,
                format!("expected a boolean, found `{other}`"),
            )
            .hint("write true/on/1 or false/off/0");
            if other == "yes" || other == "no" {
                e.hint = Some(format!(
                    "`{other}` is not accepted: write {}",
                    if other == "yes" { "`true`" } else { "`false`" }
                ));
            }
            Err(e)
        }
    }
}

/// The unit of a bare number in a time option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeBase {
    /// Seconds (the default of §3.3).
    Seconds,
    /// Microseconds (IBDB `max_commit_delay`).
    Micros,
}

/// Splits `5m3s` / `1h 5m 12s` into (number, unit) pairs.
fn unit_pairs(s: &str) -> Result<Vec<(u64, String)>, ValueError> {
    let mut out = Vec::new();
    let mut chars = s.trim().chars().peekable();
    if chars.peek().is_none() {
        return Err(ValueError::new(
            codes::WRONG_TYPE,
            "expected a value, found nothing",
        ));
    }
    while chars.peek().is_some() {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let mut digits = String::new();
        let hex = {
            let mut look = chars.clone();
            look.next() == Some('0') && matches!(look.next(), Some('x' | 'X'))
        };
        if hex {
            digits.push('0');
            digits.push('x');
            chars.next();
            chars.next();
            while let Some(c) = chars.peek().filter(|c| c.is_ascii_hexdigit()) {
                digits.push(*c);
                chars.next();
            }
        } else {
            while let Some(c) = chars.peek().filter(|c| c.is_ascii_digit()) {
                digits.push(*c);
                chars.next();
            }
        }
        if digits.is_empty() {
            let rest: String = chars.collect();
            return Err(ValueError::new(
                codes::WRONG_TYPE,
                format!("expected a number, found `{}`", rest.trim()),
            ));
        }
        let n = number(&digits)?;
        // `5 m` is accepted: a unit may follow after blanks.
        let mut look = chars.clone();
        while look.peek().is_some_and(|c| *c == ' ' || *c == '\t') {
            look.next();
        }
        if look.peek().is_some_and(|c| c.is_ascii_alphabetic()) {
            chars = look;
        }
        let mut unit = String::new();
        while let Some(c) = chars.peek().filter(|c| c.is_ascii_alphabetic()) {
            unit.push(*c);
            chars.next();
        }
        out.push((n, unit));
    }
    Ok(out)
}

/// Reads a time value and returns it as a [`Duration`].
pub fn time(s: &str, base: TimeBase) -> Result<Duration, ValueError> {
    let mut total: u128 = 0;
    for (n, unit) in unit_pairs(s)? {
        let micros: u128 = match unit.as_str() {
            "" => match base {
                TimeBase::Seconds => 1_000_000,
                TimeBase::Micros => 1,
            },
            "s" | "S" => 1_000_000,
            "m" | "M" => 60_000_000,
            "h" | "H" => 3_600_000_000,
            "d" | "D" => 86_400_000_000,
            "w" | "W" => 604_800_000_000,
            other => {
                return Err(ValueError::new(
                    codes::BAD_UNIT,
                    format!("`{other}` is not a time unit"),
                )
                .hint("time units are w (weeks), d, h, m (minutes), s: e.g. `1h 30m` or `90s`"))
            }
        };
        total = total.saturating_add(u128::from(n) * micros);
    }
    let secs = u64::try_from(total / 1_000_000)
        .map_err(|_| ValueError::new(codes::OUT_OF_RANGE, "this time is too long"))?;
    // `total % 1_000_000` is below one million, so it fits in u32.
    let sub = u32::try_from(total % 1_000_000).unwrap_or(0) * 1000;
    Ok(Duration::new(secs, sub))
}

/// The unit of a bare number in a size option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SizeBase {
    /// Bytes (the default of §3.3).
    Bytes,
    /// Kilobytes (`max_message_size`, `min_disk_space`, `ok_disk_space`).
    Kilobytes,
}

/// Reads a size and returns it in bytes.
pub fn size(s: &str, base: SizeBase) -> Result<u64, ValueError> {
    let mut total: u128 = 0;
    for (n, unit) in unit_pairs(s)? {
        let mult: u128 = match unit.to_ascii_uppercase().as_str() {
            "" => match base {
                SizeBase::Bytes => 1,
                SizeBase::Kilobytes => 1024,
            },
            "B" => 1,
            "KB" => 1024,
            "MB" => 1024 * 1024,
            "GB" => 1024 * 1024 * 1024,
            "K" | "M" | "G" => {
                return Err(ValueError::new(
                    codes::BAD_UNIT,
                    format!("`{unit}` is not a size unit"),
                )
                .hint(format!("write `{n}{}B`", unit.to_ascii_uppercase())))
            }
            _ => {
                return Err(ValueError::new(
                    codes::BAD_UNIT,
                    format!("`{unit}` is not a size unit"),
                )
                .hint("size units are B, KB, MB, GB: e.g. `10MB`"))
            }
        };
        total = total.saturating_add(u128::from(n) * mult);
    }
    u64::try_from(total).map_err(|_| ValueError::new(codes::OUT_OF_RANGE, "this size is too large"))
}

/// Reads an IPv4 address in dotted-quad form.
pub fn ipv4(s: &str) -> Result<Ipv4Addr, ValueError> {
    let t = s.trim();
    t.parse::<Ipv4Addr>().map_err(|_| {
        ValueError::new(codes::BAD_ADDRESS, format!("`{t}` is not an IPv4 address"))
            .hint("write four numbers from 0 to 255 separated by dots, e.g. 127.0.0.1")
    })
}

/// Formats a duration the way `smxctl conf show` prints it: the largest
/// units first (`1h 5m 12s`), `0s` for zero.
pub fn format_time(d: Duration, base: TimeBase) -> String {
    let micros = d.as_micros();
    if base == TimeBase::Micros && micros % 1_000_000 != 0 {
        return micros.to_string();
    }
    let mut secs = d.as_secs();
    if secs == 0 {
        return "0s".to_string();
    }
    let mut parts = Vec::new();
    for (unit, len) in [
        ("w", 604_800),
        ("d", 86_400),
        ("h", 3_600),
        ("m", 60),
        ("s", 1),
    ] {
        if secs >= len {
            parts.push(format!("{}{unit}", secs / len));
            secs %= len;
        }
    }
    parts.join(" ")
}

/// Formats a byte count with the largest exact unit (`10MB`, `1500B`).
pub fn format_size(bytes: u64) -> String {
    for (unit, len) in [("GB", 1u64 << 30), ("MB", 1 << 20), ("KB", 1 << 10)] {
        if bytes >= len && bytes % len == 0 {
            return format!("{}{unit}", bytes / len);
        }
    }
    format!("{bytes}B")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        assert_eq!(number("25"), Ok(25));
        assert_eq!(number("0x1F"), Ok(31));
        assert_eq!(number("017"), Ok(15));
        assert_eq!(number("0"), Ok(0));
        assert_eq!(number("09").map_err(|e| e.code), Err(codes::WRONG_TYPE));
        assert_eq!(number("abc").map_err(|e| e.code), Err(codes::WRONG_TYPE));
        assert_eq!(
            number("99999999999999999999").map_err(|e| e.code),
            Err(codes::OUT_OF_RANGE)
        );
    }

    #[test]
    fn times() {
        let s = |x: &str| time(x, TimeBase::Seconds).map(|d| d.as_secs());
        assert_eq!(s("5m3s"), Ok(303));
        assert_eq!(s("1h 5m 12s"), Ok(3912));
        assert_eq!(s("4d"), Ok(345_600));
        assert_eq!(s("2w"), Ok(1_209_600));
        assert_eq!(s("6"), Ok(6));
        assert_eq!(s("5 m"), Ok(300));
        assert_eq!(s("5x").map_err(|e| e.code), Err(codes::BAD_UNIT));
        assert_eq!(
            time("250", TimeBase::Micros).map(|d| d.as_micros()),
            Ok(250)
        );
        assert_eq!(
            format_time(Duration::from_secs(3912), TimeBase::Seconds),
            "1h 5m 12s"
        );
    }

    #[test]
    fn sizes() {
        assert_eq!(size("10MB", SizeBase::Bytes), Ok(10 << 20));
        assert_eq!(size("100", SizeBase::Kilobytes), Ok(102_400));
        assert_eq!(size("1MB 512KB", SizeBase::Bytes), Ok(1_572_864));
        assert_eq!(
            size("10M", SizeBase::Bytes).map_err(|e| e.code),
            Err(codes::BAD_UNIT)
        );
        assert_eq!(format_size(10 << 20), "10MB");
    }

    #[test]
    fn booleans() {
        assert_eq!(boolean("On"), Ok(true));
        assert_eq!(boolean("0"), Ok(false));
        assert!(boolean("yes").is_err());
    }
}

//! The arguments of MAIL and RCPT: reverse-path, forward-path and the
//! ESMTP parameters (RFC 5321 §4.1.2, §4.1.1.2–3).
//!
//! Grammar decisions:
//! - Angle brackets are required (`MAIL FROM:a@b` is a syntax error); one
//!   or more spaces after the colon are tolerated, as most servers do.
//! - `<>` is the null reverse-path; `<@a,@b:user@c>` source routes are
//!   parsed and ignored (RFC 5321 §4.1.1.3, Appendix C).
//! - A mailbox needs a domain: `<a>`, `<a@>`, `<@a>` and `< >` are rejected;
//!   the one exception is `RCPT TO:<Postmaster>` (§4.5.1).
//! - Local parts are dot-strings or quoted strings (≤ 64 octets); domains
//!   are sub-domains (≤ 255 octets) or address literals (IPv4, `IPv6:`,
//!   general). UTF-8 is accepted by the grammar (RFC 6531 §3.3); the
//!   session refuses a non-ASCII address unless MAIL carried `SMTPUTF8`.
//! - Parameters: SIZE, BODY=7BIT|8BITMIME (8BITMIME only when offered),
//!   AUTH (RFC 4954 §5; xtext-checked here, kept by `mail.rs` only for an
//!   authenticated client), SMTPUTF8, RET, ENVID (MAIL); NOTIFY, ORCPT (RCPT).
//!   Unknown ones get `555 5.5.4`, bad values and duplicates `501 5.5.4`.

use super::reply::Reply;
use std::fmt;

/// `local-part@domain`; `domain` may be an address literal `[...]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mailbox {
    /// The local part as written (quoted strings keep their quotes).
    pub local_part: String,
    /// The domain or address literal.
    pub domain: String,
}

impl Mailbox {
    /// True when the address is pure ASCII.
    pub fn is_ascii(&self) -> bool {
        self.local_part.is_ascii() && self.domain.is_ascii()
    }
}

impl fmt::Display for Mailbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.local_part, self.domain)
    }
}

/// MAIL FROM's path; `None` is the null sender `<>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReversePath(pub Option<Mailbox>);

impl fmt::Display for ReversePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Some(m) => write!(f, "<{m}>"),
            None => f.write_str("<>"),
        }
    }
}

/// RCPT TO's path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ForwardPath {
    /// `<Postmaster>` without a domain (RFC 5321 §4.5.1).
    Postmaster,
    /// Any other recipient.
    Mailbox(Mailbox),
}

impl ForwardPath {
    /// True when the address is pure ASCII.
    pub fn is_ascii(&self) -> bool {
        match self {
            ForwardPath::Postmaster => true,
            ForwardPath::Mailbox(m) => m.is_ascii(),
        }
    }
}

impl fmt::Display for ForwardPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ForwardPath::Postmaster => f.write_str("<Postmaster>"),
            ForwardPath::Mailbox(m) => write!(f, "<{m}>"),
        }
    }
}

/// BODY= (RFC 6152).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Body {
    /// Not given.
    #[default]
    Unspecified,
    /// BODY=7BIT.
    SevenBit,
    /// BODY=8BITMIME.
    EightBitMime,
}

/// RET= (RFC 3461 §4.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ret {
    /// Return the full message in a DSN.
    Full,
    /// Return the headers only.
    Hdrs,
}

/// The parameters of MAIL.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MailParams {
    /// SIZE= (RFC 1870).
    pub size: Option<u64>,
    /// BODY=.
    pub body: Body,
    /// SMTPUTF8 (RFC 6531).
    pub smtputf8: bool,
    /// RET= (RFC 3461).
    pub ret: Option<Ret>,
    /// ENVID= as sent (xtext-encoded, RFC 3461 §4.4).
    pub envid: Option<String>,
    /// AUTH= as sent (RFC 4954 §5); `mail.rs` drops it unless the client
    /// authenticated to this server.
    pub auth: Option<String>,
}

/// NOTIFY= (RFC 3461 §4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Notify {
    /// NEVER.
    pub never: bool,
    /// SUCCESS.
    pub success: bool,
    /// FAILURE.
    pub failure: bool,
    /// DELAY.
    pub delay: bool,
}

/// The parameters of RCPT.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RcptParams {
    /// NOTIFY=.
    pub notify: Option<Notify>,
    /// ORCPT= as (addr-type, address as sent, xtext-encoded).
    pub orcpt: Option<(String, String)>,
}

/// What the parameter parser must know about the session.
#[derive(Debug, Clone, Copy)]
pub struct ParamContext {
    /// EHLO (not HELO) was given; without it no parameter is allowed.
    pub esmtp: bool,
    /// 8BITMIME is offered.
    pub eightbitmime: bool,
    /// max_message_size in bytes (0: no limit).
    pub max_size: u64,
}

/// Byte cursor over one argument string.
struct Cursor<'a> {
    s: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }
    fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.i += 1;
            true
        } else {
            false
        }
    }
}

fn is_atext(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-/=?^_`{|}~".contains(&b) || b >= 0x80
}

fn is_let_dig(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b >= 0x80
}

/// Dot-string or quoted string.
fn local_part(c: &mut Cursor<'_>) -> Option<String> {
    let start = c.i;
    if c.eat(b'"') {
        loop {
            match c.peek()? {
                b'"' => {
                    c.i += 1;
                    break;
                }
                b'\\' => {
                    c.i += 1;
                    let q = c.peek()?;
                    if !(32..=126).contains(&q) {
                        return None;
                    }
                    c.i += 1;
                }
                b if b == 32
                    || b == 33
                    || (35..=91).contains(&b)
                    || (93..=126).contains(&b)
                    || b >= 0x80 =>
                {
                    c.i += 1
                }
                _ => return None,
            }
        }
    } else {
        loop {
            let atom = c.i;
            while c.peek().is_some_and(is_atext) {
                c.i += 1;
            }
            if c.i == atom {
                return None;
            }
            if !c.eat(b'.') {
                break;
            }
        }
    }
    let lp = std::str::from_utf8(&c.s[start..c.i]).ok()?;
    (lp.len() <= 64).then(|| lp.to_string())
}

/// Domain = sub-domain *("." sub-domain).
fn domain(c: &mut Cursor<'_>) -> Option<String> {
    let start = c.i;
    loop {
        let label = c.i;
        while c.peek().is_some_and(|b| is_let_dig(b) || b == b'-') {
            c.i += 1;
        }
        let l = &c.s[label..c.i];
        if l.is_empty() || l[0] == b'-' || l[l.len() - 1] == b'-' {
            return None;
        }
        if !c.eat(b'.') {
            break;
        }
    }
    let d = std::str::from_utf8(&c.s[start..c.i]).ok()?;
    (d.len() <= 255).then(|| d.to_string())
}

/// `[IPv4]`, `[IPv6:...]` or `[tag:dcontent]`.
fn address_literal(c: &mut Cursor<'_>) -> Option<String> {
    let start = c.i;
    if !c.eat(b'[') {
        return None;
    }
    let inner = c.i;
    while c
        .peek()
        .is_some_and(|b| b != b']' && b != b'[' && b != b'\\')
    {
        c.i += 1;
    }
    let body = std::str::from_utf8(&c.s[inner..c.i]).ok()?;
    if !c.eat(b']') {
        return None;
    }
    let ok = if let Some(v6) = body.strip_prefix("IPv6:").or(body.strip_prefix("ipv6:")) {
        v6.parse::<std::net::Ipv6Addr>().is_ok()
    } else if let Some((tag, content)) = body.split_once(':') {
        !tag.is_empty()
            && tag.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !tag.ends_with('-')
            && !content.is_empty()
            && content
                .bytes()
                .all(|b| (33..=90).contains(&b) || (94..=126).contains(&b))
    } else {
        body.parse::<std::net::Ipv4Addr>().is_ok()
    };
    ok.then(|| String::from_utf8_lossy(&c.s[start..c.i]).into_owned())
}

/// Source route `@a,@b:` (ignored).
fn source_route(c: &mut Cursor<'_>) -> Option<()> {
    loop {
        if !c.eat(b'@') {
            return None;
        }
        domain(c)?;
        if c.eat(b':') {
            return Some(());
        }
        if !c.eat(b',') {
            return None;
        }
    }
}

/// What stood between the angle brackets.
enum Path {
    /// `<>`.
    Null,
    /// A mailbox.
    Mailbox(Mailbox),
    /// A local part without domain (only valid as `<Postmaster>`).
    Bare(String),
}

/// The path between angle brackets.
fn path(c: &mut Cursor<'_>) -> Option<Path> {
    if !c.eat(b'<') {
        return None;
    }
    if c.eat(b'>') {
        return Some(Path::Null);
    }
    if c.peek() == Some(b'@') {
        source_route(c)?;
    }
    let lp = local_part(c)?;
    if c.eat(b'>') {
        return Some(Path::Bare(lp));
    }
    if !c.eat(b'@') {
        return None;
    }
    let d = if c.peek() == Some(b'[') {
        address_literal(c)?
    } else {
        domain(c)?
    };
    if !c.eat(b'>') {
        return None;
    }
    Some(Path::Mailbox(Mailbox {
        local_part: lp,
        domain: d,
    }))
}

/// Splits what follows `FROM:`/`TO:`: optional spaces, the path, then
/// parameters separated by spaces.
fn split_path(arg: &str) -> Option<(Path, Vec<&str>)> {
    let arg = arg.trim_start_matches(' ');
    let mut c = Cursor {
        s: arg.as_bytes(),
        i: 0,
    };
    let p = path(&mut c)?;
    let rest = arg.get(c.i..)?;
    if !rest.is_empty() && !rest.starts_with(' ') {
        return None;
    }
    Some((p, rest.split(' ').filter(|s| !s.is_empty()).collect()))
}

/// `strict_ehlo_checks`: the EHLO/HELO argument must be a domain (ASCII
/// LDH labels) or an address literal (RFC 5321 §4.1.1.1).
pub fn is_helo_domain(s: &str) -> bool {
    let mut c = Cursor {
        s: s.as_bytes(),
        i: 0,
    };
    let ok = if s.starts_with('[') {
        address_literal(&mut c).is_some()
    } else {
        s.is_ascii() && domain(&mut c).is_some()
    };
    ok && c.i == s.len()
}

/// Parses `<reverse-path> [params]` (after `MAIL FROM:`).
pub fn parse_mail(arg: &str, ctx: &ParamContext) -> Result<(ReversePath, MailParams), Reply> {
    let (p, params) = split_path(arg).ok_or_else(Reply::bad_sender)?;
    let path = match p {
        Path::Null => ReversePath(None),
        Path::Mailbox(m) => ReversePath(Some(m)),
        Path::Bare(_) => return Err(Reply::bad_sender()),
    };
    let params = mail_params(&params, ctx)?;
    if let Some(m) = &path.0 {
        if !params.smtputf8 && !m.is_ascii() {
            return Err(Reply::needs_smtputf8());
        }
    }
    Ok((path, params))
}

/// Parses `<forward-path> [params]` (after `RCPT TO:`); `smtputf8` is
/// whether MAIL carried SMTPUTF8.
pub fn parse_rcpt(
    arg: &str,
    ctx: &ParamContext,
    smtputf8: bool,
) -> Result<(ForwardPath, RcptParams), Reply> {
    let (p, params) = split_path(arg).ok_or_else(Reply::bad_recipient)?;
    let path = match p {
        Path::Mailbox(m) => ForwardPath::Mailbox(m),
        Path::Bare(lp) if lp.eq_ignore_ascii_case("postmaster") => ForwardPath::Postmaster,
        _ => return Err(Reply::bad_recipient()),
    };
    let params = rcpt_params(&params, ctx)?;
    if !smtputf8 && !path.is_ascii() {
        return Err(Reply::needs_smtputf8());
    }
    Ok((path, params))
}

/// `keyword[=value]` with the RFC 5321 §4.1.2 character sets.
fn split_param(p: &str) -> Result<(String, Option<&str>), Reply> {
    let (k, v) = match p.split_once('=') {
        Some((k, v)) => (k, Some(v)),
        None => (p, None),
    };
    let kw_ok = k.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    let v_ok = match v {
        None => true,
        Some(v) => {
            !v.is_empty()
                && v.bytes()
                    .all(|b| (33..=60).contains(&b) || (62..=126).contains(&b) || b >= 0x80)
        }
    };
    if !kw_ok || !v_ok {
        return Err(Reply::syntax("bad parameter"));
    }
    Ok((k.to_ascii_uppercase(), v))
}

/// xtext (RFC 3461 §4): printable ASCII but `+` and `=`, or `+XX`.
fn is_xtext(v: &str) -> bool {
    let b = v.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => {
                let hex = |x: Option<&u8>| {
                    x.is_some_and(|x| x.is_ascii_digit() || (b'A'..=b'F').contains(x))
                };
                if !hex(b.get(i + 1)) || !hex(b.get(i + 2)) {
                    return false;
                }
                i += 3;
            }
            b'=' => return false,
            33..=126 => i += 1,
            _ => return false,
        }
    }
    true
}

fn dup(seen: &mut Vec<String>, k: &str) -> Result<(), Reply> {
    if seen.iter().any(|s| s == k) {
        return Err(Reply::syntax(&format!("duplicate parameter {k}")));
    }
    seen.push(k.to_string());
    Ok(())
}

fn mail_params(list: &[&str], ctx: &ParamContext) -> Result<MailParams, Reply> {
    let mut out = MailParams::default();
    let mut seen = Vec::new();
    for p in list {
        let (k, v) = split_param(p)?;
        if !ctx.esmtp {
            return Err(Reply::param_unknown(&k));
        }
        dup(&mut seen, &k)?;
        match (k.as_str(), v) {
            ("SIZE", Some(v)) => {
                if v.len() > 20 || !v.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(Reply::param_syntax("SIZE"));
                }
                let n = v.parse::<u64>().unwrap_or(u64::MAX);
                if ctx.max_size > 0 && n > ctx.max_size {
                    return Err(Reply::size_exceeded());
                }
                out.size = Some(n);
            }
            ("BODY", Some(v)) if v.eq_ignore_ascii_case("7BIT") => out.body = Body::SevenBit,
            ("BODY", Some(v)) if v.eq_ignore_ascii_case("8BITMIME") && ctx.eightbitmime => {
                out.body = Body::EightBitMime
            }
            ("BODY", Some(v)) => return Err(Reply::param_unknown(&format!("BODY={v}"))),
            ("AUTH", Some(v)) => {
                if v != "<>" && !is_xtext(v) {
                    return Err(Reply::param_syntax("AUTH"));
                }
                out.auth = Some(v.to_string());
            }
            ("SMTPUTF8", None) => out.smtputf8 = true,
            ("RET", Some(v)) if v.eq_ignore_ascii_case("FULL") => out.ret = Some(Ret::Full),
            ("RET", Some(v)) if v.eq_ignore_ascii_case("HDRS") => out.ret = Some(Ret::Hdrs),
            ("ENVID", Some(v)) if v.len() <= 100 && is_xtext(v) => out.envid = Some(v.to_string()),
            ("SIZE" | "BODY" | "AUTH" | "SMTPUTF8" | "RET" | "ENVID", _) => {
                return Err(Reply::param_syntax(&k))
            }
            _ => return Err(Reply::param_unknown(&k)),
        }
    }
    Ok(out)
}

fn notify(v: &str) -> Option<Notify> {
    let mut n = Notify::default();
    for item in v.split(',') {
        let flag = match item.to_ascii_uppercase().as_str() {
            "NEVER" => &mut n.never,
            "SUCCESS" => &mut n.success,
            "FAILURE" => &mut n.failure,
            "DELAY" => &mut n.delay,
            _ => return None,
        };
        if *flag {
            return None;
        }
        *flag = true;
    }
    // NEVER excludes the others (RFC 3461 §4.1).
    (!n.never || !(n.success || n.failure || n.delay)).then_some(n)
}

fn orcpt(v: &str) -> Option<(String, String)> {
    let (t, a) = v.split_once(';')?;
    let t_ok = !t.is_empty() && t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    // utf-8 addresses (RFC 6533) may carry raw UTF-8; rfc822 ones are xtext.
    let a_ok = !a.is_empty()
        && v.len() <= 500
        && if t.eq_ignore_ascii_case("utf-8") {
            a.bytes().all(|b| b > 32 && b != b'=' && b != 127)
        } else {
            is_xtext(a)
        };
    (t_ok && a_ok).then(|| (t.to_string(), a.to_string()))
}

fn rcpt_params(list: &[&str], ctx: &ParamContext) -> Result<RcptParams, Reply> {
    let mut out = RcptParams::default();
    let mut seen = Vec::new();
    for p in list {
        let (k, v) = split_param(p)?;
        if !ctx.esmtp {
            return Err(Reply::param_unknown(&k));
        }
        dup(&mut seen, &k)?;
        match (k.as_str(), v) {
            ("NOTIFY", Some(v)) => {
                out.notify = Some(notify(v).ok_or_else(|| Reply::param_syntax("NOTIFY"))?)
            }
            ("ORCPT", Some(v)) => {
                out.orcpt = Some(orcpt(v).ok_or_else(|| Reply::param_syntax("ORCPT"))?)
            }
            ("NOTIFY" | "ORCPT", None) => return Err(Reply::param_syntax(&k)),
            _ => return Err(Reply::param_unknown(&k)),
        }
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const CTX: ParamContext = ParamContext {
        esmtp: true,
        eightbitmime: true,
        max_size: 1000,
    };

    #[test]
    fn reverse_paths() {
        let good = [
            "<>",
            "<a@b>",
            " <a@b.example>",
            "<@r1,@r2:a@b>",
            "<\"a b\"@c>",
            "<\"a\\\"b\"@c>",
            "<a.b+c@[192.0.2.1]>",
            "<a@[IPv6:2001:db8::1]>",
            "<a@x-y.example>",
        ];
        for g in good {
            assert!(parse_mail(g, &CTX).is_ok(), "{g}");
        }
        let bad = [
            "<a>",
            "<a@>",
            "<@a>",
            "< >",
            "<   >",
            "a@b",
            "<a@b",
            "<a..b@c>",
            "<.a@c>",
            "<a.@c>",
            "<a@-b>",
            "<a@b->",
            "<a@b..c>",
            "<a@[300.1.1.1]>",
            "<a@b>x",
            "<a b@c>",
            "",
            "<a@[IPv6:zz]>",
        ];
        for b in bad {
            assert!(parse_mail(b, &CTX).is_err(), "{b}");
        }
    }

    #[test]
    fn forward_paths() {
        assert_eq!(
            parse_rcpt("<Postmaster>", &CTX, false).unwrap().0,
            ForwardPath::Postmaster
        );
        assert!(parse_rcpt("<>", &CTX, false).is_err());
        assert!(parse_rcpt("<bob>", &CTX, false).is_err());
        assert_eq!(parse_rcpt("<jö@b>", &CTX, false).unwrap_err().code, 553);
        assert!(parse_rcpt("<jö@bü>", &CTX, true).is_ok());
    }

    #[test]
    fn params() {
        let (_, p) = parse_mail(
            "<a@b> SIZE=10 BODY=8bitmime RET=HDRS ENVID=x+2By AUTH=<>",
            &CTX,
        )
        .unwrap();
        assert_eq!(p.size, Some(10));
        assert_eq!(p.body, Body::EightBitMime);
        assert_eq!(p.ret, Some(Ret::Hdrs));
        assert_eq!(p.envid.as_deref(), Some("x+2By"));
        assert_eq!(parse_mail("<a@b> SIZE=1001", &CTX).unwrap_err().code, 552);
        assert_eq!(parse_mail("<a@b> FOO=1", &CTX).unwrap_err().code, 555);
        assert_eq!(parse_mail("<a@b> SIZE=x", &CTX).unwrap_err().code, 501);
        assert_eq!(
            parse_mail("<a@b> SIZE=1 SIZE=1", &CTX).unwrap_err().code,
            501
        );
        assert_eq!(
            parse_mail("<a@b> BODY=BINARYMIME", &CTX).unwrap_err().code,
            555
        );
        assert_eq!(parse_mail("<a@b> ENVID=a=b", &CTX).unwrap_err().code, 501);
        let helo = ParamContext {
            esmtp: false,
            ..CTX
        };
        assert_eq!(parse_mail("<a@b> SIZE=1", &helo).unwrap_err().code, 555);
        let (_, r) =
            parse_rcpt("<a@b> NOTIFY=SUCCESS,DELAY ORCPT=rfc822;a+40b", &CTX, false).unwrap();
        assert!(r.notify.unwrap().success && r.notify.unwrap().delay);
        assert_eq!(r.orcpt, Some(("rfc822".into(), "a+40b".into())));
        assert_eq!(
            parse_rcpt("<a@b> NOTIFY=NEVER,SUCCESS", &CTX, false)
                .unwrap_err()
                .code,
            501
        );
        assert_eq!(
            parse_rcpt("<a@b> SIZE=1", &CTX, false).unwrap_err().code,
            555
        );
    }
}

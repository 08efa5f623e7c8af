//! The access map (sendmail X README §3.9.3): `tag:pattern  [quick:]action`.
//!
//! Tags: `from:`, `to:` (addresses), `cltaddr:`, `mxbadip:` (IPv4 address or
//! net), `cltname:` (host name), `cltresolve:` (`ok`, `no`, `tempptr`,
//! `tempa`), `certissuer:`, `certsubject:` (a DN encoded as in §3.10 item
//! 21, see [`encode_dn`]), `protectedrcpt:` (an address whose RHS is a list
//! of restrictions, §3.10.2) and the DNSBL tags of §3.9.2 item 4: any other
//! `tag:` followed by the A record `W.X.Y.Z` a blacklist answered, or by
//! `temp` / `perm` for failed lookups.
//!
//! Actions: `relay` (only for `to:`, `cltaddr:`, `cltname:`, `certissuer:`
//! and `certsubject:`), `ok`, `reject` (= `error:550 5.7.0 Rejected.`),
//! `discard`, `cont` and `error:XYZ A.B.C.D text`, where the class digit of
//! the enhanced status code (RFC 3463) must be the first digit of the reply
//! code. Only 4xx and 5xx codes are errors.
//!
//! Decisions where the README is silent: the text after the enhanced status
//! code may be empty (`550 5.7.1` is a complete SMTP reply); a DNSBL tag that
//! is one or two typos away from an access tag (`cltadr:1.2.3.4`) is reported
//! as a misspelling, because a DNSBL tag must be named in smx.conf and the
//! silent alternative is an entry that never matches; `protectrcpt:` (seed
//! 000 writes it so) is such a misspelling of `protectedrcpt:`.

use super::{address_pattern, domain_pattern, ipv4, ipv4_net, strip_prefix_ci, suggest};

/// The tag of an access map key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AccessTag {
    /// `from:` envelope sender.
    From,
    /// `to:` envelope recipient.
    To,
    /// `cltaddr:` client IPv4 address or net.
    CltAddr,
    /// `cltname:` client host name.
    CltName,
    /// `cltresolve:` result of the client's reverse and forward lookups.
    CltResolve,
    /// `mxbadip:` addresses not allowed in MX/A records of a sender domain.
    MxBadIp,
    /// `certissuer:` DN of the CA that signed the client certificate.
    CertIssuer,
    /// `certsubject:` DN of the client certificate.
    CertSubject,
    /// `protectedrcpt:` restrictions for a recipient.
    ProtectedRcpt,
    /// A DNSBL tag from smx.conf's `dnsbl { tag = ...; }`, lower-cased.
    Dnsbl(String),
}

/// The fixed tags with their spelling in maps.
const TAGS: [(&str, AccessTag); 9] = [
    ("from:", AccessTag::From),
    ("to:", AccessTag::To),
    ("cltaddr:", AccessTag::CltAddr),
    ("cltname:", AccessTag::CltName),
    ("cltresolve:", AccessTag::CltResolve),
    ("mxbadip:", AccessTag::MxBadIp),
    ("certissuer:", AccessTag::CertIssuer),
    ("certsubject:", AccessTag::CertSubject),
    ("protectedrcpt:", AccessTag::ProtectedRcpt),
];

const TAG_NAMES: [&str; 9] = [
    "from:",
    "to:",
    "cltaddr:",
    "cltname:",
    "cltresolve:",
    "mxbadip:",
    "certissuer:",
    "certsubject:",
    "protectedrcpt:",
];

impl AccessTag {
    /// The tag as written in maps, with its colon (`dnsbltld:` for DNSBL tags).
    pub fn name(&self) -> String {
        match self {
            AccessTag::Dnsbl(tag) => format!("{tag}:"),
            fixed => TAGS
                .iter()
                .find(|(_, t)| t == fixed)
                .map(|(name, _)| (*name).to_string())
                .unwrap_or_default(),
        }
    }

    /// A fixed tag by name, with or without its colon, case-insensitively.
    fn fixed(name: &str) -> Option<AccessTag> {
        let name = name.strip_suffix(':').unwrap_or(name);
        TAGS.iter()
            .find(|(n, _)| n[..n.len() - 1].eq_ignore_ascii_case(name))
            .map(|(_, t)| t.clone())
    }

    /// Whether `relay` is a valid action for this tag (§3.9.3).
    pub fn allows_relay(&self) -> bool {
        matches!(
            self,
            AccessTag::To
                | AccessTag::CltAddr
                | AccessTag::CltName
                | AccessTag::CertIssuer
                | AccessTag::CertSubject
        )
    }
}

/// An access map key split into its tag and the rest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessKey<'a> {
    /// The tag.
    pub tag: AccessTag,
    /// What follows the tag: an address, IPv4 net, host name, DN, ...
    pub pattern: &'a str,
}

/// What an access map entry tells the SMTP server to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccessAction {
    /// `relay`: allow relaying.
    Relay,
    /// `ok`: accept the command.
    Ok,
    /// `reject`: same as `error:550 5.7.0 Rejected.`
    Reject,
    /// `discard`: accept, then silently drop (the session, transaction or
    /// recipient, by protocol stage).
    Discard,
    /// `cont`: stop this check, go on with the others.
    Cont,
    /// `error:XYZ A.B.C.D text`.
    Error {
        /// SMTP reply code, 400-599.
        code: u16,
        /// RFC 3463 enhanced status code, e.g. `5.7.1`.
        status: String,
        /// The reply text (may be empty).
        text: String,
    },
}

/// A parsed access map RHS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessRhs {
    /// The `quick:` modifier.
    pub quick: bool,
    /// The action.
    pub action: AccessAction,
}

/// One `protectedrcpt:` restriction (§3.10.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Restriction {
    /// `from:<sender>`: the envelope sender, without angle brackets
    /// (empty for the null sender `<>`).
    From(String),
    /// `cltaddr:A.B.C.D`: the client's IPv4 address or net.
    CltAddr(String),
    /// `list:<alias>`: the sender must be one of the alias's members.
    List(String),
}

/// Checks one access map entry.
pub(crate) fn validate(key: &str, value: &str) -> Result<(), String> {
    let key = parse_access_key(key)?;
    if key.tag == AccessTag::ProtectedRcpt {
        parse_restrictions(value).map(|_| ())
    } else {
        parse_rhs(&key.tag, value).map(|_| ())
    }
}

/// Splits and checks an access map key.
pub fn parse_access_key(key: &str) -> Result<AccessKey<'_>, String> {
    let Some(colon) = key.find(':') else {
        return Err(format!(
            "access key \"{key}\" has no tag; write tag:pattern, \
             e.g. to:{key} or cltaddr:10.1"
        ));
    };
    let (name, pattern) = (&key[..colon], &key[colon + 1..]);
    let Some(tag) = AccessTag::fixed(name) else {
        return dnsbl_key(name, pattern);
    };
    let tag_name = tag.name();
    let context = |why: String| format!("{tag_name}{pattern}: {why}");
    if pattern.is_empty() && tag != AccessTag::CltResolve {
        return Err(format!("nothing after the tag \"{tag_name}\""));
    }
    match tag {
        AccessTag::From | AccessTag::To | AccessTag::ProtectedRcpt => {
            address_pattern(pattern).map_err(context)?
        }
        AccessTag::CltAddr | AccessTag::MxBadIp => ipv4_net(pattern).map_err(context)?,
        AccessTag::CltName => {
            if super::looks_like_ipv4(pattern) {
                return Err(format!(
                    "cltname:{pattern}: that is an IPv4 address; use cltaddr:{pattern}"
                ));
            }
            domain_pattern(pattern).map_err(context)?
        }
        AccessTag::CltResolve => {
            const RESULTS: [&str; 4] = ["ok", "no", "tempptr", "tempa"];
            if !RESULTS.iter().any(|r| r.eq_ignore_ascii_case(pattern)) {
                let hint = suggest(pattern, &RESULTS)
                    .map(|s| format!("did you mean \"cltresolve:{s}\"? "))
                    .unwrap_or_default();
                return Err(format!(
                    "unknown cltresolve: result \"{pattern}\"; {hint}\
                     valid are ok, no, tempptr and tempa"
                ));
            }
        }
        AccessTag::CertIssuer | AccessTag::CertSubject => encoded_dn(pattern).map_err(context)?,
        AccessTag::Dnsbl(_) => {}
    }
    Ok(AccessKey { tag, pattern })
}

/// A key whose tag is not one of the fixed tags: a DNSBL entry or a typo.
fn dnsbl_key<'k>(name: &str, pattern: &'k str) -> Result<AccessKey<'k>, String> {
    let typo = suggest(&format!("{name}:"), &TAG_NAMES);
    let dnsbl_shaped = ["temp", "perm"]
        .iter()
        .any(|p| p.eq_ignore_ascii_case(pattern))
        || ipv4(pattern).is_ok();
    let tag_ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    match (typo, dnsbl_shaped && tag_ok) {
        (None, true) => Ok(AccessKey {
            tag: AccessTag::Dnsbl(name.to_ascii_lowercase()),
            pattern,
        }),
        (Some(s), _) => Err(format!(
            "unknown access tag \"{name}:\"; did you mean \"{s}\"?"
        )),
        (None, false) if name.is_empty() => {
            Err(format!("access key \":{pattern}\" has an empty tag"))
        }
        (None, false) => Err(format!(
            "unknown access tag \"{name}:\"; tags are from:, to:, cltaddr:, \
             cltname:, cltresolve:, mxbadip:, certissuer:, certsubject:, \
             protectedrcpt:, or a DNSBL tag followed by an IPv4 address, \
             temp or perm (e.g. {name}:127.0.0.2)"
        )),
    }
}

/// A DN as it must appear in a `certissuer:`/`certsubject:` key: already
/// encoded (§3.10 item 21).
fn encoded_dn(dn: &str) -> Result<(), String> {
    let bytes = dn.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'+' {
            let hex = bytes.get(i + 1..i + 3);
            if !hex.is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)) {
                return Err(
                    "a '+' in a DN must start a +XX hex escape; a literal '+' is written +2B"
                        .to_string(),
                );
            }
            i += 3;
            continue;
        }
        if b"<>()\"".contains(&b) || !(0x21..0x7f).contains(&b) {
            return Err(format!(
                "the DN is not encoded: write '{}' as +{:02X} (see encode_dn)",
                char::from(b).escape_default(),
                b
            ));
        }
        i += 1;
    }
    Ok(())
}

/// Encodes a certificate DN for access map keys (§3.10 item 21): each
/// non-printable character and `<`, `>`, `(`, `)`, `"`, `+` and space
/// become `+XX` (upper-case hex of the byte; a non-ASCII character becomes
/// one escape per UTF-8 byte).
pub fn encode_dn(dn: &str) -> String {
    let mut out = String::with_capacity(dn.len());
    for &b in dn.as_bytes() {
        if b"<>()\"+ ".contains(&b) || !(0x21..0x7f).contains(&b) {
            out.push_str(&format!("+{b:02X}"));
        } else {
            out.push(char::from(b));
        }
    }
    out
}

/// Parses the RHS of an access map entry for `tag` (`"to:"`, `"to"`, a
/// DNSBL tag, ...; case-insensitive).
///
/// `protectedrcpt:` entries hold restrictions instead: see
/// [`parse_restrictions`].
pub fn parse_access_rhs(tag: &str, value: &str) -> Result<AccessRhs, String> {
    let tag = AccessTag::fixed(tag).unwrap_or_else(|| {
        AccessTag::Dnsbl(tag.strip_suffix(':').unwrap_or(tag).to_ascii_lowercase())
    });
    parse_rhs(&tag, value)
}

const ACTIONS: &str = "relay, ok, reject, discard, cont or error:CODE X.Y.Z text";

fn parse_rhs(tag: &AccessTag, value: &str) -> Result<AccessRhs, String> {
    if *tag == AccessTag::ProtectedRcpt {
        return Err(
            "protectedrcpt: entries hold restrictions (from:, cltaddr:, list:), \
                    not an access action"
                .to_string(),
        );
    }
    let value = value.trim();
    if value.is_empty() {
        return Err(format!("missing right-hand side; expected {ACTIONS}"));
    }
    let (quick, rest) = match strip_prefix_ci(value, "quick:") {
        Some(rest) => (true, rest.trim_start()),
        None => (false, value),
    };
    if quick && strip_prefix_ci(rest, "quick:").is_some() {
        return Err("\"quick:\" is given twice".to_string());
    }
    if rest.is_empty() {
        return Err(format!("\"quick:\" must be followed by {ACTIONS}"));
    }
    if let Some(error) = strip_prefix_ci(rest, "error:") {
        let action = parse_error(error)?;
        return Ok(AccessRhs { quick, action });
    }
    let (word, extra) = match rest.split_once([' ', '\t']) {
        Some((word, extra)) => (word, extra.trim()),
        None => (rest, ""),
    };
    let action = match word.to_ascii_lowercase().as_str() {
        "relay" => AccessAction::Relay,
        "ok" => AccessAction::Ok,
        "reject" => AccessAction::Reject,
        "discard" => AccessAction::Discard,
        "cont" => AccessAction::Cont,
        lower => return Err(unknown_action(word, lower)),
    };
    if !extra.is_empty() {
        return Err(format!(
            "unexpected text \"{extra}\" after \"{word}\"; only error: takes a text"
        ));
    }
    if action == AccessAction::Relay && !tag.allows_relay() {
        return Err(format!(
            "\"relay\" is only allowed for to:, cltaddr:, cltname:, certissuer: \
             and certsubject:, not for {}; use ok to accept",
            tag.name()
        ));
    }
    Ok(AccessRhs { quick, action })
}

fn unknown_action(word: &str, lower: &str) -> String {
    if lower == "skip" {
        return "sendmail 8's SKIP is written \"cont\" in smx".to_string();
    }
    if lower.starts_with("error") || lower.starts_with("tempfail") {
        return format!(
            "\"{word}\": an error is written error:CODE X.Y.Z text, \
             e.g. error:550 5.7.1 Access denied"
        );
    }
    if word.len() == 3 && word.bytes().all(|b| b.is_ascii_digit()) {
        return format!(
            "a bare reply code \"{word}\" needs error: and an enhanced status code, \
             e.g. error:{word} 5.7.1 text"
        );
    }
    let hint = suggest(
        lower,
        &["relay", "ok", "reject", "discard", "cont", "quick:"],
    )
    .map(|s| format!("did you mean \"{s}\"? "))
    .unwrap_or_default();
    format!("unknown access action \"{word}\"; {hint}expected {ACTIONS}")
}

/// `XYZ A.B.C.D text`, the part after `error:`.
fn parse_error(spec: &str) -> Result<AccessAction, String> {
    let spec = spec.trim_start();
    const NEEDS: &str = "\"error:\" needs a reply code and an enhanced status code, \
                         e.g. error:550 5.7.1 text";
    if spec.starts_with('"') {
        return Err(format!(
            "the quoted sendmail 8 form ERROR:\"...\" is not used in smx; {NEEDS}"
        ));
    }
    let mut parts = spec.splitn(2, [' ', '\t']);
    let code_s = parts.next().unwrap_or("");
    let rest = parts.next().unwrap_or("").trim_start();
    if code_s.is_empty() {
        return Err(NEEDS.to_string());
    }
    // sendmail 8: ERROR:5.7.1:550 text
    if let Some((status, code)) = code_s.split_once(':') {
        return Err(format!(
            "\"{code_s}\" is sendmail 8's order; smx writes the reply code first: \
             error:{code} {status} ..."
        ));
    }
    let code = reply_code(code_s)?;
    let mut parts = rest.splitn(2, [' ', '\t']);
    let status = parts.next().unwrap_or("");
    let text = parts.next().unwrap_or("").trim().to_string();
    if status.is_empty() {
        return Err(NEEDS.to_string());
    }
    let class = enhanced_status(status).map_err(|why| {
        if status.contains('.') {
            why
        } else {
            format!("{NEEDS}; after the reply code {code} found \"{status}\"")
        }
    })?;
    let code_class = code / 100;
    if u16::from(class) != code_class {
        return Err(format!(
            "reply code {code} does not match enhanced status {status} (class {class})"
        ));
    }
    Ok(AccessAction::Error {
        code,
        status: status.to_string(),
        text,
    })
}

/// An SMTP reply code that is an error: 4yz or 5yz, y in 0-5 (RFC 5321 §4.2).
fn reply_code(s: &str) -> Result<u16, String> {
    if s.len() != 3 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "\"{s}\" is not a reply code; \"error:\" needs three digits, e.g. error:550 5.7.1 text"
        ));
    }
    let code: u16 = s
        .parse()
        .map_err(|_| format!("\"{s}\" is not a reply code"))?;
    if !(400..600).contains(&code) {
        return Err(format!(
            "reply code {code} is not an error; use a 4xx (temporary) or 5xx (permanent) code"
        ));
    }
    if (code / 10) % 10 > 5 {
        return Err(format!(
            "reply code {code}: the second digit must be 0 to 5 (RFC 5321)"
        ));
    }
    Ok(code)
}

/// An RFC 3463 enhanced status code `class.subject.detail`: the class digit.
fn enhanced_status(s: &str) -> Result<u8, String> {
    let parts: Vec<&str> = s.split('.').collect();
    let [class, subject, detail] = parts.as_slice() else {
        return Err(format!(
            "\"{s}\" is not an enhanced status code (class.subject.detail, e.g. 5.7.1)"
        ));
    };
    let number = |p: &str| !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit());
    if !(number(subject) && number(detail)) {
        return Err(format!(
            "\"{s}\" is not an enhanced status code: subject and detail are 1 to 3 digits (RFC 3463)"
        ));
    }
    match *class {
        "4" => Ok(4),
        "5" => Ok(5),
        "2" => Err(format!(
            "enhanced status {s} is a success (class 2); an error needs class 4 or 5"
        )),
        _ => Err(format!(
            "enhanced status \"{s}\": the class must be 4 or 5 for an error (RFC 3463)"
        )),
    }
}

/// Parses the RHS of a `protectedrcpt:` entry: one or more restrictions
/// separated by spaces (§3.10.2); any one that matches admits the sender.
pub fn parse_restrictions(value: &str) -> Result<Vec<Restriction>, String> {
    let mut out = Vec::new();
    for item in value.split_whitespace() {
        out.push(restriction(item)?);
    }
    if out.is_empty() {
        return Err("protectedrcpt: needs at least one restriction: \
                    from:<address>, cltaddr:IPv4-net or list:<alias>"
            .to_string());
    }
    Ok(out)
}

fn restriction(item: &str) -> Result<Restriction, String> {
    if let Some(addr) = strip_prefix_ci(item, "from:") {
        let addr = unbracket(addr, "from:")?;
        if !addr.is_empty() {
            address_pattern(addr).map_err(|why| format!("restriction {item}: {why}"))?;
        }
        return Ok(Restriction::From(addr.to_string()));
    }
    if let Some(net) = strip_prefix_ci(item, "cltaddr:") {
        ipv4_net(net).map_err(|why| format!("restriction {item}: {why}"))?;
        return Ok(Restriction::CltAddr(net.to_string()));
    }
    if let Some(alias) = strip_prefix_ci(item, "list:") {
        let alias = unbracket(alias, "list:")?;
        if alias.is_empty() {
            return Err("restriction list: needs an alias, e.g. list:<list1@local.dom>".into());
        }
        address_pattern(alias).map_err(|why| format!("restriction {item}: {why}"))?;
        return Ok(Restriction::List(alias.to_string()));
    }
    let name = item.split(':').next().unwrap_or(item);
    let hint = suggest(&format!("{name}:"), &["from:", "cltaddr:", "list:"])
        .map(|s| format!("did you mean \"{s}\"? "))
        .unwrap_or_default();
    Err(format!(
        "unknown restriction \"{item}\"; {hint}a protectedrcpt: entry lists \
         from:<address>, cltaddr:IPv4-net or list:<alias>, separated by spaces"
    ))
}

/// `<addr>` or `addr`: the address.
fn unbracket<'s>(s: &'s str, what: &str) -> Result<&'s str, String> {
    match (s.strip_prefix('<'), s.ends_with('>')) {
        (Some(inner), true) => Ok(&inner[..inner.len() - 1]),
        (None, false) => Ok(s),
        _ => Err(format!("restriction {what}{s}: unbalanced angle brackets")),
    }
}

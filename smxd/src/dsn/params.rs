//! The DSN envelope parameters (RFC 3461 §4) as the queue keeps them, in
//! ESMTP form: MAIL FROM `RET=` / `ENVID=` (plus `BODY=` and `SMTPUTF8`,
//! RFC 6152 / RFC 6531, which decide how a DSN may carry the original) and
//! RCPT TO `NOTIFY=` / `ORCPT=`.
//!
//! Parsing is lenient: the SMTP server already validated the parameters
//! on the way in, so an unknown or malformed one is ignored here rather
//! than failing a bounce.

pub use super::xtext::{xtext_decode, xtext_encode};
use super::Kind;

/// What a DSN needs from the MAIL FROM parameters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MailDsn {
    /// `RET=`; `None` leaves the choice to the MTA.
    pub ret: Option<Ret>,
    /// `ENVID=`, xtext-decoded.
    pub envid: Option<String>,
    /// `SMTPUTF8` was given: the DSN may be a global one (RFC 6533).
    pub smtputf8: bool,
    /// `BODY=8BITMIME` (or `BINARYMIME`): the original is 8-bit.
    pub eightbit: bool,
}

/// How much of the original a DSN returns (RFC 3461 §4.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ret {
    /// The whole message.
    Full,
    /// Only its header section.
    Hdrs,
}

/// Reads `Transaction.sender_params` (`BODY=8BITMIME SMTPUTF8 RET=HDRS
/// ENVID=xtext`). Keywords are case-insensitive (RFC 5321 §4.1.2).
pub fn parse_mail(params: &str) -> MailDsn {
    let mut m = MailDsn::default();
    for (key, value) in tokens(params) {
        match (key.to_ascii_uppercase().as_str(), value) {
            ("RET", Some(v)) if v.eq_ignore_ascii_case("FULL") => m.ret = Some(Ret::Full),
            ("RET", Some(v)) if v.eq_ignore_ascii_case("HDRS") => m.ret = Some(Ret::Hdrs),
            ("ENVID", Some(v)) => m.envid = Some(xtext_decode(v)),
            ("SMTPUTF8", _) => m.smtputf8 = true,
            ("BODY", Some(v))
                if v.eq_ignore_ascii_case("8BITMIME") || v.eq_ignore_ascii_case("BINARYMIME") =>
            {
                m.eightbit = true
            }
            _ => {}
        }
    }
    m
}

/// What a DSN needs from one recipient's RCPT TO parameters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RcptDsn {
    /// `NOTIFY=`; `None` when absent (the defaults of [`RcptDsn::wants`]).
    pub notify: Option<Notify>,
    /// `ORCPT=type;address`: the type as given, the address decoded
    /// (xtext, or utf-8-addr-xtext for type `utf-8`, RFC 6533 §3).
    pub orcpt: Option<(String, String)>,
}

/// The `NOTIFY=` list (RFC 3461 §4.1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Notify {
    /// `NEVER`: no DSN at all.
    pub never: bool,
    /// `SUCCESS`.
    pub success: bool,
    /// `FAILURE`.
    pub failure: bool,
    /// `DELAY`.
    pub delay: bool,
}

/// Reads `Recipient.params` (`NOTIFY=FAILURE,DELAY ORCPT=rfc822;a+2Bb@c`).
pub fn parse_rcpt(params: &str) -> RcptDsn {
    let mut r = RcptDsn::default();
    for (key, value) in tokens(params) {
        let Some(v) = value else { continue };
        if key.eq_ignore_ascii_case("NOTIFY") {
            let mut n = Notify::default();
            for word in v.split(',') {
                match word.to_ascii_uppercase().as_str() {
                    "NEVER" => n.never = true,
                    "SUCCESS" => n.success = true,
                    "FAILURE" => n.failure = true,
                    "DELAY" => n.delay = true,
                    _ => {}
                }
            }
            r.notify = Some(n);
        } else if key.eq_ignore_ascii_case("ORCPT") {
            if let Some((kind, addr)) = v.split_once(';') {
                let addr = if kind.eq_ignore_ascii_case("utf-8") {
                    super::xtext::utf8_addr_decode(addr)
                } else {
                    xtext_decode(addr)
                };
                r.orcpt = Some((kind.to_string(), addr));
            }
        }
    }
    r
}

impl RcptDsn {
    /// Whether the sender asked for a DSN of this kind for this
    /// recipient. Without NOTIFY the MTA decides (RFC 3461 §4.1); like
    /// Postfix we report failures and delays and not successes.
    pub fn wants(&self, kind: Kind) -> bool {
        match self.notify {
            None => matches!(kind, Kind::Failure | Kind::Delay),
            Some(n) if n.never => false,
            Some(n) => match kind {
                Kind::Failure => n.failure,
                Kind::Delay => n.delay,
                Kind::Success => n.success,
            },
        }
    }
}

/// `KEY=VALUE` / `KEY` words separated by spaces.
fn tokens(params: &str) -> impl Iterator<Item = (&str, Option<&str>)> {
    params
        .split_ascii_whitespace()
        .map(|w| match w.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (w, None),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mail_parameters() {
        let m = parse_mail("BODY=8BITMIME SMTPUTF8 RET=HDRS ENVID=QQ314159");
        assert_eq!(
            m,
            MailDsn {
                ret: Some(Ret::Hdrs),
                envid: Some("QQ314159".into()),
                smtputf8: true,
                eightbit: true
            }
        );
        let m = parse_mail("ret=full envid=a+2Bb+20c body=7BIT");
        assert_eq!(m.ret, Some(Ret::Full));
        assert_eq!(m.envid.as_deref(), Some("a+b c"));
        assert!(!m.eightbit && !m.smtputf8);
        assert!(parse_mail("BODY=BINARYMIME").eightbit);
        assert_eq!(parse_mail(""), MailDsn::default());
        // Malformed values are ignored, not fatal.
        assert_eq!(parse_mail("RET=ALL RET ENVID SIZE=12 =x").ret, None);
        assert_eq!(parse_mail("ENVID").envid, None);
    }

    #[test]
    fn rcpt_parameters() {
        // RFC 3461 §4.2 example.
        let r = parse_rcpt("NOTIFY=FAILURE,DELAY ORCPT=rfc822;Bob+2Bsmith@example.com");
        assert_eq!(
            r.notify,
            Some(Notify {
                never: false,
                success: false,
                failure: true,
                delay: true
            })
        );
        assert_eq!(
            r.orcpt,
            Some(("rfc822".into(), "Bob+smith@example.com".into()))
        );
        let r = parse_rcpt("notify=success orcpt=utf-8;j\\x{F6}rg@example.de");
        assert_eq!(
            r.notify,
            Some(Notify {
                success: true,
                ..Notify::default()
            })
        );
        assert_eq!(r.orcpt, Some(("utf-8".into(), "jörg@example.de".into())));
        assert_eq!(
            parse_rcpt("NOTIFY=NEVER").notify.map(|n| n.never),
            Some(true)
        );
        assert_eq!(parse_rcpt(""), RcptDsn::default());
        assert_eq!(parse_rcpt("ORCPT=noseparator").orcpt, None);
        assert_eq!(parse_rcpt("NOTIFY ORCPT").notify, None);
    }

    #[test]
    fn wants_follows_notify() {
        let none = parse_rcpt("");
        assert!(none.wants(Kind::Failure) && none.wants(Kind::Delay));
        assert!(!none.wants(Kind::Success));
        let never = parse_rcpt("NOTIFY=NEVER");
        assert!(!never.wants(Kind::Failure) && !never.wants(Kind::Delay));
        assert!(!never.wants(Kind::Success));
        let s = parse_rcpt("NOTIFY=SUCCESS");
        assert!(s.wants(Kind::Success) && !s.wants(Kind::Failure) && !s.wants(Kind::Delay));
        let fd = parse_rcpt("NOTIFY=FAILURE,DELAY");
        assert!(fd.wants(Kind::Failure) && fd.wants(Kind::Delay) && !fd.wants(Kind::Success));
        // Unknown words alone leave an empty list: nothing wanted.
        assert!(!parse_rcpt("NOTIFY=BOGUS").wants(Kind::Failure));
    }
}

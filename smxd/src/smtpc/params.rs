//! The MAIL FROM and RCPT TO parameters sent to the next hop: the QMGR
//! hands over what the client gave us (ESMTP form, `KEY=VALUE` separated by
//! spaces); only those the server announced go on the wire.
//!
//! - `SIZE=` (RFC 1870) is ours: the size of the content file, sent when
//!   SIZE is offered; an incoming `SIZE=` is dropped.
//! - `BODY=` (RFC 6152) only when 8BITMIME is offered. An 8-bit message to
//!   a server without 8BITMIME is sent anyway, as Postfix does, and the
//!   caller logs it.
//! - `SMTPUTF8` (RFC 6531 §3.4) when the message needs it; if the server
//!   does not offer it the message cannot be relayed: `550 5.6.7`.
//! - `RET=`, `ENVID=` (MAIL) and `NOTIFY=`, `ORCPT=` (RCPT) only when DSN
//!   is offered (RFC 3461 §4).
//! - Anything else (AUTH=, unknown keywords) is dropped.

use super::extensions::Extensions;

/// What the envelope asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MailParams {
    /// `BODY=` value, upper-cased (`8BITMIME`, `7BIT`).
    pub body: Option<String>,
    /// The message needs SMTPUTF8.
    pub smtputf8: bool,
    /// `RET=` value.
    pub ret: Option<String>,
    /// `ENVID=` value (xtext, passed on verbatim).
    pub envid: Option<String>,
}

impl MailParams {
    /// Parses the ESMTP form; unknown keywords are ignored.
    pub fn parse(s: &str) -> MailParams {
        let mut p = MailParams::default();
        for word in s.split_ascii_whitespace() {
            let (key, value) = match word.split_once('=') {
                Some((k, v)) => (k, Some(v)),
                None => (word, None),
            };
            match (key.to_ascii_uppercase().as_str(), value) {
                ("BODY", Some(v)) => p.body = Some(v.to_ascii_uppercase()),
                ("SMTPUTF8", None) => p.smtputf8 = true,
                ("RET", Some(v)) => p.ret = Some(v.to_ascii_uppercase()),
                ("ENVID", Some(v)) => p.envid = Some(v.to_string()),
                _ => {}
            }
        }
        p
    }

    /// An 8-bit body (`BODY=8BITMIME`).
    pub fn eight_bit(&self) -> bool {
        self.body.as_deref() == Some("8BITMIME")
    }

    /// The parameters for MAIL FROM to a server offering `ext`, for a
    /// message of `size` bytes; with a leading space when not empty.
    pub fn render(&self, ext: &Extensions, size: u64) -> String {
        let mut out = String::new();
        if ext.size.is_some() {
            out.push_str(&format!(" SIZE={size}"));
        }
        if ext.eightbitmime {
            if let Some(b) = &self.body {
                out.push_str(&format!(" BODY={b}"));
            }
        }
        if self.smtputf8 && ext.smtputf8 {
            out.push_str(" SMTPUTF8");
        }
        if ext.dsn {
            if let Some(r) = &self.ret {
                out.push_str(&format!(" RET={r}"));
            }
            if let Some(e) = &self.envid {
                out.push_str(&format!(" ENVID={e}"));
            }
        }
        out
    }
}

/// The parameters for RCPT TO: `NOTIFY=` and `ORCPT=` when DSN is
/// offered; with a leading space when not empty.
pub fn rcpt_params(params: &str, ext: &Extensions) -> String {
    let mut out = String::new();
    if !ext.dsn {
        return out;
    }
    for word in params.split_ascii_whitespace() {
        let key = word.split_once('=').map_or(word, |(k, _)| k);
        if key.eq_ignore_ascii_case("NOTIFY") || key.eq_ignore_ascii_case("ORCPT") {
            out.push(' ');
            out.push_str(word);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all() -> Extensions {
        Extensions {
            pipelining: true,
            size: Some(0),
            eightbitmime: true,
            smtputf8: true,
            dsn: true,
            enhanced_status: true,
            starttls: false,
        }
    }

    #[test]
    fn mail_parameters_follow_the_offer() {
        let p = MailParams::parse("BODY=8BITMIME SMTPUTF8 RET=HDRS ENVID=x+2By AUTH=<> SIZE=99");
        assert!(p.eight_bit());
        assert_eq!(
            p.render(&all(), 1234),
            " SIZE=1234 BODY=8BITMIME SMTPUTF8 RET=HDRS ENVID=x+2By"
        );
        assert_eq!(p.render(&Extensions::default(), 1234), "");
        let only_size = Extensions {
            size: Some(10),
            ..Extensions::default()
        };
        assert_eq!(p.render(&only_size, 5), " SIZE=5");
        assert_eq!(MailParams::parse("").render(&all(), 7), " SIZE=7");
    }

    #[test]
    fn rcpt_parameters_only_with_dsn() {
        let params = "NOTIFY=FAILURE,DELAY ORCPT=rfc822;a@b.example XFOO=1";
        assert_eq!(
            rcpt_params(params, &all()),
            " NOTIFY=FAILURE,DELAY ORCPT=rfc822;a@b.example"
        );
        assert_eq!(rcpt_params(params, &Extensions::default()), "");
    }
}

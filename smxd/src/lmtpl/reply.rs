//! The replies of lmtpl that the SMTP server's table
//! ([`crate::smtps::Reply`]) does not have. Every reply carries an RFC 3463
//! enhanced status code, except the LHLO keyword lines (RFC 2034 §3).

use crate::smtps::Reply;

/// `s` with control characters written as `\xNN`, for replies and log
/// lines (an address may hold them; they must not reach a terminal or a
/// log as they are).
pub fn shown(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_control() {
            out.push_str(&format!("\\x{:02x}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    out
}

/// `220` greeting.
pub fn greeting(host: &str) -> Reply {
    Reply::new(220, "2.0.0", format!("{host} LMTP smx"))
}

/// The LHLO reply (RFC 2033 §4.1; the keywords of EHLO).
pub fn lhlo(host: &str) -> Reply {
    Reply::ehlo(
        host,
        ["PIPELINING", "ENHANCEDSTATUSCODES", "8BITMIME", "SMTPUTF8"]
            .map(String::from)
            .to_vec(),
    )
}

/// HELO or EHLO: an LMTP server must not accept them as LHLO (RFC 2033 §4.1).
pub fn use_lhlo() -> Reply {
    Reply::new(500, "5.5.1", "Error: this is LMTP, say LHLO (RFC 2033)")
}

/// RCPT with an unreadable path.
pub fn bad_recipient() -> Reply {
    Reply::bad_recipient()
}

/// Not a local user (README §3.9.2 item 7).
pub fn unknown_user(rcpt: &str) -> Reply {
    Reply::new(550, "5.1.1", format!("<{}>: user unknown", shown(rcpt)))
}

/// A local part that could escape the mail directory.
pub fn unsafe_mailbox(rcpt: &str) -> Reply {
    Reply::new(
        550,
        "5.1.3",
        format!(
            "<{}>: local part not allowed as a mailbox name",
            shown(rcpt)
        ),
    )
}

/// The local user map failed temporarily.
pub fn lookup_failed(rcpt: &str) -> Reply {
    Reply::new(
        451,
        "4.3.0",
        format!("<{}>: user lookup failed, try again later", shown(rcpt)),
    )
}

/// DATA without an accepted recipient (RFC 2033 §4.2: 503).
pub fn no_valid_recipients() -> Reply {
    Reply::new(503, "5.5.1", "Error: no valid recipients")
}

/// One recipient's message is in its Maildir, on disk.
pub fn delivered(rcpt: &str) -> Reply {
    Reply::new(
        250,
        "2.0.0",
        format!("<{}> delivered to Maildir", shown(rcpt)),
    )
}

/// The file system or the quota is full.
pub fn mailbox_full(rcpt: &str) -> Reply {
    Reply::new(
        452,
        "4.2.2",
        format!(
            "<{}>: mailbox full or file system out of space, try again later",
            shown(rcpt)
        ),
    )
}

/// Any other failure to write the message.
pub fn delivery_failed(rcpt: &str) -> Reply {
    Reply::new(
        451,
        "4.3.0",
        format!("<{}>: local delivery failed, try again later", shown(rcpt)),
    )
}

/// The message already went through this mailbox.
pub fn forwarding_loop(rcpt: &str) -> Reply {
    Reply::new(
        550,
        "5.4.6",
        format!(
            "<{}>: mail forwarding loop (Delivered-To: already present)",
            shown(rcpt)
        ),
    )
}

/// HELP.
pub fn help() -> Reply {
    Reply::multi(
        214,
        "2.0.0",
        vec![
            "Commands: LHLO MAIL RCPT DATA RSET NOOP QUIT VRFY HELP".to_string(),
            "See RFC 2033".to_string(),
        ],
    )
}

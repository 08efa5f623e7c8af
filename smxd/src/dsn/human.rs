//! The human-readable first part of the report (RFC 6522 §3, text/plain),
//! worded like Postfix's bounce templates so postmasters recognise it:
//! who we are, what happened, then one paragraph per recipient with the
//! remote server's words.

use super::fold::{ascii_only, one_line, wrap};
use super::{DsnInput, DsnRcpt, Kind};
use std::time::{Duration, SystemTime};

/// The part body, CRLF lines. `utf8` keeps non-ASCII text (the part is
/// then labelled charset=utf-8); otherwise it is replaced by `?`.
pub fn render(input: &DsnInput, kind: Kind, utf8: bool) -> String {
    let text = |s: &str| {
        if utf8 {
            one_line(s)
        } else {
            ascii_only(&one_line(s))
        }
    };
    let mut lines: Vec<String> = Vec::new();
    para(
        &mut lines,
        &format!(
            "This is the mail system at host {}.",
            text(input.reporting_mta)
        ),
    );
    lines.push(String::new());
    match kind {
        Kind::Failure => {
            para(&mut lines, "I'm sorry to have to inform you that your message could not be delivered to one or more recipients. It's attached below.");
            lines.push(String::new());
            para(
                &mut lines,
                "For further assistance, please send mail to postmaster.",
            );
            lines.push(String::new());
            para(&mut lines, "If you do so, please include this problem report. You can delete your own text from the attached returned message.");
        }
        Kind::Delay => {
            for l in [
                "####################################################################",
                "# THIS IS A WARNING ONLY.  YOU DO NOT NEED TO RESEND YOUR MESSAGE. #",
                "####################################################################",
            ] {
                lines.push(l.to_string());
            }
            lines.push(String::new());
            let age = since(input.arrival, input.now);
            let mut s = format!("Your message could not be delivered for {}.", span(age));
            if let Some(until) = input
                .recipients
                .iter()
                .filter_map(|r| r.will_retry_until)
                .max()
            {
                s.push_str(&format!(
                    " It will be retried until it is {} old.",
                    span(since(input.arrival, until))
                ));
            }
            lines.extend(wrap("", &s, ""));
        }
        Kind::Success => {
            lines.extend(wrap(
                "",
                "Your message was successfully delivered to the destination(s) listed below. If the message was delivered to a mailbox you will receive no further notifications. Otherwise you may still receive notifications of mail delivery errors from other systems.",
                "",
            ));
        }
    }
    lines.push(String::new());
    lines.push(format!("Queue id: {}", text(input.queue_id)));
    lines.push(String::new());
    lines.push("                   The mail system".to_string());
    for r in input.recipients {
        lines.push(String::new());
        lines.extend(wrap("", &recipient(r, &text), "    "));
    }
    let mut out = String::new();
    for l in lines {
        out.push_str(l.trim_end());
        out.push_str("\r\n");
    }
    out
}

/// `<a@b> (expanded from <c@d>): host mx said: 550 5.1.1 unknown`.
fn recipient(r: &DsnRcpt, text: &dyn Fn(&str) -> String) -> String {
    let mut s = format!("<{}>", text(&r.final_recipient));
    if let Some((_, orig)) = &r.original {
        if !orig.eq_ignore_ascii_case(&r.final_recipient) {
            s.push_str(&format!(" (expanded from <{}>)", text(orig)));
        }
    }
    s.push(':');
    match (&r.remote_mta, &r.diagnostic) {
        (Some(host), Some(d)) => s.push_str(&format!(" host {} said: {}", text(host), text(d))),
        (None, Some(d)) => s.push_str(&format!(" {}", text(d))),
        (Some(host), None) => s.push_str(&format!(
            " delivery via {} {} (status {})",
            text(host),
            outcome(r.action),
            super::status::status(r)
        )),
        (None, None) => s.push_str(&format!(
            " delivery {} (status {})",
            outcome(r.action),
            super::status::status(r)
        )),
    }
    s
}

fn para(lines: &mut Vec<String>, s: &str) {
    lines.extend(wrap("", s, ""));
}

fn outcome(kind: Kind) -> &'static str {
    match kind {
        Kind::Failure => "failed",
        Kind::Delay => "delayed",
        Kind::Success => "succeeded",
    }
}

fn since(from: SystemTime, to: SystemTime) -> Duration {
    to.duration_since(from).unwrap_or_default()
}

/// `25 minutes`, `4.0 hours`, `5.0 days` (Postfix's wording).
fn span(d: Duration) -> String {
    let s = d.as_secs();
    if s < 3600 {
        let m = s / 60;
        format!("{m} minute{}", if m == 1 { "" } else { "s" })
    } else if s < 2 * 86_400 {
        format!("{:.1} hours", s as f64 / 3600.0)
    } else {
        format!("{:.1} days", s as f64 / 86_400.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans() {
        assert_eq!(span(Duration::from_secs(60)), "1 minute");
        assert_eq!(span(Duration::from_secs(25 * 60)), "25 minutes");
        assert_eq!(span(Duration::from_secs(4 * 3600)), "4.0 hours");
        assert_eq!(span(Duration::from_secs(5 * 86_400)), "5.0 days");
    }
}

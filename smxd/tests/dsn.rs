//! DSN messages (RFC 3464 in an RFC 6522 multipart/report) built by
//! `smxd::dsn::build` and read back with an independent MIME parser
//! (mail-parser): structure, per-recipient status fields, the returned
//! original for RET=HDRS / RET=FULL / header_only, delay notices, odd
//! originals, folding, and the line discipline of RFC 5322 §2.1.1.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use mail_parser::{Message, MessageParser, MessagePart, MimeHeaders};
use smxd::dsn::{self, DsnInput, DsnRcpt, Kind, Ret};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const ORIGINAL: &[u8] = b"Received: from client.example.net (client.example.net [192.0.2.7])\r\n\
\tby mx.example.org (smx) with ESMTP; Tue, 14 Nov 2023 22:13:20 +0000\r\n\
From: Sender <s@example.net>\r\n\
To: a@example.com, b@example.com, c@example.com\r\n\
Subject: quarterly numbers\r\n\
Message-ID: <m1@example.net>\r\n\
\r\n\
Hello,\r\n\
\r\n\
the numbers are attached.\r\n";

const HEADER: &[u8] = b"Received: from client.example.net (client.example.net [192.0.2.7])\r\n\
\tby mx.example.org (smx) with ESMTP; Tue, 14 Nov 2023 22:13:20 +0000\r\n\
From: Sender <s@example.net>\r\n\
To: a@example.com, b@example.com, c@example.com\r\n\
Subject: quarterly numbers\r\n\
Message-ID: <m1@example.net>\r\n";

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

fn failed(addr: &str, status: &str, diag: &str) -> DsnRcpt {
    DsnRcpt {
        original: None,
        final_recipient: addr.into(),
        action: Kind::Failure,
        status: status.into(),
        remote_mta: Some("mx.example.com".into()),
        diagnostic: Some(diag.into()),
        last_attempt: Some(at(1_700_000_500)),
        will_retry_until: None,
    }
}

fn three_failed() -> Vec<DsnRcpt> {
    let mut b = failed("b@example.com", "5.2.2", "552 5.2.2 mailbox full");
    b.original = Some(("rfc822".into(), "B+list@example.com".into()));
    vec![
        failed(
            "a@example.com",
            "5.1.1",
            "550 5.1.1 <a@example.com>: user unknown",
        ),
        b,
        failed("c@example.com", "5.7.1", "554 5.7.1 rejected by policy"),
    ]
}

fn input<'a>(rcpts: &'a [DsnRcpt], original: &'a [u8], ret: Ret) -> DsnInput<'a> {
    DsnInput {
        reporting_mta: "mx.example.org",
        queue_id: "4SVk2r0Xyz",
        sender: "s@example.net",
        envid: Some("QQ314159"),
        arrival: at(1_700_000_000),
        recipients: rcpts,
        original,
        ret,
        header_only: false,
        now: at(1_700_000_600),
    }
}

/// CRLF everywhere, no bare CR or LF, no line over 998 octets, ends in CRLF.
fn assert_line_discipline(msg: &[u8]) {
    assert!(msg.ends_with(b"\r\n"), "message must end in CRLF");
    for (i, &b) in msg.iter().enumerate() {
        if b == b'\n' {
            assert!(i > 0 && msg[i - 1] == b'\r', "bare LF at {i}");
        }
        if b == b'\r' {
            assert_eq!(msg.get(i + 1), Some(&b'\n'), "bare CR at {i}");
        }
    }
    for line in msg.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        assert!(line.len() <= 998, "line of {} octets", line.len());
    }
}

fn parse(msg: &[u8]) -> Message<'_> {
    MessageParser::default()
        .parse(msg)
        .expect("the DSN parses as a message")
}

/// The three sub-parts of the multipart/report, after checking the type.
fn report_parts<'m>(m: &'m Message<'m>, report_type: &str) -> Vec<&'m MessagePart<'m>> {
    let ct = m.root_part().content_type().expect("Content-Type");
    assert_eq!(ct.ctype(), "multipart");
    assert_eq!(ct.subtype(), Some("report"));
    assert_eq!(ct.attribute("report-type"), Some(report_type));
    let ids = m.root_part().sub_parts().expect("multipart");
    assert_eq!(ids.len(), 3, "human, status, original");
    ids.iter().map(|&i| &m.parts[i]).collect()
}

fn mime_type(p: &MessagePart) -> String {
    let ct = p.content_type().expect("part Content-Type");
    format!("{}/{}", ct.ctype(), ct.subtype().unwrap_or(""))
}

/// The raw body of a part, as it stands between its header and the next
/// delimiter (whose leading CRLF is not part of it, RFC 2046 §5.1.1).
fn raw_body<'m>(m: &'m Message, p: &MessagePart) -> &'m [u8] {
    &m.raw_message[p.offset_body..p.offset_end]
}

/// The status part as blocks of (field, unfolded value), the first
/// block holding the per-message fields.
fn status_blocks(body: &[u8]) -> Vec<Vec<(String, String)>> {
    let text = std::str::from_utf8(body).expect("status part is text");
    let unfolded = text.replace("\r\n ", " ").replace("\r\n\t", " ");
    unfolded
        .split("\r\n\r\n")
        .filter(|b| !b.trim().is_empty())
        .map(|block| {
            block
                .split("\r\n")
                .filter(|l| !l.is_empty())
                .map(|l| {
                    let (k, v) = l.split_once(':').expect("field: value");
                    (k.to_string(), v.trim().to_string())
                })
                .collect()
        })
        .collect()
}

fn get<'b>(block: &'b [(String, String)], name: &str) -> Option<&'b str> {
    block
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

#[test]
fn failure_dsn_with_three_recipients_reads_back() {
    let rcpts = three_failed();
    let dsn = dsn::build(&input(&rcpts, ORIGINAL, Ret::Hdrs));
    assert_line_discipline(&dsn);
    let m = parse(&dsn);

    assert_eq!(m.subject(), Some("Undelivered Mail Returned to Sender"));
    let from = m
        .from()
        .and_then(|a| a.first())
        .and_then(|a| a.address())
        .unwrap();
    assert_eq!(from, "MAILER-DAEMON@mx.example.org");
    let to = m
        .to()
        .and_then(|a| a.first())
        .and_then(|a| a.address())
        .unwrap();
    assert_eq!(to, "s@example.net");
    assert_eq!(m.message_id(), Some("4SVk2r0Xyz.1700000600@mx.example.org"));
    assert_eq!(
        m.header_raw("Auto-Submitted").map(str::trim),
        Some("auto-replied")
    );
    assert_eq!(m.header_raw("MIME-Version").map(str::trim), Some("1.0"));
    assert!(m.date().is_some());

    let parts = report_parts(&m, "delivery-status");
    assert_eq!(mime_type(parts[0]), "text/plain");
    let human = flat(parts[0].text_contents().unwrap());
    assert!(human.contains("This is the mail system at host mx.example.org."));
    assert!(human.contains("4SVk2r0Xyz"));
    assert!(human.contains(
        "<a@example.com>: host mx.example.com said: 550 5.1.1 <a@example.com>: user unknown"
    ));
    assert!(human.contains("<b@example.com> (expanded from <B+list@example.com>)"));
    assert!(human.contains("554 5.7.1 rejected by policy"));

    assert_eq!(mime_type(parts[1]), "message/delivery-status");
    let blocks = status_blocks(parts[1].contents());
    assert_eq!(blocks.len(), 4, "per-message block and three recipients");
    let per_message = &blocks[0];
    assert_eq!(
        get(per_message, "Reporting-MTA"),
        Some("dns; mx.example.org")
    );
    assert_eq!(get(per_message, "X-Smx-Queue-ID"), Some("4SVk2r0Xyz"));
    assert_eq!(get(per_message, "Original-Envelope-Id"), Some("QQ314159"));
    assert_eq!(
        get(per_message, "Arrival-Date"),
        Some("Tue, 14 Nov 2023 22:13:20 +0000")
    );
    let expect = [
        (
            "a@example.com",
            "5.1.1",
            "smtp; 550 5.1.1 <a@example.com>: user unknown",
        ),
        ("b@example.com", "5.2.2", "smtp; 552 5.2.2 mailbox full"),
        (
            "c@example.com",
            "5.7.1",
            "smtp; 554 5.7.1 rejected by policy",
        ),
    ];
    for (block, (addr, status, diag)) in blocks[1..].iter().zip(expect) {
        assert_eq!(
            get(block, "Final-Recipient"),
            Some(format!("rfc822; {addr}").as_str())
        );
        assert_eq!(get(block, "Action"), Some("failed"));
        assert_eq!(get(block, "Status"), Some(status));
        assert_eq!(get(block, "Diagnostic-Code"), Some(diag));
        assert_eq!(get(block, "Remote-MTA"), Some("dns; mx.example.com"));
        assert_eq!(
            get(block, "Last-Attempt-Date"),
            Some("Tue, 14 Nov 2023 22:21:40 +0000")
        );
        assert_eq!(get(block, "Will-Retry-Until"), None);
    }
    assert_eq!(
        get(&blocks[2], "Original-Recipient"),
        Some("rfc822;B+list@example.com")
    );
    assert_eq!(get(&blocks[1], "Original-Recipient"), None);

    assert_eq!(mime_type(parts[2]), "text/rfc822-headers");
    assert_eq!(
        parts[2].content_description(),
        Some("Undelivered Message Headers")
    );
    assert_eq!(
        raw_body(&m, parts[2]),
        HEADER,
        "exactly the original header"
    );
}

#[test]
fn ret_full_returns_the_whole_original() {
    let rcpts = three_failed();
    let dsn = dsn::build(&input(&rcpts, ORIGINAL, Ret::Full));
    assert_line_discipline(&dsn);
    let m = parse(&dsn);
    let parts = report_parts(&m, "delivery-status");
    assert_eq!(mime_type(parts[2]), "message/rfc822");
    assert_eq!(parts[2].content_description(), Some("Undelivered Message"));
    assert_eq!(raw_body(&m, parts[2]), ORIGINAL);
    let inner = parts[2].message().expect("a nested message");
    assert_eq!(inner.subject(), Some("quarterly numbers"));
    assert_eq!(
        inner.body_text(0).as_deref(),
        Some("Hello,\r\n\r\nthe numbers are attached.\r\n")
    );
    // Plain ASCII all through: no transfer encoding needed anywhere.
    assert!(!dsn::is_8bit(&dsn));
    assert!(m.header_raw("Content-Transfer-Encoding").is_none());
}

#[test]
fn header_only_overrides_ret_full() {
    let rcpts = three_failed();
    let mut i = input(&rcpts, ORIGINAL, Ret::Full);
    i.header_only = true;
    let dsn = dsn::build(&i);
    let m = parse(&dsn);
    let parts = report_parts(&m, "delivery-status");
    assert_eq!(mime_type(parts[2]), "text/rfc822-headers");
    assert_eq!(raw_body(&m, parts[2]), HEADER);
    assert!(!contains(&dsn, b"the numbers are attached"));
}

#[test]
fn delay_notice_says_until_when() {
    let rcpts = vec![DsnRcpt {
        original: None,
        final_recipient: "slow@example.com".into(),
        action: Kind::Delay,
        status: "4.4.1".into(),
        remote_mta: None,
        diagnostic: Some("connect to mx.example.com[192.0.2.9]:25: Connection timed out".into()),
        last_attempt: Some(at(1_700_014_000)),
        will_retry_until: Some(at(1_700_000_000 + 5 * 86_400)),
    }];
    let mut i = input(&rcpts, ORIGINAL, Ret::Hdrs);
    i.now = at(1_700_000_000 + 4 * 3600);
    let dsn = dsn::build(&i);
    assert_line_discipline(&dsn);
    let m = parse(&dsn);
    assert_eq!(m.subject(), Some("Delayed Mail (still being retried)"));
    let parts = report_parts(&m, "delivery-status");
    let human = flat(parts[0].text_contents().unwrap());
    assert!(human.contains("THIS IS A WARNING ONLY"));
    assert!(human.contains("could not be delivered for 4.0 hours"));
    assert!(human.contains("retried until it is 5.0 days old"));
    let blocks = status_blocks(parts[1].contents());
    assert_eq!(blocks.len(), 2);
    assert_eq!(get(&blocks[1], "Action"), Some("delayed"));
    assert_eq!(get(&blocks[1], "Status"), Some("4.4.1"));
    assert_eq!(
        get(&blocks[1], "Will-Retry-Until"),
        Some("Sun, 19 Nov 2023 22:13:20 +0000")
    );
    // Not an SMTP reply: typed as our own diagnostic, not "smtp".
    assert_eq!(
        get(&blocks[1], "Diagnostic-Code"),
        Some("x-smx; connect to mx.example.com[192.0.2.9]:25: Connection timed out")
    );
    assert_eq!(
        parts[2].content_description(),
        Some("Delayed Message Headers")
    );
}

#[test]
fn original_without_body_separator() {
    let rcpts = three_failed();
    let no_sep = b"Received: by x\r\nSubject: no body at all\r\n";
    let dsn = dsn::build(&input(&rcpts, no_sep, Ret::Hdrs));
    assert_line_discipline(&dsn);
    let m = parse(&dsn);
    let parts = report_parts(&m, "delivery-status");
    assert_eq!(raw_body(&m, parts[2]), no_sep);

    // Header lines followed directly by text: the header ends there.
    let run_on = b"Subject: x\r\nthis is body text\r\n";
    let dsn = dsn::build(&input(&rcpts, run_on, Ret::Hdrs));
    let m = parse(&dsn);
    assert_eq!(
        raw_body(&m, report_parts(&m, "delivery-status")[2]),
        b"Subject: x\r\n"
    );

    // RET=FULL of the same returns it whole, with a final CRLF added.
    let dsn = dsn::build(&input(&rcpts, b"Subject: x\r\nno final newline", Ret::Full));
    assert_line_discipline(&dsn);
    let m = parse(&dsn);
    let parts = report_parts(&m, "delivery-status");
    assert_eq!(
        raw_body(&m, parts[2]),
        b"Subject: x\r\nno final newline\r\n"
    );
}

#[test]
fn odd_originals_never_break_the_report() {
    let rcpts = three_failed();
    let cases: [&[u8]; 5] = [
        b"",
        b"\r\n\r\n",
        b"no header here\nbare LF lines\rand a bare CR",
        b"Subject: \xff\xfe latin-1 \xe9\r\n\r\n\x00\x01binary\r\n",
        b"--4SVk2r0Xyz.1700000600/mx.example.org\r\n\r\n--4SVk2r0Xyz.1700000600/mx.example.org.1--\r\n",
    ];
    for original in cases {
        for ret in [Ret::Hdrs, Ret::Full] {
            let dsn = dsn::build(&input(&rcpts, original, ret));
            assert_line_discipline(&dsn);
            let m = parse(&dsn);
            let parts = report_parts(&m, "delivery-status");
            assert_eq!(status_blocks(parts[1].contents()).len(), 4, "{original:?}");
        }
    }
}

#[test]
fn boundary_does_not_occur_in_the_content() {
    let rcpts = three_failed();
    let first = "4SVk2r0Xyz.1700000600/mx.example.org";
    let original = format!("Subject: trap\r\n\r\n--{first}\r\n--{first}--\r\n");
    let dsn = dsn::build(&input(&rcpts, original.as_bytes(), Ret::Full));
    let m = parse(&dsn);
    let parts = report_parts(&m, "delivery-status");
    assert_eq!(raw_body(&m, parts[2]), original.as_bytes());
    let boundary = m
        .root_part()
        .content_type()
        .unwrap()
        .attribute("boundary")
        .unwrap();
    assert_ne!(boundary, first);
    assert!(!contains(original.as_bytes(), boundary.as_bytes()));
}

#[test]
fn long_diagnostic_is_folded() {
    let long = format!(
        "550 5.7.1 {}",
        "policy text that goes on and on ".repeat(60)
    );
    let huge_word = format!("550 5.7.1 {}", "x".repeat(3000));
    let rcpts = vec![
        failed("a@example.com", "5.7.1", &long),
        failed("b@example.com", "5.7.1", &huge_word),
    ];
    let dsn = dsn::build(&input(&rcpts, ORIGINAL, Ret::Hdrs));
    assert_line_discipline(&dsn);
    let m = parse(&dsn);
    let parts = report_parts(&m, "delivery-status");
    let raw = std::str::from_utf8(parts[1].contents()).unwrap();
    let diag_lines = raw
        .split("\r\n")
        .skip_while(|l| !l.starts_with("Diagnostic-Code:"))
        .take_while(|l| l.starts_with("Diagnostic-Code:") || l.starts_with(' '))
        .collect::<Vec<_>>();
    assert!(diag_lines.len() > 10, "folded over several lines");
    assert!(diag_lines.iter().all(|l| l.len() <= 78));
    let blocks = status_blocks(parts[1].contents());
    // Folding at spaces unfolds to the same text (RFC 5322 §2.2.3).
    assert_eq!(
        get(&blocks[1], "Diagnostic-Code"),
        Some(format!("smtp; {}", long.trim_end()).as_str())
    );
    assert!(get(&blocks[2], "Diagnostic-Code")
        .unwrap()
        .starts_with("smtp; 550 5.7.1 xxx"));
    // The human part wraps too.
    let human = parts[0].text_contents().unwrap();
    assert!(human
        .split("\r\n")
        .all(|l| l.len() <= 78 || !l.trim_start().contains(' ')));
    assert!(human.contains("\r\n    policy text"));
    assert!(flat(human).contains(long.trim_end()));
}

#[test]
fn eight_bit_original_is_labelled() {
    let rcpts = three_failed();
    let original = "Subject: =?utf-8?q?caf=C3=A9?=\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\ncaf\u{e9} cr\u{e8}me\r\n";
    let dsn = dsn::build(&input(&rcpts, original.as_bytes(), Ret::Full));
    assert_line_discipline(&dsn);
    assert!(dsn::is_8bit(&dsn));
    let m = parse(&dsn);
    assert_eq!(
        m.header_raw("Content-Transfer-Encoding").map(str::trim),
        Some("8bit")
    );
    let parts = report_parts(&m, "delivery-status");
    assert_eq!(mime_type(parts[2]), "message/rfc822");
    assert_eq!(parts[2].content_transfer_encoding(), Some("8bit"));
    assert_eq!(raw_body(&m, parts[2]), original.as_bytes());
    // The generated parts stay 7-bit.
    assert!(parts[0].content_transfer_encoding().is_none());
    assert!(parts[1].content_transfer_encoding().is_none());
    // The same as headers only is 7-bit: the 8-bit octets are in the body.
    let i = input(&rcpts, original.as_bytes(), Ret::Hdrs);
    let dsn = dsn::build(&i);
    assert!(!dsn::is_8bit(&dsn));
    assert_eq!(dsn::sender_params(&i, &dsn), "");
    let i = input(&rcpts, original.as_bytes(), Ret::Full);
    assert_eq!(dsn::sender_params(&i, &dsn::build(&i)), "BODY=8BITMIME");
}

#[test]
fn smtputf8_original_gets_a_global_report() {
    let mut rcpts = three_failed();
    rcpts[0].final_recipient = "j\u{f6}rg@b\u{fc}cher.example".into();
    rcpts[0].original = Some(("utf-8".into(), "j\u{f6}rg@b\u{fc}cher.example".into()));
    let original = "From: s@example.net\r\nTo: j\u{f6}rg@b\u{fc}cher.example\r\nSubject: gr\u{fc}\u{df}e\r\n\r\nhallo\r\n";
    let dsn = dsn::build(&input(&rcpts, original.as_bytes(), Ret::Hdrs));
    assert_line_discipline(&dsn);
    let m = parse(&dsn);
    let parts = report_parts(&m, "global-delivery-status");
    assert_eq!(mime_type(parts[1]), "message/global-delivery-status");
    assert_eq!(mime_type(parts[2]), "message/global-headers");
    let blocks = status_blocks(parts[1].contents());
    assert_eq!(
        get(&blocks[1], "Final-Recipient"),
        Some("utf-8; j\u{f6}rg@b\u{fc}cher.example")
    );
    assert_eq!(
        get(&blocks[1], "Original-Recipient"),
        Some("utf-8;j\u{f6}rg@b\u{fc}cher.example")
    );
    assert_eq!(
        get(&blocks[2], "Final-Recipient"),
        Some("rfc822; b@example.com")
    );
    assert_eq!(parts[1].content_transfer_encoding(), Some("8bit"));
    let human = flat(parts[0].text_contents().unwrap());
    assert!(human.contains("<j\u{f6}rg@b\u{fc}cher.example>"));
    let i = input(&rcpts, original.as_bytes(), Ret::Hdrs);
    assert_eq!(dsn::sender_params(&i, &dsn), "BODY=8BITMIME SMTPUTF8");
    assert_eq!(
        parts[0].content_type().unwrap().attribute("charset"),
        Some("utf-8")
    );
}

#[test]
fn chunks_split_recipients_per_dsn() {
    let rcpts: Vec<DsnRcpt> = (0..5)
        .map(|n| failed(&format!("r{n}@example.com"), "5.1.1", "550 5.1.1 unknown"))
        .collect();
    let groups = dsn::chunks(&rcpts, 2);
    assert_eq!(groups.len(), 3);
    for g in &groups {
        let dsn = dsn::build(&input(g, ORIGINAL, Ret::Hdrs));
        let m = parse(&dsn);
        let blocks = status_blocks(report_parts(&m, "delivery-status")[1].contents());
        assert_eq!(blocks.len(), 1 + g.len());
    }
}

/// Text with every run of white space (line breaks of wrapped
/// paragraphs included) as one space.
fn flat(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

//! The checks of the fuzz targets `smtp_command` and `smtp_session` (the
//! cargo-fuzz project `fuzz/` at the top of the repository), shared with the
//! test that replays their corpora under stable `cargo test`
//! (`tests/fuzz_corpus.rs`). Each check panics when the input breaks an
//! invariant of the SMTP server (RFC 5321 §4.1 syntax, §4.2 reply format,
//! RFC 3030 CHUNKING, sendmail X README §3.10); not for production use.

use crate::smtps::address::{self, ForwardPath, MailParams, ParamContext, RcptParams, ReversePath};
use crate::smtps::command::{self, Command, ParseError};
use crate::smtps::{events, sasl};
use crate::smtps::{serve, Backend, Envelope, Peer, Reply, SessionInfo, Verdict};
use smx_grammar::config::SmtpsConf;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One client line as an AUTH response (base64, `*`, `=`): a decoded
/// PLAIN message yields a user and password without NUL, a LOGIN field is
/// the text decoded; and as log text: what [`events::printable`] makes of
/// it is printable ASCII without a bare `"`, and [`events::command`] keeps
/// no more than the mechanism of an AUTH line.
fn check_sasl_and_log(line: &[u8]) {
    if let Ok(text) = std::str::from_utf8(line) {
        if let Ok(msg) = sasl::decode(text) {
            if let Ok(c) = sasl::plain(&msg) {
                assert!(!c.user.is_empty() && !c.user.contains('\0') && !c.password.contains('\0'));
            }
            if let Ok(field) = sasl::login_field(&msg) {
                assert_eq!(field.as_bytes(), msg.as_slice());
                assert_eq!(sasl::decode(&sasl::encode(&field)).ok(), Some(msg));
            }
        }
    }
    let p = events::printable(line);
    assert!(p.bytes().all(|b| (0x20..=0x7e).contains(&b)), "{p:?}");
    assert!(p.len() <= events::TEXT_MAX * 4 + 3, "{}", p.len());
    let unescaped_quote = p
        .as_bytes()
        .windows(2)
        .any(|w| w[1] == b'"' && w[0] != b'\\');
    assert!(!unescaped_quote && !p.starts_with('"'), "{p:?}");
    let logged = events::command(line);
    let verb = line.split(|&b| b == b' ').next();
    if verb.is_some_and(|v| v.eq_ignore_ascii_case(b"AUTH")) {
        assert!(logged.split(' ').count() <= 2, "{logged:?}");
    }
}

/// `smtp_command`: every line of `bytes` (split at LF, a final CR dropped,
/// lines with another CR skipped as the reader drops them) through
/// [`command::parse`]; MAIL and RCPT arguments through the path and
/// parameter parsers in four session contexts. An accepted path must print
/// as a path that parses back to itself; an error reply must be a
/// well-formed 4xx/5xx reply. Each line also goes through the SASL
/// decoders and the log-line sanitizers (`check_sasl_and_log`).
pub fn smtp_command(bytes: &[u8]) {
    for line in bytes.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.contains(&b'\r') {
            continue;
        }
        check_sasl_and_log(line);
        match command::parse(line) {
            Ok(cmd) => {
                assert!(
                    line.len() + 2 <= command::READ_LINE_MAX,
                    "a line over the reader's limit was parsed: {cmd:?}"
                );
                check_command(&cmd);
            }
            Err(ParseError::Syntax(r)) => check_reply(&r, true),
            Err(ParseError::Unknown | ParseError::TooLong | ParseError::BdatSyntax) => {}
        }
    }
}

/// The four parameter contexts a session can be in.
fn contexts() -> [ParamContext; 4] {
    let c = |esmtp, eightbitmime, max_size| ParamContext {
        esmtp,
        eightbitmime,
        max_size,
    };
    [
        c(false, false, 0),
        c(true, false, 0),
        c(true, true, 10_240),
        c(true, true, u64::MAX),
    ]
}

fn check_command(cmd: &Command) {
    match cmd {
        Command::Ehlo(d) | Command::Helo(d) => {
            assert!(!d.is_empty() && d.trim() == d, "hello argument {d:?}");
            let _ = address::is_helo_domain(d);
        }
        Command::Mail(arg) => {
            for ctx in contexts() {
                match address::parse_mail(arg, &ctx) {
                    Ok((path, params)) => mail_round_trip(&path, &params, &ctx),
                    Err(r) => check_reply(&r, true),
                }
            }
        }
        Command::Rcpt(arg) => {
            for ctx in contexts() {
                for utf8 in [false, true] {
                    match address::parse_rcpt(arg, &ctx, utf8) {
                        Ok((path, params)) => rcpt_round_trip(&path, &params, &ctx, utf8),
                        Err(r) => check_reply(&r, true),
                    }
                }
            }
        }
        Command::Auth(a) => assert!(!a.is_empty() && a.trim() == a, "AUTH argument {a:?}"),
        _ => {}
    }
}

fn mail_round_trip(path: &ReversePath, params: &MailParams, ctx: &ParamContext) {
    if !ctx.esmtp {
        assert_eq!(params, &MailParams::default(), "parameters without EHLO");
    }
    if let Some(size) = params.size {
        assert!(
            ctx.max_size == 0 || size <= ctx.max_size,
            "SIZE={size} over {}",
            ctx.max_size
        );
    }
    let shown = path.to_string();
    let arg = if params.smtputf8 {
        format!("{shown} SMTPUTF8")
    } else {
        shown.clone()
    };
    match address::parse_mail(&arg, ctx) {
        Ok((again, _)) => assert_eq!(&again, path, "MAIL FROM:{shown} reads back otherwise"),
        Err(r) => panic!("MAIL FROM:{arg} (printed from an accepted path) is refused: {r:?}"),
    }
}

fn rcpt_round_trip(path: &ForwardPath, params: &RcptParams, ctx: &ParamContext, utf8: bool) {
    if !ctx.esmtp {
        assert_eq!(params, &RcptParams::default(), "parameters without EHLO");
    }
    let shown = path.to_string();
    match address::parse_rcpt(&shown, ctx, utf8) {
        Ok((again, _)) => assert_eq!(&again, path, "RCPT TO:{shown} reads back otherwise"),
        Err(r) => panic!("RCPT TO:{shown} (printed from an accepted path) is refused: {r:?}"),
    }
}

/// A reply must be one or more CRLF lines `ddd-text` / `ddd text` with the
/// same code (RFC 5321 §4.2.1); `error` replies are 4xx or 5xx.
fn check_reply(r: &Reply, error: bool) {
    if error {
        assert!((400..600).contains(&r.code), "error reply {r:?}");
    }
    check_wire(&r.to_wire());
}

/// Checks the server's output: complete reply lines only.
fn check_wire(out: &[u8]) {
    let mut rest = out;
    while !rest.is_empty() {
        let Some(end) = rest.windows(2).position(|w| w == b"\r\n") else {
            panic!(
                "reply output does not end in CRLF: {:?}",
                String::from_utf8_lossy(rest)
            );
        };
        let line = &rest[..end];
        assert!(
            line.len() >= 3 && line[..3].iter().all(u8::is_ascii_digit),
            "reply line without a code: {:?}",
            String::from_utf8_lossy(line)
        );
        assert!(
            line.len() == 3 || line[3] == b' ' || line[3] == b'-',
            "reply line {:?}",
            String::from_utf8_lossy(line)
        );
        assert!(
            !line.contains(&b'\r') && !line.contains(&b'\n'),
            "bare CR or LF in a reply line: {:?}",
            String::from_utf8_lossy(line)
        );
        rest = &rest[end + 2..];
    }
}

/// A backend that accepts every client, sender and recipient and keeps
/// the messages it is given.
#[derive(Default)]
struct AcceptAll {
    messages: Mutex<Vec<(Envelope, Vec<u8>)>>,
}

impl Backend for AcceptAll {
    async fn connect(&self, _: &Peer) -> Verdict {
        Verdict::Accept
    }
    async fn mail(&self, _: &SessionInfo, _: &ReversePath, _: &MailParams) -> Verdict {
        Verdict::Accept
    }
    async fn rcpt(&self, _: &SessionInfo, _: &ForwardPath, _: &RcptParams) -> Verdict {
        Verdict::Accept
    }
    async fn deliver(&self, envelope: &Envelope, content: Vec<u8>) -> Result<String, Reply> {
        let mut m = self.messages.lock().unwrap_or_else(|e| e.into_inner());
        m.push((envelope.clone(), content));
        Ok(format!("FUZZ{}", m.len()))
    }
}

/// The smtps configurations the session target picks from with the first
/// input byte: 8bitmime, soft_bounce, strict_ehlo_checks, low limits.
fn session_conf(selector: u8) -> Option<&'static SmtpsConf> {
    static CONFS: OnceLock<Vec<Option<SmtpsConf>>> = OnceLock::new();
    let confs = CONFS.get_or_init(|| {
        (0u8..16)
            .map(|i| {
                let mut flags = Vec::new();
                for (bit, flag) in [
                    (1, "8bitmime"),
                    (2, "soft_bounce"),
                    (4, "strict_ehlo_checks"),
                ] {
                    if i & bit != 0 {
                        flags.push(flag);
                    }
                }
                let limits = if i & 8 != 0 {
                    "max_message_size = 2KB; max_recipients_per_transaction = 3; \
                     max_transactions = 3; max_bad_commands_per_session = 4; \
                     max_nop_commands_between_transactions = 3; max_hops = 3;"
                } else {
                    "max_message_size = 64KB;"
                };
                let flags = if flags.is_empty() {
                    String::new()
                } else {
                    format!("flags = {{{}}};", flags.join(", "))
                };
                let text = format!("smtps {{ io_timeout = 5s; {flags} {limits} }}\n");
                smx_grammar::check_str("fuzz.conf", &text)
                    .config
                    .and_then(|c| c.global.smtps.into_iter().next())
                    .map(|s| s.conf)
            })
            .collect()
    });
    confs
        .get(usize::from(selector & 15))
        .and_then(Option::as_ref)
}

/// How long one fuzzed session may take before it counts as a hang.
const SESSION_LIMIT: Duration = Duration::from_secs(10);

/// `smtp_session`: a whole SMTP session (`smtps::serve`) over an in-memory
/// pipe. The first byte picks the configuration, the rest is what the
/// client sends after the greeting, then it closes its side. The session
/// must end, its output must be well-formed replies, and every stored
/// message must start with `Received:` and hold no bare CR or LF (the
/// smuggling decision of `smtps/data.rs`).
pub fn smtp_session(bytes: &[u8]) {
    let Some((&selector, input)) = bytes.split_first() else {
        return;
    };
    let Some(conf) = session_conf(selector) else {
        panic!("the session configuration {selector} does not load");
    };
    let Ok(rt) = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
    else {
        panic!("no tokio runtime");
    };
    let backend = AcceptAll::default();
    let output = rt.block_on(async {
        let (client, server) = tokio::io::duplex(64 * 1024);
        let (mut rd, mut wr) = tokio::io::split(client);
        let session = serve(server, Peer::default(), conf, "mx.fuzz.example", &backend);
        let talk = async {
            let mut out = Vec::new();
            // The greeting first: input before it is an early talker.
            let mut byte = [0u8; 1];
            while !out.ends_with(b"\r\n") {
                match rd.read(&mut byte).await {
                    Ok(1) => out.push(byte[0]),
                    _ => return out,
                }
            }
            let send = async {
                let _ = wr.write_all(input).await;
                let _ = wr.shutdown().await;
            };
            let _ = tokio::join!(send, rd.read_to_end(&mut out));
            out
        };
        match tokio::time::timeout(SESSION_LIMIT, async { tokio::join!(session, talk) }).await {
            Ok(((), out)) => out,
            Err(_) => panic!("the session did not end within {SESSION_LIMIT:?}"),
        }
    });
    assert!(output.starts_with(b"220 "), "no greeting: {output:?}");
    check_wire(&output);
    let messages = backend.messages.lock().unwrap_or_else(|e| e.into_inner());
    for (envelope, content) in messages.iter() {
        assert!(
            !envelope.recipients.is_empty(),
            "a message without recipients"
        );
        assert!(
            content.starts_with(b"Received: "),
            "message without Received:"
        );
        assert!(content.ends_with(b"\r\n"), "message does not end in CRLF");
        for (i, &b) in content.iter().enumerate() {
            let ok = match b {
                b'\r' => content.get(i + 1) == Some(&b'\n'),
                b'\n' => i > 0 && content[i - 1] == b'\r',
                _ => true,
            };
            assert!(ok, "bare CR or LF at offset {i} of a stored message");
        }
        if conf.max_message_size > 0 {
            assert!(
                content.len() as u64 <= conf.max_message_size + 1024,
                "a message of {} bytes was stored over max_message_size {}",
                content.len(),
                conf.max_message_size
            );
        }
    }
}

//! The check of the fuzz target `control` (the cargo-fuzz project `fuzz/` at
//! the top of the repository), shared with the test that replays its corpus
//! under stable `cargo test` (`tests/fuzz_corpus.rs`). Not for production
//! use.
//!
//! The input is what a client sends on the control socket (smx-control(5),
//! seed 002 §3.8 `control_socket`): the dispatcher [`crate::serve`] reads
//! it over an in-memory pipe with the in-memory [`FakeBackend`] and must
//! answer every request line with exactly one well-formed response. Each
//! line is also read as the client reads responses and events, and as a
//! [`Filter`], and the first line is matched as a `pattern<TAB>text` pair
//! by [`glob`] against a plain backtracking matcher.

use crate::fake::{self, FakeBackend};
use crate::{glob, Event, Filter, Response, MAX_REQUEST};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How long one fuzzed connection may take before it counts as a hang.
const CONNECTION_LIMIT: Duration = Duration::from_secs(10);

/// Runs the server, the client-side parsers and [`glob`] on `bytes`.
pub fn control(bytes: &[u8]) {
    server(bytes);
    let text = String::from_utf8_lossy(bytes);
    for line in bytes.split(|&b| b == b'\n') {
        client_line(line);
    }
    if let Some((pattern, subject)) = text.lines().next().and_then(|l| l.split_once('\t')) {
        let fast = glob(pattern, subject);
        let slow = reference_glob(pattern, subject);
        assert_eq!(fast, slow, "glob({pattern:?}, {subject:?})");
    }
}

/// The request lines the server must answer: every `\n`-terminated line
/// (and a final unterminated one) that is not all white space.
fn request_lines(bytes: &[u8]) -> usize {
    let mut parts: Vec<&[u8]> = bytes.split(|&b| b == b'\n').collect();
    if parts.last().is_some_and(|l| l.is_empty()) {
        parts.pop();
    }
    parts
        .iter()
        .filter(|l| {
            // Long lines are answered `too_large` whatever they hold.
            l.len() > MAX_REQUEST || !l.iter().all(u8::is_ascii_whitespace)
        })
        .count()
}

fn server(bytes: &[u8]) {
    let Ok(rt) = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
    else {
        panic!("no tokio runtime");
    };
    let backend = Arc::new(FakeBackend::new(fake::entries(12)));
    let input = bytes.to_vec();
    let output = rt.block_on(async move {
        let (client, server) = tokio::io::duplex(64 * 1024);
        let served = tokio::spawn(crate::serve(server, backend));
        let (mut rd, mut wr) = tokio::io::split(client);
        let send = async {
            let _ = wr.write_all(&input).await;
            let _ = wr.shutdown().await;
        };
        let mut out = Vec::new();
        let talk = async {
            let _ = tokio::join!(send, rd.read_to_end(&mut out));
        };
        if tokio::time::timeout(CONNECTION_LIMIT, talk).await.is_err() {
            panic!("the control connection did not end within {CONNECTION_LIMIT:?}");
        }
        let _ = served.await;
        out
    });
    let mut responses = 0;
    for line in output.split(|&b| b == b'\n') {
        if line.is_empty() {
            continue;
        }
        if serde_json::from_slice::<Response>(line).is_ok() {
            responses += 1;
        } else if serde_json::from_slice::<Event>(line).is_err() {
            panic!(
                "the server wrote a line that is neither a response nor an event: {:?}",
                String::from_utf8_lossy(line)
            );
        }
    }
    assert!(
        output.is_empty() || output.ends_with(b"\n"),
        "unterminated output"
    );
    let expected = request_lines(bytes);
    assert_eq!(
        responses, expected,
        "{expected} request lines got {responses} responses"
    );
}

/// What the client does with a line from the server, and the filter of a
/// request: whatever parses must write and read back the same.
fn client_line(line: &[u8]) {
    if let Ok(r) = serde_json::from_slice::<Response>(line) {
        let again = serde_json::to_vec(&r)
            .ok()
            .and_then(|v| serde_json::from_slice::<Response>(&v).ok());
        let Some(again) = again else {
            panic!("a response does not write back: {r:?}");
        };
        assert_eq!((r.id, r.ok, &r.error), (again.id, again.ok, &again.error));
        assert_eq!(
            r.result.as_ref().map(|v| v.get()),
            again.result.as_ref().map(|v| v.get())
        );
    }
    if let Ok(e) = serde_json::from_slice::<Event>(line) {
        let again = serde_json::to_vec(&e)
            .ok()
            .and_then(|v| serde_json::from_slice::<Event>(&v).ok());
        assert_eq!(Some(&e), again.as_ref(), "an event does not write back");
    }
    if let Ok(f) = serde_json::from_slice::<Filter>(line) {
        for e in fake::entries(12) {
            let _ = f.matches(&e);
        }
    }
}

/// The specification of [`glob`] as a plain recursive matcher (small
/// inputs only): `*`, `?`, `[...]`/`[!...]` classes, `\` escapes, ASCII
/// case ignored, an unclosed `[` literal.
fn reference_glob(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().map(|c| c.to_ascii_lowercase()).collect();
    let t: Vec<char> = text.chars().map(|c| c.to_ascii_lowercase()).collect();
    if p.len() * t.len() > 10_000 {
        return glob(pattern, text);
    }
    let mut memo = vec![vec![None; t.len() + 1]; p.len() + 1];
    matches_at(&p, &t, 0, 0, &mut memo)
}

fn matches_at(
    p: &[char],
    t: &[char],
    pi: usize,
    ti: usize,
    memo: &mut [Vec<Option<bool>>],
) -> bool {
    if let Some(r) = memo[pi][ti] {
        return r;
    }
    let r = match p.get(pi) {
        None => ti == t.len(),
        Some('*') => {
            matches_at(p, t, pi + 1, ti, memo)
                || (ti < t.len() && matches_at(p, t, pi, ti + 1, memo))
        }
        Some(_) if ti == t.len() => false,
        Some('?') => matches_at(p, t, pi + 1, ti + 1, memo),
        Some('[') => match class_len(&p[pi..]) {
            Some(len) => {
                class_hit(&p[pi..pi + len], t[ti]) && matches_at(p, t, pi + len, ti + 1, memo)
            }
            None => t[ti] == '[' && matches_at(p, t, pi + 1, ti + 1, memo),
        },
        Some('\\') if pi + 1 < p.len() => {
            p[pi + 1] == t[ti] && matches_at(p, t, pi + 2, ti + 1, memo)
        }
        Some(&c) => c == t[ti] && matches_at(p, t, pi + 1, ti + 1, memo),
    };
    memo[pi][ti] = Some(r);
    r
}

/// The length of the class at `p[0] == '['` up to its `]`: a `]` right
/// after `[` or `[!` is a member.
fn class_len(p: &[char]) -> Option<usize> {
    let mut i = 1;
    if matches!(p.get(i), Some('!') | Some('^')) {
        i += 1;
    }
    let mut first = true;
    loop {
        let c = *p.get(i)?;
        if c == ']' && !first {
            return Some(i + 1);
        }
        first = false;
        if p.get(i + 1) == Some(&'-') && p.get(i + 2).is_some_and(|&h| h != ']') {
            i += 3;
        } else {
            i += 1;
        }
    }
}

fn class_hit(class: &[char], c: char) -> bool {
    let body = &class[1..class.len() - 1];
    let (negate, body) = match body.first() {
        Some('!') | Some('^') => (true, &body[1..]),
        _ => (false, body),
    };
    let mut hit = false;
    let mut i = 0;
    while i < body.len() {
        if body.get(i + 1) == Some(&'-') && i + 2 < body.len() {
            hit |= body[i] <= c && c <= body[i + 2];
            i += 3;
        } else {
            hit |= body[i] == c;
            i += 1;
        }
    }
    hit != negate
}

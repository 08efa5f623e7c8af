//! From text to [`Document`]: the pest grammar in `smx.pest` (README §3.2,
//! §3.3) and the translation of pest's failures into diagnostics that speak
//! the user's words ("expected `;` after the value of `port`").

use crate::ast::{Document, Entry, Ident, OptionNode, Part, Rhs, SectionNode, Source, Span, Value};
use crate::diag::{codes, Diagnostic};
use pest::error::InputLocation;
use pest::iterators::Pair;
use pest::Parser as _;

mod generated {
    #![allow(missing_docs)]
    #[derive(pest_derive::Parser)]
    #[grammar = "smx.pest"]
    pub struct SmxParser;
}
use generated::{Rule, SmxParser};

/// Parses a configuration text. A syntax error stops the parse: the result
/// is the one diagnostic that says where and why.
#[allow(clippy::result_large_err)]
pub fn parse(source: Source) -> Result<Document, (Source, Diagnostic)> {
    if let Some(d) = check_strings(&source.text) {
        return Err((source, d));
    }
    let pairs = match SmxParser::parse(Rule::file, &source.text) {
        Ok(p) => p,
        Err(e) => {
            let d = syntax_error(&source.text, &e);
            return Err((source, d));
        }
    };
    let mut entries = Vec::new();
    for pair in pairs.flatten().take(1) {
        for p in pair.into_inner() {
            if let Some(e) = entry(p) {
                entries.push(e);
            }
        }
    }
    Ok(Document { source, entries })
}

fn span_of(p: &Pair<'_, Rule>) -> Span {
    let s = p.as_span();
    Span::new(s.start(), s.end())
}

fn ident(p: Pair<'_, Rule>) -> Ident {
    Ident {
        text: p.as_str().to_string(),
        span: span_of(&p),
    }
}

fn entry(p: Pair<'_, Rule>) -> Option<Entry> {
    let span = span_of(&p);
    match p.as_rule() {
        Rule::option | Rule::flag_list => {
            let mut name = None;
            let mut rhs = None;
            for q in p.into_inner() {
                match q.as_rule() {
                    Rule::name => name = Some(ident(q)),
                    Rule::list => rhs = Some(list(q)),
                    Rule::value => rhs = Some(Rhs::Single(value(q))),
                    _ => {}
                }
            }
            Some(Entry::Option(OptionNode {
                name: name?,
                rhs: rhs?,
                span,
            }))
        }
        Rule::section => {
            let mut keyword = None;
            let mut name = None;
            let mut entries = Vec::new();
            for q in p.into_inner() {
                match q.as_rule() {
                    Rule::name => keyword = Some(ident(q)),
                    Rule::section_name => name = Some(ident(q)),
                    Rule::option | Rule::section | Rule::flag_list => entries.extend(entry(q)),
                    _ => {}
                }
            }
            Some(Entry::Section(SectionNode {
                keyword: keyword?,
                name,
                entries,
                span,
            }))
        }
        _ => None,
    }
}

fn list(p: Pair<'_, Rule>) -> Rhs {
    let span = span_of(&p);
    let items = p
        .into_inner()
        .filter(|q| q.as_rule() == Rule::value)
        .map(value)
        .collect();
    Rhs::List { items, span }
}

fn value(p: Pair<'_, Rule>) -> Value {
    let span = span_of(&p);
    let parts = p
        .into_inner()
        .filter_map(|q| match q.as_rule() {
            Rule::word => Some(Part::Word(q.as_str().to_string())),
            Rule::string => {
                let raw = q.into_inner().next().map_or("", |c| c.as_str());
                Some(Part::Quoted(unescape(raw)))
            }
            _ => None,
        })
        .collect();
    Value { parts, span }
}

/// Decodes the C escapes of a quoted string. Unknown escapes were rejected
/// by [`check_strings`] before the parse.
fn unescape(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('a') => out.push('\u{07}'),
            Some('b') => out.push('\u{08}'),
            Some('f') => out.push('\u{0C}'),
            Some('v') => out.push('\u{0B}'),
            Some('x') => {
                let mut v = 0u32;
                let mut n = 0;
                while n < 2 {
                    match chars.peek().and_then(|c| c.to_digit(16)) {
                        Some(d) => {
                            v = v * 16 + d;
                            chars.next();
                            n += 1;
                        }
                        None => break,
                    }
                }
                out.extend(char::from_u32(v));
            }
            Some(d @ '0'..='7') => {
                let mut v = d.to_digit(8).unwrap_or(0);
                let mut n = 1;
                while n < 3 {
                    match chars.peek().and_then(|c| c.to_digit(8)) {
                        Some(d) => {
                            v = v * 8 + d;
                            chars.next();
                            n += 1;
                        }
                        None => break,
                    }
                }
                out.extend(char::from_u32(v));
            }
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}

/// Finds unterminated strings and unknown escapes before pest does, so that
/// they get their own codes and point at the right place.
fn check_strings(text: &str) -> Option<Diagnostic> {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'"' => {
                let start = i;
                i += 1;
                loop {
                    match bytes.get(i) {
                        None | Some(b'\n') => {
                            return Some(
                                Diagnostic::error(
                                    codes::UNTERMINATED_STRING,
                                    Span::new(start, i),
                                    "this string has no closing `\"` on its line",
                                )
                                .with_hint(
                                    "close it before the line ends; a long string can be \
                                     split into \"...\" \"...\" pieces on several lines",
                                ),
                            )
                        }
                        Some(b'"') => break,
                        Some(b'\\') => {
                            match bytes.get(i + 1) {
                                Some(
                                    b'n'
                                    | b't'
                                    | b'r'
                                    | b'a'
                                    | b'b'
                                    | b'f'
                                    | b'v'
                                    | b'x'
                                    | b'\\'
                                    | b'"'
                                    | b'\''
                                    | b'?'
                                    | b'0'..=b'7',
                                ) => {}
                                _ => {
                                    let shown = text
                                        .get(i..)
                                        .and_then(|s| s.chars().nth(1))
                                        .map_or(String::new(), |c| c.to_string());
                                    return Some(
                                        Diagnostic::error(
                                            codes::BAD_ESCAPE,
                                            Span::new(i, i + 1 + shown.len()),
                                            format!("unknown escape `\\{shown}` in a string"),
                                        )
                                        .with_hint(
                                            "C escapes are allowed: \\n \\t \\\\ \\\" \\xHH \\ooo; \
                                             write `\\\\` for a backslash",
                                        ),
                                    );
                                }
                            }
                            i += 2;
                            continue;
                        }
                        Some(_) => {}
                    }
                    i += 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// What the parser was in the middle of when it failed, found by reading
/// the tokens before the failure.
#[derive(Debug, PartialEq)]
enum Context {
    /// Reading the value of option `name`.
    Value(String),
    /// Reading the list of option `name`.
    List(String),
    /// After a name, before `=` or `{`.
    AfterName(String),
    /// Inside section `name` (or at top level with `None`), between entries.
    Entries(Option<String>),
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    Str,
    Open,
    Close,
    Assign,
    Semi,
    Comma,
}

fn tokens(text: &str, upto: usize) -> Vec<(Tok, usize, usize)> {
    let b = text.as_bytes();
    let end = upto.min(b.len());
    let mut out = Vec::new();
    let mut i = 0;
    while i < end {
        let c = b[i];
        match c {
            b' ' | b'\t' | b'\r' | b'\n' | 0x0c => i += 1,
            b'#' => {
                while i < end && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'"' => {
                let s = i;
                i += 1;
                while i < end && b[i] != b'"' {
                    if b[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
                i += 1;
                out.push((Tok::Str, s, i.min(end)));
            }
            b'{' | b'}' | b'=' | b';' | b',' => {
                let t = match c {
                    b'{' => Tok::Open,
                    b'}' => Tok::Close,
                    b'=' => Tok::Assign,
                    b';' => Tok::Semi,
                    _ => Tok::Comma,
                };
                out.push((t, i, i + 1));
                i += 1;
            }
            _ => {
                let s = i;
                while i < end && !b" \t\r\n\x0c{}=;,\"#".contains(&b[i]) {
                    i += 1;
                }
                out.push((Tok::Word(text[s..i].to_string()), s, i));
            }
        }
    }
    out
}

fn context(toks: &[(Tok, usize, usize)]) -> Context {
    // Walk backwards over the current statement.
    let mut stack: Vec<Option<String>> = Vec::new();
    let mut state = Context::Entries(None);
    let mut i = 0;
    while i < toks.len() {
        match &toks[i].0 {
            Tok::Word(w) => {
                // name [= ...] or name [name] {
                match toks.get(i + 1).map(|t| &t.0) {
                    Some(Tok::Assign) => {
                        let name = w.clone();
                        i += 2;
                        if let Some((Tok::Open, _, _)) = toks.get(i) {
                            i += 1;
                            state = Context::List(name.clone());
                            while i < toks.len() && toks[i].0 != Tok::Close {
                                i += 1;
                            }
                            if i < toks.len() {
                                state = Context::Entries(stack.last().cloned().flatten());
                                i += 1;
                                if let Some((Tok::Semi, _, _)) = toks.get(i) {
                                    i += 1;
                                }
                            }
                            continue;
                        }
                        state = Context::Value(name.clone());
                        while i < toks.len() && !matches!(toks[i].0, Tok::Semi) {
                            i += 1;
                        }
                        if i < toks.len() {
                            state = Context::Entries(stack.last().cloned().flatten());
                            i += 1;
                        }
                        continue;
                    }
                    Some(Tok::Open) => {
                        stack.push(Some(w.clone()));
                        state = Context::Entries(Some(w.clone()));
                        i += 2;
                        continue;
                    }
                    Some(Tok::Word(_))
                        if matches!(toks.get(i + 2).map(|t| &t.0), Some(Tok::Open)) =>
                    {
                        stack.push(Some(w.clone()));
                        state = Context::Entries(Some(w.clone()));
                        i += 3;
                        continue;
                    }
                    None => {
                        state = Context::AfterName(w.clone());
                        i += 1;
                        continue;
                    }
                    _ => {
                        state = Context::AfterName(w.clone());
                        i += 1;
                        continue;
                    }
                }
            }
            Tok::Close => {
                stack.pop();
                state = Context::Entries(stack.last().cloned().flatten());
                i += 1;
                if let Some((Tok::Semi, _, _)) = toks.get(i) {
                    i += 1;
                }
            }
            _ => i += 1,
        }
    }
    state
}

fn describe(text: &str, pos: usize) -> String {
    let rest = text.get(pos..).unwrap_or("");
    match rest.chars().next() {
        None => "the end of the file".to_string(),
        Some('\n' | '\r') => "the end of the line".to_string(),
        Some(c) if "{};,=\"".contains(c) => format!("`{c}`"),
        Some(_) => {
            let w: String = rest
                .chars()
                .take_while(|c| !c.is_whitespace() && !"{};,=\"#".contains(*c))
                .take(30)
                .collect();
            format!("`{w}`")
        }
    }
}

fn syntax_error(text: &str, e: &pest::error::Error<Rule>) -> Diagnostic {
    let pos = match e.location {
        InputLocation::Pos(p) => p,
        InputLocation::Span((s, _)) => s,
    };
    let found = describe(text, pos);
    let toks = tokens(text, pos);
    let ctx = context(&toks);
    let here = Span::new(pos, (pos + 1).min(text.len()).max(pos));
    let depth = toks.iter().fold(0i64, |d, t| match t.0 {
        Tok::Open => d + 1,
        Tok::Close => d - 1,
        _ => d,
    });
    match ctx {
        Context::Value(name) => {
            // `a = 1 \n b = 2;`: the value swallowed the next option's name;
            // point after the real value.
            if found == "`=`" {
                if let Some(prev) = toks.iter().rev().nth(1) {
                    let at = prev.2;
                    return Diagnostic::error(
                        codes::SYNTAX,
                        Span::new(at, at + 1),
                        format!("expected `;` after the value of `{name}`"),
                    )
                    .with_hint("every option ends with `;`: `name = value;`");
                }
            }
            if toks.last().map(|t| &t.0) == Some(&Tok::Assign) {
                return Diagnostic::error(
                    codes::SYNTAX,
                    here,
                    format!("expected a value for `{name}`, found {found}"),
                )
                .with_hint(format!("write `{name} = value;` or `{name} = {{ a, b }};`"));
            }
            let at = toks.last().map_or(pos, |t| t.2);
            Diagnostic::error(
                codes::SYNTAX,
                Span::new(at, at + 1),
                format!("expected `;` after the value of `{name}`, found {found}"),
            )
            .with_hint("every option ends with `;`: `name = value;`")
        }
        Context::List(name) => Diagnostic::error(
            codes::SYNTAX,
            here,
            format!("expected `,` or `}}` in the list of `{name}`, found {found}"),
        )
        .with_hint(format!("a list is written `{name} = {{ a, b, c }};`")),
        Context::AfterName(name) => {
            // `log_level 9;`: pest fails after the second word, but what is
            // missing is the `=` between the two.
            if let [.., (Tok::Word(first), _, _), (Tok::Word(second), s, e)] = toks.as_slice() {
                if *second == name && found != "`{`" {
                    return Diagnostic::error(
                        codes::SYNTAX,
                        Span::new(*s, *e),
                        format!("expected `=` between `{first}` and `{second}`"),
                    )
                    .with_hint(format!(
                        "an option is written `{first} = {second};`, a named section \
                         `{first} {second} {{ ... }}`"
                    ));
                }
            }
            Diagnostic::error(
                codes::SYNTAX,
                here,
                format!("expected `=` or `{{` after `{name}`, found {found}"),
            )
            .with_hint(format!(
                "an option is written `{name} = value;`, a section `{name} {{ ... }}`"
            ))
        }
        Context::Entries(sec) => {
            if found == "the end of the file" && depth > 0 {
                let what = sec.map_or("a section".to_string(), |s| format!("section `{s}`"));
                return Diagnostic::error(
                    codes::SYNTAX,
                    here,
                    format!("expected `}}` to close {what}, found the end of the file"),
                )
                .with_hint("every `{` needs a matching `}`");
            }
            if found == "`}`" && depth <= 0 {
                return Diagnostic::error(
                    codes::SYNTAX,
                    here,
                    "found `}` with no section open".to_string(),
                )
                .with_hint("remove it, or look for a `{` missing earlier");
            }
            let where_ = sec.map_or("at the top level".to_string(), |s| {
                format!("in section `{s}`")
            });
            Diagnostic::error(
                codes::SYNTAX,
                here,
                format!("expected an option or a section {where_}, found {found}"),
            )
            .with_hint("an option is written `name = value;`, a section `name { ... }`")
        }
    }
}

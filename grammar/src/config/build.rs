//! The machinery behind the `section!` macro: reading a section body against
//! its spec (unknown and duplicate entries, did-you-mean), converting option
//! values to Rust types, and writing typed values back in canonical syntax.

use crate::ast::{Entry, OptionNode, Rhs, SectionNode, Span};
use crate::diag::{codes, suggest, Diagnostic};
use crate::schema::{alias, Item, Kind, Multiplicity, Naming, SectionSpec};
use crate::value::{self, ValueError};
use std::collections::{HashMap, HashSet};
use std::fmt::Debug;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

/// State shared while a configuration is built: findings, and where each
/// option and section was written (for cross-checks and `conf show -n`).
#[derive(Debug, Default)]
pub struct Ctx {
    /// Findings so far.
    pub diags: Vec<Diagnostic>,
    /// Path (`qmgr.defedb.base_directory`, `smar.map[lusers]`) to span.
    pub spans: HashMap<String, Span>,
}

impl Ctx {
    /// Records a finding.
    pub fn push(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    /// Where the option or section at `path` was written, if it was.
    pub fn span(&self, path: &str) -> Option<Span> {
        self.spans.get(path).copied()
    }

    /// True when `path` was written in the file.
    pub fn is_explicit(&self, path: &str) -> bool {
        self.spans.contains_key(path)
    }
}

/// Joins a path and a child name, lower-cased.
pub fn child(path: &str, name: &str) -> String {
    let name = name.to_ascii_lowercase();
    if path.is_empty() {
        name
    } else {
        format!("{path}.{name}")
    }
}

/// The entries of one section body, sorted by the spec item they belong to.
#[derive(Debug, Default)]
pub struct BodyIndex<'a> {
    options: HashMap<&'static str, &'a OptionNode>,
    sections: HashMap<&'static str, Vec<&'a SectionNode>>,
    /// Sections the spec does not know (only collected at the top level).
    pub unknown_sections: Vec<&'a SectionNode>,
}

impl<'a> BodyIndex<'a> {
    /// Sorts `body` by the items of `spec`, reporting unknown entries,
    /// entries of the wrong form and duplicates.
    pub fn new(spec: &SectionSpec, body: &'a [Entry], ctx: &mut Ctx, root: bool) -> Self {
        let mut idx = BodyIndex::default();
        let mut names: HashSet<(&'static str, String)> = HashSet::new();
        let where_ = if spec.keyword.is_empty() {
            "at the top level".to_string()
        } else {
            format!("in section `{}`", spec.keyword)
        };
        for entry in body {
            match entry {
                Entry::Option(o) => {
                    let written = o.name.text.as_str();
                    let canon = alias(spec.keyword, written).unwrap_or(written);
                    match spec
                        .items
                        .iter()
                        .find(|i| item_name(i).eq_ignore_ascii_case(canon))
                    {
                        Some(Item::Option(os)) => {
                            if idx.options.insert(os.name, o).is_some() {
                                ctx.push(
                                    Diagnostic::error(
                                        codes::DUPLICATE_OPTION,
                                        o.name.span,
                                        format!("option `{}` is given twice {where_}", os.name),
                                    )
                                    .with_hint("remove one of them; the last one would win"),
                                );
                            }
                        }
                        Some(Item::Section(ss)) => {
                            // A flag list written without `=` is read as an
                            // option; here the name is a section.
                            let kw = ss.spec.keyword;
                            let first = match &o.rhs {
                                Rhs::List { items, .. } => items.first(),
                                Rhs::Single(_) => None,
                            };
                            // `qmgr { 42 }`, `log { ident }`: a section whose
                            // body holds a bare value; point at the value.
                            let d = match first {
                                Some(v) => Diagnostic::error(
                                    codes::SECTION_AS_OPTION,
                                    v.span,
                                    format!(
                                        "`{kw}` is a section: its body holds options \
                                         (`name = value;`) and sections, not the value `{}`",
                                        v.text()
                                    ),
                                ),
                                None => Diagnostic::error(
                                    codes::SECTION_AS_OPTION,
                                    o.name.span,
                                    format!("`{kw}` is a section, not an option"),
                                ),
                            };
                            ctx.push(
                                d.with_hint(format!("write `{kw} {{ option = value; ... }}`")),
                            );
                        }
                        None => ctx.push(unknown(
                            codes::UNKNOWN_OPTION,
                            "option",
                            written,
                            o.name.span,
                            spec,
                            &where_,
                        )),
                    }
                }
                Entry::Section(s) => {
                    let written = s.keyword.text.as_str();
                    let canon = alias(spec.keyword, written).unwrap_or(written);
                    match spec
                        .items
                        .iter()
                        .find(|i| item_name(i).eq_ignore_ascii_case(canon))
                    {
                        Some(Item::Section(ss)) => {
                            let list = idx.sections.entry(ss.spec.keyword).or_default();
                            check_naming(ss.spec, s, ctx);
                            if ss.multiplicity != Multiplicity::Many {
                                if !list.is_empty() {
                                    ctx.push(
                                        Diagnostic::error(
                                            codes::DUPLICATE_SECTION,
                                            s.keyword.span,
                                            format!(
                                                "section `{}` is given twice {where_}",
                                                ss.spec.keyword
                                            ),
                                        )
                                        .with_hint("merge the two sections into one"),
                                    );
                                    continue;
                                }
                            } else if let Some(name) = &s.name {
                                // A set, not a scan of `list`: thousands of
                                // `map NAME` are common.
                                if !names.insert((ss.spec.keyword, name.text.to_ascii_lowercase()))
                                {
                                    ctx.push(
                                        Diagnostic::error(
                                            codes::DUPLICATE_SECTION,
                                            name.span,
                                            format!(
                                                "there is already a `{} {}` {where_}",
                                                ss.spec.keyword, name.text
                                            ),
                                        )
                                        .with_hint("give each one a different name"),
                                    );
                                    continue;
                                }
                            }
                            list.push(s);
                        }
                        Some(Item::Option(os)) => ctx.push(
                            Diagnostic::error(
                                codes::OPTION_AS_SECTION,
                                s.keyword.span,
                                format!("`{}` is an option, not a section", os.name),
                            )
                            .with_hint(if os.kind.is_list() {
                                format!("write `{} = {{ a, b }};`", os.name)
                            } else {
                                format!("write `{} = value;`", os.name)
                            }),
                        ),
                        None if root => idx.unknown_sections.push(s),
                        None => ctx.push(unknown(
                            codes::UNKNOWN_SECTION,
                            "section",
                            written,
                            s.keyword.span,
                            spec,
                            &where_,
                        )),
                    }
                }
            }
        }
        idx
    }

    /// The option written for `name` (canonical spelling), if any.
    pub fn option(&self, name: &'static str) -> Option<&'a OptionNode> {
        self.options.get(name).copied()
    }

    /// The sections written for `keyword`, in file order.
    pub fn sections(&self, keyword: &'static str) -> &[&'a SectionNode] {
        self.sections.get(keyword).map_or(&[], |v| v.as_slice())
    }
}

fn item_name(i: &Item) -> &'static str {
    match i {
        Item::Option(o) => o.name,
        Item::Section(s) => s.spec.keyword,
    }
}

fn check_naming(spec: &SectionSpec, s: &SectionNode, ctx: &mut Ctx) {
    match (spec.naming, &s.name) {
        (Naming::Required, None) => ctx.push(
            Diagnostic::error(
                codes::MISSING_SECTION_NAME,
                s.keyword.span,
                format!("section `{}` needs a name", spec.keyword),
            )
            .with_hint(format!("write `{} NAME {{ ... }}`", spec.keyword)),
        ),
        (Naming::None, Some(n)) => ctx.push(
            Diagnostic::error(
                codes::UNEXPECTED_SECTION_NAME,
                n.span,
                format!("section `{}` takes no name", spec.keyword),
            )
            .with_hint(format!("write `{} {{ ... }}`", spec.keyword)),
        ),
        _ => {}
    }
}

/// "unknown option `x` in section `y`", with "did you mean".
pub fn unknown(
    code: &'static str,
    what: &str,
    written: &str,
    span: Span,
    spec: &SectionSpec,
    where_: &str,
) -> Diagnostic {
    let d = Diagnostic::error(code, span, format!("unknown {what} `{written}` {where_}"));
    if let Some(s) = suggest(written, spec.names()) {
        return d.with_hint(format!("did you mean `{s}`?"));
    }
    // Perhaps it belongs to another section.
    if let Some(home) = crate::config::home_of(written) {
        return d.with_hint(format!("`{written}` belongs in {home}"));
    }
    d
}

/// One item of an option's right-hand side: its text and place.
pub type RhsItem = (String, Span);

/// A Rust type that an option can be read into and written back from.
pub trait ConfValue: Sized + Clone + PartialEq + Debug {
    /// Reads the items of an option (one for `a = x;`, several for lists).
    /// `list` says whether braces were used. Warnings go to `warn`.
    fn read(
        items: &[RhsItem],
        list: bool,
        kind: &Kind,
        warn: &mut Vec<(ValueError, Span)>,
    ) -> Result<Self, (ValueError, Span)>;

    /// The value when the option is not written and has no default.
    fn unset() -> Option<Self> {
        None
    }

    /// The right-hand side in canonical smx.conf syntax; `None` when unset.
    fn write(&self, kind: &Kind) -> Option<String>;
}

fn single<'a>(
    items: &'a [RhsItem],
    list: bool,
    kind: &Kind,
) -> Result<&'a RhsItem, (ValueError, Span)> {
    match items {
        [one] if !list => Ok(one),
        [one] => Ok(one),
        [] => Err((
            ValueError::new(codes::WRONG_TYPE, "expected a value, found an empty list"),
            Span::default(),
        )),
        [_, second, ..] => Err((
            ValueError::new(
                codes::LIST_NOT_ALLOWED,
                format!(
                    "this option takes one value ({}), not a list",
                    kind.describe()
                ),
            )
            .hint("remove the braces and keep one value"),
            second.1,
        )),
    }
}

fn at<T>(r: Result<T, ValueError>, span: Span) -> Result<T, (ValueError, Span)> {
    r.map_err(|e| (e, span))
}

/// Quotes a string when it is not a plain word of the grammar.
pub fn quote(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| !c.is_whitespace() && !"{};,=\"#\\".contains(c) && !c.is_control());
    if plain {
        return s.to_string();
    }
    quoted(s)
}

/// `s` as a quoted string of the grammar, whatever it holds: quotes and
/// backslashes escaped, control characters (a newline among them) written
/// as escapes, so the string closes on its own line.
pub fn quoted(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

impl ConfValue for bool {
    fn read(
        items: &[RhsItem],
        list: bool,
        kind: &Kind,
        _: &mut Vec<(ValueError, Span)>,
    ) -> Result<Self, (ValueError, Span)> {
        let (t, s) = single(items, list, kind)?;
        at(value::boolean(t), *s)
    }
    fn write(&self, _: &Kind) -> Option<String> {
        Some(if *self { "true" } else { "false" }.to_string())
    }
}

impl ConfValue for u64 {
    fn read(
        items: &[RhsItem],
        list: bool,
        kind: &Kind,
        warn: &mut Vec<(ValueError, Span)>,
    ) -> Result<Self, (ValueError, Span)> {
        let (t, s) = single(items, list, kind)?;
        let s = *s;
        match kind {
            Kind::Count { min, max, .. } => {
                let n = at(value::number(t), s)?;
                if n < *min || n > *max {
                    let range = if *max == u64::MAX {
                        format!("at least {min}")
                    } else {
                        format!("from {min} to {max}")
                    };
                    return Err((
                        ValueError::new(
                            codes::OUT_OF_RANGE,
                            format!("{n} is out of range: must be {range}"),
                        ),
                        s,
                    ));
                }
                Ok(n)
            }
            Kind::Size(base) => at(value::size(t, *base), s),
            Kind::Umask => {
                let n = at(value::number(t), s)?;
                if n > 0o777 {
                    return Err((
                        ValueError::new(
                            codes::OUT_OF_RANGE,
                            format!("umask `{t}` is larger than 0777"),
                        )
                        .hint("a umask is an octal number such as 007 or 0117"),
                        s,
                    ));
                }
                Ok(n)
            }
            Kind::Netmask => {
                let n = at(value::number(t), s)?;
                if n > u64::from(u32::MAX) {
                    let low = n & u64::from(u32::MAX);
                    warn.push((
                        ValueError::new(
                            codes::WIDE_NETMASK,
                            format!("netmask `{t}` is wider than 32 bits; only its low 32 bits (0x{low:08X}) are used"),
                        )
                        .hint(format!("write `0x{low:08X}`")),
                        s,
                    ));
                    return Ok(low);
                }
                Ok(n)
            }
            _ => at(value::number(t), s),
        }
    }
    fn write(&self, kind: &Kind) -> Option<String> {
        Some(match kind {
            Kind::Size(_) => value::format_size(*self),
            Kind::Umask => format!("0{:03o}", self),
            Kind::Netmask => format!("0x{:08X}", self),
            _ => self.to_string(),
        })
    }
}

impl ConfValue for Duration {
    fn read(
        items: &[RhsItem],
        list: bool,
        kind: &Kind,
        _: &mut Vec<(ValueError, Span)>,
    ) -> Result<Self, (ValueError, Span)> {
        let (t, s) = single(items, list, kind)?;
        let base = match kind {
            Kind::Time(b) => *b,
            _ => value::TimeBase::Seconds,
        };
        at(value::time(t, base), *s)
    }
    fn write(&self, kind: &Kind) -> Option<String> {
        let base = match kind {
            Kind::Time(b) => *b,
            _ => value::TimeBase::Seconds,
        };
        Some(value::format_time(*self, base))
    }
}

impl ConfValue for String {
    fn read(
        items: &[RhsItem],
        list: bool,
        kind: &Kind,
        _: &mut Vec<(ValueError, Span)>,
    ) -> Result<Self, (ValueError, Span)> {
        let (t, s) = single(items, list, kind)?;
        match kind {
            Kind::Keyword(allowed) => match allowed.iter().find(|a| a.eq_ignore_ascii_case(t)) {
                Some(a) => Ok((*a).to_string()),
                None => {
                    let mut e = ValueError::new(
                        codes::BAD_KEYWORD,
                        format!("`{t}` is not one of: {}", allowed.join(", ")),
                    );
                    if let Some(g) = suggest(t, allowed.iter().copied()) {
                        e = e.hint(format!("did you mean `{g}`?"));
                    }
                    Err((e, *s))
                }
            },
            Kind::Name if t.is_empty() => Err((
                ValueError::new(codes::WRONG_TYPE, "expected a name, found an empty string"),
                *s,
            )),
            _ => Ok(t.clone()),
        }
    }
    fn write(&self, _: &Kind) -> Option<String> {
        Some(quote(self))
    }
}

impl ConfValue for Ipv4Addr {
    fn read(
        items: &[RhsItem],
        list: bool,
        kind: &Kind,
        _: &mut Vec<(ValueError, Span)>,
    ) -> Result<Self, (ValueError, Span)> {
        let (t, s) = single(items, list, kind)?;
        at(value::ipv4(t), *s)
    }
    fn write(&self, _: &Kind) -> Option<String> {
        Some(self.to_string())
    }
}

/// A list of `address[:port]` (port 53 unless given).
impl ConfValue for Vec<SocketAddrV4> {
    fn read(
        items: &[RhsItem],
        _list: bool,
        kind: &Kind,
        _: &mut Vec<(ValueError, Span)>,
    ) -> Result<Self, (ValueError, Span)> {
        let mut out = Vec::new();
        for (t, s) in items {
            let (ip, port) = match t.split_once(':') {
                Some((ip, port)) => {
                    let p = at(value::number(port), *s)?;
                    let p = u16::try_from(p).map_err(|_| {
                        (
                            ValueError::new(
                                codes::OUT_OF_RANGE,
                                format!("port {p} is above 65535"),
                            ),
                            *s,
                        )
                    })?;
                    (ip, p)
                }
                None => (t.as_str(), 53),
            };
            out.push(SocketAddrV4::new(at(value::ipv4(ip), *s)?, port));
        }
        if let Kind::Ipv4List { max } = kind {
            if out.len() > *max {
                return Err((
                    ValueError::new(
                        codes::TOO_MANY_NAMESERVERS,
                        format!("{} addresses given; at most {max} are allowed", out.len()),
                    ),
                    items.get(*max).map_or(Span::default(), |i| i.1),
                ));
            }
        }
        Ok(out)
    }
    fn write(&self, _: &Kind) -> Option<String> {
        let items: Vec<String> = self
            .iter()
            .map(|a| {
                if a.port() == 53 {
                    a.ip().to_string()
                } else {
                    a.to_string()
                }
            })
            .collect();
        Some(format!("{{ {} }}", items.join(", ")))
    }
}

/// A set of flags, each spelled as in the spec.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Flags(pub Vec<&'static str>);

impl Flags {
    /// True when `flag` is set (case-insensitive).
    pub fn has(&self, flag: &str) -> bool {
        self.0.iter().any(|f| f.eq_ignore_ascii_case(flag))
    }
}

impl ConfValue for Flags {
    fn read(
        items: &[RhsItem],
        _list: bool,
        kind: &Kind,
        _: &mut Vec<(ValueError, Span)>,
    ) -> Result<Self, (ValueError, Span)> {
        let Kind::Flags(allowed) = kind else {
            return Ok(Flags::default());
        };
        let mut out: Vec<&'static str> = Vec::new();
        for (t, s) in items {
            match allowed.iter().find(|a| a.eq_ignore_ascii_case(t)) {
                Some(a) => {
                    if !out.contains(a) {
                        out.push(a);
                    }
                }
                None => {
                    let mut e = ValueError::new(
                        codes::BAD_FLAG,
                        format!(
                            "`{t}` is not a flag of this option; allowed: {}",
                            allowed.join(", ")
                        ),
                    );
                    if let Some(g) = suggest(t, allowed.iter().copied()) {
                        e = e.hint(format!("did you mean `{g}`?"));
                    }
                    return Err((e, *s));
                }
            }
        }
        // Canonical order: the order of the spec.
        out.sort_by_key(|f| allowed.iter().position(|a| a == f));
        Ok(Flags(out))
    }
    fn write(&self, _: &Kind) -> Option<String> {
        Some(format!("{{ {} }}", self.0.join(", ")))
    }
}

impl ConfValue for Vec<String> {
    fn read(
        items: &[RhsItem],
        _list: bool,
        _kind: &Kind,
        _: &mut Vec<(ValueError, Span)>,
    ) -> Result<Self, (ValueError, Span)> {
        let mut out = Vec::new();
        for (t, s) in items {
            if t.is_empty() {
                return Err((
                    ValueError::new(codes::WRONG_TYPE, "expected a name, found an empty string"),
                    *s,
                ));
            }
            out.push(t.clone());
        }
        Ok(out)
    }
    fn write(&self, _: &Kind) -> Option<String> {
        // Every name list is empty when unset; `conf show -d` must not make
        // it explicit (a `maps = { };` in a hash map is an error).
        if self.is_empty() {
            return None;
        }
        let items: Vec<String> = self.iter().map(|s| quote(s)).collect();
        Some(format!("{{ {} }}", items.join(", ")))
    }
}

impl<T: ConfValue> ConfValue for Option<T> {
    fn read(
        items: &[RhsItem],
        list: bool,
        kind: &Kind,
        warn: &mut Vec<(ValueError, Span)>,
    ) -> Result<Self, (ValueError, Span)> {
        T::read(items, list, kind, warn).map(Some)
    }
    fn unset() -> Option<Self> {
        Some(None)
    }
    fn write(&self, kind: &Kind) -> Option<String> {
        self.as_ref().and_then(|v| v.write(kind))
    }
}

/// The items of a right-hand side.
pub fn rhs_items(rhs: &Rhs) -> (Vec<RhsItem>, bool) {
    match rhs {
        Rhs::Single(v) => (vec![(v.text(), v.span)], false),
        Rhs::List { items, .. } => (items.iter().map(|v| (v.text(), v.span)).collect(), true),
    }
}

/// Reads option `name` of a section: the written value, else the override
/// default, else the spec default, else unset.
pub fn read_option<T: ConfValue>(
    idx: &BodyIndex<'_>,
    ctx: &mut Ctx,
    path: &str,
    name: &'static str,
    kind: &Kind,
    default: Option<&'static str>,
    overrides: &[(&'static str, &'static str)],
) -> T {
    let default = overrides
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, d)| *d)
        .or(default);
    if let Some(node) = idx.option(name) {
        let p = child(path, name);
        ctx.spans.insert(p, node.span);
        let (items, list) = rhs_items(&node.rhs);
        if let Some(d) = missing_comma(&node.rhs, name) {
            ctx.push(d);
            return default_value(name, kind, default);
        }
        let mut warn = Vec::new();
        let r = T::read(&items, list, kind, &mut warn);
        for (w, s) in warn {
            let mut d = Diagnostic::warning(w.code, s, format!("`{name}`: {}", w.message));
            d.hint = w.hint;
            ctx.push(d);
        }
        match r {
            Ok(v) => return v,
            Err((e, s)) => {
                let span = if s == Span::default() {
                    node.rhs.span()
                } else {
                    s
                };
                let mut d = Diagnostic::error(e.code, span, format!("`{name}`: {}", e.message));
                d.hint = e.hint.or_else(|| Some(takes(name, kind)));
                ctx.push(d);
            }
        }
    }
    default_value(name, kind, default)
}

/// "`port` takes a number, 1 to 65535", "`type` takes one of: inet, unix".
fn takes(name: &str, kind: &Kind) -> String {
    let what = kind.describe();
    let article = if what.starts_with("one of") || what.starts_with("flags") {
        ""
    } else if what.starts_with(['a', 'e', 'i', 'o', 'u', 'I']) {
        "an "
    } else {
        "a "
    };
    format!("`{name}` takes {article}{what}")
}

/// `{ a b }`: two bare words in one list item are a forgotten comma (no
/// list item of any option is several words).
fn missing_comma(rhs: &Rhs, name: &str) -> Option<Diagnostic> {
    let Rhs::List { items, .. } = rhs else {
        return None;
    };
    items.iter().find_map(|v| {
        let words: Vec<&str> = v
            .parts
            .iter()
            .filter_map(|p| match p {
                crate::ast::Part::Word(w) => Some(w.as_str()),
                crate::ast::Part::Quoted(_) => None,
            })
            .collect();
        (words.len() > 1).then(|| {
            Diagnostic::error(
                codes::SYNTAX,
                v.span,
                format!(
                    "expected `,` between `{}` and `{}` in the list of `{name}`",
                    words[0], words[1]
                ),
            )
            .with_hint(format!(
                "separate list items with commas: `{name} = {{ a, b }};`"
            ))
        })
    })
}

/// The typed default of an option.
pub fn default_value<T: ConfValue>(name: &str, kind: &Kind, default: Option<&str>) -> T {
    if let Some(d) = default {
        let items: Vec<RhsItem> = if kind.is_list() {
            d.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| (s.to_string(), Span::default()))
                .collect()
        } else {
            vec![(d.to_string(), Span::default())]
        };
        if let Ok(v) = T::read(&items, kind.is_list(), kind, &mut Vec::new()) {
            return v;
        }
        // A default that does not read is a bug in the schema; the test
        // `every_default_reads` catches it.
        debug_assert!(false, "default of {name} does not read: {d}");
    }
    // No default: `Option`s are unset, lists and flag sets are empty.
    // Anything else is a schema bug, caught by the test `every_default_reads`.
    match T::unset() {
        Some(v) => v,
        None => match T::read(&[], true, kind, &mut Vec::new()) {
            Ok(v) => v,
            Err(_) => unreachable!("schema bug: `{name}` has no default and is not an Option"),
        },
    }
}

/// A named (or numbered) instance of a repeatable section.
#[derive(Debug, Clone, PartialEq)]
pub struct Instance<T> {
    /// The name written after the keyword, if any.
    pub name: Option<String>,
    /// The section's settings.
    pub conf: T,
}

/// A typed configuration section generated by `section!`.
pub trait Section: Sized + Clone + PartialEq + Debug {
    /// The section's spec (built once).
    fn spec() -> &'static SectionSpec;

    /// Builds from an indexed body.
    fn build_index(
        idx: &BodyIndex<'_>,
        ctx: &mut Ctx,
        path: &str,
        overrides: &[(&'static str, &'static str)],
    ) -> Self;

    /// Builds from a section body (or an empty body when absent).
    fn build(
        body: &[Entry],
        ctx: &mut Ctx,
        path: &str,
        overrides: &[(&'static str, &'static str)],
    ) -> Self {
        let idx = BodyIndex::new(Self::spec(), body, ctx, false);
        Self::build_index(&idx, ctx, path, overrides)
    }

    /// Writes the options and subsections (not the header).
    fn write_body(
        &self,
        w: &mut Writer<'_>,
        path: &str,
        overrides: &[(&'static str, &'static str)],
    );
}

/// Path of instance `i` of a repeatable section.
pub fn instance_path(path: &str, keyword: &str, node: Option<&SectionNode>, i: usize) -> String {
    let base = child(path, keyword);
    match node.and_then(|n| n.name.as_ref()) {
        Some(n) => format!("{base}[{}]", n.text.to_ascii_lowercase()),
        None => format!("{base}[{i}]"),
    }
}

/// Builds a section that is always present.
pub fn build_one<T: Section>(idx: &BodyIndex<'_>, ctx: &mut Ctx, path: &str) -> T {
    let spec = T::spec();
    let p = child(path, spec.keyword);
    match idx.sections(spec.keyword).first() {
        Some(node) => {
            ctx.spans.insert(p.clone(), node.keyword.span);
            T::build(&node.entries, ctx, &p, &[])
        }
        None => T::build(&[], ctx, &p, &[]),
    }
}

/// Builds a section that exists only when written.
pub fn build_optional<T: Section>(idx: &BodyIndex<'_>, ctx: &mut Ctx, path: &str) -> Option<T> {
    let spec = T::spec();
    let p = child(path, spec.keyword);
    idx.sections(spec.keyword).first().map(|node| {
        ctx.spans.insert(p.clone(), node.keyword.span);
        T::build(&node.entries, ctx, &p, &[])
    })
}

/// Builds every instance of a repeatable section.
pub fn build_many<T: Section>(idx: &BodyIndex<'_>, ctx: &mut Ctx, path: &str) -> Vec<Instance<T>> {
    let spec = T::spec();
    idx.sections(spec.keyword)
        .iter()
        .enumerate()
        .map(|(i, node)| {
            let p = instance_path(path, spec.keyword, Some(node), i);
            ctx.spans.insert(p.clone(), node.keyword.span);
            Instance {
                name: node.name.as_ref().map(|n| n.text.clone()),
                conf: T::build(&node.entries, ctx, &p, &[]),
            }
        })
        .collect()
}

/// Which options `conf show` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShowMode {
    /// Every option, with its default when not set (`-d`).
    All,
    /// Only options written in the file (`-n`).
    Explicit,
}

/// Writes a typed configuration in canonical smx.conf syntax.
pub struct Writer<'a> {
    out: String,
    indent: usize,
    mode: ShowMode,
    explicit: &'a HashMap<String, Span>,
    filters: Vec<Vec<String>>,
}

impl<'a> Writer<'a> {
    /// A writer for `mode`; `explicit` is [`Ctx::spans`]; `filters` are
    /// `SECTION[.OPTION]` selections (empty: everything).
    pub fn new(mode: ShowMode, explicit: &'a HashMap<String, Span>, filters: &[String]) -> Self {
        Writer {
            out: String::new(),
            indent: 0,
            mode,
            explicit,
            filters: filters
                .iter()
                .map(|f| {
                    f.to_ascii_lowercase()
                        .split('.')
                        .map(str::to_string)
                        .collect()
                })
                .collect(),
        }
    }

    /// The text written so far.
    pub fn finish(self) -> String {
        self.out
    }

    fn components(path: &str) -> Vec<(&str, Option<&str>)> {
        path.split('.')
            .filter(|s| !s.is_empty())
            .map(|c| match c.split_once('[') {
                Some((k, rest)) => (k, Some(rest.trim_end_matches(']'))),
                None => (c, None),
            })
            .collect()
    }

    /// 0: no match; 1: path is an ancestor of a filter; 2: a filter covers path.
    fn selection(&self, path: &str) -> u8 {
        if self.filters.is_empty() {
            return 2;
        }
        let comps = Self::components(path);
        let mut best = 0;
        for f in &self.filters {
            let n = f.len().min(comps.len());
            let same = (0..n).all(|i| {
                let (k, name) = comps[i];
                let fc = f[i].as_str();
                match fc.split_once('[') {
                    Some((fk, fname)) => k == fk && name == Some(fname.trim_end_matches(']')),
                    None => k == fc || name == Some(fc),
                }
            });
            if same {
                best = best.max(if f.len() <= comps.len() { 2 } else { 1 });
            }
        }
        best
    }

    fn line(&mut self, s: &str) {
        for _ in 0..self.indent {
            self.out.push_str("    ");
        }
        self.out.push_str(s);
        self.out.push('\n');
    }

    /// Writes one option.
    pub fn option<T: ConfValue>(&mut self, path: &str, name: &str, kind: &Kind, v: &T) {
        let p = child(path, name);
        if self.selection(&p) < 2 {
            return;
        }
        if self.mode == ShowMode::Explicit && !self.explicit.contains_key(&p) {
            return;
        }
        match v.write(kind) {
            Some(text) => self.line(&format!("{name} = {text};")),
            None if self.mode == ShowMode::All => self.line(&format!("# {name} is not set")),
            None => {}
        }
    }

    /// Writes a section whose body `f` writes; the header is written only if
    /// the body is not empty, or if `always` (a section whose presence means
    /// something).
    pub fn section(&mut self, path: &str, title: &str, always: bool, f: impl FnOnce(&mut Self)) {
        if self.selection(path) == 0 {
            return;
        }
        let mark = self.out.len();
        self.line(&format!("{title} {{"));
        let body_start = self.out.len();
        self.indent += 1;
        f(self);
        self.indent -= 1;
        let empty = self.out.len() == body_start;
        if empty && !(always && self.selection(path) == 2) {
            self.out.truncate(mark);
            return;
        }
        if empty {
            self.out.truncate(mark);
            self.line(&format!("{title} {{ }}"));
            return;
        }
        self.line("}");
    }
}

/// Writes an always-present subsection.
pub fn write_one<T: Section>(v: &T, w: &mut Writer<'_>, path: &str) {
    let spec = T::spec();
    let p = child(path, spec.keyword);
    w.section(&p, spec.keyword, false, |w| v.write_body(w, &p, &[]));
}

/// Writes an optional subsection.
pub fn write_optional<T: Section>(v: &Option<T>, w: &mut Writer<'_>, path: &str) {
    if let Some(v) = v {
        let spec = T::spec();
        let p = child(path, spec.keyword);
        w.section(&p, spec.keyword, true, |w| v.write_body(w, &p, &[]));
    }
}

/// Writes every instance of a repeatable section.
pub fn write_many<T: Section>(v: &[Instance<T>], w: &mut Writer<'_>, path: &str) {
    let spec = T::spec();
    for (i, inst) in v.iter().enumerate() {
        let base = child(path, spec.keyword);
        let p = match &inst.name {
            Some(n) => format!("{base}[{}]", n.to_ascii_lowercase()),
            None => format!("{base}[{i}]"),
        };
        let title = match &inst.name {
            Some(n) => format!("{} {}", spec.keyword, n),
            None => spec.keyword.to_string(),
        };
        w.section(&p, &title, true, |w| inst.conf.write_body(w, &p, &[]));
    }
}

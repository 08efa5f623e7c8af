//! The option schema: for every section of smx.conf its options (type, unit,
//! default, allowed values, one-line doc) and subsections.
//!
//! The schema is not written here by hand: each typed configuration struct in
//! `crate::config` declares its fields with the `section!` macro, and the
//! macro produces both the struct and its [`SectionSpec`]. The same spec
//! drives validation, `smxctl conf show` and the generated `smx.conf(5)`.

use crate::value::{SizeBase, TimeBase};
use std::sync::OnceLock;

/// How a value is read and what it may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `true/on/1`, `false/off/0`.
    Bool,
    /// A whole number in `min..=max`; `unit` is for the docs ("entries").
    Count {
        /// Smallest allowed value.
        min: u64,
        /// Largest allowed value.
        max: u64,
        /// What is counted, for the docs.
        unit: &'static str,
    },
    /// A time; a bare number is in `base`.
    Time(TimeBase),
    /// A size; a bare number is in `base`.
    Size(SizeBase),
    /// Free text (quoted when it has special characters).
    Text,
    /// A file name relative to the configuration directory (§3.6 case 1).
    ConfPath,
    /// A file or socket name relative to the queue directory (§3.6 case 2).
    QueuePath,
    /// A name: user, group, map name, section name.
    Name,
    /// An IPv4 address.
    Ipv4,
    /// A list of IPv4 addresses (an address may carry `:port`, for tests).
    Ipv4List {
        /// At most this many.
        max: usize,
    },
    /// One of a fixed set of keywords.
    Keyword(&'static [&'static str]),
    /// A set of flags from a fixed set (`flags = { a, b };` or one flag).
    Flags(&'static [&'static str]),
    /// A list of names (`restart_dependencies`, `maps`, `trusted_mechs`).
    NameList,
    /// An octal file mode mask such as `007`.
    Umask,
    /// A 32-bit IPv4 netmask written as a number (`0xFFFFFF00`).
    Netmask,
}

impl Kind {
    /// A count from 0 with no upper limit.
    pub const fn count(unit: &'static str) -> Kind {
        Kind::Count {
            min: 0,
            max: u64::MAX,
            unit,
        }
    }

    /// A count from `min` with no upper limit.
    pub const fn count_from(min: u64, unit: &'static str) -> Kind {
        Kind::Count {
            min,
            max: u64::MAX,
            unit,
        }
    }

    /// Seconds.
    pub const SECONDS: Kind = Kind::Time(TimeBase::Seconds);
    /// Microseconds.
    pub const MICROS: Kind = Kind::Time(TimeBase::Micros);
    /// Bytes.
    pub const BYTES: Kind = Kind::Size(SizeBase::Bytes);
    /// Kilobytes.
    pub const KILOBYTES: Kind = Kind::Size(SizeBase::Kilobytes);

    /// A short description of the type, for messages and the man page.
    pub fn describe(&self) -> String {
        match self {
            Kind::Bool => "boolean".into(),
            Kind::Count { min, max, unit } => {
                let range = match (*min, *max) {
                    (0, u64::MAX) => String::new(),
                    (lo, u64::MAX) => format!(", at least {lo}"),
                    (lo, hi) => format!(", {lo} to {hi}"),
                };
                if unit.is_empty() {
                    format!("number{range}")
                } else {
                    format!("number ({unit}){range}")
                }
            }
            Kind::Time(TimeBase::Seconds) => "time (default unit: s)".into(),
            Kind::Time(TimeBase::Micros) => "time (default unit: microseconds)".into(),
            Kind::Size(SizeBase::Bytes) => "size (default unit: B)".into(),
            Kind::Size(SizeBase::Kilobytes) => "size (default unit: KB)".into(),
            Kind::Text => "string".into(),
            Kind::ConfPath => "path (relative to the configuration directory)".into(),
            Kind::QueuePath => "path (relative to the queue directory)".into(),
            Kind::Name => "name".into(),
            Kind::Ipv4 => "IPv4 address".into(),
            Kind::Ipv4List { max } => format!("list of up to {max} IPv4 addresses"),
            Kind::Keyword(k) => format!("one of: {}", k.join(", ")),
            Kind::Flags(f) => format!("flags: {}", f.join(", ")),
            Kind::NameList => "list of names".into(),
            Kind::Umask => "octal mode mask".into(),
            Kind::Netmask => "IPv4 netmask as a number".into(),
        }
    }

    /// True for kinds written as a `{ ... }` list.
    pub fn is_list(&self) -> bool {
        matches!(
            self,
            Kind::Ipv4List { .. } | Kind::Flags(_) | Kind::NameList
        )
    }
}

/// One option of a section.
#[derive(Debug, Clone)]
pub struct OptionSpec {
    /// Canonical spelling (matching ignores case).
    pub name: &'static str,
    /// Type and constraints.
    pub kind: Kind,
    /// Default in smx.conf syntax; `None` when unset by default.
    pub default: Option<&'static str>,
    /// One-line documentation.
    pub doc: &'static str,
}

/// How often a subsection may appear and whether it is named.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Multiplicity {
    /// Always present (defaults apply when it is not written); at most once.
    One,
    /// Present only when written; at most once.
    Optional,
    /// Any number of times.
    Many,
}

/// Whether a section carries a name (`map lusers { }`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Naming {
    /// Never named.
    None,
    /// May be named (`smtps MTA { }`).
    Optional,
    /// Must be named (`map NAME { }`).
    Required,
}

/// A subsection slot of a section.
#[derive(Debug, Clone)]
pub struct SubSpec {
    /// The subsection's own spec.
    pub spec: &'static SectionSpec,
    /// How often it may appear.
    pub multiplicity: Multiplicity,
}

/// One entry of a section spec, in declaration order.
#[derive(Debug, Clone)]
pub enum Item {
    /// An option.
    Option(OptionSpec),
    /// A subsection.
    Section(SubSpec),
}

/// A section: its keyword, naming, documentation, options and subsections.
#[derive(Debug, Clone)]
pub struct SectionSpec {
    /// The keyword (empty for the top level).
    pub keyword: &'static str,
    /// Whether instances are named.
    pub naming: Naming,
    /// Where the seed describes it (`§3.8`).
    pub seed: &'static str,
    /// Documentation paragraph.
    pub doc: &'static str,
    /// Options and subsections in order.
    pub items: Vec<Item>,
}

impl SectionSpec {
    /// The options.
    pub fn options(&self) -> impl Iterator<Item = &OptionSpec> {
        self.items.iter().filter_map(|i| match i {
            Item::Option(o) => Some(o),
            Item::Section(_) => None,
        })
    }

    /// The subsections.
    pub fn sections(&self) -> impl Iterator<Item = &SubSpec> {
        self.items.iter().filter_map(|i| match i {
            Item::Section(s) => Some(s),
            Item::Option(_) => None,
        })
    }

    /// The option called `name` (case-insensitive).
    pub fn option(&self, name: &str) -> Option<&OptionSpec> {
        self.options().find(|o| o.name.eq_ignore_ascii_case(name))
    }

    /// The subsection called `name` (case-insensitive).
    pub fn section(&self, name: &str) -> Option<&SubSpec> {
        self.sections()
            .find(|s| s.spec.keyword.eq_ignore_ascii_case(name))
    }

    /// Every name that may appear in this section, for "did you mean".
    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.items.iter().map(|i| match i {
            Item::Option(o) => o.name,
            Item::Section(s) => s.spec.keyword,
        })
    }
}

/// Lazily built static spec, used by the `section!` macro.
pub type SpecCell = OnceLock<SectionSpec>;

/// Older or alternative spellings accepted in place of the canonical names:
/// (section keyword, written name, canonical name). The seed's own examples
/// use some of them (seed 000: `pmilter`, `protect_recipients`).
pub const ALIASES: &[(&str, &str, &str)] = &[
    ("smtps", "pmilter", "policy_milter"),
    ("smtps", "protect_recipients", "protected_recipients"),
];

/// The canonical name of `written` in section `keyword`, if it is an alias.
pub fn alias(keyword: &str, written: &str) -> Option<&'static str> {
    ALIASES
        .iter()
        .find(|(k, w, _)| k.eq_ignore_ascii_case(keyword) && w.eq_ignore_ascii_case(written))
        .map(|(_, _, c)| *c)
}

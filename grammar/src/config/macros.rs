//! `section!`: declares a typed configuration section once, and derives from
//! that one declaration the Rust struct, its [`SectionSpec`] (the schema:
//! names, types, defaults, docs), the builder from the syntax tree and the
//! canonical writer used by `smxctl conf show`.
//!
//! ```ignore
//! section! {
//!     /// The queue manager (README §3.8).
//!     pub struct QmgrConf in "qmgr" (naming None, seed "§3.8") {
//!         /// Maximum number of entries in the active queue.
//!         aq_max_entries: u64 = opt("AQ_max_entries", Kind::count("entries"), Some("8192")),
//!         defedb: DefedbConf = sub(DefedbConf),
//!         tls: Option<TlsConf> = opt_sub(TlsConf),
//!         maps: Vec<Instance<MapConf>> = many(MapConf),
//!         mcp: McpConf = flatten(McpConf, [("start_action", "wait")]),
//!     }
//! }
//! ```
//!
//! [`SectionSpec`]: crate::schema::SectionSpec

/// See the module documentation.
#[macro_export]
#[doc(hidden)]
macro_rules! section {
    (
        $(#[doc = $sdoc:literal])*
        $vis:vis struct $S:ident in $kw:literal (naming $naming:ident, seed $seed:literal) {
            $(
                $(#[doc = $doc:literal])*
                $f:ident : $t:ty = $role:ident ( $($args:tt)* )
            ),* $(,)?
        }
    ) => {
        $(#[doc = $sdoc])*
        #[derive(Debug, Clone, PartialEq)]
        $vis struct $S {
            $(
                $(#[doc = $doc])*
                pub $f: $t,
            )*
        }

        impl $crate::config::build::Section for $S {
            #[allow(clippy::vec_init_then_push)]
            fn spec() -> &'static $crate::schema::SectionSpec {
                static SPEC: $crate::schema::SpecCell = $crate::schema::SpecCell::new();
                SPEC.get_or_init(|| {
                    #[allow(unused_mut)]
                    let mut items: Vec<$crate::schema::Item> = Vec::new();
                    $(
                        $crate::section!(@spec items, concat!($($doc, "\n",)* ""), $role ( $($args)* ));
                    )*
                    $crate::schema::SectionSpec {
                        keyword: $kw,
                        naming: $crate::schema::Naming::$naming,
                        seed: $seed,
                        doc: concat!($($sdoc, "\n",)* ""),
                        items,
                    }
                })
            }

            #[allow(unused_variables)]
            fn build_index(
                idx: &$crate::config::build::BodyIndex<'_>,
                ctx: &mut $crate::config::build::Ctx,
                path: &str,
                overrides: &[(&'static str, &'static str)],
            ) -> Self {
                $S {
                    $(
                        $f: $crate::section!(@build idx, ctx, path, overrides, $t, $role ( $($args)* )),
                    )*
                }
            }

            #[allow(unused_variables)]
            fn write_body(
                &self,
                w: &mut $crate::config::build::Writer<'_>,
                path: &str,
                overrides: &[(&'static str, &'static str)],
            ) {
                $(
                    $crate::section!(@write self, w, path, $f, $role ( $($args)* ));
                )*
            }
        }
    };

    // ------------------------------------------------------------ spec
    (@spec $items:ident, $doc:expr, opt ($name:literal, $kind:expr, $default:expr)) => {
        $items.push($crate::schema::Item::Option($crate::schema::OptionSpec {
            name: $name,
            kind: $kind,
            default: $default,
            doc: $doc,
        }));
    };
    (@spec $items:ident, $doc:expr, sub ($T:ty)) => {
        $items.push($crate::schema::Item::Section($crate::schema::SubSpec {
            spec: <$T as $crate::config::build::Section>::spec(),
            multiplicity: $crate::schema::Multiplicity::One,
        }));
    };
    (@spec $items:ident, $doc:expr, opt_sub ($T:ty)) => {
        $items.push($crate::schema::Item::Section($crate::schema::SubSpec {
            spec: <$T as $crate::config::build::Section>::spec(),
            multiplicity: $crate::schema::Multiplicity::Optional,
        }));
    };
    (@spec $items:ident, $doc:expr, many ($T:ty)) => {
        $items.push($crate::schema::Item::Section($crate::schema::SubSpec {
            spec: <$T as $crate::config::build::Section>::spec(),
            multiplicity: $crate::schema::Multiplicity::Many,
        }));
    };
    (@spec $items:ident, $doc:expr, flatten ($T:ty, [$(($on:literal, $ov:literal)),* $(,)?])) => {
        for item in &<$T as $crate::config::build::Section>::spec().items {
            let mut item = item.clone();
            if let $crate::schema::Item::Option(o) = &mut item {
                let _ = &o;
                $( if o.name == $on { o.default = Some($ov); } )*
            }
            $items.push(item);
        }
    };

    // ------------------------------------------------------------ build
    (@build $idx:ident, $ctx:ident, $path:ident, $ov:ident, $t:ty, opt ($name:literal, $kind:expr, $default:expr)) => {
        $crate::config::build::read_option::<$t>($idx, $ctx, $path, $name, &$kind, $default, $ov)
    };
    (@build $idx:ident, $ctx:ident, $path:ident, $ov:ident, $t:ty, sub ($T:ty)) => {
        $crate::config::build::build_one::<$T>($idx, $ctx, $path)
    };
    (@build $idx:ident, $ctx:ident, $path:ident, $ov:ident, $t:ty, opt_sub ($T:ty)) => {
        $crate::config::build::build_optional::<$T>($idx, $ctx, $path)
    };
    (@build $idx:ident, $ctx:ident, $path:ident, $ov:ident, $t:ty, many ($T:ty)) => {
        $crate::config::build::build_many::<$T>($idx, $ctx, $path)
    };
    (@build $idx:ident, $ctx:ident, $path:ident, $ov:ident, $t:ty, flatten ($T:ty, [$(($on:literal, $oval:literal)),* $(,)?])) => {
        <$T as $crate::config::build::Section>::build_index($idx, $ctx, $path, &[$(($on, $oval)),*])
    };

    // ------------------------------------------------------------ write
    (@write $self:ident, $w:ident, $path:ident, $f:ident, opt ($name:literal, $kind:expr, $default:expr)) => {
        $w.option($path, $name, &$kind, &$self.$f);
    };
    (@write $self:ident, $w:ident, $path:ident, $f:ident, sub ($T:ty)) => {
        $crate::config::build::write_one::<$T>(&$self.$f, $w, $path);
    };
    (@write $self:ident, $w:ident, $path:ident, $f:ident, opt_sub ($T:ty)) => {
        $crate::config::build::write_optional::<$T>(&$self.$f, $w, $path);
    };
    (@write $self:ident, $w:ident, $path:ident, $f:ident, many ($T:ty)) => {
        $crate::config::build::write_many::<$T>(&$self.$f, $w, $path);
    };
    (@write $self:ident, $w:ident, $path:ident, $f:ident, flatten ($T:ty, [$(($on:literal, $oval:literal)),* $(,)?])) => {
        <$T as $crate::config::build::Section>::write_body(&$self.$f, $w, $path, &[$(($on, $oval)),*]);
    };
}

/// Declares an enum read from a keyword option, with its list of names.
#[macro_export]
#[doc(hidden)]
macro_rules! keyword_enum {
    (
        $(#[doc = $edoc:literal])*
        $vis:vis enum $E:ident / $NAMES:ident {
            $( $(#[doc = $doc:literal])* $V:ident = $name:literal ),* $(,)?
        }
    ) => {
        $(#[doc = $edoc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        $vis enum $E {
            $( $(#[doc = $doc])* $V, )*
        }

        /// The keywords of the enum, in order.
        $vis const $NAMES: &[&str] = &[$($name),*];

        impl $E {
            /// The keyword as written in smx.conf.
            pub fn as_str(self) -> &'static str {
                match self { $( $E::$V => $name, )* }
            }
        }

        impl $crate::config::build::ConfValue for $E {
            fn read(
                items: &[$crate::config::build::RhsItem],
                list: bool,
                _kind: &$crate::schema::Kind,
                warn: &mut Vec<($crate::value::ValueError, $crate::ast::Span)>,
            ) -> Result<Self, ($crate::value::ValueError, $crate::ast::Span)> {
                let s = <String as $crate::config::build::ConfValue>::read(
                    items, list, &$crate::schema::Kind::Keyword($NAMES), warn)?;
                $( if s == $name { return Ok($E::$V); } )*
                Err(($crate::value::ValueError::new($crate::diag::codes::BAD_KEYWORD, s), Default::default()))
            }
            fn write(&self, _: &$crate::schema::Kind) -> Option<String> {
                Some(self.as_str().to_string())
            }
        }
    };
}

//! `createmap`: command line of the smx map compiler (see `lib.rs` for what
//! it does and `createmap(8)` for how to use it). Exit codes are sysexits:
//! 0 done, 1 key not found (`-q`, `--lookup`), 64 usage, 65 bad source
//! lines, 66 unreadable input, 73 the map cannot be created, 74 I/O error.

use clap::{Parser, ValueEnum};
use createmap::{BuildOptions, CreatemapError, LookupOptions};
use smx_maps::db::{Db, DbType, OpenOptions};
use smx_maps::kind::MapKind;
use smx_maps::source::Convention;
use std::io::{IsTerminal, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

const EX_NOTFOUND: u8 = 1;
const EX_USAGE: u8 = 64;
const EX_DATAERR: u8 = 65;
const EX_NOINPUT: u8 = 66;
const EX_CANTCREAT: u8 = 73;
const EX_IOERR: u8 = 74;

#[derive(Clone, Copy, ValueEnum)]
enum TypeArg {
    Hash,
    Btree,
}

#[derive(Clone, Copy, ValueEnum)]
enum KindArg {
    Access,
    Aliases,
    Mailertable,
    #[value(name = "qmgr_conf")]
    QmgrConf,
    /// SMTP AUTH passwords: user name and password hash.
    #[value(alias = "auth")]
    Passwords,
    Plain,
}

#[derive(Clone, Copy, ValueEnum)]
enum ConventionArg {
    Sendmail,
    Postfix,
}

/// Compile, check, query and dump smx maps (Berkeley DB hash or btree).
///
/// Without -q, --lookup or -u, createmap reads SOURCE (standard input when
/// it is absent), checks every line for the map kind, and writes MAP.db.
/// The new file replaces the old one atomically, so a running smx never
/// reads half a map. Every bad line is reported with its line number, and
/// then nothing is written.
#[derive(Parser)]
#[command(name = "createmap", version, after_help = EXAMPLES)]
struct Args {
    /// Database type.
    #[arg(short = 't', long = "type", value_enum, default_value = "hash")]
    db_type: TypeArg,
    /// Map kind: how values (and tagged keys) are checked.
    #[arg(short = 'k', long = "kind", value_enum, default_value = "plain")]
    kind: KindArg,
    /// Source convention: sendmail (a line starting with white space is an
    /// error) or postfix (it continues the previous line; keys may be quoted).
    #[arg(short = 'c', long, value_enum, default_value = "sendmail")]
    convention: ConventionArg,
    /// Store keys and values with a trailing NUL, as Postfix's postmap does.
    #[arg(short = 'N')]
    nul: bool,
    /// Do not fold keys to lower case.
    #[arg(short = 'f')]
    keep_case: bool,
    /// Let later duplicate keys replace earlier ones (else an error).
    #[arg(short = 'r')]
    replace: bool,
    /// Allow empty values.
    #[arg(short = 'e')]
    allow_empty: bool,
    /// Add to the existing map instead of rebuilding it.
    #[arg(short = 'o')]
    append: bool,
    /// Only check SOURCE; write nothing. Exit 65 when a line is bad.
    #[arg(long, conflicts_with_all = ["query", "lookup", "dump"])]
    check: bool,
    /// Print the value stored for KEY (exact key). Exit 1 if there is none.
    #[arg(short = 'q', value_name = "KEY", conflicts_with_all = ["lookup", "dump"])]
    query: Option<String>,
    /// Look ITEM up with the full lookup order of the sendmail X README
    /// §3.12.1, printing every key tried and the one that matched.
    #[arg(long, value_name = "[TAG:]ITEM", conflicts_with = "dump")]
    lookup: Option<String>,
    /// Dump the map as key<TAB>value lines.
    #[arg(short = 'u')]
    dump: bool,
    /// --lookup: the address extension delimiter.
    #[arg(long, default_value_t = '+', value_name = "C")]
    delimiter: char,
    /// --lookup: user@domain also matches user+detail@domain.
    #[arg(long)]
    implicitly_match_detail: bool,
    /// --lookup: after the address steps, try the local part alone
    /// (default for aliases maps).
    #[arg(long)]
    localpart: bool,
    /// --lookup: try the default key `.` after the domain keys (default for
    /// mailertable maps).
    #[arg(long)]
    default_key: bool,
    /// The map: MAP.db is written or read.
    #[arg(value_name = "MAP")]
    map: PathBuf,
    /// The source text (standard input when absent).
    #[arg(value_name = "SOURCE")]
    source: Option<PathBuf>,
}

const EXAMPLES: &str = "Examples:
  createmap -k access access access.txt        build access.db
  createmap -N -k aliases aliases < aliases    Postfix-style NULs
  createmap -k passwords auth auth.txt         build auth.db (SMTP AUTH)
  createmap --check -k mailertable mt mt.txt   check only
  createmap -q 'to:abuse' access               exact lookup
  createmap -k access --lookup to:user+x@a.example.org access
  createmap -u access                          dump as key<TAB>value";

fn main() -> ExitCode {
    let args = match Args::try_parse() {
        Ok(a) => a,
        Err(e) => {
            let code = if e.use_stderr() { EX_USAGE } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match run(&args) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            let code = match &e {
                CreatemapError::BadSource(lines) => {
                    let name = source_name(&args);
                    for l in lines {
                        eprintln!("createmap: {name}:{}: {}", l.line, l.message);
                    }
                    EX_DATAERR
                }
                CreatemapError::NoInput(_) => EX_NOINPUT,
                CreatemapError::CantCreate(_) => EX_CANTCREAT,
                CreatemapError::Map(_) => EX_IOERR,
            };
            eprintln!("createmap: {e}");
            ExitCode::from(code)
        }
    }
}

fn source_name(args: &Args) -> String {
    args.source
        .as_ref()
        .map_or_else(|| "stdin".to_string(), |p| p.display().to_string())
}

fn db_type(args: &Args) -> DbType {
    match args.db_type {
        TypeArg::Hash => DbType::Hash,
        TypeArg::Btree => DbType::Btree,
    }
}

fn kind(args: &Args) -> MapKind {
    match args.kind {
        KindArg::Access => MapKind::Access,
        KindArg::Aliases => MapKind::Aliases,
        KindArg::Mailertable => MapKind::Mailertable,
        KindArg::QmgrConf => MapKind::QmgrConf,
        KindArg::Passwords => MapKind::Passwords,
        KindArg::Plain => MapKind::Plain,
    }
}

fn read_source(args: &Args) -> Result<String, CreatemapError> {
    let bytes = match &args.source {
        Some(p) => std::fs::read(p)
            .map_err(|e| CreatemapError::NoInput(format!("cannot read {}: {e}", p.display())))?,
        None => {
            let mut b = Vec::new();
            std::io::stdin()
                .read_to_end(&mut b)
                .map_err(|e| CreatemapError::NoInput(format!("cannot read standard input: {e}")))?;
            b
        }
    };
    createmap::source_text(bytes)
}

fn run(args: &Args) -> Result<u8, CreatemapError> {
    let opts = BuildOptions {
        db_type: db_type(args),
        kind: kind(args),
        convention: match args.convention {
            ConventionArg::Sendmail => Convention::Sendmail,
            ConventionArg::Postfix => Convention::Postfix,
        },
        nul: args.nul,
        keep_case: args.keep_case,
        replace: args.replace,
        allow_empty: args.allow_empty,
        append: args.append,
    };
    if let Some(key) = &args.query {
        let map = createmap::open(&args.map, opts.db_type)?;
        return Ok(match createmap::query(&map, key, args.keep_case)? {
            Some(v) => {
                println!("{v}");
                0
            }
            None => EX_NOTFOUND,
        });
    }
    if let Some(item) = &args.lookup {
        let map = createmap::open(&args.map, opts.db_type)?;
        let mut lo = LookupOptions::for_kind(opts.kind);
        lo.address.delimiter = args.delimiter;
        lo.address.implicitly_match_detail |= args.implicitly_match_detail;
        lo.address.localpart_fallback |= args.localpart;
        lo.with_default |= args.default_key;
        let trace = createmap::lookup_item(&map, item, &lo)?;
        // When something was found, the last key tried is the match.
        let last = trace.tried.len().saturating_sub(1);
        for (i, key) in trace.tried.iter().enumerate() {
            let hit = trace.found.is_some() && i == last;
            println!("{} {key}", if hit { "*" } else { " " });
        }
        return Ok(match (&trace.found, trace.tried.last()) {
            (Some(found), Some(key)) => {
                println!("found: {key}\t{}", found.value);
                0
            }
            _ => {
                println!("not found");
                EX_NOTFOUND
            }
        });
    }
    if args.dump {
        let path = createmap::db_path(&args.map);
        let db = Db::open(&path, &OpenOptions::read(opts.db_type))
            .map_err(|e| CreatemapError::NoInput(format!("cannot read {}: {e}", path.display())))?;
        let stdout = std::io::stdout();
        let mut out = std::io::BufWriter::new(stdout.lock());
        createmap::dump(&db, &mut out)?;
        out.flush()
            .map_err(|e| CreatemapError::CantCreate(format!("output: {e}")))?;
        return Ok(0);
    }
    let text = read_source(args)?;
    if args.check {
        let errors = createmap::check(&text, &opts);
        if !errors.is_empty() {
            return Err(CreatemapError::BadSource(errors));
        }
        eprintln!("createmap: {}: OK", source_name(args));
        return Ok(0);
    }
    let tty = std::io::stderr().is_terminal();
    let summary = createmap::build(&args.map, &text, &opts, |line| {
        if tty {
            eprint!("\rcreatemap: {line} lines read");
        }
    })?;
    if tty {
        eprint!("\r");
    }
    let mut line = format!(
        "createmap: {}: {} entries",
        summary.path.display(),
        summary.entries
    );
    if summary.kept > 0 {
        line.push_str(&format!(", {} kept", summary.kept));
    }
    if summary.replaced > 0 {
        line.push_str(&format!(", {} replaced", summary.replaced));
    }
    line.push_str(&format!(" in {:.2} s", summary.elapsed.as_secs_f64()));
    eprintln!("{line}");
    Ok(0)
}

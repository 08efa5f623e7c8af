//! smxctl entry point: parses the command line with clap, runs the command
//! from the library and maps the outcome to a sysexits(3) exit status.
//!
//! Exit status: 0 success; 1 findings (errors, warnings under `--strict`, a
//! configuration `conf show` refuses, a filter that selects nothing);
//! 64 EX_USAGE for any command-line error (clap's own code 2 is replaced);
//! 66 EX_NOINPUT when the configuration cannot be read; 74 EX_IOERR when the
//! output cannot be written. A closed pipe (`smxctl conf show | head`) is
//! not an error.

use clap::{Parser, Subcommand, ValueEnum};
use smxctl::{CtlError, ReportFormat, ShowMode, ShowRequest, DEFAULT_CONFIG};
use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

/// sysexits(3) codes used by smxctl.
mod sysexits {
    pub const OK: u8 = 0;
    /// Not a sysexits code: "the check found something", as in grep/diff.
    pub const FINDINGS: u8 = 1;
    pub const USAGE: u8 = 64;
    pub const NOINPUT: u8 = 66;
    pub const IOERR: u8 = 74;
}

const LONG_ABOUT: &str = "\
Administration command of the smx mail transfer system.

Commands:
  check       Parse and validate smx.conf and print every finding with its
              stable code (E0xx errors, W0xx warnings). Exit 0 when there is
              no error, 1 when there are findings.
  conf show   Print the effective configuration in canonical smx.conf
              syntax, like postconf(1): every option (-d, the default) or only
              the options written in the file (-n), optionally narrowed to
              SECTION[.OPTION] filters. The output parses back to the same
              configuration.";

const AFTER_HELP: &str = "\
Exit status: 0 success, 1 findings, 64 usage error, 66 configuration file \
unreadable, 74 output error.

Queue commands (status, queue list|show|flush|hold|release|delete|bounce|shape, \
reload, stop) will arrive with the QMGR control socket.

See smxctl(8).";

#[derive(Debug, Parser)]
#[command(
    name = "smxctl",
    version,
    about = "smx administration: configuration checks and (later) queue control",
    long_about = LONG_ABOUT,
    after_help = AFTER_HELP,
    arg_required_else_help = true
)]
struct Cli {
    /// Configuration file to read.
    #[arg(
        short = 'f',
        long = "config",
        value_name = "FILE",
        global = true,
        default_value = DEFAULT_CONFIG
    )]
    file: PathBuf,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Parse and validate the configuration and print every finding.
    ///
    /// Findings are written to standard output. In the human format a
    /// summary line follows (`FILE: 2 errors, 1 warning` or `FILE: OK`);
    /// the json and github formats print findings only. Exit 0 when there
    /// is no error, 1 when there is one (or any warning with --strict).
    Check {
        /// Output format of the findings.
        #[arg(long, value_enum, default_value_t = FormatArg::Human)]
        format: FormatArg,
        /// Treat warnings as findings: exit 1 when there is any.
        #[arg(long)]
        strict: bool,
    },
    /// Configuration queries.
    #[command(subcommand)]
    Conf(ConfCommand),
}

#[derive(Debug, Subcommand)]
enum ConfCommand {
    /// Print the effective configuration in smx.conf syntax.
    ///
    /// Without -n, every option is printed with its effective value (the
    /// value written in the file, else the default), as with -d; options
    /// with no value are printed as `# NAME is not set` comments. With -n
    /// only the options written in the file are printed. FILTER selects a
    /// section or one option: `qmgr`, `qmgr.retry_min_delay`,
    /// `smar.map[lusers]`. Findings go to standard error; a configuration
    /// with errors is not printed (exit 1).
    Show {
        /// Print only the options written in the file.
        #[arg(short = 'n', long = "explicit", conflicts_with = "all")]
        explicit: bool,
        /// Print every option with its effective value (the default).
        #[arg(short = 'd', long = "all")]
        all: bool,
        /// SECTION[.OPTION] to print; all when none is given.
        #[arg(value_name = "FILTER")]
        filters: Vec<String>,
    },
}

/// `--format` values.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum FormatArg {
    /// Text with the source line and a caret, then a summary line.
    Human,
    /// One JSON object per finding (JSON Lines).
    Json,
    /// GitHub Actions annotations (`::error file=…,line=…,col=…,title=E0xx::…`).
    Github,
}

impl From<FormatArg> for ReportFormat {
    fn from(f: FormatArg) -> Self {
        match f {
            FormatArg::Human => ReportFormat::Human,
            FormatArg::Json => ReportFormat::Json,
            FormatArg::Github => ReportFormat::Github,
        }
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // Help and version go to stdout and succeed; every other parse
            // failure is a usage error (EX_USAGE), not clap's default 2.
            let code = if e.use_stderr() {
                sysexits::USAGE
            } else {
                sysexits::OK
            };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    ExitCode::from(run(cli))
}

fn run(cli: Cli) -> u8 {
    let stdout = io::stdout();
    let mut out = stdout.lock();
    let result = match cli.command {
        Command::Check { format, strict } => {
            smxctl::check(&cli.file, format.into(), &mut out).map(|summary| {
                if summary.fails(strict) {
                    sysexits::FINDINGS
                } else {
                    sysexits::OK
                }
            })
        }
        Command::Conf(ConfCommand::Show {
            explicit,
            all: _,
            filters,
        }) => {
            let req = ShowRequest {
                file: cli.file,
                mode: if explicit {
                    ShowMode::Explicit
                } else {
                    ShowMode::All
                },
                filters,
            };
            let stderr = io::stderr();
            let mut err = stderr.lock();
            smxctl::show(&req, &mut out, &mut err).map(|()| sysexits::OK)
        }
    };
    match result {
        Ok(code) => code,
        Err(CtlError::Output(e)) if e.kind() == io::ErrorKind::BrokenPipe => sysexits::OK,
        Err(e) => {
            let code = match &e {
                CtlError::Unreadable { .. } => sysexits::NOINPUT,
                CtlError::InvalidConfig { .. } | CtlError::NoSuchFilter(_) => sysexits::FINDINGS,
                CtlError::Output(_) => sysexits::IOERR,
            };
            let _ = out.flush();
            let _ = writeln!(io::stderr(), "smxctl: {e}");
            code
        }
    }
}

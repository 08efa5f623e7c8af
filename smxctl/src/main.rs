//! smxctl entry point: parses the command line with clap, runs the command
//! from the library and maps the outcome to a sysexits(3) exit status.
//!
//! Exit status: 0 success; 1 findings (errors, warnings under `--strict`, a
//! configuration `conf show` refuses, a filter that selects nothing, a bulk
//! action not confirmed with `--yes`, an unknown queue id);
//! 64 EX_USAGE for any command-line error (clap's own code 2 is replaced);
//! 66 EX_NOINPUT when the configuration cannot be read; 69 EX_UNAVAILABLE
//! when smxd is not running (no socket, connection refused or closed);
//! 70 EX_SOFTWARE when smxd refuses a request; 74 EX_IOERR when the output
//! cannot be written; 76 EX_PROTOCOL when smxd's answer is not protocol;
//! 77 EX_NOPERM when the control socket is not accessible; 78 EX_CONFIG
//! when the configuration has errors and the socket cannot be found. A
//! closed pipe (`smxctl conf show | head`) is not an error.

use clap::{Args, Parser, Subcommand, ValueEnum};
use smx_control::{ClientError, Filter, Selector, State};
use smxctl::format::parse_duration;
use smxctl::remote::{ActKind, Remote, RemoteError};
use smxctl::{CtlError, ReportFormat, ShowMode, ShowRequest, DEFAULT_CONFIG};
use std::io::{self, BufRead, Write};
use std::path::PathBuf;
use std::process::ExitCode;

/// sysexits(3) codes used by smxctl.
mod sysexits {
    pub const OK: u8 = 0;
    /// Not a sysexits code: "the check found something", as in grep/diff.
    pub const FINDINGS: u8 = 1;
    pub const USAGE: u8 = 64;
    pub const NOINPUT: u8 = 66;
    pub const UNAVAILABLE: u8 = 69;
    pub const SOFTWARE: u8 = 70;
    pub const IOERR: u8 = 74;
    pub const PROTOCOL: u8 = 76;
    pub const NOPERM: u8 = 77;
    pub const CONFIG: u8 = 78;
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
              configuration.
  status      The components of the running smxd: pid, uptime, restarts.
  stats       Counters, queue sizes by state, rates.
  queue list  The queue as a table, as JSON Lines (--json) or in the
              layout of Postfix mailq (--mailq); filters as options.
  queue show  One message: envelope, per-recipient status, headers.
  queue flush|hold|release|delete|bounce
              Act on messages by id (arguments, or - for ids on standard
              input) or by filter; by filter the matching count is printed
              and hold, release, delete and bounce need --yes.
  queue shape Recipients per destination domain and age, like qshape.
  reload, stop  Ask smxd to re-read its configuration or to stop.

The queue commands talk to the QMGR control socket, found from -f smx.conf
(qmgr { control_socket }) or given with --socket.";

const AFTER_HELP: &str = "\
Exit status: 0 success, 1 findings or not confirmed, 64 usage error, \
66 configuration file unreadable, 69 smxd not running, 70 request refused, \
74 output error, 76 protocol error, 77 socket not accessible, \
78 configuration errors.

See smxctl(8) and smx-control(5).";

#[derive(Debug, Parser)]
#[command(
    name = "smxctl",
    version,
    about = "smx administration: configuration checks and queue control",
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

    /// Control socket of the QMGR (instead of the one in the configuration).
    #[arg(long, value_name = "PATH", global = true)]
    socket: Option<PathBuf>,

    /// Print JSON Lines instead of tables (queue commands).
    #[arg(long, global = true)]
    json: bool,

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
    /// The components of smxd: pid, uptime, restarts, version.
    Status,
    /// Counters, queue sizes by state and rates.
    Stats,
    /// Queue listing and administration.
    #[command(subcommand)]
    Queue(QueueCommand),
    /// Ask smxd to re-read its configuration.
    Reload,
    /// Ask smxd to stop.
    Stop,
}

#[derive(Debug, Subcommand)]
enum QueueCommand {
    /// List the queue (all messages, or those the filters select).
    List {
        #[command(flatten)]
        filter: FilterArgs,
        /// Print in the layout of Postfix mailq.
        #[arg(long)]
        mailq: bool,
        /// Skip this many matching messages (in queue id order).
        #[arg(long, default_value_t = 0)]
        offset: usize,
        /// Print at most this many messages.
        #[arg(long)]
        limit: Option<usize>,
    },
    /// Show one message: envelope, recipients, last replies, headers.
    Show {
        /// The queue id.
        id: String,
    },
    /// Deliver the selected messages now (all when no id or filter is given).
    Flush(ActArgs),
    /// Hold the selected messages: they are not scheduled until released.
    Hold(ActArgs),
    /// Release held messages.
    Release(ActArgs),
    /// Delete the selected messages without a delivery status notification.
    Delete(ActArgs),
    /// Fail the selected messages and send delivery status notifications.
    Bounce(ActArgs),
    /// Recipients per destination domain and age bucket, like qshape.
    Shape {
        /// Age bucket upper bounds (e.g. 5m,1h,1d); qshape's when absent.
        #[arg(long, value_delimiter = ',', value_parser = parse_duration)]
        buckets: Option<Vec<u64>>,
    },
}

/// The filters of `queue list` and the actions.
#[derive(Debug, Args)]
struct FilterArgs {
    /// Only messages in this state.
    #[arg(long, value_enum)]
    state: Option<StateArg>,
    /// Sender glob (`*@example.com`, `<>` for the null sender).
    #[arg(long, value_name = "GLOB")]
    sender: Option<String>,
    /// Recipient glob: any recipient matches.
    #[arg(long, value_name = "GLOB")]
    recipient: Option<String>,
    /// Recipient domain glob (`*.example.com`).
    #[arg(long, value_name = "GLOB")]
    domain: Option<String>,
    /// Only messages at least this old (90s, 15m, 2h, 3d).
    #[arg(long, value_name = "AGE", value_parser = parse_duration)]
    older_than: Option<u64>,
    /// Only messages at most this old.
    #[arg(long, value_name = "AGE", value_parser = parse_duration)]
    younger_than: Option<u64>,
    /// Substring of the delay reason or last reply (case-insensitive).
    #[arg(long, value_name = "TEXT")]
    reason: Option<String>,
}

impl FilterArgs {
    fn filter(self) -> Filter {
        Filter {
            state: self.state.map(State::from),
            sender: self.sender,
            recipient: self.recipient,
            domain: self.domain,
            min_age: self.older_than,
            max_age: self.younger_than,
            reason: self.reason,
        }
    }
}

/// Arguments of flush, hold, release, delete and bounce.
#[derive(Debug, Args)]
struct ActArgs {
    /// Queue ids; `-` reads ids from standard input, one per line.
    ids: Vec<String>,
    #[command(flatten)]
    filter: FilterArgs,
    /// Select every message (with no filter option).
    #[arg(long)]
    all: bool,
    /// Confirm a bulk action selected by filter.
    #[arg(short, long)]
    yes: bool,
    /// Only print how many messages would be affected.
    #[arg(short = 'n', long)]
    dry_run: bool,
}

/// `--state` values.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum StateArg {
    Incoming,
    Active,
    Deferred,
    Held,
}

impl From<StateArg> for State {
    fn from(s: StateArg) -> Self {
        match s {
            StateArg::Incoming => State::Incoming,
            StateArg::Active => State::Active,
            StateArg::Deferred => State::Deferred,
            StateArg::Held => State::Held,
        }
    }
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
    let remote_cmd = match cli.command {
        Command::Status => Ok(Remote::Status),
        Command::Stats => Ok(Remote::Stats),
        Command::Reload => Ok(Remote::Reload),
        Command::Stop => Ok(Remote::Stop),
        Command::Queue(q) => queue_command(q),
        local => return run_local(cli.file, local, &mut out),
    };
    match remote_cmd {
        Ok(cmd) => remote(cli.socket, &cli.file, cmd, cli.json, &mut out),
        Err(msg) => {
            let _ = writeln!(io::stderr(), "smxctl: {msg}");
            sysexits::USAGE
        }
    }
}

/// Runs the offline commands (`check`, `conf show`).
fn run_local(file: PathBuf, command: Command, out: &mut io::StdoutLock<'_>) -> u8 {
    let cli_file = file;
    let result = match command {
        Command::Check { format, strict } => {
            smxctl::check(&cli_file, format.into(), out).map(|summary| {
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
                file: cli_file,
                mode: if explicit {
                    ShowMode::Explicit
                } else {
                    ShowMode::All
                },
                filters,
            };
            let stderr = io::stderr();
            let mut err = stderr.lock();
            smxctl::show(&req, out, &mut err).map(|()| sysexits::OK)
        }
        Command::Status | Command::Stats | Command::Queue(_) | Command::Reload | Command::Stop => {
            Ok(sysexits::OK)
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

/// Builds the queue command, reading ids from standard input for `-`.
fn queue_command(q: QueueCommand) -> Result<Remote, String> {
    let (kind, a) = match q {
        QueueCommand::List {
            filter,
            mailq,
            offset,
            limit,
        } => {
            return Ok(Remote::List {
                filter: filter.filter(),
                offset,
                limit,
                mailq,
            })
        }
        QueueCommand::Show { id } => return Ok(Remote::Show(id)),
        QueueCommand::Shape { buckets } => return Ok(Remote::Shape(buckets)),
        QueueCommand::Flush(a) => (ActKind::Flush, a),
        QueueCommand::Hold(a) => (ActKind::Hold, a),
        QueueCommand::Release(a) => (ActKind::Release, a),
        QueueCommand::Delete(a) => (ActKind::Delete, a),
        QueueCommand::Bounce(a) => (ActKind::Bounce, a),
    };
    let filter = a.filter.filter();
    let selector = if a.ids.is_empty() {
        if filter.is_empty() && !a.all && kind != ActKind::Flush {
            return Err(format!(
                "queue {}: give queue ids, - for ids on standard input, filter options or --all",
                kind.name()
            ));
        }
        Selector::Filter(filter)
    } else {
        if !filter.is_empty() || a.all {
            return Err(format!(
                "queue {}: give either queue ids or filter options, not both",
                kind.name()
            ));
        }
        let mut ids = Vec::new();
        for id in a.ids {
            if id == "-" {
                for l in io::stdin().lock().lines() {
                    let l = l.map_err(|e| format!("standard input: {e}"))?;
                    ids.extend(l.split_whitespace().map(str::to_owned));
                }
            } else {
                ids.push(id);
            }
        }
        Selector::Ids(ids)
    };
    Ok(Remote::Act {
        kind,
        selector,
        yes: a.yes,
        dry_run: a.dry_run,
    })
}

/// Finds the socket, runs `cmd` and maps the outcome to an exit status.
fn remote(
    socket: Option<PathBuf>,
    config: &std::path::Path,
    cmd: Remote,
    json: bool,
    out: &mut dyn Write,
) -> u8 {
    let socket = match socket {
        Some(s) => s,
        None => match smx_control::socket_from_config(config) {
            Ok(s) => s,
            Err(e) => {
                let _ = writeln!(io::stderr(), "smxctl: {e}");
                return match e {
                    smx_control::LocateError::Unreadable { .. } => sysexits::NOINPUT,
                    smx_control::LocateError::Invalid { .. } => sysexits::CONFIG,
                };
            }
        },
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            let _ = writeln!(io::stderr(), "smxctl: cannot start the runtime: {e}");
            return sysexits::SOFTWARE;
        }
    };
    let stderr = io::stderr();
    let mut err = stderr.lock();
    let result = rt.block_on(smxctl::remote::run(&socket, cmd, json, out, &mut err));
    let _ = out.flush();
    match result {
        Ok(()) => sysexits::OK,
        Err(RemoteError::Output(e)) if e.kind() == io::ErrorKind::BrokenPipe => sysexits::OK,
        Err(e) => {
            let code = match &e {
                RemoteError::NotConfirmed { .. } => sysexits::FINDINGS,
                RemoteError::Output(_) => sysexits::IOERR,
                RemoteError::Client(c) if c.is_unavailable() => sysexits::UNAVAILABLE,
                RemoteError::Client(ClientError::PermissionDenied(_)) => sysexits::NOPERM,
                RemoteError::Client(ClientError::Io(..)) => sysexits::UNAVAILABLE,
                RemoteError::Client(ClientError::Protocol(_)) => sysexits::PROTOCOL,
                RemoteError::Client(ClientError::Server { code, .. }) if code == "not_found" => {
                    sysexits::FINDINGS
                }
                RemoteError::Client(_) => sysexits::SOFTWARE,
            };
            let _ = writeln!(err, "smxctl: {e}");
            code
        }
    }
}

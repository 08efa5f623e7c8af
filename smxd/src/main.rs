//! smxd: one binary for every smx daemon (DESIGN.md "smxd: processes").
//! It dispatches busybox style on the file name of argv[0] (`qmgr`,
//! `smar`, `smtps`, `smtpc`, `lmtpl`), else on its first argument
//! (`smxd qmgr -f smx.conf`); `smxd`, `smxd mcp` and `smxd -f FILE` run
//! the MCP.
//!
//! Privileges: the MCP is started as root or as the invoking user and
//! never handles mail; each component runs as the user the MCP gives it.
//! Components not written yet are stubs: each logs that it is not implemented
//! and waits for SIGTERM, so the MCP can supervise it.

use std::path::PathBuf;

/// One log line to stderr in a single write(2), so lines of the MCP and of
/// its children sharing the same stderr do not interleave.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = std::io::stderr().write_all(format!("{}\n", format_args!($($arg)*)).as_bytes());
    }};
}
use std::process::ExitCode;

const USAGE: &str = "usage: smxd [mcp|qmgr|smar|smtps|smtpc|lmtpl] [-f FILE] [-N NAME] [-i ID] [-h]
  -f FILE  configuration file (default /etc/smx/smx.conf)
  -N NAME  name of the smtps section (smtps NAME { })
  -i ID    process id given by the MCP (pass_id)
  -S       log through syslog (each section's log { }) instead of stderr
  -h       this help";

const COMPONENTS: &[&str] = &["mcp", "qmgr", "smar", "smtps", "smtpc", "lmtpl", "fdtest"];

struct Args {
    component: String,
    config: PathBuf,
    name: Option<String>,
    id: Option<String>,
    rest: Vec<String>,
}

fn parse(argv: &[String]) -> Result<Option<Args>, String> {
    let prog = argv
        .first()
        .and_then(|a| std::path::Path::new(a).file_name())
        .and_then(|s| s.to_str())
        .unwrap_or("smxd");
    let mut it = argv.iter().skip(1).peekable();
    let component = if COMPONENTS.contains(&prog) {
        prog.to_string()
    } else {
        match it.peek() {
            Some(a) if COMPONENTS.contains(&a.as_str()) => {
                let c = a.to_string();
                it.next();
                c
            }
            _ => "mcp".to_string(),
        }
    };
    let mut args = Args {
        component,
        config: PathBuf::from("/etc/smx/smx.conf"),
        name: None,
        id: None,
        rest: Vec::new(),
    };
    while let Some(a) = it.next() {
        let mut value = |opt: &str| {
            it.next()
                .cloned()
                .ok_or(format!("option {opt} needs a value"))
        };
        match a.as_str() {
            "-h" | "--help" => return Ok(None),
            "-f" => args.config = PathBuf::from(value("-f")?),
            "-N" => args.name = Some(value("-N")?),
            "-i" => args.id = Some(value("-i")?),
            // Inherited by every component the MCP starts.
            "-S" if smxd::logging::syslog_requested().is_none() => {
                std::env::set_var(smxd::logging::ENV, "syslog")
            }
            "-S" => {}
            s if s.starts_with('-') => return Err(format!("unknown option {s}")),
            s => args.rest.push(s.to_string()),
        }
    }
    Ok(Some(args))
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().collect();
    let args = match parse(&argv) {
        Ok(Some(a)) => a,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            say!("smxd: {e}\n{USAGE}");
            return ExitCode::from(64);
        }
    };
    let code = match args.component.as_str() {
        "mcp" => smxd::mcp::main(&args.config),
        "qmgr" => smxd::qmgr::main(&args.config),
        "smtps" => smxd::inbound::run::main(&args.config, args.name.as_deref(), args.id.as_deref()),
        "smar" => smxd::smar::main(&args.config),
        "smtpc" => smxd::smtpc::main(&args.config, args.id.as_deref()),
        "lmtpl" => smxd::lmtpl::main(&args.config),
        "fdtest" => fdtest(&args),
        c => {
            say!("smxd: unknown component {c}");
            64
        }
    };
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}

/// Hidden test component: `smxd fdtest PASS_FD_SOCKET` receives a listener
/// from the MCP and answers every connection with "hello\n".
fn fdtest(args: &Args) -> i32 {
    use smxd::mcp::fdpass::{receive_listener, ReceivedListener};
    use std::io::Write;
    let Some(path) = args.rest.first() else {
        say!("fdtest: usage: smxd fdtest PASS_FD_SOCKET");
        return 64;
    };
    match receive_listener(std::path::Path::new(path)) {
        Ok(ReceivedListener::Tcp(l)) => {
            say!(
                "fdtest: received an inet listener (pid={})",
                std::process::id()
            );
            for mut c in l.incoming().flatten() {
                let _ = c.write_all(b"hello\n");
            }
            0
        }
        Ok(ReceivedListener::Unix(l)) => {
            say!(
                "fdtest: received a unix listener (pid={})",
                std::process::id()
            );
            for mut c in l.incoming().flatten() {
                let _ = c.write_all(b"hello\n");
            }
            0
        }
        Err(e) => {
            say!("fdtest: {e}");
            71
        }
    }
}

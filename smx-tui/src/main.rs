//! smx-tui entry point: finds the control socket (`--socket`, else from
//! `-f smx.conf` as smxd resolves it), starts the I/O task on a tokio
//! runtime and runs the terminal loop: read keys (crossterm), apply the
//! I/O task's updates, redraw. Exit status: 0 on quit, 64 EX_USAGE for a
//! command-line error, 66 EX_NOINPUT / 78 EX_CONFIG when the configuration
//! cannot be read or has errors, 71 EX_OSERR when the terminal or runtime
//! cannot be set up. smxd not running is not an error: the header shows the
//! connection state and smx-tui keeps retrying.

use clap::Parser;
use crossterm::event::{self, Event, KeyEventKind};
use smx_tui::app::{App, Command};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Debug, Parser)]
#[command(name = "smx-tui", version, about = "smx live queue monitor")]
struct Cli {
    /// Configuration file to find the control socket in.
    #[arg(
        short = 'f',
        long = "config",
        value_name = "FILE",
        default_value = "/etc/smx/smx.conf"
    )]
    file: PathBuf,
    /// Control socket of the QMGR (instead of the one in the configuration).
    #[arg(long, value_name = "PATH")]
    socket: Option<PathBuf>,
    /// Refresh interval in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 1000)]
    interval: u64,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 64 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let socket = match cli.socket {
        Some(s) => s,
        None => match smx_control::socket_from_config(&cli.file) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("smx-tui: {e}");
                return ExitCode::from(match e {
                    smx_control::LocateError::Unreadable { .. } => 66,
                    smx_control::LocateError::Invalid { .. } => 78,
                });
            }
        },
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("smx-tui: cannot start the runtime: {e}");
            return ExitCode::from(71);
        }
    };
    let (cmd_tx, cmd_rx) = tokio::sync::mpsc::unbounded_channel();
    let (up_tx, mut up_rx) = tokio::sync::mpsc::unbounded_channel();
    let interval = Duration::from_millis(cli.interval.max(100));
    let worker = rt.spawn(smx_tui::io::worker(socket.clone(), interval, cmd_rx, up_tx));
    let mut terminal = ratatui::init();
    let mut app = App::new(socket.display().to_string());
    let result = (|| -> std::io::Result<()> {
        loop {
            app.now = now();
            while let Ok(u) = up_rx.try_recv() {
                if let Some(c) = app.apply(u) {
                    let _ = cmd_tx.send(c);
                }
            }
            terminal.draw(|f| smx_tui::ui::draw(f, &mut app))?;
            if event::poll(Duration::from_millis(100))? {
                if let Event::Key(k) = event::read()? {
                    if k.kind != KeyEventKind::Press {
                        continue;
                    }
                    match app.key(k) {
                        Some(Command::Quit) => {
                            let _ = cmd_tx.send(Command::Quit);
                            return Ok(());
                        }
                        Some(c) => {
                            let _ = cmd_tx.send(c);
                        }
                        None => {}
                    }
                }
            }
        }
    })();
    ratatui::restore();
    worker.abort();
    rt.shutdown_timeout(Duration::from_millis(200));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("smx-tui: terminal: {e}");
            ExitCode::from(71)
        }
    }
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

//! What every component does first: read and check `smx.conf`, find the
//! queue directory (README §3.6; `queue_directory` is relative to the
//! configuration file's directory) and make it the working directory, so
//! that socket and database paths of the configuration resolve against it.

use smx_grammar::Config;
use std::path::{Path, PathBuf};

/// EX_CONFIG: the configuration cannot be used; the MCP does not restart.
pub const EX_CONFIG: i32 = 78;
/// EX_OSERR.
pub const EX_OSERR: i32 = 71;
/// EX_TEMPFAIL.
pub const EX_TEMPFAIL: i32 = 75;

/// A loaded configuration.
pub struct Loaded {
    /// The typed configuration.
    pub conf: Config,
    /// The configuration file, absolute.
    pub config_path: PathBuf,
    /// Its directory (configuration-relative paths resolve against it).
    pub conf_dir: PathBuf,
    /// The queue directory, absolute; also the working directory.
    pub queue_dir: PathBuf,
}

impl Loaded {
    /// A configuration-relative path (maps, certificates), made absolute.
    pub fn conf_path(&self, p: &str) -> PathBuf {
        self.conf_dir.join(p)
    }
}

/// Logs one line for component `who` at the normal level (see
/// [`crate::logging`]: stderr, or syslog with `smxd -S`).
pub fn log(who: &str, msg: impl AsRef<str>) {
    crate::logging::log(who, crate::logging::NOTICE, msg.as_ref());
}

/// Logs one line at `level` (`logging::ERROR` ... `logging::DEBUG`).
pub fn log_at(who: &str, level: u64, msg: impl AsRef<str>) {
    crate::logging::log(who, level, msg.as_ref());
}

/// Sets up logging for `who` from its section's `log { }` and `log_level`.
fn init_logging(who: &str, conf: &Config) {
    let g = &conf.global;
    let component = who.split(' ').next().unwrap_or(who);
    let (log, level) = match component {
        "qmgr" => (Some(&g.qmgr.log), g.qmgr.log_level),
        "smar" => (Some(&g.smar.log), g.smar.log_level),
        "smtpc" => (Some(&g.smtpc.log), g.smtpc.log_level),
        "lmtpl" => g
            .lmtpl
            .as_ref()
            .map_or((None, 9), |l| (Some(&l.log), l.log_level)),
        "smtps" => {
            let name = who.split_once(' ').map(|(_, n)| n);
            g.smtps
                .iter()
                .find(|i| i.name.as_deref() == name)
                .or_else(|| g.smtps.first())
                .map_or((None, 9), |i| (Some(&i.conf.log), i.conf.log_level))
        }
        _ => (None, 9),
    };
    crate::logging::init(who, log, level);
}

/// Loads `config` for component `who`; on failure logs why and returns the
/// exit code (78 for configuration errors).
pub fn load(who: &str, config: &Path) -> Result<Loaded, i32> {
    let checked = smx_grammar::check_file(config).map_err(|e| {
        log(who, e.to_string());
        EX_CONFIG
    })?;
    if !checked.is_ok() {
        for d in checked.errors() {
            let text = smx_grammar::diag::render(d, &checked.source, smx_grammar::Format::Human);
            log(who, text.trim_end());
        }
        return Err(EX_CONFIG);
    }
    let conf = checked.config.ok_or(EX_CONFIG)?;
    init_logging(who, &conf);
    let config_path = std::fs::canonicalize(config).map_err(|e| {
        log(who, format!("{}: {e}", config.display()));
        EX_CONFIG
    })?;
    let conf_dir = config_path
        .parent()
        .map_or_else(|| PathBuf::from("/"), Path::to_path_buf);
    let queue_dir = conf_dir.join(&conf.global.queue_directory);
    std::fs::create_dir_all(&queue_dir)
        .and_then(|()| std::env::set_current_dir(&queue_dir))
        .map_err(|e| {
            log(who, format!("queue directory {}: {e}", queue_dir.display()));
            EX_OSERR
        })?;
    Ok(Loaded {
        conf,
        config_path,
        conf_dir,
        queue_dir,
    })
}

/// How many worker threads a component's runtime has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workers {
    /// One per CPU (tokio's default): the SMTP server and client, the
    /// LMTP client, whose sessions are the load and which scale further
    /// with `processes`.
    PerCpu,
    /// One: the QMGR and SMAR, whose requests are short (their disk
    /// writes and slow lookups have threads of their own). One worker
    /// spares the wake-ups between workers: in `bench/accept.sh` it cut
    /// their CPU per message by about a fifth (docs/PERFORMANCE.md).
    One,
}

/// A multi-threaded tokio runtime for component `who` (blocking work goes
/// to its blocking pool whatever `workers` says); on failure logs why and
/// returns EX_OSERR.
pub fn runtime(who: &str, workers: Workers) -> Result<tokio::runtime::Runtime, i32> {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if workers == Workers::One {
        builder.worker_threads(1);
    }
    builder.enable_all().build().map_err(|e| {
        log(who, format!("cannot start the runtime: {e}"));
        EX_OSERR
    })
}

/// A component that is not written yet: logs so, then waits for SIGTERM
/// (exit 0) and answers SIGHUP with a log line, so the MCP can supervise it.
///
/// Every component logs `WHO: ready (pid=N)` (`(pid=N id=I)` with an id
/// from the MCP's `pass_id`) once its signal handlers are
/// installed and it serves, and a line starting `WHO: SIGHUP` on SIGHUP.
pub fn not_implemented(who: &str, id: Option<&str>) -> i32 {
    let pid = std::process::id();
    let id = id.map(|i| format!(" id={i}")).unwrap_or_default();
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            log(who, e.to_string());
            return EX_OSERR;
        }
    };
    rt.block_on(async {
        let mut signals = match Signals::install(who) {
            Ok(s) => s,
            Err(code) => return code,
        };
        // Logged once the handlers are in place, so a supervisor that sees
        // this line may signal.
        log(
            who,
            format!("ready (pid={pid}{id}); component {who} is not implemented yet"),
        );
        loop {
            match signals.next().await {
                Sig::Stop => {
                    log(who, format!("stopping (pid={pid})"));
                    return 0;
                }
                Sig::Reload => log(who, format!("SIGHUP (pid={pid}); reloading configuration")),
            }
        }
    })
}

/// The host name the components use: `hostname` of smx.conf, else the
/// system's, else `localhost`.
pub fn hostname(conf: &Config) -> String {
    conf.global.hostname.clone().unwrap_or_else(|| {
        nix::unistd::gethostname()
            .ok()
            .and_then(|h| h.into_string().ok())
            .unwrap_or_else(|| "localhost".to_string())
    })
}

/// The name of user `uid`, or the number when it has none.
pub fn user_name(uid: nix::unistd::Uid) -> String {
    nix::unistd::User::from_uid(uid)
        .ok()
        .flatten()
        .map_or_else(|| uid.to_string(), |u| u.name)
}

/// For a "permission denied": who this process runs as and where the
/// postmaster finds who must own what; empty for any other error.
pub fn denied_hint(e: &std::io::Error) -> String {
    if e.kind() != std::io::ErrorKind::PermissionDenied {
        return String::new();
    }
    let uid = nix::unistd::Uid::effective();
    let name = user_name(uid);
    format!(
        " (this process runs as user {name}, uid {uid}, which may not write there; \
         FILES in smxd(8) says who must own the queue directory and the socket directories)"
    )
}

/// Binds a component's Unix listening socket at `path` (relative to the
/// queue directory): creates its directory if missing (then with
/// `dir_mode`, whatever the umask; an existing one is left as its owner
/// made it, e.g. the MCP's setgid directories of
/// [`crate::mcp::privilege::socket_dirs`]), removes a socket left by a
/// crash, binds, and makes the socket mode 0660: the directory's owner
/// and group decide who may connect. A "permission denied" says who this
/// process runs as ([`denied_hint`]).
pub fn bind_unix(path: &Path, dir_mode: Option<u32>) -> std::io::Result<tokio::net::UnixListener> {
    bind_unix_inner(path, dir_mode)
        .map_err(|e| std::io::Error::new(e.kind(), format!("{e}{}", denied_hint(&e))))
}

fn bind_unix_inner(
    path: &Path,
    dir_mode: Option<u32>,
) -> std::io::Result<tokio::net::UnixListener> {
    use std::os::unix::fs::PermissionsExt;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        let created = !dir.exists();
        std::fs::create_dir_all(dir)?;
        if let Some(mode) = dir_mode.filter(|_| created) {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode))?;
        }
    }
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let listener = tokio::net::UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))?;
    Ok(listener)
}

/// The signals every component handles: SIGTERM and SIGINT stop it,
/// SIGHUP asks it to reload.
pub struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

impl Signals {
    /// Installs the handlers; on failure logs why and returns EX_OSERR.
    pub fn install(who: &str) -> Result<Signals, i32> {
        use tokio::signal::unix::{signal, SignalKind};
        match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
            signal(SignalKind::hangup()),
        ) {
            (Ok(term), Ok(int), Ok(hup)) => Ok(Signals { term, int, hup }),
            _ => {
                log(who, "cannot install signal handlers");
                Err(EX_OSERR)
            }
        }
    }

    /// The next signal.
    pub async fn next(&mut self) -> Sig {
        tokio::select! {
            _ = self.term.recv() => Sig::Stop,
            _ = self.int.recv() => Sig::Stop,
            _ = self.hup.recv() => Sig::Reload,
        }
    }
}

/// What a signal asks of a component.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sig {
    /// SIGTERM or SIGINT: stop.
    Stop,
    /// SIGHUP: reload.
    Reload,
}

/// What every component's `main` does: load the configuration, build the
/// runtime with `workers`, run `run` on it; returns the exit code.
pub fn run_component<F, Fut>(who: &str, config: &Path, workers: Workers, run: F) -> i32
where
    F: FnOnce(Loaded) -> Fut,
    Fut: std::future::Future<Output = i32>,
{
    let loaded = match load(who, config) {
        Ok(l) => l,
        Err(code) => return code,
    };
    match runtime(who, workers) {
        Ok(rt) => rt.block_on(run(loaded)),
        Err(code) => code,
    }
}

//! The MCP, sendmail X's master control program (README §3.7, §4.1;
//! DESIGN.md "smxd: processes"): reads smx.conf, opens the listening
//! sockets, starts every component as its own process, restarts what ends
//! and forwards SIGTERM/SIGINT/SIGHUP.
//!
//! - [`plan`]: which programs, in which order, with which argv (pure).
//! - [`listen`]: inet and unix listening sockets.
//! - [`fdpass`]: SCM_RIGHTS over `pass_fd_socket`, both sides.
//! - [`privilege`]: `user`/`group` to uid/gid.
//! - [`supervise`]: the event loop.
//!
//! `start_action` (§3.7 item 1), as smx implements it:
//! - `wait`: start `min_processes` processes; they open what they need.
//! - `pass`: bind `listen_socket`, start the processes, hand each the
//!   listening descriptor over `pass_fd_socket`.
//! - `accept`: inetd "wait" style: bind `listen_socket`, start
//!   `min_processes` processes at boot with the listening socket as their
//!   stdin; they accept connections themselves. Restarted like `wait`.
//! - `nostartaccept`: inetd "nowait" style: start nothing at boot; the MCP
//!   accepts each connection and starts one process for it with the
//!   connection as stdin and stdout, at most `max_processes` at once
//!   (further clients wait in the listen queue). These are not restarted.
//!
//! Privileges: the MCP runs as root (to bind port 25 and switch users) or
//! as the invoking user, and never handles mail. Before it starts anything
//! it makes the queue directory (relative to the configuration file's
//! directory) its working directory; socket paths are relative to it.

pub mod fdpass;
pub mod listen;
pub mod plan;
pub mod privilege;
pub mod supervise;

use nix::unistd::Uid;
use smx_grammar::config::StartAction;
use std::path::{Path, PathBuf};
use supervise::{Prepared, Tuning, EX_CONFIG, EX_OSERR};

/// One log line of the MCP (see [`crate::logging`]).
pub(crate) fn log(msg: impl AsRef<str>) {
    crate::logging::log("mcp", crate::logging::NOTICE, msg.as_ref());
}

/// Runs the MCP with the configuration file `config`; returns the exit
/// code (0 after a SIGTERM, 78 on a configuration error, 71 when a socket
/// cannot be opened).
pub fn main(config: &Path) -> i32 {
    let checked = match smx_grammar::check_file(config) {
        Ok(c) => c,
        Err(e) => {
            log(e.to_string());
            return EX_CONFIG;
        }
    };
    for d in &checked.diagnostics {
        let text = smx_grammar::diag::render(d, &checked.source, smx_grammar::Format::Human);
        let _ = std::io::Write::write_all(&mut std::io::stderr(), format!("{text}\n").as_bytes());
    }
    let (true, Some(conf)) = (checked.is_ok(), checked.config.as_ref()) else {
        log(format!(
            "{}: configuration errors; not starting",
            config.display()
        ));
        return EX_CONFIG;
    };
    crate::logging::init("mcp", None, 9);
    let config_path = match std::fs::canonicalize(config) {
        Ok(p) => p,
        Err(e) => {
            log(format!("{}: {e}", config.display()));
            return EX_CONFIG;
        }
    };
    let conf_dir = config_path
        .parent()
        .map_or_else(|| PathBuf::from("/"), Path::to_path_buf);
    let qdir = conf_dir.join(&conf.global.queue_directory);
    // (socket, section keyword of the component at its other end)
    let sockets = [
        (qdir.join(&conf.global.smar_socket), "smar"),
        (qdir.join(&conf.global.smtps_socket), "smtps"),
        (qdir.join(&conf.global.smtpc_socket), "smtpc"),
    ];
    let fresh = !qdir.exists();
    if let Err(e) = std::fs::create_dir_all(&qdir).and_then(|()| std::env::set_current_dir(&qdir)) {
        log(format!("queue directory {}: {e}", qdir.display()));
        return EX_OSERR;
    }
    let self_exe = match std::env::current_exe() {
        Ok(p) => p,
        Err(e) => {
            log(format!("cannot find my own executable: {e}"));
            return EX_OSERR;
        }
    };
    let components = match plan::plan(conf, &config_path, &self_exe) {
        Ok(p) => p,
        Err(e) => {
            log(e.to_string());
            return EX_CONFIG;
        }
    };
    let as_root = Uid::effective().is_root();
    let mut prepared = Vec::new();
    for comp in components {
        let run_as = match privilege::resolve(
            &comp.name,
            comp.user.as_deref(),
            comp.group.as_deref(),
            as_root,
        ) {
            Ok((r, note)) => {
                if let Some(n) = note {
                    log(n);
                }
                r
            }
            Err(e) => {
                log(e.to_string());
                return EX_CONFIG;
            }
        };
        let listener = match (&comp.start_action, &comp.listen) {
            (StartAction::Wait, _) => None,
            (_, None) => {
                log(format!("{}: start_action needs a listen_socket", comp.name));
                return EX_CONFIG;
            }
            (_, Some(ls)) => match listen::open(ls) {
                Ok(l) => {
                    log(format!("{}: listening on {}", comp.name, l.describe()));
                    Some(l)
                }
                Err(e) => {
                    log(format!("{}: {e}", comp.name));
                    return EX_OSERR;
                }
            },
        };
        let pass = if comp.start_action == StartAction::Pass {
            let Some(p) = &comp.pass_fd_socket else {
                log(format!(
                    "{}: start_action pass needs a pass_fd_socket",
                    comp.name
                ));
                return EX_CONFIG;
            };
            let path = PathBuf::from(p);
            match listen::open_unix(
                &path,
                Some(0o177),
                None,
                None,
                Some((run_as.uid, run_as.gid)),
            ) {
                Ok(l) => Some((l, path)),
                Err(e) => {
                    log(format!("{}: pass_fd_socket: {e}", comp.name));
                    return EX_OSERR;
                }
            }
        } else {
            None
        };
        if comp.boot_processes() == 0 && comp.start_action != StartAction::NoStartAccept {
            log(format!(
                "{}: min_processes is 0; not starting it",
                comp.name
            ));
        }
        prepared.push(Prepared {
            comp,
            run_as,
            listener,
            pass,
        });
    }
    if as_root {
        if let Some(q) = prepared.iter().find(|p| p.comp.name == "qmgr") {
            if let Some(line) = privilege::queue_owner(&qdir, fresh, q.run_as) {
                log(line);
            }
            let run_as = |section: &str| {
                prepared
                    .iter()
                    .find(|p| p.comp.section == section)
                    .map(|p| p.run_as)
                    .unwrap_or_default()
            };
            let dirs: Vec<_> = sockets
                .iter()
                .map(|(path, section)| (path.as_path(), run_as(section)))
                .collect();
            for line in privilege::socket_dirs(&dirs, q.run_as, fresh) {
                log(line);
            }
        }
    }
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            log(format!("cannot start the runtime: {e}"));
            return EX_OSERR;
        }
    };
    rt.block_on(supervise::run(prepared, Tuning::default()))
}

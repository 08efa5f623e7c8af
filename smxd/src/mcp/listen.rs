//! Listening sockets the MCP opens for its components (README §3.7 item
//! 2): inet (SO_REUSEADDR, any IPv4 address unless `address` is given) and
//! unix (path relative to the queue directory, stale socket removed,
//! `umask` applied, owner and group set when the MCP runs as root).
//!
//! Privileges: runs in the MCP, typically as root, so that a component
//! running as an unprivileged user can serve port 25. Nothing here reads
//! from the network.

use nix::sys::stat::{umask, Mode};
use nix::unistd::{chown, Gid, Group, Uid, User};
use smx_grammar::config::{ListenSocket, SocketType};
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::FileTypeExt;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};

/// A bound, listening socket.
#[derive(Debug)]
pub enum Listener {
    /// TCP over IPv4.
    Tcp(TcpListener),
    /// A Unix domain socket, with its path (removed on shutdown).
    Unix(UnixListener, PathBuf),
}

impl Listener {
    /// A new descriptor for the same socket (for a child's stdin).
    pub fn dup(&self) -> std::io::Result<OwnedFd> {
        self.as_fd().try_clone_to_owned()
    }

    /// Where it listens, for log lines.
    pub fn describe(&self) -> String {
        match self {
            Listener::Tcp(l) => l
                .local_addr()
                .map_or_else(|_| "inet".to_string(), |a| format!("inet {a}")),
            Listener::Unix(_, p) => format!("unix {}", p.display()),
        }
    }
}

impl AsFd for Listener {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match self {
            Listener::Tcp(l) => l.as_fd(),
            Listener::Unix(l, _) => l.as_fd(),
        }
    }
}

/// Why a listening socket cannot be opened.
#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    /// An inet socket without a port.
    #[error("listen_socket: inet socket without a port")]
    NoPort,
    /// A unix socket without a path.
    #[error("listen_socket: unix socket without a path")]
    NoPath,
    /// A system call failed.
    #[error("{what}: {source}")]
    Sys {
        /// What was being done.
        what: String,
        /// The error.
        source: std::io::Error,
    },
    /// A user or group name is unknown.
    #[error("unknown {kind} `{name}`")]
    Unknown {
        /// "user" or "group".
        kind: &'static str,
        /// The name.
        name: String,
    },
}

fn sys(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> ListenError {
    let what = what.into();
    move |source| ListenError::Sys { what, source }
}

fn errno(what: impl Into<String>) -> impl FnOnce(nix::Error) -> ListenError {
    let what = what.into();
    move |e| ListenError::Sys {
        what,
        source: std::io::Error::from(e),
    }
}

/// Opens the socket `ls` describes; unix paths are relative to the
/// current directory (the queue directory).
pub fn open(ls: &ListenSocket) -> Result<Listener, ListenError> {
    match ls.socket_type {
        SocketType::Inet => {
            let port = ls.port.ok_or(ListenError::NoPort)?;
            let port = u16::try_from(port).map_err(|_| ListenError::NoPort)?;
            let addr = SocketAddrV4::new(ls.address.unwrap_or(Ipv4Addr::UNSPECIFIED), port);
            open_inet(addr).map(Listener::Tcp)
        }
        SocketType::Unix => {
            let path = ls.path.as_deref().ok_or(ListenError::NoPath)?;
            let mode = ls.umask.and_then(|m| u32::try_from(m).ok());
            let l = open_unix(
                Path::new(path),
                mode,
                ls.user.as_deref(),
                ls.group.as_deref(),
                None,
            )?;
            Ok(Listener::Unix(l, PathBuf::from(path)))
        }
    }
}

/// A TCP listener with SO_REUSEADDR, so a restarted MCP can bind again
/// while old connections are in TIME_WAIT (std's `bind` sets it on Unix
/// before binding; checked here so that a change there cannot go unseen).
pub fn open_inet(addr: SocketAddrV4) -> Result<TcpListener, ListenError> {
    let what = format!("listen on {addr}");
    let l = TcpListener::bind(addr).map_err(sys(what.clone()))?;
    let reuse = nix::sys::socket::getsockopt(&l, nix::sys::socket::sockopt::ReuseAddr)
        .map_err(errno(what.clone()))?;
    if !reuse {
        nix::sys::socket::setsockopt(&l, nix::sys::socket::sockopt::ReuseAddr, &true)
            .map_err(errno(what))?;
    }
    Ok(l)
}

/// A Unix domain listener at `path`: a stale socket there is removed
/// (anything else is left alone and reported), the parent directory is
/// created, `umask` (default 077) applies while binding, and owner/group
/// are set when running as root. `owner_uid` overrides `user` (used for
/// pass_fd_socket, which belongs to the component's user).
pub fn open_unix(
    path: &Path,
    mask: Option<u32>,
    user: Option<&str>,
    group: Option<&str>,
    owner_uid: Option<(Option<Uid>, Option<Gid>)>,
) -> Result<UnixListener, ListenError> {
    let shown = path.display().to_string();
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(sys(format!("create {}", dir.display())))?;
    }
    match std::fs::symlink_metadata(path) {
        Ok(md) if md.file_type().is_socket() => {
            std::fs::remove_file(path).map_err(sys(format!("remove stale socket {shown}")))?;
        }
        Ok(_) => {
            return Err(ListenError::Sys {
                what: format!("{shown} exists and is not a socket"),
                source: std::io::Error::from(std::io::ErrorKind::AlreadyExists),
            })
        }
        Err(_) => {}
    }
    // umask is per process; the MCP opens its sockets before it starts
    // anything, so no other thread creates files meanwhile.
    let m = Mode::from_bits_truncate(mask.unwrap_or(0o077) & 0o777);
    let old = umask(m);
    let bound = UnixListener::bind(path);
    umask(old);
    let l = bound.map_err(sys(format!("listen on {shown}")))?;
    if Uid::effective().is_root() {
        let (uid, gid) = match owner_uid {
            Some(ids) => ids,
            None => (
                user.map(|u| lookup_user(u).map(|u| u.uid)).transpose()?,
                group.map(|g| lookup_group(g).map(|g| g.gid)).transpose()?,
            ),
        };
        if uid.is_some() || gid.is_some() {
            chown(path, uid, gid).map_err(errno(format!("chown {shown}")))?;
        }
    }
    Ok(l)
}

fn lookup_user(name: &str) -> Result<User, ListenError> {
    match User::from_name(name) {
        Ok(Some(u)) => Ok(u),
        _ => Err(ListenError::Unknown {
            kind: "user",
            name: name.to_string(),
        }),
    }
}

fn lookup_group(name: &str) -> Result<Group, ListenError> {
    match Group::from_name(name) {
        Ok(Some(g)) => Ok(g),
        _ => Err(ListenError::Unknown {
            kind: "group",
            name: name.to_string(),
        }),
    }
}

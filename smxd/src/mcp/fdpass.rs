//! Passing a listening socket from the MCP to a component over a Unix
//! domain socket with SCM_RIGHTS (README §3.7 item 3, `pass_fd_socket`).
//!
//! Protocol: the MCP listens on `pass_fd_socket` (mode 0600, owned by the
//! component's user) before it starts the component. The component
//! connects, and the MCP answers with one byte carrying the listening
//! descriptor, then closes. The MCP hands it only to a peer whose pid
//! (SO_PEERCRED) is one of the processes it started for that section.
//!
//! Privileges: the sending side runs in the MCP; [`receive_listener`] runs
//! in the component, unprivileged, and trusts nothing but the socket path
//! from its own configuration.

use nix::sys::socket::{
    getsockname, recvmsg, sendmsg, AddressFamily, ControlMessage, ControlMessageOwned, MsgFlags,
    SockaddrLike, SockaddrStorage,
};
use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::time::{Duration, Instant};

/// Sends `listener` over the connected `peer` (MCP side).
pub fn send_listener(peer: &UnixStream, listener: &impl AsFd) -> std::io::Result<()> {
    let fds = [listener.as_fd().as_raw_fd()];
    let iov = [IoSlice::new(b"L")];
    sendmsg::<()>(
        peer.as_raw_fd(),
        &iov,
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::empty(),
        None,
    )?;
    Ok(())
}

/// The pid of the process at the other end of `peer`.
pub fn peer_pid(peer: &UnixStream) -> std::io::Result<i32> {
    let cred = nix::sys::socket::getsockopt(peer, nix::sys::socket::sockopt::PeerCredentials)?;
    Ok(cred.pid())
}

/// A listening socket received from the MCP.
#[derive(Debug)]
pub enum ReceivedListener {
    /// TCP (inet listen_socket).
    Tcp(std::net::TcpListener),
    /// Unix domain (unix listen_socket).
    Unix(UnixListener),
}

/// Why no listener was received.
#[derive(Debug, thiserror::Error)]
pub enum ReceiveError {
    /// Connecting to pass_fd_socket or reading from it failed.
    #[error("{path}: {source}")]
    Io {
        /// The pass_fd_socket.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// The MCP sent no descriptor.
    #[error("{0}: no descriptor received")]
    NoDescriptor(String),
    /// The descriptor is neither an inet nor a unix socket.
    #[error("{0}: the descriptor received is not a listening socket")]
    NotASocket(String),
}

/// Connects to `path` (retrying for up to 10 seconds while the MCP sets
/// up) and receives the listening socket (component side).
pub fn receive_listener(path: &Path) -> Result<ReceivedListener, ReceiveError> {
    let shown = path.display().to_string();
    let io = |source| ReceiveError::Io {
        path: shown.clone(),
        source,
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    let stream = loop {
        match UnixStream::connect(path) {
            Ok(s) => break s,
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(e) => return Err(io(e)),
        }
    };
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(io)?;
    let mut byte = [0u8; 1];
    let mut iov = [IoSliceMut::new(&mut byte)];
    let mut space = nix::cmsg_space!([RawFd; 1]);
    let msg = recvmsg::<()>(
        stream.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )
    .map_err(|e| io(e.into()))?;
    let mut received = None;
    for c in msg.cmsgs().map_err(|e| io(e.into()))? {
        if let ControlMessageOwned::ScmRights(fds) = c {
            for fd in fds {
                let owned = own_received_fd(fd);
                if received.is_none() {
                    received = Some(owned);
                }
            }
        }
    }
    let fd = received.ok_or_else(|| ReceiveError::NoDescriptor(shown.clone()))?;
    let family = getsockname::<SockaddrStorage>(fd.as_raw_fd())
        .ok()
        .and_then(|a| a.family());
    match family {
        Some(AddressFamily::Inet) | Some(AddressFamily::Inet6) => {
            Ok(ReceivedListener::Tcp(std::net::TcpListener::from(fd)))
        }
        Some(AddressFamily::Unix) => Ok(ReceivedListener::Unix(UnixListener::from(fd))),
        _ => Err(ReceiveError::NotASocket(shown)),
    }
}

/// Takes ownership of a descriptor that arrived with SCM_RIGHTS.
#[allow(unsafe_code)]
fn own_received_fd(fd: RawFd) -> OwnedFd {
    use std::os::fd::FromRawFd;
    // SAFETY: the kernel has just installed `fd` in this process's table
    // for this recvmsg(2) call; nothing else knows it, so this is its only
    // owner, and it is open. (std has no stable safe API for SCM_RIGHTS.)
    unsafe { OwnedFd::from_raw_fd(fd) }
}

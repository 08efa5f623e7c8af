//! Whom a component runs as (README §3.7 items 4 and 5).
//!
//! When the MCP runs as root, a component with `user` runs with that user's
//! uid and with `group`'s gid (or else the user's primary group); std's
//! `Command::uid` also clears the supplementary groups (setgroups(0)) before
//! switching. A `user` or `group` that does not exist makes the MCP refuse
//! to start at all (EX_CONFIG) rather than run the component as root.
//! Without `user` a component started by root stays root (logged).
//! When the MCP does not run as root it starts everything as itself and
//! ignores `user`/`group` (logged), which is what tests and
//! unprivileged installations want.
//!
//! The queue directory belongs to the QMGR's user ([`queue_owner`], after
//! README "Directories, Files, and Permissions"): one the MCP creates is
//! given to it; an existing one it cannot write is reported with the fix.
//! In a queue it creates, the MCP also makes the socket directories
//! ([`socket_dirs`]) as that section lays them out, so that components
//! running as different users of one group reach each other; in an
//! existing one it reports those a component may not use, with the fix.

use nix::unistd::{Gid, Group, Uid, User};

/// The ids a component's processes get.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RunAs {
    /// uid to switch to, if any.
    pub uid: Option<Uid>,
    /// gid to switch to, if any.
    pub gid: Option<Gid>,
}

/// A `user`/`group` that cannot be switched to.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{component}: unknown {kind} `{name}`; refusing to run it as root")]
pub struct UnknownId {
    /// The component.
    pub component: String,
    /// "user" or "group".
    pub kind: &'static str,
    /// The name.
    pub name: String,
}

/// Resolves `user`/`group` of `component`; `as_root` tells whether the MCP
/// runs as root. Returns the ids and, possibly, a note to log.
pub fn resolve(
    component: &str,
    user: Option<&str>,
    group: Option<&str>,
    as_root: bool,
) -> Result<(RunAs, Option<String>), UnknownId> {
    if !as_root {
        let note = (user.is_some() || group.is_some()).then(|| {
            format!(
                "{component}: not started as root; running as uid {} (user/group ignored)",
                Uid::current()
            )
        });
        return Ok((RunAs::default(), note));
    }
    let unknown = |kind, name: &str| UnknownId {
        component: component.to_string(),
        kind,
        name: name.to_string(),
    };
    let u = match user {
        Some(n) => match User::from_name(n) {
            Ok(Some(u)) => Some(u),
            _ => return Err(unknown("user", n)),
        },
        None => None,
    };
    let g = match group {
        Some(n) => match Group::from_name(n) {
            Ok(Some(g)) => Some(g.gid),
            _ => return Err(unknown("group", n)),
        },
        None => u.as_ref().map(|u| u.gid),
    };
    let note = u
        .is_none()
        .then(|| format!("{component}: no `user` configured; it runs as root"));
    Ok((
        RunAs {
            uid: u.map(|u| u.uid),
            gid: g,
        },
        note,
    ))
}

/// The socket directories of the queue, as README "Directories, Files,
/// and Permissions" lays them out: each belongs to the QMGR's user and to
/// the group of the component at its other end (`sockets`: each socket
/// with that component's ids; SMAR's for `SMAR_socket`, the SMTP
/// server's for `SMTPS_socket`, the SMTP client's for `SMTPC_socket`),
/// mode 02770: setgid, so a socket made in it gets that group. Sockets
/// are made mode 0660 ([`crate::component::bind_unix`]), so the owner of
/// a socket and the members of its directory's group may connect.
///
/// In a queue the MCP has just created (`fresh`) it makes them so. In an
/// existing one it changes nothing, but says, with the fix, each one
/// that the QMGR or the component at the other end may not use. Returns
/// the lines to log.
pub fn socket_dirs(sockets: &[(&std::path::Path, RunAs)], qmgr: RunAs, fresh: bool) -> Vec<String> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let Some(uid) = qmgr.uid else {
        return Vec::new();
    };
    let mut lines = Vec::new();
    for (socket, peer) in sockets {
        let Some(dir) = socket.parent().filter(|d| !d.as_os_str().is_empty()) else {
            continue;
        };
        let group = peer.gid.or(qmgr.gid);
        if fresh {
            let made = std::fs::create_dir_all(dir)
                .and_then(|()| {
                    nix::unistd::chown(dir, Some(uid), group).map_err(std::io::Error::from)
                })
                .and_then(|()| {
                    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o2770))
                });
            if let Err(e) = made {
                lines.push(format!("socket directory {}: {e}", dir.display()));
            }
            continue;
        }
        let Ok(meta) = std::fs::metadata(dir) else {
            continue;
        };
        let shut_out = [qmgr, *peer]
            .into_iter()
            .filter_map(|r| Some((r.uid?, r.gid)))
            .find(|(u, g)| !may_write(&meta, *u, *g));
        if let Some((u, _)) = shut_out {
            let group = group.map_or_else(String::new, |g| format!(":{}", group_name(g)));
            lines.push(format!(
                "socket directory {}: user {} may not use it (owner uid {}, gid {}, mode {:o}); \
                 the layout of FILES in smxd(8) is: chown {}{group} {} && chmod 2770 {}",
                dir.display(),
                crate::component::user_name(u),
                meta.uid(),
                meta.gid(),
                meta.mode() & 0o7777,
                crate::component::user_name(uid),
                dir.display(),
                dir.display()
            ));
        }
    }
    lines
}

/// Whether `uid` (in group `gid`) may create entries in the directory
/// `meta` describes (write and search permission; root always may).
fn may_write(meta: &std::fs::Metadata, uid: Uid, gid: Option<Gid>) -> bool {
    use std::os::unix::fs::MetadataExt;
    let mode = meta.mode();
    if uid.is_root() {
        true
    } else if meta.uid() == uid.as_raw() {
        mode & 0o300 == 0o300
    } else if Some(meta.gid()) == gid.map(Gid::as_raw) {
        mode & 0o030 == 0o030
    } else {
        mode & 0o003 == 0o003
    }
}

/// The name of group `gid`, or the number.
fn group_name(gid: Gid) -> String {
    match Group::from_gid(gid) {
        Ok(Some(g)) => g.name,
        _ => gid.to_string(),
    }
}

/// The queue directory and the QMGR's user (README "Directories, Files,
/// and Permissions": the queue belongs to the QMGR's user). A queue
/// directory the MCP has just created (`fresh`) is given to that user, so
/// that an installation started as root with `user` options works at
/// once; an existing one is left as it is, and if that user cannot create
/// its files in it the returned line says so and how to fix it. Returns
/// the line to log, if any.
pub fn queue_owner(dir: &std::path::Path, fresh: bool, qmgr: RunAs) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let uid = qmgr.uid?;
    let name = crate::component::user_name(uid);
    if fresh {
        return Some(match nix::unistd::chown(dir, Some(uid), qmgr.gid) {
            Ok(()) => format!(
                "queue directory {} created for the qmgr's user {name}",
                dir.display()
            ),
            Err(e) => format!("queue directory {}: chown {name}: {e}", dir.display()),
        });
    }
    let meta = std::fs::metadata(dir).ok()?;
    let mode = meta.mode();
    (!may_write(&meta, uid, qmgr.gid)).then(|| {
        format!(
            "queue directory {}: the qmgr runs as {name} and may not create its files \
             there (owner uid {}, mode {:o}); give it to that user (chown {name} {}), \
             see FILES in smxd(8)",
            dir.display(),
            meta.uid(),
            mode & 0o7777,
            dir.display()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unprivileged_runs_as_is() {
        let (r, note) =
            resolve("qmgr", Some("no-such-user-x"), None, false).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r, RunAs::default());
        assert!(note.is_some());
    }

    #[test]
    fn a_queue_the_qmgrs_user_cannot_write_is_reported_with_the_fix() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("smx-qowner-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755))
            .unwrap_or_else(|e| panic!("{e}"));
        // A user that owns nothing here (not this process's).
        let other = Uid::from_raw(Uid::effective().as_raw().wrapping_add(4242));
        let stranger = RunAs {
            uid: Some(other),
            gid: Some(Gid::from_raw(4242)),
        };
        let line = queue_owner(&dir, false, stranger).unwrap_or_default();
        assert!(
            line.contains("may not create its files") && line.contains("(chown "),
            "{line}"
        );
        // Writable by all: nothing to say; nor without a qmgr user.
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o1777))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(queue_owner(&dir, false, stranger), None);
        assert_eq!(queue_owner(&dir, false, RunAs::default()), None);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn an_existing_socket_directory_a_component_cannot_use_is_reported_with_the_fix() {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let base = std::env::temp_dir().join(format!("smx-sockdirs-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        let dir = base.join("qmsmtps");
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o770))
            .unwrap_or_else(|e| panic!("{e}"));
        let meta = std::fs::metadata(&dir).unwrap_or_else(|e| panic!("{e}"));
        let socket = dir.join("smtpssock");
        let socket = socket.as_path();
        // The QMGR owns it; an SMTP server of another user and group may
        // not use it, one of the directory's group may.
        let qmgr = RunAs {
            uid: Some(Uid::effective()),
            gid: Some(Gid::from_raw(meta.gid())),
        };
        let stranger = |gid| RunAs {
            uid: Some(Uid::from_raw(Uid::effective().as_raw().wrapping_add(4242))),
            gid: Some(Gid::from_raw(gid)),
        };
        let other_group = meta.gid().wrapping_add(4242);
        let lines = socket_dirs(&[(socket, stranger(other_group))], qmgr, false);
        assert!(
            lines.len() == 1
                && lines[0].contains("may not use it")
                && lines[0].contains("chmod 2770"),
            "{lines:?}"
        );
        assert_eq!(
            socket_dirs(&[(socket, stranger(meta.gid()))], qmgr, false),
            Vec::<String>::new()
        );
        // Nothing is changed in an existing queue.
        let after = std::fs::metadata(&dir).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (after.uid(), after.gid(), after.mode()),
            (meta.uid(), meta.gid(), meta.mode())
        );
        let _ = std::fs::remove_dir_all(&base);
    }

    #[test]
    fn root_refuses_unknown_user() {
        let e = resolve("qmgr", Some("no-such-user-x"), None, true);
        assert!(matches!(e, Err(UnknownId { kind: "user", .. })));
        let e = resolve("qmgr", None, Some("no-such-group-x"), true);
        assert!(matches!(e, Err(UnknownId { kind: "group", .. })));
    }

    #[test]
    fn root_switches_to_known_user() {
        let Ok(Some(root)) = User::from_uid(Uid::from_raw(0)) else {
            return;
        };
        let (r, _) = resolve("q", Some(&root.name), None, true).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.uid, Some(root.uid));
        assert_eq!(r.gid, Some(root.gid));
    }
}

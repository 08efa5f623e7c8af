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

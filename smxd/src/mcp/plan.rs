//! The MCP's plan: which programs to run, in which order, with which argv,
//! built from a typed [`Config`] (README §3.7). Pure: no I/O, no privilege.
//!
//! Start order (stop order is the reverse):
//!
//! 1. other services (`prog { path = ...; }`), in file order: they are what
//!    the components use (socket maps, milters, local mailers), and none of
//!    them uses an smx component;
//! 2. `qmgr`: it owns the queue and the sockets the others connect to;
//! 3. `smar`: the QMGR and the SMTP servers ask it;
//! 4. `smtpc`, then `lmtpl`: delivery;
//! 5. the `smtps` instances, last, so mail is accepted only when the rest is
//!    up, and on shutdown stopped first, so no mail arrives while the queue
//!    manager is going down.
//!
//! For the known components `path` defaults to the MCP's own executable and
//! `arguments` to `"<section> -f <config>"` (`"smtps -N NAME -f <config>"`
//! for a named SMTP server, §3.10.1). An SMTP server without
//! `listen_socket` listens on port 25 of every IPv4 address; without
//! `pass_fd_socket` the descriptor is passed over `smtps/smtpsfd` (or
//! `smtps/<name>fd` for a named one). A config without any `smtps`
//! section runs no SMTP server.
//!
//! `pass_id` (§3.7 item 9): each process of a section gets its slot number
//! (0 .. max_processes-1) as id, inserted right after argv\[0\]. A restarted
//! process keeps the id of the one it replaces, so ids are unique among the
//! running processes of a section.

use smx_grammar::config::{Config, ListenSocket, McpConf, SocketType, StartAction};
use std::path::{Path, PathBuf};

/// One section the MCP runs (possibly as several processes).
#[derive(Debug, Clone, PartialEq)]
pub struct Component {
    /// Name used in log lines and in `restart_dependencies`: `qmgr`,
    /// `smtps MTA`, `prog`.
    pub name: String,
    /// The section keyword, lower case: `qmgr`, `smtps`, `prog`.
    pub section: String,
    /// The instance name of a named section (`MTA` of `smtps MTA`).
    pub instance: Option<String>,
    /// Program to execute.
    pub program: PathBuf,
    /// argv, starting with the program's name, without the pass_id option.
    pub argv: Vec<String>,
    /// How the MCP starts it.
    pub start_action: StartAction,
    /// The socket the MCP listens on for it.
    pub listen: Option<ListenSocket>,
    /// The socket over which the MCP passes the listening descriptor.
    pub pass_fd_socket: Option<String>,
    /// User to run it as (when the MCP is root).
    pub user: Option<String>,
    /// Group to run it as (when the MCP is root).
    pub group: Option<String>,
    /// Sections to stop and start again when this one is restarted.
    pub restart_dependencies: Vec<String>,
    /// Option that passes a process id (`-i`).
    pub pass_id: Option<String>,
    /// Processes started at boot (wait, pass, accept).
    pub min_processes: u64,
    /// Cap on processes (nostartaccept: concurrent connections).
    pub max_processes: u64,
}

impl Component {
    /// The argv of the process with this id: `pass_id ID` inserted after
    /// argv\[0\] when `pass_id` is set.
    pub fn argv_for(&self, id: u64) -> Vec<String> {
        let mut argv = self.argv.clone();
        if let Some(opt) = &self.pass_id {
            let at = usize::from(!argv.is_empty());
            argv.insert(at, id.to_string());
            argv.insert(at, opt.clone());
        }
        argv
    }

    /// Whether a `restart_dependencies` entry names this component: the
    /// section keyword (every instance), the instance name, or both
    /// (`smtps MTA`), case-insensitively.
    pub fn matches(&self, dep: &str) -> bool {
        let dep = dep.trim();
        dep.eq_ignore_ascii_case(&self.section)
            || dep.eq_ignore_ascii_case(&self.name)
            || self
                .instance
                .as_deref()
                .is_some_and(|i| dep.eq_ignore_ascii_case(i))
    }

    /// Number of processes started at boot.
    pub fn boot_processes(&self) -> u64 {
        match self.start_action {
            StartAction::NoStartAccept => 0,
            _ => self.min_processes.min(self.max_processes),
        }
    }
}

/// Why no plan could be made.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PlanError {
    /// `arguments` cannot be split.
    #[error("section `{section}`: arguments: {error}")]
    Arguments {
        /// The section.
        section: String,
        /// Why.
        error: SplitError,
    },
    /// A section other than the known components lacks `path`/`arguments`.
    #[error("section `{section}` needs `{option}`")]
    Missing {
        /// The section.
        section: String,
        /// The option.
        option: &'static str,
    },
}

/// Where an SMTP server section without `pass_fd_socket` receives its
/// listening socket: `smtps/smtpsfd`, or `smtps/<name>fd` for `smtps NAME`.
pub fn default_pass_fd_socket(name: Option<&str>) -> String {
    match name {
        Some(n) => format!("smtps/{}fd", n.to_ascii_lowercase()),
        None => "smtps/smtpsfd".to_string(),
    }
}

/// Builds the plan, in start order. `config_path` is what the components
/// get after `-f` (absolute, since they run in the queue directory);
/// `self_exe` is the smxd executable.
pub fn plan(
    config: &Config,
    config_path: &Path,
    self_exe: &Path,
) -> Result<Vec<Component>, PlanError> {
    let conf = config_path.display().to_string();
    let g = &config.global;
    let mut out = Vec::new();
    for s in &config.services {
        let keyword = s.name.clone().unwrap_or_default();
        out.push(component(
            &keyword,
            None,
            &s.conf.mcp,
            None,
            &conf,
            self_exe,
        )?);
    }
    out.push(component(
        "qmgr",
        None,
        &g.qmgr.mcp,
        Some(vec![]),
        &conf,
        self_exe,
    )?);
    out.push(component(
        "smar",
        None,
        &g.smar.mcp,
        Some(vec![]),
        &conf,
        self_exe,
    )?);
    out.push(component(
        "smtpc",
        None,
        &g.smtpc.mcp,
        Some(vec![]),
        &conf,
        self_exe,
    )?);
    if let Some(l) = &g.lmtpl {
        out.push(component(
            "lmtpl",
            None,
            &l.mcp,
            Some(vec![]),
            &conf,
            self_exe,
        )?);
    }
    for s in &g.smtps {
        let extra = match &s.name {
            Some(n) => vec!["-N".to_string(), n.clone()],
            None => vec![],
        };
        let mut c = component(
            "smtps",
            s.name.as_deref(),
            &s.conf.mcp,
            Some(extra),
            &conf,
            self_exe,
        )?;
        if c.listen.is_none() {
            c.listen = Some(ListenSocket {
                socket_type: SocketType::Inet,
                port: Some(25),
                address: None,
                path: None,
                umask: None,
                user: None,
                group: None,
            });
        }
        if c.start_action == StartAction::Pass && c.pass_fd_socket.is_none() {
            c.pass_fd_socket = Some(default_pass_fd_socket(s.name.as_deref()));
        }
        // `processes` (§3.10 item 18): that many server processes share
        // the listening socket. Each needs its own id (its queue ids are
        // made from it), so pass_id defaults to -i.
        if s.conf.processes > 1 && c.start_action != StartAction::NoStartAccept {
            c.min_processes = c.min_processes.max(s.conf.processes);
            c.max_processes = c.max_processes.max(c.min_processes);
            if c.pass_id.is_none() {
                c.pass_id = Some("-i".to_string());
            }
        }
        out.push(c);
    }
    Ok(out)
}

/// One component. `known` holds the extra default arguments of a known
/// component (`-N NAME`), or `None` for another program, which must give
/// `path` and `arguments`.
fn component(
    keyword: &str,
    instance: Option<&str>,
    m: &McpConf,
    known: Option<Vec<String>>,
    conf: &str,
    self_exe: &Path,
) -> Result<Component, PlanError> {
    let section = keyword.to_ascii_lowercase();
    let name = match instance {
        Some(i) => format!("{section} {i}"),
        None => section.clone(),
    };
    let program = match (&m.path, &known) {
        (Some(p), _) => PathBuf::from(p),
        (None, Some(_)) => self_exe.to_path_buf(),
        (None, None) => {
            return Err(PlanError::Missing {
                section: name,
                option: "path",
            })
        }
    };
    let argv = match (&m.arguments, known) {
        (Some(a), _) => split_arguments(a).map_err(|error| PlanError::Arguments {
            section: name.clone(),
            error,
        })?,
        (None, Some(extra)) => {
            let mut v = vec![section.clone()];
            v.extend(extra);
            v.push("-f".into());
            v.push(conf.to_string());
            v
        }
        (None, None) => {
            return Err(PlanError::Missing {
                section: name,
                option: "arguments",
            })
        }
    };
    Ok(Component {
        name,
        section,
        instance: instance.map(str::to_string),
        program,
        argv,
        start_action: m.start_action,
        listen: m.listen_socket.clone(),
        pass_fd_socket: m.pass_fd_socket.clone(),
        user: m.user.clone(),
        group: m.group.clone(),
        restart_dependencies: m.restart_dependencies.clone(),
        pass_id: m.pass_id.clone(),
        min_processes: m.min_processes,
        max_processes: m.max_processes,
    })
}

/// Why `arguments` cannot be split.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SplitError {
    /// A quote is not closed.
    #[error("unterminated {0} quote")]
    Unterminated(char),
    /// A backslash ends the text.
    #[error("trailing backslash")]
    TrailingBackslash,
    /// Nothing but blanks.
    #[error("empty (it must start with the program's name)")]
    Empty,
}

/// Splits `arguments` into words as sh(1) would, without any expansion:
/// blanks separate words; `'...'` is literal; in `"..."` a backslash
/// escapes `"` and `\`; outside quotes a backslash escapes any character.
pub fn split_arguments(s: &str) -> Result<Vec<String>, SplitError> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => return Err(SplitError::Unterminated('\'')),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\')) => word.push(c),
                            Some(c) => {
                                word.push('\\');
                                word.push(c);
                            }
                            None => return Err(SplitError::Unterminated('"')),
                        },
                        Some(c) => word.push(c),
                        None => return Err(SplitError::Unterminated('"')),
                    }
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some(c) => word.push(c),
                    None => return Err(SplitError::TrailingBackslash),
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    if words.is_empty() {
        return Err(SplitError::Empty);
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(s: &str) -> Vec<String> {
        split_arguments(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn splits_like_a_shell_without_expansion() {
        assert_eq!(split("smtpc -f smx.conf"), ["smtpc", "-f", "smx.conf"]);
        assert_eq!(split("  a   b\tc  "), ["a", "b", "c"]);
        assert_eq!(split("sh -c 'exit 78'"), ["sh", "-c", "exit 78"]);
        assert_eq!(split(r#"p "a \"b\" \\ \n" c"#), ["p", r#"a "b" \ \n"#, "c"]);
        assert_eq!(split(r"p a\ b"), ["p", "a b"]);
        assert_eq!(split("p ''"), ["p", ""]);
        assert_eq!(split("p $HOME *"), ["p", "$HOME", "*"]);
        assert_eq!(split("p x'y z'\"w\""), ["p", "xy zw"]);
    }

    #[test]
    fn split_errors() {
        assert_eq!(split_arguments("p 'a"), Err(SplitError::Unterminated('\'')));
        assert_eq!(split_arguments("p \"a"), Err(SplitError::Unterminated('"')));
        assert_eq!(split_arguments("p a\\"), Err(SplitError::TrailingBackslash));
        assert_eq!(split_arguments("   "), Err(SplitError::Empty));
    }

    fn plan_of(text: &str) -> Vec<Component> {
        let checked = smx_grammar::check_str("t.conf", text);
        assert!(checked.is_ok(), "{:?}", checked.diagnostics);
        let Some(config) = checked.config else {
            panic!("no config")
        };
        plan(
            &config,
            Path::new("/etc/smx/smx.conf"),
            Path::new("/usr/sbin/smxd"),
        )
        .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn defaults_and_order() {
        let p = plan_of(
            "smtps MTA { listen_socket { port = 2525; } }
             smtps { listen_socket { port = 2526; } }
             lmtpl { }
             prog { start_action = wait; path = /bin/prog; arguments = \"prog -x 'a b'\"; }",
        );
        let names: Vec<&str> = p.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "prog",
                "qmgr",
                "smar",
                "smtpc",
                "lmtpl",
                "smtps MTA",
                "smtps"
            ]
        );
        let q = &p[1];
        assert_eq!(q.program, Path::new("/usr/sbin/smxd"));
        assert_eq!(q.argv, ["qmgr", "-f", "/etc/smx/smx.conf"]);
        assert_eq!(q.start_action, StartAction::Wait);
        let mta = &p[5];
        assert_eq!(mta.argv, ["smtps", "-N", "MTA", "-f", "/etc/smx/smx.conf"]);
        assert_eq!(mta.start_action, StartAction::Pass);
        assert_eq!(mta.pass_fd_socket.as_deref(), Some("smtps/mtafd"));
        assert_eq!(p[6].pass_fd_socket.as_deref(), Some("smtps/smtpsfd"));
        assert_eq!(p[0].program, Path::new("/bin/prog"));
        assert_eq!(p[0].argv, ["prog", "-x", "a b"]);
        assert!(mta.matches("smtps") && mta.matches("MTA") && mta.matches("smtps mta"));
        assert!(!mta.matches("smtpc"));
    }

    #[test]
    fn smtps_defaults_to_port_25() {
        let p = plan_of("smtps { }");
        let Some(l) = &p[3].listen else {
            panic!("no listener")
        };
        assert_eq!((l.socket_type, l.port), (SocketType::Inet, Some(25)));
    }

    #[test]
    fn smtps_processes_starts_that_many_with_distinct_ids() {
        let p = plan_of("smtps { processes = 3; }");
        let c = &p[3];
        assert_eq!(c.boot_processes(), 3);
        assert_eq!(c.argv_for(2)[..3], ["smtps", "-i", "2"]);
        let one = plan_of("smtps { }");
        assert_eq!(one[3].boot_processes(), 1);
        assert_eq!(one[3].pass_id, None);
    }

    #[test]
    fn pass_id_is_inserted_after_argv0() {
        let p = plan_of(
            "smtpc { pass_id = \"-i\"; min_processes = 3; max_processes = 4;
                     arguments = \"smtpc -f smx.conf\"; }",
        );
        let c = &p[2];
        assert_eq!(c.argv_for(2), ["smtpc", "-i", "2", "-f", "smx.conf"]);
        assert_eq!(c.boot_processes(), 3);
        assert_eq!(p[0].argv_for(7), p[0].argv);
    }

    #[test]
    fn nostartaccept_starts_nothing_at_boot() {
        let p = plan_of(
            "p { start_action = nostartaccept; path = /bin/cat; arguments = cat;
                 listen_socket { port = 9999; } max_processes = 5; }",
        );
        assert_eq!(p[0].boot_processes(), 0);
    }
}

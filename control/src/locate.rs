//! Finding the control socket from smx.conf, the way smxd resolves it
//! (seed 002 §3.6 relative pathnames, §3.8 `control_socket`): the
//! `queue_directory` is relative to the configuration file's directory and
//! `qmgr.control_socket` is relative to the queue directory.

use std::path::{Path, PathBuf};

/// Why the socket path could not be derived from the configuration.
#[derive(Debug, thiserror::Error)]
pub enum LocateError {
    /// The configuration file cannot be read.
    #[error("{path}: {reason}")]
    Unreadable {
        /// The file as given.
        path: String,
        /// Why.
        reason: String,
    },
    /// The configuration has errors (the rendered diagnostics).
    #[error("{path}: the configuration has errors:\n{}", .errors.join("\n"))]
    Invalid {
        /// The file as given.
        path: String,
        /// The rendered error diagnostics.
        errors: Vec<String>,
    },
}

/// The control socket path of the configuration `config`.
pub fn socket_from_config(config: &Path) -> Result<PathBuf, LocateError> {
    let shown = config.display().to_string();
    let checked = smx_grammar::check_file(config).map_err(|e| LocateError::Unreadable {
        path: shown.clone(),
        reason: e.to_string(),
    })?;
    let errors: Vec<String> = checked
        .errors()
        .map(|d| {
            smx_grammar::diag::render(d, &checked.source, smx_grammar::Format::Human)
                .trim_end()
                .to_owned()
        })
        .collect();
    let conf = match checked.config {
        Some(c) if errors.is_empty() => c,
        _ => {
            return Err(LocateError::Invalid {
                path: shown,
                errors,
            })
        }
    };
    let abs = std::fs::canonicalize(config).map_err(|e| LocateError::Unreadable {
        path: shown,
        reason: e.to_string(),
    })?;
    let conf_dir = abs
        .parent()
        .map_or_else(|| PathBuf::from("/"), Path::to_path_buf);
    let queue_dir = conf_dir.join(&conf.global.queue_directory);
    Ok(queue_dir.join(&conf.global.qmgr.control_socket))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn relative_paths_resolve_like_smxd() {
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("smx.conf");
        std::fs::write(
            &conf,
            "queue_directory = q;\nqmgr { control_socket = ctl/sock; }\n",
        )
        .unwrap();
        let p = socket_from_config(&conf).unwrap();
        let base = std::fs::canonicalize(dir.path()).unwrap();
        assert_eq!(p, base.join("q").join("ctl/sock"));
        std::fs::write(&conf, "queue_directory = /var/q;\n").unwrap();
        assert_eq!(
            socket_from_config(&conf).unwrap(),
            PathBuf::from("/var/q/qmgrctrl.sock")
        );
        std::fs::write(&conf, "qmgr { frobnicate = 1; }\n").unwrap();
        assert!(matches!(
            socket_from_config(&conf),
            Err(LocateError::Invalid { .. })
        ));
        let missing = dir.path().join("nosuch.conf");
        assert!(matches!(
            socket_from_config(&missing),
            Err(LocateError::Unreadable { .. })
        ));
    }
}

//! What SMAR looks addresses up in, loaded from `smar { }` (README §3.9.1,
//! §3.9.2): the declared maps ([`super::maps`]), the mailertable, the
//! aliases, the local users and the access map. Loaded at start and again
//! on SIGHUP.
//!
//! Missing files (decisions, README §3.9.3 says the mailertable "must
//! exist, even if there are no entries"):
//!
//! - a map declared with `map NAME { }` whose file is missing, a
//!   mailertable `file` that is set to something else than the default
//!   `mt`, an aliases `file` other than the default `aliases.db`, and a
//!   `name` that is not declared are configuration errors (SMAR exits 78,
//!   naming the file);
//! - the *default* mailertable `mt` and the *default* aliases file
//!   `aliases.db`, when missing, are logged as a warning: SMAR then routes
//!   by MX only / has no aliases. This lets a minimal configuration start;
//! - the access map (`access_map { file }`, default `access.db`) is only
//!   needed by SMTP servers with the `access` flag; when it is missing a
//!   warning is logged and such servers relay to local domains only, as
//!   before SMAR existed (safe: never an open relay);
//! - with neither an aliases map nor a `local_user_map`, local parts of
//!   local domains cannot be checked and every one is accepted (a warning
//!   says so). With either, a local address must be found in one of them
//!   (README §4.3.2).

use super::aliases::{AliasFlags, Aliases};
use super::mailertable::Mailertable;
use super::maps::{Maps, OpenError};
use crate::component::Loaded;
use smx_maps::db::DbType;
use smx_maps::dbmap::DbMap;
use smx_maps::lookup::{self, AddressOptions};
use smx_maps::{Map, MapError};
use std::path::PathBuf;
use std::sync::Arc;

/// Why the tables could not be loaded (SMAR exits 78).
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// A declared map could not be opened.
    #[error(transparent)]
    Maps(#[from] OpenError),
    /// A configured file could not be read.
    #[error("{path}: {source}")]
    File {
        /// The file.
        path: PathBuf,
        /// Why.
        source: MapError,
    },
    /// The text mailertable has bad lines.
    #[error("{path}: {}", errors.join("; "))]
    Mailertable {
        /// The file.
        path: PathBuf,
        /// Each bad line.
        errors: Vec<String>,
    },
    /// `name = X` refers to a map that is not declared.
    #[error("{what}: map {name} is not declared in smar {{ }}")]
    Undeclared {
        /// Which option.
        what: &'static str,
        /// The name.
        name: String,
    },
    /// `local_user_map { }` without `name`.
    #[error("local_user_map: no name")]
    NoLocalUserMapName,
}

/// The map of valid local addresses (README §3.9.2 item 7).
#[derive(Clone)]
pub struct LocalUsers {
    map: Arc<dyn Map>,
    opts: AddressOptions,
}

impl LocalUsers {
    /// `map`, with `implicitly_match_detail` or not.
    pub fn new(map: Arc<dyn Map>, implicitly_match_detail: bool, delimiter: char) -> LocalUsers {
        LocalUsers {
            map,
            opts: AddressOptions {
                delimiter,
                implicitly_match_detail,
                localpart_fallback: true,
                domain_match: true,
            },
        }
    }

    /// Whether `addr` (`user+detail@domain`) is a valid local address:
    /// the lookup order of §3.12.1, full address then local part.
    pub fn exists(&self, addr: &str) -> Result<bool, MapError> {
        let keys = lookup::address_keys(addr, &self.opts);
        Ok(lookup::probe_candidates(self.map.as_ref(), "", &keys)?
            .found
            .is_some())
    }
}

/// Everything SMAR looks up.
#[derive(Clone, Default)]
pub struct Tables {
    /// The mailertable.
    pub mailertable: Mailertable,
    /// The aliases, if any.
    pub aliases: Option<Aliases>,
    /// The valid local addresses, if configured.
    pub local_users: Option<LocalUsers>,
    /// The access map, if it could be opened.
    pub access: Option<Arc<dyn Map>>,
    /// Qualifies unqualified addresses (`postmaster`, alias targets).
    pub hostname: String,
    /// `address_delimiter`.
    pub delimiter: char,
    /// smtpc's `LMTP_socket`, the next hop of `lmtp:`.
    pub lmtp_socket: String,
    /// The policy flags of every SMTP server, by section name
    /// ([`super::policy::servers`]).
    pub servers: std::collections::HashMap<String, super::policy::ServerPolicy>,
    /// The DNS based blacklists, in order.
    pub dnsbl: Vec<super::dnsbl::Dnsbl>,
    /// The incoming connection limits (`qmgr { smtps { } }`, `icr:`/`icm:`).
    pub conn_limits: super::conncontrol::Limits,
    /// No lookup can block (no socket or passwd map is declared): SMAR
    /// looks up on its runtime instead of handing each request to a
    /// thread of the blocking pool.
    pub inline: bool,
}

/// The incoming connection limits; a `qmgr_conf` map that cannot be
/// opened is warned about and the defaults apply.
fn conn_limits(loaded: &Loaded, warn: &mut dyn FnMut(String)) -> super::conncontrol::Limits {
    let q = &loaded.conf.global.qmgr;
    let map = q.conf.as_ref().and_then(|file| {
        let path = loaded.conf_path(file);
        match DbMap::open(&path, DbType::Hash) {
            Ok(m) => Some(Arc::new(m) as Arc<dyn Map>),
            Err(e) => {
                warn(format!(
                    "qmgr conf map {}: {e}; icr:/icm: not used",
                    path.display()
                ));
                None
            }
        }
    });
    super::conncontrol::Limits {
        rate: q.smtps.max_connection_rate,
        open: q.smtps.max_connections,
        map,
    }
}

impl std::fmt::Debug for Tables {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tables")
            .field("mailertable", &self.mailertable)
            .field("aliases", &self.aliases)
            .field("local_users", &self.local_users.is_some())
            .field("access", &self.access.is_some())
            .field("hostname", &self.hostname)
            .finish()
    }
}

/// The host name of the configuration, else the system's.
pub fn hostname(loaded: &Loaded) -> String {
    crate::component::hostname(&loaded.conf)
}

impl Tables {
    /// The policy of the server named `server` (its defaults when the
    /// configuration has no such section).
    pub fn server(&self, server: Option<&str>) -> super::policy::ServerPolicy {
        self.servers
            .get(&super::policy::server_key(server))
            .cloned()
            .unwrap_or_default()
    }

    /// Loads the tables of `loaded`'s `smar { }`; `warn` receives the
    /// warnings (missing default files).
    pub fn load(loaded: &Loaded, warn: &mut dyn FnMut(String)) -> Result<Tables, LoadError> {
        let smar = &loaded.conf.global.smar;
        let maps = Maps::open(smar, &loaded.conf_dir)?;
        let delimiter = smar.address_delimiter.chars().next().unwrap_or('+');
        let declared = |what, name: &str| {
            maps.get(name).ok_or_else(|| LoadError::Undeclared {
                what,
                name: name.to_string(),
            })
        };
        let mailertable = match &smar.mailertable.name {
            Some(n) => Mailertable::Map(declared("mailertable", n)?),
            None => {
                let path = loaded.conf_path(&smar.mailertable.file);
                match std::fs::read_to_string(&path) {
                    Ok(text) => Mailertable::parse(&text)
                        .map_err(|errors| LoadError::Mailertable { path, errors })?,
                    Err(e)
                        if e.kind() == std::io::ErrorKind::NotFound
                            && smar.mailertable.file == "mt" =>
                    {
                        warn(format!(
                            "mailertable {} is missing; routing by MX records only, \
                             no local domains",
                            path.display()
                        ));
                        Mailertable::default()
                    }
                    Err(e) => {
                        return Err(LoadError::File {
                            path: path.clone(),
                            source: MapError::Io { path, source: e },
                        })
                    }
                }
            }
        };
        let flags = AliasFlags::from_conf(&smar.aliases);
        let alias_map: Option<Arc<dyn Map>> = match &smar.aliases.name {
            Some(n) => Some(declared("aliases", n)?),
            None => {
                let path = loaded.conf_path(&smar.aliases.file);
                if !path.exists() && smar.aliases.file == "aliases.db" {
                    warn(format!("aliases {} is missing; no aliases", path.display()));
                    None
                } else {
                    match DbMap::open(&path, DbType::Hash) {
                        Ok(m) => Some(Arc::new(m)),
                        Err(source) => return Err(LoadError::File { path, source }),
                    }
                }
            }
        };
        let aliases = alias_map.map(|m| Aliases::new(m, flags, delimiter));
        let local_users = match &smar.local_user_map {
            None => None,
            Some(c) => {
                let name = c.name.as_deref().ok_or(LoadError::NoLocalUserMapName)?;
                Some(LocalUsers::new(
                    declared("local_user_map", name)?,
                    c.flags.has("implicitly_match_detail"),
                    delimiter,
                ))
            }
        };
        if aliases.is_none() && local_users.is_none() {
            warn("neither aliases nor local_user_map: local users are not checked".to_string());
        }
        let access_path = loaded.conf_path(&smar.access_map.file);
        let access: Option<Arc<dyn Map>> = if access_path.exists() {
            match DbMap::open(&access_path, DbType::Hash) {
                Ok(m) => Some(Arc::new(m)),
                Err(source) => {
                    return Err(LoadError::File {
                        path: access_path,
                        source,
                    })
                }
            }
        } else {
            let used = loaded
                .conf
                .global
                .smtps
                .iter()
                .any(|s| s.conf.flags.has("access"));
            if used {
                warn(format!(
                    "access map {} is missing; relaying only to local domains",
                    access_path.display()
                ));
            }
            None
        };
        Ok(Tables {
            mailertable,
            aliases,
            local_users,
            access,
            hostname: hostname(loaded),
            delimiter,
            lmtp_socket: loaded.conf.global.smtpc.lmtp_socket.clone(),
            servers: super::policy::servers(&loaded.conf),
            dnsbl: super::dnsbl::from_conf(smar),
            conn_limits: conn_limits(loaded, warn),
            inline: !maps.may_block(),
        })
    }
}

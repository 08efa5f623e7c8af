//! The maps declared in `smar { map NAME { type = ...; } }` (README
//! §3.9.1), opened by name: hash and btree (Berkeley DB, as createmap,
//! makemap and postmap write them), texthash (a text file read into
//! memory), sequence, socket (socketmap) and passwd.
//!
//! Files are relative to the configuration file's directory (README
//! §3.4: "relative to the directory of the configuration file"); socket
//! paths to the queue directory (the working directory of every
//! component). A texthash map used as the aliases map is read in the
//! `name: value` form of aliases files.
//!
//! Used by SMAR (aliases, mailertable, local users, access) and by lmtpl
//! (local users).

use smx_grammar::config::{MapConf, MapType, SmarConf};
use smx_maps::db::DbType;
use smx_maps::dbmap::DbMap;
use smx_maps::passwd::Passwd;
use smx_maps::sequence::Sequence;
use smx_maps::socket::SocketMap;
use smx_maps::texthash::TextHash;
use smx_maps::{Map, MapError};
use std::collections::HashMap;
use std::net::SocketAddrV4;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// Why a declared map could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// No `map NAME { }` declares this name.
    #[error("map {0} is not declared in smar {{ }}")]
    Undeclared(String),
    /// The declaration lacks a required option (smxctl check reports it too).
    #[error("map {name}: {what}")]
    Incomplete {
        /// The map.
        name: String,
        /// What is missing.
        what: &'static str,
    },
    /// A sequence refers to itself, directly or not.
    #[error("map {0}: sequence refers to itself")]
    Cycle(String),
    /// The map file could not be opened or read.
    #[error("map {name}: {source}")]
    Map {
        /// The map.
        name: String,
        /// Why.
        source: MapError,
    },
}

/// Default timeout of a socketmap without `timeout`.
const SOCKET_TIMEOUT: Duration = Duration::from_secs(5);

/// The declared maps, opened.
#[derive(Clone, Default)]
pub struct Maps {
    maps: HashMap<String, Arc<dyn Map>>,
}

impl std::fmt::Debug for Maps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut names: Vec<&String> = self.maps.keys().collect();
        names.sort();
        f.debug_struct("Maps").field("names", &names).finish()
    }
}

impl Maps {
    /// Opens every map declared in `smar`; `conf_dir` is the directory of
    /// the configuration file.
    pub fn open(smar: &SmarConf, conf_dir: &Path) -> Result<Maps, OpenError> {
        let decls: HashMap<&str, &MapConf> = smar
            .maps
            .iter()
            .filter_map(|i| i.name.as_deref().map(|n| (n, &i.conf)))
            .collect();
        let colon = smar.aliases.name.as_deref();
        let mut maps = Maps::default();
        for name in decls.keys() {
            maps.open_one(name, &decls, conf_dir, colon, &mut Vec::new())?;
        }
        Ok(maps)
    }

    /// Whether a lookup in any declared map may block ([`Map::may_block`]).
    pub fn may_block(&self) -> bool {
        self.maps.values().any(|m| m.may_block())
    }

    /// The map declared as `name`.
    pub fn get(&self, name: &str) -> Option<Arc<dyn Map>> {
        self.maps.get(name).cloned()
    }

    fn open_one(
        &mut self,
        name: &str,
        decls: &HashMap<&str, &MapConf>,
        conf_dir: &Path,
        colon_map: Option<&str>,
        stack: &mut Vec<String>,
    ) -> Result<Arc<dyn Map>, OpenError> {
        if let Some(m) = self.maps.get(name) {
            return Ok(m.clone());
        }
        if stack.iter().any(|s| s == name) {
            return Err(OpenError::Cycle(name.to_string()));
        }
        let c = decls
            .get(name)
            .ok_or_else(|| OpenError::Undeclared(name.to_string()))?;
        let incomplete = |what| OpenError::Incomplete {
            name: name.to_string(),
            what,
        };
        let failed = |source| OpenError::Map {
            name: name.to_string(),
            source,
        };
        let file = || {
            c.file
                .as_deref()
                .map(|f| conf_dir.join(f))
                .ok_or_else(|| incomplete("no file"))
        };
        let map: Arc<dyn Map> = match c.map_type.ok_or_else(|| incomplete("no type"))? {
            MapType::Hash => Arc::new(DbMap::open(&file()?, DbType::Hash).map_err(failed)?),
            MapType::Btree => Arc::new(DbMap::open(&file()?, DbType::Btree).map_err(failed)?),
            MapType::Texthash => {
                Arc::new(TextHash::open(file()?, colon_map == Some(name)).map_err(failed)?)
            }
            MapType::Passwd => Arc::new(Passwd::new()),
            MapType::Socket => {
                let mapname = c.mapname.clone().ok_or_else(|| incomplete("no mapname"))?;
                let timeout = c.timeout.unwrap_or(SOCKET_TIMEOUT);
                match (&c.path, c.address, c.port) {
                    (Some(p), _, _) => Arc::new(SocketMap::unix(p.clone(), mapname, timeout)),
                    (None, Some(a), Some(port)) => {
                        let port = u16::try_from(port).map_err(|_| incomplete("bad port"))?;
                        Arc::new(SocketMap::inet(
                            SocketAddrV4::new(a, port),
                            mapname,
                            timeout,
                        ))
                    }
                    _ => return Err(incomplete("neither path nor address and port")),
                }
            }
            MapType::Sequence => {
                stack.push(name.to_string());
                let mut parts = Vec::new();
                for m in &c.maps {
                    parts.push(self.open_one(m, decls, conf_dir, colon_map, stack)?);
                }
                stack.pop();
                Arc::new(Sequence::new(parts))
            }
        };
        self.maps.insert(name.to_string(), map.clone());
        Ok(map)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn smar(text: &str) -> SmarConf {
        let checked = smx_grammar::check_str("test.conf", text);
        checked.config.unwrap().global.smar
    }

    #[test]
    fn opens_texthash_sequence_and_passwd_by_name() {
        let dir = std::env::temp_dir().join(format!("smx-smar-maps-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("users"), "alice local:\n").unwrap();
        std::fs::write(dir.join("aliases"), "root: alice\n").unwrap();
        let s = smar(
            "smar {
               map users { type = texthash; file = \"users\"; }
               map al { type = texthash; file = \"aliases\"; }
               map pw { type = passwd; }
               map both { type = sequence; maps = { users, pw }; }
               aliases { name = al; }
             }",
        );
        let maps = Maps::open(&s, &dir).unwrap();
        assert_eq!(
            maps.get("users").unwrap().get("alice").unwrap().as_deref(),
            Some("local:")
        );
        assert_eq!(
            maps.get("al").unwrap().get("root").unwrap().as_deref(),
            Some("alice")
        );
        assert!(maps.get("both").unwrap().get("root").unwrap().is_some());
        assert!(maps.get("nope").is_none());
        // passwd asks the name service: it, and a sequence holding it,
        // may block, so SMAR keeps lookups off its runtime.
        assert!(!maps.get("users").unwrap().may_block());
        assert!(maps.get("pw").unwrap().may_block());
        assert!(maps.get("both").unwrap().may_block());
        assert!(maps.may_block());
        let local = smar("smar { map users { type = texthash; file = \"users\"; } }");
        assert!(!Maps::open(&local, &dir).unwrap().may_block());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_missing_file_is_an_error_naming_the_map() {
        let s = smar("smar { map users { type = hash; file = \"nonexistent.db\"; } }");
        let e = Maps::open(&s, Path::new("/nonexistent")).unwrap_err();
        assert!(e.to_string().starts_with("map users:"), "{e}");
    }
}

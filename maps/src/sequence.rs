//! The `sequence` map type (sendmail X README §3.9.1, option `maps`): a
//! list of maps asked in order; the first that has a value for the key wins.
//!
//! A temporary failure of one map ends the lookup with that failure instead
//! of asking the next map: the next map might answer "not found" (a 5xx for
//! a valid local user whose socketmap server is down) or a different value
//! than the map that failed would have given. A 4xx is safer than a wrong
//! answer. A permanent failure ends the lookup as well.

use std::sync::Arc;

use crate::{Map, MapError};

/// Maps asked in order (`map seq1 { type = sequence; maps = { a, b }; }`).
#[derive(Clone)]
pub struct Sequence {
    maps: Vec<Arc<dyn Map>>,
}

impl Sequence {
    /// A sequence of `maps`, asked in this order.
    pub fn new(maps: Vec<Arc<dyn Map>>) -> Self {
        Sequence { maps }
    }

    /// How many maps the sequence asks.
    pub fn len(&self) -> usize {
        self.maps.len()
    }

    /// Whether the sequence has no maps (it then never finds anything).
    pub fn is_empty(&self) -> bool {
        self.maps.is_empty()
    }
}

impl std::fmt::Debug for Sequence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sequence")
            .field("maps", &self.maps.len())
            .finish()
    }
}

impl Map for Sequence {
    fn may_block(&self) -> bool {
        self.maps.iter().any(|m| m.may_block())
    }

    fn get(&self, key: &str) -> Result<Option<String>, MapError> {
        for map in &self.maps {
            if let Some(value) = map.get(key)? {
                return Ok(Some(value));
            }
        }
        Ok(None)
    }
}

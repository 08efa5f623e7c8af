//! Free disk space with hysteresis (README §3.8 items 9 and 11): once free
//! space falls below `min_disk_space` mail is refused with `452 4.3.1`,
//! and it stays refused until free space is back above `ok_disk_space`, so
//! the server does not flap around one threshold.
//!
//! The probe is `statvfs(2)` (blocks available to unprivileged users times
//! the fragment size) on every directory that holds queue data; tests
//! inject their own.

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Tells free bytes.
pub trait DiskProbe: Send + Sync {
    /// Free bytes available to the queue (the smallest over its disks).
    fn free_bytes(&self) -> io::Result<u64>;
}

/// `statvfs` on some directories; the smallest free space counts.
#[derive(Debug, Clone)]
pub struct StatvfsProbe {
    /// Directories to look at (the queue directory, the CDB base).
    pub dirs: Vec<PathBuf>,
}

impl DiskProbe for StatvfsProbe {
    fn free_bytes(&self) -> io::Result<u64> {
        let mut min = u64::MAX;
        for d in &self.dirs {
            let st = nix::sys::statvfs::statvfs(d.as_path()).map_err(io::Error::from)?;
            #[allow(clippy::useless_conversion, trivial_numeric_casts)]
            let free =
                u64::from(st.blocks_available()).saturating_mul(u64::from(st.fragment_size()));
            min = min.min(free);
        }
        Ok(min)
    }
}

/// Free space is too low.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("free disk space {free} bytes below the limit ({min} bytes; accepting again above {ok})")]
pub struct DiskLow {
    /// Free bytes when last probed.
    pub free: u64,
    /// `min_disk_space`.
    pub min: u64,
    /// `ok_disk_space`.
    pub ok: u64,
}

/// The watcher: refuses below `min` until above `ok`.
pub struct DiskWatch {
    probe: Arc<dyn DiskProbe>,
    min: u64,
    ok: u64,
    low: AtomicBool,
    /// The last probe while space was not low, and when: reused for
    /// [`CACHE_FOR`], so that the checks at MAIL, before the content file
    /// and at commit do not each cost two statvfs calls.
    cached: std::sync::Mutex<Option<(std::time::Instant, u64)>>,
}

/// How long a probe that found enough space is reused. A commit forgets it
/// ([`DiskWatch::forget`]); a probe that found space low is never reused.
pub const CACHE_FOR: std::time::Duration = std::time::Duration::from_millis(100);

impl fmt::Debug for DiskWatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DiskWatch")
            .field("min", &self.min)
            .field("ok", &self.ok)
            .field("low", &self.low)
            .finish()
    }
}

impl DiskWatch {
    /// A watcher; an `ok` below `min` is taken as `min` (no hysteresis).
    pub fn new(probe: Arc<dyn DiskProbe>, min: u64, ok: u64) -> DiskWatch {
        DiskWatch {
            probe,
            min,
            ok: ok.max(min),
            low: AtomicBool::new(false),
            cached: std::sync::Mutex::new(None),
        }
    }

    /// Drops the cached probe (space was just used).
    pub fn forget(&self) {
        if let Ok(mut c) = self.cached.lock() {
            *c = None;
        }
    }

    fn free(&self) -> std::io::Result<u64> {
        let now = std::time::Instant::now();
        if let Ok(c) = self.cached.lock() {
            if let Some((at, free)) = *c {
                if now.duration_since(at) < CACHE_FOR {
                    return Ok(free);
                }
            }
        }
        let free = self.probe.free_bytes()?;
        if let Ok(mut c) = self.cached.lock() {
            *c = (free >= self.min && !self.low.load(Ordering::Acquire)).then_some((now, free));
        }
        Ok(free)
    }

    /// Probes and says whether mail may be accepted. A failing probe does
    /// not refuse mail: the write itself will fail if the disk is gone.
    pub fn check(&self) -> Result<(), DiskLow> {
        let Ok(free) = self.free() else {
            return Ok(());
        };
        let was_low = self.low.load(Ordering::Acquire);
        let low = if was_low {
            free <= self.ok
        } else {
            free < self.min
        };
        self.low.store(low, Ordering::Release);
        if low {
            Err(DiskLow {
                free,
                min: self.min,
                ok: self.ok,
            })
        } else {
            Ok(())
        }
    }

    /// Whether the last check found space low.
    pub fn is_low(&self) -> bool {
        self.low.load(Ordering::Acquire)
    }
}

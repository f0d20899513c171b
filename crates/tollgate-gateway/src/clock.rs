//! Time as the data plane sees it. Throttling needs a monotonic clock and quotas
//! need UTC dates; tests inject a [`ManualClock`] where exactness matters.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

pub trait Clock: Send + Sync {
    /// Monotonic nanoseconds since an arbitrary origin.
    fn monotonic_nanos(&self) -> u64;
    /// Wall-clock seconds since the Unix epoch (quota periods are UTC calendar periods).
    fn epoch_seconds(&self) -> i64;
}

/// The real clock.
pub struct SystemClock {
    origin: Instant,
}

impl Default for SystemClock {
    fn default() -> Self {
        SystemClock {
            origin: Instant::now(),
        }
    }
}

impl Clock for SystemClock {
    fn monotonic_nanos(&self) -> u64 {
        self.origin.elapsed().as_nanos() as u64
    }
    fn epoch_seconds(&self) -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0)
    }
}

/// A clock that moves only when told to.
#[derive(Default)]
pub struct ManualClock {
    nanos: AtomicU64,
    epoch: AtomicI64,
}

impl ManualClock {
    pub fn new(epoch_seconds: i64) -> ManualClock {
        ManualClock {
            nanos: AtomicU64::new(1),
            epoch: AtomicI64::new(epoch_seconds),
        }
    }

    /// Moves both clocks forward.
    pub fn advance(&self, d: std::time::Duration) {
        self.nanos.fetch_add(d.as_nanos() as u64, Ordering::SeqCst);
        let before = self.epoch.load(Ordering::SeqCst);
        let secs = d.as_secs() as i64;
        self.epoch.store(before + secs, Ordering::SeqCst);
    }

    pub fn set_epoch_seconds(&self, secs: i64) {
        self.epoch.store(secs, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn monotonic_nanos(&self) -> u64 {
        self.nanos.load(Ordering::SeqCst)
    }
    fn epoch_seconds(&self) -> i64 {
        self.epoch.load(Ordering::SeqCst)
    }
}

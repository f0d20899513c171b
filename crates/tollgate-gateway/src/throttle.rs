//! Token buckets (`spec/aws-apigw.md` §3.1): `burstLimit` is the capacity and
//! `rateLimit` the refill per second, one token per request.
//!
//! Each bucket is one `AtomicU64` holding a GCRA "theoretical arrival time",
//! which behaves exactly like a token bucket but needs no lock: admitting is a
//! compare-and-swap, so the account-wide bucket is not a global mutex.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Limits of one bucket.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    pub burst: u64,
    /// Tokens per second.
    pub rate: f64,
}

impl Limits {
    /// Nanoseconds one token takes to refill (0 rate: never).
    fn interval(self) -> u64 {
        if self.rate <= 0.0 || !self.rate.is_finite() {
            u64::MAX / 4
        } else {
            ((1e9 / self.rate) as u64).max(1)
        }
    }
}

#[derive(Debug)]
pub struct Bucket {
    /// When the bucket would be full again, in clock nanoseconds (GCRA's TAT).
    tat: AtomicU64,
    /// Interval and burst, packed so a limit change is one store.
    interval: AtomicU64,
    burst: AtomicU64,
}

impl Bucket {
    pub fn new(limits: Limits) -> Bucket {
        Bucket {
            tat: AtomicU64::new(0),
            interval: AtomicU64::new(limits.interval()),
            burst: AtomicU64::new(limits.burst),
        }
    }

    /// Changes the limits, keeping how many tokens are missing: the debt held
    /// in the arrival time is rescaled from the old refill interval to the new one.
    pub fn set_limits(&self, limits: Limits, now: u64) {
        let old_interval = self.interval.swap(limits.interval(), Ordering::AcqRel);
        self.burst.store(limits.burst, Ordering::Relaxed);
        let new_interval = limits.interval();
        if old_interval == new_interval {
            return;
        }
        let _ = self
            .tat
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |tat| {
                let missing = tat.saturating_sub(now) as f64 / old_interval as f64;
                let missing = missing.min(limits.burst as f64);
                Some(now.saturating_add((missing * new_interval as f64) as u64))
            });
    }

    fn limits_differ(&self, limits: Limits) -> bool {
        self.burst.load(Ordering::Relaxed) != limits.burst
            || self.interval.load(Ordering::Relaxed) != limits.interval()
    }

    /// (refill interval in ns, burst), for tests.
    #[cfg(test)]
    pub fn settings(&self) -> (u64, u64) {
        (
            self.interval.load(Ordering::Relaxed),
            self.burst.load(Ordering::Relaxed),
        )
    }

    /// Changes the limits if they differ (see [`Bucket::set_limits`]).
    pub fn apply_limits(&self, limits: Limits, now: u64) {
        if self.limits_differ(limits) {
            self.set_limits(limits, now);
        }
    }

    /// Takes one token if there is one.
    pub fn try_acquire(&self, now: u64) -> bool {
        let interval = self.interval.load(Ordering::Relaxed);
        let burst = self.burst.load(Ordering::Relaxed);
        if burst == 0 {
            return false;
        }
        let tolerance = interval.saturating_mul(burst);
        let mut tat = self.tat.load(Ordering::Acquire);
        loop {
            let next = tat.max(now).saturating_add(interval);
            if next.saturating_sub(now) > tolerance {
                return false;
            }
            match self
                .tat
                .compare_exchange_weak(tat, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return true,
                Err(current) => tat = current,
            }
        }
    }

    /// Gives back a token taken by [`Bucket::try_acquire`] (another layer refused the request).
    pub fn release(&self, now: u64) {
        let interval = self.interval.load(Ordering::Relaxed);
        let _ = self
            .tat
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |tat| {
                Some(tat.saturating_sub(interval).max(now.min(tat)))
            });
    }
}

/// Buckets by name, kept across recompiles so a settings change does not refill them.
#[derive(Default)]
pub struct BucketRegistry {
    buckets: Mutex<HashMap<String, Arc<Bucket>>>,
}

impl BucketRegistry {
    /// The bucket `name` with `limits` (created, or updated in place).
    pub fn get(&self, name: &str, limits: Limits, now: u64) -> Arc<Bucket> {
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        match buckets.get(name) {
            Some(b) => {
                if b.limits_differ(limits) {
                    b.set_limits(limits, now);
                }
                b.clone()
            }
            None => {
                let b = Arc::new(Bucket::new(limits));
                buckets.insert(name.to_string(), b.clone());
                b
            }
        }
    }
}

/// Buckets created on first use (a key's plan throttle per method), sharded so
/// that concurrent keys rarely share a lock and no lock is global.
pub struct LazyBuckets {
    shards: Vec<Mutex<HashMap<String, Arc<Bucket>>>>,
}

impl Default for LazyBuckets {
    fn default() -> Self {
        LazyBuckets {
            shards: (0..64).map(|_| Mutex::new(HashMap::new())).collect(),
        }
    }
}

impl LazyBuckets {
    fn shard(&self, key: &str) -> &Mutex<HashMap<String, Arc<Bucket>>> {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in key.bytes() {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        &self.shards[(h % self.shards.len() as u64) as usize]
    }

    /// The bucket for `key`, with `limits` applied.
    pub fn get(&self, key: &str, limits: Limits, now: u64) -> Arc<Bucket> {
        let mut shard = self.shard(key).lock().unwrap_or_else(|e| e.into_inner());
        if let Some(b) = shard.get(key) {
            b.apply_limits(limits, now);
            return b.clone();
        }
        let b = Arc::new(Bucket::new(limits));
        shard.insert(key.to_string(), b.clone());
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: u64 = 1_000_000_000;

    #[test]
    fn admits_the_burst_then_the_rate() {
        let b = Bucket::new(Limits {
            burst: 10,
            rate: 5.0,
        });
        let now = 10 * SEC;
        let admitted = (0..20).filter(|_| b.try_acquire(now)).count();
        assert_eq!(admitted, 10);
        // One second later, five more tokens.
        let later = now + SEC;
        assert_eq!((0..20).filter(|_| b.try_acquire(later)).count(), 5);
        // Sustained: 5 per second over ten seconds.
        let mut admitted = 0;
        for ms in 0..10_000u64 {
            if b.try_acquire(later + ms * 1_000_000) {
                admitted += 1;
            }
        }
        assert!((49..=51).contains(&admitted), "{admitted}");
    }

    #[test]
    fn burst_zero_blocks() {
        let b = Bucket::new(Limits {
            burst: 0,
            rate: 100.0,
        });
        assert!(!b.try_acquire(SEC));
    }

    #[test]
    fn release_gives_a_token_back() {
        let b = Bucket::new(Limits {
            burst: 1,
            rate: 1.0,
        });
        assert!(b.try_acquire(SEC));
        assert!(!b.try_acquire(SEC));
        b.release(SEC);
        assert!(b.try_acquire(SEC));
    }

    #[test]
    fn limit_changes_apply_in_place() {
        let registry = BucketRegistry::default();
        let b = registry.get(
            "s",
            Limits {
                burst: 1,
                rate: 1.0,
            },
            SEC,
        );
        assert!(b.try_acquire(SEC));
        assert!(!b.try_acquire(SEC));
        let same = registry.get(
            "s",
            Limits {
                burst: 3,
                rate: 1.0,
            },
            SEC,
        );
        assert!(Arc::ptr_eq(&b, &same));
        assert!(same.try_acquire(SEC));
        // A faster rate refills the missing tokens at the new speed.
        let slow = Bucket::new(Limits {
            burst: 1,
            rate: 0.01,
        });
        assert!(slow.try_acquire(SEC));
        slow.set_limits(
            Limits {
                burst: 50,
                rate: 50.0,
            },
            SEC,
        );
        assert!(slow.try_acquire(SEC + SEC / 50));
    }
}

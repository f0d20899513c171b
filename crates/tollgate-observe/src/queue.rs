//! Bounded queues from the request path to background writers. Sending
//! never waits: a full queue drops the item, counts it
//! (`tollgate_observe_dropped_total{queue}` and [`Sender::dropped`]) and
//! logs once per interval, so a stuck writer costs records, never requests.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How often a queue that keeps dropping says so in the log.
const WARN_EVERY: Duration = Duration::from_secs(10);

struct Shared {
    name: &'static str,
    dropped: AtomicU64,
    /// Milliseconds since `epoch` of the last warning (0: never).
    last_warned_ms: AtomicU64,
    epoch: Instant,
}

/// The sending end; cheap to clone.
pub struct Sender<T> {
    inner: SyncSender<T>,
    shared: Arc<Shared>,
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        Sender {
            inner: self.inner.clone(),
            shared: self.shared.clone(),
        }
    }
}

/// A queue of at most `capacity` items named `name` (in metrics and logs).
pub fn bounded<T>(name: &'static str, capacity: usize) -> (Sender<T>, Receiver<T>) {
    let (inner, receiver) = mpsc::sync_channel(capacity);
    let shared = Arc::new(Shared {
        name,
        dropped: AtomicU64::new(0),
        last_warned_ms: AtomicU64::new(0),
        epoch: Instant::now(),
    });
    (Sender { inner, shared }, receiver)
}

impl<T> Sender<T> {
    /// Hands `item` to the writer, or drops it (counted) when the queue is
    /// full or the writer is gone. Never blocks.
    pub fn send(&self, item: T) {
        match self.inner.try_send(item) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => self.drop_one(),
        }
    }

    /// Items dropped so far.
    pub fn dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }

    fn drop_one(&self) {
        let shared = &*self.shared;
        let total = shared.dropped.fetch_add(1, Ordering::Relaxed) + 1;
        metrics::counter!("tollgate_observe_dropped_total", "queue" => shared.name).increment(1);
        let now_ms = shared.epoch.elapsed().as_millis() as u64 + 1;
        let last = shared.last_warned_ms.load(Ordering::Relaxed);
        if (last == 0 || now_ms.saturating_sub(last) >= WARN_EVERY.as_millis() as u64)
            && shared
                .last_warned_ms
                .compare_exchange(last, now_ms, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            tracing::warn!(
                queue = shared.name,
                dropped_total = total,
                "an observer's queue is full: records are being dropped (its writer is behind or stuck)"
            );
        }
    }
}

/// Takes what is queued, waiting at most `wait` for the first item: a
/// writer's batch. Empty when nothing came; `None` once every sender is gone
/// and the queue is empty.
pub fn next_batch<T>(receiver: &Receiver<T>, wait: Duration, max: usize) -> Option<Vec<T>> {
    let mut batch = Vec::new();
    match receiver.recv_timeout(wait) {
        Ok(item) => batch.push(item),
        Err(mpsc::RecvTimeoutError::Timeout) => return Some(batch),
        Err(mpsc::RecvTimeoutError::Disconnected) => return None,
    }
    drain_into(receiver, &mut batch, max);
    Some(batch)
}

/// Moves what is queued into `batch` without waiting, until it holds `max`.
pub fn drain_into<T>(receiver: &Receiver<T>, batch: &mut Vec<T>, max: usize) {
    while batch.len() < max {
        match receiver.try_recv() {
            Ok(item) => batch.push(item),
            Err(_) => break,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_queue_drops_and_counts_without_waiting() {
        let (sender, receiver) = bounded::<u32>("test", 2);
        let started = Instant::now();
        for i in 0..10 {
            sender.send(i);
        }
        assert!(started.elapsed() < Duration::from_secs(1));
        assert_eq!(sender.dropped(), 8);
        let batch = next_batch(&receiver, Duration::from_millis(10), 100).expect("open");
        assert_eq!(batch, vec![0, 1]);
        drop(sender);
        assert!(next_batch(&receiver, Duration::from_millis(10), 100).is_none());
    }
}

//! Bounded queues from the request path to background writers. Sending
//! never waits: a full queue drops the item, counts it
//! (`tollgate_observe_dropped_total{queue}` and [`Sender::dropped`]) and
//! logs once per interval, so a stuck writer costs records, never requests.
//!
//! On shutdown, [`Sender::flush`] puts a marker behind what is queued and
//! waits until the writer has written everything before it: the last
//! requests' records are kept without guessing how long writers need.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, SyncSender, TrySendError};
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

/// What travels through a queue: a record, or a flush marker whose sender
/// waits to hear that everything queued before it is written.
enum Item<T> {
    Record(T),
    Flush(mpsc::Sender<()>),
}

/// The sending end; cheap to clone.
pub struct Sender<T> {
    inner: SyncSender<Item<T>>,
    shared: Arc<Shared>,
}

/// The writer's end. Batches stop at a flush marker; the writer answers the
/// markers met so far ([`Receiver::take_flushes`]) once it has written
/// those batches.
pub struct Receiver<T> {
    inner: mpsc::Receiver<Item<T>>,
    flushes: RefCell<Vec<mpsc::Sender<()>>>,
}

/// Flush markers a writer has met: answered with [`Flushes::done`] after
/// the records before them are written.
#[must_use = "a flush waits until it is answered"]
pub struct Flushes(Vec<mpsc::Sender<()>>);

impl Flushes {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Tells each waiting [`Sender::flush`] that its records are written.
    pub fn done(self) {
        for waiter in self.0 {
            let _ = waiter.send(());
        }
    }
}

impl<T> Receiver<T> {
    /// Whether a flush marker was met: the writer should write what it has
    /// now (no gathering) and answer it.
    pub fn flush_pending(&self) -> bool {
        !self.flushes.borrow().is_empty()
    }

    /// The flush markers met so far, to answer after writing.
    pub fn take_flushes(&self) -> Flushes {
        Flushes(std::mem::take(&mut *self.flushes.borrow_mut()))
    }

    /// The next record, waiting as long as it takes; `None` once every
    /// sender is gone. For a writer that handles records one at a time:
    /// a flush marker is answered as soon as it is reached.
    pub fn recv(&self) -> Option<T> {
        loop {
            match self.inner.recv().ok()? {
                Item::Record(item) => return Some(item),
                Item::Flush(waiter) => {
                    let _ = waiter.send(());
                }
            }
        }
    }
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
    let receiver = Receiver {
        inner: receiver,
        flushes: RefCell::new(Vec::new()),
    };
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
        match self.inner.try_send(Item::Record(item)) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => self.drop_one(),
        }
    }

    /// Waits (blocking, at most `limit`) until the writer has written every
    /// record sent before this call; false when it did not in time or is
    /// gone. A full queue is waited on, not dropped from: for shutdown, not
    /// for requests.
    pub fn flush(&self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        let (waiter, written) = mpsc::channel();
        let mut marker = Item::Flush(waiter);
        loop {
            match self.inner.try_send(marker) {
                Ok(()) => break,
                Err(TrySendError::Disconnected(_)) => return false,
                Err(TrySendError::Full(back)) => {
                    if Instant::now() >= deadline {
                        return false;
                    }
                    marker = back;
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        }
        written
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .is_ok()
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
/// writer's batch. Empty when nothing came (or a flush marker came first);
/// `None` once every sender is gone and the queue is empty.
pub fn next_batch<T>(receiver: &Receiver<T>, wait: Duration, max: usize) -> Option<Vec<T>> {
    let mut batch = Vec::new();
    match receiver.inner.recv_timeout(wait) {
        Ok(Item::Record(item)) => batch.push(item),
        Ok(Item::Flush(waiter)) => {
            receiver.flushes.borrow_mut().push(waiter);
            return Some(batch);
        }
        Err(mpsc::RecvTimeoutError::Timeout) => return Some(batch),
        Err(mpsc::RecvTimeoutError::Disconnected) => return None,
    }
    drain_into(receiver, &mut batch, max);
    Some(batch)
}

/// Moves what is queued into `batch` without waiting, until it holds `max`
/// or a flush marker is reached (what follows the marker waits for the
/// next batch).
pub fn drain_into<T>(receiver: &Receiver<T>, batch: &mut Vec<T>, max: usize) {
    if receiver.flush_pending() {
        return;
    }
    while batch.len() < max {
        match receiver.inner.try_recv() {
            Ok(Item::Record(item)) => batch.push(item),
            Ok(Item::Flush(waiter)) => {
                receiver.flushes.borrow_mut().push(waiter);
                return;
            }
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

    #[test]
    fn a_flush_returns_once_what_was_sent_before_it_is_written() {
        let (sender, receiver) = bounded::<u32>("test", 64);
        for i in 0..5 {
            sender.send(i);
        }
        let written = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (flusher, seen) = (sender.clone(), written.clone());
        let waiting = std::thread::spawn(move || {
            let flushed = flusher.flush(Duration::from_secs(10));
            // Everything sent before the flush is written when it returns.
            (flushed, seen.lock().map(|w| w.len()).unwrap_or(0))
        });
        // The writer: slow, so a flush that did not wait would see fewer.
        let mut answered = false;
        while !answered {
            let batch = next_batch(&receiver, Duration::from_secs(5), 2).expect("open");
            std::thread::sleep(Duration::from_millis(20));
            written.lock().expect("lock").extend(batch);
            let flushes = receiver.take_flushes();
            answered = !flushes.is_empty();
            flushes.done();
        }
        assert_eq!(waiting.join().expect("thread"), (true, 5));
        // Records sent after the marker are the next batch's.
        sender.send(9);
        let batch = next_batch(&receiver, Duration::from_secs(1), 100).expect("open");
        assert_eq!(batch, vec![9]);
    }

    #[test]
    fn a_flush_nobody_answers_gives_up_at_its_limit() {
        let (sender, _receiver) = bounded::<u32>("test", 1);
        sender.send(1);
        let started = Instant::now();
        // The queue is full and nobody reads it: the marker cannot even go in.
        assert!(!sender.flush(Duration::from_millis(50)));
        assert!(started.elapsed() < Duration::from_secs(5));
        let (gone, receiver) = bounded::<u32>("test", 4);
        drop(receiver);
        assert!(!gone.flush(Duration::from_secs(5)));
    }
}

//! The background writer of log lines made elsewhere (access logs, function
//! logs): lines arrive through a bounded queue and are written in batches,
//! at least every [`FLUSH_EVERY`], so an event is queryable within a second
//! of its request.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::store::{LogStore, StreamBatch};
use crate::queue::{self, Receiver, Sender};

/// How long a line may wait for its batch.
pub const FLUSH_EVERY: Duration = Duration::from_millis(200);

/// Least time between two transactions while lines keep coming (a line
/// waits at most this long more than it would otherwise).
const WRITE_SPACING: Duration = Duration::from_millis(50);

/// Lines waiting, all writers together.
const QUEUE_CAPACITY: usize = 65_536;
/// Most lines written in one transaction.
const BATCH: usize = 10_000;

/// One line for a log group's stream.
#[derive(Debug, Clone, PartialEq)]
pub struct LogLine {
    pub group: Arc<str>,
    pub stream: Arc<str>,
    pub timestamp_ms: i64,
    pub message: String,
}

/// Starts the writer thread; lines sent to the returned queue are written
/// until every sender is gone.
pub fn start(store: Arc<LogStore>) -> std::io::Result<Sender<LogLine>> {
    let (sender, receiver) = queue::bounded("log_lines", QUEUE_CAPACITY);
    std::thread::Builder::new()
        .name("tollgate-log-writer".into())
        .spawn(move || run(&store, &receiver))?;
    Ok(sender)
}

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn run(store: &LogStore, receiver: &Receiver<LogLine>) {
    let mut last_write: Option<Instant> = None;
    while let Some(mut lines) = queue::next_batch(receiver, FLUSH_EVERY, BATCH) {
        if !lines.is_empty() {
            // Under steady traffic, let lines gather for a while after the
            // last transaction: a transaction costs as much as hundreds of
            // lines. A full batch, or one a flush waits for, goes at once.
            if let Some(since) = last_write.map(|t| t.elapsed()) {
                if since < WRITE_SPACING && lines.len() < BATCH && !receiver.flush_pending() {
                    std::thread::sleep(WRITE_SPACING - since);
                    queue::drain_into(receiver, &mut lines, BATCH);
                }
            }
            write(store, lines);
            last_write = Some(Instant::now());
        }
        receiver.take_flushes().done();
    }
}

/// Groups `lines` by stream, in time order within each, and writes them.
fn write(store: &LogStore, lines: Vec<LogLine>) {
    let count = lines.len();
    let mut streams: HashMap<(Arc<str>, Arc<str>), StreamBatch> = HashMap::new();
    for line in lines {
        streams
            .entry((line.group.clone(), line.stream.clone()))
            .or_insert_with(|| StreamBatch {
                group: line.group.to_string(),
                stream: line.stream.to_string(),
                events: Vec::new(),
            })
            .events
            .push((line.timestamp_ms, line.message));
    }
    let batches: Vec<StreamBatch> = streams
        .into_values()
        .map(|mut batch| {
            batch.events.sort_by_key(|(t, _)| *t);
            batch
        })
        .collect();
    match store.append_batches(&batches, now_ms()) {
        Ok(created) => {
            // AWS would drop these lines (its service role does not create
            // groups); Tollgate keeps them, and says so.
            for group in created {
                metrics::counter!("tollgate_log_groups_created_total").increment(1);
                tracing::warn!(%group, "a log group that did not exist was created for the lines written to it (create it first with `aws logs create-log-group` to choose its retention)");
            }
        }
        Err(e) => {
            metrics::counter!("tollgate_log_lines_lost_total").increment(count as u64);
            tracing::error!(error = %e, lines = count, "log lines could not be written");
        }
    }
}

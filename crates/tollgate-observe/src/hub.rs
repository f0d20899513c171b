//! The one observer the gateway calls: it puts the (shared) outcome record
//! into a bounded queue, and a thread of its own writes the access log line and
//! the metrics. A full queue drops the record (counted as
//! `tollgate_observe_dropped_total{queue="outcomes"}`), never the request.

use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use tollgate_gateway::{Observer, Outcome, TraceRecord};
use tollgate_model::State;

use crate::access_logs::AccessLogs;
use crate::execution_logs::ExecutionLogs;
use crate::metrics::requests::{DetailedMetrics, RequestMetrics};
use crate::metrics::MetricStore;
use crate::otlp::{
    parse_trace_header, span_id_of_hex, trace_id_of_root, Attribute, Exporter, SpanData, SpanKind,
};
use crate::queue::{self, Sender};

/// Outcomes waiting for the observers' thread.
const QUEUE_CAPACITY: usize = 65_536;

/// Most records handled between two looks at the queue.
const BATCH: usize = 1024;

/// How long the observers' thread lets records gather after a batch that
/// did not fill: far below what the queue holds at any rate it can keep up
/// with, and what a record waits at most besides its own handling.
const GATHER_FOR: Duration = Duration::from_millis(5);

/// How long a request's metrics may wait in the observers' tallies before
/// they reach the metric store (and GetMetricStatistics).
const METRICS_FLUSH_EVERY: Duration = Duration::from_millis(50);

/// How long the observers' thread waits for records with nothing to flush.
const IDLE_WAIT: Duration = Duration::from_secs(1);

pub struct Hub {
    outcomes: Sender<Arc<Outcome>>,
    access_logs: Arc<AccessLogs>,
    execution_logs: Arc<ExecutionLogs>,
    detailed: Arc<ArcSwap<DetailedMetrics>>,
}

impl Hub {
    pub fn start(
        access_logs: Arc<AccessLogs>,
        execution_logs: Arc<ExecutionLogs>,
        metrics: Arc<MetricStore>,
        spans: Option<Arc<Exporter>>,
    ) -> std::io::Result<Hub> {
        let (outcomes, receiver) = queue::bounded::<Arc<Outcome>>("outcomes", QUEUE_CAPACITY);
        let detailed = Arc::new(ArcSwap::from_pointee(DetailedMetrics::default()));
        let (logs, settings) = (access_logs.clone(), detailed.clone());
        let execution = execution_logs.clone();
        std::thread::Builder::new()
            .name("tollgate-observers".into())
            .spawn(move || {
                let mut tallies = RequestMetrics::default();
                let mut last_flush = Instant::now();
                loop {
                    // With tallies waiting, wake in time to flush them.
                    let wait = if tallies.is_empty() {
                        IDLE_WAIT
                    } else {
                        METRICS_FLUSH_EVERY.saturating_sub(last_flush.elapsed())
                    };
                    let Some(batch) = queue::next_batch(&receiver, wait, BATCH) else {
                        tallies.flush(&metrics);
                        break;
                    };
                    let detailed = settings.load();
                    let batch_len = batch.len();
                    for outcome in batch {
                        logs.accept(&outcome);
                        execution.accept(&outcome);
                        if let (Some(exporter), Some(trace)) = (&spans, &outcome.trace) {
                            for span in request_spans(&outcome, trace) {
                                exporter.export(span);
                            }
                        }
                        tallies.record(&detailed, &outcome);
                    }
                    let flushes = receiver.take_flushes();
                    if !tallies.is_empty()
                        && (last_flush.elapsed() >= METRICS_FLUSH_EVERY || !flushes.is_empty())
                    {
                        tallies.flush(&metrics);
                        last_flush = Instant::now();
                    }
                    // The access-log lines and spans are in their writers'
                    // queues, the metrics in the store.
                    let flushed = !flushes.is_empty();
                    flushes.done();
                    // Under steady traffic, let records gather: a thread
                    // that waits on an empty queue is woken (a system call
                    // on the request's side) for every record.
                    if batch_len > 0 && batch_len < BATCH && !flushed {
                        std::thread::sleep(GATHER_FOR);
                    }
                }
            })?;
        Ok(Hub {
            outcomes,
            access_logs,
            execution_logs,
            detailed,
        })
    }

    /// Follows the stages' log and metrics settings.
    pub fn update(&self, state: &State) {
        self.access_logs.update(state);
        self.execution_logs.update(state);
        self.detailed
            .store(Arc::new(DetailedMetrics::from_state(state)));
    }

    /// Waits (at most `limit`) until every outcome observed so far is
    /// handled: its access-log line and spans handed to their writers, its
    /// metrics in the store.
    pub fn flush(&self, limit: Duration) -> bool {
        self.outcomes.flush(limit)
    }

    /// Records dropped because the observers' thread was behind.
    pub fn dropped(&self) -> u64 {
        self.outcomes.dropped()
    }
}

impl Observer for Hub {
    fn observe(&self, outcome: &Arc<Outcome>) {
        self.outcomes.send(outcome.clone());
    }
}

/// A traced request's spans: the stage's (the request in the gateway, a
/// child of the client's span when it sent one), and under it the
/// authorizer's and the integration's (whose id the upstream got as its
/// parent).
fn request_spans(o: &Outcome, t: &TraceRecord) -> Vec<SpanData> {
    let header = parse_trace_header(&t.header);
    let Some(trace_id) = header.root.as_deref().and_then(trace_id_of_root) else {
        return Vec::new();
    };
    let start = o.request_time_epoch_ms as u64 * 1_000_000;
    let nanos = |d: Duration| d.as_nanos() as u64;
    let mut spans = vec![SpanData {
        trace_id,
        span_id: t.stage_span,
        parent_span_id: header.parent.as_deref().and_then(span_id_of_hex),
        name: format!("{}/{}", o.api_id, o.stage),
        kind: SpanKind::Server,
        start_unix_nanos: start,
        end_unix_nanos: start + nanos(o.latency),
        attributes: vec![
            (
                "http.request.method",
                Attribute::Text(o.http_method.to_string()),
            ),
            (
                "url.path",
                Attribute::Text(format!("/{}{}", o.stage, o.path)),
            ),
            ("http.route", Attribute::Text(o.resource_path.to_string())),
            (
                "http.response.status_code",
                Attribute::Int(i64::from(o.status)),
            ),
            ("aws.api_gateway.api_id", Attribute::Text(o.api_id.clone())),
            ("aws.api_gateway.stage", Attribute::Text(o.stage.clone())),
            ("aws.request_id", Attribute::Text(o.request_id.clone())),
        ],
        error: (o.status >= 500).then(|| o.error_type.unwrap_or("server error").to_string()),
    }];
    let mut child_id = t.stage_span;
    child_id[0] ^= 0x5a;
    if let (Some(begin), Some(latency)) = (t.authorizer_start, o.authorizer_latency) {
        spans.push(SpanData {
            trace_id,
            span_id: child_id,
            parent_span_id: Some(t.stage_span),
            name: "Lambda authorizer".into(),
            kind: SpanKind::Client,
            start_unix_nanos: start + nanos(begin),
            end_unix_nanos: start + nanos(begin) + nanos(latency),
            attributes: vec![(
                "aws.api_gateway.authorizer.status",
                Attribute::Int(i64::from(o.authorizer_status.unwrap_or(0))),
            )],
            error: o
                .authorizer_status
                .filter(|s| *s >= 500)
                .map(|_| "the authorizer failed".into()),
        });
    }
    if let (Some(begin), Some(latency)) = (t.integration_start, o.integration_latency) {
        spans.push(SpanData {
            trace_id,
            span_id: t.integration_span,
            parent_span_id: Some(t.stage_span),
            name: "integration".into(),
            kind: SpanKind::Client,
            start_unix_nanos: start + nanos(begin),
            end_unix_nanos: start + nanos(begin) + nanos(latency),
            attributes: vec![("aws.request_id", Attribute::Text(o.request_id.clone()))],
            error: matches!(
                o.error_type,
                Some("INTEGRATION_FAILURE") | Some("INTEGRATION_TIMEOUT")
            )
            .then(|| o.error_type.unwrap_or_default().to_string()),
        });
    }
    spans
}

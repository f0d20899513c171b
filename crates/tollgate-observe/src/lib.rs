//! Tollgate's observers (`spec/aws-apigw.md` §8, §10): what the data plane
//! did, readable with AWS's own APIs and today's tools.
//!
//! Every request's [`tollgate_gateway::Outcome`] leaves the request's thread
//! through a bounded queue ([`queue`]); background writers turn it into
//! access-log lines in CloudWatch Logs ([`logs`]), metrics and traces. A
//! full queue drops the record, counts it and says so in the log; it never
//! slows or fails a request.

pub mod access_log;
pub mod access_logs;
pub mod alarms;
pub mod cloudwatch;
pub mod docstore;
pub mod execution_logs;
pub mod functions;
pub mod hub;
pub mod logs;
pub mod metrics;
pub mod otlp;
pub mod queue;
pub mod sns;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tollgate_model::State;

use crate::access_logs::AccessLogs;
use crate::hub::Hub;
use crate::logs::{LogLine, LogStore};
use crate::metrics::MetricStore;
use crate::queue::Sender;

/// How often retention policies are applied.
const RETENTION_EVERY: Duration = Duration::from_secs(60);

/// Why the observers could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot open the log store: {0}")]
    LogStore(#[from] logs::store::StoreError),
    #[error("cannot start a writer thread: {0}")]
    Thread(#[from] std::io::Error),
    #[error("cannot open the monitoring store: {0}")]
    Monitoring(#[from] docstore::DocError),
    #[error("cannot share metrics through the shared store: {0}")]
    SharedMetrics(#[from] tollgate_store::StoreError),
}

/// Where the observers live and whom they answer as.
pub struct ObserveConfig<'a> {
    pub data_dir: &'a Path,
    /// This instance's name in log streams.
    pub instance: &'a str,
    pub region: &'a str,
    pub account_id: &'a str,
    /// Tollgate's own URL, for links it sends (SNS SubscribeURL).
    pub public_base: &'a str,
    /// The HTTP client SNS deliveries and span exports use.
    pub client: tollgate_gateway::upstream::UpstreamClient,
    /// Where spans of stages with `tracingEnabled` go (OTLP/HTTP); none: not exported.
    pub otlp_endpoint: Option<&'a str>,
    /// The shared store's PostgreSQL URL when several instances share one
    /// (`serve --store postgres://…`): logs then live in its tables, and
    /// metrics are published there and merged on read ([`metrics::shared`]).
    pub shared_store: Option<&'a str>,
    /// Bytes the metric store may hold ([`metrics::MetricStore::with_budget`]).
    pub metrics_budget_bytes: usize,
}

/// Every observer of one Tollgate instance, and the stores they write.
pub struct Observatory {
    pub logs: Arc<LogStore>,
    /// Lines for CloudWatch Logs (function logs write here too).
    pub lines: Sender<LogLine>,
    pub metrics: Arc<MetricStore>,
    /// The gateway's observer.
    pub hub: Arc<Hub>,
    pub sns: Arc<sns::Sns>,
    pub alarms: Arc<alarms::Alarms>,
    /// Lambda functions' logs and metrics.
    pub functions: Arc<functions::Functions>,
    /// The metrics publisher and reader, with a shared store.
    pub shared_metrics: Option<Arc<metrics::shared::SharedMetrics>>,
    /// The span exporter, when spans are exported.
    spans: Option<Arc<otlp::Exporter>>,
}

impl Observatory {
    /// Opens the log store (in `data_dir`, or the shared store's tables)
    /// and starts the writers; this instance writes its lines to streams
    /// named `instance`.
    pub fn start(config: ObserveConfig<'_>) -> Result<Observatory, StartError> {
        let logs = Arc::new(match config.shared_store {
            Some(url) => LogStore::shared(url)?,
            None => LogStore::open(config.data_dir)?,
        });
        let lines = logs::writer::start(logs.clone())?;
        let access_logs = Arc::new(AccessLogs::new(lines.clone(), config.instance));
        let execution_logs = Arc::new(execution_logs::ExecutionLogs::new(
            lines.clone(),
            config.instance,
        ));
        let metrics = Arc::new(MetricStore::with_budget(config.metrics_budget_bytes));
        let shared_metrics = match config.shared_store {
            Some(url) => Some(metrics::shared::SharedMetrics::start(
                url,
                config.instance,
                &metrics,
            )?),
            None => None,
        };
        let spans = match config.otlp_endpoint {
            Some(endpoint) => Some(Arc::new(otlp::Exporter::start(
                endpoint,
                "tollgate",
                config.client.clone(),
            )?)),
            None => None,
        };
        let hub = Arc::new(Hub::start(
            access_logs,
            execution_logs,
            metrics.clone(),
            spans.clone(),
        )?);
        let (retention, datapoints) = (Arc::downgrade(&logs), Arc::downgrade(&metrics));
        std::thread::Builder::new()
            .name("tollgate-retention".into())
            .spawn(move || loop {
                std::thread::sleep(RETENTION_EVERY);
                let (Some(store), Some(metrics)) = (retention.upgrade(), datapoints.upgrade())
                else {
                    return;
                };
                let now = logs::writer::now_ms();
                if let Err(e) = store.enforce_retention(now) {
                    tracing::warn!(error = %e, "log retention could not be applied");
                }
                metrics.prune(now);
            })?;
        let docs = Arc::new(docstore::DocStore::open(config.data_dir)?);
        let sns = sns::Sns::start(
            docs.clone(),
            config.region,
            config.account_id,
            config.public_base,
            config.client,
        )?;
        let alarms = alarms::Alarms::load(
            docs,
            metrics.clone(),
            sns.clone(),
            config.region,
            config.account_id,
        );
        alarms.start_evaluator()?;
        let functions = Arc::new(functions::Functions::start(
            metrics.clone(),
            lines.clone(),
            config.instance,
            spans.clone(),
        )?);
        Ok(Observatory {
            functions,
            logs,
            lines,
            metrics,
            hub,
            sns,
            alarms,
            shared_metrics,
            spans,
        })
    }

    /// Waits (at most `limit` in all) until what the requests served so far
    /// produced is written: outcomes turned into lines, metrics and spans,
    /// then the lines in the log store and the spans posted. For shutdown;
    /// false when a writer did not finish in time (what it held is lost,
    /// as in a crash).
    pub fn flush(&self, limit: Duration) -> bool {
        let deadline = std::time::Instant::now() + limit;
        let left = || deadline.saturating_duration_since(std::time::Instant::now());
        // In this order: each step's writer feeds the next ones' queues.
        self.hub.flush(left())
            && self.functions.flush(left())
            && self.lines.flush(left())
            && self.spans.as_ref().is_none_or(|spans| spans.flush(left()))
    }

    /// Publishes this instance's last metrics to the shared store (on
    /// shutdown; a no-op without one).
    pub fn flush_shared(&self) {
        if let Some(shared) = &self.shared_metrics {
            shared.publish_now();
        }
    }

    /// Follows the configuration (stages' log and metrics settings).
    pub fn update(&self, state: &State) {
        self.hub.update(state);
    }
}

/// This instance's name in log streams: the host's name.
pub fn instance_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "tollgate".into())
}

/// `2026-12-07T18:00:00.000Z` from epoch milliseconds.
pub fn iso8601(epoch_ms: i64) -> String {
    let secs = epoch_ms.div_euclid(1000);
    let date = tollgate_model::time::Date::from_epoch_seconds(secs);
    let in_day = secs.rem_euclid(86_400);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        date.year,
        date.month,
        date.day,
        in_day / 3600,
        in_day % 3600 / 60,
        in_day % 60,
        epoch_ms.rem_euclid(1000)
    )
}

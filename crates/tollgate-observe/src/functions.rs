//! What Lambda functions publish: their output in CloudWatch Logs
//! (`/aws/lambda/NAME`, one stream per day and instance, as
//! `YYYY/MM/DD/[$LATEST]instance`), and the AWS/Lambda metrics
//! Invocations, Errors, Duration, Throttles and ConcurrentExecutions, per
//! `FunctionName` and for all functions together.

use std::sync::Arc;
use std::time::Duration;

use crate::logs::LogLine;
use crate::metrics::store::{MetricKey, MetricStore, Sample};
use crate::queue::{self, Sender};

pub const NAMESPACE: &str = "AWS/Lambda";

/// How one invocation ended.
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionRecord {
    pub function: String,
    pub at_ms: i64,
    /// The handler ran (successfully or not).
    pub ran: bool,
    pub error: bool,
    pub throttled: bool,
    pub duration: Duration,
    pub concurrent: usize,
    /// `_X_AMZN_TRACE_ID` of the invocation.
    pub trace_id: Option<String>,
    pub start_unix_nanos: u64,
}

/// Records waiting to be counted.
const QUEUE_CAPACITY: usize = 16_384;

pub struct Functions {
    records: Sender<FunctionRecord>,
    spans: Option<Arc<crate::otlp::Exporter>>,
    lines: Sender<LogLine>,
    instance: Arc<str>,
}

impl Functions {
    pub fn start(
        metrics: Arc<MetricStore>,
        lines: Sender<LogLine>,
        instance: &str,
        spans: Option<Arc<crate::otlp::Exporter>>,
    ) -> std::io::Result<Functions> {
        let (records, receiver) =
            queue::bounded::<FunctionRecord>("function_metrics", QUEUE_CAPACITY);
        std::thread::Builder::new()
            .name("tollgate-function-metrics".into())
            .spawn(move || {
                while let Some(batch) = queue::next_batch(&receiver, Duration::from_secs(1), 1024) {
                    for record in batch {
                        record_metrics(&metrics, &record);
                    }
                    receiver.take_flushes().done();
                }
            })?;
        Ok(Functions {
            records,
            spans,
            lines,
            instance: Arc::from(instance),
        })
    }

    /// Waits (at most `limit`) until the invocations counted so far are in
    /// the metric store.
    pub fn flush(&self, limit: Duration) -> bool {
        self.records.flush(limit)
    }

    /// Counts one invocation (never waits); a traced one (its trace header
    /// names a parent and is sampled) becomes a span under that parent.
    pub fn invoked(&self, record: FunctionRecord) {
        if let (Some(exporter), Some(span)) = (&self.spans, invocation_span(&record)) {
            exporter.export(span);
        }
        self.records.send(record);
    }

    /// One line of a function's output.
    pub fn log_line(&self, function: &str, at_ms: i64, text: &str) {
        let date = tollgate_model::time::Date::from_epoch_seconds(at_ms.div_euclid(1000));
        self.lines.send(LogLine {
            group: Arc::from(format!("/aws/lambda/{function}")),
            stream: Arc::from(format!(
                "{:04}/{:02}/{:02}/[$LATEST]{}",
                date.year, date.month, date.day, self.instance
            )),
            timestamp_ms: at_ms,
            message: text.to_string(),
        });
    }
}

fn record_metrics(store: &MetricStore, r: &FunctionRecord) {
    let mut samples: Vec<(&str, f64, &str)> = Vec::new();
    if r.throttled {
        samples.push(("Throttles", 1.0, "Count"));
    } else if r.ran {
        samples.push(("Invocations", 1.0, "Count"));
        samples.push(("Errors", f64::from(u8::from(r.error)), "Count"));
        samples.push((
            "Duration",
            r.duration.as_secs_f64() * 1000.0,
            "Milliseconds",
        ));
        samples.push(("Throttles", 0.0, "Count"));
        samples.push(("ConcurrentExecutions", r.concurrent as f64, "Count"));
    }
    for dimensions in [
        Vec::new(),
        vec![("FunctionName".to_string(), r.function.clone())],
    ] {
        for (name, value, unit) in &samples {
            let key = MetricKey::new(NAMESPACE, name, dimensions.clone());
            if store
                .record(&key, r.at_ms, Sample::Value(*value), Some(unit))
                .is_err()
            {
                metrics::counter!("tollgate_metric_series_refused_total").increment(1);
            }
        }
    }
    let labels = [("function_name", r.function.clone())];
    if r.throttled {
        metrics::counter!("tollgate_lambda_throttles_total", &labels).increment(1);
    } else if r.ran {
        metrics::counter!("tollgate_lambda_invocations_total", &labels).increment(1);
        metrics::counter!("tollgate_lambda_errors_total", &labels).increment(u64::from(r.error));
        metrics::histogram!("tollgate_lambda_duration_milliseconds", &labels)
            .record(r.duration.as_secs_f64() * 1000.0);
    }
}

/// The invocation as a span, when its trace header makes it part of a trace.
fn invocation_span(r: &FunctionRecord) -> Option<crate::otlp::SpanData> {
    use crate::otlp::{
        parse_trace_header, span_id_of_hex, trace_id_of_root, Attribute, SpanData, SpanKind,
    };
    let header = parse_trace_header(r.trace_id.as_deref()?);
    if header.sampled != Some(true) || !r.ran {
        return None;
    }
    let trace_id = trace_id_of_root(header.root.as_deref()?)?;
    let parent = span_id_of_hex(header.parent.as_deref()?)?;
    let mut span_id = [0u8; 8];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut span_id);
    Some(SpanData {
        trace_id,
        span_id,
        parent_span_id: Some(parent),
        name: r.function.clone(),
        kind: SpanKind::Server,
        start_unix_nanos: r.start_unix_nanos,
        end_unix_nanos: r.start_unix_nanos + r.duration.as_nanos() as u64,
        attributes: vec![
            ("faas.name", Attribute::Text(r.function.clone())),
            ("cloud.platform", Attribute::Text("aws_lambda".into())),
        ],
        error: r.error.then(|| "the function failed".to_string()),
    })
}

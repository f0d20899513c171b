//! The Prometheus recorder behind `/metrics`: every `metrics` series the
//! process records (the gateway's, the observers', the Lambda host's), with
//! latency histograms in milliseconds. Installed once per process.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

/// Histogram buckets, in milliseconds.
const LATENCY_BUCKETS_MS: &[f64] = &[
    0.5, 1.0, 2.5, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0,
    30000.0, 60000.0,
];

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// The process's recorder, installed on first use; None if another
/// recorder was installed first (then `/metrics` says so).
pub fn handle() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let builder = match PrometheusBuilder::new().set_buckets(LATENCY_BUCKETS_MS) {
                Ok(b) => b,
                Err(e) => {
                    tracing::error!(error = %e, "the Prometheus recorder could not be configured");
                    return None;
                }
            };
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            match metrics::set_global_recorder(recorder) {
                Ok(()) => Some(handle),
                Err(_) => {
                    tracing::warn!("a metrics recorder was already installed: /metrics is empty");
                    None
                }
            }
        })
        .as_ref()
}

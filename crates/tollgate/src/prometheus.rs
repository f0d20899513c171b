//! The Prometheus recorder behind `/metrics`: every `metrics` series the
//! process records (the gateway's, the observers', the Lambda host's), with
//! latency histograms in milliseconds. Installed once per process.

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

/// Histogram buckets, in milliseconds.
const LATENCY_BUCKETS_MS: &[f64] = &[
    0.5, 1.0, 2.5, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0,
    30000.0, 60000.0,
];

/// How often histogram samples are folded into their buckets when nobody
/// reads `/metrics`: the recorder holds every sample until then.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

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
                Ok(()) => {
                    start_upkeep(handle.clone());
                    Some(handle)
                }
                Err(_) => {
                    tracing::warn!("a metrics recorder was already installed: /metrics is empty");
                    None
                }
            }
        })
        .as_ref()
}

/// Without upkeep the recorder's histograms keep every sample recorded
/// since the last scrape: memory that grows with traffic where nobody runs
/// Prometheus.
fn start_upkeep(handle: PrometheusHandle) {
    let spawned = std::thread::Builder::new()
        .name("tollgate-prometheus-upkeep".into())
        .spawn(move || loop {
            std::thread::sleep(UPKEEP_EVERY);
            handle.run_upkeep();
        });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "the Prometheus upkeep thread could not start: latency samples accumulate until /metrics is read");
    }
}

//! The metrics API Gateway publishes for each request (namespace
//! `AWS/ApiGateway`): Count, 4XXError, 5XXError, Latency and
//! IntegrationLatency (CacheHitCount and CacheMissCount once the stage
//! cache answers), with the dimensions AWS uses — `ApiName`;
//! `ApiName, Stage`; and `ApiName, Method, Resource, Stage` where the
//! stage's method settings enable detailed metrics — plus, beyond AWS, no
//! dimensions at all: the whole account's traffic, which is what an alarm
//! written without dimensions (the seed's) watches.
//!
//! The same figures go to the Prometheus exporter (`/metrics`) as
//! `tollgate_apigateway_*` series labelled `api_name` and `stage`.

use std::collections::{HashMap, HashSet};

use tollgate_gateway::Outcome;
use tollgate_model::State;

use super::store::{MetricKey, MetricStore, Sample};

pub const NAMESPACE: &str = "AWS/ApiGateway";

/// Which methods of which stages publish per-method metrics.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct DetailedMetrics {
    /// (api id, stage) → every method (`*/*`), or these (resource path, method).
    stages: HashMap<(String, String), Detailed>,
}

#[derive(Debug, Clone, PartialEq)]
enum Detailed {
    All,
    Methods(HashSet<(String, String)>),
}

impl DetailedMetrics {
    /// From the stages' `methodSettings` (`metricsEnabled`).
    pub fn from_state(state: &State) -> DetailedMetrics {
        let mut stages = HashMap::new();
        for (api_id, doc) in &state.rest_apis {
            for (name, stage) in &doc.stages {
                let all = stage
                    .method_settings
                    .get("*/*")
                    .is_some_and(|s| s.metrics_enabled);
                let detailed = if all {
                    Detailed::All
                } else {
                    let methods: HashSet<(String, String)> = stage
                        .method_settings
                        .iter()
                        .filter(|(k, s)| s.metrics_enabled && k.as_str() != "*/*")
                        .filter_map(|(k, _)| {
                            let (path, method) = k.rsplit_once('/')?;
                            Some((path.replace("~1", "/"), method.to_string()))
                        })
                        .collect();
                    if methods.is_empty() {
                        continue;
                    }
                    Detailed::Methods(methods)
                };
                stages.insert((api_id.clone(), name.clone()), detailed);
            }
        }
        DetailedMetrics { stages }
    }

    fn enabled(&self, o: &Outcome) -> bool {
        match self.stages.get(&(o.api_id.clone(), o.stage.clone())) {
            None => false,
            Some(Detailed::All) => true,
            Some(Detailed::Methods(m)) => {
                m.contains(&(o.resource_path.clone(), o.http_method.clone()))
                    || m.contains(&(o.resource_path.clone(), "ANY".to_string()))
            }
        }
    }
}

/// Records one request's metrics.
pub fn record(store: &MetricStore, detailed: &DetailedMetrics, o: &Outcome) {
    if o.api_name.is_empty() {
        // No API was resolved (an unknown API or stage): AWS has no name to
        // publish it under.
        return;
    }
    let mut dimension_sets = vec![
        Vec::new(),
        vec![("ApiName".to_string(), o.api_name.clone())],
        vec![
            ("ApiName".to_string(), o.api_name.clone()),
            ("Stage".to_string(), o.stage.clone()),
        ],
    ];
    if !o.resource_path.is_empty() && detailed.enabled(o) {
        dimension_sets.push(vec![
            ("ApiName".to_string(), o.api_name.clone()),
            ("Method".to_string(), o.http_method.clone()),
            ("Resource".to_string(), o.resource_path.clone()),
            ("Stage".to_string(), o.stage.clone()),
        ]);
    }
    let at = o.request_time_epoch_ms as i64;
    let client_error = f64::from(u8::from((400..500).contains(&o.status)));
    let server_error = f64::from(u8::from(o.status >= 500));
    let latency_ms = o.latency.as_secs_f64() * 1000.0;
    let mut samples: Vec<(&str, f64, &str)> = vec![
        ("Count", 1.0, "Count"),
        ("4XXError", client_error, "Count"),
        ("5XXError", server_error, "Count"),
        ("Latency", latency_ms, "Milliseconds"),
    ];
    if let Some(integration) = o.integration_latency {
        samples.push((
            "IntegrationLatency",
            integration.as_secs_f64() * 1000.0,
            "Milliseconds",
        ));
    }
    match o.cache {
        Some(tollgate_gateway::outcome::CacheResult::Hit) => {
            samples.push(("CacheHitCount", 1.0, "Count"));
            samples.push(("CacheMissCount", 0.0, "Count"));
        }
        Some(tollgate_gateway::outcome::CacheResult::Miss) => {
            samples.push(("CacheHitCount", 0.0, "Count"));
            samples.push(("CacheMissCount", 1.0, "Count"));
        }
        None => {}
    }
    for dimensions in dimension_sets {
        for (name, value, unit) in &samples {
            let key = MetricKey::new(NAMESPACE, name, dimensions.clone());
            if store
                .record(&key, at, Sample::Value(*value), Some(unit))
                .is_err()
            {
                metrics::counter!("tollgate_metric_series_refused_total").increment(1);
            }
        }
    }
    prometheus(o, client_error, server_error, latency_ms);
}

/// The Prometheus exporter's view of the same request.
fn prometheus(o: &Outcome, client_error: f64, server_error: f64, latency_ms: f64) {
    let labels = [("api_name", o.api_name.clone()), ("stage", o.stage.clone())];
    // Every series is touched on every request, so a stage with no errors
    // still shows its 0.
    metrics::counter!("tollgate_apigateway_requests_total", &labels).increment(1);
    metrics::counter!("tollgate_apigateway_4xx_errors_total", &labels)
        .increment(client_error as u64);
    metrics::counter!("tollgate_apigateway_5xx_errors_total", &labels)
        .increment(server_error as u64);
    metrics::histogram!("tollgate_apigateway_latency_milliseconds", &labels).record(latency_ms);
    if let Some(integration) = o.integration_latency {
        metrics::histogram!(
            "tollgate_apigateway_integration_latency_milliseconds",
            &labels
        )
        .record(integration.as_secs_f64() * 1000.0);
    }
}

//! The metrics API Gateway publishes for each request (namespace
//! `AWS/ApiGateway`): Count, 4XXError, 5XXError, Latency and
//! IntegrationLatency, CacheHitCount and CacheMissCount when the stage
//! cache answers, with the dimensions AWS uses — `ApiName`;
//! `ApiName, Stage`; and `ApiName, Method, Resource, Stage` where the
//! stage's method settings enable detailed metrics — plus, beyond AWS, no
//! dimensions at all: the whole account's traffic, which is what an alarm
//! written without dimensions (the seed's) watches.
//!
//! The same figures go to the Prometheus exporter (`/metrics`) as
//! `tollgate_apigateway_*` series labelled `api_name` and `stage`.
//!
//! Cost: a request only adds to its stage's tally for the minute (one hash
//! lookup over borrowed strings, no allocation once the stage has been
//! seen) and records its latencies in the Prometheus histograms through
//! handles resolved once per stage. [`RequestMetrics::flush`] turns the
//! tallies into the store's series — every dimension set, every metric —
//! under one lock, a few times a second: the per-series work is paid per
//! flush, not per request.

use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};

use rustc_hash::{FxBuildHasher, FxHasher};

use tollgate_gateway::outcome::CacheResult;
use tollgate_gateway::Outcome;
use tollgate_model::State;

use super::store::{MetricKey, MetricStore, Stats, MINUTE_MS};

pub const NAMESPACE: &str = "AWS/ApiGateway";

/// Stages whose Prometheus handles are kept; beyond, the cache starts over
/// (stages come and go with deployments).
const MAX_CACHED_STAGES: usize = 10_000;

/// Which methods of which stages publish per-method metrics.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct DetailedMetrics {
    /// api id → stage → every method (`*/*`), or these methods by resource path.
    apis: HashMap<String, HashMap<String, Detailed>>,
}

#[derive(Debug, Clone, PartialEq)]
enum Detailed {
    All,
    /// resource path → HTTP methods (`ANY` matching every one).
    Methods(HashMap<String, HashSet<String>>),
}

impl DetailedMetrics {
    /// From the stages' `methodSettings` (`metricsEnabled`).
    pub fn from_state(state: &State) -> DetailedMetrics {
        let mut apis: HashMap<String, HashMap<String, Detailed>> = HashMap::new();
        for (api_id, doc) in &state.rest_apis {
            for (name, stage) in &doc.stages {
                let all = stage
                    .method_settings
                    .get("*/*")
                    .is_some_and(|s| s.metrics_enabled);
                let detailed = if all {
                    Detailed::All
                } else {
                    let mut methods: HashMap<String, HashSet<String>> = HashMap::new();
                    for (key, _) in stage
                        .method_settings
                        .iter()
                        .filter(|(k, s)| s.metrics_enabled && k.as_str() != "*/*")
                    {
                        if let Some((path, method)) = key.rsplit_once('/') {
                            methods
                                .entry(path.replace("~1", "/"))
                                .or_default()
                                .insert(method.to_string());
                        }
                    }
                    if methods.is_empty() {
                        continue;
                    }
                    Detailed::Methods(methods)
                };
                apis.entry(api_id.clone())
                    .or_default()
                    .insert(name.clone(), detailed);
            }
        }
        DetailedMetrics { apis }
    }

    fn enabled(&self, o: &Outcome) -> bool {
        match self.apis.get(&o.api_id).and_then(|s| s.get(&o.stage)) {
            None => false,
            Some(Detailed::All) => true,
            Some(Detailed::Methods(m)) => m.get(&*o.resource_path).is_some_and(|methods| {
                methods.contains(o.http_method.as_str()) || methods.contains("ANY")
            }),
        }
    }
}

/// What a minute of one stage (or one method of it) adds up to.
#[derive(Default)]
struct Tally {
    requests: f64,
    client_errors: f64,
    server_errors: f64,
    latency: Stats,
    integration_latency: Stats,
    cache_hits: f64,
    cache_misses: f64,
}

/// Which series a tally feeds: the stage's, or one method's (detailed).
struct TallyKey {
    api_name: String,
    stage: String,
    /// (resource path, HTTP method) when the method publishes detailed metrics.
    method: Option<(String, String)>,
    minute: i64,
}

impl TallyKey {
    fn matches(&self, o: &Outcome, detailed: bool, minute: i64) -> bool {
        self.minute == minute
            && *self.api_name == *o.api_name
            && self.stage == o.stage
            && match &self.method {
                None => !detailed,
                Some((resource, method)) => {
                    detailed && **resource == *o.resource_path && *method == o.http_method.as_str()
                }
            }
    }
}

/// The Prometheus series of one stage.
struct StageHandles {
    api_name: String,
    stage: String,
    requests: metrics::Counter,
    client_errors: metrics::Counter,
    server_errors: metrics::Counter,
    latency: metrics::Histogram,
    integration_latency: metrics::Histogram,
}

impl StageHandles {
    fn new(api_name: &str, stage: &str) -> StageHandles {
        let labels = [
            ("api_name", api_name.to_string()),
            ("stage", stage.to_string()),
        ];
        let handles = StageHandles {
            api_name: api_name.to_string(),
            stage: stage.to_string(),
            requests: metrics::counter!("tollgate_apigateway_requests_total", &labels),
            client_errors: metrics::counter!("tollgate_apigateway_4xx_errors_total", &labels),
            server_errors: metrics::counter!("tollgate_apigateway_5xx_errors_total", &labels),
            latency: metrics::histogram!("tollgate_apigateway_latency_milliseconds", &labels),
            integration_latency: metrics::histogram!(
                "tollgate_apigateway_integration_latency_milliseconds",
                &labels
            ),
        };
        // A stage with no errors still shows its 0.
        handles.client_errors.increment(0);
        handles.server_errors.increment(0);
        handles
    }
}

/// Tallies requests on the observers' thread until [`RequestMetrics::flush`].
#[derive(Default)]
pub struct RequestMetrics {
    /// Hash of (api name, stage, method if detailed, minute) → tallies (a
    /// list in case two keys share a hash).
    tallies: HashMap<u64, Vec<(TallyKey, Tally)>, FxBuildHasher>,
    /// Hash of (api name, stage) → the stage's Prometheus handles.
    stages: HashMap<u64, Vec<StageHandles>, FxBuildHasher>,
}

/// A fast, unkeyed hash: its inputs are names from the configuration (an
/// API's, a stage's, a matched resource's) and one of the seven methods a
/// route admits, never text a client chooses freely, and equal hashes only
/// share a list.
fn hash_of(parts: &[&str], minute: i64) -> u64 {
    let mut hasher = FxHasher::default();
    for part in parts {
        part.hash(&mut hasher);
    }
    minute.hash(&mut hasher);
    hasher.finish()
}

impl RequestMetrics {
    /// Adds one request.
    pub fn record(&mut self, detailed: &DetailedMetrics, o: &Outcome) {
        if o.api_name.is_empty() {
            // No API was resolved (an unknown API or stage): AWS has no name to
            // publish it under.
            return;
        }
        let client_error = (400..500).contains(&o.status);
        let server_error = o.status >= 500;
        let latency_ms = o.latency.as_secs_f64() * 1000.0;
        let integration_ms = o.integration_latency.map(|d| d.as_secs_f64() * 1000.0);
        let minute = (o.request_time_epoch_ms as i64).div_euclid(MINUTE_MS) * MINUTE_MS;

        let is_detailed = !o.resource_path.is_empty() && detailed.enabled(o);
        let hash = if is_detailed {
            hash_of(
                &[
                    &o.api_name,
                    &o.stage,
                    &o.resource_path,
                    o.http_method.as_str(),
                ],
                minute,
            )
        } else {
            hash_of(&[&o.api_name, &o.stage], minute)
        };
        let bucket = self.tallies.entry(hash).or_default();
        let index = match bucket
            .iter()
            .position(|(key, _)| key.matches(o, is_detailed, minute))
        {
            Some(i) => i,
            None => {
                let key = TallyKey {
                    api_name: o.api_name.to_string(),
                    stage: o.stage.clone(),
                    method: is_detailed
                        .then(|| (o.resource_path.to_string(), o.http_method.to_string())),
                    minute,
                };
                bucket.push((key, Tally::default()));
                bucket.len() - 1
            }
        };
        let tally = &mut bucket[index].1;
        tally.requests += 1.0;
        tally.client_errors += f64::from(u8::from(client_error));
        tally.server_errors += f64::from(u8::from(server_error));
        tally.latency.add(latency_ms);
        if let Some(ms) = integration_ms {
            tally.integration_latency.add(ms);
        }
        match o.cache {
            Some(CacheResult::Hit) => tally.cache_hits += 1.0,
            Some(CacheResult::Miss) => tally.cache_misses += 1.0,
            None => {}
        }

        let handles = self.stage_handles(&o.api_name, &o.stage);
        handles.requests.increment(1);
        if client_error {
            handles.client_errors.increment(1);
        }
        if server_error {
            handles.server_errors.increment(1);
        }
        handles.latency.record(latency_ms);
        if let Some(ms) = integration_ms {
            handles.integration_latency.record(ms);
        }
    }

    fn stage_handles(&mut self, api_name: &str, stage: &str) -> &StageHandles {
        let hash = hash_of(&[api_name, stage], 0);
        if self.stages.len() >= MAX_CACHED_STAGES && !self.stages.contains_key(&hash) {
            self.stages.clear();
        }
        let bucket = self.stages.entry(hash).or_default();
        let index = match bucket
            .iter()
            .position(|h| h.api_name == api_name && h.stage == stage)
        {
            Some(i) => i,
            None => {
                bucket.push(StageHandles::new(api_name, stage));
                bucket.len() - 1
            }
        };
        &bucket[index]
    }

    /// Whether requests are waiting for [`RequestMetrics::flush`].
    pub fn is_empty(&self) -> bool {
        self.tallies.is_empty()
    }

    /// Writes the tallies into `store` as AWS's series and starts over.
    pub fn flush(&mut self, store: &MetricStore) {
        let mut minutes = Vec::new();
        for (key, tally) in self.tallies.drain().flat_map(|(_, bucket)| bucket) {
            let mut dimension_sets = Vec::with_capacity(3);
            let name = ("ApiName".to_string(), key.api_name.clone());
            let stage = ("Stage".to_string(), key.stage.clone());
            match &key.method {
                // A detailed method's requests also count in the stage's,
                // the API's and the account's series.
                Some((resource, method)) => {
                    dimension_sets.push(vec![
                        name.clone(),
                        ("Method".to_string(), method.clone()),
                        ("Resource".to_string(), resource.clone()),
                        stage.clone(),
                    ]);
                    dimension_sets.extend([Vec::new(), vec![name.clone()], vec![name, stage]]);
                }
                None => dimension_sets.extend([Vec::new(), vec![name.clone()], vec![name, stage]]),
            }
            let series = tally_series(&tally);
            for dimensions in dimension_sets {
                for (metric, stats, unit) in &series {
                    minutes.push((
                        MetricKey::new(NAMESPACE, metric, dimensions.clone()),
                        key.minute,
                        stats.clone(),
                        *unit,
                    ));
                }
            }
        }
        let refused = store.merge_minutes(minutes);
        if refused > 0 {
            metrics::counter!("tollgate_metric_series_refused_total").increment(refused as u64);
        }
    }
}

/// A tally as the statistics of each metric: counts are series of 0s and
/// 1s, as CloudWatch sees them (Sum is the count, Average the rate).
fn tally_series(t: &Tally) -> Vec<(&'static str, Stats, &'static str)> {
    let ones_and_zeros = |ones: f64, total: f64| {
        let mut s = Stats::default();
        if ones > 0.0 {
            s.add_weighted(1.0, ones);
        }
        if total > ones {
            s.add_weighted(0.0, total - ones);
        }
        s
    };
    let mut series = vec![
        ("Count", ones_and_zeros(t.requests, t.requests), "Count"),
        (
            "4XXError",
            ones_and_zeros(t.client_errors, t.requests),
            "Count",
        ),
        (
            "5XXError",
            ones_and_zeros(t.server_errors, t.requests),
            "Count",
        ),
        ("Latency", t.latency.clone(), "Milliseconds"),
    ];
    if t.integration_latency.count > 0.0 {
        series.push((
            "IntegrationLatency",
            t.integration_latency.clone(),
            "Milliseconds",
        ));
    }
    let cached = t.cache_hits + t.cache_misses;
    if cached > 0.0 {
        series.push((
            "CacheHitCount",
            ones_and_zeros(t.cache_hits, cached),
            "Count",
        ));
        series.push((
            "CacheMissCount",
            ones_and_zeros(t.cache_misses, cached),
            "Count",
        ));
    }
    series
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn outcome(stage: &str, resource: &str, method: &str, status: u16, ms: u64) -> Outcome {
        Outcome {
            api_id: "a1".into(),
            api_name: "multitalk".into(),
            stage: stage.into(),
            resource_path: resource.into(),
            http_method: http::Method::from_bytes(method.as_bytes()).expect("a method"),
            status,
            latency: Duration::from_millis(ms),
            integration_latency: Some(Duration::from_millis(ms / 2)),
            request_time_epoch_ms: 3 * MINUTE_MS as u128 + 1_000,
            ..Outcome::default()
        }
    }

    fn sum(store: &MetricStore, metric: &str, dimensions: &[(&str, &str)]) -> Option<Stats> {
        let key = MetricKey::new(
            NAMESPACE,
            metric,
            dimensions
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        );
        let (periods, _) = store.periods(&key, 0, 10 * MINUTE_MS, 10 * MINUTE_MS);
        periods.into_iter().next().map(|(_, s)| s)
    }

    #[test]
    fn tallies_reach_every_dimension_set_once_flushed() {
        let detailed = DetailedMetrics {
            apis: HashMap::from([(
                "a1".to_string(),
                HashMap::from([(
                    "prod".to_string(),
                    Detailed::Methods(HashMap::from([(
                        "/jobs".to_string(),
                        HashSet::from(["POST".to_string()]),
                    )])),
                )]),
            )]),
        };
        let store = MetricStore::default();
        let mut tallies = RequestMetrics::default();
        tallies.record(&detailed, &outcome("prod", "/jobs", "POST", 200, 10));
        tallies.record(&detailed, &outcome("prod", "/jobs", "POST", 403, 30));
        tallies.record(&detailed, &outcome("prod", "/jobs/{id}", "GET", 502, 20));
        tallies.record(&detailed, &outcome("dev", "/jobs", "POST", 200, 40));
        assert!(
            sum(&store, "Count", &[]).is_none(),
            "nothing before a flush"
        );
        tallies.flush(&store);
        assert!(tallies.is_empty());

        let count = |d: &[(&str, &str)]| sum(&store, "Count", d).map(|s| s.sum);
        assert_eq!(count(&[]), Some(4.0));
        assert_eq!(count(&[("ApiName", "multitalk")]), Some(4.0));
        let prod = [("ApiName", "multitalk"), ("Stage", "prod")];
        assert_eq!(count(&prod), Some(3.0));
        let post_jobs = [
            ("ApiName", "multitalk"),
            ("Method", "POST"),
            ("Resource", "/jobs"),
            ("Stage", "prod"),
        ];
        assert_eq!(count(&post_jobs), Some(2.0));
        let get_job = [
            ("ApiName", "multitalk"),
            ("Method", "GET"),
            ("Resource", "/jobs/{id}"),
            ("Stage", "prod"),
        ];
        assert_eq!(count(&get_job), None, "GET has no detailed metrics");

        let client = sum(&store, "4XXError", &prod).expect("4XXError");
        assert_eq!((client.sum, client.count), (1.0, 3.0));
        assert_eq!((client.min, client.max), (0.0, 1.0));
        let server = sum(&store, "5XXError", &prod).expect("5XXError");
        assert_eq!((server.sum, server.count), (1.0, 3.0));
        let latency = sum(&store, "Latency", &prod).expect("Latency");
        assert_eq!((latency.count, latency.sum), (3.0, 60.0));
        assert_eq!((latency.min, latency.max), (10.0, 30.0));
        let integration = sum(&store, "IntegrationLatency", &post_jobs).expect("integration");
        assert_eq!((integration.count, integration.sum), (2.0, 20.0));
        assert!(sum(&store, "CacheHitCount", &prod).is_none());

        // A second flush adds to the same minute.
        tallies.record(&detailed, &outcome("prod", "/jobs", "POST", 200, 10));
        tallies.flush(&store);
        assert_eq!(count(&prod), Some(4.0));
        assert_eq!(count(&post_jobs), Some(3.0));
    }

    #[test]
    fn cache_results_are_counted_among_cached_requests() {
        let store = MetricStore::default();
        let mut tallies = RequestMetrics::default();
        let detailed = DetailedMetrics::default();
        for cache in [CacheResult::Hit, CacheResult::Hit, CacheResult::Miss] {
            let mut o = outcome("prod", "/jobs/{id}", "GET", 200, 1);
            o.cache = Some(cache);
            tallies.record(&detailed, &o);
        }
        tallies.record(&detailed, &outcome("prod", "/jobs", "POST", 200, 1));
        tallies.flush(&store);
        let prod = [("ApiName", "multitalk"), ("Stage", "prod")];
        let hits = sum(&store, "CacheHitCount", &prod).expect("hits");
        assert_eq!((hits.sum, hits.count), (2.0, 3.0));
        let misses = sum(&store, "CacheMissCount", &prod).expect("misses");
        assert_eq!((misses.sum, misses.count), (1.0, 3.0));
    }
}

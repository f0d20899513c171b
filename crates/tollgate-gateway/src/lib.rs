//! Tollgate's data plane: deployed stages compiled into immutable routers,
//! swapped atomically when the control plane changes them, and the request
//! pipeline ([`pipeline`]) that serves execute-api calls.
//!
//! Hot-path rules (DESIGN.md): a request does one lock-free load of the
//! deployed table and never touches the store or a global lock.

pub mod admission;
pub mod clock;
pub mod compile;
pub mod context;
pub mod error;
#[doc(hidden)]
pub mod fixtures;
pub mod integration;
pub mod invoke;
pub mod mapping;
pub mod path;
pub mod pipeline;
pub mod quota;
pub mod response;
pub mod router;
pub mod test_invoke;
pub mod throttle;
pub mod usage_plans;

// FxHash: these maps are built from the configuration, never from request input.
use rustc_hash::FxHashMap as HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use http::{Request, Response};
use tollgate_http1::RequestBody;
use tollgate_model::{Change, State};

use crate::clock::{Clock, SystemClock};
use crate::quota::QuotaCounters;
use crate::throttle::{Bucket, BucketRegistry, LazyBuckets, Limits};
use crate::usage_plans::KeyIndex;

use crate::compile::CompiledStage;
pub use crate::integration::client::UpstreamClient;
pub use crate::invoke::InvokeTarget;
pub use crate::pipeline::MAX_PAYLOAD;
use crate::response::Body;

/// Stages by api id, then stage name (nested so a lookup borrows, never allocates).
type Deployed = HashMap<String, HashMap<String, Arc<CompiledStage>>>;

/// Compiled stages by (api id, stage name), with what each was built from.
type CompileCache = HashMap<(String, String), (CompiledFrom, Arc<CompiledStage>)>;

/// What a compiled stage was built from, to reuse it when nothing changed.
#[derive(PartialEq)]
struct CompiledFrom {
    deployment: usize,
    stage: tollgate_model::stage::Stage,
}

pub struct Gateway {
    deployed: ArcSwap<Deployed>,
    /// Only the control plane's listener touches this, never a request.
    cache: Mutex<CompileCache>,
    pub(crate) client: UpstreamClient,
    pub(crate) account_id: String,
    /// API keys and the plans they belong to.
    pub(crate) keys: ArcSwap<KeyIndex>,
    pub(crate) quotas: Arc<QuotaCounters>,
    /// Per-key plan buckets, created on first use.
    pub(crate) plan_buckets: LazyBuckets,
    /// Stage method buckets, kept across recompiles.
    stage_buckets: BucketRegistry,
    /// The account-wide bucket (GetAccount's throttleSettings).
    pub(crate) account_bucket: Arc<Bucket>,
    pub(crate) clock: Arc<dyn Clock>,
}

impl Gateway {
    pub fn new(account_id: &str) -> Gateway {
        Self::with_clock(account_id, Arc::new(SystemClock::default()))
    }

    /// Uses `client` for integrations (e.g. one trusting extra CA certificates).
    pub fn with_upstream_client(mut self, client: UpstreamClient) -> Gateway {
        self.client = client;
        self
    }

    /// A gateway on an injected clock (tests of throttling and quota periods).
    pub fn with_clock(account_id: &str, clock: Arc<dyn Clock>) -> Gateway {
        let account = tollgate_model::state::Account::default().throttle_settings;
        Gateway {
            deployed: ArcSwap::from_pointee(HashMap::default()),
            cache: Mutex::new(HashMap::default()),
            client: UpstreamClient::default(),
            account_id: account_id.to_string(),
            keys: ArcSwap::from_pointee(KeyIndex::default()),
            quotas: Arc::new(QuotaCounters::default()),
            plan_buckets: LazyBuckets::default(),
            stage_buckets: BucketRegistry::default(),
            account_bucket: Arc::new(Bucket::new(Limits {
                burst: account.burst_limit.max(0) as u64,
                rate: account.rate_limit,
            })),
            clock,
        }
    }

    /// Applies committed changes: recompiles the stages and rebuilds the key
    /// index only when what they depend on changed. `changes` empty means
    /// "everything" (start-up).
    pub fn update(&self, state: &State, changes: &[Change]) {
        let all = changes.is_empty();
        if all {
            self.quotas.seed_from(&state.usage);
        }
        if all || changes.iter().any(|c| matches!(c, Change::Account(_))) {
            let t = &state.account.throttle_settings;
            self.account_bucket.set_limits(
                Limits {
                    burst: t.burst_limit.max(0) as u64,
                    rate: t.rate_limit,
                },
                self.clock.monotonic_nanos(),
            );
        }
        if all
            || changes.iter().any(|c| {
                matches!(
                    c,
                    Change::ApiKey(..) | Change::UsagePlan(..) | Change::UsageAdjustment(..)
                )
            })
        {
            let index = KeyIndex::build(
                state,
                &self.quotas,
                &self.plan_buckets,
                self.clock.monotonic_nanos(),
            );
            self.keys.store(Arc::new(index));
        }
        if all
            || changes
                .iter()
                .any(|c| matches!(c, Change::RestApi(..) | Change::Deployment { .. }))
        {
            self.update_stages(state);
        }
    }

    /// Per-day usage counts not yet written to the store.
    pub fn unflushed_usage(&self) -> Vec<(tollgate_model::usage_plan::UsageKey, i64)> {
        self.quotas.unflushed()
    }

    /// Marks counts as written.
    pub fn usage_flushed(&self, written: &[(tollgate_model::usage_plan::UsageKey, i64)]) {
        self.quotas.mark_flushed(written);
    }

    fn update_stages(&self, state: &State) {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        let mut next: Deployed = HashMap::default();
        let mut kept = HashMap::default();
        for (api_id, doc) in &state.rest_apis {
            for (stage_name, stage) in &doc.stages {
                let Some(deployment) = state
                    .deployments
                    .get(api_id)
                    .and_then(|d| d.get(&stage.deployment_id))
                else {
                    continue;
                };
                let key = (api_id.clone(), stage_name.clone());
                let from = CompiledFrom {
                    deployment: Arc::as_ptr(deployment) as usize,
                    stage: stage.clone(),
                };
                let compiled = match cache.remove(&key) {
                    Some((old_from, compiled)) if old_from == from => compiled,
                    _ => Arc::new(compile::compile(
                        deployment,
                        stage,
                        &self.stage_buckets,
                        self.clock.monotonic_nanos(),
                    )),
                };
                next.entry(api_id.clone())
                    .or_default()
                    .insert(stage_name.clone(), compiled.clone());
                kept.insert(key, (from, compiled));
            }
        }
        *cache = kept;
        self.deployed.store(Arc::new(next));
    }

    /// The compiled stage, if deployed.
    pub fn stage(&self, api_id: &str, stage: &str) -> Option<Arc<CompiledStage>> {
        self.deployed.load().get(api_id)?.get(stage).cloned()
    }

    /// Serves one execute-api request. Not an `async fn` of its own: that
    /// would wrap the pipeline's future in one more, copied into place on
    /// every request.
    pub fn handle(
        &self,
        target: InvokeTarget,
        request: Request<RequestBody>,
        peer: SocketAddr,
        request_id: String,
    ) -> impl std::future::Future<Output = Response<Body>> + '_ {
        pipeline::run(self, target, request, peer, request_id)
    }
}

//! Tollgate's data plane: deployed stages compiled into immutable routers,
//! swapped atomically when the control plane changes them, and the request
//! pipeline ([`pipeline`]) that serves execute-api calls.
//!
//! Hot-path rules (DESIGN.md): a request does one lock-free load of the
//! deployed table and never touches the store or a global lock.

mod admission;
mod authorize;
mod cache;
pub mod cidr;
mod client_ip;
pub mod clock;
mod compile;
mod context;
pub mod custom_domain;
pub mod error;
pub mod idempotency;
mod integration;
mod integration_response;
pub mod invoke;
mod lambda_authorizer;
mod mapping;
pub mod outcome;
mod path;
mod pipeline;
mod policy;
mod quota;
mod resource_policy;
mod response;
mod router;
pub mod shared_counters;
pub mod test_invoke;
mod throttle;
mod usage_plans;
mod validation;

/// The upstream HTTP client the integrations use (HTTP/1.1 pooled per
/// thread, TLS, h2c), for the binary's configuration and for tests.
pub mod upstream {
    pub use crate::integration::client::{TlsSetupError, UpstreamClient, UpstreamError};
    pub use crate::integration::h1::{UpstreamBody, UpstreamRequest};
    pub use crate::integration::uri::{Origin, UpstreamTarget};

    /// HTTP_PROXY's rule for the upstream's response headers (tests of the client).
    #[cfg(feature = "test-support")]
    pub use crate::integration::http_proxy::client_response_header;
}

// FxHash: these maps are built from the configuration, never from request input.
use rustc_hash::FxHashMap as HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;
use http::{Request, Response};
use tollgate_http1::{BodyBudget, RequestBody};
use tollgate_model::{Change, State};

use crate::admission::UsagePlans;
use crate::clock::{Clock, SystemClock};
use crate::compile::CompiledStage;
use crate::lambda_authorizer::AuthorizerCache;
use crate::throttle::BucketRegistry;

pub use crate::authorize::IamCredentials;
pub use crate::context::clf_time;
pub use crate::idempotency::IdempotencyStore;
pub use crate::integration::client::UpstreamClient;
pub use crate::integration::lambda::{FunctionInvoker, FunctionResult, InvokeFailure};
pub use crate::invoke::InvokeTarget;
pub use crate::outcome::{ObservedBody, Observer, Outcome, TraceRecord};
pub use crate::pipeline::MAX_PAYLOAD;
pub use crate::response::REQUEST_ID;

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

/// What the data plane is configured with.
#[derive(Clone)]
pub struct GatewaySettings {
    /// Shown in `$context.accountId` and ARNs.
    pub account_id: Arc<str>,
    /// Whom `AWS_IAM` methods accept.
    pub iam: IamCredentials,
    /// Request bodies in memory, every request together (shared with the
    /// HTTP/1 front end, which takes its bodies from it too).
    pub body_budget: Arc<BodyBudget>,
    /// How long an HTTP/2 client may pause between pieces of its body.
    pub body_timeout: Duration,
    /// Peers whose `X-Forwarded-For` is believed (`--trusted-proxy`); none by default.
    pub trusted_proxies: Vec<cidr::Cidr>,
}

impl Default for GatewaySettings {
    fn default() -> Self {
        GatewaySettings {
            account_id: "000000000000".into(),
            iam: IamCredentials {
                secrets: Default::default(),
                region: "us-east-1".into(),
            },
            body_budget: BodyBudget::new(DEFAULT_BODY_BUDGET),
            body_timeout: Duration::from_secs(60),
            trusted_proxies: Vec::new(),
        }
    }
}

/// Request bodies held in memory at once, by default: a few dozen bodies at
/// the 10 MB payload limit.
pub const DEFAULT_BODY_BUDGET: usize = 256 * 1024 * 1024;

pub struct Gateway {
    deployed: ArcSwap<Deployed>,
    /// Custom domains' base path mappings, swapped whole when one changes.
    domains: ArcSwap<custom_domain::DomainTable>,
    /// Only the control plane's listener touches this, never a request.
    cache: Mutex<CompileCache>,
    client: UpstreamClient,
    settings: GatewaySettings,
    usage_plans: UsagePlans,
    /// Stage method buckets, kept across recompiles.
    stage_buckets: BucketRegistry,
    observers: ArcSwap<Vec<Arc<dyn Observer>>>,
    /// Runs Lambda integrations' and authorizers' functions.
    functions: Option<Arc<dyn FunctionInvoker>>,
    /// Lambda authorizers' answers, beside the admission state.
    authorizer_cache: AuthorizerCache,
    /// Stage caches by (api id, stage), kept across recompiles of their
    /// stage; only the control plane's listener touches this map.
    stage_caches: Mutex<HashMap<(String, String), Arc<cache::StageCache>>>,
    /// Where idempotent submissions are recorded (none: the feature is off).
    idempotency: Option<Arc<dyn IdempotencyStore>>,
}

impl Gateway {
    pub fn new(settings: GatewaySettings) -> Gateway {
        Self::with_clock(settings, Arc::new(SystemClock::default()))
    }

    /// A gateway on an injected clock (tests of throttling and quota periods).
    pub fn with_clock(settings: GatewaySettings, clock: Arc<dyn Clock>) -> Gateway {
        Gateway {
            deployed: ArcSwap::from_pointee(HashMap::default()),
            domains: ArcSwap::from_pointee(HashMap::default()),
            cache: Mutex::new(HashMap::default()),
            client: UpstreamClient::default(),
            settings,
            usage_plans: UsagePlans::new(clock),
            stage_buckets: BucketRegistry::default(),
            observers: ArcSwap::from_pointee(Vec::new()),
            functions: None,
            authorizer_cache: AuthorizerCache::default(),
            stage_caches: Mutex::new(HashMap::default()),
            idempotency: None,
        }
    }

    /// Runs AWS and AWS_PROXY integrations' functions with `invoker`.
    pub fn with_function_invoker(mut self, invoker: Arc<dyn FunctionInvoker>) -> Gateway {
        self.functions = Some(invoker);
        self
    }

    /// Keeps idempotent submissions in `store` (stages opt in with the stage
    /// variable `tollgateIdempotency=true`).
    pub fn with_idempotency_store(mut self, store: Arc<dyn IdempotencyStore>) -> Gateway {
        self.idempotency = Some(store);
        self
    }

    /// Counts usage plans in Redis, shared with other instances
    /// ([`shared_counters`]) instead of in this process alone.
    pub fn with_shared_counters(
        mut self,
        counters: Arc<shared_counters::SharedCounters>,
    ) -> Gateway {
        self.usage_plans.set_shared(counters);
        self
    }

    /// The shared counters, when configured.
    pub fn shared_counters(&self) -> Option<&Arc<shared_counters::SharedCounters>> {
        self.usage_plans.shared()
    }

    /// The data plane's clock (the binary starts shared counters on it).
    pub fn clock(&self) -> Arc<dyn Clock> {
        self.usage_plans.clock().clone()
    }

    /// Uses `client` for integrations (e.g. one trusting extra CA certificates).
    pub fn with_upstream_client(mut self, client: UpstreamClient) -> Gateway {
        self.client = client;
        self
    }

    pub fn settings(&self) -> &GatewaySettings {
        &self.settings
    }

    /// Adds an observer of every request's outcome.
    pub fn add_observer(&self, observer: Arc<dyn Observer>) {
        self.observers.rcu(|current| {
            let mut next = Vec::clone(current);
            next.push(observer.clone());
            next
        });
    }

    /// Applies committed changes: recompiles the stages and rebuilds the key
    /// index only when what they depend on changed. `changes` empty means
    /// "everything" (start-up).
    pub fn update(&self, state: &State, changes: &[Change]) {
        self.usage_plans.update(state, changes);
        if changes.is_empty()
            || changes
                .iter()
                .any(|c| matches!(c, Change::RestApi(..) | Change::Deployment { .. }))
        {
            self.update_stages(state);
        }
        if changes.is_empty() || changes.iter().any(|c| matches!(c, Change::DomainName(..))) {
            self.domains.store(Arc::new(custom_domain::compile(state)));
        }
    }

    /// The API and stage a request is for, from its Host and path: the
    /// invoke-URL forms and the custom domains ([`invoke::parse_with`]).
    pub fn invoke_target(&self, host: &str, raw_path: &str) -> Option<InvokeTarget> {
        invoke::parse_with(host, raw_path, || Some(self.domains.load()))
    }

    /// Per-day usage counts not yet written to the store.
    pub fn unflushed_usage(&self) -> Vec<(tollgate_model::usage_plan::UsageKey, i64)> {
        self.usage_plans.unflushed()
    }

    /// Marks counts as written.
    pub fn usage_flushed(&self, written: &[(tollgate_model::usage_plan::UsageKey, i64)]) {
        self.usage_plans.flushed(written);
    }

    fn update_stages(&self, state: &State) {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        let mut stage_caches = self.stage_caches.lock().unwrap_or_else(|e| e.into_inner());
        let mut caches_kept = HashMap::default();
        let mut next: Deployed = HashMap::default();
        let mut kept = HashMap::default();
        let now = self.usage_plans.clock().monotonic_nanos();
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
                // The stage's cache lives on across redeploys; a new size
                // (or none) starts afresh.
                let stage_cache = stage.cache_cluster_enabled.then(|| {
                    let capacity = cache::capacity_bytes(stage.cache_cluster_size.as_deref());
                    match stage_caches.remove(&key) {
                        Some(c) if c.capacity_bytes == capacity => c,
                        _ => Arc::new(cache::StageCache::new(capacity)),
                    }
                });
                if let Some(c) = &stage_cache {
                    caches_kept.insert(key.clone(), c.clone());
                }
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
                        now,
                        stage_cache.as_ref(),
                    )),
                };
                next.entry(api_id.clone())
                    .or_default()
                    .insert(stage_name.clone(), compiled.clone());
                kept.insert(key, (from, compiled));
            }
        }
        *cache = kept;
        *stage_caches = caches_kept;
        self.deployed.store(Arc::new(next));
    }

    /// The compiled stage, if deployed.
    fn stage(&self, api_id: &str, stage: &str) -> Option<Arc<CompiledStage>> {
        self.deployed.load().get(api_id)?.get(stage).cloned()
    }

    /// Empties one stage's cache (FlushStageCache).
    pub fn flush_stage_cache(&self, api_id: &str, stage: &str) {
        let caches = self.stage_caches.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = caches.get(&(api_id.to_string(), stage.to_string())) {
            c.flush();
        }
    }

    /// Forgets the Lambda authorizers' cached answers for one stage
    /// (FlushStageAuthorizersCache).
    pub fn flush_authorizers(&self, api_id: &str, stage: &str) {
        self.authorizer_cache.flush_stage(api_id, stage);
    }

    /// Whether `stage` of `api_id` is deployed.
    pub fn is_deployed(&self, api_id: &str, stage: &str) -> bool {
        self.stage(api_id, stage).is_some()
    }

    /// Serves one execute-api request. Not an `async fn` of its own: that
    /// would wrap the pipeline's future in one more, copied into place on
    /// every request.
    pub fn handle(
        &self,
        target: InvokeTarget,
        request: Request<RequestBody>,
        raw_head: Option<tollgate_http1::request::RawHead>,
        peer: SocketAddr,
        request_id: String,
    ) -> impl std::future::Future<Output = Response<ObservedBody>> + '_ {
        pipeline::run(self, target, request, raw_head, peer, request_id, None)
    }
}

/// Ready-made states for benchmarks and tests (not part of the gateway's
/// API; compiled only for them).
#[cfg(any(test, feature = "test-support"))]
#[doc(hidden)]
pub mod fixtures;

/// The admission and authorize phases alone, for their micro-benchmarks.
#[cfg(feature = "test-support")]
#[doc(hidden)]
pub mod bench_support {
    use super::*;

    use crate::error::ErrorKind;

    /// The deployed stage and the method a request to `path` reaches, as
    /// the pipeline's routing finds them.
    fn route(
        gateway: &Gateway,
        api_id: &str,
        stage: &str,
        method: &str,
        path: &str,
    ) -> Result<(Arc<CompiledStage>, Arc<compile::CompiledMethod>), ErrorKind> {
        let stage = gateway
            .stage(api_id, stage)
            .ok_or(ErrorKind::UnknownStage)?;
        let compiled = stage
            .router
            .find(path)
            .and_then(|matched| matched.method(method).cloned())
            .ok_or(ErrorKind::MissingAuthenticationToken)?;
        Ok((stage, compiled))
    }

    /// A method token as a request would carry it (an invalid one matches no
    /// method, as in the pipeline).
    fn parse_method(method: &str) -> Result<http::Method, ErrorKind> {
        http::Method::from_bytes(method.as_bytes())
            .map_err(|_| ErrorKind::MissingAuthenticationToken)
    }

    /// The context of a request from 127.0.0.1 over HTTP/1.1.
    fn test_context(method: http::Method) -> context::RequestContext {
        context::RequestContext::new(
            String::new(),
            ([127, 0, 0, 1], 1).into(),
            method,
            "HTTP/1.1",
        )
    }

    /// Runs the key, throttle and quota checks of one request to `path`,
    /// as the pipeline does (the in-flight count ends at once).
    pub fn admit(
        gateway: &Gateway,
        api_id: &str,
        stage: &str,
        method: &str,
        path: &str,
        headers: &http::HeaderMap,
    ) -> Result<(), ErrorKind> {
        let (stage, compiled) = route(gateway, api_id, stage, method, path)?;
        let mut cx = test_context(parse_method(method)?);
        let admitted = gateway
            .usage_plans
            .admit(&stage, &compiled, headers, &mut cx)
            .map_err(|e| e.kind)?;
        gateway
            .usage_plans
            .count_local(admitted, &compiled, b"", &cx)
            .map(drop)
            .map_err(|e| e.kind)
    }

    /// As [`admit`], with shared counters when the gateway has them; the
    /// admission is returned so the caller decides when the request ends.
    pub async fn admit_shared(
        gateway: &Gateway,
        api_id: &str,
        stage: &str,
        method: &str,
        path: &str,
        headers: &http::HeaderMap,
    ) -> Result<impl Drop, ErrorKind> {
        let (stage, compiled) = route(gateway, api_id, stage, method, path)?;
        let mut cx = test_context(parse_method(method)?);
        let admitted = gateway
            .usage_plans
            .admit(&stage, &compiled, headers, &mut cx)
            .map_err(|e| e.kind)?;
        gateway
            .usage_plans
            .count(admitted, &compiled, b"", &cx)
            .await
            .map_err(|e| e.kind)
    }

    /// Runs the authorize phase of one request to `path` with `headers`,
    /// as the pipeline does (a Lambda authorizer from the cache or invoked).
    pub async fn authorize(
        gateway: &Gateway,
        api_id: &str,
        stage: &str,
        method: &str,
        path: &str,
        headers: &http::HeaderMap,
    ) -> Result<(), ErrorKind> {
        let stage = gateway
            .stage(api_id, stage)
            .ok_or(ErrorKind::UnknownStage)?;
        // The path parameters feed REQUEST authorizers' identity sources.
        let matched = stage
            .router
            .find(path)
            .ok_or(ErrorKind::MissingAuthenticationToken)?;
        let compiled = matched
            .method(method)
            .cloned()
            .ok_or(ErrorKind::MissingAuthenticationToken)?;
        let http_method = parse_method(method)?;
        let mut request = http::Request::new(());
        *request.method_mut() = http_method.clone();
        *request.headers_mut() = headers.clone();
        let (parts, ()) = request.into_parts();
        let mut cx = test_context(http_method);
        cx.api_id = stage.api_id.clone();
        cx.stage = stage.stage_name.clone();
        cx.path = path.to_string();
        let with = authorize::Authorizers {
            iam: &gateway.settings.iam,
            functions: gateway.functions.as_deref(),
            cache: &gateway.authorizer_cache,
        };
        authorize::authorize_head(
            &compiled.authorization,
            &parts,
            None,
            &matched.params,
            &stage,
            &with,
            &mut cx,
        )
        .await
        .map(drop)
        .map_err(|e| e.kind)
    }
}

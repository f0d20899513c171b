//! Tollgate's data plane: deployed stages compiled into immutable routers,
//! swapped atomically when the control plane changes them, and the request
//! pipeline ([`pipeline`]) that serves execute-api calls.
//!
//! Hot-path rules (DESIGN.md): a request does one lock-free load of the
//! deployed table and never touches the store or a global lock.

pub mod compile;
pub mod context;
pub mod error;
pub mod integration;
pub mod invoke;
pub mod mapping;
pub mod pipeline;
pub mod response;
pub mod router;
pub mod test_invoke;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use http::{Request, Response};
use hyper::body::Incoming;
use tollgate_model::State;

use crate::compile::CompiledStage;
use crate::integration::client::UpstreamClient;
pub use crate::invoke::InvokeTarget;
use crate::response::Body;

/// Stages by api id, then stage name (nested so a lookup borrows, never allocates).
type Deployed = HashMap<String, HashMap<String, Arc<CompiledStage>>>;

/// What a compiled stage was built from, to reuse it when nothing changed.
#[derive(PartialEq)]
struct CompiledFrom {
    deployment: usize,
    stage: tollgate_model::stage::Stage,
}

pub struct Gateway {
    deployed: ArcSwap<Deployed>,
    /// Only the control plane's listener touches this, never a request.
    cache: Mutex<HashMap<(String, String), (CompiledFrom, Arc<CompiledStage>)>>,
    pub(crate) client: UpstreamClient,
    pub(crate) account_id: String,
}

impl Gateway {
    pub fn new(account_id: &str) -> Gateway {
        Gateway {
            deployed: ArcSwap::from_pointee(HashMap::new()),
            cache: Mutex::new(HashMap::new()),
            client: UpstreamClient::default(),
            account_id: account_id.to_string(),
        }
    }

    /// Recompiles what changed in `state` and swaps the table in one store.
    pub fn update(&self, state: &State) {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        let mut next: Deployed = HashMap::new();
        let mut kept = HashMap::new();
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
                    _ => Arc::new(compile::compile(deployment, stage)),
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

    /// Serves one execute-api request.
    pub async fn handle(
        &self,
        target: InvokeTarget,
        request: Request<Incoming>,
        peer: SocketAddr,
        request_id: String,
    ) -> Response<Body> {
        pipeline::run(self, target, request, peer, request_id).await
    }
}

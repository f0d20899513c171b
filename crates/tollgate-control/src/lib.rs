//! Tollgate's control plane: the API Gateway operations (`spec/aws-apigw.md` §1).
//!
//! Each resource kind has one module under [`ops`] with its operations and
//! validation. An operation reads the current [`State`] and returns the
//! [`Change`]s it makes plus its reply; [`ControlPlane::handle`] commits the
//! changes to the store in one transaction and only then applies them in memory.
//! Transport concerns (HTTP, SigV4) live in the server, not here.

pub mod json_ops;
mod ops;
mod pagination;
pub mod query;
mod request;
mod router;
pub mod sealing;
mod x509;

use std::sync::{Arc, Mutex};

pub use request::{ControlRequest, Reply};

/// The function a Lambda path or member names (a name, an ARN, `:$LATEST`).
pub use ops::lambda::function_name as lambda_function_name;
/// An OpenAPI file read as ImportRestApi reads it (JSON or YAML, bounded).
pub use ops::openapi::document::parse_value as parse_openapi_document;
use tollgate_model::{ApiError, Change, State};
use tollgate_store::Store;

/// Identity of the emulated account, as ARNs and error messages show it.
#[derive(Debug, Clone)]
pub struct ControlConfig {
    pub account_id: String,
    pub region: String,
}

impl Default for ControlConfig {
    fn default() -> Self {
        ControlConfig {
            account_id: "000000000000".into(),
            region: "us-east-1".into(),
        }
    }
}

/// Usage counts kept outside the store: the shared counters (Redis) several
/// instances count into. GetUsage and UpdateUsage read them instead of the
/// store's per-day counts when the control plane has one.
pub trait UsageCounts: Send + Sync {
    /// Requests counted on each day from `first` to `last` (days since the
    /// epoch, inclusive) for `key_id` under `plan_id`. Blocking.
    fn used_on_days(
        &self,
        plan_id: &str,
        key_id: &str,
        first: i64,
        last: i64,
    ) -> Result<Vec<i64>, String>;
}

/// Called with the new state and the changes just committed (the data plane
/// recompiles what it serves from them). The first call, at subscription, has
/// no changes: it means "everything".
pub type StateListener = Box<dyn Fn(&State, &[Change]) + Send + Sync>;

pub struct ControlPlane {
    /// Seals Secrets Manager values; without one those operations fail.
    sealing: Option<sealing::SealingKey>,
    state: Mutex<State>,
    store: Arc<dyn Store>,
    config: ControlConfig,
    router: router::Router,
    listeners: Mutex<Vec<StateListener>>,
    /// Where usage counts are read when not from the store.
    usage_counts: Option<Arc<dyn UsageCounts>>,
}

impl ControlPlane {
    /// Loads the state from `store`.
    pub fn open(
        store: Arc<dyn Store>,
        config: ControlConfig,
    ) -> Result<Self, tollgate_store::StoreError> {
        let state = store.load()?;
        Ok(ControlPlane {
            sealing: None,
            state: Mutex::new(state),
            store,
            config,
            router: router::Router::new(),
            listeners: Mutex::new(Vec::new()),
            usage_counts: None,
        })
    }

    /// Reads usage counts from `counts` (shared counters) instead of the store.
    pub fn with_usage_counts(mut self, counts: Arc<dyn UsageCounts>) -> ControlPlane {
        self.usage_counts = Some(counts);
        self
    }

    /// Seals Secrets Manager values with `key`.
    pub fn with_sealing_key(mut self, key: sealing::SealingKey) -> ControlPlane {
        self.sealing = Some(key);
        self
    }

    /// Runs one JSON-protocol operation (`X-Amz-Target`). Blocking: call it
    /// off the async runtime.
    pub fn handle_json(&self, target: &str, body: &[u8]) -> Result<serde_json::Value, ApiError> {
        let (_, handler) = json_ops::handler(target).ok_or_else(|| {
            ApiError::new(
                tollgate_model::ErrorCode::Other {
                    name: "UnknownOperationException",
                    status: 400,
                },
                format!("Tollgate does not serve the operation {target}"),
            )
        })?;
        let sealing = self.sealing.as_ref().ok_or_else(|| {
            tracing::error!("no secrets key: Secrets Manager is not available");
            ApiError::internal()
        })?;
        let input: serde_json::Value = if body.iter().all(u8::is_ascii_whitespace) {
            serde_json::json!({})
        } else {
            serde_json::from_slice(body).map_err(|e| {
                ApiError::new(
                    tollgate_model::ErrorCode::Serialization,
                    format!("Invalid request body: {e}"),
                )
            })?
        };
        self.run(|state| {
            let mut op = json_ops::JsonOp {
                state,
                input: input.clone(),
                config: &self.config,
                now: tollgate_model::time::now_epoch_seconds(),
                sealing,
                changes: Vec::new(),
            };
            let reply = handler(&mut op)?;
            Ok((reply, op.changes))
        })
    }

    pub fn config(&self) -> &ControlConfig {
        &self.config
    }

    /// Registers a listener and calls it once with the current state.
    pub fn subscribe(&self, listener: StateListener) {
        let state = self.lock_state();
        listener(&state, &[]);
        self.listeners
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(listener);
    }

    /// A copy of the current state (tests and tools).
    pub fn snapshot(&self) -> State {
        self.lock_state().clone()
    }

    /// Writes per-day usage counts (absolute values) counted by the data plane.
    /// Listeners are not called: the data plane is where these came from.
    pub fn record_usage(
        &self,
        counts: &[(tollgate_model::usage_plan::UsageKey, i64)],
    ) -> Result<(), tollgate_store::StoreError> {
        let mut state = self.lock_state();
        // Counts for plans deleted meanwhile are dropped rather than resurrected.
        let live =
            |k: &tollgate_model::usage_plan::UsageKey| state.usage_plans.contains_key(&k.plan_id);
        if counts.iter().all(|(k, _)| live(k)) {
            self.store.record_usage(counts)?;
        } else {
            let kept: Vec<_> = counts.iter().filter(|(k, _)| live(k)).cloned().collect();
            self.store.record_usage(&kept)?;
        }
        for (k, used) in counts {
            if !state.usage_plans.contains_key(&k.plan_id) {
                continue;
            }
            match state.usage.get_mut(k) {
                Some(v) => *v = *used,
                None => {
                    state.usage.insert(k.clone(), *used);
                }
            }
        }
        Ok(())
    }

    /// Records what the Lambda host made of a function's latest revision:
    /// `Active`, or `Failed` with the reason. A newer revision (changed
    /// meanwhile) is left as it is. Listeners are called, as for any change.
    pub fn record_function_state(
        &self,
        name: &str,
        revision_id: &str,
        outcome: Result<(), String>,
    ) -> Result<(), tollgate_store::StoreError> {
        let mut state = self.lock_state();
        let Some(doc) = state.functions.get(name) else {
            return Ok(());
        };
        if doc.configuration.revision_id != revision_id {
            return Ok(());
        }
        let mut doc = doc.as_ref().clone();
        let c = &mut doc.configuration;
        match outcome {
            Ok(()) => {
                c.state = "Active".into();
                c.state_reason = None;
                c.state_reason_code = None;
                c.last_update_status = "Successful".into();
                c.last_update_status_reason = None;
                c.last_update_status_reason_code = None;
            }
            Err(reason) => {
                c.state = "Failed".into();
                c.state_reason = Some(reason.clone());
                c.state_reason_code = Some("InvalidRuntime".into());
                c.last_update_status = "Failed".into();
                c.last_update_status_reason = Some(reason);
                c.last_update_status_reason_code = Some("InvalidRuntime".into());
            }
        }
        if state.functions.get(name).is_some_and(|d| **d == doc) {
            return Ok(());
        }
        let changes = [tollgate_model::Change::Function(
            name.to_string(),
            Some(Arc::new(doc)),
        )];
        self.store.commit(&changes)?;
        state.apply(&changes);
        self.tell(&state, &changes);
        Ok(())
    }

    /// One Lambda function as it is now.
    pub fn function(&self, name: &str) -> Option<Arc<tollgate_model::lambda::FunctionDoc>> {
        self.lock_state().functions.get(name).cloned()
    }

    /// A function's code zip, from the store.
    pub fn function_code(
        &self,
        code_id: &str,
    ) -> Result<Option<Vec<u8>>, tollgate_store::StoreError> {
        self.store.code(code_id)
    }

    /// One API as it is now (not as deployed): TestInvokeMethod runs against it.
    pub fn rest_api(&self, id: &str) -> Option<Arc<tollgate_model::state::RestApiDoc>> {
        self.lock_state().rest_apis.get(id).cloned()
    }

    fn lock_state(&self) -> std::sync::MutexGuard<'_, State> {
        // Operations never leave the state half-changed (changes apply only
        // after commit, without panicking paths), so a poisoned lock is safe.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs one query-protocol operation (IAM, STS): the inside of its
    /// `<{Action}Result>` element. Blocking: call it off the async runtime.
    pub fn handle_query(
        &self,
        request: &query::QueryRequest<'_>,
        caller: &str,
    ) -> Result<query::QueryReply, ApiError> {
        let handler = query::handler(request.service, request.action()).ok_or_else(|| {
            ApiError::new(
                tollgate_model::ErrorCode::Other {
                    name: "InvalidAction",
                    status: 400,
                },
                format!(
                    "Could not find operation {} for version {}",
                    request.action(),
                    request.get("Version").unwrap_or_default()
                ),
            )
        })?;
        self.run(|state| {
            let mut op = query::QueryOp {
                state,
                req: request,
                config: &self.config,
                now: tollgate_model::time::now_epoch_seconds(),
                caller,
                changes: Vec::new(),
            };
            let reply = handler(&mut op)?;
            Ok((reply, op.changes))
        })
    }

    /// Runs one operation against the state: `op` returns its reply and
    /// changes, which are made durable, applied and told to the listeners.
    /// When another instance sharing the store changed one of the same
    /// documents meanwhile, this instance catches up and runs `op` again
    /// (up to [`MAX_CATCH_UPS`] times; then the conflict is reported as 409).
    fn run<R>(
        &self,
        op: impl Fn(&State) -> Result<(R, Vec<Change>), ApiError>,
    ) -> Result<R, ApiError> {
        let mut state = self.lock_state();
        let mut catch_ups = 0;
        loop {
            let (reply, changes) = op(&state)?;
            if changes.is_empty() {
                return Ok(reply);
            }
            match self.store.commit(&changes) {
                Ok(()) => {
                    state.apply(&changes);
                    self.tell(&state, &changes);
                    return Ok(reply);
                }
                Err(tollgate_store::StoreError::Conflict { kind, id })
                    if catch_ups < MAX_CATCH_UPS =>
                {
                    tracing::info!(%kind, %id, "changed by another instance meanwhile: catching up and retrying");
                    catch_ups += 1;
                    self.catch_up(&mut state).map_err(store_error)?;
                }
                Err(e) => return Err(store_error(e)),
            }
        }
    }

    /// Tells every listener about `changes` just applied to `state`.
    fn tell(&self, state: &State, changes: &[Change]) {
        for listener in self
            .listeners
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            listener(state, changes);
        }
    }

    /// Applies what other instances sharing the store committed since this
    /// one last looked, and tells the listeners (the data plane recompiles
    /// only the stages whose API or deployment changed).
    fn catch_up(&self, state: &mut State) -> Result<(), tollgate_store::StoreError> {
        match self.store.remote_changes()? {
            tollgate_store::RemoteChanges::Apply(changes) => {
                if !changes.is_empty() {
                    tracing::debug!(
                        count = changes.len(),
                        "applying changes made by another instance"
                    );
                    state.apply(&changes);
                    self.tell(state, &changes);
                }
            }
            tollgate_store::RemoteChanges::Reload(fresh) => {
                tracing::info!("reloading the whole configuration from the shared store");
                *state = *fresh;
                self.tell(state, &[]);
            }
        }
        Ok(())
    }

    /// Catches up with other instances now (a store shared by several
    /// instances wakes this through [`ControlPlane::follow_store`]).
    pub fn sync_with_store(&self) -> Result<(), tollgate_store::StoreError> {
        let mut state = self.lock_state();
        self.catch_up(&mut state)
    }

    /// Follows changes other instances make to a shared store: applied
    /// within a notification's round trip, or the store's polling interval
    /// when a notification is lost. A failed catch-up (the database is
    /// unreachable) keeps the state as it is; the next wake-up retries.
    pub fn follow_store(self: &Arc<Self>) {
        let control = Arc::downgrade(self);
        self.store.watch(Box::new(move || {
            let Some(control) = control.upgrade() else {
                return;
            };
            if let Err(e) = control.sync_with_store() {
                tracing::warn!(error = %e, "cannot read changes from the shared store; serving the configuration as it is");
            }
        }));
    }

    /// Runs one API Gateway operation. Blocking: call it off the async runtime.
    pub fn handle(&self, request: &ControlRequest) -> Result<Reply, ApiError> {
        let (handler, params) = self.router.route(&request.method, &request.path)?;
        self.run(|state| {
            let mut op = ops::Op {
                state,
                req: request,
                params: params.clone(),
                now: tollgate_model::time::now_epoch_seconds(),
                config: &self.config,
                changes: Vec::new(),
                usage_counts: self.usage_counts.as_deref(),
            };
            let reply = handler(&mut op)?;
            Ok((reply, op.changes))
        })
    }
}

/// Catch-ups (and reruns) of one operation whose write clashed with another
/// instance's: each clash means the other instance committed within the
/// few milliseconds of this one's rerun, so a few suffice under contention.
const MAX_CATCH_UPS: u32 = 3;

/// A failed store call as the client sees it: 503 (retry later) when the
/// database is unreachable, 409 when another instance kept changing the
/// same document, else 500; never the database's own words.
fn store_error(e: tollgate_store::StoreError) -> ApiError {
    match e {
        tollgate_store::StoreError::Unavailable(_) => {
            tracing::warn!(error = %e, "store unavailable: control-plane write refused");
            ApiError::new(
                tollgate_model::ErrorCode::ServiceUnavailable,
                "Service unavailable: the configuration store cannot be reached. Please try again later.",
            )
        }
        tollgate_store::StoreError::Conflict { .. } => {
            tracing::warn!(error = %e, "store conflict after a retry");
            ApiError::conflict(
                "Another request changed this resource at the same time. Please try again.",
            )
        }
        e => {
            tracing::error!(error = %e, "store commit failed");
            ApiError::internal()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};
    use tollgate_store::SqliteStore;

    fn call(cp: &ControlPlane, method: &str, path: &str, body: Value) -> Result<Value, ApiError> {
        let reply = cp.handle(&ControlRequest {
            method: method.into(),
            path: path.into(),
            query: vec![],
            body: body.to_string().into_bytes(),
            accept: None,
        })?;
        Ok(reply.body.unwrap_or(Value::Null))
    }

    fn open(dir: &std::path::Path) -> Result<ControlPlane, tollgate_store::StoreError> {
        ControlPlane::open(Arc::new(SqliteStore::open(dir)?), ControlConfig::default())
    }

    #[test]
    fn plan_keys_one_at_a_time_persist() -> Result<(), Box<dyn std::error::Error>> {
        let dir = std::env::temp_dir().join(format!("tollgate-control-pk-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let cp = open(&dir)?;
        let changes = Arc::new(Mutex::new(Vec::new()));
        {
            let changes = changes.clone();
            cp.subscribe(Box::new(move |_, c| {
                changes
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .extend_from_slice(c)
            }));
        }
        let value = "a-value-of-at-least-twenty-characters";
        let key = call(
            &cp,
            "POST",
            "/apikeys",
            json!({"name": "k", "value": value, "enabled": true}),
        )?;
        let key_id = key["id"].as_str().unwrap_or_default().to_string();
        let dup = call(
            &cp,
            "POST",
            "/apikeys",
            json!({"name": "k2", "value": value}),
        );
        assert!(dup.is_err_and(|e| e.message == "API Key value already exists"));
        let plan = call(&cp, "POST", "/usageplans", json!({"name": "p"}))?;
        let plan_id = plan["id"].as_str().unwrap_or_default().to_string();
        let keys = format!("/usageplans/{plan_id}/keys");
        changes.lock().unwrap_or_else(|e| e.into_inner()).clear();
        call(
            &cp,
            "POST",
            &keys,
            json!({"keyId": key_id, "keyType": "API_KEY"}),
        )?;
        // One key joined: the plan is not written whole.
        let seen = std::mem::take(&mut *changes.lock().unwrap_or_else(|e| e.into_inner()));
        assert!(
            matches!(seen.as_slice(), [Change::UsagePlanKey { member: true, .. }]),
            "{seen:?}"
        );
        let again = call(
            &cp,
            "POST",
            &keys,
            json!({"keyId": key_id, "keyType": "API_KEY"}),
        );
        assert!(again.is_err_and(|e| e.message == "Usage Plan Key already exists"));
        drop(cp);

        let cp = open(&dir)?;
        assert!(cp.snapshot().usage_plans[&plan_id]
            .key_ids
            .contains(&key_id));
        let dup = call(
            &cp,
            "POST",
            "/apikeys",
            json!({"name": "k3", "value": value}),
        );
        assert!(dup.is_err(), "the reloaded state knows the value");
        call(&cp, "DELETE", &format!("/apikeys/{key_id}"), json!({}))?;
        assert!(cp.snapshot().usage_plans[&plan_id].key_ids.is_empty());
        drop(cp);

        let cp = open(&dir)?;
        assert!(cp.snapshot().usage_plans[&plan_id].key_ids.is_empty());
        call(
            &cp,
            "POST",
            "/apikeys",
            json!({"name": "k4", "value": value}),
        )?;
        let _ = std::fs::remove_dir_all(&dir);
        Ok(())
    }
}

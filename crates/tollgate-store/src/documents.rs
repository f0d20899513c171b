//! The mapping between typed [`Change`]s and `(kind, id, json)` rows, shared by backends.

use std::sync::Arc;

use tollgate_model::usage_plan::UsageKey;
use tollgate_model::{Change, State};

use crate::StoreError;

/// One row to write; `body: None` deletes it.
pub struct Row {
    pub kind: &'static str,
    pub id: String,
    pub body: Option<String>,
}

pub const REST_API: &str = "restapi";
pub const DEPLOYMENT: &str = "deployment";
pub const API_KEY: &str = "apikey";
pub const USAGE_PLAN: &str = "usageplan";
pub const ACCOUNT: &str = "account";
pub const USAGE: &str = "usage";
pub const USAGE_ADJUSTMENT: &str = "usageadjust";
pub const FUNCTION: &str = "function";
pub const ROLE: &str = "iamrole";
pub const POLICY: &str = "iampolicy";
pub const SECRET: &str = "secret";

fn encode<T: serde::Serialize>(value: &Option<Arc<T>>) -> Result<Option<String>, StoreError> {
    value
        .as_ref()
        .map(|v| serde_json::to_string(v.as_ref()))
        .transpose()
        .map_err(StoreError::from)
}

/// The document row each change writes (code zips go to the blobs, not here).
pub fn rows(changes: &[Change]) -> Result<Vec<Row>, StoreError> {
    changes
        .iter()
        .filter(|change| !matches!(change, Change::Code(..)))
        .map(|change| {
            Ok(match change {
                Change::RestApi(id, doc) => Row {
                    kind: REST_API,
                    id: id.clone(),
                    body: encode(doc)?,
                },
                Change::Deployment {
                    api_id,
                    deployment_id,
                    doc,
                } => Row {
                    kind: DEPLOYMENT,
                    id: format!("{api_id}/{deployment_id}"),
                    body: encode(doc)?,
                },
                Change::ApiKey(id, key) => Row {
                    kind: API_KEY,
                    id: id.clone(),
                    body: encode(key)?,
                },
                Change::UsagePlan(id, plan) => Row {
                    kind: USAGE_PLAN,
                    id: id.clone(),
                    body: encode(plan)?,
                },
                Change::Account(account) => Row {
                    kind: ACCOUNT,
                    id: "account".into(),
                    body: Some(serde_json::to_string(account)?),
                },
                Change::Usage(key, used) => Row {
                    kind: USAGE,
                    id: key.store_id(),
                    body: used.map(|u| u.to_string()),
                },
                Change::UsageAdjustment(key, extra) => Row {
                    kind: USAGE_ADJUSTMENT,
                    id: key.store_id(),
                    body: extra.map(|e| e.to_string()),
                },
                Change::Function(name, doc) => Row {
                    kind: FUNCTION,
                    id: name.clone(),
                    body: encode(doc)?,
                },
                Change::Role(name, role) => Row {
                    kind: ROLE,
                    id: name.clone(),
                    body: encode(role)?,
                },
                Change::Policy(arn, policy) => Row {
                    kind: POLICY,
                    id: arn.clone(),
                    body: encode(policy)?,
                },
                Change::Secret(name, secret) => Row {
                    kind: SECRET,
                    id: name.clone(),
                    body: encode(secret)?,
                },
                Change::Code(..) => unreachable!("filtered out above"),
            })
        })
        .collect()
}

fn decode<T: serde::de::DeserializeOwned>(
    kind: &str,
    id: &str,
    body: &str,
) -> Result<T, StoreError> {
    serde_json::from_str(body).map_err(|source| StoreError::Corrupt {
        kind: kind.into(),
        id: id.into(),
        source,
    })
}

/// Adds one stored row to the state being loaded. Unknown kinds are skipped
/// (written by a newer version) with a warning.
pub fn load_row(state: &mut State, kind: &str, id: &str, body: &str) -> Result<(), StoreError> {
    match kind {
        REST_API => {
            state
                .rest_apis
                .insert(id.to_string(), Arc::new(decode(kind, id, body)?));
        }
        DEPLOYMENT => {
            let (api_id, deployment_id) = id.split_once('/').unwrap_or((id, ""));
            state
                .deployments
                .entry(api_id.to_string())
                .or_default()
                .insert(deployment_id.to_string(), Arc::new(decode(kind, id, body)?));
        }
        API_KEY => {
            state
                .api_keys
                .insert(id.to_string(), Arc::new(decode(kind, id, body)?));
        }
        USAGE_PLAN => {
            state
                .usage_plans
                .insert(id.to_string(), Arc::new(decode(kind, id, body)?));
        }
        ACCOUNT => state.account = decode(kind, id, body)?,
        USAGE => {
            if let Some(key) = UsageKey::parse_store_id(id) {
                state.usage.insert(key, decode(kind, id, body)?);
            }
        }
        USAGE_ADJUSTMENT => {
            if let Some(key) = UsageKey::parse_store_id(id) {
                state.usage_adjustments.insert(key, decode(kind, id, body)?);
            }
        }
        FUNCTION => {
            state
                .functions
                .insert(id.to_string(), Arc::new(decode(kind, id, body)?));
        }
        ROLE => {
            state
                .roles
                .insert(id.to_string(), Arc::new(decode(kind, id, body)?));
        }
        POLICY => {
            state
                .policies
                .insert(id.to_string(), Arc::new(decode(kind, id, body)?));
        }
        SECRET => {
            state
                .secrets
                .insert(id.to_string(), Arc::new(decode(kind, id, body)?));
        }
        other => tracing::warn!(kind = other, id, "skipping stored object of unknown kind"),
    }
    Ok(())
}

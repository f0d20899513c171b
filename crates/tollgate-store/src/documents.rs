//! The mapping between typed [`Change`]s and `(kind, id, json)` rows, shared by backends.

use std::sync::Arc;

use serde::Serialize;
use tollgate_model::usage_plan::{UsageKey, UsagePlan, UsagePlanDoc};
use tollgate_model::{Change, State};

use crate::StoreError;

/// One row to write.
pub struct Row {
    pub kind: &'static str,
    pub id: String,
    pub body: Body,
}

/// What to do with a row.
pub enum Body {
    /// Insert or replace it with this document.
    Put(String),
    Delete,
    /// Delete every row of the kind whose id starts with `{id}/`.
    DeleteUnder,
}

impl Body {
    fn put_or_delete(body: Option<String>) -> Body {
        body.map_or(Body::Delete, Body::Put)
    }
}

pub const REST_API: &str = "restapi";
pub const DEPLOYMENT: &str = "deployment";
pub const API_KEY: &str = "apikey";
pub const USAGE_PLAN: &str = "usageplan";
/// A key in a plan: id `{plan id}/{key id}`. A plan's keys are rows of their
/// own, not part of the plan's document, so a key joining a plan writes one
/// small row however many keys the plan has.
pub const USAGE_PLAN_KEY: &str = "usageplankey";
pub const ACCOUNT: &str = "account";
pub const USAGE: &str = "usage";
pub const USAGE_ADJUSTMENT: &str = "usageadjust";
pub const FUNCTION: &str = "function";
pub const ROLE: &str = "iamrole";
pub const POLICY: &str = "iampolicy";
pub const SECRET: &str = "secret";
pub const VPC_LINK: &str = "vpclink";
pub const CLIENT_CERTIFICATE: &str = "clientcert";
pub const DOMAIN_NAME: &str = "domainname";

fn encode<T: serde::Serialize>(value: &Option<Arc<T>>) -> Result<Option<String>, StoreError> {
    value
        .as_ref()
        .map(|v| serde_json::to_string(v.as_ref()))
        .transpose()
        .map_err(StoreError::from)
}

/// A plan's stored document: the plan without its keys (rows of their own).
/// Reads back as a [`UsagePlanDoc`] with no keys.
#[derive(Serialize)]
struct PlanDocument<'a> {
    plan: &'a UsagePlan,
    created_date: i64,
}

fn plan_key_id(plan_id: &str, key_id: &str) -> String {
    format!("{plan_id}/{key_id}")
}

/// The rows of a whole plan: its document, and exactly its keys.
fn plan_rows(
    id: &str,
    doc: &Option<Arc<UsagePlanDoc>>,
    out: &mut Vec<Row>,
) -> Result<(), StoreError> {
    out.push(Row {
        kind: USAGE_PLAN_KEY,
        id: id.to_string(),
        body: Body::DeleteUnder,
    });
    let Some(doc) = doc else {
        out.push(Row {
            kind: USAGE_PLAN,
            id: id.to_string(),
            body: Body::Delete,
        });
        return Ok(());
    };
    out.push(Row {
        kind: USAGE_PLAN,
        id: id.to_string(),
        body: Body::Put(serde_json::to_string(&PlanDocument {
            plan: &doc.plan,
            created_date: doc.created_date,
        })?),
    });
    out.extend(doc.key_ids.iter().map(|key_id| Row {
        kind: USAGE_PLAN_KEY,
        id: plan_key_id(id, key_id),
        body: Body::Put("1".into()),
    }));
    Ok(())
}

/// The document rows the changes write, in order (code zips go to the blobs, not here).
pub fn rows(changes: &[Change]) -> Result<Vec<Row>, StoreError> {
    let mut out = Vec::with_capacity(changes.len());
    for change in changes {
        match change {
            Change::Code(..) => {}
            Change::UsagePlan(id, doc) => plan_rows(id, doc, &mut out)?,
            Change::UsagePlanKey {
                plan_id,
                key_id,
                member,
            } => out.push(Row {
                kind: USAGE_PLAN_KEY,
                id: plan_key_id(plan_id, key_id),
                body: if *member {
                    Body::Put("1".into())
                } else {
                    Body::Delete
                },
            }),
            other => out.extend(row(other)?),
        }
    }
    Ok(out)
}

/// The one row of a change to a single document.
fn row(change: &Change) -> Result<Option<Row>, StoreError> {
    let (kind, id, body) = match change {
        Change::RestApi(id, doc) => (REST_API, id.clone(), encode(doc)?),
        Change::Deployment {
            api_id,
            deployment_id,
            doc,
        } => (
            DEPLOYMENT,
            format!("{api_id}/{deployment_id}"),
            encode(doc)?,
        ),
        Change::ApiKey(id, key) => (API_KEY, id.clone(), encode(key)?),
        Change::Account(account) => (
            ACCOUNT,
            "account".into(),
            Some(serde_json::to_string(account)?),
        ),
        Change::Usage(key, used) => (USAGE, key.store_id(), used.map(|u| u.to_string())),
        Change::UsageAdjustment(key, extra) => (
            USAGE_ADJUSTMENT,
            key.store_id(),
            extra.map(|e| e.to_string()),
        ),
        Change::Function(name, doc) => (FUNCTION, name.clone(), encode(doc)?),
        Change::Role(name, role) => (ROLE, name.clone(), encode(role)?),
        Change::Policy(arn, policy) => (POLICY, arn.clone(), encode(policy)?),
        Change::Secret(name, secret) => (SECRET, name.clone(), encode(secret)?),
        Change::VpcLink(id, link) => (VPC_LINK, id.clone(), encode(link)?),
        Change::ClientCertificate(id, cert) => (CLIENT_CERTIFICATE, id.clone(), encode(cert)?),
        Change::DomainName(name, doc) => (DOMAIN_NAME, name.clone(), encode(doc)?),
        // Written by rows() (several rows, or none here).
        Change::UsagePlan(..) | Change::UsagePlanKey { .. } | Change::Code(..) => return Ok(None),
    };
    Ok(Some(Row {
        kind,
        id,
        body: Body::put_or_delete(body),
    }))
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

/// A state being read from the store, row by row.
#[derive(Default)]
pub struct Loading {
    pub state: State,
    /// `(plan id, key id)` rows, attached once every plan is read.
    plan_keys: Vec<(String, String)>,
}

impl Loading {
    /// The loaded state, and what to write back to the store: plans stored
    /// by an earlier version with their keys inside the document are
    /// rewritten as a document and key rows.
    pub fn finish(mut self) -> (State, Vec<Change>) {
        let legacy: Vec<String> = self
            .state
            .usage_plans
            .iter()
            .filter(|(_, doc)| !doc.key_ids.is_empty())
            .map(|(id, _)| id.clone())
            .collect();
        for (plan_id, key_id) in self.plan_keys {
            // A key row of a deleted plan is skipped.
            if let Some(doc) = self.state.usage_plans.get_mut(&plan_id) {
                Arc::make_mut(doc).key_ids.insert(key_id);
            }
        }
        let rewrite = legacy
            .into_iter()
            .filter_map(|id| {
                let doc = self.state.usage_plans.get(&id)?.clone();
                Some(Change::UsagePlan(id, Some(doc)))
            })
            .collect();
        (self.state, rewrite)
    }

    /// Adds one stored row. Unknown kinds are skipped (written by a newer
    /// version) with a warning.
    pub fn row(&mut self, kind: &str, id: &str, body: &str) -> Result<(), StoreError> {
        if kind == USAGE_PLAN_KEY {
            if let Some((plan_id, key_id)) = id.split_once('/') {
                self.plan_keys
                    .push((plan_id.to_string(), key_id.to_string()));
            }
            return Ok(());
        }
        load_row(&mut self.state, kind, id, body)
    }
}

fn load_row(state: &mut State, kind: &str, id: &str, body: &str) -> Result<(), StoreError> {
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
            let key: Arc<tollgate_model::api_key::ApiKey> = Arc::new(decode(kind, id, body)?);
            state.api_key_values.add(&key.value);
            if let Some(old) = state.api_keys.insert(id.to_string(), key) {
                state.api_key_values.remove(&old.value);
            }
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
        VPC_LINK => {
            state
                .vpc_links
                .insert(id.to_string(), Arc::new(decode(kind, id, body)?));
        }
        CLIENT_CERTIFICATE => {
            state
                .client_certificates
                .insert(id.to_string(), Arc::new(decode(kind, id, body)?));
        }
        DOMAIN_NAME => {
            state
                .domain_names
                .insert(id.to_string(), Arc::new(decode(kind, id, body)?));
        }
        other => tracing::warn!(kind = other, id, "skipping stored object of unknown kind"),
    }
    Ok(())
}

/// The kind a code zip's change is logged under (zips are not documents).
pub const CODE: &str = "code";

/// The `(kind, id)` of every object the changes touch, as a change log
/// records them for other instances: document rows and code zips.
pub fn touched(rows: &[Row], changes: &[Change]) -> Vec<(&'static str, String)> {
    let mut out: Vec<(&'static str, String)> = rows
        .iter()
        .filter(|r| !matches!(r.body, Body::DeleteUnder))
        .map(|r| (r.kind, r.id.clone()))
        .collect();
    out.extend(changes.iter().filter_map(|c| match c {
        Change::Code(id, _) => Some((CODE, id.clone())),
        _ => None,
    }));
    out
}

/// The change that brings another instance's copy of one object to what
/// the store holds now (`body` None: it is gone). A plan comes without its
/// keys: the caller fills them in from their own rows.
pub fn change_of(kind: &str, id: &str, body: Option<&str>) -> Result<Option<Change>, StoreError> {
    fn doc<T: serde::de::DeserializeOwned>(
        kind: &str,
        id: &str,
        body: Option<&str>,
    ) -> Result<Option<Arc<T>>, StoreError> {
        body.map(|b| decode(kind, id, b).map(Arc::new)).transpose()
    }
    let change = match kind {
        REST_API => Change::RestApi(id.to_string(), doc(kind, id, body)?),
        DEPLOYMENT => {
            let (api_id, deployment_id) = id.split_once('/').unwrap_or((id, ""));
            Change::Deployment {
                api_id: api_id.to_string(),
                deployment_id: deployment_id.to_string(),
                doc: doc(kind, id, body)?,
            }
        }
        API_KEY => Change::ApiKey(id.to_string(), doc(kind, id, body)?),
        USAGE_PLAN => Change::UsagePlan(id.to_string(), doc(kind, id, body)?),
        USAGE_PLAN_KEY => {
            let Some((plan_id, key_id)) = id.split_once('/') else {
                return Ok(None);
            };
            Change::UsagePlanKey {
                plan_id: plan_id.to_string(),
                key_id: key_id.to_string(),
                member: body.is_some(),
            }
        }
        ACCOUNT => match body {
            Some(b) => Change::Account(decode(kind, id, b)?),
            None => Change::Account(Default::default()),
        },
        USAGE => {
            let Some(key) = UsageKey::parse_store_id(id) else {
                return Ok(None);
            };
            let used = body.map(|b| decode(kind, id, b)).transpose()?;
            Change::Usage(key, used)
        }
        USAGE_ADJUSTMENT => {
            let Some(key) = UsageKey::parse_store_id(id) else {
                return Ok(None);
            };
            let extra = body.map(|b| decode(kind, id, b)).transpose()?;
            Change::UsageAdjustment(key, extra)
        }
        FUNCTION => Change::Function(id.to_string(), doc(kind, id, body)?),
        // The zip stays in the store (read with `Store::code` when a
        // function is deployed); the state keeps only which ids exist.
        CODE => Change::Code(id.to_string(), body.map(|_| Arc::new(Vec::new()))),
        ROLE => Change::Role(id.to_string(), doc(kind, id, body)?),
        POLICY => Change::Policy(id.to_string(), doc(kind, id, body)?),
        SECRET => Change::Secret(id.to_string(), doc(kind, id, body)?),
        VPC_LINK => Change::VpcLink(id.to_string(), doc(kind, id, body)?),
        CLIENT_CERTIFICATE => Change::ClientCertificate(id.to_string(), doc(kind, id, body)?),
        DOMAIN_NAME => Change::DomainName(id.to_string(), doc(kind, id, body)?),
        other => {
            tracing::warn!(
                kind = other,
                id,
                "skipping a changed object of unknown kind"
            );
            return Ok(None);
        }
    };
    Ok(Some(change))
}

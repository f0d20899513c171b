//! CreateApiKey, GetApiKey(s), UpdateApiKey, DeleteApiKey.

use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value;
use tollgate_model::api_key::{ApiKey, MAX_VALUE_LEN, MIN_VALUE_LEN};
use tollgate_model::patch::PatchOp;
use tollgate_model::{ids, ApiError, Change, Tags};

use super::{to_json, Op, PatchInput};
use crate::pagination::page;
use crate::request::Reply;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StageKeyInput {
    rest_api_id: Option<String>,
    stage_name: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateInput {
    name: Option<String>,
    description: Option<String>,
    #[serde(default)]
    enabled: bool,
    value: Option<String>,
    #[serde(default)]
    stage_keys: Vec<StageKeyInput>,
    customer_id: Option<String>,
    #[serde(default)]
    tags: Tags,
}

/// The key as a reply shows it; the value only when asked for.
fn key_json(key: &ApiKey, include_value: bool) -> Result<Value, ApiError> {
    let mut v = to_json(key)?;
    if !include_value {
        if let Some(obj) = v.as_object_mut() {
            obj.remove("value");
        }
    }
    Ok(v)
}

fn check_stage_key(op: &Op<'_>, stage_key: &str) -> Result<(), ApiError> {
    let exists = stage_key.split_once('/').is_some_and(|(api, stage)| {
        op.state
            .rest_apis
            .get(api)
            .is_some_and(|doc| doc.stages.contains_key(stage))
    });
    if exists {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "Invalid stage key specified: {stage_key}"
        )))
    }
}

pub fn create(op: &mut Op<'_>) -> Result<Reply, ApiError> {
    let input: CreateInput = op.req.json()?;
    let value = match input.value.filter(|v| !v.is_empty()) {
        Some(v) if v.len() < MIN_VALUE_LEN => {
            return Err(ApiError::bad_request(
                "API Key value should be at least 20 characters",
            ))
        }
        Some(v) if v.len() > MAX_VALUE_LEN => {
            return Err(ApiError::bad_request(
                "API Key value exceeds maximum size of 128 characters",
            ))
        }
        Some(v) => v,
        None => ids::api_key_value(),
    };
    if op.state.api_key_value_taken(&value) {
        return Err(ApiError::conflict("API Key value already exists"));
    }
    let mut stage_keys = Vec::new();
    for sk in input.stage_keys {
        let key = format!(
            "{}/{}",
            sk.rest_api_id.unwrap_or_default(),
            sk.stage_name.unwrap_or_default()
        );
        check_stage_key(op, &key)?;
        stage_keys.push(key);
    }
    let state = op.state;
    let id = ids::unique(10, |id| state.api_keys.contains_key(id));
    let key = ApiKey {
        id: id.clone(),
        value: value.into(),
        name: input.name.map(Into::into),
        customer_id: input.customer_id.map(Into::into),
        description: input.description.map(Into::into),
        enabled: input.enabled,
        created_date: op.now,
        last_updated_date: op.now,
        stage_keys,
        tags: input.tags,
    };
    let body = key_json(&key, true)?;
    op.changes.push(Change::ApiKey(id, Some(Arc::new(key))));
    Ok(Reply::created(body))
}

fn api_key<'o>(op: &'o Op<'_>) -> Result<&'o Arc<ApiKey>, ApiError> {
    op.state
        .api_keys
        .get(op.param("api_key"))
        .ok_or_else(|| ApiError::not_found("Invalid API Key identifier specified"))
}

pub fn get(op: &mut Op<'_>) -> Result<Reply, ApiError> {
    Ok(Reply::ok(key_json(
        api_key(op)?,
        op.req.query_bool("includeValue"),
    )?))
}

pub fn list(op: &mut Op<'_>) -> Result<Reply, ApiError> {
    let include = op.req.query_bool("includeValues");
    let name_prefix = op.req.query("name").unwrap_or("");
    let customer = op.req.query("customerId");
    let items = op
        .state
        .api_keys
        .values()
        .filter(|k| k.name.as_deref().unwrap_or("").starts_with(name_prefix))
        .filter(|k| customer.is_none_or(|c| k.customer_id.as_deref() == Some(c)))
        .map(|k| Ok((k.id.clone(), key_json(k, include)?)))
        .collect::<Result<Vec<_>, ApiError>>()?;
    Ok(Reply::ok(page(op.req, items)?))
}

pub fn update(op: &mut Op<'_>) -> Result<Reply, ApiError> {
    let input: PatchInput = op.req.json()?;
    let mut key = api_key(op)?.as_ref().clone();
    for patch in &input.patch_operations {
        let text = || {
            patch
                .value
                .as_deref()
                .filter(|v| !v.is_empty())
                .map(Into::into)
        };
        match (patch.op, patch.path.as_str()) {
            (PatchOp::Replace, "/name") => key.name = text(),
            (PatchOp::Replace, "/description") => key.description = text(),
            (PatchOp::Replace, "/enabled") => key.enabled = patch.bool_value()?,
            (PatchOp::Replace, "/customerId") => key.customer_id = text(),
            (PatchOp::Add, "/stages") => {
                let sk = patch.value()?.to_string();
                check_stage_key(op, &sk)?;
                if !key.stage_keys.contains(&sk) {
                    key.stage_keys.push(sk);
                }
            }
            (PatchOp::Remove, "/stages") => {
                let sk = patch.value()?;
                key.stage_keys.retain(|k| k != sk);
            }
            _ => return Err(patch.unsupported()),
        }
    }
    key.last_updated_date = op.now;
    let body = key_json(&key, false)?;
    op.changes
        .push(Change::ApiKey(key.id.clone(), Some(Arc::new(key))));
    Ok(Reply::ok(body))
}

pub fn delete(op: &mut Op<'_>) -> Result<Reply, ApiError> {
    let id = api_key(op)?.id.clone();
    op.changes.push(Change::ApiKey(id.clone(), None));
    for (plan_id, plan) in &op.state.usage_plans {
        if plan.key_ids.contains(&id) {
            op.changes.push(Change::UsagePlanKey {
                plan_id: plan_id.clone(),
                key_id: id.clone(),
                member: false,
            });
        }
    }
    Ok(Reply::accepted())
}

//! CreateUsagePlan, GetUsagePlan(s), UpdateUsagePlan, DeleteUsagePlan and the
//! UsagePlanKey operations.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde::Deserialize;
use serde_json::json;
use tollgate_model::patch::{PatchOp, PatchOperation};
use tollgate_model::usage_plan::{
    ApiStage, QuotaSettings, ThrottleSettings, UsagePlan, UsagePlanDoc, QUOTA_PERIODS,
};
use tollgate_model::{ids, ApiError, Change, Tags};

use super::{check_enum, required, to_json, Op, PatchInput};
use crate::pagination::page;
use crate::request::Reply;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateInput {
    name: Option<String>,
    description: Option<String>,
    #[serde(default)]
    api_stages: Vec<ApiStage>,
    throttle: Option<ThrottleSettings>,
    quota: Option<QuotaSettings>,
    #[serde(default)]
    tags: Tags,
}

fn validate_throttle(t: &ThrottleSettings) -> Result<(), ApiError> {
    if t.burst_limit.is_some_and(|b| b < 0)
        || t.rate_limit.is_some_and(|r| !(r >= 0.0 && r.is_finite()))
    {
        return Err(ApiError::bad_request(
            "Throttle burstLimit and rateLimit must be non-negative",
        ));
    }
    Ok(())
}

fn validate_plan(op: &Op<'_>, plan: &UsagePlan) -> Result<(), ApiError> {
    if let Some(t) = &plan.throttle {
        validate_throttle(t)?;
    }
    if let Some(q) = &plan.quota {
        let period = q.period.as_deref().unwrap_or_default();
        check_enum(period, "quota.period", QUOTA_PERIODS)?;
        if q.limit < 0 || q.offset < 0 {
            return Err(ApiError::bad_request(
                "Quota limit and offset must be non-negative",
            ));
        }
        if q.limit > 0 && q.offset >= q.limit {
            return Err(ApiError::bad_request(
                "Quota offset must be smaller than the quota limit",
            ));
        }
    }
    let mut seen = BTreeSet::new();
    for stage in &plan.api_stages {
        let exists = op
            .state
            .rest_apis
            .get(&stage.api_id)
            .is_some_and(|doc| doc.stages.contains_key(&stage.stage));
        if !exists {
            return Err(ApiError::bad_request(format!(
                "Invalid API Stage {{api: {}, stage: {}}} specified for usageplan {}",
                stage.api_id, stage.stage, plan.id
            )));
        }
        if !seen.insert((&stage.api_id, &stage.stage)) {
            return Err(ApiError::conflict(format!(
                "API Stage {{api: {}, stage: {}}} is already part of the usage plan",
                stage.api_id, stage.stage
            )));
        }
        if stage.throttle.len() > 20 {
            return Err(ApiError::bad_request(
                "At most 20 method throttles per API stage",
            ));
        }
        for (method_path, t) in &stage.throttle {
            let valid = method_path.rsplit_once('/').is_some_and(|(path, m)| {
                path.starts_with('/') && tollgate_model::method::validate_http_method(m).is_ok()
            });
            if !valid {
                return Err(ApiError::bad_request(format!(
                    "Invalid method throttle key: {method_path}. Must be /resourcePath/HTTPMETHOD"
                )));
            }
            validate_throttle(t)?;
        }
    }
    Ok(())
}

/// A key may be in only one plan per API stage (spec §2.4).
fn check_key_plan_conflicts(op: &Op<'_>, plan: &UsagePlanDoc) -> Result<(), ApiError> {
    for (other_id, other) in &op.state.usage_plans {
        if *other_id == plan.plan.id {
            continue;
        }
        for key_id in plan.key_ids.intersection(&other.key_ids) {
            shares_no_stage(plan, other, key_id)?;
        }
    }
    Ok(())
}

/// [`check_key_plan_conflicts`] for one key joining `plan`: reads only the
/// plans that hold the key, not every key of every plan.
fn check_new_key_conflicts(op: &Op<'_>, plan: &UsagePlanDoc, key_id: &str) -> Result<(), ApiError> {
    for (other_id, other) in &op.state.usage_plans {
        if *other_id != plan.plan.id && other.key_ids.contains(key_id) {
            shares_no_stage(plan, other, key_id)?;
        }
    }
    Ok(())
}

/// AWS's conflict when `plan` and `other`, which both hold `key_id`, cover
/// the same API stage.
fn shares_no_stage(
    plan: &UsagePlanDoc,
    other: &UsagePlanDoc,
    key_id: &str,
) -> Result<(), ApiError> {
    for stage in &plan.plan.api_stages {
        if other
            .plan
            .api_stages
            .iter()
            .any(|s| s.api_id == stage.api_id && s.stage == stage.stage)
        {
            return Err(ApiError::conflict(format!(
                "Usage Plan {} cannot be added because API Key {key_id} cannot reference multiple Usage Plans with the same API Stage: {}:{}",
                plan.plan.id, stage.api_id, stage.stage
            )));
        }
    }
    Ok(())
}

pub fn create(op: &mut Op<'_>) -> Result<Reply, ApiError> {
    let input: CreateInput = op.req.json()?;
    let name = required(&input.name, "name")?.to_string();
    let state = op.state;
    let id = ids::unique(6, |id| state.usage_plans.contains_key(id));
    let quota = input.quota.map(|mut q| {
        q.period = q.period.map(|p| p.to_ascii_uppercase());
        q
    });
    let plan = UsagePlan {
        id: id.clone(),
        name,
        description: input.description,
        api_stages: input.api_stages,
        throttle: input.throttle,
        quota,
        product_code: None,
        tags: input.tags,
    };
    validate_plan(op, &plan)?;
    let body = to_json(&plan)?;
    let doc = UsagePlanDoc {
        plan,
        key_ids: BTreeSet::new(),
        created_date: op.now,
    };
    op.changes.push(Change::UsagePlan(id, Some(Arc::new(doc))));
    Ok(Reply::created(body))
}

fn usage_plan<'o>(op: &'o Op<'_>) -> Result<&'o Arc<UsagePlanDoc>, ApiError> {
    op.state
        .usage_plans
        .get(op.param("usageplan_id"))
        .ok_or_else(|| ApiError::not_found("Invalid Usage Plan ID specified"))
}

pub fn get(op: &mut Op<'_>) -> Result<Reply, ApiError> {
    Ok(Reply::ok(to_json(&usage_plan(op)?.plan)?))
}

pub fn list(op: &mut Op<'_>) -> Result<Reply, ApiError> {
    let key_id = op.req.query("keyId");
    let items = op
        .state
        .usage_plans
        .iter()
        .filter(|(_, p)| key_id.is_none_or(|k| p.key_ids.contains(k)))
        .map(|(id, p)| Ok((id.clone(), to_json(&p.plan)?)))
        .collect::<Result<Vec<_>, ApiError>>()?;
    Ok(Reply::ok(page(op.req, items)?))
}

/// Parses the `apiId:stage` value of an `/apiStages` patch.
fn api_stage_ref(value: &str) -> Result<(String, String), ApiError> {
    value
        .split_once(':')
        .filter(|(a, s)| !a.is_empty() && !s.is_empty())
        .map(|(a, s)| (a.to_string(), s.to_string()))
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "Invalid API Stage specified: {value}. Must be apiId:stage"
            ))
        })
}

fn set_throttle_field(
    t: &mut ThrottleSettings,
    field: &str,
    patch: &PatchOperation,
) -> Result<(), ApiError> {
    match field {
        "rateLimit" => t.rate_limit = Some(patch.float_value()?),
        "burstLimit" => t.burst_limit = Some(patch.int_value()?),
        _ => return Err(patch.unsupported()),
    }
    Ok(())
}

fn apply_patch(plan: &mut UsagePlan, patch: &PatchOperation) -> Result<(), ApiError> {
    let segments = patch.segments();
    let segs: Vec<&str> = segments.iter().map(String::as_str).collect();
    let text = || patch.value.clone().filter(|v| !v.is_empty());
    match (patch.op, segs.as_slice()) {
        (PatchOp::Replace, ["name"]) => plan.name = required(&patch.value, "name")?.to_string(),
        (PatchOp::Replace, ["description"]) => plan.description = text(),
        (PatchOp::Replace, ["productCode"]) => plan.product_code = text(),
        (PatchOp::Replace | PatchOp::Add, ["throttle", field]) => {
            let t = plan.throttle.get_or_insert(ThrottleSettings {
                burst_limit: None,
                rate_limit: None,
            });
            set_throttle_field(t, field, patch)?;
        }
        (PatchOp::Remove, ["throttle"]) => plan.throttle = None,
        (PatchOp::Replace | PatchOp::Add, ["quota", field]) => {
            let q = plan.quota.get_or_insert(QuotaSettings {
                limit: 0,
                offset: 0,
                period: Some("DAY".into()),
            });
            match *field {
                "limit" => q.limit = patch.int_value()?,
                "offset" => q.offset = patch.int_value()?,
                "period" => q.period = Some(patch.value()?.to_ascii_uppercase()),
                _ => return Err(patch.unsupported()),
            }
        }
        (PatchOp::Remove, ["quota"]) => plan.quota = None,
        (PatchOp::Add, ["apiStages"]) => {
            let (api_id, stage) = api_stage_ref(patch.value()?)?;
            plan.api_stages.push(ApiStage {
                api_id,
                stage,
                throttle: BTreeMap::new(),
            });
        }
        (PatchOp::Remove, ["apiStages"]) => {
            let (api_id, stage) = api_stage_ref(patch.value()?)?;
            let before = plan.api_stages.len();
            plan.api_stages
                .retain(|s| !(s.api_id == api_id && s.stage == stage));
            if plan.api_stages.len() == before {
                return Err(ApiError::not_found(format!(
                    "Invalid API Stage {{api: {api_id}, stage: {stage}}} specified for usageplan {}",
                    plan.id
                )));
            }
        }
        (op, ["apiStages", stage_ref, "throttle", rest @ ..]) => {
            let (api_id, stage) = api_stage_ref(stage_ref)?;
            let plan_id = plan.id.clone();
            let api_stage = plan
                .api_stages
                .iter_mut()
                .find(|s| s.api_id == api_id && s.stage == stage)
                .ok_or_else(|| {
                    ApiError::not_found(format!(
                        "Invalid API Stage {{api: {api_id}, stage: {stage}}} specified for usageplan {plan_id}"
                    ))
                })?;
            match (op, rest) {
                (PatchOp::Replace, []) => {
                    let value = patch.value()?;
                    api_stage.throttle = serde_json::from_str(value).map_err(|e| {
                        ApiError::bad_request(format!("Invalid method throttle JSON: {e}"))
                    })?;
                }
                (PatchOp::Remove, []) => api_stage.throttle.clear(),
                (PatchOp::Replace | PatchOp::Add, [path, method, field]) => {
                    let key = format!("{path}/{method}");
                    let t = api_stage.throttle.entry(key).or_insert(ThrottleSettings {
                        burst_limit: None,
                        rate_limit: None,
                    });
                    set_throttle_field(t, field, patch)?;
                }
                (PatchOp::Remove, [path, method]) => {
                    api_stage.throttle.remove(&format!("{path}/{method}"));
                }
                _ => return Err(patch.unsupported()),
            }
        }
        _ => return Err(patch.unsupported()),
    }
    Ok(())
}

pub fn update(op: &mut Op<'_>) -> Result<Reply, ApiError> {
    let input: PatchInput = op.req.json()?;
    let mut doc = usage_plan(op)?.as_ref().clone();
    for patch in &input.patch_operations {
        apply_patch(&mut doc.plan, patch)?;
    }
    validate_plan(op, &doc.plan)?;
    check_key_plan_conflicts(op, &doc)?;
    let body = to_json(&doc.plan)?;
    op.changes
        .push(Change::UsagePlan(doc.plan.id.clone(), Some(Arc::new(doc))));
    Ok(Reply::ok(body))
}

pub fn delete(op: &mut Op<'_>) -> Result<Reply, ApiError> {
    let doc = usage_plan(op)?;
    let id = doc.plan.id.clone();
    // Its usage records go with it.
    let usage: Vec<Change> = op
        .state
        .usage
        .keys()
        .filter(|k| k.plan_id == id)
        .map(|k| Change::Usage(k.clone(), None))
        .chain(
            op.state
                .usage_adjustments
                .keys()
                .filter(|k| k.plan_id == id)
                .map(|k| Change::UsageAdjustment(k.clone(), None)),
        )
        .collect();
    op.changes.push(Change::UsagePlan(id, None));
    op.changes.extend(usage);
    Ok(Reply::accepted())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateKeyInput {
    key_id: Option<String>,
    key_type: Option<String>,
}

fn plan_key_json(op: &Op<'_>, key_id: &str) -> Result<serde_json::Value, ApiError> {
    let key = op
        .state
        .api_keys
        .get(key_id)
        .ok_or_else(|| ApiError::not_found("Invalid API Key identifier specified"))?;
    Ok(json!({
        "id": key.id,
        "type": "API_KEY",
        "value": key.value,
        "name": key.name,
    }))
}

pub fn create_key(op: &mut Op<'_>) -> Result<Reply, ApiError> {
    let input: CreateKeyInput = op.req.json()?;
    let key_id = required(&input.key_id, "keyId")?.to_string();
    let key_type = required(&input.key_type, "keyType")?;
    if key_type != "API_KEY" {
        return Err(ApiError::bad_request(format!(
            "Invalid key type: {key_type}. The only supported key type is API_KEY"
        )));
    }
    let doc = usage_plan(op)?;
    let body = plan_key_json(op, &key_id)?;
    if doc.key_ids.contains(&key_id) {
        return Err(ApiError::conflict("Usage Plan Key already exists"));
    }
    check_new_key_conflicts(op, doc, &key_id)?;
    op.changes.push(Change::UsagePlanKey {
        plan_id: doc.plan.id.clone(),
        key_id,
        member: true,
    });
    Ok(Reply::created(body))
}

pub fn list_keys(op: &mut Op<'_>) -> Result<Reply, ApiError> {
    let doc = usage_plan(op)?;
    let name_prefix = op.req.query("nameQuery").unwrap_or("");
    let items = doc
        .key_ids
        .iter()
        .filter(|id| {
            op.state
                .api_keys
                .get(*id)
                .is_some_and(|k| k.name.as_deref().unwrap_or("").starts_with(name_prefix))
        })
        .map(|id| Ok((id.clone(), plan_key_json(op, id)?)))
        .collect::<Result<Vec<_>, ApiError>>()?;
    Ok(Reply::ok(page(op.req, items)?))
}

fn plan_key_id(op: &Op<'_>) -> Result<String, ApiError> {
    let doc = usage_plan(op)?;
    let key_id = op.param("key_id");
    if doc.key_ids.contains(key_id) {
        Ok(key_id.to_string())
    } else {
        Err(ApiError::not_found(
            "Invalid Usage Plan Key identifier specified",
        ))
    }
}

pub fn get_key(op: &mut Op<'_>) -> Result<Reply, ApiError> {
    let key_id = plan_key_id(op)?;
    Ok(Reply::ok(plan_key_json(op, &key_id)?))
}

pub fn delete_key(op: &mut Op<'_>) -> Result<Reply, ApiError> {
    let key_id = plan_key_id(op)?;
    let plan_id = usage_plan(op)?.plan.id.clone();
    op.changes.push(Change::UsagePlanKey {
        plan_id,
        key_id,
        member: false,
    });
    Ok(Reply::accepted())
}

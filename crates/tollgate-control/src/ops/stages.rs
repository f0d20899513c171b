//! CreateStage, GetStage(s), UpdateStage (every patch path of spec §1.6),
//! DeleteStage and the cache flushes.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Deserialize;
use tollgate_model::patch::{PatchOp, PatchOperation};
use tollgate_model::stage::{
    valid_stage_name, valid_stage_variable, AccessLogSettings, CanarySettings, MethodSetting,
    Stage, CACHE_CLUSTER_SIZES, LOGGING_LEVELS, UNAUTHORIZED_CACHE_STRATEGIES,
};
use tollgate_model::state::RestApiDoc;
use tollgate_model::usage_plan::UsagePlanDoc;
use tollgate_model::{ApiError, Change, Tags};

use super::{required, to_json, Op, PatchInput};
use crate::request::Reply;

pub fn validate_cache_size(size: &str) -> Result<(), ApiError> {
    if CACHE_CLUSTER_SIZES.contains(&size) {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "Invalid cache cluster size specified: {size}. Valid values are {}",
            CACHE_CLUSTER_SIZES.join(", ")
        )))
    }
}

pub fn validate_variables(variables: &BTreeMap<String, String>) -> Result<(), ApiError> {
    if variables.len() > 100 {
        return Err(ApiError::bad_request(
            "A stage may have at most 100 variables",
        ));
    }
    for (name, value) in variables {
        if !valid_stage_variable(name, value) {
            return Err(ApiError::bad_request(format!(
                "Stage variable names must be 1-64 characters of [A-Za-z0-9_] and values at most 512 characters: {name}"
            )));
        }
    }
    Ok(())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateInput {
    stage_name: Option<String>,
    deployment_id: Option<String>,
    description: Option<String>,
    #[serde(default)]
    cache_cluster_enabled: bool,
    cache_cluster_size: Option<String>,
    #[serde(default)]
    variables: BTreeMap<String, String>,
    documentation_version: Option<String>,
    canary_settings: Option<CanarySettings>,
    #[serde(default)]
    tracing_enabled: bool,
    #[serde(default)]
    tags: Tags,
}

fn deployment_exists(op: &Op<'_>, api_id: &str, deployment_id: &str) -> Result<(), ApiError> {
    let exists = op
        .state
        .deployments
        .get(api_id)
        .is_some_and(|d| d.contains_key(deployment_id));
    if exists {
        Ok(())
    } else {
        Err(ApiError::not_found(
            "Invalid Deployment identifier specified",
        ))
    }
}

pub fn create(op: &mut Op<'_>) -> Result<Reply, ApiError> {
    let input: CreateInput = op.req.json()?;
    let name = required(&input.stage_name, "stageName")?.to_string();
    let deployment_id = required(&input.deployment_id, "deploymentId")?.to_string();
    if !valid_stage_name(&name) {
        return Err(ApiError::bad_request(
            "Stage name only allows a-zA-Z0-9_ and -",
        ));
    }
    let mut doc = op.api_to_edit()?;
    deployment_exists(op, &doc.api.id, &deployment_id)?;
    if doc.stages.contains_key(&name) {
        return Err(ApiError::conflict("Stage already exists"));
    }
    validate_variables(&input.variables)?;
    let mut stage = Stage::new(&name, &deployment_id, op.now);
    stage.description = input.description;
    stage.variables = input.variables;
    stage.documentation_version = input.documentation_version;
    stage.canary_settings = input.canary_settings;
    stage.tracing_enabled = input.tracing_enabled;
    stage.tags = input.tags;
    if input.cache_cluster_enabled {
        let size = input.cache_cluster_size.unwrap_or_else(|| "0.5".into());
        validate_cache_size(&size)?;
        stage.cache_cluster_enabled = true;
        stage.cache_cluster_size = Some(size);
        stage.cache_cluster_status = "AVAILABLE".into();
    }
    let body = to_json(&stage)?;
    doc.stages.insert(name, stage);
    op.put_api(doc);
    Ok(Reply::created(body))
}

pub fn stage<'d>(doc: &'d RestApiDoc, name: &str) -> Result<&'d Stage, ApiError> {
    doc.stages
        .get(name)
        .ok_or_else(|| ApiError::not_found("Invalid Stage identifier specified"))
}

pub fn get(op: &mut Op<'_>) -> Result<Reply, ApiError> {
    Ok(Reply::ok(to_json(stage(
        op.api()?,
        op.param("stage_name"),
    )?)?))
}

/// GetStages is not paginated.
pub fn list(op: &mut Op<'_>) -> Result<Reply, ApiError> {
    let doc = op.api()?;
    let deployment = op.req.query("deploymentId");
    let items = doc
        .stages
        .values()
        .filter(|s| deployment.is_none_or(|d| s.deployment_id == d))
        .map(to_json)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Reply::ok(serde_json::json!({ "item": items })))
}

const METHOD_SETTING_PATHS: &[&str] = &[
    "metrics/enabled",
    "logging/dataTrace",
    "logging/loglevel",
    "throttling/burstLimit",
    "throttling/rateLimit",
    "caching/ttlInSeconds",
    "caching/enabled",
    "caching/dataEncrypted",
    "caching/requireAuthorizationForCacheControl",
    "caching/unauthorizedCacheControlHeaderStrategy",
];

/// AWS's text listing every accepted stage path.
fn invalid_path(path: &str) -> ApiError {
    let mut accepted: Vec<String> = [
        "/deploymentId",
        "/description",
        "/cacheClusterEnabled",
        "/cacheClusterSize",
        "/clientCertificateId",
        "/accessLogSettings",
        "/accessLogSettings/destinationArn",
        "/accessLogSettings/format",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for prefix in ["/{resourcePath}/{httpMethod}", "/*/*"] {
        accepted.extend(METHOD_SETTING_PATHS.iter().map(|s| format!("{prefix}/{s}")));
    }
    accepted.extend([
        "/variables/{variable_name}".into(),
        "/tracingEnabled".into(),
    ]);
    ApiError::bad_request(format!(
        "Invalid method setting path: {path}. Must be one of: [{}]",
        accepted.join(", ")
    ))
}

fn set_method_setting(
    setting: &mut MethodSetting,
    name: &str,
    patch: &PatchOperation,
) -> Result<(), ApiError> {
    match name {
        "metrics/enabled" => setting.metrics_enabled = patch.bool_value()?,
        "logging/dataTrace" => setting.data_trace_enabled = patch.bool_value()?,
        "logging/loglevel" => {
            let level = patch.value()?.to_ascii_uppercase();
            if !LOGGING_LEVELS.contains(&level.as_str()) {
                return Err(ApiError::bad_request(format!(
                    "Invalid logging level: {level}. Must be one of: [OFF, ERROR, INFO]"
                )));
            }
            setting.logging_level = Some(level);
        }
        "throttling/burstLimit" => {
            let burst = patch.int_value()?;
            if burst < 0 {
                return Err(ApiError::bad_request(
                    "Burst limit must be a non-negative integer",
                ));
            }
            setting.throttling_burst_limit = burst;
        }
        "throttling/rateLimit" => {
            let rate = patch.float_value()?;
            if rate < 0.0 {
                return Err(ApiError::bad_request(
                    "Rate limit must be a non-negative number",
                ));
            }
            setting.throttling_rate_limit = rate;
        }
        "caching/ttlInSeconds" => {
            let ttl = patch.int_value()?;
            if !(0..=3600).contains(&ttl) {
                return Err(ApiError::bad_request(
                    "Cache TTL must be between 0 and 3600 seconds",
                ));
            }
            setting.cache_ttl_in_seconds = ttl;
        }
        "caching/enabled" => setting.caching_enabled = patch.bool_value()?,
        "caching/dataEncrypted" => setting.cache_data_encrypted = patch.bool_value()?,
        "caching/requireAuthorizationForCacheControl" => {
            setting.require_authorization_for_cache_control = patch.bool_value()?
        }
        "caching/unauthorizedCacheControlHeaderStrategy" => {
            let strategy = patch.value()?;
            if !UNAUTHORIZED_CACHE_STRATEGIES.contains(&strategy) {
                return Err(ApiError::bad_request(format!(
                    "Invalid unauthorized cache control header strategy: {strategy}. Must be one of: [{}]",
                    UNAUTHORIZED_CACHE_STRATEGIES.join(", ")
                )));
            }
            setting.unauthorized_cache_control_header_strategy = strategy.to_string();
        }
        _ => return Err(invalid_path(&patch.path)),
    }
    Ok(())
}

/// Applies one patch to a stage. Method-setting keys keep the path's own
/// escaping (`/~1api/GET/…` → key `~1api/GET`), as AWS stores them.
fn apply_patch(
    op: &Op<'_>,
    api_id: &str,
    stage: &mut Stage,
    patch: &PatchOperation,
) -> Result<(), ApiError> {
    let raw: Vec<&str> = patch
        .path
        .strip_prefix('/')
        .unwrap_or(&patch.path)
        .split('/')
        .collect();
    let text = || patch.value.clone().filter(|v| !v.is_empty());
    match (patch.op, raw.as_slice()) {
        (PatchOp::Replace, ["deploymentId"]) => {
            let id = patch.value()?;
            deployment_exists(op, api_id, id)?;
            stage.deployment_id = id.to_string();
        }
        (PatchOp::Copy, ["deploymentId"])
            if patch.from.as_deref() == Some("/canarySettings/deploymentId") =>
        {
            let id = stage
                .canary_settings
                .as_ref()
                .and_then(|c| c.deployment_id.clone())
                .ok_or_else(|| {
                    ApiError::bad_request("The stage has no canary deployment to promote")
                })?;
            stage.deployment_id = id;
        }
        (PatchOp::Copy, ["variables"])
            if patch.from.as_deref() == Some("/canarySettings/stageVariableOverrides") =>
        {
            let overrides = stage
                .canary_settings
                .as_ref()
                .map(|c| c.stage_variable_overrides.clone())
                .unwrap_or_default();
            stage.variables.extend(overrides);
        }
        (PatchOp::Replace, ["description"]) => stage.description = text(),
        (PatchOp::Replace, ["clientCertificateId"]) => stage.client_certificate_id = text(),
        (PatchOp::Replace, ["documentationVersion"]) => stage.documentation_version = text(),
        (PatchOp::Replace, ["tracingEnabled"]) => stage.tracing_enabled = patch.bool_value()?,
        (PatchOp::Replace, ["cacheClusterEnabled"]) => {
            stage.cache_cluster_enabled = patch.bool_value()?;
            if stage.cache_cluster_enabled {
                stage.cache_cluster_status = "AVAILABLE".into();
                stage.cache_cluster_size.get_or_insert_with(|| "0.5".into());
            } else {
                stage.cache_cluster_status = "NOT_AVAILABLE".into();
            }
        }
        (PatchOp::Replace, ["cacheClusterSize"]) => {
            let size = patch.value()?;
            validate_cache_size(size)?;
            stage.cache_cluster_size = Some(size.to_string());
        }
        (PatchOp::Remove, ["accessLogSettings"]) => stage.access_log_settings = None,
        (PatchOp::Replace, ["accessLogSettings", field]) => {
            let value = patch
                .value
                .clone()
                .filter(|v| !v.is_empty())
                .ok_or_else(|| ApiError::bad_request("Access Log value must not be empty"))?;
            let settings = stage.access_log_settings.get_or_insert(AccessLogSettings {
                format: None,
                destination_arn: None,
            });
            match *field {
                "destinationArn" => {
                    if !(value.starts_with("arn:aws:logs:") || value.starts_with("arn:aws:firehose:")) {
                        return Err(ApiError::bad_request(format!(
                            "Invalid ARN specified in the request: {value}. Access log destination must be a CloudWatch Logs log group or a Kinesis Data Firehose delivery stream ARN"
                        )));
                    }
                    settings.destination_arn = Some(value)
                }
                "format" => {
                    if value.len() > 3072 {
                        return Err(ApiError::bad_request("Access log format must be at most 3 KB"));
                    }
                    settings.format = Some(value)
                }
                _ => {
                    return Err(ApiError::bad_request(
                        "Invalid accessLogSettings path. Must be one of : [/accessLogSettings/destinationArn, /accessLogSettings/format]",
                    ))
                }
            }
        }
        (PatchOp::Add | PatchOp::Replace, ["variables", name]) => {
            let name = tollgate_model::patch::unescape(name);
            let value = patch.value()?.to_string();
            if !valid_stage_variable(&name, &value) {
                return Err(ApiError::bad_request(format!(
                    "Stage variable names must be 1-64 characters of [A-Za-z0-9_] and values at most 512 characters: {name}"
                )));
            }
            stage.variables.insert(name, value);
        }
        (PatchOp::Remove, ["variables", name]) => {
            stage
                .variables
                .remove(&tollgate_model::patch::unescape(name));
        }
        (PatchOp::Remove, ["canarySettings"]) => stage.canary_settings = None,
        (PatchOp::Replace, ["canarySettings", field]) => {
            let canary = stage
                .canary_settings
                .get_or_insert_with(CanarySettings::default);
            match *field {
                "percentTraffic" => {
                    let pct = patch.float_value()?;
                    if !(0.0..=100.0).contains(&pct) {
                        return Err(ApiError::bad_request(
                            "percentTraffic must be between 0 and 100",
                        ));
                    }
                    canary.percent_traffic = Some(pct);
                }
                "deploymentId" => {
                    let id = patch.value()?;
                    deployment_exists(op, api_id, id)?;
                    canary.deployment_id = Some(id.to_string());
                }
                "useStageCache" => canary.use_stage_cache = patch.bool_value()?,
                _ => return Err(invalid_path(&patch.path)),
            }
        }
        (PatchOp::Add | PatchOp::Replace, ["canarySettings", "stageVariableOverrides", name]) => {
            let canary = stage
                .canary_settings
                .get_or_insert_with(CanarySettings::default);
            canary.stage_variable_overrides.insert(
                tollgate_model::patch::unescape(name),
                patch.value()?.to_string(),
            );
        }
        (PatchOp::Remove, ["canarySettings", "stageVariableOverrides", name]) => {
            if let Some(canary) = stage.canary_settings.as_mut() {
                canary
                    .stage_variable_overrides
                    .remove(&tollgate_model::patch::unescape(name));
            }
        }
        (PatchOp::Remove, [resource_path, http_method]) => {
            let key = format!("{resource_path}/{http_method}");
            if stage.method_settings.remove(&key).is_none() {
                return Err(ApiError::bad_request(format!(
                    "Cannot remove method setting {key} because there is no method setting for this method "
                )));
            }
        }
        (PatchOp::Replace, [resource_path, http_method, group, field]) => {
            let name = format!("{group}/{field}");
            if !METHOD_SETTING_PATHS.contains(&name.as_str()) {
                return Err(invalid_path(&patch.path));
            }
            if *http_method != "*" {
                tollgate_model::method::validate_http_method(http_method)?;
            }
            let key = format!("{resource_path}/{http_method}");
            // A new per-method entry starts from the current */* values (spec §1.6).
            let base = stage
                .method_settings
                .get("*/*")
                .cloned()
                .unwrap_or_default();
            let setting = stage.method_settings.entry(key).or_insert(base);
            set_method_setting(setting, &name, patch)?;
        }
        _ => return Err(invalid_path(&patch.path)),
    }
    Ok(())
}

pub fn update(op: &mut Op<'_>) -> Result<Reply, ApiError> {
    let input: PatchInput = op.req.json()?;
    let mut doc = op.api_to_edit()?;
    let name = op.param("stage_name").to_string();
    let mut stage = stage(&doc, &name)?.clone();
    for patch in &input.patch_operations {
        apply_patch(op, &doc.api.id, &mut stage, patch)?;
    }
    if let Some(format) = stage
        .access_log_settings
        .as_ref()
        .and_then(|s| s.format.as_ref())
    {
        if !format.contains("$context.requestId") && !format.contains("$context.extendedRequestId")
        {
            return Err(ApiError::bad_request(
                "Access Log format must contain either $context.requestId or $context.extendedRequestId",
            ));
        }
    }
    stage.last_updated_date = op.now;
    let body = to_json(&stage)?;
    doc.stages.insert(name, stage);
    op.put_api(doc);
    Ok(Reply::ok(body))
}

pub fn delete(op: &mut Op<'_>) -> Result<Reply, ApiError> {
    let mut doc = op.api_to_edit()?;
    let name = op.param("stage_name").to_string();
    if doc.stages.remove(&name).is_none() {
        return Err(ApiError::not_found("Invalid Stage identifier specified"));
    }
    let api_id = doc.api.id.clone();
    op.put_api(doc);
    // Usage plans stop covering the deleted stage.
    for (plan_id, plan) in &op.state.usage_plans {
        if plan
            .plan
            .api_stages
            .iter()
            .any(|s| s.api_id == api_id && s.stage == name)
        {
            let mut plan: UsagePlanDoc = plan.as_ref().clone();
            plan.plan
                .api_stages
                .retain(|s| !(s.api_id == api_id && s.stage == name));
            op.changes
                .push(Change::UsagePlan(plan_id.clone(), Some(Arc::new(plan))));
        }
    }
    Ok(Reply::accepted())
}

/// FlushStageCache / FlushStageAuthorizersCache. The response cache and the
/// authorizer cache arrive with the data plane; until then there is nothing to flush.
pub fn flush_cache(op: &mut Op<'_>) -> Result<Reply, ApiError> {
    stage(op.api()?, op.param("stage_name"))?;
    Ok(Reply::accepted())
}

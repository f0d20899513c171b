//! CreateRestApi, GetRestApi(s), UpdateRestApi, DeleteRestApi.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value;
use tollgate_model::patch::{PatchOp, PatchOperation};
use tollgate_model::resource::Resource;
use tollgate_model::rest_api::{
    EndpointConfiguration, RestApi, API_KEY_SOURCES, CREATION_SEQUENCE_MEMBER, ENDPOINT_TYPES,
};
use tollgate_model::state::{ApiDefinition, RestApiDoc};
use tollgate_model::usage_plan::UsagePlanDoc;
use tollgate_model::{ids, ApiError, Change, Tags};

use super::{check_enum, patch_input, required, to_json, validation_error, Op};
use crate::pagination::page;
use crate::request::Reply;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateInput {
    name: Option<String>,
    description: Option<String>,
    version: Option<String>,
    #[serde(default)]
    binary_media_types: Vec<String>,
    minimum_compression_size: Option<i64>,
    api_key_source: Option<String>,
    endpoint_configuration: Option<EndpointConfigurationInput>,
    policy: Option<String>,
    #[serde(default)]
    tags: Tags,
    #[serde(default)]
    disable_execute_api_endpoint: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EndpointConfigurationInput {
    #[serde(default)]
    types: Vec<String>,
    ip_address_type: Option<String>,
    #[serde(default)]
    vpc_endpoint_ids: Vec<String>,
}

fn compression_size_error() -> ApiError {
    ApiError::bad_request("Invalid minimum compression size, must be between 0 and 10485760")
}

fn validate_compression_size(size: i64) -> Result<(), ApiError> {
    if (0..=10_485_760).contains(&size) {
        Ok(())
    } else {
        Err(compression_size_error())
    }
}

const IP_ADDRESS_TYPES: &[&str] = &["ipv4", "dualstack"];
/// AWS lists the endpoint types in this order in its enum errors.
const ENDPOINT_TYPES_AS_LISTED: &[&str] = &["PRIVATE", "EDGE", "REGIONAL"];

/// The text of one enum constraint failure (`member` holds `value`).
fn enum_failure(value: &str, member: &str, allowed: &[&str]) -> String {
    format!(
        "Value '{value}' at '{member}' failed to satisfy constraint: Member must satisfy enum value set: [{}]",
        allowed.join(", ")
    )
}

/// AWS's enum checks of CreateRestApi, all reported together before any other check.
fn check_create_enums(input: &CreateInput) -> Result<(), ApiError> {
    let mut errors = Vec::new();
    if let Some(source) = &input.api_key_source {
        if !API_KEY_SOURCES.contains(&source.as_str()) {
            errors.push(enum_failure(
                source,
                "createRestApiInput.apiKeySource",
                API_KEY_SOURCES,
            ));
        }
    }
    if let Some(cfg) = &input.endpoint_configuration {
        if cfg
            .types
            .iter()
            .any(|t| !ENDPOINT_TYPES.contains(&t.as_str()))
        {
            errors.push(format!(
                "Value '[{}]' at 'createRestApiInput.endpointConfiguration.types' failed to satisfy constraint: Member must satisfy constraint: [Member must satisfy enum value set: [{}]]",
                cfg.types.join(", "),
                ENDPOINT_TYPES_AS_LISTED.join(", ")
            ));
        }
        if let Some(ip) = &cfg.ip_address_type {
            if !IP_ADDRESS_TYPES.contains(&ip.as_str()) {
                errors.push(enum_failure(
                    ip,
                    "createRestApiInput.endpointConfiguration.ipAddressType",
                    IP_ADDRESS_TYPES,
                ));
            }
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(validation_error(&errors))
    }
}

fn private_needs_dualstack(endpoint: &EndpointConfiguration) -> Result<(), ApiError> {
    let private = endpoint.types.iter().any(|t| t == "PRIVATE");
    if private && endpoint.ip_address_type.as_deref() != Some("dualstack") {
        return Err(ApiError::bad_request(
            "Only dualstack ipAddressType is supported for Private APIs.",
        ));
    }
    Ok(())
}

/// The endpoint configuration a new API gets: EDGE unless told otherwise, and
/// `ipv4` addressing except for PRIVATE APIs, which take only `dualstack`.
fn new_endpoint(
    cfg: Option<EndpointConfigurationInput>,
) -> Result<EndpointConfiguration, ApiError> {
    let Some(cfg) = cfg else {
        return Ok(EndpointConfiguration::default());
    };
    match cfg.types.len() {
        0 => {
            return Err(ApiError::bad_request(
                "REGIONAL Configuration and EDGE Configuration cannot be both DISABLED.",
            ))
        }
        1 => {}
        _ => {
            return Err(ApiError::bad_request(
                "Cannot create an api with multiple Endpoint Types.",
            ))
        }
    }
    let default_ip = if cfg.types.iter().any(|t| t == "PRIVATE") {
        "dualstack"
    } else {
        "ipv4"
    };
    let endpoint = EndpointConfiguration {
        ip_address_type: Some(cfg.ip_address_type.unwrap_or_else(|| default_ip.into())),
        types: cfg.types,
        vpc_endpoint_ids: cfg.vpc_endpoint_ids,
    };
    private_needs_dualstack(&endpoint)?;
    Ok(endpoint)
}

pub fn create(op: &mut Op<'_>) -> Result<Reply, ApiError> {
    let input: CreateInput = op.req.json()?;
    check_create_enums(&input)?;
    let name = required(&input.name, "name")?.to_string();
    if input.description.as_deref() == Some("") {
        return Err(ApiError::bad_request(
            "Description cannot be an empty string",
        ));
    }
    if let Some(size) = input.minimum_compression_size {
        validate_compression_size(size)?;
    }
    let endpoint = new_endpoint(input.endpoint_configuration)?;
    let api_key_source = input.api_key_source.unwrap_or_else(|| "HEADER".into());
    let state = op.state;
    let id = ids::unique(10, |id| state.rest_apis.contains_key(id));
    let root_id = ids::lower_alnum(10);
    let creation_sequence = state
        .rest_apis
        .values()
        .map(|doc| doc.api.creation_sequence)
        .max()
        .unwrap_or(0)
        + 1;
    let api = RestApi {
        id: id.clone(),
        name,
        description: input.description,
        created_date: op.now,
        version: input.version,
        binary_media_types: input.binary_media_types,
        minimum_compression_size: input.minimum_compression_size,
        api_key_source,
        endpoint_configuration: endpoint,
        policy: input.policy,
        tags: input.tags,
        disable_execute_api_endpoint: input.disable_execute_api_endpoint,
        root_resource_id: root_id.clone(),
        creation_sequence,
    };
    let root = Resource {
        id: root_id.clone(),
        parent_id: None,
        path_part: None,
        path: "/".into(),
        resource_methods: BTreeMap::new(),
    };
    let body = api_json(&api)?;
    op.put_api(RestApiDoc {
        api,
        definition: ApiDefinition {
            resources: BTreeMap::from([(root_id, root)]),
            models: super::models::default_models()
                .into_iter()
                .map(|m| (m.name.clone(), m))
                .collect(),
            ..ApiDefinition::default()
        },
        stages: BTreeMap::new(),
        documentation: Default::default(),
    });
    Ok(Reply::created(body))
}

/// A RestApi as AWS shows it (without Tollgate's bookkeeping members).
fn api_json(api: &RestApi) -> Result<Value, ApiError> {
    let mut value = to_json(api)?;
    if let Some(members) = value.as_object_mut() {
        members.remove(CREATION_SEQUENCE_MEMBER);
    }
    Ok(value)
}

pub fn get(op: &mut Op<'_>) -> Result<Reply, ApiError> {
    Ok(Reply::ok(api_json(&op.api()?.api)?))
}

/// Oldest first; the position token sorts the same way.
pub fn list(op: &mut Op<'_>) -> Result<Reply, ApiError> {
    let mut apis: Vec<&RestApi> = op.state.rest_apis.values().map(|doc| &doc.api).collect();
    apis.sort_by(|a, b| {
        (a.created_date, a.creation_sequence, &a.id).cmp(&(
            b.created_date,
            b.creation_sequence,
            &b.id,
        ))
    });
    let items = apis
        .into_iter()
        .map(|api| {
            let key = format!(
                "{:020}{:020}{}",
                api.created_date.max(0),
                api.creation_sequence,
                api.id
            );
            Ok((key, api_json(api)?))
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    Ok(Reply::ok(page(op.req, items)?))
}

/// An optional text member: `replace` sets it (empty clears it), `remove` clears it.
fn patch_text(patch: &PatchOperation, target: &mut Option<String>) -> Result<(), ApiError> {
    match patch.op {
        PatchOp::Replace => *target = patch.value.clone().filter(|v| !v.is_empty()),
        PatchOp::Remove => *target = None,
        _ => return Err(patch.invalid_path()),
    }
    Ok(())
}

/// One operation on `/endpointConfiguration/types/{index or current type}`.
fn patch_endpoint_type(
    patch: &PatchOperation,
    endpoint: &mut EndpointConfiguration,
    which: &str,
) -> Result<(), ApiError> {
    if patch.op != PatchOp::Replace {
        return Err(ApiError::bad_request(
            "Invalid patch operation specified. Must be 'add'|'remove'|'replace'",
        ));
    }
    let new = patch.value.as_deref().unwrap_or_default();
    if !ENDPOINT_TYPES.contains(&new) {
        return Err(ApiError::bad_request(
            "Invalid EndpointTypes specified. Valid options are REGIONAL,EDGE,PRIVATE",
        ));
    }
    let slot = match which.parse::<usize>() {
        Ok(index) => endpoint.types.get_mut(index),
        Err(_) => endpoint.types.iter_mut().find(|t| t.as_str() == which),
    };
    let Some(slot) = slot else {
        return Err(patch.invalid_path());
    };
    *slot = new.to_string();
    // A PRIVATE API takes only dualstack addressing, so becoming one switches to it.
    if new == "PRIVATE" {
        endpoint.ip_address_type = Some("dualstack".into());
    }
    Ok(())
}

fn apply_patch(api: &mut RestApi, patch: &PatchOperation) -> Result<(), ApiError> {
    let segments = patch.segments();
    let segs: Vec<&str> = segments.iter().map(String::as_str).collect();
    match segs.as_slice() {
        ["name"] => {
            patch.expect_op(&[PatchOp::Replace])?;
            let name = patch.value.as_deref().unwrap_or_default();
            if name.is_empty() {
                return Err(ApiError::bad_request("Name cannot be empty"));
            }
            api.name = name.to_string();
        }
        ["description"] => patch_text(patch, &mut api.description)?,
        ["version"] => patch_text(patch, &mut api.version)?,
        ["policy"] => patch_text(patch, &mut api.policy)?,
        ["apiKeySource"] => {
            patch.expect_op(&[PatchOp::Replace])?;
            let v = patch.value()?;
            check_enum(v, "updateRestApiInput.apiKeySource", API_KEY_SOURCES)?;
            api.api_key_source = v.to_string();
        }
        ["disableExecuteApiEndpoint"] => {
            patch.expect_op(&[PatchOp::Replace])?;
            api.disable_execute_api_endpoint = patch.bool_value()?
        }
        ["minimumCompressionSize"] => {
            patch.expect_op(&[PatchOp::Replace])?;
            // A null or empty value turns compression off.
            api.minimum_compression_size = match patch.value.as_deref().map(str::trim) {
                None | Some("") => None,
                Some(v) => {
                    let size = v.parse().map_err(|_| compression_size_error())?;
                    validate_compression_size(size)?;
                    Some(size)
                }
            }
        }
        // The list is patched like a map keyed by media type; a replace
        // removes the old type and appends the new one.
        ["binaryMediaTypes", media_type] => {
            let types = &mut api.binary_media_types;
            match patch.op {
                PatchOp::Add => {
                    if !types.iter().any(|t| t == media_type) {
                        types.push(media_type.to_string());
                    }
                }
                PatchOp::Remove => types.retain(|t| t != media_type),
                PatchOp::Replace => {
                    let new = patch.value()?.to_string();
                    types.retain(|t| t != media_type);
                    if !types.contains(&new) {
                        types.push(new);
                    }
                }
                _ => return Err(patch.invalid_path()),
            }
        }
        ["endpointConfiguration", "types", which] => {
            patch_endpoint_type(patch, &mut api.endpoint_configuration, which)?
        }
        ["endpointConfiguration", "ipAddressType"] => {
            patch.expect_op(&[PatchOp::Replace])?;
            let new = patch.value.as_deref().unwrap_or_default();
            if !IP_ADDRESS_TYPES.contains(&new) {
                return Err(ApiError::bad_request(
                    "ipAddressType must be either ipv4 or dualstack.",
                ));
            }
            api.endpoint_configuration.ip_address_type = Some(new.to_string());
        }
        _ => return Err(patch.invalid_path()),
    }
    Ok(())
}

pub fn update(op: &mut Op<'_>) -> Result<Reply, ApiError> {
    let input = patch_input(op, "updateRestApiInput")?;
    let mut doc = op.api_to_edit()?;
    for patch in &input.patch_operations {
        apply_patch(&mut doc.api, patch)?;
    }
    private_needs_dualstack(&doc.api.endpoint_configuration)?;
    let mut body = api_json(&doc.api)?;
    // UpdateRestApi's answer always carries `tags`, empty or not.
    if let Some(members) = body.as_object_mut() {
        members
            .entry("tags")
            .or_insert_with(|| Value::Object(Default::default()));
    }
    op.put_api(doc);
    Ok(Reply::ok(body))
}

pub fn delete(op: &mut Op<'_>) -> Result<Reply, ApiError> {
    let id = op.api()?.api.id.clone();
    op.changes.push(Change::RestApi(id.clone(), None));
    if let Some(deployments) = op.state.deployments.get(&id) {
        for deployment_id in deployments.keys() {
            op.changes.push(Change::Deployment {
                api_id: id.clone(),
                deployment_id: deployment_id.clone(),
                doc: None,
            });
        }
    }
    // Usage plans stop referring to the API's stages, as they would on AWS.
    for (plan_id, plan) in &op.state.usage_plans {
        if plan.plan.api_stages.iter().any(|s| s.api_id == id) {
            let mut plan: UsagePlanDoc = plan.as_ref().clone();
            plan.plan.api_stages.retain(|s| s.api_id != id);
            op.changes
                .push(Change::UsagePlan(plan_id.clone(), Some(Arc::new(plan))));
        }
    }
    Ok(Reply::accepted())
}

//! CreateRestApi, GetRestApi(s), UpdateRestApi, DeleteRestApi.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Deserialize;
use tollgate_model::patch::PatchOp;
use tollgate_model::resource::Resource;
use tollgate_model::rest_api::{EndpointConfiguration, RestApi, API_KEY_SOURCES, ENDPOINT_TYPES};
use tollgate_model::state::{ApiDefinition, RestApiDoc};
use tollgate_model::usage_plan::UsagePlanDoc;
use tollgate_model::{ids, ApiError, Change, Tags};

use super::{check_enum, required, to_json, Op, PatchInput};
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

fn validate_compression_size(size: i64) -> Result<(), ApiError> {
    if (0..=10_485_760).contains(&size) {
        Ok(())
    } else {
        Err(ApiError::bad_request(
            "Invalid minimum compression size, must be between 0 and 10485760",
        ))
    }
}

pub fn create(op: &mut Op<'_>) -> Result<Reply, ApiError> {
    let input: CreateInput = op.req.json()?;
    let name = required(&input.name, "name")?.to_string();
    let api_key_source = input.api_key_source.unwrap_or_else(|| "HEADER".into());
    check_enum(
        &api_key_source,
        "createRestApiInput.apiKeySource",
        API_KEY_SOURCES,
    )?;
    let mut endpoint = EndpointConfiguration::default();
    if let Some(cfg) = input.endpoint_configuration {
        if !cfg.types.is_empty() {
            if cfg.types.len() > 1 {
                return Err(ApiError::bad_request(
                    "Cannot create an api with multiple Endpoint Types.",
                ));
            }
            for t in &cfg.types {
                check_enum(
                    t,
                    "createRestApiInput.endpointConfiguration.types",
                    ENDPOINT_TYPES,
                )?;
            }
            endpoint.types = cfg.types;
        }
        if let Some(ip) = cfg.ip_address_type {
            check_enum(
                &ip,
                "createRestApiInput.endpointConfiguration.ipAddressType",
                &["ipv4", "dualstack"],
            )?;
            endpoint.ip_address_type = Some(ip);
        }
        endpoint.vpc_endpoint_ids = cfg.vpc_endpoint_ids;
    }
    if let Some(size) = input.minimum_compression_size {
        validate_compression_size(size)?;
    }
    let state = op.state;
    let id = ids::unique(10, |id| state.rest_apis.contains_key(id));
    let root_id = ids::lower_alnum(10);
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
    };
    let root = Resource {
        id: root_id.clone(),
        parent_id: None,
        path_part: None,
        path: "/".into(),
        resource_methods: BTreeMap::new(),
    };
    let body = to_json(&api)?;
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

pub fn get(op: &mut Op<'_>) -> Result<Reply, ApiError> {
    Ok(Reply::ok(to_json(&op.api()?.api)?))
}

pub fn list(op: &mut Op<'_>) -> Result<Reply, ApiError> {
    let items = op
        .state
        .rest_apis
        .iter()
        .map(|(id, doc)| Ok((id.clone(), to_json(&doc.api)?)))
        .collect::<Result<Vec<_>, ApiError>>()?;
    Ok(Reply::ok(page(op.req, items)?))
}

pub fn update(op: &mut Op<'_>) -> Result<Reply, ApiError> {
    let input: PatchInput = op.req.json()?;
    let mut doc = op.api_to_edit()?;
    let api = &mut doc.api;
    for patch in &input.patch_operations {
        let segments = patch.segments();
        let segs: Vec<&str> = segments.iter().map(String::as_str).collect();
        match (patch.op, segs.as_slice()) {
            (PatchOp::Replace, ["name"]) => {
                let name = patch.value()?;
                if name.is_empty() {
                    return Err(ApiError::bad_request("Name cannot be empty"));
                }
                api.name = name.to_string();
            }
            (PatchOp::Replace, ["description"]) => {
                api.description = patch.value.clone().filter(|v| !v.is_empty())
            }
            (PatchOp::Replace, ["version"]) => {
                api.version = patch.value.clone().filter(|v| !v.is_empty())
            }
            (PatchOp::Replace, ["policy"]) => {
                api.policy = patch.value.clone().filter(|v| !v.is_empty())
            }
            (PatchOp::Replace, ["apiKeySource"]) => {
                let v = patch.value()?;
                check_enum(v, "updateRestApiInput.apiKeySource", API_KEY_SOURCES)?;
                api.api_key_source = v.to_string();
            }
            (PatchOp::Replace, ["disableExecuteApiEndpoint"]) => {
                api.disable_execute_api_endpoint = patch.bool_value()?
            }
            (PatchOp::Replace, ["minimumCompressionSize"]) => {
                api.minimum_compression_size = match patch.value.as_deref() {
                    None | Some("") => None,
                    Some(_) => {
                        let size = patch.int_value()?;
                        validate_compression_size(size)?;
                        Some(size)
                    }
                }
            }
            (PatchOp::Add, ["binaryMediaTypes", media_type]) => {
                if !api.binary_media_types.iter().any(|t| t == media_type) {
                    api.binary_media_types.push(media_type.to_string());
                }
            }
            (PatchOp::Remove, ["binaryMediaTypes", media_type]) => {
                api.binary_media_types.retain(|t| t != media_type)
            }
            (PatchOp::Replace, ["binaryMediaTypes", media_type]) => {
                let new = patch.value()?.to_string();
                match api.binary_media_types.iter_mut().find(|t| t == media_type) {
                    Some(t) => *t = new,
                    None => return Err(patch.unsupported()),
                }
            }
            (PatchOp::Replace, ["endpointConfiguration", "types", old]) => {
                let new = patch.value()?;
                check_enum(
                    new,
                    "updateRestApiInput.endpointConfiguration.types",
                    ENDPOINT_TYPES,
                )?;
                match api
                    .endpoint_configuration
                    .types
                    .iter_mut()
                    .find(|t| t == old)
                {
                    Some(t) => *t = new.to_string(),
                    None => return Err(patch.unsupported()),
                }
            }
            (PatchOp::Replace, ["endpointConfiguration", "types", ..])
            | (PatchOp::Replace, ["endpointConfiguration", "ipAddressType"]) => {
                let new = patch.value()?;
                check_enum(
                    new,
                    "updateRestApiInput.endpointConfiguration.ipAddressType",
                    &["ipv4", "dualstack"],
                )?;
                api.endpoint_configuration.ip_address_type = Some(new.to_string());
            }
            _ => return Err(patch.unsupported()),
        }
    }
    let body = to_json(&doc.api)?;
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

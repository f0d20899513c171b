//! API Gateway operations, one module per resource kind, and the route table.

mod account;
mod api_keys;
mod authorizers;
mod base_path_mappings;
mod client_certificates;
mod deployments;
mod documentation;
mod domain_names;
mod gateway_responses;
pub mod iam;
mod integrations;
pub mod lambda;
mod methods;
mod models;
pub(crate) mod openapi;
mod request_validators;
mod resources;
mod rest_apis;
pub mod secrets;
mod stages;
mod tags;
mod usage;
mod usage_plans;
mod violations;
mod vpc_links;

use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;
use tollgate_model::method::Method;
use tollgate_model::resource::Resource;
use tollgate_model::state::RestApiDoc;
use tollgate_model::{ApiError, Change, ErrorCode, State};

use crate::request::{ControlRequest, Reply};
use crate::router::Params;
use crate::ControlConfig;

/// One operation in progress: what it reads and the changes it collects.
pub struct Op<'a> {
    pub state: &'a State,
    pub req: &'a ControlRequest,
    pub params: Params,
    pub now: i64,
    pub config: &'a ControlConfig,
    pub changes: Vec<Change>,
    /// Shared usage counters, read by GetUsage and UpdateUsage instead of the store's.
    pub usage_counts: Option<&'a dyn crate::UsageCounts>,
}

pub type Handler = fn(&mut Op<'_>) -> Result<Reply, ApiError>;

/// Every operation: HTTP method, path template (matchit syntax), handler.
pub const ROUTES: &[(&str, &str, Handler)] = &[
    ("POST", "/restapis", openapi::create_or_import),
    ("GET", "/restapis", rest_apis::list),
    ("GET", "/restapis/{restapi_id}", rest_apis::get),
    ("PUT", "/restapis/{restapi_id}", openapi::put_rest_api),
    ("PATCH", "/restapis/{restapi_id}", rest_apis::update),
    ("DELETE", "/restapis/{restapi_id}", rest_apis::delete),
    ("GET", "/restapis/{restapi_id}/resources", resources::list),
    ("POST", "/restapis/{restapi_id}/resources/{resource_id}", resources::create),
    ("GET", "/restapis/{restapi_id}/resources/{resource_id}", resources::get),
    ("PATCH", "/restapis/{restapi_id}/resources/{resource_id}", resources::update),
    ("DELETE", "/restapis/{restapi_id}/resources/{resource_id}", resources::delete),
    ("PUT", "/restapis/{restapi_id}/resources/{resource_id}/methods/{http_method}", methods::put),
    ("GET", "/restapis/{restapi_id}/resources/{resource_id}/methods/{http_method}", methods::get),
    ("PATCH", "/restapis/{restapi_id}/resources/{resource_id}/methods/{http_method}", methods::update),
    ("DELETE", "/restapis/{restapi_id}/resources/{resource_id}/methods/{http_method}", methods::delete),
    ("PUT", "/restapis/{restapi_id}/resources/{resource_id}/methods/{http_method}/responses/{status_code}", methods::put_response),
    ("GET", "/restapis/{restapi_id}/resources/{resource_id}/methods/{http_method}/responses/{status_code}", methods::get_response),
    ("PATCH", "/restapis/{restapi_id}/resources/{resource_id}/methods/{http_method}/responses/{status_code}", methods::update_response),
    ("DELETE", "/restapis/{restapi_id}/resources/{resource_id}/methods/{http_method}/responses/{status_code}", methods::delete_response),
    ("PUT", "/restapis/{restapi_id}/resources/{resource_id}/methods/{http_method}/integration", integrations::put),
    ("GET", "/restapis/{restapi_id}/resources/{resource_id}/methods/{http_method}/integration", integrations::get),
    ("PATCH", "/restapis/{restapi_id}/resources/{resource_id}/methods/{http_method}/integration", integrations::update),
    ("DELETE", "/restapis/{restapi_id}/resources/{resource_id}/methods/{http_method}/integration", integrations::delete),
    ("PUT", "/restapis/{restapi_id}/resources/{resource_id}/methods/{http_method}/integration/responses/{status_code}", integrations::put_response),
    ("GET", "/restapis/{restapi_id}/resources/{resource_id}/methods/{http_method}/integration/responses/{status_code}", integrations::get_response),
    ("PATCH", "/restapis/{restapi_id}/resources/{resource_id}/methods/{http_method}/integration/responses/{status_code}", integrations::update_response),
    ("DELETE", "/restapis/{restapi_id}/resources/{resource_id}/methods/{http_method}/integration/responses/{status_code}", integrations::delete_response),
    ("POST", "/restapis/{restapi_id}/deployments", deployments::create),
    ("GET", "/restapis/{restapi_id}/deployments", deployments::list),
    ("GET", "/restapis/{restapi_id}/deployments/{deployment_id}", deployments::get),
    ("PATCH", "/restapis/{restapi_id}/deployments/{deployment_id}", deployments::update),
    ("DELETE", "/restapis/{restapi_id}/deployments/{deployment_id}", deployments::delete),
    ("POST", "/restapis/{restapi_id}/stages", stages::create),
    ("GET", "/restapis/{restapi_id}/stages", stages::list),
    ("GET", "/restapis/{restapi_id}/stages/{stage_name}", stages::get),
    ("PATCH", "/restapis/{restapi_id}/stages/{stage_name}", stages::update),
    ("DELETE", "/restapis/{restapi_id}/stages/{stage_name}", stages::delete),
    ("GET", "/restapis/{restapi_id}/stages/{stage_name}/exports/{export_type}", openapi::get_export),
    ("DELETE", "/restapis/{restapi_id}/stages/{stage_name}/cache/data", stages::flush_cache),
    ("DELETE", "/restapis/{restapi_id}/stages/{stage_name}/cache/authorizers", stages::flush_cache),
    ("POST", "/restapis/{restapi_id}/models", models::create),
    ("GET", "/restapis/{restapi_id}/models", models::list),
    ("GET", "/restapis/{restapi_id}/models/{model_name}", models::get),
    ("PATCH", "/restapis/{restapi_id}/models/{model_name}", models::update),
    ("DELETE", "/restapis/{restapi_id}/models/{model_name}", models::delete),
    ("POST", "/restapis/{restapi_id}/requestvalidators", request_validators::create),
    ("GET", "/restapis/{restapi_id}/requestvalidators", request_validators::list),
    ("GET", "/restapis/{restapi_id}/requestvalidators/{validator_id}", request_validators::get),
    ("PATCH", "/restapis/{restapi_id}/requestvalidators/{validator_id}", request_validators::update),
    ("DELETE", "/restapis/{restapi_id}/requestvalidators/{validator_id}", request_validators::delete),
    ("POST", "/restapis/{restapi_id}/authorizers", authorizers::create),
    ("GET", "/restapis/{restapi_id}/authorizers", authorizers::list),
    ("GET", "/restapis/{restapi_id}/authorizers/{authorizer_id}", authorizers::get),
    ("PATCH", "/restapis/{restapi_id}/authorizers/{authorizer_id}", authorizers::update),
    ("DELETE", "/restapis/{restapi_id}/authorizers/{authorizer_id}", authorizers::delete),
    ("GET", "/restapis/{restapi_id}/gatewayresponses", gateway_responses::list),
    ("PUT", "/restapis/{restapi_id}/gatewayresponses/{response_type}", gateway_responses::put),
    ("GET", "/restapis/{restapi_id}/gatewayresponses/{response_type}", gateway_responses::get),
    ("PATCH", "/restapis/{restapi_id}/gatewayresponses/{response_type}", gateway_responses::update),
    ("DELETE", "/restapis/{restapi_id}/gatewayresponses/{response_type}", gateway_responses::delete),
    ("POST", "/restapis/{restapi_id}/documentation/parts", documentation::create),
    ("GET", "/restapis/{restapi_id}/documentation/parts", documentation::list),
    ("PUT", "/restapis/{restapi_id}/documentation/parts", documentation::import::import),
    ("GET", "/restapis/{restapi_id}/documentation/parts/{documentation_part_id}", documentation::get),
    ("PATCH", "/restapis/{restapi_id}/documentation/parts/{documentation_part_id}", documentation::update),
    ("DELETE", "/restapis/{restapi_id}/documentation/parts/{documentation_part_id}", documentation::delete),
    ("POST", "/restapis/{restapi_id}/documentation/versions", documentation::versions::create),
    ("GET", "/restapis/{restapi_id}/documentation/versions", documentation::versions::list),
    ("GET", "/restapis/{restapi_id}/documentation/versions/{doc_version}", documentation::versions::get),
    ("PATCH", "/restapis/{restapi_id}/documentation/versions/{doc_version}", documentation::versions::update),
    ("DELETE", "/restapis/{restapi_id}/documentation/versions/{doc_version}", documentation::versions::delete),
    ("POST", "/clientcertificates", client_certificates::generate),
    ("GET", "/clientcertificates", client_certificates::list),
    ("GET", "/clientcertificates/{clientcertificate_id}", client_certificates::get),
    ("PATCH", "/clientcertificates/{clientcertificate_id}", client_certificates::update),
    ("DELETE", "/clientcertificates/{clientcertificate_id}", client_certificates::delete),
    ("POST", "/domainnames", domain_names::create),
    ("GET", "/domainnames", domain_names::list),
    ("GET", "/domainnames/{domain_name}", domain_names::get),
    ("PATCH", "/domainnames/{domain_name}", domain_names::update),
    ("DELETE", "/domainnames/{domain_name}", domain_names::delete),
    ("POST", "/domainnames/{domain_name}/basepathmappings", base_path_mappings::create),
    ("GET", "/domainnames/{domain_name}/basepathmappings", base_path_mappings::list),
    ("GET", "/domainnames/{domain_name}/basepathmappings/{base_path}", base_path_mappings::get),
    ("PATCH", "/domainnames/{domain_name}/basepathmappings/{base_path}", base_path_mappings::update),
    ("DELETE", "/domainnames/{domain_name}/basepathmappings/{base_path}", base_path_mappings::delete),
    ("POST", "/vpclinks", vpc_links::create),
    ("GET", "/vpclinks", vpc_links::list),
    ("GET", "/vpclinks/{vpclink_id}", vpc_links::get),
    ("PATCH", "/vpclinks/{vpclink_id}", vpc_links::update),
    ("DELETE", "/vpclinks/{vpclink_id}", vpc_links::delete),
    ("POST", "/apikeys", api_keys::create),
    ("GET", "/apikeys", api_keys::list),
    ("GET", "/apikeys/{api_key}", api_keys::get),
    ("PATCH", "/apikeys/{api_key}", api_keys::update),
    ("DELETE", "/apikeys/{api_key}", api_keys::delete),
    ("POST", "/usageplans", usage_plans::create),
    ("GET", "/usageplans", usage_plans::list),
    ("GET", "/usageplans/{usageplan_id}", usage_plans::get),
    ("PATCH", "/usageplans/{usageplan_id}", usage_plans::update),
    ("DELETE", "/usageplans/{usageplan_id}", usage_plans::delete),
    ("POST", "/usageplans/{usageplan_id}/keys", usage_plans::create_key),
    ("GET", "/usageplans/{usageplan_id}/keys", usage_plans::list_keys),
    ("GET", "/usageplans/{usageplan_id}/keys/{key_id}", usage_plans::get_key),
    ("DELETE", "/usageplans/{usageplan_id}/keys/{key_id}", usage_plans::delete_key),
    ("GET", "/usageplans/{usageplan_id}/usage", usage::get),
    ("PATCH", "/usageplans/{usageplan_id}/keys/{key_id}/usage", usage::update),
    ("GET", "/tags/{resource_arn}", tags::get),
    ("PUT", "/tags/{resource_arn}", tags::tag),
    ("DELETE", "/tags/{resource_arn}", tags::untag),
    ("GET", "/account", account::get),
    ("PATCH", "/account", account::update),
    // Lambda (rest-json, SigV4 service `lambda`).
    ("POST", "/2015-03-31/functions", lambda::create),
    ("GET", "/2015-03-31/functions", lambda::list),
    ("GET", "/2015-03-31/functions/{function_name}", lambda::get),
    ("DELETE", "/2015-03-31/functions/{function_name}", lambda::delete),
    ("GET", "/2015-03-31/functions/{function_name}/configuration", lambda::get_configuration),
    ("PUT", "/2015-03-31/functions/{function_name}/configuration", lambda::update_configuration),
    ("PUT", "/2015-03-31/functions/{function_name}/code", lambda::update_code),
    ("PUT", "/2017-10-31/functions/{function_name}/concurrency", lambda::put_concurrency),
    ("DELETE", "/2017-10-31/functions/{function_name}/concurrency", lambda::delete_concurrency),
    ("GET", "/2019-09-30/functions/{function_name}/concurrency", lambda::get_concurrency),
    ("POST", "/2015-03-31/functions/{function_name}/policy", lambda::add_permission),
    ("GET", "/2015-03-31/functions/{function_name}/policy", lambda::get_policy),
    ("DELETE", "/2015-03-31/functions/{function_name}/policy/{statement_id}", lambda::remove_permission),
];

impl Op<'_> {
    /// A path parameter (the router guarantees the template's names exist).
    pub fn param(&self, name: &str) -> &str {
        self.params.get(name).map(String::as_str).unwrap_or("")
    }

    /// The API named by `{restapi_id}`.
    pub fn api(&self) -> Result<&Arc<RestApiDoc>, ApiError> {
        let id = self.param("restapi_id");
        self.state.rest_apis.get(id).ok_or_else(|| {
            ApiError::not_found(format!(
                "Invalid API identifier specified {}:{id}",
                self.config.account_id
            ))
        })
    }

    /// A copy of the API to modify and [`Op::put_api`] back.
    pub fn api_to_edit(&self) -> Result<RestApiDoc, ApiError> {
        Ok(self.api()?.as_ref().clone())
    }

    /// The API of an operation on a resource or below it (methods,
    /// integrations, their responses): AWS names the resource, not the API,
    /// when the API does not exist.
    pub fn resource_api(&self) -> Result<&Arc<RestApiDoc>, ApiError> {
        self.api()
            .map_err(|_| ApiError::not_found("Invalid Resource identifier specified"))
    }

    /// A copy of [`Op::resource_api`] to modify and [`Op::put_api`] back.
    pub fn resource_api_to_edit(&self) -> Result<RestApiDoc, ApiError> {
        Ok(self.resource_api()?.as_ref().clone())
    }

    /// The method named by `{resource_id}` and `{http_method}`, as it is now.
    pub fn method(&self) -> Result<&Method, ApiError> {
        method(
            resource(self.resource_api()?, self.param("resource_id"))?,
            self.param("http_method"),
        )
    }

    pub fn put_api(&mut self, doc: RestApiDoc) {
        self.changes
            .push(Change::RestApi(doc.api.id.clone(), Some(Arc::new(doc))));
    }
}

/// The resource `id` of `doc`.
pub fn resource<'d>(doc: &'d RestApiDoc, id: &str) -> Result<&'d Resource, ApiError> {
    doc.definition
        .resources
        .get(id)
        .ok_or_else(|| ApiError::not_found("Invalid Resource identifier specified"))
}

pub fn resource_mut<'d>(doc: &'d mut RestApiDoc, id: &str) -> Result<&'d mut Resource, ApiError> {
    doc.definition
        .resources
        .get_mut(id)
        .ok_or_else(|| ApiError::not_found("Invalid Resource identifier specified"))
}

/// The method `http_method` of a resource.
pub fn method<'r>(resource: &'r Resource, http_method: &str) -> Result<&'r Method, ApiError> {
    resource
        .resource_methods
        .get(http_method)
        .ok_or_else(|| ApiError::not_found("Invalid Method identifier specified"))
}

pub fn method_mut<'r>(
    resource: &'r mut Resource,
    http_method: &str,
) -> Result<&'r mut Method, ApiError> {
    resource
        .resource_methods
        .get_mut(http_method)
        .ok_or_else(|| ApiError::not_found("Invalid Method identifier specified"))
}

/// The error for a method or integration response status that is not defined.
pub fn unknown_status() -> ApiError {
    ApiError::not_found("Invalid Response status code specified")
}

/// Serializes a model value for a reply.
pub fn to_json<T: Serialize>(value: &T) -> Result<Value, ApiError> {
    serde_json::to_value(value).map_err(|_| ApiError::internal())
}

/// Fails with AWS's enum-violation error unless `value` is in `allowed`.
pub fn check_enum(value: &str, member: &str, allowed: &[&str]) -> Result<(), ApiError> {
    if allowed.contains(&value) {
        Ok(())
    } else {
        Err(ApiError::enum_value(value, member, allowed))
    }
}

/// A required string member.
pub fn required<'v>(value: &'v Option<String>, member: &str) -> Result<&'v str, ApiError> {
    match value.as_deref() {
        Some(v) if !v.is_empty() => Ok(v),
        _ => Err(ApiError::new(
            ErrorCode::BadRequest,
            format!("{member} is required and must not be empty"),
        )),
    }
}

/// Applies a `/name`-style map patch (`add`/`replace` set, `remove` deletes).
pub fn patch_map<V>(
    map: &mut std::collections::BTreeMap<String, V>,
    op: &tollgate_model::patch::PatchOperation,
    key: String,
    value: impl FnOnce(&str) -> Result<V, ApiError>,
) -> Result<(), ApiError> {
    use tollgate_model::patch::PatchOp;
    match op.op {
        PatchOp::Add | PatchOp::Replace => {
            let v = value(op.value()?)?;
            map.insert(key, v);
            Ok(())
        }
        PatchOp::Remove => {
            map.remove(&key);
            Ok(())
        }
        _ => Err(op.unsupported()),
    }
}

/// AWS's ValidationException for one or more constraint failures, in the order found.
pub fn validation_error(errors: &[String]) -> ApiError {
    let count = match errors.len() {
        1 => "1 validation error".to_string(),
        n => format!("{n} validation errors"),
    };
    ApiError::new(
        ErrorCode::Validation,
        format!("{count} detected: {}", errors.join("; ")),
    )
}

/// The `patchOperations` of an Update* call whose input shape is `input_name`
/// (`updateRestApiInput`, …): an unknown `op` fails as AWS's enum check does,
/// before anything else is looked at.
pub fn patch_input(op: &Op<'_>, input_name: &str) -> Result<PatchInput, ApiError> {
    let body: Value = op.req.json()?;
    let errors: Vec<String> = body
        .get("patchOperations")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
        .filter_map(|(i, p)| {
            let name = p.get("op")?.as_str()?;
            let known = ["add", "remove", "move", "test", "replace", "copy"];
            (!known.contains(&name)).then(|| {
                format!(
                    "Value '{name}' at '{input_name}.patchOperations.{}.member.op' failed to satisfy constraint: Member must satisfy enum value set: [{}]",
                    i + 1,
                    known.join(", ")
                )
            })
        })
        .collect();
    if !errors.is_empty() {
        return Err(validation_error(&errors));
    }
    serde_json::from_value(body)
        .map_err(|e| ApiError::bad_request(format!("Invalid request body: {e}")))
}

/// The `patchOperations` member of an Update* call.
#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct PatchInput {
    #[serde(default)]
    pub patch_operations: Vec<tollgate_model::patch::PatchOperation>,
}

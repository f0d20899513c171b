//! PutMethod, GetMethod, UpdateMethod, DeleteMethod and the MethodResponse operations.

use std::collections::BTreeMap;

use serde::Deserialize;
use tollgate_model::method::{
    validate_http_method, validate_request_parameter_key, validate_request_parameter_names, Method,
    MethodResponse, AUTHORIZATION_TYPES,
};
use tollgate_model::patch::PatchOp;
use tollgate_model::state::RestApiDoc;
use tollgate_model::{ApiError, ErrorCode};

use super::violations::Violations;
use super::{
    check_enum, method, method_mut, patch_map, resource, resource_mut, to_json, unknown_status, Op,
    PatchInput,
};
use crate::request::Reply;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PutInput {
    authorization_type: Option<String>,
    authorizer_id: Option<String>,
    #[serde(default)]
    api_key_required: bool,
    operation_name: Option<String>,
    #[serde(default)]
    request_parameters: BTreeMap<String, bool>,
    #[serde(default)]
    request_models: BTreeMap<String, String>,
    request_validator_id: Option<String>,
    #[serde(default)]
    authorization_scopes: Vec<String>,
}

/// Cross-references a method makes must resolve within its API.
pub(super) fn check_method_refs(doc: &RestApiDoc, m: &Method) -> Result<(), ApiError> {
    check_enum(
        &m.authorization_type,
        "putMethodInput.authorizationType",
        AUTHORIZATION_TYPES,
    )?;
    if matches!(
        m.authorization_type.as_str(),
        "CUSTOM" | "COGNITO_USER_POOLS"
    ) {
        let valid = m
            .authorizer_id
            .as_ref()
            .is_some_and(|id| doc.definition.authorizers.contains_key(id));
        if !valid {
            return Err(ApiError::bad_request(
                "Invalid authorizer ID specified. Setting the authorization type to CUSTOM or COGNITO_USER_POOLS requires a valid authorizer.",
            ));
        }
    }
    if m.authorization_type == "COGNITO_USER_POOLS" {
        // Served, such a method would have to verify Cognito tokens, and
        // Tollgate has no user pools: refused here rather than left open.
        return Err(ApiError::bad_request(
            "Tollgate does not support authorization type COGNITO_USER_POOLS (it has no Cognito user pools to verify tokens against). Use AWS_IAM, or CUSTOM with a Lambda authorizer.",
        ));
    }
    if let Some(validator) = &m.request_validator_id {
        if !doc.definition.request_validators.contains_key(validator) {
            return Err(ApiError::bad_request(
                "Invalid Request Validator identifier specified",
            ));
        }
    }
    for key in m.request_parameters.keys() {
        validate_request_parameter_key(key)?;
    }
    validate_request_parameter_names(m.request_parameters.keys())?;
    for model in m.request_models.values() {
        if !doc.definition.models.contains_key(model) {
            return Err(ApiError::bad_request(format!(
                "Invalid model identifier specified: {model}"
            )));
        }
    }
    Ok(())
}

fn http_method_param(op: &Op<'_>) -> Result<String, ApiError> {
    let m = op.param("http_method").to_string();
    validate_http_method(&m)?;
    Ok(m)
}

pub fn put(op: &mut Op<'_>) -> Result<Reply, ApiError> {
    let input: PutInput = op.req.json()?;
    // AWS looks up the API and the resource before it reads the method name.
    let mut doc = op.resource_api_to_edit()?;
    let resource_id = op.param("resource_id").to_string();
    resource(&doc, &resource_id)?;
    let http_method = http_method_param(op)?;
    let authorization_type = input
        .authorization_type
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            ApiError::bad_request("Enumeration value for AuthorizationType must be non-empty")
        })?;
    let new = Method {
        http_method: http_method.clone(),
        authorization_type,
        authorizer_id: input.authorizer_id.filter(|a| !a.is_empty()),
        api_key_required: input.api_key_required,
        request_validator_id: input.request_validator_id.filter(|v| !v.is_empty()),
        operation_name: input.operation_name,
        request_parameters: input.request_parameters,
        request_models: input.request_models,
        authorization_scopes: input.authorization_scopes,
        method_responses: BTreeMap::new(),
        method_integration: None,
    };
    check_method_refs(&doc, &new)?;
    let r = resource_mut(&mut doc, &resource_id)?;
    if r.resource_methods.contains_key(&http_method) {
        return Err(ApiError::conflict(
            "Method already exists for this resource",
        ));
    }
    let body = to_json(&new)?;
    r.resource_methods.insert(http_method, new);
    op.put_api(doc);
    Ok(Reply::created(body))
}

pub fn get(op: &mut Op<'_>) -> Result<Reply, ApiError> {
    Ok(Reply::ok(to_json(op.method()?)?))
}

pub fn update(op: &mut Op<'_>) -> Result<Reply, ApiError> {
    let input: PatchInput = op.req.json()?;
    let mut doc = op.resource_api_to_edit()?;
    let (resource_id, http_method) = (
        op.param("resource_id").to_string(),
        op.param("http_method").to_string(),
    );
    let mut m = method(resource(&doc, &resource_id)?, &http_method)?.clone();
    for patch in &input.patch_operations {
        let segments = patch.segments();
        let segs: Vec<&str> = segments.iter().map(String::as_str).collect();
        // A path AWS does not know is refused before the op it is given with;
        // the method's own members take only `replace`.
        let text = || patch.value.clone().filter(|v| !v.is_empty());
        match (patch.op, segs.as_slice()) {
            (
                op,
                ["apiKeyRequired" | "authorizationType" | "authorizerId" | "requestValidatorId"
                | "operationName"],
            ) if op != PatchOp::Replace => patch.expect_op(&[PatchOp::Replace])?,
            // Anything but `true` reads as false, as AWS parses it.
            (_, ["apiKeyRequired"]) => {
                m.api_key_required = patch.value()?.eq_ignore_ascii_case("true")
            }
            (_, ["authorizationType"]) => m.authorization_type = patch.value()?.to_string(),
            (_, ["authorizerId"]) => m.authorizer_id = text(),
            (_, ["requestValidatorId"]) => m.request_validator_id = text(),
            (_, ["operationName"]) => m.operation_name = text(),
            (_, ["requestParameters", key]) => {
                patch_map(&mut m.request_parameters, patch, key.to_string(), |v| {
                    Ok(v.eq_ignore_ascii_case("true"))
                })?
            }
            (_, ["requestModels", content_type]) => patch_map(
                &mut m.request_models,
                patch,
                content_type.to_string(),
                |v| Ok(v.to_string()),
            )?,
            (PatchOp::Add, ["authorizationScopes"]) => {
                m.authorization_scopes.push(patch.value()?.to_string())
            }
            (PatchOp::Remove, ["authorizationScopes"]) => {
                let v = patch.value()?;
                m.authorization_scopes.retain(|s| s != v);
            }
            _ => return Err(patch.unsupported()),
        }
    }
    if m.authorization_type != "CUSTOM" && m.authorization_type != "COGNITO_USER_POOLS" {
        m.authorizer_id = None;
    }
    check_method_refs(&doc, &m).map_err(|e| match e.code {
        ErrorCode::Validation => ApiError::bad_request(e.message),
        _ => e,
    })?;
    let body = to_json(&m)?;
    *method_mut(resource_mut(&mut doc, &resource_id)?, &http_method)? = m;
    op.put_api(doc);
    Ok(Reply::ok(body))
}

pub fn delete(op: &mut Op<'_>) -> Result<Reply, ApiError> {
    let mut doc = op.resource_api_to_edit()?;
    let http_method = op.param("http_method").to_string();
    let r = resource_mut(&mut doc, op.param("resource_id"))?;
    if r.resource_methods.remove(&http_method).is_none() {
        return Err(ApiError::not_found("Invalid Method identifier specified"));
    }
    op.put_api(doc);
    Ok(Reply::no_content())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PutResponseInput {
    response_parameters: Option<BTreeMap<String, bool>>,
    response_models: Option<BTreeMap<String, String>>,
}

fn validate_response_parameter(key: &str) -> Result<(), ApiError> {
    match key.strip_prefix("method.response.header.") {
        Some(name) if !name.is_empty() => Ok(()),
        _ => Err(ApiError::bad_request(format!(
            "Invalid mapping expression specified: Validation Result: warnings : [], errors : [Invalid method response parameter name: {key}]"
        ))),
    }
}

fn check_model(doc: &RestApiDoc, model: &str) -> Result<(), ApiError> {
    if doc.definition.models.contains_key(model) {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "Invalid model identifier specified: {model}"
        )))
    }
}

/// The `{status_code}` of a method-response operation, checked as AWS's
/// input shape checks it (before anything is looked up).
fn status_param(op: &Op<'_>) -> Result<String, ApiError> {
    let status = op.param("status_code").to_string();
    let mut violations = Violations::default();
    violations.status_code(&status);
    violations.check()?;
    Ok(status)
}

pub fn put_response(op: &mut Op<'_>) -> Result<Reply, ApiError> {
    let input: PutResponseInput = op.req.json()?;
    let status = status_param(op)?;
    let mut doc = op.resource_api_to_edit()?;
    let (resource_id, http_method) = (
        op.param("resource_id").to_string(),
        op.param("http_method").to_string(),
    );
    method(resource(&doc, &resource_id)?, &http_method)?;
    for key in input.response_parameters.iter().flat_map(BTreeMap::keys) {
        validate_response_parameter(key)?;
    }
    for model in input.response_models.iter().flat_map(BTreeMap::values) {
        check_model(&doc, model)?;
    }
    let response = MethodResponse {
        status_code: status.clone(),
        response_parameters: input.response_parameters,
        response_models: input.response_models,
    };
    let body = to_json(&response)?;
    method_mut(resource_mut(&mut doc, &resource_id)?, &http_method)?
        .method_responses
        .insert(status, response);
    op.put_api(doc);
    Ok(Reply::created(body))
}

fn method_response<'m>(m: &'m Method, status: &str) -> Result<&'m MethodResponse, ApiError> {
    m.method_responses.get(status).ok_or_else(unknown_status)
}

pub fn get_response(op: &mut Op<'_>) -> Result<Reply, ApiError> {
    let status = status_param(op)?;
    let m = op.method()?;
    Ok(Reply::ok(to_json(method_response(m, &status)?)?))
}

/// Applies one patch to a response map: `add` sets any key, `replace` and
/// `remove` only one that is there (else `missing`); a map emptied by a
/// patch is left out of the response, as AWS does.
fn patch_response_map<V>(
    map: &mut Option<BTreeMap<String, V>>,
    patch: &tollgate_model::patch::PatchOperation,
    key: &str,
    missing: &str,
    value: impl FnOnce(&str) -> Result<V, ApiError>,
) -> Result<(), ApiError> {
    patch.expect_op(&[PatchOp::Add, PatchOp::Replace, PatchOp::Remove])?;
    let present = map.as_ref().is_some_and(|m| m.contains_key(key));
    if patch.op != PatchOp::Add && !present {
        return Err(ApiError::not_found(missing));
    }
    if patch.op == PatchOp::Remove {
        if let Some(m) = map.as_mut() {
            m.remove(key);
            if m.is_empty() {
                *map = None;
            }
        }
    } else {
        let v = value(patch.value()?)?;
        map.get_or_insert_with(BTreeMap::new)
            .insert(key.to_string(), v);
    }
    Ok(())
}

pub fn update_response(op: &mut Op<'_>) -> Result<Reply, ApiError> {
    let status = op.param("status_code").to_string();
    let mut violations = Violations::default();
    violations.patch_ops("updateMethodResponseInput", &op.req.body);
    violations.status_code(&status);
    violations.check()?;
    let input: PatchInput = op.req.json()?;
    let mut doc = op.resource_api_to_edit()?;
    let (resource_id, http_method) = (
        op.param("resource_id").to_string(),
        op.param("http_method").to_string(),
    );
    let mut response = method_response(
        method(resource(&doc, &resource_id)?, &http_method)?,
        &status,
    )?
    .clone();
    for patch in &input.patch_operations {
        let segments = patch.segments();
        let segs: Vec<&str> = segments.iter().map(String::as_str).collect();
        match segs.as_slice() {
            ["responseParameters", key] => patch_response_map(
                &mut response.response_parameters,
                patch,
                key,
                "Invalid parameter name specified",
                |v| {
                    validate_response_parameter(key)?;
                    Ok(v.eq_ignore_ascii_case("true"))
                },
            )?,
            ["responseModels", content_type] => patch_response_map(
                &mut response.response_models,
                patch,
                content_type,
                "Content-Type specified was not found",
                |v| {
                    check_model(&doc, v)?;
                    Ok(v.to_string())
                },
            )?,
            _ => return Err(patch.unsupported()),
        }
    }
    let body = to_json(&response)?;
    method_mut(resource_mut(&mut doc, &resource_id)?, &http_method)?
        .method_responses
        .insert(status, response);
    op.put_api(doc);
    // AWS answers UpdateMethodResponse with 201 (sic, spec §1.3).
    Ok(Reply::created(body))
}

pub fn delete_response(op: &mut Op<'_>) -> Result<Reply, ApiError> {
    let status = status_param(op)?;
    let mut doc = op.resource_api_to_edit()?;
    let (resource_id, http_method) = (
        op.param("resource_id").to_string(),
        op.param("http_method").to_string(),
    );
    let m = method_mut(resource_mut(&mut doc, &resource_id)?, &http_method)?;
    if m.method_responses.remove(&status).is_none() {
        return Err(unknown_status());
    }
    op.put_api(doc);
    Ok(Reply::no_content())
}

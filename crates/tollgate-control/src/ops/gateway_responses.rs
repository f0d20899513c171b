//! PutGatewayResponse, GetGatewayResponse(s), UpdateGatewayResponse, DeleteGatewayResponse.

use std::collections::BTreeMap;

use serde::Deserialize;
use tollgate_model::gateway_response::{GatewayResponse, RESPONSE_TYPES, RESPONSE_TYPES_AS_LISTED};
use tollgate_model::method::validate_status_code;
use tollgate_model::patch::{PatchOp, PatchOperation};
use tollgate_model::state::RestApiDoc;
use tollgate_model::ApiError;

use super::{patch_input, to_json, Op};
use crate::pagination::page;
use crate::request::Reply;

fn check_type(response_type: &str) -> Result<(), ApiError> {
    if RESPONSE_TYPES.iter().any(|(t, _)| *t == response_type) {
        Ok(())
    } else {
        Err(ApiError::enum_value(
            response_type,
            "responseType",
            RESPONSE_TYPES_AS_LISTED,
        ))
    }
}

/// The response in force. A type not customised is its default, except that a
/// customised DEFAULT_4XX or DEFAULT_5XX lends its status (if it has one),
/// parameters and templates to every default type of its class.
fn effective(doc: &RestApiDoc, response_type: &str) -> Result<GatewayResponse, ApiError> {
    check_type(response_type)?;
    let responses = &doc.definition.gateway_responses;
    if let Some(r) = responses.get(response_type) {
        return Ok(r.clone());
    }
    let mut r = GatewayResponse::default_for(response_type)
        .ok_or_else(|| ApiError::not_found("Gateway response type not defined on api"))?;
    let class_default = match r.status_code.as_deref() {
        Some(status) if status.starts_with('5') => "DEFAULT_5XX",
        Some(_) => "DEFAULT_4XX",
        None => return Ok(r),
    };
    if let Some(custom) = responses.get(class_default) {
        if custom.status_code.is_some() {
            r.status_code = custom.status_code.clone();
        }
        r.response_parameters = custom.response_parameters.clone();
        r.response_templates = custom.response_templates.clone();
    }
    Ok(r)
}

/// The API of a gateway-response call, once the response type is known to be valid.
fn checked_api(op: &Op<'_>) -> Result<RestApiDoc, ApiError> {
    check_type(op.param("response_type"))?;
    op.api_to_edit()
}

pub(super) fn validate(r: &GatewayResponse) -> Result<(), ApiError> {
    if let Some(status) = &r.status_code {
        validate_status_code(status)?;
    }
    for key in r.response_parameters.keys() {
        if key
            .strip_prefix("gatewayresponse.header.")
            .is_none_or(str::is_empty)
        {
            return Err(ApiError::bad_request(format!(
                "Invalid mapping expression specified: Validation Result: warnings : [], errors : [Invalid mapping expression parameter specified: {key}]"
            )));
        }
    }
    Ok(())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PutInput {
    status_code: Option<String>,
    #[serde(default)]
    response_parameters: BTreeMap<String, String>,
    #[serde(default)]
    response_templates: BTreeMap<String, String>,
}

pub fn put(op: &mut Op<'_>) -> Result<Reply, ApiError> {
    let input: PutInput = op.req.json()?;
    let response_type = op.param("response_type").to_string();
    let mut doc = checked_api(op)?;
    // A put replaces the whole response: what it leaves out is the type's default.
    let default = GatewayResponse::default_for(&response_type).ok_or_else(ApiError::internal)?;
    let response = GatewayResponse {
        response_type: response_type.clone(),
        status_code: input
            .status_code
            .filter(|s| !s.is_empty())
            .or(default.status_code),
        response_parameters: input.response_parameters,
        response_templates: if input.response_templates.is_empty() {
            default.response_templates
        } else {
            input.response_templates
        },
        default_response: false,
    };
    validate(&response)?;
    let body = to_json(&response)?;
    doc.definition
        .gateway_responses
        .insert(response_type, response);
    op.put_api(doc);
    Ok(Reply::created(body))
}

pub fn get(op: &mut Op<'_>) -> Result<Reply, ApiError> {
    check_type(op.param("response_type"))?;
    Ok(Reply::ok(to_json(&effective(
        op.api()?,
        op.param("response_type"),
    )?)?))
}

/// `add` or `replace` of one entry of a map member; null and empty values are refused.
fn map_value<'p>(patch: &'p PatchOperation, member: &str) -> Result<&'p str, ApiError> {
    patch
        .value
        .as_deref()
        .filter(|v| !v.is_empty())
        .ok_or_else(|| ApiError::bad_request(format!("Invalid null or empty value in {member}")))
}

fn apply_patch(r: &mut GatewayResponse, patch: &PatchOperation) -> Result<(), ApiError> {
    let segments = patch.segments();
    let segs: Vec<&str> = segments.iter().map(String::as_str).collect();
    match (patch.op, segs.as_slice()) {
        (PatchOp::Replace, ["statusCode"]) => {
            r.status_code = patch.value.clone().filter(|v| !v.is_empty())
        }
        (PatchOp::Replace, ["responseParameters", key]) => {
            let value = map_value(patch, "responseParameters")?;
            match r.response_parameters.get_mut(*key) {
                Some(slot) => *slot = value.to_string(),
                None => return Err(ApiError::not_found("Invalid parameter name specified")),
            }
        }
        (PatchOp::Add, ["responseParameters", key]) => {
            let value = map_value(patch, "responseParameters")?;
            r.response_parameters
                .insert(key.to_string(), value.to_string());
        }
        (PatchOp::Remove, ["responseParameters", key]) => {
            r.response_parameters.remove(*key);
        }
        (PatchOp::Add | PatchOp::Replace, ["responseTemplates", content_type]) => {
            let value = map_value(patch, "responseTemplates")?;
            r.response_templates
                .insert(content_type.to_string(), value.to_string());
        }
        (PatchOp::Remove, ["responseTemplates", content_type]) => {
            r.response_templates.remove(*content_type);
        }
        _ => return Err(patch.invalid_path()),
    }
    Ok(())
}

pub fn list(op: &mut Op<'_>) -> Result<Reply, ApiError> {
    let doc = op.api()?;
    let items = RESPONSE_TYPES
        .iter()
        .map(|(t, _)| Ok((t.to_string(), to_json(&effective(doc, t)?)?)))
        .collect::<Result<Vec<_>, ApiError>>()?;
    Ok(Reply::ok(page(op.req, items)?))
}

pub fn update(op: &mut Op<'_>) -> Result<Reply, ApiError> {
    let input = patch_input(op, "updateGatewayResponseInput")?;
    let mut doc = checked_api(op)?;
    let response_type = op.param("response_type").to_string();
    let mut r = effective(&doc, &response_type)?;
    for patch in &input.patch_operations {
        apply_patch(&mut r, patch)?;
    }
    r.default_response = false;
    validate(&r)?;
    let body = to_json(&r)?;
    doc.definition.gateway_responses.insert(response_type, r);
    op.put_api(doc);
    Ok(Reply::ok(body))
}

/// Deleting a customised response reverts it to the default.
pub fn delete(op: &mut Op<'_>) -> Result<Reply, ApiError> {
    let mut doc = checked_api(op)?;
    let response_type = op.param("response_type").to_string();
    if doc
        .definition
        .gateway_responses
        .remove(&response_type)
        .is_none()
    {
        return Err(ApiError::not_found(
            "Gateway response type not defined on api",
        ));
    }
    op.put_api(doc);
    Ok(Reply::accepted())
}

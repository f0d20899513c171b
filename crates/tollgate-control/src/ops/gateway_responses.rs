//! PutGatewayResponse, GetGatewayResponse(s), UpdateGatewayResponse, DeleteGatewayResponse.

use std::collections::BTreeMap;

use serde::Deserialize;
use tollgate_model::gateway_response::{GatewayResponse, RESPONSE_TYPES};
use tollgate_model::method::validate_status_code;
use tollgate_model::patch::PatchOp;
use tollgate_model::state::RestApiDoc;
use tollgate_model::ApiError;

use super::{patch_map, to_json, Op, PatchInput};
use crate::pagination::page;
use crate::request::Reply;

fn check_type(response_type: &str) -> Result<(), ApiError> {
    if RESPONSE_TYPES.iter().any(|(t, _)| *t == response_type) {
        Ok(())
    } else {
        Err(ApiError::enum_value(
            response_type,
            "responseType",
            &RESPONSE_TYPES.iter().map(|(t, _)| *t).collect::<Vec<_>>(),
        ))
    }
}

/// The response in force: the customised one, else the default.
fn effective(doc: &RestApiDoc, response_type: &str) -> Result<GatewayResponse, ApiError> {
    check_type(response_type)?;
    match doc.definition.gateway_responses.get(response_type) {
        Some(r) => Ok(r.clone()),
        None => GatewayResponse::default_for(response_type)
            .ok_or_else(|| ApiError::not_found("Gateway response type not defined on api")),
    }
}

fn validate(r: &GatewayResponse) -> Result<(), ApiError> {
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
    check_type(&response_type)?;
    let mut doc = op.api_to_edit()?;
    let response = GatewayResponse {
        response_type: response_type.clone(),
        status_code: input.status_code.filter(|s| !s.is_empty()),
        response_parameters: input.response_parameters,
        response_templates: input.response_templates,
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
    Ok(Reply::ok(to_json(&effective(
        op.api()?,
        op.param("response_type"),
    )?)?))
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
    let input: PatchInput = op.req.json()?;
    let mut doc = op.api_to_edit()?;
    let response_type = op.param("response_type").to_string();
    let mut r = effective(&doc, &response_type)?;
    for patch in &input.patch_operations {
        let segments = patch.segments();
        let segs: Vec<&str> = segments.iter().map(String::as_str).collect();
        match (patch.op, segs.as_slice()) {
            (PatchOp::Replace, ["statusCode"]) => {
                r.status_code = patch.value.clone().filter(|v| !v.is_empty())
            }
            (_, ["responseParameters", key]) => {
                patch_map(&mut r.response_parameters, patch, key.to_string(), |v| {
                    Ok(v.to_string())
                })?
            }
            (_, ["responseTemplates", content_type]) => patch_map(
                &mut r.response_templates,
                patch,
                content_type.to_string(),
                |v| Ok(v.to_string()),
            )?,
            _ => return Err(patch.unsupported()),
        }
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
    let mut doc = op.api_to_edit()?;
    let response_type = op.param("response_type").to_string();
    check_type(&response_type)?;
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

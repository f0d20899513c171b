//! CreateRequestValidator, GetRequestValidator(s), UpdateRequestValidator, DeleteRequestValidator.

use serde::Deserialize;
use tollgate_model::patch::{PatchOp, PatchOperation};
use tollgate_model::request_validator::RequestValidator;
use tollgate_model::state::RestApiDoc;
use tollgate_model::{ids, ApiError};

use super::{patch_input, to_json, Op};
use crate::pagination::page;
use crate::request::Reply;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateInput {
    name: Option<String>,
    #[serde(default)]
    validate_request_body: bool,
    #[serde(default)]
    validate_request_parameters: bool,
}

pub fn create(op: &mut Op<'_>) -> Result<Reply, ApiError> {
    let input: CreateInput = op.req.json()?;
    let mut doc = op
        .api_to_edit()
        .map_err(|_| ApiError::bad_request("Invalid REST API identifier specified"))?;
    let id = ids::unique(6, |id| doc.definition.request_validators.contains_key(id));
    let validator = RequestValidator {
        id: id.clone(),
        name: input.name,
        validate_request_body: input.validate_request_body,
        validate_request_parameters: input.validate_request_parameters,
    };
    let body = to_json(&validator)?;
    doc.definition.request_validators.insert(id, validator);
    op.put_api(doc);
    Ok(Reply::created(body))
}

fn unknown_validator() -> ApiError {
    ApiError::not_found("Invalid Request Validator identifier specified")
}

fn validator<'d>(doc: &'d RestApiDoc, id: &str) -> Result<&'d RequestValidator, ApiError> {
    doc.definition
        .request_validators
        .get(id)
        .ok_or_else(unknown_validator)
}

/// The API of a call on one validator: AWS answers an unknown API as an unknown validator.
fn api_of_validator(op: &Op<'_>) -> Result<RestApiDoc, ApiError> {
    op.api_to_edit().map_err(|_| unknown_validator())
}

pub fn get(op: &mut Op<'_>) -> Result<Reply, ApiError> {
    let doc = op.api().map_err(|_| unknown_validator())?;
    Ok(Reply::ok(to_json(validator(
        doc,
        op.param("validator_id"),
    )?)?))
}

/// A boolean member set by `replace`; no value means false.
fn flag(patch: &PatchOperation) -> Result<bool, ApiError> {
    match patch.value {
        None => Ok(false),
        Some(_) => patch.bool_value(),
    }
}

pub fn list(op: &mut Op<'_>) -> Result<Reply, ApiError> {
    let items = op
        .api()?
        .definition
        .request_validators
        .iter()
        .map(|(id, v)| Ok((id.clone(), to_json(v)?)))
        .collect::<Result<Vec<_>, ApiError>>()?;
    Ok(Reply::ok(page(op.req, items)?))
}

pub fn update(op: &mut Op<'_>) -> Result<Reply, ApiError> {
    let input = patch_input(op, "updateRequestValidatorInput")?;
    let mut doc = api_of_validator(op)?;
    let id = op.param("validator_id").to_string();
    let mut v = validator(&doc, &id)?.clone();
    for patch in &input.patch_operations {
        match (patch.op, patch.path.as_str()) {
            (PatchOp::Replace, "/name") => match patch.value.as_deref() {
                Some(name) if !name.trim().is_empty() => v.name = Some(name.to_string()),
                _ => {
                    return Err(ApiError::bad_request(
                        "Request Validator name cannot be blank",
                    ))
                }
            },
            (PatchOp::Replace, "/validateRequestBody") => v.validate_request_body = flag(patch)?,
            (PatchOp::Replace, "/validateRequestParameters") => {
                v.validate_request_parameters = flag(patch)?
            }
            _ => {
                return Err(patch.unsupported_among(&[
                    "/name",
                    "/validateRequestParameters",
                    "/validateRequestBody",
                ]))
            }
        }
    }
    let body = to_json(&v)?;
    doc.definition.request_validators.insert(id, v);
    op.put_api(doc);
    Ok(Reply::ok(body))
}

pub fn delete(op: &mut Op<'_>) -> Result<Reply, ApiError> {
    let mut doc = api_of_validator(op)?;
    let id = op.param("validator_id").to_string();
    validator(&doc, &id)?;
    let in_use = doc.definition.resources.values().any(|r| {
        r.resource_methods
            .values()
            .any(|m| m.request_validator_id.as_deref() == Some(id.as_str()))
    });
    if in_use {
        return Err(ApiError::conflict(
            "Cannot delete request validator: it is used by a method",
        ));
    }
    doc.definition.request_validators.remove(&id);
    op.put_api(doc);
    Ok(Reply::accepted())
}

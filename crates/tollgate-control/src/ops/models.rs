//! CreateModel, GetModel(s), UpdateModel, DeleteModel.

use serde::Deserialize;
use tollgate_model::model_schema::{valid_model_name, Model};
use tollgate_model::patch::PatchOp;
use tollgate_model::state::RestApiDoc;
use tollgate_model::{ids, ApiError};

use super::{patch_input, required, to_json, Op};
use crate::pagination::page;
use crate::request::Reply;

/// The models every new API starts with, as on AWS.
pub fn default_models() -> Vec<Model> {
    let empty = r#"{"$schema":"http://json-schema.org/draft-04/schema#","title":"Empty Schema","type":"object"}"#;
    let error = r#"{"$schema":"http://json-schema.org/draft-04/schema#","title":"Error Schema","type":"object","properties":{"message":{"type":"string"}}}"#;
    [
        ("Empty", "This is a default empty schema model", empty),
        ("Error", "This is a default error schema model", error),
    ]
    .into_iter()
    .map(|(name, description, schema)| Model {
        id: ids::lower_alnum(6),
        name: name.into(),
        description: Some(description.into()),
        schema: Some(schema.into()),
        content_type: "application/json".into(),
    })
    .collect()
}

/// A model needs a schema, whatever its content type; a JSON one must parse.
pub(super) fn validate_schema(schema: Option<&str>) -> Result<(), ApiError> {
    let Some(schema) = schema.filter(|s| !s.trim().is_empty()) else {
        return Err(ApiError::bad_request(
            "Model schema must have at least 1 property or array items defined",
        ));
    };
    serde_json::from_str::<serde_json::Value>(schema).map_err(|e| {
        ApiError::bad_request(format!(
            "Invalid model specified: Validation Result: warnings : [], errors : [Invalid model schema specified: {e}]"
        ))
    })?;
    Ok(())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateInput {
    name: Option<String>,
    description: Option<String>,
    schema: Option<String>,
    content_type: Option<String>,
}

pub fn create(op: &mut Op<'_>) -> Result<Reply, ApiError> {
    let input: CreateInput = op.req.json()?;
    let mut doc = op.api_to_edit()?;
    let name = input.name.unwrap_or_default();
    if name.is_empty() {
        return Err(ApiError::bad_request("Model name must be non-empty"));
    }
    if !valid_model_name(&name) {
        return Err(ApiError::bad_request("Model name must be alphanumeric"));
    }
    let content_type = required(&input.content_type, "contentType")?.to_string();
    validate_schema(input.schema.as_deref())?;
    if doc.definition.models.contains_key(&name) {
        return Err(ApiError::conflict(
            "Model name already exists for this REST API",
        ));
    }
    let model = Model {
        id: ids::lower_alnum(6),
        name: name.clone(),
        // AWS leaves an empty description out.
        description: input.description.filter(|d| !d.is_empty()),
        schema: input.schema,
        content_type,
    };
    let body = to_json(&model)?;
    doc.definition.models.insert(name, model);
    op.put_api(doc);
    Ok(Reply::created(body))
}

fn unknown_model(name: &str) -> ApiError {
    ApiError::not_found(format!("Invalid model name specified: {name}"))
}

fn model<'d>(doc: &'d RestApiDoc, name: &str) -> Result<&'d Model, ApiError> {
    doc.definition
        .models
        .get(name)
        .ok_or_else(|| unknown_model(name))
}

/// The API of a call on one model: AWS answers an unknown API as an unknown model.
fn api_of_model(op: &Op<'_>) -> Result<RestApiDoc, ApiError> {
    op.api_to_edit()
        .map_err(|_| unknown_model(op.param("model_name")))
}

pub fn get(op: &mut Op<'_>) -> Result<Reply, ApiError> {
    let name = op.param("model_name");
    let doc = op.api().map_err(|_| unknown_model(name))?;
    Ok(Reply::ok(to_json(model(doc, name)?)?))
}

pub fn list(op: &mut Op<'_>) -> Result<Reply, ApiError> {
    let items = op
        .api()?
        .definition
        .models
        .iter()
        .map(|(name, m)| Ok((name.clone(), to_json(m)?)))
        .collect::<Result<Vec<_>, ApiError>>()?;
    Ok(Reply::ok(page(op.req, items)?))
}

pub fn update(op: &mut Op<'_>) -> Result<Reply, ApiError> {
    let input = patch_input(op, "updateModelInput")?;
    let mut doc = api_of_model(op)?;
    let name = op.param("model_name").to_string();
    let mut m = model(&doc, &name)?.clone();
    for patch in &input.patch_operations {
        match (patch.op, patch.path.as_str()) {
            (PatchOp::Replace, "/description") => {
                m.description = patch.value.clone().filter(|v| !v.is_empty())
            }
            (PatchOp::Replace, "/schema") => {
                validate_schema(patch.value.as_deref())?;
                m.schema = patch.value.clone();
            }
            _ => return Err(patch.unsupported_among(&["/description", "/schema"])),
        }
    }
    let body = to_json(&m)?;
    doc.definition.models.insert(name, m);
    op.put_api(doc);
    Ok(Reply::ok(body))
}

/// A method whose request or responses use model `name`, as AWS's
/// conflict names it: `method request: /pets/GET` (the root's is `//GET`).
fn model_user(doc: &RestApiDoc, name: &str) -> Option<String> {
    let methods = || {
        doc.definition.resources.values().flat_map(|r| {
            r.resource_methods
                .iter()
                .map(move |(verb, m)| (format!("{}/{verb}", r.path), m))
        })
    };
    let in_request = methods().find(|(_, m)| m.request_models.values().any(|n| n == name));
    if let Some((at, _)) = in_request {
        return Some(format!("method request: {at}"));
    }
    methods()
        .find(|(_, m)| {
            m.method_responses
                .values()
                .filter_map(|resp| resp.response_models.as_ref())
                .any(|models| models.values().any(|n| n == name))
        })
        .map(|(at, _)| format!("method response: {at}"))
}

pub fn delete(op: &mut Op<'_>) -> Result<Reply, ApiError> {
    let mut doc = api_of_model(op)?;
    let name = op.param("model_name").to_string();
    model(&doc, &name)?;
    if let Some(user) = model_user(&doc, &name) {
        return Err(ApiError::conflict(format!(
            "Cannot delete model '{name}', is referenced in {user}"
        )));
    }
    doc.definition.models.remove(&name);
    op.put_api(doc);
    Ok(Reply::accepted())
}

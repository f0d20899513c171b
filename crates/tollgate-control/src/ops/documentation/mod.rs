//! CreateDocumentationPart, GetDocumentationPart(s), UpdateDocumentationPart,
//! DeleteDocumentationPart; ImportDocumentationParts in [`import`] and the
//! DocumentationVersion operations in [`versions`].

pub mod import;
pub mod versions;

use serde::Deserialize;
use tollgate_model::documentation::{
    DocumentationPart, DocumentationPartLocation, LocationFault, LOCATION_TYPES,
};
use tollgate_model::patch::{PatchOp, PatchOperation};
use tollgate_model::state::RestApiDoc;
use tollgate_model::{ids, ApiError};

use super::{check_enum, to_json, Op, PatchInput};
use crate::pagination::page;
use crate::request::Reply;

/// A location as the caller sent it (every member optional, checked here).
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct LocationInput {
    #[serde(rename = "type")]
    kind: Option<String>,
    path: Option<String>,
    method: Option<String>,
    status_code: Option<String>,
    name: Option<String>,
}

impl LocationInput {
    /// The location with AWS's defaults, or why it is not one. `member` is
    /// the location's place in the input, as enum errors name it.
    pub fn check(&self, member: &str) -> Result<DocumentationPartLocation, ApiError> {
        let kind = self.kind.as_deref().unwrap_or_default();
        check_enum(kind, &format!("{member}.type"), LOCATION_TYPES)?;
        DocumentationPartLocation {
            kind: kind.to_string(),
            path: self.path.clone(),
            method: self.method.clone(),
            status_code: self.status_code.clone(),
            name: self.name.clone(),
        }
        .normalized()
        .map_err(|fault| {
            ApiError::bad_request(match fault {
                LocationFault::NotValid(m) => {
                    format!("Invalid documentation part location: {m} is not valid for type {kind}")
                }
                LocationFault::Missing(m) => {
                    format!("Invalid documentation part location: {m} is required for type {kind}")
                }
            })
        })
    }
}

/// Properties must be a JSON document: exports embed them as such.
pub fn check_properties(properties: Option<&str>) -> Result<String, ApiError> {
    let properties = properties
        .filter(|p| !p.trim().is_empty())
        .ok_or_else(|| ApiError::bad_request("Documentation part properties must not be empty"))?;
    serde_json::from_str::<serde_json::Value>(properties).map_err(|_| {
        ApiError::bad_request("Invalid documentation part properties: not a JSON document")
    })?;
    Ok(properties.to_string())
}

pub fn part_not_found() -> ApiError {
    ApiError::not_found("Invalid Documentation part identifier specified")
}

/// AWS's answers to a patch it does not take: the wrong op, or a path
/// outside `paths` for the one op (`replace`) documentation updates take.
pub fn unsupported_patch(patch: &PatchOperation, paths: &[&str]) -> ApiError {
    let op = patch.op.as_str();
    let path = &patch.path;
    ApiError::bad_request(if patch.op == PatchOp::Replace {
        format!(
            "Invalid patch path  '{path}' specified for op '{op}'. Must be one of: [{}]",
            paths.join(", ")
        )
    } else {
        format!("Invalid patch path  '{path}' specified for op '{op}'. Please choose supported operations")
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateInput {
    #[serde(default)]
    location: LocationInput,
    properties: Option<String>,
}

pub fn create(op: &mut Op<'_>) -> Result<Reply, ApiError> {
    let input: CreateInput = op.req.json()?;
    let location = input
        .location
        .check("createDocumentationPartInput.location")?;
    let mut doc = op.api_to_edit()?;
    let properties = check_properties(input.properties.as_deref())?;
    let parts = &mut doc.documentation.parts;
    if parts.iter().any(|p| p.location == location) {
        return Err(ApiError::conflict("Documentation part already exists"));
    }
    let part = DocumentationPart {
        id: ids::unique(6, |id| parts.iter().any(|p| p.id == id)),
        location,
        properties,
    };
    let body = to_json(&part)?;
    parts.push(part);
    op.put_api(doc);
    Ok(Reply::created(body))
}

fn part<'d>(doc: &'d RestApiDoc, id: &str) -> Result<&'d DocumentationPart, ApiError> {
    doc.documentation
        .parts
        .iter()
        .find(|p| p.id == id)
        .ok_or_else(part_not_found)
}

/// A part of an API that does not exist is "not found" as a part (AWS's answer).
pub fn get(op: &mut Op<'_>) -> Result<Reply, ApiError> {
    let doc = op.api().map_err(|_| part_not_found())?;
    Ok(Reply::ok(to_json(part(
        doc,
        op.param("documentation_part_id"),
    )?)?))
}

pub fn list(op: &mut Op<'_>) -> Result<Reply, ApiError> {
    let doc = op.api()?;
    let kind = op.req.query("type");
    if let Some(kind) = kind {
        check_enum(kind, "type", LOCATION_TYPES)?;
    }
    let path = op.req.query("path");
    let name = op.req.query("nameQuery");
    let items = doc
        .documentation
        .parts
        .iter()
        .enumerate()
        .filter(|(_, p)| kind.is_none_or(|k| p.location.kind == k))
        .filter(|(_, p)| path.is_none_or(|x| p.location.path.as_deref() == Some(x)))
        .filter(|(_, p)| {
            name.is_none_or(|n| p.location.name.as_deref().is_some_and(|v| v.contains(n)))
        })
        // Creation order; the position token is the index, padded to sort.
        .map(|(i, p)| Ok((format!("{i:08}"), to_json(p)?)))
        .collect::<Result<Vec<_>, ApiError>>()?;
    Ok(Reply::ok(page(op.req, items)?))
}

pub fn update(op: &mut Op<'_>) -> Result<Reply, ApiError> {
    let input: PatchInput = op.req.json()?;
    let mut doc = op.api().map_err(|_| part_not_found())?.as_ref().clone();
    let id = op.param("documentation_part_id").to_string();
    let mut updated = part(&doc, &id)?.clone();
    for patch in &input.patch_operations {
        match (patch.op, patch.path.as_str()) {
            (PatchOp::Replace, "/properties") => {
                updated.properties = check_properties(patch.value.as_deref())?
            }
            _ => return Err(unsupported_patch(patch, &["/properties"])),
        }
    }
    let body = to_json(&updated)?;
    if let Some(p) = doc.documentation.parts.iter_mut().find(|p| p.id == id) {
        *p = updated;
    }
    op.put_api(doc);
    Ok(Reply::ok(body))
}

pub fn delete(op: &mut Op<'_>) -> Result<Reply, ApiError> {
    let mut doc = op.api_to_edit()?;
    let id = op.param("documentation_part_id");
    part(&doc, id)?;
    doc.documentation.parts.retain(|p| p.id != id);
    op.put_api(doc);
    Ok(Reply::accepted())
}

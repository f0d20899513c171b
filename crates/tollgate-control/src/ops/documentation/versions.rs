//! CreateDocumentationVersion, GetDocumentationVersion(s),
//! UpdateDocumentationVersion, DeleteDocumentationVersion. A version freezes
//! the parts as they are when it is created.

use serde::Deserialize;
use tollgate_model::documentation::{DocumentationSnapshot, DocumentationVersion};
use tollgate_model::patch::PatchOp;
use tollgate_model::state::RestApiDoc;
use tollgate_model::ApiError;

use super::unsupported_patch;
use crate::ops::{required, to_json, Op, PatchInput};
use crate::pagination::page;
use crate::request::Reply;

fn version_not_found() -> ApiError {
    ApiError::not_found("Invalid Documentation version specified")
}

fn version<'d>(doc: &'d RestApiDoc, version: &str) -> Result<&'d DocumentationVersion, ApiError> {
    doc.documentation
        .versions
        .get(version)
        .map(|s| &s.version)
        .ok_or_else(version_not_found)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateInput {
    documentation_version: Option<String>,
    stage_name: Option<String>,
    description: Option<String>,
}

pub fn create(op: &mut Op<'_>) -> Result<Reply, ApiError> {
    let input: CreateInput = op.req.json()?;
    let mut doc = op.api_to_edit()?;
    let name = required(&input.documentation_version, "documentationVersion")?.to_string();
    if doc.documentation.versions.contains_key(&name) {
        return Err(ApiError::conflict("Documentation version already exists"));
    }
    if let Some(stage_name) = input.stage_name.as_deref().filter(|s| !s.is_empty()) {
        let stage = doc
            .stages
            .get_mut(stage_name)
            .ok_or_else(|| ApiError::not_found("Invalid Stage identifier specified"))?;
        stage.documentation_version = Some(name.clone());
        stage.last_updated_date = op.now;
    }
    let version = DocumentationVersion {
        version: name.clone(),
        created_date: op.now,
        description: input.description.filter(|d| !d.is_empty()),
    };
    let body = to_json(&version)?;
    let parts = doc.documentation.parts.clone();
    doc.documentation
        .versions
        .insert(name, DocumentationSnapshot { version, parts });
    op.put_api(doc);
    Ok(Reply::created(body))
}

pub fn get(op: &mut Op<'_>) -> Result<Reply, ApiError> {
    Ok(Reply::ok(to_json(version(
        op.api()?,
        op.param("doc_version"),
    )?)?))
}

pub fn list(op: &mut Op<'_>) -> Result<Reply, ApiError> {
    let items = op
        .api()?
        .documentation
        .versions
        .iter()
        .map(|(name, s)| Ok((name.clone(), to_json(&s.version)?)))
        .collect::<Result<Vec<_>, ApiError>>()?;
    Ok(Reply::ok(page(op.req, items)?))
}

pub fn update(op: &mut Op<'_>) -> Result<Reply, ApiError> {
    let input: PatchInput = op.req.json()?;
    let mut doc = op.api_to_edit()?;
    let name = op.param("doc_version").to_string();
    let mut updated = version(&doc, &name)?.clone();
    for patch in &input.patch_operations {
        match (patch.op, patch.path.as_str()) {
            (PatchOp::Replace, "/description") => {
                updated.description = patch.value.clone().filter(|d| !d.is_empty())
            }
            _ => return Err(unsupported_patch(patch, &["/description"])),
        }
    }
    let body = to_json(&updated)?;
    if let Some(snapshot) = doc.documentation.versions.get_mut(&name) {
        snapshot.version = updated;
    }
    op.put_api(doc);
    Ok(Reply::ok(body))
}

pub fn delete(op: &mut Op<'_>) -> Result<Reply, ApiError> {
    let mut doc = op.api_to_edit()?;
    let name = op.param("doc_version").to_string();
    version(&doc, &name)?;
    doc.documentation.versions.remove(&name);
    op.put_api(doc);
    Ok(Reply::accepted())
}

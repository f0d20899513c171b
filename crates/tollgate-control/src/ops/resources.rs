//! CreateResource, GetResource(s), UpdateResource, DeleteResource.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;
use serde_json::{json, Value};
use tollgate_model::patch::PatchOp;
use tollgate_model::resource::{classify_path_part, PathPartKind, Resource};
use tollgate_model::state::RestApiDoc;
use tollgate_model::{ids, ApiError};

use super::{patch_input, required, resource, resource_mut, to_json, Op};
use crate::pagination::page;
use crate::request::Reply;

/// A resource as GetResource(s) shows it: methods in full with `embed=methods`,
/// otherwise each as `{}`.
fn resource_json(resource: &Resource, embed_methods: bool) -> Result<Value, ApiError> {
    let mut value = to_json(resource)?;
    if !embed_methods {
        if let Some(methods) = value
            .get_mut("resourceMethods")
            .and_then(Value::as_object_mut)
        {
            for method in methods.values_mut() {
                *method = json!({});
            }
        }
    }
    Ok(value)
}

fn embeds_methods(op: &Op<'_>) -> bool {
    op.req.query_all("embed").contains(&"methods")
}

/// Checks that `part` may sit under `parent_id` beside its other children
/// (`exclude` is the resource being moved or renamed).
pub(super) fn check_placement(
    doc: &RestApiDoc,
    parent_id: &str,
    part: &str,
    exclude: Option<&str>,
) -> Result<(), ApiError> {
    let parent = resource(doc, parent_id)?;
    if let Some(parent_part) = parent.path_part.as_deref() {
        if classify_path_part(parent_part)? == PathPartKind::Greedy {
            return Err(ApiError::bad_request(format!(
                "Cannot create a child of a resource with a greedy path variable: {parent_part}"
            )));
        }
    }
    let kind = classify_path_part(part)?;
    for sibling in doc.definition.resources.values() {
        if sibling.parent_id.as_deref() != Some(parent_id) || Some(sibling.id.as_str()) == exclude {
            continue;
        }
        let sibling_part = sibling.path_part.as_deref().unwrap_or_default();
        if sibling_part == part {
            return Err(ApiError::conflict(format!(
                "Another resource with the same parent already has this name: {part}"
            )));
        }
        if kind != PathPartKind::Literal
            && classify_path_part(sibling_part)? != PathPartKind::Literal
        {
            return Err(ApiError::bad_request(format!(
                "A sibling ({sibling_part}) of this resource already has a variable path part -- only one is allowed"
            )));
        }
    }
    Ok(())
}

pub(super) fn child_path(parent_path: &str, part: &str) -> String {
    if parent_path == "/" {
        format!("/{part}")
    } else {
        format!("{parent_path}/{part}")
    }
}

/// Ids of `id` and everything below it.
fn subtree(doc: &RestApiDoc, id: &str) -> BTreeSet<String> {
    let mut ids = BTreeSet::from([id.to_string()]);
    loop {
        let before = ids.len();
        for r in doc.definition.resources.values() {
            if r.parent_id.as_ref().is_some_and(|p| ids.contains(p)) {
                ids.insert(r.id.clone());
            }
        }
        if ids.len() == before {
            return ids;
        }
    }
}

/// Recomputes `path` for `id` and its descendants after a rename or move.
fn refresh_paths(doc: &mut RestApiDoc, id: &str) {
    let mut pending = vec![id.to_string()];
    while let Some(current) = pending.pop() {
        let parent_path = doc
            .definition
            .resources
            .get(&current)
            .and_then(|r| r.parent_id.as_ref())
            .and_then(|p| doc.definition.resources.get(p))
            .map(|p| p.path.clone());
        if let (Some(parent_path), Some(r)) =
            (parent_path, doc.definition.resources.get_mut(&current))
        {
            r.path = child_path(&parent_path, r.path_part.as_deref().unwrap_or_default());
        }
        pending.extend(
            doc.definition
                .resources
                .values()
                .filter(|r| r.parent_id.as_deref() == Some(current.as_str()))
                .map(|r| r.id.clone()),
        );
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateInput {
    path_part: Option<String>,
}

pub fn create(op: &mut Op<'_>) -> Result<Reply, ApiError> {
    let input: CreateInput = op.req.json()?;
    let part = required(&input.path_part, "pathPart")?.to_string();
    let mut doc = op.api_to_edit()?;
    let parent_id = op.param("resource_id").to_string();
    check_placement(&doc, &parent_id, &part, None)?;
    let parent_path = resource(&doc, &parent_id)?.path.clone();
    let id = ids::unique(6, |id| doc.definition.resources.contains_key(id));
    let created = Resource {
        id: id.clone(),
        parent_id: Some(parent_id),
        path: child_path(&parent_path, &part),
        path_part: Some(part),
        resource_methods: BTreeMap::new(),
    };
    let body = resource_json(&created, false)?;
    doc.definition.resources.insert(id, created);
    op.put_api(doc);
    Ok(Reply::created(body))
}

pub fn get(op: &mut Op<'_>) -> Result<Reply, ApiError> {
    let doc = op.api()?;
    let r = resource(doc, op.param("resource_id"))?;
    Ok(Reply::ok(resource_json(r, embeds_methods(op))?))
}

pub fn list(op: &mut Op<'_>) -> Result<Reply, ApiError> {
    let doc = op.api()?;
    let embed = embeds_methods(op);
    let mut items = doc
        .definition
        .resources
        .values()
        .map(|r| Ok((r.path.clone(), resource_json(r, embed)?)))
        .collect::<Result<Vec<_>, ApiError>>()?;
    items.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(Reply::ok(page(op.req, items)?))
}

const PATCHABLE: &[&str] = &["/parentId", "/pathPart"];

pub fn update(op: &mut Op<'_>) -> Result<Reply, ApiError> {
    let input = patch_input(op, "updateResourceInput")?;
    let mut doc = op.api_to_edit()?;
    let id = op.param("resource_id").to_string();
    resource(&doc, &id)?;
    for patch in &input.patch_operations {
        let current = resource(&doc, &id)?.clone();
        let is_root = current.parent_id.is_none();
        match (patch.op, patch.path.as_str()) {
            (PatchOp::Replace, "/pathPart") => {
                let Some(parent_id) = current.parent_id.clone() else {
                    return Err(ApiError::bad_request(
                        "Root resource cannot update its pathPart.",
                    ));
                };
                let new_part = patch.value()?.to_string();
                check_placement(&doc, &parent_id, &new_part, Some(&id))?;
                if current.path_part.as_deref() != Some(new_part.as_str()) {
                    let below_greedy = classify_path_part(&new_part)? == PathPartKind::Greedy
                        && doc
                            .definition
                            .resources
                            .values()
                            .any(|r| r.parent_id.as_deref() == Some(id.as_str()));
                    if below_greedy {
                        return Err(ApiError::bad_request(format!(
                            "Cannot create a child of a resource with a greedy path variable: {new_part}"
                        )));
                    }
                }
                resource_mut(&mut doc, &id)?.path_part = Some(new_part);
            }
            (PatchOp::Replace, "/parentId") => {
                if is_root {
                    return Err(ApiError::bad_request(
                        "Root resource cannot update its parentId.",
                    ));
                }
                let new_parent = patch.value()?.to_string();
                resource(&doc, &new_parent)?;
                if subtree(&doc, &id).contains(&new_parent) {
                    return Err(ApiError::bad_request("Resources cannot be cyclical."));
                }
                let part = current.path_part.clone().unwrap_or_default();
                check_placement(&doc, &new_parent, &part, Some(&id))?;
                resource_mut(&mut doc, &id)?.parent_id = Some(new_parent);
            }
            _ => return Err(patch.unsupported_among(PATCHABLE)),
        }
        refresh_paths(&mut doc, &id);
    }
    let body = resource_json(resource(&doc, &id)?, false)?;
    op.put_api(doc);
    Ok(Reply::ok(body))
}

pub fn delete(op: &mut Op<'_>) -> Result<Reply, ApiError> {
    let mut doc = op.api_to_edit()?;
    let id = op.param("resource_id").to_string();
    if resource(&doc, &id)?.parent_id.is_none() {
        return Err(ApiError::bad_request("Cannot delete root resource"));
    }
    for gone in subtree(&doc, &id) {
        doc.definition.resources.remove(&gone);
    }
    op.put_api(doc);
    Ok(Reply::accepted())
}

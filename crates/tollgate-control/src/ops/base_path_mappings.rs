//! CreateBasePathMapping, GetBasePathMapping(s), UpdateBasePathMapping,
//! DeleteBasePathMapping: which API and stage a custom domain's first path
//! segment leads to. The data plane compiles them into its lock-free table
//! when they change (`tollgate-gateway/src/custom_domain.rs`).

use std::sync::Arc;

use serde::Deserialize;
use tollgate_model::domain_name::{BasePathMapping, DomainNameDoc, MAX_MAPPINGS, NO_BASE_PATH};
use tollgate_model::patch::PatchOp;
use tollgate_model::{ApiError, Change, ErrorCode, State};

use super::domain_names::domain;
use super::{patch_input, to_json, Op};
use crate::pagination::page;
use crate::request::Reply;

fn not_found() -> ApiError {
    ApiError::not_found("Invalid base path mapping identifier specified")
}

/// The stored base path of what a caller gave: absent, empty and `(none)`
/// all mean the mapping without one.
fn base_path_of(given: Option<&str>) -> Result<String, ApiError> {
    let given = given.unwrap_or("");
    if given.is_empty() || given == NO_BASE_PATH {
        return Ok(NO_BASE_PATH.to_string());
    }
    // One URL segment of RFC 3986's unreserved and sub-delim characters,
    // never a dot segment: it is matched against request paths as it is.
    let allowed = |b: u8| b.is_ascii_alphanumeric() || b"-._~!$'()*+,;=:@".contains(&b);
    if given.len() > 1024 || given == "." || given == ".." || !given.bytes().all(allowed) {
        return Err(ApiError::bad_request(format!(
            "Invalid base path specified: {given}"
        )));
    }
    Ok(given.to_string())
}

/// The API and stage a mapping names must exist (AWS answers 400, not 404).
fn check_target(state: &State, mapping: &BasePathMapping) -> Result<(), ApiError> {
    let api = state
        .rest_apis
        .get(&mapping.rest_api_id)
        .ok_or_else(|| ApiError::bad_request("Invalid REST API identifier specified"))?;
    if let Some(stage) = &mapping.stage {
        if !api.stages.contains_key(stage) {
            return Err(ApiError::bad_request("Invalid stage identifier specified"));
        }
    }
    Ok(())
}

/// A mapping's stage as given: `(none)` or empty means "named by the path".
fn stage_of(given: Option<String>) -> Option<String> {
    given.filter(|s| !s.is_empty() && s != NO_BASE_PATH)
}

/// Adds `mapping` to `doc` unless its base path is taken.
fn insert(doc: &mut DomainNameDoc, mapping: BasePathMapping) -> Result<(), ApiError> {
    if doc.mappings.contains_key(&mapping.base_path) {
        return Err(ApiError::conflict(if mapping.base_path == NO_BASE_PATH {
            "Only one base path mapping is allowed if the base path is empty."
        } else {
            "Base path already exists for this domain name"
        }));
    }
    if doc.mappings.len() >= MAX_MAPPINGS {
        return Err(ApiError::new(
            ErrorCode::LimitExceeded,
            format!("A domain name can have at most {MAX_MAPPINGS} base path mappings."),
        ));
    }
    doc.mappings.insert(mapping.base_path.clone(), mapping);
    Ok(())
}

fn put(op: &mut Op<'_>, doc: DomainNameDoc) {
    let name = doc.domain.domain_name.clone();
    op.changes
        .push(Change::DomainName(name, Some(Arc::new(doc))));
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateInput {
    base_path: Option<String>,
    rest_api_id: Option<String>,
    stage: Option<String>,
}

pub fn create(op: &mut Op<'_>) -> Result<Reply, ApiError> {
    let input: CreateInput = op.req.json()?;
    let mut doc = domain(op)?.as_ref().clone();
    let mapping = BasePathMapping {
        base_path: base_path_of(input.base_path.as_deref())?,
        rest_api_id: input.rest_api_id.unwrap_or_default(),
        stage: stage_of(input.stage),
    };
    check_target(op.state, &mapping)?;
    let body = to_json(&mapping)?;
    insert(&mut doc, mapping)?;
    put(op, doc);
    Ok(Reply::created(body))
}

/// The mapping named by `{base_path}` (`(none)` for the one without).
fn mapping<'d>(doc: &'d DomainNameDoc, op: &Op<'_>) -> Result<&'d BasePathMapping, ApiError> {
    let base_path = match op.param("base_path") {
        "" => NO_BASE_PATH,
        given => given,
    };
    doc.mappings.get(base_path).ok_or_else(not_found)
}

pub fn get(op: &mut Op<'_>) -> Result<Reply, ApiError> {
    let doc = domain(op)?;
    Ok(Reply::ok(to_json(mapping(doc, op)?)?))
}

pub fn list(op: &mut Op<'_>) -> Result<Reply, ApiError> {
    let items = domain(op)?
        .mappings
        .iter()
        .map(|(base_path, m)| Ok((base_path.clone(), to_json(m)?)))
        .collect::<Result<Vec<_>, ApiError>>()?;
    Ok(Reply::ok(page(op.req, items)?))
}

const UPDATE_PATHS: &[&str] = &["/basePath", "/restapiId", "/stage"];

pub fn update(op: &mut Op<'_>) -> Result<Reply, ApiError> {
    let input = patch_input(op, "updateBasePathMappingInput")?;
    let mut doc = domain(op)?.as_ref().clone();
    let mut updated = mapping(&doc, op)?.clone();
    doc.mappings.remove(&updated.base_path);
    for patch in &input.patch_operations {
        if patch.op != PatchOp::Replace {
            return Err(patch.unsupported_among(UPDATE_PATHS));
        }
        let value = patch.value.clone();
        match patch.path.as_str() {
            "/basePath" => updated.base_path = base_path_of(value.as_deref())?,
            // AWS's documented path is `/restapiId`; the model's spelling is taken too.
            "/restapiId" | "/restApiId" => updated.rest_api_id = value.unwrap_or_default(),
            "/stage" => updated.stage = stage_of(value),
            _ => return Err(patch.unsupported_among(UPDATE_PATHS)),
        }
    }
    check_target(op.state, &updated)?;
    let body = to_json(&updated)?;
    insert(&mut doc, updated)?;
    put(op, doc);
    Ok(Reply::ok(body))
}

pub fn delete(op: &mut Op<'_>) -> Result<Reply, ApiError> {
    let mut doc = domain(op)?.as_ref().clone();
    let base_path = mapping(&doc, op)?.base_path.clone();
    doc.mappings.remove(&base_path);
    put(op, doc);
    Ok(Reply::accepted())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_paths_are_one_safe_segment() {
        assert_eq!(base_path_of(None).ok().as_deref(), Some(NO_BASE_PATH));
        assert_eq!(base_path_of(Some("")).ok().as_deref(), Some(NO_BASE_PATH));
        assert_eq!(
            base_path_of(Some("(none)")).ok().as_deref(),
            Some(NO_BASE_PATH)
        );
        assert_eq!(base_path_of(Some("v1")).ok().as_deref(), Some("v1"));
        for bad in ["..", ".", "a/b", "../x", "a b", "a%2f", "a?b", "a#b"] {
            assert!(base_path_of(Some(bad)).is_err(), "{bad}");
        }
        assert!(base_path_of(Some(&"a".repeat(2000))).is_err());
    }
}

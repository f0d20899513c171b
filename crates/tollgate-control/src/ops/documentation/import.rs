//! ImportDocumentationParts: the `x-amazon-apigateway-documentation`
//! extension of an OpenAPI or Swagger file, merged into or replacing the
//! API's parts.

use serde_json::{json, Value};
use tollgate_model::documentation::DocumentationPart;
use tollgate_model::{ids, ApiError};

use super::{check_properties, LocationInput};
use crate::ops::{check_enum, Op};
use crate::request::Reply;

/// AWS's answer to a body that is not an OpenAPI document.
fn unreadable() -> ApiError {
    ApiError::bad_request("Unable to build importer with provided input.")
}

/// The definition, JSON or YAML.
fn definition(body: &[u8]) -> Result<Value, ApiError> {
    let doc: Value = crate::ops::openapi::document::parse_value(body)?;
    let is_openapi = doc.get("openapi").is_some_and(Value::is_string)
        || doc.get("swagger").is_some_and(Value::is_string);
    if is_openapi {
        Ok(doc)
    } else {
        Err(unreadable())
    }
}

/// The parts a definition carries, each checked as CreateDocumentationPart
/// checks one. A part that fails is a warning (or, with
/// `failonwarnings`, the error).
pub(in crate::ops) fn parts_of(
    doc: &Value,
    fail_on_warnings: bool,
    warnings: &mut Vec<String>,
) -> Result<
    Vec<(
        tollgate_model::documentation::DocumentationPartLocation,
        String,
    )>,
    ApiError,
> {
    let listed = doc
        .get("x-amazon-apigateway-documentation")
        .and_then(|d| d.get("documentationParts"));
    let listed = match listed {
        None => return Ok(Vec::new()),
        Some(Value::Array(parts)) => parts,
        Some(_) => return Err(unreadable()),
    };
    let mut out = Vec::with_capacity(listed.len());
    for (i, raw) in listed.iter().enumerate() {
        let checked = (|| {
            let location: LocationInput =
                serde_json::from_value(raw.get("location").cloned().unwrap_or(json!({})))
                    .map_err(|_| ApiError::bad_request("Invalid documentation part location"))?;
            let location = location.check("documentationParts.location")?;
            let properties = match raw.get("properties") {
                Some(Value::String(s)) => check_properties(Some(s))?,
                Some(v @ Value::Object(_)) => v.to_string(),
                _ => check_properties(None)?,
            };
            Ok::<_, ApiError>((location, properties))
        })();
        match checked {
            Ok(part) => out.push(part),
            Err(e) if fail_on_warnings => return Err(e),
            Err(e) => warnings.push(format!("Documentation part {i} skipped: {}", e.message)),
        }
    }
    Ok(out)
}

/// Adds `imported` to `parts`; a location already there (in the API or
/// earlier in the file) is updated. The ids touched, in file order.
pub(in crate::ops) fn merge_parts(
    parts: &mut Vec<DocumentationPart>,
    imported: Vec<(
        tollgate_model::documentation::DocumentationPartLocation,
        String,
    )>,
) -> Vec<String> {
    let mut ids_out: Vec<String> = Vec::with_capacity(imported.len());
    for (location, properties) in imported {
        if let Some(existing) = parts.iter_mut().find(|p| p.location == location) {
            existing.properties = properties;
            if !ids_out.contains(&existing.id) {
                ids_out.push(existing.id.clone());
            }
            continue;
        }
        let id = ids::unique(6, |id| parts.iter().any(|p| p.id == id));
        ids_out.push(id.clone());
        parts.push(DocumentationPart {
            id,
            location,
            properties,
        });
    }
    ids_out
}

pub fn import(op: &mut Op<'_>) -> Result<Reply, ApiError> {
    let mode = op.req.query("mode").unwrap_or("merge");
    check_enum(mode, "mode", &["merge", "overwrite"])?;
    let fail_on_warnings = op.req.query_bool("failonwarnings");
    let mut doc = op.api_to_edit()?;
    let definition = definition(&op.req.body)?;
    let mut warnings = Vec::new();
    let imported = parts_of(&definition, fail_on_warnings, &mut warnings)?;
    let parts = &mut doc.documentation.parts;
    if mode == "overwrite" {
        parts.clear();
    }
    let ids_out = merge_parts(parts, imported);
    op.put_api(doc);
    let mut body = json!({ "ids": ids_out });
    if !warnings.is_empty() {
        body["warnings"] = json!(warnings);
    }
    Ok(Reply::ok(body))
}

//! `position`/`limit` pagination of list operations (`spec/aws-apigw.md` §1.1).

use serde_json::{json, Value};
use tollgate_model::ApiError;

use crate::request::ControlRequest;

const DEFAULT_LIMIT: usize = 25;
const MAX_LIMIT: usize = 500;

/// Pages `items` (already in a stable order, each with its sort id) into
/// `{"item": [...], "position": "<next id>"}`.
pub fn page(req: &ControlRequest, items: Vec<(String, Value)>) -> Result<Value, ApiError> {
    let limit = match req.query("limit") {
        None => DEFAULT_LIMIT,
        Some(l) => match l.parse::<usize>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
            _ => {
                return Err(ApiError::bad_request(format!(
                    "Invalid limit: {l}. Must be between 1 and {MAX_LIMIT}"
                )))
            }
        },
    };
    let start = match req.query("position") {
        None | Some("") => 0,
        Some(position) => items
            .iter()
            .position(|(id, _)| id.as_str() >= position)
            .unwrap_or(items.len()),
    };
    let mut page: Vec<(String, Value)> = items.into_iter().skip(start).collect();
    let next = (page.len() > limit).then(|| page[limit].0.clone());
    page.truncate(limit);
    let mut out = json!({ "item": page.into_iter().map(|(_, v)| v).collect::<Vec<_>>() });
    if let Some(next) = next {
        out["position"] = Value::String(next);
    }
    Ok(out)
}

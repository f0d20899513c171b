//! CreateAuthorizer, GetAuthorizer(s), UpdateAuthorizer, DeleteAuthorizer.
//! Invoking authorizers belongs to the data plane.

use serde::Deserialize;
use tollgate_model::authorizer::{
    Authorizer, AUTHORIZER_TYPES, DEFAULT_TTL_SECONDS, MAX_TTL_SECONDS,
};
use tollgate_model::patch::PatchOp;
use tollgate_model::state::RestApiDoc;
use tollgate_model::{ids, ApiError};

use super::{check_enum, required, to_json, Op, PatchInput};
use crate::pagination::page;
use crate::request::Reply;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateInput {
    name: Option<String>,
    #[serde(rename = "type")]
    authorizer_type: Option<String>,
    #[serde(default)]
    provider_arns: Vec<String>,
    auth_type: Option<String>,
    authorizer_uri: Option<String>,
    authorizer_credentials: Option<String>,
    identity_source: Option<String>,
    identity_validation_expression: Option<String>,
    authorizer_result_ttl_in_seconds: Option<i64>,
}

pub(super) fn validate(a: &Authorizer) -> Result<(), ApiError> {
    check_enum(
        &a.authorizer_type,
        "createAuthorizerInput.type",
        AUTHORIZER_TYPES,
    )?;
    if !(0..=MAX_TTL_SECONDS).contains(&a.authorizer_result_ttl_in_seconds) {
        return Err(ApiError::bad_request(format!(
            "Invalid authorizer result TTL: must be between 0 and {MAX_TTL_SECONDS} seconds"
        )));
    }
    match a.authorizer_type.as_str() {
        "TOKEN" | "REQUEST" => {
            let uri = a.authorizer_uri.as_deref().unwrap_or_default();
            if !tollgate_model::integration::is_lambda_invocation_uri(uri) {
                return Err(ApiError::bad_request(format!(
                    "Invalid Authorizer URI: {uri}. Authorizer URI should be a valid API Gateway ARN that represents a Lambda function invocation."
                )));
            }
        }
        _ => {
            if a.provider_arns.is_empty() {
                return Err(ApiError::bad_request(
                    "ProviderARNs need to be specified for COGNITO_USER_POOLS authorizers",
                ));
            }
        }
    }
    if a.authorizer_type == "TOKEN" {
        let source = a.identity_source.as_deref().unwrap_or_default();
        if source
            .strip_prefix("method.request.header.")
            .is_none_or(str::is_empty)
        {
            return Err(ApiError::bad_request(format!(
                "Invalid identity source: {source}. A TOKEN authorizer's identity source must be method.request.header.NAME"
            )));
        }
    }
    if a.authorizer_type == "REQUEST" && a.authorizer_result_ttl_in_seconds > 0 {
        let sources = a.identity_source.as_deref().unwrap_or_default();
        if sources.trim().is_empty() {
            return Err(ApiError::bad_request(
                "An identity source must be specified for a REQUEST authorizer with caching enabled",
            ));
        }
        for source in sources.split(',').map(str::trim) {
            let ok = [
                "method.request.header.",
                "method.request.querystring.",
                "stageVariables.",
                "context.",
            ]
            .iter()
            .any(|p| source.strip_prefix(p).is_some_and(|n| !n.is_empty()));
            if !ok {
                return Err(ApiError::bad_request(format!(
                    "Invalid identity source: {source}"
                )));
            }
        }
    }
    if let Some(expr) = &a.identity_validation_expression {
        if expr.len() > 1024 {
            return Err(ApiError::bad_request(
                "Identity validation expression is too long",
            ));
        }
    }
    Ok(())
}

pub fn create(op: &mut Op<'_>) -> Result<Reply, ApiError> {
    let input: CreateInput = op.req.json()?;
    let name = required(&input.name, "name")?.to_string();
    let authorizer_type = required(&input.authorizer_type, "type")?.to_string();
    let auth_type = input.auth_type.or_else(|| {
        Some(
            if authorizer_type == "COGNITO_USER_POOLS" {
                "cognito_user_pools"
            } else {
                "custom"
            }
            .to_string(),
        )
    });
    let mut authorizer = Authorizer {
        id: String::new(),
        name,
        authorizer_type,
        provider_arns: input.provider_arns,
        auth_type,
        authorizer_uri: input.authorizer_uri,
        authorizer_credentials: input.authorizer_credentials,
        identity_source: input.identity_source,
        identity_validation_expression: input.identity_validation_expression,
        authorizer_result_ttl_in_seconds: input
            .authorizer_result_ttl_in_seconds
            .unwrap_or(DEFAULT_TTL_SECONDS),
    };
    // AWS checks the input before it looks the API up, and reports a missing
    // API to CreateAuthorizer as a concurrent modification.
    validate(&authorizer)?;
    let mut doc = op.api_to_edit().map_err(|_| {
        ApiError::conflict(
            "Unable to complete operation due to concurrent modification. Please try again later.",
        )
    })?;
    if doc.definition.authorizers.len() >= 10 {
        return Err(ApiError::new(
            tollgate_model::ErrorCode::LimitExceeded,
            "Maximum number of authorizers for this API has been reached.",
        ));
    }
    let id = ids::unique(6, |id| doc.definition.authorizers.contains_key(id));
    authorizer.id = id.clone();
    let body = to_json(&authorizer)?;
    doc.definition.authorizers.insert(id, authorizer);
    op.put_api(doc);
    Ok(Reply::created(body))
}

fn authorizer<'d>(doc: &'d RestApiDoc, id: &str) -> Result<&'d Authorizer, ApiError> {
    doc.definition
        .authorizers
        .get(id)
        .ok_or_else(|| ApiError::not_found("Invalid Authorizer identifier specified"))
}

pub fn get(op: &mut Op<'_>) -> Result<Reply, ApiError> {
    Ok(Reply::ok(to_json(authorizer(
        op.api()?,
        op.param("authorizer_id"),
    )?)?))
}

pub fn list(op: &mut Op<'_>) -> Result<Reply, ApiError> {
    let items = op
        .api()?
        .definition
        .authorizers
        .iter()
        .map(|(id, a)| Ok((id.clone(), to_json(a)?)))
        .collect::<Result<Vec<_>, ApiError>>()?;
    Ok(Reply::ok(page(op.req, items)?))
}

pub fn update(op: &mut Op<'_>) -> Result<Reply, ApiError> {
    let input: PatchInput = op.req.json()?;
    let mut doc = op.api_to_edit()?;
    let id = op.param("authorizer_id").to_string();
    let mut a = authorizer(&doc, &id)?.clone();
    for patch in &input.patch_operations {
        let text = || patch.value.clone().filter(|v| !v.is_empty());
        match (patch.op, patch.path.as_str()) {
            (PatchOp::Replace, "/name") => a.name = patch.value()?.to_string(),
            (PatchOp::Replace, "/type") => a.authorizer_type = patch.value()?.to_string(),
            (PatchOp::Replace, "/authorizerUri") => a.authorizer_uri = text(),
            (PatchOp::Replace, "/authorizerCredentials") => a.authorizer_credentials = text(),
            (PatchOp::Replace, "/identitySource") => a.identity_source = text(),
            (PatchOp::Replace, "/identityValidationExpression") => {
                a.identity_validation_expression = text()
            }
            (PatchOp::Replace, "/authorizerResultTtlInSeconds") => {
                a.authorizer_result_ttl_in_seconds = patch.int_value()?
            }
            (PatchOp::Add, "/providerARNs") => a.provider_arns.push(patch.value()?.to_string()),
            (PatchOp::Remove, "/providerARNs") => {
                let v = patch.value()?;
                a.provider_arns.retain(|p| p != v);
            }
            _ => return Err(patch.unsupported()),
        }
    }
    validate(&a)?;
    let body = to_json(&a)?;
    doc.definition.authorizers.insert(id, a);
    op.put_api(doc);
    Ok(Reply::ok(body))
}

pub fn delete(op: &mut Op<'_>) -> Result<Reply, ApiError> {
    let mut doc = op.api_to_edit()?;
    let id = op.param("authorizer_id").to_string();
    authorizer(&doc, &id)?;
    let in_use = doc.definition.resources.values().any(|r| {
        r.resource_methods
            .values()
            .any(|m| m.authorizer_id.as_deref() == Some(id.as_str()))
    });
    if in_use {
        return Err(ApiError::conflict(
            "Cannot delete authorizer, is referenced in method",
        ));
    }
    doc.definition.authorizers.remove(&id);
    op.put_api(doc);
    Ok(Reply::accepted())
}

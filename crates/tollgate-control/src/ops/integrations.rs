//! PutIntegration, GetIntegration, UpdateIntegration, DeleteIntegration and the
//! IntegrationResponse operations.

use std::collections::BTreeMap;

use serde::Deserialize;
use tollgate_model::integration::{
    self, Integration, IntegrationResponse, TlsConfig, CONNECTION_TYPES, CONTENT_HANDLINGS,
    DEFAULT_TIMEOUT_MS, INTEGRATION_TYPES, PASSTHROUGH_BEHAVIORS,
};
use tollgate_model::method::Method;
use tollgate_model::patch::PatchOp;
use tollgate_model::ApiError;

use super::violations::Violations;
use super::{
    check_enum, method, method_mut, patch_map, resource, resource_mut, to_json, unknown_status, Op,
    PatchInput,
};
use crate::request::Reply;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PutInput {
    #[serde(rename = "type")]
    integration_type: Option<String>,
    http_method: Option<String>,
    uri: Option<String>,
    connection_type: Option<String>,
    connection_id: Option<String>,
    credentials: Option<String>,
    #[serde(default)]
    request_parameters: BTreeMap<String, String>,
    #[serde(default)]
    request_templates: BTreeMap<String, Option<String>>,
    passthrough_behavior: Option<String>,
    cache_namespace: Option<String>,
    #[serde(default)]
    cache_key_parameters: Vec<String>,
    content_handling: Option<String>,
    timeout_in_millis: Option<i64>,
    tls_config: Option<TlsConfig>,
}

/// `integration.request.{path|querystring|header|multivaluequerystring|multivalueheader}.NAME`
/// mapped from a method request parameter, a body, a stage variable, a context
/// variable or a quoted literal (`spec/aws-apigw.md` §6.3).
fn validate_request_parameter(method: &Method, key: &str, value: &str) -> Result<(), ApiError> {
    let invalid = |what: &str| {
        ApiError::bad_request(format!(
            "Invalid mapping expression specified: Validation Result: warnings : [], errors : [{what}]"
        ))
    };
    let key_ok = [
        "path",
        "querystring",
        "header",
        "multivaluequerystring",
        "multivalueheader",
    ]
    .iter()
    .any(|loc| {
        key.strip_prefix("integration.request.")
            .and_then(|r| r.strip_prefix(loc))
            .and_then(|r| r.strip_prefix('.'))
            .is_some_and(|n| !n.is_empty())
    });
    if !key_ok {
        return Err(invalid(&format!(
            "Invalid mapping expression specified: {key}"
        )));
    }
    let literal = value.len() >= 2 && value.starts_with('\'') && value.ends_with('\'');
    let source_ok = literal
        || value.starts_with("stageVariables.")
        || value.starts_with("context.")
        || value == "method.request.body"
        || value.starts_with("method.request.body.")
        || (value.starts_with("method.request.")
            && (method.request_parameters.contains_key(value)
                || value.starts_with("method.request.path.")
                || value.starts_with("method.request.header.")
                || value.starts_with("method.request.querystring.")
                || value.starts_with("method.request.multivalue")));
    if !source_ok {
        return Err(invalid(&format!(
            "Invalid mapping expression specified: {value}"
        )));
    }
    Ok(())
}

/// Templates are parsed when saved, so a broken one is refused with its line and column.
fn validate_templates(templates: &BTreeMap<String, Option<String>>) -> Result<(), ApiError> {
    for (content_type, text) in templates {
        if let Some(text) = text.as_deref().filter(|t| !t.is_empty()) {
            if text.len() > 300 * 1024 {
                return Err(ApiError::bad_request(format!(
                    "Mapping template for {content_type} exceeds the 300 KB limit"
                )));
            }
            tollgate_vtl::Template::parse(text).map_err(|e| {
                ApiError::bad_request(format!("Invalid mapping template for {content_type}: {e}"))
            })?;
        }
    }
    Ok(())
}

pub(super) fn validate(method: &Method, i: &Integration) -> Result<(), ApiError> {
    validate_templates(&i.request_templates)?;
    check_enum(
        &i.integration_type,
        "putIntegrationInput.type",
        INTEGRATION_TYPES,
    )?;
    check_enum(
        &i.passthrough_behavior,
        "putIntegrationInput.passthroughBehavior",
        PASSTHROUGH_BEHAVIORS,
    )?;
    if let Some(ch) = &i.content_handling {
        check_enum(ch, "putIntegrationInput.contentHandling", CONTENT_HANDLINGS)?;
    }
    if let Some(ct) = &i.connection_type {
        check_enum(ct, "putIntegrationInput.connectionType", CONNECTION_TYPES)?;
    }
    integration::validate(i)?;
    for (key, value) in &i.request_parameters {
        validate_request_parameter(method, key, value)?;
    }
    Ok(())
}

/// An empty template is kept as none (AWS shows it as `null`).
fn empty_templates_as_none(
    templates: BTreeMap<String, Option<String>>,
) -> BTreeMap<String, Option<String>> {
    templates
        .into_iter()
        .map(|(content_type, t)| (content_type, t.filter(|t| !t.is_empty())))
        .collect()
}

/// The enum members of a PutIntegration body, checked before anything is
/// looked up (AWS's input-shape check).
fn check_put_shape(input: &PutInput) -> Result<(), ApiError> {
    let mut violations = Violations::default();
    let members = [
        (&input.integration_type, "type", INTEGRATION_TYPES),
        (&input.connection_type, "connectionType", CONNECTION_TYPES),
        (
            &input.passthrough_behavior,
            "passthroughBehavior",
            PASSTHROUGH_BEHAVIORS,
        ),
        (
            &input.content_handling,
            "contentHandling",
            CONTENT_HANDLINGS,
        ),
    ];
    for (value, member, allowed) in members {
        if let Some(v) = value.as_deref().filter(|v| !v.is_empty()) {
            violations.enum_value(v, &format!("putIntegrationInput.{member}"), allowed);
        }
    }
    violations.check()
}

pub fn put(op: &mut Op<'_>) -> Result<Reply, ApiError> {
    let input: PutInput = op.req.json()?;
    check_put_shape(&input)?;
    let mut doc = op.resource_api_to_edit()?;
    let (resource_id, http_method) = (
        op.param("resource_id").to_string(),
        op.param("http_method").to_string(),
    );
    let m = method(resource(&doc, &resource_id)?, &http_method)?;
    let integration_type = input
        .integration_type
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            ApiError::bad_request("Enumeration value for IntegrationType must be non-empty")
        })?;
    let is_http = matches!(integration_type.as_str(), "HTTP" | "HTTP_PROXY");
    let new = Integration {
        connection_type: input
            .connection_type
            .or_else(|| (integration_type != "MOCK").then(|| "INTERNET".to_string())),
        integration_type,
        http_method: input.http_method.filter(|m| !m.is_empty()),
        uri: input.uri.filter(|u| !u.is_empty()),
        connection_id: input.connection_id,
        credentials: input.credentials,
        request_parameters: input.request_parameters,
        request_templates: empty_templates_as_none(input.request_templates),
        passthrough_behavior: input
            .passthrough_behavior
            .unwrap_or_else(|| "WHEN_NO_MATCH".into()),
        content_handling: input.content_handling,
        timeout_in_millis: input.timeout_in_millis.unwrap_or(DEFAULT_TIMEOUT_MS),
        cache_namespace: input.cache_namespace.unwrap_or_else(|| resource_id.clone()),
        cache_key_parameters: input.cache_key_parameters,
        integration_responses: BTreeMap::new(),
        tls_config: input.tls_config.filter(|_| is_http),
    };
    validate(m, &new)?;
    let body = to_json(&new)?;
    method_mut(resource_mut(&mut doc, &resource_id)?, &http_method)?.method_integration = Some(new);
    op.put_api(doc);
    Ok(Reply::created(body))
}

fn integration_of(m: &Method) -> Result<&Integration, ApiError> {
    m.method_integration
        .as_ref()
        .ok_or_else(|| ApiError::not_found("Invalid Integration identifier specified"))
}

pub fn get(op: &mut Op<'_>) -> Result<Reply, ApiError> {
    Ok(Reply::ok(to_json(integration_of(op.method()?)?)?))
}

pub fn update(op: &mut Op<'_>) -> Result<Reply, ApiError> {
    let mut violations = Violations::default();
    violations.patch_ops("updateIntegrationInput", &op.req.body);
    violations.check()?;
    let input: PatchInput = op.req.json()?;
    let mut doc = op.resource_api_to_edit()?;
    let (resource_id, http_method) = (
        op.param("resource_id").to_string(),
        op.param("http_method").to_string(),
    );
    let m = method(resource(&doc, &resource_id)?, &http_method)?;
    let mut i = integration_of(m)?.clone();
    for patch in &input.patch_operations {
        let segments = patch.segments();
        let segs: Vec<&str> = segments.iter().map(String::as_str).collect();
        let text = || patch.value.clone().filter(|v| !v.is_empty());
        match (patch.op, segs.as_slice()) {
            (PatchOp::Replace, ["uri"]) => i.uri = text(),
            (PatchOp::Replace, ["httpMethod"]) => i.http_method = text(),
            (PatchOp::Replace, ["type"]) => i.integration_type = patch.value()?.to_string(),
            (PatchOp::Replace, ["passthroughBehavior"]) => {
                i.passthrough_behavior = patch.value()?.to_string()
            }
            (PatchOp::Replace, ["timeoutInMillis"]) => i.timeout_in_millis = patch.int_value()?,
            (PatchOp::Replace, ["contentHandling"]) => i.content_handling = text(),
            (PatchOp::Replace, ["connectionType"]) => i.connection_type = text(),
            (PatchOp::Replace, ["connectionId"]) => i.connection_id = text(),
            (PatchOp::Replace, ["credentials"]) => i.credentials = text(),
            (PatchOp::Replace, ["cacheNamespace"]) => {
                i.cache_namespace = patch.value()?.to_string()
            }
            (PatchOp::Add, ["cacheKeyParameters", key]) => {
                if !i.cache_key_parameters.iter().any(|k| k == key) {
                    i.cache_key_parameters.push(key.to_string())
                }
            }
            (PatchOp::Remove, ["cacheKeyParameters", key]) => {
                i.cache_key_parameters.retain(|k| k != key)
            }
            (_, ["requestParameters", key]) => {
                patch_map(&mut i.request_parameters, patch, key.to_string(), |v| {
                    Ok(v.to_string())
                })?
            }
            (_, ["requestTemplates", content_type]) => patch_map(
                &mut i.request_templates,
                patch,
                content_type.to_string(),
                |v| Ok(Some(v.to_string())),
            )?,
            (PatchOp::Replace, ["tlsConfig", "insecureSkipVerification"]) => {
                i.tls_config = Some(TlsConfig {
                    insecure_skip_verification: patch.bool_value()?,
                })
            }
            _ => return Err(patch.unsupported()),
        }
    }
    validate(m, &i)?;
    let body = to_json(&i)?;
    method_mut(resource_mut(&mut doc, &resource_id)?, &http_method)?.method_integration = Some(i);
    op.put_api(doc);
    Ok(Reply::ok(body))
}

pub fn delete(op: &mut Op<'_>) -> Result<Reply, ApiError> {
    let mut doc = op.resource_api_to_edit()?;
    let (resource_id, http_method) = (
        op.param("resource_id").to_string(),
        op.param("http_method").to_string(),
    );
    let m = method_mut(resource_mut(&mut doc, &resource_id)?, &http_method)?;
    if m.method_integration.take().is_none() {
        return Err(ApiError::not_found(
            "Invalid Integration identifier specified",
        ));
    }
    op.put_api(doc);
    Ok(Reply::no_content())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PutResponseInput {
    selection_pattern: Option<String>,
    #[serde(default)]
    response_parameters: BTreeMap<String, String>,
    #[serde(default)]
    response_templates: BTreeMap<String, Option<String>>,
    content_handling: Option<String>,
}

pub(super) fn validate_response(r: &IntegrationResponse) -> Result<(), ApiError> {
    validate_templates(&r.response_templates)?;
    if let Some(pattern) = r.selection_pattern.as_deref().filter(|p| !p.is_empty()) {
        regex::Regex::new(pattern).map_err(|e| {
            ApiError::bad_request(format!("Invalid selection pattern {pattern:?}: {e}"))
        })?;
    }
    if let Some(ch) = &r.content_handling {
        check_enum(
            ch,
            "putIntegrationResponseInput.contentHandling",
            CONTENT_HANDLINGS,
        )?;
    }
    for key in r.response_parameters.keys() {
        if key
            .strip_prefix("method.response.header.")
            .is_none_or(str::is_empty)
        {
            return Err(ApiError::bad_request(format!(
                "Invalid mapping expression specified: Validation Result: warnings : [], errors : [Invalid mapping expression specified: {key}]"
            )));
        }
    }
    Ok(())
}

/// The `{status_code}` of an integration-response operation, checked as
/// AWS's input shape checks it (before anything is looked up).
fn status_param(op: &Op<'_>) -> Result<String, ApiError> {
    let status = op.param("status_code").to_string();
    let mut violations = Violations::default();
    violations.status_code(&status);
    violations.check()?;
    Ok(status)
}

pub fn put_response(op: &mut Op<'_>) -> Result<Reply, ApiError> {
    let input: PutResponseInput = op.req.json()?;
    let status = status_param(op)?;
    let mut doc = op.resource_api_to_edit()?;
    let (resource_id, http_method) = (
        op.param("resource_id").to_string(),
        op.param("http_method").to_string(),
    );
    let m = method_mut(resource_mut(&mut doc, &resource_id)?, &http_method)?;
    let i = m
        .method_integration
        .as_mut()
        .ok_or_else(|| ApiError::not_found("Invalid Integration identifier specified"))?;
    let response = IntegrationResponse {
        status_code: status.clone(),
        selection_pattern: input.selection_pattern,
        response_parameters: input.response_parameters,
        response_templates: empty_templates_as_none(input.response_templates),
        content_handling: input.content_handling,
    };
    validate_response(&response)?;
    let body = to_json(&response)?;
    i.integration_responses.insert(status, response);
    op.put_api(doc);
    Ok(Reply::created(body))
}

fn integration_response<'i>(
    i: &'i Integration,
    status: &str,
) -> Result<&'i IntegrationResponse, ApiError> {
    i.integration_responses
        .get(status)
        .ok_or_else(unknown_status)
}

pub fn get_response(op: &mut Op<'_>) -> Result<Reply, ApiError> {
    let status = status_param(op)?;
    let m = op.method()?;
    Ok(Reply::ok(to_json(integration_response(
        integration_of(m)?,
        &status,
    )?)?))
}

pub fn update_response(op: &mut Op<'_>) -> Result<Reply, ApiError> {
    let status = op.param("status_code").to_string();
    let mut violations = Violations::default();
    violations.patch_ops("updateIntegrationResponseInput", &op.req.body);
    violations.status_code(&status);
    violations.check()?;
    let input: PatchInput = op.req.json()?;
    let mut doc = op.resource_api_to_edit()?;
    let (resource_id, http_method) = (
        op.param("resource_id").to_string(),
        op.param("http_method").to_string(),
    );
    let m = method(resource(&doc, &resource_id)?, &http_method)?;
    let mut r = integration_response(integration_of(m)?, &status)?.clone();
    for patch in &input.patch_operations {
        let segments = patch.segments();
        let segs: Vec<&str> = segments.iter().map(String::as_str).collect();
        match (patch.op, segs.as_slice()) {
            (PatchOp::Replace, ["selectionPattern"]) => r.selection_pattern = patch.value.clone(),
            (PatchOp::Replace, ["contentHandling"]) => {
                r.content_handling = patch.value.clone().filter(|v| !v.is_empty())
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
                |v| Ok(Some(v.to_string())),
            )?,
            _ => return Err(patch.unsupported()),
        }
    }
    validate_response(&r)?;
    let body = to_json(&r)?;
    let m = method_mut(resource_mut(&mut doc, &resource_id)?, &http_method)?;
    if let Some(i) = m.method_integration.as_mut() {
        i.integration_responses.insert(status, r);
    }
    op.put_api(doc);
    Ok(Reply::ok(body))
}

pub fn delete_response(op: &mut Op<'_>) -> Result<Reply, ApiError> {
    let status = status_param(op)?;
    let mut doc = op.resource_api_to_edit()?;
    let (resource_id, http_method) = (
        op.param("resource_id").to_string(),
        op.param("http_method").to_string(),
    );
    let r = resource_mut(&mut doc, &resource_id)?;
    // Here AWS reports a method that is not there as a missing integration.
    let i = r
        .resource_methods
        .get_mut(&http_method)
        .and_then(|m| m.method_integration.as_mut())
        .ok_or_else(|| ApiError::not_found("Invalid Integration identifier specified"))?;
    if i.integration_responses.remove(&status).is_none() {
        return Err(unknown_status());
    }
    op.put_api(doc);
    Ok(Reply::no_content())
}

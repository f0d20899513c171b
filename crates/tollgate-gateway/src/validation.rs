//! Request validation (`spec/aws-apigw.md` §6): a method's request
//! validator checks its required request parameters (`method.request.*`
//! marked `true`) and its body against the model its `requestModels` names
//! for the request's content type (JSON Schema draft 4). Models may `$ref`
//! other models of the API by their
//! `https://apigateway.amazonaws.com/restapis/{id}/models/{name}` URL.
//!
//! Failures are AWS's 400s: `Missing required request parameters: [...]`
//! (BAD_REQUEST_PARAMETERS) and `Invalid request body` (BAD_REQUEST_BODY),
//! with the details in `$context.error.validationErrorString`, worded as
//! AWS's validator words them.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;
use tollgate_model::method::Method;
use tollgate_model::model_schema::Model;
use tollgate_model::request_validator::RequestValidator;

use crate::error::{ErrorKind, GatewayError};
use crate::router::PathParam;

/// Where a required parameter is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    Path,
    Query,
    /// Lower-cased.
    Header,
}

/// A method's validation, compiled.
pub struct CompiledValidation {
    /// (where, name to look up, name as AWS lists it when missing).
    required: Vec<(Location, String, String)>,
    /// Content type (lower-cased, or `$default`) → the model's validator.
    bodies: Vec<(String, Arc<jsonschema::Validator>)>,
}

impl std::fmt::Debug for CompiledValidation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompiledValidation")
            .field("required", &self.required)
            .field(
                "bodies",
                &self.bodies.iter().map(|(t, _)| t).collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// The URL other models reference a model of `api_id` by.
fn model_url(api_id: &str, name: &str) -> String {
    format!("https://apigateway.amazonaws.com/restapis/{api_id}/models/{name}")
}

/// Finds the API's models for `$ref`s (and nothing else: no network).
struct Models(BTreeMap<String, Value>);

impl jsonschema::Retrieve for Models {
    fn retrieve(
        &self,
        uri: &jsonschema::Uri<String>,
    ) -> Result<Value, Box<dyn std::error::Error + Send + Sync>> {
        let text = uri.as_str();
        self.0
            .get(text.trim_end_matches('#'))
            .cloned()
            .ok_or_else(|| format!("{text} names no model of this API").into())
    }
}

/// Compiles `method`'s validation, if its validator asks for any.
pub fn compile(
    api_id: &str,
    method: &Method,
    validators: &BTreeMap<String, RequestValidator>,
    models: &BTreeMap<String, Model>,
) -> Result<Option<CompiledValidation>, String> {
    let Some(validator) = method
        .request_validator_id
        .as_ref()
        .and_then(|id| validators.get(id))
    else {
        return Ok(None);
    };
    let mut required = Vec::new();
    if validator.validate_request_parameters {
        for (key, is_required) in &method.request_parameters {
            if !is_required {
                continue;
            }
            let (location, name) = if let Some(n) = key.strip_prefix("method.request.path.") {
                (Location::Path, n)
            } else if let Some(n) = key.strip_prefix("method.request.querystring.") {
                (Location::Query, n)
            } else if let Some(n) = key.strip_prefix("method.request.multivaluequerystring.") {
                (Location::Query, n)
            } else if let Some(n) = key.strip_prefix("method.request.header.") {
                (Location::Header, n)
            } else if let Some(n) = key.strip_prefix("method.request.multivalueheader.") {
                (Location::Header, n)
            } else {
                continue;
            };
            let lookup = match location {
                Location::Header => name.to_ascii_lowercase(),
                _ => name.to_string(),
            };
            required.push((location, lookup, name.to_string()));
        }
    }
    let mut bodies = Vec::new();
    if validator.validate_request_body && !method.request_models.is_empty() {
        let schemas: BTreeMap<String, Value> = models
            .values()
            .filter_map(|m| {
                let schema = serde_json::from_str(m.schema.as_deref()?).ok()?;
                Some((model_url(api_id, &m.name), schema))
            })
            .collect();
        for (content_type, model_name) in &method.request_models {
            let model = models
                .get(model_name)
                .ok_or_else(|| format!("request model {model_name} does not exist"))?;
            let schema: Value = match model.schema.as_deref() {
                Some(text) => serde_json::from_str(text)
                    .map_err(|e| format!("model {model_name} is not JSON: {e}"))?,
                // A model without a schema accepts anything.
                None => continue,
            };
            let built = jsonschema::options()
                .with_draft(jsonschema::Draft::Draft4)
                .with_retriever(Models(schemas.clone()))
                .build(&schema)
                .map_err(|e| format!("model {model_name}: {e}"))?;
            bodies.push((content_type.to_ascii_lowercase(), Arc::new(built)));
        }
    }
    if required.is_empty() && bodies.is_empty() {
        return Ok(None);
    }
    Ok(Some(CompiledValidation { required, bodies }))
}

impl CompiledValidation {
    /// The required parameters, from the head.
    pub fn check_parameters(
        &self,
        headers: &http::HeaderMap,
        query: &[(String, String)],
        path_params: &[PathParam],
    ) -> Result<(), GatewayError> {
        let missing: Vec<&str> = self
            .required
            .iter()
            .filter(|(location, name, _)| match location {
                Location::Header => !headers.contains_key(name.as_str()),
                Location::Query => !query.iter().any(|(k, _)| k == name),
                Location::Path => !path_params
                    .iter()
                    .any(|p| p.name == *name && !p.value.is_empty()),
            })
            .map(|(_, _, shown)| shown.as_str())
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        Err(ErrorKind::MissingRequestParameters {
            names: missing.join(", ").into_boxed_str(),
        }
        .into())
    }

    /// The body, against the model for its content type (`application/json`
    /// when none is sent; `$default` when no model names it).
    pub fn check_body(&self, content_type: Option<&str>, body: &[u8]) -> Result<(), GatewayError> {
        let media_type = content_type
            .and_then(|t| t.split(';').next())
            .map(|t| t.trim().to_ascii_lowercase())
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| "application/json".into());
        let Some((_, validator)) = self
            .bodies
            .iter()
            .find(|(t, _)| *t == media_type)
            .or_else(|| self.bodies.iter().find(|(t, _)| t == "$default"))
        else {
            return Ok(());
        };
        let instance: Value = match serde_json::from_slice(body) {
            Ok(v) => v,
            Err(e) => return Err(invalid_body(format!("[Invalid JSON in request body: {e}]"))),
        };
        let errors: Vec<String> = validator
            .iter_errors(&instance)
            .take(20)
            .map(|e| describe(&e))
            .collect();
        if errors.is_empty() {
            return Ok(());
        }
        Err(invalid_body(format!("[{}]", errors.join(", "))))
    }
}

fn invalid_body(details: String) -> GatewayError {
    ErrorKind::InvalidRequestBody {
        details: details.clone().into_boxed_str(),
    }
    .because(details)
}

/// One failure as AWS's validator (json-schema-validator) words it.
fn describe(e: &jsonschema::ValidationError<'_>) -> String {
    use jsonschema::error::ValidationErrorKind as K;
    let instance = e.instance();
    match e.kind() {
        K::Required { property } => {
            format!("object has missing required properties ([{property}])")
        }
        K::Type { .. } => format!(
            "instance type ({}) does not match any allowed primitive type",
            type_name(instance)
        ),
        K::Minimum { limit } => format!(
            "numeric instance is lower than the required minimum (minimum: {limit}, found: {instance})"
        ),
        K::Maximum { limit } => format!(
            "numeric instance is greater than the required maximum (maximum: {limit}, found: {instance})"
        ),
        K::ExclusiveMinimum { limit } => format!(
            "numeric instance is not strictly greater than the required minimum {limit}"
        ),
        K::ExclusiveMaximum { limit } => format!(
            "numeric instance is not strictly lower than the required maximum {limit}"
        ),
        K::MinLength { limit } => format!(
            "string {instance} is too short (length: {}, required minimum: {limit})",
            instance.as_str().map_or(0, |s| s.chars().count())
        ),
        K::MaxLength { limit } => format!(
            "string {instance} is too long (length: {}, maximum allowed: {limit})",
            instance.as_str().map_or(0, |s| s.chars().count())
        ),
        K::MinItems { limit } => format!(
            "array is too short: must have at least {limit} elements but instance has {} elements",
            instance.as_array().map_or(0, Vec::len)
        ),
        K::MaxItems { limit } => format!(
            "array is too long: must have at most {limit} elements but instance has {} elements",
            instance.as_array().map_or(0, Vec::len)
        ),
        K::Enum { options } => {
            format!("instance value ({instance}) not found in enum (possible values: {options})")
        }
        K::Pattern { pattern } => {
            format!("ECMA 262 regex \"{pattern}\" does not match input string {instance}")
        }
        K::AdditionalProperties { unexpected } => format!(
            "object instance has properties which are not allowed by the schema: {}",
            serde_json::to_string(unexpected).unwrap_or_default()
        ),
        _ => e.to_string(),
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(name: &str, schema: Value) -> (String, Model) {
        (
            name.to_string(),
            Model {
                id: name.to_lowercase(),
                name: name.to_string(),
                description: None,
                schema: Some(schema.to_string()),
                content_type: "application/json".into(),
            },
        )
    }

    fn method(models: &[(&str, &str)], params: &[(&str, bool)]) -> Method {
        let mut m: Method = serde_json::from_value(serde_json::json!({
            "httpMethod": "POST", "authorizationType": "NONE", "apiKeyRequired": false,
        }))
        .expect("a method");
        m.request_validator_id = Some("v".into());
        m.request_models = models
            .iter()
            .map(|(t, n)| (t.to_string(), n.to_string()))
            .collect();
        m.request_parameters = params.iter().map(|(k, r)| (k.to_string(), *r)).collect();
        m
    }

    fn validators() -> BTreeMap<String, RequestValidator> {
        BTreeMap::from([(
            "v".to_string(),
            RequestValidator {
                id: "v".into(),
                name: None,
                validate_request_body: true,
                validate_request_parameters: true,
            },
        )])
    }

    #[test]
    fn bodies_against_models_with_refs_between_them() {
        let models = BTreeMap::from([
            model(
                "Audio",
                serde_json::json!({"type": "string", "pattern": "^s3://"}),
            ),
            model(
                "Generate",
                serde_json::json!({
                    "$schema": "http://json-schema.org/draft-04/schema#",
                    "type": "object",
                    "required": ["prompt"],
                    "properties": {
                        "prompt": {"type": "string", "minLength": 1},
                        "steps": {"type": "integer", "minimum": 1, "maximum": 50},
                        "audio": {"$ref": "https://apigateway.amazonaws.com/restapis/api1/models/Audio"},
                    },
                }),
            ),
        ]);
        let v = compile(
            "api1",
            &method(&[("application/json", "Generate")], &[]),
            &validators(),
            &models,
        )
        .expect("compiles")
        .expect("validates");
        assert!(v
            .check_body(
                None,
                br#"{"prompt": "hi", "steps": 5, "audio": "s3://b/a"}"#
            )
            .is_ok());
        let details = |body: &[u8]| match v.check_body(Some("application/json"), body) {
            Err(GatewayError {
                kind: ErrorKind::InvalidRequestBody { details },
                ..
            }) => details.to_string(),
            other => panic!("{other:?}"),
        };
        assert_eq!(
            details(br#"{"steps": 5}"#),
            r#"[object has missing required properties (["prompt"])]"#
        );
        assert!(details(br#"{"prompt": 5}"#).contains("instance type (integer) does not match"));
        assert!(details(br#"{"prompt": "x", "steps": 500}"#)
            .contains("greater than the required maximum"));
        assert!(details(br#"{"prompt": "x", "audio": "http://x"}"#)
            .contains("does not match input string"));
        assert!(details(b"not json").starts_with("[Invalid JSON"));
        // Another content type has no model: not validated.
        assert!(v.check_body(Some("text/plain"), b"anything").is_ok());
    }

    #[test]
    fn required_parameters() {
        let v = compile(
            "api1",
            &method(
                &[],
                &[
                    ("method.request.querystring.limit", true),
                    ("method.request.header.X-Tenant", true),
                    ("method.request.querystring.optional", false),
                ],
            ),
            &validators(),
            &BTreeMap::new(),
        )
        .expect("compiles")
        .expect("validates");
        let mut headers = http::HeaderMap::new();
        let err = v.check_parameters(&headers, &[], &[]).expect_err("missing");
        assert_eq!(
            err.kind.message(),
            "Missing required request parameters: [X-Tenant, limit]"
        );
        headers.insert("x-tenant", http::HeaderValue::from_static("a"));
        assert!(v
            .check_parameters(&headers, &[("limit".into(), "5".into())], &[])
            .is_ok());
    }
}

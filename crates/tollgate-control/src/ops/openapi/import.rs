//! Applies an OpenAPI/Swagger document to an API's settings and definition:
//! models, request validators, authorizers, gateway responses, then the path
//! tree with its methods and integrations. Works on a copy; the caller
//! commits it whole or, on any error, not at all.

use std::collections::BTreeMap;

use serde_json::{Map, Value};
use tollgate_model::authorizer::{Authorizer, DEFAULT_TTL_SECONDS};
use tollgate_model::gateway_response::{GatewayResponse, RESPONSE_TYPES};
use tollgate_model::integration::{
    Integration, IntegrationResponse, TlsConfig, DEFAULT_TIMEOUT_MS,
};
use tollgate_model::method::{validate_status_code, Method, MethodResponse};
use tollgate_model::model_schema::{valid_model_name, Model};
use tollgate_model::request_validator::RequestValidator;
use tollgate_model::resource::Resource;
use tollgate_model::rest_api::API_KEY_SOURCES;
use tollgate_model::state::RestApiDoc;
use tollgate_model::{ids, ApiError};

use super::document::{import_error, Document, Flavor};
use crate::ops::{
    authorizers, documentation, gateway_responses, integrations, methods, models, resources,
};

/// Where models live once imported: `$ref`s to schemas are rewritten to this.
pub const MODEL_URL_PREFIX: &str = "https://apigateway.amazonaws.com/restapis/";

/// What `basepath` says to do with the file's base path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BasePath {
    /// Paths as written (the default).
    Ignore,
    /// The whole base path goes before every path.
    Prepend,
    /// The base path without its first segment (taken to be a stage name).
    Split,
}

pub struct Options {
    pub base_path: BasePath,
    pub fail_on_warnings: bool,
    /// `ignore=documentation`: leave `x-amazon-apigateway-documentation` out.
    pub ignore_documentation: bool,
    /// PutRestApi `overwrite`, or a new API: the file's settings replace the API's.
    pub replace: bool,
}

/// How a security scheme protects a method.
#[derive(Debug, Clone)]
enum Scheme {
    Authorizer { id: String, cognito: bool },
    ApiKey,
    Sigv4,
    Unsupported,
}

struct Importer<'d> {
    doc: &'d Document,
    opts: &'d Options,
    warnings: Vec<String>,
    validators: BTreeMap<String, String>,
    schemes: BTreeMap<String, Scheme>,
}

/// Applies `doc` to `api`. Returns AWS's warnings (what was left out).
pub fn apply(
    api: &mut RestApiDoc,
    doc: &Document,
    opts: &Options,
) -> Result<Vec<String>, ApiError> {
    let mut importer = Importer {
        doc,
        opts,
        warnings: Vec::new(),
        validators: BTreeMap::new(),
        schemes: BTreeMap::new(),
    };
    importer.settings(api)?;
    importer.models(api)?;
    importer.request_validators(api)?;
    importer.authorizers(api)?;
    importer.gateway_responses(api)?;
    importer.paths(api)?;
    if !opts.ignore_documentation {
        let mut doc_warnings = Vec::new();
        let parts =
            documentation::import::parts_of(&doc.root, opts.fail_on_warnings, &mut doc_warnings)?;
        documentation::import::merge_parts(&mut api.documentation.parts, parts);
        for w in doc_warnings {
            importer.warn(w)?;
        }
    }
    Ok(importer.warnings)
}

/// A string member, or an import error naming it when it is another type.
fn string_of(v: &Value, what: &str) -> Result<String, ApiError> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        _ => Err(import_error(format!("{what} must be a string"))),
    }
}

fn opt_string(obj: &Value, key: &str) -> Result<Option<String>, ApiError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => string_of(v, key).map(Some),
    }
}

fn string_map(obj: &Value, key: &str) -> Result<BTreeMap<String, String>, ApiError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(BTreeMap::new()),
        Some(Value::Object(m)) => m
            .iter()
            .map(|(k, v)| Ok((k.clone(), string_of(v, key)?)))
            .collect(),
        Some(_) => Err(import_error(format!("{key} must be a map of strings"))),
    }
}

fn string_list(obj: &Value, key: &str) -> Result<Vec<String>, ApiError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items.iter().map(|v| string_of(v, key)).collect(),
        Some(_) => Err(import_error(format!("{key} must be a list of strings"))),
    }
}

fn opt_i64(obj: &Value, key: &str) -> Result<Option<i64>, ApiError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .map(Some)
            .ok_or_else(|| import_error(format!("{key} must be an integer"))),
        Some(Value::String(s)) => s
            .parse()
            .map(Some)
            .map_err(|_| import_error(format!("{key} must be an integer"))),
        Some(_) => Err(import_error(format!("{key} must be an integer"))),
    }
}

fn opt_bool(obj: &Value, key: &str) -> Option<bool> {
    match obj.get(key)? {
        Value::Bool(b) => Some(*b),
        Value::String(s) => Some(s.eq_ignore_ascii_case("true")),
        _ => None,
    }
}

/// Rewrites every `$ref` to a schema (`#/components/schemas/X`) into the
/// model URL AWS stores. Recursion is bounded by the parsers' depth limit.
fn rewrite_refs(
    value: &mut Value,
    from: &str,
    to: &str,
    known: &Map<String, Value>,
) -> Result<(), ApiError> {
    match value {
        Value::Object(members) => {
            for (key, member) in members.iter_mut() {
                if key == "$ref" {
                    if let Value::String(reference) = member {
                        let name = reference.strip_prefix(from).ok_or_else(|| {
                            import_error(format!("Invalid model reference: {reference}"))
                        })?;
                        if !known.contains_key(name) {
                            return Err(import_error(format!(
                                "Invalid model reference: {reference}"
                            )));
                        }
                        *reference = format!("{to}{name}");
                    }
                } else {
                    rewrite_refs(member, from, to, known)?;
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                rewrite_refs(item, from, to, known)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// The lower-case names operations go by in a path item, as API Gateway methods.
fn http_method_of(key: &str) -> Option<&'static str> {
    Some(match key {
        "get" => "GET",
        "put" => "PUT",
        "post" => "POST",
        "delete" => "DELETE",
        "patch" => "PATCH",
        "options" => "OPTIONS",
        "head" => "HEAD",
        "x-amazon-apigateway-any-method" => "ANY",
        _ => return None,
    })
}

/// Path-item members that are not operations and that API Gateway reads
/// elsewhere or has no use for.
const PATH_ITEM_MEMBERS: &[&str] = &["parameters", "summary", "description", "servers", "$ref"];

impl Importer<'_> {
    /// Records something left out; with `failonwarnings` it stops the import.
    fn warn(&mut self, message: String) -> Result<(), ApiError> {
        if self.opts.fail_on_warnings {
            return Err(ApiError::bad_request(format!(
                "Warnings found during import:\n\t{message}"
            )));
        }
        self.warnings.push(message);
        Ok(())
    }

    fn ext(&self, name: &str) -> Option<&Value> {
        self.doc
            .root
            .get(format!("x-amazon-apigateway-{name}"))
            .filter(|v| !v.is_null())
    }

    fn settings(&mut self, doc: &mut RestApiDoc) -> Result<(), ApiError> {
        let root = &self.doc.root;
        let info = root.get("info").cloned().unwrap_or(Value::Null);
        let api = &mut doc.api;
        if self.opts.replace {
            if let Some(title) = opt_string(&info, "title")?.filter(|t| !t.is_empty()) {
                api.name = title;
            }
            api.description = opt_string(&info, "description")?.filter(|d| !d.is_empty());
            api.version = opt_string(&info, "version")?;
            api.binary_media_types.clear();
        }
        if let Some(types) = self.ext("binary-media-types") {
            let types = string_list(&serde_json::json!({ "t": types }), "t").map_err(|_| {
                import_error("x-amazon-apigateway-binary-media-types must be a list of strings")
            })?;
            for t in types {
                if !api.binary_media_types.contains(&t) {
                    api.binary_media_types.push(t);
                }
            }
        }
        if let Some(source) = self.ext("api-key-source") {
            let source =
                string_of(source, "x-amazon-apigateway-api-key-source")?.to_ascii_uppercase();
            if !API_KEY_SOURCES.contains(&source.as_str()) {
                return Err(import_error(format!(
                    "Invalid API key source specified: {source}. Valid options are HEADER,AUTHORIZER"
                )));
            }
            api.api_key_source = source;
        }
        if let Some(size) = self.ext("minimum-compression-size") {
            let size = opt_i64(&serde_json::json!({ "s": size }), "s")?.unwrap_or(-1);
            if !(0..=10_485_760).contains(&size) {
                return Err(ApiError::bad_request(
                    "Invalid minimum compression size, must be between 0 and 10485760",
                ));
            }
            api.minimum_compression_size = Some(size);
        }
        if let Some(policy) = self.ext("policy") {
            api.policy = Some(match policy {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            });
        }
        if let Some(endpoint) = self.doc.endpoint_configuration() {
            let types = string_list(endpoint, "types")?;
            if let Some(t) = types.first() {
                api.endpoint_configuration.types = vec![t.to_ascii_uppercase()];
            }
            let vpce = string_list(endpoint, "vpcEndpointIds")?;
            if !vpce.is_empty() {
                api.endpoint_configuration.vpc_endpoint_ids = vpce;
            }
            if let Some(disable) = opt_bool(endpoint, "disableExecuteApiEndpoint") {
                api.disable_execute_api_endpoint = disable;
            }
        }
        Ok(())
    }

    fn models(&mut self, doc: &mut RestApiDoc) -> Result<(), ApiError> {
        let Some(schemas) = self.doc.schemas() else {
            return Ok(());
        };
        let to = format!("{MODEL_URL_PREFIX}{}/models/", doc.api.id);
        for (name, schema) in schemas {
            if !valid_model_name(name) {
                return Err(import_error(format!(
                    "Unable to create model for '{name}': Model name must be alphanumeric: {name}"
                )));
            }
            let mut schema = schema.clone();
            rewrite_refs(&mut schema, self.doc.schema_ref_prefix(), &to, schemas)?;
            let text = schema.to_string();
            models::validate_schema(Some(&text)).map_err(|e| {
                import_error(format!(
                    "Unable to create model for '{name}': {}",
                    e.message
                ))
            })?;
            let models = &mut doc.definition.models;
            let id = models
                .get(name)
                .map(|m| m.id.clone())
                .unwrap_or_else(|| ids::unique(6, |id| models.values().any(|m| m.id == id)));
            let description = schema
                .get("description")
                .and_then(Value::as_str)
                .map(str::to_string);
            models.insert(
                name.clone(),
                Model {
                    id,
                    name: name.clone(),
                    description,
                    schema: Some(text),
                    content_type: "application/json".into(),
                },
            );
        }
        Ok(())
    }

    fn request_validators(&mut self, doc: &mut RestApiDoc) -> Result<(), ApiError> {
        for existing in doc.definition.request_validators.values() {
            if let Some(name) = &existing.name {
                self.validators.insert(name.clone(), existing.id.clone());
            }
        }
        let Some(listed) = self.ext("request-validators").cloned() else {
            return Ok(());
        };
        let listed = listed
            .as_object()
            .ok_or_else(|| import_error("x-amazon-apigateway-request-validators must be a map"))?;
        for (name, v) in listed {
            let validators = &mut doc.definition.request_validators;
            let id = self
                .validators
                .get(name)
                .cloned()
                .unwrap_or_else(|| ids::unique(6, |id| validators.contains_key(id)));
            validators.insert(
                id.clone(),
                RequestValidator {
                    id: id.clone(),
                    name: Some(name.clone()),
                    validate_request_body: opt_bool(v, "validateRequestBody").unwrap_or(false),
                    validate_request_parameters: opt_bool(v, "validateRequestParameters")
                        .unwrap_or(false),
                },
            );
            self.validators.insert(name.clone(), id);
        }
        Ok(())
    }

    fn authorizers(&mut self, doc: &mut RestApiDoc) -> Result<(), ApiError> {
        let Some(schemes) = self.doc.security_schemes() else {
            return Ok(());
        };
        for (name, raw) in schemes {
            let scheme = self.doc.resolve(raw)?;
            let auth_type = opt_string(scheme, "x-amazon-apigateway-authtype")?;
            let kind = if let Some(spec) = scheme.get("x-amazon-apigateway-authorizer") {
                let authorizer = self.authorizer(doc, name, scheme, spec, auth_type)?;
                let cognito = authorizer.authorizer_type == "COGNITO_USER_POOLS";
                let id = authorizer.id.clone();
                doc.definition.authorizers.insert(id.clone(), authorizer);
                Scheme::Authorizer { id, cognito }
            } else if auth_type
                .as_deref()
                .is_some_and(|t| t.eq_ignore_ascii_case("awsSigv4"))
            {
                Scheme::Sigv4
            } else if scheme.get("type").and_then(Value::as_str) == Some("apiKey")
                && scheme
                    .get("name")
                    .and_then(Value::as_str)
                    .is_some_and(|n| n.eq_ignore_ascii_case("x-api-key"))
            {
                Scheme::ApiKey
            } else {
                self.warn(format!(
                    "Unsupported security definition '{name}': only API keys (x-api-key), awsSigv4 and x-amazon-apigateway-authorizer are imported"
                ))?;
                Scheme::Unsupported
            };
            self.schemes.insert(name.clone(), kind);
        }
        if doc.definition.authorizers.len() > 10 {
            return Err(import_error("Too many authorizers: at most 10 per API"));
        }
        Ok(())
    }

    fn authorizer(
        &self,
        doc: &RestApiDoc,
        name: &str,
        scheme: &Value,
        spec: &Value,
        auth_type: Option<String>,
    ) -> Result<Authorizer, ApiError> {
        let kind = opt_string(spec, "type")?
            .unwrap_or_default()
            .to_ascii_uppercase();
        let identity_source = opt_string(spec, "identitySource")?.or_else(|| {
            // A TOKEN authorizer reads the header the scheme names.
            (kind == "TOKEN")
                .then(|| scheme.get("name").and_then(Value::as_str))
                .flatten()
                .map(|h| format!("method.request.header.{h}"))
        });
        let existing = doc
            .definition
            .authorizers
            .values()
            .find(|a| a.name == name)
            .map(|a| a.id.clone());
        let authorizers = &doc.definition.authorizers;
        let authorizer = Authorizer {
            id: existing.unwrap_or_else(|| ids::unique(6, |id| authorizers.contains_key(id))),
            name: name.to_string(),
            authorizer_type: kind,
            provider_arns: string_list(spec, "providerARNs")?,
            auth_type,
            authorizer_uri: opt_string(spec, "authorizerUri")?,
            authorizer_credentials: opt_string(spec, "authorizerCredentials")?,
            identity_source,
            identity_validation_expression: opt_string(spec, "identityValidationExpression")?,
            authorizer_result_ttl_in_seconds: opt_i64(spec, "authorizerResultTtlInSeconds")?
                .unwrap_or(DEFAULT_TTL_SECONDS),
        };
        authorizers::validate(&authorizer).map_err(|e| {
            import_error(format!(
                "Unable to create authorizer '{name}': {}",
                e.message
            ))
        })?;
        Ok(authorizer)
    }

    fn gateway_responses(&mut self, doc: &mut RestApiDoc) -> Result<(), ApiError> {
        let Some(listed) = self.ext("gateway-responses").cloned() else {
            return Ok(());
        };
        let listed = listed
            .as_object()
            .ok_or_else(|| import_error("x-amazon-apigateway-gateway-responses must be a map"))?;
        for (response_type, r) in listed {
            if !RESPONSE_TYPES.iter().any(|(t, _)| t == response_type) {
                return Err(import_error(format!(
                    "Invalid gateway response type specified: {response_type}"
                )));
            }
            let response = GatewayResponse {
                response_type: response_type.clone(),
                status_code: opt_string(r, "statusCode")?,
                response_parameters: string_map(r, "responseParameters")?,
                response_templates: string_map(r, "responseTemplates")?,
                default_response: false,
            };
            gateway_responses::validate(&response).map_err(|e| {
                import_error(format!(
                    "Unable to put gateway response '{response_type}': {}",
                    e.message
                ))
            })?;
            doc.definition
                .gateway_responses
                .insert(response_type.clone(), response);
        }
        Ok(())
    }

    /// The prefix `basepath` puts before every path.
    fn path_prefix(&self) -> String {
        let base = self.doc.base_path().unwrap_or_default();
        match self.opts.base_path {
            BasePath::Ignore => String::new(),
            BasePath::Prepend => base,
            BasePath::Split => {
                let rest = base.trim_start_matches('/');
                rest.split_once('/')
                    .map(|(_, after)| format!("/{after}"))
                    .unwrap_or_default()
            }
        }
    }

    fn paths(&mut self, doc: &mut RestApiDoc) -> Result<(), ApiError> {
        let Some(paths) = self.doc.root.get("paths").and_then(Value::as_object) else {
            return Ok(());
        };
        let prefix = self.path_prefix();
        for (path, item) in paths {
            if !path.starts_with('/') {
                return Err(import_error(format!("Invalid path: {path}")));
            }
            let full = format!("{prefix}{path}");
            let full = if full.len() > 1 {
                full.trim_end_matches('/').to_string()
            } else {
                full
            };
            let resource_id = ensure_resource(doc, &full)?;
            let item = self.doc.resolve(item)?;
            let Some(members) = item.as_object() else {
                return Err(import_error(format!("Path item {path} must be a map")));
            };
            let shared = members.get("parameters").cloned().unwrap_or(Value::Null);
            for (key, operation) in members {
                let Some(http_method) = http_method_of(key) else {
                    if !PATH_ITEM_MEMBERS.contains(&key.as_str()) && !key.starts_with("x-") {
                        self.warn(format!(
                            "Unsupported method '{key}' on path {path}: ignored"
                        ))?;
                    }
                    continue;
                };
                let operation = self.doc.resolve(operation)?;
                let method = self.method(&resource_id, http_method, &shared, operation, &full)?;
                let unknown_model = method
                    .method_responses
                    .values()
                    .flat_map(|r| r.response_models.iter().flatten())
                    .find(|(_, model)| !doc.definition.models.contains_key(*model));
                if let Some((_, model)) = unknown_model {
                    return Err(import_error(format!(
                        "Unable to put method '{http_method}' on resource at path '{full}': Invalid model identifier specified: {model}"
                    )));
                }
                methods::check_method_refs(doc, &method).map_err(|e| {
                    import_error(format!(
                        "Unable to put method '{http_method}' on resource at path '{full}': {}",
                        e.message
                    ))
                })?;
                if let Some(integration) = &method.method_integration {
                    integrations::validate(&method, integration)
                        .and_then(|()| {
                            integration
                                .integration_responses
                                .values()
                                .try_for_each(integrations::validate_response)
                        })
                        .map_err(|e| {
                            import_error(format!(
                                "Unable to put integration on '{http_method}' for resource at path '{full}': {}",
                                e.message
                            ))
                        })?;
                }
                if let Some(resource) = doc.definition.resources.get_mut(&resource_id) {
                    resource
                        .resource_methods
                        .insert(http_method.to_string(), method);
                }
            }
        }
        Ok(())
    }

    fn method(
        &mut self,
        resource_id: &str,
        http_method: &str,
        shared_parameters: &Value,
        op: &Value,
        path: &str,
    ) -> Result<Method, ApiError> {
        let mut m = Method {
            http_method: http_method.to_string(),
            authorization_type: "NONE".into(),
            authorizer_id: None,
            api_key_required: false,
            request_validator_id: None,
            operation_name: opt_string(op, "operationId")?,
            request_parameters: BTreeMap::new(),
            request_models: BTreeMap::new(),
            authorization_scopes: Vec::new(),
            method_responses: BTreeMap::new(),
            method_integration: None,
        };
        for list in [
            shared_parameters,
            op.get("parameters").unwrap_or(&Value::Null),
        ] {
            for p in list.as_array().into_iter().flatten() {
                let p = self.doc.resolve(p)?;
                self.parameter(&mut m, p, op, path)?;
            }
        }
        if let Some(body) = op.get("requestBody") {
            let body = self.doc.resolve(body)?;
            for (content_type, media) in body
                .get("content")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
            {
                if let Some(model) = self.model_of(media.get("schema"), path)? {
                    m.request_models.insert(content_type.clone(), model);
                }
            }
        }
        self.security(&mut m, op, path)?;
        let validator = op
            .get("x-amazon-apigateway-request-validator")
            .or_else(|| self.ext("request-validator"));
        if let Some(name) = validator {
            let name = string_of(name, "x-amazon-apigateway-request-validator")?;
            let id = self.validators.get(&name).ok_or_else(|| {
                import_error(format!("Invalid request validator '{name}' on path {path}"))
            })?;
            m.request_validator_id = Some(id.clone());
        }
        for (status, response) in op
            .get("responses")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            if validate_status_code(status).is_err() {
                self.warn(format!(
                    "Response '{status}' of {http_method} {path} ignored: API Gateway method responses are keyed by status code"
                ))?;
                continue;
            }
            let response = self.doc.resolve(response)?;
            let mr = self.method_response(status, response, op, path)?;
            m.method_responses.insert(status.clone(), mr);
        }
        if let Some(spec) = op.get("x-amazon-apigateway-integration") {
            let spec = self.doc.resolve(spec)?;
            m.method_integration = Some(integration(spec, resource_id)?);
        }
        Ok(m)
    }

    /// The model a `schema` refers to; an inline schema is left out with a warning.
    fn model_of(&mut self, schema: Option<&Value>, path: &str) -> Result<Option<String>, ApiError> {
        let Some(schema) = schema else {
            return Ok(None);
        };
        match schema.get("$ref").and_then(Value::as_str) {
            Some(reference) => reference
                .strip_prefix(self.doc.schema_ref_prefix())
                .map(|name| Some(name.to_string()))
                .ok_or_else(|| import_error(format!("Invalid model reference: {reference}"))),
            None => {
                self.warn(format!(
                    "Inline schema on {path} ignored: only $ref to a named schema becomes a model"
                ))?;
                Ok(None)
            }
        }
    }

    fn parameter(
        &mut self,
        m: &mut Method,
        p: &Value,
        op: &Value,
        path: &str,
    ) -> Result<(), ApiError> {
        let name = opt_string(p, "name")?.unwrap_or_default();
        let location = p.get("in").and_then(Value::as_str).unwrap_or_default();
        let required = opt_bool(p, "required").unwrap_or(false);
        let key = match location {
            "path" => format!("method.request.path.{name}"),
            "query" => format!("method.request.querystring.{name}"),
            "header" => format!("method.request.header.{name}"),
            "body" if self.doc.flavor == Flavor::Swagger2 => {
                if let Some(model) = self.model_of(p.get("schema"), path)? {
                    for content_type in self.media_types(op, "consumes") {
                        m.request_models.insert(content_type, model.clone());
                    }
                }
                return Ok(());
            }
            other => {
                return self.warn(format!(
                    "Parameter '{name}' in '{other}' on {path} ignored: API Gateway maps path, query and header parameters"
                ));
            }
        };
        if name.is_empty() {
            return Err(import_error(format!("A parameter on {path} has no name")));
        }
        // Path parameters are always required.
        m.request_parameters
            .insert(key, required || location == "path");
        Ok(())
    }

    /// Swagger's `consumes`/`produces` of the operation, else of the file, else JSON.
    fn media_types(&self, op: &Value, member: &str) -> Vec<String> {
        let listed = op
            .get(member)
            .or_else(|| self.doc.root.get(member))
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default();
        if listed.is_empty() {
            vec!["application/json".into()]
        } else {
            listed
        }
    }

    fn security(&mut self, m: &mut Method, op: &Value, path: &str) -> Result<(), ApiError> {
        let Some(requirements) = op.get("security").or_else(|| self.doc.root.get("security"))
        else {
            return Ok(());
        };
        for requirement in requirements.as_array().into_iter().flatten() {
            for (name, scopes) in requirement.as_object().into_iter().flatten() {
                let scheme = self.schemes.get(name).cloned().ok_or_else(|| {
                    import_error(format!("Invalid security scheme '{name}' on path {path}"))
                })?;
                match scheme {
                    Scheme::Authorizer { id, cognito } => {
                        m.authorization_type = if cognito {
                            "COGNITO_USER_POOLS"
                        } else {
                            "CUSTOM"
                        }
                        .into();
                        m.authorizer_id = Some(id);
                        if cognito {
                            m.authorization_scopes =
                                string_list(&serde_json::json!({ "s": scopes }), "s")?;
                        }
                    }
                    Scheme::ApiKey => m.api_key_required = true,
                    Scheme::Sigv4 => m.authorization_type = "AWS_IAM".into(),
                    Scheme::Unsupported => {}
                }
            }
        }
        Ok(())
    }

    fn method_response(
        &mut self,
        status: &str,
        response: &Value,
        op: &Value,
        path: &str,
    ) -> Result<MethodResponse, ApiError> {
        let headers: BTreeMap<String, bool> = response
            .get("headers")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .map(|(h, _)| (format!("method.response.header.{h}"), false))
            .collect();
        let mut models = BTreeMap::new();
        match self.doc.flavor {
            Flavor::Oas30 => {
                for (ct, media) in response
                    .get("content")
                    .and_then(Value::as_object)
                    .into_iter()
                    .flatten()
                {
                    if let Some(model) = self.model_of(media.get("schema"), path)? {
                        models.insert(ct.clone(), model);
                    }
                }
            }
            Flavor::Swagger2 => {
                if let Some(model) = self.model_of(response.get("schema"), path)? {
                    for ct in self.media_types(op, "produces") {
                        models.insert(ct, model.clone());
                    }
                }
            }
        }
        Ok(MethodResponse {
            status_code: status.to_string(),
            response_parameters: (!headers.is_empty()).then_some(headers),
            response_models: (!models.is_empty()).then_some(models),
        })
    }
}

/// The resource at `path`, made with any missing parents.
fn ensure_resource(doc: &mut RestApiDoc, path: &str) -> Result<String, ApiError> {
    let mut current = doc.api.root_resource_id.clone();
    for part in path.split('/').skip(1).filter(|_| path != "/") {
        let existing = doc
            .definition
            .resources
            .values()
            .find(|r| {
                r.parent_id.as_deref() == Some(current.as_str())
                    && r.path_part.as_deref() == Some(part)
            })
            .map(|r| r.id.clone());
        current = match existing {
            Some(id) => id,
            None => {
                resources::check_placement(doc, &current, part, None).map_err(|e| {
                    import_error(format!(
                        "Unable to create resource at path '{path}': {}",
                        e.message
                    ))
                })?;
                let parent_path = doc
                    .definition
                    .resources
                    .get(&current)
                    .map(|r| r.path.clone())
                    .unwrap_or_default();
                let resources = &doc.definition.resources;
                let id = ids::unique(6, |id| resources.contains_key(id));
                doc.definition.resources.insert(
                    id.clone(),
                    Resource {
                        id: id.clone(),
                        parent_id: Some(current),
                        path: resources::child_path(&parent_path, part),
                        path_part: Some(part.to_string()),
                        resource_methods: BTreeMap::new(),
                    },
                );
                id
            }
        };
    }
    Ok(current)
}

/// `x-amazon-apigateway-integration` as an Integration (types and
/// passthrough behaviours are written in lower case in files).
fn integration(spec: &Value, resource_id: &str) -> Result<Integration, ApiError> {
    let kind = opt_string(spec, "type")?
        .filter(|t| !t.is_empty())
        .ok_or_else(|| import_error("x-amazon-apigateway-integration needs a type"))?
        .to_ascii_uppercase();
    let is_http = matches!(kind.as_str(), "HTTP" | "HTTP_PROXY");
    let mut responses = BTreeMap::new();
    for (pattern, r) in spec
        .get("responses")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        let status = opt_string(r, "statusCode")?.ok_or_else(|| {
            import_error(format!(
                "Integration response '{pattern}' needs a statusCode"
            ))
        })?;
        let templates = string_map(r, "responseTemplates")?
            .into_iter()
            .map(|(ct, t)| (ct, Some(t).filter(|t| !t.is_empty())))
            .collect();
        responses.insert(
            status.clone(),
            IntegrationResponse {
                status_code: status,
                selection_pattern: (pattern != "default").then(|| pattern.clone()),
                response_parameters: string_map(r, "responseParameters")?,
                response_templates: templates,
                content_handling: opt_string(r, "contentHandling")?,
            },
        );
    }
    let tls_config = spec.get("tlsConfig").map(|t| TlsConfig {
        insecure_skip_verification: opt_bool(t, "insecureSkipVerification").unwrap_or(false),
    });
    Ok(Integration {
        connection_type: opt_string(spec, "connectionType")?
            .map(|c| c.to_ascii_uppercase())
            .or_else(|| (kind != "MOCK").then(|| "INTERNET".to_string())),
        http_method: opt_string(spec, "httpMethod")?.map(|m| m.to_ascii_uppercase()),
        uri: opt_string(spec, "uri")?.filter(|u| !u.is_empty()),
        connection_id: opt_string(spec, "connectionId")?,
        credentials: opt_string(spec, "credentials")?,
        request_parameters: string_map(spec, "requestParameters")?,
        request_templates: string_map(spec, "requestTemplates")?
            .into_iter()
            .map(|(ct, t)| (ct, Some(t).filter(|t| !t.is_empty())))
            .collect(),
        passthrough_behavior: opt_string(spec, "passthroughBehavior")?
            .map(|p| p.to_ascii_uppercase())
            .unwrap_or_else(|| "WHEN_NO_MATCH".into()),
        content_handling: opt_string(spec, "contentHandling")?,
        timeout_in_millis: opt_i64(spec, "timeoutInMillis")?.unwrap_or(DEFAULT_TIMEOUT_MS),
        cache_namespace: opt_string(spec, "cacheNamespace")?
            .unwrap_or_else(|| resource_id.to_string()),
        cache_key_parameters: string_list(spec, "cacheKeyParameters")?,
        integration_responses: responses,
        tls_config: tls_config.filter(|_| is_http),
        integration_type: kind,
    })
}

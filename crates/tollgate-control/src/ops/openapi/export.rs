//! GetExport: a stage's deployed API as an OpenAPI 3.0 or Swagger 2.0 file,
//! written so that importing it gives the same resources, methods and
//! integrations back.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};
use tollgate_model::integration::Integration;
use tollgate_model::method::Method;
use tollgate_model::rest_api::RestApi;
use tollgate_model::state::ApiDefinition;
use tollgate_model::ApiError;

use super::document::Flavor;
use super::import::MODEL_URL_PREFIX;
use crate::ops::Op;
use crate::request::Reply;

/// Which `extensions` the caller asked for (`postman` is not written).
struct Extensions {
    integrations: bool,
    authorizers: bool,
    apigateway: bool,
}

pub fn get(op: &mut Op<'_>) -> Result<Reply, ApiError> {
    let doc = op.api()?;
    let flavor = match op.param("export_type") {
        "oas30" => Flavor::Oas30,
        "swagger" => Flavor::Swagger2,
        other => {
            return Err(ApiError::bad_request(format!(
                "Invalid export type specified: {other}. Valid options are oas30, swagger"
            )))
        }
    };
    let stage_name = op.param("stage_name");
    let stage = doc
        .stages
        .get(stage_name)
        .ok_or_else(|| ApiError::not_found("Invalid Stage identifier specified"))?;
    let deployment = op
        .state
        .deployments
        .get(&doc.api.id)
        .and_then(|d| d.get(&stage.deployment_id))
        .ok_or_else(|| ApiError::not_found("Invalid Stage identifier specified"))?;
    let listed = op.req.query("extensions").unwrap_or("");
    let has = |name: &str| listed.split(',').any(|e| e.trim() == name);
    let ext = Extensions {
        integrations: has("integrations") || has("apigateway"),
        authorizers: has("authorizers") || has("apigateway"),
        apigateway: has("apigateway"),
    };
    let file = document(
        &deployment.api,
        &deployment.definition,
        stage_name,
        &op.config.region,
        flavor,
        &ext,
    );
    let yaml = op.req.accept.as_deref().is_some_and(|a| a.contains("yaml"));
    if yaml {
        let text = serde_norway::to_string(&file).map_err(|_| ApiError::internal())?;
        Ok(Reply::raw("application/yaml", text.into_bytes()))
    } else {
        Ok(Reply::ok(file))
    }
}

/// The whole file.
fn document(
    api: &RestApi,
    def: &ApiDefinition,
    stage: &str,
    region: &str,
    flavor: Flavor,
    ext: &Extensions,
) -> Value {
    let mut info = Map::new();
    info.insert("title".into(), json!(api.name));
    if let Some(d) = &api.description {
        info.insert("description".into(), json!(d));
    }
    info.insert(
        "version".into(),
        json!(api.version.clone().unwrap_or_else(|| "1.0".into())),
    );
    let host = format!("{}.execute-api.{region}.amazonaws.com", api.id);
    let mut out = Map::new();
    match flavor {
        Flavor::Oas30 => {
            out.insert("openapi".into(), json!("3.0.1"));
            out.insert("info".into(), Value::Object(info));
            out.insert(
                "servers".into(),
                json!([{ "url": format!("https://{host}/{{basePath}}"),
                         "variables": { "basePath": { "default": stage } } }]),
            );
        }
        Flavor::Swagger2 => {
            out.insert("swagger".into(), json!("2.0"));
            out.insert("info".into(), Value::Object(info));
            out.insert("host".into(), json!(host));
            out.insert("basePath".into(), json!(format!("/{stage}")));
            out.insert("schemes".into(), json!(["https"]));
        }
    }
    let writer = Writer {
        api,
        def,
        flavor,
        ext,
    };
    out.insert("paths".into(), writer.paths());
    let schemas = writer.schemas();
    let schemes = writer.security_schemes();
    match flavor {
        Flavor::Oas30 => {
            out.insert(
                "components".into(),
                json!({ "schemas": schemas, "securitySchemes": schemes }),
            );
        }
        Flavor::Swagger2 => {
            out.insert("definitions".into(), schemas);
            out.insert("securityDefinitions".into(), schemes);
        }
    }
    if ext.apigateway {
        writer.api_extensions(&mut out);
    }
    Value::Object(out)
}

struct Writer<'a> {
    api: &'a RestApi,
    def: &'a ApiDefinition,
    flavor: Flavor,
    ext: &'a Extensions,
}

impl Writer<'_> {
    fn schema_ref(&self, model: &str) -> Value {
        let prefix = match self.flavor {
            Flavor::Oas30 => "#/components/schemas/",
            Flavor::Swagger2 => "#/definitions/",
        };
        json!({ "$ref": format!("{prefix}{model}") })
    }

    fn paths(&self) -> Value {
        let mut paths = Map::new();
        let mut resources: Vec<_> = self.def.resources.values().collect();
        resources.sort_by(|a, b| a.path.cmp(&b.path));
        for r in resources {
            let mut item = Map::new();
            for (verb, m) in &r.resource_methods {
                let key = match verb.as_str() {
                    "ANY" => "x-amazon-apigateway-any-method".to_string(),
                    other => other.to_ascii_lowercase(),
                };
                item.insert(key, self.operation(m, &r.id));
            }
            // A resource without methods is still part of the tree.
            paths.insert(r.path.clone(), Value::Object(item));
        }
        Value::Object(paths)
    }

    fn operation(&self, m: &Method, resource_id: &str) -> Value {
        let mut op = Map::new();
        if let Some(name) = &m.operation_name {
            op.insert("operationId".into(), json!(name));
        }
        let mut parameters = Vec::new();
        for (key, required) in &m.request_parameters {
            let Some((location, name)) = key
                .strip_prefix("method.request.")
                .and_then(|r| r.split_once('.'))
            else {
                continue;
            };
            let location = match location {
                "querystring" | "multivaluequerystring" => "query",
                "header" | "multivalueheader" => "header",
                other => other,
            };
            let mut p = json!({ "name": name, "in": location, "required": required });
            match self.flavor {
                Flavor::Oas30 => p["schema"] = json!({ "type": "string" }),
                Flavor::Swagger2 => p["type"] = json!("string"),
            }
            parameters.push(p);
        }
        if !m.request_models.is_empty() {
            match self.flavor {
                Flavor::Oas30 => {
                    let content: Map<String, Value> = m
                        .request_models
                        .iter()
                        .map(|(ct, model)| {
                            (ct.clone(), json!({ "schema": self.schema_ref(model) }))
                        })
                        .collect();
                    op.insert(
                        "requestBody".into(),
                        json!({ "content": content, "required": true }),
                    );
                }
                Flavor::Swagger2 => {
                    if let Some((_, model)) = m.request_models.iter().next() {
                        op.insert(
                            "consumes".into(),
                            json!(m.request_models.keys().collect::<Vec<_>>()),
                        );
                        parameters.push(json!({ "in": "body", "name": model,
                                                "required": true, "schema": self.schema_ref(model) }));
                    }
                }
            }
        }
        if !parameters.is_empty() {
            op.insert("parameters".into(), Value::Array(parameters));
        }
        op.insert("responses".into(), self.responses(m));
        if let Some(security) = self.security(m) {
            op.insert("security".into(), security);
        }
        if let Some(validator) = m
            .request_validator_id
            .as_ref()
            .and_then(|id| self.def.request_validators.get(id))
        {
            let name = validator
                .name
                .clone()
                .unwrap_or_else(|| validator.id.clone());
            op.insert("x-amazon-apigateway-request-validator".into(), json!(name));
        }
        if self.ext.integrations {
            if let Some(i) = &m.method_integration {
                op.insert(
                    "x-amazon-apigateway-integration".into(),
                    integration(i, resource_id),
                );
            }
        }
        Value::Object(op)
    }

    fn responses(&self, m: &Method) -> Value {
        let mut out = Map::new();
        for (status, r) in &m.method_responses {
            let mut resp = Map::new();
            resp.insert("description".into(), json!(format!("{status} response")));
            let headers: Map<String, Value> = r
                .response_parameters
                .iter()
                .flatten()
                .filter_map(|(k, _)| k.strip_prefix("method.response.header."))
                .map(|h| {
                    let shape = match self.flavor {
                        Flavor::Oas30 => json!({ "schema": { "type": "string" } }),
                        Flavor::Swagger2 => json!({ "type": "string" }),
                    };
                    (h.to_string(), shape)
                })
                .collect();
            if !headers.is_empty() {
                resp.insert("headers".into(), Value::Object(headers));
            }
            if let Some(models) = r.response_models.as_ref().filter(|m| !m.is_empty()) {
                match self.flavor {
                    Flavor::Oas30 => {
                        let content: Map<String, Value> = models
                            .iter()
                            .map(|(ct, model)| {
                                (ct.clone(), json!({ "schema": self.schema_ref(model) }))
                            })
                            .collect();
                        resp.insert("content".into(), Value::Object(content));
                    }
                    Flavor::Swagger2 => {
                        if let Some(model) = models.values().next() {
                            resp.insert("schema".into(), self.schema_ref(model));
                        }
                    }
                }
            }
            out.insert(status.clone(), Value::Object(resp));
        }
        Value::Object(out)
    }

    fn security(&self, m: &Method) -> Option<Value> {
        let mut requirement = Map::new();
        match m.authorization_type.as_str() {
            "AWS_IAM" => {
                requirement.insert("sigv4".into(), json!([]));
            }
            "CUSTOM" | "COGNITO_USER_POOLS" => {
                if let Some(a) = m
                    .authorizer_id
                    .as_ref()
                    .and_then(|id| self.def.authorizers.get(id))
                {
                    requirement.insert(a.name.clone(), json!(m.authorization_scopes));
                }
            }
            _ => {}
        }
        if m.api_key_required {
            requirement.insert("api_key".into(), json!([]));
        }
        (!requirement.is_empty()).then(|| json!([requirement]))
    }

    fn methods(&self) -> impl Iterator<Item = &Method> {
        self.def
            .resources
            .values()
            .flat_map(|r| r.resource_methods.values())
    }

    /// Models as schemas, their model URLs turned back into `$ref`s.
    fn schemas(&self) -> Value {
        let from = format!("{MODEL_URL_PREFIX}{}/models/", self.api.id);
        let to = match self.flavor {
            Flavor::Oas30 => "#/components/schemas/",
            Flavor::Swagger2 => "#/definitions/",
        };
        let mut out = Map::new();
        for (name, model) in &self.def.models {
            let Some(mut schema) = model
                .schema
                .as_deref()
                .and_then(|s| serde_json::from_str::<Value>(s).ok())
            else {
                continue;
            };
            unrewrite_refs(&mut schema, &from, to);
            out.insert(name.clone(), schema);
        }
        Value::Object(out)
    }

    fn security_schemes(&self) -> Value {
        let mut out = Map::new();
        if self.methods().any(|m| m.api_key_required) {
            out.insert(
                "api_key".into(),
                json!({ "type": "apiKey", "name": "x-api-key", "in": "header" }),
            );
        }
        if self.methods().any(|m| m.authorization_type == "AWS_IAM") {
            out.insert(
                "sigv4".into(),
                json!({ "type": "apiKey", "name": "Authorization", "in": "header",
                        "x-amazon-apigateway-authtype": "awsSigv4" }),
            );
        }
        for a in self.def.authorizers.values() {
            let used = self
                .methods()
                .any(|m| m.authorizer_id.as_deref() == Some(a.id.as_str()));
            if !used && !self.ext.authorizers {
                continue;
            }
            let header = a
                .identity_source
                .as_deref()
                .and_then(|s| s.strip_prefix("method.request.header."))
                .filter(|h| !h.contains(','))
                .unwrap_or("Unused");
            let mut scheme = json!({ "type": "apiKey", "name": header, "in": "header",
                                     "x-amazon-apigateway-authtype": a.auth_type.clone().unwrap_or_else(|| "custom".into()) });
            if self.ext.authorizers {
                let mut spec = Map::new();
                spec.insert("type".into(), json!(a.authorizer_type.to_ascii_lowercase()));
                let optional = [
                    ("authorizerUri", &a.authorizer_uri),
                    ("authorizerCredentials", &a.authorizer_credentials),
                    ("identitySource", &a.identity_source),
                    (
                        "identityValidationExpression",
                        &a.identity_validation_expression,
                    ),
                ];
                for (key, value) in optional {
                    if let Some(v) = value {
                        spec.insert(key.into(), json!(v));
                    }
                }
                spec.insert(
                    "authorizerResultTtlInSeconds".into(),
                    json!(a.authorizer_result_ttl_in_seconds),
                );
                if !a.provider_arns.is_empty() {
                    spec.insert("providerARNs".into(), json!(a.provider_arns));
                }
                scheme["x-amazon-apigateway-authorizer"] = Value::Object(spec);
            }
            out.insert(a.name.clone(), scheme);
        }
        Value::Object(out)
    }

    /// The API-wide `x-amazon-apigateway-*` members (`extensions=apigateway`).
    fn api_extensions(&self, out: &mut Map<String, Value>) {
        let api = self.api;
        out.insert(
            "x-amazon-apigateway-api-key-source".into(),
            json!(api.api_key_source),
        );
        if !api.binary_media_types.is_empty() {
            out.insert(
                "x-amazon-apigateway-binary-media-types".into(),
                json!(api.binary_media_types),
            );
        }
        if let Some(size) = api.minimum_compression_size {
            out.insert(
                "x-amazon-apigateway-minimum-compression-size".into(),
                json!(size),
            );
        }
        if let Some(policy) = &api.policy {
            let value = serde_json::from_str(policy).unwrap_or_else(|_| json!(policy));
            out.insert("x-amazon-apigateway-policy".into(), value);
        }
        if !self.def.request_validators.is_empty() {
            let validators: Map<String, Value> = self
                .def
                .request_validators
                .values()
                .map(|v| {
                    (
                        v.name.clone().unwrap_or_else(|| v.id.clone()),
                        json!({ "validateRequestBody": v.validate_request_body,
                                "validateRequestParameters": v.validate_request_parameters }),
                    )
                })
                .collect();
            out.insert(
                "x-amazon-apigateway-request-validators".into(),
                Value::Object(validators),
            );
        }
        if !self.def.gateway_responses.is_empty() {
            let responses: Map<String, Value> = self
                .def
                .gateway_responses
                .iter()
                .map(|(t, r)| {
                    let mut v = json!({ "responseParameters": r.response_parameters,
                                        "responseTemplates": r.response_templates });
                    if let Some(status) = &r.status_code {
                        v["statusCode"] = json!(status);
                    }
                    (t.clone(), v)
                })
                .collect();
            out.insert(
                "x-amazon-apigateway-gateway-responses".into(),
                Value::Object(responses),
            );
        }
    }
}

/// `x-amazon-apigateway-integration` for one integration.
fn integration(i: &Integration, resource_id: &str) -> Value {
    let mut out = Map::new();
    out.insert(
        "type".into(),
        json!(i.integration_type.to_ascii_lowercase()),
    );
    let optional = [
        ("httpMethod", &i.http_method),
        ("uri", &i.uri),
        ("connectionType", &i.connection_type),
        ("connectionId", &i.connection_id),
        ("credentials", &i.credentials),
        ("contentHandling", &i.content_handling),
    ];
    for (key, value) in optional {
        if let Some(v) = value {
            out.insert(key.into(), json!(v));
        }
    }
    if !i.request_parameters.is_empty() {
        out.insert("requestParameters".into(), json!(i.request_parameters));
    }
    if !i.request_templates.is_empty() {
        out.insert("requestTemplates".into(), templates(&i.request_templates));
    }
    out.insert(
        "passthroughBehavior".into(),
        json!(i.passthrough_behavior.to_ascii_lowercase()),
    );
    out.insert("timeoutInMillis".into(), json!(i.timeout_in_millis));
    // The namespace defaults to the resource id, which a new import changes.
    if i.cache_namespace != resource_id {
        out.insert("cacheNamespace".into(), json!(i.cache_namespace));
    }
    if !i.cache_key_parameters.is_empty() {
        out.insert("cacheKeyParameters".into(), json!(i.cache_key_parameters));
    }
    if let Some(tls) = &i.tls_config {
        out.insert(
            "tlsConfig".into(),
            json!({ "insecureSkipVerification": tls.insecure_skip_verification }),
        );
    }
    if !i.integration_responses.is_empty() {
        let responses: Map<String, Value> = i
            .integration_responses
            .values()
            .map(|r| {
                let mut v = Map::new();
                v.insert("statusCode".into(), json!(r.status_code));
                if !r.response_parameters.is_empty() {
                    v.insert("responseParameters".into(), json!(r.response_parameters));
                }
                if !r.response_templates.is_empty() {
                    v.insert("responseTemplates".into(), templates(&r.response_templates));
                }
                if let Some(ch) = &r.content_handling {
                    v.insert("contentHandling".into(), json!(ch));
                }
                let pattern = r
                    .selection_pattern
                    .clone()
                    .filter(|p| !p.is_empty())
                    .unwrap_or_else(|| "default".into());
                (pattern, Value::Object(v))
            })
            .collect();
        out.insert("responses".into(), Value::Object(responses));
    }
    Value::Object(out)
}

/// Templates with an empty one written as `""` (the importer reads it back as none).
fn templates(t: &BTreeMap<String, Option<String>>) -> Value {
    json!(t
        .iter()
        .map(|(ct, text)| (ct.clone(), text.clone().unwrap_or_default()))
        .collect::<BTreeMap<_, _>>())
}

fn unrewrite_refs(value: &mut Value, from: &str, to: &str) {
    match value {
        Value::Object(members) => {
            for (key, member) in members.iter_mut() {
                match member {
                    Value::String(reference) if key == "$ref" => {
                        if let Some(name) = reference.strip_prefix(from) {
                            *reference = format!("{to}{name}");
                        }
                    }
                    other => unrewrite_refs(other, from, to),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| unrewrite_refs(i, from, to)),
        _ => {}
    }
}

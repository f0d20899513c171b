//! Compiles a stage's deployment into what the data plane serves: the route
//! tree, parsed templates and regexes, resolved settings. Done once per
//! deployment or stage change, never per request.

use std::collections::BTreeMap;

use rustc_hash::FxHashMap as HashMap;
use std::sync::Arc;
use std::time::Duration;

use regex::Regex;
use tollgate_model::deployment::DeploymentDoc;
use tollgate_model::gateway_response::GatewayResponse;
use tollgate_model::integration::{Integration, IntegrationResponse};
use tollgate_model::method::{Method, MethodResponse};
use tollgate_model::stage::Stage;
use tollgate_vtl::Template;

use crate::authorize::Authorization;
use crate::integration::uri::UriTemplate;
use crate::lambda_authorizer::CompiledAuthorizer;
use crate::mapping::{self, Mapping};
use crate::resource_policy::ResourcePolicy;
use crate::router::Router;
use crate::throttle::{Bucket, BucketRegistry, Limits};

/// One stage, ready to serve. Immutable: a change compiles a new one.
#[derive(Debug)]
pub struct CompiledStage {
    pub api_id: String,
    /// Shared with every request's context and outcome (a clone is a count).
    pub api_name: Arc<str>,
    pub stage_name: String,
    pub deployment_id: Arc<str>,
    pub variables: BTreeMap<String, String>,
    pub router: Router<CompiledMethod>,
    /// Customised gateway responses by type (the rest are defaults).
    pub gateway_responses: HashMap<String, GatewayResponse>,
    /// Lower-cased; `*/*` and `image/*` style wildcards allowed.
    pub binary_media_types: Vec<String>,
    pub api_key_source: String,
    /// `tracingEnabled`: requests make spans and pass their own span on.
    pub tracing_enabled: bool,
    /// The deployment's Lambda authorizers by id; one that cannot be
    /// compiled keeps its reason, and its methods fail closed.
    pub authorizers: HashMap<String, Result<Arc<CompiledAuthorizer>, String>>,
    /// The API's resource policy as deployed; `None` costs requests nothing.
    /// One that cannot be compiled keeps its reason, and the API fails closed.
    pub resource_policy: Option<Result<ResourcePolicy, String>>,
    /// `endpointConfiguration.types` has PRIVATE: not served on the public listener.
    pub private: bool,
}

#[derive(Debug)]
pub struct CompiledMethod {
    /// Shared with every request's context (a clone is a count).
    pub resource_id: Arc<str>,
    pub resource_path: Arc<str>,
    pub http_method: String,
    /// `"/path/METHOD"`, the key of per-method throttles in usage plans.
    pub plan_throttle_key: String,
    /// The stage's throttle for this method (`methodSettings`), if set.
    pub stage_bucket: Option<Arc<Bucket>>,
    pub api_key_required: bool,
    pub authorization: Authorization,
    pub method_responses: BTreeMap<String, MethodResponse>,
    pub integration: Result<CompiledIntegration, String>,
    /// The request validator's checks, if the method has one that checks anything.
    pub validation: Option<crate::validation::CompiledValidation>,
    /// How it uses the stage cache, if it does.
    pub caching: Option<crate::cache::MethodCaching>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntegrationKind {
    Http,
    HttpProxy,
    Mock,
    Aws,
    AwsProxy,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Passthrough {
    WhenNoMatch,
    WhenNoTemplates,
    Never,
}

/// A content type's template; `None` is a declared-but-empty template.
pub type Templates = Vec<(String, Option<Arc<Template>>)>;

#[derive(Debug)]
pub struct CompiledIntegration {
    pub kind: IntegrationKind,
    pub http_method: String,
    pub uri: UriTemplate,
    pub request_parameters: Vec<Mapping>,
    pub request_templates: Templates,
    pub passthrough: Passthrough,
    pub timeout: Duration,
    /// Responses with a selection pattern first, the default last.
    pub responses: Vec<CompiledResponse>,
    /// Whether anything reads `$context` (templates, `context.*` mappings); the
    /// per-request `$context` object is built only then.
    pub needs_context: bool,
    /// `contentHandling` of the integration request.
    pub content_handling: Option<ContentHandling>,
    /// AWS and AWS_PROXY: the Lambda function the URI names (its ARN,
    /// stage variables unresolved).
    pub function: Option<String>,
}

/// Base64 conversion between binary and text payloads (`contentHandling`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentHandling {
    ConvertToBinary,
    ConvertToText,
}

fn content_handling(value: Option<&str>) -> Option<ContentHandling> {
    match value {
        Some("CONVERT_TO_BINARY") => Some(ContentHandling::ConvertToBinary),
        Some("CONVERT_TO_TEXT") => Some(ContentHandling::ConvertToText),
        _ => None,
    }
}

#[derive(Debug)]
pub struct CompiledResponse {
    pub status_code: String,
    /// `None` is the default response.
    pub pattern: Option<Regex>,
    pub response_parameters: Vec<Mapping>,
    pub response_templates: Templates,
    pub content_handling: Option<ContentHandling>,
}

fn templates(source: &BTreeMap<String, Option<String>>) -> Result<Templates, String> {
    source
        .iter()
        .map(|(content_type, text)| {
            let template = match text.as_deref() {
                None | Some("") => None,
                Some(t) => Some(Arc::new(
                    Template::parse(t).map_err(|e| format!("template for {content_type}: {e}"))?,
                )),
            };
            Ok((content_type.to_ascii_lowercase(), template))
        })
        .collect()
}

/// A selection pattern as AWS applies it: a Java regex matched against the whole string.
fn pattern(text: &str) -> Result<Regex, String> {
    Regex::new(&format!("^(?s:{text})$")).map_err(|e| format!("selection pattern {text:?}: {e}"))
}

fn compile_response(r: &IntegrationResponse) -> Result<CompiledResponse, String> {
    let selection = r.selection_pattern.as_deref().filter(|p| !p.is_empty());
    Ok(CompiledResponse {
        status_code: r.status_code.clone(),
        pattern: selection.map(pattern).transpose()?,
        response_parameters: r
            .response_parameters
            .iter()
            .map(|(k, v)| mapping::parse(k, v))
            .collect::<Result<_, _>>()?,
        response_templates: templates(&r.response_templates)?,
        content_handling: content_handling(r.content_handling.as_deref()),
    })
}

fn compile_integration(i: &Integration) -> Result<CompiledIntegration, String> {
    let kind = match i.integration_type.as_str() {
        "HTTP" => IntegrationKind::Http,
        "HTTP_PROXY" => IntegrationKind::HttpProxy,
        "MOCK" => IntegrationKind::Mock,
        "AWS" => IntegrationKind::Aws,
        "AWS_PROXY" => IntegrationKind::AwsProxy,
        other => return Err(format!("unknown integration type {other}")),
    };
    let passthrough = match i.passthrough_behavior.as_str() {
        "WHEN_NO_TEMPLATES" => Passthrough::WhenNoTemplates,
        "NEVER" => Passthrough::Never,
        _ => Passthrough::WhenNoMatch,
    };
    let mut responses = i
        .integration_responses
        .values()
        .map(compile_response)
        .collect::<Result<Vec<_>, _>>()?;
    // Patterned responses are tried first; `.*` and the empty pattern act as defaults.
    responses.sort_by_key(|r| r.pattern.is_none());
    let request_parameters: Vec<Mapping> = i
        .request_parameters
        .iter()
        .map(|(k, v)| mapping::parse(k, v))
        .collect::<Result<_, _>>()?;
    let request_templates = templates(&i.request_templates)?;
    let reads_context = |m: &Mapping| matches!(m.source, mapping::Source::Context(_));
    let needs_context = request_templates.iter().any(|(_, t)| t.is_some())
        || request_parameters.iter().any(reads_context)
        || responses.iter().any(|r| {
            r.response_templates.iter().any(|(_, t)| t.is_some())
                || r.response_parameters.iter().any(reads_context)
        });
    Ok(CompiledIntegration {
        kind,
        http_method: i.http_method.clone().unwrap_or_else(|| "POST".into()),
        uri: UriTemplate::new(i.uri.as_deref().unwrap_or_default()),
        request_parameters,
        request_templates,
        passthrough,
        timeout: Duration::from_millis(i.timeout_in_millis.clamp(50, 300_000) as u64),
        responses,
        needs_context,
        content_handling: content_handling(i.content_handling.as_deref()),
        function: match kind {
            IntegrationKind::Aws | IntegrationKind::AwsProxy => i
                .uri
                .as_deref()
                .and_then(crate::integration::lambda::function_of_uri)
                .map(str::to_string),
            _ => None,
        },
    })
}

/// The stage's method-setting key of a method (`/a/b` GET → `~1a~1b/GET`),
/// as UpdateStage stores per-method settings.
fn method_setting_key(resource_path: &str, http_method: &str) -> String {
    format!("{}/{http_method}", resource_path.replace('/', "~1"))
}

fn stage_bucket(
    stage: &Stage,
    api_id: &str,
    resource_path: &str,
    http_method: &str,
    registry: &BucketRegistry,
    now: u64,
) -> Option<Arc<Bucket>> {
    let key = method_setting_key(resource_path, http_method);
    let setting = stage
        .method_settings
        .get(&key)
        .or_else(|| stage.method_settings.get("*/*"))?;
    let limits = Limits {
        burst: setting.throttling_burst_limit.max(0) as u64,
        rate: setting.throttling_rate_limit,
    };
    // One bucket per method: stage throttles apply to each method (shared by its callers).
    Some(registry.get(
        &format!("stage:{api_id}:{}:{key}", stage.stage_name),
        limits,
        now,
    ))
}

fn compile_method(
    definition: &DeploymentDoc,
    resource_id: &str,
    resource_path: &str,
    m: &Method,
    stage_bucket: Option<Arc<Bucket>>,
    caching: Option<crate::cache::MethodCaching>,
) -> CompiledMethod {
    let validation = crate::validation::compile(
        &definition.api.id,
        m,
        &definition.definition.request_validators,
        &definition.definition.models,
    );
    let (validation, validation_error) = match validation {
        Ok(v) => (v, None),
        Err(reason) => (None, Some(reason)),
    };
    CompiledMethod {
        resource_id: resource_id.into(),
        resource_path: resource_path.into(),
        http_method: m.http_method.clone(),
        plan_throttle_key: format!("{resource_path}/{}", m.http_method),
        stage_bucket,
        api_key_required: m.api_key_required,
        authorization: Authorization::from_method(
            &m.authorization_type,
            m.authorizer_id.as_deref(),
        ),
        method_responses: m.method_responses.clone(),
        integration: match (&m.method_integration, validation_error) {
            // A model that cannot be used fails the method closed.
            (_, Some(reason)) => Err(reason),
            (Some(i), None) => compile_integration(i),
            (None, None) => Err("no integration defined for method".into()),
        },
        validation,
        caching,
    }
}

/// Compiles `stage` of the API frozen in `deployment`; throttle buckets come
/// from `registry` so they keep their state across recompiles.
pub fn compile(
    deployment: &DeploymentDoc,
    stage: &Stage,
    registry: &BucketRegistry,
    now: u64,
    cache: Option<&Arc<crate::cache::StageCache>>,
) -> CompiledStage {
    let mut router = Router::default();
    let api_id = &deployment.api.id;
    for resource in deployment.definition.resources.values() {
        let methods = resource
            .resource_methods
            .iter()
            .map(|(name, m)| {
                let bucket = stage_bucket(stage, api_id, &resource.path, name, registry, now);
                let caching = m.method_integration.as_ref().and_then(|i| {
                    let namespace = if i.cache_namespace.is_empty() {
                        &resource.id
                    } else {
                        &i.cache_namespace
                    };
                    crate::cache::method_caching(
                        cache,
                        stage,
                        &resource.path,
                        name,
                        namespace,
                        &i.cache_key_parameters,
                    )
                });
                (
                    name.clone(),
                    Arc::new(compile_method(
                        deployment,
                        &resource.id,
                        &resource.path,
                        m,
                        bucket,
                        caching,
                    )),
                )
            })
            .collect();
        router.insert(&resource.path, methods);
    }
    CompiledStage {
        api_id: deployment.api.id.clone(),
        api_name: deployment.api.name.as_str().into(),
        stage_name: stage.stage_name.clone(),
        deployment_id: deployment.deployment.id.as_str().into(),
        variables: stage.variables.clone(),
        router,
        gateway_responses: deployment
            .definition
            .gateway_responses
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        binary_media_types: deployment
            .api
            .binary_media_types
            .iter()
            .map(|t| t.to_ascii_lowercase())
            .collect(),
        api_key_source: deployment.api.api_key_source.clone(),
        tracing_enabled: stage.tracing_enabled,
        authorizers: deployment
            .definition
            .authorizers
            .iter()
            .map(|(id, a)| (id.clone(), CompiledAuthorizer::compile(a).map(Arc::new)))
            .collect(),
        resource_policy: deployment
            .api
            .policy
            .as_deref()
            .filter(|p| !p.trim().is_empty())
            .map(ResourcePolicy::compile),
        private: deployment
            .api
            .endpoint_configuration
            .types
            .iter()
            .any(|t| t == "PRIVATE"),
    }
}

/// The stage TestInvokeMethod runs in: AWS calls it `test-invoke-stage`.
pub fn test_invoke_stage() -> Stage {
    Stage::new("test-invoke-stage", "test-invoke", 0)
}

impl CompiledStage {
    /// Whether a payload of `media_type` is binary for this API (`binaryMediaTypes`).
    pub fn is_binary(&self, media_type: &str) -> bool {
        self.binary_media_types.iter().any(|t| {
            t == media_type
                || t == "*/*"
                || t.strip_suffix("/*")
                    .is_some_and(|prefix| media_type.split('/').next() == Some(prefix))
        })
    }
}

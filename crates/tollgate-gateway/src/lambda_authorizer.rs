//! Lambda authorizers (`authorizationType CUSTOM`, `spec/aws-apigw.md` §5):
//! the identity sources read from the request's head, the authorizer
//! function invoked (TOKEN or REQUEST event), its answer checked and cached
//! for `authorizerResultTtlInSeconds`, and its policy evaluated for this
//! request's method ARN. A cached policy covers the other methods and paths
//! it names, and no more.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use regex::Regex;
use serde_json::{json, Map, Value};
use tollgate_model::authorizer::Authorizer;

use crate::compile::CompiledStage;
use crate::context::{AuthorizerContext, AuthorizerIdentity, RequestContext};
use crate::error::{ErrorKind, GatewayError};
use crate::integration::lambda::{FunctionInvoker, FunctionResult, InvokeFailure};
use crate::policy::{Decision, Policy};
use crate::router::PathParam;

/// How long an authorizer may take (AWS does not document its limit; an
/// integration's default is 29 s).
const AUTHORIZER_TIMEOUT: Duration = Duration::from_secs(29);

/// Cached results, all stages together.
const CACHE_ENTRIES: u64 = 100_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    Token,
    Request,
    /// Not served (Tollgate has no user pools): a method using one fails closed.
    CognitoUserPools,
}

/// Where an identity value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdentitySource {
    Header(String),
    Query(String),
    StageVariable(String),
    Context(String),
}

/// An authorizer as a deployment compiled it.
#[derive(Debug)]
pub struct CompiledAuthorizer {
    pub id: String,
    pub kind: Kind,
    /// The function's ARN (stage variables unresolved), from `authorizerUri`.
    pub function: Option<String>,
    pub identity_sources: Vec<IdentitySource>,
    /// TOKEN: the token must match this, whole, or the caller gets 401.
    pub validation: Option<Regex>,
    /// 0: not cached.
    pub ttl: Duration,
}

impl CompiledAuthorizer {
    pub fn compile(a: &Authorizer) -> Result<CompiledAuthorizer, String> {
        let kind = match a.authorizer_type.as_str() {
            "TOKEN" => Kind::Token,
            "REQUEST" => Kind::Request,
            _ => Kind::CognitoUserPools,
        };
        let identity_sources = a
            .identity_source
            .as_deref()
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                if let Some(n) = s.strip_prefix("method.request.header.") {
                    Ok(IdentitySource::Header(n.to_ascii_lowercase()))
                } else if let Some(n) = s.strip_prefix("method.request.querystring.") {
                    Ok(IdentitySource::Query(n.to_string()))
                } else if let Some(n) = s.strip_prefix("stageVariables.") {
                    Ok(IdentitySource::StageVariable(n.to_string()))
                } else if let Some(n) = s.strip_prefix("context.") {
                    Ok(IdentitySource::Context(n.to_string()))
                } else {
                    Err(format!("unsupported identity source {s}"))
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        let validation = a
            .identity_validation_expression
            .as_deref()
            .filter(|e| !e.is_empty())
            .map(|e| Regex::new(&format!("^(?:{e})$")))
            .transpose()
            .map_err(|e| format!("identityValidationExpression: {e}"))?;
        Ok(CompiledAuthorizer {
            id: a.id.clone(),
            kind,
            function: a
                .authorizer_uri
                .as_deref()
                .and_then(crate::integration::lambda::function_of_uri)
                .map(str::to_string),
            identity_sources,
            validation,
            ttl: Duration::from_secs(a.authorizer_result_ttl_in_seconds.clamp(0, 3600) as u64),
        })
    }
}

/// What an authorizer answered, checked.
#[derive(Debug, Clone)]
pub struct AuthorizerResult {
    pub identity: Arc<AuthorizerIdentity>,
    pub policy: Policy,
    /// How long the cache may keep it.
    ttl: Duration,
}

/// Results by API, stage, authorizer and identity values.
pub struct AuthorizerCache(moka::sync::Cache<String, Arc<AuthorizerResult>>);

struct PerEntryTtl;

impl moka::Expiry<String, Arc<AuthorizerResult>> for PerEntryTtl {
    fn expire_after_create(
        &self,
        _: &String,
        value: &Arc<AuthorizerResult>,
        _: std::time::Instant,
    ) -> Option<Duration> {
        Some(value.ttl)
    }
}

impl Default for AuthorizerCache {
    fn default() -> Self {
        AuthorizerCache(
            moka::sync::Cache::builder()
                .max_capacity(CACHE_ENTRIES)
                .expire_after(PerEntryTtl)
                .support_invalidation_closures()
                .build(),
        )
    }
}

impl AuthorizerCache {
    /// Forgets every cached result of one stage (FlushStageAuthorizersCache).
    pub fn flush_stage(&self, api_id: &str, stage: &str) {
        let prefix = format!("{api_id}\u{0}{stage}\u{0}");
        let _ = self
            .0
            .invalidate_entries_if(move |key, _| key.starts_with(&prefix));
    }
}

/// What the authorize phase has to go on.
pub struct Request<'a> {
    pub parts: &'a http::request::Parts,
    /// The head as an HTTP/1 client sent it (header names' case).
    pub raw_head: Option<&'a tollgate_http1::request::RawHead>,
    pub path_params: &'a [PathParam],
    pub stage: &'a CompiledStage,
    pub region: &'a str,
}

/// The request's method ARN: `arn:aws:execute-api:{region}:{account}:{api}/{stage}/{METHOD}/{path}`.
pub fn method_arn(region: &str, cx: &RequestContext) -> String {
    format!(
        "arn:aws:execute-api:{region}:{}:{}/{}/{}/{}",
        cx.account_id,
        cx.api_id,
        cx.stage,
        cx.http_method,
        cx.path.strip_prefix('/').unwrap_or(&cx.path)
    )
}

fn unauthorized(why: &str) -> GatewayError {
    ErrorKind::Unauthorized.because(why)
}

fn failure(why: impl std::fmt::Display) -> GatewayError {
    ErrorKind::AuthorizerFailure.because(why)
}

/// The identity values the sources name; None when one is missing and the
/// authorizer needs them all.
fn identity_values(
    authorizer: &CompiledAuthorizer,
    request: &Request<'_>,
    query: &[(String, String)],
    cx: &RequestContext,
) -> Result<Vec<String>, GatewayError> {
    let needs_context = authorizer
        .identity_sources
        .iter()
        .any(|s| matches!(s, IdentitySource::Context(_)));
    let context = if needs_context {
        cx.to_json()
    } else {
        Value::Null
    };
    let mut values = Vec::with_capacity(authorizer.identity_sources.len());
    for source in &authorizer.identity_sources {
        let value = match source {
            IdentitySource::Header(n) => request
                .parts
                .headers
                .get(n.as_str())
                .and_then(|v| v.to_str().ok())
                .map(str::to_string),
            IdentitySource::Query(n) => query
                .iter()
                .rev()
                .find(|(k, _)| k == n)
                .map(|(_, v)| v.clone()),
            IdentitySource::StageVariable(n) => request.stage.variables.get(n).cloned(),
            IdentitySource::Context(n) => crate::mapping::context_value(&context, n),
        };
        match value.filter(|v| !v.is_empty()) {
            Some(v) => values.push(v),
            // A REQUEST authorizer without caching may be called without
            // some of its sources; otherwise a missing one is a 401.
            None if authorizer.kind == Kind::Request && authorizer.ttl.is_zero() => {
                values.push(String::new())
            }
            None => return Err(unauthorized("an identity source is missing")),
        }
    }
    if authorizer.kind == Kind::Token && values.is_empty() {
        return Err(unauthorized(
            "a TOKEN authorizer needs a header identity source",
        ));
    }
    Ok(values)
}

/// What comes before invoking: the identity values (401 when one is
/// missing), the token checked against `identityValidationExpression` (401,
/// and the function never runs), the method ARN and the cache key.
struct Prepared {
    values: Vec<String>,
    query: Vec<(String, String)>,
    arn: String,
    /// None when the authorizer's answers are not cached (TTL 0).
    cache_key: Option<String>,
}

fn prepare(
    authorizer: &CompiledAuthorizer,
    request: &Request<'_>,
    cx: &RequestContext,
) -> Result<Prepared, GatewayError> {
    if authorizer.kind == Kind::CognitoUserPools {
        return Err(ErrorKind::AuthorizerConfiguration
            .because("COGNITO_USER_POOLS authorizers are not supported"));
    }
    let query = request
        .parts
        .uri
        .query()
        .map(crate::integration::parse_query)
        .unwrap_or_default();
    let values = identity_values(authorizer, request, &query, cx)?;
    if let (Kind::Token, Some(pattern)) = (&authorizer.kind, &authorizer.validation) {
        if !pattern.is_match(&values[0]) {
            return Err(unauthorized(
                "the token does not match identityValidationExpression",
            ));
        }
    }
    let cache_key = (!authorizer.ttl.is_zero()).then(|| {
        // The deployment is part of the key: a redeployed authorizer starts afresh.
        let mut key = format!(
            "{}\u{0}{}\u{0}{}\u{0}{}",
            request.stage.api_id,
            request.stage.stage_name,
            request.stage.deployment_id,
            authorizer.id
        );
        for v in &values {
            key.push('\u{0}');
            key.push_str(v);
        }
        key
    });
    Ok(Prepared {
        arn: method_arn(request.region, cx),
        values,
        query,
        cache_key,
    })
}

/// The event the authorizer's function gets.
fn event(
    authorizer: &CompiledAuthorizer,
    request: &Request<'_>,
    prepared: &Prepared,
    cx: &RequestContext,
) -> Value {
    match authorizer.kind {
        Kind::Token => json!({
            "type": "TOKEN",
            "authorizationToken": prepared.values[0],
            "methodArn": prepared.arn,
        }),
        _ => request_event(request, &prepared.query, &prepared.arn, cx),
    }
}

/// Runs `authorizer` for this request: the caller is allowed (and its
/// principal and context recorded), or the request ends here.
pub async fn authorize(
    authorizer: &CompiledAuthorizer,
    request: Request<'_>,
    invoker: Option<&dyn FunctionInvoker>,
    cache: &AuthorizerCache,
    cx: &mut RequestContext,
) -> Result<(), GatewayError> {
    let prepared = prepare(authorizer, &request, cx)?;
    let cached = prepared.cache_key.as_ref().and_then(|k| cache.0.get(k));
    let result = match cached {
        Some(result) => result,
        None => {
            let started = Instant::now();
            cx.authorizer_start = Some(started.duration_since(cx.started));
            let event = event(authorizer, &request, &prepared, cx);
            let answer = invoke(authorizer, &request, invoker, event, &cx.trace_id).await;
            cx.authorizer_latency = Some(started.elapsed());
            let result = Arc::new(parse_result(&answer?, authorizer.ttl)?);
            if let Some(key) = prepared.cache_key {
                cache.0.insert(key, result.clone());
            }
            result
        }
    };
    decide(&result.policy, &prepared.arn)?;
    cx.authorizer = Some(AuthorizerContext {
        identity: result.identity.clone(),
        latency: cx.authorizer_latency,
    });
    Ok(())
}

/// What the policy says of `arn`, as the client would hear it.
fn decide(policy: &Policy, arn: &str) -> Result<(), GatewayError> {
    match policy.evaluate(arn) {
        Decision::Allow => Ok(()),
        Decision::ExplicitDeny => Err(ErrorKind::AccessDenied { explicit: true }
            .because(format_args!("the authorizer's policy denies {arn}"))),
        Decision::ImplicitDeny => Err(ErrorKind::AccessDenied { explicit: false }
            .because(format_args!("the authorizer's policy does not allow {arn}"))),
    }
}

/// TestInvokeAuthorizer's findings.
#[derive(Debug, Default)]
pub struct Tested {
    /// What the client would have got: 200 when allowed.
    pub client_status: u16,
    pub principal_id: Option<String>,
    /// The policy document as the function returned it (JSON text).
    pub policy: Option<String>,
    pub context: Map<String, Value>,
    /// Why the client would have been refused.
    pub cause: Option<String>,
    pub method_arn: String,
    pub latency: Duration,
}

/// Runs `authorizer` once, uncached, and reports what it decided and why
/// (TestInvokeAuthorizer).
pub async fn test(
    authorizer: &CompiledAuthorizer,
    request: Request<'_>,
    invoker: Option<&dyn FunctionInvoker>,
    cx: &RequestContext,
) -> Tested {
    let started = Instant::now();
    let mut tested = Tested {
        method_arn: method_arn(request.region, cx),
        ..Tested::default()
    };
    let outcome: Result<(), GatewayError> = async {
        let prepared = prepare(authorizer, &request, cx)?;
        let event = event(authorizer, &request, &prepared, cx);
        let answer = invoke(authorizer, &request, invoker, event, &cx.trace_id).await?;
        let result = parse_result(&answer, Duration::ZERO)?;
        tested.principal_id = Some(result.identity.principal_id.clone());
        tested.context = result.identity.context.clone();
        tested.policy = serde_json::from_slice::<Value>(&answer)
            .ok()
            .and_then(|v| v.get("policyDocument").map(Value::to_string));
        decide(&result.policy, &prepared.arn)
    }
    .await;
    tested.latency = started.elapsed();
    match outcome {
        Ok(()) => tested.client_status = 200,
        Err(e) => {
            tested.client_status = e.kind.default_status();
            tested.cause = e.cause.map(String::from);
        }
    }
    tested
}

/// Invokes the authorizer's function: its answer, or why there is none.
async fn invoke(
    authorizer: &CompiledAuthorizer,
    request: &Request<'_>,
    invoker: Option<&dyn FunctionInvoker>,
    event: Value,
    trace_id: &str,
) -> Result<Bytes, GatewayError> {
    let invoker = invoker.ok_or_else(|| {
        ErrorKind::AuthorizerConfiguration.because("this gateway has no Lambda host")
    })?;
    let function = authorizer.function.as_deref().ok_or_else(|| {
        ErrorKind::AuthorizerConfiguration.because("the authorizerUri names no Lambda function")
    })?;
    let function = crate::integration::lambda::resolve_function(function, &request.stage.variables);
    let deadline = Instant::now() + AUTHORIZER_TIMEOUT;
    let payload = Bytes::from(event.to_string());
    match invoker.invoke(&function, payload, deadline, trace_id).await {
        Ok(FunctionResult::Success(body)) => Ok(body),
        Ok(FunctionResult::Error(body)) => {
            let message = crate::integration::lambda::error_message(&body);
            if message == "Unauthorized" {
                Err(unauthorized("the authorizer answered Unauthorized"))
            } else {
                Err(failure(format_args!("the authorizer failed: {message}")))
            }
        }
        Err(InvokeFailure::NotFound) => Err(ErrorKind::AuthorizerConfiguration.because(
            format_args!("the authorizer function {function} does not exist"),
        )),
        Err(InvokeFailure::TimedOut) => Err(failure("the authorizer timed out")),
        Err(InvokeFailure::Throttled) => Err(failure("the authorizer is throttled")),
        Err(InvokeFailure::Failed(why)) => Err(failure(why)),
    }
}

/// An authorizer's answer, or why it is malformed.
fn parse_result(body: &[u8], ttl: Duration) -> Result<AuthorizerResult, GatewayError> {
    let malformed = |why: &str| failure(format_args!("malformed authorizer response: {why}"));
    let value: Value = serde_json::from_slice(body).map_err(|_| malformed("not JSON"))?;
    let principal_id = match value.get("principalId") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => return Err(malformed("no principalId")),
    };
    let document = value
        .get("policyDocument")
        .ok_or_else(|| malformed("no policyDocument"))?;
    let policy = Policy::parse(document).map_err(|e| malformed(&e))?;
    let context = match value.get("context") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(map)) => {
            if map.values().any(|v| v.is_object() || v.is_array()) {
                return Err(malformed(
                    "context values must be strings, numbers or booleans",
                ));
            }
            map.clone()
        }
        Some(_) => return Err(malformed("context is not an object")),
    };
    let usage_identifier_key = value
        .get("usageIdentifierKey")
        .and_then(Value::as_str)
        .map(str::to_string);
    Ok(AuthorizerResult {
        identity: Arc::new(AuthorizerIdentity {
            principal_id,
            context,
            usage_identifier_key,
        }),
        policy,
        ttl,
    })
}

/// A REQUEST authorizer's event: the request as a proxy integration would
/// see it, without a body, and with `type` and `methodArn`.
fn request_event(
    request: &Request<'_>,
    query: &[(String, String)],
    arn: &str,
    cx: &RequestContext,
) -> Value {
    let mut event = crate::integration::lambda::request_fields(
        request.stage,
        &request.parts.headers,
        request.raw_head,
        query,
        request.path_params,
        cx,
    );
    event.insert("type".into(), json!("REQUEST"));
    event.insert("methodArn".into(), json!(arn));
    Value::Object(event)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_as_aws_reads_them() {
        let ok = parse_result(
            br#"{"principalId": "user", "policyDocument": {"Version": "2012-10-17", "Statement": [{"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": "*"}]}, "context": {"userId": "u1", "n": 1, "b": true}, "usageIdentifierKey": "k"}"#,
            Duration::from_secs(300),
        )
        .expect("valid");
        assert_eq!(ok.identity.principal_id, "user");
        assert_eq!(ok.identity.context["n"], 1);
        assert_eq!(ok.identity.usage_identifier_key.as_deref(), Some("k"));
        for bad in [
            &b"null"[..],
            br#"{"policyDocument": {"Statement": []}}"#,
            br#"{"principalId": "u"}"#,
            br#"{"principalId": "u", "policyDocument": {"Statement": []}, "context": {"a": {"nested": 1}}}"#,
        ] {
            assert_eq!(
                parse_result(bad, Duration::ZERO).map_err(|e| e.kind).err(),
                Some(ErrorKind::AuthorizerFailure),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}

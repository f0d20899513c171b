//! The console's Test buttons, against the API as it is now (not as
//! deployed), as AWS runs them (`spec/aws-apigw.md` §1.3, §1.4):
//! TestInvokeMethod runs one method without authorization and reports
//! status, body, headers, latency and an execution log; TestInvokeAuthorizer
//! runs one Lambda authorizer, uncached, and reports its decision.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Request};
use http_body_util::BodyExt;
use serde::Deserialize;
use serde_json::{json, Value};
use tollgate_http1::RequestBody;
use tollgate_model::deployment::{Deployment, DeploymentDoc};
use tollgate_model::state::RestApiDoc;

use crate::compile::{compile, CompiledMethod, CompiledStage};
use crate::context::RequestContext;
use crate::invoke::InvokeTarget;
use crate::lambda_authorizer::{self, CompiledAuthorizer};
use crate::pipeline::TestInvoke;
use crate::router::Router;
use crate::Gateway;

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TestInvokeInput {
    pub path_with_query_string: Option<String>,
    pub body: Option<String>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default)]
    pub multi_value_headers: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    pub stage_variables: BTreeMap<String, String>,
}

/// Why a test invocation could not start.
#[derive(Debug, PartialEq, Eq)]
pub enum TestInvokeError {
    UnknownResource,
    UnknownAuthorizer,
    UnknownMethod,
    /// `pathWithQueryString` is not a path.
    InvalidPath,
}

fn log_time(epoch_ms: u128) -> String {
    // `EEE MMM dd HH:mm:ss UTC yyyy`, as AWS's execution log prints it.
    const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let secs = (epoch_ms / 1000) as i64;
    let d = tollgate_model::time::Date::from_epoch_seconds(secs);
    let t = secs.rem_euclid(86_400);
    format!(
        "{} {} {:02} {:02}:{:02}:{:02} UTC {}",
        DAYS[d.weekday() as usize % 7],
        MONTHS[(d.month as usize).saturating_sub(1) % 12],
        d.day,
        t / 3600,
        t % 3600 / 60,
        t % 60,
        d.year
    )
}

/// The API as it is now, compiled as the stage AWS's tests run in, with
/// the input's stage variables. Not throttled: its buckets are thrown away.
fn test_stage(doc: &RestApiDoc, input: &TestInvokeInput) -> CompiledStage {
    let deployment = DeploymentDoc {
        deployment: Deployment {
            id: "test-invoke".into(),
            description: None,
            created_date: 0,
            api_summary: BTreeMap::new(),
        },
        api: doc.api.clone(),
        definition: doc.definition.clone(),
    };
    let mut stage_doc = crate::compile::test_invoke_stage();
    stage_doc.variables = input.stage_variables.clone();
    compile(&deployment, &stage_doc, &Default::default(), 0, None)
}

/// A route table that leads every request to the tested resource, as AWS's
/// Test button runs the method it names whatever the path: a path that fits
/// the resource's template gives its path parameters, any other none.
fn pinned_router(stage: &CompiledStage, resource_path: &str, path: &str) -> Router<CompiledMethod> {
    let methods = stage
        .router
        .find(resource_path)
        .map(|m| m.methods.clone())
        .unwrap_or_default();
    let mut router = Router::default();
    router.insert(resource_path, methods.clone());
    if router.find(path).is_none() {
        router = Router::default();
        router.insert(path, methods);
    }
    router
}

/// A map as AWS's execution log prints one (Java's `{k=v, k2=v2}`).
fn log_map<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>) -> String {
    let inner: Vec<String> = pairs.map(|(k, v)| format!("{k}={v}")).collect();
    format!("{{{}}}", inner.join(", "))
}

/// A response header's name as AWS reports it (`Content-Type`; its own
/// `x-amzn-ErrorType`): HTTP/2 and the `http` crate keep names lower-case.
fn display_name(name: &str) -> String {
    if name == "x-amzn-errortype" {
        return "x-amzn-ErrorType".into();
    }
    name.split('-')
        .map(|part| {
            let mut chars = part.chars();
            match chars.next() {
                Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join("-")
}

/// Headers the front door adds to every answer; the Test button shows the
/// method's own response headers only (and a trace id only from a backend
/// that was called: a MOCK answer has none on AWS).
fn is_front_door_header(name: &str, is_mock: bool) -> bool {
    matches!(
        name,
        "x-amzn-requestid" | "x-amz-apigw-id" | "date" | "content-length" | "connection"
    ) || (is_mock && name == "x-amzn-trace-id")
}

/// The input's headers; names or values HTTP cannot carry are left out.
fn add_headers(headers: &mut http::HeaderMap, input: &TestInvokeInput) {
    for (k, v) in &input.headers {
        if let (Ok(n), Ok(v)) = (HeaderName::try_from(k.as_str()), HeaderValue::from_str(v)) {
            headers.insert(n, v);
        }
    }
    for (k, values) in &input.multi_value_headers {
        for v in values {
            if let (Ok(n), Ok(v)) = (HeaderName::try_from(k.as_str()), HeaderValue::from_str(v)) {
                headers.append(n, v);
            }
        }
    }
}

/// Runs `http_method` on `resource_id` of `doc` with `input`, through the
/// same phases as a deployed request (without authorization and usage
/// plans, as AWS's Test button runs it).
pub async fn test_invoke(
    gateway: &Gateway,
    doc: &RestApiDoc,
    resource_id: &str,
    http_method: &str,
    input: TestInvokeInput,
    request_id: String,
) -> Result<Value, TestInvokeError> {
    let resource = doc
        .definition
        .resources
        .get(resource_id)
        .ok_or(TestInvokeError::UnknownResource)?;
    // A resource's ANY method answers every HTTP method it has no own one for.
    let method = resource
        .resource_methods
        .get(http_method)
        .or_else(|| resource.resource_methods.get("ANY"))
        .ok_or(TestInvokeError::UnknownMethod)?;
    let is_mock = method
        .method_integration
        .as_ref()
        .is_some_and(|i| i.integration_type == "MOCK");
    let mut stage = test_stage(doc, &input);
    let path_with_query = input
        .path_with_query_string
        .clone()
        .unwrap_or_else(|| resource.path.clone());
    let uri: http::Uri = path_with_query
        .parse()
        .map_err(|_| TestInvokeError::InvalidPath)?;
    let path = crate::path::remove_dot_segments(uri.path()).into_owned();
    let query = uri.query().unwrap_or_default().to_string();
    stage.router = pinned_router(&stage, &resource.path, &path);
    let path_params = stage
        .router
        .find(&path)
        .map(|m| m.params)
        .unwrap_or_default();
    let stage = Arc::new(stage);
    let mut request = Request::new(RequestBody::Buffered(Some(Bytes::from(
        input.body.clone().unwrap_or_default(),
    ))));
    *request.method_mut() = http::Method::from_bytes(http_method.as_bytes())
        .map_err(|_| TestInvokeError::UnknownMethod)?;
    *request.uri_mut() = uri;
    add_headers(request.headers_mut(), &input);
    let target = InvokeTarget {
        api_id: doc.api.id.clone(),
        stage: stage.stage_name.clone(),
        path: path.clone(),
        domain_name: "testinvoke.execute-api".into(),
        port: 443,
        public: false,
    };
    let peer: SocketAddr = ([127, 0, 0, 1], 0).into();
    let started = Instant::now();
    let (tap, tapped) = tokio::sync::oneshot::channel();
    let response = crate::pipeline::run(
        gateway,
        target,
        request,
        None,
        peer,
        request_id.clone(),
        Some(TestInvoke { stage, tap }),
    )
    .await;
    let (parts, body) = response.into_parts();
    let body = body
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    let latency = started.elapsed().as_millis() as u64;
    let outcome = tapped.await.unwrap_or_default();
    let at = log_time(outcome.request_time_epoch_ms);
    let mut single = serde_json::Map::new();
    let mut multi: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, value) in &parts.headers {
        // A failed execution shows only its error type, as on AWS.
        let failed = outcome.error_type.is_some() && name != "x-amzn-errortype";
        if failed || is_front_door_header(name.as_str(), is_mock) {
            continue;
        }
        let v = value.to_str().unwrap_or_default().to_string();
        let name = display_name(name.as_str());
        single.insert(name.clone(), Value::String(v.clone()));
        multi.entry(name).or_default().push(v);
    }
    let query_pairs: Vec<(&str, &str)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| p.split_once('=').unwrap_or((p, "")))
        .collect();
    let mut input_headers: Vec<(&str, &str)> = input
        .headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    for (k, values) in &input.multi_value_headers {
        input_headers.extend(values.iter().map(|v| (k.as_str(), v.as_str())));
    }
    let mut log = vec![
        format!("Execution log for request {request_id}"),
        format!("{at} : Starting execution for request: {request_id}"),
        format!("{at} : HTTP Method: {http_method}, Resource Path: {path}"),
        format!(
            "{at} : Method request path: {}",
            log_map(
                path_params
                    .iter()
                    .map(|p| (p.name.as_str(), p.value.as_str()))
            )
        ),
        format!(
            "{at} : Method request query string: {}",
            log_map(query_pairs.into_iter())
        ),
        format!(
            "{at} : Method request headers: {}",
            log_map(input_headers.into_iter())
        ),
        format!(
            "{at} : Method request body before transformations: {}",
            input.body.as_deref().unwrap_or_default()
        ),
    ];
    if let (Some(integration), false) = (outcome.integration_latency, is_mock) {
        log.push(format!(
            "{at} : Received response. Integration latency: {} ms",
            integration.as_millis()
        ));
    }
    match outcome.error_type {
        Some(error_type) => {
            let cause = outcome.cause.as_deref().unwrap_or(error_type);
            if error_type == "API_CONFIGURATION_ERROR" {
                log.push(format!(
                    "{at} : Execution failed due to configuration error: {cause}"
                ));
            } else {
                log.push(format!("{at} : Execution failed: {error_type}: {cause}"));
            }
        }
        None => {
            log.push(format!(
                "{at} : Method response body after transformations: {}",
                String::from_utf8_lossy(&body)
            ));
            log.push(format!(
                "{at} : Method response headers: {}",
                log_map(
                    single
                        .iter()
                        .map(|(k, v)| (k.as_str(), v.as_str().unwrap_or_default()))
                )
            ));
            log.push(format!("{at} : Successfully completed execution"));
        }
    }
    log.push(format!(
        "{at} : Method completed with status: {}",
        parts.status.as_u16()
    ));
    Ok(json!({
        "status": parts.status.as_u16(),
        "body": String::from_utf8_lossy(&body),
        "headers": single,
        "multiValueHeaders": multi,
        "log": log.join("\n") + "\n",
        "latency": latency,
    }))
}

/// Runs authorizer `authorizer_id` of `doc` once for a request made of
/// `input` (GET, in `test-invoke-stage`), uncached, and reports what the
/// client would have got, the principal, the policy and a log.
pub async fn test_invoke_authorizer(
    gateway: &Gateway,
    doc: &RestApiDoc,
    authorizer_id: &str,
    input: TestInvokeInput,
    request_id: String,
) -> Result<Value, TestInvokeError> {
    let definition = doc
        .definition
        .authorizers
        .get(authorizer_id)
        .ok_or(TestInvokeError::UnknownAuthorizer)?;
    let stage = test_stage(doc, &input);
    let uri: http::Uri = input
        .path_with_query_string
        .as_deref()
        .unwrap_or("/")
        .parse()
        .map_err(|_| TestInvokeError::InvalidPath)?;
    let mut request = Request::new(());
    *request.uri_mut() = uri;
    add_headers(request.headers_mut(), &input);
    let (parts, ()) = request.into_parts();
    let peer: SocketAddr = ([127, 0, 0, 1], 0).into();
    let mut cx = RequestContext::new(request_id.clone(), peer, http::Method::GET, "HTTP/1.1");
    cx.account_id = gateway.settings.account_id.clone();
    cx.api_id = doc.api.id.clone();
    cx.stage = stage.stage_name.clone();
    cx.path = crate::path::remove_dot_segments(parts.uri.path()).into_owned();
    cx.domain_name = "testinvoke.execute-api".into();
    cx.ensure_trace_id();
    let at = log_time(cx.request_time_epoch_ms);
    let tested = match CompiledAuthorizer::compile(definition) {
        Ok(authorizer) => {
            let request = lambda_authorizer::Request {
                parts: &parts,
                raw_head: None,
                path_params: &[],
                stage: &stage,
                region: &gateway.settings.iam.region,
            };
            lambda_authorizer::test(&authorizer, request, gateway.functions.as_deref(), &cx).await
        }
        Err(reason) => lambda_authorizer::Tested {
            client_status: 500,
            cause: Some(reason),
            ..Default::default()
        },
    };
    let mut log = vec![
        format!("Execution log for request {request_id}"),
        format!("{at} : Starting authorizer: {authorizer_id} for request: {request_id}"),
        format!(
            "{at} : Incoming identity: {}",
            identity_summary(definition, &parts)
        ),
        format!(
            "{at} : Endpoint request body after transformations: methodArn {}",
            tested.method_arn
        ),
    ];
    if let Some(principal) = &tested.principal_id {
        log.push(format!("{at} : Authorizer result: principalId {principal}"));
    }
    if let Some(policy) = &tested.policy {
        log.push(format!("{at} : Policy: {policy}"));
    }
    if let Some(cause) = &tested.cause {
        log.push(format!("{at} : {cause}"));
    }
    log.push(format!(
        "{at} : Authorizer completed with client status: {}",
        tested.client_status
    ));
    let mut out = json!({
        "clientStatus": tested.client_status,
        "log": log.join("\n") + "\n",
        "latency": tested.latency.as_millis() as u64,
    });
    if let Some(principal) = tested.principal_id {
        out["principalId"] = Value::String(principal);
    }
    if let Some(policy) = tested.policy {
        out["policy"] = Value::String(policy);
    }
    if !tested.context.is_empty() {
        // AWS's `authorization` member: the context, each value as a list.
        let authorization: serde_json::Map<String, Value> = tested
            .context
            .iter()
            .map(|(k, v)| {
                let text = v
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| v.to_string());
                (k.clone(), json!([text]))
            })
            .collect();
        out["authorization"] = Value::Object(authorization);
    }
    Ok(out)
}

/// The identity sources' names, for the log (never their values: a token
/// is a secret).
fn identity_summary(
    definition: &tollgate_model::authorizer::Authorizer,
    parts: &http::request::Parts,
) -> String {
    let sources = definition.identity_source.as_deref().unwrap_or_default();
    let present = sources
        .split(',')
        .map(str::trim)
        .filter(|s| {
            s.strip_prefix("method.request.header.")
                .is_some_and(|h| parts.headers.contains_key(h))
        })
        .count();
    format!("{sources} ({present} header source(s) present)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_names_as_aws_reports_them() {
        assert_eq!(display_name("content-type"), "Content-Type");
        assert_eq!(display_name("x-amzn-errortype"), "x-amzn-ErrorType");
        assert_eq!(display_name("x-amzn-trace-id"), "X-Amzn-Trace-Id");
    }

    #[test]
    fn maps_logged_as_java_prints_them() {
        assert_eq!(log_map(std::iter::empty()), "{}");
        assert_eq!(log_map([("a", "1"), ("b", "2")].into_iter()), "{a=1, b=2}");
    }
}

//! Lambda integrations: AWS_PROXY (the payload 1.0 proxy event in, the
//! proxy response out, `spec/aws-apigw.md` §4) and AWS (non-proxy: a
//! request template's output in, integration responses selected on the
//! error's `errorMessage`, §6.4).
//!
//! The functions run in Tollgate's Lambda host (or wherever a
//! [`FunctionInvoker`] sends them); the integration URI names one as AWS
//! writes it: `arn:aws:apigateway:{region}:lambda:path/2015-03-31/functions/{function ARN}/invocations`,
//! stage variables allowed in the function's part.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

use base64::Engine;
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use serde_json::{json, Map, Value};
use tollgate_http1::request::RawHead;

use super::templates::{params_of, render, select_request, RequestMapping};
use super::{Invocation, Prepared};
use crate::compile::{CompiledStage, IntegrationKind};
use crate::context::RequestContext;
use crate::error::{ErrorKind, GatewayError};
use crate::router::PathParam;

/// What a function answered.
#[derive(Debug, Clone, PartialEq)]
pub enum FunctionResult {
    /// The handler's return value (JSON text).
    Success(Bytes),
    /// A function error: its document (`errorMessage`, `errorType`, …).
    Error(Bytes),
}

/// Why a function could not be invoked.
#[derive(Debug, Clone, PartialEq)]
pub enum InvokeFailure {
    NotFound,
    /// Reserved or host-wide concurrency in use.
    Throttled,
    /// The invocation did not finish by the deadline.
    TimedOut,
    Failed(String),
}

/// Runs Lambda functions for Lambda integrations (Tollgate's Lambda host).
pub trait FunctionInvoker: Send + Sync {
    fn invoke<'a>(
        &'a self,
        function: &'a str,
        payload: Bytes,
        deadline: Instant,
        trace_id: &'a str,
    ) -> Pin<Box<dyn Future<Output = Result<FunctionResult, InvokeFailure>> + Send + 'a>>;
}

/// The function part of a Lambda invocation URI (stage variables unresolved).
pub fn function_of_uri(uri: &str) -> Option<&str> {
    let rest = uri.strip_prefix("arn:aws:apigateway:")?;
    let (_region, rest) = rest.split_once(':')?;
    let rest = rest.strip_prefix("lambda:path/")?;
    let (_version, rest) = rest.split_once('/')?;
    rest.strip_prefix("functions/")?
        .strip_suffix("/invocations")
        .filter(|f| !f.is_empty())
}

/// The function's name: its ARN's last part (the region and account in it
/// are this gateway's own, whatever they say: the seed writes `REGION`).
fn function_name(arn: &str) -> &str {
    let name = arn.split_once(":function:").map_or(arn, |(_, name)| name);
    name.strip_suffix(":$LATEST").unwrap_or(name)
}

/// The integration request phase of AWS and AWS_PROXY.
pub fn prepare(inv: &Invocation<'_>) -> Result<Prepared, GatewayError> {
    let function = inv.integration.function.as_deref().ok_or_else(|| {
        ErrorKind::ApiConfiguration.because("the integration URI names no Lambda function")
    })?;
    let function = resolve_function(function, &inv.stage.variables);
    let payload = match inv.integration.kind {
        IntegrationKind::AwsProxy => Bytes::from(proxy_event(inv).to_string()),
        _ => match select_request(
            &inv.integration.request_templates,
            inv.integration.passthrough,
            &inv.request.headers,
        )? {
            RequestMapping::Passthrough => inv.request.body.clone(),
            RequestMapping::Template(None) => Bytes::from_static(b"{}"),
            RequestMapping::Template(Some(template)) => {
                let rendered = render(
                    &template,
                    &inv.request.body,
                    &params_of(inv.request),
                    inv.stage,
                    inv.context,
                )?;
                Bytes::from(rendered.output)
            }
        },
    };
    Ok(Prepared::Lambda { function, payload })
}

/// The function an ARN from a URI names, its stage variables resolved.
pub fn resolve_function(arn: &str, variables: &BTreeMap<String, String>) -> String {
    function_name(&substitute_stage_variables(arn, variables)).to_string()
}

fn substitute_stage_variables(text: &str, variables: &BTreeMap<String, String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${stageVariables.") {
        out.push_str(&rest[..start]);
        let after = &rest[start + "${stageVariables.".len()..];
        match after.find('}') {
            Some(end) => {
                out.push_str(variables.get(&after[..end]).map_or("", String::as_str));
                rest = &after[end + 1..];
            }
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// Headers API Gateway adds to what the function sees (as AWS names them).
fn added_headers(headers: &HeaderMap, cx: &RequestContext) -> Vec<(String, String)> {
    let forwarded_for = match headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()) {
        Some(existing) => format!("{existing}, {}", cx.forwarded_for_hop()),
        None => cx.forwarded_for_hop().into_owned(),
    };
    let mut added = Vec::with_capacity(4);
    if !cx.trace_id.is_empty() {
        added.push(("X-Amzn-Trace-Id".into(), cx.downstream_trace().to_string()));
    }
    added.extend([
        ("X-Forwarded-For".into(), forwarded_for),
        ("X-Forwarded-Port".into(), cx.local_port.to_string()),
        ("X-Forwarded-Proto".into(), "http".into()),
    ]);
    added
}

/// The request's headers with their names as the client sent them, and
/// the ones API Gateway adds (replacing the client's of the same name).
fn event_headers(
    headers: &HeaderMap,
    raw_head: Option<&RawHead>,
    cx: &RequestContext,
) -> Vec<(String, String)> {
    let sent_names = raw_head.map(RawHead::names).unwrap_or_default();
    let added = added_headers(headers, cx);
    let mut out = Vec::new();
    let mut seen_index: BTreeMap<String, usize> = BTreeMap::new();
    for (name, value) in headers {
        let lower = name.as_str();
        // AWS passes neither the body's framing (the function gets the body
        // whole) nor what describes the client's connection.
        let dropped = matches!(
            lower,
            "content-length"
                | "transfer-encoding"
                | "connection"
                | "keep-alive"
                | "te"
                | "upgrade"
                | "expect"
        );
        if dropped || added.iter().any(|(n, _)| n.eq_ignore_ascii_case(lower)) {
            continue;
        }
        // The n-th value of a name was sent under the n-th line of that name.
        let nth = seen_index.entry(lower.to_string()).or_default();
        let original = sent_names
            .iter()
            .filter(|n| n.eq_ignore_ascii_case(lower))
            .nth(*nth)
            .cloned()
            .unwrap_or_else(|| lower.to_string());
        *nth += 1;
        out.push((
            original,
            String::from_utf8_lossy(value.as_bytes()).into_owned(),
        ));
    }
    out.extend(added);
    out
}

/// A single-value map (the last value of a repeated name) and a multi-value
/// map, or `null` for both when there are none, as AWS writes them.
fn maps(pairs: &[(String, String)]) -> (Value, Value) {
    if pairs.is_empty() {
        return (Value::Null, Value::Null);
    }
    let mut single = Map::new();
    let mut multi: Map<String, Value> = Map::new();
    for (k, v) in pairs {
        single.insert(k.clone(), Value::String(v.clone()));
        match multi.get_mut(k) {
            Some(Value::Array(list)) => list.push(Value::String(v.clone())),
            _ => {
                multi.insert(k.clone(), json!([v]));
            }
        }
    }
    (Value::Object(single), Value::Object(multi))
}

/// The payload 1.0 event of an AWS_PROXY integration (spec §4.1).
fn proxy_event(inv: &Invocation<'_>) -> Value {
    let mut event = request_fields(
        inv.stage,
        &inv.request.headers,
        inv.request.raw_head.as_ref(),
        &inv.request.query,
        &inv.request.path_params,
        inv.cx,
    );
    let content_type = super::templates::media_type(
        inv.request
            .headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok()),
    );
    let binary = inv.stage.is_binary(&content_type);
    let (body, is_base64) = if inv.request.body.is_empty() {
        (Value::Null, false)
    } else if binary {
        (
            Value::String(base64::engine::general_purpose::STANDARD.encode(&inv.request.body)),
            true,
        )
    } else {
        (
            Value::String(String::from_utf8_lossy(&inv.request.body).into_owned()),
            false,
        )
    };
    event.insert("body".into(), body);
    event.insert("isBase64Encoded".into(), Value::Bool(is_base64));
    Value::Object(event)
}

/// What a proxy event and a REQUEST authorizer's event share: the request
/// without its body, and `requestContext`.
pub fn request_fields(
    stage: &CompiledStage,
    headers: &HeaderMap,
    raw_head: Option<&RawHead>,
    query: &[(String, String)],
    path_params: &[PathParam],
    cx: &RequestContext,
) -> Map<String, Value> {
    let (headers, multi_headers) = maps(&event_headers(headers, raw_head, cx));
    let (query, multi_query) = maps(query);
    let path_parameters = if path_params.is_empty() {
        Value::Null
    } else {
        Value::Object(
            path_params
                .iter()
                .map(|p| (p.name.clone(), Value::String(p.value.clone())))
                .collect(),
        )
    };
    let stage_variables = if stage.variables.is_empty() {
        Value::Null
    } else {
        json!(stage.variables)
    };
    let context = cx.to_json();
    let mut identity = context["identity"].clone();
    if let Some(obj) = identity.as_object_mut() {
        if cx.api_key.is_none() {
            obj.remove("apiKey");
            obj.remove("apiKeyId");
        }
    }
    let domain_prefix = cx.domain_name.split('.').next().unwrap_or_default();
    let mut request_context = json!({
        "resourceId": &*cx.resource_id,
        "resourcePath": &*cx.resource_path,
        "httpMethod": cx.http_method.as_str(),
        "extendedRequestId": cx.extended_request_id,
        "requestTime": context["requestTime"],
        "path": context["path"],
        "accountId": &*cx.account_id,
        "protocol": cx.protocol,
        "stage": cx.stage,
        "domainPrefix": domain_prefix,
        "requestTimeEpoch": context["requestTimeEpoch"],
        "requestId": cx.request_id,
        "identity": identity,
        "domainName": cx.domain_name,
        "deploymentId": &*cx.deployment_id,
        "apiId": cx.api_id,
    });
    if let Some(authorizer) = &cx.authorizer {
        // The context's values keep their JSON types here (spec §4.1).
        let mut fields = authorizer.context.clone();
        fields.insert("principalId".into(), json!(authorizer.principal_id));
        fields.insert(
            "integrationLatency".into(),
            json!(authorizer.latency.map_or(0, |l| l.as_millis() as u64)),
        );
        request_context["authorizer"] = Value::Object(fields);
    }
    let mut event = Map::new();
    event.insert("resource".into(), json!(&*cx.resource_path));
    event.insert("path".into(), json!(cx.path));
    event.insert("httpMethod".into(), json!(cx.http_method.as_str()));
    event.insert("headers".into(), headers);
    event.insert("multiValueHeaders".into(), multi_headers);
    event.insert("queryStringParameters".into(), query);
    event.insert("multiValueQueryStringParameters".into(), multi_query);
    event.insert("pathParameters".into(), path_parameters);
    event.insert("stageVariables".into(), stage_variables);
    event.insert("requestContext".into(), request_context);
    event
}

/// The integration phase: invokes the function by the integration's deadline.
pub async fn send(
    invoker: Option<&dyn FunctionInvoker>,
    function: &str,
    payload: Bytes,
    timeout: Duration,
    trace_id: &str,
) -> Result<FunctionResult, GatewayError> {
    let invoker = invoker
        .ok_or_else(|| ErrorKind::IntegrationFailure.because("this gateway has no Lambda host"))?;
    let deadline = Instant::now() + timeout;
    match invoker.invoke(function, payload, deadline, trace_id).await {
        Ok(result) => Ok(result),
        Err(InvokeFailure::TimedOut) => Err(ErrorKind::IntegrationTimeout.because(format_args!(
            "Lambda {function} did not answer within {timeout:?}"
        ))),
        Err(InvokeFailure::NotFound) => Err(ErrorKind::IntegrationFailure
            .because(format_args!("Lambda function {function} does not exist"))),
        // AWS answers a throttled function with 500 (INTEGRATION_FAILURE).
        Err(InvokeFailure::Throttled) => Err(ErrorKind::IntegrationFailure
            .because(format_args!("Lambda function {function} is throttled"))),
        Err(InvokeFailure::Failed(reason)) => Err(ErrorKind::IntegrationFailure
            .because(format_args!("Lambda function {function}: {reason}"))),
    }
}

/// Why a Lambda proxy response is refused (502), for the log.
fn malformed(why: impl std::fmt::Display) -> GatewayError {
    ErrorKind::BadLambdaResponse.because(format_args!("Malformed Lambda proxy response: {why}"))
}

/// A proxy response's status, headers and body (spec §4.2), or why it is
/// malformed.
pub fn proxy_response(
    answer: &[u8],
    binary_allowed: impl Fn(&str) -> bool,
) -> Result<(StatusCode, HeaderMap, Bytes), GatewayError> {
    let value: Value =
        serde_json::from_slice(answer).map_err(|_| malformed("not a JSON object"))?;
    let Value::Object(object) = value else {
        return Err(malformed("not a JSON object"));
    };
    if object.is_empty() {
        return Err(malformed("an empty object"));
    }
    for key in object.keys() {
        if !matches!(
            key.as_str(),
            "statusCode" | "headers" | "multiValueHeaders" | "body" | "isBase64Encoded"
        ) {
            return Err(malformed(format_args!("unknown member {key:?}")));
        }
    }
    let status = match object.get("statusCode") {
        None | Some(Value::Null) => 200,
        Some(Value::Number(n)) => n
            .as_u64()
            .and_then(|n| u16::try_from(n).ok())
            .ok_or_else(|| malformed("statusCode out of range"))?,
        Some(Value::String(s)) => s
            .trim()
            .parse::<u16>()
            .map_err(|_| malformed("statusCode is not a number"))?,
        Some(_) => return Err(malformed("statusCode is not a number")),
    };
    let status = StatusCode::from_u16(status).map_err(|_| malformed("statusCode out of range"))?;
    let mut headers = HeaderMap::new();
    let scalar = |v: &Value| -> Option<String> {
        match v {
            Value::String(s) => Some(s.clone()),
            Value::Bool(b) => Some(b.to_string()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    };
    match object.get("headers") {
        None | Some(Value::Null) => {}
        Some(Value::Object(map)) => {
            for (name, value) in map {
                let value =
                    scalar(value).ok_or_else(|| malformed("a header value is not a string"))?;
                append(&mut headers, name, &value);
            }
        }
        Some(_) => return Err(malformed("headers is not an object")),
    }
    match object.get("multiValueHeaders") {
        None | Some(Value::Null) => {}
        Some(Value::Object(map)) => {
            for (name, values) in map {
                let Value::Array(values) = values else {
                    return Err(malformed("a multiValueHeaders value is not a list"));
                };
                for value in values {
                    let value =
                        scalar(value).ok_or_else(|| malformed("a header value is not a string"))?;
                    append(&mut headers, name, &value);
                }
            }
        }
        Some(_) => return Err(malformed("multiValueHeaders is not an object")),
    }
    let base64 = match object.get("isBase64Encoded") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(malformed("isBase64Encoded is not a boolean")),
    };
    let body = match object.get("body") {
        None | Some(Value::Null) => Bytes::new(),
        Some(Value::String(s)) => {
            let content_type = headers
                .get(http::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string();
            if base64 && binary_allowed(&content_type) {
                base64::engine::general_purpose::STANDARD
                    .decode(s.trim())
                    .map(Bytes::from)
                    .map_err(|_| malformed("isBase64Encoded but the body is not base64"))?
            } else {
                Bytes::from(s.clone())
            }
        }
        Some(_) => return Err(malformed("body is not a string")),
    };
    if !headers.contains_key(http::header::CONTENT_TYPE) {
        headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
    }
    Ok((status, headers, body))
}

fn append(headers: &mut HeaderMap, name: &str, value: &str) {
    if let (Ok(n), Ok(v)) = (HeaderName::try_from(name), HeaderValue::from_str(value)) {
        headers.append(n, v);
    }
}

/// The `errorMessage` of a function error (what AWS integrations' selection
/// patterns match).
pub fn error_message(error: &[u8]) -> String {
    serde_json::from_slice::<Value>(error)
        .ok()
        .and_then(|v| {
            v.get("errorMessage")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_function_arns_from_uris() {
        let uri = "arn:aws:apigateway:REGION:lambda:path/2015-03-31/functions/arn:aws:lambda:REGION:ACCOUNT:function:multitalk-api-proxy/invocations";
        let f = function_of_uri(uri).unwrap_or_default();
        assert_eq!(function_name(f), "multitalk-api-proxy");
        let staged = "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:000000000000:function:${stageVariables.fn}/invocations";
        let f = function_of_uri(staged).unwrap_or_default();
        let vars = BTreeMap::from([("fn".to_string(), "proxy-v2".to_string())]);
        assert_eq!(
            function_name(&substitute_stage_variables(f, &vars)),
            "proxy-v2"
        );
    }

    #[test]
    fn proxy_responses_as_aws_reads_them() {
        let any = |_: &str| false;
        let (status, headers, body) = proxy_response(
            br#"{"statusCode": "201", "headers": {"X-A": "1", "X-B": true}, "multiValueHeaders": {"X-A": ["2"]}, "body": "hi"}"#,
            any,
        )
        .expect("valid");
        assert_eq!(status, 201);
        let a: Vec<_> = headers.get_all("x-a").iter().collect();
        assert_eq!(a.len(), 2);
        assert_eq!(headers["x-b"], "true");
        assert_eq!(&body[..], b"hi");
        let (status, _, body) = proxy_response(br#"{"body": null}"#, any).expect("valid");
        assert_eq!((status.as_u16(), body.len()), (200, 0));
        for bad in [
            &b"not json"[..],
            b"\"a string\"",
            b"{}",
            br#"{"statusCode": 200, "cookies": []}"#,
            br#"{"statusCode": "abc"}"#,
            br#"{"multiValueHeaders": {"a": "b"}}"#,
            br#"{"body": {"a": 1}}"#,
        ] {
            assert_eq!(
                proxy_response(bad, any).map_err(|e| e.kind).err(),
                Some(ErrorKind::BadLambdaResponse),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        let (_, _, body) = proxy_response(
            br#"{"body": "aGk=", "isBase64Encoded": true, "headers": {"content-type": "image/png"}}"#,
            |ct| ct == "image/png",
        )
        .expect("valid");
        assert_eq!(&body[..], b"hi");
        let (_, _, body) =
            proxy_response(br#"{"body": "aGk=", "isBase64Encoded": true}"#, any).expect("valid");
        assert_eq!(&body[..], b"aGk=", "not binary: the text as it is");
    }
}

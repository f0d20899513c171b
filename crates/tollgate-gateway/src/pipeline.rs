//! The request pipeline of DESIGN.md as one readable sequence. Each phase is a
//! step below, in the order API Gateway runs them (`spec/aws-apigw.md` §2.5):
//!
//! 1. resolve the API and stage ([`crate::invoke`], the deployed table)
//! 2. route to resource and method ([`crate::router`])
//! 3. read the body within the payload limit (a quota cost may read it)
//! 4. usage plan: API key, throttle, quota ([`crate::admission`])
//! 5. authorizer — not built yet (the Lambda authorizer issue)
//! 6. integration request and integration ([`crate::integration`])
//! 7. integration response and method response
//! 8. response headers; access log, metrics, trace — not built yet (observability)
//!
//! Every failure leaves as a gateway response ([`crate::response::gateway_response`]).

use std::net::SocketAddr;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Limited};
use tollgate_http1::RequestBody;

use crate::admission::admit;
use crate::compile::{CompiledMethod, CompiledStage, IntegrationKind};
use crate::context::RequestContext;
use crate::error::GatewayError;
use crate::integration::{self, Invocation, MethodRequest};
use crate::invoke::InvokeTarget;
use crate::response::{add_standard_headers, gateway_response, Body};
use crate::Gateway;

/// API Gateway's payload limit.
pub const MAX_PAYLOAD: usize = 10 * 1024 * 1024;

/// API Gateway's limit on the request line plus all headers (spec §9).
pub const MAX_REQUEST_HEAD: usize = 10_240;

/// The size of the request line and headers as they were sent over HTTP/1.1.
fn head_size<B>(request: &Request<B>) -> usize {
    let line = request.method().as_str().len()
        + request
            .uri()
            .path_and_query()
            .map(|p| p.as_str().len())
            .unwrap_or(1)
        + "  HTTP/1.1\r\n".len();
    line + request
        .headers()
        .iter()
        .map(|(k, v)| k.as_str().len() + 2 + v.len() + 2)
        .sum::<usize>()
}

/// Serves one data-plane request.
pub async fn run(
    gateway: &Gateway,
    target: InvokeTarget,
    request: Request<RequestBody>,
    peer: SocketAddr,
    request_id: String,
) -> Response<Body> {
    let protocol = match request.version() {
        http::Version::HTTP_2 => "HTTP/2.0",
        http::Version::HTTP_10 => "HTTP/1.0",
        _ => "HTTP/1.1",
    };
    let mut cx = RequestContext::new(request_id, peer, request.method().as_str(), protocol);
    cx.account_id = gateway.account_id.clone();
    cx.domain_name = target.domain_name;
    cx.api_id = target.api_id;
    cx.stage = target.stage;
    cx.path = target.path;
    cx.user_agent = request.headers().get(http::header::USER_AGENT).cloned();
    if let Some(trace) = request
        .headers()
        .get(crate::response::TRACE_ID)
        .and_then(|v| v.to_str().ok())
    {
        if trace.starts_with("Root=") {
            cx.trace_id = trace.to_string();
        }
    }

    if head_size(&request) > MAX_REQUEST_HEAD {
        let mut response = Response::new(crate::response::full(
            r#"{"message":"Request Header Fields Too Large"}"#,
        ));
        *response.status_mut() = http::StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE;
        response.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/json"),
        );
        add_standard_headers(response.headers_mut(), &cx);
        return response;
    }

    // 1. resolve: one atomic load; the request keeps this stage to the end, so a
    // redeploy mid-request never mixes versions.
    let Some(stage) = gateway.stage(&cx.api_id, &cx.stage) else {
        return gateway_response(None, &GatewayError::UnknownStage, &cx, request.headers());
    };
    cx.deployment_id = stage.deployment_id.clone();

    // 2. route. Only API Gateway's methods reach a method definition: ANY
    // covers these seven, and any other token (TRACE, CONNECT, `get`) is
    // answered as a method that is not defined, never forwarded.
    if !is_api_gateway_method(request.method()) {
        return gateway_response(
            Some(&stage),
            &GatewayError::MissingAuthenticationToken,
            &cx,
            request.headers(),
        );
    }
    let matched = stage.router.find(&cx.path);
    let Some((method, path_params)) = matched.and_then(|m| {
        m.method(request.method().as_str())
            .cloned()
            .map(|method| (method, m.params))
    }) else {
        return gateway_response(
            Some(&stage),
            &GatewayError::MissingAuthenticationToken,
            &cx,
            request.headers(),
        );
    };
    cx.resource_id = method.resource_id.clone();
    cx.resource_path = method.resource_path.clone();

    // 3. body
    let (parts, body) = request.into_parts();
    let body = match read_body(body, &parts.headers).await {
        Ok(b) => b,
        Err(e) => return gateway_response(Some(&stage), &e, &cx, &parts.headers),
    };
    let method_request = MethodRequest {
        method: parts.method,
        raw_query: parts.uri.query().map(str::to_string),
        query: parts
            .uri
            .query()
            .map(integration::parse_query)
            .unwrap_or_default(),
        headers: parts.headers,
        path_params,
        body,
    };

    // 4. key, throttle, quota
    let admission = match admit(gateway, &stage, &method, &method_request, &mut cx) {
        Ok(a) => a,
        Err(e) => return gateway_response(Some(&stage), &e, &cx, &method_request.headers),
    };

    // 6–7. integration
    cx.ensure_trace_id();
    match integrate(gateway, &stage, &method, &method_request, &cx).await {
        Ok(mut response) => {
            add_standard_headers(response.headers_mut(), &cx);
            drop(admission);
            response
        }
        Err(e) => {
            if e == GatewayError::UnsupportedMediaType {
                // Refused by request mapping, before the integration: not counted.
                admission.refund();
            }
            gateway_response(Some(&stage), &e, &cx, &method_request.headers)
        }
    }
}

/// DELETE, GET, HEAD, OPTIONS, PATCH, POST and PUT: the methods API Gateway serves.
fn is_api_gateway_method(method: &http::Method) -> bool {
    matches!(
        *method,
        http::Method::DELETE
            | http::Method::GET
            | http::Method::HEAD
            | http::Method::OPTIONS
            | http::Method::PATCH
            | http::Method::POST
            | http::Method::PUT
    )
}

/// Reads the body whole, within the payload limit (413 beyond it).
async fn read_body(body: RequestBody, headers: &http::HeaderMap) -> Result<Bytes, GatewayError> {
    let declared = headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|len| len > MAX_PAYLOAD) {
        return Err(GatewayError::RequestTooLarge);
    }
    let unbuffered = match body.into_buffered() {
        Ok(bytes) if bytes.len() <= MAX_PAYLOAD => return Ok(bytes),
        Ok(_) => return Err(GatewayError::RequestTooLarge),
        Err(unbuffered) => unbuffered,
    };
    // Failing to read is a body over a limit (the front end's or this one),
    // or an HTTP/2 stream the client reset, whose answer nobody reads.
    Limited::new(unbuffered, MAX_PAYLOAD)
        .collect()
        .await
        .map(|c| c.to_bytes())
        .map_err(|_| GatewayError::RequestTooLarge)
}

/// Steps 6–7: runs the method's integration (also used by TestInvokeMethod).
pub async fn integrate(
    gateway: &Gateway,
    stage: &CompiledStage,
    method: &CompiledMethod,
    request: &MethodRequest,
    cx: &RequestContext,
) -> Result<Response<Body>, GatewayError> {
    let integration = method.integration.as_ref().map_err(|reason| {
        tracing::warn!(api = %stage.api_id, resource = %method.resource_path, %reason, "method cannot be served");
        GatewayError::ApiConfiguration
    })?;
    let context = if integration.needs_context {
        cx.to_json()
    } else {
        serde_json::Value::Null
    };
    let inv = Invocation {
        stage,
        method,
        integration,
        request,
        cx,
        context: &context,
    };
    match integration.kind {
        IntegrationKind::HttpProxy => integration::http_proxy::invoke(&inv, &gateway.client).await,
        IntegrationKind::Http => integration::http::invoke(&inv, &gateway.client).await,
        IntegrationKind::Mock => integration::mock::invoke(&inv),
        // Lambda integrations need the Lambda host, which Tollgate does not have yet.
        IntegrationKind::Aws | IntegrationKind::AwsProxy => {
            tracing::warn!(api = %stage.api_id, resource = %method.resource_path, "Lambda integrations are not available yet");
            Err(GatewayError::ApiConfiguration)
        }
    }
}

//! The integration-response and method-response phases: what the client
//! gets from the integration's answer, once, for every integration type.
//! Proxy integrations pass the answer through (streamed); the others select
//! an integration response, map its parameters, render its template and
//! check the method response (`spec/aws-apigw.md` §6.4).

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Response, StatusCode};
use http_body_util::BodyExt;

use crate::compile::{CompiledResponse, IntegrationKind};
use crate::error::{ErrorKind, GatewayError};
use crate::integration::templates::{params_of, render, select_response};
use crate::integration::{http_proxy, lambda, IntegrationResponse, Invocation};
use crate::mapping::{set_header, Inputs, Target};
use crate::response::{full, Body};

/// Largest integration response a mapping reads (API Gateway's payload limit).
const MAX_RESPONSE: usize = 10 * 1024 * 1024;

/// The method response of an AWS_PROXY integration: the function's proxy
/// response, or 502 for a function error or a malformed answer.
async fn lambda_proxy_response(
    inv: &Invocation<'_>,
    raw: IntegrationResponse,
) -> Result<Response<Body>, GatewayError> {
    let body = raw
        .body
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    if raw.function_error {
        let message = lambda::error_message(&body);
        tracing::warn!(api = %inv.stage.api_id, resource = %inv.method.resource_path, error = %message, "Lambda function error in a proxy integration");
        return Err(
            ErrorKind::BadLambdaResponse.because(format_args!("Lambda function error: {message}"))
        );
    }
    let accept = crate::integration::templates::media_type(
        inv.request
            .headers
            .get(http::header::ACCEPT)
            .and_then(|v| v.to_str().ok()),
    );
    let (status, headers, body) = lambda::proxy_response(&body, |content_type| {
        let content_type = crate::integration::templates::media_type(Some(content_type));
        inv.stage.is_binary(&content_type) || inv.stage.is_binary(&accept)
    })
    .inspect_err(|e| {
        tracing::warn!(api = %inv.stage.api_id, resource = %inv.method.resource_path, cause = ?e.cause, "Lambda proxy response refused");
    })?;
    let mut response = Response::new(full(body));
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    Ok(response)
}

/// The method response made of the integration's answer.
pub async fn respond(
    inv: &Invocation<'_>,
    raw: IntegrationResponse,
) -> Result<Response<Body>, GatewayError> {
    match inv.integration.kind {
        IntegrationKind::HttpProxy => Ok(http_proxy::method_response(raw)),
        IntegrationKind::AwsProxy => lambda_proxy_response(inv, raw).await,
        IntegrationKind::Http | IntegrationKind::Mock | IntegrationKind::Aws => {
            let IntegrationResponse {
                headers,
                body,
                selector,
                ..
            } = raw;
            let body = http_body_util::Limited::new(body, MAX_RESPONSE)
                .collect()
                .await
                .map(|c| c.to_bytes())
                .map_err(|e| {
                    ErrorKind::IntegrationFailure
                        .because(format_args!("reading the integration response: {e}"))
                })?;
            let content_type = headers.get(http::header::CONTENT_TYPE).cloned();
            method_response(inv, &selector, &headers, &body, content_type.as_ref())
        }
    }
}

/// The integration response whose pattern matches `selector` (a status code,
/// or MOCK's statusCode), else the default one.
pub fn select<'r>(
    responses: &'r [CompiledResponse],
    selector: &str,
) -> Option<&'r CompiledResponse> {
    responses
        .iter()
        .find(|r| r.pattern.as_ref().is_some_and(|p| p.is_match(selector)))
        .or_else(|| responses.iter().find(|r| r.pattern.is_none()))
}

/// Builds the method response from the integration's answer.
fn method_response(
    inv: &Invocation<'_>,
    selector: &str,
    upstream_headers: &HeaderMap,
    upstream_body: &Bytes,
    upstream_content_type: Option<&HeaderValue>,
) -> Result<Response<Body>, GatewayError> {
    let selected = select(&inv.integration.responses, selector).ok_or_else(|| {
        ErrorKind::ApiConfiguration
            .because(format_args!("no integration response matches {selector:?}"))
    })?;
    let declared = inv
        .method
        .method_responses
        .contains_key(&selected.status_code);
    if !declared {
        // AWS: no method response for the selected status is a configuration error.
        return Err(ErrorKind::ApiConfiguration.because(format_args!(
            "no method response for status {}",
            selected.status_code
        )));
    }
    let mut status: u16 = selected.status_code.parse().map_err(|_| {
        ErrorKind::ApiConfiguration.because(format_args!(
            "integration response status {:?}",
            selected.status_code
        ))
    })?;
    let mut headers = HeaderMap::new();
    let inputs = Inputs {
        path_params: &inv.request.path_params,
        integration_headers: Some(upstream_headers),
        integration_body: upstream_body,
        ..inv.inputs()
    };
    for m in &selected.response_parameters {
        if let (Target::ResponseHeader(name), Some(value)) = (&m.target, m.source.resolve(&inputs))
        {
            set_header(&mut headers, name, &value);
        }
    }
    let body = match select_response(&selected.response_templates, &inv.request.headers) {
        Some((content_type, Some(template))) => {
            let rendered = render(
                template,
                upstream_body,
                &params_of(inv.request),
                inv.stage,
                inv.context,
            )?;
            if let Some(s) = rendered.overrides.response.status {
                status = s;
            }
            for (name, value) in &rendered.overrides.response.header {
                set_header(&mut headers, name, value);
            }
            set_header(&mut headers, "content-type", content_type);
            Bytes::from(rendered.output)
        }
        Some((content_type, None)) => {
            set_header(&mut headers, "content-type", content_type);
            Bytes::new()
        }
        None => {
            let ct = upstream_content_type
                .cloned()
                .unwrap_or_else(|| HeaderValue::from_static("application/json"));
            headers.insert(http::header::CONTENT_TYPE, ct);
            upstream_body.clone()
        }
    };
    let body = convert(
        body,
        selected.content_handling,
        binary_response(inv, &headers),
    )?;
    let mut response = Response::new(full(body));
    *response.status_mut() = StatusCode::from_u16(status).map_err(|_| {
        ErrorKind::ApiConfiguration.because(format_args!("response status {status}"))
    })?;
    *response.headers_mut() = headers;
    Ok(response)
}

/// Whether the method response is binary: its content type, or the client's
/// first Accept type, is one of the API's binaryMediaTypes.
fn binary_response(inv: &Invocation<'_>, headers: &HeaderMap) -> bool {
    let content_type = crate::integration::templates::media_type(
        headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok()),
    );
    let accept = crate::integration::templates::media_type(
        inv.request
            .headers
            .get(http::header::ACCEPT)
            .and_then(|v| v.to_str().ok()),
    );
    inv.stage.is_binary(&content_type) || inv.stage.is_binary(&accept)
}

/// Applies `contentHandling`: CONVERT_TO_BINARY decodes base64 text,
/// CONVERT_TO_TEXT encodes a binary payload as base64. Without it a payload
/// passes as it is.
pub fn convert(
    body: Bytes,
    handling: Option<crate::compile::ContentHandling>,
    is_binary: bool,
) -> Result<Bytes, GatewayError> {
    use crate::compile::ContentHandling;
    use base64::Engine;
    let engine = base64::engine::general_purpose::STANDARD;
    match handling {
        Some(ContentHandling::ConvertToBinary) => {
            let not_base64 =
                || ErrorKind::ApiConfiguration.because("CONVERT_TO_BINARY: payload is not base64");
            let text = std::str::from_utf8(&body).map_err(|_| not_base64())?;
            engine
                .decode(text.trim())
                .map(Bytes::from)
                .map_err(|_| not_base64())
        }
        Some(ContentHandling::ConvertToText) if is_binary => Ok(Bytes::from(engine.encode(&body))),
        _ => Ok(body),
    }
}

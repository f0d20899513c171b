//! Building responses: gateway responses for errors (defaults and those set
//! with PutGatewayResponse) and the headers every response carries.

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use serde_json::Value;
use tollgate_model::gateway_response::GatewayResponse;

use crate::compile::CompiledStage;
use crate::context::RequestContext;
use crate::error::ErrorKind;
use crate::mapping::context_value;

/// Response bodies: buffered or streamed from the integration (whose read
/// errors end the client's response early; they are never shown to it).
pub type Body = BoxBody<Bytes, std::io::Error>;

pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed()
}

// Names of the headers every response carries (and requests are read for),
// parsed at compile time: a `&str` name is parsed and hashed again on each
// insert or lookup.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-amzn-requestid");
pub const APIGW_ID: HeaderName = HeaderName::from_static("x-amz-apigw-id");
pub const TRACE_ID: HeaderName = HeaderName::from_static("x-amzn-trace-id");

/// Adds `x-amzn-RequestId`, `x-amz-apigw-id` and, once the request has
/// reached its integration, `X-Amzn-Trace-Id` (spec §2.2).
pub fn add_standard_headers(headers: &mut HeaderMap, cx: &RequestContext) {
    for (name, value) in [
        (REQUEST_ID, &cx.request_id),
        (APIGW_ID, &cx.extended_request_id),
        (TRACE_ID, &cx.trace_id),
    ] {
        if value.is_empty() {
            continue;
        }
        if let Ok(v) = HeaderValue::from_str(value) {
            headers.insert(name, v);
        }
    }
}

/// The customised response that applies to `err`: its own type, else the
/// DEFAULT_4XX/DEFAULT_5XX of its class (spec §2.3).
fn customised<'s>(stage: &'s CompiledStage, err: &ErrorKind) -> Option<&'s GatewayResponse> {
    err.customisable_types()
        .into_iter()
        .flatten()
        .find_map(|t| stage.gateway_responses.get(t))
}

/// Plain substitution of `$context.*` and `$stageVariables.*` (gateway-response
/// templates are not VTL).
fn substitute(template: &str, context: &Value, stage: &CompiledStage) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        let end = after
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '.' || c == '_'))
            .unwrap_or(after.len());
        let name = after[..end].trim_end_matches('.');
        let value = if let Some(n) = name.strip_prefix("context.") {
            context_value(context, n)
        } else if let Some(n) = name.strip_prefix("stageVariables.") {
            stage.variables.get(n).cloned()
        } else {
            None
        };
        match value {
            Some(v) => {
                out.push_str(&v);
                rest = &after[name.len()..];
            }
            None if name.starts_with("context.") || name.starts_with("stageVariables.") => {
                rest = &after[name.len()..];
            }
            None => {
                out.push('$');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// The response for a failed request.
/// `text` as the inside of a JSON string.
fn json_escaped(text: &str) -> String {
    let quoted = serde_json::Value::String(text.to_string()).to_string();
    quoted[1..quoted.len() - 1].to_string()
}

pub fn gateway_response(
    stage: Option<&CompiledStage>,
    err: &ErrorKind,
    cx: &RequestContext,
    request_headers: &HeaderMap,
) -> Response<Body> {
    let custom = stage.and_then(|s| customised(s, err).map(|c| (s, c)));
    let mut status = err.default_status();
    let mut body = match err.default_body() {
        std::borrow::Cow::Borrowed(text) => Bytes::from_static(text.as_bytes()),
        std::borrow::Cow::Owned(text) => Bytes::from(text),
    };
    let mut extra_headers = Vec::new();
    if let Some((stage, custom)) = custom {
        if let Some(code) = custom
            .status_code
            .as_deref()
            .and_then(|c| c.parse::<u16>().ok())
        {
            status = code;
        }
        let mut context = cx.to_json();
        // JSON-escaped, as AWS renders it (its details quote property names).
        let validation = match err {
            ErrorKind::InvalidRequestBody { details } => json_escaped(details),
            ErrorKind::MissingRequestParameters { .. } => json_escaped(&err.message()),
            _ => String::new(),
        };
        context["error"] = serde_json::json!({
            "message": err.message(),
            "messageString": err.message_string(),
            "responseType": err.response_type(),
            "validationErrorString": validation,
        });
        if let Some(template) = custom
            .response_templates
            .get("application/json")
            .or_else(|| custom.response_templates.values().next())
        {
            body = Bytes::from(substitute(template, &context, stage));
        }
        for (key, source) in &custom.response_parameters {
            let Some(name) = key.strip_prefix("gatewayresponse.header.") else {
                continue;
            };
            let value = if source.len() >= 2 && source.starts_with('\'') && source.ends_with('\'') {
                Some(source[1..source.len() - 1].to_string())
            } else if let Some(h) = source.strip_prefix("method.request.header.") {
                request_headers
                    .get(h)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string)
            } else if let Some(n) = source.strip_prefix("stageVariables.") {
                stage.variables.get(n).cloned()
            } else if let Some(n) = source.strip_prefix("context.") {
                context_value(&context, n)
            } else {
                None
            };
            if let Some(v) = value {
                extra_headers.push((name.to_string(), v));
            }
        }
    }
    let mut response = Response::new(full(body));
    *response.status_mut() =
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    // Room for these, the standard ones and a few overrides: no regrowth.
    *response.headers_mut() = HeaderMap::with_capacity(8 + extra_headers.len());
    let headers = response.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(
        const { HeaderName::from_static("x-amzn-errortype") },
        HeaderValue::from_static(err.error_type()),
    );
    for (name, value) in extra_headers {
        if let (Ok(n), Ok(v)) = (HeaderName::try_from(name), HeaderValue::from_str(&value)) {
            headers.insert(n, v);
        }
    }
    add_standard_headers(headers, cx);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn substitutes_context_and_stage_variables() {
        let stage = crate::compile::CompiledStage {
            api_id: "a".into(),
            api_name: "n".into(),
            stage_name: "prod".into(),
            deployment_id: "d".into(),
            variables: [("env".to_string(), "live".to_string())].into(),
            router: Default::default(),
            gateway_responses: Default::default(),
            binary_media_types: vec![],
            api_key_source: "HEADER".into(),
            tracing_enabled: false,
            authorizers: Default::default(),
            resource_policy: None,
            private: false,
        };
        let context =
            serde_json::json!({"requestId": "r1", "error": {"messageString": "\"Forbidden\""}});
        assert_eq!(
            substitute("{\"m\":$context.error.messageString,\"id\":\"$context.requestId\",\"e\":\"$stageVariables.env\",\"x\":\"$5\"}", &context, &stage),
            "{\"m\":\"Forbidden\",\"id\":\"r1\",\"e\":\"live\",\"x\":\"$5\"}"
        );
    }
}

//! HTTP_PROXY: the request goes to the upstream as the client sent it (plus
//! mapped parameters), and the upstream's response comes back as it is, streamed.

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Response};
use http_body_util::BodyExt;

use super::client::{
    client_response_header, forwardable_request_headers, remove_connection_options, set_header,
    UpstreamClient,
};
use super::h1::UpstreamRequest;
use super::{encode_query, Invocation};
use crate::error::GatewayError;
use crate::response::Body;

pub async fn invoke(
    inv: &Invocation<'_>,
    client: &UpstreamClient,
) -> Result<Response<Body>, GatewayError> {
    let mapped = inv.map_request();
    // The client's query string passes through; mapped query parameters are added.
    let query = match &inv.request.raw_query {
        Some(q) if mapped.query.is_empty() => q.clone(),
        _ => {
            let mut pairs: Vec<(String, String)> = inv
                .request
                .query
                .iter()
                .filter(|(k, _)| !mapped.query.iter().any(|(m, _)| m == k))
                .cloned()
                .collect();
            pairs.extend(mapped.query.iter().cloned());
            encode_query(&pairs)
        }
    };
    let target = inv
        .integration
        .uri
        .fill(&inv.stage.variables, &mapped.path, &query)?;
    let method = inv.upstream_method()?;
    let mut headers = forwardable_request_headers(&inv.request.headers);
    for (name, value) in &mapped.headers {
        set_header(&mut headers, name, value);
    }
    append_forwarded_for(&mut headers, inv.cx.source_ip());
    if let Ok(trace) = HeaderValue::from_str(&inv.cx.trace_id) {
        headers.insert(crate::response::TRACE_ID, trace);
    }
    let request = UpstreamRequest {
        method,
        target,
        headers,
        body: inv.request.body.clone(),
        response_header_rule: Some(client_response_header),
    };
    let response = client.send(request, inv.integration.timeout).await?;
    let (mut parts, body) = response.into_parts();
    if parts.headers.contains_key(http::header::CONNECTION) {
        let named = parts.headers.clone();
        remove_connection_options(&named, &mut parts.headers);
        parts.headers.remove(http::header::CONNECTION);
    }
    let mut out = Response::new(body.boxed());
    *out.status_mut() = parts.status;
    *out.headers_mut() = parts.headers;
    Ok(out)
}

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// API Gateway appends the caller's address to `X-Forwarded-For`.
fn append_forwarded_for(headers: &mut http::HeaderMap, ip: &str) {
    let value = match headers.get(X_FORWARDED_FOR).and_then(|v| v.to_str().ok()) {
        Some(existing) => HeaderValue::from_str(&format!("{existing}, {ip}")),
        None => HeaderValue::from_str(ip),
    };
    if let Ok(v) = value {
        headers.insert(X_FORWARDED_FOR, v);
    }
}

/// Reads an integration response body whole, bounded (non-proxy mapping needs it).
pub async fn read_body<B>(body: B, limit: usize) -> Result<Bytes, GatewayError>
where
    B: http_body::Body<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    http_body_util::Limited::new(body, limit)
        .collect()
        .await
        .map(|c| c.to_bytes())
        .map_err(|_| GatewayError::IntegrationFailure)
}

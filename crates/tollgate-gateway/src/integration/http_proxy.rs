//! HTTP_PROXY: the request goes to the upstream as the client sent it (plus
//! mapped parameters), and the upstream's response comes back as it is,
//! streamed, under API Gateway's header rules, which live here:
//! - hop-by-hop headers, and those a `Connection` header names (RFC 9110
//!   §7.6.1), are dropped both ways;
//! - headers API Gateway sets itself (`x-amzn-*`) are not taken from the
//!   client: the trace id is the gateway's, the rest are removed;
//! - response headers API Gateway reserves reach the client renamed
//!   `x-amzn-Remapped-*` (spec §2.2).

use http::{HeaderMap, HeaderName, HeaderValue, Response};
use http_body_util::BodyExt;

use super::h1::UpstreamRequest;
use super::{encode_query, IntegrationResponse, Invocation};
use crate::error::GatewayError;
use crate::mapping::set_header;
use crate::response::Body;

/// Headers that describe one connection, never forwarded either way.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Headers API Gateway sets on an integration request or a response itself:
/// what a client sends under these names does not pass.
const GATEWAY_SET: &[&str] = &[
    "x-amzn-requestid",
    "x-amz-apigw-id",
    "x-amzn-trace-id",
    "x-amzn-errortype",
    "x-amzn-apigateway-api-id",
    "x-amzn-vpc-id",
    "x-amzn-vpce-id",
    "x-amzn-vpce-config",
    "x-amzn-cipher-suite",
    "x-amzn-tls-version",
];

/// The integration request phase of HTTP_PROXY.
pub fn prepare(inv: &Invocation<'_>) -> Result<UpstreamRequest, GatewayError> {
    let mapped = inv.map_request();
    // The client's query string passes through; mapped query parameters are added.
    let query = match &inv.request.raw_query {
        Some(q) if mapped.query.is_empty() => q.clone(),
        None if mapped.query.is_empty() => String::new(),
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
    let (mut headers, forwarded_for) = forwardable(&inv.request.headers);
    for (name, value) in &mapped.headers {
        set_header(&mut headers, name, value);
    }
    let forwarded_for = forwarded_for || !mapped.headers.is_empty();
    append_forwarded_for(&mut headers, &inv.cx.forwarded_for_hop(), forwarded_for);
    if let Ok(trace) = HeaderValue::from_str(inv.cx.downstream_trace()) {
        headers.insert(crate::response::TRACE_ID, trace);
    }
    Ok(UpstreamRequest {
        method,
        target,
        headers,
        body: inv.request.body.clone(),
        response_header_rule: Some(client_response_header),
    })
}

/// The method response of HTTP_PROXY: the upstream's, as it is, streamed.
pub fn method_response(raw: IntegrationResponse) -> Response<Body> {
    let IntegrationResponse {
        status,
        mut headers,
        body,
        ..
    } = raw;
    if headers.contains_key(http::header::CONNECTION) {
        let named = headers.clone();
        remove_connection_options(&named, &mut headers);
        headers.remove(http::header::CONNECTION);
    }
    let mut out = Response::new(body.boxed());
    *out.status_mut() = status;
    *out.headers_mut() = headers;
    out
}

/// Client headers as the upstream gets them: without hop-by-hop ones, those
/// the client's `Connection` header names, those API Gateway sets itself,
/// Host and Content-Length (the client sets those anew); and whether an
/// `X-Forwarded-For` may be among them. One pass over the headers notes
/// what would otherwise be looked up (hashed) again: whether there is a
/// `Connection` header, and an `X-Forwarded-For`.
fn forwardable(headers: &HeaderMap) -> (HeaderMap, bool) {
    let mut out = HeaderMap::with_capacity(headers.len() + 4);
    let mut connection = false;
    let mut forwarded_for = false;
    for (name, value) in headers {
        let n = name.as_str();
        let dropped = HOP_BY_HOP.contains(&n)
            || n == "host"
            || n == "content-length"
            || (n.starts_with("x-amz") && gateway_set(n));
        if dropped {
            connection |= *name == http::header::CONNECTION;
        } else {
            forwarded_for |= *name == X_FORWARDED_FOR;
            out.append(name.clone(), value.clone());
        }
    }
    if connection {
        remove_connection_options(headers, &mut out);
    }
    (out, forwarded_for)
}

fn gateway_set(name: &str) -> bool {
    GATEWAY_SET.contains(&name) || name.starts_with("x-amzn-remapped-")
}

/// Removes from `out` the headers that `headers`' `Connection` fields name.
fn remove_connection_options(headers: &HeaderMap, out: &mut HeaderMap) {
    for value in headers.get_all(http::header::CONNECTION) {
        for token in value.as_bytes().split(|b| *b == b',') {
            let token = token.trim_ascii();
            if token.is_empty() {
                continue;
            }
            if let Ok(name) = HeaderName::from_bytes(token) {
                out.remove(name);
            }
        }
    }
}

/// The name a reserved integration response header gets instead of passing
/// as it is (AWS renames these, spec §2.2 known issues); None for the rest.
fn remapped(name: &str) -> Option<HeaderName> {
    macro_rules! renamed {
        ($new:literal) => {
            Some(const { HeaderName::from_static($new) })
        };
    }
    match name {
        "authorization" => renamed!("x-amzn-remapped-authorization"),
        "content-md5" => renamed!("x-amzn-remapped-content-md5"),
        "date" => renamed!("x-amzn-remapped-date"),
        "expect" => renamed!("x-amzn-remapped-expect"),
        "host" => renamed!("x-amzn-remapped-host"),
        "max-forwards" => renamed!("x-amzn-remapped-max-forwards"),
        "server" => renamed!("x-amzn-remapped-server"),
        "user-agent" => renamed!("x-amzn-remapped-user-agent"),
        "via" => renamed!("x-amzn-remapped-via"),
        "www-authenticate" => renamed!("x-amzn-remapped-www-authenticate"),
        "x-amzn-requestid" => renamed!("x-amzn-remapped-x-amzn-requestid"),
        "x-amz-apigw-id" => renamed!("x-amzn-remapped-x-amz-apigw-id"),
        _ => None,
    }
}

/// The name an integration response header reaches the client under: none
/// for hop-by-hop headers, `x-amzn-Remapped-*` for those AWS reserves.
///
/// `Connection` itself passes, so that [`method_response`] can remove the
/// headers it names before it drops it.
pub fn client_response_header(name: HeaderName) -> Option<HeaderName> {
    let n = name.as_str();
    if n != "connection" && HOP_BY_HOP.contains(&n) {
        return None;
    }
    Some(remapped(n).unwrap_or(name))
}

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// API Gateway appends the caller's address to `X-Forwarded-For`.
/// `maybe_present`: whether `headers` may have one already (when not, it is
/// not looked up).
fn append_forwarded_for(headers: &mut http::HeaderMap, ip: &str, maybe_present: bool) {
    let existing = if maybe_present {
        headers.get(X_FORWARDED_FOR).and_then(|v| v.to_str().ok())
    } else {
        None
    };
    let value = match existing {
        Some(existing) => HeaderValue::from_str(&format!("{existing}, {ip}")),
        None => HeaderValue::from_str(ip),
    };
    if let Ok(v) = value {
        headers.insert(X_FORWARDED_FOR, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::integration::h1::apply_header_rule;

    #[test]
    fn remaps_and_drops_headers() {
        let mut h = HeaderMap::new();
        h.insert("server", HeaderValue::from_static("uvicorn"));
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        h.insert("content-type", HeaderValue::from_static("application/json"));
        let out = apply_header_rule(h, client_response_header);
        assert_eq!(
            out.get("x-amzn-remapped-server").map(|v| v.as_bytes()),
            Some(&b"uvicorn"[..])
        );
        assert!(out.get("keep-alive").is_none());
        assert!(out.get("server").is_none());
        assert!(out.get("content-type").is_some());

        let mut h = HeaderMap::new();
        h.append("set-cookie", HeaderValue::from_static("a=1"));
        h.append("via", HeaderValue::from_static("1.1 a"));
        h.append("set-cookie", HeaderValue::from_static("b=2"));
        h.append("via", HeaderValue::from_static("1.1 b"));
        h.append("transfer-encoding", HeaderValue::from_static("chunked"));
        let out = apply_header_rule(h, client_response_header);
        let all = |n: &str| -> Vec<&[u8]> { out.get_all(n).iter().map(|v| v.as_bytes()).collect() };
        assert_eq!(all("set-cookie"), [&b"a=1"[..], b"b=2"]);
        assert_eq!(all("x-amzn-remapped-via"), [&b"1.1 a"[..], b"1.1 b"]);
        assert_eq!(out.len(), 4);
    }

    #[test]
    fn request_headers_lose_what_is_not_the_clients_to_send() {
        let mut h = HeaderMap::new();
        h.append(
            "connection",
            HeaderValue::from_static("close, X-Hop-Secret"),
        );
        h.append("x-hop-secret", HeaderValue::from_static("s"));
        h.append("x-amzn-trace-id", HeaderValue::from_static("Root=forged"));
        h.append("x-amzn-requestid", HeaderValue::from_static("forged"));
        h.append("x-amzn-remapped-host", HeaderValue::from_static("forged"));
        h.append("x-amz-date", HeaderValue::from_static("20261207T000000Z"));
        h.append("x-api-key", HeaderValue::from_static("k"));
        let (out, _) = forwardable(&h);
        let mut names: Vec<&str> = out.keys().map(|k| k.as_str()).collect();
        names.sort_unstable();
        assert_eq!(names, ["x-amz-date", "x-api-key"]);
    }
}

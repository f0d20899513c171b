//! Integrations: what a method calls. The pipeline runs them in two phases:
//! the integration request ([`prepare`]: parameter mapping and templates,
//! into a request for the backend) and the integration ([`send`]: the call,
//! with its timeout). What comes back is an [`IntegrationResponse`], which
//! the integration-response phase ([`crate::integration_response`]) turns
//! into the method response.
//!
//! HTTP and HTTP_PROXY go through the pooled upstream client; MOCK answers
//! without a backend; AWS and AWS_PROXY (Lambda) are not built yet.

pub mod client;
pub mod h1;
pub mod h2c;
pub mod http;
pub mod http_proxy;
pub mod lambda;
pub mod mock;
pub mod templates;
pub mod uri;

use std::collections::BTreeMap;
use std::time::Instant;

use ::http::{HeaderMap, StatusCode};
use bytes::Bytes;
use serde_json::Value;

use crate::compile::{CompiledIntegration, CompiledMethod, CompiledStage, IntegrationKind};
use crate::context::RequestContext;
use crate::error::{ErrorKind, GatewayError};
use crate::mapping::{Inputs, Source, Target};
use crate::router::PathParam;
use client::{UpstreamClient, UpstreamError};
use h1::{UpstreamBody, UpstreamRequest};

/// The method request after routing, with its body read.
#[derive(Debug)]
pub struct MethodRequest {
    pub method: ::http::Method,
    pub headers: HeaderMap,
    /// The query string as the client sent it.
    pub raw_query: Option<String>,
    /// Decoded query pairs in order (keys may repeat).
    pub query: Vec<(String, String)>,
    pub path_params: Vec<PathParam>,
    pub body: Bytes,
    /// The head as an HTTP/1 client sent it (header names' case).
    pub raw_head: Option<tollgate_http1::request::RawHead>,
}

impl MethodRequest {
    /// Decoded path parameters as `(name, value)` pairs.
    pub fn path_pairs(&self) -> Vec<(String, String)> {
        self.path_params
            .iter()
            .map(|p| (p.name.clone(), p.value.clone()))
            .collect()
    }
}

/// Decodes `a=1&b=x%20y` into ordered pairs (`+` is a space in query strings).
pub fn parse_query(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let decode = |s: &str| {
                percent_encoding::percent_decode_str(&s.replace('+', " "))
                    .decode_utf8_lossy()
                    .into_owned()
            };
            (decode(k), decode(v))
        })
        .collect()
}

/// Everything an integration reads for one request.
pub struct Invocation<'a> {
    pub stage: &'a CompiledStage,
    pub method: &'a CompiledMethod,
    pub integration: &'a CompiledIntegration,
    pub request: &'a MethodRequest,
    pub cx: &'a RequestContext,
    /// `$context` as JSON, built once per request when something needs it.
    pub context: &'a Value,
}

/// An integration request, ready for its backend.
pub enum Prepared {
    Upstream(UpstreamRequest),
    /// MOCK: no backend; the request template's status code selects the
    /// integration response.
    Mock {
        status: u16,
    },
    /// AWS and AWS_PROXY: a Lambda function and its payload.
    Lambda {
        function: String,
        payload: Bytes,
    },
}

/// The backend's answer, before the method response is made of it.
pub struct IntegrationResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    /// Whole, or streamed from the upstream connection.
    pub body: UpstreamBody,
    /// What a `selectionPattern` is matched against: the status code (HTTP,
    /// MOCK), or a Lambda error's `errorMessage` (AWS; empty on success).
    /// Empty for HTTP_PROXY, which selects nothing.
    pub selector: String,
    /// A Lambda function error (rather than its return value).
    pub function_error: bool,
}

/// The integration request phase.
pub fn prepare(inv: &Invocation<'_>) -> Result<Prepared, GatewayError> {
    match inv.integration.kind {
        IntegrationKind::HttpProxy => http_proxy::prepare(inv).map(Prepared::Upstream),
        IntegrationKind::Http => http::prepare(inv).map(Prepared::Upstream),
        IntegrationKind::Mock => mock::prepare(inv),
        IntegrationKind::Aws | IntegrationKind::AwsProxy => lambda::prepare(inv),
    }
}

/// The integration phase: calls the backend. Records how long it waited.
pub async fn send(
    prepared: Prepared,
    backends: &Backends<'_>,
    integration: &CompiledIntegration,
    cx: &mut RequestContext,
) -> Result<IntegrationResponse, GatewayError> {
    let request = match prepared {
        Prepared::Mock { status } => {
            return Ok(IntegrationResponse {
                status: StatusCode::from_u16(status).unwrap_or(StatusCode::OK),
                headers: HeaderMap::new(),
                body: UpstreamBody::buffered(Bytes::new()),
                selector: status.to_string(),
                function_error: false,
            })
        }
        Prepared::Lambda { function, payload } => {
            let started = Instant::now();
            let result = lambda::send(
                backends.functions,
                &function,
                payload,
                integration.timeout,
                cx.downstream_trace(),
            )
            .await;
            cx.integration_latency = Some(started.elapsed());
            let (body, selector, function_error) = match result? {
                lambda::FunctionResult::Success(body) => (body, String::new(), false),
                lambda::FunctionResult::Error(body) => {
                    let message = lambda::error_message(&body);
                    (body, message, true)
                }
            };
            return Ok(IntegrationResponse {
                status: StatusCode::OK,
                headers: HeaderMap::new(),
                body: UpstreamBody::buffered(body),
                selector,
                function_error,
            });
        }
        Prepared::Upstream(request) => request,
    };
    let client = backends.client;
    let started = Instant::now();
    let sent = client.send(request, integration.timeout).await;
    cx.integration_latency = Some(started.elapsed());
    let response = sent.map_err(|e| match e {
        UpstreamError::TimedOut(_) => ErrorKind::IntegrationTimeout.because(e),
        UpstreamError::Failed(io) => {
            tracing::debug!(error = %io, "integration request failed");
            ErrorKind::IntegrationFailure.because(io)
        }
    })?;
    let (parts, body) = response.into_parts();
    // HTTP_PROXY passes the answer through and selects nothing.
    let selector = match integration.kind {
        IntegrationKind::HttpProxy => String::new(),
        _ => parts.status.as_str().to_string(),
    };
    Ok(IntegrationResponse {
        selector,
        status: parts.status,
        headers: parts.headers,
        body,
        function_error: false,
    })
}

/// What integrations call: the upstream HTTP client and the Lambda host.
pub struct Backends<'a> {
    pub client: &'a UpstreamClient,
    pub functions: Option<&'a dyn lambda::FunctionInvoker>,
}

/// The integration request's parameters after `requestParameters` mapping.
#[derive(Debug, Default)]
pub struct MappedRequest {
    pub headers: Vec<(String, String)>,
    pub query: Vec<(String, String)>,
    /// Path values by placeholder name, encoded as integration URI text
    /// ([`crate::path`]): none can add a separator or a dot segment.
    pub path: BTreeMap<String, String>,
}

impl Invocation<'_> {
    /// The integration's HTTP method; `ANY` sends the client's own.
    pub fn upstream_method(&self) -> Result<::http::Method, GatewayError> {
        if self.integration.http_method == "ANY" {
            return Ok(self.request.method.clone());
        }
        ::http::Method::from_bytes(self.integration.http_method.as_bytes()).map_err(|_| {
            ErrorKind::ApiConfiguration.because(format_args!(
                "integration HTTP method {:?}",
                self.integration.http_method
            ))
        })
    }

    pub fn inputs(&self) -> Inputs<'_> {
        Inputs {
            headers: &self.request.headers,
            query: &self.request.query,
            path_params: &[],
            body: &self.request.body,
            stage_variables: &self.stage.variables,
            context: self.context,
            integration_headers: None,
            integration_body: b"",
        }
    }

    /// Evaluates `requestParameters`. Path placeholders without a mapping fall
    /// back to the method's path parameter of the same name.
    pub fn map_request(&self) -> MappedRequest {
        let inputs = Inputs {
            path_params: &self.request.path_params,
            ..self.inputs()
        };
        let mut mapped = MappedRequest::default();
        for m in &self.integration.request_parameters {
            if let (Target::RequestPath(n), Source::MethodPath(from)) = (&m.target, &m.source) {
                // A path parameter keeps the separators the client sent.
                if let Some(p) = self
                    .request
                    .path_params
                    .iter()
                    .rev()
                    .find(|p| p.name == *from)
                {
                    mapped.path.insert(n.clone(), encode_raw_path(&p.raw));
                }
                continue;
            }
            let Some(value) = m.source.resolve(&inputs) else {
                continue;
            };
            match &m.target {
                Target::RequestHeader(n) => mapped.headers.push((n.clone(), value)),
                Target::RequestQuery(n) => {
                    mapped.query.retain(|(k, _)| k != n);
                    mapped.query.push((n.clone(), value));
                }
                Target::RequestPath(n) => {
                    mapped
                        .path
                        .insert(n.clone(), crate::path::encode_segment(&value));
                }
                Target::ResponseHeader(_) => {}
            }
        }
        // The placeholders no mapping filled: the method's path parameter of
        // the same name (the last of that name). Filled after the mappings,
        // which win, so that no value is made only to be replaced (the usual
        // `{proxy}` from `method.request.path.proxy` is made once).
        for p in self.request.path_params.iter().rev() {
            if !mapped.path.contains_key(&p.name) {
                mapped.path.insert(p.name.clone(), encode_raw_path(&p.raw));
            }
        }
        mapped
    }
}

/// [`crate::path::encode_raw_path`], which a path value of only characters
/// it never encodes passes unchanged: such a value (nearly every one) is
/// copied as it is rather than decoded and encoded again segment by segment.
fn encode_raw_path(raw: &str) -> String {
    if passes_unencoded(raw) {
        raw.to_string()
    } else {
        crate::path::encode_raw_path(raw)
    }
}

/// Bytes that [`crate::path::encode_raw_path`] keeps as they are: `/` (its
/// separator), and the printable ASCII that neither starts an escape (`%`)
/// nor is in its segment set (`"#<>?[\]^`{|}`).
const UNENCODED: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0x21;
    while b < 0x7f {
        table[b] = true;
        b += 1;
    }
    let encoded = b"\"#%<>?[\\]^`{|}";
    let mut i = 0;
    while i < encoded.len() {
        table[encoded[i] as usize] = false;
        i += 1;
    }
    table
};

/// Whether `raw` comes out of [`crate::path::encode_raw_path`] unchanged:
/// no byte it would encode or decode, and no `.` or `..` segment (those
/// are encoded).
fn passes_unencoded(raw: &str) -> bool {
    let plain = raw
        .bytes()
        .fold(true, |plain, b| plain & UNENCODED[usize::from(b)]);
    plain && !(raw.contains('.') && raw.split('/').any(|segment| matches!(segment, "." | "..")))
}

/// Encodes query pairs.
pub fn encode_query(pairs: &[(String, String)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| {
            format!(
                "{}={}",
                uri::encode_query_part(k),
                uri::encode_query_part(v)
            )
        })
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_values_passed_unencoded_are_what_encoding_gives() {
        let values = [
            "",
            "bench",
            "v1/jobs/42",
            "a.b/c.json",
            "a-b_c~d!$&'()*+,;=:@",
            "/",
            "//x//",
            ".",
            "..",
            "a/./b",
            "a/../b",
            "...",
            "a/.../b",
            ".x",
            "x.",
            "a%20b",
            "a%2Fb",
            "a b",
            "a\\b",
            "a\"b",
            "a#b",
            "a<b>",
            "a?b",
            "a[b]",
            "a^b",
            "a`b",
            "a{b}|c",
            "caf\u{e9}",
            "tab\tx",
            "del\u{7f}",
            "%",
            "%zz",
            "%2e%2E",
        ];
        for raw in values {
            let expected = crate::path::encode_raw_path(raw);
            assert_eq!(encode_raw_path(raw), expected, "{raw:?}");
            if passes_unencoded(raw) {
                assert_eq!(expected, raw, "{raw:?} passes unencoded");
            }
        }
        for b in 0u8..=0x7f {
            let raw = format!("a{}b", char::from(b));
            assert_eq!(
                encode_raw_path(&raw),
                crate::path::encode_raw_path(&raw),
                "{raw:?}"
            );
        }
    }
}

//! Integrations: what a method calls. HTTP and HTTP_PROXY go through the pooled
//! upstream client; MOCK answers from its templates.

pub mod client;
pub mod h1;
pub mod h2c;
pub mod http;
pub mod http_proxy;
pub mod mock;
pub mod respond;
pub mod templates;
pub mod uri;

use ::http::HeaderMap;
use bytes::Bytes;

use crate::router::PathParam;

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

use std::collections::BTreeMap;

use serde_json::Value;

use crate::compile::{CompiledIntegration, CompiledMethod, CompiledStage};
use crate::context::RequestContext;
use crate::mapping::{Inputs, Source, Target};

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
    pub fn upstream_method(&self) -> Result<::http::Method, crate::error::GatewayError> {
        if self.integration.http_method == "ANY" {
            return Ok(self.request.method.clone());
        }
        ::http::Method::from_bytes(self.integration.http_method.as_bytes())
            .map_err(|_| crate::error::GatewayError::ApiConfiguration)
    }

    pub fn method_responses(&self) -> &BTreeMap<String, tollgate_model::method::MethodResponse> {
        &self.method.method_responses
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
        for p in &self.request.path_params {
            mapped
                .path
                .insert(p.name.clone(), crate::path::encode_raw_path(&p.raw));
        }
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
                    mapped
                        .path
                        .insert(n.clone(), crate::path::encode_raw_path(&p.raw));
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
        mapped
    }
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

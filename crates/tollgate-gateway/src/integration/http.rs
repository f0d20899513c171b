//! HTTP (non-proxy): the request is mapped (parameters, request template) before
//! it goes upstream, and the answer is mapped back through integration responses.

use bytes::Bytes;
use http::{HeaderMap, Response};

use super::client::{set_header, UpstreamClient};
use super::h1::UpstreamRequest;
use super::http_proxy::read_body;
use super::respond::{convert, method_response};
use super::templates::{params_of, render, select_request, RequestMapping};
use super::{encode_query, Invocation};
use crate::compile::ContentHandling;
use crate::error::GatewayError;
use crate::response::Body;

/// Largest integration response a mapping reads (API Gateway's payload limit).
const MAX_RESPONSE: usize = 10 * 1024 * 1024;

pub async fn invoke(
    inv: &Invocation<'_>,
    client: &UpstreamClient,
) -> Result<Response<Body>, GatewayError> {
    let mut mapped = inv.map_request();
    let content_type = super::templates::media_type(
        inv.request
            .headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok()),
    );
    let is_binary = inv.stage.is_binary(&content_type);
    // CONVERT_TO_TEXT makes a binary payload base64 before templates see it;
    // CONVERT_TO_BINARY decodes what the mapping produced.
    let handling = inv.integration.content_handling;
    let source = match handling {
        Some(ContentHandling::ConvertToText) => {
            convert(inv.request.body.clone(), handling, is_binary)?
        }
        _ => inv.request.body.clone(),
    };
    let body = match select_request(
        &inv.integration.request_templates,
        inv.integration.passthrough,
        &inv.request.headers,
    )? {
        RequestMapping::Passthrough => source,
        RequestMapping::Template(None) => Bytes::new(),
        RequestMapping::Template(Some(template)) => {
            let rendered = render(
                &template,
                &source,
                &params_of(inv.request),
                inv.stage,
                inv.context,
            )?;
            let o = rendered.overrides.request;
            mapped.headers.extend(o.header);
            for (k, v) in o.querystring {
                mapped.query.retain(|(n, _)| *n != k);
                mapped.query.push((k, v));
            }
            mapped.path.extend(
                o.path
                    .into_iter()
                    .map(|(k, v)| (k, crate::path::encode_segment(&v))),
            );
            Bytes::from(rendered.output)
        }
    };
    let body = match handling {
        Some(ContentHandling::ConvertToBinary) => convert(body, handling, is_binary)?,
        _ => body,
    };
    let target = inv.integration.uri.fill(
        &inv.stage.variables,
        &mapped.path,
        &encode_query(&mapped.query),
    )?;
    let method = inv.upstream_method()?;
    let mut headers = HeaderMap::new();
    if let Some(ct) = inv.request.headers.get(http::header::CONTENT_TYPE) {
        headers.insert(http::header::CONTENT_TYPE, ct.clone());
    }
    for (name, value) in &mapped.headers {
        set_header(&mut headers, name, value);
    }
    set_header(&mut headers, "x-amzn-trace-id", &inv.cx.trace_id);
    let request = UpstreamRequest {
        method,
        target,
        headers,
        body,
        // Integration responses map the headers as the upstream sent them.
        response_header_rule: None,
    };
    let response = client.send(request, inv.integration.timeout).await?;
    let (parts, body) = response.into_parts();
    let body = read_body(body, MAX_RESPONSE).await?;
    method_response(
        inv,
        parts.status.as_str(),
        &parts.headers,
        &body,
        parts.headers.get(http::header::CONTENT_TYPE),
    )
}

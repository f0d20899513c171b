//! HTTP (non-proxy): the request is mapped (parameters, request template)
//! before it goes upstream; the answer is mapped back by the
//! integration-response phase.

use bytes::Bytes;
use http::HeaderMap;

use super::h1::UpstreamRequest;
use super::templates::{params_of, render, select_request, RequestMapping};
use super::{encode_query, Invocation};
use crate::compile::ContentHandling;
use crate::error::GatewayError;
use crate::integration_response::convert;
use crate::mapping::set_header;

/// The integration request phase of HTTP.
pub fn prepare(inv: &Invocation<'_>) -> Result<UpstreamRequest, GatewayError> {
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
    set_header(&mut headers, "x-amzn-trace-id", inv.cx.downstream_trace());
    Ok(UpstreamRequest {
        method,
        target,
        headers,
        body,
        // Integration responses map the headers as the upstream sent them.
        response_header_rule: None,
    })
}

//! MOCK: no backend. The request template's `statusCode` selects the
//! integration response, whose template makes the body.

use bytes::Bytes;
use http::{HeaderMap, Response};

use super::respond::method_response;
use super::templates::{params_of, render, select_request, RequestMapping};
use super::Invocation;
use crate::error::GatewayError;
use crate::response::Body;

pub fn invoke(inv: &Invocation<'_>) -> Result<Response<Body>, GatewayError> {
    let status = match select_request(
        &inv.integration.request_templates,
        inv.integration.passthrough,
        &inv.request.headers,
    )? {
        RequestMapping::Template(Some(template)) => {
            let rendered = render(
                &template,
                &inv.request.body,
                &params_of(inv.request),
                inv.stage,
                inv.context,
            )?;
            status_code_of(&rendered.output)?
        }
        // Without a template a mock answers 200.
        RequestMapping::Template(None) | RequestMapping::Passthrough => 200,
    };
    method_response(
        inv,
        &status.to_string(),
        &HeaderMap::new(),
        &Bytes::new(),
        None,
    )
}

/// Reads `{"statusCode": N}` from a rendered mock request template.
fn status_code_of(rendered: &str) -> Result<u16, GatewayError> {
    let value: serde_json::Value =
        serde_json::from_str(rendered).map_err(|_| GatewayError::ApiConfiguration)?;
    match value.get("statusCode") {
        None => Ok(200),
        Some(serde_json::Value::Number(n)) => n
            .as_u64()
            .and_then(|n| u16::try_from(n).ok())
            .ok_or(GatewayError::ApiConfiguration),
        Some(serde_json::Value::String(s)) => s.parse().map_err(|_| GatewayError::ApiConfiguration),
        Some(_) => Err(GatewayError::ApiConfiguration),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_status_codes() {
        assert_eq!(status_code_of(r#"{"statusCode": 404}"#), Ok(404));
        assert_eq!(status_code_of(r#"{"statusCode": "201"}"#), Ok(201));
        assert_eq!(status_code_of("{}"), Ok(200));
        assert_eq!(
            status_code_of("not json"),
            Err(GatewayError::ApiConfiguration)
        );
    }
}

//! MOCK: no backend. The request template's `statusCode` selects the
//! integration response, whose template makes the body.

use super::templates::{params_of, render, select_request, RequestMapping};
use super::{Invocation, Prepared};
use crate::error::{ErrorKind, GatewayError};

/// The integration request phase of MOCK.
pub fn prepare(inv: &Invocation<'_>) -> Result<Prepared, GatewayError> {
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
    Ok(Prepared::Mock { status })
}

/// Reads `{"statusCode": N}` from a rendered mock request template.
fn status_code_of(rendered: &str) -> Result<u16, GatewayError> {
    let bad = |why: &str| {
        ErrorKind::ApiConfiguration.because(format_args!("MOCK request template: {why}"))
    };
    let value: serde_json::Value = serde_json::from_str(rendered).map_err(|_| bad("not JSON"))?;
    match value.get("statusCode") {
        None => Ok(200),
        Some(serde_json::Value::Number(n)) => n
            .as_u64()
            .and_then(|n| u16::try_from(n).ok())
            .ok_or_else(|| bad("statusCode out of range")),
        Some(serde_json::Value::String(s)) => s.parse().map_err(|_| bad("statusCode not a number")),
        Some(_) => Err(bad("statusCode not a number")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_status_codes() {
        assert_eq!(status_code_of(r#"{"statusCode": 404}"#).ok(), Some(404));
        assert_eq!(status_code_of(r#"{"statusCode": "201"}"#).ok(), Some(201));
        assert_eq!(status_code_of("{}").ok(), Some(200));
        assert_eq!(
            status_code_of("not json").map_err(|e| e.kind),
            Err(ErrorKind::ApiConfiguration)
        );
    }
}

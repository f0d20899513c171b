//! Choosing and rendering mapping templates (`spec/aws-apigw.md` §6.2).

use std::sync::Arc;

use http::HeaderMap;
use serde_json::Value;
use tollgate_vtl::{Params, RenderContext, Rendered, Template};

use super::MethodRequest;
use crate::compile::{CompiledStage, Passthrough, Templates};
use crate::error::{ErrorKind, GatewayError};

/// The MIME type of a header value without parameters; absent → `application/json`.
pub fn media_type(value: Option<&str>) -> String {
    value
        .and_then(|v| v.split([';', ',']).next())
        .map(|v| v.trim().to_ascii_lowercase())
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "application/json".to_string())
}

/// What the request mapping does with the body.
pub enum RequestMapping {
    /// Render this template (None: declared empty, send an empty body).
    Template(Option<Arc<Template>>),
    /// Send the body as it came.
    Passthrough,
}

/// Picks the request template by Content-Type and applies the passthrough behaviour.
pub fn select_request(
    templates: &Templates,
    passthrough: Passthrough,
    headers: &HeaderMap,
) -> Result<RequestMapping, GatewayError> {
    let content_type = media_type(
        headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok()),
    );
    if let Some((_, t)) = templates.iter().find(|(ct, _)| *ct == content_type) {
        return Ok(RequestMapping::Template(t.clone()));
    }
    match passthrough {
        Passthrough::WhenNoMatch => Ok(RequestMapping::Passthrough),
        Passthrough::WhenNoTemplates if templates.is_empty() => Ok(RequestMapping::Passthrough),
        _ => Err(ErrorKind::UnsupportedMediaType
            .because(format_args!("no request template for {content_type}"))),
    }
}

/// Picks the response template by the first Accept type; no match → the first
/// template; no templates → None (passthrough).
pub fn select_response<'t>(
    templates: &'t Templates,
    headers: &HeaderMap,
) -> Option<&'t (String, Option<Arc<Template>>)> {
    let accept = media_type(
        headers
            .get(http::header::ACCEPT)
            .and_then(|v| v.to_str().ok()),
    );
    templates
        .iter()
        .find(|(ct, _)| *ct == accept)
        .or_else(|| templates.first())
}

/// `$input.params()` of a method request.
pub fn params_of(request: &MethodRequest) -> Params {
    let mut querystring: Vec<(String, String)> = Vec::new();
    for (k, v) in &request.query {
        // The single-value view keeps the last value of a repeated key.
        match querystring.iter_mut().find(|(name, _)| name == k) {
            Some(entry) => entry.1 = v.clone(),
            None => querystring.push((k.clone(), v.clone())),
        }
    }
    Params {
        path: request.path_pairs(),
        querystring,
        header: request
            .headers
            .iter()
            .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string())))
            .collect(),
    }
}

/// Renders `template`; a failing template is the API's configuration error.
pub fn render(
    template: &Template,
    body: &[u8],
    params: &Params,
    stage: &CompiledStage,
    context: &Value,
) -> Result<Rendered, GatewayError> {
    let body = String::from_utf8_lossy(body);
    template
        .render(&RenderContext {
            body: &body,
            params,
            context,
            stage_variables: &stage.variables,
        })
        .map_err(|e| {
            tracing::warn!(error = %e, api = %stage.api_id, "mapping template failed");
            ErrorKind::ApiConfiguration.because(format_args!("mapping template: {e}"))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_types_drop_parameters() {
        assert_eq!(
            media_type(Some("Application/JSON; charset=utf-8")),
            "application/json"
        );
        assert_eq!(media_type(None), "application/json");
        assert_eq!(media_type(Some("text/html, application/xml")), "text/html");
    }
}

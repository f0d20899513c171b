//! Parameter mapping expressions (`spec/aws-apigw.md` §6.3): parsed when a
//! deployment compiles, evaluated per request.

use http::HeaderMap;
use serde_json::Value;
use serde_json_path::JsonPath;

use crate::router::PathParam;

/// Where a mapped value goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    RequestPath(String),
    RequestQuery(String),
    RequestHeader(String),
    ResponseHeader(String),
}

/// Where a mapped value comes from.
#[derive(Debug, Clone)]
pub enum Source {
    Literal(String),
    StageVariable(String),
    Context(String),
    MethodPath(String),
    MethodQuery(String),
    MethodMultiQuery(String),
    MethodHeader(String),
    MethodMultiHeader(String),
    MethodBody(Option<JsonPath>),
    IntegrationHeader(String),
    IntegrationMultiHeader(String),
    IntegrationBody(Option<JsonPath>),
}

#[derive(Debug, Clone)]
pub struct Mapping {
    pub target: Target,
    pub source: Source,
}

fn json_path(expr: &str) -> Result<JsonPath, String> {
    let full = if expr.starts_with('$') {
        expr.to_string()
    } else {
        format!("$.{expr}")
    };
    JsonPath::parse(&full).map_err(|e| format!("invalid JSONPath {expr:?}: {e}"))
}

/// Parses one `key: value` entry of requestParameters or responseParameters.
pub fn parse(key: &str, value: &str) -> Result<Mapping, String> {
    let target = if let Some(n) = key.strip_prefix("integration.request.path.") {
        Target::RequestPath(n.to_string())
    } else if let Some(n) = key.strip_prefix("integration.request.querystring.") {
        Target::RequestQuery(n.to_string())
    } else if let Some(n) = key.strip_prefix("integration.request.multivaluequerystring.") {
        Target::RequestQuery(n.to_string())
    } else if let Some(n) = key.strip_prefix("integration.request.header.") {
        Target::RequestHeader(n.to_string())
    } else if let Some(n) = key.strip_prefix("integration.request.multivalueheader.") {
        Target::RequestHeader(n.to_string())
    } else if let Some(n) = key.strip_prefix("method.response.header.") {
        Target::ResponseHeader(n.to_string())
    } else {
        return Err(format!("unsupported mapping target {key}"));
    };
    let v = value.trim();
    let source = if v.len() >= 2 && v.starts_with('\'') && v.ends_with('\'') {
        Source::Literal(v[1..v.len() - 1].to_string())
    } else if let Some(n) = v.strip_prefix("stageVariables.") {
        Source::StageVariable(n.to_string())
    } else if let Some(n) = v.strip_prefix("context.") {
        Source::Context(n.to_string())
    } else if let Some(n) = v.strip_prefix("method.request.path.") {
        Source::MethodPath(n.to_string())
    } else if let Some(n) = v.strip_prefix("method.request.querystring.") {
        Source::MethodQuery(n.to_string())
    } else if let Some(n) = v.strip_prefix("method.request.multivaluequerystring.") {
        Source::MethodMultiQuery(n.to_string())
    } else if let Some(n) = v.strip_prefix("method.request.header.") {
        Source::MethodHeader(n.to_string())
    } else if let Some(n) = v.strip_prefix("method.request.multivalueheader.") {
        Source::MethodMultiHeader(n.to_string())
    } else if v == "method.request.body" {
        Source::MethodBody(None)
    } else if let Some(p) = v.strip_prefix("method.request.body.") {
        Source::MethodBody(Some(json_path(p)?))
    } else if let Some(n) = v.strip_prefix("integration.response.header.") {
        Source::IntegrationHeader(n.to_string())
    } else if let Some(n) = v.strip_prefix("integration.response.multivalueheader.") {
        Source::IntegrationMultiHeader(n.to_string())
    } else if v == "integration.response.body" {
        Source::IntegrationBody(None)
    } else if let Some(p) = v.strip_prefix("integration.response.body.") {
        Source::IntegrationBody(Some(json_path(p)?))
    } else {
        return Err(format!("unsupported mapping source {value}"));
    };
    Ok(Mapping { target, source })
}

/// What mapping sources read: the method request, or the integration response.
pub struct Inputs<'a> {
    pub headers: &'a HeaderMap,
    pub query: &'a [(String, String)],
    pub path_params: &'a [PathParam],
    pub body: &'a [u8],
    pub stage_variables: &'a std::collections::BTreeMap<String, String>,
    pub context: &'a Value,
    /// Present when mapping an integration response.
    pub integration_headers: Option<&'a HeaderMap>,
    pub integration_body: &'a [u8],
}

fn header_values(headers: &HeaderMap, name: &str) -> Vec<String> {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_string))
        .collect()
}

fn body_value(body: &[u8], path: &Option<JsonPath>) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    let Some(path) = path else {
        return Some(text.to_string());
    };
    let json: Value = serde_json::from_str(text).ok()?;
    let found = path.query(&json).first()?.clone();
    Some(match found {
        Value::String(s) => s,
        other => other.to_string(),
    })
}

/// Sets a header from a mapped string value, ignoring values HTTP cannot carry.
pub fn set_header(headers: &mut HeaderMap, name: &str, value: &str) {
    if let (Ok(n), Ok(v)) = (
        http::HeaderName::try_from(name),
        http::HeaderValue::from_str(value),
    ) {
        headers.insert(n, v);
    }
}

/// Looks up `a.b.c` in the `$context` object.
pub fn context_value(context: &Value, dotted: &str) -> Option<String> {
    let mut v = context;
    for part in dotted.split('.') {
        v = v.get(part)?;
    }
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

impl Source {
    /// The value, or None when the source is absent (the target is then left unset).
    pub fn resolve(&self, inputs: &Inputs<'_>) -> Option<String> {
        let last = |pairs: &[(String, String)], name: &str| {
            pairs
                .iter()
                .rev()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        match self {
            Source::Literal(s) => Some(s.clone()),
            Source::StageVariable(n) => inputs.stage_variables.get(n).cloned(),
            Source::Context(n) => context_value(inputs.context, n),
            Source::MethodPath(n) => inputs
                .path_params
                .iter()
                .rev()
                .find(|p| p.name == *n)
                .map(|p| p.value.clone()),
            Source::MethodQuery(n) => last(inputs.query, n),
            Source::MethodMultiQuery(n) => {
                let all: Vec<&str> = inputs
                    .query
                    .iter()
                    .filter(|(k, _)| k == n)
                    .map(|(_, v)| v.as_str())
                    .collect();
                (!all.is_empty()).then(|| all.join(","))
            }
            Source::MethodHeader(n) => header_values(inputs.headers, n).pop(),
            Source::MethodMultiHeader(n) => {
                let all = header_values(inputs.headers, n);
                (!all.is_empty()).then(|| all.join(","))
            }
            Source::MethodBody(p) => body_value(inputs.body, p),
            Source::IntegrationHeader(n) => inputs
                .integration_headers
                .and_then(|h| header_values(h, n).pop()),
            Source::IntegrationMultiHeader(n) => inputs.integration_headers.and_then(|h| {
                let all = header_values(h, n);
                (!all.is_empty()).then(|| all.join(","))
            }),
            Source::IntegrationBody(p) => body_value(inputs.integration_body, p),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sources_and_targets() -> Result<(), String> {
        let m = parse("integration.request.header.Authorization", "'Bearer abc'")?;
        assert_eq!(m.target, Target::RequestHeader("Authorization".into()));
        assert!(matches!(m.source, Source::Literal(ref s) if s == "Bearer abc"));
        assert!(matches!(
            parse(
                "integration.request.path.proxy",
                "method.request.path.proxy"
            )?
            .source,
            Source::MethodPath(_)
        ));
        assert!(parse("integration.request.nowhere.x", "'a'").is_err());
        assert!(parse("integration.request.header.x", "bogus").is_err());
        Ok(())
    }

    #[test]
    fn resolves_body_paths_and_context() -> Result<(), String> {
        let headers = HeaderMap::new();
        let context =
            serde_json::json!({"requestId": "r-1", "identity": {"sourceIp": "127.0.0.1"}});
        let vars = Default::default();
        let inputs = Inputs {
            headers: &headers,
            query: &[("a".into(), "1".into()), ("a".into(), "2".into())],
            path_params: &[],
            body: br#"{"options":{"sample_steps":30},"prompt":"hi"}"#,
            stage_variables: &vars,
            context: &context,
            integration_headers: None,
            integration_body: b"",
        };
        let v = |k: &str, s: &str| parse(k, s).map(|m| m.source.resolve(&inputs));
        assert_eq!(
            v(
                "integration.request.header.x",
                "method.request.body.options.sample_steps"
            )?,
            Some("30".into())
        );
        assert_eq!(
            v("integration.request.header.x", "method.request.body.prompt")?,
            Some("hi".into())
        );
        assert_eq!(
            v("integration.request.header.x", "context.identity.sourceIp")?,
            Some("127.0.0.1".into())
        );
        assert_eq!(
            v(
                "integration.request.header.x",
                "method.request.querystring.a"
            )?,
            Some("2".into())
        );
        assert_eq!(
            v(
                "integration.request.header.x",
                "method.request.multivaluequerystring.a"
            )?,
            Some("1,2".into())
        );
        assert_eq!(
            v(
                "integration.request.header.x",
                "method.request.header.missing"
            )?,
            None
        );
        Ok(())
    }
}

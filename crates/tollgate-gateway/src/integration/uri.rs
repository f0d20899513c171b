//! The integration's target URI: `{name}` path placeholders, `${stageVariables.x}`,
//! and the query string.

use std::collections::BTreeMap;

use http::Uri;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use crate::error::GatewayError;

/// Characters left as they are in a query component.
const QUERY: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Encodes one query key or value.
pub fn encode_query_part(s: &str) -> String {
    utf8_percent_encode(s, QUERY).to_string()
}

/// Fills the URI template. `path_values` are raw (already encoded) path texts
/// by name; `query` is appended (encoded) after any query the template has.
pub fn build(
    template: &str,
    stage_variables: &BTreeMap<String, String>,
    path_values: &BTreeMap<String, String>,
    query: &str,
) -> Result<Uri, GatewayError> {
    let mut out = String::with_capacity(template.len() + query.len() + 16);
    let mut rest = template;
    while let Some(start) = rest.find(['{', '$']) {
        out.push_str(&rest[..start]);
        let tail = &rest[start..];
        if let Some(inner) = tail.strip_prefix("${stageVariables.") {
            let end = inner.find('}').ok_or(GatewayError::ApiConfiguration)?;
            out.push_str(
                stage_variables
                    .get(&inner[..end])
                    .map(String::as_str)
                    .unwrap_or(""),
            );
            rest = &inner[end + 1..];
        } else if let Some(inner) = tail.strip_prefix('{') {
            let end = inner.find('}').ok_or(GatewayError::ApiConfiguration)?;
            let name = inner[..end].trim_end_matches('+');
            out.push_str(path_values.get(name).map(String::as_str).unwrap_or(""));
            rest = &inner[end + 1..];
        } else {
            out.push('$');
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    if !query.is_empty() {
        out.push(if out.contains('?') { '&' } else { '?' });
        out.push_str(query);
    }
    out.parse::<Uri>()
        .map_err(|_| GatewayError::ApiConfiguration)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_placeholders() -> Result<(), GatewayError> {
        let vars = BTreeMap::from([("host".to_string(), "127.0.0.1:8000".to_string())]);
        let paths = BTreeMap::from([("proxy".to_string(), "v1/jobs/a%20b".to_string())]);
        let uri = build(
            "http://${stageVariables.host}/api/{proxy}",
            &vars,
            &paths,
            "limit=10",
        )?;
        assert_eq!(
            uri.to_string(),
            "http://127.0.0.1:8000/api/v1/jobs/a%20b?limit=10"
        );
        let uri = build("http://h/x?a=1", &vars, &paths, "b=2")?;
        assert_eq!(uri.to_string(), "http://h/x?a=1&b=2");
        assert_eq!(encode_query_part("a b/c"), "a%20b%2Fc");
        Ok(())
    }
}

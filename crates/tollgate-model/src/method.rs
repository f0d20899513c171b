//! Method and MethodResponse.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{ApiError, Result};
use crate::integration::Integration;

pub const HTTP_METHODS: &[&str] = &[
    "GET", "PUT", "POST", "DELETE", "PATCH", "OPTIONS", "HEAD", "ANY",
];
pub const AUTHORIZATION_TYPES: &[&str] = &["NONE", "AWS_IAM", "CUSTOM", "COGNITO_USER_POOLS"];

/// Validates an HTTP method path member as AWS does.
pub fn validate_http_method(method: &str) -> Result<()> {
    if method.is_empty() {
        return Err(ApiError::bad_request(
            "Enumeration value for HttpMethod must be non-empty",
        ));
    }
    if HTTP_METHODS.contains(&method) {
        Ok(())
    } else {
        Err(ApiError::bad_request(
            "Invalid HttpMethod specified. Valid options are GET,PUT,POST,DELETE,PATCH,OPTIONS,HEAD,ANY",
        ))
    }
}

/// Validates a status-code path member (`[1-5]\d\d`).
pub fn validate_status_code(code: &str) -> Result<()> {
    let b = code.as_bytes();
    if b.len() == 3 && (b'1'..=b'5').contains(&b[0]) && b[1..].iter().all(u8::is_ascii_digit) {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "1 validation error detected: Value '{code}' at 'statusCode' failed to satisfy constraint: Member must satisfy regular expression pattern: [1-5]\\d\\d"
        )))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MethodResponse {
    pub status_code: String,
    /// `None` until set: AWS shows a map given empty as `{}` and leaves out
    /// one never given (or emptied by patches).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_parameters: Option<BTreeMap<String, bool>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_models: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Method {
    pub http_method: String,
    pub authorization_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorizer_id: Option<String>,
    pub api_key_required: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_validator_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation_name: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub request_parameters: BTreeMap<String, bool>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub request_models: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub authorization_scopes: Vec<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub method_responses: BTreeMap<String, MethodResponse>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method_integration: Option<Integration>,
}

/// Validates `method.request.{querystring|path|header|multivaluequerystring|multivalueheader}.NAME` keys.
pub fn validate_request_parameter_key(key: &str) -> Result<()> {
    let ok = [
        "querystring",
        "path",
        "header",
        "multivaluequerystring",
        "multivalueheader",
    ]
    .iter()
    .any(|loc| {
        key.strip_prefix("method.request.")
            .and_then(|rest| rest.strip_prefix(loc))
            .and_then(|rest| rest.strip_prefix('.'))
            .is_some_and(|name| !name.is_empty())
    });
    if ok {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "Invalid mapping expression specified: Validation Result: warnings : [], errors : [Invalid method request parameter name: {key}]"
        )))
    }
}

/// A method's request parameters may not share a name between the query
/// string, the headers and the path (a multi-value location counts as its
/// single-value one).
pub fn validate_request_parameter_names<'k>(keys: impl Iterator<Item = &'k String>) -> Result<()> {
    let mut seen: BTreeMap<&str, &str> = BTreeMap::new();
    for key in keys {
        let Some((location, name)) = key
            .strip_prefix("method.request.")
            .and_then(|rest| rest.split_once('.'))
        else {
            continue;
        };
        let family = match location {
            "multivaluequerystring" => "querystring",
            "multivalueheader" => "header",
            other => other,
        };
        if seen.insert(name, family).is_some_and(|f| f != family) {
            return Err(ApiError::bad_request(
                "Parameter names must be unique across querystring, header and path",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameter_names_unique_across_locations() {
        let keys = |ks: &[&str]| ks.iter().map(|k| k.to_string()).collect::<Vec<_>>();
        let ok = keys(&[
            "method.request.querystring.q",
            "method.request.multivaluequerystring.q",
            "method.request.header.h",
        ]);
        assert!(validate_request_parameter_names(ok.iter()).is_ok());
        let clash = keys(&["method.request.querystring.x", "method.request.header.x"]);
        let e = validate_request_parameter_names(clash.iter()).unwrap_err();
        assert_eq!(
            e.message,
            "Parameter names must be unique across querystring, header and path"
        );
    }
}

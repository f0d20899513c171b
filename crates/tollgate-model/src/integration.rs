//! Integration and IntegrationResponse: what a method calls and how its answer maps back.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{ApiError, Result};

/// In the order AWS lists them in its enum-violation message.
pub const INTEGRATION_TYPES: &[&str] = &["HTTP", "MOCK", "AWS_PROXY", "HTTP_PROXY", "AWS"];
pub const PASSTHROUGH_BEHAVIORS: &[&str] = &["WHEN_NO_MATCH", "WHEN_NO_TEMPLATES", "NEVER"];
pub const CONTENT_HANDLINGS: &[&str] = &["CONVERT_TO_BINARY", "CONVERT_TO_TEXT"];
pub const CONNECTION_TYPES: &[&str] = &["INTERNET", "VPC_LINK"];

/// AWS's default integration timeout; Tollgate accepts up to five minutes
/// (AWS's 29 s ceiling is too short for slow GPU APIs).
pub const DEFAULT_TIMEOUT_MS: i64 = 29_000;
pub const MIN_TIMEOUT_MS: i64 = 50;
pub const MAX_TIMEOUT_MS: i64 = 300_000;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TlsConfig {
    #[serde(default)]
    pub insecure_skip_verification: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IntegrationResponse {
    pub status_code: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selection_pattern: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub response_parameters: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub response_templates: BTreeMap<String, Option<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_handling: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Integration {
    #[serde(rename = "type")]
    pub integration_type: String,
    /// The integration's HTTP method (`integrationHttpMethod` on input).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_method: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub request_parameters: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub request_templates: BTreeMap<String, Option<String>>,
    pub passthrough_behavior: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_handling: Option<String>,
    pub timeout_in_millis: i64,
    pub cache_namespace: String,
    #[serde(default)]
    pub cache_key_parameters: Vec<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub integration_responses: BTreeMap<String, IntegrationResponse>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_config: Option<TlsConfig>,
}

/// True for `arn:aws:apigateway:{region}:lambda:path/{version}/functions/{function arn}/invocations`.
pub fn is_lambda_invocation_uri(uri: &str) -> bool {
    let Some(rest) = uri.strip_prefix("arn:aws:apigateway:") else {
        return false;
    };
    let Some((_region, rest)) = rest.split_once(':') else {
        return false;
    };
    let Some(rest) = rest.strip_prefix("lambda:path/") else {
        return false;
    };
    let Some((_version, rest)) = rest.split_once('/') else {
        return false;
    };
    rest.strip_prefix("functions/")
        .and_then(|f| f.strip_suffix("/invocations"))
        .is_some_and(|function| !function.is_empty())
}

/// True for a Firehose invocation URI (AWS_PROXY accepts those too).
fn is_firehose_uri(uri: &str) -> bool {
    uri.starts_with("arn:aws:apigateway:") && uri.contains(":firehose:")
}

/// Checks the type-specific rules of PutIntegration / UpdateIntegration.
pub fn validate(integration: &Integration) -> Result<()> {
    let uri = integration.uri.as_deref().unwrap_or("");
    match integration.integration_type.as_str() {
        "AWS_PROXY" if !is_lambda_invocation_uri(uri) && !is_firehose_uri(uri) => {
            return Err(ApiError::bad_request(
                "Integrations of type 'AWS_PROXY' currently only supports Lambda function and Firehose stream invocations.",
            ));
        }
        "AWS" if !uri.starts_with("arn:aws:apigateway:") => {
            return Err(ApiError::bad_request(
                "AWS ARN for integration must contain path or action",
            ));
        }
        "HTTP" | "HTTP_PROXY" if !(uri.starts_with("http://") || uri.starts_with("https://")) => {
            return Err(ApiError::bad_request(
                "Invalid HTTP endpoint specified for URI",
            ));
        }
        _ => {}
    }
    if matches!(
        integration.integration_type.as_str(),
        "HTTP" | "HTTP_PROXY" | "AWS" | "AWS_PROXY"
    ) {
        match integration.http_method.as_deref() {
            None | Some("") => {
                return Err(ApiError::bad_request(
                    "Enumeration value for HttpMethod must be non-empty",
                ))
            }
            Some(m) => crate::method::validate_http_method(m)?,
        }
    }
    if !(MIN_TIMEOUT_MS..=MAX_TIMEOUT_MS).contains(&integration.timeout_in_millis) {
        return Err(ApiError::bad_request(format!(
            "Timeout should be between {MIN_TIMEOUT_MS} ms and {MAX_TIMEOUT_MS} ms"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_lambda_uris() {
        assert!(is_lambda_invocation_uri("arn:aws:apigateway:REGION:lambda:path/2015-03-31/functions/arn:aws:lambda:REGION:ACCOUNT:function:multitalk-api-proxy/invocations"));
        assert!(!is_lambda_invocation_uri("https://example.com"));
        assert!(!is_lambda_invocation_uri(
            "arn:aws:apigateway:us-east-1:s3:path/bucket"
        ));
    }
}

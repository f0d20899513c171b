//! Access-log formats (`accessLogSettings.format`): text with `$context.*`
//! variables, rendered once per request from its outcome record.
//!
//! A variable with no value renders as `-`, as AWS does. Unlike AWS, values
//! are escaped for the format's shape, so a user agent with a quote cannot
//! break a JSON, XML or CSV line: a format that starts with `{` is JSON, with
//! `<` XML; one with commas between its variables and no spaces is CSV.

use std::fmt::Write as _;

use tollgate_gateway::Outcome;

/// The console's presets, as AWS offers them.
pub const CLF: &str = "$context.identity.sourceIp $context.identity.caller $context.identity.user [$context.requestTime] \"$context.httpMethod $context.resourcePath $context.protocol\" $context.status $context.responseLength $context.requestId $context.extendedRequestId";
pub const JSON: &str = "{ \"requestId\":\"$context.requestId\", \"extendedRequestId\":\"$context.extendedRequestId\", \"ip\": \"$context.identity.sourceIp\", \"caller\":\"$context.identity.caller\", \"user\":\"$context.identity.user\", \"requestTime\":\"$context.requestTime\", \"httpMethod\":\"$context.httpMethod\", \"resourcePath\":\"$context.resourcePath\", \"status\":\"$context.status\", \"protocol\":\"$context.protocol\", \"responseLength\":\"$context.responseLength\" }";
pub const XML: &str = "<request id=\"$context.requestId\"> <ip>$context.identity.sourceIp</ip> <caller>$context.identity.caller</caller> <user>$context.identity.user</user> <requestTime>$context.requestTime</requestTime> <httpMethod>$context.httpMethod</httpMethod> <resourcePath>$context.resourcePath</resourcePath> <status>$context.status</status> <protocol>$context.protocol</protocol> <responseLength>$context.responseLength</responseLength> </request>";
pub const CSV: &str = "$context.identity.sourceIp,$context.identity.caller,$context.identity.user,$context.requestTime,$context.httpMethod,$context.resourcePath,$context.protocol,$context.status,$context.responseLength,$context.requestId,$context.extendedRequestId";

/// How values are escaped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Text,
    Json,
    Xml,
    Csv,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Literal(String),
    Variable(Variable),
}

/// The `$context` variables an access log can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Variable {
    RequestId,
    ExtendedRequestId,
    ApiId,
    Stage,
    HttpMethod,
    ResourcePath,
    Path,
    Protocol,
    Status,
    ResponseLength,
    RequestTime,
    RequestTimeEpoch,
    SourceIp,
    UserAgent,
    ApiKeyId,
    ErrorMessage,
    ErrorMessageString,
    ErrorResponseType,
    IntegrationLatency,
    ResponseLatency,
    AuthorizerLatency,
    AuthorizerStatus,
    XrayTraceId,
    /// Known to AWS, not (yet) recorded here: renders `-`.
    Unknown,
}

fn variable(name: &str) -> Variable {
    use Variable::*;
    match name {
        "requestId" | "awsEndpointRequestId" => RequestId,
        "extendedRequestId" => ExtendedRequestId,
        "apiId" => ApiId,
        "stage" => Stage,
        "httpMethod" => HttpMethod,
        "resourcePath" => ResourcePath,
        "path" => Path,
        "protocol" => Protocol,
        "status" => Status,
        "responseLength" => ResponseLength,
        "requestTime" => RequestTime,
        "requestTimeEpoch" => RequestTimeEpoch,
        "identity.sourceIp" => SourceIp,
        "identity.userAgent" => UserAgent,
        "identity.apiKeyId" => ApiKeyId,
        "error.message" => ErrorMessage,
        "error.messageString" => ErrorMessageString,
        "error.responseType" => ErrorResponseType,
        "integrationLatency" | "integration.latency" => IntegrationLatency,
        "responseLatency" => ResponseLatency,
        "authorizer.latency" | "authorizer.integrationLatency" => AuthorizerLatency,
        "authorizer.status" => AuthorizerStatus,
        "xrayTraceId" => XrayTraceId,
        _ => Unknown,
    }
}

/// A compiled format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessLogFormat {
    pieces: Vec<Piece>,
    shape: Shape,
}

impl AccessLogFormat {
    /// Splits `format` into literal text and `$context.name` variables
    /// (names of letters, digits, `_` and inner dots).
    pub fn parse(format: &str) -> AccessLogFormat {
        const MARK: &str = "$context.";
        let mut pieces = Vec::new();
        let mut rest = format;
        let mut literal = String::new();
        while let Some(at) = rest.find(MARK) {
            literal.push_str(&rest[..at]);
            let after = &rest[at + MARK.len()..];
            let mut end = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
                .unwrap_or(after.len());
            // A dot that ends a sentence is not part of the name.
            while end > 0 && after.as_bytes()[end - 1] == b'.' {
                end -= 1;
            }
            if end == 0 {
                literal.push_str(MARK);
                rest = after;
                continue;
            }
            if !literal.is_empty() {
                pieces.push(Piece::Literal(std::mem::take(&mut literal)));
            }
            pieces.push(Piece::Variable(variable(&after[..end])));
            rest = &after[end..];
        }
        literal.push_str(rest);
        if !literal.is_empty() {
            pieces.push(Piece::Literal(literal));
        }
        let trimmed = format.trim_start();
        let shape = if trimmed.starts_with('{') {
            Shape::Json
        } else if trimmed.starts_with('<') {
            Shape::Xml
        } else if !format.contains(' ') && format.contains(',') {
            Shape::Csv
        } else {
            Shape::Text
        };
        AccessLogFormat { pieces, shape }
    }

    /// The line for one request.
    pub fn render(&self, o: &Outcome) -> String {
        let mut line = String::with_capacity(128);
        for piece in &self.pieces {
            match piece {
                Piece::Literal(text) => line.push_str(text),
                Piece::Variable(v) => {
                    let value = value(*v, o);
                    self.push_escaped(&mut line, value.as_deref().unwrap_or("-"));
                }
            }
        }
        line
    }

    fn push_escaped(&self, line: &mut String, value: &str) {
        match self.shape {
            Shape::Text => line.push_str(value),
            Shape::Json => {
                let quoted = serde_json::Value::String(value.to_string()).to_string();
                line.push_str(&quoted[1..quoted.len() - 1]);
            }
            Shape::Xml => {
                for c in value.chars() {
                    match c {
                        '<' => line.push_str("&lt;"),
                        '>' => line.push_str("&gt;"),
                        '&' => line.push_str("&amp;"),
                        '"' => line.push_str("&quot;"),
                        '\'' => line.push_str("&apos;"),
                        c => line.push(c),
                    }
                }
            }
            Shape::Csv => {
                if value.contains([',', '"', '\n', '\r']) {
                    line.push('"');
                    line.push_str(&value.replace('"', "\"\""));
                    line.push('"');
                } else {
                    line.push_str(value);
                }
            }
        }
    }
}

fn millis(d: std::time::Duration) -> String {
    d.as_millis().to_string()
}

fn value(v: Variable, o: &Outcome) -> Option<String> {
    use Variable::*;
    let some = |s: &str| (!s.is_empty()).then(|| s.to_string());
    match v {
        RequestId => some(&o.request_id),
        ExtendedRequestId => some(&o.extended_request_id),
        ApiId => some(&o.api_id),
        Stage => some(&o.stage),
        HttpMethod => some(o.http_method.as_str()),
        ResourcePath => some(&o.resource_path),
        Path => (!o.stage.is_empty()).then(|| {
            let mut p = String::with_capacity(o.stage.len() + o.path.len() + 1);
            let _ = write!(p, "/{}{}", o.stage, o.path);
            p
        }),
        Protocol => some(o.protocol),
        Status => Some(o.status.to_string()),
        ResponseLength => Some(o.bytes_out.to_string()),
        RequestTime => Some(tollgate_gateway::clf_time(o.request_time_epoch_ms)),
        RequestTimeEpoch => Some(o.request_time_epoch_ms.to_string()),
        SourceIp => some(&o.source_ip),
        UserAgent => o
            .user_agent
            .as_ref()
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
        ApiKeyId => o.api_key_id.clone(),
        ErrorMessage => o.error_type.map(|_| error_message(o)),
        ErrorMessageString => o
            .error_type
            .map(|_| serde_json::Value::String(error_message(o)).to_string()),
        ErrorResponseType => o.error_type.map(str::to_string),
        IntegrationLatency => o.integration_latency.map(millis),
        ResponseLatency => Some(millis(o.latency)),
        AuthorizerLatency => o.authorizer_latency.map(millis),
        AuthorizerStatus => o.authorizer_status.map(|s| s.to_string()),
        XrayTraceId => some(&o.trace_id),
        Unknown => None,
    }
}

/// `$context.error.message`: the gateway response's message for a failure.
fn error_message(o: &Outcome) -> String {
    match o.error_type {
        Some("THROTTLED") => "Too Many Requests",
        Some("QUOTA_EXCEEDED") => "Limit Exceeded",
        Some("UNAUTHORIZED") => "Unauthorized",
        Some("MISSING_AUTHENTICATION_TOKEN") => "Missing Authentication Token",
        Some("INVALID_API_KEY") | Some("ACCESS_DENIED") => "Forbidden",
        Some("INTEGRATION_TIMEOUT") => "Endpoint request timed out",
        Some("REQUEST_TOO_LARGE") => "Request Too Long",
        _ => "Internal server error",
    }
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome() -> Outcome {
        Outcome {
            request_id: "r-1".into(),
            extended_request_id: "e-1".into(),
            api_id: "abc".into(),
            stage: "prod".into(),
            path: "/api/v1/jobs".into(),
            resource_path: "/api/{proxy+}".into(),
            http_method: http::Method::GET,
            protocol: "HTTP/1.1",
            status: 403,
            error_type: Some("INVALID_API_KEY"),
            source_ip: "127.0.0.1".into(),
            user_agent: Some(http::HeaderValue::from_static("curl \"quoted\", <x>")),
            request_time_epoch_ms: 1_583_349_317_135,
            bytes_out: 23,
            ..Outcome::default()
        }
    }

    #[test]
    fn renders_aws_presets_and_variables() {
        let o = outcome();
        assert_eq!(
            AccessLogFormat::parse("$context.requestId").render(&o),
            "r-1"
        );
        assert_eq!(
            AccessLogFormat::parse(CLF).render(&o),
            "127.0.0.1 - - [04/Mar/2020:19:15:17 +0000] \"GET /api/{proxy+} HTTP/1.1\" 403 23 r-1 e-1"
        );
        let ended = AccessLogFormat::parse("id $context.requestId. at $context.path.").render(&o);
        assert_eq!(ended, "id r-1. at /prod/api/v1/jobs.");
        assert_eq!(
            AccessLogFormat::parse("$context.nope $context.error.messageString").render(&o),
            "- \"Forbidden\""
        );
    }

    #[test]
    fn escapes_values_for_the_formats_shape() {
        let o = outcome();
        let json = AccessLogFormat::parse(
            "{\"ua\":\"$context.identity.userAgent\",\"status\":\"$context.status\"}",
        )
        .render(&o);
        let parsed: serde_json::Value = serde_json::from_str(&json).expect("valid JSON");
        assert_eq!(parsed["ua"], "curl \"quoted\", <x>");
        let preset: serde_json::Value =
            serde_json::from_str(&AccessLogFormat::parse(JSON).render(&o)).expect("valid JSON");
        assert_eq!(preset["status"], "403");
        let xml = AccessLogFormat::parse("<r ua=\"$context.identity.userAgent\"/>").render(&o);
        assert_eq!(xml, "<r ua=\"curl &quot;quoted&quot;, &lt;x&gt;\"/>");
        let csv =
            AccessLogFormat::parse("$context.requestId,$context.identity.userAgent").render(&o);
        assert_eq!(csv, "r-1,\"curl \"\"quoted\"\", <x>\"");
    }
}

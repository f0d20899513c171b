//! Errors, and the reading of every error body the API and the gateway send
//! (`spec/multitalk-api.md` §1, "Auth and errors"; the guide's Lambda proxy):
//!
//! - the gateway's `{"message": "..."}` (AWS also writes `{"Message": ...}`,
//!   and `{"message": null}` for authorizer failures);
//! - FastAPI's `{"detail": "..."}`;
//! - api.py's documented error nested by FastAPI:
//!   `{"detail": {"error": ..., "detail": ..., "request_id": ...}}`;
//! - validation failures `{"detail": [{"loc": [...], "msg": ..., "type": ...}]}`;
//! - the Lambda proxy's flat `{"error": ..., "detail": ...}` (500, 504);
//! - plain-text (or HTML, or empty) bodies such as FastAPI's 500s.

use std::fmt;
use std::time::{Duration, SystemTime};

use serde_json::Value;

use crate::retry::parse_retry_after;
use crate::types::Job;

/// The longest piece of an error body kept in messages.
const MAX_MESSAGE: usize = 2000;

/// Everything a call can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The API or the gateway answered with an error status.
    #[error("{0}")]
    Api(Box<ApiError>),
    /// No answer: connection refused or reset, DNS, TLS, a timeout.
    #[error("{message}")]
    Transport {
        message: String,
        /// True when nothing reached the server (refused, unresolvable); such
        /// failures are not retried by single calls.
        connect: bool,
    },
    /// A success status whose body is not what the API sends.
    #[error("unexpected response to {operation} ({status}): {reason}; body: {body}")]
    InvalidResponse {
        operation: &'static str,
        status: u16,
        reason: String,
        body: String,
    },
    /// Refused before sending: the API would refuse it too.
    #[error("invalid {field}: {message}")]
    InvalidRequest {
        field: &'static str,
        message: String,
    },
    /// [`Client::wait`](crate::Client::wait) reached its deadline before the
    /// job finished.
    #[error("job {job_id} did not finish within {}s (last status: {})", .waited.as_secs(), last.as_ref().map(|j| j.status.as_str()).unwrap_or("unknown"))]
    Timeout {
        job_id: String,
        waited: Duration,
        last: Option<Box<Job>>,
    },
    /// The presigned download URL was refused (other than by expiring).
    #[error("the download URL was refused ({status}): {message}")]
    Download { status: u16, message: String },
    /// A bad endpoint or option.
    #[error("{0}")]
    Config(String),
    /// Writing a download.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

impl Error {
    pub(crate) fn invalid(field: &'static str, message: impl Into<String>) -> Error {
        Error::InvalidRequest {
            field,
            message: message.into(),
        }
    }

    /// The error response, when the server sent one.
    pub fn api(&self) -> Option<&ApiError> {
        match self {
            Error::Api(e) => Some(e),
            _ => None,
        }
    }

    /// 401, or a 403 that is about the key (not API Gateway's "Missing
    /// Authentication Token" for an unknown path).
    pub fn is_bad_credentials(&self) -> bool {
        self.api().is_some_and(ApiError::is_bad_credentials)
    }

    /// Worth trying again after a pause: 429 throttling (not an exhausted
    /// quota), 409 while an `Idempotency-Key` is in flight, 500/502/503/504,
    /// and transport failures after the connection was made.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Api(e) => e.is_retryable(),
            Error::Transport { connect, .. } => !connect,
            _ => false,
        }
    }

    /// What [`Client::wait`](crate::Client::wait) rides out until its
    /// deadline: what [`is_retryable`](Self::is_retryable) says, and a
    /// gateway that cannot be reached for a while (restarting).
    pub fn is_transient(&self) -> bool {
        self.is_retryable() || matches!(self, Error::Transport { .. })
    }

    /// `Retry-After` of the error response, if it had one.
    pub fn retry_after(&self) -> Option<Duration> {
        self.api().and_then(|e| e.retry_after)
    }
}

impl From<ApiError> for Error {
    fn from(e: ApiError) -> Self {
        Error::Api(Box::new(e))
    }
}

/// What kind of error response it was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// 401: a wrong key (`{"detail":"Invalid API key"}`), a missing one on
    /// FastAPI ≥ 0.122, or an authorizer's refusal.
    Unauthorized,
    /// 403 about credentials: the gateway's `{"message":"Forbidden"}` for a
    /// missing or unknown `x-api-key` (or an unknown stage), FastAPI < 0.122's
    /// `{"detail":"Not authenticated"}`, an IAM or authorizer deny.
    Forbidden,
    /// API Gateway's 403 `Missing Authentication Token`: no such path or
    /// method on the API (usually an endpoint without the stage).
    NoSuchRoute,
    /// 400: a job that cannot be cancelled or downloaded yet, or a body the
    /// gateway's validator refused.
    BadRequest,
    /// 404: no such job.
    NotFound,
    /// 405.
    MethodNotAllowed,
    /// 409: a request with the same `Idempotency-Key` is still in flight.
    Conflict,
    /// 422 with FastAPI's list of issues.
    Validation,
    /// Another 422: the `Idempotency-Key` was used with a different body.
    Unprocessable,
    /// 429 `Too Many Requests`: throttled; try again later.
    Throttled,
    /// 429 `Limit Exceeded`: the usage plan's quota is used up for its period.
    QuotaExceeded,
    /// 5xx.
    Server,
    /// Any other status.
    Other,
}

/// Where an error body came from, judged by its shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorSource {
    /// `{"message"}` / `{"Message"}`: API Gateway (or Tollgate) itself.
    Gateway,
    /// `{"detail"}`: the MultiTalk API (FastAPI).
    Api,
    /// `{"error"}` at the top level: the guide's Lambda proxy.
    Proxy,
    /// Not JSON, or JSON of no known shape.
    Unknown,
}

/// One entry of a FastAPI validation error.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidationIssue {
    /// `["body", "image_s3_url"]` and the like, joined with dots.
    pub loc: String,
    pub msg: String,
    pub kind: Option<String>,
}

impl fmt::Display for ValidationIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.loc.is_empty() {
            f.write_str(&self.msg)
        } else {
            write!(f, "{}: {}", self.loc, self.msg)
        }
    }
}

/// An error response, whichever shape its body had.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: u16,
    pub kind: ErrorKind,
    pub source: ErrorSource,
    /// The main text: the gateway's message, FastAPI's detail string, the
    /// nested `error`, the validation issues joined, or the text body.
    pub message: String,
    /// The nested or flat error's own `detail`, when there was one.
    pub detail: Option<String>,
    /// The nested error's `request_id`, else the gateway's request id header.
    pub request_id: Option<String>,
    /// FastAPI's validation issues (422).
    pub issues: Vec<ValidationIssue>,
    /// `x-amzn-ErrorType`, without its `:…` suffix.
    pub error_type: Option<String>,
    /// `Retry-After`, when one is sent (neither the API nor API Gateway does).
    pub retry_after: Option<Duration>,
    /// The body as received (cut to a couple of kilobytes).
    pub body: String,
}

impl ApiError {
    /// Reads an error response. `headers` are (name, value) pairs, names in
    /// any case.
    pub fn from_response<'a>(
        status: u16,
        headers: impl IntoIterator<Item = (&'a str, &'a str)>,
        body: &[u8],
    ) -> ApiError {
        let mut error_type = None;
        let mut header_request_id = None;
        let mut retry_after = None;
        for (name, value) in headers {
            let name = name.to_ascii_lowercase();
            match name.as_str() {
                "x-amzn-errortype" => {
                    let t = value.split(':').next().unwrap_or(value).trim();
                    if !t.is_empty() {
                        error_type = Some(t.to_owned());
                    }
                }
                "x-amzn-requestid" | "x-amz-apigw-id" | "x-request-id"
                    if header_request_id.is_none() && !value.is_empty() =>
                {
                    header_request_id = Some(value.to_owned())
                }
                "retry-after" => retry_after = parse_retry_after(value, SystemTime::now()),
                _ => {}
            }
        }
        let text = String::from_utf8_lossy(body);
        let parsed = parse_body(&text);
        let message = if parsed.message.trim().is_empty() {
            reason(status).to_owned()
        } else {
            parsed.message
        };
        let kind = classify(status, &message, error_type.as_deref(), parsed.validation);
        ApiError {
            status,
            kind,
            source: parsed.source,
            message,
            detail: parsed.detail,
            request_id: parsed.request_id.or(header_request_id),
            issues: parsed.issues,
            error_type,
            retry_after,
            body: truncate(&text, MAX_MESSAGE),
        }
    }

    pub fn is_bad_credentials(&self) -> bool {
        matches!(self.kind, ErrorKind::Unauthorized | ErrorKind::Forbidden)
    }

    pub fn is_retryable(&self) -> bool {
        match self.kind {
            ErrorKind::Throttled | ErrorKind::Conflict => true,
            ErrorKind::Server => matches!(self.status, 500 | 502 | 503 | 504),
            _ => false,
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status,
            reason(self.status),
            self.message
        )?;
        if let Some(detail) = &self.detail {
            if detail != &self.message {
                write!(f, " ({detail})")?;
            }
        }
        if let Some(id) = &self.request_id {
            write!(f, " [request id {id}]")?;
        }
        Ok(())
    }
}

struct ParsedBody {
    source: ErrorSource,
    message: String,
    detail: Option<String>,
    request_id: Option<String>,
    issues: Vec<ValidationIssue>,
    /// `detail` was FastAPI's list of issues (possibly empty).
    validation: bool,
}

fn parse_body(text: &str) -> ParsedBody {
    let mut out = ParsedBody {
        source: ErrorSource::Unknown,
        message: String::new(),
        detail: None,
        request_id: None,
        issues: Vec::new(),
        validation: false,
    };
    let value: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(_) => {
            out.message = plain_text(text);
            return out;
        }
    };
    let Value::Object(map) = &value else {
        out.message = match &value {
            Value::String(s) => truncate(s, MAX_MESSAGE),
            other => truncate(&other.to_string(), MAX_MESSAGE),
        };
        return out;
    };
    if let Some(m) = map.get("message").or_else(|| map.get("Message")) {
        out.source = ErrorSource::Gateway;
        out.message = match m {
            Value::Null => String::new(),
            other => text_of(other),
        };
        return out;
    }
    if let Some(detail) = map.get("detail").filter(|_| !map.contains_key("error")) {
        out.source = ErrorSource::Api;
        match detail {
            Value::String(s) => out.message = truncate(s, MAX_MESSAGE),
            Value::Array(items) => {
                out.validation = true;
                out.issues = items.iter().map(issue).collect();
                out.message = out
                    .issues
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; ");
                // An empty list leaves the message empty: the status's
                // reason phrase stands in, as for every other empty body.
            }
            Value::Object(nested) => {
                if let Some(error) = nested.get("error") {
                    out.message = text_of(error);
                    out.detail = nested.get("detail").filter(|d| !d.is_null()).map(text_of);
                    out.request_id = nested
                        .get("request_id")
                        .filter(|r| !r.is_null())
                        .map(text_of);
                } else if let Some(m) = nested.get("message").or_else(|| nested.get("msg")) {
                    out.message = text_of(m);
                } else {
                    out.message = truncate(&detail.to_string(), MAX_MESSAGE);
                }
            }
            Value::Null => {}
            other => out.message = text_of(other),
        }
        return out;
    }
    if let Some(error) = map.get("error") {
        // The Lambda proxy's `{"error":"Gateway timeout"}` and
        // `{"error":"Internal server error","detail":...}`; also api.py's
        // documented (but never sent flat) `{"error","detail","request_id"}`.
        out.source = ErrorSource::Proxy;
        out.message = text_of(error);
        out.detail = map.get("detail").filter(|d| !d.is_null()).map(text_of);
        out.request_id = map.get("request_id").filter(|r| !r.is_null()).map(text_of);
        return out;
    }
    out.message = truncate(&value.to_string(), MAX_MESSAGE);
    out
}

fn issue(item: &Value) -> ValidationIssue {
    let loc = match item.get("loc") {
        Some(Value::Array(parts)) => parts
            .iter()
            .map(|p| match p {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect::<Vec<_>>()
            .join("."),
        Some(Value::String(s)) => s.clone(),
        _ => String::new(),
    };
    let msg = match item.get("msg") {
        Some(m) => text_of(m),
        None => match item {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        },
    };
    ValidationIssue {
        loc,
        msg,
        kind: item.get("type").and_then(Value::as_str).map(str::to_owned),
    }
}

fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => truncate(s, MAX_MESSAGE),
        other => truncate(&other.to_string(), MAX_MESSAGE),
    }
}

/// A text body made one readable line: HTML tags dropped, whitespace folded.
fn plain_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(MAX_MESSAGE));
    let mut in_tag = false;
    let looks_html = text.trim_start().starts_with('<');
    for c in text.chars() {
        match c {
            '<' if looks_html => in_tag = true,
            '>' if looks_html && in_tag => {
                in_tag = false;
                // A tag separates words, but folds with whitespace around it.
                if !out.ends_with(' ') {
                    out.push(' ');
                }
            }
            _ if in_tag => {}
            c if c.is_whitespace() => {
                if !out.ends_with(' ') {
                    out.push(' ');
                }
            }
            c => out.push(c),
        }
    }
    truncate(out.trim(), MAX_MESSAGE)
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

fn classify(status: u16, message: &str, error_type: Option<&str>, validation: bool) -> ErrorKind {
    let type_is = |t: &str| error_type.is_some_and(|e| e.eq_ignore_ascii_case(t));
    match status {
        401 => ErrorKind::Unauthorized,
        403 if type_is("MissingAuthenticationTokenException")
            || message == "Missing Authentication Token" =>
        {
            ErrorKind::NoSuchRoute
        }
        403 => ErrorKind::Forbidden,
        400 => ErrorKind::BadRequest,
        404 => ErrorKind::NotFound,
        405 => ErrorKind::MethodNotAllowed,
        409 => ErrorKind::Conflict,
        422 if validation => ErrorKind::Validation,
        422 => ErrorKind::Unprocessable,
        429 if type_is("LimitExceededException") || message == "Limit Exceeded" => {
            ErrorKind::QuotaExceeded
        }
        429 => ErrorKind::Throttled,
        500..=599 => ErrorKind::Server,
        _ => ErrorKind::Other,
    }
}

/// The reason phrase of a status.
pub(crate) fn reason(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        413 => "Payload Too Large",
        415 => "Unsupported Media Type",
        422 => "Unprocessable Entity",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(status: u16, body: &str) -> ApiError {
        ApiError::from_response(status, [], body.as_bytes())
    }

    #[test]
    fn gateway_message() {
        let e = parse(403, r#"{"message":"Forbidden"}"#);
        assert_eq!(
            (e.kind, e.source, e.message.as_str()),
            (ErrorKind::Forbidden, ErrorSource::Gateway, "Forbidden")
        );
        assert!(e.is_bad_credentials() && !e.is_retryable());
        // Integration-path errors carry a space after the colon.
        let e = parse(504, r#"{"message": "Endpoint request timed out"}"#);
        assert_eq!(e.message, "Endpoint request timed out");
        assert!(e.is_retryable());
    }

    #[test]
    fn gateway_capital_message_and_null() {
        let e = parse(
            403,
            r#"{"Message":"User is not authorized to access this resource"}"#,
        );
        assert_eq!(e.source, ErrorSource::Gateway);
        assert_eq!(e.message, "User is not authorized to access this resource");
        assert!(e.is_bad_credentials());
        // An authorizer failure: `{"message":null}`, status 500.
        let e = parse(500, r#"{"message":null}"#);
        assert_eq!(e.message, "Internal Server Error");
        assert_eq!(e.kind, ErrorKind::Server);
    }

    #[test]
    fn missing_authentication_token_is_a_route_not_a_key() {
        let e = parse(403, r#"{"message":"Missing Authentication Token"}"#);
        assert_eq!(e.kind, ErrorKind::NoSuchRoute);
        assert!(!e.is_bad_credentials());
        let e = ApiError::from_response(
            403,
            [(
                "X-Amzn-ErrorType",
                "MissingAuthenticationTokenException:http://internal.amazon.com/coral/",
            )],
            b"{\"message\":\"whatever\"}",
        );
        assert_eq!(e.kind, ErrorKind::NoSuchRoute);
        assert_eq!(
            e.error_type.as_deref(),
            Some("MissingAuthenticationTokenException")
        );
    }

    #[test]
    fn throttle_and_quota() {
        let e = ApiError::from_response(
            429,
            [
                ("x-amzn-ErrorType", "TooManyRequestsException"),
                ("x-amzn-RequestId", "r-1"),
            ],
            br#"{"message":"Too Many Requests"}"#,
        );
        assert_eq!(e.kind, ErrorKind::Throttled);
        assert_eq!(e.request_id.as_deref(), Some("r-1"));
        assert!(e.is_retryable());
        assert_eq!(e.retry_after, None);
        let e = parse(429, r#"{"message":"Limit Exceeded"}"#);
        assert_eq!(e.kind, ErrorKind::QuotaExceeded);
        assert!(!e.is_retryable());
    }

    #[test]
    fn retry_after_header_is_read() {
        let e = ApiError::from_response(
            429,
            [("Retry-After", "7")],
            br#"{"message":"Too Many Requests"}"#,
        );
        assert_eq!(e.retry_after, Some(Duration::from_secs(7)));
        let e = ApiError::from_response(503, [("retry-after", "soon")], b"busy");
        assert_eq!(e.retry_after, None);
    }

    #[test]
    fn fastapi_detail_string_401_and_403() {
        let e = parse(401, r#"{"detail":"Invalid API key"}"#);
        assert_eq!(
            (e.kind, e.source, e.message.as_str()),
            (ErrorKind::Unauthorized, ErrorSource::Api, "Invalid API key")
        );
        assert!(e.is_bad_credentials());
        let e = parse(403, r#"{"detail":"Not authenticated"}"#);
        assert_eq!(e.kind, ErrorKind::Forbidden);
        assert!(e.is_bad_credentials());
        assert_eq!(e.to_string(), "403 Forbidden: Not authenticated");
    }

    #[test]
    fn fastapi_nested_error_object() {
        let e = parse(
            404,
            r#"{"detail":{"error":"Job not found","detail":"No job with ID abc","request_id":"abc"}}"#,
        );
        assert_eq!(e.kind, ErrorKind::NotFound);
        assert_eq!(e.message, "Job not found");
        assert_eq!(e.detail.as_deref(), Some("No job with ID abc"));
        assert_eq!(e.request_id.as_deref(), Some("abc"));
        assert_eq!(
            e.to_string(),
            "404 Not Found: Job not found (No job with ID abc) [request id abc]"
        );
        let e = parse(
            400,
            r#"{"detail":{"error":"Job cannot be cancelled","detail":"Job is already JobStatus.COMPLETED","request_id":null}}"#,
        );
        assert_eq!(e.kind, ErrorKind::BadRequest);
        assert_eq!(
            e.detail.as_deref(),
            Some("Job is already JobStatus.COMPLETED")
        );
        assert_eq!(e.request_id, None);
        // An object of another shape is shown as JSON.
        let e = parse(400, r#"{"detail":{"reason":"x"}}"#);
        assert_eq!(e.message, r#"{"reason":"x"}"#);
    }

    #[test]
    fn fastapi_validation_list() {
        let e = parse(
            422,
            r#"{"detail":[{"type":"value_error","loc":["body","image_s3_url"],"msg":"Value error, Invalid S3 URL","input":"x"},
                          {"type":"missing","loc":["body","prompt"],"msg":"Field required","input":{}},
                          {"type":"int_parsing","loc":["query","limit",0],"msg":"Input should be a valid integer"}]}"#,
        );
        assert_eq!(e.kind, ErrorKind::Validation);
        assert_eq!(e.issues.len(), 3);
        assert_eq!(e.issues[0].loc, "body.image_s3_url");
        assert_eq!(e.issues[2].loc, "query.limit.0");
        assert_eq!(e.issues[1].kind.as_deref(), Some("missing"));
        assert_eq!(
            e.message,
            "body.image_s3_url: Value error, Invalid S3 URL; body.prompt: Field required; query.limit.0: Input should be a valid integer"
        );
        // A list of plain strings, and an empty list.
        assert_eq!(parse(422, r#"{"detail":["bad"]}"#).message, "bad");
        let empty = parse(422, r#"{"detail":[]}"#);
        assert_eq!(
            (empty.kind, empty.message.as_str()),
            (ErrorKind::Validation, "Unprocessable Entity")
        );
    }

    #[test]
    fn idempotency_answers_of_the_gateway() {
        let e = parse(
            422,
            r#"{"message":"This Idempotency-Key was used with a different request body"}"#,
        );
        assert_eq!(e.kind, ErrorKind::Unprocessable);
        assert!(!e.is_retryable());
        let e = parse(
            409,
            r#"{"message":"A request with this Idempotency-Key is still being processed"}"#,
        );
        assert_eq!(e.kind, ErrorKind::Conflict);
        assert!(e.is_retryable());
    }

    #[test]
    fn lambda_proxy_flat_errors() {
        let e = parse(504, r#"{"error":"Gateway timeout"}"#);
        assert_eq!(
            (e.kind, e.source, e.message.as_str()),
            (ErrorKind::Server, ErrorSource::Proxy, "Gateway timeout")
        );
        assert!(e.is_retryable());
        let e = parse(
            500,
            r#"{"error":"Internal server error","detail":"HTTPConnectionPool(host='x'): Max retries exceeded"}"#,
        );
        assert_eq!(e.message, "Internal server error");
        assert!(e.detail.unwrap().contains("Max retries"));
        // api.py's documented flat shape.
        let e = parse(
            404,
            r#"{"error":"Job not found","detail":null,"request_id":"r"}"#,
        );
        assert_eq!(
            (e.message.as_str(), e.request_id.as_deref()),
            ("Job not found", Some("r"))
        );
    }

    #[test]
    fn plain_text_html_and_empty_bodies() {
        let e = parse(500, "Internal Server Error");
        assert_eq!(
            (e.kind, e.source, e.message.as_str()),
            (
                ErrorKind::Server,
                ErrorSource::Unknown,
                "Internal Server Error"
            )
        );
        let e = parse(
            502,
            "<html><head><title>502 Bad Gateway</title></head>\n<body>nginx</body></html>",
        );
        assert_eq!(e.message, "502 Bad Gateway nginx");
        let e = parse(503, "");
        assert_eq!(e.message, "Service Unavailable");
        let e = parse(500, r#""a JSON string""#);
        assert_eq!(e.message, "a JSON string");
        let e = parse(418, r#"{"something":"else"}"#);
        assert_eq!(
            (e.kind, e.message.as_str()),
            (ErrorKind::Other, r#"{"something":"else"}"#)
        );
        // Invalid UTF-8 and long bodies do not fail.
        let e = ApiError::from_response(500, [], &[0xff, 0xfe, b'x']);
        assert!(e.message.ends_with('x'));
        let long = "y".repeat(10_000);
        assert!(parse(500, &long).message.len() < 2100);
    }

    #[test]
    fn errors_say_what_they_are() {
        let e: Error = parse(401, r#"{"detail":"Invalid API key"}"#).into();
        assert!(e.is_bad_credentials());
        assert!(!e.is_retryable());
        let t = Error::Transport {
            message: "connection refused".into(),
            connect: true,
        };
        assert!(!t.is_retryable() && t.is_transient());
        let t = Error::Transport {
            message: "timed out".into(),
            connect: false,
        };
        assert!(t.is_retryable());
        assert!(!parse(501, "nope").is_retryable());
    }
}

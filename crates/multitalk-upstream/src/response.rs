//! Responses, and the one error type every failure leaves through, in the
//! shapes FastAPI gives them.

use bytes::Bytes;
use http::{header, HeaderValue, Response, StatusCode};
use http_body_util::Full;
use serde::Serialize;
use serde_json::Value;

/// What every handler returns.
pub type HttpResponse = Response<Full<Bytes>>;

const JSON: HeaderValue = HeaderValue::from_static("application/json");

/// A JSON response from ready bytes.
pub fn json_bytes(status: StatusCode, body: Bytes) -> HttpResponse {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, JSON);
    response
}

/// A JSON response from anything serialisable.
pub fn json<T: Serialize>(status: StatusCode, value: &T) -> HttpResponse {
    match serde_json::to_vec(value) {
        Ok(body) => json_bytes(status, Bytes::from(body)),
        // Only a map with non-string keys fails; none of ours has one.
        Err(_) => json_bytes(
            StatusCode::INTERNAL_SERVER_ERROR,
            Bytes::from_static(b"{\"detail\":\"Internal Server Error\"}"),
        ),
    }
}

/// One entry of FastAPI's 422 `detail` list (pydantic v2's error shape; FastAPI
/// drops pydantic's `url`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ValidationIssue {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub loc: Vec<Value>,
    pub msg: String,
    /// Boxed, like `ctx`: serde_json's `preserve_order` (enabled in this
    /// workspace by tollgate-vtl) makes a `Value` large.
    pub input: Box<Value>,
    /// Boxed: rarely present, and it keeps `Result<_, ValidationIssue>` small.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ctx: Option<Box<Value>>,
}

impl ValidationIssue {
    pub fn new(kind: &'static str, loc: Vec<Value>, msg: impl Into<String>, input: Value) -> Self {
        ValidationIssue {
            kind,
            loc,
            msg: msg.into(),
            input: Box::new(input),
            ctx: None,
        }
    }

    pub fn with_ctx(mut self, ctx: Value) -> Self {
        self.ctx = Some(Box::new(ctx));
        self
    }
}

/// FastAPI's `{"detail": ...}` around every error.
#[derive(Serialize)]
struct Detail<T> {
    detail: T,
}

/// api.py's `ErrorResponse`, field order kept.
#[derive(Serialize)]
struct ErrorResponse<'a> {
    error: &'a str,
    detail: Option<&'a str>,
    request_id: Option<&'a str>,
}

/// Every way a request can fail.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// HTTPBearer with no usable `Authorization` header: 403, not 401 (spec §1).
    #[error("Not authenticated")]
    NotAuthenticated,
    /// HTTPBearer with a scheme other than Bearer.
    #[error("Invalid authentication credentials")]
    InvalidScheme,
    /// A bearer token that is not one of the configured keys.
    #[error("Invalid API key")]
    InvalidApiKey,
    /// api.py raises `HTTPException(detail=ErrorResponse(...).dict())`, so the
    /// documented flat error arrives nested under `detail`.
    #[error("Job not found")]
    JobNotFound {
        detail: Option<String>,
        request_id: Option<String>,
    },
    /// A 400 in the same nested `ErrorResponse` shape.
    #[error("{error}")]
    BadRequest { error: &'static str, detail: String },
    #[error("request validation failed")]
    Validation(Vec<ValidationIssue>),
    #[error("Not Found")]
    NotFound,
    #[error("Method Not Allowed")]
    MethodNotAllowed { allow: &'static str },
    #[error("Request body too large")]
    BodyTooLarge,
    #[error("Could not read the request body")]
    BodyUnreadable,
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::NotAuthenticated | ApiError::InvalidScheme => StatusCode::FORBIDDEN,
            ApiError::InvalidApiKey => StatusCode::UNAUTHORIZED,
            ApiError::JobNotFound { .. } | ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::BadRequest { .. } | ApiError::BodyUnreadable => StatusCode::BAD_REQUEST,
            ApiError::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        }
    }

    pub fn into_response(self) -> HttpResponse {
        let status = self.status();
        let mut response = match &self {
            ApiError::JobNotFound { detail, request_id } => json(
                status,
                &Detail {
                    detail: ErrorResponse {
                        error: "Job not found",
                        detail: detail.as_deref(),
                        request_id: request_id.as_deref(),
                    },
                },
            ),
            ApiError::BadRequest { error, detail } => json(
                status,
                &Detail {
                    detail: ErrorResponse {
                        error,
                        detail: Some(detail),
                        request_id: None,
                    },
                },
            ),
            ApiError::Validation(issues) => json(status, &Detail { detail: issues }),
            other => json(
                status,
                &Detail {
                    detail: other.to_string(),
                },
            ),
        };
        match self {
            ApiError::InvalidApiKey => {
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            ApiError::MethodNotAllowed { allow } => {
                response
                    .headers_mut()
                    .insert(header::ALLOW, HeaderValue::from_static(allow));
            }
            _ => {}
        }
        response
    }
}

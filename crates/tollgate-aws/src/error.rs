//! AWS error responses as each protocol shapes them.

use bytes::Bytes;
use http::{header, HeaderValue, Response, StatusCode};

use crate::request_id::REQUEST_ID_HEADER;

/// The rest-json error shape (`spec/aws-apigw.md` §1.2): status, `{"message": …}`,
/// `x-amzn-ErrorType: <Code>` and `x-amzn-RequestId`.
pub fn rest_json_error(
    status: u16,
    code: &str,
    message: &str,
    request_id: &str,
) -> Response<Bytes> {
    let body = serde_json::json!({ "message": message }).to_string();
    let mut response = Response::new(Bytes::from(body));
    *response.status_mut() =
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Ok(v) = HeaderValue::from_str(code) {
        headers.insert("x-amzn-ErrorType", v);
    }
    if let Ok(v) = HeaderValue::from_str(request_id) {
        headers.insert(REQUEST_ID_HEADER, v);
    }
    if status == 429 || status == 503 {
        headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    response
}

/// A rest-json success: JSON body (or none) with `x-amzn-RequestId`.
pub fn rest_json_ok(
    status: u16,
    body: Option<&serde_json::Value>,
    request_id: &str,
) -> Response<Bytes> {
    let bytes = body.map(|b| Bytes::from(b.to_string())).unwrap_or_default();
    let mut response = Response::new(bytes);
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Ok(v) = HeaderValue::from_str(request_id) {
        headers.insert(REQUEST_ID_HEADER, v);
    }
    response
}

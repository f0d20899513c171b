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

/// The AWS JSON protocols' error shape (json 1.0 and 1.1): status,
/// `{"__type": code, "message": …}` and `x-amzn-ErrorType`.
pub fn aws_json_error(
    version: &str,
    status: u16,
    code: &str,
    message: &str,
    request_id: &str,
) -> Response<Bytes> {
    let body = serde_json::json!({ "__type": code, "message": message }).to_string();
    let mut response = rest_json_error(status, code, message, request_id);
    *response.body_mut() = Bytes::from(body);
    if let Ok(v) = HeaderValue::from_str(&format!("application/x-amz-json-{version}")) {
        response.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    response
}

/// An AWS JSON protocol success.
pub fn aws_json_ok(version: &str, body: &serde_json::Value, request_id: &str) -> Response<Bytes> {
    let mut response = rest_json_ok(200, Some(body), request_id);
    if let Ok(v) = HeaderValue::from_str(&format!("application/x-amz-json-{version}")) {
        response.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    response
}

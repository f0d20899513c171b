//! The front door: every request is for a deployed API (execute-api, the
//! data plane) or for the control plane (SigV4-verified rest-json), or is
//! answered here when it is for a part of Tollgate that does not exist yet.

use std::net::SocketAddr;
use std::time::SystemTime;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Either, Full, Limited};
use tollgate_aws::error::{rest_json_error, rest_json_ok};
use tollgate_aws::request_id::{is_uuid, new_request_id};
use tollgate_aws::sigv4;
use tollgate_control::ControlRequest;
use tollgate_gateway::test_invoke::{self, TestInvokeError, TestInvokeInput};
use tollgate_gateway::ObservedBody;
use tollgate_http1::request::RawHead;
use tollgate_http1::RequestBody;
use tollgate_model::ErrorCode;

use crate::app::{App, MAX_CONTROL_BODY, MAX_FUNCTION_CODE_BODY};

/// A response of the data plane (streamed, observed) or of the rest.
pub type ResponseBody = Either<ObservedBody, Full<Bytes>>;

/// `raw_head`: the head as an HTTP/1 client sent it (HTTP/2 has none).
pub async fn handle(
    app: &App,
    peer: SocketAddr,
    req: Request<RequestBody>,
    raw_head: Option<RawHead>,
) -> Response<ResponseBody> {
    // Host and the client's request id in one pass over the headers: each
    // looked up by name would cost a hash of the name. (Of a repeated
    // header, the first value counts, as with `HeaderMap::get`.)
    let (mut host, mut client_request_id) = (None, None);
    for (name, value) in req.headers() {
        if *name == http::header::HOST {
            host = host.or(Some(value));
        } else if *name == tollgate_gateway::REQUEST_ID {
            client_request_id = client_request_id.or(Some(value));
        }
    }
    let host = host
        .and_then(|h| h.to_str().ok())
        .or_else(|| req.uri().host())
        .unwrap_or("");
    if let Some(mut target) = app.gateway.invoke_target(host, req.uri().path()) {
        target.public = app.data_plane_only;
        // A client may choose its request id, if it is a UUID (spec §2.2);
        // only otherwise is one made.
        let request_id = client_request_id
            .and_then(|v| v.to_str().ok())
            .filter(|v| is_uuid(v))
            .map_or_else(new_request_id, str::to_string);
        // Pinned where it is made: awaited by value, the pipeline's future
        // (kilobytes) would be copied once more on every request.
        let pipeline = std::pin::pin!(app.gateway.handle(target, req, raw_head, peer, request_id));
        return pipeline.await.map(Either::Left);
    }
    let request_id = new_request_id();
    if app.data_plane_only {
        return rest_json_error(403, "ForbiddenException", "Forbidden", &request_id).map(whole);
    }
    // Boxed: the rare control-plane request should not make every
    // connection's future as large as its own.
    Box::pin(route(app, req, &request_id)).await.map(whole)
}

fn whole(bytes: Bytes) -> ResponseBody {
    Either::Right(Full::new(bytes))
}

/// The answer to a request head the HTTP/1 front end cannot read, in API
/// Gateway's error shape.
pub fn refusal(refused: tollgate_http1::request::HeadError) -> Response<Bytes> {
    use tollgate_http1::request::HeadError;
    let (status, code, message) = match refused {
        HeadError::Malformed => (400, "BadRequestException", "Bad Request"),
        HeadError::TooLarge => (
            431,
            "RequestHeaderFieldsTooLargeException",
            "Request Header Fields Too Large",
        ),
    };
    let mut response = Response::new(Bytes::from(
        serde_json::json!({ "message": message }).to_string(),
    ));
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    let headers = response.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    headers.insert("x-amzn-errortype", http::HeaderValue::from_static(code));
    response
}

/// Decides which part of Tollgate a non-execute-api request is for.
async fn route(app: &App, req: Request<RequestBody>, request_id: &str) -> Response<Bytes> {
    let path = req.uri().path();
    if path == "/_tollgate/health" {
        return rest_json_ok(200, Some(&serde_json::json!({"status": "ok"})), request_id);
    }
    if path == "/metrics" && req.method() == http::Method::GET {
        return crate::observe_api::prometheus_text();
    }
    // The link an SNS subscriber follows carries no signature (as on AWS).
    if path == "/" && !req.headers().contains_key(http::header::AUTHORIZATION) {
        if let Some(query) = req.uri().query() {
            if let Some(response) =
                crate::observe_api::confirm_subscription(app, query, request_id).await
            {
                return response;
            }
        }
    }
    control_plane(app, req, request_id).await
}

/// The body limit of a control-plane call: function code is larger.
fn control_body_limit(method: &http::Method, path: &str) -> usize {
    let code = (method == http::Method::POST
        && path.trim_end_matches('/') == "/2015-03-31/functions")
        || (method == http::Method::PUT
            && path.starts_with("/2015-03-31/functions/")
            && path.ends_with("/code"));
    if code {
        MAX_FUNCTION_CODE_BODY
    } else {
        MAX_CONTROL_BODY
    }
}

/// `POST /2015-03-31/functions/{name}/invocations`: Lambda's Invoke.
fn invoke_path(path: &str) -> Option<&str> {
    path.strip_prefix("/2015-03-31/functions/")?
        .strip_suffix("/invocations")
        .filter(|name| !name.is_empty() && !name.contains('/'))
}

async fn control_plane(app: &App, req: Request<RequestBody>, request_id: &str) -> Response<Bytes> {
    let (parts, body) = req.into_parts();
    let limit = control_body_limit(&parts.method, parts.uri.path());
    let body = match Limited::new(body, limit).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => {
            return rest_json_error(
                413,
                "RequestEntityTooLargeException",
                "Request body is too large",
                request_id,
            )
        }
    };
    let identity = match sigv4::verify(&parts, &body, &*app.secrets, SystemTime::now()) {
        Ok(identity) => identity,
        Err(e) => return rest_json_error(e.status(), e.code(), &e.message(), request_id),
    };
    if is_query_protocol(&parts) {
        if matches!(identity.service.as_str(), "monitoring" | "sns") {
            let params = parse_form(&body);
            return crate::observe_api::query_call(app, &identity.service, &params, request_id)
                .await;
        }
        return query_protocol(app, &identity, &body, request_id).await;
    }
    if let Some((service, operation)) =
        tollgate_aws::wire::cbor::operation_of_path(parts.uri.path())
    {
        if service == "GraniteServiceVersion20100801" && parts.method == http::Method::POST {
            return crate::observe_api::cloudwatch(
                app,
                crate::observe_api::Protocol::Cbor,
                operation,
                &body,
                request_id,
            )
            .await;
        }
    }
    if let Some(target) = parts
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
    {
        return json_protocol(app, target, body, request_id).await;
    }
    if parts.method == http::Method::POST {
        if let Some((api_id, target)) = test_invoke_path(parts.uri.path()) {
            return test_invoke(app, &api_id, target, &body, request_id).await;
        }
        if let Some(name) = invoke_path(parts.uri.path()) {
            return crate::lambda::invoke(
                &app.lambda,
                &app.control,
                name,
                &parts.headers,
                body,
                request_id,
            )
            .await;
        }
    }
    let request = ControlRequest {
        method: parts.method.as_str().to_string(),
        path: parts.uri.path().to_string(),
        query: parse_query(parts.uri.query().unwrap_or("")),
        body: body.to_vec(),
        accept: parts
            .headers
            .get(http::header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
    };
    let control = app.control.clone();
    // Operations take a lock and write SQLite: keep them off the async workers.
    let outcome = tokio::task::spawn_blocking(move || {
        let reply = control.handle(&request);
        (request, reply)
    })
    .await;
    match outcome {
        Ok((request, Ok(reply))) => {
            after_control_operation(app, &request);
            match reply.raw {
                Some((content_type, bytes)) => raw_ok(content_type, bytes, request_id),
                None => rest_json_ok(reply.status, reply.body.as_ref(), request_id),
            }
        }
        Ok((_, Err(e))) => rest_json_error(e.code.status(), e.code.name(), &e.message, request_id),
        Err(join) => {
            tracing::error!(error = %join, "control-plane operation panicked");
            let code = ErrorCode::Internal;
            let mut r = rest_json_error(
                code.status(),
                code.name(),
                "Internal server error",
                request_id,
            );
            *r.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
            r
        }
    }
}

/// An AWS JSON-protocol call (`X-Amz-Target: {service}.{Operation}`).
async fn json_protocol(app: &App, target: &str, body: Bytes, request_id: &str) -> Response<Bytes> {
    if let Some(operation) = target.strip_prefix("Logs_20140328.") {
        return crate::observe_api::logs(app, operation, &body, request_id).await;
    }
    if let Some(operation) = target.strip_prefix("GraniteServiceVersion20100801.") {
        return crate::observe_api::cloudwatch(
            app,
            crate::observe_api::Protocol::Json,
            operation,
            &body,
            request_id,
        )
        .await;
    }
    let version = match target.split('.').next() {
        // CloudWatch speaks json 1.0; the rest here, json 1.1.
        Some("GraniteServiceVersion20100801") => "1.0",
        _ => "1.1",
    };
    let control = app.control.clone();
    let target_owned = target.to_string();
    let outcome =
        tokio::task::spawn_blocking(move || control.handle_json(&target_owned, &body)).await;
    match outcome {
        Ok(Ok(reply)) => tollgate_aws::error::aws_json_ok(version, &reply, request_id),
        Ok(Err(e)) => {
            let mut response = tollgate_aws::error::aws_json_error(
                version,
                e.code.status(),
                e.code.name(),
                &e.message,
                request_id,
            );
            if version == "1.0" {
                if let Ok(v) = http::HeaderValue::from_str(&format!("{};Sender", e.code.name())) {
                    response.headers_mut().insert("x-amzn-query-error", v);
                }
            }
            response
        }
        Err(join) => {
            tracing::error!(error = %join, "JSON-protocol operation panicked");
            tollgate_aws::error::aws_json_error(
                version,
                500,
                "InternalServiceError",
                "Internal server error",
                request_id,
            )
        }
    }
}

/// IAM and STS (and older SDKs' CloudWatch) speak the query protocol:
/// `POST /` with a form-encoded `Action=…` body.
fn is_query_protocol(parts: &http::request::Parts) -> bool {
    parts.method == http::Method::POST
        && parts.uri.path() == "/"
        && parts
            .headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| t.starts_with("application/x-www-form-urlencoded"))
}

/// A query-protocol call, to the service its signature is scoped to.
async fn query_protocol(
    app: &App,
    identity: &sigv4::VerifiedIdentity,
    body: &[u8],
    request_id: &str,
) -> Response<Bytes> {
    let params = parse_form(body);
    let service = identity.service.clone();
    let caller = identity.access_key_id.clone();
    let control = app.control.clone();
    let request_id_owned = request_id.to_string();
    let outcome = tokio::task::spawn_blocking(move || {
        let request = tollgate_control::query::QueryRequest {
            service: &service,
            params: &params,
        };
        let action = request.action().to_string();
        let result = control.handle_query(&request, &caller);
        (service.clone(), action, result)
    })
    .await;
    let (status, document) = match outcome {
        Ok((service, action, Ok(reply))) => (
            200,
            tollgate_control::query::response_document(
                &service,
                &action,
                &reply,
                &request_id_owned,
            ),
        ),
        Ok((service, _, Err(e))) => (
            e.code.status(),
            tollgate_control::query::error_document(
                &service,
                e.code.name(),
                &e.message,
                &request_id_owned,
            ),
        ),
        Err(join) => {
            tracing::error!(error = %join, "query operation panicked");
            (
                500,
                tollgate_control::query::error_document(
                    "iam",
                    "ServiceFailure",
                    "Internal server error",
                    &request_id_owned,
                ),
            )
        }
    };
    let mut response = Response::new(Bytes::from(document));
    *response.status_mut() =
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/xml"),
    );
    if let Ok(v) = http::HeaderValue::from_str(request_id) {
        response.headers_mut().insert("x-amzn-requestid", v);
    }
    response
}

/// A form-encoded body's pairs (`+` is a space here, unlike in SigV4 paths).
fn parse_form(body: &[u8]) -> Vec<(String, String)> {
    String::from_utf8_lossy(body)
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let decode = |s: &str| {
                percent_encoding::percent_decode_str(&s.replace('+', " "))
                    .decode_utf8_lossy()
                    .into_owned()
            };
            (decode(k), decode(v))
        })
        .collect()
}

/// What a console Test button runs; these need the data plane rather than
/// the store.
enum TestTarget {
    /// `POST /restapis/{id}/resources/{resource_id}/methods/{http_method}`: TestInvokeMethod.
    Method {
        resource_id: String,
        http_method: String,
    },
    /// `POST /restapis/{id}/authorizers/{authorizer_id}`: TestInvokeAuthorizer.
    Authorizer { authorizer_id: String },
}

/// The API and the test a `POST` path names, if it names one.
fn test_invoke_path(path: &str) -> Option<(String, TestTarget)> {
    let parts: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    match parts.as_slice() {
        ["", "restapis", api, "resources", resource, "methods", method] => Some((
            api.to_string(),
            TestTarget::Method {
                resource_id: resource.to_string(),
                http_method: method.to_string(),
            },
        )),
        ["", "restapis", api, "authorizers", authorizer] => Some((
            api.to_string(),
            TestTarget::Authorizer {
                authorizer_id: authorizer.to_string(),
            },
        )),
        _ => None,
    }
}

async fn test_invoke(
    app: &App,
    api_id: &str,
    target: TestTarget,
    body: &[u8],
    request_id: &str,
) -> Response<Bytes> {
    let not_found = |message: &str| rest_json_error(404, "NotFoundException", message, request_id);
    let Some(doc) = app.control.rest_api(api_id) else {
        // As for every operation on a resource, AWS names the resource.
        if matches!(target, TestTarget::Method { .. }) {
            return not_found("Invalid Resource identifier specified");
        }
        return not_found(&format!(
            "Invalid API identifier specified {}:{api_id}",
            app.control.config().account_id
        ));
    };
    let input: TestInvokeInput = if body.iter().all(u8::is_ascii_whitespace) {
        TestInvokeInput::default()
    } else {
        match serde_json::from_slice(body) {
            Ok(input) => input,
            Err(e) => {
                return rest_json_error(
                    400,
                    "SerializationException",
                    &format!("Invalid request body: {e}"),
                    request_id,
                )
            }
        }
    };
    let request_id_owned = request_id.to_string();
    let result = match target {
        TestTarget::Method {
            resource_id,
            http_method,
        } => {
            test_invoke::test_invoke(
                &app.gateway,
                &doc,
                &resource_id,
                &http_method,
                input,
                request_id_owned,
            )
            .await
        }
        TestTarget::Authorizer { authorizer_id } => {
            test_invoke::test_invoke_authorizer(
                &app.gateway,
                &doc,
                &authorizer_id,
                input,
                request_id_owned,
            )
            .await
        }
    };
    match result {
        Ok(result) => rest_json_ok(200, Some(&result), request_id),
        Err(TestInvokeError::UnknownResource) => not_found("Invalid Resource identifier specified"),
        Err(TestInvokeError::UnknownMethod) => not_found("Invalid Method identifier specified"),
        Err(TestInvokeError::UnknownAuthorizer) => {
            not_found("Invalid Authorizer identifier specified")
        }
        Err(TestInvokeError::InvalidPath) => rest_json_error(
            400,
            "BadRequestException",
            "Invalid pathWithQueryString",
            request_id,
        ),
    }
}

/// Where a committed operation touches the data plane's own state: a
/// flushed stage or authorizer cache is emptied now.
fn after_control_operation(app: &App, request: &ControlRequest) {
    if request.method != "DELETE" {
        return;
    }
    let parts: Vec<&str> = request.path.trim_end_matches('/').split('/').collect();
    match parts.as_slice() {
        ["", "restapis", api, "stages", stage, "cache", "authorizers"] => {
            app.gateway.flush_authorizers(api, stage)
        }
        ["", "restapis", api, "stages", stage, "cache", "data"] => {
            app.gateway.flush_stage_cache(api, stage)
        }
        _ => {}
    }
}

/// Decodes `a=1&b=x%20y` into ordered pairs; `+` stays `+` (AWS SDKs encode spaces as %20).
pub(crate) fn parse_query(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let decode = |s: &str| {
                percent_encoding::percent_decode_str(s)
                    .decode_utf8_lossy()
                    .into_owned()
            };
            (decode(k), decode(v))
        })
        .collect()
}

/// A control-plane answer that is not JSON (GetExport in YAML).
fn raw_ok(content_type: &'static str, bytes: Vec<u8>, request_id: &str) -> Response<Bytes> {
    let mut response = Response::new(Bytes::from(bytes));
    let headers = response.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static(content_type),
    );
    if let Ok(v) = http::HeaderValue::from_str(request_id) {
        headers.insert(tollgate_aws::request_id::REQUEST_ID_HEADER, v);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_queries() {
        assert_eq!(
            parse_query("embed=methods&name=a%20b&flag"),
            vec![
                ("embed".to_string(), "methods".to_string()),
                ("name".to_string(), "a b".to_string()),
                ("flag".to_string(), String::new())
            ]
        );
    }
}

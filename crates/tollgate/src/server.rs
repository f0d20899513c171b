//! The listener and the front door: every request is routed to the control
//! plane (SigV4-verified rest-json), or answered here when it is for a part of
//! Tollgate that does not exist yet.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tollgate_aws::error::{rest_json_error, rest_json_ok};
use tollgate_aws::request_id::{is_uuid, new_request_id};
use tollgate_aws::sigv4::{self, Credentials};
use tollgate_control::{ControlPlane, ControlRequest};
use tollgate_gateway::response::{full, Body};
use tollgate_gateway::test_invoke::{TestInvokeError, TestInvokeInput};
use tollgate_gateway::Gateway;
use tollgate_http1::RequestBody;
use tollgate_model::ErrorCode;

/// How long a client may take to send a request head (or stay idle between
/// requests), and wait between pieces of a body or of a response; then its
/// connection closes. nginx's defaults are 60 s for the head and body.
const CLIENT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// Largest control-plane request body (ImportRestApi allows 6 MB of OpenAPI).
const MAX_CONTROL_BODY: usize = 6 * 1024 * 1024;

/// What every connection shares.
#[derive(Clone)]
pub struct App {
    pub control: Arc<ControlPlane>,
    pub gateway: Arc<Gateway>,
    /// Admin secrets by access key id.
    pub secrets: HashMap<String, String>,
    /// On the public listener only deployed APIs are served.
    pub data_plane_only: bool,
}

impl App {
    pub fn new(
        control: Arc<ControlPlane>,
        gateway: Arc<Gateway>,
        credentials: &[Credentials],
    ) -> App {
        App {
            control,
            gateway,
            secrets: credentials
                .iter()
                .map(|c| (c.access_key_id.clone(), c.secret_access_key.clone()))
                .collect(),
            data_plane_only: false,
        }
    }

    /// The same application for the public, data-plane-only listener.
    pub fn data_plane_only(&self) -> App {
        App {
            secrets: HashMap::new(),
            data_plane_only: true,
            ..self.clone()
        }
    }
}

/// A connection handed to a worker thread.
pub type Handoff = tokio::sync::mpsc::UnboundedSender<(std::net::TcpStream, SocketAddr)>;

/// Accepts connections until `shutdown` resolves and deals them round-robin
/// between this thread and `workers`: the kernel would otherwise wake one
/// thread for most connections and leave the other cores idle (measured).
pub async fn serve(
    listener: TcpListener,
    app: Arc<App>,
    shutdown: impl std::future::Future<Output = ()>,
    workers: &[Handoff],
) -> std::io::Result<()> {
    tokio::pin!(shutdown);
    let mut next = 0usize;
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of file descriptors and the like: keep serving the rest.
                    tracing::warn!(error = %e, "accept failed");
                    continue;
                }
            },
            () = &mut shutdown => return Ok(()),
        };
        let _ = stream.set_nodelay(true);
        next = (next + 1) % (workers.len() + 1);
        if let Some(worker) = next.checked_sub(1).and_then(|i| workers.get(i)) {
            match stream.into_std() {
                Ok(std_stream) => {
                    if let Err(returned) = worker.send((std_stream, peer)) {
                        // The worker is gone (shutting down): serve it here.
                        let (std_stream, peer) = returned.0;
                        if let Ok(stream) = tokio::net::TcpStream::from_std(std_stream) {
                            tokio::spawn(serve_connection(app.clone(), stream, peer));
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "cannot hand a connection over"),
            }
        } else {
            tokio::spawn(serve_connection(app.clone(), stream, peer));
        }
    }
}

/// Serves connections handed over by [`serve`] until the sender goes away.
pub async fn serve_handed_over(
    app: Arc<App>,
    mut connections: tokio::sync::mpsc::UnboundedReceiver<(std::net::TcpStream, SocketAddr)>,
) {
    // This thread's own copy (the parts inside are still shared): every
    // request clones the handle, and a count that only this core touches
    // does not bounce between the cores' caches.
    let app = Arc::new(App::clone(&app));
    while let Some((std_stream, peer)) = connections.recv().await {
        match tokio::net::TcpStream::from_std(std_stream) {
            Ok(stream) => {
                tokio::spawn(serve_connection(app.clone(), stream, peer));
            }
            Err(e) => tracing::warn!(error = %e, "cannot take a handed-over connection"),
        }
    }
}

/// HTTP/1.x (keep-alive) or h2c on one connection, to its end.
async fn serve_connection(app: Arc<App>, stream: tokio::net::TcpStream, peer: SocketAddr) {
    let limits = tollgate_http1::server::Limits {
        // Bodies are read whole up to the data plane's payload limit (the
        // control plane's is lower); longer ones are refused by each.
        max_body: tollgate_gateway::pipeline::MAX_PAYLOAD.max(MAX_CONTROL_BODY),
        client_timeout: CLIENT_TIMEOUT,
    };
    let outcome =
        match tollgate_http1::server::starts_with_http2_preface(&stream, CLIENT_TIMEOUT).await {
            Ok(true) => serve_http2(app, stream, peer).await,
            Ok(false) => {
                let app = &*app;
                tollgate_http1::server::serve(stream, limits, |req| handle(app, peer, req)).await
            }
            Err(e) => Err(e),
        };
    if let Err(e) = outcome {
        tracing::debug!(error = %e, %peer, "connection ended with an error");
    }
}

/// h2c with prior knowledge, served by hyper.
async fn serve_http2(
    app: Arc<App>,
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
) -> std::io::Result<()> {
    let service = service_fn(move |req: Request<hyper::body::Incoming>| {
        let app = app.clone();
        // Boxed: hyper moves the service future into place, and an unboxed
        // pipeline future is kilobytes of memmove per request (measured).
        async move {
            let response = Box::pin(handle(&app, peer, req.map(RequestBody::from))).await;
            Ok::<_, Infallible>(response)
        }
    });
    hyper::server::conn::http2::Builder::new(TokioExecutor::new())
        .serve_connection(TokioIo::new(stream), service)
        .await
        .map_err(std::io::Error::other)
}

async fn handle(app: &App, peer: SocketAddr, req: Request<RequestBody>) -> Response<Body> {
    let host = req
        .headers()
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| req.uri().host())
        .unwrap_or("");
    if let Some(target) = tollgate_gateway::invoke::parse(host, req.uri().path()) {
        // A client may choose its request id, if it is a UUID (spec §2.2);
        // only otherwise is one made.
        let request_id = req
            .headers()
            // A constant name: a `&str` one is parsed again on every lookup.
            .get(tollgate_gateway::response::REQUEST_ID)
            .and_then(|v| v.to_str().ok())
            .filter(|v| is_uuid(v))
            .map_or_else(new_request_id, str::to_string);
        return app.gateway.handle(target, req, peer, request_id).await;
    }
    let request_id = new_request_id();
    if app.data_plane_only {
        return rest_json_error(403, "ForbiddenException", "Forbidden", &request_id).map(full);
    }
    // Boxed: the rare control-plane request should not make every
    // connection's future as large as its own.
    Box::pin(route(app, req, &request_id)).await.map(full)
}

/// Decides which part of Tollgate a non-execute-api request is for.
async fn route(app: &App, req: Request<RequestBody>, request_id: &str) -> Response<Bytes> {
    let path = req.uri().path();
    if path == "/_tollgate/health" {
        return rest_json_ok(200, Some(&serde_json::json!({"status": "ok"})), request_id);
    }
    if req.headers().contains_key("x-amz-target") {
        // CloudWatch Logs and CloudWatch (JSON protocols) come with the observability work.
        let mut response = rest_json_error(
            400,
            "UnknownOperationException",
            "This service is not available in this version of Tollgate",
            request_id,
        );
        if let Ok(v) = http::HeaderValue::from_str("UnknownOperationException") {
            response.headers_mut().insert("x-amzn-query-error", v);
        }
        return response;
    }
    control_plane(app, req, request_id).await
}

async fn control_plane(app: &App, req: Request<RequestBody>, request_id: &str) -> Response<Bytes> {
    let (parts, body) = req.into_parts();
    let body = match Limited::new(body, MAX_CONTROL_BODY).collect().await {
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
    if let Err(e) = sigv4::verify(&parts, &body, &app.secrets, SystemTime::now()) {
        return rest_json_error(e.status(), e.code(), &e.message(), request_id);
    }
    if parts.method == http::Method::POST {
        if let Some((api_id, resource_id, http_method)) = test_invoke_path(parts.uri.path()) {
            return test_invoke(app, &api_id, &resource_id, &http_method, &body, request_id).await;
        }
    }
    let request = ControlRequest {
        method: parts.method.as_str().to_string(),
        path: parts.uri.path().to_string(),
        query: parse_query(parts.uri.query().unwrap_or("")),
        body: body.to_vec(),
    };
    let control = app.control.clone();
    // Operations take a lock and write SQLite: keep them off the async workers.
    let outcome = tokio::task::spawn_blocking(move || control.handle(&request)).await;
    match outcome {
        Ok(Ok(reply)) => rest_json_ok(reply.status, reply.body.as_ref(), request_id),
        Ok(Err(e)) => rest_json_error(e.code.status(), e.code.name(), &e.message, request_id),
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

/// `POST /restapis/{id}/resources/{resource_id}/methods/{http_method}` is
/// TestInvokeMethod, which needs the data plane rather than the store.
fn test_invoke_path(path: &str) -> Option<(String, String, String)> {
    let parts: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    match parts.as_slice() {
        ["", "restapis", api, "resources", resource, "methods", method] => {
            Some((api.to_string(), resource.to_string(), method.to_string()))
        }
        _ => None,
    }
}

async fn test_invoke(
    app: &App,
    api_id: &str,
    resource_id: &str,
    http_method: &str,
    body: &[u8],
    request_id: &str,
) -> Response<Bytes> {
    let not_found = |message: &str| rest_json_error(404, "NotFoundException", message, request_id);
    let Some(doc) = app.control.rest_api(api_id) else {
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
    match tollgate_gateway::test_invoke::test_invoke(
        &app.gateway,
        &doc,
        resource_id,
        http_method,
        input,
        request_id.to_string(),
    )
    .await
    {
        Ok(result) => rest_json_ok(200, Some(&result), request_id),
        Err(TestInvokeError::UnknownResource) => not_found("Invalid Resource identifier specified"),
        Err(TestInvokeError::UnknownMethod) => not_found("Invalid Method identifier specified"),
    }
}

/// Decodes `a=1&b=x%20y` into ordered pairs; `+` stays `+` (AWS SDKs encode spaces as %20).
fn parse_query(query: &str) -> Vec<(String, String)> {
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

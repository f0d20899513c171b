//! The listener and each request's way through the server: test hooks and
//! `/bench` first, then body, record, artificial delay, and the API.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use serde_json::{json, Value};
use tokio::net::{TcpListener, ToSocketAddrs};
use tokio::sync::watch;

use crate::api::Api;
use crate::recorder::{RecordedRequest, Recorder};
use crate::response::{json, json_bytes, ApiError, HttpResponse};
use crate::UpstreamConfig;

/// Largest request body accepted (generate requests are small JSON).
const MAX_BODY: usize = 16 * 1024 * 1024;

/// How long [`Upstream::run`] waits for open connections after shutdown.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// The body of `GET /bench`.
const BENCH_BODY: &[u8] = b"{\"ok\":true}";

/// Path of the recorder's test hook.
pub const REQUESTS_HOOK: &str = "/_upstream/requests";

struct Shared {
    api: Api,
    recorder: Arc<Recorder>,
}

/// A bound, not yet running, stand-in server.
pub struct Upstream {
    listener: TcpListener,
    local_addr: SocketAddr,
    shared: Arc<Shared>,
}

/// Binds the listener; [`Upstream::run`] serves it. Bind to port 0 and read
/// [`Upstream::local_addr`] for a free port.
pub async fn bind(addr: impl ToSocketAddrs, config: UpstreamConfig) -> io::Result<Upstream> {
    let listener = TcpListener::bind(addr).await?;
    let local_addr = listener.local_addr()?;
    Ok(Upstream {
        listener,
        local_addr,
        shared: Arc::new(Shared {
            api: Api::new(config),
            recorder: Arc::new(Recorder::default()),
        }),
    })
}

impl Upstream {
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The requests this server has received (also at `GET /_upstream/requests`).
    pub fn recorded(&self) -> Arc<Recorder> {
        self.shared.recorder.clone()
    }

    /// Serves HTTP/1.1 and h2c until `shutdown` resolves, then lets open
    /// connections finish their requests (up to ten seconds) and returns.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> io::Result<()> {
        let (stop_tx, stop_rx) = watch::channel(false);
        tokio::pin!(shutdown);
        loop {
            let (stream, peer) = tokio::select! {
                accepted = self.listener.accept() => match accepted {
                    Ok(pair) => pair,
                    Err(e) => {
                        // Out of file descriptors and the like: keep serving the rest.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    }
                },
                () = &mut shutdown => break,
            };
            let _ = stream.set_nodelay(true);
            let shared = self.shared.clone();
            let mut stop = stop_rx.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req| {
                    let shared = shared.clone();
                    async move { Ok::<_, Infallible>(handle(&shared, req).await) }
                });
                let builder = auto::Builder::new(TokioExecutor::new());
                let conn = builder.serve_connection(TokioIo::new(stream), service);
                tokio::pin!(conn);
                let result = tokio::select! {
                    result = conn.as_mut() => result,
                    // The guard `wait_for` returns is not Send: drop it in here.
                    () = async { let _ = stop.wait_for(|stopped| *stopped).await; } => {
                        conn.as_mut().graceful_shutdown();
                        conn.await
                    }
                };
                if let Err(e) = result {
                    tracing::debug!(error = %e, %peer, "connection ended with an error");
                }
                // Dropping `stop` here tells `run` this connection is done.
            });
        }
        drop(stop_rx);
        let _ = stop_tx.send(true);
        // `closed` resolves once every connection has dropped its receiver.
        let _ = tokio::time::timeout(DRAIN_TIMEOUT, stop_tx.closed()).await;
        Ok(())
    }
}

async fn handle(shared: &Shared, req: Request<Incoming>) -> http::Response<Full<Bytes>> {
    // Served before anything else: not recorded, not delayed.
    match req.uri().path() {
        "/bench" => return bench(req.method()),
        REQUESTS_HOOK => return requests_hook(&shared.recorder, &req),
        _ => {}
    }
    let (parts, body) = req.into_parts();
    let body = match read_body(body).await {
        Ok(body) => body,
        Err(e) => return e.into_response(),
    };
    shared.recorder.record(RecordedRequest {
        seq: 0,
        method: parts.method.clone(),
        uri: parts.uri.clone(),
        version: parts.version,
        headers: parts.headers.clone(),
        body: body.clone(),
        received_at: SystemTime::now(),
    });
    let delay = shared.api.config.response_delay;
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    shared.api.handle(&parts, &body)
}

async fn read_body(body: Incoming) -> Result<Bytes, ApiError> {
    match Limited::new(body, MAX_BODY).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(ApiError::BodyTooLarge),
        Err(_) => Err(ApiError::BodyUnreadable),
    }
}

/// `GET /bench`: a fixed body for throughput benchmarks, with no auth,
/// recording or delay.
fn bench(method: &Method) -> HttpResponse {
    if method == Method::GET || method == Method::HEAD {
        json_bytes(StatusCode::OK, Bytes::from_static(BENCH_BODY))
    } else {
        ApiError::MethodNotAllowed { allow: "GET, HEAD" }.into_response()
    }
}

/// `GET /_upstream/requests[?since=SEQ]` lists recorded requests oldest first;
/// `DELETE` clears them. Test hooks: unauthenticated, never recorded.
fn requests_hook<B>(recorder: &Recorder, req: &Request<B>) -> HttpResponse {
    match *req.method() {
        Method::GET | Method::HEAD => {
            let since = req
                .uri()
                .query()
                .unwrap_or("")
                .split('&')
                .filter_map(|pair| pair.strip_prefix("since="))
                .filter_map(|v| v.parse::<u64>().ok())
                .next_back()
                .unwrap_or(0);
            let list: Vec<Value> = recorder
                .requests_after(since)
                .iter()
                .map(RecordedRequest::to_json)
                .collect();
            json(StatusCode::OK, &list)
        }
        Method::DELETE => {
            let cleared = recorder.len();
            recorder.clear();
            json(StatusCode::OK, &json!({ "cleared": cleared }))
        }
        _ => ApiError::MethodNotAllowed {
            allow: "DELETE, GET, HEAD",
        }
        .into_response(),
    }
}

//! One client connection to its end: HTTP/1.x on Tollgate's own server, or
//! HTTP/2 on hyper's (h2c with prior knowledge, or h2 chosen by ALPN over
//! TLS), all under the client timeout.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::Request;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tollgate_http1::RequestBody;

use crate::app::App;
use crate::front_door::handle;
use crate::listener::Slot;
use crate::tls::Tls;

/// HTTP/1.x (keep-alive), h2c, or either over TLS on one connection, to its
/// end. `slot` is the connection's place under the connection limit, freed
/// when it ends.
pub async fn serve_connection(
    app: Arc<App>,
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    slot: Slot,
) {
    let outcome = match app.tls.clone() {
        Some(tls) => serve_tls(app, &tls, stream, peer).await,
        None => serve_plain(app, stream, peer).await,
    };
    drop(slot);
    if let Err(e) = outcome {
        tracing::debug!(error = %e, %peer, "connection ended with an error");
    }
}

/// Plain TCP: h2c when the client opens with HTTP/2's preface, else HTTP/1.x.
async fn serve_plain(
    app: Arc<App>,
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
) -> std::io::Result<()> {
    let client_timeout = app.limits.client_timeout;
    let mut closing = app.closing.clone();
    // A client that has sent nothing yet is not waited for once shutting down.
    let preface = tokio::select! {
        biased;
        preface = tollgate_http1::server::starts_with_http2_preface(&stream, client_timeout) => preface,
        _ = closing.wait_for(|c| *c) => return Ok(()),
    };
    if preface? {
        serve_http2(app, stream, peer, client_timeout).await
    } else {
        serve_http1(&app, stream, peer).await
    }
}

/// TLS: the handshake, then HTTP/2 or HTTP/1.x as ALPN chose.
async fn serve_tls(
    app: Arc<App>,
    tls: &Tls,
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
) -> std::io::Result<()> {
    let client_timeout = app.limits.client_timeout;
    let mut closing = app.closing.clone();
    // Timed as a request head is; a client that has not finished it is not
    // waited for once shutting down.
    let handshake = tokio::time::timeout(client_timeout, tls.acceptor().accept(stream));
    let stream = tokio::select! {
        biased;
        done = handshake => done.unwrap_or_else(|_| Err(std::io::ErrorKind::TimedOut.into()))?,
        _ = closing.wait_for(|c| *c) => return Ok(()),
    };
    if stream.get_ref().1.alpn_protocol() == Some(b"h2") {
        serve_http2(app, stream, peer, client_timeout).await
    } else {
        serve_http1(&app, stream, peer).await
    }
}

/// HTTP/1.x on Tollgate's server, until the client is done or shutdown.
async fn serve_http1<S>(app: &App, stream: S, peer: SocketAddr) -> std::io::Result<()>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let limits = app.limits.http1();
    let closing = Some(app.closing.clone());
    tollgate_http1::server::serve_until_closing(stream, limits, closing, |req, raw| {
        handle(app, peer, req, Some(raw))
    })
    .await
}

/// Whether an h2c connection is at work: requests in flight, and when the
/// last one started or ended.
struct Activity {
    started: Instant,
    in_flight: AtomicUsize,
    /// Milliseconds after `started`.
    last_change_ms: AtomicU64,
}

impl Activity {
    fn touch(&self) {
        let ms = self.started.elapsed().as_millis() as u64;
        self.last_change_ms.store(ms, Ordering::Relaxed);
    }

    /// How long the connection has had no request in flight; None while busy.
    fn idle_for(&self) -> Option<Duration> {
        if self.in_flight.load(Ordering::Relaxed) > 0 {
            return None;
        }
        let last = Duration::from_millis(self.last_change_ms.load(Ordering::Relaxed));
        Some(self.started.elapsed().saturating_sub(last))
    }
}

/// Counts one request in flight until dropped.
struct InFlight(Arc<Activity>);

impl InFlight {
    fn start(activity: &Arc<Activity>) -> InFlight {
        activity.in_flight.fetch_add(1, Ordering::Relaxed);
        activity.touch();
        InFlight(activity.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.touch();
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// How long an h2c client has to answer a keep-alive ping.
const PING_TIMEOUT: Duration = Duration::from_secs(20);

/// h2c with prior knowledge, served by hyper. The client timeout applies as
/// on HTTP/1: a connection with no request in flight for that long is shut
/// down (GOAWAY, then close), and a peer that stops answering pings is
/// dropped.
async fn serve_http2<S>(
    app: Arc<App>,
    stream: S,
    peer: SocketAddr,
    client_timeout: Duration,
) -> std::io::Result<()>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let activity = Arc::new(Activity {
        started: Instant::now(),
        in_flight: AtomicUsize::new(0),
        last_change_ms: AtomicU64::new(0),
    });
    let mut closing = app.closing.clone();
    let service = {
        let activity = activity.clone();
        service_fn(move |req: Request<hyper::body::Incoming>| {
            let app = app.clone();
            let in_flight = InFlight::start(&activity);
            // Boxed: hyper moves the service future into place, and an
            // unboxed pipeline future is kilobytes of memmove per request
            // (measured).
            async move {
                let response = Box::pin(handle(&app, peer, req.map(RequestBody::from), None)).await;
                drop(in_flight);
                Ok::<_, Infallible>(response)
            }
        })
    };
    let connection = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
        .timer(TokioTimer::new())
        .keep_alive_interval(Some(client_timeout))
        .keep_alive_timeout(PING_TIMEOUT)
        .serve_connection(TokioIo::new(stream), service);
    tokio::pin!(connection);
    loop {
        let check_in = match activity.idle_for() {
            Some(idle) => client_timeout.saturating_sub(idle),
            None => client_timeout,
        };
        tokio::select! {
            ended = connection.as_mut() => return ended.map_err(std::io::Error::other),
            () = tokio::time::sleep(check_in) => {
                if activity.idle_for().is_some_and(|idle| idle >= client_timeout) {
                    break;
                }
            }
            // Shutting down: GOAWAY at once, busy or not; streams already
            // open are answered.
            _ = closing.wait_for(|c| *c) => break,
        }
    }
    // Idle or shutting down: GOAWAY, then what is still being sent gets one
    // more period.
    connection.as_mut().graceful_shutdown();
    match tokio::time::timeout(client_timeout, connection).await {
        Ok(ended) => ended.map_err(std::io::Error::other),
        Err(_) => Err(std::io::ErrorKind::TimedOut.into()),
    }
}

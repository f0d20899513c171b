//! h2c (HTTP/2 over cleartext TCP, with prior knowledge) to the upstreams the
//! configuration names. AWS speaks only HTTP/1.1 to HTTP integrations; a
//! local gRPC-style or h2-only job server needs this instead.
//!
//! One multiplexed connection per upstream and worker thread, driven by
//! hyper's HTTP/2 client (streams share it, so there is no pool to manage).

use std::cell::RefCell;
use std::io;

use bytes::Bytes;
use http::{Request, Response, Uri};
use http_body_util::Full;
use hyper::client::conn::http2::{self, SendRequest};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustc_hash::FxHashMap as HashMap;
use thread_local::ThreadLocal;
use tokio::net::TcpStream;

use super::h1::{apply_header_rule, UpstreamBody, UpstreamRequest};
use super::uri::Origin;

type Sender = SendRequest<Full<Bytes>>;

/// One thread's h2c connections by authority.
#[derive(Default)]
pub struct H2cConnections {
    by_authority: RefCell<HashMap<String, Sender>>,
}

fn hyper_error(e: hyper::Error) -> io::Error {
    io::Error::other(e)
}

/// Opens a connection and starts its task on this thread.
async fn connect(origin: &Origin) -> io::Result<Sender> {
    let tcp = TcpStream::connect((origin.host.as_str(), origin.port)).await?;
    let _ = tcp.set_nodelay(true);
    let (sender, connection) = http2::Builder::new(TokioExecutor::new())
        .handshake(TokioIo::new(tcp))
        .await
        .map_err(hyper_error)?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %e, "h2c upstream connection ended");
        }
    });
    Ok(sender)
}

/// Sends `request` over this thread's connection to its upstream, opening
/// one if there is none or it has closed. A request the old connection
/// refused before sending (it was going away) goes once on a new one.
pub async fn send(
    connections: &ThreadLocal<H2cConnections>,
    request: UpstreamRequest,
) -> io::Result<Response<UpstreamBody>> {
    let UpstreamRequest {
        method,
        target,
        mut headers,
        body,
        response_header_rule,
    } = request;
    let origin = &target.origin;
    // HTTP/2 carries the host in `:authority`: a mapped Host header becomes it.
    let authority = match headers.remove(http::header::HOST) {
        Some(host) => host.to_str().map(str::to_string).unwrap_or_default(),
        None => origin.authority.clone(),
    };
    headers.remove(http::header::CONTENT_LENGTH);
    let uri: Uri = format!("http://{authority}{}", target.path_and_query)
        .parse()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let mut outgoing = Request::new(Full::new(body));
    *outgoing.method_mut() = method;
    *outgoing.uri_mut() = uri;
    *outgoing.headers_mut() = headers;

    let pooled = connections
        .get_or(H2cConnections::default)
        .by_authority
        .borrow()
        .get(&origin.authority)
        .filter(|s| !s.is_closed())
        .cloned();
    let reused = pooled.is_some();
    let mut sender = match pooled {
        Some(sender) => sender,
        None => remember(connections, origin, connect(origin).await?),
    };
    let response = match ready_and_send(&mut sender, outgoing).await {
        Ok(response) => response,
        Err(mut e) => match e.take_message() {
            Some(outgoing) if reused => {
                let mut fresh = remember(connections, origin, connect(origin).await?);
                fresh.ready().await.map_err(hyper_error)?;
                fresh.send_request(outgoing).await.map_err(hyper_error)?
            }
            _ => return Err(hyper_error(e.into_error())),
        },
    };
    let (mut parts, body) = response.into_parts();
    if let Some(rule) = response_header_rule {
        parts.headers = apply_header_rule(std::mem::take(&mut parts.headers), rule);
    }
    Ok(Response::from_parts(parts, UpstreamBody::http2(body)))
}

async fn ready_and_send(
    sender: &mut Sender,
    request: Request<Full<Bytes>>,
) -> Result<Response<hyper::body::Incoming>, hyper::client::conn::TrySendError<Request<Full<Bytes>>>>
{
    // A connection that closed while idle fails `ready`; `try_send_request`
    // then hands the request back unsent, which is what the caller retries on.
    let _ = sender.ready().await;
    sender.try_send_request(request).await
}

/// Keeps `sender` as this thread's connection to `origin`.
fn remember(connections: &ThreadLocal<H2cConnections>, origin: &Origin, sender: Sender) -> Sender {
    connections
        .get_or(H2cConnections::default)
        .by_authority
        .borrow_mut()
        .insert(origin.authority.clone(), sender.clone());
    sender
}

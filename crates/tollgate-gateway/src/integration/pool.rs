//! Upstream connections, pooled per thread on hyper's HTTP/1 connection API.
//!
//! Each worker thread keeps its own idle connections, so a request, its
//! upstream connection and that connection's task all live on one thread: no
//! lock shared between threads and no cross-thread wake-up per request.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use http::uri::{PathAndQuery, Scheme};
use http::{HeaderValue, Request, Response, Uri};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;

/// Idle connections kept per upstream (scheme and authority) and thread.
const MAX_IDLE_PER_UPSTREAM: usize = 256;

type Sender = SendRequest<Full<Bytes>>;

/// One thread's connections by `scheme://authority`.
#[derive(Default)]
pub struct ThreadPool {
    idle: RefCell<HashMap<String, Vec<Sender>>>,
}

// Reached only through `ThreadLocal::get_or`, i.e. from the thread that owns
// it, and never borrowed across an await: a RefCell is all it needs.
impl ThreadPool {
    /// A connection that can take a request now, if one is idle.
    fn checkout(&self, key: &str) -> Option<Sender> {
        let mut idle = self.idle.borrow_mut();
        let list = idle.get_mut(key)?;
        list.retain(|s| !s.is_closed());
        let ready = list.iter().position(|s| s.is_ready())?;
        Some(list.swap_remove(ready))
    }

    /// Keeps a connection for later requests (it becomes ready again once the
    /// response it carries has been read).
    fn checkin(&self, key: String, sender: Sender) {
        if sender.is_closed() {
            return;
        }
        let mut idle = self.idle.borrow_mut();
        let list = idle.entry(key).or_default();
        if list.len() < MAX_IDLE_PER_UPSTREAM {
            list.push(sender);
        }
    }
}

/// Why an upstream request failed (logged at debug level, never sent to clients).
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("the integration URI has no host")]
    NoHost,
    #[error("connect: {0}")]
    Connect(#[from] std::io::Error),
    #[error("TLS server name: {0}")]
    ServerName(String),
    #[error("HTTP: {0}")]
    Http(#[from] hyper::Error),
}

/// Opens a connection (TLS for https) and starts its task on this thread.
async fn connect(uri: &Uri, tls: &Arc<rustls::ClientConfig>) -> Result<Sender, UpstreamError> {
    let host = uri.host().ok_or(UpstreamError::NoHost)?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let https = uri.scheme() == Some(&Scheme::HTTPS);
    let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
    let tcp = TcpStream::connect((host, port)).await?;
    let _ = tcp.set_nodelay(true);
    if https {
        let name = ServerName::try_from(host.to_string())
            .map_err(|e| UpstreamError::ServerName(e.to_string()))?;
        let stream = tokio_rustls::TlsConnector::from(tls.clone())
            .connect(name, tcp)
            .await?;
        let (sender, conn) = http1::Builder::new()
            .writev(false)
            .handshake(TokioIo::new(stream))
            .await?;
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "upstream connection ended");
            }
        });
        Ok(sender)
    } else {
        let (sender, conn) = http1::Builder::new()
            .writev(false)
            .handshake(TokioIo::new(tcp))
            .await?;
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "upstream connection ended");
            }
        });
        Ok(sender)
    }
}

/// Sends `request` (absolute URI) on a pooled or new connection of this thread.
/// A pooled connection that turns out closed before the request left is
/// replaced once by a new one.
pub async fn send(
    pools: &thread_local::ThreadLocal<ThreadPool>,
    tls: &Arc<rustls::ClientConfig>,
    mut request: Request<Full<Bytes>>,
) -> Result<Response<Incoming>, UpstreamError> {
    let uri = request.uri().clone();
    let authority = uri.authority().ok_or(UpstreamError::NoHost)?.clone();
    let key = format!("{}://{}", uri.scheme_str().unwrap_or("http"), authority);
    // HTTP/1.1 origin-form: the path on the request line, the authority in Host.
    *request.uri_mut() = Uri::from(
        uri.path_and_query()
            .cloned()
            .unwrap_or_else(|| PathAndQuery::from_static("/")),
    );
    if let Ok(host) = HeaderValue::from_str(authority.as_str()) {
        request
            .headers_mut()
            .entry(http::header::HOST)
            .or_insert(host);
    }
    let pooled = pools.get_or(ThreadPool::default).checkout(&key);
    let mut sender = match pooled {
        Some(s) => s,
        None => connect(&uri, tls).await?,
    };
    let response = match sender.try_send_request(request).await {
        Ok(response) => response,
        Err(mut e) => match e.take_message() {
            // Not sent: the idle connection had closed. One fresh attempt.
            Some(request) => {
                sender = connect(&uri, tls).await?;
                sender.send_request(request).await?
            }
            None => return Err(e.into_error().into()),
        },
    };
    pools.get_or(ThreadPool::default).checkin(key, sender);
    Ok(response)
}

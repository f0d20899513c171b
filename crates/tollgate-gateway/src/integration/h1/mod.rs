//! A small HTTP/1.1 client for integration requests, run inline in the
//! request's own task.
//!
//! hyper's client drives each connection from a task of its own and hands
//! requests, responses and body chunks across channels: three or four task
//! wake-ups per request, and about a fifth of the proxy's user-space
//! instructions (measured with callgrind). Here the request's task writes the request,
//! parses the response head and, for the usual small response, has the whole
//! body before it returns; only longer bodies stream, from the same task that
//! writes them to the client. Head parsing and the chunked coding are
//! shared with the server side, in `tollgate-http1`.

mod body;
mod conn;
mod pool;

use std::io;
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, Method, Response, StatusCode, Version};
use thread_local::ThreadLocal;
use tollgate_http1::client::{self as codec, Framing, RequestTarget, ResponseHead};

pub use body::UpstreamBody;
pub use pool::ThreadPool;
pub use tollgate_http1::client::{apply_header_rule, HeaderRule};

use body::Reuse;
use conn::Connection;

use crate::integration::uri::UpstreamTarget;

/// An integration request, ready to send.
#[derive(Debug)]
pub struct UpstreamRequest {
    pub method: Method,
    pub target: UpstreamTarget,
    /// Sent as they are, except `Content-Length` (always computed) and `Host`
    /// (the target's authority unless set here).
    pub headers: HeaderMap,
    pub body: Bytes,
    /// Applied to each response header as it is parsed: its new name, or
    /// None to drop it (the caller's rules for what reaches its client).
    /// Framing is read from the headers as sent, before this applies.
    pub response_header_rule: Option<HeaderRule>,
}

/// Why one attempt failed, and whether trying again is safe.
struct Failure {
    error: io::Error,
    /// The whole request was written.
    sent: bool,
    /// Some of a response arrived.
    answered: bool,
}

impl Failure {
    /// A pooled connection that dies before answering was most likely closed
    /// by the upstream while idle. Trying another is safe when the request
    /// did not go out whole, or when repeating it changes nothing (RFC 9110
    /// §9.2.2): a POST that may have reached the upstream is not sent twice.
    fn may_retry(&self, method: &Method) -> bool {
        let idempotent = matches!(
            *method,
            Method::GET
                | Method::HEAD
                | Method::OPTIONS
                | Method::TRACE
                | Method::PUT
                | Method::DELETE
        );
        !self.answered && (!self.sent || idempotent)
    }
}

/// Sends `request` on a pooled connection of this thread, or a new one.
pub async fn send(
    pools: &Arc<ThreadLocal<ThreadPool>>,
    tls: &Arc<rustls::ClientConfig>,
    request: UpstreamRequest,
) -> io::Result<Response<UpstreamBody>> {
    let UpstreamRequest {
        method,
        target,
        headers,
        body,
        response_header_rule,
    } = request;
    let mut wire = Vec::with_capacity(512 + body.len().min(codec::INLINE_BODY));
    let request_target = RequestTarget {
        path_and_query: &target.path_and_query,
        authority: &target.origin.authority,
    };
    codec::encode_request(&mut wire, &method, request_target, &headers, &body);
    let body_apart = (body.len() > codec::INLINE_BODY).then_some(&body);
    let head_request = method == Method::HEAD;
    loop {
        let pooled = pools.get_or(ThreadPool::default).checkout(&target.origin);
        let reused = pooled.is_some();
        let mut conn = match pooled {
            Some(conn) => conn,
            // Boxed: a TLS handshake's state is kilobytes, and every request's
            // future would otherwise be that large (and moved) for a rare step.
            None => Box::pin(Connection::open(&target.origin, tls)).await?,
        };
        match exchange(
            &mut conn,
            &wire,
            body_apart,
            head_request,
            response_header_rule,
        )
        .await
        {
            Ok(head) => return Ok(respond(conn, head, pools, &target)),
            Err(failure) if reused && failure.may_retry(&method) => {
                tracing::debug!(error = %failure.error, upstream = %target.origin.authority, "pooled connection failed; trying another");
            }
            Err(failure) => return Err(failure.error),
        }
    }
}

/// Writes the request and reads up to the end of the final response head.
async fn exchange(
    conn: &mut Connection,
    wire: &[u8],
    body_apart: Option<&Bytes>,
    head_request: bool,
    header_rule: Option<HeaderRule>,
) -> Result<ResponseHead, Failure> {
    let unsent = |error| Failure {
        error,
        sent: false,
        answered: false,
    };
    conn.write_all(wire).await.map_err(unsent)?;
    if let Some(body) = body_apart {
        conn.write_all(body).await.map_err(unsent)?;
    }
    conn.flush().await.map_err(unsent)?;
    let mut answered = false;
    loop {
        let failed = |error| Failure {
            error,
            sent: true,
            answered,
        };
        match codec::parse_response_head(&mut conn.buf, head_request, header_rule) {
            Ok(Some(head)) if head.status == StatusCode::SWITCHING_PROTOCOLS => {
                return Err(failed(io::Error::new(
                    io::ErrorKind::Unsupported,
                    "upstream switched protocols",
                )))
            }
            // 100 Continue and other interim responses: the final one follows.
            Ok(Some(head)) if head.status.is_informational() => continue,
            Ok(Some(head)) => return Ok(head),
            Ok(None) => {}
            Err(e) => return Err(failed(e)),
        }
        match conn.read_more().await {
            Ok(0) => return Err(failed(io::ErrorKind::UnexpectedEof.into())),
            Ok(_) => answered = true,
            Err(e) => return Err(failed(e)),
        }
    }
}

/// The response with its body: whole when it has already arrived (and the
/// connection back in the pool), else streamed from the connection.
fn respond(
    mut conn: Connection,
    head: ResponseHead,
    pools: &Arc<ThreadLocal<ThreadPool>>,
    target: &UpstreamTarget,
) -> Response<UpstreamBody> {
    let check_in = |conn: Connection| {
        pools
            .get_or(ThreadPool::default)
            .checkin(&target.origin, conn);
    };
    let reuse = || Reuse {
        pools: pools.clone(),
        origin: target.origin.clone(),
    };
    let body = match head.framing {
        Framing::Empty => {
            if head.keep_alive {
                check_in(conn);
            }
            UpstreamBody::buffered(Bytes::new())
        }
        Framing::Length(len) if conn.buf.len() as u64 >= len => {
            // `len` fits: it is at most what is buffered.
            let data = conn.buf.split_to(len as usize).freeze();
            if head.keep_alive {
                check_in(conn);
            }
            UpstreamBody::buffered(data)
        }
        Framing::Length(len) => UpstreamBody::length(conn, len, head.keep_alive.then(reuse)),
        Framing::Chunked => UpstreamBody::chunked(conn, head.keep_alive.then(reuse)),
        Framing::UntilClose => UpstreamBody::until_close(conn),
    };
    let mut response = Response::new(body);
    *response.status_mut() = head.status;
    *response.version_mut() = Version::HTTP_11;
    *response.headers_mut() = head.headers;
    response
}

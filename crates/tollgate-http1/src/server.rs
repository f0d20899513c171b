//! One client connection, request after request: read a head, read its body,
//! call the handler, write the response, in the connection's own task.
//!
//! hyper's server dispatcher cost about a quarter of a proxied request's
//! user-space instructions (callgrind); this loop does the same job with one
//! read and one write per small request, no boxed service future and no
//! per-request channel.

use std::future::Future;
use std::io;
use std::pin::{pin, Pin};
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::{Method, Request, Response, StatusCode};
use http_body::Body;
use http_body_util::BodyExt;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::{Instant, Sleep};

use crate::body::{BodyFeeder, RequestBody};
use crate::budget::{BodyBudget, BudgetPermit};
use crate::chunked::{ChunkedDecoder, Decoded};
use crate::request::{parse_request_head, BodyFraming, HeadError, RawHead, RequestHead};
use crate::response::{encode_head, BodyOut, Exchange};

/// What one read asks the kernel for at least.
const READ_CHUNK: usize = 8 * 1024;

/// A read buffer grown past this by one request (a long head) is replaced
/// by a small one.
const MAX_IDLE_BUFFER: usize = 64 * 1024;

/// Bodies up to this size go out in the same write as the head.
const INLINE_BODY: usize = 16 * 1024;

/// After a refused request, how long and how much of what the client still
/// sends is read and dropped before closing, so that the close does not reset
/// the connection before the client has read the answer (RFC 9112 §9.6).
const LINGER_TIME: Duration = Duration::from_secs(2);
const LINGER_BYTES: usize = 16 * 1024 * 1024;

/// The HTTP/2 connection preface's first bytes: no HTTP/1.x method starts so.
const H2_PREFACE_START: &[u8] = b"PRI ";

/// Whether the client opened with HTTP/2's preface (h2c with prior
/// knowledge). Peeks, so the bytes stay for whichever server reads them; a
/// client that sends nothing within `timeout` gets `TimedOut`.
pub async fn starts_with_http2_preface(stream: &TcpStream, timeout: Duration) -> io::Result<bool> {
    tokio::time::timeout(timeout, peek_preface(stream))
        .await
        .unwrap_or_else(|_| Err(io::ErrorKind::TimedOut.into()))
}

async fn peek_preface(stream: &TcpStream) -> io::Result<bool> {
    let mut first = [0u8; 4];
    for _ in 0..100 {
        let n = stream.peek(&mut first).await?;
        if n == 0 || first[..n] != H2_PREFACE_START[..n] {
            return Ok(false);
        }
        if n == H2_PREFACE_START.len() {
            return Ok(true);
        }
        // A prefix of it and no more yet: peek returns at once while bytes
        // wait, so give the client a moment rather than spin.
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(false)
}

/// What one client may take of the server, and what it is told when its
/// request cannot be read.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Request bodies are read whole up to this many bytes; a longer one
    /// reaches the handler as [`RequestBody::TooLarge`].
    pub max_body: usize,
    /// A client that makes no progress for this long (no whole request
    /// head, no piece of a body, no part of a response taken) is
    /// disconnected within one more such period: a silent or idle client,
    /// or one trickling a head, cannot hold a connection. As with nginx's
    /// `client_body_timeout`, a body is timed only between its pieces (its
    /// size is bounded by `max_body`). The handler's own time does not count.
    pub client_timeout: Duration,
    /// Request bodies in memory, every connection together: a body that
    /// would pass it fails to read (`OutOfMemory`), and the handler answers.
    pub body_budget: Arc<BodyBudget>,
    /// The response to a head that cannot be served (400, 431): its body is
    /// the caller's to choose (this crate knows no API's error format).
    pub refusal: fn(HeadError) -> Response<Bytes>,
}

/// A plain-text refusal, for callers with no format of their own.
pub fn plain_refusal(refused: HeadError) -> Response<Bytes> {
    let (status, text): (StatusCode, &'static [u8]) = match refused {
        HeadError::Malformed => (StatusCode::BAD_REQUEST, b"Bad Request"),
        HeadError::TooLarge => (
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            b"Request Header Fields Too Large",
        ),
    };
    let mut response = Response::new(Bytes::from_static(text));
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain"),
    );
    response
}

/// Serves HTTP/1.x on `stream` (plain TCP, or TLS) until the client closes
/// it, asks to, breaks the protocol or runs out of time ([`Limits`]).
pub async fn serve<S, H, F, B>(stream: S, limits: Limits, mut handler: H) -> io::Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin,
    H: FnMut(Request<RequestBody>) -> F,
    F: Future<Output = Response<B>>,
    B: Body<Data = Bytes>,
    B::Error: std::fmt::Display,
{
    serve_until_closing(stream, limits, None, move |request, _raw| handler(request)).await
}

/// [`serve`], and once `closing` turns true (a graceful shutdown) the
/// connection ends at the next point where no request is lost: at once if
/// it is idle between requests, else after the current response, which
/// says `Connection: close`. The handler also gets the head's bytes as
/// sent (header names in the client's case).
pub async fn serve_until_closing<S, H, F, B>(
    stream: S,
    limits: Limits,
    mut closing: Option<watch::Receiver<bool>>,
    mut handler: H,
) -> io::Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin,
    H: FnMut(Request<RequestBody>, RawHead) -> F,
    F: Future<Output = Response<B>>,
    B: Body<Data = Bytes>,
    B::Error: std::fmt::Display,
{
    let mut conn = Conn {
        stream,
        buf: BytesMut::with_capacity(READ_CHUNK),
        out: Vec::with_capacity(1024),
        watchdog: Watchdog::new(limits.client_timeout),
        refusal: limits.refusal,
    };
    loop {
        let head = match conn.read_head(closing.as_mut()).await {
            Ok(Some(head)) => head,
            Ok(None) => return Ok(()),
            Err(refused) => return conn.refuse(refused).await,
        };

        // A whole head is progress; its bytes one by one are not (a head
        // trickled in must still arrive within the timeout).
        conn.watchdog.progress();
        let RequestHead {
            request,
            framing,
            mut keep_alive,
            expect_continue,
            raw,
        } = head;
        let version = request.version();
        let method = request.method().clone();
        let exchange = Exchange {
            method: &method,
            version,
            keep_alive,
        };
        let wanted = BodyWanted {
            framing,
            expect_continue: expect_continue && version == http::Version::HTTP_11,
            max_body: limits.max_body,
        };
        let (body, feeder) = match conn.body_at_hand(&wanted) {
            Some(body) => (body, None),
            None => {
                let (body, feeder) = RequestBody::deferred(framing.length());
                (body, Some(feeder))
            }
        };
        let whole = !matches!(body, RequestBody::TooLarge);
        // One handler future, pinned where it is made: the largest part of
        // this loop's state, never copied (awaited by value, or passed on by
        // value, it would be, on every request).
        let mut handling = pin!(handler(request.map(|()| body), raw));
        let (response, body) = match feeder {
            None => (handling.as_mut().await, BodyRead::whole(whole)),
            Some(feeder) => {
                conn.serve_deferred(handling, feeder, &wanted, &limits.body_budget)
                    .await
            }
        };
        // What is left of a body that was not read whole is never read: the
        // connection ends after the response.
        keep_alive &= body.whole;
        // Shutting down: this response is the connection's last.
        keep_alive &= !closing.as_ref().is_some_and(|c| *c.borrow());
        let exchange = Exchange {
            keep_alive,
            ..exchange
        };
        let written = conn.write_response(exchange, response).await;
        // The body's memory counts against the budget until its answer is out.
        drop(body.permit);
        if !written? {
            if !body.whole {
                conn.linger().await;
            } else {
                let _ = conn.stream.shutdown().await;
            }
            return Ok(());
        }
        if conn.buf.capacity() > MAX_IDLE_BUFFER {
            // A long head grew the read buffer: keep what is left in it,
            // not the memory, for the life of the connection.
            conn.buf = BytesMut::from(&conn.buf[..]);
        }
    }
}

/// What the head says of its body.
struct BodyWanted {
    framing: BodyFraming,
    /// `Expect: 100-continue` from an HTTP/1.1 client (HTTP/1.0 clients know
    /// no interim answers, RFC 9110 §10.1.1).
    expect_continue: bool,
    max_body: usize,
}

/// How a request's body was read, once its handler is done.
struct BodyRead {
    /// Read to its end: the next request starts right after it.
    whole: bool,
    /// Its bytes' share of the body budget.
    permit: Option<BudgetPermit>,
}

impl BodyRead {
    fn whole(whole: bool) -> BodyRead {
        BodyRead {
            whole,
            permit: None,
        }
    }
}

struct Conn<S> {
    stream: S,
    /// Read from the client, not yet consumed by a request.
    buf: BytesMut,
    /// The response being written (reused from one request to the next).
    out: Vec<u8>,
    watchdog: Watchdog,
    refusal: fn(HeadError) -> Response<Bytes>,
}

/// Ends a connection whose client makes no progress for a whole period of
/// the timeout: one timer for the connection's life, moved on only when it
/// fires, so a request costs a counter increment rather than a timer of its
/// own. An idle client is therefore cut off between one and two timeouts
/// after its last progress.
struct Watchdog {
    timer: Pin<Box<Sleep>>,
    timeout: Duration,
    /// Counts progress: a whole head, a piece of body, a response written.
    progress: u64,
    /// `progress` when the timer last fired (or started).
    seen: u64,
    /// The timer is registered with this task's waker, so it need not be
    /// polled again until it fires (polling a `Sleep` on every wait cost
    /// about 400 instructions a request, measured).
    armed: bool,
}

impl Watchdog {
    fn new(timeout: Duration) -> Watchdog {
        Watchdog {
            timer: Box::pin(tokio::time::sleep(timeout)),
            timeout,
            progress: 0,
            seen: 0,
            armed: false,
        }
    }

    fn progress(&mut self) {
        self.progress = self.progress.wrapping_add(1);
    }

    /// Runs one read or write on the client; `TimedOut` if a whole period
    /// passes without progress.
    async fn guard<T>(&mut self, io: impl Future<Output = io::Result<T>>) -> io::Result<T> {
        let mut io = pin!(io);
        std::future::poll_fn(|cx| {
            if let Poll::Ready(done) = io.as_mut().poll(cx) {
                return Poll::Ready(done);
            }
            if self.timer.is_elapsed() {
                if self.progress == self.seen {
                    return Poll::Ready(Err(io::ErrorKind::TimedOut.into()));
                }
                self.seen = self.progress;
                self.timer.as_mut().reset(Instant::now() + self.timeout);
                self.armed = false;
            }
            if !self.armed {
                // Pending: the timer keeps the waker (the connection's task
                // is one task throughout) and wakes it when it fires. Polled
                // outside tokio's task budget: with the budget spent (a burst
                // of pipelined requests answered at once), a `Sleep` returns
                // Pending without registering, and would never fire.
                let timer = pin!(tokio::task::unconstrained(self.timer.as_mut()));
                if timer.poll(cx).is_pending() {
                    self.armed = true;
                } else {
                    cx.waker().wake_by_ref();
                }
            }
            Poll::Pending
        })
        .await
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Conn<S> {
    /// Reads more into `buf`; `Ok(0)` is the end of the stream.
    async fn read_more(&mut self) -> io::Result<usize> {
        if self.buf.capacity() - self.buf.len() < 1024 {
            self.buf.reserve(READ_CHUNK);
        }
        self.watchdog
            .guard(self.stream.read_buf(&mut self.buf))
            .await
    }

    /// Writes `bytes` to the client.
    async fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        write_guarded(&mut self.stream, &mut self.watchdog, bytes).await
    }

    /// Writes what `out` holds, and empties it for what comes next.
    async fn flush_out(&mut self) -> io::Result<()> {
        write_guarded(&mut self.stream, &mut self.watchdog, &self.out).await?;
        self.out.clear();
        Ok(())
    }

    /// The next request's head; `Ok(None)` when the client closed between
    /// requests, or `closing` turned true while none had begun to arrive.
    async fn read_head(
        &mut self,
        closing: Option<&mut watch::Receiver<bool>>,
    ) -> Result<Option<RequestHead>, HeadError> {
        let mut closing = closing;
        loop {
            if !self.buf.is_empty() {
                if let Some(head) = parse_request_head(&mut self.buf)? {
                    return Ok(Some(head));
                }
            }
            let read = match closing.as_deref_mut() {
                // Idle between requests: shutting down ends the wait. A
                // head already begun is read to its end (the watchdog
                // bounds it) and answered.
                Some(closing) if self.buf.is_empty() => {
                    let closed = *closing.borrow();
                    if closed && !self.has_bytes_waiting().await {
                        return Ok(None);
                    }
                    let read = tokio::select! {
                        biased;
                        read = self.read_more() => Some(read),
                        // (The guard it returns is dropped here, not held
                        // across the read below.)
                        _ = closing.wait_for(|c| *c) => None,
                    };
                    match read {
                        Some(read) => read,
                        None if self.has_bytes_waiting().await => continue,
                        None => return Ok(None),
                    }
                }
                _ => self.read_more().await,
            };
            match read {
                Ok(0) | Err(_) => return Ok(None),
                Ok(_) => {}
            }
        }
    }

    /// Whether the client has sent bytes not yet read (a request that was
    /// on its way when shutdown began is still served).
    async fn has_bytes_waiting(&mut self) -> bool {
        if self.buf.capacity() - self.buf.len() < 1024 {
            self.buf.reserve(READ_CHUNK);
        }
        // One poll: what has arrived is taken, nothing is waited for.
        let mut read = pin!(self.stream.read_buf(&mut self.buf));
        let polled = std::future::poll_fn(|cx| Poll::Ready(read.as_mut().poll(cx))).await;
        match polled {
            Poll::Ready(Ok(n)) => n > 0,
            _ => false,
        }
    }

    /// The body when no read is needed for it: none, too long to read, or
    /// already whole in the buffer. None: the body must be read (deferred).
    fn body_at_hand(&mut self, wanted: &BodyWanted) -> Option<RequestBody> {
        match wanted.framing {
            BodyFraming::Empty => Some(RequestBody::empty()),
            BodyFraming::Length(n) if n > wanted.max_body as u64 => Some(RequestBody::TooLarge),
            BodyFraming::Length(n) if n as usize <= self.buf.len() => Some(RequestBody::Buffered(
                Some(self.buf.split_to(n as usize).freeze()),
            )),
            BodyFraming::Length(_) | BodyFraming::Chunked => None,
        }
    }

    /// Runs `handling` (the handler with a deferred body) and, if it asks,
    /// reads the body for it meanwhile: the connection is this task's, so the
    /// two take turns rather than run at once.
    async fn serve_deferred<F: Future>(
        &mut self,
        mut handling: Pin<&mut F>,
        feeder: BodyFeeder,
        wanted: &BodyWanted,
        budget: &Arc<BodyBudget>,
    ) -> (F::Output, BodyRead) {
        let BodyFeeder { asked, deliver } = feeder;
        tokio::select! {
            biased;
            response = &mut handling => return (response, BodyRead::whole(false)),
            asked = asked => {
                if asked.is_err() {
                    // The body was dropped unread.
                    return (handling.await, BodyRead::whole(false));
                }
            }
        }
        let mut permit = budget.permit();
        let read = self.read_body(wanted, &mut permit).await;
        let whole = read.is_ok();
        let _ = deliver.send(read);
        let response = handling.await;
        (
            response,
            BodyRead {
                whole,
                permit: Some(permit),
            },
        )
    }

    /// Reads a body that is not yet whole in the buffer, taking its bytes
    /// from the budget as they come.
    async fn read_body(
        &mut self,
        wanted: &BodyWanted,
        permit: &mut BudgetPermit,
    ) -> io::Result<Bytes> {
        if wanted.expect_continue && self.buf.is_empty() {
            self.write(b"HTTP/1.1 100 Continue\r\n\r\n").await?;
        }
        let n = match wanted.framing {
            BodyFraming::Length(n) => n as usize,
            BodyFraming::Chunked => return self.read_chunked(wanted.max_body, permit).await,
            BodyFraming::Empty => return Ok(Bytes::new()),
        };
        if !permit.grow(n) {
            return Err(io::ErrorKind::OutOfMemory.into());
        }
        // A body longer than what is buffered gets its own buffer of exactly
        // its size, read to its end and no further: the connection's read
        // buffer stays small for the next request.
        let mut body = BytesMut::with_capacity(n);
        let buffered = self.buf.len().min(n);
        body.extend_from_slice(&self.buf.split_to(buffered));
        while body.len() < n {
            let left = (n - body.len()) as u64;
            self.watchdog.progress();
            let mut rest = (&mut self.stream).take(left);
            if self.watchdog.guard(rest.read_buf(&mut body)).await? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
        Ok(body.freeze())
    }

    async fn read_chunked(
        &mut self,
        max_body: usize,
        permit: &mut BudgetPermit,
    ) -> io::Result<Bytes> {
        let mut decoder = ChunkedDecoder::default();
        let mut body = BytesMut::new();
        loop {
            match decoder.decode(&mut self.buf)? {
                Decoded::Data(piece) => {
                    if body.len() + piece.len() > max_body {
                        return Err(io::ErrorKind::FileTooLarge.into());
                    }
                    if !permit.grow(piece.len()) {
                        return Err(io::ErrorKind::OutOfMemory.into());
                    }
                    body.extend_from_slice(&piece);
                }
                Decoded::Done => return Ok(body.freeze()),
                Decoded::NeedMore => {
                    self.watchdog.progress();
                    if self.read_more().await? == 0 {
                        return Err(io::ErrorKind::UnexpectedEof.into());
                    }
                }
            }
        }
    }

    /// Writes the response; returns whether the connection lives on.
    async fn write_response<B>(
        &mut self,
        exchange: Exchange<'_>,
        response: Response<B>,
    ) -> io::Result<bool>
    where
        B: Body<Data = Bytes>,
        B::Error: std::fmt::Display,
    {
        let (parts, body) = response.into_parts();
        let exact = body.size_hint().exact();
        self.out.clear();
        let (body_out, keep_alive) =
            encode_head(&mut self.out, exchange, parts.status, &parts.headers, exact);
        drop(parts);
        if body_out == BodyOut::None {
            self.flush_out().await?;
            return Ok(keep_alive);
        }
        let mut body = std::pin::pin!(body);
        let mut sent = 0u64;
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| {
                // The client sees the response end early; never the reason.
                tracing::debug!(error = %e, "response body failed");
                io::Error::other("response body failed")
            })?;
            let Ok(data) = frame.into_data() else {
                continue; // trailers: not sent over HTTP/1.1
            };
            if data.is_empty() {
                continue;
            }
            sent += data.len() as u64;
            if matches!(body_out, BodyOut::Length(n) if sent > n) {
                // More than its declared length: the excess would be read as
                // the next response. Nothing more goes out; the connection ends.
                tracing::debug!(sent, "response body longer than its length");
                return Err(io::Error::other("response body longer than its length"));
            }
            if body_out == BodyOut::Chunked {
                let mut size = [0u8; 16];
                let hex = hex_size(data.len(), &mut size);
                self.out.extend_from_slice(hex);
                self.out.extend_from_slice(b"\r\n");
                self.out.extend_from_slice(&data);
                self.out.extend_from_slice(b"\r\n");
                // A streamed body goes out as it comes (a client may be
                // waiting on each piece).
                self.flush_out().await?;
            } else if self.out.len() + data.len() <= INLINE_BODY {
                self.out.extend_from_slice(&data);
            } else {
                self.flush_out().await?;
                self.write(&data).await?;
            }
            if body_out == BodyOut::Length(sent) {
                // All of it: out before the body is polled for its end, so
                // that whoever watches the body sees the end once the client
                // has had the last byte.
                self.flush_out().await?;
            }
        }
        match body_out {
            BodyOut::Chunked => self.out.extend_from_slice(b"0\r\n\r\n"),
            BodyOut::Length(n) if n != sent => {
                // Shorter than its declared length: the client cannot tell
                // where this response ends, so the connection must.
                tracing::debug!(declared = n, sent, "response body length mismatch");
                self.flush_out().await?;
                return Err(io::Error::other("response body length mismatch"));
            }
            _ => {}
        }
        self.flush_out().await?;
        Ok(keep_alive && body_out != BodyOut::UntilClose)
    }

    /// Answers a head that cannot be served, and closes.
    async fn refuse(mut self, refused: HeadError) -> io::Result<()> {
        let (parts, body) = (self.refusal)(refused).into_parts();
        let exchange = Exchange {
            method: &Method::GET,
            version: http::Version::HTTP_11,
            keep_alive: false,
        };
        self.out.clear();
        encode_head(
            &mut self.out,
            exchange,
            parts.status,
            &parts.headers,
            Some(body.len() as u64),
        );
        self.out.extend_from_slice(&body);
        self.flush_out().await?;
        self.linger().await;
        Ok(())
    }

    /// Stops writing, then reads and drops what the client still sends, for
    /// a bounded time and amount, before the connection closes.
    async fn linger(mut self) {
        if self.stream.shutdown().await.is_err() {
            return;
        }
        let mut scratch = vec![0u8; READ_CHUNK];
        let mut dropped = 0usize;
        let drain = async {
            while dropped < LINGER_BYTES {
                match self.stream.read(&mut scratch).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => dropped += n,
                }
            }
        };
        let _ = tokio::time::timeout(LINGER_TIME, drain).await;
    }
}

/// Writes `bytes` to the client. Each part it takes is progress, so a large
/// response read steadily is never cut, and the handler's own time before it
/// does not count either.
async fn write_guarded<S: AsyncWrite + Unpin>(
    stream: &mut S,
    watchdog: &mut Watchdog,
    mut bytes: &[u8],
) -> io::Result<()> {
    while !bytes.is_empty() {
        watchdog.progress();
        let written = watchdog.guard(stream.write(bytes)).await?;
        if written == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        bytes = &bytes[written..];
    }
    Ok(())
}

/// `n` in lower-case hex, for a chunk-size line.
fn hex_size(mut n: usize, buf: &mut [u8; 16]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b"0123456789abcdef"[n & 0xf];
        n >>= 4;
        if n == 0 {
            return &buf[i..];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_sizes_in_hex() {
        let mut buf = [0u8; 16];
        assert_eq!(hex_size(0, &mut buf), b"0");
        assert_eq!(hex_size(255, &mut buf), b"ff");
        assert_eq!(hex_size(0x1000, &mut buf), b"1000");
    }
}

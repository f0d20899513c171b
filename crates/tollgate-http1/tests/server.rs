//! The HTTP/1.x front end against raw client sockets: framing, keep-alive,
//! pipelining, 100-continue, HTTP/1.0, refusals and streamed answers.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body::{Body, Frame};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use tollgate_http1::request::HeadError;
use tollgate_http1::server::{
    plain_refusal, serve, serve_until_closing, starts_with_http2_preface, Limits,
};
use tollgate_http1::BodyBudget;
use tollgate_http1::RequestBody;

/// The most a request body may be in these tests.
const MAX_BODY: usize = 1024;

/// A body of known pieces and no declared length, as a streamed upstream body is.
struct Pieces(VecDeque<Bytes>);

impl Body for Pieces {
    type Data = Bytes;
    type Error = Infallible;
    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Ready(self.0.pop_front().map(|b| Ok(Frame::data(b))))
    }
}

/// A body whose size hint says one length and whose data is another.
struct Declared(u64, Option<Bytes>);

impl Body for Declared {
    type Data = Bytes;
    type Error = Infallible;
    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Ready(self.1.take().map(|b| Ok(Frame::data(b))))
    }
    fn size_hint(&self) -> http_body::SizeHint {
        http_body::SizeHint::with_exact(self.0)
    }
}

/// Echoes the request body, with what the handler saw in headers;
/// `/stream` answers in pieces of unknown total length; a body over the
/// limit gets 413.
async fn handler(req: Request<RequestBody>) -> Response<BoxBody<Bytes, Infallible>> {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    if path == "/stream" {
        let pieces = [&b"first,"[..], b"second,", b"third"].map(Bytes::from_static);
        return Response::new(Pieces(pieces.into()).boxed());
    }
    if path == "/refuse" {
        // Refused on its head: the body is never asked for.
        let mut r = Response::new(Full::new(Bytes::from_static(b"refused")).boxed());
        *r.status_mut() = StatusCode::FORBIDDEN;
        return r;
    }
    let body = match req.into_body().collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) => {
            let (status, text) = match e.kind() {
                std::io::ErrorKind::FileTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "too large"),
                std::io::ErrorKind::OutOfMemory => {
                    (StatusCode::SERVICE_UNAVAILABLE, "over the budget")
                }
                _ => (StatusCode::BAD_REQUEST, r#"{"message":"Bad Request"}"#),
            };
            let mut r = Response::new(Full::new(Bytes::from_static(text.as_bytes())).boxed());
            *r.status_mut() = status;
            r.headers_mut()
                .insert("content-type", "application/json".parse().expect("ascii"));
            return r;
        }
    };
    if path == "/slow" {
        // A handler slower than the client timeout (an upstream at work).
        tokio::time::sleep(TIMEOUT * 3).await;
    }
    if path == "/large" {
        return Response::new(Full::new(Bytes::from(vec![b'l'; LARGE])).boxed());
    }
    if path == "/lies" {
        // Declares 3 bytes and gives more, as a broken body might.
        let excess = Bytes::from_static(b"abcHTTP/1.1 200 OK\r\nforged: yes\r\n\r\n");
        return Response::new(Declared(3, Some(excess)).boxed());
    }
    // HEAD gets a body from the handler too; the front end must not send it.
    let body = if method == Method::HEAD {
        Bytes::from_static(b"not for HEAD")
    } else {
        body
    };
    let mut r = Response::new(Full::new(body).boxed());
    r.headers_mut()
        .insert("x-seen", format!("{method} {path}").parse().expect("ascii"));
    if method == Method::HEAD {
        r.headers_mut()
            .insert("content-length", "42".parse().expect("ascii"));
    }
    r
}

/// A listening front end; each connection is served with [`handler`].
async fn start() -> std::net::SocketAddr {
    start_with_timeout(Duration::from_secs(30)).await
}

async fn start_with_timeout(client_timeout: Duration) -> std::net::SocketAddr {
    start_with(client_timeout, BodyBudget::new(usize::MAX)).await
}

/// The refusal a caller of the front end chooses: JSON here.
fn json_refusal(refused: HeadError) -> Response<Bytes> {
    let mut r = plain_refusal(refused);
    *r.body_mut() = Bytes::from_static(br#"{"message":"Bad Request"}"#);
    r.headers_mut()
        .insert("content-type", "application/json".parse().expect("ascii"));
    r
}

async fn start_with(
    client_timeout: Duration,
    body_budget: Arc<BodyBudget>,
) -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let limits = Limits {
        max_body: MAX_BODY,
        client_timeout,
        body_budget,
        refusal: json_refusal,
    };
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(serve(stream, limits.clone(), handler));
        }
    });
    addr
}

/// One response as the client reads it.
#[derive(Debug)]
struct Answer {
    head: String,
    body: Vec<u8>,
}

impl Answer {
    fn status(&self) -> u16 {
        self.head[9..12].parse().expect("status code")
    }
    /// What the handler saw: `METHOD /path`.
    fn seen(&self) -> Option<String> {
        self.header("x-seen")
    }

    fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|line| {
            let (n, v) = line.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    }
}

/// A client connection that reads whole responses.
struct Client {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Client {
    async fn connect(addr: std::net::SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).await.expect("connect");
        Client {
            stream,
            buf: Vec::new(),
        }
    }

    async fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.expect("write");
    }

    /// Sends `bytes` and reads the one response they ask for.
    async fn exchange(&mut self, bytes: &[u8]) -> Answer {
        self.send(bytes).await;
        self.answer(false).await
    }

    /// Reads more; false at the end of the stream.
    async fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 8192];
        let n = tokio::time::timeout(Duration::from_secs(5), self.stream.read(&mut chunk))
            .await
            .expect("the server answers within 5 s")
            .expect("read");
        self.buf.extend_from_slice(&chunk[..n]);
        n > 0
    }

    /// Reads one response head (through the blank line).
    async fn head(&mut self) -> String {
        loop {
            if let Some(end) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8(self.buf.drain(..end + 4).collect()).expect("ascii");
                return head;
            }
            assert!(
                self.fill().await,
                "connection closed before a response head"
            );
        }
    }

    /// Reads one response, its body framed as its head says; `head_request`:
    /// no body follows.
    async fn answer(&mut self, head_request: bool) -> Answer {
        let head = self.head().await;
        let mut answer = Answer {
            head,
            body: Vec::new(),
        };
        if head_request {
            return answer;
        }
        if let Some(n) = answer.header("content-length") {
            let n: usize = n.parse().expect("length");
            while self.buf.len() < n {
                assert!(self.fill().await, "body cut short");
            }
            answer.body = self.buf.drain(..n).collect();
        } else if answer.header("transfer-encoding").as_deref() == Some("chunked") {
            loop {
                let text = String::from_utf8_lossy(&self.buf).to_string();
                if let Some(end) = text
                    .find("\r\n0\r\n\r\n")
                    .or_else(|| text.starts_with("0\r\n\r\n").then_some(0))
                {
                    let raw: Vec<u8> = self
                        .buf
                        .drain(..end + if end == 0 { 5 } else { 7 })
                        .collect();
                    answer.body = dechunk(&raw);
                    break;
                }
                assert!(self.fill().await, "chunked body cut short");
            }
        } else {
            while self.fill().await {}
            answer.body = std::mem::take(&mut self.buf);
        }
        answer
    }

    /// True when the server has closed the connection (after any bytes left).
    async fn closed(&mut self) -> bool {
        self.buf.is_empty() && !self.fill().await
    }
}

fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = raw
            .windows(2)
            .position(|w| w == b"\r\n")
            .expect("size line");
        let size = usize::from_str_radix(std::str::from_utf8(&raw[..line_end]).expect("hex"), 16)
            .expect("chunk size");
        raw = &raw[line_end + 2..];
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&raw[..size]);
        raw = &raw[size + 2..];
    }
}

#[tokio::test]
async fn keeps_the_connection_and_answers_pipelined_requests_in_order() {
    let mut client = Client::connect(start().await).await;
    let first = client
        .exchange(
            b"POST /one HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello\
              GET /two HTTP/1.1\r\nHost: t\r\n\r\n",
        )
        .await;
    assert_eq!(first.status(), 200);
    assert_eq!(first.seen().as_deref(), Some("POST /one"));
    assert_eq!(first.body, b"hello");
    assert!(first.header("date").is_some(), "{}", first.head);
    let second = client.answer(false).await;
    assert_eq!(second.seen().as_deref(), Some("GET /two"));
    assert_eq!(second.header("content-length").as_deref(), Some("0"));
    // The same connection serves a third request after both.
    assert_eq!(
        client
            .exchange(b"GET /three HTTP/1.1\r\nHost: t\r\n\r\n")
            .await
            .seen()
            .as_deref(),
        Some("GET /three")
    );
}

#[tokio::test]
async fn a_chunked_request_body_reaches_the_handler_whole() {
    let mut client = Client::connect(start().await).await;
    client
        .send(
            b"PUT /c HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n4;ext=1\r\nwiki\r\n",
        )
        .await;
    let answer = client
        .exchange(b"5\r\npedia\r\n0\r\nTrailer: x\r\n\r\n")
        .await;
    assert_eq!(answer.body, b"wikipedia");
    assert_eq!(answer.seen().as_deref(), Some("PUT /c"));
}

#[tokio::test]
async fn expect_100_continue_gets_its_go_ahead_before_the_body() {
    let mut client = Client::connect(start().await).await;
    client
        .send(b"POST /e HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n")
        .await;
    let interim = client.head().await;
    assert!(
        interim.starts_with("HTTP/1.1 100 Continue\r\n"),
        "{interim}"
    );
    let answer = client.exchange(b"body").await;
    assert_eq!(
        (answer.status(), answer.body.as_slice()),
        (200, &b"body"[..])
    );
}

#[tokio::test]
async fn a_request_refused_on_its_head_never_has_its_body_read() {
    let mut client = Client::connect(start().await).await;
    // No go-ahead is sent for a body nobody wants: the answer comes first.
    client
        .send(b"POST /refuse HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\nExpect: 100-continue\r\n\r\n")
        .await;
    let answer = client.answer(false).await;
    assert_eq!(
        (answer.status(), answer.body.as_slice()),
        (403, &b"refused"[..])
    );
    assert_eq!(answer.header("connection").as_deref(), Some("close"));
    assert!(client.closed().await);
}

#[tokio::test]
async fn bodies_past_the_shared_budget_are_not_read() {
    let addr = start_with(Duration::from_secs(30), BodyBudget::new(100)).await;
    let mut client = Client::connect(addr).await;
    client
        .send(b"POST /b HTTP/1.1\r\nHost: t\r\nContent-Length: 200\r\n\r\n")
        .await;
    let answer = client.answer(false).await;
    assert_eq!(
        (answer.status(), answer.body.as_slice()),
        (503, &b"over the budget"[..])
    );
    // Within the budget (a body that did not come with its head), fine.
    let mut client = Client::connect(addr).await;
    client
        .send(b"POST /b HTTP/1.1\r\nHost: t\r\nContent-Length: 90\r\n\r\n")
        .await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    let answer = client.exchange(&[b'z'; 90]).await;
    assert_eq!((answer.status(), answer.body.len()), (200, 90));
}

#[tokio::test]
async fn http_1_0_is_answered_in_kind_and_closed_unless_kept_alive() {
    let addr = start().await;
    let mut client = Client::connect(addr).await;
    let answer = client.exchange(b"GET /old HTTP/1.0\r\n\r\n").await;
    assert!(
        answer.head.starts_with("HTTP/1.0 200 OK\r\n"),
        "{}",
        answer.head
    );
    assert_eq!(answer.header("connection").as_deref(), Some("close"));
    assert!(client.closed().await);

    let mut client = Client::connect(addr).await;
    let answer = client
        .exchange(b"GET /kept HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        .await;
    assert_eq!(answer.header("connection").as_deref(), Some("keep-alive"));
    assert_eq!(
        client
            .exchange(b"GET /again HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            .await
            .seen()
            .as_deref(),
        Some("GET /again")
    );
}

#[tokio::test]
async fn connection_close_is_honoured() {
    let mut client = Client::connect(start().await).await;
    let answer = client
        .exchange(b"GET /bye HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .await;
    assert_eq!(answer.header("connection").as_deref(), Some("close"));
    assert!(client.closed().await);
}

#[tokio::test]
async fn streamed_bodies_are_chunked_for_1_1_and_end_the_connection_for_1_0() {
    let addr = start().await;
    let mut client = Client::connect(addr).await;
    let answer = client
        .exchange(b"GET /stream HTTP/1.1\r\nHost: t\r\n\r\n")
        .await;
    assert_eq!(
        answer.header("transfer-encoding").as_deref(),
        Some("chunked")
    );
    assert_eq!(answer.body, b"first,second,third");
    // Still open for the next request.
    assert_eq!(
        client
            .exchange(b"GET /next HTTP/1.1\r\nHost: t\r\n\r\n")
            .await
            .status(),
        200
    );

    let mut client = Client::connect(addr).await;
    let answer = client
        .exchange(b"GET /stream HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        .await;
    assert_eq!(answer.header("transfer-encoding"), None);
    assert_eq!(answer.header("connection").as_deref(), Some("close"));
    assert_eq!(answer.body, b"first,second,third");
}

#[tokio::test]
async fn head_answers_carry_the_length_but_no_body() {
    let mut client = Client::connect(start().await).await;
    client
        .send(b"HEAD /h HTTP/1.1\r\nHost: t\r\n\r\nGET /after HTTP/1.1\r\nHost: t\r\n\r\n")
        .await;
    let head = client.answer(true).await;
    assert_eq!(head.header("content-length").as_deref(), Some("42"));
    // Had a body followed, it would be read as the next response's head.
    let next = client.answer(false).await;
    assert_eq!(next.seen().as_deref(), Some("GET /after"));
}

#[tokio::test]
async fn an_oversized_body_is_refused_and_the_answer_survives_the_close() {
    let mut client = Client::connect(start().await).await;
    // Megabytes: more than the sockets' buffers hold, so unless the server
    // reads and drops them, its close resets the connection under the answer.
    let declared = 8 * 1024 * 1024;
    client
        .send(
            format!("POST /big HTTP/1.1\r\nHost: t\r\nContent-Length: {declared}\r\n\r\n")
                .as_bytes(),
        )
        .await;
    // The client goes on sending its body; the server reads and drops it
    // rather than resetting the connection under the answer.
    client.send(&vec![b'x'; declared]).await;
    let answer = client.answer(false).await;
    assert_eq!(
        (answer.status(), answer.body.as_slice()),
        (413, &b"too large"[..])
    );
    assert_eq!(answer.header("connection").as_deref(), Some("close"));
    assert!(client.closed().await);

    // Chunked, past the limit: the same.
    let mut client = Client::connect(start().await).await;
    let chunk = format!("{:x}\r\n{}\r\n", MAX_BODY + 1, "y".repeat(MAX_BODY + 1));
    assert_eq!(client.exchange(format!("POST /big HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n{chunk}0\r\n\r\n").as_bytes()).await.status(), 413);
    assert!(client.closed().await);
}

#[tokio::test]
async fn a_body_longer_than_its_length_is_cut_and_the_connection_ends() {
    let mut client = Client::connect(start().await).await;
    client.send(b"GET /lies HTTP/1.1\r\nHost: t\r\n\r\n").await;
    // The connection ends, and none of the excess (a forged response) reaches
    // the client: at most the declared 3 bytes after the head.
    while client.fill().await {}
    let seen = String::from_utf8_lossy(&client.buf).to_string();
    assert!(!seen.contains("forged"), "{seen}");
    if let Some(body_start) = seen.find("\r\n\r\n") {
        assert!(seen.contains("content-length: 3\r\n"), "{seen}");
        assert!(seen.len() - body_start - 4 <= 3, "{seen}");
    }
}

#[tokio::test]
async fn malformed_requests_get_400_and_a_closed_connection() {
    let addr = start().await;
    for wire in [
        &b"GARBAGE\r\n\r\n"[..],
        b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
        b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\nabc",
        b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        // Framings another parser on the path could read differently.
        b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: +5\r\n\r\nhello",
        b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n",
        // No Host, or two (RFC 9112 §3.2).
        b"GET / HTTP/1.1\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
    ] {
        let mut client = Client::connect(addr).await;
        let answer = client.exchange(wire).await;
        assert_eq!(answer.status(), 400, "{}", String::from_utf8_lossy(wire));
        assert_eq!(
            answer.header("content-type").as_deref(),
            Some("application/json")
        );
        assert_eq!(answer.body, br#"{"message":"Bad Request"}"#);
        assert!(client.closed().await);
    }
}

#[tokio::test]
async fn an_oversized_head_gets_431() {
    let mut client = Client::connect(start().await).await;
    let pad = "a".repeat(70 * 1024);
    let answer = client
        .exchange(format!("GET / HTTP/1.1\r\nX-Pad: {pad}\r\n\r\n").as_bytes())
        .await;
    assert_eq!(answer.status(), 431);
    assert!(client.closed().await);
}

#[tokio::test]
async fn the_http2_preface_is_recognised_without_consuming_it() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    for (wire, h2) in [
        (&b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"[..], true),
        (b"POST / HTTP/1.1\r\n\r\n", false),
        (b"GET / HTTP/1.1\r\n\r\n", false),
    ] {
        let mut client = TcpStream::connect(addr).await.expect("connect");
        client.write_all(wire).await.expect("write");
        let (server_side, _) = listener.accept().await.expect("accept");
        assert_eq!(
            starts_with_http2_preface(&server_side, Duration::from_secs(5))
                .await
                .expect("peek"),
            h2
        );
        // Nothing was consumed: the whole opening is still there to read.
        let mut all = vec![0u8; wire.len()];
        let mut server_side = server_side;
        server_side.read_exact(&mut all).await.expect("read");
        assert_eq!(all, wire);
    }
}

/// The client timeout of the timeout tests below.
const TIMEOUT: Duration = Duration::from_millis(300);

/// The size of `/large`'s answer: more than the sockets' buffers hold.
const LARGE: usize = 8 * 1024 * 1024;

/// A client was disconnected by the timeout: not before one period, and
/// within two (with room for a loaded machine).
fn assert_cut_off_by_the_timeout(waited: Duration) {
    assert!(
        waited >= TIMEOUT - Duration::from_millis(50) && waited < TIMEOUT * 4,
        "{waited:?}"
    );
}

/// Seconds from now until the server closes `client`'s connection.
async fn time_to_close(client: &mut Client) -> Duration {
    let started = std::time::Instant::now();
    while client.fill().await {}
    started.elapsed()
}

#[tokio::test]
async fn a_silent_or_idle_client_is_disconnected_after_the_timeout() {
    let addr = start_with_timeout(TIMEOUT).await;
    let mut silent = Client::connect(addr).await;
    let waited = time_to_close(&mut silent).await;
    assert_cut_off_by_the_timeout(waited);

    // Idle after a response: the same timeout, counted from the response.
    let mut idle = Client::connect(addr).await;
    tokio::time::sleep(TIMEOUT / 2).await;
    assert_eq!(
        idle.exchange(b"GET /one HTTP/1.1\r\nHost: t\r\n\r\n")
            .await
            .status(),
        200
    );
    let waited = time_to_close(&mut idle).await;
    assert_cut_off_by_the_timeout(waited);
}

#[tokio::test]
async fn a_head_trickled_in_does_not_hold_the_connection() {
    let mut client = Client::connect(start_with_timeout(TIMEOUT).await).await;
    let started = std::time::Instant::now();
    // One byte every 50 ms: each read makes progress, but the head as a
    // whole must arrive within the timeout.
    for byte in b"GET / HTTP/1.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" {
        if client.stream.write_all(&[*byte]).await.is_err() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        if started.elapsed() > TIMEOUT * 4 {
            break;
        }
    }
    time_to_close(&mut client).await;
    assert!(started.elapsed() < TIMEOUT * 4, "{:?}", started.elapsed());
    assert!(client.buf.is_empty(), "no answer to a head that never came");
}

#[tokio::test]
async fn a_body_that_stops_coming_ends_the_connection_and_one_that_keeps_coming_does_not() {
    let addr = start_with_timeout(TIMEOUT).await;
    let mut stalled = Client::connect(addr).await;
    stalled
        .send(b"POST /s HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nhello")
        .await;
    let waited = time_to_close(&mut stalled).await;
    assert!(waited < TIMEOUT * 4, "{waited:?}");
    // The handler asked for the body and was told it failed: its answer,
    // if any, is an error, never a request served with half a body.
    let seen = String::from_utf8_lossy(&stalled.buf);
    assert!(
        seen.is_empty() || seen.starts_with("HTTP/1.1 400 "),
        "{seen}"
    );

    // Pieces that each come within the timeout, though all of them take
    // longer than it: served.
    let mut slow = Client::connect(addr).await;
    slow.send(b"POST /s HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n\r\n")
        .await;
    for piece in [b"ab", b"cd"] {
        tokio::time::sleep(TIMEOUT * 2 / 3).await;
        slow.send(piece).await;
    }
    let answer = slow.answer(false).await;
    assert_eq!(
        (answer.status(), answer.body.as_slice()),
        (200, &b"abcd"[..])
    );
}

#[tokio::test]
async fn a_burst_of_pipelined_requests_does_not_disarm_the_timeout() {
    let mut client = Client::connect(start_with_timeout(TIMEOUT).await).await;
    // Hundreds of requests answered in one go spend the task's budget with
    // tokio; the timer must be armed all the same.
    let burst = "GET /b HTTP/1.1\r\nHost: t\r\n\r\n".repeat(400);
    client.send(burst.as_bytes()).await;
    for _ in 0..400 {
        assert_eq!(client.answer(false).await.status(), 200);
    }
    let waited = time_to_close(&mut client).await;
    assert!(waited < TIMEOUT * 4, "{waited:?}");
}

#[tokio::test]
async fn a_slow_handler_is_not_the_clients_fault() {
    let mut client = Client::connect(start_with_timeout(TIMEOUT).await).await;
    assert_eq!(
        client
            .exchange(b"GET /slow HTTP/1.1\r\nHost: t\r\n\r\n")
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn a_large_response_read_steadily_is_not_cut() {
    // A longer timeout than the other tests': on a loaded machine (CI on two
    // cores) a reader's 4 ms pause can stretch well past 300 ms.
    let timeout = Duration::from_secs(1);
    let mut client = Client::connect(start_with_timeout(timeout).await).await;
    client.send(b"GET /large HTTP/1.1\r\nHost: t\r\n\r\n").await;
    let started = std::time::Instant::now();
    // 8 KiB every 4 ms: the whole takes several timeouts; the kernel frees
    // room for the next part of the write far sooner than one.
    let mut received = 0usize;
    let mut chunk = vec![0u8; 8 * 1024];
    let head_and_body = LARGE + 64;
    while received < head_and_body {
        let n = client.stream.read(&mut chunk).await.expect("read");
        if n == 0 {
            break;
        }
        received += n;
        tokio::time::sleep(Duration::from_millis(4)).await;
    }
    assert!(received >= LARGE, "cut after {received} bytes");
    assert!(
        started.elapsed() > timeout * 2,
        "{:?}: not slow enough to tell",
        started.elapsed()
    );
}

/// A server whose connections watch `closing`; every request takes 300 ms.
async fn start_closable(closing: tokio::sync::watch::Receiver<bool>) -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let limits = Limits {
        max_body: MAX_BODY,
        client_timeout: Duration::from_secs(30),
        body_budget: BodyBudget::new(1 << 20),
        refusal: json_refusal,
    };
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let slow = |req, _raw| async move {
                tokio::time::sleep(Duration::from_millis(300)).await;
                handler(req).await
            };
            tokio::spawn(serve_until_closing(
                stream,
                limits.clone(),
                Some(closing.clone()),
                slow,
            ));
        }
    });
    addr
}

#[tokio::test]
async fn closing_ends_idle_connections_and_answers_the_request_in_hand_last() {
    let (close, closing) = tokio::sync::watch::channel(false);
    let addr = start_closable(closing).await;
    let mut idle = Client::connect(addr).await;
    let first = idle.exchange(b"GET /one HTTP/1.1\r\nHost: t\r\n\r\n").await;
    assert_eq!(first.status(), 200);
    assert_eq!(
        first.header("connection"),
        None,
        "kept alive before closing"
    );
    let mut busy = Client::connect(addr).await;
    busy.send(b"GET /two HTTP/1.1\r\nHost: t\r\n\r\n").await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    close.send(true).expect("connections watch");

    // The idle connection is closed at once; the busy one gets its whole
    // answer, told it is the last, then the close.
    assert!(idle.closed().await);
    let answer = busy.answer(false).await;
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.seen().as_deref(), Some("GET /two"));
    assert_eq!(answer.header("connection").as_deref(), Some("close"));
    assert!(busy.closed().await);
}

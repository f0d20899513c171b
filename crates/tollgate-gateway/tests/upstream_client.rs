//! The upstream HTTP/1.1 client against scripted servers on loopback: body
//! framings, connection reuse, and what happens when a pooled connection dies.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode};
use http_body_util::BodyExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tollgate_gateway::upstream::UpstreamTarget;
use tollgate_gateway::upstream::{client_response_header, UpstreamError, UpstreamRequest};
use tollgate_gateway::UpstreamClient;

/// What the scripted server does with one request.
enum Action {
    /// Writes these pieces, pausing briefly between them.
    Reply(Vec<Vec<u8>>),
    /// Writes the reply, then closes the connection.
    ReplyThenClose(Vec<u8>),
    /// Closes without answering.
    Close,
    /// Never answers.
    Hang,
}

/// A request as the server read it.
#[derive(Debug, Clone)]
struct Seen {
    connection: usize,
    head: String,
    body: Vec<u8>,
}

struct Server {
    addr: std::net::SocketAddr,
    accepted: Arc<AtomicUsize>,
    seen: Arc<Mutex<Vec<Seen>>>,
}

type Script = Arc<dyn Fn(usize, &Seen) -> Action + Send + Sync>;

impl Server {
    async fn start(script: impl Fn(usize, &Seen) -> Action + Send + Sync + 'static) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let addr = listener.local_addr().expect("local addr");
        let accepted = Arc::new(AtomicUsize::new(0));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let script: Script = Arc::new(script);
        let (a, s) = (accepted.clone(), seen.clone());
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let connection = a.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(serve(stream, connection, s.clone(), script.clone()));
            }
        });
        Server {
            addr,
            accepted,
            seen,
        }
    }

    fn url(&self, path: &str) -> UpstreamTarget {
        UpstreamTarget::parse(&format!("http://{}{path}", self.addr)).expect("valid target")
    }

    fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("not poisoned").clone()
    }
}

async fn serve(
    mut stream: TcpStream,
    connection: usize,
    seen: Arc<Mutex<Vec<Seen>>>,
    script: Script,
) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        // One request: head, then a Content-Length body.
        let head_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
        let len = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))
            .and_then(|v| v.trim().parse::<usize>().ok())
            .unwrap_or(0);
        while buf.len() < head_end + len {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        let request = Seen {
            connection,
            head,
            body: buf[head_end..head_end + len].to_vec(),
        };
        buf.drain(..head_end + len);
        seen.lock().expect("not poisoned").push(request.clone());
        match script(connection, &request) {
            Action::Reply(pieces) => {
                for piece in pieces {
                    if stream.write_all(&piece).await.is_err() {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
            Action::ReplyThenClose(reply) => {
                let _ = stream.write_all(&reply).await;
                return;
            }
            Action::Close => return,
            Action::Hang => {
                tokio::time::sleep(Duration::from_secs(30)).await;
                return;
            }
        }
    }
}

fn ok(body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn request(method: Method, target: UpstreamTarget) -> UpstreamRequest {
    UpstreamRequest {
        method,
        target,
        headers: HeaderMap::new(),
        body: Bytes::new(),
        response_header_rule: None,
    }
}

const TIMEOUT: Duration = Duration::from_secs(5);

/// How a call in these tests failed.
#[derive(Debug, PartialEq, Eq)]
enum Failed {
    /// No response within the deadline.
    TimedOut,
    /// The upstream could not be reached, or its answer was broken.
    Io,
}

impl From<UpstreamError> for Failed {
    fn from(e: UpstreamError) -> Failed {
        match e {
            UpstreamError::TimedOut(_) => Failed::TimedOut,
            UpstreamError::Failed(_) => Failed::Io,
        }
    }
}

/// Sends and reads the whole body.
async fn call(
    client: &UpstreamClient,
    req: UpstreamRequest,
) -> Result<(StatusCode, HeaderMap, Bytes), Failed> {
    let response = client.send(req, TIMEOUT).await?;
    let (parts, body) = response.into_parts();
    let body = body.collect().await.map_err(|_| Failed::Io)?.to_bytes();
    Ok((parts.status, parts.headers, body))
}

#[tokio::test]
async fn long_bodies_stream_and_the_connection_is_reused() -> Result<(), Failed> {
    let big = "x".repeat(1 << 20);
    let reply = ok(&big);
    let server = Server::start(move |_, _| Action::Reply(vec![reply.clone()])).await;
    let client = UpstreamClient::default();
    let mut post = request(Method::POST, server.url("/jobs?a=1"));
    post.body = Bytes::from_static(b"{\"prompt\":\"hi\"}");
    post.headers
        .insert("authorization", http::HeaderValue::from_static("Bearer k"));
    let (status, _, body) = call(&client, post).await?;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body.len(), big.len());
    let (_, _, body) = call(&client, request(Method::GET, server.url("/jobs/1"))).await?;
    assert_eq!(body.len(), big.len());
    assert_eq!(
        server.accepted(),
        1,
        "the second request reuses the connection"
    );
    let seen = server.seen();
    let addr = server.addr;
    assert!(
        seen[0].head.starts_with("POST /jobs?a=1 HTTP/1.1\r\n"),
        "{}",
        seen[0].head
    );
    assert!(seen[0].head.contains(&format!("host: {addr}\r\n")));
    assert!(seen[0].head.contains("authorization: Bearer k\r\n"));
    assert!(seen[0].head.contains("content-length: 15\r\n"));
    assert_eq!(seen[0].body, b"{\"prompt\":\"hi\"}");
    assert!(seen[1].head.starts_with("GET /jobs/1 HTTP/1.1\r\n"));
    assert!(!seen[1].head.contains("content-length"));
    Ok(())
}

#[tokio::test]
async fn large_request_bodies_go_out_whole() -> Result<(), Failed> {
    // Past the size that shares a write with the head, the body is written
    // on its own; the upstream must still get every byte once.
    let server =
        Server::start(|_, seen| Action::Reply(vec![ok(&seen.body.len().to_string())])).await;
    let client = UpstreamClient::default();
    for size in [16 * 1024, 16 * 1024 + 1, 3 * 1024 * 1024] {
        let mut post = request(Method::POST, server.url("/upload"));
        post.body = Bytes::from((0..size).map(|i| (i % 251) as u8).collect::<Vec<u8>>());
        let sent = post.body.clone();
        let (_, _, body) = call(&client, post).await?;
        assert_eq!(body, size.to_string().as_bytes());
        let seen = server.seen();
        assert_eq!(seen.last().map(|s| s.body.as_slice()), Some(&sent[..]));
    }
    assert_eq!(server.accepted(), 1);
    Ok(())
}

#[tokio::test]
async fn chunked_bodies_are_decoded_in_pieces() -> Result<(), Failed> {
    let server = Server::start(|_, _| {
        Action::Reply(vec![
            b"HTTP/1.1 200 OK\r\nserver: scripted\r\ntransfer-encoding: chunked\r\n\r\n5;ext=1\r\nhel"
                .to_vec(),
            b"lo\r\n7\r\n, world\r\n".to_vec(),
            b"0\r\nx-trailer: t\r\n\r\n".to_vec(),
        ])
    })
    .await;
    let client = UpstreamClient::default();
    for _ in 0..2 {
        let (_, headers, body) = call(&client, request(Method::GET, server.url("/s"))).await?;
        assert_eq!(&body[..], b"hello, world");
        assert!(headers.contains_key("transfer-encoding"));
    }
    // HTTP_PROXY's rule drops hop-by-hop headers as they are parsed; the
    // framing is still read from them.
    let mut proxied = request(Method::GET, server.url("/s"));
    proxied.response_header_rule = Some(client_response_header);
    let (_, headers, body) = call(&client, proxied).await?;
    assert_eq!(&body[..], b"hello, world");
    assert!(!headers.contains_key("transfer-encoding"));
    assert_eq!(
        headers.get("x-amzn-remapped-server").map(|v| v.as_bytes()),
        Some(&b"scripted"[..])
    );
    assert_eq!(server.accepted(), 1);
    Ok(())
}

#[tokio::test]
async fn a_body_without_length_ends_with_the_connection() -> Result<(), Failed> {
    let server = Server::start(|_, _| {
        Action::ReplyThenClose(b"HTTP/1.1 200 OK\r\n\r\nuntil close".to_vec())
    })
    .await;
    let client = UpstreamClient::default();
    for _ in 0..2 {
        let (_, _, body) = call(&client, request(Method::GET, server.url("/"))).await?;
        assert_eq!(&body[..], b"until close");
    }
    assert_eq!(
        server.accepted(),
        2,
        "a close-delimited connection is not reused"
    );
    Ok(())
}

#[tokio::test]
async fn head_no_content_and_interim_responses() -> Result<(), Failed> {
    let server = Server::start(|_, seen| {
        if seen.head.starts_with("HEAD") {
            Action::Reply(vec![
                b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n".to_vec()
            ])
        } else if seen.head.starts_with("DELETE") {
            Action::Reply(vec![b"HTTP/1.1 204 No Content\r\n\r\n".to_vec()])
        } else {
            Action::Reply(vec![
                b"HTTP/1.1 100 Continue\r\n\r\n".to_vec(),
                ok("after continue"),
            ])
        }
    })
    .await;
    let client = UpstreamClient::default();
    let (status, headers, body) = call(&client, request(Method::HEAD, server.url("/"))).await?;
    assert_eq!((status, body.len()), (StatusCode::OK, 0));
    assert_eq!(
        headers.get("content-length").map(|v| v.as_bytes()),
        Some(&b"10"[..])
    );
    let (status, _, body) = call(&client, request(Method::DELETE, server.url("/j"))).await?;
    assert_eq!((status, body.len()), (StatusCode::NO_CONTENT, 0));
    let (status, _, body) = call(&client, request(Method::PUT, server.url("/j"))).await?;
    assert_eq!(
        (status, &body[..]),
        (StatusCode::OK, &b"after continue"[..])
    );
    assert_eq!(
        server.accepted(),
        2,
        "a new connection after the HEAD; the 204 and 100 Continue keep theirs"
    );
    Ok(())
}

/// A response whose body is itself a whole response: what a poisoned
/// connection would hand the next request as its answer.
fn poison(tag: &str) -> Vec<u8> {
    ok(&format!("{{\"poisoned\":\"{tag}\"}}"))
}

#[tokio::test]
async fn a_head_answered_with_a_body_never_answers_the_next_request() -> Result<(), Failed> {
    // The upstream answers HEAD as if it were GET: the head, then (in a
    // later segment) a body that happens to read as a whole response.
    let server = Server::start(|connection, seen| {
        if seen.head.starts_with("HEAD") {
            let mut head = b"HTTP/1.1 200 OK\r\ncontent-length: ".to_vec();
            let body = poison("by-HEAD");
            head.extend_from_slice(format!("{}\r\n\r\n", body.len()).as_bytes());
            Action::Reply(vec![head, body])
        } else {
            Action::Reply(vec![ok(&format!("real answer on connection {connection}"))])
        }
    })
    .await;
    let client = UpstreamClient::default();
    let (status, _, _) = call(&client, request(Method::HEAD, server.url("/"))).await?;
    assert_eq!(status, StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let (_, _, body) = call(&client, request(Method::GET, server.url("/jobs"))).await?;
    assert_eq!(&body[..], b"real answer on connection 1");
    Ok(())
}

#[tokio::test]
async fn bytes_sent_on_an_idle_connection_are_never_a_response() -> Result<(), Failed> {
    // After its answer, the upstream writes a second, unsolicited response
    // on the idle kept-alive connection.
    let server = Server::start(|connection, _| {
        if connection == 0 {
            Action::Reply(vec![ok("first"), poison("while-idle")])
        } else {
            Action::Reply(vec![ok("second, on a new connection")])
        }
    })
    .await;
    let client = UpstreamClient::default();
    let (_, _, body) = call(&client, request(Method::GET, server.url("/a"))).await?;
    assert_eq!(&body[..], b"first");
    tokio::time::sleep(Duration::from_millis(50)).await;
    let (_, _, body) = call(&client, request(Method::GET, server.url("/b"))).await?;
    assert_eq!(&body[..], b"second, on a new connection");
    assert_eq!(server.accepted(), 2);
    Ok(())
}

#[tokio::test]
async fn an_idle_connection_the_upstream_closed_is_not_used() -> Result<(), Failed> {
    // Every response closes its connection, as a server whose keep-alive
    // timer fired would; the client must notice before sending again.
    let server = Server::start(|_, _| Action::ReplyThenClose(ok("fine"))).await;
    let client = UpstreamClient::default();
    call(&client, request(Method::GET, server.url("/"))).await?;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let (_, _, body) = call(&client, request(Method::POST, server.url("/jobs"))).await?;
    assert_eq!(&body[..], b"fine");
    assert_eq!(server.accepted(), 2);
    assert_eq!(
        server.seen().len(),
        2,
        "each request reached the upstream once"
    );
    Ok(())
}

#[tokio::test]
async fn a_pooled_connection_dying_mid_request_is_retried_only_when_safe() -> Result<(), Failed> {
    // The first connection answers once, then takes the next request and
    // closes without a word; later connections answer.
    let server = Server::start(|connection, _| {
        let on_this_connection = connection;
        if on_this_connection == 0 {
            static FIRST: AtomicUsize = AtomicUsize::new(0);
            if FIRST.fetch_add(1, Ordering::SeqCst) == 0 {
                return Action::Reply(vec![ok("first")]);
            }
            return Action::Close;
        }
        Action::Reply(vec![ok("again")])
    })
    .await;
    let client = UpstreamClient::default();
    call(&client, request(Method::GET, server.url("/"))).await?;
    let (_, _, body) = call(&client, request(Method::GET, server.url("/poll"))).await?;
    assert_eq!(&body[..], b"again", "a GET is retried on a new connection");
    let polls: Vec<usize> = server
        .seen()
        .iter()
        .filter(|s| s.head.starts_with("GET /poll"))
        .map(|s| s.connection)
        .collect();
    assert_eq!(
        polls,
        [0, 1],
        "tried on the pooled connection, then on a new one"
    );

    // Same again for a POST: it may have reached the upstream, so it is not repeated.
    let server = Server::start(|connection, seen| {
        if connection == 0 && seen.head.starts_with("POST") {
            Action::Close
        } else {
            Action::Reply(vec![ok("first")])
        }
    })
    .await;
    call(&client, request(Method::GET, server.url("/"))).await?;
    let outcome = call(&client, request(Method::POST, server.url("/jobs"))).await;
    assert_eq!(outcome.err(), Some(Failed::Io));
    let posts = server
        .seen()
        .iter()
        .filter(|s| s.head.starts_with("POST"))
        .count();
    assert_eq!(posts, 1, "the POST reached the upstream exactly once");
    Ok(())
}

#[tokio::test]
async fn slow_broken_and_absent_upstreams() {
    let hang = Server::start(|_, _| Action::Hang).await;
    let client = UpstreamClient::default();
    let started = std::time::Instant::now();
    let outcome = client
        .send(
            request(Method::GET, hang.url("/")),
            Duration::from_millis(200),
        )
        .await;
    assert_eq!(outcome.err().map(Failed::from), Some(Failed::TimedOut));
    assert!(started.elapsed() < Duration::from_secs(2));

    let garbage = Server::start(|_, _| Action::Reply(vec![b"SPDY/9 what\r\n\r\n".to_vec()])).await;
    let outcome = call(&client, request(Method::GET, garbage.url("/"))).await;
    assert_eq!(outcome.err(), Some(Failed::Io));

    let truncated = Server::start(|_, _| {
        Action::ReplyThenClose(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nshort".to_vec())
    })
    .await;
    let response = client
        .send(request(Method::GET, truncated.url("/")), TIMEOUT)
        .await;
    let body = match response {
        Ok(r) => r.into_body().collect().await.map(|c| c.to_bytes()),
        Err(e) => panic!("the head arrived whole: {e:?}"),
    };
    assert!(
        body.is_err(),
        "a body cut short is an error, not a short body"
    );

    let closed = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = closed.local_addr().expect("addr");
    drop(closed);
    let target = UpstreamTarget::parse(&format!("http://{addr}/")).expect("target");
    let outcome = call(&client, request(Method::GET, target)).await;
    assert_eq!(outcome.err(), Some(Failed::Io));
}

#[tokio::test]
async fn h2c_upstreams_share_one_multiplexed_connection() -> Result<(), Failed> {
    use hyper::server::conn::http2;
    use hyper_util::rt::{TokioExecutor, TokioIo};

    // An HTTP/2-only server that echoes what it saw.
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("local addr");
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            let service = hyper::service::service_fn(
                |req: http::Request<hyper::body::Incoming>| async move {
                    let seen = format!(
                        "{:?} {} {} {}",
                        req.version(),
                        req.method(),
                        req.uri().authority().map(|a| a.as_str()).unwrap_or("-"),
                        req.uri()
                            .path_and_query()
                            .map(|p| p.as_str())
                            .unwrap_or("-"),
                    );
                    let body = req
                        .into_body()
                        .collect()
                        .await
                        .map(|c| c.to_bytes())
                        .unwrap_or_default();
                    let text = format!("{seen} {}", String::from_utf8_lossy(&body));
                    Ok::<_, std::convert::Infallible>(http::Response::new(
                        http_body_util::Full::new(Bytes::from(text)),
                    ))
                },
            );
            tokio::spawn(
                http2::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service),
            );
        }
    });

    let client = UpstreamClient::default().with_h2c_upstreams(&[addr.to_string()]);
    let target =
        |path: &str| UpstreamTarget::parse(&format!("http://{addr}{path}")).expect("target");
    let mut post = request(Method::POST, target("/jobs?x=1"));
    post.body = Bytes::from_static(b"hello");
    let (status, _, body) = call(&client, post).await?;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        String::from_utf8_lossy(&body),
        format!("HTTP/2.0 POST {addr} /jobs?x=1 hello")
    );
    // Concurrent streams; the test runtime has one thread, so one connection.
    let mut calls = tokio::task::JoinSet::new();
    for i in 0..8 {
        let (client, req) = (
            client.clone(),
            request(Method::GET, target(&format!("/jobs/{i}"))),
        );
        calls.spawn(async move { call(&client, req).await });
    }
    while let Some(joined) = calls.join_next().await {
        let (_, _, body) = joined.map_err(|_| Failed::Io)??;
        assert!(String::from_utf8_lossy(&body).starts_with("HTTP/2.0 GET"));
    }
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        1,
        "one connection carries every stream"
    );
    Ok(())
}

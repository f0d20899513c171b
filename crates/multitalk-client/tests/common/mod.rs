//! What the integration tests share: the reference MultiTalk server
//! (`multitalk-upstream`) in-process on a loopback port, and a tiny scripted
//! HTTP stub that answers in API Gateway's shapes (429 `Too Many Requests`,
//! 403 `Forbidden`, …), which the reference server never sends.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use multitalk_upstream::{bind, Recorder, UpstreamConfig};

/// The Bearer key the reference server accepts.
pub const KEY: &str = "test-key";

/// The reference server on 127.0.0.1:0, served by its own Tokio runtime.
pub struct Upstream {
    pub url: String,
    pub recorder: Arc<Recorder>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Upstream {
    /// Jobs take `job_duration` from submission to `completed` (progress 0,
    /// 10, 30, then 100, as on the real API); prompts containing `FAIL` fail.
    pub fn start(job_duration: Duration) -> Upstream {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("tokio runtime");
        let config = UpstreamConfig {
            api_keys: vec![KEY.to_owned()],
            job_duration,
            fail_prompts_containing: Some("FAIL".to_owned()),
            ..UpstreamConfig::default()
        };
        let upstream = runtime
            .block_on(bind("127.0.0.1:0", config))
            .expect("bind the reference server");
        let url = format!("http://{}", upstream.local_addr());
        let recorder = upstream.recorded();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        runtime.spawn(upstream.run(async {
            let _ = stopped.await;
        }));
        Upstream {
            url,
            recorder,
            stop: Some(stop),
            runtime: Some(runtime),
        }
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_timeout(Duration::from_secs(1));
        }
    }
}

/// A request the stub received.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    /// Names lower-cased.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// An answer of the stub.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    pub fn json(status: u16, body: impl Into<String>) -> Reply {
        Reply {
            status,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: body.into(),
        }
    }

    pub fn text(status: u16, body: impl Into<String>) -> Reply {
        Reply {
            status,
            headers: vec![("Content-Type".into(), "text/plain; charset=utf-8".into())],
            body: body.into(),
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// API Gateway's throttling answer: no `Retry-After`.
    pub fn throttled() -> Reply {
        Reply::json(429, r#"{"message":"Too Many Requests"}"#)
            .header("x-amzn-ErrorType", "TooManyRequestsException")
    }

    /// API Gateway's answer to a missing or unknown `x-api-key`.
    pub fn forbidden() -> Reply {
        Reply::json(403, r#"{"message":"Forbidden"}"#)
            .header("x-amzn-ErrorType", "ForbiddenException")
    }

    /// `POST /api/v1/generate`'s 200.
    pub fn submitted(job_id: &str) -> Reply {
        Reply::json(
            200,
            format!(
                r#"{{"job_id":"{job_id}","status":"pending","created_at":"2025-08-01T12:00:00.000000","message":"Job submitted successfully"}}"#
            ),
        )
    }

    /// `GET /api/v1/jobs/{id}`.
    pub fn job(job_id: &str, status: &str, progress: u8) -> Reply {
        let result = if status == "completed" {
            r#"{"success":true,"s3_output":"s3://out/outputs/multitalk_cuda_1.mp4","video_size":1234}"#
        } else {
            "null"
        };
        Reply::json(
            200,
            format!(
                r#"{{"job_id":"{job_id}","status":"{status}","created_at":"t","updated_at":"u","progress":{progress},"result":{result},"error":null,"metadata":{{}}}}"#
            ),
        )
    }
}

type Responder = dyn Fn(&Seen, usize) -> Reply + Send + Sync;

/// A one-connection-at-a-time HTTP/1.1 stub on 127.0.0.1:0: each request is
/// answered by the responder (given the request and its index from 0) and
/// the connection closed.
pub struct Stub {
    /// `http://127.0.0.1:PORT/prod`: an invoke URL with a stage.
    pub url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    stop: Arc<AtomicBool>,
    addr: std::net::SocketAddr,
    thread: Option<JoinHandle<()>>,
}

impl Stub {
    pub fn start(responder: impl Fn(&Seen, usize) -> Reply + Send + Sync + 'static) -> Stub {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the stub");
        let addr = listener.local_addr().expect("stub address");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let responder: Arc<Responder> = Arc::new(responder);
        let thread = {
            let seen = seen.clone();
            let stop = stop.clone();
            thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    serve(stream, &seen, &*responder);
                }
            })
        };
        Stub {
            url: format!("http://{addr}/prod"),
            seen,
            stop,
            addr,
            thread: Some(thread),
        }
    }

    /// Answers the replies in order, then the last one for ever.
    pub fn scripted(replies: Vec<Reply>) -> Stub {
        assert!(!replies.is_empty());
        Stub::start(move |_, n| replies[n.min(replies.len() - 1)].clone())
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("stub log").clone()
    }
}

impl Drop for Stub {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A stub serving `/prod/api/v1/jobs/job-1/download` with a presigned URL
/// that points back at itself (`/s3/...`); the first such URL has expired.
pub fn download_stub() -> Stub {
    let base: Arc<OnceLock<String>> = Arc::new(OnceLock::new());
    let served = Arc::new(AtomicUsize::new(0));
    let stub = Stub::start({
        let base = base.clone();
        move |req, _| {
            let root = base.get().map(String::as_str).unwrap_or("http://unset");
            if req.path.starts_with("/prod/api/v1/jobs/job-1/download") {
                let n = served.fetch_add(1, Ordering::SeqCst);
                Reply::json(
                    200,
                    format!(
                        r#"{{"job_id":"job-1","download_url":"{root}/s3/out/video.mp4?X-Amz-Signature=s{n}","expires_in":3600,"s3_uri":"s3://out/video.mp4"}}"#
                    ),
                )
            } else if req.path.ends_with("X-Amz-Signature=s0") {
                Reply {
                    status: 403,
                    headers: vec![("Content-Type".into(), "application/xml".into())],
                    body: "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>".into(),
                }
            } else if req.path.starts_with("/s3/") {
                Reply {
                    status: 200,
                    headers: vec![("Content-Type".into(), "video/mp4".into())],
                    body: "fake mp4 bytes".into(),
                }
            } else {
                Reply::json(403, r#"{"message":"Missing Authentication Token"}"#)
            }
        }
    });
    let root = stub.url.trim_end_matches("/prod").to_owned();
    base.set(root).expect("set once");
    stub
}

fn serve(stream: TcpStream, seen: &Mutex<Vec<Seen>>, responder: &Responder) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut reader = BufReader::new(match stream.try_clone() {
        Ok(s) => s,
        Err(_) => return,
    });
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return; // the wake-up connection, or a client that gave up
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_owned();
    let path = parts.next().unwrap_or_default().to_owned();
    let mut headers = Vec::new();
    let mut length = 0usize;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).unwrap_or(0) == 0 {
            return;
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((name, value)) = h.split_once(':') {
            let name = name.trim().to_ascii_lowercase();
            let value = value.trim().to_owned();
            if name == "content-length" {
                length = value.parse().unwrap_or(0);
            }
            headers.push((name, value));
        }
    }
    let mut body = vec![0; length];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    let request = Seen {
        method,
        path,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    };
    let index = {
        let mut log = seen.lock().expect("stub log");
        log.push(request.clone());
        log.len() - 1
    };
    let reply = responder(&request, index);
    let mut out = format!(
        "HTTP/1.1 {} {}\r\nContent-Length: {}\r\nConnection: close\r\nx-amzn-RequestId: stub-{index}\r\n",
        reply.status,
        reason(reply.status),
        reply.body.len()
    );
    for (name, value) in &reply.headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    out.push_str("\r\n");
    out.push_str(&reply.body);
    let mut stream = stream;
    let _ = stream.write_all(out.as_bytes());
    let _ = stream.flush();
    let _ = stream.shutdown(Shutdown::Write);
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        401 => "Unauthorized",
        403 => "Forbidden",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

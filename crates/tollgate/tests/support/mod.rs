//! The data plane's end-to-end test harness: the real server (in-process,
//! or the `tollgate` binary when a test needs a process of its own), a
//! SigV4-signing control-plane client, a raw HTTP/1.1 client that sends
//! exactly the bytes it is given, and an in-process upstream that records
//! what reaches it.
#![allow(dead_code)] // each test file uses part of it

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tollgate::config::{FileConfig, Overrides};
use tollgate::{Config, Server};
use tollgate_aws::sigv4::{self, Credentials};
use tollgate_gateway::{Gateway, Observer, Outcome};

/// A directory of its own under the system's temporary directory, removed
/// when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "tollgate-test-{tag}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("temp dir");
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Outcomes as the pipeline hands them to observers.
#[derive(Default)]
pub struct Recorder(Mutex<Vec<Outcome>>);

impl Observer for Recorder {
    fn observe(&self, outcome: &Arc<Outcome>) {
        self.0
            .lock()
            .expect("not poisoned")
            .push((**outcome).clone());
    }
}

impl Recorder {
    pub fn all(&self) -> Vec<Outcome> {
        self.0.lock().expect("not poisoned").clone()
    }

    /// The outcomes of `request_id`, once at least one has arrived (or
    /// after 5 s), plus a moment for a second one to show up if it would.
    pub async fn of(&self, request_id: &str) -> Vec<Outcome> {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let found: Vec<Outcome> = self
                .all()
                .into_iter()
                .filter(|o| o.request_id == request_id)
                .collect();
            if !found.is_empty() || Instant::now() > deadline {
                tokio::time::sleep(Duration::from_millis(50)).await;
                return self
                    .all()
                    .into_iter()
                    .filter(|o| o.request_id == request_id)
                    .collect();
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// Tollgate in this process, on 127.0.0.1:0, served by a thread of its own.
pub struct TestServer {
    pub addr: SocketAddr,
    pub gateway: Arc<Gateway>,
    pub recorder: Arc<Recorder>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    _data: TempDir,
}

impl TestServer {
    pub fn start() -> TestServer {
        Self::start_with(Overrides::default())
    }

    pub fn start_with(overrides: Overrides) -> TestServer {
        let data = TempDir::new("data");
        let overrides = Overrides {
            listen: Some("127.0.0.1:0".into()),
            data_dir: Some(data.0.clone()),
            ..overrides
        };
        let config = Config::resolve(FileConfig::default(), overrides).expect("valid config");
        let server = Server::bind(&config).expect("bind");
        let addr = server.local_addr().expect("addr");
        let gateway = server.gateway();
        let recorder = Arc::new(Recorder::default());
        gateway.add_observer(recorder.clone());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                let _ = server
                    .run(async {
                        let _ = stopped.await;
                    })
                    .await;
            });
        });
        TestServer {
            addr,
            gateway,
            recorder,
            stop: Some(stop),
            thread: Some(thread),
            _data: data,
        }
    }

    pub fn control(&self) -> Control {
        Control { addr: self.addr }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The `tollgate` binary in a process of its own.
pub struct BinaryServer {
    pub child: std::process::Child,
    pub addr: SocketAddr,
    /// What it wrote to stderr, gathered by a thread.
    pub stderr: Arc<Mutex<String>>,
    _data: TempDir,
}

impl BinaryServer {
    /// Starts `tollgate serve` with `args`; `shell_prefix` (e.g. `ulimit -n 64;`)
    /// runs first in the same shell.
    pub fn start(shell_prefix: &str, args: &[&str]) -> BinaryServer {
        use std::io::BufRead;
        let data = TempDir::new("bin");
        let bin = env!("CARGO_BIN_EXE_tollgate");
        let mut command = format!(
            "{shell_prefix} exec '{bin}' serve --listen 127.0.0.1:0 --data-dir '{}'",
            data.0.display()
        );
        for a in args {
            command.push(' ');
            command.push_str(a);
        }
        let mut child = std::process::Command::new("sh")
            .args(["-c", &command])
            .current_dir(&data.0)
            .env_remove("TOLLGATE_CONFIG")
            .env("TOLLGATE_LOG", "info")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn tollgate");
        let stdout = child.stdout.take().expect("stdout");
        let stderr_pipe = child.stderr.take().expect("stderr");
        let stderr = Arc::new(Mutex::new(String::new()));
        {
            let stderr = stderr.clone();
            std::thread::spawn(move || {
                for line in std::io::BufReader::new(stderr_pipe)
                    .lines()
                    .map_while(Result::ok)
                {
                    let mut s = stderr.lock().expect("not poisoned");
                    s.push_str(&line);
                    s.push('\n');
                }
            });
        }
        let mut lines = std::io::BufReader::new(stdout).lines();
        let addr = loop {
            let line = lines
                .next()
                .and_then(Result::ok)
                .unwrap_or_else(|| panic!("tollgate exited: {}", stderr.lock().expect("lock")));
            if let Some(url) = line.strip_prefix("tollgate listening on http://") {
                break url.parse().expect("address");
            }
        };
        // Keep reading stdout so the process never blocks on it.
        std::thread::spawn(move || for _ in lines {});
        BinaryServer {
            child,
            addr,
            stderr,
            _data: data,
        }
    }

    pub fn control(&self) -> Control {
        Control { addr: self.addr }
    }

    /// Resident memory of the process, in KiB.
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }

    /// User plus system CPU time of the process so far.
    pub fn cpu_time(&self) -> Duration {
        let stat =
            std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap_or_default();
        let after_comm = stat.rsplit(')').next().unwrap_or_default();
        let fields: Vec<&str> = after_comm.split_whitespace().collect();
        // utime and stime are fields 14 and 15 of the whole line (11 and 12 here).
        let ticks: u64 = [11, 12]
            .iter()
            .filter_map(|i| fields.get(*i).and_then(|v| v.parse::<u64>().ok()))
            .sum();
        // 100 ticks per second on Linux.
        Duration::from_millis(ticks * 10)
    }
}

impl Drop for BinaryServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A response as a client reads it.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn request_id(&self) -> String {
        self.header("x-amzn-requestid")
            .unwrap_or_default()
            .to_string()
    }
}

/// One client connection that sends raw bytes and reads whole responses.
pub struct Client {
    pub stream: TcpStream,
    buf: Vec<u8>,
}

impl Client {
    pub async fn connect(addr: SocketAddr) -> Client {
        Client {
            stream: TcpStream::connect(addr).await.expect("connect"),
            buf: Vec::new(),
        }
    }

    pub async fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.expect("write");
    }

    /// Reads more; false at the end of the stream (or after 10 s).
    async fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 16 * 1024];
        match tokio::time::timeout(Duration::from_secs(10), self.stream.read(&mut chunk)).await {
            Ok(Ok(n)) if n > 0 => {
                self.buf.extend_from_slice(&chunk[..n]);
                true
            }
            _ => false,
        }
    }

    /// The next response's head: status and headers; None if the connection ended first.
    pub async fn head(&mut self) -> Option<(u16, Vec<(String, String)>)> {
        loop {
            let mut headers = [httparse::EMPTY_HEADER; 128];
            let mut parsed = httparse::Response::new(&mut headers);
            if let Ok(httparse::Status::Complete(len)) = parsed.parse(&self.buf) {
                let status = parsed.code.unwrap_or(0);
                let headers = parsed
                    .headers
                    .iter()
                    .map(|h| {
                        (
                            h.name.to_ascii_lowercase(),
                            String::from_utf8_lossy(h.value).into_owned(),
                        )
                    })
                    .collect();
                self.buf.drain(..len);
                return Some((status, headers));
            }
            if !self.fill().await {
                return None;
            }
        }
    }

    /// The next whole response (a HEAD request's when `head_request`).
    pub async fn answer_to(&mut self, head_request: bool) -> Option<Answer> {
        let (status, headers) = loop {
            let (status, headers) = self.head().await?;
            if !(100..200).contains(&status) {
                break (status, headers);
            }
        };
        let find = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
        };
        let body = if head_request || status == 204 || status == 304 {
            Vec::new()
        } else if let Some(len) = find("content-length").and_then(|v| v.parse::<usize>().ok()) {
            while self.buf.len() < len {
                if !self.fill().await {
                    return None;
                }
            }
            self.buf.drain(..len).collect()
        } else if find("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
            self.read_chunked().await?
        } else {
            while self.fill().await {}
            std::mem::take(&mut self.buf)
        };
        Some(Answer {
            status,
            headers,
            body,
        })
    }

    pub async fn answer(&mut self) -> Option<Answer> {
        self.answer_to(false).await
    }

    async fn read_chunked(&mut self) -> Option<Vec<u8>> {
        let mut body = Vec::new();
        loop {
            let line_end = loop {
                if let Some(i) = self.buf.windows(2).position(|w| w == b"\r\n") {
                    break i;
                }
                if !self.fill().await {
                    return None;
                }
            };
            let size_text = String::from_utf8_lossy(&self.buf[..line_end]).to_string();
            let size = usize::from_str_radix(size_text.trim(), 16).ok()?;
            self.buf.drain(..line_end + 2);
            while self.buf.len() < size + 2 {
                if !self.fill().await {
                    return None;
                }
            }
            body.extend(self.buf.drain(..size));
            self.buf.drain(..2);
            if size == 0 {
                return Some(body);
            }
        }
    }

    /// Sends `bytes` and reads one response.
    pub async fn exchange(&mut self, bytes: &[u8]) -> Answer {
        self.send(bytes).await;
        self.answer().await.expect("a response")
    }

    /// Whether the server closed the connection (within 10 s).
    pub async fn closed(&mut self) -> bool {
        loop {
            let mut chunk = [0u8; 4096];
            match tokio::time::timeout(Duration::from_secs(10), self.stream.read(&mut chunk)).await
            {
                Ok(Ok(0)) | Ok(Err(_)) => return true,
                Ok(Ok(_)) => continue,
                Err(_) => return false,
            }
        }
    }
}

/// Sends `bytes` on a new connection and reads one response.
pub async fn exchange(addr: SocketAddr, bytes: &[u8]) -> Answer {
    Client::connect(addr).await.exchange(bytes).await
}

/// A GET of `path` on API `api`'s execute-api host, with extra header lines.
pub fn get(api: &str, path: &str, extra: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: {api}.execute-api.localhost\r\n{extra}\r\n").into_bytes()
}

/// A request with a body.
pub fn with_body(method: &str, api: &str, path: &str, extra: &str, body: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "{method} {path} HTTP/1.1\r\nHost: {api}.execute-api.localhost\r\nContent-Length: {}\r\n{extra}\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}

/// The control plane, over SigV4-signed rest-json as the aws CLI sends it.
#[derive(Clone, Copy)]
pub struct Control {
    pub addr: SocketAddr,
}

impl Control {
    /// Calls an API Gateway operation; the reply's status and JSON body.
    pub async fn call(&self, method: &str, path: &str, body: Value) -> (u16, Value) {
        let body = if body.is_null() {
            Vec::new()
        } else {
            body.to_string().into_bytes()
        };
        let mut request = http::Request::builder()
            .method(method)
            .uri(format!("http://{}{path}", self.addr))
            .header("host", self.addr.to_string());
        if !body.is_empty() {
            request = request.header("content-type", "application/json");
        }
        let (mut parts, ()) = request.body(()).expect("request").into_parts();
        sigv4::sign(
            &mut parts,
            &body,
            &Credentials::new("test", "test"),
            "us-east-1",
            "apigateway",
            SystemTime::now(),
        );
        let mut wire = format!(
            "{method} {} HTTP/1.1\r\n",
            parts.uri.path_and_query().map_or("/", |p| p.as_str())
        );
        for (name, value) in &parts.headers {
            wire.push_str(&format!(
                "{}: {}\r\n",
                name,
                value.to_str().unwrap_or_default()
            ));
        }
        wire.push_str(&format!("content-length: {}\r\n\r\n", body.len()));
        let mut bytes = wire.into_bytes();
        bytes.extend_from_slice(&body);
        let answer = exchange(self.addr, &bytes).await;
        (answer.status, answer.json())
    }

    /// Calls an operation that must succeed; its JSON reply.
    pub async fn ok(&self, method: &str, path: &str, body: Value) -> Value {
        let (status, reply) = self.call(method, path, body).await;
        assert!(
            (200..300).contains(&status),
            "{method} {path}: {status} {reply}"
        );
        reply
    }

    /// A REST API with one resource at `path` (its parts created in turn)
    /// and `method` on it with `method_body` (PutMethod's input) and
    /// `integration` (PutIntegration's); returns (api id, resource id).
    pub async fn api_with_method(
        &self,
        path: &str,
        http_method: &str,
        method_body: Value,
        integration: Value,
    ) -> (String, String) {
        let api = self.ok("POST", "/restapis", json!({"name": "e2e"})).await;
        let api_id = api["id"].as_str().expect("id").to_string();
        let mut parent = api["rootResourceId"].as_str().expect("root").to_string();
        for part in path.split('/').filter(|p| !p.is_empty()) {
            let r = self
                .ok(
                    "POST",
                    &format!("/restapis/{api_id}/resources/{parent}"),
                    json!({ "pathPart": part }),
                )
                .await;
            parent = r["id"].as_str().expect("id").to_string();
        }
        self.put_method(&api_id, &parent, http_method, method_body, integration)
            .await;
        (api_id, parent)
    }

    /// PutMethod and PutIntegration on an existing resource.
    pub async fn put_method(
        &self,
        api_id: &str,
        resource_id: &str,
        http_method: &str,
        method_body: Value,
        integration: Value,
    ) {
        let base = format!("/restapis/{api_id}/resources/{resource_id}/methods/{http_method}");
        self.ok("PUT", &base, method_body).await;
        self.ok("PUT", &format!("{base}/integration"), integration)
            .await;
    }

    pub async fn deploy(&self, api_id: &str, stage: &str) {
        self.ok(
            "POST",
            &format!("/restapis/{api_id}/deployments"),
            json!({ "stageName": stage }),
        )
        .await;
    }

    /// An enabled key in a new usage plan for `api_id`/`stage` with these
    /// plan fields (throttle, quota, tags); returns (key value, key id, plan id).
    pub async fn key_in_plan(
        &self,
        api_id: &str,
        stage: &str,
        plan: Value,
    ) -> (String, String, String) {
        let mut plan_body = json!({
            "name": "plan",
            "apiStages": [{ "apiId": api_id, "stage": stage }],
        });
        if let (Some(target), Some(extra)) = (plan_body.as_object_mut(), plan.as_object()) {
            for (k, v) in extra {
                target.insert(k.clone(), v.clone());
            }
        }
        let plan = self.ok("POST", "/usageplans", plan_body).await;
        let plan_id = plan["id"].as_str().expect("plan id").to_string();
        let key = self
            .ok("POST", "/apikeys", json!({ "name": "k", "enabled": true }))
            .await;
        let key_id = key["id"].as_str().expect("key id").to_string();
        self.ok(
            "POST",
            &format!("/usageplans/{plan_id}/keys"),
            json!({ "keyId": key_id, "keyType": "API_KEY" }),
        )
        .await;
        (
            key["value"].as_str().expect("value").to_string(),
            key_id,
            plan_id,
        )
    }
}

/// A request as the upstream read it.
#[derive(Debug, Clone)]
pub struct Seen {
    /// The request line's method and target, as sent.
    pub method: String,
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// What the upstream sends back: the bytes of one whole response, in pieces
/// written `pause` apart.
pub struct Reply {
    pub pieces: Vec<Vec<u8>>,
    pub pause: Duration,
}

impl Reply {
    /// `200` with a JSON body naming the request.
    pub fn echo(seen: &Seen) -> Reply {
        Reply::json(
            200,
            &json!({ "method": seen.method, "target": seen.target }).to_string(),
        )
    }

    pub fn json(status: u16, body: &str) -> Reply {
        Reply {
            pieces: vec![format!(
                "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                body.len()
            )
            .into_bytes()],
            pause: Duration::ZERO,
        }
    }
}

type Responder = Arc<dyn Fn(&Seen) -> Reply + Send + Sync>;

/// An in-process HTTP/1.1 upstream that records every request.
pub struct Upstream {
    pub addr: SocketAddr,
    seen: Arc<Mutex<VecDeque<Seen>>>,
}

impl Upstream {
    /// Answers every request with [`Reply::echo`].
    pub async fn echo() -> Upstream {
        Self::start(Reply::echo).await
    }

    pub async fn start(responder: impl Fn(&Seen) -> Reply + Send + Sync + 'static) -> Upstream {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let seen = Arc::new(Mutex::new(VecDeque::new()));
        let responder: Responder = Arc::new(responder);
        {
            let seen = seen.clone();
            tokio::spawn(async move {
                while let Ok((stream, _)) = listener.accept().await {
                    tokio::spawn(serve_upstream(stream, seen.clone(), responder.clone()));
                }
            });
        }
        Upstream { addr, seen }
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen
            .lock()
            .expect("not poisoned")
            .iter()
            .cloned()
            .collect()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

async fn serve_upstream(
    mut stream: TcpStream,
    seen: Arc<Mutex<VecDeque<Seen>>>,
    responder: Responder,
) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        let (request, used) = loop {
            let mut headers = [httparse::EMPTY_HEADER; 128];
            let mut parsed = httparse::Request::new(&mut headers);
            if let Ok(httparse::Status::Complete(len)) = parsed.parse(&buf) {
                let headers: Vec<(String, String)> = parsed
                    .headers
                    .iter()
                    .map(|h| {
                        (
                            h.name.to_ascii_lowercase(),
                            String::from_utf8_lossy(h.value).into_owned(),
                        )
                    })
                    .collect();
                let length = headers
                    .iter()
                    .find(|(n, _)| n == "content-length")
                    .and_then(|(_, v)| v.parse::<usize>().ok())
                    .unwrap_or(0);
                if buf.len() >= len + length {
                    break (
                        Seen {
                            method: parsed.method.unwrap_or_default().to_string(),
                            target: parsed.path.unwrap_or_default().to_string(),
                            headers,
                            body: buf[len..len + length].to_vec(),
                        },
                        len + length,
                    );
                }
            }
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        buf.drain(..used);
        seen.lock()
            .expect("not poisoned")
            .push_back(request.clone());
        let reply = responder(&request);
        for (i, piece) in reply.pieces.iter().enumerate() {
            if i > 0 {
                tokio::time::sleep(reply.pause).await;
            }
            if stream.write_all(piece).await.is_err() {
                return;
            }
        }
    }
}

/// Waits (up to 5 s) until `condition` holds.
pub async fn eventually(mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if condition() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    condition()
}

/// `n` bytes.
pub fn bytes_of(n: usize) -> Bytes {
    Bytes::from(vec![b'x'; n])
}

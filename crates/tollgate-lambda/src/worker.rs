//! One worker: a process of the function's runtime, in a process group of
//! its own, and the Lambda Runtime API it polls, served on a loopback port
//! of its own (so which worker is asking is never in doubt).
//!
//! A worker runs one invocation at a time. Killing it kills its whole
//! process group: a timed-out handler cannot answer later, and nothing it
//! started lives on.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, watch};
use tollgate_http1::RequestBody;

use crate::logs::{LogSink, Tail};
use crate::spec::{FunctionSpec, Launcher};

/// The largest response or error a function may return (AWS: 6 MB for a
/// synchronous invocation).
pub const MAX_RESPONSE: usize = 6 * 1024 * 1024;

/// An invocation handed to a worker.
pub struct Job {
    pub request_id: String,
    pub payload: Bytes,
    /// Epoch milliseconds (`Lambda-Runtime-Deadline-Ms`).
    pub deadline_ms: i64,
    pub trace_id: Option<String>,
    pub client_context: Option<String>,
    /// The invocation's own log lines.
    pub tail: Tail,
}

/// A job on its way to the runtime, with where its answer goes.
struct Assigned {
    job: Job,
    answer: oneshot::Sender<Answer>,
}

/// What the runtime answered.
#[derive(Debug)]
pub enum Answer {
    Response(Bytes),
    /// `/invocation/{id}/error`: the error document and its type header.
    Error {
        body: Bytes,
        error_type: String,
    },
}

/// How a worker ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exit {
    /// Its process exited (the status as text, `exit status: 1`).
    Exited(String),
    /// It reported an init error before exiting.
    InitError { body: Bytes, error_type: String },
}

/// What the Runtime API's handlers share with the worker.
struct Shared {
    function_name: String,
    function_arn: String,
    jobs: tokio::sync::Mutex<mpsc::Receiver<Assigned>>,
    /// The invocation the runtime is working on: its id and where the answer goes.
    current: Mutex<Option<(String, oneshot::Sender<Answer>)>>,
    /// The current invocation's log tail.
    tail: Mutex<Option<Tail>>,
    init_error: Mutex<Option<(Bytes, String)>>,
    logs: LogSink,
    /// End-of-output marks seen, by request id (one per stream).
    marks: Mutex<HashMap<String, u8>>,
    marked: tokio::sync::Notify,
}

/// What this project's bootstraps write on stdout and stderr after an
/// invocation's output and before its answer, so that its END line comes
/// after every line the handler printed.
const END_MARK: &str = "\x1eTOLLGATE-END ";

/// How long the host waits for an invocation's output marks once it has
/// the answer (a runtime that writes none, `provided`, is not waited for).
const MARK_WAIT: Duration = Duration::from_millis(200);

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

pub struct Worker {
    pgid: i32,
    /// Whether its runtime writes end-of-output marks (this project's bootstraps).
    marks_output: bool,
    jobs: mpsc::Sender<Assigned>,
    shared: Arc<Shared>,
    exit: watch::Receiver<Option<Exit>>,
    server: tokio::task::JoinHandle<()>,
    pub last_used: Instant,
}

/// What a worker is started with besides the function.
pub struct Launch<'a> {
    pub program: &'a Path,
    pub launcher: &'a Launcher,
    pub bootstrap_dir: &'a Path,
    /// Variables every function gets (region, endpoint, credentials).
    pub base_env: &'a BTreeMap<String, String>,
    pub logs: &'a LogSink,
}

impl Worker {
    /// Starts a worker of `spec`. It runs nothing until [`Worker::send`].
    pub async fn start(spec: &FunctionSpec, launch: Launch<'_>) -> std::io::Result<Worker> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let api = listener.local_addr()?;
        let (jobs, receiver) = mpsc::channel(1);
        let shared = Arc::new(Shared {
            function_name: spec.name.clone(),
            function_arn: spec.arn.clone(),
            jobs: tokio::sync::Mutex::new(receiver),
            current: Mutex::new(None),
            tail: Mutex::new(None),
            init_error: Mutex::new(None),
            logs: launch.logs.clone(),
            marks: Mutex::new(HashMap::new()),
            marked: tokio::sync::Notify::new(),
        });
        let server = tokio::spawn(serve_runtime_api(listener, shared.clone()));
        let mut command = command(spec, &launch, api);
        let mut child = match command.spawn() {
            Ok(child) => child,
            Err(e) => {
                server.abort();
                return Err(e);
            }
        };
        let pgid = child.id().map(|id| id as i32).unwrap_or(0);
        for (stream, label) in [
            (child.stdout.take().map(Output::Out), "stdout"),
            (child.stderr.take().map(Output::Err), "stderr"),
        ] {
            if let Some(stream) = stream {
                tokio::spawn(forward_output(stream, shared.clone(), label));
            }
        }
        let (exit_tx, exit) = watch::channel(None);
        {
            let shared = shared.clone();
            tokio::spawn(async move {
                let status = child.wait().await;
                let text = match status {
                    Ok(s) => s.to_string(),
                    Err(e) => e.to_string(),
                };
                let exit = match lock(&shared.init_error).take() {
                    Some((body, error_type)) => Exit::InitError { body, error_type },
                    None => Exit::Exited(text),
                };
                let _ = exit_tx.send(Some(exit));
            });
        }
        Ok(Worker {
            pgid,
            marks_output: !matches!(launch.launcher, Launcher::Provided),
            jobs,
            shared,
            exit,
            server,
            last_used: Instant::now(),
        })
    }

    /// Whether the process has ended.
    pub fn has_exited(&self) -> bool {
        self.exit.borrow().is_some()
    }

    /// Runs `job` and waits for its answer, the worker's end, or `timeout`.
    pub async fn run(&mut self, job: Job, timeout: Duration) -> Ran {
        let (answer, answer_rx) = oneshot::channel();
        let request_id = job.request_id.clone();
        let job = Assigned { job, answer };
        let outcome_of_exit = |exit: Option<Exit>| match exit {
            Some(exit) => Ran::Exited(exit),
            None => Ran::Exited(Exit::Exited("the runtime stopped".into())),
        };
        if self.jobs.send(job).await.is_err() {
            return outcome_of_exit(self.exit.borrow().clone());
        }
        let mut exit = self.exit.clone();
        let answered = tokio::select! {
            answer = answer_rx => answer.ok(),
            _ = exit.wait_for(Option::is_some) => None,
            () = tokio::time::sleep(timeout) => {
                self.last_used = Instant::now();
                return Ran::TimedOut;
            }
        };
        let ran = match answered {
            Some(answer) => {
                if self.marks_output {
                    self.output_flushed(&request_id).await;
                }
                Ran::Answered(answer)
            }
            None => {
                // The runtime went away: wait for its exit status (briefly;
                // it has closed its end already).
                let mut exit = self.exit.clone();
                let _ =
                    tokio::time::timeout(Duration::from_secs(2), exit.wait_for(Option::is_some))
                        .await;
                let ended = exit.borrow().clone();
                outcome_of_exit(ended)
            }
        };
        self.last_used = Instant::now();
        ran
    }

    /// Waits (briefly) until both output streams have passed `request_id`'s mark.
    async fn output_flushed(&self, request_id: &str) {
        let seen = || {
            lock(&self.shared.marks)
                .get(request_id)
                .copied()
                .unwrap_or(0)
                >= 2
        };
        let wait = async {
            loop {
                let notified = self.shared.marked.notified();
                if seen() {
                    return;
                }
                notified.await;
            }
        };
        let _ = tokio::time::timeout(MARK_WAIT, wait).await;
        lock(&self.shared.marks).remove(request_id);
    }

    /// Peak resident memory of the runtime process, in MB.
    pub fn max_memory_mb(&self) -> u64 {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.pgid)).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<u64>().ok())
            .map_or(0, |kib| kib.div_ceil(1024))
    }
}

/// How a job ended on its worker.
#[derive(Debug)]
pub enum Ran {
    Answered(Answer),
    TimedOut,
    Exited(Exit),
}

impl Drop for Worker {
    fn drop(&mut self) {
        if self.pgid > 0 {
            // SAFETY: killpg only sends a signal; the group is this worker's
            // own (process_group(0) at spawn), so no other process is hit.
            unsafe {
                libc::killpg(self.pgid, libc::SIGKILL);
            }
        }
        self.server.abort();
        *lock(&self.shared.current) = None;
    }
}

fn command(spec: &FunctionSpec, launch: &Launch<'_>, api: SocketAddr) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(launch.program);
    match launch.launcher {
        Launcher::Python => {
            command
                .arg("-u")
                .arg(launch.bootstrap_dir.join("tollgate_bootstrap.py"));
        }
        Launcher::Node => {
            // As AWS's Node.js runtime sizes V8's heap from the function's memory.
            command
                .arg(format!(
                    "--max-old-space-size={}",
                    u64::from(spec.memory_mb) * 9 / 10
                ))
                .arg(launch.bootstrap_dir.join("tollgate_bootstrap.mjs"));
        }
        Launcher::Provided => {}
    }
    command
        .current_dir(&spec.code_dir)
        .env_clear()
        .envs(&spec.environment)
        .envs(launch.base_env)
        .envs(reserved_env(spec, launch, api))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let data_limit = match launch.launcher {
        // V8 reserves address space far beyond what it uses: its heap is
        // bounded by --max-old-space-size instead.
        Launcher::Node => None,
        _ => Some(u64::from(spec.memory_mb) * 1024 * 1024),
    };
    if let Some(limit) = data_limit {
        // SAFETY: between fork and exec only async-signal-safe calls are
        // allowed; setrlimit is one, and nothing here allocates.
        unsafe {
            command.pre_exec(move || {
                let rlimit = libc::rlimit {
                    rlim_cur: limit as libc::rlim_t,
                    rlim_max: limit as libc::rlim_t,
                };
                libc::setrlimit(libc::RLIMIT_DATA, &rlimit);
                let no_core = libc::rlimit {
                    rlim_cur: 0,
                    rlim_max: 0,
                };
                libc::setrlimit(libc::RLIMIT_CORE, &no_core);
                Ok(())
            });
        }
    }
    command
}

/// The variables Lambda sets itself, which a function's own cannot change.
fn reserved_env(
    spec: &FunctionSpec,
    launch: &Launch<'_>,
    api: SocketAddr,
) -> BTreeMap<String, String> {
    let runtime_dir = launch.bootstrap_dir.display().to_string();
    let task_root = spec.code_dir.display().to_string();
    let stream = format!(
        "{}/[$LATEST]{}",
        crate::logs::rfc3339_ms(crate::logs::now_ms())
            .get(..10)
            .unwrap_or_default()
            .replace('-', "/"),
        hex::encode(rand::random::<[u8; 16]>())
    );
    [
        ("AWS_LAMBDA_FUNCTION_NAME", spec.name.clone()),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".into()),
        (
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
            spec.memory_mb.to_string(),
        ),
        ("AWS_LAMBDA_RUNTIME_API", api.to_string()),
        (
            "AWS_LAMBDA_LOG_GROUP_NAME",
            format!("/aws/lambda/{}", spec.name),
        ),
        ("AWS_LAMBDA_LOG_STREAM_NAME", stream),
        ("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand".into()),
        ("AWS_EXECUTION_ENV", format!("AWS_Lambda_{}", spec.runtime)),
        ("_HANDLER", spec.handler.clone()),
        ("LAMBDA_TASK_ROOT", task_root),
        ("LAMBDA_RUNTIME_DIR", runtime_dir),
        ("TZ", ":UTC".into()),
        ("LANG", "en_US.UTF-8".into()),
        ("PATH", "/usr/local/bin:/usr/bin:/bin".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

enum Output {
    Out(tokio::process::ChildStdout),
    Err(tokio::process::ChildStderr),
}

/// Sends each line the runtime writes to the function's log and to the
/// current invocation's tail.
async fn forward_output(stream: Output, shared: Arc<Shared>, label: &'static str) {
    let reader: Box<dyn tokio::io::AsyncRead + Unpin + Send> = match stream {
        Output::Out(s) => Box::new(s),
        Output::Err(s) => Box::new(s),
    };
    let mut lines = BufReader::new(reader).lines();
    loop {
        let line = match lines.next_line().await {
            Ok(Some(line)) => line,
            Ok(None) => return,
            Err(e) => {
                tracing::debug!(error = %e, stream = label, "a worker's output could not be read");
                return;
            }
        };
        if let Some(request_id) = line.strip_prefix(END_MARK) {
            *lock(&shared.marks)
                .entry(request_id.to_string())
                .or_default() += 1;
            shared.marked.notify_waiters();
            continue;
        }
        shared.logs.line(&shared.function_name, &line);
        if let Some(tail) = lock(&shared.tail).as_ref() {
            tail.push(&line);
        }
    }
}

/// The Lambda Runtime API for one worker, on its own listener.
async fn serve_runtime_api(listener: TcpListener, shared: Arc<Shared>) {
    let limits = tollgate_http1::server::Limits {
        max_body: MAX_RESPONSE + 1,
        client_timeout: Duration::from_secs(24 * 3600),
        body_budget: tollgate_http1::BodyBudget::new(64 * 1024 * 1024),
        refusal: tollgate_http1::server::plain_refusal,
    };
    while let Ok((stream, _)) = listener.accept().await {
        let shared = shared.clone();
        let limits = limits.clone();
        tokio::spawn(async move {
            let handle = |request: Request<RequestBody>| {
                let shared = shared.clone();
                async move { runtime_api(&shared, request).await }
            };
            let _ = tollgate_http1::server::serve(stream, limits, handle).await;
        });
    }
}

fn reply(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    response
}

const PREFIX: &str = "/2018-06-01/runtime";

async fn runtime_api(shared: &Shared, request: Request<RequestBody>) -> Response<Full<Bytes>> {
    let path = request.uri().path().to_string();
    let Some(rest) = path.strip_prefix(PREFIX) else {
        return reply(StatusCode::NOT_FOUND, r#"{"errorMessage":"not found"}"#);
    };
    match (request.method().as_str(), rest) {
        ("GET", "/invocation/next") => next(shared).await,
        ("POST", "/init/error") => {
            let error_type = error_type(&request);
            let body = read(request).await.unwrap_or_default();
            *lock(&shared.init_error) = Some((body, error_type));
            reply(StatusCode::ACCEPTED, r#"{"status":"OK"}"#)
        }
        ("POST", rest) => {
            let Some(rest) = rest.strip_prefix("/invocation/") else {
                return reply(StatusCode::NOT_FOUND, r#"{"errorMessage":"not found"}"#);
            };
            let (id, kind) = match rest.rsplit_once('/') {
                Some((id, kind @ ("response" | "error"))) => (id.to_string(), kind),
                _ => return reply(StatusCode::NOT_FOUND, r#"{"errorMessage":"not found"}"#),
            };
            let error_type = error_type(&request);
            let answer = match read(request).await {
                Err(too_large) => Answer::Error {
                    body: Bytes::from(too_large),
                    error_type: "Function.ResponseSizeTooLarge".into(),
                },
                Ok(body) if kind == "response" => Answer::Response(body),
                Ok(body) => Answer::Error { body, error_type },
            };
            let waiting = {
                let mut current = lock(&shared.current);
                match current.as_ref() {
                    Some((current_id, _)) if *current_id == id => current.take(),
                    _ => None,
                }
            };
            match waiting {
                Some((_, sender)) => {
                    let _ = sender.send(answer);
                    reply(StatusCode::ACCEPTED, r#"{"status":"OK"}"#)
                }
                // An answer for an invocation that is not running (it timed
                // out, or never was): never delivered to anyone.
                None => reply(
                    StatusCode::BAD_REQUEST,
                    r#"{"errorMessage":"Invalid request ID","errorType":"InvalidRequestID"}"#,
                ),
            }
        }
        _ => reply(StatusCode::NOT_FOUND, r#"{"errorMessage":"not found"}"#),
    }
}

fn error_type(request: &Request<RequestBody>) -> String {
    request
        .headers()
        .get("lambda-runtime-function-error-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("Unhandled")
        .to_string()
}

/// The body; past [`MAX_RESPONSE`], the error document AWS returns instead.
async fn read(request: Request<RequestBody>) -> Result<Bytes, String> {
    match request.into_body().collect().await {
        Ok(collected) => {
            let bytes = collected.to_bytes();
            if bytes.len() > MAX_RESPONSE {
                Err(too_large(bytes.len()))
            } else {
                Ok(bytes)
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::FileTooLarge => Err(too_large(MAX_RESPONSE + 1)),
        Err(_) => Ok(Bytes::new()),
    }
}

fn too_large(size: usize) -> String {
    serde_json::json!({
        "errorMessage": format!("Response payload size ({size} bytes) exceeded maximum allowed payload size ({MAX_RESPONSE} bytes)."),
        "errorType": "Function.ResponseSizeTooLarge",
    })
    .to_string()
}

/// `/invocation/next`: waits for this worker's next job.
async fn next(shared: &Shared) -> Response<Full<Bytes>> {
    let assigned = {
        let mut jobs = shared.jobs.lock().await;
        jobs.recv().await
    };
    let Some(Assigned { job, answer }) = assigned else {
        return reply(
            StatusCode::INTERNAL_SERVER_ERROR,
            r#"{"errorMessage":"the worker is stopping"}"#,
        );
    };
    *lock(&shared.tail) = Some(job.tail.clone());
    *lock(&shared.current) = Some((job.request_id.clone(), answer));
    let mut response = Response::new(Full::new(job.payload));
    let headers = response.headers_mut();
    let mut set = |name: &'static str, value: &str| {
        if let Ok(v) = http::HeaderValue::from_str(value) {
            headers.insert(name, v);
        }
    };
    set("content-type", "application/json");
    set("lambda-runtime-aws-request-id", &job.request_id);
    set("lambda-runtime-deadline-ms", &job.deadline_ms.to_string());
    set("lambda-runtime-invoked-function-arn", &shared.function_arn);
    if let Some(trace) = &job.trace_id {
        set("lambda-runtime-trace-id", trace);
    }
    if let Some(context) = &job.client_context {
        set("lambda-runtime-client-context", context);
    }
    response
}

//! The Lambda host: the functions, their warm workers, and invocation.
//!
//! Workers are kept warm and reused; a function with none idle starts one
//! (a cold start). Concurrency is bounded per function (its reserved
//! concurrency) and for the host (`max_workers`): past either, an invocation
//! is throttled at once rather than queued, as Lambda does. Idle workers are
//! stopped after `idle_timeout`. A worker that times out or dies is never
//! reused: its whole process group is killed.
//!
//! Workers and their tasks live on the host's own runtime, so they keep
//! running whichever thread invokes them.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use bytes::Bytes;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::logs::{LogSink, Tail};
use crate::spec::{FunctionSpec, Interpreters, Launcher};
use crate::worker::{Answer, Exit, Job, Launch, Ran, Worker};

/// How the host runs functions.
#[derive(Clone)]
pub struct HostConfig {
    /// Bootstraps are written under `{data_dir}/runtime`, logs under
    /// `{data_dir}/logs`.
    pub data_dir: PathBuf,
    pub interpreters: Interpreters,
    /// Invocations running at once, every function together.
    pub max_workers: usize,
    /// An idle worker is stopped after this long.
    pub idle_timeout: Duration,
    /// Variables every function gets besides Lambda's own (region,
    /// endpoint, credentials).
    pub base_env: BTreeMap<String, String>,
    /// Also hears every log line (CloudWatch Logs' `/aws/lambda/NAME`).
    pub log_forward: Option<crate::logs::LogForward>,
    /// Hears how every invocation ended (AWS/Lambda metrics). Called on the
    /// invoking task: it hands the record on and returns.
    pub on_invocation: Option<InvocationObserver>,
}

impl std::fmt::Debug for HostConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostConfig")
            .field("data_dir", &self.data_dir)
            .field("interpreters", &self.interpreters)
            .field("max_workers", &self.max_workers)
            .field("idle_timeout", &self.idle_timeout)
            .field("log_forward", &self.log_forward.is_some())
            .field("on_invocation", &self.on_invocation.is_some())
            .finish_non_exhaustive()
    }
}

/// How one invocation ended, for metrics.
#[derive(Debug, Clone, PartialEq)]
pub struct InvocationRecord {
    pub function: String,
    pub outcome: InvocationOutcome,
    /// The handler's time (zero when it did not run).
    pub duration: Duration,
    /// Invocations of this host running when this one started, itself included.
    pub concurrent: usize,
    /// The invocation's `X-Amzn-Trace-Id` (`_X_AMZN_TRACE_ID`), if it had one.
    pub trace_id: Option<String>,
    /// When it started, in nanoseconds since the epoch.
    pub start_unix_nanos: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvocationOutcome {
    Success,
    /// The handler failed (raised, timed out, crashed, bad answer).
    FunctionError,
    /// Reserved or host concurrency was in use.
    Throttled,
    /// The function does not exist or cannot run.
    Failed,
}

pub type InvocationObserver = std::sync::Arc<dyn Fn(&InvocationRecord) + Send + Sync>;

/// An invocation's input.
#[derive(Debug, Clone, Default)]
pub struct InvokeRequest {
    pub payload: Bytes,
    pub trace_id: Option<String>,
    pub client_context: Option<String>,
    /// The caller's own deadline (an API Gateway integration timeout): the
    /// invocation ends at the earlier of it and the function's timeout.
    pub deadline: Option<Instant>,
}

/// What an invocation returned.
#[derive(Debug, Clone, PartialEq)]
pub struct Invocation {
    pub request_id: String,
    pub result: InvokeResult,
    /// The invocation's own log lines (START … REPORT), at most 4 KB.
    pub log_tail: String,
    pub duration: Duration,
}

#[derive(Debug, Clone, PartialEq)]
pub enum InvokeResult {
    /// The handler's return value, as JSON text.
    Success(Bytes),
    /// The error document (`errorMessage`, `errorType`, …) and the kind
    /// for `X-Amz-Function-Error` (`Unhandled`).
    FunctionError { body: Bytes, kind: String },
}

/// Why an invocation could not run at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvokeError {
    #[error("Function not found: {0}")]
    NotFound(String),
    /// The function's runtime cannot run here; its state is `Failed`.
    #[error("{0}")]
    NotRunnable(String),
    /// Reserved concurrency, or the host's limit, is in use.
    #[error("Rate Exceeded.")]
    Throttled,
    /// A worker could not be started, or the external function failed.
    #[error("{0}")]
    Service(String),
}

struct Function {
    spec: FunctionSpec,
    /// The program that runs its workers, or why there is none.
    program: Result<(Launcher, PathBuf), String>,
    idle: Mutex<Vec<Worker>>,
    reserved: Option<Arc<Semaphore>>,
}

pub struct LambdaHost {
    config: HostConfig,
    bootstrap_dir: PathBuf,
    logs: LogSink,
    functions: ArcSwap<HashMap<String, Arc<Function>>>,
    running: Arc<Semaphore>,
    runtime: tokio::runtime::Handle,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl LambdaHost {
    /// Writes the bootstraps, starts the log writer and the host's runtime.
    pub fn start(config: HostConfig) -> std::io::Result<Arc<LambdaHost>> {
        let bootstrap_dir = config.data_dir.join("runtime");
        std::fs::create_dir_all(&bootstrap_dir)?;
        std::fs::write(
            bootstrap_dir.join("tollgate_bootstrap.py"),
            include_str!("bootstrap/python.py"),
        )?;
        std::fs::write(
            bootstrap_dir.join("tollgate_bootstrap.mjs"),
            include_str!("bootstrap/node.mjs"),
        )?;
        let logs = LogSink::start(config.data_dir.join("logs"), config.log_forward.clone())?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("tollgate-lambda")
            .enable_all()
            .build()?;
        let handle = runtime.handle().clone();
        // The runtime lives as long as the process.
        std::thread::Builder::new()
            .name("tollgate-lambda-runtime".into())
            .spawn(move || runtime.block_on(std::future::pending::<()>()))?;
        let host = Arc::new(LambdaHost {
            running: Arc::new(Semaphore::new(config.max_workers)),
            config,
            bootstrap_dir,
            logs,
            functions: ArcSwap::from_pointee(HashMap::new()),
            runtime: handle,
        });
        let weak = Arc::downgrade(&host);
        host.runtime.spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(5)).await;
                let Some(host) = weak.upgrade() else { return };
                host.stop_idle_workers();
            }
        });
        Ok(host)
    }

    /// The file a function's log lines are appended to.
    pub fn log_path(&self, function: &str) -> PathBuf {
        self.logs.path(function)
    }

    /// Adds or replaces a function (its workers are replaced too). Returns
    /// why it cannot run, if it cannot (its state is then `Failed`).
    pub fn deploy(&self, spec: FunctionSpec) -> Result<(), String> {
        let program = match (&spec.external_url, Launcher::for_runtime(&spec.runtime)) {
            (Some(_), _) => Ok((Launcher::Provided, PathBuf::new())),
            (None, None) => Err(format!(
                "Tollgate cannot run the runtime {} (python3.x, nodejs* and provided.* run here)",
                spec.runtime
            )),
            (None, Some(launcher)) => self
                .config
                .interpreters
                .program(&launcher, &spec.code_dir)
                .map(|program| (launcher, program)),
        };
        let failed = program.as_ref().err().cloned();
        let function = Arc::new(Function {
            reserved: spec
                .reserved_concurrency
                .map(|n| Arc::new(Semaphore::new(n as usize))),
            spec,
            program,
            idle: Mutex::new(Vec::new()),
        });
        let name = function.spec.name.clone();
        self.functions.rcu(|current| {
            let mut next = HashMap::clone(current);
            next.insert(name.clone(), function.clone());
            next
        });
        match failed {
            Some(reason) => Err(reason),
            None => Ok(()),
        }
    }

    /// Removes a function; its idle workers stop.
    pub fn remove(&self, name: &str) {
        self.functions.rcu(|current| {
            let mut next = HashMap::clone(current);
            next.remove(name);
            next
        });
    }

    /// Invokes `name` synchronously.
    pub async fn invoke(
        &self,
        name: &str,
        request: InvokeRequest,
    ) -> Result<Invocation, InvokeError> {
        let concurrent = self.config.max_workers - self.running.available_permits() + 1;
        let trace_id = request.trace_id.clone();
        let start_unix_nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        let invoked = self.invoke_once(name, request).await;
        if let Some(observe) = &self.config.on_invocation {
            let (outcome, duration) = match &invoked {
                Ok(i) if matches!(i.result, InvokeResult::Success(_)) => {
                    (InvocationOutcome::Success, i.duration)
                }
                Ok(i) => (InvocationOutcome::FunctionError, i.duration),
                Err(InvokeError::Throttled) => (InvocationOutcome::Throttled, Duration::ZERO),
                Err(_) => (InvocationOutcome::Failed, Duration::ZERO),
            };
            observe(&InvocationRecord {
                function: name.to_string(),
                outcome,
                duration,
                concurrent,
                trace_id,
                start_unix_nanos,
            });
        }
        invoked
    }

    async fn invoke_once(
        &self,
        name: &str,
        request: InvokeRequest,
    ) -> Result<Invocation, InvokeError> {
        let function = self
            .functions
            .load()
            .get(name)
            .cloned()
            .ok_or_else(|| InvokeError::NotFound(name.to_string()))?;
        let _reserved = match &function.reserved {
            Some(reserved) => Some(
                reserved
                    .clone()
                    .try_acquire_owned()
                    .map_err(|_| InvokeError::Throttled)?,
            ),
            None => None,
        };
        let _running: OwnedSemaphorePermit = self
            .running
            .clone()
            .try_acquire_owned()
            .map_err(|_| InvokeError::Throttled)?;
        if let Some(url) = &function.spec.external_url {
            return crate::external::invoke(url, &function.spec, request).await;
        }
        let (launcher, program) = function.program.clone().map_err(InvokeError::NotRunnable)?;
        let started = Instant::now();
        let (mut worker, init) = match self.warm_worker(&function) {
            Some(worker) => (worker, None),
            None => {
                let worker = self.start_worker(&function.spec, launcher, program).await?;
                (worker, Some(started.elapsed()))
            }
        };
        let request_id = new_request_id();
        let tail = Tail::default();
        let spec = &function.spec;
        let log = |line: &str| {
            self.logs.line(&spec.name, line);
            tail.push(line);
        };
        log(&format!("START RequestId: {request_id} Version: $LATEST"));
        let timeout = match request.deadline {
            Some(deadline) => spec
                .timeout
                .min(deadline.saturating_duration_since(Instant::now())),
            None => spec.timeout,
        };
        let job = Job {
            request_id: request_id.clone(),
            payload: request.payload,
            deadline_ms: crate::logs::now_ms() + timeout.as_millis() as i64,
            trace_id: request.trace_id,
            client_context: request.client_context,
            tail: tail.clone(),
        };
        let invoked = Instant::now();
        let ran = worker.run(job, timeout).await;
        let duration = invoked.elapsed();
        let (result, reusable) = match ran {
            Ran::Answered(Answer::Response(body)) => (InvokeResult::Success(body), true),
            Ran::Answered(Answer::Error { body, error_type }) => (
                InvokeResult::FunctionError {
                    body: normalize_error(body, &error_type),
                    kind: "Unhandled".into(),
                },
                true,
            ),
            Ran::TimedOut => {
                let seconds = format!("{:.2}", spec.timeout.as_secs_f64());
                log(&format!(
                    "{} {request_id} Task timed out after {seconds} seconds",
                    crate::logs::rfc3339_ms(crate::logs::now_ms())
                ));
                (
                    function_error(
                        "Sandbox.Timedout",
                        &format!(
                            "RequestId: {request_id} Error: Task timed out after {seconds} seconds"
                        ),
                    ),
                    false,
                )
            }
            Ran::Exited(Exit::InitError { body, error_type }) => (
                InvokeResult::FunctionError {
                    body: normalize_error(body, &error_type),
                    kind: "Unhandled".into(),
                },
                false,
            ),
            Ran::Exited(Exit::Exited(status)) => (
                function_error(
                    "Runtime.ExitError",
                    &format!("RequestId: {request_id} Error: Runtime exited with error: {status}"),
                ),
                false,
            ),
        };
        log(&format!("END RequestId: {request_id}"));
        let mut report = format!(
            "REPORT RequestId: {request_id}\tDuration: {:.2} ms\tBilled Duration: {} ms\tMemory Size: {} MB\tMax Memory Used: {} MB",
            duration.as_secs_f64() * 1000.0,
            duration.as_millis().max(1),
            spec.memory_mb,
            worker.max_memory_mb()
        );
        if let Some(init) = init {
            report.push_str(&format!(
                "\tInit Duration: {:.2} ms",
                init.as_secs_f64() * 1000.0
            ));
        }
        log(&report);
        if reusable && !worker.has_exited() {
            lock(&function.idle).push(worker);
        }
        Ok(Invocation {
            request_id,
            result,
            log_tail: tail.text(),
            duration,
        })
    }

    /// An idle worker of `function` whose process is alive.
    fn warm_worker(&self, function: &Function) -> Option<Worker> {
        let mut idle = lock(&function.idle);
        while let Some(worker) = idle.pop() {
            if !worker.has_exited() {
                return Some(worker);
            }
        }
        None
    }

    async fn start_worker(
        &self,
        spec: &FunctionSpec,
        launcher: Launcher,
        program: PathBuf,
    ) -> Result<Worker, InvokeError> {
        let spec = spec.clone();
        let bootstrap_dir = self.bootstrap_dir.clone();
        let base_env = self.config.base_env.clone();
        let logs = self.logs.clone();
        // On the host's runtime: the worker's tasks and process live there.
        self.runtime
            .spawn(async move {
                Worker::start(
                    &spec,
                    Launch {
                        program: &program,
                        launcher: &launcher,
                        bootstrap_dir: &bootstrap_dir,
                        base_env: &base_env,
                        logs: &logs,
                    },
                )
                .await
            })
            .await
            .map_err(|e| InvokeError::Service(format!("starting a worker: {e}")))?
            .map_err(|e| InvokeError::Service(format!("starting a worker: {e}")))
    }

    /// Stops workers idle for longer than the idle timeout.
    fn stop_idle_workers(&self) {
        let now = Instant::now();
        for function in self.functions.load().values() {
            lock(&function.idle).retain(|w| {
                !w.has_exited() && now.duration_since(w.last_used) < self.config.idle_timeout
            });
        }
    }

    /// Workers of `name` now idle (tests, diagnostics).
    pub fn idle_workers(&self, name: &str) -> usize {
        self.functions
            .load()
            .get(name)
            .map_or(0, |f| lock(&f.idle).len())
    }
}

/// A function error document in AWS's shape.
fn function_error(error_type: &str, message: &str) -> InvokeResult {
    InvokeResult::FunctionError {
        body: Bytes::from(
            serde_json::json!({"errorType": error_type, "errorMessage": message}).to_string(),
        ),
        kind: "Unhandled".into(),
    }
}

/// An error posted by a runtime, as the invoker sees it: its JSON when it is
/// JSON, else wrapped with the error type the runtime named.
fn normalize_error(body: Bytes, error_type: &str) -> Bytes {
    if serde_json::from_slice::<serde_json::Value>(&body).is_ok_and(|v| v.is_object()) {
        return body;
    }
    Bytes::from(
        serde_json::json!({
            "errorType": error_type,
            "errorMessage": String::from_utf8_lossy(&body),
        })
        .to_string(),
    )
}

/// A Lambda request id: a UUID v4.
pub fn new_request_id() -> String {
    let mut b: [u8; 16] = rand::random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

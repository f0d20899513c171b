//! The Lambda host's place in the server: keeping it in step with the
//! stored functions, serving Invoke (`POST /2015-03-31/functions/{name}/invocations`),
//! and running API Gateway's Lambda integrations.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::mpsc::{channel, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use bytes::Bytes;
use http::{Response, StatusCode};
use tollgate_aws::error::rest_json_error;
use tollgate_control::ControlPlane;
use tollgate_gateway::{FunctionInvoker, FunctionResult, InvokeFailure};
use tollgate_lambda::{FunctionSpec, InvokeError, InvokeRequest, InvokeResult, LambdaHost};
use tollgate_model::lambda::FunctionDoc;
use tollgate_model::{Change, State};

/// What makes the host redeploy a function: a new revision (code or
/// configuration) or new reserved concurrency. A state change alone does not.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Deployed {
    revision_id: String,
    reserved: Option<u32>,
}

/// Keeps the Lambda host in step with the stored functions. Deploying
/// (unpacking code, starting nothing yet) happens on a thread of its own;
/// what it made of a function is recorded back as the function's state.
pub struct FunctionSync {
    work: Sender<Vec<Arc<FunctionDoc>>>,
    deployed: Mutex<HashMap<String, Deployed>>,
    host: Arc<LambdaHost>,
}

impl FunctionSync {
    pub fn start(
        host: Arc<LambdaHost>,
        control: std::sync::Weak<ControlPlane>,
        code_root: PathBuf,
    ) -> Arc<FunctionSync> {
        let (work, jobs) = channel::<Vec<Arc<FunctionDoc>>>();
        let worker_host = host.clone();
        std::thread::Builder::new()
            .name("tollgate-lambda-sync".into())
            .spawn(move || {
                for docs in jobs {
                    let Some(control) = control.upgrade() else { return };
                    for doc in docs {
                        let outcome = deploy(&worker_host, &control, &code_root, &doc);
                        if let Err(reason) = &outcome {
                            tracing::warn!(function = %doc.configuration.function_name, %reason, "function cannot run");
                        }
                        let name = &doc.configuration.function_name;
                        if let Err(e) = control.record_function_state(
                            name,
                            &doc.configuration.revision_id,
                            outcome,
                        ) {
                            tracing::error!(error = %e, function = %name, "cannot record a function's state");
                        }
                    }
                }
            })
            .ok();
        Arc::new(FunctionSync {
            work,
            deployed: Mutex::new(HashMap::new()),
            host,
        })
    }

    /// Called with every committed change (and once with everything).
    pub fn update(&self, state: &State, changes: &[Change]) {
        let all = changes.is_empty();
        if !all && !changes.iter().any(|c| matches!(c, Change::Function(..))) {
            return;
        }
        let mut deployed = self.deployed.lock().unwrap_or_else(|e| e.into_inner());
        let mut to_deploy = Vec::new();
        for (name, doc) in &state.functions {
            let wanted = Deployed {
                revision_id: doc.configuration.revision_id.clone(),
                reserved: doc.reserved_concurrency,
            };
            if deployed.get(name) != Some(&wanted) {
                deployed.insert(name.clone(), wanted);
                to_deploy.push(doc.clone());
            }
        }
        deployed.retain(|name, _| {
            let keep = state.functions.contains_key(name);
            if !keep {
                self.host.remove(name);
            }
            keep
        });
        if !to_deploy.is_empty() {
            let _ = self.work.send(to_deploy);
        }
    }
}

/// Unpacks the function's code (once per zip) and hands it to the host.
fn deploy(
    host: &LambdaHost,
    control: &ControlPlane,
    code_root: &std::path::Path,
    doc: &FunctionDoc,
) -> Result<(), String> {
    let c = &doc.configuration;
    let code_dir = code_root.join(&doc.code_id);
    if doc.external_url.is_none() && !code_dir.is_dir() {
        let zip = control
            .function_code(&doc.code_id)
            .map_err(|e| format!("cannot read the function's code: {e}"))?
            .ok_or_else(|| "the function's code is missing from the store".to_string())?;
        let unpacking = code_root.join(format!("{}.unpacking", doc.code_id));
        let _ = std::fs::remove_dir_all(&unpacking);
        tollgate_lambda::code::unpack(&zip, &unpacking).map_err(|e| e.to_string())?;
        std::fs::rename(&unpacking, &code_dir)
            .map_err(|e| format!("cannot place the function's code: {e}"))?;
    }
    host.deploy(FunctionSpec {
        name: c.function_name.clone(),
        arn: c.function_arn.clone(),
        runtime: c.runtime.clone(),
        handler: c.handler.clone(),
        environment: c
            .environment
            .as_ref()
            .map(|e| e.variables.clone())
            .unwrap_or_default(),
        timeout: Duration::from_secs(u64::from(c.timeout)),
        memory_mb: c.memory_size,
        code_dir,
        reserved_concurrency: doc.reserved_concurrency,
        external_url: doc.external_url.clone(),
    })
}

/// The host as API Gateway's Lambda integrations call it.
pub struct HostInvoker(pub Arc<LambdaHost>);

impl FunctionInvoker for HostInvoker {
    fn invoke<'a>(
        &'a self,
        function: &'a str,
        payload: Bytes,
        deadline: Instant,
        trace_id: &'a str,
    ) -> std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<FunctionResult, InvokeFailure>> + Send + 'a>,
    > {
        Box::pin(async move {
            let request = InvokeRequest {
                payload,
                trace_id: (!trace_id.is_empty()).then(|| trace_id.to_string()),
                client_context: None,
                deadline: Some(deadline),
            };
            let invoked = tokio::time::timeout_at(
                tokio::time::Instant::from_std(deadline),
                self.0.invoke(function, request),
            )
            .await;
            match invoked {
                Err(_) => Err(InvokeFailure::TimedOut),
                Ok(Err(InvokeError::NotFound(_))) => Err(InvokeFailure::NotFound),
                Ok(Err(InvokeError::Throttled)) => Err(InvokeFailure::Throttled),
                Ok(Err(e)) => Err(InvokeFailure::Failed(e.to_string())),
                Ok(Ok(invocation)) => {
                    // The function's deadline was the integration's: a
                    // timeout at the same moment is the integration's.
                    let timed_out = Instant::now() >= deadline;
                    match invocation.result {
                        InvokeResult::Success(body) => Ok(FunctionResult::Success(body)),
                        InvokeResult::FunctionError { body, .. }
                            if timed_out && is_timeout(&body) =>
                        {
                            Err(InvokeFailure::TimedOut)
                        }
                        InvokeResult::FunctionError { body, .. } => Ok(FunctionResult::Error(body)),
                    }
                }
            }
        })
    }
}

fn is_timeout(error: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Value>(error)
        .is_ok_and(|v| v["errorType"] == "Sandbox.Timedout")
}

/// Synchronous invocations take at most this much (AWS: 6 MB).
const MAX_SYNC_PAYLOAD: usize = 6 * 1024 * 1024;
/// Asynchronous (`Event`) invocations take at most this much (AWS: 256 KB).
const MAX_ASYNC_PAYLOAD: usize = 256 * 1024;

/// `Invoke`: `POST /2015-03-31/functions/{name}/invocations`.
pub async fn invoke(
    host: &Arc<LambdaHost>,
    control: &ControlPlane,
    name_in_path: &str,
    headers: &http::HeaderMap,
    body: Bytes,
    request_id: &str,
) -> Response<Bytes> {
    let error = |status: u16, code: &str, message: &str| {
        let mut r = rest_json_error(status, code, message, request_id);
        *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
        r
    };
    let decoded = percent_encoding::percent_decode_str(name_in_path).decode_utf8_lossy();
    let name = match tollgate_control::lambda_function_name(&decoded) {
        Ok(name) => name,
        Err(e) => return error(e.code.status(), e.code.name(), &e.message),
    };
    let Some(doc) = control.function(&name) else {
        let arn = format!(
            "arn:aws:lambda:{}:{}:function:{name}",
            control.config().region,
            control.config().account_id
        );
        return error(
            404,
            "ResourceNotFoundException",
            &format!("Function not found: {arn}"),
        );
    };
    if doc.configuration.state != "Active" {
        return error(
            409,
            "ResourceConflictException",
            &format!(
                "The operation cannot be performed at this time. The function is currently in the following state: {}",
                doc.configuration.state
            ),
        );
    }
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let invocation_type = header("x-amz-invocation-type").unwrap_or("RequestResponse");
    let tail = header("x-amz-log-type") == Some("Tail");
    let client_context = header("x-amz-client-context").map(str::to_string);
    let limit = if invocation_type == "Event" {
        MAX_ASYNC_PAYLOAD
    } else {
        MAX_SYNC_PAYLOAD
    };
    if body.len() > limit {
        return error(
            413,
            "RequestTooLargeException",
            &format!("Request must be smaller than {limit} bytes for the InvokeFunction operation"),
        );
    }
    let payload = if body.iter().all(u8::is_ascii_whitespace) {
        Bytes::from_static(b"{}")
    } else {
        if let Err(e) = serde_json::from_slice::<serde_json::Value>(&body) {
            return error(
                400,
                "InvalidRequestContentException",
                &format!("Could not parse request body into json: {e}"),
            );
        }
        body
    };
    let request = InvokeRequest {
        payload,
        trace_id: None,
        client_context,
        deadline: None,
    };
    match invocation_type {
        "DryRun" => return status_only(204, request_id),
        "Event" => {
            let host = host.clone();
            tokio::spawn(async move {
                if let Err(e) = host.invoke(&name, request).await {
                    tracing::warn!(function = %name, error = %e, "asynchronous invocation failed");
                }
            });
            return status_only(202, request_id);
        }
        "RequestResponse" => {}
        other => {
            return error(
                400,
                "InvalidParameterValueException",
                &format!("Unsupported invocation type {other}"),
            )
        }
    }
    let invocation = match host.invoke(&name, request).await {
        Ok(invocation) => invocation,
        Err(InvokeError::Throttled) => {
            let mut r = error(429, "TooManyRequestsException", "Rate Exceeded.");
            if let Ok(body) = serde_json::to_vec(&serde_json::json!({
                "Reason": "ReservedFunctionConcurrentInvocationLimitExceeded",
                "Type": "User",
                "message": "Rate Exceeded.",
            })) {
                *r.body_mut() = Bytes::from(body);
            }
            return r;
        }
        Err(InvokeError::NotFound(_)) => {
            return error(
                404,
                "ResourceNotFoundException",
                &format!("Function not found: {name}"),
            )
        }
        Err(e) => {
            tracing::error!(function = %name, error = %e, "invocation failed");
            return error(
                500,
                "ServiceException",
                "Lambda could not run the function.",
            );
        }
    };
    let (body, function_error) = match invocation.result {
        InvokeResult::Success(body) => (body, None),
        InvokeResult::FunctionError { body, kind } => (body, Some(kind)),
    };
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    let mut set = |name: &'static str, value: &str| {
        if let Ok(v) = http::HeaderValue::from_str(value) {
            headers.insert(name, v);
        }
    };
    set("content-type", "application/json");
    set("x-amzn-requestid", &invocation.request_id);
    set("x-amz-executed-version", "$LATEST");
    if let Some(kind) = function_error {
        set("x-amz-function-error", &kind);
    }
    if tail {
        let log = base64::engine::general_purpose::STANDARD.encode(invocation.log_tail.as_bytes());
        set("x-amz-log-result", &log);
    }
    response
}

fn status_only(status: u16, request_id: &str) -> Response<Bytes> {
    let mut r = Response::new(Bytes::new());
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    if let Ok(v) = http::HeaderValue::from_str(request_id) {
        r.headers_mut().insert("x-amzn-requestid", v);
    }
    r
}

/// Variables every function gets: the region, and Tollgate as the AWS
/// endpoint (with the admin credentials), so that boto3 inside a function
/// reaches Tollgate's services.
pub fn base_environment(
    region: &str,
    endpoint: &str,
    credentials: &[tollgate_aws::sigv4::Credentials],
) -> BTreeMap<String, String> {
    let mut env = BTreeMap::from([
        ("AWS_REGION".to_string(), region.to_string()),
        ("AWS_DEFAULT_REGION".to_string(), region.to_string()),
        ("AWS_ENDPOINT_URL".to_string(), endpoint.to_string()),
    ]);
    if let Some(c) = credentials.first() {
        env.insert("AWS_ACCESS_KEY_ID".into(), c.access_key_id.clone());
        env.insert("AWS_SECRET_ACCESS_KEY".into(), c.secret_access_key.clone());
    }
    env
}

/// Function output to CloudWatch Logs (`/aws/lambda/NAME`).
pub fn log_forward(observe: &Arc<tollgate_observe::Observatory>) -> tollgate_lambda::LogForward {
    let observe = Arc::downgrade(observe);
    Arc::new(move |function: &str, at_ms: i64, text: &str| {
        if let Some(observe) = observe.upgrade() {
            observe.functions.log_line(function, at_ms, text);
        }
    })
}

/// Invocations to the AWS/Lambda metrics.
pub fn invocation_observer(
    observe: &Arc<tollgate_observe::Observatory>,
) -> tollgate_lambda::InvocationObserver {
    use tollgate_lambda::InvocationOutcome;
    let observe = Arc::downgrade(observe);
    Arc::new(move |r: &tollgate_lambda::InvocationRecord| {
        if let Some(observe) = observe.upgrade() {
            observe
                .functions
                .invoked(tollgate_observe::functions::FunctionRecord {
                    function: r.function.clone(),
                    at_ms: tollgate_observe::logs::writer::now_ms(),
                    ran: matches!(
                        r.outcome,
                        InvocationOutcome::Success | InvocationOutcome::FunctionError
                    ),
                    error: r.outcome == InvocationOutcome::FunctionError,
                    throttled: r.outcome == InvocationOutcome::Throttled,
                    duration: r.duration,
                    concurrent: r.concurrent,
                    trace_id: r.trace_id.clone(),
                    start_unix_nanos: r.start_unix_nanos,
                });
        }
    })
}

//! The Lambda host running real functions: Python, Node.js (CommonJS and ES
//! modules, async and callback handlers) and a `provided` shell bootstrap;
//! errors in AWS's shape; timeouts whose late answers never reach another
//! invocation; crashed workers replaced; reserved concurrency.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::{json, Value};
use tollgate_lambda::{
    FunctionSpec, HostConfig, Interpreters, InvokeError, InvokeRequest, InvokeResult, LambdaHost,
};

struct Dir(PathBuf);

impl Dir {
    fn new(tag: &str) -> Dir {
        let path = std::env::temp_dir().join(format!(
            "tollgate-lambda-{tag}-{}-{}",
            std::process::id(),
            rand_suffix()
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("dir");
        Dir(path)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::SeqCst)
}

/// The interpreters, or None (and a skip message) when one is missing
/// outside CI.
fn interpreters() -> Option<Interpreters> {
    let found = Interpreters::resolve("python3", "node");
    if found.python.is_none() || found.node.is_none() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "python3 and node are required under CI=true"
        );
        eprintln!("skipping: python3 or node not found");
        return None;
    }
    Some(found)
}

struct Fixture {
    host: Arc<LambdaHost>,
    data: Dir,
}

impl Fixture {
    fn new(max_workers: usize) -> Option<Fixture> {
        let data = Dir::new("host");
        let host = LambdaHost::start(HostConfig {
            data_dir: data.0.clone(),
            interpreters: interpreters()?,
            max_workers,
            idle_timeout: Duration::from_secs(300),
            base_env: BTreeMap::from([("AWS_REGION".to_string(), "us-east-1".to_string())]),
            log_forward: None,
            on_invocation: None,
        })
        .expect("host");
        Some(Fixture { host, data })
    }

    /// Deploys `files` as function `name`.
    fn deploy(
        &self,
        name: &str,
        runtime: &str,
        handler: &str,
        files: &[(&str, &str)],
        timeout: Duration,
        reserved: Option<u32>,
    ) {
        let code = self.data.0.join("code").join(name);
        std::fs::create_dir_all(&code).expect("code dir");
        for (file, text) in files {
            let path = code.join(file);
            std::fs::write(&path, text).expect("write");
            if *file == "bootstrap" {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
                    .expect("chmod");
            }
        }
        self.host
            .deploy(FunctionSpec {
                name: name.into(),
                arn: format!("arn:aws:lambda:us-east-1:000000000000:function:{name}"),
                runtime: runtime.into(),
                handler: handler.into(),
                environment: BTreeMap::from([("GREETING".to_string(), "hello".to_string())]),
                timeout,
                memory_mb: 256,
                code_dir: code,
                reserved_concurrency: reserved,
                external_url: None,
            })
            .expect("runnable");
    }

    async fn invoke(
        &self,
        name: &str,
        event: Value,
    ) -> Result<(InvokeResult, String), InvokeError> {
        let invocation = self
            .host
            .invoke(
                name,
                InvokeRequest {
                    payload: Bytes::from(event.to_string()),
                    ..InvokeRequest::default()
                },
            )
            .await?;
        Ok((invocation.result, invocation.log_tail))
    }
}

fn success(result: &InvokeResult) -> Value {
    match result {
        InvokeResult::Success(body) => serde_json::from_slice(body).expect("JSON"),
        other => panic!("expected success, got {other:?}"),
    }
}

fn failure(result: &InvokeResult) -> Value {
    match result {
        InvokeResult::FunctionError { body, kind } => {
            assert_eq!(kind, "Unhandled");
            serde_json::from_slice(body).expect("JSON error")
        }
        other => panic!("expected a function error, got {other:?}"),
    }
}

const PYTHON: &str = r#"
import os, time, json

def handler(event, context):
    action = event.get("action")
    if action == "raise":
        raise ValueError("bad input: " + str(event.get("n")))
    if action == "sleep":
        time.sleep(event["seconds"])
        return {"slept": event["seconds"], "request": context.aws_request_id}
    if action == "exit":
        os._exit(3)
    if action == "garbage":
        return {1, 2}
    print("handling", json.dumps(event))
    return {
        "event": event,
        "greeting": os.environ.get("GREETING"),
        "function": context.function_name,
        "arn": context.invoked_function_arn,
        "remaining_ok": 0 < context.get_remaining_time_in_millis() <= 3000,
        "pid": os.getpid(),
        "leaked": os.environ.get("CARGO") is not None,
    }
"#;

#[tokio::test]
async fn python_functions_answer_fail_and_recover() {
    let Some(f) = Fixture::new(16) else { return };
    f.deploy(
        "py",
        "python3.11",
        "app.handler",
        &[("app.py", PYTHON)],
        Duration::from_secs(3),
        None,
    );

    let (result, tail) = f.invoke("py", json!({"n": 1})).await.expect("invoked");
    let answer = success(&result);
    assert_eq!(answer["event"], json!({"n": 1}));
    assert_eq!(answer["greeting"], "hello");
    assert_eq!(answer["function"], "py");
    assert_eq!(
        answer["arn"],
        "arn:aws:lambda:us-east-1:000000000000:function:py"
    );
    assert_eq!(answer["remaining_ok"], true);
    assert_eq!(
        answer["leaked"], false,
        "the gateway's environment does not leak in"
    );
    assert!(tail.starts_with("START RequestId: "), "{tail}");
    assert!(tail.contains("handling {\"n\": 1}"), "{tail}");
    assert!(
        tail.contains("REPORT RequestId: ") && tail.contains("Init Duration"),
        "{tail}"
    );
    let first_pid = answer["pid"].clone();

    // Warm: the same worker answers again.
    let (result, tail) = f.invoke("py", json!({"n": 2})).await.expect("invoked");
    assert_eq!(success(&result)["pid"], first_pid);
    assert!(!tail.contains("Init Duration"), "{tail}");

    // A handler that raises: AWS's error shape, and the worker lives on.
    let (result, _) = f
        .invoke("py", json!({"action": "raise", "n": 7}))
        .await
        .expect("invoked");
    let error = failure(&result);
    assert_eq!(error["errorType"], "ValueError");
    assert_eq!(error["errorMessage"], "bad input: 7");
    assert!(
        error["stackTrace"]
            .as_array()
            .is_some_and(|s| !s.is_empty()),
        "{error}"
    );
    let (result, _) = f.invoke("py", json!({"n": 3})).await.expect("invoked");
    assert_eq!(success(&result)["pid"], first_pid);

    // A return value JSON cannot carry.
    let (result, _) = f
        .invoke("py", json!({"action": "garbage"}))
        .await
        .expect("invoked");
    assert!(failure(&result)["errorMessage"].as_str().is_some());

    // os._exit: Runtime.ExitError, then a new worker answers at once.
    let (result, _) = f
        .invoke("py", json!({"action": "exit"}))
        .await
        .expect("invoked");
    let error = failure(&result);
    assert_eq!(error["errorType"], "Runtime.ExitError");
    assert!(
        error["errorMessage"]
            .as_str()
            .is_some_and(|m| m.contains("exit status: 3")),
        "{error}"
    );
    let (result, _) = f.invoke("py", json!({"n": 4})).await.expect("invoked");
    assert_ne!(success(&result)["pid"], first_pid);
}

#[tokio::test]
async fn a_timed_out_invocation_never_answers_another() {
    let Some(f) = Fixture::new(16) else { return };
    f.deploy(
        "slow",
        "python3.11",
        "app.handler",
        &[("app.py", PYTHON)],
        Duration::from_secs(1),
        None,
    );
    // A warm worker first, so that the timing below is the timeout's and
    // not a cold start's (slow on a loaded machine).
    let (result, _) = f.invoke("slow", json!({"n": 0})).await.expect("invoked");
    assert_eq!(success(&result)["event"], json!({"n": 0}));
    let started = Instant::now();
    let (result, tail) = f
        .invoke("slow", json!({"action": "sleep", "seconds": 3}))
        .await
        .expect("invoked");
    assert!(
        started.elapsed() < Duration::from_millis(2800),
        "answered after {:?}: not cut at the 1 s timeout",
        started.elapsed()
    );
    let error = failure(&result);
    assert_eq!(error["errorType"], "Sandbox.Timedout");
    assert!(error["errorMessage"]
        .as_str()
        .is_some_and(|m| m.ends_with("Task timed out after 1.00 seconds")));
    assert!(tail.contains("Task timed out after 1.00 seconds"), "{tail}");
    // The next invocation gets its own answer, even after the killed one
    // would have finished.
    let (result, _) = f.invoke("slow", json!({"n": 5})).await.expect("invoked");
    assert_eq!(success(&result)["event"], json!({"n": 5}));
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let (result, _) = f
        .invoke("slow", json!({"action": "sleep", "seconds": 0.1}))
        .await
        .expect("invoked");
    assert_eq!(success(&result)["slept"], 0.1);
}

#[tokio::test]
async fn init_errors_are_reported_as_aws_does() {
    let Some(f) = Fixture::new(16) else { return };
    f.deploy(
        "broken",
        "python3.11",
        "missing.handler",
        &[("app.py", PYTHON)],
        Duration::from_secs(3),
        None,
    );
    let (result, _) = f.invoke("broken", json!({})).await.expect("invoked");
    let error = failure(&result);
    assert_eq!(error["errorType"], "Runtime.ImportModuleError");
    assert!(
        error["errorMessage"]
            .as_str()
            .is_some_and(|m| m.contains("Unable to import module 'missing'")),
        "{error}"
    );
    // And again, not a hang.
    let (result, _) = f.invoke("broken", json!({})).await.expect("invoked");
    assert_eq!(failure(&result)["errorType"], "Runtime.ImportModuleError");
}

#[tokio::test]
async fn node_functions_of_every_kind() {
    let Some(f) = Fixture::new(16) else { return };
    let files = [
        ("cjs.js", "exports.handler = async (event, context) => ({ kind: 'cjs-async', event, fn: context.functionName, greeting: process.env.GREETING });"),
        ("callback.js", "exports.handler = (event, context, callback) => { setTimeout(() => callback(null, { kind: 'callback', event }), 10); };"),
        ("esm.mjs", "export const handler = async (event) => { if (event.fail) { throw new TypeError('nope'); } return { kind: 'esm', event }; };"),
    ];
    f.deploy(
        "node-cjs",
        "nodejs20.x",
        "cjs.handler",
        &files,
        Duration::from_secs(5),
        None,
    );
    f.deploy(
        "node-callback",
        "nodejs20.x",
        "callback.handler",
        &files,
        Duration::from_secs(5),
        None,
    );
    f.deploy(
        "node-esm",
        "nodejs20.x",
        "esm.handler",
        &files,
        Duration::from_secs(5),
        None,
    );
    let (r, _) = f
        .invoke("node-cjs", json!({"a": 1}))
        .await
        .expect("invoked");
    assert_eq!(
        success(&r),
        json!({"kind": "cjs-async", "event": {"a": 1}, "fn": "node-cjs", "greeting": "hello"})
    );
    let (r, _) = f
        .invoke("node-callback", json!({"b": 2}))
        .await
        .expect("invoked");
    assert_eq!(success(&r), json!({"kind": "callback", "event": {"b": 2}}));
    let (r, _) = f
        .invoke("node-esm", json!({"c": 3}))
        .await
        .expect("invoked");
    assert_eq!(success(&r), json!({"kind": "esm", "event": {"c": 3}}));
    let (r, _) = f
        .invoke("node-esm", json!({"fail": true}))
        .await
        .expect("invoked");
    let error = failure(&r);
    assert_eq!(error["errorType"], "TypeError");
    assert_eq!(error["errorMessage"], "nope");
}

#[tokio::test]
async fn a_provided_runtime_runs_its_own_bootstrap() {
    let Some(f) = Fixture::new(16) else { return };
    // A Runtime API client in plain shell and curl-free Python-free tools:
    // it answers every event with the event itself, upper-cased.
    let bootstrap = r#"#!/bin/sh
set -eu
API="http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime"
while true; do
  HEADERS="$(mktemp)"
  EVENT=$(wget -q -S -O - "$API/invocation/next" 2>"$HEADERS" || true)
  ID=$(grep -i 'Lambda-Runtime-Aws-Request-Id' "$HEADERS" | tr -d '\r' | awk '{print $2}')
  rm -f "$HEADERS"
  echo "event for $ID"
  printf '%s' "$EVENT" | tr 'a-z' 'A-Z' > "/tmp/tollgate-provided-$ID"
  wget -q -O /dev/null --post-file="/tmp/tollgate-provided-$ID" "$API/invocation/$ID/response"
  rm -f "/tmp/tollgate-provided-$ID"
done
"#;
    if std::process::Command::new("wget")
        .arg("--version")
        .output()
        .is_err()
    {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "wget is required under CI=true"
        );
        eprintln!("skipping: wget not found");
        return;
    }
    f.deploy(
        "shell",
        "provided.al2023",
        "unused",
        &[("bootstrap", bootstrap)],
        Duration::from_secs(5),
        None,
    );
    let (r, tail) = f
        .invoke("shell", json!({"x": "abc"}))
        .await
        .expect("invoked");
    assert_eq!(success(&r), json!({"X": "ABC"}));
    assert!(tail.contains("event for "), "{tail}");
}

#[tokio::test]
async fn reserved_concurrency_bounds_the_workers() {
    let Some(f) = Fixture::new(64) else { return };
    f.deploy(
        "bounded",
        "python3.11",
        "app.handler",
        &[("app.py", PYTHON)],
        Duration::from_secs(10),
        Some(5),
    );
    let host = f.host.clone();
    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let host = host.clone();
        calls.spawn(async move {
            host.invoke(
                "bounded",
                InvokeRequest {
                    payload: Bytes::from(json!({"action": "sleep", "seconds": 0.5}).to_string()),
                    ..InvokeRequest::default()
                },
            )
            .await
        });
    }
    let (mut ok, mut throttled) = (0, 0);
    while let Some(joined) = calls.join_next().await {
        match joined.expect("joined") {
            Ok(_) => ok += 1,
            Err(InvokeError::Throttled) => throttled += 1,
            Err(other) => panic!("{other}"),
        }
    }
    assert_eq!(ok, 5, "{ok} ran");
    assert_eq!(throttled, 15);
    assert!(f.host.idle_workers("bounded") <= 5);
    // Zero reserved: nothing runs.
    f.deploy(
        "off",
        "python3.11",
        "app.handler",
        &[("app.py", PYTHON)],
        Duration::from_secs(10),
        Some(0),
    );
    assert_eq!(
        f.invoke("off", json!({})).await.err(),
        Some(InvokeError::Throttled)
    );
}

#[tokio::test]
async fn unknown_and_unrunnable_functions() {
    let Some(f) = Fixture::new(4) else { return };
    assert!(matches!(
        f.invoke("nobody", json!({})).await,
        Err(InvokeError::NotFound(_))
    ));
    let code = f.data.0.join("java");
    std::fs::create_dir_all(&code).expect("dir");
    let refused = f.host.deploy(FunctionSpec {
        name: "java".into(),
        arn: "arn:aws:lambda:us-east-1:000000000000:function:java".into(),
        runtime: "java21".into(),
        handler: "x::y".into(),
        environment: BTreeMap::new(),
        timeout: Duration::from_secs(3),
        memory_mb: 128,
        code_dir: code,
        reserved_concurrency: None,
        external_url: None,
    });
    assert!(refused.is_err());
    assert!(matches!(
        f.invoke("java", json!({})).await,
        Err(InvokeError::NotRunnable(_))
    ));
    let _ = Path::new("");
}

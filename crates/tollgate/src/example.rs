//! `tollgate serve --example multitalk`: what the seed guide creates,
//! provisioned through Tollgate's own control-plane operations (the calls
//! `examples/multitalk/setup.sh` makes with the aws CLI), in front of the
//! reference MultiTalk server started alongside (or `--upstream URL`):
//!
//! the IAM role and the Lambda proxy (the guide's `api_gateway_proxy.py`
//! with `requests` pip-installed beside it; an HTTP_PROXY injecting the
//! upstream's key when pip cannot install it), the REST API with `/api` and
//! `/api/{proxy+}` ANY requiring an API key, the `prod` deployment, the
//! usage plan and its key, the log group with the stage's access log,
//! tracing, and the error alarm; and, beyond the guide, idempotent job
//! submission (`tollgateIdempotency`). What already exists (by name) is reused, so
//! running it again on the same data directory changes nothing but the
//! upstream's address.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use base64::Engine;
use serde_json::{json, Value};
use tollgate_control::ControlRequest;

use crate::app::App;

const API_NAME: &str = "MeiGen-MultiTalk-API";
const FUNCTION: &str = "multitalk-api-proxy";
const PLAN: &str = "MultitalkBasic";
const KEY: &str = "multitalk-client-key";
const LOG_GROUP: &str = "/aws/apigateway/multitalk";
const ROLE: &str = "multitalk-lambda-role";
/// The guide's Lambda proxy, unchanged.
const PROXY_SOURCE: &str = include_str!("../../../examples/multitalk/api_gateway_proxy.py");

/// What the example made, for the user.
pub struct Provisioned {
    pub invoke_url: String,
    pub api_key: String,
    pub api_id: String,
    /// The Lambda proxy serves the API (else the HTTP_PROXY fallback).
    pub lambda: bool,
}

/// Where the MultiTalk API is and the key it takes.
pub struct Upstream {
    pub url: String,
    pub key: String,
}

/// One control-plane operation, as an HTTP request would make it.
async fn call(app: &App, method: &str, path: &str, body: Value) -> anyhow::Result<Value> {
    let control = app.control.clone();
    let (path_only, query) = match path.split_once('?') {
        Some((p, q)) => (p.to_string(), q),
        None => (path.to_string(), ""),
    };
    let request = ControlRequest {
        method: method.to_string(),
        path: path_only,
        query: crate::front_door::parse_query(query),
        body: if body.is_null() {
            Vec::new()
        } else {
            body.to_string().into_bytes()
        },
        accept: None,
    };
    let reply = tokio::task::spawn_blocking(move || control.handle(&request))
        .await
        .map_err(|e| anyhow!("a control-plane operation failed: {e}"))?;
    match reply {
        Ok(reply) => Ok(reply.body.unwrap_or(Value::Null)),
        Err(e) => Err(anyhow!(
            "{method} {path}: {} ({})",
            e.message,
            e.code.name()
        )),
    }
}

fn items(v: &Value) -> impl Iterator<Item = &Value> {
    v["item"]
        .as_array()
        .or_else(|| v["items"].as_array())
        .into_iter()
        .flatten()
}

/// `requests` installed for the Lambda proxy, once, under the data dir.
fn python_packages(data_dir: &Path, python: &str) -> Option<PathBuf> {
    let target = data_dir.join("example").join("python");
    if target.join("requests").is_dir() {
        return Some(target);
    }
    let status = std::process::Command::new(python)
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-compile",
            "--target",
        ])
        .arg(&target)
        .arg("requests")
        .status();
    match status {
        Ok(s) if s.success() && target.join("requests").is_dir() => Some(target),
        _ => {
            tracing::warn!("pip could not install `requests` for the Lambda proxy: the example uses an HTTP_PROXY integration instead");
            None
        }
    }
}

/// The proxy's zip: the guide's file and the installed packages.
fn proxy_zip(packages: &Path) -> anyhow::Result<Vec<u8>> {
    use std::io::Write;
    let mut buffer = std::io::Cursor::new(Vec::new());
    let mut zip = zip::ZipWriter::new(&mut buffer);
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    zip.start_file("api_gateway_proxy.py", options)?;
    zip.write_all(PROXY_SOURCE.as_bytes())?;
    let mut stack = vec![packages.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            let path = entry.path();
            let file_type = entry.file_type()?;
            if file_type.is_dir() {
                stack.push(path);
            } else if file_type.is_file() {
                let name = path
                    .strip_prefix(packages)?
                    .to_string_lossy()
                    .replace('\\', "/");
                zip.start_file(name, options)?;
                zip.write_all(&std::fs::read(&path)?)?;
            }
        }
    }
    zip.finish()?;
    Ok(buffer.into_inner())
}

/// The function, created or brought up to date, and Active; false when the
/// HTTP_PROXY fallback must be used.
async fn lambda_proxy(
    app: &App,
    data_dir: &Path,
    python: &str,
    upstream: &Upstream,
) -> anyhow::Result<bool> {
    let data_dir_owned = data_dir.to_path_buf();
    let python_owned = python.to_string();
    let packages =
        tokio::task::spawn_blocking(move || python_packages(&data_dir_owned, &python_owned))
            .await?;
    let Some(packages) = packages else {
        return Ok(false);
    };
    // The guide's create-role (stored, as IAM is here).
    let control = app.control.clone();
    let role_arn = tokio::task::spawn_blocking(move || -> anyhow::Result<String> {
        let trust = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
        .to_string();
        let params = vec![
            ("Action".to_string(), "CreateRole".to_string()),
            ("RoleName".to_string(), ROLE.to_string()),
            ("AssumeRolePolicyDocument".to_string(), trust),
        ];
        let request = tollgate_control::query::QueryRequest {
            service: "iam",
            params: &params,
        };
        // An existing role is fine.
        let _ = control.handle_query(&request, "example");
        Ok(format!(
            "arn:aws:iam::{}:role/{ROLE}",
            control.config().account_id
        ))
    })
    .await??;
    let environment =
        json!({"Variables": {"MODAL_API_URL": upstream.url, "MODAL_API_KEY": upstream.key}});
    if app.control.function(FUNCTION).is_some() {
        call(
            app,
            "PUT",
            &format!("/2015-03-31/functions/{FUNCTION}/configuration"),
            json!({ "Environment": environment }),
        )
        .await?;
    } else {
        let zip = tokio::task::spawn_blocking(move || proxy_zip(&packages)).await??;
        call(
            app,
            "POST",
            "/2015-03-31/functions",
            json!({
                "FunctionName": FUNCTION,
                "Runtime": "python3.11",
                "Handler": "api_gateway_proxy.lambda_handler",
                "MemorySize": 512,
                "Timeout": 30,
                "Role": role_arn,
                "Code": {"ZipFile": base64::engine::general_purpose::STANDARD.encode(zip)},
                "Environment": environment,
            }),
        )
        .await?;
    }
    // As `aws lambda wait function-active-v2`.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let state = app
            .control
            .function(FUNCTION)
            .map(|f| {
                (
                    f.configuration.state.clone(),
                    f.configuration.last_update_status.clone(),
                )
            })
            .unwrap_or_default();
        match (state.0.as_str(), state.1.as_str()) {
            ("Active", "Successful") => return Ok(true),
            ("Failed", _) => {
                tracing::warn!("the Lambda proxy could not be deployed: the example uses an HTTP_PROXY integration instead");
                return Ok(false);
            }
            _ if Instant::now() > deadline => bail!("the Lambda proxy did not become Active"),
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// Provisions the example (or finds it) and returns what to tell the user.
pub async fn provision_multitalk(
    app: Arc<App>,
    endpoint: &str,
    data_dir: &Path,
    python: &str,
    upstream: &Upstream,
) -> anyhow::Result<Provisioned> {
    let app = &*app;
    let lambda = lambda_proxy(app, data_dir, python, upstream).await?;

    // 1. The REST API.
    let apis = call(app, "GET", "/restapis?limit=500", Value::Null).await?;
    let api_id = match items(&apis).find(|a| a["name"] == API_NAME) {
        Some(api) => api["id"].as_str().unwrap_or_default().to_string(),
        None => call(
            app,
            "POST",
            "/restapis",
            json!({"name": API_NAME, "description": "API Gateway for MeiGen-MultiTalk video generation",
                   "endpointConfiguration": {"types": ["REGIONAL"]}}),
        )
        .await?["id"]
            .as_str()
            .context("CreateRestApi answered no id")?
            .to_string(),
    };

    // 3. /api and /api/{proxy+}.
    let resource = |resources: &Value, path: &str| {
        items(resources)
            .find(|r| r["path"] == path)
            .and_then(|r| r["id"].as_str())
            .map(str::to_string)
    };
    let resources = call(
        app,
        "GET",
        &format!("/restapis/{api_id}/resources?limit=500"),
        Value::Null,
    )
    .await?;
    let root = resource(&resources, "/").context("the API has no root resource")?;
    let api_resource = match resource(&resources, "/api") {
        Some(id) => id,
        None => call(
            app,
            "POST",
            &format!("/restapis/{api_id}/resources/{root}"),
            json!({"pathPart": "api"}),
        )
        .await?["id"]
            .as_str()
            .context("CreateResource answered no id")?
            .to_string(),
    };
    let proxy = match resource(&resources, "/api/{proxy+}") {
        Some(id) => id,
        None => call(
            app,
            "POST",
            &format!("/restapis/{api_id}/resources/{api_resource}"),
            json!({"pathPart": "{proxy+}"}),
        )
        .await?["id"]
            .as_str()
            .context("CreateResource answered no id")?
            .to_string(),
    };

    // 4, 5. ANY with an API key, to the Lambda proxy (or the fallback).
    let method_path = format!("/restapis/{api_id}/resources/{proxy}/methods/ANY");
    if call(app, "GET", &method_path, Value::Null).await.is_err() {
        call(
            app,
            "PUT",
            &method_path,
            json!({"authorizationType": "NONE", "apiKeyRequired": true}),
        )
        .await?;
    }
    let integration = if lambda {
        json!({"type": "AWS_PROXY", "httpMethod": "POST",
               "uri": format!("arn:aws:apigateway:REGION:lambda:path/2015-03-31/functions/arn:aws:lambda:REGION:ACCOUNT:function:{FUNCTION}/invocations")})
    } else {
        json!({"type": "HTTP_PROXY", "httpMethod": "ANY",
               "uri": format!("{}/api/{{proxy}}", upstream.url.trim_end_matches('/')),
               "requestParameters": {
                   "integration.request.path.proxy": "method.request.path.proxy",
                   "integration.request.header.Authorization": format!("'Bearer {}'", upstream.key)}})
    };
    call(
        app,
        "PUT",
        &format!("{method_path}/integration"),
        integration,
    )
    .await?;

    // 6. The deployment (every start: the integration may have changed).
    call(
        app,
        "POST",
        &format!("/restapis/{api_id}/deployments"),
        json!({"stageName": "prod", "stageDescription": "Production stage"}),
    )
    .await?;

    // 7. The usage plan, the key and their link.
    let plans = call(app, "GET", "/usageplans?limit=500", Value::Null).await?;
    let plan_id = match items(&plans).find(|p| p["name"] == PLAN) {
        Some(p) => p["id"].as_str().unwrap_or_default().to_string(),
        None => call(
            app,
            "POST",
            "/usageplans",
            json!({"name": PLAN, "description": "Basic usage plan for Multitalk API",
                   "throttle": {"burstLimit": 100, "rateLimit": 50},
                   "quota": {"limit": 10000, "period": "DAY"},
                   "apiStages": [{"apiId": api_id, "stage": "prod"}]}),
        )
        .await?["id"]
            .as_str()
            .context("CreateUsagePlan answered no id")?
            .to_string(),
    };
    let keys = call(
        app,
        "GET",
        &format!("/apikeys?name={KEY}&includeValues=true&limit=500"),
        Value::Null,
    )
    .await?;
    let (key_id, key_value) = match items(&keys).find(|k| k["name"] == KEY) {
        Some(k) => (
            k["id"].as_str().unwrap_or_default().to_string(),
            k["value"].as_str().unwrap_or_default().to_string(),
        ),
        None => {
            let created = call(
                app,
                "POST",
                "/apikeys",
                json!({"name": KEY, "description": "API key for Multitalk clients", "enabled": true}),
            )
            .await?;
            (
                created["id"].as_str().unwrap_or_default().to_string(),
                created["value"].as_str().unwrap_or_default().to_string(),
            )
        }
    };
    let linked = call(
        app,
        "GET",
        &format!("/usageplans/{plan_id}/keys?limit=500"),
        Value::Null,
    )
    .await?;
    if !items(&linked).any(|k| k["id"] == key_id.as_str()) {
        call(
            app,
            "POST",
            &format!("/usageplans/{plan_id}/keys"),
            json!({"keyId": key_id, "keyType": "API_KEY"}),
        )
        .await?;
    }

    // Logging, tracing and the alarm.
    let now = tollgate_observe::logs::writer::now_ms();
    let config = app.control.config().clone();
    let cx = tollgate_observe::logs::api::LogsContext {
        store: &app.observe.logs,
        region: &config.region,
        account_id: &config.account_id,
        now_ms: now,
    };
    if app.observe.logs.group(LOG_GROUP).is_err() {
        if let Some(Err(e)) = tollgate_observe::logs::api::handle(
            &cx,
            "CreateLogGroup",
            &json!({ "logGroupName": LOG_GROUP }),
        ) {
            bail!("CreateLogGroup: {}", e.message);
        }
    }
    call(
        app,
        "PATCH",
        &format!("/restapis/{api_id}/stages/prod"),
        json!({"patchOperations": [
            {"op": "replace", "path": "/accessLogSettings/destinationArn",
             "value": format!("arn:aws:logs:REGION:ACCOUNT:log-group:{LOG_GROUP}")},
            {"op": "replace", "path": "/accessLogSettings/format", "value": "$context.requestId"},
            {"op": "replace", "path": "/tracingEnabled", "value": "true"},
            // Beyond the guide: a retried submission never starts a second GPU job.
            {"op": "replace", "path": "/variables/tollgateIdempotency", "value": "true"}]}),
    )
    .await?;
    let alarm = json!({
        "AlarmName": "multitalk-api-errors", "AlarmDescription": "Alert on high API error rate",
        "MetricName": "4XXError", "Namespace": "AWS/ApiGateway", "Statistic": "Sum", "Period": 300,
        "Threshold": 10, "ComparisonOperator": "GreaterThanThreshold", "EvaluationPeriods": 1,
    });
    if let Some(Err(e)) = app.observe.alarms.handle("PutMetricAlarm", &alarm, now) {
        bail!("PutMetricAlarm: {}", e.message);
    }
    Ok(Provisioned {
        invoke_url: format!(
            "{}/_aws/execute-api/{api_id}/prod",
            endpoint.trim_end_matches('/')
        ),
        api_key: key_value,
        api_id,
        lambda,
    })
}

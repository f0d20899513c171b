//! TestInvokeMethod (the console's Test button): runs one method of the API as
//! it is now, without authorization, and reports status, body, headers,
//! latency and an execution log, as AWS does (`spec/aws-apigw.md` §1.3, §1.4).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Request};
use http_body_util::BodyExt;
use serde::Deserialize;
use serde_json::{json, Value};
use tollgate_http1::RequestBody;
use tollgate_model::deployment::{Deployment, DeploymentDoc};
use tollgate_model::state::RestApiDoc;

use crate::compile::compile;
use crate::invoke::InvokeTarget;
use crate::pipeline::StageSource;
use crate::Gateway;

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TestInvokeInput {
    pub path_with_query_string: Option<String>,
    pub body: Option<String>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default)]
    pub multi_value_headers: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    pub stage_variables: BTreeMap<String, String>,
}

/// Why a test invocation could not start.
#[derive(Debug, PartialEq, Eq)]
pub enum TestInvokeError {
    UnknownResource,
    UnknownMethod,
    /// `pathWithQueryString` is not a path.
    InvalidPath,
}

fn log_time(epoch_ms: u128) -> String {
    // `EEE MMM dd HH:mm:ss UTC yyyy`, as AWS's execution log prints it.
    const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let secs = (epoch_ms / 1000) as i64;
    let d = tollgate_model::time::Date::from_epoch_seconds(secs);
    let t = secs.rem_euclid(86_400);
    format!(
        "{} {} {:02} {:02}:{:02}:{:02} UTC {}",
        DAYS[d.weekday() as usize % 7],
        MONTHS[(d.month as usize).saturating_sub(1) % 12],
        d.day,
        t / 3600,
        t % 3600 / 60,
        t % 60,
        d.year
    )
}

/// Runs `http_method` on `resource_id` of `doc` with `input`, through the
/// same phases as a deployed request (without authorization and usage
/// plans, as AWS's Test button runs it).
pub async fn test_invoke(
    gateway: &Gateway,
    doc: &RestApiDoc,
    resource_id: &str,
    http_method: &str,
    input: TestInvokeInput,
    request_id: String,
) -> Result<Value, TestInvokeError> {
    let resource = doc
        .definition
        .resources
        .get(resource_id)
        .ok_or(TestInvokeError::UnknownResource)?;
    if !resource.resource_methods.contains_key(http_method) {
        return Err(TestInvokeError::UnknownMethod);
    }
    let deployment = DeploymentDoc {
        deployment: Deployment {
            id: "test-invoke".into(),
            description: None,
            created_date: 0,
            api_summary: BTreeMap::new(),
        },
        api: doc.api.clone(),
        definition: doc.definition.clone(),
    };
    let mut stage_doc = crate::compile::test_invoke_stage();
    stage_doc.variables = input.stage_variables.clone();
    // TestInvokeMethod is not throttled: its buckets are thrown away.
    let stage = Arc::new(compile(&deployment, &stage_doc, &Default::default(), 0));
    let path_with_query = input
        .path_with_query_string
        .clone()
        .unwrap_or_else(|| resource.path.clone());
    let uri: http::Uri = path_with_query
        .parse()
        .map_err(|_| TestInvokeError::InvalidPath)?;
    let path = uri.path().to_string();
    let query = uri.query().unwrap_or_default().to_string();
    let mut request = Request::new(RequestBody::Buffered(Some(Bytes::from(
        input.body.unwrap_or_default(),
    ))));
    *request.method_mut() = http::Method::from_bytes(http_method.as_bytes())
        .map_err(|_| TestInvokeError::UnknownMethod)?;
    *request.uri_mut() = uri;
    let headers = request.headers_mut();
    for (k, v) in &input.headers {
        if let (Ok(n), Ok(v)) = (HeaderName::try_from(k.as_str()), HeaderValue::from_str(v)) {
            headers.insert(n, v);
        }
    }
    for (k, values) in &input.multi_value_headers {
        for v in values {
            if let (Ok(n), Ok(v)) = (HeaderName::try_from(k.as_str()), HeaderValue::from_str(v)) {
                headers.append(n, v);
            }
        }
    }
    let target = InvokeTarget {
        api_id: doc.api.id.clone(),
        stage: stage.stage_name.clone(),
        path: crate::path::remove_dot_segments(&path).into_owned(),
        domain_name: "testinvoke.execute-api".into(),
        port: 443,
    };
    let peer: SocketAddr = ([127, 0, 0, 1], 0).into();
    let started = Instant::now();
    let (tap, tapped) = tokio::sync::oneshot::channel();
    let response = crate::pipeline::run(
        gateway,
        target,
        request,
        peer,
        request_id.clone(),
        StageSource::TestInvoke(stage),
        Some(tap),
    )
    .await;
    let (parts, body) = response.into_parts();
    let body = body
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    let latency = started.elapsed().as_millis() as u64;
    let outcome = tapped.await.unwrap_or_default();
    let at = log_time(outcome.request_time_epoch_ms);
    let mut log = vec![
        format!("Execution log for request {request_id}"),
        format!("{at} : Starting execution for request: {request_id}"),
        format!("{at} : HTTP Method: {http_method}, Resource Path: {path}"),
        format!("{at} : Method request path: {path}"),
        format!("{at} : Method request query string: {query}"),
    ];
    if let Some(integration) = outcome.integration_latency {
        log.push(format!(
            "{at} : Received response. Integration latency: {} ms",
            integration.as_millis()
        ));
    }
    if let Some(error_type) = outcome.error_type {
        let cause = outcome.cause.as_deref().unwrap_or(error_type);
        log.push(format!("{at} : Execution failed: {error_type}: {cause}"));
    }
    log.push(format!(
        "{at} : Method completed with status: {}",
        parts.status.as_u16()
    ));
    let mut single = serde_json::Map::new();
    let mut multi: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, value) in &parts.headers {
        let v = value.to_str().unwrap_or_default().to_string();
        single.insert(name.as_str().to_string(), Value::String(v.clone()));
        multi.entry(name.as_str().to_string()).or_default().push(v);
    }
    Ok(json!({
        "status": parts.status.as_u16(),
        "body": String::from_utf8_lossy(&body),
        "headers": single,
        "multiValueHeaders": multi,
        "log": log.join("\n") + "\n",
        "latency": latency,
    }))
}

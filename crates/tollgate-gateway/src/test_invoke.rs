//! TestInvokeMethod (the console's Test button): runs one method of the API as
//! it is now, without authorization, and reports status, body, headers,
//! latency and an execution log, as AWS does (`spec/aws-apigw.md` §1.3, §1.4).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Instant;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue};
use http_body_util::BodyExt;
use serde::Deserialize;
use serde_json::{json, Value};
use tollgate_model::deployment::{Deployment, DeploymentDoc};
use tollgate_model::state::RestApiDoc;

use crate::compile::{compile, CompiledStage};
use crate::context::RequestContext;
use crate::error::GatewayError;
use crate::integration::{self, MethodRequest};
use crate::pipeline::integrate;
use crate::response::gateway_response;
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

/// Runs `http_method` on `resource_id` of `doc` with `input`.
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
    let started = Instant::now();
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
    let stage: CompiledStage = compile(&deployment, &stage_doc, &Default::default(), 0);
    let path_with_query = input
        .path_with_query_string
        .clone()
        .unwrap_or_else(|| resource.path.clone());
    let (path, query) = match path_with_query.split_once('?') {
        Some((p, q)) => (p.to_string(), Some(q.to_string())),
        None => (path_with_query.clone(), None),
    };
    let mut headers = HeaderMap::new();
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
    let peer: SocketAddr = ([127, 0, 0, 1], 0).into();
    let mut cx = RequestContext::new(request_id.clone(), peer, http_method, "HTTP/1.1");
    cx.account_id = gateway.account_id.clone();
    cx.api_id = doc.api.id.clone();
    cx.stage = "test-invoke-stage".into();
    cx.path = path.clone();
    cx.resource_id = resource.id.clone();
    cx.resource_path = resource.path.clone();
    cx.ensure_trace_id();
    let mut log = vec![
        format!("Execution log for request {request_id}"),
        format!(
            "{} : Starting execution for request: {request_id}",
            log_time(cx.request_time_epoch_ms)
        ),
        format!(
            "{} : HTTP Method: {http_method}, Resource Path: {path}",
            log_time(cx.request_time_epoch_ms)
        ),
        format!(
            "{} : Method request path: {path}",
            log_time(cx.request_time_epoch_ms)
        ),
        format!(
            "{} : Method request query string: {}",
            log_time(cx.request_time_epoch_ms),
            query.as_deref().unwrap_or("")
        ),
    ];
    let routed = stage.router.find(&path).and_then(|m| {
        let method = m.method(http_method)?.clone();
        Some((method, m.params))
    });
    let method_request_method =
        http::Method::from_bytes(http_method.as_bytes()).unwrap_or(http::Method::GET);
    let response = match routed {
        None => gateway_response(
            Some(&stage),
            &GatewayError::MissingAuthenticationToken,
            &cx,
            &headers,
        ),
        Some((method, path_params)) => {
            let request = MethodRequest {
                method: method_request_method,
                query: query
                    .as_deref()
                    .map(integration::parse_query)
                    .unwrap_or_default(),
                raw_query: query,
                headers: headers.clone(),
                path_params,
                body: Bytes::from(input.body.unwrap_or_default()),
            };
            match integrate(gateway, &stage, &method, &request, &cx).await {
                Ok(r) => r,
                Err(e) => {
                    log.push(format!(
                        "{} : Execution failed: {}",
                        log_time(cx.request_time_epoch_ms),
                        e.response_type()
                    ));
                    gateway_response(Some(&stage), &e, &cx, &headers)
                }
            }
        }
    };
    let (parts, body) = response.into_parts();
    let body = body
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    let latency = started.elapsed().as_millis() as u64;
    log.push(format!(
        "{} : Method completed with status: {}",
        log_time(cx.request_time_epoch_ms),
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

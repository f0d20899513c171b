//! Functions hosted elsewhere: invoked by POSTing the event to an invoke
//! URL, as an AWS Lambda Runtime Interface Emulator container serves
//! (`http://HOST:PORT/2015-03-31/functions/function/invocations`). A
//! function error comes back as the emulator reports it, with
//! `X-Amz-Function-Error` or an `errorMessage`/`errorType` document.

use std::time::Instant;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;

use crate::host::{new_request_id, Invocation, InvokeError, InvokeRequest, InvokeResult};
use crate::spec::FunctionSpec;

pub async fn invoke(
    url: &str,
    spec: &FunctionSpec,
    request: InvokeRequest,
) -> Result<Invocation, InvokeError> {
    let uri: http::Uri = url
        .parse()
        .map_err(|_| InvokeError::Service(format!("invalid invoke URL {url}")))?;
    if uri.scheme_str() != Some("http") {
        return Err(InvokeError::Service(
            "an external function's invoke URL must be http://".into(),
        ));
    }
    let authority = uri
        .authority()
        .ok_or_else(|| InvokeError::Service(format!("invalid invoke URL {url}")))?
        .clone();
    let timeout = match request.deadline {
        Some(deadline) => spec
            .timeout
            .min(deadline.saturating_duration_since(Instant::now())),
        None => spec.timeout,
    };
    let started = Instant::now();
    let request_id = new_request_id();
    let call = async {
        let port = authority.port_u16().unwrap_or(80);
        let stream = tokio::net::TcpStream::connect((authority.host(), port)).await?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(std::io::Error::other)?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        let mut builder = http::Request::post(uri.path_and_query().map_or("/", |p| p.as_str()))
            .header(http::header::HOST, authority.as_str())
            .header(http::header::CONTENT_TYPE, "application/json");
        if let Some(trace) = &request.trace_id {
            builder = builder.header("x-amzn-trace-id", trace);
        }
        let outgoing = builder
            .body(Full::new(request.payload))
            .map_err(std::io::Error::other)?;
        let response = sender
            .send_request(outgoing)
            .await
            .map_err(std::io::Error::other)?;
        let function_error = response
            .headers()
            .get("x-amz-function-error")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(std::io::Error::other)?
            .to_bytes();
        Ok::<_, std::io::Error>((status, function_error, body))
    };
    let (status, function_error, body) = match tokio::time::timeout(timeout, call).await {
        Err(_) => {
            let message = format!(
                "RequestId: {request_id} Error: Task timed out after {:.2} seconds",
                spec.timeout.as_secs_f64()
            );
            return Ok(Invocation {
                request_id,
                result: InvokeResult::FunctionError {
                    body: Bytes::from(
                        serde_json::json!({"errorType": "Sandbox.Timedout", "errorMessage": message})
                            .to_string(),
                    ),
                    kind: "Unhandled".into(),
                },
                log_tail: String::new(),
                duration: started.elapsed(),
            });
        }
        Ok(Err(e)) => {
            return Err(InvokeError::Service(format!(
                "the external function at {url} failed: {e}"
            )))
        }
        Ok(Ok(answer)) => answer,
    };
    if !status.is_success() {
        return Err(InvokeError::Service(format!(
            "the external function at {url} answered HTTP {status}"
        )));
    }
    let is_error_document = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| {
            v.as_object()
                .map(|o| o.contains_key("errorType") && o.contains_key("errorMessage"))
        })
        .unwrap_or(false);
    let result = match function_error {
        Some(kind) => InvokeResult::FunctionError { body, kind },
        None if is_error_document => InvokeResult::FunctionError {
            body,
            kind: "Unhandled".into(),
        },
        None => InvokeResult::Success(body),
    };
    Ok(Invocation {
        request_id,
        result,
        log_tail: String::new(),
        duration: started.elapsed(),
    })
}

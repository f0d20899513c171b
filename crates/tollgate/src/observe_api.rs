//! The observability services' wire protocols on the control listener:
//! CloudWatch Logs (json 1.1, `X-Amz-Target: Logs_20140328.*`).

use bytes::Bytes;
use http::Response;
use tollgate_aws::error::{aws_json_error, aws_json_ok};
use tollgate_observe::logs::api::{self, LogsContext};

use crate::app::App;

/// A CloudWatch Logs operation. Writes and reads of the log store block,
/// so they run on the blocking pool.
pub async fn logs(app: &App, operation: &str, body: &[u8], request_id: &str) -> Response<Bytes> {
    let input: serde_json::Value = if body.iter().all(u8::is_ascii_whitespace) {
        serde_json::json!({})
    } else {
        match serde_json::from_slice(body) {
            Ok(v) => v,
            Err(e) => {
                return aws_json_error(
                    "1.1",
                    400,
                    "SerializationException",
                    &format!("Invalid request body: {e}"),
                    request_id,
                )
            }
        }
    };
    let observe = app.observe.clone();
    let config = app.control.config().clone();
    let operation_owned = operation.to_string();
    let outcome = tokio::task::spawn_blocking(move || {
        let cx = LogsContext {
            store: &observe.logs,
            region: &config.region,
            account_id: &config.account_id,
            now_ms: tollgate_observe::logs::writer::now_ms(),
        };
        api::handle(&cx, &operation_owned, &input)
    })
    .await;
    match outcome {
        Ok(Some(Ok(reply))) => aws_json_ok("1.1", &reply, request_id),
        Ok(Some(Err(e))) => aws_json_error("1.1", e.status(), e.code, &e.message, request_id),
        Ok(None) => aws_json_error(
            "1.1",
            400,
            "UnknownOperationException",
            &format!("Tollgate does not serve the operation Logs_20140328.{operation}"),
            request_id,
        ),
        Err(join) => {
            tracing::error!(error = %join, "a CloudWatch Logs operation panicked");
            aws_json_error(
                "1.1",
                500,
                "ServiceUnavailableException",
                "The service cannot complete the request.",
                request_id,
            )
        }
    }
}

// ---- CloudWatch (`monitoring`) and SNS ----------------------------------

use tollgate_aws::wire::{cbor, query};
use tollgate_observe::cloudwatch::{CloudWatchError, TIMESTAMP_MEMBERS};

const CLOUDWATCH_NAMESPACE: &str = "http://monitoring.amazonaws.com/doc/2010-08-01/";
const SNS_NAMESPACE: &str = "http://sns.amazonaws.com/doc/2010-03-31/";

/// How a CloudWatch call came, and so how it is answered (the query
/// protocol has its own door, [`query_call`]).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Json,
    Cbor,
}

/// Runs a CloudWatch operation (metrics or alarms) on the blocking pool.
async fn cloudwatch_call(
    app: &App,
    operation: &str,
    input: serde_json::Value,
) -> Result<serde_json::Value, CloudWatchError> {
    let observe = app.observe.clone();
    let operation_owned = operation.to_string();
    let outcome = tokio::task::spawn_blocking(move || {
        let now = tollgate_observe::logs::writer::now_ms();
        tollgate_observe::cloudwatch::handle(&observe.metrics, &operation_owned, &input, now)
            .or_else(|| observe.alarms.handle(&operation_owned, &input, now))
    })
    .await;
    match outcome {
        Ok(Some(result)) => result,
        Ok(None) => Err(CloudWatchError {
            code: "InvalidAction",
            exception: "InvalidAction",
            status: 400,
            message: format!("Tollgate does not serve the CloudWatch operation {operation}"),
        }),
        Err(join) => {
            tracing::error!(error = %join, "a CloudWatch operation panicked");
            Err(internal_error())
        }
    }
}

fn internal_error() -> CloudWatchError {
    CloudWatchError {
        code: "InternalServiceError",
        exception: "InternalServiceFault",
        status: 500,
        message: "Internal service error".into(),
    }
}

/// CloudWatch in json 1.0 (`X-Amz-Target: GraniteServiceVersion20100801.*`)
/// or smithy rpc-v2-cbor (`/service/GraniteServiceVersion20100801/operation/*`).
pub async fn cloudwatch(
    app: &App,
    protocol: Protocol,
    operation: &str,
    body: &[u8],
    request_id: &str,
) -> Response<Bytes> {
    let input = match protocol {
        Protocol::Cbor => cbor::decode(body).map_err(|e| e.to_string()),
        _ if body.iter().all(u8::is_ascii_whitespace) => Ok(serde_json::json!({})),
        _ => serde_json::from_slice(body).map_err(|e| e.to_string()),
    };
    let result = match input {
        Ok(input) => cloudwatch_call(app, operation, input).await,
        Err(e) => Err(CloudWatchError {
            code: "SerializationException",
            exception: "SerializationException",
            status: 400,
            message: format!("Invalid request body: {e}"),
        }),
    };
    match protocol {
        Protocol::Cbor => cbor_response(result, request_id),
        _ => json10_response(result, request_id),
    }
}

fn json10_response(
    result: Result<serde_json::Value, CloudWatchError>,
    request_id: &str,
) -> Response<Bytes> {
    match result {
        Ok(reply) => aws_json_ok("1.0", &reply, request_id),
        Err(e) => {
            let mut response = aws_json_error("1.0", e.status, e.exception, &e.message, request_id);
            if let Ok(v) =
                http::HeaderValue::from_str(&cbor::query_error_header_value(e.code, e.status < 500))
            {
                response.headers_mut().insert(cbor::QUERY_ERROR_HEADER, v);
            }
            response
        }
    }
}

fn cbor_response(
    result: Result<serde_json::Value, CloudWatchError>,
    request_id: &str,
) -> Response<Bytes> {
    let (status, body, query_error) = match result {
        Ok(reply) => (200, cbor::encode(&reply, TIMESTAMP_MEMBERS), None),
        Err(e) => (
            e.status,
            cbor::error_body(e.exception, &e.message),
            Some(cbor::query_error_header_value(e.code, e.status < 500)),
        ),
    };
    let mut response = Response::new(Bytes::from(body));
    *response.status_mut() =
        http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static(cbor::CONTENT_TYPE),
    );
    headers.insert(
        cbor::PROTOCOL_HEADER,
        http::HeaderValue::from_static(cbor::PROTOCOL),
    );
    if let Ok(v) = http::HeaderValue::from_str(request_id) {
        headers.insert("x-amzn-requestid", v);
    }
    if let Some(q) = query_error.and_then(|q| http::HeaderValue::from_str(&q).ok()) {
        headers.insert(cbor::QUERY_ERROR_HEADER, q);
    }
    response
}

fn xml_response(status: u16, document: String, request_id: &str) -> Response<Bytes> {
    let mut response = Response::new(Bytes::from(document));
    *response.status_mut() =
        http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/xml"),
    );
    if let Ok(v) = http::HeaderValue::from_str(request_id) {
        response.headers_mut().insert("x-amzn-requestid", v);
    }
    response
}

/// A query-protocol call to CloudWatch (`monitoring`) or SNS (`sns`).
pub async fn query_call(
    app: &App,
    service: &str,
    params: &[(String, String)],
    request_id: &str,
) -> Response<Bytes> {
    let action = params
        .iter()
        .find(|(k, _)| k == "Action")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let namespace = if service == "sns" {
        SNS_NAMESPACE
    } else {
        CLOUDWATCH_NAMESPACE
    };
    let input = match query::form_to_json(params) {
        Ok(input) => input,
        Err(e) => {
            return xml_response(
                400,
                query::error_document(
                    namespace,
                    "MalformedQueryString",
                    &e.to_string(),
                    request_id,
                ),
                request_id,
            )
        }
    };
    let result = if service == "sns" {
        sns_call(app, &action, input).await
    } else {
        cloudwatch_call(app, &action, input).await
    };
    match result {
        Ok(reply) => {
            // Operations without an output shape answer with no Result element.
            let no_output = matches!(
                action.as_str(),
                "PutMetricData"
                    | "PutMetricAlarm"
                    | "DeleteAlarms"
                    | "SetAlarmState"
                    | "EnableAlarmActions"
                    | "DisableAlarmActions"
                    | "DeleteTopic"
                    | "Unsubscribe"
            );
            let maps: &[&str] = if service == "sns" {
                &["Attributes"]
            } else {
                &[]
            };
            let xml = (!no_output).then(|| query::json_to_xml(&reply, TIMESTAMP_MEMBERS, maps));
            xml_response(
                200,
                query::response_document(namespace, &action, xml.as_deref(), request_id),
                request_id,
            )
        }
        Err(e) => xml_response(
            e.status,
            query::error_document(namespace, e.code, &e.message, request_id),
            request_id,
        ),
    }
}

async fn sns_call(
    app: &App,
    action: &str,
    input: serde_json::Value,
) -> Result<serde_json::Value, CloudWatchError> {
    let observe = app.observe.clone();
    let action_owned = action.to_string();
    let outcome =
        tokio::task::spawn_blocking(move || observe.sns.handle(&action_owned, &input)).await;
    match outcome {
        Ok(Some(result)) => result,
        Ok(None) => Err(CloudWatchError {
            code: "InvalidAction",
            exception: "InvalidAction",
            status: 400,
            message: format!("Tollgate does not serve the SNS action {action}"),
        }),
        Err(_) => Err(internal_error()),
    }
}

/// `GET /?Action=ConfirmSubscription&TopicArn=…&Token=…`: the link an SNS
/// subscriber follows, which AWS serves without a signature.
pub async fn confirm_subscription(
    app: &App,
    query_string: &str,
    request_id: &str,
) -> Option<Response<Bytes>> {
    let params = crate::front_door::parse_query(query_string);
    let is_confirm = params
        .iter()
        .any(|(k, v)| k == "Action" && v == "ConfirmSubscription");
    if !is_confirm {
        return None;
    }
    Some(query_call(app, "sns", &params, request_id).await)
}

/// The Prometheus text exposition of every metric (`GET /metrics` on the
/// control listener).
pub fn prometheus_text() -> Response<Bytes> {
    let text = match crate::prometheus::handle() {
        Some(handle) => {
            handle.run_upkeep();
            handle.render()
        }
        None => "# the Prometheus recorder could not be installed (another recorder owns this process)\n".into(),
    };
    let mut response = Response::new(Bytes::from(text));
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}

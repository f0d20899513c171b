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

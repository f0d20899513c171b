//! The AWS JSON protocols' operations (`X-Amz-Target: {service}.{Operation}`):
//! Secrets Manager here; CloudWatch Logs and CloudWatch come with the
//! observability work.

use serde_json::Value;
use tollgate_model::{ApiError, Change, State};

use crate::sealing::SealingKey;
use crate::ControlConfig;

/// One JSON-protocol operation in progress.
pub struct JsonOp<'a> {
    pub state: &'a State,
    pub input: Value,
    pub config: &'a ControlConfig,
    pub now: i64,
    pub sealing: &'a SealingKey,
    pub changes: Vec<Change>,
}

pub type JsonHandler = fn(&mut JsonOp<'_>) -> Result<Value, ApiError>;

/// The operation an `X-Amz-Target` names, with its protocol version.
pub fn handler(target: &str) -> Option<(&'static str, JsonHandler)> {
    use crate::ops::secrets;
    let (service, operation) = target.split_once('.')?;
    let handler: JsonHandler = match (service, operation) {
        ("secretsmanager", "CreateSecret") => secrets::create,
        ("secretsmanager", "GetSecretValue") => secrets::get_value,
        ("secretsmanager", "PutSecretValue") => secrets::put_value,
        ("secretsmanager", "UpdateSecret") => secrets::update,
        ("secretsmanager", "DescribeSecret") => secrets::describe,
        ("secretsmanager", "ListSecrets") => secrets::list,
        ("secretsmanager", "DeleteSecret") => secrets::delete,
        ("secretsmanager", "RestoreSecret") => secrets::restore,
        _ => return None,
    };
    Some(("1.1", handler))
}

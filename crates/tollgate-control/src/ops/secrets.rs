//! Secrets Manager (json 1.1, `X-Amz-Target: secretsmanager.*`):
//! CreateSecret, GetSecretValue, PutSecretValue, UpdateSecret,
//! DescribeSecret, ListSecrets, DeleteSecret (with the recovery window) and
//! RestoreSecret. Versions carry the AWSCURRENT / AWSPREVIOUS stages;
//! values are sealed before they are stored and never logged.

use std::sync::Arc;

use base64::Engine;
use serde::Deserialize;
use serde_json::{json, Value};
use tollgate_model::secrets::{Secret, SecretVersion};
use tollgate_model::{ApiError, Change, ErrorCode};

use crate::json_ops::JsonOp;

const CURRENT: &str = "AWSCURRENT";
const PREVIOUS: &str = "AWSPREVIOUS";
/// Secrets Manager's limit on a value.
const MAX_VALUE: usize = 65_536;

fn error(name: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::Other { name, status: 400 }, message)
}

fn not_found() -> ApiError {
    error(
        "ResourceNotFoundException",
        "Secrets Manager can't find the specified secret.",
    )
}

fn marked_for_deletion() -> ApiError {
    error(
        "InvalidRequestException",
        "You can't perform this operation on the secret because it was marked for deletion.",
    )
}

fn input<T: for<'de> Deserialize<'de>>(op: &JsonOp<'_>) -> Result<T, ApiError> {
    serde_json::from_value(op.input.clone()).map_err(|e| {
        ApiError::new(
            ErrorCode::Other {
                name: "InvalidParameterException",
                status: 400,
            },
            format!("Invalid input: {e}"),
        )
    })
}

/// The secret a `SecretId` names (a name or an ARN), deleted or not; one
/// past its deletion date counts as gone.
fn find<'s>(op: &'s JsonOp<'_>, id: &str) -> Option<&'s Arc<Secret>> {
    let secret = op
        .state
        .secrets
        .get(id)
        .or_else(|| op.state.secrets.values().find(|s| s.arn == id))?;
    match secret.deleted_date {
        Some(at) if at <= op.now as f64 => None,
        _ => Some(secret),
    }
}

fn live<'s>(op: &'s JsonOp<'_>, id: &str) -> Result<&'s Arc<Secret>, ApiError> {
    let secret = find(op, id).ok_or_else(not_found)?;
    if secret.deleted_date.is_some() {
        return Err(marked_for_deletion());
    }
    Ok(secret)
}

fn version_id(token: Option<String>) -> Result<String, ApiError> {
    match token {
        Some(t) if (32..=64).contains(&t.len()) => Ok(t),
        Some(_) => Err(error(
            "InvalidParameterException",
            "ClientRequestToken must be 32 to 64 characters",
        )),
        None => {
            let b: [u8; 16] = rand::random();
            let h = hex::encode(b);
            Ok(format!(
                "{}-{}-{}-{}-{}",
                &h[..8],
                &h[8..12],
                &h[12..16],
                &h[16..20],
                &h[20..]
            ))
        }
    }
}

/// The value a call gives, as bytes and whether it is binary.
fn value_of(
    string: Option<String>,
    binary: Option<String>,
) -> Result<Option<(Vec<u8>, bool)>, ApiError> {
    let value = match (string, binary) {
        (Some(_), Some(_)) => {
            return Err(error(
                "InvalidParameterException",
                "You can't specify both a binary secret value and a string secret value in the same secret.",
            ))
        }
        (Some(s), None) => Some((s.into_bytes(), false)),
        (None, Some(b)) => Some((
            base64::engine::general_purpose::STANDARD
                .decode(b)
                .map_err(|_| error("InvalidParameterException", "SecretBinary is not base64"))?,
            true,
        )),
        (None, None) => None,
    };
    if value.as_ref().is_some_and(|(v, _)| v.len() > MAX_VALUE) {
        return Err(error(
            "InvalidParameterException",
            "The secret value exceeds the 65536 byte limit.",
        ));
    }
    Ok(value)
}

/// Adds a version as AWSCURRENT; the former current one becomes AWSPREVIOUS.
fn add_version(
    op: &JsonOp<'_>,
    secret: &mut Secret,
    id: String,
    value: (Vec<u8>, bool),
    stages: Vec<String>,
) {
    let now = op.now as f64;
    let makes_current = stages.iter().any(|s| s == CURRENT);
    if makes_current {
        for v in secret.versions.iter_mut() {
            v.stages.retain(|s| s != PREVIOUS);
        }
        for v in secret.versions.iter_mut() {
            if v.stages.iter().any(|s| s == CURRENT) {
                v.stages.retain(|s| s != CURRENT);
                v.stages.push(PREVIOUS.into());
            }
        }
    }
    for v in secret.versions.iter_mut() {
        v.stages.retain(|s| !stages.contains(s) || s == PREVIOUS);
    }
    let context = format!("{}/{id}", secret.arn);
    secret.versions.push(SecretVersion {
        sealed: op.sealing.seal(&value.0, &context),
        version_id: id,
        stages,
        created_date: now,
        binary: value.1,
    });
    // Versions without a stage are deprecated; AWS keeps at most 100.
    while secret.versions.len() > 100 {
        match secret.versions.iter().position(|v| v.stages.is_empty()) {
            Some(i) => {
                secret.versions.remove(i);
            }
            None => break,
        }
    }
    secret.last_changed_date = now;
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CreateInput {
    name: String,
    client_request_token: Option<String>,
    description: Option<String>,
    kms_key_id: Option<String>,
    secret_string: Option<String>,
    secret_binary: Option<String>,
    #[serde(default)]
    tags: Vec<TagInput>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TagInput {
    key: String,
    value: String,
}

pub fn create(op: &mut JsonOp<'_>) -> Result<Value, ApiError> {
    let input: CreateInput = input(op)?;
    let name = input.name;
    let valid = !name.is_empty()
        && name.len() <= 512
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/_+=.@-".contains(&b));
    if !valid {
        return Err(error(
            "InvalidParameterException",
            "Invalid name. Must be a valid name containing alphanumeric characters, or any of the following: -/_+=.@!",
        ));
    }
    if let Some(existing) = op.state.secrets.get(&name) {
        return Err(match existing.deleted_date {
            Some(_) => error(
                "InvalidRequestException",
                "You can't create this secret because a secret with this name is already scheduled for deletion.",
            ),
            None => error(
                "ResourceExistsException",
                format!("The operation failed because the secret {name} already exists."),
            ),
        });
    }
    let suffix: String = {
        const CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
        let bytes: [u8; 6] = rand::random();
        bytes
            .iter()
            .map(|b| char::from(CHARS[usize::from(b % 62)]))
            .collect()
    };
    let now = op.now as f64;
    let mut secret = Secret {
        arn: format!(
            "arn:aws:secretsmanager:{}:{}:secret:{name}-{suffix}",
            op.config.region, op.config.account_id
        ),
        name: name.clone(),
        description: input.description,
        kms_key_id: input.kms_key_id,
        created_date: now,
        last_changed_date: now,
        deleted_date: None,
        versions: Vec::new(),
        tags: input.tags.into_iter().map(|t| (t.key, t.value)).collect(),
    };
    let mut body = json!({ "ARN": secret.arn, "Name": name });
    if let Some(value) = value_of(input.secret_string, input.secret_binary)? {
        let id = version_id(input.client_request_token)?;
        body["VersionId"] = Value::String(id.clone());
        add_version(op, &mut secret, id, value, vec![CURRENT.into()]);
    }
    op.changes
        .push(Change::Secret(name, Some(Arc::new(secret))));
    Ok(body)
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct GetValueInput {
    secret_id: String,
    version_id: Option<String>,
    version_stage: Option<String>,
}

pub fn get_value(op: &mut JsonOp<'_>) -> Result<Value, ApiError> {
    let input: GetValueInput = input(op)?;
    let secret = live(op, &input.secret_id)?;
    let stage = input.version_stage.unwrap_or_else(|| CURRENT.into());
    let version = match &input.version_id {
        Some(id) => secret.versions.iter().find(|v| v.version_id == *id).ok_or_else(|| {
            error(
                "ResourceNotFoundException",
                format!("Secrets Manager can't find the specified secret value for VersionId: {id}"),
            )
        })?,
        None => secret
            .versions
            .iter()
            .find(|v| v.stages.contains(&stage))
            .ok_or_else(|| {
                error(
                    "ResourceNotFoundException",
                    format!("Secrets Manager can't find the specified secret value for staging label: {stage}"),
                )
            })?,
    };
    let context = format!("{}/{}", secret.arn, version.version_id);
    let value = op.sealing.open(&version.sealed, &context).map_err(|_| {
        tracing::error!(secret = %secret.name, "a secret's value does not open with the configured secrets key");
        ApiError::new(
            ErrorCode::Other {
                name: "DecryptionFailure",
                status: 400,
            },
            "Secrets Manager can't decrypt the protected secret text using the provided KMS key.",
        )
    })?;
    let mut body = json!({
        "ARN": secret.arn,
        "Name": secret.name,
        "VersionId": version.version_id,
        "VersionStages": version.stages,
        "CreatedDate": version.created_date,
    });
    if version.binary {
        body["SecretBinary"] =
            Value::String(base64::engine::general_purpose::STANDARD.encode(&value));
    } else {
        body["SecretString"] = Value::String(String::from_utf8_lossy(&value).into_owned());
    }
    Ok(body)
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PutValueInput {
    secret_id: String,
    client_request_token: Option<String>,
    secret_string: Option<String>,
    secret_binary: Option<String>,
    version_stages: Option<Vec<String>>,
}

pub fn put_value(op: &mut JsonOp<'_>) -> Result<Value, ApiError> {
    let input: PutValueInput = input(op)?;
    let mut secret = live(op, &input.secret_id)?.as_ref().clone();
    let value = value_of(input.secret_string, input.secret_binary)?.ok_or_else(|| {
        error(
            "InvalidRequestException",
            "You must provide either SecretString or SecretBinary.",
        )
    })?;
    let id = version_id(input.client_request_token)?;
    if secret.versions.iter().any(|v| v.version_id == id) {
        return Err(error(
            "ResourceExistsException",
            format!("A resource with the ID you requested already exists: version {id}"),
        ));
    }
    let stages = input.version_stages.unwrap_or_else(|| vec![CURRENT.into()]);
    add_version(op, &mut secret, id.clone(), value, stages.clone());
    let body =
        json!({ "ARN": secret.arn, "Name": secret.name, "VersionId": id, "VersionStages": stages });
    op.changes
        .push(Change::Secret(secret.name.clone(), Some(Arc::new(secret))));
    Ok(body)
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct UpdateInput {
    secret_id: String,
    client_request_token: Option<String>,
    description: Option<String>,
    kms_key_id: Option<String>,
    secret_string: Option<String>,
    secret_binary: Option<String>,
}

pub fn update(op: &mut JsonOp<'_>) -> Result<Value, ApiError> {
    let input: UpdateInput = input(op)?;
    let mut secret = live(op, &input.secret_id)?.as_ref().clone();
    if let Some(d) = input.description {
        secret.description = Some(d);
    }
    if let Some(k) = input.kms_key_id {
        secret.kms_key_id = Some(k);
    }
    secret.last_changed_date = op.now as f64;
    let mut body = json!({ "ARN": secret.arn, "Name": secret.name });
    if let Some(value) = value_of(input.secret_string, input.secret_binary)? {
        let id = version_id(input.client_request_token)?;
        body["VersionId"] = Value::String(id.clone());
        add_version(op, &mut secret, id, value, vec![CURRENT.into()]);
    }
    op.changes
        .push(Change::Secret(secret.name.clone(), Some(Arc::new(secret))));
    Ok(body)
}

fn describe_body(secret: &Secret) -> Value {
    let mut body = json!({
        "ARN": secret.arn,
        "Name": secret.name,
        "CreatedDate": secret.created_date,
        "LastChangedDate": secret.last_changed_date,
        "VersionIdsToStages": secret.versions.iter()
            .filter(|v| !v.stages.is_empty())
            .map(|v| (v.version_id.clone(), json!(v.stages)))
            .collect::<serde_json::Map<_, _>>(),
        "Tags": secret.tags.iter().map(|(k, v)| json!({"Key": k, "Value": v})).collect::<Vec<_>>(),
    });
    if let Some(d) = &secret.description {
        body["Description"] = Value::String(d.clone());
    }
    if let Some(k) = &secret.kms_key_id {
        body["KmsKeyId"] = Value::String(k.clone());
    }
    if let Some(at) = secret.deleted_date {
        body["DeletedDate"] = json!(at);
    }
    body
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SecretIdInput {
    secret_id: String,
}

pub fn describe(op: &mut JsonOp<'_>) -> Result<Value, ApiError> {
    let input: SecretIdInput = input(op)?;
    let secret = find(op, &input.secret_id).ok_or_else(not_found)?;
    Ok(describe_body(secret))
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct ListInput {
    max_results: Option<usize>,
    next_token: Option<String>,
    #[serde(default)]
    include_planned_deletion: bool,
}

pub fn list(op: &mut JsonOp<'_>) -> Result<Value, ApiError> {
    let input: ListInput = input(op)?;
    let max = input.max_results.unwrap_or(100).clamp(1, 100);
    let after = input.next_token.unwrap_or_default();
    let mut secrets = Vec::new();
    let mut next = None;
    for (name, secret) in &op.state.secrets {
        if !after.is_empty() && *name <= after {
            continue;
        }
        let gone = secret.deleted_date.is_some_and(|at| at <= op.now as f64);
        if gone || (secret.deleted_date.is_some() && !input.include_planned_deletion) {
            continue;
        }
        if secrets.len() == max {
            next = secrets
                .last()
                .and_then(|s: &Value| s["Name"].as_str().map(str::to_string));
            break;
        }
        secrets.push(describe_body(secret));
    }
    let mut body = json!({ "SecretList": secrets });
    if let Some(next) = next {
        body["NextToken"] = Value::String(next);
    }
    Ok(body)
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DeleteInput {
    secret_id: String,
    recovery_window_in_days: Option<i64>,
    #[serde(default)]
    force_delete_without_recovery: bool,
}

pub fn delete(op: &mut JsonOp<'_>) -> Result<Value, ApiError> {
    let input: DeleteInput = input(op)?;
    if input.force_delete_without_recovery && input.recovery_window_in_days.is_some() {
        return Err(error(
            "InvalidParameterException",
            "You can't use ForceDeleteWithoutRecovery in conjunction with RecoveryWindowInDays.",
        ));
    }
    let days = input.recovery_window_in_days.unwrap_or(30);
    if !(7..=30).contains(&days) {
        return Err(error(
            "InvalidParameterException",
            "The RecoveryWindowInDays value must be between 7 and 30 days (inclusive).",
        ));
    }
    let mut secret = live(op, &input.secret_id)?.as_ref().clone();
    let now = op.now as f64;
    let deletion = if input.force_delete_without_recovery {
        op.changes.push(Change::Secret(secret.name.clone(), None));
        now
    } else {
        let at = now + (days * 86_400) as f64;
        secret.deleted_date = Some(at);
        op.changes.push(Change::Secret(
            secret.name.clone(),
            Some(Arc::new(secret.clone())),
        ));
        at
    };
    Ok(json!({ "ARN": secret.arn, "Name": secret.name, "DeletionDate": deletion }))
}

pub fn restore(op: &mut JsonOp<'_>) -> Result<Value, ApiError> {
    let input: SecretIdInput = input(op)?;
    let mut secret = find(op, &input.secret_id)
        .ok_or_else(not_found)?
        .as_ref()
        .clone();
    secret.deleted_date = None;
    let body = json!({ "ARN": secret.arn, "Name": secret.name });
    op.changes
        .push(Change::Secret(secret.name.clone(), Some(Arc::new(secret))));
    Ok(body)
}

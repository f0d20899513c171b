//! Lambda's control plane (rest-json, `/2015-03-31/functions…`):
//! CreateFunction, GetFunction, GetFunctionConfiguration, ListFunctions,
//! UpdateFunctionCode, UpdateFunctionConfiguration, DeleteFunction,
//! Put/Get/DeleteFunctionConcurrency, AddPermission, RemovePermission,
//! GetPolicy. Invoke is served beside the data plane, not here.
//!
//! A function is stored `Pending` (or `InProgress` after an update); the
//! Lambda host deploys it and records `Active` or `Failed` with the reason
//! ([`crate::ControlPlane::record_function_state`]), as AWS's own states
//! move, so `aws lambda wait function-active` works.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Deserialize;
use serde_json::{json, Value};
use tollgate_model::lambda::{
    Environment, EphemeralStorage, FunctionConfiguration, FunctionDoc, LoggingConfig,
    TracingConfig, MAX_MEMORY, MAX_TIMEOUT, MIN_MEMORY, MIN_TIMEOUT, RESERVED_VARIABLES,
};
use tollgate_model::{ApiError, Change, ErrorCode};

use super::Op;
use crate::request::Reply;

/// Runtimes CreateFunction takes (AWS's current set for zip functions).
pub const RUNTIMES: &[&str] = &[
    "nodejs18.x",
    "nodejs20.x",
    "nodejs22.x",
    "python3.9",
    "python3.10",
    "python3.11",
    "python3.12",
    "python3.13",
    "java11",
    "java17",
    "java21",
    "dotnet8",
    "ruby3.2",
    "ruby3.3",
    "provided.al2",
    "provided.al2023",
];

/// A tag naming the invoke URL of a function hosted elsewhere (a Runtime
/// Interface Emulator): within AWS's tag character set, inert on AWS.
pub const INVOKE_URL_TAG: &str = "tollgate:invoke-url";

/// The account's concurrency, and what must stay unreserved (AWS's defaults).
const ACCOUNT_CONCURRENCY: u32 = 1000;
const MIN_UNRESERVED: u32 = 100;

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::InvalidParameterValue, message)
}

fn not_found(op: &Op<'_>, name: &str) -> ApiError {
    ApiError::new(
        ErrorCode::ResourceNotFound,
        format!("Function not found: {}", function_arn(op, name)),
    )
}

fn function_arn(op: &Op<'_>, name: &str) -> String {
    format!(
        "arn:aws:lambda:{}:{}:function:{name}",
        op.config.region, op.config.account_id
    )
}

/// The function name a path or member names: a name, a full or partial ARN,
/// with an optional `:$LATEST` qualifier (Tollgate has no published versions).
pub fn function_name(given: &str) -> Result<String, ApiError> {
    let rest = given
        .strip_prefix("arn:aws:lambda:")
        .map(|r| {
            r.split_once(':')
                .map_or("", |(_, after_region)| after_region)
        })
        .unwrap_or(given);
    let rest = rest.split_once(":function:").map_or(rest, |(_, name)| name);
    let rest = rest.strip_prefix("function:").unwrap_or(rest);
    let (name, qualifier) = match rest.split_once(':') {
        Some((name, qualifier)) => (name, Some(qualifier)),
        None => (rest, None),
    };
    if let Some(q) = qualifier {
        if q != "$LATEST" {
            return Err(ApiError::new(
                ErrorCode::ResourceNotFound,
                format!("Function not found: {given} (Tollgate keeps only $LATEST)"),
            ));
        }
    }
    let valid = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !valid {
        return Err(ApiError::new(
            ErrorCode::Validation,
            format!(
                "1 validation error detected: Value '{given}' at 'functionName' failed to satisfy constraint: Member must satisfy regular expression pattern: (arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{{2}}(-gov)?-[a-z]+-\\d{{1}}:)?(\\d{{12}}:)?(function:)?([a-zA-Z0-9-_]+)(:(\\$LATEST|[a-zA-Z0-9-_]+))?"
            ),
        ));
    }
    Ok(name.to_string())
}

fn check_role(role: &str) -> Result<(), ApiError> {
    let valid = role
        .strip_prefix("arn:aws:iam::")
        .and_then(|r| r.split_once(":role/"))
        .is_some_and(|(account, name)| {
            account.len() == 12
                && account.bytes().all(|b| b.is_ascii_digit())
                && !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"+=,.@-_/".contains(&b))
        });
    if valid {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorCode::Validation,
            format!("1 validation error detected: Value '{role}' at 'role' failed to satisfy constraint: Member must satisfy regular expression pattern: arn:(aws[a-zA-Z-]*)?:iam::\\d{{12}}:role/?[a-zA-Z_0-9+=,.@\\-_/]+"),
        ))
    }
}

fn check_settings(
    runtime: &str,
    timeout: u32,
    memory: u32,
    environment: &Option<Environment>,
) -> Result<(), ApiError> {
    if !RUNTIMES.contains(&runtime) {
        return Err(ApiError::enum_value(runtime, "runtime", RUNTIMES));
    }
    if !(MIN_TIMEOUT..=MAX_TIMEOUT).contains(&timeout) {
        return Err(ApiError::new(
            ErrorCode::Validation,
            format!("1 validation error detected: Value '{timeout}' at 'timeout' failed to satisfy constraint: Member must have value {}", if timeout < MIN_TIMEOUT { "greater than or equal to 1" } else { "less than or equal to 900" }),
        ));
    }
    if !(MIN_MEMORY..=MAX_MEMORY).contains(&memory) {
        return Err(ApiError::new(
            ErrorCode::Validation,
            format!("1 validation error detected: Value '{memory}' at 'memorySize' failed to satisfy constraint: Member must have value {}", if memory < MIN_MEMORY { "greater than or equal to 128" } else { "less than or equal to 10240" }),
        ));
    }
    if let Some(env) = environment {
        let reserved: Vec<&str> = env
            .variables
            .keys()
            .map(String::as_str)
            .filter(|k| RESERVED_VARIABLES.contains(k))
            .collect();
        if !reserved.is_empty() {
            return Err(invalid(format!(
                "Lambda was unable to configure your environment variables because the environment variables you have provided contains reserved keys that are currently not supported for modification. Reserved keys used in this request: {}",
                reserved.join(", ")
            )));
        }
        let size: usize = env.variables.iter().map(|(k, v)| k.len() + v.len()).sum();
        if size > 4096 {
            return Err(invalid(
                "Lambda was unable to configure your environment variables because the environment variables you have provided exceeded the 4KB limit.",
            ));
        }
    }
    Ok(())
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct CodeInput {
    /// Base64 (blob members travel as base64 in rest-json).
    zip_file: Option<String>,
    s3_bucket: Option<String>,
    image_uri: Option<String>,
}

/// The zip of a `Code`/UpdateFunctionCode input, checked.
fn zip_of(code: &CodeInput) -> Result<Vec<u8>, ApiError> {
    use base64::Engine;
    if code.s3_bucket.is_some() || code.image_uri.is_some() {
        return Err(invalid(
            "Tollgate takes function code as ZipFile only (no S3 or container images)",
        ));
    }
    let text = code
        .zip_file
        .as_deref()
        .ok_or_else(|| invalid("Please provide a source for function code."))?;
    let zip = base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|_| {
            invalid(
                "Could not unzip uploaded file. Please check your file, then try to upload again.",
            )
        })?;
    tollgate_lambda::code::check(&zip).map_err(|e| match e {
        tollgate_lambda::code::CodeError::TooLargeZipped => {
            ApiError::new(ErrorCode::RequestTooLarge, e.to_string())
        }
        other => invalid(other.to_string()),
    })?;
    Ok(zip)
}

fn code_id(zip: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(zip))
}

/// `2026-12-07T15:33:16.123+0000`, as Lambda writes LastModified.
fn last_modified(epoch_seconds: i64) -> String {
    let date = tollgate_model::time::Date::from_epoch_seconds(epoch_seconds);
    let t = epoch_seconds.rem_euclid(86_400);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.000+0000",
        date.year,
        date.month,
        date.day,
        t / 3600,
        t % 3600 / 60,
        t % 60
    )
}

fn revision_id() -> String {
    let b: [u8; 16] = rand::random();
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CreateInput {
    function_name: Option<String>,
    runtime: Option<String>,
    role: Option<String>,
    handler: Option<String>,
    #[serde(default)]
    code: CodeInput,
    description: Option<String>,
    timeout: Option<u32>,
    memory_size: Option<u32>,
    environment: Option<Environment>,
    #[serde(default)]
    layers: Vec<String>,
    #[serde(default)]
    tags: BTreeMap<String, String>,
    package_type: Option<String>,
    #[serde(default)]
    architectures: Vec<String>,
}

fn required<'v>(value: &'v Option<String>, member: &str) -> Result<&'v str, ApiError> {
    value.as_deref().filter(|v| !v.is_empty()).ok_or_else(|| {
        ApiError::new(
            ErrorCode::Validation,
            format!("1 validation error detected: Value null at '{member}' failed to satisfy constraint: Member must not be null"),
        )
    })
}

pub fn create(op: &mut Op<'_>) -> Result<Reply, ApiError> {
    let input: CreateInput = op.req.json()?;
    let name = function_name(required(&input.function_name, "functionName")?)?;
    if input.package_type.as_deref().is_some_and(|p| p != "Zip") {
        return Err(invalid(
            "Tollgate runs zip functions only (PackageType Zip)",
        ));
    }
    if !input.layers.is_empty() {
        return Err(invalid(
            "Tollgate does not support Lambda layers: put what the layer holds into the function's zip",
        ));
    }
    if input
        .architectures
        .iter()
        .any(|a| a != "x86_64" && a != "arm64")
    {
        return Err(ApiError::enum_value(
            &input.architectures.join(","),
            "architectures",
            &["x86_64", "arm64"],
        ));
    }
    let runtime = required(&input.runtime, "runtime")?.to_string();
    let role = required(&input.role, "role")?.to_string();
    check_role(&role)?;
    let handler = required(&input.handler, "handler")?.to_string();
    let timeout = input.timeout.unwrap_or(3);
    let memory = input.memory_size.unwrap_or(128);
    check_settings(&runtime, timeout, memory, &input.environment)?;
    let external_url = input.tags.get(INVOKE_URL_TAG).cloned();
    if let Some(url) = &external_url {
        if !url.starts_with("http://") {
            return Err(invalid(format!("{INVOKE_URL_TAG} must be an http:// URL")));
        }
    }
    let zip = match (&input.code.zip_file, &external_url) {
        (None, Some(_)) => Vec::new(),
        _ => zip_of(&input.code)?,
    };
    if op.state.functions.contains_key(&name) {
        return Err(ApiError::new(
            ErrorCode::ResourceConflict,
            format!("Function already exist: {name}"),
        ));
    }
    let digest = tollgate_lambda::code::digest(&zip);
    let id = code_id(&zip);
    let configuration = FunctionConfiguration {
        function_arn: function_arn(op, &name),
        function_name: name.clone(),
        runtime,
        role,
        handler,
        code_size: digest.size,
        description: input.description.unwrap_or_default(),
        timeout,
        memory_size: memory,
        last_modified: last_modified(op.now),
        code_sha256: digest.sha256_base64,
        version: "$LATEST".into(),
        environment: input.environment,
        tracing_config: TracingConfig {
            mode: "PassThrough".into(),
        },
        revision_id: revision_id(),
        state: "Pending".into(),
        state_reason: Some("The function is being created.".into()),
        state_reason_code: Some("Creating".into()),
        last_update_status: "InProgress".into(),
        last_update_status_reason: Some("The function is being created.".into()),
        last_update_status_reason_code: Some("Creating".into()),
        package_type: "Zip".into(),
        architectures: if input.architectures.is_empty() {
            vec!["x86_64".into()]
        } else {
            input.architectures
        },
        ephemeral_storage: EphemeralStorage { size: 512 },
        logging_config: LoggingConfig {
            log_format: "Text".into(),
            log_group: format!("/aws/lambda/{name}"),
        },
    };
    let doc = FunctionDoc {
        configuration: configuration.clone(),
        code_id: id.clone(),
        reserved_concurrency: None,
        policy_statements: Vec::new(),
        tags: input.tags,
        external_url,
    };
    if !op.state.code.contains(&id) {
        op.changes.push(Change::Code(id, Some(Arc::new(zip))));
    }
    op.changes.push(Change::Function(name, Some(Arc::new(doc))));
    Ok(Reply::created(to_value(&configuration)?))
}

fn to_value<T: serde::Serialize>(value: &T) -> Result<Value, ApiError> {
    serde_json::to_value(value).map_err(|_| ApiError::internal())
}

/// The function `{function_name}` names.
fn function<'s>(op: &'s Op<'_>) -> Result<&'s Arc<FunctionDoc>, ApiError> {
    let name = function_name(op.param("function_name"))?;
    op.state
        .functions
        .get(&name)
        .ok_or_else(|| not_found(op, &name))
}

pub fn get(op: &mut Op<'_>) -> Result<Reply, ApiError> {
    let doc = function(op)?;
    let mut body = json!({
        "Configuration": to_value(&doc.configuration)?,
        "Code": {"RepositoryType": "S3"},
    });
    if !doc.tags.is_empty() {
        body["Tags"] = to_value(&doc.tags)?;
    }
    if let Some(n) = doc.reserved_concurrency {
        body["Concurrency"] = json!({ "ReservedConcurrentExecutions": n });
    }
    Ok(Reply::ok(body))
}

pub fn get_configuration(op: &mut Op<'_>) -> Result<Reply, ApiError> {
    Ok(Reply::ok(to_value(&function(op)?.configuration)?))
}

pub fn list(op: &mut Op<'_>) -> Result<Reply, ApiError> {
    let max_items = match op.req.query("MaxItems") {
        Some(v) => v
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=10_000).contains(n))
            .ok_or_else(|| invalid("MaxItems must be between 1 and 10000"))?,
        None => 50,
    };
    let marker = op.req.query("Marker").unwrap_or_default().to_string();
    let mut functions = Vec::new();
    let mut next = None;
    for (name, doc) in op.state.functions.range::<String, _>((
        std::ops::Bound::Excluded(&marker),
        std::ops::Bound::Unbounded,
    )) {
        if marker.is_empty() && name.is_empty() {
            continue;
        }
        if functions.len() == max_items {
            next = functions
                .last()
                .and_then(|f: &Value| f["FunctionName"].as_str().map(str::to_string));
            break;
        }
        functions.push(to_value(&doc.configuration)?);
    }
    let mut body = json!({ "Functions": functions });
    if let Some(next) = next {
        body["NextMarker"] = Value::String(next);
    }
    Ok(Reply::ok(body))
}

/// Stores `doc` changed: a new revision, `InProgress` until the host has it.
fn put_updated(op: &mut Op<'_>, mut doc: FunctionDoc) -> Result<Reply, ApiError> {
    doc.configuration.revision_id = revision_id();
    doc.configuration.last_modified = last_modified(op.now);
    doc.configuration.last_update_status = "InProgress".into();
    doc.configuration.last_update_status_reason = Some("The function is being updated.".into());
    doc.configuration.last_update_status_reason_code = Some("Updating".into());
    let body = to_value(&doc.configuration)?;
    let name = doc.configuration.function_name.clone();
    op.changes.push(Change::Function(name, Some(Arc::new(doc))));
    Ok(Reply::ok(body))
}

/// Removes `old` from the store unless another function still uses it.
fn release_code(op: &mut Op<'_>, old: &str, except: &str) {
    let used = op
        .state
        .functions
        .iter()
        .any(|(name, f)| name != except && f.code_id == old);
    if !used {
        op.changes.push(Change::Code(old.to_string(), None));
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct UpdateCodeInput {
    zip_file: Option<String>,
    s3_bucket: Option<String>,
    image_uri: Option<String>,
    #[serde(default)]
    dry_run: bool,
    revision_id: Option<String>,
}

fn check_revision(doc: &FunctionDoc, given: &Option<String>) -> Result<(), ApiError> {
    match given {
        Some(r) if *r != doc.configuration.revision_id => Err(ApiError::new(
            ErrorCode::ResourceConflict,
            "The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id",
        )),
        _ => Ok(()),
    }
}

pub fn update_code(op: &mut Op<'_>) -> Result<Reply, ApiError> {
    let input: UpdateCodeInput = op.req.json()?;
    let current = function(op)?.clone();
    check_revision(&current, &input.revision_id)?;
    let zip = zip_of(&CodeInput {
        zip_file: input.zip_file,
        s3_bucket: input.s3_bucket,
        image_uri: input.image_uri,
    })?;
    let mut doc = current.as_ref().clone();
    let digest = tollgate_lambda::code::digest(&zip);
    let id = code_id(&zip);
    doc.configuration.code_sha256 = digest.sha256_base64;
    doc.configuration.code_size = digest.size;
    if input.dry_run {
        return Ok(Reply::ok(to_value(&doc.configuration)?));
    }
    if id != current.code_id {
        if !op.state.code.contains(&id) {
            op.changes
                .push(Change::Code(id.clone(), Some(Arc::new(zip))));
        }
        let name = current.configuration.function_name.clone();
        release_code(op, &current.code_id, &name);
    }
    doc.code_id = id;
    put_updated(op, doc)
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct UpdateConfigurationInput {
    role: Option<String>,
    handler: Option<String>,
    description: Option<String>,
    timeout: Option<u32>,
    memory_size: Option<u32>,
    environment: Option<Environment>,
    runtime: Option<String>,
    layers: Option<Vec<String>>,
    revision_id: Option<String>,
}

pub fn update_configuration(op: &mut Op<'_>) -> Result<Reply, ApiError> {
    let input: UpdateConfigurationInput = op.req.json()?;
    let current = function(op)?.clone();
    check_revision(&current, &input.revision_id)?;
    if input.layers.as_ref().is_some_and(|l| !l.is_empty()) {
        return Err(invalid(
            "Tollgate does not support Lambda layers: put what the layer holds into the function's zip",
        ));
    }
    let mut doc = current.as_ref().clone();
    let c = &mut doc.configuration;
    if let Some(role) = input.role {
        check_role(&role)?;
        c.role = role;
    }
    if let Some(h) = input.handler {
        c.handler = h;
    }
    if let Some(d) = input.description {
        c.description = d;
    }
    if let Some(t) = input.timeout {
        c.timeout = t;
    }
    if let Some(m) = input.memory_size {
        c.memory_size = m;
    }
    if let Some(r) = input.runtime {
        c.runtime = r;
    }
    if let Some(env) = input.environment {
        c.environment = Some(env);
    }
    check_settings(&c.runtime, c.timeout, c.memory_size, &c.environment)?;
    put_updated(op, doc)
}

pub fn delete(op: &mut Op<'_>) -> Result<Reply, ApiError> {
    let doc = function(op)?.clone();
    let name = doc.configuration.function_name.clone();
    release_code(op, &doc.code_id, &name);
    op.changes.push(Change::Function(name, None));
    Ok(Reply::no_content())
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ConcurrencyInput {
    reserved_concurrent_executions: Option<i64>,
}

pub fn put_concurrency(op: &mut Op<'_>) -> Result<Reply, ApiError> {
    let input: ConcurrencyInput = op.req.json()?;
    let doc = function(op)?.clone();
    let n = input.reserved_concurrent_executions.ok_or_else(|| {
        ApiError::new(
            ErrorCode::Validation,
            "1 validation error detected: Value null at 'reservedConcurrentExecutions' failed to satisfy constraint: Member must not be null",
        )
    })?;
    let n = u32::try_from(n).map_err(|_| {
        ApiError::new(
            ErrorCode::Validation,
            format!("1 validation error detected: Value '{n}' at 'reservedConcurrentExecutions' failed to satisfy constraint: Member must have value greater than or equal to 0"),
        )
    })?;
    let name = doc.configuration.function_name.clone();
    let reserved_elsewhere: u32 = op
        .state
        .functions
        .iter()
        .filter(|(other, _)| **other != name)
        .filter_map(|(_, f)| f.reserved_concurrency)
        .sum();
    if reserved_elsewhere.saturating_add(n) > ACCOUNT_CONCURRENCY - MIN_UNRESERVED {
        return Err(invalid(format!(
            "Specified ReservedConcurrentExecutions for function decreases account's UnreservedConcurrentExecution below its minimum value of [{MIN_UNRESERVED}]."
        )));
    }
    let mut doc = doc.as_ref().clone();
    doc.reserved_concurrency = Some(n);
    op.changes.push(Change::Function(name, Some(Arc::new(doc))));
    Ok(Reply::ok(json!({ "ReservedConcurrentExecutions": n })))
}

pub fn get_concurrency(op: &mut Op<'_>) -> Result<Reply, ApiError> {
    let doc = function(op)?;
    Ok(Reply::ok(match doc.reserved_concurrency {
        Some(n) => json!({ "ReservedConcurrentExecutions": n }),
        None => json!({}),
    }))
}

pub fn delete_concurrency(op: &mut Op<'_>) -> Result<Reply, ApiError> {
    let mut doc = function(op)?.as_ref().clone();
    doc.reserved_concurrency = None;
    let name = doc.configuration.function_name.clone();
    op.changes.push(Change::Function(name, Some(Arc::new(doc))));
    Ok(Reply::no_content())
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PermissionInput {
    statement_id: Option<String>,
    action: Option<String>,
    principal: Option<String>,
    source_arn: Option<String>,
    source_account: Option<String>,
}

pub fn add_permission(op: &mut Op<'_>) -> Result<Reply, ApiError> {
    let input: PermissionInput = op.req.json()?;
    let doc = function(op)?.clone();
    let sid = required(&input.statement_id, "statementId")?.to_string();
    let action = required(&input.action, "action")?.to_string();
    let principal = required(&input.principal, "principal")?.to_string();
    if doc.policy_statements.iter().any(|s| s["Sid"] == sid) {
        return Err(ApiError::new(
            ErrorCode::ResourceConflict,
            "The statement id (sid) provided already exists. Please provide a new statement id, or remove the existing statement.",
        ));
    }
    let principal_value = if principal.contains('.') {
        json!({ "Service": principal })
    } else if principal == "*" {
        json!("*")
    } else {
        json!({ "AWS": principal })
    };
    let mut statement = json!({
        "Sid": sid,
        "Effect": "Allow",
        "Principal": principal_value,
        "Action": action,
        "Resource": doc.configuration.function_arn,
    });
    let mut condition = serde_json::Map::new();
    if let Some(arn) = input.source_arn {
        condition.insert("ArnLike".into(), json!({ "AWS:SourceArn": arn }));
    }
    if let Some(account) = input.source_account {
        condition.insert(
            "StringEquals".into(),
            json!({ "AWS:SourceAccount": account }),
        );
    }
    if !condition.is_empty() {
        statement["Condition"] = Value::Object(condition);
    }
    let mut doc = doc.as_ref().clone();
    doc.policy_statements.push(statement.clone());
    let name = doc.configuration.function_name.clone();
    op.changes.push(Change::Function(name, Some(Arc::new(doc))));
    Ok(Reply::created(
        json!({ "Statement": statement.to_string() }),
    ))
}

pub fn remove_permission(op: &mut Op<'_>) -> Result<Reply, ApiError> {
    let sid = op.param("statement_id").to_string();
    let mut doc = function(op)?.as_ref().clone();
    let before = doc.policy_statements.len();
    doc.policy_statements.retain(|s| s["Sid"] != sid);
    if doc.policy_statements.len() == before {
        return Err(ApiError::new(
            ErrorCode::ResourceNotFound,
            format!("Statement {sid} is not found in resource policy."),
        ));
    }
    let name = doc.configuration.function_name.clone();
    op.changes.push(Change::Function(name, Some(Arc::new(doc))));
    Ok(Reply::no_content())
}

pub fn get_policy(op: &mut Op<'_>) -> Result<Reply, ApiError> {
    let doc = function(op)?;
    if doc.policy_statements.is_empty() {
        return Err(ApiError::new(
            ErrorCode::ResourceNotFound,
            "The resource you requested does not exist.",
        ));
    }
    let policy = json!({
        "Version": "2012-10-17",
        "Id": "default",
        "Statement": doc.policy_statements,
    });
    Ok(Reply::ok(json!({
        "Policy": policy.to_string(),
        "RevisionId": doc.configuration.revision_id,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_arns_and_qualifiers() {
        for given in [
            "multitalk-api-proxy",
            "arn:aws:lambda:us-east-1:000000000000:function:multitalk-api-proxy",
            "000000000000:function:multitalk-api-proxy",
            "multitalk-api-proxy:$LATEST",
        ] {
            assert_eq!(
                function_name(given).ok().as_deref(),
                Some("multitalk-api-proxy"),
                "{given}"
            );
        }
        assert!(function_name("bad name").is_err());
        assert!(function_name("f:3").is_err());
        assert!(function_name(&"x".repeat(65)).is_err());
    }

    #[test]
    fn roles_and_settings() {
        assert!(check_role("arn:aws:iam::000000000000:role/lambda-role").is_ok());
        assert!(check_role("lambda-role").is_err());
        assert!(check_settings("python3.11", 30, 512, &None).is_ok());
        assert!(check_settings("cobol", 30, 512, &None).is_err());
        assert!(check_settings("python3.11", 901, 512, &None).is_err());
        let reserved = Some(Environment {
            variables: [("AWS_REGION".to_string(), "x".to_string())].into(),
        });
        let e = check_settings("python3.11", 3, 128, &reserved).err();
        assert!(e.is_some_and(|e| e.message.contains("AWS_REGION")));
    }
}

//! Lambda functions as Tollgate keeps them. [`FunctionConfiguration`]
//! serializes to exactly what Lambda's rest-json protocol returns
//! (PascalCase members); [`FunctionDoc`] adds what Tollgate keeps beside it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::Tags;

/// The code's id in the store: the hex SHA-256 of the zip.
pub type CodeId = String;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct FunctionConfiguration {
    pub function_name: String,
    pub function_arn: String,
    pub runtime: String,
    pub role: String,
    pub handler: String,
    pub code_size: u64,
    pub description: String,
    pub timeout: u32,
    pub memory_size: u32,
    /// `2026-12-07T15:33:16.123+0000`.
    pub last_modified: String,
    /// Base64 of the zip's SHA-256.
    pub code_sha256: String,
    pub version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<Environment>,
    pub tracing_config: TracingConfig,
    pub revision_id: String,
    pub state: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_reason_code: Option<String>,
    pub last_update_status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_update_status_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_update_status_reason_code: Option<String>,
    pub package_type: String,
    pub architectures: Vec<String>,
    pub ephemeral_storage: EphemeralStorage,
    pub logging_config: LoggingConfig,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Environment {
    #[serde(default)]
    pub variables: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TracingConfig {
    pub mode: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EphemeralStorage {
    pub size: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct LoggingConfig {
    pub log_format: String,
    pub log_group: String,
}

/// One function as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FunctionDoc {
    pub configuration: FunctionConfiguration,
    /// The zip in the store (`Change::Code`).
    pub code_id: CodeId,
    /// ReservedConcurrentExecutions (PutFunctionConcurrency).
    #[serde(default)]
    pub reserved_concurrency: Option<u32>,
    /// AddPermission statements, as GetPolicy returns them.
    #[serde(default)]
    pub policy_statements: Vec<serde_json::Value>,
    #[serde(default)]
    pub tags: Tags,
    /// A function hosted elsewhere (a Runtime Interface Emulator), invoked
    /// by POSTing to this URL instead of running code here.
    #[serde(default)]
    pub external_url: Option<String>,
}

/// Lambda's limits on what CreateFunction and UpdateFunctionConfiguration take.
pub const MIN_TIMEOUT: u32 = 1;
pub const MAX_TIMEOUT: u32 = 900;
pub const MIN_MEMORY: u32 = 128;
pub const MAX_MEMORY: u32 = 10_240;

/// Environment variables a function may not set: Lambda sets them itself.
pub const RESERVED_VARIABLES: &[&str] = &[
    "_HANDLER",
    "_X_AMZN_TRACE_ID",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
    "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_INITIALIZATION_TYPE",
    "AWS_LAMBDA_LOG_GROUP_NAME",
    "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_ACCESS_KEY",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_LAMBDA_RUNTIME_API",
    "LAMBDA_TASK_ROOT",
    "LAMBDA_RUNTIME_DIR",
];

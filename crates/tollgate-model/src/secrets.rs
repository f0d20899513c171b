//! Secrets Manager secrets as Tollgate keeps them: each version's value is
//! sealed (AES-256-GCM with the gateway's secrets key) before it is stored.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Secret {
    pub arn: String,
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub kms_key_id: Option<String>,
    /// Epoch seconds (Secrets Manager's dates are fractional seconds).
    pub created_date: f64,
    pub last_changed_date: f64,
    /// When a scheduled deletion takes effect; `None` unless deleted.
    #[serde(default)]
    pub deleted_date: Option<f64>,
    #[serde(default)]
    pub versions: Vec<SecretVersion>,
    #[serde(default)]
    pub tags: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecretVersion {
    pub version_id: String,
    /// `AWSCURRENT`, `AWSPREVIOUS`, and any the caller names.
    pub stages: Vec<String>,
    pub created_date: f64,
    /// Base64 of the nonce and the sealed value: never the value itself.
    pub sealed: String,
    /// Whether the value was `SecretBinary` (else `SecretString`).
    pub binary: bool,
}

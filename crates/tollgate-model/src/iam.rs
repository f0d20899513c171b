//! IAM roles and managed policies, as deploy scripts create them before
//! `create-function`. Tollgate stores them and returns them as IAM does; it
//! does not evaluate them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Role {
    pub role_name: String,
    /// `AROA…`, 21 characters.
    pub role_id: String,
    pub arn: String,
    pub path: String,
    /// The trust policy, as JSON text.
    pub assume_role_policy_document: String,
    #[serde(default)]
    pub description: Option<String>,
    pub max_session_duration: u32,
    /// Epoch seconds.
    pub create_date: i64,
    /// Managed policies attached (their ARNs).
    #[serde(default)]
    pub attached_policies: Vec<String>,
    /// Inline policies by name (PutRolePolicy), as JSON text.
    #[serde(default)]
    pub inline_policies: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ManagedPolicy {
    pub policy_name: String,
    /// `ANPA…`, 21 characters.
    pub policy_id: String,
    pub arn: String,
    pub path: String,
    pub document: String,
    #[serde(default)]
    pub description: Option<String>,
    pub create_date: i64,
}

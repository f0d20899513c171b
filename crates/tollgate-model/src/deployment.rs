//! Deployment: a frozen snapshot of an API's definition that stages point at.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::rest_api::RestApi;
use crate::state::ApiDefinition;

/// `apiSummary` entry: what a deployed method requires.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MethodSnapshot {
    pub authorization_type: String,
    pub api_key_required: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Deployment {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub created_date: i64,
    #[serde(default)]
    pub api_summary: BTreeMap<String, BTreeMap<String, MethodSnapshot>>,
}

/// A deployment with the definition it froze (the data plane serves that).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeploymentDoc {
    pub deployment: Deployment,
    pub api: RestApi,
    pub definition: ApiDefinition,
}

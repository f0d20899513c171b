//! VpcLink: a named set of load balancer ARNs that VPC_LINK integrations use.

use serde::{Deserialize, Serialize};

use crate::Tags;

/// What AWS says of a link that is ready.
pub const READY_MESSAGE: &str = "Your vpc link is ready for use";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VpcLink {
    pub id: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub target_arns: Vec<String>,
    /// `AVAILABLE`, `PENDING`, `DELETING` or `FAILED`.
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_message: Option<String>,
    #[serde(default)]
    pub tags: Tags,
}

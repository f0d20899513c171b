//! RestApi: the API itself (`spec/aws-apigw.md` §1.4).

use serde::{Deserialize, Serialize};

use crate::Tags;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EndpointConfiguration {
    pub types: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_address_type: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vpc_endpoint_ids: Vec<String>,
}

impl Default for EndpointConfiguration {
    fn default() -> Self {
        EndpointConfiguration {
            types: vec!["EDGE".into()],
            ip_address_type: Some("ipv4".into()),
            vpc_endpoint_ids: Vec::new(),
        }
    }
}

pub const ENDPOINT_TYPES: &[&str] = &["EDGE", "REGIONAL", "PRIVATE"];
pub const API_KEY_SOURCES: &[&str] = &["HEADER", "AUTHORIZER"];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RestApi {
    pub id: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub created_date: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub binary_media_types: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minimum_compression_size: Option<i64>,
    pub api_key_source: String,
    pub endpoint_configuration: EndpointConfiguration,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    #[serde(default, skip_serializing_if = "Tags::is_empty")]
    pub tags: Tags,
    pub disable_execute_api_endpoint: bool,
    pub root_resource_id: String,
    /// Creation order (1, 2, …): GetRestApis lists oldest first, and `createdDate`
    /// (whole seconds, as AWS sends it) ties for APIs made together. Stored, never
    /// shown: not a member of AWS's RestApi.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub creation_sequence: u64,
}

/// The member name [`RestApi::creation_sequence`] is stored under, for outputs to drop.
pub const CREATION_SEQUENCE_MEMBER: &str = "creationSequence";

fn is_zero(n: &u64) -> bool {
    *n == 0
}

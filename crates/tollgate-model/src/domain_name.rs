//! DomainName and its BasePathMappings: a custom host name whose first path
//! segment picks the API and stage a request goes to.
//!
//! Tollgate does not terminate TLS for custom domains: certificate ARNs are
//! kept and shown as AWS shows them, and a TLS proxy in front (or plain HTTP)
//! carries the `Host` header the data plane routes on.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::Tags;

/// The base path of the mapping that takes requests no other one names.
pub const NO_BASE_PATH: &str = "(none)";

/// At most this many mappings per domain name (AWS's quota of API mappings
/// per custom domain), so a domain's document stays small.
pub const MAX_MAPPINGS: usize = 200;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DomainEndpointConfiguration {
    /// `EDGE` or `REGIONAL`: exactly one.
    pub types: Vec<String>,
}

/// A custom domain name as GetDomainName answers it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DomainName {
    pub domain_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_arn: Option<String>,
    /// Seconds since the epoch (EDGE only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_upload_date: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regional_domain_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regional_hosted_zone_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regional_certificate_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regional_certificate_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distribution_domain_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distribution_hosted_zone_id: Option<String>,
    pub endpoint_configuration: DomainEndpointConfiguration,
    /// Always `AVAILABLE`: nothing is provisioned.
    pub domain_name_status: String,
    pub security_policy: String,
    #[serde(default, skip_serializing_if = "Tags::is_empty")]
    pub tags: Tags,
}

/// One base path of a domain: which API and (optionally) stage it serves.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BasePathMapping {
    /// [`NO_BASE_PATH`] for the mapping without one.
    pub base_path: String,
    pub rest_api_id: String,
    /// None: the segment after the base path names the stage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<String>,
}

/// A domain with its mappings, stored as one document (they are few).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DomainNameDoc {
    pub domain: DomainName,
    /// Keyed by base path.
    #[serde(default)]
    pub mappings: BTreeMap<String, BasePathMapping>,
}

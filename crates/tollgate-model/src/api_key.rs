//! ApiKey.

use serde::{Deserialize, Serialize};

use crate::Tags;

pub const MIN_VALUE_LEN: usize = 20;
pub const MAX_VALUE_LEN: usize = 128;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiKey {
    pub id: String,
    /// Only returned on create or with `includeValue(s)`. Boxed strings
    /// here and below: a key is kept in memory for as long as it exists,
    /// and each `String` would carry a capacity it never uses.
    pub value: Box<str>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<Box<str>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_id: Option<Box<str>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<Box<str>>,
    pub enabled: bool,
    pub created_date: i64,
    pub last_updated_date: i64,
    #[serde(default)]
    pub stage_keys: Vec<String>,
    #[serde(default, skip_serializing_if = "Tags::is_empty")]
    pub tags: Tags,
}

//! ClientCertificate: a certificate API Gateway would present to backends.

use serde::{Deserialize, Serialize};

use crate::Tags;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientCertificate {
    pub client_certificate_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub pem_encoded_certificate: String,
    pub created_date: i64,
    pub expiration_date: i64,
    #[serde(default, skip_serializing_if = "Tags::is_empty")]
    pub tags: Tags,
}

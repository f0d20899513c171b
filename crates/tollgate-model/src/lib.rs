//! API Gateway resources as Tollgate keeps them.
//!
//! The types serialize to exactly the JSON that API Gateway's rest-json protocol
//! returns (camelCase members, absent members omitted), so the control plane
//! answers with `serde_json::to_value(&resource)` and the store persists the same
//! documents. Names follow API Gateway's own (`UsagePlan`, `MethodSetting`, …).

pub mod api_key;
pub mod authorizer;
pub mod client_certificate;
pub mod deployment;
pub mod documentation;
pub mod domain_name;
pub mod error;
pub mod gateway_response;
pub mod iam;
pub mod ids;
pub mod integration;
pub mod lambda;
pub mod method;
pub mod model_schema;
pub mod patch;
pub mod request_validator;
pub mod resource;
pub mod rest_api;
pub mod secrets;
pub mod stage;
pub mod state;
pub mod time;
pub mod usage_plan;
pub mod vpc_link;

pub use error::{ApiError, ErrorCode};
pub use state::{Change, State};

/// Tag maps as API Gateway returns them.
pub type Tags = std::collections::BTreeMap<String, String>;

//! CloudWatch metrics: the store ([`store`]), what API Gateway's requests
//! publish ([`requests`]) and the CloudWatch operations over them
//! ([`api`]).

pub mod math;
pub mod requests;
pub mod shared;
pub mod store;

pub use store::{MetricKey, MetricStore};

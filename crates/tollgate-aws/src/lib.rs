//! AWS wire protocols as Tollgate speaks them: SigV4 verification, the AWS error
//! shapes of each protocol, and request ids.

pub mod error;
pub mod request_id;
pub mod sigv4;
pub mod wire;

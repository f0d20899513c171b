//! HTTP/1.1 as Tollgate speaks it: the server side of client connections
//! ([`server`]), the client side's wire format ([`client`]: request heads
//! written, response heads parsed), and what both share: head parsing
//! ([`head`]) and the chunked coding ([`chunked`]). Nothing here knows of
//! API Gateway: error bodies and header rules are the caller's.
//!
//! Written for the proxy's hot path rather than taken from hyper: a request
//! is parsed, handled and answered in the connection's own task, with one
//! read and one write for a small exchange. hyper still serves HTTP/2.

pub mod body;
pub mod budget;
pub mod chunked;
pub mod client;
mod date;
pub mod head;
pub mod request;
pub mod response;
pub mod server;

pub use body::RequestBody;
pub use budget::{BodyBudget, BudgetPermit};

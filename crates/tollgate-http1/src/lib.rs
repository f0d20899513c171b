//! HTTP/1.1 as Tollgate speaks it: the server side of client connections
//! ([`server`]), and what its upstream client shares with it, head parsing
//! ([`head`]) and the chunked coding ([`chunked`]).
//!
//! Written for the proxy's hot path rather than taken from hyper: a request
//! is parsed, handled and answered in the connection's own task, with one
//! read and one write for a small exchange. hyper still serves HTTP/2.

pub mod body;
pub mod chunked;
mod date;
pub mod head;
pub mod request;
pub mod response;
pub mod server;

pub use body::RequestBody;

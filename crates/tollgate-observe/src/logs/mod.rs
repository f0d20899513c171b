//! CloudWatch Logs: log groups, streams and events kept in SQLite, or in
//! the shared PostgreSQL database ([`store`], [`postgres`]), the operations `aws logs` calls ([`api`]), filter patterns
//! ([`filter`]) and the background writer of lines made by the gateway
//! ([`writer`]).

pub mod api;
pub mod filter;
pub mod postgres;
pub mod store;
pub mod writer;

pub use store::LogStore;
pub use writer::LogLine;

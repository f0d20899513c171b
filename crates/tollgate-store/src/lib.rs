//! Persistence for the control plane.
//!
//! A [`Store`] loads the whole [`State`] at start-up and writes each operation's
//! [`Change`]s in one transaction. Objects are kept as JSON documents keyed by
//! kind and id, so a new backend (PostgreSQL comes next) only maps that table.

mod documents;
mod sqlite;

pub use sqlite::SqliteStore;

use tollgate_model::usage_plan::UsageKey;
use tollgate_model::{Change, State};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] rusqlite::Error),
    #[error("stored document {kind}/{id} is unreadable: {source}")]
    Corrupt {
        kind: String,
        id: String,
        source: serde_json::Error,
    },
    #[error("cannot encode document: {0}")]
    Encode(#[from] serde_json::Error),
    #[error("cannot create data directory {path}: {source}")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
}

/// Where control-plane state lives.
pub trait Store: Send + Sync {
    /// Reads every stored object.
    fn load(&self) -> Result<State, StoreError>;
    /// Writes all `changes` atomically: either every one is durable or none is.
    fn commit(&self, changes: &[Change]) -> Result<(), StoreError>;
    /// Writes per-day usage counts (absolute values) atomically, as
    /// `Change::Usage` would: the data plane's batches, several a second.
    fn record_usage(&self, counts: &[(UsageKey, i64)]) -> Result<(), StoreError> {
        let changes: Vec<Change> = counts
            .iter()
            .map(|(k, used)| Change::Usage(k.clone(), Some(*used)))
            .collect();
        self.commit(&changes)
    }
    /// A function's code zip (`Change::Code`), read on demand: zips are not
    /// kept in the loaded state.
    fn code(&self, id: &str) -> Result<Option<Vec<u8>>, StoreError>;
}

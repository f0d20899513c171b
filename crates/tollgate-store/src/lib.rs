//! Persistence for the control plane.
//!
//! A [`Store`] loads the whole [`State`] at start-up and writes each operation's
//! [`Change`]s in one transaction. Objects are kept as JSON documents keyed by
//! kind and id ([`documents`]), so each backend only maps that table:
//! [`SqliteStore`] (embedded, the default) and [`PostgresStore`] (shared by
//! several instances, which then see each other's changes through
//! [`Store::watch`] and [`Store::remote_changes`]).

mod copy;
mod documents;
mod postgres;
mod session;
mod sqlite;

pub use copy::changes_of;
pub use postgres::{PostgresStore, PG_TEST_URL_VAR};
pub use session::{database_error, Connected, PgSession};
pub use sqlite::SqliteStore;
/// The PostgreSQL client the shared store uses, for callers of [`PgSession`].
pub use tokio_postgres;

use tollgate_model::usage_plan::UsageKey;
use tollgate_model::{Change, State};

/// A failed store call. The messages are for operators' logs: the control
/// plane maps every variant to an AWS error of its own wording, so none of
/// this text reaches a client.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database refused or failed a statement.
    #[error("database error: {0}")]
    Database(Box<dyn std::error::Error + Send + Sync>),
    /// The database cannot be reached now (refused, lost, timed out); the
    /// same call may succeed once it is back. Clients see 503.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// Another instance changed one of the documents this commit writes
    /// since this instance last read it; nothing was written.
    #[error("concurrent change by another instance to {kind}/{id}")]
    Conflict { kind: String, id: String },
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
    /// The database's schema is newer than this binary knows, or otherwise not Tollgate's.
    #[error("{0}")]
    Schema(String),
}

impl StoreError {
    /// Whether retrying later may succeed (the database is unreachable).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, StoreError::Unavailable(_))
    }
}

/// What other instances changed since this one last looked.
pub enum RemoteChanges {
    /// Apply these, in order (documents as they are now in the store).
    Apply(Vec<Change>),
    /// This instance fell too far behind (the change log was pruned past
    /// it): replace the whole state.
    Reload(Box<State>),
}

/// Called (on a blocking thread) when another instance may have committed
/// something: the receiver then asks [`Store::remote_changes`].
pub type Wake = Box<dyn Fn() + Send + Sync>;

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
    /// Starts telling `wake` when other instances sharing this store may
    /// have committed changes. A store only this process uses never calls it.
    fn watch(&self, wake: Wake) {
        let _ = wake;
    }
    /// The changes other instances committed since the last call (or the
    /// load). The caller applies them before its next commit; the store
    /// counts them as seen from here on.
    fn remote_changes(&self) -> Result<RemoteChanges, StoreError> {
        Ok(RemoteChanges::Apply(Vec::new()))
    }
    /// Whether the store holds nothing yet (`tollgate migrate` refuses to
    /// copy into a store that does).
    fn is_empty(&self) -> Result<bool, StoreError> {
        Ok(false)
    }
    /// Deletes everything stored (`tollgate migrate --replace`).
    fn clear(&self) -> Result<(), StoreError> {
        Err(StoreError::Schema(
            "this store cannot be cleared".to_string(),
        ))
    }
}

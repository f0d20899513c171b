//! A small durable store of JSON documents by kind and name
//! (`DATA_DIR/monitoring.db`), for what CloudWatch alarms and SNS keep:
//! alarms, their history, topics and subscriptions. Everything is also held
//! in memory by its owner; this is what survives a restart.

use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::{params, Connection};
use serde::de::DeserializeOwned;
use serde::Serialize;

pub struct DocStore {
    conn: Mutex<Connection>,
}

#[derive(Debug, thiserror::Error)]
pub enum DocError {
    #[error("the monitoring store failed: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("a stored document is not valid: {0}")]
    Json(#[from] serde_json::Error),
}

impl DocStore {
    pub fn open(data_dir: &Path) -> Result<DocStore, DocError> {
        let conn = Connection::open(data_dir.join("monitoring.db"))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.busy_timeout(Duration::from_secs(5))?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS docs (kind TEXT NOT NULL, name TEXT NOT NULL, body TEXT NOT NULL, PRIMARY KEY (kind, name));
             CREATE TABLE IF NOT EXISTS history (id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, name TEXT NOT NULL, at_ms INTEGER NOT NULL, body TEXT NOT NULL);
             CREATE INDEX IF NOT EXISTS history_by_name ON history (kind, name, at_ms);",
        )?;
        Ok(DocStore {
            conn: Mutex::new(conn),
        })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn put<T: Serialize>(&self, kind: &str, name: &str, doc: &T) -> Result<(), DocError> {
        let body = serde_json::to_string(doc)?;
        self.conn().execute(
            "INSERT INTO docs (kind, name, body) VALUES (?1, ?2, ?3)
             ON CONFLICT (kind, name) DO UPDATE SET body = excluded.body",
            params![kind, name, body],
        )?;
        Ok(())
    }

    pub fn delete(&self, kind: &str, name: &str) -> Result<(), DocError> {
        self.conn().execute(
            "DELETE FROM docs WHERE kind = ?1 AND name = ?2",
            params![kind, name],
        )?;
        Ok(())
    }

    /// Every document of `kind`; one that no longer parses is skipped with a warning.
    pub fn all<T: DeserializeOwned>(&self, kind: &str) -> Result<Vec<T>, DocError> {
        let conn = self.conn();
        let mut stmt = conn.prepare("SELECT name, body FROM docs WHERE kind = ?1 ORDER BY name")?;
        let rows = stmt.query_map(params![kind], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (name, body) = row?;
            match serde_json::from_str(&body) {
                Ok(doc) => out.push(doc),
                Err(e) => tracing::warn!(%kind, %name, error = %e, "a stored document was skipped"),
            }
        }
        Ok(out)
    }

    pub fn add_history<T: Serialize>(
        &self,
        kind: &str,
        name: &str,
        at_ms: i64,
        item: &T,
    ) -> Result<(), DocError> {
        let body = serde_json::to_string(item)?;
        self.conn().execute(
            "INSERT INTO history (kind, name, at_ms, body) VALUES (?1, ?2, ?3, ?4)",
            params![kind, name, at_ms, body],
        )?;
        Ok(())
    }

    /// History of `kind` (one `name`, or all), newest first, within [start, end).
    pub fn history<T: DeserializeOwned>(
        &self,
        kind: &str,
        name: Option<&str>,
        start_ms: i64,
        end_ms: i64,
        limit: usize,
    ) -> Result<Vec<T>, DocError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT body FROM history WHERE kind = ?1 AND (?2 IS NULL OR name = ?2)
             AND at_ms >= ?3 AND at_ms < ?4 ORDER BY at_ms DESC, id DESC LIMIT ?5",
        )?;
        let rows = stmt.query_map(params![kind, name, start_ms, end_ms, limit as i64], |r| {
            r.get::<_, String>(0)
        })?;
        let mut out = Vec::new();
        for body in rows {
            out.push(serde_json::from_str(&body?)?);
        }
        Ok(out)
    }

    /// Forgets history older than `before_ms` (CloudWatch keeps two weeks).
    pub fn prune_history(&self, before_ms: i64) -> Result<(), DocError> {
        self.conn()
            .execute("DELETE FROM history WHERE at_ms < ?1", params![before_ms])?;
        Ok(())
    }
}

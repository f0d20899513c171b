//! The embedded default store: one SQLite file in WAL mode.

use std::path::Path;
use std::sync::Mutex;

use rusqlite::{params, Connection};
use tollgate_model::{Change, State};

use crate::documents::{load_row, rows};
use crate::{Store, StoreError};

/// SQLite in WAL mode with `synchronous=NORMAL`: a committed transaction survives
/// a crash of the process (kill -9); a power loss may drop the last few.
pub struct SqliteStore {
    conn: Mutex<Connection>,
}

impl SqliteStore {
    /// Opens (creating if needed) `tollgate.db` in `data_dir`.
    pub fn open(data_dir: &Path) -> Result<SqliteStore, StoreError> {
        std::fs::create_dir_all(data_dir).map_err(|source| StoreError::DataDir {
            path: data_dir.display().to_string(),
            source,
        })?;
        Self::open_file(&data_dir.join("tollgate.db"))
    }

    pub fn open_file(path: &Path) -> Result<SqliteStore, StoreError> {
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS documents (
                kind TEXT NOT NULL,
                id TEXT NOT NULL,
                body TEXT NOT NULL,
                PRIMARY KEY (kind, id)
            ) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS code (
                id TEXT PRIMARY KEY,
                zip BLOB NOT NULL
            );",
        )?;
        Ok(SqliteStore {
            conn: Mutex::new(conn),
        })
    }

    fn with_conn<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        // A poisoned lock only means another thread panicked mid-call; SQLite's
        // own transaction rolled that call back, so the connection is usable.
        let mut conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut conn)
    }
}

impl Store for SqliteStore {
    fn load(&self) -> Result<State, StoreError> {
        self.with_conn(|conn| {
            let mut state = State::default();
            let mut stmt = conn.prepare("SELECT kind, id, body FROM documents")?;
            let mut rows = stmt.query([])?;
            while let Some(row) = rows.next()? {
                let kind: String = row.get(0)?;
                let id: String = row.get(1)?;
                let body: String = row.get(2)?;
                load_row(&mut state, &kind, &id, &body)?;
            }
            let mut stmt = conn.prepare("SELECT id FROM code")?;
            let mut rows = stmt.query([])?;
            while let Some(row) = rows.next()? {
                state.code.insert(row.get(0)?);
            }
            Ok(state)
        })
    }

    fn commit(&self, changes: &[Change]) -> Result<(), StoreError> {
        if changes.is_empty() {
            return Ok(());
        }
        let rows = rows(changes)?;
        self.with_conn(|conn| {
            let tx = conn.transaction()?;
            {
                let mut upsert = tx.prepare_cached(
                    "INSERT INTO documents (kind, id, body) VALUES (?1, ?2, ?3)
                     ON CONFLICT (kind, id) DO UPDATE SET body = excluded.body",
                )?;
                let mut delete =
                    tx.prepare_cached("DELETE FROM documents WHERE kind = ?1 AND id = ?2")?;
                for row in &rows {
                    match &row.body {
                        Some(body) => upsert.execute(params![row.kind, row.id, body])?,
                        None => delete.execute(params![row.kind, row.id])?,
                    };
                }
                let mut put_code = tx.prepare_cached(
                    "INSERT INTO code (id, zip) VALUES (?1, ?2) ON CONFLICT (id) DO NOTHING",
                )?;
                let mut delete_code = tx.prepare_cached("DELETE FROM code WHERE id = ?1")?;
                for change in changes {
                    match change {
                        Change::Code(id, Some(zip)) => {
                            put_code.execute(params![id, zip.as_slice()])?;
                        }
                        Change::Code(id, None) => {
                            delete_code.execute(params![id])?;
                        }
                        _ => {}
                    }
                }
            }
            tx.commit()?;
            Ok(())
        })
    }

    fn code(&self, id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.read_code(id)
    }
}

impl SqliteStore {
    fn read_code(&self, id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.with_conn(|conn| {
            let mut stmt = conn.prepare_cached("SELECT zip FROM code WHERE id = ?1")?;
            let mut rows = stmt.query(params![id])?;
            Ok(match rows.next()? {
                Some(row) => Some(row.get(0)?),
                None => None,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use tollgate_model::api_key::ApiKey;
    use tollgate_model::usage_plan::UsageKey;

    use super::*;

    fn key(id: &str) -> Arc<ApiKey> {
        Arc::new(ApiKey {
            id: id.into(),
            value: "v".repeat(40),
            name: Some(id.into()),
            customer_id: None,
            description: None,
            enabled: true,
            created_date: 1,
            last_updated_date: 1,
            stage_keys: vec![],
            tags: Default::default(),
        })
    }

    #[test]
    fn commits_and_reloads() -> Result<(), StoreError> {
        let dir = std::env::temp_dir().join(format!("tollgate-store-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let usage = UsageKey {
            plan_id: "p".into(),
            key_id: "k".into(),
            day: "2026-11-26".into(),
        };
        {
            let store = SqliteStore::open(&dir)?;
            store.commit(&[
                Change::ApiKey("a".into(), Some(key("a"))),
                Change::ApiKey("b".into(), Some(key("b"))),
                Change::Usage(usage.clone(), Some(7)),
            ])?;
            store.commit(&[Change::ApiKey("a".into(), None)])?;
        }
        {
            let store = SqliteStore::open(&dir)?;
            store.commit(&[Change::Code("c1".into(), Some(Arc::new(vec![1, 2, 3])))])?;
        }
        let store = SqliteStore::open(&dir)?;
        let state = store.load()?;
        assert_eq!(state.api_keys.keys().collect::<Vec<_>>(), ["b"]);
        assert_eq!(state.usage.get(&usage), Some(&7));
        assert!(state.code.contains("c1"));
        assert_eq!(store.code("c1")?, Some(vec![1, 2, 3]));
        assert_eq!(store.code("c2")?, None);
        let _ = std::fs::remove_dir_all(&dir);
        Ok(())
    }
}

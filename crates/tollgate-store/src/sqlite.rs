//! The embedded default store: one SQLite file in WAL mode.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use rusqlite::{params, Connection, Transaction};
use tollgate_model::usage_plan::UsageKey;
use tollgate_model::{Change, State};

use crate::documents::{rows, Body, Loading, USAGE};
use crate::{Store, StoreError};

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Database(Box::new(e))
    }
}

/// SQLite in WAL mode with `synchronous=NORMAL`: a committed transaction survives
/// a crash of the process (kill -9); a power loss may drop the last few.
///
/// Usage counts, written every few milliseconds for whichever keys were used,
/// are appended to `usage_log` (absolute values, the latest row wins) and
/// folded into their `usage` documents every [`LOG_FOLD_ROWS`] rows: a batch
/// of counts for keys spread over the whole table then writes a few new pages
/// at the log's end, not one page per key.
pub struct SqliteStore {
    conn: Mutex<Connection>,
    /// Rows in `usage_log` (changed only with the connection held).
    log_rows: AtomicUsize,
    /// When the log is folded ([`LOG_FOLD_ROWS`]; tests set fewer).
    fold_rows: usize,
}

/// Log rows that are folded into the usage documents: at most a few MB of
/// log; at 25 000 counts a second, a fold every 8 s writing each key's day
/// once (a few ms per thousand keys), instead of a write per count.
pub const LOG_FOLD_ROWS: usize = 200_000;

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
            );
            CREATE TABLE IF NOT EXISTS usage_log (
                seq INTEGER PRIMARY KEY,
                plan_id TEXT NOT NULL,
                key_id TEXT NOT NULL,
                day TEXT NOT NULL,
                used INTEGER NOT NULL
            );",
        )?;
        let log_rows: i64 = conn.query_row("SELECT COUNT(*) FROM usage_log", [], |r| r.get(0))?;
        Ok(SqliteStore {
            conn: Mutex::new(conn),
            log_rows: AtomicUsize::new(usize::try_from(log_rows).unwrap_or(0)),
            fold_rows: LOG_FOLD_ROWS,
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
        let (state, rewrite) = self.with_conn(|conn| {
            let mut loading = Loading::default();
            let mut stmt = conn.prepare("SELECT kind, id, body FROM documents")?;
            let mut rows = stmt.query([])?;
            while let Some(row) = rows.next()? {
                let kind: String = row.get(0)?;
                let id: String = row.get(1)?;
                let body: String = row.get(2)?;
                loading.row(&kind, &id, &body)?;
            }
            let mut stmt = conn.prepare("SELECT id FROM code")?;
            let mut rows = stmt.query([])?;
            while let Some(row) = rows.next()? {
                loading.state.code.insert(row.get(0)?);
            }
            // Counts newer than their documents, oldest first.
            for (key, used) in read_log(conn)? {
                loading.state.usage.insert(key, used);
            }
            Ok(loading.finish())
        })?;
        // Plans stored with their keys inside, by an earlier version: once.
        self.commit(&rewrite)?;
        if self.log_rows.load(Ordering::Relaxed) > 0 {
            self.with_conn(|conn| {
                let tx = conn.transaction()?;
                fold_log(&tx)?;
                tx.commit()?;
                self.log_rows.store(0, Ordering::Relaxed);
                Ok(())
            })?;
        }
        Ok(state)
    }

    fn record_usage(&self, counts: &[(UsageKey, i64)]) -> Result<(), StoreError> {
        if counts.is_empty() {
            return Ok(());
        }
        self.with_conn(|conn| {
            let tx = conn.transaction()?;
            {
                let mut insert = tx.prepare_cached(
                    "INSERT INTO usage_log (plan_id, key_id, day, used) VALUES (?1, ?2, ?3, ?4)",
                )?;
                for (k, used) in counts {
                    insert.execute(params![k.plan_id, k.key_id, k.day, used])?;
                }
            }
            let mut rows = self.log_rows.load(Ordering::Relaxed) + counts.len();
            if rows >= self.fold_rows {
                fold_log(&tx)?;
                rows = 0;
            }
            tx.commit()?;
            self.log_rows.store(rows, Ordering::Relaxed);
            Ok(())
        })
    }

    fn commit(&self, changes: &[Change]) -> Result<(), StoreError> {
        if changes.is_empty() {
            return Ok(());
        }
        let rows = rows(changes)?;
        // Usage written or deleted here must not be overtaken by older log rows.
        let fold = changes
            .iter()
            .any(|c| matches!(c, Change::Usage(..) | Change::UsagePlan(_, None)));
        self.with_conn(|conn| {
            let tx = conn.transaction()?;
            if fold && self.log_rows.load(Ordering::Relaxed) > 0 {
                fold_log(&tx)?;
            }
            {
                let mut upsert = tx.prepare_cached(
                    "INSERT INTO documents (kind, id, body) VALUES (?1, ?2, ?3)
                     ON CONFLICT (kind, id) DO UPDATE SET body = excluded.body",
                )?;
                let mut delete =
                    tx.prepare_cached("DELETE FROM documents WHERE kind = ?1 AND id = ?2")?;
                // Ids `{id}/…`: from `{id}/` up to `{id}0` ('0' follows '/').
                let mut delete_under = tx.prepare_cached(
                    "DELETE FROM documents WHERE kind = ?1 AND id >= ?2 AND id < ?3",
                )?;
                for row in &rows {
                    match &row.body {
                        Body::Put(body) => upsert.execute(params![row.kind, row.id, body])?,
                        Body::Delete => delete.execute(params![row.kind, row.id])?,
                        Body::DeleteUnder => delete_under.execute(params![
                            row.kind,
                            format!("{}/", row.id),
                            format!("{}0", row.id)
                        ])?,
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
            if fold {
                self.log_rows.store(0, Ordering::Relaxed);
            }
            Ok(())
        })
    }

    fn code(&self, id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.read_code(id)
    }
}

/// The usage log, oldest first.
fn read_log(conn: &Connection) -> Result<Vec<(UsageKey, i64)>, StoreError> {
    let mut stmt =
        conn.prepare_cached("SELECT plan_id, key_id, day, used FROM usage_log ORDER BY seq")?;
    let rows = stmt.query_map([], |r| {
        Ok((
            UsageKey {
                plan_id: r.get(0)?,
                key_id: r.get(1)?,
                day: r.get(2)?,
            },
            r.get(3)?,
        ))
    })?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

/// Writes the latest logged count of each day into its usage document and
/// empties the log (in the caller's transaction). Reads the log in place:
/// one allocation per day counted, not per row.
fn fold_log(tx: &Transaction<'_>) -> Result<(), StoreError> {
    // Store id (`plan/key/day`) → the latest count.
    let mut latest: HashMap<String, i64> = HashMap::new();
    {
        let mut stmt =
            tx.prepare_cached("SELECT plan_id, key_id, day, used FROM usage_log ORDER BY seq")?;
        let mut rows = stmt.query([])?;
        let mut id = String::new();
        while let Some(row) = rows.next()? {
            id.clear();
            for part in 0..3 {
                if part > 0 {
                    id.push('/');
                }
                let text = row.get_ref(part)?.as_str().map_err(|e| {
                    rusqlite::Error::FromSqlConversionFailure(
                        part,
                        rusqlite::types::Type::Text,
                        Box::new(e),
                    )
                })?;
                id.push_str(text);
            }
            let used: i64 = row.get(3)?;
            match latest.get_mut(id.as_str()) {
                Some(v) => *v = used,
                None => {
                    latest.insert(id.clone(), used);
                }
            }
        }
    }
    {
        let mut upsert = tx.prepare_cached(
            "INSERT INTO documents (kind, id, body) VALUES (?1, ?2, ?3)
             ON CONFLICT (kind, id) DO UPDATE SET body = excluded.body",
        )?;
        for (id, used) in &latest {
            upsert.execute(params![USAGE, id, used.to_string()])?;
        }
    }
    tx.execute("DELETE FROM usage_log", [])?;
    Ok(())
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
    use tollgate_model::usage_plan::{UsageKey, UsagePlan, UsagePlanDoc};

    use super::*;
    use crate::documents;

    fn key(id: &str) -> Arc<ApiKey> {
        Arc::new(ApiKey {
            id: id.into(),
            value: "v".repeat(40).into(),
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

    fn usage(plan: &str, key: &str, day: &str) -> UsageKey {
        UsageKey {
            plan_id: plan.into(),
            key_id: key.into(),
            day: day.into(),
        }
    }

    fn log_len(store: &SqliteStore) -> Result<i64, StoreError> {
        store.with_conn(|conn| {
            Ok(conn.query_row("SELECT COUNT(*) FROM usage_log", [], |r| r.get(0))?)
        })
    }

    #[test]
    fn usage_counts_are_logged_then_folded() -> Result<(), StoreError> {
        let dir = std::env::temp_dir().join(format!("tollgate-store-log-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let (a, b) = (usage("p", "a", "2026-11-26"), usage("p", "b", "2026-11-26"));
        {
            let mut store = SqliteStore::open(&dir)?;
            store.fold_rows = 5;
            store.commit(&[plan("p", &["a", "b"])])?;
            store.record_usage(&[(a.clone(), 1), (b.clone(), 1)])?;
            store.record_usage(&[(a.clone(), 2)])?;
            assert_eq!(log_len(&store)?, 3);
            // The latest count of each day, before any fold.
            let state = store.load()?;
            assert_eq!(state.usage.get(&a), Some(&2));
            assert_eq!(state.usage.get(&b), Some(&1));
            // Loading folded the log.
            assert_eq!(log_len(&store)?, 0);
            store.record_usage(&[(a.clone(), 3), (b.clone(), 2), (a.clone(), 4)])?;
            store.record_usage(&[(b.clone(), 3), (a.clone(), 5)])?;
            // Five rows: folded with the batch that reached them.
            assert_eq!(log_len(&store)?, 0);
            store.record_usage(&[(a.clone(), 6)])?;
        }
        // A restart reads documents and log alike (a kill -9 leaves the log).
        let store = SqliteStore::open(&dir)?;
        assert_eq!(store.log_rows.load(Ordering::Relaxed), 1);
        let state = store.load()?;
        assert_eq!(state.usage.get(&a), Some(&6));
        assert_eq!(state.usage.get(&b), Some(&3));
        // A count written as a change is not overtaken by an older logged one.
        store.record_usage(&[(a.clone(), 7)])?;
        store.commit(&[Change::Usage(a.clone(), Some(1))])?;
        assert_eq!(store.load()?.usage.get(&a), Some(&1));
        // DeleteUsagePlan deletes its usage: no logged count brings it back.
        store.record_usage(&[(a.clone(), 8), (b.clone(), 8)])?;
        store.commit(&[
            Change::UsagePlan("p".into(), None),
            Change::Usage(a.clone(), None),
            Change::Usage(b.clone(), None),
        ])?;
        assert!(store.load()?.usage.is_empty());
        let _ = std::fs::remove_dir_all(&dir);
        Ok(())
    }

    fn plan(id: &str, keys: &[&str]) -> Change {
        Change::UsagePlan(
            id.into(),
            Some(Arc::new(UsagePlanDoc {
                plan: UsagePlan {
                    id: id.into(),
                    name: id.into(),
                    description: None,
                    api_stages: vec![],
                    throttle: None,
                    quota: None,
                    product_code: None,
                    tags: Default::default(),
                },
                key_ids: keys.iter().map(|k| k.to_string()).collect(),
                created_date: 5,
            })),
        )
    }

    fn member(plan_id: &str, key_id: &str, member: bool) -> Change {
        Change::UsagePlanKey {
            plan_id: plan_id.into(),
            key_id: key_id.into(),
            member,
        }
    }

    fn keys_of(state: &State, plan_id: &str) -> Vec<String> {
        state
            .usage_plans
            .get(plan_id)
            .map(|p| p.key_ids.iter().cloned().collect())
            .unwrap_or_default()
    }

    fn rows_of(store: &SqliteStore, kind: &str) -> Result<Vec<(String, String)>, StoreError> {
        store.with_conn(|conn| {
            let mut stmt =
                conn.prepare("SELECT id, body FROM documents WHERE kind = ?1 ORDER BY id")?;
            let rows = stmt.query_map(params![kind], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    #[test]
    fn plan_keys_are_rows_of_their_own() -> Result<(), StoreError> {
        let dir = std::env::temp_dir().join(format!("tollgate-store-pk-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = SqliteStore::open(&dir)?;
        store.commit(&[
            plan("p", &["a", "b"]),
            // Ids that share a prefix with "p" keep their keys.
            plan("p2", &["a"]),
            plan("p-x", &["a"]),
        ])?;
        store.commit(&[member("p", "c", true), member("p", "a", false)])?;
        let state = store.load()?;
        assert_eq!(keys_of(&state, "p"), ["b", "c"]);
        assert_eq!(keys_of(&state, "p2"), ["a"]);
        assert_eq!(state.usage_plans["p"].created_date, 5);
        // The plan's document does not list its keys.
        let docs = rows_of(&store, documents::USAGE_PLAN)?;
        assert!(
            docs.iter().all(|(_, body)| !body.contains("key_ids")),
            "{docs:?}"
        );
        // A whole plan written again holds exactly its keys.
        store.commit(&[plan("p", &["d"])])?;
        assert_eq!(keys_of(&store.load()?, "p"), ["d"]);
        // A deleted plan's keys go with it, and no other plan's.
        store.commit(&[Change::UsagePlan("p".into(), None)])?;
        let state = store.load()?;
        assert!(!state.usage_plans.contains_key("p"));
        assert_eq!(keys_of(&state, "p2"), ["a"]);
        assert_eq!(keys_of(&state, "p-x"), ["a"]);
        let rows = rows_of(&store, documents::USAGE_PLAN_KEY)?;
        assert_eq!(
            rows.iter().map(|(id, _)| id.as_str()).collect::<Vec<_>>(),
            ["p-x/a", "p2/a"]
        );
        // Values of loaded keys are known to the duplicate check.
        store.commit(&[Change::ApiKey("k".into(), Some(key("k")))])?;
        assert!(store.load()?.api_key_value_taken(&"v".repeat(40)));
        let _ = std::fs::remove_dir_all(&dir);
        Ok(())
    }

    #[test]
    fn plans_stored_with_their_keys_inside_are_rewritten() -> Result<(), StoreError> {
        let dir = std::env::temp_dir().join(format!("tollgate-store-old-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = SqliteStore::open(&dir)?;
        // As an earlier version wrote it: the document with its key list.
        let Change::UsagePlan(_, Some(doc)) = plan("old", &["a", "b"]) else {
            unreachable!()
        };
        let body = serde_json::to_string(doc.as_ref())?;
        store.with_conn(|conn| {
            conn.execute(
                "INSERT INTO documents (kind, id, body) VALUES ('usageplan', 'old', ?1)",
                params![body],
            )?;
            Ok(())
        })?;
        assert_eq!(keys_of(&store.load()?, "old"), ["a", "b"]);
        // Rewritten on load: a key leaving now stays gone.
        assert_eq!(rows_of(&store, documents::USAGE_PLAN_KEY)?.len(), 2);
        store.commit(&[member("old", "a", false)])?;
        assert_eq!(keys_of(&store.load()?, "old"), ["b"]);
        let _ = std::fs::remove_dir_all(&dir);
        Ok(())
    }
}

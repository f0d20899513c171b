//! Idempotency records in SQLite (`DATA_DIR/idempotency.db`, WAL): a kept
//! response survives a restart or a `kill -9`. Touched only by idempotent
//! submissions (a POST carrying an `Idempotency-Key` on a stage that opts
//! in), on the blocking pool, never by other requests.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension};
use tollgate_gateway::idempotency::{
    Begin, IdempotencyStore, StoreFuture, StoredResponse, IN_FLIGHT_EXPIRY_MS, KEEP_MS,
};

pub struct SqliteIdempotency {
    conn: Arc<Mutex<Connection>>,
}

impl SqliteIdempotency {
    pub fn open(data_dir: &Path) -> rusqlite::Result<SqliteIdempotency> {
        let conn = Connection::open(data_dir.join("idempotency.db"))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.busy_timeout(Duration::from_secs(5))?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS idempotency (
                scope TEXT PRIMARY KEY,
                fingerprint TEXT NOT NULL,
                done INTEGER NOT NULL,
                started_ms INTEGER NOT NULL,
                expires_ms INTEGER NOT NULL,
                status INTEGER,
                headers TEXT,
                body BLOB
            );
            CREATE INDEX IF NOT EXISTS idempotency_expiry ON idempotency (expires_ms);",
        )?;
        Ok(SqliteIdempotency {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// Runs `f` on the connection, on the blocking pool.
    fn with<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> StoreFuture<'static, T> {
        let conn = self.conn.clone();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || {
                let mut conn = conn.lock().unwrap_or_else(|e| e.into_inner());
                f(&mut conn)
            })
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())
        })
    }
}

fn begin(
    conn: &mut Connection,
    scope: &str,
    fingerprint: &str,
    now: i64,
) -> rusqlite::Result<Begin> {
    let tx = conn.transaction()?;
    // Expired records go first (kept responses after a day; in-flight
    // records a crash left behind).
    tx.execute(
        "DELETE FROM idempotency WHERE expires_ms < ?1",
        params![now],
    )?;
    let found = tx
        .query_row(
            "SELECT fingerprint, done, status, headers, body FROM idempotency WHERE scope = ?1",
            params![scope],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, bool>(1)?,
                    r.get::<_, Option<u16>>(2)?,
                    r.get::<_, Option<String>>(3)?,
                    r.get::<_, Option<Vec<u8>>>(4)?,
                ))
            },
        )
        .optional()?;
    let answer = match found {
        None => {
            tx.execute(
                "INSERT INTO idempotency (scope, fingerprint, done, started_ms, expires_ms) VALUES (?1, ?2, 0, ?3, ?4)",
                params![scope, fingerprint, now, now + IN_FLIGHT_EXPIRY_MS],
            )?;
            Begin::Proceed
        }
        Some((kept, _, _, _, _)) if kept != fingerprint => Begin::Mismatch,
        Some((_, false, _, _, _)) => Begin::InFlight,
        Some((_, true, status, headers, body)) => Begin::Replay(StoredResponse {
            status: status.unwrap_or(200),
            headers: headers
                .and_then(|h| serde_json::from_str(&h).ok())
                .unwrap_or_default(),
            body: body.unwrap_or_default().into(),
        }),
    };
    tx.commit()?;
    Ok(answer)
}

impl IdempotencyStore for SqliteIdempotency {
    fn begin<'a>(
        &'a self,
        scope: &'a str,
        fingerprint: &'a str,
        now_ms: i64,
    ) -> StoreFuture<'a, Begin> {
        let (scope, fingerprint) = (scope.to_string(), fingerprint.to_string());
        self.with(move |conn| begin(conn, &scope, &fingerprint, now_ms))
    }

    fn complete<'a>(
        &'a self,
        scope: &'a str,
        response: StoredResponse,
        now_ms: i64,
    ) -> StoreFuture<'a, ()> {
        let scope = scope.to_string();
        self.with(move |conn| {
            let headers = serde_json::to_string(&response.headers).unwrap_or_else(|_| "[]".into());
            conn.execute(
                "UPDATE idempotency SET done = 1, status = ?2, headers = ?3, body = ?4, expires_ms = ?5 WHERE scope = ?1",
                params![scope, response.status, headers, response.body.to_vec(), now_ms + KEEP_MS],
            )?;
            Ok(())
        })
    }

    fn abandon<'a>(&'a self, scope: &'a str) -> StoreFuture<'a, ()> {
        let scope = scope.to_string();
        self.with(move |conn| {
            conn.execute(
                "DELETE FROM idempotency WHERE scope = ?1 AND done = 0",
                params![scope],
            )?;
            Ok(())
        })
    }
}

//! The shared store: PostgreSQL, for several Tollgate instances serving one
//! configuration.
//!
//! Documents are the same `(kind, id, json)` rows as SQLite's. Every commit
//! also appends the `(kind, id)` it touched to `change_log` and sends a
//! `NOTIFY tollgate_changes` (delivered only if the transaction commits); the
//! other instances wake up, read the log past the last sequence number they
//! applied, re-read those documents and apply them as ordinary [`Change`]s, so
//! the data plane recompiles only what changed. A lost notification (a
//! dropped LISTEN connection) is covered by polling the log's highest
//! sequence number every [`POLL_INTERVAL`].
//!
//! Why a runtime of its own: the [`Store`] trait is synchronous (the control
//! plane runs its operations on blocking threads, under its state lock, and
//! the SQLite store is synchronous by nature), while tokio-postgres is
//! asynchronous. Making the trait async would ripple through the control
//! plane for no gain, since operations are serialised by that lock anyway;
//! the sync `postgres` crate and `block_in_place` both panic or stall when
//! called from inside the server's current-thread runtime (start-up loads
//! the state there). So the store owns a small multi-thread runtime: a call
//! spawns its future there and waits on a channel, which is safe from any
//! thread. Nothing on the request path calls the store: the data plane
//! serves compiled configuration from memory, and keeps serving the last one
//! when PostgreSQL is gone.
//!
//! One connection, not a pool: every write already runs under the control
//! plane's state lock, one at a time, and the only other callers (code zips
//! read when a function is deployed, the watcher's queries) are rare. It is
//! reconnected on the next call after it is lost.
//!
//! Writers are serialised across instances by a transaction-level advisory
//! lock, so change-log sequence numbers are assigned in commit order and a
//! reader that has seen number N has seen every commit before it. The same
//! lock makes lost updates visible: a commit that writes a document another
//! instance changed since this one last looked fails with
//! [`StoreError::Conflict`] (the control plane then catches up and retries).

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio_postgres::{Client, NoTls};
use tollgate_model::usage_plan::{UsageKey, UsagePlanDoc};
use tollgate_model::{Change, State};

use crate::documents::{self, change_of, rows, touched, Body, Loading, USAGE, USAGE_PLAN};
use crate::{RemoteChanges, Store, StoreError, Wake};

/// The NOTIFY channel commits announce themselves on.
pub const CHANNEL: &str = "tollgate_changes";
/// How often the change log's head is polled, in case a notification was lost.
pub const POLL_INTERVAL: Duration = Duration::from_secs(2);
/// How long one store call may take before it counts as unavailable: a
/// control-plane client then gets 503 rather than waiting on a dead server.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Change-log rows older than this are pruned; an instance that was cut off
/// longer reloads everything.
const LOG_KEEP: &str = "1 hour";
/// Advisory lock keys (arbitrary, Tollgate's own): writers; migrations.
const WRITE_LOCK: i64 = 0x746f_6c6c_6761_7465;
const MIGRATE_LOCK: i64 = 0x746f_6c6c_6d69_6772;

/// The environment variable tests read for a PostgreSQL server to create
/// their databases in (default `postgres://root@127.0.0.1:5432/test`).
pub const PG_TEST_URL_VAR: &str = "TOLLGATE_TEST_POSTGRES";

/// The schema, one migration per version, applied in order and recorded in
/// `tollgate_migrations`. Never edit one that has shipped: add the next.
const MIGRATIONS: &[(i32, &str, &str)] = &[
    (
        1,
        "documents, code zips and the change log",
        // COLLATE "C": ids are compared bytewise (a plan's keys are the range
        // `{plan}/` to `{plan}0`, which a locale's collation would not keep).
        "CREATE TABLE documents (
        kind TEXT COLLATE \"C\" NOT NULL,
        id TEXT COLLATE \"C\" NOT NULL,
        body TEXT NOT NULL,
        PRIMARY KEY (kind, id)
    );
    CREATE TABLE code (
        id TEXT COLLATE \"C\" PRIMARY KEY,
        zip BYTEA NOT NULL
    );
    CREATE TABLE change_log (
        seq BIGSERIAL PRIMARY KEY,
        origin TEXT NOT NULL,
        kind TEXT COLLATE \"C\" NOT NULL,
        id TEXT COLLATE \"C\" NOT NULL,
        at TIMESTAMPTZ NOT NULL DEFAULT now()
    );
    CREATE TABLE change_log_pruned (through BIGINT NOT NULL);
    INSERT INTO change_log_pruned VALUES (0);",
    ),
    (
        2,
        "CloudWatch Logs: log groups, streams and events of every instance",
        // tollgate-observe's `logs::postgres` reads and writes these.
        "CREATE TABLE log_groups (
        name TEXT COLLATE \"C\" PRIMARY KEY,
        created_ms BIGINT NOT NULL,
        retention_days BIGINT,
        stored_bytes BIGINT NOT NULL DEFAULT 0,
        tags TEXT NOT NULL DEFAULT '{}'
    );
    CREATE TABLE log_streams (
        group_name TEXT COLLATE \"C\" NOT NULL REFERENCES log_groups(name) ON DELETE CASCADE,
        name TEXT COLLATE \"C\" NOT NULL,
        created_ms BIGINT NOT NULL,
        first_event_ms BIGINT,
        last_event_ms BIGINT,
        last_ingestion_ms BIGINT,
        stored_bytes BIGINT NOT NULL DEFAULT 0,
        PRIMARY KEY (group_name, name)
    );
    CREATE TABLE log_events (
        id BIGSERIAL PRIMARY KEY,
        group_name TEXT COLLATE \"C\" NOT NULL,
        stream_name TEXT COLLATE \"C\" NOT NULL,
        timestamp_ms BIGINT NOT NULL,
        ingestion_ms BIGINT NOT NULL,
        message TEXT NOT NULL
    );
    CREATE INDEX log_events_by_group ON log_events (group_name, timestamp_ms, id);
    CREATE INDEX log_events_by_stream ON log_events (group_name, stream_name, timestamp_ms, id);",
    ),
    (
        3,
        "CloudWatch metrics: each instance's per-minute statistics, merged on read",
        // tollgate-observe's `metrics::shared` publishes and reads these.
        "CREATE SEQUENCE metric_minutes_seq;
    CREATE TABLE metric_minutes (
        instance TEXT COLLATE \"C\" NOT NULL,
        series TEXT COLLATE \"C\" NOT NULL,
        minute BIGINT NOT NULL,
        stats TEXT NOT NULL,
        unit TEXT,
        seq BIGINT NOT NULL,
        PRIMARY KEY (instance, series, minute)
    );
    CREATE INDEX metric_minutes_by_seq ON metric_minutes (seq);
    CREATE INDEX metric_minutes_by_minute ON metric_minutes (minute);",
    ),
];

/// PostgreSQL, shared by every instance configured with the same URL.
pub struct PostgresStore {
    /// Taken on drop and shut down in the background (dropping a runtime
    /// inside another one's thread would panic).
    runtime: Option<tokio::runtime::Runtime>,
    shared: Arc<Shared>,
}

struct Shared {
    config: tokio_postgres::Config,
    client: tokio::sync::Mutex<Option<Client>>,
    /// This process's name in the change log: its own entries are skipped.
    origin: String,
    /// The highest change-log sequence number applied to the caller's state.
    seen: AtomicI64,
    /// When connecting last failed: calls within [`RECONNECT_PAUSE`] of it
    /// fail at once instead of each waiting out a connection attempt (the
    /// usage writer calls every 20 ms, under the control plane's lock).
    failed_at: std::sync::Mutex<Option<std::time::Instant>>,
}

/// How long after a failed connection attempt calls fail without trying.
pub(crate) const RECONNECT_PAUSE: Duration = Duration::from_secs(1);

impl PostgresStore {
    /// Connects to `url` (`postgres://user[:password]@host[:port]/database`)
    /// and brings the schema up to date.
    pub fn open(url: &str) -> Result<PostgresStore, StoreError> {
        let config = configure(url)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("tollgate-postgres")
            .enable_all()
            .build()
            .map_err(|e| StoreError::Unavailable(format!("cannot start a runtime: {e}")))?;
        let store = PostgresStore {
            runtime: Some(runtime),
            shared: Arc::new(Shared {
                config,
                client: tokio::sync::Mutex::new(None),
                origin: format!("{}-{}-{:08x}", hostname(), std::process::id(), rand_u32()),
                seen: AtomicI64::new(0),
                failed_at: std::sync::Mutex::new(None),
            }),
        };
        store.call(|shared| async move {
            let mut guard = shared.client.lock().await;
            let client = shared.connected(&mut guard).await?;
            migrate(client).await
        })?;
        Ok(store)
    }

    /// Runs `f` on the store's runtime and waits for it, from any thread
    /// (a blocking one, or the server's runtime at start-up).
    fn call<T, F, Fut>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(Arc<Shared>) -> Fut,
        Fut: Future<Output = Result<T, StoreError>> + Send + 'static,
    {
        let Some(runtime) = &self.runtime else {
            return Err(StoreError::Unavailable("the store is closed".into()));
        };
        let shared = self.shared.clone();
        let fut = f(shared.clone());
        let (done, result) = std::sync::mpsc::sync_channel(1);
        runtime.spawn(async move {
            let outcome = match tokio::time::timeout(CALL_TIMEOUT, fut).await {
                Ok(outcome) => outcome,
                Err(_) => Err(StoreError::Unavailable(format!(
                    "no answer within {} s",
                    CALL_TIMEOUT.as_secs()
                ))),
            };
            if matches!(outcome, Err(StoreError::Unavailable(_))) {
                // The next call starts on a fresh connection.
                if let Ok(mut guard) = shared.client.try_lock() {
                    *guard = None;
                }
            }
            let _ = done.send(outcome);
        });
        result
            .recv()
            .map_err(|_| StoreError::Unavailable("the store's runtime stopped".into()))?
    }

    /// Whether `url` is a connection URL PostgreSQL's client understands
    /// (checked at start-up, before anything connects).
    pub fn check_url(url: &str) -> Result<(), String> {
        url.parse::<tokio_postgres::Config>()
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    /// This process's name in the change log.
    pub fn origin(&self) -> &str {
        &self.shared.origin
    }
}

impl Drop for PostgresStore {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl Shared {
    /// The connection, (re)opened if there is none or it was lost.
    async fn connected<'a>(
        &self,
        guard: &'a mut Option<Client>,
    ) -> Result<&'a mut Client, StoreError> {
        if guard.as_ref().is_none_or(Client::is_closed) {
            let paused = self
                .failed_at
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .is_some_and(|at| at.elapsed() < RECONNECT_PAUSE);
            if paused {
                return Err(StoreError::Unavailable(
                    "not connected (the last attempt failed just now)".into(),
                ));
            }
            // Whatever stops a connection now (refused, a database not
            // accepting connections, a server starting up) may pass.
            let connected = self.config.connect(NoTls).await;
            *self.failed_at.lock().unwrap_or_else(|e| e.into_inner()) =
                connected.is_err().then(std::time::Instant::now);
            let (client, connection) =
                connected.map_err(|e| StoreError::Unavailable(format!("cannot connect: {e}")))?;
            tokio::spawn(async move {
                if let Err(e) = connection.await {
                    tracing::warn!(error = %e, "PostgreSQL connection lost");
                }
            });
            *guard = Some(client);
        }
        guard
            .as_mut()
            .ok_or_else(|| StoreError::Unavailable("no connection".into()))
    }
}

/// The connection settings every Tollgate connection uses.
pub(crate) fn configure(url: &str) -> Result<tokio_postgres::Config, StoreError> {
    let mut config: tokio_postgres::Config = url
        .parse()
        .map_err(|e| StoreError::Schema(format!("invalid PostgreSQL URL: {e}")))?;
    config
        .connect_timeout(CONNECT_TIMEOUT)
        .keepalives(true)
        .keepalives_idle(Duration::from_secs(10))
        .application_name("tollgate");
    Ok(config)
}

/// A short random number (origins of two processes with one pid on one host differ).
fn rand_u32() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default(),
    );
    h.finish() as u32
}

fn hostname() -> String {
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "tollgate".into())
}

/// A tokio-postgres error as a store error: connection trouble (no server,
/// a lost or terminated connection, a server shutting down) is
/// [`StoreError::Unavailable`]; the rest is the database's own answer.
pub(crate) fn pg_error(e: tokio_postgres::Error) -> StoreError {
    let unavailable = match e.code() {
        // Class 08: connection exception; 57P01..57P03: admin/crash
        // shutdown, cannot connect now; 53300: too many connections.
        Some(code) => {
            let code = code.code();
            code.starts_with("08") || code.starts_with("57P") || code == "53300"
        }
        None => e.is_closed() || e.as_db_error().is_none(),
    };
    if unavailable {
        StoreError::Unavailable(e.to_string())
    } else {
        StoreError::Database(Box::new(e))
    }
}

pub(crate) async fn migrate(client: &mut Client) -> Result<(), StoreError> {
    let tx = client.transaction().await.map_err(pg_error)?;
    // Two instances starting at once: the second waits, then finds it done.
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATE_LOCK])
        .await
        .map_err(pg_error)?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS tollgate_migrations (
            version INTEGER PRIMARY KEY,
            description TEXT NOT NULL,
            applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
        )",
    )
    .await
    .map_err(pg_error)?;
    let applied: i32 = tx
        .query_one(
            "SELECT COALESCE(MAX(version), 0) FROM tollgate_migrations",
            &[],
        )
        .await
        .map_err(pg_error)?
        .get(0);
    let known = MIGRATIONS.last().map_or(0, |m| m.0);
    if applied > known {
        return Err(StoreError::Schema(format!(
            "the database's schema is version {applied}, newer than this Tollgate knows ({known}): upgrade Tollgate"
        )));
    }
    for (version, description, sql) in MIGRATIONS.iter().filter(|m| m.0 > applied) {
        tx.batch_execute(sql).await.map_err(pg_error)?;
        tx.execute(
            "INSERT INTO tollgate_migrations (version, description) VALUES ($1, $2)",
            &[version, description],
        )
        .await
        .map_err(pg_error)?;
        tracing::info!(version, description, "PostgreSQL schema migrated");
    }
    tx.commit().await.map_err(pg_error)
}

/// Everything stored, read in one snapshot, with the change-log position it
/// corresponds to.
async fn load_all(client: &mut Client) -> Result<(Loading, i64), StoreError> {
    let tx = client
        .build_transaction()
        .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await
        .map_err(pg_error)?;
    // Past what was pruned, even when the log is empty now.
    let seq: i64 = tx
        .query_one(
            "SELECT GREATEST((SELECT COALESCE(MAX(seq), 0) FROM change_log),
                             (SELECT through FROM change_log_pruned))",
            &[],
        )
        .await
        .map_err(pg_error)?
        .get(0);
    let mut loading = Loading::default();
    for row in tx
        .query("SELECT kind, id, body FROM documents", &[])
        .await
        .map_err(pg_error)?
    {
        loading.row(row.get(0), row.get(1), row.get(2))?;
    }
    for row in tx
        .query("SELECT id FROM code", &[])
        .await
        .map_err(pg_error)?
    {
        loading.state.code.insert(row.get(0));
    }
    tx.commit().await.map_err(pg_error)?;
    Ok((loading, seq))
}

/// What one commit writes, owned (it crosses to the store's runtime).
struct Write {
    rows: Vec<documents::Row>,
    code: Vec<(String, Option<Arc<Vec<u8>>>)>,
    touched: Vec<(&'static str, String)>,
}

async fn write(shared: &Shared, write: Write) -> Result<(), StoreError> {
    let mut guard = shared.client.lock().await;
    let client = shared.connected(&mut guard).await?;
    let tx = client.transaction().await.map_err(pg_error)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&WRITE_LOCK])
        .await
        .map_err(pg_error)?;
    let (kinds, ids): (Vec<&str>, Vec<&str>) =
        write.touched.iter().map(|(k, i)| (*k, i.as_str())).unzip();
    // A document another instance changed after this one last looked: its
    // write would undo that change unseen.
    let seen = shared.seen.load(Ordering::Acquire);
    if let Some(row) = tx
        .query_opt(
            "SELECT kind, id FROM change_log
             WHERE seq > $1 AND origin <> $2
               AND (kind, id) IN (SELECT * FROM unnest($3::text[], $4::text[]))
             LIMIT 1",
            &[&seen, &shared.origin, &kinds, &ids],
        )
        .await
        .map_err(pg_error)?
    {
        return Err(StoreError::Conflict {
            kind: row.get(0),
            id: row.get(1),
        });
    }
    let upsert = tx
        .prepare(
            "INSERT INTO documents (kind, id, body) VALUES ($1, $2, $3)
             ON CONFLICT (kind, id) DO UPDATE SET body = excluded.body",
        )
        .await
        .map_err(pg_error)?;
    let delete = tx
        .prepare("DELETE FROM documents WHERE kind = $1 AND id = $2")
        .await
        .map_err(pg_error)?;
    for row in &write.rows {
        match &row.body {
            Body::Put(body) => tx.execute(&upsert, &[&row.kind, &row.id, body]).await,
            Body::Delete => tx.execute(&delete, &[&row.kind, &row.id]).await,
            // Ids `{id}/…`: from `{id}/` up to `{id}0` ('0' follows '/').
            Body::DeleteUnder => {
                tx.execute(
                    "DELETE FROM documents WHERE kind = $1 AND id >= $2 AND id < $3",
                    &[&row.kind, &format!("{}/", row.id), &format!("{}0", row.id)],
                )
                .await
            }
        }
        .map_err(pg_error)?;
    }
    for (id, zip) in &write.code {
        match zip {
            Some(zip) => {
                tx.execute(
                    "INSERT INTO code (id, zip) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING",
                    &[id, &zip.as_slice()],
                )
                .await
            }
            None => tx.execute("DELETE FROM code WHERE id = $1", &[id]).await,
        }
        .map_err(pg_error)?;
    }
    if !kinds.is_empty() {
        tx.execute(
            "INSERT INTO change_log (origin, kind, id)
             SELECT $1, * FROM unnest($2::text[], $3::text[])",
            &[&shared.origin, &kinds, &ids],
        )
        .await
        .map_err(pg_error)?;
        // Which documents changed, for whoever listens (psql too); the
        // receivers read the log itself, so a cut-short payload loses nothing.
        let mut payload = String::new();
        for (kind, id) in &write.touched {
            if payload.len() + kind.len() + id.len() + 2 > 7000 {
                payload.push_str("...");
                break;
            }
            if !payload.is_empty() {
                payload.push(',');
            }
            payload.push_str(kind);
            payload.push('/');
            payload.push_str(id);
        }
        tx.execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &payload])
            .await
            .map_err(pg_error)?;
    }
    tx.commit().await.map_err(pg_error)
}

/// Documents changed by other instances after `seen`, as they are now.
async fn remote(shared: &Shared) -> Result<(RemoteChanges, i64), StoreError> {
    let mut guard = shared.client.lock().await;
    let client = shared.connected(&mut guard).await?;
    let seen = shared.seen.load(Ordering::Acquire);
    let tx = client
        .build_transaction()
        .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await
        .map_err(pg_error)?;
    let pruned: i64 = tx
        .query_one("SELECT through FROM change_log_pruned", &[])
        .await
        .map_err(pg_error)?
        .get(0);
    if pruned > seen {
        drop(tx);
        let (loading, seq) = load_all(client).await?;
        let (state, _) = loading.finish();
        return Ok((RemoteChanges::Reload(Box::new(state)), seq));
    }
    let log = tx
        .query(
            "SELECT seq, origin, kind, id FROM change_log WHERE seq > $1 ORDER BY seq",
            &[&seen],
        )
        .await
        .map_err(pg_error)?;
    let head = log.last().map_or(seen, |r| r.get::<_, i64>(0));
    // Each object once, where it last changed.
    let mut wanted: Vec<(String, String)> = Vec::new();
    let mut index: HashMap<(String, String), usize> = HashMap::new();
    for row in &log {
        let origin: &str = row.get(1);
        if origin == shared.origin {
            continue;
        }
        let key = (row.get::<_, String>(2), row.get::<_, String>(3));
        if let Some(i) = index.remove(&key) {
            wanted[i].0.clear();
        }
        index.insert(key.clone(), wanted.len());
        wanted.push(key);
    }
    wanted.retain(|(kind, _)| !kind.is_empty());
    if wanted.is_empty() {
        tx.commit().await.map_err(pg_error)?;
        return Ok((RemoteChanges::Apply(Vec::new()), head));
    }
    let (kinds, ids): (Vec<&str>, Vec<&str>) =
        wanted.iter().map(|(k, i)| (k.as_str(), i.as_str())).unzip();
    let mut bodies: HashMap<(String, String), String> = HashMap::new();
    for row in tx
        .query(
            "SELECT kind, id, body FROM documents
             WHERE (kind, id) IN (SELECT * FROM unnest($1::text[], $2::text[]))",
            &[&kinds, &ids],
        )
        .await
        .map_err(pg_error)?
    {
        bodies.insert((row.get(0), row.get(1)), row.get(2));
    }
    let codes: Vec<&str> = wanted
        .iter()
        .filter(|(k, _)| k == documents::CODE)
        .map(|(_, i)| i.as_str())
        .collect();
    let mut present_code: HashSet<String> = HashSet::new();
    if !codes.is_empty() {
        for row in tx
            .query("SELECT id FROM code WHERE id = ANY($1)", &[&codes])
            .await
            .map_err(pg_error)?
        {
            present_code.insert(row.get(0));
        }
    }
    // A changed plan comes with its keys as they are now.
    let plans: Vec<&str> = wanted
        .iter()
        .filter(|(k, _)| k == USAGE_PLAN)
        .map(|(_, i)| i.as_str())
        .collect();
    let mut plan_keys: HashMap<String, Vec<String>> = HashMap::new();
    if !plans.is_empty() {
        for row in tx
            .query(
                "SELECT id FROM documents WHERE kind = $1 AND split_part(id, '/', 1) = ANY($2)",
                &[&documents::USAGE_PLAN_KEY, &plans],
            )
            .await
            .map_err(pg_error)?
        {
            let id: String = row.get(0);
            if let Some((plan, key)) = id.split_once('/') {
                plan_keys
                    .entry(plan.to_string())
                    .or_default()
                    .push(key.to_string());
            }
        }
    }
    tx.commit().await.map_err(pg_error)?;
    let mut changes = Vec::with_capacity(wanted.len());
    for (kind, id) in &wanted {
        let body = if kind == documents::CODE {
            present_code.contains(id).then_some("")
        } else {
            bodies.get(&(kind.clone(), id.clone())).map(String::as_str)
        };
        let Some(mut change) = change_of(kind, id, body)? else {
            continue;
        };
        if let Change::UsagePlan(plan_id, Some(doc)) = &mut change {
            let doc: &mut UsagePlanDoc = Arc::make_mut(doc);
            doc.key_ids = plan_keys
                .remove(plan_id)
                .unwrap_or_default()
                .into_iter()
                .collect();
        }
        changes.push(change);
    }
    Ok((RemoteChanges::Apply(changes), head))
}

impl Store for PostgresStore {
    fn load(&self) -> Result<State, StoreError> {
        let (loading, seq) = self.call(|shared| async move {
            let mut guard = shared.client.lock().await;
            let client = shared.connected(&mut guard).await?;
            load_all(client).await
        })?;
        let (state, rewrite) = loading.finish();
        self.shared.seen.store(seq, Ordering::Release);
        self.commit(&rewrite)?;
        Ok(state)
    }

    fn commit(&self, changes: &[Change]) -> Result<(), StoreError> {
        if changes.is_empty() {
            return Ok(());
        }
        let rows = rows(changes)?;
        let touched = touched(&rows, changes);
        let code = changes
            .iter()
            .filter_map(|c| match c {
                Change::Code(id, zip) => Some((id.clone(), zip.clone())),
                _ => None,
            })
            .collect();
        let w = Write {
            rows,
            code,
            touched,
        };
        self.call(|shared| async move { write(&shared, w).await })
    }

    /// Counts go straight to their documents (no log: PostgreSQL's MVCC
    /// writes a new row version either way), one statement per batch, and
    /// are not announced: they are counters, not configuration.
    fn record_usage(&self, counts: &[(UsageKey, i64)]) -> Result<(), StoreError> {
        if counts.is_empty() {
            return Ok(());
        }
        // The latest count of each day (a statement may not update a row twice).
        let mut latest: HashMap<String, i64> = HashMap::new();
        for (key, used) in counts {
            latest.insert(key.store_id(), *used);
        }
        let (ids, bodies): (Vec<String>, Vec<String>) = latest
            .into_iter()
            .map(|(id, used)| (id, used.to_string()))
            .unzip();
        self.call(|shared| async move {
            let mut guard = shared.client.lock().await;
            let client = shared.connected(&mut guard).await?;
            client
                .execute(
                    "INSERT INTO documents (kind, id, body)
                     SELECT $1, * FROM unnest($2::text[], $3::text[])
                     ON CONFLICT (kind, id) DO UPDATE SET body = excluded.body",
                    &[&USAGE, &ids, &bodies],
                )
                .await
                .map_err(pg_error)?;
            Ok(())
        })
    }

    fn code(&self, id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let id = id.to_string();
        self.call(|shared| async move {
            let mut guard = shared.client.lock().await;
            let client = shared.connected(&mut guard).await?;
            let row = client
                .query_opt("SELECT zip FROM code WHERE id = $1", &[&id])
                .await
                .map_err(pg_error)?;
            Ok(row.map(|r| r.get(0)))
        })
    }

    fn remote_changes(&self) -> Result<RemoteChanges, StoreError> {
        let (changes, head) = self.call(|shared| async move { remote(&shared).await })?;
        self.shared.seen.fetch_max(head, Ordering::AcqRel);
        Ok(changes)
    }

    fn watch(&self, wake: Wake) {
        let Some(runtime) = &self.runtime else { return };
        runtime.spawn(watch(self.shared.clone(), Arc::new(wake)));
    }

    fn is_empty(&self) -> Result<bool, StoreError> {
        self.call(|shared| async move {
            let mut guard = shared.client.lock().await;
            let client = shared.connected(&mut guard).await?;
            let row = client
                .query_one(
                    "SELECT NOT EXISTS (SELECT 1 FROM documents) AND NOT EXISTS (SELECT 1 FROM code)",
                    &[],
                )
                .await
                .map_err(pg_error)?;
            Ok(row.get(0))
        })
    }

    fn clear(&self) -> Result<(), StoreError> {
        self.call(|shared| async move {
            let mut guard = shared.client.lock().await;
            let client = shared.connected(&mut guard).await?;
            client
                .batch_execute(
                    "BEGIN;
                     DELETE FROM documents; DELETE FROM code; DELETE FROM change_log;
                     UPDATE change_log_pruned SET through = (SELECT last_value FROM change_log_seq_seq);
                     COMMIT;",
                )
                .await
                .map_err(pg_error)
        })
    }
}

/// Wakes the control plane when another instance may have committed: on a
/// notification, when the polled head of the change log moved, and after
/// the LISTEN connection is re-established (notifications sent while it was
/// down are lost). Also prunes the change log now and then.
async fn watch(shared: Arc<Shared>, wake: Arc<Wake>) {
    use futures_util::StreamExt;
    let wake_now = {
        let wake = wake.clone();
        move || {
            let wake = wake.clone();
            // The control plane takes its state lock and calls this store:
            // never on this runtime's only worker.
            tokio::task::spawn_blocking(move || wake());
        }
    };
    let mut last_prune = tokio::time::Instant::now();
    loop {
        let connected = shared.config.connect(NoTls).await;
        let (client, mut connection) = match connected {
            Ok(pair) => pair,
            Err(e) => {
                tracing::debug!(error = %e, "change listener cannot connect; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        let (notes_tx, mut notes) = tokio::sync::mpsc::unbounded_channel();
        let driver = tokio::spawn(async move {
            let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
            while let Some(message) = messages.next().await {
                match message {
                    Ok(tokio_postgres::AsyncMessage::Notification(n)) => {
                        let _ = notes_tx.send(n.process_id());
                    }
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, "change listener connection lost");
                        return;
                    }
                }
            }
        });
        if let Err(e) = client.batch_execute(&format!("LISTEN {CHANNEL}")).await {
            tracing::warn!(error = %e, "cannot LISTEN for changes; retrying");
            driver.abort();
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        }
        // Whatever happened while not listening.
        wake_now();
        let mut poll = tokio::time::interval(POLL_INTERVAL);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                note = notes.recv() => {
                    if note.is_none() {
                        break;
                    }
                    // Several at once wake once.
                    while notes.try_recv().is_ok() {}
                    wake_now();
                }
                _ = poll.tick() => {
                    let head = tokio::time::timeout(
                        CALL_TIMEOUT,
                        client.query_one("SELECT COALESCE(MAX(seq), 0) FROM change_log", &[]),
                    )
                    .await;
                    match head {
                        Ok(Ok(row)) => {
                            if row.get::<_, i64>(0) > shared.seen.load(Ordering::Acquire) {
                                wake_now();
                            }
                        }
                        _ => break,
                    }
                    if last_prune.elapsed() > Duration::from_secs(600) {
                        last_prune = tokio::time::Instant::now();
                        if let Err(e) = prune(&client).await {
                            tracing::warn!(error = %e, "cannot prune the change log");
                        }
                    }
                }
            }
        }
        driver.abort();
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn prune(client: &Client) -> Result<(), tokio_postgres::Error> {
    client
        .batch_execute(&format!(
            "BEGIN;
             SELECT pg_advisory_xact_lock({WRITE_LOCK});
             UPDATE change_log_pruned SET through = GREATEST(through,
                 (SELECT COALESCE(MAX(seq), 0) FROM change_log WHERE at < now() - interval '{LOG_KEEP}'));
             DELETE FROM change_log WHERE seq <= (SELECT through FROM change_log_pruned);
             COMMIT;"
        ))
        .await
}

/// A database of its own for one test, on the PostgreSQL server tests use
/// ([`PG_TEST_URL_VAR`], else `postgres://root@127.0.0.1:5432/test`, else the
/// same as user `postgres`), dropped when the value is.
#[cfg(test)]
pub(crate) mod test_db {
    use super::*;

    pub struct TestDb {
        pub url: String,
        admin: String,
        name: String,
    }

    fn admin_urls() -> Vec<String> {
        match std::env::var(PG_TEST_URL_VAR) {
            Ok(url) => vec![url],
            Err(_) => vec![
                "postgres://root@127.0.0.1:5432/test".into(),
                "postgres://postgres@127.0.0.1:5432/test".into(),
            ],
        }
    }

    fn run(admin: &str, sql: String) -> Result<(), tokio_postgres::Error> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        runtime.block_on(async {
            let (client, connection) = admin
                .parse::<tokio_postgres::Config>()?
                .connect_timeout(Duration::from_secs(3))
                .connect(NoTls)
                .await?;
            tokio::spawn(connection);
            client.batch_execute(&sql).await
        })
    }

    impl TestDb {
        /// None (a skipped test) when no server answers, except under
        /// CI=true, where that fails the test.
        pub fn create() -> Option<TestDb> {
            let name = format!("tollgate_test_{:08x}{}", rand_u32(), std::process::id());
            let mut last = None;
            for admin in admin_urls() {
                match run(&admin, format!("CREATE DATABASE {name}")) {
                    Ok(()) => {
                        let url = match admin.rsplit_once('/') {
                            Some((base, _)) => format!("{base}/{name}"),
                            None => admin.clone(),
                        };
                        return Some(TestDb { url, admin, name });
                    }
                    Err(e) => last = Some(e),
                }
            }
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "PostgreSQL is required under CI=true (127.0.0.1:5432, database test): {last:?}"
            );
            eprintln!("skipping: no PostgreSQL on 127.0.0.1:5432 ({last:?})");
            None
        }

        /// Ends every connection to this database (as a restart of the server would).
        pub fn terminate_connections(&self) {
            run(
                &self.admin,
                format!(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{}'",
                    self.name
                ),
            )
            .expect("terminate connections");
        }
    }

    impl Drop for TestDb {
        fn drop(&mut self) {
            let _ = run(
                &self.admin,
                format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use tollgate_model::api_key::ApiKey;
    use tollgate_model::usage_plan::UsagePlan;

    use super::test_db::TestDb;
    use super::*;

    fn key(id: &str, value: &str) -> Arc<ApiKey> {
        Arc::new(ApiKey {
            id: id.into(),
            value: value.into(),
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

    fn usage(key: &str) -> UsageKey {
        UsageKey {
            plan_id: "p".into(),
            key_id: key.into(),
            day: "2026-12-07".into(),
        }
    }

    fn keys_of(state: &State, plan_id: &str) -> Vec<String> {
        state
            .usage_plans
            .get(plan_id)
            .map(|p| p.key_ids.iter().cloned().collect())
            .unwrap_or_default()
    }

    #[test]
    fn commits_reload_and_migrations_are_recorded() -> Result<(), StoreError> {
        let Some(db) = TestDb::create() else {
            return Ok(());
        };
        {
            let store = PostgresStore::open(&db.url)?;
            assert!(store.is_empty()?);
            store.commit(&[
                Change::ApiKey("a".into(), Some(key("a", &"a".repeat(30)))),
                Change::ApiKey("b".into(), Some(key("b", &"b".repeat(30)))),
                plan("p", &["a", "b"]),
                plan("p2", &["a"]),
                Change::Code("c1".into(), Some(Arc::new(vec![1, 2, 3]))),
            ])?;
            store.commit(&[
                Change::ApiKey("a".into(), None),
                Change::UsagePlanKey {
                    plan_id: "p".into(),
                    key_id: "a".into(),
                    member: false,
                },
            ])?;
            store.record_usage(&[(usage("b"), 3), (usage("b"), 4)])?;
            assert!(!store.is_empty()?);
        }
        // Opened again: the schema is not migrated twice.
        let store = PostgresStore::open(&db.url)?;
        let state = store.load()?;
        assert_eq!(state.api_keys.keys().collect::<Vec<_>>(), ["b"]);
        assert_eq!(keys_of(&state, "p"), ["b"]);
        assert_eq!(keys_of(&state, "p2"), ["a"]);
        assert_eq!(state.usage.get(&usage("b")), Some(&4));
        assert!(state.code.contains("c1"));
        assert!(state.api_key_value_taken(&"b".repeat(30)));
        assert_eq!(store.code("c1")?, Some(vec![1, 2, 3]));
        assert_eq!(store.code("c2")?, None);
        let versions = store.call(|shared| async move {
            let mut guard = shared.client.lock().await;
            let client = shared.connected(&mut guard).await?;
            let rows = client
                .query(
                    "SELECT version FROM tollgate_migrations ORDER BY version",
                    &[],
                )
                .await
                .map_err(pg_error)?;
            Ok(rows.iter().map(|r| r.get::<_, i32>(0)).collect::<Vec<_>>())
        })?;
        assert_eq!(versions, [1, 2, 3]);
        // A whole plan written again holds exactly its keys; deleted, none.
        store.commit(&[plan("p", &["d"])])?;
        assert_eq!(keys_of(&store.load()?, "p"), ["d"]);
        store.commit(&[Change::UsagePlan("p".into(), None)])?;
        let state = store.load()?;
        assert!(!state.usage_plans.contains_key("p"));
        assert_eq!(keys_of(&state, "p2"), ["a"]);
        store.clear()?;
        assert!(store.is_empty()?);
        assert!(store.load()?.api_keys.is_empty());
        Ok(())
    }

    fn applied(store: &PostgresStore) -> Result<Vec<Change>, StoreError> {
        match store.remote_changes()? {
            RemoteChanges::Apply(changes) => Ok(changes),
            RemoteChanges::Reload(_) => panic!("unexpected reload"),
        }
    }

    #[test]
    fn another_instance_sees_what_changed_and_only_that() -> Result<(), StoreError> {
        let Some(db) = TestDb::create() else {
            return Ok(());
        };
        let a = PostgresStore::open(&db.url)?;
        let b = PostgresStore::open(&db.url)?;
        let mut state_b = b.load()?;
        a.load()?;
        a.commit(&[
            Change::ApiKey("k".into(), Some(key("k", &"k".repeat(30)))),
            plan("p", &["k"]),
            Change::Code("z".into(), Some(Arc::new(vec![9; 10]))),
        ])?;
        a.commit(&[Change::UsagePlanKey {
            plan_id: "p".into(),
            key_id: "k2".into(),
            member: true,
        }])?;
        // A's own changes are not handed back to it.
        assert!(applied(&a)?.is_empty());
        let changes = applied(&b)?;
        state_b.apply(&changes);
        assert!(state_b.api_keys.contains_key("k"));
        assert_eq!(keys_of(&state_b, "p"), ["k", "k2"]);
        assert!(state_b.code.contains("z"));
        assert_eq!(b.code("z")?, Some(vec![9; 10]));
        // Seen once.
        assert!(applied(&b)?.is_empty());
        a.commit(&[Change::ApiKey("k".into(), None)])?;
        let changes = applied(&b)?;
        assert!(
            matches!(changes.as_slice(), [Change::ApiKey(id, None)] if id == "k"),
            "{changes:?}"
        );
        state_b.apply(&changes);
        assert!(state_b.api_keys.is_empty());
        Ok(())
    }

    #[test]
    fn a_write_over_an_unseen_change_conflicts() -> Result<(), StoreError> {
        let Some(db) = TestDb::create() else {
            return Ok(());
        };
        let a = PostgresStore::open(&db.url)?;
        let b = PostgresStore::open(&db.url)?;
        a.load()?;
        b.load()?;
        a.commit(&[Change::ApiKey("k".into(), Some(key("k", &"1".repeat(30))))])?;
        let err = b.commit(&[Change::ApiKey("k".into(), Some(key("k", &"2".repeat(30))))]);
        assert!(matches!(err, Err(StoreError::Conflict { .. })), "{err:?}");
        // Other documents are not held up.
        b.commit(&[Change::ApiKey("j".into(), Some(key("j", &"3".repeat(30))))])?;
        applied(&b)?;
        b.commit(&[Change::ApiKey("k".into(), Some(key("k", &"2".repeat(30))))])?;
        assert_eq!(&*a.load()?.api_keys["k"].value, "2".repeat(30));
        Ok(())
    }

    /// Two stores on `db`, the second loaded and watched: its wake-ups
    /// arrive on the receiver.
    fn watched_pair(
        db: &TestDb,
    ) -> Result<(PostgresStore, PostgresStore, std::sync::mpsc::Receiver<()>), StoreError> {
        let a = PostgresStore::open(&db.url)?;
        let b = PostgresStore::open(&db.url)?;
        b.load()?;
        let (woken, wakes) = std::sync::mpsc::channel();
        let woken = std::sync::Mutex::new(woken);
        b.watch(Box::new(move || {
            let _ = woken.lock().map(|w| w.send(()));
        }));
        Ok((a, b, wakes))
    }

    #[test]
    fn watchers_wake_within_a_second() -> Result<(), StoreError> {
        let Some(db) = TestDb::create() else {
            return Ok(());
        };
        let (a, b, wakes) = watched_pair(&db)?;
        // The first wake-up is the catch-up after LISTEN.
        wakes
            .recv_timeout(Duration::from_secs(5))
            .expect("a wake-up once listening");
        let started = std::time::Instant::now();
        a.commit(&[Change::ApiKey("k".into(), Some(key("k", &"k".repeat(30))))])?;
        wakes
            .recv_timeout(Duration::from_secs(1))
            .expect("a wake-up within a second of the commit");
        assert!(started.elapsed() < Duration::from_secs(1));
        assert_eq!(applied(&b)?.len(), 1);
        Ok(())
    }

    #[test]
    fn a_lost_notification_is_made_up_for_by_polling() -> Result<(), StoreError> {
        let Some(db) = TestDb::create() else {
            return Ok(());
        };
        let (a, b, wakes) = watched_pair(&db)?;
        wakes
            .recv_timeout(Duration::from_secs(5))
            .expect("a wake-up once listening");
        // A change logged without its NOTIFY (as if the notification were lost).
        let body = serde_json::to_string(key("k", &"k".repeat(30)).as_ref())?;
        a.call(|shared| async move {
            let mut guard = shared.client.lock().await;
            let client = shared.connected(&mut guard).await?;
            client
                .batch_execute(&format!(
                    "INSERT INTO documents VALUES ('apikey', 'k', '{body}');
                     INSERT INTO change_log (origin, kind, id) VALUES ('elsewhere', 'apikey', 'k');"
                ))
                .await
                .map_err(pg_error)
        })?;
        wakes
            .recv_timeout(POLL_INTERVAL + Duration::from_secs(1))
            .expect("a wake-up from the poll");
        let changes = applied(&b)?;
        assert!(
            matches!(changes.as_slice(), [Change::ApiKey(id, Some(_))] if id == "k"),
            "{changes:?}"
        );
        Ok(())
    }

    #[test]
    fn lost_connections_fail_as_unavailable_then_recover() -> Result<(), StoreError> {
        let Some(db) = TestDb::create() else {
            return Ok(());
        };
        let store = PostgresStore::open(&db.url)?;
        store.load()?;
        store.commit(&[Change::ApiKey("a".into(), Some(key("a", &"a".repeat(30))))])?;
        db.terminate_connections();
        std::thread::sleep(Duration::from_millis(200));
        // The lost connection is noticed, and the next call reconnects.
        let mut outcomes = BTreeMap::new();
        for attempt in 0..3 {
            let r = store.commit(&[Change::ApiKey(
                format!("b{attempt}"),
                Some(key(
                    &format!("b{attempt}"),
                    &format!("{attempt}").repeat(30),
                )),
            )]);
            outcomes.insert(
                attempt,
                r.as_ref().map_err(StoreError::is_unavailable).err(),
            );
            if r.is_ok() {
                break;
            }
        }
        assert!(
            outcomes
                .values()
                .all(|o| o.is_none_or(|unavailable| unavailable)),
            "{outcomes:?}"
        );
        assert!(
            outcomes.values().last().is_some_and(Option::is_none),
            "{outcomes:?}"
        );
        // Nothing listens on this port: unavailable, not a database error.
        let err = PostgresStore::open("postgres://root@127.0.0.1:1/test").err();
        assert!(
            err.as_ref().is_some_and(StoreError::is_unavailable),
            "{err:?}"
        );
        Ok(())
    }
}

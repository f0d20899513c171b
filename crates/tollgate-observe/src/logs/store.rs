//! Log groups, streams and events in their own SQLite file
//! (`DATA_DIR/logs.db`, WAL): one connection writes (batches from the
//! access-log writer, PutLogEvents), another reads, so a query never waits
//! for a write nor holds one up.

use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension};

use super::filter::FilterPattern;

/// What went wrong, in CloudWatch Logs' terms.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("The specified log group does not exist.")]
    GroupNotFound,
    #[error("The specified log stream does not exist.")]
    StreamNotFound,
    #[error("The specified log group already exists")]
    GroupExists,
    #[error("The specified log stream already exists")]
    StreamExists,
    #[error("the log store failed: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The shared (PostgreSQL) log store failed or cannot be reached.
    #[error("the shared log store failed: {0}")]
    Shared(String),
}

/// A log group as DescribeLogGroups shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct LogGroup {
    pub name: String,
    pub created_ms: i64,
    pub retention_days: Option<i64>,
    pub stored_bytes: i64,
    pub tags: serde_json::Map<String, serde_json::Value>,
}

/// A log stream as DescribeLogStreams shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct LogStream {
    pub name: String,
    pub created_ms: i64,
    pub first_event_ms: Option<i64>,
    pub last_event_ms: Option<i64>,
    pub last_ingestion_ms: Option<i64>,
    pub stored_bytes: i64,
}

/// One stored event.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub id: i64,
    pub stream: String,
    pub timestamp_ms: i64,
    pub ingestion_ms: i64,
    pub message: String,
}

/// Events (timestamp in ms, message) for one stream of one group.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamBatch {
    pub group: String,
    pub stream: String,
    pub events: Vec<(i64, String)>,
}

/// Where a paged read starts: after (timestamp, id) in time order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Position {
    pub timestamp_ms: i64,
    pub id: i64,
}

/// A FilterLogEvents query.
pub struct Filter<'a> {
    pub group: &'a str,
    pub streams: Option<&'a [String]>,
    pub stream_prefix: Option<&'a str>,
    pub start_ms: Option<i64>,
    pub end_ms: Option<i64>,
    pub pattern: Option<&'a FilterPattern>,
    pub after: Option<Position>,
    pub limit: usize,
}

/// The events a filter found, and where to go on when there may be more.
pub struct Filtered {
    pub events: Vec<Event>,
    pub next: Option<Position>,
}

/// Rows a FilterLogEvents call looks at before it answers with what it has
/// and a token to go on (as AWS does, a query never runs unbounded).
pub(crate) const SCAN_PER_CALL: usize = 200_000;

/// Where log groups, streams and events are kept: this instance's SQLite
/// file (the default), or the PostgreSQL database several instances share
/// (`serve --store postgres://…`), so each sees the others' groups and lines.
/// The operations and their answers are the same on both.
pub enum LogStore {
    Sqlite(SqliteLogs),
    Postgres(super::postgres::PgLogs),
}

/// Calls the same method on whichever backend holds the logs.
macro_rules! backends {
    ($(pub fn $name:ident(&self $(, $arg:ident: $ty:ty)*) -> $ret:ty;)*) => {
        impl LogStore {
            $(pub fn $name(&self $(, $arg: $ty)*) -> $ret {
                match self {
                    LogStore::Sqlite(s) => s.$name($($arg),*),
                    LogStore::Postgres(p) => p.$name($($arg),*),
                }
            })*
        }
    };
}

backends! {
    pub fn create_group(&self, name: &str, now_ms: i64, tags: &serde_json::Map<String, serde_json::Value>) -> Result<(), StoreError>;
    pub fn ensure_group(&self, name: &str, now_ms: i64) -> Result<bool, StoreError>;
    pub fn delete_group(&self, name: &str) -> Result<(), StoreError>;
    pub fn group(&self, name: &str) -> Result<LogGroup, StoreError>;
    pub fn groups(&self, prefix: &str, after: Option<&str>, limit: usize) -> Result<Vec<LogGroup>, StoreError>;
    pub fn set_retention(&self, name: &str, days: Option<i64>) -> Result<(), StoreError>;
    pub fn tag_group(&self, name: &str, tags: &serde_json::Map<String, serde_json::Value>, remove: &[String]) -> Result<(), StoreError>;
    pub fn create_stream(&self, group: &str, name: &str, now_ms: i64) -> Result<(), StoreError>;
    pub fn delete_stream(&self, group: &str, name: &str) -> Result<(), StoreError>;
    pub fn streams(&self, group: &str, prefix: &str, by_last_event: bool, descending: bool) -> Result<Vec<LogStream>, StoreError>;
    pub fn put_events(&self, group: &str, stream: &str, events: &[(i64, String)], now_ms: i64) -> Result<(), StoreError>;
    pub fn append_batches(&self, batches: &[StreamBatch], now_ms: i64) -> Result<Vec<String>, StoreError>;
    pub fn stream_events(&self, group: &str, stream: &str, start_ms: Option<i64>, end_ms: Option<i64>, from: EventsFrom, limit: usize) -> Result<Vec<Event>, StoreError>;
    pub fn filter(&self, f: &Filter<'_>) -> Result<Filtered, StoreError>;
    pub fn enforce_retention(&self, now_ms: i64) -> Result<usize, StoreError>;
}

impl LogStore {
    /// Opens (or creates) the log store in `data_dir/logs.db`.
    pub fn open(data_dir: &Path) -> Result<LogStore, StoreError> {
        SqliteLogs::open(data_dir).map(LogStore::Sqlite)
    }

    pub fn open_file(path: &Path) -> Result<LogStore, StoreError> {
        SqliteLogs::open_file(path).map(LogStore::Sqlite)
    }

    /// The log tables of the shared database at `url`.
    pub fn shared(url: &str) -> Result<LogStore, StoreError> {
        super::postgres::PgLogs::open(url).map(LogStore::Postgres)
    }
}

/// The embedded log store: `logs.db` in the data directory.
pub struct SqliteLogs {
    writer: Mutex<Connection>,
    reader: Mutex<Connection>,
}

fn open(path: &Path) -> Result<Connection, rusqlite::Error> {
    let conn = Connection::open(path)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.busy_timeout(Duration::from_secs(5))?;
    Ok(conn)
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS log_groups (
    name TEXT PRIMARY KEY,
    created_ms INTEGER NOT NULL,
    retention_days INTEGER,
    stored_bytes INTEGER NOT NULL DEFAULT 0,
    tags TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS log_streams (
    group_name TEXT NOT NULL REFERENCES log_groups(name) ON DELETE CASCADE,
    name TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    first_event_ms INTEGER,
    last_event_ms INTEGER,
    last_ingestion_ms INTEGER,
    stored_bytes INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (group_name, name)
);
CREATE TABLE IF NOT EXISTS log_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    group_name TEXT NOT NULL,
    stream_name TEXT NOT NULL,
    timestamp_ms INTEGER NOT NULL,
    ingestion_ms INTEGER NOT NULL,
    message TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS log_events_by_group ON log_events (group_name, timestamp_ms, id);
CREATE INDEX IF NOT EXISTS log_events_by_stream ON log_events (group_name, stream_name, timestamp_ms, id);
";

impl SqliteLogs {
    /// Opens (or creates) the log store in `data_dir/logs.db`.
    pub fn open(data_dir: &Path) -> Result<SqliteLogs, StoreError> {
        std::fs::create_dir_all(data_dir).map_err(|e| {
            StoreError::Sqlite(rusqlite::Error::ToSqlConversionFailure(Box::new(e)))
        })?;
        Self::open_file(&data_dir.join("logs.db"))
    }

    pub fn open_file(path: &Path) -> Result<SqliteLogs, StoreError> {
        let writer = open(path)?;
        writer.pragma_update(None, "foreign_keys", "ON")?;
        writer.execute_batch(SCHEMA)?;
        let reader = open(path)?;
        Ok(SqliteLogs {
            writer: Mutex::new(writer),
            reader: Mutex::new(reader),
        })
    }

    fn write<R>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        let mut conn = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut conn)
    }

    fn read<R>(
        &self,
        f: impl FnOnce(&Connection) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        let conn = self.reader.lock().unwrap_or_else(|e| e.into_inner());
        f(&conn)
    }

    pub fn create_group(
        &self,
        name: &str,
        now_ms: i64,
        tags: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<(), StoreError> {
        self.write(|c| {
            let tags = serde_json::Value::Object(tags.clone()).to_string();
            match c.execute(
                "INSERT INTO log_groups (name, created_ms, tags) VALUES (?1, ?2, ?3)",
                params![name, now_ms, tags],
            ) {
                Ok(_) => Ok(()),
                Err(rusqlite::Error::SqliteFailure(e, _))
                    if e.code == rusqlite::ErrorCode::ConstraintViolation =>
                {
                    Err(StoreError::GroupExists)
                }
                Err(e) => Err(e.into()),
            }
        })
    }

    /// Creates the group unless it exists (for writers that need one).
    pub fn ensure_group(&self, name: &str, now_ms: i64) -> Result<bool, StoreError> {
        self.write(|c| {
            let created = c.execute(
                "INSERT OR IGNORE INTO log_groups (name, created_ms) VALUES (?1, ?2)",
                params![name, now_ms],
            )?;
            Ok(created > 0)
        })
    }

    pub fn delete_group(&self, name: &str) -> Result<(), StoreError> {
        self.write(|c| {
            let tx = c.transaction()?;
            let deleted = tx.execute("DELETE FROM log_groups WHERE name = ?1", params![name])?;
            if deleted == 0 {
                return Err(StoreError::GroupNotFound);
            }
            tx.execute(
                "DELETE FROM log_streams WHERE group_name = ?1",
                params![name],
            )?;
            tx.execute(
                "DELETE FROM log_events WHERE group_name = ?1",
                params![name],
            )?;
            tx.commit()?;
            Ok(())
        })
    }

    pub fn group(&self, name: &str) -> Result<LogGroup, StoreError> {
        self.read(|c| {
            c.query_row(
                "SELECT name, created_ms, retention_days, stored_bytes, tags FROM log_groups WHERE name = ?1",
                params![name],
                group_row,
            )
            .optional()?
            .ok_or(StoreError::GroupNotFound)
        })
    }

    /// Groups in name order, after `after`, whose names start with `prefix`.
    pub fn groups(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<LogGroup>, StoreError> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT name, created_ms, retention_days, stored_bytes, tags FROM log_groups
                 WHERE substr(name, 1, length(?1)) = ?1 AND name > ?2 ORDER BY name LIMIT ?3",
            )?;
            let rows = stmt.query_map(
                params![prefix, after.unwrap_or(""), limit as i64],
                group_row,
            )?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    pub fn set_retention(&self, name: &str, days: Option<i64>) -> Result<(), StoreError> {
        self.write(|c| {
            let changed = c.execute(
                "UPDATE log_groups SET retention_days = ?2 WHERE name = ?1",
                params![name, days],
            )?;
            if changed == 0 {
                return Err(StoreError::GroupNotFound);
            }
            Ok(())
        })
    }

    /// Adds `tags` to the group's (`remove`: takes those keys away).
    pub fn tag_group(
        &self,
        name: &str,
        tags: &serde_json::Map<String, serde_json::Value>,
        remove: &[String],
    ) -> Result<(), StoreError> {
        self.write(|c| {
            let tx = c.transaction()?;
            let current: Option<String> = tx
                .query_row(
                    "SELECT tags FROM log_groups WHERE name = ?1",
                    params![name],
                    |r| r.get(0),
                )
                .optional()?;
            let current = current.ok_or(StoreError::GroupNotFound)?;
            let mut map = match serde_json::from_str::<serde_json::Value>(&current) {
                Ok(serde_json::Value::Object(m)) => m,
                _ => serde_json::Map::new(),
            };
            for (k, v) in tags {
                map.insert(k.clone(), v.clone());
            }
            for k in remove {
                map.remove(k);
            }
            tx.execute(
                "UPDATE log_groups SET tags = ?2 WHERE name = ?1",
                params![name, serde_json::Value::Object(map).to_string()],
            )?;
            tx.commit()?;
            Ok(())
        })
    }

    pub fn create_stream(&self, group: &str, name: &str, now_ms: i64) -> Result<(), StoreError> {
        self.write(|c| {
            let tx = c.transaction()?;
            group_exists(&tx, group)?;
            match tx.execute(
                "INSERT INTO log_streams (group_name, name, created_ms) VALUES (?1, ?2, ?3)",
                params![group, name, now_ms],
            ) {
                Ok(_) => {}
                Err(rusqlite::Error::SqliteFailure(e, _))
                    if e.code == rusqlite::ErrorCode::ConstraintViolation =>
                {
                    return Err(StoreError::StreamExists)
                }
                Err(e) => return Err(e.into()),
            }
            tx.commit()?;
            Ok(())
        })
    }

    pub fn delete_stream(&self, group: &str, name: &str) -> Result<(), StoreError> {
        self.write(|c| {
            let tx = c.transaction()?;
            group_exists(&tx, group)?;
            let deleted = tx.execute(
                "DELETE FROM log_streams WHERE group_name = ?1 AND name = ?2",
                params![group, name],
            )?;
            if deleted == 0 {
                return Err(StoreError::StreamNotFound);
            }
            let bytes = tx.execute(
                "DELETE FROM log_events WHERE group_name = ?1 AND stream_name = ?2",
                params![group, name],
            )?;
            let _ = bytes;
            recount_group(&tx, group)?;
            tx.commit()?;
            Ok(())
        })
    }

    /// Streams of `group` whose names start with `prefix`, by name
    /// (after `after`) or by last event time (`by_last_event`).
    pub fn streams(
        &self,
        group: &str,
        prefix: &str,
        by_last_event: bool,
        descending: bool,
    ) -> Result<Vec<LogStream>, StoreError> {
        self.read(|c| {
            group_exists(c, group)?;
            let order = match (by_last_event, descending) {
                (false, false) => "name ASC",
                (false, true) => "name DESC",
                (true, false) => "coalesce(last_event_ms, 0) ASC, name ASC",
                (true, true) => "coalesce(last_event_ms, 0) DESC, name DESC",
            };
            let mut stmt = c.prepare(&format!(
                "SELECT name, created_ms, first_event_ms, last_event_ms, last_ingestion_ms, stored_bytes
                 FROM log_streams WHERE group_name = ?1 AND substr(name, 1, length(?2)) = ?2
                 ORDER BY {order}"
            ))?;
            let rows = stmt.query_map(params![group, prefix], |r| {
                Ok(LogStream {
                    name: r.get(0)?,
                    created_ms: r.get(1)?,
                    first_event_ms: r.get(2)?,
                    last_event_ms: r.get(3)?,
                    last_ingestion_ms: r.get(4)?,
                    stored_bytes: r.get(5)?,
                })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    /// Appends events (already checked) to a stream that must exist.
    pub fn put_events(
        &self,
        group: &str,
        stream: &str,
        events: &[(i64, String)],
        now_ms: i64,
    ) -> Result<(), StoreError> {
        self.write(|c| {
            let tx = c.transaction()?;
            let exists: Option<i64> = tx
                .query_row(
                    "SELECT 1 FROM log_streams WHERE group_name = ?1 AND name = ?2",
                    params![group, stream],
                    |r| r.get(0),
                )
                .optional()?;
            if exists.is_none() {
                group_exists(&tx, group)?;
                return Err(StoreError::StreamNotFound);
            }
            append(&tx, group, stream, events, now_ms)?;
            tx.commit()?;
            Ok(())
        })
    }

    /// Appends batches for writers (access logs, function logs): each
    /// (group, stream) made when missing, all in one transaction. Returns
    /// the groups it had to make.
    pub fn append_batches(
        &self,
        batches: &[StreamBatch],
        now_ms: i64,
    ) -> Result<Vec<String>, StoreError> {
        self.write(|c| {
            let tx = c.transaction()?;
            let mut created = Vec::new();
            for StreamBatch {
                group,
                stream,
                events,
            } in batches
            {
                // Cached statements: this runs several times a second.
                let made = tx
                    .prepare_cached(
                        "INSERT OR IGNORE INTO log_groups (name, created_ms) VALUES (?1, ?2)",
                    )?
                    .execute(params![group, now_ms])?;
                if made > 0 {
                    created.push(group.clone());
                }
                tx.prepare_cached(
                    "INSERT OR IGNORE INTO log_streams (group_name, name, created_ms) VALUES (?1, ?2, ?3)",
                )?
                .execute(params![group, stream, now_ms])?;
                append(&tx, group, stream, events, now_ms)?;
            }
            tx.commit()?;
            Ok(created)
        })
    }

    /// Events of one stream in time order, from `after` (exclusive) or
    /// `before` (exclusive, reading backwards), within [start, end).
    pub fn stream_events(
        &self,
        group: &str,
        stream: &str,
        start_ms: Option<i64>,
        end_ms: Option<i64>,
        from: EventsFrom,
        limit: usize,
    ) -> Result<Vec<Event>, StoreError> {
        self.read(|c| {
            let exists: Option<i64> = c
                .query_row(
                    "SELECT 1 FROM log_streams WHERE group_name = ?1 AND name = ?2",
                    params![group, stream],
                    |r| r.get(0),
                )
                .optional()?;
            if exists.is_none() {
                group_exists(c, group)?;
                return Err(StoreError::StreamNotFound);
            }
            let start = start_ms.unwrap_or(i64::MIN);
            let end = end_ms.unwrap_or(i64::MAX);
            let (cmp, order, pos) = match from {
                EventsFrom::Head => (">", "ASC", Position { timestamp_ms: i64::MIN, id: i64::MIN }),
                EventsFrom::After(p) => (">", "ASC", p),
                EventsFrom::Tail => ("<", "DESC", Position { timestamp_ms: i64::MAX, id: i64::MAX }),
                EventsFrom::Before(p) => ("<", "DESC", p),
            };
            let mut stmt = c.prepare_cached(&format!(
                "SELECT id, stream_name, timestamp_ms, ingestion_ms, message FROM log_events
                 WHERE group_name = ?1 AND stream_name = ?2 AND timestamp_ms >= ?3 AND timestamp_ms < ?4
                 AND (timestamp_ms, id) {cmp} (?5, ?6)
                 ORDER BY timestamp_ms {order}, id {order} LIMIT ?7"
            ))?;
            let rows = stmt.query_map(
                params![group, stream, start, end, pos.timestamp_ms, pos.id, limit as i64],
                event_row,
            )?;
            let mut events = rows.collect::<Result<Vec<_>, _>>()?;
            if order == "DESC" {
                events.reverse();
            }
            Ok(events)
        })
    }

    /// FilterLogEvents: matching events in time order, at most `limit`,
    /// looking at no more than a bounded number of rows per call.
    pub fn filter(&self, f: &Filter<'_>) -> Result<Filtered, StoreError> {
        self.read(|c| {
            group_exists(c, f.group)?;
            let start = f.start_ms.unwrap_or(i64::MIN);
            let end = f.end_ms.unwrap_or(i64::MAX);
            let mut pos = f.after.unwrap_or(Position {
                timestamp_ms: i64::MIN,
                id: i64::MIN,
            });
            let mut stmt = c.prepare_cached(
                "SELECT id, stream_name, timestamp_ms, ingestion_ms, message FROM log_events
                 WHERE group_name = ?1 AND timestamp_ms >= ?2 AND timestamp_ms <= ?3
                 AND (timestamp_ms, id) > (?4, ?5)
                 ORDER BY timestamp_ms ASC, id ASC LIMIT ?6",
            )?;
            let mut found = Vec::new();
            let mut scanned = 0usize;
            const PAGE: usize = 1000;
            loop {
                let rows = stmt.query_map(
                    params![f.group, start, end, pos.timestamp_ms, pos.id, PAGE as i64],
                    event_row,
                )?;
                let page = rows.collect::<Result<Vec<_>, _>>()?;
                let page_len = page.len();
                for event in page {
                    scanned += 1;
                    pos = Position {
                        timestamp_ms: event.timestamp_ms,
                        id: event.id,
                    };
                    let stream_ok = f.streams.is_none_or(|s| s.contains(&event.stream))
                        && f.stream_prefix.is_none_or(|p| event.stream.starts_with(p));
                    if stream_ok && f.pattern.is_none_or(|p| p.matches(&event.message)) {
                        found.push(event);
                        if found.len() >= f.limit {
                            return Ok(Filtered {
                                events: found,
                                next: Some(pos),
                            });
                        }
                    }
                }
                if page_len < PAGE {
                    return Ok(Filtered {
                        events: found,
                        next: None,
                    });
                }
                if scanned >= SCAN_PER_CALL {
                    return Ok(Filtered {
                        events: found,
                        next: Some(pos),
                    });
                }
            }
        })
    }

    /// Deletes events older than each group's retention; returns how many.
    pub fn enforce_retention(&self, now_ms: i64) -> Result<usize, StoreError> {
        self.write(|c| {
            let tx = c.transaction()?;
            let groups: Vec<(String, i64)> = {
                let mut stmt = tx.prepare(
                    "SELECT name, retention_days FROM log_groups WHERE retention_days IS NOT NULL",
                )?;
                let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
                rows.collect::<Result<Vec<_>, _>>()?
            };
            let mut deleted = 0;
            for (group, days) in groups {
                let cutoff = now_ms - days * 86_400_000;
                let n = tx.execute(
                    "DELETE FROM log_events WHERE group_name = ?1 AND timestamp_ms < ?2",
                    params![group, cutoff],
                )?;
                if n > 0 {
                    recount_group(&tx, &group)?;
                    deleted += n;
                }
            }
            tx.commit()?;
            Ok(deleted)
        })
    }
}

/// Where a stream read starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventsFrom {
    Head,
    Tail,
    After(Position),
    Before(Position),
}

fn group_exists(c: &Connection, group: &str) -> Result<(), StoreError> {
    let found: Option<i64> = c
        .query_row(
            "SELECT 1 FROM log_groups WHERE name = ?1",
            params![group],
            |r| r.get(0),
        )
        .optional()?;
    found.map(drop).ok_or(StoreError::GroupNotFound)
}

/// AWS counts an event's size as its message's UTF-8 bytes plus 26.
pub fn event_size(message: &str) -> i64 {
    message.len() as i64 + 26
}

fn append(
    tx: &rusqlite::Transaction<'_>,
    group: &str,
    stream: &str,
    events: &[(i64, String)],
    now_ms: i64,
) -> Result<(), StoreError> {
    if events.is_empty() {
        return Ok(());
    }
    {
        let mut insert = tx.prepare_cached(
            "INSERT INTO log_events (group_name, stream_name, timestamp_ms, ingestion_ms, message)
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )?;
        for (timestamp, message) in events {
            insert.execute(params![group, stream, timestamp, now_ms, message])?;
        }
    }
    let bytes: i64 = events.iter().map(|(_, m)| event_size(m)).sum();
    let first = events.iter().map(|(t, _)| *t).min().unwrap_or(now_ms);
    let last = events.iter().map(|(t, _)| *t).max().unwrap_or(now_ms);
    tx.prepare_cached(
        "UPDATE log_streams SET
            first_event_ms = min(coalesce(first_event_ms, ?3), ?3),
            last_event_ms = max(coalesce(last_event_ms, ?4), ?4),
            last_ingestion_ms = ?5,
            stored_bytes = stored_bytes + ?6
         WHERE group_name = ?1 AND name = ?2",
    )?
    .execute(params![group, stream, first, last, now_ms, bytes])?;
    tx.prepare_cached("UPDATE log_groups SET stored_bytes = stored_bytes + ?2 WHERE name = ?1")?
        .execute(params![group, bytes])?;
    Ok(())
}

fn recount_group(tx: &rusqlite::Transaction<'_>, group: &str) -> Result<(), StoreError> {
    tx.execute(
        "UPDATE log_groups SET stored_bytes = (
            SELECT coalesce(sum(length(CAST(message AS BLOB)) + 26), 0) FROM log_events WHERE group_name = ?1)
         WHERE name = ?1",
        params![group],
    )?;
    tx.execute(
        "UPDATE log_streams SET stored_bytes = (
            SELECT coalesce(sum(length(CAST(message AS BLOB)) + 26), 0) FROM log_events
            WHERE group_name = ?1 AND stream_name = log_streams.name)
         WHERE group_name = ?1",
        params![group],
    )?;
    Ok(())
}

fn group_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<LogGroup> {
    let tags: String = r.get(4)?;
    Ok(LogGroup {
        name: r.get(0)?,
        created_ms: r.get(1)?,
        retention_days: r.get(2)?,
        stored_bytes: r.get(3)?,
        tags: match serde_json::from_str::<serde_json::Value>(&tags) {
            Ok(serde_json::Value::Object(m)) => m,
            _ => serde_json::Map::new(),
        },
    })
}

fn event_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Event> {
    Ok(Event {
        id: r.get(0)?,
        stream: r.get(1)?,
        timestamp_ms: r.get(2)?,
        ingestion_ms: r.get(3)?,
        message: r.get(4)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (LogStore, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!(
            "tollgate-logstore-{}-{}",
            std::process::id(),
            rand_suffix()
        ));
        let store = LogStore::open(&dir).expect("opens");
        (store, dir)
    }

    fn rand_suffix() -> u64 {
        use std::sync::atomic::{AtomicU64, Ordering};
        static N: AtomicU64 = AtomicU64::new(0);
        N.fetch_add(1, Ordering::Relaxed)
    }

    #[test]
    fn groups_streams_and_events() -> Result<(), StoreError> {
        let (s, dir) = store();
        s.create_group("/aws/x", 1, &Default::default())?;
        assert!(matches!(
            s.create_group("/aws/x", 2, &Default::default()),
            Err(StoreError::GroupExists)
        ));
        s.create_stream("/aws/x", "a", 1)?;
        assert!(matches!(
            s.create_stream("/nope", "a", 1),
            Err(StoreError::GroupNotFound)
        ));
        s.put_events("/aws/x", "a", &[(10, "one".into()), (20, "two".into())], 30)?;
        assert!(matches!(
            s.put_events("/aws/x", "b", &[(10, "x".into())], 30),
            Err(StoreError::StreamNotFound)
        ));
        let events = s.stream_events("/aws/x", "a", None, None, EventsFrom::Head, 10)?;
        assert_eq!(
            events
                .iter()
                .map(|e| e.message.as_str())
                .collect::<Vec<_>>(),
            ["one", "two"]
        );
        let tail = s.stream_events("/aws/x", "a", None, None, EventsFrom::Tail, 1)?;
        assert_eq!(tail[0].message, "two");
        let group = s.group("/aws/x")?;
        assert_eq!(group.stored_bytes, 3 + 26 + 3 + 26);
        let f = s.filter(&Filter {
            group: "/aws/x",
            streams: None,
            stream_prefix: None,
            start_ms: Some(15),
            end_ms: None,
            pattern: None,
            after: None,
            limit: 10,
        })?;
        assert_eq!(f.events.len(), 1);
        s.set_retention("/aws/x", Some(1))?;
        assert_eq!(s.enforce_retention(86_400_000 + 15)?, 1);
        assert_eq!(s.group("/aws/x")?.stored_bytes, 3 + 26);
        s.delete_group("/aws/x")?;
        assert!(matches!(s.group("/aws/x"), Err(StoreError::GroupNotFound)));
        let _ = std::fs::remove_dir_all(dir);
        Ok(())
    }

    #[test]
    fn filters_page_through_many_events() -> Result<(), StoreError> {
        let (s, dir) = store();
        let batch: Vec<(i64, String)> = (0..2500).map(|i| (i, format!("line {i}"))).collect();
        s.append_batches(
            &[StreamBatch {
                group: "g".into(),
                stream: "s".into(),
                events: batch,
            }],
            1,
        )?;
        let mut after = None;
        let mut seen = 0;
        loop {
            let page = s.filter(&Filter {
                group: "g",
                streams: None,
                stream_prefix: None,
                start_ms: None,
                end_ms: None,
                pattern: None,
                after,
                limit: 1000,
            })?;
            seen += page.events.len();
            match page.next {
                Some(p) => after = Some(p),
                None => break,
            }
        }
        assert_eq!(seen, 2500);
        let _ = std::fs::remove_dir_all(dir);
        Ok(())
    }
}

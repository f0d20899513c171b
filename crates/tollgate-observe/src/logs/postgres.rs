//! Log groups, streams and events in the shared PostgreSQL database
//! (`serve --store postgres://…`): every instance writes its lines to its
//! own stream of the same tables, so `aws logs` on any instance sees the
//! groups made and the lines written through all of them.
//!
//! The tables mirror SQLite's (`logs.db`) column for column; they are made
//! by the shared store's migrations (version 2), so there is one schema
//! version for the whole database. Filter patterns are evaluated here, in
//! Tollgate, page by page, exactly as on SQLite: PostgreSQL only hands out
//! events in (timestamp, id) order.
//!
//! Two sessions, as SQLite has two connections: the writer's (the
//! background writer's batches, PutLogEvents, retention) and the readers'
//! (queries), so a long FilterLogEvents never holds up the writer.

use tollgate_store::tokio_postgres::{self, error::SqlState, GenericClient, Row};
use tollgate_store::{database_error, PgSession};

use super::store::{
    event_size, EventsFrom, Filter, Filtered, LogGroup, LogStream, Position, StoreError,
    StreamBatch, SCAN_PER_CALL,
};

/// The shared log store.
pub struct PgLogs {
    writer: PgSession,
    reader: PgSession,
}

impl From<tollgate_store::StoreError> for StoreError {
    fn from(e: tollgate_store::StoreError) -> StoreError {
        StoreError::Shared(e.to_string())
    }
}

impl From<tokio_postgres::Error> for StoreError {
    fn from(e: tokio_postgres::Error) -> StoreError {
        database_error(e).into()
    }
}

fn is_unique_violation(e: &tokio_postgres::Error) -> bool {
    e.code() == Some(&SqlState::UNIQUE_VIOLATION)
}

fn tags_of(text: &str) -> serde_json::Map<String, serde_json::Value> {
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(serde_json::Value::Object(m)) => m,
        _ => serde_json::Map::new(),
    }
}

fn group_row(r: &Row) -> LogGroup {
    LogGroup {
        name: r.get(0),
        created_ms: r.get(1),
        retention_days: r.get(2),
        stored_bytes: r.get(3),
        tags: tags_of(r.get::<_, &str>(4)),
    }
}

fn event_row(r: &Row) -> super::store::Event {
    super::store::Event {
        id: r.get(0),
        stream: r.get(1),
        timestamp_ms: r.get(2),
        ingestion_ms: r.get(3),
        message: r.get(4),
    }
}

async fn group_exists(c: &impl GenericClient, group: &str) -> Result<(), StoreError> {
    c.query_opt("SELECT 1 FROM log_groups WHERE name = $1", &[&group])
        .await?
        .map(drop)
        .ok_or(StoreError::GroupNotFound)
}

async fn stream_exists(
    c: &impl GenericClient,
    group: &str,
    stream: &str,
) -> Result<(), StoreError> {
    let found = c
        .query_opt(
            "SELECT 1 FROM log_streams WHERE group_name = $1 AND name = $2",
            &[&group, &stream],
        )
        .await?;
    if found.is_none() {
        group_exists(c, group).await?;
        return Err(StoreError::StreamNotFound);
    }
    Ok(())
}

/// Appends events to a stream and counts their bytes, as SQLite's `append`.
async fn append(
    tx: &tokio_postgres::Transaction<'_>,
    group: &str,
    stream: &str,
    events: &[(i64, String)],
    now_ms: i64,
) -> Result<(), StoreError> {
    if events.is_empty() {
        return Ok(());
    }
    // One statement per batch: arrays of timestamps and messages.
    let timestamps: Vec<i64> = events.iter().map(|(t, _)| *t).collect();
    let messages: Vec<&str> = events.iter().map(|(_, m)| m.as_str()).collect();
    tx.execute(
        "INSERT INTO log_events (group_name, stream_name, timestamp_ms, ingestion_ms, message)
         SELECT $1, $2, t, $3, m FROM unnest($4::BIGINT[], $5::TEXT[]) AS e(t, m)",
        &[&group, &stream, &now_ms, &timestamps, &messages],
    )
    .await?;
    let bytes: i64 = events.iter().map(|(_, m)| event_size(m)).sum();
    let first = timestamps.iter().copied().min().unwrap_or(now_ms);
    let last = timestamps.iter().copied().max().unwrap_or(now_ms);
    tx.execute(
        "UPDATE log_streams SET
            first_event_ms = LEAST(COALESCE(first_event_ms, $3), $3),
            last_event_ms = GREATEST(COALESCE(last_event_ms, $4), $4),
            last_ingestion_ms = $5,
            stored_bytes = stored_bytes + $6
         WHERE group_name = $1 AND name = $2",
        &[&group, &stream, &first, &last, &now_ms, &bytes],
    )
    .await?;
    tx.execute(
        "UPDATE log_groups SET stored_bytes = stored_bytes + $2 WHERE name = $1",
        &[&group, &bytes],
    )
    .await?;
    Ok(())
}

async fn recount_group(
    tx: &tokio_postgres::Transaction<'_>,
    group: &str,
) -> Result<(), StoreError> {
    tx.execute(
        "UPDATE log_groups SET stored_bytes = (
            SELECT COALESCE(SUM(octet_length(message) + 26), 0) FROM log_events WHERE group_name = $1)
         WHERE name = $1",
        &[&group],
    )
    .await?;
    tx.execute(
        "UPDATE log_streams SET stored_bytes = (
            SELECT COALESCE(SUM(octet_length(message) + 26), 0) FROM log_events
            WHERE group_name = $1 AND stream_name = log_streams.name)
         WHERE group_name = $1",
        &[&group],
    )
    .await?;
    Ok(())
}

impl PgLogs {
    /// Connects to the shared database at `url` (its schema brought up to date).
    pub fn open(url: &str) -> Result<PgLogs, StoreError> {
        Ok(PgLogs {
            writer: PgSession::open(url, "tollgate-pg-logs")?,
            reader: PgSession::open(url, "tollgate-pg-logq")?,
        })
    }

    pub fn create_group(
        &self,
        name: &str,
        now_ms: i64,
        tags: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<(), StoreError> {
        let (name, tags) = (
            name.to_string(),
            serde_json::Value::Object(tags.clone()).to_string(),
        );
        self.writer.call(move |c| async move {
            match c
                .execute(
                    "INSERT INTO log_groups (name, created_ms, tags) VALUES ($1, $2, $3)",
                    &[&name, &now_ms, &tags],
                )
                .await
            {
                Ok(_) => Ok(()),
                Err(e) if is_unique_violation(&e) => Err(StoreError::GroupExists),
                Err(e) => Err(e.into()),
            }
        })
    }

    pub fn ensure_group(&self, name: &str, now_ms: i64) -> Result<bool, StoreError> {
        let name = name.to_string();
        self.writer.call(move |c| async move {
            let made = c
                .execute(
                    "INSERT INTO log_groups (name, created_ms) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                    &[&name, &now_ms],
                )
                .await?;
            Ok(made > 0)
        })
    }

    pub fn delete_group(&self, name: &str) -> Result<(), StoreError> {
        let name = name.to_string();
        self.writer.call(move |mut c| async move {
            let tx = c.transaction().await?;
            let deleted = tx
                .execute("DELETE FROM log_groups WHERE name = $1", &[&name])
                .await?;
            if deleted == 0 {
                return Err(StoreError::GroupNotFound);
            }
            tx.execute("DELETE FROM log_events WHERE group_name = $1", &[&name])
                .await?;
            tx.commit().await?;
            Ok(())
        })
    }

    pub fn group(&self, name: &str) -> Result<LogGroup, StoreError> {
        let name = name.to_string();
        self.reader.call(move |c| async move {
            c.query_opt(
                "SELECT name, created_ms, retention_days, stored_bytes, tags FROM log_groups WHERE name = $1",
                &[&name],
            )
            .await?
            .map(|r| group_row(&r))
            .ok_or(StoreError::GroupNotFound)
        })
    }

    pub fn groups(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<LogGroup>, StoreError> {
        let (prefix, after, limit) = (
            prefix.to_string(),
            after.unwrap_or("").to_string(),
            limit as i64,
        );
        self.reader.call(move |c| async move {
            let rows = c
                .query(
                    "SELECT name, created_ms, retention_days, stored_bytes, tags FROM log_groups
                     WHERE left(name, length($1)) = $1 AND name > $2 ORDER BY name LIMIT $3",
                    &[&prefix, &after, &limit],
                )
                .await?;
            Ok(rows.iter().map(group_row).collect())
        })
    }

    pub fn set_retention(&self, name: &str, days: Option<i64>) -> Result<(), StoreError> {
        let name = name.to_string();
        self.writer.call(move |c| async move {
            let changed = c
                .execute(
                    "UPDATE log_groups SET retention_days = $2 WHERE name = $1",
                    &[&name, &days],
                )
                .await?;
            if changed == 0 {
                return Err(StoreError::GroupNotFound);
            }
            Ok(())
        })
    }

    pub fn tag_group(
        &self,
        name: &str,
        tags: &serde_json::Map<String, serde_json::Value>,
        remove: &[String],
    ) -> Result<(), StoreError> {
        let (name, tags, remove) = (name.to_string(), tags.clone(), remove.to_vec());
        self.writer.call(move |mut c| async move {
            let tx = c.transaction().await?;
            let current = tx
                .query_opt(
                    "SELECT tags FROM log_groups WHERE name = $1 FOR UPDATE",
                    &[&name],
                )
                .await?
                .ok_or(StoreError::GroupNotFound)?;
            let mut map = tags_of(current.get::<_, &str>(0));
            for (k, v) in tags {
                map.insert(k, v);
            }
            for k in &remove {
                map.remove(k);
            }
            tx.execute(
                "UPDATE log_groups SET tags = $2 WHERE name = $1",
                &[&name, &serde_json::Value::Object(map).to_string()],
            )
            .await?;
            tx.commit().await?;
            Ok(())
        })
    }

    pub fn create_stream(&self, group: &str, name: &str, now_ms: i64) -> Result<(), StoreError> {
        let (group, name) = (group.to_string(), name.to_string());
        self.writer.call(move |c| async move {
            group_exists(&*c, &group).await?;
            match c
                .execute(
                    "INSERT INTO log_streams (group_name, name, created_ms) VALUES ($1, $2, $3)",
                    &[&group, &name, &now_ms],
                )
                .await
            {
                Ok(_) => Ok(()),
                Err(e) if is_unique_violation(&e) => Err(StoreError::StreamExists),
                // The group went away in between.
                Err(e) if e.code() == Some(&SqlState::FOREIGN_KEY_VIOLATION) => {
                    Err(StoreError::GroupNotFound)
                }
                Err(e) => Err(e.into()),
            }
        })
    }

    pub fn delete_stream(&self, group: &str, name: &str) -> Result<(), StoreError> {
        let (group, name) = (group.to_string(), name.to_string());
        self.writer.call(move |mut c| async move {
            let tx = c.transaction().await?;
            group_exists(&tx, &group).await?;
            let deleted = tx
                .execute(
                    "DELETE FROM log_streams WHERE group_name = $1 AND name = $2",
                    &[&group, &name],
                )
                .await?;
            if deleted == 0 {
                return Err(StoreError::StreamNotFound);
            }
            tx.execute(
                "DELETE FROM log_events WHERE group_name = $1 AND stream_name = $2",
                &[&group, &name],
            )
            .await?;
            recount_group(&tx, &group).await?;
            tx.commit().await?;
            Ok(())
        })
    }

    pub fn streams(
        &self,
        group: &str,
        prefix: &str,
        by_last_event: bool,
        descending: bool,
    ) -> Result<Vec<LogStream>, StoreError> {
        let (group, prefix) = (group.to_string(), prefix.to_string());
        let order = match (by_last_event, descending) {
            (false, false) => "name ASC",
            (false, true) => "name DESC",
            (true, false) => "COALESCE(last_event_ms, 0) ASC, name ASC",
            (true, true) => "COALESCE(last_event_ms, 0) DESC, name DESC",
        };
        self.reader.call(move |c| async move {
            group_exists(&*c, &group).await?;
            let rows = c
                .query(
                    &format!(
                        "SELECT name, created_ms, first_event_ms, last_event_ms, last_ingestion_ms, stored_bytes
                         FROM log_streams WHERE group_name = $1 AND left(name, length($2)) = $2
                         ORDER BY {order}"
                    ),
                    &[&group, &prefix],
                )
                .await?;
            Ok(rows
                .iter()
                .map(|r| LogStream {
                    name: r.get(0),
                    created_ms: r.get(1),
                    first_event_ms: r.get(2),
                    last_event_ms: r.get(3),
                    last_ingestion_ms: r.get(4),
                    stored_bytes: r.get(5),
                })
                .collect())
        })
    }

    pub fn put_events(
        &self,
        group: &str,
        stream: &str,
        events: &[(i64, String)],
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let (group, stream, events) = (group.to_string(), stream.to_string(), events.to_vec());
        self.writer.call(move |mut c| async move {
            let tx = c.transaction().await?;
            stream_exists(&tx, &group, &stream).await?;
            append(&tx, &group, &stream, &events, now_ms).await?;
            tx.commit().await?;
            Ok(())
        })
    }

    /// As SQLite's: missing groups and streams made, all in one transaction.
    /// Batches are written in (group, stream) order, so two instances
    /// updating the same groups' byte counts lock them in the same order.
    pub fn append_batches(
        &self,
        batches: &[StreamBatch],
        now_ms: i64,
    ) -> Result<Vec<String>, StoreError> {
        let mut batches = batches.to_vec();
        batches.sort_by(|a, b| (&a.group, &a.stream).cmp(&(&b.group, &b.stream)));
        self.writer.call(move |mut c| async move {
            let tx = c.transaction().await?;
            let mut created = Vec::new();
            for batch in &batches {
                let made = tx
                    .execute(
                        "INSERT INTO log_groups (name, created_ms) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                        &[&batch.group, &now_ms],
                    )
                    .await?;
                if made > 0 {
                    created.push(batch.group.clone());
                }
                tx.execute(
                    "INSERT INTO log_streams (group_name, name, created_ms) VALUES ($1, $2, $3)
                     ON CONFLICT DO NOTHING",
                    &[&batch.group, &batch.stream, &now_ms],
                )
                .await?;
                append(&tx, &batch.group, &batch.stream, &batch.events, now_ms).await?;
            }
            tx.commit().await?;
            Ok(created)
        })
    }

    pub fn stream_events(
        &self,
        group: &str,
        stream: &str,
        start_ms: Option<i64>,
        end_ms: Option<i64>,
        from: EventsFrom,
        limit: usize,
    ) -> Result<Vec<super::store::Event>, StoreError> {
        let (group, stream) = (group.to_string(), stream.to_string());
        let start = start_ms.unwrap_or(i64::MIN);
        let end = end_ms.unwrap_or(i64::MAX);
        let (cmp, order, pos) = match from {
            EventsFrom::Head => (
                ">",
                "ASC",
                Position {
                    timestamp_ms: i64::MIN,
                    id: i64::MIN,
                },
            ),
            EventsFrom::After(p) => (">", "ASC", p),
            EventsFrom::Tail => (
                "<",
                "DESC",
                Position {
                    timestamp_ms: i64::MAX,
                    id: i64::MAX,
                },
            ),
            EventsFrom::Before(p) => ("<", "DESC", p),
        };
        let limit = limit as i64;
        self.reader.call(move |c| async move {
            stream_exists(&*c, &group, &stream).await?;
            let rows = c
                .query(
                    &format!(
                        "SELECT id, stream_name, timestamp_ms, ingestion_ms, message FROM log_events
                         WHERE group_name = $1 AND stream_name = $2 AND timestamp_ms >= $3 AND timestamp_ms < $4
                         AND (timestamp_ms, id) {cmp} ($5, $6)
                         ORDER BY timestamp_ms {order}, id {order} LIMIT $7"
                    ),
                    &[&group, &stream, &start, &end, &pos.timestamp_ms, &pos.id, &limit],
                )
                .await?;
            let mut events: Vec<_> = rows.iter().map(event_row).collect();
            if order == "DESC" {
                events.reverse();
            }
            Ok(events)
        })
    }

    /// FilterLogEvents: pages of events in time order from PostgreSQL, the
    /// stream selection and pattern applied here, as on SQLite.
    pub fn filter(&self, f: &Filter<'_>) -> Result<Filtered, StoreError> {
        let group = f.group.to_string();
        {
            let group = group.clone();
            self.reader
                .call(move |c| async move { group_exists(&*c, &group).await })?;
        }
        let start = f.start_ms.unwrap_or(i64::MIN);
        let end = f.end_ms.unwrap_or(i64::MAX);
        let mut pos = f.after.unwrap_or(Position {
            timestamp_ms: i64::MIN,
            id: i64::MIN,
        });
        let mut found = Vec::new();
        let mut scanned = 0usize;
        const PAGE: i64 = 1000;
        loop {
            let group = group.clone();
            let from = pos;
            let page = self.reader.call(move |c| async move {
                let rows = c
                    .query(
                        "SELECT id, stream_name, timestamp_ms, ingestion_ms, message FROM log_events
                         WHERE group_name = $1 AND timestamp_ms >= $2 AND timestamp_ms <= $3
                         AND (timestamp_ms, id) > ($4, $5)
                         ORDER BY timestamp_ms ASC, id ASC LIMIT $6",
                        &[&group, &start, &end, &from.timestamp_ms, &from.id, &PAGE],
                    )
                    .await?;
                Ok::<_, StoreError>(rows.iter().map(event_row).collect::<Vec<_>>())
            })?;
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
            if (page_len as i64) < PAGE {
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
    }

    /// Deletes events older than each group's retention; returns how many.
    /// Every instance runs this; the deletes are idempotent.
    pub fn enforce_retention(&self, now_ms: i64) -> Result<usize, StoreError> {
        self.writer.call(move |mut c| async move {
            let tx = c.transaction().await?;
            let groups: Vec<(String, i64)> = tx
                .query(
                    "SELECT name, retention_days FROM log_groups WHERE retention_days IS NOT NULL",
                    &[],
                )
                .await?
                .iter()
                .map(|r| (r.get(0), r.get(1)))
                .collect();
            let mut deleted = 0;
            for (group, days) in groups {
                let cutoff = now_ms - days * 86_400_000;
                let n = tx
                    .execute(
                        "DELETE FROM log_events WHERE group_name = $1 AND timestamp_ms < $2",
                        &[&group, &cutoff],
                    )
                    .await?;
                if n > 0 {
                    recount_group(&tx, &group).await?;
                    deleted += n as usize;
                }
            }
            tx.commit().await?;
            Ok(deleted)
        })
    }
}

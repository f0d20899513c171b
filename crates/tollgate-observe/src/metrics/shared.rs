//! Metrics of several instances sharing one PostgreSQL store, merged on
//! read.
//!
//! Each instance keeps recording its own requests (and PutMetricData) in its
//! in-memory [`MetricStore`], as a lone instance does. A background thread
//! here, every [`SYNC_EVERY`]:
//! - publishes the minutes this instance changed since the last round, whole,
//!   as rows `(instance, series, minute) → stats` of `metric_minutes` (the
//!   histogram bins included, so percentiles merge exactly as minutes do);
//! - reads the rows other instances published since the last round and
//!   hands them to the store, which merges them with its own minutes on
//!   every read (GetMetricStatistics, GetMetricData, ListMetrics, alarms).
//!
//! So this instance's data is as fresh as ever, and another instance's is at
//! most about two rounds old ([`STALENESS`]: its publication, then our
//! read). The last round runs on shutdown ([`SharedMetrics::publish_now`]).
//!
//! Rows are read incrementally by a sequence number. Publishers take a
//! transaction-level advisory lock, so numbers are assigned in commit order
//! and a reader that has seen number N has seen every row numbered below it.
//!
//! An instance's id is its host name, process id and a random suffix: a
//! restarted instance publishes under a new id, and its predecessor's rows
//! stay (they are the requests it served). Rows older than the retention (15
//! days) are pruned by every instance. Nothing here is on the request path;
//! a failed round is counted (`tollgate_shared_metrics_failures_total`),
//! logged at most once a minute, and retried with the same minutes.

use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use tollgate_store::{PgSession, StoreError};

use super::store::{MetricKey, MetricStore, SharedMinute, Stats, RETENTION_MS};

/// How often minutes are published and read.
pub const SYNC_EVERY: Duration = Duration::from_secs(5);
/// How old another instance's data may be, at most, in a read (one round
/// of its publishing plus one of our reading, plus slack for the database).
pub const STALENESS: Duration = Duration::from_secs(12);
/// How often old rows are pruned.
const PRUNE_EVERY: Duration = Duration::from_secs(600);
/// Rows read per query.
const READ_PAGE: i64 = 20_000;
/// Advisory lock of the publishers (Tollgate's own key).
const PUBLISH_LOCK: i64 = 0x746f_6c6c_6d65_7472;
/// Least time between two logged failures.
const LOG_EVERY: Duration = Duration::from_secs(60);

/// This instance's side of the shared metrics.
pub struct SharedMetrics {
    session: PgSession,
    instance: String,
    store: Weak<MetricStore>,
    /// The highest sequence number read; one round at a time.
    round: Mutex<Round>,
}

struct Round {
    seen: i64,
    last_logged: Option<Instant>,
    last_pruned: Option<Instant>,
}

impl SharedMetrics {
    /// Connects to the shared database at `url`, reads what the other
    /// instances published, and starts the background rounds.
    pub fn start(
        url: &str,
        instance: &str,
        store: &Arc<MetricStore>,
    ) -> Result<Arc<SharedMetrics>, StoreError> {
        store.start_sharing();
        let shared = Arc::new(SharedMetrics {
            session: PgSession::open(url, "tollgate-pg-metrics")?,
            instance: format!(
                "{instance}-{}-{:08x}",
                std::process::id(),
                rand::random::<u32>()
            ),
            store: Arc::downgrade(store),
            round: Mutex::new(Round {
                seen: 0,
                last_logged: None,
                last_pruned: None,
            }),
        });
        shared.sync();
        let weak = Arc::downgrade(&shared);
        std::thread::Builder::new()
            .name("tollgate-shared-metrics".into())
            .spawn(move || loop {
                std::thread::sleep(SYNC_EVERY);
                let Some(shared) = weak.upgrade() else { return };
                shared.sync();
            })
            .map_err(|e| StoreError::Unavailable(format!("cannot start a thread: {e}")))?;
        Ok(shared)
    }

    /// This instance's id in the shared table.
    pub fn instance(&self) -> &str {
        &self.instance
    }

    /// Publishes what changed now (on shutdown: the last requests' minutes).
    pub fn publish_now(&self) {
        let mut round = self.round.lock().unwrap_or_else(|e| e.into_inner());
        if let Err(e) = self.publish() {
            self.failed(&mut round, &e);
        }
    }

    /// One round: publish, read, and now and then prune.
    fn sync(&self) {
        let mut round = self.round.lock().unwrap_or_else(|e| e.into_inner());
        if let Err(e) = self.publish() {
            self.failed(&mut round, &e);
        }
        match self.read(round.seen) {
            Ok(seen) => round.seen = seen,
            Err(e) => self.failed(&mut round, &e),
        }
        if round
            .last_pruned
            .is_none_or(|at| at.elapsed() >= PRUNE_EVERY)
        {
            round.last_pruned = Some(Instant::now());
            if let Err(e) = self.prune() {
                self.failed(&mut round, &e);
            }
        }
    }

    fn failed(&self, round: &mut Round, e: &StoreError) {
        metrics::counter!("tollgate_shared_metrics_failures_total").increment(1);
        if round.last_logged.is_none_or(|at| at.elapsed() >= LOG_EVERY) {
            round.last_logged = Some(Instant::now());
            tracing::warn!(error = %e, "metrics could not be shared with the other instances (retrying; further failures within a minute are only counted)");
        }
    }

    fn publish(&self) -> Result<(), StoreError> {
        let Some(store) = self.store.upgrade() else {
            return Ok(());
        };
        let changed = store.take_changed();
        if changed.is_empty() {
            return Ok(());
        }
        let mut series = Vec::with_capacity(changed.len());
        let mut minutes = Vec::with_capacity(changed.len());
        let mut stats = Vec::with_capacity(changed.len());
        let mut units = Vec::with_capacity(changed.len());
        for m in &changed {
            series.push(serde_json::to_string(&m.key)?);
            minutes.push(m.minute_ms);
            stats.push(serde_json::to_string(&m.stats)?);
            units.push(m.unit.clone());
        }
        let instance = self.instance.clone();
        let written = self.session.call(move |mut c| async move {
            let tx = c
                .transaction()
                .await
                .map_err(tollgate_store::database_error)?;
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&PUBLISH_LOCK])
                .await
                .map_err(tollgate_store::database_error)?;
            tx.execute(
                "INSERT INTO metric_minutes (instance, series, minute, stats, unit, seq)
                 SELECT $1, s, m, st, u, nextval('metric_minutes_seq')
                 FROM unnest($2::TEXT[], $3::BIGINT[], $4::TEXT[], $5::TEXT[]) AS r(s, m, st, u)
                 ON CONFLICT (instance, series, minute) DO UPDATE
                 SET stats = EXCLUDED.stats, unit = EXCLUDED.unit, seq = EXCLUDED.seq",
                &[&instance, &series, &minutes, &stats, &units],
            )
            .await
            .map_err(tollgate_store::database_error)?;
            tx.commit().await.map_err(tollgate_store::database_error)
        });
        if written.is_err() {
            // The same minutes (with whatever they gather meanwhile) go next round.
            store.mark_changed(&changed);
        }
        written
    }

    /// Reads the other instances' rows numbered above `seen`; returns the
    /// highest number read.
    fn read(&self, mut seen: i64) -> Result<i64, StoreError> {
        let Some(store) = self.store.upgrade() else {
            return Ok(seen);
        };
        loop {
            let instance = self.instance.clone();
            let rows = self.session.call(move |c| async move {
                let rows = c
                    .query(
                        "SELECT instance, series, minute, stats, unit, seq FROM metric_minutes
                         WHERE seq > $1 AND instance <> $2 ORDER BY seq LIMIT $3",
                        &[&seen, &instance, &READ_PAGE],
                    )
                    .await
                    .map_err(tollgate_store::database_error)?;
                Ok::<_, StoreError>(
                    rows.iter()
                        .map(|r| {
                            (
                                r.get::<_, String>(0),
                                r.get::<_, String>(1),
                                r.get::<_, i64>(2),
                                r.get::<_, String>(3),
                                r.get::<_, Option<String>>(4),
                                r.get::<_, i64>(5),
                            )
                        })
                        .collect::<Vec<_>>(),
                )
            })?;
            let count = rows.len() as i64;
            let mut minutes = Vec::with_capacity(rows.len());
            for (instance, series, minute_ms, stats, unit, seq) in rows {
                seen = seen.max(seq);
                // A row this version cannot read (a newer Tollgate's) is skipped.
                let (Ok(key), Ok(stats)) = (
                    serde_json::from_str::<MetricKey>(&series),
                    serde_json::from_str::<Stats>(&stats),
                ) else {
                    tracing::debug!(%series, "an unreadable shared metric row was skipped");
                    continue;
                };
                minutes.push((
                    instance,
                    SharedMinute {
                        key,
                        minute_ms,
                        stats,
                        unit,
                    },
                ));
            }
            store.merge_others(minutes);
            if count < READ_PAGE {
                return Ok(seen);
            }
        }
    }

    fn prune(&self) -> Result<(), StoreError> {
        let cutoff = crate::logs::writer::now_ms() - RETENTION_MS;
        self.session.call(move |c| async move {
            c.execute("DELETE FROM metric_minutes WHERE minute < $1", &[&cutoff])
                .await
                .map_err(tollgate_store::database_error)?;
            Ok(())
        })
    }
}

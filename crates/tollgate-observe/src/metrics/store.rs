//! Metric data at one-minute resolution, kept for 15 days, as CloudWatch
//! keeps it: per series (namespace, name, dimensions) and minute, the
//! sample count, sum, minimum, maximum and a log-scale histogram for
//! percentiles (within 1% of the true value).
//!
//! With a shared store (`serve --store postgres://…`) the store also holds
//! the other instances' minutes, as last read from the shared table by
//! [`super::shared`], and every read ([`MetricStore::periods`],
//! [`MetricStore::keys`], and so GetMetricStatistics, GetMetricData,
//! ListMetrics and alarms) merges them with this instance's own: reads never
//! touch the database. Minutes this instance changes are marked for the
//! publisher only when sharing is on, so the embedded path does no more
//! work than before.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

/// One minute, in milliseconds.
pub const MINUTE_MS: i64 = 60_000;
/// How long datapoints are kept.
pub const RETENTION_MS: i64 = 15 * 86_400_000;
/// Series at most; a new one beyond is refused (PutMetricData) or not
/// recorded (counted in `tollgate_metric_series_refused_total`).
pub const MAX_SERIES: usize = 100_000;
/// Histogram bins grow by this factor: a percentile is within 1%.
const GROWTH: f64 = 1.02;

/// A metric's identity: dimensions sorted by name, as CloudWatch matches them.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct MetricKey {
    pub namespace: String,
    pub name: String,
    pub dimensions: Vec<(String, String)>,
}

impl MetricKey {
    pub fn new(namespace: &str, name: &str, mut dimensions: Vec<(String, String)>) -> MetricKey {
        dimensions.sort();
        MetricKey {
            namespace: namespace.to_string(),
            name: name.to_string(),
            dimensions,
        }
    }
}

/// What one minute (or a longer period, once merged) holds.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Stats {
    pub count: f64,
    pub sum: f64,
    pub min: f64,
    pub max: f64,
    /// Bin → weight; `i32::MIN` holds values ≤ 0.
    bins: BTreeMap<i32, f64>,
}

fn bin_of(value: f64) -> i32 {
    if value <= 0.0 || !value.is_finite() {
        return i32::MIN;
    }
    (value.ln() / GROWTH.ln()).floor() as i32
}

/// A bin's representative value: the geometric middle of its range.
fn value_of(bin: i32) -> f64 {
    if bin == i32::MIN {
        return 0.0;
    }
    GROWTH.powf(bin as f64 + 0.5)
}

impl Stats {
    /// One sample.
    pub fn add(&mut self, value: f64) {
        self.add_weighted(value, 1.0);
    }

    /// `count` samples of `value` (PutMetricData's Values and Counts).
    pub fn add_weighted(&mut self, value: f64, count: f64) {
        if self.count == 0.0 {
            self.min = value;
            self.max = value;
        } else {
            self.min = self.min.min(value);
            self.max = self.max.max(value);
        }
        self.count += count;
        self.sum += value * count;
        *self.bins.entry(bin_of(value)).or_default() += count;
    }

    /// A statistic set (PutMetricData's StatisticValues): no distribution,
    /// so percentiles see its samples at their average.
    pub fn add_set(&mut self, count: f64, sum: f64, min: f64, max: f64) {
        if count <= 0.0 {
            return;
        }
        if self.count == 0.0 {
            self.min = min;
            self.max = max;
        } else {
            self.min = self.min.min(min);
            self.max = self.max.max(max);
        }
        self.count += count;
        self.sum += sum;
        *self.bins.entry(bin_of(sum / count)).or_default() += count;
    }

    pub fn merge(&mut self, other: &Stats) {
        if other.count == 0.0 {
            return;
        }
        if self.count == 0.0 {
            self.min = other.min;
            self.max = other.max;
        } else {
            self.min = self.min.min(other.min);
            self.max = self.max.max(other.max);
        }
        self.count += other.count;
        self.sum += other.sum;
        for (bin, weight) in &other.bins {
            *self.bins.entry(*bin).or_default() += weight;
        }
    }

    pub fn average(&self) -> f64 {
        if self.count == 0.0 {
            0.0
        } else {
            self.sum / self.count
        }
    }

    /// The `p`th percentile (0–100), within the histogram's precision and
    /// clamped to the observed minimum and maximum.
    pub fn percentile(&self, p: f64) -> Option<f64> {
        if self.count == 0.0 || !(0.0..=100.0).contains(&p) {
            return None;
        }
        let rank = p / 100.0 * self.count;
        let mut seen = 0.0;
        for (bin, weight) in &self.bins {
            seen += weight;
            if seen >= rank {
                return Some(value_of(*bin).clamp(self.min, self.max));
            }
        }
        Some(self.max)
    }

    /// A statistic by CloudWatch's name (`Sum`, `Average`, `p99`, `p99.9`, …).
    pub fn statistic(&self, name: &str) -> Option<f64> {
        match name {
            "Sum" => Some(self.sum),
            "Average" => Some(self.average()),
            "Minimum" => Some(self.min),
            "Maximum" => Some(self.max),
            "SampleCount" => Some(self.count),
            _ => {
                let p: f64 = name.strip_prefix('p')?.parse().ok()?;
                self.percentile(p)
            }
        }
    }
}

/// One series: minutes (start, epoch ms) → stats, and the unit it was last
/// given.
#[derive(Debug, Default)]
struct Series {
    minutes: BTreeMap<i64, Stats>,
    unit: Option<String>,
    /// Minutes changed since the publisher last took them (sharing only).
    dirty: BTreeSet<i64>,
}

/// Another instance's minutes of one series: minute → instance → stats
/// (each row replaces that instance's last one: it holds the whole minute).
#[derive(Debug, Default)]
struct OtherSeries {
    minutes: BTreeMap<i64, HashMap<String, Stats>>,
    unit: Option<String>,
}

/// One minute of one series, as published to or read from the shared table.
#[derive(Debug, Clone, PartialEq)]
pub struct SharedMinute {
    pub key: MetricKey,
    pub minute_ms: i64,
    pub stats: Stats,
    pub unit: Option<String>,
}

/// The default memory budget: past it the oldest minutes go first (see
/// [`MetricStore::with_budget`]).
pub const DEFAULT_BUDGET_BYTES: usize = 256 << 20;

/// Estimated bytes of one minute of a series, besides its bins: the map
/// entry and the Stats.
const MINUTE_BYTES: usize = 128;
/// Estimated bytes of one histogram bin (map entry and node share).
const BIN_BYTES: usize = 32;
/// Estimated bytes of a series besides its name and minutes.
const SERIES_BYTES: usize = 160;

fn minute_bytes(stats: &Stats) -> usize {
    MINUTE_BYTES + BIN_BYTES * stats.bins.len()
}

fn key_bytes(key: &MetricKey) -> usize {
    SERIES_BYTES
        + key.namespace.len()
        + key.name.len()
        + key
            .dimensions
            .iter()
            .map(|(n, v)| 48 + n.len() + v.len())
            .sum::<usize>()
}

/// The series and an estimate of the memory they take.
#[derive(Default)]
struct Held {
    series: HashMap<MetricKey, Series>,
    bytes: usize,
}

impl Held {
    /// The series of `key`, made if the store may hold one more.
    fn series_mut(&mut self, key: &MetricKey) -> Result<&mut Series, RecordError> {
        if !self.series.contains_key(key) {
            if self.series.len() >= MAX_SERIES {
                return Err(RecordError::TooManySeries);
            }
            self.bytes += key_bytes(key);
        }
        Ok(self.series.entry(key.clone()).or_default())
    }

    /// Forgets the minutes before `cutoff` and the series left empty.
    fn drop_before(&mut self, cutoff: i64) -> usize {
        let mut freed = 0;
        let mut dropped = 0;
        self.series.retain(|key, series| {
            let kept = series.minutes.split_off(&cutoff);
            series.dirty = series.dirty.split_off(&cutoff);
            let old = std::mem::replace(&mut series.minutes, kept);
            dropped += old.len();
            freed += old.values().map(minute_bytes).sum::<usize>();
            if series.minutes.is_empty() {
                freed += key_bytes(key);
                false
            } else {
                true
            }
        });
        self.bytes = self.bytes.saturating_sub(freed);
        dropped
    }
}

/// Every series, behind one lock taken by the metrics writer (once per
/// flush of the request tallies), PutMetricData and readers; never by a
/// request.
///
/// Memory is bounded twice: by [`MAX_SERIES`] and by a byte budget (an
/// estimate from the minutes and histogram bins held). Past the budget the
/// oldest minutes of every series are forgotten before the 15 days are up,
/// counted in `tollgate_metric_minutes_evicted_total` and logged.
pub struct MetricStore {
    held: Mutex<Held>,
    budget: usize,
    /// Whether changed minutes are marked for the shared publisher.
    sharing: AtomicBool,
    /// The other instances' minutes (shared store only), merged on read;
    /// bounded by the retention, not by the budget.
    others: Mutex<HashMap<MetricKey, OtherSeries>>,
}

impl Default for MetricStore {
    fn default() -> Self {
        MetricStore::with_budget(DEFAULT_BUDGET_BYTES)
    }
}

/// Why a sample was not recorded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error("the metric store holds the most series it may ({MAX_SERIES})")]
    TooManySeries,
}

/// A sample for [`MetricStore::record`].
pub enum Sample {
    Value(f64),
    Weighted {
        value: f64,
        count: f64,
    },
    Set {
        count: f64,
        sum: f64,
        min: f64,
        max: f64,
    },
}

impl MetricStore {
    /// A store that keeps its estimated size under `budget` bytes.
    pub fn with_budget(budget: usize) -> MetricStore {
        MetricStore {
            held: Mutex::new(Held::default()),
            budget,
            sharing: AtomicBool::new(false),
            others: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Held> {
        self.held.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds `sample` at `timestamp_ms` to `key`'s series.
    pub fn record(
        &self,
        key: &MetricKey,
        timestamp_ms: i64,
        sample: Sample,
        unit: Option<&str>,
    ) -> Result<(), RecordError> {
        let mut held = self.lock();
        let series = held.series_mut(key)?;
        if let Some(unit) = unit {
            if series.unit.as_deref() != Some(unit) {
                series.unit = Some(unit.to_string());
            }
        }
        let minute = timestamp_ms.div_euclid(MINUTE_MS) * MINUTE_MS;
        if self.sharing.load(Ordering::Relaxed) {
            series.dirty.insert(minute);
        }
        let is_new = !series.minutes.contains_key(&minute);
        let stats = series.minutes.entry(minute).or_default();
        let before = if is_new { 0 } else { minute_bytes(stats) };
        match sample {
            Sample::Value(v) => stats.add(v),
            Sample::Weighted { value, count } => stats.add_weighted(value, count),
            Sample::Set {
                count,
                sum,
                min,
                max,
            } => stats.add_set(count, sum, min, max),
        }
        let grown = minute_bytes(stats).saturating_sub(before);
        held.bytes += grown;
        self.keep_to_budget(&mut held);
        Ok(())
    }

    /// Merges whole minutes of statistics gathered elsewhere (the request
    /// recorder's tallies) under one lock; returns how many were refused
    /// because the store holds [`MAX_SERIES`] series.
    pub fn merge_minutes(&self, minutes: Vec<(MetricKey, i64, Stats, &'static str)>) -> usize {
        let mut refused = 0;
        let sharing = self.sharing.load(Ordering::Relaxed);
        let mut held = self.lock();
        for (key, timestamp_ms, stats, unit) in minutes {
            let Ok(series) = held.series_mut(&key) else {
                refused += 1;
                continue;
            };
            if series.unit.as_deref() != Some(unit) {
                series.unit = Some(unit.to_string());
            }
            let minute = timestamp_ms.div_euclid(MINUTE_MS) * MINUTE_MS;
            if sharing {
                series.dirty.insert(minute);
            }
            let is_new = !series.minutes.contains_key(&minute);
            let held_stats = series.minutes.entry(minute).or_default();
            let before = if is_new { 0 } else { minute_bytes(held_stats) };
            held_stats.merge(&stats);
            let grown = minute_bytes(held_stats).saturating_sub(before);
            held.bytes += grown;
        }
        self.keep_to_budget(&mut held);
        refused
    }

    /// Forgets the oldest minute of every series, one minute at a time,
    /// until the store is back under 90% of its budget.
    fn keep_to_budget(&self, held: &mut Held) {
        if held.bytes <= self.budget {
            return;
        }
        let mut dropped = 0;
        while held.bytes > self.budget / 10 * 9 {
            let Some(oldest) = held
                .series
                .values()
                .filter_map(|s| s.minutes.keys().next().copied())
                .min()
            else {
                held.bytes = 0;
                break;
            };
            dropped += held.drop_before(oldest + MINUTE_MS);
        }
        metrics::counter!("tollgate_metric_minutes_evicted_total").increment(dropped as u64);
        tracing::warn!(
            budget_bytes = self.budget,
            minutes_dropped = dropped,
            "the metric store reached its memory budget: its oldest minutes were forgotten before the 15-day retention"
        );
    }

    /// Forgets minutes older than the retention, and series left empty.
    pub fn prune(&self, now_ms: i64) {
        let cutoff = now_ms - RETENTION_MS;
        self.lock().drop_before(cutoff);
        let mut others = self.others.lock().unwrap_or_else(|e| e.into_inner());
        others.retain(|_, series| {
            series.minutes = series.minutes.split_off(&cutoff);
            !series.minutes.is_empty()
        });
    }

    /// From now on, marks the minutes this instance changes for
    /// [`MetricStore::take_changed`] (the shared store's publisher).
    pub fn start_sharing(&self) {
        self.sharing.store(true, Ordering::Relaxed);
    }

    /// This instance's minutes changed since the last call, whole (each
    /// replaces the row published before).
    pub fn take_changed(&self) -> Vec<SharedMinute> {
        let mut held = self.lock();
        let mut out = Vec::new();
        for (key, series) in held.series.iter_mut() {
            if series.dirty.is_empty() {
                continue;
            }
            for minute in std::mem::take(&mut series.dirty) {
                if let Some(stats) = series.minutes.get(&minute) {
                    out.push(SharedMinute {
                        key: key.clone(),
                        minute_ms: minute,
                        stats: stats.clone(),
                        unit: series.unit.clone(),
                    });
                }
            }
        }
        out
    }

    /// Marks minutes changed again (their publication failed).
    pub fn mark_changed(&self, minutes: &[SharedMinute]) {
        let mut held = self.lock();
        for m in minutes {
            if let Some(series) = held.series.get_mut(&m.key) {
                series.dirty.insert(m.minute_ms);
            }
        }
    }

    /// Takes in other instances' minutes read from the shared table: each
    /// replaces what that instance had published for the minute before.
    pub fn merge_others(&self, rows: Vec<(String, SharedMinute)>) {
        let mut others = self.others.lock().unwrap_or_else(|e| e.into_inner());
        for (instance, m) in rows {
            let series = others.entry(m.key).or_default();
            if m.unit.is_some() {
                series.unit = m.unit;
            }
            series
                .minutes
                .entry(m.minute_ms)
                .or_default()
                .insert(instance, m.stats);
        }
    }

    /// The store's estimated size in bytes.
    pub fn estimated_bytes(&self) -> usize {
        self.lock().bytes
    }

    /// Stats of `key` per `period_ms` (aligned to the epoch), for periods
    /// starting in [start, end), oldest first; and the series' unit.
    pub fn periods(
        &self,
        key: &MetricKey,
        start_ms: i64,
        end_ms: i64,
        period_ms: i64,
    ) -> (Vec<(i64, Stats)>, Option<String>) {
        let period_ms = period_ms.max(MINUTE_MS);
        let first_minute = start_ms.div_euclid(MINUTE_MS) * MINUTE_MS;
        let first_period = start_ms.div_euclid(period_ms) * period_ms;
        let mut out: BTreeMap<i64, Stats> = BTreeMap::new();
        let mut unit = None;
        {
            let held = self.lock();
            if let Some(series) = held.series.get(key) {
                for (minute, stats) in series.minutes.range(first_minute..end_ms) {
                    let period = minute.div_euclid(period_ms) * period_ms;
                    if period >= first_period {
                        out.entry(period).or_default().merge(stats);
                    }
                }
                unit = series.unit.clone();
            }
        }
        if self.sharing.load(Ordering::Relaxed) {
            let others = self.others.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(series) = others.get(key) {
                for (minute, by_instance) in series.minutes.range(first_minute..end_ms) {
                    let period = minute.div_euclid(period_ms) * period_ms;
                    if period >= first_period {
                        let merged = out.entry(period).or_default();
                        for stats in by_instance.values() {
                            merged.merge(stats);
                        }
                    }
                }
                if unit.is_none() {
                    unit = series.unit.clone();
                }
            }
        }
        (out.into_iter().collect(), unit)
    }

    /// Every series' key matching the filters (ListMetrics): a dimension
    /// filter with no value matches any value of that name.
    pub fn keys(
        &self,
        namespace: Option<&str>,
        name: Option<&str>,
        dimensions: &[(String, Option<String>)],
        since_ms: Option<i64>,
    ) -> Vec<MetricKey> {
        let wanted = |k: &MetricKey| {
            namespace.is_none_or(|n| k.namespace == n)
                && name.is_none_or(|n| k.name == n)
                && dimensions.iter().all(|(dn, dv)| {
                    k.dimensions
                        .iter()
                        .any(|(kn, kv)| kn == dn && dv.as_ref().is_none_or(|v| v == kv))
                })
        };
        let mut keys: Vec<MetricKey> = self
            .lock()
            .series
            .iter()
            .filter(|(k, s)| {
                wanted(k) && since_ms.is_none_or(|t| s.minutes.range(t..).next().is_some())
            })
            .map(|(k, _)| k.clone())
            .collect();
        if self.sharing.load(Ordering::Relaxed) {
            let others = self.others.lock().unwrap_or_else(|e| e.into_inner());
            keys.extend(
                others
                    .iter()
                    .filter(|(k, s)| {
                        wanted(k) && since_ms.is_none_or(|t| s.minutes.range(t..).next().is_some())
                    })
                    .map(|(k, _)| k.clone()),
            );
        }
        keys.sort();
        keys.dedup();
        keys
    }

    /// How many series are held.
    pub fn len(&self) -> usize {
        self.lock().series.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statistics_and_percentiles() {
        let mut s = Stats::default();
        for v in 1..=1000 {
            s.add(v as f64);
        }
        assert_eq!(s.statistic("Sum"), Some(500_500.0));
        assert_eq!(s.statistic("SampleCount"), Some(1000.0));
        assert_eq!(s.statistic("Minimum"), Some(1.0));
        assert_eq!(s.statistic("Maximum"), Some(1000.0));
        let p99 = s.statistic("p99").expect("a percentile");
        assert!((p99 - 990.0).abs() / 990.0 < 0.02, "{p99}");
        let p50 = s.statistic("p50").expect("a percentile");
        assert!((p50 - 500.0).abs() / 500.0 < 0.02, "{p50}");
        assert_eq!(s.statistic("p101"), None);
        assert_eq!(s.statistic("bogus"), None);
    }

    #[test]
    fn the_budget_forgets_the_oldest_minutes_first() {
        let store = MetricStore::with_budget(64 * 1024);
        let keys: Vec<MetricKey> = (0..20)
            .map(|i| {
                MetricKey::new(
                    "AWS/ApiGateway",
                    "Latency",
                    vec![("Resource".into(), format!("/r{i}"))],
                )
            })
            .collect();
        // Two hours of minutes, each with a spread of latencies.
        for minute in 0..120 {
            for key in &keys {
                for v in 1..20 {
                    store
                        .record(
                            key,
                            minute * MINUTE_MS,
                            Sample::Value(f64::from(v) * 3.0),
                            None,
                        )
                        .expect("recorded");
                }
            }
            assert!(store.estimated_bytes() <= 64 * 1024, "minute {minute}");
        }
        let (newest, _) = store.periods(&keys[0], 119 * MINUTE_MS, 120 * MINUTE_MS, MINUTE_MS);
        assert_eq!(newest.len(), 1, "the last minute is kept");
        assert_eq!(newest[0].1.count, 19.0);
        let (oldest, _) = store.periods(&keys[0], 0, MINUTE_MS, MINUTE_MS);
        assert!(oldest.is_empty(), "the first minute went first");
        // Forgetting everything leaves nothing counted.
        store.prune(RETENTION_MS + 200 * MINUTE_MS);
        assert_eq!(store.estimated_bytes(), 0);
        assert!(store.is_empty());
    }

    #[test]
    fn periods_merge_minutes_and_respect_the_range() {
        let store = MetricStore::default();
        let key = MetricKey::new(
            "AWS/ApiGateway",
            "Count",
            vec![("ApiName".into(), "a".into())],
        );
        for minute in 0..10 {
            for _ in 0..=minute {
                store
                    .record(
                        &key,
                        minute * MINUTE_MS + 5,
                        Sample::Value(1.0),
                        Some("Count"),
                    )
                    .expect("recorded");
            }
        }
        let (periods, unit) = store.periods(&key, 0, 10 * MINUTE_MS, 5 * MINUTE_MS);
        assert_eq!(unit.as_deref(), Some("Count"));
        let sums: Vec<_> = periods.iter().map(|(t, s)| (*t, s.sum)).collect();
        assert_eq!(sums, vec![(0, 15.0), (5 * MINUTE_MS, 40.0)]);
        let (later, _) = store.periods(&key, 5 * MINUTE_MS, 10 * MINUTE_MS, MINUTE_MS);
        assert_eq!(later.len(), 5);
        store.prune(RETENTION_MS + 5 * MINUTE_MS);
        let (kept, _) = store.periods(&key, 0, 10 * MINUTE_MS, MINUTE_MS);
        assert_eq!(kept.len(), 5);
        assert_eq!(
            store.keys(
                Some("AWS/ApiGateway"),
                None,
                &[("ApiName".into(), None)],
                None
            ),
            vec![key]
        );
    }
}

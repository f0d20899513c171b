//! Quota counting (`spec/aws-apigw.md` §3.2): requests per key and plan in the
//! current DAY, WEEK or MONTH, on UTC boundaries. Memory is authoritative while
//! Tollgate runs; per-day counts are written to the store in batches and read
//! back at start-up, so a restart keeps them and a kill -9 loses at most one batch.
//!
//! Each key's counters under a plan are one [`UsageCell`], reached by the
//! request through a handle in the key index. The first change to a cell after
//! a flush puts it on a dirty list (one of a few, each behind its own lock,
//! chosen when the cell is made), so a flush visits only the cells that
//! changed and never the others: its cost follows the traffic, not the number
//! of keys.

use std::borrow::Borrow;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

// FxHash: these maps are keyed by plan and key ids from the configuration.
use rustc_hash::{FxHashMap, FxHashSet};
use tollgate_model::time::Date;
use tollgate_model::usage_plan::UsageKey;

use crate::shared_counters::{RedisKeys, RemoteHints};
use crate::throttle::{Bucket, Limits};
use crate::usage_plans::{Period, Quota};

/// The first day (days since the epoch) of the period containing `day`.
pub fn period_start(period: Period, day: i64) -> i64 {
    let date = Date::from_days_since_epoch(day);
    match period {
        Period::Day => day,
        Period::Week => day - i64::from(date.weekday()),
        Period::Month => Date { day: 1, ..date }.days_since_epoch(),
    }
}

/// The day after the last day of the period starting on `start`.
pub fn period_end(period: Period, start: i64) -> i64 {
    match period {
        Period::Day => start + 1,
        Period::Week => start + 7,
        Period::Month => period_start(Period::Month, start + 31),
    }
}

/// The oldest day any quota period containing `today` can start on (a week
/// may start in the previous month): counts of earlier days are never read
/// again, whatever period a plan has or is changed to, so once written they
/// are dropped from memory (the store keeps them for GetUsage).
pub fn oldest_needed_day(today: i64) -> i64 {
    period_start(Period::Month, today).min(period_start(Period::Week, today))
}

/// No day counted yet.
const NO_DAY: i64 = i64::MIN;

/// Requests of one day: counted, and the value last written to the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct DayCount {
    day: i64,
    used: i64,
    flushed: i64,
}

impl DayCount {
    const EMPTY: DayCount = DayCount {
        day: NO_DAY,
        used: 0,
        flushed: 0,
    };
}

/// Counts of one key under one plan.
#[derive(Debug)]
struct KeyUsage {
    /// The latest day counted (where requests add), inline: a request's check
    /// reads no other memory unless the period spans several days.
    latest: DayCount,
    /// Earlier days still needed by a quota period or not yet written,
    /// oldest first, all before `latest.day`.
    earlier: Vec<DayCount>,
    /// Requests in flight (for the concurrency extension).
    in_flight: u32,
    /// On a dirty list: changed since a flush last took the cell.
    dirty: bool,
}

impl KeyUsage {
    /// Counts read from the store (already written): `(day, used)`, any order.
    fn seeded(mut days: Vec<(i64, i64)>) -> KeyUsage {
        days.sort_unstable();
        days.dedup_by_key(|(day, _)| *day);
        let mut earlier: Vec<DayCount> = days
            .into_iter()
            .map(|(day, used)| DayCount {
                day,
                used,
                flushed: used,
            })
            .collect();
        let latest = earlier.pop().unwrap_or(DayCount::EMPTY);
        if earlier.is_empty() {
            earlier = Vec::new();
        }
        KeyUsage {
            latest,
            earlier,
            in_flight: 0,
            dirty: false,
        }
    }

    fn days(&self) -> impl Iterator<Item = &DayCount> {
        self.earlier
            .iter()
            .chain(std::iter::once(&self.latest).filter(|d| d.day != NO_DAY))
    }

    fn used_between(&self, first: i64, last: i64) -> i64 {
        let mut used = 0;
        if (first..=last).contains(&self.latest.day) {
            used += self.latest.used;
        }
        if first < self.latest.day {
            used += self
                .earlier
                .iter()
                .filter(|d| (first..=last).contains(&d.day))
                .map(|d| d.used)
                .sum::<i64>();
        }
        used
    }

    fn day_mut(&mut self, day: i64) -> Option<&mut DayCount> {
        if self.latest.day == day {
            return Some(&mut self.latest);
        }
        let i = self.earlier.binary_search_by_key(&day, |d| d.day).ok()?;
        Some(&mut self.earlier[i])
    }

    /// The counts of `day`, added if missing.
    fn day_or_insert(&mut self, day: i64) -> &mut DayCount {
        if self.latest.day == day {
            return &mut self.latest;
        }
        let new = DayCount {
            day,
            used: 0,
            flushed: 0,
        };
        if day > self.latest.day {
            if self.latest.day != NO_DAY {
                self.earlier.push(self.latest);
            }
            self.latest = new;
            return &mut self.latest;
        }
        // A day before the latest (a refund across midnight, a clock set back).
        let i = match self.earlier.binary_search_by_key(&day, |d| d.day) {
            Ok(i) => i,
            Err(i) => {
                self.earlier.insert(i, new);
                i
            }
        };
        &mut self.earlier[i]
    }

    /// Drops written days before `oldest`.
    fn prune(&mut self, oldest: i64) {
        let gone = |d: &DayCount| d.day < oldest && d.used == d.flushed;
        if !self.earlier.is_empty() {
            self.earlier.retain(|d| !gone(d));
        }
        if self.latest.day != NO_DAY && gone(&self.latest) {
            self.latest = self.earlier.pop().unwrap_or(DayCount::EMPTY);
        }
        if self.earlier.is_empty() && self.earlier.capacity() > 0 {
            self.earlier = Vec::new();
        }
    }
}

/// The outcome of a quota check.
#[derive(Debug, PartialEq, Eq)]
pub enum QuotaDecision {
    Admitted,
    Exceeded,
    TooManyInFlight,
}

/// Cells changed since the last flush took them.
#[derive(Default)]
struct DirtyList(Mutex<Vec<Arc<UsageCell>>>);

impl std::fmt::Debug for DirtyList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DirtyList({} cells)", lock(&self.0).len())
    }
}

/// The counters of one key under one plan, and the key's token bucket under
/// the plan's throttle. The key index holds handles to these, so a request
/// locks only its own key's counters, never a shared map.
#[derive(Debug)]
pub struct UsageCell {
    plan_id: Arc<str>,
    key_id: Box<str>,
    /// The plan's per-key throttle (used when the plan has one).
    pub bucket: Bucket,
    usage: Mutex<KeyUsage>,
    /// Where the cell goes when it changes.
    dirty: Arc<DirtyList>,
    /// With shared counters: the key's entries in Redis and what this
    /// instance knows of them, made on first use (a pointer until then:
    /// embedded counters never pay for them).
    remote: OnceLock<Box<RemoteState>>,
}

/// A key's shared-counter state ([`UsageCell::remote`]).
#[derive(Debug)]
pub(crate) struct RemoteState {
    pub keys: RedisKeys,
    pub hints: RemoteHints,
}

impl UsageCell {
    #[cfg(test)]
    pub fn plan_id(&self) -> &str {
        &self.plan_id
    }

    /// The names of this key's entries in Redis under `prefix` (fixed once
    /// made), and what this instance knows of them.
    pub(crate) fn remote(&self, prefix: &str) -> &RemoteState {
        self.remote.get_or_init(|| {
            Box::new(RemoteState {
                keys: RedisKeys::new(prefix, &self.plan_id, &self.key_id),
                hints: RemoteHints::default(),
            })
        })
    }

    #[cfg(test)]
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// Puts the cell on its dirty list unless it is there already.
    fn touched(self: &Arc<Self>, usage: &mut KeyUsage) {
        if !usage.dirty {
            usage.dirty = true;
            lock(&self.dirty.0).push(self.clone());
        }
    }

    fn mark_dirty(self: &Arc<Self>) {
        let mut usage = lock(&self.usage);
        self.touched(&mut usage);
    }

    /// Records that `used` requests of `day` are in the store.
    fn set_flushed(self: &Arc<Self>, day: i64, used: i64) {
        let mut usage = lock(&self.usage);
        let Some(d) = usage.day_mut(day) else {
            return;
        };
        d.flushed = used;
        if d.used != d.flushed {
            // Changed since it was taken: already dirty, but never leave it unseen.
            self.touched(&mut usage);
        }
    }

    /// Counts `cost` requests on `today` if the quota and the in-flight limit allow.
    /// `adjustment` is UpdateUsage's correction for the period starting on its argument.
    pub fn try_consume(
        self: &Arc<Self>,
        quota: Option<&Quota>,
        created_day: i64,
        adjustment: impl Fn(i64) -> i64,
        concurrency: Option<u32>,
        cost: i64,
        today: i64,
    ) -> QuotaDecision {
        let mut usage = lock(&self.usage);
        if concurrency.is_some_and(|max| usage.in_flight >= max) {
            return QuotaDecision::TooManyInFlight;
        }
        if let Some(q) = quota {
            let start = period_start(q.period, today);
            let mut limit = q.limit;
            if start == period_start(q.period, created_day) {
                limit -= q.offset;
            }
            let used = usage.used_between(start, today) + adjustment(start);
            if used + cost > limit {
                return QuotaDecision::Exceeded;
            }
        }
        usage.day_or_insert(today).used += cost;
        if concurrency.is_some() {
            usage.in_flight += 1;
        }
        self.touched(&mut usage);
        QuotaDecision::Admitted
    }

    /// Undoes a [`UsageCell::try_consume`] for a request refused before its integration.
    pub fn refund(self: &Arc<Self>, cost: i64, day: i64, concurrency: bool) {
        let mut usage = lock(&self.usage);
        if concurrency {
            usage.in_flight = usage.in_flight.saturating_sub(1);
        }
        if let Some(d) = usage.day_mut(day) {
            d.used = (d.used - cost).max(0);
            self.touched(&mut usage);
        }
    }

    /// Ends a request counted with a concurrency limit.
    pub fn finish(&self) {
        let mut usage = lock(&self.usage);
        usage.in_flight = usage.in_flight.saturating_sub(1);
    }
}

/// A plan's cells, found by key id (the cell holds it: no second copy).
struct CellOfKey(Arc<UsageCell>);

impl Borrow<str> for CellOfKey {
    fn borrow(&self) -> &str {
        &self.0.key_id
    }
}

impl Hash for CellOfKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.key_id.hash(state)
    }
}

impl PartialEq for CellOfKey {
    fn eq(&self, other: &Self) -> bool {
        self.0.key_id == other.0.key_id
    }
}

impl Eq for CellOfKey {}

/// A count handed to the writer by [`QuotaCounters::unflushed`], awaiting
/// [`QuotaCounters::mark_flushed`].
struct Writing {
    cell: Arc<UsageCell>,
    day: i64,
    used: i64,
}

/// Dirty lists: enough that the serving threads rarely meet on one lock.
const DIRTY_LISTS: usize = 8;

/// Counters for every key.
pub struct QuotaCounters {
    /// plan id → its keys' cells, so counts survive key-index updates. Only
    /// the control plane's updates touch it, never a request nor the flush.
    cells: Mutex<FxHashMap<Arc<str>, FxHashSet<CellOfKey>>>,
    dirty: Vec<Arc<DirtyList>>,
    next_list: AtomicUsize,
    /// The counts the last [`QuotaCounters::unflushed`] returned, in the same order.
    writing: Mutex<Vec<Writing>>,
}

impl Default for QuotaCounters {
    fn default() -> Self {
        QuotaCounters {
            cells: Mutex::new(FxHashMap::default()),
            dirty: (0..DIRTY_LISTS)
                .map(|_| Arc::new(DirtyList::default()))
                .collect(),
            next_list: AtomicUsize::new(0),
            writing: Mutex::new(Vec::new()),
        }
    }
}

impl Drop for QuotaCounters {
    fn drop(&mut self) {
        // A listed cell holds its list: empty them so both can go.
        for list in &self.dirty {
            drop(std::mem::take(&mut *lock(&list.0)));
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl QuotaCounters {
    /// The counters of `key_id` under `plan_id`, created on first use with the
    /// stored counts `seed` returns (`(day, used)`). `limits`, the plan's
    /// per-key throttle, is applied to the cell's bucket.
    pub fn cell(
        &self,
        plan_id: &Arc<str>,
        key_id: &str,
        limits: Option<Limits>,
        now: u64,
        seed: impl FnOnce() -> Vec<(i64, i64)>,
    ) -> Arc<UsageCell> {
        let mut cells = lock(&self.cells);
        let plan = cells.entry(plan_id.clone()).or_default();
        if let Some(c) = plan.get(key_id) {
            if let Some(l) = limits {
                c.0.bucket.apply_limits(l, now);
            }
            return c.0.clone();
        }
        let list = self.next_list.fetch_add(1, Ordering::Relaxed) % self.dirty.len();
        let cell = Arc::new(UsageCell {
            plan_id: plan_id.clone(),
            key_id: key_id.into(),
            bucket: Bucket::new(limits.unwrap_or(Limits {
                burst: 0,
                rate: 0.0,
            })),
            usage: Mutex::new(KeyUsage::seeded(seed())),
            dirty: self.dirty[list].clone(),
            remote: OnceLock::new(),
        });
        plan.insert(CellOfKey(cell.clone()));
        cell
    }

    /// Forgets a deleted key's counters (counts not yet written still are).
    pub fn remove_key(&self, key_id: &str) {
        for plan in lock(&self.cells).values_mut() {
            plan.remove(key_id);
        }
    }

    /// Forgets a deleted plan's counters.
    pub fn remove_plan(&self, plan_id: &str) {
        lock(&self.cells).remove(plan_id);
    }

    /// Cells held for `plan_id` (tests).
    #[cfg(test)]
    pub fn cells_of(&self, plan_id: &str) -> usize {
        lock(&self.cells).get(plan_id).map_or(0, |p| p.len())
    }

    /// Per-day counts changed since the last write, as absolute values, for
    /// the writer; then [`QuotaCounters::mark_flushed`] with the same slice
    /// once they are durable. Counts returned by a previous call and never
    /// marked (the write failed) are returned again. Only changed cells are
    /// visited; their written days before any period containing `today` are
    /// dropped.
    pub fn unflushed(&self, today: i64) -> Vec<(UsageKey, i64)> {
        let oldest = oldest_needed_day(today);
        let mut writing = lock(&self.writing);
        for w in writing.drain(..) {
            w.cell.mark_dirty();
        }
        let mut rows = Vec::new();
        // `yyyy-MM-dd` of the days seen (one or two), formatted once.
        let mut names: Vec<(i64, String)> = Vec::new();
        let mut name = |day: i64| -> String {
            if let Some((_, n)) = names.iter().find(|(d, _)| *d == day) {
                return n.clone();
            }
            let n = Date::from_days_since_epoch(day).to_string();
            names.push((day, n.clone()));
            n
        };
        for list in &self.dirty {
            let cells = std::mem::take(&mut *lock(&list.0));
            for cell in cells {
                let mut usage = lock(&cell.usage);
                usage.dirty = false;
                for d in usage.days().filter(|d| d.used != d.flushed) {
                    rows.push((
                        UsageKey {
                            plan_id: cell.plan_id.to_string(),
                            key_id: cell.key_id.to_string(),
                            day: name(d.day),
                        },
                        d.used,
                    ));
                    writing.push(Writing {
                        cell: cell.clone(),
                        day: d.day,
                        used: d.used,
                    });
                }
                usage.prune(oldest);
            }
        }
        rows
    }

    /// Records that `written` (what [`QuotaCounters::unflushed`] returned) is
    /// durable, through the cells' handles: no key is looked up again.
    /// A count changed meanwhile stays dirty and is written next time.
    pub fn mark_flushed(&self, written: &[(UsageKey, i64)]) {
        let writing = std::mem::take(&mut *lock(&self.writing));
        let same = writing.len() == written.len()
            && writing.iter().zip(written).all(|(w, (k, used))| {
                w.used == *used && *w.cell.key_id == *k.key_id && *w.cell.plan_id == *k.plan_id
            });
        if same {
            for w in writing {
                w.cell.set_flushed(w.day, w.used);
            }
            return;
        }
        // Not the slice handed out: mark what it holds, retry the rest.
        let by_key: FxHashMap<(&str, &str, &str), i64> = written
            .iter()
            .map(|(k, used)| {
                (
                    (k.plan_id.as_str(), k.key_id.as_str(), k.day.as_str()),
                    *used,
                )
            })
            .collect();
        for w in writing {
            let day = Date::from_days_since_epoch(w.day).to_string();
            match by_key.get(&(&*w.cell.plan_id, &*w.cell.key_id, day.as_str())) {
                Some(used) => w.cell.set_flushed(w.day, *used),
                None => w.cell.mark_dirty(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> i64 {
        Date::parse(s)
            .map(|d| d.days_since_epoch())
            .unwrap_or_default()
    }

    fn quota(limit: i64, period: Period) -> Quota {
        Quota {
            limit,
            offset: 0,
            period,
        }
    }

    fn cell(c: &QuotaCounters, plan: &str, key: &str) -> Arc<UsageCell> {
        c.cell(&Arc::from(plan), key, None, 0, Vec::new)
    }

    fn count(cell: &Arc<UsageCell>, d: i64) {
        assert_eq!(
            cell.try_consume(None, 0, |_| 0, None, 1, d),
            QuotaDecision::Admitted
        );
    }

    fn row(plan: &str, key: &str, d: &str, used: i64) -> (UsageKey, i64) {
        (
            UsageKey {
                plan_id: plan.into(),
                key_id: key.into(),
                day: d.into(),
            },
            used,
        )
    }

    fn days_held(cell: &UsageCell) -> Vec<i64> {
        lock(&cell.usage).days().map(|d| d.day).collect()
    }

    #[test]
    fn periods_end_where_the_next_begins() {
        assert_eq!(
            period_end(Period::Month, day("2026-02-01")),
            day("2026-03-01")
        );
        assert_eq!(
            period_end(Period::Month, day("2026-12-01")),
            day("2027-01-01")
        );
        assert_eq!(
            period_end(Period::Week, day("2026-11-22")),
            day("2026-11-29")
        );
        assert_eq!(
            period_end(Period::Day, day("2026-11-22")),
            day("2026-11-23")
        );
    }

    #[test]
    fn periods_start_on_utc_boundaries() {
        assert_eq!(
            period_start(Period::Week, day("2026-11-26")),
            day("2026-11-22")
        );
        assert_eq!(
            period_start(Period::Month, day("2026-11-26")),
            day("2026-11-01")
        );
        assert_eq!(
            period_start(Period::Day, day("2026-11-26")),
            day("2026-11-26")
        );
        // A week that started in the previous month.
        assert_eq!(oldest_needed_day(day("2026-12-02")), day("2026-11-29"));
        assert_eq!(oldest_needed_day(day("2026-11-26")), day("2026-11-01"));
    }

    #[test]
    fn exhausts_and_rolls_over() {
        for (period, same, next) in [
            (Period::Day, "2026-11-26", "2026-11-27"),
            (Period::Week, "2026-11-28", "2026-11-29"),
            (Period::Month, "2026-11-30", "2026-12-01"),
        ] {
            let c = QuotaCounters::default();
            let q = quota(3, period);
            let start = day("2026-11-26");
            let cell = cell(&c, "p", "k");
            let consume = |d: i64| cell.try_consume(Some(&q), 0, |_| 0, None, 1, d);
            for _ in 0..3 {
                assert_eq!(consume(start), QuotaDecision::Admitted);
            }
            assert_eq!(consume(start), QuotaDecision::Exceeded, "{period:?}");
            assert_eq!(
                consume(day(same)),
                QuotaDecision::Exceeded,
                "{period:?} same period"
            );
            assert_eq!(
                consume(day(next)),
                QuotaDecision::Admitted,
                "{period:?} next period"
            );
        }
    }

    #[test]
    fn adjustments_offsets_and_costs() {
        let c = QuotaCounters::default();
        let q = quota(10, Period::Day);
        let today = day("2026-11-26");
        // UpdateUsage set remaining to 2: an adjustment of 8.
        assert_eq!(
            cell(&c, "p", "k").try_consume(Some(&q), 0, |_| 8, None, 2, today),
            QuotaDecision::Admitted
        );
        assert_eq!(
            cell(&c, "p", "k").try_consume(Some(&q), 0, |_| 8, None, 1, today),
            QuotaDecision::Exceeded
        );
        // Offset: the creation period has `offset` fewer requests.
        let q = Quota {
            limit: 10,
            offset: 9,
            period: Period::Day,
        };
        assert_eq!(
            cell(&c, "p", "o").try_consume(Some(&q), today, |_| 0, None, 1, today),
            QuotaDecision::Admitted
        );
        assert_eq!(
            cell(&c, "p", "o").try_consume(Some(&q), today, |_| 0, None, 1, today),
            QuotaDecision::Exceeded
        );
        assert_eq!(
            cell(&c, "p", "o").try_consume(Some(&q), today, |_| 0, None, 1, today + 1),
            QuotaDecision::Admitted
        );
    }

    #[test]
    fn limits_requests_in_flight() {
        let c = QuotaCounters::default();
        let today = day("2026-11-26");
        assert_eq!(
            cell(&c, "p", "k").try_consume(None, 0, |_| 0, Some(1), 1, today),
            QuotaDecision::Admitted
        );
        assert_eq!(
            cell(&c, "p", "k").try_consume(None, 0, |_| 0, Some(1), 1, today),
            QuotaDecision::TooManyInFlight
        );
        cell(&c, "p", "k").finish();
        assert_eq!(
            cell(&c, "p", "k").try_consume(None, 0, |_| 0, Some(1), 1, today),
            QuotaDecision::Admitted
        );
    }

    #[test]
    fn seeds_and_flushes() {
        let c = QuotaCounters::default();
        let today = day("2026-11-26");
        let seeded = c.cell(&Arc::from("p"), "k", None, 0, || vec![(today, 4)]);
        // Stored counts are not written again.
        assert!(c.unflushed(today).is_empty());
        let q = quota(5, Period::Day);
        assert_eq!(
            seeded.try_consume(Some(&q), 0, |_| 0, None, 1, today),
            QuotaDecision::Admitted
        );
        assert_eq!(
            cell(&c, "p", "k").try_consume(Some(&q), 0, |_| 0, None, 1, today),
            QuotaDecision::Exceeded
        );
        let pending = c.unflushed(today);
        assert_eq!(pending, vec![row("p", "k", "2026-11-26", 5)]);
        c.mark_flushed(&pending);
        assert!(c.unflushed(today).is_empty());
    }

    #[test]
    fn a_flush_visits_only_changed_keys() {
        let c = QuotaCounters::default();
        let today = day("2026-11-26");
        let cells: Vec<_> = (0..100).map(|i| cell(&c, "p", &format!("k{i}"))).collect();
        for cell in &cells {
            count(cell, today);
        }
        let pending = c.unflushed(today);
        assert_eq!(pending.len(), 100);
        c.mark_flushed(&pending);
        assert!(c.unflushed(today).is_empty());
        count(&cells[7], today);
        count(&cells[7], today);
        count(&cells[42], today);
        let mut pending = c.unflushed(today);
        pending.sort();
        assert_eq!(
            pending,
            vec![
                row("p", "k42", "2026-11-26", 2),
                row("p", "k7", "2026-11-26", 3)
            ]
        );
        // Nothing is on a dirty list once taken.
        assert!(c.dirty.iter().all(|l| lock(&l.0).is_empty()));
    }

    #[test]
    fn a_count_made_during_a_flush_is_written_next_time() {
        let c = QuotaCounters::default();
        let today = day("2026-11-26");
        let k = cell(&c, "p", "k");
        count(&k, today);
        let pending = c.unflushed(today);
        assert_eq!(pending, vec![row("p", "k", "2026-11-26", 1)]);
        // The writer is busy with `pending`; a request counts meanwhile.
        count(&k, today);
        c.mark_flushed(&pending);
        let next = c.unflushed(today);
        assert_eq!(next, vec![row("p", "k", "2026-11-26", 2)]);
        c.mark_flushed(&next);
        assert!(c.unflushed(today).is_empty());
    }

    #[test]
    fn a_failed_write_is_retried() {
        let c = QuotaCounters::default();
        let today = day("2026-11-26");
        let a = cell(&c, "p", "a");
        let b = cell(&c, "p", "b");
        count(&a, today);
        let pending = c.unflushed(today);
        assert_eq!(pending, vec![row("p", "a", "2026-11-26", 1)]);
        // The write failed: nothing marked. Another key counts meanwhile.
        count(&b, today);
        let mut again = c.unflushed(today);
        again.sort();
        assert_eq!(
            again,
            vec![
                row("p", "a", "2026-11-26", 1),
                row("p", "b", "2026-11-26", 1)
            ]
        );
        c.mark_flushed(&again);
        assert!(c.unflushed(today).is_empty());
        // Marking a slice other than the one handed out marks what it holds.
        count(&a, today);
        count(&b, today);
        let pending = c.unflushed(today);
        assert_eq!(pending.len(), 2);
        c.mark_flushed(&[row("p", "a", "2026-11-26", 2)]);
        assert_eq!(c.unflushed(today), vec![row("p", "b", "2026-11-26", 2)]);
    }

    #[test]
    fn a_refund_after_a_flush_is_written() {
        let c = QuotaCounters::default();
        let today = day("2026-11-26");
        let k = cell(&c, "p", "k");
        count(&k, today);
        count(&k, today);
        let pending = c.unflushed(today);
        c.mark_flushed(&pending);
        k.refund(1, today, false);
        assert_eq!(c.unflushed(today), vec![row("p", "k", "2026-11-26", 1)]);
    }

    #[test]
    fn written_days_no_period_needs_are_pruned() {
        let c = QuotaCounters::default();
        let k = cell(&c, "p", "k");
        let d1 = day("2026-10-30");
        let d2 = day("2026-11-26");
        let d3 = day("2026-11-27");
        count(&k, d1);
        // Not yet written: kept although no period needs it.
        let pending = c.unflushed(d2);
        assert_eq!(pending, vec![row("p", "k", "2026-10-30", 1)]);
        assert_eq!(days_held(&k), vec![d1]);
        c.mark_flushed(&pending);
        count(&k, d2);
        count(&k, d3);
        let pending = c.unflushed(d3);
        assert_eq!(
            pending,
            vec![
                row("p", "k", "2026-11-26", 1),
                row("p", "k", "2026-11-27", 1)
            ]
        );
        // October's written count is gone; November's days stay for a MONTH quota.
        assert_eq!(days_held(&k), vec![d2, d3]);
        c.mark_flushed(&pending);
        let q = quota(2, Period::Month);
        assert_eq!(
            k.try_consume(Some(&q), 0, |_| 0, None, 1, d3),
            QuotaDecision::Exceeded
        );
        // A new month: November is dropped at the next flush that visits the key.
        let dec1 = day("2026-12-06");
        count(&k, dec1);
        let pending = c.unflushed(dec1);
        assert_eq!(pending, vec![row("p", "k", "2026-12-06", 1)]);
        assert_eq!(days_held(&k), vec![dec1]);
    }

    #[test]
    fn days_out_of_order() {
        let c = QuotaCounters::default();
        let k = cell(&c, "p", "k");
        let today = day("2026-11-26");
        count(&k, today);
        count(&k, today - 2);
        count(&k, today - 1);
        count(&k, today - 2);
        assert_eq!(days_held(&k), vec![today - 2, today - 1, today]);
        assert_eq!(lock(&k.usage).used_between(today - 2, today), 4);
        assert_eq!(lock(&k.usage).used_between(today - 1, today), 2);
        k.refund(1, today - 2, false);
        assert_eq!(lock(&k.usage).used_between(today - 2, today - 2), 1);
    }

    #[test]
    fn counters_survive_until_their_key_or_plan_goes() {
        let c = QuotaCounters::default();
        let today = day("2026-11-26");
        let plan: Arc<str> = Arc::from("p");
        let k = cell(&c, "p", "k");
        count(&k, today);
        let same = c.cell(&plan, "k", None, 0, || vec![(today, 100)]);
        assert!(Arc::ptr_eq(&k, &same));
        c.remove_key("k");
        assert_eq!(c.cells_of("p"), 0);
        // Its count is still written.
        assert_eq!(c.unflushed(today), vec![row("p", "k", "2026-11-26", 1)]);
        cell(&c, "p", "other");
        c.remove_plan("p");
        assert_eq!(c.cells_of("p"), 0);
    }
}

//! Quota counting (`spec/aws-apigw.md` §3.2): requests per key and plan in the
//! current DAY, WEEK or MONTH, on UTC boundaries. Memory is authoritative while
//! Tollgate runs; per-day counts are written to the store in batches and read
//! back at start-up, so a restart keeps them and a kill -9 loses at most one batch.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use tollgate_model::time::Date;
use tollgate_model::usage_plan::UsageKey;

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

/// Counts of one key under one plan.
#[derive(Debug, Default)]
pub struct KeyUsage {
    /// day → (requests counted, requests already written to the store).
    days: BTreeMap<i64, (i64, i64)>,
    /// Requests in flight (for the concurrency extension).
    in_flight: u32,
}

impl KeyUsage {
    fn used_between(&self, first: i64, last: i64) -> i64 {
        self.days
            .range(first..=last)
            .map(|(_, (used, _))| used)
            .sum()
    }
}

/// The outcome of a quota check.
#[derive(Debug, PartialEq, Eq)]
pub enum QuotaDecision {
    Admitted,
    Exceeded,
    TooManyInFlight,
}

/// The counters of one key under one plan. The key index holds these handles,
/// so a request locks only its own key's counters, never a shared map.
#[derive(Debug, Default)]
pub struct UsageCell(Mutex<KeyUsage>);

impl UsageCell {
    /// Counts `cost` requests on `today` if the quota and the in-flight limit allow.
    /// `adjustment` is UpdateUsage's correction for the period starting on its argument.
    pub fn try_consume(
        &self,
        quota: Option<&Quota>,
        created_day: i64,
        adjustment: impl Fn(i64) -> i64,
        concurrency: Option<u32>,
        cost: i64,
        today: i64,
    ) -> QuotaDecision {
        let mut usage = lock(&self.0);
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
        usage.days.entry(today).or_insert((0, 0)).0 += cost;
        if concurrency.is_some() {
            usage.in_flight += 1;
        }
        QuotaDecision::Admitted
    }

    /// Undoes a [`UsageCell::try_consume`] for a request refused before its integration.
    pub fn refund(&self, cost: i64, day: i64, concurrency: bool) {
        let mut usage = lock(&self.0);
        if let Some(d) = usage.days.get_mut(&day) {
            d.0 = (d.0 - cost).max(0);
        }
        if concurrency {
            usage.in_flight = usage.in_flight.saturating_sub(1);
        }
    }

    /// Ends a request counted with a concurrency limit.
    pub fn finish(&self) {
        let mut usage = lock(&self.0);
        usage.in_flight = usage.in_flight.saturating_sub(1);
    }
}

/// One shard of the counters: (plan id, key id) → counters.
type CounterShard = Mutex<HashMap<(String, String), Arc<UsageCell>>>;

/// Counters for every key, sharded so no lock is global.
pub struct QuotaCounters {
    shards: Vec<CounterShard>,
    /// Stored per-day counts loaded at start-up, used to seed a key on first use.
    seed: Mutex<BTreeMap<UsageKey, i64>>,
}

impl Default for QuotaCounters {
    fn default() -> Self {
        QuotaCounters {
            shards: (0..64).map(|_| Mutex::new(HashMap::new())).collect(),
            seed: Mutex::new(BTreeMap::new()),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl QuotaCounters {
    /// Remembers the stored counts (called once with the state loaded at start-up).
    pub fn seed_from(&self, usage: &BTreeMap<UsageKey, i64>) {
        let mut seed = lock(&self.seed);
        if seed.is_empty() {
            seed.extend(usage.iter().map(|(k, v)| (k.clone(), *v)));
        }
    }

    /// The counters of `key_id` under `plan_id`, created (and seeded from the store) on first use.
    pub fn cell(&self, plan_id: &str, key_id: &str) -> Arc<UsageCell> {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in plan_id.bytes().chain(key_id.bytes()) {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        let shard = &self.shards[(h % self.shards.len() as u64) as usize];
        let mut map = lock(shard);
        if let Some(e) = map.get(&(plan_id.to_string(), key_id.to_string())) {
            return e.clone();
        }
        let mut usage = KeyUsage::default();
        let seed = lock(&self.seed);
        let from = UsageKey {
            plan_id: plan_id.to_string(),
            key_id: key_id.to_string(),
            day: String::new(),
        };
        for (k, used) in seed.range(from..) {
            if k.plan_id != plan_id || k.key_id != key_id {
                break;
            }
            if let Some(d) = Date::parse(&k.day) {
                usage.days.insert(d.days_since_epoch(), (*used, *used));
            }
        }
        let e = Arc::new(UsageCell(Mutex::new(usage)));
        map.insert((plan_id.to_string(), key_id.to_string()), e.clone());
        e
    }

    /// Per-day counts changed since the last write, as absolute values.
    pub fn unflushed(&self) -> Vec<(UsageKey, i64)> {
        let mut out = Vec::new();
        for shard in &self.shards {
            let entries: Vec<_> = lock(shard)
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            for ((plan_id, key_id), entry) in entries {
                let usage = lock(&entry.0);
                for (day, (used, flushed)) in &usage.days {
                    if used != flushed {
                        out.push((
                            UsageKey {
                                plan_id: plan_id.clone(),
                                key_id: key_id.clone(),
                                day: Date::from_days_since_epoch(*day).to_string(),
                            },
                            *used,
                        ));
                    }
                }
            }
        }
        out
    }

    /// Records that `written` counts are durable.
    pub fn mark_flushed(&self, written: &[(UsageKey, i64)]) {
        for (key, used) in written {
            let Some(day) = Date::parse(&key.day) else {
                continue;
            };
            let entry = self.cell(&key.plan_id, &key.key_id);
            let mut usage = lock(&entry.0);
            if let Some(d) = usage.days.get_mut(&day.days_since_epoch()) {
                d.1 = d.1.max(*used).min(d.0);
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
            let cell = c.cell("p", "k");
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
            c.cell("p", "k")
                .try_consume(Some(&q), 0, |_| 8, None, 2, today),
            QuotaDecision::Admitted
        );
        assert_eq!(
            c.cell("p", "k")
                .try_consume(Some(&q), 0, |_| 8, None, 1, today),
            QuotaDecision::Exceeded
        );
        // Offset: the creation period has `offset` fewer requests.
        let q = Quota {
            limit: 10,
            offset: 9,
            period: Period::Day,
        };
        assert_eq!(
            c.cell("p", "o")
                .try_consume(Some(&q), today, |_| 0, None, 1, today),
            QuotaDecision::Admitted
        );
        assert_eq!(
            c.cell("p", "o")
                .try_consume(Some(&q), today, |_| 0, None, 1, today),
            QuotaDecision::Exceeded
        );
        assert_eq!(
            c.cell("p", "o")
                .try_consume(Some(&q), today, |_| 0, None, 1, today + 1),
            QuotaDecision::Admitted
        );
    }

    #[test]
    fn limits_requests_in_flight() {
        let c = QuotaCounters::default();
        let today = day("2026-11-26");
        assert_eq!(
            c.cell("p", "k")
                .try_consume(None, 0, |_| 0, Some(1), 1, today),
            QuotaDecision::Admitted
        );
        assert_eq!(
            c.cell("p", "k")
                .try_consume(None, 0, |_| 0, Some(1), 1, today),
            QuotaDecision::TooManyInFlight
        );
        c.cell("p", "k").finish();
        assert_eq!(
            c.cell("p", "k")
                .try_consume(None, 0, |_| 0, Some(1), 1, today),
            QuotaDecision::Admitted
        );
    }

    #[test]
    fn seeds_and_flushes() {
        let c = QuotaCounters::default();
        let k = |d: &str| UsageKey {
            plan_id: "p".into(),
            key_id: "k".into(),
            day: d.into(),
        };
        c.seed_from(&BTreeMap::from([(k("2026-11-26"), 4)]));
        let q = quota(5, Period::Day);
        let today = day("2026-11-26");
        assert_eq!(
            c.cell("p", "k")
                .try_consume(Some(&q), 0, |_| 0, None, 1, today),
            QuotaDecision::Admitted
        );
        assert_eq!(
            c.cell("p", "k")
                .try_consume(Some(&q), 0, |_| 0, None, 1, today),
            QuotaDecision::Exceeded
        );
        let pending = c.unflushed();
        assert_eq!(pending, vec![(k("2026-11-26"), 5)]);
        c.mark_flushed(&pending);
        assert!(c.unflushed().is_empty());
    }
}

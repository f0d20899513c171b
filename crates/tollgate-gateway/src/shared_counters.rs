//! Usage-plan counters shared in Redis (`--counters redis://…`), so that
//! several Tollgate instances enforce one usage plan together: a key with
//! 10 000 requests a day gets 10 000 across the cluster.
//!
//! What is shared: each key's throttle under its plan (the plan's per-key
//! bucket and the plan's per-method buckets, GCRA like [`crate::throttle`]),
//! its in-flight leases (`tollgate:concurrency`) and its quota, all checked
//! and written by one Lua script in one round trip (`check.lua`: EVALSHA,
//! EVAL when Redis answers NOSCRIPT). Stage and account throttles stay per
//! instance: they protect the instance's own upstream, not a plan.
//!
//! Local hints keep round trips off requests whose answer is already certain:
//! a bucket Redis said is empty refuses locally until its next token is due
//! (other instances can only take tokens, never add them), and a quota Redis
//! said is exhausted refuses locally for a second (refunds elsewhere are
//! seen within that second).
//!
//! Grants keep round trips off requests certain to pass: where a key's plan
//! has room to spare, the script admits the request and sets aside up to
//! [`SharedSettings::grant_max`] more of its units (plan tokens and quota,
//! counted in Redis at once), which this instance then admits without
//! asking ([`Grant`]). So the cluster never admits more than the plan
//! allows; what a grant costs is that its unused units are out of the
//! others' reach: quota units until they are given back ([`GRANT_TTL`]
//! after the grant), tokens for good (they lapse as the bucket refills).
//! A grant is at most [`GRANT_RATE_WINDOW_SECS`] of the plan's rate, a
//! quarter of the instance's share of the burst and 1/(8 × instances) of the
//! quota left; keys with a method throttle, an in-flight limit or a request
//! cost other than one are always asked for.
//!
//! When Redis cannot be reached (an error or no answer within the timeout),
//! the instance marks it down, logs one warning, counts the outage in
//! `tollgate_counters_redis_outages_total` and follows its
//! [`FailurePolicy`] without asking Redis again until a background probe
//! sees it answer. Under [`FailurePolicy::Local`] the requests it admits
//! meanwhile are added to Redis once it is back.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use redis::aio::ConnectionManager;

use crate::clock::Clock;
use crate::quota::{period_end, period_start};
use crate::throttle::{LazyBuckets, Limits};
use crate::usage_plans::{Period, Quota};

/// What to do while Redis cannot be reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailurePolicy {
    /// Refuse keyed requests with 503 (no request is served uncounted).
    Closed,
    /// Enforce each limit per instance at this instance's share of it.
    Local,
}

/// How the shared counters are set up.
#[derive(Debug, Clone)]
pub struct SharedSettings {
    /// `redis://host:port/db` (or `rediss://`, `redis+unix://`).
    pub url: String,
    /// Prepended to every Redis key, so clusters can share one Redis.
    pub prefix: String,
    pub failure: FailurePolicy,
    /// This instance's share of every limit under [`FailurePolicy::Local`]
    /// (1 / instances by default).
    pub share: f64,
    /// Longest wait for one Redis answer.
    pub timeout: Duration,
    /// Most units of a key one round trip may set aside for this instance
    /// (1: none, every request asks Redis).
    pub grant_max: u32,
}

/// The default Redis call timeout: a dead Redis costs a request at most this.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(50);

/// The default [`SharedSettings::grant_max`].
pub const DEFAULT_GRANT_MAX: u32 = 32;

/// How long granted units stay usable here; then what is left is given back.
pub const GRANT_TTL: Duration = Duration::from_secs(2);

/// A grant holds at most this long of the plan's rate.
pub const GRANT_RATE_WINDOW_SECS: f64 = 0.05;

/// How long an in-flight lease holds its slot when its instance never ends it
/// (a crash): longer than any request is expected to run.
const LEASE: Duration = Duration::from_secs(15 * 60);

/// How long a quota Redis said is exhausted refuses without asking again.
const EXHAUSTED_RECHECK_NANOS: u64 = 1_000_000_000;

/// Late answers in a row that make an outage.
const SLOW_IN_A_ROW: u32 = 3;

/// How often a down Redis is probed.
const PROBE_INTERVAL: Duration = Duration::from_millis(200);

/// Days a per-day count is kept in Redis for GetUsage (AWS keeps 90).
const DAY_RETENTION_DAYS: i64 = 92;

#[derive(Debug, thiserror::Error)]
pub enum SharedCountersError {
    #[error("invalid Redis URL: {0}")]
    Url(String),
    #[error("Redis: {0}")]
    Redis(String),
}

/// Whether `url` is a Redis URL the client accepts.
pub fn check_url(url: &str) -> Result<(), SharedCountersError> {
    redis::Client::open(url)
        .map(drop)
        .map_err(|e| SharedCountersError::Url(e.to_string()))
}

/// The Redis side of one key under one plan: names of its entries.
#[derive(Debug)]
pub(crate) struct RedisKeys {
    /// `{prefix}{plan}:{key}:` — every entry of the key under the plan.
    base: String,
}

impl RedisKeys {
    pub(crate) fn new(prefix: &str, plan_id: &str, key_id: &str) -> RedisKeys {
        RedisKeys {
            base: format!("{prefix}{plan_id}:{key_id}:"),
        }
    }
    fn day_prefix(&self) -> String {
        format!("{}d:", self.base)
    }
    fn day(&self, day: i64) -> String {
        format!("{}d:{day}", self.base)
    }
    fn quota(&self, period: Period, start: i64) -> String {
        let p = match period {
            Period::Day => 'D',
            Period::Week => 'W',
            Period::Month => 'M',
        };
        format!("{}q:{p}{start}", self.base)
    }
    fn plan_bucket(&self) -> String {
        format!("{}t", self.base)
    }
    /// AWS keys a plan's method throttle by API stage and `/path/METHOD`.
    fn method_bucket(&self, api_id: &str, stage: &str, method: &str) -> String {
        format!("{}t:{api_id}:{stage}:{method}", self.base)
    }
    fn in_flight(&self) -> String {
        format!("{}c", self.base)
    }
}

/// What the local side remembers of a key's counters in Redis, to answer
/// without a round trip where the answer is certain, and to size its share
/// when Redis is down. Atomics: written by requests, never locked.
#[derive(Debug, Default)]
pub struct RemoteHints {
    /// Monotonic nanoseconds before which the plan's bucket has no token.
    plan_bucket_empty_until: AtomicU64,
    /// The quota Redis last refused: the period's first day and the limit
    /// that applied (a change of either asks again), and until when.
    exhausted_period: AtomicI64,
    exhausted_limit: AtomicI64,
    exhausted_until: AtomicU64,
    /// The period's use Redis last reported, and its first day.
    known_period: AtomicI64,
    known_used: AtomicI64,
    /// Units set aside for this instance (made on the key's first grant).
    grant: OnceLock<Arc<Mutex<Grant>>>,
}

/// Units of a key counted in Redis but not yet used by a request here.
#[derive(Debug, Default)]
struct Grant {
    left: i64,
    terms: GrantTerms,
    /// Monotonic nanoseconds after which the units are given back.
    until: u64,
    /// Tells the grant a give-back was scheduled for from a later one.
    generation: u64,
    /// Where the units were counted, to give back what is left.
    quota_key: Option<String>,
    day_key: String,
}

/// What a grant was made under: units granted under other terms (another
/// day, a changed limit or throttle) are given back, not used.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
struct GrantTerms {
    day: i64,
    /// The quota's limit left for the period (-1: no quota).
    limit: i64,
    /// The plan throttle's rate (bits) and burst.
    throttle: Option<(u64, u64)>,
}

impl GrantTerms {
    fn of(req: &CheckRequest<'_>) -> GrantTerms {
        GrantTerms {
            day: req.today,
            limit: req.quota.map_or(-1, |(_, limit)| limit),
            throttle: req.plan_throttle.map(|l| (l.rate.to_bits(), l.burst)),
        }
    }
}

/// Units taken out of a grant to give back: (quota key, day key, day, amount).
type GiveBack = (Option<String>, String, i64, i64);

impl Grant {
    fn take_left(&mut self) -> Option<GiveBack> {
        let left = std::mem::take(&mut self.left);
        (left > 0).then(|| {
            (
                self.quota_key.clone(),
                self.day_key.clone(),
                self.terms.day,
                left,
            )
        })
    }
}

impl RemoteHints {
    fn known_used(&self, start: i64) -> i64 {
        if self.known_period.load(Ordering::Relaxed) == start {
            self.known_used.load(Ordering::Relaxed)
        } else {
            0
        }
    }
}

/// One request's admission as the script checks it.
pub(crate) struct CheckRequest<'a> {
    pub keys: &'a RedisKeys,
    pub hints: &'a RemoteHints,
    pub api_id: &'a str,
    pub stage: &'a str,
    /// The plan's method throttle for this method, if any, and its `/path/METHOD`.
    pub method_throttle: Option<(&'a str, Limits)>,
    pub plan_throttle: Option<Limits>,
    /// The quota, and the limit left for this period (offset and UpdateUsage applied).
    pub quota: Option<(&'a Quota, i64)>,
    pub concurrency: Option<u32>,
    pub cost: i64,
    pub today: i64,
}

/// Why the shared counters refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    MethodThrottle,
    PlanThrottle,
    InFlight,
    Quota,
    /// Redis is down and the policy is closed.
    Unavailable,
}

/// An admitted request's hold on the shared counters: its quota use (to
/// refund) and its in-flight slot (ended when the request ends).
#[derive(Debug)]
pub(crate) struct SharedLease {
    counters: Arc<SharedCounters>,
    quota_key: Option<String>,
    day_key: String,
    day: i64,
    cost: i64,
    /// Held, not read: dropping it ends the request's in-flight slot.
    _slot: Slot,
}

/// An in-flight slot, ended when dropped.
#[derive(Debug)]
enum Slot {
    None,
    Redis {
        key: String,
        id: String,
        release: tokio::sync::mpsc::UnboundedSender<Deferred>,
    },
    Local(Arc<AtomicU32>),
}

impl Drop for Slot {
    fn drop(&mut self) {
        match self {
            Slot::None => {}
            Slot::Redis { key, id, release } => {
                let _ = release.send(Deferred::Release {
                    key: std::mem::take(key),
                    id: std::mem::take(id),
                });
            }
            Slot::Local(n) => {
                let _ = n.fetch_update(Ordering::AcqRel, Ordering::Acquire, |v| {
                    Some(v.saturating_sub(1))
                });
            }
        }
    }
}

impl SharedLease {
    /// Takes back the quota the request used (refused before its integration).
    pub(crate) fn refund(&self) {
        self.counters.adjust_later(
            self.quota_key.clone(),
            self.day_key.clone(),
            self.day,
            -self.cost,
        );
    }
}

/// Work done off the request path by the background task.
#[derive(Debug)]
enum Deferred {
    Release {
        key: String,
        id: String,
    },
    Adjust {
        quota_key: Option<String>,
        day_key: String,
        day: i64,
        amount: i64,
    },
}

/// A period's quota counter (if the plan has a quota) and a day's count.
type CountKeys = (Option<String>, String);

/// Per-instance limits used while Redis is down ([`FailurePolicy::Local`]).
#[derive(Default)]
struct Fallback {
    buckets: LazyBuckets,
    /// `(plan, key)` → (period start, requests admitted locally in it).
    quotas: Mutex<HashMap<String, (i64, i64)>>,
    in_flight: Mutex<HashMap<String, Arc<AtomicU32>>>,
    /// Counts admitted while down, added to Redis once it is back:
    /// (quota key, day key) → (day, amount).
    unsent: Mutex<HashMap<CountKeys, (i64, i64)>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Numbers [`SharedCounters`] instances for their per-thread connections.
static NEXT_INSTANCE: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// This thread's connections, by [`SharedCounters`] instance.
    static THREAD_CONNECTIONS: std::cell::RefCell<Vec<(u64, ConnectionManager)>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// The shared counters of one instance.
pub struct SharedCounters {
    /// For the control plane's blocking reads (GetUsage), with the
    /// connection they keep between calls.
    client: redis::Client,
    blocking: Mutex<Option<redis::Connection>>,
    conn: ConnectionManager,
    /// For the per-thread connections of [`SharedCounters::thread_connection`].
    conn_config: redis::aio::ConnectionManagerConfig,
    /// Tells this instance's per-thread connections from another's.
    id: u64,
    check: LuaScript,
    adjust: LuaScript,
    settings: SharedSettings,
    /// Redis is believed down: requests follow the policy without asking it.
    down: AtomicBool,
    /// Late answers since the last timely one.
    slow: AtomicU32,
    /// Wakes the probe when a request finds Redis down.
    probe: tokio::sync::Notify,
    outages: AtomicU64,
    round_trips: AtomicU64,
    granted: AtomicU64,
    fallback: Fallback,
    deferred: tokio::sync::mpsc::UnboundedSender<Deferred>,
    /// Distinguishes this instance's in-flight leases.
    instance: String,
    next_lease: AtomicU64,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for SharedCounters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedCounters")
            .field("prefix", &self.settings.prefix)
            .field("down", &self.down.load(Ordering::Relaxed))
            .finish()
    }
}

impl SharedCounters {
    /// Sets up the counters on `settings.url` without waiting for Redis
    /// (a Redis down at start-up is an outage like any other), and starts
    /// the background task (lease releases, refunds, the probe). Call it
    /// inside a Tokio runtime.
    pub fn start(
        settings: SharedSettings,
        clock: Arc<dyn Clock>,
    ) -> Result<Arc<SharedCounters>, SharedCountersError> {
        let client = redis::Client::open(settings.url.as_str())
            .map_err(|e| SharedCountersError::Url(e.to_string()))?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(settings.timeout.max(Duration::from_millis(100))))
            .set_response_timeout(Some(settings.timeout))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(500));
        let conn = ConnectionManager::new_lazy_with_config(client.clone(), config.clone())
            .map_err(|e| SharedCountersError::Redis(e.to_string()))?;
        let (deferred, queue) = tokio::sync::mpsc::unbounded_channel();
        let counters = Arc::new(SharedCounters {
            client,
            blocking: Mutex::new(None),
            conn,
            conn_config: config,
            id: NEXT_INSTANCE.fetch_add(1, Ordering::Relaxed),
            check: LuaScript::new(include_str!("shared_counters/check.lua")),
            adjust: LuaScript::new(include_str!("shared_counters/adjust.lua")),
            settings,
            down: AtomicBool::new(false),
            slow: AtomicU32::new(0),
            probe: tokio::sync::Notify::new(),
            outages: AtomicU64::new(0),
            round_trips: AtomicU64::new(0),
            granted: AtomicU64::new(0),
            fallback: Fallback::default(),
            deferred,
            instance: format!("{:016x}", rand::random::<u64>()),
            next_lease: AtomicU64::new(0),
            clock,
        });
        metrics::gauge!("tollgate_counters_redis_up").set(1.0);
        tokio::spawn(background(counters.clone(), queue));
        Ok(counters)
    }

    /// The connection of the current thread's runtime, made on first use.
    /// Each serving thread runs a runtime of its own (DESIGN.md): with one
    /// connection for all, every request's answer would be read by the
    /// connection's task on another thread and handed back across threads.
    fn thread_connection(&self) -> ConnectionManager {
        if tokio::runtime::Handle::try_current().is_err() {
            return self.conn.clone();
        }
        THREAD_CONNECTIONS.with(|held| {
            let mut held = held.borrow_mut();
            if let Some((_, conn)) = held.iter().find(|(id, _)| *id == self.id) {
                return conn.clone();
            }
            match ConnectionManager::new_lazy_with_config(
                self.client.clone(),
                self.conn_config.clone(),
            ) {
                Ok(conn) => {
                    held.push((self.id, conn.clone()));
                    conn
                }
                Err(_) => self.conn.clone(),
            }
        })
    }

    pub fn settings(&self) -> &SharedSettings {
        &self.settings
    }

    /// Whether Redis is currently believed down.
    pub fn is_down(&self) -> bool {
        self.down.load(Ordering::Relaxed)
    }

    /// Outages seen since start (each logged once).
    pub fn outages(&self) -> u64 {
        self.outages.load(Ordering::Relaxed)
    }

    /// Admission scripts sent to Redis since start.
    pub fn round_trips(&self) -> u64 {
        self.round_trips.load(Ordering::Relaxed)
    }

    /// Requests admitted from grants (without a round trip) since start.
    pub fn granted_requests(&self) -> u64 {
        self.granted.load(Ordering::Relaxed)
    }

    pub(crate) fn keys(&self, plan_id: &str, key_id: &str) -> RedisKeys {
        RedisKeys::new(&self.settings.prefix, plan_id, key_id)
    }

    /// Checks and counts one request: locally when the answer is certain or
    /// Redis is down, else with one script call.
    pub(crate) async fn check(
        self: &Arc<Self>,
        req: CheckRequest<'_>,
    ) -> Result<SharedLease, Refusal> {
        let now = self.clock.monotonic_nanos();
        if let Some(lease) = self.from_grant(&req, now) {
            return Ok(lease);
        }
        if let Some(refusal) = self.certain_refusal(&req, now) {
            return Err(refusal);
        }
        if self.is_down() {
            return self.without_redis(&req);
        }
        let lease_id = req.concurrency.map(|_| {
            format!(
                "{}:{}",
                self.instance,
                self.next_lease.fetch_add(1, Ordering::Relaxed)
            )
        });
        // Named once: the script's keys, then the lease's and the grant's.
        let count_keys = self.period_keys(&req);
        match self.ask(&req, &count_keys, lease_id.as_deref()).await {
            Ok(answer) => {
                self.slow.store(0, Ordering::Relaxed);
                self.answered(&req, answer, count_keys, lease_id, now)
            }
            Err(e) => {
                // A refused or broken connection is an outage at once; late
                // answers only when they keep coming (one slow reply on a
                // busy host is not worth a switch of every request).
                let late = e.is_timeout();
                if !late || self.slow.fetch_add(1, Ordering::Relaxed) + 1 >= SLOW_IN_A_ROW {
                    self.went_down(&e);
                }
                self.without_redis(&req)
            }
        }
    }

    /// Admits the request from the key's grant, when it has units left
    /// under the request's terms; gives back a grant that is stale.
    fn from_grant(self: &Arc<Self>, req: &CheckRequest<'_>, now: u64) -> Option<SharedLease> {
        let cell = req.hints.grant.get()?;
        let mut grant = lock(cell);
        if grant.left == 0 {
            return None;
        }
        if grant.terms == GrantTerms::of(req) && now < grant.until && self.grant_want(req) > 1 {
            grant.left -= 1;
            let (quota_key, day_key) = (grant.quota_key.clone(), grant.day_key.clone());
            drop(grant);
            self.granted.fetch_add(1, Ordering::Relaxed);
            return Some(self.lease(req, (quota_key, day_key), Slot::None));
        }
        let stale = grant.take_left();
        drop(grant);
        if let Some(stale) = stale {
            self.give_back(stale);
        }
        None
    }

    /// Returns a grant's unused quota units to Redis (in the background).
    fn give_back(&self, (quota_key, day_key, day, left): GiveBack) {
        metrics::counter!("tollgate_counters_given_back_units_total").increment(left as u64);
        self.adjust_later(quota_key, day_key, day, -left);
    }

    /// How many units (this request's included) a round trip may take for
    /// the key: 1 where grants do not apply.
    fn grant_want(&self, req: &CheckRequest<'_>) -> i64 {
        let max = i64::from(self.settings.grant_max);
        if max <= 1 || req.cost != 1 || req.method_throttle.is_some() || req.concurrency.is_some() {
            return 1;
        }
        match req.plan_throttle {
            Some(l) => {
                let by_rate = l.rate * GRANT_RATE_WINDOW_SECS;
                let by_burst = l.burst as f64 / (4 * self.instances()) as f64;
                // NaN (an odd rate) compares false: no grant.
                let units = by_rate.min(by_burst).floor();
                if units >= 1.0 {
                    max.min(units as i64)
                } else {
                    1
                }
            }
            None => max,
        }
    }

    /// Instances sharing the counters, as this instance's share says.
    fn instances(&self) -> i64 {
        (1.0 / self.settings.share).round().max(1.0) as i64
    }

    /// Sets aside `extra` units the script granted beyond the request, and
    /// schedules giving back what is left of them after [`GRANT_TTL`].
    fn keep_grant(
        self: &Arc<Self>,
        req: &CheckRequest<'_>,
        extra: i64,
        now: u64,
        (quota_key, day_key): CountKeys,
    ) {
        let cell = req.hints.grant.get_or_init(Arc::default).clone();
        let terms = GrantTerms::of(req);
        let mut grant = lock(&cell);
        let stale = if grant.terms == terms {
            None
        } else {
            grant.take_left()
        };
        grant.left += extra;
        grant.terms = terms;
        grant.until = now.saturating_add(GRANT_TTL.as_nanos() as u64);
        grant.generation += 1;
        grant.quota_key = quota_key;
        grant.day_key = day_key;
        let generation = grant.generation;
        drop(grant);
        metrics::counter!("tollgate_counters_granted_units_total").increment(extra as u64);
        if let Some(stale) = stale {
            self.give_back(stale);
        }
        let counters = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(GRANT_TTL).await;
            let left = {
                let mut grant = lock(&cell);
                if grant.generation != generation {
                    return; // a later grant's give-back takes it
                }
                grant.take_left()
            };
            if let Some(left) = left {
                counters.give_back(left);
            }
        });
    }

    /// A refusal the hints make certain.
    fn certain_refusal(&self, req: &CheckRequest<'_>, now: u64) -> Option<Refusal> {
        let h = req.hints;
        if req.plan_throttle.is_some() && now < h.plan_bucket_empty_until.load(Ordering::Relaxed) {
            return Some(Refusal::PlanThrottle);
        }
        if let Some((q, limit)) = req.quota {
            let start = period_start(q.period, req.today);
            if h.exhausted_period.load(Ordering::Relaxed) == start
                && h.exhausted_limit.load(Ordering::Relaxed) == limit
                && now < h.exhausted_until.load(Ordering::Relaxed)
            {
                return Some(Refusal::Quota);
            }
        }
        None
    }

    fn period_keys(&self, req: &CheckRequest<'_>) -> (Option<String>, String) {
        let quota_key = req
            .quota
            .map(|(q, _)| req.keys.quota(q.period, period_start(q.period, req.today)));
        (quota_key, req.keys.day(req.today))
    }

    /// One script call; `(status, value)`.
    async fn ask(
        &self,
        req: &CheckRequest<'_>,
        (quota_key, day_key): &CountKeys,
        lease_id: Option<&str>,
    ) -> Result<(i64, i64, i64), redis::RedisError> {
        let interval = |l: Limits| -> i64 {
            if l.rate <= 0.0 || !l.rate.is_finite() {
                1_000_000_000_000_000
            } else {
                ((1e6 / l.rate) as i64).max(1)
            }
        };
        let (m_key, m_interval, m_burst) = match req.method_throttle {
            Some((name, l)) => (
                req.keys.method_bucket(req.api_id, req.stage, name),
                interval(l),
                l.burst as i64,
            ),
            None => (String::new(), -1, 0),
        };
        let (p_interval, p_burst) = match req.plan_throttle {
            Some(l) => (interval(l), l.burst as i64),
            None => (-1, 0),
        };
        let (limit, start, quota_expiry) = match req.quota {
            Some((q, limit)) => {
                let start = period_start(q.period, req.today);
                (limit, start, (period_end(q.period, start) + 1) * 86_400)
            }
            None => (-1, req.today, 0),
        };
        let (plan_key, quota_key, in_flight_key) = (
            req.keys.plan_bucket(),
            quota_key.as_deref().unwrap_or_default(),
            req.keys.in_flight(),
        );
        let keys = [
            m_key.as_str(),
            &plan_key,
            quota_key,
            day_key,
            &in_flight_key,
        ];
        let lease_ms = LEASE.as_millis() as i64;
        let day_prefix = req.keys.day_prefix();
        let want = self.grant_want(req);
        let args = |cmd: &mut redis::Cmd| {
            cmd.arg(m_interval)
                .arg(m_burst)
                .arg(p_interval)
                .arg(p_burst)
                .arg(limit)
                .arg(req.cost)
                .arg(quota_expiry)
                .arg(day_expiry(req.today))
                .arg(req.concurrency.map_or(-1, i64::from))
                .arg(lease_id.unwrap_or_default())
                .arg(lease_ms)
                .arg(&day_prefix)
                .arg(start)
                .arg(req.today)
                .arg(want)
                .arg(8 * self.instances());
        };
        self.round_trips.fetch_add(1, Ordering::Relaxed);
        let mut conn = self.thread_connection();
        let call = self.check.eval::<Vec<i64>>(&keys, args, &mut conn);
        match tokio::time::timeout(self.settings.timeout, call).await {
            // {status, value} or {0, used, units taken}.
            Ok(Ok(answer)) => match answer[..] {
                [status, value] => Ok((status, value, 1)),
                [status, value, units] => Ok((status, value, units.max(1))),
                _ => Err(redis::RedisError::from((
                    redis::ErrorKind::Parse,
                    "an admission answer of an unexpected shape",
                ))),
            },
            Ok(Err(e)) => Err(e),
            Err(_) => Err(redis::RedisError::from(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "no answer within the counters timeout",
            ))),
        }
    }

    fn answered(
        self: &Arc<Self>,
        req: &CheckRequest<'_>,
        (status, value, units): (i64, i64, i64),
        keys: CountKeys,
        lease_id: Option<String>,
        now: u64,
    ) -> Result<SharedLease, Refusal> {
        let h = req.hints;
        match status {
            0 => {
                if let Some((q, _)) = req.quota {
                    h.known_period
                        .store(period_start(q.period, req.today), Ordering::Relaxed);
                    h.known_used.store(value, Ordering::Relaxed);
                }
                if units > 1 {
                    self.keep_grant(req, units - 1, now, keys.clone());
                }
                let slot = match lease_id {
                    Some(id) => Slot::Redis {
                        key: req.keys.in_flight(),
                        id,
                        release: self.deferred.clone(),
                    },
                    None => Slot::None,
                };
                Ok(self.lease(req, keys, slot))
            }
            1 => Err(Refusal::MethodThrottle),
            2 => {
                let wait = (value.max(0) as u64).saturating_mul(1000);
                h.plan_bucket_empty_until
                    .store(now.saturating_add(wait), Ordering::Relaxed);
                Err(Refusal::PlanThrottle)
            }
            3 => Err(Refusal::InFlight),
            _ => {
                if let Some((q, limit)) = req.quota {
                    let start = period_start(q.period, req.today);
                    h.known_period.store(start, Ordering::Relaxed);
                    h.known_used.store(value, Ordering::Relaxed);
                    h.exhausted_period.store(start, Ordering::Relaxed);
                    h.exhausted_limit.store(limit, Ordering::Relaxed);
                    h.exhausted_until
                        .store(now + EXHAUSTED_RECHECK_NANOS, Ordering::Relaxed);
                }
                Err(Refusal::Quota)
            }
        }
    }

    fn went_down(&self, error: &redis::RedisError) {
        if !self.down.swap(true, Ordering::AcqRel) {
            self.outages.fetch_add(1, Ordering::Relaxed);
            metrics::counter!("tollgate_counters_redis_outages_total").increment(1);
            metrics::gauge!("tollgate_counters_redis_up").set(0.0);
            tracing::warn!(
                error = %error,
                policy = ?self.settings.failure,
                "the shared usage counters (Redis) cannot be reached: {}",
                match self.settings.failure {
                    FailurePolicy::Closed => "keyed requests get 503 until it is back",
                    FailurePolicy::Local => "each instance enforces its share of every limit until it is back",
                }
            );
        }
        self.probe.notify_one();
    }

    /// The policy's answer while Redis is down.
    fn without_redis(self: &Arc<Self>, req: &CheckRequest<'_>) -> Result<SharedLease, Refusal> {
        if self.settings.failure == FailurePolicy::Closed {
            return Err(Refusal::Unavailable);
        }
        metrics::counter!("tollgate_counters_local_decisions_total").increment(1);
        let share = self.settings.share;
        let scaled = |l: Limits| Limits {
            burst: if l.burst == 0 {
                0
            } else {
                ((l.burst as f64 * share).floor() as u64).max(1)
            },
            rate: l.rate * share,
        };
        let now = self.clock.monotonic_nanos();
        let fb = &self.fallback;
        let base = &req.keys.base;
        let method_bucket = req.method_throttle.map(|(name, l)| {
            fb.buckets.get(
                &req.keys.method_bucket(req.api_id, req.stage, name),
                scaled(l),
                now,
            )
        });
        let plan_bucket = req
            .plan_throttle
            .map(|l| fb.buckets.get(base, scaled(l), now));
        if let Some(b) = &method_bucket {
            if !b.try_acquire(now) {
                return Err(Refusal::MethodThrottle);
            }
        }
        if let Some(b) = &plan_bucket {
            if !b.try_acquire(now) {
                if let Some(m) = &method_bucket {
                    m.release(now);
                }
                return Err(Refusal::PlanThrottle);
            }
        }
        let give_back = || {
            for b in [&method_bucket, &plan_bucket].into_iter().flatten() {
                b.release(now);
            }
        };
        let slot = match req.concurrency {
            Some(max) => {
                let local_max = ((f64::from(max) * share).floor() as u32).max(u32::from(max > 0));
                let n = lock(&fb.in_flight).entry(base.clone()).or_default().clone();
                let taken = n.fetch_update(Ordering::AcqRel, Ordering::Acquire, |v| {
                    (v < local_max).then_some(v + 1)
                });
                if taken.is_err() {
                    give_back();
                    return Err(Refusal::InFlight);
                }
                Slot::Local(n)
            }
            None => Slot::None,
        };
        let (quota_key, day_key) = self.period_keys(req);
        if let Some((q, limit)) = req.quota {
            let start = period_start(q.period, req.today);
            let known = req.hints.known_used(start);
            // Every instance may use its share of what was left when Redis went away.
            let allowance = ((limit - known).max(0) as f64 * share).floor() as i64;
            let mut quotas = lock(&fb.quotas);
            let entry = quotas.entry(base.clone()).or_insert((start, 0));
            if entry.0 != start {
                *entry = (start, 0);
            }
            if entry.1 + req.cost > allowance {
                drop(quotas);
                give_back();
                drop(slot);
                return Err(Refusal::Quota);
            }
            entry.1 += req.cost;
        }
        // Sent once Redis answers (kept aside while it is down).
        self.adjust_later(quota_key.clone(), day_key.clone(), req.today, req.cost);
        Ok(self.lease(req, (quota_key, day_key), slot))
    }

    /// The admitted request's hold: where its units were counted (to
    /// refund them) and its in-flight slot.
    fn lease(
        self: &Arc<Self>,
        req: &CheckRequest<'_>,
        (quota_key, day_key): CountKeys,
        slot: Slot,
    ) -> SharedLease {
        SharedLease {
            counters: self.clone(),
            quota_key,
            day_key,
            day: req.today,
            cost: req.cost,
            _slot: slot,
        }
    }

    /// Adds `amount` to a key's day (and live period) count later, in the background.
    fn adjust_later(&self, quota_key: Option<String>, day_key: String, day: i64, amount: i64) {
        if self.is_down() {
            let mut unsent = lock(&self.fallback.unsent);
            unsent.entry((quota_key, day_key)).or_insert((day, 0)).1 += amount;
            return;
        }
        let _ = self.deferred.send(Deferred::Adjust {
            quota_key,
            day_key,
            day,
            amount,
        });
    }

    /// Per-day counts of `key_id` under `plan_id` for `days` (days since the
    /// epoch), as GetUsage reports them.
    pub async fn used_on_days(
        &self,
        plan_id: &str,
        key_id: &str,
        days: std::ops::RangeInclusive<i64>,
    ) -> Result<Vec<i64>, SharedCountersError> {
        let keys = self.keys(plan_id, key_id);
        let names: Vec<String> = days.map(|d| keys.day(d)).collect();
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let mut conn = self.conn.clone();
        let mut mget = redis::cmd("MGET");
        mget.arg(&names);
        let call = mget.query_async::<Vec<Option<i64>>>(&mut conn);
        match tokio::time::timeout(self.settings.timeout * 10, call).await {
            Ok(Ok(values)) => Ok(values.into_iter().map(Option::unwrap_or_default).collect()),
            Ok(Err(e)) => Err(SharedCountersError::Redis(e.to_string())),
            Err(_) => Err(SharedCountersError::Redis("no answer in time".into())),
        }
    }

    /// [`SharedCounters::used_on_days`] for blocking callers (the control
    /// plane runs off the async runtime), on a connection of its own.
    pub fn used_on_days_blocking(
        &self,
        plan_id: &str,
        key_id: &str,
        days: std::ops::RangeInclusive<i64>,
    ) -> Result<Vec<i64>, SharedCountersError> {
        let keys = self.keys(plan_id, key_id);
        let names: Vec<String> = days.map(|d| keys.day(d)).collect();
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let timeout = (self.settings.timeout * 10).max(Duration::from_millis(500));
        let redis = |e: redis::RedisError| SharedCountersError::Redis(e.to_string());
        let mut held = lock(&self.blocking);
        let mut conn = match held.take() {
            Some(conn) => conn,
            None => {
                let conn = self
                    .client
                    .get_connection_with_timeout(timeout)
                    .map_err(redis)?;
                conn.set_read_timeout(Some(timeout)).map_err(redis)?;
                conn.set_write_timeout(Some(timeout)).map_err(redis)?;
                conn
            }
        };
        // A failed call drops the connection: the next call opens another.
        let values: Vec<Option<i64>> = redis::cmd("MGET")
            .arg(&names)
            .query(&mut conn)
            .map_err(redis)?;
        *held = Some(conn);
        Ok(values.into_iter().map(Option::unwrap_or_default).collect())
    }

    /// Sends the counts admitted while Redis was down; true when all went.
    async fn send_unsent(&self) -> bool {
        let unsent = std::mem::take(&mut *lock(&self.fallback.unsent));
        let mut failed = Vec::new();
        for ((quota_key, day_key), (day, amount)) in unsent {
            if amount == 0 {
                continue;
            }
            if self
                .send_adjust(quota_key.as_deref(), &day_key, day, amount)
                .await
                .is_err()
            {
                failed.push(((quota_key, day_key), (day, amount)));
            }
        }
        if failed.is_empty() {
            return true;
        }
        let mut unsent = lock(&self.fallback.unsent);
        for (k, (day, amount)) in failed {
            unsent.entry(k).or_insert((day, 0)).1 += amount;
        }
        false
    }

    async fn send_adjust(
        &self,
        quota_key: Option<&str>,
        day_key: &str,
        day: i64,
        amount: i64,
    ) -> Result<(), redis::RedisError> {
        let keys = [quota_key.unwrap_or_default(), day_key];
        let expiry = day_expiry(day);
        let args = |cmd: &mut redis::Cmd| {
            cmd.arg(amount).arg(expiry);
        };
        let mut conn = self.conn.clone();
        let call = self.adjust.eval::<i64>(&keys, args, &mut conn);
        match tokio::time::timeout(self.settings.timeout * 4, call).await {
            Ok(r) => r.map(drop),
            Err(_) => Err(std::io::Error::from(std::io::ErrorKind::TimedOut).into()),
        }
    }

    /// Whether Redis answers a PING now.
    async fn ping(&self) -> bool {
        let mut conn = self.conn.clone();
        let ping = redis::cmd("PING");
        let call = ping.query_async::<String>(&mut conn);
        matches!(
            tokio::time::timeout(self.settings.timeout * 4, call).await,
            Ok(Ok(_))
        )
    }
}

/// A Lua script sent by its SHA1.
struct LuaScript {
    code: &'static str,
    sha: String,
}

impl LuaScript {
    fn new(code: &'static str) -> LuaScript {
        LuaScript {
            code,
            sha: redis::Script::new(code).get_hash().to_string(),
        }
    }

    /// EVALSHA, and EVAL with the script's text when Redis answers NOSCRIPT
    /// (a restarted or flushed Redis): one more round trip, once, since EVAL
    /// also caches the script for the next EVALSHA.
    async fn eval<T: redis::FromRedisValue>(
        &self,
        keys: &[&str],
        args: impl Fn(&mut redis::Cmd),
        conn: &mut ConnectionManager,
    ) -> Result<T, redis::RedisError> {
        let command = |verb: &str, body: &str| {
            let mut cmd = redis::cmd(verb);
            cmd.arg(body).arg(keys.len()).arg(keys);
            args(&mut cmd);
            cmd
        };
        match command("EVALSHA", &self.sha).query_async::<T>(conn).await {
            Err(e) if e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::NoScript) => {
                command("EVAL", self.code).query_async::<T>(conn).await
            }
            other => other,
        }
    }
}

/// When a day's count leaves Redis (unix seconds).
fn day_expiry(day: i64) -> i64 {
    (day + DAY_RETENTION_DAYS) * 86_400
}

/// Releases leases, sends refunds and, while Redis is down, probes it and
/// then sends what was admitted meanwhile. Runs as long as its runtime.
async fn background(
    c: Arc<SharedCounters>,
    mut queue: tokio::sync::mpsc::UnboundedReceiver<Deferred>,
) {
    let mut batch = Vec::new();
    loop {
        if c.is_down() {
            tokio::time::sleep(PROBE_INTERVAL).await;
            if c.ping().await && c.send_unsent().await {
                // The local shares' use is in Redis now: a next outage
                // starts from what Redis reports then.
                lock(&c.fallback.quotas).clear();
                c.slow.store(0, Ordering::Relaxed);
                c.down.store(false, Ordering::Release);
                metrics::gauge!("tollgate_counters_redis_up").set(1.0);
                tracing::warn!(
                    "the shared usage counters (Redis) answer again: counting in Redis resumed"
                );
            }
            // Queued releases and refunds wait: leases also expire by themselves.
            continue;
        }
        batch.clear();
        tokio::select! {
            n = queue.recv_many(&mut batch, 256) => {
                if n == 0 {
                    return;
                }
                for job in batch.drain(..) {
                    c.run_deferred(job).await;
                }
            }
            () = c.probe.notified() => {}
        }
    }
}

impl SharedCounters {
    async fn run_deferred(&self, job: Deferred) {
        match job {
            Deferred::Release { key, id } => {
                let mut conn = self.conn.clone();
                let mut zrem = redis::cmd("ZREM");
                zrem.arg(&key).arg(&id);
                let call = zrem.query_async::<i64>(&mut conn);
                let _ = tokio::time::timeout(self.settings.timeout * 4, call).await;
            }
            Deferred::Adjust {
                quota_key,
                day_key,
                day,
                amount,
            } => {
                let sent = self
                    .send_adjust(quota_key.as_deref(), &day_key, day, amount)
                    .await;
                if sent.is_err() {
                    // Kept for after the outage the failure announces.
                    let mut unsent = lock(&self.fallback.unsent);
                    unsent.entry((quota_key, day_key)).or_insert((day, 0)).1 += amount;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_share_a_prefix_per_plan_and_key() {
        let k = RedisKeys::new("tg:", "plan1", "key1");
        assert_eq!(k.day(20_000), "tg:plan1:key1:d:20000");
        assert_eq!(k.quota(Period::Week, 19_998), "tg:plan1:key1:q:W19998");
        assert_eq!(
            k.method_bucket("api", "prod", "/pets/GET"),
            "tg:plan1:key1:t:api:prod:/pets/GET"
        );
    }
}

//! API keys and usage plans as the data plane checks them (`spec/aws-apigw.md`
//! §2.4, §3): an index from key value to the plans that cover each API stage,
//! updated key by key when the control plane changes keys or plans, read lock-free.
//!
//! The index is split into shards by the key value's hash, each an immutable
//! set swapped atomically: a change copies only the shards of the keys it
//! touches, so creating the 10 000th key costs what the first did.
//!
//! Tollgate extensions, set as usage-plan tags so AWS clients keep working
//! (both use only characters AWS allows in tags):
//! - `tollgate:concurrency` = `N`: at most N requests of one key in flight.
//! - `tollgate:cost:{METHOD}:{resource path without braces}` = `N` or
//!   `method.request.body.{JSON path}`: what one request counts against the
//!   quota (e.g. `tollgate:cost:POST:/api/proxy+` = `method.request.body.options.sample_steps`).
//!   `ANY` as the method matches every method.

// FxHash: these maps are built from the configuration, never from request input.
use rustc_hash::{FxBuildHasher, FxHashMap as HashMap, FxHashSet as HashSet};
use std::borrow::Borrow;
use std::collections::BTreeMap;
use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use serde_json_path::JsonPath;
use subtle::ConstantTimeEq;
use tollgate_model::api_key::ApiKey;
use tollgate_model::time::Date;
use tollgate_model::usage_plan::{UsageKey, UsagePlan, UsagePlanDoc};
use tollgate_model::{Change, State};

use crate::quota::{oldest_needed_day, QuotaCounters, UsageCell};
use crate::throttle::{Bucket, Limits};

/// What one request of a method counts against a quota.
#[derive(Debug, Clone)]
pub enum Cost {
    Fixed(i64),
    /// A number in the request body; absent or not a number counts 1.
    BodyPath(JsonPath),
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Period {
    Day,
    Week,
    Month,
}

#[derive(Debug, Clone)]
pub struct Quota {
    pub limit: i64,
    pub offset: i64,
    pub period: Period,
}

/// One plan as it applies to one API stage.
#[derive(Debug)]
pub struct PlanEntry {
    pub id: String,
    pub api_id: String,
    pub stage: String,
    /// `"/path/METHOD"` → limits, from the plan's apiStages entry.
    pub method_throttles: HashMap<String, Limits>,
    /// The plan's per-key throttle; each key's bucket is in its usage cell.
    pub throttle: Option<Limits>,
    pub quota: Option<Quota>,
    /// Days since the epoch of the plan's creation: its first quota period
    /// counts `offset` requests as already used (the model's definition of offset).
    pub created_day: i64,
    pub concurrency: Option<u32>,
    /// `(METHOD, path without braces)` → cost.
    pub costs: Vec<(String, String, Cost)>,
}

impl PlanEntry {
    /// The cost of a request to `resource_path` with `http_method` (`ANY` routes included).
    pub fn cost(&self, resource_path: &str, http_method: &str, body: &[u8]) -> i64 {
        if self.costs.is_empty() {
            return 1;
        }
        let plain: String = resource_path
            .chars()
            .filter(|c| *c != '{' && *c != '}')
            .collect();
        let Some((_, _, cost)) = self
            .costs
            .iter()
            .find(|(m, p, _)| *p == plain && (m == http_method || m == "ANY"))
        else {
            return 1;
        };
        match cost {
            Cost::Fixed(n) => *n,
            Cost::BodyPath(path) => serde_json::from_slice::<serde_json::Value>(body)
                .ok()
                .and_then(|json| path.query(&json).first().and_then(|v| v.as_f64()))
                .map(|n| n.ceil().max(0.0) as i64)
                .unwrap_or(1),
        }
    }
}

/// A key's place in one plan on one stage: the plan as it applies there, and
/// the key's counters and bucket under the plan (shared by the plan's stages:
/// quotas and throttles count across all stages of a plan, spec §3.1).
/// Handles, so a request reaches them without a map lookup.
#[derive(Debug, Clone)]
pub struct PlanBinding {
    pub plan: Arc<PlanEntry>,
    pub usage: Arc<UsageCell>,
}

impl PlanBinding {
    /// The key's bucket under the plan's throttle, if the plan has one.
    pub fn bucket(&self) -> Option<&Bucket> {
        self.plan.throttle.is_some().then_some(&self.usage.bucket)
    }
}

/// One API key.
#[derive(Debug)]
pub struct KeyEntry {
    /// The control plane's record, shared (its id and value are not copied:
    /// a key's memory is what the index costs per key).
    key: Arc<ApiKey>,
    /// One per (plan, stage) the key is in, by plan id then the plan's stage order.
    bindings: Box<[PlanBinding]>,
    /// (plan id, period start day, adjustment) from UpdateUsage.
    adjustments: Box<[(Box<str>, i64, i64)]>,
}

impl KeyEntry {
    pub fn id(&self) -> &str {
        &self.key.id
    }

    fn value(&self) -> &str {
        &self.key.value
    }

    pub fn enabled(&self) -> bool {
        self.key.enabled
    }

    /// Which of [`KeyEntry::binding`] covers `stage` of `api_id`.
    pub fn binding_for(&self, api_id: &str, stage: &str) -> Option<usize> {
        self.bindings
            .iter()
            .position(|b| b.plan.stage == stage && b.plan.api_id == api_id)
    }

    /// A binding by the position [`KeyEntry::binding_for`] gave.
    pub fn binding(&self, i: usize) -> &PlanBinding {
        &self.bindings[i]
    }

    /// The UpdateUsage adjustment of `plan`'s period that starts on `start_day`.
    pub fn adjustment(&self, plan_id: &str, start_day: i64) -> i64 {
        self.adjustments
            .iter()
            .find(|(p, d, _)| *d == start_day && **p == *plan_id)
            .map(|(_, _, v)| *v)
            .unwrap_or(0)
    }
}

/// Shards of the index. A change copies one shard per key it touches: with
/// 100 000 keys, a few hundred entries (pointers).
const SHARDS: usize = 256;

/// The shard of a key value: hash bits the shard's own table does not use
/// for placing (low bits) or tagging (top 7), so a shard's keys spread over
/// its table as well as over the whole.
fn shard_of(value: &str) -> usize {
    (FxBuildHasher.hash_one(value) >> 40) as usize % SHARDS
}

/// Keys of one shard, found by value (the entry holds it: no second copy).
struct ByValue(Arc<KeyEntry>);

impl Borrow<str> for ByValue {
    fn borrow(&self) -> &str {
        self.0.value()
    }
}

impl Hash for ByValue {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.value().hash(state)
    }
}

impl PartialEq for ByValue {
    fn eq(&self, other: &Self) -> bool {
        self.0.value() == other.0.value()
    }
}

impl Eq for ByValue {}

impl Clone for ByValue {
    fn clone(&self) -> Self {
        ByValue(self.0.clone())
    }
}

/// Keys by id, for the writer.
struct ById(Arc<KeyEntry>);

impl Borrow<str> for ById {
    fn borrow(&self) -> &str {
        self.0.id()
    }
}

impl Hash for ById {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.id().hash(state)
    }
}

impl PartialEq for ById {
    fn eq(&self, other: &Self) -> bool {
        self.0.id() == other.0.id()
    }
}

impl Eq for ById {}

type Shard = HashSet<ByValue>;

/// A stored adjustment of a key's quota: the plan, the day (days since the
/// epoch) and the amount.
type Adjustment = (Box<str>, i64, i64);

/// Key values → keys: requests read it without locks; the control plane's
/// updates go through one writer.
pub struct KeyIndex {
    shards: Box<[ArcSwap<Shard>]>,
    writer: Mutex<Writer>,
}

impl Default for KeyIndex {
    fn default() -> Self {
        KeyIndex {
            shards: (0..SHARDS)
                .map(|_| ArcSwap::from_pointee(Shard::default()))
                .collect(),
            writer: Mutex::new(Writer::default()),
        }
    }
}

/// What an index update needs besides the state.
pub struct UpdateContext<'a> {
    pub quotas: &'a QuotaCounters,
    /// Monotonic nanoseconds (bucket limit changes).
    pub now: u64,
    /// Days since the epoch: which stored counts a new cell needs.
    pub today: i64,
}

impl KeyIndex {
    /// The key with this value. The map finds the candidate; the value is then
    /// compared in constant time so timing does not reveal how much matched.
    pub fn find(&self, value: &str) -> Option<Arc<KeyEntry>> {
        let shard = self.shards[shard_of(value)].load();
        let entry = &shard.get(value)?.0;
        bool::from(entry.value().as_bytes().ct_eq(value.as_bytes())).then(|| entry.clone())
    }

    /// Applies committed changes to keys, plans and UpdateUsage adjustments;
    /// `changes` empty indexes every key of `state` afresh. Counters and
    /// buckets come from `cx.quotas`, so they survive either.
    pub fn update(&self, state: &State, changes: &[Change], cx: &UpdateContext<'_>) {
        let mut writer = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        let mut staged = Staged {
            index: self,
            shards: HashMap::default(),
        };
        if changes.is_empty() {
            writer.rebuild(state, cx, &mut staged);
        } else {
            for change in changes {
                match change {
                    Change::ApiKey(id, _) => writer.key_changed(state, id, cx, &mut staged),
                    Change::UsagePlan(id, _) => writer.plan_changed(state, id, cx, &mut staged),
                    Change::UsagePlanKey {
                        plan_id, key_id, ..
                    } => writer.membership_changed(state, plan_id, key_id, cx, &mut staged),
                    Change::UsageAdjustment(k, _) => {
                        writer.adjustments_changed(state, &k.key_id, &mut staged)
                    }
                    _ => {}
                }
            }
        }
        staged.commit();
    }

    /// Every key as the index holds it, in a canonical form (tests).
    #[cfg(test)]
    pub fn describe(&self) -> Vec<String> {
        let mut out = Vec::new();
        for shard in self.shards.iter() {
            for ByValue(e) in shard.load().iter() {
                let bindings: Vec<String> = e
                    .bindings
                    .iter()
                    .map(|b| {
                        format!(
                            "{:?} cell={}/{} bucket={:?}",
                            b.plan,
                            b.usage.plan_id(),
                            b.usage.key_id(),
                            b.bucket().map(Bucket::settings)
                        )
                    })
                    .collect();
                out.push(format!(
                    "{} id={} enabled={} bindings={bindings:?} adjustments={:?}",
                    e.value(),
                    e.id(),
                    e.enabled(),
                    e.adjustments
                ));
            }
        }
        let writer = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        assert_eq!(writer.by_id.len(), out.len(), "by id and by value disagree");
        out.sort();
        out
    }
}

/// Shards copied for an update, stored when it is complete.
struct Staged<'a> {
    index: &'a KeyIndex,
    shards: HashMap<usize, Shard>,
}

impl Staged<'_> {
    fn shard(&mut self, value: &str) -> &mut Shard {
        let i = shard_of(value);
        let index = self.index;
        self.shards
            .entry(i)
            .or_insert_with(|| Shard::clone(&index.shards[i].load()))
    }

    fn put(&mut self, entry: &Arc<KeyEntry>) {
        self.shard(entry.value()).replace(ByValue(entry.clone()));
    }

    /// Removes `entry` (not another key that has its value).
    fn remove(&mut self, entry: &KeyEntry) {
        let shard = self.shard(entry.value());
        if shard
            .get(entry.value())
            .is_some_and(|e| e.0.id() == entry.id())
        {
            shard.remove(entry.value());
        }
    }

    fn commit(self) {
        for (i, shard) in self.shards {
            self.index.shards[i].store(Arc::new(shard));
        }
    }
}

/// A plan as the index applies it. Not the plan's document: holding it
/// would make the control plane copy it (all its keys) when a key joins.
struct PlanState {
    /// Shared by the plan's cells.
    id: Arc<str>,
    /// The settings the entries were made from.
    settings: UsagePlan,
    created_date: i64,
    throttle: Option<Limits>,
    /// One per API stage of the plan.
    entries: Vec<Arc<PlanEntry>>,
}

impl PlanState {
    fn new(doc: &UsagePlanDoc) -> PlanState {
        PlanState {
            id: Arc::from(doc.plan.id.as_str()),
            settings: doc.plan.clone(),
            created_date: doc.created_date,
            throttle: doc.plan.throttle.as_ref().and_then(limits),
            entries: plan_entries(doc),
        }
    }

    fn same_settings(&self, doc: &UsagePlanDoc) -> bool {
        self.settings == doc.plan && self.created_date == doc.created_date
    }

    /// The key's counters under this plan, seeded from the stored counts.
    fn cell(&self, state: &State, key_id: &str, cx: &UpdateContext<'_>) -> Arc<UsageCell> {
        cx.quotas.cell(&self.id, key_id, self.throttle, cx.now, || {
            stored_days(&state.usage, &self.id, key_id, oldest_needed_day(cx.today))
        })
    }

    fn bindings(&self, cell: &Arc<UsageCell>) -> impl Iterator<Item = PlanBinding> + '_ {
        let usage = cell.clone();
        self.entries.iter().map(move |e| PlanBinding {
            plan: e.clone(),
            usage: usage.clone(),
        })
    }
}

/// The index's writer: every key by id, every plan as indexed.
#[derive(Default)]
struct Writer {
    by_id: HashSet<ById>,
    plans: HashMap<String, Arc<PlanState>>,
}

impl Writer {
    /// Indexes every key of `state` (start-up).
    fn rebuild(&mut self, state: &State, cx: &UpdateContext<'_>, staged: &mut Staged<'_>) {
        let oldest = oldest_needed_day(cx.today);
        self.plans = state
            .usage_plans
            .iter()
            .map(|(id, doc)| (id.clone(), Arc::new(PlanState::new(doc))))
            .collect();
        let mut member_of: HashMap<&str, Vec<&Arc<PlanState>>> = HashMap::default();
        for (id, doc) in &state.usage_plans {
            if let Some(plan) = self.plans.get(id) {
                for key_id in &doc.key_ids {
                    member_of.entry(key_id.as_str()).or_default().push(plan);
                }
            }
        }
        let mut seeds: HashMap<(&str, &str), Vec<(i64, i64)>> = HashMap::default();
        for (k, used) in &state.usage {
            if let Some(day) = Date::parse(&k.day).map(|d| d.days_since_epoch()) {
                if day >= oldest {
                    seeds
                        .entry((k.plan_id.as_str(), k.key_id.as_str()))
                        .or_default()
                        .push((day, *used));
                }
            }
        }
        let mut adjustments: HashMap<(&str, &str), Vec<Adjustment>> = HashMap::default();
        for (k, v) in &state.usage_adjustments {
            if let Some(d) = Date::parse(&k.day) {
                adjustments
                    .entry((k.plan_id.as_str(), k.key_id.as_str()))
                    .or_default()
                    .push((k.plan_id.as_str().into(), d.days_since_epoch(), *v));
            }
        }
        let mut shards: Vec<Shard> = (0..SHARDS).map(|_| Shard::default()).collect();
        let mut by_id = HashSet::with_capacity_and_hasher(state.api_keys.len(), FxBuildHasher);
        for key in state.api_keys.values() {
            let mut bindings = Vec::new();
            let mut key_adjustments = Vec::new();
            for plan in member_of.get(key.id.as_str()).into_iter().flatten() {
                let cell = cx
                    .quotas
                    .cell(&plan.id, &key.id, plan.throttle, cx.now, || {
                        seeds
                            .remove(&(&*plan.id, key.id.as_str()))
                            .unwrap_or_default()
                    });
                bindings.extend(plan.bindings(&cell));
                // Adjustments are read through a binding: none without one.
                if plan.entries.is_empty() {
                    continue;
                }
                if let Some(a) = adjustments.remove(&(&*plan.id, key.id.as_str())) {
                    key_adjustments.extend(a);
                }
            }
            let entry = Arc::new(KeyEntry {
                key: key.clone(),
                bindings: bindings.into(),
                adjustments: key_adjustments.into(),
            });
            shards[shard_of(entry.value())].replace(ByValue(entry.clone()));
            by_id.insert(ById(entry));
        }
        self.by_id = by_id;
        staged.shards = shards.into_iter().enumerate().collect();
    }

    /// Stores `entry` in place of the key's previous one.
    fn set(&mut self, entry: KeyEntry, staged: &mut Staged<'_>) {
        let entry = Arc::new(entry);
        if let Some(old) = self.by_id.get(entry.id()) {
            if old.0.value() != entry.value() {
                staged.remove(&old.0);
            }
        }
        staged.put(&entry);
        self.by_id.replace(ById(entry));
    }

    fn key_changed(
        &mut self,
        state: &State,
        id: &str,
        cx: &UpdateContext<'_>,
        staged: &mut Staged<'_>,
    ) {
        let Some(key) = state.api_keys.get(id) else {
            if let Some(old) = self.by_id.take(id) {
                staged.remove(&old.0);
            }
            cx.quotas.remove_key(id);
            return;
        };
        let (bindings, adjustments) = match self.by_id.get(id) {
            Some(old) => (old.0.bindings.clone(), old.0.adjustments.clone()),
            None => {
                // A new key: in the plans that already name it, if any.
                let mut bindings = Vec::new();
                let mut plan_ids = Vec::new();
                let plans = state
                    .usage_plans
                    .iter()
                    .filter(|(_, doc)| doc.key_ids.contains(id))
                    .filter_map(|(plan_id, _)| self.plans.get(plan_id));
                for plan in plans.filter(|p| !p.entries.is_empty()) {
                    bindings.extend(plan.bindings(&plan.cell(state, id, cx)));
                    plan_ids.push(&*plan.id);
                }
                let adjustments = stored_adjustments(state, plan_ids, id);
                (bindings.into(), adjustments)
            }
        };
        self.set(
            KeyEntry {
                key: key.clone(),
                bindings,
                adjustments,
            },
            staged,
        );
    }

    /// Keys bound to `plan_id` (a whole-plan change; O(keys), as the change is).
    fn bound_to(&self, plan_id: &str) -> Vec<String> {
        self.by_id
            .iter()
            .filter(|e| e.0.bindings.iter().any(|b| b.plan.id == plan_id))
            .map(|e| e.0.id().to_string())
            .collect()
    }

    fn is_bound(&self, key_id: &str, plan_id: &str) -> bool {
        self.by_id
            .get(key_id)
            .is_some_and(|e| e.0.bindings.iter().any(|b| b.plan.id == plan_id))
    }

    /// A whole plan changed: created, updated, deleted, or written with its
    /// keys. Its keys (before and after) are bound again where needed.
    fn plan_changed(
        &mut self,
        state: &State,
        id: &str,
        cx: &UpdateContext<'_>,
        staged: &mut Staged<'_>,
    ) {
        let Some(doc) = state.usage_plans.get(id) else {
            self.plans.remove(id);
            for key_id in self.bound_to(id) {
                self.rebind(state, &key_id, id, None, cx, staged);
            }
            cx.quotas.remove_plan(id);
            return;
        };
        let old = self.plans.get(id).filter(|p| p.same_settings(doc)).cloned();
        let same = old.is_some();
        let plan = old.unwrap_or_else(|| Arc::new(PlanState::new(doc)));
        self.plans.insert(id.to_string(), plan.clone());
        for key_id in self.bound_to(id) {
            if !doc.key_ids.contains(&key_id) {
                self.rebind(state, &key_id, id, None, cx, staged);
            }
        }
        for key_id in &doc.key_ids {
            if !(same && self.is_bound(key_id, id)) {
                self.rebind(state, key_id, id, Some(&*plan), cx, staged);
            }
        }
    }

    /// One key joined or left a plan.
    fn membership_changed(
        &mut self,
        state: &State,
        plan_id: &str,
        key_id: &str,
        cx: &UpdateContext<'_>,
        staged: &mut Staged<'_>,
    ) {
        let Some(plan) = self.plans.get(plan_id).cloned() else {
            return;
        };
        let member = state
            .usage_plans
            .get(plan_id)
            .is_some_and(|doc| doc.key_ids.contains(key_id));
        self.rebind(state, key_id, plan_id, member.then_some(&*plan), cx, staged);
    }

    /// Replaces `key_id`'s bindings to `plan_id` with those of `plan` (none:
    /// the key left the plan).
    fn rebind(
        &mut self,
        state: &State,
        key_id: &str,
        plan_id: &str,
        plan: Option<&PlanState>,
        cx: &UpdateContext<'_>,
        staged: &mut Staged<'_>,
    ) {
        let Some(old) = self.by_id.get(key_id) else {
            return;
        };
        let old = old.0.clone();
        let mut bindings: Vec<PlanBinding> = old
            .bindings
            .iter()
            .filter(|b| b.plan.id != plan_id)
            .cloned()
            .collect();
        let mut adjustments: Vec<(Box<str>, i64, i64)> = old
            .adjustments
            .iter()
            .filter(|(p, _, _)| **p != *plan_id)
            .cloned()
            .collect();
        if let Some(plan) = plan.filter(|p| !p.entries.is_empty()) {
            bindings.extend(plan.bindings(&plan.cell(state, key_id, cx)));
            adjustments.extend(stored_adjustments(state, [plan_id], key_id).into_vec());
        }
        // The order a full rebuild gives: by plan id, then the plan's stages.
        bindings.sort_by(|a, b| a.plan.id.cmp(&b.plan.id));
        adjustments.sort_by(|a, b| a.0.cmp(&b.0));
        self.set(
            KeyEntry {
                key: old.key.clone(),
                bindings: bindings.into(),
                adjustments: adjustments.into(),
            },
            staged,
        );
    }

    fn adjustments_changed(&mut self, state: &State, key_id: &str, staged: &mut Staged<'_>) {
        let Some(old) = self.by_id.get(key_id) else {
            return;
        };
        let old = old.0.clone();
        let mut plan_ids: Vec<&str> = old.bindings.iter().map(|b| b.plan.id.as_str()).collect();
        plan_ids.dedup();
        let adjustments = stored_adjustments(state, plan_ids, key_id);
        self.set(
            KeyEntry {
                key: old.key.clone(),
                bindings: old.bindings.clone(),
                adjustments,
            },
            staged,
        );
    }
}

/// The range of `map` for one plan and key.
fn per_key<'m>(
    map: &'m BTreeMap<UsageKey, i64>,
    plan_id: &str,
    key_id: &str,
) -> impl Iterator<Item = (&'m str, i64)> + 'm {
    let from = UsageKey {
        plan_id: plan_id.to_string(),
        key_id: key_id.to_string(),
        day: String::new(),
    };
    let (plan_id, key_id) = (from.plan_id.clone(), from.key_id.clone());
    map.range(from..)
        .take_while(move |(k, _)| k.plan_id == plan_id && k.key_id == key_id)
        .map(|(k, v)| (k.day.as_str(), *v))
}

/// Stored per-day counts of a key under a plan from `oldest` on: `(day, used)`.
fn stored_days(
    usage: &BTreeMap<UsageKey, i64>,
    plan_id: &str,
    key_id: &str,
    oldest: i64,
) -> Vec<(i64, i64)> {
    per_key(usage, plan_id, key_id)
        .filter_map(|(day, used)| {
            let day = Date::parse(day)?.days_since_epoch();
            (day >= oldest).then_some((day, used))
        })
        .collect()
}

/// UpdateUsage adjustments of a key under `plan_ids`.
fn stored_adjustments<'p>(
    state: &State,
    plan_ids: impl IntoIterator<Item = &'p str>,
    key_id: &str,
) -> Box<[(Box<str>, i64, i64)]> {
    let mut out = Vec::new();
    for plan_id in plan_ids {
        for (day, v) in per_key(&state.usage_adjustments, plan_id, key_id) {
            if let Some(d) = Date::parse(day) {
                out.push((plan_id.into(), d.days_since_epoch(), v));
            }
        }
    }
    out.into()
}

fn limits(t: &tollgate_model::usage_plan::ThrottleSettings) -> Option<Limits> {
    if t.burst_limit.is_none() && t.rate_limit.is_none() {
        return None;
    }
    Some(Limits {
        burst: t.burst_limit.unwrap_or(0).max(0) as u64,
        rate: t.rate_limit.unwrap_or(0.0),
    })
}

/// Parses the `tollgate:*` tags of a plan.
fn extensions(doc: &UsagePlanDoc) -> (Option<u32>, Vec<(String, String, Cost)>) {
    let mut concurrency = None;
    let mut costs = Vec::new();
    for (k, v) in &doc.plan.tags {
        if k == "tollgate:concurrency" {
            concurrency = v.trim().parse().ok();
        } else if let Some(rest) = k.strip_prefix("tollgate:cost:") {
            let Some((method, path)) = rest.split_once(':') else {
                continue;
            };
            let cost = if let Ok(n) = v.trim().parse::<i64>() {
                Some(Cost::Fixed(n.max(0)))
            } else if let Some(p) = v.trim().strip_prefix("method.request.body.") {
                JsonPath::parse(&format!("$.{p}")).ok().map(Cost::BodyPath)
            } else {
                None
            };
            match cost {
                Some(cost) => costs.push((method.to_ascii_uppercase(), path.to_string(), cost)),
                None => {
                    tracing::warn!(plan = %doc.plan.id, tag = %k, "ignoring an unreadable cost tag")
                }
            }
        }
    }
    (concurrency, costs)
}

fn plan_entries(doc: &UsagePlanDoc) -> Vec<Arc<PlanEntry>> {
    let (concurrency, costs) = extensions(doc);
    let quota = doc.plan.quota.as_ref().map(|q| Quota {
        limit: q.limit,
        offset: q.offset,
        period: match q.period.as_deref() {
            Some("WEEK") => Period::Week,
            Some("MONTH") => Period::Month,
            _ => Period::Day,
        },
    });
    doc.plan
        .api_stages
        .iter()
        .map(|s| {
            Arc::new(PlanEntry {
                id: doc.plan.id.clone(),
                api_id: s.api_id.clone(),
                stage: s.stage.clone(),
                method_throttles: s
                    .throttle
                    .iter()
                    .filter_map(|(k, t)| Some((k.clone(), limits(t)?)))
                    .collect(),
                throttle: doc.plan.throttle.as_ref().and_then(limits),
                quota: quota.clone(),
                created_day: doc.created_date.div_euclid(86_400),
                concurrency,
                costs: costs.clone(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{key_value, keyed_state, API, STAGE};
    use crate::quota::QuotaDecision;
    use tollgate_model::api_key::ApiKey;
    use tollgate_model::usage_plan::{ApiStage, QuotaSettings, ThrottleSettings};

    const TODAY: i64 = 20_000;

    fn cx(quotas: &QuotaCounters) -> UpdateContext<'_> {
        UpdateContext {
            quotas,
            now: 1,
            today: TODAY,
        }
    }

    fn state() -> State {
        keyed_state(
            20,
            3,
            Some(ThrottleSettings {
                burst_limit: Some(10),
                rate_limit: Some(5.0),
            }),
            Some(QuotaSettings {
                limit: 1000,
                offset: 0,
                period: Some("DAY".into()),
            }),
        )
    }

    /// The index a fresh start-up would build from `state`.
    fn rebuilt(state: &State) -> Vec<String> {
        let quotas = QuotaCounters::default();
        let index = KeyIndex::default();
        index.update(state, &[], &cx(&quotas));
        index.describe()
    }

    /// Commits `changes` as the control plane does: to the state, then to the index.
    fn commit(state: &mut State, index: &KeyIndex, quotas: &QuotaCounters, changes: Vec<Change>) {
        state.apply(&changes);
        index.update(state, &changes, &cx(quotas));
    }

    fn plan_with(state: &State, id: &str, f: impl FnOnce(&mut UsagePlanDoc)) -> Change {
        let mut doc = state.usage_plans[id].as_ref().clone();
        f(&mut doc);
        Change::UsagePlan(id.into(), Some(Arc::new(doc)))
    }

    fn member(plan_id: &str, key_id: &str, member: bool) -> Change {
        Change::UsagePlanKey {
            plan_id: plan_id.into(),
            key_id: key_id.into(),
            member,
        }
    }

    fn new_key(id: &str, value: &str) -> Change {
        Change::ApiKey(
            id.into(),
            Some(Arc::new(ApiKey {
                id: id.into(),
                value: value.into(),
                name: None,
                customer_id: None,
                description: None,
                enabled: true,
                created_date: 0,
                last_updated_date: 0,
                stage_keys: vec![],
                tags: Default::default(),
            })),
        )
    }

    fn usage_key(plan: &str, key: &str, day: i64) -> UsageKey {
        UsageKey {
            plan_id: plan.into(),
            key_id: key.into(),
            day: Date::from_days_since_epoch(day).to_string(),
        }
    }

    #[test]
    fn incremental_updates_agree_with_a_rebuild() {
        let mut state = state();
        let quotas = QuotaCounters::default();
        let index = KeyIndex::default();
        index.update(&state, &[], &cx(&quotas));
        assert_eq!(index.describe(), rebuilt(&state));
        let cell_of = |i: usize| {
            index
                .find(&key_value(i))
                .map(|k| k.binding(0).usage.clone())
        };
        let before = cell_of(7);

        type Step = Box<dyn Fn(&State) -> Vec<Change>>;
        let steps: Vec<Step> = vec![
            // CreateApiKey, then CreateUsagePlanKey.
            Box::new(|_| vec![new_key("knew", "a-new-key-value-of-some-length")]),
            Box::new(|_| vec![member("plan00001", "knew", true)]),
            // DeleteUsagePlanKey.
            Box::new(|_| vec![member("plan00001", "k000000004", false)]),
            // Keys joining and leaving in a whole-plan change.
            Box::new(|s| {
                vec![plan_with(s, "plan00002", |d| {
                    d.key_ids.remove("k000000008");
                    d.key_ids.insert("k000000004".into());
                })]
            }),
            // The same plan written again, unchanged.
            Box::new(|s| vec![plan_with(s, "plan00002", |_| {})]),
            // UpdateUsagePlan: a new throttle for every key of the plan.
            Box::new(|s| {
                vec![plan_with(s, "plan00001", |d| {
                    d.plan.throttle = Some(ThrottleSettings {
                        burst_limit: Some(3),
                        rate_limit: Some(1.0),
                    })
                })]
            }),
            // UpdateApiKey: disabled.
            Box::new(|s| {
                let mut k = s.api_keys["k000000005"].as_ref().clone();
                k.enabled = false;
                vec![Change::ApiKey(k.id.clone(), Some(Arc::new(k)))]
            }),
            // DeleteApiKey: the key, and the plan that held it.
            Box::new(|_| {
                vec![
                    Change::ApiKey("k000000006".into(), None),
                    member("plan00000", "k000000006", false),
                ]
            }),
            // UpdateUsage.
            Box::new(|_| {
                vec![Change::UsageAdjustment(
                    usage_key("plan00000", "k000000000", TODAY),
                    Some(7),
                )]
            }),
            // A second stage for a plan.
            Box::new(|s| {
                vec![plan_with(s, "plan00000", |d| {
                    d.plan.api_stages.push(ApiStage {
                        api_id: API.into(),
                        stage: "beta".into(),
                        throttle: BTreeMap::new(),
                    })
                })]
            }),
            // A new plan with keys of other plans, on another stage.
            Box::new(|s| {
                let mut doc = s.usage_plans["plan00002"].as_ref().clone();
                doc.plan.id = "plan-beta".into();
                doc.plan.api_stages[0].stage = "gamma".into();
                doc.key_ids = ["k000000001", "k000000002", "knew"]
                    .into_iter()
                    .map(String::from)
                    .collect();
                vec![Change::UsagePlan("plan-beta".into(), Some(Arc::new(doc)))]
            }),
            // DeleteUsagePlan.
            Box::new(|_| vec![Change::UsagePlan("plan00002".into(), None)]),
            // DeleteApiKey of a key in two plans.
            Box::new(|_| {
                vec![
                    Change::ApiKey("k000000001".into(), None),
                    member("plan00001", "k000000001", false),
                    member("plan-beta", "k000000001", false),
                ]
            }),
            // Both kinds at once, the plan first.
            Box::new(|_| {
                vec![
                    member("plan00000", "klate", true),
                    new_key("klate", "a-late-key-value-of-some-length"),
                ]
            }),
            // A plan without stages: members, but no bindings.
            Box::new(|s| {
                let mut doc = s.usage_plans["plan00000"].as_ref().clone();
                doc.plan.id = "plan-nostage".into();
                doc.plan.api_stages.clear();
                doc.key_ids = ["k000000003".to_string()].into_iter().collect();
                vec![
                    Change::UsagePlan("plan-nostage".into(), Some(Arc::new(doc))),
                    Change::UsageAdjustment(
                        usage_key("plan-nostage", "k000000003", TODAY),
                        Some(2),
                    ),
                    member("plan-nostage", "k000000009", true),
                ]
            }),
            Box::new(|_| vec![member("plan-nostage", "k000000003", false)]),
        ];
        for (i, step) in steps.iter().enumerate() {
            let changes = step(&state);
            commit(&mut state, &index, &quotas, changes);
            assert_eq!(index.describe(), rebuilt(&state), "after step {i}");
        }
        assert!(index.find(&key_value(6)).is_none());
        assert!(index.find("a-late-key-value-of-some-length").is_some());
        assert!(index.find(&key_value(5)).is_some_and(|k| !k.enabled()));
        // Counters outlive the updates of their key's entry (k7's when its
        // plan's throttle changed), and go with their plan.
        let after = cell_of(7);
        assert!(before.is_some_and(|b| after.is_some_and(|a| Arc::ptr_eq(&a, &b))));
        assert_eq!(quotas.cells_of("plan00002"), 0);
    }

    #[test]
    fn a_new_key_copies_one_shard_and_keeps_the_counters() {
        let mut state = state();
        let quotas = QuotaCounters::default();
        let index = KeyIndex::default();
        index.update(&state, &[], &cx(&quotas));
        let cell = |i: usize| {
            index.find(&key_value(i)).and_then(|k| {
                k.binding_for(API, STAGE)
                    .map(|b| k.binding(b).usage.clone())
            })
        };
        let before = cell(3);
        let shards: Vec<_> = index.shards.iter().map(|s| s.load_full()).collect();
        commit(
            &mut state,
            &index,
            &quotas,
            vec![new_key("knew", "a-new-key-value-of-some-length")],
        );
        let changed = |shards: &[Arc<Shard>]| {
            index
                .shards
                .iter()
                .zip(shards)
                .filter(|(now, was)| !Arc::ptr_eq(&now.load_full(), was))
                .count()
        };
        assert_eq!(changed(&shards), 1);
        let shards: Vec<_> = index.shards.iter().map(|s| s.load_full()).collect();
        commit(
            &mut state,
            &index,
            &quotas,
            vec![member("plan00000", "knew", true)],
        );
        assert_eq!(changed(&shards), 1);
        assert!(index
            .find("a-new-key-value-of-some-length")
            .is_some_and(|k| k.binding_for(API, STAGE).is_some()));
        // A settings change rebinds the plan's keys to the same counters.
        let change = plan_with(&state, "plan00000", |d| {
            d.plan.throttle = None;
        });
        commit(&mut state, &index, &quotas, vec![change]);
        let (before, after) = (before.map(|c| c.key_id().to_string()), cell(3));
        assert!(after.is_some_and(|a| Some(a.key_id()) == before.as_deref()));
        let k = index.find(&key_value(3));
        assert!(k.is_some_and(|k| k.binding(0).bucket().is_none()));
    }

    #[test]
    fn cells_start_from_the_stored_counts_of_the_periods_that_need_them() {
        let mut state = state();
        let quota = QuotaSettings {
            limit: 10,
            offset: 0,
            period: Some("MONTH".into()),
        };
        for doc in state.usage_plans.values_mut() {
            Arc::make_mut(doc).plan.quota = Some(quota.clone());
        }
        let plan = "plan00000";
        state.usage.insert(usage_key(plan, "k000000000", TODAY), 9);
        // Two months ago: no period containing today needs it.
        state
            .usage
            .insert(usage_key(plan, "k000000003", TODAY - 60), 9);
        let quotas = QuotaCounters::default();
        let index = KeyIndex::default();
        index.update(&state, &[], &cx(&quotas));
        let consume = |i: usize| {
            let k = index.find(&key_value(i))?;
            let b = k.binding(k.binding_for(API, STAGE)?);
            Some(
                b.usage
                    .try_consume(b.plan.quota.as_ref(), 0, |_| 0, None, 1, TODAY),
            )
        };
        assert_eq!(consume(0), Some(QuotaDecision::Admitted));
        assert_eq!(consume(0), Some(QuotaDecision::Exceeded));
        for _ in 0..10 {
            assert_eq!(consume(3), Some(QuotaDecision::Admitted));
        }
        assert_eq!(consume(3), Some(QuotaDecision::Exceeded));
        // Stored counts are not written again; the new ones are.
        let mut rows = quotas.unflushed(TODAY);
        rows.sort();
        assert_eq!(
            rows,
            vec![
                (usage_key(plan, "k000000000", TODAY), 10),
                (usage_key(plan, "k000000003", TODAY), 10)
            ]
        );
    }
}

//! API keys and usage plans as the data plane checks them (`spec/aws-apigw.md`
//! §2.4, §3): an index from key value to the plans that cover each API stage,
//! rebuilt when the control plane changes keys or plans, read lock-free.
//!
//! Tollgate extensions, set as usage-plan tags so AWS clients keep working
//! (both use only characters AWS allows in tags):
//! - `tollgate:concurrency` = `N`: at most N requests of one key in flight.
//! - `tollgate:cost:{METHOD}:{resource path without braces}` = `N` or
//!   `method.request.body.{JSON path}`: what one request counts against the
//!   quota (e.g. `tollgate:cost:POST:/api/proxy+` = `method.request.body.options.sample_steps`).
//!   `ANY` as the method matches every method.

// FxHash: these maps are built from the configuration, never from request input.
use rustc_hash::FxHashMap as HashMap;
use std::sync::Arc;

use serde_json_path::JsonPath;
use subtle::ConstantTimeEq;
use tollgate_model::usage_plan::UsagePlanDoc;
use tollgate_model::State;

use crate::quota::{QuotaCounters, UsageCell};
use crate::throttle::{Bucket, LazyBuckets, Limits};

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
    /// `"/path/METHOD"` → limits, from the plan's apiStages entry.
    pub method_throttles: HashMap<String, Limits>,
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

/// A key's place in one plan: the plan, the key's counters under it and its
/// per-key throttle bucket. Handles, so a request reaches them without a map lookup.
#[derive(Debug)]
pub struct PlanBinding {
    pub plan: Arc<PlanEntry>,
    pub usage: Arc<UsageCell>,
    pub bucket: Option<Arc<Bucket>>,
}

/// One API key.
#[derive(Debug)]
pub struct KeyEntry {
    pub id: String,
    value: String,
    pub enabled: bool,
    /// api id → stage → the plan covering that stage for this key.
    plans: HashMap<String, HashMap<String, Arc<PlanBinding>>>,
    /// plan id → (period start day, adjustment) from UpdateUsage.
    pub adjustments: HashMap<String, Vec<(i64, i64)>>,
}

impl KeyEntry {
    pub fn plan_for(&self, api_id: &str, stage: &str) -> Option<&Arc<PlanBinding>> {
        self.plans.get(api_id)?.get(stage)
    }

    /// The UpdateUsage adjustment of `plan`'s period that starts on `start_day`.
    pub fn adjustment(&self, plan_id: &str, start_day: i64) -> i64 {
        self.adjustments
            .get(plan_id)
            .and_then(|list| list.iter().find(|(d, _)| *d == start_day))
            .map(|(_, v)| *v)
            .unwrap_or(0)
    }
}

/// Key values → keys. Immutable; rebuilt on change.
#[derive(Debug, Default)]
pub struct KeyIndex {
    by_value: HashMap<String, Arc<KeyEntry>>,
}

impl KeyIndex {
    /// The key with this value. The map finds the candidate; the value is then
    /// compared in constant time so timing does not reveal how much matched.
    pub fn find(&self, value: &str) -> Option<&Arc<KeyEntry>> {
        let entry = self.by_value.get(value)?;
        bool::from(entry.value.as_bytes().ct_eq(value.as_bytes())).then_some(entry)
    }

    /// Indexes every key of `state`, taking counters and buckets from the
    /// long-lived stores so they survive the rebuild.
    pub fn build(
        state: &State,
        quotas: &QuotaCounters,
        buckets: &LazyBuckets,
        now: u64,
    ) -> KeyIndex {
        let plans: HashMap<&str, (&UsagePlanDoc, Arc<Vec<PlanForStage>>)> = state
            .usage_plans
            .iter()
            .map(|(id, doc)| (id.as_str(), (doc.as_ref(), Arc::new(plan_entries(doc)))))
            .collect();
        let mut adjustments: HashMap<(&str, &str), Vec<(i64, i64)>> = HashMap::default();
        for (k, v) in &state.usage_adjustments {
            if let Some(d) = tollgate_model::time::Date::parse(&k.day) {
                adjustments
                    .entry((k.plan_id.as_str(), k.key_id.as_str()))
                    .or_default()
                    .push((d.days_since_epoch(), *v));
            }
        }
        let mut by_value =
            HashMap::with_capacity_and_hasher(state.api_keys.len(), Default::default());
        for key in state.api_keys.values() {
            let mut key_plans: HashMap<String, HashMap<String, Arc<PlanBinding>>> =
                HashMap::default();
            let mut key_adjustments = HashMap::default();
            for (plan_id, (doc, entries)) in &plans {
                if !doc.key_ids.contains(&key.id) {
                    continue;
                }
                // Counters and the key's bucket are shared by the plan's stages:
                // quotas and throttles count across all stages of a plan (spec §3.1).
                let usage = quotas.cell(plan_id, &key.id);
                let bucket = doc
                    .plan
                    .throttle
                    .as_ref()
                    .and_then(limits)
                    .map(|l| buckets.get(&format!("plan:{plan_id}:{}", key.id), l, now));
                for e in entries.iter() {
                    key_plans.entry(e.api_id.clone()).or_default().insert(
                        e.stage.clone(),
                        Arc::new(PlanBinding {
                            plan: e.entry.clone(),
                            usage: usage.clone(),
                            bucket: bucket.clone(),
                        }),
                    );
                }
                if let Some(a) = adjustments.get(&(*plan_id, key.id.as_str())) {
                    key_adjustments.insert(plan_id.to_string(), a.clone());
                }
            }
            by_value.insert(
                key.value.clone(),
                Arc::new(KeyEntry {
                    id: key.id.clone(),
                    value: key.value.clone(),
                    enabled: key.enabled,
                    plans: key_plans,
                    adjustments: key_adjustments,
                }),
            );
        }
        KeyIndex { by_value }
    }
}

struct PlanForStage {
    api_id: String,
    stage: String,
    entry: Arc<PlanEntry>,
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

fn plan_entries(doc: &UsagePlanDoc) -> Vec<PlanForStage> {
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
        .map(|s| PlanForStage {
            api_id: s.api_id.clone(),
            stage: s.stage.clone(),
            entry: Arc::new(PlanEntry {
                id: doc.plan.id.clone(),
                method_throttles: s
                    .throttle
                    .iter()
                    .filter_map(|(k, t)| Some((k.clone(), limits(t)?)))
                    .collect(),
                quota: quota.clone(),
                created_day: doc.created_date.div_euclid(86_400),
                concurrency,
                costs: costs.clone(),
            }),
        })
        .collect()
}

//! GetUsage and UpdateUsage: per-key, per-day `[used, remaining]` pairs from the
//! counters the data plane fills (`spec/aws-apigw.md` §3.3).

use std::collections::BTreeMap;

use serde_json::{json, Value};
use tollgate_model::patch::PatchOp;
use tollgate_model::time::Date;
use tollgate_model::usage_plan::{period_start, UsageKey, UsagePlanDoc};
use tollgate_model::{ApiError, Change, ErrorCode, State};

use super::{Op, PatchInput};
use crate::pagination::page;
use crate::request::Reply;

/// Longest range one GetUsage call may cover.
const MAX_DAYS: i64 = 366;

fn plan<'o>(op: &'o Op<'_>) -> Result<&'o UsagePlanDoc, ApiError> {
    op.state
        .usage_plans
        .get(op.param("usageplan_id"))
        .map(|p| p.as_ref())
        .ok_or_else(|| ApiError::not_found("Invalid Usage Plan ID specified"))
}

fn used_on(state: &State, plan_id: &str, key_id: &str, day: Date) -> i64 {
    let key = UsageKey {
        plan_id: plan_id.to_string(),
        key_id: key_id.to_string(),
        day: day.to_string(),
    };
    state.usage.get(&key).copied().unwrap_or(0)
}

/// One key's per-day counts over a range of days: from the store, or from
/// the shared counters when the instances count in Redis (the store then
/// holds no counts of theirs).
struct DayCounts {
    first: i64,
    used: Vec<i64>,
}

impl DayCounts {
    fn load(
        op: &Op<'_>,
        plan_id: &str,
        key_id: &str,
        first: Date,
        last: Date,
    ) -> Result<DayCounts, ApiError> {
        let (first, last) = (first.days_since_epoch(), last.days_since_epoch());
        let used = match op.usage_counts {
            Some(counts) => counts
                .used_on_days(plan_id, key_id, first, last)
                .map_err(|e| {
                    tracing::error!(error = %e, "cannot read usage counts from the shared counters");
                    ApiError::new(
                        ErrorCode::ServiceUnavailable,
                        "Usage counts are unavailable at the moment; try again",
                    )
                })?,
            None => (first..=last)
                .map(|d| used_on(op.state, plan_id, key_id, Date::from_days_since_epoch(d)))
                .collect(),
        };
        Ok(DayCounts { first, used })
    }

    fn on(&self, day: Date) -> i64 {
        usize::try_from(day.days_since_epoch() - self.first)
            .ok()
            .and_then(|i| self.used.get(i).copied())
            .unwrap_or(0)
    }
}

fn quota_period(plan: &UsagePlanDoc) -> &str {
    plan.plan
        .quota
        .as_ref()
        .and_then(|q| q.period.as_deref())
        .unwrap_or("DAY")
}

/// Requests counted in `day`'s quota period up to and including `day`, with any UpdateUsage adjustment.
fn used_in_period(
    state: &State,
    plan: &UsagePlanDoc,
    key_id: &str,
    day: Date,
    counts: &DayCounts,
) -> i64 {
    let start = period_start(quota_period(plan), day);
    let counted: i64 = (start.days_since_epoch()..=day.days_since_epoch())
        .map(|d| counts.on(Date::from_days_since_epoch(d)))
        .sum();
    let adjustment = state
        .usage_adjustments
        .get(&UsageKey {
            plan_id: plan.plan.id.clone(),
            key_id: key_id.to_string(),
            day: start.to_string(),
        })
        .copied()
        .unwrap_or(0);
    counted + adjustment
}

/// `[used that day, remaining in its period after that day]`; remaining is 0 without a quota.
fn day_pair(
    state: &State,
    plan: &UsagePlanDoc,
    key_id: &str,
    day: Date,
    counts: &DayCounts,
) -> Value {
    let used = counts.on(day);
    let remaining = plan
        .plan
        .quota
        .as_ref()
        .map(|q| (q.limit - used_in_period(state, plan, key_id, day, counts)).max(0))
        .unwrap_or(0);
    json!([used, remaining])
}

fn parse_date(op: &Op<'_>, name: &str) -> Result<Date, ApiError> {
    let value = op
        .req
        .query(name)
        .ok_or_else(|| ApiError::bad_request(format!("{name} is required")))?;
    Date::parse(value).ok_or_else(|| {
        ApiError::bad_request(format!("Invalid {name}: {value}. Dates must be yyyy-MM-dd"))
    })
}

pub fn get(op: &mut Op<'_>) -> Result<Reply, ApiError> {
    let plan = plan(op)?;
    let start = parse_date(op, "startDate")?;
    let end = parse_date(op, "endDate")?;
    let days = end.days_since_epoch() - start.days_since_epoch();
    if days < 0 {
        return Err(ApiError::bad_request(
            "The endDate must not be before the startDate",
        ));
    }
    if days >= MAX_DAYS {
        return Err(ApiError::bad_request(format!(
            "The date range may cover at most {MAX_DAYS} days"
        )));
    }
    let key_filter = op.req.query("keyId");
    // The first day's quota period may start before the range.
    let first = period_start(quota_period(plan), start);
    // The page first: counts (a store or Redis read per key) only for its keys.
    let ids = plan
        .key_ids
        .iter()
        .filter(|k| key_filter.is_none_or(|f| f == k.as_str()))
        .map(|key_id| (key_id.clone(), json!(key_id)))
        .collect();
    let paged = page(op.req, ids)?;
    let mut values = BTreeMap::new();
    for key_id in paged["item"].as_array().into_iter().flatten() {
        let Some(key_id) = key_id.as_str() else {
            continue;
        };
        let counts = DayCounts::load(op, &plan.plan.id, key_id, first, end)?;
        let pairs: Vec<Value> = (start.days_since_epoch()..=end.days_since_epoch())
            .map(|d| {
                day_pair(
                    op.state,
                    plan,
                    key_id,
                    Date::from_days_since_epoch(d),
                    &counts,
                )
            })
            .collect();
        values.insert(key_id.to_string(), Value::Array(pairs));
    }
    let mut body = json!({
        "usagePlanId": plan.plan.id,
        "startDate": start.to_string(),
        "endDate": end.to_string(),
        "values": values,
    });
    if let Some(position) = paged.get("position") {
        body["position"] = position.clone();
    }
    Ok(Reply::ok(body))
}

/// `replace /remaining N` sets what is left of the current period's quota.
pub fn update(op: &mut Op<'_>) -> Result<Reply, ApiError> {
    let input: PatchInput = op.req.json()?;
    let plan = plan(op)?;
    let key_id = op.param("key_id").to_string();
    if !plan.key_ids.contains(&key_id) {
        return Err(ApiError::not_found(
            "Invalid Usage Plan Key identifier specified",
        ));
    }
    let quota = plan
        .plan
        .quota
        .as_ref()
        .ok_or_else(|| ApiError::bad_request("Usage plan has no quota to update"))?;
    let today = Date::from_epoch_seconds(op.now);
    let start = period_start(quota_period(plan), today);
    let adjustment_key = UsageKey {
        plan_id: plan.plan.id.clone(),
        key_id: key_id.clone(),
        day: start.to_string(),
    };
    let stored = op
        .state
        .usage_adjustments
        .get(&adjustment_key)
        .copied()
        .unwrap_or(0);
    let counts = DayCounts::load(op, &plan.plan.id, &key_id, start, today)?;
    let counted = used_in_period(op.state, plan, &key_id, today, &counts) - stored;
    let mut adjustment = stored;
    for patch in &input.patch_operations {
        match (patch.op, patch.path.as_str()) {
            (PatchOp::Replace, "/remaining") => {
                let remaining = patch.int_value()?;
                if remaining < 0 {
                    return Err(ApiError::bad_request("remaining must be non-negative"));
                }
                adjustment = quota.limit - remaining - counted;
            }
            _ => return Err(patch.unsupported()),
        }
    }
    let used_today = counts.on(today);
    let pair = json!([used_today, (quota.limit - counted - adjustment).max(0)]);
    let body = json!({
        "usagePlanId": plan.plan.id,
        "startDate": today.to_string(),
        "endDate": today.to_string(),
        "values": { key_id: [pair] },
    });
    op.changes
        .push(Change::UsageAdjustment(adjustment_key, Some(adjustment)));
    Ok(Reply::ok(body))
}

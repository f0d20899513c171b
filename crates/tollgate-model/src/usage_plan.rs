//! UsagePlan, its keys, and usage counters.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::Tags;

pub const QUOTA_PERIODS: &[&str] = &["DAY", "WEEK", "MONTH"];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ThrottleSettings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub burst_limit: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QuotaSettings {
    #[serde(default)]
    pub limit: i64,
    #[serde(default)]
    pub offset: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiStage {
    pub api_id: String,
    pub stage: String,
    /// Per-method throttles keyed `"/path/METHOD"`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub throttle: BTreeMap<String, ThrottleSettings>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UsagePlan {
    pub id: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default)]
    pub api_stages: Vec<ApiStage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub throttle: Option<ThrottleSettings>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota: Option<QuotaSettings>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_code: Option<String>,
    #[serde(default, skip_serializing_if = "Tags::is_empty")]
    pub tags: Tags,
}

/// A plan with the keys attached to it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UsagePlanDoc {
    pub plan: UsagePlan,
    #[serde(default)]
    pub key_ids: BTreeSet<String>,
    /// When the plan was created (epoch seconds): its first quota period is
    /// the "initial period" that `quota.offset` applies to.
    #[serde(default)]
    pub created_date: i64,
}

/// Which counter a usage record belongs to: requests one key made under one plan on one UTC day.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct UsageKey {
    pub plan_id: String,
    pub key_id: String,
    /// `yyyy-MM-dd`.
    pub day: String,
}

impl UsageKey {
    /// The store's id for this record.
    pub fn store_id(&self) -> String {
        format!("{}/{}/{}", self.plan_id, self.key_id, self.day)
    }

    pub fn parse_store_id(id: &str) -> Option<UsageKey> {
        let mut parts = id.splitn(3, '/');
        Some(UsageKey {
            plan_id: parts.next()?.to_string(),
            key_id: parts.next()?.to_string(),
            day: parts.next()?.to_string(),
        })
    }
}

use crate::time::Date;

/// The first day of the quota period that contains `day`, on UTC boundaries:
/// DAY is the day itself, WEEK starts on Sunday, MONTH on the 1st.
pub fn period_start(period: &str, day: Date) -> Date {
    match period {
        "WEEK" => Date::from_days_since_epoch(day.days_since_epoch() - i64::from(day.weekday())),
        "MONTH" => Date { day: 1, ..day },
        _ => day,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_start_on_utc_boundaries() {
        let thursday = Date {
            year: 2026,
            month: 11,
            day: 26,
        };
        assert_eq!(period_start("DAY", thursday), thursday);
        assert_eq!(period_start("WEEK", thursday).to_string(), "2026-11-22");
        assert_eq!(period_start("MONTH", thursday).to_string(), "2026-11-01");
        let sunday = Date {
            year: 2026,
            month: 11,
            day: 22,
        };
        assert_eq!(period_start("WEEK", sunday), sunday);
    }
}

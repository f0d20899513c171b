//! CloudWatch metric alarms: PutMetricAlarm and the operations around it,
//! and the evaluator that moves each alarm between OK, ALARM and
//! INSUFFICIENT_DATA as CloudWatch does, acting through SNS topics.
//!
//! Evaluation, every [`EVALUATE_EVERY`]: the alarm's statistic over its
//! last `EvaluationPeriods` periods (aligned to the period, the current
//! one included, so an alarm fires while its period is still running); a
//! datapoint breaches when it compares to the threshold as the operator
//! says; ALARM when at least `DatapointsToAlarm` (default: all) breach, OK
//! when enough datapoints do not; missing datapoints as `TreatMissingData`
//! says (`missing`: left out, and no datapoint at all is
//! INSUFFICIENT_DATA; `notBreaching`, `breaching`; `ignore`: left out, and
//! no datapoint at all keeps the state); otherwise OK.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::cloudwatch::{
    boolean, dimensions, dimensions_json, number, required, string, strings, timestamp,
    valid_statistic, CloudWatchError,
};
use crate::docstore::DocStore;
use crate::metrics::store::{MetricKey, MetricStore};
use crate::sns::{Delivered, Sns};

/// How often every alarm is evaluated.
pub const EVALUATE_EVERY: Duration = Duration::from_secs(10);
/// History kept, as CloudWatch keeps it.
const HISTORY_MS: i64 = 14 * 86_400_000;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alarm {
    pub name: String,
    pub description: Option<String>,
    pub actions_enabled: bool,
    pub ok_actions: Vec<String>,
    pub alarm_actions: Vec<String>,
    pub insufficient_data_actions: Vec<String>,
    pub namespace: String,
    pub metric_name: String,
    pub dimensions: Vec<(String, String)>,
    /// `Sum`, `Average`, … or a percentile (`p99`).
    pub statistic: String,
    pub extended: bool,
    pub period_s: i64,
    pub unit: Option<String>,
    pub evaluation_periods: i64,
    pub datapoints_to_alarm: Option<i64>,
    pub threshold: f64,
    pub comparison: String,
    pub treat_missing_data: String,
    pub state: String,
    pub state_reason: String,
    pub state_reason_data: Option<String>,
    pub state_updated_ms: i64,
    pub state_transitioned_ms: i64,
    pub configuration_updated_ms: i64,
}

const COMPARISONS: &[&str] = &[
    "GreaterThanOrEqualToThreshold",
    "GreaterThanThreshold",
    "LessThanThreshold",
    "LessThanOrEqualToThreshold",
];
const MISSING: &[&str] = &["breaching", "notBreaching", "ignore", "missing"];
const STATES: &[&str] = &["OK", "ALARM", "INSUFFICIENT_DATA"];

pub struct Alarms {
    region: String,
    account_id: String,
    alarms: Mutex<BTreeMap<String, Alarm>>,
    store: Arc<DocStore>,
    metrics: Arc<MetricStore>,
    sns: Arc<Sns>,
}

fn arn(region: &str, account: &str, name: &str) -> String {
    format!("arn:aws:cloudwatch:{region}:{account}:alarm:{name}")
}

fn seconds(ms: i64) -> f64 {
    ms as f64 / 1000.0
}

impl Alarms {
    pub fn load(
        store: Arc<DocStore>,
        metrics: Arc<MetricStore>,
        sns: Arc<Sns>,
        region: &str,
        account_id: &str,
    ) -> Arc<Alarms> {
        let alarms = store
            .all::<Alarm>("alarm")
            .unwrap_or_default()
            .into_iter()
            .map(|a| (a.name.clone(), a))
            .collect();
        Arc::new(Alarms {
            region: region.into(),
            account_id: account_id.into(),
            alarms: Mutex::new(alarms),
            store,
            metrics,
            sns,
        })
    }

    /// Starts the evaluator thread (it ends when the alarms are dropped).
    pub fn start_evaluator(self: &Arc<Self>) -> std::io::Result<()> {
        let alarms = Arc::downgrade(self);
        std::thread::Builder::new()
            .name("tollgate-alarms".into())
            .spawn(move || loop {
                std::thread::sleep(EVALUATE_EVERY);
                let Some(alarms) = alarms.upgrade() else {
                    return;
                };
                let now = crate::logs::writer::now_ms();
                alarms.evaluate(now);
                if let Err(e) = alarms.store.prune_history(now - HISTORY_MS) {
                    tracing::warn!(error = %e, "alarm history could not be pruned");
                }
            })?;
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Alarm>> {
        self.alarms.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn save(&self, alarm: &Alarm) -> Result<(), CloudWatchError> {
        self.store
            .put("alarm", &alarm.name, alarm)
            .map_err(internal)
    }

    fn history(&self, name: &str, at_ms: i64, kind: &str, summary: &str, data: Value) {
        let item = json!({
            "AlarmName": name,
            "AlarmType": "MetricAlarm",
            "Timestamp": seconds(at_ms),
            "HistoryItemType": kind,
            "HistorySummary": summary,
            "HistoryData": data.to_string(),
        });
        if let Err(e) = self.store.add_history("alarm", name, at_ms, &item) {
            tracing::warn!(error = %e, alarm = %name, "alarm history could not be written");
        }
    }

    /// Runs an alarm operation; `None` when `operation` is not one.
    pub fn handle(
        self: &Arc<Self>,
        operation: &str,
        input: &Value,
        now_ms: i64,
    ) -> Option<Result<Value, CloudWatchError>> {
        Some(match operation {
            "PutMetricAlarm" => self.put(input, now_ms),
            "DescribeAlarms" => self.describe(input),
            "DescribeAlarmsForMetric" => self.describe_for_metric(input),
            "DescribeAlarmHistory" => self.describe_history(input, now_ms),
            "DeleteAlarms" => self.delete(input),
            "SetAlarmState" => self.set_state(input, now_ms),
            "EnableAlarmActions" => self.set_actions(input, true),
            "DisableAlarmActions" => self.set_actions(input, false),
            _ => return None,
        })
    }

    fn put(&self, input: &Value, now_ms: i64) -> Result<Value, CloudWatchError> {
        let name = required(input, "AlarmName")?;
        if name.len() > 255 {
            return Err(CloudWatchError::invalid(
                "The parameter AlarmName must be at most 255 characters long.",
            ));
        }
        if input
            .get("Metrics")
            .is_some_and(|m| !m.is_null() && m != &json!([]))
        {
            return Err(CloudWatchError::invalid(
                "Tollgate's alarms watch one metric (MetricName and Namespace); alarms on metric math (Metrics) are not supported.",
            ));
        }
        let statistic = string(input, "Statistic")?;
        let extended = string(input, "ExtendedStatistic")?;
        let (statistic, is_extended) =
            match (statistic, extended) {
                (Some(s), None)
                    if matches!(s, "Sum" | "Average" | "Minimum" | "Maximum" | "SampleCount") =>
                {
                    (s, false)
                }
                (Some(s), None) => {
                    return Err(CloudWatchError::invalid(format!(
                        "The value {s} for parameter Statistic is not valid."
                    )))
                }
                (None, Some(p)) if p.starts_with('p') && valid_statistic(p) => (p, true),
                (None, Some(p)) => {
                    return Err(CloudWatchError::invalid(format!(
                        "The value {p} for parameter ExtendedStatistic is not valid."
                    )))
                }
                _ => return Err(CloudWatchError::combination(
                    "Exactly one of the parameters Statistic and ExtendedStatistic must be given.",
                )),
            };
        let period = number(input, "Period")?.ok_or_else(|| CloudWatchError::missing("Period"))?;
        let period_s = period as i64;
        if period.fract() != 0.0
            || !(period_s == 10 || period_s == 30 || (period_s >= 60 && period_s % 60 == 0))
        {
            return Err(CloudWatchError::invalid(
                "The parameter Period must be 10, 30 or a multiple of 60.",
            ));
        }
        let evaluation_periods = number(input, "EvaluationPeriods")?
            .ok_or_else(|| CloudWatchError::missing("EvaluationPeriods"))?
            as i64;
        if evaluation_periods < 1 {
            return Err(CloudWatchError::invalid(
                "The parameter EvaluationPeriods must be at least 1.",
            ));
        }
        if period_s * evaluation_periods > 7 * 86_400 {
            return Err(CloudWatchError::invalid(
                "The product of Period and EvaluationPeriods must not exceed 7 days.",
            ));
        }
        let datapoints_to_alarm = number(input, "DatapointsToAlarm")?.map(|d| d as i64);
        if datapoints_to_alarm.is_some_and(|d| d < 1 || d > evaluation_periods) {
            return Err(CloudWatchError::invalid(
                "DatapointsToAlarm must be between 1 and EvaluationPeriods.",
            ));
        }
        let threshold =
            number(input, "Threshold")?.ok_or_else(|| CloudWatchError::missing("Threshold"))?;
        let comparison = required(input, "ComparisonOperator")?;
        if !COMPARISONS.contains(&comparison) {
            return Err(CloudWatchError::invalid(format!(
                "The value {comparison} for parameter ComparisonOperator is not valid (Tollgate does not evaluate anomaly-detection bands)."
            )));
        }
        let treat_missing_data = string(input, "TreatMissingData")?.unwrap_or("missing");
        if !MISSING.contains(&treat_missing_data) {
            return Err(CloudWatchError::invalid(format!(
                "The value {treat_missing_data} for parameter TreatMissingData is not valid."
            )));
        }
        let actions = |member: &str| -> Result<Vec<String>, CloudWatchError> {
            let list = strings(input, member)?;
            if list.len() > 5 {
                return Err(CloudWatchError::invalid(format!(
                    "The collection {member} must not have a size greater than 5."
                )));
            }
            for a in &list {
                if !a.starts_with("arn:aws:sns:") {
                    return Err(CloudWatchError::invalid(format!(
                        "Invalid arn syntax: {a}: Tollgate acts through SNS topics only"
                    )));
                }
            }
            Ok(list)
        };
        let ok_actions = actions("OKActions")?;
        let alarm_actions = actions("AlarmActions")?;
        let insufficient_data_actions = actions("InsufficientDataActions")?;
        let mut alarms = self.lock();
        let previous = alarms.get(name).cloned();
        let (state, reason, updated, transitioned) = match &previous {
            Some(p) => (
                p.state.clone(),
                p.state_reason.clone(),
                p.state_updated_ms,
                p.state_transitioned_ms,
            ),
            None => (
                "INSUFFICIENT_DATA".to_string(),
                "Unchecked: Initial alarm creation".to_string(),
                now_ms,
                now_ms,
            ),
        };
        let alarm = Alarm {
            name: name.into(),
            description: string(input, "AlarmDescription")?.map(str::to_string),
            actions_enabled: boolean(input, "ActionsEnabled")?.unwrap_or(true),
            ok_actions,
            alarm_actions,
            insufficient_data_actions,
            namespace: required(input, "Namespace")?.into(),
            metric_name: required(input, "MetricName")?.into(),
            dimensions: dimensions(input)?,
            statistic: statistic.into(),
            extended: is_extended,
            period_s,
            unit: string(input, "Unit")?.map(str::to_string),
            evaluation_periods,
            datapoints_to_alarm,
            threshold,
            comparison: comparison.into(),
            treat_missing_data: treat_missing_data.into(),
            state,
            state_reason: reason,
            state_reason_data: previous.as_ref().and_then(|p| p.state_reason_data.clone()),
            state_updated_ms: updated,
            state_transitioned_ms: transitioned,
            configuration_updated_ms: now_ms,
        };
        self.save(&alarm)?;
        alarms.insert(name.into(), alarm.clone());
        drop(alarms);
        let summary = if previous.is_some() {
            format!("Alarm \"{name}\" updated")
        } else {
            format!("Alarm \"{name}\" created")
        };
        self.history(
            name,
            now_ms,
            "ConfigurationUpdate",
            &summary,
            json!({"type": if previous.is_some() { "Update" } else { "Create" }, "version": "1.0",
                   "updatedAlarm": self.render(&alarm)}),
        );
        Ok(json!({}))
    }

    fn render(&self, a: &Alarm) -> Value {
        let mut out = json!({
            "AlarmName": a.name,
            "AlarmArn": arn(&self.region, &self.account_id, &a.name),
            "AlarmConfigurationUpdatedTimestamp": seconds(a.configuration_updated_ms),
            "ActionsEnabled": a.actions_enabled,
            "OKActions": a.ok_actions,
            "AlarmActions": a.alarm_actions,
            "InsufficientDataActions": a.insufficient_data_actions,
            "StateValue": a.state,
            "StateReason": a.state_reason,
            "StateUpdatedTimestamp": seconds(a.state_updated_ms),
            "StateTransitionedTimestamp": seconds(a.state_transitioned_ms),
            "MetricName": a.metric_name,
            "Namespace": a.namespace,
            "Dimensions": dimensions_json(&a.dimensions),
            "Period": a.period_s,
            "EvaluationPeriods": a.evaluation_periods,
            "Threshold": a.threshold,
            "ComparisonOperator": a.comparison,
            "TreatMissingData": a.treat_missing_data,
        });
        if a.extended {
            out["ExtendedStatistic"] = json!(a.statistic);
        } else {
            out["Statistic"] = json!(a.statistic);
        }
        if let Some(d) = &a.description {
            out["AlarmDescription"] = json!(d);
        }
        if let Some(d) = a.datapoints_to_alarm {
            out["DatapointsToAlarm"] = json!(d);
        }
        if let Some(u) = &a.unit {
            out["Unit"] = json!(u);
        }
        if let Some(d) = &a.state_reason_data {
            out["StateReasonData"] = json!(d);
        }
        out
    }

    fn describe(&self, input: &Value) -> Result<Value, CloudWatchError> {
        let names = strings(input, "AlarmNames")?;
        let prefix = string(input, "AlarmNamePrefix")?;
        if !names.is_empty() && prefix.is_some() {
            return Err(CloudWatchError::combination(
                "AlarmNames and AlarmNamePrefix cannot be given together.",
            ));
        }
        let state = string(input, "StateValue")?;
        if state.is_some_and(|s| !STATES.contains(&s)) {
            return Err(CloudWatchError::invalid(
                "The parameter StateValue is not valid.",
            ));
        }
        let action_prefix = string(input, "ActionPrefix")?;
        let types = strings(input, "AlarmTypes")?;
        let max = number(input, "MaxRecords")?
            .map(|m| m as usize)
            .unwrap_or(50)
            .clamp(1, 100);
        let skip: usize = match string(input, "NextToken")? {
            None => 0,
            Some(t) => t
                .parse()
                .map_err(|_| CloudWatchError::invalid("The parameter NextToken is not valid."))?,
        };
        let metric_alarms_wanted = types.is_empty() || types.iter().any(|t| t == "MetricAlarm");
        let alarms = self.lock();
        let matching: Vec<&Alarm> = alarms
            .values()
            .filter(|_| metric_alarms_wanted)
            .filter(|a| names.is_empty() || names.contains(&a.name))
            .filter(|a| prefix.is_none_or(|p| a.name.starts_with(p)))
            .filter(|a| state.is_none_or(|s| a.state == s))
            .filter(|a| {
                action_prefix.is_none_or(|p| {
                    a.ok_actions
                        .iter()
                        .chain(&a.alarm_actions)
                        .chain(&a.insufficient_data_actions)
                        .any(|x| x.starts_with(p))
                })
            })
            .collect();
        let page: Vec<Value> = matching
            .iter()
            .skip(skip)
            .take(max)
            .map(|a| self.render(a))
            .collect();
        let mut out = json!({ "MetricAlarms": page, "CompositeAlarms": [] });
        if skip + max < matching.len() {
            out["NextToken"] = json!((skip + max).to_string());
        }
        Ok(out)
    }

    fn describe_for_metric(&self, input: &Value) -> Result<Value, CloudWatchError> {
        let namespace = required(input, "Namespace")?;
        let metric = required(input, "MetricName")?;
        let dims = {
            let mut d = dimensions(input)?;
            d.sort();
            d
        };
        let statistic = string(input, "Statistic")?.or(string(input, "ExtendedStatistic")?);
        let period = number(input, "Period")?.map(|p| p as i64);
        let alarms = self.lock();
        let found: Vec<Value> = alarms
            .values()
            .filter(|a| a.namespace == namespace && a.metric_name == metric)
            .filter(|a| {
                input.get("Dimensions").is_none() || {
                    let mut own = a.dimensions.clone();
                    own.sort();
                    own == dims
                }
            })
            .filter(|a| statistic.is_none_or(|s| a.statistic == s))
            .filter(|a| period.is_none_or(|p| a.period_s == p))
            .map(|a| self.render(a))
            .collect();
        Ok(json!({ "MetricAlarms": found }))
    }

    fn describe_history(&self, input: &Value, now_ms: i64) -> Result<Value, CloudWatchError> {
        let name = string(input, "AlarmName")?;
        let kind = string(input, "HistoryItemType")?;
        if kind.is_some_and(|k| !["ConfigurationUpdate", "StateUpdate", "Action"].contains(&k)) {
            return Err(CloudWatchError::invalid(
                "The parameter HistoryItemType is not valid.",
            ));
        }
        let start = timestamp(input, "StartDate")?.unwrap_or(0);
        let end = timestamp(input, "EndDate")?.unwrap_or(now_ms + 1);
        let max = number(input, "MaxRecords")?
            .map(|m| m as usize)
            .unwrap_or(100)
            .clamp(1, 100);
        let ascending = string(input, "ScanBy")? == Some("TimestampAscending");
        let mut items: Vec<Value> = self
            .store
            .history("alarm", name, start, end, 10_000)
            .map_err(internal)?;
        items.retain(|i| kind.is_none_or(|k| i["HistoryItemType"] == k));
        if ascending {
            items.reverse();
        }
        items.truncate(max);
        Ok(json!({ "AlarmHistoryItems": items }))
    }

    fn delete(&self, input: &Value) -> Result<Value, CloudWatchError> {
        let names = strings(input, "AlarmNames")?;
        if names.is_empty() {
            return Err(CloudWatchError::missing("AlarmNames"));
        }
        let mut alarms = self.lock();
        if let Some(missing) = names.iter().find(|n| !alarms.contains_key(*n)) {
            return Err(CloudWatchError::not_found(format!(
                "The named resource does not exist: {missing}"
            )));
        }
        for n in &names {
            self.store.delete("alarm", n).map_err(internal)?;
            alarms.remove(n);
        }
        Ok(json!({}))
    }

    fn set_actions(&self, input: &Value, enabled: bool) -> Result<Value, CloudWatchError> {
        let names = strings(input, "AlarmNames")?;
        let mut alarms = self.lock();
        for n in &names {
            if let Some(a) = alarms.get_mut(n) {
                a.actions_enabled = enabled;
                let a = a.clone();
                self.save(&a)?;
            }
        }
        Ok(json!({}))
    }

    fn set_state(self: &Arc<Self>, input: &Value, now_ms: i64) -> Result<Value, CloudWatchError> {
        let name = required(input, "AlarmName")?;
        let state = required(input, "StateValue")?;
        if !STATES.contains(&state) {
            return Err(CloudWatchError::invalid(
                "The parameter StateValue is not valid.",
            ));
        }
        let reason = required(input, "StateReason")?;
        let data = string(input, "StateReasonData")?;
        if let Some(d) = data {
            if serde_json::from_str::<Value>(d).is_err() {
                return Err(CloudWatchError {
                    code: "InvalidFormat",
                    exception: "InvalidFormatFault",
                    status: 400,
                    message: "StateReasonData is not valid JSON.".into(),
                });
            }
        }
        if !self.lock().contains_key(name) {
            return Err(CloudWatchError::not_found(format!(
                "The named resource does not exist: {name}"
            )));
        }
        self.transition(name, state, reason, data.map(str::to_string), now_ms, true);
        Ok(json!({}))
    }

    /// Moves `name` to `state`, with history and actions. `force`: even if
    /// it is in that state already (SetAlarmState).
    fn transition(
        self: &Arc<Self>,
        name: &str,
        state: &str,
        reason: &str,
        data: Option<String>,
        now_ms: i64,
        force: bool,
    ) {
        let (old, alarm) = {
            let mut alarms = self.lock();
            let Some(alarm) = alarms.get_mut(name) else {
                return;
            };
            if alarm.state == state && !force {
                return;
            }
            let old = std::mem::replace(&mut alarm.state, state.into());
            alarm.state_reason = reason.into();
            alarm.state_reason_data = data;
            alarm.state_updated_ms = now_ms;
            if old != state {
                alarm.state_transitioned_ms = now_ms;
            }
            (old, alarm.clone())
        };
        if let Err(e) = self.save(&alarm) {
            tracing::warn!(error = ?e, alarm = %name, "an alarm's state could not be saved");
        }
        self.history(
            name,
            now_ms,
            "StateUpdate",
            &format!("Alarm updated from {old} to {state}"),
            json!({"version": "1.0", "oldState": {"stateValue": old}, "newState": {"stateValue": state, "stateReason": reason}}),
        );
        if !alarm.actions_enabled || old == state {
            return;
        }
        let actions = match state {
            "ALARM" => &alarm.alarm_actions,
            "OK" => &alarm.ok_actions,
            _ => &alarm.insufficient_data_actions,
        };
        for action in actions {
            self.notify(&alarm, &old, action, now_ms);
        }
    }

    /// Publishes the state change to an SNS topic, as CloudWatch writes it.
    fn notify(self: &Arc<Self>, alarm: &Alarm, old: &str, topic: &str, now_ms: i64) {
        let message = json!({
            "AlarmName": alarm.name,
            "AlarmDescription": alarm.description,
            "AWSAccountId": self.account_id,
            "AlarmConfigurationUpdatedTimestamp": crate::iso8601(alarm.configuration_updated_ms),
            "NewStateValue": alarm.state,
            "NewStateReason": alarm.state_reason,
            "StateChangeTime": crate::iso8601(now_ms),
            "Region": self.region,
            "AlarmArn": arn(&self.region, &self.account_id, &alarm.name),
            "OldStateValue": old,
            "OKActions": alarm.ok_actions,
            "AlarmActions": alarm.alarm_actions,
            "InsufficientDataActions": alarm.insufficient_data_actions,
            "Trigger": {
                "MetricName": alarm.metric_name,
                "Namespace": alarm.namespace,
                "StatisticType": if alarm.extended { "ExtendedStatistic" } else { "Statistic" },
                "Statistic": alarm.statistic.to_uppercase(),
                "Unit": alarm.unit,
                "Dimensions": alarm.dimensions.iter().map(|(n, v)| json!({"name": n, "value": v})).collect::<Vec<_>>(),
                "Period": alarm.period_s,
                "EvaluationPeriods": alarm.evaluation_periods,
                "ComparisonOperator": alarm.comparison,
                "Threshold": alarm.threshold,
                "TreatMissingData": alarm.treat_missing_data,
            },
        });
        let subject = format!("{}: \"{}\" in {}", alarm.state, alarm.name, self.region);
        let me = Arc::downgrade(self);
        let name = alarm.name.clone();
        let action = topic.to_string();
        let report = Box::new(move |d: Delivered| {
            if let Some(alarms) = me.upgrade() {
                let summary = if d.ok {
                    format!("Successfully delivered the notification of {action} to {} ({}, {} attempt(s))", d.endpoint, d.detail, d.attempts)
                } else {
                    format!("Failed to deliver the notification of {action} to {}: {} after {} attempt(s)", d.endpoint, d.detail, d.attempts)
                };
                alarms.history(&name, crate::logs::writer::now_ms(), "Action", &summary,
                    json!({"actionState": if d.ok { "Succeeded" } else { "Failed" }, "notificationResource": action, "endpoint": d.endpoint}));
            }
        });
        let (summary, ok) =
            match self
                .sns
                .publish(topic, Some(&subject), &message.to_string(), Some(report))
            {
                Ok(id) => (
                    format!("Successfully executed action {topic} (message {id})"),
                    true,
                ),
                Err(e) => (
                    format!("Failed to execute action {topic}: {}", e.message),
                    false,
                ),
            };
        self.history(&alarm.name, now_ms, "Action", &summary,
            json!({"actionState": if ok { "Succeeded" } else { "Failed" }, "notificationResource": topic}));
    }

    /// Evaluates every alarm at `now_ms`.
    pub fn evaluate(self: &Arc<Self>, now_ms: i64) {
        let alarms: Vec<Alarm> = self.lock().values().cloned().collect();
        for alarm in alarms {
            if let Some((state, reason, data)) = self.decide(&alarm, now_ms) {
                self.transition(&alarm.name, &state, &reason, Some(data), now_ms, false);
            }
        }
    }

    /// The state the alarm's datapoints call for (None: keep it).
    fn decide(&self, a: &Alarm, now_ms: i64) -> Option<(String, String, String)> {
        let period_ms = a.period_s * 1000;
        let current = now_ms.div_euclid(period_ms) * period_ms;
        let first = current - (a.evaluation_periods - 1) * period_ms;
        let key = MetricKey::new(&a.namespace, &a.metric_name, a.dimensions.clone());
        let (periods, _) = self
            .metrics
            .periods(&key, first, current + period_ms, period_ms);
        let values: BTreeMap<i64, f64> = periods
            .iter()
            .filter_map(|(t, s)| s.statistic(&a.statistic).map(|v| (*t, v)))
            .collect();
        let breaches = |v: f64| match a.comparison.as_str() {
            "GreaterThanOrEqualToThreshold" => v >= a.threshold,
            "GreaterThanThreshold" => v > a.threshold,
            "LessThanThreshold" => v < a.threshold,
            _ => v <= a.threshold,
        };
        let needed = a.datapoints_to_alarm.unwrap_or(a.evaluation_periods);
        let mut breaching = 0;
        let mut present = 0;
        let mut recent = Vec::new();
        for k in 0..a.evaluation_periods {
            let t = first + k * period_ms;
            match values.get(&t) {
                Some(v) => {
                    present += 1;
                    recent.push(*v);
                    if breaches(*v) {
                        breaching += 1;
                    }
                }
                None => match a.treat_missing_data.as_str() {
                    "breaching" => {
                        present += 1;
                        breaching += 1;
                    }
                    "notBreaching" => present += 1,
                    _ => {}
                },
            }
        }
        let symbol = match a.comparison.as_str() {
            "GreaterThanOrEqualToThreshold" => ">=",
            "GreaterThanThreshold" => ">",
            "LessThanThreshold" => "<",
            _ => "<=",
        };
        let data = json!({
            "version": "1.0",
            "queryDate": crate::iso8601(now_ms),
            "startDate": crate::iso8601(first),
            "statistic": a.statistic,
            "period": a.period_s,
            "recentDatapoints": recent,
            "threshold": a.threshold,
            "evaluatedDatapoints": values.iter().rev().map(|(t, v)| json!({"timestamp": crate::iso8601(*t), "value": v})).collect::<Vec<_>>(),
        })
        .to_string();
        if breaching >= needed {
            let reason = format!(
                "Threshold Crossed: {breaching} out of the last {} datapoints [{}] was {} the threshold ({}) (minimum {needed} datapoint(s) for OK -> ALARM transition).",
                a.evaluation_periods,
                recent.iter().map(|v| v.to_string()).collect::<Vec<_>>().join(", "),
                match symbol { ">" => "greater than", ">=" => "greater than or equal to", "<" => "less than", _ => "less than or equal to" },
                a.threshold
            );
            return Some(("ALARM".into(), reason, data));
        }
        if present == 0 {
            if a.treat_missing_data == "ignore" {
                return None;
            }
            return Some((
                "INSUFFICIENT_DATA".into(),
                format!(
                    "Insufficient Data: {} datapoints were unknown.",
                    a.evaluation_periods
                ),
                data,
            ));
        }
        {
            // Fewer breaching datapoints than it takes: OK, as CloudWatch
            // decides when the missing ones are left out.
            let reason = format!(
                "Threshold Crossed: {} out of the last {} datapoints were not {symbol} the threshold ({}) (minimum 1 datapoint for ALARM -> OK transition).",
                present - breaching,
                a.evaluation_periods,
                a.threshold
            );
            Some(("OK".into(), reason, data))
        }
    }
}

fn internal(e: crate::docstore::DocError) -> CloudWatchError {
    tracing::error!(error = %e, "the monitoring store failed");
    CloudWatchError {
        code: "InternalServiceError",
        exception: "InternalServiceFault",
        status: 500,
        message: "Internal service error".into(),
    }
}

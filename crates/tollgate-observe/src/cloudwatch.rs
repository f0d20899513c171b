//! CloudWatch's metric operations (service `monitoring`) over the
//! [`MetricStore`]: PutMetricData, GetMetricStatistics, GetMetricData and
//! ListMetrics, written once over the json form of their input and output
//! (the wire protocols are converted at the door). Timestamps are epoch
//! seconds in and out; inputs may give numbers as strings (the query
//! protocol's form).

use serde_json::{json, Map, Value};

use crate::metrics::math::{self, Inputs};
use crate::metrics::store::{MetricKey, MetricStore, Sample, MINUTE_MS, RETENTION_MS};

/// An error in CloudWatch's shape: its query-protocol code (`Code`, also
/// sent in `x-amzn-query-error`), its exception name (`__type`), status.
#[derive(Debug, Clone, PartialEq)]
pub struct CloudWatchError {
    pub code: &'static str,
    pub exception: &'static str,
    pub status: u16,
    pub message: String,
}

impl CloudWatchError {
    pub fn invalid(message: impl Into<String>) -> CloudWatchError {
        CloudWatchError {
            code: "InvalidParameterValue",
            exception: "InvalidParameterValueException",
            status: 400,
            message: message.into(),
        }
    }

    pub fn missing(member: &str) -> CloudWatchError {
        CloudWatchError {
            code: "MissingParameter",
            exception: "MissingRequiredParameterException",
            status: 400,
            message: format!("The parameter {member} is required."),
        }
    }

    pub fn combination(message: impl Into<String>) -> CloudWatchError {
        CloudWatchError {
            code: "InvalidParameterCombination",
            exception: "InvalidParameterCombinationException",
            status: 400,
            message: message.into(),
        }
    }

    pub fn not_found(message: impl Into<String>) -> CloudWatchError {
        CloudWatchError {
            code: "ResourceNotFound",
            exception: "ResourceNotFound",
            status: 404,
            message: message.into(),
        }
    }

    pub fn limit(message: impl Into<String>) -> CloudWatchError {
        CloudWatchError {
            code: "LimitExceeded",
            exception: "LimitExceededException",
            status: 400,
            message: message.into(),
        }
    }
}

/// The members of CloudWatch's outputs that are timestamps (the wire
/// protocols write them their own way).
pub const TIMESTAMP_MEMBERS: &[&str] = &[
    "Timestamp",
    "Timestamps",
    "StateUpdatedTimestamp",
    "StateTransitionedTimestamp",
    "AlarmConfigurationUpdatedTimestamp",
];

/// Most datapoints one GetMetricStatistics call may ask for.
const MAX_DATAPOINTS: i64 = 1440;
/// Most datapoints per series GetMetricData returns before paging.
const MAX_DATA_POINTS_TOTAL: usize = 100_800;

// ---- reading inputs --------------------------------------------------------

pub fn string<'a>(input: &'a Value, name: &str) -> Result<Option<&'a str>, CloudWatchError> {
    match input.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(CloudWatchError::invalid(format!(
            "The parameter {name} must be a string."
        ))),
    }
}

pub fn required<'a>(input: &'a Value, name: &str) -> Result<&'a str, CloudWatchError> {
    string(input, name)?
        .filter(|s| !s.is_empty())
        .ok_or_else(|| CloudWatchError::missing(name))
}

/// A number, given as a JSON number or (query protocol) a string.
pub fn number(input: &Value, name: &str) -> Result<Option<f64>, CloudWatchError> {
    match input.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => Ok(n.as_f64()),
        Some(Value::String(s)) => s.trim().parse::<f64>().map(Some).map_err(|_| {
            CloudWatchError::invalid(format!(
                "The value {s} for parameter {name} is not a number."
            ))
        }),
        Some(_) => Err(CloudWatchError::invalid(format!(
            "The parameter {name} must be a number."
        ))),
    }
}

pub fn boolean(input: &Value, name: &str) -> Result<Option<bool>, CloudWatchError> {
    match input.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(Value::String(s)) if s == "true" => Ok(Some(true)),
        Some(Value::String(s)) if s == "false" => Ok(Some(false)),
        Some(_) => Err(CloudWatchError::invalid(format!(
            "The parameter {name} must be a boolean."
        ))),
    }
}

/// A timestamp in epoch milliseconds: epoch seconds (json, CBOR) or ISO
/// 8601 text (query).
pub fn timestamp(input: &Value, name: &str) -> Result<Option<i64>, CloudWatchError> {
    let seconds = match input.get(name) {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Number(n)) => n.as_f64(),
        Some(Value::String(s)) => s
            .parse::<f64>()
            .ok()
            .or_else(|| tollgate_aws::wire::query::parse_timestamp(s)),
        Some(_) => None,
    };
    seconds
        .filter(|s| s.is_finite())
        .map(|s| Some((s * 1000.0).round() as i64))
        .ok_or_else(|| {
            CloudWatchError::invalid(format!("The parameter {name} must be a timestamp."))
        })
}

pub fn list<'a>(input: &'a Value, name: &str) -> Result<&'a [Value], CloudWatchError> {
    match input.get(name) {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Array(items)) => Ok(items),
        Some(_) => Err(CloudWatchError::invalid(format!(
            "The parameter {name} must be a list."
        ))),
    }
}

pub fn strings(input: &Value, name: &str) -> Result<Vec<String>, CloudWatchError> {
    list(input, name)?
        .iter()
        .map(|v| v.as_str().map(str::to_string))
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| CloudWatchError::invalid(format!("The parameter {name} must be strings.")))
}

/// `Dimensions: [{Name, Value}]`, at most 30.
pub fn dimensions(input: &Value) -> Result<Vec<(String, String)>, CloudWatchError> {
    let items = list(input, "Dimensions")?;
    if items.len() > 30 {
        return Err(CloudWatchError::invalid(
            "The collection Dimensions must not have a size greater than 30.",
        ));
    }
    items
        .iter()
        .map(|d| {
            let name = required(d, "Name")?;
            let value = required(d, "Value")?;
            Ok((name.to_string(), value.to_string()))
        })
        .collect()
}

pub fn dimensions_json(dims: &[(String, String)]) -> Value {
    Value::Array(
        dims.iter()
            .map(|(n, v)| json!({"Name": n, "Value": v}))
            .collect(),
    )
}

fn metric_key(metric: &Value) -> Result<MetricKey, CloudWatchError> {
    Ok(MetricKey::new(
        required(metric, "Namespace")?,
        required(metric, "MetricName")?,
        dimensions(metric)?,
    ))
}

/// `Sum`, `Average`, `Minimum`, `Maximum`, `SampleCount`, or `pNN[.NN]`.
pub fn valid_statistic(stat: &str) -> bool {
    matches!(
        stat,
        "Sum" | "Average" | "Minimum" | "Maximum" | "SampleCount"
    ) || stat
        .strip_prefix('p')
        .and_then(|p| p.parse::<f64>().ok())
        .is_some_and(|p| (0.0..=100.0).contains(&p))
}

fn period(input: &Value, name: &str) -> Result<i64, CloudWatchError> {
    let period = number(input, name)?.ok_or_else(|| CloudWatchError::missing(name))?;
    let seconds = period as i64;
    if period.fract() != 0.0 || seconds < 1 || (seconds >= 60 && seconds % 60 != 0) {
        return Err(CloudWatchError::invalid(format!(
            "The parameter {name} must be a multiple of 60."
        )));
    }
    // Tollgate keeps one-minute data: shorter periods read as a minute.
    Ok(seconds * 1000)
}

// ---- operations ------------------------------------------------------------

/// Runs a metric operation; `None` when `operation` is not one.
pub fn handle(
    store: &MetricStore,
    operation: &str,
    input: &Value,
    now_ms: i64,
) -> Option<Result<Value, CloudWatchError>> {
    Some(match operation {
        "PutMetricData" => put_metric_data(store, input, now_ms),
        "GetMetricStatistics" => get_metric_statistics(store, input),
        "GetMetricData" => get_metric_data(store, input),
        "ListMetrics" => list_metrics(store, input, now_ms),
        _ => return None,
    })
}

fn put_metric_data(
    store: &MetricStore,
    input: &Value,
    now_ms: i64,
) -> Result<Value, CloudWatchError> {
    let namespace = required(input, "Namespace")?;
    if namespace.starts_with("AWS/") {
        return Err(CloudWatchError::invalid(format!(
            "The value {namespace} for parameter Namespace is invalid."
        )));
    }
    let data = list(input, "MetricData")?;
    if data.is_empty() {
        return Err(CloudWatchError::missing("MetricData"));
    }
    if data.len() > 1000 {
        return Err(CloudWatchError::invalid(
            "The collection MetricData must not have a size greater than 1000.",
        ));
    }
    // Checked whole before anything is recorded: a bad datum records nothing.
    let mut samples = Vec::with_capacity(data.len());
    for (i, datum) in data.iter().enumerate() {
        let member = format!("MetricData.member.{}", i + 1);
        let name = required(datum, "MetricName")?;
        let key = MetricKey::new(namespace, name, dimensions(datum)?);
        let at = timestamp(datum, "Timestamp")?.unwrap_or(now_ms);
        if at < now_ms - RETENTION_MS + MINUTE_MS || at > now_ms + 2 * 3_600_000 {
            return Err(CloudWatchError::invalid(format!(
                "The parameter {member}.Timestamp must specify a time no more than two weeks in the past and no more than two hours in the future."
            )));
        }
        let unit = string(datum, "Unit")?.map(str::to_string);
        let value = number(datum, "Value")?;
        let values = list(datum, "Values")?;
        let set = datum.get("StatisticValues").filter(|v| !v.is_null());
        let given = usize::from(value.is_some())
            + usize::from(!values.is_empty())
            + usize::from(set.is_some());
        if given != 1 {
            return Err(CloudWatchError::combination(format!(
                "The parameters {member}.Value, {member}.Values and {member}.StatisticValues are mutually exclusive and one of them is required."
            )));
        }
        let mut these = Vec::new();
        if let Some(v) = value {
            these.push(Sample::Value(finite(v, &member)?));
        }
        if !values.is_empty() {
            let counts = list(datum, "Counts")?;
            if !counts.is_empty() && counts.len() != values.len() {
                return Err(CloudWatchError::invalid(format!(
                    "The parameters {member}.Values and {member}.Counts must be of the same size."
                )));
            }
            for (j, v) in values.iter().enumerate() {
                let v = as_number(v).ok_or_else(|| {
                    CloudWatchError::invalid(format!("{member}.Values must be numbers."))
                })?;
                let count = counts.get(j).and_then(as_number).unwrap_or(1.0);
                these.push(Sample::Weighted {
                    value: finite(v, &member)?,
                    count,
                });
            }
        }
        if let Some(set) = set {
            let field = |n: &str| -> Result<f64, CloudWatchError> {
                number(set, n)?.ok_or_else(|| {
                    CloudWatchError::missing(&format!("{member}.StatisticValues.{n}"))
                })
            };
            these.push(Sample::Set {
                count: field("SampleCount")?,
                sum: field("Sum")?,
                min: field("Minimum")?,
                max: field("Maximum")?,
            });
        }
        samples.push((key, at, these, unit));
    }
    for (key, at, these, unit) in samples {
        for sample in these {
            store
                .record(&key, at, sample, unit.as_deref())
                .map_err(|e| CloudWatchError::limit(e.to_string()))?;
        }
    }
    Ok(json!({}))
}

fn as_number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

fn finite(v: f64, member: &str) -> Result<f64, CloudWatchError> {
    if v.is_finite() {
        Ok(v)
    } else {
        Err(CloudWatchError::invalid(format!(
            "The value for parameter {member}.Value is not a finite number."
        )))
    }
}

fn range(input: &Value) -> Result<(i64, i64), CloudWatchError> {
    let start =
        timestamp(input, "StartTime")?.ok_or_else(|| CloudWatchError::missing("StartTime"))?;
    let end = timestamp(input, "EndTime")?.ok_or_else(|| CloudWatchError::missing("EndTime"))?;
    if start >= end {
        return Err(CloudWatchError::invalid(
            "The parameter StartTime must be less than the parameter EndTime.",
        ));
    }
    Ok((start, end))
}

fn get_metric_statistics(store: &MetricStore, input: &Value) -> Result<Value, CloudWatchError> {
    let key = metric_key(input)?;
    let (start, end) = range(input)?;
    let period = period(input, "Period")?;
    let statistics = strings(input, "Statistics")?;
    let extended = strings(input, "ExtendedStatistics")?;
    if statistics.is_empty() && extended.is_empty() {
        return Err(CloudWatchError::missing("Statistics"));
    }
    for s in &statistics {
        if !matches!(
            s.as_str(),
            "Sum" | "Average" | "Minimum" | "Maximum" | "SampleCount"
        ) {
            return Err(CloudWatchError::invalid(format!(
                "The parameter Statistics.member contains the invalid value {s}."
            )));
        }
    }
    for s in &extended {
        if !s.starts_with('p') || !valid_statistic(s) {
            return Err(CloudWatchError::invalid(format!(
                "The parameter ExtendedStatistics contains the invalid value {s}."
            )));
        }
    }
    let wanted = (end - start) / period;
    if wanted > MAX_DATAPOINTS {
        return Err(CloudWatchError::combination(format!(
            "You have requested up to {wanted} datapoints, which exceeds the limit of {MAX_DATAPOINTS}. You may reduce the datapoints requested by increasing Period, or decreasing the time range."
        )));
    }
    let (periods, unit) = store.periods(&key, start, end, period);
    let unit = unit.unwrap_or_else(|| "None".into());
    let datapoints: Vec<Value> = periods
        .iter()
        .map(|(at, stats)| {
            let mut point = Map::new();
            point.insert("Timestamp".into(), json!(*at as f64 / 1000.0));
            for s in &statistics {
                if let Some(v) = stats.statistic(s) {
                    point.insert(s.clone(), json!(v));
                }
            }
            if !extended.is_empty() {
                let values: Map<String, Value> = extended
                    .iter()
                    .filter_map(|s| stats.statistic(s).map(|v| (s.clone(), json!(v))))
                    .collect();
                point.insert("ExtendedStatistics".into(), Value::Object(values));
            }
            point.insert("Unit".into(), json!(unit));
            Value::Object(point)
        })
        .collect();
    Ok(json!({ "Label": key.name, "Datapoints": datapoints }))
}

/// One GetMetricData query's series over the range: (period start ms, value).
fn metric_stat_series(
    store: &MetricStore,
    stat: &Value,
    start: i64,
    end: i64,
) -> Result<math::Series, CloudWatchError> {
    let metric = stat
        .get("Metric")
        .ok_or_else(|| CloudWatchError::missing("MetricStat.Metric"))?;
    let key = metric_key(metric)?;
    let period = period(stat, "Period")?;
    let statistic = required(stat, "Stat")?;
    if !valid_statistic(statistic) {
        return Err(CloudWatchError::invalid(format!(
            "The value {statistic} for parameter MetricStat.Stat is invalid."
        )));
    }
    let (periods, _) = store.periods(&key, start, end, period);
    Ok(periods
        .iter()
        .filter_map(|(at, stats)| stats.statistic(statistic).map(|v| (*at, v)))
        .collect())
}

fn get_metric_data(store: &MetricStore, input: &Value) -> Result<Value, CloudWatchError> {
    let (start, end) = range(input)?;
    let queries = list(input, "MetricDataQueries")?;
    if queries.is_empty() {
        return Err(CloudWatchError::missing("MetricDataQueries"));
    }
    if queries.len() > 500 {
        return Err(CloudWatchError::invalid(
            "The collection MetricDataQueries must not have a size greater than 500.",
        ));
    }
    let ascending = match string(input, "ScanBy")? {
        None | Some("TimestampDescending") => false,
        Some("TimestampAscending") => true,
        Some(other) => {
            return Err(CloudWatchError::invalid(format!(
                "The value {other} for parameter ScanBy is invalid."
            )))
        }
    };
    // Metric queries first, then expressions in order (an expression may use
    // earlier ones' results).
    let mut results: Vec<(String, String, math::Series)> = Vec::new();
    let mut metric_ids: Vec<String> = Vec::new();
    let mut returned = Vec::new();
    for q in queries {
        let id = required(q, "Id")?;
        if !id.starts_with(|c: char| c.is_ascii_lowercase())
            || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            return Err(CloudWatchError::invalid(format!(
                "The value {id} for parameter MetricDataQueries.member.Id is invalid: it must start with a lowercase letter and hold only letters, digits and underscores."
            )));
        }
        if results.iter().any(|(other, _, _)| other == id) {
            return Err(CloudWatchError::invalid(format!(
                "The value {id} for parameter MetricDataQueries.member.Id is not unique."
            )));
        }
        let stat = q.get("MetricStat").filter(|v| !v.is_null());
        let expression = string(q, "Expression")?;
        let (label, series) = match (stat, expression) {
            (Some(stat), None) => {
                let name = stat
                    .get("Metric")
                    .and_then(|m| m.get("MetricName"))
                    .and_then(Value::as_str)
                    .unwrap_or(id);
                let label = string(q, "Label")?.unwrap_or(name).to_string();
                metric_ids.push(id.to_string());
                (label, metric_stat_series(store, stat, start, end)?)
            }
            (None, Some(expression)) => {
                let inputs = Inputs {
                    series: &results,
                    metrics: &metric_ids,
                };
                let value = math::evaluate(expression, &inputs).map_err(|e| {
                    CloudWatchError::invalid(format!(
                        "Error in expression '{id}': {e}"
                    ))
                })?;
                let series = match value {
                    math::Value::Series(s) => s,
                    math::Value::Scalar(v) => {
                        // A number: at every timestamp the inputs have.
                        let mut times: Vec<i64> = results
                            .iter()
                            .flat_map(|(_, _, s)| s.keys().cloned())
                            .collect();
                        times.sort_unstable();
                        times.dedup();
                        times.into_iter().map(|t| (t, v)).collect()
                    }
                    math::Value::Array(_) => {
                        return Err(CloudWatchError::invalid(format!(
                            "Error in expression '{id}': the expression must return a single time series."
                        )))
                    }
                };
                (string(q, "Label")?.unwrap_or(id).to_string(), series)
            }
            _ => {
                return Err(CloudWatchError::combination(format!(
                    "The parameters MetricStat and Expression are mutually exclusive and one of them is required for query {id}."
                )))
            }
        };
        if boolean(q, "ReturnData")?.unwrap_or(true) {
            returned.push(id.to_string());
        }
        results.push((id.to_string(), label, series));
    }
    let out: Vec<Value> = results
        .iter()
        .filter(|(id, _, _)| returned.contains(id))
        .map(|(id, label, series)| {
            let mut points: Vec<(i64, f64)> = series
                .iter()
                .filter(|(t, v)| **t >= start && **t < end && v.is_finite())
                .map(|(t, v)| (*t, *v))
                .collect();
            if !ascending {
                points.reverse();
            }
            points.truncate(MAX_DATA_POINTS_TOTAL);
            json!({
                "Id": id,
                "Label": label,
                "Timestamps": points.iter().map(|(t, _)| *t as f64 / 1000.0).collect::<Vec<_>>(),
                "Values": points.iter().map(|(_, v)| *v).collect::<Vec<_>>(),
                "StatusCode": "Complete",
            })
        })
        .collect();
    Ok(json!({ "MetricDataResults": out, "Messages": [] }))
}

fn list_metrics(store: &MetricStore, input: &Value, now_ms: i64) -> Result<Value, CloudWatchError> {
    let filters: Vec<(String, Option<String>)> = list(input, "Dimensions")?
        .iter()
        .map(|d| {
            Ok((
                required(d, "Name")?.to_string(),
                string(d, "Value")?.map(str::to_string),
            ))
        })
        .collect::<Result<_, CloudWatchError>>()?;
    let since = match string(input, "RecentlyActive")? {
        None => None,
        Some("PT3H") => Some(now_ms - 3 * 3_600_000),
        Some(other) => {
            return Err(CloudWatchError::invalid(format!(
                "The value {other} for parameter RecentlyActive is invalid."
            )))
        }
    };
    let keys = store.keys(
        string(input, "Namespace")?,
        string(input, "MetricName")?,
        &filters,
        since,
    );
    const PAGE: usize = 500;
    let skip: usize = match string(input, "NextToken")? {
        None => 0,
        Some(t) => t
            .parse()
            .map_err(|_| CloudWatchError::invalid("The parameter NextToken is invalid."))?,
    };
    let metrics: Vec<Value> = keys
        .iter()
        .skip(skip)
        .take(PAGE)
        .map(|k| {
            json!({
                "Namespace": k.namespace,
                "MetricName": k.name,
                "Dimensions": dimensions_json(&k.dimensions),
            })
        })
        .collect();
    let mut out = json!({ "Metrics": metrics });
    if skip + PAGE < keys.len() {
        out["NextToken"] = json!((skip + PAGE).to_string());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_then_read_back() {
        let store = MetricStore::default();
        let now = 1_733_590_800_000i64;
        let put = json!({"Namespace": "MultiTalk", "MetricData": [
            {"MetricName": "Jobs", "Dimensions": [{"Name": "Queue", "Value": "gpu"}], "Value": 3, "Unit": "Count", "Timestamp": (now / 1000) as f64},
            {"MetricName": "Jobs", "Dimensions": [{"Name": "Queue", "Value": "gpu"}], "Values": ["1", "2"], "Counts": [2, 1], "Timestamp": (now / 1000) as f64},
        ]});
        put_metric_data(&store, &put, now).expect("recorded");
        let stats = get_metric_statistics(
            &store,
            &json!({"Namespace": "MultiTalk", "MetricName": "Jobs", "Dimensions": [{"Name": "Queue", "Value": "gpu"}],
                    "StartTime": (now / 1000 - 60) as f64, "EndTime": (now / 1000 + 60) as f64, "Period": "60",
                    "Statistics": ["Sum", "SampleCount"], "ExtendedStatistics": ["p100"]}),
        )
        .expect("read");
        assert_eq!(stats["Datapoints"][0]["Sum"], json!(7.0));
        assert_eq!(stats["Datapoints"][0]["SampleCount"], json!(4.0));
        assert_eq!(stats["Datapoints"][0]["Unit"], json!("Count"));
        assert_eq!(
            stats["Datapoints"][0]["ExtendedStatistics"]["p100"],
            json!(3.0)
        );
        // Other dimensions are another metric.
        let none = get_metric_statistics(
            &store,
            &json!({"Namespace": "MultiTalk", "MetricName": "Jobs", "StartTime": (now / 1000 - 60) as f64,
                    "EndTime": (now / 1000 + 60) as f64, "Period": 60, "Statistics": ["Sum"]}),
        )
        .expect("read");
        assert_eq!(none["Datapoints"], json!([]));
        for bad in [
            json!({"Namespace": "AWS/ApiGateway", "MetricData": [{"MetricName": "x", "Value": 1}]}),
            json!({"Namespace": "N", "MetricData": [{"MetricName": "x"}]}),
            json!({"Namespace": "N", "MetricData": [{"MetricName": "x", "Value": 1, "Timestamp": 1.0}]}),
            json!({"Namespace": "N", "MetricData": [{"MetricName": "x", "Value": 1}, {"Value": 2}]}),
        ] {
            assert!(put_metric_data(&store, &bad, now).is_err(), "{bad}");
        }
        assert_eq!(store.len(), 1, "a refused call records nothing");
        let data = get_metric_data(
            &store,
            &json!({"StartTime": (now / 1000 - 60) as f64, "EndTime": (now / 1000 + 60) as f64,
                    "MetricDataQueries": [
                        {"Id": "jobs", "MetricStat": {"Metric": {"Namespace": "MultiTalk", "MetricName": "Jobs",
                            "Dimensions": [{"Name": "Queue", "Value": "gpu"}]}, "Period": 60, "Stat": "Sum"}, "ReturnData": false},
                        {"Id": "doubled", "Expression": "jobs * 2"}]}),
        )
        .expect("read");
        assert_eq!(data["MetricDataResults"].as_array().map(Vec::len), Some(1));
        assert_eq!(data["MetricDataResults"][0]["Values"], json!([14.0]));
        let listed = list_metrics(&store, &json!({"Namespace": "MultiTalk"}), now).expect("listed");
        assert_eq!(listed["Metrics"][0]["MetricName"], json!("Jobs"));
    }
}

//! Alarm evaluation on a clock the test moves: the seed's alarm (4XXError
//! Sum over 300 s > 10) goes to ALARM with its 11th forbidden call, stays
//! there for the rest of the period, and returns to OK in the next one;
//! missing data, M-out-of-N and comparisons as CloudWatch treats them.

use std::sync::Arc;

use serde_json::{json, Value};
use tollgate_gateway::upstream::UpstreamClient;
use tollgate_observe::alarms::Alarms;
use tollgate_observe::docstore::DocStore;
use tollgate_observe::metrics::store::{MetricKey, MetricStore, Sample};
use tollgate_observe::sns::Sns;

/// A period boundary, well past the epoch (2026-12-07T18:00:00Z).
const T0: i64 = 1_796_666_400_000;

struct Fixture {
    alarms: Arc<Alarms>,
    metrics: Arc<MetricStore>,
    _dir: TempDir,
}

struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn fixture(name: &str) -> Fixture {
    let dir = std::env::temp_dir().join(format!("tollgate-alarms-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let docs = Arc::new(DocStore::open(&dir).expect("store"));
    let metrics = Arc::new(MetricStore::default());
    let sns = Sns::start(
        docs.clone(),
        "us-east-1",
        "000000000000",
        "http://127.0.0.1:1",
        UpstreamClient::default(),
    )
    .expect("sns");
    let alarms = Alarms::load(docs, metrics.clone(), sns, "us-east-1", "000000000000");
    Fixture {
        alarms,
        metrics,
        _dir: TempDir(dir),
    }
}

impl Fixture {
    fn put(&self, alarm: Value, now: i64) {
        self.alarms
            .handle("PutMetricAlarm", &alarm, now)
            .expect("an alarm operation")
            .expect("accepted");
    }

    fn state(&self, name: &str) -> String {
        let out = self
            .alarms
            .handle("DescribeAlarms", &json!({"AlarmNames": [name]}), T0)
            .expect("an alarm operation")
            .expect("described");
        out["MetricAlarms"][0]["StateValue"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// One request's 4XXError sample (1 for a 4xx, else 0), no dimensions.
    fn request(&self, at: i64, client_error: bool) {
        let key = MetricKey::new("AWS/ApiGateway", "4XXError", vec![]);
        self.metrics
            .record(
                &key,
                at,
                Sample::Value(if client_error { 1.0 } else { 0.0 }),
                Some("Count"),
            )
            .expect("recorded");
    }
}

fn seed_alarm() -> Value {
    json!({
        "AlarmName": "multitalk-api-errors",
        "AlarmDescription": "Alert on high API error rate",
        "MetricName": "4XXError",
        "Namespace": "AWS/ApiGateway",
        "Statistic": "Sum",
        "Period": 300,
        "Threshold": 10,
        "ComparisonOperator": "GreaterThanThreshold",
        "EvaluationPeriods": 1,
    })
}

#[test]
fn the_seeds_alarm_fires_and_returns_to_ok() {
    let f = fixture("seed");
    f.put(seed_alarm(), T0);
    assert_eq!(f.state("multitalk-api-errors"), "INSUFFICIENT_DATA");
    for i in 0..10 {
        f.request(T0 + 1_000 + i, true);
    }
    f.alarms.evaluate(T0 + 20_000);
    assert_eq!(
        f.state("multitalk-api-errors"),
        "OK",
        "10 is not more than 10"
    );
    f.request(T0 + 30_000, true);
    f.alarms.evaluate(T0 + 40_000);
    assert_eq!(f.state("multitalk-api-errors"), "ALARM");
    // Later in the same period: still over the threshold.
    f.alarms.evaluate(T0 + 250_000);
    assert_eq!(f.state("multitalk-api-errors"), "ALARM");
    // The next period: successful calls only.
    f.request(T0 + 301_000, false);
    f.alarms.evaluate(T0 + 310_000);
    assert_eq!(f.state("multitalk-api-errors"), "OK");
    let history = f
        .alarms
        .handle(
            "DescribeAlarmHistory",
            &json!({"AlarmName": "multitalk-api-errors", "HistoryItemType": "StateUpdate"}),
            T0 + 400_000,
        )
        .expect("an alarm operation")
        .expect("history");
    let summaries: Vec<&str> = history["AlarmHistoryItems"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|i| i["HistorySummary"].as_str())
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(
        summaries,
        [
            "Alarm updated from ALARM to OK",
            "Alarm updated from OK to ALARM",
            "Alarm updated from INSUFFICIENT_DATA to OK",
        ]
    );
}

#[test]
fn missing_data_and_m_out_of_n() {
    let f = fixture("missing");
    let alarm = |name: &str, missing: &str| {
        json!({"AlarmName": name, "MetricName": "4XXError", "Namespace": "AWS/ApiGateway",
               "Statistic": "Sum", "Period": 60, "Threshold": 0, "ComparisonOperator": "GreaterThanThreshold",
               "EvaluationPeriods": 3, "DatapointsToAlarm": 2, "TreatMissingData": missing})
    };
    for (name, missing) in [
        ("m", "missing"),
        ("nb", "notBreaching"),
        ("b", "breaching"),
        ("i", "ignore"),
    ] {
        f.put(alarm(name, missing), T0);
    }
    // No data at all.
    f.alarms.evaluate(T0 + 1_000);
    assert_eq!(f.state("m"), "INSUFFICIENT_DATA");
    assert_eq!(f.state("nb"), "OK");
    assert_eq!(f.state("b"), "ALARM");
    assert_eq!(
        f.state("i"),
        "INSUFFICIENT_DATA",
        "ignore keeps the state it has"
    );
    // One breaching minute out of three: not enough for 2 of 3.
    f.request(T0 + 61_000, true);
    f.alarms.evaluate(T0 + 125_000);
    assert_eq!(f.state("m"), "OK");
    // A second one: 2 of 3 breach.
    f.request(T0 + 121_000, true);
    f.alarms.evaluate(T0 + 125_000);
    assert_eq!(f.state("m"), "ALARM");
    assert_eq!(f.state("nb"), "ALARM");
}

#[test]
fn bad_alarms_are_refused_and_change_nothing() {
    let f = fixture("bad");
    for bad in [
        json!({"AlarmName": "x", "MetricName": "m", "Namespace": "n", "Period": 300, "Threshold": 1,
               "ComparisonOperator": "GreaterThanThreshold", "EvaluationPeriods": 1}),
        json!({"AlarmName": "x", "MetricName": "m", "Namespace": "n", "Statistic": "Sum", "Period": 45, "Threshold": 1,
               "ComparisonOperator": "GreaterThanThreshold", "EvaluationPeriods": 1}),
        json!({"AlarmName": "x", "MetricName": "m", "Namespace": "n", "Statistic": "Sum", "Period": 60, "Threshold": 1,
               "ComparisonOperator": "Bigger", "EvaluationPeriods": 1}),
        json!({"AlarmName": "x", "MetricName": "m", "Namespace": "n", "Statistic": "Sum", "Period": 60, "Threshold": 1,
               "ComparisonOperator": "GreaterThanThreshold", "EvaluationPeriods": 2, "DatapointsToAlarm": 3}),
        json!({"AlarmName": "x", "MetricName": "m", "Namespace": "n", "Statistic": "Sum", "Period": 60, "Threshold": 1,
               "ComparisonOperator": "GreaterThanThreshold", "EvaluationPeriods": 1,
               "AlarmActions": ["arn:aws:automate:us-east-1:ec2:stop"]}),
    ] {
        let result = f
            .alarms
            .handle("PutMetricAlarm", &bad, T0)
            .expect("an alarm operation");
        assert!(result.is_err(), "{bad}");
    }
    let all = f
        .alarms
        .handle("DescribeAlarms", &json!({}), T0)
        .expect("an alarm operation")
        .expect("described");
    assert_eq!(all["MetricAlarms"], json!([]));
}

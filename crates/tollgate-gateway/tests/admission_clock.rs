//! Key, throttle and quota through the real admission phase, on an injected
//! clock: exact bucket arithmetic and quota rollover at UTC period boundaries.

use std::sync::Arc;
use std::time::Duration;

use tollgate_gateway::bench_support::admit;
use tollgate_gateway::clock::ManualClock;
use tollgate_gateway::error::ErrorKind;
use tollgate_gateway::fixtures::{key_headers, key_value, keyed_state, API, STAGE};
use tollgate_gateway::{Gateway, GatewaySettings};
use tollgate_model::time::Date;
use tollgate_model::usage_plan::{QuotaSettings, ThrottleSettings};

fn epoch(date: &str, seconds_into_day: i64) -> i64 {
    Date::parse(date)
        .map(|d| d.days_since_epoch() * 86_400)
        .unwrap_or_default()
        + seconds_into_day
}

struct Harness {
    gateway: Gateway,
    clock: Arc<ManualClock>,
}

impl Harness {
    fn new(
        throttle: Option<ThrottleSettings>,
        quota: Option<QuotaSettings>,
        start: i64,
    ) -> Harness {
        let clock = Arc::new(ManualClock::new(start));
        let gateway = Gateway::with_clock(GatewaySettings::default(), clock.clone());
        gateway.update(&keyed_state(1, 1, throttle, quota), &[]);
        Harness { gateway, clock }
    }

    fn request(&self, key: Option<&str>) -> Result<(), ErrorKind> {
        admit(
            &self.gateway,
            API,
            STAGE,
            "GET",
            "/api/v1/jobs",
            &key_headers(key),
        )
    }

    fn admitted(&self, n: usize) -> usize {
        let key = key_value(0);
        (0..n).filter(|_| self.request(Some(&key)).is_ok()).count()
    }
}

#[test]
fn keys_are_checked_before_anything_else() {
    let h = Harness::new(None, None, epoch("2026-11-26", 0));
    assert_eq!(h.request(None), Err(ErrorKind::InvalidApiKey));
    assert_eq!(
        h.request(Some("not-a-key-but-long-enough")),
        Err(ErrorKind::InvalidApiKey)
    );
    assert_eq!(h.request(Some(&key_value(0))), Ok(()));
}

#[test]
fn burst_then_rate_exactly() {
    let throttle = ThrottleSettings {
        burst_limit: Some(10),
        rate_limit: Some(5.0),
    };
    let h = Harness::new(Some(throttle), None, epoch("2026-11-26", 0));
    // A burst of 2B at one instant admits exactly B.
    assert_eq!(h.admitted(20), 10);
    assert_eq!(h.request(Some(&key_value(0))), Err(ErrorKind::Throttled));
    // Then R per second: every 200 ms one token.
    let mut admitted = 0;
    for _ in 0..50 {
        h.clock.advance(Duration::from_millis(100));
        admitted += h.admitted(1);
    }
    assert_eq!(admitted, 25, "5 seconds at 5 per second");
}

/// A plan whose apiStages entry throttles one method (`"/path/METHOD"`).
fn with_method_throttle(key: &str, burst: i64) -> Harness {
    let clock = Arc::new(ManualClock::new(epoch("2026-11-26", 0)));
    let gateway = Gateway::with_clock(GatewaySettings::default(), clock.clone());
    let mut state = keyed_state(1, 1, None, None);
    for doc in state.usage_plans.values_mut() {
        let doc = Arc::make_mut(doc);
        for stage in &mut doc.plan.api_stages {
            stage.throttle.insert(
                key.into(),
                ThrottleSettings {
                    burst_limit: Some(burst),
                    rate_limit: Some(1.0),
                },
            );
        }
    }
    gateway.update(&state, &[]);
    Harness { gateway, clock }
}

#[test]
fn a_plan_can_throttle_one_method() {
    // The deployed method is ANY: the plan's entry may name ANY or the
    // method the client used; an entry for another method changes nothing.
    assert_eq!(with_method_throttle("/api/{proxy+}/ANY", 3).admitted(10), 3);
    assert_eq!(with_method_throttle("/api/{proxy+}/GET", 4).admitted(10), 4);
    assert_eq!(
        with_method_throttle("/api/{proxy+}/POST", 4).admitted(10),
        10
    );
    let h = with_method_throttle("/api/{proxy+}/GET", 2);
    assert_eq!(h.admitted(5), 2);
    h.clock.advance(Duration::from_secs(1));
    assert_eq!(h.admitted(5), 1, "refilled at the method's own rate");
}

fn quota(limit: i64, period: &str) -> Option<QuotaSettings> {
    Some(QuotaSettings {
        limit,
        offset: 0,
        period: Some(period.into()),
    })
}

#[test]
fn quotas_roll_over_on_utc_period_boundaries() {
    // DAY: resets at midnight UTC.
    let h = Harness::new(None, quota(3, "DAY"), epoch("2026-11-26", 86_399 - 10));
    assert_eq!(h.admitted(5), 3);
    assert_eq!(
        h.request(Some(&key_value(0))),
        Err(ErrorKind::QuotaExceeded)
    );
    h.clock.advance(Duration::from_secs(11));
    assert_eq!(h.admitted(5), 3);

    // WEEK: Thursday 2026-11-26 to Saturday stays exhausted; Sunday 11-29 resets.
    let h = Harness::new(None, quota(3, "WEEK"), epoch("2026-11-26", 0));
    assert_eq!(h.admitted(5), 3);
    h.clock.set_epoch_seconds(epoch("2026-11-28", 86_399));
    assert_eq!(h.admitted(1), 0);
    h.clock.set_epoch_seconds(epoch("2026-11-29", 0));
    assert_eq!(h.admitted(5), 3);

    // MONTH: November 30 stays exhausted; December 1 resets.
    let h = Harness::new(None, quota(3, "MONTH"), epoch("2026-11-02", 0));
    assert_eq!(h.admitted(5), 3);
    h.clock.set_epoch_seconds(epoch("2026-11-30", 86_399));
    assert_eq!(h.admitted(1), 0);
    h.clock.set_epoch_seconds(epoch("2026-12-01", 0));
    assert_eq!(h.admitted(5), 3);
}

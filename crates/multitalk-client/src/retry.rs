//! Backing off: exponential with jitter from about ten seconds, capped, and
//! `Retry-After` when a response carries one (neither the MultiTalk API nor
//! API Gateway's 429 does today; spec §1, "Auth and errors").

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::error::Error;

/// How calls back off and how often they try again.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// The first pause (before jitter).
    pub base: Duration,
    /// The longest pause from the exponential schedule.
    pub cap: Duration,
    /// Retries of a single call (not of [`Client::wait`](crate::Client::wait),
    /// which rides out transient errors until its deadline).
    pub max_retries: u32,
    /// Each pause is drawn uniformly from `delay × (1 ± jitter)`.
    pub jitter: f64,
    /// A `Retry-After` longer than this is cut to it.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    /// 10 s, 20 s, 40 s (±20 %), three retries, pauses capped at 5 minutes.
    fn default() -> Self {
        RetryPolicy {
            base: Duration::from_secs(10),
            cap: Duration::from_secs(300),
            max_retries: 3,
            jitter: 0.2,
            max_retry_after: Duration::from_secs(3600),
        }
    }
}

impl RetryPolicy {
    /// Never retries a single call.
    pub fn none() -> Self {
        RetryPolicy {
            max_retries: 0,
            ..RetryPolicy::default()
        }
    }

    /// The pause before retry number `attempt` (0 for the first), from the
    /// exponential schedule with jitter.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let exp = self
            .base
            .checked_mul(1u32.checked_shl(attempt.min(31)).unwrap_or(u32::MAX))
            .unwrap_or(self.cap)
            .min(self.cap);
        let jitter = if self.jitter.is_finite() {
            self.jitter.clamp(0.0, 1.0)
        } else {
            0.0
        };
        let factor = 1.0 - jitter + 2.0 * jitter * rand::random::<f64>();
        // Not `mul_f64`, which panics past `Duration::MAX`.
        Duration::try_from_secs_f64(exp.as_secs_f64() * factor).unwrap_or(exp)
    }

    /// The pause before retry number `attempt` after `error`: its
    /// `Retry-After` when it had one, else [`backoff`](Self::backoff).
    pub fn delay_for(&self, attempt: u32, error: &Error) -> Duration {
        match error.retry_after() {
            Some(after) => after.min(self.max_retry_after),
            None => self.backoff(attempt),
        }
    }
}

/// `Retry-After`: delta-seconds, or an HTTP date (IMF-fixdate, as RFC 9110
/// says senders write it). A date in the past is zero.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = parse_http_date(value)?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// `Sun, 06 Nov 1994 08:49:37 GMT`.
fn parse_http_date(value: &str) -> Option<SystemTime> {
    let (_, rest) = value.split_once(", ")?;
    let mut parts = rest.split_ascii_whitespace();
    let day: u32 = parts.next()?.parse().ok()?;
    let month = match parts.next()? {
        "Jan" => 1,
        "Feb" => 2,
        "Mar" => 3,
        "Apr" => 4,
        "May" => 5,
        "Jun" => 6,
        "Jul" => 7,
        "Aug" => 8,
        "Sep" => 9,
        "Oct" => 10,
        "Nov" => 11,
        "Dec" => 12,
        _ => return None,
    };
    let year: i64 = parts.next()?.parse().ok()?;
    let mut hms = parts.next()?.split(':');
    let h: u64 = hms.next()?.parse().ok()?;
    let m: u64 = hms.next()?.parse().ok()?;
    let s: u64 = hms.next()?.parse().ok()?;
    if parts.next()? != "GMT" || !(1..=31).contains(&day) || h > 23 || m > 59 || s > 60 {
        return None;
    }
    let days = days_from_civil(year, month, day);
    let secs = u64::try_from(days).ok()? * 86_400 + h * 3600 + m * 60 + s;
    Some(UNIX_EPOCH + Duration::from_secs(secs))
}

/// Howard Hinnant's `days_from_civil`: days since 1970-01-01.
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_and_caps() {
        let p = RetryPolicy::default();
        for _ in 0..50 {
            let first = p.backoff(0);
            assert!(first >= Duration::from_secs(8) && first <= Duration::from_secs(12));
            let third = p.backoff(2);
            assert!(third >= Duration::from_secs(32) && third <= Duration::from_secs(48));
            assert!(p.backoff(40) <= Duration::from_secs(360));
        }
        let exact = RetryPolicy {
            jitter: 0.0,
            ..RetryPolicy::default()
        };
        assert_eq!(exact.backoff(1), Duration::from_secs(20));
        assert_eq!(exact.backoff(10), Duration::from_secs(300));
        assert_eq!(exact.backoff(u32::MAX), Duration::from_secs(300));
    }

    #[test]
    fn backoff_never_panics_on_odd_policies() {
        let odd = RetryPolicy {
            base: Duration::MAX,
            cap: Duration::MAX,
            jitter: f64::NAN,
            ..RetryPolicy::default()
        };
        assert_eq!(odd.backoff(0), Duration::MAX);
        assert_eq!(odd.backoff(63), Duration::MAX);
        let wide = RetryPolicy {
            jitter: f64::INFINITY,
            ..RetryPolicy::default()
        };
        assert_eq!(wide.backoff(0), Duration::from_secs(10));
    }

    #[test]
    fn retry_after_seconds_and_dates() {
        let now = UNIX_EPOCH + Duration::from_secs(784_111_777); // Sun, 06 Nov 1994 08:49:37 GMT
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:51:37 GMT", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("-1", now), None);
        assert_eq!(parse_retry_after("tomorrow", now), None);
        assert_eq!(
            parse_retry_after("Tue, 29 Feb 2000 00:00:00 GMT", UNIX_EPOCH),
            Some(Duration::from_secs(951_782_400))
        );
    }
}

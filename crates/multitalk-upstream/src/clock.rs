//! Timestamps and ids in the shapes api.py produces, without a date or uuid crate.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A UTC time broken into calendar fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Civil {
    year: i64,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
    micros: u32,
}

fn civil(t: SystemTime) -> Civil {
    // Times before 1970 cannot come from this server's clock; clamp rather than fail.
    let since = t.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    let secs = since.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (year, month, day) = civil_from_days(days);
    Civil {
        year,
        month,
        day,
        hour: (rem / 3600) as u32,
        minute: (rem % 3600 / 60) as u32,
        second: (rem % 60) as u32,
        micros: since.subsec_micros(),
    }
}

/// Howard Hinnant's `civil_from_days`: days since 1970-01-01 to (year, month, day).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn iso(t: SystemTime, zone: &str) -> String {
    let c = civil(t);
    let mut out = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        c.year, c.month, c.day, c.hour, c.minute, c.second
    );
    // Python drops the fraction when it is zero; so do we.
    if c.micros != 0 {
        out.push_str(&format!(".{:06}", c.micros));
    }
    out.push_str(zone);
    out
}

/// How pydantic v2 serialises an aware UTC `datetime` in a response model
/// (`2025-08-01T12:00:00.123456Z`).
pub fn iso_pydantic(t: SystemTime) -> String {
    iso(t, "Z")
}

/// How `datetime.now(timezone.utc).isoformat()` reads; api.py returns these raw
/// strings from the job list (`2025-08-01T12:00:00.123456+00:00`).
pub fn iso_python(t: SystemTime) -> String {
    iso(t, "+00:00")
}

/// `strftime("%Y%m%d_%H%M%S")`, the timestamp in the backend's output keys.
pub fn compact(t: SystemTime) -> String {
    let c = civil(t);
    format!(
        "{:04}{:02}{:02}_{:02}{:02}{:02}",
        c.year, c.month, c.day, c.hour, c.minute, c.second
    )
}

/// `YYYYMMDDTHHMMSSZ`, as in `X-Amz-Date`.
pub fn amz_date(t: SystemTime) -> String {
    let c = civil(t);
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        c.year, c.month, c.day, c.hour, c.minute, c.second
    )
}

/// A random (version 4) UUID, as `str(uuid.uuid4())` prints it.
pub fn uuid4() -> String {
    let mut v: u128 = rand::random();
    v &= !(0xf << 76);
    v |= 0x4 << 76; // version 4
    v &= !(0x3 << 62);
    v |= 0x2 << 62; // RFC 4122 variant
    let h = format!("{v:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64, micros: u32) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_micros(u64::from(micros))
    }

    #[test]
    fn formats_like_python() {
        assert_eq!(iso_pydantic(at(0, 0)), "1970-01-01T00:00:00Z");
        // 2025-08-01T12:34:56 UTC
        assert_eq!(
            iso_python(at(1_754_051_696, 1234)),
            "2025-08-01T12:34:56.001234+00:00"
        );
        assert_eq!(compact(at(1_754_051_696, 0)), "20250801_123456");
        assert_eq!(amz_date(at(1_754_051_696, 0)), "20250801T123456Z");
        // A leap day.
        assert_eq!(iso_pydantic(at(951_782_400, 0)), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn uuid4_shape() {
        let id = uuid4();
        assert_eq!(id.len(), 36);
        let parts: Vec<&str> = id.split('-').collect();
        assert_eq!(
            parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
            [8, 4, 4, 4, 12]
        );
        assert!(parts[2].starts_with('4'));
        assert!(matches!(parts[3].as_bytes()[0], b'8' | b'9' | b'a' | b'b'));
        assert_ne!(uuid4(), id);
    }
}

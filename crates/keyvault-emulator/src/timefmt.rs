//! Calendar dates of Unix times (UTC, proleptic Gregorian calendar), for Entra's error timestamps and the
//! RFC 3339 `time` of Event Grid events.

use std::time::{SystemTime, UNIX_EPOCH};

/// `(year, month, day, hour, minute, second)` of a Unix time.
pub(crate) fn civil(unix: i64) -> (i64, i64, i64, i64, i64, i64) {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    // Civil-from-days (H. Hinnant).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day, secs / 3600, secs % 3600 / 60, secs % 60)
}

/// Unix seconds of `time` (negative before 1970).
pub(crate) fn unix_secs(time: SystemTime) -> i64 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(before) => -i64::try_from(before.duration().as_secs()).unwrap_or(i64::MAX),
    }
}

/// `2024-03-01T07:41:07.123456Z`: RFC 3339 in UTC with microseconds.
pub(crate) fn rfc3339(time: SystemTime) -> String {
    let micros = time.duration_since(UNIX_EPOCH).map_or(0, |d| d.subsec_micros());
    let (y, mo, d, h, mi, s) = civil(unix_secs(time));
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{micros:06}Z")
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn formats_known_instants() {
        assert_eq!(civil(0), (1970, 1, 1, 0, 0, 0));
        assert_eq!(civil(1_709_278_867), (2024, 3, 1, 7, 41, 7));
        let t = UNIX_EPOCH + Duration::from_micros(951_782_400_000_001);
        assert_eq!(rfc3339(t), "2000-02-29T00:00:00.000001Z");
        assert_eq!(unix_secs(UNIX_EPOCH - Duration::from_secs(5)), -5);
    }
}

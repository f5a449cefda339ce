//! Between `SystemTime` and the API's `Time` (whole seconds, as the API server keeps them).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

/// A Kubernetes `Time` (whole seconds).
pub fn to_time(t: SystemTime) -> Time {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    Time(k8s_openapi::jiff::Timestamp::from_second(i64::try_from(secs).unwrap_or(0)).unwrap_or_default())
}

/// A Kubernetes `Time` as a `SystemTime` (whole seconds).
pub fn from_time(t: &Time) -> Option<SystemTime> {
    let secs = u64::try_from(t.0.as_second()).ok()?;
    Some(UNIX_EPOCH + Duration::from_secs(secs))
}

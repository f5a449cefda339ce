//! The timing arithmetic of the schedule: intervals, phases, jitter and backoff. Pure functions of the
//! SecretSync, the settings and `now`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use kube::ResourceExt;
use sha2::{Digest, Sha256};
use sse_api::{SecretSync, validation};

use super::key;

/// Shortest delay between two scheduled checks of one SecretSync.
pub const MIN_DELAY: Duration = Duration::from_secs(1);

/// Timing settings.
#[derive(Clone, Debug)]
pub struct Timing {
    /// Time between two checks of one SecretSync.
    pub poll_interval: Duration,
    /// Extra random delay, up to this.
    pub jitter: Duration,
    /// First retry delay after a transient failure.
    pub backoff_base: Duration,
    /// Longest retry delay.
    pub backoff_max: Duration,
    /// Longest time one sync may take; also how late a check may be before it counts as overdue.
    pub reconcile_timeout: Duration,
    /// Shortest interval a SecretSync's refresh-interval annotation may set.
    pub min_interval: Duration,
    /// Longest interval a SecretSync's refresh-interval annotation may set.
    pub max_interval: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            poll_interval: Duration::from_secs(3600),
            jitter: Duration::ZERO,
            backoff_base: Duration::from_secs(5),
            backoff_max: Duration::from_secs(300),
            reconcile_timeout: Duration::from_secs(150),
            min_interval: Duration::from_secs(30),
            max_interval: Duration::from_secs(24 * 3600),
        }
    }
}

/// A digest of the SecretSync's tag-mapping annotations (0 without them).
pub fn tag_config(sync: &SecretSync) -> u64 {
    let annotations = sync.metadata.annotations.as_ref();
    let value = |key: &str| annotations.and_then(|a| a.get(key)).map(String::as_str);
    match (
        value(sse_api::consts::TAG_LABELS_ANNOTATION),
        value(sse_api::consts::TAG_ANNOTATIONS_ANNOTATION),
    ) {
        (None, None) => 0,
        (labels, annotations) => digest(&format!("{labels:?}|{annotations:?}")),
    }
}

/// A short digest of a force-sync token (what the memo keeps instead of the string).
pub(super) fn digest(token: &str) -> u64 {
    use std::hash::{Hash as _, Hasher as _};
    let mut hasher = std::hash::DefaultHasher::new();
    token.hash(&mut hasher);
    hasher.finish()
}

/// See [`Schedule::interval`].
pub fn interval(sync: &SecretSync, timing: &Timing) -> Duration {
    let asked = sync
        .metadata
        .annotations
        .as_ref()
        .map_or(Ok(None), validation::refresh_interval);
    match asked {
        Ok(Some(asked)) => asked.clamp(timing.min_interval, timing.max_interval.max(timing.min_interval)),
        _ => timing.poll_interval,
    }
}

/// Delay until this SecretSync's next scheduled check: its UID-derived phase within its interval, plus up
/// to `jitter` at random.
pub fn phase_delay(sync: &SecretSync, timing: &Timing, now: SystemTime) -> Duration {
    let interval = interval(sync, timing).as_secs().max(1);
    let digest = Sha256::digest(sync.uid().unwrap_or_else(|| key(sync)).as_bytes());
    let phase = u64::from_be_bytes(digest[..8].try_into().unwrap_or_default()) % interval;
    let now_secs = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let position = now_secs % interval;
    let mut delay = (phase + interval - position) % interval;
    if delay == 0 {
        delay = interval;
    }
    Duration::from_secs(delay) + jitter(timing)
}

/// Up to `timing.jitter` (whole seconds), at random.
pub(super) fn jitter(timing: &Timing) -> Duration {
    let jitter = timing.jitter.as_secs();
    Duration::from_secs(if jitter == 0 {
        0
    } else {
        rand::random_range(0..=jitter)
    })
}

/// Capped exponential backoff for the `failures`-th failure in a row of the SecretSync `key`, with ±50 %
/// jitter derived from both (so SecretSyncs failing together spread out, and the delay can be shown in
/// status before the error policy applies it).
pub fn backoff(key: &str, failures: u32, timing: &Timing) -> Duration {
    let exp = timing
        .backoff_base
        .saturating_mul(2u32.saturating_pow(failures.saturating_sub(1).min(16)));
    let capped = exp.min(timing.backoff_max);
    let digest = Sha256::digest(format!("{key}#{failures}").as_bytes());
    let spread = u16::from_be_bytes([digest[0], digest[1]]);
    let factor = 0.5 + f64::from(spread) / f64::from(u16::MAX);
    capped.mul_f64(factor).min(timing.backoff_max)
}

//! When each SecretSync is checked: its phase in the poll interval, backoff after failures, what counts as
//! "due", and the bookkeeping behind it. No I/O.
//!
//! Each SecretSync is checked every `rotationPollIntervalInSeconds` (or its `sse-rs.io/refresh-interval`)
//! at a phase derived from its UID, plus up to `jitterSeconds` of random delay, so thousands of SecretSyncs
//! spread over the interval instead of hitting the vault in the same second. A check answered by change
//! detection is next due one interval after the vault metadata it relied on was read
//! ([`Schedule::after_observation`]): SecretSyncs sharing a vault listing then come due together, and one
//! listing answers them all (their checks cost no vault read; `jitterSeconds` spreads them if wanted).
//! Transient failures retry with capped exponential backoff.
//! Between checks, a reconcile is due only when the SecretSync's generation or its SecretProviderClass
//! changed, or a sync was forced (owned Secret changed): echoes of our own status writes are not.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use kube::ResourceExt;
use sha2::{Digest, Sha256};
use sse_api::{Reason, SecretSync, conditions, validation};

use crate::clock::{from_time, to_time};

/// Shortest delay between two scheduled checks of one SecretSync.
const MIN_DELAY: Duration = Duration::from_secs(1);

/// How much later than its check plus a sync's length a SecretSync may be before it counts as overdue.
const OVERDUE_SLACK: Duration = Duration::from_secs(30);

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

/// `namespace/name`.
pub fn key(sync: &SecretSync) -> String {
    format!("{}/{}", sync.namespace().unwrap_or_default(), sync.name_any())
}

/// The SecretProviderClass a sync saw: (uid, generation).
pub type ClassVersion = Option<(String, i64)>;

/// What the last sync of one SecretSync saw, to tell a trigger that needs a sync from an echo of our own
/// status write. Small and secret-free: memory stays flat in the number of SecretSyncs.
#[derive(Clone, Debug)]
struct Memo {
    generation: Option<i64>,
    interval: Duration,
    class_version: ClassVersion,
    next_check: SystemTime,
    last_check: Option<SystemTime>,
    last_reason: Option<Reason>,
    /// Digest of the force-sync annotation this process last handled (until the status shows it).
    force_handled: Option<u64>,
    /// [`tag_config`] when last checked: an edit of the tag mappings is applied by a check at once.
    tag_config: u64,
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

/// One line of the schedule report: when a SecretSync was last checked, with what result, and when next.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ScheduleEntry {
    /// `namespace/name`.
    pub secret_sync: String,
    /// Last check (RFC 3339), if this process has seen one.
    pub last_checked_time: Option<String>,
    /// Reason of the last check.
    pub last_reason: Option<&'static str>,
    /// Next scheduled check (RFC 3339).
    pub next_check_time: String,
}

/// The schedule of every SecretSync this process knows.
pub struct Schedule {
    timing: Timing,
    started: SystemTime,
    memos: Mutex<HashMap<String, Memo>>,
    failures: Mutex<HashMap<String, u32>>,
    forced: Mutex<HashSet<String>>,
    /// SecretSyncs by the reason of their last check, kept as the memos change (a metric).
    reasons: crate::metrics::ReasonGauge,
}

/// A short digest of a force-sync token (what the memo keeps instead of the string).
fn digest(token: &str) -> u64 {
    use std::hash::{Hash as _, Hasher as _};
    let mut hasher = std::hash::DefaultHasher::new();
    token.hash(&mut hasher);
    hasher.finish()
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Schedule {
    /// An empty schedule.
    pub fn new(timing: Timing) -> Self {
        Self::with_reasons(timing, crate::metrics::ReasonGauge::default())
    }

    /// An empty schedule that counts its SecretSyncs by the reason of their last check in `reasons`.
    pub fn with_reasons(timing: Timing, reasons: crate::metrics::ReasonGauge) -> Self {
        Self {
            timing,
            started: SystemTime::now(),
            memos: Mutex::new(HashMap::new()),
            failures: Mutex::new(HashMap::new()),
            forced: Mutex::new(HashSet::new()),
            reasons,
        }
    }

    /// Record `memo` for `key`, keeping the count by reason.
    fn remember(&self, key: String, memo: Memo) {
        let new = memo.last_reason;
        let old = lock(&self.memos).insert(key, memo).and_then(|m| m.last_reason);
        if old != new {
            crate::metrics::move_reason(&self.reasons, old, new);
        }
    }

    /// The settings.
    pub fn timing(&self) -> &Timing {
        &self.timing
    }

    /// Mark a SecretSync as needing a sync at its next reconcile (owned Secret changed).
    pub fn force(&self, key: &str) {
        lock(&self.forced).insert(key.to_string());
    }

    /// Treat the SecretSync's scheduled check as reached (what the scheduler's tick does).
    pub fn expire(&self, key: &str) {
        if let Some(memo) = lock(&self.memos).get_mut(key) {
            memo.next_check = SystemTime::now();
        }
    }

    /// `Some(delay)` when nothing requires a sync of `sync` before its next scheduled check.
    pub fn not_due(
        &self,
        sync: &SecretSync,
        class_version: &ClassVersion,
        now: SystemTime,
    ) -> Option<Duration> {
        let key = key(sync);
        if lock(&self.forced).contains(&key) || self.force_sync_pending(sync).is_some() {
            return None;
        }
        let memo = lock(&self.memos).get(&key).cloned();
        let next_check = match memo {
            Some(m) => {
                // A new interval (annotation edited) is applied, and shown in status, by a check now.
                if m.generation != sync.metadata.generation
                    || &m.class_version != class_version
                    || m.interval != self.interval(sync)
                    || m.tag_config != tag_config(sync)
                {
                    return None;
                }
                m.next_check
            }
            None => {
                // Fresh process: trust a recent healthy status for this generation instead of syncing every
                // SecretSync at once on start-up; anything else syncs now.
                let status = sync.status.as_ref()?;
                if status.observed_generation != sync.metadata.generation
                    || !conditions::is_condition_true(&status.conditions, conditions::READY)
                {
                    return None;
                }
                // `nextCheckTime` in status is only as fresh as the last status write (quiet checks write
                // nothing), so the next check is this SecretSync's next phase tick, not the stored time.
                let next_check = now + self.phase_delay(sync, now);
                // Remember what we deferred against, so a later SecretProviderClass change is noticed.
                self.remember(
                    key,
                    Memo {
                        generation: sync.metadata.generation,
                        interval: self.interval(sync),
                        class_version: class_version.clone(),
                        next_check,
                        last_check: status.last_checked_time.as_ref().and_then(from_time),
                        last_reason: conditions::find_condition(&status.conditions, conditions::READY)
                            .and_then(|c| c.reason.parse().ok()),
                        force_handled: None,
                        tag_config: tag_config(sync),
                    },
                );
                next_check
            }
        };
        next_check.duration_since(now).ok().filter(|d| !d.is_zero())
    }

    /// The value of `sync`'s force-sync annotation when it asks for a check that has not run: neither its
    /// status ([`SecretSyncStatus::force_sync_handled`](sse_api::SecretSyncStatus)) nor this process (whose
    /// status write may not have come back through the watch yet, or was refused) has handled it.
    pub fn force_sync_pending<'a>(&self, sync: &'a SecretSync) -> Option<&'a str> {
        let token = sync
            .metadata
            .annotations
            .as_ref()?
            .get(sse_api::consts::FORCE_SYNC_ANNOTATION)?;
        let status = sync.status.as_ref().and_then(|s| s.force_sync_handled.as_deref());
        if status == Some(token.as_str()) {
            return None;
        }
        let handled = lock(&self.memos).get(&key(sync)).and_then(|m| m.force_handled);
        (handled != Some(digest(token))).then_some(token.as_str())
    }

    /// When `sync`'s current check was scheduled, if this process scheduled one.
    pub fn due_at(&self, sync: &SecretSync) -> Option<SystemTime> {
        lock(&self.memos).get(&key(sync)).map(|m| m.next_check)
    }

    /// How late a check scheduled for `due` that completed at `done` is worth reporting: beyond a tenth of
    /// `sync`'s interval, and at least 30 s.
    pub fn reportable_lateness(
        &self,
        sync: &SecretSync,
        due: SystemTime,
        done: SystemTime,
    ) -> Option<Duration> {
        let late = done.duration_since(due).ok()?;
        (late > (self.interval(sync) / 10).max(Duration::from_secs(30))).then_some(late)
    }

    /// A sync of `sync` starts now: it is no longer forced.
    pub fn starting(&self, sync: &SecretSync) {
        lock(&self.forced).remove(&key(sync));
    }

    /// A sync of `sync` that started at `now` ended with `reason`; when it succeeded (or failed for a
    /// reason retrying cannot fix), the failure count is reset. Its next regular check, `delay` from now
    /// (see [`Schedule::phase_delay`]), is recorded.
    pub fn checked(
        &self,
        sync: &SecretSync,
        class_version: ClassVersion,
        now: SystemTime,
        delay: Duration,
        reason: Reason,
        reset_failures: bool,
    ) {
        let key = key(sync);
        if reset_failures {
            lock(&self.failures).remove(&key);
        }
        self.remember(
            key,
            Memo {
                generation: sync.metadata.generation,
                interval: self.interval(sync),
                class_version,
                next_check: now + delay,
                last_check: Some(now),
                last_reason: Some(reason),
                // This check handled the force-sync request the SecretSync carried, valid or not.
                force_handled: sync
                    .metadata
                    .annotations
                    .as_ref()
                    .and_then(|a| a.get(sse_api::consts::FORCE_SYNC_ANNOTATION))
                    .map(|token| digest(token)),
                tag_config: tag_config(sync),
            },
        );
    }

    /// `sync` failed in a way that retrying soon can help: count it and return the backoff before the next
    /// attempt, recorded as its next check.
    pub fn failed(&self, sync: &SecretSync) -> Duration {
        let key = key(sync);
        let delay = {
            let mut failures = lock(&self.failures);
            let n = failures.entry(key.clone()).or_insert(0);
            *n = n.saturating_add(1);
            backoff(&key, *n, &self.timing)
        };
        if let Some(memo) = lock(&self.memos).get_mut(&key) {
            memo.next_check = SystemTime::now() + delay;
        }
        delay
    }

    /// Time until `sync`'s recorded next check ([`Schedule::checked`]); its next phase tick when none is
    /// recorded.
    pub fn next_check_in(&self, sync: &SecretSync, now: SystemTime) -> Duration {
        let recorded = lock(&self.memos).get(&key(sync)).map(|m| m.next_check);
        recorded.map_or_else(
            || self.phase_delay(sync, now),
            |at| at.duration_since(now).unwrap_or(Duration::ZERO),
        )
    }

    /// The delay [`Schedule::failed`] will give `sync` if its current attempt fails transiently.
    pub fn next_backoff(&self, sync: &SecretSync) -> Duration {
        backoff(&key(sync), self.failures(sync).saturating_add(1), &self.timing)
    }

    /// The SecretSyncs whose last check failed with one of `reasons`: their next check is now (what a
    /// recovered dependency, such as a provider back after a restart, calls for), and their failures are
    /// forgotten (the cause is gone: they take no retry slot, and a new failure backs off from the first
    /// step); returns their keys.
    pub fn retry_now(&self, reasons: &[Reason]) -> HashSet<String> {
        let now = SystemTime::now();
        let keys: HashSet<String> = lock(&self.memos)
            .iter_mut()
            .filter(|(_, m)| m.last_reason.is_some_and(|r| reasons.contains(&r)))
            .map(|(k, m)| {
                m.next_check = now;
                k.clone()
            })
            .collect();
        lock(&self.failures).retain(|k, _| !keys.contains(k));
        keys
    }

    /// How many transient failures in a row `sync` has had.
    pub fn failures(&self, sync: &SecretSync) -> u32 {
        lock(&self.failures).get(&key(sync)).copied().unwrap_or(0)
    }

    /// Put `sync`'s next attempt off by its current backoff step without counting a failure (its turn
    /// did not come); returns the delay.
    pub fn defer(&self, sync: &SecretSync, now: SystemTime) -> Duration {
        let delay = backoff(&key(sync), self.failures(sync).max(1), &self.timing);
        if let Some(memo) = lock(&self.memos).get_mut(&key(sync)) {
            memo.next_check = now + delay;
        }
        delay
    }

    /// Which of `keys` are overdue at `now`: their check is more than a sync's length late, or this process
    /// has not reconciled them at all that long after it started. The scheduler requeues every reconcile,
    /// so an overdue SecretSync means a lost trigger; the controller's sweep re-triggers it.
    pub fn overdue<'a>(&self, keys: impl Iterator<Item = &'a str>, now: SystemTime) -> HashSet<String> {
        let grace = self.timing.reconcile_timeout + OVERDUE_SLACK;
        let memos = lock(&self.memos);
        keys.filter(|k| match memos.get(*k) {
            Some(memo) => memo.next_check + grace < now,
            None => self.started + grace < now,
        })
        .map(str::to_string)
        .collect()
    }

    /// When each known SecretSync was last checked, with what result, and when it will be checked next:
    /// the answer to "is it still syncing?" that the status cannot give without writing on every check.
    pub fn report(&self) -> Vec<ScheduleEntry> {
        let rfc3339 = |t: SystemTime| to_time(t).0.to_string();
        let mut entries: Vec<ScheduleEntry> = lock(&self.memos)
            .iter()
            .map(|(key, m)| ScheduleEntry {
                secret_sync: key.clone(),
                last_checked_time: m.last_check.map(rfc3339),
                last_reason: m.last_reason.map(Reason::as_str),
                next_check_time: rfc3339(m.next_check),
            })
            .collect();
        entries.sort_by(|a, b| a.secret_sync.cmp(&b.secret_sync));
        entries
    }

    /// Forget SecretSyncs that no longer exist.
    pub fn retain(&self, exists: impl Fn(&str) -> bool) {
        lock(&self.memos).retain(|k, m| {
            let keep = exists(k);
            if !keep {
                crate::metrics::move_reason(&self.reasons, m.last_reason, None);
            }
            keep
        });
        lock(&self.failures).retain(|k, _| exists(k));
        lock(&self.forced).retain(|k| exists(k));
    }

    /// Time between two checks of `sync`: its refresh-interval annotation within the administrator's
    /// bounds, else the poll interval. An unparseable annotation counts as absent here; the sync reports it.
    pub fn interval(&self, sync: &SecretSync) -> Duration {
        interval(sync, &self.timing)
    }

    /// Delay until `sync`'s next check when its last one relied on vault metadata read at `observed_at`:
    /// one interval after that read, plus up to `jitter`, and at least [`MIN_DELAY`] (a read older than
    /// an interval is followed by a fresh one soon, not at once).
    pub fn after_observation(&self, sync: &SecretSync, observed_at: SystemTime, now: SystemTime) -> Duration {
        let due = observed_at + self.interval(sync) + jitter(&self.timing);
        due.duration_since(now).unwrap_or(Duration::ZERO).max(MIN_DELAY)
    }

    /// A provider's "metadata read at" time, trusted within one interval of `now`: an unset (0) or skewed
    /// time must neither make the next check immediate over and over nor put it off indefinitely.
    pub fn trusted_observation(
        &self,
        sync: &SecretSync,
        observed_at: SystemTime,
        now: SystemTime,
    ) -> SystemTime {
        let oldest = now.checked_sub(self.interval(sync)).unwrap_or(UNIX_EPOCH);
        observed_at.clamp(oldest, now)
    }

    /// Delay until `sync`'s next scheduled check (see [`phase_delay`]).
    pub fn phase_delay(&self, sync: &SecretSync, now: SystemTime) -> Duration {
        phase_delay(sync, &self.timing, now)
    }
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
fn jitter(timing: &Timing) -> Duration {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn sync(uid: &str) -> SecretSync {
        let mut s = SecretSync::new("s", sse_api::SecretSyncSpec::default());
        s.metadata.namespace = Some("ns".into());
        s.metadata.uid = Some(uid.into());
        s
    }

    #[test]
    fn schedule_spreads_syncs_over_the_interval() {
        let timing = Timing {
            poll_interval: Duration::from_secs(3600),
            ..Timing::default()
        };
        let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let mut buckets = [0u32; 60];
        for i in 0..6000 {
            let d = phase_delay(&sync(&format!("uid-{i}")), &timing, now);
            assert!(d > Duration::ZERO && d <= Duration::from_secs(3600));
            buckets[(d.as_secs() / 60).min(59) as usize] += 1;
        }
        // 6000 syncs over 60 minutes: every minute gets some, none gets a crowd.
        assert!(buckets.iter().all(|b| *b > 50 && *b < 170), "{buckets:?}");
        // Deterministic per SecretSync without jitter.
        assert_eq!(
            phase_delay(&sync("a"), &timing, now),
            phase_delay(&sync("a"), &timing, now)
        );
    }

    #[test]
    fn jitter_adds_at_most_its_bound() {
        let timing = Timing {
            poll_interval: Duration::from_secs(60),
            jitter: Duration::from_secs(30),
            ..Timing::default()
        };
        let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let base = phase_delay(
            &sync("a"),
            &Timing {
                jitter: Duration::ZERO,
                ..timing.clone()
            },
            now,
        );
        for _ in 0..100 {
            let d = phase_delay(&sync("a"), &timing, now);
            assert!(d >= base && d <= base + Duration::from_secs(30));
        }
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let timing = Timing::default();
        for key in ["ns/a", "ns/b", "other/c"] {
            assert!(backoff(key, 1, &timing) <= Duration::from_millis(7500));
            assert!(backoff(key, 3, &timing) >= Duration::from_secs(10));
            assert!(backoff(key, 30, &timing) <= Duration::from_secs(300));
            assert_eq!(
                backoff(key, 2, &timing),
                backoff(key, 2, &timing),
                "shown = applied"
            );
        }
        let spread: HashSet<Duration> = (0..50)
            .map(|i| backoff(&format!("ns/s{i}"), 4, &timing))
            .collect();
        assert!(
            spread.len() > 40,
            "SecretSyncs failing together spread out: {spread:?}"
        );
    }

    #[test]
    fn lateness_is_reported_beyond_a_tenth_of_the_interval_and_30_seconds() {
        let schedule = Schedule::new(Timing::default()); // 1 h interval: a tenth is 6 min
        let s = sync("a");
        let due = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let at = |secs| due + Duration::from_secs(secs);
        assert_eq!(schedule.reportable_lateness(&s, due, at(300)), None);
        assert_eq!(
            schedule.reportable_lateness(&s, due, at(400)),
            Some(Duration::from_secs(400))
        );
        assert_eq!(
            schedule.reportable_lateness(&s, at(10), due),
            None,
            "early is not late"
        );
        let mut short = sync("b");
        short.metadata.annotations = Some(
            [(
                sse_api::consts::REFRESH_INTERVAL_ANNOTATION.to_string(),
                "60s".to_string(),
            )]
            .into(),
        );
        assert_eq!(
            schedule.reportable_lateness(&short, due, at(30)),
            None,
            "30 s at least"
        );
        assert!(schedule.reportable_lateness(&short, due, at(31)).is_some());
    }

    #[test]
    fn a_providers_observation_time_is_trusted_within_one_interval() {
        let schedule = Schedule::new(Timing::default()); // 1 h
        let s = sync("a");
        let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let minute_ago = now - Duration::from_secs(60);
        assert_eq!(schedule.trusted_observation(&s, minute_ago, now), minute_ago);
        assert_eq!(
            schedule.trusted_observation(&s, UNIX_EPOCH, now),
            now - Duration::from_secs(3600),
            "unset: one interval ago"
        );
        assert_eq!(
            schedule.trusted_observation(&s, now + Duration::from_secs(86_400), now),
            now,
            "in the future: now"
        );
    }

    #[test]
    fn time_round_trip() {
        let t = UNIX_EPOCH + Duration::from_secs(1_800_000_123);
        assert_eq!(from_time(&to_time(t)), Some(t));
    }

    #[test]
    fn failures_count_until_reset_and_defer_without_counting() {
        let schedule = Schedule::new(Timing::default());
        let s = sync("a");
        let now = SystemTime::now();
        schedule.checked(
            &s,
            None,
            now,
            Duration::from_secs(60),
            Reason::ProviderError,
            false,
        );
        schedule.failed(&s);
        schedule.failed(&s);
        assert_eq!(schedule.failures(&s), 2);
        assert!(schedule.defer(&s, now) >= Duration::from_secs(5));
        assert_eq!(schedule.failures(&s), 2, "deferring is not a failure");
        schedule.checked(
            &s,
            None,
            now,
            Duration::from_secs(60),
            Reason::CreateSucceeded,
            true,
        );
        assert_eq!(schedule.failures(&s), 0);
    }

    #[test]
    fn secret_syncs_are_counted_by_the_reason_of_their_last_check() {
        let metrics = crate::metrics::Metrics::default();
        let schedule = Schedule::with_reasons(Timing::default(), metrics.reasons());
        let (a, b) = (sync("uid-a"), sync("uid-b"));
        let mut b = b;
        b.metadata.name = Some("b".into());
        let now = SystemTime::now();
        let check =
            |s: &SecretSync, reason| schedule.checked(s, None, now, Duration::from_secs(60), reason, true);
        check(&a, Reason::ProviderError);
        check(&b, Reason::ProviderError);
        let gauge = |reason: &str| {
            let text = metrics.encode();
            let line = format!("secretsync_secretsyncs{{reason=\"{reason}\"}} ");
            text.lines()
                .find_map(|l| l.strip_prefix(&line).map(str::to_string))
                .unwrap_or_else(|| panic!("{line} missing in\n{text}"))
        };
        assert_eq!(gauge("ProviderError"), "2");
        check(&a, Reason::UpdateNoValueChangeSucceeded);
        check(&a, Reason::UpdateNoValueChangeSucceeded);
        assert_eq!(gauge("ProviderError"), "1");
        assert_eq!(gauge("UpdateNoValueChangeSucceeded"), "1");
        schedule.retain(|k| k != "ns/b");
        assert_eq!(
            gauge("ProviderError"),
            "0",
            "a deleted SecretSync is no longer counted"
        );
        assert_eq!(gauge("UpdateNoValueChangeSucceeded"), "1");
    }
}

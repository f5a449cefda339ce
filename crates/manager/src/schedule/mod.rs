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
use sse_api::{Reason, SecretSync, conditions};

use crate::clock::from_time;

mod report;
#[cfg(test)]
mod tests;
mod timing;

pub use self::report::ScheduleEntry;
pub use self::timing::{MIN_DELAY, Timing, backoff, interval, phase_delay, tag_config};
use self::timing::{digest, jitter};

/// How much later than its check plus a sync's length a SecretSync may be before it counts as overdue.
const OVERDUE_SLACK: Duration = Duration::from_secs(30);

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

    /// Treat the SecretSync's scheduled check as reached at `now` (what the scheduler's tick does).
    pub fn expire(&self, key: &str, now: SystemTime) {
        if let Some(memo) = lock(&self.memos).get_mut(key) {
            memo.next_check = now;
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

    /// `sync` failed at `now` in a way that retrying soon can help: count it and return the backoff before
    /// the next attempt, recorded as its next check.
    pub fn failed(&self, sync: &SecretSync, now: SystemTime) -> Duration {
        let key = key(sync);
        let delay = {
            let mut failures = lock(&self.failures);
            let n = failures.entry(key.clone()).or_insert(0);
            *n = n.saturating_add(1);
            backoff(&key, *n, &self.timing)
        };
        if let Some(memo) = lock(&self.memos).get_mut(&key) {
            memo.next_check = now + delay;
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
    pub fn retry_now(&self, reasons: &[Reason], now: SystemTime) -> HashSet<String> {
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

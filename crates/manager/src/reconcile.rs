//! The reconciler, read top to bottom: admit (is a check due, [`crate::schedule`]; a work slot), run the
//! sync ([`crate::sync`]), record the outcome (status by [`crate::status`], schedule, metrics), publish it
//! (status write, Events, reload), say when to come back. Retries are decided in one place,
//! [`retry_after`], from the class of the error [`reconcile`] returns (as kube-rs `controller-rs` does).

use std::time::{Duration, SystemTime};

use kube::ResourceExt;
use sse_api::SecretSync;

use crate::clock::to_time;
use crate::cluster::ClusterError;
use crate::error::{Class, SyncError};
use crate::outcome::{Outcome, Written};
use crate::provider::Changed;
use crate::schedule::ClassVersion;
use crate::status;
use crate::vault_events::{Hint, Verdict};

pub use crate::context::{Config, Context};
pub use crate::schedule::key;

/// What one reconcile did.
#[derive(Debug)]
pub struct Report {
    /// The outcome recorded in status; `None` when nothing was due (the provider was not called).
    pub outcome: Option<Outcome>,
    /// Whether the status was written.
    pub status_written: bool,
    /// When to look again.
    pub requeue_after: Duration,
}

impl Report {
    /// Whether a sync ran (the provider was called).
    pub fn synced(&self) -> bool {
        self.outcome.is_some()
    }
}

/// A reconcile that did not succeed; [`retry_after`] decides when to try again.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The sync failed; its reason is in the status (when the status write succeeded).
    #[error("sync failed: {source}")]
    Sync {
        /// Why.
        source: SyncError,
        /// Whether the failure was recorded in status.
        status_written: bool,
    },
    /// The sync ran but its status could not be written.
    #[error("failed to update status: {source}")]
    Status {
        /// The API server's answer.
        source: ClusterError,
        /// What the sync achieved.
        outcome: Outcome,
    },
}

impl Error {
    /// Whether retrying soon can help.
    pub fn class(&self) -> Class {
        match self {
            Self::Sync { source, .. } => source.class(),
            Self::Status { .. } => Class::Transient,
        }
    }

    /// The report of the failed reconcile, with `requeue_after` as [`retry_after`] decided.
    pub fn report(&self, requeue_after: Duration) -> Report {
        match self {
            Self::Sync {
                source,
                status_written,
            } => Report {
                outcome: Some(source.outcome()),
                status_written: *status_written,
                requeue_after,
            },
            Self::Status { outcome, .. } => Report {
                outcome: Some(outcome.clone()),
                status_written: false,
                requeue_after,
            },
        }
    }
}

/// The error policy: when to try `sync` again after `error`. A transient failure backs off exponentially
/// (per SecretSync, reset by the next success); a permanent one waits for the next scheduled check — a
/// spec or SecretProviderClass change triggers a reconcile sooner anyway.
pub fn retry_after(sync: &SecretSync, error: &Error, ctx: &Context) -> Duration {
    let now = SystemTime::now();
    let delay = match error.class() {
        Class::Transient => ctx.schedule.failed(sync, now),
        // The check `reconcile` already recorded (and showed in status), not a fresh draw of the jitter.
        Class::Permanent => ctx.schedule.next_check_in(sync, now),
    };
    tracing::warn!(%error, retry_in = ?delay, "reconcile failed");
    delay
}

/// Reconcile one SecretSync, in four stages, each visited once and in order: [`admit`] (is a check due,
/// and may it take a work slot now?), [`run`] (the sync, under `--reconcile-timeout`), [`record`] (status,
/// schedule and metrics, decided once, no I/O), [`publish`] (the status write, Events, reload); then say
/// when to come back.
#[tracing::instrument(skip_all, fields(secretsync = %key(sync)))]
pub async fn reconcile(sync: &SecretSync, ctx: &Context) -> Result<Report, Error> {
    let now = SystemTime::now();
    let class_version = class_version(sync, ctx).await;
    let admitted = match admit(sync, ctx, &class_version, now).await {
        Ok(admitted) => admitted,
        Err(requeue_after) => {
            return Ok(Report {
                outcome: None,
                status_written: false,
                requeue_after,
            });
        }
    };
    let ran = run(sync, ctx, admitted.hint.as_ref().map(|h| &h.changed)).await;
    let recorded = record(sync, ctx, &admitted, &ran, class_version, now);
    let written = publish(sync, ctx, &ran, &recorded).await;
    let Admitted { hint, .. } = admitted;
    let status_written = matches!(written, Some(Ok(())));
    if let Some(hint) = hint {
        // The event that asked for this check is settled by how it ended (crate::vault_events).
        let retry = ran
            .failure
            .as_ref()
            .is_some_and(|e| e.class() == Class::Transient)
            || matches!(written, Some(Err(_)));
        hint.finish(if retry { Verdict::Retry } else { Verdict::Checked });
    }
    if let Some(source) = ran.failure {
        return Err(Error::Sync {
            source,
            status_written,
        });
    }
    if let Some(Err(source)) = written {
        return Err(Error::Status {
            source,
            outcome: ran.outcome,
        });
    }
    // A quiet check (nothing changed, nothing written) is routine: DEBUG, so a large fleet's logs show
    // what changed rather than one line per SecretSync per interval.
    let (reason, next_check_in) = (recorded.reason, recorded.regular);
    if status_written || !matches!(ran.outcome, Outcome::Synced { .. }) {
        tracing::info!(reason = %reason, status_written, ?next_check_in, "reconciled");
    } else {
        tracing::debug!(reason = %reason, ?next_check_in, "checked: no change");
    }
    Ok(Report {
        outcome: Some(ran.outcome),
        status_written,
        requeue_after: recorded.regular,
    })
}

/// A check that may run: the work slots it holds until it is done, and what it answers.
struct Admitted<'a> {
    /// The force-sync request this check answers, when valid and not yet in the status.
    force_sync: Option<String>,
    /// When this check was scheduled, if it is a scheduled one (not one a change triggered early).
    due: Option<SystemTime>,
    /// The vault's news this check answers, when an event asked for it.
    hint: Option<Hint>,
    _retry_slot: Option<tokio::sync::SemaphorePermit<'a>>,
    _slot: crate::slots::Slot<'a>,
}

/// Stage 1: `Err(delay)` when nothing is due yet, or the check must wait for a slot; otherwise the check
/// is admitted and holds its slots.
async fn admit<'a>(
    sync: &SecretSync,
    ctx: &'a Context,
    class_version: &ClassVersion,
    now: SystemTime,
) -> Result<Admitted<'a>, Duration> {
    if let Some(until) = ctx.schedule.not_due(sync, class_version, now) {
        // A fresh process counts the validity its statuses show until their first check here.
        if let Some(status) = sync.status.as_ref().filter(|s| !s.validity.is_empty()) {
            ctx.metrics.expiry_if_unknown(&key(sync), || {
                crate::expiry::assess(
                    &crate::expiry::recorded(&status.validity),
                    now,
                    ctx.config.expiry_window,
                )
            });
        }
        ctx.metrics.reconcile(false, Duration::ZERO);
        return Err(until);
    }
    // A SecretSync in failure takes a retry slot or waits for its next backoff step, so failures against
    // one vault take at most half the slots; everyone then queues for a slot in arrival order.
    let retry_slot = if ctx.schedule.failures(sync) > 0 {
        let Ok(permit) = ctx.retry_slots.try_acquire() else {
            let delay = ctx.schedule.defer(sync, now);
            tracing::debug!(retry_in = ?delay, "deferred: the retry share of the workers is busy");
            return Err(delay);
        };
        Some(permit)
    } else {
        None
    };
    let force_sync = force_sync_request(sync, ctx).await;
    let due = ctx.schedule.due_at(sync).filter(|due| *due <= now);
    // A slot in the namespace's turn; a namespace already holding its share of waiters checks later.
    let Some(slot) = ctx.slots.acquire(&sync.namespace().unwrap_or_default()).await else {
        let delay = ctx.schedule.defer(sync, now);
        tracing::debug!(retry_in = ?delay, "deferred: this namespace's share of waiting reconciles is full");
        return Err(delay);
    };
    ctx.schedule.starting(sync);
    Ok(Admitted {
        force_sync,
        due,
        hint: ctx.hints.take(&key(sync)),
        _retry_slot: retry_slot,
        _slot: slot,
    })
}

/// The force-sync request this check answers, when valid and not yet in the status: the status will say
/// so once it is done (also when this process already handled it but could not write the status). An
/// invalid value still gets its check, with a warning Event, and is never copied into the status.
async fn force_sync_request(sync: &SecretSync, ctx: &Context) -> Option<String> {
    let requested = sync
        .metadata
        .annotations
        .as_ref()
        .map(sse_api::validation::force_sync)
        .unwrap_or(Ok(None));
    if let Some(token) = ctx.schedule.force_sync_pending(sync) {
        match &requested {
            Err(error) => {
                let message = format!("{error}; checking the vault now anyway");
                ctx.cluster.event(sync, true, "InvalidForceSync", &message).await;
            }
            Ok(_) => tracing::info!(force_sync = %token, "force-sync requested: checking the vault now"),
        }
    }
    let recorded = sync.status.as_ref().and_then(|s| s.force_sync_handled.as_deref());
    match requested {
        Ok(Some(token)) if recorded != Some(token) => Some(token.to_string()),
        _ => None,
    }
}

/// What the sync did.
struct Ran {
    outcome: Outcome,
    /// Why it failed, when it did.
    failure: Option<SyncError>,
    /// When the provider read the metadata the check relied on (change detection).
    observed_at: Option<SystemTime>,
    validity: Option<Vec<crate::expiry::Dates>>,
    /// Warning Events about what was written.
    warnings: Vec<(&'static str, String)>,
    started: std::time::Instant,
}

/// Stage 2: the sync (told what an event said changed, if one asked for it), abandoned after
/// `--reconcile-timeout`.
async fn run(sync: &SecretSync, ctx: &Context, changed: Option<&Changed>) -> Ran {
    let started = std::time::Instant::now();
    let limit = ctx.config.reconcile_timeout;
    let result = tokio::time::timeout(limit, crate::sync::sync_with_news(sync, ctx, changed))
        .await
        .unwrap_or(Err(SyncError::TimedOut(limit)));
    match result {
        Ok(done) => Ran {
            outcome: done.outcome,
            failure: None,
            observed_at: done.observed_at,
            validity: done.validity,
            warnings: done.warnings,
            started,
        },
        Err(error) => Ran {
            outcome: error.outcome(),
            failure: Some(error),
            observed_at: None,
            validity: None,
            warnings: Vec::new(),
            started,
        },
    }
}

/// What the check's record says.
struct Recorded {
    /// The status it computed.
    next: status::Next,
    /// Why it ended (metrics, the schedule).
    reason: sse_api::Reason,
    /// Delay to the next regular check.
    regular: Duration,
    /// Whether the status is old enough to be written although nothing changed.
    heartbeat: bool,
}

/// Stage 3: the status, the schedule and the metrics, decided once (no I/O).
fn record(
    sync: &SecretSync,
    ctx: &Context,
    admitted: &Admitted<'_>,
    ran: &Ran,
    class_version: ClassVersion,
    now: SystemTime,
) -> Recorded {
    let transient = ran
        .failure
        .as_ref()
        .is_some_and(|e| e.class() == Class::Transient);
    // What the status shows as the next check is what `retry_after` will choose. A check that relied on
    // vault metadata read at `observed_at` is next due one interval after that read, so a change is seen
    // within one interval however the metadata was shared.
    let regular = match ran.observed_at {
        Some(at) => ctx.schedule.after_observation(sync, at, now),
        None => ctx.schedule.phase_delay(sync, now),
    };
    let next_check = now
        + if transient {
            ctx.schedule.next_backoff(sync)
        } else {
            regular
        };
    let done = SystemTime::now();
    let late_by = admitted.due.and_then(|due| {
        ctx.metrics
            .check_lateness(done.duration_since(due).unwrap_or_default());
        ctx.schedule.reportable_lateness(sync, due, done)
    });
    if let Some(late) = late_by {
        tracing::warn!(late_by = ?late, "check completed late: the vault's request budget or the workers cannot keep up");
    }
    let current = sync.status.clone().unwrap_or_default();
    let next = status::next(
        &current,
        sync.metadata.generation,
        &ran.outcome,
        &status::Check {
            now: to_time(now),
            next: to_time(next_check),
            interval: sse_api::validation::format_duration(ctx.schedule.interval(sync)),
            late_by: late_by.map(sse_api::validation::format_duration),
            force_sync: admitted.force_sync.clone(),
            validity: ran.validity.clone(),
            expiry_window: ctx.config.expiry_window,
        },
    );
    ctx.metrics.expiry(&key(sync), &next.status.validity);
    // A quiet check writes nothing, unless the status is old enough that its check times mislead.
    let heartbeat = ctx.config.status_heartbeat.is_some_and(|every| {
        current
            .last_checked_time
            .as_ref()
            .and_then(crate::clock::from_time)
            .is_none_or(|last| now.duration_since(last).unwrap_or_default() >= every)
    });
    let reason = next.reason(&ran.outcome);
    ctx.schedule
        .checked(sync, class_version, now, regular, reason, !transient);
    let took = ran.started.elapsed();
    ctx.metrics.sync(reason, took);
    ctx.metrics
        .reconcile(!matches!(ran.outcome, Outcome::Synced { .. }), took);
    Recorded {
        next,
        reason,
        regular,
        heartbeat,
    }
}

/// Stage 4: what others see: reload of the Secret's users, the status write (when it changed or is due a
/// heartbeat), the Events. Answers the status write's result, `None` when nothing was written.
async fn publish(
    sync: &SecretSync,
    ctx: &Context,
    ran: &Ran,
    recorded: &Recorded,
) -> Option<Result<(), ClusterError>> {
    let written = match &ran.outcome {
        Outcome::Synced { written, .. } | Outcome::Partial { written, .. } => Some(*written),
        Outcome::Failed { .. } => None,
    };
    // A new value in the Secret, as the API server compared it (not a first create, not a metadata-only
    // write): reload its users, off the work slot and the reconcile (queued per namespace).
    if let (Some(reloads), Some(Written::Updated)) = (&ctx.reloads, written) {
        reloads.secret_changed(sync);
    }
    let next = &recorded.next;
    let status_write = if next.changed || recorded.heartbeat {
        Some(ctx.cluster.write_status(sync, &next.status).await)
    } else {
        None
    };
    if let Some(notice) = &next.notice {
        ctx.cluster
            .event(sync, notice.warning, notice.reason.as_str(), &notice.message)
            .await;
    }
    if written.is_some_and(|w| w != Written::Unchanged) {
        for (reason, message) in &ran.warnings {
            ctx.cluster.event(sync, true, reason, message).await;
        }
    }
    // Only once the status that remembers them is written: otherwise the next check fires them again.
    if matches!(status_write, Some(Ok(()))) {
        let sync_key = key(sync);
        for event in ctx.announced.unannounced(&sync_key, next.expiry_events.clone()) {
            ctx.cluster.event(sync, true, event.reason, &event.message).await;
        }
        ctx.announced.announced(&sync_key, &next.status.validity);
    }
    status_write
}

/// The SecretProviderClass `sync` names, as the schedule compares it: (uid, generation).
pub(crate) async fn class_version(sync: &SecretSync, ctx: &Context) -> ClassVersion {
    let namespace = sync.namespace().unwrap_or_default();
    ctx.cluster
        .secret_provider_class(&namespace, &sync.spec.secret_provider_class_name)
        .await
        .ok()
        .flatten()
        .map(|spc| {
            (
                spc.uid().unwrap_or_default(),
                spc.metadata.generation.unwrap_or_default(),
            )
        })
}

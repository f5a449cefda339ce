//! One reconcile of one ClusterSecretSync, top to bottom:
//!
//! ```text
//! deleted? ─▶ keep::finish ─ done
//! finalizer per deletionPolicy ─▶ select ─▶ leave (namespaces no longer selected; the sweep on a new term)
//!   ─▶ due? (schedule, joiners, young transient failures) ─▶ fetch once ─▶ spread ─▶ status, Events
//! ```
//!
//! The fetch is [`crate::sync::sync_into`] on the resource seen as a SecretSync ([`super::source`]), writing to
//! [`Spread`]: one Mount per check however many namespaces receive it, and none when the vault's fingerprint
//! did not move and every Secret is as it was left.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use kube::ResourceExt;
use sse_api::ClusterSecretSync;

use super::select::{Verdict, verdict};
use super::spread::{Spread, leave};
use super::state::lock;
use super::{Fanout, keep, source, status};
use crate::cluster::ClusterError;
use crate::error::{Class, SyncError};
use crate::outcome::{Outcome, Written};

/// How soon a namespace whose write failed transiently is tried again, while the failure is young:
/// admission's informers may see a namespace (or its new labels) a moment after our watch does.
pub const RETRY_SOON: Duration = Duration::from_secs(15);
/// How long a transient failure counts as young.
const YOUNG: Duration = Duration::from_secs(60);
/// Most Warning Events one reconcile publishes (the status counts the rest).
const MAX_EVENTS: usize = 50;

/// What one reconcile did.
#[derive(Debug, Default)]
pub struct Reconciled {
    /// Whether the vault was read (a Mount, or change detection that found nothing new).
    pub fetched: bool,
    /// Secrets deleted from namespaces that left.
    pub left: usize,
    /// Whether the status was written.
    pub status_written: bool,
    /// When to look again.
    pub requeue_after: Duration,
}

/// A reconcile that could not finish.
#[derive(Debug, thiserror::Error)]
pub enum FanoutError {
    /// The finalizer or the release of `Keep` failed.
    #[error("deletionPolicy Keep: {0}")]
    Keep(#[source] ClusterError),
    /// The status could not be written.
    #[error("failed to update status: {0}")]
    Status(#[source] ClusterError),
}

/// Reconcile one ClusterSecretSync.
#[tracing::instrument(skip_all, fields(clustersecretsync = %css.name_any()))]
pub async fn reconcile(css: &ClusterSecretSync, fan: &Fanout) -> Result<Reconciled, FanoutError> {
    let ctx = &fan.ctx;
    let uid = css.uid().unwrap_or_default();
    let namespaces = fan.namespaces.namespaces();
    if let Some(store) = fan.resources.get() {
        let live: std::collections::HashSet<String> = store.state().iter().filter_map(|c| c.uid()).collect();
        for gone in fan.records.retain(&live) {
            ctx.metrics.fanout().counts(&gone, None);
        }
    }
    if css.metadata.deletion_timestamp.is_some() {
        let all: Vec<Arc<str>> = namespaces.iter().map(|n| n.name.clone()).collect();
        let released = keep::finish(ctx, css, all, fan.concurrency)
            .await
            .map_err(FanoutError::Keep)?;
        if released > 0 {
            tracing::info!(released, "deletionPolicy Keep: Secrets released");
        }
        fan.records.remove(&uid);
        ctx.metrics.fanout().counts(&uid, None);
        return Ok(Reconciled {
            requeue_after: super::RESYNC,
            ..Reconciled::default()
        });
    }
    if keep::ensure(ctx, css).await.map_err(FanoutError::Keep)? {
        // The patch comes back through the watch, and the next reconcile writes.
        return Ok(Reconciled {
            requeue_after: RETRY_SOON,
            ..Reconciled::default()
        });
    }

    let now = SystemTime::now();
    let record = fan.records.of(&uid);
    let mut selected: Vec<Arc<str>> = Vec::new();
    let mut unselected: Vec<Arc<str>> = Vec::new();
    for ns in &namespaces {
        match verdict(&css.spec.namespaces, ns, &fan.install_namespace) {
            Verdict::Selected => selected.push(ns.name.clone()),
            Verdict::Terminating => {}
            _ => unselected.push(ns.name.clone()),
        }
    }
    // Leave: every namespace the record holds that is no longer selected (a deleted namespace took its
    // Secret with it); on a new term, every unselected namespace once (the sweep).
    let leaving: Vec<Arc<str>> = {
        let mut tracked = lock(&record);
        let live: BTreeSet<&str> = namespaces.iter().map(|n| &*n.name).collect();
        tracked.written.retain(|ns, _| live.contains(&**ns));
        tracked.failing.retain(|ns, _| live.contains(&**ns));
        let chosen: BTreeSet<&str> = selected.iter().map(|n| &**n).collect();
        let mut leaving: BTreeSet<Arc<str>> = tracked
            .written
            .keys()
            .chain(tracked.failing.keys())
            .filter(|ns| !chosen.contains(&***ns))
            .cloned()
            .collect();
        if !tracked.swept {
            leaving.extend(unselected.iter().cloned());
        }
        leaving.into_iter().collect()
    };
    let (left, leave_again) = leave(ctx, css, leaving, &record, fan.concurrency).await;
    lock(&record).swept = true;

    let source = source::as_sync(css, &fan.install_namespace);
    let spread = Spread {
        css,
        selected: &selected,
        tracked: &record,
        concurrency: fan.concurrency,
    };
    let class_version = crate::reconcile::class_version(&source, ctx).await;
    let (joining, retry_soon) = {
        let tracked = lock(&record);
        let joining = selected
            .iter()
            .any(|ns| !tracked.written.contains_key(ns) && !tracked.failing.contains_key(ns));
        (joining, retry_young(&tracked, &selected, now))
    };
    let not_due = ctx.schedule.not_due(&source, &class_version, now);
    let current = css.status.clone().unwrap_or_default();
    if let (Some(wait), false, false) = (not_due, joining, retry_soon) {
        // Nothing to fetch: only the counts may have moved (a namespace left).
        let check = status::Check {
            generation: css.metadata.generation,
            selected: &selected,
            fetch: None,
            now,
            next: now + wait,
            force_sync: None,
        };
        let (_, status_written) = record_status(fan, css, &current, &record, &check, false).await?;
        return Ok(Reconciled {
            left,
            status_written,
            requeue_after: if leave_again { wait.min(RETRY_SOON) } else { wait },
            ..Reconciled::default()
        });
    }

    // A valid force-sync request not yet in the status is answered by this check, whatever it finds.
    let force_sync = css
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| sse_api::validation::force_sync(a).ok().flatten())
        .filter(|token| current.force_sync_handled.as_deref() != Some(*token))
        .map(str::to_string);
    ctx.schedule.starting(&source);
    let limit = ctx.config.reconcile_timeout;
    let fetched = tokio::time::timeout(limit, crate::sync::sync_into(&source, ctx, None, &spread))
        .await
        .unwrap_or(Err(SyncError::TimedOut(limit)));
    let (fetch, delay, written) = match &fetched {
        Ok(done) => {
            let (hash, written) = match &done.outcome {
                Outcome::Synced { written, hash } => (hash.clone(), *written),
                Outcome::Partial { written, .. } => (String::new(), *written),
                Outcome::Failed { .. } => (String::new(), Written::Unchanged),
            };
            let delay = match done.observed_at {
                Some(at) => ctx.schedule.after_observation(&source, at, now),
                None => ctx.schedule.phase_delay(&source, now),
            };
            let new_value = matches!(written, Written::Updated | Written::Created);
            ctx.schedule.checked(
                &source,
                class_version,
                now,
                delay,
                sse_api::Reason::CreateSucceeded,
                true,
            );
            (Some(Ok((hash, new_value))), delay, written)
        }
        Err(error) => {
            let delay = match error.class() {
                Class::Transient => ctx.schedule.failed(&source, now),
                Class::Permanent => {
                    let delay = ctx.schedule.phase_delay(&source, now);
                    ctx.schedule
                        .checked(&source, class_version, now, delay, error.reason(), true);
                    delay
                }
            };
            tracing::warn!(%error, retry_in = ?delay, "fetch failed: every namespace keeps its last value");
            (Some(Err(error)), delay, Written::Unchanged)
        }
    };
    let check = status::Check {
        generation: css.metadata.generation,
        selected: &selected,
        fetch,
        now,
        next: now + delay,
        force_sync,
    };
    let heartbeat = status::heartbeat_due(&current, ctx.config.status_heartbeat, now);
    let (next, status_written) = record_status(fan, css, &current, &record, &check, heartbeat).await?;
    publish(css, fan, &record, &current, &next, written).await;
    let counts = next.namespaces;
    if written != Written::Unchanged || status_written || fetched.is_err() {
        tracing::info!(
            ?written,
            selected = counts.selected,
            synced = counts.synced,
            failed = counts.failed,
            left,
            "reconciled"
        );
    } else {
        tracing::debug!(selected = counts.selected, "checked: no change");
    }
    let retry = retry_young(&lock(&record), &selected, now);
    Ok(Reconciled {
        fetched: fetched.is_ok(),
        left,
        status_written,
        requeue_after: if retry || leave_again {
            delay.min(RETRY_SOON)
        } else {
            delay
        },
    })
}

/// Whether a selected namespace failed transiently less than [`YOUNG`] ago: it is tried again within
/// [`RETRY_SOON`]. (One no longer selected is the leave's to retry.)
fn retry_young(tracked: &super::state::Tracked, selected: &[Arc<str>], now: SystemTime) -> bool {
    tracked.failing.iter().any(|(ns, f)| {
        f.transient && selected.contains(ns) && now.duration_since(f.since).unwrap_or_default() < YOUNG
    })
}

/// The status after `check`, counted in the metrics and written when it changed (or `heartbeat`); answers it
/// and whether it was written.
async fn record_status(
    fan: &Fanout,
    css: &ClusterSecretSync,
    current: &sse_api::ClusterSecretSyncStatus,
    record: &std::sync::Mutex<super::state::Tracked>,
    check: &status::Check<'_>,
    heartbeat: bool,
) -> Result<(sse_api::ClusterSecretSyncStatus, bool), FanoutError> {
    let next = status::next(current, &lock(record), check);
    fan.ctx
        .metrics
        .fanout()
        .counts(&css.uid().unwrap_or_default(), Some(next.namespaces));
    if !(heartbeat || status::changed(current, &next)) {
        return Ok((next, false));
    }
    fan.ctx
        .cluster
        .write_cluster_status(css, &next)
        .await
        .map_err(FanoutError::Status)?;
    Ok((next, true))
}

/// Events: a Warning per namespace that entered failure (or changed reason), a Warning when the fetch starts
/// failing, a Normal one when a new value reached the namespaces.
async fn publish(
    css: &ClusterSecretSync,
    fan: &Fanout,
    record: &std::sync::Mutex<super::state::Tracked>,
    current: &sse_api::ClusterSecretSyncStatus,
    next: &sse_api::ClusterSecretSyncStatus,
    written: Written,
) {
    let cluster = &fan.ctx.cluster;
    let fresh: Vec<String> = {
        let mut tracked = lock(record);
        tracked
            .failing
            .values_mut()
            .filter(|f| !f.evented)
            .take(MAX_EVENTS)
            .map(|f| {
                f.evented = true;
                f.message.clone()
            })
            .collect()
    };
    for message in fresh {
        cluster
            .cluster_event(css, true, "NamespaceFailed", &message)
            .await;
    }
    let was = status::fetched(current).map(|c| c.status == "False");
    if let Some(now_failing) = status::fetched(next).filter(|c| c.status == "False")
        && was != Some(true)
    {
        cluster
            .cluster_event(css, true, &now_failing.reason, &now_failing.message)
            .await;
    }
    if written == Written::Updated {
        let message = format!(
            "a new value reached {} of {} namespaces",
            next.namespaces.synced, next.namespaces.selected
        );
        cluster.cluster_event(css, false, "ValueChanged", &message).await;
    }
}

//! The values of one fetch, spread to every selected namespace ([`Spread`], the fan-out's
//! [`Destination`]), and the Secrets of namespaces that left, removed ([`leave`]). Every namespace is a
//! request of its own, bounded like every request, run `concurrency` at a time; one namespace failing never
//! fails the others or the fetch.

use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use futures::StreamExt as _;
use sse_api::ClusterSecretSync;

use super::state::{Failure, Tracked, lock};
use crate::context::Context;
use crate::error::{Class, SyncError};
use crate::mapping::SecretData;
use crate::outcome::Written;
use crate::secret::{self, Check, Target};
use crate::sync::Destination;

/// The reason a namespace fails when a Secret of the same name is not this resource's.
pub const FOREIGN: &str = "ForeignSecret";

/// The selected namespaces of one resource, as a [`Destination`] of its fetch.
pub struct Spread<'a> {
    /// The resource.
    pub css: &'a ClusterSecretSync,
    /// Where its Secret goes.
    pub selected: &'a [Arc<str>],
    /// Its record, updated namespace by namespace.
    pub tracked: &'a Mutex<Tracked>,
    /// Requests at once.
    pub concurrency: usize,
}

#[async_trait::async_trait]
impl Destination for Spread<'_> {
    /// Intact when every selected namespace holds the Secret this process wrote or last saw there, untouched
    /// since (one test-only patch each: nothing is written).
    async fn intact(&self, ctx: &Context, _: &str) -> Result<bool, SyncError> {
        // A selected namespace the record does not show holding the current values (new, or failing) needs
        // them: not intact.
        let held: Option<Vec<(Arc<str>, String)>> = {
            let tracked = lock(self.tracked);
            self.selected
                .iter()
                .map(|ns| Some((ns.clone(), tracked.written.get(ns)?.clone())))
                .collect()
        };
        let Some(held) = held else {
            return Ok(false);
        };
        let checks = futures::stream::iter(held.into_iter().map(|(ns, version)| async move {
            let target = Target::fanout(self.css, &ns);
            let intact = secret::unchanged_since(&*ctx.cluster, &target, &version).await;
            (ns, intact)
        }))
        .buffer_unordered(self.concurrency.max(1))
        .collect::<Vec<_>>()
        .await;
        let mut all = true;
        let mut tracked = lock(self.tracked);
        for (ns, intact) in checks {
            if !matches!(intact, Ok(true)) {
                // Edited, deleted or unreadable: the write that follows brings it back.
                tracked.written.remove(&ns);
                all = false;
            }
        }
        Ok(all)
    }

    async fn write(
        &self,
        ctx: &Context,
        data: &SecretData,
        tagged: Option<&crate::tags::Tagged>,
        expect_change: bool,
    ) -> Result<(Written, String), SyncError> {
        let writes = futures::stream::iter(self.selected.iter().cloned().map(|ns| async move {
            let target = Target::fanout(self.css, &ns);
            let desired = secret::desired_for(&target, &self.css.spec.secret_object, data, tagged);
            let result = secret::write(&*ctx.cluster, &target, &desired, expect_change).await;
            (ns, result)
        }))
        .buffer_unordered(self.concurrency.max(1))
        .collect::<Vec<_>>()
        .await;
        let mut tracked = lock(self.tracked);
        let mut all = Written::Unchanged;
        for (ns, result) in writes {
            ctx.metrics
                .fanout()
                .written(result.as_ref().map(|(w, _)| *w).map_err(drop));
            match result {
                Ok((written, version)) => {
                    tracked.succeeded(&ns, version);
                    all = strongest(all, written);
                }
                Err(error) => tracked.failed(&ns, failure(&ns, &error)),
            }
        }
        Ok((all, String::new()))
    }

    async fn write_partial(
        &self,
        _: &Context,
        _: &SecretData,
        _: Option<&crate::tags::Tagged>,
    ) -> Result<Written, SyncError> {
        // The fan-out's context has partial sync off: one object failing fails the fetch, and every
        // namespace keeps its last good value.
        Err(SyncError::Internal(
            "partial sync does not apply to a ClusterSecretSync".into(),
        ))
    }
}

/// What the write did across namespaces: a new value anywhere is what reloads and the status report.
fn strongest(a: Written, b: Written) -> Written {
    let rank = |w: Written| match w {
        Written::Unchanged => 0,
        Written::MetadataOnly => 1,
        Written::Created => 2,
        Written::Adopted => 3,
        Written::Updated => 4,
    };
    if rank(b) > rank(a) { b } else { a }
}

/// A failed write to `namespace`, as the status and the Event show it.
fn failure(namespace: &str, error: &SyncError) -> Failure {
    let (reason, message) = match error {
        SyncError::ForeignSecret { name, .. } => (
            FOREIGN.to_string(),
            format!("a Secret {name} exists there and is not this ClusterSecretSync's: left untouched"),
        ),
        other => (other.reason().as_str().to_string(), other.to_string()),
    };
    Failure {
        reason,
        message: crate::cluster::truncate(&format!("namespace {namespace}: {message}"), 512),
        since: SystemTime::now(),
        evented: false,
        transient: error.class() == Class::Transient && !matches!(error, SyncError::ForeignSecret { .. })
            || error.reason() == sse_api::Reason::ValidatingAdmissionPolicyCheckFailed,
    }
}

/// Remove this resource's Secret from each of `namespaces` (they left the selection, or a sweep looks for
/// leftovers): only a Secret that passes the ownership tests, deleted at the very resourceVersion that
/// passed them, so a Secret someone replaced in between is never touched. Answers how many were deleted, and
/// whether some must be tried again (they stay in the record).
pub async fn leave(
    ctx: &Context,
    css: &ClusterSecretSync,
    namespaces: Vec<Arc<str>>,
    tracked: &Mutex<Tracked>,
    concurrency: usize,
) -> (usize, bool) {
    let results = futures::stream::iter(namespaces.into_iter().map(|ns| async move {
        let target = Target::fanout(css, &ns);
        let outcome = match secret::owned(&*ctx.cluster, &target).await {
            Ok(Check::Holds(version)) => match ctx.cluster.delete_secret(&ns, &target.name, &version).await {
                Ok(()) => Left::Deleted,
                Err(e) if e.is_not_found() => Left::Gone,
                Err(e) => Left::Retry(e.to_string()),
            },
            Ok(Check::Absent | Check::Fails) => Left::Gone,
            Err(e) => Left::Retry(e.to_string()),
        };
        (ns, outcome)
    }))
    .buffer_unordered(concurrency.max(1))
    .collect::<Vec<_>>()
    .await;
    let mut tracked = lock(tracked);
    let (mut deleted, mut again) = (0, false);
    for (ns, outcome) in results {
        match outcome {
            Left::Deleted => {
                deleted += 1;
                tracked.forget(&ns);
            }
            Left::Gone => tracked.forget(&ns),
            // Kept in the record: the next reconcile tries again (a conflict, admission's informers behind
            // the namespace watch, the API server away).
            Left::Retry(error) => {
                again = true;
                tracked.written.entry(ns.clone()).or_default();
                tracing::warn!(namespace = %ns, %error, "could not remove the Secret from a namespace that left the selection");
            }
        }
    }
    ctx.metrics.fanout().removed(deleted);
    (deleted, again)
}

/// What leaving one namespace did.
enum Left {
    Deleted,
    /// Absent, or not ours (never touched).
    Gone,
    Retry(String),
}

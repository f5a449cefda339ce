//! Triggers besides the watches: drift of an owned Secret, a provider back, the sweep of overdue checks.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;
use kube::core::PartialObjectMeta;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, ResourceExt};
use sse_api::{SecretSync, consts};
use tokio_util::sync::CancellationToken;

use super::Triggers;
use super::caches::trigger;
use crate::context::Context;
use crate::reconcile::key;

/// Metadata-only watch of the Secrets we label (Secret values never enter the manager). Only changes after
/// the initial list count as drift; the initial list (and re-lists) would otherwise force a sync of every
/// SecretSync.
pub(super) fn watch_owned_secrets(
    client: &Client,
    ctx: &Arc<Context>,
    triggers: &Triggers,
    shutdown: &CancellationToken,
) {
    let secrets = watcher(
        Api::<PartialObjectMeta<Secret>>::all(client.clone()),
        watcher::Config::default().labels(consts::CONTROLLER_LABEL_KEY),
    )
    .default_backoff();
    let (ctx, triggers, shutdown) = (ctx.clone(), triggers.clone(), shutdown.clone());
    tokio::spawn(async move {
        let mut secrets = std::pin::pin!(secrets);
        loop {
            let event = tokio::select! {
                () = shutdown.cancelled() => return,
                event = secrets.next() => event,
            };
            let meta = match event {
                None => return,
                Some(Ok(watcher::Event::Apply(meta) | watcher::Event::Delete(meta))) => meta,
                Some(Ok(_)) => continue,
                Some(Err(error)) => {
                    tracing::warn!(%error, "owned Secret watch failed; retrying");
                    continue;
                }
            };
            let namespace = meta.namespace().unwrap_or_default();
            let owner = meta.owner_references().iter().find(|o| {
                o.kind == consts::SECRET_SYNC_KIND && o.api_version == consts::SECRET_SYNC_API_VERSION
            });
            if let Some(owner) = owner {
                ctx.force(&format!("{namespace}/{}", owner.name));
                let _ = triggers.unbounded_send(ObjectRef::new(&owner.name).within(&namespace));
            }
        }
    });
}

/// Now and then: forget deleted SecretSyncs (so per-object bookkeeping stays bounded) and re-trigger every
/// SecretSync whose check is overdue or that was never reconciled — whatever went wrong with its trigger,
/// each SecretSync in the cache is visited at least once per poll interval.
/// When a provider that could not be reached answers again ([`crate::provider::ProviderHealth`]), retry at once every
/// SecretSync whose last check failed on a provider, instead of at its next backoff step.
pub(super) fn spawn_provider_recovery(
    syncs: Store<SecretSync>,
    ctx: Arc<Context>,
    triggers: Triggers,
    shutdown: CancellationToken,
) {
    let mut recovered = ctx.providers.health().recovered();
    tokio::spawn(async move {
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                changed = recovered.changed() => if changed.is_err() { return },
            }
            // A provider that cannot be reached fails a check with ProviderError (a stale socket) or, when
            // its socket is gone, ControllerSpcError ("provider not found").
            let waiting = ctx.schedule.retry_now(
                &[
                    sse_api::Reason::ProviderError,
                    sse_api::Reason::ControllerSpcError,
                ],
                std::time::SystemTime::now(),
            );
            if waiting.is_empty() {
                continue;
            }
            tracing::info!(
                count = waiting.len(),
                "a provider is back: retrying the SecretSyncs that failed on it"
            );
            for sync in syncs.state().iter().filter(|s| waiting.contains(&key(s))) {
                let _ = triggers.unbounded_send(trigger(sync));
            }
        }
    });
}

pub(super) fn spawn_sweeper(
    syncs: Store<SecretSync>,
    ctx: Arc<Context>,
    triggers: Triggers,
    every: Duration,
    shutdown: CancellationToken,
) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            let live = syncs.state();
            let keys: std::collections::HashSet<String> = live.iter().map(|s| key(s)).collect();
            ctx.schedule.retain(|k| keys.contains(k));
            ctx.baselines.retain(|k| keys.contains(k));
            ctx.metrics.retain_expiry(|k| keys.contains(k));
            ctx.announced.retain(|k| keys.contains(k));
            let overdue = ctx
                .schedule
                .overdue(keys.iter().map(String::as_str), SystemTime::now());
            if !overdue.is_empty() {
                tracing::warn!(
                    count = overdue.len(),
                    "SecretSyncs overdue for their check: triggering them"
                );
            }
            for sync in live.iter().filter(|s| overdue.contains(&key(s))) {
                let _ = triggers.unbounded_send(trigger(sync));
            }
        }
    });
}

/// The vault's events → checks: the classes that read the object an event names (the readers index), the
/// SecretSyncs that name each class (the controller's own index, checked against the store), each marked
/// with what to read afresh, made due and triggered. O(readers) per event.
pub(super) fn dispatcher(
    readers: Arc<crate::vault_events::Readers>,
    users: Arc<super::Users>,
    syncs: Store<SecretSync>,
    ctx: Arc<Context>,
    triggers: Triggers,
) -> crate::vault_events::Dispatch {
    use crate::vault_events::news::Kind;
    Arc::new(move |news, arrived| {
        let mut waits = Vec::new();
        for (class, ids) in readers.of(news) {
            let Some((namespace, class_name)) = class.split_once('/') else {
                continue;
            };
            // Only a new version is read afresh; an expiry date passing needs no read (the dates are known).
            let ids = if news.kind == Kind::NewVersion {
                ids
            } else {
                Vec::new()
            };
            let names = users.lock().get(&class).cloned().unwrap_or_default();
            for name in names {
                let reference = ObjectRef::<SecretSync>::new(&name).within(namespace);
                let Some(sync) = syncs.get(&reference) else {
                    continue;
                };
                if sync.spec.secret_provider_class_name != class_name {
                    continue;
                }
                let key = format!("{namespace}/{name}");
                waits.push(ctx.hints.mark(&key, &ids, arrived));
                ctx.force(&key);
                let _ = triggers.unbounded_send(trigger(&sync));
            }
        }
        waits
    })
}

/// Events about the manager itself, on its Deployment (best effort, off the caller's task).
pub(super) fn reporter(
    cluster: Arc<dyn crate::cluster::Cluster>,
    (namespace, name): (String, String),
) -> crate::vault_events::Report {
    Arc::new(move |warning, reason, message| {
        let (cluster, namespace, name) = (cluster.clone(), namespace.clone(), name.clone());
        tokio::spawn(async move {
            cluster
                .manager_event(&namespace, &name, warning, reason, &message)
                .await;
        });
    })
}

//! The kube-runtime controller: what triggers a reconcile (docs/API.md#triggers), and the caches it reads.
//!
//! * SecretSync create and generation change (so `forceSynchronization` works at once);
//! * a SecretProviderClass change re-syncs every SecretSync that uses it — whichever of the two the caches
//!   see first (below);
//! * the scheduled check of each SecretSync (its requeue, see [`crate::schedule`]), with a sweep
//!   that re-triggers any SecretSync whose check is overdue, so none can be left behind;
//! * optionally, a change to an owned Secret (metadata-only watch): immediate drift repair.
//!
//! Echoes of our own status writes also wake the controller; [`crate::reconcile`] recognises that nothing
//! is due and goes back to sleep without calling the provider.
//!
//! **The caches are driven by tasks of their own**, not by the controller's trigger streams: kube-runtime
//! polls trigger streams only while a reconcile slot is free, so a cache that reconciles wait on could stop
//! moving exactly when they wait. Each driver reflects an event into its store *before* it turns the event
//! into triggers, and the controller starts only once both stores have listed. That ordering is what makes a
//! SecretProviderClass created just before or after its SecretSync safe: either the SecretSync is already in
//! its store when the class event is mapped (and is triggered), or it is not yet, and its own first
//! reconcile will read a class store that already holds the class.
//!
//! Readiness is signalled by the drivers through `tokio::sync::watch`, which wakes every waiter. The
//! stores' own `wait_until_ready` is awaited by nobody but kube-runtime's runner: it is a
//! `DelayedInit` over a `futures` oneshot, which keeps only the last waiter's waker, so of several
//! concurrent waiters only the last is woken (kube-runtime 4.2; reproduced in this module's tests).

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use futures::TryStreamExt;
use futures::channel::mpsc;
use kube::Client;
use kube::api::Api;
use kube::runtime::controller::{Action, Config as ControllerConfig, Controller};
use kube::runtime::reflector::{self, ObjectRef};
use kube::runtime::{WatchStreamExt, watcher};
use sse_api::{SecretProviderClass, SecretSync};
use tokio_util::sync::CancellationToken;

use crate::classes::Classes;
use crate::context::Context;
use crate::reconcile::{self};

mod caches;
#[cfg(test)]
mod tests;
mod triggers;

pub(crate) use self::caches::{Change, drive};
use self::caches::{LIST_PAGE, Users, slim, trigger};
use self::triggers::{dispatcher, reporter, spawn_provider_recovery, spawn_sweeper, watch_owned_secrets};

async fn run_reconcile(sync: Arc<SecretSync>, ctx: Arc<Context>) -> Result<Action, reconcile::Error> {
    // Every wait inside is bounded: API calls (crate::cluster), the sync (`--reconcile-timeout`), and the
    // fair queue for a work slot (crate::reconcile).
    let report = reconcile::reconcile(&sync, &ctx).await?;
    Ok(Action::requeue(report.requeue_after))
}

fn error_policy(sync: Arc<SecretSync>, error: &reconcile::Error, ctx: Arc<Context>) -> Action {
    Action::requeue(reconcile::retry_after(&sync, error, &ctx))
}

/// A trigger channel: drivers send, the controller receives (unbounded: the scheduler dedups, and a
/// driver must never block on a busy controller).
type Triggers = mpsc::UnboundedSender<ObjectRef<SecretSync>>;

/// Settings of [`run`].
#[derive(Clone, Debug)]
pub struct Settings {
    /// Reconciles running at once.
    pub workers: u16,
    /// Also watch owned Secrets (metadata only).
    pub watch_owned_secrets: bool,
    /// How often overdue SecretSyncs are looked for.
    pub sweep_interval: Duration,
    /// In-flight reconciles get this long after `shutdown` before they are abandoned.
    pub shutdown_timeout: Duration,
    /// The vault's events, when read (crate::vault_events).
    pub events: Option<Arc<crate::vault_events::Stream>>,
    /// The manager's Deployment (`namespace`, `name`): what Events about the manager itself regard.
    pub deployment: (String, String),
}

/// Run the controller until `shutdown`; in-flight reconciles get `settings.shutdown_timeout` to finish.
pub async fn run(
    client: Client,
    ctx: Arc<Context>,
    classes: Arc<Classes>,
    settings: Settings,
    ready: Arc<std::sync::atomic::AtomicBool>,
    shutdown: CancellationToken,
) {
    let (sync_store, sync_writer) = reflector::store::<SecretSync>();
    let (triggers, trigger_rx) = mpsc::unbounded();

    // SecretSyncs: every create/update (incl. the initial list) triggers its own reconcile. Listed in pages
    // (`LIST_PAGE`), not from the watch cache (`any_semantic`), which answers with every object in one body:
    // the memory a list needs stays one page, however large the fleet.
    let syncs = watcher(
        Api::<SecretSync>::all(client.clone()),
        watcher::Config::default().page_size(LIST_PAGE),
    )
    .default_backoff()
    .modify(slim)
    .reflect(sync_writer);
    let users = Arc::new(Users::default());
    let syncs_listed = drive("SecretSync", syncs, shutdown.clone(), {
        let (triggers, users) = (triggers.clone(), users.clone());
        move |sync: &SecretSync, change| {
            if change == Change::Deleted {
                users.gone(sync);
            } else {
                users.seen(sync);
                let _ = triggers.unbounded_send(trigger(sync));
            }
        }
    });

    // SecretProviderClasses: a change (or a deletion) triggers every SecretSync that names the class. The
    // cache keeps what a reconcile reads of each (crate::classes), not the object.
    let class_cache = classes.clone();
    // Which classes read each vault object, for the vault's events: kept only when they are read.
    let readers = settings
        .events
        .as_ref()
        .map(|_| Arc::new(crate::vault_events::Readers::default()));
    let class_readers = readers.clone();
    let class_events = watcher(
        Api::<SecretProviderClass>::all(client.clone()),
        watcher::Config::default().page_size(LIST_PAGE),
    )
    .default_backoff()
    .inspect_ok(move |event| {
        class_cache.apply(event);
        if let Some(readers) = &class_readers {
            readers.apply(event);
        }
    });
    let classes_listed = drive("SecretProviderClass", class_events, shutdown.clone(), {
        let (triggers, syncs, users) = (triggers.clone(), sync_store.clone(), users.clone());
        move |spc: &SecretProviderClass, change| {
            // During the first list nothing reconciles yet, and every SecretSync is triggered by its own
            // first-list event.
            if change != Change::Listed {
                users.trigger(&syncs, spc, &triggers);
            }
        }
    });

    if settings.watch_owned_secrets {
        watch_owned_secrets(&client, &ctx, &triggers, &shutdown);
    }

    // Start reconciling only once both caches hold a full list: an empty cache is not "not found".
    let (mut a, mut b) = (syncs_listed, classes_listed);
    let listed = async { a.wait_for(|v| *v).await.is_ok() && b.wait_for(|v| *v).await.is_ok() };
    tokio::select! {
        () = shutdown.cancelled() => return,
        ok = listed => if !ok { return },
    }
    ready.store(true, std::sync::atomic::Ordering::Release);
    tracing::info!(
        secretsyncs = sync_store.len(),
        secretproviderclasses = classes.len(),
        "caches listed: reconciling"
    );

    spawn_provider_recovery(
        sync_store.clone(),
        ctx.clone(),
        triggers.clone(),
        shutdown.clone(),
    );
    if let (Some(stream), Some(readers)) = (settings.events.clone(), readers) {
        let dispatch = dispatcher(readers, users, sync_store.clone(), ctx.clone(), triggers.clone());
        let report = reporter(ctx.cluster.clone(), settings.deployment.clone());
        tokio::spawn(crate::vault_events::run(
            stream,
            dispatch,
            ctx.metrics.events().clone(),
            report,
            shutdown.clone(),
        ));
    }
    spawn_sweeper(
        sync_store.clone(),
        ctx.clone(),
        triggers,
        settings.sweep_interval,
        shutdown.clone(),
    );

    let controller = Controller::for_stream(
        futures::stream::pending::<Result<SecretSync, watcher::Error>>(),
        sync_store,
    )
    // Three times as many reconciles as work slots: the extra ones wait their namespace's turn for a slot
    // (crate::slots; at most one slot's worth per namespace waits, the rest are put off) or return at once
    // when nothing is due, so neither a slow vault nor a namespace with thousands of SecretSyncs can hold
    // every reconcile.
    .with_config(ControllerConfig::default().concurrency(settings.workers.saturating_mul(3)))
    .reconcile_on(trigger_rx)
    .graceful_shutdown_on(shutdown.clone().cancelled_owned())
    .run(run_reconcile, error_policy, ctx)
    .for_each(|result| async move {
        if let Err(error) = result {
            tracing::debug!(%error, "controller event");
        }
    });
    let limit = settings.shutdown_timeout;
    let bound = async {
        shutdown.cancelled().await;
        tokio::time::sleep(limit).await;
    };
    tokio::select! {
        () = controller => {}
        () = bound => tracing::warn!(?limit, "in-flight reconciles did not finish in time after the stop signal; abandoned"),
    }
}

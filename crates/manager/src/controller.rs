//! The kube-runtime controller: what triggers a reconcile (A7).
//!
//! * SecretSync create and generation change (so `forceSynchronization` works at once);
//! * a SecretProviderClass change re-syncs every SecretSync that uses it;
//! * the scheduled check of each SecretSync (its requeue, see [`crate::reconcile::schedule`]);
//! * optionally, a change to an owned Secret (metadata-only watch): immediate drift repair.
//!
//! Echoes of our own status writes also wake the controller; [`crate::reconcile`] recognises that nothing
//! is due and goes back to sleep without calling the provider.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;
use kube::core::PartialObjectMeta;
use kube::runtime::controller::{Action, Config as ControllerConfig, Controller};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, ResourceExt};
use sse_api::{SecretProviderClass, SecretSync, consts};
use tokio_util::sync::CancellationToken;

use crate::reconcile::{Context, key, reconcile};

async fn run_reconcile(sync: Arc<SecretSync>, ctx: Arc<Context>) -> Result<Action, std::convert::Infallible> {
    let report = reconcile(&sync, &ctx).await;
    Ok(Action::requeue(report.requeue_after))
}

fn error_policy(_: Arc<SecretSync>, error: &std::convert::Infallible, _: Arc<Context>) -> Action {
    match *error {}
}

/// Run the controller until `shutdown`; in-flight reconciles finish first.
pub async fn run(
    client: Client,
    ctx: Arc<Context>,
    classes: (
        Store<SecretProviderClass>,
        reflector::store::Writer<SecretProviderClass>,
    ),
    workers: u16,
    watch_owned_secrets: bool,
    ready: Arc<std::sync::atomic::AtomicBool>,
    shutdown: CancellationToken,
) {
    let (class_store, class_writer) = classes;
    let syncs: Api<SecretSync> = Api::all(client.clone());
    let controller = Controller::new(syncs, watcher::Config::default().any_semantic())
        .with_config(ControllerConfig::default().concurrency(workers));
    let sync_store = controller.store();

    let class_events = watcher(
        Api::<SecretProviderClass>::all(client.clone()),
        watcher::Config::default(),
    )
    .default_backoff()
    .reflect(class_writer)
    .touched_objects();
    let by_class = sync_store.clone();
    let controller = controller.watches_stream(class_events, move |spc: SecretProviderClass| {
        let (namespace, name) = (spc.namespace(), spc.name_any());
        by_class
            .state()
            .into_iter()
            .filter(|s| s.namespace() == namespace && s.spec.secret_provider_class_name == name)
            .map(|s| ObjectRef::from_obj(&*s))
            .collect::<Vec<_>>()
    });

    let controller = if watch_owned_secrets {
        // Metadata only (`Api<PartialObjectMeta<_>>` lists and watches metadata): Secret values never enter
        // the manager. Only changes after the initial list count as drift; the initial list (and re-lists)
        // would otherwise force a sync of every SecretSync.
        let secrets = watcher(
            Api::<PartialObjectMeta<Secret>>::all(client.clone()),
            watcher::Config::default().labels(consts::CONTROLLER_LABEL_KEY),
        )
        .default_backoff()
        .filter_map(|event| async move {
            match event {
                Ok(watcher::Event::Apply(meta) | watcher::Event::Delete(meta)) => Some(Ok(meta)),
                Ok(_) => None,
                Err(error) => Some(Err(error)),
            }
        });
        let force = ctx.clone();
        controller.watches_stream(secrets, move |meta| {
            meta.owner_references()
                .iter()
                .find(|o| {
                    o.kind == consts::SECRET_SYNC_KIND && o.api_version == consts::SECRET_SYNC_API_VERSION
                })
                .map(|o| {
                    let r =
                        ObjectRef::<SecretSync>::new(&o.name).within(&meta.namespace().unwrap_or_default());
                    force.force(&format!("{}/{}", meta.namespace().unwrap_or_default(), o.name));
                    r
                })
        })
    } else {
        controller
    };

    // Readiness: both caches have listed once.
    let (ready_syncs, ready_classes) = (sync_store.clone(), class_store.clone());
    tokio::spawn(async move {
        if ready_syncs.wait_until_ready().await.is_ok() && ready_classes.wait_until_ready().await.is_ok() {
            ready.store(true, std::sync::atomic::Ordering::Release);
        }
    });
    // Forget deleted SecretSyncs now and then, so per-object bookkeeping stays bounded.
    let (gc_store, gc_ctx, gc_stop) = (sync_store.clone(), ctx.clone(), shutdown.clone());
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(300));
        loop {
            tokio::select! {
                () = gc_stop.cancelled() => return,
                _ = tick.tick() => {
                    let live: std::collections::HashSet<String> = gc_store.state().iter().map(|s| key(s)).collect();
                    gc_ctx.retain(|k| live.contains(k));
                }
            }
        }
    });

    controller
        .graceful_shutdown_on(shutdown.cancelled_owned())
        .run(run_reconcile, error_policy, ctx)
        .for_each(|result| async move {
            if let Err(error) = result {
                tracing::debug!(%error, "controller event");
            }
        })
        .await;
}

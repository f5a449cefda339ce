//! Fan-out: one [`ClusterSecretSync`] (cluster-scoped, written only by cluster administrators), fetched once
//! per check with the administrator's SecretProviderClass and ServiceAccount in the install namespace, and
//! written as one Secret in every namespace it selects (docs/API.md#clustersecretsync).
//!
//! * [`select`]: which namespaces (pure; the admission policy checks the same at every write).
//! * [`namespaces`]: the namespaces, from a metadata-only watch; a namespace created, relabelled or deleted
//!   triggers every resource at once, not at the next poll (as does a SecretProviderClass of the install
//!   namespace changing).
//! * [`source`], [`spread`]: the fetch of [`crate::sync`], on the resource seen as a SecretSync, written to
//!   every selected namespace; a namespace that left loses the Secret (ours only, by the ownership tests,
//!   deleted at the resourceVersion they saw).
//! * [`state`], [`status`]: what is remembered between reconciles, and the bounded status.
//! * [`keep`]: `deletionPolicy: Keep`.
//! * [`metrics`]: bounded-label counts of namespaces and writes.
//! * [`reconcile`]: the stages, in order.
//!
//! Every Secret it writes carries the label `sse-rs.io/cluster-secret-sync: <name>` and the resource as its
//! controlling owner: the admission policies recognise it by these, and admit the manager's write only in a
//! namespace the named resource selects; a namespace user can neither take it over nor forge one. A
//! same-named Secret that is not the resource's is left untouched and reported for that namespace.
//!
//! Like the SecretSync and AKVSync controllers it asks everything of the API server through the
//! [`Cluster`](crate::cluster::Cluster) port, bounded, and runs under the leader's lease.

pub mod keep;
pub mod metrics;
pub mod namespaces;
pub mod reconcile;
pub mod select;
pub mod source;
pub mod spread;
pub mod state;
pub mod status;

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt as _;
use k8s_openapi::api::core::v1::Namespace;
use kube::Client;
use kube::api::Api;
use kube::core::PartialObjectMeta;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::{WatchStreamExt as _, reflector, watcher};

use crate::controller::{Change, drive};
use sse_api::ClusterSecretSync;
use tokio_util::sync::CancellationToken;

pub use self::reconcile::{FanoutError, Reconciled, reconcile};
use crate::context::Context;

/// How long before looking again when nothing triggers sooner.
pub const RESYNC: Duration = Duration::from_secs(300);
/// Requests to the API server one resource makes at once, across its namespaces.
pub const CONCURRENCY: usize = 16;

/// What the fan-out shares between reconciles.
pub struct Fanout {
    /// Its own context: the providers and the API server are the manager's; its schedule, change-detection
    /// baselines and tokens are its own, so no key of a resource can meet a SecretSync's of the same name in
    /// the install namespace. Partial sync is off: a failing object fails the fetch, and every namespace keeps
    /// its last good value.
    pub ctx: Context,
    /// The namespaces.
    pub namespaces: Arc<dyn namespaces::NamespaceView>,
    /// The manager's namespace: where the SecretProviderClasses and ServiceAccounts of fan-out live.
    pub install_namespace: String,
    /// What each resource's last reconciles found.
    pub records: state::Records,
    /// Requests at once per resource.
    pub concurrency: usize,
    /// The resources as the controller's watch holds them (set once the controller is built; tier 2 has
    /// none): records of resources that are gone are dropped.
    pub resources: std::sync::OnceLock<kube::runtime::reflector::Store<ClusterSecretSync>>,
}

impl Fanout {
    /// The fan-out, with its own schedule over `ctx`'s ports.
    pub fn new(
        mut ctx: Context,
        namespaces: Arc<dyn namespaces::NamespaceView>,
        install_namespace: &str,
    ) -> Self {
        ctx.config.partial_sync = false;
        ctx.schedule = crate::schedule::Schedule::new(ctx.config.timing());
        ctx.reloads = None;
        Self {
            ctx,
            namespaces,
            install_namespace: install_namespace.to_string(),
            records: state::Records::default(),
            concurrency: CONCURRENCY,
            resources: std::sync::OnceLock::new(),
        }
    }
}

/// Reconcile the ClusterSecretSyncs until `shutdown`: first the namespaces and the SecretProviderClasses are
/// listed (an empty cache is not "no namespace"), then every change of a namespace triggers every resource,
/// gathered over two seconds.
pub async fn run(
    client: Client,
    ctx: Context,
    classes: Arc<crate::classes::Classes>,
    install_namespace: String,
    shutdown: CancellationToken,
) {
    let (store, writer) = reflector::store();
    let (tx, rx) = futures::channel::mpsc::unbounded::<()>();
    let mut namespaces_listed = drive(
        "Namespace",
        // Only names, labels and deletion marks are read: the rest (managed fields, kubectl's last-applied
        // annotation) is dropped before the cache keeps it.
        reflector(
            writer,
            watcher(
                Api::<PartialObjectMeta<Namespace>>::all(client.clone()),
                watcher::Config::default(),
            )
            .modify(|ns| {
                ns.metadata.managed_fields = None;
                ns.metadata.annotations = None;
                ns.metadata.owner_references = None;
            }),
        )
        .default_backoff(),
        shutdown.clone(),
        trigger(tx.clone()),
    );
    // A SecretProviderClass of the install namespace changed: every resource looks again (the schedule
    // compares each one's class version, so only those naming it fetch).
    drive(
        "SecretProviderClass (fan-out)",
        watcher(
            Api::<sse_api::SecretProviderClass>::namespaced(client.clone(), &install_namespace),
            watcher::Config::default(),
        )
        .default_backoff(),
        shutdown.clone(),
        trigger(tx),
    );
    let ready =
        async { namespaces_listed.wait_for(|listed| *listed).await.is_ok() && classes.listed().await };
    tokio::select! {
        () = shutdown.cancelled() => return,
        ok = ready => if !ok { return },
    }
    let fan = Arc::new(Fanout::new(
        ctx,
        Arc::new(namespaces::Watched(store)),
        &install_namespace,
    ));
    tracing::info!("namespaces listed: reconciling ClusterSecretSyncs");
    Controller::new(Api::<ClusterSecretSync>::all(client), watcher::Config::default())
        .with_config(kube::runtime::controller::Config::default().debounce(Duration::from_secs(2)))
        .reconcile_all_on(rx)
        .graceful_shutdown_on(async move { shutdown.cancelled().await })
        .run(
            |css, fan| async move {
                reconcile(&css, &fan)
                    .await
                    .map(|r| Action::requeue(r.requeue_after))
            },
            error_policy,
            fan,
        )
        .for_each(|result| async move {
            if let Err(error) = result {
                tracing::debug!(%error, "clustersecretsync controller");
            }
        })
        .await;
}

/// Every change a driven watch sees after its first list triggers every resource (the first list is the
/// controller's own to act on).
fn trigger<K>(tx: futures::channel::mpsc::UnboundedSender<()>) -> impl Fn(&K, Change) + Send + 'static {
    move |_, change| {
        if change != Change::Listed {
            let _ = tx.unbounded_send(());
        }
    }
}

fn error_policy(_: Arc<ClusterSecretSync>, error: &FanoutError, _: Arc<Fanout>) -> Action {
    tracing::warn!(%error, retry_in = ?reconcile::RETRY_SOON, "clustersecretsync reconcile failed");
    Action::requeue(reconcile::RETRY_SOON)
}

//! AKVSync: the translation of one [`AKVSync`] into its SecretProviderClass and SecretSyncs
//! ([`translate`], pure), and the controller that keeps them as generated ([`run`], [`reconcile`]).
//!
//! The generated objects carry the label `sse-rs.io/akvsync: <name>` and the AKVSync as their controlling
//! owner, so deleting the AKVSync deletes them (and, through the SecretSyncs, their Secrets). An absent
//! object is created (never applied over a same-named one); an edit of a generated object is reverted by
//! putting its whole spec back, pinned to the resourceVersion looked at, at the next reconcile, which the
//! edit itself triggers. A generated SecretSync an entry no longer asks for is deleted, with uid and
//! resourceVersion preconditions. A same-named SecretProviderClass or SecretSync that the AKVSync does not
//! own is never touched: the AKVSync reports the conflict. A generated object someone removed the label
//! from is reported too (condition and Event `GeneratedObjectUnlabelled`), not restored: the
//! generated-objects admission policy lets the manager change only labelled objects, so every attempt
//! would be refused.
//!
//! Like the SecretSync controller, it asks everything of the API server through the
//! [`Cluster`](crate::cluster::Cluster) port (every call bounded), with typed errors whose class decides
//! the retry, and a tier-2 test on the API double.

mod reconcile;
mod translate;

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt as _;
use kube::Client;
use kube::api::Api;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::watcher;
use sse_api::{AKVSync, SecretProviderClass, SecretSync};
use tokio_util::sync::CancellationToken;

pub use self::reconcile::{AkvSyncError, Problem, Reconciled, reconcile};
pub use self::translate::{Generated, TranslateError, translate};
use crate::cluster::Cluster;
use crate::error::Class;

pub use sse_api::akv_sync::LABEL;
/// Reason (condition and Event) when a generated object lost its label.
pub const UNLABELLED: &str = "GeneratedObjectUnlabelled";
/// How long before looking again when nothing triggers sooner (the owned objects' changes do).
pub const RESYNC: Duration = Duration::from_secs(300);
/// After a failure that may pass by itself (the API server away, a conflict, a refused object).
pub const RETRY: Duration = Duration::from_secs(15);

/// Keep the AKVSyncs' generated objects as generated, until `shutdown`. `client` feeds the watches;
/// every request of a reconcile goes through `cluster`.
pub async fn run(client: Client, cluster: Arc<dyn Cluster>, shutdown: CancellationToken) {
    let generated = watcher::Config::default().labels(LABEL);
    Controller::new(Api::<AKVSync>::all(client.clone()), watcher::Config::default())
        // The generated SecretSyncs' status writes trigger it: gather a burst into one reconcile.
        .with_config(kube::runtime::controller::Config::default().debounce(Duration::from_secs(2)))
        .owns(Api::<SecretSync>::all(client.clone()), generated.clone())
        .owns(Api::<SecretProviderClass>::all(client), generated)
        .graceful_shutdown_on(async move { shutdown.cancelled().await })
        .run(
            |akv, cluster| async move {
                reconcile(&akv, &**cluster, std::time::SystemTime::now())
                    .await
                    .map(|r| r.action())
            },
            error_policy,
            Arc::new(cluster),
        )
        .for_each(|result| async move {
            if let Err(error) = result {
                tracing::warn!(%error, "akvsync controller");
            }
        })
        .await;
}

fn error_policy(_: Arc<AKVSync>, error: &AkvSyncError, _: Arc<Arc<dyn Cluster>>) -> Action {
    let retry_in = error.retry_in();
    tracing::warn!(%error, ?retry_in, "akvsync reconcile failed");
    Action::requeue(retry_in)
}

impl AkvSyncError {
    /// When to try again: soon when the API server may answer differently by then, at the resync
    /// otherwise (a refusal such as a missing RBAC right is fixed by a person, and an edit of the AKVSync
    /// triggers a reconcile at once).
    pub fn retry_in(&self) -> Duration {
        match self.class() {
            Class::Transient => RETRY,
            Class::Permanent => RESYNC,
        }
    }
}

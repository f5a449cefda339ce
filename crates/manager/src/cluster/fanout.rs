//! The requests of the fan-out controller ([`crate::fanout`]) on a real API server: its Secrets' deletes, a
//! ClusterSecretSync's status, finalizer and Events. Free functions the [`super::KubeCluster`] port calls, so
//! `real.rs` keeps one purpose.

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DeleteParams, Patch, PatchParams, Preconditions};
use kube::{Client, Resource, ResourceExt};
use sse_api::{ClusterSecretSync, ClusterSecretSyncStatus, cluster_secret_sync, consts};

use super::{ClusterError, bounded, publish};

pub use sse_api::cluster_secret_sync::EVENT_NAMESPACE;

/// `DELETE` of the Secret, only while its resourceVersion is still the one the ownership check saw (409
/// otherwise, 404 when it is gone).
pub(super) async fn delete_secret(
    client: &Client,
    namespace: &str,
    name: &str,
    resource_version: &str,
) -> Result<(), ClusterError> {
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let params = DeleteParams {
        preconditions: Some(Preconditions {
            uid: None,
            resource_version: Some(resource_version.to_string()),
        }),
        ..DeleteParams::background()
    };
    bounded(api.delete(name, &params)).await.map(drop)
}

/// Forced server-side apply of the whole status (fields no longer sent, such as `failures` after a recovery,
/// are removed).
pub(super) async fn write_status(
    client: &Client,
    css: &ClusterSecretSync,
    status: &ClusterSecretSyncStatus,
) -> Result<(), ClusterError> {
    let api: Api<ClusterSecretSync> = Api::all(client.clone());
    let patch = serde_json::json!({
        "apiVersion": cluster_secret_sync::API_VERSION,
        "kind": cluster_secret_sync::KIND,
        "metadata": { "name": css.name_any() },
        "status": status,
    });
    let params = PatchParams::apply(consts::FIELD_MANAGER).force();
    bounded(api.patch_status(&css.name_any(), &params, &Patch::Apply(patch)))
        .await
        .map(drop)
}

/// A JSON patch of the resource (the finalizer only: the admission policy admits nothing else from the
/// manager); its `test` operations are the preconditions.
pub(super) async fn patch(
    client: &Client,
    name: &str,
    patch: &json_patch::Patch,
) -> Result<(), ClusterError> {
    let api: Api<ClusterSecretSync> = Api::all(client.clone());
    let params = PatchParams {
        field_manager: Some(consts::FIELD_MANAGER.into()),
        ..PatchParams::default()
    };
    bounded(api.patch_metadata(name, &params, &Patch::<()>::Json(patch.clone())))
        .await
        .map(drop)
}

/// An Event about the resource, in [`EVENT_NAMESPACE`].
pub(super) async fn event(
    client: &Client,
    css: &ClusterSecretSync,
    warning: bool,
    reason: &str,
    message: &str,
    instance: &str,
) {
    publish(
        client,
        EVENT_NAMESPACE,
        &css.name_any(),
        css.object_ref(&()),
        warning,
        reason,
        message,
        instance,
    )
    .await;
}

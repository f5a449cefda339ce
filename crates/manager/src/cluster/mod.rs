//! Everything the manager asks of the Kubernetes API, behind one trait: the only door to the API server
//! for both controllers (SecretSync, AKVSync) and the leader election. The watches that feed the
//! controllers are kube-runtime's, built from the same client in [`crate::controller`] and
//! [`crate::akvsync`]; every request a reconcile makes goes through [`Cluster`], bounded by [`bounded`].
//!
//! [`KubeCluster`] is the real implementation (kube-rs). The in-memory double in [`crate::fake`] implements
//! the same trait for tier-2 tests, counting every write. The real-cluster suite is what keeps the two
//! honest about the API server's semantics.

mod error;
mod events;
mod fanout;
mod real;

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use sse_api::{
    AKVSync, AkvSyncStatus, ClusterSecretSync, ClusterSecretSyncStatus, SecretProviderClass, SecretSync,
    SecretSyncStatus,
};

pub use self::error::{ClusterError, PATCH_NOT_APPLICABLE};
pub use self::events::{publish, truncate};
pub use self::fanout::EVENT_NAMESPACE;
pub use self::real::KubeCluster;
use crate::workload::Workload;

/// A patch of one Secret.
#[derive(Debug, Clone)]
pub enum SecretPatch {
    /// RFC 6902 JSON patch (`test` operations guard it).
    Json(json_patch::Patch),
    /// RFC 7386 merge patch (a `metadata.resourceVersion` in it is a precondition: 409 when stale).
    Merge(serde_json::Value),
}

/// A service-account token.
#[derive(Clone)]
pub struct Token {
    /// The JWT.
    pub token: String,
    /// When it expires.
    pub expiration: Time,
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Token")
            .field("expiration", &self.expiration)
            .finish_non_exhaustive()
    }
}

/// The kinds of object an AKVSync generates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GeneratedKind {
    /// Its SecretProviderClass.
    Class,
    /// One of its SecretSyncs.
    Sync,
}

impl GeneratedKind {
    /// The kind's name, as the API server spells it.
    pub const fn as_str(self) -> &'static str {
        match self {
            GeneratedKind::Class => "SecretProviderClass",
            GeneratedKind::Sync => "SecretSync",
        }
    }
}

/// An object an AKVSync generates ([`crate::akvsync`]).
#[derive(Clone, Debug, PartialEq)]
#[allow(
    clippy::large_enum_variant,
    reason = "one at a time, on the way to or from the API server; never held in numbers"
)]
pub enum Generated {
    /// Its SecretProviderClass.
    Class(SecretProviderClass),
    /// One of its SecretSyncs.
    Sync(SecretSync),
}

impl Generated {
    /// Which kind it is.
    pub fn kind(&self) -> GeneratedKind {
        match self {
            Generated::Class(_) => GeneratedKind::Class,
            Generated::Sync(_) => GeneratedKind::Sync,
        }
    }

    /// Its metadata.
    pub fn meta(&self) -> &ObjectMeta {
        match self {
            Generated::Class(class) => &class.metadata,
            Generated::Sync(sync) => &sync.metadata,
        }
    }

    /// Its spec as JSON (what "as generated" compares).
    pub fn spec(&self) -> serde_json::Value {
        let spec = match self {
            Generated::Class(class) => serde_json::to_value(&class.spec),
            Generated::Sync(sync) => serde_json::to_value(&sync.spec),
        };
        spec.unwrap_or_default()
    }
}

/// What the manager needs from the API server.
#[async_trait]
pub trait Cluster: Send + Sync + 'static {
    /// The SecretProviderClass `namespace/name`, if it exists.
    async fn secret_provider_class(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<Arc<SecretProviderClass>>, ClusterError>;

    /// `POST …/serviceaccounts/{sa}/token` for one audience.
    async fn request_token(
        &self,
        namespace: &str,
        service_account: &str,
        audience: &str,
        expiration_seconds: i64,
    ) -> Result<Token, ClusterError>;

    /// Patch the Secret, answering its `resourceVersion` afterwards, or the server's error as it sent it
    /// (404 absent, 422 [`ClusterError::is_patch_not_applicable`], 409 stale precondition, …).
    async fn patch_secret(
        &self,
        namespace: &str,
        name: &str,
        patch: &SecretPatch,
    ) -> Result<String, ClusterError>;

    /// Forced server-side apply of the Secret under [`sse_api::consts::FIELD_MANAGER`].
    async fn apply_secret(&self, secret: &Secret) -> Result<String, ClusterError>;

    /// Delete the Secret, only while its resourceVersion is still `resource_version` (409 otherwise, 404 when
    /// gone): the fan-out controller removing its own Secret from a namespace that left the selection.
    async fn delete_secret(
        &self,
        namespace: &str,
        name: &str,
        resource_version: &str,
    ) -> Result<(), ClusterError>;

    /// Write a ClusterSecretSync's status (forced server-side apply on the status subresource).
    async fn write_cluster_status(
        &self,
        css: &ClusterSecretSync,
        status: &ClusterSecretSyncStatus,
    ) -> Result<(), ClusterError>;

    /// Apply a JSON patch to a ClusterSecretSync (its finalizer; `test` operations are preconditions).
    async fn patch_cluster_sync(&self, name: &str, patch: &json_patch::Patch) -> Result<(), ClusterError>;

    /// Publish an Event about a ClusterSecretSync, in [`EVENT_NAMESPACE`] (best effort).
    async fn cluster_event(&self, css: &ClusterSecretSync, warning: bool, reason: &str, message: &str);

    /// Write the SecretSync status (forced server-side apply on the status subresource).
    async fn write_status(&self, sync: &SecretSync, status: &SecretSyncStatus) -> Result<(), ClusterError>;

    /// Publish an Event about the SecretSync (best effort).
    async fn event(&self, sync: &SecretSync, warning: bool, reason: &str, message: &str);

    /// The Deployments, StatefulSets and DaemonSets of `namespace` that opted in to reloads
    /// ([`crate::reload`]).
    async fn reloadable_workloads(&self, namespace: &str) -> Result<Vec<Workload>, ClusterError>;

    /// A rolling restart of `workload`: these annotations merged into its pod template.
    async fn restart_workload(
        &self,
        workload: &Workload,
        annotations: &std::collections::BTreeMap<String, String>,
    ) -> Result<(), ClusterError>;

    /// Publish a Normal Event about `workload` (best effort).
    async fn workload_event(&self, workload: &Workload, reason: &str, message: &str);

    /// The SecretSyncs of `namespace` labelled as generated by the AKVSync `akvsync` (one LIST).
    async fn generated_syncs(&self, namespace: &str, akvsync: &str) -> Result<Vec<SecretSync>, ClusterError>;

    /// The object as the API server holds it now (read, not cached: its resourceVersion guards the next
    /// write).
    async fn generated(
        &self,
        kind: GeneratedKind,
        namespace: &str,
        name: &str,
    ) -> Result<Option<Generated>, ClusterError>;

    /// Create the object (409 `AlreadyExists` when a same-named one exists: never a takeover).
    async fn create_generated(&self, object: &Generated) -> Result<(), ClusterError>;

    /// Apply a JSON patch to the object (its `test` operations are the preconditions: 422 when one fails).
    async fn patch_generated(
        &self,
        kind: GeneratedKind,
        namespace: &str,
        name: &str,
        patch: &json_patch::Patch,
    ) -> Result<(), ClusterError>;

    /// Delete a generated SecretSync, only if its uid and resourceVersion are still these (409 otherwise).
    async fn delete_generated_sync(
        &self,
        namespace: &str,
        name: &str,
        uid: &str,
        resource_version: &str,
    ) -> Result<(), ClusterError>;

    /// Write an AKVSync's status (merge patch of the status subresource).
    async fn write_akvsync_status(&self, akv: &AKVSync, status: &AkvSyncStatus) -> Result<(), ClusterError>;

    /// Publish an Event about an AKVSync (best effort).
    async fn akvsync_event(&self, akv: &AKVSync, warning: bool, reason: &str, message: &str);

    /// Publish an Event about the manager's own Deployment `namespace/name` (best effort): what concerns
    /// the whole manager, such as the vault's event stream failing.
    async fn manager_event(&self, namespace: &str, name: &str, warning: bool, reason: &str, message: &str);

    /// The Lease `namespace/name`, if it exists.
    async fn lease(&self, namespace: &str, name: &str) -> Result<Option<Lease>, ClusterError>;

    /// Create the Lease (409 when it exists).
    async fn create_lease(&self, namespace: &str, lease: &Lease) -> Result<(), ClusterError>;

    /// Replace the Lease (409 when its `metadata.resourceVersion` is stale).
    async fn replace_lease(&self, namespace: &str, lease: &Lease) -> Result<(), ClusterError>;
}

/// Longest one API request of a reconcile may take (the client's own read timeout is 295 s, sized for
/// watches).
pub(crate) const API_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// `request` bounded by [`API_TIMEOUT`]; running out of time is a transient error.
pub(crate) async fn bounded<T>(
    request: impl std::future::Future<Output = Result<T, kube::Error>>,
) -> Result<T, ClusterError> {
    match tokio::time::timeout(API_TIMEOUT, request).await {
        Ok(answer) => answer.map_err(ClusterError::from),
        Err(_) => Err(ClusterError::new(
            0,
            "Timeout",
            &format!("the API server did not answer within {API_TIMEOUT:?}"),
        )),
    }
}

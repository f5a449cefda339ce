//! API types of SSE-rs, with no I/O: the `SecretSync` and `SecretProviderClass` custom resources, the condition
//! vocabulary, interface constants and input validation.
//!
//! * [`secret_sync`]: `SecretSync` (`secret-sync.x-k8s.io/v1alpha1`) with its CRD schema, CEL rules, status and
//!   printer columns.
//! * [`akv_sync`]: `AKVSync` (`secret-sync.x-k8s.io/v1alpha1`), Arc SSE's simplified resource.
//! * [`cluster_secret_sync`]: `ClusterSecretSync` (`sync.sse-rs.io/v1alpha1`, cluster-scoped): one Secret
//!   written to every selected namespace.
//! * [`secret_provider_class`]: `SecretProviderClass` (`secrets-store.csi.x-k8s.io/v1`, plus the deprecated
//!   `v1alpha1` in the generated CRD).
//! * [`conditions`]: condition types `Create`/`Update`/`Ready`, [`Reason`], and the `SetStatusCondition` merge.
//! * [`consts`]: label keys, field manager, provider attribute keys, env var names, fixed Mount values, …
//! * [`validation`]: schema patterns, CEL rules and [`validate_secret_object`].
//! * [`generated_crds`]: the CRDs as installed, with their file names under `deploy/crds/` (used by
//!   `cargo xtask crdgen`).

pub mod akv_sync;
pub mod cluster_secret_sync;
pub mod conditions;
pub mod consts;
pub mod duration;
pub mod event_stream;
pub mod secret_provider_class;
pub mod secret_sync;
pub mod validation;

pub use akv_sync::{AKVSync, AkvSyncObject, AkvSyncPart, AkvSyncSpec, AkvSyncStatus, GeneratedSync};
pub use cluster_secret_sync::{
    ClusterSecretSync, ClusterSecretSyncSpec, ClusterSecretSyncStatus, DeletionPolicy,
};
pub use conditions::Reason;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
pub use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::core::crd::{CustomResourceExt, MergeError};
pub use secret_provider_class::{
    SecretProviderClass, SecretProviderClassSpec, SpcSecretObject, SpcSecretObjectData,
};
pub use secret_sync::{
    FileFormat, MergePolicy, ObjectValidity, SecretObject, SecretObjectData, SecretObjectDataFrom,
    SecretSync, SecretSyncSpec, SecretSyncStatus, SecretTemplate, TemplateItem,
};
pub use validation::{ValidationError, validate_secret_object};

/// A CRD as installed, and the file it is written to under `deploy/crds/`.
#[derive(Clone, Debug)]
pub struct GeneratedCrd {
    /// File name: `<plural>.<group>.yaml`.
    pub file_name: String,
    /// The CustomResourceDefinition.
    pub crd: CustomResourceDefinition,
}

impl GeneratedCrd {
    fn new(crd: CustomResourceDefinition) -> Self {
        let name = crd.metadata.name.clone().unwrap_or_default();
        Self {
            file_name: format!("{name}.yaml"),
            crd,
        }
    }
}

/// Every CRD SSE-rs ships, in a stable order: `secretsyncs.secret-sync.x-k8s.io`,
/// `secretproviderclasses.secrets-store.csi.x-k8s.io`, `akvsyncs.secret-sync.x-k8s.io`, then
/// `clustersecretsyncs.sync.sse-rs.io`.
pub fn generated_crds() -> Result<Vec<GeneratedCrd>, MergeError> {
    Ok(vec![
        GeneratedCrd::new(SecretSync::crd()),
        GeneratedCrd::new(secret_provider_class::crd()?),
        GeneratedCrd::new(AKVSync::crd()),
        GeneratedCrd::new(ClusterSecretSync::crd()),
    ])
}

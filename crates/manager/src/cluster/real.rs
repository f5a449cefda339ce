//! [`KubeCluster`]: the [`Cluster`] port on a real API server (kube-rs), every request [`bounded`].

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ObjectReference, PodTemplateSpec, Secret, ServiceAccount};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, Preconditions};
use kube::{Client, Resource, ResourceExt};
use sse_api::{
    AKVSync, AkvSyncStatus, ClusterSecretSync, ClusterSecretSyncStatus, SecretProviderClass, SecretSync,
    SecretSyncStatus, consts,
};

use super::{Cluster, ClusterError, Generated, GeneratedKind, SecretPatch, Token, bounded, publish};
use crate::classes::Classes;
use crate::workload::{Kind, Workload};

/// Field manager of the objects an AKVSync generates (not the Secrets' manager: the generated-objects
/// admission policy and `kubectl get --show-managed-fields` tell the two writers apart).
pub const AKVSYNC_FIELD_MANAGER: &str = "sse-rs-akvsync";

/// The real cluster.
pub struct KubeCluster {
    client: Client,
    classes: Arc<Classes>,
    /// `reportingInstance` of our Events.
    instance: String,
}

impl KubeCluster {
    /// `classes` is the SecretProviderClass cache the controller keeps (listed before the first reconcile);
    /// `instance` names this pod in Events.
    pub fn new(client: Client, classes: Arc<Classes>, instance: Option<String>) -> Self {
        Self {
            client,
            classes,
            instance: instance.unwrap_or_else(|| consts::FIELD_MANAGER.into()),
        }
    }
}

#[async_trait]
impl Cluster for KubeCluster {
    async fn secret_provider_class(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<Arc<SecretProviderClass>>, ClusterError> {
        // The controller starts only once this cache holds a full list (crate::controller), so a miss here
        // is a real "not found"; nothing here waits.
        let class = self.classes.get(namespace, name).map_err(|error| {
            ClusterError::new(
                0,
                "CacheUnreadable",
                &format!("the cached SecretProviderClass: {error}"),
            )
        })?;
        Ok(class.map(Arc::new))
    }

    async fn request_token(
        &self,
        namespace: &str,
        service_account: &str,
        audience: &str,
        expiration_seconds: i64,
    ) -> Result<Token, ClusterError> {
        let api: Api<ServiceAccount> = Api::namespaced(self.client.clone(), namespace);
        let request = TokenRequest {
            spec: TokenRequestSpec {
                audiences: vec![audience.to_string()],
                expiration_seconds: Some(expiration_seconds),
                bound_object_ref: None,
            },
            ..TokenRequest::default()
        };
        let response =
            bounded(api.create_token_request(service_account, &PostParams::default(), &request)).await?;
        let status = response
            .status
            .ok_or_else(|| ClusterError::new(0, "NoStatus", "TokenRequest returned no status"))?;
        Ok(Token {
            token: status.token,
            expiration: status.expiration_timestamp,
        })
    }

    async fn patch_secret(
        &self,
        namespace: &str,
        name: &str,
        patch: &SecretPatch,
    ) -> Result<String, ClusterError> {
        let api: Api<Secret> = Api::namespaced(self.client.clone(), namespace);
        let params = PatchParams {
            field_manager: Some(consts::FIELD_MANAGER.into()),
            ..PatchParams::default()
        };
        let patch = match patch {
            SecretPatch::Json(ops) => Patch::<serde_json::Value>::Json(ops.clone()),
            SecretPatch::Merge(value) => Patch::Merge(value.clone()),
        };
        // Metadata-only response: the Secret's values never come back to the manager.
        let meta = bounded(api.patch_metadata(name, &params, &patch)).await?;
        Ok(meta.metadata.resource_version.unwrap_or_default())
    }

    async fn apply_secret(&self, secret: &Secret) -> Result<String, ClusterError> {
        let namespace = secret.namespace().unwrap_or_default();
        let api: Api<Secret> = Api::namespaced(self.client.clone(), &namespace);
        let params = PatchParams::apply(consts::FIELD_MANAGER).force();
        // Metadata-only response: the Secret's values never come back to the manager.
        let meta = bounded(api.patch_metadata(&secret.name_any(), &params, &Patch::Apply(secret))).await?;
        Ok(meta.metadata.resource_version.unwrap_or_default())
    }

    async fn delete_secret(
        &self,
        namespace: &str,
        name: &str,
        resource_version: &str,
    ) -> Result<(), ClusterError> {
        super::fanout::delete_secret(&self.client, namespace, name, resource_version).await
    }

    async fn write_cluster_status(
        &self,
        css: &ClusterSecretSync,
        status: &ClusterSecretSyncStatus,
    ) -> Result<(), ClusterError> {
        super::fanout::write_status(&self.client, css, status).await
    }

    async fn patch_cluster_sync(&self, name: &str, patch: &json_patch::Patch) -> Result<(), ClusterError> {
        super::fanout::patch(&self.client, name, patch).await
    }

    async fn cluster_event(&self, css: &ClusterSecretSync, warning: bool, reason: &str, message: &str) {
        super::fanout::event(&self.client, css, warning, reason, message, &self.instance).await;
    }

    async fn write_status(&self, sync: &SecretSync, status: &SecretSyncStatus) -> Result<(), ClusterError> {
        // Server-side apply of the whole status: fields we owned and no longer send (e.g. `failingSince`
        // after a recovery) are removed, which a merge patch could not do.
        let api: Api<SecretSync> =
            Api::namespaced(self.client.clone(), &sync.namespace().unwrap_or_default());
        let patch = serde_json::json!({
            "apiVersion": consts::SECRET_SYNC_API_VERSION,
            "kind": consts::SECRET_SYNC_KIND,
            "metadata": { "name": sync.name_any() },
            "status": status,
        });
        let params = PatchParams::apply(consts::FIELD_MANAGER).force();
        bounded(api.patch_status(&sync.name_any(), &params, &Patch::Apply(patch))).await?;
        Ok(())
    }

    async fn event(&self, sync: &SecretSync, warning: bool, reason: &str, message: &str) {
        // One `events.k8s.io/v1` Event per transition, as kube-runtime's `Recorder` writes a first occurrence.
        // Not the `Recorder` itself: it keeps every Event it published for six minutes to count repeats
        // (a few KiB per SecretSync, tens of MiB after a burst of creates), and the manager only publishes
        // on a change of outcome, so repeats are rare and need no series.
        let namespace = sync.namespace().unwrap_or_default();
        publish(
            &self.client,
            &namespace,
            &sync.name_any(),
            sync.object_ref(&()),
            warning,
            reason,
            message,
            &self.instance,
        )
        .await;
    }

    async fn reloadable_workloads(&self, namespace: &str) -> Result<Vec<Workload>, ClusterError> {
        let mut all = self
            .opted_in::<Deployment>(namespace, Kind::Deployment, |d| {
                d.spec.as_ref().map(|s| &s.template)
            })
            .await?;
        all.extend(
            self.opted_in::<StatefulSet>(namespace, Kind::StatefulSet, |d| {
                d.spec.as_ref().map(|s| &s.template)
            })
            .await?,
        );
        all.extend(
            self.opted_in::<DaemonSet>(namespace, Kind::DaemonSet, |d| {
                d.spec.as_ref().map(|s| &s.template)
            })
            .await?,
        );
        Ok(all)
    }

    async fn restart_workload(
        &self,
        workload: &Workload,
        annotations: &std::collections::BTreeMap<String, String>,
    ) -> Result<(), ClusterError> {
        let patch = Patch::Merge(serde_json::json!({
            "spec": { "template": { "metadata": { "annotations": annotations } } }
        }));
        let params = PatchParams {
            field_manager: Some(consts::FIELD_MANAGER.into()),
            ..PatchParams::default()
        };
        let (ns, name) = (workload.namespace.as_str(), workload.name.as_str());
        match workload.kind {
            Kind::Deployment => {
                bounded(Api::<Deployment>::namespaced(self.client.clone(), ns).patch(name, &params, &patch))
                    .await
                    .map(drop)
            }
            Kind::StatefulSet => {
                bounded(Api::<StatefulSet>::namespaced(self.client.clone(), ns).patch(name, &params, &patch))
                    .await
                    .map(drop)
            }
            Kind::DaemonSet => {
                bounded(Api::<DaemonSet>::namespaced(self.client.clone(), ns).patch(name, &params, &patch))
                    .await
                    .map(drop)
            }
        }
    }

    async fn workload_event(&self, workload: &Workload, reason: &str, message: &str) {
        let regarding = ObjectReference {
            api_version: Some("apps/v1".into()),
            kind: Some(workload.kind.as_str().into()),
            name: Some(workload.name.clone()),
            namespace: Some(workload.namespace.clone()),
            uid: Some(workload.uid.clone()),
            ..ObjectReference::default()
        };
        publish(
            &self.client,
            &workload.namespace,
            &workload.name,
            regarding,
            false,
            reason,
            message,
            &self.instance,
        )
        .await;
    }

    async fn manager_event(&self, namespace: &str, name: &str, warning: bool, reason: &str, message: &str) {
        let regarding = ObjectReference {
            api_version: Some("apps/v1".into()),
            kind: Some("Deployment".into()),
            name: Some(name.to_string()),
            namespace: Some(namespace.to_string()),
            ..ObjectReference::default()
        };
        publish(
            &self.client,
            namespace,
            name,
            regarding,
            warning,
            reason,
            message,
            &self.instance,
        )
        .await;
    }

    async fn generated_syncs(&self, namespace: &str, akvsync: &str) -> Result<Vec<SecretSync>, ClusterError> {
        let api: Api<SecretSync> = Api::namespaced(self.client.clone(), namespace);
        let selector = ListParams::default().labels(&format!("{}={akvsync}", sse_api::akv_sync::LABEL));
        Ok(bounded(api.list(&selector)).await?.items)
    }

    async fn generated(
        &self,
        kind: GeneratedKind,
        namespace: &str,
        name: &str,
    ) -> Result<Option<Generated>, ClusterError> {
        Ok(match kind {
            GeneratedKind::Class => bounded(self.api::<SecretProviderClass>(namespace).get_opt(name))
                .await?
                .map(Generated::Class),
            GeneratedKind::Sync => bounded(self.api::<SecretSync>(namespace).get_opt(name))
                .await?
                .map(Generated::Sync),
        })
    }

    async fn create_generated(&self, object: &Generated) -> Result<(), ClusterError> {
        let namespace = object.meta().namespace.clone().unwrap_or_default();
        let params = PostParams {
            field_manager: Some(AKVSYNC_FIELD_MANAGER.to_string()),
            ..PostParams::default()
        };
        match object {
            Generated::Class(class) => bounded(self.api(&namespace).create(&params, class))
                .await
                .map(drop),
            Generated::Sync(sync) => bounded(self.api(&namespace).create(&params, sync))
                .await
                .map(drop),
        }
    }

    async fn patch_generated(
        &self,
        kind: GeneratedKind,
        namespace: &str,
        name: &str,
        patch: &json_patch::Patch,
    ) -> Result<(), ClusterError> {
        let params = PatchParams {
            field_manager: Some(AKVSYNC_FIELD_MANAGER.to_string()),
            ..PatchParams::default()
        };
        let patch = Patch::<()>::Json(patch.clone());
        match kind {
            GeneratedKind::Class => bounded(
                self.api::<SecretProviderClass>(namespace)
                    .patch(name, &params, &patch),
            )
            .await
            .map(drop),
            GeneratedKind::Sync => bounded(self.api::<SecretSync>(namespace).patch(name, &params, &patch))
                .await
                .map(drop),
        }
    }

    async fn delete_generated_sync(
        &self,
        namespace: &str,
        name: &str,
        uid: &str,
        resource_version: &str,
    ) -> Result<(), ClusterError> {
        let params = DeleteParams {
            preconditions: Some(Preconditions {
                uid: Some(uid.to_string()),
                resource_version: Some(resource_version.to_string()),
            }),
            ..DeleteParams::background()
        };
        bounded(self.api::<SecretSync>(namespace).delete(name, &params))
            .await
            .map(drop)
    }

    async fn write_akvsync_status(&self, akv: &AKVSync, status: &AkvSyncStatus) -> Result<(), ClusterError> {
        let api: Api<AKVSync> = self.api(&akv.namespace().unwrap_or_default());
        let patch = Patch::Merge(serde_json::json!({ "status": status }));
        bounded(api.patch_status(&akv.name_any(), &PatchParams::default(), &patch))
            .await
            .map(drop)
    }

    async fn akvsync_event(&self, akv: &AKVSync, warning: bool, reason: &str, message: &str) {
        publish(
            &self.client,
            &akv.namespace().unwrap_or_default(),
            &akv.name_any(),
            akv.object_ref(&()),
            warning,
            reason,
            message,
            &self.instance,
        )
        .await;
    }

    async fn lease(&self, namespace: &str, name: &str) -> Result<Option<Lease>, ClusterError> {
        bounded(self.api::<Lease>(namespace).get_opt(name)).await
    }

    async fn create_lease(&self, namespace: &str, lease: &Lease) -> Result<(), ClusterError> {
        bounded(self.api(namespace).create(&PostParams::default(), lease))
            .await
            .map(drop)
    }

    async fn replace_lease(&self, namespace: &str, lease: &Lease) -> Result<(), ClusterError> {
        bounded(
            self.api(namespace)
                .replace(&lease.name_any(), &PostParams::default(), lease),
        )
        .await
        .map(drop)
    }
}

impl KubeCluster {
    /// The namespaced API of `K`.
    fn api<K>(&self, namespace: &str) -> Api<K>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
    {
        Api::namespaced(self.client.clone(), namespace)
    }

    /// The workloads of one kind in `namespace` that opted in.
    async fn opted_in<K>(
        &self,
        namespace: &str,
        kind: Kind,
        template: impl Fn(&K) -> Option<&PodTemplateSpec>,
    ) -> Result<Vec<Workload>, ClusterError>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
            + Clone
            + serde::de::DeserializeOwned
            + fmt::Debug,
    {
        let api: Api<K> = Api::namespaced(self.client.clone(), namespace);
        // Page by page: only the opted-in few are kept, however many workloads the namespace has.
        let mut params = ListParams::default().limit(WORKLOAD_PAGE);
        let mut opted_in = Vec::new();
        loop {
            let page = bounded(api.list(&params)).await?;
            opted_in.extend(
                page.items
                    .iter()
                    .filter_map(|w| template(w).and_then(|t| Workload::opted_in(kind, w.meta(), t))),
            );
            match page.metadata.continue_.filter(|c| !c.is_empty()) {
                Some(token) => params = params.continue_token(&token),
                None => return Ok(opted_in),
            }
        }
    }
}

/// Workloads per LIST page when looking for the opted-in ones.
const WORKLOAD_PAGE: u32 = 100;

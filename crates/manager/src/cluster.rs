//! Everything the reconciler asks of the Kubernetes API, behind one trait.
//!
//! [`KubeCluster`] is the real implementation (kube-rs). The in-memory double in [`crate::fake`] implements
//! the same trait for tier-2 tests, counting every write. The real-cluster suite is what keeps the two
//! honest about the API server's semantics.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::{ObjectReference, PodTemplateSpec, Secret, ServiceAccount};
use k8s_openapi::api::events::v1 as events;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, Time};
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube::{Client, Resource, ResourceExt};
use sse_api::{SecretProviderClass, SecretSync, SecretSyncStatus, consts};

use crate::classes::Classes;
use crate::reload::{Kind, Workload};

/// An API-server answer that was not success: code, reason and message as the server sent them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ClusterError {
    /// HTTP status (0 when no answer came back).
    pub code: u16,
    /// Machine reason, e.g. `Forbidden`, `Invalid`, `NotFound`.
    pub reason: String,
    /// The server's message (never contains secret values: Secret data is not echoed in errors).
    pub message: String,
    /// Whether the answer's `details` named an object, a kind or causes (validation errors do; the generic
    /// answer to an inapplicable patch does not).
    pub has_details: bool,
}

/// The message of kube-apiserver's answer to a JSON patch that cannot be applied to the stored object.
///
/// Observed on kube-apiserver v1.32.13 for `PATCH application/json-patch+json` on a Secret: a `test` whose
/// value differs, a `test` or `add` whose path is missing — every one answers **422, reason `Invalid`,
/// this message, `details: {}`**. The patch library's own text ("testing value … failed") is dropped:
/// `endpoints/handlers/patch.go` wraps it in apimachinery's `NewGenericServerResponse(422, …)`.
pub const PATCH_NOT_APPLICABLE: &str = "the server rejected our request due to an error in our request";

impl ClusterError {
    /// An error with these parts (and no details).
    pub fn new(code: u16, reason: &str, message: &str) -> Self {
        Self {
            code,
            reason: reason.to_string(),
            message: message.to_string(),
            has_details: false,
        }
    }

    /// What kube-apiserver answers for a JSON patch it cannot apply (see [`PATCH_NOT_APPLICABLE`]).
    pub fn patch_not_applicable() -> Self {
        Self::new(422, "Invalid", PATCH_NOT_APPLICABLE)
    }

    /// kube-apiserver's 404 for a missing object: `secrets "db" not found`, details naming it.
    pub fn not_found(resource: &str, name: &str) -> Self {
        Self {
            has_details: true,
            ..Self::new(404, "NotFound", &format!("{resource} {name:?} not found"))
        }
    }

    /// kube-apiserver's 409 for a stale `metadata.resourceVersion` precondition.
    pub fn conflict(resource: &str, name: &str) -> Self {
        Self {
            has_details: true,
            ..Self::new(
                409,
                "Conflict",
                &format!(
                    "Operation cannot be fulfilled on {resource} {name:?}: the object has been modified; please \
                     apply your changes to the latest version and try again"
                ),
            )
        }
    }

    /// 404.
    pub fn is_not_found(&self) -> bool {
        self.code == 404
    }

    /// 422 (validation, or an inapplicable patch).
    pub fn is_invalid(&self) -> bool {
        self.code == 422
    }

    /// The JSON patch could not be applied to the stored object (a `test` did not hold, or a path is
    /// missing) — as opposed to a real validation error such as a Secret over 1 MiB, which names the object
    /// and its causes. For a patch made only of `test` operations this means exactly "a test failed".
    pub fn is_patch_not_applicable(&self) -> bool {
        self.code == 422
            && self.reason == "Invalid"
            && self.message == PATCH_NOT_APPLICABLE
            && !self.has_details
    }

    /// Refused by a ValidatingAdmissionPolicy or an admission webhook.
    pub fn is_admission_denial(&self) -> bool {
        let m = self.message.to_ascii_lowercase();
        (self.code == 403 || self.code == 422 || self.code == 400)
            && (m.contains("validatingadmissionpolicy") || m.contains("admission webhook"))
    }

    /// Worth retrying soon: no answer, throttled, conflict or a server-side failure.
    pub fn is_transient(&self) -> bool {
        self.code == 0 || self.code == 409 || self.code == 429 || self.code >= 500
    }
}

impl From<kube::Error> for ClusterError {
    fn from(error: kube::Error) -> Self {
        match error {
            kube::Error::Api(status) => Self {
                code: status.code,
                reason: status.reason.clone(),
                message: status.message.clone(),
                has_details: status.details.as_ref().is_some_and(|d| {
                    !d.name.is_empty() || !d.kind.is_empty() || !d.group.is_empty() || !d.causes.is_empty()
                }),
            },
            other => Self {
                code: 0,
                reason: "ClientError".into(),
                message: other.to_string(),
                has_details: false,
            },
        }
    }
}

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

/// What the reconciler needs from the API server.
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

    /// Forced server-side apply of the Secret under [`consts::FIELD_MANAGER`].
    async fn apply_secret(&self, secret: &Secret) -> Result<String, ClusterError>;

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
}

/// Longest one API request of a reconcile may take (the client's own read timeout is 295 s, sized for
/// watches).
const API_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

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
}

impl KubeCluster {
    /// One `events.k8s.io/v1` Event about `regarding`.
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

/// Publish one `events.k8s.io/v1` Event about `regarding` in `namespace`, reported by the manager
/// (`reporting_instance`: which process); best effort, bounded like every API call. The events admission
/// policy admits exactly these: reported by the manager, about a SecretSync, an AKVSync or a workload.
#[allow(
    clippy::too_many_arguments,
    reason = "an Event's fields, each named at the call"
)]
pub async fn publish(
    client: &Client,
    namespace: &str,
    name: &str,
    regarding: ObjectReference,
    warning: bool,
    reason: &str,
    message: &str,
    reporting_instance: &str,
) {
    let now = k8s_openapi::jiff::Timestamp::now();
    let event = events::Event {
        metadata: ObjectMeta {
            name: Some(format!("{name}.{:x}", now.as_nanosecond())),
            namespace: Some(namespace.to_string()),
            ..ObjectMeta::default()
        },
        action: Some("Sync".into()),
        reason: Some(reason.into()),
        note: Some(truncate(message, 1024)),
        type_: Some(if warning { "Warning" } else { "Normal" }.into()),
        event_time: Some(MicroTime(now)),
        regarding: Some(regarding),
        reporting_controller: Some(consts::FIELD_MANAGER.into()),
        reporting_instance: Some(reporting_instance.to_string()),
        ..events::Event::default()
    };
    let api: Api<events::Event> = Api::namespaced(client.clone(), namespace);
    if let Err(error) = bounded(api.create(&PostParams::default(), &event)).await {
        tracing::debug!(%error, "failed to publish event");
    }
}

/// `s` cut to at most `max` bytes (the API server counts bytes), ending in `…` when cut.
pub fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let end = s.floor_char_boundary(max.saturating_sub('…'.len_utf8()));
    format!("{}…", &s[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The answers as kube-apiserver v1.32.13 sent them (status JSON decoded by kube-rs).
    fn from_status(json: serde_json::Value) -> ClusterError {
        let status: kube::core::Status = serde_json::from_value(json).unwrap();
        ClusterError::from(kube::Error::Api(Box::new(status)))
    }

    #[test]
    fn an_inapplicable_patch_is_told_from_a_validation_error() {
        let failed_test = from_status(serde_json::json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": "the server rejected our request due to an error in our request",
            "reason": "Invalid", "details": {}, "code": 422
        }));
        assert!(failed_test.is_patch_not_applicable());
        assert_eq!(failed_test, ClusterError::patch_not_applicable());
        let too_large = from_status(serde_json::json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": "Secret \"s\" is invalid: data: Too long: may not be more than 1048576 bytes",
            "reason": "Invalid",
            "details": {"name": "s", "kind": "Secret", "causes": [
                {"reason": "FieldValueTooLong", "message": "Too long: may not be more than 1048576 bytes", "field": "data"}
            ]},
            "code": 422
        }));
        assert!(!too_large.is_patch_not_applicable() && too_large.is_invalid());
        let absent = from_status(serde_json::json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": "secrets \"s\" not found", "reason": "NotFound",
            "details": {"name": "s", "kind": "secrets"}, "code": 404
        }));
        assert_eq!(absent, ClusterError::not_found("secrets", "s"));
        let stale = from_status(serde_json::json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": "Operation cannot be fulfilled on secrets \"s\": the object has been modified; please apply your changes to the latest version and try again",
            "reason": "Conflict", "details": {"name": "s", "kind": "secrets"}, "code": 409
        }));
        assert_eq!(stale, ClusterError::conflict("secrets", "s"));
        assert!(stale.is_transient());
    }

    #[test]
    fn error_classification() {
        let vap = ClusterError::new(
            403,
            "Forbidden",
            "secrets \"x\" is forbidden: ValidatingAdmissionPolicy 'p' with binding 'p-binding' denied request: no",
        );
        assert!(vap.is_admission_denial() && !vap.is_transient());
        let rbac = ClusterError::new(403, "Forbidden", "secrets \"x\" is forbidden: User cannot patch");
        assert!(!rbac.is_admission_denial());
        assert!(ClusterError::new(503, "ServiceUnavailable", "x").is_transient());
        assert!(ClusterError::new(0, "ClientError", "connection refused").is_transient());
        assert!(!ClusterError::new(422, "Invalid", "x").is_transient());
    }

    #[test]
    fn long_event_notes_are_truncated_on_a_char_boundary() {
        let s = "é".repeat(1000);
        let t = truncate(&s, 1024);
        assert!(
            t.len() <= 1024,
            "events.k8s.io rejects notes over 1024 bytes: {}",
            t.len()
        );
        assert!(t.ends_with('…'));
        assert_eq!(truncate("short", 1024), "short");
    }
}

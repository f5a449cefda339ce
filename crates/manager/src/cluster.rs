//! Everything the reconciler asks of the Kubernetes API, behind one trait.
//!
//! [`KubeCluster`] is the real implementation (kube-rs). The in-memory double in [`crate::fake`] implements
//! the same trait for tier-2 tests, counting every write. The real-cluster suite is what keeps the two
//! honest about the API server's semantics.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::{Secret, ServiceAccount};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Client, Resource, ResourceExt};
use sse_api::{SecretProviderClass, SecretSync, SecretSyncStatus, consts};

/// An API-server answer that was not success: code, reason and message as the server sent them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterError {
    /// HTTP status (0 when no answer came back).
    pub code: u16,
    /// Machine reason, e.g. `Forbidden`, `Invalid`, `NotFound`.
    pub reason: String,
    /// The server's message (never contains secret values: Secret data is not echoed in errors).
    pub message: String,
}

impl ClusterError {
    /// An error with these parts.
    pub fn new(code: u16, reason: &str, message: &str) -> Self {
        Self {
            code,
            reason: reason.to_string(),
            message: message.to_string(),
        }
    }

    /// 404.
    pub fn is_not_found(&self) -> bool {
        self.code == 404
    }

    /// 422 (validation, or a failed JSON-patch `test`).
    pub fn is_invalid(&self) -> bool {
        self.code == 422
    }

    /// A JSON-patch `test` operation did not hold (the API server answers 422 with the patch library's text:
    /// "testing value … failed" or "test operation does not apply: is missing path …"). Other 422s, such as a
    /// Secret over 1 MiB, are real errors.
    pub fn is_failed_test(&self) -> bool {
        self.code == 422
            && (self.message.contains("testing value")
                || self.message.contains("test operation does not apply"))
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

impl fmt::Display for ClusterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ClusterError {}

impl From<kube::Error> for ClusterError {
    fn from(error: kube::Error) -> Self {
        match error {
            kube::Error::Api(status) => Self {
                code: status.code,
                reason: status.reason.clone(),
                message: status.message.clone(),
            },
            other => Self {
                code: 0,
                reason: "ClientError".into(),
                message: other.to_string(),
            },
        }
    }
}

/// Result of a JSON patch made only of `test` operations (or tests followed by changes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchOutcome {
    /// Every test held (and any changes were applied).
    Applied,
    /// A test failed: nothing was changed.
    TestFailed,
    /// The Secret does not exist.
    Absent,
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

    /// A JSON patch on the Secret (`test` operations, optionally followed by changes). Outcome instead of
    /// error for a failed test (422) and a missing Secret (404).
    async fn patch_secret(
        &self,
        namespace: &str,
        name: &str,
        ops: &json_patch::Patch,
    ) -> Result<PatchOutcome, ClusterError>;

    /// Forced server-side apply of the Secret under [`consts::FIELD_MANAGER`].
    async fn apply_secret(&self, secret: &Secret) -> Result<(), ClusterError>;

    /// Write the SecretSync status (forced server-side apply on the status subresource).
    async fn write_status(&self, sync: &SecretSync, status: &SecretSyncStatus) -> Result<(), ClusterError>;

    /// Publish an Event about the SecretSync (best effort).
    async fn event(&self, sync: &SecretSync, warning: bool, reason: &str, message: &str);
}

/// The real cluster.
pub struct KubeCluster {
    client: Client,
    classes: Store<SecretProviderClass>,
    recorder: Recorder,
}

impl KubeCluster {
    /// `classes` is the reflector store of SecretProviderClasses the controller keeps.
    pub fn new(client: Client, classes: Store<SecretProviderClass>) -> Self {
        let reporter = Reporter {
            controller: consts::FIELD_MANAGER.into(),
            instance: std::env::var(consts::ENV_POD_NAME).ok(),
        };
        Self {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            classes,
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
        // The SecretProviderClass watch may still be listing when the first reconciles run: an empty cache
        // must not be read as "not found".
        self.classes
            .wait_until_ready()
            .await
            .map_err(|e| ClusterError::new(0, "CacheUnavailable", &e.to_string()))?;
        Ok(self.classes.get(&ObjectRef::new(name).within(namespace)))
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
        let response = api
            .create_token_request(service_account, &PostParams::default(), &request)
            .await?;
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
        ops: &json_patch::Patch,
    ) -> Result<PatchOutcome, ClusterError> {
        let api: Api<Secret> = Api::namespaced(self.client.clone(), namespace);
        let params = PatchParams {
            field_manager: Some(consts::FIELD_MANAGER.into()),
            ..PatchParams::default()
        };
        // Metadata-only response: the Secret's values never come back to the manager.
        match api
            .patch_metadata(name, &params, &Patch::<()>::Json(ops.clone()))
            .await
        {
            Ok(_) => Ok(PatchOutcome::Applied),
            Err(e) => {
                let e = ClusterError::from(e);
                if e.is_not_found() {
                    Ok(PatchOutcome::Absent)
                } else if e.is_failed_test() {
                    Ok(PatchOutcome::TestFailed)
                } else {
                    Err(e)
                }
            }
        }
    }

    async fn apply_secret(&self, secret: &Secret) -> Result<(), ClusterError> {
        let namespace = secret.namespace().unwrap_or_default();
        let api: Api<Secret> = Api::namespaced(self.client.clone(), &namespace);
        let params = PatchParams::apply(consts::FIELD_MANAGER).force();
        // Metadata-only response: the Secret's values never come back to the manager.
        api.patch_metadata(&secret.name_any(), &params, &Patch::Apply(secret))
            .await?;
        Ok(())
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
        api.patch_status(&sync.name_any(), &params, &Patch::Apply(patch))
            .await?;
        Ok(())
    }

    async fn event(&self, sync: &SecretSync, warning: bool, reason: &str, message: &str) {
        let event = Event {
            type_: if warning {
                EventType::Warning
            } else {
                EventType::Normal
            },
            reason: reason.into(),
            note: Some(truncate(message, 1024)),
            action: "Sync".into(),
            secondary: None,
        };
        if let Err(error) = self.recorder.publish(&event, &sync.object_ref(&())).await {
            tracing::debug!(%error, "failed to publish event");
        }
    }
}

/// `s` cut to at most `max` bytes (the API server counts bytes), ending in `…` when cut.
pub fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max.saturating_sub('…'.len_utf8());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_failed_tests_count_as_failed_tests() {
        assert!(
            ClusterError::new(422, "Invalid", "testing value /data/key failed: test failed").is_failed_test()
        );
        assert!(
            ClusterError::new(
                422,
                "Invalid",
                "test operation does not apply: is missing path: /metadata/labels/x"
            )
            .is_failed_test()
        );
        assert!(
            !ClusterError::new(
                422,
                "Invalid",
                "Secret \"s\" is invalid: data: Too long: must have at most 1048576 bytes"
            )
            .is_failed_test()
        );
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

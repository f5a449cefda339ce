//! An in-memory [`Cluster`] for tier-2 tests: SecretProviderClasses, ServiceAccounts, Secrets with a
//! resourceVersion that moves only on real change, JSON and merge patches evaluated by the `json-patch`
//! crate (as the API server does), a server-side apply that owns the data keys, labels and annotations it
//! applied (one it applies no more is removed, as a field manager's omitted field is), and a log of every
//! write.
//!
//! It stands in for the API server's semantics only as far as the manager relies on them, and every error it
//! answers is the one kube-apiserver sends, byte for byte in status, reason, message and details. Where each
//! was observed (kube-apiserver v1.32.13, `PATCH`/`POST` by curl and by the manager, see `cluster.rs` tests):
//!
//! | request                                      | answer here                                            |
//! |----------------------------------------------|--------------------------------------------------------|
//! | patch of a missing Secret                    | 404 `NotFound`, `secrets "x" not found`, details name+kind |
//! | JSON patch whose `test` fails, or any op on a missing path | 422 `Invalid`, [`PATCH_NOT_APPLICABLE`](crate::cluster::PATCH_NOT_APPLICABLE), `details: {}` |
//! | merge patch with a stale `metadata.resourceVersion` | 409 `Conflict`, `Operation cannot be fulfilled on secrets "x": …` |
//! | apply/patch changing `type`                  | 422 `Invalid`, `Secret "x" is invalid: type: Invalid value: "…": field is immutable`, causes |
//! | patch that changes nothing                   | 200, resourceVersion unchanged                         |
//! | TokenRequest for a missing ServiceAccount    | 404 `NotFound`, `serviceaccounts "x" not found`         |
//! | status write with a condition message over the CRD's `maxLength` | 422 `Invalid`, `… status.conditions[i].message: Too long: …` |
//!
//! The real-cluster suite (`cargo xtask e2e`) remains the judge.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::ResourceExt;
use sse_api::{SecretProviderClass, SecretSync, SecretSyncStatus};

use k8s_openapi::api::coordination::v1::Lease;
use sse_api::{AKVSync, AkvSyncStatus};

use crate::cluster::{Cluster, ClusterError, Generated, GeneratedKind, SecretPatch, Token};

mod fanout;
mod generated;
mod secrets;
mod setup;

/// The kinds of request the double can be told to refuse ([`FakeCluster::refuse`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Request {
    /// TokenRequest.
    Token,
    /// Patch of a Secret.
    PatchSecret,
    /// Server-side apply of a Secret.
    ApplySecret,
    /// Status write.
    WriteStatus,
    /// Listing workloads (reload).
    ListWorkloads,
    /// Listing an AKVSync's generated SecretSyncs.
    ListGenerated,
    /// Creating a generated object.
    CreateGenerated,
    /// Patching a generated object.
    PatchGenerated,
    /// Deleting a generated SecretSync.
    DeleteGenerated,
    /// An AKVSync's status write.
    WriteAkvSyncStatus,
    /// Reading or writing a Lease.
    Lease,
    /// Deleting a Secret.
    DeleteSecret,
    /// A ClusterSecretSync's status write.
    WriteClusterStatus,
    /// A ClusterSecretSync's patch (finalizer).
    PatchClusterSync,
}

/// One API call the manager made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    /// Patch of a Secret and the HTTP status of the answer (200, 404, 409, 422).
    PatchSecret(String, u16),
    /// Server-side apply of a Secret.
    ApplySecret(String),
    /// Status write.
    WriteStatus(String),
    /// TokenRequest.
    RequestToken(String),
    /// Event (reason).
    Event(String, String),
    /// Rolling restart of a workload (`namespace/Kind/name`) and the SecretSync it named.
    RestartWorkload(String, String),
    /// Create of a generated object (`Kind namespace/name`).
    CreateGenerated(String),
    /// JSON patch of a generated object (`Kind namespace/name`) and the HTTP status of the answer.
    PatchGenerated(String, u16),
    /// Delete of a generated SecretSync (`namespace/name`) and the HTTP status of the answer.
    DeleteGenerated(String, u16),
    /// An AKVSync's status write.
    WriteAkvSyncStatus(String),
    /// Delete of a Secret (`namespace/name`) and the HTTP status of the answer.
    DeleteSecret(String, u16),
    /// A ClusterSecretSync's status write (its name).
    WriteClusterStatus(String),
    /// A ClusterSecretSync's patch (its name) and the HTTP status of the answer.
    PatchClusterSync(String, u16),
}

#[derive(Default)]
struct State {
    classes: HashMap<(String, String), Arc<SecretProviderClass>>,
    service_accounts: HashSet<(String, String)>,
    secrets: HashMap<(String, String), Secret>,
    applied_keys: HashMap<(String, String), BTreeSet<String>>,
    /// Label and annotation keys the last apply set: (labels, annotations).
    applied_meta: HashMap<(String, String), (BTreeSet<String>, BTreeSet<String>)>,
    statuses: HashMap<(String, String), SecretSyncStatus>,
    /// SecretSyncs as objects (those the AKVSync controller generates, and users' beside them); their
    /// status is in `statuses`.
    syncs: HashMap<(String, String), SecretSync>,
    akv_statuses: HashMap<(String, String), AkvSyncStatus>,
    leases: HashMap<(String, String), Lease>,
    /// ClusterSecretSyncs as objects (finalizers), by name; their status is in `cluster_statuses`.
    cluster_syncs: HashMap<String, sse_api::ClusterSecretSync>,
    cluster_statuses: HashMap<String, sse_api::ClusterSecretSyncStatus>,
    calls: Vec<Call>,
    workloads: Vec<crate::workload::Workload>,
    resource_version: u64,
    refused: HashMap<Request, ClusterError>,
    issuer: String,
}

/// The in-memory cluster.
#[derive(Default, Clone)]
pub struct FakeCluster {
    state: Arc<Mutex<State>>,
}

fn key(namespace: &str, name: &str) -> (String, String) {
    (namespace.to_string(), name.to_string())
}

impl FakeCluster {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[async_trait]
impl Cluster for FakeCluster {
    async fn secret_provider_class(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<Arc<SecretProviderClass>>, ClusterError> {
        Ok(self.state().classes.get(&key(namespace, name)).cloned())
    }

    async fn request_token(
        &self,
        namespace: &str,
        service_account: &str,
        audience: &str,
        expiration_seconds: i64,
    ) -> Result<Token, ClusterError> {
        let mut state = self.state();
        state
            .calls
            .push(Call::RequestToken(format!("{namespace}/{service_account}")));
        if let Some(error) = state.refused.get(&Request::Token).cloned() {
            return Err(error);
        }
        if !state.service_accounts.contains(&key(namespace, service_account)) {
            return Err(ClusterError::not_found("serviceaccounts", service_account));
        }
        let now = k8s_openapi::jiff::Timestamp::now();
        let expiration = now
            .checked_add(k8s_openapi::jiff::SignedDuration::from_secs(expiration_seconds))
            .unwrap_or(now);
        // Shaped like the API server's tokens (unsigned here): iss, sub, aud, exp.
        use base64::Engine;
        let enc =
            |v: serde_json::Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
        let claims = serde_json::json!({
            "iss": state.issuer, "sub": format!("system:serviceaccount:{namespace}:{service_account}"),
            "aud": [audience], "iat": now.as_second(), "nbf": now.as_second(), "exp": expiration.as_second(),
        });
        Ok(Token {
            token: format!(
                "{}.{}.fake-signature",
                enc(serde_json::json!({"alg": "RS256", "typ": "JWT"})),
                enc(claims)
            ),
            expiration: Time(expiration),
        })
    }

    async fn patch_secret(
        &self,
        namespace: &str,
        name: &str,
        patch: &SecretPatch,
    ) -> Result<String, ClusterError> {
        let mut state = self.state();
        let answer = match state.refused.get(&Request::PatchSecret) {
            Some(error) => Err(error.clone()),
            None => state.patch(namespace, name, patch),
        };
        let code = answer.as_ref().map_or_else(|e| e.code, |_| 200);
        state
            .calls
            .push(Call::PatchSecret(format!("{namespace}/{name}"), code));
        answer
    }

    async fn apply_secret(&self, secret: &Secret) -> Result<String, ClusterError> {
        let mut state = self.state();
        let namespace = secret.namespace().unwrap_or_default();
        let name = secret.name_any();
        state.calls.push(Call::ApplySecret(format!("{namespace}/{name}")));
        if let Some(error) = state.refused.get(&Request::ApplySecret).cloned() {
            return Err(error);
        }
        state.apply(secret)
    }

    async fn delete_secret(
        &self,
        namespace: &str,
        name: &str,
        resource_version: &str,
    ) -> Result<(), ClusterError> {
        self.state().delete_secret(namespace, name, resource_version)
    }

    async fn write_cluster_status(
        &self,
        css: &sse_api::ClusterSecretSync,
        status: &sse_api::ClusterSecretSyncStatus,
    ) -> Result<(), ClusterError> {
        self.state().write_cluster_status(css, status)
    }

    async fn patch_cluster_sync(&self, name: &str, patch: &json_patch::Patch) -> Result<(), ClusterError> {
        self.state().patch_cluster_sync(name, patch)
    }

    async fn cluster_event(
        &self,
        css: &sse_api::ClusterSecretSync,
        _warning: bool,
        reason: &str,
        message: &str,
    ) {
        // The namespace a fan-out Event is about is the first word of its message (`namespace x: …`).
        let about = message
            .strip_prefix("namespace ")
            .and_then(|m| m.split(':').next())
            .map_or_else(String::new, |ns| format!("/{ns}"));
        self.state().calls.push(Call::Event(
            format!("{}/{}{about}", crate::cluster::EVENT_NAMESPACE, css.name_any()),
            reason.to_string(),
        ));
    }

    async fn write_status(&self, sync: &SecretSync, status: &SecretSyncStatus) -> Result<(), ClusterError> {
        let mut state = self.state();
        let k = key(&sync.namespace().unwrap_or_default(), &sync.name_any());
        state.calls.push(Call::WriteStatus(format!("{}/{}", k.0, k.1)));
        if let Some(error) = state.refused.get(&Request::WriteStatus).cloned() {
            return Err(error);
        }
        // The CRD's schema: a condition message longer than its maxLength fails the whole write.
        let limit = sse_api::conditions::MESSAGE_MAX_LENGTH;
        let too_long =
            |c: &k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition| c.message.chars().count() > limit;
        if let Some(i) = status.conditions.iter().position(too_long) {
            return Err(ClusterError::new(
                422,
                "Invalid",
                &format!(
                    "SecretSync.secret-sync.x-k8s.io \"{}\" is invalid: status.conditions[{i}].message: Too long: may not be more than {limit} bytes",
                    k.1
                ),
            ));
        }
        state.statuses.insert(k, status.clone());
        Ok(())
    }

    async fn event(&self, sync: &SecretSync, _warning: bool, reason: &str, _message: &str) {
        self.state().calls.push(Call::Event(
            format!("{}/{}", sync.namespace().unwrap_or_default(), sync.name_any()),
            reason.to_string(),
        ));
    }

    async fn reloadable_workloads(
        &self,
        namespace: &str,
    ) -> Result<Vec<crate::workload::Workload>, ClusterError> {
        let state = self.state();
        if let Some(error) = state.refused.get(&Request::ListWorkloads) {
            return Err(error.clone());
        }
        Ok(state
            .workloads
            .iter()
            .filter(|w| w.namespace == namespace)
            .cloned()
            .collect())
    }

    async fn restart_workload(
        &self,
        workload: &crate::workload::Workload,
        annotations: &BTreeMap<String, String>,
    ) -> Result<(), ClusterError> {
        let mut state = self.state();
        let key = format!(
            "{}/{}/{}",
            workload.namespace,
            workload.kind.as_str(),
            workload.name
        );
        let caused_by = annotations
            .get(crate::workload::RESTARTED_FOR_ANNOTATION)
            .cloned()
            .unwrap_or_default();
        state.calls.push(Call::RestartWorkload(key, caused_by));
        let at = annotations
            .get(crate::workload::RESTARTED_AT_ANNOTATION)
            .and_then(|t| crate::workload::restarted_at(t));
        for w in state.workloads.iter_mut().filter(|w| {
            w.namespace == workload.namespace && w.kind == workload.kind && w.name == workload.name
        }) {
            w.restarted_at = at;
        }
        Ok(())
    }

    async fn workload_event(&self, workload: &crate::workload::Workload, reason: &str, _message: &str) {
        self.state().calls.push(Call::Event(
            format!(
                "{}/{}/{}",
                workload.namespace,
                workload.kind.as_str(),
                workload.name
            ),
            reason.to_string(),
        ));
    }

    async fn manager_event(&self, namespace: &str, name: &str, _warning: bool, reason: &str, _message: &str) {
        self.state().calls.push(Call::Event(
            format!("{namespace}/Deployment/{name}"),
            reason.to_string(),
        ));
    }

    async fn generated_syncs(&self, namespace: &str, akvsync: &str) -> Result<Vec<SecretSync>, ClusterError> {
        let state = self.state();
        if let Some(error) = state.refused.get(&Request::ListGenerated) {
            return Err(error.clone());
        }
        let labelled = |s: &&SecretSync| {
            s.namespace().as_deref() == Some(namespace)
                && s.labels().get(sse_api::akv_sync::LABEL).map(String::as_str) == Some(akvsync)
        };
        let mut syncs: Vec<SecretSync> = state
            .syncs
            .values()
            .filter(labelled)
            .map(|s| state.with_status(s))
            .collect();
        syncs.sort_by_key(ResourceExt::name_any);
        Ok(syncs)
    }

    async fn generated(
        &self,
        kind: GeneratedKind,
        namespace: &str,
        name: &str,
    ) -> Result<Option<Generated>, ClusterError> {
        Ok(self.state().generated(kind, namespace, name))
    }

    async fn create_generated(&self, object: &Generated) -> Result<(), ClusterError> {
        let mut state = self.state();
        let meta = object.meta();
        let what = format!(
            "{} {}/{}",
            object.kind().as_str(),
            meta.namespace.clone().unwrap_or_default(),
            meta.name.clone().unwrap_or_default()
        );
        state.calls.push(Call::CreateGenerated(what));
        if let Some(error) = state.refused.get(&Request::CreateGenerated).cloned() {
            return Err(error);
        }
        state.create_generated(object)
    }

    async fn patch_generated(
        &self,
        kind: GeneratedKind,
        namespace: &str,
        name: &str,
        patch: &json_patch::Patch,
    ) -> Result<(), ClusterError> {
        let mut state = self.state();
        let answer = match state.refused.get(&Request::PatchGenerated) {
            Some(error) => Err(error.clone()),
            None => state.patch_generated(kind, namespace, name, patch),
        };
        let code = answer.as_ref().map_or_else(|e| e.code, |()| 200);
        let what = format!("{} {namespace}/{name}", kind.as_str());
        state.calls.push(Call::PatchGenerated(what, code));
        answer
    }

    async fn delete_generated_sync(
        &self,
        namespace: &str,
        name: &str,
        uid: &str,
        resource_version: &str,
    ) -> Result<(), ClusterError> {
        let mut state = self.state();
        let answer = match state.refused.get(&Request::DeleteGenerated) {
            Some(error) => Err(error.clone()),
            None => state.delete_generated_sync(namespace, name, uid, resource_version),
        };
        let code = answer.as_ref().map_or_else(|e| e.code, |()| 200);
        state
            .calls
            .push(Call::DeleteGenerated(format!("{namespace}/{name}"), code));
        answer
    }

    async fn write_akvsync_status(&self, akv: &AKVSync, status: &AkvSyncStatus) -> Result<(), ClusterError> {
        let mut state = self.state();
        let k = key(&akv.namespace().unwrap_or_default(), &akv.name_any());
        state
            .calls
            .push(Call::WriteAkvSyncStatus(format!("{}/{}", k.0, k.1)));
        if let Some(error) = state.refused.get(&Request::WriteAkvSyncStatus).cloned() {
            return Err(error);
        }
        state.akv_statuses.insert(k, status.clone());
        Ok(())
    }

    async fn akvsync_event(&self, akv: &AKVSync, _warning: bool, reason: &str, _message: &str) {
        self.state().calls.push(Call::Event(
            format!("{}/{}", akv.namespace().unwrap_or_default(), akv.name_any()),
            reason.to_string(),
        ));
    }

    async fn lease(&self, namespace: &str, name: &str) -> Result<Option<Lease>, ClusterError> {
        let state = self.state();
        if let Some(error) = state.refused.get(&Request::Lease) {
            return Err(error.clone());
        }
        Ok(state.leases.get(&key(namespace, name)).cloned())
    }

    async fn create_lease(&self, namespace: &str, lease: &Lease) -> Result<(), ClusterError> {
        let mut state = self.state();
        if let Some(error) = state.refused.get(&Request::Lease).cloned() {
            return Err(error);
        }
        state.create_lease(namespace, lease)
    }

    async fn replace_lease(&self, namespace: &str, lease: &Lease) -> Result<(), ClusterError> {
        let mut state = self.state();
        if let Some(error) = state.refused.get(&Request::Lease).cloned() {
            return Err(error);
        }
        state.replace_lease(namespace, lease)
    }
}

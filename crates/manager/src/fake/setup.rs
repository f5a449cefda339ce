//! What a test does to the double as another actor would (a user, an administrator, another
//! controller), and what it reads back.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use sse_api::{SecretProviderClass, SecretSyncStatus};

use super::{Call, FakeCluster, Request, key};
use crate::cluster::ClusterError;

impl FakeCluster {
    /// Create or replace a SecretProviderClass (its generation increases on every replace).
    pub fn put_class(&self, mut spc: SecretProviderClass) {
        let mut state = self.state();
        let k = key(&spc.namespace().unwrap_or_default(), &spc.name_any());
        let generation = state
            .classes
            .get(&k)
            .and_then(|c| c.metadata.generation)
            .map_or(1, |g| g + 1);
        spc.metadata.generation = Some(generation);
        spc.metadata.uid.get_or_insert_with(|| format!("spc-uid-{}", k.1));
        state.classes.insert(k, Arc::new(spc));
    }

    /// Remove a SecretProviderClass.
    pub fn delete_class(&self, namespace: &str, name: &str) {
        self.state().classes.remove(&key(namespace, name));
    }

    /// The service-account token issuer (`iss`) of minted tokens.
    pub fn set_issuer(&self, issuer: &str) {
        self.state().issuer = issuer.to_string();
    }

    /// Make a ServiceAccount exist.
    pub fn add_service_account(&self, namespace: &str, name: &str) {
        self.state().service_accounts.insert(key(namespace, name));
    }

    /// The SecretProviderClass, if it exists.
    pub fn class(&self, namespace: &str, name: &str) -> Option<SecretProviderClass> {
        self.state()
            .classes
            .get(&key(namespace, name))
            .map(|c| (**c).clone())
    }

    /// Whether the ServiceAccount exists.
    pub fn has_service_account(&self, namespace: &str, name: &str) -> bool {
        self.state().service_accounts.contains(&key(namespace, name))
    }

    /// The service-account token issuer (what `/.well-known/openid-configuration` names).
    pub fn issuer(&self) -> String {
        self.state().issuer.clone()
    }

    /// The Secret, if it exists.
    pub fn secret(&self, namespace: &str, name: &str) -> Option<Secret> {
        self.state().secrets.get(&key(namespace, name)).cloned()
    }

    /// Put a Secret as another actor would (a user, another controller).
    pub fn put_foreign_secret(&self, mut secret: Secret) {
        let mut state = self.state();
        state.resource_version += 1;
        secret.metadata.resource_version = Some(state.resource_version.to_string());
        let k = key(&secret.namespace().unwrap_or_default(), &secret.name_any());
        state.secrets.insert(k, secret);
    }

    /// Delete a Secret as a user would.
    pub fn delete_secret(&self, namespace: &str, name: &str) {
        let mut state = self.state();
        state.secrets.remove(&key(namespace, name));
        state.applied_keys.remove(&key(namespace, name));
    }

    /// Edit one data key of a Secret as a user would.
    pub fn edit_secret_data(&self, namespace: &str, name: &str, data_key: &str, value: &[u8]) {
        let mut state = self.state();
        state.resource_version += 1;
        let rv = state.resource_version.to_string();
        if let Some(secret) = state.secrets.get_mut(&key(namespace, name)) {
            secret
                .data
                .get_or_insert_with(BTreeMap::new)
                .insert(data_key.to_string(), k8s_openapi::ByteString(value.to_vec()));
            secret.metadata.resource_version = Some(rv);
        }
    }

    /// The last status written for a SecretSync.
    pub fn status(&self, namespace: &str, name: &str) -> Option<SecretSyncStatus> {
        self.state().statuses.get(&key(namespace, name)).cloned()
    }

    /// Add a workload that opted in to reloads.
    pub fn put_workload(&self, workload: crate::workload::Workload) {
        self.state().workloads.push(workload);
    }

    /// Every call so far.
    pub fn calls(&self) -> Vec<Call> {
        self.state().calls.clone()
    }

    /// Forget the call log.
    pub fn clear_calls(&self) {
        self.state().calls.clear();
    }

    /// Make every request of this kind fail with `error` (an admission denial, an outage…); `None` to stop.
    pub fn refuse(&self, request: Request, error: Option<ClusterError>) {
        let mut state = self.state();
        match error {
            Some(error) => state.refused.insert(request, error),
            None => state.refused.remove(&request),
        };
    }
}

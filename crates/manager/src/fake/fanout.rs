//! The double's side of fan-out: Secret deletes with a resourceVersion precondition, ClusterSecretSync
//! statuses and finalizer patches, as kube-apiserver answers them (observed on v1.32.13: a `DELETE` whose
//! precondition no longer holds is 409 `Conflict`, `Operation cannot be fulfilled on secrets "x": the
//! ResourceVersion in the precondition (…) does not match the ResourceVersion in record (…). The object might
//! have been modified`; a missing Secret is 404).

use kube::ResourceExt;
use sse_api::{ClusterSecretSync, ClusterSecretSyncStatus};

use super::{Call, FakeCluster, Request, State, key};
use crate::cluster::ClusterError;

impl State {
    pub(super) fn delete_secret(
        &mut self,
        namespace: &str,
        name: &str,
        resource_version: &str,
    ) -> Result<(), ClusterError> {
        let k = key(namespace, name);
        let answer = match (self.refused.get(&Request::DeleteSecret), self.secrets.get(&k)) {
            (Some(error), _) => Err(error.clone()),
            (None, None) => Err(ClusterError::not_found("secrets", name)),
            (None, Some(secret)) if secret.metadata.resource_version.as_deref() != Some(resource_version) => {
                Err(ClusterError::conflict("secrets", name))
            }
            (None, Some(_)) => {
                self.secrets.remove(&k);
                self.applied_keys.remove(&k);
                self.applied_meta.remove(&k);
                Ok(())
            }
        };
        let code = answer.as_ref().map_or_else(|e| e.code, |()| 200);
        self.calls
            .push(Call::DeleteSecret(format!("{namespace}/{name}"), code));
        answer
    }

    pub(super) fn write_cluster_status(
        &mut self,
        css: &ClusterSecretSync,
        status: &ClusterSecretSyncStatus,
    ) -> Result<(), ClusterError> {
        self.calls.push(Call::WriteClusterStatus(css.name_any()));
        if let Some(error) = self.refused.get(&Request::WriteClusterStatus) {
            return Err(error.clone());
        }
        self.cluster_statuses.insert(css.name_any(), status.clone());
        Ok(())
    }

    pub(super) fn patch_cluster_sync(
        &mut self,
        name: &str,
        patch: &json_patch::Patch,
    ) -> Result<(), ClusterError> {
        let answer = self.patch_cluster_sync_inner(name, patch);
        let code = answer.as_ref().map_or_else(|e| e.code, |()| 200);
        self.calls.push(Call::PatchClusterSync(name.to_string(), code));
        answer
    }

    fn patch_cluster_sync_inner(
        &mut self,
        name: &str,
        patch: &json_patch::Patch,
    ) -> Result<(), ClusterError> {
        if let Some(error) = self.refused.get(&Request::PatchClusterSync) {
            return Err(error.clone());
        }
        let css = self
            .cluster_syncs
            .get(name)
            .ok_or_else(|| ClusterError::not_found("clustersecretsyncs.sync.sse-rs.io", name))?;
        let mut doc =
            serde_json::to_value(css).map_err(|e| ClusterError::new(500, "InternalError", &e.to_string()))?;
        json_patch::patch(&mut doc, patch).map_err(|_| ClusterError::patch_not_applicable())?;
        let mut patched: ClusterSecretSync =
            serde_json::from_value(doc).map_err(|_| ClusterError::patch_not_applicable())?;
        if patched != *css {
            self.resource_version += 1;
            patched.metadata.resource_version = Some(self.resource_version.to_string());
        }
        // A deleted resource whose last finalizer went is gone.
        if patched.metadata.deletion_timestamp.is_some() && patched.finalizers().is_empty() {
            self.cluster_syncs.remove(name);
        } else {
            self.cluster_syncs.insert(name.to_string(), patched);
        }
        Ok(())
    }
}

impl FakeCluster {
    /// Create or replace a ClusterSecretSync as an administrator would (uid and generation set; the
    /// generation moves when the spec does).
    pub fn put_cluster_sync(&self, mut css: ClusterSecretSync) -> ClusterSecretSync {
        let mut state = self.state();
        let name = css.name_any();
        let previous = state.cluster_syncs.get(&name).cloned();
        css.metadata.uid = Some(
            previous
                .as_ref()
                .and_then(|p| p.metadata.uid.clone())
                .unwrap_or_else(|| format!("css-uid-{name}")),
        );
        css.metadata.generation = Some(match &previous {
            Some(p) if p.spec == css.spec => p.metadata.generation.unwrap_or(1),
            Some(p) => p.metadata.generation.unwrap_or(1) + 1,
            None => 1,
        });
        if let Some(p) = &previous {
            css.metadata.finalizers = p.metadata.finalizers.clone();
        }
        state.resource_version += 1;
        css.metadata.resource_version = Some(state.resource_version.to_string());
        state.cluster_syncs.insert(name, css.clone());
        css
    }

    /// The ClusterSecretSync as stored, with its status.
    pub fn cluster_sync(&self, name: &str) -> Option<ClusterSecretSync> {
        let state = self.state();
        state.cluster_syncs.get(name).map(|css| {
            let mut css = css.clone();
            css.status = state.cluster_statuses.get(name).cloned();
            css
        })
    }

    /// Mark the ClusterSecretSync deleted: gone at once without finalizers, else held until they are
    /// removed. Its Secrets' garbage collection is the test's to simulate ([`FakeCluster::collect_garbage`]).
    pub fn delete_cluster_sync(&self, name: &str) {
        let mut state = self.state();
        let Some(css) = state.cluster_syncs.get_mut(name) else {
            return;
        };
        if css.finalizers().is_empty() {
            state.cluster_syncs.remove(name);
            return;
        }
        css.metadata.deletion_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
            k8s_openapi::jiff::Timestamp::now(),
        ));
    }

    /// What the garbage collector does: delete every Secret whose owner references all name a uid that no
    /// longer exists among the ClusterSecretSyncs; answers how many it deleted.
    pub fn collect_garbage(&self) -> usize {
        let mut state = self.state();
        let live: std::collections::HashSet<String> = state
            .cluster_syncs
            .values()
            .filter_map(|c| c.metadata.uid.clone())
            .collect();
        let orphans: Vec<(String, String)> = state
            .secrets
            .iter()
            .filter(|(_, s)| {
                let owners = s.metadata.owner_references.clone().unwrap_or_default();
                !owners.is_empty()
                    && owners
                        .iter()
                        .all(|o| o.kind == sse_api::cluster_secret_sync::KIND && !live.contains(&o.uid))
            })
            .map(|(k, _)| k.clone())
            .collect();
        for k in &orphans {
            state.secrets.remove(k);
        }
        orphans.len()
    }
}

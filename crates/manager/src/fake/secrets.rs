//! The double's Secrets: patches and server-side apply as kube-apiserver evaluates them.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;

use super::{State, key};
use crate::cluster::{ClusterError, SecretPatch};

impl State {
    /// A patch as kube-apiserver evaluates it (the answers are in the module table).
    pub(super) fn patch(
        &mut self,
        namespace: &str,
        name: &str,
        patch: &SecretPatch,
    ) -> Result<String, ClusterError> {
        let k = key(namespace, name);
        let secret = self
            .secrets
            .get(&k)
            .ok_or_else(|| ClusterError::not_found("secrets", name))?;
        let stored_version = secret.metadata.resource_version.clone().unwrap_or_default();
        let mut doc = serde_json::to_value(secret)
            .map_err(|e| ClusterError::new(500, "InternalError", &e.to_string()))?;
        match patch {
            SecretPatch::Json(ops) => {
                json_patch::patch(&mut doc, ops).map_err(|_| ClusterError::patch_not_applicable())?;
            }
            SecretPatch::Merge(value) => json_patch::merge(&mut doc, value),
        }
        let patched: Secret =
            serde_json::from_value(doc).map_err(|_| ClusterError::patch_not_applicable())?;
        if patched.metadata.resource_version.as_deref() != Some(stored_version.as_str()) {
            return Err(ClusterError::conflict("secrets", name));
        }
        if patched.type_ != secret.type_ {
            return Err(immutable_type(name, &patched));
        }
        if &patched == secret {
            return Ok(stored_version);
        }
        self.resource_version += 1;
        let version = self.resource_version.to_string();
        let mut patched = patched;
        patched.metadata.resource_version = Some(version.clone());
        self.secrets.insert(k, patched);
        Ok(version)
    }

    /// A forced server-side apply as kube-apiserver evaluates it for the fields the manager sets.
    pub(super) fn apply(&mut self, secret: &Secret) -> Result<String, ClusterError> {
        let state = self;
        let namespace = secret.namespace().unwrap_or_default();
        let name = secret.name_any();
        let k = key(&namespace, &name);
        let applied: BTreeSet<String> = secret.data.iter().flatten().map(|(k, _)| k.clone()).collect();
        let previous_keys = state.applied_keys.get(&k).cloned().unwrap_or_default();
        let merged = match state.secrets.get(&k) {
            None => secret.clone(),
            Some(existing) => {
                if existing.type_ != secret.type_ {
                    return Err(immutable_type(&name, secret));
                }
                let mut merged = existing.clone();
                let data = merged.data.get_or_insert_with(BTreeMap::new);
                // Keys we applied before and no longer apply are removed; other managers' keys stay.
                for gone in previous_keys.difference(&applied) {
                    data.remove(gone);
                }
                for (k2, v) in secret.data.iter().flatten() {
                    data.insert(k2.clone(), v.clone());
                }
                let (old_labels, old_annotations) = state.applied_meta.get(&k).cloned().unwrap_or_default();
                let labels = merged.metadata.labels.get_or_insert_with(BTreeMap::new);
                let new_labels = secret.metadata.labels.clone().unwrap_or_default();
                labels.retain(|key, _| !old_labels.contains(key) || new_labels.contains_key(key));
                labels.extend(new_labels);
                let annotations = merged.metadata.annotations.get_or_insert_with(BTreeMap::new);
                let new_annotations = secret.metadata.annotations.clone().unwrap_or_default();
                annotations
                    .retain(|key, _| !old_annotations.contains(key) || new_annotations.contains_key(key));
                annotations.extend(new_annotations);
                if annotations.is_empty() {
                    merged.metadata.annotations = None;
                }
                merged.metadata.owner_references = secret.metadata.owner_references.clone();
                merged
            }
        };
        let mut merged = merged;
        merged.metadata.resource_version = state
            .secrets
            .get(&k)
            .and_then(|s| s.metadata.resource_version.clone());
        if state.secrets.get(&k) != Some(&merged) {
            state.resource_version += 1;
            merged.metadata.resource_version = Some(state.resource_version.to_string());
            state.secrets.insert(k.clone(), merged);
        }
        let version = state
            .secrets
            .get(&k)
            .and_then(|s| s.metadata.resource_version.clone())
            .unwrap_or_default();
        let meta =
            |m: &Option<BTreeMap<String, String>>| m.iter().flatten().map(|(k, _)| k.clone()).collect();
        state.applied_meta.insert(
            k.clone(),
            (meta(&secret.metadata.labels), meta(&secret.metadata.annotations)),
        );
        state.applied_keys.insert(k, applied);
        Ok(version)
    }
}

/// kube-apiserver's answer to a change of a Secret's `type`.
fn immutable_type(name: &str, secret: &Secret) -> ClusterError {
    ClusterError {
        has_details: true,
        ..ClusterError::new(
            422,
            "Invalid",
            &format!(
                "Secret {name:?} is invalid: type: Invalid value: {:?}: field is immutable",
                secret.type_.clone().unwrap_or_default()
            ),
        )
    }
}

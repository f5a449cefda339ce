//! The namespaces the fan-out selects from: a metadata-only watch ([`Watched`]; names, labels and whether
//! each is terminating, never an object inside), behind [`NamespaceView`] so that tier 2 can stand in for it.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use k8s_openapi::api::core::v1::Namespace as KubeNamespace;
use kube::core::PartialObjectMeta;
use kube::runtime::reflector::Store;

use super::select::Namespace;
use super::state::lock;

/// The namespaces as the manager knows them now.
pub trait NamespaceView: Send + Sync {
    /// Every namespace, by name.
    fn namespaces(&self) -> Vec<Namespace>;
}

/// The real view: a reflector's store of the namespaces' metadata.
pub struct Watched(pub Store<PartialObjectMeta<KubeNamespace>>);

impl NamespaceView for Watched {
    fn namespaces(&self) -> Vec<Namespace> {
        self.0
            .state()
            .iter()
            .filter_map(|ns| {
                Some(Namespace {
                    name: ns.metadata.name.as_deref()?.into(),
                    labels: ns.metadata.labels.clone().unwrap_or_default(),
                    terminating: ns.metadata.deletion_timestamp.is_some(),
                })
            })
            .collect()
    }
}

/// Namespaces a test sets (tier 2).
#[derive(Default, Clone)]
pub struct FixedNamespaces(Arc<Mutex<BTreeMap<String, Namespace>>>);

impl FixedNamespaces {
    /// Create or relabel a namespace.
    pub fn put(&self, name: &str, labels: &[(&str, &str)]) {
        let ns = Namespace {
            name: name.into(),
            labels: labels
                .iter()
                .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
                .collect(),
            terminating: false,
        };
        lock(&self.0).insert(name.to_string(), ns);
    }

    /// Delete a namespace.
    pub fn remove(&self, name: &str) {
        lock(&self.0).remove(name);
    }
}

impl NamespaceView for FixedNamespaces {
    fn namespaces(&self) -> Vec<Namespace> {
        lock(&self.0).values().cloned().collect()
    }
}

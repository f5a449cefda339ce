//! What the fan-out remembers of each ClusterSecretSync between reconciles: where its Secret is, at which
//! resourceVersion, and which namespaces fail. Small and secret-free (about 60 bytes per namespace beside its
//! name); a new term of leadership starts empty and sweeps.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

/// A namespace whose Secret could not be written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// Why (a closed set: `ForeignSecret` or a condition reason).
    pub reason: String,
    /// What happened (never a value).
    pub message: String,
    /// Since when it fails with this reason.
    pub since: SystemTime,
    /// Whether its Event was published.
    pub evented: bool,
    /// Whether retrying soon may help (a refusal by admission whose informers lag the namespace watch, a
    /// conflict, the API server away); a foreign Secret waits for the regular check.
    pub transient: bool,
}

/// One ClusterSecretSync's record.
#[derive(Debug, Default)]
pub struct Tracked {
    /// Namespaces holding its Secret at the values last fetched, and the Secret's resourceVersion then.
    pub written: BTreeMap<Arc<str>, String>,
    /// Namespaces whose write failed.
    pub failing: BTreeMap<Arc<str>, Failure>,
    /// Whether this term looked for its Secrets in every namespace it does not select (after a restart, a
    /// namespace may have left the selection while no manager was watching).
    pub swept: bool,
}

impl Tracked {
    /// A write to `namespace` succeeded: its Secret is at `resource_version`.
    pub fn succeeded(&mut self, namespace: &Arc<str>, resource_version: String) {
        self.failing.remove(namespace);
        self.written.insert(namespace.clone(), resource_version);
    }

    /// A write to `namespace` failed; a failure with the same reason keeps its start and its Event.
    pub fn failed(&mut self, namespace: &Arc<str>, failure: Failure) {
        self.written.remove(namespace);
        match self.failing.get_mut(namespace) {
            Some(old) if old.reason == failure.reason => old.message = failure.message,
            _ => {
                self.failing.insert(namespace.clone(), failure);
            }
        }
    }

    /// Forget `namespace` (its Secret is gone, or was never ours).
    pub fn forget(&mut self, namespace: &str) {
        self.written.remove(namespace);
        self.failing.remove(namespace);
    }
}

/// Every ClusterSecretSync's record, by uid (a resource deleted and re-created under the same name starts
/// afresh).
#[derive(Default)]
pub struct Records(Mutex<HashMap<String, Arc<Mutex<Tracked>>>>);

impl Records {
    /// The record of the resource with this uid.
    pub fn of(&self, uid: &str) -> Arc<Mutex<Tracked>> {
        lock(&self.0).entry(uid.to_string()).or_default().clone()
    }

    /// Drop the record of a resource that is gone.
    pub fn remove(&self, uid: &str) {
        lock(&self.0).remove(uid);
    }

    /// Drop the records of every resource not in `live` (deleted without a finalizer, so never reconciled
    /// again); answers their uids.
    pub fn retain(&self, live: &std::collections::HashSet<String>) -> Vec<String> {
        let mut records = lock(&self.0);
        let gone: Vec<String> = records
            .keys()
            .filter(|uid| !live.contains(*uid))
            .cloned()
            .collect();
        for uid in &gone {
            records.remove(uid);
        }
        gone
    }
}

/// The lock, even if a panicking holder poisoned it (the record stays consistent: every update is one
/// assignment).
pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

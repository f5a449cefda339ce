//! The double's AKVSync-generated objects and Leases, with the uid and resourceVersion preconditions
//! kube-apiserver checks. Answers observed on kube-apiserver v1.32.13 (curl, `POST`/`PATCH`/`DELETE`/`PUT`):
//!
//! | request                                             | answer                                                  |
//! |-----------------------------------------------------|---------------------------------------------------------|
//! | create of an existing SecretSync, class or Lease    | 409 `AlreadyExists`, `secretsyncs.secret-sync.x-k8s.io "x" already exists`, details |
//! | JSON patch whose `test` fails                        | 422 `Invalid`, [`PATCH_NOT_APPLICABLE`](crate::cluster::PATCH_NOT_APPLICABLE), `details: {}` |
//! | delete whose uid precondition differs               | 409 `Conflict`, `Operation cannot be fulfilled on SecretSync.secret-sync.x-k8s.io "x": the UID in the precondition (a) does not match the UID in record (b). The object might have been deleted and then recreated` |
//! | delete whose resourceVersion precondition differs   | 409 `Conflict`, `… the ResourceVersion in the precondition (a) does not match the ResourceVersion in record (b). The object might have been modified` |
//! | delete of a missing object                          | 404 `NotFound`, `secretsyncs.secret-sync.x-k8s.io "x" not found` |
//! | replace of a Lease with a stale resourceVersion     | 409 `Conflict`, `Operation cannot be fulfilled on leases.coordination.k8s.io "l": the object has been modified; …` |

use std::sync::Arc;

use k8s_openapi::api::coordination::v1::Lease;
use kube::ResourceExt;
use sse_api::{AkvSyncStatus, SecretSync};

use super::{FakeCluster, State, key};
use crate::cluster::{ClusterError, Generated, GeneratedKind};

const SYNCS: &str = "secretsyncs.secret-sync.x-k8s.io";
const CLASSES: &str = "secretproviderclasses.secrets-store.csi.x-k8s.io";
const LEASES: &str = "leases.coordination.k8s.io";

fn meta_mut(object: &mut Generated) -> &mut k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
    match object {
        Generated::Class(class) => &mut class.metadata,
        Generated::Sync(sync) => &mut sync.metadata,
    }
}

fn resource(kind: GeneratedKind) -> &'static str {
    match kind {
        GeneratedKind::Class => CLASSES,
        GeneratedKind::Sync => SYNCS,
    }
}

impl State {
    fn next_version(&mut self) -> String {
        self.resource_version += 1;
        self.resource_version.to_string()
    }

    /// The object as stored (a SecretSync with the status last written for it).
    pub(super) fn generated(&self, kind: GeneratedKind, namespace: &str, name: &str) -> Option<Generated> {
        let k = key(namespace, name);
        match kind {
            GeneratedKind::Class => self.classes.get(&k).map(|c| Generated::Class((**c).clone())),
            GeneratedKind::Sync => self.syncs.get(&k).map(|s| Generated::Sync(self.with_status(s))),
        }
    }

    /// `sync` with the status last written for it (kept apart, as the status subresource is).
    pub(super) fn with_status(&self, sync: &SecretSync) -> SecretSync {
        let mut sync = sync.clone();
        sync.status = self
            .statuses
            .get(&key(&sync.namespace().unwrap_or_default(), &sync.name_any()))
            .cloned();
        sync
    }

    /// Store `object` as created: a new uid, generation 1.
    pub(super) fn create_generated(&mut self, object: &Generated) -> Result<(), ClusterError> {
        let (kind, meta) = (object.kind(), object.meta());
        let (namespace, name) = (
            meta.namespace.clone().unwrap_or_default(),
            meta.name.clone().unwrap_or_default(),
        );
        if self.generated(kind, &namespace, &name).is_some() {
            return Err(ClusterError::already_exists(resource(kind), &name));
        }
        let version = self.next_version();
        let mut object = object.clone();
        let meta = meta_mut(&mut object);
        meta.uid = Some(format!("{}-uid-{name}-{version}", kind.as_str()));
        meta.resource_version = Some(version);
        meta.generation = Some(1);
        self.store(object);
        Ok(())
    }

    /// A JSON patch as kube-apiserver evaluates it: a failed `test` refuses the whole patch; a changed spec
    /// moves the generation.
    pub(super) fn patch_generated(
        &mut self,
        kind: GeneratedKind,
        namespace: &str,
        name: &str,
        patch: &json_patch::Patch,
    ) -> Result<(), ClusterError> {
        let stored = self
            .generated(kind, namespace, name)
            .ok_or_else(|| ClusterError::not_found(resource(kind), name))?;
        let internal = |e: serde_json::Error| ClusterError::new(500, "InternalError", &e.to_string());
        let mut doc = match &stored {
            Generated::Class(class) => serde_json::to_value(class),
            Generated::Sync(sync) => serde_json::to_value(sync),
        }
        .map_err(internal)?;
        json_patch::patch(&mut doc, patch).map_err(|_| ClusterError::patch_not_applicable())?;
        let patched = match kind {
            GeneratedKind::Class => serde_json::from_value(doc).map(Generated::Class),
            GeneratedKind::Sync => serde_json::from_value(doc).map(Generated::Sync),
        }
        .map_err(|_| ClusterError::patch_not_applicable())?;
        if patched != stored {
            self.replace(&stored.spec(), patched);
        }
        Ok(())
    }

    /// Store `object` as written over a stored one whose spec was `spec`: a new resourceVersion, and a new
    /// generation when the spec changed.
    fn replace(&mut self, spec: &serde_json::Value, mut object: Generated) {
        let (version, spec_changed) = (self.next_version(), object.spec() != *spec);
        let meta = meta_mut(&mut object);
        meta.resource_version = Some(version);
        if spec_changed {
            meta.generation = Some(meta.generation.unwrap_or(1) + 1);
        }
        self.store(object);
    }

    /// Delete a SecretSync if the preconditions hold.
    pub(super) fn delete_generated_sync(
        &mut self,
        namespace: &str,
        name: &str,
        uid: &str,
        resource_version: &str,
    ) -> Result<(), ClusterError> {
        let k = key(namespace, name);
        let stored = self
            .syncs
            .get(&k)
            .ok_or_else(|| ClusterError::not_found(SYNCS, name))?;
        let precondition = |what: &str, wanted: &str, actual: Option<String>, tail: &str| {
            let actual = actual.unwrap_or_default();
            (wanted != actual).then(|| {
                ClusterError {
                    has_details: true,
                    ..ClusterError::new(
                        409,
                        "Conflict",
                        &format!(
                            "Operation cannot be fulfilled on SecretSync.secret-sync.x-k8s.io {name:?}: the {what} in the precondition ({wanted}) does not match the {what} in record ({actual}). The object might have been {tail}"
                        ),
                    )
                }
            })
        };
        if let Some(error) =
            precondition("UID", uid, stored.uid(), "deleted and then recreated").or_else(|| {
                precondition(
                    "ResourceVersion",
                    resource_version,
                    stored.resource_version(),
                    "modified",
                )
            })
        {
            return Err(error);
        }
        self.syncs.remove(&k);
        self.statuses.remove(&k);
        Ok(())
    }

    fn store(&mut self, object: Generated) {
        match object {
            Generated::Class(class) => {
                let k = key(&class.namespace().unwrap_or_default(), &class.name_any());
                self.classes.insert(k, Arc::new(class));
            }
            Generated::Sync(mut sync) => {
                // The status lives beside the object, as the status subresource does.
                sync.status = None;
                let k = key(&sync.namespace().unwrap_or_default(), &sync.name_any());
                self.syncs.insert(k, sync);
            }
        }
    }

    /// Create a Lease (409 when it exists).
    pub(super) fn create_lease(&mut self, namespace: &str, lease: &Lease) -> Result<(), ClusterError> {
        let k = key(namespace, &lease.name_any());
        if self.leases.contains_key(&k) {
            return Err(ClusterError::already_exists(LEASES, &k.1));
        }
        let mut lease = lease.clone();
        lease.metadata.resource_version = Some(self.next_version());
        self.leases.insert(k, lease);
        Ok(())
    }

    /// Replace a Lease, pinned to its resourceVersion.
    pub(super) fn replace_lease(&mut self, namespace: &str, lease: &Lease) -> Result<(), ClusterError> {
        let k = key(namespace, &lease.name_any());
        let stored = self
            .leases
            .get(&k)
            .ok_or_else(|| ClusterError::not_found(LEASES, &k.1))?;
        if stored.metadata.resource_version != lease.metadata.resource_version {
            return Err(ClusterError::conflict(LEASES, &k.1));
        }
        let mut lease = lease.clone();
        lease.metadata.resource_version = Some(self.next_version());
        self.leases.insert(k, lease);
        Ok(())
    }
}

impl FakeCluster {
    /// Create a SecretSync as a user would (no AKVSync's: unlabelled, no owner).
    pub fn put_sync(&self, sync: &SecretSync) -> Result<(), ClusterError> {
        self.state().create_generated(&Generated::Sync(sync.clone()))
    }

    /// The object as stored, if it exists (a SecretSync with its status).
    pub fn generated_object(&self, kind: GeneratedKind, namespace: &str, name: &str) -> Option<Generated> {
        self.state().generated(kind, namespace, name)
    }

    /// Edit a stored object as a user would (a `kubectl edit`: the resourceVersion moves).
    pub fn edit_generated(
        &self,
        kind: GeneratedKind,
        namespace: &str,
        name: &str,
        edit: impl FnOnce(&mut Generated),
    ) {
        let mut state = self.state();
        if let Some(mut object) = state.generated(kind, namespace, name) {
            let spec = object.spec();
            edit(&mut object);
            state.replace(&spec, object);
        }
    }

    /// The last status written for an AKVSync.
    pub fn akvsync_status(&self, namespace: &str, name: &str) -> Option<AkvSyncStatus> {
        self.state().akv_statuses.get(&key(namespace, name)).cloned()
    }

    /// The Lease, if it exists.
    pub fn stored_lease(&self, namespace: &str, name: &str) -> Option<Lease> {
        self.state().leases.get(&key(namespace, name)).cloned()
    }
}

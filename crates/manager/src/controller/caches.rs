//! The caches the controller reads, each driven by a task of its own (see the module above), and the
//! index from a SecretProviderClass to the SecretSyncs that name it.

use std::collections::HashMap;

use futures::{Stream, StreamExt};
use kube::ResourceExt;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use sse_api::{SecretProviderClass, SecretSync, consts};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::Triggers;

/// Objects per page of the initial lists. A page is read whole, with every object's `managedFields`, before
/// the caches slim it: a manager started over 10,000 existing SecretSyncs peaked at 68.8 MiB RSS with the
/// watcher's default of 500 and at 59.5 MiB with 100 (deploy/README.md).
pub(super) const LIST_PAGE: u32 = 100;

/// What happened to an object a driver saw.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Change {
    /// Part of the first list, before the controller starts.
    Listed,
    /// Created or updated (or re-listed after the watch restarted).
    Applied,
    /// Deleted.
    Deleted,
}

/// Poll a reflected watch stream in a task of its own until `shutdown`, calling `on_change` for every
/// object listed, applied or deleted (after the store has it); the returned flag turns true once the first
/// list is complete.
pub(crate) fn drive<K, S>(
    what: &'static str,
    stream: S,
    shutdown: CancellationToken,
    on_change: impl Fn(&K, Change) + Send + 'static,
) -> watch::Receiver<bool>
where
    K: Send + 'static,
    S: Stream<Item = Result<watcher::Event<K>, watcher::Error>> + Send + 'static,
{
    let (listed, rx) = watch::channel(false);
    tokio::spawn(async move {
        let mut stream = std::pin::pin!(stream);
        loop {
            let event = tokio::select! {
                () = shutdown.cancelled() => return,
                event = stream.next() => event,
            };
            match event {
                None => return,
                Some(Ok(watcher::Event::InitDone)) => {
                    listed.send_replace(true);
                }
                Some(Ok(watcher::Event::InitApply(obj))) if !*listed.borrow() => {
                    on_change(&obj, Change::Listed)
                }
                Some(Ok(watcher::Event::Apply(obj) | watcher::Event::InitApply(obj))) => {
                    on_change(&obj, Change::Applied);
                }
                Some(Ok(watcher::Event::Delete(obj))) => on_change(&obj, Change::Deleted),
                Some(Ok(watcher::Event::Init)) => {}
                Some(Err(error)) => tracing::warn!(%error, "{what} watch failed; retrying"),
            }
        }
    });
    rx
}

/// What the SecretSync cache keeps of an object's metadata: what a reconcile reads (name, namespace, uid,
/// generation, deletion, our own annotations). Not `managedFields`, kubectl's last-applied copy, labels,
/// owners, finalizers or the resourceVersion (the watch keeps its own): at 10,000 SecretSyncs every string
/// kept here costs about half a MiB.
pub(super) fn slim(sync: &mut SecretSync) {
    let meta = &mut sync.metadata;
    meta.managed_fields = None;
    meta.labels = None;
    meta.owner_references = None;
    meta.finalizers = None;
    meta.resource_version = None;
    meta.generate_name = None;
    meta.self_link = None;
    meta.creation_timestamp = None;
    if let Some(annotations) = meta.annotations.as_mut() {
        annotations.retain(|key, _| key.starts_with(consts::ANNOTATION_PREFIX));
    }
    if meta.annotations.as_ref().is_some_and(|a| a.is_empty()) {
        meta.annotations = None;
    }
}

/// The reference a trigger carries: namespace and name only. `ObjectRef::from_obj` would also copy the
/// resourceVersion and uid, which kube-runtime's scheduler then keeps twice per pending SecretSync.
pub(super) fn trigger(sync: &SecretSync) -> ObjectRef<SecretSync> {
    let reference = ObjectRef::new(&sync.name_any());
    match sync.namespace() {
        Some(namespace) => reference.within(&namespace),
        None => reference,
    }
}

/// Trigger every SecretSync in `syncs` that names `spc` (same namespace).
/// Which SecretSyncs name each class (`namespace/class` → SecretSync names), so a class event triggers its
/// users without a pass over every SecretSync. That pass made a burst quadratic: with 100,000 pairs
/// created at once on a real API server, the manager kept a core busy scanning and its class triggers fell
/// more than 20 minutes behind, so a quarter of the SecretSyncs, reconciled before their class reached the
/// cache, waited an hour for their next check. Entries are added as SecretSyncs are seen and checked
/// against the store when used: a SecretSync that moved to another class leaves the old list then.
/// A list, not a set: one class per SecretSync is the usual layout, where a set's table would cost
/// about 70 bytes more per SecretSync; a class shared by n SecretSyncs costs a scan of n names per event
/// of one of them (10,000 sharing one class: about 50 ms of scans for a burst creating all of them).
#[derive(Default)]
pub(super) struct Users(std::sync::Mutex<HashMap<Box<str>, Vec<Box<str>>>>);

impl Users {
    pub(super) fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Box<str>, Vec<Box<str>>>> {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn key(namespace: &str, class: &str) -> Box<str> {
        format!("{namespace}/{class}").into()
    }

    /// `sync` exists (created, updated or listed) and names its class.
    pub(super) fn seen(&self, sync: &SecretSync) {
        let key = Self::key(
            &sync.namespace().unwrap_or_default(),
            &sync.spec.secret_provider_class_name,
        );
        let name = sync.name_any();
        let mut map = self.lock();
        let users = map.entry(key).or_default();
        if !users.iter().any(|u| **u == *name) {
            users.push(name.into());
        }
    }

    /// `sync` was deleted.
    pub(super) fn gone(&self, sync: &SecretSync) {
        let key = Self::key(
            &sync.namespace().unwrap_or_default(),
            &sync.spec.secret_provider_class_name,
        );
        let mut map = self.lock();
        if let Some(users) = map.get_mut(&key) {
            users.retain(|u| **u != *sync.name_any());
            if users.is_empty() {
                map.remove(&key);
            }
        }
    }

    /// Trigger every SecretSync of `spc`'s namespace that names it (as the store has it now).
    pub(super) fn trigger(&self, syncs: &Store<SecretSync>, spc: &SecretProviderClass, triggers: &Triggers) {
        let (namespace, class) = (spc.namespace().unwrap_or_default(), spc.name_any());
        let key = Self::key(&namespace, &class);
        let mut map = self.lock();
        let Some(users) = map.get_mut(&key) else {
            return;
        };
        users.retain(|name| {
            let reference = ObjectRef::<SecretSync>::new(name).within(&namespace);
            match syncs.get(&reference) {
                Some(sync) if sync.spec.secret_provider_class_name == class => {
                    let _ = triggers.unbounded_send(trigger(&sync));
                    true
                }
                _ => false,
            }
        });
        if users.is_empty() {
            map.remove(&key);
        }
    }
}

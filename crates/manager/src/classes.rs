//! The SecretProviderClass cache: what a reconcile reads of each class, and nothing else.
//!
//! A reconcile reads a class's name, namespace, uid, generation, `provider` and `parameters`. Kept as a
//! whole `SecretProviderClass` in a kube-runtime store, a class cost about 1.5 KiB of heap (a 456-byte object
//! plus a map node and one allocation per parameter key and value, plus the store's key); kept here as one
//! compact JSON document under one key it costs about 0.4 KiB. With one class per SecretSync, the usual
//! layout, that is the largest single saving in the manager's memory (issue 9: 10,000 SecretSyncs must fit
//! in 64 MiB). A lookup decodes the document into a fresh object, a few microseconds once per reconcile.
//!
//! The cache follows a watch stream exactly as kube-runtime's reflector does: a (re-)list is gathered aside
//! and replaces the contents only when complete, so a restarted watch never shows a half-filled cache.

use std::collections::HashMap;
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use kube::ResourceExt;
use kube::api::ObjectMeta;
use kube::runtime::watcher;
use sse_api::{SecretProviderClass, SecretProviderClassSpec};

/// Keyed by `namespace/name`; the value is the class as [`kept`] writes it.
type Map = HashMap<Box<str>, Box<str>>;

#[derive(Default)]
struct State {
    current: Map,
    /// A list in progress (between `Init` and `InitDone`).
    listing: Option<Map>,
}

/// The cache (cheap to share behind an `Arc`), and whether it has held a full list.
pub struct Classes(RwLock<State>, tokio::sync::watch::Sender<bool>);

impl Default for Classes {
    fn default() -> Self {
        Self(RwLock::default(), tokio::sync::watch::Sender::new(false))
    }
}

impl Classes {
    fn read(&self) -> RwLockReadGuard<'_, State> {
        self.0.read().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.0.write().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Follow one event of a SecretProviderClass watch.
    pub fn apply(&self, event: &watcher::Event<SecretProviderClass>) {
        let mut state = self.write();
        match event {
            watcher::Event::Init => state.listing = Some(Map::new()),
            watcher::Event::InitApply(spc) => {
                let (key, value) = (key_of(spc), kept(spc));
                match state.listing.as_mut() {
                    Some(listing) => listing.insert(key, value),
                    None => state.current.insert(key, value),
                };
            }
            watcher::Event::InitDone => {
                if let Some(listing) = state.listing.take() {
                    state.current = listing;
                    state.current.shrink_to_fit();
                }
                self.1.send_replace(true);
            }
            watcher::Event::Apply(spc) => {
                state.current.insert(key_of(spc), kept(spc));
            }
            watcher::Event::Delete(spc) => {
                state.current.remove(key_of(spc).as_ref());
            }
        }
    }

    /// The class `namespace/name`, as far as a reconcile reads it.
    pub fn get(&self, namespace: &str, name: &str) -> Result<Option<SecretProviderClass>, serde_json::Error> {
        let state = self.read();
        state
            .current
            .get(format!("{namespace}/{name}").as_str())
            .map(|kept| serde_json::from_str(kept))
            .transpose()
    }

    /// Wait until the cache has held a full list once (an empty cache is not "not found"); `false` when it
    /// never will (the cache is gone).
    pub async fn listed(&self) -> bool {
        self.1.subscribe().wait_for(|listed| *listed).await.is_ok()
    }

    /// How many classes the cache holds.
    pub fn len(&self) -> usize {
        self.read().current.len()
    }

    /// Whether the cache holds no class.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn key_of(spc: &SecretProviderClass) -> Box<str> {
    format!("{}/{}", spc.namespace().unwrap_or_default(), spc.name_any()).into()
}

/// What is kept of a class: the fields a reconcile reads, as one JSON document (one allocation).
fn kept(spc: &SecretProviderClass) -> Box<str> {
    let slim = SecretProviderClass {
        metadata: ObjectMeta {
            name: spc.metadata.name.clone(),
            namespace: spc.metadata.namespace.clone(),
            uid: spc.metadata.uid.clone(),
            generation: spc.metadata.generation,
            ..ObjectMeta::default()
        },
        spec: SecretProviderClassSpec {
            provider: spc.spec.provider.clone(),
            parameters: spc.spec.parameters.clone(),
            secret_objects: None,
        },
    };
    // Serialising plain strings and maps into a String cannot fail.
    serde_json::to_string(&slim).unwrap_or_default().into_boxed_str()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use watcher::Event;

    use super::*;

    fn spc(name: &str, vault: &str) -> SecretProviderClass {
        let mut spc = SecretProviderClass::new(
            name,
            SecretProviderClassSpec {
                provider: Some("azure".into()),
                parameters: Some(BTreeMap::from([("keyvaultName".into(), vault.into())])),
                secret_objects: Some(vec![Default::default()]),
            },
        );
        spc.metadata.namespace = Some("ns".into());
        spc.metadata.uid = Some(format!("uid-{name}"));
        spc.metadata.generation = Some(3);
        spc.metadata.resource_version = Some("42".into());
        spc.metadata.labels = Some(BTreeMap::from([("team".into(), "a".into())]));
        spc
    }

    fn vault(classes: &Classes, name: &str) -> Option<String> {
        classes
            .get("ns", name)
            .unwrap()
            .and_then(|c| c.spec.parameters)
            .and_then(|p| p.get("keyvaultName").cloned())
    }

    #[test]
    fn keeps_what_a_reconcile_reads_and_nothing_else() {
        let classes = Classes::default();
        classes.apply(&Event::Apply(spc("a", "v1")));
        let got = classes.get("ns", "a").unwrap().unwrap();
        assert_eq!(got.name_any(), "a");
        assert_eq!(got.namespace().as_deref(), Some("ns"));
        assert_eq!(got.uid().as_deref(), Some("uid-a"));
        assert_eq!(got.metadata.generation, Some(3));
        assert_eq!(got.spec.provider.as_deref(), Some("azure"));
        assert_eq!(vault(&classes, "a").as_deref(), Some("v1"));
        assert!(got.metadata.labels.is_none() && got.metadata.resource_version.is_none());
        assert!(got.spec.secret_objects.is_none());
        assert!(classes.get("ns", "b").unwrap().is_none());
        assert!(classes.get("other", "a").unwrap().is_none());
    }

    #[test]
    fn follows_updates_and_deletes() {
        let classes = Classes::default();
        classes.apply(&Event::Apply(spc("a", "v1")));
        classes.apply(&Event::Apply(spc("a", "v2")));
        assert_eq!(vault(&classes, "a").as_deref(), Some("v2"));
        classes.apply(&Event::Delete(spc("a", "v2")));
        assert!(classes.get("ns", "a").unwrap().is_none());
        assert!(classes.is_empty());
    }

    /// A re-list replaces the contents only once complete: until then the old contents answer, and a class
    /// deleted while the watch was down is gone afterwards.
    #[test]
    fn a_relist_replaces_the_contents_when_complete() {
        let classes = Classes::default();
        classes.apply(&Event::Apply(spc("old", "v1")));
        classes.apply(&Event::Init);
        classes.apply(&Event::InitApply(spc("new", "v2")));
        assert_eq!(vault(&classes, "old").as_deref(), Some("v1"));
        assert!(classes.get("ns", "new").unwrap().is_none());
        classes.apply(&Event::InitDone);
        assert!(classes.get("ns", "old").unwrap().is_none());
        assert_eq!(vault(&classes, "new").as_deref(), Some("v2"));
        assert_eq!(classes.len(), 1);
    }
}

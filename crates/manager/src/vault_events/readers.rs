//! Which SecretProviderClasses read each vault object: the index that turns one event into the classes to
//! check, in O(readers) per event, never a pass over every class or SecretSync.
//!
//! Kept from the class watch, as the class cache is ([`crate::classes`]): for an Azure class, its
//! `keyvaultName` and each `objects` entry's type and name; an entry pinned to a version
//! (`objectVersion`) is left out, since a new version never changes what it mounts. From a class, the
//! controller's own index of which SecretSyncs name it leads to the SecretSyncs to check.

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, MutexGuard};

use kube::ResourceExt;
use kube::runtime::watcher;
use provider_proto::contract::{Objects, attributes::OBJECTS, azure::KEYVAULT_NAME};
use sse_api::SecretProviderClass;

use super::news::News;
use crate::scope::AZURE;

/// `(vault, object name)`, both lower case.
type ObjectKey = (Box<str>, Box<str>);

/// One object entry of one class.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Reader {
    /// `namespace/name` of the class.
    class: Box<str>,
    /// The entry's `objectType` (`secret`, `key`, `cert`), lower case.
    spc_type: Box<str>,
    /// `objectType/objectName` as the class writes it: the id the provider answers fingerprints under.
    id: Box<str>,
}

#[derive(Default)]
struct State {
    by_object: HashMap<ObjectKey, Vec<Reader>>,
    by_class: HashMap<Box<str>, Vec<ObjectKey>>,
    /// Classes seen by a (re-)list in progress; the others are gone once it is done.
    listing: Option<HashSet<Box<str>>>,
}

/// The index (cheap to share behind an `Arc`).
#[derive(Default)]
pub struct Readers(Mutex<State>);

/// The classes that read an object an event names, with the ids to ask afresh in each.
pub type Classes = Vec<(Box<str>, Vec<String>)>;

impl Readers {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Follow one event of the SecretProviderClass watch.
    pub fn apply(&self, event: &watcher::Event<SecretProviderClass>) {
        let mut state = self.lock();
        match event {
            watcher::Event::Init => state.listing = Some(HashSet::new()),
            watcher::Event::InitApply(spc) | watcher::Event::Apply(spc) => {
                let class = class_key(spc);
                if let Some(listing) = state.listing.as_mut() {
                    listing.insert(class.clone());
                }
                state.remove(&class);
                state.insert(class, spc);
            }
            watcher::Event::InitDone => {
                if let Some(seen) = state.listing.take() {
                    let gone: Vec<Box<str>> = state
                        .by_class
                        .keys()
                        .filter(|c| !seen.contains(*c))
                        .cloned()
                        .collect();
                    for class in gone {
                        state.remove(&class);
                    }
                }
            }
            watcher::Event::Delete(spc) => state.remove(&class_key(spc)),
        }
    }

    /// The classes reading the object `news` is about, each with the ids of its entries for it.
    pub fn of(&self, news: &News) -> Classes {
        let state = self.lock();
        let key: ObjectKey = (news.vault.as_str().into(), news.name.as_str().into());
        let mut classes: Classes = Vec::new();
        for reader in state.by_object.get(&key).into_iter().flatten() {
            if !news.object_type.touches(&reader.spc_type) {
                continue;
            }
            match classes.iter_mut().find(|(class, _)| *class == reader.class) {
                Some((_, ids)) => ids.push(reader.id.to_string()),
                None => classes.push((reader.class.clone(), vec![reader.id.to_string()])),
            }
        }
        classes
    }

    /// How many objects are indexed (a gauge for sizing).
    pub fn len(&self) -> usize {
        self.lock().by_object.len()
    }

    /// Whether nothing is indexed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl State {
    fn remove(&mut self, class: &str) {
        for key in self.by_class.remove(class).into_iter().flatten() {
            if let Some(readers) = self.by_object.get_mut(&key) {
                readers.retain(|r| &*r.class != class);
                if readers.is_empty() {
                    self.by_object.remove(&key);
                }
            }
        }
    }

    fn insert(&mut self, class: Box<str>, spc: &SecretProviderClass) {
        let entries = entries(spc);
        if entries.is_empty() {
            return;
        }
        let mut keys = Vec::with_capacity(entries.len());
        for (key, spc_type, id) in entries {
            self.by_object.entry(key.clone()).or_default().push(Reader {
                class: class.clone(),
                spc_type,
                id,
            });
            keys.push(key);
        }
        self.by_class.insert(class, keys);
    }
}

fn class_key(spc: &SecretProviderClass) -> Box<str> {
    format!("{}/{}", spc.namespace().unwrap_or_default(), spc.name_any()).into()
}

/// The unpinned objects an Azure class reads: `((vault, name), type, id)`. Nothing for another provider,
/// or when the parameters cannot be read (the class's own sync reports that).
fn entries(spc: &SecretProviderClass) -> Vec<(ObjectKey, Box<str>, Box<str>)> {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Entry {
        object_name: Option<String>,
        object_type: Option<String>,
        object_version: Option<String>,
    }
    if spc.spec.provider.as_deref() != Some(AZURE) {
        return Vec::new();
    }
    let Some(parameters) = spc.spec.parameters.as_ref() else {
        return Vec::new();
    };
    let Some(vault) = parameters
        .get(KEYVAULT_NAME)
        .map(|v| v.trim().to_ascii_lowercase())
    else {
        return Vec::new();
    };
    let Some(objects) = parameters.get(OBJECTS).and_then(|y| Objects::parse(y).ok()) else {
        return Vec::new();
    };
    objects
        .array
        .iter()
        .filter_map(|entry| serde_yaml_ng::from_str::<Entry>(entry).ok())
        .filter(|e| e.object_version.as_deref().is_none_or(|v| v.trim().is_empty()))
        .filter_map(|e| {
            let name = e.object_name.filter(|n| !n.trim().is_empty())?;
            let spc_type = e.object_type.unwrap_or_default().trim().to_ascii_lowercase();
            let id: Box<str> = format!("{spc_type}/{name}").into();
            let key = (vault.as_str().into(), name.trim().to_ascii_lowercase().into());
            Some((key, spc_type.into(), id))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use kube::api::ObjectMeta;
    use sse_api::SecretProviderClassSpec;

    use super::*;
    use crate::vault_events::news::{Kind, ObjectType};

    fn class(name: &str, vault: &str, objects: &[&str]) -> SecretProviderClass {
        let objects = Objects::new(objects.iter().map(|o| o.to_string())).to_yaml();
        SecretProviderClass {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some("ns".into()),
                ..ObjectMeta::default()
            },
            spec: SecretProviderClassSpec {
                provider: Some(AZURE.into()),
                parameters: Some(BTreeMap::from([
                    (KEYVAULT_NAME.to_string(), vault.to_string()),
                    (OBJECTS.to_string(), objects),
                ])),
                ..SecretProviderClassSpec::default()
            },
        }
    }

    fn news(object_type: ObjectType, vault: &str, name: &str) -> News {
        News {
            kind: Kind::NewVersion,
            object_type,
            vault: vault.into(),
            name: name.into(),
            version: "v".into(),
        }
    }

    fn classes(readers: &Readers, news: &News) -> Vec<(String, Vec<String>)> {
        let mut found: Vec<_> = readers
            .of(news)
            .into_iter()
            .map(|(c, ids)| (c.to_string(), ids))
            .collect();
        found.sort();
        found
    }

    #[test]
    fn an_event_finds_the_classes_reading_its_object_and_no_other() {
        let readers = Readers::default();
        readers.apply(&watcher::Event::Apply(class(
            "a",
            "Vault1",
            &[
                "objectName: DB\nobjectType: secret",
                "objectName: other\nobjectType: secret",
            ],
        )));
        readers.apply(&watcher::Event::Apply(class(
            "b",
            "vault1",
            &["objectName: db\nobjectType: secret"],
        )));
        readers.apply(&watcher::Event::Apply(class(
            "c",
            "vault2",
            &["objectName: db\nobjectType: secret"],
        )));
        readers.apply(&watcher::Event::Apply(class(
            "pinned",
            "vault1",
            &["objectName: db\nobjectType: secret\nobjectVersion: abc"],
        )));
        assert_eq!(
            classes(&readers, &news(ObjectType::Secret, "vault1", "db")),
            vec![
                ("ns/a".to_string(), vec!["secret/DB".to_string()]),
                ("ns/b".to_string(), vec!["secret/db".to_string()]),
            ]
        );
        assert!(
            classes(&readers, &news(ObjectType::Key, "vault1", "db")).is_empty(),
            "a key of the same name"
        );
        assert!(classes(&readers, &news(ObjectType::Secret, "vault1", "nobody")).is_empty());
    }

    #[test]
    fn a_certificate_event_reaches_its_secret_and_key_entries() {
        let readers = Readers::default();
        readers.apply(&watcher::Event::Apply(class(
            "tls",
            "v",
            &[
                "objectName: web\nobjectType: secret",
                "objectName: web\nobjectType: cert",
            ],
        )));
        assert_eq!(
            classes(&readers, &news(ObjectType::Certificate, "v", "web")),
            vec![(
                "ns/tls".to_string(),
                vec!["secret/web".to_string(), "cert/web".to_string()]
            )]
        );
    }

    #[test]
    fn an_edit_a_deletion_and_a_relist_keep_the_index_exact() {
        let readers = Readers::default();
        readers.apply(&watcher::Event::Apply(class(
            "a",
            "v",
            &["objectName: x\nobjectType: secret"],
        )));
        readers.apply(&watcher::Event::Apply(class(
            "a",
            "v",
            &["objectName: y\nobjectType: secret"],
        )));
        assert!(
            classes(&readers, &news(ObjectType::Secret, "v", "x")).is_empty(),
            "the edit moved it"
        );
        assert_eq!(classes(&readers, &news(ObjectType::Secret, "v", "y")).len(), 1);
        readers.apply(&watcher::Event::Delete(class("a", "v", &[])));
        assert!(readers.is_empty());
        readers.apply(&watcher::Event::Apply(class(
            "gone",
            "v",
            &["objectName: x\nobjectType: secret"],
        )));
        readers.apply(&watcher::Event::Init);
        readers.apply(&watcher::Event::InitApply(class(
            "kept",
            "v",
            &["objectName: x\nobjectType: secret"],
        )));
        readers.apply(&watcher::Event::InitDone);
        assert_eq!(
            classes(&readers, &news(ObjectType::Secret, "v", "x")),
            vec![("ns/kept".to_string(), vec!["secret/x".to_string()])],
            "a class deleted while the watch was away is forgotten at the relist"
        );
    }
}

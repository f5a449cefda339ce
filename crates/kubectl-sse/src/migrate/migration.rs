//! What migrate makes of its inputs: per source object a [`Migration`], the generated objects and the
//! [`Note`]s on what was not carried over. [`migrate`] translates the ExternalSecrets and the
//! SecretProviderClasses, then keeps one source per generated object.

use std::collections::BTreeMap;

use serde::Serialize;
use sse_api::consts::{SECRET_PROVIDER_CLASS_KIND, SECRET_SYNC_KIND};
use sse_api::{SecretProviderClass, SecretSync, SecretSyncSpec};

use super::input::Inputs;
use super::lenient::Metadata;
use super::{csi, eso};

/// The provider name of the Azure Key Vault provider (the SecretProviderClass's `spec.provider`).
pub(super) const AZURE_PROVIDER: &str = "azure";

/// Something that could not be carried over, or (`check`) a choice migrate made that needs a look.
#[derive(Serialize, Clone, Debug, PartialEq, Eq)]
pub struct Note {
    /// The source object: `ExternalSecret ns/name` or `SecretProviderClass ns/name`.
    pub source: String,
    /// The field of the source (or of the store it uses) that is concerned.
    pub field: String,
    /// Why it is not carried over, and what to do instead.
    pub reason: String,
    /// Carried over, with a choice to check (does not make the exit code 2).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub check: bool,
}

/// A generated object.
#[derive(Serialize, Clone, Debug)]
#[serde(untagged)]
pub enum Resource {
    /// The SecretProviderClass the SecretSyncs use.
    SecretProviderClass(Box<SecretProviderClass>),
    /// A SecretSync.
    SecretSync(Box<SecretSync>),
}

impl Resource {
    /// Kind, namespace and name.
    fn identity(&self) -> (&'static str, Option<String>, String) {
        let (kind, metadata) = match self {
            Self::SecretProviderClass(class) => (SECRET_PROVIDER_CLASS_KIND, &class.metadata),
            Self::SecretSync(sync) => (SECRET_SYNC_KIND, &sync.metadata),
        };
        (
            kind,
            metadata.namespace.clone(),
            metadata.name.clone().unwrap_or_default(),
        )
    }
}

/// What one source object became.
#[derive(Clone, Debug)]
pub struct Migration {
    /// `ExternalSecret ns/name` or `SecretProviderClass ns/name`.
    pub source: String,
    /// The generated objects, in the order to apply them (the SecretProviderClass first).
    pub resources: Vec<Resource>,
    /// What could not be carried over.
    pub notes: Vec<Note>,
}

/// The notes of one source object, as they are found.
pub(super) struct Notes {
    source: String,
    pub(super) list: Vec<Note>,
}

impl Notes {
    pub(super) fn new(source: String) -> Self {
        Self {
            source,
            list: Vec::new(),
        }
    }

    pub(super) fn add(&mut self, field: impl Into<String>, reason: impl Into<String>) {
        self.list.push(Note {
            source: self.source.clone(),
            field: field.into(),
            reason: reason.into(),
            check: false,
        });
    }

    /// A choice made while carrying `field` over, for the reader to check.
    pub(super) fn check(&mut self, field: impl Into<String>, reason: impl Into<String>) {
        self.list.push(Note {
            source: self.source.clone(),
            field: field.into(),
            reason: reason.into(),
            check: true,
        });
    }

    pub(super) fn finish(self, resources: Vec<Resource>) -> Migration {
        Migration {
            source: self.source,
            resources,
            notes: self.list,
        }
    }
}

/// What to migrate, and the choices the sources leave open.
#[derive(Clone, Debug)]
pub struct Options {
    /// Only the ExternalSecret or SecretProviderClass of this name.
    pub name: Option<String>,
    /// ServiceAccount of SecretSyncs whose source names none.
    pub service_account: String,
}

impl Options {
    /// Whether the object of this metadata is to be migrated.
    pub(super) fn wants(&self, metadata: &Metadata) -> bool {
        self.name
            .as_deref()
            .is_none_or(|name| metadata.name.as_deref() == Some(name))
    }
}

/// Translate every ExternalSecret, then every SecretProviderClass with `spec.secretObjects`, of `inputs`.
/// When two sources would generate an object of the same kind, namespace and name, the later one generates
/// nothing (a note says which source came first).
pub fn migrate(inputs: &Inputs, options: &Options) -> Vec<Migration> {
    let mut migrations = eso::migrate_external_secrets(inputs, options);
    migrations.extend(csi::migrate_classes(inputs, options));
    drop_duplicates(&mut migrations);
    migrations
}

/// Keeps the first source of each generated kind/namespace/name: a later source whose objects clash
/// generates nothing, with a note.
fn drop_duplicates(migrations: &mut [Migration]) {
    let mut seen: BTreeMap<(&'static str, Option<String>, String), String> = BTreeMap::new();
    for migration in migrations.iter_mut() {
        let clash = migration
            .resources
            .iter()
            .map(Resource::identity)
            .find_map(|id| seen.get(&id).map(|first| (id, first.clone())));
        if let Some(((kind, namespace, name), first)) = clash {
            migration.resources.clear();
            migration.notes.push(Note {
                check: false,
                source: migration.source.clone(),
                field: "metadata.name".to_string(),
                reason: format!(
                    "{first} already gives {kind} {}: one Secret has one SecretSync, merge the two by hand",
                    qualified(namespace.as_deref(), &name)
                ),
            });
            continue;
        }
        for id in migration.resources.iter().map(Resource::identity) {
            seen.insert(id, migration.source.clone());
        }
    }
}

/// A generated SecretSync.
pub(super) fn secret_sync(
    name: &str,
    namespace: Option<&str>,
    annotations: BTreeMap<String, String>,
    spec: SecretSyncSpec,
) -> SecretSync {
    let mut sync = SecretSync::new(name, spec);
    sync.metadata.namespace = namespace.map(str::to_string);
    sync.metadata.annotations = (!annotations.is_empty()).then_some(annotations);
    sync
}

/// `ns/name`, or `name` without a namespace.
pub(super) fn qualified(namespace: Option<&str>, name: &str) -> String {
    match namespace {
        Some(namespace) => format!("{namespace}/{name}"),
        None => name.to_string(),
    }
}

/// The federated credential subject of a ServiceAccount.
pub(super) fn subject(namespace: Option<&str>, service_account: &str) -> String {
    format!(
        "system:serviceaccount:{}:{service_account}",
        namespace.unwrap_or("<namespace>")
    )
}

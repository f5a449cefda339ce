//! ExternalSecret (with the SecretStore or ClusterSecretStore it reads, provider `azurekv`) →
//! SecretProviderClass + SecretSync, both named after the target Secret. The ESO objects are read into the
//! fields migrate uses ([`api`]), as leniently as JSON pointers read them.

mod api;
mod objects;
mod shape;
mod store;
mod target;
mod template;

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use provider_proto::contract::{Objects, attributes::OBJECTS};
use serde::de::DeserializeOwned;
use serde_json::Value;
use sse_api::{SecretObject, SecretProviderClass, SecretProviderClassSpec, SecretSyncSpec};

use self::api::{AzureKv, ExternalSecret, SecretStore};
use self::objects::{plan_objects, wanted_objects};
use self::shape::{data_from_of, mark_pfx};
use self::store::{Store, StoreKind, identity_of, vault_of, workload_identity_account};
use self::target::{refresh_annotations, target_of};
use self::template::{template_of, untemplated};
use super::admission::{SourceFields, admissible};
use super::input::Inputs;
use super::lenient::{Metadata, read};
use super::migration::{AZURE_PROVIDER, Migration, Notes, Options, Resource, qualified, secret_sync};

#[cfg(test)]
pub(super) use self::shape::FIND_REASON;

/// The ESO objects of the inputs, read into the fields migrate uses, and what else an ExternalSecret's
/// translation looks up.
struct Eso<'a> {
    inputs: &'a Inputs,
    external_secrets: Vec<ExternalSecret>,
    secret_stores: Vec<SecretStore>,
    cluster_secret_stores: Vec<SecretStore>,
    /// The ServiceAccounts' metadata.
    service_accounts: Vec<Metadata>,
    /// The SecretProviderClasses' metadata (a generated class must not replace one).
    classes: Vec<Metadata>,
}

impl<'a> Eso<'a> {
    fn of(inputs: &'a Inputs) -> Self {
        fn read_all<T: DeserializeOwned + Default>(objects: &[Value]) -> Vec<T> {
            objects.iter().map(read).collect()
        }
        Self {
            inputs,
            external_secrets: read_all(&inputs.external_secrets),
            secret_stores: read_all(&inputs.secret_stores),
            cluster_secret_stores: read_all(&inputs.cluster_secret_stores),
            service_accounts: inputs.service_accounts.iter().map(Metadata::of).collect(),
            classes: inputs.secret_provider_classes.iter().map(Metadata::of).collect(),
        }
    }

    /// The store `es` reads from, found or not; `None` when it names none.
    fn store_of<'s>(&'s self, es: &'s ExternalSecret) -> Option<Store<'s>> {
        let reference = &es.spec.secret_store_ref;
        let name = reference.name.as_deref()?;
        let kind = StoreKind::of(reference.kind.as_deref());
        let namespace = es.metadata.namespace.as_deref();
        let object = match kind {
            StoreKind::Cluster => self
                .cluster_secret_stores
                .iter()
                .find(|s| s.metadata.name.as_deref() == Some(name)),
            StoreKind::Namespaced => self.secret_stores.iter().find(|s| {
                s.metadata.name.as_deref() == Some(name) && s.metadata.namespace.as_deref() == namespace
            }),
        };
        Some(Store { kind, name, object })
    }

    /// The ServiceAccount `namespace/name`, if the inputs have it.
    fn service_account(&self, namespace: Option<&str>, name: &str) -> Option<&Metadata> {
        self.service_accounts
            .iter()
            .find(|sa| sa.name.as_deref() == Some(name) && sa.namespace.as_deref() == namespace)
    }

    /// The ExternalSecrets `options` wants.
    fn wanted<'s>(&'s self, options: &'s Options) -> impl Iterator<Item = &'s ExternalSecret> {
        self.external_secrets
            .iter()
            .filter(|es| options.wants(&es.metadata))
    }
}

/// Every ExternalSecret of `inputs` that `options` wants, translated.
pub(super) fn migrate_external_secrets(inputs: &Inputs, options: &Options) -> Vec<Migration> {
    let eso = Eso::of(inputs);
    eso.wanted(options)
        .map(|es| migrate_external_secret(&eso, es, options))
        .collect()
}

/// The ServiceAccounts (namespace, name) whose annotations the ExternalSecrets to migrate need: those
/// their workload-identity stores name. Read from the cluster before [`super::migrate`].
pub fn service_accounts_to_read(inputs: &Inputs, options: &Options) -> BTreeSet<(String, String)> {
    let eso = Eso::of(inputs);
    eso.wanted(options)
        .filter_map(|es| {
            let store = eso.store_of(es)?;
            let azurekv = store.object?.spec.provider.azurekv.as_ref()?;
            let account = workload_identity_account(es, &store, azurekv, options)?;
            Some((account.namespace?, account.name))
        })
        .collect()
}

/// What translating one ExternalSecret needs at hand.
struct EsSource<'a> {
    eso: &'a Eso<'a>,
    es: &'a ExternalSecret,
    namespace: Option<String>,
    store: Store<'a>,
    store_label: String,
    azurekv: &'a AzureKv,
}

impl EsSource<'_> {
    /// A field of the store's `spec.provider.azurekv`, for notes.
    fn store_field(&self, path: &str) -> String {
        format!("{}: spec.provider.azurekv.{path}", self.store_label)
    }
}

/// ExternalSecret → SecretProviderClass + SecretSync, both named after the target Secret.
fn migrate_external_secret(eso: &Eso<'_>, es: &ExternalSecret, options: &Options) -> Migration {
    let namespace = es.metadata.namespace.clone();
    let es_name = es.metadata.name.as_deref().unwrap_or_default();
    let mut notes = Notes::new(format!(
        "ExternalSecret {}",
        qualified(namespace.as_deref(), es_name)
    ));

    let Some(store) = eso.store_of(es) else {
        notes.add(
            "spec.secretStoreRef",
            "no store reference: migrate translates an ExternalSecret that reads one azurekv SecretStore or ClusterSecretStore",
        );
        return notes.finish(Vec::new());
    };
    let store_label = store.label(namespace.as_deref());
    let Some(store_object) = store.object else {
        let place = if eso.inputs.cluster_stores_unreadable && store.kind == StoreKind::Cluster {
            "readable with your rights (listing ClusterSecretStores is forbidden: pass its YAML with -f)"
        } else {
            eso.inputs.origin.place()
        };
        notes.add(
            "spec.secretStoreRef",
            format!("{store_label} is not {place}: migrate needs it to know the vault and the identity"),
        );
        return notes.finish(Vec::new());
    };
    let provider = &store_object.spec.provider;
    let Some(azurekv) = &provider.azurekv else {
        let provider = provider.first.as_deref().unwrap_or("none");
        notes.add(
            "spec.secretStoreRef",
            format!("{store_label} uses provider {provider}: SSE-rs syncs from Azure Key Vault (provider azurekv) only"),
        );
        return notes.finish(Vec::new());
    };
    let src = EsSource {
        eso,
        es,
        namespace,
        store,
        store_label,
        azurekv,
    };
    let Some(vault) = vault_of(&src, &mut notes) else {
        return notes.finish(Vec::new());
    };
    let identity = identity_of(&src, options, &mut notes);
    let mut wanted = wanted_objects(&src, &mut notes);
    let wanted_from = data_from_of(&src, &mut notes);
    let target = target_of(es, es_name, &mut notes);
    let template = template_of(&src, &wanted, &mut notes);
    let eso_template = &es.spec.target.template;
    match &template {
        Some(template) => mark_pfx(template, &mut wanted),
        None if !eso_template.data.is_empty() || !eso_template.template_from.is_empty() => {
            wanted = untemplated(&target.type_, wanted, &mut notes);
        }
        None => {}
    }
    let annotations = refresh_annotations(es, &mut notes);

    let plan = plan_objects(&wanted, &wanted_from);
    let class_name = free_class_name(eso, src.namespace.as_deref(), &target.name, &mut notes);
    let spec = SecretSyncSpec {
        secret_provider_class_name: class_name.clone(),
        service_account_name: identity.service_account,
        secret_object: SecretObject {
            type_: target.type_,
            data: plan.data,
            data_from: plan.data_from,
            template,
            labels: target.labels,
            annotations: target.annotations,
        },
        ..SecretSyncSpec::default()
    };
    let fields = SourceFields {
        type_: "spec.target.template.type",
        data: "spec.data",
        labels: "spec.target.template.metadata.labels",
        annotations: "spec.target.template.metadata.annotations",
    };
    if !admissible(&spec, &fields, &mut notes) {
        return notes.finish(Vec::new());
    }
    let mut parameters = BTreeMap::from([
        ("keyvaultName".to_string(), vault.name),
        ("tenantID".to_string(), identity.tenant_id),
        ("clientID".to_string(), identity.client_id),
        (OBJECTS.to_string(), Objects::new(plan.entries).to_yaml()),
    ]);
    if let Some(cloud) = vault.cloud {
        parameters.insert("cloudName".to_string(), cloud.to_string());
    }
    let class = SecretProviderClass {
        metadata: ObjectMeta {
            name: Some(class_name),
            namespace: src.namespace.clone(),
            ..ObjectMeta::default()
        },
        spec: SecretProviderClassSpec {
            provider: Some(AZURE_PROVIDER.to_string()),
            parameters: Some(parameters),
            secret_objects: None,
        },
    };
    let sync = secret_sync(&target.name, src.namespace.as_deref(), annotations, spec);
    notes.finish(vec![
        Resource::SecretProviderClass(Box::new(class)),
        Resource::SecretSync(Box::new(sync)),
    ])
}

/// A name for the generated SecretProviderClass: `wanted` unless a SecretProviderClass of that name already
/// exists in the namespace (applying the output would replace it under the CSI volumes that mount it), then
/// `wanted-sse`, `wanted-sse-2`, …, with a note.
fn free_class_name(eso: &Eso<'_>, namespace: Option<&str>, wanted: &str, notes: &mut Notes) -> String {
    let taken = |name: &str| {
        eso.classes
            .iter()
            .any(|c| c.name.as_deref() == Some(name) && c.namespace.as_deref() == namespace)
    };
    if !taken(wanted) {
        return wanted.to_string();
    }
    let name = std::iter::once(format!("{wanted}-sse"))
        .chain((2..).map(|n| format!("{wanted}-sse-{n}")))
        .find(|n| !taken(n))
        .unwrap_or_else(|| format!("{wanted}-sse"));
    notes.check(
        "metadata.name",
        format!("a SecretProviderClass {wanted} exists already: the generated one is {name}, so applying this replaces nothing"),
    );
    name
}

//! `kubectl sse migrate [NAME]`: the SecretProviderClass and SecretSync manifests equivalent to what
//! External Secrets Operator (an `ExternalSecret` with its `SecretStore`/`ClusterSecretStore`, provider
//! `azurekv`) or the Secrets Store CSI driver (`SecretProviderClass.spec.secretObjects`) does today, and
//! what cannot be carried over, and why.
//!
//! Input is files (`-f`, repeatable, `-` for stdin: YAML or JSON, several documents, `kind: List`) or the
//! cluster: ExternalSecrets (`external-secrets.io/v1`, else `v1beta1`) with the stores they use, and
//! SecretProviderClasses with `spec.secretObjects`. The only other thing read is the metadata of the
//! ServiceAccounts a workload-identity store names (their `azure.workload.identity/client-id`
//! annotation). No Secret is read: values are never read or printed.
//!
//! Output is the manifests (`---` separated), each source's preceded by a comment listing what was not
//! carried over; `-o json` gives `{"resources": [...], "notes": [{"source", "field", "reason"}]}`. Exit code 0
//! when everything was carried over, [`crate::EXIT_PARTIAL`] when something was not, 1 on an error.
//!
//! Translation is pure ([`migrate`] over the objects as JSON); [`run`] only reads and prints. A generated
//! SecretSync that SSE-rs would refuse ([`sse_api::validation::validate_spec`], the admission policy's Secret
//! types) is not printed: its note says why.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use anyhow::{Context as _, Result, bail};
use k8s_openapi::api::core::v1::ServiceAccount;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, ListParams};
use provider_proto::contract::{Objects, WORKLOAD_IDENTITY_AUDIENCE, attributes::OBJECTS};
use serde::{Deserialize as _, Serialize};
use serde_json::Value;
use sse_api::consts::{
    DEFAULT_SECRET_TYPE, LAST_APPLIED_ANNOTATION, REFRESH_INTERVAL_ANNOTATION, SECRET_PROVIDER_CLASS_GROUP,
    SECRET_PROVIDER_CLASS_KIND, SECRET_SYNC_KIND,
};
use sse_api::validation::{ValidationError, parse_duration, validate_spec};
use sse_api::{
    SecretObject, SecretObjectData, SecretProviderClass, SecretProviderClassSpec, SecretSync, SecretSyncSpec,
    SpcSecretObject,
};

use crate::cli::{Target, TargetArgs};

/// `kubectl sse migrate` arguments.
#[derive(clap::Args, Debug)]
pub struct MigrateArgs {
    /// One ExternalSecret or SecretProviderClass (default: every one in the namespace, or in every namespace
    /// with -A).
    pub name: Option<String>,
    /// Read the objects from this file instead of the cluster (`-`: standard input); YAML or JSON, several
    /// documents or a `kind: List`. Repeatable. Objects without a namespace get -n's.
    #[arg(short = 'f', long = "filename")]
    pub filenames: Vec<PathBuf>,
    /// ServiceAccount for SecretSyncs whose source names none (a CSI SecretProviderClass: each pod brought its
    /// own; an ESO store without serviceAccountRef, or not on workload identity).
    #[arg(long, default_value = "default")]
    pub service_account: String,
    /// Output format.
    #[arg(short, long, value_enum, default_value_t)]
    pub output: Format,
}

/// What `migrate` prints.
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Format {
    /// The manifests, `---` separated, each source's notes as comments.
    #[default]
    Yaml,
    /// `{"resources": [...], "notes": [...]}`.
    Json,
}

/// API group of External Secrets Operator.
const ESO_GROUP: &str = "external-secrets.io";
/// ESO API versions read from a cluster, the first one served wins.
const ESO_VERSIONS: [&str; 2] = ["v1", "v1beta1"];
/// The provider name of the Azure Key Vault provider (the SecretProviderClass's `spec.provider`).
const AZURE_PROVIDER: &str = "azure";
/// ServiceAccount annotation of Azure workload identity: the identity's client ID.
const CLIENT_ID_ANNOTATION: &str = "azure.workload.identity/client-id";
/// ServiceAccount annotation of Azure workload identity: the identity's tenant.
const TENANT_ID_ANNOTATION: &str = "azure.workload.identity/tenant-id";
/// Key Vault DNS suffixes and the `cloudName` each needs (`None`: the public cloud, the provider's default).
const VAULT_SUFFIXES: [(&str, Option<&str>); 4] = [
    ("vault.azure.net", None),
    ("vault.azure.cn", Some("AzureChinaCloud")),
    ("vault.usgovcloudapi.net", Some("AzureUSGovernmentCloud")),
    ("vault.microsoftazure.de", Some("AzureGermanCloud")),
];
/// Secret types the admission policy lets the manager write (deploy/policies/create-update.yaml, the
/// upstream chart's default list less `bootstrap.kubernetes.io/token`, an API credential).
pub const ALLOWED_SECRET_TYPES: [&str; 6] = [
    "Opaque",
    "kubernetes.io/basic-auth",
    "kubernetes.io/dockerconfigjson",
    "kubernetes.io/dockercfg",
    "kubernetes.io/ssh-auth",
    "kubernetes.io/tls",
];
/// The Secret types the admission policy always denies: each is an API credential.
const CREDENTIAL_TYPES: [&str; 2] = [
    "kubernetes.io/service-account-token",
    "bootstrap.kubernetes.io/token",
];
/// The Secret type whose values the manager splits by key name (SPEC §5.5).
const TLS_SECRET_TYPE: &str = "kubernetes.io/tls";
/// The only keys a `kubernetes.io/tls` SecretSync may map.
const TLS_KEYS: [&str; 2] = ["tls.crt", "tls.key"];

const FIND_REASON: &str = "ESO selects objects by name pattern or tags at run time; SSE-rs syncs a fixed list of objects: list them in the SecretProviderClass";
const EXTRACT_REASON: &str = "ESO spreads the JSON properties (or tags) of one object over several keys; SSE-rs writes one object to one key: store each property as its own Key Vault secret";
const GENERATOR_REASON: &str = "ESO generates this value in the cluster; SSE-rs only reads a vault";
const YAML_HEADER: &str = "# kubectl sse migrate: review before applying; no secret value was read.\n# SSE-rs takes over an existing Secret of the same name only when it is marked sse-rs.io/adoptable=true (kubectl sse adopt --help).\n";

// ---------------------------------------------------------------------------------------------------------------
// Inputs
// ---------------------------------------------------------------------------------------------------------------

/// Where the inputs were read, for the notes ("not in the cluster" / "not among the files given").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// Listed from the API server.
    Cluster,
    /// Read from `-f` files.
    Files,
}

impl Origin {
    fn place(self) -> &'static str {
        match self {
            Self::Cluster => "in the cluster",
            Self::Files => "among the files given",
        }
    }
}

/// The objects `migrate` works from, as the API server (or a file) has them.
#[derive(Clone, Debug)]
pub struct Inputs {
    /// Where they come from.
    pub origin: Origin,
    /// `external-secrets.io` ExternalSecrets.
    pub external_secrets: Vec<Value>,
    /// `external-secrets.io` SecretStores.
    pub secret_stores: Vec<Value>,
    /// `external-secrets.io` ClusterSecretStores.
    pub cluster_secret_stores: Vec<Value>,
    /// `secrets-store.csi.x-k8s.io` SecretProviderClasses (only those with `spec.secretObjects` are migrated).
    pub secret_provider_classes: Vec<Value>,
    /// ServiceAccounts (only their metadata is used: the workload identity annotations).
    pub service_accounts: Vec<Value>,
    /// Listing ClusterSecretStores was forbidden (403) to the caller.
    pub cluster_stores_unreadable: bool,
}

impl Inputs {
    /// No objects yet.
    pub fn new(origin: Origin) -> Self {
        Self {
            origin,
            external_secrets: Vec::new(),
            secret_stores: Vec::new(),
            cluster_secret_stores: Vec::new(),
            secret_provider_classes: Vec::new(),
            service_accounts: Vec::new(),
            cluster_stores_unreadable: false,
        }
    }

    /// Sort one object read from a file by kind (a `List`, or `<Kind>List`, adds its items). A namespaced
    /// object without a namespace gets `default_namespace`. Other kinds, and objects without a name, are
    /// ignored.
    pub fn add(&mut self, object: Value, default_namespace: Option<&str>) {
        let kind = str_at(&object, "/kind").unwrap_or_default().to_string();
        let api_version = str_at(&object, "/apiVersion").unwrap_or_default().to_string();
        if let Some(items) = object.get("items").and_then(Value::as_array)
            && kind.ends_with("List")
        {
            // `kubectl get -o yaml` gives `kind: List` with full items; the API gives `<Kind>List` whose items
            // may lack apiVersion and kind.
            let item_kind = kind.strip_suffix("List").filter(|k| !k.is_empty());
            for item in items {
                let mut item = item.clone();
                if let Some(item_kind) = item_kind
                    && item.get("kind").is_none()
                    && let Some(fields) = item.as_object_mut()
                {
                    fields.insert("kind".into(), Value::String(item_kind.to_string()));
                    fields.insert("apiVersion".into(), Value::String(api_version.clone()));
                }
                self.add(item, default_namespace);
            }
            return;
        }
        if str_at(&object, "/metadata/name").is_none() {
            return;
        }
        let group = api_version.split_once('/').map_or("", |(group, _)| group);
        let slot = match (group, kind.as_str()) {
            (ESO_GROUP, "ExternalSecret") => &mut self.external_secrets,
            (ESO_GROUP, "SecretStore") => &mut self.secret_stores,
            (ESO_GROUP, "ClusterSecretStore") => {
                self.cluster_secret_stores.push(object);
                return;
            }
            (SECRET_PROVIDER_CLASS_GROUP, SECRET_PROVIDER_CLASS_KIND) => &mut self.secret_provider_classes,
            ("", "ServiceAccount") => &mut self.service_accounts,
            _ => return,
        };
        slot.push(with_namespace(object, default_namespace));
    }

    /// The store `es` reads from, found or not; `None` when it names none.
    fn store_of<'a>(&'a self, es: &'a Value) -> Option<StoreRef<'a>> {
        let name = str_at(es, "/spec/secretStoreRef/name")?;
        let kind = StoreKind::of(str_at(es, "/spec/secretStoreRef/kind"));
        let namespace = namespace_of(es);
        let object = match kind {
            StoreKind::Cluster => self
                .cluster_secret_stores
                .iter()
                .find(|s| str_at(s, "/metadata/name") == Some(name)),
            StoreKind::Namespaced => self
                .secret_stores
                .iter()
                .find(|s| str_at(s, "/metadata/name") == Some(name) && namespace_of(s) == namespace),
        };
        Some(StoreRef { kind, name, object })
    }

    /// The ServiceAccount `namespace/name`, if the inputs have it.
    fn service_account(&self, namespace: Option<&str>, name: &str) -> Option<&Value> {
        self.service_accounts.iter().find(|sa| {
            str_at(sa, "/metadata/name") == Some(name) && str_at(sa, "/metadata/namespace") == namespace
        })
    }
}

/// The documents of a YAML or JSON text (YAML is a superset of JSON), empty documents left out.
pub fn parse_documents(text: &str) -> Result<Vec<Value>, serde_yaml_ng::Error> {
    let mut values = Vec::new();
    for document in serde_yaml_ng::Deserializer::from_str(text) {
        let value = Value::deserialize(document)?;
        if !value.is_null() {
            values.push(value);
        }
    }
    Ok(values)
}

/// Which ESO store kind a reference names (ESO's default is `SecretStore`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum StoreKind {
    Namespaced,
    Cluster,
}

impl StoreKind {
    fn of(kind: Option<&str>) -> Self {
        if kind == Some("ClusterSecretStore") {
            Self::Cluster
        } else {
            Self::Namespaced
        }
    }
}

/// A store reference of an ExternalSecret and, when the inputs have it, the store.
struct StoreRef<'a> {
    kind: StoreKind,
    name: &'a str,
    object: Option<&'a Value>,
}

impl StoreRef<'_> {
    /// `SecretStore ns/name` or `ClusterSecretStore name`, for notes.
    fn label(&self, namespace: Option<&str>) -> String {
        match self.kind {
            StoreKind::Cluster => format!("ClusterSecretStore {}", self.name),
            StoreKind::Namespaced => format!("SecretStore {}", qualified(namespace, self.name)),
        }
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Results
// ---------------------------------------------------------------------------------------------------------------

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
struct Notes {
    source: String,
    list: Vec<Note>,
}

impl Notes {
    fn new(source: String) -> Self {
        Self {
            source,
            list: Vec::new(),
        }
    }

    fn add(&mut self, field: impl Into<String>, reason: impl Into<String>) {
        self.list.push(Note {
            source: self.source.clone(),
            field: field.into(),
            reason: reason.into(),
            check: false,
        });
    }

    /// A choice made while carrying `field` over, for the reader to check.
    fn check(&mut self, field: impl Into<String>, reason: impl Into<String>) {
        self.list.push(Note {
            source: self.source.clone(),
            field: field.into(),
            reason: reason.into(),
            check: true,
        });
    }

    fn finish(self, resources: Vec<Resource>) -> Migration {
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
    fn wants(&self, object: &Value) -> bool {
        self.name
            .as_deref()
            .is_none_or(|name| str_at(object, "/metadata/name") == Some(name))
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Translation
// ---------------------------------------------------------------------------------------------------------------

/// Translate every ExternalSecret, then every SecretProviderClass with `spec.secretObjects`, of `inputs`.
/// When two sources would generate an object of the same kind, namespace and name, the later one generates
/// nothing (a note says which source came first).
pub fn migrate(inputs: &Inputs, options: &Options) -> Vec<Migration> {
    let mut migrations: Vec<Migration> = inputs
        .external_secrets
        .iter()
        .filter(|es| options.wants(es))
        .map(|es| migrate_external_secret(inputs, es, options))
        .collect();
    migrations.extend(
        inputs
            .secret_provider_classes
            .iter()
            .filter(|class| options.wants(class) && has_secret_objects(class))
            .map(|class| migrate_csi_class(class, options)),
    );
    drop_duplicates(&mut migrations);
    migrations
}

fn has_secret_objects(class: &Value) -> bool {
    class
        .pointer("/spec/secretObjects")
        .and_then(Value::as_array)
        .is_some_and(|objects| !objects.is_empty())
}

/// The ServiceAccounts (namespace, name) whose annotations the ExternalSecrets to migrate need: those
/// their workload-identity stores name. Read from the cluster before [`migrate`].
pub fn service_accounts_to_read(inputs: &Inputs, options: &Options) -> BTreeSet<(String, String)> {
    inputs
        .external_secrets
        .iter()
        .filter(|es| options.wants(es))
        .filter_map(|es| {
            let store = inputs.store_of(es)?;
            let azurekv = store.object?.pointer("/spec/provider/azurekv")?;
            let account = workload_identity_account(es, &store, azurekv, options)?;
            Some((account.namespace?, account.name))
        })
        .collect()
}

/// The ServiceAccount a workload-identity store authenticates as for an ExternalSecret.
struct Account {
    namespace: Option<String>,
    name: String,
    /// Named by the store's `serviceAccountRef` (else `--service-account`: ESO used its own pod's).
    named: bool,
}

/// The ServiceAccount a workload-identity store authenticates as for `es`: for a SecretStore in the store's
/// (= the ExternalSecret's) namespace, for a ClusterSecretStore in `serviceAccountRef.namespace`, else the
/// ExternalSecret's; without `serviceAccountRef`, `--service-account` in the ExternalSecret's namespace.
/// `None` for the other auth types.
fn workload_identity_account(
    es: &Value,
    store: &StoreRef<'_>,
    azurekv: &Value,
    options: &Options,
) -> Option<Account> {
    if str_at(azurekv, "/authType") != Some("WorkloadIdentity") {
        return None;
    }
    let Some(name) = str_at(azurekv, "/serviceAccountRef/name") else {
        return Some(Account {
            namespace: namespace_of(es),
            name: options.service_account.clone(),
            named: false,
        });
    };
    let namespace = match store.kind {
        StoreKind::Cluster => str_at(azurekv, "/serviceAccountRef/namespace")
            .map(str::to_string)
            .or_else(|| namespace_of(es)),
        StoreKind::Namespaced => namespace_of(es),
    };
    Some(Account {
        namespace,
        name: name.to_string(),
        named: true,
    })
}

/// What translating one ExternalSecret needs at hand.
struct EsSource<'a> {
    inputs: &'a Inputs,
    es: &'a Value,
    namespace: Option<String>,
    store: StoreRef<'a>,
    store_label: String,
    azurekv: &'a Value,
}

impl EsSource<'_> {
    /// A field of the store's `spec.provider.azurekv`, for notes.
    fn store_field(&self, path: &str) -> String {
        format!("{}: spec.provider.azurekv.{path}", self.store_label)
    }
}

/// ExternalSecret → SecretProviderClass + SecretSync, both named after the target Secret.
fn migrate_external_secret(inputs: &Inputs, es: &Value, options: &Options) -> Migration {
    let namespace = namespace_of(es);
    let es_name = str_at(es, "/metadata/name").unwrap_or_default();
    let mut notes = Notes::new(format!(
        "ExternalSecret {}",
        qualified(namespace.as_deref(), es_name)
    ));

    let Some(store) = inputs.store_of(es) else {
        notes.add(
            "spec.secretStoreRef",
            "no store reference: migrate translates an ExternalSecret that reads one azurekv SecretStore or ClusterSecretStore",
        );
        return notes.finish(Vec::new());
    };
    let store_label = store.label(namespace.as_deref());
    let Some(store_object) = store.object else {
        let place = if inputs.cluster_stores_unreadable && store.kind == StoreKind::Cluster {
            "readable with your rights (listing ClusterSecretStores is forbidden: pass its YAML with -f)"
        } else {
            inputs.origin.place()
        };
        notes.add(
            "spec.secretStoreRef",
            format!("{store_label} is not {place}: migrate needs it to know the vault and the identity"),
        );
        return notes.finish(Vec::new());
    };
    let Some(azurekv) = store_object.pointer("/spec/provider/azurekv") else {
        let provider = store_object
            .pointer("/spec/provider")
            .and_then(Value::as_object)
            .and_then(|providers| providers.keys().next())
            .map_or("none", String::as_str);
        notes.add(
            "spec.secretStoreRef",
            format!("{store_label} uses provider {provider}: SSE-rs syncs from Azure Key Vault (provider azurekv) only"),
        );
        return notes.finish(Vec::new());
    };
    let src = EsSource {
        inputs,
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
    data_from_notes(es, &mut notes);
    let target = target_of(es, es_name, &mut notes);
    if target.templated {
        wanted = template_note(&target, wanted, &mut notes);
    }
    let annotations = refresh_annotations(es, &mut notes);

    let (entries, data) = plan_objects(&wanted);
    let class_name = free_class_name(inputs, src.namespace.as_deref(), &target.name, &mut notes);
    let spec = SecretSyncSpec {
        secret_provider_class_name: class_name.clone(),
        service_account_name: identity.service_account,
        secret_object: SecretObject {
            type_: target.type_,
            data,
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
        (OBJECTS.to_string(), Objects::new(entries).to_yaml()),
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
fn free_class_name(inputs: &Inputs, namespace: Option<&str>, wanted: &str, notes: &mut Notes) -> String {
    let taken = |name: &str| {
        inputs
            .secret_provider_classes
            .iter()
            .any(|c| str_at(c, "/metadata/name") == Some(name) && namespace_of(c).as_deref() == namespace)
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

/// The vault of a SecretProviderClass: `keyvaultName` and, outside the public cloud, `cloudName`.
struct Vault {
    name: String,
    cloud: Option<&'static str>,
}

/// `https://NAME.<vault suffix>/` → NAME and the `cloudName` of that suffix; `None` for any other URL.
fn parse_vault_url(url: &str) -> Option<(&str, Option<&'static str>)> {
    let (name, suffix) = vault_host(url)?.split_once('.')?;
    let (_, cloud) = VAULT_SUFFIXES
        .iter()
        .find(|(known, _)| suffix.eq_ignore_ascii_case(known))?;
    (!name.is_empty()).then_some((name, *cloud))
}

/// The host of an `https://host[:443][/]` URL.
fn vault_host(url: &str) -> Option<&str> {
    let rest = url.strip_prefix("https://")?;
    let host = rest.strip_suffix('/').unwrap_or(rest);
    let host = host.strip_suffix(":443").unwrap_or(host);
    (!host.is_empty() && !host.contains(['/', ':', '?', '#', '@'])).then_some(host)
}

fn vault_of(src: &EsSource<'_>, notes: &mut Notes) -> Option<Vault> {
    let Some(url) = str_at(src.azurekv, "/vaultUrl") else {
        notes.add(
            src.store_field("vaultUrl"),
            "no vault URL: the SecretProviderClass needs keyvaultName",
        );
        return None;
    };
    if str_at(src.azurekv, "/environmentType") == Some("AzureStackCloud") {
        if let Some((name, _)) = vault_host(url).and_then(|host| host.split_once('.'))
            && !name.is_empty()
        {
            notes.add(
                src.store_field("environmentType"),
                "Azure Stack: cloudName AzureStackCloud also needs cloudEnvFileName, the environment file mounted into the provider container (ESO's customCloudConfig does not carry over)",
            );
            return Some(Vault {
                name: name.to_string(),
                cloud: Some("AzureStackCloud"),
            });
        }
    } else if let Some((name, cloud)) = parse_vault_url(url) {
        return Some(Vault {
            name: name.to_string(),
            cloud,
        });
    }
    notes.add(
        src.store_field("vaultUrl"),
        format!("{url} is not a Key Vault URL (https://NAME.vault.azure.net/, or a sovereign cloud's vault suffix; a Managed HSM is not read by the Azure provider): the SecretProviderClass needs keyvaultName"),
    );
    None
}

/// Who the provider authenticates as.
struct Identity {
    service_account: String,
    tenant_id: String,
    client_id: String,
}

fn identity_of(src: &EsSource<'_>, options: &Options, notes: &mut Notes) -> Identity {
    let Some(account) = workload_identity_account(src.es, &src.store, src.azurekv, options) else {
        return other_identity(src, options, notes);
    };
    let es_namespace = src.namespace.as_deref();
    let named = account.named;
    let service_account = account.name;
    let account_namespace = account.namespace;
    if !account.named {
        notes.add(
            src.store_field("serviceAccountRef"),
            format!(
                "none: ESO used its own pod's ServiceAccount; a SecretSync names one of its namespace: {service_account} (--service-account) is used, give the identity a federated credential for {}",
                subject(es_namespace, &service_account)
            ),
        );
    }
    if account_namespace != src.namespace {
        notes.add(
            src.store_field("serviceAccountRef.namespace"),
            format!(
                "ServiceAccount {} is in another namespace; a SecretSync uses a ServiceAccount of its own: create {service_account} in {} (with the same {CLIENT_ID_ANNOTATION} annotation) and give the identity a federated credential for {}",
                qualified(account_namespace.as_deref(), &service_account),
                es_namespace.unwrap_or("its namespace"),
                subject(es_namespace, &service_account)
            ),
        );
    }
    let audiences: Vec<&str> = src
        .azurekv
        .pointer("/serviceAccountRef/audiences")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    if audiences.iter().any(|a| *a != WORKLOAD_IDENTITY_AUDIENCE) {
        notes.add(
            src.store_field("serviceAccountRef.audiences"),
            format!(
                "{}: SSE-rs requests the tokens for the audiences the manager is configured with (--token-request-audience; {WORKLOAD_IDENTITY_AUDIENCE} for workload identity)",
                audiences.join(", ")
            ),
        );
    }

    let account = src
        .inputs
        .service_account(account_namespace.as_deref(), &service_account);
    // With workload identity and no serviceAccountRef, ESO takes the identity from its own environment and
    // ignores authSecretRef.
    let auth_secret_client = src.azurekv.pointer("/authSecretRef/clientId").filter(|_| named);
    let client_id = if let Some(secret) = auth_secret_client {
        let described = secret_key_ref(secret);
        notes.add(
            src.store_field("authSecretRef.clientId"),
            format!("the client ID is kept in {described}; migrate never reads Secret values: replace the placeholder in clientID"),
        );
        format!("<client-id from {described}>")
    } else if let Some(id) = annotation(account, CLIENT_ID_ANNOTATION) {
        id
    } else {
        let qualified_account = qualified(account_namespace.as_deref(), &service_account);
        let why = match account {
            Some(_) => format!("ServiceAccount {qualified_account} has no {CLIENT_ID_ANNOTATION} annotation"),
            None => format!(
                "ServiceAccount {qualified_account} is not {}",
                src.inputs.origin.place()
            ),
        };
        notes.add(
            src.store_field("serviceAccountRef"),
            format!("{why}: replace the placeholder in clientID with the identity's client ID"),
        );
        format!("<client-id of ServiceAccount {service_account}>")
    };
    Identity {
        tenant_id: tenant_of(src, account, notes),
        service_account,
        client_id,
    }
}

/// A store on ServicePrincipal (ESO's default) or ManagedIdentity: SSE-rs authenticates with workload
/// identity federation, as `--service-account`.
fn other_identity(src: &EsSource<'_>, options: &Options, notes: &mut Notes) -> Identity {
    let auth_type = str_at(src.azurekv, "/authType").unwrap_or("ServicePrincipal");
    let service_account = options.service_account.clone();
    let subject = subject(src.namespace.as_deref(), &service_account);
    let identity_id = str_at(src.azurekv, "/identityId").filter(|_| auth_type == "ManagedIdentity");
    let (client_id, how) = match identity_id {
        Some(id) => (
            id.to_string(),
            format!("clientID is the store's identityId {id}: give that identity a federated credential"),
        ),
        None => (
            format!("<client-id of ServiceAccount {service_account}>"),
            "set clientID to an identity with Key Vault access and give it a federated credential"
                .to_string(),
        ),
    };
    notes.add(
        src.store_field("authType"),
        format!(
            "ESO authenticated with {auth_type}; SSE-rs authenticates each SecretSync with workload identity federation: {how} for {subject} (--service-account)"
        ),
    );
    Identity {
        tenant_id: tenant_of(src, None, notes),
        service_account,
        client_id,
    }
}

/// The tenant: the store's `tenantId`, else (placeholder) the Secret it names, else the ServiceAccount's
/// annotation, else a placeholder.
fn tenant_of(src: &EsSource<'_>, account: Option<&Value>, notes: &mut Notes) -> String {
    if let Some(tenant) = str_at(src.azurekv, "/tenantId") {
        if let Some(secret) = src.azurekv.pointer("/authSecretRef/tenantId") {
            notes.check(
                src.store_field("authSecretRef.tenantId"),
                format!(
                    "ESO prefers the tenant ID in {} over tenantId {tenant}; tenantID here is {tenant}: check they match",
                    secret_key_ref(secret)
                ),
            );
        }
        return tenant.to_string();
    }
    if let Some(secret) = src.azurekv.pointer("/authSecretRef/tenantId") {
        let described = secret_key_ref(secret);
        notes.add(
            src.store_field("authSecretRef.tenantId"),
            format!("the tenant ID is kept in {described}; migrate never reads Secret values: replace the placeholder in tenantID"),
        );
        return format!("<tenant-id from {described}>");
    }
    if let Some(tenant) = annotation(account, TENANT_ID_ANNOTATION) {
        return tenant;
    }
    notes.add(
        src.store_field("tenantId"),
        "none in the store (ESO took the tenant from its own environment): replace the placeholder in tenantID",
    );
    "<tenant-id>".to_string()
}

/// One Key Vault object as an entry of the Azure provider's `objects` names it.
#[derive(Clone, Debug, PartialEq, Eq)]
struct KvObject {
    object_type: &'static str,
    name: String,
    version: Option<String>,
    encoding: Option<&'static str>,
}

/// ESO's `remoteRef.key`: `secret/NAME`, `key/NAME`, `cert/NAME` or a bare NAME (a secret). Like ESO, a
/// further `/…` is ignored. `None` for another prefix or an empty name.
fn split_remote_key(key: &str) -> Option<(&'static str, &str)> {
    let (object_type, name) = match key.split_once('/') {
        None => ("secret", key),
        Some((prefix, rest)) => {
            let object_type = match prefix {
                "secret" => "secret",
                "key" => "key",
                "cert" => "cert",
                _ => return None,
            };
            (object_type, rest.split_once('/').map_or(rest, |(name, _)| name))
        }
    };
    (!name.is_empty()).then_some((object_type, name))
}

/// The (Secret key, object) pairs of `spec.data`. An entry whose value SSE-rs would not reproduce at all
/// (a JSON property, tags, another store, a generator, base64url) is left out with a note; one SSE-rs
/// writes in another format (certificates, keys) is kept with a note.
fn wanted_objects(src: &EsSource<'_>, notes: &mut Notes) -> Vec<(String, KvObject)> {
    let mut wanted = Vec::new();
    let entries = src.es.pointer("/spec/data").and_then(Value::as_array);
    for (i, entry) in entries.into_iter().flatten().enumerate() {
        let field = format!("spec.data[{i}]");
        if entry.pointer("/sourceRef/generatorRef").is_some() {
            notes.add(format!("{field}.sourceRef.generatorRef"), GENERATOR_REASON);
            continue;
        }
        if let Some(other) = str_at(entry, "/sourceRef/storeRef/name") {
            let kind = StoreKind::of(str_at(entry, "/sourceRef/storeRef/kind"));
            if other != src.store.name || kind != src.store.kind {
                notes.add(
                    format!("{field}.sourceRef.storeRef"),
                    format!("ESO reads this key from another store ({other}); a SecretProviderClass reads one vault: migrate it with an ExternalSecret of its own"),
                );
                continue;
            }
        }
        let Some(secret_key) = str_at(entry, "/secretKey") else {
            notes.add(format!("{field}.secretKey"), "empty: no Secret key to write");
            continue;
        };
        let Some(remote_key) = str_at(entry, "/remoteRef/key") else {
            notes.add(format!("{field}.remoteRef.key"), "empty: no vault object to read");
            continue;
        };
        let Some((object_type, name)) = split_remote_key(remote_key) else {
            notes.add(
                format!("{field}.remoteRef.key"),
                format!("{remote_key}: not secret/NAME, key/NAME, cert/NAME or NAME"),
            );
            continue;
        };
        if str_at(entry, "/remoteRef/metadataPolicy") == Some("Fetch") {
            notes.add(
                format!("{field}.remoteRef.metadataPolicy"),
                "Fetch: ESO reads the object's tags; SSE-rs syncs values only",
            );
            continue;
        }
        if let Some(property) = str_at(entry, "/remoteRef/property") {
            notes.add(
                format!("{field}.remoteRef.property"),
                format!("{property}: ESO extracts one JSON property of the value; SSE-rs writes the whole object to the key: store the property as its own Key Vault secret"),
            );
            continue;
        }
        let encoding = match str_at(entry, "/remoteRef/decodingStrategy") {
            None | Some("None") => None,
            Some("Base64") if object_type == "secret" => Some("base64"),
            Some("Base64") => {
                notes.add(
                    format!("{field}.remoteRef.decodingStrategy"),
                    "Base64: the Azure provider decodes secrets only (objectEncoding), not keys or certificates",
                );
                None
            }
            Some("Base64URL") => {
                notes.add(
                    format!("{field}.remoteRef.decodingStrategy"),
                    "Base64URL: the Azure provider decodes standard base64 only (objectEncoding: base64)",
                );
                continue;
            }
            Some(other) => {
                notes.add(
                    format!("{field}.remoteRef.decodingStrategy"),
                    format!("{other}: SSE-rs does not guess; the key holds the value as stored (set objectEncoding: base64 if it is always base64)"),
                );
                None
            }
        };
        if let Some(strategy) = str_at(entry, "/remoteRef/conversionStrategy")
            && strategy != "Default"
        {
            notes.add(
                format!("{field}.remoteRef.conversionStrategy"),
                format!("{strategy}: SSE-rs writes keys as named, with no conversion"),
            );
        }
        match object_type {
            "cert" => notes.add(
                format!("{field}.remoteRef.key"),
                "ESO writes the certificate as DER; the Azure provider writes it as PEM (-----BEGIN CERTIFICATE-----): check its consumers",
            ),
            "key" => notes.add(
                format!("{field}.remoteRef.key"),
                "ESO writes the key as JWK JSON; the Azure provider writes the public key as PEM: check its consumers",
            ),
            _ => {}
        }
        wanted.push((
            secret_key.to_string(),
            KvObject {
                object_type,
                name: name.to_string(),
                version: str_at(entry, "/remoteRef/version").map(str::to_string),
                encoding,
            },
        ));
    }
    wanted
}

fn data_from_notes(es: &Value, notes: &mut Notes) {
    let entries = es.pointer("/spec/dataFrom").and_then(Value::as_array);
    for (i, entry) in entries.into_iter().flatten().enumerate() {
        let field = format!("spec.dataFrom[{i}]");
        if entry.get("find").is_some() {
            notes.add(format!("{field}.find"), FIND_REASON);
        } else if entry.get("extract").is_some() {
            notes.add(format!("{field}.extract"), EXTRACT_REASON);
        } else if entry.pointer("/sourceRef/generatorRef").is_some() {
            notes.add(format!("{field}.sourceRef.generatorRef"), GENERATOR_REASON);
        } else {
            notes.add(field, "not a form migrate knows: nothing carried over");
        }
    }
}

/// The Secret an ExternalSecret writes.
struct TargetSecret {
    name: String,
    type_: String,
    labels: Option<BTreeMap<String, String>>,
    annotations: Option<BTreeMap<String, String>>,
    /// `template.data` or `template.templateFrom` is set.
    templated: bool,
}

fn target_of(es: &Value, es_name: &str, notes: &mut Notes) -> TargetSecret {
    match str_at(es, "/spec/target/creationPolicy") {
        None | Some("Owner") => {}
        Some("Merge") => notes.add(
            "spec.target.creationPolicy",
            "Merge: ESO adds keys to a Secret someone else owns; SSE-rs writes a Secret it owns (an existing one after adoption: kubectl sse adopt)",
        ),
        Some("Orphan") => notes.add(
            "spec.target.creationPolicy",
            "Orphan: ESO leaves the Secret behind when the ExternalSecret goes; SSE-rs's Secret is owned by its SecretSync and garbage-collected with it",
        ),
        Some(other) => notes.add(
            "spec.target.creationPolicy",
            format!("{other}: SSE-rs creates the Secret and owns it"),
        ),
    }
    if let Some(policy) = str_at(es, "/spec/target/deletionPolicy")
        && policy != "Retain"
    {
        notes.add(
            "spec.target.deletionPolicy",
            format!("{policy}: SSE-rs never deletes a Secret or its keys when a vault object is gone: the Secret keeps its last value"),
        );
    }
    if es.pointer("/spec/target/immutable").and_then(Value::as_bool) == Some(true) {
        notes.add(
            "spec.target.immutable",
            "SSE-rs updates the Secret in place when the vault changes",
        );
    }
    TargetSecret {
        name: str_at(es, "/spec/target/name").unwrap_or(es_name).to_string(),
        type_: str_at(es, "/spec/target/template/type")
            .unwrap_or(DEFAULT_SECRET_TYPE)
            .to_string(),
        labels: string_map(es.pointer("/spec/target/template/metadata/labels")),
        annotations: string_map(es.pointer("/spec/target/template/metadata/annotations")),
        templated: is_set(es.pointer("/spec/target/template/data"))
            || is_set(es.pointer("/spec/target/template/templateFrom")),
    }
}

/// The note for a template, and the (Secret key, object) pairs to map instead. A `kubernetes.io/tls`
/// template over one certificate-backed secret becomes the manager's own split: that object mapped to
/// `tls.crt` and `tls.key`. Any other template keeps `wanted`.
fn template_note(
    target: &TargetSecret,
    wanted: Vec<(String, KvObject)>,
    notes: &mut Notes,
) -> Vec<(String, KvObject)> {
    let single = wanted
        .first()
        .map(|(_, object)| object.clone())
        .filter(|first| first.object_type == "secret" && wanted.iter().all(|(_, object)| object == first));
    match single {
        Some(object) if target.type_ == TLS_SECRET_TYPE => {
            notes.add(
                "spec.target.template",
                format!(
                    "SSE-rs has no templating; for kubernetes.io/tls it splits a certificate (PEM, or PFX without a password) into tls.crt and tls.key itself: both are mapped from {}, check the template did no more than that",
                    object.name
                ),
            );
            vec![
                ("tls.crt".to_string(), object.clone()),
                ("tls.key".to_string(), object),
            ]
        }
        _ => {
            notes.add(
                "spec.target.template",
                "SSE-rs has no templating: each key holds one vault object as fetched (the keys are spec.data[].secretKey, not the template's)",
            );
            wanted
        }
    }
}

/// `spec.refreshInterval` as the SecretSync's refresh-interval annotation; `spec.refreshPolicy`.
fn refresh_annotations(es: &Value, notes: &mut Notes) -> BTreeMap<String, String> {
    let mut annotations = BTreeMap::new();
    if let Some(interval) = str_at(es, "/spec/refreshInterval") {
        if parse_duration(interval).is_some() {
            annotations.insert(REFRESH_INTERVAL_ANNOTATION.to_string(), interval.to_string());
        } else if interval.chars().any(|c| c.is_ascii_digit())
            && interval.chars().filter(char::is_ascii_digit).all(|c| c == '0')
        {
            notes.add(
                "spec.refreshInterval",
                format!("{interval}: ESO fetches once; SSE-rs checks every SecretSync periodically (without {REFRESH_INTERVAL_ANNOTATION}, every rotationPollIntervalInSeconds)"),
            );
        } else {
            notes.add(
                "spec.refreshInterval",
                format!("{interval}: not a duration SSE-rs reads (hours, minutes, seconds, such as 1h30m): without {REFRESH_INTERVAL_ANNOTATION} the manager's interval applies"),
            );
        }
    }
    if let Some(policy) = str_at(es, "/spec/refreshPolicy")
        && policy != "Periodic"
    {
        notes.add(
            "spec.refreshPolicy",
            format!("{policy}: SSE-rs checks the vault periodically, and at once on kubectl sse sync"),
        );
    }
    annotations
}

/// The `objects` entries and the Secret data for (Secret key, object) pairs: one entry per distinct object,
/// its file named after the object, or an alias (`NAME-2`, …) when another entry already writes that file
/// (the same object at another version, in another encoding, or of another type).
fn plan_objects(wanted: &[(String, KvObject)]) -> (Vec<String>, Vec<SecretObjectData>) {
    let names: BTreeSet<&str> = wanted.iter().map(|(_, object)| object.name.as_str()).collect();
    let mut files: Vec<(&KvObject, String)> = Vec::new();
    let mut data = Vec::with_capacity(wanted.len());
    for (key, object) in wanted {
        let file = if let Some((_, file)) = files.iter().find(|(known, _)| *known == object) {
            file.clone()
        } else {
            let taken = |file: &str| files.iter().any(|(_, known)| known == file);
            let file = if taken(object.name.as_str()) {
                (2..)
                    .map(|n| format!("{}-{n}", object.name))
                    .find(|alias| !names.contains(alias.as_str()) && !taken(alias.as_str()))
                    .unwrap_or_else(|| object.name.clone())
            } else {
                object.name.clone()
            };
            files.push((object, file.clone()));
            file
        };
        data.push(SecretObjectData {
            source_path: file,
            target_key: key.clone(),
        });
    }
    let entries = files
        .iter()
        .map(|(object, file)| object_entry(object, file))
        .collect();
    (entries, data)
}

/// One entry of `objects` (a YAML mapping, as the Azure provider reads it).
fn object_entry(object: &KvObject, file: &str) -> String {
    let mut lines = vec![
        format!("objectName: {}", yaml_scalar(&object.name)),
        format!("objectType: {}", object.object_type),
    ];
    if file != object.name {
        lines.push(format!("objectAlias: {}", yaml_scalar(file)));
    }
    if let Some(version) = &object.version {
        lines.push(format!("objectVersion: {}", yaml_scalar(version)));
    }
    if let Some(encoding) = object.encoding {
        lines.push(format!("objectEncoding: {encoding}"));
    }
    lines.join("\n")
}

/// `value` as a YAML scalar that reads back as this string: plain when unambiguous (a letter, then letters,
/// digits, `-`, `_`, `.`, and not a YAML boolean or null), else double-quoted.
fn yaml_scalar(value: &str) -> String {
    let plain = value.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && !matches!(
            value.to_ascii_lowercase().as_str(),
            "true" | "false" | "yes" | "no" | "on" | "off" | "y" | "n" | "null"
        );
    if plain {
        value.to_string()
    } else {
        Value::String(value.to_string()).to_string()
    }
}

// ---------------------------------------------------------------------------------------------------------------
// CSI driver secretObjects
// ---------------------------------------------------------------------------------------------------------------

/// SecretProviderClass with `spec.secretObjects` → the class without them (SSE-rs ignores them) and one
/// SecretSync per entry, named after its `secretName`.
fn migrate_csi_class(object: &Value, options: &Options) -> Migration {
    let namespace = namespace_of(object);
    let name = str_at(object, "/metadata/name").unwrap_or_default();
    let mut notes = Notes::new(format!(
        "SecretProviderClass {}",
        qualified(namespace.as_deref(), name)
    ));
    let class: SecretProviderClass = match serde_json::from_value(object.clone()) {
        Ok(class) => class,
        Err(error) => {
            notes.add(
                "spec",
                format!("not a SecretProviderClass migrate can read: {error}"),
            );
            return notes.finish(Vec::new());
        }
    };
    csi_identity_notes(&class, namespace.as_deref(), options, &mut notes);
    let mut resources = Vec::new();
    for (index, secret_object) in class.spec.secret_objects.iter().flatten().enumerate() {
        if let Some(sync) = csi_secret_sync(&class, index, secret_object, options, &mut notes) {
            resources.push(Resource::SecretSync(Box::new(sync)));
        }
    }
    if !resources.is_empty() {
        resources.insert(
            0,
            Resource::SecretProviderClass(Box::new(without_secret_objects(&class))),
        );
    }
    notes.finish(resources)
}

/// Go's `strconv.ParseBool` true values, as the Azure provider reads its flags.
fn is_true(value: Option<&String>) -> bool {
    value.is_some_and(|v| matches!(v.trim(), "1" | "t" | "T" | "true" | "TRUE" | "True"))
}

/// What the CSI driver gave the provider that a SecretSync cannot: the pod's identity.
fn csi_identity_notes(
    class: &SecretProviderClass,
    namespace: Option<&str>,
    options: &Options,
    notes: &mut Notes,
) {
    let empty = BTreeMap::new();
    let parameters = class.spec.parameters.as_ref().unwrap_or(&empty);
    let provider = class.spec.provider.as_deref().map(str::trim).unwrap_or_default();
    let client_id = parameters
        .get("clientID")
        .map(String::as_str)
        .map(str::trim)
        .filter(|id| !id.is_empty());
    if provider == AZURE_PROVIDER {
        let pod_identity = is_true(parameters.get("usePodIdentity"));
        let token_proxy = is_true(parameters.get("useAzureTokenProxy"));
        if pod_identity {
            notes.add(
                "spec.parameters.usePodIdentity",
                "aad-pod-identity identifies the pod, and through SSE-rs the caller is the manager: use workload identity (clientID and a federated credential)",
            );
        }
        if token_proxy {
            notes.add(
                "spec.parameters.useAzureTokenProxy",
                "AKS identity binding is not supported by SSE-rs's provider: use workload identity (clientID and a federated credential)",
            );
        }
        if client_id.is_none()
            && !pod_identity
            && !token_proxy
            && !is_true(parameters.get("useVMManagedIdentity"))
        {
            notes.add(
                "spec.parameters.clientID",
                "none: the CSI driver gave the provider a service principal from the volume's nodePublishSecretRef, which a SecretSync cannot pass: set clientID to an identity with a federated credential (workload identity)",
            );
        }
    } else {
        let provider = if provider.is_empty() { "none" } else { provider };
        notes.add(
            "spec.provider",
            format!("{provider}: SSE-rs ships the Azure provider; another provider needs its own container beside the manager"),
        );
    }
    let service_account = &options.service_account;
    let subject = subject(namespace, service_account);
    let needs = match client_id {
        Some(id) => format!("identity {id} needs a federated credential for {subject}"),
        None => format!("with workload identity, the identity needs a federated credential for {subject}"),
    };
    notes.check(
        "serviceAccountName",
        format!("a SecretSync names the ServiceAccount whose token the provider uses, where under the CSI driver each pod used its own: {service_account} (--service-account) is used, so {needs}"),
    );
}

fn csi_secret_sync(
    class: &SecretProviderClass,
    index: usize,
    secret_object: &SpcSecretObject,
    options: &Options,
    notes: &mut Notes,
) -> Option<SecretSync> {
    let field = format!("spec.secretObjects[{index}]");
    let Some(secret_name) = non_empty(secret_object.secret_name.as_deref()) else {
        notes.add(
            format!("{field}.secretName"),
            "empty: the SecretSync takes the Secret's name",
        );
        return None;
    };
    let mut data = Vec::new();
    for (i, item) in secret_object.data.iter().flatten().enumerate() {
        match (
            non_empty(item.object_name.as_deref()),
            non_empty(item.key.as_deref()),
        ) {
            (Some(object_name), Some(key)) => data.push(SecretObjectData {
                source_path: object_name.to_string(),
                target_key: key.to_string(),
            }),
            _ => notes.add(
                format!("{field}.data[{i}]"),
                "objectName and key are both needed: this item is left out",
            ),
        }
    }
    let spec = SecretSyncSpec {
        secret_provider_class_name: class.metadata.name.clone().unwrap_or_default(),
        service_account_name: options.service_account.clone(),
        secret_object: SecretObject {
            type_: non_empty(secret_object.type_.as_deref())
                .unwrap_or(DEFAULT_SECRET_TYPE)
                .to_string(),
            data,
            labels: secret_object.labels.clone(),
            annotations: secret_object.annotations.clone(),
        },
        ..SecretSyncSpec::default()
    };
    let (type_field, data_field) = (format!("{field}.type"), format!("{field}.data"));
    let (labels_field, annotations_field) = (format!("{field}.labels"), format!("{field}.annotations"));
    let fields = SourceFields {
        type_: &type_field,
        data: &data_field,
        labels: &labels_field,
        annotations: &annotations_field,
    };
    if !admissible(&spec, &fields, notes) {
        return None;
    }
    Some(secret_sync(
        secret_name,
        class.metadata.namespace.as_deref(),
        BTreeMap::new(),
        spec,
    ))
}

/// The class as SSE-rs uses it: name, namespace, labels, annotations (without kubectl's last-applied copy),
/// provider and parameters.
fn without_secret_objects(class: &SecretProviderClass) -> SecretProviderClass {
    let annotations = class
        .metadata
        .annotations
        .clone()
        .map(|mut annotations| {
            annotations.remove(LAST_APPLIED_ANNOTATION);
            annotations
        })
        .filter(|annotations| !annotations.is_empty());
    SecretProviderClass {
        metadata: ObjectMeta {
            name: class.metadata.name.clone(),
            namespace: class.metadata.namespace.clone(),
            labels: class.metadata.labels.clone(),
            annotations,
            ..ObjectMeta::default()
        },
        spec: SecretProviderClassSpec {
            secret_objects: None,
            ..class.spec.clone()
        },
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Generated SecretSyncs
// ---------------------------------------------------------------------------------------------------------------

/// Where a generated SecretSync's parts come from in the source, for notes.
struct SourceFields<'a> {
    type_: &'a str,
    data: &'a str,
    labels: &'a str,
    annotations: &'a str,
}

/// Whether SSE-rs would take `spec`: [`validate_spec`], the admission policy's Secret types, the keys of a
/// TLS Secret. What it would refuse goes into `notes`; a type outside the default allowed list is only noted
/// (an administrator may have widened the list).
fn admissible(spec: &SecretSyncSpec, fields: &SourceFields<'_>, notes: &mut Notes) -> bool {
    if let Err(error) = validate_spec(spec) {
        let field = match &error {
            ValidationError::ReservedLabel { .. } => fields.labels,
            ValidationError::ReservedAnnotation { .. } => fields.annotations,
            _ => fields.data,
        };
        notes.add(
            field,
            format!("SSE-rs would refuse the SecretSync ({error}): it is not printed"),
        );
        return false;
    }
    let secret_type = spec.secret_object.type_.as_str();
    if CREDENTIAL_TYPES.contains(&secret_type) {
        notes.add(
            fields.type_,
            format!("{secret_type}: the admission policy never lets the manager write a Secret that grants API access: the SecretSync is not printed"),
        );
        return false;
    }
    if !ALLOWED_SECRET_TYPES.contains(&secret_type) {
        notes.add(
            fields.type_,
            format!(
                "{secret_type}: not in the admission policy's allowed Secret types ({}): the SecretSync fails until an administrator adds it",
                ALLOWED_SECRET_TYPES.join(", ")
            ),
        );
    }
    if secret_type == TLS_SECRET_TYPE {
        let others: Vec<&str> = spec
            .secret_object
            .data
            .iter()
            .map(|item| item.target_key.trim())
            .filter(|key| !TLS_KEYS.contains(key))
            .collect();
        if !others.is_empty() {
            notes.add(
                fields.data,
                format!(
                    "SSE-rs splits a kubernetes.io/tls object into tls.crt and tls.key and refuses other keys ({}): the SecretSync is not printed",
                    others.join(", ")
                ),
            );
            return false;
        }
    }
    true
}

fn secret_sync(
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

// ---------------------------------------------------------------------------------------------------------------
// Output
// ---------------------------------------------------------------------------------------------------------------

/// The manifests, `---` separated; each source's preceded by comments naming it and what was not carried
/// over.
pub fn render_yaml(migrations: &[Migration]) -> Result<String, serde_yaml_ng::Error> {
    let mut out = String::from(YAML_HEADER);
    for migration in migrations {
        out.push_str("---\n");
        out.push_str(&comment(&format!("from {}", migration.source)));
        for note in &migration.notes {
            let what = if note.check { "check" } else { "not carried over" };
            out.push_str(&comment(&format!("{what}: {} ({})", note.field, note.reason)));
        }
        for (i, resource) in migration.resources.iter().enumerate() {
            if i > 0 {
                out.push_str("---\n");
            }
            out.push_str(&serde_yaml_ng::to_string(resource)?);
        }
    }
    Ok(out)
}

/// One comment line (line breaks in names from the input cannot end the comment).
fn comment(text: &str) -> String {
    format!("# {}\n", text.replace(['\n', '\r'], " "))
}

/// `{"resources": [...], "notes": [...]}`.
#[derive(Serialize)]
struct Report<'a> {
    resources: Vec<&'a Resource>,
    notes: Vec<&'a Note>,
}

/// Every generated object and every note, as one JSON object.
pub fn render_json(migrations: &[Migration]) -> Result<String, serde_json::Error> {
    let report = Report {
        resources: migrations.iter().flat_map(|m| &m.resources).collect(),
        notes: migrations.iter().flat_map(|m| &m.notes).collect(),
    };
    Ok(serde_json::to_string_pretty(&report)? + "\n")
}

// ---------------------------------------------------------------------------------------------------------------
// Reading, and the command
// ---------------------------------------------------------------------------------------------------------------

/// Run `migrate`: from files without connecting, else from the cluster.
pub async fn run(target: &TargetArgs, args: &MigrateArgs) -> Result<u8> {
    let options = Options {
        name: args.name.clone(),
        service_account: args.service_account.clone(),
    };
    let (inputs, scope) = if args.filenames.is_empty() {
        let target = target.connect().await?;
        let inputs = read_cluster(&target, &options).await?;
        (inputs, crate::status::in_scope(&target))
    } else {
        (
            read_files(&args.filenames, target.namespace.as_deref())?,
            String::new(),
        )
    };
    let migrations = migrate(&inputs, &options);
    if migrations.is_empty() {
        if let Some(name) = &args.name {
            bail!(
                "no ExternalSecret, and no SecretProviderClass with spec.secretObjects, named {name}{scope}"
            );
        }
        if args.output == Format::Yaml {
            eprintln!(
                "Nothing to migrate{scope}: no ExternalSecrets, no SecretProviderClasses with spec.secretObjects."
            );
            return Ok(0);
        }
    }
    let text = match args.output {
        Format::Yaml => render_yaml(&migrations)?,
        Format::Json => render_json(&migrations)?,
    };
    print!("{text}");
    Ok(exit_code(&migrations))
}

/// 0 when everything was carried over (notes to check aside), [`crate::EXIT_PARTIAL`] otherwise.
pub fn exit_code(migrations: &[Migration]) -> u8 {
    if migrations.iter().flat_map(|m| &m.notes).any(|n| !n.check) {
        crate::EXIT_PARTIAL
    } else {
        0
    }
}

fn read_files(paths: &[PathBuf], default_namespace: Option<&str>) -> Result<Inputs> {
    let mut inputs = Inputs::new(Origin::Files);
    for path in paths {
        let text = if path.as_os_str() == "-" {
            std::io::read_to_string(std::io::stdin()).context("read standard input")?
        } else {
            std::fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?
        };
        let documents = parse_documents(&text).with_context(|| format!("parse {}", path.display()))?;
        for document in documents {
            inputs.add(document, default_namespace);
        }
    }
    Ok(inputs)
}

/// ExternalSecrets with the stores of their scope (none when ESO is not installed), SecretProviderClasses,
/// and the ServiceAccounts the workload-identity stores name (metadata only).
async fn read_cluster(target: &Target, options: &Options) -> Result<Inputs> {
    let client = &target.client;
    let mut inputs = Inputs::new(Origin::Cluster);
    for version in ESO_VERSIONS {
        let Some(external_secrets) = list(
            scoped(target, &eso_resource(version, "ExternalSecret")),
            "externalsecrets",
        )
        .await?
        else {
            continue;
        };
        inputs.external_secrets = external_secrets;
        if !inputs.external_secrets.is_empty() {
            inputs.secret_stores = list(
                scoped(target, &eso_resource(version, "SecretStore")),
                "secretstores",
            )
            .await?
            .unwrap_or_default();
            let cluster_stores: Api<DynamicObject> =
                Api::all_with(client.clone(), &eso_resource(version, "ClusterSecretStore"));
            // A namespace user may not list cluster-scoped stores: only the ExternalSecrets that use one
            // are affected, and their note says so.
            inputs.cluster_secret_stores = match list(cluster_stores, "clustersecretstores").await {
                Ok(stores) => stores.unwrap_or_default(),
                Err(error)
                    if error
                        .downcast_ref::<kube::Error>()
                        .is_some_and(|e| matches!(e, kube::Error::Api(s) if s.code == 403)) =>
                {
                    inputs.cluster_stores_unreadable = true;
                    Vec::new()
                }
                Err(error) => return Err(error),
            };
        }
        break;
    }
    let classes = ApiResource::erase::<SecretProviderClass>(&());
    inputs.secret_provider_classes = list(scoped(target, &classes), "secretproviderclasses")
        .await?
        .unwrap_or_default();
    for (account_namespace, name) in service_accounts_to_read(&inputs, options) {
        let api: Api<ServiceAccount> = Api::namespaced(client.clone(), &account_namespace);
        let meta = api
            .get_metadata_opt(&name)
            .await
            .with_context(|| format!("get serviceaccount {account_namespace}/{name}"))?;
        if let Some(meta) = meta {
            inputs.service_accounts.push(serde_json::to_value(meta)?);
        }
    }
    Ok(inputs)
}

/// An ESO kind at `version` (the plural is the lower-case kind plus `s` for all three).
fn eso_resource(version: &str, kind: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk(ESO_GROUP, version, kind),
        &format!("{}s", kind.to_ascii_lowercase()),
    )
}

/// The dynamic API of `resource` in the target's namespace, or in all with -A.
fn scoped(target: &Target, resource: &ApiResource) -> Api<DynamicObject> {
    match &target.namespace {
        Some(namespace) => Api::namespaced_with(target.client.clone(), namespace, resource),
        None => Api::all_with(target.client.clone(), resource),
    }
}

/// Every object `api` lists, as JSON; `None` when the API server does not serve the resource (404).
async fn list(api: Api<DynamicObject>, what: &str) -> Result<Option<Vec<Value>>> {
    match api.list(&ListParams::default()).await {
        Ok(list) => Ok(Some(
            list.items
                .iter()
                .map(serde_json::to_value)
                .collect::<Result<_, _>>()?,
        )),
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(None),
        Err(error) => Err(anyhow::Error::new(error).context(format!("list {what}"))),
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Small helpers over JSON
// ---------------------------------------------------------------------------------------------------------------

/// The trimmed, non-empty string at a JSON pointer.
fn str_at<'a>(value: &'a Value, pointer: &str) -> Option<&'a str> {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

fn non_empty(value: Option<&str>) -> Option<&str> {
    value.map(str::trim).filter(|s| !s.is_empty())
}

fn namespace_of(object: &Value) -> Option<String> {
    str_at(object, "/metadata/namespace").map(str::to_string)
}

/// `ns/name`, or `name` without a namespace.
fn qualified(namespace: Option<&str>, name: &str) -> String {
    match namespace {
        Some(namespace) => format!("{namespace}/{name}"),
        None => name.to_string(),
    }
}

/// The federated credential subject of a ServiceAccount.
fn subject(namespace: Option<&str>, service_account: &str) -> String {
    format!(
        "system:serviceaccount:{}:{service_account}",
        namespace.unwrap_or("<namespace>")
    )
}

/// `object` with `metadata.namespace` set to `namespace` when it has none.
fn with_namespace(mut object: Value, namespace: Option<&str>) -> Value {
    if let Some(namespace) = namespace
        && namespace_of(&object).is_none()
        && let Some(metadata) = object.get_mut("metadata").and_then(Value::as_object_mut)
    {
        metadata.insert("namespace".into(), Value::String(namespace.to_string()));
    }
    object
}

/// An annotation of an object, trimmed and non-empty.
fn annotation(object: Option<&Value>, key: &str) -> Option<String> {
    object?
        .pointer("/metadata/annotations")?
        .get(key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_string)
}

/// `Secret ns/name key K` of an ESO secret key selector.
fn secret_key_ref(selector: &Value) -> String {
    format!(
        "Secret {} key {}",
        qualified(
            str_at(selector, "/namespace"),
            str_at(selector, "/name").unwrap_or("?")
        ),
        str_at(selector, "/key").unwrap_or("?")
    )
}

/// A map of strings (labels, annotations); `None` when absent or empty.
fn string_map(value: Option<&Value>) -> Option<BTreeMap<String, String>> {
    let map: BTreeMap<String, String> = value?
        .as_object()?
        .iter()
        .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
        .collect();
    (!map.is_empty()).then_some(map)
}

/// Whether a field holds something (a non-empty object, list or string, or any other value).
fn is_set(value: Option<&Value>) -> bool {
    match value {
        None | Some(Value::Null) => false,
        Some(Value::Object(map)) => !map.is_empty(),
        Some(Value::Array(list)) => !list.is_empty(),
        Some(Value::String(s)) => !s.trim().is_empty(),
        Some(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options() -> Options {
        Options {
            name: None,
            service_account: "default".to_string(),
        }
    }

    fn inputs(yaml: &str) -> Inputs {
        let mut inputs = Inputs::new(Origin::Files);
        for document in parse_documents(yaml).unwrap_or_else(|e| panic!("{e}")) {
            inputs.add(document, None);
        }
        inputs
    }

    fn run_on(yaml: &str) -> Vec<Migration> {
        migrate(&inputs(yaml), &options())
    }

    fn only(migrations: &[Migration]) -> &Migration {
        match migrations {
            [migration] => migration,
            other => panic!("expected one migration, got {other:#?}"),
        }
    }

    fn class(migration: &Migration) -> &SecretProviderClass {
        migration
            .resources
            .iter()
            .find_map(|r| match r {
                Resource::SecretProviderClass(class) => Some(&**class),
                Resource::SecretSync(_) => None,
            })
            .unwrap_or_else(|| panic!("no SecretProviderClass in {migration:#?}"))
    }

    fn syncs(migration: &Migration) -> Vec<&SecretSync> {
        migration
            .resources
            .iter()
            .filter_map(|r| match r {
                Resource::SecretSync(sync) => Some(&**sync),
                Resource::SecretProviderClass(_) => None,
            })
            .collect()
    }

    fn the_sync(migration: &Migration) -> &SecretSync {
        match syncs(migration).as_slice() {
            [sync] => sync,
            _ => panic!("one SecretSync expected: {migration:#?}"),
        }
    }

    fn parameters(migration: &Migration) -> &BTreeMap<String, String> {
        class(migration)
            .spec
            .parameters
            .as_ref()
            .unwrap_or_else(|| panic!("no parameters in {migration:#?}"))
    }

    /// The `objects` parameter, each entry as its fields.
    fn objects(migration: &Migration) -> Vec<BTreeMap<String, String>> {
        let objects = Objects::parse(&parameters(migration)[OBJECTS]).unwrap_or_else(|e| panic!("{e}"));
        objects
            .array
            .iter()
            .map(|entry| serde_yaml_ng::from_str(entry).unwrap_or_else(|e| panic!("{entry}: {e}")))
            .collect()
    }

    fn object(fields: &[(&str, &str)]) -> BTreeMap<String, String> {
        fields
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect()
    }

    fn data(sync: &SecretSync) -> Vec<(&str, &str)> {
        sync.spec
            .secret_object
            .data
            .iter()
            .map(|d| (d.source_path.as_str(), d.target_key.as_str()))
            .collect()
    }

    fn fields(migration: &Migration) -> Vec<&str> {
        migration.notes.iter().map(|n| n.field.as_str()).collect()
    }

    fn reason<'a>(migration: &'a Migration, field: &str) -> &'a str {
        migration
            .notes
            .iter()
            .find(|n| n.field == field)
            .map(|n| n.reason.as_str())
            .unwrap_or_else(|| panic!("no note on {field} in {:#?}", migration.notes))
    }

    const STORE_WI: &str = r"
apiVersion: v1
kind: ServiceAccount
metadata:
  name: eso-reader
  namespace: payments
  annotations:
    azure.workload.identity/client-id: 11111111-2222-3333-4444-555555555555
---
apiVersion: external-secrets.io/v1
kind: SecretStore
metadata: {name: kv, namespace: payments}
spec:
  provider:
    azurekv:
      authType: WorkloadIdentity
      vaultUrl: https://payments-kv.vault.azure.net/
      tenantId: aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee
      serviceAccountRef: {name: eso-reader}
";

    #[test]
    fn external_secret_with_a_workload_identity_store() {
        let yaml = format!(
            "{STORE_WI}---
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata: {{name: db, namespace: payments}}
spec:
  refreshInterval: 15m
  secretStoreRef: {{name: kv, kind: SecretStore}}
  target:
    name: db-credentials
    creationPolicy: Owner
    template:
      metadata:
        labels: {{app: billing}}
  data:
    - secretKey: username
      remoteRef: {{key: db-user}}
    - secretKey: password
      remoteRef: {{key: secret/db-password}}
    - secretKey: password-previous
      remoteRef: {{key: db-password, version: 0123abcd}}
    - secretKey: PASSWORD
      remoteRef: {{key: db-password}}
    - secretKey: blob
      remoteRef: {{key: blob, decodingStrategy: Base64}}
"
        );
        let migrations = run_on(&yaml);
        let migration = only(&migrations);
        assert_eq!(migration.source, "ExternalSecret payments/db");
        assert_eq!(migration.notes, Vec::<Note>::new(), "everything carries over");

        let class = class(migration);
        assert_eq!(class.metadata.name.as_deref(), Some("db-credentials"));
        assert_eq!(class.metadata.namespace.as_deref(), Some("payments"));
        assert_eq!(class.spec.provider.as_deref(), Some("azure"));
        assert_eq!(class.spec.secret_objects, None);
        let parameters = parameters(migration);
        assert_eq!(
            parameters.keys().map(String::as_str).collect::<Vec<_>>(),
            ["clientID", "keyvaultName", "objects", "tenantID"],
            "no cloudName in the public cloud"
        );
        assert_eq!(parameters["keyvaultName"], "payments-kv");
        assert_eq!(parameters["tenantID"], "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee");
        assert_eq!(parameters["clientID"], "11111111-2222-3333-4444-555555555555");
        assert_eq!(
            objects(migration),
            [
                object(&[("objectName", "db-user"), ("objectType", "secret")]),
                object(&[("objectName", "db-password"), ("objectType", "secret")]),
                object(&[
                    ("objectName", "db-password"),
                    ("objectType", "secret"),
                    ("objectAlias", "db-password-2"),
                    ("objectVersion", "0123abcd"),
                ]),
                object(&[
                    ("objectName", "blob"),
                    ("objectType", "secret"),
                    ("objectEncoding", "base64"),
                ]),
            ]
        );

        let sync = the_sync(migration);
        assert_eq!(sync.metadata.name.as_deref(), Some("db-credentials"));
        assert_eq!(sync.metadata.namespace.as_deref(), Some("payments"));
        assert_eq!(
            sync.metadata.annotations,
            Some(BTreeMap::from([(
                REFRESH_INTERVAL_ANNOTATION.to_string(),
                "15m".to_string()
            )]))
        );
        assert_eq!(sync.spec.secret_provider_class_name, "db-credentials");
        assert_eq!(sync.spec.service_account_name, "eso-reader");
        assert_eq!(sync.spec.secret_object.type_, "Opaque");
        assert_eq!(
            sync.spec.secret_object.labels,
            Some(BTreeMap::from([("app".to_string(), "billing".to_string())]))
        );
        assert_eq!(
            data(sync),
            [
                ("db-user", "username"),
                ("db-password", "password"),
                ("db-password-2", "password-previous"),
                ("db-password", "PASSWORD"),
                ("blob", "blob"),
            ]
        );
    }

    #[test]
    fn cluster_secret_store_in_a_sovereign_cloud_with_the_account_elsewhere() {
        let migrations = run_on(
            r"
apiVersion: external-secrets.io/v1
kind: ClusterSecretStore
metadata: {name: shared}
spec:
  provider:
    azurekv:
      authType: WorkloadIdentity
      vaultUrl: https://shared-kv.vault.azure.cn
      serviceAccountRef: {name: eso, namespace: external-secrets}
---
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata: {name: api, namespace: web}
spec:
  secretStoreRef: {name: shared, kind: ClusterSecretStore}
  data:
    - secretKey: token
      remoteRef: {key: api-token}
",
        );
        let migration = only(&migrations);
        assert_eq!(
            fields(migration),
            [
                "ClusterSecretStore shared: spec.provider.azurekv.serviceAccountRef.namespace",
                "ClusterSecretStore shared: spec.provider.azurekv.serviceAccountRef",
                "ClusterSecretStore shared: spec.provider.azurekv.tenantId",
            ]
        );
        let moved = reason(
            migration,
            "ClusterSecretStore shared: spec.provider.azurekv.serviceAccountRef.namespace",
        );
        assert!(
            moved.contains("external-secrets/eso") && moved.contains("system:serviceaccount:web:eso"),
            "{moved}"
        );
        assert!(
            reason(
                migration,
                "ClusterSecretStore shared: spec.provider.azurekv.serviceAccountRef"
            )
            .contains("ServiceAccount external-secrets/eso is not among the files given"),
        );
        let parameters = parameters(migration);
        assert_eq!(parameters["keyvaultName"], "shared-kv");
        assert_eq!(parameters["cloudName"], "AzureChinaCloud");
        assert_eq!(parameters["clientID"], "<client-id of ServiceAccount eso>");
        assert_eq!(parameters["tenantID"], "<tenant-id>");
        let sync = the_sync(migration);
        assert_eq!(
            sync.metadata.name.as_deref(),
            Some("api"),
            "the ExternalSecret's name without target.name"
        );
        assert_eq!(sync.spec.service_account_name, "eso");
        assert_eq!(
            sync.metadata.annotations, None,
            "no refreshInterval: the manager's interval"
        );
        assert_eq!(data(sync), [("api-token", "token")]);
    }

    #[test]
    fn the_client_id_comes_from_the_service_account_annotation_when_the_cluster_has_it() {
        let mut inputs = inputs(
            r"
apiVersion: external-secrets.io/v1
kind: ClusterSecretStore
metadata: {name: shared}
spec:
  provider:
    azurekv:
      authType: WorkloadIdentity
      vaultUrl: https://shared-kv.vault.azure.net
      serviceAccountRef: {name: reader}
---
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata: {name: api, namespace: web}
spec:
  secretStoreRef: {name: shared, kind: ClusterSecretStore}
  data:
    - {secretKey: token, remoteRef: {key: api-token}}
",
        );
        inputs.origin = Origin::Cluster;
        assert_eq!(
            service_accounts_to_read(&inputs, &options()),
            BTreeSet::from([("web".to_string(), "reader".to_string())]),
            "a ClusterSecretStore's account without a namespace is the ExternalSecret's"
        );
        let missing = migrate(&inputs, &options());
        assert!(
            reason(
                only(&missing),
                "ClusterSecretStore shared: spec.provider.azurekv.serviceAccountRef"
            )
            .contains("ServiceAccount web/reader is not in the cluster")
        );
        inputs.service_accounts.push(serde_json::json!({
            "metadata": {"name": "reader", "namespace": "web", "annotations": {
                "azure.workload.identity/client-id": "cid", "azure.workload.identity/tenant-id": "tid"}}
        }));
        let migrations = migrate(&inputs, &options());
        let migration = only(&migrations);
        assert_eq!(migration.notes, Vec::<Note>::new());
        assert_eq!(parameters(migration)["clientID"], "cid");
        assert_eq!(parameters(migration)["tenantID"], "tid");
    }

    #[test]
    fn data_from_and_properties_are_noted_and_left_out() {
        let yaml = format!(
            "{STORE_WI}---
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata: {{name: config, namespace: payments}}
spec:
  secretStoreRef: {{name: kv}}
  data:
    - secretKey: host
      remoteRef: {{key: db-config, property: host}}
    - secretKey: user
      remoteRef: {{key: db-user}}
    - secretKey: owner
      remoteRef: {{key: db-user, metadataPolicy: Fetch, property: owner}}
  dataFrom:
    - find: {{name: {{regexp: '^db-'}}}}
    - extract: {{key: db-json}}
"
        );
        let migrations = run_on(&yaml);
        let migration = only(&migrations);
        assert_eq!(
            fields(migration),
            [
                "spec.data[0].remoteRef.property",
                "spec.data[2].remoteRef.metadataPolicy",
                "spec.dataFrom[0].find",
                "spec.dataFrom[1].extract",
            ]
        );
        assert_eq!(reason(migration, "spec.dataFrom[0].find"), FIND_REASON);
        assert!(
            reason(migration, "spec.data[0].remoteRef.property")
                .starts_with("host: ESO extracts one JSON property")
        );
        assert_eq!(
            objects(migration),
            [object(&[("objectName", "db-user"), ("objectType", "secret")])]
        );
        let sync = the_sync(migration);
        assert_eq!(data(sync), [("db-user", "user")]);
    }

    #[test]
    fn a_store_of_another_provider_generates_nothing() {
        let migrations = run_on(
            r"
apiVersion: external-secrets.io/v1
kind: SecretStore
metadata: {name: vault, namespace: apps}
spec:
  provider:
    vault: {server: 'https://vault.example.com'}
---
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata: {name: a, namespace: apps}
spec:
  secretStoreRef: {name: vault}
  data: [{secretKey: k, remoteRef: {key: x}}]
---
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata: {name: b, namespace: apps}
spec:
  secretStoreRef: {name: gone}
  data: [{secretKey: k, remoteRef: {key: x}}]
",
        );
        assert_eq!(migrations.len(), 2);
        for migration in &migrations {
            assert!(migration.resources.is_empty(), "{migration:#?}");
            assert_eq!(fields(migration), ["spec.secretStoreRef"]);
        }
        assert_eq!(
            migrations[0].notes[0].reason,
            "SecretStore apps/vault uses provider vault: SSE-rs syncs from Azure Key Vault (provider azurekv) only"
        );
        assert_eq!(migrations[1].notes[0].source, "ExternalSecret apps/b");
        assert!(
            migrations[1].notes[0]
                .reason
                .starts_with("SecretStore apps/gone is not among the files given"),
            "{:?}",
            migrations[1].notes
        );
    }

    #[test]
    fn cert_and_key_prefixes() {
        let yaml = format!(
            "{STORE_WI}---
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata: {{name: pki, namespace: payments}}
spec:
  secretStoreRef: {{name: kv}}
  data:
    - secretKey: ca.crt
      remoteRef: {{key: cert/root-ca}}
    - secretKey: signing.pem
      remoteRef: {{key: key/signing}}
    - secretKey: plain
      remoteRef: {{key: secret/root-ca/ignored}}
    - secretKey: odd
      remoteRef: {{key: blob/x}}
"
        );
        let migrations = run_on(&yaml);
        let migration = only(&migrations);
        assert_eq!(
            fields(migration),
            [
                "spec.data[0].remoteRef.key",
                "spec.data[1].remoteRef.key",
                "spec.data[3].remoteRef.key",
            ]
        );
        assert!(reason(migration, "spec.data[3].remoteRef.key").starts_with("blob/x: not secret/NAME"));
        assert_eq!(
            objects(migration),
            [
                object(&[("objectName", "root-ca"), ("objectType", "cert")]),
                object(&[("objectName", "signing"), ("objectType", "key")]),
                object(&[
                    ("objectName", "root-ca"),
                    ("objectType", "secret"),
                    ("objectAlias", "root-ca-2"),
                ]),
            ],
            "the certificate and the secret of one name are two files"
        );
        let sync = the_sync(migration);
        assert_eq!(
            data(sync),
            [
                ("root-ca", "ca.crt"),
                ("signing", "signing.pem"),
                ("root-ca-2", "plain")
            ]
        );
    }

    #[test]
    fn csi_secret_objects_become_one_secret_sync_each() {
        let migrations = run_on(
            r#"
apiVersion: secrets-store.csi.x-k8s.io/v1
kind: SecretProviderClass
metadata:
  name: app-kv
  namespace: shop
  resourceVersion: "42"
  uid: 0c0ffee0-0000-0000-0000-000000000000
  annotations:
    kubectl.kubernetes.io/last-applied-configuration: "{}"
    team: payments
spec:
  provider: azure
  parameters:
    keyvaultName: shop-kv
    clientID: 99999999-8888-7777-6666-555555555555
    tenantId: tenant
    objects: |
      array:
        - |
          objectName: db-password
          objectType: secret
        - |
          objectName: web-cert
          objectType: secret
  secretObjects:
    - secretName: db
      type: Opaque
      labels: {app: shop}
      data:
        - {objectName: db-password, key: password}
    - secretName: web-tls
      type: kubernetes.io/tls
      data:
        - {objectName: web-cert, key: tls.crt}
        - {objectName: web-cert, key: tls.key}
---
apiVersion: secrets-store.csi.x-k8s.io/v1
kind: SecretProviderClass
metadata: {name: mount-only, namespace: shop}
spec: {provider: azure, parameters: {keyvaultName: shop-kv}}
"#,
        );
        let migration = only(&migrations);
        assert_eq!(migration.source, "SecretProviderClass shop/app-kv");
        assert_eq!(fields(migration), ["serviceAccountName"]);
        let why = reason(migration, "serviceAccountName");
        assert!(
            why.contains("default (--service-account)")
                && why.contains("identity 99999999-8888-7777-6666-555555555555 needs a federated credential for system:serviceaccount:shop:default"),
            "{why}"
        );

        let class = class(migration);
        assert_eq!(class.metadata.name.as_deref(), Some("app-kv"));
        assert_eq!(class.metadata.resource_version, None);
        assert_eq!(class.metadata.uid, None);
        assert_eq!(
            class.metadata.annotations,
            Some(BTreeMap::from([("team".to_string(), "payments".to_string())]))
        );
        assert_eq!(class.spec.secret_objects, None);
        assert_eq!(
            class.spec.parameters.as_ref().map(BTreeMap::len),
            Some(4),
            "unchanged"
        );

        let syncs = syncs(migration);
        assert_eq!(syncs.len(), 2);
        let (db, tls) = (syncs[0], syncs[1]);
        assert_eq!(db.metadata.name.as_deref(), Some("db"));
        assert_eq!(db.metadata.namespace.as_deref(), Some("shop"));
        assert_eq!(db.spec.secret_provider_class_name, "app-kv");
        assert_eq!(db.spec.service_account_name, "default");
        assert_eq!(db.spec.secret_object.type_, "Opaque");
        assert_eq!(
            db.spec.secret_object.labels,
            Some(BTreeMap::from([("app".to_string(), "shop".to_string())]))
        );
        assert_eq!(data(db), [("db-password", "password")]);
        assert_eq!(tls.metadata.name.as_deref(), Some("web-tls"));
        assert_eq!(tls.spec.secret_object.type_, "kubernetes.io/tls");
        assert_eq!(data(tls), [("web-cert", "tls.crt"), ("web-cert", "tls.key")]);
    }

    #[test]
    fn csi_identities_a_secret_sync_cannot_use_are_noted() {
        let migrations = migrate(
            &inputs(
                r"
apiVersion: secrets-store.csi.x-k8s.io/v1
kind: SecretProviderClass
metadata: {name: legacy, namespace: shop}
spec:
  provider: azure
  parameters: {keyvaultName: shop-kv, usePodIdentity: 'true', objects: 'array: []'}
  secretObjects:
    - secretName: legacy
      data: [{objectName: a, key: a}]
",
            ),
            &Options {
                name: Some("legacy".to_string()),
                service_account: "app".to_string(),
            },
        );
        let migration = only(&migrations);
        assert_eq!(
            fields(migration),
            ["spec.parameters.usePodIdentity", "serviceAccountName"]
        );
        assert!(reason(migration, "serviceAccountName").contains("app (--service-account)"));
        let sync = the_sync(migration);
        assert_eq!(sync.spec.service_account_name, "app");
        assert_eq!(sync.spec.secret_object.type_, "Opaque", "the default type");
    }

    #[test]
    fn documents_lists_and_namespaces_from_files() {
        let text = r#"
# a comment before the first document
---
{"apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret", "metadata": {"name": "a"}}
---
---
apiVersion: v1
kind: List
items:
  - apiVersion: external-secrets.io/v1
    kind: SecretStore
    metadata: {name: s, namespace: other}
  - apiVersion: v1
    kind: ConfigMap
    metadata: {name: ignored}
---
apiVersion: external-secrets.io/v1beta1
kind: ExternalSecretList
items:
  - metadata: {name: b}
---
apiVersion: external-secrets.io/v1
kind: ClusterSecretStore
metadata: {name: c}
---
apiVersion: secrets-store.csi.x-k8s.io/v1
kind: SecretProviderClass
metadata: {name: p}
spec: {provider: azure}
---
apiVersion: v1
kind: ServiceAccount
metadata: {generateName: nameless-}
"#;
        let documents = parse_documents(text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(documents.len(), 6, "empty documents are left out: {documents:#?}");
        let mut inputs = Inputs::new(Origin::Files);
        for document in documents {
            inputs.add(document, Some("apps"));
        }
        fn names(list: &[Value]) -> Vec<String> {
            list.iter()
                .map(|o| {
                    format!(
                        "{}/{}",
                        str_at(o, "/metadata/namespace").unwrap_or("-"),
                        str_at(o, "/metadata/name").unwrap_or("-")
                    )
                })
                .collect()
        }
        assert_eq!(names(&inputs.external_secrets), ["apps/a", "apps/b"]);
        assert_eq!(
            inputs.external_secrets[1]["kind"], "ExternalSecret",
            "items of a <Kind>List get their kind"
        );
        assert_eq!(
            names(&inputs.secret_stores),
            ["other/s"],
            "a namespace given is kept"
        );
        assert_eq!(
            names(&inputs.cluster_secret_stores),
            ["-/c"],
            "cluster-scoped: no namespace"
        );
        assert_eq!(names(&inputs.secret_provider_classes), ["apps/p"]);
        assert!(
            inputs.service_accounts.is_empty(),
            "an object without a name is ignored"
        );
        assert!(parse_documents("a: [").is_err());
    }

    #[test]
    fn a_secret_sync_failing_validation_is_noted_and_not_printed() {
        let migrations = run_on(
            r"
apiVersion: secrets-store.csi.x-k8s.io/v1
kind: SecretProviderClass
metadata: {name: p, namespace: shop}
spec:
  provider: azure
  parameters: {keyvaultName: kv, clientID: c, objects: 'array: []'}
  secretObjects:
    - secretName: reserved
      labels: {secrets-store.sync.x-k8s.io/owner: me}
      data: [{objectName: a, key: a}]
    - secretName: empty
      data: [{objectName: a}]
",
        );
        let migration = only(&migrations);
        assert!(
            migration.resources.is_empty(),
            "no SecretSync left, no class: {migration:#?}"
        );
        assert_eq!(
            fields(migration),
            [
                "serviceAccountName",
                "spec.secretObjects[0].labels",
                "spec.secretObjects[1].data[0]",
                "spec.secretObjects[1].data",
            ]
        );
        assert_eq!(
            reason(migration, "spec.secretObjects[0].labels"),
            "SSE-rs would refuse the SecretSync (label secrets-store.sync.x-k8s.io/owner is reserved for use by the Secrets Store Sync Controller): it is not printed"
        );
        assert!(
            reason(migration, "spec.secretObjects[1].data").contains("secretObject.data is empty"),
            "{:#?}",
            migration.notes
        );
    }

    #[test]
    fn an_external_secret_with_nothing_left_to_map_is_not_printed() {
        let yaml = format!(
            "{STORE_WI}---
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata: {{name: all, namespace: payments}}
spec:
  secretStoreRef: {{name: kv}}
  dataFrom: [{{find: {{tags: {{team: a}}}}}}]
"
        );
        let migrations = run_on(&yaml);
        let migration = only(&migrations);
        assert!(migration.resources.is_empty());
        assert_eq!(fields(migration), ["spec.dataFrom[0].find", "spec.data"]);
    }

    #[test]
    fn secret_types_the_admission_policy_refuses() {
        let external_secret = |name: &str, secret_type: &str| {
            format!(
                "---
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata: {{name: {name}, namespace: payments}}
spec:
  secretStoreRef: {{name: kv}}
  target: {{template: {{type: {secret_type}}}}}
  data: [{{secretKey: token, remoteRef: {{key: token}}}}]
"
            )
        };
        let yaml = format!(
            "{STORE_WI}{}{}",
            external_secret("sa", "kubernetes.io/service-account-token"),
            external_secret("custom", "example.com/api-credentials")
        ) + &external_secret("boot", "bootstrap.kubernetes.io/token");
        let migrations = run_on(&yaml);
        assert_eq!(migrations.len(), 3);
        assert!(migrations[0].resources.is_empty());
        assert_eq!(fields(&migrations[0]), ["spec.target.template.type"]);
        assert!(
            migrations[2].resources.is_empty(),
            "a bootstrap token is an API credential too"
        );
        assert_eq!(fields(&migrations[2]), ["spec.target.template.type"]);
        assert_eq!(
            migrations[1].resources.len(),
            2,
            "printed: an administrator may allow the type"
        );
        assert_eq!(fields(&migrations[1]), ["spec.target.template.type"]);
        assert!(
            migrations[1].notes[0]
                .reason
                .contains("not in the admission policy's allowed Secret types")
        );
    }

    #[test]
    fn a_tls_template_over_one_certificate_becomes_the_managers_split() {
        let yaml = format!(
            "{STORE_WI}---
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata: {{name: web, namespace: payments}}
spec:
  secretStoreRef: {{name: kv}}
  target:
    name: web-tls
    template:
      type: kubernetes.io/tls
      data:
        tls.crt: '{{{{ .cert | pkcs12cert }}}}'
        tls.key: '{{{{ .cert | pkcs12key }}}}'
  data:
    - secretKey: cert
      remoteRef: {{key: secret/web-cert}}
"
        );
        let migrations = run_on(&yaml);
        let migration = only(&migrations);
        assert_eq!(fields(migration), ["spec.target.template"]);
        assert!(reason(migration, "spec.target.template").contains("tls.crt and tls.key"));
        let sync = the_sync(migration);
        assert_eq!(sync.spec.secret_object.type_, "kubernetes.io/tls");
        assert_eq!(data(sync), [("web-cert", "tls.crt"), ("web-cert", "tls.key")]);
        assert_eq!(
            objects(migration),
            [object(&[("objectName", "web-cert"), ("objectType", "secret")])]
        );
    }

    #[test]
    fn other_auth_types_become_workload_identity_with_a_note() {
        let migrations = run_on(
            r"
apiVersion: external-secrets.io/v1
kind: SecretStore
metadata: {name: mi, namespace: ops}
spec:
  provider:
    azurekv:
      authType: ManagedIdentity
      identityId: 12345678-0000-0000-0000-000000000000
      vaultUrl: https://ops-kv.vault.usgovcloudapi.net/
      tenantId: t
---
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata: {name: a, namespace: ops}
spec:
  secretStoreRef: {name: mi}
  refreshInterval: '0'
  target: {creationPolicy: Merge, deletionPolicy: Delete}
  data: [{secretKey: k, remoteRef: {key: x}}]
",
        );
        let migration = only(&migrations);
        assert_eq!(
            fields(migration),
            [
                "SecretStore ops/mi: spec.provider.azurekv.authType",
                "spec.target.creationPolicy",
                "spec.target.deletionPolicy",
                "spec.refreshInterval",
            ]
        );
        assert!(
            reason(migration, "SecretStore ops/mi: spec.provider.azurekv.authType")
                .contains("system:serviceaccount:ops:default"),
        );
        assert!(reason(migration, "spec.refreshInterval").contains("ESO fetches once"));
        let parameters = parameters(migration);
        assert_eq!(parameters["clientID"], "12345678-0000-0000-0000-000000000000");
        assert_eq!(parameters["cloudName"], "AzureUSGovernmentCloud");
        let sync = the_sync(migration);
        assert_eq!(sync.spec.service_account_name, "default");
        assert_eq!(sync.metadata.annotations, None);
    }

    #[test]
    fn vault_urls() {
        assert_eq!(
            parse_vault_url("https://my-kv.vault.azure.net/"),
            Some(("my-kv", None))
        );
        assert_eq!(
            parse_vault_url("https://my-kv.vault.azure.net"),
            Some(("my-kv", None))
        );
        assert_eq!(
            parse_vault_url("https://my-kv.Vault.Azure.Net:443/"),
            Some(("my-kv", None))
        );
        assert_eq!(
            parse_vault_url("https://gov.vault.usgovcloudapi.net/"),
            Some(("gov", Some("AzureUSGovernmentCloud")))
        );
        assert_eq!(
            parse_vault_url("https://cn.vault.azure.cn"),
            Some(("cn", Some("AzureChinaCloud")))
        );
        for bad in [
            "http://my-kv.vault.azure.net/",
            "https://my-kv.managedhsm.azure.net/",
            "https://vault.azure.net/",
            "https://my-kv.vault.azure.net/secrets/x",
            "https://my-kv.vault.azure.net:8443/",
            "my-kv",
        ] {
            assert_eq!(parse_vault_url(bad), None, "{bad}");
        }
    }

    #[test]
    fn refresh_intervals() {
        let annotate = |interval: &str| {
            let mut notes = Notes::new("ExternalSecret x".to_string());
            let es = serde_json::json!({"spec": {"refreshInterval": interval}});
            let annotations = refresh_annotations(&es, &mut notes);
            (
                annotations.get(REFRESH_INTERVAL_ANNOTATION).cloned(),
                notes.list.len(),
            )
        };
        assert_eq!(annotate("1h0m0s"), (Some("1h0m0s".to_string()), 0));
        assert_eq!(annotate("90s"), (Some("90s".to_string()), 0));
        assert_eq!(annotate("0"), (None, 1));
        assert_eq!(annotate("0s"), (None, 1));
        assert_eq!(annotate("500ms"), (None, 1));
    }

    #[test]
    fn two_sources_of_one_secret_sync() {
        let yaml = format!(
            "{STORE_WI}---
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata: {{name: first, namespace: payments}}
spec:
  secretStoreRef: {{name: kv}}
  target: {{name: shared}}
  data: [{{secretKey: a, remoteRef: {{key: a}}}}]
---
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata: {{name: second, namespace: payments}}
spec:
  secretStoreRef: {{name: kv}}
  target: {{name: shared, creationPolicy: Merge}}
  data: [{{secretKey: b, remoteRef: {{key: b}}}}]
"
        );
        let migrations = run_on(&yaml);
        assert_eq!(migrations.len(), 2);
        assert_eq!(migrations[0].resources.len(), 2);
        assert!(migrations[1].resources.is_empty());
        assert_eq!(
            reason(&migrations[1], "metadata.name"),
            "ExternalSecret payments/first already gives SecretProviderClass payments/shared: one Secret has one SecretSync, merge the two by hand"
        );
    }

    #[test]
    fn yaml_and_json_output() {
        let yaml = format!(
            "{STORE_WI}---
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata: {{name: db, namespace: payments}}
spec:
  secretStoreRef: {{name: kv}}
  data: [{{secretKey: user, remoteRef: {{key: db-user}}}}]
  dataFrom: [{{find: {{name: {{regexp: x}}}}}}]
"
        );
        let migrations = run_on(&yaml);
        let text = render_yaml(&migrations).unwrap_or_else(|e| panic!("{e}"));
        assert!(text.starts_with(YAML_HEADER), "{text}");
        assert!(
            text.contains(&format!(
                "---\n# from ExternalSecret payments/db\n# not carried over: spec.dataFrom[0].find ({FIND_REASON})\napiVersion: secrets-store.csi.x-k8s.io/v1\n"
            )),
            "{text}"
        );
        let documents = parse_documents(&text).unwrap_or_else(|e| panic!("{e}"));
        let kinds: Vec<&str> = documents.iter().filter_map(|d| str_at(d, "/kind")).collect();
        assert_eq!(kinds, ["SecretProviderClass", "SecretSync"]);
        assert_eq!(
            documents[1].pointer("/apiVersion").and_then(Value::as_str),
            Some("secret-sync.x-k8s.io/v1alpha1")
        );
        assert_eq!(documents[1].get("status"), None);

        let json: Value = serde_json::from_str(&render_json(&migrations).unwrap_or_else(|e| panic!("{e}")))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(json["resources"].as_array().map(Vec::len), Some(2));
        assert_eq!(json["resources"][1]["spec"]["serviceAccountName"], "eso-reader");
        assert_eq!(
            json["notes"],
            serde_json::json!([{
                "source": "ExternalSecret payments/db",
                "field": "spec.dataFrom[0].find",
                "reason": FIND_REASON,
            }])
        );
        assert_eq!(comment("a\nb"), "# a b\n", "a line break cannot end a comment");
    }

    #[test]
    fn yaml_scalars_read_back_as_strings() {
        for value in [
            "db-password",
            "0123abcd",
            "12345",
            "true",
            "No",
            "a b",
            "x:y",
            "",
            "é",
        ] {
            let entry = format!("objectVersion: {}", yaml_scalar(value));
            let parsed: BTreeMap<String, String> =
                serde_yaml_ng::from_str(&entry).unwrap_or_else(|e| panic!("{entry}: {e}"));
            assert_eq!(parsed["objectVersion"], value, "{entry}");
        }
        assert_eq!(yaml_scalar("db-password"), "db-password");
        assert_eq!(yaml_scalar("0123abcd"), "\"0123abcd\"");
    }

    #[test]
    fn the_command_line() {
        use clap::Parser as _;
        let cli = crate::cli::Cli::try_parse_from([
            "kubectl-sse",
            "migrate",
            "-f",
            "eso.yaml",
            "--filename",
            "-",
            "-o",
            "json",
            "--service-account",
            "app",
            "-n",
            "shop",
            "db",
        ])
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(cli.target.namespace.as_deref(), Some("shop"));
        let crate::cli::Command::Migrate(args) = cli.command else {
            panic!("migrate")
        };
        assert_eq!(args.filenames, [PathBuf::from("eso.yaml"), PathBuf::from("-")]);
        assert_eq!(args.output, Format::Json);
        assert_eq!(args.service_account, "app");
        assert_eq!(args.name.as_deref(), Some("db"));
        let cli = crate::cli::Cli::try_parse_from(["kubectl-sse", "migrate", "-A"])
            .unwrap_or_else(|e| panic!("{e}"));
        let crate::cli::Command::Migrate(args) = cli.command else {
            panic!("migrate")
        };
        assert_eq!(
            (args.output, args.service_account.as_str()),
            (Format::Yaml, "default")
        );
        assert!(args.filenames.is_empty());
    }

    #[test]
    fn an_existing_class_of_the_same_name_is_not_replaced_and_checks_do_not_fail_the_run() {
        let yaml = r#"
apiVersion: external-secrets.io/v1
kind: SecretStore
metadata: {name: kv, namespace: apps}
spec:
  provider:
    azurekv:
      authType: WorkloadIdentity
      vaultUrl: https://contoso-kv.vault.azure.net
      tenantId: t-1
      serviceAccountRef: {name: reader}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: reader, namespace: apps, annotations: {azure.workload.identity/client-id: c-1}}
---
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata: {name: db, namespace: apps}
spec:
  secretStoreRef: {name: kv, kind: SecretStore}
  data:
    - {secretKey: password, remoteRef: {key: db-password}}
---
apiVersion: secrets-store.csi.x-k8s.io/v1
kind: SecretProviderClass
metadata: {name: db, namespace: apps}
spec: {provider: azure, parameters: {keyvaultName: other}}
"#;
        let migrations = run_on(yaml);
        let migration = migrations
            .iter()
            .find(|m| m.source == "ExternalSecret apps/db")
            .unwrap_or_else(|| panic!("{migrations:#?}"));
        assert_eq!(class(migration).metadata.name.as_deref(), Some("db-sse"));
        assert_eq!(the_sync(migration).spec.secret_provider_class_name, "db-sse");
        assert_eq!(the_sync(migration).metadata.name.as_deref(), Some("db"));
        assert!(
            migration.notes.iter().all(|n| n.check),
            "only a note to check: {:#?}",
            migration.notes
        );
        assert_eq!(exit_code(std::slice::from_ref(migration)), 0);
        let yaml_out = render_yaml(std::slice::from_ref(migration)).unwrap_or_default();
        assert!(
            yaml_out.contains("# check: metadata.name (a SecretProviderClass db exists already"),
            "{yaml_out}"
        );
    }

    #[test]
    fn workload_identity_without_a_service_account_ignores_auth_secret_ref_as_eso_does() {
        let yaml = r#"
apiVersion: external-secrets.io/v1
kind: SecretStore
metadata: {name: kv, namespace: apps}
spec:
  provider:
    azurekv:
      authType: WorkloadIdentity
      vaultUrl: https://contoso-kv.vault.azure.net
      tenantId: t-1
      authSecretRef:
        clientId: {name: creds, key: client-id}
---
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata: {name: db, namespace: apps}
spec:
  secretStoreRef: {name: kv, kind: SecretStore}
  data:
    - {secretKey: password, remoteRef: {key: db-password}}
"#;
        let migrations = run_on(yaml);
        let migration = only(&migrations);
        assert_eq!(
            parameters(migration)["clientID"],
            "<client-id of ServiceAccount default>",
            "not the authSecretRef's: ESO ignores it here"
        );
        assert!(
            migration
                .notes
                .iter()
                .all(|n| !n.field.contains("authSecretRef.clientId")),
            "{:#?}",
            migration.notes
        );
    }
}

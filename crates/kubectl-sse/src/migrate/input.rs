//! The objects `migrate` works from, read from files (`-f`) or listed from the cluster, and kept as the API
//! server (or the file) has them: ESO's ExternalSecrets and stores, SecretProviderClasses, the metadata
//! of the ServiceAccounts a workload-identity store names, and (from files only) the ConfigMaps an
//! ExternalSecret's `templateFrom` names. No Secret is read.

use std::path::PathBuf;

use anyhow::{Context as _, Result};
use k8s_openapi::api::core::v1::ServiceAccount;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, ListParams};
use serde::Deserialize as _;
use serde_json::Value;
use sse_api::SecretProviderClass;
use sse_api::consts::{SECRET_PROVIDER_CLASS_GROUP, SECRET_PROVIDER_CLASS_KIND};

use super::eso::service_accounts_to_read;
use super::lenient::{Head, read};
use super::migration::Options;
use crate::cli::Target;

/// API group of External Secrets Operator.
const ESO_GROUP: &str = "external-secrets.io";
/// ESO API versions read from a cluster, the first one served wins.
const ESO_VERSIONS: [&str; 2] = ["v1", "v1beta1"];

/// Where the inputs were read, for the notes ("not in the cluster" / "not among the files given").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// Listed from the API server.
    Cluster,
    /// Read from `-f` files.
    Files,
}

impl Origin {
    pub(super) fn place(self) -> &'static str {
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
    /// ConfigMaps given with `-f` (their `data` is read for an ExternalSecret's `templateFrom[].configMap`).
    pub config_maps: Vec<Value>,
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
            config_maps: Vec::new(),
            cluster_stores_unreadable: false,
        }
    }

    /// Sort one object read from a file by kind (a `List`, or `<Kind>List`, adds its items). A namespaced
    /// object without a namespace gets `default_namespace`. Other kinds, and objects without a name, are
    /// ignored.
    pub fn add(&mut self, mut object: Value, default_namespace: Option<&str>) {
        let head: Head = read(&object);
        let kind = head.kind.unwrap_or_default();
        let api_version = head.api_version.unwrap_or_default();
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
        if head.metadata.name.is_none() {
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
            ("", "ConfigMap") => &mut self.config_maps,
            _ => return,
        };
        if let Some(namespace) = default_namespace
            && head.metadata.namespace.is_none()
            && let Some(metadata) = object.get_mut("metadata").and_then(Value::as_object_mut)
        {
            metadata.insert("namespace".into(), Value::String(namespace.to_string()));
        }
        slot.push(object);
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

/// The objects of the files at `paths` (`-`: standard input).
pub(super) fn read_files(paths: &[PathBuf], default_namespace: Option<&str>) -> Result<Inputs> {
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
pub(super) async fn read_cluster(target: &Target, options: &Options) -> Result<Inputs> {
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

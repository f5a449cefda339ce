//! The fields of External Secrets Operator's objects that migrate reads (`external-secrets.io` `v1` and
//! `v1beta1` agree on them). Each is read as a JSON pointer would read it: a field of another type than the
//! one read is absent, and so is every field under a value that is not an object; unknown fields are
//! ignored. Reading never fails.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::migrate::lenient::{
    Metadata, any, boolean, list, object, present, read, string_map, strings, text,
};

/// An `ExternalSecret`.
#[derive(Deserialize, Debug, Default)]
#[serde(default)]
pub(super) struct ExternalSecret {
    #[serde(deserialize_with = "object")]
    pub(super) metadata: Metadata,
    #[serde(deserialize_with = "object")]
    pub(super) spec: ExternalSecretSpec,
}

#[derive(Deserialize, Debug, Default)]
#[serde(default, rename_all = "camelCase")]
pub(super) struct ExternalSecretSpec {
    #[serde(deserialize_with = "object")]
    pub(super) secret_store_ref: StoreReference,
    #[serde(deserialize_with = "list")]
    pub(super) data: Vec<DataEntry>,
    #[serde(deserialize_with = "list")]
    pub(super) data_from: Vec<DataFromEntry>,
    #[serde(deserialize_with = "object")]
    pub(super) target: Target,
    #[serde(deserialize_with = "text")]
    pub(super) refresh_interval: Option<String>,
    #[serde(deserialize_with = "text")]
    pub(super) refresh_policy: Option<String>,
}

/// `secretStoreRef`, or a `sourceRef.storeRef`.
#[derive(Deserialize, Debug, Default)]
#[serde(default)]
pub(super) struct StoreReference {
    #[serde(deserialize_with = "text")]
    pub(super) name: Option<String>,
    #[serde(deserialize_with = "text")]
    pub(super) kind: Option<String>,
}

/// An item of `spec.data`.
#[derive(Deserialize, Debug, Default)]
#[serde(default, rename_all = "camelCase")]
pub(super) struct DataEntry {
    #[serde(deserialize_with = "text")]
    pub(super) secret_key: Option<String>,
    #[serde(deserialize_with = "object")]
    pub(super) remote_ref: RemoteRef,
    #[serde(deserialize_with = "object")]
    pub(super) source_ref: SourceRef,
}

#[derive(Deserialize, Debug, Default)]
#[serde(default, rename_all = "camelCase")]
pub(super) struct RemoteRef {
    #[serde(deserialize_with = "text")]
    pub(super) key: Option<String>,
    #[serde(deserialize_with = "text")]
    pub(super) property: Option<String>,
    #[serde(deserialize_with = "text")]
    pub(super) version: Option<String>,
    #[serde(deserialize_with = "text")]
    pub(super) metadata_policy: Option<String>,
    #[serde(deserialize_with = "text")]
    pub(super) decoding_strategy: Option<String>,
    #[serde(deserialize_with = "text")]
    pub(super) conversion_strategy: Option<String>,
}

/// `sourceRef` of a `spec.data` or `spec.dataFrom` item.
#[derive(Deserialize, Debug, Default)]
#[serde(default, rename_all = "camelCase")]
pub(super) struct SourceRef {
    #[serde(deserialize_with = "object")]
    pub(super) store_ref: StoreReference,
    /// Set, whatever it holds.
    #[serde(deserialize_with = "any")]
    pub(super) generator_ref: Option<Value>,
}

/// An item of `spec.dataFrom`: which form it takes (each field set whatever it holds).
#[derive(Deserialize, Debug, Default)]
#[serde(default, rename_all = "camelCase")]
pub(super) struct DataFromEntry {
    #[serde(deserialize_with = "any")]
    pub(super) find: Option<Value>,
    /// `extract` has the fields of a `remoteRef`.
    #[serde(deserialize_with = "present")]
    pub(super) extract: Option<RemoteRef>,
    #[serde(deserialize_with = "any")]
    pub(super) rewrite: Option<Value>,
    #[serde(deserialize_with = "object")]
    pub(super) source_ref: SourceRef,
}

/// `spec.target`.
#[derive(Deserialize, Debug, Default)]
#[serde(default, rename_all = "camelCase")]
pub(super) struct Target {
    #[serde(deserialize_with = "text")]
    pub(super) name: Option<String>,
    #[serde(deserialize_with = "text")]
    pub(super) creation_policy: Option<String>,
    #[serde(deserialize_with = "text")]
    pub(super) deletion_policy: Option<String>,
    #[serde(deserialize_with = "boolean")]
    pub(super) immutable: Option<bool>,
    #[serde(deserialize_with = "object")]
    pub(super) template: Template,
}

/// `spec.target.template`.
#[derive(Deserialize, Debug, Default)]
#[serde(default, rename_all = "camelCase")]
pub(super) struct Template {
    #[serde(rename = "type", deserialize_with = "text")]
    pub(super) type_: Option<String>,
    #[serde(deserialize_with = "object")]
    pub(super) metadata: TemplateMetadata,
    #[serde(deserialize_with = "text")]
    pub(super) engine_version: Option<String>,
    #[serde(deserialize_with = "text")]
    pub(super) merge_policy: Option<String>,
    /// Secret key → template text, as written (not trimmed).
    #[serde(deserialize_with = "string_map")]
    pub(super) data: BTreeMap<String, String>,
    #[serde(deserialize_with = "list")]
    pub(super) template_from: Vec<TemplateFrom>,
}

/// An item of `spec.target.template.templateFrom`.
#[derive(Deserialize, Debug, Default)]
#[serde(default, rename_all = "camelCase")]
pub(super) struct TemplateFrom {
    /// `Data` (the default), `Annotations` or `Labels`.
    #[serde(deserialize_with = "text")]
    pub(super) target: Option<String>,
    #[serde(deserialize_with = "present")]
    pub(super) config_map: Option<TemplateSource>,
    #[serde(deserialize_with = "present")]
    pub(super) secret: Option<TemplateSource>,
    /// Set, whatever it holds.
    #[serde(deserialize_with = "any")]
    pub(super) literal: Option<Value>,
}

/// `templateFrom[].configMap` or `.secret`: the object and which of its keys are templates.
#[derive(Deserialize, Debug, Default)]
#[serde(default)]
pub(super) struct TemplateSource {
    #[serde(deserialize_with = "text")]
    pub(super) name: Option<String>,
    #[serde(deserialize_with = "list")]
    pub(super) items: Vec<TemplateSourceItem>,
}

/// An item of a [`TemplateSource`].
#[derive(Deserialize, Debug, Default)]
#[serde(default, rename_all = "camelCase")]
pub(super) struct TemplateSourceItem {
    #[serde(deserialize_with = "text")]
    pub(super) key: Option<String>,
    /// `Values` (the default) or `KeysAndValues`.
    #[serde(deserialize_with = "text")]
    pub(super) template_as: Option<String>,
}

/// `spec.target.template.metadata`: its string entries.
#[derive(Deserialize, Debug, Default)]
#[serde(default)]
pub(super) struct TemplateMetadata {
    #[serde(deserialize_with = "string_map")]
    pub(super) labels: BTreeMap<String, String>,
    #[serde(deserialize_with = "string_map")]
    pub(super) annotations: BTreeMap<String, String>,
}

/// A `SecretStore` or a `ClusterSecretStore` (the same spec).
#[derive(Deserialize, Debug, Default)]
#[serde(default)]
pub(super) struct SecretStore {
    #[serde(deserialize_with = "object")]
    pub(super) metadata: Metadata,
    #[serde(deserialize_with = "object")]
    pub(super) spec: SecretStoreSpec,
}

#[derive(Deserialize, Debug, Default)]
#[serde(default)]
pub(super) struct SecretStoreSpec {
    #[serde(deserialize_with = "object")]
    pub(super) provider: Provider,
}

/// `spec.provider`: one key, the provider's name, holding its settings.
#[derive(Deserialize, Debug, Default)]
#[serde(from = "Map<String, Value>")]
pub(super) struct Provider {
    /// The first provider named, if any.
    pub(super) first: Option<String>,
    /// `azurekv`, when it is there (whatever it holds).
    pub(super) azurekv: Option<AzureKv>,
}

impl From<Map<String, Value>> for Provider {
    fn from(providers: Map<String, Value>) -> Self {
        Self {
            first: providers.keys().next().cloned(),
            azurekv: providers.get("azurekv").map(read),
        }
    }
}

/// `spec.provider.azurekv`.
#[derive(Deserialize, Debug, Default)]
#[serde(default, rename_all = "camelCase")]
pub(super) struct AzureKv {
    #[serde(deserialize_with = "text")]
    pub(super) auth_type: Option<String>,
    #[serde(deserialize_with = "text")]
    pub(super) vault_url: Option<String>,
    #[serde(deserialize_with = "text")]
    pub(super) environment_type: Option<String>,
    #[serde(deserialize_with = "text")]
    pub(super) tenant_id: Option<String>,
    #[serde(deserialize_with = "text")]
    pub(super) identity_id: Option<String>,
    #[serde(deserialize_with = "object")]
    pub(super) service_account_ref: ServiceAccountRef,
    #[serde(deserialize_with = "object")]
    pub(super) auth_secret_ref: AuthSecretRef,
}

/// `azurekv.serviceAccountRef`.
#[derive(Deserialize, Debug, Default)]
#[serde(default)]
pub(super) struct ServiceAccountRef {
    #[serde(deserialize_with = "text")]
    pub(super) name: Option<String>,
    #[serde(deserialize_with = "text")]
    pub(super) namespace: Option<String>,
    /// The strings of the list, as they are.
    #[serde(deserialize_with = "strings")]
    pub(super) audiences: Vec<String>,
}

/// `azurekv.authSecretRef`: each selector there whatever it holds.
#[derive(Deserialize, Debug, Default)]
#[serde(default, rename_all = "camelCase")]
pub(super) struct AuthSecretRef {
    #[serde(deserialize_with = "present")]
    pub(super) client_id: Option<SecretKeySelector>,
    #[serde(deserialize_with = "present")]
    pub(super) tenant_id: Option<SecretKeySelector>,
}

/// A key of a Secret.
#[derive(Deserialize, Debug, Default)]
#[serde(default)]
pub(super) struct SecretKeySelector {
    #[serde(deserialize_with = "text")]
    pub(super) name: Option<String>,
    #[serde(deserialize_with = "text")]
    pub(super) namespace: Option<String>,
    #[serde(deserialize_with = "text")]
    pub(super) key: Option<String>,
}

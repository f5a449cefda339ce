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
    #[serde(deserialize_with = "any")]
    pub(super) extract: Option<Value>,
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
    /// As it is: whether it holds something is the question.
    #[serde(deserialize_with = "any")]
    pub(super) data: Option<Value>,
    /// As it is: whether it holds something is the question.
    #[serde(deserialize_with = "any")]
    pub(super) template_from: Option<Value>,
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

//! `SecretProviderClass` (`secrets-store.csi.x-k8s.io`), the Secrets Store CSI Driver's provider
//! configuration (docs/API.md#secretproviderclass). The sync controller uses only `spec.provider`,
//! `spec.parameters`, `metadata.uid` and `metadata.generation`; `spec.secretObjects` is the CSI driver's own
//! sync feature and is ignored.
//!
//! The CRD is owned by the CSI driver project. [`crd`] reproduces it so SSE-rs can be installed without the
//! driver: version `v1` (served, storage) and the deprecated `v1alpha1` (served, not storage, with the upstream
//! deprecation warning and `status.byPod`). Like upstream, it has no status subresource, no printer columns and no
//! validation beyond types: every field, including `spec`, is optional in the schema. (The Rust types still need a
//! `spec` to deserialise; an SPC without one is useless to the controller anyway.)

use std::collections::BTreeMap;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceDefinition, JSONSchemaProps, JSONSchemaPropsOrArray,
};
use kube::{
    CustomResource,
    core::crd::{CustomResourceExt, MergeError, merge_crds},
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::consts::SECRET_PROVIDER_CLASS_VERSION;

/// SecretProviderClassSpec defines the desired state of SecretProviderClass
#[derive(CustomResource, JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
#[kube(
    group = "secrets-store.csi.x-k8s.io",
    version = "v1",
    kind = "SecretProviderClass",
    plural = "secretproviderclasses",
    namespaced,
    derive = "PartialEq",
    derive = "Default",
    doc = "SecretProviderClass is the Schema for the secretproviderclasses API"
)]
#[serde(rename_all = "camelCase")]
pub struct SecretProviderClassSpec {
    /// Configuration for provider name
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,

    /// Configuration for specific provider
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<BTreeMap<String, String>>,

    /// Secrets the CSI driver itself syncs from mounted content (not used by the sync controller).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_objects: Option<Vec<SpcSecretObject>>,
}

/// SecretObject defines the desired state of synced K8s secret objects
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "camelCase")]
pub struct SpcSecretObject {
    /// name of the K8s secret object
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_name: Option<String>,

    /// type of K8s secret object
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub type_: Option<String>,

    /// labels of K8s secret object
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,

    /// annotations of k8s secret object
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,

    /// data of the K8s secret object
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Vec<SpcSecretObjectData>>,
}

/// SecretObjectData defines the desired state of synced K8s secret object data
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "camelCase")]
pub struct SpcSecretObjectData {
    /// name of the object to sync
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_name: Option<String>,

    /// data field to populate
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

/// The deprecated `secrets-store.csi.x-k8s.io/v1alpha1` version, kept only so [`crd`] can serve it.
pub mod v1alpha1 {
    use kube::CustomResource;
    use schemars::JsonSchema;
    use serde::{Deserialize, Serialize};

    // The v1 spec, unchanged; the doc line below is the schema description.
    /// SecretProviderClassSpec defines the desired state of SecretProviderClass
    #[derive(CustomResource, JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
    #[kube(
        group = "secrets-store.csi.x-k8s.io",
        version = "v1alpha1",
        kind = "SecretProviderClass",
        plural = "secretproviderclasses",
        namespaced,
        storage = false,
        deprecated = "secrets-store.csi.x-k8s.io/v1alpha1 is deprecated. Use secrets-store.csi.x-k8s.io/v1 instead.",
        doc = "SecretProviderClass is the Schema for the secretproviderclasses API"
    )]
    pub struct SecretProviderClassSpec(pub super::SecretProviderClassSpec);
}

/// Schema of `status` in v1: an empty object.
fn v1_status_schema() -> JSONSchemaProps {
    JSONSchemaProps {
        description: Some(
            "SecretProviderClassStatus defines the observed state of SecretProviderClass".into(),
        ),
        type_: Some("object".into()),
        ..JSONSchemaProps::default()
    }
}

/// Schema of `status` in v1alpha1: `byPod[] {id, namespace}`.
fn v1alpha1_status_schema() -> JSONSchemaProps {
    let string = |description: &str| JSONSchemaProps {
        description: Some(description.into()),
        type_: Some("string".into()),
        ..JSONSchemaProps::default()
    };
    let by_pod_item = JSONSchemaProps {
        description: Some(
            "ByPodStatus defines the state of SecretProviderClass as seen by an individual controller".into(),
        ),
        type_: Some("object".into()),
        properties: Some(BTreeMap::from([
            ("id".to_owned(), string("id of the pod that wrote the status")),
            (
                "namespace".to_owned(),
                string("namespace of the pod that wrote the status"),
            ),
        ])),
        ..JSONSchemaProps::default()
    };
    let by_pod = JSONSchemaProps {
        type_: Some("array".into()),
        items: Some(JSONSchemaPropsOrArray::Schema(Box::new(by_pod_item))),
        ..JSONSchemaProps::default()
    };
    JSONSchemaProps {
        properties: Some(BTreeMap::from([("byPod".to_owned(), by_pod)])),
        ..v1_status_schema()
    }
}

/// Adds `status` to the root schema of `crd`'s only version and makes `spec` optional, as upstream has it.
fn adjust_root_schema(
    mut crd: CustomResourceDefinition,
    status: JSONSchemaProps,
) -> CustomResourceDefinition {
    for version in &mut crd.spec.versions {
        let Some(root) = version
            .schema
            .as_mut()
            .and_then(|s| s.open_api_v3_schema.as_mut())
        else {
            continue;
        };
        if let Some(required) = root.required.as_mut() {
            required.retain(|r| r != "spec");
            if required.is_empty() {
                root.required = None;
            }
        }
        root.properties
            .get_or_insert_with(BTreeMap::new)
            .insert("status".to_owned(), status.clone());
    }
    crd
}

/// The full SecretProviderClass CRD: `v1` (storage) plus the deprecated `v1alpha1`, merged with
/// [`kube::core::crd::merge_crds`].
pub fn crd() -> Result<CustomResourceDefinition, MergeError> {
    let v1 = adjust_root_schema(SecretProviderClass::crd(), v1_status_schema());
    let v1alpha1 = adjust_root_schema(v1alpha1::SecretProviderClass::crd(), v1alpha1_status_schema());
    merge_crds(vec![v1, v1alpha1], SECRET_PROVIDER_CLASS_VERSION)
}

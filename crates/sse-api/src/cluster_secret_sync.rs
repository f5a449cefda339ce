//! `ClusterSecretSync` (`sync.sse-rs.io/v1alpha1`, cluster-scoped, beyond upstream): one Secret, fetched once
//! per check with the administrator's SecretProviderClass and ServiceAccount in the manager's own namespace,
//! and written to every namespace the resource selects (docs/API.md#clustersecretsync).
//!
//! Only a cluster administrator writes these: the resource is cluster-scoped, no aggregated role grants it, and
//! its identity lives in the install namespace, so a namespace user can neither create one nor point one at an
//! identity of theirs. A namespace refuses with the label [`OPT_OUT_LABEL`]; the namespaces of the control plane
//! ([`CONTROL_PLANE_NAMESPACES`], and the install namespace) are reached only when listed by name.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, OwnerReference, Time};
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::secret_sync::SecretObject;
use crate::validation::{DNS1123_SUBDOMAIN_PATTERN, FORCE_SYNCHRONIZATION_PATTERN, MAX_NAME_LENGTH};

/// API group of `ClusterSecretSync`: the project's own.
pub const GROUP: &str = "sync.sse-rs.io";
/// `apiVersion` of `ClusterSecretSync` objects (and of the owner reference of the Secrets they write).
pub const API_VERSION: &str = "sync.sse-rs.io/v1alpha1";
/// `kind` of `ClusterSecretSync`.
pub const KIND: &str = "ClusterSecretSync";
/// Plural resource name.
pub const PLURAL: &str = "clustersecretsyncs";
/// Name of the CustomResourceDefinition.
pub const CRD_NAME: &str = "clustersecretsyncs.sync.sse-rs.io";
/// Label on every Secret a ClusterSecretSync writes: its name. The admission policies route such a Secret to
/// the fan-out fence, which checks that the named resource selects the namespace.
pub const LABEL: &str = "sse-rs.io/cluster-secret-sync";
/// A namespace with this label set to `"true"` receives no ClusterSecretSync's Secret, even one naming it.
pub const OPT_OUT_LABEL: &str = "sse-rs.io/cluster-secret-sync-opt-out";
/// Finalizer held by a resource with `deletionPolicy: Keep` until its Secrets are released.
pub const KEEP_FINALIZER: &str = "sse-rs.io/keep-secrets";
/// Annotation on a released Secret: `<name>/<uid>` of the ClusterSecretSync that wrote it.
pub const RELEASED_ANNOTATION: &str = "sse-rs.io/released-from";
/// Where the manager publishes its Events about a ClusterSecretSync: events.k8s.io/v1 admits an Event whose
/// `regarding` has no namespace only in `default` (or `kube-system`).
pub const EVENT_NAMESPACE: &str = "default";
/// Condition type: the vault was read (the last fetch succeeded).
pub const FETCHED: &str = "Fetched";
/// Namespaces of the control plane: a label selector never reaches them, only `namespaces.names`.
pub const CONTROL_PLANE_NAMESPACES: [&str; 3] = ["kube-system", "kube-public", "kube-node-lease"];
/// Most namespaces listed by name.
pub const MAX_NAMES: u32 = 256;
/// Most `matchLabels` entries and `matchExpressions` items (they bound the admission policy's CEL cost).
pub const MAX_SELECTOR_TERMS: u32 = 16;
/// Most values of one `matchExpressions` item.
pub const MAX_SELECTOR_VALUES: u32 = 64;
/// Most failures listed in the status (the counts cover them all).
pub const MAX_FAILURES: usize = 8;
/// Longest name of a ClusterSecretSync: it is also a label value.
pub const MAX_RESOURCE_NAME: usize = 63;

/// Label keys: DNS-1123 prefix, `/`, a name of 1–63 (the API server's qualified-name rule).
const LABEL_KEY_PATTERN: &str = r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$";
/// Label values (empty allowed).
const LABEL_VALUE_PATTERN: &str = r"^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$";
/// Namespace names (DNS-1123 labels).
const NAMESPACE_PATTERN: &str = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$";

/// One Secret, written to every selected namespace.
#[allow(
    clippy::duplicated_attributes,
    reason = "each printcolumn(...) repeats type_ = ...; they are not duplicates"
)]
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "sync.sse-rs.io",
    version = "v1alpha1",
    kind = "ClusterSecretSync",
    plural = "clustersecretsyncs",
    shortname = "css",
    status = "ClusterSecretSyncStatus",
    derive = "PartialEq",
    doc = "ClusterSecretSync writes one Secret, fetched once per check through a SecretProviderClass of the manager's namespace, to every namespace it selects.",
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = r#".status.conditions[?(@.type=="Ready")].status"#
    ),
    printcolumn(
        name = "Reason",
        type_ = "string",
        json_path = r#".status.conditions[?(@.type=="Ready")].reason"#
    ),
    printcolumn(
        name = "Selected",
        type_ = "integer",
        json_path = ".status.namespaces.selected"
    ),
    printcolumn(name = "Synced", type_ = "integer", json_path = ".status.namespaces.synced"),
    printcolumn(name = "Failed", type_ = "integer", json_path = ".status.namespaces.failed"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp"),
    validation = Rule::new("size(self.metadata.name) <= 63").message("a ClusterSecretSync's name is also a label value: at most 63 characters")
)]
#[serde(rename_all = "camelCase")]
pub struct ClusterSecretSyncSpec {
    /// The SecretProviderClass, in the manager's namespace, that says which provider to call and how.
    #[schemars(length(min = 1, max = MAX_NAME_LENGTH), regex(pattern = DNS1123_SUBDOMAIN_PATTERN))]
    pub secret_provider_class_name: String,

    /// The ServiceAccount, in the manager's namespace, whose token the provider exchanges: the administrator's
    /// identity, never a namespace user's.
    #[schemars(length(min = 1, max = MAX_NAME_LENGTH), regex(pattern = DNS1123_SUBDOMAIN_PATTERN))]
    pub service_account_name: String,

    /// The Secret written in each selected namespace, named after this resource: the same shape as a
    /// SecretSync's.
    #[x_kube(
        validation = Rule::new("!has(self.labels) || !('sse-rs.io/cluster-secret-sync' in self.labels)").message("the label sse-rs.io/cluster-secret-sync is set by the manager")
    )]
    pub secret_object: SecretObject,

    /// Which namespaces receive the Secret.
    pub namespaces: NamespaceSelection,

    /// What happens to the Secrets when this resource is deleted: `Delete` (default, garbage-collected) or
    /// `Keep` (released: they stay, no longer managed).
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,

    /// Changing this value forces a sync even if nothing else changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = MAX_NAME_LENGTH), regex(pattern = FORCE_SYNCHRONIZATION_PATTERN))]
    pub force_synchronization: Option<String>,
}

/// Namespaces by name, by label, or both (a namespace in either is selected).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("has(self.names) || has(self.selector)").message("namespaces needs names, a selector, or both")
)]
pub struct NamespaceSelection {
    /// Namespaces by name: the only way to reach a namespace of the control plane.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = MAX_NAMES), inner(regex(pattern = NAMESPACE_PATTERN), length(max = 63)))]
    #[schemars(extend("x-kubernetes-list-type" = "set"))]
    pub names: Option<Vec<String>>,

    /// Namespaces by their labels (an empty selector selects every namespace but those of the control plane).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<NamespaceSelector>,
}

/// A label selector, bounded (the admission policy evaluates it, so its size bounds the policy's cost).
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct NamespaceSelector {
    /// Each label must have this value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("maxProperties" = MAX_SELECTOR_TERMS))]
    #[schemars(schema_with = "match_labels_schema")]
    pub match_labels: Option<BTreeMap<String, String>>,

    /// Each requirement must hold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = MAX_SELECTOR_TERMS))]
    pub match_expressions: Option<Vec<Requirement>>,
}

fn match_labels_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "description": "Each label must have this value.",
        "type": "object",
        "maxProperties": MAX_SELECTOR_TERMS,
        "additionalProperties": { "type": "string", "maxLength": 63, "pattern": LABEL_VALUE_PATTERN },
        "x-kubernetes-validations": [{
            "rule": "self.all(k, k.size() <= 317)",
            "message": "a label key is at most 317 characters"
        }]
    })
}

/// One requirement on a namespace's labels.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("(self.operator in ['In', 'NotIn']) == (has(self.values) && size(self.values) > 0)").message("In and NotIn need values; Exists and DoesNotExist take none")
)]
pub struct Requirement {
    /// The label key.
    #[schemars(length(min = 1, max = 317), regex(pattern = LABEL_KEY_PATTERN))]
    pub key: String,
    /// `In`, `NotIn`, `Exists` or `DoesNotExist`.
    pub operator: Operator,
    /// The values for `In` and `NotIn`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = MAX_SELECTOR_VALUES), inner(length(max = 63), regex(pattern = LABEL_VALUE_PATTERN)))]
    pub values: Option<Vec<String>>,
}

/// A requirement's operator.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operator {
    /// The label has one of the values.
    In,
    /// The label is absent or has none of the values.
    NotIn,
    /// The label is present.
    Exists,
    /// The label is absent.
    DoesNotExist,
}

/// What deleting the ClusterSecretSync does to its Secrets.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum DeletionPolicy {
    /// They are deleted with it (garbage collection through their owner reference, even with the manager
    /// down).
    #[default]
    Delete,
    /// They stay, released: the manager removes its marks and owner reference, then never touches them again.
    Keep,
}

/// Observed state: counts and the first failures, never one entry per namespace.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct ClusterSecretSyncStatus {
    /// Keyed hash of the values last written (the same scheme as a SecretSync's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_hash: Option<String>,
    /// When a new value was last written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_successful_sync_time: Option<Time>,
    /// When the vault was last checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_checked_time: Option<Time>,
    /// When the vault will be checked next.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_check_time: Option<Time>,
    /// The value of the `sse-rs.io/force-sync` annotation the last check handled: a check asked for with a new
    /// value has run once this shows that value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub force_sync_handled: Option<String>,
    /// The namespaces, counted.
    #[serde(default)]
    pub namespaces: NamespaceCounts,
    /// The first failing namespaces (at most 8: the longest failing first, then by name).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 8))]
    pub failures: Vec<NamespaceFailure>,
    /// How many failing namespaces `failures` leaves out.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub omitted_failures: u32,
    /// The `metadata.generation` this status was computed for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Fetched` (the vault read) and `Ready` (every selected namespace holds the current value).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 8))]
    pub conditions: Vec<Condition>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// How many namespaces are selected, hold the current value, failed, or wait for their write.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct NamespaceCounts {
    /// Selected now.
    pub selected: u32,
    /// Holding the current value.
    pub synced: u32,
    /// Whose write failed (see `failures`).
    pub failed: u32,
    /// Selected, not yet written at the current value.
    pub pending: u32,
}

/// One namespace whose Secret could not be written.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct NamespaceFailure {
    /// The namespace.
    pub namespace: String,
    /// Why (`ForeignSecret`, `ValidatingAdmissionPolicyCheckFailed`, `ControllerSyncFailed`, …).
    pub reason: String,
    /// Since when it fails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<Time>,
    /// What happened (at most 512 bytes, never a value).
    #[schemars(length(max = 512))]
    pub message: String,
}

impl ClusterSecretSync {
    /// The owner reference of every Secret it writes: it controls them, and garbage collection deletes them with
    /// it (no `blockOwnerDeletion`: the manager holds no `finalizers` right on the resource).
    pub fn secret_owner(&self) -> OwnerReference {
        use kube::ResourceExt as _;
        OwnerReference {
            api_version: API_VERSION.into(),
            kind: KIND.into(),
            name: self.name_any(),
            uid: self.uid().unwrap_or_default(),
            controller: Some(true),
            block_owner_deletion: None,
        }
    }
}

impl Default for ClusterSecretSyncSpec {
    fn default() -> Self {
        Self {
            secret_provider_class_name: String::new(),
            service_account_name: String::new(),
            secret_object: SecretObject::default(),
            namespaces: NamespaceSelection::default(),
            deletion_policy: DeletionPolicy::Delete,
            force_synchronization: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_is_a_controller_reference() {
        let mut css = ClusterSecretSync::new("registry", ClusterSecretSyncSpec::default());
        css.metadata.uid = Some("u-1".into());
        let owner = css.secret_owner();
        assert_eq!(owner.api_version, "sync.sse-rs.io/v1alpha1");
        assert_eq!(owner.kind, "ClusterSecretSync");
        assert_eq!((owner.name.as_str(), owner.uid.as_str()), ("registry", "u-1"));
        assert_eq!(owner.controller, Some(true));
    }

    #[test]
    fn deletion_policy_defaults_to_delete() {
        let spec: ClusterSecretSyncSpec = serde_json::from_value(serde_json::json!({
            "secretProviderClassName": "c", "serviceAccountName": "s",
            "secretObject": {"data": [{"sourcePath": "a", "targetKey": "a"}]},
            "namespaces": {"names": ["team-a"]}
        }))
        .unwrap();
        assert_eq!(spec.deletion_policy, DeletionPolicy::Delete);
        assert_eq!(spec.secret_object.type_, "Opaque");
    }
}

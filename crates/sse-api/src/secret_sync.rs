//! `SecretSync` (`secret-sync.x-k8s.io/v1alpha1`): which provider objects become which keys of a Kubernetes
//! Secret of the same name and namespace (docs/API.md#secretsync).
//!
//! The schema carries every validation of the upstream HEAD CRD (patterns, lengths, list-map keys, CEL rules with
//! their exact messages). The status adds, beyond upstream, the times operators need to see whether and when the
//! vault is checked (`lastCheckedTime`, `nextCheckTime`, `failingSince`) and `observedGeneration`.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::{CustomResource, KubeSchema};
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};

use crate::{
    consts::DEFAULT_SECRET_TYPE,
    validation::{
        ANNOTATIONS_RESERVED_MESSAGE, ANNOTATIONS_RESERVED_RULE, ANNOTATIONS_SIZE_MESSAGE,
        ANNOTATIONS_SIZE_RULE, DNS1123_SUBDOMAIN_PATTERN, FORCE_SYNCHRONIZATION_PATTERN,
        LABELS_RESERVED_MESSAGE, LABELS_RESERVED_RULE, LABELS_SIZE_MESSAGE, LABELS_SIZE_RULE,
        MAX_NAME_LENGTH, SOURCE_PATH_PATTERN, TARGET_KEY_PATTERN,
        shape::{
            DATA_OR_DATA_FROM_MESSAGE, DATA_OR_DATA_FROM_RULE, DOCKER_TEMPLATE_MESSAGE, DOCKER_TEMPLATE_RULE,
            MAX_DATA_FROM, PROPERTY_PATTERN, TLS_TEMPLATE_MESSAGE, TLS_TEMPLATE_RULE,
        },
    },
};

mod shape;
pub use shape::{FileFormat, MergePolicy, SecretObjectDataFrom, SecretTemplate, TemplateItem, UnknownFormat};

impl SecretSync {
    /// The owner reference every synced Secret carries: this SecretSync, exactly as the original controller
    /// writes it (no `controller`, no `blockOwnerDeletion`; docs/API.md#the-synced-secret), so Secrets
    /// created by the original are recognised as ours after a migration.
    pub fn secret_owner(&self) -> k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference {
        use kube::ResourceExt as _;
        k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference {
            api_version: crate::consts::SECRET_SYNC_API_VERSION.into(),
            kind: crate::consts::SECRET_SYNC_KIND.into(),
            name: self.name_any(),
            uid: self.uid().unwrap_or_default(),
            controller: None,
            block_owner_deletion: None,
        }
    }

    /// The merge patch that adopts a Secret marked [`ADOPTABLE_ANNOTATION`](crate::consts::ADOPTABLE_ANNOTATION)
    /// for this SecretSync, whoever sends it (the manager, or `kubectl sse adopt` with the user's rights):
    /// pinned to the `resource_version` that was checked and to `secret_type` (immutable, so a Secret of
    /// another type is refused whole); our label, this SecretSync as the only owner; the mark and kubectl's
    /// last-applied copy (which may hold the old values in plain text) removed.
    pub fn adoption_patch(&self, resource_version: &str, secret_type: &str) -> serde_json::Value {
        use crate::consts::{
            ADOPTABLE_ANNOTATION, CONTROLLER_LABEL_KEY, CONTROLLER_LABEL_VALUE, LAST_APPLIED_ANNOTATION,
        };
        serde_json::json!({
            "type": secret_type,
            "metadata": {
                "resourceVersion": resource_version,
                "labels": { CONTROLLER_LABEL_KEY: CONTROLLER_LABEL_VALUE },
                "ownerReferences": [self.secret_owner()],
                "annotations": { ADOPTABLE_ANNOTATION: null, LAST_APPLIED_ANNOTATION: null },
            }
        })
    }
}

/// Maximum number of entries in `status.conditions`.
pub const MAX_CONDITIONS: u32 = 16;

/// Desired state of a SecretSync: the Secret to write and where its data comes from.
#[allow(
    clippy::duplicated_attributes,
    reason = "each printcolumn(...) repeats type_ = ...; they are not duplicates"
)]
#[derive(CustomResource, JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[kube(
    group = "secret-sync.x-k8s.io",
    version = "v1alpha1",
    kind = "SecretSync",
    namespaced,
    status = "SecretSyncStatus",
    derive = "PartialEq",
    derive = "Default",
    doc = "SecretSync syncs objects fetched through a SecretProviderClass into a Kubernetes Secret of the same name in the same namespace.",
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
        name = "Last Sync",
        type_ = "date",
        json_path = ".status.lastSuccessfulSyncTime"
    ),
    printcolumn(name = "Interval", type_ = "string", json_path = ".status.refreshInterval"),
    printcolumn(name = "Next Check", type_ = "string", json_path = ".status.nextCheckTime"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
pub struct SecretSyncSpec {
    /// Name of the controller that should handle this SecretSync. Reserved for sharding; currently ignored.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[schemars(extend("default" = ""))]
    pub secret_sync_controller_name: String,

    /// Name of the SecretProviderClass, in the same namespace, that says which provider to call and with which
    /// parameters.
    #[schemars(length(min = 1, max = MAX_NAME_LENGTH), regex(pattern = DNS1123_SUBDOMAIN_PATTERN))]
    pub secret_provider_class_name: String,

    /// Name of the ServiceAccount, in the same namespace, whose token the provider uses to authenticate to the
    /// secret store (e.g. Azure workload identity).
    #[schemars(length(min = 1, max = MAX_NAME_LENGTH), regex(pattern = DNS1123_SUBDOMAIN_PATTERN))]
    pub service_account_name: String,

    /// The Secret to create and keep up to date.
    pub secret_object: SecretObject,

    /// Changing this value forces a sync even if nothing else changed (e.g. the output of `date +%s`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = MAX_NAME_LENGTH), regex(pattern = FORCE_SYNCHRONIZATION_PATTERN))]
    pub force_synchronization: Option<String>,
}

fn default_secret_type() -> String {
    DEFAULT_SECRET_TYPE.to_owned()
}

/// The Secret written for a SecretSync.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new(DATA_OR_DATA_FROM_RULE).message(DATA_OR_DATA_FROM_MESSAGE),
    validation = Rule::new(TLS_TEMPLATE_RULE).message(TLS_TEMPLATE_MESSAGE),
    validation = Rule::new(DOCKER_TEMPLATE_RULE).message(DOCKER_TEMPLATE_MESSAGE)
)]
pub struct SecretObject {
    /// Type of the Secret (e.g. `Opaque`, `kubernetes.io/tls`, `kubernetes.io/dockerconfigjson`).
    #[serde(rename = "type", default = "default_secret_type")]
    #[schemars(length(max = MAX_NAME_LENGTH))]
    pub type_: String,

    /// Which provider object (`sourcePath`) becomes which Secret key (`targetKey`). At least one item, unless
    /// `dataFrom` has one.
    #[x_kube(merge_strategy = ListMerge::Map(vec!["targetKey".into()]))]
    pub data: Vec<SecretObjectData>,

    /// Provider objects holding a JSON object, each spread into one Secret key per top-level property (beyond
    /// upstream; docs/API.md#shaping). A `data` item wins over an extracted key of the same name, a later item
    /// over an earlier one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = MAX_DATA_FROM))]
    pub data_from: Vec<SecretObjectDataFrom>,

    /// Keys rendered from the values of `data` and `dataFrom` (beyond upstream; docs/API.md#shaping).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<SecretTemplate>,

    /// Labels of the Secret. Keys starting with `secrets-store.sync.x-k8s.io` are reserved for the controller.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(
        validation = Rule::new(LABELS_SIZE_RULE).message(LABELS_SIZE_MESSAGE),
        validation = Rule::new(LABELS_RESERVED_RULE).message(LABELS_RESERVED_MESSAGE)
    )]
    pub labels: Option<BTreeMap<String, String>>,

    /// Annotations of the Secret. Keys starting with `secrets-store.sync.x-k8s.io` are reserved for the controller.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(
        validation = Rule::new(ANNOTATIONS_SIZE_RULE).message(ANNOTATIONS_SIZE_MESSAGE),
        validation = Rule::new(ANNOTATIONS_RESERVED_RULE).message(ANNOTATIONS_RESERVED_MESSAGE)
    )]
    pub annotations: Option<BTreeMap<String, String>>,
}

impl Default for SecretObject {
    fn default() -> Self {
        Self {
            type_: default_secret_type(),
            data: Vec::new(),
            data_from: Vec::new(),
            template: None,
            labels: None,
            annotations: None,
        }
    }
}

/// One Secret key and the provider object it is filled from.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "camelCase")]
pub struct SecretObjectData {
    /// Path of the object in the provider's response (for Azure: the object name or alias, `<name>/<n>` for
    /// version history).
    #[schemars(length(min = 1, max = MAX_NAME_LENGTH), regex(pattern = SOURCE_PATH_PATTERN))]
    pub source_path: String,

    /// Key of the Secret's `data` that receives the object's content.
    #[schemars(length(min = 1, max = MAX_NAME_LENGTH), regex(pattern = TARGET_KEY_PATTERN))]
    pub target_key: String,

    /// Take this property of the object's JSON value instead of the whole content (beyond upstream;
    /// docs/API.md#shaping): `a.b`, `list.0`, `\.` for a dot inside a key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = MAX_NAME_LENGTH), regex(pattern = PROPERTY_PATTERN))]
    pub property: Option<String>,
}

/// Observed state of a SecretSync.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct SecretSyncStatus {
    /// Keyed hash of the last successfully applied state. Absent until the Secret has been created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_hash: Option<String>,

    /// When the Secret was last written successfully.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_successful_sync_time: Option<Time>,

    /// When the secret store was last checked for changes, whatever the outcome.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_checked_time: Option<Time>,

    /// When the secret store will be checked next (poll interval plus jitter, or the retry time after a failure).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_check_time: Option<Time>,

    /// The check interval in effect (Go duration): the `sse-rs.io/refresh-interval` annotation within the
    /// administrator's bounds, else `rotationPollIntervalInSeconds`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_interval: Option<String>,

    /// How late the last scheduled check completed (Go duration), when later than a tenth of the interval
    /// (and at least 30s): the provider's request budget for the vault, or the workers, could not keep up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub late_by: Option<String>,

    /// The value of the `sse-rs.io/force-sync` annotation the last check handled: a check asked for with a
    /// new value has run (its outcome is in the conditions) once this shows that value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub force_sync_handled: Option<String>,

    /// When the current run of failures started; absent while syncing succeeds. The Secret keeps its last good
    /// value meanwhile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failing_since: Option<Time>,

    /// The `metadata.generation` this status was computed for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub observed_generation: Option<i64>,

    /// The Key Vault validity dates of the synced objects that carry one (`exp`, `nbf`; a certificate's
    /// notAfter and notBefore), with where each stands: known when the provider serves SSE-rs change
    /// detection, else absent. The `Expiring` condition summarises it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = MAX_VALIDITY_ENTRIES))]
    pub validity: Vec<ObjectValidity>,

    /// Conditions `Create`, `Update` and `Ready`, and `Expiring` when validity dates are known.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "conditions_schema")]
    pub conditions: Vec<Condition>,
}

/// Most `status.validity` entries: one per object, far above what one SecretProviderClass names.
pub const MAX_VALIDITY_ENTRIES: u32 = 1024;

/// The validity dates of one synced object and where they stand at the last check.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ObjectValidity {
    /// The object, `<objectType>/<objectName>` as in the SecretProviderClass (e.g. `secret/db-password`).
    #[schemars(length(max = 512))]
    pub object: String,
    /// Key Vault `attributes.nbf`: not valid before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_before: Option<Time>,
    /// Key Vault `attributes.exp`: expires at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<Time>,
    /// `Valid`, `NotYetValid`, `Expiring` (expires within the manager's `--expiry-warning-window`) or
    /// `Expired`, at the last check. Key Vault still serves a secret outside its dates: the Secret keeps
    /// syncing, this is a warning.
    #[schemars(regex(pattern = r"^(Valid|NotYetValid|Expiring|Expired)$"))]
    pub state: String,
}

impl ObjectValidity {
    /// Inside its dates and not expiring within the window.
    pub const VALID: &str = "Valid";
    /// Its `nbf` is still ahead.
    pub const NOT_YET_VALID: &str = "NotYetValid";
    /// Its `exp` falls within the warning window.
    pub const EXPIRING: &str = "Expiring";
    /// Its `exp` has passed.
    pub const EXPIRED: &str = "Expired";
    /// Every standing, the closed set of `state`.
    pub const STANDINGS: [&str; 4] = [Self::VALID, Self::NOT_YET_VALID, Self::EXPIRING, Self::EXPIRED];

    /// Its standing in words, with absolute times only (so the text does not change as time passes).
    pub fn describe(&self) -> String {
        let at = |t: &Option<Time>| t.as_ref().map_or_else(String::new, |t| t.0.to_string());
        match self.state.as_str() {
            Self::EXPIRED => format!("{} expired at {}", self.object, at(&self.expires_at)),
            Self::EXPIRING => format!("{} expires at {}", self.object, at(&self.expires_at)),
            Self::NOT_YET_VALID => format!("{} is not valid before {}", self.object, at(&self.not_before)),
            _ => format!("{} is valid", self.object),
        }
    }
}

/// Schema of `status.conditions`: the standard `metav1.Condition` validation (as generated by controller-gen for
/// upstream), a list-map keyed by `type`, at most [`MAX_CONDITIONS`] entries.
fn conditions_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "description": "Conditions Create, Update and Ready, and Expiring when validity dates are known.",
        "type": "array",
        "maxItems": MAX_CONDITIONS,
        "x-kubernetes-list-type": "map",
        "x-kubernetes-list-map-keys": ["type"],
        "items": {
            "description": "Condition contains details for one aspect of the current state of this API Resource.",
            "type": "object",
            "required": ["lastTransitionTime", "message", "reason", "status", "type"],
            "properties": {
                "lastTransitionTime": {
                    "description": "lastTransitionTime is the last time the condition transitioned from one status to another.",
                    "type": "string",
                    "format": "date-time"
                },
                "message": {
                    "description": "message is a human readable message indicating details about the transition. This may be an empty string.",
                    "type": "string",
                    "maxLength": 32768
                },
                "observedGeneration": {
                    "description": "observedGeneration represents the .metadata.generation that the condition was set based upon.",
                    "type": "integer",
                    "format": "int64",
                    "minimum": 0
                },
                "reason": {
                    "description": "reason contains a programmatic identifier indicating the reason for the condition's last transition.",
                    "type": "string",
                    "minLength": 1,
                    "maxLength": 1024,
                    "pattern": "^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$"
                },
                "status": {
                    "description": "status of the condition, one of True, False, Unknown.",
                    "type": "string",
                    "enum": ["True", "False", "Unknown"]
                },
                "type": {
                    "description": "type of condition in CamelCase or in foo.example.com/CamelCase.",
                    "type": "string",
                    "maxLength": 316,
                    "pattern": "^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$"
                }
            }
        }
    })
}

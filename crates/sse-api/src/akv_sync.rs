//! `AKVSync` (`secret-sync.x-k8s.io/v1alpha1`): Arc SSE's simplified resource (preview in SSE ≥ 1.1.5). One
//! resource names a vault, an identity and the vault objects wanted; the manager generates the equivalent
//! SecretProviderClass and SecretSyncs, owns them and keeps them as generated.
//!
//! The public reference gives the fields `keyvaultName`, `clientID`, `tenantID`, `serviceAccountName` and
//! `objects` with `secretInAKV`, `kubernetesSecretName` and compound entries keyed by `dataKey`; the
//! defaults are one Secret per vault object, named after it, with its value in data key `v0`. Where it is
//! silent, SSE-rs chooses (README "AKVSync"): `versionHistory` gives keys `v0`…`vN-1`, newest first; a
//! compound entry lists its parts under `objects`; the SecretProviderClass is named after the AKVSync.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::validation::{DNS1123_SUBDOMAIN_PATTERN, MAX_NAME_LENGTH, TARGET_KEY_PATTERN};

/// Label on every object an AKVSync generates: the AKVSync's name (a label value, so at most 63
/// characters).
pub const LABEL: &str = "sse-rs.io/akvsync";

/// Key Vault object names (1–127 of `[0-9a-zA-Z-]`) that can also name a Secret and a file: no `-` at
/// either end.
pub const VAULT_OBJECT_PATTERN: &str = "^[0-9a-zA-Z]([0-9a-zA-Z-]{0,125}[0-9a-zA-Z])?$";
/// Key Vault names: 3–24 of `[0-9a-zA-Z-]`, starting with a letter.
pub const VAULT_NAME_PATTERN: &str = "^[a-zA-Z][0-9a-zA-Z-]{2,23}$";
/// Most entries of `objects`, and of a compound entry's parts.
pub const MAX_OBJECTS: u32 = 256;
/// Longest version history.
pub const MAX_VERSION_HISTORY: i32 = 64;
/// Most vault objects one AKVSync may sync, every entry's history and every compound part counted: what
/// one namespace user can make the manager fetch and hold per check of one AKVSync.
pub const MAX_SYNCED_OBJECTS: i64 = 1024;

/// How many vault objects an AKVSync's entries sync: a single entry its history (at least one), a
/// compound entry its parts. The CRD's rule computes the same.
pub fn synced_objects(spec: &AkvSyncSpec) -> i64 {
    spec.objects
        .iter()
        .map(|o| match &o.objects {
            Some(parts) => i64::try_from(parts.len()).unwrap_or(i64::MAX),
            None => i64::from(o.version_history.unwrap_or(1).max(1)),
        })
        .fold(0i64, i64::saturating_add)
}

/// The vault, the identity, and which vault objects become which Secrets.
#[allow(
    clippy::duplicated_attributes,
    reason = "each printcolumn(...) repeats type_ = ...; they are not duplicates"
)]
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[kube(
    group = "secret-sync.x-k8s.io",
    version = "v1alpha1",
    kind = "AKVSync",
    plural = "akvsyncs",
    namespaced,
    status = "AkvSyncStatus",
    derive = "PartialEq",
    derive = "Default",
    doc = "AKVSync names Azure Key Vault objects to sync into Secrets; SSE-rs generates and keeps the SecretProviderClass and SecretSyncs that do it.",
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = r#".status.conditions[?(@.type=="Ready")].status"#
    ),
    printcolumn(name = "Secrets", type_ = "string", json_path = ".status.summary"),
    printcolumn(
        name = "Reason",
        type_ = "string",
        json_path = r#".status.conditions[?(@.type=="Ready")].reason"#
    ),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[x_kube(
    validation = Rule::new("self.objects.map(o, has(o.objects) ? size(o.objects) : (has(o.versionHistory) ? o.versionHistory : 1)).sum() <= 1024").message("an AKVSync may sync at most 1024 vault objects, every entry's versionHistory and every compound part counted: split it into several")
)]
#[serde(rename_all = "camelCase")]
pub struct AkvSyncSpec {
    /// The Key Vault's name (`contoso-kv` for https://contoso-kv.vault.azure.net).
    #[schemars(regex(pattern = VAULT_NAME_PATTERN))]
    pub keyvault_name: String,
    /// The client ID of the Entra identity the ServiceAccount federates to.
    #[serde(rename = "clientID")]
    #[schemars(length(min = 1, max = 64))]
    pub client_id: String,
    /// The Entra tenant of the vault.
    #[serde(rename = "tenantID")]
    #[schemars(length(min = 1, max = 64))]
    pub tenant_id: String,
    /// The ServiceAccount, in this namespace, whose token is exchanged for the identity's.
    #[schemars(length(min = 1, max = MAX_NAME_LENGTH), regex(pattern = DNS1123_SUBDOMAIN_PATTERN))]
    pub service_account_name: String,
    /// The vault objects, each a Secret of its own or, compound, several in one Secret.
    #[schemars(length(min = 1, max = MAX_OBJECTS))]
    pub objects: Vec<AkvSyncObject>,
}

/// One Secret: a vault secret (`secretInAKV`), or several (`objects`, compound).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("has(self.secretInAKV) != has(self.objects)").message("an entry names either secretInAKV (one vault secret) or objects (a compound Secret), not both"),
    validation = Rule::new("!has(self.objects) || has(self.kubernetesSecretName)").message("a compound entry (objects) needs kubernetesSecretName"),
    validation = Rule::new("!has(self.objects) || !has(self.versionHistory)").message("versionHistory applies to a single secretInAKV entry")
)]
pub struct AkvSyncObject {
    /// The vault secret (a certificate's secret gives its key and chain as PEM).
    #[serde(default, rename = "secretInAKV", skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = VAULT_OBJECT_PATTERN))]
    pub secret_in_akv: Option<String>,
    /// The Secret's name (default: the vault secret's name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = MAX_NAME_LENGTH), regex(pattern = DNS1123_SUBDOMAIN_PATTERN))]
    pub kubernetes_secret_name: Option<String>,
    /// How many versions to keep, newest first, in data keys `v0`…`vN-1` (default 1: `v0` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = MAX_VERSION_HISTORY))]
    pub version_history: Option<i32>,
    /// Compound: the vault secrets gathered in this one Secret, each under its own data key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = MAX_OBJECTS))]
    pub objects: Option<Vec<AkvSyncPart>>,
}

/// One vault secret of a compound Secret.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct AkvSyncPart {
    /// The vault secret.
    #[serde(rename = "secretInAKV")]
    #[schemars(regex(pattern = VAULT_OBJECT_PATTERN))]
    pub secret_in_akv: String,
    /// Its data key in the Secret (the pattern of a SecretSync's `targetKey`).
    #[schemars(length(min = 1, max = MAX_NAME_LENGTH), regex(pattern = TARGET_KEY_PATTERN))]
    pub data_key: String,
}

/// What the generated SecretSyncs report, summarised.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct AkvSyncStatus {
    /// `READY/TOTAL` generated SecretSyncs (the `Secrets` column).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// Each generated SecretSync (its Secret has the same name) and its `Ready` condition. Written even
    /// when empty, so a merge patch of the status replaces an earlier list.
    #[serde(default)]
    #[schemars(length(max = MAX_OBJECTS))]
    pub secret_syncs: Vec<GeneratedSync>,
    /// The `metadata.generation` this status was computed for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready`: every generated SecretSync is Ready (reason `AllSecretsSynced`), or why not.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 8))]
    pub conditions: Vec<Condition>,
}

/// One generated SecretSync in the AKVSync's status.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct GeneratedSync {
    /// Its name (and its Secret's).
    pub name: String,
    /// Its `Ready` condition's status (`Unknown` before its first check).
    pub ready: String,
    /// Its `Ready` condition's reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synced_objects_count_history_and_compound_parts() {
        let single = |history: Option<i32>| AkvSyncObject {
            secret_in_akv: Some("s".into()),
            version_history: history,
            ..AkvSyncObject::default()
        };
        let compound = AkvSyncObject {
            objects: Some(vec![AkvSyncPart::default(); 3]),
            ..AkvSyncObject::default()
        };
        let spec = AkvSyncSpec {
            objects: vec![single(None), single(Some(64)), compound],
            ..AkvSyncSpec::default()
        };
        assert_eq!(synced_objects(&spec), 1 + 64 + 3);
    }
}

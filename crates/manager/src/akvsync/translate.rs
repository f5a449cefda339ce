//! The translation of one [`AKVSync`] into its SecretProviderClass and SecretSyncs: pure, no I/O.
//!
//! One SecretProviderClass named after the AKVSync, with one `objects` entry per vault secret and history
//! length; per entry one SecretSync named `kubernetesSecretName` or after the vault secret, of type Opaque,
//! with data keys `v0`…`vN-1` (newest first), or, for a compound entry, each part's `dataKey`. Every
//! generated object carries the label [`LABEL`] and the AKVSync as its controlling owner.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::{Resource as _, ResourceExt as _};
use provider_proto::contract::{Objects, attributes::OBJECTS, azure};
use sse_api::{
    AKVSync, SecretObject, SecretObjectData, SecretProviderClass, SecretProviderClassSpec, SecretSync,
    SecretSyncSpec,
};

use super::LABEL;

/// Data key of version `i` of a single entry.
fn version_key(i: i32) -> String {
    format!("v{i}")
}

/// What an AKVSync generates.
#[derive(Clone, Debug, PartialEq)]
pub struct Generated {
    /// The SecretProviderClass (named after the AKVSync).
    pub class: SecretProviderClass,
    /// One SecretSync per entry.
    pub syncs: Vec<SecretSync>,
}

/// Why an AKVSync cannot be translated (the schema rejects most of this; these are the cross-entry rules).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TranslateError {
    /// Two entries make the same Secret.
    #[error("two entries make Secret {0}: give one a different kubernetesSecretName")]
    DuplicateSecret(String),
    /// A compound entry uses one data key twice.
    #[error("Secret {secret} has data key {key} twice")]
    DuplicateKey {
        /// The Secret.
        secret: String,
        /// The key.
        key: String,
    },
    /// An entry is neither single nor compound (the CRD's rules forbid it).
    #[error("entry {0} names neither secretInAKV nor objects")]
    Empty(usize),
    /// More vault objects than one AKVSync may sync (the CRD refuses it; an object stored before the rule
    /// existed is refused here).
    #[error(
        "the entries sync {0} vault objects (versionHistory and compound parts counted), more than the 1024 one AKVSync may: split it into several"
    )]
    TooManyObjects(i64),
    /// The AKVSync's name cannot be a label value (the generated objects carry it).
    #[error(
        "the AKVSync's name is longer than 63 characters, the limit of the sse-rs.io/akvsync label it is written in"
    )]
    NameTooLong,
    /// A generated SecretSync would be refused.
    #[error("Secret {secret}: {reason}")]
    Invalid {
        /// The Secret (and SecretSync).
        secret: String,
        /// Why.
        reason: String,
    },
}

/// The controlling owner reference of a generated object.
fn owner(akv: &AKVSync) -> OwnerReference {
    OwnerReference {
        api_version: AKVSync::api_version(&()).into_owned(),
        kind: AKVSync::kind(&()).into_owned(),
        name: akv.name_any(),
        uid: akv.uid().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: None,
    }
}

fn meta(akv: &AKVSync, name: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_string()),
        namespace: akv.namespace(),
        labels: Some(BTreeMap::from([(LABEL.to_string(), akv.name_any())])),
        owner_references: Some(vec![owner(akv)]),
        ..ObjectMeta::default()
    }
}

/// The SecretProviderClass and SecretSyncs `akv` stands for.
pub fn translate(akv: &AKVSync) -> Result<Generated, TranslateError> {
    let spec = &akv.spec;
    if akv.name_any().len() > 63 {
        return Err(TranslateError::NameTooLong);
    }
    let count = sse_api::akv_sync::synced_objects(spec);
    if count > sse_api::akv_sync::MAX_SYNCED_OBJECTS {
        return Err(TranslateError::TooManyObjects(count));
    }
    // (vault secret, history) → its objectAlias, in first-use order.
    let mut aliases: Vec<((String, i32), String)> = Vec::new();
    let mut alias_of = |secret: &str, history: i32| -> String {
        if let Some((_, alias)) = aliases.iter().find(|(k, _)| k.0 == secret && k.1 == history) {
            return alias.clone();
        }
        let taken = |a: &str| aliases.iter().any(|(_, b)| b == a);
        let alias = std::iter::once(secret.to_string())
            .chain(std::iter::once(format!("{secret}-h{history}")))
            .chain((2..).map(|n| format!("{secret}-h{history}-{n}")))
            .find(|a| !taken(a))
            .unwrap_or_else(|| secret.to_string());
        aliases.push(((secret.to_string(), history), alias.clone()));
        alias
    };
    let mut syncs: Vec<SecretSync> = Vec::new();
    for (index, entry) in spec.objects.iter().enumerate() {
        let (name, data) = match (&entry.secret_in_akv, &entry.objects) {
            (Some(secret), None) => {
                let history = entry.version_history.unwrap_or(1).max(1);
                let alias = alias_of(secret, history);
                let data = if history == 1 {
                    vec![(alias, version_key(0))]
                } else {
                    (0..history)
                        .map(|i| (format!("{alias}/{i}"), version_key(i)))
                        .collect()
                };
                (
                    entry
                        .kubernetes_secret_name
                        .clone()
                        .unwrap_or_else(|| secret.to_ascii_lowercase()),
                    data,
                )
            }
            (None, Some(parts)) => {
                let name = entry
                    .kubernetes_secret_name
                    .clone()
                    .ok_or(TranslateError::Empty(index))?;
                let mut data: Vec<(String, String)> = Vec::new();
                for part in parts {
                    if data.iter().any(|(_, k)| *k == part.data_key) {
                        return Err(TranslateError::DuplicateKey {
                            secret: name,
                            key: part.data_key.clone(),
                        });
                    }
                    data.push((alias_of(&part.secret_in_akv, 1), part.data_key.clone()));
                }
                (name, data)
            }
            _ => return Err(TranslateError::Empty(index)),
        };
        if syncs.iter().any(|s| s.name_any() == name) {
            return Err(TranslateError::DuplicateSecret(name));
        }
        if !sse_api::validation::is_dns1123_subdomain(&name) {
            return Err(TranslateError::Invalid {
                secret: name,
                reason: "not a valid Secret name (lower-case letters, digits, '-' and '.'): set kubernetesSecretName"
                    .into(),
            });
        }
        let mut sync = SecretSync::new(
            &name,
            SecretSyncSpec {
                secret_provider_class_name: akv.name_any(),
                service_account_name: spec.service_account_name.clone(),
                secret_object: SecretObject {
                    type_: sse_api::consts::DEFAULT_SECRET_TYPE.to_string(),
                    data: data
                        .into_iter()
                        .map(|(source_path, target_key)| SecretObjectData {
                            source_path,
                            target_key,
                            property: None,
                        })
                        .collect(),
                    data_from: Vec::new(),
                    template: None,
                    labels: None,
                    annotations: None,
                },
                ..SecretSyncSpec::default()
            },
        );
        sse_api::validation::validate_spec(&sync.spec).map_err(|e| TranslateError::Invalid {
            secret: name.clone(),
            reason: e.to_string(),
        })?;
        sync.metadata = meta(akv, &name);
        syncs.push(sync);
    }
    let objects = Objects::new(aliases.iter().map(|((secret, history), alias)| {
        let mut entry = format!("objectName: {secret}\nobjectType: secret\nobjectAlias: {alias}");
        if *history > 1 {
            entry.push_str(&format!("\nobjectVersionHistory: {history}"));
        }
        entry
    }));
    let parameters = BTreeMap::from([
        (azure::KEYVAULT_NAME.to_string(), spec.keyvault_name.clone()),
        (azure::CLIENT_ID.to_string(), spec.client_id.clone()),
        (azure::TENANT_ID.to_string(), spec.tenant_id.clone()),
        (OBJECTS.to_string(), objects.to_yaml()),
    ]);
    let mut class = SecretProviderClass::new(
        &akv.name_any(),
        SecretProviderClassSpec {
            provider: Some("azure".to_string()),
            parameters: Some(parameters),
            secret_objects: None,
        },
    );
    class.metadata = meta(akv, &akv.name_any());
    Ok(Generated { class, syncs })
}

/// Whether `object` is controlled by `akv`.
pub(super) fn ours(object: &ObjectMeta, akv: &AKVSync) -> bool {
    let uid = akv.uid();
    object
        .owner_references
        .iter()
        .flatten()
        .any(|o| o.controller == Some(true) && Some(&o.uid) == uid.as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn akv(objects: serde_json::Value) -> AKVSync {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "secret-sync.x-k8s.io/v1alpha1",
            "kind": "AKVSync",
            "metadata": {"name": "app", "namespace": "apps", "uid": "akv-uid"},
            "spec": {"keyvaultName": "contoso-kv", "clientID": "c", "tenantID": "t",
                     "serviceAccountName": "sa", "objects": objects},
        }))
        .unwrap_or_else(|e| panic!("{e}"))
    }

    fn data(sync: &SecretSync) -> Vec<(&str, &str)> {
        sync.spec
            .secret_object
            .data
            .iter()
            .map(|d| (d.source_path.as_str(), d.target_key.as_str()))
            .collect()
    }

    #[test]
    fn single_renamed_with_history_and_compound_entries() {
        let generated = translate(&akv(serde_json::json!([
            {"secretInAKV": "db-password"},
            {"secretInAKV": "api-key", "kubernetesSecretName": "api", "versionHistory": 2},
            {"kubernetesSecretName": "db-credentials", "objects": [
                {"secretInAKV": "db-user", "dataKey": "username"},
                {"secretInAKV": "db-password", "dataKey": "password"}]},
        ])))
        .unwrap_or_else(|e| panic!("{e}"));
        let names: Vec<String> = generated.syncs.iter().map(|s| s.name_any()).collect();
        assert_eq!(names, ["db-password", "api", "db-credentials"]);
        assert_eq!(data(&generated.syncs[0]), [("db-password", "v0")]);
        assert_eq!(
            data(&generated.syncs[1]),
            [("api-key/0", "v0"), ("api-key/1", "v1")]
        );
        assert_eq!(
            data(&generated.syncs[2]),
            [("db-user", "username"), ("db-password", "password")],
            "the vault secret used twice is fetched once"
        );
        let parameters = generated.class.spec.parameters.clone().unwrap_or_default();
        let objects = Objects::parse(&parameters[OBJECTS]).unwrap_or_default();
        assert_eq!(
            objects.array,
            [
                "objectName: db-password\nobjectType: secret\nobjectAlias: db-password\n",
                "objectName: api-key\nobjectType: secret\nobjectAlias: api-key\nobjectVersionHistory: 2\n",
                "objectName: db-user\nobjectType: secret\nobjectAlias: db-user\n",
            ]
        );
        for sync in &generated.syncs {
            assert_eq!(sync.spec.secret_provider_class_name, "app");
            assert_eq!(sync.spec.service_account_name, "sa");
            assert_eq!(sync.labels()[LABEL], "app");
            let owners = sync.owner_references();
            assert_eq!(
                (owners[0].kind.as_str(), owners[0].controller),
                ("AKVSync", Some(true))
            );
            sse_api::validation::validate_spec(&sync.spec).unwrap_or_else(|e| panic!("{e}"));
        }
        assert_eq!(generated.class.metadata.name.as_deref(), Some("app"));
    }

    #[test]
    fn one_secret_at_different_history_lengths_gets_two_aliases_and_clashes_are_refused() {
        let generated = translate(&akv(serde_json::json!([
            {"secretInAKV": "s"},
            {"secretInAKV": "s", "kubernetesSecretName": "s-history", "versionHistory": 3},
        ])))
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(data(&generated.syncs[1])[2], ("s-h3/2", "v2"));
        // `s-h3` is the name of another vault secret here: the history alias steps aside.
        let generated = translate(&akv(serde_json::json!([
            {"secretInAKV": "s-h3"},
            {"secretInAKV": "s"},
            {"secretInAKV": "s", "kubernetesSecretName": "s-history", "versionHistory": 3},
        ])))
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(data(&generated.syncs[2])[0], ("s-h3-2/0", "v0"));
        assert!(matches!(
            translate(&akv(serde_json::json!([{"secretInAKV": "Bad-"}]))),
            Err(TranslateError::Invalid { .. })
        ));
        let mut long = akv(serde_json::json!([{"secretInAKV": "a"}]));
        long.metadata.name = Some("n".repeat(64));
        assert_eq!(translate(&long), Err(TranslateError::NameTooLong));
        assert_eq!(
            translate(&akv(
                serde_json::json!([{"secretInAKV": "a"}, {"secretInAKV": "A"}])
            )),
            Err(TranslateError::DuplicateSecret("a".into())),
            "Kubernetes names are lower case; vault names are not case-sensitive"
        );
        assert_eq!(
            translate(&akv(
                serde_json::json!([{"kubernetesSecretName": "c", "objects": [
                {"secretInAKV": "a", "dataKey": "k"}, {"secretInAKV": "b", "dataKey": "k"}]}])
            )),
            Err(TranslateError::DuplicateKey {
                secret: "c".into(),
                key: "k".into()
            })
        );
    }
}

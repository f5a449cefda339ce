//! The Azure Arc Secret Store extension walkthrough objects apply unchanged
//! (docs/COMPATIBILITY.md#which-original): they deserialise into the types and serialise back to exactly what
//! was written. Unset optional fields are never serialised, so a server-side-apply body carries only the
//! fields that are set.

use std::collections::BTreeMap;

use k8s_openapi::{
    apimachinery::pkg::apis::meta::v1::{Condition, Time},
    jiff::Timestamp,
};
use kube::Resource;
use serde_json::{Value, json};
use sse_api::{
    SecretObject, SecretObjectData, SecretProviderClass, SecretSync, SecretSyncSpec, SecretSyncStatus,
    conditions::{READY, Reason, new_condition},
    consts, validate_secret_object,
};

/// The walkthrough as users apply it, kept once for this test and `cargo xtask demo`.
const WALKTHROUGH: &str = include_str!("../../../deploy/examples/walkthrough.yaml");

/// The walkthrough's document of `kind`, as written (the separator takes no newline from it).
fn walkthrough(kind: &str) -> String {
    WALKTHROUGH
        .split("\n---\n")
        .find(|doc| doc.contains(&format!("\nkind: {kind}\n")))
        .map(|doc| format!("{}\n", doc.trim_end_matches('\n')))
        .unwrap_or_else(|| panic!("deploy/examples/walkthrough.yaml has no {kind}"))
}

#[test]
fn walkthrough_file_holds_a_secret_provider_class_and_a_secret_sync() {
    let kinds: Vec<String> = serde_yaml_ng::Deserializer::from_str(WALKTHROUGH)
        .map(|doc| {
            let v = <Value as serde::Deserialize>::deserialize(doc).expect("walkthrough YAML");
            v["kind"].as_str().unwrap_or_default().to_string()
        })
        .collect();
    assert_eq!(kinds, ["SecretProviderClass", "SecretSync"]);
}

#[test]
fn walkthrough_secret_sync_deserialises() {
    let ss: SecretSync = serde_yaml_ng::from_str(&walkthrough("SecretSync")).expect("SecretSync YAML");
    assert_eq!(ss.metadata.name.as_deref(), Some("secret-sync-name"));
    assert_eq!(ss.metadata.namespace.as_deref(), Some("default"));
    assert_eq!(
        ss.spec,
        SecretSyncSpec {
            secret_sync_controller_name: String::new(),
            secret_provider_class_name: "secret-provider-class-name".into(),
            service_account_name: "workload-identity-sa".into(),
            secret_object: SecretObject {
                type_: "Opaque".into(),
                data: vec![
                    SecretObjectData {
                        source_path: "my-secret/0".into(),
                        target_key: "my-secret-data-key0".into(),
                        property: None,
                    },
                    SecretObjectData {
                        source_path: "my-secret/1".into(),
                        target_key: "my-secret-data-key1".into(),
                        property: None,
                    },
                ],
                data_from: Vec::new(),
                template: None,
                labels: None,
                annotations: None,
            },
            force_synchronization: None,
        }
    );
    assert!(ss.status.is_none());
    assert_eq!(validate_secret_object(&ss.spec.secret_object), Ok(()));
    assert_eq!(SecretSync::api_version(&()), consts::SECRET_SYNC_API_VERSION);
    assert_eq!(SecretSync::kind(&()), consts::SECRET_SYNC_KIND);
}

#[test]
fn walkthrough_secret_sync_round_trips_unchanged() {
    let original: Value = serde_yaml_ng::from_str(&walkthrough("SecretSync")).expect("yaml");
    let ss: SecretSync = serde_json::from_value(original.clone()).expect("typed");
    assert_eq!(serde_json::to_value(&ss).expect("json"), original);
}

#[test]
fn walkthrough_spc_deserialises() {
    let spc: SecretProviderClass =
        serde_yaml_ng::from_str(&walkthrough("SecretProviderClass")).expect("SPC YAML");
    assert_eq!(spc.metadata.name.as_deref(), Some("secret-provider-class-name"));
    assert_eq!(spc.spec.provider.as_deref(), Some("azure"));
    let params = spc.spec.parameters.as_ref().expect("parameters");
    assert_eq!(
        params.keys().collect::<Vec<_>>(),
        ["clientID", "keyvaultName", "objects", "tenantId"]
    );
    assert_eq!(params["clientID"], "<id>");
    assert_eq!(params["keyvaultName"], "my-kv");
    assert_eq!(params["tenantId"], "<tenant>");
    assert_eq!(
        params["objects"],
        "array:\n  - |\n    objectName: my-secret\n    objectType: secret\n    objectVersionHistory: 2\n"
    );
    assert!(spc.spec.secret_objects.is_none());
    assert_eq!(
        SecretProviderClass::api_version(&()),
        consts::SECRET_PROVIDER_CLASS_API_VERSION
    );
}

#[test]
fn walkthrough_spc_round_trips_unchanged() {
    let original: Value = serde_yaml_ng::from_str(&walkthrough("SecretProviderClass")).expect("yaml");
    let spc: SecretProviderClass = serde_json::from_value(original.clone()).expect("typed");
    assert_eq!(serde_json::to_value(&spc).expect("json"), original);
}

#[test]
fn spc_with_secret_objects_round_trips() {
    let original = json!({
        "apiVersion": "secrets-store.csi.x-k8s.io/v1",
        "kind": "SecretProviderClass",
        "metadata": {"name": "x", "namespace": "ns"},
        "spec": {
            "provider": "azure",
            "secretObjects": [{
                "secretName": "foosecret",
                "type": "Opaque",
                "labels": {"environment": "test"},
                "annotations": {"a": "b"},
                "data": [{"objectName": "secretalias", "key": "username"}]
            }]
        },
        // Unknown to the typed model (v1 status is empty); ignored when reading.
        "status": {"byPod": [{"id": "pod", "namespace": "ns"}]}
    });
    let spc: SecretProviderClass = serde_json::from_value(original.clone()).expect("typed");
    let mut without_status = original;
    without_status.as_object_mut().expect("object").remove("status");
    assert_eq!(serde_json::to_value(&spc).expect("json"), without_status);
}

#[test]
fn minimal_spec_serialises_only_set_fields() {
    let spec = SecretSyncSpec {
        secret_provider_class_name: "spc".into(),
        service_account_name: "sa".into(),
        secret_object: SecretObject {
            data: vec![SecretObjectData {
                source_path: "a".into(),
                target_key: "b".into(),
                property: None,
            }],
            ..SecretObject::default()
        },
        ..SecretSyncSpec::default()
    };
    assert_eq!(
        serde_json::to_value(&spec).expect("json"),
        json!({
            "secretProviderClassName": "spc",
            "serviceAccountName": "sa",
            "secretObject": {"type": "Opaque", "data": [{"sourcePath": "a", "targetKey": "b"}]}
        })
    );
}

#[test]
fn secret_object_type_defaults_to_opaque() {
    let so: SecretObject =
        serde_json::from_value(json!({"data": [{"sourcePath": "a", "targetKey": "b"}]})).expect("typed");
    assert_eq!(so.type_, consts::DEFAULT_SECRET_TYPE);
    assert_eq!(SecretObject::default().type_, "Opaque");
}

#[test]
fn full_spec_round_trips() {
    let original = json!({
        "secretSyncControllerName": "shard-a",
        "secretProviderClassName": "spc",
        "serviceAccountName": "sa",
        "secretObject": {
            "type": "kubernetes.io/tls",
            "data": [{"sourcePath": "cert", "targetKey": "tls.crt"}, {"sourcePath": "cert", "targetKey": "tls.key"}],
            "labels": {"app": "web"},
            "annotations": {"note": "x"}
        },
        "forceSynchronization": "1718000000"
    });
    let spec: SecretSyncSpec = serde_json::from_value(original.clone()).expect("typed");
    assert_eq!(spec.force_synchronization.as_deref(), Some("1718000000"));
    assert_eq!(
        spec.secret_object.labels,
        Some(BTreeMap::from([("app".into(), "web".into())]))
    );
    assert_eq!(serde_json::to_value(&spec).expect("json"), original);
}

#[test]
fn empty_status_serialises_to_empty_object() {
    assert_eq!(
        serde_json::to_value(SecretSyncStatus::default()).expect("json"),
        json!({})
    );
    let only_hash = SecretSyncStatus {
        sync_hash: Some("v2:abc".into()),
        ..SecretSyncStatus::default()
    };
    assert_eq!(
        serde_json::to_value(only_hash).expect("json"),
        json!({"syncHash": "v2:abc"})
    );
}

#[test]
fn status_round_trips() {
    let t = |s: i64| Time(Timestamp::from_second(s).expect("timestamp"));
    let status = SecretSyncStatus {
        sync_hash: Some("v2:00ff".into()),
        last_successful_sync_time: Some(t(1_700_000_000)),
        last_checked_time: Some(t(1_700_000_100)),
        next_check_time: Some(t(1_700_003_700)),
        refresh_interval: Some("1h0m0s".into()),
        late_by: Some("5m0s".into()),
        force_sync_handled: Some("2023-11-14T22:14:00Z".into()),
        failing_since: None,
        observed_generation: Some(3),
        validity: vec![sse_api::ObjectValidity {
            object: "secret/db".into(),
            not_before: None,
            expires_at: Some(t(1_702_000_000)),
            state: "Expiring".into(),
        }],
        conditions: vec![new_condition(
            READY,
            Reason::UpdateNoValueChangeSucceeded,
            "up to date",
            Some(3),
            t(1_700_000_000),
        )],
    };
    let value = serde_json::to_value(&status).expect("json");
    assert_eq!(
        value,
        json!({
            "syncHash": "v2:00ff",
            "lastSuccessfulSyncTime": "2023-11-14T22:13:20Z",
            "lastCheckedTime": "2023-11-14T22:15:00Z",
            "nextCheckTime": "2023-11-14T23:15:00Z",
            "refreshInterval": "1h0m0s",
            "lateBy": "5m0s",
            "forceSyncHandled": "2023-11-14T22:14:00Z",
            "observedGeneration": 3,
            "validity": [{"object": "secret/db", "expiresAt": "2023-12-08T01:46:40Z", "state": "Expiring"}],
            "conditions": [{
                "type": "Ready",
                "status": "True",
                "reason": "UpdateNoValueChangeSucceeded",
                "message": "up to date",
                "observedGeneration": 3,
                "lastTransitionTime": "2023-11-14T22:13:20Z"
            }]
        })
    );
    let back: SecretSyncStatus = serde_json::from_value(value).expect("typed");
    assert_eq!(back, status);
}

#[test]
fn upstream_status_deserialises() {
    // A status written by the upstream Go controller (v0.0.x vocabulary) is readable.
    let status: SecretSyncStatus = serde_json::from_value(json!({
        "syncHash": "v1:abcd",
        "lastSuccessfulSyncTime": "2024-08-01T10:00:00Z",
        "conditions": [
            {"type": "Create", "status": "True", "reason": "CreateSucceeded", "message": "Secret created successfully.", "lastTransitionTime": "2024-08-01T10:00:00Z"},
            {"type": "Update", "status": "False", "reason": "ControllerSPCError", "message": "", "lastTransitionTime": "2024-08-01T11:00:00Z"}
        ]
    }))
    .expect("typed");
    assert_eq!(status.conditions.len(), 2);
    let reasons: Vec<Reason> = status
        .conditions
        .iter()
        .map(|c: &Condition| c.reason.parse().expect("known reason"))
        .collect();
    assert_eq!(reasons, [Reason::CreateSucceeded, Reason::ControllerSpcError]);
}

#[test]
fn secret_sync_object_with_status_serialises_status() {
    let mut ss: SecretSync = serde_yaml_ng::from_str(&walkthrough("SecretSync")).expect("yaml");
    ss.status = Some(SecretSyncStatus {
        observed_generation: Some(1),
        ..SecretSyncStatus::default()
    });
    let value = serde_json::to_value(&ss).expect("json");
    assert_eq!(value["status"], json!({"observedGeneration": 1}));
}

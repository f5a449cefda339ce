//! Unit tests of the Secret's shape and of the test-only patches.

use std::collections::BTreeMap;

use super::*;

fn sync() -> SecretSync {
    let mut s = SecretSync::new("db", sse_api::SecretSyncSpec::default());
    s.metadata.namespace = Some("app".into());
    s.metadata.uid = Some("uid-1".into());
    s.spec.secret_object.type_ = "Opaque".into();
    s.spec.secret_object.labels = Some(BTreeMap::from([("team/x".into(), "a".into())]));
    s
}

#[test]
fn desired_secret_shape() {
    let data = SecretData(BTreeMap::from([("k".to_string(), b"v".to_vec())]));
    let secret = desired(&sync(), &data);
    let labels = secret.metadata.labels.clone().unwrap();
    assert_eq!(labels[consts::CONTROLLER_LABEL_KEY], "");
    assert_eq!(labels["team/x"], "a");
    let owners = secret.metadata.owner_references.clone().unwrap();
    assert_eq!(owners.len(), 1);
    assert_eq!(owners[0].kind, "SecretSync");
    assert_eq!(owners[0].api_version, "secret-sync.x-k8s.io/v1alpha1");
    assert_eq!(owners[0].uid, "uid-1");
    assert_eq!(secret.type_.as_deref(), Some("Opaque"));
    assert!(secret.metadata.annotations.is_none());
}

#[test]
fn annotations_the_api_server_would_escape_are_not_tested() {
    let mut s = sync();
    s.spec.secret_object.annotations = Some(BTreeMap::from([
        ("plain".to_string(), "v".to_string()),
        ("html".to_string(), "a&b".to_string()),
    ]));
    let secret = desired(&s, &SecretData(BTreeMap::new()));
    let ops = serde_json::to_value(content_tests(&secret)).unwrap().to_string();
    assert!(ops.contains("/metadata/annotations/plain"), "{ops}");
    assert!(!ops.contains("/metadata/annotations/html"), "{ops}");
    assert_eq!(
        secret.metadata.annotations.unwrap()["html"],
        "a&b",
        "still applied"
    );
}

#[test]
fn tests_escape_keys_and_cover_the_content() {
    let data = SecretData(BTreeMap::from([("k".to_string(), b"v".to_vec())]));
    let secret = desired(&sync(), &data);
    let ops = serde_json::to_value(content_tests(&secret)).unwrap().to_string();
    assert!(ops.contains("\"/metadata/labels/team~1x\""), "{ops}");
    assert!(ops.contains("\"/data/k\"") && ops.contains("\"dg==\""), "{ops}");
    let s = sync();
    let own = serde_json::to_value(ownership_tests(&Target::of(&s)))
        .unwrap()
        .to_string();
    assert!(
        own.contains("/metadata/labels/secrets-store.sync.x-k8s.io"),
        "{own}"
    );
    assert!(own.contains("uid-1"), "{own}");
}

#[test]
fn a_fanout_secret_carries_the_mark_and_a_controller_owner() {
    let mut css = sse_api::ClusterSecretSync::new("registry", sse_api::ClusterSecretSyncSpec::default());
    css.metadata.uid = Some("css-1".into());
    let target = Target::fanout(&css, "team-a");
    let data = SecretData(BTreeMap::from([("k".to_string(), b"v".to_vec())]));
    let secret = desired_for(&target, &css.spec.secret_object, &data, None);
    assert_eq!(secret.metadata.namespace.as_deref(), Some("team-a"));
    assert_eq!(secret.metadata.name.as_deref(), Some("registry"));
    let labels = secret.metadata.labels.clone().unwrap();
    assert_eq!(labels[consts::CONTROLLER_LABEL_KEY], "");
    assert_eq!(labels["sse-rs.io/cluster-secret-sync"], "registry");
    let owners = secret.metadata.owner_references.clone().unwrap();
    assert_eq!(owners.len(), 1);
    assert_eq!(
        (owners[0].kind.as_str(), owners[0].uid.as_str()),
        ("ClusterSecretSync", "css-1")
    );
    assert_eq!(owners[0].controller, Some(true));
    let own = serde_json::to_value(ownership_tests(&target))
        .unwrap()
        .to_string();
    assert!(
        own.contains("/metadata/labels/sse-rs.io~1cluster-secret-sync"),
        "{own}"
    );
    assert!(own.contains("css-1"), "{own}");
    assert!(target.adopter.is_none(), "fan-out never adopts");
}

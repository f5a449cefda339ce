//! Tier 2: the manager's reconciler with the real provider over mTLS and the Key Vault emulator; the
//! Kubernetes API is the in-memory double, which records every call (harness in `tests/src/lib.rs`).
//! Partial sync: the healthy keys updated, the failed ones kept, a foreign Secret never touched; and
//! all-or-nothing when partial sync is off.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use manager::fake::Call;
use sse_api::conditions::{CREATE, UPDATE};
use sse_tests::*;

#[tokio::test]
async fn partial_sync_updates_the_healthy_keys_only() {
    let env = Env::start().await;
    env.emulator.store().set_secret(VAULT, "a", "a1");
    env.emulator.store().set_secret(VAULT, "b", "b1");
    env.put_class(
        "kv",
        "azure",
        &[
            "objectName: a\nobjectType: secret",
            "objectName: b\nobjectType: secret",
        ],
    );
    let mut sync = env.sync("partial", "kv", "Opaque", &[("a", "ka"), ("b", "kb")]);
    env.reconcile(&mut sync).await;

    env.emulator.store().set_secret(VAULT, "a", "a2");
    env.emulator
        .store()
        .delete(VAULT, keyvault_emulator::ObjectKind::Secret, "b");
    env.poll(&mut sync).await;
    let data = env.secret_data("partial");
    assert_eq!(data["ka"], "a2", "healthy key updated");
    assert_eq!(data["kb"], "b1", "failed key keeps its last good value");
    let (status, reason, message) = condition(&sync, UPDATE);
    assert_eq!((status.as_str(), reason.as_str()), ("False", "PartialSync"));
    let summary: serde_json::Value = serde_json::from_str(&message).unwrap();
    let items = summary["items"].as_array().unwrap();
    assert_eq!(items[0]["status"], "Synced");
    assert_eq!(items[1]["status"], "Failed");
    assert!(
        summary["providerErrors"][0]
            .as_str()
            .unwrap()
            .contains("SecretNotFound")
    );

    // The same partial state at the next poll changes nothing: no write, no status, no event.
    env.cluster.clear_calls();
    let again = env.poll(&mut sync).await;
    assert!(!again.status_written);
    assert!(
        env.cluster
            .calls()
            .iter()
            .all(|c| matches!(c, Call::PatchSecret(_, 200))),
        "{:?}",
        env.cluster.calls()
    );

    // A hand edit of a healthy key is repaired while the other object still fails, the failed key keeps its
    // last good value, and someone else's extra key stays.
    env.cluster.edit_secret_data(NS, "partial", "ka", b"tampered");
    env.cluster.edit_secret_data(NS, "partial", "extra", b"theirs");
    env.cluster.clear_calls();
    env.poll(&mut sync).await;
    let data = env.secret_data("partial");
    assert_eq!(
        (data["ka"].as_str(), data["kb"].as_str(), data["extra"].as_str()),
        ("a2", "b1", "theirs")
    );
    assert_eq!(
        env.cluster.calls()[..3],
        [
            Call::PatchSecret(format!("{NS}/partial"), 422),
            Call::PatchSecret(format!("{NS}/partial"), 200),
            Call::PatchSecret(format!("{NS}/partial"), 200),
        ],
        "content check fails (kube-apiserver's generic 422), ownership holds, guarded merge patch: {:?}",
        env.cluster.calls()
    );
}

#[tokio::test]
async fn partial_sync_never_touches_a_foreign_secret() {
    let env = Env::start().await;
    env.emulator.store().set_secret(VAULT, "a", "a1");
    env.put_class(
        "kv",
        "azure",
        &[
            "objectName: a\nobjectType: secret",
            "objectName: gone\nobjectType: secret",
        ],
    );
    let mut foreign = k8s_openapi::api::core::v1::Secret::default();
    foreign.metadata.name = Some("taken".into());
    foreign.metadata.namespace = Some(NS.into());
    foreign.type_ = Some("Opaque".into());
    foreign.data = Some([("ka".to_string(), k8s_openapi::ByteString(b"precious".to_vec()))].into());
    env.cluster.put_foreign_secret(foreign);
    let before = env.cluster.secret(NS, "taken").unwrap();
    let mut sync = env.sync("taken", "kv", "Opaque", &[("a", "ka"), ("gone", "kb")]);
    env.reconcile(&mut sync).await;
    assert_eq!(env.cluster.secret(NS, "taken").unwrap(), before, "untouched");
    let (_, reason, _) = condition(&sync, CREATE);
    assert_eq!(reason, "InvalidClusterSecretLabelError");
}

#[tokio::test]
async fn without_partial_sync_a_failure_changes_nothing() {
    let env = Env::start_with(manager::context::Config {
        audiences: vec![AUDIENCE.into()],
        partial_sync: false,
        ..manager::context::Config::default()
    })
    .await;
    env.emulator.store().set_secret(VAULT, "a", "a1");
    env.emulator.store().set_secret(VAULT, "b", "b1");
    env.put_class(
        "kv",
        "azure",
        &[
            "objectName: a\nobjectType: secret",
            "objectName: b\nobjectType: secret",
        ],
    );
    let mut sync = env.sync("all-or-nothing", "kv", "Opaque", &[("a", "ka"), ("b", "kb")]);
    env.reconcile(&mut sync).await;
    env.emulator.store().set_secret(VAULT, "a", "a2");
    env.emulator
        .store()
        .delete(VAULT, keyvault_emulator::ObjectKind::Secret, "b");
    env.poll(&mut sync).await;
    assert_eq!(env.secret_data("all-or-nothing")["ka"], "a1", "nothing written");
    assert_eq!(condition(&sync, UPDATE).1, "ProviderError");
}

/// 500 failing objects: the summary would be far over the CRD's 32,768-character cap on a condition
/// message, which would make the API server refuse the whole status write. It is cut to fit instead,
/// still JSON, failures first, with the count of what was left out.
#[tokio::test]
async fn the_status_of_500_failing_objects_fits_the_crd() {
    let env = Env::start().await;
    env.emulator.store().set_secret(VAULT, "present", "v");
    let missing: Vec<String> = (0..500)
        .map(|i| format!("missing-object-with-a-long-name-{i:03}"))
        .collect();
    let mut objects = vec!["objectName: present\nobjectType: secret".to_string()];
    objects.extend(
        missing
            .iter()
            .map(|m| format!("objectName: {m}\nobjectType: secret")),
    );
    let objects: Vec<&str> = objects.iter().map(String::as_str).collect();
    env.put_class("kv", "azure", &objects);
    let mut data = vec![("present", "present")];
    data.extend(missing.iter().map(|m| (m.as_str(), m.as_str())));
    let mut sync = env.sync("many", "kv", "Opaque", &data);
    let report = env.reconcile(&mut sync).await;
    assert!(report.status_written, "the status is written: {report:?}");
    assert_eq!(
        env.secret_data("many")["present"],
        "v",
        "the healthy key is written"
    );
    let (status, reason, message) = condition(&sync, CREATE);
    assert_eq!((status.as_str(), reason.as_str()), ("False", "PartialSync"));
    assert!(message.chars().count() <= sse_api::conditions::MESSAGE_MAX_LENGTH);
    let summary: serde_json::Value = serde_json::from_str(&message).unwrap();
    let items = summary["items"].as_array().unwrap();
    let omitted = summary["omittedItems"].as_u64().unwrap();
    assert!(items.len() > 50, "as many as fit are named: {}", items.len());
    assert_eq!(
        items.len() as u64 + omitted,
        501,
        "every item is named or counted"
    );
    assert!(
        items.iter().all(|i| i["status"] == "Failed"),
        "failures come first"
    );
}

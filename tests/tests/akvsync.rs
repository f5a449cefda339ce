//! Tier 2: an AKVSync's walkthrough against the emulator. Its translation (the SecretProviderClass and
//! SecretSyncs the manager generates and keeps) is reconciled as any SecretSync is, through the real
//! provider: one Secret per vault secret with `v0`, a renamed one with its version history `v0`/`v1`
//! (newest first), and a compound Secret gathering two vault secrets under their data keys. (The
//! controller that applies and keeps them runs against the real API server: tier 3.)
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use kube::ResourceExt as _;
use sse_api::AKVSync;
use sse_api::conditions::READY;
use sse_tests::*;

#[tokio::test]
async fn an_akvsync_makes_one_secret_per_entry_with_v0_history_and_compound_keys() {
    let env = Env::start().await;
    let store = env.emulator.store();
    store.set_secret(VAULT, "db-password", "pw");
    store.set_secret(VAULT, "db-user", "admin");
    store.set_secret(VAULT, "api-key", "key-1");
    store.set_secret(VAULT, "api-key", "key-2");
    let akv: AKVSync = serde_json::from_value(serde_json::json!({
        "apiVersion": "secret-sync.x-k8s.io/v1alpha1",
        "kind": "AKVSync",
        "metadata": {"name": "app", "namespace": NS, "uid": "akv-uid"},
        "spec": {"keyvaultName": VAULT, "clientID": CLIENT_ID, "tenantID": TENANT, "serviceAccountName": SA,
                 "objects": [
                     {"secretInAKV": "db-password"},
                     {"secretInAKV": "api-key", "kubernetesSecretName": "api", "versionHistory": 2},
                     {"kubernetesSecretName": "db-credentials", "objects": [
                         {"secretInAKV": "db-user", "dataKey": "username"},
                         {"secretInAKV": "db-password", "dataKey": "password"}]}]},
    }))
    .unwrap();
    let generated = manager::akvsync::translate(&akv).unwrap();
    // The emulator's cloud, as every tier-2 class has it (the AKVSync itself is public-cloud only).
    let mut class = generated.class.clone();
    let template = env.put_class("template", "azure", &[]);
    let parameters = class.spec.parameters.get_or_insert_with(Default::default);
    for key in ["cloudName", "cloudEnvFileName"] {
        parameters.insert(
            key.into(),
            template.spec.parameters.as_ref().unwrap()[key].clone(),
        );
    }
    env.cluster.put_class(class);

    let mut data = std::collections::BTreeMap::new();
    for generated_sync in generated.syncs {
        let mut sync = env.sync(&generated_sync.name_any(), "app", "Opaque", &[]);
        sync.spec = generated_sync.spec.clone();
        env.reconcile(&mut sync).await;
        assert_eq!(
            condition(&sync, READY).0,
            "True",
            "{}: {:?}",
            sync.name_any(),
            sync.status
        );
        data.insert(sync.name_any(), env.secret_data(&sync.name_any()));
    }
    let keys = |name: &str| {
        data[name]
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect::<Vec<_>>()
    };
    assert_eq!(keys("db-password"), [("v0", "pw")]);
    assert_eq!(keys("api"), [("v0", "key-2"), ("v1", "key-1")], "newest first");
    assert_eq!(
        keys("db-credentials"),
        [("password", "pw"), ("username", "admin")]
    );
}

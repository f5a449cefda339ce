//! Tier 2: the manager's reconciler with the real provider over mTLS and the Key Vault emulator; the
//! Kubernetes API is the in-memory double, which records every call (harness in `tests/src/lib.rs`).
//! A SecretSync's life: created, polled without change, rotated, forced, resynced on a class change,
//! repaired after drift. Failures in `sync_failures.rs`, partial sync in `sync_partial.rs`, scheduling and
//! the worker share in `sync_schedule.rs`.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use manager::fake::Call;
use sse_api::conditions::{CREATE, READY, UPDATE};
use sse_tests::*;

const DB: &str = "objectName: db-password\nobjectType: secret\nobjectVersionHistory: 2";

#[tokio::test]
async fn walkthrough_creates_the_secret() {
    let env = Env::start().await;
    env.emulator.store().set_secret(VAULT, "db-password", "old");
    env.emulator.store().set_secret(VAULT, "db-password", "current");
    env.put_class("kv", "azure", &[DB]);
    let mut sync = env.sync(
        "app-secrets",
        "kv",
        "Opaque",
        &[("db-password/0", "current"), ("db-password/1", "previous")],
    );
    let report = env.reconcile(&mut sync).await;
    assert!(report.synced() && report.status_written);
    assert_eq!(
        env.secret_data("app-secrets"),
        [
            ("current".to_string(), "current".to_string()),
            ("previous".to_string(), "old".to_string())
        ]
        .into()
    );
    let secret = env.cluster.secret(NS, "app-secrets").unwrap();
    assert_eq!(secret.metadata.labels.unwrap()["secrets-store.sync.x-k8s.io"], "");
    let owners = secret.metadata.owner_references.unwrap();
    assert_eq!(
        (owners.len(), owners[0].kind.as_str(), owners[0].controller),
        (1, "SecretSync", None)
    );
    assert_eq!(condition(&sync, CREATE).1, "CreateSucceeded");
    assert_eq!(condition(&sync, READY).0, "True");
    let status = sync.status.as_ref().unwrap();
    assert!(status.sync_hash.as_deref().unwrap().starts_with("v2:"));
    assert!(status.last_checked_time.is_some() && status.next_check_time.is_some());
    assert!(env.cluster.calls().contains(&Call::Event(
        format!("{NS}/app-secrets"),
        "CreateSucceeded".into()
    )));
}

#[tokio::test]
async fn a_poll_where_nothing_changed_writes_nothing() {
    let env = Env::start().await;
    env.emulator.store().set_secret(VAULT, "s", "v");
    env.put_class("kv", "azure", &["objectName: s\nobjectType: secret"]);
    let mut sync = env.sync("no-change", "kv", "Opaque", &[("s", "key")]);
    env.reconcile(&mut sync).await;
    let before = env
        .cluster
        .secret(NS, "no-change")
        .unwrap()
        .metadata
        .resource_version;
    let status_before = sync.status.clone();
    env.cluster.clear_calls();
    env.emulator.reset_counters();

    let report = env.poll(&mut sync).await;
    assert!(report.synced() && !report.status_written);
    assert_eq!(
        env.cluster.calls(),
        vec![Call::PatchSecret(format!("{NS}/no-change"), 200)],
        "exactly one API call, a no-op guard patch (the Secret is the one last written)"
    );
    assert_eq!(
        env.cluster
            .secret(NS, "no-change")
            .unwrap()
            .metadata
            .resource_version,
        before
    );
    assert_eq!(sync.status, status_before);
    let counters = env.emulator.counters();
    assert_eq!(
        (counters.get("secrets.list"), counters.get("secrets.get")),
        (Some(&1), None),
        "the vault was checked by its listing (change detection), no value was read"
    );

    // The schedule report answers "when was it checked, and when next" without any status write.
    let report = env.ctx.schedule_report();
    let entry = report
        .iter()
        .find(|e| e.secret_sync == format!("{NS}/no-change"))
        .unwrap();
    assert!(entry.last_checked_time.is_some());
    assert_eq!(entry.last_reason, Some("UpdateNoValueChangeSucceeded"));
    assert!(entry.next_check_time > entry.last_checked_time.clone().unwrap());

    // An echo of our own status write (or any reconcile before the check is due) does not call the provider.
    env.emulator.reset_counters();
    let echo = env.reconcile(&mut sync).await;
    assert!(!echo.synced());
    assert_eq!(env.emulator.counters().get("secrets.get"), None);
}

#[tokio::test]
async fn rotation_is_picked_up_at_the_next_poll() {
    let env = Env::start().await;
    env.emulator.store().set_secret(VAULT, "s", "v1");
    env.put_class("kv", "azure", &["objectName: s\nobjectType: secret"]);
    let mut sync = env.sync("rotating", "kv", "Opaque", &[("s", "key")]);
    env.reconcile(&mut sync).await;
    let first_sync = sync.status.as_ref().unwrap().last_successful_sync_time.clone();
    env.emulator.store().set_secret(VAULT, "s", "v2");
    env.poll(&mut sync).await;
    assert_eq!(env.secret_data("rotating")["key"], "v2");
    assert_eq!(
        condition(&sync, UPDATE).1,
        "UpdateValueChangeOrForceUpdateSucceeded"
    );
    assert!(sync.status.as_ref().unwrap().last_successful_sync_time >= first_sync);
}

#[tokio::test]
async fn force_synchronization_syncs_at_once() {
    let env = Env::start().await;
    env.emulator.store().set_secret(VAULT, "s", "v1");
    env.put_class("kv", "azure", &["objectName: s\nobjectType: secret"]);
    let mut sync = env.sync("forced", "kv", "Opaque", &[("s", "key")]);
    env.reconcile(&mut sync).await;
    env.emulator.store().set_secret(VAULT, "s", "v2");
    // Without a spec change nothing is due yet.
    assert!(!env.reconcile(&mut sync).await.synced());
    sync.spec.force_synchronization = Some("UpdateNow".into());
    Env::bump_generation(&mut sync);
    let report = env.reconcile(&mut sync).await;
    assert!(report.synced());
    assert_eq!(env.secret_data("forced")["key"], "v2");
    assert_eq!(
        condition(&sync, UPDATE).1,
        "UpdateValueChangeOrForceUpdateSucceeded"
    );
}

#[tokio::test]
async fn a_secret_provider_class_change_resyncs() {
    let env = Env::start().await;
    env.emulator.store().set_secret(VAULT, "a", "from-a");
    env.emulator.store().set_secret(VAULT, "b", "from-b");
    env.put_class(
        "kv",
        "azure",
        &["objectName: a\nobjectType: secret\nobjectAlias: x"],
    );
    let mut sync = env.sync("spc-change", "kv", "Opaque", &[("x", "key")]);
    env.reconcile(&mut sync).await;
    env.put_class(
        "kv",
        "azure",
        &["objectName: b\nobjectType: secret\nobjectAlias: x"],
    );
    assert!(
        env.reconcile(&mut sync).await.synced(),
        "a new SPC generation makes the sync due"
    );
    assert_eq!(env.secret_data("spc-change")["key"], "from-b");
}

#[tokio::test]
async fn drift_is_repaired_at_the_next_poll() {
    let env = Env::start().await;
    env.emulator.store().set_secret(VAULT, "s", "v");
    env.put_class("kv", "azure", &["objectName: s\nobjectType: secret"]);
    let mut sync = env.sync("drift", "kv", "Opaque", &[("s", "key")]);
    env.reconcile(&mut sync).await;

    env.cluster.delete_secret(NS, "drift");
    env.poll(&mut sync).await;
    assert_eq!(
        env.secret_data("drift")["key"],
        "v",
        "a deleted Secret is recreated"
    );
    assert_eq!(
        condition(&sync, UPDATE),
        (
            "True".into(),
            "UpdateNoValueChangeSucceeded".into(),
            manager::status::RESTORED.into()
        )
    );

    env.cluster.edit_secret_data(NS, "drift", "key", b"tampered");
    env.cluster
        .edit_secret_data(NS, "drift", "extra", b"someone else's key");
    env.poll(&mut sync).await;
    let data = env.secret_data("drift");
    assert_eq!(data["key"], "v", "an edited value is reverted");
    assert_eq!(
        data["extra"], "someone else's key",
        "other managers' keys are left alone"
    );
}

/// Issue 11: a `kubernetes.io/tls` SecretSync may map `ca.crt`, the certificate's issuing chain as Key Vault
/// holds it (the certificate's secret: key, leaf, then the chain), beside `tls.crt` and `tls.key`.
#[tokio::test]
async fn a_tls_secret_can_carry_its_issuing_chain_in_ca_crt() {
    let env = Env::start().await;
    let (ca, leaf) = env.import_issued_certificate("web", std::time::Duration::from_secs(86_400), true);
    env.put_class("kv", "azure", &["objectName: web\nobjectType: secret"]);
    let mut sync = env.sync(
        "web-tls",
        "kv",
        "kubernetes.io/tls",
        &[("web", "tls.crt"), ("web", "tls.key"), ("web", "ca.crt")],
    );
    env.reconcile(&mut sync).await;
    assert_eq!(condition(&sync, READY).0, "True", "{:?}", sync.status);
    let data = env.secret_data("web-tls");
    assert_eq!(
        data["ca.crt"].trim(),
        ca.cert_pem().trim(),
        "the chain without the leaf"
    );
    assert!(
        data["tls.crt"].starts_with(leaf.cert_pem.trim_end()),
        "leaf first"
    );
    assert!(data["tls.key"].contains("PRIVATE KEY"));
}

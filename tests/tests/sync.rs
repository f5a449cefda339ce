//! Tier 2: the manager's reconciler with the real provider over mTLS and the Key Vault emulator; the
//! Kubernetes API is the in-memory double, which records every call.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use manager::cluster::ClusterError;
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
        "exactly one API call, a no-op guard patch"
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
    assert_eq!(
        env.emulator.counters().get("secrets.get"),
        Some(&1),
        "the vault was checked"
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

#[tokio::test]
async fn a_foreign_secret_is_never_touched() {
    let env = Env::start().await;
    env.emulator.store().set_secret(VAULT, "s", "v");
    env.put_class("kv", "azure", &["objectName: s\nobjectType: secret"]);
    let mut foreign = k8s_openapi::api::core::v1::Secret::default();
    foreign.metadata.name = Some("taken".into());
    foreign.metadata.namespace = Some(NS.into());
    foreign.data = Some([("key".to_string(), k8s_openapi::ByteString(b"precious".to_vec()))].into());
    env.cluster.put_foreign_secret(foreign);
    let before = env.cluster.secret(NS, "taken").unwrap();
    let mut sync = env.sync("taken", "kv", "Opaque", &[("s", "key")]);
    env.reconcile(&mut sync).await;
    assert_eq!(
        env.cluster.secret(NS, "taken").unwrap(),
        before,
        "byte-for-byte intact"
    );
    assert!(
        !env.cluster
            .calls()
            .iter()
            .any(|c| matches!(c, Call::ApplySecret(_)))
    );
    let (status, reason, message) = condition(&sync, CREATE);
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("False", "InvalidClusterSecretLabelError")
    );
    assert!(
        message.contains("app/taken") && message.contains("left untouched"),
        "{message}"
    );
}

#[tokio::test]
async fn bad_input_gets_its_reason_and_nothing_is_written() {
    let env = Env::start().await;
    env.emulator.store().set_secret(VAULT, "s", "v");
    env.put_class("kv", "azure", &["objectName: s\nobjectType: secret"]);
    env.put_class(
        "nosuch-provider",
        "nosuch",
        &["objectName: s\nobjectType: secret"],
    );

    let cases: Vec<(sse_api::SecretSync, &str, String)> = vec![
        (
            env.sync("no-spc", "missing", "Opaque", &[("s", "key")]),
            "ControllerSpcError",
            "failed to get SecretProviderClass \"missing\": SecretProviderClass.secrets-store.csi.x-k8s.io \"missing\" not found".into(),
        ),
        (
            env.sync("no-provider", "nosuch-provider", "Opaque", &[("s", "key")]),
            "ControllerSpcError",
            "fetching secrets from the provider failed: provider not found: provider \"nosuch\"".into(),
        ),
        (
            env.sync("no-path", "kv", "Opaque", &[("other", "key")]),
            "UserInputValidationFailed",
            "fetching secrets from the provider failed: file matching sourcePath other not found in the pod".into(),
        ),
        (
            env.sync("tls-third-key", "kv", "kubernetes.io/tls", &[("s", "ca.crt")]),
            "UserInputValidationFailed",
            String::new(),
        ),
        (
            {
                let mut s = env.sync("reserved", "kv", "Opaque", &[("s", "key")]);
                s.spec.secret_object.labels = Some([("secrets-store.sync.x-k8s.io".to_string(), "x".to_string())].into());
                s
            },
            "InvalidClusterSecretLabelError",
            String::new(),
        ),
    ];
    for (mut sync, reason, message) in cases {
        env.cluster.clear_calls();
        env.reconcile(&mut sync).await;
        let (status, got_reason, got_message) = condition(&sync, CREATE);
        assert_eq!(
            (status.as_str(), got_reason.as_str()),
            ("False", reason),
            "{}: {got_message}",
            sync.metadata.name.as_deref().unwrap()
        );
        if !message.is_empty() {
            assert_eq!(got_message, message);
        }
        assert!(
            !env.cluster
                .calls()
                .iter()
                .any(|c| matches!(c, Call::ApplySecret(_) | Call::PatchSecret(..))),
            "nothing written for {}",
            sync.metadata.name.as_deref().unwrap()
        );
        assert_eq!(condition(&sync, READY).0, "False");
    }
}

#[tokio::test]
async fn token_and_admission_failures() {
    let env = Env::start().await;
    env.emulator.store().set_secret(VAULT, "s", "v");
    env.put_class("kv", "azure", &["objectName: s\nobjectType: secret"]);
    let mut no_sa = env.sync("no-sa", "kv", "Opaque", &[("s", "key")]);
    no_sa.spec.service_account_name = "ghost".into();
    env.reconcile(&mut no_sa).await;
    assert_eq!(
        condition(&no_sa, CREATE),
        (
            "False".into(),
            "ControllerSyncFailed".into(),
            "fetching secrets from the provider failed: failed to fetch token: serviceaccounts \"ghost\" not found".into()
        )
    );

    env.cluster.refuse(
        manager::fake::Request::ApplySecret,
        Some(ClusterError::new(
        403,
        "Forbidden",
        "secrets \"denied\" is forbidden: ValidatingAdmissionPolicy 'secrets-store-sync-controller-create-update-policy' with binding 'secrets-store-sync-controller-create-update-policy-binding' denied request: no",
    )));
    let mut denied = env.sync("denied", "kv", "Opaque", &[("s", "key")]);
    env.reconcile(&mut denied).await;
    let (_, reason, message) = condition(&denied, CREATE);
    assert_eq!(reason, "ValidatingAdmissionPolicyCheckFailed");
    assert!(
        message.starts_with(
            "failed to patch secret \"denied\": secrets \"denied\" is forbidden: ValidatingAdmissionPolicy"
        ),
        "{message}"
    );
}

#[tokio::test]
async fn offline_keeps_the_secret_and_recovers_by_itself() {
    let env = Env::start().await;
    env.emulator.store().set_secret(VAULT, "s", "good");
    env.put_class("kv", "azure", &["objectName: s\nobjectType: secret"]);
    let mut sync = env.sync("offline", "kv", "Opaque", &[("s", "key")]);
    env.reconcile(&mut sync).await;

    env.emulator.faults().set_outage(true);
    let report = env.poll(&mut sync).await;
    assert_eq!(env.secret_data("offline")["key"], "good", "never emptied");
    let (status, reason, message) = condition(&sync, READY);
    assert_eq!((status.as_str(), reason.as_str()), ("False", "ProviderError"));
    assert!(message.starts_with("fetching secrets from the provider failed: rpc error: code = Unavailable desc = failed to mount objects"), "{message}");
    let since = sync.status.as_ref().unwrap().failing_since.clone();
    assert!(since.is_some());
    assert!(
        report.requeue_after <= std::time::Duration::from_secs(8),
        "transient: retried soon ({:?})",
        report.requeue_after
    );

    let again = env.poll(&mut sync).await;
    assert!(again.requeue_after <= std::time::Duration::from_secs(15));
    assert_eq!(
        sync.status.as_ref().unwrap().failing_since,
        since,
        "failing since the first failure"
    );

    env.emulator.faults().set_outage(false);
    env.poll(&mut sync).await;
    assert_eq!(condition(&sync, READY).0, "True");
    assert!(sync.status.as_ref().unwrap().failing_since.is_none());
    assert_eq!(env.secret_data("offline")["key"], "good");
}

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
    let env = Env::start_with(manager::reconcile::Config {
        audiences: vec![AUDIENCE.into()],
        partial_sync: false,
        ..manager::reconcile::Config::default()
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

#[tokio::test]
async fn changing_the_secret_type_is_reported() {
    let env = Env::start().await;
    env.emulator.store().set_secret(VAULT, "s", "v");
    env.put_class("kv", "azure", &["objectName: s\nobjectType: secret"]);
    let mut sync = env.sync("typed", "kv", "Opaque", &[("s", "key")]);
    env.reconcile(&mut sync).await;
    sync.spec.secret_object.type_ = "kubernetes.io/basic-auth".into();
    Env::bump_generation(&mut sync);
    env.reconcile(&mut sync).await;
    let (status, reason, message) = condition(&sync, UPDATE);
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("False", "UserInputValidationFailed")
    );
    assert!(message.contains("field is immutable"), "{message}");
    assert_eq!(env.secret_data("typed")["key"], "v");
}

#[tokio::test]
async fn a_restart_does_not_resync_everything_at_once_but_still_notices_changes() {
    let mut env = Env::start().await;
    env.emulator.store().set_secret(VAULT, "a", "from-a");
    env.emulator.store().set_secret(VAULT, "b", "from-b");
    env.put_class(
        "kv",
        "azure",
        &["objectName: a\nobjectType: secret\nobjectAlias: x"],
    );
    let mut sync = env.sync("restarted", "kv", "Opaque", &[("x", "key")]);
    env.reconcile(&mut sync).await;

    env.restart();
    env.emulator.reset_counters();
    let report = env.reconcile(&mut sync).await;
    assert!(
        !report.synced(),
        "a healthy SecretSync waits for its scheduled check after a restart"
    );
    assert_eq!(env.emulator.counters().get("secrets.get"), None);

    env.put_class(
        "kv",
        "azure",
        &["objectName: b\nobjectType: secret\nobjectAlias: x"],
    );
    assert!(
        env.reconcile(&mut sync).await.synced(),
        "a SecretProviderClass change is still noticed"
    );
    assert_eq!(env.secret_data("restarted")["key"], "from-b");
}

#[tokio::test]
async fn failing_secret_syncs_take_at_most_half_the_workers() {
    // Two work slots: SecretSyncs in failure may hold one of them; the other stays free for the rest.
    let env = Env::start_with(manager::reconcile::Config {
        audiences: vec![AUDIENCE.into()],
        workers: 2,
        ..manager::reconcile::Config::default()
    })
    .await;
    env.emulator.store().set_secret(VAULT, "s", "v");
    env.put_class("kv", "azure", &["objectName: s\nobjectType: secret"]);
    let mut a = env.sync("a", "kv", "Opaque", &[("s", "k")]);
    let mut b = env.sync("b", "kv", "Opaque", &[("s", "k")]);
    env.emulator.faults().set_outage(true);
    for sync in [&mut a, &mut b] {
        let report = env.reconcile(sync).await;
        assert!(report.synced(), "a first failure is a real attempt");
        assert_eq!(condition(sync, READY).1, "ProviderError");
    }

    // The vault comes back slowly: a's retry holds the retry share while it waits for the vault.
    env.emulator.faults().set_outage(false);
    env.emulator
        .faults()
        .set_latency(std::time::Duration::from_secs(2));
    let requests = || env.emulator.counters().values().sum::<u64>();
    let before = requests();
    env.ctx.expire(&format!("{NS}/a"));
    let ctx = env.ctx.clone();
    let retry_a = tokio::spawn({
        let a = a.clone();
        async move { reconcile(&a, &ctx).await }
    });
    while requests() == before {
        tokio::task::yield_now().await;
    }
    // b, failing too, is deferred to its next backoff step instead of queueing for a slot…
    let deferred = env.poll(&mut b).await;
    assert!(!deferred.synced(), "b must wait: the retry share is taken");
    assert!(deferred.requeue_after > std::time::Duration::ZERO);
    // …while a healthy SecretSync still gets the other slot.
    let mut c = env.sync("c", "kv", "Opaque", &[("s", "k")]);
    let healthy = env.reconcile(&mut c).await;
    assert!(healthy.synced());
    assert_eq!(condition(&c, READY).0, "True");
    assert!(retry_a.await.unwrap().synced());
    env.emulator.faults().set_latency(std::time::Duration::ZERO);
    // Once a's retry is done, b's turn comes.
    let b_again = env.poll(&mut b).await;
    assert!(b_again.synced());
    assert_eq!(condition(&b, READY).0, "True");
}

#[tokio::test]
async fn a_secret_sync_whose_check_is_late_is_reported_overdue() {
    let env = Env::start().await;
    env.emulator.store().set_secret(VAULT, "s", "v");
    env.put_class("kv", "azure", &["objectName: s\nobjectType: secret"]);
    let mut sync = env.sync("late", "kv", "Opaque", &[("s", "k")]);
    let now = std::time::SystemTime::now();
    let key = format!("{NS}/late");
    let keys = [key.as_str(), "app/never-seen"];
    assert!(
        env.ctx.schedule.overdue(keys.into_iter(), now).is_empty(),
        "nothing is overdue right after start"
    );
    let report = env.reconcile(&mut sync).await;
    let grace = env.ctx.config.reconcile_timeout + std::time::Duration::from_secs(30);
    let due = now + report.requeue_after;
    assert!(
        !env.ctx.schedule.overdue(keys.into_iter(), due).contains(&key),
        "on time at its scheduled check"
    );
    let late = env
        .ctx
        .schedule
        .overdue(keys.into_iter(), due + grace + std::time::Duration::from_secs(1));
    assert!(late.contains(&key), "a check later than its bound: {late:?}");
    assert!(
        late.contains("app/never-seen"),
        "never reconciled long after start: {late:?}"
    );
}

#[tokio::test]
async fn a_failed_status_write_is_retried_with_backoff() {
    let env = Env::start().await;
    env.emulator.store().set_secret(VAULT, "s", "v");
    env.put_class("kv", "azure", &["objectName: s\nobjectType: secret"]);
    let mut sync = env.sync("st", "kv", "Opaque", &[("s", "k")]);
    env.cluster.refuse(
        manager::fake::Request::WriteStatus,
        Some(ClusterError::new(503, "ServiceUnavailable", "etcd is down")),
    );
    let report = env.reconcile(&mut sync).await;
    assert!(report.synced() && !report.status_written);
    assert!(
        report.requeue_after <= std::time::Duration::from_millis(7500),
        "retried with backoff, not at the next poll: {:?}",
        report.requeue_after
    );
    assert!(sync.status.is_none());
    assert_eq!(env.secret_data("st")["k"], "v", "the Secret was written");

    env.cluster.refuse(manager::fake::Request::WriteStatus, None);
    let retry = env.poll(&mut sync).await;
    assert!(retry.status_written);
    assert_eq!(condition(&sync, READY).0, "True");
}

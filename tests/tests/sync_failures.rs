//! Tier 2: the manager's reconciler with the real provider over mTLS and the Key Vault emulator; the
//! Kubernetes API is the in-memory double, which records every call (harness in `tests/src/lib.rs`).
//! Failures: a foreign Secret, bad input, token and admission refusals, an offline vault, a changed
//! Secret type, a failed status write; each with its reason, and nothing written that should not be.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use manager::cluster::ClusterError;
use manager::fake::Call;
use sse_api::conditions::{CREATE, READY, UPDATE};
use sse_tests::*;

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

fn existing_secret(
    name: &str,
    type_: &str,
    annotations: &[(&str, &str)],
) -> k8s_openapi::api::core::v1::Secret {
    let mut secret = k8s_openapi::api::core::v1::Secret::default();
    secret.metadata.name = Some(name.into());
    secret.metadata.namespace = Some(NS.into());
    secret.type_ = Some(type_.into());
    secret.metadata.annotations = Some(
        annotations
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect(),
    );
    secret.metadata.owner_references = Some(vec![
        k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference {
            api_version: "external-secrets.io/v1".into(),
            kind: "ExternalSecret".into(),
            name: name.into(),
            uid: "eso-uid".into(),
            ..Default::default()
        },
    ]);
    secret.data = Some([("key".to_string(), k8s_openapi::ByteString(b"from-eso".to_vec()))].into());
    secret
}

#[tokio::test]
async fn a_secret_marked_adoptable_is_taken_over_in_place() {
    let env = Env::start().await;
    env.emulator.store().set_secret(VAULT, "s", "from-vault");
    env.put_class("kv", "azure", &["objectName: s\nobjectType: secret"]);
    env.cluster.put_foreign_secret(existing_secret(
        "migrated",
        "Opaque",
        &[
            (sse_api::consts::ADOPTABLE_ANNOTATION, "true"),
            ("team", "payments"),
            (
                "kubectl.kubernetes.io/last-applied-configuration",
                "{\"data\":{\"key\":\"ZnJvbS1lc28=\"}}",
            ),
        ],
    ));
    let mut sync = env.sync("migrated", "kv", "Opaque", &[("s", "key")]);
    env.reconcile(&mut sync).await;
    let (status, reason, message) = condition(&sync, READY);
    assert_eq!((status.as_str(), reason.as_str()), ("True", "CreateSucceeded"));
    assert!(message.contains("adopted"), "{message}");

    let secret = env.cluster.secret(NS, "migrated").unwrap();
    assert_eq!(env.secret_data("migrated")["key"], "from-vault");
    let owners = secret.metadata.owner_references.clone().unwrap();
    assert_eq!(owners, vec![sync.secret_owner()], "ours alone");
    assert_eq!(
        secret
            .metadata
            .labels
            .unwrap_or_default()
            .get(sse_api::consts::CONTROLLER_LABEL_KEY),
        Some(&String::new())
    );
    let annotations = secret.metadata.annotations.unwrap_or_default();
    assert!(
        !annotations.contains_key(sse_api::consts::ADOPTABLE_ANNOTATION),
        "the mark is consumed"
    );
    assert!(
        !annotations.contains_key("kubectl.kubernetes.io/last-applied-configuration"),
        "kubectl's copy of the old values is dropped"
    );
    assert_eq!(
        annotations.get("team").map(String::as_str),
        Some("payments"),
        "other annotations stay"
    );

    // From now on it is ours: the next check is quiet.
    env.cluster.clear_calls();
    let report = env.poll(&mut sync).await;
    assert!(!report.status_written);
    assert!(
        !env.cluster
            .calls()
            .iter()
            .any(|c| matches!(c, Call::ApplySecret(_)))
    );
}

#[tokio::test]
async fn only_the_exact_mark_adopts_and_a_type_mismatch_leaves_the_secret_as_it_was() {
    let env = Env::start().await;
    env.emulator.store().set_secret(VAULT, "s", "from-vault");
    env.put_class("kv", "azure", &["objectName: s\nobjectType: secret"]);
    for (name, type_, mark) in [
        ("yes-but-not-true", "Opaque", "yes"),
        ("other-type", "kubernetes.io/basic-auth", "true"),
    ] {
        env.cluster.put_foreign_secret(existing_secret(
            name,
            type_,
            &[(sse_api::consts::ADOPTABLE_ANNOTATION, mark)],
        ));
        let before = env.cluster.secret(NS, name).unwrap();
        let mut sync = env.sync(name, "kv", "Opaque", &[("s", "key")]);
        env.reconcile(&mut sync).await;
        assert_eq!(
            env.cluster.secret(NS, name).unwrap(),
            before,
            "{name}: byte-for-byte intact"
        );
        assert_eq!(condition(&sync, READY).0, "False", "{name}");
        assert!(
            !env.cluster
                .calls()
                .iter()
                .any(|c| matches!(c, Call::ApplySecret(k) if k.ends_with(name)))
        );
    }
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
            env.sync("tls-third-key", "kv", "kubernetes.io/tls", &[("s", "ca.pem")]),
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
    // No cool-down: the provider probes the vault at the first retry after the outage.
    let env = Env::start_with_provider_args(default_config(), &["--vault-failing-fast-cooldown=0s"]).await;
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

/// Issue 9: a vault that cannot be reached fails fast once it has failed a few times in a row (the
/// provider's per-vault breaker), with the real cause in the condition, and other vaults keep syncing.
#[tokio::test]
async fn a_vault_that_is_down_fails_fast_and_the_others_keep_syncing() {
    let env = Env::start().await;
    env.emulator.store().set_secret(VAULT, "ok", "fine");
    env.put_class("good", "azure", &["objectName: ok\nobjectType: secret"]);
    env.put_unreachable_class("dead", &["objectName: gone\nobjectType: secret"]);
    let mut dead: Vec<_> = (0..5)
        .map(|i| env.sync(&format!("dead{i}"), "dead", "Opaque", &[("gone", "k")]))
        .collect();
    for sync in dead.iter_mut() {
        env.reconcile(sync).await;
    }
    let messages: Vec<String> = dead.iter().map(|s| condition(s, READY).2).collect();
    assert!(
        messages[0].contains("vault.localhost") && !messages[0].contains("failing fast"),
        "the first failure is the connection's own: {}",
        messages[0]
    );
    let last = &messages[4];
    assert!(
        last.contains("failing fast") && last.contains("times in a row") && last.contains("last failure"),
        "{last}"
    );
    for sync in &dead {
        assert_eq!(condition(sync, READY).1, "ProviderError");
    }
    let mut good = env.sync("good", "good", "Opaque", &[("ok", "k")]);
    env.reconcile(&mut good).await;
    assert_eq!(condition(&good, READY).0, "True");
    assert_eq!(env.secret_data("good")["k"], "fine");
}

/// What one sync may hold is bounded, with the reason said before anything is written: a Secret over the
/// API server's 1 MiB, and, with partial sync's one Mount per object, answers totalling more than one Mount
/// may return (`--max-call-recv-msg-size`, 4 MiB).
#[tokio::test]
async fn a_sync_too_large_to_hold_says_so_and_writes_nothing() {
    let env = Env::start().await;
    let big = "x".repeat(400 * 1024);
    let names: Vec<String> = (0..11).map(|i| format!("big{i}")).collect();
    for name in &names {
        env.emulator.store().set_secret(VAULT, name, &big);
    }
    let objects: Vec<String> = names
        .iter()
        .map(|n| format!("objectName: {n}\nobjectType: secret"))
        .collect();
    let refs: Vec<&str> = objects.iter().map(String::as_str).collect();
    env.put_class("kv", "azure", &refs);
    let cases = [
        (
            3,
            "the Secret would hold 1228812 bytes of data, more than the 1048576 a Secret may hold",
        ),
        (11, "more than the 4194304 one sync may hold"),
    ];
    for (n, expected) in cases {
        let data: Vec<(&str, &str)> = names[..n].iter().map(|s| (s.as_str(), s.as_str())).collect();
        let mut sync = env.sync(&format!("too-large-{n}"), "kv", "Opaque", &data);
        env.cluster.clear_calls();
        env.reconcile(&mut sync).await;
        let (status, reason, message) = condition(&sync, CREATE);
        assert_eq!(
            (status.as_str(), reason.as_str()),
            ("False", "UserInputValidationFailed"),
            "{message}"
        );
        assert!(message.contains(expected), "{message}");
        assert!(
            !env.cluster
                .calls()
                .iter()
                .any(|c| matches!(c, Call::ApplySecret(_))),
            "nothing written"
        );
    }
}

//! Tier 3: the real-cluster suite (TESTING.md). Every scenario is an ordinary test, ignored by default;
//! `cargo xtask e2e [FILTER]` builds the binaries, sets up the cluster side and runs them, e.g.
//! `cargo xtask e2e foreign` for the scenarios whose name contains `foreign`. Each runs in a namespace of its
//! own; on failure the logs that explain it are kept (see `sse_tests::e2e`).
#![allow(clippy::unwrap_used, clippy::print_stdout)] // test code: a panic is the failure report; figures go to stdout

use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use serde_json::Value;
use sse_tests::e2e::*;

macro_rules! scenarios {
    ($($mode:ident $name:ident;)*) => {$(
        #[test]
        #[ignore = "tier 3: needs a real API server; run `cargo xtask e2e`"]
        fn $name() {
            run(stringify!($name), Mode::$mode, |w, ns| Box::pin(scenario::$name(w, ns)));
        }
    )*};
}

scenarios! {
    Shared crds_and_rbac_installed;
    Shared walkthrough_version_history;
    Shared delete_garbage_collects;
    Shared spc_in_other_namespace;
    Shared provider_not_found;
    Shared missing_source_path;
    Shared type_not_allowed_by_policy;
    Shared service_account_token_type_denied;
    Shared invalid_annotation_key;
    Shared invalid_label_key;
    Shared crd_validation_patterns;
    Shared crd_validation_label_value;
    Shared policies_bind_the_manager;
    Shared secret_type_is_immutable;
    Shared spc_change_resyncs;
    Shared partial_sync;
    Shared partial_sync_repairs_an_edited_key_and_completes;
    Shared quiet_poll_writes_nothing;
    Shared rotation_and_force_sync;
    Shared deleted_secret_is_recreated;
    Shared edited_owned_secret_is_restored;
    Shared foreign_secret_untouched;
    Shared missing_service_account;
    Shared token_policy_denies_other_requests;
    Shared class_created_after_its_sync_triggers_it;
    Exclusive offline_keeps_secret_and_recovers;
    Exclusive syncs_created_during_manager_startup_all_become_ready;
    Exclusive restart_with_healthy_syncs_calls_no_provider_storm;
    Exclusive lease_handover_on_sigterm;
    Exclusive sigterm_with_syncs_in_flight_exits_within_the_bound;
}

mod scenario {
    use super::*;

    pub async fn crds_and_rbac_installed(w: &World, _ns: &str) -> Result<()> {
        for crd in [
            "secretsyncs.secret-sync.x-k8s.io",
            "secretproviderclasses.secrets-store.csi.x-k8s.io",
        ] {
            let c = w.k.json(&["get", "crd", crd]).await?;
            let established = c["status"]["conditions"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|c| c["type"] == "Established" && c["status"] == "True");
            ensure!(established, "{crd} not Established");
        }
        ensure!(
            w.k.exists("serviceaccount", SYSTEM_NS, MANAGER_SA).await,
            "manager ServiceAccount missing"
        );
        let policies =
            w.k.run(&["get", "validatingadmissionpolicies", "-o", "name"], None)
                .await?;
        ensure!(
            policies.contains("secrets-store-sync-controller-create-update-policy"),
            "policies missing: {policies}"
        );
        Ok(())
    }

    pub async fn walkthrough_version_history(w: &World, ns: &str) -> Result<()> {
        w.emulator.store().set_secret(VAULT, "my-secret", "v1");
        w.emulator.store().set_secret(VAULT, "my-secret", "v2");
        w.emulator.store().set_secret(VAULT, "my-secret", "v3");
        w.k.apply(&w.spc(
            ns,
            "spc",
            "azure",
            &["objectName: my-secret\nobjectType: secret\nobjectVersionHistory: 2"],
        ))
        .await?;
        w.k.apply(&sync_yaml(
            ns,
            "secret-sync-name",
            "spc",
            "Opaque",
            &[("my-secret/0", "key0"), ("my-secret/1", "key1")],
            "",
        ))
        .await?;
        wait_reason(w, ns, "secret-sync-name", "Create", "CreateSucceeded").await?;
        let data = secret_data(w, ns, "secret-sync-name").await?;
        ensure!(
            data.get("key0") == Some(&Value::from("v3")) && data.get("key1") == Some(&Value::from("v2")),
            "data {data:?}"
        );
        ensure!(data.len() == 2, "exactly N = 2 versions: {data:?}");
        let secret = w.k.json(&["get", "secret", "secret-sync-name", "-n", ns]).await?;
        let owners = secret["metadata"]["ownerReferences"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        ensure!(
            owners.len() == 1 && owners[0]["apiVersion"] == "secret-sync.x-k8s.io/v1alpha1",
            "owners {owners:?}"
        );
        ensure!(
            secret["metadata"]["labels"]["secrets-store.sync.x-k8s.io"] == "",
            "label missing"
        );
        Ok(())
    }

    pub async fn delete_garbage_collects(w: &World, ns: &str) -> Result<()> {
        w.vault_class(ns, "gc", "v").await?;
        w.k.apply(&sync_yaml(ns, "gc", "spc", "Opaque", &[("gc", "bar")], ""))
            .await?;
        wait_reason(w, ns, "gc", "Create", "CreateSucceeded").await?;
        w.k.run(&["delete", "secretsync", "gc", "-n", ns], None).await?;
        eventually(Duration::from_secs(60), || async {
            Ok((!w.k.exists("secret", ns, "gc").await).then_some(()))
        })
        .await
        .context("Secret not garbage-collected")
    }

    pub async fn spc_in_other_namespace(w: &World, ns: &str) -> Result<()> {
        w.k.apply(&sync_yaml(
            ns,
            "elsewhere",
            "e2e-providerspc",
            "Opaque",
            &[("foo", "bar")],
            "",
        ))
        .await?;
        let (status, message) = wait_reason(w, ns, "elsewhere", "Create", "ControllerSpcError").await?;
        ensure!(status == "False", "status {status}");
        ensure!(
            message
                == "failed to get SecretProviderClass \"e2e-providerspc\": SecretProviderClass.secrets-store.csi.x-k8s.io \"e2e-providerspc\" not found",
            "message {message}"
        );
        ensure!(
            !w.k.exists("secret", ns, "elsewhere").await,
            "no Secret may be created"
        );
        Ok(())
    }

    pub async fn provider_not_found(w: &World, ns: &str) -> Result<()> {
        w.k.apply(&w.spc(ns, "spc", "nosuch", &["objectName: x\nobjectType: secret"]))
            .await?;
        w.k.apply(&sync_yaml(ns, "noprov", "spc", "Opaque", &[("x", "bar")], ""))
            .await?;
        let (_, message) = wait_reason(w, ns, "noprov", "Create", "ControllerSpcError").await?;
        ensure!(
            message == "fetching secrets from the provider failed: provider not found: provider \"nosuch\"",
            "{message}"
        );
        Ok(())
    }

    pub async fn missing_source_path(w: &World, ns: &str) -> Result<()> {
        w.vault_class(ns, "present", "v").await?;
        w.k.apply(&sync_yaml(
            ns,
            "nopath",
            "spc",
            "Opaque",
            &[("absent", "bar")],
            "",
        ))
        .await?;
        let (_, message) = wait_reason(w, ns, "nopath", "Create", "UserInputValidationFailed").await?;
        ensure!(
            message.ends_with("file matching sourcePath absent not found in the pod"),
            "{message}"
        );
        Ok(())
    }

    pub async fn type_not_allowed_by_policy(w: &World, ns: &str) -> Result<()> {
        w.vault_class(ns, "t", "v").await?;
        w.k.apply(&sync_yaml(
            ns,
            "my-custom-api-secret",
            "spc",
            "example.com/api-credentials",
            &[("t", "bar")],
            "",
        ))
        .await?;
        let (_, message) = wait_reason(
            w,
            ns,
            "my-custom-api-secret",
            "Create",
            "ValidatingAdmissionPolicyCheckFailed",
        )
        .await?;
        ensure!(
            message.contains("secrets-store-sync-controller-create-update-policy"),
            "{message}"
        );
        ensure!(
            !w.k.exists("secret", ns, "my-custom-api-secret").await,
            "no Secret"
        );
        Ok(())
    }

    pub async fn service_account_token_type_denied(w: &World, ns: &str) -> Result<()> {
        w.vault_class(ns, "t", "v").await?;
        // As SPEC §9.1 B7: with the annotation the API server's own Secret validation requires for this type,
        // so that the admission policy is what refuses it.
        let yaml = sync_yaml(ns, "satoken", "spc", "kubernetes.io/service-account-token", &[("t", "bar")], "").replace(
            "    type: kubernetes.io/service-account-token\n",
            &format!("    type: kubernetes.io/service-account-token\n    annotations: {{kubernetes.io/service-account.name: {SA}}}\n"),
        );
        w.k.apply(&yaml).await?;
        let (_, message) =
            wait_reason(w, ns, "satoken", "Create", "ValidatingAdmissionPolicyCheckFailed").await?;
        ensure!(
            message.contains("not allowed to create or update secrets with this type"),
            "{message}"
        );
        ensure!(!w.k.exists("secret", ns, "satoken").await, "no Secret");
        Ok(())
    }

    pub async fn invalid_label_key(w: &World, ns: &str) -> Result<()> {
        w.vault_class(ns, "t", "v").await?;
        let yaml = sync_yaml(ns, "badlabel", "spc", "Opaque", &[("t", "bar")], "").replace(
            "    type: Opaque\n",
            "    type: Opaque\n    labels: {\"invalid/key_with_invalid_characters!\": validValue}\n",
        );
        w.k.apply(&yaml).await?;
        let (_, message) = wait_reason(w, ns, "badlabel", "Create", "UserInputValidationFailed").await?;
        ensure!(message.contains("metadata.labels: Invalid value"), "{message}");
        ensure!(!w.k.exists("secret", ns, "badlabel").await, "no Secret");
        Ok(())
    }

    pub async fn invalid_annotation_key(w: &World, ns: &str) -> Result<()> {
        w.vault_class(ns, "t", "v").await?;
        let yaml = sync_yaml(ns, "badannotation", "spc", "Opaque", &[("t", "bar")], "").replace(
            "    type: Opaque\n",
            "    type: Opaque\n    annotations: {\"my.annotation/with_invalid_characters!\": default}\n",
        );
        w.k.apply(&yaml).await?;
        let (_, message) = wait_reason(w, ns, "badannotation", "Create", "UserInputValidationFailed").await?;
        ensure!(
            message.contains("metadata.annotations: Invalid value"),
            "{message}"
        );
        Ok(())
    }

    pub async fn crd_validation_label_value(w: &World, ns: &str) -> Result<()> {
        let yaml = sync_yaml(ns, "toolong", "spc", "Opaque", &[("t", "bar")], "").replace(
            "    type: Opaque\n",
            &format!(
                "    type: Opaque\n    labels: {{my.label: \"{}\"}}\n",
                "a".repeat(68)
            ),
        );
        let err =
            w.k.apply(&yaml)
                .await
                .err()
                .context("the API server accepted an over-long label value")?;
        ensure!(
            format!("{err:#}").contains("label values must not exceed 63 characters"),
            "{err:#}"
        );
        Ok(())
    }

    pub async fn rotation_and_force_sync(w: &World, ns: &str) -> Result<()> {
        w.vault_class(ns, "rot", "before").await?;
        w.k.apply(&sync_yaml(ns, "rot", "spc", "Opaque", &[("rot", "bar")], ""))
            .await?;
        wait_reason(w, ns, "rot", "Create", "CreateSucceeded").await?;
        w.emulator.store().set_secret(VAULT, "rot", "after");
        w.k.apply(&sync_yaml(
            ns,
            "rot",
            "spc",
            "Opaque",
            &[("rot", "bar")],
            "  forceSynchronization: UpdateNow\n",
        ))
        .await?;
        wait_reason(w, ns, "rot", "Update", "UpdateValueChangeOrForceUpdateSucceeded").await?;
        let data = secret_data(w, ns, "rot").await?;
        ensure!(data.get("bar") == Some(&Value::from("after")), "{data:?}");
        Ok(())
    }

    pub async fn deleted_secret_is_recreated(w: &World, ns: &str) -> Result<()> {
        w.vault_class(ns, "drift", "v").await?;
        w.k.apply(&sync_yaml(ns, "drift", "spc", "Opaque", &[("drift", "bar")], ""))
            .await?;
        wait_reason(w, ns, "drift", "Create", "CreateSucceeded").await?;
        w.k.run(&["delete", "secret", "drift", "-n", ns], None).await?;
        // The poll interval of the suite's manager is 20 s.
        eventually(Duration::from_secs(60), || async {
            Ok(w.k.exists("secret", ns, "drift").await.then_some(()))
        })
        .await
        .context("deleted Secret not restored within one poll interval")?;
        Ok(())
    }

    pub async fn foreign_secret_untouched(w: &World, ns: &str) -> Result<()> {
        w.emulator.store().set_secret(VAULT, "f", "v");
        w.k.run(
            &[
                "create",
                "secret",
                "generic",
                "taken",
                "-n",
                ns,
                "--from-literal=bar=precious",
            ],
            None,
        )
        .await?;
        let before = w.k.json(&["get", "secret", "taken", "-n", ns]).await?;
        w.k.apply(&w.spc(ns, "spc", "azure", &["objectName: f\nobjectType: secret"]))
            .await?;
        w.k.apply(&sync_yaml(ns, "taken", "spc", "Opaque", &[("f", "bar")], ""))
            .await?;
        let (_, message) = wait_reason(w, ns, "taken", "Create", "InvalidClusterSecretLabelError").await?;
        ensure!(message.contains("left untouched"), "{message}");
        let after = w.k.json(&["get", "secret", "taken", "-n", ns]).await?;
        ensure!(
            before["metadata"]["resourceVersion"] == after["metadata"]["resourceVersion"],
            "the foreign Secret changed"
        );
        ensure!(before["data"] == after["data"], "data changed");
        Ok(())
    }

    pub async fn offline_keeps_secret_and_recovers(w: &World, ns: &str) -> Result<()> {
        w.vault_class(ns, "off", "kept").await?;
        w.k.apply(&sync_yaml(ns, "off", "spc", "Opaque", &[("off", "bar")], ""))
            .await?;
        wait_reason(w, ns, "off", "Create", "CreateSucceeded").await?;
        w.emulator.faults().set_outage(true);
        let result = async {
            w.k.apply(&sync_yaml(
                ns,
                "off",
                "spc",
                "Opaque",
                &[("off", "bar")],
                "  forceSynchronization: Offline1\n",
            ))
            .await?;
            wait_reason(w, ns, "off", "Ready", "ProviderError").await?;
            let data = secret_data(w, ns, "off").await?;
            ensure!(
                data.get("bar") == Some(&Value::from("kept")),
                "Secret emptied while offline: {data:?}"
            );
            let ss = w.k.json(&["get", "secretsync", "off", "-n", ns]).await?;
            ensure!(ss["status"]["failingSince"].is_string(), "failingSince missing");
            Ok(())
        }
        .await;
        w.emulator.faults().set_outage(false);
        result?;
        eventually(Duration::from_secs(120), || async {
            let ss = w.k.json(&["get", "secretsync", "off", "-n", ns]).await?;
            Ok(ss["status"]["conditions"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|c| c["type"] == "Ready" && c["status"] == "True")
                .then_some(()))
        })
        .await
        .context("did not recover by itself")
    }

    pub async fn missing_service_account(w: &World, ns: &str) -> Result<()> {
        w.vault_class(ns, "t", "v").await?;
        let yaml = sync_yaml(ns, "nosa", "spc", "Opaque", &[("t", "bar")], "")
            .replace("serviceAccountName: app-sa", "serviceAccountName: ghost");
        w.k.apply(&yaml).await?;
        let (_, message) = wait_reason(w, ns, "nosa", "Create", "ControllerSyncFailed").await?;
        ensure!(
            message.contains("serviceaccounts \"ghost\" not found"),
            "{message}"
        );
        Ok(())
    }

    pub async fn token_policy_denies_other_requests(w: &World, ns: &str) -> Result<()> {
        // Acting as the manager: only the configured audience with a 600 s lifetime is allowed (SPEC §9.3 T1–T4).
        let request = |audience: &str, seconds: &str| {
            let (aud, dur) = (format!("--audience={audience}"), format!("--duration={seconds}s"));
            async move {
                w.as_manager
                    .run(&["create", "token", SA, "-n", ns, &aud, &dur], None)
                    .await
            }
        };
        let allowed = request(AUDIENCE, "600").await;
        ensure!(
            allowed.is_ok(),
            "the configured audience with 600 s must be allowed: {:?}",
            allowed.err()
        );
        for (audience, seconds) in [("other-audience", "600"), (AUDIENCE, "3600")] {
            let denied = request(audience, seconds).await;
            ensure!(
                denied.is_err(),
                "a token for {audience} / {seconds} s was not denied"
            );
        }
        // T3: no audience (the API server's default audience); T6: two audiences, one of them allowed.
        let none = w
            .as_manager
            .run(&["create", "token", SA, "-n", ns, "--duration=600s"], None)
            .await;
        ensure!(
            none.is_err(),
            "a token without the configured audience was not denied"
        );
        let aud = format!("--audience={AUDIENCE}");
        let two = w
            .as_manager
            .run(
                &[
                    "create",
                    "token",
                    SA,
                    "-n",
                    ns,
                    &aud,
                    "--audience=other",
                    "--duration=600s",
                ],
                None,
            )
            .await;
        ensure!(two.is_err(), "a token with two audiences was not denied");
        Ok(())
    }

    pub async fn crd_validation_patterns(w: &World, ns: &str) -> Result<()> {
        // SPEC §9.3 A5, A6.
        let bad_sa = sync_yaml(ns, "badsa", "spc", "Opaque", &[("t", "bar")], "").replace(
            &format!("serviceAccountName: {SA}"),
            "serviceAccountName: defa:ult",
        );
        let err =
            w.k.apply(&bad_sa)
                .await
                .err()
                .context("serviceAccountName defa:ult was accepted")?;
        ensure!(
            format!("{err:#}").contains("spec.serviceAccountName in body should match"),
            "{err:#}"
        );
        let empty =
            sync_yaml(ns, "nodata", "spc", "Opaque", &[], "").replace("    data:\n", "    data: []\n");
        let err =
            w.k.apply(&empty)
                .await
                .err()
                .context("an empty data list was accepted")?;
        ensure!(
            format!("{err:#}").contains("should have at least 1 items"),
            "{err:#}"
        );
        Ok(())
    }

    pub async fn policies_bind_the_manager(w: &World, ns: &str) -> Result<()> {
        // SPEC §9.3, acting as the manager's ServiceAccount.
        // P1: a Secret without a SecretSync owner.
        let orphan = format!(
            "apiVersion: v1\nkind: Secret\nmetadata: {{name: orphan, namespace: {ns}, labels: {{secrets-store.sync.x-k8s.io: \"\"}}}}\ntype: Opaque\ndata: {{a: YQ==}}\n"
        );
        // As the manager writes: a create (POST) and a server-side apply (PATCH). Client-side `kubectl apply`
        // would GET first, which the manager's RBAC rightly forbids.
        for args in [
            vec!["create", "-f", "-"],
            vec![
                "apply",
                "--server-side",
                "--field-manager=secrets-store-sync-controller",
                "-f",
                "-",
            ],
        ] {
            let err = w
                .as_manager
                .run(&args, Some(&orphan))
                .await
                .err()
                .with_context(|| {
                    format!(
                        "P1: an ownerless Secret was created by kubectl {}",
                        args.join(" ")
                    )
                })?;
            ensure!(
                format!("{err:#}").contains("secrets-store-sync-controller-create-update-policy"),
                "P1 ({}): {err:#}",
                args.join(" ")
            );
        }
        // P10: updating a Secret that lacks the controller label.
        w.k.run(
            &[
                "create",
                "secret",
                "generic",
                "unlabelled",
                "-n",
                ns,
                "--from-literal=a=b",
            ],
            None,
        )
        .await?;
        let err = w
            .as_manager
            .run(
                &[
                    "patch",
                    "secret",
                    "unlabelled",
                    "-n",
                    ns,
                    "--type=merge",
                    "-p",
                    "{\"data\":{\"a\":\"Yw==\"}}",
                ],
                None,
            )
            .await
            .err()
            .context("P10: an unlabelled Secret was updated")?;
        let text = format!("{err:#}");
        ensure!(
            text.contains("forbidden") || text.contains("denied"),
            "P10: {text}"
        );
        // P7: no delete (RBAC).
        let err = w
            .as_manager
            .run(&["delete", "secret", "unlabelled", "-n", ns], None)
            .await
            .err()
            .context("P7: the manager deleted a Secret")?;
        ensure!(
            format!("{err:#}").contains("cannot delete resource"),
            "P7: {err:#}"
        );
        ensure!(
            w.k.exists("secret", ns, "unlabelled").await,
            "the Secret must survive"
        );
        Ok(())
    }

    pub async fn secret_type_is_immutable(w: &World, ns: &str) -> Result<()> {
        // SPEC §9.4 X8: the type of an existing Secret is immutable.
        w.vault_class(ns, "ty", "v").await?;
        w.k.apply(&sync_yaml(
            ns,
            "typed",
            "spc",
            "Opaque",
            &[("ty", "username")],
            "",
        ))
        .await?;
        wait_reason(w, ns, "typed", "Create", "CreateSucceeded").await?;
        w.k.apply(&sync_yaml(
            ns,
            "typed",
            "spc",
            "kubernetes.io/basic-auth",
            &[("ty", "username")],
            "",
        ))
        .await?;
        let (_, message) = wait_reason(w, ns, "typed", "Update", "UserInputValidationFailed").await?;
        ensure!(message.contains("field is immutable"), "{message}");
        let data = secret_data(w, ns, "typed").await?;
        ensure!(
            data.get("username") == Some(&Value::from("v")),
            "the Secret changed: {data:?}"
        );
        Ok(())
    }

    pub async fn spc_change_resyncs(w: &World, ns: &str) -> Result<()> {
        // A7: a SecretProviderClass change re-syncs the SecretSyncs that use it (no SecretSync edit).
        w.emulator.store().set_secret(VAULT, "spc-a", "from-a");
        w.emulator.store().set_secret(VAULT, "spc-b", "from-b");
        w.k.apply(&w.spc(
            ns,
            "spc",
            "azure",
            &["objectName: spc-a\nobjectType: secret\nobjectAlias: x"],
        ))
        .await?;
        w.k.apply(&sync_yaml(ns, "follows", "spc", "Opaque", &[("x", "bar")], ""))
            .await?;
        wait_reason(w, ns, "follows", "Create", "CreateSucceeded").await?;
        w.k.apply(&w.spc(
            ns,
            "spc",
            "azure",
            &["objectName: spc-b\nobjectType: secret\nobjectAlias: x"],
        ))
        .await?;
        eventually(Duration::from_secs(60), || async {
            let data = secret_data(w, ns, "follows").await?;
            Ok((data.get("bar") == Some(&Value::from("from-b"))).then_some(()))
        })
        .await
        .context("the Secret did not follow the SecretProviderClass change")
    }

    pub async fn partial_sync(w: &World, ns: &str) -> Result<()> {
        // A5: one object missing in the vault; the healthy key is written, the status is PartialSync.
        w.emulator.store().set_secret(VAULT, "part-ok", "healthy");
        w.k.apply(&w.spc(
            ns,
            "spc",
            "azure",
            &[
                "objectName: part-ok\nobjectType: secret",
                "objectName: part-missing\nobjectType: secret",
            ],
        ))
        .await?;
        w.k.apply(&sync_yaml(
            ns,
            "partial",
            "spc",
            "Opaque",
            &[("part-ok", "ok"), ("part-missing", "missing")],
            "",
        ))
        .await?;
        let (status, message) = wait_reason(w, ns, "partial", "Create", "PartialSync").await?;
        ensure!(status == "False", "{status}");
        let summary: Value =
            serde_json::from_str(&message).context("the PartialSync message is a JSON summary")?;
        ensure!(
            summary["items"].as_array().is_some_and(|i| i.len() == 2),
            "{summary}"
        );
        let data = secret_data(w, ns, "partial").await?;
        ensure!(
            data.get("ok") == Some(&Value::from("healthy")) && !data.contains_key("missing"),
            "{data:?}"
        );
        Ok(())
    }

    pub async fn quiet_poll_writes_nothing(w: &World, ns: &str) -> Result<()> {
        // A7: checks where nothing changed write nothing: no resourceVersion moves. The suite's manager checks
        // every 20 s; there is no signal for "nothing happened", so this waits out more than two intervals.
        w.vault_class(ns, "quiet", "v").await?;
        w.k.apply(&sync_yaml(ns, "quiet", "spc", "Opaque", &[("quiet", "bar")], ""))
            .await?;
        wait_reason(w, ns, "quiet", "Create", "CreateSucceeded").await?;
        let version = |kind: &'static str| async move {
            let o = w.k.json(&["get", kind, "quiet", "-n", ns]).await?;
            Ok::<_, anyhow::Error>(
                o["metadata"]["resourceVersion"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        };
        // Let the create's own echoes settle before taking the baseline.
        tokio::time::sleep(Duration::from_secs(5)).await;
        let (secret_before, sync_before) = (version("secret").await?, version("secretsync").await?);
        let gets_before = w.emulator.counters().get("secrets.get").copied().unwrap_or(0);
        tokio::time::sleep(Duration::from_secs(45)).await;
        ensure!(
            version("secret").await? == secret_before,
            "the Secret's resourceVersion moved"
        );
        ensure!(
            version("secretsync").await? == sync_before,
            "the SecretSync's resourceVersion moved"
        );
        let gets_after = w.emulator.counters().get("secrets.get").copied().unwrap_or(0);
        ensure!(
            gets_after > gets_before,
            "the vault was not checked during two poll intervals"
        );
        Ok(())
    }

    /// Edits by hand to a Secret we own (a data key, a label, an annotation) are undone at the next check;
    /// a key someone else added stays.
    pub async fn edited_owned_secret_is_restored(w: &World, ns: &str) -> Result<()> {
        w.vault_class(ns, "edited", "original").await?;
        let yaml = sync_yaml(ns, "edited", "spc", "Opaque", &[("edited", "key")], "").replace(
            "    type: Opaque\n",
            "    type: Opaque\n    labels: {team: payments}\n    annotations: {owner: payments}\n",
        );
        w.k.apply(&yaml).await?;
        wait_reason(w, ns, "edited", "Create", "CreateSucceeded").await?;
        w.k.run(
            &[
                "patch",
                "secret",
                "edited",
                "-n",
                ns,
                "--type=merge",
                "-p",
                r#"{"metadata":{"labels":{"team":"intruder"},"annotations":{"owner":"intruder"}},"data":{"key":"dGFtcGVyZWQ=","extra":"dGhlaXJz"}}"#,
            ],
            None,
        )
        .await?;
        eventually(Duration::from_secs(3 * POLL_SECONDS), || async {
            let secret = w.k.json(&["get", "secret", "edited", "-n", ns]).await?;
            let data = secret_data(w, ns, "edited").await?;
            Ok((data.get("key") == Some(&Value::from("original"))
                && secret["metadata"]["labels"]["team"] == "payments"
                && secret["metadata"]["annotations"]["owner"] == "payments")
                .then_some(()))
        })
        .await
        .context("the edited Secret was not restored")?;
        let data = secret_data(w, ns, "edited").await?;
        ensure!(
            data.get("extra") == Some(&Value::from("theirs")),
            "another writer's key must stay: {data:?}"
        );
        let ss = w.k.json(&["get", "secretsync", "edited", "-n", ns]).await?;
        ensure!(
            condition(&ss, "Ready").is_some_and(|(s, _, _)| s == "True"),
            "{:?}",
            condition(&ss, "Ready")
        );
        Ok(())
    }

    /// A5 on a real server: while one object fails, a hand-edited healthy key is repaired (the guarded
    /// merge patch), and once the missing object appears the Secret becomes complete.
    pub async fn partial_sync_repairs_an_edited_key_and_completes(w: &World, ns: &str) -> Result<()> {
        w.emulator.store().set_secret(VAULT, "pr-ok", "healthy");
        w.k.apply(&w.spc(
            ns,
            "spc",
            "azure",
            &[
                "objectName: pr-ok\nobjectType: secret",
                &format!("objectName: pr-late-{ns}\nobjectType: secret"),
            ],
        ))
        .await?;
        let late = format!("pr-late-{ns}");
        w.k.apply(&sync_yaml(
            ns,
            "pr",
            "spc",
            "Opaque",
            &[("pr-ok", "ok"), (&late, "late")],
            "",
        ))
        .await?;
        wait_reason(w, ns, "pr", "Create", "PartialSync").await?;
        w.k.run(
            &[
                "patch",
                "secret",
                "pr",
                "-n",
                ns,
                "--type=merge",
                "-p",
                r#"{"data":{"ok":"dGFtcGVyZWQ="}}"#,
            ],
            None,
        )
        .await?;
        eventually(Duration::from_secs(3 * POLL_SECONDS), || async {
            let data = secret_data(w, ns, "pr").await?;
            Ok((data.get("ok") == Some(&Value::from("healthy"))).then_some(()))
        })
        .await
        .context("the edited healthy key was not repaired during the partial sync")?;
        w.emulator.store().set_secret(VAULT, &late, "arrived");
        eventually(Duration::from_secs(3 * POLL_SECONDS), || async {
            let data = secret_data(w, ns, "pr").await?;
            Ok((data.get("late") == Some(&Value::from("arrived"))
                && data.get("ok") == Some(&Value::from("healthy")))
            .then_some(()))
        })
        .await
        .context("the Secret did not complete once the missing object appeared")?;
        eventually(Duration::from_secs(3 * POLL_SECONDS), || async {
            let ss = w.k.json(&["get", "secretsync", "pr", "-n", ns]).await?;
            Ok(condition(&ss, "Ready").filter(|(s, _, _)| s == "True"))
        })
        .await
        .context("not Ready once complete")?;
        Ok(())
    }

    /// A SecretSync whose class does not exist yet fails with ControllerSpcError; creating the class
    /// triggers it at once (well inside the 20 s poll interval).
    pub async fn class_created_after_its_sync_triggers_it(w: &World, ns: &str) -> Result<()> {
        w.emulator.store().set_secret(VAULT, "late-class", "v");
        w.k.apply(&sync_yaml(
            ns,
            "early",
            "spc",
            "Opaque",
            &[("late-class", "k")],
            "",
        ))
        .await?;
        wait_reason(w, ns, "early", "Create", "ControllerSpcError").await?;
        let created = Instant::now();
        w.k.apply(&w.spc(
            ns,
            "spc",
            "azure",
            &["objectName: late-class\nobjectType: secret"],
        ))
        .await?;
        eventually(Duration::from_secs(3 * POLL_SECONDS), || async {
            Ok(w.k.exists("secret", ns, "early").await.then_some(()))
        })
        .await?;
        let took = created.elapsed();
        ensure!(
            took < Duration::from_secs(8),
            "the class did not trigger its SecretSync: the Secret came {took:?} later"
        );
        Ok(())
    }

    /// `n` SecretProviderClass + SecretSync pairs as one multi-document YAML; odd ones list the
    /// SecretSync before its class.
    fn pairs(w: &World, ns: &str, n: usize, object: &str) -> String {
        let mut docs = Vec::new();
        for i in 0..n {
            let class = w.spc(
                ns,
                &format!("spc{i}"),
                "azure",
                &[&format!("objectName: {object}\nobjectType: secret")],
            );
            let sync = sync_yaml(
                ns,
                &format!("ss{i}"),
                &format!("spc{i}"),
                "Opaque",
                &[(object, "k")],
                "",
            );
            if i % 2 == 0 {
                docs.extend([class, sync]);
            } else {
                docs.extend([sync, class]);
            }
        }
        docs.join("---\n")
    }

    fn scale() -> usize {
        std::env::var("SSE_E2E_SYNCS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(200)
    }

    async fn all_ready(w: &World, ns: &str, n: usize, limit: Duration) -> Result<Duration> {
        let started = Instant::now();
        eventually(limit, || async {
            let ready = ready_syncs(w, ns).await?.len();
            if ready == n {
                Ok(Some(()))
            } else {
                anyhow::bail!("{ready} of {n} SecretSyncs Ready")
            }
        })
        .await?;
        Ok(started.elapsed())
    }

    /// Run `body` without the shared manager; it is started again afterwards, whatever happened.
    async fn without_shared_manager<'a, F, Fut>(w: &'a World, body: F) -> Result<()>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<()>> + 'a,
    {
        w.stop_shared_manager().await?;
        let outcome = body().await;
        w.restart_shared_manager().await?;
        outcome
    }

    /// The start-up race seen on a real server: pairs created in one burst while a fresh manager starts
    /// must all become Ready. The manager checks hourly, so only triggers can get them there: a SecretSync
    /// reconciled before its class is in the cache must be triggered by the class.
    pub async fn syncs_created_during_manager_startup_all_become_ready(w: &World, ns: &str) -> Result<()> {
        let n = scale();
        w.emulator.store().set_secret(VAULT, "startup", "v");
        let yaml = pairs(w, ns, n, "startup");
        without_shared_manager(w, || async {
            let mut manager = w
                .start_manager("manager-startup", &["--rotation-poll-interval-in-seconds=3600".into()])
                .await?;
            let started = Instant::now();
            w.k.apply(&yaml).await?;
            let applied = started.elapsed();
            let outcome = all_ready(w, ns, n, Duration::from_secs(300)).await;
            let ready = started.elapsed();
            let stop = manager.terminate(Duration::from_secs(15)).await;
            outcome.with_context(|| {
                format!("log: {}", manager.log.display())
            })?;
            let stop = stop?;
            println!(
                "figure: {n} SecretSyncs created during manager start-up (apply took {:.1} s): all Ready {:.1} s after the manager started; SIGTERM to exit {:.2} s",
                applied.as_secs_f64(),
                ready.as_secs_f64(),
                stop.as_secs_f64()
            );
            ensure!(stop < Duration::from_secs(10), "SIGTERM to exit took {stop:?}");
            Ok(())
        })
        .await
    }

    /// A restart with `n` healthy SecretSyncs calls the provider for almost none of them (their status is
    /// recent and Ready), leaves none unvisited, still notices a change; a quiet interval writes nothing.
    pub async fn restart_with_healthy_syncs_calls_no_provider_storm(w: &World, ns: &str) -> Result<()> {
        let n = scale();
        w.emulator.store().set_secret(VAULT, "restart", "v");
        let started = Instant::now();
        w.k.apply(&pairs(w, ns, n, "restart")).await?;
        let applied = started.elapsed();
        all_ready(w, ns, n, Duration::from_secs(300)).await?;
        println!(
            "figure: {n} SecretSyncs (with their classes) applied in {:.1} s, all Ready {:.1} s after the apply began (shared manager)",
            applied.as_secs_f64(),
            started.elapsed().as_secs_f64()
        );

        // One quiet poll interval under the shared manager: what it sends and what moves.
        tokio::time::sleep(Duration::from_secs(5)).await;
        let versions = |kind: &'static str| async move {
            let list = w.k.json(&["get", kind, "-n", ns]).await?;
            Ok::<_, anyhow::Error>(
                list["items"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|o| {
                        o["metadata"]["resourceVersion"]
                            .as_str()
                            .unwrap_or_default()
                            .to_string()
                    })
                    .collect::<Vec<_>>(),
            )
        };
        let (secrets_before, syncs_before) = (versions("secrets").await?, versions("secretsyncs").await?);
        let patches_before = apiserver_requests(w, "PATCH", "secrets").await?;
        let status_before = apiserver_requests(w, "APPLY", "secretsyncs").await?
            + apiserver_requests(w, "PATCH", "secretsyncs").await?;
        tokio::time::sleep(Duration::from_secs(POLL_SECONDS + 1)).await;
        let patches = apiserver_requests(w, "PATCH", "secrets").await? - patches_before;
        let status = apiserver_requests(w, "APPLY", "secretsyncs").await?
            + apiserver_requests(w, "PATCH", "secretsyncs").await?
            - status_before;
        let moved = |a: &[String], b: &[String]| a.iter().zip(b).filter(|(x, y)| x != y).count();
        let (secrets_after, syncs_after) = (versions("secrets").await?, versions("secretsyncs").await?);
        let (secret_bumps, sync_bumps) = (
            moved(&secrets_before, &secrets_after),
            moved(&syncs_before, &syncs_after),
        );
        println!(
            "figure: one quiet {POLL_SECONDS} s interval with {n} SecretSyncs: {:.2} Secret PATCH requests per SecretSync (all test-only), {status} status writes, {secret_bumps} Secret and {sync_bumps} SecretSync resourceVersion bumps",
            patches as f64 / n as f64
        );
        ensure!(
            secret_bumps == 0 && sync_bumps == 0,
            "resourceVersions moved: {secret_bumps} Secrets, {sync_bumps} SecretSyncs"
        );
        ensure!(
            patches as f64 <= 1.5 * n as f64,
            "{patches} Secret patches for {n} SecretSyncs in one interval"
        );

        without_shared_manager(w, || async {
            let gets_before = w.emulator.counters().get("secrets.get").copied().unwrap_or(0);
            let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
            let mut manager = w
                .start_manager(
                    "manager-restart",
                    &[
                        "--rotation-poll-interval-in-seconds=3600".into(),
                        format!("--health-probe-bind-address=127.0.0.1:{port}"),
                    ],
                )
                .await?;
            let outcome = async {
                let report = eventually(Duration::from_secs(60), || async {
                    let body = http_get(port, "/debug/secretsyncs").await?;
                    let entries: Vec<Value> = serde_json::from_str(&body)?;
                    let ours = entries
                        .into_iter()
                        .filter(|e| e["secretSync"].as_str().is_some_and(|k| k.starts_with(&format!("{ns}/"))))
                        .collect::<Vec<_>>();
                    Ok((ours.len() == n).then_some(ours))
                })
                .await
                .context("the restarted manager did not visit every SecretSync")?;
                ensure!(
                    report.iter().all(|e| e["nextCheckTime"].is_string()),
                    "every SecretSync has a next check"
                );
                let gets = w.emulator.counters().get("secrets.get").copied().unwrap_or(0) - gets_before;
                println!("figure: restart with {n} healthy SecretSyncs: {gets} Key Vault GETs until every SecretSync was visited");
                ensure!(gets <= (n as u64) / 10, "a provider call storm on restart: {gets} GETs for {n} healthy SecretSyncs");
                // Still responsive: a forced sync of one of them lands at once.
                w.k.apply(&sync_yaml(ns, "ss0", "spc0", "Opaque", &[("restart", "k")], "  forceSynchronization: after-restart\n"))
                    .await?;
                wait_reason(w, ns, "ss0", "Update", "UpdateValueChangeOrForceUpdateSucceeded").await?;
                Ok(())
            }
            .await;
            let stop = manager.terminate(Duration::from_secs(15)).await;
            outcome.with_context(|| format!("log: {}", manager.log.display()))?;
            let stop = stop?;
            println!("figure: SIGTERM to exit with {n} SecretSyncs: {:.2} s", stop.as_secs_f64());
            ensure!(stop < Duration::from_secs(10), "SIGTERM to exit took {stop:?}");
            Ok(())
        })
        .await
    }

    async fn http_get(port: u16, path: &str) -> Result<String> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
        stream
            .write_all(
                format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").as_bytes(),
            )
            .await?;
        let mut response = String::new();
        tokio::time::timeout(Duration::from_secs(10), stream.read_to_string(&mut response)).await??;
        let (head, body) = response.split_once("\r\n\r\n").context("no HTTP body")?;
        ensure!(head.starts_with("HTTP/1.1 200"), "{head}");
        Ok(body.to_string())
    }

    async fn lease_holder(w: &World) -> Result<Option<String>> {
        let lease = w.k.json(&["get", "lease", LEASE, "-n", SYSTEM_NS]).await?;
        Ok(lease["spec"]["holderIdentity"].as_str().map(str::to_string))
    }

    /// Two managers: the standby takes the Lease within 15 s of the leader's SIGTERM (the leader releases
    /// it on the way out), and the leader exits within its bound.
    pub async fn lease_handover_on_sigterm(w: &World, _ns: &str) -> Result<()> {
        without_shared_manager(w, || async {
            let mut a = w.start_manager("manager-a", &[]).await?;
            let a_id = a.child.id().context("pid")?.to_string();
            eventually(Duration::from_secs(60), || async {
                Ok(lease_holder(w)
                    .await?
                    .filter(|h| h.ends_with(&format!("_{a_id}"))))
            })
            .await
            .context("manager A never led")?;
            let mut b = w.start_manager("manager-b", &[]).await?;
            let b_id = b.child.id().context("pid")?.to_string();
            tokio::time::sleep(Duration::from_secs(3)).await;
            ensure!(
                lease_holder(w)
                    .await?
                    .is_some_and(|h| h.ends_with(&format!("_{a_id}"))),
                "the standby took the Lease while the leader was alive"
            );
            let sigterm = Instant::now();
            let a_exit = a.terminate(Duration::from_secs(15)).await?;
            let outcome = eventually(Duration::from_secs(15), || async {
                Ok(lease_holder(w)
                    .await?
                    .filter(|h| h.ends_with(&format!("_{b_id}"))))
            })
            .await;
            let handover = sigterm.elapsed();
            let b_exit = b.terminate(Duration::from_secs(15)).await;
            outcome.context("the standby did not take the Lease within 15 s")?;
            println!(
                "figure: Lease handover {:.2} s after SIGTERM (leader exited in {:.2} s)",
                handover.as_secs_f64(),
                a_exit.as_secs_f64()
            );
            ensure!(handover < Duration::from_secs(15), "handover took {handover:?}");
            ensure!(a_exit < Duration::from_secs(10), "leader took {a_exit:?} to exit");
            b_exit?;
            Ok(())
        })
        .await
    }

    /// SIGTERM while syncs hang on a slow vault: the manager abandons them after `--shutdown-timeout` (5 s),
    /// releases the Lease and exits inside the pod's 10 s grace period.
    pub async fn sigterm_with_syncs_in_flight_exits_within_the_bound(w: &World, ns: &str) -> Result<()> {
        w.emulator.store().set_secret(VAULT, "slow", "v");
        without_shared_manager(w, || async {
            let mut manager = w.start_manager("manager-sigterm", &[]).await?;
            let id = manager.child.id().context("pid")?.to_string();
            eventually(Duration::from_secs(60), || async {
                Ok(lease_holder(w).await?.filter(|h| h.ends_with(&format!("_{id}"))))
            })
            .await
            .context("the manager never led")?;
            w.emulator.faults().set_latency(Duration::from_secs(60));
            let outcome = async {
                let before = w.emulator.counters().values().sum::<u64>();
                w.k.apply(&pairs(w, ns, 20, "slow")).await?;
                // The syncs are in flight once the vault has seen their requests.
                eventually(Duration::from_secs(60), || async {
                    Ok((w.emulator.counters().values().sum::<u64>() > before).then_some(()))
                })
                .await?;
                let took = manager.terminate(Duration::from_secs(15)).await?;
                println!(
                    "figure: SIGTERM to exit with syncs in flight: {:.2} s",
                    took.as_secs_f64()
                );
                ensure!(took < Duration::from_secs(10), "SIGTERM to exit took {took:?}");
                ensure!(
                    manager.log_text().contains("abandoned"),
                    "the in-flight syncs were not what bounded the shutdown"
                );
                ensure!(
                    lease_holder(w).await?.is_none_or(|h| h.is_empty()),
                    "the Lease was not released"
                );
                Ok(())
            }
            .await;
            w.emulator.faults().set_latency(Duration::ZERO);
            outcome
        })
        .await
    }
}

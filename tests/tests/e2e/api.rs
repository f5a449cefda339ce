//! Tier 3: what the API server itself enforces — CRD validation, RBAC, the admission policies acting on
//! the manager — and the reasons the manager reports for bad input.

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
    // As docs/TESTING.md#acceptance-scenarios B7: with the annotation the API server's own Secret validation
    // requires for this type, so that the admission policy is what refuses it.
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

pub async fn token_policy_denies_other_requests(w: &World, ns: &str) -> Result<()> {
    // Acting as the manager: only the configured audience with a 600 s lifetime is allowed
    // (docs/TESTING.md#acceptance-scenarios T1–T6).
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
    // docs/TESTING.md#acceptance-scenarios A5, A6.
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
    let empty = sync_yaml(ns, "nodata", "spc", "Opaque", &[], "").replace("    data:\n", "    data: []\n");
    let err =
        w.k.apply(&empty)
            .await
            .err()
            .context("an empty data list was accepted")?;
    ensure!(
        format!("{err:#}").contains(sse_api::validation::shape::DATA_OR_DATA_FROM_MESSAGE),
        "{err:#}"
    );
    Ok(())
}

pub async fn policies_bind_the_manager(w: &World, ns: &str) -> Result<()> {
    // docs/TESTING.md#acceptance-scenarios, acting as the manager's ServiceAccount.
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
    // The events policy: an Event about another kind of object (a forged "Killing" on a pod) is refused,
    // one about a SecretSync reported as the manager is accepted.
    let event = |kind: &str, name: &str| {
        format!(
            "apiVersion: events.k8s.io/v1\nkind: Event\nmetadata: {{name: {name}, namespace: {ns}}}\neventTime: \"2026-12-07T00:00:00.000000Z\"\naction: Sync\nreason: Killing\nnote: forged\ntype: Normal\nreportingController: secrets-store-sync-controller\nreportingInstance: e2e\nregarding: {{apiVersion: v1, kind: {kind}, name: x, namespace: {ns}}}\n"
        )
    };
    let err = w
        .as_manager
        .run(&["create", "-f", "-"], Some(&event("Pod", "forged")))
        .await
        .err()
        .context("the manager created an Event about a Pod")?;
    ensure!(
        format!("{err:#}").contains("secrets-store-sync-controller-events-policy"),
        "events: {err:#}"
    );
    w.as_manager
        .run(&["create", "-f", "-"], Some(&event("SecretSync", "ours")))
        .await
        .context("an Event about a SecretSync, as the manager publishes")?;
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
    // docs/TESTING.md#acceptance-scenarios X8: the type of an existing Secret is immutable.
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

//! Tier 3: the admission fences around the manager's Secret writes that the original did not have: no
//! Secret that grants API access, a Secret kept with its SecretSync by uid, and a token fence that holds the
//! manager and nobody else.

use super::*;

/// A bootstrap token is an API credential (kube-apiserver's bootstrap authenticator accepts it): the
/// upstream chart's policy allowed the type; ours refuses it like a service-account token, both when the
/// manager syncs one and when its user writes one directly.
pub async fn bootstrap_token_type_denied(w: &World, ns: &str) -> Result<()> {
    w.vault_class(ns, "t", "v").await?;
    w.k.apply(&sync_yaml(
        ns,
        "boottoken",
        "spc",
        "bootstrap.kubernetes.io/token",
        &[("t", "token-id")],
        "",
    ))
    .await?;
    let (_, message) = wait_reason(
        w,
        ns,
        "boottoken",
        "Create",
        "ValidatingAdmissionPolicyCheckFailed",
    )
    .await?;
    ensure!(
        message.contains("not allowed to create or update secrets with this type"),
        "{message}"
    );
    ensure!(!w.k.exists("secret", ns, "boottoken").await, "no Secret");
    // Directly, as the manager's ServiceAccount, with a SecretSync owner that would otherwise pass.
    let uid = w.k.json(&["get", "secretsync", "boottoken", "-n", ns]).await?["metadata"]["uid"]
        .as_str()
        .context("uid")?
        .to_string();
    let secret = format!(
        "apiVersion: v1\nkind: Secret\nmetadata: {{name: boottoken, namespace: {ns}, labels: {{secrets-store.sync.x-k8s.io: \"\"}}, ownerReferences: [{{apiVersion: secret-sync.x-k8s.io/v1alpha1, kind: SecretSync, name: boottoken, uid: {uid}}}]}}\ntype: bootstrap.kubernetes.io/token\ndata: {{token-id: YWJjZGVm, token-secret: MDEyMzQ1Njc4OWFiY2RlZg==}}\n"
    );
    let err = w
        .as_manager
        .run(&["create", "-f", "-"], Some(&secret))
        .await
        .err()
        .context("the manager created a bootstrap token Secret")?;
    ensure!(
        format!("{err:#}").contains("secrets-store-sync-controller-create-update-policy"),
        "{err:#}"
    );
    Ok(())
}

/// The create/update policy keeps a Secret with its SecretSync by uid: the manager may not hand a Secret
/// owned by one SecretSync to another of the same name (a deleted and recreated one has a new uid). On an
/// API server with the OwnerReferencesPermissionEnforcement plugin (this suite's) the plugin refuses first
/// (the manager may not delete Secrets, so it may not change their owners); without it, the policy does.
pub async fn owner_uid_is_kept_on_update(w: &World, ns: &str) -> Result<()> {
    w.vault_class(ns, "t", "v").await?;
    w.k.apply(&sync_yaml(ns, "owned", "spc", "Opaque", &[("t", "bar")], ""))
        .await?;
    wait_reason(w, ns, "owned", "Create", "CreateSucceeded").await?;
    let before = w.k.json(&["get", "secret", "owned", "-n", ns]).await?;
    // As the manager writes: a server-side apply (it has no read), taking the field over.
    let handover = format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: owned\n  namespace: {ns}\n  labels: {{secrets-store.sync.x-k8s.io: \"\"}}\n  ownerReferences:\n  - {{apiVersion: secret-sync.x-k8s.io/v1alpha1, kind: SecretSync, name: owned, uid: 00000000-0000-0000-0000-000000000000}}\n"
    );
    let err = w
        .as_manager
        .apply_as_the_manager_writes(&handover)
        .await
        .err()
        .context("the manager changed the uid of a Secret's SecretSync owner")?;
    let text = format!("{err:#}");
    ensure!(
        text.contains("secrets-store-sync-controller-create-update-policy")
            || text.contains("cannot set an ownerRef"),
        "{text}"
    );
    let after = w.k.json(&["get", "secret", "owned", "-n", ns]).await?;
    ensure!(
        before["metadata"]["ownerReferences"] == after["metadata"]["ownerReferences"],
        "the owner changed"
    );
    Ok(())
}

/// One namespace user's AKVSync cannot make the manager fetch and hold more than 1024 vault objects per
/// check: the API server refuses 17 entries of 64 versions (1088), and takes 16 (1024).
pub async fn akvsync_size_is_bounded_by_the_api_server(w: &World, ns: &str) -> Result<()> {
    let akvsync = |entries: usize| {
        let objects: String = (0..entries)
            .map(|i| format!("  - {{secretInAKV: s{i}, versionHistory: 64}}\n"))
            .collect();
        format!(
            "apiVersion: secret-sync.x-k8s.io/v1alpha1\nkind: AKVSync\nmetadata: {{name: big, namespace: {ns}}}\nspec:\n  keyvaultName: {VAULT}\n  clientID: {CLIENT_ID}\n  tenantID: {TENANT}\n  serviceAccountName: {SA}\n  objects:\n{objects}"
        )
    };
    let err =
        w.k.apply(&akvsync(17))
            .await
            .err()
            .context("the API server took an AKVSync of 1088 objects")?;
    ensure!(
        format!("{err:#}").contains("at most 1024 vault objects"),
        "{err:#}"
    );
    w.k.apply(&akvsync(16)).await.context("1024 objects")?;
    Ok(())
}

/// A user removes the `sse-rs.io/akvsync` label from a SecretSync an AKVSync generated. The
/// generated-objects policy lets the manager change only labelled objects, so a restore would be refused
/// at every attempt: the AKVSync reports it instead (condition and Event, naming the way out), and the
/// object is left as it is.
pub async fn akvsync_reports_a_generated_object_that_lost_its_label(w: &World, ns: &str) -> Result<()> {
    w.emulator.store().set_secret(VAULT, "akv-unlabelled", "v");
    let akvsync = format!(
        "apiVersion: secret-sync.x-k8s.io/v1alpha1\nkind: AKVSync\nmetadata: {{name: app, namespace: {ns}}}\nspec:\n  keyvaultName: {VAULT}\n  clientID: {CLIENT_ID}\n  tenantID: {TENANT}\n  serviceAccountName: {SA}\n  objects:\n  - secretInAKV: akv-unlabelled\n"
    );
    w.k.apply(&akvsync).await?;
    wait_reason(w, ns, "akv-unlabelled", "Create", "CreateSucceeded").await?;
    w.k.run(
        &[
            "label",
            "secretsync",
            "akv-unlabelled",
            "-n",
            ns,
            "sse-rs.io/akvsync-",
        ],
        None,
    )
    .await?;
    let message = eventually(Duration::from_secs(60), || async {
        let a = w.k.json(&["get", "akvsync", "app", "-n", ns]).await?;
        Ok(condition(&a, "Ready")
            .filter(|(s, r, _)| s == "False" && r == "GeneratedObjectUnlabelled")
            .map(|(_, _, m)| m))
    })
    .await
    .context("the AKVSync did not report the unlabelled SecretSync")?;
    ensure!(
        message.contains("SecretSync akv-unlabelled") && message.contains("put the label back"),
        "{message}"
    );
    let events = w.k.json(&["get", "events.events.k8s.io", "-n", ns]).await?;
    ensure!(
        events["items"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|e| { e["regarding"]["kind"] == "AKVSync" && e["reason"] == "GeneratedObjectUnlabelled" }),
        "a Warning Event on the AKVSync"
    );
    let sync =
        w.k.json(&["get", "secretsync", "akv-unlabelled", "-n", ns])
            .await?;
    ensure!(
        sync["metadata"]["labels"]["sse-rs.io/akvsync"].is_null(),
        "left as it is"
    );
    Ok(())
}

/// The token fence applies to the manager and to nobody else, even when its ConfigMap is gone: the API
/// server looks a binding's parameters up before its matchConditions, so a `Deny` binding without its
/// ConfigMap refused every TokenRequest in the cluster (docs/ADMISSION.md#secrets-store-sync-controller-token-audience-policy).
/// Without it, the manager's tokens are still held to 600 s and one audience; with it back, to the list.
pub async fn token_policy_never_blocks_anyone_else(w: &World, ns: &str) -> Result<()> {
    const CONFIGMAP: &str = "secrets-store-sync-controller-token-audience";
    let saved =
        w.k.run(
            &["get", "configmap", CONFIGMAP, "-n", SYSTEM_NS, "-o", "yaml"],
            None,
        )
        .await?;
    w.k.run(&["create", "serviceaccount", "probe", "-n", ns], None)
        .await?;
    let admin_token = || async {
        w.k.run(&["create", "token", "probe", "-n", ns, "--duration=3600s"], None)
            .await
    };
    let manager_token = |audience: &'static str, seconds: &'static str| async move {
        let (aud, dur) = (format!("--audience={audience}"), format!("--duration={seconds}s"));
        w.as_manager
            .run(&["create", "token", SA, "-n", ns, &aud, &dur], None)
            .await
    };
    ensure!(
        admin_token().await.is_ok(),
        "an admin's token request with the ConfigMap in place"
    );
    w.k.run(&["delete", "configmap", CONFIGMAP, "-n", SYSTEM_NS], None)
        .await?;
    let outcome = async {
        let admin = admin_token().await;
        ensure!(
            admin.is_ok(),
            "without the ConfigMap, an admin's TokenRequest was refused: {:?}",
            admin.err()
        );
        ensure!(
            manager_token(AUDIENCE, "3600").await.is_err(),
            "the manager's hour-long token was allowed"
        );
        ensure!(
            manager_token(AUDIENCE, "600").await.is_ok(),
            "the manager's 600 s token for its audience"
        );
        Ok(())
    }
    .await;
    // The ConfigMap back, whatever happened (its resourceVersion and uid dropped: a create).
    let restore: String = saved
        .lines()
        .filter(|l| {
            !["  resourceVersion:", "  uid:", "  creationTimestamp:"]
                .iter()
                .any(|p| l.starts_with(p))
        })
        .map(|l| format!("{l}\n"))
        .collect();
    w.k.run(&["create", "-f", "-"], Some(&restore)).await?;
    outcome?;
    let other = eventually(Duration::from_secs(10), || async {
        // The API server's parameter cache follows the ConfigMap through a watch.
        match manager_token("other-audience", "600").await {
            Err(_) => Ok(Some(())),
            Ok(_) => anyhow::bail!("the manager's token for another audience was allowed"),
        }
    })
    .await;
    other.context("with the ConfigMap back, the audience list holds again")?;
    ensure!(
        manager_token(AUDIENCE, "600").await.is_ok(),
        "the configured audience after the restore"
    );
    Ok(())
}

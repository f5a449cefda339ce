//! Tier 3: an AKVSync — the SecretProviderClass and SecretSyncs it generates and keeps, and the admission
//! fence around what the manager may generate.

use super::*;

/// An AKVSync on the real API server: the manager generates its SecretProviderClass and SecretSyncs (owned,
/// labelled), the Secrets appear with `v0`, a version history and a compound Secret, `kubectl get akvsync`
/// shows it Ready with 3/3, an edit of a generated SecretSync is reverted, and an entry removed deletes its
/// SecretSync.
pub async fn akvsync_generates_and_keeps_its_secret_syncs(w: &World, ns: &str) -> Result<()> {
    let store = w.emulator.store();
    store.set_secret(VAULT, "akv-db-password", "pw");
    store.set_secret(VAULT, "akv-db-user", "admin");
    store.set_secret(VAULT, "akv-api-key", "key-1");
    store.set_secret(VAULT, "akv-api-key", "key-2");
    let akv = |objects: &str| {
        format!(
            "apiVersion: secret-sync.x-k8s.io/v1alpha1\nkind: AKVSync\nmetadata: {{name: app, namespace: {ns}}}\n\
             spec:\n  keyvaultName: {VAULT}\n  clientID: {CLIENT_ID}\n  tenantID: {TENANT}\n  serviceAccountName: {SA}\n  objects:\n{objects}"
        )
    };
    let all = "  - secretInAKV: akv-db-password\n\
               \x20 - {secretInAKV: akv-api-key, kubernetesSecretName: api, versionHistory: 2}\n\
               \x20 - kubernetesSecretName: db-credentials\n    objects:\n\
               \x20     - {secretInAKV: akv-db-user, dataKey: username}\n\
               \x20     - {secretInAKV: akv-db-password, dataKey: password}\n";
    w.k.apply(&akv(all)).await?;
    eventually(Duration::from_secs(60), || async {
        let a = w.k.json(&["get", "akvsync", "app", "-n", ns]).await?;
        Ok((a["status"]["summary"] == "3/3"
            && condition(&a, "Ready").is_some_and(|(s, r, _)| s == "True" && r == "AllSecretsSynced"))
        .then_some(()))
    })
    .await
    .context("the AKVSync did not become Ready 3/3")?;
    let data = secret_data(w, ns, "akv-db-password").await?;
    ensure!(data.get("v0") == Some(&Value::from("pw")), "{data:?}");
    let data = secret_data(w, ns, "api").await?;
    ensure!(
        data.get("v0") == Some(&Value::from("key-2")) && data.get("v1") == Some(&Value::from("key-1")),
        "{data:?}"
    );
    let data = secret_data(w, ns, "db-credentials").await?;
    ensure!(
        data.get("username") == Some(&Value::from("admin"))
            && data.get("password") == Some(&Value::from("pw")),
        "{data:?}"
    );
    let table = w.k.run(&["get", "akvsync", "app", "-n", ns], None).await?;
    ensure!(
        table
            .lines()
            .next()
            .is_some_and(|h| h.contains("READY") && h.contains("SECRETS"))
            && table.contains("3/3"),
        "{table}"
    );
    let generated = w.k.json(&["get", "secretsync", "api", "-n", ns]).await?;
    ensure!(
        generated["metadata"]["labels"]["sse-rs.io/akvsync"] == "app"
            && generated["metadata"]["ownerReferences"][0]["kind"] == "AKVSync",
        "{}",
        generated["metadata"]
    );

    // An edit of a generated SecretSync is reverted.
    w.k.run(
        &[
            "patch",
            "secretsync",
            "api",
            "-n",
            ns,
            "--type",
            "json",
            "-p",
            r#"[{"op":"replace","path":"/spec/secretObject/data/0/targetKey","value":"edited"}]"#,
        ],
        None,
    )
    .await?;
    eventually(Duration::from_secs(30), || async {
        let s = w.k.json(&["get", "secretsync", "api", "-n", ns]).await?;
        let keys: Vec<&str> = s["spec"]["secretObject"]["data"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|d| d["targetKey"].as_str())
            .collect();
        Ok((keys == ["v0", "v1"]).then_some(()))
    })
    .await
    .context("the edit was not reverted")?;

    // An entry removed: its SecretSync goes.
    w.k.apply(&akv("  - secretInAKV: akv-db-password\n")).await?;
    eventually(Duration::from_secs(30), || async {
        let (code, _, _) = w.k.output(&["get", "secretsync", "api", "-n", ns], None).await?;
        Ok((code != Some(0)).then_some(()))
    })
    .await
    .context("the SecretSync of a removed entry was not deleted")?;

    // A same-named SecretSync of the user's is never taken over: the AKVSync says so.
    w.vault_class(ns, "akv-user", "v").await?;
    w.k.apply(&sync_yaml(
        ns,
        "taken",
        "spc",
        "Opaque",
        &[("akv-user", "mine")],
        "",
    ))
    .await?;
    w.k.apply(&akv(
        "  - secretInAKV: akv-db-password\n  - {secretInAKV: akv-db-user, kubernetesSecretName: taken}\n",
    ))
    .await?;
    eventually(Duration::from_secs(30), || async {
        let a = w.k.json(&["get", "akvsync", "app", "-n", ns]).await?;
        Ok(condition(&a, "Ready")
            .filter(|(s, r, m)| s == "False" && r == "NameConflict" && m.contains("SecretSync taken")))
    })
    .await
    .context("no NameConflict")?;
    let mine = w.k.json(&["get", "secretsync", "taken", "-n", ns]).await?;
    ensure!(
        mine["spec"]["secretObject"]["data"][0]["targetKey"] == "mine"
            && mine["metadata"]["ownerReferences"].is_null()
            && mine["metadata"]["labels"]["sse-rs.io/akvsync"].is_null(),
        "the user's SecretSync was touched: {}",
        mine["metadata"]
    );

    // The admission fence around the manager's new rights: as the manager, a class no AKVSync controls,
    // and a controlled one asking for the node's identity, are refused.
    let denied = |yaml: String, what: &'static str| async move {
        let err = w
            .as_manager
            .run(&["create", "-f", "-"], Some(&yaml))
            .await
            .err()
            .with_context(|| format!("the manager could create {what}"))?;
        ensure!(
            format!("{err:#}").contains("secrets-store-sync-controller-generated-objects-policy"),
            "{what}: {err:#}"
        );
        anyhow::Ok(())
    };
    denied(
        w.spc(
            ns,
            "not-generated",
            "azure",
            &["objectName: x\nobjectType: secret"],
        ),
        "an unowned class",
    )
    .await?;
    let uid = w.k.json(&["get", "akvsync", "app", "-n", ns]).await?["metadata"]["uid"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let node_identity = format!(
        "apiVersion: secrets-store.csi.x-k8s.io/v1\nkind: SecretProviderClass\nmetadata:\n  name: node-identity\n  namespace: {ns}\n\
         \x20 labels: {{sse-rs.io/akvsync: app}}\n  ownerReferences:\n  - {{apiVersion: secret-sync.x-k8s.io/v1alpha1, kind: AKVSync, name: app, uid: {uid}, controller: true}}\n\
         spec:\n  provider: azure\n  parameters: {{keyvaultName: {VAULT}, tenantId: {TENANT}, useVMManagedIdentity: \"true\"}}\n"
    );
    denied(node_identity, "a class with the node's identity").await?;
    Ok(())
}

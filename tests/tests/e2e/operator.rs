//! Tier 3: what an operator does when a secret is stale (issue 10): the `sse-rs.io/force-sync` annotation
//! and the `kubectl sse` plugin, found on the PATH by the real kubectl.

use super::*;

/// A SecretSync checked daily (so no scheduled check can catch a rotation during the scenario), Created.
async fn daily_sync(w: &World, ns: &str, name: &str, class: &str) -> Result<()> {
    let yaml = sync_yaml(ns, name, class, "Opaque", &[(name, "key")], "").replace(
        "metadata: {",
        "metadata: {annotations: {sse-rs.io/refresh-interval: \"24h\"}, ",
    );
    w.k.apply(&yaml).await?;
    Ok(())
}

/// `kubectl annotate secretsync NAME sse-rs.io/force-sync=…` checks the vault at once: no spec edit, no
/// waiting for the daily check, and the status says which request it answered.
pub async fn force_sync_annotation_checks_now(w: &World, ns: &str) -> Result<()> {
    w.vault_class(ns, "stale", "before").await?;
    daily_sync(w, ns, "stale", "spc").await?;
    wait_reason(w, ns, "stale", "Create", "CreateSucceeded").await?;
    w.emulator.store().set_secret(VAULT, "stale", "after");
    w.k.run(
        &[
            "annotate",
            "secretsync",
            "stale",
            "-n",
            ns,
            "sse-rs.io/force-sync=first",
        ],
        None,
    )
    .await?;
    eventually(Duration::from_secs(30), || async {
        let ss = w.k.json(&["get", "secretsync", "stale", "-n", ns]).await?;
        Ok((ss["status"]["forceSyncHandled"] == "first").then_some(()))
    })
    .await
    .context("the manager did not record the force-sync request")?;
    let data = secret_data(w, ns, "stale").await?;
    ensure!(data.get("key") == Some(&Value::from("after")), "{data:?}");
    let ss = w.k.json(&["get", "secretsync", "stale", "-n", ns]).await?;
    ensure!(
        ss["metadata"]["generation"] == 1,
        "an annotation is not a spec edit: {}",
        ss["metadata"]
    );
    ensure!(
        condition(&ss, "Update").is_some_and(|(_, r, _)| r == "UpdateValueChangeOrForceUpdateSucceeded"),
        "{}",
        ss["status"]
    );
    Ok(())
}

/// `kubectl sse status` shows the three times and the reason; `kubectl sse sync` checks now, waits for the
/// answer, and exits 0 when Ready, 2 when not, 1 for a SecretSync that does not exist. It runs as an
/// ordinary editor of the namespace (the built-in `edit` role, which deploy/ extends to SecretSyncs),
/// authenticated by a token. (Not as the suite's admin: that one's client certificate is X.509 v1, which
/// rustls refuses; clusters' own client certificates are v3.)
pub async fn kubectl_sse_status_and_sync(w: &World, ns: &str) -> Result<()> {
    let operator = operator(w, ns).await?;
    let result = sse_as(w, &operator, ns).await;
    let _ = std::fs::remove_file(&operator.kubeconfig);
    result
}

/// kubectl as an editor of `ns` (the built-in `edit` role), authenticated by a token.
async fn operator(w: &World, ns: &str) -> Result<Kubectl> {
    w.k.run(&["create", "serviceaccount", "operator", "-n", ns], None)
        .await?;
    w.k.run(
        &[
            "create",
            "rolebinding",
            "operator-edit",
            "-n",
            ns,
            "--clusterrole=edit",
            &format!("--serviceaccount={ns}:operator"),
        ],
        None,
    )
    .await?;
    operator_again(w, ns).await
}

async fn sse_as(w: &World, operator: &Kubectl, ns: &str) -> Result<()> {
    w.vault_class(ns, "app", "before").await?;
    daily_sync(w, ns, "app", "spc").await?;
    daily_sync(w, ns, "broken", "no-such-class").await?;
    wait_reason(w, ns, "app", "Create", "CreateSucceeded").await?;
    eventually(Duration::from_secs(60), || async {
        let ss = w.k.json(&["get", "secretsync", "broken", "-n", ns]).await?;
        Ok(condition(&ss, "Ready").filter(|(s, _, _)| s == "False"))
    })
    .await?;

    let (code, table, err) = operator.output(&["sse", "status", "-n", ns], None).await?;
    ensure!(code == Some(0), "kubectl sse status: {code:?} {err}");
    let header = table.lines().next().unwrap_or_default();
    for column in [
        "NAME",
        "READY",
        "REASON",
        "LAST CHECKED",
        "LAST CHANGED",
        "NEXT CHECK",
        "FAILING SINCE",
    ] {
        ensure!(header.contains(column), "{column} missing: {table}");
    }
    let row = |name: &str| {
        table
            .lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .unwrap_or_default()
            .to_string()
    };
    ensure!(row("app").split_whitespace().nth(1) == Some("True"), "{table}");
    ensure!(
        row("app").contains(" ago") && row("app").contains("in "),
        "times: {table}"
    );
    ensure!(
        row("broken").split_whitespace().nth(1) == Some("False"),
        "{table}"
    );

    let (code, json, err) = operator
        .output(&["sse", "status", "app", "-n", ns, "-o", "json"], None)
        .await?;
    ensure!(code == Some(0), "{err}");
    let json: Value = serde_json::from_str(&json)?;
    let item = &json["items"][0];
    ensure!(
        item["ready"] == "True" && item["refreshInterval"] == "24h0m0s",
        "{json}"
    );
    ensure!(
        item["lastCheckedTime"].is_string() && item["nextCheckTime"].is_string(),
        "{json}"
    );

    // Rotated: only a check now brings it in before tomorrow.
    w.emulator.store().set_secret(VAULT, "app", "after");
    let started = Instant::now();
    let (code, out, err) = operator
        .output(&["sse", "sync", "app", "-n", ns, "--timeout", "60s"], None)
        .await?;
    ensure!(code == Some(0), "kubectl sse sync app: {code:?}\n{out}\n{err}");
    println!(
        "figure: kubectl sse sync of one SecretSync answered in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    ensure!(
        out.lines().any(|l| l.starts_with("app ") && l.contains(" True ")),
        "{out}"
    );
    let data = secret_data(w, ns, "app").await?;
    ensure!(
        data.get("key") == Some(&Value::from("after")),
        "synced when the command returned: {data:?}"
    );

    let (code, out, err) = operator
        .output(&["sse", "sync", "broken", "-n", ns, "--timeout", "60s"], None)
        .await?;
    ensure!(
        code == Some(2),
        "a SecretSync that stays broken exits 2: {code:?}\n{out}\n{err}"
    );
    ensure!(out.contains("broken") && out.contains("False"), "{out}");

    let (code, out, err) = operator
        .output(&["sse", "sync", "--all", "-n", ns, "--timeout", "60s"], None)
        .await?;
    ensure!(code == Some(2), "--all with one broken: {code:?}\n{out}\n{err}");
    ensure!(out.contains("app") && out.contains("broken"), "{out}");

    let (code, _, err) = operator.output(&["sse", "sync", "ghost", "-n", ns], None).await?;
    ensure!(code == Some(1), "{code:?} {err}");
    ensure!(err.contains("secretsync ghost not found in namespace"), "{err}");
    doctor_as(w, operator, ns).await
}

/// `kubectl sse doctor`, as the namespace's editor, on the real API server: a healthy SecretSync passes
/// (the federated credential it needs names the issuer the server's discovery document gives), a broken
/// one names its missing class and its Warning Events, and a foreign Secret of the same name is named with
/// who wrote it, never what it holds. What an editor may not read (the install namespace) is a skip.
async fn doctor_as(w: &World, operator: &Kubectl, ns: &str) -> Result<()> {
    let doctor = |name: &str| {
        let name = name.to_string();
        async move {
            let (code, out, err) = operator
                .output(&["sse", "doctor", &name, "-n", ns, "-o", "json"], None)
                .await?;
            let json: Value = serde_json::from_str(&out).with_context(|| format!("{out}\n{err}"))?;
            let verdicts: std::collections::BTreeMap<String, (String, String, String)> = json["checks"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|c| {
                    let text = |k: &str| c[k].as_str().unwrap_or_default().to_string();
                    (text("check"), (text("verdict"), text("summary"), text("fix")))
                })
                .collect();
            anyhow::Ok((code, verdicts))
        }
    };
    let (code, app) = doctor("app").await?;
    ensure!(code == Some(0), "a healthy SecretSync: {code:?} {app:#?}");
    for check in [
        "secretsync",
        "secretproviderclass",
        "serviceaccount",
        "federation",
        "keyvault",
        "secret",
    ] {
        ensure!(app[check].0 == "ok", "{check}: {app:#?}");
    }
    let discovery: Value = serde_json::from_str(
        &w.k.run(&["get", "--raw", "/.well-known/openid-configuration"], None)
            .await?,
    )?;
    let issuer = discovery["issuer"].as_str().unwrap_or_default().to_string();
    ensure!(
        app["federation"].2.contains(&format!(
            "--issuer {issuer} --subject system:serviceaccount:{ns}:{SA}"
        )),
        "{app:#?}"
    );
    ensure!(
        app["token-audience"].0 == "skip" && app["provider"].0 == "skip",
        "an editor cannot read the install namespace, and tier 3 runs no pod: {app:#?}"
    );

    let (code, broken) = doctor("broken").await?;
    ensure!(code == Some(2), "{code:?} {broken:#?}");
    ensure!(
        broken["secretproviderclass"].0 == "fail"
            && broken["secretproviderclass"]
                .1
                .contains("no SecretProviderClass no-such-class"),
        "{broken:#?}"
    );
    ensure!(broken["events"].0 == "warn", "its Warning Events: {broken:#?}");

    w.k.run(
        &[
            "create",
            "secret",
            "generic",
            "handmade",
            "-n",
            ns,
            "--from-literal=key=theirs",
        ],
        None,
    )
    .await?;
    daily_sync(w, ns, "handmade", "spc").await?;
    eventually(Duration::from_secs(60), || async {
        let ss = w.k.json(&["get", "secretsync", "handmade", "-n", ns]).await?;
        Ok(condition(&ss, "Ready").filter(|(s, _, _)| s == "False"))
    })
    .await?;
    let (code, handmade) = doctor("handmade").await?;
    ensure!(code == Some(2), "{code:?} {handmade:#?}");
    let (verdict, summary, fix) = &handmade["secret"];
    ensure!(
        verdict == "fail" && summary.contains("no owner, written by kubectl") && !summary.contains("theirs"),
        "{handmade:#?}"
    );
    ensure!(fix.contains("sse-rs.io/adoptable=true"), "{fix}");
    let (code, table, _) = operator
        .output(&["sse", "doctor", "handmade", "-n", ns], None)
        .await?;
    ensure!(
        code == Some(2) && table.contains("[FAIL] secret") && table.contains("check(s) failed."),
        "the checklist: {table}"
    );
    Ok(())
}

/// A Secret its editor marked `sse-rs.io/adoptable: "true"` is taken over in place by the SecretSync of the
/// same name; one marked anything but "true" stays untouched. This API server runs the
/// OwnerReferencesPermissionEnforcement admission plugin (as the seed walkthrough recommends), which lets
/// nobody set an owner reference on an object they may not delete, the manager included: the SecretSync
/// says so and names the way out, and `kubectl sse adopt`, run by the namespace's editor, hands it over.
pub async fn adoption_of_a_marked_secret(w: &World, ns: &str) -> Result<()> {
    w.vault_class(ns, "adopted", "from-vault").await?;
    for (name, mark) in [("adopted", "true"), ("not-adopted", "yes")] {
        w.k.run(
            &[
                "create",
                "secret",
                "generic",
                name,
                "-n",
                ns,
                "--from-literal=key=from-before",
            ],
            None,
        )
        .await?;
        w.k.run(
            &[
                "annotate",
                "secret",
                name,
                "-n",
                ns,
                &format!("sse-rs.io/adoptable={mark}"),
            ],
            None,
        )
        .await?;
    }
    let kept = w.k.json(&["get", "secret", "not-adopted", "-n", ns]).await?;
    let marked = w.k.json(&["get", "secret", "adopted", "-n", ns]).await?;
    w.k.apply(&w.spc(ns, "spc2", "azure", &["objectName: adopted\nobjectType: secret"]))
        .await?;
    for name in ["adopted", "not-adopted"] {
        w.k.apply(&sync_yaml(ns, name, "spc2", "Opaque", &[("adopted", "key")], ""))
            .await?;
    }
    let (_, message) = wait_reason(w, ns, "adopted", "Create", "InvalidClusterSecretLabelError").await?;
    ensure!(
        message.contains("marked sse-rs.io/adoptable") && message.contains("kubectl sse adopt adopted"),
        "{message}"
    );
    let after = w.k.json(&["get", "secret", "adopted", "-n", ns]).await?;
    ensure!(
        marked["metadata"]["resourceVersion"] == after["metadata"]["resourceVersion"],
        "a refused adoption leaves the Secret as it was"
    );

    let operator = operator(w, ns).await?;
    let (code, out, err) = operator
        .output(&["sse", "adopt", "adopted", "-n", ns, "--timeout", "60s"], None)
        .await?;
    ensure!(code == Some(0), "kubectl sse adopt: {code:?}\n{out}\n{err}");
    let secret = w.k.json(&["get", "secret", "adopted", "-n", ns]).await?;
    let data = secret_data(w, ns, "adopted").await?;
    ensure!(data.get("key") == Some(&Value::from("from-vault")), "{data:?}");
    let owners = secret["metadata"]["ownerReferences"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    ensure!(
        owners.len() == 1 && owners[0]["kind"] == "SecretSync" && owners[0]["name"] == "adopted",
        "{}",
        secret["metadata"]
    );
    ensure!(
        secret["metadata"]["labels"]["secrets-store.sync.x-k8s.io"] == "",
        "{}",
        secret["metadata"]
    );
    ensure!(
        secret["metadata"]["annotations"]
            .get("sse-rs.io/adoptable")
            .is_none(),
        "the mark is consumed: {}",
        secret["metadata"]
    );
    let ss = w.k.json(&["get", "secretsync", "adopted", "-n", ns]).await?;
    ensure!(
        condition(&ss, "Ready").is_some_and(|(s, _, _)| s == "True"),
        "{}",
        ss["status"]
    );

    let (_, message) = wait_reason(w, ns, "not-adopted", "Create", "InvalidClusterSecretLabelError").await?;
    ensure!(message.contains("left untouched"), "{message}");
    let after = w.k.json(&["get", "secret", "not-adopted", "-n", ns]).await?;
    ensure!(
        kept["metadata"]["resourceVersion"] == after["metadata"]["resourceVersion"],
        "a Secret marked other than \"true\" changed"
    );
    let (code, _, err) = operator
        .output(&["sse", "adopt", "not-adopted", "-n", ns], None)
        .await?;
    let _ = std::fs::remove_file(&operator.kubeconfig);
    ensure!(
        code == Some(1) && err.contains("not marked for adoption"),
        "{code:?} {err}"
    );
    Ok(())
}

/// kubectl for the `operator` ServiceAccount of `ns` (its kubeconfig made again: a fresh token).
async fn operator_again(w: &World, ns: &str) -> Result<Kubectl> {
    Ok(Kubectl {
        kubeconfig: token_kubeconfig(
            &w.k,
            &w.dir.join(format!("{ns}-operator.kubeconfig")),
            ns,
            "operator",
        )
        .await?,
    })
}

/// Force a check of SecretSync `name` and wait until the manager has answered it (the status records the
/// token): a signal that a check ran, quiet or not.
pub(crate) async fn checked_now(w: &World, ns: &str, name: &str, token: &str) -> Result<()> {
    w.k.run(
        &[
            "annotate",
            "secretsync",
            name,
            "-n",
            ns,
            &format!("sse-rs.io/force-sync={token}"),
            "--overwrite",
        ],
        None,
    )
    .await?;
    eventually(Duration::from_secs(60), || async {
        let ss = w.k.json(&["get", "secretsync", name, "-n", ns]).await?;
        Ok((ss["status"]["forceSyncHandled"] == token).then_some(()))
    })
    .await
    .with_context(|| format!("check {token} of {name} never answered"))
}

/// A vault object that expires in ten days: its date reaches `status.validity` (the real API server checks
/// the schema: date-time format, the standing's pattern), the `Expiring` condition warns, one Warning Event
/// `ObjectExpiring` is recorded, and `kubectl sse status -o wide` shows it. The Secret still syncs.
pub async fn expiry_dates_reach_the_status(w: &World, ns: &str) -> Result<()> {
    let expires = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs()
        + 10 * 86_400;
    w.emulator.store().set_secret_with(
        VAULT,
        "expiring",
        keyvault_emulator::SecretInput {
            value: "soon-stale".into(),
            expires: Some(i64::try_from(expires)?),
            ..keyvault_emulator::SecretInput::default()
        },
    );
    w.k.apply(&w.spc(ns, "spc", "azure", &["objectName: expiring\nobjectType: secret"]))
        .await?;
    w.k.apply(&sync_yaml(
        ns,
        "expiring",
        "spc",
        "Opaque",
        &[("expiring", "key")],
        "",
    ))
    .await?;
    wait_reason(w, ns, "expiring", "Ready", "CreateSucceeded").await?;
    let ss = w.k.json(&["get", "secretsync", "expiring", "-n", ns]).await?;
    let validity = &ss["status"]["validity"];
    ensure!(
        validity[0]["object"] == "secret/expiring" && validity[0]["state"] == "Expiring",
        "{}",
        ss["status"]
    );
    ensure!(
        condition(&ss, "Expiring").is_some_and(|(s, r, _)| s == "True" && r == "ObjectExpiring"),
        "{}",
        ss["status"]
    );
    let events = eventually(Duration::from_secs(30), || async {
        let list =
            w.k.json(&[
                "get",
                "events",
                "-n",
                ns,
                "--field-selector",
                "reason=ObjectExpiring",
            ])
            .await?;
        let items = list["items"].as_array().cloned().unwrap_or_default();
        Ok((!items.is_empty()).then_some(items))
    })
    .await
    .context("no ObjectExpiring Event")?;
    ensure!(
        events.len() == 1
            && events[0]["type"] == "Warning"
            && events[0]["count"].as_i64().unwrap_or(1) == 1
            && events[0]["series"].is_null(),
        "one Warning Event, fired once: {events:?}"
    );
    // As a namespace editor with a token (see kubectl_sse_status_and_sync).
    let operator = operator(w, ns).await?;
    let table = operator
        .run(&["sse", "status", "expiring", "-n", ns, "-o", "wide"], None)
        .await;
    let _ = std::fs::remove_file(&operator.kubeconfig);
    let table = table?;
    ensure!(table.contains("EXPIRES") && table.contains("in 9d"), "{table}");
    Ok(())
}

/// Key Vault tags named in `sse-rs.io/tag-labels` / `sse-rs.io/tag-annotations` reach the Secret on the real
/// API server (its admission policies allow the extra metadata), follow a tag change in the vault with no
/// new version, and lose a removed tag's label.
pub async fn key_vault_tags_become_labels(w: &World, ns: &str) -> Result<()> {
    let store = w.emulator.store();
    store.set_secret_with(
        VAULT,
        "tagged",
        keyvault_emulator::SecretInput {
            value: "v".into(),
            tags: [("team", "payments"), ("env", "prod")]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..keyvault_emulator::SecretInput::default()
        },
    );
    w.k.apply(&w.spc(ns, "spc", "azure", &["objectName: tagged\nobjectType: secret"]))
        .await?;
    let yaml = sync_yaml(ns, "tagged", "spc", "Opaque", &[("tagged", "key")], "").replace(
        "metadata: {",
        "metadata: {annotations: {sse-rs.io/tag-labels: \"team, env=example.com/env\", sse-rs.io/tag-annotations: \"team=example.com/team\"}, ",
    );
    w.k.apply(&yaml).await?;
    wait_reason(w, ns, "tagged", "Ready", "CreateSucceeded").await?;
    let secret = w.k.json(&["get", "secret", "tagged", "-n", ns]).await?;
    let labels = &secret["metadata"]["labels"];
    ensure!(
        labels["team"] == "payments" && labels["example.com/env"] == "prod",
        "{}",
        secret["metadata"]
    );
    ensure!(
        secret["metadata"]["annotations"]["example.com/team"] == "payments",
        "{}",
        secret["metadata"]
    );
    // A tag edited and one removed in the vault (no new version): a check now brings both.
    store.set_secret_tags(
        VAULT,
        "tagged",
        [("team".to_string(), "platform".to_string())]
            .into_iter()
            .collect(),
    );
    w.k.run(
        &[
            "annotate",
            "secretsync",
            "tagged",
            "-n",
            ns,
            "sse-rs.io/force-sync=tags",
        ],
        None,
    )
    .await?;
    eventually(Duration::from_secs(30), || async {
        let secret = w.k.json(&["get", "secret", "tagged", "-n", ns]).await?;
        let labels = &secret["metadata"]["labels"];
        Ok((labels["team"] == "platform" && labels["example.com/env"].is_null()).then_some(()))
    })
    .await
    .context("the labels did not follow the tags")?;
    Ok(())
}

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

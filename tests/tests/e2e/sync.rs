//! Tier 3: syncing — the walkthrough, rotation, drift and edits repaired, foreign Secrets untouched, partial
//! sync, triggers, quiet polls, offline.

use super::*;

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
    // The transition is an Event about the SecretSync, from the manager.
    let events = eventually(Duration::from_secs(30), || async {
        let list = w.k.json(&["get", "events.events.k8s.io", "-n", ns]).await?;
        let found = list["items"].as_array().into_iter().flatten().any(|e| {
            e["reason"] == "CreateSucceeded"
                && e["regarding"]["kind"] == "SecretSync"
                && e["regarding"]["name"] == "secret-sync-name"
                && e["reportingController"] == "secrets-store-sync-controller"
                && e["type"] == "Normal"
        });
        Ok(found.then_some(()))
    })
    .await;
    events.context("no CreateSucceeded Event for the SecretSync")?;
    // One grep answers "what happened to ns/name" in either container's log (the manager's reconcile span,
    // the provider's Mount span).
    let needle = format!("secretsync={ns}/secret-sync-name");
    for log in ["manager.log", "provider.log"] {
        let text = std::fs::read_to_string(w.dir.join(log)).unwrap_or_default();
        ensure!(text.contains(&needle), "{log} has no line with {needle}");
    }
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

pub async fn spc_change_resyncs(w: &World, ns: &str) -> Result<()> {
    // Triggers (docs/API.md#triggers): a SecretProviderClass change re-syncs the SecretSyncs that use it (no
    // SecretSync edit).
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
    // Partial sync (docs/API.md#partial-sync): one object missing in the vault; the healthy key is written,
    // the status is PartialSync.
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
    // Triggers (docs/API.md#triggers): checks where nothing changed write nothing: no resourceVersion moves.
    // The suite's manager checks every 20 s; there is no signal for "nothing happened", so this waits out
    // more than two intervals.
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
    // A check is a listing (change detection) or a GET (a Mount); the counters are the whole emulator's.
    let checks = || {
        let c = w.emulator.counters();
        c.get("secrets.get").copied().unwrap_or(0) + c.get("secrets.list").copied().unwrap_or(0)
    };
    let gets_before = checks();
    tokio::time::sleep(Duration::from_secs(45)).await;
    ensure!(
        version("secret").await? == secret_before,
        "the Secret's resourceVersion moved"
    );
    ensure!(
        version("secretsync").await? == sync_before,
        "the SecretSync's resourceVersion moved"
    );
    let gets_after = checks();
    ensure!(
        gets_after > gets_before,
        "the vault was not checked during two poll intervals"
    );
    Ok(())
}

/// The `sse-rs.io/refresh-interval` annotation sets the SecretSync's own interval; `kubectl get` shows it
/// and the next check, `kubectl describe` too; an edit of the annotation applies at once.
pub async fn refresh_interval_shows_in_kubectl_get(w: &World, ns: &str) -> Result<()> {
    w.vault_class(ns, "every", "v").await?;
    let yaml = |interval: &str| {
        sync_yaml(ns, "every", "spc", "Opaque", &[("every", "key")], "").replace(
            "metadata: {",
            &format!("metadata: {{annotations: {{sse-rs.io/refresh-interval: \"{interval}\"}}, "),
        )
    };
    w.k.apply(&yaml("45s")).await?;
    wait_reason(w, ns, "every", "Create", "CreateSucceeded").await?;
    let table = w.k.run(&["get", "secretsync", "every", "-n", ns], None).await?;
    let mut lines = table.lines();
    let header = lines.next().unwrap_or_default();
    let row = lines.next().unwrap_or_default();
    ensure!(
        header.contains("INTERVAL") && header.contains("NEXT CHECK"),
        "kubectl get columns: {table}"
    );
    ensure!(row.contains(" 45s "), "the effective interval: {table}");
    let ss = w.k.json(&["get", "secretsync", "every", "-n", ns]).await?;
    let next = ss["status"]["nextCheckTime"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    ensure!(row.contains(&next), "the next check {next:?}: {table}");
    let described =
        w.k.run(&["describe", "secretsync", "every", "-n", ns], None)
            .await?;
    ensure!(
        described.contains("Refresh Interval:") && described.contains("Next Check Time:"),
        "{described}"
    );
    // A new value applies without waiting for the old interval, clamped to the manager's minimum (30s).
    w.k.apply(&yaml("10s")).await?;
    eventually(Duration::from_secs(30), || async {
        let ss = w.k.json(&["get", "secretsync", "every", "-n", ns]).await?;
        Ok((ss["status"]["refreshInterval"] == "30s").then_some(()))
    })
    .await
    .context("the edited annotation is shown, raised to --min-refresh-interval")?;
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

/// Partial sync (docs/API.md#partial-sync) on a real server: while one object fails, a hand-edited healthy
/// key is repaired (the guarded merge patch), and once the missing object appears the Secret becomes
/// complete.
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

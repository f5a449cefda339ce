//! Tier 3: what Key Vault says about an object besides its value — its expiry date and its tags — reaching
//! the SecretSync's status, its Events and the Secret's labels and annotations.

use super::*;
use crate::operator::operator;

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

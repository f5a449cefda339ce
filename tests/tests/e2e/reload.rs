//! Tier 3: reload on change on the real API server, and the admission fence around the rights it needs.

use super::*;

/// Reload on change, with the overlay's RBAC and flag: a Deployment annotated `sse-rs.io/reload: "true"`
/// that uses Secret `db` gets its pod template's restart annotation once when the value changes, and not
/// on the first create nor on a quiet check; the Event names the SecretSync.
pub async fn reload_on_change_restarts_a_deployment_once(w: &World, ns: &str) -> Result<()> {
    let rbac = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../deploy/components/reload-workloads/rbac-reload-workloads.yaml");
    let rbac = rbac.display().to_string();
    w.k.run(&["apply", "-f", &rbac], None).await?;
    let outcome = crate::lifecycle::without_shared_manager(w, || async {
        let mut manager = w
            .start_manager(
                "manager-reload",
                &["--reload-workloads=true".into(), "--rotation-poll-interval-in-seconds=3600".into()],
            )
            .await?;
        let result = async {
            w.vault_class(ns, "db", "one").await?;
            w.k.apply(&format!(
                "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: web, namespace: {ns}, annotations: {{sse-rs.io/reload: \"true\"}}}}\nspec:\n  replicas: 1\n  selector: {{matchLabels: {{app: web}}}}\n  template:\n    metadata: {{labels: {{app: web}}}}\n    spec:\n      containers:\n      - name: app\n        image: registry.k8s.io/pause:3.10\n        envFrom: [{{secretRef: {{name: db}}}}]\n"
            ))
            .await?;
            w.k.apply(&sync_yaml(ns, "db", "spc", "Opaque", &[("db", "key")], "")).await?;
            wait_reason(w, ns, "db", "Create", "CreateSucceeded").await?;
            let generation = |d: &Value| d["metadata"]["generation"].as_i64().unwrap_or_default();
            let web = w.k.json(&["get", "deployment", "web", "-n", ns]).await?;
            ensure!(generation(&web) == 1, "the first create restarts nothing: {}", web["spec"]["template"]);
            crate::operator::checked_now(w, ns, "db", "quiet").await?;
            let web = w.k.json(&["get", "deployment", "web", "-n", ns]).await?;
            ensure!(generation(&web) == 1, "a quiet check restarts nothing: {}", web["spec"]["template"]);

            w.emulator.store().set_secret(VAULT, "db", "two");
            crate::operator::checked_now(w, ns, "db", "changed").await?;
            let web = w.k.json(&["get", "deployment", "web", "-n", ns]).await?;
            let annotations = &web["spec"]["template"]["metadata"]["annotations"];
            ensure!(
                generation(&web) == 2 && annotations["sse-rs.io/restarted-for"] == "db"
                    && annotations["sse-rs.io/restarted-at"].is_string(),
                "one rolling restart for the new value: {}",
                web["spec"]["template"]
            );
            let events = w.k.json(&["get", "events.events.k8s.io", "-n", ns]).await?;
            ensure!(
                events["items"].as_array().into_iter().flatten().any(|e| e["regarding"]["kind"] == "Deployment"
                    && e["reason"] == "SecretChanged"
                    && e["note"].as_str().is_some_and(|n| n.contains("SecretSync"))),
                "an Event on the Deployment naming the SecretSync"
            );
            crate::operator::checked_now(w, ns, "db", "quiet-again").await?;
            let web = w.k.json(&["get", "deployment", "web", "-n", ns]).await?;
            ensure!(generation(&web) == 2, "still one restart: {}", web["spec"]["template"]);
            reload_fence_refuses_the_manager(w, ns).await
        }
        .await;
        manager.terminate(Duration::from_secs(15)).await?;
        result.with_context(|| format!("log: {}", manager.log.display()))
    })
    .await;
    let _ = w.k.run(&["delete", "-f", &rbac], None).await;
    outcome
}

/// The reload-workloads admission policy, with the manager's reload RBAC in place: as the manager (server-
/// side apply, which needs no read), the three writes a security review asks about are refused by the API
/// server: a new container image on an opted-in Deployment, a restart annotation on a Deployment that never
/// opted in, and `hostNetwork` on the opted-in one. Each leaves the Deployment as it was.
async fn reload_fence_refuses_the_manager(w: &World, ns: &str) -> Result<()> {
    w.k.apply(&format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: bystander, namespace: {ns}}}\nspec:\n  replicas: 1\n  selector: {{matchLabels: {{app: bystander}}}}\n  template:\n    metadata: {{labels: {{app: bystander}}}}\n    spec:\n      containers:\n      - name: app\n        image: registry.k8s.io/pause:3.10\n"
    ))
    .await?;
    let head = |name: &str| {
        format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: {name}, namespace: {ns}}}\nspec:\n  template:\n"
        )
    };
    let attempts = [
        (
            "web",
            "a new image",
            format!(
                "{}    spec:\n      containers:\n      - {{name: app, image: registry.example/evil:1}}\n",
                head("web")
            ),
        ),
        (
            "bystander",
            "a restart of a Deployment that never opted in",
            format!(
                "{}    metadata: {{annotations: {{sse-rs.io/restarted-at: \"2026-12-07T00:00:00Z\"}}}}\n",
                head("bystander")
            ),
        ),
        (
            "web",
            "hostNetwork",
            format!("{}    spec: {{hostNetwork: true}}\n", head("web")),
        ),
    ];
    for (name, what, yaml) in attempts {
        let before = w.k.json(&["get", "deployment", name, "-n", ns]).await?;
        let err = w
            .as_manager
            .apply_as_the_manager_writes(&yaml)
            .await
            .err()
            .with_context(|| format!("the API server let the manager make {what}"))?;
        ensure!(
            format!("{err:#}").contains("secrets-store-sync-controller-reload-workloads-policy"),
            "{what}: {err:#}"
        );
        let after = w.k.json(&["get", "deployment", name, "-n", ns]).await?;
        ensure!(before["spec"] == after["spec"], "{what}: the Deployment changed");
    }
    Ok(())
}

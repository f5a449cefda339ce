//! Tier 3: what ClusterSecretSync's grants (deploy/components/cluster-secret-sync) let the manager do, on a
//! real API server, fenced by the admission policies: delete its Secret only where its ClusterSecretSync no
//! longer selects the namespace (the fan-out policy's leave binding) and no other Secret (the delete
//! policy); add and remove the finalizer sse-rs.io/keep-secrets but change nothing else of the resource; and
//! release a Secret (deletionPolicy: Keep) only while its ClusterSecretSync is being deleted. As the manager's
//! ServiceAccount directly; the helpers are `fanout_fences.rs`'s.

use serde_json::json;

use super::fanout_fences::{
    FANOUT_POLICY, cleaning_up, create_css, css_exists, fanout_secret, labelled_namespace, refused,
};
use super::*;

/// The fan-out policy's binding for deletes, and the policy on the manager's writes to the resource.
const LEAVE_BINDING: &str = "secrets-store-sync-controller-fanout-policy-leave-binding";
const CSS_POLICY: &str = "secrets-store-sync-controller-cluster-secret-sync-policy";

/// The component's two RBAC objects (ClusterRole and its binding), rendered from deploy/overlays/cluster-secret-sync.
pub(crate) async fn component_rbac(w: &World) -> Result<String> {
    let deploy = std::env::var(ENV_DEPLOY).context(ENV_DEPLOY)?;
    let rendered =
        w.k.run(
            &["kustomize", &format!("{deploy}/overlays/cluster-secret-sync")],
            None,
        )
        .await?;
    let docs: Vec<&str> = rendered
        .split("\n---\n")
        .filter(|doc| doc.contains("name: secrets-store-sync-controller-cluster-secret-sync-role"))
        .filter(|doc| doc.contains("kind: ClusterRole\n") || doc.contains("kind: ClusterRoleBinding\n"))
        .collect();
    ensure!(
        docs.len() == 2,
        "the component's ClusterRole and binding: found {}",
        docs.len()
    );
    Ok(docs.join("\n---\n"))
}

/// With deploy/components/cluster-secret-sync's grants (applied for this scenario, removed after): the
/// manager deletes its Secret only once the namespace is no longer selected (the leave binding), and no
/// other Secret; it adds and removes the finalizer sse-rs.io/keep-secrets but changes nothing else of the
/// resource; it releases a Secret only while its ClusterSecretSync is being deleted.
pub async fn fanout_manager_deletes_only_where_not_selected(w: &World, ns: &str) -> Result<()> {
    let rbac = component_rbac(w).await?;
    w.k.apply(&rbac).await.context("the component's RBAC")?;
    let name = ns.to_string();
    let (sel, kept) = (format!("{ns}-sel"), format!("{ns}-keep"));
    let body = async {
        eventually(Duration::from_secs(15), || async {
            let can = w.as_manager.run(&["auth", "can-i", "delete", "secrets", "-n", ns], None).await;
            Ok(can.is_ok_and(|s| s.trim() == "yes").then_some(()))
        })
        .await
        .context("the component's grants never reached the manager")?;
        labelled_namespace(w, &sel, &json!({"team": ns})).await?;
        labelled_namespace(w, &kept, &json!({"team": ns})).await?;
        let uid = create_css(w, &name, &json!({"selector": {"matchLabels": {"team": ns}}})).await?;
        for target in [&sel, &kept] {
            let secret = fanout_secret(target, &name, &uid, "{key: dmFsdWU=}");
            eventually(Duration::from_secs(15), || async {
                w.as_manager.run(&["create", "-f", "-"], Some(&secret)).await.map(Some)
            })
            .await
            .with_context(|| format!("the manager's Secret in {target}"))?;
        }
        let delete = ["delete", "secret", name.as_str(), "-n", sel.as_str(), "--wait=false"];
        let text = refused(&w.as_manager, &delete, None, "a delete where still selected").await?;
        ensure!(text.contains(LEAVE_BINDING) && text.contains("is selected"), "{text}");
        // No Secret but a ClusterSecretSync's, even with `delete` granted.
        w.k.run(&["create", "secret", "generic", "plain", "-n", &sel, "--from-literal=a=b"], None)
            .await?;
        let text = refused(
            &w.as_manager,
            &["delete", "secret", "plain", "-n", &sel, "--wait=false"],
            None,
            "the manager's delete of a plain Secret",
        )
        .await?;
        ensure!(text.contains("secrets-store-sync-controller-delete-policy"), "{text}");

        // Out of the selection: the ownership test (a no-op JSON patch) and then the delete pass.
        w.k.run(&["label", "namespace", &sel, "team-"], None).await?;
        let test = json!([{"op": "test", "path": "/metadata/ownerReferences/0/uid", "value": uid}]);
        eventually(Duration::from_secs(15), || async {
            w.as_manager.json_patch_secret(&sel, &name, &test).await.map(Some)
        })
        .await
        .context("the ownership test where no longer selected")?;
        w.as_manager.run(&delete, None).await.context("the delete where no longer selected")?;

        // The resource: the finalizer only.
        let finalizer = r#"[{"op":"add","path":"/metadata/finalizers","value":["sse-rs.io/keep-secrets"]}]"#;
        let patch = |p: &'static str| ["patch", "clustersecretsync", name.as_str(), "--type=json", "-p", p];
        w.as_manager.run(&patch(finalizer), None).await.context("add the finalizer")?;
        for (what, p) in [
            ("a spec change", r#"[{"op":"replace","path":"/spec/deletionPolicy","value":"Keep"}]"#),
            ("another finalizer", r#"[{"op":"add","path":"/metadata/finalizers/-","value":"example.com/x"}]"#),
            ("a label", r#"[{"op":"add","path":"/metadata/labels","value":{"a":"b"}}]"#),
        ] {
            let text = refused(&w.as_manager, &patch(p), None, &format!("the manager's {what}")).await?;
            ensure!(text.contains(CSS_POLICY), "{what}: {text}");
        }

        // Release (deletionPolicy: Keep): only while the ClusterSecretSync is being deleted.
        let release = json!([
            {"op": "test", "path": "/metadata/ownerReferences/0/uid", "value": uid},
            {"op": "remove", "path": "/metadata/ownerReferences"},
            {"op": "remove", "path": "/metadata/labels/secrets-store.sync.x-k8s.io"},
            {"op": "remove", "path": "/metadata/labels/sse-rs.io~1cluster-secret-sync"},
            {"op": "add", "path": "/metadata/annotations", "value": {"sse-rs.io/released-from": format!("{name}/{uid}")}},
        ]);
        let text = w
            .as_manager
            .json_patch_secret(&kept, &name, &release)
            .await
            .err()
            .context("a release before the deletion was allowed")?;
        let text = format!("{text:#}");
        ensure!(text.contains(FANOUT_POLICY) && text.contains("being deleted"), "{text}");
        w.k.run(&["delete", "clustersecretsync", &name, "--wait=false"], None).await?;
        eventually(Duration::from_secs(15), || async {
            w.as_manager.json_patch_secret(&kept, &name, &release).await.map(Some)
        })
        .await
        .context("the release while the ClusterSecretSync is being deleted")?;
        let released = w.k.json(&["get", "secret", &name, "-n", &kept]).await?;
        ensure!(
            released["metadata"]["labels"].as_object().is_none_or(serde_json::Map::is_empty)
                && released["metadata"]["ownerReferences"].is_null()
                && released["metadata"]["annotations"]["sse-rs.io/released-from"] == format!("{name}/{uid}")
                && released["data"]["key"] == "dmFsdWU=",
            "released: {released}"
        );
        let unfinalize = r#"[{"op":"remove","path":"/metadata/finalizers"}]"#;
        w.as_manager.run(&patch(unfinalize), None).await.context("remove the finalizer")?;
        eventually(Duration::from_secs(15), || async {
            Ok((!css_exists(w, &name).await).then_some(()))
        })
        .await
        .context("the ClusterSecretSync is gone once its finalizer is")?;
        Ok(())
    }
    .await;
    // Whatever happened: the finalizer (else the resource stays), the grants, the rest.
    let _ =
        w.k.run(
            &[
                "patch",
                "clustersecretsync",
                &name,
                "--type=merge",
                "-p",
                r#"{"metadata":{"finalizers":null}}"#,
            ],
            None,
        )
        .await;
    let removed =
        w.k.run(&["delete", "-f", "-", "--ignore-not-found"], Some(&rbac))
            .await;
    let body = body.and_then(|()| removed.map(|_| ()).context("remove the component's RBAC"));
    cleaning_up(w, &[name], &[sel, kept], body).await
}

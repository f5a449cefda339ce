//! Tier 3: the admission fences around ClusterSecretSync (issue 22), on a real API server: only cluster
//! administrators write the resource; the manager writes its Secret only where it selects (the fan-out
//! policy, which agrees with `tests/fixtures/fanout-selection.json`); tenants can neither edit nor forge
//! such a Secret; every other Secret is unaffected. What the opt-in grants add (deletes, the release, the
//! finalizer) is `fanout_leave.rs`. These act as the manager's ServiceAccount directly: the shared manager
//! does not run ClusterSecretSync.

use serde_json::json;

use super::*;

/// The fan-out policy and the tenants' read-only policy (deploy/policies/fanout*.yaml).
pub(super) const FANOUT_POLICY: &str = "secrets-store-sync-controller-fanout-policy";
const READONLY_POLICY: &str = "secrets-store-sync-controller-fanout-readonly-policy";
/// The fan-out policy's refusal where the namespace is not selected.
const NOT_SELECTED: &str = "is not selected or opted out";
/// Namespaces a label selector never reaches, the install namespace among them.
const CONTROL_PLANE: [&str; 4] = ["kube-system", "kube-public", "kube-node-lease", SYSTEM_NS];

/// A ClusterSecretSync `name` with this `namespaces` (JSON is YAML) and one key, `key`.
fn css_yaml(name: &str, namespaces: &Value) -> String {
    format!(
        "apiVersion: sync.sse-rs.io/v1alpha1\nkind: ClusterSecretSync\nmetadata: {{name: \"{name}\"}}\nspec:\n  secretProviderClassName: spc\n  serviceAccountName: {SA}\n  secretObject:\n    type: Opaque\n    data: [{{sourcePath: s, targetKey: key}}]\n  namespaces: {namespaces}\n"
    )
}

/// Create ClusterSecretSync `name` as the cluster admin; its uid.
pub(super) async fn create_css(w: &World, name: &str, namespaces: &Value) -> Result<String> {
    w.k.run(&["create", "-f", "-"], Some(&css_yaml(name, namespaces)))
        .await?;
    let css = w.k.json(&["get", "clustersecretsync", name]).await?;
    Ok(css["metadata"]["uid"]
        .as_str()
        .context("the ClusterSecretSync's uid")?
        .to_string())
}

/// The Secret ClusterSecretSync `name` (uid `uid`) writes into `ns`, as the manager writes it, with `data`
/// (a YAML flow mapping of base64 values).
pub(super) fn fanout_secret(ns: &str, name: &str, uid: &str, data: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: \"{name}\"\n  namespace: \"{ns}\"\n  labels: {{secrets-store.sync.x-k8s.io: \"\", sse-rs.io/cluster-secret-sync: \"{name}\"}}\n  ownerReferences:\n  - {{apiVersion: sync.sse-rs.io/v1alpha1, kind: ClusterSecretSync, name: \"{name}\", uid: \"{uid}\", controller: true}}\ntype: Opaque\ndata: {data}\n"
    )
}

/// Whether ClusterSecretSync `name` exists.
pub(super) async fn css_exists(w: &World, name: &str) -> bool {
    w.k.run(&["get", "clustersecretsync", name], None).await.is_ok()
}

/// A namespace with these labels (the cluster admin's).
pub(super) async fn labelled_namespace(w: &World, name: &str, labels: &Value) -> Result<()> {
    let yaml = format!("apiVersion: v1\nkind: Namespace\nmetadata: {{name: \"{name}\", labels: {labels}}}\n");
    w.k.run(&["create", "-f", "-"], Some(&yaml)).await?;
    Ok(())
}

/// The error of a request that must be refused, as text.
pub(super) async fn refused(k: &Kubectl, args: &[&str], stdin: Option<&str>, what: &str) -> Result<String> {
    let err = k
        .run(args, stdin)
        .await
        .err()
        .with_context(|| format!("{what} was allowed"))?;
    Ok(format!("{err:#}"))
}

/// Run `body`, then delete the ClusterSecretSyncs and namespaces it made (named in `css` and `namespaces`),
/// whatever happened.
pub(super) async fn cleaning_up(
    w: &World,
    css: &[String],
    namespaces: &[String],
    body: Result<()>,
) -> Result<()> {
    for name in css {
        let _ =
            w.k.run(&["delete", "clustersecretsync", name, "--wait=false"], None)
                .await;
    }
    for ns in namespaces {
        let _ = w.k.run(&["delete", "namespace", ns, "--wait=false"], None).await;
    }
    body
}

/// Only cluster administrators write ClusterSecretSyncs: a namespace admin can neither create, change nor
/// delete one, and cannot even read one (the viewer role is not aggregated to `admin`).
pub async fn fanout_namespace_admin_cannot_create_or_edit_a_cluster_secret_sync(
    w: &World,
    ns: &str,
) -> Result<()> {
    let tenant = w.as_namespace_admin(ns, "tenant").await?;
    let name = ns.to_string();
    let other = format!("{ns}-t");
    let body = async {
        create_css(w, &name, &json!({"names": [ns]})).await?;
        let forbidden = |text: &str| text.contains("Forbidden") || text.contains("forbidden");
        let own = css_yaml(&other, &json!({"names": [ns]}));
        let merge = r#"{"spec":{"deletionPolicy":"Keep","namespaces":{"selector":{}}}}"#;
        for (what, args, stdin) in [
            ("create", vec!["create", "-f", "-"], Some(own.as_str())),
            (
                "patch",
                vec!["patch", "clustersecretsync", &name, "--type=merge", "-p", merge],
                None,
            ),
            (
                "delete",
                vec!["delete", "clustersecretsync", &name, "--wait=false"],
                None,
            ),
            ("get", vec!["get", "clustersecretsync", &name], None),
        ] {
            let text = refused(&tenant, &args, stdin, &format!("a namespace admin's {what}")).await?;
            ensure!(forbidden(&text), "{what}: {text}");
        }
        let css = w.k.json(&["get", "clustersecretsync", &name]).await?;
        ensure!(css["spec"]["deletionPolicy"] == "Delete", "unchanged: {css}");
        ensure!(
            !css_exists(w, &other).await,
            "the tenant's ClusterSecretSync exists"
        );
        Ok(())
    }
    .await;
    cleaning_up(w, &[name, other], &[], body).await
}

/// The manager writes a ClusterSecretSync's Secret only where it selects: in a selected namespace yes; in
/// one it does not select, one opted out (though listed by name) and `kube-public` (matched by no
/// selector, not listed) no. And only the Secret it describes: not with another uid as owner, nor another
/// key.
pub async fn fanout_manager_refused_outside_the_selection(w: &World, ns: &str) -> Result<()> {
    let name = ns.to_string();
    let (sel, unselected, opted) = (format!("{ns}-sel"), format!("{ns}-uns"), format!("{ns}-opt"));
    let body = async {
        labelled_namespace(w, &sel, &json!({"team": ns})).await?;
        labelled_namespace(w, &unselected, &json!({})).await?;
        labelled_namespace(
            w,
            &opted,
            &json!({"team": ns, "sse-rs.io/cluster-secret-sync-opt-out": "true"}),
        )
        .await?;
        let uid = create_css(
            w,
            &name,
            &json!({"names": [opted], "selector": {"matchLabels": {"team": ns}}}),
        )
        .await?;
        // Dry runs (admission runs, nothing is stored), but for the one Secret that must be written.
        let dry_run = ["create", "--dry-run=server", "-f", "-"];
        let good = |target: &str| fanout_secret(target, &name, &uid, "{key: dmFsdWU=}");
        // The wrong owner and an extra key first: the refusal of the wrong owner also shows that the API
        // server's parameter cache has the ClusterSecretSync (before, a write naming it passes).
        let wrong_uid = fanout_secret(
            &sel,
            &name,
            "00000000-0000-0000-0000-000000000000",
            "{key: dmFsdWU=}",
        );
        let text = eventually(Duration::from_secs(15), || async {
            let text = refused(&w.as_manager, &dry_run, Some(&wrong_uid), "the wrong owner uid").await?;
            Ok(text.contains("its uid as owner").then_some(text))
        })
        .await?;
        ensure!(text.contains(FANOUT_POLICY), "{text}");
        let extra_key = fanout_secret(&sel, &name, &uid, "{key: dmFsdWU=, other: dmFsdWU=}");
        let text = refused(
            &w.as_manager,
            &dry_run,
            Some(&extra_key),
            "a key the ClusterSecretSync lacks",
        )
        .await?;
        ensure!(
            text.contains(FANOUT_POLICY) && text.contains("its keys"),
            "{text}"
        );
        w.as_manager
            .run(&["create", "-f", "-"], Some(&good(&sel)))
            .await
            .context("the manager's Secret in a selected namespace")?;
        for target in [unselected.as_str(), opted.as_str(), "kube-public"] {
            let text = refused(
                &w.as_manager,
                &dry_run,
                Some(&good(target)),
                &format!("the manager's Secret in {target}"),
            )
            .await?;
            ensure!(
                text.contains(FANOUT_POLICY) && text.contains(NOT_SELECTED),
                "{target}: {text}"
            );
        }
        Ok(())
    }
    .await;
    cleaning_up(w, &[name], &[sel, unselected, opted], body).await
}

/// A namespace admin can neither edit (strip the label, change the data) nor forge a ClusterSecretSync's
/// Secret; deleting it stays allowed.
pub async fn fanout_tenant_cannot_edit_or_forge_a_fanout_secret(w: &World, ns: &str) -> Result<()> {
    let tenant = w.as_namespace_admin(ns, "tenant").await?;
    let name = ns.to_string();
    let body = async {
        let uid = create_css(w, &name, &json!({"names": [ns]})).await?;
        let secret = fanout_secret(ns, &name, &uid, "{key: dmFsdWU=}");
        eventually(Duration::from_secs(15), || async {
            w.as_manager.run(&["create", "-f", "-"], Some(&secret)).await.map(Some)
        })
        .await
        .context("the manager's Secret in a listed namespace")?;
        let data = r#"{"data":{"key":"dGVuYW50"}}"#;
        for (what, args) in [
            (
                "strip the label",
                vec!["label", "secret", &name, "-n", ns, "sse-rs.io/cluster-secret-sync-"],
            ),
            (
                "change the data",
                vec!["patch", "secret", &name, "-n", ns, "--type=merge", "-p", data],
            ),
        ] {
            let text = refused(&tenant, &args, None, &format!("a tenant's attempt to {what}")).await?;
            ensure!(text.contains(READONLY_POLICY), "{what}: {text}");
        }
        let forged = format!(
            "apiVersion: v1\nkind: Secret\nmetadata: {{name: forged, namespace: \"{ns}\", labels: {{sse-rs.io/cluster-secret-sync: \"{name}\"}}}}\ndata: {{key: dmFsdWU=}}\n"
        );
        let text = refused(&tenant, &["create", "-f", "-"], Some(&forged), "a forged fan-out Secret").await?;
        ensure!(text.contains(READONLY_POLICY), "forged: {text}");
        let after = secret_data(w, ns, &name).await?;
        ensure!(after.get("key") == Some(&Value::from("value")), "{after:?}");
        tenant
            .run(&["delete", "secret", &name, "-n", ns], None)
            .await
            .context("a tenant deletes a fan-out Secret")?;
        Ok(())
    }
    .await;
    cleaning_up(w, &[name], &[], body).await
}

/// Secrets without the fan-out label are as before: a namespace admin and the cluster admin create, update
/// and delete them; the manager writes a SecretSync's Secret and may not delete it.
pub async fn fanout_no_cluster_secret_sync_no_other_secret_affected(w: &World, ns: &str) -> Result<()> {
    let tenant = w.as_namespace_admin(ns, "tenant").await?;
    for (who, k) in [("tenant", &tenant), ("admin", &w.k)] {
        let name = format!("plain-{who}");
        k.run(
            &[
                "create",
                "secret",
                "generic",
                &name,
                "-n",
                ns,
                "--from-literal=a=b",
            ],
            None,
        )
        .await
        .with_context(|| format!("{who}: create"))?;
        k.run(&["label", "secret", &name, "-n", ns, "app=x"], None)
            .await
            .with_context(|| format!("{who}: label"))?;
        k.run(
            &[
                "patch",
                "secret",
                &name,
                "-n",
                ns,
                "--type=merge",
                "-p",
                r#"{"data":{"a":"Yw=="}}"#,
            ],
            None,
        )
        .await
        .with_context(|| format!("{who}: patch"))?;
        k.run(&["delete", "secret", &name, "-n", ns], None)
            .await
            .with_context(|| format!("{who}: delete"))?;
    }
    // The manager's SecretSync Secret, as before: written with its one SecretSync owner, never deleted. With
    // the fan-out label it would skip nothing (the label routes it to the fan-out fence): refused.
    w.k.apply(&sync_yaml(ns, "plain", "no-class", "Opaque", &[("s", "key")], ""))
        .await?;
    let sync = w.k.json(&["get", "secretsync", "plain", "-n", ns]).await?;
    let uid = sync["metadata"]["uid"].as_str().context("uid")?;
    let owned = |labels: &str| {
        format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: plain\n  namespace: \"{ns}\"\n  labels: {{secrets-store.sync.x-k8s.io: \"\"{labels}}}\n  ownerReferences:\n  - {{apiVersion: secret-sync.x-k8s.io/v1alpha1, kind: SecretSync, name: plain, uid: \"{uid}\"}}\ntype: Opaque\ndata: {{key: dmFsdWU=}}\n"
        )
    };
    let text = refused(
        &w.as_manager,
        &["create", "--dry-run=server", "-f", "-"],
        Some(&owned(", sse-rs.io/cluster-secret-sync: plain")),
        "a SecretSync's Secret with the fan-out label",
    )
    .await?;
    ensure!(
        text.contains("secrets-store-sync-controller-create-update-policy") || text.contains(FANOUT_POLICY),
        "{text}"
    );
    w.as_manager
        .apply_as_the_manager_writes(&owned(""))
        .await
        .context("the manager's SecretSync Secret")?;
    let text = refused(
        &w.as_manager,
        &["delete", "secret", "plain", "-n", ns, "--wait=false"],
        None,
        "the manager's delete of a SecretSync's Secret",
    )
    .await?;
    // RBAC refuses first here; with deploy/components/cluster-secret-sync's `delete`, the delete policy
    // does (fanout_leave.rs).
    ensure!(text.contains("Forbidden") || text.contains("forbidden"), "{text}");
    Ok(())
}

/// A row of `tests/fixtures/fanout-selection.json`.
struct Row {
    name: String,
    namespaces: Value,
    namespace: String,
    labels: serde_json::Map<String, Value>,
    selected: bool,
}

fn selection_table() -> Result<Vec<Row>> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/fanout-selection.json");
    let rows: Vec<Value> = serde_json::from_str(&std::fs::read_to_string(&path)?)?;
    rows.into_iter()
        .map(|r| {
            Ok(Row {
                name: r["name"].as_str().context("name")?.to_string(),
                namespaces: r["namespaces"].clone(),
                namespace: r["namespace"]["name"].as_str().context("namespace")?.to_string(),
                labels: r["namespace"]["labels"].as_object().cloned().unwrap_or_default(),
                selected: r["selected"].as_bool().context("selected")?,
            })
        })
        .collect()
}

/// The fan-out policy selects exactly as the table the manager's `select.rs` is tested against: for every
/// row, the manager's (dry-run) write of the right Secret is allowed if and only if the row says selected.
/// A namespace of the table becomes a fresh one with the row's labels (and the row's `names` follow it);
/// a control-plane namespace is the real one, and its row runs only if the real namespace has its labels.
pub async fn fanout_policy_agrees_with_the_selection_table(w: &World, ns: &str) -> Result<()> {
    let rows = selection_table()?;
    let (mut made_css, mut made_ns, mut skipped, mut ran) = (Vec::new(), Vec::new(), Vec::new(), 0);
    let body = async {
        for (i, row) in rows.iter().enumerate() {
            let map = |n: &str| {
                if CONTROL_PLANE.contains(&n) {
                    n.to_string()
                } else {
                    format!("{ns}-{i}-{n}")
                }
            };
            let target = map(&row.namespace);
            ensure!(target.len() <= 63, "{target}: too long for a namespace");
            if CONTROL_PLANE.contains(&row.namespace.as_str()) {
                let real = w.k.json(&["get", "namespace", &target]).await?;
                if !row
                    .labels
                    .iter()
                    .all(|(k, v)| real["metadata"]["labels"][k] == *v)
                {
                    skipped.push(row.name.clone());
                    continue;
                }
            } else {
                labelled_namespace(w, &target, &Value::Object(row.labels.clone())).await?;
                made_ns.push(target.clone());
            }
            let mut namespaces = row.namespaces.clone();
            if let Some(names) = namespaces.get_mut("names").and_then(Value::as_array_mut) {
                for n in names.iter_mut() {
                    *n = Value::from(map(n.as_str().unwrap_or_default()));
                }
            }
            let name = format!("{ns}-{i}");
            let uid = create_css(w, &name, &namespaces).await?;
            made_css.push(name.clone());
            let dry_run = ["create", "--dry-run=server", "-f", "-"];
            // Once the wrong owner is refused, the API server's caches have this ClusterSecretSync and the
            // namespace: the verdict on the right Secret is then the selection's alone.
            let wrong = fanout_secret(
                &target,
                &name,
                "00000000-0000-0000-0000-000000000000",
                "{key: dmFsdWU=}",
            );
            eventually(Duration::from_secs(15), || async {
                let text = refused(&w.as_manager, &dry_run, Some(&wrong), "the wrong owner uid").await?;
                Ok((text.contains("its uid as owner") || text.contains(NOT_SELECTED)).then_some(()))
            })
            .await
            .with_context(|| format!("row {}: the fan-out policy never judged it", row.name))?;
            let good = fanout_secret(&target, &name, &uid, "{key: dmFsdWU=}");
            match w.as_manager.run(&dry_run, Some(&good)).await {
                Ok(_) => ensure!(
                    row.selected,
                    "row {}: allowed, the table says not selected",
                    row.name
                ),
                Err(e) => {
                    let text = format!("{e:#}");
                    ensure!(
                        !row.selected && text.contains(NOT_SELECTED),
                        "row {}: refused ({text}), the table says selected={}",
                        row.name,
                        row.selected
                    );
                }
            }
            ran += 1;
        }
        Ok(())
    }
    .await;
    println!(
        "fanout selection table: {ran} of {} rows agree, skipped {skipped:?}",
        rows.len()
    );
    let body = body.and_then(|()| {
        ensure!(ran + skipped.len() == rows.len() && ran >= 16, "{ran} rows ran");
        Ok(())
    });
    cleaning_up(w, &made_css, &made_ns, body).await
}

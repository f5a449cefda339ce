//! Tier 3: adoption — a Secret its editor marked for it is taken over by the SecretSync of the same name,
//! through `kubectl sse adopt` where the API server lets nobody else set the owner reference.

use super::*;
use crate::operator::operator;

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

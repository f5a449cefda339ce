//! Tier 3: what an operator does when a secret is stale (issue 10): the `sse-rs.io/force-sync` annotation
//! and the `kubectl sse` plugin (`status`, `sync`, `doctor`), found on the PATH by the real kubectl. Other
//! scenarios act as the namespace's editor with [`operator`] and force a check with [`checked_now`].

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
/// authenticated by a token. (The suite's admin, with its client certificate: the next scenario.)
pub async fn kubectl_sse_status_and_sync(w: &World, ns: &str) -> Result<()> {
    let operator = operator(w, ns).await?;
    let result = sse_as(w, &operator, ns).await;
    let _ = std::fs::remove_file(&operator.kubeconfig);
    result
}

/// `kubectl sse` where `kubectl get` works: as the suite's cluster admin, whose kubeconfig holds a client
/// certificate. On the local control plane (`realk8s`) that certificate is X.509 **v1**, as `openssl x509
/// -req` makes it without an extensions file: kube's own TLS stack refused it before a byte was sent
/// (`UnsupportedCertVersion`); `sse_runtime::kube_client` sends it, and the API server accepts it.
pub async fn kubectl_sse_as_the_admin_with_its_client_certificate(w: &World, ns: &str) -> Result<()> {
    let version = admin_certificate_version(&w.k.kubeconfig);
    w.vault_class(ns, "app", "before").await?;
    daily_sync(w, ns, "app", "spc").await?;
    wait_reason(w, ns, "app", "Create", "CreateSucceeded").await?;
    let (code, table, err) = w.k.output(&["sse", "status", "-n", ns], None).await?;
    ensure!(
        code == Some(0),
        "kubectl sse status as the admin ({version}): {code:?} {err}"
    );
    ensure!(
        table.lines().any(|l| l.split_whitespace().next() == Some("app")),
        "{table}"
    );
    let (code, _, err) = w.k.output(&["sse", "sync", "app", "-n", ns], None).await?;
    ensure!(
        code == Some(0),
        "kubectl sse sync as the admin ({version}): {code:?} {err}"
    );
    println!("figure: kubectl sse status and sync as the admin, client certificate {version}");
    Ok(())
}

/// "X.509 v1" or "X.509 v3": the version of the client certificate in `kubeconfig` (inline or a file).
fn admin_certificate_version(kubeconfig: &std::path::Path) -> String {
    let text = std::fs::read_to_string(kubeconfig).unwrap_or_default();
    let config: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).unwrap_or_default();
    let user = &config["users"][0]["user"];
    let pem = match (
        user["client-certificate-data"].as_str(),
        user["client-certificate"].as_str(),
    ) {
        (Some(data), _) => {
            use base64::Engine as _;
            base64::engine::general_purpose::STANDARD
                .decode(data)
                .unwrap_or_default()
        }
        (None, Some(path)) => std::fs::read(path).unwrap_or_default(),
        _ => return "none (not a certificate user)".into(),
    };
    let der = rustls_pki_types::pem::PemObject::from_pem_slice(&pem)
        .map(|c: rustls_pki_types::CertificateDer<'_>| c.to_vec())
        .unwrap_or_default();
    match x509_parser::parse_x509_certificate(&der) {
        Ok((_, cert)) => format!("X.509 v{}", cert.version().0 + 1),
        Err(_) => "unreadable".into(),
    }
}

/// kubectl as an editor of `ns` (the built-in `edit` role), authenticated by a token.
pub(crate) async fn operator(w: &World, ns: &str) -> Result<Kubectl> {
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

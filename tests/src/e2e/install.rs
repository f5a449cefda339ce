//! The cluster side, set up as a user would: `deploy/` installed (CRDs, RBAC, admission policies; no pods),
//! the manager container's environment, and kubeconfigs that authenticate as a ServiceAccount.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::{Kubectl, MANAGER_SA, SYSTEM_NS};

/// The `env` entries with a literal `value` of the manager container in `deploy/base/deployment.yaml`: the
/// binary runs here as it runs in the pod (the Downward API and ConfigMap ones are flags here).
pub(super) fn manager_env(deploy: &Path) -> Result<Vec<(String, String)>> {
    let path = deploy.join("base/deployment.yaml");
    let deployment: k8s_openapi::api::apps::v1::Deployment =
        serde_yaml_ng::from_str(&std::fs::read_to_string(&path)?)
            .with_context(|| path.display().to_string())?;
    let containers = deployment
        .spec
        .and_then(|s| s.template.spec)
        .map(|s| s.containers)
        .unwrap_or_default();
    let manager = containers
        .into_iter()
        .find(|c| c.name == "manager")
        .context("no manager container in deploy/base/deployment.yaml")?;
    Ok(manager
        .env
        .unwrap_or_default()
        .into_iter()
        .filter_map(|e| Some((e.name, e.value?)))
        .collect())
}

/// Install CRDs, RBAC and admission policies from `deploy` as a user would (pods never start here).
pub(super) async fn install(k: &Kubectl, deploy: &Path) -> Result<()> {
    let rendered = k
        .run(
            &["kustomize", &deploy.join("default").display().to_string()],
            None,
        )
        .await?;
    let install: Vec<&str> = rendered
        .split("\n---\n")
        .filter(|doc| {
            let kind = doc
                .lines()
                .find_map(|l| l.strip_prefix("kind: "))
                .unwrap_or_default()
                .trim();
            !matches!(
                kind,
                "Deployment" | "Certificate" | "Issuer" | "ClusterIssuer" | "Bundle"
            )
        })
        .collect();
    k.apply(&install.join("\n---\n"))
        .await
        .context("install deploy/")?;
    k.run(
        &[
            "wait",
            "--for=condition=Established",
            "--timeout=60s",
            "crd/secretsyncs.secret-sync.x-k8s.io",
            "crd/secretproviderclasses.secrets-store.csi.x-k8s.io",
            "crd/clustersecretsyncs.sync.sse-rs.io",
        ],
        None,
    )
    .await?;
    Ok(())
}

/// A kubeconfig authenticating as the manager's ServiceAccount (a TokenRequest, as in the pod).
pub(super) async fn manager_kubeconfig(k: &Kubectl, dir: &Path) -> Result<PathBuf> {
    token_kubeconfig(k, &dir.join("manager.kubeconfig"), SYSTEM_NS, MANAGER_SA).await
}

/// A kubeconfig at `path` that authenticates as ServiceAccount `namespace/service_account` with a token
/// (TokenRequest, two hours), for the admin kubeconfig's cluster.
pub async fn token_kubeconfig(
    k: &Kubectl,
    path: &Path,
    namespace: &str,
    service_account: &str,
) -> Result<PathBuf> {
    let token = k
        .run(
            &[
                "create",
                "token",
                service_account,
                "-n",
                namespace,
                "--duration=7200s",
            ],
            None,
        )
        .await?;
    let admin = k
        .json(&["config", "view", "--raw", "--minify", "--flatten"])
        .await?;
    let cluster = &admin["clusters"][0]["cluster"];
    let server_url = cluster["server"].as_str().context("server in kubeconfig")?;
    let ca_line = match cluster["certificate-authority-data"].as_str() {
        Some(data) => format!("certificate-authority-data: {data}"),
        None => match cluster["certificate-authority"].as_str() {
            Some(file) => format!("certificate-authority: {file}"),
            None => "insecure-skip-tls-verify: true".into(),
        },
    };
    std::fs::write(
        path,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: {server_url}\n    {ca_line}\nusers:\n- name: manager\n  user:\n    token: {}\ncontexts:\n- name: c\n  context: {{cluster: c, user: manager}}\ncurrent-context: c\n",
            token.trim()
        ),
    )?;
    Ok(path.to_path_buf())
}

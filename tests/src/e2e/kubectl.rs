//! What the scenarios ask of the cluster: kubectl, waiting on conditions, reading Secrets and the API
//! server's request counts, the SecretSync YAML.

use std::future::Future;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::Value;

use super::{SA, World};

/// kubectl against one kubeconfig.
#[derive(Clone)]
pub struct Kubectl {
    pub kubeconfig: PathBuf,
}

impl Kubectl {
    pub async fn run(&self, args: &[&str], stdin: Option<&str>) -> Result<String> {
        let (code, stdout, stderr) = self.output(args, stdin).await?;
        if code != Some(0) {
            bail!("kubectl {}: {}", args.join(" "), stderr.trim());
        }
        Ok(stdout)
    }

    /// Run kubectl and return its exit code (`None`: killed by a signal), stdout and stderr.
    pub async fn output(&self, args: &[&str], stdin: Option<&str>) -> Result<(Option<i32>, String, String)> {
        let mut cmd = tokio::process::Command::new("kubectl");
        cmd.env("KUBECONFIG", &self.kubeconfig)
            .args(args)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd.spawn().context("run kubectl")?;
        if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
            use tokio::io::AsyncWriteExt;
            pipe.write_all(input.as_bytes()).await?;
        }
        let limit = super::scaled(Duration::from_secs(120));
        let out = tokio::time::timeout(limit, child.wait_with_output())
            .await
            .with_context(|| format!("kubectl {} did not finish within {limit:?}", args.join(" ")))??;
        Ok((
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        ))
    }

    pub async fn apply(&self, yaml: &str) -> Result<String> {
        self.run(&["apply", "-f", "-"], Some(yaml)).await
    }

    /// A forced server-side apply under the manager's field manager: how the manager writes (no read
    /// first, which its RBAC would forbid), so that only admission can refuse it.
    pub async fn apply_as_the_manager_writes(&self, yaml: &str) -> Result<String> {
        let args = [
            "apply",
            "--server-side",
            "--force-conflicts",
            "--field-manager=secrets-store-sync-controller",
            "-f",
            "-",
        ];
        self.run(&args, Some(yaml)).await
    }

    pub async fn json(&self, args: &[&str]) -> Result<Value> {
        let mut full = args.to_vec();
        full.extend(["-o", "json"]);
        Ok(serde_json::from_str(&self.run(&full, None).await?)?)
    }

    /// A JSON patch of Secret `ns/name` as the manager sends one: straight to the API server, no GET first
    /// (`kubectl patch` reads the object before it patches, which the manager's RBAC rightly forbids).
    pub async fn json_patch_secret(&self, ns: &str, name: &str, ops: &Value) -> Result<()> {
        use kube::api::{Api, Patch, PatchParams};
        let kubeconfig = kube::config::Kubeconfig::read_from(&self.kubeconfig)?;
        let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default()).await?;
        let secrets: Api<k8s_openapi::api::core::v1::Secret> =
            Api::namespaced(kube::Client::try_from(config)?, ns);
        let patch = Patch::<()>::Json(serde_json::from_value(ops.clone())?);
        secrets
            .patch(name, &PatchParams::default(), &patch)
            .await
            .with_context(|| format!("JSON patch of Secret {ns}/{name}"))?;
        Ok(())
    }

    pub async fn exists(&self, kind: &str, ns: &str, name: &str) -> bool {
        self.run(&["get", kind, name, "-n", ns], None).await.is_ok()
    }
}

/// A SecretSync of the suite's ServiceAccount. Names are quoted: YAML 1.1 reads `off`, `no`, `yes`… as
/// booleans.
pub fn sync_yaml(ns: &str, name: &str, spc: &str, type_: &str, data: &[(&str, &str)], extra: &str) -> String {
    let items: String = data
        .iter()
        .map(|(s, t)| format!("    - {{sourcePath: \"{s}\", targetKey: \"{t}\"}}\n"))
        .collect();
    format!(
        "apiVersion: secret-sync.x-k8s.io/v1alpha1\nkind: SecretSync\nmetadata: {{name: \"{name}\", namespace: \"{ns}\"}}\nspec:\n  serviceAccountName: {SA}\n  secretProviderClassName: \"{spc}\"\n{extra}  secretObject:\n    type: {type_}\n    data:\n{items}"
    )
}

/// Poll `check` every second until it returns `Ok(Some(_))` or `timeout` passes (the controller under test
/// is an external process: there is no signal to wait on but the API).
pub async fn eventually<T, F, Fut>(timeout: Duration, mut check: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<T>>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        let last = match check().await {
            Ok(Some(v)) => return Ok(v),
            Ok(None) => "condition not met yet".to_string(),
            Err(e) => format!("{e:#}"),
        };
        if Instant::now() > deadline {
            bail!("timed out after {timeout:?}: {last}");
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Condition `type_` of a SecretSync object: (status, reason, message).
pub fn condition(ss: &Value, type_: &str) -> Option<(String, String, String)> {
    ss["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["type"] == type_)
        .map(|c| {
            let s = |k: &str| c[k].as_str().unwrap_or_default().to_string();
            (s("status"), s("reason"), s("message"))
        })
}

/// Wait for condition `type_` of the SecretSync to have `reason`; returns (status, message).
pub async fn wait_reason(
    w: &World,
    ns: &str,
    name: &str,
    type_: &str,
    reason: &str,
) -> Result<(String, String)> {
    eventually(Duration::from_secs(90), || async {
        let ss = w.k.json(&["get", "secretsync", name, "-n", ns]).await?;
        Ok(condition(&ss, type_)
            .filter(|(_, r, _)| r == reason)
            .map(|(s, _, m)| (s, m)))
    })
    .await
    .with_context(|| format!("SecretSync {ns}/{name}: {type_} never became {reason}"))
}

/// The Secret's data, decoded.
pub async fn secret_data(w: &World, ns: &str, name: &str) -> Result<serde_json::Map<String, Value>> {
    use base64::Engine;
    let secret = w.k.json(&["get", "secret", name, "-n", ns]).await?;
    let mut out = serde_json::Map::new();
    for (k, v) in secret["data"].as_object().cloned().unwrap_or_default() {
        let bytes = base64::engine::general_purpose::STANDARD.decode(v.as_str().unwrap_or_default())?;
        out.insert(k, Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    }
    Ok(out)
}

/// Names of the SecretSyncs in `ns` whose `Ready` condition is True.
pub async fn ready_syncs(w: &World, ns: &str) -> Result<Vec<String>> {
    let list = w.k.json(&["get", "secretsyncs", "-n", ns]).await?;
    Ok(list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|ss| condition(ss, "Ready").is_some_and(|(s, _, _)| s == "True"))
        .filter_map(|ss| ss["metadata"]["name"].as_str().map(str::to_string))
        .collect())
}

/// The API server's count of requests by verb and resource (from its `/metrics`), for "what did the
/// manager send" figures.
pub async fn apiserver_requests(w: &World, verb: &str, resource: &str) -> Result<u64> {
    let text = w.k.run(&["get", "--raw", "/metrics"], None).await?;
    let mut total = 0u64;
    for line in text.lines().filter(|l| l.starts_with("apiserver_request_total{")) {
        let has = |k: &str, v: &str| line.contains(&format!("{k}=\"{v}\""));
        if has("verb", verb) && has("resource", resource) {
            let value = line.rsplit(' ').next().unwrap_or("0");
            total += value.parse::<f64>().map_or(0, |v| v as u64);
        }
    }
    Ok(total)
}

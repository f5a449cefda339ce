//! `cargo xtask e2e`: the real-cluster suite (TESTING.md tier 3).
//!
//! Needs `SSE_E2E_KUBECONFIG` (an admin kubeconfig); without it prints
//! `skipped: no cluster (set SSE_E2E_KUBECONFIG)` and exits 0. Nothing else is assumed about the cluster:
//! pods never start, so the suite installs `deploy/` the way a user would (CRDs, RBAC, admission policies;
//! not the Deployment or cert-manager objects) and runs the built binaries as local processes:
//! `provider-azure` (mTLS, talking to the Key Vault emulator) and `manager`, authenticated as its own
//! ServiceAccount through a TokenRequest kubeconfig, so RBAC and the admission policies apply to it.
//! Each scenario gets its own namespace and removes it. One line per scenario, then `N passed, N failed`.
#![allow(clippy::print_stdout, reason = "the suite reports one line per scenario")]

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use keyvault_emulator::{Config, Emulator, FederatedCredential};
use serde_json::Value;
use sse_tls::pki::{TestCa, Usage};

const SYSTEM_NS: &str = "azure-secret-store";
const MANAGER_SA: &str = "secrets-store-sync-controller-manager";
const TENANT: &str = "00000000-0000-0000-0000-000000000001";
const CLIENT_ID: &str = "e2e-client";
const AUDIENCE: &str = "api://AzureADTokenExchange";
const VAULT: &str = "e2e-kv";
const SA: &str = "app-sa";

pub fn run(root: &Path) -> Result<()> {
    let Some(kubeconfig) = std::env::var_os("SSE_E2E_KUBECONFIG") else {
        println!("skipped: no cluster (set SSE_E2E_KUBECONFIG)");
        return Ok(());
    };
    let status = std::process::Command::new(env!("CARGO"))
        .current_dir(root)
        .args([
            "build",
            "--locked",
            "--quiet",
            "-p",
            "provider-azure",
            "-p",
            "manager",
            "--bins",
        ])
        .status()?;
    ensure!(status.success(), "build failed");
    let failed = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(suite(root, PathBuf::from(kubeconfig)))?;
    if failed > 0 {
        std::process::exit(1);
    }
    Ok(())
}

/// kubectl against the admin kubeconfig.
#[derive(Clone)]
struct Kubectl {
    kubeconfig: PathBuf,
}

impl Kubectl {
    async fn run(&self, args: &[&str], stdin: Option<&str>) -> Result<String> {
        let mut cmd = tokio::process::Command::new("kubectl");
        cmd.env("KUBECONFIG", &self.kubeconfig)
            .args(args)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().context("run kubectl")?;
        if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
            use tokio::io::AsyncWriteExt;
            pipe.write_all(input.as_bytes()).await?;
        }
        let out = child.wait_with_output().await?;
        if !out.status.success() {
            bail!(
                "kubectl {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    async fn apply(&self, yaml: &str) -> Result<String> {
        self.run(&["apply", "-f", "-"], Some(yaml)).await
    }

    async fn json(&self, args: &[&str]) -> Result<Value> {
        let mut full = args.to_vec();
        full.extend(["-o", "json"]);
        Ok(serde_json::from_str(&self.run(&full, None).await?)?)
    }

    async fn exists(&self, kind: &str, ns: &str, name: &str) -> bool {
        self.run(&["get", kind, name, "-n", ns], None).await.is_ok()
    }
}

struct World {
    k: Kubectl,
    /// kubectl authenticated as the manager's ServiceAccount.
    as_manager: Kubectl,
    emulator: Emulator,
    issuer: String,
    env_file: PathBuf,
}

impl World {
    /// A fresh namespace with the app ServiceAccount and its federated credential.
    async fn namespace(&self, scenario: &str) -> Result<String> {
        let ns = format!("sse-e2e-{scenario}-{}", std::process::id() % 100_000);
        self.k.run(&["create", "namespace", &ns], None).await?;
        self.k
            .run(&["create", "serviceaccount", SA, "-n", &ns], None)
            .await?;
        self.emulator.entra().add_federated_credential(
            TENANT,
            CLIENT_ID,
            FederatedCredential {
                issuer: self.issuer.clone(),
                subject: format!("system:serviceaccount:{ns}:{SA}"),
                audience: AUDIENCE.into(),
            },
        );
        Ok(ns)
    }

    /// `object` = `value` in the vault, and SecretProviderClass `spc` in `ns` fetching just that secret.
    async fn vault_class(&self, ns: &str, object: &str, value: &str) -> Result<()> {
        self.emulator.store().set_secret(VAULT, object, value);
        self.k
            .apply(&self.spc(
                ns,
                "spc",
                "azure",
                &[&format!("objectName: {object}\nobjectType: secret")],
            ))
            .await?;
        Ok(())
    }

    fn spc(&self, ns: &str, name: &str, provider: &str, objects: &[&str]) -> String {
        let mut entries = String::new();
        for o in objects {
            entries.push_str("        - |\n");
            for line in o.lines() {
                entries.push_str(&format!("          {line}\n"));
            }
        }
        format!(
            "apiVersion: secrets-store.csi.x-k8s.io/v1\nkind: SecretProviderClass\nmetadata: {{name: {name}, namespace: {ns}}}\nspec:\n  provider: {provider}\n  parameters:\n    clientID: \"{CLIENT_ID}\"\n    keyvaultName: {VAULT}\n    tenantId: \"{TENANT}\"\n    cloudName: AzureStackCloud\n    cloudEnvFileName: {env}\n    objects: |\n      array:\n{entries}",
            env = self.env_file.display()
        )
    }
}

fn sync_yaml(ns: &str, name: &str, spc: &str, type_: &str, data: &[(&str, &str)], extra: &str) -> String {
    let items: String = data
        .iter()
        .map(|(s, t)| format!("    - {{sourcePath: \"{s}\", targetKey: \"{t}\"}}\n"))
        .collect();
    format!(
        "apiVersion: secret-sync.x-k8s.io/v1alpha1\nkind: SecretSync\nmetadata: {{name: {name}, namespace: {ns}}}\nspec:\n  serviceAccountName: {SA}\n  secretProviderClassName: {spc}\n{extra}  secretObject:\n    type: {type_}\n    data:\n{items}"
    )
}

/// Poll `check` every second until it returns `Ok(Some(_))` or `timeout` passes (the controller under test
/// is an external process: there is no signal to wait on but the API).
async fn eventually<T, F, Fut>(timeout: Duration, mut check: F) -> Result<T>
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

/// Wait for condition `type_` of the SecretSync to have `reason`; returns (status, message).
async fn wait_reason(w: &World, ns: &str, name: &str, type_: &str, reason: &str) -> Result<(String, String)> {
    eventually(Duration::from_secs(90), || async {
        let ss = w.k.json(&["get", "secretsync", name, "-n", ns]).await?;
        let found = ss["status"]["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| c["type"] == type_ && c["reason"] == reason)
            .map(|c| {
                (
                    c["status"].as_str().unwrap_or_default().to_string(),
                    c["message"].as_str().unwrap_or_default().to_string(),
                )
            });
        Ok(found)
    })
    .await
}

async fn secret_data(w: &World, ns: &str, name: &str) -> Result<serde_json::Map<String, Value>> {
    use base64::Engine;
    let secret = w.k.json(&["get", "secret", name, "-n", ns]).await?;
    let mut out = serde_json::Map::new();
    for (k, v) in secret["data"].as_object().cloned().unwrap_or_default() {
        let bytes = base64::engine::general_purpose::STANDARD.decode(v.as_str().unwrap_or_default())?;
        out.insert(k, Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    }
    Ok(out)
}

type Scenario = for<'a> fn(&'a World, &'a str) -> Pin<Box<dyn Future<Output = Result<()>> + 'a>>;

/// Everything the scenarios need, running: installed manifests, emulator, provider, manager.
pub struct Running {
    world: World,
    provider: tokio::process::Child,
    manager: tokio::process::Child,
    dir: tempfile::TempDir,
}

/// Install `deploy/` and start the emulator, the provider and the manager (as its own ServiceAccount).
async fn setup(root: &Path, kubeconfig: PathBuf) -> Result<Running> {
    sse_tls::install_crypto_provider();
    let k = Kubectl { kubeconfig };
    let dir = tempfile::Builder::new().prefix("sse-e2e").tempdir_in("/tmp")?;
    let d = dir.path();

    // Install CRDs, RBAC and admission policies as a user would (pods never start here).
    let rendered = k
        .run(
            &["kustomize", &root.join("deploy/default").display().to_string()],
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
        ],
        None,
    )
    .await?;

    // The cluster's service-account token issuer, for the emulator's federated credentials.
    let issuer = k
        .run(&["get", "--raw", "/.well-known/openid-configuration"], None)
        .await
        .ok()
        .and_then(|s| serde_json::from_str::<Value>(&s).ok())
        .and_then(|v| v["issuer"].as_str().map(str::to_string))
        .unwrap_or_else(|| "https://kubernetes.default.svc.cluster.local".into());

    let emulator = Emulator::start(Config::default()).await?;
    std::fs::write(d.join("kv-ca.pem"), emulator.ca_pem())?;
    let env_file = d.join("cloud.json");
    std::fs::write(&env_file, emulator.cloud_env_json())?;

    // Provider with mTLS, as in the pod.
    let ca = TestCa::new("sse-rs e2e CA")?;
    let server = ca.write_leaf(&d.join("tls/server"), &["localhost"], Usage::Server)?;
    let client = ca.write_leaf(&d.join("tls/client"), &["manager"], Usage::Client)?;
    let providers = d.join("providers");
    std::fs::create_dir_all(&providers)?;
    let bin = root.join("target/debug");
    let provider = crate::procs::provider_command(
        &bin.join("provider-azure"),
        &providers.join("azure.sock"),
        &server,
        &d.join("kv-ca.pem"),
    )
    .stderr(std::fs::File::create(d.join("provider.log"))?)
    .spawn()?;
    let socket = providers.join("azure.sock");
    eventually(Duration::from_secs(30), || async {
        Ok(socket.exists().then_some(()))
    })
    .await
    .context("provider-azure did not create its socket")?;

    // The manager authenticates as its own ServiceAccount.
    let token = k
        .run(
            &["create", "token", MANAGER_SA, "-n", SYSTEM_NS, "--duration=3600s"],
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
    let manager_kubeconfig = d.join("manager.kubeconfig");
    std::fs::write(
        &manager_kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: {server_url}\n    {ca_line}\nusers:\n- name: manager\n  user:\n    token: {}\ncontexts:\n- name: c\n  context: {{cluster: c, user: manager}}\ncurrent-context: c\n",
            token.trim()
        ),
    )?;
    let manager = tokio::process::Command::new(bin.join("manager"))
        .env("KUBECONFIG", &manager_kubeconfig)
        .arg(format!("--provider-volume={}", providers.display()))
        .arg(format!("--provider-tls-cert-file={}", client.cert.display()))
        .arg(format!("--provider-tls-key-file={}", client.key.display()))
        .arg(format!("--provider-tls-ca-file={}", client.ca.display()))
        .arg(format!("--token-request-audience={AUDIENCE}"))
        .args([
            "--rotation-poll-interval-in-seconds=20",
            "--leader-elect=true",
            "--health-probe-bind-address=0",
            "--metrics-bind-address=0",
        ])
        .arg(format!("--pod-namespace={SYSTEM_NS}"))
        .stderr(std::fs::File::create(d.join("manager.log"))?)
        .kill_on_drop(true)
        .spawn()?;

    let world = World {
        k: k.clone(),
        as_manager: Kubectl {
            kubeconfig: manager_kubeconfig.clone(),
        },
        emulator,
        issuer,
        env_file,
    };
    Ok(Running {
        world,
        provider,
        manager,
        dir,
    })
}

async fn suite(root: &Path, kubeconfig: PathBuf) -> Result<usize> {
    let Running {
        world,
        mut provider,
        mut manager,
        dir,
    } = setup(root, kubeconfig).await?;
    let d = dir.path().to_path_buf();
    let scenarios: Vec<(&str, Scenario)> = vec![
        ("crds-and-rbac-installed", |w, ns| Box::pin(crds_and_rbac(w, ns))),
        ("walkthrough-version-history", |w, ns| {
            Box::pin(walkthrough(w, ns))
        }),
        ("delete-garbage-collects", |w, ns| Box::pin(delete_gc(w, ns))),
        ("spc-in-other-namespace", |w, ns| Box::pin(spc_elsewhere(w, ns))),
        ("provider-not-found", |w, ns| Box::pin(provider_not_found(w, ns))),
        ("missing-source-path", |w, ns| Box::pin(missing_path(w, ns))),
        ("type-not-allowed-by-policy", |w, ns| Box::pin(type_denied(w, ns))),
        ("service-account-token-type-denied", |w, ns| {
            Box::pin(sa_token_type(w, ns))
        }),
        ("invalid-annotation-key", |w, ns| {
            Box::pin(invalid_annotation(w, ns))
        }),
        ("invalid-label-key", |w, ns| Box::pin(invalid_label(w, ns))),
        ("crd-validation-patterns", |w, ns| {
            Box::pin(crd_validation_patterns(w, ns))
        }),
        ("policies-bind-the-manager", |w, ns| {
            Box::pin(policies_bind_the_manager(w, ns))
        }),
        ("secret-type-is-immutable", |w, ns| Box::pin(type_change(w, ns))),
        ("spc-change-resyncs", |w, ns| Box::pin(spc_change(w, ns))),
        ("partial-sync", |w, ns| Box::pin(partial_sync(w, ns))),
        ("quiet-poll-writes-nothing", |w, ns| Box::pin(quiet_poll(w, ns))),
        ("crd-validation-label-value", |w, ns| {
            Box::pin(crd_validation(w, ns))
        }),
        ("rotation-and-force-sync", |w, ns| Box::pin(rotation(w, ns))),
        ("drift-repair", |w, ns| Box::pin(drift(w, ns))),
        ("foreign-secret-untouched", |w, ns| Box::pin(foreign(w, ns))),
        ("offline-keeps-secret-and-recovers", |w, ns| {
            Box::pin(offline(w, ns))
        }),
        ("missing-service-account", |w, ns| Box::pin(missing_sa(w, ns))),
        ("token-policy-denies-other-requests", |w, ns| {
            Box::pin(token_policy(w, ns))
        }),
    ];
    let (mut passed, mut failed) = (0usize, 0usize);
    for (name, scenario) in scenarios {
        let ns = match world.namespace(name).await {
            Ok(ns) => ns,
            Err(e) => {
                println!("FAIL {name}: namespace: {e:#}");
                failed += 1;
                continue;
            }
        };
        let started = Instant::now();
        match scenario(&world, &ns).await {
            Ok(()) => {
                passed += 1;
                println!("ok   {name} ({:.1} s)", started.elapsed().as_secs_f64());
            }
            Err(e) => {
                failed += 1;
                println!("FAIL {name}: {e:#}");
            }
        }
        let _ = world
            .k
            .run(&["delete", "namespace", &ns, "--wait=false"], None)
            .await;
    }
    stop(&mut manager).await;
    stop(&mut provider).await;
    if failed > 0 {
        // Keep the logs, not the credential: the manager's kubeconfig holds a real ServiceAccount token.
        let _ = std::fs::remove_file(d.join("manager.kubeconfig"));
        println!("logs: {} (kept)", d.display());
        let _ = dir.keep();
    }
    println!("{passed} passed, {failed} failed");
    Ok(failed)
}

async fn crds_and_rbac(w: &World, _ns: &str) -> Result<()> {
    for crd in [
        "secretsyncs.secret-sync.x-k8s.io",
        "secretproviderclasses.secrets-store.csi.x-k8s.io",
    ] {
        let c = w.k.json(&["get", "crd", crd]).await?;
        let established = c["status"]["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|c| c["type"] == "Established" && c["status"] == "True");
        ensure!(established, "{crd} not Established");
    }
    ensure!(
        w.k.exists("serviceaccount", SYSTEM_NS, MANAGER_SA).await,
        "manager ServiceAccount missing"
    );
    let policies =
        w.k.run(&["get", "validatingadmissionpolicies", "-o", "name"], None)
            .await?;
    ensure!(
        policies.contains("secrets-store-sync-controller-create-update-policy"),
        "policies missing: {policies}"
    );
    Ok(())
}

async fn walkthrough(w: &World, ns: &str) -> Result<()> {
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
    Ok(())
}

async fn delete_gc(w: &World, ns: &str) -> Result<()> {
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

async fn spc_elsewhere(w: &World, ns: &str) -> Result<()> {
    w.k.apply(&sync_yaml(
        ns,
        "elsewhere",
        "e2e-providerspc",
        "Opaque",
        &[("foo", "bar")],
        "",
    ))
    .await?;
    let (status, message) = wait_reason(w, ns, "elsewhere", "Create", "ControllerSpcError").await?;
    ensure!(status == "False", "status {status}");
    ensure!(
        message
            == "failed to get SecretProviderClass \"e2e-providerspc\": SecretProviderClass.secrets-store.csi.x-k8s.io \"e2e-providerspc\" not found",
        "message {message}"
    );
    ensure!(
        !w.k.exists("secret", ns, "elsewhere").await,
        "no Secret may be created"
    );
    Ok(())
}

async fn provider_not_found(w: &World, ns: &str) -> Result<()> {
    w.k.apply(&w.spc(ns, "spc", "nosuch", &["objectName: x\nobjectType: secret"]))
        .await?;
    w.k.apply(&sync_yaml(ns, "noprov", "spc", "Opaque", &[("x", "bar")], ""))
        .await?;
    let (_, message) = wait_reason(w, ns, "noprov", "Create", "ControllerSpcError").await?;
    ensure!(
        message == "fetching secrets from the provider failed: provider not found: provider \"nosuch\"",
        "{message}"
    );
    Ok(())
}

async fn missing_path(w: &World, ns: &str) -> Result<()> {
    w.vault_class(ns, "present", "v").await?;
    w.k.apply(&sync_yaml(
        ns,
        "nopath",
        "spc",
        "Opaque",
        &[("absent", "bar")],
        "",
    ))
    .await?;
    let (_, message) = wait_reason(w, ns, "nopath", "Create", "UserInputValidationFailed").await?;
    ensure!(
        message.ends_with("file matching sourcePath absent not found in the pod"),
        "{message}"
    );
    Ok(())
}

async fn type_denied(w: &World, ns: &str) -> Result<()> {
    w.vault_class(ns, "t", "v").await?;
    w.k.apply(&sync_yaml(
        ns,
        "my-custom-api-secret",
        "spc",
        "example.com/api-credentials",
        &[("t", "bar")],
        "",
    ))
    .await?;
    let (_, message) = wait_reason(
        w,
        ns,
        "my-custom-api-secret",
        "Create",
        "ValidatingAdmissionPolicyCheckFailed",
    )
    .await?;
    ensure!(
        message.contains("secrets-store-sync-controller-create-update-policy"),
        "{message}"
    );
    ensure!(
        !w.k.exists("secret", ns, "my-custom-api-secret").await,
        "no Secret"
    );
    Ok(())
}

async fn sa_token_type(w: &World, ns: &str) -> Result<()> {
    w.vault_class(ns, "t", "v").await?;
    // As SPEC §9.1 B7: with the annotation the API server's own Secret validation requires for this type,
    // so that the admission policy is what refuses it.
    let yaml = sync_yaml(ns, "satoken", "spc", "kubernetes.io/service-account-token", &[("t", "bar")], "").replace(
        "    type: kubernetes.io/service-account-token\n",
        &format!("    type: kubernetes.io/service-account-token\n    annotations: {{kubernetes.io/service-account.name: {SA}}}\n"),
    );
    w.k.apply(&yaml).await?;
    let (_, message) =
        wait_reason(w, ns, "satoken", "Create", "ValidatingAdmissionPolicyCheckFailed").await?;
    ensure!(
        message.contains("not allowed to create or update secrets with this type"),
        "{message}"
    );
    ensure!(!w.k.exists("secret", ns, "satoken").await, "no Secret");
    Ok(())
}

async fn invalid_label(w: &World, ns: &str) -> Result<()> {
    w.vault_class(ns, "t", "v").await?;
    let yaml = sync_yaml(ns, "badlabel", "spc", "Opaque", &[("t", "bar")], "").replace(
        "    type: Opaque\n",
        "    type: Opaque\n    labels: {\"invalid/key_with_invalid_characters!\": validValue}\n",
    );
    w.k.apply(&yaml).await?;
    let (_, message) = wait_reason(w, ns, "badlabel", "Create", "UserInputValidationFailed").await?;
    ensure!(message.contains("metadata.labels: Invalid value"), "{message}");
    ensure!(!w.k.exists("secret", ns, "badlabel").await, "no Secret");
    Ok(())
}

async fn invalid_annotation(w: &World, ns: &str) -> Result<()> {
    w.vault_class(ns, "t", "v").await?;
    let yaml = sync_yaml(ns, "badannotation", "spc", "Opaque", &[("t", "bar")], "").replace(
        "    type: Opaque\n",
        "    type: Opaque\n    annotations: {\"my.annotation/with_invalid_characters!\": default}\n",
    );
    w.k.apply(&yaml).await?;
    let (_, message) = wait_reason(w, ns, "badannotation", "Create", "UserInputValidationFailed").await?;
    ensure!(
        message.contains("metadata.annotations: Invalid value"),
        "{message}"
    );
    Ok(())
}

async fn crd_validation(w: &World, ns: &str) -> Result<()> {
    let yaml = sync_yaml(ns, "toolong", "spc", "Opaque", &[("t", "bar")], "").replace(
        "    type: Opaque\n",
        &format!(
            "    type: Opaque\n    labels: {{my.label: \"{}\"}}\n",
            "a".repeat(68)
        ),
    );
    let err =
        w.k.apply(&yaml)
            .await
            .err()
            .context("the API server accepted an over-long label value")?;
    ensure!(
        format!("{err:#}").contains("label values must not exceed 63 characters"),
        "{err:#}"
    );
    Ok(())
}

async fn rotation(w: &World, ns: &str) -> Result<()> {
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

async fn drift(w: &World, ns: &str) -> Result<()> {
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

async fn foreign(w: &World, ns: &str) -> Result<()> {
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

async fn offline(w: &World, ns: &str) -> Result<()> {
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

async fn missing_sa(w: &World, ns: &str) -> Result<()> {
    w.vault_class(ns, "t", "v").await?;
    let yaml = sync_yaml(ns, "nosa", "spc", "Opaque", &[("t", "bar")], "")
        .replace("serviceAccountName: app-sa", "serviceAccountName: ghost");
    w.k.apply(&yaml).await?;
    let (_, message) = wait_reason(w, ns, "nosa", "Create", "ControllerSyncFailed").await?;
    ensure!(
        message.contains("serviceaccounts \"ghost\" not found"),
        "{message}"
    );
    Ok(())
}

async fn token_policy(w: &World, ns: &str) -> Result<()> {
    // Acting as the manager: only the configured audience with a 600 s lifetime is allowed (SPEC §9.3 T1–T4).
    let request = |audience: &str, seconds: &str| {
        let (aud, dur) = (format!("--audience={audience}"), format!("--duration={seconds}s"));
        async move {
            w.as_manager
                .run(&["create", "token", SA, "-n", ns, &aud, &dur], None)
                .await
        }
    };
    let allowed = request(AUDIENCE, "600").await;
    ensure!(
        allowed.is_ok(),
        "the configured audience with 600 s must be allowed: {:?}",
        allowed.err()
    );
    for (audience, seconds) in [("other-audience", "600"), (AUDIENCE, "3600")] {
        let denied = request(audience, seconds).await;
        ensure!(
            denied.is_err(),
            "a token for {audience} / {seconds} s was not denied"
        );
    }
    // T3: no audience (the API server's default audience); T6: two audiences, one of them allowed.
    let none = w
        .as_manager
        .run(&["create", "token", SA, "-n", ns, "--duration=600s"], None)
        .await;
    ensure!(
        none.is_err(),
        "a token without the configured audience was not denied"
    );
    let aud = format!("--audience={AUDIENCE}");
    let two = w
        .as_manager
        .run(
            &[
                "create",
                "token",
                SA,
                "-n",
                ns,
                &aud,
                "--audience=other",
                "--duration=600s",
            ],
            None,
        )
        .await;
    ensure!(two.is_err(), "a token with two audiences was not denied");
    Ok(())
}

async fn crd_validation_patterns(w: &World, ns: &str) -> Result<()> {
    // SPEC §9.3 A5, A6.
    let bad_sa = sync_yaml(ns, "badsa", "spc", "Opaque", &[("t", "bar")], "").replace(
        &format!("serviceAccountName: {SA}"),
        "serviceAccountName: defa:ult",
    );
    let err =
        w.k.apply(&bad_sa)
            .await
            .err()
            .context("serviceAccountName defa:ult was accepted")?;
    ensure!(
        format!("{err:#}").contains("spec.serviceAccountName in body should match"),
        "{err:#}"
    );
    let empty = sync_yaml(ns, "nodata", "spc", "Opaque", &[], "").replace("    data:\n", "    data: []\n");
    let err =
        w.k.apply(&empty)
            .await
            .err()
            .context("an empty data list was accepted")?;
    ensure!(
        format!("{err:#}").contains("should have at least 1 items"),
        "{err:#}"
    );
    Ok(())
}

async fn policies_bind_the_manager(w: &World, ns: &str) -> Result<()> {
    // SPEC §9.3, acting as the manager's ServiceAccount.
    // P1: a Secret without a SecretSync owner.
    let orphan = format!(
        "apiVersion: v1\nkind: Secret\nmetadata: {{name: orphan, namespace: {ns}, labels: {{secrets-store.sync.x-k8s.io: \"\"}}}}\ntype: Opaque\ndata: {{a: YQ==}}\n"
    );
    let err = w
        .as_manager
        .apply(&orphan)
        .await
        .err()
        .context("P1: an ownerless Secret was created")?;
    ensure!(
        format!("{err:#}").contains("secrets-store-sync-controller-create-update-policy"),
        "P1: {err:#}"
    );
    // P10: updating a Secret that lacks the controller label.
    w.k.run(
        &[
            "create",
            "secret",
            "generic",
            "unlabelled",
            "-n",
            ns,
            "--from-literal=a=b",
        ],
        None,
    )
    .await?;
    let err = w
        .as_manager
        .run(
            &[
                "patch",
                "secret",
                "unlabelled",
                "-n",
                ns,
                "--type=merge",
                "-p",
                "{\"data\":{\"a\":\"Yw==\"}}",
            ],
            None,
        )
        .await
        .err()
        .context("P10: an unlabelled Secret was updated")?;
    let text = format!("{err:#}");
    ensure!(
        text.contains("forbidden") || text.contains("denied"),
        "P10: {text}"
    );
    // P7: no delete (RBAC).
    let err = w
        .as_manager
        .run(&["delete", "secret", "unlabelled", "-n", ns], None)
        .await
        .err()
        .context("P7: the manager deleted a Secret")?;
    ensure!(
        format!("{err:#}").contains("cannot delete resource"),
        "P7: {err:#}"
    );
    ensure!(
        w.k.exists("secret", ns, "unlabelled").await,
        "the Secret must survive"
    );
    Ok(())
}

async fn type_change(w: &World, ns: &str) -> Result<()> {
    // SPEC §9.4 X8: the type of an existing Secret is immutable.
    w.vault_class(ns, "ty", "v").await?;
    w.k.apply(&sync_yaml(
        ns,
        "typed",
        "spc",
        "Opaque",
        &[("ty", "username")],
        "",
    ))
    .await?;
    wait_reason(w, ns, "typed", "Create", "CreateSucceeded").await?;
    w.k.apply(&sync_yaml(
        ns,
        "typed",
        "spc",
        "kubernetes.io/basic-auth",
        &[("ty", "username")],
        "",
    ))
    .await?;
    let (_, message) = wait_reason(w, ns, "typed", "Update", "UserInputValidationFailed").await?;
    ensure!(message.contains("field is immutable"), "{message}");
    let data = secret_data(w, ns, "typed").await?;
    ensure!(
        data.get("username") == Some(&Value::from("v")),
        "the Secret changed: {data:?}"
    );
    Ok(())
}

/// `cargo xtask demo` with a cluster: the walkthrough synced into it, with `kubectl describe secretsync`.
pub async fn demo_in_cluster(root: &Path, kubeconfig: PathBuf) -> Result<()> {
    let Running {
        world: w,
        mut provider,
        mut manager,
        dir: _dir,
    } = setup(root, kubeconfig).await?;
    let ns = w.namespace("demo").await?;
    w.emulator.store().set_secret(VAULT, "my-secret", "first-value");
    w.emulator.store().set_secret(VAULT, "my-secret", "second-value");
    let spc = w.spc(
        &ns,
        "secret-provider-class-name",
        "azure",
        &["objectName: my-secret\nobjectType: secret\nobjectVersionHistory: 2"],
    );
    let sync = sync_yaml(
        &ns,
        "secret-sync-name",
        "secret-provider-class-name",
        "Opaque",
        &[
            ("my-secret/0", "my-secret-data-key0"),
            ("my-secret/1", "my-secret-data-key1"),
        ],
        "",
    );
    println!("{spc}---\n{sync}");
    w.k.apply(&spc).await?;
    w.k.apply(&sync).await?;
    wait_reason(&w, &ns, "secret-sync-name", "Create", "CreateSucceeded").await?;
    println!(
        "{}",
        w.k.run(&["describe", "secretsync", "secret-sync-name", "-n", &ns], None)
            .await?
    );
    println!(
        "Secret data: {:?}",
        secret_data(&w, &ns, "secret-sync-name").await?
    );
    w.emulator.store().set_secret(VAULT, "my-secret", "third-value");
    let forced = sync_yaml(
        &ns,
        "secret-sync-name",
        "secret-provider-class-name",
        "Opaque",
        &[
            ("my-secret/0", "my-secret-data-key0"),
            ("my-secret/1", "my-secret-data-key1"),
        ],
        "  forceSynchronization: Rotated1\n",
    );
    w.k.apply(&forced).await?;
    wait_reason(
        &w,
        &ns,
        "secret-sync-name",
        "Update",
        "UpdateValueChangeOrForceUpdateSucceeded",
    )
    .await?;
    println!(
        "{}",
        w.k.run(&["describe", "secretsync", "secret-sync-name", "-n", &ns], None)
            .await?
    );
    println!(
        "Secret data after rotation: {:?}",
        secret_data(&w, &ns, "secret-sync-name").await?
    );
    let _ = w.k.run(&["delete", "namespace", &ns, "--wait=false"], None).await;
    stop(&mut manager).await;
    stop(&mut provider).await;
    Ok(())
}

/// SIGTERM, so the manager drains and releases its Lease (the next run need not wait for it to expire);
/// SIGKILL if it does not exit within 20 s.
async fn stop(child: &mut tokio::process::Child) {
    if let Some(pid) = child.id() {
        let _ = tokio::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .await;
        if tokio::time::timeout(Duration::from_secs(20), child.wait())
            .await
            .is_ok()
        {
            return;
        }
    }
    let _ = child.start_kill();
    let _ = child.wait().await;
}

async fn spc_change(w: &World, ns: &str) -> Result<()> {
    // A7: a SecretProviderClass change re-syncs the SecretSyncs that use it (no SecretSync edit).
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

async fn partial_sync(w: &World, ns: &str) -> Result<()> {
    // A5: one object missing in the vault; the healthy key is written, the status is PartialSync.
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

async fn quiet_poll(w: &World, ns: &str) -> Result<()> {
    // A7: checks where nothing changed write nothing: no resourceVersion moves. The suite's manager checks
    // every 20 s; there is no signal for "nothing happened", so this waits out more than two intervals.
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
    let gets_before = w.emulator.counters().get("secrets.get").copied().unwrap_or(0);
    tokio::time::sleep(Duration::from_secs(45)).await;
    ensure!(
        version("secret").await? == secret_before,
        "the Secret's resourceVersion moved"
    );
    ensure!(
        version("secretsync").await? == sync_before,
        "the SecretSync's resourceVersion moved"
    );
    let gets_after = w.emulator.counters().get("secrets.get").copied().unwrap_or(0);
    ensure!(
        gets_after > gets_before,
        "the vault was not checked during two poll intervals"
    );
    Ok(())
}

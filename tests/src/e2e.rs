//! Tier 3 harness: the real-cluster suite's world (TESTING.md). The scenarios are ordinary libtest tests in
//! `tests/e2e.rs`, ignored by default and run by `cargo xtask e2e [FILTER]`, which builds the binaries, points
//! the tests at them and at the cluster, and stops every process they started when the run ends.
//!
//! The world is made once per test process and shared: `deploy/` installed the way a user would (CRDs,
//! RBAC, admission policies; not the Deployment or cert-manager objects — pods never start), the Key Vault
//! emulator (in this process), `provider-azure` with mutual TLS, and one `manager` authenticated as its own
//! ServiceAccount through a TokenRequest kubeconfig, so RBAC and the admission policies apply to it. Each
//! scenario gets its own namespace. Scenarios that stop or replace the shared manager, or fault the whole
//! vault, run alone ([`Mode::Exclusive`]); the others run side by side. On failure the scenario's
//! SecretSyncs, Events and the manager log lines about its namespace are kept under
//! `$SSE_E2E_DIR/failed/<scenario>/`.
#![allow(clippy::missing_errors_doc, clippy::missing_panics_doc, clippy::print_stdout)]

use std::future::Future;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use keyvault_emulator::{Config, Emulator, FederatedCredential};
use serde_json::Value;
use sse_tls::TlsFiles;
use sse_tls::pki::{TestCa, Usage};

mod kubectl;

pub use kubectl::*;

pub const SYSTEM_NS: &str = "azure-secret-store";
pub const MANAGER_SA: &str = "secrets-store-sync-controller-manager";
pub const LEASE: &str = "29f1d54e.secret-sync.x-k8s.io";
pub const TENANT: &str = "00000000-0000-0000-0000-000000000001";
pub const CLIENT_ID: &str = "e2e-client";
pub const AUDIENCE: &str = provider_proto::contract::WORKLOAD_IDENTITY_AUDIENCE;
pub const VAULT: &str = "e2e-kv";
pub const SA: &str = "app-sa";
/// The shared manager's poll interval.
pub const POLL_SECONDS: u64 = 20;
/// Longest a scenario may run at the default scale ([`scaled`] stretches it for a larger fleet).
const SCENARIO_TIMEOUT: Duration = Duration::from_secs(600);
/// Environment: how many SecretSyncs the scale scenarios create (default 200).
pub const ENV_SYNCS: &str = "SSE_E2E_SYNCS";

/// The number of SecretSyncs the scale scenarios create (`$SSE_E2E_SYNCS`, default 200).
pub fn scale() -> usize {
    std::env::var(ENV_SYNCS)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200)
}

/// A bound sized for 10,000 SecretSyncs, stretched in proportion for a larger `$SSE_E2E_SYNCS`: every
/// wait stays bounded, and a run at 100,000 is not cut short by limits made for the default scale.
pub fn scaled(limit: Duration) -> Duration {
    let factor = scale().div_ceil(10_000).max(1);
    limit * u32::try_from(factor).unwrap_or(u32::MAX)
}

/// Environment `cargo xtask e2e` sets for the test process.
pub const ENV_KUBECONFIG: &str = "SSE_E2E_KUBECONFIG";
pub const ENV_DIR: &str = "SSE_E2E_DIR";
pub const ENV_MANAGER_BIN: &str = "SSE_E2E_MANAGER_BIN";
pub const ENV_PROVIDER_BIN: &str = "SSE_E2E_PROVIDER_BIN";
pub const ENV_DEPLOY: &str = "SSE_E2E_DEPLOY";
/// File in `$SSE_E2E_DIR` listing the pid of every process the tests started, for xtask to stop.
pub const PIDS_FILE: &str = "pids";

/// Whether a scenario may share the cluster with others.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Runs beside other scenarios.
    Shared,
    /// Runs alone: it stops or replaces the shared manager, or faults the whole vault.
    Exclusive,
}

/// A scenario body.
pub type Scenario = for<'a> fn(&'a World, &'a str) -> Pin<Box<dyn Future<Output = Result<()>> + 'a>>;

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("tokio runtime")
    })
}

fn world() -> &'static Result<World, String> {
    static WORLD: OnceLock<Result<World, String>> = OnceLock::new();
    WORLD.get_or_init(|| runtime().block_on(World::setup()).map_err(|e| format!("{e:#}")))
}

/// Run one scenario in a namespace of its own; panic with the cause (and where the logs were kept).
pub fn run(name: &str, mode: Mode, scenario: Scenario) {
    let w = match world() {
        Ok(w) => w,
        Err(e) => panic!("tier-3 world could not be set up: {e}"),
    };
    let result = runtime().block_on(async {
        let (_shared, _exclusive) = match mode {
            Mode::Shared => (Some(w.gate.read().await), None),
            Mode::Exclusive => (None, Some(w.gate.write().await)),
        };
        let ns = w.namespace(name).await?;
        let mark = w.manager_log_len();
        let started = Instant::now();
        let outcome = match tokio::time::timeout(scaled(SCENARIO_TIMEOUT), scenario(w, &ns)).await {
            Ok(outcome) => outcome,
            Err(_) => Err(anyhow::anyhow!(
                "scenario did not finish within {:?}",
                scaled(SCENARIO_TIMEOUT)
            )),
        };
        let outcome = match outcome {
            Ok(()) => {
                println!("ok   {name} ({:.1} s)", started.elapsed().as_secs_f64());
                Ok(())
            }
            Err(e) => {
                let kept = w.keep_logs(name, &ns, mark).await;
                Err(e.context(format!("logs kept in {}", kept.display())))
            }
        };
        // The namespace controller empties a namespace at a few hundred objects a minute, and every manager
        // started meanwhile caches the leftovers (seen: 5,558 SecretSyncs of a 10,000 scenario still there
        // ten minutes on, in the next scenario's memory figures). One deletecollection per kind first.
        for collection in [
            format!("/apis/secret-sync.x-k8s.io/v1alpha1/namespaces/{ns}/secretsyncs"),
            format!("/apis/secrets-store.csi.x-k8s.io/v1/namespaces/{ns}/secretproviderclasses"),
            format!("/api/v1/namespaces/{ns}/secrets"),
        ] {
            let _ = w.k.run(&["delete", "--raw", &collection], None).await;
        }
        let _ = w.k.run(&["delete", "namespace", &ns, "--wait=false"], None).await;
        outcome
    });
    if let Err(e) = result {
        panic!("{name}: {e:#}");
    }
}

/// A `manager` process the tests started.
pub struct Manager {
    pub child: tokio::process::Child,
    pub log: PathBuf,
}

impl Manager {
    /// SIGTERM, then wait up to `limit` for the exit; how long it took (SIGKILL and an error past `limit`).
    pub async fn terminate(&mut self, limit: Duration) -> Result<Duration> {
        let started = Instant::now();
        if let Some(pid) = self.child.id() {
            let _ = tokio::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status()
                .await;
        }
        match tokio::time::timeout(limit, self.child.wait()).await {
            Ok(status) => {
                status?;
                Ok(started.elapsed())
            }
            Err(_) => {
                let _ = self.child.start_kill();
                let _ = self.child.wait().await;
                bail!("the manager did not exit within {limit:?} of SIGTERM (killed)")
            }
        }
    }

    /// Resident memory now and at its peak, in MiB (Linux `/proc`).
    pub fn rss_mib(&self) -> Option<(f64, f64)> {
        rss_mib(self.child.id()?)
    }

    /// The log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// Resident memory of process `pid` now and at its peak, in MiB (Linux `/proc`).
fn rss_mib(pid: u32) -> Option<(f64, f64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib = |field: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
    };
    Some((kib("VmRSS:")? / 1024.0, kib("VmHWM:")? / 1024.0))
}

/// Everything the scenarios share.
pub struct World {
    /// kubectl as the cluster admin.
    pub k: Kubectl,
    /// kubectl authenticated as the manager's ServiceAccount.
    pub as_manager: Kubectl,
    pub emulator: Emulator,
    pub issuer: String,
    pub env_file: PathBuf,
    pub dir: PathBuf,
    manager_bin: PathBuf,
    /// The literal `env` values of the Deployment's manager container (allocator settings).
    manager_env: Vec<(String, String)>,
    client_tls: TlsFiles,
    providers: PathBuf,
    shared: tokio::sync::Mutex<Option<Manager>>,
    gate: tokio::sync::RwLock<()>,
    provider: tokio::process::Child,
    provider_bin: PathBuf,
    server_tls: TlsFiles,
}

/// Start `provider-azure` serving `<providers>/<name>.sock` with mutual TLS, as in the pod, logging to
/// `<dir>/<log>.log`; returns once it accepts connections (a stale socket file of a killed one does not).
async fn spawn_provider(
    bin: &Path,
    dir: &Path,
    server: &TlsFiles,
    providers: &Path,
    name: &str,
    log: &str,
) -> Result<tokio::process::Child> {
    let socket = providers.join(format!("{name}.sock"));
    let provider = tokio::process::Command::new(bin)
        .arg(format!("--endpoint=unix://{}", socket.display()))
        .arg(format!("--tls-cert-file={}", server.cert.display()))
        .arg(format!("--tls-key-file={}", server.key.display()))
        .arg(format!("--tls-client-ca-file={}", server.ca.display()))
        .arg(format!("--keyvault-ca-file={}", dir.join("kv-ca.pem").display()))
        // The emulator is the default cloud: what an AKVSync generates names no cloud.
        .arg("--cloud-name=AzureStackCloud")
        .arg(format!("--cloud-env-file={}", dir.join("cloud.json").display()))
        .args(["--health-addr=0", "--metrics-addr=0"])
        .stderr(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(dir.join(format!("{log}.log")))?,
        )
        .kill_on_drop(true)
        .spawn()?;
    record_pid(dir, &provider);
    eventually(Duration::from_secs(30), || async {
        Ok(tokio::net::UnixStream::connect(&socket).await.ok().map(drop))
    })
    .await
    .context("provider-azure did not listen on its socket")?;
    Ok(provider)
}

fn env_path(name: &str) -> Result<PathBuf> {
    std::env::var_os(name)
        .map(PathBuf::from)
        .with_context(|| format!("{name} is not set: run the suite with `cargo xtask e2e`"))
}

impl World {
    async fn setup() -> Result<Self> {
        sse_tls::install_crypto_provider();
        let k = Kubectl {
            kubeconfig: env_path(ENV_KUBECONFIG)?,
        };
        let dir = env_path(ENV_DIR)?;
        let manager_bin = env_path(ENV_MANAGER_BIN)?;
        let provider_bin = env_path(ENV_PROVIDER_BIN)?;
        let deploy = env_path(ENV_DEPLOY)?;

        install(&k, &deploy).await?;
        let manager_env = manager_env(&deploy)?;
        // The cluster's service-account token issuer, for the emulator's federated credentials.
        let issuer = k
            .run(&["get", "--raw", "/.well-known/openid-configuration"], None)
            .await
            .ok()
            .and_then(|s| serde_json::from_str::<Value>(&s).ok())
            .and_then(|v| v["issuer"].as_str().map(str::to_string))
            .unwrap_or_else(|| "https://kubernetes.default.svc.cluster.local".into());

        let emulator = Emulator::start(Config::default()).await?;
        std::fs::write(dir.join("kv-ca.pem"), emulator.ca_pem())?;
        let env_file = dir.join("cloud.json");
        std::fs::write(&env_file, emulator.cloud_env_json())?;

        // Provider with mTLS, as in the pod.
        let ca = TestCa::new("sse-rs e2e CA")?;
        let server = ca.write_leaf(&dir.join("tls/server"), &["localhost"], Usage::Server)?;
        let client_tls = ca.write_leaf(
            &dir.join("tls/client"),
            &[sse_tls::MANAGER_IDENTITY],
            Usage::Client,
        )?;
        let providers = dir.join("providers");
        std::fs::create_dir_all(&providers)?;
        let provider = spawn_provider(&provider_bin, &dir, &server, &providers, "azure", "provider").await?;

        let manager_kubeconfig = manager_kubeconfig(&k, &dir).await?;
        let world = Self {
            k,
            as_manager: Kubectl {
                kubeconfig: manager_kubeconfig,
            },
            emulator,
            issuer,
            env_file,
            dir,
            manager_bin,
            manager_env,
            client_tls,
            providers,
            shared: tokio::sync::Mutex::new(None),
            gate: tokio::sync::RwLock::new(()),
            provider,
            provider_bin,
            server_tls: server,
        };
        world.start_shared_manager().await?;
        Ok(world)
    }

    /// Start a manager with the suite's flags (poll interval [`POLL_SECONDS`], leader election on), each
    /// replaced by the same flag in `extra`, logging to `<dir>/<log>.log`.
    /// The provider's resident memory now and at its peak, in MiB.
    pub fn provider_rss_mib(&self) -> Option<(f64, f64)> {
        rss_mib(self.provider.id()?)
    }

    /// Another `provider-azure`, serving `<providers>/<name>.sock` (a SecretProviderClass with
    /// `provider: <name>` reaches it), for scenarios that kill and restart a provider; `log` names its log.
    pub async fn start_provider(&self, name: &str, log: &str) -> Result<tokio::process::Child> {
        spawn_provider(
            &self.provider_bin,
            &self.dir,
            &self.server_tls,
            &self.providers,
            name,
            log,
        )
        .await
    }

    /// The socket of provider `name`.
    pub fn provider_socket(&self, name: &str) -> PathBuf {
        self.providers.join(format!("{name}.sock"))
    }

    pub async fn start_manager(&self, log: &str, extra: &[String]) -> Result<Manager> {
        let log = self.dir.join(format!("{log}.log"));
        let defaults = [
            format!("--provider-volume={}", self.providers.display()),
            format!("--provider-tls-cert-file={}", self.client_tls.cert.display()),
            format!("--provider-tls-key-file={}", self.client_tls.key.display()),
            format!("--provider-tls-ca-file={}", self.client_tls.ca.display()),
            format!("--token-request-audience={AUDIENCE}"),
            format!("--rotation-poll-interval-in-seconds={POLL_SECONDS}"),
            "--leader-elect=true".into(),
            "--health-probe-bind-address=0".into(),
            "--metrics-bind-address=0".into(),
            "--debug-bind-address=0".into(),
            format!("--pod-namespace={SYSTEM_NS}"),
        ];
        // A flag given in `extra` replaces the default (clap refuses a flag given twice).
        let name = |flag: &str| flag.split('=').next().unwrap_or_default().to_string();
        let overridden: Vec<String> = extra.iter().map(|f| name(f)).collect();
        let mut cmd = tokio::process::Command::new(&self.manager_bin);
        cmd.envs(self.manager_env.iter().map(|(k, v)| (k, v)))
            .env("KUBECONFIG", &self.as_manager.kubeconfig)
            .env("RUST_LOG", "info,manager=debug,kube_runtime::controller=warn")
            .args(defaults.iter().filter(|f| !overridden.contains(&name(f))))
            .args(extra)
            .stderr(std::fs::OpenOptions::new().create(true).append(true).open(&log)?)
            .kill_on_drop(true);
        let child = cmd.spawn()?;
        record_pid(&self.dir, &child);
        Ok(Manager { child, log })
    }

    async fn start_shared_manager(&self) -> Result<()> {
        let manager = self.start_manager("manager", &[]).await?;
        *self.shared.lock().await = Some(manager);
        Ok(())
    }

    /// Stop the shared manager (SIGTERM; it releases the Lease), for an exclusive scenario.
    pub async fn stop_shared_manager(&self) -> Result<()> {
        if let Some(mut manager) = self.shared.lock().await.take() {
            manager.terminate(Duration::from_secs(20)).await?;
        }
        Ok(())
    }

    /// Start the shared manager again after [`World::stop_shared_manager`].
    pub async fn restart_shared_manager(&self) -> Result<()> {
        if self.shared.lock().await.is_none() {
            self.start_shared_manager().await?;
        }
        Ok(())
    }

    fn manager_log_len(&self) -> u64 {
        std::fs::metadata(self.dir.join("manager.log")).map_or(0, |m| m.len())
    }

    /// Keep what explains a failure: the namespace's SecretSyncs and Events, Secret names (no values), and
    /// the shared manager's log lines about it since the scenario began.
    async fn keep_logs(&self, name: &str, ns: &str, mark: u64) -> PathBuf {
        let out = self.dir.join("failed").join(name);
        let _ = std::fs::create_dir_all(&out);
        for (file, args) in [
            (
                "secretsyncs.yaml",
                vec!["get", "secretsyncs", "-n", ns, "-o", "yaml"],
            ),
            (
                "secretproviderclasses.yaml",
                vec!["get", "secretproviderclasses", "-n", ns, "-o", "yaml"],
            ),
            ("events.txt", vec!["get", "events", "-n", ns]),
            ("secrets.txt", vec!["get", "secrets", "-n", ns, "--show-labels"]),
        ] {
            let text = self.k.run(&args, None).await.unwrap_or_else(|e| format!("{e:#}"));
            let _ = std::fs::write(out.join(file), text);
        }
        let log = std::fs::read(self.dir.join("manager.log")).unwrap_or_default();
        let tail = log.get(usize::try_from(mark).unwrap_or(0)..).unwrap_or_default();
        let lines: String = String::from_utf8_lossy(tail)
            .lines()
            .filter(|l| l.contains(ns) || l.contains("WARN") || l.contains("ERROR"))
            .map(|l| format!("{l}\n"))
            .collect();
        let _ = std::fs::write(out.join("manager.log"), lines);
        out
    }

    /// A fresh namespace with the app ServiceAccount and its federated credential.
    async fn namespace(&self, scenario: &str) -> Result<String> {
        let mut base: String = scenario
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '-'
                }
            })
            .collect();
        base.truncate(40);
        let ns = format!("e2e-{}-{}", base.trim_matches('-'), std::process::id() % 100_000);
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
    pub async fn vault_class(&self, ns: &str, object: &str, value: &str) -> Result<()> {
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

    /// A SecretProviderClass for the suite's vault with these `objects` entries.
    pub fn spc(&self, ns: &str, name: &str, provider: &str, objects: &[&str]) -> String {
        // The `objects` parameter, indented under `objects: |`.
        let entries: String = provider_proto::contract::Objects::new(objects.iter().copied())
            .to_yaml()
            .lines()
            .map(|line| format!("      {line}\n"))
            .collect();
        format!(
            "apiVersion: secrets-store.csi.x-k8s.io/v1\nkind: SecretProviderClass\nmetadata: {{name: \"{name}\", namespace: \"{ns}\"}}\nspec:\n  provider: \"{provider}\"\n  parameters:\n    clientID: \"{CLIENT_ID}\"\n    keyvaultName: \"{VAULT}\"\n    tenantId: \"{TENANT}\"\n    cloudName: AzureStackCloud\n    cloudEnvFileName: \"{env}\"\n    objects: |\n{entries}",
            env = self.env_file.display()
        )
    }
}

/// The `env` entries with a literal `value` of the manager container in `deploy/base/deployment.yaml`: the
/// binary runs here as it runs in the pod (the Downward API and ConfigMap ones are flags here).
fn manager_env(deploy: &Path) -> Result<Vec<(String, String)>> {
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
async fn install(k: &Kubectl, deploy: &Path) -> Result<()> {
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
        ],
        None,
    )
    .await?;
    Ok(())
}

/// A kubeconfig authenticating as the manager's ServiceAccount (a TokenRequest, as in the pod).
async fn manager_kubeconfig(k: &Kubectl, dir: &Path) -> Result<PathBuf> {
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

fn record_pid(dir: &Path, child: &tokio::process::Child) {
    if let Some(pid) = child.id()
        && let Ok(mut file) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join(PIDS_FILE))
    {
        let _ = writeln!(file, "{pid}");
    }
}

//! The world every scenario shares: the installed cluster side, the emulator, the provider and the shared
//! manager, and what a scenario asks of it (a namespace, a vault object and its class, another provider or
//! manager); on failure, the logs that explain it.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use keyvault_emulator::{Config, Emulator, FederatedCredential};
use serde_json::Value;
use sse_tls::TlsFiles;
use sse_tls::pki::{TestCa, Usage};

use super::install::{install, manager_env, manager_kubeconfig, token_kubeconfig};
use super::process::{Manager, record_pid, rss_mib, spawn_provider};
use super::{
    AUDIENCE, CLIENT_ID, ENV_DEPLOY, ENV_DIR, ENV_KUBECONFIG, ENV_MANAGER_BIN, ENV_PROVIDER_BIN, Kubectl,
    POLL_SECONDS, SA, SYSTEM_NS, TENANT, VAULT,
};

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
    /// Shared scenarios hold it to read, exclusive ones to write (see [`super::run`]).
    pub(super) gate: tokio::sync::RwLock<()>,
    provider: tokio::process::Child,
    provider_bin: PathBuf,
    server_tls: TlsFiles,
}

/// A path `cargo xtask e2e` gives in environment variable `name`.
fn env_path(name: &str) -> Result<PathBuf> {
    std::env::var_os(name)
        .map(PathBuf::from)
        .with_context(|| format!("{name} is not set: run the suite with `cargo xtask e2e`"))
}

impl World {
    /// Install `deploy/`, start the emulator, the provider and the shared manager.
    pub(super) async fn setup() -> Result<Self> {
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

    /// Start a manager with the suite's flags (poll interval [`POLL_SECONDS`], leader election on), each
    /// replaced by the same flag in `extra`, logging to `<dir>/<log>.log`.
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

    /// How long the shared manager's log is now (where a scenario's lines begin).
    pub(super) fn manager_log_len(&self) -> u64 {
        std::fs::metadata(self.dir.join("manager.log")).map_or(0, |m| m.len())
    }

    /// Keep what explains a failure: the namespace's SecretSyncs and Events, Secret names (no values), and
    /// the shared manager's log lines about it since the scenario began.
    pub(super) async fn keep_logs(&self, name: &str, ns: &str, mark: u64) -> PathBuf {
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
    pub(super) async fn namespace(&self, scenario: &str) -> Result<String> {
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

    /// kubectl as a namespace administrator of `ns`: ServiceAccount `name` there, bound to the built-in
    /// ClusterRole `admin` by a RoleBinding in `ns` (a tenant: everything in its namespace, nothing
    /// cluster-scoped that `admin` does not aggregate).
    pub async fn as_namespace_admin(&self, ns: &str, name: &str) -> Result<Kubectl> {
        self.k
            .run(&["create", "serviceaccount", name, "-n", ns], None)
            .await?;
        let subject = format!("--serviceaccount={ns}:{name}");
        self.k
            .run(
                &[
                    "create",
                    "rolebinding",
                    name,
                    "--clusterrole=admin",
                    &subject,
                    "-n",
                    ns,
                ],
                None,
            )
            .await?;
        let path = self.dir.join(format!("{ns}-{name}.kubeconfig"));
        Ok(Kubectl {
            kubeconfig: token_kubeconfig(&self.k, &path, ns, name).await?,
        })
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

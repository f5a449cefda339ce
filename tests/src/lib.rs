//! The harnesses of the workspace-level tests (docs/TESTING.md#tiers).
//!
//! This file is the tier-2 one ([`Env`]): the Key Vault + Entra emulator over HTTPS, the real
//! `provider-azure` serving mutual TLS on a Unix socket in a providers directory, and the manager's
//! reconciler against the in-memory cluster double. Everything between the reconciler and the emulator is
//! the production code path. Its modules hold the other two: [`deploy`], the renders the install-manifest
//! tests (`tests/deploy_*.rs`) check, and [`e2e`], the world of the tier-3 real-cluster suite.
#![allow(clippy::unwrap_used, clippy::missing_panics_doc)] // test harness: a panic is the failure report

pub mod deploy;
pub mod e2e;
pub mod events;
pub mod proxies;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use keyvault_emulator::{Emulator, FederatedCredential};
use kube::ResourceExt;
use manager::context::{Config, Context};
use manager::fake::FakeCluster;
use manager::provider::{ProviderClients, ProviderConfig};
use manager::reconcile::Report;
use sse_api::{
    SecretObject, SecretObjectData, SecretProviderClass, SecretProviderClassSpec, SecretSync, SecretSyncSpec,
};
use sse_tls::pki::{TestCa, Usage};

pub const TENANT: &str = "00000000-0000-0000-0000-000000000001";
pub const CLIENT_ID: &str = "11111111-2222-3333-4444-555555555555";
pub const ISSUER: &str = "https://oidc.cluster.test/abc";
pub const AUDIENCE: &str = provider_proto::contract::WORKLOAD_IDENTITY_AUDIENCE;
pub const VAULT: &str = "contoso-kv";
pub const NS: &str = "app";
pub const SA: &str = "app-sa";

/// A directory short enough for Unix socket paths.
pub fn short_tempdir() -> tempfile::TempDir {
    tempfile::Builder::new().prefix("sse").tempdir_in("/tmp").unwrap()
}

/// Emulator + provider + reconciler.
pub struct Env {
    pub emulator: Emulator,
    pub provider: provider_azure::Running,
    /// How the provider was started (for [`Env::start_provider`]).
    provider_args: Vec<String>,
    pub cluster: FakeCluster,
    pub ctx: Arc<Context>,
    pub env_file: PathBuf,
    pub dir: tempfile::TempDir,
    uid: std::sync::atomic::AtomicU64,
}

/// The reconciler settings of [`Env::start`].
pub fn default_config() -> Config {
    Config {
        audiences: vec![AUDIENCE.into()],
        pod_name: "sse-manager-0".into(),
        pod_uid: "pod-uid".into(),
        ..Config::default()
    }
}

impl Env {
    pub async fn start() -> Self {
        Self::start_with(default_config()).await
    }

    pub async fn start_with(config: Config) -> Self {
        Self::start_with_provider_args(config, &[]).await
    }

    /// Like [`Env::start_with`], with extra `provider-azure` flags.
    pub async fn start_with_provider_args(config: Config, provider_args: &[&str]) -> Self {
        Self::start_full(config, provider_args, "").await
    }

    /// Like [`Env::start`], with `extra_roots_pem` added to the provider's `--keyvault-ca-file` bundle (a
    /// TLS-inspecting proxy's CA).
    pub async fn start_trusting(extra_roots_pem: &str, provider_args: &[&str]) -> Self {
        Self::start_full(default_config(), provider_args, extra_roots_pem).await
    }

    async fn start_full(config: Config, provider_args: &[&str], extra_roots_pem: &str) -> Self {
        sse_tls::install_crypto_provider();
        let emulator = Emulator::start(keyvault_emulator::Config::default())
            .await
            .unwrap();
        emulator.entra().add_federated_credential(
            TENANT,
            CLIENT_ID,
            FederatedCredential {
                issuer: ISSUER.into(),
                subject: format!("system:serviceaccount:{NS}:{SA}"),
                audience: AUDIENCE.into(),
            },
        );
        let dir = short_tempdir();
        let ca = TestCa::new("sse-rs test CA").unwrap();
        let server = ca
            .write_leaf(&dir.path().join("server"), &["localhost"], Usage::Server)
            .unwrap();
        let client = ca
            .write_leaf(
                &dir.path().join("client"),
                &[sse_tls::MANAGER_IDENTITY],
                Usage::Client,
            )
            .unwrap();
        let kv_ca = dir.path().join("kv-ca.pem");
        std::fs::write(&kv_ca, format!("{}{extra_roots_pem}", emulator.ca_pem())).unwrap();
        let env_file = dir.path().join("cloud.json");
        std::fs::write(&env_file, emulator.cloud_env_json()).unwrap();
        let providers_dir = dir.path().join("providers");
        std::fs::create_dir_all(&providers_dir).unwrap();
        let provider_args: Vec<String> = [
            "provider-azure".to_string(),
            format!("--endpoint=unix://{}", providers_dir.join("azure.sock").display()),
            format!("--tls-cert-file={}", server.cert.display()),
            format!("--tls-key-file={}", server.key.display()),
            format!("--tls-client-ca-file={}", server.ca.display()),
            format!("--keyvault-ca-file={}", kv_ca.display()),
            "--health-addr=0".into(),
            "--metrics-addr=0".into(),
            "--max-retries=1".into(),
            // The emulator never gives two versions of an object the same `updated` second.
            "--change-settle=0s".into(),
        ]
        .into_iter()
        .chain(provider_args.iter().map(|a| (*a).to_string()))
        .collect();
        let provider = provider_azure::start(provider_azure::Args::parse_from(provider_args.clone()))
            .await
            .unwrap();

        let cluster = FakeCluster::default();
        cluster.set_issuer(ISSUER);
        cluster.add_service_account(NS, SA);
        let providers = Arc::new(ProviderClients::new(ProviderConfig {
            dir: providers_dir,
            tls: Some(sse_tls::ClientTls::load(&client).unwrap()),
            plaintext: Default::default(),
            mount_timeout: Duration::from_secs(20),
            max_recv_bytes: 4 << 20,
            max_concurrent: 16,
        }));
        let ctx = Arc::new(Context::new(
            Arc::new(cluster.clone()),
            providers,
            config,
            manager::metrics::Metrics::default(),
        ));
        Self {
            emulator,
            provider,
            provider_args,
            cluster,
            ctx,
            env_file,
            dir,
            uid: std::sync::atomic::AtomicU64::new(1),
        }
    }

    /// The provider dies the way a SIGKILL leaves it: its socket file stays behind, and nothing answers on
    /// it (connection refused).
    pub async fn kill_provider(&mut self) {
        self.provider.shutdown.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(10), &mut self.provider.done).await;
        // A graceful stop removes the socket; a killed process cannot: put back a file nobody listens on.
        let socket = self.dir.path().join("providers/azure.sock");
        if !socket.exists() {
            drop(std::os::unix::net::UnixListener::bind(&socket).unwrap());
        }
    }

    /// Start the provider again, as its container restarts, on the same socket.
    pub async fn start_provider(&mut self) {
        self.provider = provider_azure::start(provider_azure::Args::parse_from(self.provider_args.clone()))
            .await
            .unwrap();
    }

    /// A fresh reconciler on the same cluster and provider, as after a manager restart.
    pub fn restart(&mut self) {
        self.ctx = Arc::new(Context::new(
            Arc::new(self.cluster.clone()),
            self.ctx.providers.clone(),
            self.ctx.config.clone(),
            manager::metrics::Metrics::default(),
        ));
    }

    /// A SecretProviderClass for the emulator's vault with these `objects` entries, stored in the cluster.
    pub fn put_class(&self, name: &str, provider: &str, objects: &[&str]) -> SecretProviderClass {
        self.put_class_for(name, provider, VAULT, CLIENT_ID, objects)
    }

    /// Let the suite's ServiceAccount federate to Entra application `client_id` too (another identity).
    pub fn allow_client(&self, client_id: &str) {
        self.emulator.entra().add_federated_credential(
            TENANT,
            client_id,
            FederatedCredential {
                issuer: ISSUER.into(),
                subject: format!("system:serviceaccount:{NS}:{SA}"),
                audience: AUDIENCE.into(),
            },
        );
    }

    /// Like [`Env::put_class`], for any vault of the emulator and any client ID.
    pub fn put_class_for(
        &self,
        name: &str,
        provider: &str,
        vault: &str,
        client_id: &str,
        objects: &[&str],
    ) -> SecretProviderClass {
        let yaml = provider_proto::contract::Objects::new(objects.iter().copied()).to_yaml();
        let parameters = BTreeMap::from([
            ("keyvaultName".to_string(), vault.to_string()),
            ("tenantID".to_string(), TENANT.to_string()),
            ("clientID".to_string(), client_id.to_string()),
            ("cloudName".to_string(), "AzureStackCloud".to_string()),
            (
                "cloudEnvFileName".to_string(),
                self.env_file.display().to_string(),
            ),
            (provider_proto::contract::attributes::OBJECTS.to_string(), yaml),
        ]);
        let mut spc = SecretProviderClass::new(
            name,
            SecretProviderClassSpec {
                provider: Some(provider.into()),
                parameters: Some(parameters.into_iter().collect()),
                ..SecretProviderClassSpec::default()
            },
        );
        spc.metadata.namespace = Some(NS.into());
        self.cluster.put_class(spc.clone());
        spc
    }

    /// A SecretProviderClass like [`Env::put_class`] whose vault cannot be reached: its cloud's Key Vault
    /// suffix names a loopback port nobody listens on (connection refused), Entra is the emulator's.
    pub fn put_unreachable_class(&self, name: &str, objects: &[&str]) -> SecretProviderClass {
        let closed = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap();
        let dead_env = self.dir.path().join(format!("dead-{name}.json"));
        let env = self
            .emulator
            .cloud_env_json()
            .replace(&self.emulator.dns_suffix(), &format!("vault.localhost:{closed}"));
        std::fs::write(&dead_env, env).unwrap();
        let mut spc = self.put_class(name, "azure", objects);
        spc.spec
            .parameters
            .get_or_insert_with(Default::default)
            .insert("cloudEnvFileName".into(), dead_env.display().to_string());
        self.cluster.put_class(spc.clone());
        spc
    }

    /// A SecretSync (as the API server would hand it over: uid and generation set).
    pub fn sync(&self, name: &str, class: &str, type_: &str, data: &[(&str, &str)]) -> SecretSync {
        let mut sync = SecretSync::new(
            name,
            SecretSyncSpec {
                service_account_name: SA.into(),
                secret_provider_class_name: class.into(),
                secret_object: SecretObject {
                    type_: type_.into(),
                    data: data
                        .iter()
                        .map(|(s, t)| SecretObjectData {
                            source_path: (*s).into(),
                            target_key: (*t).into(),
                            property: None,
                        })
                        .collect(),
                    ..SecretObject::default()
                },
                ..SecretSyncSpec::default()
            },
        );
        sync.metadata.namespace = Some(NS.into());
        let n = self.uid.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        sync.metadata.uid = Some(format!("ss-uid-{n}"));
        sync.metadata.generation = Some(1);
        sync
    }

    /// Reconcile, then feed the written status back into `sync` as the API server would.
    pub async fn reconcile(&self, sync: &mut SecretSync) -> Report {
        let report = reconcile(sync, &self.ctx).await;
        if let Some(status) = self.cluster.status(NS, &sync.name_any()) {
            sync.status = Some(status);
        }
        report
    }

    /// Reach the SecretSync's next scheduled check, then reconcile.
    pub async fn poll(&self, sync: &mut SecretSync) -> Report {
        self.ctx.expire(&format!("{NS}/{}", sync.name_any()));
        self.reconcile(sync).await
    }

    /// A spec change, as the API server records it.
    pub fn bump_generation(sync: &mut SecretSync) {
        sync.metadata.generation = Some(sync.metadata.generation.unwrap_or(0) + 1);
    }

    /// Import certificate `name` into the emulator's vault: a leaf for `app.example` that a fresh test CA
    /// issues for `validity`, whose secret is PEM as Key Vault keeps it (key, leaf, then the CA when
    /// `with_chain`). Returns the CA and the leaf.
    pub fn import_issued_certificate(
        &self,
        name: &str,
        validity: Duration,
        with_chain: bool,
    ) -> (TestCa, sse_tls::pki::Leaf) {
        let ca = TestCa::new("Issuing CA").unwrap();
        let leaf = ca.issue(&["app.example"], Usage::Server, validity).unwrap();
        let (blocks, _) = sse_tls::gopem::decode_all(leaf.cert_pem.as_bytes());
        let chain = if with_chain { ca.cert_pem() } else { "" };
        self.emulator.store().import_certificate(
            VAULT,
            name,
            keyvault_emulator::CertificateInput {
                leaf_der: blocks[0].bytes.clone(),
                secret_value: format!("{}{}{chain}", leaf.key_pem, leaf.cert_pem),
                content_type: "application/x-pem-file".into(),
                public_key: keyvault_emulator::PublicJwk::Rsa {
                    n: vec![0xc3; 256],
                    e: vec![1, 0, 1],
                },
            },
        );
        (ca, leaf)
    }

    /// `key → value` of the Secret's data.
    pub fn secret_data(&self, name: &str) -> BTreeMap<String, String> {
        self.cluster
            .secret(NS, name)
            .and_then(|s| s.data)
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, String::from_utf8_lossy(&v.0).into_owned()))
            .collect()
    }
}

/// One reconcile as the controller runs it: a failed one goes through the error policy, which decides
/// when to retry.
pub async fn reconcile(sync: &SecretSync, ctx: &Context) -> Report {
    match manager::reconcile::reconcile(sync, ctx).await {
        Ok(report) => report,
        Err(error) => error.report(manager::reconcile::retry_after(sync, &error, ctx)),
    }
}

/// `(status, reason, message)` of a condition.
pub fn condition(sync: &SecretSync, type_: &str) -> (String, String, String) {
    let c = sse_api::conditions::find_condition(&sync.status.as_ref().unwrap().conditions, type_)
        .unwrap_or_else(|| panic!("no {type_} condition in {:?}", sync.status));
    (c.status.clone(), c.reason.clone(), c.message.clone())
}

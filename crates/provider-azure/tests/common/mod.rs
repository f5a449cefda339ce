//! Tier-2 harness: the Key Vault + Entra emulator over HTTPS, and the provider serving
//! `v1alpha1.CSIDriverProvider` over a real Unix socket with mutual TLS, certificates minted the way
//! cert-manager would. Nothing is mocked between the gRPC client and the emulator.
#![allow(dead_code)]

use provider_proto::contract::{Objects, attributes};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use keyvault_emulator::{Emulator, FederatedCredential};
use provider_proto::v1alpha1::csi_driver_provider_client::CsiDriverProviderClient;
use provider_proto::v1alpha1::{MountRequest, MountResponse};
use sse_tls::pki::{TestCa, Usage};
use sse_tls::{ClientTls, TlsFiles};
use tonic::transport::Channel;

pub const TENANT: &str = "00000000-0000-0000-0000-000000000001";
pub const CLIENT_ID: &str = "11111111-2222-3333-4444-555555555555";
pub const ISSUER: &str = "https://oidc.cluster.test/abc";
pub const SUBJECT: &str = "system:serviceaccount:app:app-sa";
pub const AUDIENCE: &str = provider_proto::contract::WORKLOAD_IDENTITY_AUDIENCE;
pub const VAULT: &str = "contoso-kv";

pub struct Harness {
    pub emulator: Emulator,
    pub provider: provider_azure::Running,
    pub socket: PathBuf,
    pub ca: TestCa,
    pub client_files: TlsFiles,
    pub server_dir: PathBuf,
    pub env_file: PathBuf,
    pub dir: tempfile::TempDir,
}

/// A directory short enough for Unix socket paths (sun_path is ~108 bytes).
pub fn short_tempdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("sse")
        .tempdir_in("/tmp")
        .expect("tempdir")
}

impl Harness {
    pub async fn start() -> Self {
        Self::start_with(&[]).await
    }

    /// Start the emulator and a provider with mTLS; `extra_args` are appended to the provider's flags.
    pub async fn start_with(extra_args: &[&str]) -> Self {
        sse_tls::install_crypto_provider();
        let emulator = Emulator::start(keyvault_emulator::Config::default())
            .await
            .expect("emulator");
        emulator.entra().add_federated_credential(
            TENANT,
            CLIENT_ID,
            FederatedCredential {
                issuer: ISSUER.into(),
                subject: SUBJECT.into(),
                audience: AUDIENCE.into(),
            },
        );
        let dir = short_tempdir();
        let ca = TestCa::new("sse-rs test CA").expect("ca");
        let server_dir = dir.path().join("server");
        let server_files = ca
            .write_leaf(&server_dir, &["localhost"], Usage::Server)
            .expect("server cert");
        let client_files = ca
            .write_leaf(
                &dir.path().join("client"),
                &[sse_tls::MANAGER_IDENTITY],
                Usage::Client,
            )
            .expect("client cert");
        let kv_ca = dir.path().join("kv-ca.pem");
        std::fs::write(&kv_ca, emulator.ca_pem()).expect("write kv ca");
        let env_file = dir.path().join("cloud.json");
        std::fs::write(&env_file, emulator.cloud_env_json()).expect("write env");
        let socket = dir.path().join("azure.sock");

        let mut args = vec![
            "provider-azure".to_string(),
            format!("--endpoint=unix://{}", socket.display()),
            format!("--tls-cert-file={}", server_files.cert.display()),
            format!("--tls-key-file={}", server_files.key.display()),
            format!("--tls-client-ca-file={}", server_files.ca.display()),
            format!("--keyvault-ca-file={}", kv_ca.display()),
            "--tls-reload-interval=100ms".into(),
            "--health-addr=127.0.0.1:0".into(),
            "--metrics-addr=127.0.0.1:0".into(),
            "--max-retries=2".into(),
        ];
        args.extend(extra_args.iter().map(|s| (*s).to_string()));
        let provider = provider_azure::start(provider_azure::Args::parse_from(args))
            .await
            .expect("provider");
        Self {
            emulator,
            provider,
            socket,
            ca,
            client_files,
            server_dir,
            env_file,
            dir,
        }
    }

    /// A client presenting the manager's certificate.
    pub fn client(&self) -> CsiDriverProviderClient<Channel> {
        let tls = ClientTls::load(&self.client_files).expect("client tls");
        CsiDriverProviderClient::new(sse_tls::unix_channel(
            self.socket.clone(),
            Some(tls),
            Duration::from_secs(5),
        ))
    }

    /// A service-account token for `subject` as the manager would mint it.
    pub fn tokens_attribute(&self, subject: &str) -> String {
        let token = keyvault_emulator::mint_assertion(ISSUER, subject, AUDIENCE, Duration::from_secs(600));
        serde_json::json!({ AUDIENCE: { "token": token, "expirationTimestamp": "2030-01-01T00:00:00Z" } })
            .to_string()
    }

    /// Attributes for a Mount of `objects` (the inner YAML entries) from the emulator's vault.
    pub fn attributes(&self, objects: &[&str], extra: &[(&str, &str)]) -> String {
        let yaml = Objects::new(objects.iter().copied()).to_yaml();
        let mut attrs: BTreeMap<String, String> = BTreeMap::from([
            ("keyvaultName".into(), VAULT.into()),
            ("tenantID".into(), TENANT.into()),
            ("clientID".into(), CLIENT_ID.into()),
            ("cloudName".into(), "AzureStackCloud".into()),
            ("cloudEnvFileName".into(), self.env_file.display().to_string()),
            (attributes::OBJECTS.into(), yaml),
            (attributes::POD_NAME.into(), "sse-manager-0".into()),
            (attributes::POD_UID.into(), "uid-1".into()),
            (attributes::POD_NAMESPACE.into(), "app".into()),
            (attributes::SERVICE_ACCOUNT_NAME.into(), "app-sa".into()),
            (
                attributes::SERVICE_ACCOUNT_TOKENS.into(),
                self.tokens_attribute(SUBJECT),
            ),
        ]);
        for (k, v) in extra {
            if v.is_empty() {
                attrs.remove(*k);
            } else {
                attrs.insert((*k).to_string(), (*v).to_string());
            }
        }
        serde_json::to_string(&attrs).expect("json")
    }

    pub async fn mount(&self, attributes: String) -> Result<MountResponse, tonic::Status> {
        self.client()
            .mount(MountRequest {
                attributes,
                secrets: "{}".into(),
                target_path: "/mnt/secrets-store".into(),
                permission: "420".into(),
                current_object_version: vec![],
            })
            .await
            .map(tonic::Response::into_inner)
    }

    pub async fn mount_objects(&self, objects: &[&str]) -> Result<MountResponse, tonic::Status> {
        self.mount(self.attributes(objects, &[])).await
    }
}

/// `path → contents` of a response.
pub fn files(response: &MountResponse) -> BTreeMap<String, Vec<u8>> {
    response
        .files
        .iter()
        .map(|f| (f.path.clone(), f.contents.clone()))
        .collect()
}

pub fn text(response: &MountResponse, path: &str) -> String {
    let files = files(response);
    String::from_utf8(
        files
            .get(path)
            .unwrap_or_else(|| panic!("no file {path} in {:?}", files.keys()))
            .clone(),
    )
    .expect("utf-8")
}

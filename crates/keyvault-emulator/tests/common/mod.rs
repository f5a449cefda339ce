//! Harness of the SDK tests: the emulator with one federated credential, a reqwest transport trusting its CA
//! with vault hosts resolved to loopback, and the official Azure SDK clients configured the way production
//! code would be against a sovereign cloud (custom authority host, challenge-resource verification left on).
#![allow(dead_code)] // each test binary uses its own part of the harness

pub mod eventgrid;
pub mod python;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use azure_core::cloud::CustomConfiguration;
use azure_core::credentials::TokenCredential;
use azure_core::error::ErrorKind;
use azure_core::http::{ClientOptions, FixedRetryOptions, RetryOptions, Transport};
use azure_identity::{
    ClientAssertionCredentialOptions, WorkloadIdentityCredential, WorkloadIdentityCredentialOptions,
};
use azure_security_keyvault_secrets::models::SetSecretParameters;
use azure_security_keyvault_secrets::{SecretClient, SecretClientOptions};
use keyvault_emulator::{Config, Emulator, FederatedCredential, mint_assertion};

pub const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
pub const CLIENT: &str = "11111111-2222-3333-4444-555555555555";
pub const ISSUER: &str = "https://oidc.cluster.example/abc/";
pub const SUBJECT: &str = "system:serviceaccount:sse:provider";
pub const AUDIENCE: &str = "api://AzureADTokenExchange";
pub const VAULT: &str = "myvault";

/// An access token from the emulator's Entra for `scope` (e.g. `https://eventgrid.azure.net/.default`).
pub async fn token_for(emu: &Emulator, http: &reqwest::Client, scope: &str) -> String {
    let assertion = mint_assertion(ISSUER, SUBJECT, AUDIENCE, Duration::from_secs(600));
    let scope = scope.replace(':', "%3A").replace('/', "%2F");
    let form = format!(
        "grant_type=client_credentials&client_id={}&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion={assertion}&scope={scope}",
        CLIENT
    );
    let resp = http
        .post(format!("{}{}/oauth2/v2.0/token", emu.authority_host(), TENANT))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: serde_json::Value = resp.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_string()
}

pub async fn start() -> Emulator {
    start_with(Config::default()).await
}

pub async fn start_with(config: Config) -> Emulator {
    let emu = Emulator::start(config).await.unwrap();
    emu.entra().add_federated_credential(
        TENANT,
        CLIENT,
        FederatedCredential {
            issuer: ISSUER.into(),
            subject: SUBJECT.into(),
            audience: AUDIENCE.into(),
        },
    );
    emu
}

/// A reqwest client that trusts only the emulator CA and resolves the given vault hosts to the emulator.
pub fn http(emu: &Emulator, vaults: &[&str]) -> reqwest::Client {
    let loopback = SocketAddr::from(([127, 0, 0, 1], emu.addr().port()));
    let mut builder = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(emu.ca_pem().as_bytes()).unwrap()]);
    for vault in vaults {
        builder = builder.resolve(&format!("{vault}.vault.localhost"), loopback);
    }
    builder.build().unwrap()
}

pub fn client_options(emu: &Emulator, http: &reqwest::Client, retry: RetryOptions) -> ClientOptions {
    let mut cloud = CustomConfiguration::default();
    cloud.authority_host = emu.authority_host();
    ClientOptions {
        transport: Some(Transport::new(Arc::new(http.clone()))),
        cloud: Some(Arc::new(cloud.into())),
        retry,
        ..Default::default()
    }
}

pub fn fast_retry(max_retries: u32) -> RetryOptions {
    RetryOptions::fixed(FixedRetryOptions {
        delay: azure_core::time::Duration::milliseconds(10),
        max_retries,
        ..Default::default()
    })
}

/// A workload-identity credential reading `assertion` from a projected-token style file.
pub struct Identity {
    pub credential: Arc<WorkloadIdentityCredential>,
    _dir: tempfile::TempDir,
}

pub fn identity_with(
    emu: &Emulator,
    http: &reqwest::Client,
    tenant: &str,
    client: &str,
    assertion: &str,
) -> Identity {
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("azure-identity-token");
    std::fs::write(&token_file, assertion).unwrap();
    let credential = WorkloadIdentityCredential::new(Some(WorkloadIdentityCredentialOptions {
        credential_options: ClientAssertionCredentialOptions {
            client_options: client_options(emu, http, RetryOptions::default()),
        },
        client_id: Some(client.into()),
        tenant_id: Some(tenant.into()),
        token_file_path: Some(token_file),
    }))
    .unwrap();
    Identity {
        credential,
        _dir: dir,
    }
}

pub fn identity(emu: &Emulator, http: &reqwest::Client) -> Identity {
    let assertion = mint_assertion(ISSUER, SUBJECT, AUDIENCE, Duration::from_secs(3600));
    identity_with(emu, http, TENANT, CLIENT, &assertion)
}

pub fn secret_client(
    emu: &Emulator,
    http: &reqwest::Client,
    id: &Identity,
    retry: RetryOptions,
) -> SecretClient {
    SecretClient::new(
        &emu.vault_url(VAULT),
        id.credential.clone(),
        Some(SecretClientOptions {
            client_options: client_options(emu, http, retry),
            ..Default::default() // verify_challenge_resource stays Some(true)
        }),
    )
    .unwrap()
}

pub fn set_params(value: &str) -> azure_core::http::RequestContent<SetSecretParameters> {
    SetSecretParameters {
        value: Some(value.into()),
        content_type: Some("text/plain".into()),
        ..Default::default()
    }
    .try_into()
    .unwrap()
}

pub fn version_of(id: &str) -> String {
    id.rsplit('/').next().unwrap().to_string()
}

pub fn raw_body(err: &azure_core::Error) -> String {
    match err.kind() {
        ErrorKind::HttpResponse {
            raw_response: Some(raw),
            ..
        } => String::from_utf8_lossy(raw.body().as_ref()).into_owned(),
        other => panic!("not an HTTP error: {other:?}: {err}"),
    }
}

/// Display of an error and all its sources.
pub fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(e) = source {
        out.push_str(" <- ");
        out.push_str(&e.to_string());
        source = e.source();
    }
    out
}

pub async fn access_token(id: &Identity) -> String {
    id.credential
        .get_token(&["https://vault.localhost/.default"], None)
        .await
        .unwrap()
        .token
        .secret()
        .to_string()
}

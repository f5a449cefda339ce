//! The emulator driven by the official Azure SDK for Rust (`azure_identity` 1.0, `azure_security_keyvault_*`
//! 1.0.1), configured the way production code would be against a sovereign cloud: a custom authority host,
//! a transport trusting the emulator's CA, vault hosts resolved to loopback, and challenge-resource
//! verification left on. Also a few raw HTTP checks of headers and envelopes the SDK hides.

#![allow(clippy::unwrap_used, reason = "test helpers outside #[test] functions")]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use azure_core::cloud::CustomConfiguration;
use azure_core::credentials::TokenCredential;
use azure_core::error::ErrorKind;
use azure_core::http::{ClientOptions, FixedRetryOptions, RetryOptions, StatusCode, Transport};
use azure_identity::{
    ClientAssertionCredentialOptions, WorkloadIdentityCredential, WorkloadIdentityCredentialOptions,
};
use azure_security_keyvault_certificates::{CertificateClient, CertificateClientOptions};
use azure_security_keyvault_keys::{KeyClient, KeyClientOptions};
use azure_security_keyvault_secrets::models::{
    SecretAttributes, SecretClientGetSecretOptions, SecretClientListSecretPropertiesVersionsOptions,
    SecretClientUpdateSecretPropertiesOptions, SetSecretParameters, UpdateSecretPropertiesParameters,
};
use azure_security_keyvault_secrets::{SecretClient, SecretClientOptions};
use futures::TryStreamExt as _;
use keyvault_emulator::{
    CertificateInput, Config, Emulator, FederatedCredential, ObjectKind, PublicJwk, SecretInput, Throttle,
    mint_assertion,
};

const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const CLIENT: &str = "11111111-2222-3333-4444-555555555555";
const ISSUER: &str = "https://oidc.cluster.example/abc/";
const SUBJECT: &str = "system:serviceaccount:sse:provider";
const AUDIENCE: &str = "api://AzureADTokenExchange";
const VAULT: &str = "myvault";

// ---------------------------------------------------------------------------------------------------
// Harness

async fn start() -> Emulator {
    start_with(Config::default()).await
}

async fn start_with(config: Config) -> Emulator {
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
fn http(emu: &Emulator, vaults: &[&str]) -> reqwest::Client {
    let loopback = SocketAddr::from(([127, 0, 0, 1], emu.addr().port()));
    let mut builder = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(emu.ca_pem().as_bytes()).unwrap()]);
    for vault in vaults {
        builder = builder.resolve(&format!("{vault}.vault.localhost"), loopback);
    }
    builder.build().unwrap()
}

fn client_options(emu: &Emulator, http: &reqwest::Client, retry: RetryOptions) -> ClientOptions {
    let mut cloud = CustomConfiguration::default();
    cloud.authority_host = emu.authority_host();
    ClientOptions {
        transport: Some(Transport::new(Arc::new(http.clone()))),
        cloud: Some(Arc::new(cloud.into())),
        retry,
        ..Default::default()
    }
}

fn fast_retry(max_retries: u32) -> RetryOptions {
    RetryOptions::fixed(FixedRetryOptions {
        delay: azure_core::time::Duration::milliseconds(10),
        max_retries,
        ..Default::default()
    })
}

/// A workload-identity credential reading `assertion` from a projected-token style file.
struct Identity {
    credential: Arc<WorkloadIdentityCredential>,
    _dir: tempfile::TempDir,
}

fn identity_with(
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

fn identity(emu: &Emulator, http: &reqwest::Client) -> Identity {
    let assertion = mint_assertion(ISSUER, SUBJECT, AUDIENCE, Duration::from_secs(3600));
    identity_with(emu, http, TENANT, CLIENT, &assertion)
}

fn secret_client(emu: &Emulator, http: &reqwest::Client, id: &Identity, retry: RetryOptions) -> SecretClient {
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

fn set_params(value: &str) -> azure_core::http::RequestContent<SetSecretParameters> {
    SetSecretParameters {
        value: Some(value.into()),
        content_type: Some("text/plain".into()),
        ..Default::default()
    }
    .try_into()
    .unwrap()
}

fn version_of(id: &str) -> String {
    id.rsplit('/').next().unwrap().to_string()
}

fn raw_body(err: &azure_core::Error) -> String {
    match err.kind() {
        ErrorKind::HttpResponse {
            raw_response: Some(raw),
            ..
        } => String::from_utf8_lossy(raw.body().as_ref()).into_owned(),
        other => panic!("not an HTTP error: {other:?}: {err}"),
    }
}

/// Display of an error and all its sources.
fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(e) = source {
        out.push_str(" <- ");
        out.push_str(&e.to_string());
        source = e.source();
    }
    out
}

async fn access_token(id: &Identity) -> String {
    id.credential
        .get_token(&["https://vault.localhost/.default"], None)
        .await
        .unwrap()
        .token
        .secret()
        .to_string()
}

// ---------------------------------------------------------------------------------------------------
// Secrets, keys and certificates through the SDK

#[tokio::test]
async fn secrets_roundtrip_with_workload_identity() {
    let emu = start().await;
    let http = http(&emu, &[VAULT]);
    let id = identity(&emu, &http);
    let client = secret_client(&emu, &http, &id, RetryOptions::default());

    // Five versions through PUT.
    let mut versions = Vec::new();
    for i in 1..=5 {
        let s = client
            .set_secret("Alpha", set_params(&format!("value-{i}")), None)
            .await
            .unwrap()
            .into_model()
            .unwrap();
        assert_eq!(s.value.as_deref(), Some(format!("value-{i}").as_str()));
        assert_eq!(s.content_type.as_deref(), Some("text/plain"));
        let id = s.id.unwrap();
        assert!(
            id.starts_with(&format!("{}/secrets/Alpha/", emu.vault_url(VAULT))),
            "{id}"
        );
        versions.push(version_of(&id));
    }
    assert!(versions.iter().all(|v| v.len() == 32));

    // Latest (sent as GET /secrets/alpha/ with a trailing slash), case-insensitively.
    let latest = client
        .get_secret("alpha", None)
        .await
        .unwrap()
        .into_model()
        .unwrap();
    assert_eq!(latest.value.as_deref(), Some("value-5"));
    let attrs = latest.attributes.unwrap();
    assert_eq!(attrs.enabled, Some(true));
    assert!(attrs.created.is_some() && attrs.updated.is_some());

    // By version.
    let second = client
        .get_secret(
            "alpha",
            Some(SecretClientGetSecretOptions {
                secret_version: Some(versions[1].clone()),
                ..Default::default()
            }),
        )
        .await
        .unwrap()
        .into_model()
        .unwrap();
    assert_eq!(second.value.as_deref(), Some("value-2"));

    // List versions, two per page: three pages, nextLink followed by the SDK, newest first.
    emu.reset_counters();
    let listed: Vec<_> = client
        .list_secret_properties_versions(
            "alpha",
            Some(SecretClientListSecretPropertiesVersionsOptions {
                maxresults: Some(2),
                ..Default::default()
            }),
        )
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(emu.counters().get("secrets.list_versions"), Some(&3));
    let listed_versions: Vec<_> = listed
        .iter()
        .map(|p| version_of(p.id.as_deref().unwrap()))
        .collect();
    let mut newest_first = versions.clone();
    newest_first.reverse();
    assert_eq!(listed_versions, newest_first);
    let created: Vec<_> = listed
        .iter()
        .map(|p| p.attributes.as_ref().unwrap().created.unwrap())
        .collect();
    assert!(
        created.windows(2).all(|w| w[0] > w[1]),
        "created strictly decreasing: {created:?}"
    );

    // Disable the latest version through PATCH; GET answers 403 SecretDisabled.
    let updated = client
        .update_secret_properties(
            "alpha",
            UpdateSecretPropertiesParameters {
                secret_attributes: Some(SecretAttributes {
                    enabled: Some(false),
                    ..Default::default()
                }),
                ..Default::default()
            }
            .try_into()
            .unwrap(),
            Some(SecretClientUpdateSecretPropertiesOptions {
                secret_version: Some(versions[4].clone()),
                ..Default::default()
            }),
        )
        .await
        .unwrap()
        .into_model()
        .unwrap();
    assert_eq!(updated.value, None, "PATCH answers without the value");
    assert_eq!(updated.attributes.unwrap().enabled, Some(false));

    let err = client.get_secret("alpha", None).await.unwrap_err();
    assert_eq!(err.http_status(), Some(StatusCode::Forbidden));
    match err.kind() {
        ErrorKind::HttpResponse { error_code, .. } => assert_eq!(error_code.as_deref(), Some("Forbidden")),
        other => panic!("{other:?}"),
    }
    let body = raw_body(&err);
    assert!(
        body.contains("\"innererror\":{\"code\":\"SecretDisabled\"}"),
        "{body}"
    );
    assert!(
        body.contains("Operation get is not allowed on a disabled secret."),
        "{body}"
    );

    // The list still shows the disabled version.
    let all: Vec<_> = client
        .list_secret_properties_versions("alpha", None)
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    let disabled = all
        .iter()
        .find(|p| p.id.as_deref().unwrap().ends_with(&versions[4]))
        .unwrap();
    assert_eq!(disabled.attributes.as_ref().unwrap().enabled, Some(false));

    // Older versions are still readable; unknown names are 404 SecretNotFound.
    let err = client.get_secret("missing", None).await.unwrap_err();
    assert_eq!(err.http_status(), Some(StatusCode::NotFound));
    assert!(raw_body(&err).contains("\"code\":\"SecretNotFound\""));

    // The vault list shows one entry per secret, id without version.
    emu.store().set_secret(VAULT, "beta", "b");
    let names: Vec<_> = client
        .list_secret_properties(None)
        .unwrap()
        .try_collect::<Vec<_>>()
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.id.unwrap())
        .collect();
    assert_eq!(
        names,
        vec![
            format!("{}/secrets/Alpha", emu.vault_url(VAULT)),
            format!("{}/secrets/beta", emu.vault_url(VAULT))
        ]
    );

    let counters = emu.counters();
    assert_eq!(
        counters.get("entra.token"),
        None,
        "token cached by the credential: {counters:?}"
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn expired_and_not_yet_valid_secrets_are_still_returned() {
    let emu = start().await;
    let http = http(&emu, &[VAULT]);
    let id = identity(&emu, &http);
    let client = secret_client(&emu, &http, &id, RetryOptions::default());
    emu.store().set_secret_with(
        VAULT,
        "old",
        SecretInput {
            value: "stale".into(),
            expires: Some(1_000_000_000),
            ..Default::default()
        },
    );
    emu.store().set_secret_with(
        VAULT,
        "future",
        SecretInput {
            value: "soon".into(),
            not_before: Some(4_000_000_000),
            ..Default::default()
        },
    );
    let old = client
        .get_secret("old", None)
        .await
        .unwrap()
        .into_model()
        .unwrap();
    assert_eq!(old.value.as_deref(), Some("stale"));
    assert!(old.attributes.unwrap().expires.is_some());
    let future = client
        .get_secret("future", None)
        .await
        .unwrap()
        .into_model()
        .unwrap();
    assert_eq!(future.value.as_deref(), Some("soon"));
}

#[tokio::test]
async fn keys_and_certificates() {
    let emu = start().await;
    let http = http(&emu, &[VAULT]);
    let id = identity(&emu, &http);

    // An RSA key (modulus with a leading zero byte, which the JWK must drop).
    let mut n = vec![0u8];
    n.extend((0..256).map(|i| (i as u8) | 0x80));
    let key_version = emu.store().create_key(
        VAULT,
        "rsa1",
        PublicJwk::Rsa {
            n: n.clone(),
            e: vec![1, 0, 1],
        },
    );
    let keys = KeyClient::new(
        &emu.vault_url(VAULT),
        id.credential.clone(),
        Some(KeyClientOptions {
            client_options: client_options(&emu, &http, RetryOptions::default()),
            ..Default::default()
        }),
    )
    .unwrap();
    let key = keys.get_key("rsa1", None).await.unwrap().into_model().unwrap();
    let jwk = key.key.unwrap();
    assert_eq!(jwk.n.as_deref(), Some(&n[1..]));
    assert_eq!(jwk.e.as_deref(), Some(&[1u8, 0, 1][..]));
    assert_eq!(
        jwk.kid.as_deref(),
        Some(format!("{}/keys/rsa1/{key_version}", emu.vault_url(VAULT)).as_str())
    );
    assert_eq!(key.attributes.unwrap().enabled, Some(true));

    // A certificate minted by a test CA (P-256 key), imported as PEM.
    let ca = sse_tls::pki::TestCa::new("test issuer").unwrap();
    let leaf = ca
        .issue(
            &["app.example"],
            sse_tls::pki::Usage::Server,
            Duration::from_secs(86_400),
        )
        .unwrap();
    let der = pem_to_der(&leaf.cert_pem);
    let (_, parsed) = x509_parser::parse_x509_certificate(&der).unwrap();
    let point = parsed.public_key().subject_public_key.data.to_vec();
    assert_eq!(point.len(), 65);
    let secret_value = format!("{}{}", leaf.key_pem, leaf.cert_pem);
    let cert_version = emu.store().import_certificate(
        VAULT,
        "web",
        CertificateInput {
            leaf_der: der.clone(),
            secret_value: secret_value.clone(),
            content_type: "application/x-pem-file".into(),
            public_key: PublicJwk::Ec {
                crv: "P-256".into(),
                x: point[1..33].to_vec(),
                y: point[33..].to_vec(),
            },
        },
    );
    let certs = CertificateClient::new(
        &emu.vault_url(VAULT),
        id.credential.clone(),
        Some(CertificateClientOptions {
            client_options: client_options(&emu, &http, RetryOptions::default()),
            ..Default::default()
        }),
    )
    .unwrap();
    let cert = certs
        .get_certificate("web", None)
        .await
        .unwrap()
        .into_model()
        .unwrap();
    let base = emu.vault_url(VAULT);
    assert_eq!(cert.cer.as_deref(), Some(der.as_slice()));
    assert_eq!(cert.x509_thumbprint.as_ref().map(Vec::len), Some(20));
    assert_eq!(
        cert.id.as_deref(),
        Some(format!("{base}/certificates/web/{cert_version}").as_str())
    );
    assert_eq!(
        cert.sid.as_deref(),
        Some(format!("{base}/secrets/web/{cert_version}").as_str())
    );
    assert_eq!(
        cert.kid.as_deref(),
        Some(format!("{base}/keys/web/{cert_version}").as_str())
    );
    let attrs = cert.attributes.unwrap();
    assert!(attrs.not_before.is_some() && attrs.expires.is_some());
    let policy = cert.policy.unwrap();
    assert_eq!(
        policy.secret_properties.unwrap().content_type.as_deref(),
        Some("application/x-pem-file")
    );

    // The certificate's key and secret share the version.
    let key = keys.get_key("web", None).await.unwrap().into_model().unwrap();
    assert_eq!(key.managed, Some(true));
    let jwk = key.key.unwrap();
    assert_eq!(jwk.x.as_deref(), Some(&point[1..33]));
    assert_eq!(jwk.y.as_deref(), Some(&point[33..]));

    let secrets = secret_client(&emu, &http, &id, RetryOptions::default());
    let secret = secrets
        .get_secret(
            "web",
            Some(SecretClientGetSecretOptions {
                secret_version: Some(cert_version.clone()),
                ..Default::default()
            }),
        )
        .await
        .unwrap()
        .into_model()
        .unwrap();
    assert_eq!(secret.managed, Some(true));
    assert_eq!(secret.value.as_deref(), Some(secret_value.as_str()));
    assert_eq!(
        secret.kid.as_deref(),
        Some(format!("{base}/keys/web/{cert_version}").as_str())
    );
    assert_eq!(secret.content_type.as_deref(), Some("application/x-pem-file"));

    // Disabling the certificate disables its secret: 403 on the secret, the certificate stays readable.
    emu.store()
        .set_enabled(VAULT, ObjectKind::Certificate, "web", "", false);
    let err = secrets.get_secret("web", None).await.unwrap_err();
    assert_eq!(err.http_status(), Some(StatusCode::Forbidden));
    let cert = certs
        .get_certificate("web", None)
        .await
        .unwrap()
        .into_model()
        .unwrap();
    assert_eq!(cert.attributes.unwrap().enabled, Some(false));

    // Deleting removes all three.
    emu.store().delete(VAULT, ObjectKind::Certificate, "web");
    let err = certs.get_certificate("web", None).await.unwrap_err();
    assert_eq!(err.http_status(), Some(StatusCode::NotFound));
    assert!(raw_body(&err).contains("CertificateNotFound"));
    let err = keys.get_key("web", None).await.unwrap_err();
    assert!(raw_body(&err).contains("KeyNotFound"));
}

fn pem_to_der(pem: &str) -> Vec<u8> {
    use base64::Engine as _;
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD.decode(body).unwrap()
}

// ---------------------------------------------------------------------------------------------------
// Entra errors, as the SDK reports them

#[tokio::test]
async fn entra_errors_surface_aadsts_codes() {
    let emu = start().await;
    emu.entra().add_client(TENANT, "no-fics");
    let http = http(&emu, &[VAULT]);
    let hour = Duration::from_secs(3600);
    let cases = [
        (
            "wrong issuer",
            TENANT,
            CLIENT,
            mint_assertion("https://evil/", SUBJECT, AUDIENCE, hour),
            "AADSTS700211",
        ),
        (
            "wrong subject",
            TENANT,
            CLIENT,
            mint_assertion(ISSUER, "system:serviceaccount:x:y", AUDIENCE, hour),
            "AADSTS700213",
        ),
        (
            "wrong audience",
            TENANT,
            CLIENT,
            mint_assertion(ISSUER, SUBJECT, "api://other", hour),
            "AADSTS700212",
        ),
        (
            "expired assertion",
            TENANT,
            CLIENT,
            mint_assertion(ISSUER, SUBJECT, AUDIENCE, Duration::ZERO),
            "AADSTS700024",
        ),
        (
            "unknown client",
            TENANT,
            "22222222-0000-0000-0000-000000000000",
            mint_assertion(ISSUER, SUBJECT, AUDIENCE, hour),
            "AADSTS700016",
        ),
        (
            "client without FICs",
            TENANT,
            "no-fics",
            mint_assertion(ISSUER, SUBJECT, AUDIENCE, hour),
            "AADSTS700211",
        ),
        (
            "unknown tenant",
            "99999999-0000-0000-0000-000000000000",
            CLIENT,
            mint_assertion(ISSUER, SUBJECT, AUDIENCE, hour),
            "AADSTS90002",
        ),
        (
            "malformed assertion",
            TENANT,
            CLIENT,
            "not-a-jwt".to_string(),
            "AADSTS50027",
        ),
    ];
    for (what, tenant, client, assertion, code) in cases {
        let id = identity_with(&emu, &http, tenant, client, &assertion);
        let err = id
            .credential
            .get_token(&["https://vault.localhost/.default"], None)
            .await
            .unwrap_err();
        let text = err.to_string();
        assert!(text.contains(code), "{what}: expected {code} in: {text}");
        assert!(
            text.contains("WorkloadIdentityCredential authentication failed"),
            "{what}: {text}"
        );
    }
    assert_eq!(emu.counters().get("entra.error"), Some(&8));
    assert_eq!(emu.counters().get("entra.token"), Some(&8));

    // Through a data-plane client: the challenge round-trip fails with the Entra error.
    let id = identity_with(
        &emu,
        &http,
        TENANT,
        CLIENT,
        &mint_assertion("https://evil/", SUBJECT, AUDIENCE, hour),
    );
    let client = secret_client(&emu, &http, &id, fast_retry(0));
    emu.store().set_secret(VAULT, "s", "v");
    // The retry policy wraps the credential error ("non-transport error occurred which will not be
    // retried"): the AADSTS text is in the source chain.
    let err = client.get_secret("s", None).await.unwrap_err();
    let chain = error_chain(&err);
    assert!(chain.contains("AADSTS700211"), "{chain}");

    // A token for another resource is refused by Entra (AADSTS500011).
    let id = identity(&emu, &http);
    let err = id
        .credential
        .get_token(&["https://management.azure.com/.default"], None)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("AADSTS500011"), "{err}");
}

// ---------------------------------------------------------------------------------------------------
// Throttling, faults, outage, counters

#[tokio::test]
async fn throttling_429_with_retry_after_and_sdk_retries() {
    let emu = start().await;
    let http = http(&emu, &[VAULT]);
    let id = identity(&emu, &http);
    emu.store().set_secret(VAULT, "s", "v");
    let client = secret_client(&emu, &http, &id, RetryOptions::default());
    client.get_secret("s", None).await.unwrap(); // challenge + token, outside the window below

    emu.faults().set_throttle(Throttle {
        limit: 3,
        window: Duration::from_secs(1),
        retry_after: Some(Duration::from_secs(1)),
    });
    emu.reset_counters();
    for _ in 0..3 {
        client.get_secret("s", None).await.unwrap();
    }
    let started = Instant::now();
    let s = client.get_secret("s", None).await.unwrap().into_model().unwrap();
    assert_eq!(s.value.as_deref(), Some("v"));
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "the SDK honoured Retry-After"
    );
    let counters = emu.counters();
    assert_eq!(counters.get("throttled"), Some(&1), "{counters:?}");
    assert_eq!(counters.get("secrets.get"), Some(&5), "{counters:?}");

    // Raw: the 429 envelope and header; and no header when retry_after is None.
    let token = access_token(&id).await;
    let url = format!("{}/secrets/s/?api-version=2025-07-01", emu.vault_url(VAULT));
    for retry_after in [Some(Duration::from_secs(7)), None] {
        emu.faults().set_throttle(Throttle {
            limit: 0,
            window: Duration::from_secs(10),
            retry_after,
        });
        let resp = http.get(&url).bearer_auth(&token).send().await.unwrap();
        assert_eq!(resp.status(), 429);
        assert_eq!(
            resp.headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_string()),
            retry_after.map(|_| "7".to_string())
        );
        let body: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(body["error"]["code"], "Throttled");
        assert_eq!(
            body["error"]["message"],
            "Request was not processed because too many requests were received. Reason: VaultRequestTypeLimitReached"
        );
    }
}

#[tokio::test]
async fn injected_5xx_are_retried_by_the_sdk() {
    let emu = start().await;
    let http = http(&emu, &[VAULT]);
    let id = identity(&emu, &http);
    emu.store().set_secret(VAULT, "s", "v");
    let client = secret_client(&emu, &http, &id, fast_retry(3));
    client.get_secret("s", None).await.unwrap();

    emu.reset_counters();
    emu.faults().fail_next(2, 503);
    let s = client.get_secret("s", None).await.unwrap().into_model().unwrap();
    assert_eq!(s.value.as_deref(), Some("v"));
    let counters = emu.counters();
    assert_eq!(counters.get("fault"), Some(&2), "{counters:?}");
    assert_eq!(counters.get("secrets.get"), Some(&3), "{counters:?}");

    // More failures than retries: the SDK gives up with the injected status.
    let no_retry = secret_client(&emu, &http, &id, fast_retry(0));
    no_retry.get_secret("s", None).await.unwrap();
    emu.faults().fail_next(1, 500);
    let err = no_retry.get_secret("s", None).await.unwrap_err();
    assert_eq!(err.http_status(), Some(StatusCode::InternalServerError));
    assert!(raw_body(&err).contains("\"code\":\"InternalServerError\""));
}

#[tokio::test]
async fn outage_closes_connections_and_recovers() {
    let emu = start().await;
    let http = http(&emu, &[VAULT]);
    let id = identity(&emu, &http);
    emu.store().set_secret(VAULT, "s", "v");
    let client = secret_client(&emu, &http, &id, fast_retry(1));
    client.get_secret("s", None).await.unwrap(); // a pooled connection now exists

    emu.faults().set_outage(true);
    let err = client.get_secret("s", None).await.unwrap_err();
    assert_eq!(
        err.http_status(),
        None,
        "transport error, not an HTTP answer: {err:?}"
    );
    assert!(
        matches!(err.kind(), ErrorKind::Io | ErrorKind::Connection),
        "{:?}: {err}",
        err.kind()
    );
    // A raw client cannot complete a TLS handshake either.
    let raw = http
        .get(format!(
            "{}/secrets/s/?api-version=2025-07-01",
            emu.vault_url(VAULT)
        ))
        .send()
        .await;
    assert!(raw.is_err());

    emu.faults().set_outage(false);
    let s = client.get_secret("s", None).await.unwrap().into_model().unwrap();
    assert_eq!(s.value.as_deref(), Some("v"));
    emu.shutdown().await;
}

#[tokio::test]
async fn counters_count_each_request_once() {
    let emu = start().await;
    let http = http(&emu, &[VAULT]);
    let id = identity(&emu, &http);
    for i in 0..3 {
        emu.store().set_secret(VAULT, "s", &format!("v{i}"));
    }
    let client = secret_client(&emu, &http, &id, RetryOptions::default());

    client.get_secret("s", None).await.unwrap(); // 401 challenge, token, retry with bearer
    let _: Vec<_> = client
        .list_secret_properties_versions(
            "s",
            Some(SecretClientListSecretPropertiesVersionsOptions {
                maxresults: Some(1),
                ..Default::default()
            }),
        )
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    client.set_secret("s", set_params("v3"), None).await.unwrap();
    let _: Vec<_> = client
        .list_secret_properties(None)
        .unwrap()
        .try_collect()
        .await
        .unwrap();

    let expected: std::collections::BTreeMap<String, u64> = [
        ("challenge", 1),
        ("entra.token", 1),
        ("secrets.get", 2),
        ("secrets.list_versions", 3),
        ("secrets.set", 1),
        ("secrets.list", 1),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    assert_eq!(emu.counters(), expected);
    emu.reset_counters();
    assert!(emu.counters().is_empty());
}

// ---------------------------------------------------------------------------------------------------
// Raw HTTP: challenge, headers, api-version, paging links, HTTP/2

#[tokio::test]
async fn raw_protocol_details() {
    let emu = start_with(Config {
        token_lifetime: Duration::from_secs(600),
        ..Config::default()
    })
    .await;
    let http = http(&emu, &[VAULT]);
    let base = emu.vault_url(VAULT);

    // No token: 401 with the challenge the SDKs parse.
    let resp = http
        .get(format!("{base}/secrets/x/?api-version=2025-07-01"))
        .header("x-ms-client-request-id", "abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert_eq!(resp.version(), reqwest::Version::HTTP_2);
    let h = resp.headers();
    assert_eq!(
        h["www-authenticate"],
        format!(
            "Bearer authorization=\"{}00000000-0000-0000-0000-000000000001\", resource=\"https://vault.localhost\"",
            emu.authority_host()
        )
        .as_str()
    );
    assert_eq!(h["content-type"], "application/json; charset=utf-8");
    assert_eq!(h["x-ms-client-request-id"], "abc-123");
    assert!(h.contains_key("x-ms-request-id"));
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(
        body,
        serde_json::json!({"error": {"code": "Unauthorized", "message": "AKV10000: Request is missing a Bearer or PoP token."}})
    );

    // A token from elsewhere is refused too.
    let resp = http
        .get(format!("{base}/secrets/x/?api-version=2025-07-01"))
        .bearer_auth("forged")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);

    // api-version is required and checked.
    let resp = http.get(format!("{base}/secrets/x")).send().await.unwrap();
    assert_eq!(resp.status(), 400);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "BadParameter");
    let resp = http
        .get(format!("{base}/secrets/x?api-version=1.0"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);

    // Paging with a real token over HTTP/1.1 too: absolute nextLink on the vault host, `%24skiptoken`
    // accepted, other api-versions accepted.
    let id = identity(&emu, &http);
    let token = access_token(&id).await;
    for i in 0..3 {
        emu.store().set_secret(VAULT, &format!("s{i}"), "v");
    }
    let h1 = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(emu.ca_pem().as_bytes()).unwrap()])
        .resolve(
            "myvault.vault.localhost",
            SocketAddr::from(([127, 0, 0, 1], emu.addr().port())),
        )
        .http1_only()
        .build()
        .unwrap();
    let resp = h1
        .get(format!("{base}/secrets?api-version=7.4&maxresults=2"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.version(), reqwest::Version::HTTP_11);
    let page: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(page["value"].as_array().unwrap().len(), 2);
    let next = page["nextLink"].as_str().unwrap();
    assert!(
        next.starts_with(&format!("{base}/secrets?api-version=7.4&$skiptoken=")),
        "{next}"
    );
    let reordered = format!(
        "{base}/secrets?maxresults=2&%24skiptoken={}&api-version=2026-03-01-preview",
        next.split("$skiptoken=")
            .nth(1)
            .unwrap()
            .split('&')
            .next()
            .unwrap()
    );
    let page: serde_json::Value = h1
        .get(reordered)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(page["value"].as_array().unwrap().len(), 1);
    assert!(page["nextLink"].is_null());

    // maxresults out of range.
    let resp = h1
        .get(format!("{base}/secrets?api-version=7.5&maxresults=26"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);

    // Versions of an unknown secret: an empty list.
    let page: serde_json::Value = h1
        .get(format!("{base}/secrets/nope/versions?api-version=7.6"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(page["value"], serde_json::json!([]));

    // Token endpoint answers numbers, not strings.
    let form = format!(
        "grant_type=client_credentials&client_id={CLIENT}&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion={}&scope=https%3A%2F%2Fvault.localhost%2F.default",
        mint_assertion(ISSUER, SUBJECT, AUDIENCE, Duration::from_secs(60))
    );
    let resp = http
        .post(format!("{}{TENANT}/oauth2/v2.0/token", emu.authority_host()))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 600);
    assert_eq!(body["ext_expires_in"], 600);

    // Cloud environment file.
    let env: serde_json::Value = serde_json::from_str(&emu.cloud_env_json()).unwrap();
    assert_eq!(env["name"], "AzureStackCloud");
    assert_eq!(env["activeDirectoryEndpoint"], emu.authority_host());
    assert_eq!(env["keyVaultEndpoint"], "https://vault.localhost/");
    assert_eq!(
        env["keyVaultDNSSuffix"],
        format!("vault.localhost:{}", emu.addr().port())
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn vaults_are_isolated_by_host() {
    let emu = start().await;
    let http = http(&emu, &["one", "two"]);
    let id = identity(&emu, &http);
    emu.store().set_secret("one", "shared-name", "from-one");
    emu.store().set_secret("TWO", "shared-name", "from-two");
    for (vault, expected) in [("one", "from-one"), ("two", "from-two")] {
        let client = SecretClient::new(
            &emu.vault_url(vault),
            id.credential.clone(),
            Some(SecretClientOptions {
                client_options: client_options(&emu, &http, RetryOptions::default()),
                ..Default::default()
            }),
        )
        .unwrap();
        let s = client
            .get_secret("shared-name", None)
            .await
            .unwrap()
            .into_model()
            .unwrap();
        assert_eq!(s.value.as_deref(), Some(expected));
    }
}

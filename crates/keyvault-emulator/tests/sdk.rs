//! The emulator driven by the official Azure SDK for Rust (`azure_identity` 1.0, `azure_security_keyvault_*`
//! 1.0.1), configured the way production code would be against a sovereign cloud: a custom authority host,
//! a transport trusting the emulator's CA, vault hosts resolved to loopback, and challenge-resource
//! verification left on (harness in `common/mod.rs`). Secrets, keys and certificates through the SDK; Entra
//! errors in `sdk_entra.rs`, throttling and faults in `sdk_faults.rs`, raw HTTP details in `protocol.rs`.

#![allow(clippy::unwrap_used, reason = "test helpers outside #[test] functions")]

mod common;

use std::time::Duration;

use azure_core::error::ErrorKind;
use azure_core::http::{RetryOptions, StatusCode};
use azure_security_keyvault_certificates::{CertificateClient, CertificateClientOptions};
use azure_security_keyvault_keys::{KeyClient, KeyClientOptions};
use azure_security_keyvault_secrets::models::{
    SecretAttributes, SecretClientGetSecretOptions, SecretClientListSecretPropertiesVersionsOptions,
    SecretClientUpdateSecretPropertiesOptions, UpdateSecretPropertiesParameters,
};
use common::*;
use futures::TryStreamExt as _;
use keyvault_emulator::{CertificateInput, ObjectKind, PublicJwk, SecretInput};

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

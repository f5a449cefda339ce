//! Tier 2: the provider over a real Unix socket with mutual TLS, against the Key Vault + Entra emulator:
//! what a Mount returns (version, files, object versions). Errors in `mount_errors.rs`, the transport and
//! admin endpoints in `serving.rs`, caching, coalescing and retries in `resilience.rs`.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

mod common;

use std::time::Duration;

use common::*;
use keyvault_emulator::ObjectKind;
use provider_proto::v1alpha1::VersionRequest;

#[tokio::test]
async fn version_reports_the_azure_provider() {
    let h = Harness::start().await;
    let v = h
        .client()
        .version(VersionRequest {
            version: "v1alpha1".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(v.version, "v1alpha1");
    assert_eq!(v.runtime_name, "secrets-store-csi-driver-provider-azure");
    assert!(!v.runtime_version.is_empty());
}

#[tokio::test]
async fn walkthrough_version_history_yields_exactly_n_files() {
    let h = Harness::start().await;
    let store = h.emulator.store();
    let v1 = store.set_secret(VAULT, "db-password", "one");
    let v2 = store.set_secret(VAULT, "db-password", "two");
    let v3 = store.set_secret(VAULT, "db-password", "three");
    let response = h
        .mount_objects(&["objectName: db-password\nobjectType: secret\nobjectVersionHistory: 2"])
        .await
        .unwrap();
    let paths = files(&response);
    assert_eq!(
        paths.keys().collect::<Vec<_>>(),
        vec!["db-password/0", "db-password/1"]
    );
    assert_eq!(text(&response, "db-password/0"), "three");
    assert_eq!(text(&response, "db-password/1"), "two");
    let ids: Vec<_> = response
        .object_version
        .iter()
        .map(|o| (o.id.as_str(), o.version.as_str()))
        .collect();
    assert_eq!(
        ids,
        vec![
            ("secret/db-password/0", v3.as_str()),
            ("secret/db-password/1", v2.as_str())
        ]
    );
    assert_ne!(v1, v2);

    // Starting at a given version walks back from it; disabled versions are skipped.
    store.set_enabled(VAULT, ObjectKind::Secret, "db-password", &v2, false);
    let response = h
        .mount_objects(&[&format!(
            "objectName: db-password\nobjectType: secret\nobjectVersionHistory: 5\nobjectVersion: {v3}\nobjectAlias: hist"
        )])
        .await
        .unwrap();
    assert_eq!(text(&response, "hist/0"), "three");
    assert_eq!(text(&response, "hist/1"), "one");
    assert_eq!(files(&response).len(), 2);
}

#[tokio::test]
async fn secrets_with_alias_version_encoding_and_mode() {
    let h = Harness::start().await;
    let store = h.emulator.store();
    let first = store.set_secret(VAULT, "plain", "v1-value");
    store.set_secret(VAULT, "plain", "v2-value");
    store.set_secret(VAULT, "b64", "aGVsbG8gd29ybGQ=");
    store.set_secret(VAULT, "hexed", "cafe");
    let response = h
        .mount_objects(&[
            "objectName: plain\nobjectType: secret\nobjectAlias: ALIAS\nfilePermission: '0600'",
            &format!("objectName: plain\nobjectType: secret\nobjectAlias: pinned\nobjectVersion: {first}"),
            "objectName: b64\nobjectType: secret\nobjectEncoding: base64",
            "objectName: hexed\nobjectType: secret\nobjectEncoding: HEX",
        ])
        .await
        .unwrap();
    let paths: Vec<_> = response.files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(
        paths,
        vec!["ALIAS", "pinned", "b64", "hexed"],
        "declared order is kept"
    );
    assert_eq!(text(&response, "ALIAS"), "v2-value");
    assert_eq!(text(&response, "pinned"), "v1-value");
    assert_eq!(text(&response, "b64"), "hello world");
    assert_eq!(files(&response)["hexed"], vec![0xca, 0xfe]);
    assert_eq!(response.files[0].mode, 0o600);
    assert_eq!(
        response.files[1].mode, 420,
        "the request's permission is the default mode"
    );
    assert_eq!(response.object_version[0].id, "secret/plain");
    assert_eq!(response.object_version[1].version, first);
}

#[tokio::test]
async fn keys_and_certificates_are_pem() {
    let h = Harness::start().await;
    let store = h.emulator.store();
    let ca = sse_tls::pki::TestCa::new("Leaf issuer").unwrap();
    let leaf = ca
        .issue(
            &["app.example"],
            sse_tls::pki::Usage::Server,
            Duration::from_secs(3600),
        )
        .unwrap();
    let der = pem::parse(&leaf.cert_pem).unwrap().into_contents();
    let n = vec![0xc3; 256];
    let e = vec![1, 0, 1];
    store.create_key(
        VAULT,
        "rsa-key",
        keyvault_emulator::PublicJwk::Rsa {
            n: n.clone(),
            e: e.clone(),
        },
    );
    store.import_certificate(
        VAULT,
        "web",
        keyvault_emulator::CertificateInput {
            leaf_der: der.clone(),
            secret_value: format!("{}{}", leaf.key_pem, leaf.cert_pem),
            content_type: "application/x-pem-file".into(),
            public_key: keyvault_emulator::PublicJwk::Rsa { n, e },
        },
    );
    let response = h
        .mount_objects(&[
            "objectName: rsa-key\nobjectType: key",
            "objectName: web\nobjectType: cert",
            "objectName: web\nobjectType: secret\nobjectAlias: web-bundle",
        ])
        .await
        .unwrap();
    assert!(text(&response, "rsa-key").starts_with("-----BEGIN PUBLIC KEY-----\n"));
    let cert = text(&response, "web");
    assert_eq!(pem::parse(&cert).unwrap().contents(), der.as_slice());
    let bundle = text(&response, "web-bundle");
    assert!(bundle.contains("PRIVATE KEY") && bundle.contains("BEGIN CERTIFICATE"));
    assert_eq!(response.object_version[1].id, "cert/web");
}

#[tokio::test]
async fn zero_objects_is_an_empty_success() {
    let h = Harness::start().await;
    let response = h
        .mount(h.attributes(&[], &[("objects", "array: []")]))
        .await
        .unwrap();
    assert!(response.files.is_empty() && response.object_version.is_empty());
}

#[tokio::test]
async fn pfx_certificates_become_key_then_chain_and_separate_files() {
    let h = Harness::start_with(&["--write-cert-and-key-in-separate-files=true"]).await;
    let root = sse_tls::pki::TestCa::new("Root").unwrap();
    let leaf = root
        .issue(
            &["svc.example"],
            sse_tls::pki::Usage::Server,
            Duration::from_secs(3600),
        )
        .unwrap();
    let der = pem::parse(&leaf.cert_pem).unwrap().into_contents();
    let key_der = pem::parse(&leaf.key_pem).unwrap().into_contents();
    let root_der = pem::parse(root.cert_pem()).unwrap().into_contents();
    let pfx = build_pfx(&key_der, &[root_der.clone(), der.clone()]);
    use base64::Engine;
    h.emulator.store().import_certificate(
        VAULT,
        "tls",
        keyvault_emulator::CertificateInput {
            leaf_der: der.clone(),
            secret_value: base64::engine::general_purpose::STANDARD.encode(&pfx),
            content_type: "application/x-pkcs12".into(),
            public_key: keyvault_emulator::PublicJwk::Oct,
        },
    );
    let response = h
        .mount_objects(&[
            "objectName: tls\nobjectType: secret",
            "objectName: tls\nobjectType: secret\nobjectFormat: pfx\nobjectEncoding: base64\nobjectAlias: tls.pfx",
        ])
        .await
        .unwrap();
    let paths: Vec<_> = response.files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(
        paths,
        vec![
            "tls.crt",
            "tls.key",
            "tls",
            "tls.pfx.crt",
            "tls.pfx.key",
            "tls.pfx"
        ]
    );
    let blocks = pem::parse_many(text(&response, "tls")).unwrap();
    let tags: Vec<_> = blocks.iter().map(pem::Pem::tag).collect();
    assert_eq!(tags, vec!["PRIVATE KEY", "CERTIFICATE", "CERTIFICATE"]);
    assert_eq!(blocks[1].contents(), der.as_slice(), "leaf first");
    assert_eq!(blocks[2].contents(), root_der.as_slice(), "root last");
    assert_eq!(files(&response)["tls.pfx"], pfx);
}

fn build_pfx(key_der: &[u8], chain: &[Vec<u8>]) -> Vec<u8> {
    use p12_keystore::{Certificate, KeyStore, KeyStoreEntry, PrivateKey, PrivateKeyChain};
    let certs: Vec<Certificate> = chain.iter().map(|d| Certificate::from_der(d).unwrap()).collect();
    let mut store = KeyStore::new();
    store.add_entry(
        "key",
        KeyStoreEntry::PrivateKeyChain(PrivateKeyChain::new(
            "key",
            PrivateKey::from_der(key_der).unwrap(),
            certs,
        )),
    );
    store.writer("").write().unwrap()
}

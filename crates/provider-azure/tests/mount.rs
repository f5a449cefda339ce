//! Tier 2: the provider over a real Unix socket with mutual TLS, against the Key Vault + Entra emulator.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

mod common;

use std::time::Duration;

use common::*;
use keyvault_emulator::{FederatedCredential, ObjectKind, Throttle};
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
async fn upstream_error_texts_over_the_wire() {
    let h = Harness::start().await;
    h.emulator.store().set_secret(VAULT, "exists", "x");
    let ok_object = "objectName: exists\nobjectType: secret";
    let cases: Vec<(String, &str)> = vec![
        (
            h.attributes(&[ok_object], &[("csi.storage.k8s.io/pod.name", "")]),
            "failed to mount objects, error: pod name is not provided",
        ),
        (
            h.attributes(&[ok_object], &[("keyvaultName", "")]),
            "failed to mount objects, error: keyvaultName is not provided",
        ),
        (
            h.attributes(&[ok_object], &[("tenantID", "")]),
            "failed to mount objects, error: tenantId is not provided",
        ),
        (
            h.attributes(&[ok_object], &[("objects", "")]),
            "failed to mount objects, error: objects is not set",
        ),
        (
            h.attributes(&[ok_object], &[("keyvaultName", "x")]),
            "failed to mount objects, error: failed to get vault: Invalid vault name: \"x\", must be between 3 and 24 chars",
        ),
        (
            h.attributes(&["objectName: s\nobjectType: password"], &[]),
            "failed to mount objects, error: failed to get objectType:password, objectName:s, objectVersion:: Invalid vaultObjectTypes. Should be secret, key, or cert",
        ),
        (
            h.attributes(
                &["objectName: s\nobjectType: secret\nobjectAlias: ../../etc"],
                &[],
            ),
            "failed to mount objects, error: failed to get objectType:secret, objectName:s, objectVersion:: file name must not contain '..'",
        ),
    ];
    for (attributes, want) in cases {
        let status = h.mount(attributes).await.unwrap_err();
        assert_eq!(status.code(), tonic::Code::InvalidArgument, "{want}");
        assert_eq!(status.message(), want);
    }
    let status = h.mount("not json".into()).await.unwrap_err();
    assert!(
        status
            .message()
            .starts_with("failed to unmarshal attributes, error: "),
        "{}",
        status.message()
    );
}

#[tokio::test]
async fn key_vault_errors_name_the_object_and_the_cause() {
    let h = Harness::start().await;
    let version = h.emulator.store().set_secret(VAULT, "off", "x");
    h.emulator
        .store()
        .set_enabled(VAULT, ObjectKind::Secret, "off", &version, false);
    let missing = h
        .mount_objects(&["objectName: nope\nobjectType: secret"])
        .await
        .unwrap_err();
    let m = missing.message();
    assert!(m.starts_with("failed to mount objects, error: failed to get objectType:secret, objectName:nope, objectVersion:: "), "{m}");
    assert!(m.contains("404") && m.contains("SecretNotFound"), "{m}");
    let disabled = h
        .mount_objects(&["objectName: off\nobjectType: secret"])
        .await
        .unwrap_err();
    assert!(
        disabled.message().contains("403") && disabled.message().contains("disabled"),
        "{}",
        disabled.message()
    );
}

#[tokio::test]
async fn entra_errors_are_returned_verbatim() {
    let h = Harness::start().await;
    h.emulator.store().set_secret(VAULT, "s", "x");
    let attributes = h.attributes(
        &["objectName: s\nobjectType: secret"],
        &[(
            "csi.storage.k8s.io/serviceAccount.tokens",
            &h.tokens_attribute("system:serviceaccount:app:intruder"),
        )],
    );
    let status = h.mount(attributes).await.unwrap_err();
    assert!(status.message().contains("AADSTS700213"), "{}", status.message());
    let attributes = h.attributes(
        &["objectName: s\nobjectType: secret"],
        &[("clientID", "unknown-client")],
    );
    let status = h.mount(attributes).await.unwrap_err();
    assert!(status.message().contains("AADSTS700016"), "{}", status.message());
}

#[tokio::test]
async fn a_client_without_a_valid_certificate_is_refused() {
    let h = Harness::start().await;
    h.emulator.store().set_secret(VAULT, "s", "x");
    let request = || provider_proto::v1alpha1::VersionRequest {
        version: "v1alpha1".into(),
    };
    // No TLS at all.
    let mut plain = provider_proto::v1alpha1::csi_driver_provider_client::CsiDriverProviderClient::new(
        sse_tls::unix_channel(h.socket.clone(), None, Duration::from_secs(2)),
    );
    assert!(plain.version(request()).await.is_err());
    // TLS with a certificate from another CA.
    let other = sse_tls::pki::TestCa::new("someone else").unwrap();
    let dir = short_tempdir();
    let mut files = other
        .write_leaf(dir.path(), &["manager"], sse_tls::pki::Usage::Client)
        .unwrap();
    files.ca = h.client_files.ca.clone(); // trusts the real server, presents a foreign client cert
    let mut foreign = provider_proto::v1alpha1::csi_driver_provider_client::CsiDriverProviderClient::new(
        sse_tls::unix_channel(
            h.socket.clone(),
            Some(sse_tls::ClientTls::load(&files).unwrap()),
            Duration::from_secs(2),
        ),
    );
    assert!(foreign.version(request()).await.is_err());
    // The right certificate works.
    assert!(h.client().version(request()).await.is_ok());
}

#[tokio::test]
async fn a_rotated_server_certificate_is_served_without_restart() {
    let h = Harness::start().await;
    let mut reloads = h.provider.tls_reloads.clone().expect("tls");
    let before = reloads.borrow_and_update().to_owned();
    // cert-manager renews into the same files; trust-manager keeps the CA.
    let renewed =
        h.ca.issue(
            &["localhost"],
            sse_tls::pki::Usage::Server,
            Duration::from_secs(7200),
        )
        .unwrap();
    h.ca.write(&h.server_dir, &renewed).unwrap();
    tokio::time::timeout(Duration::from_secs(10), reloads.changed())
        .await
        .expect("reload")
        .unwrap();
    assert!(*reloads.borrow() > before);
    // A new connection now sees the renewed certificate.
    let served = served_certificate(&h).await;
    assert_eq!(served, pem::parse(&renewed.cert_pem).unwrap().into_contents());
    assert!(
        h.client()
            .version(VersionRequest {
                version: "v1alpha1".into()
            })
            .await
            .is_ok()
    );
}

/// The leaf certificate the provider presents on a fresh connection.
async fn served_certificate(h: &Harness) -> Vec<u8> {
    let tls = sse_tls::ClientTls::load(&h.client_files).unwrap();
    let stream = tokio::net::UnixStream::connect(&h.socket).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let stream = tls.connector().connect(name, stream).await.unwrap();
    stream.get_ref().1.peer_certificates().unwrap()[0].to_vec()
}

#[tokio::test]
async fn entra_tokens_are_cached_per_identity() {
    let h = Harness::start().await;
    for name in ["a", "b", "c"] {
        h.emulator.store().set_secret(VAULT, name, name);
    }
    let objects = [
        "objectName: a\nobjectType: secret",
        "objectName: b\nobjectType: secret",
        "objectName: c\nobjectType: secret",
    ];
    h.mount_objects(&objects).await.unwrap();
    let cold = h.emulator.counters();
    assert_eq!(cold.get("entra.token"), Some(&1), "{cold:?}");
    assert_eq!(
        cold.get("challenge"),
        Some(&1),
        "one bearer challenge per client: {cold:?}"
    );
    for _ in 0..3 {
        h.mount_objects(&objects).await.unwrap();
    }
    let warm = h.emulator.counters();
    assert_eq!(
        warm.get("entra.token"),
        Some(&1),
        "no exchange per Mount: {warm:?}"
    );
    // Every GET the emulator saw, the one unauthenticated challenge request included.
    assert_eq!(warm.get("secrets.get"), Some(&(12 + 1)), "{warm:?}");

    // Another service account with its own federated credential gets its own token.
    h.emulator.entra().add_federated_credential(
        TENANT,
        CLIENT_ID,
        FederatedCredential {
            issuer: ISSUER.into(),
            subject: "system:serviceaccount:other:sa".into(),
            audience: AUDIENCE.into(),
        },
    );
    let other = h.attributes(
        &objects[..1],
        &[(
            "csi.storage.k8s.io/serviceAccount.tokens",
            &h.tokens_attribute("system:serviceaccount:other:sa"),
        )],
    );
    h.mount(other).await.unwrap();
    assert_eq!(h.emulator.counters().get("entra.token"), Some(&2));
}

#[tokio::test]
async fn identical_in_flight_fetches_are_coalesced_but_not_across_identities() {
    let h = Harness::start().await;
    h.emulator.store().set_secret(VAULT, "shared", "v");
    let objects = ["objectName: shared\nobjectType: secret"];
    h.mount_objects(&objects).await.unwrap(); // warm: token and challenge done
    h.emulator.reset_counters();
    h.emulator.faults().set_latency(Duration::from_millis(300));
    let mounts = (0..16).map(|_| h.mount_objects(&objects));
    let results = futures::future::join_all(mounts).await;
    assert!(results.iter().all(Result::is_ok));
    let gets = h.emulator.counters().get("secrets.get").copied().unwrap_or(0);
    assert!(gets < 16, "16 concurrent identical Mounts made {gets} GETs");

    // The same object for a different identity is fetched separately.
    h.emulator.entra().add_federated_credential(
        TENANT,
        CLIENT_ID,
        FederatedCredential {
            issuer: ISSUER.into(),
            subject: "system:serviceaccount:b:sa".into(),
            audience: AUDIENCE.into(),
        },
    );
    h.emulator.reset_counters();
    let a = h.mount_objects(&objects);
    let b = h.mount(h.attributes(
        &objects,
        &[(
            "csi.storage.k8s.io/serviceAccount.tokens",
            &h.tokens_attribute("system:serviceaccount:b:sa"),
        )],
    ));
    let (a, b) = tokio::join!(a, b);
    a.unwrap();
    b.unwrap();
    let counters = h.emulator.counters();
    // One GET per identity; the new identity's client also answered one challenge first.
    assert_eq!(counters.get("challenge"), Some(&1), "{counters:?}");
    assert_eq!(counters.get("secrets.get"), Some(&(2 + 1)), "{counters:?}");
}

#[tokio::test]
async fn throttling_is_retried_honouring_retry_after() {
    let h = Harness::start().await;
    for name in ["a", "b", "c"] {
        h.emulator.store().set_secret(VAULT, name, name);
    }
    h.emulator.faults().set_throttle(Throttle {
        limit: 2,
        window: Duration::from_secs(1),
        retry_after: Some(Duration::from_secs(1)),
    });
    let response = h
        .mount_objects(&[
            "objectName: a\nobjectType: secret",
            "objectName: b\nobjectType: secret",
            "objectName: c\nobjectType: secret",
        ])
        .await
        .unwrap();
    assert_eq!(response.files.len(), 3);
    assert!(h.emulator.counters().get("throttled").copied().unwrap_or(0) >= 1);
}

#[tokio::test]
async fn server_errors_are_retried() {
    let h = Harness::start().await;
    h.emulator.store().set_secret(VAULT, "s", "v");
    h.mount_objects(&["objectName: s\nobjectType: secret"])
        .await
        .unwrap();
    h.emulator.faults().fail_next(1, 503);
    let response = h
        .mount_objects(&["objectName: s\nobjectType: secret"])
        .await
        .unwrap();
    assert_eq!(text(&response, "s"), "v");
    assert_eq!(h.emulator.counters().get("fault"), Some(&1));
}

#[tokio::test]
async fn the_callers_deadline_bounds_a_mount() {
    let h = Harness::start().await;
    h.emulator.store().set_secret(VAULT, "slow", "v");
    h.emulator.faults().set_latency(Duration::from_secs(30));
    let mut request = tonic::Request::new(provider_proto::v1alpha1::MountRequest {
        attributes: h.attributes(&["objectName: slow\nobjectType: secret"], &[]),
        secrets: "{}".into(),
        target_path: "/mnt/secrets-store".into(),
        permission: "420".into(),
        current_object_version: vec![],
    });
    request.set_timeout(Duration::from_millis(500));
    let started = std::time::Instant::now();
    let status = h.client().mount(request).await.unwrap_err();
    assert!(
        matches!(
            status.code(),
            tonic::Code::DeadlineExceeded | tonic::Code::Cancelled
        ),
        "{status:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[tokio::test]
async fn an_outage_fails_the_mount_with_a_clear_error() {
    let h = Harness::start().await;
    h.emulator.store().set_secret(VAULT, "s", "v");
    h.emulator.faults().set_outage(true);
    let status = h
        .mount_objects(&["objectName: s\nobjectType: secret"])
        .await
        .unwrap_err();
    assert!(
        status.message().starts_with("failed to mount objects, error: "),
        "{}",
        status.message()
    );
    h.emulator.faults().set_outage(false);
    assert!(
        h.mount_objects(&["objectName: s\nobjectType: secret"])
            .await
            .is_ok(),
        "recovers by itself"
    );
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
async fn health_and_metrics_endpoints() {
    let h = Harness::start().await;
    h.emulator.store().set_secret(VAULT, "s", "TOPSECRETVALUE");
    h.mount_objects(&["objectName: s\nobjectType: secret"])
        .await
        .unwrap();
    let _ = h
        .mount_objects(&["objectName: missing\nobjectType: secret"])
        .await
        .unwrap_err();
    let health = http_get(h.provider.health_addr.unwrap(), "/healthz").await;
    assert!(
        health.starts_with("HTTP/1.1 200") && health.ends_with("ok"),
        "{health}"
    );
    let metrics = http_get(h.provider.metrics_addr.unwrap(), "/metrics").await;
    assert!(metrics.contains("keyvault_request_count{"), "{metrics}");
    assert!(metrics.contains("status=\"404\""), "{metrics}");
    assert!(
        metrics.contains("grpc_request_count{") && metrics.contains("grpc_code=\"NotFound\""),
        "{metrics}"
    );
    assert!(
        !metrics.contains("TOPSECRETVALUE")
            && !metrics.contains("missing")
            && !metrics.contains("SecretNotFound")
    );
    assert!(!metrics.contains("debug/pprof"));
}

async fn http_get(addr: std::net::SocketAddr, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut out = String::new();
    stream.read_to_string(&mut out).await.unwrap();
    out
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

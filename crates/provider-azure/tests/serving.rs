//! Tier 2: how the provider serves: mutual TLS refusing a client without a valid certificate, a rotated
//! server certificate picked up without restart, the health and metrics endpoints.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

mod common;

use std::time::Duration;

use common::*;
use provider_proto::v1alpha1::VersionRequest;

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
        .write_leaf(
            dir.path(),
            &[sse_tls::MANAGER_IDENTITY],
            sse_tls::pki::Usage::Client,
        )
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

/// A client certificate from the very CA the provider trusts, but naming another identity (what anyone
/// who may request certificates from a shared issuer could get): refused during the handshake. Only the
/// manager's identity (`--tls-client-name`, the manager's by default) gets through.
#[tokio::test]
async fn a_client_certificate_with_another_identity_is_refused() {
    let h = Harness::start().await;
    let request = || VersionRequest {
        version: "v1alpha1".into(),
    };
    let dir = short_tempdir();
    for identity in ["localhost", "intruder"] {
        let mut files =
            h.ca.write_leaf(
                &dir.path().join(identity),
                &[identity],
                sse_tls::pki::Usage::Client,
            )
            .unwrap();
        files.ca = h.client_files.ca.clone();
        let mut client = provider_proto::v1alpha1::csi_driver_provider_client::CsiDriverProviderClient::new(
            sse_tls::unix_channel(
                h.socket.clone(),
                Some(sse_tls::ClientTls::load(&files).unwrap()),
                Duration::from_secs(2),
            ),
        );
        assert!(
            client.version(request()).await.is_err(),
            "a certificate for {identity} from the trusted CA was accepted"
        );
    }
    assert!(
        h.client().version(request()).await.is_ok(),
        "the manager's identity is"
    );
}

#[tokio::test]
async fn a_rotated_server_certificate_is_served_without_restart() {
    let h = Harness::start().await;
    let mut reloads = h.provider.tls_reloads.clone().expect("tls");
    let before = reloads.borrow_and_update().to_owned();
    // cert-manager renews into the same files; the CA stays.
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

//! The `provider-azure` binary as a process: it serves on its socket, exits 0 on SIGTERM after draining,
//! removes its socket, and refuses to replace a file that is not a socket.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::process::{Command, Stdio};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};

fn short_tempdir() -> tempfile::TempDir {
    tempfile::Builder::new().prefix("sse").tempdir_in("/tmp").unwrap()
}

#[tokio::test]
async fn serves_then_exits_cleanly_on_sigterm() {
    let dir = short_tempdir();
    let socket = dir.path().join("azure.sock");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_provider-azure"))
        .arg(format!("--endpoint=unix://{}", socket.display()))
        .args(["--plaintext", "--health-addr=0", "--metrics-addr=0"])
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let serving = async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if line.contains("serving v1alpha1.CSIDriverProvider") {
                return;
            }
        }
        panic!("exited before serving");
    };
    tokio::time::timeout(Duration::from_secs(30), serving)
        .await
        .unwrap();
    let mut client = provider_proto::v1alpha1::csi_driver_provider_client::CsiDriverProviderClient::new(
        sse_tls::unix_channel(socket.clone(), None, Duration::from_secs(5)),
    );
    let version = client
        .version(provider_proto::v1alpha1::VersionRequest {
            version: "v1alpha1".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(version.runtime_name, "secrets-store-csi-driver-provider-azure");

    let pid = child.id().unwrap().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "{status:?}");
    assert!(!socket.exists(), "the socket is removed on shutdown");
}

/// With the logging the binary sets up (`--log-format=json`), each line about a Mount carries its span: the
/// namespace, pod, ServiceAccount, vault and object count, never the token.
#[tokio::test]
async fn the_lines_about_a_mount_name_it() {
    let dir = short_tempdir();
    let socket = dir.path().join("azure.sock");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_provider-azure"))
        .arg(format!("--endpoint=unix://{}", socket.display()))
        .args([
            "--plaintext",
            "--health-addr=0",
            "--metrics-addr=0",
            "--log-format=json",
        ])
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut line_with = async |text: &str| {
        while let Some(line) = lines.next_line().await.unwrap() {
            if line.contains(text) {
                return serde_json::from_str::<serde_json::Value>(&line).unwrap();
            }
        }
        panic!("exited before logging {text:?}");
    };
    tokio::time::timeout(
        Duration::from_secs(30),
        line_with("serving v1alpha1.CSIDriverProvider"),
    )
    .await
    .unwrap();
    let attributes = serde_json::json!({
        "csi.storage.k8s.io/pod.name": "sse-manager-0",
        "csi.storage.k8s.io/pod.namespace": "app",
        "sse-rs.io/secretsync": "app/web",
        "csi.storage.k8s.io/serviceAccount.name": "app-sa",
        "csi.storage.k8s.io/serviceAccount.tokens":
            r#"{"api://AzureADTokenExchange":{"token":"TOPSECRETJWT"}}"#,
        "keyvaultName": "contoso-kv",
        "tenantID": "tenant",
        "clientID": "client",
        "objects": "array: []",
    });
    let mut client = provider_proto::v1alpha1::csi_driver_provider_client::CsiDriverProviderClient::new(
        sse_tls::unix_channel(socket.clone(), None, Duration::from_secs(5)),
    );
    client
        .mount(provider_proto::v1alpha1::MountRequest {
            attributes: attributes.to_string(),
            secrets: "{}".into(),
            permission: "420".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let line = tokio::time::timeout(Duration::from_secs(30), line_with("mount succeeded"))
        .await
        .unwrap();
    assert_eq!(
        line["span"],
        serde_json::json!({
            "name": "mount",
            "secretsync": "app/web",
            "namespace": "app",
            "pod": "sse-manager-0",
            "service_account": "app-sa",
            "vault": "contoso-kv",
            "objects": 0,
        }),
        "{line}"
    );
    assert!(!line.to_string().contains("TOPSECRETJWT"), "{line}");
}

#[test]
fn refuses_to_replace_a_regular_file_and_rejects_bad_endpoints() {
    let dir = short_tempdir();
    let file = dir.path().join("azure.sock");
    std::fs::write(&file, b"not a socket").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_provider-azure"))
        .arg(format!("--endpoint=unix://{}", file.display()))
        .args(["--plaintext", "--health-addr=0", "--metrics-addr=0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not a socket"));
    assert!(
        !out.stderr.contains(&0x1b),
        "no ANSI colour codes when stderr is not a terminal: {:?}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(std::fs::read(&file).unwrap(), b"not a socket");

    let out = Command::new(env!("CARGO_BIN_EXE_provider-azure"))
        .args([
            "--endpoint=http://nope",
            "--plaintext",
            "--health-addr=0",
            "--metrics-addr=0",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid endpoint: http://nope"));

    // Plaintext on a non-loopback TCP address would expose Mount without authentication.
    let out = Command::new(env!("CARGO_BIN_EXE_provider-azure"))
        .args([
            "--endpoint=tcp://0.0.0.0:0",
            "--plaintext",
            "--health-addr=0",
            "--metrics-addr=0",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("refusing to serve plaintext gRPC"));

    // Without TLS files, plaintext must be asked for explicitly.
    let out = Command::new(env!("CARGO_BIN_EXE_provider-azure"))
        .arg(format!(
            "--endpoint=unix://{}",
            dir.path().join("b.sock").display()
        ))
        .args(["--health-addr=0", "--metrics-addr=0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("pass --plaintext"));
}

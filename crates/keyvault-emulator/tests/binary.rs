//! The `keyvault-emulator` binary: flags, seed file, CA and environment files, a token exchange with a
//! federated credential given on the command line, a data-plane read, an Event Grid subscription given on the
//! command line receiving the event of a data-plane write, and a clean exit on SIGTERM.

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;

use keyvault_emulator::mint_assertion;
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::Command;

#[tokio::test]
async fn binary_serves_seeded_secrets_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let seed = dir.path().join("seed.yaml");
    std::fs::write(
        &seed,
        "- vault: demo\n  name: greeting\n  versions: [hello, hi]\n- vault: demo\n  name: single\n  value: one\n",
    )
    .unwrap();
    let ca_out = dir.path().join("ca.pem");
    let env_out = dir.path().join("cloud.json");

    let mut child = Command::new(env!("CARGO_BIN_EXE_keyvault-emulator"))
        .args(["--listen", "127.0.0.1:0", "--seed"])
        .arg(&seed)
        .arg("--ca-out")
        .arg(&ca_out)
        .arg("--env-out")
        .arg(&env_out)
        .args([
            "--federated-credential",
            "tenant-a,client-a,https://issuer.example/,system:serviceaccount:ns:sa,api://AzureADTokenExchange",
            "--eventgrid",
            "demo=ns1/kv-events/sse",
            "--eventgrid-key",
            "k3y",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();

    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let addr: SocketAddr = line.strip_prefix("listening on ").unwrap().parse().unwrap();
    let line = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let subscription_url = line.strip_prefix("eventgrid ").unwrap().to_string();
    assert_eq!(
        subscription_url,
        format!(
            "https://ns1.eventgrid.localhost:{}/topics/kv-events/eventsubscriptions/sse",
            addr.port()
        )
    );

    let ca = std::fs::read_to_string(&ca_out).unwrap();
    let env: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&env_out).unwrap()).unwrap();
    assert_eq!(
        env["keyVaultDNSSuffix"],
        format!("vault.localhost:{}", addr.port())
    );

    let http = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(ca.as_bytes()).unwrap()])
        .resolve("demo.vault.localhost", addr)
        .resolve("ns1.eventgrid.localhost", addr)
        .build()
        .unwrap();

    let assertion = mint_assertion(
        "https://issuer.example/",
        "system:serviceaccount:ns:sa",
        "api://AzureADTokenExchange",
        Duration::from_secs(600),
    );
    let form = format!(
        "grant_type=client_credentials&client_id=client-a&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion={assertion}&scope=https%3A%2F%2Fvault.localhost%2F.default"
    );
    let token: serde_json::Value = http
        .post(format!(
            "https://127.0.0.1:{}/tenant-a/oauth2/v2.0/token",
            addr.port()
        ))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = token["access_token"].as_str().unwrap();

    let secret: serde_json::Value = http
        .get(format!(
            "https://demo.vault.localhost:{}/secrets/greeting/?api-version=2025-07-01",
            addr.port()
        ))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(secret["value"], "hi");

    // A write publishes its event to the subscription given on the command line.
    let written: serde_json::Value = http
        .put(format!(
            "https://demo.vault.localhost:{}/secrets/greeting?api-version=2025-07-01",
            addr.port()
        ))
        .bearer_auth(token)
        .json(&serde_json::json!({"value": "hello again"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let received: serde_json::Value = http
        .post(format!(
            "{subscription_url}:receive?api-version=2024-06-01&maxWaitTime=10"
        ))
        .header("authorization", "SharedAccessKey k3y")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(received["value"][0]["event"]["data"]["Id"], written["id"]);

    let pid = child.id().unwrap().to_string();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(exit.success(), "exit status {exit:?}");
}

//! The emulator driven by the official Azure SDK for **Python** with its defaults: `SecretClient`,
//! `CertificateClient` and `KeyClient` built without `api_version`, so they send the installed packages'
//! default versions (azure-keyvault-secrets / -certificates 4.12.0: `2026-04-01`; azure-keyvault-keys 4.11.3:
//! `2025-07-01`). The script, `tests/python/sdk_defaults.py`, records the api-version each request carried
//! and the package's own `DEFAULT_VERSION`; this test checks they agree and every call succeeded.
//!
//! Interpreter: `$SSE_PYTHON`, else `python3`. Without the Python SDK the test is skipped, unless
//! `SSE_REQUIRE_PYTHON_SDK=1` (CI sets it, see `.ci/run`), which makes that a failure.

#![allow(
    clippy::unwrap_used,
    clippy::print_stdout,
    reason = "test helpers outside #[test] functions; the skip notice and the script's output go to stdout"
)]

mod common;

use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::Duration;

use keyvault_emulator::{CertificateInput, Config, Emulator, FederatedCredential, PublicJwk, mint_assertion};
use tokio::process::Command;

const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const CLIENT: &str = "11111111-2222-3333-4444-555555555555";
const ISSUER: &str = "https://oidc.cluster.example/abc/";
const SUBJECT: &str = "system:serviceaccount:sse:provider";
const AUDIENCE: &str = "api://AzureADTokenExchange";
const VAULT: &str = "demo";

const SDK_MODULES: &str = "import azure.keyvault.secrets, azure.keyvault.certificates, azure.keyvault.keys";
const INSTALL_HINT: &str = "python3 -m venv /tmp/sse-pysdk && /tmp/sse-pysdk/bin/pip install \
                            azure-keyvault-secrets azure-keyvault-certificates azure-keyvault-keys, then set \
                            SSE_PYTHON=/tmp/sse-pysdk/bin/python";

/// An access token for the Key Vault resource, through the emulator's Entra token endpoint.
async fn access_token(emu: &Emulator) -> String {
    let http = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(emu.ca_pem().as_bytes()).unwrap()])
        .build()
        .unwrap();
    let assertion = mint_assertion(ISSUER, SUBJECT, AUDIENCE, Duration::from_secs(600));
    let form = format!(
        "grant_type=client_credentials&client_id={CLIENT}&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion={assertion}&scope=https%3A%2F%2Fvault.localhost%2F.default"
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
    body["access_token"].as_str().unwrap().to_string()
}

/// A certificate (P-256, imported as PEM; also creates managed key and secret `web`) and an RSA key.
fn seed(emu: &Emulator) {
    use base64::Engine as _;
    let ca = sse_tls::pki::TestCa::new("python test issuer").unwrap();
    let leaf = ca
        .issue(
            &["app.example"],
            sse_tls::pki::Usage::Server,
            Duration::from_secs(86_400),
        )
        .unwrap();
    let body: String = leaf
        .cert_pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    let der = base64::engine::general_purpose::STANDARD.decode(body).unwrap();
    let point = {
        let (_, parsed) = x509_parser::parse_x509_certificate(&der).unwrap();
        parsed.public_key().subject_public_key.data.to_vec()
    };
    assert_eq!(point.len(), 65, "uncompressed P-256 point");
    emu.store().import_certificate(
        VAULT,
        "web",
        CertificateInput {
            leaf_der: der,
            secret_value: format!("{}{}", leaf.key_pem, leaf.cert_pem),
            content_type: "application/x-pem-file".into(),
            public_key: PublicJwk::Ec {
                crv: "P-256".into(),
                x: point[1..33].to_vec(),
                y: point[33..].to_vec(),
            },
        },
    );
    let mut n = vec![0u8];
    n.extend((0..256).map(|i| (i as u8) | 0x80));
    emu.store()
        .create_key(VAULT, "rsa1", PublicJwk::Rsa { n, e: vec![1, 0, 1] });
}

#[tokio::test]
async fn python_sdk_defaults_are_accepted() {
    let Some(python) = common::python::interpreter("Python Azure SDK", SDK_MODULES, INSTALL_HINT).await
    else {
        return;
    };

    let emu = Emulator::start(Config::default()).await.unwrap();
    emu.entra().add_federated_credential(
        TENANT,
        CLIENT,
        FederatedCredential {
            issuer: ISSUER.into(),
            subject: SUBJECT.into(),
            audience: AUDIENCE.into(),
        },
    );
    seed(&emu);
    let token = access_token(&emu).await;
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, emu.ca_pem()).unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/sdk_defaults.py");

    let run = Command::new(&python)
        .arg(script)
        .env("VAULT_URL", emu.vault_url(VAULT))
        .env("CA_FILE", &ca_file)
        .env("EMULATOR_ADDR", emu.addr().to_string())
        .env("ACCESS_TOKEN", &token)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        // Talk to the emulator directly even where a proxy is configured.
        .env("NO_PROXY", "*")
        .env("no_proxy", "*")
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(120), run)
        .await
        .expect("the Python script did not finish within 120 s")
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{python} {script} failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        out.status
    );
    println!("{stdout}");

    let lines: BTreeMap<String, serde_json::Value> = stdout
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (v["client"].as_str().unwrap().to_string(), v)
        })
        .collect();
    for client in ["secrets", "certificates", "keys"] {
        let line = lines
            .get(client)
            .unwrap_or_else(|| panic!("no line for {client} in:\n{stdout}"));
        assert_eq!(line["ok"], true, "{line}");
        // The version on the wire is the installed package's default (read by the script from the package,
        // not written here), and since the calls succeeded the emulator accepted it.
        let default = line["default"].as_str().unwrap();
        assert!(!default.is_empty(), "{line}");
        assert_eq!(line["api_version"], default, "{client}: {line}");
    }
    assert_eq!(lines["certificates"]["fetched"], serde_json::json!(["web"]));
    assert_eq!(lines["keys"]["fetched"], serde_json::json!(["rsa1", "web"]));

    // Each operation reached the emulator (after a 401 challenge per client).
    let counters = emu.counters();
    for op in [
        "secrets.set",
        "secrets.get",
        "secrets.list",
        "certificates.list",
        "certificates.get",
        "keys.list",
        "keys.get",
        "challenge",
    ] {
        assert!(counters.get(op).copied().unwrap_or(0) >= 1, "{op}: {counters:?}");
    }
    emu.shutdown().await;
}

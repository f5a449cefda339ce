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
use std::time::Duration;

use keyvault_emulator::{CertificateInput, Emulator, PublicJwk};

const VAULT: &str = "demo";

const SDK_MODULES: &str = "import azure.keyvault.secrets, azure.keyvault.certificates, azure.keyvault.keys";
const INSTALL_HINT: &str = "python3 -m venv /tmp/sse-pysdk && /tmp/sse-pysdk/bin/pip install \
                            azure-keyvault-secrets azure-keyvault-certificates azure-keyvault-keys, then set \
                            SSE_PYTHON=/tmp/sse-pysdk/bin/python";

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

    // The suite's federated credential (common::start), and a vault of this test's own.
    let emu = common::start().await;
    seed(&emu);
    let http = common::eventgrid::client(&emu, &[]);
    let token = common::token_for(&emu, &http, "https://vault.localhost/.default").await;
    let stdout = common::python::run(
        &python,
        &emu,
        "sdk_defaults.py",
        &[("VAULT_URL", &emu.vault_url(VAULT)), ("ACCESS_TOKEN", &token)],
    )
    .await;

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

//! `cargo xtask demo`: the Arc walkthrough on built-in defaults, no cluster and no Azure needed.
//!
//! 1. Starts the Key Vault + Entra emulator (HTTPS, its own CA) with `my-secret` in two versions and a
//!    federated credential for the walkthrough's service account.
//! 2. Mints a CA and the two certificates cert-manager would issue; starts the real `provider-azure`
//!    binary serving mutual TLS on `<tmp>/providers/azure.sock`.
//! 3. Runs the real `manager render` on the walkthrough's SecretProviderClass and SecretSync (pointed at the
//!    emulator with `cloudName: AzureStackCloud`), which calls `Mount` over mTLS and prints the Secret.
//! 4. Rotates `my-secret` in the emulator and renders again: the new version arrives as `<name>/0`.
//! 5. Adds three secrets (one of them JSON) and renders `deploy/examples/shaped.yaml`: a registry pull
//!    secret composed by a template, and an app config from JSON properties, a `.env` file and a template.
#![allow(clippy::print_stdout, reason = "the demo prints its story")]

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use keyvault_emulator::{Config, Emulator, FederatedCredential};
use sse_tls::pki::{TestCa, Usage};

const TENANT: &str = "00000000-0000-0000-0000-000000000001";
const CLIENT_ID: &str = "11111111-2222-3333-4444-555555555555";
const ISSUER: &str = "https://oidc.demo.cluster.local";
const AUDIENCE: &str = provider_proto::contract::WORKLOAD_IDENTITY_AUDIENCE;
const VAULT: &str = "my-kv";

pub fn run(root: &Path) -> Result<()> {
    if std::env::var_os("SSE_E2E_KUBECONFIG").is_some() {
        println!(
            "note: SSE_E2E_KUBECONFIG is set; the walkthrough in that cluster is `cargo xtask e2e walkthrough`.\n"
        );
    }
    let bins = crate::procs::build_bins(root, &["provider-azure", "manager"], false)?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(demo(&bins))
}

async fn demo(bins: &std::collections::BTreeMap<String, PathBuf>) -> Result<()> {
    let (provider_bin, manager_bin) = (
        crate::procs::bin(bins, "provider-azure")?,
        crate::procs::bin(bins, "manager")?,
    );
    sse_tls::install_crypto_provider();
    let dir = tempfile::Builder::new().prefix("sse-demo").tempdir_in("/tmp")?;
    let d = dir.path();

    step("1. Key Vault + Entra emulator (HTTPS)");
    let emulator = Emulator::start(Config::default()).await?;
    emulator.entra().add_federated_credential(
        TENANT,
        CLIENT_ID,
        FederatedCredential {
            issuer: ISSUER.into(),
            subject: "system:serviceaccount:default:workload-identity-sa".into(),
            audience: AUDIENCE.into(),
        },
    );
    let v1 = emulator.store().set_secret(VAULT, "my-secret", "first-value");
    let v2 = emulator.store().set_secret(VAULT, "my-secret", "second-value");
    println!(
        "   vault {} with my-secret versions {v1} (older) and {v2} (latest)",
        emulator.vault_url(VAULT)
    );
    std::fs::write(d.join("kv-ca.pem"), emulator.ca_pem())?;
    std::fs::write(d.join("cloud.json"), emulator.cloud_env_json())?;

    step("2. provider-azure, mutual TLS on a Unix socket (certificates as cert-manager would issue them)");
    let ca = TestCa::new("sse-rs demo CA")?;
    let server = ca.write_leaf(&d.join("tls/server"), &["localhost"], Usage::Server)?;
    let client = ca.write_leaf(&d.join("tls/client"), &[sse_tls::MANAGER_IDENTITY], Usage::Client)?;
    let providers = d.join("providers");
    std::fs::create_dir_all(&providers)?;
    let mut provider = crate::procs::provider_command(
        &provider_bin,
        &providers.join("azure.sock"),
        &server,
        &d.join("kv-ca.pem"),
    )
    .stderr(Stdio::piped())
    .spawn()
    .context("start provider-azure")?;
    crate::procs::wait_for_line(&mut provider, crate::procs::PROVIDER_READY).await?;
    println!("   listening on {}", providers.join("azure.sock").display());

    step("3. manager render: the walkthrough's SecretProviderClass and SecretSync");
    let manifests = d.join("walkthrough.yaml");
    std::fs::write(&manifests, walkthrough(&d.join("cloud.json"))?)?;
    let token = keyvault_emulator::mint_assertion(
        ISSUER,
        "system:serviceaccount:default:workload-identity-sa",
        AUDIENCE,
        Duration::from_secs(600),
    );
    let token_file = d.join("sa-token");
    std::fs::write(&token_file, token)?;
    println!("{}", indent(&std::fs::read_to_string(&manifests)?));
    let walkthrough_render = |show: bool| {
        render(
            &manager_bin,
            &manifests,
            None,
            &token_file,
            &providers,
            &client,
            show,
        )
    };
    println!("{}", indent(&walkthrough_render(false).await?));

    step("4. Rotate my-secret in the vault, render again (values shown: they are demo values)");
    let v3 = emulator.store().set_secret(VAULT, "my-secret", "third-value");
    println!("   new latest version {v3}");
    println!("{}", indent(&walkthrough_render(true).await?));
    println!("   my-secret-data-key0 is now the new version, my-secret-data-key1 the previous one.");

    step(
        "5. Shaping: a registry pull secret and an app config from JSON secrets (deploy/examples/shaped.yaml)",
    );
    emulator.store().set_secret(VAULT, "acr-user", "contoso");
    emulator.store().set_secret(VAULT, "acr-token", "example-token");
    emulator.store().set_secret(
        VAULT,
        "db-config",
        r#"{"primary":{"host":"db1.internal","password":"example-password"},"pool":{"size":"20","idle":"5"}}"#,
    );
    println!("   vault secrets acr-user, acr-token and db-config (JSON) added");
    let shaped = d.join("shaped.yaml");
    std::fs::write(&shaped, filled(SHAPED, "shaped.yaml", &d.join("cloud.json"))?)?;
    for name in ["registry-pull", "app-config"] {
        println!("   -- {name}");
        let shaped_render = render(
            &manager_bin,
            &shaped,
            Some(name),
            &token_file,
            &providers,
            &client,
            true,
        )
        .await?;
        println!("{}", indent(&shaped_render));
    }

    let _ = provider.start_kill();
    emulator.shutdown().await;
    step("done");
    Ok(())
}

fn step(title: &str) {
    println!("\n== {title}");
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("   {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The walkthrough as users apply it, kept once for the demo and sse-api's walkthrough test.
const WALKTHROUGH: &str = include_str!("../../deploy/examples/walkthrough.yaml");
/// The shaping example as users apply it (sse-api's shaped_example test reads it too).
const SHAPED: &str = include_str!("../../deploy/examples/shaped.yaml");

/// The walkthrough with its placeholders filled in (without its header comment); the two `cloud*`
/// parameters point it at the emulator instead of Azure.
fn walkthrough(cloud_env: &Path) -> Result<String> {
    filled(WALKTHROUGH, "walkthrough.yaml", cloud_env)
}

/// An example of deploy/examples with its placeholders filled in (without its header comment).
fn filled(example: &str, file: &str, cloud_env: &Path) -> Result<String> {
    let fills = [
        ("clientID: \"<id>\"", format!("clientID: \"{CLIENT_ID}\"")),
        ("keyvaultName: my-kv", format!("keyvaultName: {VAULT}")),
        (
            "tenantId: \"<tenant>\"",
            format!(
                "tenantId: \"{TENANT}\"\n    cloudName: AzureStackCloud               # demo only: the emulator plays an Azure Stack cloud\n    cloudEnvFileName: {}",
                cloud_env.display()
            ),
        ),
    ];
    let mut text: String = example
        .lines()
        .skip_while(|l| l.starts_with('#'))
        .map(|l| format!("{l}\n"))
        .collect();
    for (placeholder, value) in fills {
        if text.matches(placeholder).count() != 1 {
            bail!("deploy/examples/{file}: expected `{placeholder}` exactly once");
        }
        text = text.replacen(placeholder, &value, 1);
    }
    Ok(text)
}

async fn render(
    manager: &Path,
    manifests: &Path,
    name: Option<&str>,
    token: &Path,
    providers: &Path,
    client: &sse_tls::TlsFiles,
    show_values: bool,
) -> Result<String> {
    let mut cmd = tokio::process::Command::new(manager);
    cmd.arg("render")
        .arg(manifests)
        .arg(format!("--token={AUDIENCE}={}", token.display()))
        .arg(format!("--provider-volume={}", providers.display()))
        .arg(format!("--provider-tls-cert-file={}", client.cert.display()))
        .arg(format!("--provider-tls-key-file={}", client.key.display()))
        .arg(format!("--provider-tls-ca-file={}", client.ca.display()));
    if show_values {
        cmd.arg("--show-values");
    }
    if let Some(name) = name {
        cmd.arg(format!("--name={name}"));
    }
    let out = cmd.output().await.context("run manager render")?;
    if !out.status.success() {
        bail!("manager render failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let mut text = String::from_utf8(out.stdout)?;
    if show_values {
        text.push_str(&decode_values(&text));
    }
    Ok(text)
}

/// Decoded values of the rendered Secret, for reading the demo.
fn decode_values(rendered: &str) -> String {
    use base64::Engine;
    let mut out = String::from("\n# decoded:\n");
    let mut in_data = false;
    for line in rendered.lines() {
        if line == "data:" {
            in_data = true;
            continue;
        }
        if in_data {
            let Some((key, value)) = line.trim().split_once(": ") else {
                break;
            };
            if !line.starts_with(' ') {
                break;
            }
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(value.trim())
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default();
            out.push_str(&format!("#   {key} = {decoded}\n"));
        }
    }
    out
}

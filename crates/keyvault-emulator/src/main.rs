//! `keyvault-emulator`: run the Key Vault + Entra emulator as a process (for the demo and manual testing).
//!
//! ```text
//! keyvault-emulator --listen 127.0.0.1:8443 --seed secrets.yaml --ca-out ca.pem --env-out cloud.json \
//!     --federated-credential 'TENANT,CLIENT_ID,https://issuer.example,system:serviceaccount:ns:sa,api://AzureADTokenExchange' \
//!     --eventgrid ns1/kv-events/sse --eventgrid-key KEY
//! ```
//!
//! Prints `listening on ADDR` on stdout once serving, then one `eventgrid URL` line per `--eventgrid` (the
//! subscription's URL, `https://ns1.eventgrid.localhost:PORT/topics/kv-events/eventsubscriptions/sse`); logs
//! go to stderr (`RUST_LOG`, default `info`). With `--eventgrid`, the near-expiry and expired events are
//! looked for every minute.
//! Stops cleanly on SIGINT or SIGTERM. The seed file format is documented in `keyvault_emulator::seed`.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context as _, bail};
use clap::Parser;
use keyvault_emulator::{Config, Emulator, FederatedCredential, SubscriptionOptions};

/// Azure Key Vault + Entra ID emulator over HTTPS.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, env = "KEYVAULT_EMULATOR_LISTEN", default_value = "127.0.0.1:8443")]
    listen: SocketAddr,

    /// YAML seed file: a list of {vault, name, value | versions: [..], contentType?, tags?}.
    #[arg(long)]
    seed: Option<PathBuf>,

    /// Write the CA certificate (PEM) that signed the server certificate to this file.
    #[arg(long)]
    ca_out: Option<PathBuf>,

    /// Write an Azure Stack style cloud environment JSON file describing the emulator.
    #[arg(long)]
    env_out: Option<PathBuf>,

    /// Register a federated identity credential: `tenant,clientId,issuer,subject,audience` (repeatable).
    #[arg(
        long = "federated-credential",
        value_name = "TENANT,CLIENT,ISSUER,SUBJECT,AUDIENCE"
    )]
    federated_credentials: Vec<String>,

    /// Tenant named in the bearer challenge.
    #[arg(long, default_value = "00000000-0000-0000-0000-000000000001")]
    default_tenant: String,

    /// An Event Grid namespace topic and queue subscription receiving the events of every vault, or of
    /// VAULT only (repeatable).
    #[arg(long = "eventgrid", value_name = "[VAULT=]NAMESPACE/TOPIC/SUBSCRIPTION")]
    eventgrid: Vec<String>,

    /// Shared access key (`Authorization: SharedAccessKey KEY`) of every `--eventgrid` namespace.
    #[arg(long)]
    eventgrid_key: Option<String>,
}

/// One `--eventgrid`: `(vault or every vault, namespace, topic, subscription)`.
type EventGridSpec = (Option<String>, String, String, String);

fn parse_eventgrid(spec: &str) -> anyhow::Result<EventGridSpec> {
    let (vault, path) = match spec.split_once('=') {
        Some((vault, path)) => (Some(vault.trim().to_string()), path),
        None => (None, spec),
    };
    let parts: Vec<&str> = path.split('/').map(str::trim).collect();
    let [namespace, topic, subscription] = parts.as_slice() else {
        bail!("--eventgrid '{spec}': expected [VAULT=]NAMESPACE/TOPIC/SUBSCRIPTION");
    };
    if parts.iter().any(|p| p.is_empty()) || vault.as_deref() == Some("") {
        bail!("--eventgrid '{spec}': no part may be empty");
    }
    Ok((
        vault,
        (*namespace).to_string(),
        (*topic).to_string(),
        (*subscription).to_string(),
    ))
}

fn parse_fic(spec: &str) -> anyhow::Result<(String, String, FederatedCredential)> {
    let parts: Vec<&str> = spec.splitn(5, ',').map(str::trim).collect();
    let [tenant, client, issuer, subject, audience] = parts.as_slice() else {
        bail!("--federated-credential '{spec}': expected tenant,clientId,issuer,subject,audience");
    };
    if parts.iter().any(|p| p.is_empty()) {
        bail!("--federated-credential '{spec}': no field may be empty");
    }
    Ok((
        (*tenant).to_string(),
        (*client).to_string(),
        FederatedCredential {
            issuer: (*issuer).to_string(),
            subject: (*subject).to_string(),
            audience: (*audience).to_string(),
        },
    ))
}

async fn shutdown_signal() -> anyhow::Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("installing the SIGTERM handler")?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r.context("waiting for SIGINT")?,
        _ = term.recv() => {}
    }
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();

    let fics = args
        .federated_credentials
        .iter()
        .map(|s| parse_fic(s))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let eventgrid = args
        .eventgrid
        .iter()
        .map(|s| parse_eventgrid(s))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let seed = match &args.seed {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading seed file {}", path.display()))?;
            keyvault_emulator::seed::parse(&text).with_context(|| format!("seed file {}", path.display()))?
        }
        None => Vec::new(),
    };

    let emulator = Emulator::start(Config {
        listen: args.listen,
        default_tenant: args.default_tenant.clone(),
        ..Config::default()
    })
    .await?;

    for (tenant, client, fic) in fics {
        tracing::info!(
            tenant,
            client,
            issuer = fic.issuer,
            subject = fic.subject,
            "federated credential"
        );
        emulator.entra().add_federated_credential(&tenant, &client, fic);
    }
    let seeded = keyvault_emulator::seed::apply(emulator.store(), seed);
    if seeded > 0 {
        tracing::info!(versions = seeded, "seeded secrets");
    }
    if let Some(path) = &args.ca_out {
        std::fs::write(path, emulator.ca_pem()).with_context(|| format!("writing {}", path.display()))?;
        tracing::info!(path = %path.display(), "wrote CA certificate");
    }
    if let Some(path) = &args.env_out {
        std::fs::write(path, emulator.cloud_env_json())
            .with_context(|| format!("writing {}", path.display()))?;
        tracing::info!(path = %path.display(), "wrote cloud environment file");
    }

    tracing::info!(
        authority_host = emulator.authority_host(),
        vault_url = emulator.vault_url("{vault}"),
        resource = emulator.keyvault_resource(),
        "ready"
    );
    let grid = emulator.event_grid();
    let mut subscription_urls = Vec::new();
    for (vault, namespace, topic, subscription) in &eventgrid {
        grid.add_subscription(namespace, topic, subscription, SubscriptionOptions::default());
        match vault {
            Some(vault) => grid.route_vault(vault, namespace, topic),
            None => grid.route_all_vaults(namespace, topic),
        }
        if let Some(key) = &args.eventgrid_key {
            grid.set_access_key(namespace, key);
        }
        let url = format!(
            "{}/topics/{topic}/eventsubscriptions/{subscription}",
            emulator.eventgrid_url(namespace)
        );
        tracing::info!(
            url,
            vault = vault.as_deref().unwrap_or("*"),
            resource = keyvault_emulator::EVENTGRID_RESOURCE,
            "event grid subscription"
        );
        subscription_urls.push(url);
    }
    if !eventgrid.is_empty() {
        let grid = grid.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
            loop {
                tick.tick().await;
                grid.expiry_pass(std::time::SystemTime::now());
            }
        });
    }
    #[allow(
        clippy::print_stdout,
        reason = "the listen address and subscription URLs on stdout are this binary's interface"
    )]
    {
        println!("listening on {}", emulator.addr());
        for url in &subscription_urls {
            println!("eventgrid {url}");
        }
    }

    let result = shutdown_signal().await;
    tracing::info!("shutting down");
    emulator.shutdown().await;
    result
}

//! The provider benchmark: Mounts of [`SECRETS`] secrets through the release `provider-azure` binary, serving
//! mutual TLS on a Unix socket, against the Key Vault + Entra emulator, at each of [`LEVELS`].

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use keyvault_emulator::{Config, Emulator, FederatedCredential, Throttle};
use provider_proto::v1alpha1::MountRequest;
use provider_proto::v1alpha1::csi_driver_provider_client::CsiDriverProviderClient;
use sse_tls::pki::{TestCa, Usage};
use tonic::transport::Channel;

use super::{keyvault_requests, percentile};

const TENANT: &str = "00000000-0000-0000-0000-000000000001";
const CLIENT_ID: &str = "bench-client";
const ISSUER: &str = "https://oidc.bench.local";
const SUBJECT: &str = "system:serviceaccount:bench:sa";
const AUDIENCE: &str = provider_proto::contract::WORKLOAD_IDENTITY_AUDIENCE;
const VAULT: &str = "bench-kv";
/// Secrets in the vault; each Mount fetches all of them.
const SECRETS: usize = 10;

/// Mounts run at each concurrency level.
const LEVELS: [(usize, usize); 3] = [(1, 1_000), (16, 4_000), (64, 5_000)];

/// Start the emulator and `binary`, then measure; prints the report.
pub(super) async fn measure(binary: PathBuf) -> Result<()> {
    sse_tls::install_crypto_provider();
    let emulator = Emulator::start(Config {
        throttle: Throttle {
            limit: u32::MAX,
            window: Duration::from_secs(10),
            retry_after: None,
        },
        ..Config::default()
    })
    .await?;
    emulator.entra().add_federated_credential(
        TENANT,
        CLIENT_ID,
        FederatedCredential {
            issuer: ISSUER.into(),
            subject: SUBJECT.into(),
            audience: AUDIENCE.into(),
        },
    );
    for i in 0..SECRETS {
        emulator.store().set_secret(
            VAULT,
            &format!("secret-{i}"),
            &format!("value-{i}-{}", "x".repeat(64)),
        );
    }

    let dir = tempfile::Builder::new().prefix("sse-bench").tempdir_in("/tmp")?;
    let ca = TestCa::new("bench CA")?;
    let server = ca.write_leaf(&dir.path().join("server"), &["localhost"], Usage::Server)?;
    let client = ca.write_leaf(
        &dir.path().join("client"),
        &[sse_tls::MANAGER_IDENTITY],
        Usage::Client,
    )?;
    let kv_ca = dir.path().join("kv-ca.pem");
    std::fs::write(&kv_ca, emulator.ca_pem())?;
    let env_file = dir.path().join("cloud.json");
    std::fs::write(&env_file, emulator.cloud_env_json())?;
    let socket = dir.path().join("azure.sock");

    let mut child = crate::procs::provider_command(&binary, &socket, &server, &kv_ca)
        .arg("--log-level=warn,provider_azure::server=info")
        .stderr(Stdio::piped())
        .spawn()
        .context("start provider-azure")?;
    let pid = child.id().context("provider pid")?;
    crate::procs::wait_for_line(&mut child, crate::procs::PROVIDER_READY).await?;

    let tls = sse_tls::ClientTls::load(&client)?;
    let channel = sse_tls::unix_channel(socket.clone(), Some(tls), Duration::from_secs(5));
    let client = CsiDriverProviderClient::new(channel);
    let request = Arc::new(mount_request(&env_file));

    println!(
        "provider-azure benchmark: Mount of {SECRETS} secrets, mTLS over a Unix socket, emulator over HTTPS"
    );
    println!("binary: {}", binary.display());
    println!("idle RSS after start: {}", rss(pid)?);

    emulator.reset_counters();
    mount_once(&client, &request).await?;
    let cold = emulator.counters();
    emulator.reset_counters();
    mount_once(&client, &request).await?;
    let warm = emulator.counters();
    println!(
        "requests per Mount, cold: Key Vault {} (of which {} bearer challenges), Entra {}",
        keyvault_requests(&cold),
        cold.get("challenge").copied().unwrap_or(0),
        cold.get("entra.token").copied().unwrap_or(0)
    );
    println!(
        "requests per Mount, warm: Key Vault {}, Entra {}",
        keyvault_requests(&warm),
        warm.get("entra.token").copied().unwrap_or(0)
    );

    let mut total = 2usize;
    println!(
        "\n{:>11} {:>8} {:>10} {:>10} {:>10} {:>11} {:>16}",
        "concurrency", "mounts", "p50 ms", "p99 ms", "max ms", "mounts/s", "KV reqs/Mount"
    );
    for (concurrency, mounts) in LEVELS {
        emulator.reset_counters();
        let (latencies, elapsed) = load(&client, &request, concurrency, mounts).await?;
        total += mounts;
        let kv = keyvault_requests(&emulator.counters());
        println!(
            "{:>11} {:>8} {:>10.2} {:>10.2} {:>10.2} {:>11.0} {:>16.2}",
            concurrency,
            mounts,
            percentile(&latencies, 0.50),
            percentile(&latencies, 0.99),
            percentile(&latencies, 1.0),
            mounts as f64 / elapsed.as_secs_f64(),
            kv as f64 / mounts as f64
        );
    }
    println!("\nprovider RSS after {total} Mounts: {}", rss(pid)?);
    let _ = child.start_kill();
    emulator.shutdown().await;
    Ok(())
}

/// A Mount of every secret, authenticated by workload identity, against the emulator's cloud.
fn mount_request(env_file: &Path) -> MountRequest {
    let yaml = provider_proto::contract::Objects::new(
        (0..SECRETS).map(|i| format!("objectName: secret-{i}\nobjectType: secret")),
    )
    .to_yaml();
    let token = keyvault_emulator::mint_assertion(ISSUER, SUBJECT, AUDIENCE, Duration::from_secs(3600));
    let tokens =
        serde_json::json!({ AUDIENCE: { "token": token, "expirationTimestamp": "2030-01-01T00:00:00Z" } });
    let attributes = serde_json::json!({
        "keyvaultName": VAULT,
        "tenantID": TENANT,
        "clientID": CLIENT_ID,
        "cloudName": "AzureStackCloud",
        "cloudEnvFileName": env_file.display().to_string(),
        "objects": yaml,
        "csi.storage.k8s.io/pod.name": "bench",
        "csi.storage.k8s.io/pod.namespace": "bench",
        "csi.storage.k8s.io/serviceAccount.tokens": tokens.to_string(),
    });
    MountRequest {
        attributes: attributes.to_string(),
        secrets: "{}".into(),
        target_path: "/mnt/secrets-store".into(),
        permission: "420".into(),
        current_object_version: vec![],
    }
}

/// One Mount; how long it took (an error unless every file came back).
async fn mount_once(client: &CsiDriverProviderClient<Channel>, request: &MountRequest) -> Result<Duration> {
    let started = Instant::now();
    let response = client.clone().mount(request.clone()).await?.into_inner();
    if response.files.len() != SECRETS {
        bail!("expected {SECRETS} files, got {}", response.files.len());
    }
    Ok(started.elapsed())
}

/// `mounts` Mounts, `concurrency` at a time: their latencies in ms, sorted, and the time they took.
async fn load(
    client: &CsiDriverProviderClient<Channel>,
    request: &Arc<MountRequest>,
    concurrency: usize,
    mounts: usize,
) -> Result<(Vec<f64>, Duration)> {
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let workers = (0..concurrency).map(|_| {
        let (client, request, next) = (client.clone(), request.clone(), next.clone());
        tokio::spawn(async move {
            let mut latencies = Vec::new();
            while next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < mounts {
                latencies.push(mount_once(&client, &request).await?.as_secs_f64() * 1000.0);
            }
            Ok::<_, anyhow::Error>(latencies)
        })
    });
    let mut latencies = Vec::with_capacity(mounts);
    for worker in futures::future::join_all(workers).await {
        latencies.extend(worker??);
    }
    let elapsed = started.elapsed();
    latencies.sort_by(f64::total_cmp);
    Ok((latencies, elapsed))
}

/// Resident memory of process `pid`, now and at its peak, as `/proc` writes it.
fn rss(pid: u32) -> Result<String> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .map(|l| l.trim_start_matches(name).trim().to_string())
            .unwrap_or_default()
    };
    Ok(format!("{} (peak {})", field("VmRSS:"), field("VmHWM:")))
}

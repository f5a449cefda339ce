//! `cargo xtask bench provider`: the release `provider-azure` binary, serving mutual TLS on a Unix
//! socket, against the Key Vault + Entra emulator; prints latency, throughput, request counts and memory.
#![allow(
    clippy::print_stdout,
    reason = "a benchmark report is printed output by design"
)]

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

const TENANT: &str = "00000000-0000-0000-0000-000000000001";
const CLIENT_ID: &str = "bench-client";
const ISSUER: &str = "https://oidc.bench.local";
const SUBJECT: &str = "system:serviceaccount:bench:sa";
const AUDIENCE: &str = provider_proto::contract::WORKLOAD_IDENTITY_AUDIENCE;
const VAULT: &str = "bench-kv";
const SECRETS: usize = 10;

/// Mounts run at each concurrency level.
const LEVELS: [(usize, usize); 3] = [(1, 1_000), (16, 4_000), (64, 5_000)];

pub fn provider(root: &Path) -> Result<()> {
    // The load generator and the emulator run in this process: measure them optimised too.
    if rerun_in_release(root, "provider")? {
        return Ok(());
    }
    let bins = crate::procs::build_bins(root, &["provider-azure"], true)?;
    let binary = crate::procs::bin(&bins, "provider-azure")?;
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run(binary))
}

/// In a debug build, run `cargo xtask bench {which}` again from a release build (figures from a debug build
/// would mislead) and return `true`; in a release build, return `false`: measure here.
fn rerun_in_release(root: &Path, which: &str) -> Result<bool> {
    if !cfg!(debug_assertions) {
        return Ok(false);
    }
    let status = std::process::Command::new(env!("CARGO"))
        .current_dir(root)
        .args([
            "run",
            "--release",
            "--locked",
            "--quiet",
            "-p",
            "xtask",
            "--",
            "bench",
            which,
        ])
        .status()
        .context("cargo run --release")?;
    if !status.success() {
        bail!("release benchmark failed");
    }
    Ok(true)
}

async fn run(binary: PathBuf) -> Result<()> {
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
    let client = ca.write_leaf(&dir.path().join("client"), &["manager"], Usage::Client)?;
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

async fn mount_once(client: &CsiDriverProviderClient<Channel>, request: &MountRequest) -> Result<Duration> {
    let started = Instant::now();
    let response = client.clone().mount(request.clone()).await?.into_inner();
    if response.files.len() != SECRETS {
        bail!("expected {SECRETS} files, got {}", response.files.len());
    }
    Ok(started.elapsed())
}

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

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

fn keyvault_requests(counters: &std::collections::BTreeMap<String, u64>) -> u64 {
    counters
        .iter()
        .filter(|(k, _)| {
            k.starts_with("secrets.") || k.starts_with("keys.") || k.starts_with("certificates.")
        })
        .map(|(_, v)| v)
        .sum()
}

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

/// `cargo xtask bench manager`: the reconciler (release build of this process) against the in-memory API
/// double, the real provider over mTLS and the emulator.
pub fn manager(root: &Path) -> Result<()> {
    // The reconciler runs in this process.
    if rerun_in_release(root, "manager")? {
        return Ok(());
    }
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run_manager())
}

async fn run_manager() -> Result<()> {
    use futures::StreamExt;
    use manager::fake::Call;
    use sse_tests::{Env, NS, VAULT};

    println!(
        "manager benchmark: reconciler + in-memory API double + provider-azure (mTLS) + Key Vault emulator"
    );
    println!("(emulator throttling on: 4,000 requests / 10 s per vault, like Key Vault)\n");
    for n in [1_000usize, 10_000] {
        let env = Env::start().await;
        let classes = (n / 10).max(1);
        for c in 0..classes {
            env.emulator
                .store()
                .set_secret(VAULT, &format!("s{c}"), &format!("value-{c}"));
            env.put_class(
                &format!("kv{c}"),
                "azure",
                &[&format!("objectName: s{c}\nobjectType: secret\nobjectAlias: v")],
            );
        }
        let mut syncs: Vec<_> = (0..n)
            .map(|i| {
                env.sync(
                    &format!("ss{i}"),
                    &format!("kv{}", i % classes),
                    "Opaque",
                    &[("v", "key")],
                )
            })
            .collect();
        let rss_before = self_rss_kb();
        env.emulator.reset_counters();

        let started = Instant::now();
        reconcile_all(&env, &mut syncs, 32, false).await;
        let first_pass = syncs.iter().filter(|s| is_ready(s)).count();
        // Throttled syncs fail and are retried (the controller would after its backoff) until all are Ready.
        let mut passes = 1;
        while syncs.iter().any(|s| !is_ready(s)) && passes < 50 {
            let mut failing: Vec<_> = syncs.iter_mut().filter(|s| !is_ready(s)).collect();
            let futures = failing.iter_mut().map(|s| env.poll(s));
            futures::stream::iter(futures)
                .buffer_unordered(32)
                .collect::<Vec<_>>()
                .await;
            passes += 1;
        }
        let converge = started.elapsed();
        let ready = syncs.iter().filter(|s| is_ready(s)).count();
        println!("       first pass: {first_pass} Ready; {passes} passes in all");
        let kv_first = keyvault_requests(&env.emulator.counters());
        println!(
            "{n:>6} SecretSyncs ({classes} SecretProviderClasses): converged in {:.1} s ({ready} Ready), {kv_first} Key Vault requests, {} throttled",
            converge.as_secs_f64(),
            env.emulator.counters().get("throttled").copied().unwrap_or(0)
        );

        env.cluster.clear_calls();
        env.emulator.reset_counters();
        let started = Instant::now();
        reconcile_all(&env, &mut syncs, 32, true).await;
        let calls = env.cluster.calls();
        let writes_per = calls.len() as f64 / n as f64;
        let status_writes = calls.iter().filter(|c| matches!(c, Call::WriteStatus(_))).count();
        let applies = calls.iter().filter(|c| matches!(c, Call::ApplySecret(_))).count();
        println!(
            "       no-change poll cycle: {:.1} s, API writes per SecretSync {writes_per:.2} (status writes {status_writes}, applies {applies}), Key Vault requests {}",
            started.elapsed().as_secs_f64(),
            keyvault_requests(&env.emulator.counters())
        );

        // Rotation: a new value in the vault plus a forceSynchronization edit, to the Secret updated.
        env.emulator.store().set_secret(VAULT, "s0", "rotated");
        let target = &mut syncs[0];
        target.spec.force_synchronization = Some("now".into());
        Env::bump_generation(target);
        let started = Instant::now();
        env.reconcile(target).await;
        let took = started.elapsed();
        let updated = env.secret_data("ss0").get("key").map(String::as_str) == Some("rotated");
        println!(
            "       vault change + forceSynchronization to Secret updated: {:.1} ms (updated: {updated})",
            took.as_secs_f64() * 1000.0
        );
        println!(
            "       process RSS: {} kB before creating the SecretSyncs, {} kB after (includes the emulator, the provider and the API double holding {n} Secrets)\n",
            rss_before,
            self_rss_kb()
        );
        let _ = NS;
        env.emulator.shutdown().await;
    }
    Ok(())
}

async fn reconcile_all(
    env: &sse_tests::Env,
    syncs: &mut [sse_api::SecretSync],
    workers: usize,
    expire: bool,
) {
    use futures::StreamExt;
    let futures = syncs.iter_mut().map(|s| async move {
        if expire {
            env.poll(s).await
        } else {
            env.reconcile(s).await
        }
    });
    futures::stream::iter(futures)
        .buffer_unordered(workers)
        .collect::<Vec<_>>()
        .await;
}

fn is_ready(s: &sse_api::SecretSync) -> bool {
    s.status
        .as_ref()
        .is_some_and(|st| sse_api::conditions::is_condition_true(&st.conditions, "Ready"))
}

fn self_rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmRSS:")).map(|l| l.to_string()))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

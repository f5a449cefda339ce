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
    println!(
        "manager benchmark: reconciler + in-memory API double + provider-azure (mTLS) + Key Vault emulator"
    );
    println!(
        "(emulator throttling on: 4,000 requests / 10 s per vault, like Key Vault; provider budget 2,000 / 10 s per vault)\n"
    );
    let sizes: Vec<usize> = std::env::var("SSE_BENCH_SYNCS")
        .ok()
        .map(|v| v.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![1_000, 10_000, 100_000]);
    for n in sizes {
        fleet(n).await?;
    }
    freshness(1_000, Duration::from_secs(60), Duration::from_secs(240)).await?;
    outage().await?;
    Ok(())
}

const VAULTS: usize = 10;
const IDENTITIES: [&str; 2] = [sse_tests::CLIENT_ID, "22222222-3333-4444-5555-666666666666"];
/// SecretSyncs reading each vault object.
const SYNCS_PER_OBJECT: usize = 10;

fn vault(v: usize) -> String {
    format!("bench-kv-{v}")
}

/// `n` SecretSyncs over [`VAULTS`] vaults and [`IDENTITIES`], [`SYNCS_PER_OBJECT`] per vault object, one
/// SecretProviderClass per (vault, identity, object).
fn populate(env: &sse_tests::Env, n: usize) -> Vec<sse_api::SecretSync> {
    for client in IDENTITIES {
        env.allow_client(client);
    }
    let objects_per_vault = (n / VAULTS / SYNCS_PER_OBJECT).max(1);
    for v in 0..VAULTS {
        for o in 0..objects_per_vault {
            env.emulator
                .store()
                .set_secret(&vault(v), &format!("s{o}"), &format!("value-{o}"));
        }
    }
    let mut classes = std::collections::HashSet::new();
    (0..n)
        .map(|i| {
            let (v, id, o) = (
                i % VAULTS,
                (i / VAULTS) % IDENTITIES.len(),
                (i / VAULTS / IDENTITIES.len()) % objects_per_vault,
            );
            let class = format!("kv{v}-id{id}-s{o}");
            if classes.insert(class.clone()) {
                env.put_class_for(
                    &class,
                    "azure",
                    &vault(v),
                    IDENTITIES[id],
                    &[&format!("objectName: s{o}\nobjectType: secret\nobjectAlias: v")],
                );
            }
            env.sync(&format!("ss{i}"), &class, "Opaque", &[("v", "key")])
        })
        .collect()
}

/// Reconcile every SecretSync through `ctx` (`force`: as if each one's check were due), 32 at a time.
async fn pass(
    env: &sse_tests::Env,
    ctx: &manager::reconcile::Context,
    syncs: &mut [sse_api::SecretSync],
    force: bool,
) {
    use futures::StreamExt;
    let futures = syncs.iter_mut().map(|s| async move {
        if force {
            ctx.force(&manager::reconcile::key(s));
        }
        sse_tests::reconcile(s, ctx).await;
        if let Some(status) = env
            .cluster
            .status(sse_tests::NS, &s.metadata.name.clone().unwrap_or_default())
        {
            s.status = Some(status);
        }
    });
    futures::stream::iter(futures)
        .buffer_unordered(32)
        .collect::<Vec<_>>()
        .await;
}

fn kv_requests(env: &sse_tests::Env) -> (u64, u64, u64) {
    let c = env.emulator.counters();
    let get = |k: &str| c.get(k).copied().unwrap_or(0);
    (
        keyvault_requests(&c),
        get("secrets.list"),
        get("secrets.get") + get("secrets.list_versions"),
    )
}

/// Convergence, a quiet cycle with change detection and with one GET per object side by side, one
/// change, memory.
async fn fleet(n: usize) -> Result<()> {
    use std::sync::Arc;
    let env = sse_tests::Env::start().await;
    let mut syncs = populate(&env, n);
    let objects = (n / VAULTS / SYNCS_PER_OBJECT).max(1) * VAULTS;
    let pages = VAULTS * IDENTITIES.len() * (n / VAULTS / SYNCS_PER_OBJECT).max(1).div_ceil(25);
    let rss_before = self_rss_kb();
    env.emulator.reset_counters();
    let started = Instant::now();
    pass(&env, &env.ctx, &mut syncs, false).await;
    let mut passes = 1;
    while syncs.iter().any(|s| !is_ready(s)) && passes < 50 {
        let mut failing: Vec<_> = syncs.iter().filter(|s| !is_ready(s)).cloned().collect();
        pass(&env, &env.ctx, &mut failing, true).await;
        for s in failing {
            if let Some(slot) = syncs.iter_mut().find(|x| x.metadata.uid == s.metadata.uid) {
                *slot = s;
            }
        }
        passes += 1;
    }
    let ready = syncs.iter().filter(|s| is_ready(s)).count();
    let (first_kv, _, _) = kv_requests(&env);
    println!(
        "{n:>7} SecretSyncs ({VAULTS} vaults x {} identities, {objects} objects): Ready {ready} in {:.1} s ({passes} passes), {first_kv} Key Vault requests, {} throttled",
        IDENTITIES.len(),
        started.elapsed().as_secs_f64(),
        env.emulator.counters().get("throttled").copied().unwrap_or(0)
    );

    // A quiet cycle, change detection on (the default).
    env.emulator.reset_counters();
    let started = Instant::now();
    pass(&env, &env.ctx, &mut syncs, true).await;
    let (kv, lists, gets) = kv_requests(&env);
    println!(
        "        quiet cycle, change detection: {kv:>7} Key Vault requests ({lists} list pages, {gets} GETs; goal <= {pages} pages) in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    // The same cycle, one GET per object (a provider without change detection, or --change-detection=false).
    let per_object = manager::reconcile::Context::new(
        Arc::new(env.cluster.clone()),
        env.ctx.providers.clone(),
        manager::reconcile::Config {
            change_detection: false,
            ..env.ctx.config.clone()
        },
        manager::metrics::Metrics::default(),
    );
    env.emulator.reset_counters();
    let started = Instant::now();
    pass(&env, &per_object, &mut syncs, true).await;
    let (kv, lists, gets) = kv_requests(&env);
    println!(
        "        quiet cycle, per-object GET:   {kv:>7} Key Vault requests ({lists} list pages, {gets} GETs) in {:.1} s, {} throttled",
        started.elapsed().as_secs_f64(),
        env.emulator.counters().get("throttled").copied().unwrap_or(0)
    );
    // One object changed in one vault: its SecretSyncs mount, the others stay quiet.
    env.emulator.store().set_secret(&vault(0), "s0", "rotated");
    env.emulator.reset_counters();
    pass(&env, &env.ctx, &mut syncs, true).await;
    let (kv, lists, gets) = kv_requests(&env);
    let updated = syncs
        .iter()
        .filter(|s| {
            env.secret_data(&s.metadata.name.clone().unwrap_or_default())
                .get("key")
                .map(String::as_str)
                == Some("rotated")
        })
        .count();
    println!(
        "        cycle with one changed object: {kv:>7} Key Vault requests ({lists} list pages, {gets} GETs), {updated} Secrets updated (expected {})",
        SYNCS_PER_OBJECT
    );
    println!(
        "        bench process RSS: {} kB before the SecretSyncs, {} kB after (emulator, provider, API double with {n} Secrets and the reconciler together; the manager binary alone is measured by `cargo xtask e2e --release`)\n",
        rss_before,
        self_rss_kb()
    );
    env.emulator.shutdown().await;
    Ok(())
}

/// Time from a vault change to the Secret updated, SecretSyncs checked every `interval` by their own
/// schedule (what the controller does with each reconcile's `requeue_after`), objects rotated every 2 s
/// for `run`.
async fn freshness(n: usize, interval: Duration, run: Duration) -> Result<()> {
    use futures::StreamExt;
    use futures::stream::FuturesUnordered;
    let env = sse_tests::Env::start_with(manager::reconcile::Config {
        poll_interval: interval,
        ..sse_tests::default_config()
    })
    .await;
    let objects = n / SYNCS_PER_OBJECT;
    for o in 0..objects {
        env.emulator
            .store()
            .set_secret(sse_tests::VAULT, &format!("f{o}"), "0");
        env.put_class(
            &format!("f{o}"),
            "azure",
            &[&format!("objectName: f{o}\nobjectType: secret\nobjectAlias: v")],
        );
    }
    let mut syncs: Vec<_> = (0..n)
        .map(|i| {
            env.sync(
                &format!("f{i}"),
                &format!("f{}", i % objects),
                "Opaque",
                &[("v", "key")],
            )
        })
        .collect();
    pass(&env, &env.ctx, &mut syncs, false).await;
    env.emulator.reset_counters();
    let start = Instant::now();
    let mut due: std::collections::BinaryHeap<std::cmp::Reverse<(Instant, usize)>> = syncs
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let first = env.ctx.schedule.next_check_in(s, std::time::SystemTime::now());
            std::cmp::Reverse((start + first, i))
        })
        .collect();
    // rotation k of object o at instant t: (o, t); each SecretSync records when it first shows k or later.
    let mut rotations: Vec<(usize, Instant)> = Vec::new();
    let mut seen: Vec<usize> = vec![0; n]; // rotations of its object already seen (by index)
    let mut latencies: Vec<f64> = Vec::new();
    let mut slots: Vec<Option<sse_api::SecretSync>> = syncs.into_iter().map(Some).collect();
    let mut running = FuturesUnordered::new();
    let mut next_rotation = start;
    let mut rng_state = 0x2545_f491_4f6c_dd1du64;
    loop {
        let now = Instant::now();
        if now >= start + run && running.is_empty() {
            break;
        }
        if now >= next_rotation && now < start + run - interval {
            rng_state ^= rng_state << 13;
            rng_state ^= rng_state >> 7;
            rng_state ^= rng_state << 17;
            let o = usize::try_from(rng_state % objects as u64).unwrap_or(0);
            let k = rotations.len() + 1;
            env.emulator
                .store()
                .set_secret(sse_tests::VAULT, &format!("f{o}"), &k.to_string());
            rotations.push((o, Instant::now()));
            next_rotation += Duration::from_secs(2);
        }
        while running.len() < 32
            && due
                .peek()
                .is_some_and(|std::cmp::Reverse((at, _))| *at <= now && now < start + run)
        {
            let Some(std::cmp::Reverse((_, i))) = due.pop() else {
                break;
            };
            if let Some(mut s) = slots[i].take() {
                let env = &env;
                running.push(async move {
                    let report = env.reconcile(&mut s).await;
                    (i, s, report.requeue_after)
                });
            }
        }
        let wake = due
            .peek()
            .map_or(start + run, |std::cmp::Reverse((at, _))| *at)
            .min(next_rotation)
            .max(now + Duration::from_millis(5));
        tokio::select! {
            Some((i, s, after)) = running.next(), if !running.is_empty() => {
                let done = Instant::now();
                let shown: usize = env
                    .secret_data(&s.metadata.name.clone().unwrap_or_default())
                    .get("key")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                let object = i % objects;
                for (k, (o, at)) in rotations.iter().enumerate().take(shown).skip(seen[i]) {
                    if *o == object {
                        let _ = k;
                        latencies.push(done.duration_since(*at).as_secs_f64());
                    }
                }
                seen[i] = seen[i].max(shown);
                slots[i] = Some(s);
                due.push(std::cmp::Reverse((done + after, i)));
            }
            () = tokio::time::sleep_until(tokio::time::Instant::from_std(wake)) => {}
        }
    }
    drop(running);
    latencies.sort_by(f64::total_cmp);
    let (kv, lists, gets) = kv_requests(&env);
    println!(
        "freshness: {n} SecretSyncs checked every {} s, {} rotations over {:.0} s: vault change to Secret updated p50 {:.1} s, p99 {:.1} s, max {:.1} s ({} observations); {kv} Key Vault requests ({lists} list pages, {gets} GETs)\n",
        interval.as_secs(),
        rotations.len(),
        run.as_secs_f64(),
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.99),
        latencies.last().copied().unwrap_or(0.0),
        latencies.len()
    );
    env.emulator.shutdown().await;
    Ok(())
}

/// One vault unreachable (connection refused) while another serves: how long the healthy vault's
/// SecretSyncs take to be Ready while the broken vault's fail over and over, with the provider failing fast
/// (the default) and without, side by side with no outage at all.
async fn outage() -> Result<()> {
    const HEALTHY: usize = 200;
    const BROKEN: usize = 2_000;
    for (label, args, broken) in [
        ("no outage", &[][..], 0),
        ("outage, failing fast", &[][..], BROKEN),
        (
            "outage, no failing fast",
            &["--vault-failures-before-failing-fast=0"][..],
            BROKEN,
        ),
    ] {
        let env = sse_tests::Env::start_with_provider_args(sse_tests::default_config(), args).await;
        env.emulator.store().set_secret(sse_tests::VAULT, "ok", "v");
        env.put_class("good", "azure", &["objectName: ok\nobjectType: secret"]);
        env.put_unreachable_class("dead", &["objectName: gone\nobjectType: secret"]);
        let mut healthy: Vec<_> = (0..HEALTHY)
            .map(|i| env.sync(&format!("h{i}"), "good", "Opaque", &[("ok", "k")]))
            .collect();
        let mut dead: Vec<_> = (0..broken)
            .map(|i| env.sync(&format!("d{i}"), "dead", "Opaque", &[("gone", "k")]))
            .collect();
        let stop = tokio::sync::watch::channel(false);
        // The broken vault's SecretSyncs retried as fast as the workers take them (no backoff): the worst case.
        let storm = {
            let (mut stopped, env) = (stop.1.clone(), &env);
            async move {
                while !dead.is_empty() {
                    tokio::select! {
                        () = pass(env, &env.ctx, &mut dead, true) => {}
                        _ = stopped.changed() => break,
                    }
                }
            }
        };
        let measure = async {
            tokio::time::sleep(Duration::from_secs(2)).await;
            let started = Instant::now();
            let mut latencies = Vec::new();
            // Bounded: without failing fast the healthy ones may wait for minutes.
            let _ = tokio::time::timeout(Duration::from_secs(60), async {
                for chunk in healthy.chunks_mut(20) {
                    let t = Instant::now();
                    pass(&env, &env.ctx, chunk, false).await;
                    latencies.push(t.elapsed().as_secs_f64());
                }
            })
            .await;
            let ready = healthy.iter().filter(|s| is_ready(s)).count();
            let _ = stop.0.send(true);
            (started.elapsed(), ready, latencies)
        };
        let ((took, ready, mut latencies), ()) = tokio::join!(measure, storm);
        latencies.sort_by(f64::total_cmp);
        println!(
            "outage: {label:<24} {HEALTHY} healthy SecretSyncs: {ready} Ready after {:.2} s (batches of 20: p50 {:.2} s, max {:.2} s) beside {broken} failing ones",
            took.as_secs_f64(),
            percentile(&latencies, 0.50),
            latencies.last().copied().unwrap_or(0.0),
        );
        env.emulator.shutdown().await;
    }
    Ok(())
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

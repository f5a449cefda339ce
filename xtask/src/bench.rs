//! `cargo xtask bench provider` and `cargo xtask bench manager`, measured from a release build.
//!
//! * `provider` (`bench/provider.rs`): the release `provider-azure` binary, serving mutual TLS on a Unix
//!   socket, against the Key Vault + Entra emulator; prints latency, throughput, request counts and memory.
//! * `manager`: the reconciler against the in-memory API double, the real provider over mTLS and the
//!   emulator: a fleet's convergence and quiet cycles (`bench/fleet.rs`), how fresh Secrets stay while the
//!   vault rotates (`bench/freshness.rs`), and a healthy vault beside one that is down (`bench/outage.rs`).
//! * `shaping`: what rendering adds to a sync's CPU time, shaped beside plain SecretSyncs (`bench/shaping.rs`).
//! * `fanout`: one ClusterSecretSync fanned out to 1,000 namespaces beside 1,000 SecretSyncs
//!   (`bench/fanout.rs`).
//! * `events`: refresh driven by the vault's events (`bench/events.rs`) beside polling every 60 s
//!   (`bench/freshness.rs`), on the same fleet in the same run.
#![allow(
    clippy::print_stdout,
    reason = "a benchmark report is printed output by design"
)]

mod events;
mod fanout;
mod fleet;
mod freshness;
mod outage;
mod provider;
mod shaping;

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, bail};

/// `cargo xtask bench provider`: Mounts through the release `provider-azure` binary.
pub fn provider(root: &Path) -> Result<()> {
    // The load generator and the emulator run in this process: measure them optimised too.
    if rerun_in_release(root, "provider")? {
        return Ok(());
    }
    let bins = crate::procs::build_bins(root, &["provider-azure"], true)?;
    let binary = crate::procs::bin(&bins, "provider-azure")?;
    block_on(provider::measure(binary))
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

/// Run a benchmark on a multi-threaded runtime.
fn block_on(benchmark: impl Future<Output = Result<()>>) -> Result<()> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(benchmark)
}

/// `cargo xtask bench manager`: the reconciler (release build of this process) against the in-memory API
/// double, the real provider over mTLS and the emulator.
pub fn manager(root: &Path) -> Result<()> {
    // The reconciler runs in this process.
    if rerun_in_release(root, "manager")? {
        return Ok(());
    }
    block_on(run_manager())
}

/// `cargo xtask bench events`: refresh driven by the vault's events beside polling, measured in release.
pub fn events(root: &Path) -> Result<()> {
    if rerun_in_release(root, "events")? {
        return Ok(());
    }
    block_on(async {
        let n: usize = std::env::var("SSE_BENCH_SYNCS")
            .ok()
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(10_000);
        println!(
            "events benchmark: reconciler + in-memory API double + provider-azure (mTLS) + Key Vault and Event Grid emulator\n"
        );
        events::measure(n, (n / 10).max(1_000).min(n), 20).await?;
        // The same fleet, polled every 60 s (one SecretSync per object here too), rotations every 2 s.
        freshness::measure_each(n, Duration::from_secs(60), Duration::from_secs(240)).await
    })
}

/// `cargo xtask bench shaping`: shaped beside plain SecretSyncs, measured in release (`$SSE_BENCH_SYNCS` each,
/// default 200).
pub fn shaping(root: &Path) -> Result<()> {
    if rerun_in_release(root, "shaping")? {
        return Ok(());
    }
    block_on(async {
        let n: usize = std::env::var("SSE_BENCH_SYNCS")
            .ok()
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(200);
        shaping::measure(n).await
    })
}

/// `cargo xtask bench fanout`: one ClusterSecretSync to `$SSE_BENCH_NAMESPACES` namespaces (default 1,000)
/// beside as many SecretSyncs, measured in release.
pub fn fanout(root: &Path) -> Result<()> {
    if rerun_in_release(root, "fanout")? {
        return Ok(());
    }
    block_on(async {
        let n: usize = std::env::var("SSE_BENCH_NAMESPACES")
            .ok()
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(1_000);
        fanout::measure(n).await
    })
}

/// The manager benchmarks, one after the other (`$SSE_BENCH_SYNCS`: the fleet sizes, comma-separated).
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
        fleet::measure(n).await?;
    }
    freshness::measure(1_000, Duration::from_secs(60), Duration::from_secs(240)).await?;
    outage::measure().await?;
    Ok(())
}

/// SecretSyncs reading each vault object (the manager benchmarks).
const SYNCS_PER_OBJECT: usize = 10;

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

/// Key Vault requests since the counters were reset: all of them, list pages, GETs.
fn kv_requests(env: &sse_tests::Env) -> (u64, u64, u64) {
    let c = env.emulator.counters();
    let get = |k: &str| c.get(k).copied().unwrap_or(0);
    (
        keyvault_requests(&c),
        get("secrets.list"),
        get("secrets.get") + get("secrets.list_versions"),
    )
}

/// Whether the SecretSync's status says Ready.
pub(super) fn is_ready(s: &sse_api::SecretSync) -> bool {
    s.status
        .as_ref()
        .is_some_and(|st| sse_api::conditions::is_condition_true(&st.conditions, "Ready"))
}

/// The `p` quantile (0 to 1) of `sorted`; 0 when it is empty.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

/// Key Vault requests (secrets, keys, certificates) in the emulator's counters.
fn keyvault_requests(counters: &std::collections::BTreeMap<String, u64>) -> u64 {
    counters
        .iter()
        .filter(|(k, _)| {
            k.starts_with("secrets.") || k.starts_with("keys.") || k.starts_with("certificates.")
        })
        .map(|(_, v)| v)
        .sum()
}

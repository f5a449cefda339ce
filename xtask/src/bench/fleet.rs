//! The fleet benchmark: `n` SecretSyncs over several vaults and identities converge, then a quiet cycle
//! with change detection and one with a GET per object, then a cycle with one changed object; memory.

use std::sync::Arc;
use std::time::Instant;

use anyhow::Result;

use super::{SYNCS_PER_OBJECT, is_ready, kv_requests, pass};

/// Vaults the SecretSyncs read.
const VAULTS: usize = 10;
/// Client ids the SecretProviderClasses authenticate as.
const IDENTITIES: [&str; 2] = [sse_tests::CLIENT_ID, "22222222-3333-4444-5555-666666666666"];

/// The name of vault `v`.
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

/// Convergence, a quiet cycle with change detection and with one GET per object side by side, one
/// change, memory.
pub(super) async fn measure(n: usize) -> Result<()> {
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

/// This process's resident memory, in kB (0 when `/proc` cannot tell).
pub(super) fn self_rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmRSS:")).map(|l| l.to_string()))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

//! The fan-out benchmark: one ClusterSecretSync fanned out to `n` namespaces (arm A) beside `n` SecretSyncs
//! reading the same vault object (arm B), in the same run, on the same emulator, provider and API double:
//! Key Vault requests per cycle, time for a rotation to reach every Secret, API writes of a quiet cycle, and a
//! namespace joining. The manager binary's memory for arm A is measured on a real API server by
//! `cargo xtask e2e --release fanout_scale`.

use std::sync::Arc;
use std::time::Instant;

use anyhow::{Result, ensure};
use manager::fake::Call;
use manager::fanout::Fanout;
use manager::fanout::namespaces::FixedNamespaces;
use sse_api::{ClusterSecretSync, ClusterSecretSyncSpec, SecretObject, SecretObjectData};

use super::{kv_requests, pass};

const NAME: &str = "registry";
const OBJECT: &str = "dockerconfig";

/// API calls since the last clear: (writes that may persist: applies, deletes, status writes; test-only
/// patches, which never persist).
fn api_calls(env: &sse_tests::Env) -> (usize, usize) {
    let calls = env.cluster.calls();
    let writes = calls
        .iter()
        .filter(|c| {
            matches!(
                c,
                Call::ApplySecret(_)
                    | Call::DeleteSecret(..)
                    | Call::WriteStatus(_)
                    | Call::WriteClusterStatus(_)
            )
        })
        .count();
    let checks = calls
        .iter()
        .filter(|c| matches!(c, Call::PatchSecret(..)))
        .count();
    (writes, checks)
}

/// What one cycle cost.
struct Cycle {
    time: std::time::Duration,
    /// Key Vault requests.
    kv: u64,
    /// API writes that may persist (applies, deletes, status writes).
    writes: usize,
    /// Test-only patches, which never persist.
    checks: usize,
}

/// Run `work` from zeroed counters and answer what it cost.
async fn cycle(env: &sse_tests::Env, work: impl Future<Output = Result<()>>) -> Result<Cycle> {
    env.emulator.reset_counters();
    env.cluster.clear_calls();
    let started = Instant::now();
    work.await?;
    let time = started.elapsed();
    let (writes, checks) = api_calls(env);
    Ok(Cycle {
        time,
        kv: kv_requests(env).0,
        writes,
        checks,
    })
}

/// Arm B's cycle: every SecretSync reconciled (`force`: as if due).
async fn pass_ok(env: &sse_tests::Env, syncs: &mut [sse_api::SecretSync], force: bool) -> Result<()> {
    pass(env, &env.ctx, syncs, force).await;
    Ok(())
}

/// How many of `names` (namespace, Secret) hold `value` under key `key`.
fn holding(env: &sse_tests::Env, names: &[(String, String)], value: &str) -> usize {
    names
        .iter()
        .filter(|(ns, name)| {
            env.cluster
                .secret(ns, name)
                .and_then(|s| s.data)
                .and_then(|d| d.get("key").map(|v| v.0 == value.as_bytes()))
                .unwrap_or(false)
        })
        .count()
}

/// Both arms, side by side.
pub(super) async fn measure(n: usize) -> Result<()> {
    let env = sse_tests::Env::start().await;
    env.emulator.store().set_secret(sse_tests::VAULT, OBJECT, "v1");
    env.put_class(
        "acr",
        "azure",
        &[&format!("objectName: {OBJECT}\nobjectType: secret")],
    );
    let rss_start = super::fleet::self_rss_kb();

    // Arm A: one ClusterSecretSync, n labelled namespaces.
    let namespaces = FixedNamespaces::default();
    for i in 0..n {
        namespaces.put(&format!("team-{i:05}"), &[("registry", "yes")]);
    }
    let ctx = manager::context::Context::new(
        Arc::new(env.cluster.clone()),
        env.ctx.providers.clone(),
        env.ctx.config.clone(),
        manager::metrics::Metrics::default(),
    );
    let fan = Fanout::new(ctx, Arc::new(namespaces.clone()), sse_tests::NS);
    let mut css = ClusterSecretSync::new(
        NAME,
        ClusterSecretSyncSpec {
            secret_provider_class_name: "acr".into(),
            service_account_name: sse_tests::SA.into(),
            secret_object: SecretObject {
                data: vec![SecretObjectData {
                    source_path: OBJECT.into(),
                    target_key: "key".into(),
                    property: None,
                }],
                ..SecretObject::default()
            },
            namespaces: serde_json::from_value(
                serde_json::json!({"selector": {"matchLabels": {"registry": "yes"}}}),
            )?,
            ..ClusterSecretSyncSpec::default()
        },
    );
    css.metadata.name = Some(NAME.into());
    env.cluster.put_cluster_sync(css);
    // One reconcile of the resource as stored; `due`: as if its check were due.
    let reconcile = |due: bool| {
        let (fan, env) = (&fan, &env);
        async move {
            if due {
                fan.ctx.expire(&format!("{}/{NAME}", sse_tests::NS));
            }
            let css = env.cluster.cluster_sync(NAME).expect("stored");
            manager::fanout::reconcile(&css, fan)
                .await
                .map(drop)
                .map_err(anyhow::Error::from)
        }
    };
    let a_names: Vec<(String, String)> = (0..n)
        .map(|i| (format!("team-{i:05}"), NAME.to_string()))
        .collect();

    // Arm B: n SecretSyncs reading the same object.
    let mut syncs: Vec<sse_api::SecretSync> = (0..n)
        .map(|i| env.sync(&format!("ss{i}"), "acr", "Opaque", &[(OBJECT, "key")]))
        .collect();
    let b_names: Vec<(String, String)> = syncs
        .iter()
        .map(|s| {
            (
                sse_tests::NS.to_string(),
                s.metadata.name.clone().unwrap_or_default(),
            )
        })
        .collect();

    println!(
        "fan-out benchmark: {n} namespaces; A = 1 ClusterSecretSync, B = {n} SecretSyncs; one vault object\n"
    );
    println!("{:<44} {:>16} {:>16}", "", "A (fan-out)", "B (SecretSyncs)");

    let row = |label: &str, a: String, b: String| println!("{label:<44} {a:>16} {b:>16}");
    let secs = |c: &Cycle| format!("{:.2} s", c.time.as_secs_f64());

    // First sync.
    let a = cycle(&env, reconcile(false)).await?;
    ensure!(holding(&env, &a_names, "v1") == n, "arm A converged");
    let b = cycle(&env, pass_ok(&env, &mut syncs, false)).await?;
    ensure!(holding(&env, &b_names, "v1") == n, "arm B converged");
    row("first sync: time", secs(&a), secs(&b));
    row(
        "first sync: Key Vault requests",
        a.kv.to_string(),
        b.kv.to_string(),
    );

    // A quiet cycle (change detection on, the default).
    let a = cycle(&env, reconcile(true)).await?;
    let b = cycle(&env, pass_ok(&env, &mut syncs, true)).await?;
    row(
        "quiet cycle: Key Vault requests",
        a.kv.to_string(),
        b.kv.to_string(),
    );
    row(
        "quiet cycle: API writes (goal: 0)",
        a.writes.to_string(),
        b.writes.to_string(),
    );
    row(
        "quiet cycle: test-only patches (no write)",
        a.checks.to_string(),
        b.checks.to_string(),
    );
    row("quiet cycle: time", secs(&a), secs(&b));

    // A rotation: the time from the check that sees it to the last Secret holding the new value.
    env.emulator.store().set_secret(sse_tests::VAULT, OBJECT, "v2");
    let a = cycle(&env, reconcile(true)).await?;
    ensure!(
        holding(&env, &a_names, "v2") == n,
        "the rotation reached every namespace of arm A"
    );
    let b = cycle(&env, pass_ok(&env, &mut syncs, true)).await?;
    ensure!(
        holding(&env, &b_names, "v2") == n,
        "the rotation reached every Secret of arm B"
    );
    row("rotation: Key Vault requests", a.kv.to_string(), b.kv.to_string());
    row("rotation: time until all Secrets hold it", secs(&a), secs(&b));
    row("rotation: API writes", a.writes.to_string(), b.writes.to_string());

    // A namespace joins (arm A only: a SecretSync is created by its namespace's user).
    namespaces.put("team-joining", &[("registry", "yes")]);
    let joined = cycle(&env, reconcile(false)).await?;
    ensure!(
        env.cluster.secret("team-joining", NAME).is_some(),
        "the joining namespace got its Secret"
    );
    row(
        "a namespace joins: time to its Secret",
        format!("{:.3} s", joined.time.as_secs_f64()),
        "-".into(),
    );
    row(
        "a namespace joins: Key Vault requests",
        joined.kv.to_string(),
        "-".into(),
    );
    println!(
        "\nbench process RSS: {rss_start} kB at the start, {} kB at the end (both arms, the emulator, the provider and the API double together; the manager binary is measured by `cargo xtask e2e --release fanout_scale`)\n",
        super::fleet::self_rss_kb()
    );
    env.emulator.shutdown().await;
    Ok(())
}

//! The events benchmark (docs/EVENTS.md): how long a vault write takes to reach its Secret when the manager
//! reads the vault's events, over many rotations of a large fleet, beside the same fleet polled every
//! 60 s; what a rotation costs in Key Vault and Event Grid requests; what an idle stream costs.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::{Result, ensure};
use futures::StreamExt;
use manager::vault_events::Credential;
use sse_tests::events::{self, ACCESS_KEY};

use super::{kv_requests, pass, percentile};

/// `n` SecretSyncs, each reading its own secret (with its own class), polled hourly; `rotations` writes of
/// distinct random secrets at `per_second`; then an idle minute.
pub(super) async fn measure(n: usize, rotations: usize, per_second: u32) -> Result<()> {
    ensure!(rotations <= n, "each rotation writes a distinct secret");
    let env = sse_tests::Env::start_with(manager::reconcile::Config {
        poll_interval: Duration::from_secs(3600),
        ..sse_tests::default_config()
    })
    .await;
    let mut classes = Vec::with_capacity(n);
    for i in 0..n {
        env.emulator
            .store()
            .set_secret(sse_tests::VAULT, &format!("e{i}"), "0");
        classes.push(env.put_class(
            &format!("e{i}"),
            "azure",
            &[&format!("objectName: e{i}\nobjectType: secret\nobjectAlias: v")],
        ));
    }
    let mut syncs: Vec<_> = (0..n)
        .map(|i| env.sync(&format!("e{i}"), &format!("e{i}"), "Opaque", &[("v", "key")]))
        .collect();
    let started = Instant::now();
    pass(&env, &env.ctx, &mut syncs, false).await;
    let ready = syncs.iter().filter(|s| super::is_ready(s)).count();
    println!(
        "events: {n} SecretSyncs (each its own secret and class) synced in {:.1} s ({ready} Ready); polled hourly from now on",
        started.elapsed().as_secs_f64()
    );

    let grid = events::subscribe(&env, Duration::from_secs(60));
    let stream = events::stream(
        &env,
        Credential::AccessKey(ACCESS_KEY.into()),
        Duration::from_secs(60),
    );
    let mut running = events::start(&env, stream, &classes, syncs);
    ensure!(
        grid.wait_for_receivers(
            events::NAMESPACE,
            events::TOPIC,
            events::SUBSCRIPTION,
            1,
            Duration::from_secs(30)
        )
        .await,
        "the stream never long-polled"
    );
    env.emulator.reset_counters();

    // Distinct secrets in a scrambled order (xorshift), written at `per_second`.
    let mut order: Vec<usize> = (0..n).collect();
    let mut state = 0x2545_f491_4f6c_dd1du64;
    for i in (1..order.len()).rev() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        order.swap(i, usize::try_from(state % (i as u64 + 1)).unwrap_or(0));
    }
    let mut written: HashMap<String, Instant> = HashMap::with_capacity(rotations);
    let mut latencies: Vec<f64> = Vec::with_capacity(rotations);
    let every = Duration::from_secs(1) / per_second.max(1);
    let mut next = tokio::time::Instant::now();
    let mut queue = order.into_iter().take(rotations);
    let deadline = Instant::now()
        + Duration::from_secs(u64::try_from(rotations).unwrap_or(0) / u64::from(per_second.max(1)) + 120);
    while latencies.len() < rotations && Instant::now() < deadline {
        tokio::select! {
            () = tokio::time::sleep_until(next), if written.len() < rotations => {
                if let Some(i) = queue.next() {
                    env.emulator.store().set_secret(sse_tests::VAULT, &format!("e{i}"), "1");
                    written.insert(format!("e{i}"), Instant::now());
                }
                next += every;
            }
            Some(name) = running.checked.next() => {
                let done = Instant::now();
                let updated = env.secret_data(&name).get("key").is_some_and(|v| v == "1");
                if let Some(at) = written.get(&name).filter(|_| updated) {
                    latencies.push(done.duration_since(*at).as_secs_f64());
                }
            }
        }
    }
    ensure!(
        latencies.len() == rotations,
        "{} of {rotations} rotations reached their Secret",
        latencies.len()
    );
    // Let the last settlements go out before counting.
    grid.wait_for_stats(
        events::NAMESPACE,
        events::TOPIC,
        events::SUBSCRIPTION,
        |s| s.acknowledged >= u64::try_from(rotations).unwrap_or(0),
        Duration::from_secs(30),
    )
    .await;
    latencies.sort_by(f64::total_cmp);
    let (kv, lists, gets) = kv_requests(&env);
    let counters = env.emulator.counters();
    let eventgrid = eventgrid_requests(&counters);
    println!(
        "events: {rotations} rotations at {per_second}/s over {n} SecretSyncs: vault write to Secret updated p50 {:.3} s, p99 {:.3} s, max {:.3} s",
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.99),
        latencies.last().copied().unwrap_or(0.0),
    );
    println!(
        "events: Key Vault requests per rotation {:.2} ({kv} in all: {lists} list pages, {gets} GETs); Event Grid requests per rotation {:.2} ({eventgrid}: {:?})",
        kv as f64 / rotations as f64,
        eventgrid as f64 / rotations as f64,
        counters
            .iter()
            .filter(|(k, _)| is_eventgrid(k))
            .collect::<Vec<_>>(),
    );

    // An idle minute: nothing written, the stream waits.
    env.emulator.reset_counters();
    tokio::time::sleep(Duration::from_secs(60)).await;
    let idle = eventgrid_requests(&env.emulator.counters());
    let (kv, ..) = kv_requests(&env);
    println!("events: an idle minute costs {idle} Event Grid requests and {kv} Key Vault requests\n");
    drop(running);
    env.emulator.shutdown().await;
    Ok(())
}

/// Whether an emulator counter counts Event Grid requests.
fn is_eventgrid(counter: &str) -> bool {
    counter.starts_with("eventgrid.")
}

/// Event Grid requests in the emulator's counters.
fn eventgrid_requests(counters: &std::collections::BTreeMap<String, u64>) -> u64 {
    counters
        .iter()
        .filter(|(k, _)| is_eventgrid(k))
        .map(|(_, v)| v)
        .sum()
}

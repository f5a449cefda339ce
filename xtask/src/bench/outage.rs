//! The outage benchmark: a healthy vault's SecretSyncs beside a vault that refuses connections, with and
//! without the provider failing fast.

use std::time::{Duration, Instant};

use anyhow::Result;

use super::{is_ready, pass, percentile};

/// One vault unreachable (connection refused) while another serves: how long the healthy vault's
/// SecretSyncs take to be Ready while the broken vault's fail over and over, with the provider failing fast
/// (the default) and without, side by side with no outage at all.
pub(super) async fn measure() -> Result<()> {
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

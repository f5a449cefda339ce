//! The freshness benchmark: how long a vault change takes to reach its Secrets when each SecretSync is
//! checked on its own schedule.

use std::time::{Duration, Instant};

use anyhow::Result;

use super::{SYNCS_PER_OBJECT, kv_requests, pass, percentile};

/// Time from a vault change to the Secret updated, SecretSyncs checked every `interval` by their own
/// schedule (what the controller does with each reconcile's `requeue_after`), objects rotated every 2 s
/// for `run`.
pub(super) async fn measure(n: usize, interval: Duration, run: Duration) -> Result<()> {
    measure_with(n, SYNCS_PER_OBJECT, interval, run).await
}

/// [`measure`] with one object per SecretSync (the events benchmark's fleet).
pub(super) async fn measure_each(n: usize, interval: Duration, run: Duration) -> Result<()> {
    measure_with(n, 1, interval, run).await
}

async fn measure_with(n: usize, per_object: usize, interval: Duration, run: Duration) -> Result<()> {
    use futures::StreamExt;
    use futures::stream::FuturesUnordered;
    let env = sse_tests::Env::start_with(manager::reconcile::Config {
        poll_interval: interval,
        ..sse_tests::default_config()
    })
    .await;
    let objects = n / per_object.max(1);
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

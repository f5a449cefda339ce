//! Tier 3: refresh driven by the vault's events on the real API server (docs/EVENTS.md). A manager with
//! `--events-*` reads the emulator's Event Grid namespace topic and polls hourly: a rotation must reach
//! the Secret within seconds; a duplicate and an older event change nothing; with the stream cut, a
//! SecretSync still refreshes on its own interval and the manager says the stream is down (its Lease and an
//! Event on its Deployment, both through the admission policies that fence it).

use keyvault_emulator::SubscriptionOptions;

use super::*;

const NAMESPACE: &str = "sse-e2e";
const TOPIC: &str = "keyvault";
const SUBSCRIPTION: &str = "cluster";

/// How long a rotation may take to reach its Secret when events are healthy.
const EVENT_BOUND: Duration = Duration::from_secs(5);

/// The value of key `key` of Secret `ns/name`, read every 100 ms until it is `want` or `within` passes;
/// how long that took.
async fn value_within(
    w: &World,
    ns: &str,
    name: &str,
    key: &str,
    want: &str,
    within: Duration,
) -> Result<Duration> {
    let started = Instant::now();
    loop {
        let data = secret_data(w, ns, name).await.unwrap_or_default();
        if data.get(key).and_then(Value::as_str) == Some(want) {
            return Ok(started.elapsed());
        }
        ensure!(
            started.elapsed() < within,
            "{ns}/{name} still shows {:?} after {within:?}",
            data.get(key)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The stream's state as the leader writes it on its Lease.
async fn stream_note(w: &World) -> Result<Value> {
    let lease =
        w.k.json(&[
            "get",
            "lease",
            "-n",
            SYSTEM_NS,
            sse_api::consts::LEADER_ELECTION_ID,
        ])
        .await?;
    let note = lease["metadata"]["annotations"]["sse-rs.io/event-stream"]
        .as_str()
        .context("no sse-rs.io/event-stream annotation on the Lease")?;
    Ok(serde_json::from_str(note)?)
}

async fn stream_state(w: &World, state: &str, within: Duration) -> Result<Value> {
    eventually(within, || async {
        let note = stream_note(w).await?;
        if note["state"] == state {
            Ok(Some(note))
        } else {
            anyhow::bail!("stream: {note}")
        }
    })
    .await
}

/// Whether the manager's Deployment has an Event `reason`.
async fn deployment_event(w: &World, reason: &str) -> Result<Option<Value>> {
    let events =
        w.k.json(&["get", "events.events.k8s.io", "-n", SYSTEM_NS])
            .await?;
    Ok(events["items"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|e| e["regarding"]["kind"] == "Deployment" && e["reason"] == reason)
        .cloned())
}

pub async fn vault_events_refresh_within_seconds_and_the_poll_stays_the_safety_net(
    w: &World,
    ns: &str,
) -> Result<()> {
    let grid = w.emulator.event_grid();
    grid.add_subscription(NAMESPACE, TOPIC, SUBSCRIPTION, SubscriptionOptions::default());
    grid.route_vault(VAULT, NAMESPACE, TOPIC);
    grid.set_access_key(NAMESPACE, "e2e-access-key");
    let key_file = w.dir.join("events-access-key");
    std::fs::write(&key_file, "e2e-access-key\n")?;
    crate::lifecycle::without_shared_manager(w, || async {
        let mut manager = w
            .start_manager(
                "manager-events",
                &[
                    "--rotation-poll-interval-in-seconds=3600".into(),
                    "--min-refresh-interval=5s".into(),
                    format!("--events-endpoint={}", w.emulator.eventgrid_url(NAMESPACE)),
                    format!("--events-topic={TOPIC}"),
                    format!("--events-subscription={SUBSCRIPTION}"),
                    format!("--events-access-key-file={}", key_file.display()),
                    format!("--events-ca-file={}", w.dir.join("kv-ca.pem").display()),
                    "--events-max-wait=10s".into(),
                ],
            )
            .await?;
        let result = async {
            w.vault_class(ns, "db", "one").await?;
            w.k.apply(&sync_yaml(ns, "db", "spc", "Opaque", &[("db", "key")], "")).await?;
            wait_reason(w, ns, "db", "Create", "CreateSucceeded").await?;
            ensure!(
                grid.wait_for_receivers(NAMESPACE, TOPIC, SUBSCRIPTION, 1, scaled(Duration::from_secs(60))).await,
                "the leader never long-polled the subscription"
            );

            // A rotation, with the SecretSync's own check an hour away.
            w.emulator.store().set_secret(VAULT, "db", "two");
            let took = value_within(w, ns, "db", "key", "two", EVENT_BOUND).await?;
            println!("figure: vault write → Secret updated through the event stream: {:.2} s (poll interval 1 h)", took.as_secs_f64());
            let note = stream_state(w, "Receiving", Duration::from_secs(10)).await?;
            ensure!(note["received"].as_u64() >= Some(1), "{note}");

            // The same event delivered twice, and an older version after a newer one: nothing is written.
            let rv = |s: &Value| s["metadata"]["resourceVersion"].as_str().map(str::to_string);
            let before = rv(&w.k.json(&["get", "secret", "db", "-n", ns]).await?);
            let acked = |grid: &keyvault_emulator::EventGrid| {
                grid.stats(NAMESPACE, TOPIC, SUBSCRIPTION).map_or(0, |s| s.acknowledged)
            };
            let acked_before = acked(&grid);
            for version in ["0000000000000000000000000000older", "0000000000000000000000000000older"] {
                grid.publish(NAMESPACE, TOPIC, serde_json::json!({
                    "specversion": "1.0", "id": "e2e-duplicate", "type": "Microsoft.KeyVault.SecretNewVersionCreated",
                    "source": format!("/subscriptions/0/resourceGroups/e2e/providers/Microsoft.KeyVault/vaults/{VAULT}"),
                    "subject": "db", "time": "2026-01-01T00:00:00Z",
                    "data": {"Id": format!("https://{VAULT}.vault.azure.net/secrets/db/{version}"), "VaultName": VAULT,
                             "ObjectType": "Secret", "ObjectName": "db", "Version": version, "NBF": null, "EXP": null},
                }));
            }
            ensure!(
                grid.wait_for_stats(NAMESPACE, TOPIC, SUBSCRIPTION, |s| s.acknowledged >= acked_before + 2, scaled(Duration::from_secs(30))).await,
                "the duplicate and the older event were checked and acknowledged: {:?}", grid.stats(NAMESPACE, TOPIC, SUBSCRIPTION)
            );
            let after = rv(&w.k.json(&["get", "secret", "db", "-n", ns]).await?);
            ensure!(before == after, "a duplicate or older event wrote the Secret: {before:?} → {after:?}");
            ensure!(secret_data(w, ns, "db").await?.get("key").and_then(Value::as_str) == Some("two"));

            // The stream cut: the manager says so, and a SecretSync with its own short interval still refreshes.
            w.emulator.store().set_secret(VAULT, "fast", "one");
            w.k.apply(&w.spc(ns, "fast", "azure", &["objectName: fast\nobjectType: secret"])).await?;
            w.k.apply(&sync_yaml(
                ns, "fast", "fast", "Opaque", &[("fast", "key")],
                "",
            ).replace("metadata: {", "metadata: {annotations: {sse-rs.io/refresh-interval: \"5s\"}, ")).await?;
            wait_reason(w, ns, "fast", "Create", "CreateSucceeded").await?;
            grid.fail_requests(Some(403));
            let note = stream_state(w, "Failing", scaled(Duration::from_secs(30))).await?;
            ensure!(note["reason"] == "Forbidden", "{note}");
            ensure!(
                note["message"].as_str().is_some_and(|m| m.contains("EventGrid Data Receiver")),
                "the message names the missing role: {note}"
            );
            let event = eventually(scaled(Duration::from_secs(30)), || async { deployment_event(w, "EventStreamFailed").await })
                .await
                .context("a Warning Event on the manager's Deployment (admitted by the events policy)")?;
            ensure!(event["type"] == "Warning", "{event}");
            w.emulator.store().set_secret(VAULT, "fast", "two");
            let took = value_within(w, ns, "fast", "key", "two", scaled(Duration::from_secs(30))).await?;
            println!("figure: with the event stream cut, a SecretSync on a 5 s interval refreshed in {:.1} s", took.as_secs_f64());

            grid.fail_requests(None);
            stream_state(w, "Receiving", scaled(Duration::from_secs(90))).await?;
            eventually(scaled(Duration::from_secs(30)), || async { deployment_event(w, "EventStreamRecovered").await }).await?;
            w.emulator.store().set_secret(VAULT, "db", "three");
            let took = value_within(w, ns, "db", "key", "three", EVENT_BOUND).await?;
            println!("figure: after the stream came back, vault write → Secret updated: {:.2} s", took.as_secs_f64());
            Ok(())
        }
        .await;
        grid.fail_requests(None);
        manager.terminate(Duration::from_secs(15)).await?;
        result.with_context(|| format!("log: {}", manager.log.display()))
    })
    .await
}

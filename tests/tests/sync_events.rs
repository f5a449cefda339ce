//! Tier 2: refresh driven by the vault's events (docs/EVENTS.md). The manager's stream reader against the
//! emulator's Event Grid namespace topic, the reconciler, the real provider over mTLS and the vault
//! emulator; the controller's routing played by `sse_tests::events`. What a rotation costs in Key Vault
//! requests is counted by the emulator.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::time::{Duration, SystemTime};

use futures::StreamExt;
use keyvault_emulator::{EventGrid, FederatedCredential, mint_assertion};
use manager::vault_events::{Credential, Verdict};
use sse_api::SecretSync;
use sse_api::conditions::READY;
use sse_tests::events::{self, ACCESS_KEY, NAMESPACE, SUBSCRIPTION, TOPIC};
use sse_tests::*;

const WITHIN: Duration = Duration::from_secs(20);

fn secret(name: &str) -> String {
    format!("objectName: {name}\nobjectType: secret\nobjectAlias: v")
}

/// Secrets `names` in the vault, each read by SecretSync `ss-<name>` through class `kv-<name>`, synced.
async fn fleet(env: &Env, names: &[&str]) -> (Vec<sse_api::SecretProviderClass>, Vec<SecretSync>) {
    let (mut classes, mut syncs) = (Vec::new(), Vec::new());
    for name in names {
        env.emulator.store().set_secret(VAULT, name, &format!("{name}-1"));
        classes.push(env.put_class(&format!("kv-{name}"), "azure", &[&secret(name)]));
        let mut sync = env.sync(
            &format!("ss-{name}"),
            &format!("kv-{name}"),
            "Opaque",
            &[("v", "key")],
        );
        env.reconcile(&mut sync).await;
        assert_eq!(condition(&sync, READY).0, "True", "{:?}", sync.status);
        syncs.push(sync);
    }
    (classes, syncs)
}

fn gets(env: &Env) -> u64 {
    env.emulator.counters().get("secrets.get").copied().unwrap_or(0)
}

fn secret_writes(env: &Env) -> usize {
    env.cluster
        .calls()
        .iter()
        .filter(|c| format!("{c:?}").contains("ApplySecret"))
        .count()
}

async fn settled(grid: &EventGrid, what: &str, done: impl Fn(&keyvault_emulator::SubscriptionStats) -> bool) {
    assert!(
        grid.wait_for_stats(NAMESPACE, TOPIC, SUBSCRIPTION, done, WITHIN)
            .await,
        "{what}: {:?}",
        grid.stats(NAMESPACE, TOPIC, SUBSCRIPTION)
    );
}

#[tokio::test]
async fn a_check_an_event_asks_for_costs_the_one_get_of_the_new_version_and_a_duplicate_writes_nothing() {
    let env = Env::start().await;
    let (_, mut syncs) = fleet(&env, &["db", "other"]).await;
    env.emulator.store().set_secret(VAULT, "db", "db-2");
    env.emulator.reset_counters();
    env.cluster.clear_calls();
    let key = manager::reconcile::key(&syncs[0]);
    let answer = env.ctx.hints.mark(&key, &["secret/db".into()], SystemTime::now());
    env.ctx.force(&key);
    env.reconcile(&mut syncs[0]).await;
    assert_eq!(
        env.secret_data("ss-db").get("key").map(String::as_str),
        Some("db-2")
    );
    assert_eq!(answer.await.ok(), Some(Verdict::Checked));
    assert_eq!(
        gets(&env),
        1,
        "the Mount's GET, and no other: {:?}",
        env.emulator.counters()
    );
    assert_eq!(
        env.emulator.counters().get("secrets.list"),
        None,
        "no listing for an event"
    );

    // The same news again (a duplicate, or an older version delivered late): the same bytes, no write.
    env.emulator.reset_counters();
    env.cluster.clear_calls();
    let answer = env.ctx.hints.mark(&key, &["secret/db".into()], SystemTime::now());
    env.ctx.force(&key);
    env.reconcile(&mut syncs[0]).await;
    assert_eq!(answer.await.ok(), Some(Verdict::Checked));
    assert_eq!(secret_writes(&env), 0, "{:?}", env.cluster.calls());
    assert_eq!(
        env.secret_data("ss-db").get("key").map(String::as_str),
        Some("db-2")
    );
    assert_eq!(gets(&env), 1, "the Mount's GET: {:?}", env.emulator.counters());

    // The check left a baseline: the next scheduled check is quiet.
    env.cluster.clear_calls();
    env.poll(&mut syncs[0]).await;
    assert_eq!(secret_writes(&env), 0, "{:?}", env.cluster.calls());
}

#[tokio::test]
async fn the_stream_checks_the_readers_at_once_and_acknowledges_once_the_check_is_recorded() {
    let env = Env::start().await;
    let (classes, syncs) = fleet(&env, &["db", "other"]).await;
    let grid = events::subscribe(&env, Duration::from_secs(60));
    let stream = events::stream(
        &env,
        Credential::AccessKey(ACCESS_KEY.into()),
        Duration::from_secs(10),
    );
    let mut running = events::start(&env, stream.clone(), &classes, syncs);
    assert!(
        grid.wait_for_receivers(NAMESPACE, TOPIC, SUBSCRIPTION, 1, WITHIN)
            .await
    );

    env.emulator.reset_counters();
    env.emulator.store().set_secret(VAULT, "db", "db-2");
    let checked = tokio::time::timeout(WITHIN, running.checked.next())
        .await
        .unwrap();
    assert_eq!(
        checked.as_deref(),
        Some("ss-db"),
        "only the SecretSync reading the object"
    );
    assert_eq!(
        env.secret_data("ss-db").get("key").map(String::as_str),
        Some("db-2")
    );
    settled(&grid, "acknowledged after the check", |s| s.acknowledged == 1).await;
    assert_eq!(grid.pending(NAMESPACE, TOPIC, SUBSCRIPTION), 0);
    assert_eq!(
        gets(&env),
        1,
        "one GET per rotation: {:?}",
        env.emulator.counters()
    );
    assert_eq!(stream.status.note().state, "Receiving");
    assert_eq!(stream.status.note().received, 1);

    // An object nobody reads: acknowledged, nothing checked.
    env.emulator.store().set_secret(VAULT, "nobody-reads-this", "x");
    settled(&grid, "an unread event is acknowledged", |s| s.acknowledged == 2).await;
    assert!(
        running.checked.try_recv().is_err(),
        "no check for an unread object"
    );
    let metrics = env.ctx.metrics.encode();
    for outcome in ["checked", "unread"] {
        let line = format!(
            "secretsync_vault_events_total{{type=\"Microsoft.KeyVault.SecretNewVersionCreated\",outcome=\"{outcome}\"}} 1"
        );
        assert!(metrics.contains(&line), "{line} in\n{metrics}");
    }

    // A duplicate delivery and an older version delivered after a newer one: nothing new is written.
    let before = env
        .cluster
        .secret(NS, "ss-db")
        .and_then(|s| s.metadata.resource_version);
    grid.duplicate_next(1);
    env.emulator.store().set_secret(VAULT, "db", "db-3");
    settled(&grid, "both deliveries acknowledged", |s| s.acknowledged == 4).await;
    assert_eq!(
        env.secret_data("ss-db").get("key").map(String::as_str),
        Some("db-3")
    );
    let after_duplicate = env
        .cluster
        .secret(NS, "ss-db")
        .and_then(|s| s.metadata.resource_version);
    assert_ne!(before, after_duplicate, "the rotation was written");
    grid.reorder_next(1);
    env.emulator.store().set_secret(VAULT, "db", "db-4");
    env.emulator.store().set_secret(VAULT, "db", "db-5");
    settled(&grid, "out-of-order events acknowledged", |s| s.acknowledged == 6).await;
    assert_eq!(
        env.secret_data("ss-db").get("key").map(String::as_str),
        Some("db-5"),
        "the older event did not bring an older value back"
    );
}

#[tokio::test]
async fn a_check_that_failed_releases_its_event_to_come_again() {
    let env = Env::start().await;
    let (classes, syncs) = fleet(&env, &["db"]).await;
    let grid = events::subscribe(&env, Duration::from_secs(60));
    let stream = events::stream(
        &env,
        Credential::AccessKey(ACCESS_KEY.into()),
        Duration::from_secs(10),
    );
    let mut running = events::start(&env, stream, &classes, syncs);
    assert!(
        grid.wait_for_receivers(NAMESPACE, TOPIC, SUBSCRIPTION, 1, WITHIN)
            .await
    );
    // The vault answers 503 to the Mount (and its retries): a failure a retry can fix.
    env.emulator.faults().fail_next(100, 503);
    env.emulator.store().set_secret(VAULT, "db", "db-2");
    tokio::time::timeout(WITHIN, running.checked.next())
        .await
        .unwrap();
    settled(&grid, "released", |s| s.released >= 1).await;
    let synced = running.syncs.lock().unwrap().get("ss-db").cloned().unwrap();
    assert_ne!(condition(&synced, READY).0, "True", "{:?}", synced.status);
    // The vault is back: the event comes again, its check succeeds, and it is acknowledged.
    env.emulator.faults().fail_next(0, 503);
    settled(&grid, "acknowledged on redelivery", |s| s.acknowledged >= 1).await;
    assert_eq!(
        env.secret_data("ss-db").get("key").map(String::as_str),
        Some("db-2")
    );
}

#[tokio::test]
async fn a_failing_stream_is_reported_once_retried_and_its_recovery_too() {
    let env = Env::start().await;
    let (classes, syncs) = fleet(&env, &["db"]).await;
    let grid = events::subscribe(&env, Duration::from_secs(60));
    grid.fail_requests(Some(403));
    let stream = events::stream(
        &env,
        Credential::AccessKey(ACCESS_KEY.into()),
        Duration::from_secs(10),
    );
    let mut running = events::start(&env, stream.clone(), &classes, syncs);
    let (warning, reason, message) = tokio::time::timeout(WITHIN, running.reports.next())
        .await
        .unwrap()
        .unwrap();
    assert!(warning);
    assert_eq!(reason, "EventStreamFailed");
    assert!(message.contains("EventGrid Data Receiver"), "{message}");
    assert!(message.contains("polling interval"), "{message}");
    let note = stream.status.note();
    assert_eq!(
        (note.state.as_str(), note.reason.as_deref()),
        ("Failing", Some("Forbidden"))
    );
    assert!(!message.contains(ACCESS_KEY), "never the key");
    grid.fail_requests(None);
    let (warning, reason, _) = tokio::time::timeout(WITHIN, running.reports.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!((warning, reason), (false, "EventStreamRecovered"));
    assert!(
        running.reports.try_recv().is_err(),
        "one Event per transition, not per retry"
    );
    assert_eq!(stream.status.note().state, "Receiving");
}

#[tokio::test]
async fn the_manager_identity_reads_the_stream_with_a_federated_token() {
    let env = Env::start().await;
    let (classes, syncs) = fleet(&env, &["db"]).await;
    let grid = events::subscribe(&env, Duration::from_secs(60));
    const MANAGER_CLIENT: &str = "99999999-8888-7777-6666-555555555555";
    let subject = "system:serviceaccount:azure-secret-store:secrets-store-sync-controller-manager";
    env.emulator.entra().add_federated_credential(
        TENANT,
        MANAGER_CLIENT,
        FederatedCredential {
            issuer: ISSUER.into(),
            subject: subject.into(),
            audience: AUDIENCE.into(),
        },
    );
    let token_file = env.dir.path().join("azure-identity-token");
    std::fs::write(
        &token_file,
        mint_assertion(ISSUER, subject, AUDIENCE, Duration::from_secs(3600)),
    )
    .unwrap();
    let credential = Credential::WorkloadIdentity {
        authority: env.emulator.authority_host(),
        tenant: TENANT.into(),
        client_id: MANAGER_CLIENT.into(),
        token_file,
    };
    let stream = events::stream(&env, credential, Duration::from_secs(10));
    let mut running = events::start(&env, stream.clone(), &classes, syncs);
    env.emulator.store().set_secret(VAULT, "db", "db-2");
    tokio::time::timeout(WITHIN, running.checked.next())
        .await
        .unwrap();
    settled(&grid, "acknowledged", |s| s.acknowledged == 1).await;

    // Without the EventGrid Data Receiver role: refused, and said so.
    grid.deny_role(NAMESPACE, true);
    env.emulator.store().set_secret(VAULT, "db", "db-3");
    let (_, reason, message) = tokio::time::timeout(WITHIN, running.reports.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(reason, "EventStreamFailed");
    assert!(message.contains("403"), "{message}");
    grid.deny_role(NAMESPACE, false);
    tokio::time::timeout(WITHIN, running.checked.next())
        .await
        .unwrap();
    assert_eq!(
        env.secret_data("ss-db").get("key").map(String::as_str),
        Some("db-3")
    );
}

#[tokio::test]
async fn a_near_expiry_event_moves_the_standing_without_reading_the_vault() {
    use keyvault_emulator::SecretInput;
    const WINDOW: Duration = Duration::from_secs(30 * 86_400);
    let env = Env::start().await;
    // Expiring in the window plus two seconds: Valid at the first check, Expiring two seconds later.
    let now = SystemTime::now();
    let exp = now + WINDOW + Duration::from_secs(2);
    let exp_unix = i64::try_from(exp.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs()).unwrap();
    env.emulator.store().set_secret_with(
        VAULT,
        "cert-pw",
        SecretInput {
            value: "v".into(),
            expires: Some(exp_unix),
            ..SecretInput::default()
        },
    );
    let class = env.put_class("kv", "azure", &[&secret("cert-pw")]);
    let mut sync = env.sync("ss", "kv", "Opaque", &[("v", "key")]);
    env.reconcile(&mut sync).await;
    let standing = |s: &SecretSync| {
        s.status
            .as_ref()
            .unwrap()
            .validity
            .first()
            .map(|v| v.state.clone())
    };
    assert_eq!(standing(&sync).as_deref(), Some("Valid"), "{:?}", sync.status);
    let grid = events::subscribe(&env, Duration::from_secs(60));
    let stream = events::stream(
        &env,
        Credential::AccessKey(ACCESS_KEY.into()),
        Duration::from_secs(10),
    );
    let mut running = events::start(&env, stream, &[class], vec![sync]);
    assert!(
        grid.wait_for_receivers(NAMESPACE, TOPIC, SUBSCRIPTION, 1, WITHIN)
            .await
    );

    // The moment Key Vault's NearExpiry fires (30 days before `exp`): the clock is the behaviour here.
    tokio::time::sleep_until(
        tokio::time::Instant::now()
            + (exp - WINDOW)
                .duration_since(SystemTime::now())
                .unwrap_or_default()
            + Duration::from_millis(200),
    )
    .await;
    env.emulator.reset_counters();
    assert_eq!(grid.expiry_pass(SystemTime::now()), 1, "one NearExpiry");
    assert_eq!(
        tokio::time::timeout(WITHIN, running.checked.next())
            .await
            .unwrap()
            .as_deref(),
        Some("ss")
    );
    let checked = running.syncs.lock().unwrap().get("ss").cloned().unwrap();
    assert_eq!(
        standing(&checked).as_deref(),
        Some("Expiring"),
        "{:?}",
        checked.status
    );
    assert_eq!(condition(&checked, sse_api::conditions::EXPIRING).0, "True");
    settled(&grid, "acknowledged", |s| s.acknowledged == 1).await;
    let counters = env.emulator.counters();
    let vault: u64 = counters
        .iter()
        .filter(|(k, _)| k.starts_with("secrets."))
        .map(|(_, v)| v)
        .sum();
    assert_eq!(
        vault, 0,
        "no vault read for a date that is already known: {counters:?}"
    );
}

#[tokio::test]
async fn a_long_check_keeps_its_event_locked() {
    let env = Env::start().await;
    let (classes, syncs) = fleet(&env, &["db"]).await;
    // Locks of 2 s: a check of 3 s would lose its lock without renewals, and the event come again.
    let grid = events::subscribe(&env, Duration::from_secs(2));
    let mut stream = events::settings(
        &env,
        Credential::AccessKey(ACCESS_KEY.into()),
        Duration::from_secs(10),
    );
    stream.renew_every = Duration::from_millis(500);
    let stream = std::sync::Arc::new(stream);
    let mut running = events::start(&env, stream, &classes, syncs);
    assert!(
        grid.wait_for_receivers(NAMESPACE, TOPIC, SUBSCRIPTION, 1, WITHIN)
            .await
    );
    env.emulator.faults().set_latency(Duration::from_secs(3));
    env.emulator.store().set_secret(VAULT, "db", "db-2");
    tokio::time::timeout(WITHIN, running.checked.next())
        .await
        .unwrap();
    env.emulator.faults().set_latency(Duration::ZERO);
    settled(&grid, "acknowledged", |s| s.acknowledged == 1).await;
    let stats = grid.stats(NAMESPACE, TOPIC, SUBSCRIPTION).unwrap();
    assert!(stats.lock_renewals >= 2, "{stats:?}");
    assert_eq!(stats.delivered, 1, "never delivered again: {stats:?}");
    assert_eq!(
        env.secret_data("ss-db").get("key").map(String::as_str),
        Some("db-2")
    );
}

#[tokio::test]
async fn a_backlog_is_taken_in_turns_never_locked_whole() {
    let env = Env::start().await;
    let names = ["a", "b", "c", "d", "e"];
    let (classes, syncs) = fleet(&env, &names).await;
    let grid = events::subscribe(&env, Duration::from_secs(60));
    let mut stream = events::settings(
        &env,
        Credential::AccessKey(ACCESS_KEY.into()),
        Duration::from_secs(10),
    );
    stream.max_in_flight = 2;
    let stream = std::sync::Arc::new(stream);
    // Slow checks: each Mount waits 2 s at the vault.
    env.emulator.faults().set_latency(Duration::from_secs(2));
    for name in names {
        env.emulator.store().set_secret(VAULT, name, &format!("{name}-2"));
    }
    let mut running = events::start(&env, stream, &classes, syncs);
    // Two checks reach the vault and wait there (the emulator counts requests it holds)...
    let started = std::time::Instant::now();
    while env.emulator.faults().delayed() < 2 {
        assert!(started.elapsed() < WITHIN, "two checks never reached the vault");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // ...and no more events were received meanwhile: two held, three waiting in the subscription.
    let stats = grid.stats(NAMESPACE, TOPIC, SUBSCRIPTION).unwrap();
    assert_eq!(stats.delivered, 2, "{stats:?}");
    assert_eq!(grid.pending(NAMESPACE, TOPIC, SUBSCRIPTION), 5);
    env.emulator.faults().set_latency(Duration::ZERO);
    settled(&grid, "every event in turn", |s| s.acknowledged == 5).await;
    for _ in names {
        tokio::time::timeout(WITHIN, running.checked.next())
            .await
            .unwrap();
    }
    for name in names {
        let key = env.secret_data(&format!("ss-{name}")).get("key").cloned();
        assert_eq!(key, Some(format!("{name}-2")));
    }
}

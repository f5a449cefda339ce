//! Tier 2: a provider that goes away and comes back, against the real provider over mTLS and the Key Vault
//! emulator (harness in `tests/src/lib.rs`). The manager tells "the provider could not be reached" (no
//! answer: probe it, retry at once when it answers) from "the provider answered that its vault is away"
//! (an answer: back off, probe nothing).
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use sse_api::conditions::READY;
use sse_tests::*;

/// The provider is SIGKILLed (its socket file left behind, nobody answering) and its container restarts:
/// the manager probes it while it is down and says the moment it answers again, and the SecretSyncs that
/// failed on it are due at once, not at their next backoff step (which after a few failures is many
/// seconds away). The status said why meanwhile.
#[tokio::test]
async fn a_restarted_provider_is_noticed_within_a_second_and_its_failures_retried_at_once() {
    let mut env = Env::start().await;
    env.emulator.store().set_secret(VAULT, "s", "v");
    env.put_class("kv", "azure", &["objectName: s\nobjectType: secret"]);
    let mut sync = env.sync("app", "kv", "Opaque", &[("s", "key")]);
    env.reconcile(&mut sync).await;
    let shutdown = tokio_util::sync::CancellationToken::new();
    env.ctx.providers.spawn_recovery_probe(shutdown.clone());
    let mut recovered = env.ctx.providers.health().recovered();

    env.kill_provider().await;
    for _ in 0..3 {
        env.poll(&mut sync).await;
    }
    let (status, reason, message) = condition(&sync, READY);
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("False", "ProviderError"),
        "{message}"
    );
    assert_eq!(env.secret_data("app")["key"], "v", "the Secret keeps its value");
    assert_eq!(env.ctx.providers.health().down(), ["azure"]);
    let backoff = env
        .ctx
        .schedule
        .next_check_in(&sync, std::time::SystemTime::now());
    assert!(
        backoff > std::time::Duration::from_secs(2),
        "backing off: {backoff:?}"
    );

    env.start_provider().await;
    let started = std::time::Instant::now();
    tokio::time::timeout(std::time::Duration::from_secs(5), recovered.changed())
        .await
        .expect("noticed within 5 s")
        .unwrap();
    println!(
        "figure: provider noticed again {:.2} s after it started",
        started.elapsed().as_secs_f64()
    );
    let due = env.ctx.schedule.retry_now(
        &[
            sse_api::Reason::ProviderError,
            sse_api::Reason::ControllerSpcError,
        ],
        std::time::SystemTime::now(),
    );
    assert!(due.contains(&format!("{NS}/app")), "{due:?}");
    assert_eq!(
        env.ctx.schedule.failures(&sync),
        0,
        "the cause is gone: it needs no retry slot (busy with other failures, it would be put off)"
    );
    env.reconcile(&mut sync).await;
    assert_eq!(condition(&sync, READY).0, "True", "synced again at once");
    shutdown.cancel();
}

/// A Key Vault outage is the provider's answer (`UNAVAILABLE`, which it sends itself), not the provider
/// being away: the provider is not marked down, so no probe "brings it back" and wakes every failing
/// SecretSync at once; they keep their backoff for as long as the vault is away.
#[tokio::test]
async fn a_vault_outage_leaves_the_provider_up_and_the_failures_backing_off() {
    let env = Env::start().await;
    env.emulator.store().set_secret(VAULT, "s", "v");
    env.put_class("kv", "azure", &["objectName: s\nobjectType: secret"]);
    let mut sync = env.sync("app", "kv", "Opaque", &[("s", "key")]);
    env.reconcile(&mut sync).await;
    let shutdown = tokio_util::sync::CancellationToken::new();
    env.ctx.providers.spawn_recovery_probe(shutdown.clone());
    let recovered = env.ctx.providers.health().recovered();

    env.emulator.faults().set_outage(true);
    for _ in 0..3 {
        env.poll(&mut sync).await;
    }
    let (status, reason, message) = condition(&sync, READY);
    assert_eq!((status.as_str(), reason.as_str()), ("False", "ProviderError"));
    assert!(message.contains("code = Unavailable"), "{message}");
    assert!(
        env.ctx.providers.health().down().is_empty(),
        "the provider answered: it is up"
    );
    assert!(!recovered.has_changed().unwrap(), "nothing to recover from");
    assert_eq!(
        env.ctx.schedule.failures(&sync),
        3,
        "each failure counts: backing off"
    );
    shutdown.cancel();
}

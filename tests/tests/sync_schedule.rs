//! Tier 2: the manager's reconciler with the real provider over mTLS and the Key Vault emulator; the
//! Kubernetes API is the in-memory double, which records every call (harness in `tests/src/lib.rs`).
//! Scheduling: a restart does not resync everything at once, failing SecretSyncs take at most half the
//! workers, a late check is reported overdue.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use sse_api::conditions::READY;
use sse_tests::*;

#[tokio::test]
async fn a_restart_does_not_resync_everything_at_once_but_still_notices_changes() {
    let mut env = Env::start().await;
    env.emulator.store().set_secret(VAULT, "a", "from-a");
    env.emulator.store().set_secret(VAULT, "b", "from-b");
    env.put_class(
        "kv",
        "azure",
        &["objectName: a\nobjectType: secret\nobjectAlias: x"],
    );
    let mut sync = env.sync("restarted", "kv", "Opaque", &[("x", "key")]);
    env.reconcile(&mut sync).await;

    env.restart();
    env.emulator.reset_counters();
    let report = env.reconcile(&mut sync).await;
    assert!(
        !report.synced(),
        "a healthy SecretSync waits for its scheduled check after a restart"
    );
    assert_eq!(env.emulator.counters().get("secrets.get"), None);

    env.put_class(
        "kv",
        "azure",
        &["objectName: b\nobjectType: secret\nobjectAlias: x"],
    );
    assert!(
        env.reconcile(&mut sync).await.synced(),
        "a SecretProviderClass change is still noticed"
    );
    assert_eq!(env.secret_data("restarted")["key"], "from-b");
}

#[tokio::test]
async fn failing_secret_syncs_take_at_most_half_the_workers() {
    // Two work slots: SecretSyncs in failure may hold one of them; the other stays free for the rest.
    // (The provider's per-vault failing fast is off: this is about the manager's share of the workers.)
    let env = Env::start_with_provider_args(
        manager::context::Config {
            audiences: vec![AUDIENCE.into()],
            workers: 2,
            ..manager::context::Config::default()
        },
        &["--vault-failures-before-failing-fast=0"],
    )
    .await;
    env.emulator.store().set_secret(VAULT, "s", "v");
    env.put_class("kv", "azure", &["objectName: s\nobjectType: secret"]);
    let mut a = env.sync("a", "kv", "Opaque", &[("s", "k")]);
    let mut b = env.sync("b", "kv", "Opaque", &[("s", "k")]);
    env.emulator.faults().set_outage(true);
    for sync in [&mut a, &mut b] {
        let report = env.reconcile(sync).await;
        assert!(report.synced(), "a first failure is a real attempt");
        assert_eq!(condition(sync, READY).1, "ProviderError");
    }

    // The vault comes back slowly: a's retry holds the retry share while it waits for the vault.
    env.emulator.faults().set_outage(false);
    env.emulator
        .faults()
        .set_latency(std::time::Duration::from_secs(2));
    env.ctx.expire(&format!("{NS}/a"));
    let ctx = env.ctx.clone();
    let retry_a = tokio::spawn({
        let a = a.clone();
        async move { reconcile(&a, &ctx).await }
    });
    // a's request is held by the vault's latency: its retry slot is taken.
    tokio::time::timeout(std::time::Duration::from_secs(10), async {
        while env.emulator.faults().delayed() == 0 {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("a's retry reaches the vault");
    // b, failing too, is deferred to its next backoff step instead of queueing for a slot…
    let deferred = env.poll(&mut b).await;
    assert!(!deferred.synced(), "b must wait: the retry share is taken");
    assert!(deferred.requeue_after > std::time::Duration::ZERO);
    // …while a healthy SecretSync still gets the other slot.
    let mut c = env.sync("c", "kv", "Opaque", &[("s", "k")]);
    let healthy = env.reconcile(&mut c).await;
    assert!(healthy.synced());
    assert_eq!(condition(&c, READY).0, "True");
    assert!(retry_a.await.unwrap().synced());
    env.emulator.faults().set_latency(std::time::Duration::ZERO);
    // Once a's retry is done, b's turn comes.
    let b_again = env.poll(&mut b).await;
    assert!(b_again.synced());
    assert_eq!(condition(&b, READY).0, "True");
}

#[tokio::test]
async fn a_secret_sync_whose_check_is_late_is_reported_overdue() {
    let env = Env::start().await;
    env.emulator.store().set_secret(VAULT, "s", "v");
    env.put_class("kv", "azure", &["objectName: s\nobjectType: secret"]);
    let mut sync = env.sync("late", "kv", "Opaque", &[("s", "k")]);
    let now = std::time::SystemTime::now();
    let key = format!("{NS}/late");
    let keys = [key.as_str(), "app/never-seen"];
    assert!(
        env.ctx.schedule.overdue(keys.into_iter(), now).is_empty(),
        "nothing is overdue right after start"
    );
    let report = env.reconcile(&mut sync).await;
    let grace = env.ctx.config.reconcile_timeout + std::time::Duration::from_secs(30);
    let due = now + report.requeue_after;
    assert!(
        !env.ctx.schedule.overdue(keys.into_iter(), due).contains(&key),
        "on time at its scheduled check"
    );
    let late = env
        .ctx
        .schedule
        .overdue(keys.into_iter(), due + grace + std::time::Duration::from_secs(1));
    assert!(late.contains(&key), "a check later than its bound: {late:?}");
    assert!(
        late.contains("app/never-seen"),
        "never reconciled long after start: {late:?}"
    );
}

fn annotate(sync: &mut sse_api::SecretSync, key: &str, value: &str) {
    sync.metadata
        .annotations
        .get_or_insert_default()
        .insert(key.into(), value.into());
}

#[tokio::test]
async fn the_force_sync_annotation_checks_the_vault_at_once_and_once() {
    let mut env = Env::start().await;
    env.emulator.store().set_secret(VAULT, "pw", "old");
    env.put_class("kv", "azure", &["objectName: pw\nobjectType: secret"]);
    let mut sync = env.sync("forced", "kv", "Opaque", &[("pw", "key")]);
    env.reconcile(&mut sync).await;
    assert_eq!(env.secret_data("forced")["key"], "old");

    // Rotated in the vault; the hourly check is an hour away, so a trigger alone does nothing.
    env.emulator.store().set_secret(VAULT, "pw", "new");
    assert!(!env.reconcile(&mut sync).await.synced());
    assert_eq!(env.secret_data("forced")["key"], "old");

    const FORCE: &str = sse_api::consts::FORCE_SYNC_ANNOTATION;
    annotate(&mut sync, FORCE, "2026-12-06T11:20:00Z");
    assert!(
        env.reconcile(&mut sync).await.synced(),
        "a new force-sync value checks now"
    );
    assert_eq!(env.secret_data("forced")["key"], "new");
    let status = sync.status.clone().unwrap();
    assert_eq!(status.force_sync_handled.as_deref(), Some("2026-12-06T11:20:00Z"));
    assert_eq!(
        condition(&sync, READY).1,
        "UpdateValueChangeOrForceUpdateSucceeded"
    );

    // Handled: the same value (the status write's own echo, a restart) does not check again.
    env.emulator.reset_counters();
    assert!(!env.reconcile(&mut sync).await.synced());
    env.restart();
    assert!(
        !env.reconcile(&mut sync).await.synced(),
        "the status says it was handled"
    );
    assert_eq!(env.emulator.counters().get("secrets.get"), None);

    // A value set while no manager ran is handled by the next one.
    annotate(&mut sync, FORCE, "again");
    env.restart();
    assert!(env.reconcile(&mut sync).await.synced());
    assert_eq!(
        sync.status.as_ref().unwrap().force_sync_handled.as_deref(),
        Some("again")
    );
}

#[tokio::test]
async fn a_forced_check_reads_the_vault_where_change_detection_would_answer_quietly() {
    let env = Env::start().await;
    env.emulator.store().set_secret(VAULT, "pw", "v");
    env.put_class("kv", "azure", &["objectName: pw\nobjectType: secret"]);
    let mut sync = env.sync("forced", "kv", "Opaque", &[("pw", "key")]);
    env.reconcile(&mut sync).await;
    env.poll(&mut sync).await; // the listing's fingerprint becomes the baseline

    env.emulator.reset_counters();
    env.poll(&mut sync).await;
    assert_eq!(
        env.emulator.counters().get("secrets.get"),
        None,
        "a quiet check lists only"
    );

    annotate(&mut sync, sse_api::consts::FORCE_SYNC_ANNOTATION, "1");
    env.emulator.reset_counters();
    let report = env.reconcile(&mut sync).await;
    assert!(report.synced());
    assert_eq!(
        env.emulator.counters().get("secrets.get"),
        Some(&1),
        "the forced check mounted"
    );
    // Nothing changed: the conditions stay as they were (Ready), the status records the request.
    assert_eq!(condition(&sync, READY).0, "True");
    assert_eq!(
        sync.status.as_ref().unwrap().force_sync_handled.as_deref(),
        Some("1")
    );
}

#[tokio::test]
async fn a_bad_force_sync_value_is_warned_about_once_and_still_checks() {
    let env = Env::start().await;
    env.emulator.store().set_secret(VAULT, "pw", "v");
    env.put_class("kv", "azure", &["objectName: pw\nobjectType: secret"]);
    let mut sync = env.sync("forced", "kv", "Opaque", &[("pw", "key")]);
    env.reconcile(&mut sync).await;
    env.emulator.store().set_secret(VAULT, "pw", "rotated");

    annotate(&mut sync, sse_api::consts::FORCE_SYNC_ANNOTATION, &"x".repeat(64));
    env.cluster.clear_calls();
    assert!(
        env.reconcile(&mut sync).await.synced(),
        "the request is still a check"
    );
    assert_eq!(env.secret_data("forced")["key"], "rotated");
    assert_eq!(
        condition(&sync, READY).0,
        "True",
        "a bad annotation does not stop syncing"
    );
    assert_eq!(
        sync.status.as_ref().unwrap().force_sync_handled,
        None,
        "never copied into the status"
    );
    let warned = |env: &Env| {
        env.cluster
            .calls()
            .iter()
            .filter(|c| matches!(c, manager::fake::Call::Event(_, r) if r == "InvalidForceSync"))
            .count()
    };
    assert_eq!(warned(&env), 1);
    // Handled once: the status write's echo is not another check, nor another warning.
    assert!(!env.reconcile(&mut sync).await.synced());
    assert_eq!(warned(&env), 1);
}

#[tokio::test]
async fn a_force_sync_whose_status_write_failed_is_acknowledged_by_the_next_check() {
    let env = Env::start().await;
    env.emulator.store().set_secret(VAULT, "pw", "v");
    env.put_class("kv", "azure", &["objectName: pw\nobjectType: secret"]);
    let mut sync = env.sync("forced", "kv", "Opaque", &[("pw", "key")]);
    env.reconcile(&mut sync).await;
    annotate(&mut sync, sse_api::consts::FORCE_SYNC_ANNOTATION, "t1");
    env.cluster.refuse(
        manager::fake::Request::WriteStatus,
        Some(manager::cluster::ClusterError::new(
            500,
            "InternalError",
            "etcd timeout",
        )),
    );
    assert!(env.reconcile(&mut sync).await.synced());
    assert_eq!(
        sync.status.as_ref().unwrap().force_sync_handled,
        None,
        "the write was refused"
    );
    env.cluster.refuse(manager::fake::Request::WriteStatus, None);
    env.poll(&mut sync).await;
    assert_eq!(
        sync.status.as_ref().unwrap().force_sync_handled.as_deref(),
        Some("t1"),
        "kubectl sse sync sees its answer after all"
    );
}

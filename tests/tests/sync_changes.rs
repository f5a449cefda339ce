//! Tier 2: change detection (issue 9). What a check costs in Key Vault requests, counted by the emulator:
//! a quiet cycle is the vault's listing, shared by every SecretSync of that vault and identity; a change costs
//! the Mount of the SecretSyncs it touches; a provider without the service is mounted as before.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use keyvault_emulator::ObjectKind;
use manager::context::Config;
use sse_api::SecretSync;
use sse_api::conditions::READY;
use sse_tests::*;

fn secret(name: &str) -> String {
    format!("objectName: {name}\nobjectType: secret\nobjectAlias: v")
}

/// `n` secrets `s0..` in the vault, then one SecretSync (with its own class) per secret, all synced.
async fn fleet(env: &Env, n: usize) -> Vec<SecretSync> {
    let mut syncs = Vec::new();
    for i in 0..n {
        env.emulator
            .store()
            .set_secret(VAULT, &format!("s{i}"), &format!("value-{i}"));
    }
    for i in 0..n {
        env.put_class(&format!("kv{i}"), "azure", &[&secret(&format!("s{i}"))]);
        let mut sync = env.sync(&format!("ss{i}"), &format!("kv{i}"), "Opaque", &[("v", "key")]);
        env.reconcile(&mut sync).await;
        assert_eq!(condition(&sync, READY).0, "True", "{:?}", sync.status);
        syncs.push(sync);
    }
    syncs
}

/// Poll every SecretSync once (each reaches its next check) and return the emulator's counters for it.
async fn cycle(env: &Env, syncs: &mut [SecretSync]) -> std::collections::BTreeMap<String, u64> {
    env.emulator.reset_counters();
    env.cluster.clear_calls();
    for sync in syncs.iter_mut() {
        env.poll(sync).await;
    }
    let mut counters = env.emulator.counters();
    counters.remove("entra.token");
    counters
}

fn count(counters: &std::collections::BTreeMap<String, u64>, op: &str) -> u64 {
    counters.get(op).copied().unwrap_or(0)
}

#[tokio::test]
async fn a_quiet_cycle_costs_one_listing_per_vault_whatever_the_number_of_secret_syncs() {
    let env = Env::start().await;
    // 30 secrets: two pages of 25.
    let mut syncs = fleet(&env, 30).await;
    let counters = cycle(&env, &mut syncs).await;
    assert_eq!(count(&counters, "secrets.list"), 2, "{counters:?}");
    assert_eq!(count(&counters, "secrets.get"), 0, "no value read: {counters:?}");
    // Every check was quiet: nothing written, statuses untouched, each one a single test-only patch.
    let calls = env.cluster.calls();
    assert!(
        calls
            .iter()
            .all(|c| matches!(c, manager::fake::Call::PatchSecret(_, 200))),
        "{calls:?}"
    );

    // The same fleet without change detection: one GET per SecretSync per cycle.
    let plain = Env::start_with(Config {
        change_detection: false,
        ..default_config()
    })
    .await;
    let mut syncs = fleet(&plain, 30).await;
    let counters = cycle(&plain, &mut syncs).await;
    assert_eq!(
        (count(&counters, "secrets.get"), count(&counters, "secrets.list")),
        (30, 0),
        "{counters:?}"
    );
}

#[tokio::test]
async fn one_changed_object_costs_the_listing_and_one_mount() {
    let env = Env::start().await;
    let mut syncs = fleet(&env, 30).await;
    env.emulator.store().set_secret(VAULT, "s7", "rotated");
    let counters = cycle(&env, &mut syncs).await;
    assert_eq!(count(&counters, "secrets.list"), 2, "{counters:?}");
    assert_eq!(
        count(&counters, "secrets.get"),
        1,
        "only the changed object: {counters:?}"
    );
    assert_eq!(env.secret_data("ss7")["key"], "rotated");
    assert_eq!(env.secret_data("ss6")["key"], "value-6");
    // The next cycle is quiet again.
    let counters = cycle(&env, &mut syncs).await;
    assert_eq!(
        (count(&counters, "secrets.list"), count(&counters, "secrets.get")),
        (2, 0),
        "{counters:?}"
    );
}

#[tokio::test]
async fn a_new_version_with_history_lists_the_versions_and_reads_each_one() {
    let env = Env::start().await;
    env.emulator.store().set_secret(VAULT, "db", "v1");
    env.emulator.store().set_secret(VAULT, "db", "v2");
    env.put_class(
        "kv",
        "azure",
        &["objectName: db\nobjectType: secret\nobjectVersionHistory: 2"],
    );
    let mut sync = env.sync("db", "kv", "Opaque", &[("db/0", "current"), ("db/1", "previous")]);
    env.reconcile(&mut sync).await;
    let mut syncs = vec![sync];
    let counters = cycle(&env, &mut syncs).await;
    assert_eq!(
        (count(&counters, "secrets.list"), count(&counters, "secrets.get")),
        (1, 0),
        "quiet: {counters:?}"
    );
    env.emulator.store().set_secret(VAULT, "db", "v3");
    let counters = cycle(&env, &mut syncs).await;
    // The listing shows the change; the Mount lists the versions and reads the two it returns (the
    // provider keeps no value between Mounts, so the unchanged previous version is read again).
    assert_eq!(
        (
            count(&counters, "secrets.list"),
            count(&counters, "secrets.list_versions"),
            count(&counters, "secrets.get")
        ),
        (1, 1, 2),
        "{counters:?}"
    );
    assert_eq!(env.secret_data("db")["current"], "v3");
    assert_eq!(env.secret_data("db")["previous"], "v2");
}

#[tokio::test]
async fn a_disabled_or_deleted_object_is_mounted_and_its_failure_reported() {
    let env = Env::start().await;
    let mut syncs = fleet(&env, 5).await;
    env.emulator
        .store()
        .set_enabled(VAULT, ObjectKind::Secret, "s1", "", false);
    env.emulator.store().delete(VAULT, ObjectKind::Secret, "s2");
    let counters = cycle(&env, &mut syncs).await;
    assert_eq!(count(&counters, "secrets.list"), 1, "{counters:?}");
    assert_eq!(
        count(&counters, "secrets.get"),
        2,
        "one Mount each for the disabled and the deleted object: {counters:?}"
    );
    assert_eq!(condition(&syncs[1], READY).0, "False");
    assert!(
        condition(&syncs[1], READY).2.contains("disabled"),
        "{:?}",
        syncs[1].status
    );
    assert_eq!(condition(&syncs[2], READY).0, "False");
    assert!(
        condition(&syncs[2], READY).2.contains("404") || condition(&syncs[2], READY).2.contains("not found"),
        "{:?}",
        syncs[2].status
    );
    for i in [0, 3, 4] {
        assert_eq!(condition(&syncs[i], READY).0, "True");
    }
    // The Secrets of the failing SecretSyncs keep their last value (offline access).
    assert_eq!(env.secret_data("ss1")["key"], "value-1");
    assert_eq!(env.secret_data("ss2")["key"], "value-2");
}

#[tokio::test]
async fn a_large_vault_and_few_objects_read_each_object_instead_of_listing() {
    let env = Env::start().await;
    // 80 secrets in the vault (4 pages), one SecretSync reading one of them.
    for i in 0..80 {
        env.emulator.store().set_secret(VAULT, &format!("x{i}"), "v");
    }
    env.put_class("kv", "azure", &[&secret("x3")]);
    let mut sync = env.sync("one", "kv", "Opaque", &[("v", "key")]);
    env.reconcile(&mut sync).await;
    let mut syncs = vec![sync];
    // The first check listed (the vault's size was unknown); now one GET is cheaper than four pages.
    let counters = cycle(&env, &mut syncs).await;
    assert_eq!(
        (count(&counters, "secrets.list"), count(&counters, "secrets.get")),
        (0, 1),
        "{counters:?}"
    );
    env.emulator.store().set_secret(VAULT, "x3", "rotated");
    let counters = cycle(&env, &mut syncs).await;
    assert_eq!(env.secret_data("one")["key"], "rotated");
    assert_eq!(
        (count(&counters, "secrets.list"), count(&counters, "secrets.get")),
        (0, 2),
        "the fingerprint's GET, then the Mount's: {counters:?}"
    );
}

#[tokio::test]
async fn an_edited_secret_is_noticed_by_a_quiet_check_and_repaired() {
    let env = Env::start().await;
    let mut syncs = fleet(&env, 1).await;
    env.cluster.edit_secret_data(NS, "ss0", "key", b"tampered");
    let counters = cycle(&env, &mut syncs).await;
    assert_eq!(env.secret_data("ss0")["key"], "value-0", "repaired");
    assert_eq!(count(&counters, "secrets.get"), 1, "a full sync: {counters:?}");
}

#[tokio::test]
async fn a_provider_without_change_detection_is_mounted_on_every_check() {
    let env = Env::start_with_provider_args(default_config(), &["--change-detection=false"]).await;
    let mut syncs = fleet(&env, 3).await;
    let counters = cycle(&env, &mut syncs).await;
    assert_eq!(
        (count(&counters, "secrets.get"), count(&counters, "secrets.list")),
        (3, 0),
        "{counters:?}"
    );
    for sync in &syncs {
        assert_eq!(condition(sync, READY).0, "True");
    }
}

// --- Per-SecretSync refresh interval (the `sse-rs.io/refresh-interval` annotation) ---

fn annotate(sync: &mut SecretSync, value: &str) {
    sync.metadata
        .annotations
        .get_or_insert_with(Default::default)
        .insert(sse_api::consts::REFRESH_INTERVAL_ANNOTATION.into(), value.into());
}

fn check_gap(sync: &SecretSync) -> i64 {
    let status = sync.status.as_ref().unwrap();
    status.next_check_time.as_ref().unwrap().0.as_second()
        - status.last_checked_time.as_ref().unwrap().0.as_second()
}

#[tokio::test]
async fn the_refresh_interval_annotation_sets_the_interval_within_the_administrators_bounds() {
    let env = Env::start().await;
    env.emulator.store().set_secret(VAULT, "s", "v");
    env.put_class("kv", "azure", &[&secret("s")]);
    for (asked, effective, seconds) in [
        ("90s", "1m30s", 90),
        ("5s", "30s", 30),          // raised to --min-refresh-interval (30s)
        ("48h", "24h0m0s", 86_400), // lowered to --max-refresh-interval (24h)
    ] {
        let name = format!("every-{asked}");
        let mut sync = env.sync(&name, "kv", "Opaque", &[("v", "key")]);
        annotate(&mut sync, asked);
        env.reconcile(&mut sync).await;
        let status = sync.status.as_ref().unwrap();
        assert_eq!(status.refresh_interval.as_deref(), Some(effective), "{asked}");
        let gap = check_gap(&sync);
        assert!(
            gap > 0 && gap <= seconds,
            "{asked}: next check {gap} s after this one"
        );
    }
    // Without the annotation, rotationPollIntervalInSeconds (1h here).
    let mut plain = env.sync("plain", "kv", "Opaque", &[("v", "key")]);
    env.reconcile(&mut plain).await;
    assert_eq!(
        plain.status.as_ref().unwrap().refresh_interval.as_deref(),
        Some("1h0m0s")
    );
}

#[tokio::test]
async fn an_unreadable_refresh_interval_is_reported_and_nothing_is_written() {
    let env = Env::start().await;
    env.emulator.store().set_secret(VAULT, "s", "v");
    env.put_class("kv", "azure", &[&secret("s")]);
    let mut sync = env.sync("bad", "kv", "Opaque", &[("v", "key")]);
    annotate(&mut sync, "soon");
    env.reconcile(&mut sync).await;
    let (ready, reason, message) = condition(&sync, READY);
    assert_eq!(
        (ready.as_str(), reason.as_str()),
        ("False", "UserInputValidationFailed")
    );
    assert!(
        message.contains("sse-rs.io/refresh-interval") && message.contains("\"soon\""),
        "{message}"
    );
    assert!(env.cluster.secret(NS, "bad").is_none(), "nothing written");
}

#[tokio::test]
async fn editing_the_annotation_checks_at_once_and_shows_the_new_interval() {
    let env = Env::start().await;
    env.emulator.store().set_secret(VAULT, "s", "v");
    env.put_class("kv", "azure", &[&secret("s")]);
    let mut sync = env.sync("edit", "kv", "Opaque", &[("v", "key")]);
    env.reconcile(&mut sync).await;
    // An annotation edit bumps no generation; the reconcile it triggers still checks now.
    annotate(&mut sync, "2m");
    env.emulator.reset_counters();
    let report = env.reconcile(&mut sync).await;
    assert!(report.synced() && report.status_written, "{report:?}");
    assert_eq!(
        sync.status.as_ref().unwrap().refresh_interval.as_deref(),
        Some("2m0s")
    );
    assert!(check_gap(&sync) <= 120);
    // And then it is not due again before that.
    assert!(!env.reconcile(&mut sync).await.synced());
}

#[tokio::test]
async fn a_quiet_check_refreshes_stale_check_times_in_status() {
    let env = Env::start_with(Config {
        status_heartbeat: Some(std::time::Duration::ZERO),
        ..default_config()
    })
    .await;
    let mut syncs = fleet(&env, 1).await;
    let before = syncs[0].status.clone().unwrap();
    env.cluster.clear_calls();
    let report = env.poll(&mut syncs[0]).await;
    assert!(report.status_written, "the heartbeat wrote the check times");
    let after = syncs[0].status.clone().unwrap();
    assert_eq!(after.conditions, before.conditions, "nothing else moved");
    assert_eq!(after.sync_hash, before.sync_hash);
    assert!(after.next_check_time >= before.next_check_time);
}

// --- A budget per vault ---

/// 60 SecretSyncs created at once against a vault that throttles beyond 30 requests a second: paced to
/// 10 a second with a burst of 10 (`--vault-requests-per-10s=100`: at most about 21 in any second), the
/// provider never makes it throttle, and every one is
/// Ready after its first sync; unpaced, the same burst is throttled.
#[tokio::test]
async fn requests_to_a_vault_are_paced_to_its_budget() {
    async fn burst(env: &Env) -> (u64, usize) {
        env.emulator.faults().set_throttle(keyvault_emulator::Throttle {
            limit: 30,
            window: std::time::Duration::from_secs(1),
            retry_after: Some(std::time::Duration::from_secs(1)),
        });
        for i in 0..60 {
            env.emulator.store().set_secret(VAULT, &format!("p{i}"), "v");
            env.put_class(&format!("kv{i}"), "azure", &[&secret(&format!("p{i}"))]);
        }
        let mut syncs: Vec<SecretSync> = (0..60)
            .map(|i| env.sync(&format!("p{i}"), &format!("kv{i}"), "Opaque", &[("v", "key")]))
            .collect();
        env.emulator.reset_counters();
        futures::future::join_all(syncs.iter_mut().map(|s| env.reconcile(s))).await;
        let ready = syncs.iter().filter(|s| condition(s, READY).0 == "True").count();
        (count(&env.emulator.counters(), "throttled"), ready)
    }
    let paced = Env::start_with_provider_args(default_config(), &["--vault-requests-per-10s=100"]).await;
    assert_eq!(burst(&paced).await, (0, 60), "paced: no 429, all Ready");
    let unpaced = Env::start_with_provider_args(default_config(), &["--vault-requests-per-10s=0"]).await;
    let (throttled, _) = burst(&unpaced).await;
    assert!(throttled > 0, "the same burst unpaced is throttled");
}

/// An identity allowed to read objects but not to list them (a custom role without `list`): change
/// detection reads each object instead of failing a listing at every check.
#[tokio::test]
async fn a_refused_listing_falls_back_to_reading_each_object() {
    let env = Env::start().await;
    env.emulator.store().set_secret(VAULT, "s0", "v");
    env.put_class("kv0", "azure", &[&secret("s0")]);
    let mut sync = env.sync("ss0", "kv0", "Opaque", &[("v", "key")]);
    // The first request of the first check is the listing: refused.
    env.emulator.faults().fail_next(1, 403);
    env.reconcile(&mut sync).await;
    assert_eq!(condition(&sync, READY).0, "True", "{:?}", sync.status);
    let mut syncs = vec![sync];
    let counters = cycle(&env, &mut syncs).await;
    assert_eq!(
        (count(&counters, "secrets.list"), count(&counters, "secrets.get")),
        (0, 1),
        "one GET for the fingerprint, no listing, no Mount: {counters:?}"
    );
}

/// A full sync whose status write failed is not followed by a quiet check that would leave the old
/// `syncHash` (and the missed Update condition) in status: the retry syncs and records it.
#[tokio::test]
async fn a_lost_status_write_is_not_hidden_by_a_quiet_check() {
    let env = Env::start().await;
    let mut syncs = fleet(&env, 1).await;
    let before = syncs[0].status.clone().unwrap().sync_hash;
    env.emulator.store().set_secret(VAULT, "s0", "rotated");
    env.cluster.refuse(
        manager::fake::Request::WriteStatus,
        Some(manager::cluster::ClusterError::new(
            500,
            "InternalError",
            "etcd is busy",
        )),
    );
    env.poll(&mut syncs[0]).await;
    assert_eq!(env.secret_data("ss0")["key"], "rotated", "the Secret was written");
    assert_eq!(
        syncs[0].status.clone().unwrap().sync_hash,
        before,
        "its status was not"
    );
    env.cluster.refuse(manager::fake::Request::WriteStatus, None);
    env.poll(&mut syncs[0]).await;
    let after = syncs[0].status.clone().unwrap();
    assert_ne!(after.sync_hash, before, "the retry records the new hash");
    assert_eq!(
        condition(&syncs[0], READY).1,
        "UpdateValueChangeOrForceUpdateSucceeded"
    );
}

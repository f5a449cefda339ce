//! Tier 2: reload on change. The manager's reconciler with the real provider over mTLS and the Key Vault
//! emulator; the Kubernetes API is the in-memory double, which records every restart (harness in
//! `tests/src/lib.rs`): only a new value restarts, once per workload, batched per namespace.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use manager::context::Config;
use sse_tests::*;

fn workload(name: &str, secrets: &[&str]) -> manager::workload::Workload {
    manager::workload::Workload {
        kind: manager::workload::Kind::Deployment,
        namespace: NS.into(),
        name: name.into(),
        uid: format!("{name}-uid"),
        secrets: secrets.iter().map(|s| (*s).to_string()).collect(),
        restarted_at: None,
    }
}

fn restarts(env: &Env) -> Vec<(String, String)> {
    env.cluster
        .calls()
        .into_iter()
        .filter_map(|c| match c {
            manager::fake::Call::RestartWorkload(w, by) => Some((w, by)),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn a_new_value_restarts_the_workloads_that_use_it_once_and_nothing_else_does() {
    let env = Env::start_with(Config {
        reload_min_interval: Some(std::time::Duration::from_secs(3)),
        ..default_config()
    })
    .await;
    env.cluster.put_workload(workload("web", &["db"]));
    env.cluster.put_workload(workload("other", &["cache"]));
    env.emulator.store().set_secret(VAULT, "pw", "one");
    env.put_class("kv", "azure", &["objectName: pw\nobjectType: secret"]);
    let mut sync = env.sync("db", "kv", "Opaque", &[("pw", "key")]);
    env.reconcile(&mut sync).await;
    env.poll(&mut sync).await;
    assert_eq!(
        restarts(&env),
        [],
        "neither the first create nor a quiet check restarts"
    );

    // The vault is down: nothing is written, nothing restarts.
    env.emulator.faults().set_outage(true);
    env.poll(&mut sync).await;
    env.emulator.faults().set_outage(false);
    assert_eq!(restarts(&env), []);

    env.emulator.store().set_secret(VAULT, "pw", "two");
    env.poll(&mut sync).await;
    assert_eq!(env.secret_data("db")["key"], "two");
    let web = format!("{NS}/Deployment/web");
    restarted(&env, 1).await; // the restart runs beside the reconcile, off its work slot
    assert_eq!(
        restarts(&env),
        [(web.clone(), "db".to_string())],
        "only the workload using Secret db"
    );
    assert!(
        env.cluster
            .calls()
            .contains(&manager::fake::Call::Event(web.clone(), "SecretChanged".into())),
        "an Event on the workload"
    );

    // Two more changes inside the 3 s window: one restart, at its end.
    for value in ["three", "four"] {
        env.emulator.store().set_secret(VAULT, "pw", value);
        env.poll(&mut sync).await;
    }
    assert_eq!(restarts(&env).len(), 1, "rate-limited: not at once");
    restarted(&env, 2).await;
    assert_eq!(
        restarts(&env).len(),
        2,
        "the deferred restart happened when the window ended"
    );
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    assert_eq!(restarts(&env).len(), 2, "and only one");
}

/// Wait (at most 10 s) until `n` restarts were made.
async fn restarted(env: &Env, n: usize) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while restarts(env).len() < n && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn two_secrets_of_one_workload_changing_at_once_restart_it_once() {
    let env = Env::start_with(Config {
        reload_min_interval: Some(std::time::Duration::from_secs(60)),
        ..default_config()
    })
    .await;
    env.cluster.put_workload(workload("web", &["db", "api"]));
    env.emulator.store().set_secret(VAULT, "pw", "one");
    env.put_class("kv", "azure", &["objectName: pw\nobjectType: secret"]);
    let mut db = env.sync("db", "kv", "Opaque", &[("pw", "key")]);
    let mut api = env.sync("api", "kv", "Opaque", &[("pw", "key")]);
    env.reconcile(&mut db).await;
    env.reconcile(&mut api).await;
    env.emulator.store().set_secret(VAULT, "pw", "two");
    let (a, b) = tokio::join!(env.poll(&mut db), env.poll(&mut api));
    assert!(a.synced() && b.synced());
    settled(&env).await;
    assert_eq!(
        restarts(&env).len(),
        1,
        "one restart for both changes, the other change waits for the window or rode along: {:?}",
        restarts(&env)
    );
}

/// Wait until the reloader has no batch queued or running.
async fn settled(env: &Env) {
    env.ctx.reloads.as_ref().unwrap().settled().await;
}

/// A shared class (what an AKVSync generates): rotating one of its objects gives only the Secret holding
/// it a new value, and only its workloads restart; an edit of the class that changes no value moves every
/// SecretSync's hash and restarts nothing.
#[tokio::test]
async fn only_a_new_value_restarts_not_a_moved_hash() {
    let env = Env::start_with(Config {
        reload_min_interval: Some(std::time::Duration::ZERO),
        ..default_config()
    })
    .await;
    env.cluster.put_workload(workload("uses-a", &["sa"]));
    env.cluster.put_workload(workload("uses-b", &["sb"]));
    env.emulator.store().set_secret(VAULT, "a", "a1");
    env.emulator.store().set_secret(VAULT, "b", "b1");
    let objects = [
        "objectName: a\nobjectType: secret",
        "objectName: b\nobjectType: secret",
    ];
    env.put_class("shared", "azure", &objects);
    let mut sa = env.sync("sa", "shared", "Opaque", &[("a", "value")]);
    let mut sb = env.sync("sb", "shared", "Opaque", &[("b", "value")]);
    env.reconcile(&mut sa).await;
    env.reconcile(&mut sb).await;
    let hash_b = sb.status.clone().unwrap().sync_hash;

    env.emulator.store().set_secret(VAULT, "a", "a2");
    env.poll(&mut sa).await;
    env.poll(&mut sb).await;
    settled(&env).await;
    assert_eq!(
        sb.status.clone().unwrap().sync_hash,
        hash_b,
        "sb mounts only its object (crate::scope): its hash stays"
    );
    assert_eq!(env.secret_data("sb")["value"], "b1");
    assert_eq!(
        restarts(&env),
        [(format!("{NS}/Deployment/uses-a"), "sa".to_string())],
        "only the workload whose Secret holds the rotated object"
    );

    // A parameter of the class that changes no value: a new generation, every hash moves, nothing restarts.
    env.cluster.clear_calls();
    let mut spc = env.put_class("shared", "azure", &objects);
    spc.spec
        .parameters
        .get_or_insert_with(Default::default)
        .insert("objectsNote".into(), "an unrelated parameter".into());
    env.cluster.put_class(spc);
    env.poll(&mut sa).await;
    env.poll(&mut sb).await;
    settled(&env).await;
    assert_eq!(restarts(&env), [], "no value changed");
}

/// Many Secrets of one namespace changing together (an AKVSync rotation) are one batch: each workload is
/// restarted once, naming every SecretSync it restarted for.
#[tokio::test]
async fn a_burst_of_changes_in_one_namespace_restarts_each_workload_once() {
    let env = Env::start_with(Config {
        reload_min_interval: Some(std::time::Duration::from_secs(60)),
        ..default_config()
    })
    .await;
    let names: Vec<String> = (0..20).map(|i| format!("s{i}")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    env.cluster.put_workload(workload("uses-all", &refs));
    env.emulator.store().set_secret(VAULT, "pw", "one");
    env.put_class("kv", "azure", &["objectName: pw\nobjectType: secret"]);
    let mut syncs: Vec<_> = names
        .iter()
        .map(|n| env.sync(n, "kv", "Opaque", &[("pw", "key")]))
        .collect();
    for sync in &mut syncs {
        env.reconcile(sync).await;
    }
    env.emulator.store().set_secret(VAULT, "pw", "two");
    futures::future::join_all(syncs.iter_mut().map(|s| env.poll(s))).await;
    settled(&env).await;
    let made = restarts(&env);
    assert_eq!(made.len(), 1, "{made:?}");
    assert!(made[0].1.starts_with('s'), "{made:?}");
    assert!(env.ctx.reloads.as_ref().unwrap().remembered() <= 1);
}

#[tokio::test]
async fn reload_is_off_unless_asked_for() {
    let env = Env::start().await;
    env.cluster.put_workload(workload("web", &["db"]));
    env.emulator.store().set_secret(VAULT, "pw", "one");
    env.put_class("kv", "azure", &["objectName: pw\nobjectType: secret"]);
    let mut sync = env.sync("db", "kv", "Opaque", &[("pw", "key")]);
    env.reconcile(&mut sync).await;
    env.emulator.store().set_secret(VAULT, "pw", "two");
    env.poll(&mut sync).await;
    assert_eq!(env.secret_data("db")["key"], "two");
    assert_eq!(restarts(&env), []);
}

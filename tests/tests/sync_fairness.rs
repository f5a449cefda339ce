//! Tier 2: one tenant cannot spend another's share. The manager's reconciler with the real provider over
//! mTLS and the Key Vault emulator; the Kubernetes API is the in-memory double (harness in
//! `tests/src/lib.rs`).
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use sse_api::conditions::READY;
use sse_tests::*;

fn secret(name: &str) -> String {
    format!("objectName: {name}\nobjectType: secret")
}

/// SecretProviderClasses naming the victim's vault with client IDs Entra does not know (another
/// namespace's user can write as many as they like) never obtain a token, so they spend none of the
/// vault's request budget: the victim's next check is paced by its own use only. With the budget kept
/// per vault alone and spent before the token, 30 such classes spent 30 s of a 1-per-second budget and the
/// victim's check was refused ("budget spent").
#[tokio::test]
async fn classes_with_bogus_identities_cannot_spend_a_vaults_budget() {
    let env = Env::start_with_provider_args(default_config(), &["--vault-requests-per-10s=10"]).await;
    env.emulator.store().set_secret(VAULT, "pw", "one");
    env.put_class("victim", "azure", &[&secret("pw")]);
    let mut victim = env.sync("victim", "victim", "Opaque", &[("pw", "key")]);
    env.reconcile(&mut victim).await;
    assert_eq!(condition(&victim, READY).0, "True");

    // Alone: the victim's check of a rotated value, paced by its own budget.
    env.emulator.store().set_secret(VAULT, "pw", "alone");
    let started = std::time::Instant::now();
    env.poll(&mut victim).await;
    let alone = started.elapsed();
    assert_eq!(env.secret_data("victim")["key"], "alone");

    let mut noisy: Vec<_> = (0..30)
        .map(|i| {
            env.put_class_for(
                &format!("bogus{i}"),
                "azure",
                VAULT,
                &format!("bogus-client-{i}"),
                &[&secret("pw")],
            );
            env.sync(
                &format!("noisy{i}"),
                &format!("bogus{i}"),
                "Opaque",
                &[("pw", "key")],
            )
        })
        .collect();
    env.emulator.store().set_secret(VAULT, "pw", "two");

    // The burst is under way (one of its checks has already come back, so every request it can have in
    // flight has gone to the provider) when the victim's next check starts.
    use futures::StreamExt as _;
    let mut burst: futures::stream::FuturesUnordered<_> =
        noisy.iter_mut().map(|s| env.reconcile(s)).collect();
    burst.next().await;
    let victim_check = async {
        let started = std::time::Instant::now();
        env.poll(&mut victim).await;
        started.elapsed()
    };
    let (took, _) = tokio::join!(victim_check, burst.collect::<Vec<_>>());
    println!(
        "figure: the victim's check of a rotated value: alone {:.2} s; during a burst of 30 bogus identities on its vault {:.2} s",
        alone.as_secs_f64(),
        took.as_secs_f64()
    );
    let (status, reason, message) = condition(&victim, READY);
    assert_eq!(status, "True", "{reason}: {message}");
    assert_eq!(env.secret_data("victim")["key"], "two");
    assert!(took < std::time::Duration::from_secs(5), "{took:?}");
    assert!(
        noisy.iter().all(|s| condition(s, READY).0 == "False"),
        "no bogus identity syncs"
    );
}

/// A class shared by many SecretSyncs, each mapping one of its objects (what an AKVSync generates): each
/// Mount asks for the objects its SecretSync maps, not the whole class, so N SecretSyncs cost N reads and
/// not N²; and one object missing from the vault fails only the SecretSync that maps it.
#[tokio::test]
async fn a_shared_class_costs_what_each_secret_sync_maps() {
    let n = 12;
    let env = Env::start_with(manager::context::Config {
        change_detection: false,
        ..default_config()
    })
    .await;
    let objects: Vec<String> = (0..n).map(|i| secret(&format!("o{i}"))).collect();
    let refs: Vec<&str> = objects.iter().map(String::as_str).collect();
    env.put_class("shared", "azure", &refs);
    for i in 1..n {
        env.emulator.store().set_secret(VAULT, &format!("o{i}"), "v");
    }
    // o0 is missing from the vault.
    let mut syncs: Vec<_> = (0..n)
        .map(|i| env.sync(&format!("s{i}"), "shared", "Opaque", &[(&format!("o{i}"), "key")]))
        .collect();
    env.emulator.reset_counters();
    for sync in &mut syncs {
        env.reconcile(sync).await;
    }
    let gets = env.emulator.counters().get("secrets.get").copied().unwrap_or(0);
    println!("figure: {n} SecretSyncs on one class of {n} objects: {gets} secret reads");
    assert!(
        gets <= n as u64 + 1,
        "one read per SecretSync's object, not the class's: {gets}"
    );
    assert_eq!(
        condition(&syncs[0], READY).0,
        "False",
        "the one mapping the missing object fails"
    );
    assert!(
        syncs[1..].iter().all(|s| condition(s, READY).0 == "True"),
        "the others are not held by it"
    );
}

/// Work slots go to namespaces in turn: a namespace whose 40 SecretSyncs each hold a slot for the whole
/// Mount deadline (a vault that accepts connections and never answers) delays another namespace's first
/// sync by about one slot's time, not by its whole queue (20 slot-times with 2 slots, first come first
/// served). Side by side: the victim's first sync alone, then during the noisy namespace's burst.
#[tokio::test]
async fn a_namespace_full_of_slow_syncs_delays_another_by_one_slot() {
    const NOISY: &str = "noisy";
    let slot_time = std::time::Duration::from_secs(2);
    let env = Env::start_with_provider_args(
        manager::context::Config {
            workers: 2,
            change_detection: false,
            ..default_config()
        },
        &["--mount-timeout=2s"],
    )
    .await;
    env.emulator.store().set_secret(VAULT, "pw", "v");
    env.put_class("victim", "azure", &[&secret("pw")]);

    // A vault that accepts TCP connections and never answers: every Mount takes the provider's deadline.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = silent.local_addr().unwrap().port();
    let held = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let keep = held.clone();
    let accepting = tokio::spawn(async move {
        while let Ok((stream, _)) = silent.accept().await {
            keep.lock().unwrap().push(stream);
        }
    });
    let env_file = env.dir.path().join("silent.json");
    let cloud = env
        .emulator
        .cloud_env_json()
        .replace(&env.emulator.dns_suffix(), &format!("vault.localhost:{port}"));
    std::fs::write(&env_file, cloud).unwrap();
    let mut class = env.put_class("slow", "azure", &[&secret("pw")]);
    class.metadata.namespace = Some(NOISY.into());
    class
        .spec
        .parameters
        .get_or_insert_with(Default::default)
        .insert("cloudEnvFileName".into(), env_file.display().to_string());
    env.cluster.put_class(class);
    env.cluster.add_service_account(NOISY, SA);
    env.emulator.entra().add_federated_credential(
        TENANT,
        CLIENT_ID,
        keyvault_emulator::FederatedCredential {
            issuer: ISSUER.into(),
            subject: format!("system:serviceaccount:{NOISY}:{SA}"),
            audience: AUDIENCE.into(),
        },
    );

    let env = &env;
    let first_sync = |name: &str| {
        let sync = env.sync(name, "victim", "Opaque", &[("pw", "key")]);
        async move {
            let mut sync = sync;
            let started = std::time::Instant::now();
            env.reconcile(&mut sync).await;
            assert_eq!(condition(&sync, READY).0, "True");
            started.elapsed()
        }
    };
    let alone = first_sync("alone").await;

    let mut noisy: Vec<_> = (0..40)
        .map(|i| {
            let mut s = env.sync(&format!("slow{i}"), "slow", "Opaque", &[("pw", "key")]);
            s.metadata.namespace = Some(NOISY.into());
            s
        })
        .collect();
    use futures::StreamExt as _;
    let mut burst: futures::stream::FuturesUnordered<_> = noisy
        .iter_mut()
        .map(|s| manager::reconcile::reconcile(s, &env.ctx))
        .collect();
    // The burst holds both slots and its share of waiters (the rest is put off) before the victim comes.
    let queued = async {
        while env.ctx.slots().waiting(NOISY) < 2 {
            tokio::select! {
                _ = burst.next() => {}
                () = tokio::task::yield_now() => {}
            }
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(30), queued)
        .await
        .expect("the noisy namespace queued for the slots");
    let (during, _) = tokio::join!(first_sync("during"), burst.collect::<Vec<_>>());
    println!(
        "figure: a namespace's first sync with 2 work slots: alone {:.2} s; while another namespace's 40 SecretSyncs each hold a slot for {:.0} s, {:.2} s",
        alone.as_secs_f64(),
        slot_time.as_secs_f64(),
        during.as_secs_f64()
    );
    assert!(
        during < slot_time * 3,
        "{during:?}: more than about one slot's time"
    );
    accepting.abort();
}

use std::sync::atomic::{AtomicUsize, Ordering};

use kube::runtime::watcher::Event;
use sse_api::consts;

use super::*;

fn spc(name: &str) -> SecretProviderClass {
    let mut spc = SecretProviderClass::new(name, sse_api::SecretProviderClassSpec::default());
    spc.metadata.namespace = Some("ns".into());
    spc
}

/// Why readiness is never awaited on a kube-runtime store by more than one task: with kube-runtime 4.2,
/// of several tasks waiting in `Store::wait_until_ready` only the last is woken when the store becomes
/// ready. This is the start-up hang seen on a real API server (SecretSyncs created while the manager
/// started were never reconciled). If this test fails, kube-runtime fixed it.
#[tokio::test(flavor = "current_thread")]
async fn kube_store_readiness_wakes_only_the_last_of_concurrent_waiters() {
    let (store, mut writer) = reflector::store::<SecretProviderClass>();
    let woken = Arc::new(AtomicUsize::new(0));
    for _ in 0..3 {
        let (store, woken) = (store.clone(), woken.clone());
        tokio::spawn(async move {
            if store.wait_until_ready().await.is_ok() {
                woken.fetch_add(1, Ordering::SeqCst);
            }
        });
    }
    // Let every waiter register.
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    writer.apply_watcher_event(&Event::Init);
    writer.apply_watcher_event(&Event::InitDone);
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    assert_eq!(
        woken.load(Ordering::SeqCst),
        1,
        "kube-runtime's Store::wait_until_ready woke more than the last waiter: the upstream bug is fixed"
    );
}

/// What the controller waits on instead: the driver's `watch` flag wakes every waiter, and the class
/// cache already holds the list when it flips.
#[tokio::test(flavor = "current_thread")]
async fn driver_readiness_wakes_every_waiter_after_the_cache_is_filled() {
    let classes = Arc::new(Classes::default());
    let cache = classes.clone();
    let (tx, rx) = futures::channel::mpsc::unbounded();
    let events = rx
        .map(Ok::<_, watcher::Error>)
        .inspect_ok(move |event| cache.apply(event));
    let changed = Arc::new(AtomicUsize::new(0));
    let seen = changed.clone();
    let listed = drive(
        "test",
        events,
        CancellationToken::new(),
        move |_: &SecretProviderClass, change| {
            assert_eq!(change, Change::Listed);
            seen.fetch_add(1, Ordering::SeqCst);
        },
    );
    let woken = Arc::new(AtomicUsize::new(0));
    let mut waiters = Vec::new();
    for _ in 0..3 {
        let (mut listed, woken, classes) = (listed.clone(), woken.clone(), classes.clone());
        waiters.push(tokio::spawn(async move {
            if listed.wait_for(|v| *v).await.is_ok() {
                assert!(classes.get("ns", "a").unwrap().is_some());
                woken.fetch_add(1, Ordering::SeqCst);
            }
        }));
    }
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    tx.unbounded_send(Event::Init).unwrap();
    tx.unbounded_send(Event::InitApply(spc("a"))).unwrap();
    tx.unbounded_send(Event::InitDone).unwrap();
    for waiter in waiters {
        tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .expect("every waiter is woken")
            .unwrap();
    }
    assert_eq!(woken.load(Ordering::SeqCst), 3);
    assert_eq!(changed.load(Ordering::SeqCst), 1);
}

#[test]
fn the_secretsync_cache_keeps_only_what_a_reconcile_reads() {
    let mut s = SecretSync::new("a", sse_api::SecretSyncSpec::default());
    s.metadata.namespace = Some("ns".into());
    s.metadata.uid = Some("uid".into());
    s.metadata.generation = Some(2);
    s.metadata.resource_version = Some("7".into());
    s.metadata.managed_fields = Some(vec![Default::default()]);
    s.metadata.labels = Some([("team".to_string(), "x".to_string())].into());
    s.metadata.annotations = Some(
        [
            (
                "kubectl.kubernetes.io/last-applied-configuration".to_string(),
                "{\"big\":true}".to_string(),
            ),
            ("team".to_string(), "x".to_string()),
            (consts::REFRESH_INTERVAL_ANNOTATION.to_string(), "5m".to_string()),
        ]
        .into(),
    );
    slim(&mut s);
    let t = trigger(&s);
    assert!(t.extra.resource_version.is_none() && t.extra.uid.is_none());
    assert_eq!((t.name.as_str(), t.namespace.as_deref()), ("a", Some("ns")));
    assert!(s.metadata.managed_fields.is_none() && s.metadata.labels.is_none());
    assert!(s.metadata.resource_version.is_none());
    assert_eq!(
        s.metadata.annotations.unwrap().keys().collect::<Vec<_>>(),
        vec![consts::REFRESH_INTERVAL_ANNOTATION]
    );
    assert_eq!(
        (s.metadata.name.as_deref(), s.metadata.namespace.as_deref()),
        (Some("a"), Some("ns"))
    );
    assert_eq!(
        (s.metadata.uid.as_deref(), s.metadata.generation),
        (Some("uid"), Some(2))
    );
}

/// A class event triggers the SecretSyncs of its namespace that name it now, and only those.
#[test]
fn a_class_triggers_its_users() {
    let (store, mut writer) = reflector::store::<SecretSync>();
    let users = Users::default();
    let mut put = |ns: &str, name: &str, class: &str| {
        let mut s = SecretSync::new(name, sse_api::SecretSyncSpec::default());
        s.metadata.namespace = Some(ns.into());
        s.spec.secret_provider_class_name = class.into();
        writer.apply_watcher_event(&Event::Apply(s.clone()));
        users.seen(&s);
        s
    };
    put("ns", "a", "spc");
    put("ns", "b", "other");
    put("elsewhere", "c", "spc");
    put("ns", "moved", "spc");
    put("ns", "moved", "other"); // edited to name another class
    let deleted = put("ns", "deleted", "spc");
    writer.apply_watcher_event(&Event::Delete(deleted.clone()));
    users.gone(&deleted);
    let fired = |class: &str| {
        let (tx, mut rx) = futures::channel::mpsc::unbounded();
        users.trigger(&store, &spc(class), &tx);
        drop(tx);
        let mut got = Vec::new();
        while let Ok(r) = rx.try_recv() {
            got.push(format!("{}/{}", r.namespace.unwrap_or_default(), r.name));
        }
        got.sort();
        got
    };
    assert_eq!(fired("spc"), ["ns/a"]);
    assert_eq!(fired("other"), ["ns/b", "ns/moved"]);
    assert_eq!(fired("none"), Vec::<String>::new());
    assert!(
        users.lock().get("ns/spc").is_some_and(|u| u.len() == 1),
        "the moved SecretSync left the list"
    );
}

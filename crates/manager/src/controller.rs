//! The kube-runtime controller: what triggers a reconcile (A7), and the caches it reads.
//!
//! * SecretSync create and generation change (so `forceSynchronization` works at once);
//! * a SecretProviderClass change re-syncs every SecretSync that uses it — whichever of the two the caches
//!   see first (below);
//! * the scheduled check of each SecretSync (its requeue, see [`crate::schedule`]), with a sweep
//!   that re-triggers any SecretSync whose check is overdue, so none can be left behind;
//! * optionally, a change to an owned Secret (metadata-only watch): immediate drift repair.
//!
//! Echoes of our own status writes also wake the controller; [`crate::reconcile`] recognises that nothing
//! is due and goes back to sleep without calling the provider.
//!
//! **The caches are driven by tasks of their own**, not by the controller's trigger streams: kube-runtime
//! polls trigger streams only while a reconcile slot is free, so a cache that reconciles wait on could stop
//! moving exactly when they wait. Each driver reflects an event into its store *before* it turns the event
//! into triggers, and the controller starts only once both stores have listed. That ordering is what makes a
//! SecretProviderClass created just before or after its SecretSync safe: either the SecretSync is already in
//! its store when the class event is mapped (and is triggered), or it is not yet, and its own first
//! reconcile will read a class store that already holds the class.
//!
//! Readiness is signalled by the drivers through `tokio::sync::watch`, which wakes every waiter. The
//! stores' own `wait_until_ready` is awaited by nobody but kube-runtime's runner: it is a
//! `DelayedInit` over a `futures` oneshot, which keeps only the last waiter's waker, so of several
//! concurrent waiters only the last is woken (kube-runtime 4.2; reproduced in this module's tests).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures::TryStreamExt;
use futures::channel::mpsc;
use futures::{Stream, StreamExt};
use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;
use kube::core::PartialObjectMeta;
use kube::runtime::controller::{Action, Config as ControllerConfig, Controller};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, ResourceExt};
use sse_api::{SecretProviderClass, SecretSync, consts};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::classes::Classes;
use crate::context::Context;
use crate::reconcile::{self, key};

async fn run_reconcile(sync: Arc<SecretSync>, ctx: Arc<Context>) -> Result<Action, reconcile::Error> {
    // Every wait inside is bounded: API calls (crate::cluster), the sync (`--reconcile-timeout`), and the
    // fair queue for a work slot (crate::reconcile).
    let report = reconcile::reconcile(&sync, &ctx).await?;
    Ok(Action::requeue(report.requeue_after))
}

fn error_policy(sync: Arc<SecretSync>, error: &reconcile::Error, ctx: Arc<Context>) -> Action {
    Action::requeue(reconcile::retry_after(&sync, error, &ctx))
}

/// A trigger channel: drivers send, the controller receives (unbounded: the scheduler dedups, and a
/// driver must never block on a busy controller).
type Triggers = mpsc::UnboundedSender<ObjectRef<SecretSync>>;

/// Settings of [`run`].
#[derive(Clone, Debug)]
pub struct Settings {
    /// Reconciles running at once.
    pub workers: u16,
    /// Also watch owned Secrets (metadata only).
    pub watch_owned_secrets: bool,
    /// How often overdue SecretSyncs are looked for.
    pub sweep_interval: Duration,
    /// In-flight reconciles get this long after `shutdown` before they are abandoned.
    pub shutdown_timeout: Duration,
}

/// Run the controller until `shutdown`; in-flight reconciles get `settings.shutdown_timeout` to finish.
pub async fn run(
    client: Client,
    ctx: Arc<Context>,
    classes: Arc<Classes>,
    settings: Settings,
    ready: Arc<std::sync::atomic::AtomicBool>,
    shutdown: CancellationToken,
) {
    let (sync_store, sync_writer) = reflector::store::<SecretSync>();
    let (triggers, trigger_rx) = mpsc::unbounded();

    // SecretSyncs: every create/update (incl. the initial list) triggers its own reconcile. Listed in pages
    // (`LIST_PAGE`), not from the watch cache (`any_semantic`), which answers with every object in one body:
    // the memory a list needs stays one page, however large the fleet.
    let syncs = watcher(
        Api::<SecretSync>::all(client.clone()),
        watcher::Config::default().page_size(LIST_PAGE),
    )
    .default_backoff()
    .modify(slim)
    .reflect(sync_writer);
    let users = Arc::new(Users::default());
    let syncs_listed = drive("SecretSync", syncs, shutdown.clone(), {
        let (triggers, users) = (triggers.clone(), users.clone());
        move |sync: &SecretSync, change| {
            if change == Change::Deleted {
                users.gone(sync);
            } else {
                users.seen(sync);
                let _ = triggers.unbounded_send(trigger(sync));
            }
        }
    });

    // SecretProviderClasses: a change (or a deletion) triggers every SecretSync that names the class. The
    // cache keeps what a reconcile reads of each (crate::classes), not the object.
    let class_cache = classes.clone();
    let class_events = watcher(
        Api::<SecretProviderClass>::all(client.clone()),
        watcher::Config::default().page_size(LIST_PAGE),
    )
    .default_backoff()
    .inspect_ok(move |event| class_cache.apply(event));
    let classes_listed = drive("SecretProviderClass", class_events, shutdown.clone(), {
        let (triggers, syncs) = (triggers.clone(), sync_store.clone());
        move |spc: &SecretProviderClass, change| {
            // During the first list nothing reconciles yet, and every SecretSync is triggered by its own
            // first-list event.
            if change != Change::Listed {
                users.trigger(&syncs, spc, &triggers);
            }
        }
    });

    if settings.watch_owned_secrets {
        watch_owned_secrets(&client, &ctx, &triggers, &shutdown);
    }

    // Start reconciling only once both caches hold a full list: an empty cache is not "not found".
    let (mut a, mut b) = (syncs_listed, classes_listed);
    let listed = async { a.wait_for(|v| *v).await.is_ok() && b.wait_for(|v| *v).await.is_ok() };
    tokio::select! {
        () = shutdown.cancelled() => return,
        ok = listed => if !ok { return },
    }
    ready.store(true, std::sync::atomic::Ordering::Release);
    tracing::info!(
        secretsyncs = sync_store.len(),
        secretproviderclasses = classes.len(),
        "caches listed: reconciling"
    );

    spawn_provider_recovery(
        sync_store.clone(),
        ctx.clone(),
        triggers.clone(),
        shutdown.clone(),
    );
    spawn_sweeper(
        sync_store.clone(),
        ctx.clone(),
        triggers,
        settings.sweep_interval,
        shutdown.clone(),
    );

    let controller = Controller::for_stream(
        futures::stream::pending::<Result<SecretSync, watcher::Error>>(),
        sync_store,
    )
    // Three times as many reconciles as work slots: the extra ones wait their namespace's turn for a slot
    // (crate::slots; at most one slot's worth per namespace waits, the rest are put off) or return at once
    // when nothing is due, so neither a slow vault nor a namespace with thousands of SecretSyncs can hold
    // every reconcile.
    .with_config(ControllerConfig::default().concurrency(settings.workers.saturating_mul(3)))
    .reconcile_on(trigger_rx)
    .graceful_shutdown_on(shutdown.clone().cancelled_owned())
    .run(run_reconcile, error_policy, ctx)
    .for_each(|result| async move {
        if let Err(error) = result {
            tracing::debug!(%error, "controller event");
        }
    });
    let limit = settings.shutdown_timeout;
    let bound = async {
        shutdown.cancelled().await;
        tokio::time::sleep(limit).await;
    };
    tokio::select! {
        () = controller => {}
        () = bound => tracing::warn!(?limit, "in-flight reconciles did not finish in time after the stop signal; abandoned"),
    }
}

/// Objects per page of the initial lists. A page is read whole, with every object's `managedFields`, before
/// the caches slim it: a manager started over 10,000 existing SecretSyncs peaked at 68.8 MiB RSS with the
/// watcher's default of 500 and at 59.5 MiB with 100 (deploy/README.md).
const LIST_PAGE: u32 = 100;

/// What happened to an object a driver saw.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Change {
    /// Part of the first list, before the controller starts.
    Listed,
    /// Created or updated (or re-listed after the watch restarted).
    Applied,
    /// Deleted.
    Deleted,
}

/// Poll a reflected watch stream in a task of its own until `shutdown`, calling `on_change` for every
/// object listed, applied or deleted (after the store has it); the returned flag turns true once the first
/// list is complete.
fn drive<K, S>(
    what: &'static str,
    stream: S,
    shutdown: CancellationToken,
    on_change: impl Fn(&K, Change) + Send + 'static,
) -> watch::Receiver<bool>
where
    K: Send + 'static,
    S: Stream<Item = Result<watcher::Event<K>, watcher::Error>> + Send + 'static,
{
    let (listed, rx) = watch::channel(false);
    tokio::spawn(async move {
        let mut stream = std::pin::pin!(stream);
        loop {
            let event = tokio::select! {
                () = shutdown.cancelled() => return,
                event = stream.next() => event,
            };
            match event {
                None => return,
                Some(Ok(watcher::Event::InitDone)) => {
                    listed.send_replace(true);
                }
                Some(Ok(watcher::Event::InitApply(obj))) if !*listed.borrow() => {
                    on_change(&obj, Change::Listed)
                }
                Some(Ok(watcher::Event::Apply(obj) | watcher::Event::InitApply(obj))) => {
                    on_change(&obj, Change::Applied);
                }
                Some(Ok(watcher::Event::Delete(obj))) => on_change(&obj, Change::Deleted),
                Some(Ok(watcher::Event::Init)) => {}
                Some(Err(error)) => tracing::warn!(%error, "{what} watch failed; retrying"),
            }
        }
    });
    rx
}

/// What the SecretSync cache keeps of an object's metadata: what a reconcile reads (name, namespace, uid,
/// generation, deletion, our own annotations). Not `managedFields`, kubectl's last-applied copy, labels,
/// owners, finalizers or the resourceVersion (the watch keeps its own): at 10,000 SecretSyncs every string
/// kept here costs about half a MiB.
fn slim(sync: &mut SecretSync) {
    let meta = &mut sync.metadata;
    meta.managed_fields = None;
    meta.labels = None;
    meta.owner_references = None;
    meta.finalizers = None;
    meta.resource_version = None;
    meta.generate_name = None;
    meta.self_link = None;
    meta.creation_timestamp = None;
    if let Some(annotations) = meta.annotations.as_mut() {
        annotations.retain(|key, _| key.starts_with(consts::ANNOTATION_PREFIX));
    }
    if meta.annotations.as_ref().is_some_and(|a| a.is_empty()) {
        meta.annotations = None;
    }
}

/// The reference a trigger carries: namespace and name only. `ObjectRef::from_obj` would also copy the
/// resourceVersion and uid, which kube-runtime's scheduler then keeps twice per pending SecretSync.
fn trigger(sync: &SecretSync) -> ObjectRef<SecretSync> {
    let reference = ObjectRef::new(&sync.name_any());
    match sync.namespace() {
        Some(namespace) => reference.within(&namespace),
        None => reference,
    }
}

/// Trigger every SecretSync in `syncs` that names `spc` (same namespace).
/// Which SecretSyncs name each class (`namespace/class` → SecretSync names), so a class event triggers its
/// users without a pass over every SecretSync. That pass made a burst quadratic: with 100,000 pairs
/// created at once on a real API server, the manager kept a core busy scanning and its class triggers fell
/// more than 20 minutes behind, so a quarter of the SecretSyncs, reconciled before their class reached the
/// cache, waited an hour for their next check. Entries are added as SecretSyncs are seen and checked
/// against the store when used: a SecretSync that moved to another class leaves the old list then.
/// A list, not a set: one class per SecretSync is the usual layout, where a set's table would cost
/// about 70 bytes more per SecretSync; a class shared by n SecretSyncs costs a scan of n names per event
/// of one of them (10,000 sharing one class: about 50 ms of scans for a burst creating all of them).
#[derive(Default)]
struct Users(std::sync::Mutex<HashMap<Box<str>, Vec<Box<str>>>>);

impl Users {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Box<str>, Vec<Box<str>>>> {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn key(namespace: &str, class: &str) -> Box<str> {
        format!("{namespace}/{class}").into()
    }

    /// `sync` exists (created, updated or listed) and names its class.
    fn seen(&self, sync: &SecretSync) {
        let key = Self::key(
            &sync.namespace().unwrap_or_default(),
            &sync.spec.secret_provider_class_name,
        );
        let name = sync.name_any();
        let mut map = self.lock();
        let users = map.entry(key).or_default();
        if !users.iter().any(|u| **u == *name) {
            users.push(name.into());
        }
    }

    /// `sync` was deleted.
    fn gone(&self, sync: &SecretSync) {
        let key = Self::key(
            &sync.namespace().unwrap_or_default(),
            &sync.spec.secret_provider_class_name,
        );
        let mut map = self.lock();
        if let Some(users) = map.get_mut(&key) {
            users.retain(|u| **u != *sync.name_any());
            if users.is_empty() {
                map.remove(&key);
            }
        }
    }

    /// Trigger every SecretSync of `spc`'s namespace that names it (as the store has it now).
    fn trigger(&self, syncs: &Store<SecretSync>, spc: &SecretProviderClass, triggers: &Triggers) {
        let (namespace, class) = (spc.namespace().unwrap_or_default(), spc.name_any());
        let key = Self::key(&namespace, &class);
        let mut map = self.lock();
        let Some(users) = map.get_mut(&key) else {
            return;
        };
        users.retain(|name| {
            let reference = ObjectRef::<SecretSync>::new(name).within(&namespace);
            match syncs.get(&reference) {
                Some(sync) if sync.spec.secret_provider_class_name == class => {
                    let _ = triggers.unbounded_send(trigger(&sync));
                    true
                }
                _ => false,
            }
        });
        if users.is_empty() {
            map.remove(&key);
        }
    }
}

/// Metadata-only watch of the Secrets we label (Secret values never enter the manager). Only changes after
/// the initial list count as drift; the initial list (and re-lists) would otherwise force a sync of every
/// SecretSync.
fn watch_owned_secrets(
    client: &Client,
    ctx: &Arc<Context>,
    triggers: &Triggers,
    shutdown: &CancellationToken,
) {
    let secrets = watcher(
        Api::<PartialObjectMeta<Secret>>::all(client.clone()),
        watcher::Config::default().labels(consts::CONTROLLER_LABEL_KEY),
    )
    .default_backoff();
    let (ctx, triggers, shutdown) = (ctx.clone(), triggers.clone(), shutdown.clone());
    tokio::spawn(async move {
        let mut secrets = std::pin::pin!(secrets);
        loop {
            let event = tokio::select! {
                () = shutdown.cancelled() => return,
                event = secrets.next() => event,
            };
            let meta = match event {
                None => return,
                Some(Ok(watcher::Event::Apply(meta) | watcher::Event::Delete(meta))) => meta,
                Some(Ok(_)) => continue,
                Some(Err(error)) => {
                    tracing::warn!(%error, "owned Secret watch failed; retrying");
                    continue;
                }
            };
            let namespace = meta.namespace().unwrap_or_default();
            let owner = meta.owner_references().iter().find(|o| {
                o.kind == consts::SECRET_SYNC_KIND && o.api_version == consts::SECRET_SYNC_API_VERSION
            });
            if let Some(owner) = owner {
                ctx.force(&format!("{namespace}/{}", owner.name));
                let _ = triggers.unbounded_send(ObjectRef::new(&owner.name).within(&namespace));
            }
        }
    });
}

/// Now and then: forget deleted SecretSyncs (so per-object bookkeeping stays bounded) and re-trigger every
/// SecretSync whose check is overdue or that was never reconciled — whatever went wrong with its trigger,
/// each SecretSync in the cache is visited at least once per poll interval.
/// When a provider that could not be reached answers again ([`crate::provider::ProviderHealth`]), retry at once every
/// SecretSync whose last check failed on a provider, instead of at its next backoff step.
fn spawn_provider_recovery(
    syncs: Store<SecretSync>,
    ctx: Arc<Context>,
    triggers: Triggers,
    shutdown: CancellationToken,
) {
    let mut recovered = ctx.providers.health().recovered();
    tokio::spawn(async move {
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                changed = recovered.changed() => if changed.is_err() { return },
            }
            // A provider that cannot be reached fails a check with ProviderError (a stale socket) or, when
            // its socket is gone, ControllerSpcError ("provider not found").
            let waiting = ctx.schedule.retry_now(
                &[
                    sse_api::Reason::ProviderError,
                    sse_api::Reason::ControllerSpcError,
                ],
                std::time::SystemTime::now(),
            );
            if waiting.is_empty() {
                continue;
            }
            tracing::info!(
                count = waiting.len(),
                "a provider is back: retrying the SecretSyncs that failed on it"
            );
            for sync in syncs.state().iter().filter(|s| waiting.contains(&key(s))) {
                let _ = triggers.unbounded_send(trigger(sync));
            }
        }
    });
}

fn spawn_sweeper(
    syncs: Store<SecretSync>,
    ctx: Arc<Context>,
    triggers: Triggers,
    every: Duration,
    shutdown: CancellationToken,
) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            let live = syncs.state();
            let keys: std::collections::HashSet<String> = live.iter().map(|s| key(s)).collect();
            ctx.schedule.retain(|k| keys.contains(k));
            ctx.baselines.retain(|k| keys.contains(k));
            ctx.metrics.retain_expiry(|k| keys.contains(k));
            ctx.announced.retain(|k| keys.contains(k));
            let overdue = ctx
                .schedule
                .overdue(keys.iter().map(String::as_str), SystemTime::now());
            if !overdue.is_empty() {
                tracing::warn!(
                    count = overdue.len(),
                    "SecretSyncs overdue for their check: triggering them"
                );
            }
            for sync in live.iter().filter(|s| overdue.contains(&key(s))) {
                let _ = triggers.unbounded_send(trigger(sync));
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use kube::runtime::watcher::Event;

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
}

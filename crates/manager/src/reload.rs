//! Reload on change (opt-in): a rolling restart of the workloads that use a Secret whose value changed.
//!
//! A Deployment, StatefulSet or DaemonSet opts in with the annotation `sse-rs.io/reload`: `"true"` for
//! every Secret its pod template references (volumes, projected volumes, `env`, `envFrom`), or a
//! comma-separated list of Secret names. When a sync writes a **new value** to a Secret (never on a quiet
//! check, never while the vault fails: nothing is written then), each such workload gets a rolling restart
//! the way `kubectl rollout restart` does it, by a pod-template annotation (`sse-rs.io/restarted-at`, plus
//! `sse-rs.io/restarted-for` naming the SecretSync), and an Event saying which SecretSync caused it.
//!
//! A restart follows a **new value**: the write found that a value of one of the Secret's keys differed
//! from what was there (compared by the API server, [`crate::outcome::Written::Updated`]), not merely that
//! the SecretSync's hash moved (a class edit, or another object of a shared class rotating, changes the
//! hash of every SecretSync using the class; their Secrets' values stay, and so do their workloads).
//!
//! At most one restart per workload per `--reload-min-interval`: a change inside the window restarts the
//! workload once, when the window ends (the last restart's time is read from the workload itself, so the
//! limit holds across manager restarts; a restart still waiting when the manager stops is not carried
//! over). Off unless `--reload-workloads`; the RBAC it needs (list and patch on those three kinds) ships in
//! `deploy/overlays/reload-workloads` only.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use kube::ResourceExt;
use sse_api::SecretSync;

use crate::cluster::Cluster;

use crate::workload::{RESTARTED_AT_ANNOTATION, RESTARTED_FOR_ANNOTATION, Workload};

/// Namespace batches running at once: each lists three kinds of workload, page by page.
const BATCHES: usize = 4;

/// Longest `sse-rs.io/restarted-for` value: the SecretSyncs that caused a restart, comma-separated.
const RESTARTED_FOR_MAX: usize = 253;

/// The reloader: restarts coalesced per namespace, rate-limited per workload.
///
/// A changed Secret is queued under its namespace; one batch per namespace (at most [`BATCHES`] at once)
/// lists the namespace's workloads once for every Secret queued meanwhile, and restarts each workload that
/// uses any of them once. Nothing is spawned per change: an AKVSync rotating 256 Secrets of one namespace
/// costs one batch, not 256 tasks with three LISTs each.
#[derive(Clone)]
pub struct Reloads {
    inner: Arc<Inner>,
}

struct Inner {
    cluster: Arc<dyn Cluster>,
    min_interval: Duration,
    /// Changed Secrets waiting for their namespace's batch: namespace → Secret → its SecretSync. A
    /// namespace is present while its batch is queued or running.
    pending: Mutex<HashMap<String, BTreeMap<String, SecretSync>>>,
    batches: tokio::sync::Semaphore,
    /// Namespaces whose batch is queued or running (0: settled).
    busy: tokio::sync::watch::Sender<usize>,
    /// Per workload: when this process last restarted it (or will, for one waiting for its window), and
    /// whether a restart is waiting. The workload's own annotation covers restarts by an earlier process;
    /// this covers two batches seeing the old annotation. Pruned of entries older than a window.
    windows: Mutex<HashMap<String, (SystemTime, bool)>>,
}

impl Reloads {
    /// A reloader restarting each workload at most once per `min_interval`.
    pub fn new(cluster: Arc<dyn Cluster>, min_interval: Duration) -> Self {
        Self {
            inner: Arc::new(Inner {
                cluster,
                min_interval,
                pending: Mutex::default(),
                batches: tokio::sync::Semaphore::new(BATCHES),
                busy: tokio::sync::watch::Sender::new(0),
                windows: Mutex::default(),
            }),
        }
    }

    /// A value of `sync`'s Secret changed: restart the workloads of its namespace that use it, now or at the
    /// end of their window. Returns at once; failures are logged and reported in an Event on the SecretSync,
    /// and never fail the sync (the Secret is written).
    pub fn secret_changed(&self, sync: &SecretSync) {
        let namespace = sync.namespace().unwrap_or_default();
        let start = {
            let mut pending = lock(&self.inner.pending);
            let start = !pending.contains_key(&namespace);
            pending
                .entry(namespace.clone())
                .or_default()
                .insert(sync.name_any(), sync.clone());
            start
        };
        if start {
            self.inner.busy.send_modify(|n| *n += 1);
            let inner = self.inner.clone();
            tokio::spawn(async move { inner.run_batches(namespace).await });
        }
    }

    /// Wait until no batch is queued or running (restarts deferred to a window's end may still wait).
    pub async fn settled(&self) {
        let mut busy = self.inner.busy.subscribe();
        // The sender lives in `self`: the channel cannot close while we wait.
        let _ = busy.wait_for(|n| *n == 0).await;
    }

    /// Workloads this process remembers a restart of (bounded: see [`Inner::windows`]).
    pub fn remembered(&self) -> usize {
        lock(&self.inner.windows).len()
    }
}

impl Inner {
    /// The batches of `namespace`, until nothing of it is pending.
    async fn run_batches(self: Arc<Self>, namespace: String) {
        loop {
            // The semaphore is never closed.
            let _slot = self.batches.acquire().await.ok();
            let changed = {
                let mut pending = lock(&self.pending);
                let changed = pending
                    .get_mut(&namespace)
                    .map(std::mem::take)
                    .unwrap_or_default();
                if changed.is_empty() {
                    pending.remove(&namespace);
                    break;
                }
                changed
            };
            self.batch(&namespace, changed).await;
        }
        self.busy.send_modify(|n| *n = n.saturating_sub(1));
    }

    /// One listing of `namespace`'s workloads for the `changed` Secrets (name → SecretSync).
    async fn batch(self: &Arc<Self>, namespace: &str, changed: BTreeMap<String, SecretSync>) {
        let workloads = match self.cluster.reloadable_workloads(namespace).await {
            Ok(workloads) => workloads,
            Err(error) => {
                tracing::warn!(namespace, %error, "could not list the workloads to reload");
                for (secret, sync) in &changed {
                    let message = format!("could not list the workloads that use Secret {secret}: {error}");
                    self.cluster.event(sync, true, "ReloadFailed", &message).await;
                }
                return;
            }
        };
        let now = SystemTime::now();
        lock(&self.windows).retain(|_, (at, waiting)| *waiting || *at + self.min_interval > now);
        for workload in workloads {
            let causes: Vec<&SecretSync> = workload
                .secrets
                .iter()
                .filter_map(|secret| changed.get(secret))
                .collect();
            let Some(first) = causes.first() else {
                continue;
            };
            let names: Vec<String> = causes.iter().map(|s| s.name_any()).collect();
            let key = workload.key();
            let Some(wait) = self.window(&workload, now) else {
                continue; // one restart is already waiting for this workload's window
            };
            let sync = (*first).clone();
            if wait.is_zero() {
                restart(&*self.cluster, &workload, &sync, &names).await;
                continue;
            }
            tracing::info!(workload = %key, in_ = ?wait, "restart deferred to the end of the workload's window");
            let inner = self.clone();
            tokio::spawn(async move {
                tokio::time::sleep(wait).await;
                if let Some(entry) = lock(&inner.windows).get_mut(&key) {
                    *entry = (SystemTime::now(), false);
                }
                restart(&*inner.cluster, &workload, &sync, &names).await;
            });
        }
    }

    /// How long `workload` must wait for its next restart, decided under the lock: the later of its own
    /// last restart and this process's, and never more than one window from now (a clock ahead, or a
    /// hand-edited annotation, cannot put it off further); `None` when a restart is already waiting.
    fn window(&self, workload: &Workload, now: SystemTime) -> Option<Duration> {
        let key = workload.key();
        let mut windows = lock(&self.windows);
        let ours = windows.get(&key).copied();
        if ours.is_some_and(|(_, waiting)| waiting) {
            return None;
        }
        let last = workload
            .restarted_at
            .into_iter()
            .chain(ours.map(|(at, _)| at))
            .max();
        let wait = last
            .map(|at| (at + self.min_interval).duration_since(now).unwrap_or_default())
            .unwrap_or_default()
            .min(self.min_interval);
        windows.insert(key, (now + wait, !wait.is_zero()));
        Some(wait)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// One rolling restart for the SecretSyncs `names` (their Secrets changed), and its Event on the
/// workload; a failure is reported on `sync`, the first of them.
async fn restart(cluster: &dyn Cluster, workload: &Workload, sync: &SecretSync, names: &[String]) {
    let now = k8s_openapi::jiff::Timestamp::now();
    let joined = names.join(",");
    let annotations = BTreeMap::from([
        (RESTARTED_AT_ANNOTATION.to_string(), now.to_string()),
        (
            RESTARTED_FOR_ANNOTATION.to_string(),
            crate::cluster::truncate(&joined, RESTARTED_FOR_MAX),
        ),
    ]);
    let secrets = if names.len() == 1 {
        format!("Secret {joined}")
    } else {
        format!("Secrets {}", names.join(", "))
    };
    match cluster.restart_workload(workload, &annotations).await {
        Ok(()) => {
            tracing::info!(workload = %workload.key(), "rolling restart: a value of {secrets} changed");
            let message = format!(
                "Rolling restart: a value of {secrets} changed (SecretSync {}/{joined})",
                workload.namespace
            );
            cluster.workload_event(workload, "SecretChanged", &message).await;
        }
        Err(error) => {
            tracing::warn!(workload = %workload.key(), %error, "rolling restart failed");
            let message = format!(
                "Could not restart {} {}: {error}",
                workload.kind.as_str().to_lowercase(),
                workload.name
            );
            cluster.event(sync, true, "ReloadFailed", &message).await;
        }
    }
}

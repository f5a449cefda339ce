//! What every reconcile shares: the settings ([`Config`]) and the state ([`Context`]): the ports to the API
//! server and the providers, the schedule, the caches and the work slots.

use std::sync::Arc;
use std::time::Duration;

use crate::cluster::Cluster;
use crate::provider::ProviderClients;
use crate::schedule::{Schedule, ScheduleEntry, Timing};
use crate::tokens::Tokens;

/// Settings of the reconciler.
#[derive(Clone, Debug)]
pub struct Config {
    /// Token audiences (trimmed).
    pub audiences: Vec<String>,
    /// This pod's name.
    pub pod_name: String,
    /// This pod's UID.
    pub pod_uid: String,
    /// Time between two checks of one SecretSync.
    pub poll_interval: Duration,
    /// Extra random delay, up to this.
    pub jitter: Duration,
    /// Partial sync (docs/API.md#partial-sync).
    pub partial_sync: bool,
    /// First retry delay after a transient failure.
    pub backoff_base: Duration,
    /// Longest retry delay.
    pub backoff_max: Duration,
    /// Longest time one sync may take before it is abandoned (and retried with backoff).
    pub reconcile_timeout: Duration,
    /// Syncs running at once; SecretSyncs that are failing may hold at most half of these slots.
    pub workers: usize,
    /// Ask the provider's change detection before mounting (when it serves it).
    pub change_detection: bool,
    /// Bounds of a SecretSync's refresh-interval annotation.
    pub min_interval: Duration,
    /// See `min_interval`.
    pub max_interval: Duration,
    /// A quiet check (nothing changed) writes the status anyway, to show when the vault was last checked
    /// and will be next, when the status is this old; `None`: never.
    pub status_heartbeat: Option<Duration>,
    /// Reload on change ([`crate::reload`]): restart opted-in workloads when their Secret's value changes,
    /// each at most once per this interval; `None`: off.
    pub reload_min_interval: Option<Duration>,
    /// How long before an object's expiry the `Expiring` condition warns ([`crate::expiry`]).
    pub expiry_window: Duration,
}

impl Default for Config {
    fn default() -> Self {
        let timing = Timing::default();
        Self {
            audiences: Vec::new(),
            pod_name: "secrets-store-sync-controller".into(),
            pod_uid: String::new(),
            poll_interval: timing.poll_interval,
            jitter: timing.jitter,
            partial_sync: true,
            backoff_base: timing.backoff_base,
            backoff_max: timing.backoff_max,
            reconcile_timeout: timing.reconcile_timeout,
            workers: 32,
            change_detection: true,
            min_interval: timing.min_interval,
            max_interval: timing.max_interval,
            status_heartbeat: Some(Duration::from_secs(300)),
            reload_min_interval: None,
            expiry_window: crate::expiry::DEFAULT_WINDOW,
        }
    }
}

impl Config {
    /// The scheduling part.
    pub fn timing(&self) -> Timing {
        Timing {
            poll_interval: self.poll_interval,
            jitter: self.jitter,
            backoff_base: self.backoff_base,
            backoff_max: self.backoff_max,
            reconcile_timeout: self.reconcile_timeout,
            min_interval: self.min_interval,
            max_interval: self.max_interval,
        }
    }
}

/// Shared state of the reconciler.
pub struct Context {
    /// The API server.
    pub cluster: Arc<dyn Cluster>,
    /// Provider clients.
    pub providers: Arc<ProviderClients>,
    /// Token cache.
    pub tokens: Tokens,
    /// Settings.
    pub config: Config,
    /// Metrics.
    pub metrics: crate::metrics::Metrics,
    /// When each SecretSync is checked.
    pub schedule: Schedule,
    /// What each SecretSync's last full sync was made from (change detection).
    pub baselines: crate::changes::Baselines,
    /// The expiry standings this process announced in Events.
    pub announced: crate::expiry::Announced,
    /// Reload on change, when on.
    pub reloads: Option<Arc<crate::reload::Reloads>>,
    /// The checks the vault's events asked for, until a reconcile takes them.
    pub hints: crate::vault_events::Hints,
    /// Parsed templates shared by the SecretSyncs that write the same key with the same text (docs/SHAPING.md),
    /// bounded by their text.
    pub templates: sse_shape::cache::TemplateCache,
    /// Work slots, handed out first come, first served.
    pub(crate) slots: crate::slots::FairSlots,
    /// The share of slots SecretSyncs in failure may take (half): a broken vault cannot starve the others.
    pub(crate) retry_slots: tokio::sync::Semaphore,
}

impl Context {
    /// A reconciler context.
    pub fn new(
        cluster: Arc<dyn Cluster>,
        providers: Arc<ProviderClients>,
        config: Config,
        metrics: crate::metrics::Metrics,
    ) -> Self {
        let (slots, retry_slots) = (config.workers.max(1), (config.workers / 2).max(1));
        let reloads = config
            .reload_min_interval
            .map(|every| Arc::new(crate::reload::Reloads::new(cluster.clone(), every)));
        Self {
            cluster,
            providers,
            tokens: Tokens::default(),
            schedule: Schedule::with_reasons(config.timing(), metrics.reasons()),
            baselines: crate::changes::Baselines::default(),
            announced: crate::expiry::Announced::default(),
            reloads,
            hints: crate::vault_events::Hints::default(),
            templates: sse_shape::cache::TemplateCache::default(),
            config,
            metrics,
            // Each namespace may have as many reconciles waiting as there are slots: with the controller
            // running three times as many reconciles as slots, a namespace alone can use them all, and
            // one with thousands queued still leaves room for the others to reach the queue.
            slots: crate::slots::FairSlots::new(slots, slots),
            retry_slots: tokio::sync::Semaphore::new(retry_slots),
        }
    }

    /// The work slots, shared in turn between namespaces.
    pub fn slots(&self) -> &crate::slots::FairSlots {
        &self.slots
    }

    /// Mark a SecretSync as needing a sync at its next reconcile (owned Secret changed).
    pub fn force(&self, key: &str) {
        self.schedule.force(key);
    }

    /// Treat the SecretSync's scheduled check as reached (what the scheduler's tick does).
    pub fn expire(&self, key: &str) {
        self.schedule.expire(key, std::time::SystemTime::now());
    }

    /// The `/debug/secretsyncs` report.
    pub fn schedule_report(&self) -> Vec<ScheduleEntry> {
        self.schedule.report()
    }
}

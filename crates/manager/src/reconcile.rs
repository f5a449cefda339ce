//! One SecretSync, one sync: inputs → provider → data → Secret → status.
//!
//! ```text
//! validate spec ─▶ SecretProviderClass ─▶ tokens ─▶ Mount (per object when partial sync is on)
//!      ─▶ map files to keys ─▶ hash ─▶ write Secret (ownership-guarded) ─▶ status (only when it changed)
//! ```
//!
//! Scheduling: each SecretSync is checked every `rotationPollIntervalInSeconds` at a phase derived from its
//! UID, plus up to `jitterSeconds` of random delay, so thousands of SecretSyncs spread over the interval
//! instead of hitting the vault in the same second. Failures retry with capped exponential backoff.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::ResourceExt;
use sha2::{Digest, Sha256};
use sse_api::{Reason, SecretSync, conditions, validation};

use crate::cluster::Cluster;
use crate::error::{Class, SyncError};
use crate::hash::{HashInputs, sync_hash};
use crate::mapping::{self, SecretData};
use crate::provider::{self, Mounted, ProviderClients, ProviderError};
use crate::secret;
use crate::status::{self, Outcome};
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
    /// Partial sync (A5).
    pub partial_sync: bool,
    /// First retry delay after a transient failure.
    pub backoff_base: Duration,
    /// Longest retry delay.
    pub backoff_max: Duration,
    /// Longest time one sync may take before it is abandoned (and retried with backoff).
    pub reconcile_timeout: Duration,
    /// Syncs running at once; SecretSyncs that are failing may hold at most half of these slots.
    pub workers: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            audiences: Vec::new(),
            pod_name: "secrets-store-sync-controller".into(),
            pod_uid: String::new(),
            poll_interval: Duration::from_secs(3600),
            jitter: Duration::ZERO,
            partial_sync: true,
            backoff_base: Duration::from_secs(5),
            backoff_max: Duration::from_secs(300),
            reconcile_timeout: Duration::from_secs(150),
            workers: 32,
        }
    }
}

/// What the last sync of one SecretSync saw, to tell a trigger that needs a sync from an echo of our own
/// status write. Small and secret-free: memory stays flat in the number of SecretSyncs.
#[derive(Clone, Debug)]
struct Memo {
    generation: Option<i64>,
    class_version: Option<(String, i64)>,
    next_check: SystemTime,
    /// When the vault was last checked for this SecretSync, and what came of it (for `/debug/secretsyncs`).
    last_check: Option<SystemTime>,
    last_reason: Option<Reason>,
}

/// One line of the schedule report: when a SecretSync was last checked, with what result, and when next.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ScheduleEntry {
    /// `namespace/name`.
    pub secret_sync: String,
    /// Last check (RFC 3339), if this process has seen one.
    pub last_checked_time: Option<String>,
    /// Reason of the last check.
    pub last_reason: Option<&'static str>,
    /// Next scheduled check (RFC 3339).
    pub next_check_time: String,
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
    failures: Mutex<HashMap<String, u32>>,
    memos: Mutex<HashMap<String, Memo>>,
    forced: Mutex<HashSet<String>>,
    started: SystemTime,
    /// Work slots, handed out first come, first served.
    slots: tokio::sync::Semaphore,
    /// The share of slots SecretSyncs in failure may take (half): a broken vault cannot starve the others.
    retry_slots: tokio::sync::Semaphore,
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
        Self {
            cluster,
            providers,
            tokens: Tokens::default(),
            config,
            metrics,
            failures: Mutex::new(HashMap::new()),
            memos: Mutex::new(HashMap::new()),
            forced: Mutex::new(HashSet::new()),
            started: SystemTime::now(),
            slots: tokio::sync::Semaphore::new(slots),
            retry_slots: tokio::sync::Semaphore::new(retry_slots),
        }
    }

    /// Which of `keys` are overdue at `now`: their check is more than a reconcile's length late, or this
    /// process has not reconciled them at all that long after it started. The scheduler requeues every
    /// reconcile, so an overdue SecretSync means a lost trigger; the sweeper re-triggers it.
    pub fn overdue<'a>(&self, keys: impl Iterator<Item = &'a str>, now: SystemTime) -> HashSet<String> {
        let grace = self.config.reconcile_timeout + Duration::from_secs(30);
        let memos = lock(&self.memos);
        keys.filter(|k| match memos.get(*k) {
            Some(memo) => memo.next_check + grace < now,
            None => self.started + grace < now,
        })
        .map(str::to_string)
        .collect()
    }

    /// Mark a SecretSync as needing a sync at its next reconcile (owned Secret changed).
    pub fn force(&self, key: &str) {
        lock(&self.forced).insert(key.to_string());
    }

    /// Treat the SecretSync's scheduled check as reached (what the scheduler's tick does).
    pub fn expire(&self, key: &str) {
        if let Some(memo) = lock(&self.memos).get_mut(key) {
            memo.next_check = SystemTime::now();
        }
    }

    /// When each known SecretSync was last checked, with what result, and when it will be checked next:
    /// the answer to "is it still syncing?" that the status cannot give without writing on every check.
    pub fn schedule_report(&self) -> Vec<ScheduleEntry> {
        let rfc3339 = |t: SystemTime| to_time(t).0.to_string();
        let mut entries: Vec<ScheduleEntry> = lock(&self.memos)
            .iter()
            .map(|(key, m)| ScheduleEntry {
                secret_sync: key.clone(),
                last_checked_time: m.last_check.map(rfc3339),
                last_reason: m.last_reason.map(Reason::as_str),
                next_check_time: rfc3339(m.next_check),
            })
            .collect();
        entries.sort_by(|a, b| a.secret_sync.cmp(&b.secret_sync));
        entries
    }

    /// Forget SecretSyncs that no longer exist.
    pub fn retain(&self, exists: impl Fn(&str) -> bool) {
        lock(&self.memos).retain(|k, _| exists(k));
        lock(&self.failures).retain(|k, _| exists(k));
        lock(&self.forced).retain(|k| exists(k));
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// `namespace/name`.
pub fn key(sync: &SecretSync) -> String {
    format!("{}/{}", sync.namespace().unwrap_or_default(), sync.name_any())
}

/// Result of one reconcile.
#[derive(Debug)]
pub struct Report {
    /// The outcome recorded in status; `None` when nothing was due (the provider was not called).
    pub outcome: Option<Outcome>,
    /// Whether the status was written.
    pub status_written: bool,
    /// When to look again.
    pub requeue_after: Duration,
}

impl Report {
    /// Whether a sync ran (the provider was called).
    pub fn synced(&self) -> bool {
        self.outcome.is_some()
    }
}

/// Reconcile one SecretSync: sync it if it is due, record the outcome, say when to come back.
pub async fn reconcile(sync: &SecretSync, ctx: &Context) -> Report {
    let key = key(sync);
    let now = SystemTime::now();
    let class_version = class_version(sync, ctx).await;
    if let Some(until) = not_due(sync, ctx, &key, &class_version, now) {
        ctx.metrics.reconcile(false, Duration::ZERO);
        return Report {
            outcome: None,
            status_written: false,
            requeue_after: until,
        };
    }
    // A SecretSync in failure takes a retry slot or waits for its next backoff step, so failures against
    // one vault take at most half the slots; everyone then queues for a slot in arrival order.
    let failures = lock(&ctx.failures).get(&key).copied().unwrap_or(0);
    let _retry_slot = if failures > 0 {
        let Ok(permit) = ctx.retry_slots.try_acquire() else {
            let delay = backoff(failures, &ctx.config);
            if let Some(memo) = lock(&ctx.memos).get_mut(&key) {
                memo.next_check = now + delay;
            }
            tracing::debug!(retry_in = ?delay, "deferred: the retry share of the workers is busy");
            return Report {
                outcome: None,
                status_written: false,
                requeue_after: delay,
            };
        };
        Some(permit)
    } else {
        None
    };
    // The semaphore is never closed.
    let _slot = ctx.slots.acquire().await.ok();
    lock(&ctx.forced).remove(&key);

    let started = std::time::Instant::now();
    let limit = ctx.config.reconcile_timeout;
    let result = tokio::time::timeout(limit, sync_once(sync, ctx))
        .await
        .unwrap_or(Err(SyncError::TimedOut(limit)));
    let (outcome, class) = match result {
        Ok(outcome) => (outcome, None),
        Err(error) => {
            tracing::warn!(reason = %error.reason(), %error, "sync failed");
            (
                Outcome::Failed {
                    reason: error.reason(),
                    message: error.to_string(),
                },
                Some(error.class()),
            )
        }
    };
    let requeue_after = match class {
        None => {
            lock(&ctx.failures).remove(&key);
            schedule(sync, &ctx.config, now)
        }
        Some(Class::Permanent) => {
            lock(&ctx.failures).remove(&key);
            schedule(sync, &ctx.config, now)
        }
        Some(Class::Transient) => {
            let mut failures = lock(&ctx.failures);
            let n = failures.entry(key.clone()).or_insert(0);
            *n = n.saturating_add(1);
            backoff(*n, &ctx.config)
        }
    };
    let next_check = now + requeue_after;
    lock(&ctx.memos).insert(
        key.clone(),
        Memo {
            generation: sync.metadata.generation,
            class_version,
            next_check,
            last_check: Some(now),
            last_reason: None,
        },
    );

    let current = sync.status.clone().unwrap_or_default();
    let next = status::next(
        &current,
        sync.metadata.generation,
        &outcome,
        &to_time(now),
        &to_time(next_check),
    );
    let mut status_written = false;
    if next.changed {
        match ctx.cluster.write_status(sync, &next.status).await {
            Ok(()) => status_written = true,
            Err(error) => tracing::warn!(%error, "Failed to update status"),
        }
    }
    if let Some(notice) = &next.notice {
        ctx.cluster
            .event(sync, notice.warning, notice.reason.as_str(), &notice.message)
            .await;
    }
    let reason = match &outcome {
        Outcome::Failed { reason, .. } => *reason,
        Outcome::Partial { .. } => Reason::PartialSync,
        // A quiet check leaves the conditions as they were; what it found is "no value change".
        Outcome::Synced { .. } if !next.changed => Reason::UpdateNoValueChangeSucceeded,
        Outcome::Synced { .. } => conditions::find_condition(&next.status.conditions, conditions::READY)
            .and_then(|c| c.reason.parse().ok())
            .unwrap_or(Reason::UpdateNoValueChangeSucceeded),
    };
    ctx.metrics.sync(reason, started.elapsed());
    ctx.metrics
        .reconcile(!matches!(outcome, Outcome::Synced { .. }), started.elapsed());
    if let Some(memo) = lock(&ctx.memos).get_mut(&key) {
        memo.last_reason = Some(reason);
    }
    // A quiet check (nothing changed, nothing written) is routine: DEBUG, so a large fleet's logs show
    // what changed rather than one line per SecretSync per interval.
    if status_written || !matches!(outcome, Outcome::Synced { .. }) {
        tracing::info!(reason = %reason, status_written, next_check_in = ?requeue_after, "reconciled");
    } else {
        tracing::debug!(reason = %reason, next_check_in = ?requeue_after, "checked: no change");
    }
    Report {
        outcome: Some(outcome),
        status_written,
        requeue_after,
    }
}

async fn class_version(sync: &SecretSync, ctx: &Context) -> Option<(String, i64)> {
    let namespace = sync.namespace().unwrap_or_default();
    ctx.cluster
        .secret_provider_class(&namespace, &sync.spec.secret_provider_class_name)
        .await
        .ok()
        .flatten()
        .map(|spc| {
            (
                spc.uid().unwrap_or_default(),
                spc.metadata.generation.unwrap_or_default(),
            )
        })
}

/// `Some(delay)` when nothing requires a sync before the next scheduled check.
fn not_due(
    sync: &SecretSync,
    ctx: &Context,
    key: &str,
    class_version: &Option<(String, i64)>,
    now: SystemTime,
) -> Option<Duration> {
    if lock(&ctx.forced).contains(key) {
        return None;
    }
    let memo = lock(&ctx.memos).get(key).cloned();
    let next_check = match memo {
        Some(m) => {
            if m.generation != sync.metadata.generation || &m.class_version != class_version {
                return None;
            }
            m.next_check
        }
        None => {
            // Fresh process: trust a recent healthy status for this generation instead of syncing every
            // SecretSync at once on start-up; anything else syncs now.
            let status = sync.status.as_ref()?;
            if status.observed_generation != sync.metadata.generation
                || !conditions::is_condition_true(&status.conditions, conditions::READY)
            {
                return None;
            }
            // `nextCheckTime` in status is only as fresh as the last status write (quiet checks write
            // nothing), so the next check is this SecretSync's next phase tick, not the stored time.
            let next_check = now + schedule(sync, &ctx.config, now);
            // Remember what we deferred against, so a later SecretProviderClass change is noticed.
            lock(&ctx.memos).insert(
                key.to_string(),
                Memo {
                    generation: sync.metadata.generation,
                    class_version: class_version.clone(),
                    next_check,
                    last_check: status.last_checked_time.as_ref().and_then(from_time),
                    last_reason: conditions::find_condition(&status.conditions, conditions::READY)
                        .and_then(|c| c.reason.parse().ok()),
                },
            );
            next_check
        }
    };
    next_check.duration_since(now).ok().filter(|d| !d.is_zero())
}

/// The sync proper.
pub async fn sync_once(sync: &SecretSync, ctx: &Context) -> Result<Outcome, SyncError> {
    validation::validate_spec(&sync.spec)?;
    let namespace = sync.namespace().unwrap_or_default();
    let spc_name = &sync.spec.secret_provider_class_name;
    let spc = ctx
        .cluster
        .secret_provider_class(&namespace, spc_name)
        .await
        .map_err(|e| SyncError::Internal(e.to_string()))?
        .ok_or_else(|| SyncError::ProviderClassNotFound {
            name: spc_name.clone(),
        })?;
    let tokens = ctx
        .tokens
        .attribute(
            &*ctx.cluster,
            &namespace,
            &sync.spec.service_account_name,
            &ctx.config.audiences,
        )
        .await
        .map_err(SyncError::Token)?;
    let provider = spc.spec.provider.clone().unwrap_or_default();
    let parameters: BTreeMap<String, String> = spc
        .spec
        .parameters
        .clone()
        .unwrap_or_default()
        .into_iter()
        .collect();
    let attributes = |params: &BTreeMap<String, String>| {
        provider::attributes(
            params,
            &ctx.config.pod_name,
            &ctx.config.pod_uid,
            &namespace,
            &sync.spec.service_account_name,
            tokens.as_deref(),
        )
    };

    let split = if ctx.config.partial_sync {
        provider::split_objects(&parameters)
    } else {
        None
    };
    let Some(parts) = split else {
        let mounted = ctx.providers.mount(&provider, attributes(&parameters)).await?;
        return write_full(sync, ctx, &spc, &mounted).await;
    };

    // Partial sync: one Mount per object, so one failing object cannot block the others.
    let mounts = parts
        .iter()
        .map(|p| ctx.providers.mount(&provider, attributes(p)));
    let results = futures::future::join_all(mounts).await;
    let mut mounted = Mounted::default();
    let mut failures: Vec<ProviderError> = Vec::new();
    for result in results {
        match result {
            Ok(part) => {
                mounted.files.extend(part.files);
                mounted.versions.extend(part.versions);
            }
            Err(e) if e.is_configuration() => return Err(e.into()),
            Err(e) => failures.push(e),
        }
    }
    if failures.is_empty() {
        return write_full(sync, ctx, &spc, &mounted).await;
    }
    let items = mapping::map_items(&sync.spec.secret_object, &mounted.files);
    if items.iter().all(|i| i.result.is_err()) {
        // Nothing healthy to write: report the first provider failure.
        return Err(failures.swap_remove(0).into());
    }
    let healthy = SecretData(
        items
            .iter()
            .filter_map(|i| i.result.as_ref().ok().map(|v| (i.target_key.clone(), v.clone())))
            .collect(),
    );
    let summary = partial_summary(&items, &failures);
    let desired = secret::desired(sync, &healthy);
    let written = secret::write_partial(&*ctx.cluster, sync, &desired).await?;
    Ok(Outcome::Partial { written, summary })
}

async fn write_full(
    sync: &SecretSync,
    ctx: &Context,
    spc: &sse_api::SecretProviderClass,
    mounted: &Mounted,
) -> Result<Outcome, SyncError> {
    let data = mapping::build_secret_data(&sync.spec.secret_object, &mounted.files)?;
    let hash = sync_hash(&HashInputs {
        data: &state_of(sync, mounted),
        spc_uid: &spc.uid().unwrap_or_default(),
        spc_generation: spc.metadata.generation.unwrap_or_default(),
        ss_uid: &sync.uid().unwrap_or_default(),
        ss_generation: sync.metadata.generation.unwrap_or_default(),
        force_synchronization: sync.spec.force_synchronization.as_deref().unwrap_or_default(),
    });
    let previous = sync.status.as_ref().and_then(|s| s.sync_hash.as_deref());
    let desired = secret::desired(sync, &data);
    let written = secret::write(&*ctx.cluster, sync, &desired, previous != Some(hash.as_str())).await?;
    Ok(Outcome::Synced { written, hash })
}

/// What the sync hash covers: the data mapping and the object versions the provider returned — not the
/// values. `syncHash` is readable by anyone who may read the SecretSync, and every other hash input is
/// public, so a hash over the values would let them test guesses of a secret. Vault versions are immutable,
/// so a new value always comes with a new version; byte-level drift of the Secret itself is caught by the
/// server-side content test in [`secret::write`].
fn state_of(sync: &SecretSync, mounted: &Mounted) -> BTreeMap<String, Vec<u8>> {
    let mapping = sync.spec.secret_object.data.iter().map(|d| {
        (
            format!("key:{}", d.target_key.trim()),
            d.source_path.trim().as_bytes().to_vec(),
        )
    });
    let versions = mounted
        .versions
        .iter()
        .map(|(id, version)| (format!("version:{id}"), version.as_bytes().to_vec()));
    mapping.chain(versions).collect()
}

fn partial_summary(items: &[mapping::ItemOutcome], failures: &[ProviderError]) -> String {
    let items: Vec<_> = items
        .iter()
        .map(|i| match &i.result {
            Ok(_) => serde_json::json!({"targetKey": i.target_key, "sourcePath": i.source_path, "status": "Synced"}),
            Err(e) => serde_json::json!({
                "targetKey": i.target_key, "sourcePath": i.source_path, "status": "Failed",
                "error": e.to_string(),
            }),
        })
        .collect();
    let errors: Vec<String> = failures.iter().map(ToString::to_string).collect();
    serde_json::json!({ "items": items, "providerErrors": errors }).to_string()
}

/// Delay until this SecretSync's next scheduled check: its UID-derived phase within the interval, plus
/// up to `jitter` at random.
pub fn schedule(sync: &SecretSync, config: &Config, now: SystemTime) -> Duration {
    let interval = config.poll_interval.as_secs().max(1);
    let digest = Sha256::digest(sync.uid().unwrap_or_else(|| key(sync)).as_bytes());
    let phase = u64::from_be_bytes(digest[..8].try_into().unwrap_or_default()) % interval;
    let now_secs = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let position = now_secs % interval;
    let mut delay = (phase + interval - position) % interval;
    if delay == 0 {
        delay = interval;
    }
    let jitter = config.jitter.as_secs();
    let extra = if jitter == 0 {
        0
    } else {
        rand::random_range(0..=jitter)
    };
    Duration::from_secs(delay + extra)
}

/// Capped exponential backoff with ±50 % jitter.
pub fn backoff(failures: u32, config: &Config) -> Duration {
    let exp = config
        .backoff_base
        .saturating_mul(2u32.saturating_pow(failures.saturating_sub(1).min(16)));
    let capped = exp.min(config.backoff_max);
    capped
        .mul_f64(rand::random_range(0.5..1.5))
        .min(config.backoff_max)
}

fn to_time(t: SystemTime) -> Time {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    Time(k8s_openapi::jiff::Timestamp::from_second(i64::try_from(secs).unwrap_or(0)).unwrap_or_default())
}

fn from_time(t: &Time) -> Option<SystemTime> {
    let secs = u64::try_from(t.0.as_second()).ok()?;
    Some(UNIX_EPOCH + Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sync(uid: &str) -> SecretSync {
        let mut s = SecretSync::new("s", sse_api::SecretSyncSpec::default());
        s.metadata.namespace = Some("ns".into());
        s.metadata.uid = Some(uid.into());
        s
    }

    #[test]
    fn schedule_spreads_syncs_over_the_interval() {
        let config = Config {
            poll_interval: Duration::from_secs(3600),
            ..Config::default()
        };
        let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let mut buckets = [0u32; 60];
        for i in 0..6000 {
            let d = schedule(&sync(&format!("uid-{i}")), &config, now);
            assert!(d > Duration::ZERO && d <= Duration::from_secs(3600));
            buckets[(d.as_secs() / 60).min(59) as usize] += 1;
        }
        // 6000 syncs over 60 minutes: every minute gets some, none gets a crowd.
        assert!(buckets.iter().all(|b| *b > 50 && *b < 170), "{buckets:?}");
        // Deterministic per SecretSync without jitter.
        assert_eq!(
            schedule(&sync("a"), &config, now),
            schedule(&sync("a"), &config, now)
        );
    }

    #[test]
    fn jitter_adds_at_most_its_bound() {
        let config = Config {
            poll_interval: Duration::from_secs(60),
            jitter: Duration::from_secs(30),
            ..Config::default()
        };
        let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let base = schedule(
            &sync("a"),
            &Config {
                jitter: Duration::ZERO,
                ..config.clone()
            },
            now,
        );
        for _ in 0..100 {
            let d = schedule(&sync("a"), &config, now);
            assert!(d >= base && d <= base + Duration::from_secs(30));
        }
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let config = Config::default();
        assert!(backoff(1, &config) <= Duration::from_millis(7500));
        assert!(backoff(3, &config) >= Duration::from_secs(10));
        assert!(backoff(30, &config) <= Duration::from_secs(300));
    }

    #[test]
    fn time_round_trip() {
        let t = UNIX_EPOCH + Duration::from_secs(1_800_000_123);
        assert_eq!(from_time(&to_time(t)), Some(t));
    }
}

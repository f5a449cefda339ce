//! Prometheus metrics of the manager. Labels are bounded (reasons and results are closed sets); no object
//! names, no error text.
//!
//! * `secretsync_syncs_total{reason}`, `secretsync_sync_duration_seconds`: what each sync found.
//! * `secretsync_secretsyncs{reason}`: SecretSyncs by the reason of their last check (what the
//!   `SecretSyncFailing` alert counts); `secretsync_check_lateness_seconds`: how late checks complete.
//! * `secretsync_objects{validity}`: synced objects with Key Vault validity dates by where they stand
//!   (`Valid`, `NotYetValid`, `Expiring`, `Expired`; [`crate::expiry`]), and
//!   `secretsync_earliest_expiry_timestamp_seconds`, the soonest `exp` among them (0: none). Which objects
//!   they are is in each SecretSync's `status.validity` (`kubectl sse status -A -o wide`), not in labels.
//! * `secretsync_vault_events_total{type,outcome}`, `secretsync_event_stream_up`,
//!   `secretsync_event_stream_failures_total{reason}`, `secretsync_event_stream_requests_total{action}`,
//!   `secretsync_event_delivery_seconds`, `secretsync_event_refresh_seconds`: the vault's events
//!   ([`crate::vault_events`]).
//! * `secretsync_fanout_namespaces{state}`, `secretsync_fanout_writes_total{result}`: the fan-out of
//!   ClusterSecretSyncs ([`crate::fanout::metrics`]).
//! * The controller-runtime names of the Go controller (docs/API.md#health-and-metrics), so its dashboards
//!   keep working: `controller_runtime_reconcile_total{controller,result}`,
//!   `controller_runtime_reconcile_errors_total`, `controller_runtime_reconcile_time_seconds`,
//!   `controller_runtime_max_concurrent_reconciles`.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use sse_api::Reason;

const CONTROLLER: &str = "secretsync";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    reason: &'static str,
}

/// SecretSyncs by the reason of their last check.
pub type ReasonGauge = Family<ReasonLabel, Gauge>;

/// One SecretSync's last reason went from `old` to `new` (`None`: not counted, or forgotten).
pub fn move_reason(gauge: &ReasonGauge, old: Option<Reason>, new: Option<Reason>) {
    if let Some(old) = old {
        gauge.get_or_create(&ReasonLabel { reason: old.as_str() }).dec();
    }
    if let Some(new) = new {
        gauge.get_or_create(&ReasonLabel { reason: new.as_str() }).inc();
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ControllerLabel {
    controller: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabel {
    controller: &'static str,
    result: &'static str,
}

fn buckets() -> Histogram {
    Histogram::new([0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0])
}

/// The manager's metric families, cheap to clone.
#[derive(Clone)]
pub struct Metrics {
    registry: Arc<Registry>,
    syncs: Family<ReasonLabel, Counter>,
    duration: Histogram,
    reconciles: Family<ResultLabel, Counter>,
    reconcile_errors: Family<ControllerLabel, Counter>,
    reconcile_time: Family<ControllerLabel, Histogram, fn() -> Histogram>,
    max_concurrent: Family<ControllerLabel, Gauge>,
    lateness: Histogram,
    reasons: ReasonGauge,
    expiry: Arc<ExpiryMetrics>,
    leases_lost: Counter,
    events: crate::vault_events::EventMetrics,
    fanout: crate::fanout::metrics::FanoutMetrics,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ValidityLabel {
    validity: &'static str,
}

/// The validity standings, the closed set of the `validity` label.
const STANDINGS: [&str; 4] = sse_api::ObjectValidity::STANDINGS;

/// Objects by validity standing and the earliest expiry, kept per SecretSync as its checks report.
#[derive(Default)]
struct ExpiryMetrics {
    objects: Family<ValidityLabel, Gauge>,
    earliest: Gauge,
    state: Mutex<ExpiryState>,
}

#[derive(Default)]
struct ExpiryState {
    /// `namespace/name` → its dated objects: (standing, `exp` in Unix seconds). Only SecretSyncs with some.
    per_sync: HashMap<String, Vec<(&'static str, Option<i64>)>>,
    /// Every recorded `exp`, counted (a multiset): its first key is the earliest.
    expiries: BTreeMap<i64, usize>,
}

impl ExpiryMetrics {
    /// Replace what `key` contributes (`None`: forget it).
    fn set(&self, key: &str, now: Option<Vec<(&'static str, Option<i64>)>>) {
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let state = &mut *state;
        let old = match now.clone().filter(|v| !v.is_empty()) {
            Some(entries) => state.per_sync.insert(key.to_string(), entries),
            None => state.per_sync.remove(key),
        };
        for (standing, exp) in old.unwrap_or_default() {
            self.objects
                .get_or_create(&ValidityLabel { validity: standing })
                .dec();
            if let Some(exp) = exp
                && let Some(count) = state.expiries.get_mut(&exp)
            {
                *count -= 1;
                if *count == 0 {
                    state.expiries.remove(&exp);
                }
            }
        }
        for (standing, exp) in now.unwrap_or_default() {
            self.objects
                .get_or_create(&ValidityLabel { validity: standing })
                .inc();
            if let Some(exp) = exp {
                *state.expiries.entry(exp).or_default() += 1;
            }
        }
        self.earliest
            .set(state.expiries.keys().next().copied().unwrap_or(0));
    }
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let syncs = Family::<ReasonLabel, Counter>::default();
        let duration = buckets();
        let lateness = Histogram::new([0.0, 1.0, 5.0, 15.0, 30.0, 60.0, 300.0, 900.0, 3600.0]);
        let reasons = ReasonGauge::default();
        let expiry = Arc::new(ExpiryMetrics::default());
        let leases_lost = Counter::default();
        let events;
        let fanout;
        for validity in STANDINGS {
            expiry.objects.get_or_create(&ValidityLabel { validity }).set(0);
        }
        {
            let ours = registry.sub_registry_with_prefix("secretsync");
            ours.register("syncs", "SecretSync syncs by resulting reason", syncs.clone());
            ours.register(
                "sync_duration_seconds",
                "Duration of a SecretSync sync (provider call, Secret and status writes)",
                duration.clone(),
            );
            ours.register(
                "check_lateness_seconds",
                "How long after its scheduled time a SecretSync's check completed (worker queue, provider pacing, Key Vault)",
                lateness.clone(),
            );
            ours.register(
                "secretsyncs",
                "SecretSyncs by the reason of their last check (kept by the leader)",
                reasons.clone(),
            );
            ours.register(
                "objects",
                "Synced objects with Key Vault validity dates, by where they stand at their last check",
                expiry.objects.clone(),
            );
            ours.register(
                "earliest_expiry_timestamp_seconds",
                "The soonest Key Vault expiry (exp, Unix seconds) among synced objects; 0 when none has one",
                expiry.earliest.clone(),
            );
            events = crate::vault_events::EventMetrics::register(ours);
            fanout = crate::fanout::metrics::FanoutMetrics::register(ours);
            ours.register(
                "leader_leases_lost",
                "Times this process lost the leader-election lease and stepped down to campaign again",
                leases_lost.clone(),
            );
        }
        let reconciles = Family::<ResultLabel, Counter>::default();
        let reconcile_errors = Family::<ControllerLabel, Counter>::default();
        let reconcile_time =
            Family::<ControllerLabel, Histogram, fn() -> Histogram>::new_with_constructor(buckets);
        let max_concurrent = Family::<ControllerLabel, Gauge>::default();
        registry.register(
            "controller_runtime_reconcile",
            "Total number of reconciliations per controller",
            reconciles.clone(),
        );
        registry.register(
            "controller_runtime_reconcile_errors",
            "Total number of reconciliation errors per controller",
            reconcile_errors.clone(),
        );
        registry.register(
            "controller_runtime_reconcile_time_seconds",
            "Length of time per reconciliation per controller",
            reconcile_time.clone(),
        );
        registry.register(
            "controller_runtime_max_concurrent_reconciles",
            "Maximum number of concurrent reconciles per controller",
            max_concurrent.clone(),
        );
        Self {
            registry: Arc::new(registry),
            syncs,
            duration,
            reconciles,
            reconcile_errors,
            reconcile_time,
            max_concurrent,
            lateness,
            reasons,
            expiry,
            leases_lost,
            events,
            fanout,
        }
    }
}

impl Metrics {
    /// The event stream's metrics (crate::vault_events).
    pub fn events(&self) -> &crate::vault_events::EventMetrics {
        &self.events
    }

    /// The fan-out's metrics (crate::fanout).
    pub fn fanout(&self) -> &crate::fanout::metrics::FanoutMetrics {
        &self.fanout
    }

    /// Record one sync (the provider was called).
    pub fn sync(&self, reason: Reason, took: Duration) {
        self.syncs
            .get_or_create(&ReasonLabel {
                reason: reason.as_str(),
            })
            .inc();
        self.duration.observe(took.as_secs_f64());
    }

    /// Record one reconcile, synced or not (`failed`: the outcome was a failure or a partial sync).
    pub fn reconcile(&self, failed: bool, took: Duration) {
        let result = if failed { "error" } else { "success" };
        self.reconciles
            .get_or_create(&ResultLabel {
                controller: CONTROLLER,
                result,
            })
            .inc();
        if failed {
            self.reconcile_errors
                .get_or_create(&ControllerLabel {
                    controller: CONTROLLER,
                })
                .inc();
        }
        self.reconcile_time
            .get_or_create(&ControllerLabel {
                controller: CONTROLLER,
            })
            .observe(took.as_secs_f64());
    }

    /// A scheduled check completed `late` after its time.
    pub fn check_lateness(&self, late: Duration) {
        self.lateness.observe(late.as_secs_f64());
    }

    /// The configured worker count.
    pub fn set_max_concurrent_reconciles(&self, workers: u16) {
        self.max_concurrent
            .get_or_create(&ControllerLabel {
                controller: CONTROLLER,
            })
            .set(i64::from(workers));
    }

    /// A check of `key` found its objects' validity `validity` (empty: none dated).
    pub fn expiry(&self, key: &str, validity: &[sse_api::ObjectValidity]) {
        let entries = validity
            .iter()
            .map(|v| {
                let standing = STANDINGS.into_iter().find(|s| *s == v.state).unwrap_or("Valid");
                let exp = v.expires_at.as_ref().map(|t| t.0.as_second());
                (standing, exp)
            })
            .collect();
        self.expiry.set(key, Some(entries));
    }

    /// Record `validity()` for `key` unless it is counted already (a fresh process, before the SecretSync's
    /// first check: from its status; a SecretSync whose check found no dates has none in its status either).
    pub fn expiry_if_unknown(&self, key: &str, validity: impl FnOnce() -> Vec<sse_api::ObjectValidity>) {
        let known = self
            .expiry
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .per_sync
            .contains_key(key);
        if !known {
            self.expiry(key, &validity());
        }
    }

    /// Forget the validity of SecretSyncs that no longer exist.
    pub fn retain_expiry(&self, exists: impl Fn(&str) -> bool) {
        let gone: Vec<String> = self
            .expiry
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .per_sync
            .keys()
            .filter(|k| !exists(k))
            .cloned()
            .collect();
        for key in gone {
            self.expiry.set(&key, None);
        }
    }

    /// This process lost the lease and stepped down: count it, and forget what the gauges kept of the
    /// SecretSyncs (the next term's reconciler counts them again; a follower reports none).
    pub fn lease_lost(&self) {
        self.leases_lost.inc();
        self.reasons.clear();
        self.retain_expiry(|_| false);
    }

    /// The SecretSyncs-by-reason gauge, kept by the schedule.
    pub fn reasons(&self) -> ReasonGauge {
        self.reasons.clone()
    }

    /// The registry behind these families, for the `/metrics` route.
    pub fn registry(&self) -> Arc<Registry> {
        self.registry.clone()
    }

    /// The text exposition format.
    pub fn encode(&self) -> String {
        sse_runtime::metrics::encode(&self.registry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controller_runtime_names_are_exposed() {
        let m = Metrics::default();
        m.set_max_concurrent_reconciles(32);
        m.reconcile(false, Duration::from_millis(2));
        m.reconcile(true, Duration::from_millis(2));
        m.sync(Reason::ProviderError, Duration::from_millis(2));
        let text = m.encode();
        for needle in [
            "controller_runtime_reconcile_total{controller=\"secretsync\",result=\"success\"} 1",
            "controller_runtime_reconcile_total{controller=\"secretsync\",result=\"error\"} 1",
            "controller_runtime_reconcile_errors_total{controller=\"secretsync\"} 1",
            "controller_runtime_reconcile_time_seconds_count{controller=\"secretsync\"} 2",
            "controller_runtime_max_concurrent_reconciles{controller=\"secretsync\"} 32",
            "secretsync_syncs_total{reason=\"ProviderError\"} 1",
        ] {
            assert!(text.contains(needle), "{needle} missing in\n{text}");
        }
    }
}

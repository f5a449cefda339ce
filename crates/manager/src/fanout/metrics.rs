//! The fan-out's metrics, bounded labels only (no resource or namespace names: those are in the status and
//! the Events):
//!
//! * `secretsync_fanout_namespaces{state}`: namespaces of every ClusterSecretSync by state (`selected`,
//!   `synced`, `failed`, `pending`), summed over the resources;
//! * `secretsync_fanout_writes_total{result}`: what each namespace's write or leave did (`created`,
//!   `updated`, `metadata`, `unchanged`, `removed`, `failed`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use sse_api::cluster_secret_sync::NamespaceCounts;

use crate::outcome::Written;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabel {
    state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabel {
    result: &'static str,
}

/// The fan-out's metric families, cheap to clone.
#[derive(Clone, Default)]
pub struct FanoutMetrics {
    namespaces: Family<StateLabel, Gauge>,
    writes: Family<ResultLabel, Counter>,
    /// Each resource's last counts, by uid, so that the gauges are their sum.
    per_resource: Arc<Mutex<HashMap<String, NamespaceCounts>>>,
}

impl FanoutMetrics {
    /// Register under `registry` (the `secretsync_` prefix).
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self::default();
        for state in ["selected", "synced", "failed", "pending"] {
            metrics.namespaces.get_or_create(&StateLabel { state }).set(0);
        }
        registry.register(
            "fanout_namespaces",
            "Namespaces of every ClusterSecretSync, by state (selected, synced, failed, pending)",
            metrics.namespaces.clone(),
        );
        registry.register(
            "fanout_writes",
            "What a ClusterSecretSync's write to one namespace did (created, updated, metadata, unchanged, removed, failed)",
            metrics.writes.clone(),
        );
        metrics
    }

    /// A namespace's write ended so.
    pub fn written(&self, result: Result<Written, ()>) {
        let result = match result {
            Ok(Written::Created) => "created",
            Ok(Written::Updated | Written::Adopted) => "updated",
            Ok(Written::MetadataOnly) => "metadata",
            Ok(Written::Unchanged) => "unchanged",
            Err(()) => "failed",
        };
        self.writes.get_or_create(&ResultLabel { result }).inc();
    }

    /// A Secret was removed from a namespace that left.
    pub fn removed(&self, n: usize) {
        self.writes
            .get_or_create(&ResultLabel { result: "removed" })
            .inc_by(u64::try_from(n).unwrap_or(u64::MAX));
    }

    /// The resource `uid` now counts so (`None`: it is gone).
    pub fn counts(&self, uid: &str, counts: Option<NamespaceCounts>) {
        let mut per = self
            .per_resource
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match counts {
            Some(c) => per.insert(uid.to_string(), c),
            None => per.remove(uid),
        };
        let sum = |f: fn(&NamespaceCounts) -> u32| per.values().map(|c| i64::from(f(c))).sum::<i64>();
        let states: [(&'static str, i64); 4] = [
            ("selected", sum(|c| c.selected)),
            ("synced", sum(|c| c.synced)),
            ("failed", sum(|c| c.failed)),
            ("pending", sum(|c| c.pending)),
        ];
        for (state, n) in states {
            self.namespaces.get_or_create(&StateLabel { state }).set(n);
        }
    }
}

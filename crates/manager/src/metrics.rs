//! Prometheus metrics of the manager: syncs by reason, sync duration. Labels are bounded (reasons are a
//! closed set); no object names, no error text.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use sse_api::Reason;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: &'static str,
}

/// The manager's metric families, cheap to clone.
#[derive(Clone)]
pub struct Metrics {
    registry: Arc<Mutex<Registry>>,
    syncs: Family<ReasonLabel, Counter>,
    duration: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("secretsync");
        let syncs = Family::<ReasonLabel, Counter>::default();
        let duration = Histogram::new([0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0]);
        registry.register("syncs", "SecretSync syncs by resulting reason", syncs.clone());
        registry.register(
            "sync_duration_seconds",
            "Duration of a SecretSync sync (provider call, Secret and status writes)",
            duration.clone(),
        );
        Self {
            registry: Arc::new(Mutex::new(registry)),
            syncs,
            duration,
        }
    }
}

impl Metrics {
    /// Record one sync.
    pub fn sync(&self, reason: Reason, took: Duration) {
        self.syncs
            .get_or_create(&ReasonLabel {
                reason: reason.as_str(),
            })
            .inc();
        self.duration.observe(took.as_secs_f64());
    }

    /// The text exposition format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        let registry = self
            .registry
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let _ = prometheus_client::encoding::text::encode(&mut out, &registry);
        out
    }
}

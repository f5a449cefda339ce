//! Prometheus metrics of the provider.
//!
//! The upstream names are kept (`keyvault_request`, `grpc_request`, seconds histograms with the upstream
//! buckets) but labels are bounded: an HTTP status class or gRPC code, never error text or object names.

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::params::ObjectType;

const PACING_BUCKETS: [f64; 8] = [0.0, 0.01, 0.1, 0.5, 1.0, 5.0, 15.0, 60.0];

const BUCKETS: [f64; 14] = [
    0.1, 0.2, 0.3, 0.4, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 5.0, 10.0, 15.0, 30.0,
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KeyVaultLabels {
    provider: &'static str,
    object_type: &'static str,
    operation: &'static str,
    status: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct GrpcLabels {
    provider: &'static str,
    grpc_method: &'static str,
    grpc_code: String,
}

/// The provider's metric families, cheap to clone.
#[derive(Clone)]
pub struct Metrics {
    registry: Arc<Registry>,
    keyvault: Family<KeyVaultLabels, Histogram, fn() -> Histogram>,
    grpc: Family<GrpcLabels, Histogram, fn() -> Histogram>,
    paced: Histogram,
    fail_fast: prometheus_client::metrics::counter::Counter,
}

fn histogram() -> Histogram {
    Histogram::new(BUCKETS)
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let keyvault =
            Family::<KeyVaultLabels, Histogram, fn() -> Histogram>::new_with_constructor(histogram);
        let grpc = Family::<GrpcLabels, Histogram, fn() -> Histogram>::new_with_constructor(histogram);
        registry.register(
            "keyvault_request",
            "Duration of Key Vault requests in seconds",
            keyvault.clone(),
        );
        registry.register(
            "grpc_request",
            "Duration of gRPC requests in seconds",
            grpc.clone(),
        );
        let paced = Histogram::new(PACING_BUCKETS);
        registry.register(
            "keyvault_request_paced",
            "Time Key Vault requests waited for the vault's request budget, in seconds",
            paced.clone(),
        );
        let fail_fast = prometheus_client::metrics::counter::Counter::default();
        registry.register(
            "keyvault_request_failed_fast",
            "Key Vault requests not sent because their vault was failing (per-vault breaker open)",
            fail_fast.clone(),
        );
        Self {
            registry: Arc::new(registry),
            keyvault,
            grpc,
            paced,
            fail_fast,
        }
    }
}

impl Metrics {
    /// Record one Key Vault request.
    pub fn keyvault_request(
        &self,
        object_type: ObjectType,
        operation: &'static str,
        status: &'static str,
        took: Duration,
    ) {
        self.keyvault
            .get_or_create(&KeyVaultLabels {
                provider: "azure",
                object_type: object_type.as_str(),
                operation,
                status,
            })
            .observe(took.as_secs_f64());
    }

    /// A Key Vault request waited `wait` for its vault's budget.
    pub fn paced(&self, wait: Duration) {
        self.paced.observe(wait.as_secs_f64());
    }

    /// A Key Vault request failed fast (its vault's breaker was open).
    pub fn failed_fast(&self) {
        self.fail_fast.inc();
    }

    /// Record one gRPC request.
    pub fn grpc_request(&self, method: &'static str, code: tonic::Code, took: Duration) {
        self.grpc
            .get_or_create(&GrpcLabels {
                provider: "azure",
                grpc_method: method,
                grpc_code: format!("{code:?}"),
            })
            .observe(took.as_secs_f64());
    }

    /// The registry behind these families, for the `/metrics` route.
    pub fn registry(&self) -> Arc<Registry> {
        self.registry.clone()
    }
}

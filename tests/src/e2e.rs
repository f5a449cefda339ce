//! Tier 3 harness: the real-cluster suite's world (docs/TESTING.md#tier-3-real-api-server). The scenarios are
//! ordinary libtest tests in `tests/e2e.rs`, ignored by default and run by `cargo xtask e2e [FILTER]`, which
//! builds the binaries, points the tests at them and at the cluster, and stops every process they started
//! when the run ends.
//!
//! The world is made once per test process and shared: `deploy/` installed the way a user would (CRDs,
//! RBAC, admission policies; not the Deployment or cert-manager objects — pods never start), the Key Vault
//! emulator (in this process), `provider-azure` with mutual TLS, and one `manager` authenticated as its own
//! ServiceAccount through a TokenRequest kubeconfig, so RBAC and the admission policies apply to it. Each
//! scenario gets its own namespace. Scenarios that stop or replace the shared manager, or fault the whole
//! vault, run alone ([`Mode::Exclusive`]); the others run side by side. On failure the scenario's
//! SecretSyncs, Events and the manager log lines about its namespace are kept under
//! `$SSE_E2E_DIR/failed/<scenario>/`.
#![allow(clippy::missing_errors_doc, clippy::missing_panics_doc, clippy::print_stdout)]

use std::future::Future;
use std::pin::Pin;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::Result;

mod install;
mod kubectl;
mod process;
mod world;

pub use install::token_kubeconfig;
pub use kubectl::*;
pub use process::{Manager, rss_mib};
pub use world::World;

pub const SYSTEM_NS: &str = "azure-secret-store";
pub const MANAGER_SA: &str = "secrets-store-sync-controller-manager";
pub const LEASE: &str = "29f1d54e.secret-sync.x-k8s.io";
pub const TENANT: &str = "00000000-0000-0000-0000-000000000001";
pub const CLIENT_ID: &str = "e2e-client";
pub const AUDIENCE: &str = provider_proto::contract::WORKLOAD_IDENTITY_AUDIENCE;
pub const VAULT: &str = "e2e-kv";
pub const SA: &str = "app-sa";
/// The shared manager's poll interval.
pub const POLL_SECONDS: u64 = 20;
/// Longest a scenario may run at the default scale ([`scaled`] stretches it for a larger fleet).
const SCENARIO_TIMEOUT: Duration = Duration::from_secs(600);
/// Environment: how many SecretSyncs the scale scenarios create (default 200).
pub const ENV_SYNCS: &str = "SSE_E2E_SYNCS";

/// The number of SecretSyncs the scale scenarios create (`$SSE_E2E_SYNCS`, default 200).
pub fn scale() -> usize {
    std::env::var(ENV_SYNCS)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200)
}

/// Environment: `1` makes the scale scenarios' SecretSyncs shaped (a template of three keys; docs/SHAPING.md), to
/// measure the manager's memory with shapes in its cache.
pub const ENV_SHAPED: &str = "SSE_E2E_SHAPED";

/// Whether the scale scenarios' SecretSyncs are shaped (`$SSE_E2E_SHAPED=1`).
pub fn shaped() -> bool {
    std::env::var(ENV_SHAPED).is_ok_and(|v| v == "1")
}

/// The `template:` of a shaped scale-scenario SecretSync over the value `k`, indented under `secretObject:`.
pub const SCALE_TEMPLATE: &str = "    template:\n      mergePolicy: Merge\n      data:\n      - {targetKey: k64, text: '{{ .k | b64enc }}'}\n      - {targetKey: app.env, format: env, keys: [k]}\n      - targetKey: config.yaml\n        text: |\n          value: {{ .k | quote }}\n          checksum: {{ .k | sha256sum | trunc 12 }}\n";

/// A bound sized for 10,000 SecretSyncs, stretched in proportion for a larger `$SSE_E2E_SYNCS`: every
/// wait stays bounded, and a run at 100,000 is not cut short by limits made for the default scale.
pub fn scaled(limit: Duration) -> Duration {
    let factor = scale().div_ceil(10_000).max(1);
    limit * u32::try_from(factor).unwrap_or(u32::MAX)
}

/// Environment `cargo xtask e2e` sets for the test process.
pub const ENV_KUBECONFIG: &str = "SSE_E2E_KUBECONFIG";
pub const ENV_DIR: &str = "SSE_E2E_DIR";
pub const ENV_MANAGER_BIN: &str = "SSE_E2E_MANAGER_BIN";
pub const ENV_PROVIDER_BIN: &str = "SSE_E2E_PROVIDER_BIN";
pub const ENV_DEPLOY: &str = "SSE_E2E_DEPLOY";
/// File in `$SSE_E2E_DIR` listing the pid of every process the tests started, for xtask to stop.
pub const PIDS_FILE: &str = "pids";

/// Whether a scenario may share the cluster with others.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Runs beside other scenarios.
    Shared,
    /// Runs alone: it stops or replaces the shared manager, or faults the whole vault.
    Exclusive,
}

/// A scenario body.
pub type Scenario = for<'a> fn(&'a World, &'a str) -> Pin<Box<dyn Future<Output = Result<()>> + 'a>>;

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("tokio runtime")
    })
}

fn world() -> &'static Result<World, String> {
    static WORLD: OnceLock<Result<World, String>> = OnceLock::new();
    WORLD.get_or_init(|| runtime().block_on(World::setup()).map_err(|e| format!("{e:#}")))
}

/// Run one scenario in a namespace of its own; panic with the cause (and where the logs were kept).
pub fn run(name: &str, mode: Mode, scenario: Scenario) {
    let w = match world() {
        Ok(w) => w,
        Err(e) => panic!("tier-3 world could not be set up: {e}"),
    };
    let result = runtime().block_on(async {
        let (_shared, _exclusive) = match mode {
            Mode::Shared => (Some(w.gate.read().await), None),
            Mode::Exclusive => (None, Some(w.gate.write().await)),
        };
        let ns = w.namespace(name).await?;
        let mark = w.manager_log_len();
        let started = Instant::now();
        let outcome = match tokio::time::timeout(scaled(SCENARIO_TIMEOUT), scenario(w, &ns)).await {
            Ok(outcome) => outcome,
            Err(_) => Err(anyhow::anyhow!(
                "scenario did not finish within {:?}",
                scaled(SCENARIO_TIMEOUT)
            )),
        };
        let outcome = match outcome {
            Ok(()) => {
                println!("ok   {name} ({:.1} s)", started.elapsed().as_secs_f64());
                Ok(())
            }
            Err(e) => {
                let kept = w.keep_logs(name, &ns, mark).await;
                Err(e.context(format!("logs kept in {}", kept.display())))
            }
        };
        // The namespace controller empties a namespace at a few hundred objects a minute, and every manager
        // started meanwhile caches the leftovers (seen: 5,558 SecretSyncs of a 10,000 scenario still there
        // ten minutes on, in the next scenario's memory figures). One deletecollection per kind first.
        for collection in [
            format!("/apis/secret-sync.x-k8s.io/v1alpha1/namespaces/{ns}/secretsyncs"),
            format!("/apis/secrets-store.csi.x-k8s.io/v1/namespaces/{ns}/secretproviderclasses"),
            format!("/api/v1/namespaces/{ns}/secrets"),
        ] {
            let _ = w.k.run(&["delete", "--raw", &collection], None).await;
        }
        let _ = w.k.run(&["delete", "namespace", &ns, "--wait=false"], None).await;
        outcome
    });
    if let Err(e) = result {
        panic!("{name}: {e:#}");
    }
}

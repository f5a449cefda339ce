//! `kubectl sse doctor NAME`: the troubleshooting table and runbook of the original's documentation, run as
//! checks against one SecretSync, each with a verdict and the exact command that fixes it.
//!
//! The doctor reads (never writes) what a person would look at: the SecretSync and its status, its
//! SecretProviderClass, its ServiceAccount, the cluster's token issuer, the token audience the admission
//! policy allows, the SSE-rs pod, a same-named Secret's *metadata* (who owns it, never what it holds) and the
//! SecretSync's Events, and the leader's note on the stream of the vault's events (the leader-election
//! Lease, with the last `EventStreamFailed` Event). What it cannot read with the caller's rights is a
//! `skip`, not a failure. The provider's last Key Vault error, as the manager recorded it in the `Ready` condition, is classified by its
//! gRPC status code and Key Vault's own error code (DNS, firewall or private link, Entra, missing role or
//! access policy, not found, disabled) and an object's expiry comes from `status.validity`.
//!
//! Four stages, one module each:
//! * `gather` is the only I/O: it reads the cluster into [`Facts`], a plain record of what was read;
//! * `failure` reads the recorded failure back into its parts (reason, gRPC code, Key Vault's answer);
//! * `checks` ([`diagnose`]) are pure functions of the [`Facts`], so each check is tested on the statuses the
//!   manager really writes (tier 2, against the emulator's faults);
//! * `render` ([`render`]) prints the checklist or the checks as JSON / YAML.

mod checks;
mod facts;
mod failure;
mod gather;
mod render;
#[cfg(test)]
mod tests;

use anyhow::Result;

use crate::cli::{Output, Target};

pub(crate) use checks::first_line;
pub use checks::{Check, Verdict, diagnose};
pub use facts::{ContainerFacts, EventFacts, Facts, Lookup};
pub use gather::gather;
pub use render::render;

/// The audience Azure workload identity federation needs in the ServiceAccount token.
const AZURE_AUDIENCE: &str = provider_proto::contract::WORKLOAD_IDENTITY_AUDIENCE;
/// The ConfigMap both the manager and the token admission policy read the allowed audiences from.
const AUDIENCE_CONFIGMAP: &str = "secrets-store-sync-controller-token-audience";
/// The SSE-rs pod's label.
const POD_SELECTOR: &str = "app=secrets-store-sync-controller";
/// The provider's container.
const PROVIDER_CONTAINER: &str = "provider-azure-installer";
/// The manager's Deployment and ServiceAccount (Events about the stream of the vault's events regard the
/// Deployment; workload identity federates the ServiceAccount).
const MANAGER_NAME: &str = "secrets-store-sync-controller-manager";
/// The ConfigMap of deploy/components/events: where the stream is read, and the manager's identity.
const EVENTS_CONFIGMAP: &str = "secrets-store-sync-controller-events";

/// `kubectl sse doctor` arguments.
#[derive(clap::Args, Debug)]
pub struct DoctorArgs {
    /// The SecretSync.
    pub name: String,
    /// The namespace SSE-rs is installed in (its pod and its token-audience ConfigMap).
    #[arg(long, default_value = "azure-secret-store")]
    pub install_namespace: String,
    /// Output format: the checklist (table, wide), or json / yaml for machines.
    #[arg(short, long, value_enum, default_value_t)]
    pub output: Output,
}

/// Run `doctor`: exit 0 when nothing failed, [`crate::EXIT_NOT_READY`] when a check failed.
pub async fn run(target: &Target, args: &DoctorArgs) -> Result<u8> {
    let Some(namespace) = &target.namespace else {
        anyhow::bail!("doctor needs a namespace: use -n");
    };
    let facts = gather(&target.client, namespace, &args.name, &args.install_namespace).await;
    let checks = diagnose(&facts);
    print!("{}", render(&facts, &checks, args.output)?);
    let failed = checks.iter().any(|c| c.verdict == Verdict::Fail);
    Ok(if failed { crate::EXIT_NOT_READY } else { 0 })
}

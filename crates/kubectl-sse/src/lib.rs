//! `kubectl sse`, the SSE-rs kubectl plugin: what an operator asks when a secret is stale or missing,
//! answered from the SecretSync's status (never from a Secret: no value is read or printed).
//!
//! * `kubectl sse status [NAME]`: per SecretSync, when the vault was last checked, when the Secret last
//!   changed, the next check, the reason, failing since; `--cluster [NAME]`: per ClusterSecretSync, the same
//!   times and its namespaces counted, with the failing ones its status lists.
//! * `kubectl sse sync NAME|--all`: check the vault now (the `sse-rs.io/force-sync` annotation) and wait
//!   until the manager has answered.
//! * `kubectl sse adopt NAME`: hand a Secret marked `sse-rs.io/adoptable=true` over to the SecretSync of
//!   the same name with your own rights (where the API server does not let the manager set owner
//!   references), then check the vault.
//! * `kubectl sse doctor NAME`: the troubleshooting table and runbook as checks, each with a verdict and the
//!   exact command that fixes it (exit 2 when a check failed).
//! * `kubectl sse migrate [NAME] [-f FILE]`: the SecretProviderClass + SecretSync manifests equivalent to
//!   ESO `ExternalSecret`s (provider `azurekv`) or to CSI `SecretProviderClass.spec.secretObjects`, with
//!   what cannot be carried over and why (no Secret is read).
//! * `kubectl sse render [NAME] [-f FILE] --values SAMPLES`: a SecretSync's Secret shaped from sample values,
//!   without a vault (values shown only with `--show-values`).
//!
//! Exit codes follow kubectl: 0 done, 1 an error (the API server, a name not found, a timeout); `sync` and
//! `adopt` exit 2 when they worked but a SecretSync they checked is not Ready (`status` reports, and exits 0);
//! `migrate` exits 2 when something could not be carried over, `render` when the shape failed.

#![allow(
    clippy::print_stdout,
    reason = "a command-line tool: its answer is its standard output"
)]

pub mod adopt;
pub mod cli;
pub mod command;
pub mod doctor;
pub mod migrate;
pub mod render;
pub mod status;
pub mod status_cluster;
pub mod sync;
pub mod vault_events;

/// Exit code: the command worked but a SecretSync is not Ready.
pub const EXIT_NOT_READY: u8 = 2;

/// Exit code of `migrate`: the manifests were printed, but something could not be carried over (the notes
/// say what and why).
pub const EXIT_PARTIAL: u8 = 2;

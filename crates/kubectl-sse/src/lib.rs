//! `kubectl sse`, the SSE-rs kubectl plugin: what an operator asks when a secret is stale or missing,
//! answered from the SecretSync's status (never from a Secret: no value is read or printed).
//!
//! * `kubectl sse status [NAME]`: per SecretSync, when the vault was last checked, when the Secret last
//!   changed, the next check, the reason, failing since.
//! * `kubectl sse sync NAME|--all`: check the vault now (the `sse-rs.io/force-sync` annotation) and wait
//!   until the manager has answered.
//! * `kubectl sse adopt NAME`: hand a Secret marked `sse-rs.io/adoptable=true` over to the SecretSync of
//!   the same name with your own rights (where the API server does not let the manager set owner
//!   references), then check the vault.
//!
//! Exit codes follow kubectl: 0 done, 1 an error (the API server, a name not found, a timeout); `sync` and
//! `adopt` exit 2 when they worked but a SecretSync they checked is not Ready (`status` reports, and exits 0).

#![allow(
    clippy::print_stdout,
    reason = "a command-line tool: its answer is its standard output"
)]

pub mod adopt;
pub mod cli;
pub mod status;
pub mod sync;

/// Exit code: the command worked but a SecretSync is not Ready.
pub const EXIT_NOT_READY: u8 = 2;

//! `manager`: the SecretSync controller.
//!
//! ```text
//!  watches (SecretSync, SecretProviderClass[, owned Secret metadata]) ─▶ controller ─▶ reconcile
//!        reconcile: validate ─▶ provider (change detection, Mount over mTLS) ─▶ mapping ─▶ hash ─▶ secret (guarded SSA) ─▶ status
//! ```
//!
//! [`controller`] decides when a reconcile runs, [`reconcile`] whether a sync is due and what comes of it
//! ([`schedule`] for timing, [`sync`] for the sync itself, [`changes`] for what makes a check quiet, [`status`]
//! for the conditions); [`cluster`] is the only door to the API server for requests, of both controllers and
//! the leader election, and of [`fanout`], which writes one ClusterSecretSync's Secret to every namespace it
//! selects (the watches feeding the controllers are kube-runtime's; with an in-memory double in
//! [`fake`] for tests); [`render`] runs one sync without a cluster.

pub mod admin;
pub mod akvsync;
pub mod args;
pub mod changes;
pub mod classes;
pub mod clock;
pub mod cluster;
pub mod context;
pub mod controller;
pub mod error;
pub mod expiry;
#[cfg(any(test, feature = "test-util"))]
pub mod fake;
pub mod fanout;
pub mod hash;
pub mod leader;
pub mod mapping;
pub mod metrics;
pub mod outcome;
pub mod provider;
pub mod reconcile;

pub mod reload;
pub mod render;
pub mod run;
pub mod schedule;
pub mod scope;
pub mod secret;
pub mod slots;
pub mod status;
pub mod sync;
pub mod tags;
pub mod tokens;
pub mod vault_events;
pub mod workload;

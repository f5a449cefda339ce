//! What the doctor read, as plain data: no I/O here, so every check runs on facts a test writes by hand.

use sse_api::{SecretProviderClass, SecretSync};

use crate::vault_events::LeaseNote;

/// The result of reading one thing: there, absent, or not readable with the caller's rights.
#[derive(Debug, Clone)]
pub enum Lookup<T> {
    /// Read.
    Found(T),
    /// The API server answered 404.
    Missing,
    /// Not readable: why (usually 403 for the caller).
    Unreadable(String),
}

/// One container of the SSE-rs pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerFacts {
    /// Pod name.
    pub pod: String,
    /// Container name.
    pub name: String,
    /// Its image (the version).
    pub image: String,
    /// Whether it is ready.
    pub ready: bool,
    /// Restarts.
    pub restarts: i32,
}

/// One Event about the SecretSync.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventFacts {
    /// `Normal` or `Warning`.
    pub type_: String,
    /// Reason.
    pub reason: String,
    /// Note.
    pub message: String,
    /// How many times.
    pub count: i32,
}

/// Everything the doctor read.
#[derive(Debug, Clone)]
pub struct Facts {
    /// The SecretSync's namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// The SecretSync.
    pub sync: Lookup<SecretSync>,
    /// Its SecretProviderClass.
    pub class: Lookup<SecretProviderClass>,
    /// Its ServiceAccount (exists or not).
    pub service_account: Lookup<()>,
    /// The cluster's ServiceAccount token issuer (`/.well-known/openid-configuration`).
    pub issuer: Lookup<String>,
    /// The audiences the token admission policy allows (the shared ConfigMap's value).
    pub allowed_audiences: Lookup<Vec<String>>,
    /// The same-named Secret's metadata.
    pub secret: Lookup<kube::api::ObjectMeta>,
    /// The SSE-rs pod's containers.
    pub containers: Lookup<Vec<ContainerFacts>>,
    /// Events about the SecretSync, latest last.
    pub events: Lookup<Vec<EventFacts>>,
    /// The leader-election Lease and its note on the stream of the vault's events.
    pub event_stream: Lookup<LeaseNote>,
    /// `EventStreamFailed` Events about the manager's Deployment, latest last (read only when the Lease
    /// carries a note).
    pub event_stream_failures: Lookup<Vec<EventFacts>>,
}

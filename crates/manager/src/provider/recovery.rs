//! Noticing at once that a provider is back.
//!
//! The provider runs beside the manager in the same pod; when it dies, its container restarts within
//! seconds, often leaving its old socket file behind until the new process replaces it. Every SecretSync
//! whose check failed meanwhile retries on its own exponential backoff — after a 30 s outage, its next
//! attempt may be 20 s or more away, long after the provider answers again. So the manager watches instead:
//! a provider that could not be reached is probed (its socket, then a `Version` call, which reads nothing)
//! every [`PROBE_EVERY`] until it answers, and then [`ProviderHealth::recovered`] changes; the controller
//! retries at once the SecretSyncs whose last check failed on the provider. A probe costs a local
//! connection attempt: no API-server or Key Vault request, however many SecretSyncs wait.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use provider_proto::v1alpha1::VersionRequest;
use provider_proto::v1alpha1::csi_driver_provider_client::CsiDriverProviderClient;
use tokio_util::sync::CancellationToken;

use super::{ProviderClients, ProviderError};

/// How often a provider that could not be reached is probed.
pub const PROBE_EVERY: Duration = Duration::from_millis(500);
/// Longest wait for one probe's answer.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// Which providers could not be reached, and a generation that moves each time one answers again.
pub struct ProviderHealth {
    down: Mutex<HashSet<String>>,
    recovered: tokio::sync::watch::Sender<u64>,
}

impl Default for ProviderHealth {
    fn default() -> Self {
        Self {
            down: Mutex::default(),
            recovered: tokio::sync::watch::Sender::new(0),
        }
    }
}

impl ProviderHealth {
    /// Record the outcome of a call to `provider`: unreachable marks it down; any answer from it (even an
    /// error it sent) marks it up.
    pub fn record<T>(&self, provider: &str, result: &Result<T, ProviderError>) {
        match result {
            Err(error) if unreachable(error) => {
                if lock(&self.down).insert(provider.to_string()) {
                    tracing::warn!(provider, %error, "provider unreachable: probing it until it answers");
                }
            }
            Err(ProviderError::InvalidName(_) | ProviderError::NoClientCertificate(_)) => {}
            _ => self.reached(provider),
        }
    }

    /// `provider` answered: if it was down, say so to the subscribers.
    fn reached(&self, provider: &str) {
        if lock(&self.down).remove(provider) {
            tracing::info!(
                provider,
                "provider answers again: retrying the SecretSyncs that failed on it"
            );
            self.recovered.send_modify(|g| *g = g.wrapping_add(1));
        }
    }

    /// Providers currently down.
    pub fn down(&self) -> Vec<String> {
        lock(&self.down).iter().cloned().collect()
    }

    /// Changes each time a provider that was down answers again.
    pub fn recovered(&self) -> tokio::sync::watch::Receiver<u64> {
        self.recovered.subscribe()
    }
}

/// An error that says the provider could not be reached at all: no socket, or nothing answering on it (a
/// stale socket file), or the connection broke. Not an `UNAVAILABLE` the provider itself answered (Key
/// Vault away): marking it down then would have the next probe "bring it back" and retry every failing
/// SecretSync at once, every probe, for as long as the vault is away.
fn unreachable(error: &ProviderError) -> bool {
    matches!(
        error,
        ProviderError::NotFound(_) | ProviderError::Unreachable { .. }
    )
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl ProviderClients {
    /// Probe every provider that could not be reached, every [`PROBE_EVERY`], until `shutdown`.
    pub fn spawn_recovery_probe(self: &Arc<Self>, shutdown: CancellationToken) {
        let this = Arc::clone(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(PROBE_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    _ = tick.tick() => {}
                }
                for provider in this.health().down() {
                    let answer = this.probe(&provider).await;
                    this.health().record(&provider, &answer);
                }
            }
        });
    }

    /// One `Version` call to `provider`, outside the Mount limit (it must get through while Mounts queue).
    async fn probe(&self, provider: &str) -> Result<(), ProviderError> {
        let channel = self.channel(provider)?;
        let mut request = tonic::Request::new(VersionRequest {
            version: "v1alpha1".into(),
        });
        request.set_timeout(PROBE_TIMEOUT);
        let mut client = CsiDriverProviderClient::new(channel);
        match tokio::time::timeout(PROBE_TIMEOUT, client.version(request)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(status)) => Err(status.into()),
            Err(_) => Err(ProviderError::Unreachable {
                code: tonic::Code::Unavailable,
                message: format!("no answer to a probe within {PROBE_TIMEOUT:?}"),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_unreachable_provider_is_down_and_any_answer_brings_it_back() {
        let health = ProviderHealth::default();
        let mut recovered = health.recovered();
        let refused: Result<(), _> = Err(ProviderError::Unreachable {
            code: tonic::Code::Unavailable,
            message: "connection refused".into(),
        });
        health.record("azure", &refused);
        health.record("azure", &refused);
        assert_eq!(health.down(), ["azure"]);
        assert!(!recovered.has_changed().unwrap_or(true));
        // An error the provider itself sent is an answer, UNAVAILABLE (its vault away) included: it is up.
        let vault_away: Result<(), _> = Err(ProviderError::Rpc {
            code: tonic::Code::Unavailable,
            message: "failed to mount objects, error: 503".into(),
        });
        health.record("azure", &vault_away);
        assert!(health.down().is_empty());
        assert!(recovered.has_changed().unwrap_or(false), "subscribers are told");
        recovered.mark_unchanged();
        health.record("azure", &vault_away);
        assert!(
            !recovered.has_changed().unwrap_or(true),
            "a provider up stays up: no retry storm"
        );
        health.record("azure", &refused);
        let answered: Result<(), _> = Err(ProviderError::Rpc {
            code: tonic::Code::PermissionDenied,
            message: "403".into(),
        });
        health.record("azure", &answered);
        assert!(health.down().is_empty());
        assert!(recovered.has_changed().unwrap_or(false), "subscribers are told");
        recovered.mark_unchanged();
        health.record("azure", &Ok::<(), ProviderError>(()));
        assert!(!recovered.has_changed().unwrap_or(true), "once");
    }
}

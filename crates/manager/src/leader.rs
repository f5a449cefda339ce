//! Leader election on a `coordination.k8s.io/v1` Lease (SPEC §6.3: `29f1d54e.secret-sync.x-k8s.io`,
//! 15 s lease, renewed every 2 s). Only the holder runs the controller; a holder that cannot renew within
//! the lease duration stops (fail-stop), so two managers never write at once.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::Client;
use kube::api::{Api, PostParams};
use tokio_util::sync::CancellationToken;

const LEASE_SECONDS: i32 = 15;
const RETRY: Duration = Duration::from_secs(2);
/// One renewal attempt may take this long (kube's client has no read timeout of its own).
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(3);
/// Stop leading when the last successful renewal is older than this (well inside the lease duration, so a
/// successor that takes over an expired lease never overlaps with us).
const RENEW_DEADLINE: Duration = Duration::from_secs(10);

/// Held while this process leads.
pub struct Leadership {
    /// Cancelled when the lease is lost (another holder, or renewals failing past the deadline).
    pub lost: CancellationToken,
    renewer: tokio::task::JoinHandle<()>,
    api: Api<Lease>,
    name: String,
    identity: String,
}

/// Block until this process holds the Lease; `None` when `shutdown` comes first. Then keep renewing it in
/// the background.
pub async fn acquire(
    client: Client,
    namespace: &str,
    name: &str,
    identity: &str,
    shutdown: CancellationToken,
) -> Option<Leadership> {
    let api: Api<Lease> = Api::namespaced(client, namespace);
    loop {
        if shutdown.is_cancelled() {
            return None;
        }
        match tokio::time::timeout(ATTEMPT_TIMEOUT, try_acquire(&api, name, identity)).await {
            Ok(Ok(true)) => break,
            Ok(Ok(false)) => {}
            Ok(Err(error)) => tracing::warn!(%error, "leader election: lease unavailable"),
            Err(_) => tracing::warn!("leader election: the API server did not answer in time"),
        }
        tokio::select! {
            () = shutdown.cancelled() => return None,
            () = tokio::time::sleep(RETRY) => {}
        }
    }
    tracing::info!(lease = name, namespace, identity, "became leader");
    let lost = CancellationToken::new();
    let (api2, name2, identity2, lost2) = (api.clone(), name.to_string(), identity.to_string(), lost.clone());
    let renewer = tokio::spawn(async move {
        let mut last_renewed = tokio::time::Instant::now();
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(RETRY) => {}
            }
            match tokio::time::timeout(ATTEMPT_TIMEOUT, try_acquire(&api2, &name2, &identity2)).await {
                Ok(Ok(true)) => last_renewed = tokio::time::Instant::now(),
                Ok(Ok(false)) => {
                    tracing::error!("leader election: another holder took the lease");
                    lost2.cancel();
                    return;
                }
                Ok(Err(error)) => tracing::warn!(%error, "leader election: renewal failed"),
                Err(_) => tracing::warn!("leader election: renewal timed out"),
            }
            if last_renewed.elapsed() > RENEW_DEADLINE {
                tracing::error!("leader election: could not renew within {RENEW_DEADLINE:?}");
                lost2.cancel();
                return;
            }
        }
    });
    Some(Leadership {
        lost,
        renewer,
        api,
        name: name.to_string(),
        identity: identity.to_string(),
    })
}

impl Leadership {
    /// After in-flight reconciles finished: stop renewing, then give the Lease up so a successor takes
    /// over at once instead of waiting for it to expire. Best effort: an expired lease is taken anyway.
    pub async fn release(self) {
        // The renewer stops on shutdown; wait for it, so no renewal can land after the release.
        let _ = self.renewer.await;
        if self.lost.is_cancelled() {
            return;
        }
        let Ok(Ok(Some(mut lease))) =
            tokio::time::timeout(ATTEMPT_TIMEOUT, self.api.get_opt(&self.name)).await
        else {
            return;
        };
        let Some(spec) = lease.spec.as_mut() else { return };
        if spec.holder_identity.as_deref() != Some(self.identity.as_str()) {
            return;
        }
        let now = MicroTime(Timestamp::now());
        spec.holder_identity = None;
        spec.lease_duration_seconds = Some(1);
        spec.renew_time = Some(now.clone());
        spec.acquire_time = Some(now);
        match tokio::time::timeout(
            ATTEMPT_TIMEOUT,
            self.api.replace(&self.name, &PostParams::default(), &lease),
        )
        .await
        {
            Ok(Ok(_)) => tracing::info!(lease = %self.name, "released the lease"),
            _ => tracing::warn!("could not release the lease; it will expire"),
        }
    }
}

/// Take or renew the lease; `Ok(false)` when someone else validly holds it.
async fn try_acquire(api: &Api<Lease>, name: &str, identity: &str) -> Result<bool, kube::Error> {
    let now = Timestamp::now();
    let spec = |transitions: i32, acquired: Option<MicroTime>| LeaseSpec {
        holder_identity: Some(identity.to_string()),
        lease_duration_seconds: Some(LEASE_SECONDS),
        acquire_time: acquired.or(Some(MicroTime(now))),
        renew_time: Some(MicroTime(now)),
        lease_transitions: Some(transitions),
        ..LeaseSpec::default()
    };
    match api.get_opt(name).await? {
        None => {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(name.to_string()),
                    ..ObjectMeta::default()
                },
                spec: Some(spec(0, None)),
            };
            match api.create(&PostParams::default(), &lease).await {
                Ok(_) => Ok(true),
                Err(kube::Error::Api(e)) if e.code == 409 => Ok(false),
                Err(e) => Err(e),
            }
        }
        Some(mut lease) => {
            let current = lease.spec.clone().unwrap_or_default();
            let ours = current.holder_identity.as_deref() == Some(identity);
            let expired = current.renew_time.as_ref().is_none_or(|t| {
                let duration = SignedDuration::from_secs(i64::from(
                    current.lease_duration_seconds.unwrap_or(LEASE_SECONDS),
                ));
                t.0.checked_add(duration).map_or(true, |deadline| deadline < now)
            });
            if !ours && !expired {
                return Ok(false);
            }
            let transitions = current.lease_transitions.unwrap_or(0) + i32::from(!ours);
            lease.spec = Some(spec(transitions, if ours { current.acquire_time } else { None }));
            match api.replace(name, &PostParams::default(), &lease).await {
                Ok(_) => Ok(true),
                Err(kube::Error::Api(e)) if e.code == 409 => Ok(false),
                Err(e) => Err(e),
            }
        }
    }
}

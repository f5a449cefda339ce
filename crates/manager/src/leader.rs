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

/// Block until this process holds the Lease (or `shutdown`); then keep renewing it in the background and
/// cancel `lost` if it cannot.
pub async fn acquire(
    client: Client,
    namespace: &str,
    name: &str,
    identity: &str,
    shutdown: CancellationToken,
) -> anyhow::Result<CancellationToken> {
    let api: Api<Lease> = Api::namespaced(client, namespace);
    loop {
        if shutdown.is_cancelled() {
            anyhow::bail!("shutting down before acquiring the lease");
        }
        match try_acquire(&api, name, identity).await {
            Ok(true) => break,
            Ok(false) => {}
            Err(error) => tracing::warn!(%error, "leader election: lease unavailable"),
        }
        tokio::select! {
            () = shutdown.cancelled() => anyhow::bail!("shutting down before acquiring the lease"),
            () = tokio::time::sleep(RETRY) => {}
        }
    }
    tracing::info!(lease = name, namespace, identity, "became leader");
    let lost = CancellationToken::new();
    let (api2, name2, identity2, lost2) = (api.clone(), name.to_string(), identity.to_string(), lost.clone());
    tokio::spawn(async move {
        let mut last_renewed = tokio::time::Instant::now();
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(RETRY) => {}
            }
            match try_acquire(&api2, &name2, &identity2).await {
                Ok(true) => last_renewed = tokio::time::Instant::now(),
                Ok(false) => {
                    tracing::error!("leader election: another holder took the lease");
                    lost2.cancel();
                    return;
                }
                Err(error) => {
                    tracing::warn!(%error, "leader election: renewal failed");
                    if last_renewed.elapsed()
                        > Duration::from_secs(u64::try_from(LEASE_SECONDS - 5).unwrap_or(10))
                    {
                        lost2.cancel();
                        return;
                    }
                }
            }
        }
    });
    Ok(lost)
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

/// Give the Lease up (after in-flight reconciles finished), so a successor takes over at once instead of
/// waiting for it to expire. Best effort: an expired lease is taken over anyway.
pub async fn release(client: Client, namespace: &str, name: &str, identity: &str) {
    let api: Api<Lease> = Api::namespaced(client, namespace);
    let Ok(Some(mut lease)) = api.get_opt(name).await else {
        return;
    };
    let Some(spec) = lease.spec.as_mut() else { return };
    if spec.holder_identity.as_deref() != Some(identity) {
        return;
    }
    let now = MicroTime(Timestamp::now());
    spec.holder_identity = None;
    spec.lease_duration_seconds = Some(1);
    spec.renew_time = Some(now.clone());
    spec.acquire_time = Some(now);
    match api.replace(name, &PostParams::default(), &lease).await {
        Ok(_) => tracing::info!(lease = name, "released the lease"),
        Err(error) => tracing::warn!(%error, "could not release the lease; it will expire"),
    }
}

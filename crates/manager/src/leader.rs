//! Leader election on a `coordination.k8s.io/v1` Lease (docs/API.md#leader-election:
//! `29f1d54e.secret-sync.x-k8s.io`, 15 s lease, renewed every 2 s). Only the holder runs the controller. A
//! holder that finds another holder, or cannot renew within the renew deadline (10 s, inside the lease
//! duration), cancels [`Leadership::lost`]: the caller ends that term of leadership, stops every reconcile,
//! and campaigns again (`run.rs`), so two managers never write at once and the process is not restarted.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use tokio_util::sync::CancellationToken;

use crate::cluster::{Cluster, ClusterError};

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
    lease: LeaseRef,
}

/// Block until this process holds the Lease; `None` when `shutdown` comes first. Then keep renewing it in
/// the background.
pub async fn acquire(
    cluster: Arc<dyn Cluster>,
    namespace: &str,
    name: &str,
    identity: &str,
    notes: Notes,
    shutdown: CancellationToken,
) -> Option<Leadership> {
    let lease = LeaseRef {
        cluster,
        namespace: namespace.to_string(),
        name: name.to_string(),
        identity: identity.to_string(),
        notes,
    };
    loop {
        if shutdown.is_cancelled() {
            return None;
        }
        match tokio::time::timeout(ATTEMPT_TIMEOUT, lease.try_acquire()).await {
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
    let (lost2, renewing) = (lost.clone(), lease.clone());
    let renewer = tokio::spawn(async move {
        let lease = renewing;
        let mut last_renewed = tokio::time::Instant::now();
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(RETRY) => {}
            }
            match tokio::time::timeout(ATTEMPT_TIMEOUT, lease.try_acquire()).await {
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
    Some(Leadership { lost, renewer, lease })
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
        let LeaseRef {
            cluster,
            namespace,
            name,
            identity,
            ..
        } = &self.lease;
        let Ok(Ok(Some(mut lease))) =
            tokio::time::timeout(ATTEMPT_TIMEOUT, cluster.lease(namespace, name)).await
        else {
            return;
        };
        let Some(spec) = lease.spec.as_mut() else { return };
        if spec.holder_identity.as_deref() != Some(identity.as_str()) {
            return;
        }
        let now = MicroTime(Timestamp::now());
        spec.holder_identity = None;
        spec.lease_duration_seconds = Some(1);
        spec.renew_time = Some(now.clone());
        spec.acquire_time = Some(now);
        match tokio::time::timeout(ATTEMPT_TIMEOUT, cluster.replace_lease(namespace, &lease)).await {
            Ok(Ok(_)) => tracing::info!(lease = %name, "released the lease"),
            _ => tracing::warn!("could not release the lease; it will expire"),
        }
    }
}

/// The Lease one process campaigns for.
/// Annotations the holder keeps on the Lease, read at each write (which renewals make anyway): what the
/// leader wants operators to see, such as where the vault's event stream stands.
pub type Notes = Arc<dyn Fn() -> std::collections::BTreeMap<String, String> + Send + Sync>;

/// No notes.
pub fn no_notes() -> Notes {
    Arc::new(std::collections::BTreeMap::new)
}

#[derive(Clone)]
struct LeaseRef {
    cluster: Arc<dyn Cluster>,
    namespace: String,
    name: String,
    identity: String,
    notes: Notes,
}

impl LeaseRef {
    /// Our notes on the Lease as they are now: ours set, our stale ones (`sse-rs.io/…`) removed.
    fn annotate(&self, metadata: &mut ObjectMeta) {
        let notes = (self.notes)();
        let annotations = metadata.annotations.get_or_insert_with(Default::default);
        annotations
            .retain(|key, _| !key.starts_with(sse_api::consts::ANNOTATION_PREFIX) || notes.contains_key(key));
        annotations.extend(notes);
        if annotations.is_empty() {
            metadata.annotations = None;
        }
    }

    /// Take or renew the lease; `Ok(false)` when someone else validly holds it (or took it between our
    /// read and our write: the API server answers 409 to a create of an existing Lease and to a replace
    /// pinned to a stale resourceVersion).
    async fn try_acquire(&self) -> Result<bool, ClusterError> {
        let (identity, now) = (self.identity.as_str(), Timestamp::now());
        let spec = |transitions: i32, acquired: Option<MicroTime>| LeaseSpec {
            holder_identity: Some(identity.to_string()),
            lease_duration_seconds: Some(LEASE_SECONDS),
            acquire_time: acquired.or(Some(MicroTime(now))),
            renew_time: Some(MicroTime(now)),
            lease_transitions: Some(transitions),
            ..LeaseSpec::default()
        };
        let written = match self.cluster.lease(&self.namespace, &self.name).await? {
            None => {
                let lease = Lease {
                    metadata: ObjectMeta {
                        name: Some(self.name.clone()),
                        namespace: Some(self.namespace.clone()),
                        annotations: Some((self.notes)()).filter(|n| !n.is_empty()),
                        ..ObjectMeta::default()
                    },
                    spec: Some(spec(0, None)),
                };
                self.cluster.create_lease(&self.namespace, &lease).await
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
                self.annotate(&mut lease.metadata);
                self.cluster.replace_lease(&self.namespace, &lease).await
            }
        };
        match written {
            Ok(()) => Ok(true),
            Err(error) if error.code == 409 => Ok(false),
            Err(error) => Err(error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake::{FakeCluster, Request};

    const NS: &str = "azure-secret-store";
    const NAME: &str = "29f1d54e.secret-sync.x-k8s.io";

    fn holder(cluster: &FakeCluster) -> (Option<String>, Option<i32>) {
        let spec = cluster
            .stored_lease(NS, NAME)
            .and_then(|l| l.spec)
            .unwrap_or_default();
        (spec.holder_identity, spec.lease_transitions)
    }

    #[tokio::test]
    async fn one_holder_at_a_time_and_a_release_hands_over_at_once() {
        let cluster = FakeCluster::default();
        let port: Arc<dyn Cluster> = Arc::new(cluster.clone());
        let shutdown = CancellationToken::new();
        let a_stop = shutdown.child_token();
        let a = acquire(port.clone(), NS, NAME, "a", no_notes(), a_stop.clone())
            .await
            .unwrap_or_else(|| panic!("a campaigns alone"));
        assert_eq!(holder(&cluster), (Some("a".into()), Some(0)));
        let mut b = tokio::spawn(acquire(
            port.clone(),
            NS,
            NAME,
            "b",
            no_notes(),
            shutdown.child_token(),
        ));
        // Over a window in which b tries at least once (it retries every 2 s), it must not take a lease
        // that a renews.
        assert!(
            tokio::time::timeout(RETRY + Duration::from_secs(1), &mut b)
                .await
                .is_err(),
            "b took a held lease"
        );
        assert_eq!(holder(&cluster).0.as_deref(), Some("a"));
        // a steps down (its renewer stops with its shutdown) and gives the lease up: b takes it at its next
        // try, not after the 15 s lease would have run out.
        assert!(!a.lost.is_cancelled());
        a_stop.cancel();
        a.release().await;
        let b = tokio::time::timeout(RETRY + Duration::from_secs(2), b)
            .await
            .unwrap_or_else(|_| panic!("b did not take the released lease"))
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|| panic!("b stopped"));
        assert_eq!(holder(&cluster), (Some("b".into()), Some(1)));
        assert!(!b.lost.is_cancelled());
        shutdown.cancel();
    }

    #[tokio::test]
    async fn an_api_server_away_is_retried_not_fatal() {
        let cluster = FakeCluster::default();
        let port: Arc<dyn Cluster> = Arc::new(cluster.clone());
        cluster.refuse(
            Request::Lease,
            Some(ClusterError::new(503, "ServiceUnavailable", "etcd away")),
        );
        let mut campaign = tokio::spawn(acquire(port, NS, NAME, "a", no_notes(), CancellationToken::new()));
        // Attempts fail (at least two in this window), and the campaign goes on.
        assert!(
            tokio::time::timeout(RETRY + Duration::from_secs(1), &mut campaign)
                .await
                .is_err(),
            "the campaign ended while the API server was away"
        );
        assert_eq!(cluster.stored_lease(NS, NAME), None);
        cluster.refuse(Request::Lease, None);
        let held = tokio::time::timeout(RETRY + Duration::from_secs(2), campaign)
            .await
            .unwrap_or_else(|_| panic!("not acquired after the API server came back"))
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(held.is_some());
        assert_eq!(holder(&cluster).0.as_deref(), Some("a"));
    }

    #[tokio::test]
    async fn the_holders_notes_ride_on_the_lease_and_only_ours_are_removed() {
        let cluster = FakeCluster::default();
        let port: Arc<dyn Cluster> = Arc::new(cluster.clone());
        let note = Arc::new(std::sync::Mutex::new(Some("one".to_string())));
        let notes: Notes = {
            let note = note.clone();
            Arc::new(move || {
                let current = note.lock().unwrap().clone();
                current
                    .map(|n| ("sse-rs.io/event-stream".to_string(), n))
                    .into_iter()
                    .collect()
            })
        };
        let lease = LeaseRef {
            cluster: port.clone(),
            namespace: NS.into(),
            name: NAME.into(),
            identity: "a".into(),
            notes,
        };
        let annotations = || {
            cluster
                .stored_lease(NS, NAME)
                .and_then(|l| l.metadata.annotations)
                .unwrap_or_default()
        };
        assert!(lease.try_acquire().await.unwrap(), "created");
        assert_eq!(
            annotations().get("sse-rs.io/event-stream").map(String::as_str),
            Some("one")
        );
        *note.lock().unwrap() = Some("two".into());
        assert!(lease.try_acquire().await.unwrap(), "renewed");
        assert_eq!(
            annotations().get("sse-rs.io/event-stream").map(String::as_str),
            Some("two")
        );
        // Someone else's annotation stays; ours goes when there is nothing to say.
        let mut stored = cluster.stored_lease(NS, NAME).unwrap();
        stored
            .metadata
            .annotations
            .get_or_insert_default()
            .insert("example.com/owner".into(), "ops".into());
        port.replace_lease(NS, &stored).await.unwrap();
        *note.lock().unwrap() = None;
        assert!(lease.try_acquire().await.unwrap(), "renewed");
        let left: Vec<String> = annotations().into_keys().collect();
        assert_eq!(left, vec!["example.com/owner".to_string()]);
    }
}

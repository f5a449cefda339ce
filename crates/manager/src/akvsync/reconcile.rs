//! One reconcile of an AKVSync, through the [`Cluster`] port: make every generated object exist as
//! [`translate`] generates it, delete the generated SecretSyncs no entry asks for, and write the status.
//! Each object's problem is recorded and the rest goes on: one object the API server refuses does not hold
//! up the others, the deletions, or the status.

use std::time::{Duration, SystemTime};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::ResourceExt as _;
use kube::runtime::controller::Action;
use sse_api::conditions::{READY, STATUS_FALSE, STATUS_TRUE, find_condition};
use sse_api::{AKVSync, AkvSyncStatus, GeneratedSync, SecretSync};

use super::translate::{ours, translate};
use super::{LABEL, RESYNC, RETRY, UNLABELLED};
use crate::cluster::{Cluster, ClusterError, Generated, GeneratedKind};
use crate::error::Class;

/// Why a reconcile stopped before its status was written (retried by [`AkvSyncError::retry_in`]).
#[derive(Debug, thiserror::Error)]
pub enum AkvSyncError {
    /// The generated SecretSyncs could not be listed.
    #[error("list secretsyncs: {0}")]
    List(ClusterError),
    /// The status could not be written.
    #[error("write akvsync status: {0}")]
    Status(ClusterError),
}

impl AkvSyncError {
    /// Whether retrying soon can help: the API server's answer says.
    pub fn class(&self) -> Class {
        let (Self::List(error) | Self::Status(error)) = self;
        if error.is_transient() {
            Class::Transient
        } else {
            Class::Permanent
        }
    }
}

/// What could not be done for one generated object (the status lists them, the others went on).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    /// A same-named object this AKVSync does not control: left untouched.
    #[error("{} {name} exists and is not this AKVSync's: it is left untouched", kind.as_str())]
    Foreign {
        /// Its kind.
        kind: GeneratedKind,
        /// Its name.
        name: String,
    },
    /// Ours, but someone removed its [`LABEL`]: the generated-objects admission policy lets the manager
    /// change only labelled objects, so it is reported, not retried.
    #[error("{} {name}", kind.as_str())]
    Unlabelled {
        /// Its kind.
        kind: GeneratedKind,
        /// Its name.
        name: String,
    },
    /// The API server refused or failed a request about it.
    #[error("{} {name}: {action}: {error}", kind.as_str())]
    Failed {
        /// Its kind.
        kind: GeneratedKind,
        /// Its name.
        name: String,
        /// What was asked (`get`, `create`, `restore`, `delete`).
        action: &'static str,
        /// The answer.
        error: ClusterError,
    },
    /// Absent when listed, present when created, absent again when looked at: retried.
    #[error("{} {name}: created and deleted meanwhile: retried", kind.as_str())]
    Vanished {
        /// Its kind.
        kind: GeneratedKind,
        /// Its name.
        name: String,
    },
}

/// What a reconcile did.
#[derive(Clone, Debug, PartialEq)]
pub struct Reconciled {
    /// The objects it could not make as generated (empty when all are).
    pub problems: Vec<Problem>,
    /// The status the AKVSync has now.
    pub status: AkvSyncStatus,
    /// When to look again (`None`: at the next change only, the spec cannot be translated).
    pub requeue: Option<Duration>,
}

impl Reconciled {
    /// The controller's next step.
    pub fn action(&self) -> Action {
        self.requeue.map_or_else(Action::await_change, Action::requeue)
    }
}

/// Reconcile `akv` once, at `now`.
#[tracing::instrument(skip_all, fields(akvsync = %format!("{}/{}", akv.namespace().unwrap_or_default(), akv.name_any())))]
pub async fn reconcile(
    akv: &AKVSync,
    cluster: &dyn Cluster,
    now: SystemTime,
) -> Result<Reconciled, AkvSyncError> {
    let namespace = akv.namespace().unwrap_or_default();
    let generated = match translate(akv) {
        Ok(generated) => generated,
        Err(error) => {
            let status = write_status(cluster, akv, now, &[], &[error.to_string()], "InvalidSpec").await?;
            return Ok(Reconciled {
                problems: Vec::new(),
                status,
                requeue: None,
            });
        }
    };
    let mut problems: Vec<Problem> = Vec::new();
    let mut wanted: Vec<String> = Vec::new();
    // One LIST of what this AKVSync generated serves every SecretSync below (no GET each).
    let labelled = cluster
        .generated_syncs(&namespace, &akv.name_any())
        .await
        .map_err(AkvSyncError::List)?;
    let class = Generated::Class(generated.class.clone());
    if let Some(problem) = put(cluster, &class, None, akv).await {
        problems.push(problem);
    } else {
        for sync in &generated.syncs {
            let listed = labelled.iter().find(|s| s.name_any() == sync.name_any());
            match put(cluster, &Generated::Sync(sync.clone()), Some(listed), akv).await {
                None => wanted.push(sync.name_any()),
                Some(problem) => problems.push(problem),
            }
        }
    }
    let mut statuses = Vec::new();
    for sync in labelled.iter().filter(|s| ours(&s.metadata, akv)) {
        let name = sync.name_any();
        if generated.syncs.iter().all(|s| s.name_any() != name) {
            remove(cluster, &namespace, sync, &mut problems).await;
            continue;
        }
        statuses.push(generated_sync(sync));
    }
    // Those applied but not listed yet (just created) count as not checked.
    for name in wanted {
        if statuses.iter().all(|s| s.name != name) {
            statuses.push(GeneratedSync {
                name,
                ready: "Unknown".to_string(),
                reason: None,
            });
        }
    }
    statuses.sort_by(|a, b| a.name.cmp(&b.name));
    let (messages, reason) = report(cluster, akv, &problems).await;
    let status = write_status(cluster, akv, now, &statuses, &messages, reason).await?;
    // An unlabelled object is not retried: the admission policy would refuse every attempt. The owned
    // watches select labelled objects only, so its label coming back is seen at the next resync.
    let retry = !messages.is_empty() && reason != UNLABELLED;
    Ok(Reconciled {
        problems,
        status,
        requeue: Some(if retry { RETRY } else { RESYNC }),
    })
}

/// A generated SecretSync no entry asks for any more: deleted, exactly the one looked at (not a
/// same-named one created since).
async fn remove(cluster: &dyn Cluster, namespace: &str, sync: &SecretSync, problems: &mut Vec<Problem>) {
    let name = sync.name_any();
    let (uid, version) = (
        sync.uid().unwrap_or_default(),
        sync.resource_version().unwrap_or_default(),
    );
    match cluster
        .delete_generated_sync(namespace, &name, &uid, &version)
        .await
    {
        Ok(()) => tracing::info!(secretsync = %name, "deleted: no entry asks for it any more"),
        Err(error) => problems.push(Problem::Failed {
            kind: GeneratedKind::Sync,
            name,
            action: "delete",
            error,
        }),
    }
}

/// A generated SecretSync's line in the AKVSync's status.
fn generated_sync(sync: &SecretSync) -> GeneratedSync {
    let ready = sync
        .status
        .as_ref()
        .and_then(|s| find_condition(&s.conditions, READY));
    GeneratedSync {
        name: sync.name_any(),
        ready: ready.map_or_else(|| "Unknown".to_string(), |c| c.status.clone()),
        reason: ready.map(|c| c.reason.clone()),
    }
}

/// The status messages and reason for `problems` (failures first), and the Event for unlabelled objects.
async fn report(cluster: &dyn Cluster, akv: &AKVSync, problems: &[Problem]) -> (Vec<String>, &'static str) {
    let failed = |p: &&Problem| matches!(p, Problem::Failed { .. } | Problem::Vanished { .. });
    let unlabelled: Vec<String> = problems
        .iter()
        .filter(|p| matches!(p, Problem::Unlabelled { .. }))
        .map(ToString::to_string)
        .collect();
    let mut messages: Vec<String> = problems.iter().filter(failed).map(ToString::to_string).collect();
    messages.extend(
        problems
            .iter()
            .filter(|p| matches!(p, Problem::Foreign { .. }))
            .map(ToString::to_string),
    );
    if !unlabelled.is_empty() {
        let message = format!(
            "{} lost the {LABEL} label: SSE-rs may change or delete only labelled objects it generated, so it leaves them as they are; put the label back (value {}) or delete them",
            unlabelled.join(", "),
            akv.name_any()
        );
        tracing::warn!(%message, "generated objects unlabelled");
        cluster.akvsync_event(akv, true, UNLABELLED, &message).await;
        messages.push(message);
    }
    let reason = if problems.iter().any(|p| failed(&p)) {
        "ApplyFailed"
    } else if !unlabelled.is_empty() {
        UNLABELLED
    } else {
        "NameConflict"
    };
    (messages, reason)
}

/// Make `desired` exist as generated; `None` when it does. Absent: created (a same-named object created
/// meanwhile makes the create fail, never a takeover). Ours but different: its spec, labels and owner are
/// put back, pinned to the resourceVersion looked at. As generated already: no write at all. `listed`:
/// `Some` when the caller listed the generated objects already (`Some(None)`: not among them, so it is
/// created, and looked at only if that fails); `None`: look it up.
async fn put(
    cluster: &dyn Cluster,
    desired: &Generated,
    listed: Option<Option<&SecretSync>>,
    akv: &AKVSync,
) -> Option<Problem> {
    let (kind, meta) = (desired.kind(), desired.meta());
    let name = meta.name.clone().unwrap_or_default();
    let namespace = meta.namespace.clone().unwrap_or_default();
    let failed = |action: &'static str| {
        let name = name.clone();
        move |error| Problem::Failed {
            kind,
            name,
            action,
            error,
        }
    };
    let existing = match listed {
        Some(Some(sync)) => Some(Generated::Sync(sync.clone())),
        Some(None) => None,
        None => match cluster.generated(kind, &namespace, &name).await {
            Ok(found) => found,
            Err(error) => return Some(failed("get")(error)),
        },
    };
    let existing = match existing {
        Some(existing) => existing,
        None => match cluster.create_generated(desired).await {
            Ok(()) => return None,
            // Not listed as ours, yet there: someone else's (or ours, unlabelled by an edit).
            Err(error) if error.code == 409 => match cluster.generated(kind, &namespace, &name).await {
                Ok(Some(existing)) => existing,
                Ok(None) => return Some(Problem::Vanished { kind, name }),
                Err(error) => return Some(failed("get")(error)),
            },
            Err(error) => return Some(failed("create")(error)),
        },
    };
    if !ours(existing.meta(), akv) {
        return Some(Problem::Foreign { kind, name });
    }
    let label = |m: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta| {
        m.labels.as_ref().and_then(|l| l.get(LABEL)).cloned()
    };
    let Some(current) = label(existing.meta()) else {
        return Some(Problem::Unlabelled { kind, name });
    };
    if existing.spec() == desired.spec() && Some(current) == label(meta) {
        return None;
    }
    let patch = restore(
        desired,
        existing.meta().resource_version.clone().unwrap_or_default(),
    );
    if let Err(error) = cluster.patch_generated(kind, &namespace, &name, &patch).await {
        return Some(failed("restore")(error));
    }
    tracing::info!(
        name,
        "rewritten as its AKVSync generates it (the AKVSync or the object had changed)"
    );
    None
}

/// The JSON patch that puts `desired`'s whole spec back (server-side apply alone would keep what another
/// writer added, such as a renamed list entry), with its label and owner reference, only if nobody wrote
/// since `resource_version`.
fn restore(desired: &Generated, resource_version: String) -> json_patch::Patch {
    use json_patch::jsonptr::PointerBuf;
    use json_patch::{AddOperation, PatchOperation, TestOperation};
    let meta = desired.meta();
    // `add` replaces a member that exists and creates one that does not.
    let add = |path: &[&str], value: serde_json::Value| {
        PatchOperation::Add(AddOperation {
            path: PointerBuf::from_tokens(path.iter().copied()),
            value,
        })
    };
    // Plain data of strings: serializing it cannot fail.
    let labels = serde_json::to_value(&meta.labels).unwrap_or_default();
    let owners = serde_json::to_value(&meta.owner_references).unwrap_or_default();
    json_patch::Patch(vec![
        PatchOperation::Test(TestOperation {
            path: PointerBuf::from_tokens(["metadata", "resourceVersion"]),
            value: serde_json::Value::String(resource_version),
        }),
        add(&["spec"], desired.spec()),
        add(&["metadata", "labels"], labels),
        add(&["metadata", "ownerReferences"], owners),
    ])
}

/// Write the status (the summary, each generated SecretSync, and `Ready` with `problems` first when any),
/// unless it is already that; answers the status the AKVSync has now.
async fn write_status(
    cluster: &dyn Cluster,
    akv: &AKVSync,
    now: SystemTime,
    statuses: &[GeneratedSync],
    problems: &[String],
    problem_reason: &str,
) -> Result<AkvSyncStatus, AkvSyncError> {
    let total = akv.spec.objects.len();
    let ready = statuses.iter().filter(|s| s.ready == STATUS_TRUE).count();
    let not_ready: Vec<String> = statuses
        .iter()
        .filter(|s| s.ready != STATUS_TRUE)
        .map(|s| {
            format!(
                "{} ({})",
                s.name,
                s.reason.as_deref().unwrap_or("not checked yet")
            )
        })
        .collect();
    let (status, reason, message) = if !problems.is_empty() {
        (STATUS_FALSE, problem_reason, problems.join("; "))
    } else if ready == total && total > 0 {
        (
            STATUS_TRUE,
            "AllSecretsSynced",
            format!("{ready} of {total} Secrets synced."),
        )
    } else {
        let not_yet = not_ready.join(", ");
        (
            STATUS_FALSE,
            "SecretsNotReady",
            format!("{ready} of {total} Secrets synced; not yet: {not_yet}"),
        )
    };
    let previous = akv
        .status
        .as_ref()
        .and_then(|s| find_condition(&s.conditions, READY));
    let condition = Condition {
        type_: READY.to_string(),
        status: status.to_string(),
        reason: reason.to_string(),
        message,
        observed_generation: akv.metadata.generation,
        last_transition_time: previous
            .filter(|c| c.status == status)
            .map_or_else(|| crate::clock::to_time(now), |c| c.last_transition_time.clone()),
    };
    let next = AkvSyncStatus {
        summary: Some(format!("{ready}/{total}")),
        secret_syncs: statuses.to_vec(),
        observed_generation: akv.metadata.generation,
        conditions: vec![condition],
    };
    if akv.status.as_ref() != Some(&next) {
        cluster
            .write_akvsync_status(akv, &next)
            .await
            .map_err(AkvSyncError::Status)?;
    }
    Ok(next)
}

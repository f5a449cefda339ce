//! AKVSync: the translation of one [`AKVSync`] into its SecretProviderClass and SecretSyncs ([`translate`],
//! pure), and the controller that keeps them as generated ([`run`]).
//!
//! The generated objects carry the label `sse-rs.io/akvsync: <name>` and the AKVSync as their controlling
//! owner, so deleting the AKVSync deletes them (and, through the SecretSyncs, their Secrets). They are
//! written with server-side apply under their own field manager, with force: an edit of a field SSE-rs sets
//! is reverted at the next reconcile, which the edit itself triggers. A generated SecretSync an entry no
//! longer asks for is deleted. A same-named SecretProviderClass or SecretSync that the AKVSync does not own
//! is never touched: the AKVSync reports the conflict. A generated object someone removed the label from is
//! reported too (condition and Event `GeneratedObjectUnlabelled`), not restored: the generated-objects
//! admission policy lets the manager change only labelled objects, so every attempt would be refused.
//! Every API call is bounded (30 s), as the SecretSync controller's are.
//!
//! Translation (README "AKVSync"): one SecretProviderClass named after the AKVSync, with one `objects` entry
//! per vault secret and history length; per entry one SecretSync named `kubernetesSecretName` or after the
//! vault secret, of type Opaque, with data keys `v0`…`vN-1` (newest first), or, for a compound entry, each
//! part's `dataKey`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt as _;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, ObjectMeta, OwnerReference};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::watcher;
use kube::{Client, Resource as _, ResourceExt as _};
use provider_proto::contract::{Objects, attributes::OBJECTS};
use sse_api::conditions::{READY, STATUS_FALSE, STATUS_TRUE};
use sse_api::{
    AKVSync, AkvSyncStatus, GeneratedSync, SecretObject, SecretObjectData, SecretProviderClass,
    SecretProviderClassSpec, SecretSync, SecretSyncSpec,
};
use tokio_util::sync::CancellationToken;

// Every API call is bounded like the SecretSync controller's (30 s), never the client's read timeout.
use crate::cluster::bounded;

/// Label on every generated object: the AKVSync's name.
pub const LABEL: &str = "sse-rs.io/akvsync";
/// Field manager of the generated objects.
const FIELD_MANAGER: &str = "sse-rs-akvsync";
/// Data key of version `i` of a single entry.
fn version_key(i: i32) -> String {
    format!("v{i}")
}
/// How long before looking again when nothing triggers sooner (the owned SecretSyncs' changes do).
const RESYNC: Duration = Duration::from_secs(300);
/// After a failed reconcile.
const RETRY: Duration = Duration::from_secs(15);
/// Reason (condition and Event) when a generated object lost its label.
const UNLABELLED: &str = "GeneratedObjectUnlabelled";

/// What an AKVSync generates.
#[derive(Clone, Debug, PartialEq)]
pub struct Generated {
    /// The SecretProviderClass (named after the AKVSync).
    pub class: SecretProviderClass,
    /// One SecretSync per entry.
    pub syncs: Vec<SecretSync>,
}

/// Why an AKVSync cannot be translated (the schema rejects most of this; these are the cross-entry rules).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TranslateError {
    /// Two entries make the same Secret.
    #[error("two entries make Secret {0}: give one a different kubernetesSecretName")]
    DuplicateSecret(String),
    /// A compound entry uses one data key twice.
    #[error("Secret {secret} has data key {key} twice")]
    DuplicateKey {
        /// The Secret.
        secret: String,
        /// The key.
        key: String,
    },
    /// An entry is neither single nor compound (the CRD's rules forbid it).
    #[error("entry {0} names neither secretInAKV nor objects")]
    Empty(usize),
    /// More vault objects than one AKVSync may sync (the CRD refuses it; an object stored before the rule
    /// existed is refused here).
    #[error(
        "the entries sync {0} vault objects (versionHistory and compound parts counted), more than the 1024 one AKVSync may: split it into several"
    )]
    TooManyObjects(i64),
    /// The AKVSync's name cannot be a label value (the generated objects carry it).
    #[error(
        "the AKVSync's name is longer than 63 characters, the limit of the sse-rs.io/akvsync label it is written in"
    )]
    NameTooLong,
    /// A generated SecretSync would be refused.
    #[error("Secret {secret}: {reason}")]
    Invalid {
        /// The Secret (and SecretSync).
        secret: String,
        /// Why.
        reason: String,
    },
}

/// The controlling owner reference of a generated object.
fn owner(akv: &AKVSync) -> OwnerReference {
    OwnerReference {
        api_version: AKVSync::api_version(&()).into_owned(),
        kind: AKVSync::kind(&()).into_owned(),
        name: akv.name_any(),
        uid: akv.uid().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: None,
    }
}

fn meta(akv: &AKVSync, name: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_string()),
        namespace: akv.namespace(),
        labels: Some(BTreeMap::from([(LABEL.to_string(), akv.name_any())])),
        owner_references: Some(vec![owner(akv)]),
        ..ObjectMeta::default()
    }
}

/// The SecretProviderClass and SecretSyncs `akv` stands for.
pub fn translate(akv: &AKVSync) -> Result<Generated, TranslateError> {
    let spec = &akv.spec;
    if akv.name_any().len() > 63 {
        return Err(TranslateError::NameTooLong);
    }
    let count = sse_api::akv_sync::synced_objects(spec);
    if count > sse_api::akv_sync::MAX_SYNCED_OBJECTS {
        return Err(TranslateError::TooManyObjects(count));
    }
    // (vault secret, history) → its objectAlias, in first-use order.
    let mut aliases: Vec<((String, i32), String)> = Vec::new();
    let mut alias_of = |secret: &str, history: i32| -> String {
        if let Some((_, alias)) = aliases.iter().find(|(k, _)| k.0 == secret && k.1 == history) {
            return alias.clone();
        }
        let taken = |a: &str| aliases.iter().any(|(_, b)| b == a);
        let alias = std::iter::once(secret.to_string())
            .chain(std::iter::once(format!("{secret}-h{history}")))
            .chain((2..).map(|n| format!("{secret}-h{history}-{n}")))
            .find(|a| !taken(a))
            .unwrap_or_else(|| secret.to_string());
        aliases.push(((secret.to_string(), history), alias.clone()));
        alias
    };
    let mut syncs: Vec<SecretSync> = Vec::new();
    for (index, entry) in spec.objects.iter().enumerate() {
        let (name, data) = match (&entry.secret_in_akv, &entry.objects) {
            (Some(secret), None) => {
                let history = entry.version_history.unwrap_or(1).max(1);
                let alias = alias_of(secret, history);
                let data = if history == 1 {
                    vec![(alias, version_key(0))]
                } else {
                    (0..history)
                        .map(|i| (format!("{alias}/{i}"), version_key(i)))
                        .collect()
                };
                (
                    entry
                        .kubernetes_secret_name
                        .clone()
                        .unwrap_or_else(|| secret.to_ascii_lowercase()),
                    data,
                )
            }
            (None, Some(parts)) => {
                let name = entry
                    .kubernetes_secret_name
                    .clone()
                    .ok_or(TranslateError::Empty(index))?;
                let mut data: Vec<(String, String)> = Vec::new();
                for part in parts {
                    if data.iter().any(|(_, k)| *k == part.data_key) {
                        return Err(TranslateError::DuplicateKey {
                            secret: name,
                            key: part.data_key.clone(),
                        });
                    }
                    data.push((alias_of(&part.secret_in_akv, 1), part.data_key.clone()));
                }
                (name, data)
            }
            _ => return Err(TranslateError::Empty(index)),
        };
        if syncs.iter().any(|s| s.name_any() == name) {
            return Err(TranslateError::DuplicateSecret(name));
        }
        if !sse_api::validation::is_dns1123_subdomain(&name) {
            return Err(TranslateError::Invalid {
                secret: name,
                reason: "not a valid Secret name (lower-case letters, digits, '-' and '.'): set kubernetesSecretName"
                    .into(),
            });
        }
        let mut sync = SecretSync::new(
            &name,
            SecretSyncSpec {
                secret_provider_class_name: akv.name_any(),
                service_account_name: spec.service_account_name.clone(),
                secret_object: SecretObject {
                    type_: sse_api::consts::DEFAULT_SECRET_TYPE.to_string(),
                    data: data
                        .into_iter()
                        .map(|(source_path, target_key)| SecretObjectData {
                            source_path,
                            target_key,
                        })
                        .collect(),
                    labels: None,
                    annotations: None,
                },
                ..SecretSyncSpec::default()
            },
        );
        sse_api::validation::validate_spec(&sync.spec).map_err(|e| TranslateError::Invalid {
            secret: name.clone(),
            reason: e.to_string(),
        })?;
        sync.metadata = meta(akv, &name);
        syncs.push(sync);
    }
    let objects = Objects::new(aliases.iter().map(|((secret, history), alias)| {
        let mut entry = format!("objectName: {secret}\nobjectType: secret\nobjectAlias: {alias}");
        if *history > 1 {
            entry.push_str(&format!("\nobjectVersionHistory: {history}"));
        }
        entry
    }));
    let parameters = BTreeMap::from([
        ("keyvaultName".to_string(), spec.keyvault_name.clone()),
        ("clientID".to_string(), spec.client_id.clone()),
        ("tenantID".to_string(), spec.tenant_id.clone()),
        (OBJECTS.to_string(), objects.to_yaml()),
    ]);
    let mut class = SecretProviderClass::new(
        &akv.name_any(),
        SecretProviderClassSpec {
            provider: Some("azure".to_string()),
            parameters: Some(parameters),
            secret_objects: None,
        },
    );
    class.metadata = meta(akv, &akv.name_any());
    Ok(Generated { class, syncs })
}

/// Whether `object` is controlled by `akv`.
fn ours(object: &ObjectMeta, akv: &AKVSync) -> bool {
    let uid = akv.uid();
    object
        .owner_references
        .iter()
        .flatten()
        .any(|o| o.controller == Some(true) && Some(&o.uid) == uid.as_ref())
}

/// The controller's state.
struct Ctx {
    client: Client,
}

/// Why a reconcile failed (retried after [`RETRY`]).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct ReconcileError(String);

fn kube_error(what: &str) -> impl Fn(crate::cluster::ClusterError) -> ReconcileError + '_ {
    move |e| ReconcileError(format!("{what}: {e}"))
}

/// Keep the AKVSyncs' generated objects as generated, until `shutdown`.
pub async fn run(client: Client, shutdown: CancellationToken) {
    let generated = watcher::Config::default().labels(LABEL);
    Controller::new(Api::<AKVSync>::all(client.clone()), watcher::Config::default())
        // The generated SecretSyncs' status writes trigger it: gather a burst into one reconcile.
        .with_config(kube::runtime::controller::Config::default().debounce(Duration::from_secs(2)))
        .owns(Api::<SecretSync>::all(client.clone()), generated.clone())
        .owns(Api::<SecretProviderClass>::all(client.clone()), generated)
        .graceful_shutdown_on(async move { shutdown.cancelled().await })
        .run(reconcile, error_policy, Arc::new(Ctx { client }))
        .for_each(|result| async move {
            if let Err(error) = result {
                tracing::warn!(%error, "akvsync controller");
            }
        })
        .await;
}

fn error_policy(_: Arc<AKVSync>, error: &ReconcileError, _: Arc<Ctx>) -> Action {
    tracing::warn!(%error, retry_in = ?RETRY, "akvsync reconcile failed");
    Action::requeue(RETRY)
}

#[tracing::instrument(skip_all, fields(akvsync = %format!("{}/{}", akv.namespace().unwrap_or_default(), akv.name_any())))]
async fn reconcile(akv: Arc<AKVSync>, ctx: Arc<Ctx>) -> Result<Action, ReconcileError> {
    let namespace = akv.namespace().unwrap_or_default();
    let classes: Api<SecretProviderClass> = Api::namespaced(ctx.client.clone(), &namespace);
    let syncs: Api<SecretSync> = Api::namespaced(ctx.client.clone(), &namespace);
    let generated = match translate(&akv) {
        Ok(generated) => generated,
        Err(error) => {
            write_status(&ctx, &akv, &[], &[error.to_string()], "InvalidSpec").await?;
            return Ok(Action::await_change());
        }
    };
    // Each problem is recorded and the rest goes on: one object the API server refuses does not hold up
    // the others, the deletions, or the status.
    let mut conflicts: Vec<String> = Vec::new();
    let mut failures: Vec<String> = Vec::new();
    let mut wanted: Vec<String> = Vec::new();
    let mut unlabelled: Vec<String> = Vec::new();
    // One LIST of what this AKVSync generated serves every SecretSync below (no GET each).
    let selector = ListParams::default().labels(&format!("{LABEL}={}", akv.name_any()));
    let labelled = bounded(syncs.list(&selector))
        .await
        .map_err(kube_error("list secretsyncs"))?;
    match put(&classes, &generated.class, None, &akv).await {
        Ok(Put::Done) => {
            for sync in &generated.syncs {
                let listed = labelled.items.iter().find(|s| s.name_any() == sync.name_any());
                match put(&syncs, sync, Some(listed), &akv).await {
                    Ok(Put::Done) => wanted.push(sync.name_any()),
                    Ok(Put::Foreign) => conflicts.push(format!(
                        "SecretSync {} exists and is not this AKVSync's: it is left untouched",
                        sync.name_any()
                    )),
                    Ok(Put::Unlabelled) => unlabelled.push(format!("SecretSync {}", sync.name_any())),
                    Err(error) => failures.push(format!("SecretSync {}: {error}", sync.name_any())),
                }
            }
        }
        Ok(Put::Foreign) => conflicts.push(format!(
            "SecretProviderClass {} exists and is not this AKVSync's: it is left untouched",
            akv.name_any()
        )),
        Ok(Put::Unlabelled) => unlabelled.push(format!("SecretProviderClass {}", akv.name_any())),
        Err(error) => failures.push(format!("SecretProviderClass {}: {error}", akv.name_any())),
    }
    // Generated SecretSyncs no entry asks for any more.
    let mut statuses: Vec<GeneratedSync> = Vec::new();
    for sync in labelled.items {
        let name = sync.name_any();
        if !ours(&sync.metadata, &akv) {
            continue;
        }
        if generated.syncs.iter().all(|s| s.name_any() != name) {
            // Exactly the one looked at: not a same-named one created since.
            let delete = DeleteParams {
                preconditions: Some(kube::api::Preconditions {
                    uid: sync.uid(),
                    resource_version: sync.resource_version(),
                }),
                ..DeleteParams::background()
            };
            match bounded(syncs.delete(&name, &delete)).await {
                Ok(_) => tracing::info!(secretsync = %name, "deleted: no entry asks for it any more"),
                Err(error) => failures.push(format!("SecretSync {name}: delete: {error}")),
            }
            continue;
        }
        let ready = sync
            .status
            .as_ref()
            .and_then(|s| sse_api::conditions::find_condition(&s.conditions, READY));
        statuses.push(GeneratedSync {
            name,
            ready: ready.map_or_else(|| "Unknown".to_string(), |c| c.status.clone()),
            reason: ready.map(|c| c.reason.clone()),
        });
    }
    // Those applied but not listed yet (just created) count as not checked.
    for name in &wanted {
        if statuses.iter().all(|s| &s.name != name) {
            statuses.push(GeneratedSync {
                name: name.clone(),
                ready: "Unknown".to_string(),
                reason: None,
            });
        }
    }
    statuses.sort_by(|a, b| a.name.cmp(&b.name));
    if !unlabelled.is_empty() {
        let message = format!(
            "{} lost the {LABEL} label: SSE-rs may change or delete only labelled objects it generated, so it leaves them as they are; put the label back (value {}) or delete them",
            unlabelled.join(", "),
            akv.name_any()
        );
        tracing::warn!(%message, "generated objects unlabelled");
        crate::cluster::publish(
            &ctx.client,
            &namespace,
            &akv.name_any(),
            akv.object_ref(&()),
            true,
            UNLABELLED,
            &message,
            FIELD_MANAGER,
        )
        .await;
        conflicts.push(message);
    }
    let (problems, reason) = if !failures.is_empty() {
        (
            failures.into_iter().chain(conflicts).collect::<Vec<_>>(),
            "ApplyFailed",
        )
    } else if !unlabelled.is_empty() {
        (conflicts, UNLABELLED)
    } else {
        (conflicts, "NameConflict")
    };
    write_status(&ctx, &akv, &statuses, &problems, reason).await?;
    // An unlabelled object is not retried: the admission policy would refuse every attempt. The owned
    // watches select labelled objects only, so its label coming back is seen at the next resync.
    let retry = !problems.is_empty() && reason != UNLABELLED;
    Ok(Action::requeue(if retry { RETRY } else { RESYNC }))
}

/// What [`put`] found.
enum Put {
    /// The object is as generated.
    Done,
    /// A same-named object this AKVSync does not control: left untouched.
    Foreign,
    /// Ours, but someone removed its `sse-rs.io/akvsync` label: the generated-objects admission policy lets
    /// the manager change only labelled objects, so it is reported, not retried.
    Unlabelled,
}

/// Make `desired` exist as generated. Absent: created (a same-named object created meanwhile makes the
/// create fail, never a takeover). Ours but different: its spec, labels and owner are put back, pinned to
/// the resourceVersion looked at. As generated already: no write at all. `listed`: `Some` when the caller
/// listed the generated objects already (`Some(None)`: not among them, so it is created, and looked at
/// only if that fails); `None`: look it up.
async fn put<K>(api: &Api<K>, desired: &K, listed: Option<Option<&K>>, akv: &AKVSync) -> Result<Put, String>
where
    K: kube::Resource + Clone + serde::Serialize + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let name = desired.meta().name.clone().unwrap_or_default();
    let existing = match listed {
        Some(Some(object)) => Some(object.clone()),
        Some(None) => None,
        None => bounded(api.get_opt(&name))
            .await
            .map_err(|e| format!("get: {e}"))?,
    };
    let existing = match existing {
        Some(existing) => existing,
        None => {
            let create = kube::api::PostParams {
                field_manager: Some(FIELD_MANAGER.to_string()),
                ..kube::api::PostParams::default()
            };
            match bounded(api.create(&create, desired)).await {
                Ok(_) => return Ok(Put::Done),
                // Not listed as ours, yet there: someone else's (or ours, unlabelled by an edit).
                Err(error) if error.code == 409 => bounded(api.get_opt(&name))
                    .await
                    .map_err(|e| format!("get: {e}"))?
                    .ok_or_else(|| "created and deleted meanwhile: retried".to_string())?,
                Err(error) => return Err(format!("create: {error}")),
            }
        }
    };
    if !ours(existing.meta(), akv) {
        return Ok(Put::Foreign);
    }
    let spec = |object: &K| serde_json::to_value(object).ok().map(|v| v["spec"].clone());
    let label = existing.meta().labels.as_ref().and_then(|l| l.get(LABEL));
    if label.is_none() {
        return Ok(Put::Unlabelled);
    }
    let labelled = label == desired.meta().labels.as_ref().and_then(|d| d.get(LABEL));
    if spec(&existing) == spec(desired) && labelled {
        return Ok(Put::Done);
    }
    // The whole spec back (server-side apply alone would keep what another writer added, such as a renamed
    // list entry), with the label and owner reference, only if nobody wrote in between.
    let resource_version = existing.meta().resource_version.clone().unwrap_or_default();
    // `add` replaces a member that exists and creates one that does not.
    let replace = |path: &str, value: serde_json::Value| -> Result<json_patch::PatchOperation, String> {
        Ok(json_patch::PatchOperation::Add(json_patch::AddOperation {
            path: json_patch::jsonptr::PointerBuf::parse(path).map_err(|e| e.to_string())?,
            value,
        }))
    };
    let patch = json_patch::Patch(vec![
        json_patch::PatchOperation::Test(json_patch::TestOperation {
            path: json_patch::jsonptr::PointerBuf::parse("/metadata/resourceVersion")
                .map_err(|e| e.to_string())?,
            value: serde_json::Value::String(resource_version),
        }),
        replace("/spec", spec(desired).unwrap_or_default())?,
        replace(
            "/metadata/labels",
            serde_json::to_value(&desired.meta().labels).map_err(|e| e.to_string())?,
        )?,
        replace(
            "/metadata/ownerReferences",
            serde_json::to_value(&desired.meta().owner_references).map_err(|e| e.to_string())?,
        )?,
    ]);
    bounded(api.patch(
        &name,
        &PatchParams::apply(FIELD_MANAGER),
        &Patch::<()>::Json(patch),
    ))
    .await
    .map_err(|e| format!("restore: {e}"))?;
    tracing::info!(
        name,
        "rewritten as its AKVSync generates it (the AKVSync or the object had changed)"
    );
    Ok(Put::Done)
}

/// The status: the summary, each generated SecretSync, and `Ready` (with `problems` first when any).
async fn write_status(
    ctx: &Ctx,
    akv: &AKVSync,
    statuses: &[GeneratedSync],
    problems: &[String],
    problem_reason: &str,
) -> Result<(), ReconcileError> {
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
        (
            STATUS_FALSE,
            "SecretsNotReady",
            format!(
                "{ready} of {total} Secrets synced; not yet: {}",
                not_ready.join(", ")
            ),
        )
    };
    let now = crate::schedule::to_time(std::time::SystemTime::now());
    let previous = akv
        .status
        .as_ref()
        .and_then(|s| sse_api::conditions::find_condition(&s.conditions, READY));
    let condition = Condition {
        type_: READY.to_string(),
        status: status.to_string(),
        reason: reason.to_string(),
        message,
        observed_generation: akv.metadata.generation,
        last_transition_time: previous
            .filter(|c| c.status == status)
            .map_or(now, |c| c.last_transition_time.clone()),
    };
    let next = AkvSyncStatus {
        summary: Some(format!("{ready}/{total}")),
        secret_syncs: statuses.to_vec(),
        observed_generation: akv.metadata.generation,
        conditions: vec![condition],
    };
    if akv.status.as_ref() == Some(&next) {
        return Ok(());
    }
    let api: Api<AKVSync> = Api::namespaced(ctx.client.clone(), &akv.namespace().unwrap_or_default());
    bounded(api.patch_status(
        &akv.name_any(),
        &PatchParams::default(),
        &Patch::Merge(serde_json::json!({ "status": next })),
    ))
    .await
    .map_err(kube_error("write akvsync status"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn akv(objects: serde_json::Value) -> AKVSync {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "secret-sync.x-k8s.io/v1alpha1",
            "kind": "AKVSync",
            "metadata": {"name": "app", "namespace": "apps", "uid": "akv-uid"},
            "spec": {"keyvaultName": "contoso-kv", "clientID": "c", "tenantID": "t",
                     "serviceAccountName": "sa", "objects": objects},
        }))
        .unwrap_or_else(|e| panic!("{e}"))
    }

    fn data(sync: &SecretSync) -> Vec<(&str, &str)> {
        sync.spec
            .secret_object
            .data
            .iter()
            .map(|d| (d.source_path.as_str(), d.target_key.as_str()))
            .collect()
    }

    #[test]
    fn single_renamed_with_history_and_compound_entries() {
        let generated = translate(&akv(serde_json::json!([
            {"secretInAKV": "db-password"},
            {"secretInAKV": "api-key", "kubernetesSecretName": "api", "versionHistory": 2},
            {"kubernetesSecretName": "db-credentials", "objects": [
                {"secretInAKV": "db-user", "dataKey": "username"},
                {"secretInAKV": "db-password", "dataKey": "password"}]},
        ])))
        .unwrap_or_else(|e| panic!("{e}"));
        let names: Vec<String> = generated.syncs.iter().map(|s| s.name_any()).collect();
        assert_eq!(names, ["db-password", "api", "db-credentials"]);
        assert_eq!(data(&generated.syncs[0]), [("db-password", "v0")]);
        assert_eq!(
            data(&generated.syncs[1]),
            [("api-key/0", "v0"), ("api-key/1", "v1")]
        );
        assert_eq!(
            data(&generated.syncs[2]),
            [("db-user", "username"), ("db-password", "password")],
            "the vault secret used twice is fetched once"
        );
        let parameters = generated.class.spec.parameters.clone().unwrap_or_default();
        let objects = Objects::parse(&parameters[OBJECTS]).unwrap_or_default();
        assert_eq!(
            objects.array,
            [
                "objectName: db-password\nobjectType: secret\nobjectAlias: db-password\n",
                "objectName: api-key\nobjectType: secret\nobjectAlias: api-key\nobjectVersionHistory: 2\n",
                "objectName: db-user\nobjectType: secret\nobjectAlias: db-user\n",
            ]
        );
        for sync in &generated.syncs {
            assert_eq!(sync.spec.secret_provider_class_name, "app");
            assert_eq!(sync.spec.service_account_name, "sa");
            assert_eq!(sync.labels()[LABEL], "app");
            let owners = sync.owner_references();
            assert_eq!(
                (owners[0].kind.as_str(), owners[0].controller),
                ("AKVSync", Some(true))
            );
            sse_api::validation::validate_spec(&sync.spec).unwrap_or_else(|e| panic!("{e}"));
        }
        assert_eq!(generated.class.metadata.name.as_deref(), Some("app"));
    }

    #[test]
    fn one_secret_at_different_history_lengths_gets_two_aliases_and_clashes_are_refused() {
        let generated = translate(&akv(serde_json::json!([
            {"secretInAKV": "s"},
            {"secretInAKV": "s", "kubernetesSecretName": "s-history", "versionHistory": 3},
        ])))
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(data(&generated.syncs[1])[2], ("s-h3/2", "v2"));
        // `s-h3` is the name of another vault secret here: the history alias steps aside.
        let generated = translate(&akv(serde_json::json!([
            {"secretInAKV": "s-h3"},
            {"secretInAKV": "s"},
            {"secretInAKV": "s", "kubernetesSecretName": "s-history", "versionHistory": 3},
        ])))
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(data(&generated.syncs[2])[0], ("s-h3-2/0", "v0"));
        assert!(matches!(
            translate(&akv(serde_json::json!([{"secretInAKV": "Bad-"}]))),
            Err(TranslateError::Invalid { .. })
        ));
        let mut long = akv(serde_json::json!([{"secretInAKV": "a"}]));
        long.metadata.name = Some("n".repeat(64));
        assert_eq!(translate(&long), Err(TranslateError::NameTooLong));
        assert_eq!(
            translate(&akv(
                serde_json::json!([{"secretInAKV": "a"}, {"secretInAKV": "A"}])
            )),
            Err(TranslateError::DuplicateSecret("a".into())),
            "Kubernetes names are lower case; vault names are not case-sensitive"
        );
        assert_eq!(
            translate(&akv(
                serde_json::json!([{"kubernetesSecretName": "c", "objects": [
                {"secretInAKV": "a", "dataKey": "k"}, {"secretInAKV": "b", "dataKey": "k"}]}])
            )),
            Err(TranslateError::DuplicateKey {
                secret: "c".into(),
                key: "k".into()
            })
        );
    }
}

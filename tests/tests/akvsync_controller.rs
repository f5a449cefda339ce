//! Tier 2: the AKVSync controller's reconcile against the API double, through the same `Cluster` port the
//! SecretSync controller uses. What the double answers (409 on a create of an existing object, 422 on a
//! failed `test`, 409 on a stale delete precondition) was observed on kube-apiserver v1.32.13
//! (`manager::fake` documents each); tier 3 runs the same controller on the real server.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::time::{Duration, SystemTime};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use manager::akvsync::{self, AkvSyncError, Problem, Reconciled};
use manager::cluster::{ClusterError, Generated, GeneratedKind};
use manager::error::Class;
use manager::fake::{Call, FakeCluster, Request};
use sse_api::conditions::{READY, find_condition};
use sse_api::{AKVSync, SecretSync, SecretSyncStatus};

const NS: &str = "apps";

fn akv(objects: serde_json::Value) -> AKVSync {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "secret-sync.x-k8s.io/v1alpha1",
        "kind": "AKVSync",
        "metadata": {"name": "app", "namespace": NS, "uid": "akv-uid", "generation": 1},
        "spec": {"keyvaultName": "contoso-kv", "clientID": "c", "tenantID": "t",
                 "serviceAccountName": "sa", "objects": objects},
    }))
    .unwrap()
}

fn three() -> AKVSync {
    akv(serde_json::json!([
        {"secretInAKV": "db-password"},
        {"secretInAKV": "api-key", "kubernetesSecretName": "api", "versionHistory": 2},
        {"kubernetesSecretName": "db-credentials", "objects": [
            {"secretInAKV": "db-user", "dataKey": "username"},
            {"secretInAKV": "db-password", "dataKey": "password"}]},
    ]))
}

/// Reconcile, then carry the written status into the AKVSync as the API server would.
async fn reconcile(akv: &mut AKVSync, cluster: &FakeCluster) -> Reconciled {
    let done = akvsync::reconcile(akv, cluster, SystemTime::now()).await.unwrap();
    akv.status = Some(done.status.clone());
    done
}

fn ready(akv: &AKVSync) -> (String, String, String) {
    let c = find_condition(&akv.status.as_ref().unwrap().conditions, READY).unwrap();
    (c.status.clone(), c.reason.clone(), c.message.clone())
}

fn sync(cluster: &FakeCluster, name: &str) -> SecretSync {
    match cluster.generated_object(GeneratedKind::Sync, NS, name) {
        Some(Generated::Sync(sync)) => sync,
        other => panic!("no SecretSync {name}: {other:?}"),
    }
}

fn writes(cluster: &FakeCluster) -> Vec<Call> {
    cluster
        .calls()
        .into_iter()
        .filter(|c| !matches!(c, Call::Event(..)))
        .collect()
}

#[tokio::test]
async fn generates_the_objects_once_then_writes_nothing_and_reports_readiness() {
    let cluster = FakeCluster::default();
    let mut akv = three();
    let first = reconcile(&mut akv, &cluster).await;
    assert!(first.problems.is_empty(), "{:?}", first.problems);
    assert_eq!(
        writes(&cluster),
        [
            Call::CreateGenerated("SecretProviderClass apps/app".into()),
            Call::CreateGenerated("SecretSync apps/db-password".into()),
            Call::CreateGenerated("SecretSync apps/api".into()),
            Call::CreateGenerated("SecretSync apps/db-credentials".into()),
            Call::WriteAkvSyncStatus("apps/app".into()),
        ]
    );
    let (status, reason, message) = ready(&akv);
    assert_eq!((status.as_str(), reason.as_str()), ("False", "SecretsNotReady"));
    assert!(
        message.starts_with("0 of 3 Secrets synced; not yet: api (not checked yet)"),
        "{message}"
    );
    assert_eq!(first.requeue, Some(akvsync::RESYNC));
    let class = cluster.class(NS, "app").unwrap();
    assert_eq!(class.spec.parameters.unwrap()["keyvaultName"], "contoso-kv");

    // Nothing changed: one LIST, no write at all (not even the status).
    cluster.clear_calls();
    reconcile(&mut akv, &cluster).await;
    assert_eq!(writes(&cluster), []);

    // The SecretSync controller reports each one Ready: the AKVSync says so.
    for name in ["db-password", "api", "db-credentials"] {
        let status = SecretSyncStatus {
            conditions: vec![Condition {
                type_: READY.into(),
                status: "True".into(),
                reason: "UpdateNoValueChangeSucceeded".into(),
                message: String::new(),
                observed_generation: Some(1),
                last_transition_time: manager::clock::to_time(SystemTime::now()),
            }],
            ..SecretSyncStatus::default()
        };
        use manager::cluster::Cluster as _;
        cluster
            .write_status(&sync(&cluster, name), &status)
            .await
            .unwrap();
    }
    reconcile(&mut akv, &cluster).await;
    assert_eq!(ready(&akv).1, "AllSecretsSynced");
    assert_eq!(akv.status.as_ref().unwrap().summary.as_deref(), Some("3/3"));
}

#[tokio::test]
async fn an_edit_is_put_back_and_an_entry_no_longer_listed_is_deleted() {
    let cluster = FakeCluster::default();
    let mut akv = three();
    reconcile(&mut akv, &cluster).await;
    let generated = sync(&cluster, "api");
    cluster.edit_generated(GeneratedKind::Sync, NS, "api", |object| {
        if let Generated::Sync(sync) = object {
            sync.spec.secret_object.data[0].target_key = "renamed".into();
            sync.spec.secret_object.type_ = "kubernetes.io/tls".into();
        }
    });
    cluster.clear_calls();
    let done = reconcile(&mut akv, &cluster).await;
    assert!(done.problems.is_empty(), "{:?}", done.problems);
    assert_eq!(
        writes(&cluster),
        [Call::PatchGenerated("SecretSync apps/api".into(), 200)]
    );
    let restored = sync(&cluster, "api");
    assert_eq!(restored.spec, generated.spec, "the whole spec is put back");
    assert_eq!(restored.metadata.generation, Some(3), "edited, then restored");

    // The entry for `api` goes: its SecretSync is deleted, exactly the one looked at.
    akv.spec.objects.remove(1);
    cluster.clear_calls();
    reconcile(&mut akv, &cluster).await;
    assert!(writes(&cluster).contains(&Call::DeleteGenerated("apps/api".into(), 200)));
    assert!(cluster.generated_object(GeneratedKind::Sync, NS, "api").is_none());
    assert_eq!(akv.status.as_ref().unwrap().secret_syncs.len(), 2);
}

#[tokio::test]
async fn a_users_same_named_secretsync_is_left_untouched_and_reported() {
    let cluster = FakeCluster::default();
    let mut theirs = SecretSync::new("api", sse_api::SecretSyncSpec::default());
    theirs.metadata.namespace = Some(NS.into());
    cluster.put_sync(&theirs).unwrap();
    let before = sync(&cluster, "api");
    let mut akv = three();
    let done = reconcile(&mut akv, &cluster).await;
    assert_eq!(
        done.problems,
        [Problem::Foreign {
            kind: GeneratedKind::Sync,
            name: "api".into()
        }]
    );
    assert_eq!(sync(&cluster, "api"), before, "not a byte of it changed");
    let (status, reason, message) = ready(&akv);
    assert_eq!((status.as_str(), reason.as_str()), ("False", "NameConflict"));
    assert_eq!(
        message,
        "SecretSync api exists and is not this AKVSync's: it is left untouched"
    );
    assert_eq!(done.requeue, Some(akvsync::RETRY));
    assert!(
        cluster
            .generated_object(GeneratedKind::Sync, NS, "db-password")
            .is_some(),
        "the others went on"
    );
}

#[tokio::test]
async fn an_unlabelled_object_is_reported_with_an_event_and_not_retried() {
    let cluster = FakeCluster::default();
    let mut akv = three();
    reconcile(&mut akv, &cluster).await;
    cluster.edit_generated(GeneratedKind::Sync, NS, "api", |object| {
        if let Generated::Sync(sync) = object {
            sync.metadata.labels = None;
        }
    });
    cluster.clear_calls();
    let done = reconcile(&mut akv, &cluster).await;
    assert_eq!(
        done.problems,
        [Problem::Unlabelled {
            kind: GeneratedKind::Sync,
            name: "api".into()
        }]
    );
    let (_, reason, message) = ready(&akv);
    assert_eq!(reason, akvsync::UNLABELLED);
    assert!(
        message.starts_with("SecretSync api lost the sse-rs.io/akvsync label"),
        "{message}"
    );
    assert!(
        cluster
            .calls()
            .contains(&Call::Event("apps/app".into(), akvsync::UNLABELLED.into()))
    );
    assert!(
        !cluster
            .calls()
            .iter()
            .any(|c| matches!(c, Call::PatchGenerated(..))),
        "the admission policy would refuse a write to it: none is tried"
    );
    assert_eq!(done.requeue, Some(akvsync::RESYNC));
}

#[tokio::test]
async fn a_refused_object_is_apply_failed_and_the_rest_goes_on() {
    let cluster = FakeCluster::default();
    let mut akv = three();
    reconcile(&mut akv, &cluster).await;
    akv.spec
        .objects
        .push(serde_json::from_value(serde_json::json!({"secretInAKV": "new-one"})).unwrap());
    let denial = ClusterError::new(
        403,
        "Forbidden",
        "secretsyncs.secret-sync.x-k8s.io \"new-one\" is forbidden: ValidatingAdmissionPolicy 'generated-objects' with binding 'generated-objects' denied request: no",
    );
    cluster.refuse(Request::CreateGenerated, Some(denial.clone()));
    let done = reconcile(&mut akv, &cluster).await;
    assert_eq!(
        done.problems,
        [Problem::Failed {
            kind: GeneratedKind::Sync,
            name: "new-one".into(),
            action: "create",
            error: denial
        }]
    );
    let (_, reason, message) = ready(&akv);
    assert_eq!(reason, "ApplyFailed");
    assert!(
        message.starts_with("SecretSync new-one: create: secretsyncs"),
        "{message}"
    );
    assert_eq!(done.requeue, Some(akvsync::RETRY));
}

#[tokio::test]
async fn a_failed_list_or_status_write_is_an_error_whose_class_sets_the_retry() {
    let cluster = FakeCluster::default();
    let akv = three();
    cluster.refuse(
        Request::ListGenerated,
        Some(ClusterError::new(503, "ServiceUnavailable", "etcd")),
    );
    let error = akvsync::reconcile(&akv, &cluster, SystemTime::now())
        .await
        .unwrap_err();
    assert!(matches!(error, AkvSyncError::List(_)));
    assert_eq!(
        (error.class(), error.retry_in()),
        (Class::Transient, akvsync::RETRY)
    );

    cluster.refuse(Request::ListGenerated, None);
    let forbidden = ClusterError::new(403, "Forbidden", "secretsyncs is forbidden: User cannot list");
    cluster.refuse(Request::WriteAkvSyncStatus, Some(forbidden));
    let error = akvsync::reconcile(&akv, &cluster, SystemTime::now())
        .await
        .unwrap_err();
    assert!(matches!(error, AkvSyncError::Status(_)));
    assert_eq!(
        (error.class(), error.retry_in()),
        (Class::Permanent, akvsync::RESYNC)
    );
    assert!(error.retry_in() > Duration::ZERO);
}

#[tokio::test]
async fn an_untranslatable_akvsync_is_invalid_spec_and_waits_for_a_change() {
    let cluster = FakeCluster::default();
    let mut akv = akv(serde_json::json!([{"secretInAKV": "a"}, {"secretInAKV": "A"}]));
    let done = reconcile(&mut akv, &cluster).await;
    assert_eq!(done.requeue, None);
    assert_eq!(ready(&akv).1, "InvalidSpec");
    assert_eq!(
        writes(&cluster),
        [Call::WriteAkvSyncStatus("apps/app".into())],
        "nothing generated"
    );
}

//! Writing the synced Secret, and never touching one that is not ours.
//!
//! The manager has `create` and `patch` on Secrets and no read (docs/ADMISSION.md#manager-rbac). It still
//! knows, before it writes, whether the Secret is absent, ours and unchanged, ours and drifted, or foreign —
//! by sending a JSON patch made **only of `test` operations**: the API server evaluates them atomically and
//! writes nothing when they hold (an unchanged object is not persisted, so its resourceVersion does not
//! move). kube-apiserver answers 404 when the Secret is absent and, when a test fails, the same generic 422
//! it gives any JSON patch it cannot apply ([`ClusterError::is_patch_not_applicable`]) — which is why a check
//! never carries other operations: for a test-only patch that answer can only mean "a test did not hold". The
//! write itself is a forced server-side apply (docs/API.md#field-manager), or for partial sync a merge patch
//! whose `resourceVersion` precondition pins it to the Secret the ownership check just saw.
//!
//! | check                                   | answer | meaning                         | next                  |
//! |-----------------------------------------|--------|---------------------------------|-----------------------|
//! | ownership + content tests               | 200    | ours, up to date                | nothing               |
//! |                                         | 404    | absent (deleted, or never made) | apply (create)        |
//! |                                         | 422    | changed, or not ours            | ownership tests       |
//! | ownership + data tests (not for partial) | 200    | ours, same values, new metadata | apply (no new value)  |
//! |                                         | 422    | a value changed, or not ours    | ownership tests       |
//! | ownership tests                         | 200    | ours, drifted or outdated       | apply                 |
//! |                                         | 422    | not ours                        | adoption test         |
//! | adoption test (`sse-rs.io/adoptable`)   | 200    | not ours, marked adoptable      | adopt, then apply     |
//! |                                         | 422    | not ours                        | refuse, touch nothing |
//!
//! Adoption is a merge patch pinned to the resourceVersion the adoption test saw (our label, our owner
//! reference alone, the mark removed); the admission policies let the manager update a Secret that is not
//! its own only when the stored Secret carries that mark. Observed on kube-apiserver v1.32.13: a
//! test-only patch whose tests hold still goes through validating admission (a no-op UPDATE), so the
//! adoption test is denied unless the policies allow the marked Secret; the in-memory double runs no
//! admission, tier 3 is what checks this.

use std::collections::BTreeMap;

use base64::Engine;
use json_patch::{Patch, PatchOperation, TestOperation};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::ResourceExt;
use sse_api::{SecretSync, consts};

use crate::cluster::{Cluster, ClusterError, SecretPatch};
use crate::error::SyncError;
use crate::mapping::SecretData;
use crate::outcome::Written;

/// The Secret this SecretSync should produce with `data`.
pub fn desired(sync: &SecretSync, data: &SecretData) -> Secret {
    let object = &sync.spec.secret_object;
    let mut labels = object.labels.clone().unwrap_or_default();
    labels.insert(
        consts::CONTROLLER_LABEL_KEY.into(),
        consts::CONTROLLER_LABEL_VALUE.into(),
    );
    let annotations = object.annotations.clone().filter(|a| !a.is_empty());
    Secret {
        metadata: ObjectMeta {
            name: Some(sync.name_any()),
            namespace: sync.namespace(),
            labels: Some(labels),
            annotations,
            owner_references: Some(vec![sync.secret_owner()]),
            ..ObjectMeta::default()
        },
        type_: Some(if object.type_.is_empty() {
            consts::DEFAULT_SECRET_TYPE.into()
        } else {
            object.type_.clone()
        }),
        data: Some(
            data.0
                .iter()
                .map(|(k, v)| (k.clone(), ByteString(v.clone())))
                .collect(),
        ),
        ..Secret::default()
    }
}

/// RFC 6901 escaping of one path segment.
fn pointer(segments: &[&str]) -> String {
    segments
        .iter()
        .map(|s| format!("/{}", s.replace('~', "~0").replace('/', "~1")))
        .collect()
}

fn test(path: String, value: serde_json::Value) -> PatchOperation {
    // A pointer built by `pointer` always parses.
    PatchOperation::Test(TestOperation {
        path: path.parse().unwrap_or_default(),
        value,
    })
}

/// Tests that hold only on a Secret this SecretSync owns: our label and exactly our owner reference.
pub fn ownership_tests(sync: &SecretSync) -> Vec<PatchOperation> {
    vec![
        test(
            pointer(&["metadata", "labels", consts::CONTROLLER_LABEL_KEY]),
            serde_json::Value::String(consts::CONTROLLER_LABEL_VALUE.into()),
        ),
        test(
            pointer(&["metadata", "ownerReferences"]),
            serde_json::to_value(vec![sync.secret_owner()]).unwrap_or_default(),
        ),
    ]
}

/// Tests that hold when the Secret holds every value of `secret`'s keys (other managers' extra keys
/// allowed).
pub fn data_tests(secret: &Secret) -> Vec<PatchOperation> {
    let b64 = |v: &[u8]| base64::engine::general_purpose::STANDARD.encode(v);
    secret
        .data
        .iter()
        .flatten()
        .map(|(key, value)| test(pointer(&["data", key]), serde_json::Value::String(b64(&value.0))))
        .collect()
}

/// Tests that hold when the Secret carries everything we would apply (other managers' extra keys allowed).
pub fn content_tests(secret: &Secret) -> Vec<PatchOperation> {
    let mut ops = vec![test(
        pointer(&["type"]),
        serde_json::Value::String(secret.type_.clone().unwrap_or_default()),
    )];
    ops.extend(data_tests(secret));
    let meta = |field: &str, map: &Option<BTreeMap<String, String>>| {
        map.iter()
            .flatten()
            .map(|(k, v)| {
                test(
                    pointer(&["metadata", field, k]),
                    serde_json::Value::String(v.clone()),
                )
            })
            .collect::<Vec<_>>()
    };
    ops.extend(meta("labels", &secret.metadata.labels));
    // The API server encodes the stored object with Go's encoding/json, which escapes `&`, `<`, `>`, U+2028
    // and U+2029, and the patch library compares string bytes: such an annotation value could never test
    // equal, so it is left out of the check (the apply still sets it; only its drift goes unnoticed).
    let comparable = secret.metadata.annotations.as_ref().map(|a| {
        a.iter()
            .filter(|(_, v)| !v.contains(['&', '<', '>', '\u{2028}', '\u{2029}']))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect::<BTreeMap<_, _>>()
    });
    ops.extend(meta("annotations", &comparable));
    ops
}

/// What a test-only patch found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Check {
    /// Every test held; the Secret's resourceVersion (unchanged by the check).
    Holds(String),
    /// A test did not hold.
    Fails,
    /// The Secret does not exist.
    Absent,
}

impl Check {
    /// Read kube-apiserver's answer to a patch made only of `test` operations.
    pub fn from_answer(answer: Result<String, ClusterError>) -> Result<Self, ClusterError> {
        match answer {
            Ok(resource_version) => Ok(Self::Holds(resource_version)),
            Err(e) if e.is_not_found() => Ok(Self::Absent),
            Err(e) if e.is_patch_not_applicable() => Ok(Self::Fails),
            Err(e) => Err(e),
        }
    }
}

/// Send `tests` (only `test` operations) against the Secret.
async fn check(
    cluster: &dyn Cluster,
    namespace: &str,
    name: &str,
    tests: Vec<PatchOperation>,
) -> Result<Check, ClusterError> {
    debug_assert!(tests.iter().all(|op| matches!(op, PatchOperation::Test(_))));
    Check::from_answer(
        cluster
            .patch_secret(namespace, name, &SecretPatch::Json(Patch(tests)))
            .await,
    )
}

/// Where the Secret stands, found out by test-only patches (the table in the module doc).
enum Found {
    /// Ours, and every content test held: nothing to write; its resourceVersion.
    UpToDate(String),
    /// No such Secret.
    Absent,
    /// Ours, content differs; its resourceVersion when the ownership tests held.
    Ours(String),
    /// Ours, and every value already there: only metadata differs (or may); its resourceVersion.
    OursSameData(String),
    /// Not ours: never touched.
    Foreign,
    /// Not ours, but marked adoptable by [`consts::ADOPTABLE_ANNOTATION`]; its resourceVersion.
    Adoptable(String),
}

/// Check ownership plus `content` tests in one patch; when they fail (or `content` is `None`: a change is
/// already known), ownership plus `data` tests (when given) to tell a metadata-only change from a new
/// value, then ownership alone.
async fn find(
    cluster: &dyn Cluster,
    sync: &SecretSync,
    content: Option<Vec<PatchOperation>>,
    data: Option<Vec<PatchOperation>>,
) -> Result<Found, ClusterError> {
    let (namespace, name) = (sync.namespace().unwrap_or_default(), sync.name_any());
    if let Some(content) = content {
        let mut tests = ownership_tests(sync);
        tests.extend(content);
        match check(cluster, &namespace, &name, tests).await? {
            Check::Holds(resource_version) => return Ok(Found::UpToDate(resource_version)),
            Check::Absent => return Ok(Found::Absent),
            Check::Fails => {}
        }
    }
    if let Some(data) = data {
        let mut tests = ownership_tests(sync);
        tests.extend(data);
        match check(cluster, &namespace, &name, tests).await? {
            Check::Holds(resource_version) => return Ok(Found::OursSameData(resource_version)),
            Check::Absent => return Ok(Found::Absent),
            Check::Fails => {}
        }
    }
    Ok(
        match check(cluster, &namespace, &name, ownership_tests(sync)).await? {
            Check::Holds(resource_version) => Found::Ours(resource_version),
            Check::Absent => Found::Absent,
            Check::Fails => match check(cluster, &namespace, &name, vec![adoptable_test()]).await? {
                Check::Holds(resource_version) => Found::Adoptable(resource_version),
                Check::Absent => Found::Absent,
                Check::Fails => Found::Foreign,
            },
        },
    )
}

/// Holds on a Secret whose editor marked it adoptable.
fn adoptable_test() -> PatchOperation {
    test(
        pointer(&["metadata", "annotations", consts::ADOPTABLE_ANNOTATION]),
        serde_json::Value::String("true".into()),
    )
}

/// Take over the Secret marked adoptable, exactly the one seen at `resource_version` (409 when it changed
/// since): our label, our owner reference alone, the mark removed. Its content is then written as usual.
/// The patch also states `secret`'s type, so a Secret of another type (immutable) is refused whole (422)
/// and stays as it was: never adopted and then left unwritable.
async fn adopt(
    cluster: &dyn Cluster,
    sync: &SecretSync,
    secret: &Secret,
    resource_version: &str,
) -> Result<(), ClusterError> {
    let patch = sync.adoption_patch(resource_version, secret.type_.as_deref().unwrap_or("Opaque"));
    cluster
        .patch_secret(
            &sync.namespace().unwrap_or_default(),
            &sync.name_any(),
            &SecretPatch::Merge(patch),
        )
        .await?;
    tracing::info!(secret = %sync.name_any(), "adopted a Secret marked {}", consts::ADOPTABLE_ANNOTATION);
    Ok(())
}

/// Whether the Secret is still exactly the one at `resource_version` — nobody wrote it since we did or last
/// saw it — found out by one test-only patch; `false` when it changed or is gone.
pub async fn unchanged_since(
    cluster: &dyn Cluster,
    sync: &SecretSync,
    resource_version: &str,
) -> Result<bool, SyncError> {
    let tests = vec![test(
        pointer(&["metadata", "resourceVersion"]),
        serde_json::Value::String(resource_version.to_string()),
    )];
    let (namespace, name) = (sync.namespace().unwrap_or_default(), sync.name_any());
    match check(cluster, &namespace, &name, tests).await {
        Ok(found) => Ok(matches!(found, Check::Holds(_))),
        Err(source) => Err(SyncError::Apply { name, source }),
    }
}

/// Bring the Secret to `secret`, refusing to touch a Secret this SecretSync does not own; returns what
/// the write did and the Secret's resourceVersion after it. `expect_change` skips the content check when
/// we already know the content differs.
pub async fn write(
    cluster: &dyn Cluster,
    sync: &SecretSync,
    secret: &Secret,
    expect_change: bool,
) -> Result<(Written, String), SyncError> {
    let apply_err = |source| SyncError::Apply {
        name: sync.name_any(),
        source,
    };
    let content = (!expect_change).then(|| content_tests(secret));
    let data = Some(data_tests(secret));
    let written = match find(cluster, sync, content, data).await.map_err(apply_err)? {
        Found::UpToDate(resource_version) => return Ok((Written::Unchanged, resource_version)),
        Found::Foreign => return Err(foreign(sync)),
        Found::Absent => Written::Created,
        Found::OursSameData(_) => Written::MetadataOnly,
        Found::Ours(_) => Written::Updated,
        Found::Adoptable(resource_version) => {
            adopt(cluster, sync, secret, &resource_version)
                .await
                .map_err(|e| adopt_err(sync, e))?;
            Written::Adopted
        }
    };
    let resource_version = cluster.apply_secret(secret).await.map_err(apply_err)?;
    Ok((written, resource_version))
}

/// Partial sync: update only `data`'s keys of an existing Secret we own (the others keep their last good
/// value); create the Secret with these keys when it does not exist yet. Like [`write`], a first test-only
/// patch finds out whether anything must change; the update is a merge patch carrying the resourceVersion
/// the ownership check saw, so it lands only on that very Secret (409 and a retry otherwise).
pub async fn write_partial(
    cluster: &dyn Cluster,
    sync: &SecretSync,
    secret: &Secret,
) -> Result<(Written, String), SyncError> {
    let apply_err = |source| SyncError::Apply {
        name: sync.name_any(),
        source,
    };
    let b64 = |v: &[u8]| base64::engine::general_purpose::STANDARD.encode(v);
    let data = || secret.data.iter().flatten();
    // The content tests are the data tests here: when they fail, a value changed.
    let resource_version = match find(cluster, sync, Some(data_tests(secret)), None)
        .await
        .map_err(apply_err)?
    {
        Found::UpToDate(resource_version) => return Ok((Written::Unchanged, resource_version)),
        Found::Foreign => return Err(foreign(sync)),
        Found::Absent => {
            let resource_version = cluster.apply_secret(secret).await.map_err(apply_err)?;
            return Ok((Written::Created, resource_version));
        }
        Found::Ours(resource_version) | Found::OursSameData(resource_version) => resource_version,
        Found::Adoptable(resource_version) => {
            adopt(cluster, sync, secret, &resource_version)
                .await
                .map_err(|e| adopt_err(sync, e))?;
            let resource_version = cluster.apply_secret(secret).await.map_err(apply_err)?;
            return Ok((Written::Adopted, resource_version));
        }
    };
    let values: serde_json::Map<String, serde_json::Value> = data()
        .map(|(key, value)| (key.clone(), serde_json::Value::String(b64(&value.0))))
        .collect();
    let patch = serde_json::json!({
        "metadata": { "resourceVersion": resource_version },
        "data": values,
    });
    let resource_version = cluster
        .patch_secret(
            &sync.namespace().unwrap_or_default(),
            &sync.name_any(),
            &SecretPatch::Merge(patch),
        )
        .await
        .map_err(apply_err)?;
    Ok((Written::Updated, resource_version))
}

/// An adoption the API server refused: the owner-reference check of OwnerReferencesPermissionEnforcement
/// (observed on kube-apiserver v1.32.13: 403 "cannot set an ownerRef on a resource you can't delete") gets
/// its own reason and the way out; anything else is a failed write.
fn adopt_err(sync: &SecretSync, source: ClusterError) -> SyncError {
    if source.code == 403 && source.message.contains("cannot set an ownerRef") {
        return SyncError::AdoptionRefused {
            namespace: sync.namespace().unwrap_or_default(),
            name: sync.name_any(),
            message: source.message,
        };
    }
    SyncError::Apply {
        name: sync.name_any(),
        source,
    }
}

fn foreign(sync: &SecretSync) -> SyncError {
    SyncError::ForeignSecret {
        namespace: sync.namespace().unwrap_or_default(),
        name: sync.name_any(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sync() -> SecretSync {
        let mut s = SecretSync::new("db", sse_api::SecretSyncSpec::default());
        s.metadata.namespace = Some("app".into());
        s.metadata.uid = Some("uid-1".into());
        s.spec.secret_object.type_ = "Opaque".into();
        s.spec.secret_object.labels = Some(BTreeMap::from([("team/x".into(), "a".into())]));
        s
    }

    #[test]
    fn desired_secret_shape() {
        let data = SecretData(BTreeMap::from([("k".to_string(), b"v".to_vec())]));
        let secret = desired(&sync(), &data);
        let labels = secret.metadata.labels.clone().unwrap();
        assert_eq!(labels[consts::CONTROLLER_LABEL_KEY], "");
        assert_eq!(labels["team/x"], "a");
        let owners = secret.metadata.owner_references.clone().unwrap();
        assert_eq!(owners.len(), 1);
        assert_eq!(owners[0].kind, "SecretSync");
        assert_eq!(owners[0].api_version, "secret-sync.x-k8s.io/v1alpha1");
        assert_eq!(owners[0].uid, "uid-1");
        assert_eq!(secret.type_.as_deref(), Some("Opaque"));
        assert!(secret.metadata.annotations.is_none());
    }

    #[test]
    fn annotations_the_api_server_would_escape_are_not_tested() {
        let mut s = sync();
        s.spec.secret_object.annotations = Some(BTreeMap::from([
            ("plain".to_string(), "v".to_string()),
            ("html".to_string(), "a&b".to_string()),
        ]));
        let secret = desired(&s, &SecretData(BTreeMap::new()));
        let ops = serde_json::to_value(content_tests(&secret)).unwrap().to_string();
        assert!(ops.contains("/metadata/annotations/plain"), "{ops}");
        assert!(!ops.contains("/metadata/annotations/html"), "{ops}");
        assert_eq!(
            secret.metadata.annotations.unwrap()["html"],
            "a&b",
            "still applied"
        );
    }

    #[test]
    fn tests_escape_keys_and_cover_the_content() {
        let data = SecretData(BTreeMap::from([("k".to_string(), b"v".to_vec())]));
        let secret = desired(&sync(), &data);
        let ops = serde_json::to_value(content_tests(&secret)).unwrap().to_string();
        assert!(ops.contains("\"/metadata/labels/team~1x\""), "{ops}");
        assert!(ops.contains("\"/data/k\"") && ops.contains("\"dg==\""), "{ops}");
        let own = serde_json::to_value(ownership_tests(&sync()))
            .unwrap()
            .to_string();
        assert!(
            own.contains("/metadata/labels/secrets-store.sync.x-k8s.io"),
            "{own}"
        );
        assert!(own.contains("uid-1"), "{own}");
    }
}

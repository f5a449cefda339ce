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

use base64::Engine;
use json_patch::{Patch, PatchOperation};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::ResourceExt;
use sse_api::{ClusterSecretSync, SecretObject, SecretSync, cluster_secret_sync, consts};

use crate::cluster::{Cluster, ClusterError, SecretPatch};
use crate::error::SyncError;
use crate::mapping::SecretData;
use crate::outcome::Written;

mod ops;
#[cfg(test)]
mod tests;

pub use ops::{Check, content_tests, data_tests, ownership_tests, pointer, test};

/// The Secret a write is for, and what makes it ours: the owner reference it carries alone, and labels
/// beside the controller's.
#[derive(Clone, Debug)]
pub struct Target<'a> {
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// The one owner reference a Secret of ours carries.
    pub owner: OwnerReference,
    /// Labels a Secret of ours carries besides the controller label (a ClusterSecretSync's name).
    pub marks: Vec<(&'static str, String)>,
    /// The SecretSync that takes over a Secret its editor marked adoptable; `None`: such a mark is ignored
    /// (fan-out never adopts).
    pub adopter: Option<&'a SecretSync>,
}

impl<'a> Target<'a> {
    /// The Secret of a SecretSync: same name and namespace, the SecretSync as owner, adoptable.
    pub fn of(sync: &'a SecretSync) -> Self {
        Self {
            namespace: sync.namespace().unwrap_or_default(),
            name: sync.name_any(),
            owner: sync.secret_owner(),
            marks: Vec::new(),
            adopter: Some(sync),
        }
    }

    /// The Secret a ClusterSecretSync writes in `namespace`: its name, its label, it as controller; never
    /// adopted.
    pub fn fanout(css: &ClusterSecretSync, namespace: &str) -> Self {
        Self {
            namespace: namespace.to_string(),
            name: css.name_any(),
            owner: css.secret_owner(),
            marks: vec![(cluster_secret_sync::LABEL, css.name_any())],
            adopter: None,
        }
    }
}

/// The Secret this SecretSync should produce with `data`.
pub fn desired(sync: &SecretSync, data: &SecretData) -> Secret {
    desired_for(&Target::of(sync), &sync.spec.secret_object, data, None)
}

/// The Secret `object` describes, with `data` and the vault's `tagged` labels and annotations, written as
/// `target`.
pub fn desired_for(
    target: &Target<'_>,
    object: &SecretObject,
    data: &SecretData,
    tagged: Option<&crate::tags::Tagged>,
) -> Secret {
    let mut labels = object.labels.clone().unwrap_or_default();
    labels.insert(
        consts::CONTROLLER_LABEL_KEY.into(),
        consts::CONTROLLER_LABEL_VALUE.into(),
    );
    labels.extend(target.marks.iter().map(|(k, v)| ((*k).to_string(), v.clone())));
    let annotations = object.annotations.clone().filter(|a| !a.is_empty());
    let mut secret = Secret {
        metadata: ObjectMeta {
            name: Some(target.name.clone()),
            namespace: Some(target.namespace.clone()),
            labels: Some(labels),
            annotations,
            owner_references: Some(vec![target.owner.clone()]),
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
    };
    if let Some(tagged) = tagged {
        crate::tags::apply(&mut secret, tagged);
    }
    secret
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

/// Whether the Secret is `target`'s (its ownership tests, as one test-only patch): `Holds` with the
/// resourceVersion they held at, `Fails` when it is not, `Absent`.
pub async fn owned(cluster: &dyn Cluster, target: &Target<'_>) -> Result<Check, ClusterError> {
    check(cluster, &target.namespace, &target.name, ownership_tests(target)).await
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
    target: &Target<'_>,
    content: Option<Vec<PatchOperation>>,
    data: Option<Vec<PatchOperation>>,
) -> Result<Found, ClusterError> {
    let (namespace, name) = (target.namespace.as_str(), target.name.as_str());
    if let Some(content) = content {
        let mut tests = ownership_tests(target);
        tests.extend(content);
        match check(cluster, namespace, name, tests).await? {
            Check::Holds(resource_version) => return Ok(Found::UpToDate(resource_version)),
            Check::Absent => return Ok(Found::Absent),
            Check::Fails => {}
        }
    }
    if let Some(data) = data {
        let mut tests = ownership_tests(target);
        tests.extend(data);
        match check(cluster, namespace, name, tests).await? {
            Check::Holds(resource_version) => return Ok(Found::OursSameData(resource_version)),
            Check::Absent => return Ok(Found::Absent),
            Check::Fails => {}
        }
    }
    Ok(
        match check(cluster, namespace, name, ownership_tests(target)).await? {
            Check::Holds(resource_version) => Found::Ours(resource_version),
            Check::Absent => Found::Absent,
            Check::Fails if target.adopter.is_none() => Found::Foreign,
            Check::Fails => match check(cluster, namespace, name, vec![adoptable_test()]).await? {
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
    target: &Target<'_>,
    secret: &Secret,
    resource_version: &str,
) -> Result<(), SyncError> {
    // Only a target with an adopter finds a Secret adoptable (`find`).
    let Some(sync) = target.adopter else {
        return Err(foreign(target));
    };
    let patch = sync.adoption_patch(resource_version, secret.type_.as_deref().unwrap_or("Opaque"));
    cluster
        .patch_secret(&target.namespace, &target.name, &SecretPatch::Merge(patch))
        .await
        .map_err(|e| adopt_err(target, e))?;
    tracing::info!(secret = %sync.name_any(), "adopted a Secret marked {}", consts::ADOPTABLE_ANNOTATION);
    Ok(())
}

/// Whether the Secret is still exactly the one at `resource_version` — nobody wrote it since we did or last
/// saw it — found out by one test-only patch; `false` when it changed or is gone.
pub async fn unchanged_since(
    cluster: &dyn Cluster,
    target: &Target<'_>,
    resource_version: &str,
) -> Result<bool, SyncError> {
    let tests = vec![test(
        pointer(&["metadata", "resourceVersion"]),
        serde_json::Value::String(resource_version.to_string()),
    )];
    match check(cluster, &target.namespace, &target.name, tests).await {
        Ok(found) => Ok(matches!(found, Check::Holds(_))),
        Err(source) => Err(SyncError::Apply {
            name: target.name.clone(),
            source,
        }),
    }
}

/// Bring the Secret to `secret`, refusing to touch a Secret this SecretSync does not own; returns what
/// the write did and the Secret's resourceVersion after it. `expect_change` skips the content check when
/// we already know the content differs.
pub async fn write(
    cluster: &dyn Cluster,
    target: &Target<'_>,
    secret: &Secret,
    expect_change: bool,
) -> Result<(Written, String), SyncError> {
    let apply_err = |source| SyncError::Apply {
        name: target.name.clone(),
        source,
    };
    let content = (!expect_change).then(|| content_tests(secret));
    let data = Some(data_tests(secret));
    let written = match find(cluster, target, content, data).await.map_err(apply_err)? {
        Found::UpToDate(resource_version) => return Ok((Written::Unchanged, resource_version)),
        Found::Foreign => return Err(foreign(target)),
        Found::Absent => Written::Created,
        Found::OursSameData(_) => Written::MetadataOnly,
        Found::Ours(_) => Written::Updated,
        Found::Adoptable(resource_version) => {
            adopt(cluster, target, secret, &resource_version).await?;
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
    target: &Target<'_>,
    secret: &Secret,
) -> Result<(Written, String), SyncError> {
    let apply_err = |source| SyncError::Apply {
        name: target.name.clone(),
        source,
    };
    let b64 = |v: &[u8]| base64::engine::general_purpose::STANDARD.encode(v);
    let data = || secret.data.iter().flatten();
    // The content tests are the data tests here: when they fail, a value changed.
    let resource_version = match find(cluster, target, Some(data_tests(secret)), None)
        .await
        .map_err(apply_err)?
    {
        Found::UpToDate(resource_version) => return Ok((Written::Unchanged, resource_version)),
        Found::Foreign => return Err(foreign(target)),
        Found::Absent => {
            let resource_version = cluster.apply_secret(secret).await.map_err(apply_err)?;
            return Ok((Written::Created, resource_version));
        }
        Found::Ours(resource_version) | Found::OursSameData(resource_version) => resource_version,
        Found::Adoptable(resource_version) => {
            adopt(cluster, target, secret, &resource_version).await?;
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
        .patch_secret(&target.namespace, &target.name, &SecretPatch::Merge(patch))
        .await
        .map_err(apply_err)?;
    Ok((Written::Updated, resource_version))
}

/// An adoption the API server refused: the owner-reference check of OwnerReferencesPermissionEnforcement
/// (observed on kube-apiserver v1.32.13: 403 "cannot set an ownerRef on a resource you can't delete") gets
/// its own reason and the way out; anything else is a failed write.
fn adopt_err(target: &Target<'_>, source: ClusterError) -> SyncError {
    if source.code == 403 && source.message.contains("cannot set an ownerRef") {
        return SyncError::AdoptionRefused {
            namespace: target.namespace.clone(),
            name: target.name.clone(),
            message: source.message,
        };
    }
    SyncError::Apply {
        name: target.name.clone(),
        source,
    }
}

fn foreign(target: &Target<'_>) -> SyncError {
    SyncError::ForeignSecret {
        namespace: target.namespace.clone(),
        name: target.name.clone(),
    }
}

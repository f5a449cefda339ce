//! `deletionPolicy: Keep`: a finalizer holds the resource's deletion until each of its Secrets is released
//! (our labels and owner reference removed, `sse-rs.io/released-from` added, data untouched), after which
//! the manager never touches them again. With `Delete` (the default) garbage collection removes the Secrets
//! through their owner reference, even with the manager down.

use std::sync::Arc;

use futures::StreamExt as _;
use json_patch::{AddOperation, Patch, PatchOperation, RemoveOperation, TestOperation};
use kube::ResourceExt;
use sse_api::cluster_secret_sync::{KEEP_FINALIZER, LABEL, RELEASED_ANNOTATION};
use sse_api::{ClusterSecretSync, DeletionPolicy, consts};

use crate::cluster::{ClusterError, SecretPatch};
use crate::context::Context;
use crate::secret::{self, Check, Target};

/// Put the finalizer on a resource with `Keep` (before any of its Secrets is written), or take ours off one
/// switched to `Delete`; pinned to the resourceVersion seen. Answers whether it patched.
pub async fn ensure(ctx: &Context, css: &ClusterSecretSync) -> Result<bool, ClusterError> {
    let finalizers = css.finalizers();
    let held = finalizers.iter().position(|f| f == KEEP_FINALIZER);
    let version = test(
        "/metadata/resourceVersion",
        css.resource_version().unwrap_or_default().into(),
    );
    let ops = match (css.spec.deletion_policy, held) {
        (DeletionPolicy::Keep, None) if finalizers.is_empty() => vec![
            version,
            add("/metadata/finalizers", serde_json::json!([KEEP_FINALIZER])),
        ],
        (DeletionPolicy::Keep, None) => vec![version, add("/metadata/finalizers/-", KEEP_FINALIZER.into())],
        (DeletionPolicy::Delete, Some(i)) => vec![
            version,
            test(&format!("/metadata/finalizers/{i}"), KEEP_FINALIZER.into()),
            remove(&format!("/metadata/finalizers/{i}")),
        ],
        _ => return Ok(false),
    };
    ctx.cluster
        .patch_cluster_sync(&css.name_any(), &Patch(ops))
        .await?;
    Ok(true)
}

/// The resource is being deleted: with our finalizer, release its Secret in each of `namespaces` (every
/// namespace there is: after a restart the record may not know them all), then remove the finalizer.
/// Answers how many Secrets were released.
pub async fn finish(
    ctx: &Context,
    css: &ClusterSecretSync,
    namespaces: Vec<Arc<str>>,
    concurrency: usize,
) -> Result<usize, ClusterError> {
    let Some(i) = css.finalizers().iter().position(|f| f == KEEP_FINALIZER) else {
        return Ok(0);
    };
    let released = futures::stream::iter(namespaces.into_iter().map(|ns| release(ctx, css, ns)))
        .buffer_unordered(concurrency.max(1))
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<Vec<bool>, ClusterError>>()?;
    let ops = vec![
        test(&format!("/metadata/finalizers/{i}"), KEEP_FINALIZER.into()),
        remove(&format!("/metadata/finalizers/{i}")),
    ];
    ctx.cluster
        .patch_cluster_sync(&css.name_any(), &Patch(ops))
        .await?;
    Ok(released.into_iter().filter(|r| *r).count())
}

/// Release the Secret in `ns` if it is this resource's: a merge patch pinned to the resourceVersion the
/// ownership tests saw. `false` when there was none of ours.
async fn release(ctx: &Context, css: &ClusterSecretSync, ns: Arc<str>) -> Result<bool, ClusterError> {
    let target = Target::fanout(css, &ns);
    let found = ctx
        .cluster
        .patch_secret(
            &ns,
            &target.name,
            &SecretPatch::Json(Patch(secret::ownership_tests(&target))),
        )
        .await;
    let Check::Holds(version) = Check::from_answer(found)? else {
        return Ok(false);
    };
    let patch = serde_json::json!({
        "metadata": {
            "resourceVersion": version,
            "ownerReferences": null,
            "labels": { consts::CONTROLLER_LABEL_KEY: null, LABEL: null },
            "annotations": {
                RELEASED_ANNOTATION: format!("{}/{}", css.name_any(), css.uid().unwrap_or_default())
            },
        }
    });
    match ctx
        .cluster
        .patch_secret(&ns, &target.name, &SecretPatch::Merge(patch))
        .await
    {
        Ok(_) => Ok(true),
        Err(e) if e.is_not_found() => Ok(false),
        Err(e) => Err(e),
    }
}

fn test(path: &str, value: serde_json::Value) -> PatchOperation {
    PatchOperation::Test(TestOperation {
        path: path.parse().unwrap_or_default(),
        value,
    })
}

fn add(path: &str, value: serde_json::Value) -> PatchOperation {
    PatchOperation::Add(AddOperation {
        path: path.parse().unwrap_or_default(),
        value,
    })
}

fn remove(path: &str) -> PatchOperation {
    PatchOperation::Remove(RemoveOperation {
        path: path.parse().unwrap_or_default(),
    })
}

//! `deletionPolicy: Keep`: a finalizer holds the resource's deletion until each of its Secrets is released
//! (our labels and owner reference removed, `sse-rs.io/released-from` added, data untouched), after which
//! the manager never touches them again. With `Delete` (the default) garbage collection removes the Secrets
//! through their owner reference, even with the manager down.

use std::sync::Arc;

use futures::StreamExt as _;
use json_patch::{AddOperation, Patch, PatchOperation, RemoveOperation};
use kube::ResourceExt;
use sse_api::cluster_secret_sync::{KEEP_FINALIZER, LABEL, RELEASED_ANNOTATION};
use sse_api::{ClusterSecretSync, DeletionPolicy, consts};

use crate::cluster::{ClusterError, SecretPatch};
use crate::context::Context;
use crate::secret::{self, Check, Target, pointer, test};

/// Put the finalizer on a resource with `Keep` (before any of its Secrets is written), or take ours off one
/// switched to `Delete`; pinned to the resourceVersion seen. Answers whether it patched.
pub async fn ensure(ctx: &Context, css: &ClusterSecretSync) -> Result<bool, ClusterError> {
    let finalizers = css.finalizers();
    let held = finalizers.iter().position(|f| f == KEEP_FINALIZER);
    let version = test(
        pointer(&["metadata", "resourceVersion"]),
        css.resource_version().unwrap_or_default().into(),
    );
    let ops = match (css.spec.deletion_policy, held) {
        (DeletionPolicy::Keep, None) if finalizers.is_empty() => vec![
            version,
            add(
                &pointer(&["metadata", "finalizers"]),
                serde_json::json!([KEEP_FINALIZER]),
            ),
        ],
        (DeletionPolicy::Keep, None) => vec![
            version,
            add(&pointer(&["metadata", "finalizers", "-"]), KEEP_FINALIZER.into()),
        ],
        (DeletionPolicy::Delete, Some(i)) => {
            let mut ops = vec![version];
            ops.extend(without_finalizer(i));
            ops
        }
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
    ctx.cluster
        .patch_cluster_sync(&css.name_any(), &Patch(without_finalizer(i).to_vec()))
        .await?;
    Ok(released.into_iter().filter(|r| *r).count())
}

/// Release the Secret in `ns` if it is this resource's: a merge patch pinned to the resourceVersion the
/// ownership tests saw. `false` when there was none of ours.
async fn release(ctx: &Context, css: &ClusterSecretSync, ns: Arc<str>) -> Result<bool, ClusterError> {
    let target = Target::fanout(css, &ns);
    let Check::Holds(version) = secret::owned(&*ctx.cluster, &target).await? else {
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

/// Remove our finalizer, found at index `i` (tested there, so a list that moved meanwhile fails whole).
fn without_finalizer(i: usize) -> [PatchOperation; 2] {
    let at = pointer(&["metadata", "finalizers", &i.to_string()]);
    [
        test(at.clone(), KEEP_FINALIZER.into()),
        PatchOperation::Remove(RemoveOperation {
            path: at.parse().unwrap_or_default(),
        }),
    ]
}

/// An `add` operation at `path` (built by [`pointer`], or `pointer` + `/-` to append).
fn add(path: &str, value: serde_json::Value) -> PatchOperation {
    PatchOperation::Add(AddOperation {
        path: path.parse().unwrap_or_default(),
        value,
    })
}

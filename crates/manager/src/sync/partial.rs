//! Partial sync (docs/API.md#partial-sync): the healthy keys of a sync some of whose objects failed, and the
//! per-item summary the status carries.

use std::collections::BTreeMap;

use sse_api::SecretSync;
use sse_shape::plan::Plan;

use super::Mount;
use crate::error::SyncError;
use crate::mapping::{self, SecretData};

/// The healthy keys of a partial mount and the per-item summary; an error when nothing is healthy (the
/// first provider failure). With a shape, the outputs whose inputs failed are summary items too (`template` or
/// `dataFrom` set), and keep their last value.
pub(super) fn map_partial(
    sync: &SecretSync,
    mut mount: Mount,
    plan: Option<&Plan>,
) -> Result<(SecretData, String), SyncError> {
    let items = mapping::map_items(&sync.spec.secret_object, &mount.mounted.files);
    let healthy: BTreeMap<String, Vec<u8>> = items
        .iter()
        .filter_map(|i| i.result.as_ref().ok().map(|v| (i.target_key.clone(), v.clone())))
        .collect();
    let (healthy, shaped) = match plan {
        Some(plan) => {
            let failed = items
                .iter()
                .filter(|i| i.result.is_err())
                .map(|i| i.target_key.clone())
                .collect();
            plan.shape_partial(healthy, &failed, &mount.mounted.files)
        }
        None => (healthy, Vec::new()),
    };
    if healthy.is_empty() && !mount.failures.is_empty() {
        return Err(mount.failures.swap_remove(0).into());
    }
    let healthy = SecretData(healthy);
    let shaped = shaped.into_iter().map(|failed| {
        let error = crate::cluster::truncate(&failed.error, SUMMARY_ENTRY_MAX);
        match failed.key {
            Some(key) => {
                serde_json::json!({"targetKey": key, "template": true, "status": "Failed", "error": error})
            }
            None => serde_json::json!({"dataFrom": true, "status": "Failed", "error": error}),
        }
    });
    let items = items.iter().map(|i| match &i.result {
        Ok(_) => {
            serde_json::json!({"targetKey": i.target_key, "sourcePath": i.source_path, "status": "Synced"})
        }
        Err(e) => serde_json::json!({
            "targetKey": i.target_key, "sourcePath": i.source_path, "status": "Failed",
            "error": crate::cluster::truncate(&e.to_string(), SUMMARY_ENTRY_MAX),
        }),
    });
    let items = items.chain(shaped);
    let errors = mount
        .failures
        .iter()
        .map(|e| serde_json::Value::String(crate::cluster::truncate(&e.to_string(), SUMMARY_ENTRY_MAX)));
    Ok((healthy, partial_summary(items, errors)))
}

/// Longest error text of one entry of a partial-sync summary, in bytes.
const SUMMARY_ENTRY_MAX: usize = 1024;

/// The partial-sync summary, `{"items": […], "providerErrors": […]}`, kept valid JSON within a condition
/// message's budget. Items keep the SecretSync's order when they all fit; otherwise failures come first (what
/// failed is what the status must show) and the entries that would not fit are left out and counted
/// (`omittedItems`, `omittedProviderErrors`).
fn partial_summary(
    items: impl Iterator<Item = serde_json::Value>,
    errors: impl Iterator<Item = serde_json::Value>,
) -> String {
    // Room for the envelope and the two counts.
    let budget = sse_api::conditions::MESSAGE_BUDGET - 128;
    let items: Vec<_> = items.collect();
    let errors: Vec<_> = errors.collect();
    let whole = serde_json::json!({ "items": items, "providerErrors": errors }).to_string();
    if whole.len() <= budget {
        return whole;
    }
    let (mut failed, synced): (Vec<_>, Vec<_>) = items.into_iter().partition(|i| i["status"] == "Failed");
    failed.extend(synced);
    let mut used = 0;
    let mut keep = |entries: Vec<serde_json::Value>| {
        let total = entries.len();
        let kept: Vec<_> = entries
            .into_iter()
            .take_while(|e| {
                used += e.to_string().len() + 1;
                used <= budget
            })
            .collect();
        let omitted = total - kept.len();
        (kept, omitted)
    };
    let (items, omitted_items) = keep(failed);
    let (errors, omitted_errors) = keep(errors);
    let mut summary = serde_json::json!({ "items": items, "providerErrors": errors });
    if omitted_items > 0 {
        summary["omittedItems"] = omitted_items.into();
    }
    if omitted_errors > 0 {
        summary["omittedProviderErrors"] = omitted_errors.into();
    }
    summary.to_string()
}

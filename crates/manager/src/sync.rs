//! One sync of one SecretSync, top to bottom, each stage once:
//!
//! ```text
//! validate ─▶ class ─▶ tokens ─▶ (quiet?) ─▶ parse shape ─▶ mount ─▶ map ─▶ shape ─▶ hash ─▶ write ─▶ Outcome
//! ```
//!
//! The status step is the caller's. The write goes to a [`Destination`]: the SecretSync's own Secret, or a
//! fan-out's Secrets in every namespace it selects (one fetch for all of them). Shaping (docs/API.md#shaping) runs only for a SecretSync that has a shape.
//!
//! With partial sync (docs/API.md#partial-sync) the mount stage makes one Mount per object, so one failing
//! object cannot block the others; the map and write stages then keep the healthy keys only.
//!
//! Before the mount stage, when the provider serves change detection, its fingerprint of the objects is
//! asked for; if nothing changed since the last full sync (see [`crate::changes`]) the check ends there,
//! quiet, without a Mount.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use kube::ResourceExt;
use sse_api::{SecretProviderClass, SecretSync, validation};

use crate::changes::{self, Baseline};
use crate::context::Context;
use crate::error::SyncError;
use crate::mapping;
use crate::outcome::{Outcome, Written};
use crate::provider::{self, Changed, Fingerprint, Mounted, ProviderError};
use crate::secret;

mod destination;
mod hashing;
mod partial;

pub use destination::{Destination, OwnSecret};

use hashing::hash;
use partial::map_partial;

/// What a sync achieved, and when the vault state it reflects was read (when change detection answered):
/// the next check is due one interval after that, so a change is never seen later than one interval.
#[derive(Debug)]
pub struct Done {
    /// What the sync achieved.
    pub outcome: Outcome,
    /// When the provider read the metadata this check relied on.
    pub observed_at: Option<SystemTime>,
    /// The objects' validity dates, when the provider reported them (with change detection).
    pub validity: Option<Vec<crate::expiry::Dates>>,
    /// Warning Events about what was written: (reason, message). Published only when the Secret was.
    pub warnings: Vec<(&'static str, String)>,
}

/// The sync proper: what the provider returns, written to the Secret.
pub async fn sync_once(sync: &SecretSync, ctx: &Context) -> Result<Done, SyncError> {
    sync_with_news(sync, ctx, None).await
}

/// [`sync_once`], told by the vault's events that `changed` objects have a new version (or, with no ids, that
/// an expiry date passed): the check mounts, then asks change detection for those objects as read after the
/// news, the others as its last answer saw them (docs/EVENTS.md#refresh-driven-by-events).
pub async fn sync_with_news(
    sync: &SecretSync,
    ctx: &Context,
    changed: Option<&Changed>,
) -> Result<Done, SyncError> {
    sync_into(sync, ctx, changed, &OwnSecret(sync)).await
}

/// [`sync_with_news`], the values written to `dest`: the SecretSync here is the source of the fetch (its class,
/// identity, objects and shape), `dest` says where the Secret(s) are.
pub async fn sync_into(
    sync: &SecretSync,
    ctx: &Context,
    changed: Option<&Changed>,
    dest: &dyn Destination,
) -> Result<Done, SyncError> {
    validation::validate_spec(&sync.spec)?;
    let (tag_labels, tag_annotations) = match &sync.metadata.annotations {
        Some(annotations) => {
            validation::refresh_interval(annotations)?;
            validation::tag_mappings(annotations)?
        }
        None => Default::default(),
    };
    let class = class(sync, ctx).await?;
    let tokens = tokens(sync, ctx).await?;
    let key = crate::schedule::key(sync);
    let inputs = changes::inputs(
        sync.metadata.generation,
        &class.uid().unwrap_or_default(),
        class.metadata.generation,
        crate::schedule::tag_config(sync),
    );
    // Told of a new version, the check mounts first: the provider learns the objects' metadata from the
    // Mount's own reads, so the fingerprint asked for after it (the baseline of later checks, tags and
    // dates) costs no request, and a rotation costs the one GET of the new version. Otherwise change
    // detection comes first, and a quiet check ends there.
    let news = changed.filter(|c| !c.ids.is_empty());
    let mut detected = match news {
        Some(_) => None,
        None => detect(sync, ctx, &key, &class, tokens.as_deref(), changed).await,
    };
    // A force-sync request reads the vault whatever change detection says (the fingerprint still
    // becomes the baseline of the checks that follow).
    let forced = ctx.schedule.force_sync_pending(sync).is_some();
    if !forced
        && let Some(found) = &detected
        && let Some(outcome) = quiet(sync, ctx, &key, inputs, found, dest).await?
    {
        return Ok(Done {
            outcome,
            observed_at: Some(found.observed_at),
            validity: Some(found.validity.clone()),
            warnings: Vec::new(),
        });
    }
    // Templates and paths are parsed before any vault read: a syntax error costs no request. A quiet check
    // returned above and parses nothing.
    let plan = sse_shape::plan::Plan::parse_cached(&sync.spec.secret_object, &ctx.templates)?;
    ctx.baselines.invalidate(&key);
    let mount = mount(sync, ctx, &class, tokens.as_deref()).await?;
    if news.is_some() {
        detected = detect(sync, ctx, &key, &class, tokens.as_deref(), news).await;
    }
    let observed_at = detected.as_ref().map(|f| f.observed_at);
    let validity = detected.as_ref().map(|f| f.validity.clone());
    // Tags onto the Secret when asked for and known (they come with change detection).
    let tagged = (!tag_labels.is_empty() || !tag_annotations.is_empty())
        .then(|| {
            detected
                .as_ref()
                .map(|f| crate::tags::resolve(&tag_labels, &tag_annotations, &f.tags))
        })
        .flatten();
    let warnings: Vec<(&'static str, String)> = tagged
        .iter()
        .flat_map(|t| t.skipped.iter().map(|why| ("TagNotCopied", why.clone())))
        .collect();
    if mount.failures.is_empty() {
        let items = mapping::build_secret_data(&sync.spec.secret_object, &mount.mounted.files)?;
        let data = match &plan {
            Some(plan) => mapping::SecretData(plan.shape(items.0, &mount.mounted.files)?),
            None => items,
        }
        .fits()?;
        let hash = hash(sync, &class, &mount.mounted);
        let previous = sync.status.as_ref().and_then(|s| s.sync_hash.as_deref());
        // A new version means new bytes, unless the Secret is shaped: an input whose used part did not
        // change renders the same bytes, so a shaped Secret is compared before it is written.
        let expect_change = plan.is_none() && previous != Some(hash.as_str());
        let (written, secret_version) = dest.write(ctx, &data, tagged.as_ref(), expect_change).await?;
        if let Some(digest) = detected.and_then(|f| f.digest) {
            ctx.baselines.synced(
                &key,
                Baseline {
                    inputs,
                    digest,
                    secret_version,
                    hash: hash.clone(),
                    synced_at: SystemTime::now(),
                },
            );
        }
        return Ok(Done {
            outcome: Outcome::Synced { written, hash },
            observed_at,
            validity,
            warnings,
        });
    }
    let (healthy, summary) = map_partial(sync, mount, plan.as_ref())?;
    let healthy = healthy.fits()?;
    let written = dest.write_partial(ctx, &healthy, tagged.as_ref()).await?;
    Ok(Done {
        outcome: Outcome::Partial { written, summary },
        observed_at,
        validity,
        warnings,
    })
}

/// The attributes of a Mount (or a fingerprints request) for `sync` with these SecretProviderClass
/// parameters.
fn mount_attributes(
    sync: &SecretSync,
    ctx: &Context,
    parameters: &BTreeMap<String, String>,
    tokens: Option<&str>,
) -> String {
    provider::attributes(
        parameters,
        &ctx.config.pod_name,
        &ctx.config.pod_uid,
        (&sync.namespace().unwrap_or_default(), &sync.name_any()),
        &sync.spec.service_account_name,
        tokens,
    )
}

/// The provider's fingerprint of the SecretSync's objects, from metadata newer than its last answer; `None`
/// when change detection is off, not served by the provider, or failed (a Mount follows).
async fn detect(
    sync: &SecretSync,
    ctx: &Context,
    key: &str,
    class: &SecretProviderClass,
    tokens: Option<&str>,
    changed: Option<&Changed>,
) -> Option<Fingerprint> {
    if !ctx.config.change_detection {
        return None;
    }
    let provider = class.spec.provider.clone().unwrap_or_default();
    let attributes = mount_attributes(sync, ctx, &parameters(class, sync), tokens);
    // Newer than what this SecretSync last saw; on its first check, anything from the last interval (the
    // check mounts anyway, the answer only becomes its baseline).
    // Told of a change, the objects it names are read afresh and the others may come from the very
    // metadata the last answer used: a check an event asks for reads only what the event is about.
    let observed = ctx.baselines.observed_at(key);
    let not_before = match (observed, changed) {
        (Some(at), Some(_)) => at.checked_sub(Duration::from_millis(1)).unwrap_or(at),
        (Some(at), None) => at,
        (None, _) => SystemTime::now()
            .checked_sub(ctx.schedule.interval(sync))
            .unwrap_or(SystemTime::UNIX_EPOCH),
    };
    let mut found = ctx
        .providers
        .fingerprint(&provider, attributes, not_before, changed)
        .await?;
    found.observed_at = ctx
        .schedule
        .trusted_observation(sync, found.observed_at, SystemTime::now());
    ctx.baselines.observed(key, found.observed_at);
    Some(found)
}

/// The check's outcome when nothing changed since the last full sync (see [`crate::changes`]): the vault's
/// fingerprint, the SecretSync, its class and the Secret are all as that sync left them.
async fn quiet(
    sync: &SecretSync,
    ctx: &Context,
    key: &str,
    inputs: u64,
    found: &Fingerprint,
    dest: &dyn Destination,
) -> Result<Option<Outcome>, SyncError> {
    let Some(baseline) = ctx.baselines.baseline(key) else {
        return Ok(None);
    };
    let status = sync.status.clone().unwrap_or_default();
    let healthy = status.observed_generation == sync.metadata.generation
        && sse_api::conditions::is_condition_true(&status.conditions, sse_api::conditions::READY);
    let (Some(hash), true) = (status.sync_hash, healthy) else {
        return Ok(None);
    };
    let recent = SystemTime::now()
        .duration_since(baseline.synced_at)
        .is_ok_and(|age| age < changes::FULL_CHECK_EVERY);
    if baseline.inputs != inputs || found.digest != Some(baseline.digest) || hash != baseline.hash || !recent
    {
        return Ok(None);
    }
    if !dest.intact(ctx, &baseline.secret_version).await? {
        return Ok(None);
    }
    Ok(Some(Outcome::Synced {
        written: Written::Unchanged,
        hash,
    }))
}

/// The SecretProviderClass parameters, its objects cut down to those the SecretSync maps
/// ([`crate::scope`]).
fn parameters(class: &SecretProviderClass, sync: &SecretSync) -> BTreeMap<String, String> {
    let all = class.spec.parameters.clone().unwrap_or_default();
    let so = &sync.spec.secret_object;
    let paths = so
        .data
        .iter()
        .map(|d| d.source_path.as_str())
        .chain(sse_shape::plan::Plan::sources(so));
    crate::scope::only_mapped(class.spec.provider.as_deref().unwrap_or_default(), all, paths)
}

/// The SecretProviderClass the SecretSync names, in its namespace.
async fn class(sync: &SecretSync, ctx: &Context) -> Result<std::sync::Arc<SecretProviderClass>, SyncError> {
    let name = &sync.spec.secret_provider_class_name;
    ctx.cluster
        .secret_provider_class(&sync.namespace().unwrap_or_default(), name)
        .await
        .map_err(|e| SyncError::Internal(e.to_string()))?
        .ok_or_else(|| SyncError::ProviderClassNotFound { name: name.clone() })
}

/// The `csi.storage.k8s.io/serviceAccount.tokens` attribute for the SecretSync's ServiceAccount.
async fn tokens(sync: &SecretSync, ctx: &Context) -> Result<Option<String>, SyncError> {
    ctx.tokens
        .attribute(
            &*ctx.cluster,
            &sync.namespace().unwrap_or_default(),
            &sync.spec.service_account_name,
            &ctx.config.audiences,
        )
        .await
        .map_err(SyncError::Token)
}

/// What the Mount stage returned: the files, and the objects that failed (partial sync only).
struct Mount {
    mounted: Mounted,
    failures: Vec<ProviderError>,
}

/// Call the provider: one Mount, or one per object when partial sync is on. A configuration error fails
/// the whole sync; with partial sync other failures are kept for the summary.
async fn mount(
    sync: &SecretSync,
    ctx: &Context,
    class: &SecretProviderClass,
    tokens: Option<&str>,
) -> Result<Mount, SyncError> {
    let provider = class.spec.provider.clone().unwrap_or_default();
    let parameters = parameters(class, sync);
    let attributes = |params: &BTreeMap<String, String>| mount_attributes(sync, ctx, params, tokens);
    let parts = ctx
        .config
        .partial_sync
        .then(|| provider::split_objects(&parameters))
        .flatten();
    let Some(parts) = parts else {
        let mounted = ctx.providers.mount(&provider, attributes(&parameters)).await?;
        return Ok(Mount {
            mounted,
            failures: Vec::new(),
        });
    };
    let mut mounts: futures::stream::FuturesUnordered<_> = parts
        .iter()
        .map(|p| ctx.providers.mount(&provider, attributes(p)))
        .collect();
    let mut mount = Mount {
        mounted: Mounted::default(),
        failures: Vec::new(),
    };
    // One sync holds at most what one Mount may return: past it, the Mounts still running are dropped
    // (cancelled) and the sync fails with the reason.
    let limit = ctx.providers.max_recv_bytes();
    let mut bytes = 0usize;
    while let Some(result) = futures::StreamExt::next(&mut mounts).await {
        match result {
            Ok(part) => {
                bytes = bytes.saturating_add(part.files.values().map(Vec::len).sum());
                if bytes > limit {
                    return Err(mapping::MappingError::MountTooLarge { bytes, limit }.into());
                }
                mount.mounted.files.extend(part.files);
                mount.mounted.versions.extend(part.versions);
            }
            Err(e) if e.is_configuration() => return Err(e.into()),
            Err(e) => mount.failures.push(e),
        }
    }
    // The order the answers came in is not the class's: a stable order keeps the summary, and so the
    // status, the same from one check to the next.
    mount.failures.sort_by_key(ToString::to_string);
    Ok(mount)
}

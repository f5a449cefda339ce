//! The entries of a sync's `status.syncHash` (docs/API.md#sync-hash).

use kube::ResourceExt;
use sse_api::{SecretProviderClass, SecretSync};

use crate::hash::{HashInputs, sync_hash};
use crate::provider::Mounted;

/// The sync hash: the data mapping and the object versions the provider returned — not the values.
/// `syncHash` is readable by anyone who may read the SecretSync, and every other hash input is public, so a
/// hash over the values would let them test guesses of a secret. Vault versions are immutable, so a new
/// value always comes with a new version; byte-level drift of the Secret itself is caught by the
/// server-side content test in [`secret::write`].
pub(super) fn hash(sync: &SecretSync, class: &SecretProviderClass, mounted: &Mounted) -> String {
    let mapping = sync.spec.secret_object.data.iter().map(|d| {
        (
            format!("key:{}", d.target_key.trim()),
            d.source_path.trim().as_bytes().to_vec(),
        )
    });
    let versions = mounted
        .versions
        .iter()
        .map(|(id, version)| (format!("version:{id}"), version.as_bytes().to_vec()));
    // The tag mappings are configuration, like the spec: present only when set, so a SecretSync without
    // them keeps its hash.
    let tag_config = [
        sse_api::consts::TAG_LABELS_ANNOTATION,
        sse_api::consts::TAG_ANNOTATIONS_ANNOTATION,
    ]
    .into_iter()
    .filter_map(|key| {
        let value = sync.metadata.annotations.as_ref()?.get(key)?;
        Some((format!("config:{key}"), value.as_bytes().to_vec()))
    });
    sync_hash(&HashInputs {
        data: &mapping
            .chain(versions)
            .chain(tag_config)
            .chain(sse_shape::plan::hash_entries(&sync.spec.secret_object))
            .collect(),
        spc_uid: &class.uid().unwrap_or_default(),
        spc_generation: class.metadata.generation.unwrap_or_default(),
        ss_uid: &sync.uid().unwrap_or_default(),
        ss_generation: sync.metadata.generation.unwrap_or_default(),
        force_synchronization: sync.spec.force_synchronization.as_deref().unwrap_or_default(),
    })
}

//! Change detection: the optional `ssers.v1alpha1.ChangeDetection` service (`proto/ssers/v1alpha1`).
//!
//! A fingerprint says whether an object's current state (latest version, enabled, present) may have changed,
//! from Key Vault *metadata* only. The manager asks for the fingerprints of a SecretSync's objects before a
//! check and calls `Mount` only when one differs from what it last synced, so a quiet check reads no value.
//!
//! Metadata is kept per **source** — one vault, one identity ([`IdentityKey`]: tenant, client and the service
//! account that federates to it), one object type — and shared by every caller of that source: a caller
//! names the instant its previous answer was observed (`not_before`), and any metadata read after it
//! answers without a new request. Per source, the cheaper of two ways is used:
//!
//! * **listing** the collection (`GET /secrets`, 25 objects per page): ⌈objects in the vault / 25⌉
//!   requests answer every object of the source;
//! * **one GET per object** (the latest version; its value is dropped at once): used once a listing has
//!   shown that the vault holds more pages than the source has objects asked for.
//!
//! So one refresh of a source costs at most min(objects asked for, pages of the vault), whatever the number
//! of callers. A source's first refresh lists (the vault's size is not known before).
//!
//! Fingerprints: `u:<updated>`, the latest version's `attributes.updated` (Key Vault lists no version ids;
//! a new version, and any change of the latest one's attributes, moves it), the same from a listing or a GET
//! so a source can switch between the two without a spurious change. Only a present, enabled object with an
//! `updated` time gets one; anything else (absent, disabled, and, when read
//! one by one, forbidden) is empty, which tells the caller to Mount (and so to report the real error). A
//! listing cannot see `get` permission, an older version or a pinned one: the manager's periodic full sync
//! does. Key Vault's `updated` has one-second resolution:
//! two writes within one second could share it, so an object updated within [`ChangeConfig::settle`] of the
//! listing that saw it gets no fingerprint either (it is mounted, and fingerprinted at the next listing).
//! Nothing here holds a secret value.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use provider_proto::ssers::{FingerprintsRequest, FingerprintsResponse, ObjectFingerprint};

use crate::auth::IdentityKey;
use crate::keyvault::{Fetched, KeyVault, KeyVaultError, Tags, Validity, VaultHandle};
use crate::mount::{MountError, label};
use crate::params::{self, KeyVaultObject, ObjectType};

/// After a refused listing, how long a source reads objects one by one before trying to list again.
const LIST_REFUSED_RETRY: Duration = Duration::from_secs(3600);

/// Settings of change detection.
#[derive(Clone, Debug)]
pub struct ChangeConfig {
    /// An object updated within this long before the listing that saw it gets no fingerprint (zero: off,
    /// for a backend that never gives two writes the same second, such as the emulator).
    pub settle: Duration,
    /// A source nobody asked about for this long is forgotten.
    pub idle: Duration,
    /// Default `cloudName` (`--cloud-name`).
    pub default_cloud: params::DefaultCloud,
}

impl Default for ChangeConfig {
    fn default() -> Self {
        Self {
            settle: Duration::from_secs(2),
            idle: Duration::from_secs(3600),
            default_cloud: "AzurePublicCloud".into(),
        }
    }
}

/// One vault, one identity, one object type.
#[derive(Clone, Hash, PartialEq, Eq, Debug)]
struct SourceKey {
    vault: String,
    identity: IdentityKey,
    object_type: ObjectType,
}

/// What the metadata says of one object: its fingerprint, validity dates and tags.
#[derive(Clone, Debug, Default)]
struct Meta {
    fingerprint: String,
    validity: Validity,
    tags: Tags,
}

/// An object's metadata and when it was read (Unix milliseconds).
#[derive(Clone, Debug)]
struct Seen {
    meta: Meta,
    read_at: u64,
}

/// What is known about one source.
struct SourceState {
    /// The last listing: name → metadata, and when it started.
    listing: Option<(u64, HashMap<String, Meta>)>,
    /// Pages the last listing took.
    pages: Option<usize>,
    /// Objects read one by one.
    singles: HashMap<String, Seen>,
    /// Objects a Mount read (latest version): answers only a request naming them as changed, the check
    /// an event asked for, which mounts first. A regular check never takes them: its answer's time must
    /// be the time of the metadata it compared, not of a Mount that followed.
    mounted: HashMap<String, Seen>,
    /// Names asked for, with when last asked.
    asked: HashMap<String, Instant>,
    /// When the identity was refused the listing (403: a role with `get` but not `list`); objects are then
    /// read one by one for [`LIST_REFUSED_RETRY`].
    list_refused: Option<Instant>,
    last_used: Instant,
}

impl SourceState {
    /// The fingerprint of `name` from metadata read after `not_before`, if there is such metadata.
    /// The most recent read wins: an object re-read on its own after a listing (a change an event named)
    /// answers with that read, not with the older listing.
    fn lookup(&self, name: &str, not_before: u64) -> Option<Seen> {
        let listed = self
            .listing
            .as_ref()
            .filter(|(read_at, _)| *read_at > not_before)
            .map(|(read_at, listed)| Seen {
                meta: listed.get(name).cloned().unwrap_or_default(),
                read_at: *read_at,
            });
        let single = self.singles.get(name).filter(|s| s.read_at > not_before).cloned();
        match (listed, single) {
            (Some(listed), Some(single)) if single.read_at > listed.read_at => Some(single),
            (listed, single) => listed.or(single),
        }
    }

    /// [`SourceState::lookup`], or what a Mount read after `not_before`: for an object named as changed.
    fn lookup_changed(&self, name: &str, not_before: u64) -> Option<Seen> {
        let mounted = self.mounted.get(name).filter(|s| s.read_at > not_before).cloned();
        match (self.lookup(name, not_before), mounted) {
            (Some(seen), Some(mounted)) if mounted.read_at > seen.read_at => Some(mounted),
            (seen, mounted) => seen.or(mounted),
        }
    }

    /// Whether to list rather than GET one object: until a listing told the vault's size, and whenever the
    /// source has at least as many objects asked for as the vault has pages.
    fn should_list(&self) -> bool {
        if self
            .list_refused
            .is_some_and(|at| at.elapsed() < LIST_REFUSED_RETRY)
        {
            return false;
        }
        self.pages.is_none_or(|pages| self.asked.len() >= pages)
    }
}

struct Source {
    /// Held while listing, so concurrent callers share one listing.
    refresh: tokio::sync::Mutex<()>,
    state: Mutex<SourceState>,
}

impl Source {
    fn state(&self) -> MutexGuard<'_, SourceState> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Answers `Fingerprints` requests from shared, value-free Key Vault metadata.
pub struct ChangeDetector {
    config: ChangeConfig,
    keyvault: Arc<KeyVault>,
    sources: Mutex<HashMap<SourceKey, Arc<Source>>>,
}

/// Now, in Unix milliseconds (the clock of `read_at` and `not_before`).
pub(crate) fn unix_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl ChangeDetector {
    /// A detector reading through `keyvault` (shared with Mount: same clients, credentials and limits).
    pub fn new(config: ChangeConfig, keyvault: Arc<KeyVault>) -> Self {
        Self {
            config,
            keyvault,
            sources: Mutex::new(HashMap::new()),
        }
    }

    /// Serve one `Fingerprints` request. Errors are those a Mount with the same request would give for its
    /// parameters and credentials; a failed listing is reported as Mount reports a failed versions listing.
    pub async fn fingerprints(
        &self,
        request: &FingerprintsRequest,
    ) -> Result<FingerprintsResponse, MountError> {
        let params = crate::mount::named(
            &request.attributes,
            &request.secrets,
            PERMISSION,
            &self.config.default_cloud,
        )?;
        if params.objects.is_empty() {
            return Ok(FingerprintsResponse {
                objects: Vec::new(),
                observed_at_unix_millis: unix_millis(),
            });
        }
        let vault_url = params.vault_url()?;
        let vault = self
            .keyvault
            .vault(&vault_url, &params.cloud, &params.tenant_id, &params.identity)
            .map_err(MountError::Credential)?;
        let not_before = request.not_before_unix_millis;
        let answers = futures::future::try_join_all(params.objects.iter().map(|object| {
            let id = object_id(object);
            if request.changed.contains(&id) {
                let after = request.changed_after_unix_millis.max(not_before);
                futures::future::Either::Left(self.reread(&vault, object, after))
            } else {
                futures::future::Either::Right(self.fingerprint(&vault, object, not_before))
            }
        }))
        .await?;
        let observed = answers
            .iter()
            .map(|s| s.read_at)
            .min()
            .unwrap_or_else(unix_millis);
        Ok(FingerprintsResponse {
            objects: params
                .objects
                .iter()
                .zip(answers)
                .map(|(object, seen)| {
                    // Dates and tags are the latest version's: not the mounted one's when a version is pinned.
                    let (validity, tags) = if object.version.is_empty() {
                        (seen.meta.validity, seen.meta.tags)
                    } else {
                        (Validity::default(), Tags::default())
                    };
                    ObjectFingerprint {
                        id: object_id(object),
                        fingerprint: seen.meta.fingerprint,
                        expires_unix_seconds: validity.expires,
                        not_before_unix_seconds: validity.not_before,
                        tags: tags.into_iter().collect(),
                    }
                })
                .collect(),
            observed_at_unix_millis: observed,
        })
    }

    /// The source of `object` in `vault`, remembering that `name` was asked for; forgets idle sources.
    fn source(&self, vault: &VaultHandle, object_type: ObjectType, name: &str) -> Arc<Source> {
        let key = SourceKey {
            vault: vault.url().to_string(),
            identity: vault.identity().clone(),
            object_type,
        };
        let now = Instant::now();
        let idle = self.config.idle;
        let mut sources = self
            .sources
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        sources.retain(|_, s| now.duration_since(s.state().last_used) < idle);
        let source = sources
            .entry(key)
            .or_insert_with(|| {
                Arc::new(Source {
                    refresh: tokio::sync::Mutex::new(()),
                    state: Mutex::new(SourceState {
                        listing: None,
                        pages: None,
                        singles: HashMap::new(),
                        mounted: HashMap::new(),
                        asked: HashMap::new(),
                        list_refused: None,
                        last_used: now,
                    }),
                })
            })
            .clone();
        drop(sources);
        {
            let mut guard = source.state();
            let state = &mut *guard;
            state.last_used = now;
            state.asked.insert(name.to_string(), now);
            state.asked.retain(|_, at| now.duration_since(*at) < idle);
            let asked = &state.asked;
            state.singles.retain(|n, _| asked.contains_key(n));
            state.mounted.retain(|n, _| asked.contains_key(n));
        }
        source
    }

    async fn fingerprint(
        &self,
        vault: &VaultHandle,
        object: &KeyVaultObject,
        not_before: u64,
    ) -> Result<Seen, MountError> {
        let name = object.name.to_ascii_lowercase();
        let source = self.source(vault, object.object_type, &name);
        if let Some(seen) = source.state().lookup(&name, not_before) {
            return Ok(seen);
        }
        if !source.state().should_list() {
            return self.get_one(vault, object, &source, name).await;
        }
        let _refreshing = source.refresh.lock().await;
        // Another caller may have listed while this one waited (or found listing refused).
        if let Some(seen) = source.state().lookup(&name, not_before) {
            return Ok(seen);
        }
        if !source.state().should_list() {
            drop(_refreshing);
            return self.get_one(vault, object, &source, name).await;
        }
        let started = unix_millis();
        let listing = match self.keyvault.list_latest(vault, object.object_type).await {
            Ok(listing) => listing,
            // The identity may read objects but not list them: read them one by one.
            Err(KeyVaultError::Status { status: 403, .. }) => {
                source.state().list_refused = Some(Instant::now());
                tracing::info!(
                    vault = vault.url(),
                    object_type = object.object_type.as_str(),
                    "listing refused (403): change detection reads each object instead"
                );
                return self.get_one(vault, object, &source, name).await;
            }
            Err(error) => {
                return Err(MountError::List {
                    object: label(object, ""),
                    error,
                });
            }
        };
        let listed = listing
            .objects
            .iter()
            .map(|item| {
                let meta = Meta {
                    fingerprint: self.fingerprint_of(item.updated, item.enabled, started),
                    validity: item.validity,
                    tags: item.tags.clone(),
                };
                (item.name.clone(), meta)
            })
            .collect();
        let mut state = source.state();
        state.listing = Some((started, listed));
        state.pages = Some(listing.pages);
        tracing::debug!(
            vault = vault.url(),
            object_type = object.object_type.as_str(),
            objects = listing.objects.len(),
            pages = listing.pages,
            "listed for change detection"
        );
        Ok(state.lookup(&name, not_before).unwrap_or(Seen {
            meta: Meta::default(),
            read_at: started,
        }))
    }

    /// A Mount read `object`'s latest version, starting at `read_at`: its metadata answers a fingerprint
    /// request that names the object as changed after an earlier instant (the check an event asked for,
    /// which mounts first), as a GET of change detection's own would (a newer read is kept).
    pub fn observed(&self, vault: &VaultHandle, object: &KeyVaultObject, fetched: &Fetched, read_at: u64) {
        let name = object.name.to_ascii_lowercase();
        let source = self.source(vault, object.object_type, &name);
        let meta = self.meta_of(fetched, read_at);
        let mut state = source.state();
        if state
            .mounted
            .get(&name)
            .is_none_or(|seen| seen.read_at <= read_at)
        {
            state.mounted.insert(name, Seen { meta, read_at });
        }
    }

    /// The fingerprint of an object named as changed after `after`: from metadata read after it, else one
    /// GET of the object, made once for every caller told of the same change (under the source's refresh
    /// lock, so the others find its answer); never a listing, whose cost grows with the vault.
    async fn reread(
        &self,
        vault: &VaultHandle,
        object: &KeyVaultObject,
        after: u64,
    ) -> Result<Seen, MountError> {
        let name = object.name.to_ascii_lowercase();
        let source = self.source(vault, object.object_type, &name);
        if let Some(seen) = source.state().lookup_changed(&name, after) {
            return Ok(seen);
        }
        let _refreshing = source.refresh.lock().await;
        if let Some(seen) = source.state().lookup_changed(&name, after) {
            return Ok(seen);
        }
        self.get_one(vault, object, &source, name).await
    }

    /// What a read of an object's latest version says of it (a read that succeeds is of an enabled one).
    fn meta_of(&self, fetched: &Fetched, read_at: u64) -> Meta {
        Meta {
            fingerprint: self.fingerprint_of(fetched.updated(), true, read_at),
            validity: fetched.validity(),
            tags: fetched.tags().clone(),
        }
    }

    fn fingerprint_of(&self, updated: i64, enabled: bool, read_at: u64) -> String {
        fingerprint_of(self.config.settle, updated, enabled, read_at)
    }

    /// Read one object's latest version (its value is dropped here) for its fingerprint.
    async fn get_one(
        &self,
        vault: &VaultHandle,
        object: &KeyVaultObject,
        source: &Source,
        name: String,
    ) -> Result<Seen, MountError> {
        let read_at = unix_millis();
        let meta = match self
            .keyvault
            .get(vault, object.object_type, &object.name, "")
            .await
        {
            Ok(fetched) => self.meta_of(&fetched, read_at),
            // Absent, disabled or forbidden: no fingerprint, so the caller mounts and reports the cause.
            Err(KeyVaultError::Status {
                status: 403 | 404, ..
            }) => Meta::default(),
            Err(error) => {
                return Err(MountError::Get {
                    object: label(object, ""),
                    error,
                });
            }
        };
        let seen = Seen { meta, read_at };
        source.state().singles.insert(name, seen.clone());
        Ok(seen)
    }
}

/// `<objectType>/<objectName>`, as the SecretProviderClass names the object (`ObjectFingerprint.id`).
fn object_id(object: &KeyVaultObject) -> String {
    format!("{}/{}", object.object_type.as_str(), object.name)
}

/// The `permission` the manager sends with every Mount (docs/PROVIDER.md#mount-request); change detection
/// writes no file.
const PERMISSION: &str = "420";

/// The fingerprint of an object last updated at `updated` (Unix seconds), read at `read_at` (Unix
/// milliseconds): empty when disabled, or when a later write could still share its `updated` second.
fn fingerprint_of(settle: Duration, updated: i64, enabled: bool, read_at: u64) -> String {
    let settle = u64::try_from(settle.as_millis()).unwrap_or(u64::MAX);
    let second_end = u64::try_from(updated)
        .unwrap_or(0)
        .saturating_add(1)
        .saturating_mul(1000);
    let settled = settle == 0 || second_end.saturating_add(settle) <= read_at;
    // No `updated` at all: nothing to follow changes by.
    if enabled && settled && updated > 0 {
        format!("u:{updated}")
    } else {
        String::new()
    }
}

#[cfg(test)]
mod tests;

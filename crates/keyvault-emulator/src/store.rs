//! The in-memory object store: vaults → secrets / keys / certificates → versions.
//!
//! * Vaults exist implicitly (the first lookup creates an empty one). Vault and object names are matched
//!   case-insensitively; an object keeps the casing it was created with.
//! * Versions are 32 lowercase hex characters and kept in creation order; the last one is "latest". Each new
//!   version's `created` is `max(now, previous created + 1)`, so creation times are strictly increasing
//!   and "newest first" is deterministic even for versions written within one second.
//! * A certificate import creates three objects that share one version id, as the real service does: the
//!   certificate, its key (`managed: true`) and the secret holding the private key (`managed: true`,
//!   `kid` pointing at the key).
//! * Every new version (a secret set, a key created, a certificate imported) is handed, once, to the
//!   listener set with `Store::set_listener` (the Event Grid publisher, `crate::eventgrid`), after the
//!   store lock is released. Attribute and tag updates create no version and are not handed on.
//! * Times are Unix seconds. `nbf`/`exp` are informational for secrets (reads still work outside the
//!   window); `enabled: false` makes GET of that version answer 403.

mod input;
mod object;
mod vault;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};

pub use self::input::{CertificateInput, PublicJwk, SecretInput};
pub(crate) use self::object::{Attrs, Object, Version};
pub(crate) use self::vault::{CertData, KeyData, NewVersion, SecretData, Vault};

/// Which collection an object lives in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ObjectKind {
    /// `/secrets`.
    Secret,
    /// `/keys`.
    Key,
    /// `/certificates`.
    Certificate,
}

/// Told of every version created: `(lowercase vault name, the version)`.
pub(crate) type Listener = Arc<dyn Fn(&str, &NewVersion) + Send + Sync>;

/// All vaults. Cheap to clone (shared state); every method takes `&self`.
#[derive(Clone, Default)]
pub struct Store {
    inner: Arc<Mutex<BTreeMap<String, Vault>>>,
    listener: Arc<Mutex<Option<Listener>>>,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let vaults = self.lock();
        f.debug_struct("Store")
            .field("vaults", &vaults.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl Store {
    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, Vault>> {
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Run `f` on `vault` (created empty if new) under the store lock, then hand the versions it created
    /// to the listener, in creation order, outside the lock.
    pub(crate) fn with_vault<R>(&self, vault: &str, f: impl FnOnce(&mut Vault) -> R) -> R {
        let vault = vault.to_ascii_lowercase();
        let (result, created) = {
            let mut vaults = self.lock();
            let v = vaults.entry(vault.clone()).or_default();
            let result = f(v);
            (result, std::mem::take(&mut v.created))
        };
        if !created.is_empty() {
            let listener = self
                .listener
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone();
            if let Some(listener) = listener {
                for record in &created {
                    listener(&vault, record);
                }
            }
        }
        result
    }

    /// Set (or replace) the listener told of every new version.
    pub(crate) fn set_listener(&self, listener: Listener) {
        *self
            .listener
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(listener);
    }

    /// The current version of every object of every vault: `(lowercase vault name, version)`.
    pub(crate) fn current_versions(&self) -> Vec<(String, NewVersion)> {
        let vaults = self.lock();
        let all = vaults.iter().flat_map(|(name, v)| {
            v.current_versions()
                .into_iter()
                .map(move |record| (name.clone(), record))
        });
        all.collect()
    }

    /// Add a new enabled version of secret `name` holding `value`; returns the version id.
    pub fn set_secret(&self, vault: &str, name: &str, value: &str) -> String {
        self.set_secret_with(
            vault,
            name,
            SecretInput {
                value: value.to_string(),
                ..SecretInput::default()
            },
        )
    }

    /// Add a new version of secret `name` with full control over its attributes; returns the version id.
    pub fn set_secret_with(&self, vault: &str, name: &str, input: SecretInput) -> String {
        self.with_vault(vault, |v| v.put_secret(name, input).id.clone())
    }

    /// Enable or disable one version; `version` may be `""` for the latest. Disabling a certificate version
    /// also disables its key and secret. Unknown objects are ignored.
    pub fn set_enabled(&self, vault: &str, kind: ObjectKind, name: &str, version: &str, enabled: bool) {
        let version = (!version.is_empty()).then_some(version);
        let found = self.with_vault(vault, |v| v.set_enabled(kind, name, version, enabled));
        if !found {
            tracing::warn!(vault, ?kind, name, version, "set_enabled: no such object version");
        }
    }

    /// Replace the tags of secret `name`'s latest version (no new version), as `az keyvault secret
    /// set-attributes --tags` does. Unknown secrets are ignored.
    pub fn set_secret_tags(&self, vault: &str, name: &str, tags: BTreeMap<String, String>) {
        if !self.with_vault(vault, |v| v.set_secret_tags(name, tags)) {
            tracing::warn!(vault, name, "set_secret_tags: no such secret");
        }
    }

    /// Import a certificate: a new version of certificate `name`, of key `name` (managed) and of secret
    /// `name` (managed), all sharing the returned version id.
    pub fn import_certificate(&self, vault: &str, name: &str, input: CertificateInput) -> String {
        self.with_vault(vault, |v| v.put_certificate(name, input))
    }

    /// Add a new version of key `name` with public material `jwk`; returns the version id.
    pub fn create_key(&self, vault: &str, name: &str, jwk: PublicJwk) -> String {
        self.with_vault(vault, |v| v.put_key(name, jwk))
    }

    /// Remove an object with all its versions (no soft delete). Deleting a certificate also removes its
    /// managed key and secret.
    pub fn delete(&self, vault: &str, kind: ObjectKind, name: &str) {
        let lower = name.to_ascii_lowercase();
        self.with_vault(vault, |v| match kind {
            ObjectKind::Secret => {
                v.secrets.remove(&lower);
            }
            ObjectKind::Key => {
                v.keys.remove(&lower);
            }
            ObjectKind::Certificate => {
                if v.certificates.remove(&lower).is_some() {
                    v.keys.remove(&lower);
                    v.secrets.remove(&lower);
                }
            }
        });
    }

    /// Version ids of an object, oldest first (empty if it does not exist).
    pub fn versions(&self, vault: &str, kind: ObjectKind, name: &str) -> Vec<String> {
        self.with_vault(vault, |v| v.version_ids(kind, name))
    }

    /// The latest version id of an object.
    pub fn latest_version(&self, vault: &str, kind: ObjectKind, name: &str) -> Option<String> {
        self.versions(vault, kind, name).pop()
    }
}

#[cfg(test)]
mod tests;

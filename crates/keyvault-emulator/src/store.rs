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
//! * Times are Unix seconds. `nbf`/`exp` are informational for secrets (reads still work outside the
//!   window); `enabled: false` makes GET of that version answer 403.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::unix_now;

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

/// A secret version to write with [`Store::set_secret_with`].
#[derive(Clone)]
pub struct SecretInput {
    /// The secret value.
    pub value: String,
    /// `contentType`, free text.
    pub content_type: Option<String>,
    /// `attributes.enabled`.
    pub enabled: bool,
    /// `attributes.nbf`, Unix seconds.
    pub not_before: Option<i64>,
    /// `attributes.exp`, Unix seconds.
    pub expires: Option<i64>,
    /// Tags.
    pub tags: BTreeMap<String, String>,
}

impl Default for SecretInput {
    fn default() -> Self {
        Self {
            value: String::new(),
            content_type: None,
            enabled: true,
            not_before: None,
            expires: None,
            tags: BTreeMap::new(),
        }
    }
}

impl fmt::Debug for SecretInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretInput")
            .field("value", &"<redacted>")
            .field("content_type", &self.content_type)
            .field("enabled", &self.enabled)
            .field("not_before", &self.not_before)
            .field("expires", &self.expires)
            .field("tags", &self.tags)
            .finish()
    }
}

/// Public part of a key, as a JSON Web Key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PublicJwk {
    /// `kty: RSA`; big-endian modulus and exponent.
    Rsa {
        /// Modulus.
        n: Vec<u8>,
        /// Public exponent.
        e: Vec<u8>,
    },
    /// `kty: EC`; curve name (`P-256`, `P-384`, `P-521`, `P-256K`) and coordinates.
    Ec {
        /// Curve name.
        crv: String,
        /// X coordinate.
        x: Vec<u8>,
        /// Y coordinate.
        y: Vec<u8>,
    },
    /// `kty: oct` (symmetric; no public material is ever returned).
    Oct,
}

/// A certificate to import with [`Store::import_certificate`].
#[derive(Clone)]
pub struct CertificateInput {
    /// DER of the leaf certificate (`cer`).
    pub leaf_der: Vec<u8>,
    /// Value of the certificate's managed secret: standard base64 of a PFX (empty password) for
    /// `application/x-pkcs12`, or PEM text (key + chain) for `application/x-pem-file`.
    pub secret_value: String,
    /// `application/x-pkcs12` or `application/x-pem-file`.
    pub content_type: String,
    /// The certificate's public key, served as the managed key.
    pub public_key: PublicJwk,
}

impl fmt::Debug for CertificateInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertificateInput")
            .field("leaf_der", &format_args!("<{} bytes>", self.leaf_der.len()))
            .field("secret_value", &"<redacted>")
            .field("content_type", &self.content_type)
            .field("public_key", &self.public_key)
            .finish()
    }
}

/// Attributes common to all object versions.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Attrs {
    pub(crate) enabled: bool,
    pub(crate) nbf: Option<i64>,
    pub(crate) exp: Option<i64>,
    pub(crate) created: i64,
    pub(crate) updated: i64,
}

impl Attrs {
    /// Attributes of a version created (and last updated) at `created`.
    fn new(enabled: bool, nbf: Option<i64>, exp: Option<i64>, created: i64) -> Self {
        Self {
            enabled,
            nbf,
            exp,
            created,
            updated: created,
        }
    }
}

/// One version of an object.
#[derive(Clone, Debug)]
pub(crate) struct Version<T> {
    pub(crate) id: String,
    pub(crate) attrs: Attrs,
    pub(crate) tags: BTreeMap<String, String>,
    pub(crate) data: T,
}

impl<T> Version<T> {
    /// A version without tags.
    fn new(id: &str, attrs: Attrs, data: T) -> Self {
        Self {
            id: id.to_string(),
            attrs,
            tags: BTreeMap::new(),
            data,
        }
    }
}

/// A named object and its versions, oldest first.
#[derive(Clone, Debug)]
pub(crate) struct Object<T> {
    pub(crate) name: String,
    pub(crate) versions: Vec<Version<T>>,
}

impl<T> Object<T> {
    fn new(name: &str) -> Self {
        Self {
            name: name.to_string(),
            versions: Vec::new(),
        }
    }

    /// The latest version, or the version named (case-insensitively).
    pub(crate) fn find(&self, version: Option<&str>) -> Option<&Version<T>> {
        match version {
            None => self.versions.last(),
            Some(v) => self.versions.iter().find(|x| x.id.eq_ignore_ascii_case(v)),
        }
    }

    pub(crate) fn find_mut(&mut self, version: Option<&str>) -> Option<&mut Version<T>> {
        match version {
            None => self.versions.last_mut(),
            Some(v) => self.versions.iter_mut().find(|x| x.id.eq_ignore_ascii_case(v)),
        }
    }

    /// `created` for the next version: strictly after the previous one.
    fn next_created(&self, now: i64) -> i64 {
        match self.versions.last() {
            Some(last) => now.max(last.attrs.created + 1),
            None => now,
        }
    }
}

/// The object `name` of a collection (keyed by lowercase name), created empty if new.
fn object_mut<'a, T>(objects: &'a mut BTreeMap<String, Object<T>>, name: &str) -> &'a mut Object<T> {
    objects
        .entry(name.to_ascii_lowercase())
        .or_insert_with(|| Object::new(name))
}

/// Secret payload.
#[derive(Clone, Debug)]
pub(crate) struct SecretData {
    pub(crate) value: String,
    pub(crate) content_type: Option<String>,
    /// Backs a certificate: `managed: true` and `kid` in the bundle.
    pub(crate) managed: bool,
}

/// Key payload.
#[derive(Clone, Debug)]
pub(crate) struct KeyData {
    pub(crate) jwk: PublicJwk,
    pub(crate) managed: bool,
}

/// Certificate payload.
#[derive(Clone, Debug)]
pub(crate) struct CertData {
    pub(crate) der: Vec<u8>,
    pub(crate) x5t: [u8; 20],
    pub(crate) subject: Option<String>,
    pub(crate) secret_content_type: String,
    pub(crate) key: PublicJwk,
}

/// One vault's collections, keyed by lowercase name.
#[derive(Default, Debug)]
pub(crate) struct Vault {
    pub(crate) secrets: BTreeMap<String, Object<SecretData>>,
    pub(crate) keys: BTreeMap<String, Object<KeyData>>,
    pub(crate) certificates: BTreeMap<String, Object<CertData>>,
}

impl Vault {
    /// Append a secret version; returns the new version.
    pub(crate) fn put_secret(&mut self, name: &str, input: SecretInput) -> &Version<SecretData> {
        let object = object_mut(&mut self.secrets, name);
        let created = object.next_created(unix_now());
        let attrs = Attrs::new(input.enabled, input.not_before, input.expires, created);
        let data = SecretData {
            value: input.value,
            content_type: input.content_type,
            managed: false,
        };
        object.versions.push(Version {
            tags: input.tags,
            ..Version::new(&new_version_id(), attrs, data)
        });
        &object.versions[object.versions.len() - 1]
    }

    fn put_key(&mut self, name: &str, jwk: PublicJwk) -> String {
        let object = object_mut(&mut self.keys, name);
        let created = object.next_created(unix_now());
        let id = new_version_id();
        let data = KeyData { jwk, managed: false };
        object
            .versions
            .push(Version::new(&id, Attrs::new(true, None, None, created), data));
        id
    }

    fn put_certificate(&mut self, name: &str, input: CertificateInput) -> String {
        let lower = name.to_ascii_lowercase();
        let now = unix_now();
        // One `created` for all three objects, after each one's previous version.
        let created = [
            self.certificates.get(&lower).map(|o| o.next_created(now)),
            self.keys.get(&lower).map(|o| o.next_created(now)),
            self.secrets.get(&lower).map(|o| o.next_created(now)),
        ]
        .into_iter()
        .flatten()
        .fold(now, i64::max);
        let (nbf, exp, subject) = certificate_validity(&input.leaf_der);
        let attrs = Attrs::new(true, nbf, exp, created);
        let id = new_version_id();
        let x5t = crate::sha1::digest(&input.leaf_der);

        let key = KeyData {
            jwk: input.public_key.clone(),
            managed: true,
        };
        object_mut(&mut self.keys, name)
            .versions
            .push(Version::new(&id, attrs, key));
        let secret = SecretData {
            value: input.secret_value,
            content_type: Some(input.content_type.clone()),
            managed: true,
        };
        object_mut(&mut self.secrets, name)
            .versions
            .push(Version::new(&id, attrs, secret));
        let certificate = CertData {
            der: input.leaf_der,
            x5t,
            subject,
            secret_content_type: input.content_type,
            key: input.public_key,
        };
        object_mut(&mut self.certificates, name)
            .versions
            .push(Version::new(&id, attrs, certificate));
        id
    }

    /// Set `enabled` on one version (`None` = latest). A certificate carries its key and secret along.
    /// Returns whether the version existed.
    pub(crate) fn set_enabled(
        &mut self,
        kind: ObjectKind,
        name: &str,
        version: Option<&str>,
        enabled: bool,
    ) -> bool {
        let lower = name.to_ascii_lowercase();
        let now = unix_now();
        fn apply<T>(
            map: &mut BTreeMap<String, Object<T>>,
            name: &str,
            version: Option<&str>,
            enabled: bool,
            now: i64,
        ) -> Option<String> {
            let v = map.get_mut(name)?.find_mut(version)?;
            v.attrs.enabled = enabled;
            v.attrs.updated = now.max(v.attrs.created);
            Some(v.id.clone())
        }
        match kind {
            ObjectKind::Secret => apply(&mut self.secrets, &lower, version, enabled, now).is_some(),
            ObjectKind::Key => apply(&mut self.keys, &lower, version, enabled, now).is_some(),
            ObjectKind::Certificate => match apply(&mut self.certificates, &lower, version, enabled, now) {
                Some(id) => {
                    apply(&mut self.keys, &lower, Some(&id), enabled, now);
                    apply(&mut self.secrets, &lower, Some(&id), enabled, now);
                    true
                }
                None => false,
            },
        }
    }

    /// Replace the tags of secret `name`'s latest version, as `PATCH /secrets/{name}/{version}` does (no
    /// new version; `updated` moves). Returns whether the secret existed.
    pub(crate) fn set_secret_tags(&mut self, name: &str, tags: BTreeMap<String, String>) -> bool {
        let now = unix_now();
        let Some(v) = self
            .secrets
            .get_mut(&name.to_ascii_lowercase())
            .and_then(|o| o.find_mut(None))
        else {
            return false;
        };
        v.tags = tags;
        // Strictly after the last write, as versions' `created` are (see `next_created`): change detection
        // without settling then sees every write.
        v.attrs.updated = now.max(v.attrs.updated + 1);
        true
    }

    fn version_ids(&self, kind: ObjectKind, name: &str) -> Vec<String> {
        let lower = name.to_ascii_lowercase();
        fn ids<T>(map: &BTreeMap<String, Object<T>>, name: &str) -> Vec<String> {
            map.get(name)
                .map(|o| o.versions.iter().map(|v| v.id.clone()).collect())
                .unwrap_or_default()
        }
        match kind {
            ObjectKind::Secret => ids(&self.secrets, &lower),
            ObjectKind::Key => ids(&self.keys, &lower),
            ObjectKind::Certificate => ids(&self.certificates, &lower),
        }
    }
}

/// All vaults. Cheap to clone (shared state); every method takes `&self`.
#[derive(Clone, Default)]
pub struct Store {
    inner: Arc<Mutex<BTreeMap<String, Vault>>>,
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

    /// Run `f` on `vault` (created empty if new) under the store lock.
    pub(crate) fn with_vault<R>(&self, vault: &str, f: impl FnOnce(&mut Vault) -> R) -> R {
        let mut vaults = self.lock();
        f(vaults.entry(vault.to_ascii_lowercase()).or_default())
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

/// A fresh version id: 32 lowercase hex characters.
fn new_version_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// `(nbf, exp, subject)` of a DER certificate, if it parses.
fn certificate_validity(der: &[u8]) -> (Option<i64>, Option<i64>, Option<String>) {
    match x509_parser::parse_x509_certificate(der) {
        Ok((_, cert)) => (
            Some(cert.validity().not_before.timestamp()),
            Some(cert.validity().not_after.timestamp()),
            Some(cert.subject().to_string()),
        ),
        Err(err) => {
            tracing::warn!(%err, "imported certificate does not parse as X.509; no nbf/exp");
            (None, None, None)
        }
    }
}

#[cfg(test)]
mod tests;

//! One vault: its secrets, keys and certificates, and how each write makes a new version.

use std::collections::BTreeMap;

use super::object::{Attrs, Object, Version, object_mut};
use super::{CertificateInput, ObjectKind, PublicJwk, SecretInput};
use crate::unix_now;

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

/// A version a write created, for the Event Grid publisher (`Store::with_vault` hands these on).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct NewVersion {
    pub(crate) kind: ObjectKind,
    /// The object's name as created.
    pub(crate) name: String,
    pub(crate) version: String,
    pub(crate) nbf: Option<i64>,
    pub(crate) exp: Option<i64>,
}

/// One vault's collections, keyed by lowercase name.
#[derive(Default, Debug)]
pub(crate) struct Vault {
    pub(crate) secrets: BTreeMap<String, Object<SecretData>>,
    pub(crate) keys: BTreeMap<String, Object<KeyData>>,
    pub(crate) certificates: BTreeMap<String, Object<CertData>>,
    /// Versions created since `Store::with_vault` last drained this list.
    pub(crate) created: Vec<NewVersion>,
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
        let id = new_version_id();
        object.versions.push(Version {
            tags: input.tags,
            ..Version::new(&id, attrs, data)
        });
        let record = NewVersion::of(ObjectKind::Secret, &object.name, &id, &attrs);
        self.created.push(record);
        let object = object_mut(&mut self.secrets, name);
        &object.versions[object.versions.len() - 1]
    }

    pub(super) fn put_key(&mut self, name: &str, jwk: PublicJwk) -> String {
        let object = object_mut(&mut self.keys, name);
        let created = object.next_created(unix_now());
        let id = new_version_id();
        let data = KeyData { jwk, managed: false };
        let attrs = Attrs::new(true, None, None, created);
        object.versions.push(Version::new(&id, attrs, data));
        let record = NewVersion::of(ObjectKind::Key, &object.name, &id, &attrs);
        self.created.push(record);
        id
    }

    /// A certificate version, with its managed key and secret versions. Only the certificate's creation
    /// is recorded in `created`: see `docs/EVENTGRID.md#key-vault-events`.
    pub(super) fn put_certificate(&mut self, name: &str, input: CertificateInput) -> String {
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
        let object = object_mut(&mut self.certificates, name);
        object.versions.push(Version::new(&id, attrs, certificate));
        let record = NewVersion::of(ObjectKind::Certificate, &object.name, &id, &attrs);
        self.created.push(record);
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

    pub(super) fn version_ids(&self, kind: ObjectKind, name: &str) -> Vec<String> {
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

impl Vault {
    /// The current (latest) version of every object, as the near-expiry and expired events see them: a
    /// certificate's managed secret and key are left out, the certificate stands for them.
    pub(crate) fn current_versions(&self) -> Vec<NewVersion> {
        fn latest<T>(
            map: &BTreeMap<String, Object<T>>,
            kind: ObjectKind,
            managed: fn(&T) -> bool,
            out: &mut Vec<NewVersion>,
        ) {
            for o in map.values() {
                if let Some(v) = o.versions.last().filter(|v| !managed(&v.data)) {
                    out.push(NewVersion::of(kind, &o.name, &v.id, &v.attrs));
                }
            }
        }
        let mut out = Vec::new();
        latest(&self.secrets, ObjectKind::Secret, |d| d.managed, &mut out);
        latest(&self.keys, ObjectKind::Key, |d| d.managed, &mut out);
        latest(&self.certificates, ObjectKind::Certificate, |_| false, &mut out);
        out
    }
}

impl NewVersion {
    fn of(kind: ObjectKind, name: &str, version: &str, attrs: &Attrs) -> Self {
        Self {
            kind,
            name: name.to_string(),
            version: version.to_string(),
            nbf: attrs.nbf,
            exp: attrs.exp,
        }
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

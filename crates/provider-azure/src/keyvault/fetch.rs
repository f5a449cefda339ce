//! One object version or one versions listing through the SDK clients, and what they return.

use std::fmt;

use futures::{Stream, TryStreamExt};

use super::VaultClients;
use crate::params::ObjectType;

/// A secret value as returned by Key Vault. `Debug` never shows it.
#[derive(Clone)]
pub struct SecretValue(pub String);

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretValue(<redacted>)")
    }
}

/// An object version's validity dates, Key Vault `attributes.nbf` and `attributes.exp` (Unix seconds; 0 when
/// absent). Informational for secrets: Key Vault serves a value outside them
/// (docs/KEYVAULT.md#enabled-and-validity-dates).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Validity {
    /// `attributes.nbf`.
    pub not_before: i64,
    /// `attributes.exp`.
    pub expires: i64,
}

impl Validity {
    fn of(nbf: Option<time::OffsetDateTime>, exp: Option<time::OffsetDateTime>) -> Self {
        Self {
            not_before: unix(nbf),
            expires: unix(exp),
        }
    }
}

/// Key Vault tags of an object version (metadata: never a secret value).
pub type Tags = std::collections::BTreeMap<String, String>;

fn tags_of(tags: Option<std::collections::HashMap<String, String>>) -> Tags {
    tags.unwrap_or_default().into_iter().collect()
}

/// One object version as fetched.
#[derive(Clone, Debug)]
pub enum Fetched {
    /// `GET /secrets/{name}/{version}`
    Secret {
        /// The value.
        value: SecretValue,
        /// `contentType`.
        content_type: Option<String>,
        /// Whether the secret backs a certificate (`kid` set).
        certificate_backed: bool,
        /// Concrete version id.
        version: String,
        /// `attributes.updated`, Unix seconds (0 when absent).
        updated: i64,
        /// `attributes.nbf` and `attributes.exp`.
        validity: Validity,
        /// The version's Key Vault tags.
        tags: Tags,
    },
    /// `GET /keys/{name}/{version}` (public members only).
    Key {
        /// `kty`.
        kty: String,
        /// `crv`.
        crv: Option<String>,
        /// RSA modulus.
        n: Option<Vec<u8>>,
        /// RSA exponent.
        e: Option<Vec<u8>>,
        /// EC x.
        x: Option<Vec<u8>>,
        /// EC y.
        y: Option<Vec<u8>>,
        /// Concrete version id.
        version: String,
        /// `attributes.updated`, Unix seconds (0 when absent).
        updated: i64,
        /// `attributes.nbf` and `attributes.exp`.
        validity: Validity,
        /// The version's Key Vault tags.
        tags: Tags,
    },
    /// `GET /certificates/{name}/{version}`.
    Certificate {
        /// DER of the leaf certificate.
        der: Vec<u8>,
        /// Concrete version id.
        version: String,
        /// `attributes.updated`, Unix seconds (0 when absent).
        updated: i64,
        /// `attributes.nbf` and `attributes.exp`.
        validity: Validity,
        /// The version's Key Vault tags.
        tags: Tags,
    },
}

impl Fetched {
    /// The concrete version fetched.
    pub fn version(&self) -> &str {
        match self {
            Self::Secret { version, .. } | Self::Key { version, .. } | Self::Certificate { version, .. } => {
                version
            }
        }
    }

    /// `attributes.updated` of the version fetched, Unix seconds (0 when absent).
    pub fn updated(&self) -> i64 {
        match self {
            Self::Secret { updated, .. } | Self::Key { updated, .. } | Self::Certificate { updated, .. } => {
                *updated
            }
        }
    }

    /// The validity dates of the version fetched.
    pub fn validity(&self) -> Validity {
        match self {
            Self::Secret { validity, .. }
            | Self::Key { validity, .. }
            | Self::Certificate { validity, .. } => *validity,
        }
    }

    /// The tags of the version fetched.
    pub fn tags(&self) -> &Tags {
        match self {
            Self::Secret { tags, .. } | Self::Key { tags, .. } | Self::Certificate { tags, .. } => tags,
        }
    }
}

/// An enabled version from a versions listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VersionItem {
    /// Version id.
    pub version: String,
    /// Creation time, Unix seconds (0 when absent).
    pub created: i64,
}

/// One object in a listing of its collection: the latest version's state, never a value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listed {
    /// Object name, lower-cased (Key Vault names are case-insensitive).
    pub name: String,
    /// `attributes.updated` of the latest version, Unix seconds (0 when absent).
    pub updated: i64,
    /// `attributes.enabled` of the latest version (absent counts as enabled).
    pub enabled: bool,
    /// The latest version's validity dates.
    pub validity: Validity,
    /// The latest version's tags.
    pub tags: Tags,
}

/// A whole collection listed.
#[derive(Clone, Debug, Default)]
pub struct Listing {
    /// Every object listed.
    pub objects: Vec<Listed>,
    /// Pages it took (requests made, retries aside).
    pub pages: usize,
}

pub(super) async fn list_latest(
    clients: &VaultClients,
    object_type: ObjectType,
) -> azure_core::Result<Listing> {
    type Time = Option<time::OffsetDateTime>;
    /// `enabled`, `updated`, `nbf`, `exp`.
    type Attributes = Option<(Option<bool>, Time, Time, Time)>;
    fn item(
        id: Option<&str>,
        attributes: Attributes,
        tags: Option<std::collections::HashMap<String, String>>,
    ) -> Listed {
        let (enabled, updated, nbf, exp) = attributes.unwrap_or_default();
        Listed {
            name: last_segment(id).to_ascii_lowercase(),
            updated: unix(updated),
            enabled: enabled != Some(false),
            validity: Validity::of(nbf, exp),
            tags: tags_of(tags),
        }
    }
    match object_type {
        ObjectType::Secret => {
            let pages = clients.secrets.list_secret_properties(None)?.into_pages();
            all_pages(
                pages,
                |page| page.value,
                |p| {
                    item(
                        p.id.as_deref(),
                        p.attributes
                            .map(|a| (a.enabled, a.updated, a.not_before, a.expires)),
                        p.tags,
                    )
                },
            )
            .await
        }
        ObjectType::Key => {
            let pages = clients.keys.list_key_properties(None)?.into_pages();
            all_pages(
                pages,
                |page| page.value,
                |p| {
                    item(
                        p.kid.as_deref(),
                        p.attributes
                            .map(|a| (a.enabled, a.updated, a.not_before, a.expires)),
                        p.tags,
                    )
                },
            )
            .await
        }
        ObjectType::Cert => {
            let pages = clients
                .certificates
                .list_certificate_properties(None)?
                .into_pages();
            all_pages(
                pages,
                |page| page.value,
                |p| {
                    item(
                        p.id.as_deref(),
                        p.attributes
                            .map(|a| (a.enabled, a.updated, a.not_before, a.expires)),
                        p.tags,
                    )
                },
            )
            .await
        }
    }
}

/// Every page of a collection listing, each item through `listed`, counting the pages.
async fn all_pages<R, T>(
    mut pages: impl Stream<Item = azure_core::Result<azure_core::http::Response<R>>> + Unpin,
    items: impl Fn(R) -> Vec<T>,
    listed: impl Fn(T) -> Listed,
) -> azure_core::Result<Listing>
where
    R: azure_core::http::DeserializeWith<azure_core::http::JsonFormat>,
{
    let mut listing = Listing::default();
    while let Some(page) = pages.try_next().await? {
        listing.pages += 1;
        listing
            .objects
            .extend(items(page.into_model()?).into_iter().map(&listed));
    }
    Ok(listing)
}

/// `(updated, validity)` of an SDK model's `attributes`: each SDK crate has an attributes type of its own,
/// all with `updated`, `not_before` and `expires`.
macro_rules! dates {
    ($attributes:expr) => {{
        let attributes = $attributes.as_ref();
        (
            unix(attributes.and_then(|a| a.updated)),
            attributes
                .map(|a| Validity::of(a.not_before, a.expires))
                .unwrap_or_default(),
        )
    }};
}

pub(super) async fn get_object(
    clients: &VaultClients,
    object_type: ObjectType,
    name: &str,
    version: &str,
) -> azure_core::Result<Fetched> {
    let version_opt = (!version.is_empty()).then(|| version.to_string());
    match object_type {
        ObjectType::Secret => {
            let options = azure_security_keyvault_secrets::models::SecretClientGetSecretOptions {
                secret_version: version_opt,
                ..Default::default()
            };
            let secret = clients
                .secrets
                .get_secret(name, Some(options))
                .await?
                .into_model()?;
            let value = secret.value.ok_or_else(|| nil("secret value is nil"))?;
            let id = secret.id.as_deref().ok_or_else(|| nil("secret id is nil"))?;
            let (updated, validity) = dates!(secret.attributes);
            Ok(Fetched::Secret {
                updated,
                validity,
                version: last_segment(Some(id)),
                value: SecretValue(value),
                content_type: secret.content_type,
                tags: tags_of(secret.tags),
                certificate_backed: secret.kid.is_some(),
            })
        }
        ObjectType::Key => {
            let options = azure_security_keyvault_keys::models::KeyClientGetKeyOptions {
                key_version: version_opt,
                ..Default::default()
            };
            let key = clients.keys.get_key(name, Some(options)).await?.into_model()?;
            let jwk = key.key.ok_or_else(|| nil("key value is nil"))?;
            let kid = jwk.kid.as_deref().ok_or_else(|| nil("key id is nil"))?;
            let (updated, validity) = dates!(key.attributes);
            Ok(Fetched::Key {
                updated,
                validity,
                version: last_segment(Some(kid)),
                tags: tags_of(key.tags),
                kty: jwk.kty.map(|k| k.to_string()).unwrap_or_default(),
                crv: jwk.crv.map(|c| c.to_string()),
                n: jwk.n,
                e: jwk.e,
                x: jwk.x,
                y: jwk.y,
            })
        }
        ObjectType::Cert => {
            let options =
                azure_security_keyvault_certificates::models::CertificateClientGetCertificateOptions {
                    certificate_version: version_opt,
                    ..Default::default()
                };
            let cert = clients
                .certificates
                .get_certificate(name, Some(options))
                .await?
                .into_model()?;
            let der = cert.cer.ok_or_else(|| nil("certificate value is nil"))?;
            let id = cert.id.as_deref().ok_or_else(|| nil("certificate id is nil"))?;
            let (updated, validity) = dates!(cert.attributes);
            Ok(Fetched::Certificate {
                updated,
                validity,
                tags: tags_of(cert.tags),
                der,
                version: last_segment(Some(id)),
            })
        }
    }
}

pub(super) async fn list_versions(
    clients: &VaultClients,
    object_type: ObjectType,
    name: &str,
) -> azure_core::Result<Vec<VersionItem>> {
    match object_type {
        ObjectType::Secret => {
            let pager = clients.secrets.list_secret_properties_versions(name, None)?;
            enabled(pager, |p| {
                listed(p.id.as_deref(), p.attributes.map(|a| (a.enabled, a.created)))
            })
            .await
        }
        ObjectType::Key => {
            let pager = clients.keys.list_key_properties_versions(name, None)?;
            enabled(pager, |p| {
                listed(p.kid.as_deref(), p.attributes.map(|a| (a.enabled, a.created)))
            })
            .await
        }
        ObjectType::Cert => {
            let pager = clients
                .certificates
                .list_certificate_properties_versions(name, None)?;
            enabled(pager, |p| {
                listed(p.id.as_deref(), p.attributes.map(|a| (a.enabled, a.created)))
            })
            .await
        }
    }
}

/// All pages of a versions listing, each item through [`listed`]: items without attributes, and disabled
/// items, are skipped (docs/PROVIDER.md#key-vault-requests).
async fn enabled<P>(
    pager: impl Stream<Item = azure_core::Result<P>>,
    listed: impl Fn(P) -> Option<VersionItem>,
) -> azure_core::Result<Vec<VersionItem>> {
    let items: Vec<P> = pager.try_collect().await?;
    Ok(items.into_iter().filter_map(listed).collect())
}

/// A listed version, unless it has no attributes or is disabled (docs/PROVIDER.md#key-vault-requests);
/// `created` defaults to 0.
pub(super) fn listed(
    id: Option<&str>,
    attributes: Option<(Option<bool>, Option<time::OffsetDateTime>)>,
) -> Option<VersionItem> {
    let (enabled, created) = attributes?;
    (enabled != Some(false)).then(|| VersionItem {
        version: last_segment(id),
        created: unix(created),
    })
}

pub(super) fn last_segment(id: Option<&str>) -> String {
    id.and_then(|id| id.trim_end_matches('/').rsplit('/').next())
        .unwrap_or_default()
        .to_string()
}

fn unix(t: Option<time::OffsetDateTime>) -> i64 {
    t.map_or(0, time::OffsetDateTime::unix_timestamp)
}

fn nil(what: &str) -> azure_core::Error {
    azure_core::Error::with_message(azure_core::error::ErrorKind::DataConversion, what.to_string())
}

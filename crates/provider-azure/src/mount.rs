//! The Mount pipeline (docs/PROVIDER.md#mount-pipeline): parameters → versions → fetch → transform → files.
//!
//! Differences from upstream, all deliberate (the provider's rows of
//! docs/COMPATIBILITY.md#upstream-defects-and-what-sse-rs-does-instead):
//! * objects are fetched concurrently (bounded per Mount), results keep the declared order;
//! * `objectVersionHistory: N` yields exactly N files (docs/PROVIDER.md#version-history);
//! * credentials and clients are reused across Mounts (see [`crate::keyvault`]).
//!
//! A Mount is all-or-nothing: the first failure fails the request and cancels the fetches still running.
//! Every failure is a [`MountError`]; [`crate::service`] turns it into the gRPC status. Everything logged
//! about a Mount is inside its [`span`], which names the request (never a value or a token).

use std::sync::Arc;

use futures::{StreamExt, TryStreamExt};
use tracing::field::Empty;

use provider_proto::v1alpha1::{File, MountRequest, MountResponse, ObjectVersion};

use crate::content::{self, ContentError};
use crate::keyvault::{Fetched, KeyVault, KeyVaultError, VaultHandle};
use crate::params::{
    self, DefaultCloud, KeyVaultObject, MountParams, ObjectLabel, ParamError, UnmarshalError, keys,
};

/// Why a Mount failed. `Display` is the upstream provider's text, which the caller receives verbatim
/// (docs/PROVIDER.md#error-answers): `failed to mount objects, error: …`, except for a request whose JSON
/// fields do not parse.
#[derive(Debug, thiserror::Error)]
pub enum MountError {
    /// `attributes`, `secrets` or `permission` is not JSON of the expected shape (returned unwrapped, as
    /// upstream does).
    #[error(transparent)]
    Unmarshal(#[from] UnmarshalError),
    /// The SecretProviderClass parameters (or the pod attributes) are invalid.
    #[error("failed to mount objects, error: {0}")]
    Parameters(#[from] ParamError),
    /// The Entra credential or the Key Vault clients for the vault could not be created.
    #[error("failed to mount objects, error: failed to get keyvault client: {0}")]
    Credential(KeyVaultError),
    /// Listing the versions of an object (`objectVersionHistory`) failed; the cause is returned without
    /// naming the object, as upstream does.
    #[error("failed to mount objects, error: {error}")]
    List {
        /// The object.
        object: ObjectLabel,
        /// What Key Vault or Entra said.
        error: KeyVaultError,
    },
    /// Fetching an object version failed.
    #[error("failed to mount objects, error: failed to get {object}: {error}")]
    Get {
        /// The object and the version asked for.
        object: ObjectLabel,
        /// What Key Vault or Entra said.
        error: KeyVaultError,
    },
    /// What Key Vault returned cannot be turned into the file asked for (PEM, PFX, JWK, encodings).
    #[error("failed to mount objects, error: failed to get {object}: {error}")]
    Transform {
        /// The object and the version asked for.
        object: ObjectLabel,
        /// Why.
        error: ContentError,
    },
}

/// Process-wide settings of the Mount pipeline.
#[derive(Clone, Debug)]
pub struct MountConfig {
    /// Default `cloudName` (`--cloud-name`).
    pub default_cloud: DefaultCloud,
    /// Reorder PEM chains leaf → root (`--construct-pem-chain`).
    pub construct_pem_chain: bool,
    /// Also write `<file>.crt` and `<file>.key` for certificate-backed secrets.
    pub separate_cert_and_key: bool,
    /// Objects of one Mount fetched at once.
    pub fetch_concurrency: usize,
}

impl Default for MountConfig {
    fn default() -> Self {
        Self {
            default_cloud: "AzurePublicCloud".into(),
            construct_pem_chain: true,
            separate_cert_and_key: false,
            fetch_concurrency: 8,
        }
    }
}

/// One file to produce: an object at a concrete (or latest) version under a file name.
struct Unit {
    object: Arc<KeyVaultObject>,
    version: String,
    path: String,
    id: String,
}

/// Runs Mounts against Key Vault.
pub struct Mounter {
    config: MountConfig,
    keyvault: Arc<KeyVault>,
    /// Change detection, told what each Mount read of an object's latest version (its metadata comes
    /// with the value), so the fingerprint asked for right after costs no request of its own.
    detector: Option<Arc<crate::changes::ChangeDetector>>,
}

impl Mounter {
    /// A pipeline using `keyvault` for every request.
    pub fn new(config: MountConfig, keyvault: Arc<KeyVault>) -> Self {
        Self {
            config,
            keyvault,
            detector: None,
        }
    }

    /// Tell `detector` the metadata of every latest version a Mount reads.
    pub fn with_detector(mut self, detector: Arc<crate::changes::ChangeDetector>) -> Self {
        self.detector = Some(detector);
        self
    }

    /// Serve one Mount.
    pub async fn mount(&self, request: &MountRequest) -> Result<MountResponse, MountError> {
        let params = parse(request, &self.config.default_cloud)?;
        if params.objects.is_empty() {
            return Ok(MountResponse::default());
        }
        let vault_url = params.vault_url()?;
        let vault = self
            .keyvault
            .vault(&vault_url, &params.cloud, &params.tenant_id, &params.identity)
            .map_err(MountError::Credential)?;
        tracing::debug!(%vault_url, "mount");

        let units = self.resolve_versions(&vault, &params.objects).await?;
        let concurrency = self.config.fetch_concurrency.max(1);
        // Collected first: a closure inside the stream type trips the compiler's `Send` inference.
        let fetches: Vec<_> = units.iter().map(|unit| self.fetch_unit(&vault, unit)).collect();
        let files: Vec<Vec<(File, ObjectVersion)>> = futures::stream::iter(fetches)
            .buffered(concurrency)
            .try_collect()
            .await?;

        let mut response = MountResponse::default();
        for (file, version) in files.into_iter().flatten() {
            response.files.push(file);
            response.object_version.push(version);
        }
        Ok(response)
    }

    /// Expand objects with version history into one unit per version (listing concurrently).
    async fn resolve_versions(
        &self,
        vault: &VaultHandle,
        objects: &[KeyVaultObject],
    ) -> Result<Vec<Unit>, MountError> {
        let listings = objects
            .iter()
            .map(|object| async move {
                let object = Arc::new(object.clone());
                if object.version_history <= 1 {
                    return Ok::<_, MountError>(vec![Unit {
                        object: object.clone(),
                        version: object.version.clone(),
                        path: object.file_name.clone(),
                        id: format!("{}/{}", object.object_type.as_str(), object.name),
                    }]);
                }
                let versions = self
                    .keyvault
                    .list_versions(vault, object.object_type, &object.name)
                    .await
                    .map_err(|error| MountError::List {
                        object: label(&object, &object.version),
                        error,
                    })?;
                Ok(history(&object, &versions))
            })
            .collect::<Vec<_>>();
        let expanded: Vec<Vec<Unit>> = futures::stream::iter(listings)
            .buffered(self.config.fetch_concurrency.max(1))
            .try_collect()
            .await?;
        Ok(expanded.into_iter().flatten().collect())
    }

    async fn fetch_unit(
        &self,
        vault: &VaultHandle,
        unit: &Unit,
    ) -> Result<Vec<(File, ObjectVersion)>, MountError> {
        let object = &unit.object;
        let transform = |error: ContentError| MountError::Transform {
            object: label(object, &unit.version),
            error,
        };
        let read_at = crate::changes::unix_millis();
        let fetched = self
            .keyvault
            .get(vault, object.object_type, &object.name, &unit.version)
            .await
            .map_err(|error| MountError::Get {
                object: label(object, &unit.version),
                error,
            })?;
        if let Some(detector) = self.detector.as_ref().filter(|_| unit.version.is_empty()) {
            detector.observed(vault, object, &fetched, read_at);
        }
        let mode = i32::try_from(object.mode).unwrap_or(0o644);
        let file = |path: String, contents: Vec<u8>| File { path, mode, contents };
        let (contents, version, extra) = match &*fetched {
            Fetched::Secret {
                value,
                content_type,
                certificate_backed,
                version,
                ..
            } => {
                if *certificate_backed {
                    let cs = content::certificate_secret(
                        &value.0,
                        content_type.as_deref(),
                        object.format,
                        object.encoding,
                        self.config.construct_pem_chain,
                    )
                    .map_err(transform)?;
                    let extra = self.config.separate_cert_and_key.then(|| {
                        vec![
                            file(format!("{}.crt", unit.path), cs.cert_pem),
                            file(format!("{}.key", unit.path), cs.key_pem),
                        ]
                    });
                    (cs.main, version, extra)
                } else {
                    (
                        content::plain_secret(&value.0, object.encoding).map_err(transform)?,
                        version,
                        None,
                    )
                }
            }
            Fetched::Key {
                kty,
                crv,
                n,
                e,
                x,
                y,
                version,
                ..
            } => (
                content::public_key_pem(
                    kty,
                    crv.as_deref(),
                    n.as_deref(),
                    e.as_deref(),
                    x.as_deref(),
                    y.as_deref(),
                )
                .map_err(transform)?,
                version,
                None,
            ),
            Fetched::Certificate { der, version, .. } => (content::certificate_pem(der), version, None),
        };
        let object_version = || ObjectVersion {
            id: unit.id.clone(),
            version: version.clone(),
        };
        let mut out: Vec<(File, ObjectVersion)> = extra
            .unwrap_or_default()
            .into_iter()
            .map(|f| (f, object_version()))
            .collect();
        out.push((file(unit.path.clone(), contents), object_version()));
        Ok(out)
    }
}

/// A request's span named `$name` (a span's name must be a literal), with the fields [`named`] records.
macro_rules! request_span {
    ($name:literal) => {
        tracing::error_span!(
            $name,
            secretsync = Empty,
            namespace = Empty,
            pod = Empty,
            service_account = Empty,
            vault = Empty,
            objects = Empty
        )
    };
}

/// The span of one Mount, for the caller to enter around the request and what it logs about the outcome.
/// Its fields name the request: `namespace`, `pod` and `service_account` as the caller set them (for the
/// sync controller: the SecretSync's namespace and ServiceAccount, and the controller's own pod), the
/// `vault`, and the number of `objects`. [`Mounter::mount`] records them as soon as the request decodes
/// (the count once it validates), so a refused request is named too. Never a value, a token or a secret.
///
/// ERROR level, so that it is enabled whatever the log filter: a span the filter drops would take its fields
/// away from the WARN and ERROR lines logged inside it.
pub fn span() -> tracing::Span {
    request_span!("mount")
}

/// The span of one fingerprints request (change detection), named as a Mount's [`span`] is, by [`named`].
pub fn fingerprints_span() -> tracing::Span {
    request_span!("fingerprints")
}

/// A Mount's parameters: `request` decoded and validated, and named in the current [`span`].
fn parse(request: &MountRequest, default_cloud: &DefaultCloud) -> Result<MountParams, MountError> {
    named(
        &request.attributes,
        &request.secrets,
        &request.permission,
        default_cloud,
    )
}

/// Parameters decoded and validated, and named in the current span ([`span`], [`fingerprints_span`]): who
/// asks, for which vault, how many objects (never a value or a token).
pub(crate) fn named(
    attributes: &str,
    secrets: &str,
    permission: &str,
    default_cloud: &DefaultCloud,
) -> Result<MountParams, MountError> {
    let decoded = params::decode(attributes, secrets, permission)?;
    let span = tracing::Span::current();
    for (field, key) in [
        ("secretsync", keys::SECRET_SYNC),
        ("namespace", keys::POD_NAMESPACE),
        ("pod", keys::POD_NAME),
        ("service_account", keys::SA_NAME),
        ("vault", params::VAULT_NAME),
    ] {
        let value = decoded.attribute(key);
        if !value.is_empty() {
            span.record(field, tracing::field::display(value));
        }
    }
    let params = decoded.validate(default_cloud)?;
    span.record("objects", params.objects.len());
    Ok(params)
}

/// How the upstream texts name `object` at `version` (the version asked for, `""` = latest).
pub(crate) fn label(object: &KeyVaultObject, version: &str) -> ObjectLabel {
    ObjectLabel {
        object_type: object.object_type.as_str().to_string(),
        name: object.name.clone(),
        version: version.to_string(),
    }
}

/// The units of an object with `objectVersionHistory: N > 1` (docs/PROVIDER.md#version-history): enabled
/// versions newest first, starting at `objectVersion` (or the newest for `""`/`latest`), exactly N at most.
fn history(object: &Arc<KeyVaultObject>, versions: &[crate::keyvault::VersionItem]) -> Vec<Unit> {
    let mut sorted: Vec<_> = versions.iter().collect();
    // Newest first; ties broken by version id so the order is deterministic.
    sorted.sort_by(|a, b| b.created.cmp(&a.created).then_with(|| a.version.cmp(&b.version)));
    let start = if object.version.is_empty() || object.version == "latest" {
        Some(0)
    } else {
        sorted.iter().position(|v| v.version == object.version)
    };
    let Some(start) = start else {
        return Vec::new();
    };
    let n = usize::try_from(object.version_history).unwrap_or(0);
    sorted[start..]
        .iter()
        .take(n)
        .enumerate()
        .map(|(i, v)| Unit {
            object: object.clone(),
            version: v.version.clone(),
            path: format!("{}/{i}", object.file_name),
            id: format!("{}/{}/{i}", object.object_type.as_str(), object.name),
        })
        .collect()
}

#[cfg(test)]
mod tests;

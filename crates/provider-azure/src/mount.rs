//! The Mount pipeline (SPEC §8.2): parameters → versions → fetch → transform → files.
//!
//! Differences from upstream, all deliberate (SPEC Part A and the provider issue):
//! * objects are fetched concurrently (bounded per Mount), results keep the declared order;
//! * `objectVersionHistory: N` yields exactly N files (A10);
//! * credentials and clients are reused across Mounts (see [`crate::keyvault`]).
//!
//! A Mount is all-or-nothing: the first failure fails the request and cancels the fetches still running.

use std::sync::Arc;

use futures::{StreamExt, TryStreamExt};

use provider_proto::v1alpha1::{File, MountRequest, MountResponse, ObjectVersion};

use crate::content;
use crate::keyvault::{FetchError, Fetched, KeyVault, VaultHandle};
use crate::params::{self, KeyVaultObject, ParamError, RequestError};

/// Process-wide settings of the Mount pipeline.
#[derive(Clone, Debug)]
pub struct MountConfig {
    /// Default `cloudName` (`--cloud-name`).
    pub default_cloud: String,
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
}

impl Mounter {
    /// A pipeline using `keyvault` for every request.
    pub fn new(config: MountConfig, keyvault: Arc<KeyVault>) -> Self {
        Self { config, keyvault }
    }

    /// Serve one Mount.
    pub async fn mount(&self, request: &MountRequest) -> Result<MountResponse, RequestError> {
        let params = params::parse(
            &request.attributes,
            &request.secrets,
            &request.permission,
            &self.config.default_cloud,
        )?;
        if params.objects.is_empty() {
            return Ok(MountResponse::default());
        }
        let wrap = |e: String| RequestError::Mount(ParamError(e));
        let vault_url = params.vault_url().map_err(RequestError::Mount)?;
        let vault = self
            .keyvault
            .vault(&vault_url, &params.cloud, &params.tenant_id, &params.identity)
            .map_err(|e| wrap(format!("failed to get keyvault client: {e}")))?;
        tracing::debug!(vault = %vault_url, objects = params.objects.len(), "mount");

        let units = self
            .resolve_versions(&vault, &params.objects)
            .await
            .map_err(wrap)?;
        let concurrency = self.config.fetch_concurrency.max(1);
        // Collected first: a closure inside the stream type trips the compiler's `Send` inference.
        let fetches: Vec<_> = units.iter().map(|unit| self.fetch_unit(&vault, unit)).collect();
        let files: Vec<Vec<(File, ObjectVersion)>> = futures::stream::iter(fetches)
            .buffered(concurrency)
            .try_collect()
            .await
            .map_err(wrap)?;

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
    ) -> Result<Vec<Unit>, String> {
        let listings = objects
            .iter()
            .map(|object| async move {
                let object = Arc::new(object.clone());
                if object.version_history <= 1 {
                    return Ok::<_, String>(vec![Unit {
                        object: object.clone(),
                        version: object.version.clone(),
                        path: object.file_name.clone(),
                        id: format!("{}/{}", object.object_type.as_str(), object.name),
                    }]);
                }
                // Listing errors are returned unwrapped, as upstream does.
                let versions = self
                    .keyvault
                    .list_versions(vault, object.object_type, &object.name)
                    .await
                    .map_err(|e| e.to_string())?;
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
    ) -> Result<Vec<(File, ObjectVersion)>, String> {
        let object = &unit.object;
        let wrap = |cause: &dyn std::fmt::Display| {
            format!(
                "failed to get objectType:{}, objectName:{}, objectVersion:{}: {cause}",
                object.object_type.as_str(),
                object.name,
                unit.version
            )
        };
        let fetched = self
            .keyvault
            .get(vault, object.object_type, &object.name, &unit.version)
            .await
            .map_err(|e: FetchError| wrap(&e))?;
        let mode = i32::try_from(object.mode).unwrap_or(0o644);
        let file = |path: String, contents: Vec<u8>| File { path, mode, contents };
        let (contents, version, extra) = match &*fetched {
            Fetched::Secret {
                value,
                content_type,
                certificate_backed,
                version,
            } => {
                if *certificate_backed {
                    let cs = content::certificate_secret(
                        &value.0,
                        content_type.as_deref(),
                        object.format,
                        object.encoding,
                        self.config.construct_pem_chain,
                    )
                    .map_err(|e| wrap(&e))?;
                    let extra = self.config.separate_cert_and_key.then(|| {
                        vec![
                            file(format!("{}.crt", unit.path), cs.cert_pem),
                            file(format!("{}.key", unit.path), cs.key_pem),
                        ]
                    });
                    (cs.main, version, extra)
                } else {
                    (
                        content::plain_secret(&value.0, object.encoding).map_err(|e| wrap(&e))?,
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
            } => (
                content::public_key_pem(
                    kty,
                    crv.as_deref(),
                    n.as_deref(),
                    e.as_deref(),
                    x.as_deref(),
                    y.as_deref(),
                )
                .map_err(|e| wrap(&e))?,
                version,
                None,
            ),
            Fetched::Certificate { der, version } => (content::certificate_pem(der), version, None),
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

/// The units of an object with `objectVersionHistory: N > 1` (SPEC §8.7 with decision A10): enabled
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
mod tests {
    use super::*;
    use crate::content::{Encoding, Format};
    use crate::keyvault::VersionItem;
    use crate::params::ObjectType;

    fn object(version: &str, history_n: i32) -> Arc<KeyVaultObject> {
        Arc::new(KeyVaultObject {
            name: "db".into(),
            object_type: ObjectType::Secret,
            file_name: "alias".into(),
            version: version.into(),
            version_history: history_n,
            format: Format::Pem,
            encoding: Encoding::Utf8,
            mode: 0o644,
        })
    }

    fn versions() -> Vec<VersionItem> {
        (1..=4)
            .map(|i| VersionItem {
                version: format!("v{i}"),
                created: i64::from(i) * 10,
            })
            .collect()
    }

    fn paths(units: &[Unit]) -> Vec<(String, String, String)> {
        units
            .iter()
            .map(|u| (u.path.clone(), u.version.clone(), u.id.clone()))
            .collect()
    }

    #[test]
    fn history_yields_exactly_n_newest_first() {
        let o = object("", 2);
        assert_eq!(
            paths(&history(&o, &versions())),
            vec![
                ("alias/0".into(), "v4".into(), "secret/db/0".into()),
                ("alias/1".into(), "v3".into(), "secret/db/1".into()),
            ]
        );
    }

    #[test]
    fn history_starts_at_the_requested_version() {
        let o = object("v3", 5);
        let got: Vec<_> = paths(&history(&o, &versions()))
            .into_iter()
            .map(|p| p.1)
            .collect();
        assert_eq!(got, vec!["v3", "v2", "v1"]);
        assert_eq!(paths(&history(&object("latest", 2), &versions()))[0].1, "v4");
    }

    #[test]
    fn history_with_unknown_start_version_is_empty() {
        assert!(history(&object("nope", 2), &versions()).is_empty());
    }

    #[test]
    fn history_with_fewer_versions_returns_what_exists() {
        assert_eq!(history(&object("", 10), &versions()).len(), 4);
    }
}

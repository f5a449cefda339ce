//! Azure clouds: where Entra ID and Key Vault live for each `cloudName` (docs/PROVIDER.md#clouds).
//!
//! `AzureStackCloud` reads its endpoints from the JSON environment file named by `cloudEnvFileName` (the
//! Go autorest format). Upstream exports `AZURE_ENVIRONMENT_FILEPATH` process-wide for that, which races
//! between concurrent Mounts; here the file is read per request and nothing global changes.

use serde::Deserialize;

use crate::json::JsonError;

/// The endpoints the provider needs from a cloud.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cloud {
    /// Canonical cloud name.
    pub name: String,
    /// Entra ID authority host, with a trailing slash, e.g. `https://login.microsoftonline.com/`.
    pub authority_host: String,
    /// Key Vault DNS suffix, e.g. `vault.azure.net` (may carry a port for private clouds and emulators).
    pub keyvault_dns_suffix: String,
    /// Key Vault resource (audience), e.g. `https://vault.azure.net`, without a trailing slash.
    pub keyvault_resource: String,
}

fn builtin(name: &str, authority: &str, suffix: &str) -> Cloud {
    Cloud {
        name: name.to_string(),
        authority_host: authority.to_string(),
        keyvault_dns_suffix: suffix.to_string(),
        keyvault_resource: format!("https://{suffix}"),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EnvFile {
    #[serde(default)]
    name: String,
    #[serde(default)]
    active_directory_endpoint: String,
    #[serde(default, rename = "keyVaultDNSSuffix")]
    key_vault_dns_suffix: String,
    #[serde(default)]
    key_vault_endpoint: String,
}

/// A `cloudName` that cannot be used. `Display` is the upstream text.
#[derive(Debug, thiserror::Error)]
#[error("cloudName {name} is not valid, error: {problem}")]
pub struct CloudError {
    /// The `cloudName` asked for.
    pub name: String,
    /// What is wrong.
    pub problem: CloudProblem,
}

/// Why a `cloudName` cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CloudProblem {
    /// Not one of the known clouds (the name as upstream prints it, upper-cased).
    #[error("autorest/azure: There is no cloud environment matching the name {0:?}")]
    Unknown(String),
    /// `AzureStackCloud` without `cloudEnvFileName`.
    #[error("cloudEnvFileName must be set for AzureStackCloud")]
    NoEnvironmentFile,
    /// The environment file cannot be read.
    #[error("failed to read environment file {path}: {error}")]
    ReadEnvironmentFile {
        /// Its path.
        path: String,
        /// Why.
        error: EnvFileError,
    },
    /// The environment file is not JSON of the expected shape.
    #[error("failed to parse environment file {path}: {error}")]
    ParseEnvironmentFile {
        /// Its path.
        path: String,
        /// Where the JSON is wrong.
        error: JsonError,
    },
    /// The environment file lacks an endpoint the provider needs.
    #[error("environment file {0} must set activeDirectoryEndpoint and keyVaultDNSSuffix")]
    IncompleteEnvironmentFile(String),
}

/// Why an environment file cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum EnvFileError {
    /// The file system said no.
    #[error("{0}")]
    Io(std::io::Error),
    /// A directory, a device, …
    #[error("not a regular file")]
    NotRegularFile,
    /// Over [`MAX_ENV_FILE_BYTES`].
    #[error("larger than {MAX_ENV_FILE_BYTES} bytes")]
    TooLarge,
}

impl Cloud {
    /// Resolve a `cloudName` (case-insensitive, with the upstream aliases). `env_file` is required for
    /// `AzureStackCloud`.
    pub fn resolve(cloud_name: &str, env_file: &str) -> Result<Self, CloudError> {
        let invalid = |problem| CloudError {
            name: cloud_name.to_string(),
            problem,
        };
        match cloud_name.to_ascii_uppercase().as_str() {
            "AZUREPUBLICCLOUD" | "AZURECLOUD" => Ok(builtin(
                "AzurePublicCloud",
                "https://login.microsoftonline.com/",
                "vault.azure.net",
            )),
            "AZUREUSGOVERNMENTCLOUD" | "AZUREUSGOVERNMENT" => Ok(builtin(
                "AzureUSGovernmentCloud",
                "https://login.microsoftonline.us/",
                "vault.usgovcloudapi.net",
            )),
            "AZURECHINACLOUD" => Ok(builtin(
                "AzureChinaCloud",
                "https://login.chinacloudapi.cn/",
                "vault.azure.cn",
            )),
            "AZUREGERMANCLOUD" => Ok(builtin(
                "AzureGermanCloud",
                "https://login.microsoftonline.de/",
                "vault.microsoftazure.de",
            )),
            "AZURESTACKCLOUD" => {
                if env_file.is_empty() {
                    return Err(invalid(CloudProblem::NoEnvironmentFile));
                }
                let path = || env_file.to_string();
                let bytes = read_env_file(env_file)
                    .map_err(|error| invalid(CloudProblem::ReadEnvironmentFile { path: path(), error }))?;
                let env: EnvFile = serde_json::from_slice(&bytes).map_err(|e| {
                    invalid(CloudProblem::ParseEnvironmentFile {
                        path: path(),
                        error: JsonError(e),
                    })
                })?;
                if env.active_directory_endpoint.is_empty() || env.key_vault_dns_suffix.is_empty() {
                    return Err(invalid(CloudProblem::IncompleteEnvironmentFile(path())));
                }
                let mut authority = env.active_directory_endpoint;
                if !authority.ends_with('/') {
                    authority.push('/');
                }
                let resource = if env.key_vault_endpoint.is_empty() {
                    format!("https://{}", host_only(&env.key_vault_dns_suffix))
                } else {
                    env.key_vault_endpoint.trim_end_matches('/').to_string()
                };
                Ok(Cloud {
                    name: if env.name.is_empty() {
                        "AzureStackCloud".into()
                    } else {
                        env.name
                    },
                    authority_host: authority,
                    keyvault_dns_suffix: env.key_vault_dns_suffix,
                    keyvault_resource: resource,
                })
            }
            _ => Err(invalid(CloudProblem::Unknown(cloud_name.to_ascii_uppercase()))),
        }
    }
}

/// Environment files are small JSON documents. The path comes from a SecretProviderClass, so only regular
/// files of a bounded size are read (not `/dev/zero`, not a directory).
const MAX_ENV_FILE_BYTES: u64 = 64 * 1024;

fn read_env_file(path: &str) -> Result<Vec<u8>, EnvFileError> {
    use std::io::Read;
    let meta = std::fs::metadata(path).map_err(EnvFileError::Io)?;
    if !meta.is_file() {
        return Err(EnvFileError::NotRegularFile);
    }
    if meta.len() > MAX_ENV_FILE_BYTES {
        return Err(EnvFileError::TooLarge);
    }
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_ENV_FILE_BYTES).read_to_end(&mut bytes))
        .map_err(EnvFileError::Io)?;
    Ok(bytes)
}

fn host_only(suffix: &str) -> &str {
    suffix.split(':').next().unwrap_or(suffix)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_clouds_and_aliases() {
        assert_eq!(
            Cloud::resolve("azurecloud", "").unwrap().keyvault_dns_suffix,
            "vault.azure.net"
        );
        assert_eq!(
            Cloud::resolve("AzureUSGovernment", "").unwrap().authority_host,
            "https://login.microsoftonline.us/"
        );
        assert_eq!(
            Cloud::resolve("AzureChinaCloud", "").unwrap().keyvault_resource,
            "https://vault.azure.cn"
        );
        assert_eq!(
            Cloud::resolve("AzureGermanCloud", "")
                .unwrap()
                .keyvault_dns_suffix,
            "vault.microsoftazure.de"
        );
    }

    #[test]
    fn unknown_cloud_is_rejected() {
        let e = Cloud::resolve("Mars", "").unwrap_err().to_string();
        assert!(e.starts_with("cloudName Mars is not valid, error: "), "{e}");
    }

    #[test]
    fn azure_stack_reads_the_environment_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("env.json");
        std::fs::write(
            &path,
            r#"{"name":"AzureStackCloud","activeDirectoryEndpoint":"https://login.stack.local","keyVaultDNSSuffix":"vault.stack.local:8443","resourceManagerEndpoint":"x"}"#,
        )
        .unwrap();
        let cloud = Cloud::resolve("AzureStackCloud", path.to_str().unwrap()).unwrap();
        assert_eq!(cloud.authority_host, "https://login.stack.local/");
        assert_eq!(cloud.keyvault_dns_suffix, "vault.stack.local:8443");
        assert_eq!(cloud.keyvault_resource, "https://vault.stack.local");
        let missing = Cloud::resolve("AzureStackCloud", "").unwrap_err().to_string();
        assert!(missing.contains("cloudEnvFileName must be set"), "{missing}");
        let unreadable = Cloud::resolve("AzureStackCloud", "/nonexistent/env.json")
            .unwrap_err()
            .to_string();
        assert!(
            unreadable.contains("failed to read environment file"),
            "{unreadable}"
        );
    }
}

//! Parsing and validating a `MountRequest` into a typed [`MountParams`], before any network call: [`decode`]
//! reads its JSON fields, [`Decoded::validate`] applies the rules.
//!
//! The rules and error texts are those of the upstream Azure provider (docs/PROVIDER.md#parameters,
//! docs/PROVIDER.md#objects, docs/PROVIDER.md#error-answers), with two upstream defects fixed
//! (docs/COMPATIBILITY.md#upstream-defects-and-what-sse-rs-does-instead): an invalid `filePermission` is an
//! error (not mode 0), and the cloud environment file is read per request instead of being exported as a
//! process-global variable.

mod errors;
mod identity;
mod objects;

#[cfg(test)]
pub(crate) mod fixtures;
#[cfg(test)]
mod tests;

use std::collections::HashMap;

use crate::cloud::Cloud;
use crate::json::JsonError;

pub use self::errors::{AuthConfigError, ObjectError, ObjectLabel, ParamError, TokenError, UnmarshalError};
pub use self::identity::Identity;
pub use self::objects::{KeyVaultObject, ObjectType, parse_objects};

/// Attribute keys set by the driver or the sync controller (the contract's, under the names used here).
pub mod keys {
    pub use provider_proto::contract::attributes::SERVICE_ACCOUNT_NAME as SA_NAME;
    pub use provider_proto::contract::attributes::SERVICE_ACCOUNT_TOKENS as SA_TOKENS;
    pub use provider_proto::contract::attributes::{OBJECTS, POD_NAME, POD_NAMESPACE, SECRET_SYNC};
}

pub use provider_proto::contract::WORKLOAD_IDENTITY_AUDIENCE;
use provider_proto::contract::azure;

/// The SecretProviderClass parameter naming the vault.
pub use provider_proto::contract::azure::KEYVAULT_NAME as VAULT_NAME;

/// A fully validated request.
#[derive(Clone, Debug)]
pub struct MountParams {
    /// Pod name (for the sync controller, its own pod).
    pub pod_name: String,
    /// Pod namespace (for the sync controller, the SecretSync's namespace).
    pub pod_namespace: String,
    /// Vault name.
    pub vault_name: String,
    /// Entra tenant.
    pub tenant_id: String,
    /// Cloud endpoints.
    pub cloud: Cloud,
    /// How to authenticate.
    pub identity: Identity,
    /// Objects to fetch, in order.
    pub objects: Vec<KeyVaultObject>,
}

impl MountParams {
    /// `https://<vault>.<suffix>` after validating the vault name (docs/PROVIDER.md#parameters).
    pub fn vault_url(&self) -> Result<String, ParamError> {
        let name = &self.vault_name;
        if !(3..=24).contains(&name.len()) {
            return Err(ParamError::VaultNameLength(name.clone()));
        }
        if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            return Err(ParamError::VaultNameCharacters(name.clone()));
        }
        Ok(format!("https://{name}.{}", self.cloud.keyvault_dns_suffix))
    }
}

/// The cloud of a SecretProviderClass that names none: the process's `--cloud-name`, and for
/// `AzureStackCloud` its `--cloud-env-file` when the class names no `cloudEnvFileName` either.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DefaultCloud {
    /// `--cloud-name`.
    pub name: String,
    /// `--cloud-env-file` (empty: none).
    pub env_file: String,
}

impl From<&str> for DefaultCloud {
    fn from(name: &str) -> Self {
        Self {
            name: name.to_string(),
            env_file: String::new(),
        }
    }
}

/// Decode a request's `attributes`, `secrets` and file `permission` (JSON), the first step of parsing it;
/// [`Decoded::validate`] is the second.
pub fn decode(attributes: &str, secrets: &str, permission: &str) -> Result<Decoded, UnmarshalError> {
    let unmarshal = |field: &'static str| {
        move |e| UnmarshalError {
            field,
            error: JsonError(e),
        }
    };
    Ok(Decoded {
        attrs: serde_json::from_str(attributes).map_err(unmarshal("attributes"))?,
        secrets: serde_json::from_str(secrets).map_err(unmarshal("secrets"))?,
        permission: serde_json::from_str(permission).map_err(unmarshal("file permission"))?,
    })
}

/// A request's fields, decoded but not validated. No `Debug`: the secrets and the service-account tokens
/// are in it.
pub struct Decoded {
    attrs: HashMap<String, String>,
    secrets: HashMap<String, String>,
    permission: u32,
}

impl Decoded {
    /// An attribute as validation reads it: trimmed, `""` when absent. For naming a request before it is
    /// validated (its pod, namespace, vault), not for reading its tokens.
    pub fn attribute(&self, key: &str) -> &str {
        get(&self.attrs, key)
    }

    /// Validate the request. `default_cloud` is the process's `--cloud-name` and `--cloud-env-file`.
    pub fn validate(&self, default_cloud: &DefaultCloud) -> Result<MountParams, ParamError> {
        parse_attributes(&self.attrs, &self.secrets, self.permission, default_cloud)
    }
}

fn get<'a>(attrs: &'a HashMap<String, String>, key: &str) -> &'a str {
    attrs.get(key).map_or("", |v| v.trim())
}

fn parse_attributes(
    attrs: &HashMap<String, String>,
    secrets: &HashMap<String, String>,
    permission: u32,
    default_cloud: &DefaultCloud,
) -> Result<MountParams, ParamError> {
    let pod_name = get(attrs, keys::POD_NAME);
    let pod_namespace = get(attrs, keys::POD_NAMESPACE);
    if pod_name.is_empty() {
        return Err(ParamError::Missing("pod name"));
    }
    if pod_namespace.is_empty() {
        return Err(ParamError::Missing("pod namespace"));
    }
    let mode = identity::mode(attrs)?;
    let vault_name = get(attrs, VAULT_NAME);
    if vault_name.is_empty() {
        return Err(ParamError::Missing(azure::KEYVAULT_NAME));
    }
    let tenant_id = match get(attrs, azure::TENANT_ID) {
        "" => get(attrs, azure::TENANT_ID_LEGACY),
        t => t,
    };
    if tenant_id.is_empty() {
        return Err(ParamError::Missing(azure::TENANT_ID_LEGACY));
    }
    let cloud_name = match get(attrs, azure::CLOUD_NAME) {
        "" => default_cloud.name.as_str(),
        c => c,
    };
    let env_file = match get(attrs, azure::CLOUD_ENV_FILE_NAME) {
        "" => default_cloud.env_file.as_str(),
        f => f,
    };
    let cloud = Cloud::resolve(cloud_name, env_file)?;

    let identity = identity::resolve(mode, attrs, secrets)?;

    let objects_yaml = attrs.get(keys::OBJECTS).map_or("", String::as_str);
    if objects_yaml.trim().is_empty() {
        return Err(ParamError::NoObjects);
    }
    let objects = parse_objects(objects_yaml, permission)?;

    Ok(MountParams {
        pod_name: pod_name.to_string(),
        pod_namespace: pod_namespace.to_string(),
        vault_name: vault_name.to_string(),
        tenant_id: tenant_id.to_string(),
        cloud,
        identity,
        objects,
    })
}

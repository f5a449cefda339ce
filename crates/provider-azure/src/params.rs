//! Parsing and validating a `MountRequest` into a typed [`MountParams`], before any network call.
//!
//! The rules and error texts are those of the upstream Azure provider (SPEC §8.2–§8.4, §8.9), with the
//! QUIRK fixes of SPEC Part A: an invalid `filePermission` is an error (not mode 0), and the cloud
//! environment file is read per request instead of being exported as a process-global variable.

use std::collections::HashMap;
use std::fmt;

use provider_proto::contract::Objects;
use serde::Deserialize;

use crate::cloud::{Cloud, CloudError};
use crate::content::{Encoding, Format};
use crate::mount::MountError;

/// Attribute keys set by the driver or the sync controller (the contract's, under the names used here).
pub mod keys {
    pub use provider_proto::contract::attributes::SERVICE_ACCOUNT_TOKENS as SA_TOKENS;
    pub use provider_proto::contract::attributes::{OBJECTS, POD_NAME, POD_NAMESPACE};
}

pub use provider_proto::contract::WORKLOAD_IDENTITY_AUDIENCE;

/// Why the parameters of a Mount are invalid. `Display` is the upstream provider's text, returned to the
/// caller as the cause of `failed to mount objects, error: …`.
#[derive(Debug, thiserror::Error)]
pub enum ParamError {
    /// A required attribute is missing or empty (its upstream name: `pod name`, `keyvaultName`, …).
    #[error("{0} is not provided")]
    Missing(&'static str),
    /// More than one of `usePodIdentity`, `useVMManagedIdentity`, `useAzureTokenProxy` is true.
    #[error(
        "only one identity mode can be enabled at a time: usePodIdentity, useVMManagedIdentity, or useAzureTokenProxy"
    )]
    ConflictingIdentityModes,
    /// A flag is not a Go boolean.
    #[error("failed to parse {flag} flag, error: strconv.ParseBool: parsing {value:?}: invalid syntax")]
    Flag {
        /// The attribute.
        flag: &'static str,
        /// Its value.
        value: String,
    },
    /// `cloudName` (or the Azure Stack environment file) is not usable.
    #[error(transparent)]
    Cloud(#[from] CloudError),
    /// The identity mode cannot be set up from the attributes and secrets.
    #[error("failed to build auth config for mode {mode}: {problem}")]
    AuthConfig {
        /// Upstream's name of the mode: `PodIdentity`, `AzureTokenProxy` or `None`.
        mode: &'static str,
        /// What is wrong.
        problem: AuthConfigError,
    },
    /// `objects` is missing or blank.
    #[error("objects is not set")]
    NoObjects,
    /// `objects` is not the two-level YAML document.
    #[error("failed to yaml unmarshal objects, error: {0}")]
    ObjectsYaml(serde_yaml_ng::Error),
    /// An entry of `objects.array` is not a YAML mapping of the expected shape.
    #[error("unmarshal failed for keyVaultObjects at index {index}, error: {error}")]
    ObjectYaml {
        /// Position in the array.
        index: usize,
        /// The YAML error.
        error: serde_yaml_ng::Error,
    },
    /// An entry of `objects.array` is invalid.
    #[error("failed to get {object}: {problem}")]
    Object {
        /// The entry, as written.
        object: ObjectLabel,
        /// What is wrong with it.
        problem: ObjectError,
    },
    /// `keyvaultName` is too short or too long.
    #[error("failed to get vault: Invalid vault name: {0:?}, must be between 3 and 24 chars")]
    VaultNameLength(String),
    /// `keyvaultName` has characters a vault name cannot have.
    #[error("failed to get vault: Invalid vault name: {0:?}, must match [-a-zA-Z0-9]{{3,24}}")]
    VaultNameCharacters(String),
}

/// Why an identity mode cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum AuthConfigError {
    /// `usePodIdentity`.
    #[error("aad-pod-identity is deprecated and not supported; use workload identity (clientID)")]
    PodIdentityUnsupported,
    /// `useAzureTokenProxy`.
    #[error("AKS identity binding is not supported; use workload identity (clientID)")]
    TokenProxyUnsupported,
    /// Workload identity without a usable service-account token.
    #[error("failed to parse workload identity tokens, error: {0}")]
    WorkloadIdentityToken(TokenError),
    /// Service principal without `clientid` or `clientsecret` in the request's secrets.
    #[error("could not find {0} in secrets")]
    MissingSecret(&'static str),
}

/// Why the workload-identity token cannot be read from `csi.storage.k8s.io/serviceAccount.tokens`.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The attribute is missing or empty.
    #[error("service account tokens not found")]
    Missing,
    /// The attribute is not JSON of the expected shape.
    #[error("failed to unmarshal service account tokens, error: {0}")]
    Unmarshal(JsonError),
    /// No token for [`WORKLOAD_IDENTITY_AUDIENCE`].
    #[error("token for audience {WORKLOAD_IDENTITY_AUDIENCE} not found")]
    NoAudience,
}

/// Why an entry of `objects` is invalid.
#[derive(Debug, thiserror::Error)]
pub enum ObjectError {
    /// `objectType` is not `secret`, `key` or `cert`.
    #[error("Invalid vaultObjectTypes. Should be secret, key, or cert")]
    InvalidType,
    /// `objectFormat` is not `pem` or `pfx`.
    #[error("invalid objectFormat: {0}, should be PEM or PFX")]
    InvalidFormat(String),
    /// `objectFormat: pfx` on a key or certificate.
    #[error("PFX format only supported for objectType: secret")]
    PfxNotSecret,
    /// `objectEncoding` on a key or certificate.
    #[error("objectEncoding only supported for objectType: secret")]
    EncodingNotSecret,
    /// `objectEncoding` is not `utf-8`, `base64` or `hex`.
    #[error("invalid objectEncoding: {0}, should be hex, base64 or utf-8")]
    InvalidEncoding(String),
    /// Neither `objectAlias` nor `objectName` is set.
    #[error("file name must not be empty")]
    EmptyFileName,
    /// The file name is absolute.
    #[error("file name must be a relative path")]
    AbsoluteFileName,
    /// The file name could leave the target directory.
    #[error("file name must not contain '..'")]
    ParentInFileName,
    /// `filePermission` is not an octal file mode.
    #[error("invalid filePermission: {0:?}, must be an octal file mode between 0000 and 0777 such as 0644")]
    InvalidPermission(String),
}

/// An object as the upstream texts name it: `objectType:secret, objectName:db, objectVersion:`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectLabel {
    /// `objectType`, as written.
    pub object_type: String,
    /// `objectName`.
    pub name: String,
    /// `objectVersion` (`""` = latest).
    pub version: String,
}

impl fmt::Display for ObjectLabel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "objectType:{}, objectName:{}, objectVersion:{}",
            self.object_type, self.name, self.version
        )
    }
}

/// A JSON error without the input: serde_json's type errors quote the offending value (`invalid type: string
/// "<token>"`), and these inputs carry service-account tokens and client secrets.
#[derive(Debug, thiserror::Error)]
#[error("{} at line {} column {}", json_category(.0), .0.line(), .0.column())]
pub struct JsonError(pub serde_json::Error);

fn json_category(e: &serde_json::Error) -> &'static str {
    match e.classify() {
        serde_json::error::Category::Io => "read error",
        serde_json::error::Category::Syntax => "syntax error",
        serde_json::error::Category::Data => "unexpected value type",
        serde_json::error::Category::Eof => "unexpected end of input",
    }
}

/// How the provider authenticates to Entra ID for this request.
#[derive(Clone, PartialEq, Eq)]
pub enum Identity {
    /// Workload identity federation: exchange the service-account token for an Entra token.
    Workload {
        /// Client ID of the app registration or user-assigned managed identity.
        client_id: String,
        /// The service-account token for [`WORKLOAD_IDENTITY_AUDIENCE`].
        assertion: String,
    },
    /// The VM's (or VMSS's) managed identity through IMDS.
    VmManagedIdentity {
        /// Client ID of a user-assigned identity; `None` for the system-assigned identity.
        user_assigned_id: Option<String>,
    },
    /// A service principal with a client secret from the request's `secrets`.
    ServicePrincipal {
        /// Client ID.
        client_id: String,
        /// Client secret.
        client_secret: String,
    },
}

impl fmt::Debug for Identity {
    // Tokens and client secrets must never reach a log line through `{:?}`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Workload { client_id, .. } => f
                .debug_struct("Workload")
                .field("client_id", client_id)
                .field("assertion", &"<redacted>")
                .finish(),
            Self::VmManagedIdentity { user_assigned_id } => f
                .debug_struct("VmManagedIdentity")
                .field("user_assigned_id", user_assigned_id)
                .finish(),
            Self::ServicePrincipal { client_id, .. } => f
                .debug_struct("ServicePrincipal")
                .field("client_id", client_id)
                .field("client_secret", &"<redacted>")
                .finish(),
        }
    }
}

/// The Key Vault object types.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ObjectType {
    /// `secret`
    Secret,
    /// `key`
    Key,
    /// `cert`
    Cert,
}

impl ObjectType {
    /// The string used in `objectType` and in object ids.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Secret => "secret",
            Self::Key => "key",
            Self::Cert => "cert",
        }
    }
}

/// One validated entry of the `objects` array.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyVaultObject {
    /// Key Vault object name.
    pub name: String,
    /// Object type.
    pub object_type: ObjectType,
    /// Output file name (alias, else name).
    pub file_name: String,
    /// Requested version (`""` = latest).
    pub version: String,
    /// Number of versions to return (`<= 1` = a single file).
    pub version_history: i32,
    /// Output format for certificate-backed secrets.
    pub format: Format,
    /// Decoding applied to secret values.
    pub encoding: Encoding,
    /// File mode bits.
    pub mode: u32,
}

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
    /// `https://<vault>.<suffix>` after validating the vault name (SPEC §8.3).
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

/// Parse a request. `default_cloud` is the `--cloud-name` of the process.
pub fn parse(
    attributes: &str,
    secrets: &str,
    permission: &str,
    default_cloud: &str,
) -> Result<MountParams, MountError> {
    let unmarshal = |field: &'static str| {
        move |e| MountError::Unmarshal {
            field,
            error: JsonError(e),
        }
    };
    let attrs: HashMap<String, String> = serde_json::from_str(attributes).map_err(unmarshal("attributes"))?;
    let secrets: HashMap<String, String> = serde_json::from_str(secrets).map_err(unmarshal("secrets"))?;
    let permission: u32 = serde_json::from_str(permission).map_err(unmarshal("file permission"))?;
    Ok(parse_attributes(&attrs, &secrets, permission, default_cloud)?)
}

fn get<'a>(attrs: &'a HashMap<String, String>, key: &str) -> &'a str {
    attrs.get(key).map_or("", |v| v.trim())
}

fn parse_attributes(
    attrs: &HashMap<String, String>,
    secrets: &HashMap<String, String>,
    permission: u32,
    default_cloud: &str,
) -> Result<MountParams, ParamError> {
    let pod_name = get(attrs, keys::POD_NAME);
    let pod_namespace = get(attrs, keys::POD_NAMESPACE);
    if pod_name.is_empty() {
        return Err(ParamError::Missing("pod name"));
    }
    if pod_namespace.is_empty() {
        return Err(ParamError::Missing("pod namespace"));
    }
    let pod_identity = parse_flag(attrs, "usePodIdentity")?;
    let vm_identity = parse_flag(attrs, "useVMManagedIdentity")?;
    let token_proxy = parse_flag(attrs, "useAzureTokenProxy")?;
    if [pod_identity, vm_identity, token_proxy]
        .iter()
        .filter(|b| **b)
        .count()
        > 1
    {
        return Err(ParamError::ConflictingIdentityModes);
    }
    let vault_name = get(attrs, "keyvaultName");
    if vault_name.is_empty() {
        return Err(ParamError::Missing("keyvaultName"));
    }
    let tenant_id = match get(attrs, "tenantID") {
        "" => get(attrs, "tenantId"),
        t => t,
    };
    if tenant_id.is_empty() {
        return Err(ParamError::Missing("tenantId"));
    }
    let cloud_name = match get(attrs, "cloudName") {
        "" => default_cloud,
        c => c,
    };
    let cloud = Cloud::resolve(cloud_name, get(attrs, "cloudEnvFileName"))?;

    let client_id = get(attrs, "clientID");
    let auth_config = |mode, problem| ParamError::AuthConfig { mode, problem };
    let identity = if pod_identity {
        return Err(auth_config(
            "PodIdentity",
            AuthConfigError::PodIdentityUnsupported,
        ));
    } else if token_proxy {
        return Err(auth_config(
            "AzureTokenProxy",
            AuthConfigError::TokenProxyUnsupported,
        ));
    } else if vm_identity {
        let id = get(attrs, "userAssignedIdentityID");
        Identity::VmManagedIdentity {
            user_assigned_id: (!id.is_empty()).then(|| id.to_string()),
        }
    } else if !client_id.is_empty() {
        let assertion = workload_identity_token(get(attrs, keys::SA_TOKENS))
            .map_err(|e| auth_config("None", AuthConfigError::WorkloadIdentityToken(e)))?;
        Identity::Workload {
            client_id: client_id.to_string(),
            assertion,
        }
    } else {
        service_principal(secrets).map_err(|problem| auth_config("None", problem))?
    };

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

/// Go's `strconv.ParseBool`, which is what the upstream flags accept; empty means false.
fn parse_flag(attrs: &HashMap<String, String>, flag: &'static str) -> Result<bool, ParamError> {
    match get(attrs, flag) {
        "" | "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        other => Err(ParamError::Flag {
            flag,
            value: other.to_string(),
        }),
    }
}

#[derive(Deserialize)]
struct TokenStatus {
    token: String,
}

fn workload_identity_token(raw: &str) -> Result<String, TokenError> {
    if raw.is_empty() {
        return Err(TokenError::Missing);
    }
    let tokens: HashMap<String, TokenStatus> =
        serde_json::from_str(raw).map_err(|e| TokenError::Unmarshal(JsonError(e)))?;
    tokens
        .get(WORKLOAD_IDENTITY_AUDIENCE)
        .map(|t| t.token.clone())
        .ok_or(TokenError::NoAudience)
}

fn service_principal(secrets: &HashMap<String, String>) -> Result<Identity, AuthConfigError> {
    let find = |key: &'static str| {
        secrets
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .ok_or(AuthConfigError::MissingSecret(key))
    };
    Ok(Identity::ServicePrincipal {
        client_id: find("clientid")?,
        client_secret: find("clientsecret")?,
    })
}

/// One entry of `objects` as written by the user; unknown keys are ignored.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct RawObject {
    #[serde(default)]
    object_name: String,
    #[serde(default)]
    object_alias: String,
    #[serde(default)]
    object_type: String,
    #[serde(default)]
    object_version: String,
    #[serde(default)]
    object_format: String,
    #[serde(default)]
    object_encoding: String,
    #[serde(default)]
    file_permission: String,
    #[serde(default)]
    object_version_history: i32,
}

/// Parse the two-level `objects` YAML: a mapping with `array`, a list of strings each holding one object.
pub fn parse_objects(yaml: &str, default_mode: u32) -> Result<Vec<KeyVaultObject>, ParamError> {
    let doc = Objects::parse(yaml).map_err(ParamError::ObjectsYaml)?;
    doc.array
        .iter()
        .enumerate()
        .map(|(index, entry)| {
            let raw: RawObject = if entry.trim().is_empty() {
                RawObject::default()
            } else {
                serde_yaml_ng::from_str(entry).map_err(|error| ParamError::ObjectYaml { index, error })?
            };
            validate(raw, default_mode)
        })
        .collect()
}

fn validate(raw: RawObject, default_mode: u32) -> Result<KeyVaultObject, ParamError> {
    let label = ObjectLabel {
        object_type: raw.object_type.trim().to_string(),
        name: raw.object_name.trim().to_string(),
        version: raw.object_version.trim().to_string(),
    };
    match validate_fields(&raw, &label, default_mode) {
        Ok(object) => Ok(object),
        Err(problem) => Err(ParamError::Object {
            object: label,
            problem,
        }),
    }
}

fn validate_fields(
    raw: &RawObject,
    label: &ObjectLabel,
    default_mode: u32,
) -> Result<KeyVaultObject, ObjectError> {
    let object_type = match label.object_type.as_str() {
        "secret" => ObjectType::Secret,
        "key" => ObjectType::Key,
        "cert" => ObjectType::Cert,
        _ => return Err(ObjectError::InvalidType),
    };
    let format = match raw.object_format.trim().to_ascii_lowercase().as_str() {
        "" | "pem" => Format::Pem,
        "pfx" => Format::Pfx,
        other => return Err(ObjectError::InvalidFormat(other.to_string())),
    };
    if format == Format::Pfx && object_type != ObjectType::Secret {
        return Err(ObjectError::PfxNotSecret);
    }
    let encoding_str = raw.object_encoding.trim().to_ascii_lowercase();
    if !encoding_str.is_empty() && object_type != ObjectType::Secret {
        return Err(ObjectError::EncodingNotSecret);
    }
    let encoding = match encoding_str.as_str() {
        "" | "utf-8" => Encoding::Utf8,
        "base64" => Encoding::Base64,
        "hex" => Encoding::Hex,
        other => return Err(ObjectError::InvalidEncoding(other.to_string())),
    };
    let alias = raw.object_alias.trim();
    let file_name = if alias.is_empty() {
        label.name.clone()
    } else {
        alias.to_string()
    };
    validate_file_name(&file_name)?;
    let permission = raw.file_permission.trim();
    let mode = if permission.is_empty() {
        default_mode
    } else {
        u32::from_str_radix(permission, 8)
            .ok()
            .filter(|m| *m <= 0o777)
            .ok_or_else(|| ObjectError::InvalidPermission(permission.to_string()))?
    };
    Ok(KeyVaultObject {
        name: label.name.clone(),
        object_type,
        file_name,
        version: label.version.clone(),
        version_history: raw.object_version_history,
        format,
        encoding,
        mode,
    })
}

fn validate_file_name(name: &str) -> Result<(), ObjectError> {
    if name.is_empty() {
        return Err(ObjectError::EmptyFileName);
    }
    if name.starts_with('/') || name.starts_with('\\') {
        return Err(ObjectError::AbsoluteFileName);
    }
    if name.contains("..") {
        return Err(ObjectError::ParentInFileName);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(extra: &[(&str, &str)]) -> String {
        let mut map: HashMap<&str, &str> = HashMap::from([
            (keys::POD_NAME, "sse-pod"),
            (keys::POD_NAMESPACE, "app"),
            ("keyvaultName", "contoso-kv"),
            ("tenantID", "tenant"),
            ("clientID", "client"),
            (
                keys::SA_TOKENS,
                r#"{"api://AzureADTokenExchange":{"token":"jwt","expirationTimestamp":"2026-01-01T00:00:00Z"}}"#,
            ),
            (
                "objects",
                "array:\n  - |\n    objectName: s1\n    objectType: secret\n",
            ),
        ]);
        for (k, v) in extra {
            if v.is_empty() {
                map.remove(k);
            } else {
                map.insert(k, v);
            }
        }
        serde_json::to_string(&map).unwrap()
    }

    fn mount_err(extra: &[(&str, &str)]) -> String {
        parse(&attrs(extra), "{}", "420", "AzurePublicCloud")
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn parses_the_walkthrough_parameters() {
        let p = parse(&attrs(&[]), "{}", "420", "AzurePublicCloud").unwrap();
        assert_eq!(p.vault_name, "contoso-kv");
        assert_eq!(p.vault_url().unwrap(), "https://contoso-kv.vault.azure.net");
        assert_eq!(
            p.identity,
            Identity::Workload {
                client_id: "client".into(),
                assertion: "jwt".into()
            }
        );
        assert_eq!(p.objects.len(), 1);
        assert_eq!(p.objects[0].file_name, "s1");
        assert_eq!(p.objects[0].mode, 0o644);
    }

    #[test]
    fn unmarshal_errors_are_not_wrapped() {
        assert!(
            parse("nope", "{}", "420", "AzurePublicCloud")
                .unwrap_err()
                .to_string()
                .starts_with("failed to unmarshal attributes, error: ")
        );
        assert!(
            parse("{}", "[", "420", "AzurePublicCloud")
                .unwrap_err()
                .to_string()
                .starts_with("failed to unmarshal secrets, error: ")
        );
        assert!(
            parse("{}", "{}", "\"x\"", "AzurePublicCloud")
                .unwrap_err()
                .to_string()
                .starts_with("failed to unmarshal file permission, error: ")
        );
    }

    #[test]
    fn required_parameters_have_upstream_texts() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (
                &[(keys::POD_NAME, "")],
                "failed to mount objects, error: pod name is not provided",
            ),
            (
                &[(keys::POD_NAMESPACE, "")],
                "failed to mount objects, error: pod namespace is not provided",
            ),
            (
                &[("keyvaultName", "")],
                "failed to mount objects, error: keyvaultName is not provided",
            ),
            (
                &[("tenantID", "")],
                "failed to mount objects, error: tenantId is not provided",
            ),
            (
                &[("objects", "")],
                "failed to mount objects, error: objects is not set",
            ),
            (
                &[("useVMManagedIdentity", "true"), ("usePodIdentity", "1")],
                "failed to mount objects, error: only one identity mode can be enabled at a time: usePodIdentity, useVMManagedIdentity, or useAzureTokenProxy",
            ),
        ];
        for (extra, want) in cases {
            assert_eq!(&mount_err(extra), want);
        }
    }

    #[test]
    fn legacy_tenant_id_is_accepted() {
        let p = parse(
            &attrs(&[("tenantID", ""), ("tenantId", " legacy ")]),
            "{}",
            "420",
            "AzurePublicCloud",
        )
        .unwrap();
        assert_eq!(p.tenant_id, "legacy");
    }

    #[test]
    fn bad_flag_is_reported_with_its_name() {
        assert_eq!(
            mount_err(&[("useVMManagedIdentity", "yes")]),
            "failed to mount objects, error: failed to parse useVMManagedIdentity flag, error: strconv.ParseBool: parsing \"yes\": invalid syntax"
        );
    }

    #[test]
    fn workload_identity_token_errors() {
        assert_eq!(
            mount_err(&[(keys::SA_TOKENS, "")]),
            "failed to mount objects, error: failed to build auth config for mode None: failed to parse workload identity tokens, error: service account tokens not found"
        );
        assert_eq!(
            mount_err(&[(keys::SA_TOKENS, r#"{"other":{"token":"x"}}"#)]),
            "failed to mount objects, error: failed to build auth config for mode None: failed to parse workload identity tokens, error: token for audience api://AzureADTokenExchange not found"
        );
        assert!(mount_err(&[(keys::SA_TOKENS, "{")]).starts_with(
            "failed to mount objects, error: failed to build auth config for mode None: failed to parse workload identity tokens, error: failed to unmarshal service account tokens, error: "
        ));
    }

    #[test]
    fn json_errors_never_quote_the_input() {
        let e = mount_err(&[(keys::SA_TOKENS, r#"{"api://AzureADTokenExchange":"SECRETJWT"}"#)]);
        assert!(!e.contains("SECRETJWT"), "{e}");
        assert!(e.contains("unexpected value type at line 1"), "{e}");
        let e = parse(
            r#"{"a": 1}"#,
            r#"{"clientsecret": 42}"#,
            "420",
            "AzurePublicCloud",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with("failed to unmarshal attributes, error: unexpected value type"),
            "{e}"
        );
    }

    #[test]
    fn service_principal_needs_secrets() {
        assert_eq!(
            mount_err(&[("clientID", "")]),
            "failed to mount objects, error: failed to build auth config for mode None: could not find clientid in secrets"
        );
        let p = parse(
            &attrs(&[("clientID", "")]),
            r#"{"ClientID":"id","clientsecret":"s"}"#,
            "420",
            "AzurePublicCloud",
        )
        .unwrap();
        assert!(matches!(p.identity, Identity::ServicePrincipal { ref client_id, .. } if client_id == "id"));
        assert!(!format!("{:?}", p.identity).contains('s') || !format!("{:?}", p.identity).contains("\"s\""));
    }

    #[test]
    fn vm_managed_identity() {
        let p = parse(
            &attrs(&[
                ("useVMManagedIdentity", "true"),
                ("userAssignedIdentityID", "uami"),
            ]),
            "{}",
            "420",
            "AzurePublicCloud",
        )
        .unwrap();
        assert_eq!(
            p.identity,
            Identity::VmManagedIdentity {
                user_assigned_id: Some("uami".into())
            }
        );
    }

    #[test]
    fn debug_output_redacts_tokens() {
        let p = parse(
            &attrs(&[(
                keys::SA_TOKENS,
                r#"{"api://AzureADTokenExchange":{"token":"TOPSECRETJWT"}}"#,
            )]),
            "{}",
            "420",
            "AzurePublicCloud",
        )
        .unwrap();
        assert!(!format!("{p:?}").contains("TOPSECRETJWT"));
    }

    #[test]
    fn vault_name_validation() {
        let mut p = parse(&attrs(&[]), "{}", "420", "AzurePublicCloud").unwrap();
        p.vault_name = "ab".into();
        assert_eq!(
            p.vault_url().unwrap_err().to_string(),
            "failed to get vault: Invalid vault name: \"ab\", must be between 3 and 24 chars"
        );
        p.vault_name = "bad_name".into();
        assert_eq!(
            p.vault_url().unwrap_err().to_string(),
            "failed to get vault: Invalid vault name: \"bad_name\", must match [-a-zA-Z0-9]{3,24}"
        );
    }

    fn one(entry: &str) -> Result<KeyVaultObject, ParamError> {
        let yaml = format!(
            "array:\n  - |\n{}",
            entry.lines().map(|l| format!("    {l}\n")).collect::<String>()
        );
        parse_objects(&yaml, 0o644).map(|mut v| v.remove(0))
    }

    #[test]
    fn object_fields_are_trimmed_and_defaulted() {
        let o = one("objectName: ' s1 '\nobjectType: secret\nobjectAlias: ' A/B '\nobjectVersionHistory: 3\nfilePermission: '0600'\nobjectEncoding: BASE64\nunknownKey: ignored").unwrap();
        assert_eq!(o.name, "s1");
        assert_eq!(o.file_name, "A/B");
        assert_eq!(o.version_history, 3);
        assert_eq!(o.mode, 0o600);
        assert_eq!(o.encoding, Encoding::Base64);
    }

    #[test]
    fn object_validation_texts() {
        let cases = [
            (
                "objectName: s\nobjectType: Secret",
                "failed to get objectType:Secret, objectName:s, objectVersion:: Invalid vaultObjectTypes. Should be secret, key, or cert",
            ),
            (
                "objectName: s\nobjectType: secret\nobjectFormat: der",
                "failed to get objectType:secret, objectName:s, objectVersion:: invalid objectFormat: der, should be PEM or PFX",
            ),
            (
                "objectName: k\nobjectType: key\nobjectFormat: pfx",
                "failed to get objectType:key, objectName:k, objectVersion:: PFX format only supported for objectType: secret",
            ),
            (
                "objectName: c\nobjectType: cert\nobjectEncoding: hex",
                "failed to get objectType:cert, objectName:c, objectVersion:: objectEncoding only supported for objectType: secret",
            ),
            (
                "objectName: s\nobjectType: secret\nobjectEncoding: utf-16",
                "failed to get objectType:secret, objectName:s, objectVersion:: invalid objectEncoding: utf-16, should be hex, base64 or utf-8",
            ),
            (
                "objectName: ''\nobjectType: secret",
                "failed to get objectType:secret, objectName:, objectVersion:: file name must not be empty",
            ),
            (
                "objectName: s\nobjectType: secret\nobjectAlias: /etc/passwd",
                "failed to get objectType:secret, objectName:s, objectVersion:: file name must be a relative path",
            ),
            (
                "objectName: s\nobjectType: secret\nobjectAlias: a/../../b",
                "failed to get objectType:secret, objectName:s, objectVersion:: file name must not contain '..'",
            ),
            (
                "objectName: s\nobjectType: secret\nfilePermission: '0999'",
                "failed to get objectType:secret, objectName:s, objectVersion:: invalid filePermission: \"0999\", must be an octal file mode between 0000 and 0777 such as 0644",
            ),
            (
                "objectName: s\nobjectType: secret\nfilePermission: rw",
                "failed to get objectType:secret, objectName:s, objectVersion:: invalid filePermission: \"rw\", must be an octal file mode between 0000 and 0777 such as 0644",
            ),
        ];
        for (entry, want) in cases {
            assert_eq!(one(entry).unwrap_err().to_string(), want, "entry {entry:?}");
        }
    }

    #[test]
    fn quoted_history_is_an_unmarshal_error() {
        let e = one("objectName: s\nobjectType: secret\nobjectVersionHistory: \"2\"")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("unmarshal failed for keyVaultObjects at index 0, error: "),
            "{e}"
        );
    }

    #[test]
    fn malformed_objects_yaml() {
        let e = parse_objects("array: {", 0o644).unwrap_err().to_string();
        assert!(e.starts_with("failed to yaml unmarshal objects, error: "), "{e}");
        assert!(parse_objects("array: []", 0o644).unwrap().is_empty());
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_attributes_never_panic(s in ".*") {
            let _ = parse(&s, "{}", "420", "AzurePublicCloud");
        }

        #[test]
        fn arbitrary_objects_yaml_never_panics(s in ".*") {
            let _ = parse_objects(&s, 0o644);
            let _ = parse_objects(&format!("array:\n  - |\n    {s}\n"), 0o644);
        }

        #[test]
        fn arbitrary_object_entries_never_panic(name in ".*", ty in "(secret|key|cert|.*)", perm in ".*", hist in proptest::num::i64::ANY) {
            let entry = serde_json::json!({"objectName": name, "objectType": ty, "filePermission": perm, "objectVersionHistory": hist}).to_string();
            let yaml = serde_json::json!({"array": [entry]}).to_string();
            let _ = parse_objects(&yaml, 0o644);
        }
    }
}

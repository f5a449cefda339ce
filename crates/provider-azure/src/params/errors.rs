//! Why the parameters of a Mount are invalid, in the upstream provider's words.

use std::fmt;

use super::WORKLOAD_IDENTITY_AUDIENCE;
use crate::cloud::CloudError;
use crate::json::JsonError;

/// `attributes`, `secrets` or `permission` of a request is not JSON of the expected shape. `Display` is the
/// upstream provider's text, which it returns as it is (not as the cause of `failed to mount objects`).
#[derive(Debug, thiserror::Error)]
#[error("failed to unmarshal {field}, error: {error}")]
pub struct UnmarshalError {
    /// `attributes`, `secrets` or `file permission`.
    pub field: &'static str,
    /// Where the JSON is wrong (never the value).
    pub error: JsonError,
}

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

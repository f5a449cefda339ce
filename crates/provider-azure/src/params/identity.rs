//! How the provider authenticates to Entra ID for a request: the identity mode flags and the credentials.

use std::collections::HashMap;
use std::fmt;

use provider_proto::contract::azure;
use serde::Deserialize;

use super::{AuthConfigError, ParamError, TokenError, WORKLOAD_IDENTITY_AUDIENCE, get, keys};
use crate::json::JsonError;

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

/// The identity mode the flags select.
#[derive(Clone, Copy)]
pub(super) enum Mode {
    /// `usePodIdentity`.
    PodIdentity,
    /// `useAzureTokenProxy`.
    AzureTokenProxy,
    /// `useVMManagedIdentity`.
    VmManagedIdentity,
    /// None of them: workload identity with `clientID`, else a service principal.
    Default,
}

/// Read the three mode flags; at most one may be true.
pub(super) fn mode(attrs: &HashMap<String, String>) -> Result<Mode, ParamError> {
    let pod_identity = parse_flag(attrs, azure::USE_POD_IDENTITY)?;
    let vm_identity = parse_flag(attrs, azure::USE_VM_MANAGED_IDENTITY)?;
    let token_proxy = parse_flag(attrs, azure::USE_AZURE_TOKEN_PROXY)?;
    if [pod_identity, vm_identity, token_proxy]
        .iter()
        .filter(|b| **b)
        .count()
        > 1
    {
        return Err(ParamError::ConflictingIdentityModes);
    }
    Ok(if pod_identity {
        Mode::PodIdentity
    } else if token_proxy {
        Mode::AzureTokenProxy
    } else if vm_identity {
        Mode::VmManagedIdentity
    } else {
        Mode::Default
    })
}

/// The identity of `mode`, from the attributes and the request's secrets.
pub(super) fn resolve(
    mode: Mode,
    attrs: &HashMap<String, String>,
    secrets: &HashMap<String, String>,
) -> Result<Identity, ParamError> {
    let client_id = get(attrs, azure::CLIENT_ID);
    let auth_config = |mode, problem| ParamError::AuthConfig { mode, problem };
    Ok(match mode {
        Mode::PodIdentity => {
            return Err(auth_config(
                "PodIdentity",
                AuthConfigError::PodIdentityUnsupported,
            ));
        }
        Mode::AzureTokenProxy => {
            return Err(auth_config(
                "AzureTokenProxy",
                AuthConfigError::TokenProxyUnsupported,
            ));
        }
        Mode::VmManagedIdentity => {
            let id = get(attrs, azure::USER_ASSIGNED_IDENTITY_ID);
            Identity::VmManagedIdentity {
                user_assigned_id: (!id.is_empty()).then(|| id.to_string()),
            }
        }
        Mode::Default if !client_id.is_empty() => {
            let assertion = workload_identity_token(get(attrs, keys::SA_TOKENS))
                .map_err(|e| auth_config("None", AuthConfigError::WorkloadIdentityToken(e)))?;
            Identity::Workload {
                client_id: client_id.to_string(),
                assertion,
            }
        }
        Mode::Default => service_principal(secrets).map_err(|problem| auth_config("None", problem))?,
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

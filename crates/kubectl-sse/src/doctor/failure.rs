//! The last failure as the manager recorded it in the `Ready` condition, read back into its parts.
//!
//! The manager records a failed provider call as gRPC-Go prints a status, `rpc error: code = NotFound desc =
//! …` (`ProviderError::Rpc`, crates/manager/src/provider/error.rs), after `fetching secrets from the provider
//! failed: ` (`SyncError::Provider`, crates/manager/src/error.rs); a partial sync lists the same texts in its
//! summary's `providerErrors`. The Azure provider answers a failed Mount with a code per failure and the
//! upstream provider's text, `failed to mount objects, error: …` (`From<MountError> for Status`,
//! crates/provider-azure/src/service.rs):
//!
//! | what failed | code | the text after the object (`failed to get objectType:…, objectName:…, objectVersion:…: `) |
//! |---|---|---|
//! | the token: Entra refused it, or could not be asked | `Unauthenticated` | `GET URL: ` and the credential's error (`AADSTS…`) |
//! | Key Vault answered 401, 403, 404, 429 | `Unauthenticated`, `PermissionDenied`, `NotFound`, `ResourceExhausted` | `GET URL: HTTP 403 Forbidden (ForbiddenByRbac): …` |
//! | Key Vault could not be reached | `Unavailable` | `GET URL: ` and the HTTP client's error |
//!
//! A failure is classified by that code first, then by Key Vault's error code (`innererror.code`, e.g.
//! `ForbiddenByRbac`), and only where neither says more by the text of a transport error
//! ([`network_failure`]), the one signal there is.

use std::borrow::Cow;

use sse_api::Reason;
use tonic::Code;

#[cfg(test)]
mod tests;

/// What the manager writes before every provider failure (`SyncError::Provider`).
const PROVIDER_FAILED: &str = "fetching secrets from the provider failed: ";
/// What the manager writes for a gRPC status (`ProviderError::Rpc`), before the code's gRPC-Go name.
const RPC_ERROR: &str = "rpc error: code = ";
/// What the Azure provider's every Mount answer starts with (the upstream provider's text).
const MOUNT_FAILED: &str = "failed to mount objects, error: ";

/// The failure the `Ready` condition records.
#[derive(Debug, Clone)]
pub(super) struct Failure<'a> {
    /// Its reason, when it is one SSE-rs writes.
    pub reason: Option<Reason>,
    /// Its message, as written.
    pub message: &'a str,
    /// The provider error in it: the message itself, or a partial sync's first `providerErrors` entry.
    provider_error: Cow<'a, str>,
}

/// A provider call's gRPC status, as the manager recorded it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct RpcStatus<'a> {
    /// Its code.
    pub code: Code,
    /// Its message (`desc`).
    pub message: &'a str,
}

/// What a Key Vault or Entra failure is, by the provider's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum KeyVaultFailure {
    /// No token: Entra could not be reached (`Unauthenticated` without a Key Vault status, a transport error).
    EntraUnreachable,
    /// No token: Entra refused the exchange (`Unauthenticated` without a Key Vault status, an `AADSTS…` code).
    EntraRefused,
    /// The vault's host name does not resolve (`Unavailable`, a DNS error).
    Dns,
    /// The vault cannot be reached (`Unavailable`, a connection error) or its firewall refuses the caller
    /// (403 `ForbiddenByFirewall`).
    Unreachable,
    /// 403 `ForbiddenByRbac`: no role that allows the read.
    NoRole,
    /// 403 `AccessDenied`: an access-policy vault without `get` for the caller.
    NoAccessPolicy,
    /// 403 `SecretDisabled`, `KeyDisabled`, `CertificateDisabled`.
    Disabled,
    /// `NotFound` (404).
    NotFound,
    /// 401: the vault refused the token.
    TokenRefused,
    /// 429.
    Throttled,
    /// Anything else: the provider's text says what.
    Other,
}

/// How a request failed on the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Network {
    /// The host name does not resolve.
    Dns,
    /// No connection, or it broke.
    Connection,
}

impl<'a> Failure<'a> {
    /// The failure recorded with `reason` and `message`.
    pub fn new(reason: Option<Reason>, message: &'a str) -> Self {
        let provider_error = match reason {
            Some(Reason::PartialSync) => {
                first_provider_error(message).map_or(Cow::Borrowed(message), Cow::Owned)
            }
            _ => Cow::Borrowed(message),
        };
        Self {
            reason,
            message,
            provider_error,
        }
    }

    /// The gRPC status of the failed provider call, if the failure is one.
    pub fn rpc(&self) -> Option<RpcStatus<'_>> {
        RpcStatus::parse(&self.provider_error)
    }

    /// Whether the manager could not use the provider at all, as opposed to an error the provider answered
    /// with: no socket, or `Unavailable` made by the manager's gRPC client rather than sent by the provider
    /// (tonic's status for a connection it could not open: nothing listening, a provider certificate the
    /// manager does not trust).
    pub fn provider_unreachable(&self) -> bool {
        no_provider_socket(self.message)
            || self
                .rpc()
                .is_some_and(|rpc| rpc.code == Code::Unavailable && !rpc.is_mount_answer())
    }

    /// Entra's error code (`AADSTS700213`), when Entra refused the token.
    pub fn aadsts(&self) -> Option<String> {
        let at = self.message.find("AADSTS")?;
        let code: String = self.message[at..]
            .chars()
            .take_while(char::is_ascii_alphanumeric)
            .collect();
        (code.len() > 6).then_some(code)
    }

    /// `(objectType, objectName)` of the object the provider error names (`objectType:secret, objectName:db`).
    pub fn object(&self) -> Option<(String, String)> {
        let message = &self.provider_error;
        let field = |key: &str| {
            let at = message.find(key)? + key.len();
            Some(
                message[at..]
                    .chars()
                    .take_while(|c| *c != ',' && !c.is_whitespace())
                    .collect::<String>(),
            )
        };
        Some((field("objectType:")?, field("objectName:")?))
    }

    /// What went wrong with Key Vault (or with Entra on the way), by the provider's answer: its gRPC code,
    /// then Key Vault's status and error code.
    pub fn key_vault(&self) -> KeyVaultFailure {
        let Some(rpc) = self.rpc() else {
            return KeyVaultFailure::Other;
        };
        let answer = rpc.is_mount_answer().then(|| KeyVaultAnswer::parse(rpc.message));
        let status = answer.and_then(|a| a.status);
        match rpc.code {
            Code::Unauthenticated if status == Some(401) => KeyVaultFailure::TokenRefused,
            // No token, so Key Vault was not asked: Entra's refusal (its `AADSTS…` code) or a transport error.
            Code::Unauthenticated if answer.is_some() && status.is_none() => {
                match (self.aadsts(), network_failure(rpc.message)) {
                    (Some(_), _) => KeyVaultFailure::EntraRefused,
                    (None, Some(_)) => KeyVaultFailure::EntraUnreachable,
                    (None, None) => KeyVaultFailure::Other,
                }
            }
            Code::PermissionDenied => match answer.and_then(|a| a.inner_code) {
                Some("ForbiddenByFirewall") => KeyVaultFailure::Unreachable,
                Some("ForbiddenByRbac") => KeyVaultFailure::NoRole,
                Some("AccessDenied") => KeyVaultFailure::NoAccessPolicy,
                Some(code) if code.ends_with("Disabled") => KeyVaultFailure::Disabled,
                _ => KeyVaultFailure::Other,
            },
            Code::NotFound => KeyVaultFailure::NotFound,
            Code::ResourceExhausted if status == Some(429) => KeyVaultFailure::Throttled,
            Code::Unavailable if answer.is_some() && status.is_none() => match network_failure(rpc.message) {
                Some(Network::Dns) => KeyVaultFailure::Dns,
                Some(Network::Connection) => KeyVaultFailure::Unreachable,
                None => KeyVaultFailure::Other,
            },
            _ => KeyVaultFailure::Other,
        }
    }
}

impl<'a> RpcStatus<'a> {
    /// `rpc error: code = NAME desc = MESSAGE`, after the manager's `fetching secrets from the provider
    /// failed: ` or not.
    fn parse(text: &'a str) -> Option<Self> {
        let status = text
            .strip_prefix(PROVIDER_FAILED)
            .unwrap_or(text)
            .strip_prefix(RPC_ERROR)?;
        let (name, message) = status.split_once(" desc = ")?;
        Some(Self {
            code: provider_proto::contract::grpc_go::code(name)?,
            message,
        })
    }

    /// Whether the Azure provider sent this status in answer to a Mount, rather than the manager's gRPC
    /// client making it up when it could not reach the provider.
    fn is_mount_answer(&self) -> bool {
        self.message.starts_with(MOUNT_FAILED)
    }
}

/// Key Vault's answer inside a Mount answer: `…objectVersion:: GET URL: HTTP 403 Forbidden (ForbiddenByRbac): …`
/// (`render` in crates/provider-azure/src/keyvault/errors.rs).
#[derive(Debug, Clone, Copy, Default)]
struct KeyVaultAnswer<'a> {
    /// The HTTP status, when Key Vault answered.
    status: Option<u16>,
    /// `innererror.code` of its error body.
    inner_code: Option<&'a str>,
}

impl<'a> KeyVaultAnswer<'a> {
    fn parse(answer: &'a str) -> Self {
        // The object's label ends with `objectVersion:VERSION: `, then `OPERATION URL: HTTP STATUS CODE (INNER): …`.
        let http = answer
            .find("objectVersion:")
            .and_then(|at| answer[at..].split_once(": "))
            .and_then(|(_, error)| error.split_once(": "))
            .and_then(|(_, rest)| rest.strip_prefix("HTTP "));
        let Some(http) = http else {
            return Self::default();
        };
        let status = http.get(..3).and_then(|s| s.parse().ok());
        // ` Forbidden (ForbiddenByRbac): message`: the inner code is the parenthesised word after the code.
        let inner_code = http
            .get(3..)
            .and_then(|rest| rest.strip_prefix(' '))
            .and_then(|rest| rest.split_once(' '))
            .filter(|(code, _)| !code.ends_with(':'))
            .and_then(|(_, rest)| rest.strip_prefix('('))
            .and_then(|rest| rest.split_once(')'))
            .map(|(inner, _)| inner);
        Self { status, inner_code }
    }
}

/// The first entry of a partial sync's summary `{"items": […], "providerErrors": […]}`.
fn first_provider_error(summary: &str) -> Option<String> {
    let summary: serde_json::Value = serde_json::from_str(summary).ok()?;
    summary["providerErrors"][0].as_str().map(str::to_string)
}

/// How a request to Key Vault or Entra failed on the network, from the HTTP client's error text, which the
/// provider passes on as it is. The text is the only signal: the code says only that the vault could not be
/// reached (`Unavailable`) or that there is no token (`Unauthenticated`). Observed in tier 2
/// (tests/tests/doctor.rs, reqwest and hyper through the Azure SDK): `client error (Connect): dns error: error
/// resolving DNS: failed to lookup address information: Name or service not known` and `client error
/// (Connect): tcp connect error: Connection refused (os error 111)`; `no such host` is Go's resolver (the
/// upstream provider), `timed out` and `connection reset` the OS's.
fn network_failure(text: &str) -> Option<Network> {
    const DNS: [&str; 4] = [
        "dns error",
        "failed to lookup address",
        "no such host",
        "Name or service not known",
    ];
    const CONNECTION: [&str; 3] = ["Connection refused", "timed out", "connection reset"];
    if DNS.iter().any(|needle| text.contains(needle)) {
        Some(Network::Dns)
    } else if CONNECTION.iter().any(|needle| text.contains(needle)) {
        Some(Network::Connection)
    } else {
        None
    }
}

/// Whether the manager found no socket for the provider. No call was made, so there is no gRPC status: only
/// the text of the manager's `ProviderError::NotFound` (crates/manager/src/provider/error.rs), `provider not found:
/// provider "NAME"`.
fn no_provider_socket(message: &str) -> bool {
    message
        .strip_prefix(PROVIDER_FAILED)
        .is_some_and(|error| error.starts_with("provider not found: "))
}

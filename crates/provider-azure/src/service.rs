//! The `v1alpha1.CSIDriverProvider` service: validate, delegate to [`Mounter`], map errors.
//!
//! A failed Mount becomes a gRPC status in one place, `From<MountError> for Status`: the upstream text
//! (`failed to mount objects, error: …`), which never contains a secret value or a token, with the code
//! chosen per failure there. The `grpc_request` metric records the code actually returned.

use std::sync::Arc;
use std::time::Instant;

use provider_proto::ssers::change_detection_server::ChangeDetection;
use provider_proto::ssers::{FingerprintsRequest, FingerprintsResponse};
use provider_proto::v1alpha1::csi_driver_provider_server::CsiDriverProvider;
use provider_proto::v1alpha1::{MountRequest, MountResponse, VersionRequest, VersionResponse};
use tonic::{Code, Request, Response, Status};
use tracing::Instrument as _;

use crate::changes::ChangeDetector;
use crate::keyvault::KeyVaultError;
use crate::metrics::Metrics;
use crate::mount::{self, MountError, Mounter};

/// `runtime_name` reported by `Version`, as upstream.
pub const RUNTIME_NAME: &str = "secrets-store-csi-driver-provider-azure";

/// The gRPC service.
pub struct ProviderService {
    mounter: Arc<Mounter>,
    metrics: Metrics,
}

impl ProviderService {
    /// A service backed by `mounter`.
    pub fn new(mounter: Arc<Mounter>, metrics: Metrics) -> Self {
        Self { mounter, metrics }
    }
}

#[tonic::async_trait]
impl CsiDriverProvider for ProviderService {
    async fn version(&self, _request: Request<VersionRequest>) -> Result<Response<VersionResponse>, Status> {
        let started = Instant::now();
        let response = VersionResponse {
            version: provider_proto::API_VERSION.to_string(),
            runtime_name: RUNTIME_NAME.to_string(),
            runtime_version: env!("CARGO_PKG_VERSION").to_string(),
        };
        self.metrics.grpc_request(
            "/v1alpha1.CSIDriverProvider/Version",
            tonic::Code::Ok,
            started.elapsed(),
        );
        Ok(Response::new(response))
    }

    async fn mount(&self, request: Request<MountRequest>) -> Result<Response<MountResponse>, Status> {
        // The outcome is logged inside the Mount's span too, so its line names the request.
        async {
            let started = Instant::now();
            let result = self.mounter.mount(request.get_ref()).await.map_err(|error| {
                tracing::warn!(%error, "failed to process mount request");
                Status::from(error)
            });
            let code = result.as_ref().map_or_else(Status::code, |_| Code::Ok);
            self.metrics
                .grpc_request("/v1alpha1.CSIDriverProvider/Mount", code, started.elapsed());
            let response = result?;
            tracing::info!(
                files = response.files.len(),
                took_ms = started.elapsed().as_millis() as u64,
                "mount succeeded"
            );
            Ok(Response::new(response))
        }
        .instrument(mount::span())
        .await
    }
}

/// The optional `ssers.v1alpha1.ChangeDetection` service (see [`crate::changes`]).
pub struct ChangeService {
    detector: Arc<ChangeDetector>,
    metrics: Metrics,
}

impl ChangeService {
    /// A service backed by `detector`.
    pub fn new(detector: Arc<ChangeDetector>, metrics: Metrics) -> Self {
        Self { detector, metrics }
    }
}

#[tonic::async_trait]
impl ChangeDetection for ChangeService {
    async fn fingerprints(
        &self,
        request: Request<FingerprintsRequest>,
    ) -> Result<Response<FingerprintsResponse>, Status> {
        let started = Instant::now();
        // Failures are those a Mount would report (the caller then mounts and reports it): DEBUG here.
        let span = mount::fingerprints_span();
        let result = async {
            self.detector
                .fingerprints(request.get_ref())
                .await
                .map_err(|error| {
                    tracing::debug!(%error, "failed to answer a fingerprints request");
                    Status::from(error)
                })
        }
        .instrument(span)
        .await;
        let code = result.as_ref().map_or_else(Status::code, |_| Code::Ok);
        self.metrics.grpc_request(
            "/ssers.v1alpha1.ChangeDetection/Fingerprints",
            code,
            started.elapsed(),
        );
        Ok(Response::new(result?))
    }
}

/// The one place a Mount failure becomes a gRPC status: the upstream text, and a code per failure. The match
/// is exhaustive, so a new kind of failure cannot reach the wire without a decision.
///
/// The upstream provider answers `UNKNOWN` for every failure (its plain Go errors become `UNKNOWN`). This one
/// says what kind of failure it is, so callers and the `grpc_request` metric can tell them apart:
/// `INVALID_ARGUMENT` when the request or the SecretProviderClass must change, what Key Vault or Entra
/// answered as the nearest code (`NOT_FOUND`, `PERMISSION_DENIED`, `UNAVAILABLE`, …), `FAILED_PRECONDITION`
/// when a stored value does not suit the format or encoding asked for. The code is part of what users see:
/// the manager writes it into the SecretSync condition message (`rpc error: code = NotFound desc = failed to
/// mount objects, …`), and the tests pin the text and the code.
impl From<MountError> for Status {
    fn from(error: MountError) -> Self {
        let code = match &error {
            // The request or the SecretProviderClass must change.
            MountError::Unmarshal(_) | MountError::Parameters(_) => Code::InvalidArgument,
            // No credential or client can be made from the tenant, client and vault given.
            MountError::Credential(_) => Code::InvalidArgument,
            // What the vault (or Entra) answered.
            MountError::List { error, .. } | MountError::Get { error, .. } => key_vault_code(error),
            // The stored value does not suit the format or encoding asked for (not INTERNAL, which would
            // point at the provider).
            MountError::Transform { .. } => Code::FailedPrecondition,
        };
        Status::new(code, error.to_string())
    }
}

/// The gRPC code for a Key Vault or Entra failure.
fn key_vault_code(error: &KeyVaultError) -> Code {
    match error {
        KeyVaultError::Status { status, .. } => match status {
            404 => Code::NotFound,
            401 => Code::Unauthenticated,
            403 => Code::PermissionDenied,
            408 => Code::DeadlineExceeded,
            429 => Code::ResourceExhausted,
            400..=499 => Code::FailedPrecondition,
            500..=599 => Code::Unavailable,
            _ => Code::Unknown,
        },
        KeyVaultError::Credential { .. } => Code::Unauthenticated,
        KeyVaultError::Unreachable { .. } | KeyVaultError::ShuttingDown => Code::Unavailable,
        KeyVaultError::Other { .. } => Code::Unknown,
    }
}

#[cfg(test)]
mod tests;

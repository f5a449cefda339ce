//! The `v1alpha1.CSIDriverProvider` service: validate, delegate to [`Mounter`], map errors.
//!
//! Failures are returned the way the upstream provider returns them, as gRPC status `UNKNOWN` with the
//! upstream text (`failed to mount objects, error: …`), so callers that parse them keep working. The text
//! never contains a secret value or a token.

use std::sync::Arc;
use std::time::Instant;

use provider_proto::v1alpha1::csi_driver_provider_server::CsiDriverProvider;
use provider_proto::v1alpha1::{MountRequest, MountResponse, VersionRequest, VersionResponse};
use tonic::{Request, Response, Status};

use crate::metrics::Metrics;
use crate::mount::Mounter;

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
        let started = Instant::now();
        let result = self.mounter.mount(request.get_ref()).await;
        let code = if result.is_ok() {
            tonic::Code::Ok
        } else {
            tonic::Code::Unknown
        };
        self.metrics
            .grpc_request("/v1alpha1.CSIDriverProvider/Mount", code, started.elapsed());
        match result {
            Ok(response) => {
                tracing::info!(
                    files = response.files.len(),
                    took_ms = started.elapsed().as_millis() as u64,
                    "mount succeeded"
                );
                Ok(Response::new(response))
            }
            Err(error) => {
                tracing::warn!(%error, "failed to process mount request");
                Err(Status::unknown(error.to_string()))
            }
        }
    }
}

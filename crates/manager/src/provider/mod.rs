//! Calling providers over the `v1alpha1.CSIDriverProvider` contract (docs/PROVIDER.md#the-provider-contract).
//!
//! One lazily connected channel per provider, to `<providers-dir>/<provider>.sock`, with mutual TLS unless
//! the provider is explicitly configured as plaintext (third-party providers). Every Mount has a deadline
//! and Mount calls in flight are bounded process-wide, so a slow or dead provider cannot pin every worker.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use provider_proto::ssers::FingerprintsRequest;
use provider_proto::ssers::change_detection_client::ChangeDetectionClient;
use provider_proto::v1alpha1::MountRequest;
use provider_proto::v1alpha1::csi_driver_provider_client::CsiDriverProviderClient;
use sse_api::consts;
use sse_tls::ClientTls;
use tokio::sync::Semaphore;
use tonic::transport::Channel;

pub use self::contract::{Changed, Files, Fingerprint, Mounted, attributes, interpret, split_objects};
pub use self::error::ProviderError;
pub use self::recovery::{PROBE_EVERY, ProviderHealth};

mod contract;
mod error;
mod recovery;

/// Longest wait to connect to a provider socket.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How much longer than the gRPC deadline the manager waits for a Mount answer before giving up itself.
const DEADLINE_SLACK: Duration = Duration::from_secs(1);
/// After a provider answered that it does not serve change detection, how long before asking again (it may
/// have been upgraded).
const UNSUPPORTED_RETRY: Duration = Duration::from_secs(600);

/// How to reach providers.
#[derive(Clone)]
pub struct ProviderConfig {
    /// Directory of `<provider>.sock` files.
    pub dir: PathBuf,
    /// Client TLS material; `None` means only plaintext providers can be used.
    pub tls: Option<ClientTls>,
    /// Providers reached without TLS.
    pub plaintext: HashSet<String>,
    /// Deadline of one Mount.
    pub mount_timeout: Duration,
    /// Largest accepted response.
    pub max_recv_bytes: usize,
    /// Mount calls in flight at once.
    pub max_concurrent: usize,
}

/// Cached provider clients.
pub struct ProviderClients {
    config: ProviderConfig,
    channels: Mutex<HashMap<String, Channel>>,
    limiter: Semaphore,
    /// Providers that answered UNIMPLEMENTED to change detection, and when.
    unsupported: Mutex<HashMap<String, std::time::Instant>>,
    /// Which providers could not be reached ([`recovery`]).
    health: ProviderHealth,
}

impl ProviderClients {
    /// Clients per `config`.
    pub fn new(config: ProviderConfig) -> Self {
        let limiter = Semaphore::new(config.max_concurrent.max(1));
        Self {
            config,
            channels: Mutex::new(HashMap::new()),
            limiter,
            unsupported: Mutex::new(HashMap::new()),
            health: ProviderHealth::default(),
        }
    }

    /// The largest answer accepted from a provider (`--max-call-recv-msg-size`): also the most one sync may
    /// hold of several Mounts' answers together.
    pub fn max_recv_bytes(&self) -> usize {
        self.config.max_recv_bytes
    }

    /// Which providers could not be reached, and when one is back.
    pub fn health(&self) -> &ProviderHealth {
        &self.health
    }

    pub(crate) fn channel(&self, provider: &str) -> Result<Channel, ProviderError> {
        if !consts::is_valid_provider_name(provider) || provider.is_empty() {
            return Err(ProviderError::InvalidName(provider.to_string()));
        }
        let path = self
            .config
            .dir
            .join(format!("{provider}{}", consts::PROVIDER_SOCKET_SUFFIX));
        if !path.exists() {
            return Err(ProviderError::NotFound(provider.to_string()));
        }
        let mut channels = self
            .channels
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(channel) = channels.get(provider) {
            return Ok(channel.clone());
        }
        let tls = if self.config.plaintext.contains(provider) {
            None
        } else {
            Some(
                self.config
                    .tls
                    .clone()
                    .ok_or_else(|| ProviderError::NoClientCertificate(provider.to_string()))?,
            )
        };
        let channel = sse_tls::unix_channel(path, tls, CONNECT_TIMEOUT);
        channels.insert(provider.to_string(), channel.clone());
        Ok(channel)
    }

    /// Re-read the client TLS files every `interval` (cert-manager rotates them) until `shutdown`.
    pub fn spawn_tls_reload(&self, interval: Duration, shutdown: tokio_util::sync::CancellationToken) {
        if let Some(tls) = &self.config.tls {
            tls.reloader().spawn_polling(interval, shutdown.cancelled_owned());
        }
    }

    /// Call Mount with the fixed values of docs/PROVIDER.md#mount-request and interpret the response per
    /// docs/PROVIDER.md#interpreting-the-answer.
    pub async fn mount(&self, provider: &str, attributes: String) -> Result<Mounted, ProviderError> {
        let answer = self
            .call(provider, |channel, max_recv| async move {
                let mut request = tonic::Request::new(MountRequest {
                    attributes,
                    secrets: consts::MOUNT_SECRETS.into(),
                    target_path: consts::MOUNT_TARGET_PATH.into(),
                    permission: consts::MOUNT_PERMISSION.into(),
                    current_object_version: vec![],
                });
                request.set_timeout(self.config.mount_timeout);
                CsiDriverProviderClient::new(channel)
                    .max_decoding_message_size(max_recv)
                    .mount(request)
                    .await
            })
            .await;
        if let Err(ProviderError::Rpc {
            code: tonic::Code::ResourceExhausted,
            ..
        }) = &answer
        {
            tracing::error!(
                provider,
                "Set --max-call-recv-msg-size to configure larger maximum size in bytes of gRPC response from plugins"
            );
        }
        interpret(answer?)
    }

    /// Ask the provider's optional change-detection service (`ssers.v1alpha1.ChangeDetection`) for the
    /// fingerprint of what a Mount with `attributes` would return, from metadata read after `not_before`.
    /// `None` when the provider does not serve it (any third-party provider: remembered for a while) or the
    /// call failed — the caller then mounts, which reports any real failure. Never reads a secret value.
    pub async fn fingerprint(
        &self,
        provider: &str,
        attributes: String,
        not_before: std::time::SystemTime,
        changed: Option<&Changed>,
    ) -> Option<Fingerprint> {
        let unsupported_since = self
            .unsupported
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(provider)
            .copied();
        if unsupported_since.is_some_and(|at| at.elapsed() < UNSUPPORTED_RETRY) {
            return None;
        }
        let unix_millis = |at: std::time::SystemTime| {
            at.duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        };
        let not_before_unix_millis = unix_millis(not_before);
        // A read that started in the very millisecond the news arrived started after it: the instant sent
        // is one millisecond earlier (the provider takes reads strictly after it).
        let (changed, changed_after_unix_millis) = changed
            .map(|c| (c.ids.clone(), unix_millis(c.after).saturating_sub(1)))
            .unwrap_or_default();
        let answer = self
            .call(provider, |channel, max_recv| async move {
                let mut request = tonic::Request::new(FingerprintsRequest {
                    attributes,
                    secrets: consts::MOUNT_SECRETS.into(),
                    not_before_unix_millis,
                    changed,
                    changed_after_unix_millis,
                });
                request.set_timeout(self.config.mount_timeout);
                ChangeDetectionClient::new(channel)
                    .max_decoding_message_size(max_recv)
                    .fingerprints(request)
                    .await
            })
            .await;
        match answer {
            Ok(response) => Some(contract::digest(&response)),
            Err(ProviderError::Rpc {
                code: tonic::Code::Unimplemented,
                ..
            }) => {
                tracing::info!(
                    provider,
                    "the provider does not serve change detection: every check mounts"
                );
                self.unsupported
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .insert(provider.to_string(), std::time::Instant::now());
                None
            }
            Err(error) => {
                tracing::debug!(provider, %error, "change detection failed: mounting");
                None
            }
        }
    }

    /// One call to `provider`: its channel, a permit of the process-wide limit (`--max-concurrent-mounts`),
    /// and a local deadline of `--mount-timeout` plus [`DEADLINE_SLACK`] on top of the gRPC one the request
    /// carries. `call` gets the channel and the largest accepted response.
    async fn call<T, F, Fut>(&self, provider: &str, call: F) -> Result<T, ProviderError>
    where
        F: FnOnce(Channel, usize) -> Fut,
        Fut: std::future::Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        let result = self.call_once(provider, call).await;
        self.health.record(provider, &result);
        result
    }

    async fn call_once<T, F, Fut>(&self, provider: &str, call: F) -> Result<T, ProviderError>
    where
        F: FnOnce(Channel, usize) -> Fut,
        Fut: std::future::Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        let channel = self.channel(provider)?;
        let _permit = self.limiter.acquire().await.map_err(|_| ProviderError::Rpc {
            code: tonic::Code::Cancelled,
            message: "the manager is shutting down".into(),
        })?;
        tokio::time::timeout(
            self.config.mount_timeout + DEADLINE_SLACK,
            call(channel, self.config.max_recv_bytes),
        )
        .await
        .map_err(|_| ProviderError::Rpc {
            code: tonic::Code::DeadlineExceeded,
            message: format!("no answer within {:?}", self.config.mount_timeout),
        })?
        .map(tonic::Response::into_inner)
        .map_err(ProviderError::from)
    }
}

impl ProviderClients {
    /// Clients configured by the shared provider flags (`max_concurrent` Mounts in flight).
    pub fn from_args(args: &crate::args::ProviderArgs, max_concurrent: usize) -> anyhow::Result<Self> {
        let tls = match (
            &args.provider_tls_cert_file,
            &args.provider_tls_key_file,
            &args.provider_tls_ca_file,
        ) {
            (Some(cert), Some(key), Some(ca)) => Some(
                sse_tls::ClientTls::load(&sse_tls::TlsFiles {
                    cert: cert.clone(),
                    key: key.clone(),
                    ca: ca.clone(),
                })
                .context("load provider client TLS files")?,
            ),
            _ => None,
        };
        Ok(Self::new(ProviderConfig {
            dir: args.provider_volume.clone(),
            tls,
            plaintext: args
                .plaintext_providers
                .iter()
                .map(|p| p.trim().to_string())
                .collect::<HashSet<_>>(),
            mount_timeout: args.mount_timeout,
            max_recv_bytes: args.max_call_recv_msg_size,
            max_concurrent,
        }))
    }
}

/// Shared handle.
pub type SharedProviders = Arc<ProviderClients>;

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn socket_discovery() {
        let dir = tempfile::tempdir().unwrap();
        let clients = ProviderClients::new(ProviderConfig {
            dir: dir.path().to_path_buf(),
            tls: None,
            plaintext: HashSet::new(),
            mount_timeout: Duration::from_secs(1),
            max_recv_bytes: 1024,
            max_concurrent: 1,
        });
        assert_eq!(
            clients.mount("bad/name", "{}".into()).await.unwrap_err(),
            ProviderError::InvalidName("bad/name".into())
        );
        assert_eq!(
            clients.mount("nosuch", "{}".into()).await.unwrap_err(),
            ProviderError::NotFound("nosuch".into())
        );
        std::fs::write(dir.path().join("azure.sock"), b"").unwrap();
        assert_eq!(
            clients.mount("azure", "{}".into()).await.unwrap_err(),
            ProviderError::NoClientCertificate("azure".into())
        );
    }
}

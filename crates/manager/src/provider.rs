//! Calling providers over the `v1alpha1.CSIDriverProvider` contract (SPEC §2).
//!
//! One lazily connected channel per provider, to `<providers-dir>/<provider>.sock`, with mutual TLS unless
//! the provider is explicitly configured as plaintext (third-party providers). Every Mount has a deadline
//! and Mount calls in flight are bounded process-wide, so a slow or dead provider cannot pin every worker.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use provider_proto::contract::{Objects, attributes};
use provider_proto::ssers::FingerprintsRequest;
use provider_proto::ssers::change_detection_client::ChangeDetectionClient;
use provider_proto::v1alpha1::MountRequest;
use provider_proto::v1alpha1::csi_driver_provider_client::CsiDriverProviderClient;
use sse_api::consts;
use sse_tls::ClientTls;
use tokio::sync::Semaphore;
use tonic::transport::Channel;

/// Longest wait to connect to a provider socket.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How much longer than the gRPC deadline the manager waits for a Mount answer before giving up itself.
const DEADLINE_SLACK: Duration = Duration::from_secs(1);
/// After a provider answered that it does not serve change detection, how long before asking again (it may
/// have been upgraded).
const UNSUPPORTED_RETRY: Duration = Duration::from_secs(600);

/// What a provider's change-detection service answered for one SecretSync's objects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fingerprint {
    /// A digest of every object's fingerprint; `None` when one of them was unknown (the caller must Mount).
    pub digest: Option<[u8; 16]>,
    /// When the metadata behind it was read (provider clock).
    pub observed_at: std::time::SystemTime,
    /// The objects' validity dates, from the same metadata (every object, dated or not).
    pub validity: Vec<crate::expiry::Dates>,
    /// The objects' Key Vault tags, from the same metadata, in the request's order.
    pub tags: crate::tags::ObjectTags,
}

/// Provider files: `path → contents`.
pub type Files = HashMap<String, Vec<u8>>;

/// What a Mount returned: the files, and the object versions (`id → version`), which identify the content
/// without revealing it.
#[derive(Default)]
pub struct Mounted {
    /// `path → contents`.
    pub files: Files,
    /// `object id → version`.
    pub versions: BTreeMap<String, String>,
}

impl fmt::Debug for Mounted {
    // File contents are secret: only paths and versions.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mounted")
            .field("paths", &self.files.keys().collect::<Vec<_>>())
            .field("versions", &self.versions)
            .finish()
    }
}

/// Why a provider call failed. `Display` is the text recorded in conditions (never secret values).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    /// The SecretProviderClass names a provider that is not a valid socket name.
    #[error("invalid provider: provider {0:?}")]
    InvalidName(String),
    /// No socket for that provider.
    #[error("provider not found: provider {0:?}")]
    NotFound(String),
    /// The provider requires mutual TLS and no client certificate is configured.
    #[error(
        "provider {0:?} requires mutual TLS but the manager has no client certificate (set --provider-tls-cert-file, or list it in --plaintext-providers)"
    )]
    NoClientCertificate(String),
    /// The gRPC call failed.
    #[error("rpc error: code = {} desc = {message}", code_name(*code))]
    Rpc {
        /// gRPC status code.
        code: tonic::Code,
        /// The provider's message.
        message: String,
    },
    /// The provider answered with `error.code`.
    #[error("mount request failed with provider error code {0}")]
    ErrorCode(String),
    /// The provider answered without object versions.
    #[error("missing object versions")]
    MissingObjectVersions,
}

impl ProviderError {
    /// The provider refused the request as it stands (gRPC `INVALID_ARGUMENT`: bad parameters;
    /// `FAILED_PRECONDITION`: the stored value does not fit the format asked for): the SecretProviderClass
    /// or the vault must change, so retrying soon cannot help.
    pub fn is_rejected(&self) -> bool {
        matches!(
            self,
            Self::Rpc {
                code: tonic::Code::InvalidArgument | tonic::Code::FailedPrecondition,
                ..
            }
        )
    }

    /// Whether the SecretProviderClass is at fault (as opposed to the provider or the backend).
    pub fn is_configuration(&self) -> bool {
        matches!(
            self,
            Self::InvalidName(_) | Self::NotFound(_) | Self::NoClientCertificate(_)
        )
    }
}

/// gRPC-Go's spelling of a code, as in `rpc error: code = Unknown desc = …`.
fn code_name(code: tonic::Code) -> &'static str {
    use tonic::Code::*;
    match code {
        Ok => "OK",
        Cancelled => "Canceled",
        Unknown => "Unknown",
        InvalidArgument => "InvalidArgument",
        DeadlineExceeded => "DeadlineExceeded",
        NotFound => "NotFound",
        AlreadyExists => "AlreadyExists",
        PermissionDenied => "PermissionDenied",
        ResourceExhausted => "ResourceExhausted",
        FailedPrecondition => "FailedPrecondition",
        Aborted => "Aborted",
        OutOfRange => "OutOfRange",
        Unimplemented => "Unimplemented",
        Internal => "Internal",
        Unavailable => "Unavailable",
        DataLoss => "DataLoss",
        Unauthenticated => "Unauthenticated",
    }
}

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
    /// Which providers could not be reached ([`crate::recovery`]).
    health: crate::recovery::ProviderHealth,
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
            health: crate::recovery::ProviderHealth::default(),
        }
    }

    /// The largest answer accepted from a provider (`--max-call-recv-msg-size`): also the most one sync may
    /// hold of several Mounts' answers together.
    pub fn max_recv_bytes(&self) -> usize {
        self.config.max_recv_bytes
    }

    /// Which providers could not be reached, and when one is back.
    pub fn health(&self) -> &crate::recovery::ProviderHealth {
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

    /// Call Mount with the fixed values of SPEC §2.4 and interpret the response per §2.6.
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
        let not_before_unix_millis = not_before
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        let answer = self
            .call(provider, |channel, max_recv| async move {
                let mut request = tonic::Request::new(FingerprintsRequest {
                    attributes,
                    secrets: consts::MOUNT_SECRETS.into(),
                    not_before_unix_millis,
                });
                request.set_timeout(self.config.mount_timeout);
                ChangeDetectionClient::new(channel)
                    .max_decoding_message_size(max_recv)
                    .fingerprints(request)
                    .await
            })
            .await;
        match answer {
            Ok(response) => Some(digest(&response)),
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

impl From<tonic::Status> for ProviderError {
    /// The provider's gRPC answer, as it sent it.
    fn from(status: tonic::Status) -> Self {
        Self::Rpc {
            code: status.code(),
            message: status.message().to_string(),
        }
    }
}

/// The digest of a fingerprints answer: `None` as soon as one object has no fingerprint.
fn digest(response: &provider_proto::ssers::FingerprintsResponse) -> Fingerprint {
    use sha2::{Digest as _, Sha256};
    let mut hasher = Sha256::new();
    let mut known = !response.objects.is_empty();
    for object in &response.objects {
        known &= !object.fingerprint.is_empty();
        for part in [&object.id, &object.fingerprint] {
            hasher.update((part.len() as u64).to_be_bytes());
            hasher.update(part.as_bytes());
        }
    }
    let full = hasher.finalize();
    let mut digest = [0u8; 16];
    digest.copy_from_slice(&full[..16]);
    let date = |seconds: i64| {
        u64::try_from(seconds)
            .ok()
            .filter(|s| *s > 0)
            .map(|s| std::time::UNIX_EPOCH + Duration::from_secs(s))
    };
    Fingerprint {
        digest: known.then_some(digest),
        observed_at: std::time::UNIX_EPOCH + Duration::from_millis(response.observed_at_unix_millis),
        validity: response
            .objects
            .iter()
            .map(|object| crate::expiry::Dates {
                object: object.id.clone(),
                not_before: date(object.not_before_unix_seconds),
                expires: date(object.expires_unix_seconds),
            })
            .collect(),
        tags: response
            .objects
            .iter()
            .map(|object| {
                (
                    object.id.clone(),
                    object.tags.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
                )
            })
            .collect(),
    }
}

/// SPEC §2.6: an error code or missing object versions is a failure; later duplicates of a path win.
pub fn interpret(response: provider_proto::v1alpha1::MountResponse) -> Result<Mounted, ProviderError> {
    if let Some(error) = response.error.filter(|e| !e.code.is_empty()) {
        return Err(ProviderError::ErrorCode(error.code));
    }
    if response.object_version.is_empty() {
        return Err(ProviderError::MissingObjectVersions);
    }
    Ok(Mounted {
        files: response.files.into_iter().map(|f| (f.path, f.contents)).collect(),
        versions: response
            .object_version
            .into_iter()
            .map(|v| (v.id, v.version))
            .collect(),
    })
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

/// The Mount `attributes` (SPEC §2.4): SPC parameters, then the pod attributes, then the tokens.
pub fn attributes(
    parameters: &BTreeMap<String, String>,
    pod_name: &str,
    pod_uid: &str,
    namespace: &str,
    service_account: &str,
    tokens: Option<&str>,
) -> String {
    // Pod and token attributes come from the manager only: a SecretProviderClass author must not be able
    // to inject `csi.storage.k8s.io/serviceAccount.tokens` (or another pod's identity) through parameters.
    let mut attrs: BTreeMap<&str, &str> = parameters
        .iter()
        .filter(|(k, _)| !k.starts_with(attributes::RESERVED_PREFIX))
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    attrs.insert(attributes::POD_NAME, pod_name);
    attrs.insert(attributes::POD_UID, pod_uid);
    attrs.insert(attributes::POD_NAMESPACE, namespace);
    attrs.insert(attributes::SERVICE_ACCOUNT_NAME, service_account);
    if let Some(tokens) = tokens {
        attrs.insert(attributes::SERVICE_ACCOUNT_TOKENS, tokens);
    }
    // A map of strings always serialises.
    serde_json::to_string(&attrs).unwrap_or_default()
}

/// For partial sync: the SPC parameters split into one parameter set per `objects` entry, when the
/// provider uses the `objects` array convention (`array:` of YAML strings). `None` otherwise.
pub fn split_objects(parameters: &BTreeMap<String, String>) -> Option<Vec<BTreeMap<String, String>>> {
    let objects = Objects::parse(parameters.get(attributes::OBJECTS)?).ok()?;
    if objects.array.len() < 2 {
        return None;
    }
    Some(
        objects
            .split()
            .iter()
            .map(|single| {
                let mut parameters = parameters.clone();
                parameters.insert(attributes::OBJECTS.into(), single.to_yaml());
                parameters
            })
            .collect(),
    )
}

/// Shared handle.
pub type SharedProviders = Arc<ProviderClients>;

#[cfg(test)]
mod tests {
    use super::*;
    use provider_proto::v1alpha1::{File, MountResponse, ObjectVersion};

    #[test]
    fn attribute_precedence() {
        let params = BTreeMap::from([
            ("keyvaultName".to_string(), "kv".to_string()),
            (attributes::POD_NAME.to_string(), "spoofed".to_string()),
        ]);
        let json = attributes(&params, "sse-pod", "uid", "app", "app-sa", Some("{\"aud\":{}}"));
        let map: BTreeMap<String, String> = serde_json::from_str(&json).unwrap();
        assert_eq!(map[attributes::POD_NAME], "sse-pod");
        assert_eq!(map[attributes::POD_NAMESPACE], "app");
        assert_eq!(map[attributes::SERVICE_ACCOUNT_NAME], "app-sa");
        assert_eq!(map[attributes::SERVICE_ACCOUNT_TOKENS], "{\"aud\":{}}");
        assert_eq!(map["keyvaultName"], "kv");
        let without = attributes(&BTreeMap::new(), "p", "u", "n", "s", None);
        assert!(
            !without.contains(attributes::SERVICE_ACCOUNT_TOKENS),
            "no audience, no token attribute"
        );
    }

    #[test]
    fn response_interpretation() {
        let file = |p: &str, c: &str| File {
            path: p.into(),
            mode: 420,
            contents: c.into(),
        };
        let version = ObjectVersion {
            id: "secret/a".into(),
            version: "1".into(),
        };
        let ok = MountResponse {
            object_version: vec![version.clone()],
            error: None,
            files: vec![file("a", "1"), file("a", "2")],
        };
        let mounted = interpret(ok).unwrap();
        assert_eq!(mounted.files["a"], b"2", "later duplicates win");
        assert_eq!(mounted.versions["secret/a"], "1");
        assert!(!format!("{mounted:?}").contains('2'), "no contents in Debug");
        let coded = MountResponse {
            object_version: vec![version],
            error: Some(provider_proto::v1alpha1::Error { code: "Boom".into() }),
            files: vec![],
        };
        assert_eq!(
            interpret(coded).unwrap_err().to_string(),
            "mount request failed with provider error code Boom"
        );
        assert_eq!(
            interpret(MountResponse::default()).unwrap_err().to_string(),
            "missing object versions"
        );
    }

    #[test]
    fn error_texts() {
        assert_eq!(
            ProviderError::NotFound("nosuch".into()).to_string(),
            "provider not found: provider \"nosuch\""
        );
        assert_eq!(
            ProviderError::Rpc {
                code: tonic::Code::Unknown,
                message: "failed to mount objects, error: x".into()
            }
            .to_string(),
            "rpc error: code = Unknown desc = failed to mount objects, error: x"
        );
    }

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

    #[test]
    fn objects_are_split_for_partial_sync() {
        let params = BTreeMap::from([
            ("keyvaultName".to_string(), "kv".to_string()),
            (
                "objects".to_string(),
                "array:\n  - |\n    objectName: a\n    objectType: secret\n  - |\n    objectName: b\n    objectType: secret\n".to_string(),
            ),
        ]);
        let split = split_objects(&params).unwrap();
        assert_eq!(split.len(), 2);
        assert!(
            split[1]["objects"].contains("objectName: b") && !split[1]["objects"].contains("objectName: a")
        );
        assert_eq!(split[0]["keyvaultName"], "kv");
        assert!(split_objects(&BTreeMap::new()).is_none());
    }
}

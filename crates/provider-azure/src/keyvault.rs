//! Key Vault access through the official SDK clients, made economical.
//!
//! Key Vault bills and throttles per request, so this module:
//! * keeps one set of SDK clients per (vault, identity), so the bearer challenge and the Entra exchange
//!   happen once per client, not once per Mount;
//! * lets the first request of a new client go alone (the *priming gate*): concurrent first requests would
//!   each run the 401 challenge and each ask Entra for a token;
//! * coalesces identical in-flight requests (same identity, vault, object, version) into one;
//! * bounds the number of requests in flight process-wide;
//! * retries 408/429/5xx with exponential backoff honouring `Retry-After` (the SDK's retry policy, whose
//!   bounds are set in [`KeyVaultConfig`]); the caller's deadline cancels everything beyond it.
//!
//! Fetched values are returned as they come from Key Vault; [`crate::content`] turns them into files.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::hash::Hash;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use azure_core::credentials::TokenCredential;
use azure_core::http::{ClientOptions, ExponentialRetryOptions, RetryOptions, Transport};
use azure_security_keyvault_certificates::{CertificateClient, CertificateClientOptions};
use azure_security_keyvault_keys::{KeyClient, KeyClientOptions};
use azure_security_keyvault_secrets::{SecretClient, SecretClientOptions};
use futures::TryStreamExt;
use futures::future::{BoxFuture, FutureExt, Shared};
use tokio::sync::Semaphore;

use crate::auth::{Credentials, IdentityKey};
use crate::cloud::Cloud;
use crate::metrics::Metrics;
use crate::params::{Identity, ObjectType};

/// Tuning of the Key Vault client.
#[derive(Clone, Debug)]
pub struct KeyVaultConfig {
    /// Requests to Key Vault (and Entra) in flight at once, process-wide.
    pub max_in_flight: usize,
    /// Retries of a throttled or failed request.
    pub max_retries: u32,
    /// First retry delay; doubles per retry (with jitter), at least `Retry-After`.
    pub initial_retry_delay: Duration,
    /// Longest single retry delay.
    pub max_retry_delay: Duration,
    /// Identities (credentials) and vault clients kept.
    pub max_cached_identities: usize,
    /// Extra trusted root CAs (PEM) for Key Vault and Entra: Azure Stack Hub private CAs, the emulator.
    pub extra_roots_pem: Option<Vec<u8>>,
}

impl Default for KeyVaultConfig {
    fn default() -> Self {
        Self {
            max_in_flight: 64,
            max_retries: 4,
            initial_retry_delay: Duration::from_millis(500),
            max_retry_delay: Duration::from_secs(8),
            max_cached_identities: 1024,
            extra_roots_pem: None,
        }
    }
}

/// A Key Vault or Entra failure, rendered once (it is shared between coalesced callers). `Display` is the
/// text: operation, URL, HTTP status, Key Vault error code, the service's message (never a secret value).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum KeyVaultError {
    /// Key Vault (or Entra, through the SDK) answered with an error status.
    #[error("{message}")]
    Status {
        /// The HTTP status.
        status: u16,
        /// The rendered text.
        message: String,
    },
    /// No token for the identity: Entra refused it (the `AADSTS…` text is kept) or could not be asked.
    #[error("{message}")]
    Credential {
        /// The rendered text.
        message: String,
    },
    /// Key Vault or Entra could not be reached: connection, DNS, TLS, I/O.
    #[error("{message}")]
    Unreachable {
        /// The rendered text.
        message: String,
    },
    /// Anything else the SDK reports, such as an answer without the value asked for.
    #[error("{message}")]
    Other {
        /// The rendered text.
        message: String,
    },
    /// The provider is shutting down.
    #[error("the provider is shutting down")]
    ShuttingDown,
}

/// The HTTP client for Key Vault and Entra could not be built (an unusable `--keyvault-ca-file`).
#[derive(Debug, thiserror::Error)]
#[error("failed to build the HTTP client: {0}")]
pub struct HttpClientError(reqwest::Error);

/// A secret value as returned by Key Vault. `Debug` never shows it.
#[derive(Clone)]
pub struct SecretValue(pub String);

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretValue(<redacted>)")
    }
}

/// One object version as fetched.
#[derive(Clone, Debug)]
pub enum Fetched {
    /// `GET /secrets/{name}/{version}`
    Secret {
        /// The value.
        value: SecretValue,
        /// `contentType`.
        content_type: Option<String>,
        /// Whether the secret backs a certificate (`kid` set).
        certificate_backed: bool,
        /// Concrete version id.
        version: String,
    },
    /// `GET /keys/{name}/{version}` (public members only).
    Key {
        /// `kty`.
        kty: String,
        /// `crv`.
        crv: Option<String>,
        /// RSA modulus.
        n: Option<Vec<u8>>,
        /// RSA exponent.
        e: Option<Vec<u8>>,
        /// EC x.
        x: Option<Vec<u8>>,
        /// EC y.
        y: Option<Vec<u8>>,
        /// Concrete version id.
        version: String,
    },
    /// `GET /certificates/{name}/{version}`.
    Certificate {
        /// DER of the leaf certificate.
        der: Vec<u8>,
        /// Concrete version id.
        version: String,
    },
}

/// An enabled version from a versions listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VersionItem {
    /// Version id.
    pub version: String,
    /// Creation time, Unix seconds (0 when absent).
    pub created: i64,
}

/// What a request is about, for coalescing.
#[derive(Clone, Hash, PartialEq, Eq, Debug)]
struct RequestKey {
    identity: IdentityKey,
    vault: String,
    object_type: ObjectType,
    name: String,
    /// `Some(version)` for a get (`""` = latest), `None` for a versions listing.
    version: Option<String>,
}

/// SDK clients for one vault and one identity.
struct VaultClients {
    secrets: SecretClient,
    keys: KeyClient,
    certificates: CertificateClient,
    primed: AtomicBool,
    prime_lock: tokio::sync::Mutex<()>,
    last_used: std::sync::Mutex<Instant>,
}

/// A vault and an identity, resolved for one Mount.
#[derive(Clone)]
pub struct VaultHandle {
    identity: IdentityKey,
    vault_url: String,
    clients: Arc<VaultClients>,
}

type Shared_<T> = Shared<BoxFuture<'static, Result<Arc<T>, KeyVaultError>>>;

/// Key Vault access shared by all Mounts.
pub struct KeyVault {
    client_options: ClientOptions,
    credentials: Credentials,
    clients: std::sync::Mutex<HashMap<(String, IdentityKey), Arc<VaultClients>>>,
    max_clients: usize,
    gets: Coalescer<RequestKey, Fetched>,
    lists: Coalescer<RequestKey, Vec<VersionItem>>,
    limiter: Arc<Semaphore>,
    metrics: Metrics,
}

impl KeyVault {
    /// Build the HTTP transport and caches.
    pub fn new(config: &KeyVaultConfig, metrics: Metrics) -> Result<Self, HttpClientError> {
        let http = crate::http::client(config.extra_roots_pem.as_deref()).map_err(HttpClientError)?;
        let client_options = ClientOptions {
            transport: Some(Transport::new(Arc::new(http))),
            retry: RetryOptions::exponential(ExponentialRetryOptions {
                initial_delay: config.initial_retry_delay.try_into().unwrap_or_default(),
                max_retries: config.max_retries,
                max_delay: config.max_retry_delay.try_into().unwrap_or_default(),
                ..Default::default()
            }),
            ..Default::default()
        };
        Ok(Self {
            credentials: Credentials::new(client_options.clone(), config.max_cached_identities),
            client_options,
            clients: std::sync::Mutex::new(HashMap::new()),
            max_clients: config.max_cached_identities.max(1),
            gets: Coalescer::default(),
            lists: Coalescer::default(),
            limiter: Arc::new(Semaphore::new(config.max_in_flight.max(1))),
            metrics,
        })
    }

    /// Resolve the credential and clients for a vault; fails only on local configuration errors.
    pub fn vault(
        &self,
        vault_url: &str,
        cloud: &Cloud,
        tenant: &str,
        identity: &Identity,
    ) -> Result<VaultHandle, KeyVaultError> {
        let (identity, credential) = self
            .credentials
            .get(cloud, tenant, identity)
            .map_err(|e| render(&e, "create credential", ""))?;
        let key = (vault_url.to_string(), identity.clone());
        let mut clients = self
            .clients
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let vault_clients = match clients.get(&key) {
            Some(c) => {
                *c.last_used
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = Instant::now();
                c.clone()
            }
            None => {
                let c = Arc::new(self.new_clients(vault_url, credential)?);
                if clients.len() >= self.max_clients
                    && let Some(oldest) = clients
                        .iter()
                        .min_by_key(|(_, c)| {
                            *c.last_used
                                .lock()
                                .unwrap_or_else(std::sync::PoisonError::into_inner)
                        })
                        .map(|(k, _)| k.clone())
                {
                    clients.remove(&oldest);
                }
                clients.insert(key, c.clone());
                c
            }
        };
        Ok(VaultHandle {
            identity,
            vault_url: vault_url.to_string(),
            clients: vault_clients,
        })
    }

    fn new_clients(
        &self,
        vault_url: &str,
        credential: Arc<dyn TokenCredential>,
    ) -> Result<VaultClients, KeyVaultError> {
        let client_options = self.client_options.clone();
        let err = |e: azure_core::Error| render(&e, "create Key Vault client", vault_url);
        Ok(VaultClients {
            secrets: SecretClient::new(
                vault_url,
                credential.clone(),
                Some(SecretClientOptions {
                    client_options: client_options.clone(),
                    ..Default::default()
                }),
            )
            .map_err(err)?,
            keys: KeyClient::new(
                vault_url,
                credential.clone(),
                Some(KeyClientOptions {
                    client_options: client_options.clone(),
                    ..Default::default()
                }),
            )
            .map_err(err)?,
            certificates: CertificateClient::new(
                vault_url,
                credential,
                Some(CertificateClientOptions {
                    client_options,
                    ..Default::default()
                }),
            )
            .map_err(err)?,
            primed: AtomicBool::new(false),
            prime_lock: tokio::sync::Mutex::new(()),
            last_used: std::sync::Mutex::new(Instant::now()),
        })
    }

    /// Fetch one version (`""` = latest) of an object.
    pub async fn get(
        &self,
        vault: &VaultHandle,
        object_type: ObjectType,
        name: &str,
        version: &str,
    ) -> Result<Arc<Fetched>, KeyVaultError> {
        let key = RequestKey {
            identity: vault.identity.clone(),
            vault: vault.vault_url.clone(),
            object_type,
            name: name.to_string(),
            version: Some(version.to_string()),
        };
        let (clients, limiter, metrics) = (vault.clients.clone(), self.limiter.clone(), self.metrics.clone());
        let url = format!("{}/{}/{name}/{version}", vault.vault_url, collection(object_type));
        let (name, version) = (name.to_string(), version.to_string());
        self.gets
            .run(key, move || {
                async move {
                    let _permit = limiter
                        .acquire_owned()
                        .await
                        .map_err(|_| KeyVaultError::ShuttingDown)?;
                    let started = Instant::now();
                    let result =
                        primed(&clients, || get_object(&clients, object_type, &name, &version)).await;
                    metrics.keyvault_request(object_type, "get", status_label(&result), started.elapsed());
                    result.map(Arc::new).map_err(|e| render(&e, "GET", &url))
                }
                .boxed()
            })
            .await
    }

    /// List the enabled versions of an object (all pages).
    pub async fn list_versions(
        &self,
        vault: &VaultHandle,
        object_type: ObjectType,
        name: &str,
    ) -> Result<Arc<Vec<VersionItem>>, KeyVaultError> {
        let key = RequestKey {
            identity: vault.identity.clone(),
            vault: vault.vault_url.clone(),
            object_type,
            name: name.to_string(),
            version: None,
        };
        let (clients, limiter, metrics) = (vault.clients.clone(), self.limiter.clone(), self.metrics.clone());
        let url = format!("{}/{}/{name}/versions", vault.vault_url, collection(object_type));
        let name = name.to_string();
        self.lists
            .run(key, move || {
                async move {
                    let _permit = limiter
                        .acquire_owned()
                        .await
                        .map_err(|_| KeyVaultError::ShuttingDown)?;
                    let started = Instant::now();
                    let result = primed(&clients, || list_versions(&clients, object_type, &name)).await;
                    metrics.keyvault_request(object_type, "list", status_label(&result), started.elapsed());
                    result.map(Arc::new).map_err(|e| render(&e, "GET", &url))
                }
                .boxed()
            })
            .await
    }
}

fn collection(object_type: ObjectType) -> &'static str {
    match object_type {
        ObjectType::Secret => "secrets",
        ObjectType::Key => "keys",
        ObjectType::Cert => "certificates",
    }
}

/// Run `op`; while the clients have not yet completed a request, only one such request runs at a time, so
/// the challenge round-trip and the Entra exchange happen once.
async fn primed<T, F, Fut>(clients: &VaultClients, op: F) -> azure_core::Result<T>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = azure_core::Result<T>>,
{
    if clients.primed.load(Ordering::Acquire) {
        return op().await;
    }
    let _gate = clients.prime_lock.lock().await;
    if clients.primed.load(Ordering::Acquire) {
        drop(_gate);
        return op().await;
    }
    let result = op().await;
    if result.is_ok()
        || result
            .as_ref()
            .err()
            .and_then(azure_core::Error::http_status)
            .is_some()
    {
        // Key Vault answered (even with an error such as 404): the token and challenge are in place.
        clients.primed.store(true, Ordering::Release);
    }
    result
}

fn last_segment(id: Option<&str>) -> String {
    id.and_then(|id| id.trim_end_matches('/').rsplit('/').next())
        .unwrap_or_default()
        .to_string()
}

fn nil(what: &str) -> azure_core::Error {
    azure_core::Error::with_message(azure_core::error::ErrorKind::DataConversion, what.to_string())
}

async fn get_object(
    clients: &VaultClients,
    object_type: ObjectType,
    name: &str,
    version: &str,
) -> azure_core::Result<Fetched> {
    let version_opt = (!version.is_empty()).then(|| version.to_string());
    match object_type {
        ObjectType::Secret => {
            let options = azure_security_keyvault_secrets::models::SecretClientGetSecretOptions {
                secret_version: version_opt,
                ..Default::default()
            };
            let secret = clients
                .secrets
                .get_secret(name, Some(options))
                .await?
                .into_model()?;
            let value = secret.value.ok_or_else(|| nil("secret value is nil"))?;
            let id = secret.id.as_deref().ok_or_else(|| nil("secret id is nil"))?;
            Ok(Fetched::Secret {
                version: last_segment(Some(id)),
                value: SecretValue(value),
                content_type: secret.content_type,
                certificate_backed: secret.kid.is_some(),
            })
        }
        ObjectType::Key => {
            let options = azure_security_keyvault_keys::models::KeyClientGetKeyOptions {
                key_version: version_opt,
                ..Default::default()
            };
            let key = clients.keys.get_key(name, Some(options)).await?.into_model()?;
            let jwk = key.key.ok_or_else(|| nil("key value is nil"))?;
            let kid = jwk.kid.as_deref().ok_or_else(|| nil("key id is nil"))?;
            Ok(Fetched::Key {
                version: last_segment(Some(kid)),
                kty: jwk.kty.map(|k| k.to_string()).unwrap_or_default(),
                crv: jwk.crv.map(|c| c.to_string()),
                n: jwk.n,
                e: jwk.e,
                x: jwk.x,
                y: jwk.y,
            })
        }
        ObjectType::Cert => {
            let options =
                azure_security_keyvault_certificates::models::CertificateClientGetCertificateOptions {
                    certificate_version: version_opt,
                    ..Default::default()
                };
            let cert = clients
                .certificates
                .get_certificate(name, Some(options))
                .await?
                .into_model()?;
            let der = cert.cer.ok_or_else(|| nil("certificate value is nil"))?;
            let id = cert.id.as_deref().ok_or_else(|| nil("certificate id is nil"))?;
            Ok(Fetched::Certificate {
                der,
                version: last_segment(Some(id)),
            })
        }
    }
}

async fn list_versions(
    clients: &VaultClients,
    object_type: ObjectType,
    name: &str,
) -> azure_core::Result<Vec<VersionItem>> {
    // Items without attributes, and disabled items, are skipped (SPEC §8.6).
    let items: Vec<VersionItem> = match object_type {
        ObjectType::Secret => clients
            .secrets
            .list_secret_properties_versions(name, None)?
            .try_collect::<Vec<_>>()
            .await?
            .into_iter()
            .filter_map(|p| listed(p.id.as_deref(), p.attributes.map(|a| (a.enabled, a.created))))
            .collect(),
        ObjectType::Key => clients
            .keys
            .list_key_properties_versions(name, None)?
            .try_collect::<Vec<_>>()
            .await?
            .into_iter()
            .filter_map(|p| listed(p.kid.as_deref(), p.attributes.map(|a| (a.enabled, a.created))))
            .collect(),
        ObjectType::Cert => clients
            .certificates
            .list_certificate_properties_versions(name, None)?
            .try_collect::<Vec<_>>()
            .await?
            .into_iter()
            .filter_map(|p| listed(p.id.as_deref(), p.attributes.map(|a| (a.enabled, a.created))))
            .collect(),
    };
    Ok(items)
}

/// A listed version, unless it has no attributes or is disabled (SPEC §8.6); `created` defaults to 0.
fn listed(
    id: Option<&str>,
    attributes: Option<(Option<bool>, Option<time::OffsetDateTime>)>,
) -> Option<VersionItem> {
    let (enabled, created) = attributes?;
    (enabled != Some(false)).then(|| VersionItem {
        version: last_segment(id),
        created: created.map_or(0, time::OffsetDateTime::unix_timestamp),
    })
}

fn status_label<T>(result: &azure_core::Result<T>) -> &'static str {
    match result {
        Ok(_) => "200",
        Err(e) => match e.http_status().map(u16::from) {
            Some(400) => "400",
            Some(401) => "401",
            Some(403) => "403",
            Some(404) => "404",
            Some(409) => "409",
            Some(429) => "429",
            Some(s) if s >= 500 => "5xx",
            Some(_) => "4xx",
            None if matches!(e.kind(), azure_core::error::ErrorKind::Credential) => "credential",
            None => "transport",
        },
    }
}

/// Render an SDK error with what was asked, the status, the Key Vault error code and the service's own
/// message (which never contains secret values). Entra failures keep their `AADSTS…` text verbatim.
fn render(error: &azure_core::Error, operation: &str, url: &str) -> KeyVaultError {
    use azure_core::error::ErrorKind;
    use std::error::Error as _;
    let mut message = String::new();
    if let ErrorKind::HttpResponse {
        status, error_code, ..
    } = error.kind()
    {
        message.push_str(&format!(
            "{operation} {url}: HTTP {} {}",
            u16::from(*status),
            error_code.as_deref().unwrap_or("(no error code)")
        ));
        // Only a structured Key Vault error (JSON body with an error code) is quoted: a non-JSON body (a
        // proxy's page) could echo request headers, the bearer token among them.
        let text = if error_code.is_some() {
            error.to_string()
        } else {
            String::new()
        };
        if !text.is_empty() && !text.starts_with("HttpResponse(") {
            message.push_str(": ");
            message.push_str(&text);
        }
        return KeyVaultError::Status {
            status: u16::from(*status),
            message,
        };
    }
    if !url.is_empty() {
        message.push_str(&format!("{operation} {url}: "));
    }
    message.push_str(&error.to_string());
    let mut source = error.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = s.source();
    }
    match error.kind() {
        ErrorKind::Credential => KeyVaultError::Credential { message },
        ErrorKind::Connection | ErrorKind::Io => KeyVaultError::Unreachable { message },
        _ => KeyVaultError::Other { message },
    }
}

/// Joins identical in-flight requests: the first caller runs the future, later callers with the same key
/// await the same result. Nothing is kept after completion, so no value outlives its request.
pub struct Coalescer<K, V> {
    inflight: std::sync::Mutex<HashMap<K, Shared_<V>>>,
}

impl<K, V> Default for Coalescer<K, V> {
    fn default() -> Self {
        Self {
            inflight: std::sync::Mutex::new(HashMap::new()),
        }
    }
}

impl<K: Hash + Eq + Clone, V: Send + Sync + 'static> Coalescer<K, V> {
    /// Run `make()` unless an identical request is in flight, then share its result.
    pub async fn run(
        &self,
        key: K,
        make: impl FnOnce() -> BoxFuture<'static, Result<Arc<V>, KeyVaultError>>,
    ) -> Result<Arc<V>, KeyVaultError> {
        let shared = {
            let mut inflight = self
                .inflight
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            inflight
                .entry(key.clone())
                .or_insert_with(|| make().shared())
                .clone()
        };
        let guard = Forget {
            coalescer: self,
            key,
            shared: shared.clone(),
        };
        let result = shared.await;
        drop(guard);
        result
    }

    /// Requests in flight (for tests and metrics).
    pub fn len(&self) -> usize {
        self.inflight
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .len()
    }

    /// Whether nothing is in flight.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Removes the in-flight entry when its last waiter finishes or gives up.
struct Forget<'a, K: Hash + Eq, V> {
    coalescer: &'a Coalescer<K, V>,
    key: K,
    shared: Shared_<V>,
}

impl<K: Hash + Eq, V> Drop for Forget<'_, K, V> {
    fn drop(&mut self) {
        let mut inflight = self
            .coalescer
            .inflight
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let ours = inflight.get(&self.key).is_some_and(|s| s.ptr_eq(&self.shared));
        // The map holds one clone and this guard another: nobody else is waiting, or it completed.
        let done = self.shared.peek().is_some() || self.shared.strong_count() <= Some(2);
        if ours && done {
            inflight.remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    #[tokio::test]
    async fn coalescer_runs_identical_requests_once() {
        let coalescer: Coalescer<&str, u32> = Coalescer::default();
        let runs = Arc::new(AtomicUsize::new(0));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let rx = rx.shared();
        let make = |runs: Arc<AtomicUsize>, rx: Shared<tokio::sync::oneshot::Receiver<()>>| {
            move || {
                async move {
                    runs.fetch_add(1, Ordering::SeqCst);
                    let _ = rx.await;
                    Ok(Arc::new(7))
                }
                .boxed()
            }
        };
        let a = coalescer.run("k", make(runs.clone(), rx.clone()));
        let b = coalescer.run("k", make(runs.clone(), rx.clone()));
        let other = coalescer.run("other", make(runs.clone(), rx.clone()));
        let release = async move {
            tokio::task::yield_now().await;
            let _ = tx.send(());
        };
        let (a, b, other, ()) = tokio::join!(a, b, other, release);
        assert_eq!((*a.unwrap(), *b.unwrap(), *other.unwrap()), (7, 7, 7));
        assert_eq!(runs.load(Ordering::SeqCst), 2, "one run for `k`, one for `other`");
        assert!(coalescer.is_empty(), "completed requests are forgotten");
    }

    #[tokio::test]
    async fn coalescer_forgets_abandoned_requests() {
        let coalescer: Coalescer<&str, u32> = Coalescer::default();
        let pending = coalescer.run("k", || futures::future::pending().boxed());
        assert!(
            tokio::time::timeout(Duration::from_millis(1), pending)
                .await
                .is_err()
        );
        assert!(coalescer.is_empty());
    }

    #[test]
    fn failures_are_classified_by_kind() {
        use azure_core::error::ErrorKind;
        let render = |kind| {
            render(
                &azure_core::Error::with_message(kind, "boom"),
                "GET",
                "https://kv/x",
            )
        };
        assert!(matches!(
            render(ErrorKind::Credential),
            KeyVaultError::Credential { .. }
        ));
        assert!(matches!(
            render(ErrorKind::Connection),
            KeyVaultError::Unreachable { .. }
        ));
        assert!(matches!(render(ErrorKind::Io), KeyVaultError::Unreachable { .. }));
        let other = render(ErrorKind::DataConversion);
        assert!(matches!(other, KeyVaultError::Other { .. }));
        assert_eq!(other.to_string(), "GET https://kv/x: boom");
    }

    #[test]
    fn version_ids_are_the_last_path_segment() {
        assert_eq!(
            last_segment(Some("https://v.vault.azure.net/secrets/s/abc123")),
            "abc123"
        );
        assert_eq!(last_segment(Some("https://v.vault.azure.net/keys/k/def/")), "def");
        assert_eq!(last_segment(None), "");
    }

    #[test]
    fn disabled_and_attribute_less_versions_are_dropped() {
        assert_eq!(listed(Some("x/s/v1"), Some((Some(false), None))), None);
        assert_eq!(listed(Some("x/s/v1"), None), None);
        let v = |created| VersionItem {
            version: "v1".into(),
            created,
        };
        assert_eq!(listed(Some("x/s/v1"), Some((None, None))), Some(v(0)));
        let t = time::OffsetDateTime::from_unix_timestamp(42).ok();
        assert_eq!(listed(Some("x/s/v1"), Some((Some(true), t))), Some(v(42)));
    }
}

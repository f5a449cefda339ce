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
//!   bounds are set in [`KeyVaultConfig`]); the caller's deadline cancels everything beyond it;
//! * fails fast, per vault, while a vault is down ([`breaker`]): one broken vault cannot hold the callers
//!   of every other.
//!
//! Fetched values are returned as they come from Key Vault; [`crate::content`] turns them into files.

pub mod breaker;
mod coalesce;
mod errors;
mod fetch;
pub mod pacer;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use azure_core::credentials::TokenCredential;
use azure_core::http::{ClientOptions, ExponentialRetryOptions, RetryOptions, Transport};
use azure_security_keyvault_certificates::{CertificateClient, CertificateClientOptions};
use azure_security_keyvault_keys::{KeyClient, KeyClientOptions};
use azure_security_keyvault_secrets::{SecretClient, SecretClientOptions};
use futures::FutureExt as _;
use tokio::sync::Semaphore;

use crate::auth::{Credentials, IdentityKey};
use crate::cloud::Cloud;
use crate::metrics::Metrics;
use crate::params::{Identity, ObjectType};

pub use self::breaker::{BreakerConfig, Breakers};
pub use self::coalesce::Coalescer;
pub use self::errors::{HttpClientError, KeyVaultError};
pub use self::fetch::{Fetched, Listed, Listing, SecretValue, Tags, Validity, VersionItem};
pub use self::pacer::{Budget, Pacer};

use self::errors::{render, status_label};
use self::fetch::{get_object, list_latest, list_versions};

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
    /// Extra trusted root CAs (PEM) for Key Vault and Entra: Azure Stack Hub private CAs, a TLS-inspecting
    /// proxy's CA, the emulator.
    pub extra_roots_pem: Option<Vec<u8>>,
    /// The outbound proxy, if any.
    pub proxy: Option<sse_runtime::outbound::OutboundProxy>,
    /// When to fail fast against a vault that is down.
    pub breaker: BreakerConfig,
    /// Requests per vault over time (see [`pacer`]).
    pub budget: Budget,
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
            proxy: None,
            breaker: BreakerConfig::default(),
            budget: Budget::default(),
        }
    }
}

/// What a request is about, for coalescing.
#[derive(Clone, Hash, PartialEq, Eq, Debug)]
struct RequestKey {
    identity: IdentityKey,
    vault: String,
    object_type: ObjectType,
    name: String,
    op: Op,
}

/// Which request.
#[derive(Clone, Hash, PartialEq, Eq, Debug)]
enum Op {
    /// `GET /{collection}/{name}/{version}` (`""` = latest).
    Get(String),
    /// `GET /{collection}/{name}/versions`, all pages.
    Versions,
    /// `GET /{collection}`, all pages (the name is empty).
    List,
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

impl VaultHandle {
    /// Who the handle acts as.
    pub fn identity(&self) -> &IdentityKey {
        &self.identity
    }

    /// The vault's URL.
    pub fn url(&self) -> &str {
        &self.vault_url
    }
}

/// Key Vault access shared by all Mounts.
pub struct KeyVault {
    client_options: ClientOptions,
    credentials: Credentials,
    clients: std::sync::Mutex<HashMap<(String, IdentityKey), Arc<VaultClients>>>,
    max_clients: usize,
    gets: Coalescer<RequestKey, Fetched>,
    lists: Coalescer<RequestKey, Vec<VersionItem>>,
    listings: Coalescer<RequestKey, Listing>,
    limiter: Arc<Semaphore>,
    breakers: Arc<Breakers>,
    pacer: Arc<Pacer>,
    metrics: Metrics,
}

impl KeyVault {
    /// Build the HTTP transport and caches.
    pub fn new(config: &KeyVaultConfig, metrics: Metrics) -> Result<Self, HttpClientError> {
        let http = sse_runtime::outbound::client(
            concat!("sse-rs-provider-azure/", env!("CARGO_PKG_VERSION")),
            config.extra_roots_pem.as_deref(),
            config.proxy.as_ref(),
        )
        .map_err(HttpClientError)?;
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
            listings: Coalescer::default(),
            limiter: Arc::new(Semaphore::new(config.max_in_flight.max(1))),
            breakers: Arc::new(Breakers::new(config.breaker.clone())),
            pacer: Arc::new(Pacer::new(config.budget)),
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
        let (name_, version_) = (name.to_string(), version.to_string());
        let get = move |clients: Arc<VaultClients>| async move {
            get_object(&clients, object_type, &name_, &version_).await
        };
        self.request(
            &self.gets,
            vault,
            object_type,
            name,
            Op::Get(version.to_string()),
            get,
        )
        .await
    }

    /// List the enabled versions of an object (all pages).
    pub async fn list_versions(
        &self,
        vault: &VaultHandle,
        object_type: ObjectType,
        name: &str,
    ) -> Result<Arc<Vec<VersionItem>>, KeyVaultError> {
        let name_ = name.to_string();
        let list = move |clients: Arc<VaultClients>| async move {
            list_versions(&clients, object_type, &name_).await
        };
        self.request(&self.lists, vault, object_type, name, Op::Versions, list)
            .await
    }

    /// List every object of one type in the vault (all pages): each one's latest state, no value.
    pub async fn list_latest(
        &self,
        vault: &VaultHandle,
        object_type: ObjectType,
    ) -> Result<Arc<Listing>, KeyVaultError> {
        let list = move |clients: Arc<VaultClients>| async move { list_latest(&clients, object_type).await };
        self.request(&self.listings, vault, object_type, "", Op::List, list)
            .await
    }

    /// One request to Key Vault, as `get`, `list_versions` and `list_latest` make it: joined with an
    /// identical one in flight, within the process-wide limit, through the priming gate, measured, its
    /// failure rendered.
    async fn request<T, F, Fut>(
        &self,
        coalescer: &Coalescer<RequestKey, T>,
        vault: &VaultHandle,
        object_type: ObjectType,
        name: &str,
        which: Op,
        op: F,
    ) -> Result<Arc<T>, KeyVaultError>
    where
        T: Send + Sync + 'static,
        F: FnOnce(Arc<VaultClients>) -> Fut + Send + 'static,
        Fut: Future<Output = azure_core::Result<T>> + Send,
    {
        let key = RequestKey {
            identity: vault.identity.clone(),
            vault: vault.vault_url.clone(),
            object_type,
            name: name.to_string(),
            op: which.clone(),
        };
        let base = format!("{}/{}", vault.vault_url, collection(object_type));
        let (operation, url) = match &which {
            Op::Get(version) => ("get", format!("{base}/{name}/{version}")),
            Op::Versions => ("list", format!("{base}/{name}/versions")),
            Op::List => ("list_all", base),
        };
        if let Err(error) = self.breakers.admit(&vault.vault_url) {
            self.metrics.failed_fast();
            return Err(error);
        }
        let (clients, limiter, metrics) = (vault.clients.clone(), self.limiter.clone(), self.metrics.clone());
        let (breakers, pacer, vault_url) =
            (self.breakers.clone(), self.pacer.clone(), vault.vault_url.clone());
        let budget = budget_key(vault);
        coalescer
            .run(key, move || {
                async move {
                    // Wait for this vault and identity's budget before taking an in-flight slot, once the
                    // identity has a token; until then its requests go one at a time (the priming gate)
                    // and are charged after the vault answered, so one that never gets a token (a bogus
                    // client ID) spends nobody's budget.
                    let paced = clients.primed.load(Ordering::Acquire);
                    if paced {
                        let wait = pacer.reserve(&budget).map_err(|wait| KeyVaultError::Status {
                            status: 429,
                            message: format!(
                                "{operation} {url}: this provider's request budget for the vault is spent for the next {}s (--vault-requests-per-10s)",
                                wait.as_secs()
                            ),
                        })?;
                        metrics.paced(wait);
                        tokio::time::sleep(wait).await;
                    }
                    let _permit = limiter
                        .acquire_owned()
                        .await
                        .map_err(|_| KeyVaultError::ShuttingDown)?;
                    let started = Instant::now();
                    let result = primed(&clients, || op(clients.clone())).await;
                    if !paced && clients.primed.load(Ordering::Acquire) {
                        pacer.charge(&budget);
                    }
                    metrics.keyvault_request(
                        object_type,
                        operation,
                        status_label(&result),
                        started.elapsed(),
                    );
                    let result = result.map(Arc::new).map_err(|e| render(&e, "GET", &url));
                    breakers.record(&vault_url, &result);
                    result
                }
                .boxed()
            })
            .await
    }
}

/// The pacer's key: the vault and the identity asking (a digest of it; the identity holds no secret).
fn budget_key(vault: &VaultHandle) -> String {
    use std::hash::{Hash as _, Hasher as _};
    let mut hasher = std::hash::DefaultHasher::new();
    vault.identity.hash(&mut hasher);
    format!("{} {:016x}", vault.vault_url, hasher.finish())
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

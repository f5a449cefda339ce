//! An Azure Key Vault + Microsoft Entra ID emulator over HTTPS, for tests, benchmarks and the demo.
//!
//! # Model
//!
//! One [`Emulator`] is one HTTPS listener (TLS by a throw-away CA from `sse_tls::pki`, ALPN `h2` and
//! `http/1.1`) that plays three services at once:
//!
//! * **Key Vault data plane**, for every vault at once, routed by the request host: vault `myvault` lives at
//!   `https://myvault.vault.localhost:PORT/` ([`Emulator::vault_url`]). Vaults spring into existence on first
//!   use; there is no management plane. The server certificate covers `*.vault.localhost`, `vault.localhost`,
//!   `localhost`, `127.0.0.1` and `::1`; clients resolve `*.localhost` to the loopback address themselves
//!   (e.g. `reqwest::ClientBuilder::resolve`) and trust [`Emulator::ca_pem`]. Because vault hosts end in
//!   `.vault.localhost` and the bearer challenge names the resource `https://vault.localhost`
//!   ([`Emulator::keyvault_resource`]), the official SDKs keep `verify_challenge_resource` on.
//!   Paths, JSON shapes, status codes and error envelopes follow `docs/KEYVAULT.md#the-emulator`: secrets
//!   (get/list/list versions/set/update), keys and certificates (get/list/list versions), paging with
//!   absolute `nextLink`s, disabled versions answering 403, integer Unix timestamps.
//! * **Entra ID token endpoint** at `https://127.0.0.1:PORT/{tenant}/oauth2/v2.0/token`
//!   ([`Emulator::authority_host`]): the `client_credentials` grant with a JWT client assertion, checked
//!   against federated identity credentials registered through [`Entra`] (issuer, subject, audience),
//!   answering AADSTS-style errors. Access tokens are opaque random strings the data plane looks up. The
//!   scope names the resource: Key Vault's ([`KEYVAULT_RESOURCE`]) or Event Grid's ([`EVENTGRID_RESOURCE`],
//!   `https://eventgrid.azure.net/.default` as the official SDKs ask); each service refuses the other's.
//! * **Event Grid namespaces with pull delivery** ([`EventGrid`], `docs/EVENTGRID.md`): namespace `ns` at
//!   `https://ns.eventgrid.localhost:PORT` ([`Emulator::eventgrid_url`]; the certificate also covers
//!   `*.eventgrid.localhost`), its topics and queue subscriptions made by [`EventGrid::add_subscription`].
//!   Each vault's "system topic" delivers to the topics [`EventGrid::route_vault`] names: every new version
//!   of a secret, key or certificate, written through the data plane or the [`Store`], publishes a
//!   CloudEvents 1.0 `Microsoft.KeyVault.{Secret,Key,Certificate}NewVersionCreated` (a certificate import
//!   publishes only the certificate's), and [`EventGrid::expiry_pass`] the `NearExpiry` (30 days before
//!   `exp`) and `Expired` events, once per version. `data` is Key Vault's PascalCase `Id`, `VaultName`,
//!   `ObjectType`, `ObjectName`, `Version`, `NBF`, `EXP` (epoch seconds or null); `source` is the vault's
//!   resource id, `subject` the object name. The routes `POST
//!   /topics/{topic}/eventsubscriptions/{sub}:{receive,acknowledge,release,reject,renewLock}` accept
//!   `api-version` `2023-11-01` and `2024-06-01` (the default of the official Python `azure-eventgrid`
//!   4.22.1, observed on the wire by `tests/python_eventgrid.rs`), `Authorization: SharedAccessKey` or an
//!   Event Grid bearer token. A receive (`maxEvents` 1–100, default 1; `maxWaitTime` 10–120 s, default 60)
//!   is held until an event is available or the wait ends; a received event is locked for the
//!   subscription's lock duration and comes back with `deliveryCount` + 1 when not settled in time, until
//!   `max_delivery_count` deliveries (then dead-lettered). Settlements answer `succeededLockTokens` and
//!   `failedLockTokens` (`TokenLost` "Token has expired." for a token whose lock is gone, as the Go SDK's
//!   live tests record; `BadToken` for one that is not a lock token, as the Azure docs' example shows).
//!   Faults: duplicated, dropped and reordered events, camelCase `data`, an injected status, a missing role.
//!   Where each wire fact was observed (spec, SDK source, Azure docs) and which are the emulator's own
//!   guesses: `docs/EVENTGRID.md#sources`.
//!
//! State lives in memory: objects in [`Store`] (seed and mutate it directly from tests), fault injection and
//! throttling in [`Faults`], identities in [`Entra`], namespaces, queues and their faults in [`EventGrid`],
//! and a per-operation request counter ([`Emulator::counters`]). All handles are cheap to clone and safe to use while the server runs.
//!
//! # What is not emulated
//!
//! Deleted-object APIs, backup/restore, crypto operations, certificate creation and policies beyond a
//! minimal read-only policy, RBAC/access policies, and signature verification of client assertions (real
//! Entra verifies the assertion signature against the issuer's JWKS; this emulator only decodes the
//! payload). Of Event Grid: the management plane, publishing over HTTP (`:publish`; tests call
//! [`EventGrid::publish`]), push delivery, event retention and time to live, dead-letter destinations,
//! `VaultAccessPolicyChanged`, and the Event Grid event schema (only CloudEvents, the one pull delivery
//! allows).

mod counters;
mod entra;
mod eventgrid;
mod faults;
mod routes;
pub mod seed;
mod server;
mod sha1;
mod store;
mod timefmt;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use entra::{Entra, FederatedCredential, mint_assertion};
pub use eventgrid::{
    EVENTGRID_DNS_SUFFIX, EVENTGRID_RESOURCE, EventGrid, SubscriptionOptions, SubscriptionStats,
};
pub use faults::Faults;
pub use store::{CertificateInput, ObjectKind, PublicJwk, SecretInput, Store};

use counters::Counters;

/// The Key Vault resource (token audience) the emulator's vaults belong to.
pub const KEYVAULT_RESOURCE: &str = "https://vault.localhost";

/// The DNS suffix of vault hosts, without port.
pub const VAULT_DNS_SUFFIX: &str = "vault.localhost";

/// Request throttling, per vault.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Throttle {
    /// Requests admitted per window and vault.
    pub limit: u32,
    /// Length of the sliding window.
    pub window: Duration,
    /// `Retry-After` sent with 429 answers (whole seconds, rounded up). The default sends `Retry-After: 1`;
    /// `None` sends no header, as the real service usually does (docs/KEYVAULT.md#throttling-and-limits).
    pub retry_after: Option<Duration>,
}

impl Default for Throttle {
    /// The real service limit for secrets: 4000 requests per 10 s per vault.
    fn default() -> Self {
        Self {
            limit: 4000,
            window: Duration::from_secs(10),
            retry_after: Some(Duration::from_secs(1)),
        }
    }
}

/// How to start an [`Emulator`].
#[derive(Clone, Debug)]
pub struct Config {
    /// Address to listen on; port 0 picks a free port.
    pub listen: SocketAddr,
    /// Tenant named in the bearer challenge (`authorization="{authority_host}{tenant}"`).
    pub default_tenant: String,
    /// Lifetime of issued access tokens.
    pub token_lifetime: Duration,
    /// Initial throttling (change later with [`Faults::set_throttle`]).
    pub throttle: Throttle,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            default_tenant: "00000000-0000-0000-0000-000000000001".to_string(),
            token_lifetime: Duration::from_secs(3600),
            throttle: Throttle::default(),
        }
    }
}

/// Everything request handlers share.
pub(crate) struct App {
    pub(crate) store: Store,
    pub(crate) faults: Faults,
    pub(crate) entra: Entra,
    pub(crate) eventgrid: EventGrid,
    pub(crate) counters: Counters,
    pub(crate) authority_host: String,
    pub(crate) default_tenant: String,
}

/// A running emulator. Dropping it stops the listener; [`Emulator::shutdown`] also waits for open
/// connections to finish.
pub struct Emulator {
    addr: SocketAddr,
    ca_pem: String,
    app: Arc<App>,
    cancel: CancellationToken,
    tracker: TaskTracker,
    accept_loop: Option<JoinHandle<()>>,
}

impl Emulator {
    /// Bind, mint the CA and server certificate, and start serving.
    pub async fn start(config: Config) -> anyhow::Result<Emulator> {
        sse_tls::install_crypto_provider();
        let listener = TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("binding {}", config.listen))?;
        let addr = listener.local_addr().context("reading the bound address")?;

        let ca = sse_tls::pki::TestCa::new("keyvault-emulator CA").context("minting the emulator CA")?;
        let wildcard = format!("*.{VAULT_DNS_SUFFIX}");
        let eventgrid_wildcard = format!("*.{EVENTGRID_DNS_SUFFIX}");
        let leaf = ca
            .issue(
                &[
                    wildcard.as_str(),
                    VAULT_DNS_SUFFIX,
                    eventgrid_wildcard.as_str(),
                    EVENTGRID_DNS_SUFFIX,
                    "localhost",
                    "127.0.0.1",
                    "::1",
                ],
                sse_tls::pki::Usage::Server,
                Duration::from_secs(90 * 24 * 3600),
            )
            .context("issuing the emulator server certificate")?;
        let acceptor = server::tls_acceptor(&leaf.cert_pem, &leaf.key_pem)?;

        let authority_host = format!("https://127.0.0.1:{}/", addr.port());
        let store = Store::default();
        let app = Arc::new(App {
            eventgrid: EventGrid::new(store.clone(), addr.port()),
            store,
            faults: Faults::new(config.throttle.clone()),
            entra: Entra::new(config.token_lifetime),
            counters: Counters::default(),
            authority_host,
            default_tenant: config.default_tenant.clone(),
        });

        let cancel = CancellationToken::new();
        let tracker = TaskTracker::new();
        let router = routes::router(app.clone());
        let accept_loop = tokio::spawn(server::accept_loop(
            listener,
            acceptor,
            router,
            app.faults.clone(),
            cancel.clone(),
            tracker.clone(),
        ));
        tracing::info!(%addr, "keyvault emulator listening");
        Ok(Emulator {
            addr,
            ca_pem: ca.cert_pem().to_string(),
            app,
            cancel,
            tracker,
            accept_loop: Some(accept_loop),
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// PEM of the CA that signed the server certificate.
    pub fn ca_pem(&self) -> String {
        self.ca_pem.clone()
    }

    /// Entra authority host, `https://127.0.0.1:PORT/`.
    pub fn authority_host(&self) -> String {
        self.app.authority_host.clone()
    }

    /// The Key Vault resource (audience), `https://vault.localhost`.
    pub fn keyvault_resource(&self) -> String {
        KEYVAULT_RESOURCE.to_string()
    }

    /// The vault DNS suffix with port, `vault.localhost:PORT`.
    pub fn dns_suffix(&self) -> String {
        format!("{VAULT_DNS_SUFFIX}:{}", self.addr.port())
    }

    /// Base URL of `vault`, `https://{vault}.vault.localhost:PORT` (no trailing slash).
    pub fn vault_url(&self, vault: &str) -> String {
        format!("https://{vault}.{}", self.dns_suffix())
    }

    /// An Azure Stack style environment file (camelCase keys, like the Go autorest environment files)
    /// describing this emulator as a cloud.
    pub fn cloud_env_json(&self) -> String {
        let authority = self.authority_host();
        let env = serde_json::json!({
            "name": "AzureStackCloud",
            "activeDirectoryEndpoint": authority,
            "keyVaultEndpoint": format!("{KEYVAULT_RESOURCE}/"),
            "keyVaultDNSSuffix": self.dns_suffix(),
            "resourceManagerEndpoint": authority,
        });
        // Serialising a `Value` cannot fail; fall back to the compact form just in case.
        serde_json::to_string_pretty(&env).unwrap_or_else(|_| env.to_string())
    }

    /// The object store (seed and mutate vault contents).
    pub fn store(&self) -> &Store {
        &self.app.store
    }

    /// Fault injection and throttling.
    pub fn faults(&self) -> &Faults {
        &self.app.faults
    }

    /// Entra tenants, clients and federated credentials.
    pub fn entra(&self) -> &Entra {
        &self.app.entra
    }

    /// Event Grid namespaces, their topics and queue subscriptions, vault routing and faults.
    pub fn event_grid(&self) -> EventGrid {
        self.app.eventgrid.clone()
    }

    /// Base URL of Event Grid namespace `namespace`, `https://{namespace}.eventgrid.localhost:PORT` (no
    /// trailing slash).
    pub fn eventgrid_url(&self, namespace: &str) -> String {
        format!("https://{namespace}.{EVENTGRID_DNS_SUFFIX}:{}", self.addr.port())
    }

    /// Requests per operation since start or the last [`Emulator::reset_counters`].
    ///
    /// Every request that reaches the router counts once under its operation (`secrets.get`,
    /// `secrets.list_versions`, `secrets.list`, `secrets.set`, `secrets.update`, `keys.get`,
    /// `keys.list_versions`, `keys.list`, `certificates.get`, `certificates.list_versions`,
    /// `certificates.list`, `entra.token`, `unknown`); answers that are not the operation's own add one to
    /// `challenge` (401), `throttled` (429), `fault` (injected 5xx) or `entra.error` (token request refused).
    /// Event Grid requests count as `eventgrid.receive`, `eventgrid.acknowledge`, `eventgrid.release`,
    /// `eventgrid.reject`, `eventgrid.renew_lock` or `eventgrid.unknown`, their refusals as `eventgrid.fault`,
    /// `eventgrid.unauthorized` and `eventgrid.forbidden`.
    pub fn counters(&self) -> BTreeMap<String, u64> {
        self.app.counters.snapshot()
    }

    /// Zero all counters.
    pub fn reset_counters(&self) {
        self.app.counters.reset();
    }

    /// Stop accepting, ask open connections to finish (at most 5 s), and return.
    pub async fn shutdown(mut self) {
        self.cancel.cancel();
        self.app.eventgrid.close();
        if let Some(accept_loop) = self.accept_loop.take()
            && let Err(err) = accept_loop.await
        {
            tracing::warn!(%err, "emulator accept loop ended abnormally");
        }
        self.tracker.close();
        if tokio::time::timeout(Duration::from_secs(5), self.tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!("emulator connections still open after 5 s; abandoning them");
        }
        tracing::info!(addr = %self.addr, "keyvault emulator stopped");
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        self.cancel.cancel();
        self.app.eventgrid.close();
    }
}

/// Current time as Unix seconds.
pub(crate) fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

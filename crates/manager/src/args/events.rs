//! The flags of refresh driven by the vault's events (crate::vault_events; docs/EVENTS.md#set-up).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::Args as ClapArgs;

use crate::vault_events::{Credential, PullClient, Stream, StreamStatus, Subscription};

/// Where and how the leader reads Key Vault's events; off without `--events-endpoint`.
#[derive(ClapArgs, Debug, Clone)]
pub struct EventArgs {
    /// The Event Grid namespace's endpoint (`https://NAMESPACE.REGION-1.eventgrid.azure.net`): the leader
    /// long-polls its topic's queue subscription and checks a SecretSync as soon as the vault says an object
    /// it reads has a new version. Off when empty: polling only.
    #[arg(long, env = "EVENTS_ENDPOINT", default_value = "")]
    pub events_endpoint: String,

    /// The namespace topic the vault's system topic delivers to.
    #[arg(long, env = "EVENTS_TOPIC", default_value = "")]
    pub events_topic: String,

    /// The topic's queue event subscription (CloudEvents schema), read by this cluster's leader only.
    #[arg(long, env = "EVENTS_SUBSCRIPTION", default_value = "")]
    pub events_subscription: String,

    /// A file holding the namespace's access key (`SharedAccessKey`), e.g. from a Secret. Without it, the
    /// manager's workload identity: `AZURE_CLIENT_ID`, `AZURE_TENANT_ID`, `AZURE_FEDERATED_TOKEN_FILE`.
    #[arg(long, env = "EVENTS_ACCESS_KEY_FILE")]
    pub events_access_key_file: Option<PathBuf>,

    /// The manager's Entra application (client) id, for workload identity.
    #[arg(long, env = "AZURE_CLIENT_ID", default_value = "")]
    pub events_client_id: String,

    /// Its tenant.
    #[arg(long, env = "AZURE_TENANT_ID", default_value = "")]
    pub events_tenant_id: String,

    /// The projected ServiceAccount token (audience `api://AzureADTokenExchange`) exchanged for it.
    #[arg(long, env = "AZURE_FEDERATED_TOKEN_FILE")]
    pub events_token_file: Option<PathBuf>,

    /// Entra's authority host.
    #[arg(
        long,
        env = "AZURE_AUTHORITY_HOST",
        default_value = "https://login.microsoftonline.com/"
    )]
    pub events_authority_host: String,

    /// How long one receive waits for an event (10s to 120s): an idle stream costs one request per this.
    #[arg(long, env = "EVENTS_MAX_WAIT", default_value = "60s", value_parser = sse_runtime::duration)]
    pub events_max_wait: Duration,

    /// Events per receive (1 to 100).
    #[arg(long, env = "EVENTS_MAX_EVENTS", default_value_t = 100)]
    pub events_max_events: u16,

    /// Renew an event's lock this often while its checks run; under the subscription's lock duration
    /// (`receiveLockDurationInSeconds`, 60 s by default).
    #[arg(long, env = "EVENTS_LOCK_RENEWAL", default_value = "30s", value_parser = sse_runtime::positive_duration)]
    pub events_lock_renewal: Duration,

    /// After a check that failed, the event comes again after this many seconds (0, 10, 60, 600 or 3600).
    #[arg(long, env = "EVENTS_RELEASE_DELAY", default_value_t = 60)]
    pub events_release_delay: u32,

    /// Extra trusted root CAs (PEM) for Event Grid and Entra: a TLS-inspecting proxy's, or the emulator's.
    #[arg(long, env = "EVENTS_CA_FILE")]
    pub events_ca_file: Option<PathBuf>,

    /// Outbound proxy for Event Grid and Entra (`http://HOST:PORT`), the same setting the provider uses
    /// for Key Vault (deploy/components/outbound-proxy sets both). Without it, no proxy.
    #[arg(long = "events-https-proxy", env = "HTTPS_PROXY", hide_env_values = true)]
    pub https_proxy: Option<String>,

    /// Hosts that bypass `--events-https-proxy`, comma-separated.
    #[arg(
        long = "events-no-proxy",
        env = "NO_PROXY",
        hide_env_values = true,
        default_value = ""
    )]
    pub no_proxy: String,

    /// The manager's Deployment, in the pod's namespace: Events about the stream regard it.
    #[arg(
        long,
        env = "SYNC_CONTROLLER_DEPLOYMENT_NAME",
        default_value = "secrets-store-sync-controller-manager"
    )]
    pub deployment_name: String,
}

/// An event is held this long at most waiting for its checks before it is released to come again.
const GIVE_UP: Duration = Duration::from_secs(600);

/// Events held locked at once while their checks run (a backlog is received in turns).
const MAX_IN_FLIGHT: usize = 1000;

impl EventArgs {
    /// The stream these flags describe; `None` when events are off. Every mistake is an error at start-up.
    pub fn stream(&self, reconcile_timeout: Duration) -> anyhow::Result<Option<Stream>> {
        let endpoint = self.events_endpoint.trim();
        if endpoint.is_empty() {
            return Ok(None);
        }
        if !endpoint.starts_with("https://") {
            bail!("--events-endpoint must be an https:// URL, got {endpoint:?}");
        }
        let (topic, subscription) = (self.events_topic.trim(), self.events_subscription.trim());
        if topic.is_empty() || subscription.is_empty() {
            bail!("--events-endpoint needs --events-topic and --events-subscription");
        }
        let valid_name = |s: &str| {
            s.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        };
        if !valid_name(topic) || !valid_name(subscription) {
            bail!("--events-topic and --events-subscription take Event Grid names (letters, digits, '-')");
        }
        if !(1..=100).contains(&self.events_max_events) {
            bail!(
                "--events-max-events must be 1 to 100, got {}",
                self.events_max_events
            );
        }
        if !(10..=120).contains(&self.events_max_wait.as_secs()) || self.events_max_wait.subsec_nanos() != 0 {
            bail!(
                "--events-max-wait must be whole seconds from 10s to 120s, got {:?}",
                self.events_max_wait
            );
        }
        if ![0, 10, 60, 600, 3600].contains(&self.events_release_delay) {
            bail!(
                "--events-release-delay must be 0, 10, 60, 600 or 3600 (what Event Grid accepts), got {}",
                self.events_release_delay
            );
        }
        let credential = match &self.events_access_key_file {
            Some(path) => {
                let key = std::fs::read_to_string(path)
                    .with_context(|| format!("read --events-access-key-file {}", path.display()))?;
                let key = key.trim();
                if key.is_empty() {
                    bail!("--events-access-key-file {} is empty", path.display());
                }
                Credential::AccessKey(key.to_string())
            }
            None => {
                let (client_id, tenant) = (self.events_client_id.trim(), self.events_tenant_id.trim());
                let Some(token_file) = self
                    .events_token_file
                    .clone()
                    .filter(|_| !client_id.is_empty() && !tenant.is_empty())
                else {
                    bail!(
                        "--events-endpoint needs a credential: --events-access-key-file, or workload identity \
                         (AZURE_CLIENT_ID, AZURE_TENANT_ID and AZURE_FEDERATED_TOKEN_FILE)"
                    );
                };
                Credential::WorkloadIdentity {
                    authority: self.events_authority_host.clone(),
                    tenant: tenant.to_string(),
                    client_id: client_id.to_string(),
                    token_file,
                }
            }
        };
        let roots = self
            .events_ca_file
            .as_ref()
            .map(|path| {
                std::fs::read(path).with_context(|| format!("read --events-ca-file {}", path.display()))
            })
            .transpose()?;
        let proxy = self
            .https_proxy
            .as_ref()
            .filter(|p| !p.trim().is_empty())
            .map(|url| sse_runtime::outbound::OutboundProxy {
                url: url.trim().to_string(),
                no_proxy: self.no_proxy.clone(),
            });
        let http = sse_runtime::outbound::client(
            concat!("sse-rs-manager/", env!("CARGO_PKG_VERSION")),
            roots.as_deref(),
            proxy.as_ref(),
        )
        .context("build the Event Grid client (--events-ca-file, --events-https-proxy)")?;
        let client = PullClient::new(
            http,
            Subscription {
                endpoint: endpoint.to_string(),
                topic: topic.to_string(),
                subscription: subscription.to_string(),
            },
            credential,
        );
        Ok(Some(Stream {
            client: Arc::new(client),
            max_events: self.events_max_events,
            max_wait: self.events_max_wait,
            renew_every: self.events_lock_renewal,
            max_in_flight: MAX_IN_FLIGHT,
            release_delay: self.events_release_delay,
            give_up: GIVE_UP.max(reconcile_timeout * 2),
            status: Arc::new(StreamStatus::default()),
        }))
    }
}

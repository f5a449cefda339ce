//! Command-line flags. Every flag can also be set through the environment: the three Arc settings use
//! their Arc names (`rotationPollIntervalInSeconds`, `jitterSeconds`, `enablePartialSecretSync`, as the
//! settings ConfigMap provides them), the others the upstream flag names where they exist
//! (docs/API.md#settings-and-flags).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgAction, Args as ClapArgs, Parser, Subcommand};

pub mod events;

pub use sse_runtime::LogFormat;

/// `manager`: the SSE-rs SecretSync controller.
#[derive(Parser, Debug, Clone)]
#[command(name = "manager", version, about)]
pub struct Cli {
    /// What to do (default: run the controller).
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Controller flags.
    #[command(flatten)]
    pub run: RunArgs,
}

/// Subcommands.
#[derive(Subcommand, Debug, Clone)]
pub enum Command {
    /// Call the provider once for a SecretSync and print the Secret that would be applied (no cluster).
    Render(RenderArgs),
}

/// Flags shared by the controller and `render`: how to reach providers.
#[derive(ClapArgs, Debug, Clone)]
pub struct ProviderArgs {
    /// Directory holding the provider sockets `<provider>.sock`.
    #[arg(long, env = "PROVIDER_VOLUME", default_value = "/provider")]
    pub provider_volume: PathBuf,

    /// Client certificate (PEM) presented to providers (mutual TLS), e.g. cert-manager's `tls.crt`.
    #[arg(long, env = "PROVIDER_TLS_CERT_FILE", requires_all = ["provider_tls_key_file", "provider_tls_ca_file"])]
    pub provider_tls_cert_file: Option<PathBuf>,

    /// Client private key (PEM).
    #[arg(long, env = "PROVIDER_TLS_KEY_FILE")]
    pub provider_tls_key_file: Option<PathBuf>,

    /// CA bundle (PEM) the providers' certificates must chain to, e.g. the `ca.crt` cert-manager writes.
    #[arg(long, env = "PROVIDER_TLS_CA_FILE")]
    pub provider_tls_ca_file: Option<PathBuf>,

    /// Providers reached without TLS (comma-separated names, e.g. third-party providers). Every other
    /// provider requires mutual TLS.
    #[arg(long, env = "PLAINTEXT_PROVIDERS", value_delimiter = ',')]
    pub plaintext_providers: Vec<String>,

    /// Deadline of one Mount call.
    #[arg(long, env = "MOUNT_TIMEOUT", default_value = "60s", value_parser = sse_runtime::duration)]
    pub mount_timeout: Duration,

    /// Largest gRPC response accepted from a provider, in bytes.
    #[arg(long, env = "MAX_CALL_RECV_MSG_SIZE", default_value_t = 4 * 1024 * 1024)]
    pub max_call_recv_msg_size: usize,

    /// How often the TLS files are checked for rotation.
    #[arg(long, env = "PROVIDER_TLS_RELOAD_INTERVAL", default_value = "10s", value_parser = sse_runtime::positive_duration)]
    pub provider_tls_reload_interval: Duration,
}

/// Controller flags.
#[derive(ClapArgs, Debug, Clone)]
pub struct RunArgs {
    /// Provider connection settings.
    #[command(flatten)]
    pub provider: ProviderArgs,

    /// Audiences of the service-account tokens passed to providers (comma-separated; trimmed).
    #[arg(long, env = "TOKEN_REQUEST_AUDIENCE", default_value = "")]
    pub token_request_audience: String,

    /// Seconds between two checks of the vault for one SecretSync (Arc setting).
    #[arg(long, env = "rotationPollIntervalInSeconds", default_value_t = 3600)]
    pub rotation_poll_interval_in_seconds: u64,

    /// Up to this many seconds of random delay spread each SecretSync's checks (Arc setting).
    #[arg(long, env = "jitterSeconds", default_value_t = 0)]
    pub jitter_seconds: u64,

    /// Update the healthy keys when only some objects fail (Arc setting).
    #[arg(long, env = "enablePartialSecretSync", default_value_t = true, action = ArgAction::Set)]
    pub enable_partial_secret_sync: bool,

    /// Reconciles running at once.
    #[arg(long, env = "WORKERS", default_value_t = 32)]
    pub workers: u16,

    /// Provider Mount calls in flight at once, process-wide.
    #[arg(long, env = "MAX_CONCURRENT_MOUNTS", default_value_t = 32)]
    pub max_concurrent_mounts: usize,

    /// Longest time one reconcile may take (token, Mount, writes, status); past it the reconcile is
    /// abandoned and retried with backoff. Longer than `--mount-timeout`.
    #[arg(long, env = "RECONCILE_TIMEOUT", default_value = "150s", value_parser = sse_runtime::duration)]
    pub reconcile_timeout: Duration,

    /// After SIGTERM, in-flight reconciles get this long to finish before they are abandoned and the Lease
    /// is released (at most 3 s more). Keep the sum under the pod's `terminationGracePeriodSeconds`.
    #[arg(long, env = "SHUTDOWN_TIMEOUT", default_value = "5s", value_parser = sse_runtime::duration)]
    pub shutdown_timeout: Duration,

    /// Shortest check interval a SecretSync may set with its `sse-rs.io/refresh-interval` annotation
    /// (shorter values are raised to it).
    #[arg(long, env = "MIN_REFRESH_INTERVAL", default_value = "30s", value_parser = sse_runtime::duration)]
    pub min_refresh_interval: Duration,

    /// Longest check interval a SecretSync may set with its `sse-rs.io/refresh-interval` annotation
    /// (longer values are lowered to it).
    #[arg(long, env = "MAX_REFRESH_INTERVAL", default_value = "24h", value_parser = sse_runtime::duration)]
    pub max_refresh_interval: Duration,

    /// A check that changes nothing writes no status, unless the status's check times are this old: then
    /// it refreshes `lastCheckedTime`/`nextCheckTime` (`0s`: never).
    #[arg(long, env = "STATUS_HEARTBEAT", default_value = "5m", value_parser = sse_runtime::duration)]
    pub status_heartbeat: Duration,

    /// Ask the provider whether anything changed in the vault before mounting, when it serves SSE-rs's
    /// optional change-detection service (`ssers.v1alpha1.ChangeDetection`; third-party providers do not,
    /// and are mounted on every check): a quiet check then reads no secret value.
    #[arg(long, env = "CHANGE_DETECTION", default_value_t = true, action = ArgAction::Set)]
    pub change_detection: bool,

    /// Reload on change: give workloads annotated `sse-rs.io/reload` a rolling restart when a Secret they
    /// use changes value; needs list and patch on Deployments, StatefulSets and DaemonSets
    /// (deploy/overlays/reload-workloads).
    #[arg(long, env = "RELOAD_WORKLOADS", default_value_t = false, action = ArgAction::Set)]
    pub reload_workloads: bool,

    /// With `--reload-workloads`: at most one restart per workload per this interval (a change inside it
    /// restarts the workload once, when it ends).
    #[arg(long, env = "RELOAD_MIN_INTERVAL", default_value = "5m", value_parser = sse_runtime::duration)]
    pub reload_min_interval: Duration,

    /// How long before a synced object's Key Vault expiry (`exp`) the SecretSync's `Expiring` condition
    /// turns True and a Warning Event fires (dates come with change detection).
    #[arg(long, env = "EXPIRY_WARNING_WINDOW", default_value = "720h", value_parser = sse_runtime::duration)]
    pub expiry_warning_window: Duration,

    /// Translate AKVSync resources into the SecretProviderClass and SecretSyncs they stand for, and keep
    /// those as generated (needs write access to both, which deploy/ grants).
    #[arg(long, env = "AKVSYNC", default_value_t = true, action = ArgAction::Set)]
    pub akvsync: bool,

    /// Write each ClusterSecretSync's Secret to every namespace it selects (fan-out); needs the rights of
    /// `deploy/components/cluster-secret-sync` (namespaces list/watch, Secret delete).
    #[arg(long, env = "CLUSTER_SECRET_SYNC", default_value_t = false, action = ArgAction::Set)]
    pub cluster_secret_sync: bool,

    /// Also watch owned Secrets (metadata only) to repair drift at once; needs list/watch on Secrets.
    #[arg(long, env = "WATCH_OWNED_SECRETS", default_value_t = false, action = ArgAction::Set)]
    pub watch_owned_secrets: bool,

    /// Prometheus endpoint (`/metrics`); `0` disables.
    #[arg(long, env = "METRICS_BIND_ADDRESS", default_value = "0.0.0.0:8085")]
    pub metrics_bind_address: String,

    /// `/healthz` and `/readyz`; `0` disables.
    #[arg(long, env = "HEALTH_PROBE_BIND_ADDRESS", default_value = "0.0.0.0:8081")]
    pub health_probe_bind_address: String,

    /// `/debug/secretsyncs` (every SecretSync's last and next check, by name): loopback only by default,
    /// reached with `kubectl port-forward`; `0` disables.
    #[arg(long, env = "DEBUG_BIND_ADDRESS", default_value = "127.0.0.1:8082")]
    pub debug_bind_address: String,

    /// Refresh driven by the vault's events.
    #[command(flatten)]
    pub events: events::EventArgs,

    /// Run the controller only while holding the Lease.
    #[arg(long, env = "LEADER_ELECT", default_value_t = false, action = ArgAction::Set)]
    pub leader_elect: bool,

    /// Namespace of the Lease (default: the pod's namespace).
    #[arg(long, env = "LEADER_ELECTION_NAMESPACE")]
    pub leader_election_namespace: Option<String>,

    /// This pod's name (downward API), sent to providers as `csi.storage.k8s.io/pod.name`.
    #[arg(
        long,
        env = "SYNC_CONTROLLER_POD_NAME",
        default_value = "secrets-store-sync-controller"
    )]
    pub pod_name: String,

    /// This pod's UID (downward API), sent to providers as `csi.storage.k8s.io/pod.uid`.
    #[arg(long, env = "SYNC_CONTROLLER_POD_UID", default_value = "")]
    pub pod_uid: String,

    /// This pod's namespace (downward API): default namespace of the Lease.
    #[arg(long, env = "SYNC_CONTROLLER_POD_NAMESPACE", default_value = "default")]
    pub pod_namespace: String,

    /// Log format.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value = "plain")]
    pub log_format: LogFormat,

    /// Log filter (tracing `EnvFilter` syntax).
    /// (kube-runtime's own per-reconcile span is left out by default: the manager's `reconcile{secretsync}`
    /// span already names the SecretSync on every line).
    #[arg(long, env = "RUST_LOG", default_value = "info,kube_runtime::controller=warn")]
    pub log_level: String,
}

/// `manager render` flags.
#[derive(ClapArgs, Debug, Clone)]
pub struct RenderArgs {
    /// YAML file(s) holding the SecretProviderClass and the SecretSync (multi-document YAML is fine).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,

    /// Which SecretSync to render, when the files hold several.
    #[arg(long)]
    pub name: Option<String>,

    /// Service-account token to pass for each audience (`audience=token-file`); repeatable.
    #[arg(long = "token", value_parser = parse_token)]
    pub tokens: Vec<(String, PathBuf)>,

    /// Print Secret values (base64, as in a Secret manifest) instead of redacting them.
    #[arg(long)]
    pub show_values: bool,

    /// Update the healthy keys when only some objects fail (Arc setting).
    #[arg(long, env = "enablePartialSecretSync", default_value_t = true, action = ArgAction::Set)]
    pub enable_partial_secret_sync: bool,

    /// Provider connection settings.
    #[command(flatten)]
    pub provider: ProviderArgs,
}

fn parse_token(s: &str) -> Result<(String, PathBuf), String> {
    let (aud, file) = s
        .split_once('=')
        .ok_or_else(|| format!("{s}: expected audience=token-file"))?;
    Ok((aud.trim().to_string(), PathBuf::from(file.trim())))
}

/// Parse an address flag: `host:port`, `:port` (all interfaces), or `0` (disabled).
pub fn parse_bind_address(s: &str) -> Result<Option<SocketAddr>, String> {
    let s = s.trim();
    if s == "0" || s.is_empty() {
        return Ok(None);
    }
    let full = if s.starts_with(':') {
        format!("0.0.0.0{s}")
    } else {
        s.to_string()
    };
    full.parse().map(Some).map_err(|e| format!("{s}: {e}"))
}

impl RunArgs {
    /// The configured audiences, trimmed, empties dropped (fixes the upstream `", "` defect,
    /// docs/API.md#settings-and-flags).
    pub fn audiences(&self) -> Vec<String> {
        self.token_request_audience
            .split(',')
            .map(str::trim)
            .filter(|a| !a.is_empty())
            .map(str::to_string)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn defaults_follow_the_arc_settings() {
        let cli = Cli::try_parse_from(["manager"]).unwrap();
        assert_eq!(cli.run.rotation_poll_interval_in_seconds, 3600);
        assert_eq!(cli.run.jitter_seconds, 0);
        assert!(cli.run.enable_partial_secret_sync);
        assert_eq!(cli.run.provider.provider_volume, PathBuf::from("/provider"));
        assert_eq!(cli.run.provider.max_call_recv_msg_size, 4_194_304);
    }

    #[test]
    fn audiences_are_trimmed() {
        let cli = Cli::try_parse_from([
            "manager",
            "--token-request-audience",
            "api://AzureADTokenExchange, other ,,",
        ])
        .unwrap();
        assert_eq!(cli.run.audiences(), vec!["api://AzureADTokenExchange", "other"]);
    }

    #[test]
    fn a_zero_tls_reload_interval_is_refused_at_start_up() {
        let err = Cli::try_parse_from(["manager", "--provider-tls-reload-interval=0s"])
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("must be greater than zero"), "{err}");
    }

    #[test]
    fn bind_addresses() {
        assert_eq!(
            parse_bind_address(":8085").unwrap(),
            Some("0.0.0.0:8085".parse().unwrap())
        );
        assert_eq!(parse_bind_address("0").unwrap(), None);
        assert!(parse_bind_address("nope").is_err());
    }

    #[test]
    fn render_takes_files_and_tokens() {
        let cli = Cli::try_parse_from([
            "manager",
            "render",
            "a.yaml",
            "--token",
            "api://x=/tmp/t",
            "--show-values",
        ])
        .unwrap();
        let Some(Command::Render(r)) = cli.command else {
            panic!("render")
        };
        assert_eq!(r.tokens, vec![("api://x".to_string(), PathBuf::from("/tmp/t"))]);
        assert!(r.show_values);
    }
}

//! Command-line flags (each also settable through the environment).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgAction, Parser};

pub use sse_runtime::LogFormat;

/// `provider-azure`: the Azure Key Vault provider for the Secrets Store CSI provider contract.
#[derive(Parser, Debug, Clone)]
#[command(name = "provider-azure", version, about)]
pub struct Args {
    /// gRPC listen address: `unix:///path/to/azure.sock` or `tcp://127.0.0.1:PORT` (debugging).
    #[arg(long, env = "PROVIDER_ENDPOINT", default_value = "unix:///tmp/azure.sock")]
    pub endpoint: String,

    /// Server certificate chain (PEM) for mutual TLS, e.g. cert-manager's `tls.crt`.
    #[arg(long, env = "PROVIDER_TLS_CERT_FILE", requires_all = ["tls_key_file", "tls_client_ca_file"])]
    pub tls_cert_file: Option<PathBuf>,

    /// Server private key (PEM), e.g. cert-manager's `tls.key`.
    #[arg(long, env = "PROVIDER_TLS_KEY_FILE")]
    pub tls_key_file: Option<PathBuf>,

    /// CA bundle (PEM) that client certificates must chain to, e.g. the `ca.crt` cert-manager writes.
    #[arg(long, env = "PROVIDER_TLS_CLIENT_CA_FILE")]
    pub tls_client_ca_file: Option<PathBuf>,

    /// The identities a client certificate may carry (DNS subject alternative names, comma-separated):
    /// a certificate from the CA bundle naming anything else is refused. The manager's by default; add a
    /// third-party client's name, or pass an empty value to accept any certificate the CA issued.
    #[arg(long, env = "PROVIDER_TLS_CLIENT_NAME", value_delimiter = ',', default_value = sse_tls::MANAGER_IDENTITY)]
    pub tls_client_name: Vec<String>,

    /// Serve plaintext gRPC (no TLS). Only for third-party drivers that cannot do TLS, such as the
    /// upstream Secrets Store CSI driver; access is then guarded by the socket's file permissions alone.
    #[arg(long, env = "PROVIDER_PLAINTEXT", conflicts_with = "tls_cert_file")]
    pub plaintext: bool,

    /// How often the TLS files are checked for rotation.
    #[arg(long, env = "PROVIDER_TLS_RELOAD_INTERVAL", default_value = "10s", value_parser = sse_runtime::positive_duration)]
    pub tls_reload_interval: Duration,

    /// HTTP health endpoint address (`0` disables).
    #[arg(long, env = "PROVIDER_HEALTH_ADDR", default_value = "0.0.0.0:8989")]
    pub health_addr: ListenAddr,

    /// HTTP health path.
    #[arg(long, env = "PROVIDER_HEALTHZ_PATH", default_value = "/healthz")]
    pub healthz_path: String,

    /// Prometheus metrics address, path `/metrics` (`0` disables).
    #[arg(long, env = "PROVIDER_METRICS_ADDR", default_value = "0.0.0.0:8898")]
    pub metrics_addr: ListenAddr,

    /// Order PEM chains from PFX certificates leaf → intermediates → root.
    #[arg(long, env = "PROVIDER_CONSTRUCT_PEM_CHAIN", default_value_t = true, action = ArgAction::Set)]
    pub construct_pem_chain: bool,

    /// For certificate-backed secrets also return `<file>.crt` and `<file>.key`.
    #[arg(long, env = "PROVIDER_WRITE_CERT_AND_KEY_IN_SEPARATE_FILES", default_value_t = false, action = ArgAction::Set)]
    pub write_cert_and_key_in_separate_files: bool,

    /// Cloud used when a SecretProviderClass sets no `cloudName`.
    #[arg(long, env = "PROVIDER_CLOUD_NAME", default_value = "AzurePublicCloud")]
    pub cloud_name: String,

    /// The environment file (Go autorest JSON) of `AzureStackCloud` for SecretProviderClasses that name no
    /// `cloudEnvFileName` (such as those AKVSyncs generate): an Azure Stack Hub's, or the emulator's.
    #[arg(long, env = "PROVIDER_CLOUD_ENV_FILE")]
    pub cloud_env_file: Option<PathBuf>,

    /// Outbound proxy for Entra ID and Key Vault (`http://HOST:PORT`); a TLS-inspecting proxy's CA goes in
    /// `--keyvault-ca-file`. Without it, no proxy.
    #[arg(long, env = "HTTPS_PROXY", hide_env_values = true)]
    pub https_proxy: Option<String>,

    /// Hosts that bypass `--https-proxy`, comma-separated (`.example.com`, `10.0.0.0/8`, `localhost`).
    #[arg(long, env = "NO_PROXY", hide_env_values = true)]
    pub no_proxy: Option<String>,

    /// Extra trusted root CAs (PEM) for Entra ID and Key Vault: an Azure Stack Hub CA, or the emulator's.
    #[arg(long, env = "PROVIDER_KEYVAULT_CA_FILE")]
    pub keyvault_ca_file: Option<PathBuf>,

    /// Objects of one Mount fetched at once.
    #[arg(long, env = "PROVIDER_FETCH_CONCURRENCY", default_value_t = 8)]
    pub fetch_concurrency: usize,

    /// Key Vault and Entra requests in flight at once, process-wide.
    #[arg(long, env = "PROVIDER_MAX_KEYVAULT_REQUESTS", default_value_t = 64)]
    pub max_keyvault_requests: usize,

    /// Retries of a throttled (429) or failed (408, 5xx) Key Vault request.
    #[arg(long, env = "PROVIDER_MAX_RETRIES", default_value_t = 4)]
    pub max_retries: u32,

    /// Longest time one Mount may take when the caller sets no deadline.
    #[arg(long, env = "PROVIDER_MOUNT_TIMEOUT", default_value = "120s", value_parser = sse_runtime::duration)]
    pub mount_timeout: Duration,

    /// Requests this provider sends to one vault per 10 s for one identity, paced (a burst of checks is
    /// spread, never dropped); Key Vault throttles at 4,000 GETs per 10 s per vault. Spent only by an
    /// identity that obtained a token, so no other tenant's SecretProviderClass can spend it. `0` turns
    /// pacing off.
    #[arg(long, env = "PROVIDER_VAULT_REQUESTS_PER_10S", default_value_t = 2000)]
    pub vault_requests_per_10s: u32,

    /// Requests to one vault that fail in a row for the vault's own reason (unreachable, 5xx) before
    /// requests to it fail fast for a cool-down. `0` turns failing fast off.
    #[arg(
        long,
        env = "PROVIDER_VAULT_FAILURES_BEFORE_FAILING_FAST",
        default_value_t = 3
    )]
    pub vault_failures_before_failing_fast: u32,

    /// First cool-down of a failing vault: then one request probes it (success ends failing fast, failure
    /// doubles the cool-down, up to 5 min).
    #[arg(long, env = "PROVIDER_VAULT_FAILING_FAST_COOLDOWN", default_value = "5s", value_parser = sse_runtime::duration)]
    pub vault_failing_fast_cooldown: Duration,

    /// Serve the optional `ssers.v1alpha1.ChangeDetection` service beside the provider contract, so the
    /// SSE-rs manager can tell a quiet check from Key Vault metadata (listings) without reading values.
    #[arg(long, env = "PROVIDER_CHANGE_DETECTION", default_value_t = true, action = ArgAction::Set)]
    pub change_detection: bool,

    /// An object updated this long (or less) before the listing that saw it gets no fingerprint, covering
    /// Key Vault's one-second `updated` resolution; `0s` turns this off (for a backend that never gives two
    /// writes the same second).
    #[arg(long, env = "PROVIDER_CHANGE_SETTLE", default_value = "2s", value_parser = sse_runtime::duration)]
    pub change_settle: Duration,

    /// Log format.
    #[arg(long, env = "PROVIDER_LOG_FORMAT", value_enum, default_value = "plain")]
    pub log_format: LogFormat,

    /// Log filter (tracing `EnvFilter` syntax).
    #[arg(long, env = "RUST_LOG", default_value = "info")]
    pub log_level: String,
}

/// A listen address, or `0` for "disabled" (the controller-runtime convention).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ListenAddr(pub Option<SocketAddr>);

/// A listen address that is neither `0` nor `host:port`.
#[derive(Debug, thiserror::Error)]
#[error("{input}: {error}")]
pub struct ListenAddrError {
    /// What was given.
    pub input: String,
    /// Why it is not an address.
    pub error: std::net::AddrParseError,
}

impl std::str::FromStr for ListenAddr {
    type Err = ListenAddrError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == "0" || s.is_empty() {
            return Ok(Self(None));
        }
        s.parse().map(|a| Self(Some(a))).map_err(|error| ListenAddrError {
            input: s.to_string(),
            error,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Args::command().debug_assert();
    }

    #[test]
    fn a_zero_tls_reload_interval_is_refused_at_start_up() {
        let err = Args::try_parse_from(["p", "--tls-reload-interval=0s"])
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("must be greater than zero"), "{err}");
    }

    #[test]
    fn proxy_values_never_show_in_help() {
        let help = Args::command().render_long_help().to_string();
        for flag in ["--https-proxy", "--no-proxy"] {
            assert!(help.contains(flag), "{help}");
        }
        // clap prints `[env: NAME=value]` for a set variable unless its value is hidden; the proxy URL may
        // carry a user name and password.
        for arg in Args::command().get_arguments() {
            if matches!(arg.get_id().as_str(), "https_proxy" | "no_proxy") {
                assert!(
                    arg.is_hide_env_values_set(),
                    "{} shows its environment value",
                    arg.get_id()
                );
            }
        }
    }

    #[test]
    fn tls_files_come_together() {
        assert!(Args::try_parse_from(["p", "--tls-cert-file", "c"]).is_err());
        assert!(
            Args::try_parse_from([
                "p",
                "--tls-cert-file",
                "c",
                "--plaintext",
                "--tls-key-file",
                "k",
                "--tls-client-ca-file",
                "ca"
            ])
            .is_err()
        );
        let a =
            Args::try_parse_from(["p", "--health-addr", "0", "--metrics-addr", "127.0.0.1:9000"]).unwrap();
        assert_eq!(a.health_addr, ListenAddr(None));
        assert_eq!(
            a.metrics_addr,
            ListenAddr(Some("127.0.0.1:9000".parse().unwrap()))
        );
    }
}

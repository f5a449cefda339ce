//! Process wiring: the gRPC server on a Unix socket (mutual TLS unless plaintext is asked for), the HTTP
//! health and metrics endpoints, certificate reloading and graceful shutdown.

use std::io;
use std::net::SocketAddr;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};
use futures::{Stream, StreamExt};
use provider_proto::ssers::change_detection_server::ChangeDetectionServer;
use provider_proto::v1alpha1::csi_driver_provider_server::CsiDriverProviderServer;
use sse_tls::{ServerTls, TlsFiles};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, UnixListener};
use tokio_stream::wrappers::{ReceiverStream, TcpListenerStream, UnixListenerStream};
use tokio_util::sync::CancellationToken;
use tonic::transport::server::{Connected, Router};

use crate::args::Args;
use crate::changes::{ChangeConfig, ChangeDetector};
use crate::keyvault::{KeyVault, KeyVaultConfig};
use crate::metrics::Metrics;
use crate::mount::{MountConfig, Mounter};
use crate::service::{ChangeService, ProviderService};

/// Where the gRPC server listens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// A Unix domain socket.
    Unix(PathBuf),
    /// A TCP address (debugging).
    Tcp(SocketAddr),
}

impl Endpoint {
    /// Parse `unix://<path>` or `tcp://<host:port>` (scheme case-insensitive).
    pub fn parse(endpoint: &str) -> anyhow::Result<Self> {
        let invalid = || anyhow::anyhow!("invalid endpoint: {endpoint}");
        let (scheme, rest) = endpoint.split_once("://").ok_or_else(invalid)?;
        match scheme.to_ascii_lowercase().as_str() {
            "unix" if !rest.is_empty() => Ok(Self::Unix(PathBuf::from(rest))),
            "tcp" => rest.parse().map(Self::Tcp).map_err(|_| invalid()),
            _ => Err(invalid()),
        }
    }
}

/// Bind a Unix socket that only its owner can use. A stale socket left by a previous run is removed; any
/// other file at that path is an error. The socket is bound inside a private (0700) directory, chmod-ed to
/// 0600 and only then renamed into place, so it is never reachable with looser permissions.
pub fn bind_private_socket(path: &Path) -> anyhow::Result<UnixListener> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => {
            std::fs::remove_file(path).with_context(|| format!("remove stale socket {}", path.display()))?;
        }
        Ok(_) => bail!(
            "refusing to replace {}: it exists and is not a socket",
            path.display()
        ),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("stat {}", path.display())),
    }
    let parent = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).with_context(|| format!("create {}", parent.display()))?;
    let staging = parent.join(format!(".provider-azure-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir(&staging).with_context(|| format!("create {}", staging.display()))?;
    std::fs::set_permissions(&staging, std::fs::Permissions::from_mode(0o700))?;
    let staged = staging.join("s.sock");
    let result = (|| {
        let listener = UnixListener::bind(&staged).with_context(|| format!("bind {}", staged.display()))?;
        std::fs::set_permissions(&staged, std::fs::Permissions::from_mode(0o600))?;
        std::fs::rename(&staged, path).with_context(|| format!("move socket to {}", path.display()))?;
        Ok(listener)
    })();
    let _ = std::fs::remove_dir_all(&staging);
    result
}

/// Serve `router` on the connections of `incoming` (a Unix or TCP listener) until `shutdown`: through mutual
/// TLS when `tls` is set, as they come otherwise.
fn serve<IO>(
    router: Router,
    incoming: impl Stream<Item = io::Result<IO>> + Send + Unpin + 'static,
    tls: Option<ServerTls>,
    shutdown: CancellationToken,
) -> tokio::task::JoinHandle<Result<(), tonic::transport::Error>>
where
    IO: Connected + AsyncRead + AsyncWrite + Unpin + Send + 'static,
    IO::ConnectInfo: Clone + Send + Sync + 'static,
{
    let stop = shutdown.clone().cancelled_owned();
    match tls {
        Some(tls) => {
            tokio::spawn(router.serve_with_incoming_shutdown(tls_incoming(incoming, tls, shutdown), stop))
        }
        None => tokio::spawn(router.serve_with_incoming_shutdown(incoming, stop)),
    }
}

/// Accept connections, run the TLS handshake off the accept loop, and yield only authenticated streams.
fn tls_incoming<IO>(
    mut incoming: impl Stream<Item = io::Result<IO>> + Send + Unpin + 'static,
    tls: ServerTls,
    shutdown: CancellationToken,
) -> ReceiverStream<io::Result<tokio_rustls::server::TlsStream<IO>>>
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    tokio::spawn(async move {
        loop {
            let io = tokio::select! {
                () = shutdown.cancelled() => return,
                io = incoming.next() => io,
            };
            let io = match io {
                Some(Ok(io)) => io,
                Some(Err(error)) => {
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
                None => return,
            };
            let acceptor = tls.acceptor();
            let tx = tx.clone();
            tokio::spawn(async move {
                match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(io)).await {
                    Ok(Ok(stream)) => {
                        let _ = tx.send(Ok(stream)).await;
                    }
                    Ok(Err(error)) => tracing::warn!(%error, "TLS handshake refused"),
                    Err(_) => tracing::warn!("TLS handshake timed out"),
                }
            });
        }
    });
    ReceiverStream::new(rx)
}

/// A running provider (for tests and the binary).
pub struct Running {
    /// Resolves when every server task has stopped.
    pub done: tokio::task::JoinHandle<anyhow::Result<()>>,
    /// Cancel to shut down gracefully.
    pub shutdown: CancellationToken,
    /// Actual HTTP health address, when enabled.
    pub health_addr: Option<SocketAddr>,
    /// Actual metrics address, when enabled.
    pub metrics_addr: Option<SocketAddr>,
    /// Actual gRPC TCP address, for a `tcp://` endpoint.
    pub grpc_tcp_addr: Option<SocketAddr>,
    /// Changes each time rotated TLS files are loaded (with TLS only).
    pub tls_reloads: Option<tokio::sync::watch::Receiver<u64>>,
}

/// Start everything `args` describes; returns once the listeners are bound.
pub async fn start(args: Args) -> anyhow::Result<Running> {
    sse_tls::install_crypto_provider();
    let Args {
        endpoint,
        tls_cert_file,
        tls_key_file,
        tls_client_ca_file,
        tls_client_name,
        plaintext,
        tls_reload_interval,
        health_addr,
        healthz_path,
        metrics_addr,
        construct_pem_chain,
        write_cert_and_key_in_separate_files,
        cloud_name,
        cloud_env_file,
        https_proxy,
        no_proxy,
        keyvault_ca_file,
        fetch_concurrency,
        max_keyvault_requests,
        max_retries,
        mount_timeout,
        vault_requests_per_10s,
        vault_failures_before_failing_fast,
        vault_failing_fast_cooldown,
        change_detection,
        change_settle,
        log_format: _,
        log_level: _,
    } = args;

    let endpoint = Endpoint::parse(&endpoint)?;
    if let Endpoint::Tcp(addr) = &endpoint
        && plaintext
        && !addr.ip().is_loopback()
    {
        bail!(
            "refusing to serve plaintext gRPC on {addr}: Mount would be reachable without authentication; use a loopback address or mutual TLS"
        );
    }
    let default_cloud = crate::params::DefaultCloud {
        name: cloud_name,
        env_file: cloud_env_file
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
    };
    if !default_cloud.env_file.is_empty() && !default_cloud.name.eq_ignore_ascii_case("AzureStackCloud") {
        tracing::warn!(
            cloud = %default_cloud.name,
            "--cloud-env-file applies to AzureStackCloud only: ignored with this --cloud-name"
        );
    }
    if !default_cloud.name.eq_ignore_ascii_case("AzureStackCloud") || !default_cloud.env_file.is_empty() {
        crate::cloud::Cloud::resolve(&default_cloud.name, &default_cloud.env_file)
            .map_err(|e| anyhow::anyhow!("--cloud-name: {e}"))?;
    }
    let tls = match (tls_cert_file, tls_key_file, tls_client_ca_file, plaintext) {
        (Some(cert), Some(key), Some(ca), false) => {
            let names: Vec<String> = tls_client_name
                .into_iter()
                .map(|n| n.trim().to_string())
                .filter(|n| !n.is_empty())
                .collect();
            if names.is_empty() {
                tracing::warn!(
                    "--tls-client-name is empty: any client certificate from the CA bundle is accepted"
                );
            }
            Some(ServerTls::load(&TlsFiles { cert, key, ca }, &names).context("load TLS files")?)
        }
        (None, None, None, true) => None,
        _ => bail!(
            "mutual TLS needs --tls-cert-file, --tls-key-file and --tls-client-ca-file; pass --plaintext to serve without TLS"
        ),
    };

    let extra_roots_pem = keyvault_ca_file
        .map(|p| std::fs::read(&p).with_context(|| format!("read {}", p.display())))
        .transpose()?;
    let metrics = Metrics::default();
    let keyvault = KeyVault::new(
        &KeyVaultConfig {
            max_in_flight: max_keyvault_requests,
            max_retries,
            extra_roots_pem,
            proxy: https_proxy.filter(|url| !url.trim().is_empty()).map(|url| {
                sse_runtime::outbound::OutboundProxy {
                    url: url.trim().to_string(),
                    no_proxy: no_proxy.unwrap_or_default(),
                }
            }),
            breaker: crate::keyvault::BreakerConfig {
                threshold: vault_failures_before_failing_fast,
                cooldown: vault_failing_fast_cooldown,
                ..crate::keyvault::BreakerConfig::default()
            },
            budget: crate::keyvault::Budget {
                requests: vault_requests_per_10s,
                period: Duration::from_secs(10),
            },
            ..KeyVaultConfig::default()
        },
        metrics.clone(),
    )?;
    let keyvault = Arc::new(keyvault);
    let detector = change_detection.then(|| {
        Arc::new(ChangeDetector::new(
            ChangeConfig {
                settle: change_settle,
                default_cloud: default_cloud.clone(),
                ..ChangeConfig::default()
            },
            keyvault.clone(),
        ))
    });
    let changes = detector
        .clone()
        .map(|detector| ChangeDetectionServer::new(ChangeService::new(detector, metrics.clone())));
    let mut mounter = Mounter::new(
        MountConfig {
            default_cloud,
            construct_pem_chain,
            separate_cert_and_key: write_cert_and_key_in_separate_files,
            fetch_concurrency,
        },
        keyvault,
    );
    if let Some(detector) = detector {
        mounter = mounter.with_detector(detector);
    }
    let mounter = Arc::new(mounter);
    let service = CsiDriverProviderServer::new(ProviderService::new(mounter, metrics.clone()));
    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    health_reporter
        .set_serving::<CsiDriverProviderServer<ProviderService>>()
        .await;

    let shutdown = CancellationToken::new();
    let serving = Arc::new(AtomicBool::new(false));
    let router = tonic::transport::Server::builder()
        .timeout(mount_timeout)
        .add_service(health_service)
        .add_service(service)
        .add_optional_service(changes);

    let (grpc, socket_path, grpc_tcp_addr) = match endpoint {
        Endpoint::Unix(path) => {
            let listener = UnixListenerStream::new(bind_private_socket(&path)?);
            let grpc = serve(router, listener, tls.clone(), shutdown.clone());
            (grpc, Some(path), None)
        }
        Endpoint::Tcp(addr) => {
            let listener = TcpListener::bind(addr).await?;
            let local = listener.local_addr()?;
            let grpc = serve(
                router,
                TcpListenerStream::new(listener),
                tls.clone(),
                shutdown.clone(),
            );
            (grpc, None, Some(local))
        }
    };
    serving.store(true, Ordering::Release);
    tracing::info!(socket = ?socket_path, tcp = ?grpc_tcp_addr, tls = tls.is_some(), "serving v1alpha1.CSIDriverProvider");

    let tls_reloads = tls.as_ref().map(|t| t.reloader().subscribe());
    let reloader = tls.map(|t| {
        t.reloader()
            .spawn_polling(tls_reload_interval, shutdown.clone().cancelled_owned())
    });

    let health = HealthState {
        serving: serving.clone(),
        socket: socket_path.clone(),
    };
    let (health_addr, health_task) = match health_addr.0 {
        Some(addr) => {
            let routes = axum::Router::new().route(
                &healthz_path,
                axum::routing::get(move || {
                    let health = health.clone();
                    async move { health.check() }
                }),
            );
            let (addr, task) = sse_runtime::admin::serve(addr, routes, shutdown.clone()).await?;
            (Some(addr), Some(task))
        }
        None => (None, None),
    };
    let (metrics_addr, metrics_task) = match metrics_addr.0 {
        Some(addr) => {
            let routes = sse_runtime::metrics::route(metrics.registry());
            let (addr, task) = sse_runtime::admin::serve(addr, routes, shutdown.clone()).await?;
            (Some(addr), Some(task))
        }
        None => (None, None),
    };

    let done = tokio::spawn(async move {
        let result = grpc.await.context("gRPC server task")?.context("gRPC server");
        serving.store(false, Ordering::Release);
        for task in [health_task, metrics_task].into_iter().flatten() {
            let _ = task.await;
        }
        if let Some(r) = reloader {
            let _ = r.await;
        }
        if let Some(path) = socket_path {
            let _ = std::fs::remove_file(path);
        }
        result
    });
    Ok(Running {
        done,
        shutdown,
        health_addr,
        metrics_addr,
        grpc_tcp_addr,
        tls_reloads,
    })
}

#[derive(Clone)]
struct HealthState {
    serving: Arc<AtomicBool>,
    socket: Option<PathBuf>,
}

impl HealthState {
    /// Healthy while the gRPC server runs and its socket is still in place (a deleted socket cannot be
    /// reached again without a restart).
    fn check(&self) -> (http::StatusCode, String) {
        if !self.serving.load(Ordering::Acquire) {
            return (
                http::StatusCode::SERVICE_UNAVAILABLE,
                "gRPC server is not serving".into(),
            );
        }
        if let Some(path) = &self.socket {
            match std::fs::symlink_metadata(path) {
                Ok(m) if m.file_type().is_socket() => {}
                _ => {
                    return (
                        http::StatusCode::SERVICE_UNAVAILABLE,
                        format!("socket {} is missing", path.display()),
                    );
                }
            }
        }
        (http::StatusCode::OK, "ok".into())
    }
}

/// Run until SIGTERM or SIGINT, then drain in-flight requests. A second signal exits at once.
pub async fn run(args: Args) -> anyhow::Result<()> {
    let signals = sse_runtime::shutdown::on_signals("draining in-flight requests");
    let running = start(args).await?;
    let shutdown = running.shutdown.clone();
    tokio::spawn(async move {
        signals.cancelled().await;
        shutdown.cancel();
    });
    running.done.await.context("server task")?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints() {
        assert_eq!(
            Endpoint::parse("unix:///provider/azure.sock").unwrap(),
            Endpoint::Unix("/provider/azure.sock".into())
        );
        assert_eq!(
            Endpoint::parse("UNIX:///tmp/a.sock").unwrap(),
            Endpoint::Unix("/tmp/a.sock".into())
        );
        assert_eq!(
            Endpoint::parse("tcp://127.0.0.1:9000").unwrap(),
            Endpoint::Tcp("127.0.0.1:9000".parse().unwrap())
        );
        for bad in ["http://x", "unix://", "tcp://nope", "/tmp/a.sock"] {
            assert_eq!(
                Endpoint::parse(bad).unwrap_err().to_string(),
                format!("invalid endpoint: {bad}")
            );
        }
    }

    #[tokio::test]
    async fn socket_is_owner_only_and_replaces_only_sockets() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("azure.sock");
        let first = bind_private_socket(&path).unwrap();
        drop(first);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        // A stale socket is replaced.
        let _second = bind_private_socket(&path).unwrap();
        // A regular file is not.
        let file = dir.path().join("not-a-socket");
        std::fs::write(&file, b"keep me").unwrap();
        let err = bind_private_socket(&file).unwrap_err().to_string();
        assert!(err.contains("is not a socket"), "{err}");
        assert_eq!(std::fs::read(&file).unwrap(), b"keep me");
    }
}

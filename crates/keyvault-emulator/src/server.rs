//! The TLS accept loop: TCP → rustls (ALPN `h2`, `http/1.1`) → hyper (auto HTTP/1.1 or HTTP/2) → the axum
//! router, one task per connection.
//!
//! Outage mode ([`crate::Faults::set_outage`]) is enforced here: new TCP connections are closed right after
//! accept, and every open connection is dropped (mid-request if need be) when the outage starts, so pooled
//! client connections see the outage too. Shutdown stops accepting and asks each connection to finish
//! gracefully.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::Faults;

/// Longest a TLS handshake may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Longest an open connection gets to finish after shutdown was requested.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// A TLS acceptor for the server certificate, offering `h2` and `http/1.1`.
pub(crate) fn tls_acceptor(cert_pem: &str, key_pem: &str) -> anyhow::Result<TlsAcceptor> {
    let certs = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .context("parsing the server certificate PEM")?;
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).context("parsing the server key PEM")?;
    let mut config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .context("building the TLS server configuration")?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Accept connections until `cancel` fires.
pub(crate) async fn accept_loop(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    router: Router,
    faults: Faults,
    cancel: CancellationToken,
    tracker: TaskTracker,
) {
    loop {
        let accepted = tokio::select! {
            () = cancel.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let (tcp, peer) = match accepted {
            Ok(conn) => conn,
            Err(err) => {
                // Typically EMFILE or a connection reset before accept; keep serving.
                tracing::warn!(%err, "accept failed");
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        if faults.outage() {
            tracing::debug!(%peer, "outage: closing connection on accept");
            drop(tcp);
            continue;
        }
        let _ = tcp.set_nodelay(true);
        tracker.spawn(connection(
            tcp,
            acceptor.clone(),
            router.clone(),
            faults.clone(),
            cancel.clone(),
        ));
    }
    tracing::debug!("accept loop stopped");
}

async fn connection(
    tcp: TcpStream,
    acceptor: TlsAcceptor,
    router: Router,
    faults: Faults,
    cancel: CancellationToken,
) {
    let mut outage = faults.watch_outage();
    let tls = tokio::select! {
        biased;
        () = cancel.cancelled() => return,
        () = outage_started(&mut outage) => return,
        handshake = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)) => match handshake {
            Ok(Ok(tls)) => tls,
            Ok(Err(err)) => {
                tracing::debug!(%err, "TLS handshake failed");
                return;
            }
            Err(_) => {
                tracing::debug!("TLS handshake timed out");
                return;
            }
        },
    };

    let builder = auto::Builder::new(TokioExecutor::new());
    let conn = builder.serve_connection_with_upgrades(TokioIo::new(tls), TowerToHyperService::new(router));
    tokio::pin!(conn);
    // Biased: once an outage has started, a request arriving on this connection must not be served.
    tokio::select! {
        biased;
        () = outage_started(&mut outage) => {
            tracing::debug!("outage: dropping open connection");
        }
        result = conn.as_mut() => {
            if let Err(err) = result {
                tracing::debug!(%err, "connection ended with an error");
            }
        }
        () = cancel.cancelled() => {
            conn.as_mut().graceful_shutdown();
            if tokio::time::timeout(DRAIN_TIMEOUT, conn.as_mut()).await.is_err() {
                tracing::debug!("connection did not drain in time");
            }
        }
    }
}

/// Resolves when an outage starts (never, if the fault handle is gone).
async fn outage_started(outage: &mut watch::Receiver<bool>) {
    if outage.wait_for(|on| *on).await.is_err() {
        std::future::pending::<()>().await;
    }
}

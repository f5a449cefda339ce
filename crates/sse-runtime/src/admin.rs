//! The admin HTTP server: health, readiness, debug and metrics routes, whichever a binary mounts.

use std::net::SocketAddr;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// A running HTTP server: its bound address and its task.
pub type Served = (SocketAddr, JoinHandle<()>);

/// The address could not be bound.
#[derive(Debug, thiserror::Error)]
#[error("bind {addr}")]
pub struct BindError {
    /// The address asked for.
    pub addr: SocketAddr,
    /// Why.
    #[source]
    pub source: std::io::Error,
}

/// Serve `routes` on `addr` until `shutdown` is cancelled, then let open requests finish. Returns once the
/// listener is bound, with the actual address (for port `0`) and the server's task.
pub async fn serve(
    addr: SocketAddr,
    routes: axum::Router,
    shutdown: CancellationToken,
) -> Result<Served, BindError> {
    let bind_error = |source| BindError { addr, source };
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(bind_error)?;
    let local = listener.local_addr().map_err(bind_error)?;
    let task = tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, routes)
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await
        {
            tracing::error!(%error, "HTTP server failed");
        }
    });
    Ok((local, task))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A raw HTTP/1.1 GET: the status line, headers and body.
    pub(crate) async fn get(addr: SocketAddr, path: &str) -> String {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        stream
            .write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes())
            .await
            .unwrap();
        let mut out = String::new();
        stream.read_to_string(&mut out).await.unwrap();
        out
    }

    #[tokio::test]
    async fn serves_until_shutdown() {
        let shutdown = CancellationToken::new();
        let routes = axum::Router::new().route("/healthz", axum::routing::get(|| async { "ok" }));
        let (addr, task) = serve("127.0.0.1:0".parse().unwrap(), routes, shutdown.clone())
            .await
            .unwrap();
        let answer = get(addr, "/healthz").await;
        assert!(
            answer.starts_with("HTTP/1.1 200") && answer.ends_with("ok"),
            "{answer}"
        );
        assert!(get(addr, "/nope").await.starts_with("HTTP/1.1 404"));
        shutdown.cancel();
        task.await.unwrap();
    }

    #[tokio::test]
    async fn a_taken_address_names_itself() {
        let taken = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = taken.local_addr().unwrap();
        let error = serve(addr, axum::Router::new(), CancellationToken::new())
            .await
            .unwrap_err();
        assert_eq!(error.to_string(), format!("bind {addr}"));
    }
}

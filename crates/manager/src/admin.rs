//! `/healthz`, `/readyz`, `/metrics` and `/debug/secretsyncs`, served by [`sse_runtime::admin::serve`].
//!
//! The debug report names every SecretSync and Secret of the cluster, so it has a server of its own, bound
//! to loopback by default (`--debug-bind-address`): reached with `kubectl port-forward`, never from the pod
//! network, unlike the probes (the kubelet) and the metrics (Prometheus).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::routing::get;
pub use sse_runtime::admin::{BindError, Served};
use tokio_util::sync::CancellationToken;

use crate::metrics::Metrics;

/// Produces the `/debug/secretsyncs` report, as JSON.
pub type Report = Arc<dyn Fn() -> Vec<u8> + Send + Sync>;

/// Serve the probe endpoints on `addr`: `/healthz` while the process runs, `/readyz` once `ready`.
pub async fn serve_probes(
    addr: SocketAddr,
    ready: Arc<AtomicBool>,
    shutdown: CancellationToken,
) -> Result<Served, BindError> {
    let routes = axum::Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/readyz",
            get(move || {
                let ready = ready.load(Ordering::Acquire);
                async move {
                    if ready {
                        (http::StatusCode::OK, "ok")
                    } else {
                        (http::StatusCode::SERVICE_UNAVAILABLE, "caches not synced yet")
                    }
                }
            }),
        );
    sse_runtime::admin::serve(addr, routes, shutdown).await
}

/// Serve `/debug/secretsyncs` on `addr` (last and next check of every SecretSync; names and times only).
/// A warning is logged when `addr` is not a loopback address: the report then leaves the pod.
pub async fn serve_debug(
    addr: SocketAddr,
    report: Report,
    shutdown: CancellationToken,
) -> Result<Served, BindError> {
    if !addr.ip().is_loopback() {
        tracing::warn!(%addr, "the debug report (every SecretSync's and Secret's name) is served beyond loopback");
    }
    let routes = axum::Router::new().route(
        "/debug/secretsyncs",
        get(move || {
            let body = report();
            async move { ([(http::header::CONTENT_TYPE, "application/json")], body) }
        }),
    );
    sse_runtime::admin::serve(addr, routes, shutdown).await
}

/// Serve `/metrics` on `addr`.
pub async fn serve_metrics(
    addr: SocketAddr,
    metrics: Metrics,
    shutdown: CancellationToken,
) -> Result<Served, BindError> {
    sse_runtime::admin::serve(addr, sse_runtime::metrics::route(metrics.registry()), shutdown).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn get(addr: SocketAddr, path: &str) -> String {
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
    async fn probes_and_metrics() {
        let shutdown = CancellationToken::new();
        let ready = Arc::new(AtomicBool::new(false));
        let report: Report = Arc::new(|| {
            serde_json::to_vec(
                &serde_json::json!([{"secretSync": "app/db", "nextCheckTime": "2030-01-01T00:00:00Z"}]),
            )
            .unwrap()
        });
        let (probes, probes_task) =
            serve_probes("127.0.0.1:0".parse().unwrap(), ready.clone(), shutdown.clone())
                .await
                .unwrap();
        let (debug, debug_task) = serve_debug("127.0.0.1:0".parse().unwrap(), report, shutdown.clone())
            .await
            .unwrap();
        assert!(
            get(probes, "/debug/secretsyncs")
                .await
                .starts_with("HTTP/1.1 404"),
            "the probes, reachable from the pod network, do not name the SecretSyncs"
        );
        let report = get(debug, "/debug/secretsyncs").await;
        assert!(report.contains("\"secretSync\":\"app/db\""), "{report}");
        assert!(
            report
                .to_ascii_lowercase()
                .contains("content-type: application/json"),
            "{report}"
        );
        assert!(get(probes, "/healthz").await.starts_with("HTTP/1.1 200"));
        assert!(
            get(probes, "/readyz").await.starts_with("HTTP/1.1 503"),
            "not ready before the caches synced"
        );
        ready.store(true, Ordering::Release);
        assert!(get(probes, "/readyz").await.starts_with("HTTP/1.1 200"));

        let metrics = Metrics::default();
        metrics.sync(
            sse_api::Reason::CreateSucceeded,
            std::time::Duration::from_millis(5),
        );
        let (addr, metrics_task) = serve_metrics("127.0.0.1:0".parse().unwrap(), metrics, shutdown.clone())
            .await
            .unwrap();
        let body = get(addr, "/metrics").await;
        assert!(
            body.contains("secretsync_syncs_total{reason=\"CreateSucceeded\"} 1"),
            "{body}"
        );
        assert!(
            body.contains("secretsync_sync_duration_seconds_count 1"),
            "{body}"
        );

        shutdown.cancel();
        probes_task.await.unwrap();
        debug_task.await.unwrap();
        metrics_task.await.unwrap();
    }
}

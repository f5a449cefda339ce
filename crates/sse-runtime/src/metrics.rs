//! The `/metrics` route: a `prometheus_client` registry in the OpenMetrics text format.

use std::sync::Arc;

use prometheus_client::registry::Registry;

/// `Content-Type` of the exposition.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The registry in the text exposition format.
pub fn encode(registry: &Registry) -> String {
    let mut out = String::new();
    // Writing into a String cannot fail.
    let _ = prometheus_client::encoding::text::encode(&mut out, registry);
    out
}

/// A router answering `GET /metrics` with `registry`, for [`crate::admin::serve`].
pub fn route(registry: Arc<Registry>) -> axum::Router {
    axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let body = encode(&registry);
            async move { ([(http::header::CONTENT_TYPE, CONTENT_TYPE)], body) }
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus_client::metrics::counter::Counter;
    use tokio_util::sync::CancellationToken;

    #[tokio::test]
    async fn metrics_route_serves_the_registry() {
        let mut registry = Registry::default();
        let counter = Counter::<u64>::default();
        registry.register("things", "Things seen", counter.clone());
        counter.inc();
        let shutdown = CancellationToken::new();
        let (addr, task) = crate::admin::serve(
            "127.0.0.1:0".parse().unwrap(),
            route(Arc::new(registry)),
            shutdown.clone(),
        )
        .await
        .unwrap();
        let answer = crate::admin::tests::get(addr, "/metrics").await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(
            answer.contains(&format!("content-type: {CONTENT_TYPE}")),
            "{answer}"
        );
        assert!(answer.contains("things_total 1"), "{answer}");
        assert!(answer.ends_with("# EOF\n"), "{answer}");
        shutdown.cancel();
        task.await.unwrap();
    }
}

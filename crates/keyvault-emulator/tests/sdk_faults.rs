//! Throttling, injected faults, an outage and the request counters, as the official Azure SDK for Rust
//! meets them (with the raw 429 envelope the SDK hides).

#![allow(clippy::unwrap_used, reason = "test helpers outside #[test] functions")]

mod common;

use std::time::{Duration, Instant};

use azure_core::error::ErrorKind;
use azure_core::http::{RetryOptions, StatusCode};
use azure_security_keyvault_secrets::models::SecretClientListSecretPropertiesVersionsOptions;
use common::*;
use futures::TryStreamExt as _;
use keyvault_emulator::Throttle;

#[tokio::test]
async fn throttling_429_with_retry_after_and_sdk_retries() {
    let emu = start().await;
    let http = http(&emu, &[VAULT]);
    let id = identity(&emu, &http);
    emu.store().set_secret(VAULT, "s", "v");
    let client = secret_client(&emu, &http, &id, RetryOptions::default());
    client.get_secret("s", None).await.unwrap(); // challenge + token, outside the window below

    emu.faults().set_throttle(Throttle {
        limit: 3,
        window: Duration::from_secs(1),
        retry_after: Some(Duration::from_secs(1)),
    });
    emu.reset_counters();
    for _ in 0..3 {
        client.get_secret("s", None).await.unwrap();
    }
    let started = Instant::now();
    let s = client.get_secret("s", None).await.unwrap().into_model().unwrap();
    assert_eq!(s.value.as_deref(), Some("v"));
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "the SDK honoured Retry-After"
    );
    let counters = emu.counters();
    assert_eq!(counters.get("throttled"), Some(&1), "{counters:?}");
    assert_eq!(counters.get("secrets.get"), Some(&5), "{counters:?}");

    // Raw: the 429 envelope and header; and no header when retry_after is None.
    let token = access_token(&id).await;
    let url = format!("{}/secrets/s/?api-version=2025-07-01", emu.vault_url(VAULT));
    for retry_after in [Some(Duration::from_secs(7)), None] {
        emu.faults().set_throttle(Throttle {
            limit: 0,
            window: Duration::from_secs(10),
            retry_after,
        });
        let resp = http.get(&url).bearer_auth(&token).send().await.unwrap();
        assert_eq!(resp.status(), 429);
        assert_eq!(
            resp.headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_string()),
            retry_after.map(|_| "7".to_string())
        );
        let body: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(body["error"]["code"], "Throttled");
        assert_eq!(
            body["error"]["message"],
            "Request was not processed because too many requests were received. Reason: VaultRequestTypeLimitReached"
        );
    }
}

#[tokio::test]
async fn injected_5xx_are_retried_by_the_sdk() {
    let emu = start().await;
    let http = http(&emu, &[VAULT]);
    let id = identity(&emu, &http);
    emu.store().set_secret(VAULT, "s", "v");
    let client = secret_client(&emu, &http, &id, fast_retry(3));
    client.get_secret("s", None).await.unwrap();

    emu.reset_counters();
    emu.faults().fail_next(2, 503);
    let s = client.get_secret("s", None).await.unwrap().into_model().unwrap();
    assert_eq!(s.value.as_deref(), Some("v"));
    let counters = emu.counters();
    assert_eq!(counters.get("fault"), Some(&2), "{counters:?}");
    assert_eq!(counters.get("secrets.get"), Some(&3), "{counters:?}");

    // More failures than retries: the SDK gives up with the injected status.
    let no_retry = secret_client(&emu, &http, &id, fast_retry(0));
    no_retry.get_secret("s", None).await.unwrap();
    emu.faults().fail_next(1, 500);
    let err = no_retry.get_secret("s", None).await.unwrap_err();
    assert_eq!(err.http_status(), Some(StatusCode::InternalServerError));
    assert!(raw_body(&err).contains("\"code\":\"InternalServerError\""));
}

#[tokio::test]
async fn outage_closes_connections_and_recovers() {
    let emu = start().await;
    let http = http(&emu, &[VAULT]);
    let id = identity(&emu, &http);
    emu.store().set_secret(VAULT, "s", "v");
    let client = secret_client(&emu, &http, &id, fast_retry(1));
    client.get_secret("s", None).await.unwrap(); // a pooled connection now exists

    emu.faults().set_outage(true);
    let err = client.get_secret("s", None).await.unwrap_err();
    assert_eq!(
        err.http_status(),
        None,
        "transport error, not an HTTP answer: {err:?}"
    );
    assert!(
        matches!(err.kind(), ErrorKind::Io | ErrorKind::Connection),
        "{:?}: {err}",
        err.kind()
    );
    // A raw client cannot complete a TLS handshake either.
    let raw = http
        .get(format!(
            "{}/secrets/s/?api-version=2025-07-01",
            emu.vault_url(VAULT)
        ))
        .send()
        .await;
    assert!(raw.is_err());

    emu.faults().set_outage(false);
    let s = client.get_secret("s", None).await.unwrap().into_model().unwrap();
    assert_eq!(s.value.as_deref(), Some("v"));
    emu.shutdown().await;
}

#[tokio::test]
async fn counters_count_each_request_once() {
    let emu = start().await;
    let http = http(&emu, &[VAULT]);
    let id = identity(&emu, &http);
    for i in 0..3 {
        emu.store().set_secret(VAULT, "s", &format!("v{i}"));
    }
    let client = secret_client(&emu, &http, &id, RetryOptions::default());

    client.get_secret("s", None).await.unwrap(); // 401 challenge, token, retry with bearer
    let _: Vec<_> = client
        .list_secret_properties_versions(
            "s",
            Some(SecretClientListSecretPropertiesVersionsOptions {
                maxresults: Some(1),
                ..Default::default()
            }),
        )
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    client.set_secret("s", set_params("v3"), None).await.unwrap();
    let _: Vec<_> = client
        .list_secret_properties(None)
        .unwrap()
        .try_collect()
        .await
        .unwrap();

    let expected: std::collections::BTreeMap<String, u64> = [
        ("challenge", 1),
        ("entra.token", 1),
        ("secrets.get", 2),
        ("secrets.list_versions", 3),
        ("secrets.set", 1),
        ("secrets.list", 1),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    assert_eq!(emu.counters(), expected);
    emu.reset_counters();
    assert!(emu.counters().is_empty());
}

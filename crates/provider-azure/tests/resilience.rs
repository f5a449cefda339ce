//! Tier 2: the provider facing Entra and Key Vault at their worst: tokens cached per identity, identical
//! in-flight fetches coalesced, throttling and server errors retried, the caller's deadline, an outage.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

mod common;

use std::time::Duration;

use common::*;
use keyvault_emulator::{FederatedCredential, Throttle};

#[tokio::test]
async fn entra_tokens_are_cached_per_identity() {
    let h = Harness::start().await;
    for name in ["a", "b", "c"] {
        h.emulator.store().set_secret(VAULT, name, name);
    }
    let objects = [
        "objectName: a\nobjectType: secret",
        "objectName: b\nobjectType: secret",
        "objectName: c\nobjectType: secret",
    ];
    h.mount_objects(&objects).await.unwrap();
    let cold = h.emulator.counters();
    assert_eq!(cold.get("entra.token"), Some(&1), "{cold:?}");
    assert_eq!(
        cold.get("challenge"),
        Some(&1),
        "one bearer challenge per client: {cold:?}"
    );
    for _ in 0..3 {
        h.mount_objects(&objects).await.unwrap();
    }
    let warm = h.emulator.counters();
    assert_eq!(
        warm.get("entra.token"),
        Some(&1),
        "no exchange per Mount: {warm:?}"
    );
    // Every GET the emulator saw, the one unauthenticated challenge request included.
    assert_eq!(warm.get("secrets.get"), Some(&(12 + 1)), "{warm:?}");

    // Another service account with its own federated credential gets its own token.
    h.emulator.entra().add_federated_credential(
        TENANT,
        CLIENT_ID,
        FederatedCredential {
            issuer: ISSUER.into(),
            subject: "system:serviceaccount:other:sa".into(),
            audience: AUDIENCE.into(),
        },
    );
    let other = h.attributes(
        &objects[..1],
        &[(
            "csi.storage.k8s.io/serviceAccount.tokens",
            &h.tokens_attribute("system:serviceaccount:other:sa"),
        )],
    );
    h.mount(other).await.unwrap();
    assert_eq!(h.emulator.counters().get("entra.token"), Some(&2));
}

#[tokio::test]
async fn identical_in_flight_fetches_are_coalesced_but_not_across_identities() {
    let h = Harness::start().await;
    h.emulator.store().set_secret(VAULT, "shared", "v");
    let objects = ["objectName: shared\nobjectType: secret"];
    h.mount_objects(&objects).await.unwrap(); // warm: token and challenge done
    h.emulator.reset_counters();
    h.emulator.faults().set_latency(Duration::from_millis(300));
    let mounts = (0..16).map(|_| h.mount_objects(&objects));
    let results = futures::future::join_all(mounts).await;
    assert!(results.iter().all(Result::is_ok));
    let gets = h.emulator.counters().get("secrets.get").copied().unwrap_or(0);
    assert!(gets < 16, "16 concurrent identical Mounts made {gets} GETs");

    // The same object for a different identity is fetched separately.
    h.emulator.entra().add_federated_credential(
        TENANT,
        CLIENT_ID,
        FederatedCredential {
            issuer: ISSUER.into(),
            subject: "system:serviceaccount:b:sa".into(),
            audience: AUDIENCE.into(),
        },
    );
    h.emulator.reset_counters();
    let a = h.mount_objects(&objects);
    let b = h.mount(h.attributes(
        &objects,
        &[(
            "csi.storage.k8s.io/serviceAccount.tokens",
            &h.tokens_attribute("system:serviceaccount:b:sa"),
        )],
    ));
    let (a, b) = tokio::join!(a, b);
    a.unwrap();
    b.unwrap();
    let counters = h.emulator.counters();
    // One GET per identity; the new identity's client also answered one challenge first.
    assert_eq!(counters.get("challenge"), Some(&1), "{counters:?}");
    assert_eq!(counters.get("secrets.get"), Some(&(2 + 1)), "{counters:?}");
}

#[tokio::test]
async fn throttling_is_retried_honouring_retry_after() {
    let h = Harness::start().await;
    for name in ["a", "b", "c"] {
        h.emulator.store().set_secret(VAULT, name, name);
    }
    h.emulator.faults().set_throttle(Throttle {
        limit: 2,
        window: Duration::from_secs(1),
        retry_after: Some(Duration::from_secs(1)),
    });
    let response = h
        .mount_objects(&[
            "objectName: a\nobjectType: secret",
            "objectName: b\nobjectType: secret",
            "objectName: c\nobjectType: secret",
        ])
        .await
        .unwrap();
    assert_eq!(response.files.len(), 3);
    assert!(h.emulator.counters().get("throttled").copied().unwrap_or(0) >= 1);
}

/// A vault that throttles every request: the Mount makes one request and `--max-retries` (2 here) retries,
/// each after the `Retry-After` the vault sent, then fails with `RESOURCE_EXHAUSTED` (a transient code the
/// manager backs off from): a 429 storm never becomes a hot loop.
#[tokio::test]
async fn a_vault_throttling_everything_costs_a_bounded_number_of_requests() {
    let h = Harness::start().await;
    h.emulator.store().set_secret(VAULT, "s", "v");
    h.emulator.faults().set_throttle(Throttle {
        limit: 0,
        window: Duration::from_secs(60),
        retry_after: Some(Duration::from_secs(1)),
    });
    h.emulator.reset_counters();
    let started = std::time::Instant::now();
    let status = h
        .mount_objects(&["objectName: s\nobjectType: secret"])
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::ResourceExhausted, "{status:?}");
    assert_eq!(
        h.emulator.counters().get("throttled"),
        Some(&3),
        "one request and two retries"
    );
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "each retry waited the vault's Retry-After (1 s)"
    );
}

#[tokio::test]
async fn server_errors_are_retried() {
    let h = Harness::start().await;
    h.emulator.store().set_secret(VAULT, "s", "v");
    h.mount_objects(&["objectName: s\nobjectType: secret"])
        .await
        .unwrap();
    h.emulator.faults().fail_next(1, 503);
    let response = h
        .mount_objects(&["objectName: s\nobjectType: secret"])
        .await
        .unwrap();
    assert_eq!(text(&response, "s"), "v");
    assert_eq!(h.emulator.counters().get("fault"), Some(&1));
}

#[tokio::test]
async fn the_callers_deadline_bounds_a_mount() {
    let h = Harness::start().await;
    h.emulator.store().set_secret(VAULT, "slow", "v");
    h.emulator.faults().set_latency(Duration::from_secs(30));
    let mut request = tonic::Request::new(provider_proto::v1alpha1::MountRequest {
        attributes: h.attributes(&["objectName: slow\nobjectType: secret"], &[]),
        secrets: "{}".into(),
        target_path: "/mnt/secrets-store".into(),
        permission: "420".into(),
        current_object_version: vec![],
    });
    request.set_timeout(Duration::from_millis(500));
    let started = std::time::Instant::now();
    let status = h.client().mount(request).await.unwrap_err();
    assert!(
        matches!(
            status.code(),
            tonic::Code::DeadlineExceeded | tonic::Code::Cancelled
        ),
        "{status:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[tokio::test]
async fn an_outage_fails_the_mount_with_a_clear_error() {
    let h = Harness::start().await;
    h.emulator.store().set_secret(VAULT, "s", "v");
    h.emulator.faults().set_outage(true);
    let status = h
        .mount_objects(&["objectName: s\nobjectType: secret"])
        .await
        .unwrap_err();
    assert!(
        status.message().starts_with("failed to mount objects, error: "),
        "{}",
        status.message()
    );
    h.emulator.faults().set_outage(false);
    assert!(
        h.mount_objects(&["objectName: s\nobjectType: secret"])
            .await
            .is_ok(),
        "recovers by itself"
    );
}

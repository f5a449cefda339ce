//! Unit tests of the queue rules (time passed in), the publish faults, the Key Vault events and the vault
//! routing, without a server.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use tokio::time::Instant;

use super::events::{Happened, NEAR_EXPIRY_SECS, expiry_due, key_vault_event};
use super::faults::{PublishFaults, camel_case_data};
use super::queue::{Queue, Settle};
use super::{EventGrid, SubscriptionOptions};
use crate::store::NewVersion;
use crate::{CertificateInput, ObjectKind, PublicJwk, SecretInput, Store};

const MINUTE: Duration = Duration::from_secs(60);

fn token(item: &Value) -> String {
    item["brokerProperties"]["lockToken"]
        .as_str()
        .unwrap()
        .to_string()
}

fn count(item: &Value) -> u64 {
    item["brokerProperties"]["deliveryCount"].as_u64().unwrap()
}

fn failed_code(q: &mut Queue, now: Instant, t: &str, how: Settle) -> &'static str {
    let outcome = q.settle(now, &[t.to_string()], how);
    assert!(outcome.succeeded.is_empty(), "{outcome:?}");
    outcome.failed[0].1
}

#[test]
fn lock_expiry_redelivers_with_a_new_token() {
    let t0 = Instant::now();
    let mut q = Queue::new(SubscriptionOptions::default());
    q.push(json!({"id": "a"}), t0);
    q.push(json!({"id": "b"}), t0);
    let first = q.take(t0, 1);
    assert_eq!(first.len(), 1);
    assert_eq!(first[0]["event"]["id"], "a");
    assert_eq!(count(&first[0]), 1);
    assert_eq!(q.next_change(t0), Some(t0 + MINUTE));
    assert_eq!(q.take(t0, 10).len(), 1, "b only: a is locked");
    assert!(q.take(t0, 10).is_empty());
    assert_eq!(q.pending(), 2);

    let later = t0 + MINUTE;
    q.refresh(later);
    let again = q.take(later, 10);
    assert_eq!(again.len(), 2);
    assert_eq!(again[0]["event"]["id"], "a");
    assert_eq!(count(&again[0]), 2);
    assert_eq!(
        failed_code(&mut q, later, &token(&first[0]), Settle::Acknowledge),
        "TokenLost"
    );
    assert_eq!(
        failed_code(&mut q, later, "not-a-token", Settle::Acknowledge),
        "BadToken"
    );

    let outcome = q.settle(later, &[token(&again[0]), token(&again[1])], Settle::Acknowledge);
    assert_eq!(outcome.succeeded.len(), 2);
    assert_eq!(
        failed_code(&mut q, later, &token(&again[0]), Settle::Acknowledge),
        "TokenLost"
    );
    assert_eq!(q.pending(), 0);
    assert_eq!((q.stats.delivered, q.stats.acknowledged), (4, 2));
}

#[test]
fn delivery_count_beyond_the_maximum_dead_letters() {
    let t0 = Instant::now();
    let options = SubscriptionOptions {
        lock_duration: Duration::from_secs(1),
        max_delivery_count: 2,
    };
    let mut q = Queue::new(options);
    q.push(json!({"id": "a"}), t0);
    assert_eq!(count(&q.take(t0, 1)[0]), 1);
    let t1 = t0 + Duration::from_secs(1);
    q.refresh(t1);
    let second = q.take(t1, 1);
    assert_eq!(count(&second[0]), 2);
    // Released after its last delivery: dead-lettered at once.
    let outcome = q.settle(t1, &[token(&second[0])], Settle::Release(Duration::ZERO));
    assert_eq!(outcome.succeeded.len(), 1);
    assert_eq!((q.pending(), q.stats.dead_lettered, q.stats.released), (0, 1, 1));

    q.push(json!({"id": "b"}), t1);
    q.take(t1, 1);
    q.refresh(t1 + Duration::from_secs(1));
    q.take(t1 + Duration::from_secs(1), 1);
    q.refresh(t1 + Duration::from_secs(2));
    assert_eq!((q.pending(), q.stats.dead_lettered), (0, 2));
}

#[test]
fn release_delay_renew_and_reject() {
    let t0 = Instant::now();
    let mut q = Queue::new(SubscriptionOptions::default());
    q.push(json!({"id": "a"}), t0);
    let item = q.take(t0, 1);
    let delay = Duration::from_secs(10);
    q.settle(t0, &[token(&item[0])], Settle::Release(delay));
    assert!(q.take(t0, 1).is_empty());
    assert_eq!(q.next_change(t0), Some(t0 + delay));
    let item = q.take(t0 + delay, 1);
    assert_eq!(count(&item[0]), 2);

    // Renewal moves the lock's end; after an hour from the receive it is refused.
    let t1 = t0 + delay + Duration::from_secs(50);
    assert_eq!(
        q.settle(t1, &[token(&item[0])], Settle::RenewLock)
            .succeeded
            .len(),
        1
    );
    assert_eq!(q.next_change(t1), Some(t1 + MINUTE));
    // Renewed every 50 s (before each lock runs out) until an hour after the receive.
    let received = t0 + delay;
    let mut at = t1;
    loop {
        at += Duration::from_secs(50);
        if at.duration_since(received) >= Duration::from_secs(3600) {
            break;
        }
        let renewed = q.settle(at, &[token(&item[0])], Settle::RenewLock);
        assert_eq!(renewed.succeeded.len(), 1, "{renewed:?}");
    }
    assert_eq!(
        failed_code(&mut q, at, &token(&item[0]), Settle::RenewLock),
        "TokenLost"
    );
    assert_eq!(
        q.settle(at, &[token(&item[0])], Settle::Reject).succeeded.len(),
        1
    );
    assert_eq!((q.pending(), q.stats.rejected, q.stats.lock_renewals), (0, 1, 71));
}

#[test]
fn publish_faults_drop_duplicate_reorder() {
    let mut f = PublishFaults::default();
    let ids = |a: super::faults::Applied| -> Vec<String> {
        a.deliver
            .iter()
            .map(|(_, _, e)| e["id"].as_str().unwrap().to_string())
            .collect()
    };
    f.drop = 1;
    let dropped = f.apply("ns", "t", json!({"id": "1"}));
    assert!(dropped.dropped && dropped.deliver.is_empty());
    f.duplicate = 1;
    assert_eq!(ids(f.apply("ns", "t", json!({"id": "2"}))), ["2", "2"]);
    assert_eq!(ids(f.apply("ns", "t", json!({"id": "3"}))), ["3"]);
    f.reorder = 2;
    assert!(ids(f.apply("ns", "t", json!({"id": "4"}))).is_empty());
    assert!(ids(f.apply("ns", "t", json!({"id": "5"}))).is_empty());
    assert_eq!(ids(f.apply("ns", "t", json!({"id": "6"}))), ["6", "4", "5"]);
    f.reorder = 1;
    f.apply("ns", "t", json!({"id": "7"}));
    assert_eq!(f.clear().len(), 1);
}

#[test]
fn camel_case_lowers_the_first_letter_or_an_acronym() {
    let mut e = json!({"data": {"Id": 1, "VaultName": 2, "NBF": 3, "EXP": null, "ObjectType": 4}});
    camel_case_data(&mut e);
    assert_eq!(
        e["data"],
        json!({"id": 1, "vaultName": 2, "nbf": 3, "exp": null, "objectType": 4})
    );
}

#[test]
fn key_vault_event_shape_and_expiry_due() {
    let record = NewVersion {
        kind: ObjectKind::Secret,
        name: "Db".into(),
        version: "abc".into(),
        nbf: None,
        exp: Some(2_000_000_000),
    };
    let at = UNIX_EPOCH + Duration::from_secs(1_709_278_867);
    let e = key_vault_event(
        "v1",
        "https://v1.vault.localhost:1",
        &record,
        Happened::NearExpiry,
        at,
    );
    assert_eq!(e["type"], "Microsoft.KeyVault.SecretNearExpiry");
    assert_eq!(e["specversion"], "1.0");
    assert_eq!(e["subject"], "Db");
    assert_eq!(e["time"], "2024-03-01T07:41:07.000000Z");
    assert!(
        e["source"]
            .as_str()
            .unwrap()
            .ends_with("/providers/Microsoft.KeyVault/vaults/v1")
    );
    assert_eq!(
        e["data"],
        json!({"Id": "https://v1.vault.localhost:1/secrets/Db/abc", "VaultName": "v1", "ObjectType": "Secret",
               "ObjectName": "Db", "Version": "abc", "NBF": null, "EXP": 2_000_000_000})
    );
    let exp = 2_000_000_000;
    assert!(expiry_due(Some(exp), exp - NEAR_EXPIRY_SECS - 1).is_empty());
    assert_eq!(
        expiry_due(Some(exp), exp - NEAR_EXPIRY_SECS),
        [Happened::NearExpiry]
    );
    assert_eq!(
        expiry_due(Some(exp), exp),
        [Happened::NearExpiry, Happened::Expired]
    );
    assert!(expiry_due(None, exp).is_empty());
}

fn received(grid: &EventGrid, n: usize) -> Vec<Value> {
    let mut state = grid.lock();
    let queue = state.queues.values_mut().next().unwrap();
    queue.take(Instant::now(), n)
}

#[test]
fn vault_writes_publish_once_per_version_to_routed_topics() {
    let store = Store::default();
    let grid = EventGrid::new(store.clone(), 8443);
    grid.add_subscription("NS", "Topic", "sub", SubscriptionOptions::default());
    store.set_secret("unrouted", "s", "v");
    assert_eq!(grid.pending("ns", "topic", "sub"), 0);

    grid.route_vault("Vault1", "ns", "topic");
    let v1 = store.set_secret("vault1", "Api", "one");
    store.set_secret_tags("vault1", "api", Default::default());
    store.set_enabled("vault1", ObjectKind::Secret, "api", "", false);
    store.create_key("vault1", "k", PublicJwk::Oct);
    let cert = store.import_certificate(
        "vault1",
        "web",
        CertificateInput {
            leaf_der: vec![1, 2, 3],
            secret_value: "pem".into(),
            content_type: "application/x-pem-file".into(),
            public_key: PublicJwk::Oct,
        },
    );
    let items = received(&grid, 10);
    let types: Vec<&str> = items
        .iter()
        .map(|i| i["event"]["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "Microsoft.KeyVault.SecretNewVersionCreated",
            "Microsoft.KeyVault.KeyNewVersionCreated",
            "Microsoft.KeyVault.CertificateNewVersionCreated",
        ]
    );
    assert_eq!(items[0]["event"]["data"]["Version"], v1.as_str());
    assert_eq!(
        items[0]["event"]["data"]["Id"],
        format!("https://vault1.vault.localhost:8443/secrets/Api/{v1}")
    );
    assert_eq!(items[2]["event"]["data"]["Version"], cert.as_str());

    // Every vault, and a second topic: each topic's subscriptions get a copy of the same event.
    grid.route_all_vaults("ns", "other");
    grid.add_subscription("ns", "other", "a", SubscriptionOptions::default());
    grid.add_subscription("ns", "other", "b", SubscriptionOptions::default());
    store.set_secret("vault1", "x", "y");
    store.set_secret("vault2", "x", "y");
    assert_eq!(grid.pending("ns", "topic", "sub"), 4);
    assert_eq!(grid.pending("ns", "other", "a"), 2);
    assert_eq!(grid.pending("ns", "other", "b"), 2);
}

#[test]
fn expiry_pass_publishes_each_event_once_for_the_current_version() {
    let store = Store::default();
    let grid = EventGrid::new(store.clone(), 1);
    grid.add_subscription("ns", "t", "s", SubscriptionOptions::default());
    grid.route_vault("v", "ns", "t");
    let exp = 2_000_000_000;
    let secret = |expires| SecretInput {
        value: "x".into(),
        expires,
        enabled: false,
        ..SecretInput::default()
    };
    store.set_secret_with("v", "old", secret(Some(exp)));
    store.set_secret_with("v", "old", secret(None));
    store.set_secret_with("v", "soon", secret(Some(exp)));
    store.set_secret_with("v", "never", secret(None));
    let _ = received(&grid, 10);
    let at = |unix: i64| UNIX_EPOCH + Duration::from_secs(u64::try_from(unix).unwrap());

    assert_eq!(grid.expiry_pass(at(exp - NEAR_EXPIRY_SECS - 1)), 0);
    assert_eq!(grid.expiry_pass(at(exp - NEAR_EXPIRY_SECS)), 1);
    assert_eq!(grid.expiry_pass(at(exp - 1)), 0, "once per version");
    assert_eq!(grid.expiry_pass(at(exp)), 1);
    assert_eq!(
        grid.expiry_pass(SystemTime::now() + Duration::from_secs(1 << 32)),
        0
    );
    let items = received(&grid, 10);
    let types: Vec<&str> = items
        .iter()
        .map(|i| i["event"]["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "Microsoft.KeyVault.SecretNearExpiry",
            "Microsoft.KeyVault.SecretExpired"
        ]
    );
    assert_eq!(items[0]["event"]["subject"], "soon");
}

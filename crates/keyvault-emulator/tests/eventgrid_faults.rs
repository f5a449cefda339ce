//! Event Grid authentication (shared access key, Entra tokens per audience, the role) and faults
//! (duplicates, dropped events, reordered versions, camelCase data, injected statuses), the
//! certificate and expiry events, and a held receive ended by shutdown; over raw HTTP.

#![allow(clippy::unwrap_used, reason = "test helpers outside #[test] functions")]

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::eventgrid::*;
use common::token_for;
use keyvault_emulator::{CertificateInput, PublicJwk, SecretInput, SubscriptionOptions};
use serde_json::json;

const EG_SCOPE: &str = "https://eventgrid.azure.net/.default";
const KV_SCOPE: &str = "https://vault.localhost/.default";

#[tokio::test]
async fn authentication_by_key_or_event_grid_token_and_the_role() {
    let mut g = start(SubscriptionOptions::default()).await;
    g.grid.set_wire_second(Duration::from_millis(10));
    let url = format!("{}:receive?{API}&maxWaitTime=10", g.sub_url);
    let eg = token_for(&g.emu, &g.http, EG_SCOPE).await;
    let kv = token_for(&g.emu, &g.http, KV_SCOPE).await;

    for (auth, what) in [
        (None, "no header"),
        (Some("SharedAccessKey wrong".to_string()), "wrong key"),
        (Some(format!("Bearer {kv}")), "a Key Vault token"),
        (Some("Bearer forged".to_string()), "a token not issued here"),
        (Some(format!("Basic {KEY}")), "another scheme"),
    ] {
        let (status, body) = g.post(&url, auth.as_deref(), None).await;
        assert_eq!(status, 401, "{what}: {body}");
        assert_eq!(body["error"]["code"], "Unauthorized", "{what}: {body}");
    }
    let (status, _) = g.post(&url, Some(&format!("Bearer {eg}")), None).await;
    assert_eq!(status, 200);
    let (status, _) = g.post(&url, Some(&g.auth), None).await;
    assert_eq!(status, 200);

    // Without the role: an Entra identity gets 403, the key still works.
    g.grid.deny_role(NS, true);
    let (status, body) = g.post(&url, Some(&format!("Bearer {eg}")), None).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["code"], "Forbidden");
    let (status, _) = g.post(&url, Some(&g.auth), None).await;
    assert_eq!(status, 200);
    g.grid.deny_role(NS, false);
    g.auth = format!("Bearer {eg}");
    assert!(g.receive("&maxWaitTime=10").await.is_empty());
    let counters = g.emu.counters();
    assert_eq!(counters.get("eventgrid.unauthorized"), Some(&5), "{counters:?}");
    assert_eq!(counters.get("eventgrid.forbidden"), Some(&1), "{counters:?}");

    // And the vaults refuse the Event Grid token.
    let resp = g
        .http
        .get(format!(
            "{}/secrets/x?api-version=2025-07-01",
            g.emu.vault_url(common::VAULT)
        ))
        .bearer_auth(&eg)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["message"], "AKV10022: Invalid audience.");
}

#[tokio::test]
async fn injected_statuses_until_cleared() {
    let g = start(SubscriptionOptions::default()).await;
    g.grid.set_wire_second(Duration::from_millis(10));
    for (status, code) in [
        (401, "Unauthorized"),
        (403, "Forbidden"),
        (500, "InternalServerError"),
        (503, "ServiceUnavailable"),
    ] {
        g.grid.fail_requests(Some(status));
        let (got, body) = g.call("receive", API, None).await;
        assert_eq!(got, status, "{body}");
        assert_eq!(body["error"]["code"], code, "{body}");
        let (got, _) = g
            .call("acknowledge", API, Some(json!({"lockTokens": ["x"]})))
            .await;
        assert_eq!(got, status);
    }
    g.grid.fail_requests(None);
    assert!(g.receive("&maxWaitTime=10").await.is_empty());
    assert_eq!(g.emu.counters().get("eventgrid.fault"), Some(&8));
}

#[tokio::test]
async fn duplicated_dropped_and_reordered_events() {
    let g = start(SubscriptionOptions::default()).await;
    let store = g.emu.store();

    g.grid.duplicate_next(1);
    let v1 = store.set_secret(common::VAULT, "a", "1");
    let twice = g.receive("&maxEvents=10").await;
    assert_eq!(twice.len(), 2);
    assert_eq!(twice[0]["event"], twice[1]["event"], "same event, same id");
    assert_eq!(version(&twice[0]), v1);
    assert_ne!(token(&twice[0]), token(&twice[1]));
    g.settle("acknowledge", &[token(&twice[0]), token(&twice[1])], "")
        .await;

    g.grid.drop_next(1);
    store.set_secret(common::VAULT, "a", "2");
    assert_eq!(g.pending(), 0);
    assert_eq!(g.grid.stats(NS, TOPIC, SUB).unwrap().dropped, 1);

    g.grid.reorder_next(1);
    let older = store.set_secret(common::VAULT, "a", "3");
    assert_eq!(g.pending(), 0, "held back");
    let newer = store.set_secret(common::VAULT, "a", "4");
    let items = g.receive("&maxEvents=10").await;
    let versions: Vec<&str> = items.iter().map(version).collect();
    assert_eq!(
        versions,
        [newer.as_str(), older.as_str()],
        "the older version after the newer"
    );

    // A fault still pending when cleared: the held event is delivered.
    g.grid.reorder_next(1);
    store.set_secret(common::VAULT, "a", "5");
    assert_eq!(g.pending(), 2);
    g.grid.clear_faults();
    assert_eq!(g.pending(), 3);
}

#[tokio::test]
async fn camel_case_data_keys() {
    let g = start(SubscriptionOptions::default()).await;
    g.grid.camel_case_data(true);
    let v = g.emu.store().set_secret(common::VAULT, "a", "1");
    let items = g.receive("").await;
    let data = &items[0]["event"]["data"];
    assert_eq!(data["version"], v.as_str(), "{data}");
    assert_eq!(data["objectName"], "a", "{data}");
    assert_eq!(data["vaultName"], common::VAULT, "{data}");
    assert!(
        data.get("Version").is_none() && data.get("nbf").is_some(),
        "{data}"
    );
    g.grid.camel_case_data(false);
    g.emu.store().set_secret(common::VAULT, "a", "2");
    assert!(g.receive("").await[0]["event"]["data"].get("Version").is_some());
}

#[tokio::test]
async fn certificate_import_publishes_one_event_and_expiry_events_follow_time() {
    let g = start(SubscriptionOptions::default()).await;
    let ca = sse_tls::pki::TestCa::new("eventgrid test").unwrap();
    let leaf = ca
        .issue(
            &["app.example"],
            sse_tls::pki::Usage::Server,
            Duration::from_secs(86_400),
        )
        .unwrap();
    let der = {
        use base64::Engine as _;
        let body: String = leaf
            .cert_pem
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect();
        base64::engine::general_purpose::STANDARD.decode(body).unwrap()
    };
    let input = CertificateInput {
        leaf_der: der,
        secret_value: format!("{}{}", leaf.key_pem, leaf.cert_pem),
        content_type: "application/x-pem-file".into(),
        public_key: PublicJwk::Oct,
    };
    let version = g.emu.store().import_certificate(common::VAULT, "web", input);
    let items = g.receive("&maxEvents=10").await;
    assert_eq!(items.len(), 1, "the managed secret and key publish nothing");
    let event = &items[0]["event"];
    assert_eq!(event["type"], "Microsoft.KeyVault.CertificateNewVersionCreated");
    assert_eq!(event["data"]["ObjectType"], "Certificate");
    assert_eq!(event["data"]["Version"], version.as_str());
    let exp = event["data"]["EXP"].as_i64().unwrap();
    assert!(event["data"]["NBF"].as_i64().unwrap() < exp);

    // The certificate expires in a day: NearExpiry is due now, Expired once its time has come.
    let now = SystemTime::now();
    assert_eq!(g.grid.expiry_pass(now), 1);
    assert_eq!(g.grid.expiry_pass(now), 0);
    let at_exp = UNIX_EPOCH + Duration::from_secs(u64::try_from(exp).unwrap());
    g.emu.store().set_secret_with(
        common::VAULT,
        "far",
        SecretInput {
            value: "x".into(),
            expires: Some(exp + 365 * 86_400),
            ..SecretInput::default()
        },
    );
    assert_eq!(g.grid.expiry_pass(at_exp), 1);
    let items = g.receive("&maxEvents=10").await;
    let types: Vec<&str> = items
        .iter()
        .map(|i| i["event"]["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "Microsoft.KeyVault.CertificateNearExpiry",
            "Microsoft.KeyVault.SecretNewVersionCreated",
            "Microsoft.KeyVault.CertificateExpired",
        ]
    );
}

#[tokio::test]
async fn shutdown_ends_a_held_receive() {
    let g = start(SubscriptionOptions::default()).await;
    let held = {
        let (http, url, auth) = (g.http.clone(), g.sub_url.clone(), g.auth.clone());
        tokio::spawn(async move {
            let resp = http
                .post(format!("{url}:receive?{API}&maxWaitTime=120"))
                .header("authorization", auth)
                .send()
                .await;
            resp.map(|r| r.status().as_u16()).ok()
        })
    };
    g.parked(1).await;
    let grid = g.grid.clone();
    tokio::time::timeout(Duration::from_secs(10), g.emu.shutdown())
        .await
        .expect("shutdown waited on the held receive");
    let status = tokio::time::timeout(Duration::from_secs(10), held)
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(status, Some(200) | None), "{status:?}");
    assert_eq!(grid.waiting(NS, TOPIC, SUB), 0);
}

//! The Event Grid namespace routes over raw HTTP: a vault write becomes a CloudEvent on the routed topic;
//! receive holds until an event arrives or `maxWaitTime` passes; `maxEvents`; locks that run out redeliver
//! with `deliveryCount` 2; settlement answers with `failedLockTokens`; release with a delay; `api-version`;
//! unknown names.

#![allow(clippy::unwrap_used, reason = "test helpers outside #[test] functions")]

mod common;

use std::time::{Duration, Instant};

use common::eventgrid::*;
use common::token_for;
use keyvault_emulator::SubscriptionOptions;
use serde_json::json;

#[tokio::test]
async fn a_data_plane_write_ends_a_held_receive_with_its_event() {
    let g = start(SubscriptionOptions::default()).await;
    // Parked first (maxWaitTime 60 s), then the write: the receive returns as soon as the event exists.
    let held = {
        let (http, url, auth) = (g.http.clone(), g.sub_url.clone(), g.auth.clone());
        tokio::spawn(async move {
            let started = Instant::now();
            let resp = http
                .post(format!("{url}:receive?{API}&maxWaitTime=60"))
                .header("authorization", auth)
                .send()
                .await
                .unwrap();
            (
                resp.status().as_u16(),
                resp.json::<serde_json::Value>().await.unwrap(),
                started.elapsed(),
            )
        })
    };
    g.parked(1).await;

    let id = common::identity(&g.emu, &g.http);
    let kv_token = common::access_token(&id).await;
    let vault_url = g.emu.vault_url(common::VAULT);
    let written: serde_json::Value = g
        .http
        .put(format!("{vault_url}/secrets/Db-Password?api-version=2025-07-01"))
        .bearer_auth(&kv_token)
        .json(&json!({"value": "s3cr3t", "attributes": {"exp": 2_000_000_000}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let (status, body, elapsed) = held.await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(elapsed < Duration::from_secs(30), "held {elapsed:?}");
    let items = body["value"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(delivery_count(&items[0]), 1);
    let event = &items[0]["event"];
    let version = written["id"].as_str().unwrap().rsplit('/').next().unwrap();
    assert_eq!(event["specversion"], "1.0");
    assert_eq!(event["type"], "Microsoft.KeyVault.SecretNewVersionCreated");
    assert_eq!(event["subject"], "Db-Password");
    assert_eq!(
        event["source"],
        "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/emulator/providers/Microsoft.KeyVault/vaults/myvault"
    );
    assert!(uuid_like(event["id"].as_str().unwrap()), "{event}");
    assert!(event["time"].as_str().unwrap().ends_with('Z'), "{event}");
    assert_eq!(
        event["data"],
        json!({
            "Id": written["id"], "VaultName": "myvault", "ObjectType": "Secret", "ObjectName": "Db-Password",
            "Version": version, "NBF": null, "EXP": 2_000_000_000,
        })
    );
    let ack = g.settle("acknowledge", &[token(&items[0])], "").await;
    assert_eq!(
        ack,
        json!({"failedLockTokens": [], "succeededLockTokens": [token(&items[0])]})
    );
    assert_eq!(g.pending(), 0);
    let counters = g.emu.counters();
    assert_eq!(counters.get("eventgrid.receive"), Some(&1), "{counters:?}");
    assert_eq!(counters.get("eventgrid.acknowledge"), Some(&1), "{counters:?}");
}

fn uuid_like(s: &str) -> bool {
    s.len() == 36 && s.chars().filter(|c| *c == '-').count() == 4
}

#[tokio::test]
async fn an_empty_receive_waits_max_wait_time_then_answers_an_empty_list() {
    let g = start(SubscriptionOptions::default()).await;
    g.grid.set_wire_second(Duration::from_millis(20));
    let started = Instant::now();
    assert!(g.receive("&maxWaitTime=10").await.is_empty());
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(200),
        "answered after {elapsed:?}"
    );
    assert!(elapsed < Duration::from_secs(10), "answered after {elapsed:?}");
    assert_eq!(g.grid.waiting(NS, TOPIC, SUB), 0);
}

#[tokio::test]
async fn max_events_and_query_bounds() {
    let g = start(SubscriptionOptions::default()).await;
    let versions: Vec<String> = (0..5)
        .map(|i| g.emu.store().set_secret(common::VAULT, &format!("s{i}"), "v"))
        .collect();
    let first = g.receive("&maxEvents=3").await;
    let got: Vec<&str> = first.iter().map(version).collect();
    assert_eq!(got, versions[..3], "oldest first");
    assert_eq!(g.receive("").await.len(), 1, "maxEvents defaults to 1");
    assert_eq!(g.receive("&maxEvents=100&maxWaitTime=10").await.len(), 1);
    assert_eq!(g.pending(), 5, "all locked, none settled");

    for bad in [
        "&maxEvents=0",
        "&maxEvents=101",
        "&maxEvents=x",
        "&maxWaitTime=9",
        "&maxWaitTime=121",
    ] {
        let (status, body) = g.call("receive", &format!("{API}{bad}"), None).await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert_eq!(body["error"]["code"], "BadRequest", "{bad}: {body}");
        assert!(body["error"]["message"].is_string(), "{bad}: {body}");
    }
}

#[tokio::test]
async fn a_lock_that_runs_out_redelivers_with_delivery_count_two() {
    let g = start(SubscriptionOptions {
        lock_duration: Duration::from_millis(300),
        max_delivery_count: 2,
    })
    .await;
    g.emu.store().set_secret(common::VAULT, "a", "1");
    let first = g.receive("").await;
    assert_eq!(delivery_count(&first[0]), 1);
    // Held while locked, answered when the lock runs out (not at maxWaitTime, 10 s).
    let started = Instant::now();
    let second = g.receive("&maxWaitTime=10").await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(delivery_count(&second[0]), 2);
    assert_eq!(second[0]["event"], first[0]["event"]);
    assert_ne!(token(&second[0]), token(&first[0]));

    // The first token lost its lock; the second acknowledges.
    let answer = g
        .settle("acknowledge", &[token(&first[0]), token(&second[0])], "")
        .await;
    assert_eq!(answer["succeededLockTokens"], json!([token(&second[0])]));
    assert_eq!(
        answer["failedLockTokens"],
        json!([{"lockToken": token(&first[0]), "error": {"code": "TokenLost", "message": "Token has expired."}}])
    );

    // After max_delivery_count deliveries an event whose lock runs out is dead-lettered.
    g.emu.store().set_secret(common::VAULT, "b", "1");
    g.receive("").await;
    g.receive("&maxWaitTime=10").await;
    // Seen when its lock runs out, with no request to look (the wait wakes at the lock's end).
    let dead = g
        .grid
        .wait_for_stats(NS, TOPIC, SUB, |s| s.dead_lettered == 1, Duration::from_secs(10));
    assert!(dead.await, "{:?}", g.grid.stats(NS, TOPIC, SUB));
    let stats = g.grid.stats(NS, TOPIC, SUB).unwrap();
    assert_eq!(
        (stats.dead_lettered, stats.delivered, stats.acknowledged),
        (1, 4, 1)
    );
    assert_eq!(g.pending(), 0);
}

#[tokio::test]
async fn settlement_answers_and_bodies() {
    let g = start(SubscriptionOptions::default()).await;
    for i in 0..3 {
        g.emu.store().set_secret(common::VAULT, &format!("s{i}"), "v");
    }
    let items = g.receive("&maxEvents=3").await;
    let [a, b, c] = [token(&items[0]), token(&items[1]), token(&items[2])];

    let renewed = g.settle("renewLock", &[a, "bm90LWEtdG9rZW4="], "").await;
    assert_eq!(renewed["succeededLockTokens"], json!([a]));
    assert_eq!(renewed["failedLockTokens"][0]["lockToken"], "bm90LWEtdG9rZW4=");
    assert_eq!(renewed["failedLockTokens"][0]["error"]["code"], "BadToken");

    let rejected = g.settle("reject", &[b], "").await;
    assert_eq!(
        rejected,
        json!({"failedLockTokens": [], "succeededLockTokens": [b]})
    );
    let again = g.settle("reject", &[b], "").await;
    assert_eq!(again["failedLockTokens"][0]["error"]["code"], "TokenLost");
    assert_eq!(g.pending(), 2);

    for (body, what) in [
        (None, "no body"),
        (Some(json!({"lockTokens": []})), "no token"),
        (Some(json!({"tokens": [a]})), "wrong field"),
        (Some(json!({"lockTokens": [1]})), "not strings"),
    ] {
        let (status, answer) = g.call("acknowledge", API, body).await;
        assert_eq!(status, 400, "{what}: {answer}");
        assert_eq!(answer["error"]["code"], "BadRequest", "{what}");
    }
    let done = g.settle("acknowledge", &[a, c], "").await;
    assert_eq!(done["succeededLockTokens"], json!([a, c]));
    let stats = g.grid.stats(NS, TOPIC, SUB).unwrap();
    assert_eq!(
        (
            stats.acknowledged,
            stats.rejected,
            stats.lock_renewals,
            stats.released
        ),
        (2, 1, 1, 0)
    );
    assert_eq!(g.pending(), 0);
}

#[tokio::test]
async fn release_now_or_after_a_delay() {
    let g = start(SubscriptionOptions::default()).await;
    g.grid.set_wire_second(Duration::from_millis(20));
    g.emu.store().set_secret(common::VAULT, "a", "1");
    let first = g.receive("").await;
    let released = g.settle("release", &[token(&first[0])], "").await;
    assert_eq!(released["succeededLockTokens"], json!([token(&first[0])]));
    let second = g.receive("").await;
    assert_eq!(delivery_count(&second[0]), 2);

    // releaseDelayInSeconds=10 is 200 ms at 20 ms a wire second: the receive is held until then.
    g.settle("release", &[token(&second[0])], "&releaseDelayInSeconds=10")
        .await;
    let started = Instant::now();
    let third = g.receive("&maxWaitTime=120").await;
    let elapsed = started.elapsed();
    assert_eq!(delivery_count(&third[0]), 3);
    assert!(
        elapsed >= Duration::from_millis(150),
        "available after {elapsed:?}"
    );
    assert!(elapsed < Duration::from_secs(2), "available after {elapsed:?}");

    for bad in ["5", "-1", "x", "7200"] {
        let body = Some(json!({"lockTokens": [token(&third[0])]}));
        let query = format!("{API}&releaseDelayInSeconds={bad}");
        let (status, answer) = g.call("release", &query, body).await;
        assert_eq!(status, 400, "{bad}: {answer}");
    }
    assert_eq!(g.grid.stats(NS, TOPIC, SUB).unwrap().released, 2);
}

#[tokio::test]
async fn api_versions() {
    let g = start(SubscriptionOptions::default()).await;
    g.grid.set_wire_second(Duration::from_millis(10));
    for good in ["2023-11-01", "2024-06-01"] {
        let (status, body) = g
            .call("receive", &format!("api-version={good}&maxWaitTime=10"), None)
            .await;
        assert_eq!(status, 200, "{good}: {body}");
    }
    for bad in [
        "api-version=2018-01-01",
        "api-version=2023-10-01-preview",
        "maxEvents=1",
    ] {
        let (status, body) = g.call("receive", bad, None).await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert_eq!(body["error"]["code"], "BadRequest", "{bad}: {body}");
    }
}

#[tokio::test]
async fn unknown_names_and_routes_are_404() {
    let g = start(SubscriptionOptions::default()).await;
    let http = client(&g.emu, &["other"]);
    let base = g.emu.eventgrid_url(NS);
    let auth = Some(g.auth.as_str());
    for (url, what) in [
        (
            format!("{base}/topics/nope/eventsubscriptions/{SUB}:receive?{API}"),
            "topic",
        ),
        (
            format!("{base}/topics/{TOPIC}/eventsubscriptions/nope:receive?{API}"),
            "subscription",
        ),
        (
            format!("{base}/topics/{TOPIC}/eventsubscriptions/{SUB}:peek?{API}"),
            "action",
        ),
        (format!("{base}/topics/{TOPIC}?{API}"), "path"),
    ] {
        let (status, body) = g.post(&url, auth, None).await;
        assert_eq!(status, 404, "{what}: {body}");
        assert_eq!(body["error"]["code"], "NotFound", "{what}: {body}");
    }
    // Another namespace: authentication first (its key is not set), then the name.
    let other = format!(
        "{}/topics/{TOPIC}/eventsubscriptions/{SUB}:receive?{API}",
        g.emu.eventgrid_url("other")
    );
    let send = |auth: String| http.post(&other).header("authorization", auth).send();
    assert_eq!(send(g.auth.clone()).await.unwrap().status(), 401);
    let bearer = token_for(&g.emu, &g.http, "https://eventgrid.azure.net/.default").await;
    let resp = send(format!("Bearer {bearer}")).await.unwrap();
    assert_eq!(resp.status(), 404);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "NotFound", "{body}");
    assert!(
        body["error"]["message"].as_str().unwrap().contains("namespace"),
        "{body}"
    );
    assert_eq!(g.emu.counters().get("eventgrid.unknown"), Some(&2));
}

//! Harness of the Event Grid tests: an emulator with one namespace topic and queue subscription routed from
//! vault [`super::VAULT`], a shared access key, and raw HTTP calls to the five routes.

use std::net::SocketAddr;
use std::time::Duration;

use keyvault_emulator::{Emulator, EventGrid, SubscriptionOptions};
use serde_json::{Value, json};

pub const NS: &str = "ns1";
pub const TOPIC: &str = "kv-events";
pub const SUB: &str = "sse";
pub const KEY: &str = "test-shared-access-key";
pub const API: &str = "api-version=2024-06-01";

/// The emulator, its Event Grid, and a client for the namespace and the vault.
pub struct Grid {
    pub emu: Emulator,
    pub grid: EventGrid,
    pub http: reqwest::Client,
    /// `https://ns1.eventgrid.localhost:PORT/topics/kv-events/eventsubscriptions/sse`
    pub sub_url: String,
    /// The `Authorization` header value sent by [`Grid::call`].
    pub auth: String,
}

pub async fn start(options: SubscriptionOptions) -> Grid {
    let emu = super::start().await;
    let grid = emu.event_grid();
    grid.add_subscription(NS, TOPIC, SUB, options);
    grid.route_vault(super::VAULT, NS, TOPIC);
    grid.set_access_key(NS, KEY);
    let http = client(&emu, &[NS]);
    let sub_url = format!(
        "{}/topics/{TOPIC}/eventsubscriptions/{SUB}",
        emu.eventgrid_url(NS)
    );
    Grid {
        emu,
        grid,
        http,
        sub_url,
        auth: format!("SharedAccessKey {KEY}"),
    }
}

/// A reqwest client trusting the emulator CA, with the namespaces and [`super::VAULT`] resolved to it.
pub fn client(emu: &Emulator, namespaces: &[&str]) -> reqwest::Client {
    let loopback = SocketAddr::from(([127, 0, 0, 1], emu.addr().port()));
    let mut builder = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(emu.ca_pem().as_bytes()).unwrap()])
        .resolve(&format!("{}.vault.localhost", super::VAULT), loopback);
    for ns in namespaces {
        builder = builder.resolve(&format!("{ns}.eventgrid.localhost"), loopback);
    }
    builder.build().unwrap()
}

impl Grid {
    /// `POST {sub_url}:{action}?{query}` with [`Grid::auth`] and an optional JSON body: status and body.
    pub async fn call(&self, action: &str, query: &str, body: Option<Value>) -> (u16, Value) {
        let url = format!("{}:{action}?{query}", self.sub_url);
        self.post(&url, Some(&self.auth), body).await
    }

    pub async fn post(&self, url: &str, auth: Option<&str>, body: Option<Value>) -> (u16, Value) {
        let mut req = self.http.post(url);
        if let Some(auth) = auth {
            req = req.header("authorization", auth);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    /// Receive with `extra` query parameters; asserts a 200 and returns the items.
    pub async fn receive(&self, extra: &str) -> Vec<Value> {
        let (status, body) = self.call("receive", &format!("{API}{extra}"), None).await;
        assert_eq!(status, 200, "{body}");
        body["value"].as_array().unwrap().clone()
    }

    /// Settle `tokens` with `action`; asserts a 200 and returns the body.
    pub async fn settle(&self, action: &str, tokens: &[&str], extra: &str) -> Value {
        let body = json!({ "lockTokens": tokens });
        let (status, body) = self.call(action, &format!("{API}{extra}"), Some(body)).await;
        assert_eq!(status, 200, "{body}");
        body
    }

    pub fn pending(&self) -> usize {
        self.grid.pending(NS, TOPIC, SUB)
    }

    /// Wait until `n` receives are parked on the subscription.
    pub async fn parked(&self, n: usize) {
        let parked = self
            .grid
            .wait_for_receivers(NS, TOPIC, SUB, n, Duration::from_secs(30))
            .await;
        assert!(parked, "{n} receive(s) never parked");
    }
}

pub fn token(item: &Value) -> &str {
    item["brokerProperties"]["lockToken"].as_str().unwrap()
}

pub fn delivery_count(item: &Value) -> u64 {
    item["brokerProperties"]["deliveryCount"].as_u64().unwrap()
}

pub fn version(item: &Value) -> &str {
    item["event"]["data"]["Version"].as_str().unwrap()
}

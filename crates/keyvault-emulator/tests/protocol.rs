//! Raw HTTP checks of what the SDKs hide: the challenge, headers, api-version, paging links, HTTP/2 and
//! HTTP/1.1, the token endpoint, the cloud environment file; and vaults isolated by host.

#![allow(clippy::unwrap_used, reason = "test helpers outside #[test] functions")]

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use azure_core::http::RetryOptions;
use azure_security_keyvault_secrets::{SecretClient, SecretClientOptions};
use common::*;
use keyvault_emulator::{Config, mint_assertion};

#[tokio::test]
async fn raw_protocol_details() {
    let emu = start_with(Config {
        token_lifetime: Duration::from_secs(600),
        ..Config::default()
    })
    .await;
    let http = http(&emu, &[VAULT]);
    let base = emu.vault_url(VAULT);

    // No token: 401 with the challenge the SDKs parse.
    let resp = http
        .get(format!("{base}/secrets/x/?api-version=2025-07-01"))
        .header("x-ms-client-request-id", "abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert_eq!(resp.version(), reqwest::Version::HTTP_2);
    let h = resp.headers();
    assert_eq!(
        h["www-authenticate"],
        format!(
            "Bearer authorization=\"{}00000000-0000-0000-0000-000000000001\", resource=\"https://vault.localhost\"",
            emu.authority_host()
        )
        .as_str()
    );
    assert_eq!(h["content-type"], "application/json; charset=utf-8");
    assert_eq!(h["x-ms-client-request-id"], "abc-123");
    assert!(h.contains_key("x-ms-request-id"));
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(
        body,
        serde_json::json!({"error": {"code": "Unauthorized", "message": "AKV10000: Request is missing a Bearer or PoP token."}})
    );

    // A token from elsewhere is refused too.
    let resp = http
        .get(format!("{base}/secrets/x/?api-version=2025-07-01"))
        .bearer_auth("forged")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);

    // api-version is required and checked.
    let resp = http.get(format!("{base}/secrets/x")).send().await.unwrap();
    assert_eq!(resp.status(), 400);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "BadParameter");
    let resp = http
        .get(format!("{base}/secrets/x?api-version=1.0"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);

    // Paging with a real token over HTTP/1.1 too: absolute nextLink on the vault host, `%24skiptoken`
    // accepted, other api-versions accepted.
    let id = identity(&emu, &http);
    let token = access_token(&id).await;
    for i in 0..3 {
        emu.store().set_secret(VAULT, &format!("s{i}"), "v");
    }
    let h1 = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(emu.ca_pem().as_bytes()).unwrap()])
        .resolve(
            "myvault.vault.localhost",
            SocketAddr::from(([127, 0, 0, 1], emu.addr().port())),
        )
        .http1_only()
        .build()
        .unwrap();
    let resp = h1
        .get(format!("{base}/secrets?api-version=7.4&maxresults=2"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.version(), reqwest::Version::HTTP_11);
    let page: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(page["value"].as_array().unwrap().len(), 2);
    let next = page["nextLink"].as_str().unwrap();
    assert!(
        next.starts_with(&format!("{base}/secrets?api-version=7.4&$skiptoken=")),
        "{next}"
    );
    let reordered = format!(
        "{base}/secrets?maxresults=2&%24skiptoken={}&api-version=2026-03-01-preview",
        next.split("$skiptoken=")
            .nth(1)
            .unwrap()
            .split('&')
            .next()
            .unwrap()
    );
    let page: serde_json::Value = h1
        .get(reordered)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(page["value"].as_array().unwrap().len(), 1);
    assert!(page["nextLink"].is_null());

    // maxresults out of range.
    let resp = h1
        .get(format!("{base}/secrets?api-version=7.5&maxresults=26"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);

    // Versions of an unknown secret: an empty list.
    let page: serde_json::Value = h1
        .get(format!("{base}/secrets/nope/versions?api-version=7.6"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(page["value"], serde_json::json!([]));

    // Token endpoint answers numbers, not strings.
    let form = format!(
        "grant_type=client_credentials&client_id={CLIENT}&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion={}&scope=https%3A%2F%2Fvault.localhost%2F.default",
        mint_assertion(ISSUER, SUBJECT, AUDIENCE, Duration::from_secs(60))
    );
    let resp = http
        .post(format!("{}{TENANT}/oauth2/v2.0/token", emu.authority_host()))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 600);
    assert_eq!(body["ext_expires_in"], 600);

    // Cloud environment file.
    let env: serde_json::Value = serde_json::from_str(&emu.cloud_env_json()).unwrap();
    assert_eq!(env["name"], "AzureStackCloud");
    assert_eq!(env["activeDirectoryEndpoint"], emu.authority_host());
    assert_eq!(env["keyVaultEndpoint"], "https://vault.localhost/");
    assert_eq!(
        env["keyVaultDNSSuffix"],
        format!("vault.localhost:{}", emu.addr().port())
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn vaults_are_isolated_by_host() {
    let emu = start().await;
    let http = http(&emu, &["one", "two"]);
    let id = identity(&emu, &http);
    emu.store().set_secret("one", "shared-name", "from-one");
    emu.store().set_secret("TWO", "shared-name", "from-two");
    for (vault, expected) in [("one", "from-one"), ("two", "from-two")] {
        let client = SecretClient::new(
            &emu.vault_url(vault),
            id.credential.clone(),
            Some(SecretClientOptions {
                client_options: client_options(&emu, &http, RetryOptions::default()),
                ..Default::default()
            }),
        )
        .unwrap();
        let s = client
            .get_secret("shared-name", None)
            .await
            .unwrap()
            .into_model()
            .unwrap();
        assert_eq!(s.value.as_deref(), Some(expected));
    }
}

//! The emulator's Event Grid namespace driven by the official Python SDK with its defaults:
//! `EventGridConsumerClient` built without `api_version` (azure-eventgrid 4.22.1 sends `2024-06-01`), with an
//! `AzureKeyCredential` and then a token credential, after a `SecretClient` write published the event. The
//! script, `tests/python/eventgrid_defaults.py`, records the api-version and authorization scheme of every
//! request and the package's own default; this test checks they agree, that every operation ran, and what
//! the emulator counted.
//!
//! Interpreter and skip rules as `python_sdk.rs`: `$SSE_PYTHON`, else `python3`; skipped without the SDK
//! unless `SSE_REQUIRE_PYTHON_SDK=1` (CI, see `.ci/run`).

#![allow(
    clippy::unwrap_used,
    clippy::print_stdout,
    reason = "test helpers outside #[test] functions; the skip notice and the script's output go to stdout"
)]

mod common;

use std::time::Duration;

use common::eventgrid::{KEY, NS, SUB, TOPIC};
use common::token_for;
use keyvault_emulator::SubscriptionOptions;

const SDK_MODULES: &str = "import azure.eventgrid, azure.keyvault.secrets";
const INSTALL_HINT: &str = "python3 -m venv /tmp/sse-pysdk && /tmp/sse-pysdk/bin/pip install azure-eventgrid \
                            azure-keyvault-secrets azure-keyvault-certificates azure-keyvault-keys, then set \
                            SSE_PYTHON=/tmp/sse-pysdk/bin/python";

#[tokio::test]
async fn python_eventgrid_consumer_defaults_are_accepted() {
    let Some(python) = common::python::interpreter("Python Event Grid SDK", SDK_MODULES, INSTALL_HINT).await
    else {
        return;
    };

    let emu = common::start().await;
    let grid = emu.event_grid();
    grid.add_subscription(NS, TOPIC, SUB, SubscriptionOptions::default());
    grid.route_vault(common::VAULT, NS, TOPIC);
    grid.set_access_key(NS, KEY);
    // maxWaitTime=10 and releaseDelayInSeconds=10 last 1 s each.
    grid.set_wire_second(Duration::from_millis(100));
    let http = common::eventgrid::client(&emu, &[NS]);
    let kv_token = token_for(&emu, &http, "https://vault.localhost/.default").await;
    let eg_token = token_for(&emu, &http, "https://eventgrid.azure.net/.default").await;
    let stdout = common::python::run(
        &python,
        &emu,
        "eventgrid_defaults.py",
        &[
            ("VAULT_URL", &emu.vault_url(common::VAULT)),
            ("EVENTGRID_URL", &emu.eventgrid_url(NS)),
            ("TOPIC", TOPIC),
            ("SUBSCRIPTION", SUB),
            ("KV_TOKEN", &kv_token),
            ("EG_TOKEN", &eg_token),
            ("SHARED_KEY", KEY),
        ],
    )
    .await;

    let line: serde_json::Value = stdout
        .lines()
        .find(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .unwrap_or_else(|| panic!("no output line in:\n{stdout}"));
    assert_eq!(line["ok"], true, "{line}");
    // The version on the wire is the installed package's default (read by the script from the package),
    // and since every call succeeded the emulator accepted it.
    let default = line["default"].as_str().unwrap();
    assert!(!default.is_empty(), "{line}");
    assert_eq!(line["api_version"], default, "{line}");
    assert_eq!(
        line["actions"],
        serde_json::json!(["acknowledge", "receive", "reject", "release", "renewLock"]),
        "{line}"
    );
    assert_eq!(
        line["schemes"],
        serde_json::json!(["Bearer", "SharedAccessKey"]),
        "{line}"
    );
    assert_eq!(line["release_delays"], serde_json::json!(["10"]), "{line}");
    assert_eq!(
        line["scopes"],
        serde_json::json!(["https://eventgrid.azure.net/.default"]),
        "{line}"
    );
    assert_eq!(line["failed_code"], "TokenLost", "{line}");

    let stats = grid.stats(NS, TOPIC, SUB).unwrap();
    assert_eq!(
        (
            stats.queued,
            stats.acknowledged,
            stats.released,
            stats.rejected,
            stats.lock_renewals
        ),
        (3, 2, 2, 1, 1),
        "{stats:?}"
    );
    assert_eq!(grid.pending(NS, TOPIC, SUB), 0);
    let counters = emu.counters();
    for op in [
        "secrets.set",
        "eventgrid.receive",
        "eventgrid.acknowledge",
        "eventgrid.release",
        "eventgrid.reject",
        "eventgrid.renew_lock",
    ] {
        assert!(counters.get(op).copied().unwrap_or(0) >= 1, "{op}: {counters:?}");
    }
    assert_eq!(counters.get("eventgrid.unauthorized"), None, "{counters:?}");
    emu.shutdown().await;
}

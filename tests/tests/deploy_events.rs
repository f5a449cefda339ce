//! The vault's events and the outbound proxy in every installable render of `deploy/`
//! (deploy/components/events, events-access-key, outbound-proxy; docs/EVENTS.md#set-up): the manager gets
//! the stream's settings and its workload identity (a projected token only it mounts) where the events
//! component is applied and nowhere else, the manager's own flag definitions accept them as a stream it
//! would start, the access key is a file from a Secret it mounts, and the outbound proxy reaches both
//! containers. That every env var is one the manager reads is `sse_tests::deploy::manager_command_line`'s
//! check, made here for every render too.

use std::path::Path;
use std::time::Duration;

use clap::Parser as _;
use serde_json::Value;
use sse_tests::deploy::{
    MANAGER, Overlay, PROVIDER, Problems, check_every_overlay, container, items, manager_command_line,
    source_entries, volume_mounted_at,
};

const EVENTS_CONFIGMAP: &str = "secrets-store-sync-controller-events";
const PROXY_SECRET: &str = "secrets-store-sync-controller-outbound-proxy";
const TOKEN_DIR: &str = "/var/run/secrets/azure/tokens";
/// The variables the events component takes from its ConfigMap, each under its own name.
const FROM_CONFIGMAP: [&str; 6] = [
    "EVENTS_ENDPOINT",
    "EVENTS_TOPIC",
    "EVENTS_SUBSCRIPTION",
    "AZURE_CLIENT_ID",
    "AZURE_TENANT_ID",
    "AZURE_AUTHORITY_HOST",
];

/// The manager's flags as the pod runs them (args and every env var, resolved from the render).
fn manager_cli(o: &Overlay, p: &mut Problems) -> Option<manager::args::Cli> {
    let c = container(o.pod(), MANAGER)?;
    let (mut argv, env_flags) = manager_command_line(&o.render, o.dep().namespace(), c, p);
    argv.extend(env_flags);
    match manager::args::Cli::try_parse_from(&argv) {
        Ok(cli) => Some(cli),
        Err(e) => {
            p.add(format!("manager args + env do not parse: {e}"));
            None
        }
    }
}

fn env<'a>(c: &'a Value, name: &str) -> Option<&'a Value> {
    items(&c["env"]).find(|e| e["name"] == name)
}

/// `file` lies in a volume mounted into `container`; that volume.
fn file_volume<'a>(o: &'a Overlay, container_name: &str, file: &str) -> Option<&'a Value> {
    let dir = Path::new(file).parent().and_then(Path::to_str)?;
    volume_mounted_at(o.pod(), container_name, dir)
}

/// With deploy/components/events: the settings from its ConfigMap, the projected token, and a stream the
/// manager would start.
fn check_events(o: &Overlay, cli: &manager::args::Cli, p: &mut Problems) -> String {
    let (ns, pod) = (o.dep().namespace(), o.pod());
    let Some(c) = container(pod, MANAGER) else {
        return "no manager".into();
    };
    let config_map = o.render.find("ConfigMap", ns, EVENTS_CONFIGMAP);
    p.check(config_map.is_some(), || {
        format!("ConfigMap {EVENTS_CONFIGMAP} is not in the render")
    });
    for name in FROM_CONFIGMAP {
        let from = env(c, name).and_then(|e| e.pointer("/valueFrom/configMapKeyRef"));
        p.check(
            from.is_some_and(|r| r["name"] == EVENTS_CONFIGMAP && r["key"] == name),
            || format!("manager: env {name} must come from ConfigMap {EVENTS_CONFIGMAP} key {name}"),
        );
        p.check(
            config_map.is_some_and(|m| m.json["data"][name].as_str().is_some_and(|v| !v.is_empty())),
            || format!("ConfigMap {EVENTS_CONFIGMAP} has no value for {name}"),
        );
    }
    // Workload identity without the webhook: the token file in a projected volume of its own.
    let token_file = format!("{TOKEN_DIR}/azure-identity-token");
    p.check(
        env(c, "AZURE_FEDERATED_TOKEN_FILE").is_some_and(|e| e["value"] == token_file.as_str()),
        || format!("manager: AZURE_FEDERATED_TOKEN_FILE must be {token_file}"),
    );
    let volume = volume_mounted_at(pod, MANAGER, TOKEN_DIR);
    let sources: Vec<&Value> = volume
        .map(|v| items(&v["projected"]["sources"]).collect())
        .unwrap_or_default();
    p.check(
        matches!(sources[..], [s] if s["serviceAccountToken"]["audience"] == "api://AzureADTokenExchange"
            && s["serviceAccountToken"]["path"] == "azure-identity-token"),
        || format!("manager: {TOKEN_DIR} must be a projected token for api://AzureADTokenExchange at azure-identity-token, is {volume:?}"),
    );
    let name = volume.and_then(|v| v["name"].as_str()).unwrap_or_default();
    p.check(
        container(pod, PROVIDER).is_some_and(|c| !items(&c["volumeMounts"]).any(|m| m["name"] == name)),
        || format!("provider: must not mount the manager's token volume {name}"),
    );
    p.check(
        o.render
            .find(
                "ServiceAccount",
                ns,
                pod["serviceAccountName"].as_str().unwrap_or_default(),
            )
            .is_some_and(|sa| sa.json["metadata"]["labels"]["azure.workload.identity/use"].is_null()),
        || {
            "the ServiceAccount must not ask the workload-identity webhook for what the component sets"
                .to_string()
        },
    );

    let events = &cli.run.events;
    if let Some(key_file) = &events.events_access_key_file {
        // The access key: a file from a Secret the manager mounts, holding that key.
        let file = key_file.to_str().unwrap_or_default();
        let secret = file_volume(o, MANAGER, file).and_then(|v| v["secret"]["secretName"].as_str());
        let key = key_file.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        let holds_key = secret
            .and_then(|s| o.render.find("Secret", ns, s))
            .is_some_and(|s| source_entries(s).iter().any(|(k, v)| k == key && !v.is_empty()));
        p.check(holds_key, || {
            format!("manager: --events-access-key-file={file} is not a key of a Secret mounted there")
        });
        return format!("events with the access key {file}");
    }
    p.check(
        events.events_token_file.as_deref() == Some(Path::new(&token_file)),
        || format!("manager: --events-token-file is {:?}", events.events_token_file),
    );
    // What the manager does at start-up with these flags: a stream, reading what the ConfigMap names.
    match events.stream(Duration::from_secs(60)) {
        Ok(Some(stream)) => {
            let want = config_map.map(|m| {
                let data = |k: &str| m.json["data"][k].as_str().unwrap_or_default().to_string();
                let host = data("EVENTS_ENDPOINT").trim_start_matches("https://").to_string();
                format!("{host}/{}/{}", data("EVENTS_TOPIC"), data("EVENTS_SUBSCRIPTION"))
            });
            let source = stream.client.describe();
            p.check(want.as_deref() == Some(source.as_str()), || {
                format!("the stream reads {source}, the ConfigMap says {want:?}")
            });
            format!("events from {source}, workload identity")
        }
        Ok(None) => {
            p.add("the manager would start without events");
            String::new()
        }
        Err(e) => {
            p.add(format!("the manager would refuse to start: {e:#}"));
            String::new()
        }
    }
}

#[test]
fn the_events_component_gives_the_manager_its_stream_and_identity_and_nothing_else_does() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let lines = check_every_overlay(|o, p| {
        let Some(cli) = manager_cli(o, p) else {
            return "the manager's flags do not parse".into();
        };
        if o.label.starts_with("overlays/events") {
            return check_events(o, &cli, p);
        }
        let c = container(o.pod(), MANAGER);
        for name in FROM_CONFIGMAP
            .iter()
            .chain(&["AZURE_FEDERATED_TOKEN_FILE", "EVENTS_ACCESS_KEY_FILE"])
        {
            p.check(c.is_none_or(|c| env(c, name).is_none()), || {
                format!("manager: {name} is set without deploy/components/events")
            });
        }
        p.check(volume_mounted_at(o.pod(), MANAGER, TOKEN_DIR).is_none(), || {
            format!("manager: {TOKEN_DIR} is mounted without deploy/components/events")
        });
        match cli.run.events.stream(Duration::from_secs(60)) {
            Ok(None) => "events off: polling alone".into(),
            other => {
                p.add(format!(
                    "events must be off: {:?}",
                    other.map(|s| s.map(|s| s.client.describe()))
                ));
                String::new()
            }
        }
    });
    for overlay in ["overlays/events:", "overlays/events-access-key:"] {
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with(&format!("deploy/{overlay} ok: events "))),
            "{overlay} {lines:#?}"
        );
    }
}

#[test]
fn the_outbound_proxy_reaches_both_containers() {
    let lines = check_every_overlay(|o, p| {
        let Some(cli) = manager_cli(o, p) else {
            return "the manager's flags do not parse".into();
        };
        let Some(secret) = o.render.find("Secret", o.dep().namespace(), PROXY_SECRET) else {
            let events = &cli.run.events;
            p.check(
                events.https_proxy.is_none() && events.events_ca_file.is_none(),
                || "the manager has proxy settings without deploy/components/outbound-proxy".to_string(),
            );
            return "no proxy".into();
        };
        let entries = source_entries(secret);
        let value = |k: &str| entries.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone());
        for name in [MANAGER, PROVIDER] {
            let from_secret = container(o.pod(), name)
                .is_some_and(|c| items(&c["envFrom"]).any(|f| f["secretRef"]["name"] == PROXY_SECRET));
            p.check(from_secret, || {
                format!("{name}: no envFrom Secret {PROXY_SECRET}")
            });
        }
        // The manager's flags read the Secret's values, and its CA file is the provider's, from one volume.
        let events = &cli.run.events;
        p.check(events.https_proxy == value("HTTPS_PROXY"), || {
            format!("manager: --events-https-proxy is {:?}", events.https_proxy)
        });
        p.check(Some(&events.no_proxy) == value("NO_PROXY").as_ref(), || {
            format!("manager: --events-no-proxy is {:?}", events.no_proxy)
        });
        let manager_ca = events
            .events_ca_file
            .as_ref()
            .and_then(|f| f.to_str())
            .unwrap_or_default();
        let provider_ca = container(o.pod(), PROVIDER)
            .and_then(|c| env(c, "PROVIDER_KEYVAULT_CA_FILE"))
            .and_then(|e| e["value"].as_str())
            .unwrap_or_default();
        let (m, pv) = (
            file_volume(o, MANAGER, manager_ca),
            file_volume(o, PROVIDER, provider_ca),
        );
        p.check(m.is_some() && m == pv && m.is_some_and(|v| v.get("configMap").is_some()), || {
            format!("the proxy CA: manager {manager_ca} ({m:?}), provider {provider_ca} ({pv:?}), one ConfigMap volume")
        });
        format!(
            "proxy {} for both containers",
            value("HTTPS_PROXY").unwrap_or_default()
        )
    });
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("deploy/overlays/outbound-proxy: ok: proxy http")),
        "{lines:#?}"
    );
}

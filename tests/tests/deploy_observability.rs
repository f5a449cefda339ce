//! Tier 2: what deploy/ ships for GitOps and monitoring. The Argo CD health check (Lua 5.1, as Argo CD's
//! gopher-lua runs it) on the statuses the manager writes; the PrometheusRule's alerts on metrics the
//! manager really exports and on the containers and ports the Deployment really has.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::path::PathBuf;

use serde_json::{Value, json};
use sse_api::Reason;

fn deploy(path: &str) -> String {
    let file = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../deploy")
        .join(path);
    std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()))
}

fn yaml(path: &str) -> Value {
    serde_yaml_ng::from_str(&deploy(path)).unwrap()
}

/// Run the health check on `obj` as Argo CD does: `obj` global, the script returns {status, message}.
fn health(script: &str, obj: &Value) -> (String, String) {
    let lua = mlua::Lua::new();
    use mlua::LuaSerdeExt as _;
    lua.globals().set("obj", lua.to_value(obj).unwrap()).unwrap();
    let table: mlua::Table = lua.load(script).eval().unwrap_or_else(|e| panic!("lua: {e}"));
    (
        table.get::<String>("status").unwrap(),
        table
            .get::<Option<String>>("message")
            .unwrap()
            .unwrap_or_default(),
    )
}

fn secret_sync(generation: i64, status: Option<Value>) -> Value {
    let mut obj = json!({
        "apiVersion": "secret-sync.x-k8s.io/v1alpha1",
        "kind": "SecretSync",
        "metadata": {"name": "db", "namespace": "apps", "generation": generation},
        "spec": {"serviceAccountName": "sa", "secretProviderClassName": "kv",
                 "secretObject": {"type": "Opaque", "data": [{"sourcePath": "pw", "targetKey": "pw"}]}},
    });
    if let Some(status) = status {
        obj["status"] = status;
    }
    obj
}

/// A status as the manager writes it: its own condition builder, for `reason`.
fn status(observed: i64, reason: Reason, message: &str) -> Value {
    let now = sse_api::Time(k8s_openapi::jiff::Timestamp::from_second(1_800_000_000).unwrap());
    let mut conditions = Vec::new();
    for type_ in [sse_api::conditions::CREATE, sse_api::conditions::READY] {
        sse_api::conditions::set_condition(
            &mut conditions,
            sse_api::conditions::new_condition(type_, reason, message, Some(observed), now.clone()),
        );
    }
    serde_json::to_value(sse_api::SecretSyncStatus {
        observed_generation: Some(observed),
        conditions,
        ..Default::default()
    })
    .unwrap()
}

#[test]
fn argocd_health_check_follows_the_ready_condition() {
    let script = deploy("argocd/secretsync-health.lua");
    let patch = yaml("argocd/argocd-cm-patch.yaml");
    assert_eq!(
        patch["data"]["resource.customizations.health.secret-sync.x-k8s.io_SecretSync"].as_str(),
        Some(script.as_str()),
        "argocd-cm-patch.yaml carries secretsync-health.lua exactly"
    );

    let cases = [
        (secret_sync(1, None), "Progressing", "first sync"),
        (
            secret_sync(
                1,
                Some(status(1, Reason::CreateSucceeded, "Secret created successfully.")),
            ),
            "Healthy",
            "CreateSucceeded",
        ),
        (
            secret_sync(
                1,
                Some(status(1, Reason::UpdateNoValueChangeSucceeded, "no value change")),
            ),
            "Healthy",
            "UpdateNoValueChangeSucceeded",
        ),
        (
            secret_sync(
                1,
                Some(status(
                    1,
                    Reason::ProviderError,
                    "Key Vault answered 403 Forbidden",
                )),
            ),
            "Degraded",
            "ProviderError: Key Vault answered 403 Forbidden",
        ),
        (
            secret_sync(1, Some(status(1, Reason::PartialSync, "1 of 2 objects failed"))),
            "Degraded",
            "PartialSync",
        ),
        (
            secret_sync(
                2,
                Some(status(1, Reason::CreateSucceeded, "Secret created successfully.")),
            ),
            "Progressing",
            "generation 2",
        ),
        (
            secret_sync(1, Some(json!({"syncHash": "v2:00"}))),
            "Progressing",
            "first sync",
        ),
    ];
    for (obj, want, message) in cases {
        let (got, said) = health(&script, &obj);
        assert_eq!(got, want, "{obj}");
        assert!(said.contains(message), "{said:?} should say {message:?}");
    }
}

/// Metric names in a PromQL expression: identifiers followed by `{`, `[`, `(` is a function, not a metric.
fn metric_names(expr: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut word = String::new();
    let mut in_string = false;
    for c in expr.chars().chain(std::iter::once(' ')) {
        if c == '"' {
            in_string = !in_string;
            word.clear();
            continue;
        }
        if in_string {
            continue;
        }
        if c.is_ascii_alphanumeric() || c == '_' || c == ':' {
            word.push(c);
            continue;
        }
        let keyword = [
            "by",
            "sum",
            "max",
            "rate",
            "or",
            "vector",
            "and",
            "without",
            "le",
            "reason",
            "validity",
            "container",
            "state",
        ];
        if !word.is_empty()
            && !word.chars().all(|c| c.is_ascii_digit() || c == 'm')
            && !keyword.contains(&word.as_str())
            && c != '('
        {
            names.push(word.clone());
        }
        word.clear();
    }
    names
}

#[test]
fn prometheus_alerts_use_what_the_manager_exports_and_the_pod_has() {
    let rule = yaml("monitoring/prometheusrule.yaml");
    let rules = rule["spec"]["groups"][0]["rules"].as_array().unwrap();
    let alerts: Vec<&str> = rules.iter().filter_map(|r| r["alert"].as_str()).collect();
    for wanted in [
        "SecretSyncFailing",
        "SecretSyncChecksLate",
        "SecretSyncObjectExpiring",
        "SecretSyncObjectExpired",
        "SecretSyncProviderDown",
        "SecretSyncManagerDown",
        "ClusterSecretSyncNamespacesFailing",
    ] {
        assert!(alerts.contains(&wanted), "{wanted} missing: {alerts:?}");
    }

    // Every series the manager exports once it has done some work.
    let metrics = manager::metrics::Metrics::default();
    metrics.sync(Reason::ProviderError, std::time::Duration::from_millis(5));
    metrics.check_lateness(std::time::Duration::from_secs(1));
    manager::metrics::move_reason(&metrics.reasons(), None, Some(Reason::ProviderError));
    metrics.fanout().written(Err(()));
    let exposition = metrics.encode();
    let exported: Vec<&str> = exposition
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split(['{', ' ']).next())
        .collect();

    let pod = yaml("base/deployment.yaml");
    let containers = pod["spec"]["template"]["spec"]["containers"].as_array().unwrap();
    let names: Vec<&str> = containers.iter().filter_map(|c| c["name"].as_str()).collect();
    for r in rules {
        let expr = r["expr"].as_str().unwrap();
        for name in metric_names(expr) {
            assert!(
                name == "up" || exported.contains(&name.as_str()),
                "{}: {name} is not a metric the manager exports:\n{exposition}",
                r["alert"]
            );
        }
        if let Some(container) = expr
            .split("container=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
        {
            assert!(
                names.contains(&container),
                "{}: no container {container} in {names:?}",
                r["alert"]
            );
        }
        assert!(r["for"].is_string() && r["labels"]["severity"].is_string(), "{r}");
        assert!(
            r["annotations"]["summary"].is_string() && r["annotations"]["description"].is_string(),
            "{r}"
        );
    }
    // The failing alert counts every failure reason: the success reasons are the three Ready=True ones.
    let failing = rules.iter().find(|r| r["alert"] == "SecretSyncFailing").unwrap()["expr"]
        .as_str()
        .unwrap();
    for reason in Reason::ALL {
        let success = reason.status() == "True";
        assert_eq!(failing.contains(reason.as_str()), success, "{reason:?}");
    }

    // The expiry alerts count standings the manager exports.
    for (alert, standing) in [
        ("SecretSyncObjectExpiring", "Expiring"),
        ("SecretSyncObjectExpired", "Expired"),
    ] {
        let expr = rules.iter().find(|r| r["alert"] == alert).unwrap()["expr"]
            .as_str()
            .unwrap();
        let series = format!("secretsync_objects{{validity=\"{standing}\"}}");
        assert!(expr.contains(&series), "{alert}: {expr}");
        assert!(
            exposition.contains(&format!("{series} 0")),
            "{series} not exported:\n{exposition}"
        );
    }

    // The PodMonitor scrapes ports the pod has, on a pod it selects.
    let monitor = yaml("monitoring/podmonitor.yaml");
    let ports: Vec<&str> = containers
        .iter()
        .flat_map(|c| c["ports"].as_array().into_iter().flatten())
        .filter_map(|p| p["name"].as_str())
        .collect();
    for endpoint in monitor["spec"]["podMetricsEndpoints"].as_array().unwrap() {
        let port = endpoint["port"].as_str().unwrap();
        assert!(ports.contains(&port), "{port} not in {ports:?}");
    }
    let labels = &pod["spec"]["template"]["metadata"]["labels"];
    for (k, v) in monitor["spec"]["selector"]["matchLabels"].as_object().unwrap() {
        assert_eq!(&labels[k], v, "the PodMonitor selects the pod by {k}");
    }
}

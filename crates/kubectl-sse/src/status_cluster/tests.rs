use super::*;
use crate::status::parse_time;

fn at(rfc3339: &str) -> SystemTime {
    parse_time(rfc3339).unwrap_or_else(|| panic!("{rfc3339}"))
}

const NOW: &str = "2026-12-06T14:15:00Z";

fn css(name: &str, status: serde_json::Value) -> ClusterSecretSync {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "sync.sse-rs.io/v1alpha1",
        "kind": "ClusterSecretSync",
        "metadata": {"name": name, "generation": 4},
        "spec": {"serviceAccountName": "sa", "secretProviderClassName": "kv",
                 "secretObject": {"type": "kubernetes.io/dockerconfigjson",
                                  "data": [{"sourcePath": "cfg", "targetKey": ".dockerconfigjson"}]},
                 "namespaces": {"selector": {}}},
        "status": status,
    }))
    .unwrap_or_else(|e| panic!("{e}"))
}

const FOREIGN: &str =
    "a Secret registry-creds exists there and is not this ClusterSecretSync's: left untouched";

/// 1000 namespaces selected, 3 failing, the status listing one of them.
fn failing() -> ClusterSecretSync {
    css(
        "registry-creds",
        serde_json::json!({
            "lastCheckedTime": "2026-12-06T14:13:00Z",
            "lastSuccessfulSyncTime": "2026-12-03T14:15:00Z",
            "nextCheckTime": "2026-12-06T14:23:00Z",
            "namespaces": {"selected": 1000, "synced": 996, "failed": 3, "pending": 1},
            "failures": [{"namespace": "team-x", "reason": "ForeignSecret", "since": "2026-12-06T09:15:00Z",
                          "message": FOREIGN}],
            "omittedFailures": 2,
            "observedGeneration": 4,
            "conditions": [
                {"type": "Fetched", "status": "True", "reason": "Fetched", "message": "",
                 "lastTransitionTime": "2026-12-03T14:15:00Z"},
                {"type": "Ready", "status": "False", "reason": "NamespacesFailing",
                 "message": "3 of 1000 namespaces failed", "lastTransitionTime": "2026-12-06T12:15:00Z"}],
        }),
    )
}

fn healthy(name: &str) -> ClusterSecretSync {
    css(
        name,
        serde_json::json!({
            "lastCheckedTime": "2026-12-06T14:10:00Z",
            "lastSuccessfulSyncTime": "2026-12-06T10:15:00Z",
            "nextCheckTime": "2026-12-06T14:20:00Z",
            "namespaces": {"selected": 12, "synced": 12, "failed": 0, "pending": 0},
            "conditions": [{"type": "Ready", "status": "True", "reason": "AllNamespacesSynced", "message": "",
                            "lastTransitionTime": "2026-12-06T10:15:00Z"}],
        }),
    )
}

#[test]
fn counts_times_and_the_failures_under_their_resource() {
    let row = ClusterRow::of(&failing());
    assert!(!row.is_ready());
    assert_eq!(row.failing(), 3);
    let text = render(&[row], Output::Table, at(NOW)).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines,
        [
            "NAME             READY   REASON              SELECTED   SYNCED   FAILED   PENDING   LAST CHECKED   \
             LAST CHANGED   NEXT CHECK",
            "registry-creds   False   NamespacesFailing   1000       996      3        1         2m ago         \
             3d ago         in 8m",
            "  team-x   ForeignSecret   since 5h   a Secret registry-creds exists there and is not this \
             ClusterSecretSync's: left untouched",
            "  (1 of 3 failing shown; kubectl events -n default --for clustersecretsync/registry-creds)",
        ]
    );
}

#[test]
fn each_resource_keeps_its_own_failures_and_the_note_comes_whenever_one_fails() {
    // Every failure listed: the note still says where the Events are.
    let all_listed = css(
        "b-fetch",
        serde_json::json!({
            "namespaces": {"selected": 2, "synced": 0, "failed": 2, "pending": 0},
            "failures": [
                {"namespace": "team-a", "reason": "ValidatingAdmissionPolicyCheckFailed",
                 "since": "2026-12-06T14:05:00Z", "message": "denied\nsecond line"},
                {"namespace": "team-bb", "reason": "ForeignSecret", "message": "not ours"}],
            "conditions": [{"type": "Ready", "status": "False", "reason": "NamespacesFailing", "message": "",
                            "lastTransitionTime": "2026-12-06T14:05:00Z"}],
        }),
    );
    let rows = appendable(Ok(vec![healthy("c-ok"), all_listed, healthy("a-ok")]))
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_default();
    assert_eq!(
        rows.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(),
        ["a-ok", "b-fetch", "c-ok"],
        "sorted by name"
    );
    let text = table(&rows, false, at(NOW));
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1 + 3 + 3, "{text}");
    assert!(
        lines[1].starts_with("a-ok ") && lines[2].starts_with("b-fetch "),
        "{text}"
    );
    assert_eq!(
        &lines[3..6],
        [
            "  team-a    ValidatingAdmissionPolicyCheckFailed   since 10m   denied",
            "  team-bb   ForeignSecret                          since -     not ours",
            "  (2 of 2 failing shown; kubectl events -n default --for clustersecretsync/b-fetch)",
        ]
    );
    assert!(lines[6].starts_with("c-ok "), "{text}");
    assert!(
        lines[1].contains("AllNamespacesSynced   12         12       0        0         5m ago"),
        "{text}"
    );
}

#[test]
fn a_failing_fetch_with_no_namespace_listed_says_so_in_the_reason() {
    let provider = css(
        "registry-creds",
        serde_json::json!({
            "lastCheckedTime": "2026-12-06T14:14:00Z",
            "nextCheckTime": "2026-12-06T14:12:00Z",
            "namespaces": {"selected": 3, "synced": 3, "failed": 0, "pending": 0},
            "conditions": [
                {"type": "Fetched", "status": "False", "reason": "ProviderError",
                 "message": "Key Vault answered 403 Forbidden\ndetails", "lastTransitionTime": "2026-12-06T14:00:00Z"},
                {"type": "Ready", "status": "False", "reason": "ProviderError",
                 "message": "Key Vault answered 403 Forbidden\ndetails", "lastTransitionTime": "2026-12-06T14:00:00Z"}],
        }),
    );
    let row = ClusterRow::of(&provider);
    assert_eq!(row.fetched.as_deref(), Some("False"));
    let wide = table(&[row], true, at(NOW));
    let lines: Vec<&str> = wide.lines().collect();
    assert_eq!(
        lines.len(),
        2,
        "no namespace fails: no failure lines, no note: {wide}"
    );
    assert!(lines[0].ends_with("NEXT CHECK   MESSAGE"), "{wide}");
    assert!(
        lines[1].contains("ProviderError")
            && lines[1].contains("-              due ")
            && lines[1].ends_with("Key Vault answered 403 Forbidden"),
        "never changed, next check due, the message's first line: {wide}"
    );
}

#[test]
fn never_checked() {
    let row = ClusterRow::of(&css("new", serde_json::json!(null)));
    assert_eq!(row.ready, "Unknown");
    let text = table(&[row], false, at(NOW));
    let line = text.lines().nth(1).unwrap_or_default();
    let cells: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(cells, ["new", "Unknown", "-", "0", "0", "0", "0", "-", "-", "-"]);
}

#[test]
fn json_and_yaml_carry_the_status() {
    let row = ClusterRow::of(&failing());
    let json: serde_json::Value =
        serde_json::from_str(&render(std::slice::from_ref(&row), Output::Json, at(NOW)).unwrap_or_default())
            .unwrap_or_default();
    let item = &json["items"][0];
    assert_eq!(item["name"], "registry-creds");
    assert_eq!(item["reason"], "NamespacesFailing");
    assert_eq!(item["fetched"], "True");
    assert_eq!(
        item["namespaces"],
        serde_json::json!({"selected": 1000, "synced": 996, "failed": 3, "pending": 1})
    );
    assert_eq!(item["failures"][0]["namespace"], "team-x");
    assert_eq!(item["failures"][0]["since"], "2026-12-06T09:15:00Z");
    assert_eq!(item["failures"][0]["message"], FOREIGN);
    assert_eq!(item["omittedFailures"], 2);
    assert_eq!(item["lastChangedTime"], "2026-12-03T14:15:00Z");
    assert_eq!(
        (&item["observedGeneration"], &item["generation"]),
        (&serde_json::json!(4), &serde_json::json!(4))
    );
    let yaml = render(&[row], Output::Yaml, at(NOW)).unwrap_or_default();
    assert!(
        yaml.starts_with("items:")
            && yaml.contains("omittedFailures: 2")
            && yaml.contains("reason: ForeignSecret"),
        "{yaml}"
    );
    let empty = render(&[], Output::Json, at(NOW)).unwrap_or_default();
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&empty).unwrap_or_default(),
        serde_json::json!({"items": []})
    );
}

fn api_error(code: u16, reason: &str) -> kube::Error {
    kube::Error::Api(
        kube::core::Status::failure("the answer", reason)
            .with_code(code)
            .boxed(),
    )
}

#[test]
fn a_403_or_404_leaves_them_out_silently_and_anything_else_is_said() {
    assert_eq!(appendable(Err(api_error(403, "Forbidden"))), Ok(None));
    assert_eq!(appendable(Err(api_error(404, "NotFound"))), Ok(None), "no CRD");
    assert_eq!(
        appendable(Err(api_error(500, "InternalError"))),
        Err("ClusterSecretSyncs left out: the answer (500)".to_string())
    );
    assert_eq!(appendable(Ok(vec![])), Ok(Some(vec![])));
}

#[test]
fn status_all_namespaces_appends_the_cluster_table_and_json_key() {
    use crate::status::{Row, render_all, render_with};
    let sync: sse_api::SecretSync = serde_json::from_value(serde_json::json!({
        "apiVersion": "secret-sync.x-k8s.io/v1alpha1", "kind": "SecretSync",
        "metadata": {"name": "db", "namespace": "apps"},
        "spec": {"serviceAccountName": "sa", "secretProviderClassName": "kv",
                 "secretObject": {"type": "Opaque", "data": [{"sourcePath": "pw", "targetKey": "pw"}]}},
    }))
    .unwrap_or_else(|e| panic!("{e}"));
    let rows = [Row::of(&sync)];
    let clusters = [ClusterRow::of(&failing())];
    let now = at(NOW);
    let alone = render_with(&rows, Output::Table, true, now, None).unwrap_or_default();
    let both = render_all(&rows, Output::Table, true, now, None, Some(&clusters)).unwrap_or_default();
    assert_eq!(
        both,
        format!("{alone}\n{}", table(&clusters, false, now)),
        "the SecretSyncs' table, a blank line, the ClusterSecretSyncs'"
    );
    // Not listed (403, 404), or none: the SecretSyncs' table as before.
    for clusters in [None, Some(&[][..])] {
        assert_eq!(
            render_all(&rows, Output::Table, true, now, None, clusters).unwrap_or_default(),
            alone
        );
    }

    let json = |clusters| -> serde_json::Value {
        serde_json::from_str(&render_all(&rows, Output::Json, true, now, None, clusters).unwrap_or_default())
            .unwrap_or_default()
    };
    let listed = json(Some(&clusters));
    assert_eq!(listed["items"][0]["name"], "db", "items keep their place");
    assert_eq!(listed["clusterSecretSyncs"][0]["name"], "registry-creds");
    assert!(json(None).get("clusterSecretSyncs").is_none());
    assert_eq!(
        json(Some(&[])).get("clusterSecretSyncs"),
        Some(&serde_json::json!([]))
    );
}

#[test]
fn the_cluster_flag_takes_a_name() {
    use clap::Parser as _;

    use crate::command::{Cli, Command};
    let cli = Cli::try_parse_from([
        "kubectl-sse",
        "status",
        "--cluster",
        "registry-creds",
        "-o",
        "json",
    ])
    .unwrap_or_else(|e| panic!("{e}"));
    let Command::Status(args) = cli.command else {
        panic!("status")
    };
    assert!(args.cluster);
    assert_eq!(args.name.as_deref(), Some("registry-creds"));
    assert_eq!(args.output, Output::Json);
    let cli = Cli::try_parse_from(["kubectl-sse", "status", "-A"]).unwrap_or_else(|e| panic!("{e}"));
    let Command::Status(args) = cli.command else {
        panic!("status")
    };
    assert!(!args.cluster);
}

mod fake_api;

use super::*;

fn at(rfc3339: &str) -> SystemTime {
    parse_time(rfc3339).unwrap_or_else(|| panic!("{rfc3339}"))
}

fn sync(status: serde_json::Value) -> SecretSync {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "secret-sync.x-k8s.io/v1alpha1",
        "kind": "SecretSync",
        "metadata": {"name": "db", "namespace": "apps"},
        "spec": {"serviceAccountName": "sa", "secretProviderClassName": "kv",
                 "secretObject": {"type": "Opaque", "data": [{"sourcePath": "pw", "targetKey": "pw"}]}},
        "status": status,
    }))
    .unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn the_three_times_the_operator_needs() {
    let failing = sync(serde_json::json!({
        "lastCheckedTime": "2026-12-06T14:14:00Z",
        "lastSuccessfulSyncTime": "2026-12-06T13:00:00Z",
        "nextCheckTime": "2026-12-06T14:19:00Z",
        "failingSince": "2026-12-06T14:02:00Z",
        "refreshInterval": "5m0s",
        "validity": [{"object": "secret/pw", "expiresAt": "2026-12-16T14:15:00Z", "state": "Expiring"},
                     {"object": "cert/tls", "expiresAt": "2027-06-01T00:00:00Z", "state": "Valid"}],
        "conditions": [{"type": "Ready", "status": "False", "reason": "ProviderError",
                        "message": "Key Vault answered 403 Forbidden", "lastTransitionTime": "2026-12-06T14:02:00Z"}],
    }));
    let row = Row::of(&failing);
    assert!(!row.is_ready());
    let now = at("2026-12-06T14:15:00Z");
    let text = render(std::slice::from_ref(&row), Output::Table, false, now).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines,
        [
            "NAME   READY   REASON          LAST CHECKED   LAST CHANGED   NEXT CHECK   FAILING SINCE",
            "db     False   ProviderError   60s ago        75m ago        in 4m        13m ago",
        ]
    );
    let wide = render(std::slice::from_ref(&row), Output::Wide, true, now).unwrap_or_default();
    assert!(wide.starts_with("NAMESPACE   NAME"), "{wide}");
    assert!(
        wide.contains("5m0s") && wide.contains("Key Vault answered 403 Forbidden"),
        "{wide}"
    );
    assert!(
        wide.contains("EXPIRES") && wide.contains("in 10d"),
        "the soonest expiry: {wide}"
    );

    let json: serde_json::Value =
        serde_json::from_str(&render(&[row], Output::Json, false, now).unwrap_or_default())
            .unwrap_or_default();
    assert_eq!(json["items"][0]["lastChangedTime"], "2026-12-06T13:00:00Z");
    assert_eq!(json["items"][0]["reason"], "ProviderError");
    assert_eq!(json["items"][0]["secret"], "db");
}

#[test]
fn a_next_check_in_the_past_is_due_until_it_is_overdue() {
    let now = at("2026-12-06T14:15:00Z");
    let interval = Some(Duration::from_secs(60));
    assert_eq!(next_check(Some("2026-12-06T14:13:00Z"), interval, now), "due");
    assert_eq!(
        next_check(Some("2026-12-06T14:05:00Z"), interval, now),
        "overdue 10m"
    );
    assert_eq!(
        next_check(Some("2026-12-06T13:25:00Z"), Some(Duration::from_secs(3600)), now),
        "due"
    );
    assert_eq!(next_check(None, interval, now), "-");
}

#[test]
fn never_checked() {
    let row = Row::of(&sync(serde_json::json!({})));
    assert_eq!(row.ready, "Unknown");
    let text = render(&[row], Output::Table, false, SystemTime::now()).unwrap_or_default();
    assert!(
        text.lines()
            .nth(1)
            .is_some_and(|l| l.split_whitespace().skip(2).all(|c| c == "-")),
        "{text}"
    );
}

#[test]
fn durations_read_like_kubectl_ages() {
    let h = |s| human(Duration::from_secs(s));
    assert_eq!(
        [
            h(45),
            h(150),
            h(600),
            h(47 * 60),
            h(5 * 3600 + 180),
            h(30 * 3600),
            h(12 * 86_400)
        ],
        ["45s", "2m30s", "10m", "47m", "5h3m", "30h", "12d"]
    );
    let go = sse_api::validation::parse_duration;
    assert_eq!(
        go("1h30m0s"),
        Some(Duration::from_secs(5400)),
        "as the status writes it"
    );
    assert_eq!(go("45s"), Some(Duration::from_secs(45)));
    assert_eq!(go("1x"), None);
}

//! Where the stream of the vault's events stands (docs/EVENTS.md#refresh-driven-by-events), as the leader
//! notes it at each renewal of its Lease, in the annotation [`EVENT_STREAM_ANNOTATION`]: `status` prints it
//! in one line, `doctor` checks it. The note's shape is `sse_api::event_stream::StreamNote`, which the
//! manager writes.

use std::time::{Duration, SystemTime};

use k8s_openapi::api::coordination::v1::Lease;
use kube::api::Api;
use sse_api::consts::{EVENT_STREAM_ANNOTATION, LEADER_ELECTION_ID};

use crate::doctor::Lookup;
use crate::status::{human, parse_time};

pub use sse_api::event_stream::{FAILING, RECEIVING, STARTING, StreamNote};

/// Longest wait for the Lease: it is an extra, the command does not wait on it for the whole request timeout.
const READ_TIMEOUT: Duration = Duration::from_secs(5);
/// The leader renews its Lease every 2 s (15 s duration): a Lease older than this has no leader behind it,
/// and its note says where the stream stood when the last one stopped.
const STALE_AFTER: Duration = Duration::from_secs(60);

/// What the leader-election Lease says about the stream.
#[derive(Debug, Clone, PartialEq)]
pub struct LeaseNote {
    /// The install namespace, where the Lease was read.
    pub namespace: String,
    /// The annotation's value as written; `None`: events are off.
    pub annotation: Option<String>,
    /// The leader's pod (`holderIdentity`).
    pub holder: Option<String>,
    /// When the leader last renewed the Lease.
    pub renewed: Option<SystemTime>,
    /// When the Lease was read: the note's times are told relative to it.
    pub read_at: SystemTime,
}

impl LeaseNote {
    /// What `lease`, read from `namespace` at `read_at`, says.
    pub fn of(namespace: &str, lease: Lease, read_at: SystemTime) -> Self {
        let spec = lease.spec.unwrap_or_default();
        Self {
            namespace: namespace.to_string(),
            annotation: lease
                .metadata
                .annotations
                .and_then(|mut a| a.remove(EVENT_STREAM_ANNOTATION)),
            holder: spec.holder_identity,
            renewed: spec.renew_time.map(|t| SystemTime::from(t.0)),
            read_at,
        }
    }

    /// The note: `None` while events are off, an error when the annotation does not parse.
    pub fn note(&self) -> Option<Result<StreamNote, String>> {
        let text = self.annotation.as_deref()?;
        Some(serde_json::from_str(text).map_err(|e| format!("{EVENT_STREAM_ANNOTATION} does not parse: {e}")))
    }

    /// How long ago the Lease was last renewed, when that is too long for a leader to be behind it.
    pub fn stale_for(&self) -> Option<Duration> {
        let age = self.read_at.duration_since(self.renewed?).ok()?;
        (age > STALE_AFTER).then_some(age)
    }

    /// How long ago `time` (RFC 3339) was, from when the Lease was read.
    pub fn ago(&self, time: Option<&str>) -> Option<Duration> {
        self.read_at.duration_since(parse_time(time?)?).ok()
    }

    /// The note as `status -o json` shows it: the note's fields and `leaseRenewTime`.
    pub fn to_json(&self) -> Option<serde_json::Value> {
        let mut value = serde_json::to_value(self.note()?.ok()?).ok()?;
        let renewed = self
            .renewed
            .and_then(|t| k8s_openapi::jiff::Timestamp::try_from(t).ok());
        if let (Some(object), Some(renewed)) = (value.as_object_mut(), renewed) {
            object.insert("leaseRenewTime".into(), renewed.to_string().into());
        }
        Some(value)
    }

    /// The one line `status` prints above its table; `None` while events are off.
    pub fn status_line(&self) -> Option<String> {
        let note = match self.note()? {
            Ok(note) => note,
            Err(error) => {
                return Some(format!(
                    "Vault events: the leader's note cannot be read ({error})"
                ));
            }
        };
        let since = self.ago(note.since.as_deref()).map(human);
        let mut line = match note.state.as_str() {
            RECEIVING => match self.ago(note.last_event_time.as_deref()) {
                Some(ago) => format!(
                    "Vault events: receiving from {}; last event {} ago{}",
                    note.source,
                    human(ago),
                    note.lag_seconds
                        .map(|s| format!(" (delivered in {})", lag(s)))
                        .unwrap_or_default()
                ),
                None => format!(
                    "Vault events: receiving from {}; no event yet{}",
                    note.source,
                    since.map(|s| format!(" (reading for {s})")).unwrap_or_default()
                ),
            },
            STARTING => format!(
                "Vault events: starting to read {}{}",
                note.source,
                since.map(|s| format!(" ({s} ago)")).unwrap_or_default()
            ),
            FAILING => format!(
                "Vault events: FAILING{} ({}): {}",
                since.map(|s| format!(" since {s}")).unwrap_or_default(),
                note.reason.as_deref().unwrap_or("no reason given"),
                crate::doctor::first_line(note.message.as_deref().unwrap_or_default())
            ),
            other => format!("Vault events: {other} ({})", note.source),
        };
        if let Some(age) = self.stale_for() {
            line.push_str(&format!(
                " [stale: no leader has renewed the Lease for {}]",
                human(age)
            ));
        }
        Some(line)
    }
}

/// The namespace name, topic and subscription of a `host/topic/subscription` source.
pub fn source_parts(source: &str) -> Option<(&str, &str, &str)> {
    let mut parts = source.rsplitn(3, '/');
    let (subscription, topic, host) = (parts.next()?, parts.next()?, parts.next()?);
    let namespace = host.split('.').next().filter(|n| !n.is_empty())?;
    Some((namespace, topic, subscription))
}

/// A delivery lag: tenths of a second under ten seconds, else as an age.
pub fn lag(seconds: f64) -> String {
    match Duration::try_from_secs_f64(seconds) {
        Ok(d) if d < Duration::from_secs(10) => format!("{:.1}s", d.as_secs_f64()),
        Ok(d) => human(d),
        Err(_) => "?".into(),
    }
}

/// Read the leader-election Lease in `namespace`: found (with or without a note), absent, or not readable
/// with the caller's rights (most people may not read Leases in the install namespace). Never longer than
/// [`READ_TIMEOUT`].
pub async fn read(client: &kube::Client, namespace: &str) -> Lookup<LeaseNote> {
    let api: Api<Lease> = Api::namespaced(client.clone(), namespace);
    let lease = match tokio::time::timeout(READ_TIMEOUT, api.get_opt(LEADER_ELECTION_ID)).await {
        Err(_) => return Lookup::Unreadable(format!("no answer within {}s", READ_TIMEOUT.as_secs())),
        Ok(Err(kube::Error::Api(status))) => {
            return Lookup::Unreadable(format!("{} ({})", status.message, status.code));
        }
        Ok(Err(error)) => return Lookup::Unreadable(error.to_string()),
        Ok(Ok(None)) => return Lookup::Missing,
        Ok(Ok(Some(lease))) => lease,
    };
    Lookup::Found(LeaseNote::of(namespace, lease, SystemTime::now()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(rfc3339: &str) -> SystemTime {
        parse_time(rfc3339).unwrap_or_else(|| panic!("{rfc3339}"))
    }

    fn lease(note: Option<serde_json::Value>) -> LeaseNote {
        LeaseNote {
            namespace: "azure-secret-store".into(),
            annotation: note.map(|n| n.to_string()),
            holder: Some("manager-0".into()),
            renewed: Some(at("2026-12-06T14:14:59Z")),
            read_at: at("2026-12-06T14:15:00Z"),
        }
    }

    const SOURCE: &str = "ns.westeurope-1.eventgrid.azure.net/t/s";

    #[test]
    fn one_line_per_state() {
        assert_eq!(lease(None).status_line(), None, "events off: nothing to say");
        let receiving = lease(Some(serde_json::json!({
            "state": "Receiving", "source": SOURCE, "since": "2026-12-06T13:00:00Z",
            "lastEventTime": "2026-12-06T14:14:48Z", "lagSeconds": 0.8, "received": 3,
        })));
        assert_eq!(
            receiving.status_line().as_deref(),
            Some(
                "Vault events: receiving from ns.westeurope-1.eventgrid.azure.net/t/s; last event 12s ago (delivered in 0.8s)"
            )
        );
        let quiet = lease(Some(serde_json::json!({
            "state": "Receiving", "source": SOURCE, "since": "2026-12-06T14:10:00Z", "received": 0,
        })));
        assert_eq!(
            quiet.status_line().as_deref(),
            Some(
                "Vault events: receiving from ns.westeurope-1.eventgrid.azure.net/t/s; no event yet (reading for 5m)"
            )
        );
        let failing = lease(Some(serde_json::json!({
            "state": "Failing", "source": SOURCE, "since": "2026-12-06T14:12:00Z", "reason": "Forbidden",
            "message": "ns… answered HTTP 403: the manager's identity needs the EventGrid Data Receiver role\nmore",
            "received": 0,
        })));
        assert_eq!(
            failing.status_line().as_deref(),
            Some(
                "Vault events: FAILING since 3m (Forbidden): ns… answered HTTP 403: the manager's identity needs the \
                 EventGrid Data Receiver role"
            )
        );
        let mut stale = failing;
        stale.renewed = Some(at("2026-12-06T14:05:00Z"));
        assert!(
            stale
                .status_line()
                .is_some_and(|l| l.ends_with("[stale: no leader has renewed the Lease for 10m]")),
            "{stale:?}"
        );
        let garbled = LeaseNote {
            annotation: Some("{not json".into()),
            ..lease(None)
        };
        assert!(
            garbled
                .status_line()
                .is_some_and(|l| l.starts_with("Vault events: the leader's note cannot be read")),
            "a note that does not parse is said, not hidden"
        );
    }

    #[test]
    fn a_note_with_only_a_state_reads_and_json_keeps_its_shape() {
        let minimal = lease(Some(serde_json::json!({"state": "Starting"})));
        assert_eq!(
            minimal.note().and_then(Result::ok).map(|n| (n.state, n.received)),
            Some(("Starting".to_string(), 0))
        );
        let json = lease(Some(serde_json::json!({
            "state": "Receiving", "source": SOURCE, "since": "2026-12-06T13:00:00Z", "lagSeconds": 1.5, "received": 2,
        })))
        .to_json()
        .unwrap_or_default();
        assert_eq!(json["state"], "Receiving");
        assert_eq!(json["lagSeconds"], 1.5);
        assert_eq!(json["leaseRenewTime"], "2026-12-06T14:14:59Z");
        assert!(json.get("reason").is_none(), "{json}");
    }

    #[test]
    fn status_prints_the_line_above_the_table_and_json_beside_the_items() {
        use crate::cli::Output;
        use crate::status::{Row, render, render_with};
        let sync: sse_api::SecretSync = serde_json::from_value(serde_json::json!({
            "apiVersion": "secret-sync.x-k8s.io/v1alpha1", "kind": "SecretSync",
            "metadata": {"name": "db", "namespace": "apps"},
            "spec": {"serviceAccountName": "sa", "secretProviderClassName": "kv",
                     "secretObject": {"type": "Opaque", "data": [{"sourcePath": "pw", "targetKey": "pw"}]}},
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        let rows = [Row::of(&sync)];
        let now = at("2026-12-06T14:15:00Z");
        let failing = lease(Some(serde_json::json!({
            "state": "Failing", "source": SOURCE, "since": "2026-12-06T14:12:00Z", "reason": "NotFound",
            "message": "no such subscription", "received": 0,
        })));
        let table = render_with(&rows, Output::Table, false, now, Some(&failing)).unwrap_or_default();
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(
            lines.first().copied(),
            Some("Vault events: FAILING since 3m (NotFound): no such subscription")
        );
        assert!(lines.get(1).is_some_and(|l| l.starts_with("NAME")), "{table}");
        // Events off, or the Lease not readable: the table alone, as before.
        let off = render_with(&rows, Output::Table, false, now, Some(&lease(None))).unwrap_or_default();
        assert_eq!(off, render(&rows, Output::Table, false, now).unwrap_or_default());
        assert!(off.starts_with("NAME"), "{off}");

        let json: serde_json::Value = serde_json::from_str(
            &render_with(&rows, Output::Json, false, now, Some(&failing)).unwrap_or_default(),
        )
        .unwrap_or_default();
        assert_eq!(json["items"][0]["name"], "db", "items keep their place: {json}");
        assert_eq!(json["vaultEvents"]["state"], "Failing");
        assert_eq!(json["vaultEvents"]["reason"], "NotFound");
        let json: serde_json::Value = serde_json::from_str(
            &render_with(&rows, Output::Json, false, now, Some(&lease(None))).unwrap_or_default(),
        )
        .unwrap_or_default();
        assert!(json.get("vaultEvents").is_none(), "{json}");
        let yaml = render_with(&rows, Output::Yaml, false, now, Some(&failing)).unwrap_or_default();
        assert!(
            yaml.contains("vaultEvents:") && yaml.contains("state: Failing"),
            "{yaml}"
        );
    }

    #[test]
    fn sources_and_lags() {
        assert_eq!(source_parts(SOURCE), Some(("ns", "t", "s")));
        assert_eq!(source_parts("t/s"), None);
        assert_eq!(lag(0.84), "0.8s");
        assert_eq!(lag(125.0), "2m5s");
        assert_eq!(lag(f64::NAN), "?");
        assert_eq!(lag(-1.0), "?");
    }
}

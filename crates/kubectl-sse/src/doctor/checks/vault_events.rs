//! The stream of the vault's events (docs/EVENTS.md#refresh-driven-by-events): off, receiving, starting,
//! or failing and why, from the leader's note on its Lease and the last `EventStreamFailed` Event.

use std::time::Duration;

use sse_api::consts::LEADER_ELECTION_ID;

use super::{Check, Verdict, check, first_line};
use crate::doctor::facts::{Facts, Lookup};
use crate::doctor::{AZURE_AUDIENCE, EVENTS_CONFIGMAP, MANAGER_NAME, POD_SELECTOR};
use crate::status::human;
use crate::vault_events::{self, FAILING, LeaseNote, RECEIVING, STARTING, StreamNote};

const NAME: &str = "vault-events";
/// The first receive answers within `--events-max-wait` (at most 120 s): starting for longer is a request
/// that hangs.
const STARTING_TOO_LONG: Duration = Duration::from_secs(120);

pub(super) fn vault_events(facts: &Facts) -> Check {
    let lease = match &facts.event_stream {
        Lookup::Found(lease) => lease,
        Lookup::Missing => {
            return check(
                NAME,
                Verdict::Skip,
                format!(
                    "no leader Lease {LEADER_ELECTION_ID} in the install namespace (--install-namespace)"
                ),
                None,
            );
        }
        Lookup::Unreadable(why) => {
            return check(
                NAME,
                Verdict::Skip,
                format!("cannot read the leader's Lease: {why}"),
                None,
            );
        }
    };
    let ns = &lease.namespace;
    let logs = format!("kubectl -n {ns} logs deploy/{MANAGER_NAME} -c manager | grep -i event");
    let note = match lease.note() {
        None => {
            return check(
                NAME,
                Verdict::Info,
                "off: SecretSyncs are refreshed by polling alone (rotationPollIntervalInSeconds, \
                 sse-rs.io/refresh-interval)",
                Some(
                    "deploy/README.md \"Refresh from the vault's events\" (deploy/components/events)".into(),
                ),
            );
        }
        Some(Err(error)) => return check(NAME, Verdict::Warn, error, Some(logs)),
        Some(Ok(note)) => note,
    };
    if let Some(age) = lease.stale_for() {
        return check(
            NAME,
            Verdict::Warn,
            format!(
                "no leader has renewed the Lease for {}: its note ({} from {}) is old; is the manager running?",
                human(age),
                note.state,
                note.source
            ),
            Some(format!("kubectl -n {ns} get pods -l {POD_SELECTOR}")),
        );
    }
    let since = lease.ago(note.since.as_deref());
    match note.state.as_str() {
        RECEIVING => check(NAME, Verdict::Ok, receiving(lease, &note), None),
        STARTING if since.is_some_and(|s| s > STARTING_TOO_LONG) => check(
            NAME,
            Verdict::Warn,
            format!(
                "starting to read {} for {}: Event Grid has not answered the first request",
                note.source,
                since.map(human).unwrap_or_default()
            ),
            Some(logs),
        ),
        STARTING => check(
            NAME,
            Verdict::Ok,
            format!("starting to read {}", note.source),
            None,
        ),
        FAILING => failing(facts, lease, &note, logs),
        other => check(
            NAME,
            Verdict::Warn,
            format!(
                "the leader notes a state this doctor does not know: {other} ({})",
                note.source
            ),
            Some(logs),
        ),
    }
}

fn receiving(lease: &LeaseNote, note: &StreamNote) -> String {
    let last = match lease.ago(note.last_event_time.as_deref()) {
        Some(ago) => format!(
            "last event {} ago{}",
            human(ago),
            note.lag_seconds
                .map(|s| format!(", delivered in {}", vault_events::lag(s)))
                .unwrap_or_default()
        ),
        None => "no event yet".into(),
    };
    format!(
        "receiving from {}; {last}; {} event(s) this term of leadership",
        note.source, note.received
    )
}

fn failing(facts: &Facts, lease: &LeaseNote, note: &StreamNote, logs: String) -> Check {
    let ns = &lease.namespace;
    let reason = note.reason.as_deref().unwrap_or("no reason given");
    let (namespace, topic, subscription) =
        vault_events::source_parts(&note.source).unwrap_or(("<namespace>", "<topic>", "<subscription>"));
    let subject = format!("system:serviceaccount:{ns}:{MANAGER_NAME}");
    let client_id = format!(
        "$(kubectl -n {ns} get configmap {EVENTS_CONFIGMAP} -o jsonpath='{{.data.AZURE_CLIENT_ID}}')"
    );
    let (what, fix) = match reason {
        "Forbidden" => (
            "the manager's identity lacks the \"EventGrid Data Receiver\" role on the namespace topic"
                .to_string(),
            format!(
                "az role assignment create --role \"EventGrid Data Receiver\" --assignee {client_id} --scope \
                 $(az eventgrid namespace topic show -g <resource group> --namespace-name {namespace} -n {topic} \
                 --query id -o tsv)"
            ),
        ),
        "NotFound" => (
            format!(
                "the Event Grid namespace {namespace}, its topic {topic} or the event subscription {subscription} \
                 does not exist (EVENTS_ENDPOINT, EVENTS_TOPIC, EVENTS_SUBSCRIPTION)"
            ),
            format!(
                "az eventgrid namespace topic event-subscription show -g <resource group> --namespace-name \
                 {namespace} --topic-name {topic} -n {subscription}"
            ),
        ),
        "TokenFailed" => {
            let issuer = match &facts.issuer {
                Lookup::Found(issuer) => issuer.clone(),
                _ => "<the cluster's OIDC issuer>".into(),
            };
            (
                format!(
                    "no Entra token for the manager: the federated credential for {subject}, AZURE_CLIENT_ID and \
                     AZURE_TENANT_ID, the projected token"
                ),
                format!(
                    "az identity federated-credential create --name sse-rs-manager --identity-name <the manager's \
                     identity> --resource-group <its resource group> --issuer {issuer} --subject {subject} \
                     --audiences {AZURE_AUDIENCE}"
                ),
            )
        }
        "Unauthorized" => (
            format!(
                "Event Grid refused the credential: the access key (EVENTS_ACCESS_KEY_FILE), or the token of the \
                 workload identity federated for {subject}"
            ),
            format!("az eventgrid namespace list-key -g <resource group> --namespace-name {namespace}"),
        ),
        "Unreachable" => (
            "Event Grid or Entra cannot be reached: DNS, firewall, proxy (deploy/components/outbound-proxy \
             gives the manager HTTPS_PROXY too)"
                .to_string(),
            logs,
        ),
        _ => (String::new(), logs),
    };
    let mut summary = format!(
        "failing{} ({reason}): {}",
        lease
            .ago(note.since.as_deref())
            .map(|s| format!(" for {}", human(s)))
            .unwrap_or_default(),
        first_line(note.message.as_deref().unwrap_or_default())
    );
    if !what.is_empty() {
        summary.push_str(&format!("; {what}"));
    }
    if let Lookup::Found(events) = &facts.event_stream_failures
        && let Some(last) = events.last()
    {
        summary.push_str(&format!("; last Event {} ({}x)", last.reason, last.count));
        if Some(last.message.as_str()) != note.message.as_deref() {
            summary.push_str(&format!(": {}", first_line(&last.message)));
        }
    }
    summary.push_str("; SecretSyncs keep refreshing by polling meanwhile");
    check(NAME, Verdict::Fail, summary, Some(fix))
}

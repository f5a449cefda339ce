//! Events: one `events.k8s.io/v1` Event per call, reported by the manager.

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1 as events;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::Client;
use kube::api::{Api, PostParams};
use sse_api::consts;

use super::bounded;

/// Publish one `events.k8s.io/v1` Event about `regarding` in `namespace`, reported by the manager
/// (`reporting_instance`: which process); best effort, bounded like every API call. The events admission
/// policy admits exactly these: reported by the manager, about a SecretSync, an AKVSync or a workload.
#[allow(
    clippy::too_many_arguments,
    reason = "an Event's fields, each named at the call"
)]
pub async fn publish(
    client: &Client,
    namespace: &str,
    name: &str,
    regarding: ObjectReference,
    warning: bool,
    reason: &str,
    message: &str,
    reporting_instance: &str,
) {
    let now = k8s_openapi::jiff::Timestamp::now();
    let event = events::Event {
        metadata: ObjectMeta {
            name: Some(format!("{name}.{:x}", now.as_nanosecond())),
            namespace: Some(namespace.to_string()),
            ..ObjectMeta::default()
        },
        action: Some("Sync".into()),
        reason: Some(reason.into()),
        note: Some(truncate(message, 1024)),
        type_: Some(if warning { "Warning" } else { "Normal" }.into()),
        event_time: Some(MicroTime(now)),
        regarding: Some(regarding),
        reporting_controller: Some(consts::FIELD_MANAGER.into()),
        reporting_instance: Some(reporting_instance.to_string()),
        ..events::Event::default()
    };
    let api: Api<events::Event> = Api::namespaced(client.clone(), namespace);
    if let Err(error) = bounded(api.create(&PostParams::default(), &event)).await {
        tracing::debug!(%error, "failed to publish event");
    }
}

/// `s` cut to at most `max` bytes (the API server counts bytes), ending in `…` when cut.
pub fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let end = s.floor_char_boundary(max.saturating_sub('…'.len_utf8()));
    format!("{}…", &s[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_event_notes_are_truncated_on_a_char_boundary() {
        let s = "é".repeat(1000);
        let t = truncate(&s, 1024);
        assert!(
            t.len() <= 1024,
            "events.k8s.io rejects notes over 1024 bytes: {}",
            t.len()
        );
        assert!(t.ends_with('…'));
        assert_eq!(truncate("short", 1024), "short");
    }
}

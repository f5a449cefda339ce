//! The Secret an ExternalSecret writes (`spec.target`) and how often it is refreshed
//! (`spec.refreshInterval`, `spec.refreshPolicy`).

use std::collections::BTreeMap;

use serde_json::Value;
use sse_api::consts::{DEFAULT_SECRET_TYPE, REFRESH_INTERVAL_ANNOTATION};
use sse_api::validation::parse_duration;

use super::api::ExternalSecret;
use super::objects::KvObject;
use crate::migrate::admission::TLS_SECRET_TYPE;
use crate::migrate::migration::Notes;

/// The Secret an ExternalSecret writes.
pub(super) struct TargetSecret {
    pub(super) name: String,
    pub(super) type_: String,
    pub(super) labels: Option<BTreeMap<String, String>>,
    pub(super) annotations: Option<BTreeMap<String, String>>,
    /// `template.data` or `template.templateFrom` is set.
    pub(super) templated: bool,
}

/// `spec.target`, with a note for each policy SSE-rs does not follow.
pub(super) fn target_of(es: &ExternalSecret, es_name: &str, notes: &mut Notes) -> TargetSecret {
    let target = &es.spec.target;
    match target.creation_policy.as_deref() {
        None | Some("Owner") => {}
        Some("Merge") => notes.add(
            "spec.target.creationPolicy",
            "Merge: ESO adds keys to a Secret someone else owns; SSE-rs writes a Secret it owns (an existing one after adoption: kubectl sse adopt)",
        ),
        Some("Orphan") => notes.add(
            "spec.target.creationPolicy",
            "Orphan: ESO leaves the Secret behind when the ExternalSecret goes; SSE-rs's Secret is owned by its SecretSync and garbage-collected with it",
        ),
        Some(other) => notes.add(
            "spec.target.creationPolicy",
            format!("{other}: SSE-rs creates the Secret and owns it"),
        ),
    }
    if let Some(policy) = target.deletion_policy.as_deref()
        && policy != "Retain"
    {
        notes.add(
            "spec.target.deletionPolicy",
            format!("{policy}: SSE-rs never deletes a Secret or its keys when a vault object is gone: the Secret keeps its last value"),
        );
    }
    if target.immutable == Some(true) {
        notes.add(
            "spec.target.immutable",
            "SSE-rs updates the Secret in place when the vault changes",
        );
    }
    let template = &target.template;
    TargetSecret {
        name: target.name.as_deref().unwrap_or(es_name).to_string(),
        type_: template
            .type_
            .as_deref()
            .unwrap_or(DEFAULT_SECRET_TYPE)
            .to_string(),
        labels: unless_empty(&template.metadata.labels),
        annotations: unless_empty(&template.metadata.annotations),
        templated: is_set(template.data.as_ref()) || is_set(template.template_from.as_ref()),
    }
}

/// A map of strings (labels, annotations); `None` when empty.
fn unless_empty(map: &BTreeMap<String, String>) -> Option<BTreeMap<String, String>> {
    (!map.is_empty()).then(|| map.clone())
}

/// Whether a field holds something (a non-empty object, list or string, or any other value).
fn is_set(value: Option<&Value>) -> bool {
    match value {
        None | Some(Value::Null) => false,
        Some(Value::Object(map)) => !map.is_empty(),
        Some(Value::Array(list)) => !list.is_empty(),
        Some(Value::String(s)) => !s.trim().is_empty(),
        Some(_) => true,
    }
}

/// The note for a template, and the (Secret key, object) pairs to map instead. A `kubernetes.io/tls`
/// template over one certificate-backed secret becomes the manager's own split: that object mapped to
/// `tls.crt` and `tls.key`. Any other template keeps `wanted`.
pub(super) fn template_note(
    target: &TargetSecret,
    wanted: Vec<(String, KvObject)>,
    notes: &mut Notes,
) -> Vec<(String, KvObject)> {
    let single = wanted
        .first()
        .map(|(_, object)| object.clone())
        .filter(|first| first.object_type == "secret" && wanted.iter().all(|(_, object)| object == first));
    match single {
        Some(object) if target.type_ == TLS_SECRET_TYPE => {
            notes.add(
                "spec.target.template",
                format!(
                    "SSE-rs has no templating; for kubernetes.io/tls it splits a certificate (PEM, or PFX without a password) into tls.crt and tls.key itself: both are mapped from {}, check the template did no more than that",
                    object.name
                ),
            );
            vec![
                ("tls.crt".to_string(), object.clone()),
                ("tls.key".to_string(), object),
            ]
        }
        _ => {
            notes.add(
                "spec.target.template",
                "SSE-rs has no templating: each key holds one vault object as fetched (the keys are spec.data[].secretKey, not the template's)",
            );
            wanted
        }
    }
}

/// `spec.refreshInterval` as the SecretSync's refresh-interval annotation; `spec.refreshPolicy`.
pub(super) fn refresh_annotations(es: &ExternalSecret, notes: &mut Notes) -> BTreeMap<String, String> {
    let mut annotations = BTreeMap::new();
    if let Some(interval) = es.spec.refresh_interval.as_deref() {
        if parse_duration(interval).is_some() {
            annotations.insert(REFRESH_INTERVAL_ANNOTATION.to_string(), interval.to_string());
        } else if interval.chars().any(|c| c.is_ascii_digit())
            && interval.chars().filter(char::is_ascii_digit).all(|c| c == '0')
        {
            notes.add(
                "spec.refreshInterval",
                format!("{interval}: ESO fetches once; SSE-rs checks every SecretSync periodically (without {REFRESH_INTERVAL_ANNOTATION}, every rotationPollIntervalInSeconds)"),
            );
        } else {
            notes.add(
                "spec.refreshInterval",
                format!("{interval}: not a duration SSE-rs reads (hours, minutes, seconds, such as 1h30m): without {REFRESH_INTERVAL_ANNOTATION} the manager's interval applies"),
            );
        }
    }
    if let Some(policy) = es.spec.refresh_policy.as_deref()
        && policy != "Periodic"
    {
        notes.add(
            "spec.refreshPolicy",
            format!("{policy}: SSE-rs checks the vault periodically, and at once on kubectl sse sync"),
        );
    }
    annotations
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::migrate::lenient::read;

    #[test]
    fn refresh_intervals() {
        let annotate = |interval: &str| {
            let mut notes = Notes::new("ExternalSecret x".to_string());
            let es = serde_json::json!({"spec": {"refreshInterval": interval}});
            let annotations = refresh_annotations(&read(&es), &mut notes);
            (
                annotations.get(REFRESH_INTERVAL_ANNOTATION).cloned(),
                notes.list.len(),
            )
        };
        assert_eq!(annotate("1h0m0s"), (Some("1h0m0s".to_string()), 0));
        assert_eq!(annotate("90s"), (Some("90s".to_string()), 0));
        assert_eq!(annotate("0"), (None, 1));
        assert_eq!(annotate("0s"), (None, 1));
        assert_eq!(annotate("500ms"), (None, 1));
    }
}

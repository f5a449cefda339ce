//! The Secret an ExternalSecret writes (`spec.target`) and how often it is refreshed
//! (`spec.refreshInterval`, `spec.refreshPolicy`).

use std::collections::BTreeMap;

use sse_api::consts::{DEFAULT_SECRET_TYPE, REFRESH_INTERVAL_ANNOTATION};
use sse_api::validation::parse_duration;

use super::api::ExternalSecret;
use crate::migrate::migration::Notes;

/// The Secret an ExternalSecret writes.
pub(super) struct TargetSecret {
    pub(super) name: String,
    pub(super) type_: String,
    pub(super) labels: Option<BTreeMap<String, String>>,
    pub(super) annotations: Option<BTreeMap<String, String>>,
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
        labels: fixed(
            &template.metadata.labels,
            "spec.target.template.metadata.labels",
            notes,
        ),
        annotations: fixed(
            &template.metadata.annotations,
            "spec.target.template.metadata.annotations",
            notes,
        ),
    }
}

/// The entries of a map of strings (labels, annotations) that are not templates, with a note for each that is
/// (ESO renders `{{ … }}` in them; SSE-rs writes them as they are); `None` when none is left.
fn fixed(map: &BTreeMap<String, String>, field: &str, notes: &mut Notes) -> Option<BTreeMap<String, String>> {
    let mut kept = map.clone();
    kept.retain(|key, value| {
        let templated = value.contains("{{");
        if templated {
            notes.add(
                format!("{field}.{key}"),
                "ESO renders this value as a template; SSE-rs writes labels and annotations as they are: it is left out",
            );
        }
        !templated
    });
    (!kept.is_empty()).then_some(kept)
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

//! Key Vault tags onto the Secret (issue 11): opt-in per SecretSync, through the `sse-rs.io/tag-labels` and
//! `sse-rs.io/tag-annotations` annotations (the allow-list, [`sse_api::validation::tag_mappings`]). No I/O.
//!
//! Tags come with the provider's change-detection answer (vault metadata, never a value), so a provider
//! without that service copies none. A tag carried by several of the SecretSync's objects takes the value of
//! the first in the SecretProviderClass's order. Labels and annotations written in
//! `spec.secretObject` win over tags, and the SSE-rs label is never touched (its key is reserved). A tag
//! value that is not a valid label value is not copied, and the check says so in a Warning Event. The keys
//! that came from tags are listed in the Secret's `sse-rs.io/tag-keys` annotation: a tag removed in the
//! vault changes it, so the next write drops the label too.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Secret;
use sse_api::consts::TAG_KEYS_ANNOTATION;
use sse_api::validation::{TagMapping, is_label_value};

/// Each object's tags, in the SecretProviderClass's order: (`<type>/<name>`, tags).
pub type ObjectTags = Vec<(String, BTreeMap<String, String>)>;

/// What the tags make of the Secret's metadata.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tagged {
    /// Labels from tags.
    pub labels: BTreeMap<String, String>,
    /// Annotations from tags.
    pub annotations: BTreeMap<String, String>,
    /// Tags not copied, and why (names only, never a value).
    pub skipped: Vec<String>,
}

/// The labels and annotations the mappings make of the objects' tags.
pub fn resolve(labels: &[TagMapping], annotations: &[TagMapping], objects: &ObjectTags) -> Tagged {
    let value_of = |tag: &str| objects.iter().find_map(|(_, tags)| tags.get(tag));
    let mut tagged = Tagged::default();
    for mapping in labels {
        match value_of(&mapping.tag) {
            Some(value) if is_label_value(value) => {
                tagged.labels.insert(mapping.key.clone(), value.clone());
            }
            Some(_) => tagged.skipped.push(format!(
                "tag {} is not a valid label value for {} (at most 63 characters [A-Za-z0-9._-], alphanumeric at both ends)",
                mapping.tag, mapping.key
            )),
            None => {}
        }
    }
    for mapping in annotations {
        if let Some(value) = value_of(&mapping.tag) {
            tagged.annotations.insert(mapping.key.clone(), value.clone());
        }
    }
    tagged
}

/// Add `tagged` to the desired Secret: keys it already has (from `spec.secretObject`) are kept; the keys
/// that came from tags are listed in [`TAG_KEYS_ANNOTATION`].
pub fn apply(secret: &mut Secret, tagged: &Tagged) {
    let labels = secret.metadata.labels.get_or_insert_with(BTreeMap::new);
    let mut from_labels = Vec::new();
    for (key, value) in &tagged.labels {
        if !labels.contains_key(key) {
            labels.insert(key.clone(), value.clone());
            from_labels.push(key.as_str());
        }
    }
    let annotations = secret.metadata.annotations.get_or_insert_with(BTreeMap::new);
    let mut from_annotations = Vec::new();
    for (key, value) in &tagged.annotations {
        if !annotations.contains_key(key) {
            annotations.insert(key.clone(), value.clone());
            from_annotations.push(key.as_str());
        }
    }
    annotations.insert(
        TAG_KEYS_ANNOTATION.to_string(),
        format!(
            "labels={};annotations={}",
            from_labels.join(","),
            from_annotations.join(",")
        ),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mapping(tag: &str, key: &str) -> TagMapping {
        TagMapping {
            tag: tag.into(),
            key: key.into(),
        }
    }

    fn objects() -> ObjectTags {
        vec![
            (
                "secret/a".into(),
                BTreeMap::from([
                    ("team".into(), "payments".into()),
                    ("note".into(), "rotated by hand!".into()),
                ]),
            ),
            (
                "secret/b".into(),
                BTreeMap::from([("team".into(), "other".into()), ("env".into(), "prod".into())]),
            ),
        ]
    }

    #[test]
    fn the_first_object_carrying_a_tag_gives_its_value_and_invalid_label_values_are_skipped() {
        let tagged = resolve(
            &[
                mapping("team", "team"),
                mapping("env", "example.com/env"),
                mapping("note", "note"),
                mapping("absent", "absent"),
            ],
            &[mapping("note", "example.com/note")],
            &objects(),
        );
        assert_eq!(
            tagged.labels,
            BTreeMap::from([
                ("team".into(), "payments".into()),
                ("example.com/env".into(), "prod".into())
            ])
        );
        assert_eq!(
            tagged.annotations,
            BTreeMap::from([("example.com/note".into(), "rotated by hand!".into())]),
            "any value is a valid annotation"
        );
        assert_eq!(tagged.skipped.len(), 1);
        assert!(tagged.skipped[0].starts_with("tag note is not a valid label value"));
        assert!(!tagged.skipped[0].contains("rotated"), "never the value");
    }

    #[test]
    fn spec_metadata_wins_and_the_tag_keys_are_listed() {
        let mut secret = Secret::default();
        secret.metadata.labels = Some(BTreeMap::from([("team".into(), "from-spec".into())]));
        let tagged = Tagged {
            labels: BTreeMap::from([("team".into(), "payments".into()), ("env".into(), "prod".into())]),
            annotations: BTreeMap::new(),
            skipped: Vec::new(),
        };
        apply(&mut secret, &tagged);
        let labels = secret.metadata.labels.unwrap_or_default();
        assert_eq!(labels["team"], "from-spec");
        assert_eq!(labels["env"], "prod");
        assert_eq!(
            secret.metadata.annotations.unwrap_or_default()[TAG_KEYS_ANNOTATION],
            "labels=env;annotations="
        );
    }
}

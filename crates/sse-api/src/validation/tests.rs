use std::collections::BTreeMap;

use super::*;

#[test]
fn refresh_interval_annotation() {
    let parse = |v: &str| {
        refresh_interval(&BTreeMap::from([(
            crate::consts::REFRESH_INTERVAL_ANNOTATION.to_string(),
            v.to_string(),
        )]))
    };
    let secs = |v: &str| parse(v).unwrap().unwrap().as_secs();
    assert_eq!(secs("90s"), 90);
    assert_eq!(secs("5m"), 300);
    assert_eq!(secs("1h30m"), 5400);
    assert_eq!(secs("1.5h"), 5400);
    assert_eq!(secs(" 2m30s "), 150);
    for bad in ["", "5", "5 m", "m", "-5m", "5d", "0s", "1x"] {
        let err = parse(bad).unwrap_err();
        assert_eq!(err.reason(), Reason::UserInputValidationFailed);
        assert!(err.to_string().contains("sse-rs.io/refresh-interval"), "{err}");
    }
    assert_eq!(refresh_interval(&BTreeMap::new()).unwrap(), None);
    assert_eq!(format_duration(std::time::Duration::from_secs(5400)), "1h30m0s");
    assert_eq!(format_duration(std::time::Duration::from_secs(300)), "5m0s");
    assert_eq!(format_duration(std::time::Duration::from_secs(45)), "45s");
}

#[test]
fn force_sync_annotation() {
    let parse = |v: &str| {
        force_sync(&BTreeMap::from([(
            crate::consts::FORCE_SYNC_ANNOTATION.to_string(),
            v.to_string(),
        )]))
        .map(|t| t.map(str::to_string))
    };
    assert_eq!(
        parse("2026-12-06T11:20:00.123Z").unwrap().as_deref(),
        Some("2026-12-06T11:20:00.123Z")
    );
    assert_eq!(parse("now please").unwrap().as_deref(), Some("now please"));
    assert_eq!(force_sync(&BTreeMap::new()).unwrap(), None);
    let long = "x".repeat(crate::consts::FORCE_SYNC_MAX_LEN + 1);
    for bad in ["", "  ", long.as_str(), "line\nbreak", "é"] {
        let err = parse(bad).unwrap_err();
        assert_eq!(err.reason(), Reason::UserInputValidationFailed);
        let message = err.to_string();
        assert!(message.contains("sse-rs.io/force-sync"), "{message}");
        assert!(
            bad.trim().is_empty() || !message.contains(bad),
            "the value is not echoed: {message}"
        );
    }
}
use crate::secret_sync::SecretObjectData;

fn item(source: &str, target: &str) -> SecretObjectData {
    SecretObjectData {
        source_path: source.into(),
        target_key: target.into(),
    }
}

fn object(data: Vec<SecretObjectData>) -> SecretObject {
    SecretObject {
        data,
        ..SecretObject::default()
    }
}

fn map(pairs: &[(&str, &str)]) -> Option<BTreeMap<String, String>> {
    Some(
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    )
}

#[test]
fn valid_object_passes() {
    let mut so = object(vec![item("my-secret/0", "key0"), item("my-secret/1", "key1")]);
    so.labels = map(&[("app", "x"), ("example.com/secrets-store.sync.x-k8s.io", "")]);
    so.annotations = map(&[("note", "y")]);
    assert_eq!(validate_secret_object(&so), Ok(()));
}

#[test]
fn reserved_label_with_any_value_is_rejected() {
    for value in ["", "x"] {
        let mut so = object(vec![item("a", "b")]);
        so.labels = map(&[("app", "x"), ("secrets-store.sync.x-k8s.io", value)]);
        let err = validate_secret_object(&so).expect_err("reserved label");
        assert_eq!(
            err,
            ValidationError::ReservedLabel {
                key: "secrets-store.sync.x-k8s.io".into()
            }
        );
        assert_eq!(
            err.to_string(),
            "label secrets-store.sync.x-k8s.io is reserved for use by the Secrets Store Sync Controller"
        );
        assert_eq!(err.reason(), Reason::InvalidClusterSecretLabelError);
    }
    let mut so = object(vec![item("a", "b")]);
    so.labels = map(&[("secrets-store.sync.x-k8s.io/owner", "me")]);
    assert_eq!(
        validate_secret_object(&so),
        Err(ValidationError::ReservedLabel {
            key: "secrets-store.sync.x-k8s.io/owner".into()
        })
    );
}

#[test]
fn reserved_annotation_is_rejected() {
    let mut so = object(vec![item("a", "b")]);
    so.annotations = map(&[("secrets-store.sync.x-k8s.io", "")]);
    let err = validate_secret_object(&so).expect_err("reserved annotation");
    assert_eq!(
        err.to_string(),
        "annotation secrets-store.sync.x-k8s.io is reserved for use by the Secrets Store Sync Controller"
    );
    assert_eq!(err.reason(), Reason::InvalidClusterSecretAnnotationError);
}

#[test]
fn labels_are_checked_before_annotations() {
    let mut so = object(vec![item("a", "b")]);
    so.labels = map(&[("secrets-store.sync.x-k8s.io", "")]);
    so.annotations = map(&[("secrets-store.sync.x-k8s.io", "")]);
    assert!(matches!(
        validate_secret_object(&so),
        Err(ValidationError::ReservedLabel { .. })
    ));
}

#[test]
fn empty_data_is_rejected() {
    let err = validate_secret_object(&object(vec![])).expect_err("empty data");
    assert_eq!(err, ValidationError::EmptyData);
    assert_eq!(err.reason(), Reason::UserInputValidationFailed);
}

#[test]
fn blank_source_or_target_is_rejected() {
    let err = validate_secret_object(&object(vec![item("a", "b"), item("  ", "c")])).expect_err("blank");
    assert_eq!(err, ValidationError::EmptySourcePath { index: 1 });
    assert_eq!(err.to_string(), "source path in secretObject.data[1] is empty");
    let err = validate_secret_object(&object(vec![item("a", "\t")])).expect_err("blank");
    assert_eq!(err, ValidationError::EmptyTargetKey { index: 0 });
    assert_eq!(err.to_string(), "target key in secretObject.data[0] is empty");
    assert_eq!(err.reason(), Reason::UserInputValidationFailed);
}

#[test]
fn duplicate_target_keys_are_rejected_after_trim() {
    let so = object(vec![item("a", "k"), item("b", "other"), item("c", " k ")]);
    let err = validate_secret_object(&so).expect_err("duplicate");
    assert_eq!(
        err,
        ValidationError::DuplicateTargetKey {
            key: "k".into(),
            first: 0,
            second: 2
        }
    );
    assert_eq!(
        err.to_string(),
        "target key \"k\" is used by both secretObject.data[0] and secretObject.data[2]"
    );
    assert_eq!(err.reason(), Reason::UserInputValidationFailed);
    // The same source path may feed several keys.
    assert_eq!(
        validate_secret_object(&object(vec![item("a", "k1"), item("a", "k2")])),
        Ok(())
    );
}

#[test]
fn cel_rules_name_the_reserved_prefix() {
    let mappings = |labels: &str| {
        tag_mappings(&BTreeMap::from([(
            crate::consts::TAG_LABELS_ANNOTATION.to_string(),
            labels.to_string(),
        )]))
    };
    let (labels, annotations) = mappings(" team, env = app.kubernetes.io/environment ,").unwrap_or_default();
    assert_eq!(
        labels,
        [
            TagMapping {
                tag: "team".into(),
                key: "team".into()
            },
            TagMapping {
                tag: "env".into(),
                key: "app.kubernetes.io/environment".into()
            },
        ]
    );
    assert!(annotations.is_empty());
    for bad in [
        "a b",
        "=x",
        "x=secrets-store.sync.x-k8s.io",
        "x=sse-rs.io/y",
        "a,b=a",
        "x=Bad_Prefix/y",
        "x=-y",
    ] {
        assert!(
            matches!(mappings(bad), Err(ValidationError::TagMapping { .. })),
            "{bad}"
        );
    }
    assert!(
        is_label_value("")
            && is_label_value("a.b-c_d")
            && !is_label_value("-a")
            && !is_label_value(&"a".repeat(64))
    );
    for rule in [LABELS_RESERVED_RULE, ANNOTATIONS_RESERVED_RULE] {
        assert!(rule.contains(&format!("x.startsWith('{RESERVED_KEY_PREFIX}')")));
    }
    for msg in [LABELS_RESERVED_MESSAGE, ANNOTATIONS_RESERVED_MESSAGE] {
        assert!(msg.contains(RESERVED_KEY_PREFIX));
    }
}

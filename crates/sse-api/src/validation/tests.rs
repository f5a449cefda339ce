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
        property: None,
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

mod shape {
    use super::{item, object};
    use crate::secret_sync::{FileFormat, MergePolicy, SecretObjectDataFrom, SecretTemplate, TemplateItem};
    use crate::validation::{ValidationError, validate_secret_object};

    fn text(key: &str, text: &str) -> TemplateItem {
        TemplateItem {
            target_key: key.into(),
            text: Some(text.into()),
            ..TemplateItem::default()
        }
    }

    fn templated(type_: &str, merge_policy: MergePolicy, items: Vec<TemplateItem>) -> crate::SecretObject {
        let mut so = object(vec![item("a", "user")]);
        so.type_ = type_.into();
        so.template = Some(SecretTemplate {
            merge_policy,
            data: items,
        });
        so
    }

    fn problem(so: &crate::SecretObject) -> String {
        match validate_secret_object(so) {
            Err(e @ ValidationError::Shape { .. }) => e.to_string(),
            other => panic!("expected a shape error, got {other:?}"),
        }
    }

    #[test]
    fn data_may_be_empty_when_data_from_has_an_item() {
        let mut so = object(vec![]);
        assert_eq!(validate_secret_object(&so), Err(ValidationError::EmptyData));
        so.data_from.push(SecretObjectDataFrom {
            source_path: "settings".into(),
            property: None,
        });
        assert_eq!(validate_secret_object(&so), Ok(()));
        so.data_from[0].source_path = " ".into();
        assert_eq!(problem(&so), "secretObject.dataFrom[0]: sourcePath is empty");
    }

    #[test]
    fn a_template_item_has_either_text_or_format() {
        let mut both = text("k", "{{ .user }}");
        both.format = Some(FileFormat::Env);
        let so = templated("Opaque", MergePolicy::Replace, vec![text("ok", "x"), both]);
        assert_eq!(
            problem(&so),
            "secretObject.template.data[1]: a template item has either text or format"
        );
        let neither = TemplateItem {
            target_key: "k".into(),
            ..TemplateItem::default()
        };
        let so = templated("Opaque", MergePolicy::Replace, vec![neither]);
        assert!(problem(&so).ends_with("a template item has either text or format"));
    }

    #[test]
    fn keys_belong_to_a_format_item_and_template_keys_are_unique() {
        let mut keyed = text("k", "x");
        keyed.keys = vec!["user".into()];
        let so = templated("Opaque", MergePolicy::Replace, vec![keyed]);
        assert_eq!(
            problem(&so),
            "secretObject.template.data[0]: keys lists the values of a format item"
        );
        let so = templated(
            "Opaque",
            MergePolicy::Replace,
            vec![text("k", "x"), text("k", "y")],
        );
        assert_eq!(
            problem(&so),
            "secretObject.template.data[1]: targetKey is used by an earlier template item"
        );
        let so = templated("Opaque", MergePolicy::Replace, vec![]);
        assert_eq!(
            problem(&so),
            "secretObject.template: data must have at least 1 item"
        );
    }

    #[test]
    fn typed_secrets_keep_the_keys_their_type_requires() {
        let so = templated(
            "kubernetes.io/tls",
            MergePolicy::Replace,
            vec![text("tls.crt", "x")],
        );
        assert_eq!(
            problem(&so),
            "secretObject.template: a kubernetes.io/tls template must write tls.crt and tls.key"
        );
        let so = templated(
            "kubernetes.io/tls",
            MergePolicy::Replace,
            vec![text("tls.crt", "x"), text("tls.key", "y")],
        );
        assert_eq!(validate_secret_object(&so), Ok(()));
        let so = templated("kubernetes.io/tls", MergePolicy::Merge, vec![text("ca.crt", "x")]);
        assert_eq!(validate_secret_object(&so), Ok(()), "Merge keeps the plain keys");
        let so = templated(
            "kubernetes.io/dockerconfigjson",
            MergePolicy::Replace,
            vec![text("auth", "x")],
        );
        assert_eq!(
            problem(&so),
            "secretObject.template: a kubernetes.io/dockerconfigjson template must write .dockerconfigjson"
        );
        let so = templated(
            "kubernetes.io/dockerconfigjson",
            MergePolicy::Replace,
            vec![text(".dockerconfigjson", "x")],
        );
        assert_eq!(validate_secret_object(&so), Ok(()));
    }

    #[test]
    fn shape_errors_are_user_input_failures() {
        let so = templated("Opaque", MergePolicy::Replace, vec![]);
        let err = validate_secret_object(&so).expect_err("empty template");
        assert_eq!(err.reason(), crate::conditions::Reason::UserInputValidationFailed);
    }
}

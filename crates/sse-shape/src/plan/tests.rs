use std::collections::{BTreeMap, BTreeSet, HashMap};

use sse_api::{
    FileFormat, MergePolicy, SecretObject, SecretObjectData, SecretObjectDataFrom, SecretTemplate,
    TemplateItem,
};

use super::*;

fn object(items: &[(&str, &str)]) -> SecretObject {
    SecretObject {
        data: items
            .iter()
            .map(|(s, t)| SecretObjectData {
                source_path: (*s).into(),
                target_key: (*t).into(),
                property: None,
            })
            .collect(),
        ..SecretObject::default()
    }
}

fn text(key: &str, text: &str) -> TemplateItem {
    TemplateItem {
        target_key: key.into(),
        text: Some(text.into()),
        ..TemplateItem::default()
    }
}

fn values(pairs: &[(&str, &str)]) -> BTreeMap<String, Vec<u8>> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).into(), v.as_bytes().to_vec()))
        .collect()
}

fn files(pairs: &[(&str, &str)]) -> HashMap<String, Vec<u8>> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).into(), v.as_bytes().to_vec()))
        .collect()
}

fn text_of(data: &BTreeMap<String, Vec<u8>>) -> BTreeMap<&str, &str> {
    data.iter()
        .map(|(k, v)| (k.as_str(), std::str::from_utf8(v).unwrap_or("<bytes>")))
        .collect()
}

#[test]
fn an_upstream_secret_object_has_no_plan_and_no_hash_entries() {
    let so = object(&[("a", "k")]);
    assert!(Plan::parse(&so).unwrap_or_else(|e| panic!("{e}")).is_none());
    assert!(
        hash_entries(&so).is_empty(),
        "an unshaped SecretSync keeps its sync hash"
    );
}

#[test]
fn hash_entries_cover_every_shaping_field_and_the_engine() {
    let mut so = object(&[("a", "k")]);
    so.data[0].property = Some("x.y".into());
    so.data_from.push(SecretObjectDataFrom {
        source_path: "b".into(),
        property: None,
    });
    so.template = Some(SecretTemplate {
        merge_policy: MergePolicy::Merge,
        data: vec![
            text("t", "{{ .k }}"),
            TemplateItem {
                target_key: "f".into(),
                format: Some(FileFormat::Env),
                keys: vec!["k".into()],
                ..TemplateItem::default()
            },
        ],
    });
    let entries: BTreeMap<String, String> = hash_entries(&so)
        .into_iter()
        .map(|(k, v)| (k, String::from_utf8(v).unwrap_or_default()))
        .collect();
    assert_eq!(entries["property:k"], "x.y");
    assert_eq!(entries["dataFrom:0"], r#"["b",null]"#);
    assert_eq!(entries["template:mergePolicy"], "Merge");
    assert_eq!(entries["template:t"], "text:{{ .k }}");
    assert_eq!(entries["template:f"], r#"format:env:["k"]"#);
    assert_eq!(entries["engine"], ENGINE);
}

#[test]
fn replace_writes_only_the_templates_and_merge_keeps_the_values() {
    let mut so = object(&[("a", "user"), ("b", "token")]);
    so.template = Some(SecretTemplate {
        merge_policy: MergePolicy::Replace,
        data: vec![
            text("auth", "{{ .user }}:{{ .token }}"),
            text("token", "overridden"),
        ],
    });
    let plan = Plan::parse(&so)
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("a plan"));
    assert!(plan.is_templated());
    let out = plan
        .shape(values(&[("user", "u"), ("token", "t")]), &files(&[]))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        text_of(&out),
        BTreeMap::from([("auth", "u:t"), ("token", "overridden")])
    );

    so.template
        .as_mut()
        .unwrap_or_else(|| panic!("template"))
        .merge_policy = MergePolicy::Merge;
    let plan = Plan::parse(&so)
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("a plan"));
    let out = plan
        .shape(values(&[("user", "u"), ("token", "t")]), &files(&[]))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        text_of(&out),
        BTreeMap::from([("auth", "u:t"), ("token", "overridden"), ("user", "u")]),
        "Merge: the values too, and a template key wins a clash"
    );
}

#[test]
fn a_data_item_wins_over_an_extracted_key_and_a_later_extraction_over_an_earlier_one() {
    let mut so = object(&[("a", "shared")]);
    so.data_from = vec![
        SecretObjectDataFrom {
            source_path: "first".into(),
            property: None,
        },
        SecretObjectDataFrom {
            source_path: "second".into(),
            property: None,
        },
    ];
    let plan = Plan::parse(&so)
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("a plan"));
    assert!(!plan.is_templated());
    let out = plan
        .shape(
            values(&[("shared", "from-data")]),
            &files(&[
                ("first", r#"{"shared":"1","both":"1","one":"1"}"#),
                ("second", r#"{"shared":"2","both":"2"}"#),
            ]),
        )
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        text_of(&out),
        BTreeMap::from([("both", "2"), ("one", "1"), ("shared", "from-data")])
    );
}

#[test]
fn errors_name_the_field_and_never_the_value() {
    let mut so = object(&[("a", "k")]);
    so.data_from.push(SecretObjectDataFrom {
        source_path: "absent".into(),
        property: None,
    });
    let plan = Plan::parse(&so)
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("a plan"));
    let err = plan
        .shape(values(&[("k", "v")]), &files(&[]))
        .expect_err("missing");
    assert!(err.is_property());
    assert_eq!(
        err.to_string(),
        "secretObject.dataFrom[0]: file matching sourcePath absent not found in the pod"
    );
    let err = plan
        .shape(values(&[("k", "v")]), &files(&[("absent", "s3cret-not-json")]))
        .expect_err("not JSON");
    assert!(
        err.to_string()
            .starts_with("secretObject.dataFrom[0] (sourcePath absent): "),
        "{err}"
    );
    assert!(!err.to_string().contains("s3cret"), "{err}");

    let mut so = object(&[("a", "k")]);
    so.template = Some(SecretTemplate {
        merge_policy: MergePolicy::Replace,
        data: vec![TemplateItem {
            target_key: "f".into(),
            format: Some(FileFormat::Env),
            keys: vec!["nope".into()],
            ..TemplateItem::default()
        }],
    });
    let plan = Plan::parse(&so)
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("a plan"));
    let err = plan
        .shape(values(&[("k", "s3cret")]), &files(&[]))
        .expect_err("missing key");
    assert!(!err.is_property());
    assert_eq!(err.to_string(), "template f: no value named \"nope\" (1 values)");
}

#[test]
fn a_property_that_does_not_parse_is_refused_before_any_value_is_read() {
    let mut so = object(&[("a", "k")]);
    so.data[0].property = Some("a.*".into());
    let err = Plan::parse(&so).err().unwrap_or_else(|| panic!("refused"));
    assert!(err.is_property());
    assert!(
        err.to_string()
            .starts_with("secretObject.data[0] (targetKey k): property a.*: "),
        "{err}"
    );
}

#[test]
fn a_partial_shape_keeps_what_a_failed_input_feeds() {
    let mut so = object(&[("a", "a"), ("b", "b")]);
    so.template = Some(SecretTemplate {
        merge_policy: MergePolicy::Replace,
        data: vec![
            text("from-a", "{{ .a }}"),
            text("from-b", "{{ .b }}"),
            text("everything", "{{ range $k, $v := . }}{{ $k }}{{ end }}"),
        ],
    });
    let plan = Plan::parse(&so)
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("a plan"));
    let (data, failed) = plan.shape_partial(
        values(&[("a", "1")]),
        &BTreeSet::from(["b".to_owned()]),
        &files(&[]),
    );
    assert_eq!(text_of(&data), BTreeMap::from([("from-a", "1")]));
    let failed: Vec<_> = failed
        .iter()
        .map(|f| (f.key.as_deref(), f.error.as_str()))
        .collect();
    assert_eq!(
        failed,
        [
            (Some("from-b"), "input b failed"),
            (Some("everything"), "every value failed")
        ]
    );
}

#[test]
fn a_missing_name_lists_the_specs_names_and_only_counts_the_extracted_ones() {
    let mut so = object(&[("a", "token")]);
    so.data_from.push(SecretObjectDataFrom {
        source_path: "settings".into(),
        property: None,
    });
    so.template = Some(SecretTemplate {
        merge_policy: MergePolicy::Replace,
        data: vec![text("k", "{{ .tokn }}")],
    });
    let plan = Plan::parse(&so)
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("a plan"));
    let err = plan
        .shape(
            values(&[("token", "t")]),
            &files(&[("settings", r#"{"vault-chosen-key":"x","other":"y"}"#)]),
        )
        .expect_err("missing name");
    let message = err.to_string();
    assert!(message.contains("\"tokn\""), "{message}");
    assert!(message.contains("token"), "{message}");
    assert!(
        !message.contains("vault-chosen-key"),
        "an extracted key is vault content: {message}"
    );
}

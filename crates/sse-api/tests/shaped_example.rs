//! deploy/examples/shaped.yaml, the shaping example users apply (and `cargo xtask demo` renders): every
//! document reads into the types, passes the manager's checks, and writes back the fields it was written with.

use serde_json::Value;
use sse_api::{FileFormat, MergePolicy, SecretSync, validation::validate_spec};

const SHAPED: &str = include_str!("../../../deploy/examples/shaped.yaml");

fn documents() -> Vec<Value> {
    serde_yaml_ng::Deserializer::from_str(SHAPED)
        .map(|doc| <Value as serde::Deserialize>::deserialize(doc).expect("shaped.yaml is YAML"))
        .collect()
}

fn sync(name: &str) -> SecretSync {
    let doc = documents()
        .into_iter()
        .find(|d| d["kind"] == "SecretSync" && d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no SecretSync {name}"));
    serde_json::from_value(doc).expect("a SecretSync")
}

#[test]
fn the_example_holds_one_class_and_two_shaped_syncs() {
    let kinds: Vec<String> = documents()
        .iter()
        .map(|d| d["kind"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(kinds, ["SecretProviderClass", "SecretSync", "SecretSync"]);
}

#[test]
fn the_registry_pull_secret_is_one_template() {
    let sync = sync("registry-pull");
    validate_spec(&sync.spec).expect("valid");
    let template = sync.spec.secret_object.template.expect("a template");
    assert_eq!(template.merge_policy, MergePolicy::Replace, "the default");
    assert_eq!(template.data.len(), 1);
    assert_eq!(template.data[0].target_key, ".dockerconfigjson");
}

#[test]
fn the_app_config_uses_every_kind_of_shape() {
    let sync = sync("app-config");
    validate_spec(&sync.spec).expect("valid");
    let so = &sync.spec.secret_object;
    assert_eq!(so.data[0].property.as_deref(), Some("primary.host"));
    assert_eq!(so.data_from[0].property.as_deref(), Some("pool"));
    let template = so.template.as_ref().expect("a template");
    assert_eq!(template.merge_policy, MergePolicy::Merge);
    assert_eq!(template.data[0].format, Some(FileFormat::Env));
    assert!(
        template.data[1]
            .text
            .as_deref()
            .is_some_and(|t| t.contains("{{ .DB_HOST }}"))
    );
}

#[test]
fn the_documents_write_back_what_was_written() {
    for doc in documents().into_iter().filter(|d| d["kind"] == "SecretSync") {
        let sync: SecretSync = serde_json::from_value(doc.clone()).expect("a SecretSync");
        let back = serde_json::to_value(&sync).expect("json");
        assert_eq!(back["spec"], doc["spec"], "{}", doc["metadata"]["name"]);
    }
}

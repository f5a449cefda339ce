//! The shaping fields of the SecretSync CRD (docs/API.md#shaping): optional, bounded, and checked by the API
//! server where CEL can see a mistake, with the exact rules and messages of `sse_api::validation::shape`.

use kube::CustomResourceExt;
use serde_json::{Value, json};
use sse_api::SecretSync;
use sse_api::validation::shape::{
    DATA_OR_DATA_FROM_MESSAGE, DATA_OR_DATA_FROM_RULE, DOCKER_TEMPLATE_MESSAGE, DOCKER_TEMPLATE_RULE,
    FORMAT_KEYS_MESSAGE, FORMAT_KEYS_RULE, PROPERTY_PATTERN, SUB_TEMPLATE_MESSAGE, SUB_TEMPLATE_RULE,
    TEXT_OR_FORMAT_MESSAGE, TEXT_OR_FORMAT_RULE, TLS_TEMPLATE_MESSAGE, TLS_TEMPLATE_RULE,
    UNCLOSED_ACTION_MESSAGE, UNCLOSED_ACTION_RULE,
};

fn secret_object() -> Value {
    let crd = serde_json::to_value(SecretSync::crd()).expect("crd as json");
    crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["secretObject"]
        .clone()
}

fn rules(schema: &Value) -> Value {
    schema["x-kubernetes-validations"].clone()
}

#[test]
fn every_shaping_field_is_optional() {
    let so = secret_object();
    assert_eq!(so["required"], json!(["data"]));
    assert_eq!(
        so["properties"]["data"]["items"]["required"],
        json!(["sourcePath", "targetKey"])
    );
    assert_eq!(
        so["properties"]["dataFrom"]["items"]["required"],
        json!(["sourcePath"])
    );
    assert_eq!(so["properties"]["template"]["required"], json!(["data"]));
    assert_eq!(
        so["properties"]["template"]["properties"]["data"]["items"]["required"],
        json!(["targetKey"])
    );
}

#[test]
fn property_paths_are_bounded_and_refuse_gjson_queries() {
    let so = secret_object();
    for property in [
        &so["properties"]["data"]["items"]["properties"]["property"],
        &so["properties"]["dataFrom"]["items"]["properties"]["property"],
    ] {
        assert_eq!(property["pattern"], PROPERTY_PATTERN);
        assert_eq!(property["minLength"], 1);
        assert_eq!(property["maxLength"], 253);
    }
}

#[test]
fn lists_and_texts_are_bounded() {
    let so = secret_object();
    assert_eq!(so["properties"]["dataFrom"]["maxItems"], 16);
    let template = &so["properties"]["template"]["properties"];
    assert_eq!(template["data"]["maxItems"], 64);
    assert_eq!(template["data"]["minItems"], 1);
    assert_eq!(template["data"]["x-kubernetes-list-type"], "map");
    assert_eq!(
        template["data"]["x-kubernetes-list-map-keys"],
        json!(["targetKey"])
    );
    let item = &template["data"]["items"]["properties"];
    assert_eq!(item["text"]["maxLength"], 32768);
    assert_eq!(item["keys"]["maxItems"], 256);
    assert_eq!(
        item["format"]["enum"],
        json!(["env", "properties", "json", "yaml"])
    );
    assert_eq!(template["mergePolicy"]["enum"], json!(["Replace", "Merge"]));
    assert_eq!(template["mergePolicy"]["default"], "Replace");
}

#[test]
fn secret_object_rules_and_messages() {
    assert_eq!(
        rules(&secret_object()),
        json!([
            {"rule": DATA_OR_DATA_FROM_RULE, "message": DATA_OR_DATA_FROM_MESSAGE},
            {"rule": TLS_TEMPLATE_RULE, "message": TLS_TEMPLATE_MESSAGE},
            {"rule": DOCKER_TEMPLATE_RULE, "message": DOCKER_TEMPLATE_MESSAGE},
        ])
    );
}

#[test]
fn template_item_rules_and_messages() {
    let item = &secret_object()["properties"]["template"]["properties"]["data"]["items"];
    assert_eq!(
        rules(item),
        json!([
            {"rule": TEXT_OR_FORMAT_RULE, "message": TEXT_OR_FORMAT_MESSAGE},
            {"rule": FORMAT_KEYS_RULE, "message": FORMAT_KEYS_MESSAGE},
            {"rule": UNCLOSED_ACTION_RULE, "message": UNCLOSED_ACTION_MESSAGE},
            {"rule": SUB_TEMPLATE_RULE, "message": SUB_TEMPLATE_MESSAGE},
        ])
    );
}

#[test]
fn an_upstream_manifest_reads_and_writes_back_without_shaping_fields() {
    let manifest = json!({
        "apiVersion": "secret-sync.x-k8s.io/v1alpha1",
        "kind": "SecretSync",
        "metadata": {"name": "s", "namespace": "n"},
        "spec": {
            "secretProviderClassName": "c",
            "serviceAccountName": "sa",
            "secretObject": {"type": "Opaque", "data": [{"sourcePath": "a", "targetKey": "b"}]}
        }
    });
    let sync: SecretSync = serde_json::from_value(manifest.clone()).expect("upstream manifest");
    assert!(sync.spec.secret_object.data_from.is_empty());
    assert!(sync.spec.secret_object.template.is_none());
    assert_eq!(sync.spec.secret_object.data[0].property, None);
    assert_eq!(
        serde_json::to_value(&sync).expect("json")["spec"],
        manifest["spec"]
    );
}

//! The generated CRDs carry every interface fact of docs/API.md#secretproviderclass and
//! docs/API.md#secretsync: identity, subresources, printer columns, list-map keys, CEL rules with their exact
//! messages, and every pattern/length/item limit. Expected strings are written out here (copied from
//! docs/API.md), not taken from the crate's constants, so a wrong constant fails.

use kube::CustomResourceExt;
use serde_json::{Value, json};
use sse_api::{AKVSync, SecretSync, generated_crds, secret_provider_class};

const DNS1123: &str = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";
const PATH_OR_KEY: &str = r"^[A-Za-z0-9.]([-A-Za-z0-9]+([-._a-zA-Z0-9]?[A-Za-z0-9])*)?(\/([0-9]+))*$";
const FORCE_SYNC: &str = r"^[A-Za-z0-9]([-A-Za-z0-9]+([-._a-zA-Z0-9]?[A-Za-z0-9])*)?$";

fn secret_sync_crd() -> Value {
    serde_json::to_value(SecretSync::crd()).expect("CRD serialises")
}

fn spc_crd() -> Value {
    serde_json::to_value(secret_provider_class::crd().expect("SPC versions merge")).expect("CRD serialises")
}

/// `openAPIV3Schema` of version `index`.
fn root_schema(crd: &Value, index: usize) -> &Value {
    &crd["spec"]["versions"][index]["schema"]["openAPIV3Schema"]
}

/// Follows `properties.<name>` for each dotted segment; `[]` descends into `items`.
fn prop<'a>(schema: &'a Value, path: &str) -> &'a Value {
    path.split('.').fold(schema, |s, seg| match seg {
        "[]" => &s["items"],
        name => &s["properties"][name],
    })
}

fn spec_schema(crd: &Value) -> &Value {
    prop(root_schema(crd, 0), "spec")
}

fn required(schema: &Value) -> Vec<&str> {
    let mut r: Vec<&str> = schema["required"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    r.sort_unstable();
    r
}

fn assert_string(schema: &Value, min: Option<u64>, max: Option<u64>, pattern: Option<&str>) {
    assert_eq!(schema["type"], "string", "{schema}");
    assert_eq!(schema["minLength"].as_u64(), min, "minLength of {schema}");
    assert_eq!(schema["maxLength"].as_u64(), max, "maxLength of {schema}");
    assert_eq!(schema["pattern"].as_str(), pattern, "pattern of {schema}");
}

#[test]
fn secret_sync_identity() {
    let crd = secret_sync_crd();
    assert_eq!(crd["metadata"]["name"], "secretsyncs.secret-sync.x-k8s.io");
    assert_eq!(crd["spec"]["group"], "secret-sync.x-k8s.io");
    assert_eq!(crd["spec"]["scope"], "Namespaced");
    assert_eq!(
        crd["spec"]["names"],
        json!({"kind": "SecretSync", "plural": "secretsyncs", "singular": "secretsync"}),
        "no short names, no categories"
    );
    let versions = crd["spec"]["versions"].as_array().expect("versions");
    assert_eq!(versions.len(), 1);
    assert_eq!(versions[0]["name"], "v1alpha1");
    assert_eq!(versions[0]["served"], true);
    assert_eq!(versions[0]["storage"], true);
}

#[test]
fn secret_sync_has_status_subresource() {
    let crd = secret_sync_crd();
    assert_eq!(crd["spec"]["versions"][0]["subresources"], json!({"status": {}}));
}

#[test]
fn secret_sync_printer_columns() {
    let crd = secret_sync_crd();
    assert_eq!(
        crd["spec"]["versions"][0]["additionalPrinterColumns"],
        json!([
            {"name": "Ready", "type": "string", "jsonPath": ".status.conditions[?(@.type==\"Ready\")].status"},
            {"name": "Reason", "type": "string", "jsonPath": ".status.conditions[?(@.type==\"Ready\")].reason"},
            {"name": "Last Sync", "type": "date", "jsonPath": ".status.lastSuccessfulSyncTime"},
            {"name": "Interval", "type": "string", "jsonPath": ".status.refreshInterval"},
            {"name": "Next Check", "type": "string", "jsonPath": ".status.nextCheckTime"},
            {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
        ])
    );
}

#[test]
fn secret_sync_spec_fields() {
    let crd = secret_sync_crd();
    let spec = spec_schema(&crd);
    assert_eq!(required(root_schema(&crd, 0)), ["spec"]);
    assert_eq!(
        required(spec),
        ["secretObject", "secretProviderClassName", "serviceAccountName"]
    );

    let names: Vec<&String> = spec["properties"]
        .as_object()
        .expect("properties")
        .keys()
        .collect();
    assert_eq!(
        names,
        [
            "forceSynchronization",
            "secretObject",
            "secretProviderClassName",
            "secretSyncControllerName",
            "serviceAccountName"
        ]
    );

    let controller = prop(spec, "secretSyncControllerName");
    assert_string(controller, None, None, None);
    assert_eq!(controller["default"], "");

    assert_string(
        prop(spec, "secretProviderClassName"),
        Some(1),
        Some(253),
        Some(DNS1123),
    );
    assert_string(
        prop(spec, "serviceAccountName"),
        Some(1),
        Some(253),
        Some(DNS1123),
    );
    assert_string(
        prop(spec, "forceSynchronization"),
        None,
        Some(253),
        Some(FORCE_SYNC),
    );
}

#[test]
fn secret_sync_secret_object() {
    let crd = secret_sync_crd();
    let so = prop(spec_schema(&crd), "secretObject");
    assert_eq!(so["type"], "object");
    assert_eq!(
        required(so),
        ["data"],
        "type is optional (HEAD), data is required"
    );

    let ty = prop(so, "type");
    assert_string(ty, None, Some(253), None);
    assert_eq!(ty["default"], "Opaque");

    let data = prop(so, "data");
    assert_eq!(data["type"], "array");
    assert_eq!(
        data.get("minItems"),
        None,
        "an empty data is refused by the secretObject rule instead, unless dataFrom has an item"
    );
    let rules: Vec<&str> = so["x-kubernetes-validations"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["rule"].as_str())
        .collect();
    assert!(
        rules.contains(&"size(self.data) > 0 || (has(self.dataFrom) && size(self.dataFrom) > 0)"),
        "{rules:?}"
    );
    assert_eq!(data["x-kubernetes-list-type"], "map");
    assert_eq!(data["x-kubernetes-list-map-keys"], json!(["targetKey"]));
    let item = &data["items"];
    assert_eq!(
        required(item),
        ["sourcePath", "targetKey"],
        "property is optional"
    );
    assert_string(prop(item, "sourcePath"), Some(1), Some(253), Some(PATH_OR_KEY));
    assert_string(prop(item, "targetKey"), Some(1), Some(253), Some(PATH_OR_KEY));
}

#[test]
fn secret_sync_cel_rules() {
    let crd = secret_sync_crd();
    let so = prop(spec_schema(&crd), "secretObject");

    let labels = prop(so, "labels");
    assert_eq!(labels["type"], "object");
    assert_eq!(labels["additionalProperties"]["type"], "string");
    assert_eq!(
        labels["x-kubernetes-validations"],
        json!([
            {
                "rule": "(self.all(x, x.size() <= 317 && self[x].size() <= 63) == true)",
                "message": "Label keys must not exceed 317 characters (254 for prefix+separator, 63 for name), label values must not exceed 63 characters."
            },
            {
                "rule": "(self.all(x, x.startsWith('secrets-store.sync.x-k8s.io') == false))",
                "message": "Labels should not contain secrets-store.sync.x-k8s.io. This key is reserved for the controller."
            }
        ])
    );

    let annotations = prop(so, "annotations");
    assert_eq!(annotations["type"], "object");
    assert_eq!(annotations["additionalProperties"]["type"], "string");
    assert_eq!(
        annotations["x-kubernetes-validations"],
        json!([
            {
                "rule": "(self.all(x, x.size() < 317 && self[x].size() <= 262144) == true)",
                "message": "Annotations keys must not exceed 317 characters (254 for prefix+separator, 63 for name), annotation values must not exceed 256 kB."
            },
            {
                "rule": "(self.all(x, x.startsWith('secrets-store.sync.x-k8s.io') == false))",
                "message": "Annotations should not contain secrets-store.sync.x-k8s.io. This key is reserved for the controller."
            }
        ])
    );
}

#[test]
fn secret_sync_rules_appear_nowhere_else() {
    // Exactly upstream's four CEL rules plus the seven of shaping (tests/crd_shape.rs), and no root-level rule.
    let text = serde_json::to_string(&secret_sync_crd()).expect("json");
    assert_eq!(text.matches("\"rule\":").count(), 4 + 7);
    assert!(
        root_schema(&secret_sync_crd(), 0)
            .get("x-kubernetes-validations")
            .is_none()
    );
}

#[test]
fn secret_sync_status() {
    let crd = secret_sync_crd();
    let status = prop(root_schema(&crd, 0), "status");
    assert_eq!(status["type"], "object");
    assert!(required(status).is_empty());

    assert_eq!(prop(status, "syncHash")["type"], "string");
    for time in [
        "lastSuccessfulSyncTime",
        "lastCheckedTime",
        "nextCheckTime",
        "failingSince",
    ] {
        let t = prop(status, time);
        assert_eq!(
            (t["type"].as_str(), t["format"].as_str()),
            (Some("string"), Some("date-time")),
            "{time}"
        );
    }
    let og = prop(status, "observedGeneration");
    assert_eq!(
        (og["type"].as_str(), og["format"].as_str()),
        (Some("integer"), Some("int64"))
    );

    let conditions = prop(status, "conditions");
    assert_eq!(conditions["type"], "array");
    assert_eq!(conditions["maxItems"], 16);
    assert_eq!(conditions["x-kubernetes-list-type"], "map");
    assert_eq!(conditions["x-kubernetes-list-map-keys"], json!(["type"]));
    let item = &conditions["items"];
    assert_eq!(
        required(item),
        ["lastTransitionTime", "message", "reason", "status", "type"]
    );
    assert_eq!(prop(item, "lastTransitionTime")["format"], "date-time");
    assert_string(prop(item, "message"), None, Some(32768), None);
    assert_string(
        prop(item, "reason"),
        Some(1),
        Some(1024),
        Some("^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$"),
    );
    assert_eq!(prop(item, "status")["enum"], json!(["True", "False", "Unknown"]));
    assert_string(
        prop(item, "type"),
        None,
        Some(316),
        Some(
            r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$",
        ),
    );
    assert_eq!(prop(item, "observedGeneration")["minimum"], 0.0);
}

#[test]
fn secret_provider_class_versions() {
    let crd = spc_crd();
    assert_eq!(
        crd["metadata"]["name"],
        "secretproviderclasses.secrets-store.csi.x-k8s.io"
    );
    assert_eq!(crd["spec"]["group"], "secrets-store.csi.x-k8s.io");
    assert_eq!(crd["spec"]["scope"], "Namespaced");
    assert_eq!(
        crd["spec"]["names"],
        json!({"kind": "SecretProviderClass", "plural": "secretproviderclasses", "singular": "secretproviderclass"})
    );
    let versions = crd["spec"]["versions"].as_array().expect("versions");
    assert_eq!(versions.len(), 2);

    let v1 = &versions[0];
    assert_eq!(v1["name"], "v1");
    assert_eq!(
        (v1["served"].as_bool(), v1["storage"].as_bool()),
        (Some(true), Some(true))
    );
    assert!(v1.get("deprecated").is_none());

    let v1alpha1 = &versions[1];
    assert_eq!(v1alpha1["name"], "v1alpha1");
    assert_eq!(
        (v1alpha1["served"].as_bool(), v1alpha1["storage"].as_bool()),
        (Some(true), Some(false))
    );
    assert_eq!(v1alpha1["deprecated"], true);
    assert_eq!(
        v1alpha1["deprecationWarning"],
        "secrets-store.csi.x-k8s.io/v1alpha1 is deprecated. Use secrets-store.csi.x-k8s.io/v1 instead."
    );

    for v in versions {
        assert!(v.get("subresources").is_none(), "no subresources");
        assert!(v.get("additionalPrinterColumns").is_none(), "no printer columns");
    }
}

#[test]
fn secret_provider_class_schema() {
    let crd = spc_crd();
    for index in [0, 1] {
        let root = root_schema(&crd, index);
        assert!(required(root).is_empty(), "spec is optional, as upstream");
        let spec = prop(root, "spec");
        assert!(required(spec).is_empty(), "every spec field is optional");
        assert_eq!(prop(spec, "provider")["type"], "string");
        let params = prop(spec, "parameters");
        assert_eq!(
            (
                params["type"].as_str(),
                params["additionalProperties"]["type"].as_str()
            ),
            (Some("object"), Some("string"))
        );
        let so = prop(spec, "secretObjects.[]");
        for field in ["secretName", "type"] {
            assert_eq!(prop(so, field)["type"], "string", "{field}");
        }
        for field in ["labels", "annotations"] {
            assert_eq!(
                prop(so, field)["additionalProperties"]["type"],
                "string",
                "{field}"
            );
        }
        assert_eq!(prop(so, "data.[].objectName")["type"], "string");
        assert_eq!(prop(so, "data.[].key")["type"], "string");
        assert_eq!(prop(root, "status")["type"], "object");
        assert!(
            !serde_json::to_string(root)
                .expect("json")
                .contains("x-kubernetes-validations")
        );
    }
    assert!(
        prop(root_schema(&crd, 0), "status").get("properties").is_none(),
        "v1 status is empty"
    );
    let by_pod = prop(root_schema(&crd, 1), "status.byPod.[]");
    assert_eq!(prop(by_pod, "id")["type"], "string");
    assert_eq!(prop(by_pod, "namespace")["type"], "string");
}

#[test]
fn generated_crd_files() {
    let crds = generated_crds().expect("CRDs");
    let names: Vec<&str> = crds.iter().map(|c| c.file_name.as_str()).collect();
    assert_eq!(
        names,
        [
            "secretsyncs.secret-sync.x-k8s.io.yaml",
            "secretproviderclasses.secrets-store.csi.x-k8s.io.yaml",
            "akvsyncs.secret-sync.x-k8s.io.yaml",
            "clustersecretsyncs.sync.sse-rs.io.yaml"
        ]
    );
    assert_eq!(
        serde_json::to_value(&crds[0].crd).expect("json"),
        secret_sync_crd()
    );
    assert_eq!(serde_json::to_value(&crds[1].crd).expect("json"), spc_crd());
}

#[test]
fn crds_survive_a_yaml_round_trip() {
    for generated in generated_crds().expect("CRDs") {
        let yaml = serde_yaml_ng::to_string(&generated.crd).expect("yaml");
        let back: Value = serde_yaml_ng::from_str(&yaml).expect("parse yaml");
        assert_eq!(
            back,
            serde_json::to_value(&generated.crd).expect("json"),
            "{}",
            generated.file_name
        );
    }
}

#[test]
fn akvsync_schema_columns_and_rules() {
    let crd = serde_json::to_value(AKVSync::crd()).expect("json");
    assert_eq!(crd["spec"]["names"]["kind"], "AKVSync");
    assert_eq!(crd["spec"]["names"]["plural"], "akvsyncs");
    assert_eq!(crd["spec"]["scope"], "Namespaced");
    let version = &crd["spec"]["versions"][0];
    assert_eq!(version["name"], "v1alpha1");
    assert_eq!(version["subresources"]["status"], json!({}));
    let columns: Vec<&str> = version["additionalPrinterColumns"]
        .as_array()
        .expect("columns")
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(columns, ["Ready", "Secrets", "Reason", "Age"]);
    let spec = spec_schema(&crd);
    assert_eq!(
        required(spec),
        [
            "clientID",
            "keyvaultName",
            "objects",
            "serviceAccountName",
            "tenantID"
        ]
    );
    let entry = prop(spec, "objects.[]");
    let rules: Vec<&str> = entry["x-kubernetes-validations"]
        .as_array()
        .expect("entry rules")
        .iter()
        .filter_map(|r| r["rule"].as_str())
        .collect();
    assert_eq!(
        rules,
        [
            "has(self.secretInAKV) != has(self.objects)",
            "!has(self.objects) || has(self.kubernetesSecretName)",
            "!has(self.objects) || !has(self.versionHistory)"
        ]
    );
    assert_eq!(
        prop(entry, "objects.[].dataKey")["pattern"],
        sse_api::validation::TARGET_KEY_PATTERN,
        "a data key the generated SecretSync's targetKey accepts"
    );
    assert_eq!(
        prop(entry, "secretInAKV")["pattern"],
        sse_api::akv_sync::VAULT_OBJECT_PATTERN
    );
}

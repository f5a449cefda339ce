//! The ClusterSecretSync CRD: identity, scope, the bounds the fan-out admission policy's CEL cost rests on, and
//! its rules with their messages. Expected strings are written out (docs/API.md#clustersecretsync), not taken from
//! the crate's constants, so a wrong constant fails.

use kube::CustomResourceExt;
use serde_json::Value;
use sse_api::ClusterSecretSync;

fn crd() -> Value {
    serde_json::to_value(ClusterSecretSync::crd()).expect("CRD serialises")
}

fn schema(crd: &Value) -> &Value {
    &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
}

fn prop<'a>(schema: &'a Value, path: &str) -> &'a Value {
    path.split('.').fold(schema, |s, seg| match seg {
        "[]" => &s["items"],
        name => &s["properties"][name],
    })
}

fn rules(schema: &Value) -> Vec<(String, String)> {
    schema["x-kubernetes-validations"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            (
                r["rule"].as_str().unwrap_or_default().to_string(),
                r["message"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

#[test]
fn identity_is_cluster_scoped_in_our_own_group() {
    let crd = crd();
    assert_eq!(crd["metadata"]["name"], "clustersecretsyncs.sync.sse-rs.io");
    assert_eq!(crd["spec"]["group"], "sync.sse-rs.io");
    assert_eq!(crd["spec"]["scope"], "Cluster");
    assert_eq!(crd["spec"]["names"]["kind"], "ClusterSecretSync");
    assert_eq!(crd["spec"]["names"]["shortNames"], serde_json::json!(["css"]));
    let version = &crd["spec"]["versions"][0];
    assert_eq!(version["name"], "v1alpha1");
    assert!(
        version["subresources"]["status"].is_object(),
        "status subresource"
    );
    let columns: Vec<&str> = version["additionalPrinterColumns"]
        .as_array()
        .expect("columns")
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(
        columns,
        ["Ready", "Reason", "Selected", "Synced", "Failed", "Age"]
    );
}

#[test]
fn selection_is_bounded() {
    let crd = crd();
    let spec = prop(schema(&crd), "spec");
    let names = prop(spec, "namespaces.names");
    assert_eq!(names["maxItems"], 256);
    assert_eq!(names["x-kubernetes-list-type"], "set");
    assert_eq!(names["items"]["maxLength"], 63);
    let selector = prop(spec, "namespaces.selector");
    assert_eq!(prop(selector, "matchLabels")["maxProperties"], 16);
    assert_eq!(prop(selector, "matchExpressions")["maxItems"], 16);
    assert_eq!(prop(selector, "matchExpressions.[].values")["maxItems"], 64);
    assert_eq!(
        prop(selector, "matchExpressions.[].operator")["enum"],
        serde_json::json!(["In", "NotIn", "Exists", "DoesNotExist"])
    );
    assert_eq!(
        prop(spec, "deletionPolicy")["enum"],
        serde_json::json!(["Delete", "Keep"])
    );
    let status = prop(schema(&crd), "status");
    assert_eq!(prop(status, "failures")["maxItems"], 8);
    assert_eq!(prop(status, "failures.[].message")["maxLength"], 512);
}

#[test]
fn rules_and_messages() {
    let crd = crd();
    let root = schema(&crd);
    assert!(rules(root).contains(&(
        "size(self.metadata.name) <= 63".into(),
        "a ClusterSecretSync's name is also a label value: at most 63 characters".into()
    )));
    let spec = prop(root, "spec");
    assert!(rules(prop(spec, "namespaces")).contains(&(
        "has(self.names) || has(self.selector)".into(),
        "namespaces needs names, a selector, or both".into()
    )));
    assert!(rules(prop(spec, "secretObject")).contains(&(
        "!has(self.labels) || !('sse-rs.io/cluster-secret-sync' in self.labels)".into(),
        "the label sse-rs.io/cluster-secret-sync is set by the manager".into()
    )));
    // The SecretSync's own rules on the Secret's shape come along.
    let secret_object: Vec<String> = rules(prop(spec, "secretObject"))
        .into_iter()
        .map(|r| r.1)
        .collect();
    assert!(secret_object.len() >= 4, "{secret_object:?}");
    assert!(
        rules(prop(spec, "namespaces.selector.matchExpressions.[]")).contains(&(
            "(self.operator in ['In', 'NotIn']) == (has(self.values) && size(self.values) > 0)".into(),
            "In and NotIn need values; Exists and DoesNotExist take none".into()
        ))
    );
    // Both identities live in the manager's namespace: the spec has no namespace field to point elsewhere.
    let fields: Vec<&String> = spec["properties"].as_object().expect("spec").keys().collect();
    assert!(
        !fields
            .iter()
            .any(|f| f.contains("amespace") && *f != "namespaces"),
        "{fields:?}"
    );
}

//! The install manifests in `deploy/` (issue 4): every object of every installable render parses into its
//! Kubernetes type (k8s-openapi) with no field the type does not know, sits in the namespace it belongs
//! in, and the CRDs equal `deploy/crds/*.yaml`, which equal the freshly generated ones.
//! The harness and the other subjects: `sse_tests::deploy`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::admissionregistration::v1::{
    ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding,
};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret, ServiceAccount};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use sse_tests::deploy::{
    NAMESPACE, Obj, Problems, Render, TRUST_NAMESPACE, check_every_overlay, deploy_dir, installable_dirs,
};

/// Every key path of `original` that is missing from `round_trip` (a field the typed parse dropped).
fn dropped_keys(original: &Value, round_trip: &Value, path: &str, out: &mut Vec<String>) {
    match (original, round_trip) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in a {
                let p = format!("{path}.{k}");
                match b.get(k) {
                    Some(w) => dropped_keys(v, w, &p, out),
                    None => out.push(p),
                }
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            if a.len() != b.len() {
                out.push(format!("{path} (length {} became {})", a.len(), b.len()));
            }
            for (i, (v, w)) in a.iter().zip(b).enumerate() {
                dropped_keys(v, w, &format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

/// Parse into the k8s-openapi type with serde_yaml_ng, then serialise again: a field that does not
/// survive the round trip is one the type does not have (a typo, or a field of another API version).
fn validate<T: DeserializeOwned + Serialize>(o: &Obj, p: &mut Problems) {
    match serde_yaml_ng::from_value::<T>(o.yaml.clone()) {
        Ok(t) => {
            let back = serde_json::to_value(&t).unwrap();
            let mut dropped = Vec::new();
            dropped_keys(&o.json, &back, "", &mut dropped);
            p.check(dropped.is_empty(), || {
                format!(
                    "{}: fields unknown to {}: {}",
                    o.id(),
                    std::any::type_name::<T>(),
                    dropped.join(", ")
                )
            });
        }
        Err(e) => p.add(format!(
            "{} does not parse as {}: {e}",
            o.id(),
            std::any::type_name::<T>()
        )),
    }
}

const CLUSTER_SCOPED: [&str; 8] = [
    "Namespace",
    "CustomResourceDefinition",
    "ClusterRole",
    "ClusterRoleBinding",
    "ValidatingAdmissionPolicy",
    "ValidatingAdmissionPolicyBinding",
    "ClusterIssuer",
    "Bundle",
];

/// The pod's NetworkPolicy selects the Deployment's pods and admits exactly the ports its containers
/// declare (probes and metrics): nothing else, the loopback-only debug report included, is reachable.
fn check_network_policy(r: &Render, o: &sse_tests::deploy::Obj, p: &mut Problems) {
    let Some(dep) = r.of_kind("Deployment").next() else {
        p.add(format!("{}: no Deployment to select", o.id()));
        return;
    };
    let pod_labels = &dep.json["spec"]["template"]["metadata"]["labels"];
    let selects = o.json["spec"]["podSelector"]["matchLabels"]
        .as_object()
        .is_some_and(|m| !m.is_empty() && m.iter().all(|(k, v)| &pod_labels[k] == v));
    p.check(selects, || {
        format!("{}: does not select the Deployment's pods", o.id())
    });
    let declared: BTreeSet<u64> = dep.json["spec"]["template"]["spec"]["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|c| c["ports"].as_array().cloned().unwrap_or_default())
        .filter_map(|port| port["containerPort"].as_u64())
        .collect();
    let admitted: BTreeSet<u64> = o.json["spec"]["ingress"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|rule| rule["ports"].as_array().cloned().unwrap_or_default())
        .filter_map(|port| port["port"].as_u64())
        .collect();
    p.check(declared == admitted, || {
        format!(
            "{}: admits {admitted:?}, the containers declare {declared:?}",
            o.id()
        )
    });
}

/// Every object parses into its type; namespaces are where they belong.
fn check_objects(r: &Render, p: &mut Problems) {
    let mut seen = BTreeSet::new();
    for o in &r.objects {
        p.check(seen.insert(o.id()), || format!("{} appears twice", o.id()));
        p.check(!o.name().is_empty(), || {
            format!("an object of kind {} has no name", o.kind())
        });
        match (o.api_version(), o.kind()) {
            ("v1", "Namespace") => validate::<Namespace>(o, p),
            ("v1", "ServiceAccount") => validate::<ServiceAccount>(o, p),
            ("v1", "ConfigMap") => validate::<ConfigMap>(o, p),
            // The outbound proxy's settings (deploy/components/outbound-proxy): a URL may carry credentials.
            ("v1", "Secret") => validate::<Secret>(o, p),
            ("apps/v1", "Deployment") => validate::<Deployment>(o, p),
            ("networking.k8s.io/v1", "NetworkPolicy") => {
                validate::<NetworkPolicy>(o, p);
                check_network_policy(r, o, p);
            }
            ("rbac.authorization.k8s.io/v1", "ClusterRole") => validate::<ClusterRole>(o, p),
            ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding") => validate::<ClusterRoleBinding>(o, p),
            ("rbac.authorization.k8s.io/v1", "Role") => validate::<Role>(o, p),
            ("rbac.authorization.k8s.io/v1", "RoleBinding") => validate::<RoleBinding>(o, p),
            ("admissionregistration.k8s.io/v1", "ValidatingAdmissionPolicy") => {
                validate::<ValidatingAdmissionPolicy>(o, p);
            }
            ("admissionregistration.k8s.io/v1", "ValidatingAdmissionPolicyBinding") => {
                validate::<ValidatingAdmissionPolicyBinding>(o, p);
            }
            ("apiextensions.k8s.io/v1", "CustomResourceDefinition") => {
                validate::<CustomResourceDefinition>(o, p);
            }
            // No Rust types: their fields are checked by deploy_tls.rs.
            ("cert-manager.io/v1", "Certificate" | "Issuer" | "ClusterIssuer")
            | ("trust.cert-manager.io/v1alpha1", "Bundle") => {}
            (api, kind) => p.add(format!(
                "{}: unexpected {api} {kind}: teach tests/tests/deploy_manifests.rs to check it",
                o.id()
            )),
        }
        if CLUSTER_SCOPED.contains(&o.kind()) {
            p.check(o.namespace().is_none(), || {
                format!("{} is cluster-scoped but has a namespace", o.id())
            });
        } else {
            let ns = o.namespace().unwrap_or("");
            let ok =
                ns == NAMESPACE || (ns == TRUST_NAMESPACE && matches!(o.kind(), "Issuer" | "Certificate"));
            p.check(ok, || {
                format!("{} is in namespace {ns:?}, expected {NAMESPACE}", o.id())
            });
        }
    }
}

/// `deploy/crds/*.yaml`, by CRD name, as parsed values.
fn crd_files() -> BTreeMap<String, Value> {
    let mut files = BTreeMap::new();
    for entry in std::fs::read_dir(deploy_dir().join("crds")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml") {
            let v: Value = serde_yaml_ng::from_str(&std::fs::read_to_string(&path).unwrap())
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let name = v["metadata"]["name"].as_str().unwrap().to_string();
            assert_eq!(
                path.file_name().unwrap().to_str().unwrap(),
                format!("{name}.yaml"),
                "CRD file name must be <crd name>.yaml"
            );
            files.insert(name, v);
        }
    }
    files
}

/// Equal as parsed YAML: numbers compare by value (kustomize re-serialises `0.0` as `0`).
fn same_value(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same_value(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same_value(v, w)))
        }
        _ => a == b,
    }
}

fn check_crds(r: &Render, p: &mut Problems) -> usize {
    let files = crd_files();
    let rendered: BTreeMap<&str, &Value> = r
        .of_kind("CustomResourceDefinition")
        .map(|o| (o.name(), &o.json))
        .collect();
    let names: BTreeSet<&str> = rendered.keys().copied().collect();
    let file_names: BTreeSet<&str> = files.keys().map(String::as_str).collect();
    p.check(names == file_names, || {
        format!("rendered CRDs {names:?} differ from deploy/crds/*.yaml {file_names:?} (update deploy/crds/Kustomization)")
    });
    for (name, v) in &rendered {
        if let Some(f) = files.get(*name) {
            p.check(same_value(v, f), || {
                format!("rendered CRD {name} differs from deploy/crds/{name}.yaml")
            });
        }
    }
    rendered.len()
}

#[test]
fn every_object_parses_into_its_type_and_the_crds_are_the_files() {
    check_every_overlay(|o, p| {
        let r = &o.render;
        check_objects(r, p);
        let crds = check_crds(r, p);
        format!("{} objects, {crds} CRDs", r.objects.len())
    });
}

#[test]
fn crd_files_equal_the_generated_crds() {
    let files = crd_files();
    let generated = sse_api::generated_crds().expect("CRD versions merge");
    let names: BTreeSet<String> = generated
        .iter()
        .map(|g| g.crd.metadata.name.clone().unwrap())
        .collect();
    assert_eq!(
        names,
        files.keys().cloned().collect::<BTreeSet<_>>(),
        "deploy/crds/*.yaml and sse_api::generated_crds() list different CRDs: run `cargo xtask crdgen`"
    );
    for g in generated {
        let want = serde_json::to_value(&g.crd).unwrap();
        let name = g.crd.metadata.name.clone().unwrap();
        assert_eq!(
            files[&name], want,
            "deploy/crds/{} is stale: run `cargo xtask crdgen`",
            g.file_name
        );
    }
}

#[test]
fn installable_dirs_are_discovered() {
    let dirs: Vec<String> = installable_dirs()
        .iter()
        .map(|d| d.strip_prefix(deploy_dir()).unwrap().display().to_string())
        .collect();
    for want in [
        "default",
        "overlays/no-cert-manager",
        "overlays/watch-owned-secrets",
        "overlays/reload-workloads",
        "overlays/outbound-proxy",
        "overlays/events",
        "overlays/events-access-key",
        "overlays/cluster-secret-sync",
    ] {
        assert!(dirs.iter().any(|d| d == want), "{want} missing from {dirs:?}");
    }
}
